/*
** page_pool.h -- page buffers for the memory VFS (vfs.c), from slots of one size.
*/
#ifndef SLOOP_PAGE_POOL_H
#define SLOOP_PAGE_POOL_H

#include <stddef.h>

/* A buffer of `size` bytes (zeroed by sloop_page_calloc); NULL when out of memory. Buffers of
** SLOOP_POOL_PAGE bytes come from the pool, any other size from malloc. */
void *sloop_page_alloc(size_t size);
void *sloop_page_calloc(size_t size);
/* Gives back a buffer from either of the two; `size` as it was allocated. NULL is ignored. */
void sloop_page_free(void *p, size_t size);

/* The page size the pool serves: SQLite's default, which every Sloop database uses. */
#define SLOOP_POOL_PAGE 4096

#endif
