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
** - The pool is one arena, malloc'd once at the first use and never freed (PAGES pages of
**   4 KiB, each given to one size class of 16 to 128 bytes). Its free hook tells a pooled
**   block from any other by its address alone, so a tree may mix both, and blocks are
**   freed correctly whatever hook was active when they were made.
** - The pool only serves while a hot path has entered it (sloop_json_pool_enter): elsewhere,
**   and in code outside the core that calls cJSON, allocations come from malloc as before.
** - What the core hands to others is malloc memory: sloop_print (json_print.c) allocates its
**   text with malloc, never through cJSON's hooks, since its callers free it with free().
** - Not thread safe, like the rest of the core (SQLite is built with SQLITE_THREADSAFE=0).
** - The hooks are cJSON's, which are global: a program that sets its own cJSON hooks after
**   opening a database would hand pooled blocks to its own free.
** When the arena is full, allocations fall back to malloc; nothing is ever refused.
*/
#include <stdint.h>
#include <stdlib.h>

#include "json.h"

/* Under AddressSanitizer a free block is poisoned but for its first word (the free list's
** link): a use after free of a pooled node is still reported, and so is a pooled block
** handed to free() ("not malloc()-ed"), the mistake this file's rules exist to prevent. The
** leak checker cannot see into the arena, so the pool counts its blocks in use and reports
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
#ifdef __EMSCRIPTEN__
#define PAGES 256 /* 1 MiB of the module's heap */
#else
#define PAGES 512
#endif

static unsigned char *arena;
static size_t pages_used;
static unsigned char page_class[PAGES];
static void *free_list[CLASSES];
static int depth; /* > 0: inside a hot path (sloop_json_pool_enter) */

/* Carves a fresh page into blocks of class `c`; 0 when the arena is full or cannot be had. */
static int refill(int c) {
  if (pages_used == PAGES) return 0;
  if (!arena && !(arena = malloc((size_t)PAGES * PAGE_BYTES))) {
    pages_used = PAGES; /* never ask again */
    return 0;
  }
  size_t size = (size_t)(c + 1) * CLASS_STEP;
  unsigned char *page = arena + pages_used * PAGE_BYTES;
  page_class[pages_used++] = (unsigned char)c;
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
  /* Unsigned: an address below the arena wraps to a large offset. */
  uintptr_t off = (uintptr_t)p - (uintptr_t)arena;
  if (arena && p && off < (uintptr_t)PAGES * PAGE_BYTES) {
    int c = page_class[off / PAGE_BYTES];
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
