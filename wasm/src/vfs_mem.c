/*
** vfs_mem.c -- the memory files of the "sloop-mem" VFS (vfs.c): each file a table of page
** buffers, the pages changed since the last commit, and for a database opened on demand, the
** page cache in front of the host's store; and the images a host loads before opening.
**
** A main database can be opened on demand ("lazy", sloop_vfs_image_lazy): only the pages
** SQLite touches are resident, fetched from the host's store through the `fetch` hook (which
** the browser host makes wait for IndexedDB with JS Promise Integration). Resident pages that
** are clean sit in an LRU list; dirty pages are pinned (not in the list) until the commit hook
** has accepted them, and count against the same `budget` of resident pages: clean pages are
** evicted to make room for them, down to BUDGET_MIN clean pages. A read that continues the
** previous one of a few sequences followed at once (just after its run, or just before it)
** fetches a run of neighbouring pages in the same hook call (read-ahead, doubling up to
** READ_AHEAD_MAX).
**
** Invariants of a mem_file: bytes past `size` in any allocated page are zero, so growth never
** exposes stale data; every page index in dirty_list has dirty[index] set, exactly once. Lazy
** files: a NULL slot below the page count is a page held by the store, not a page of zeros;
** every resident clean page is in the LRU list exactly once, and no dirty page is.
*/
#include <stdlib.h>
#include <string.h>

#include "page_pool.h"
#include "vfs_mem.h"

/* Read-ahead doubles from 1 up to this many pages per fetch (256 KiB of 4 KiB pages). */
#define READ_AHEAD_MAX 64
/* Pages a read may skip past the end of the last run and still count as sequential. */
#define READ_AHEAD_GAP 8
/* The smallest cache a lazy file accepts: the longest read-ahead run must fit twice. */
#define BUDGET_MIN (2 * READ_AHEAD_MAX)

static mem_file *g_files;

/* ---------------------------------------------------------------- memory files ------- */

static uint32_t pages_for(const mem_file *f, uint64_t size) {
  return (uint32_t)((size + f->page_size - 1) / f->page_size);
}

mem_file *sloop_mem_find(const char *name) {
  for (mem_file *f = g_files; f; f = f->next)
    if (f->name && strcmp(f->name, name) == 0) return f;
  return NULL;
}

