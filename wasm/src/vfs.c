/*
** vfs.c -- the "sloop-mem" and "sloop-file" SQLite VFSes (see sloop_vfs.h for the contract).
**
** "sloop-mem" keeps each file as a table of page buffers in memory. A main database bound to
** a host store tracks which pages changed since its last commit; at SQLITE_FCNTL_SYNC (sent
** at every commit, even with synchronous=OFF, and after a rollback's playback) it hands
** exactly those pages to the host's `commit` hook and forgets them. Journals are memory files
** in the same registry: they never need to outlive the realm, because the host's store moves
** atomically from one commit to the next, so there is never a hot journal to replay.
**
** "sloop-file" forwards every database and journal operation to the host's file hooks and
** relies on SQLite's rollback journal for atomicity, as os_unix.c does.
**
** Left out on purpose: WAL (no xShm*; SQLite falls back to rollback journals), real locking
** (one connection per file per realm; cross-tab and cross-process exclusion is the host's job),
** and super-journals (one database per connection).
**
** The memory files themselves, their page cache and the images hosts load are vfs_mem.c's.
*/
#include <stdlib.h>
#include <string.h>

#include "vfs_mem.h"

/* A VFS file struct embeds sqlite3_file first, as SQLite requires. */
typedef struct vfs_file {
  sqlite3_file base;
  mem_file *mem;        /* memory files */
  int host;             /* host files: the handle */
  int dirsync;          /* host files: fsync the directory at the next sync (a new journal) */
  int lock;
} vfs_file;

sloop_vfs_hooks sloop_vfs_host;

/* ---------------------------------------------------------------- io methods -------- */

static int mem_io_close(sqlite3_file *p) {
  mem_file *f = ((vfs_file *)p)->mem;
  if (--f->opens == 0 && !f->name) sloop_mem_free(f);
  return SQLITE_OK;
}

static int mem_io_read(sqlite3_file *p, void *buf, int amt, sqlite3_int64 off) {
  return sloop_mem_read(((vfs_file *)p)->mem, buf, amt, off);
}

static int mem_io_write(sqlite3_file *p, const void *buf, int amt, sqlite3_int64 off) {
  int rc = sloop_mem_write(((vfs_file *)p)->mem, buf, amt, off);
  return rc == SQLITE_NOMEM ? SQLITE_IOERR_NOMEM : rc;
}

static int mem_io_truncate(sqlite3_file *p, sqlite3_int64 size) {
  mem_file *f = ((vfs_file *)p)->mem;
  if ((uint64_t)size >= f->size) return sloop_mem_grow(f, (uint64_t)size) ? SQLITE_IOERR_TRUNCATE : 0;
  sloop_mem_shrink(f, (uint64_t)size);
  return SQLITE_OK;
}

/* The commit point is SQLITE_FCNTL_SYNC, not xSync: it is sent even with synchronous=OFF. */
static int mem_io_sync(sqlite3_file *p, int flags) { return SQLITE_OK; }

static int mem_io_size(sqlite3_file *p, sqlite3_int64 *size) {
  *size = (sqlite3_int64)((vfs_file *)p)->mem->size;
  return SQLITE_OK;
}

/* SQLite truncates a shrinking database only after the commit, in phase two (the pages past
** the header's page count are dead by then); reporting that as one more commit keeps the
** stored image tight instead of carrying dead pages until the next write. */
static int mem_io_fcntl(sqlite3_file *p, int op, void *arg) {
  mem_file *f = ((vfs_file *)p)->mem;
  if (op == SQLITE_FCNTL_SYNC) return sloop_mem_commit(f);
  if (op == SQLITE_FCNTL_COMMIT_PHASETWO) return f->ndirty || f->truncated ? sloop_mem_commit(f) : 0;
  return SQLITE_NOTFOUND;
}

static int mem_io_caps(sqlite3_file *p) {
  return SQLITE_IOCAP_SAFE_APPEND | SQLITE_IOCAP_SEQUENTIAL | SQLITE_IOCAP_POWERSAFE_OVERWRITE;
}

/* Locks only record the level: exclusion between tabs or processes is the host's job. */
static int io_lock(sqlite3_file *p, int level) {
  ((vfs_file *)p)->lock = level;
  return SQLITE_OK;
}

static int io_unlock(sqlite3_file *p, int level) {
  ((vfs_file *)p)->lock = level;
  return SQLITE_OK;
}

static int io_check_reserved(sqlite3_file *p, int *out) {
  *out = 0;
  return SQLITE_OK;
}

static int io_sector_size(sqlite3_file *p) { return 4096; }

