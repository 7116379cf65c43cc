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
** A main database can also be opened on demand ("lazy", sloop_vfs_image_lazy): only the pages
** SQLite touches are resident, fetched from the host's store through the `fetch` hook (which
** the browser host makes wait for IndexedDB with JS Promise Integration). Resident pages that
** are clean sit in an LRU list; dirty pages are pinned (not in the list) until the commit hook
** has accepted them, and count against the same `budget` of resident pages: clean pages are
** evicted to make room for them, down to BUDGET_MIN clean pages. A read that continues the previous one (just
** after its run, or just before it) fetches a run of neighbouring pages in the same hook call
** (read-ahead, doubling up to READ_AHEAD_MAX).
**
** Invariants of a mem_file: bytes past `size` in any allocated page are zero, so growth never
** exposes stale data; every page index in dirty_list has dirty[index] set, exactly once. Lazy
** files: a NULL slot below the page count is a page held by the store, not a page of zeros;
** every resident clean page is in the LRU list exactly once, and no dirty page is.
*/
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "page_pool.h"
#include "sloop_vfs.h"

typedef struct mem_file mem_file;
struct mem_file {
  mem_file *next;       /* registry link; anonymous temp files are not in the registry */
  char *name;           /* NULL for anonymous temp files */
  int opens;            /* open sqlite3_file handles on it */
  int store;            /* host store id for the commit hook; 0 for journals and temp files */
  int loading;          /* between image_begin and image_end */
  uint32_t page_size;
  uint64_t size;
  uint32_t cap;         /* slots in pages, dirty and dirty_list */
  uint8_t **pages;      /* NULL slot: a page never written (reads as zeros) */
  uint8_t *dirty;
  uint32_t *dirty_list;
  uint32_t ndirty;
  int truncated;        /* shrank since the last commit */
  /* Lazy files only (lazy != 0): */
  int lazy;
  uint32_t budget;      /* pages resident at most, dirty ones included (see lru_trim) */
  uint32_t resident;    /* allocated pages, dirty or clean */
  uint32_t *lru_prev, *lru_next; /* clean resident pages; NIL ends; head is most recent */
  uint32_t lru_head, lru_tail;
  uint32_t run_lo, run_hi; /* the last fetched run, pages [run_lo, run_hi) */
  uint32_t ahead;       /* current read-ahead run in pages */
  double fetches, fetched; /* fetch hook calls, pages they brought */
};

#define NIL UINT32_MAX
/* Read-ahead doubles from 1 up to this many pages per fetch (256 KiB of 4 KiB pages). */
#define READ_AHEAD_MAX 64
/* Pages a read may skip past the end of the last run and still count as sequential. */
#define READ_AHEAD_GAP 8
/* The smallest cache a lazy file accepts: the longest read-ahead run must fit twice. */
#define BUDGET_MIN (2 * READ_AHEAD_MAX)

/* A VFS file struct embeds sqlite3_file first, as SQLite requires. */
typedef struct vfs_file {
  sqlite3_file base;
  mem_file *mem;        /* memory files */
  int host;             /* host files: the handle */
  int dirsync;          /* host files: fsync the directory at the next sync (a new journal) */
  int lock;
} vfs_file;

static sloop_vfs_hooks g_hooks;
static mem_file *g_files;

/* ---------------------------------------------------------------- memory files ------- */

static uint32_t pages_for(const mem_file *f, uint64_t size) {
  return (uint32_t)((size + f->page_size - 1) / f->page_size);
}

static mem_file *mem_find(const char *name) {
  for (mem_file *f = g_files; f; f = f->next)
    if (f->name && strcmp(f->name, name) == 0) return f;
  return NULL;
}

static mem_file *mem_new(const char *name, uint32_t page_size) {
  mem_file *f = calloc(1, sizeof(*f));
  if (!f) return NULL;
  f->page_size = page_size;
  if (name) {
    f->name = sloop_strndup(name, strlen(name));
    if (!f->name) {
      free(f);
      return NULL;
    }
    f->next = g_files;
    g_files = f;
  }
  return f;
}

static void mem_free(mem_file *f) {
  if (f->name) {
    for (mem_file **p = &g_files; *p; p = &(*p)->next)
      if (*p == f) {
        *p = f->next;
        break;
      }
  }
  for (uint32_t i = 0; i < f->cap; i++) sloop_page_free(f->pages[i], f->page_size);
  free(f->pages);
  free(f->dirty);
  free(f->dirty_list);
  free(f->lru_prev);
  free(f->lru_next);
  free(f->name);
  free(f);
}