mem_file *sloop_mem_new(const char *name, uint32_t page_size) {
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

void sloop_mem_free(mem_file *f) {
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
  free(f->unread);
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
    uint8_t *unread = realloc(f->unread, cap);
    if (!unread) return SQLITE_NOMEM;
    f->unread = unread;
    memset(f->unread + f->cap, 0, cap - f->cap);
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

/* Least recent: the next to go. */
static void lru_push_tail(mem_file *f, uint32_t i) {
  f->lru_next[i] = NIL;
  f->lru_prev[i] = f->lru_tail;
  if (f->lru_tail == NIL) f->lru_head = i; else f->lru_next[f->lru_tail] = i;
  f->lru_tail = i;
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
    f->unread[i] = 0;
    f->resident--;
  }
}

/* The stream page `i` continues, its read-ahead doubled; else the least recently used one,
** restarted at 1 page. Continuing means just past the end of a stream's last run, or just
** before its start (SQLite's integrity check walks a B-tree's cells backwards). A B-tree's
** leaves are interleaved with the odd interior page, hence the gap allowed. *backward says
** which way the run goes. */
static mem_stream *stream_for(mem_file *f, uint32_t i, int *backward) {
  mem_stream *oldest = &f->streams[0];
  for (int k = 0; k < MEM_STREAMS; k++) {
    mem_stream *s = &f->streams[k];
    if (s->used < oldest->used) oldest = s;
    if (!s->ahead) continue;
    int fwd = i >= s->hi && i - s->hi <= READ_AHEAD_GAP;
    int back = i < s->lo && s->lo - i <= READ_AHEAD_GAP + 1;
    if (fwd || back) {
      s->ahead = s->ahead * 2 > READ_AHEAD_MAX ? READ_AHEAD_MAX : s->ahead * 2;
      *backward = back;
      return s;
    }
  }
  oldest->ahead = 1;
  *backward = 0;
  return oldest;
}

/* A lazy file's page `i` (below the page count) made resident: fetched from the host with the
** run of following non-resident pages if the reads are sequential. SQLITE_CORRUPT if the store
** lacks a page it must hold, SQLITE_IOERR_READ if the host failed, SQLITE_NOMEM. */
static int lazy_fetch(mem_file *f, uint32_t i) {
  uint32_t count = pages_for(f, f->size);
  int backward;
  mem_stream *st = stream_for(f, i, &backward);
  /* The run spans resident pages rather than stop at them: in a table being scanned, pages
  ** of other B-trees sit between its leaves, and some of them are cached. Their stored copies
  ** are fetched and dropped (a resident page may be newer), which costs less than the host's
  ** round trip a run cut short there would cost. A run does not end on one, though. */
  uint32_t lo = i, hi = i + 1;
  if (backward) {
    while (hi - lo < st->ahead && lo > 0) lo--;
    while (lo < i && f->pages[lo]) lo++;
  } else {
    while (hi - lo < st->ahead && hi < count) hi++;
    while (hi > i + 1 && f->pages[hi - 1]) hi--;
  }
  uint32_t n = hi - lo;
  uint8_t **bufs = malloc(n * sizeof(*bufs));
  if (!bufs) return SQLITE_NOMEM;
  for (uint32_t k = 0; k < n; k++)
    if (!(bufs[k] = sloop_page_alloc(f->page_size))) {
      while (k--) sloop_page_free(bufs[k], f->page_size);
      free(bufs);
      return SQLITE_NOMEM;
    }
  int failed = sloop_vfs_host.fetch ? sloop_vfs_host.fetch(f->store, lo, n, bufs) : 1;
  f->fetches++;
  if (failed) {
    for (uint32_t k = 0; k < n; k++) sloop_page_free(bufs[k], f->page_size);
    free(bufs);
    return failed == 2 ? SQLITE_CORRUPT : SQLITE_IOERR_READ;
  }
  f->fetched += n;
  for (uint32_t k = 0; k < n; k++) {
    if (f->pages[lo + k]) {
      sloop_page_free(bufs[k], f->page_size);
      continue;
    }
    f->pages[lo + k] = bufs[k];
    f->unread[lo + k] = lo + k != i;
    f->resident++;
    lru_push(f, lo + k);
  }
  free(bufs);
  /* Page i most recent: it is the one being read. */
  lru_unlink(f, i);
  lru_push(f, i);
  st->lo = lo, st->hi = hi, st->used = ++f->stream_clock;
  lru_trim(f);
  return SQLITE_OK;
}

/* Page `i` of any file for reading: NULL means zeros (plain files) or, with *rc set, an error. */
static uint8_t *mem_page_for_read(mem_file *f, uint32_t i, int *rc) {
  if (!f->lazy) return f->pages[i];
  if (!f->pages[i] && (*rc = lazy_fetch(f, i)) != SQLITE_OK) return NULL;
  if (f->unread[i]) {
    /* Its first read, as part of a run read ahead: a scan, which reads a page once. It goes
    ** next, rather than push out of the cache the pages that are read again (an index's, the
    ** full-text index's segments being merged), as a scan of a table larger than the cache
    ** otherwise would: all of them, each fetched again page by page. */
    f->unread[i] = 0;
    lru_unlink(f, i);
    lru_push_tail(f, i);
  } else if (!f->dirty[i] && f->lru_head != i) {
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
    f->unread[i] = 0;
  }
  if (!f->dirty[i]) {
    f->dirty[i] = 1;
    f->dirty_list[f->ndirty++] = i;
  }
  return f->pages[i];
}

/* Extends the file to `size` with zeros. Every page of the gap is marked dirty so the host
** persists it: a stored image never has holes. */
int sloop_mem_grow(mem_file *f, uint64_t size) {
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

void sloop_mem_shrink(mem_file *f, uint64_t size) {
  uint32_t keep = pages_for(f, size);
  for (uint32_t i = keep; i < pages_for(f, f->size); i++) {
    if (f->lazy && f->pages[i]) {
      if (!f->dirty[i]) lru_unlink(f, i);
      f->unread[i] = 0;
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

int sloop_mem_read(mem_file *f, void *buf, int amt, sqlite3_int64 off) {
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

int sloop_mem_write(mem_file *f, const void *buf, int amt, sqlite3_int64 off) {
  const uint8_t *in = buf;
  int rc = sloop_mem_grow(f, (uint64_t)off + (uint64_t)amt);
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
int sloop_mem_commit(mem_file *f) {
  if (!f->store || !sloop_vfs_host.commit) return SQLITE_OK;
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
  int refused = sloop_vfs_host.commit(f->store, f->page_size, (double)f->size, f->truncated, n, index,
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

/* ---------------------------------------------------------------- images ------------- */

int sloop_vfs_image_begin(const char *name, int store, const uint8_t *rec, size_t rec_len) {
  if (!name || store <= 0) return SLOOP_INVALID;
  sloop_vfs_record r = {0, 0, SLOOP_VFS_PAGE_SIZE, 0, 0, 0};
  if (rec && rec_len && sloop_vfs_record_decode(rec, rec_len, &r)) return SLOOP_CORRUPT;
  mem_file *old = sloop_mem_find(name);
  if (old && old->opens) return SLOOP_BUSY;
  if (old) sloop_mem_free(old);
  mem_file *f = sloop_mem_new(name, r.page_size);
  if (!f) return SLOOP_NOMEM;
  f->store = store;
  f->loading = 1;
  f->size = r.file_size;
  if (mem_reserve(f, r.page_count)) {
    sloop_mem_free(f);
    return SLOOP_NOMEM;
  }
  return SLOOP_OK;
}

int sloop_vfs_image_lazy(const char *name, uint32_t cache_pages) {
  mem_file *f = name ? sloop_mem_find(name) : NULL;
  if (!f || !f->loading || f->lazy) return SLOOP_NOTFOUND;
  for (uint32_t i = 0; i < f->cap; i++)
    if (f->pages[i]) return SLOOP_INVALID; /* pages already supplied: too late to switch */
  f->lazy = 1;
  f->budget = cache_pages < BUDGET_MIN ? BUDGET_MIN : cache_pages;
  f->lru_head = f->lru_tail = NIL;
  memset(f->streams, 0, sizeof(f->streams));
  /* Grow the LRU links to the page table's existing size. */
  uint32_t cap = f->cap;
  f->cap = 0;
  free(f->pages);
  free(f->dirty);
  free(f->dirty_list);
  free(f->unread);
  f->pages = NULL, f->dirty = NULL, f->dirty_list = NULL, f->unread = NULL;
  return mem_reserve(f, cap) ? SLOOP_NOMEM : SLOOP_OK;
}

uint8_t *sloop_vfs_image_page(const char *name, uint32_t index) {
  mem_file *f = sloop_mem_find(name);
  if (!f || !f->loading || index >= pages_for(f, f->size)) return NULL;
  if (!f->pages[index] && (f->pages[index] = sloop_page_calloc(f->page_size)) && f->lazy) {
    f->resident++;
    lru_push(f, index);
  }
  return f->pages[index];
}

int sloop_vfs_image_end(const char *name) {
  mem_file *f = sloop_mem_find(name);
  if (!f || !f->loading) return SLOOP_NOTFOUND;
  uint32_t count = pages_for(f, f->size);
  int rc = SLOOP_OK;
  /* A lazy image holds what the host chose to supply (at least page 0); the rest stays in the
  ** store, and a page missing there is reported when it is first read. */
  for (uint32_t i = 0; i < count && !rc; i++)
    if (!f->pages[i] && !(f->lazy && i > 0)) rc = SLOOP_CORRUPT;
  if (!rc && count) rc = sloop_vfs_header_check(f->pages[0], f->page_size, f->size);
  if (rc) {
    sloop_mem_free(f);
    return rc;
  }
  f->loading = 0;
  return SLOOP_OK;
}

int sloop_vfs_image_stats(const char *name, double *out) {
  mem_file *f = name ? sloop_mem_find(name) : NULL;
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
  mem_file *f = name ? sloop_mem_find(name) : NULL;
  if (!f) return SLOOP_NOTFOUND;
  if (f->opens) return SLOOP_BUSY;
  sloop_mem_free(f);
  return SLOOP_OK;
}