static const sqlite3_io_methods kMemIo = {
    .iVersion = 1, /* no xShm*: SQLite refuses WAL and uses rollback journals */
    .xClose = mem_io_close,
    .xRead = mem_io_read,
    .xWrite = mem_io_write,
    .xTruncate = mem_io_truncate,
    .xSync = mem_io_sync,
    .xFileSize = mem_io_size,
    .xLock = io_lock,
    .xUnlock = io_unlock,
    .xCheckReservedLock = io_check_reserved,
    .xFileControl = mem_io_fcntl, /* SQLITE_FCNTL_SYNC: the commit boundary */
    .xSectorSize = io_sector_size,
    .xDeviceCharacteristics = mem_io_caps,
};

static int host_io_close(sqlite3_file *p) {
  return sloop_vfs_host.close(((vfs_file *)p)->host) ? SQLITE_IOERR_CLOSE : SQLITE_OK;
}

static int host_io_read(sqlite3_file *p, void *buf, int amt, sqlite3_int64 off) {
  int got = sloop_vfs_host.read(((vfs_file *)p)->host, buf, amt, (double)off);
  if (got < 0 || got > amt) return SQLITE_IOERR_READ;
  if (got == amt) return SQLITE_OK;
  memset((uint8_t *)buf + got, 0, (size_t)(amt - got));
  return SQLITE_IOERR_SHORT_READ;
}

static int host_io_write(sqlite3_file *p, const void *buf, int amt, sqlite3_int64 off) {
  return sloop_vfs_host.write(((vfs_file *)p)->host, buf, amt, (double)off) ? SQLITE_IOERR_WRITE : 0;
}

static int host_io_truncate(sqlite3_file *p, sqlite3_int64 size) {
  return sloop_vfs_host.truncate(((vfs_file *)p)->host, (double)size) ? SQLITE_IOERR_TRUNCATE : 0;
}

static int host_io_sync(sqlite3_file *p, int flags) {
  vfs_file *f = (vfs_file *)p;
  if (sloop_vfs_host.sync(f->host, f->dirsync)) return SQLITE_IOERR_FSYNC;
  f->dirsync = 0;
  return SQLITE_OK;
}

static int host_io_size(sqlite3_file *p, sqlite3_int64 *size) {
  double n = sloop_vfs_host.size(((vfs_file *)p)->host);
  if (n < 0) return SQLITE_IOERR_FSTAT;
  *size = (sqlite3_int64)n;
  return SQLITE_OK;
}

static int host_io_fcntl(sqlite3_file *p, int op, void *arg) { return SQLITE_NOTFOUND; }

static int host_io_caps(sqlite3_file *p) { return SQLITE_IOCAP_POWERSAFE_OVERWRITE; }

static const sqlite3_io_methods kHostIo = {
    .iVersion = 1,
    .xClose = host_io_close,
    .xRead = host_io_read,
    .xWrite = host_io_write,
    .xTruncate = host_io_truncate,
    .xSync = host_io_sync, /* fsync: SQLite's rollback journal protocol does the rest */
    .xFileSize = host_io_size,
    .xLock = io_lock,
    .xUnlock = io_unlock,
    .xCheckReservedLock = io_check_reserved,
    .xFileControl = host_io_fcntl,
    .xSectorSize = io_sector_size,
    .xDeviceCharacteristics = host_io_caps,
};

/* ---------------------------------------------------------------- the VFSes ---------- */

static int mem_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *p, int flags, int *out) {
  vfs_file *file = (vfs_file *)p;
  memset(file, 0, sizeof(*file));
  if (flags & SQLITE_OPEN_DELETEONCLOSE) name = NULL;
  mem_file *f = name ? sloop_mem_find(name) : NULL;
  if (f && f->loading) return SQLITE_CANTOPEN;
  if (!f) {
    if (!(flags & SQLITE_OPEN_CREATE) && name) return SQLITE_CANTOPEN;
    if (!(f = sloop_mem_new(name, SLOOP_VFS_PAGE_SIZE))) return SQLITE_NOMEM;
  }
  f->opens++;
  file->mem = f;
  file->base.pMethods = &kMemIo;
  if (out) *out = flags;
  return SQLITE_OK;
}

static int mem_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
  mem_file *f = sloop_mem_find(name);
  if (!f) return SQLITE_IOERR_DELETE_NOENT;
  if (f->opens == 0) sloop_mem_free(f);
  return SQLITE_OK;
}

static int mem_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
  mem_file *f = sloop_mem_find(name);
  *out = f != NULL && !f->loading;
  return SQLITE_OK;
}

/* Journals and the database go to the host; anything else (temp files) stays in memory. */
static int host_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *p, int flags, int *out) {
  if (!name || !(flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_MAIN_JOURNAL)))
    return mem_open(vfs, NULL, p, flags | SQLITE_OPEN_CREATE, out);
  vfs_file *file = (vfs_file *)p;
  memset(file, 0, sizeof(*file));
  if (!sloop_vfs_host.open) return SQLITE_CANTOPEN;
  int h = sloop_vfs_host.open(name, flags);
  if (h < 0) return SQLITE_CANTOPEN;
  file->host = h;
  /* Like os_unix.c: a journal just created must survive power loss along with its entry. */
  file->dirsync = (flags & SQLITE_OPEN_MAIN_JOURNAL) && (flags & SQLITE_OPEN_CREATE);
  file->base.pMethods = &kHostIo;
  if (out) *out = flags;
  return SQLITE_OK;
}