/* Grows the page table to at least `n` slots (doubling, so appends are amortized O(1)). */
static int mem_reserve(mem_file *f, uint32_t n) {
  if (n <= f->cap) return SQLITE_OK;
  uint32_t cap = f->cap ? f->cap : 16;
  while (cap < n) cap = cap > UINT32_MAX / 2 ? n : cap * 2;
  uint8_t **pages = realloc(f->pages, cap * sizeof(*pages));
  if (!pages) return SQLITE_NOMEM;
  f->pages = pages;
  uint8_t *dirty = realloc(f->dirty, cap);
  if (!dirty) return SQLITE_NOMEM;
  f->dirty = dirty;
  uint32_t *list = realloc(f->dirty_list, cap * sizeof(*list));
  if (!list) return SQLITE_NOMEM;
  f->dirty_list = list;
  if (f->lazy) {
    uint32_t *prev = realloc(f->lru_prev, cap * sizeof(*prev));
    if (!prev) return SQLITE_NOMEM;
    f->lru_prev = prev;
    uint32_t *next = realloc(f->lru_next, cap * sizeof(*next));
    if (!next) return SQLITE_NOMEM;
    f->lru_next = next;
  }
  memset(f->pages + f->cap, 0, (cap - f->cap) * sizeof(*pages));
  memset(f->dirty + f->cap, 0, cap - f->cap);
  f->cap = cap;
  return SQLITE_OK;
}

/* ---------------------------------------------------------------- the page cache ----- */

static void lru_unlink(mem_file *f, uint32_t i) {
  uint32_t p = f->lru_prev[i], n = f->lru_next[i];
  if (p == NIL) f->lru_head = n; else f->lru_next[p] = n;
  if (n == NIL) f->lru_tail = p; else f->lru_prev[n] = p;
}

static void lru_push(mem_file *f, uint32_t i) {
  f->lru_prev[i] = NIL;
  f->lru_next[i] = f->lru_head;
  if (f->lru_head == NIL) f->lru_tail = i; else f->lru_prev[f->lru_head] = i;
  f->lru_head = i;
}

/* Evicts least recently used clean pages until clean and dirty pages together fit the budget.
** Dirty pages cannot leave before their commit, so a commit larger than the budget goes past
** it, keeping BUDGET_MIN clean pages (the page being read and its read-ahead run stay). Counting
** them matters because WebAssembly memory never shrinks: a cache full of clean pages plus a
** large commit's dirty pages set the heap's size for good (docs/PERSISTENCE.md, memory). */
static void lru_trim(mem_file *f) {
  uint32_t limit = f->ndirty + BUDGET_MIN > f->budget ? f->ndirty + BUDGET_MIN : f->budget;
  while (f->resident > limit && f->lru_tail != NIL) {
    uint32_t i = f->lru_tail;
    lru_unlink(f, i);
    sloop_page_free(f->pages[i], f->page_size);
    f->pages[i] = NULL;
    f->resident--;
  }
}

