/*
** json_pool.c -- a pool for cJSON's small allocations (its nodes, member names and short
** strings) on the core's hot paths.
**
** A local write, a server push apply or a pulled page builds and frees cJSON trees of some
** hundreds of nodes per record. Under glibc about a quarter of those paths' instructions went
** to malloc and free (docs/profiles/apply.txt): freeing a whole tree overflows the allocator's
** small per-size caches, and every further free takes its slow path. Here a size class is a
** free list, so an allocation or a free is a few instructions.
**
** How it stays safe:
** - The pool is made of chunks of 256 KiB, each aligned on its size, taken as the hot paths
**   need them (up to MAX_CHUNKS) and never freed; each 4 KiB page of a chunk is given to one
**   size class of 16 to 128 bytes. Its free hook tells a pooled block from any other by its
**   address alone (the chunk it would lie in, found in a small hash table), so a tree may mix
**   both, and blocks are freed correctly whatever hook was active when they were made.
** - Why it grows: a push answer of 1,000 records, or a pulled page, holds all its records'
**   trees at once. One arena of 1-2 MiB filled up in the middle of them, and every later
**   allocation took malloc's path (a client taking a push answer: 23% of its instructions).
**   The pool is as large as the most cJSON a hot path held at once, which malloc would have
**   taken from the heap anyway (and WebAssembly memory never shrinks); a small database takes
**   one or two chunks where the arena took all of it at once.
** - The pool only serves while a hot path has entered it (sloop_json_pool_enter): elsewhere,
**   and in code outside the core that calls cJSON, allocations come from malloc as before.
** - What the core hands to others is malloc memory: sloop_print (json_print.c) allocates its
**   text with malloc, never through cJSON's hooks, since its callers free it with free().
** - Not thread safe, like the rest of the core (SQLite is built with SQLITE_THREADSAFE=0).
** - The hooks are cJSON's, which are global: a program that sets its own cJSON hooks after
**   opening a database would hand pooled blocks to its own free.
** When the pool is at its cap, allocations fall back to malloc; nothing is ever refused.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Under AddressSanitizer a free block is poisoned but for its first word (the free list's
** link): a use after free of a pooled node is still reported, and so is a pooled block
** handed to free() ("not malloc()-ed"), the mistake this file's rules exist to prevent. The
** leak checker cannot see into the chunks, so the pool counts its blocks in use and reports
** any left at exit (every test closes its handles). */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#include <stdio.h>
#define POOL_ASAN 1
#define POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION((char *)(p) + sizeof(void *), (n) - sizeof(void *))
#define POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
static long live_blocks;
static void check_live_blocks(void) {
  if (live_blocks == 0) return;
  fprintf(stderr, "json_pool: %ld pooled cJSON allocations leaked\n", live_blocks);
  abort();
}
#endif
#endif
#ifndef POOL_ASAN
#define POOL_POISON(p, n) ((void)0)
#define POOL_UNPOISON(p, n) ((void)0)
#endif

#define PAGE_BYTES 4096
#define CLASS_STEP 16
#define CLASSES 8 /* 16, 32, ... 128 bytes: a node is 64 (64-bit) or 40 (wasm32) */
#define CHUNK_PAGES 64
#define CHUNK_BYTES ((size_t)CHUNK_PAGES * PAGE_BYTES)
#ifdef __EMSCRIPTEN__
#define MAX_CHUNKS 16 /* 4 MiB of the module's heap at most */
#else
#define MAX_CHUNKS 64 /* 16 MiB */
#endif

typedef struct chunk {
  unsigned char *base;                     /* CHUNK_BYTES, aligned on CHUNK_BYTES */
  unsigned char page_class[CHUNK_PAGES];   /* the size class of each page carved so far */
} chunk;