static int host_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
  return sloop_vfs_host.remove && sloop_vfs_host.remove(name, sync_dir) == 0 ? SQLITE_OK : SQLITE_IOERR_DELETE;
}

static int host_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
  int e = sloop_vfs_host.exists ? sloop_vfs_host.exists(name) : 0;
  if (e < 0) return SQLITE_IOERR_ACCESS;
  *out = e;
  return SQLITE_OK;
}

/* Names are store keys or host paths, used exactly as given. */
static int full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out) {
  size_t len = strlen(name);
  if ((int)len >= n) return SQLITE_CANTOPEN;
  memcpy(out, name, len + 1);
  return SQLITE_OK;
}

/* Randomness, sleep and time come from the platform VFS (os_unix, also under Emscripten). */
#define BASE_VFS ((sqlite3_vfs *)vfs->pAppData)
static int randomness(sqlite3_vfs *vfs, int n, char *out) { return BASE_VFS->xRandomness(BASE_VFS, n, out); }
static int sleep_us(sqlite3_vfs *vfs, int us) { return BASE_VFS->xSleep(BASE_VFS, us); }
static int current_time(sqlite3_vfs *vfs, double *t) { return BASE_VFS->xCurrentTime(BASE_VFS, t); }
static int last_error(sqlite3_vfs *vfs, int n, char *out) { return 0; }

/* Both VFSes share everything but how files open, vanish and are found. */
#define SLOOP_VFS_COMMON                                                               \
  .iVersion = 1, .szOsFile = sizeof(vfs_file), .mxPathname = 512,                      \
  .xFullPathname = full_pathname, .xRandomness = randomness, .xSleep = sleep_us,       \
  .xCurrentTime = current_time, .xGetLastError = last_error

static sqlite3_vfs g_mem_vfs = {
    SLOOP_VFS_COMMON,
    .zName = SLOOP_VFS_MEM,
    .xOpen = mem_open,
    .xDelete = mem_delete,
    .xAccess = mem_access,
};

static sqlite3_vfs g_host_vfs = {
    SLOOP_VFS_COMMON,
    .zName = SLOOP_VFS_FILE,
    .xOpen = host_open,
    .xDelete = host_delete,
    .xAccess = host_access,
};

int sloop_vfs_init(const sloop_vfs_hooks *hooks) {
  if (!hooks) return SLOOP_INVALID;
  sloop_vfs_host = *hooks;
  if (sqlite3_vfs_find(SLOOP_VFS_MEM)) return SLOOP_OK;
  sqlite3_vfs *base = sqlite3_vfs_find(NULL);
  if (!base) return SLOOP_STORAGE;
  g_mem_vfs.pAppData = g_host_vfs.pAppData = base;
  if (sqlite3_vfs_register(&g_mem_vfs, 0) != SQLITE_OK ||
      sqlite3_vfs_register(&g_host_vfs, 0) != SQLITE_OK)
    return SLOOP_STORAGE;
  return SLOOP_OK;
}

/* ---------------------------------------------------------------- WebAssembly hooks -- */

#ifdef __EMSCRIPTEN__
/* Implemented in wasm/src/vfs.js; each forwards to Module.sloopHost. */
extern int sloop_js_commit(int store, uint32_t page_size, double file_size, int truncated,
                           uint32_t n, const uint32_t *index, uint8_t *const *page);
extern int sloop_js_open(const char *path, int flags);
extern int sloop_js_read(int h, uint8_t *buf, int n, double off);
extern int sloop_js_write(int h, const uint8_t *buf, int n, double off);
extern int sloop_js_truncate(int h, double size);
extern int sloop_js_sync(int h, int dir);
extern double sloop_js_size(int h);
extern int sloop_js_close(int h);
extern int sloop_js_remove(const char *path, int dir_sync);
extern int sloop_js_exists(const char *path);
extern int sloop_js_fetch(int store, uint32_t first, uint32_t n, uint8_t *const *page);

int sloop_vfs_init_js(void) {
  static const sloop_vfs_hooks hooks = {
      sloop_js_commit, sloop_js_open,  sloop_js_read,  sloop_js_write,  sloop_js_truncate,
      sloop_js_sync,   sloop_js_size,  sloop_js_close, sloop_js_remove, sloop_js_exists,
      sloop_js_fetch,
  };
  return sloop_vfs_init(&hooks);
}
#else
int sloop_vfs_init_js(void) { return SLOOP_INVALID; }
#endif
