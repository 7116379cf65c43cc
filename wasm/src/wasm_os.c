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
