/*
** page_pool.c -- the memory VFS's page buffers, from a pool of fixed-size slots.
**
** Why: an on-demand file evicts and fetches pages all the time, and every transaction's
** journal allocates and frees copies of the pages it changes. Taken from the general heap,
** those 4 KiB buffers interleave with everything else the core allocates (SQLite's, cJSON's),
** and the holes they leave are mostly too small or too scattered to serve the next page: in
** Chromium, with a 12 MiB page cache, the heap's free space grew from 0.4 MiB after 10,000
** records to 3.5 MiB after 100,000, and the WebAssembly memory (which never shrinks) with it
** (docs/PERSISTENCE.md, Memory). Slots of one size do not fragment: a freed slot is the next
** one handed out.
**
** Slots come in blocks of POOL_BLOCK_SLOTS, and a block is never given back to the heap: the
** pool is as large as the most pages ever held at once (the cache's budget plus a
** transaction's dirty pages and journal; the whole database in image mode), which is memory
** the module could not have returned to the browser anyway. One pool per module: the core
** (like the VFS's file registry) is single-threaded.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "page_pool.h"

/* Under AddressSanitizer a free slot is poisoned but for its link, so a page buffer used
** after it went back to the pool is still caught, as malloc'd ones were. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#endif
#endif
#ifndef POISON
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* 16 pages, 64 KiB: small enough that the last block's unused slots cost little. */
#define POOL_BLOCK_SLOTS 16

typedef struct block {
  struct block *next; /* every block stays reachable from g_blocks (leak checkers see it) */
} block;

typedef struct slot {
  struct slot *next;
} slot;

/* Slot buffers start this far into a block: the header, rounded up to keep 8-byte alignment. */
#define BLOCK_HEADER ((sizeof(block) + 15) & ~(size_t)15)

static block *g_blocks;
static slot *g_free;

static int grow(void) {
  block *b = malloc(BLOCK_HEADER + (size_t)POOL_BLOCK_SLOTS * SLOOP_POOL_PAGE);
  if (!b) return 0;
  b->next = g_blocks;
  g_blocks = b;
  uint8_t *first = (uint8_t *)b + BLOCK_HEADER;
  for (int k = POOL_BLOCK_SLOTS - 1; k >= 0; k--) {
    slot *s = (slot *)(first + (size_t)k * SLOOP_POOL_PAGE);
    s->next = g_free;
    g_free = s;
    POISON((uint8_t *)s + sizeof(slot), SLOOP_POOL_PAGE - sizeof(slot));
  }
  return 1;
}

void *sloop_page_alloc(size_t size) {
  if (size != SLOOP_POOL_PAGE) return malloc(size);
  if (!g_free && !grow()) return NULL;
  slot *s = g_free;
  g_free = s->next;
  UNPOISON(s, SLOOP_POOL_PAGE);
  return s;
}

void *sloop_page_calloc(size_t size) {
  void *p = sloop_page_alloc(size);
  if (p) memset(p, 0, size);
  return p;
}

void sloop_page_free(void *p, size_t size) {
  if (!p) return;
  if (size != SLOOP_POOL_PAGE) {
    free(p);
    return;
  }
  slot *s = p;
  s->next = g_free;
  g_free = s;
  POISON((uint8_t *)s + sizeof(slot), SLOOP_POOL_PAGE - sizeof(slot));
}
