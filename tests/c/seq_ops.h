/*
** seq_ops.h -- replicas of one sequence (wasm/src/seq.h) for the sequence tests (test_seq.c,
** test_seq_traces.c): local edits made by position, recorded as the operations a device would
** send (an insert names its ids and origins, a delete its ids), and applied to other replicas.
** Every helper fails the running test with the sequence's message when the sequence refuses.
*/
#ifndef SLOOP_SEQ_OPS_H
#define SLOOP_SEQ_OPS_H

#include <stdio.h>
#include <stdlib.h>

#include "seq.h"
#include "testutil.h"

typedef struct seq_op {
  int is_delete;
  seq_id id, left, right; /* left and right: inserts only */
  uint32_t n;
  uint8_t *content; /* inserts only; owned by the op */
  size_t bytes;
} seq_op;

/* Operations in the order they were made. */
typedef struct seq_oplog {
  seq_op *ops;
  size_t count, cap;
} seq_oplog;

static inline void seq_oplog_push(seq_oplog *log, const seq_op *op) {
  if (log->count == log->cap) {
    log->cap = log->cap ? log->cap * 2 : 64;
    log->ops = realloc(log->ops, log->cap * sizeof(seq_op));
    assert_non_null(log->ops);
  }
  seq_op *kept = &log->ops[log->count++];
  *kept = *op;
  if (op->bytes) {
    kept->content = malloc(op->bytes);
    assert_non_null(kept->content);
    memcpy(kept->content, op->content, op->bytes);
  } else {
    kept->content = NULL;
  }
}

static inline void seq_oplog_clear(seq_oplog *log) {
  for (size_t i = 0; i < log->count; i++) free(log->ops[i].content);
  free(log->ops);
  memset(log, 0, sizeof(*log));
}

/* Applies a received operation; 0 or -1 with msg. */
static inline int seq_op_apply(seq *s, const seq_op *op, char *msg) {
  if (op->is_delete) return seq_delete(s, op->id, op->n, msg);
  return seq_insert(s, op->id, op->left, op->right, op->content, op->bytes, op->n, msg);
}

/* Inserts n elements (`content`, as seq_insert takes it) at `pos` as device `node`, as an editor
** would: origins from the position, the device's next counter. Appends the operation to `log`
** (when not NULL). */
static inline void seq_local_insert(seq *s, uint64_t node, size_t pos, seq_unit unit, const uint8_t *content,
                                    size_t bytes, uint32_t n, seq_oplog *log) {
  char msg[200] = "";
  seq_op op = {0, {node, seq_next_counter(s, node)}, {0, 0}, {0, 0}, n, (uint8_t *)content, bytes};
  if (seq_origins_at(s, pos, unit, &op.left, &op.right, msg)) fail_msg("origins at %zu: %s", pos, msg);
  if (seq_insert(s, op.id, op.left, op.right, content, bytes, n, msg))
    fail_msg("local insert of %u at %zu: %s", n, pos, msg);
  if (log) seq_oplog_push(log, &op);
}

typedef struct seq_ranges {
  seq_id *ids;
  uint32_t *ns;
  size_t count, cap;
} seq_ranges;

static inline int seq_ranges_add(void *ctx, seq_id id, uint32_t n) {
  seq_ranges *r = ctx;
  if (r->count == r->cap) {
    r->cap = r->cap ? r->cap * 2 : 8;
    r->ids = realloc(r->ids, r->cap * sizeof(seq_id));
    r->ns = realloc(r->ns, r->cap * sizeof(uint32_t));
    assert_true(r->ids && r->ns);
  }
  r->ids[r->count] = id;
  r->ns[r->count++] = n;
  return 0;
}

/* Deletes the visible [pos, pos+len) as an editor would: one delete per range of consecutive
** ids (collected before the first delete, so the walk never sees its own edits). Returns the
** number of elements deleted. */
static inline size_t seq_local_delete(seq *s, size_t pos, size_t len, seq_unit unit, seq_oplog *log) {
  char msg[200] = "";
  seq_ranges ranges = {0};
  if (seq_ids_in(s, pos, len, unit, seq_ranges_add, &ranges, msg)) fail_msg("ids in [%zu, +%zu): %s", pos, len, msg);
  size_t deleted = 0;
  for (size_t i = 0; i < ranges.count; i++) {
    seq_op op = {1, ranges.ids[i], {0, 0}, {0, 0}, ranges.ns[i], NULL, 0};
    if (seq_delete(s, op.id, op.n, msg)) fail_msg("local delete: %s", msg);
    if (log) seq_oplog_push(log, &op);
    deleted += op.n;
  }
  free(ranges.ids);
  free(ranges.ns);
  return deleted;
}

/* The visible text as a new NUL-terminated string (the caller frees). */
static inline char *seq_text_of(const seq *s, size_t *len) {
  char *out = NULL;
  size_t n = 0;
  assert_int_equal(seq_text(s, &out, &n), 0);
  assert_non_null(out);
  assert_int_equal(strlen(out), n);
  if (len) *len = n;
  return out;
}

/* Code points in UTF-8 known to be valid. */
static inline uint32_t utf8_points(const uint8_t *p, size_t n) {
  uint32_t points = 0;
  for (size_t i = 0; i < n; i++) points += (p[i] & 0xc0) != 0x80;
  return points;
}

/* Fails the test when the sequence's self-check does. */
static inline void assert_seq_sound(const seq *s, const char *what) {
  char msg[200] = "";
  if (seq_check(s, msg)) fail_msg("%s: seq_check: %s", what, msg);
}

#endif /* SLOOP_SEQ_OPS_H */
