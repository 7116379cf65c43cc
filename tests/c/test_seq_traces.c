/*
** test_seq_traces.c -- real editing histories replayed through the sequence CRDT (wasm/src/seq.h):
**   - automerge-paper (one writer, 260,000 keystrokes): every patch as a local edit ends with
**     the trace's end text, and so does a second replica fed the operations those edits made;
**   - friendsforever (two people typing at once): one replica per agent, each receiving, before
**     it makes a transaction, the operations of that transaction's causal history (`parents`)
**     it lacks; once everything is delivered every replica shows the end text, with the
**     agents' device ids in either order.
** The traces are the gzipped JSON files in tests/fixtures/editing-traces (see its README),
** flattened for C into build/traces by tests/trace-flat.mjs (a Makefile rule makes them before
** this test is built).
*/
#include <stdio.h>
#include <stdlib.h>

#include "seq_ops.h"

typedef struct trace_patch {
  uint32_t pos, del, ins_n, ins_bytes; /* code points, but ins_bytes */
  const uint8_t *ins;
} trace_patch;

typedef struct trace_txn {
  uint32_t agent, npatches, first_patch, nparents, first_parent;
} trace_txn;

typedef struct trace {
  uint8_t *flat;
  trace_txn *txns;
  trace_patch *patches;
  uint32_t *parents;
  uint32_t ntxns, npatches, nagents;
  const uint8_t *end;
  uint32_t end_n, end_bytes;
} trace;

/* The flat form's reader: a cursor that fails the test on anything unexpected. */
typedef struct cursor {
  const uint8_t *p, *end;
} cursor;

static void expect(cursor *c, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n)) fail_msg("trace: expected \"%s\"", word);
  c->p += n;
}

/* A decimal number and the one space or newline after it. */
static uint32_t number(cursor *c) {
  uint64_t v = 0;
  const uint8_t *start = c->p;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') v = v * 10 + (uint64_t)(*c->p++ - '0');
  if (c->p == start || c->p == c->end || (*c->p != ' ' && *c->p != '\n') || v > UINT32_MAX) fail_msg("trace: bad number");
  c->p++;
  return (uint32_t)v;
}

/* "<code points> <bytes>\n<bytes>\n" */
static const uint8_t *content(cursor *c, uint32_t *n, uint32_t *bytes) {
  *n = number(c);
  *bytes = number(c);
  if ((size_t)(c->end - c->p) < (size_t)*bytes + 1 || c->p[*bytes] != '\n') fail_msg("trace: content cut short");
  const uint8_t *at = c->p;
  if (utf8_points(at, *bytes) != *n) fail_msg("trace: content of the wrong length");
  c->p += *bytes + 1;
  return at;
}

static trace load_trace(const char *name) {
  char path[256];
  snprintf(path, sizeof(path), "build/traces/%s.trace", name);
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("%s is missing: build it with make (tests/trace-flat.mjs)", path);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  trace t = {0};
  t.flat = malloc((size_t)size + 1);
  assert_non_null(t.flat);
  assert_int_equal(fread(t.flat, 1, (size_t)size, f), (size_t)size);
  fclose(f);
  cursor c = {t.flat, t.flat + size};
  expect(&c, "sloop-trace 1 ");
  t.ntxns = number(&c);
  t.npatches = number(&c);
  t.nagents = number(&c);
  t.txns = calloc(t.ntxns, sizeof(trace_txn));
  t.patches = calloc(t.npatches, sizeof(trace_patch));
  t.parents = calloc((size_t)t.ntxns * 2 + 1, sizeof(uint32_t));
  assert_true(t.txns && t.patches && t.parents);
  uint32_t patch = 0, parent = 0;
  for (uint32_t i = 0; i < t.ntxns; i++) {
    trace_txn *x = &t.txns[i];
    expect(&c, "T ");
    x->agent = number(&c);
    x->npatches = number(&c);
    x->nparents = number(&c);
    x->first_patch = patch;
    x->first_parent = parent;
    assert_true(x->agent < t.nagents && patch + x->npatches <= t.npatches && parent + x->nparents <= t.ntxns * 2);
    for (uint32_t k = 0; k < x->nparents; k++) {
      t.parents[parent] = number(&c);
      if (t.parents[parent++] >= i) fail_msg("trace: txn %u has a parent not before it", i);
    }
    for (uint32_t k = 0; k < x->npatches; k++, patch++) {
      trace_patch *p = &t.patches[patch];
      expect(&c, "P ");
      p->pos = number(&c);
      p->del = number(&c);
      p->ins = content(&c, &p->ins_n, &p->ins_bytes);
    }
  }
  assert_int_equal(patch, t.npatches);
  expect(&c, "E ");
  t.end = content(&c, &t.end_n, &t.end_bytes);
  assert_true(c.p == c.end);
  return t;
}