/* A lazy file's page `i` (below the page count) made resident: fetched from the host with the
** run of following non-resident pages if the reads are sequential. SQLITE_CORRUPT if the store
** lacks a page it must hold, SQLITE_IOERR_READ if the host failed, SQLITE_NOMEM. */
static int lazy_fetch(mem_file *f, uint32_t i) {
  uint32_t count = pages_for(f, f->size);
  /* Sequential: just past the end of the last run, or just before its start (SQLite's
  ** integrity check walks a B-tree's cells backwards). A run stops at a resident page, and a
  ** B-tree's leaves are interleaved with the odd interior page, hence the gap allowed. */
  int forward = f->ahead && f->run_hi != NIL && i >= f->run_hi && i - f->run_hi <= READ_AHEAD_GAP;
  int backward = f->ahead && f->run_lo != NIL && i < f->run_lo && f->run_lo - i <= READ_AHEAD_GAP + 1;
  f->ahead = forward || backward ? (f->ahead * 2 > READ_AHEAD_MAX ? READ_AHEAD_MAX : f->ahead * 2) : 1;
  uint32_t lo = i, hi = i + 1;
  if (backward) while (hi - lo < f->ahead && lo > 0 && !f->pages[lo - 1]) lo--;
  else while (hi - lo < f->ahead && hi < count && !f->pages[hi]) hi++;
  uint32_t n = hi - lo;
  uint8_t **bufs = malloc(n * sizeof(*bufs));
  if (!bufs) return SQLITE_NOMEM;
  for (uint32_t k = 0; k < n; k++)
    if (!(bufs[k] = sloop_page_alloc(f->page_size))) {
      while (k--) sloop_page_free(bufs[k], f->page_size);
      free(bufs);
      return SQLITE_NOMEM;
    }
  int failed = g_hooks.fetch ? g_hooks.fetch(f->store, lo, n, bufs) : 1;
  f->fetches++;
  if (failed) {
    for (uint32_t k = 0; k < n; k++) sloop_page_free(bufs[k], f->page_size);
    free(bufs);
    return failed == 2 ? SQLITE_CORRUPT : SQLITE_IOERR_READ;
  }
  f->fetched += n;
  for (uint32_t k = 0; k < n; k++) {
    f->pages[lo + k] = bufs[k];
    f->resident++;
    lru_push(f, lo + k);
  }
  free(bufs);
  /* Page i most recent: it is the one being read. */
  lru_unlink(f, i);
  lru_push(f, i);
  f->run_lo = lo, f->run_hi = hi;
  lru_trim(f);
  return SQLITE_OK;
}

/* Page `i` of any file for reading: NULL means zeros (plain files) or, with *rc set, an error. */
static uint8_t *mem_page_for_read(mem_file *f, uint32_t i, int *rc) {
  if (!f->lazy) return f->pages[i];
  if (!f->pages[i] && (*rc = lazy_fetch(f, i)) != SQLITE_OK) return NULL;
  if (!f->dirty[i] && f->lru_head != i) {
    lru_unlink(f, i);
    lru_push(f, i);
  }
  return f->pages[i];
}

/* Page `i` for writing: allocated (zeroed) on first use and marked dirty. A lazy file's page
** that the store holds is fetched first unless `whole` (the caller overwrites all of it). */
static uint8_t *mem_page_for_write(mem_file *f, uint32_t i, int whole) {
  if (f->lazy && !f->pages[i] && !whole && i < pages_for(f, f->size)) {
    int rc = SQLITE_OK;
    if (!mem_page_for_read(f, i, &rc)) return NULL;
  }
  if (!f->pages[i]) {
    if (!(f->pages[i] = sloop_page_calloc(f->page_size))) return NULL;
    if (f->lazy) {
      f->resident++; /* not in the LRU list: trimming makes room for it, not of it */
      lru_trim(f);
    }
  } else if (f->lazy && !f->dirty[i]) {
    lru_unlink(f, i); /* pinned until its commit is accepted */
  }
  if (!f->dirty[i]) {
    f->dirty[i] = 1;
    f->dirty_list[f->ndirty++] = i;
  }
  return f->pages[i];
}

/* Extends the file to `size` with zeros. Every page of the gap is marked dirty so the host
** persists it: a stored image never has holes. */
static int mem_grow(mem_file *f, uint64_t size) {
  if (size <= f->size) return SQLITE_OK;
  uint32_t first = pages_for(f, f->size), last = pages_for(f, size);
  if (size / f->page_size >= UINT32_MAX || mem_reserve(f, last)) return SQLITE_NOMEM;
  /* The old last page gains bytes too, so it changes on disk. */
  if (f->size % f->page_size) first--;
  for (uint32_t i = first; i < last; i++)
    if (!mem_page_for_write(f, i, 0)) return SQLITE_NOMEM;
  f->size = size;
  return SQLITE_OK;
}

static void mem_shrink(mem_file *f, uint64_t size) {
  uint32_t keep = pages_for(f, size);
  for (uint32_t i = keep; i < pages_for(f, f->size); i++) {
    if (f->lazy && f->pages[i]) {
      if (!f->dirty[i]) lru_unlink(f, i);
      f->resident--;
    }
    sloop_page_free(f->pages[i], f->page_size);
    f->pages[i] = NULL;
  }
  uint32_t tail = (uint32_t)(size % f->page_size);
  uint8_t *last = tail ? mem_page_for_write(f, keep - 1, 0) : NULL;
  if (last) memset(last + tail, 0, f->page_size - tail);
  f->size = size;
  f->truncated = 1;
}

