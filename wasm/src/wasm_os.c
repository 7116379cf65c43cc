/*
** wasm_os.c -- SQLite's operating-system layer in the WebAssembly build, which compiles SQLite
** with SQLITE_OS_OTHER=1: SQLite's Unix VFS stays out, and with it every file system call, so
** the module links without Emscripten's emulated file system (-sFILESYSTEM=0, about 13 KiB
** gzip of loader). Native builds keep the Unix VFS and leave this file out.
**
** Databases live in memory (":memory:", temporary tables: SQLITE_TEMP_STORE=3) or on the VFSes
** of vfs.c, which take only randomness, time and sleep from this default VFS. So it holds no
** files: xOpen fails with SQLITE_CANTOPEN, and a path opened without a VFS says so at once
** instead of writing into a file system that vanishes with the page.
*/
#include <emscripten.h>
#include <emscripten/html5.h>

#include "sqlite3.h"

/* Randomness from the platform's generator (Web Crypto, in browsers and in Node alike), in
** pieces: getRandomValues fills at most 65,536 bytes per call. */
EM_JS(void, wasm_os_random, (unsigned char *buf, int n), {
  for (let at = 0; at < n; at += 65536) crypto.getRandomValues(HEAPU8.subarray(buf + at, buf + Math.min(n, at + 65536)));
});

static int os_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *out_flags) {
  file->pMethods = NULL;
  return SQLITE_CANTOPEN;
}

static int os_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) { return SQLITE_OK; }

static int os_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
  *out = 0;
  return SQLITE_OK;
}

static int os_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out) {
  sqlite3_snprintf(n, out, "%s", name);
  return SQLITE_OK;
}

static int os_randomness(sqlite3_vfs *vfs, int n, char *out) {
  wasm_os_random((unsigned char *)out, n);
  return n;
}

/* There is no blocking sleep on the web's main thread; SQLite sleeps only to wait for a lock,
** and a single connection per database never waits. */
static int os_sleep(sqlite3_vfs *vfs, int us) { return 0; }

/* Milliseconds since the Julian epoch; the Unix epoch is Julian day 2440587.5. */
static int os_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out) {
  *out = (sqlite3_int64)emscripten_date_now() + (sqlite3_int64)210866760000000LL;
  return SQLITE_OK;
}

static int os_current_time(sqlite3_vfs *vfs, double *out) {
  *out = emscripten_date_now() / 86400000.0 + 2440587.5;
  return SQLITE_OK;
}

static int os_last_error(sqlite3_vfs *vfs, int n, char *out) { return 0; }

static sqlite3_vfs g_os_vfs = {
    .iVersion = 2,
    .szOsFile = sizeof(sqlite3_file),
    .mxPathname = 512,
    .zName = "wasm",
    .xOpen = os_open,
    .xDelete = os_delete,
    .xAccess = os_access,
    .xFullPathname = os_full_pathname,
    .xRandomness = os_randomness,
    .xSleep = os_sleep,
    .xCurrentTime = os_current_time,
    .xGetLastError = os_last_error,
    .xCurrentTimeInt64 = os_current_time_int64,
};

/* Called by sqlite3_initialize() under SQLITE_OS_OTHER. */
int sqlite3_os_init(void) { return sqlite3_vfs_register(&g_os_vfs, 1); }

int sqlite3_os_end(void) { return SQLITE_OK; }

/* ---- CURRENT_TIMESTAMP, CURRENT_DATE and CURRENT_TIME -------------------------------------
** SQLite is built without its date and time functions (SQLITE_OMIT_DATETIME_FUNCS; see the
** Makefile). The three keywords stay, and SQLite then formats them with the C library's gmtime
** and strftime, which Emscripten implements in JavaScript: 1.9 KiB gzip of loader for three
** fixed formats. These two are enough for them, in C: UTC only, and only the conversions
** SQLite asks for (%Y %m %d %H %M %S %%); any other makes strftime return 0, as for a format
** that does not fit. Native builds use the platform's. */
#include <time.h>

struct tm *gmtime(const time_t *t) {
  static struct tm out;
  long long s = (long long)*t;
  long long days = s / 86400, rem = s % 86400;
  if (rem < 0) rem += 86400, days--;
  out = (struct tm){0};
  out.tm_hour = (int)(rem / 3600);
  out.tm_min = (int)(rem / 60 % 60);
  out.tm_sec = (int)(rem % 60);
  /* Days since 1970-01-01 to a civil date (proleptic Gregorian), era by era of 400 years. */
  long long z = days + 719468;
  long long era = (z >= 0 ? z : z - 146096) / 146097;
  long long doe = z - era * 146097;
  long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  long long mp = (5 * doy + 2) / 153;
  long long d = doy - (153 * mp + 2) / 5 + 1;
  long long m = mp < 10 ? mp + 3 : mp - 9;
  out.tm_year = (int)(yoe + era * 400 + (m <= 2) - 1900);
  out.tm_mon = (int)(m - 1);
  out.tm_mday = (int)d;
  return &out;
}

size_t strftime(char *restrict s, size_t max, const char *restrict fmt, const struct tm *restrict tm) {
  size_t n = 0;
  if (max == 0) return 0;
  for (; *fmt; fmt++) {
    if (*fmt != '%' || fmt[1] == '%') {
      if (*fmt == '%') fmt++;
      if (n + 1 >= max) return 0;
      s[n++] = *fmt;
      continue;
    }
    int value, width = 2;
    switch (*++fmt) {
      case 'Y': value = tm->tm_year + 1900, width = 4; break;
      case 'm': value = tm->tm_mon + 1; break;
      case 'd': value = tm->tm_mday; break;
      case 'H': value = tm->tm_hour; break;
      case 'M': value = tm->tm_min; break;
      case 'S': value = tm->tm_sec; break;
      default: return 0; /* a conversion SQLite never asks for, or a lone % at the end */
    }
    if (value < 0 || value > 9999 || n + (size_t)width >= max) return 0;
    for (int k = width - 1; k >= 0; k--, value /= 10) s[n + (size_t)k] = (char)('0' + value % 10);
    n += (size_t)width;
  }
  s[n] = 0;
  return n;
}