static chunk chunks[MAX_CHUNKS];
static int nchunks;
static chunk *current;           /* the chunk pages are carved from */
static size_t pages_used;        /* pages of `current` carved */
static int exhausted;            /* at the cap, or the heap refused a chunk: malloc from now on */
static void *free_list[CLASSES];
static int depth; /* > 0: inside a hot path (sloop_json_pool_enter) */

/* The chunks by the address they start at: open addressing, never deleted from, at most a
** quarter full. The free hook looks every cJSON free up here, so it has to be a few
** instructions (a binary search over the chunks cost a put 3%). */
#define SLOTS (4 * MAX_CHUNKS)
static chunk *by_base[SLOTS];
static size_t slot_of(uintptr_t base) {
  return (size_t)(((uint64_t)base / CHUNK_BYTES * 0x9e3779b97f4a7c15ull) >> 40) % SLOTS;
}

/* The chunk holding `p`, or NULL for memory that is not the pool's. */
static chunk *chunk_of(const void *p) {
  uintptr_t base = (uintptr_t)p & ~(uintptr_t)(CHUNK_BYTES - 1);
  for (size_t i = slot_of(base); by_base[i]; i = (i + 1) % SLOTS)
    if ((uintptr_t)by_base[i]->base == base) return by_base[i];
  return NULL;
}

/* A new chunk to carve from; 0 at the cap or when the heap has none. */
static int add_chunk(void) {
  if (nchunks == MAX_CHUNKS) return 0;
  unsigned char *base = aligned_alloc(CHUNK_BYTES, CHUNK_BYTES);
  if (!base) return 0;
  current = &chunks[nchunks++];
  current->base = base;
  pages_used = 0;
  size_t i = slot_of((uintptr_t)base);
  while (by_base[i]) i = (i + 1) % SLOTS;
  by_base[i] = current;
  return 1;
}

/* Carves a fresh page into blocks of class `c`; 0 when the pool cannot grow. */
static int refill(int c) {
  if (exhausted) return 0;
  if ((!current || pages_used == CHUNK_PAGES) && !add_chunk()) {
    exhausted = 1; /* never ask again */
    return 0;
  }
  size_t size = (size_t)(c + 1) * CLASS_STEP;
  unsigned char *page = current->base + pages_used * PAGE_BYTES;
  current->page_class[pages_used++] = (unsigned char)c;
  for (size_t at = 0; at + size <= PAGE_BYTES; at += size) {
    *(void **)(page + at) = free_list[c];
    free_list[c] = page + at;
    POOL_POISON(page + at, size);
  }
  return 1;
}

static void *pool_malloc(size_t n) {
  if (depth > 0 && n <= (size_t)CLASSES * CLASS_STEP) {
    int c = n ? (int)((n - 1) / CLASS_STEP) : 0;
    if (free_list[c] || refill(c)) {
      void *p = free_list[c];
      free_list[c] = *(void **)p;
      POOL_UNPOISON(p, (size_t)(c + 1) * CLASS_STEP);
#ifdef POOL_ASAN
      live_blocks++;
#endif
      return p;
    }
  }
  return malloc(n);
}

static void pool_free(void *p) {
  chunk *k = p ? chunk_of(p) : NULL;
  if (k) {
    int c = k->page_class[((unsigned char *)p - k->base) / PAGE_BYTES];
    *(void **)p = free_list[c];
    free_list[c] = p;
    POOL_POISON(p, (size_t)(c + 1) * CLASS_STEP);
#ifdef POOL_ASAN
    live_blocks--;
#endif
    return;
  }
  free(p);
}

void sloop_json_pool_install(void) {
  static int installed;
  if (installed) return;
  cJSON_Hooks hooks = {pool_malloc, pool_free};
  cJSON_InitHooks(&hooks);
  installed = 1;
#ifdef POOL_ASAN
  atexit(check_live_blocks);
#endif
}

int sloop_json_pool_enter(void) { return depth++; }

int sloop_json_pool_pause(void) {
  int outer = depth;
  depth = 0;
  return outer;
}

void sloop_json_pool_leave(int outer) { depth = outer; }