static int mem_read(mem_file *f, void *buf, int amt, sqlite3_int64 off) {
  uint8_t *out = buf;
  int rc = SQLITE_OK;
  if ((uint64_t)off + (uint64_t)amt > f->size) {
    memset(out, 0, (size_t)amt);
    rc = SQLITE_IOERR_SHORT_READ;
    if ((uint64_t)off >= f->size) return rc;
    amt = (int)(f->size - (uint64_t)off);
  }
  while (amt > 0) {
    uint32_t i = (uint32_t)((uint64_t)off / f->page_size);
    uint32_t at = (uint32_t)((uint64_t)off % f->page_size);
    int n = (int)(f->page_size - at) < amt ? (int)(f->page_size - at) : amt;
    int err = SQLITE_OK;
    uint8_t *page = mem_page_for_read(f, i, &err);
    if (err) return err;
    if (page) memcpy(out, page + at, (size_t)n);
    else memset(out, 0, (size_t)n);
    out += n, off += n, amt -= n;
  }
  return rc;
}

static int mem_write(mem_file *f, const void *buf, int amt, sqlite3_int64 off) {
  const uint8_t *in = buf;
  int rc = mem_grow(f, (uint64_t)off + (uint64_t)amt);
  if (rc) return rc;
  while (amt > 0) {
    uint32_t i = (uint32_t)((uint64_t)off / f->page_size);
    uint32_t at = (uint32_t)((uint64_t)off % f->page_size);
    int n = (int)(f->page_size - at) < amt ? (int)(f->page_size - at) : amt;
    uint8_t *page = mem_page_for_write(f, i, at == 0 && (uint32_t)n == f->page_size);
    if (!page) return f->lazy ? SQLITE_IOERR_READ : SQLITE_NOMEM;
    memcpy(page + at, in, (size_t)n);
    in += n, off += n, amt -= n;
  }
  return SQLITE_OK;
}

/* Hands the pages changed since the last commit to the host. Pages truncated away since they
** were written are skipped. On refusal the dirty set is kept, so nothing is lost if the host
** later accepts. O(pages changed). */
static int mem_commit(mem_file *f) {
  if (!f->store || !g_hooks.commit) return SQLITE_OK;
  uint32_t count = pages_for(f, f->size), n = 0;
  uint32_t *index = malloc((f->ndirty + 1) * sizeof(*index));
  uint8_t **page = malloc((f->ndirty + 1) * sizeof(*page));
  if (!index || !page) {
    free(index);
    free(page);
    return SQLITE_NOMEM;
  }
  for (uint32_t k = 0; k < f->ndirty; k++) {
    uint32_t i = f->dirty_list[k];
    if (i < count && f->pages[i]) index[n] = i, page[n++] = f->pages[i];
  }
  int refused = g_hooks.commit(f->store, f->page_size, (double)f->size, f->truncated, n, index,
                               page);
  free(index);
  free(page);
  if (refused) return SQLITE_IOERR_FSYNC;
  for (uint32_t k = 0; k < f->ndirty; k++) {
    uint32_t i = f->dirty_list[k];
    f->dirty[i] = 0;
    /* Accepted: the host holds a copy until it is durable, so the page may now be evicted. */
    if (f->lazy && f->pages[i]) lru_push(f, i);
  }
  f->ndirty = 0;
  f->truncated = 0;
  if (f->lazy) lru_trim(f);
  return SQLITE_OK;
}

/* ---------------------------------------------------------------- io methods -------- */

static int mem_io_close(sqlite3_file *p) {
  mem_file *f = ((vfs_file *)p)->mem;
  if (--f->opens == 0 && !f->name) mem_free(f);
  return SQLITE_OK;
}

static int mem_io_read(sqlite3_file *p, void *buf, int amt, sqlite3_int64 off) {
  return mem_read(((vfs_file *)p)->mem, buf, amt, off);
}

static int mem_io_write(sqlite3_file *p, const void *buf, int amt, sqlite3_int64 off) {
  int rc = mem_write(((vfs_file *)p)->mem, buf, amt, off);
  return rc == SQLITE_NOMEM ? SQLITE_IOERR_NOMEM : rc;
}

