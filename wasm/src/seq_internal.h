/*
** seq_internal.h -- the in-memory layout of a sequence (seq.h), shared by the sequence's own
** files (seq.c: edits; seq_read.c: reading and diffs; seq_codec.c: the binary form) and by
** nothing else.
*/
#ifndef SLOOP_SEQ_INTERNAL_H
#define SLOOP_SEQ_INTERNAL_H

#include "seq.h"

#define SEQ_NONE 0xffffffffu
/* Runs per block: a block is split when full. 64 keeps a block's linear scans within a cache
** line or two of run indexes while the block list stays a few hundred long for a long text. */
#define SEQ_BLOCK 64

/* A run: elements (agent, seq .. seq+len-1), each inserted right after the one before, all with
** the right origin (or_agent, or_seq). The first element's left origin is (ol_agent, ol_seq);
** SEQ_NONE as agent means none. Agents are indexes into seq.agents, local to this copy. */
typedef struct seq_run {
  uint32_t agent, seq, len;
  uint32_t ol_agent, ol_seq;
  uint32_t or_agent, or_seq;
  uint32_t off, bytes; /* content in the arena; none for a tombstone */
  uint32_t units;      /* UTF-16 code units of the content (text) or len (list); 0 for a tombstone */
  uint32_t block;      /* the block holding it (index into seq.blocks) */
  uint32_t next;       /* the run holding the following counters of the same chunk, or SEQ_NONE */
  uint8_t deleted;
} seq_run;

typedef struct seq_block {
  uint32_t n;
  uint32_t order;                  /* its position in seq.order */
  uint64_t all, vis, vis16;        /* elements kept, visible elements, visible UTF-16 units */
  uint32_t r[SEQ_BLOCK];           /* run indexes in document order */
} seq_block;

/* A chunk: counters seq .. seq+len-1 of one agent, held by a chain of runs in counter order
** starting at `first`. Splitting a run adds a link to its chain; the chunk never changes. */
typedef struct seq_chunk {
  uint32_t seq, len, first;
} seq_chunk;

typedef struct seq_agent {
  uint64_t node;
  seq_chunk *chunks; /* sorted by seq, disjoint */
  uint32_t nchunks, cap;
  uint32_t next_seq; /* one past the largest counter held */
} seq_agent;

struct seq {
  seq_kind kind;
  seq_run *runs;
  uint32_t nruns, capruns, free_run; /* freed runs chain through `next` */
  seq_block **blocks;
  uint32_t nblocks, capblocks;
  uint32_t *order; /* block indexes in document order */
  uint32_t norder;
  seq_agent *agents;
  uint32_t nagents, capagents, last_agent;
  uint8_t *arena;
  size_t arena_len, arena_cap;
  uint64_t all, vis, vis16;
};

/* Position of a run: block order index, index within the block. */
typedef struct seq_pos {
  uint32_t bo, bi;
} seq_pos;

static inline seq_run *seq_run_at(const seq *s, seq_pos p) {
  return &s->runs[s->blocks[s->order[p.bo]]->r[p.bi]];
}

uint32_t seq_agent_find(const seq *s, uint64_t node);
uint32_t seq_agent_add(seq *s, uint64_t node); /* SEQ_NONE on OOM */
/* The run holding (agent, c) and the element's offset in it; SEQ_NONE when unknown. */
uint32_t seq_locate(const seq *s, uint32_t agent, uint32_t c, uint32_t *offset);
/* How many of the counters c .. c+n-1 of `agent` (at least 1) are alike from c on: all held by one
** run (*run, the first one's *offset in it) or all unknown (*run SEQ_NONE). */
uint32_t seq_span(const seq *s, uint32_t agent, uint32_t c, uint32_t n, uint32_t *run, uint32_t *offset);
/* Where a run sits. */
seq_pos seq_pos_of(const seq *s, uint32_t run);
/* Byte offset of element k in a live run's content. */
uint32_t seq_elem_offset(const seq *s, const seq_run *r, uint32_t k);
/* UTF-16 units of a live run's elements [0, k). */
uint32_t seq_units_before(const seq *s, const seq_run *r, uint32_t k);
/* Checks list content: n elements, each a LEB128 length and its bytes, exactly `bytes` long. */
int seq_list_content_ok(const uint8_t *p, size_t bytes, uint32_t n);
/* The first run and the next one, over empty blocks; 0 when there is none. */
int seq_first(const seq *s, seq_pos *p);
int seq_next(const seq *s, seq_pos *p);
/* Appends a new run at the end of the document (the decoder builds a sequence this way), with
** content already in the arena. Returns the run index or SEQ_NONE on OOM. */
uint32_t seq_append_run(seq *s, const seq_run *r);
/* Rebuilds every agent's chunks from the runs (after seq_append_run); -1 with msg when two runs
** hold the same id. */
int seq_rebuild_chunks(seq *s, char *msg);
int seq_arena_reserve(seq *s, size_t more);

#endif /* SLOOP_SEQ_INTERNAL_H */
