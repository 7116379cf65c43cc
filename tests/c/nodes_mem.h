/*
** nodes_mem.h -- an in-memory node table for the state codec's tests and fuzz target: the
** interning a database does in its `nodes` table (wasm/src/nodes.c), without SQL.
*/
#ifndef SLOOP_NODES_MEM_H
#define SLOOP_NODES_MEM_H

#include <stdint.h>

#include "sloop.h"
#include "state_codec.h"

#define NODES_MEM_MAX 64

typedef struct nodes_mem {
  uint64_t node[NODES_MEM_MAX];
  uint64_t count;
} nodes_mem;

static inline int nodes_mem_intern(void *ctx, uint64_t node, uint64_t *index) {
  nodes_mem *m = ctx;
  for (uint64_t i = 0; i < m->count; i++)
    if (m->node[i] == node) return *index = i, SLOOP_OK;
  if (m->count == NODES_MEM_MAX) return SLOOP_NOMEM;
  m->node[m->count] = node;
  *index = m->count++;
  return SLOOP_OK;
}

static inline int nodes_mem_lookup(void *ctx, uint64_t index, uint64_t *node) {
  nodes_mem *m = ctx;
  if (index >= m->count) return SLOOP_CORRUPT;
  *node = m->node[index];
  return SLOOP_OK;
}

static inline sloop_nodes nodes_mem_table(nodes_mem *m) {
  return (sloop_nodes){nodes_mem_intern, nodes_mem_lookup, m};
}

#endif /* SLOOP_NODES_MEM_H */
