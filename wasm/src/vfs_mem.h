/*
** vfs_mem.h -- the memory files behind the "sloop-mem" VFS (vfs_mem.c), as the VFS's io
** methods (vfs.c) use them. Internal to the core; the contract with hosts is sloop_vfs.h.
*/
#ifndef SLOOP_VFS_MEM_H
#define SLOOP_VFS_MEM_H

#include <stdint.h>

#include "internal.h"
#include "sloop_vfs.h"

#define NIL UINT32_MAX

/* A run of sequential reads being followed: the pages it fetched last, [lo, hi), and how many
** its next fetch takes (0: unused). A file follows a few at once, since a scan of one B-tree
** is interleaved with reads of others (an index, the full-text index being written). */
#define MEM_STREAMS 4
typedef struct mem_stream {
  uint32_t lo, hi;
  uint32_t ahead;
  uint32_t used; /* stream_clock at its last fetch */
} mem_stream;

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
  uint8_t *unread;      /* 1: resident, clean, fetched ahead of its first read */
  mem_stream streams[MEM_STREAMS]; /* the sequential reads followed, for read-ahead */
  uint32_t stream_clock; /* ticks per fetch: which stream was used least recently */
  double fetches, fetched; /* fetch hook calls, pages they brought */
};


/* The host's hooks (sloop_vfs_init, vfs.c): the memory files call `commit` and `fetch`. */
extern sloop_vfs_hooks sloop_vfs_host;

/* The registry of named files (journals and databases); anonymous temp files are not in it. */
mem_file *sloop_mem_find(const char *name);
/* A new empty file, registered under `name` unless NULL. NULL when out of memory. */
mem_file *sloop_mem_new(const char *name, uint32_t page_size);
void sloop_mem_free(mem_file *f);

/* SQLite's reads and writes, in SQLITE_* codes: a read past the end is zero-filled and
** SQLITE_IOERR_SHORT_READ; a write extends the file. Growing fills with zeros, shrinking
** drops the pages past the new end; both mark what changed for the next commit. */
int sloop_mem_read(mem_file *f, void *buf, int amt, sqlite3_int64 off);
int sloop_mem_write(mem_file *f, const void *buf, int amt, sqlite3_int64 off);
int sloop_mem_grow(mem_file *f, uint64_t size);
void sloop_mem_shrink(mem_file *f, uint64_t size);
/* Hands the pages changed since the last commit to the host's `commit` hook (a file bound to
** a store only); SQLITE_IOERR_FSYNC if the host refuses, and the changes are kept. */
int sloop_mem_commit(mem_file *f);

#endif