static int mem_io_truncate(sqlite3_file *p, sqlite3_int64 size) {
  mem_file *f = ((vfs_file *)p)->mem;
  if ((uint64_t)size >= f->size) return mem_grow(f, (uint64_t)size) ? SQLITE_IOERR_TRUNCATE : 0;
  mem_shrink(f, (uint64_t)size);
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
  if (op == SQLITE_FCNTL_SYNC) return mem_commit(f);
  if (op == SQLITE_FCNTL_COMMIT_PHASETWO) return f->ndirty || f->truncated ? mem_commit(f) : 0;
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
  return g_hooks.close(((vfs_file *)p)->host) ? SQLITE_IOERR_CLOSE : SQLITE_OK;
}

static int host_io_read(sqlite3_file *p, void *buf, int amt, sqlite3_int64 off) {
  int got = g_hooks.read(((vfs_file *)p)->host, buf, amt, (double)off);
  if (got < 0 || got > amt) return SQLITE_IOERR_READ;
  if (got == amt) return SQLITE_OK;
  memset((uint8_t *)buf + got, 0, (size_t)(amt - got));
  return SQLITE_IOERR_SHORT_READ;
}

static int host_io_write(sqlite3_file *p, const void *buf, int amt, sqlite3_int64 off) {
  return g_hooks.write(((vfs_file *)p)->host, buf, amt, (double)off) ? SQLITE_IOERR_WRITE : 0;
}

static int host_io_truncate(sqlite3_file *p, sqlite3_int64 size) {
  return g_hooks.truncate(((vfs_file *)p)->host, (double)size) ? SQLITE_IOERR_TRUNCATE : 0;
}

static int host_io_sync(sqlite3_file *p, int flags) {
  vfs_file *f = (vfs_file *)p;
  if (g_hooks.sync(f->host, f->dirsync)) return SQLITE_IOERR_FSYNC;
  f->dirsync = 0;
  return SQLITE_OK;
}

static int host_io_size(sqlite3_file *p, sqlite3_int64 *size) {
  double n = g_hooks.size(((vfs_file *)p)->host);
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
  mem_file *f = name ? mem_find(name) : NULL;
  if (f && f->loading) return SQLITE_CANTOPEN;
  if (!f) {
    if (!(flags & SQLITE_OPEN_CREATE) && name) return SQLITE_CANTOPEN;
    if (!(f = mem_new(name, SLOOP_VFS_PAGE_SIZE))) return SQLITE_NOMEM;
  }
  f->opens++;
  file->mem = f;
  file->base.pMethods = &kMemIo;
  if (out) *out = flags;
  return SQLITE_OK;
}

static int mem_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
  mem_file *f = mem_find(name);
  if (!f) return SQLITE_IOERR_DELETE_NOENT;
  if (f->opens == 0) mem_free(f);
  return SQLITE_OK;
}

static int mem_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
  mem_file *f = mem_find(name);
  *out = f != NULL && !f->loading;
  return SQLITE_OK;
}

/* Journals and the database go to the host; anything else (temp files) stays in memory. */
static int host_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *p, int flags, int *out) {
  if (!name || !(flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_MAIN_JOURNAL)))
    return mem_open(vfs, NULL, p, flags | SQLITE_OPEN_CREATE, out);
  vfs_file *file = (vfs_file *)p;
  memset(file, 0, sizeof(*file));
  if (!g_hooks.open) return SQLITE_CANTOPEN;
  int h = g_hooks.open(name, flags);
  if (h < 0) return SQLITE_CANTOPEN;
  file->host = h;
  /* Like os_unix.c: a journal just created must survive power loss along with its entry. */
  file->dirsync = (flags & SQLITE_OPEN_MAIN_JOURNAL) && (flags & SQLITE_OPEN_CREATE);
  file->base.pMethods = &kHostIo;
  if (out) *out = flags;
  return SQLITE_OK;
}

static int host_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
  return g_hooks.remove && g_hooks.remove(name, sync_dir) == 0 ? SQLITE_OK : SQLITE_IOERR_DELETE;
}