static void free_trace(trace *t) {
  free(t->flat), free(t->txns), free(t->patches), free(t->parents);
}

/* A patch as local edits on s by `node`, splice-like: the deletion, then the insertion. */
static void apply_patch(seq *s, uint64_t node, const trace_patch *p, seq_oplog *log) {
  if (p->del && seq_local_delete(s, p->pos, p->del, SEQ_ELEMS, log) != p->del) fail_msg("a deletion deleted too little");
  if (p->ins_n) seq_local_insert(s, node, p->pos, SEQ_ELEMS, p->ins, p->ins_bytes, p->ins_n, log);
}

static void assert_end_text(const seq *s, const trace *t, const char *what) {
  size_t len;
  char *text = seq_text_of(s, &len);
  if (len != t->end_bytes || memcmp(text, t->end, len)) {
    size_t at = 0;
    while (at < len && at < t->end_bytes && text[at] == (char)t->end[at]) at++;
    fail_msg("%s: %zu bytes, not the end text's %u; first difference at byte %zu", what, len, t->end_bytes, at);
  }
  free(text);
  assert_int_equal(seq_length(s, SEQ_ELEMS), t->end_n);
  assert_seq_sound(s, what);
}

/* The blob, whole and without its text, decodes to the same text. */
static void assert_round_trips(const seq *s, const trace *t, const char *what) {
  char msg[200] = "";
  for (int omit = 0; omit < 2; omit++) {
    uint8_t *blob = NULL;
    size_t len = 0;
    assert_int_equal(seq_encode(s, omit, &blob, &len), 0);
    seq *d = seq_decode(SEQ_TEXT, blob, len, omit ? t->end : NULL, omit ? t->end_bytes : 0, msg);
    if (!d) fail_msg("%s: decode (omit_visible %d): %s", what, omit, msg);
    assert_end_text(d, t, what);
    assert_int_equal(seq_elements(d), seq_elements(s));
    if (!omit)
      print_message("%s: %zu elements in %zu runs, %zu bytes encoded, %zu bytes of heap\n", what, seq_elements(s),
                    seq_runs(s), len, seq_memory(s));
    seq_free(d);
    free(blob);
  }
}

static void automerge_paper_replays_to_its_end_text(void **unused) {
  (void)unused;
  trace t = load_trace("automerge-paper");
  assert_int_equal(t.nagents, 1);
  const uint64_t node = 0x672b8485d9ea8942ull;
  seq *s = seq_new(SEQ_TEXT);
  seq_oplog log = {0};
  for (uint32_t i = 0; i < t.npatches; i++) {
    apply_patch(s, node, &t.patches[i], &log);
    if (i % 25000 == 0) assert_seq_sound(s, "automerge-paper, under way");
  }
  assert_end_text(s, &t, "automerge-paper");
  assert_round_trips(s, &t, "automerge-paper");

  /* A device that was offline throughout receives every operation, in order. */
  seq *remote = seq_new(SEQ_TEXT);
  char msg[200] = "";
  for (size_t i = 0; i < log.count; i++)
    if (seq_op_apply(remote, &log.ops[i], msg)) fail_msg("automerge-paper op %zu: %s", i, msg);
  assert_end_text(remote, &t, "automerge-paper, received");
  assert_int_equal(seq_elements(remote), seq_elements(s));
  print_message("automerge-paper: %u patches, %zu operations\n", t.npatches, log.count);
  seq_oplog_clear(&log);
  seq_free(remote);
  seq_free(s);
  free_trace(&t);
}

/* One replica per agent; the operations each transaction made (ops[first[i]] onwards, count[i]). */
typedef struct replay {
  const trace *t;
  seq **replicas;
  uint64_t *nodes;
  uint8_t **received; /* received[agent][txn] */
  seq_oplog log;
  size_t *first, *count;
  uint32_t *stack, *fresh;
} replay;

static int by_index(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* Delivers to `agent` the transactions among txn's ancestors (txn itself too when `self`) it
** has not received, in trace order (a topological order). Its received set stays closed under
** ancestors, so the walk stops at whatever it already has. */
static void deliver_history(replay *r, uint32_t agent, uint32_t txn, int self) {
  const trace *t = r->t;
  uint8_t *got = r->received[agent];
  uint32_t nstack = 0, nfresh = 0;
  if (self) {
    if (!got[txn]) got[txn] = 1, r->stack[nstack++] = txn;
  } else {
    for (uint32_t k = 0; k < t->txns[txn].nparents; k++) {
      uint32_t p = t->parents[t->txns[txn].first_parent + k];
      if (!got[p]) got[p] = 1, r->stack[nstack++] = p;
    }
  }
  while (nstack) {
    uint32_t x = r->stack[--nstack];
    r->fresh[nfresh++] = x;
    for (uint32_t k = 0; k < t->txns[x].nparents; k++) {
      uint32_t p = t->parents[t->txns[x].first_parent + k];
      if (!got[p]) got[p] = 1, r->stack[nstack++] = p;
    }
  }
  qsort(r->fresh, nfresh, sizeof(uint32_t), by_index);
  char msg[200] = "";
  for (uint32_t i = 0; i < nfresh; i++) {
    uint32_t x = r->fresh[i];
    if (t->txns[x].agent == agent) fail_msg("agent %u is sent its own transaction %u", agent, x);
    for (size_t k = 0; k < r->count[x]; k++)
      if (seq_op_apply(r->replicas[agent], &r->log.ops[r->first[x] + k], msg))
        fail_msg("agent %u refused an op of txn %u: %s", agent, x, msg);
  }
}

static void replay_concurrent(const trace *t, const uint64_t *nodes) {
  replay r = {t, calloc(t->nagents, sizeof(seq *)), (uint64_t *)nodes, calloc(t->nagents, sizeof(uint8_t *)), {0},
              calloc(t->ntxns, sizeof(size_t)), calloc(t->ntxns, sizeof(size_t)), calloc(t->ntxns, sizeof(uint32_t)),
              calloc(t->ntxns, sizeof(uint32_t))};
  for (uint32_t a = 0; a < t->nagents; a++) {
    r.replicas[a] = seq_new(SEQ_TEXT);
    r.received[a] = calloc(t->ntxns, 1);
  }
  for (uint32_t i = 0; i < t->ntxns; i++) {
    const trace_txn *x = &t->txns[i];
    deliver_history(&r, x->agent, i, 0);
    r.first[i] = r.log.count;
    for (uint32_t k = 0; k < x->npatches; k++) apply_patch(r.replicas[x->agent], nodes[x->agent], &t->patches[x->first_patch + k], &r.log);
    r.count[i] = r.log.count - r.first[i];
    r.received[x->agent][i] = 1;
  }
  char what[64];
  for (uint32_t a = 0; a < t->nagents; a++) {
    for (uint32_t i = 0; i < t->ntxns; i++) deliver_history(&r, a, i, 1);
    snprintf(what, sizeof(what), "friendsforever, agent %u", a);
    assert_end_text(r.replicas[a], t, what);
    assert_int_equal(seq_elements(r.replicas[a]), seq_elements(r.replicas[0]));
  }
  assert_round_trips(r.replicas[0], t, "friendsforever");
  /* A latecomer fed every operation in trace order agrees. */
  seq *late = seq_new(SEQ_TEXT);
  char msg[200] = "";
  for (size_t i = 0; i < r.log.count; i++)
    if (seq_op_apply(late, &r.log.ops[i], msg)) fail_msg("friendsforever op %zu: %s", i, msg);
  assert_end_text(late, t, "friendsforever, a latecomer");
  seq_free(late);
  for (uint32_t a = 0; a < t->nagents; a++) seq_free(r.replicas[a]), free(r.received[a]);
  free(r.replicas), free(r.received), free(r.first), free(r.count), free(r.stack), free(r.fresh);
  seq_oplog_clear(&r.log);
}

static void friendsforever_converges_to_its_end_text_on_every_replica(void **unused) {
  (void)unused;
  trace t = load_trace("friendsforever");
  assert_int_equal(t.nagents, 2);
  /* Concurrent insertions at one place are ordered by device id: both orders must replay. */
  const uint64_t nodes[2] = {0x1b6a7c0de5f00d01ull, 0xe4f2093a11c0ffeeull};
  const uint64_t swapped[2] = {nodes[1], nodes[0]};
  replay_concurrent(&t, nodes);
  replay_concurrent(&t, swapped);
  free_trace(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(automerge_paper_replays_to_its_end_text),
      cmocka_unit_test(friendsforever_converges_to_its_end_text_on_every_replica),
  };
  return cmocka_run_group_tests_name("seq_traces", tests, NULL, NULL);
}