static int host_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
  int e = g_hooks.exists ? g_hooks.exists(name) : 0;
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
  g_hooks = *hooks;
  if (sqlite3_vfs_find(SLOOP_VFS_MEM)) return SLOOP_OK;
  sqlite3_vfs *base = sqlite3_vfs_find(NULL);
  if (!base) return SLOOP_STORAGE;
  g_mem_vfs.pAppData = g_host_vfs.pAppData = base;
  if (sqlite3_vfs_register(&g_mem_vfs, 0) != SQLITE_OK ||
      sqlite3_vfs_register(&g_host_vfs, 0) != SQLITE_OK)
    return SLOOP_STORAGE;
  return SLOOP_OK;
}

/* ---------------------------------------------------------------- images ------------- */

int sloop_vfs_image_begin(const char *name, int store, const uint8_t *rec, size_t rec_len) {
  if (!name || store <= 0) return SLOOP_INVALID;
  sloop_vfs_record r = {0, 0, SLOOP_VFS_PAGE_SIZE, 0, 0, 0};
  if (rec && rec_len && sloop_vfs_record_decode(rec, rec_len, &r)) return SLOOP_CORRUPT;
  mem_file *old = mem_find(name);
  if (old && old->opens) return SLOOP_BUSY;
  if (old) mem_free(old);
  mem_file *f = mem_new(name, r.page_size);
  if (!f) return SLOOP_NOMEM;
  f->store = store;
  f->loading = 1;
  f->size = r.file_size;
  if (mem_reserve(f, r.page_count)) {
    mem_free(f);
    return SLOOP_NOMEM;
  }
  return SLOOP_OK;
}

int sloop_vfs_image_lazy(const char *name, uint32_t cache_pages) {
  mem_file *f = name ? mem_find(name) : NULL;
  if (!f || !f->loading || f->lazy) return SLOOP_NOTFOUND;
  for (uint32_t i = 0; i < f->cap; i++)
    if (f->pages[i]) return SLOOP_INVALID; /* pages already supplied: too late to switch */
  f->lazy = 1;
  f->budget = cache_pages < BUDGET_MIN ? BUDGET_MIN : cache_pages;
  f->lru_head = f->lru_tail = f->run_lo = f->run_hi = NIL;
  /* Grow the LRU links to the page table's existing size. */
  uint32_t cap = f->cap;
  f->cap = 0;
  free(f->pages);
  free(f->dirty);
  free(f->dirty_list);
  f->pages = NULL, f->dirty = NULL, f->dirty_list = NULL;
  return mem_reserve(f, cap) ? SLOOP_NOMEM : SLOOP_OK;
}

uint8_t *sloop_vfs_image_page(const char *name, uint32_t index) {
  mem_file *f = mem_find(name);
  if (!f || !f->loading || index >= pages_for(f, f->size)) return NULL;
  if (!f->pages[index] && (f->pages[index] = sloop_page_calloc(f->page_size)) && f->lazy) {
    f->resident++;
    lru_push(f, index);
  }
  return f->pages[index];
}

int sloop_vfs_image_end(const char *name) {
  mem_file *f = mem_find(name);
  if (!f || !f->loading) return SLOOP_NOTFOUND;
  uint32_t count = pages_for(f, f->size);
  int rc = SLOOP_OK;
  /* A lazy image holds what the host chose to supply (at least page 0); the rest stays in the
  ** store, and a page missing there is reported when it is first read. */
  for (uint32_t i = 0; i < count && !rc; i++)
    if (!f->pages[i] && !(f->lazy && i > 0)) rc = SLOOP_CORRUPT;
  if (!rc && count) rc = sloop_vfs_header_check(f->pages[0], f->page_size, f->size);
  if (rc) {
    mem_free(f);
    return rc;
  }
  f->loading = 0;
  return SLOOP_OK;
}

int sloop_vfs_image_stats(const char *name, double *out) {
  mem_file *f = name ? mem_find(name) : NULL;
  if (!f || !out) return SLOOP_NOTFOUND;
  out[0] = f->lazy;
  out[1] = f->lazy ? f->resident : pages_for(f, f->size);
  out[2] = f->lazy ? f->budget : 0;
  out[3] = f->ndirty;
  out[4] = f->fetches;
  out[5] = f->fetched;
  out[6] = pages_for(f, f->size);
  return SLOOP_OK;
}

int sloop_vfs_image_drop(const char *name) {
  mem_file *f = name ? mem_find(name) : NULL;
  if (!f) return SLOOP_NOTFOUND;
  if (f->opens) return SLOOP_BUSY;
  mem_free(f);
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
