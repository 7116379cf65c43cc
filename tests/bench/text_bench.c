/*
** text_bench.c -- the sequence CRDT (wasm/src/seq.h) on a real editing trace, natively and, built
** with emcc, in WebAssembly: the same file measures both.
**
**   1. local apply: every patch of the trace as a local edit, by position (seq_ids_in and
**      seq_delete for a deletion, seq_origins_at and seq_insert with the next counter for an
**      insertion), as an editor's keystrokes would arrive;
**   2. remote merge: the operations those edits made (one per insertion, one per deleted range,
**      with ids and origins), applied one by one to an empty replica, as a device that was
**      offline for the whole session would receive them;
**   3. the final state encoded (seq_encode, whole and with the visible text left out) and decoded
**      again, with its time;
**   4. memory: seq_memory of both replicas, and the process's peak RSS (natively) or the WASM
**      heap's size (which only grows, so it is the peak too).
** Every run checks both replicas' text against the trace's end text and seq_check's structure;
** the decoded copies are checked too. Medians of --runs runs (default 5), one JSON object on
** stdout; --runs 0 measures memory alone, in a process that did nothing else first.
** tests/bench/text-trace.mjs runs it beside Yjs and Automerge (`make bench-text`).
**
** The remote operations are recorded in a separate, untimed pass, so the local figure is the
** apply alone: the recording is a store per edit that an editor would not pay for in the same
** place (its operations go to the log, whose cost is the log's).
**
** Input is a flat trace (tests/trace-flat.mjs; one writer only: a concurrent trace's positions
** refer to merged states that a replay in file order never sees). Natively:
**   build/bench/text_bench build/traces/automerge-paper.trace [--runs N]
** In WebAssembly there is no file system: JS copies the file into the heap and calls
** text_bench(bytes, len, runs, label).
*/
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>

#include "seq.h"

#ifdef __EMSCRIPTEN__
#include <emscripten.h>
#include <emscripten/heap.h>
#else
#include <sys/resource.h>
#define EMSCRIPTEN_KEEPALIVE
#endif

#define MAX_RUNS 64
/* Any device id will do; this one is not 0 and uses the high bits, as a real one does. */
#define LOCAL_NODE 0x672b8485d9ea8942ull

typedef struct patch {
  uint32_t pos, del, ins_n;  /* code points */
  uint32_t ins_off, ins_bytes; /* into trace.flat */
} patch;

typedef struct trace {
  const uint8_t *flat; /* the flat file; inserts and the end text point into it */
  size_t flat_len;
  patch *patches;
  uint32_t npatches;
  uint32_t end_off, end_bytes;
} trace;

/* An operation as a remote replica receives it: an insertion with its id, origins and content,
** or the deletion of n consecutive ids. */
typedef struct remote_op {
  seq_id id, left, right;
  uint32_t n;
  uint32_t ins_off, ins_bytes; /* insertion content in trace.flat; ins_bytes 0 for a deletion */
  uint8_t is_delete;
} remote_op;

typedef struct op_log {
  remote_op *ops;
  size_t n, cap;
} op_log;

/* The id ranges one deletion covers, gathered before deleting (the walk must not see its own
** changes). Reused from edit to edit. */
typedef struct id_ranges {
  seq_id *id;
  uint32_t *n;
  size_t count, cap;
} id_ranges;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The median of v[0..n-1]; sorts a copy, so v keeps the runs' order for the JSON. */
static double median(const double *v, int n) {
  double sorted[MAX_RUNS];
  memcpy(sorted, v, (size_t)n * sizeof(double));
  qsort(sorted, (size_t)n, sizeof(double), cmp_double);
  return sorted[n / 2];
}

/* ---------------------------------------------------------------- reading the trace --- */

/* A cursor over the flat file; every read checks the bounds, and a malformed file stops the
** bench with a message rather than a wrong figure. */
typedef struct cursor {
  const uint8_t *p, *end;
  int bad;
} cursor;

static void expect(cursor *c, const char *lit) {
  size_t n = strlen(lit);
  if (c->bad || (size_t)(c->end - c->p) < n || memcmp(c->p, lit, n)) c->bad = 1;
  else c->p += n;
}

/* An unsigned decimal followed by one space or newline, which it consumes. */
static uint32_t number(cursor *c) {
  uint64_t v = 0;
  const uint8_t *start = c->p;
  while (!c->bad && c->p < c->end && *c->p >= '0' && *c->p <= '9' && v <= 0xffffffffu) v = v * 10 + (*c->p++ - '0');
  if (c->bad || c->p == start || v > 0xffffffffu || c->p == c->end || (*c->p != ' ' && *c->p != '\n')) {
    c->bad = 1;
    return 0;
  }
  c->p++;
  return (uint32_t)v;
}

/* `bytes` of content and the newline after them; returns their offset in the file. */
static uint32_t content(cursor *c, const uint8_t *base, uint32_t bytes) {
  uint32_t off = (uint32_t)(c->p - base);
  if (c->bad || (size_t)(c->end - c->p) < (size_t)bytes + 1 || c->p[bytes] != '\n') {
    c->bad = 1;
    return 0;
  }
  c->p += bytes + 1;
  return off;
}

static int parse_patches(cursor *c, trace *t, uint32_t ntxns) {
  uint32_t k = 0;
  for (uint32_t i = 0; i < ntxns && !c->bad; i++) {
    expect(c, "T ");
    number(c); /* agent: one writer, so always the same */
    uint32_t np = number(c), nparents = number(c);
    for (uint32_t j = 0; j < nparents; j++) number(c);
    for (uint32_t j = 0; j < np && !c->bad; j++, k++) {
      if (k >= t->npatches) return -1;
      patch *p = &t->patches[k];
      expect(c, "P ");
      p->pos = number(c);
      p->del = number(c);
      p->ins_n = number(c);
      p->ins_bytes = number(c);
      p->ins_off = content(c, t->flat, p->ins_bytes);
    }
  }
  return c->bad || k != t->npatches ? -1 : 0;
}

/* Parses a flat trace held in memory (borrowed: t points into it). 0, or -1 with a message on
** stderr. */
static int parse_trace(const uint8_t *flat, size_t len, trace *t) {
  cursor c = {flat, flat + len, 0};
  memset(t, 0, sizeof(*t));
  t->flat = flat;
  t->flat_len = len;
  expect(&c, "sloop-trace 1 ");
  uint32_t ntxns = number(&c);
  t->npatches = number(&c);
  uint32_t agents = number(&c);
  if (c.bad) return fprintf(stderr, "text_bench: not a flat trace (tests/trace-flat.mjs)\n"), -1;
  if (agents != 1)
    return fprintf(stderr, "text_bench: a trace of %u writers; this bench replays one writer's trace\n", agents), -1;
  t->patches = calloc(t->npatches ? t->npatches : 1, sizeof(patch));
  if (!t->patches) return fprintf(stderr, "text_bench: out of memory\n"), -1;
  if (parse_patches(&c, t, ntxns)) return fprintf(stderr, "text_bench: malformed trace near byte %zu\n", (size_t)(c.p - flat)), -1;
  expect(&c, "E ");
  number(&c);
  t->end_bytes = number(&c);
  t->end_off = content(&c, flat, t->end_bytes);
  if (c.bad || c.p != c.end) return fprintf(stderr, "text_bench: malformed end text\n"), -1;
  return 0;
}

/* ---------------------------------------------------------------- local and remote ---- */

static int gather_range(void *ctx, seq_id id, uint32_t n) {
  id_ranges *r = ctx;
  if (r->count == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 16;
    seq_id *ids = realloc(r->id, cap * sizeof(seq_id));
    if (ids) r->id = ids;
    uint32_t *ns = realloc(r->n, cap * sizeof(uint32_t));
    if (ns) r->n = ns;
    if (!ids || !ns) return -2;
    r->cap = cap;
  }
  r->id[r->count] = id;
  r->n[r->count++] = n;
  return 0;
}

static int log_op(op_log *log, remote_op op) {
  if (log->n == log->cap) {
    size_t cap = log->cap ? log->cap * 2 : 1024;
    remote_op *ops = realloc(log->ops, cap * sizeof(remote_op));
    if (!ops) return -1;
    log->ops = ops;
    log->cap = cap;
  }
  log->ops[log->n++] = op;
  return 0;
}

/* One patch as a local edit: its deletion, then its insertion. Appends the operations it made
** to `log` unless log is NULL (the timed runs). 0, or -1 with msg. */
static int apply_patch(seq *s, const trace *t, const patch *p, id_ranges *ranges, op_log *log, char *msg) {
  if (p->del) {
    ranges->count = 0;
    if (seq_ids_in(s, p->pos, p->del, SEQ_ELEMS, gather_range, ranges, msg)) return -1;
    for (size_t i = 0; i < ranges->count; i++) {
      if (seq_delete(s, ranges->id[i], ranges->n[i], msg)) return -1;
      if (log && log_op(log, (remote_op){.id = ranges->id[i], .n = ranges->n[i], .is_delete = 1}))
        return snprintf(msg, 200, "out of memory"), -1;
    }
  }
  if (p->ins_n) {
    seq_id left, right, id = {LOCAL_NODE, seq_next_counter(s, LOCAL_NODE)};
    if (seq_origins_at(s, p->pos, SEQ_ELEMS, &left, &right, msg)) return -1;
    if (seq_insert(s, id, left, right, t->flat + p->ins_off, p->ins_bytes, p->ins_n, msg)) return -1;
    if (log && log_op(log, (remote_op){id, left, right, p->ins_n, p->ins_off, p->ins_bytes, 0}))
      return snprintf(msg, 200, "out of memory"), -1;
  }
  return 0;
}

/* Replays the whole trace as local edits into a new sequence; NULL on failure (message on
** stderr). */
static seq *apply_local(const trace *t, op_log *log) {
  seq *s = seq_new(SEQ_TEXT);
  id_ranges ranges = {0};
  char msg[200] = "out of memory";
  uint32_t i = 0;
  if (s)
    for (; i < t->npatches; i++)
      if (apply_patch(s, t, &t->patches[i], &ranges, log, msg)) break;
  free(ranges.id);
  free(ranges.n);
  if (s && i == t->npatches) return s;
  fprintf(stderr, "text_bench: local edit %u (pos %u, del %u, ins %u): %s\n", i, i < t->npatches ? t->patches[i].pos : 0,
          i < t->npatches ? t->patches[i].del : 0, i < t->npatches ? t->patches[i].ins_n : 0, msg);
  seq_free(s);
  return NULL;
}

/* Applies the recorded operations, in order, to a new sequence; NULL on failure. */
static seq *merge_remote(const trace *t, const op_log *log) {
  seq *s = seq_new(SEQ_TEXT);
  char msg[200] = "out of memory";
  size_t i = 0;
  if (s)
    for (; i < log->n; i++) {
      const remote_op *op = &log->ops[i];
      int rc = op->is_delete ? seq_delete(s, op->id, op->n, msg)
                             : seq_insert(s, op->id, op->left, op->right, t->flat + op->ins_off, op->ins_bytes, op->n, msg);
      if (rc) break;
    }
  if (s && i == log->n) return s;
  fprintf(stderr, "text_bench: remote op %zu of %zu: %s\n", i, log->n, msg);
  seq_free(s);
  return NULL;
}

/* The replica's text equals the trace's end text and its structure checks. 0 or -1 (stderr). */
static int check_replica(const seq *s, const trace *t, const char *which) {
  char *text = NULL, msg[200] = "";
  size_t len = 0;
  if (seq_check(s, msg)) return fprintf(stderr, "text_bench: %s: seq_check: %s\n", which, msg), -1;
  if (seq_text(s, &text, &len)) return fprintf(stderr, "text_bench: %s: seq_text: out of memory\n", which), -1;
  int same = len == t->end_bytes && !memcmp(text, t->flat + t->end_off, len);
  if (!same) {
    size_t k = 0;
    while (k < len && k < t->end_bytes && text[k] == (char)t->flat[t->end_off + k]) k++;
    fprintf(stderr, "text_bench: %s: text differs from the trace's end at byte %zu (%zu bytes, expected %u)\n", which, k,
            len, t->end_bytes);
  }
  free(text);
  return same ? 0 : -1;
}

/* ---------------------------------------------------------------- the runs ------------- */

typedef struct figures {
  double local_ms[MAX_RUNS], remote_ms[MAX_RUNS], encode_ms[MAX_RUNS], decode_ms[MAX_RUNS];
  size_t encoded, encoded_omit, seq_memory_local, seq_memory_remote, elements, runs_kept, remote_ops;
} figures;

/* Encodes `s` whole and without its visible text, decodes both and checks them; times the whole
** encode and the whole decode (the forms a document is loaded from). */
static int encode_round_trip(const seq *s, const trace *t, figures *f, int run) {
  uint8_t *blob = NULL, *lean = NULL;
  size_t len = 0, lean_len = 0;
  char msg[200] = "";
  double t0 = now_ms();
  if (seq_encode(s, 0, &blob, &len)) return fprintf(stderr, "text_bench: seq_encode: out of memory\n"), -1;
  f->encode_ms[run] = now_ms() - t0;
  if (seq_encode(s, 1, &lean, &lean_len)) return free(blob), fprintf(stderr, "text_bench: seq_encode: out of memory\n"), -1;
  f->encoded = len;
  f->encoded_omit = lean_len;
  t0 = now_ms();
  seq *copy = seq_decode(SEQ_TEXT, blob, len, NULL, 0, msg);
  f->decode_ms[run] = now_ms() - t0;
  int rc = copy ? check_replica(copy, t, "decoded") : (fprintf(stderr, "text_bench: seq_decode: %s\n", msg), -1);
  seq_free(copy);
  copy = rc ? NULL : seq_decode(SEQ_TEXT, lean, lean_len, t->flat + t->end_off, t->end_bytes, msg);
  if (!rc) rc = copy ? check_replica(copy, t, "decoded without its text") : (fprintf(stderr, "text_bench: seq_decode (omit_visible): %s\n", msg), -1);
  seq_free(copy);
  free(blob);
  free(lean);
  return rc;
}

static int one_run(const trace *t, const op_log *log, figures *f, int run) {
  double t0 = now_ms();
  seq *local = apply_local(t, NULL);
  f->local_ms[run] = now_ms() - t0;
  if (!local) return -1;
  t0 = now_ms();
  seq *remote = merge_remote(t, log);
  f->remote_ms[run] = now_ms() - t0;
  int rc = remote ? 0 : -1;
  if (!rc) rc = check_replica(local, t, "local replica") || check_replica(remote, t, "remote replica") ? -1 : 0;
  if (!rc) rc = encode_round_trip(local, t, f, run);
  if (!rc) {
    f->seq_memory_local = seq_memory(local);
    f->seq_memory_remote = seq_memory(remote);
    f->elements = seq_elements(local);
    f->runs_kept = seq_runs(local);
  }
  seq_free(local);
  seq_free(remote);
  return rc;
}

/* The JSON's last field: the peak of this process's memory. */
static void print_peak(void) {
#ifdef __EMSCRIPTEN__
  printf("  \"wasmHeapBytes\": %zu\n}\n", emscripten_get_heap_size());
#else
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("  \"peakRssKiB\": %ld\n}\n", ru.ru_maxrss);
#endif
  fflush(stdout);
}

static void print_series(const char *name, const double *v, int runs) {
  printf("  \"%s\": [", name);
  for (int i = 0; i < runs; i++) printf("%s%.3f", i ? ", " : "", v[i]);
  printf("],\n  \"%sMedian\": %.3f,\n", name, median(v, runs));
}

static void print_json(const char *label, const trace *t, const figures *f, int runs) {
  printf("{\n  \"system\": \"%s\",\n  \"patches\": %u,\n  \"remoteOps\": %zu,\n  \"runs\": %d,\n", label, t->npatches,
         f->remote_ops, runs);
  print_series("localMs", f->local_ms, runs);
  print_series("remoteMs", f->remote_ms, runs);
  print_series("encodeMs", f->encode_ms, runs);
  print_series("decodeMs", f->decode_ms, runs);
  printf("  \"textBytes\": %u,\n  \"encodedBytes\": %zu,\n  \"encodedOmitVisibleBytes\": %zu,\n", t->end_bytes, f->encoded,
         f->encoded_omit);
  printf("  \"elements\": %zu,\n  \"seqRuns\": %zu,\n  \"seqMemoryLocal\": %zu,\n  \"seqMemoryRemote\": %zu,\n", f->elements,
         f->runs_kept, f->seq_memory_local, f->seq_memory_remote);
  print_peak();
}

/* --runs 0: the local replica alone, for its memory, in a process that has done nothing else. */
static int memory_only(const trace *t, const char *label) {
  seq *s = apply_local(t, NULL);
  if (!s) return -1;
  int rc = check_replica(s, t, "local replica");
  if (!rc) {
    printf("{\n  \"system\": \"%s\",\n  \"patches\": %u,\n  \"runs\": 0,\n  \"seqMemoryLocal\": %zu,\n", label, t->npatches,
           seq_memory(s));
    print_peak();
  }
  seq_free(s);
  return rc;
}

/* Runs the bench on a flat trace held in memory (borrowed for the call) and prints its JSON,
** labelled `label`; with runs 0, only the memory a local replica holds (memory_only).
** Returns 0, or 1 after a message on stderr (a failed check included). The WebAssembly
** build's entry point; natively main calls it. */
EMSCRIPTEN_KEEPALIVE int text_bench(const uint8_t *flat, size_t len, int runs, const char *label) {
  trace t;
  op_log log = {0};
  figures f;
  int rc = 1;
  memset(&f, 0, sizeof(f));
  if (runs < 0 || runs > MAX_RUNS) return fprintf(stderr, "text_bench: runs must be 0..%d\n", MAX_RUNS), 1;
  if (parse_trace(flat, len, &t)) goto done;
  if (runs == 0) {
    rc = memory_only(&t, label) ? 1 : 0;
    goto done;
  }
  seq *recorded = apply_local(&t, &log); /* the untimed pass that records the remote operations */
  if (!recorded) goto done;
  seq_free(recorded);
  f.remote_ops = log.n;
  for (int i = 0; i < runs; i++)
    if (one_run(&t, &log, &f, i)) goto done;
  print_json(label, &t, &f, runs);
  rc = 0;
done:
  free(t.patches);
  free(log.ops);
  return rc;
}

#ifndef __EMSCRIPTEN__
static uint8_t *read_file(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  uint8_t *buf = NULL;
  long size = -1;
  if (fp && !fseek(fp, 0, SEEK_END) && (size = ftell(fp)) >= 0 && !fseek(fp, 0, SEEK_SET) && (buf = malloc((size_t)size + 1)) &&
      fread(buf, 1, (size_t)size, fp) != (size_t)size) {
    free(buf);
    buf = NULL;
  }
  if (fp) fclose(fp);
  *len = (size_t)size;
  return buf;
}

int main(int argc, char **argv) {
  const char *path = NULL;
  int runs = 5;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
    else if (argv[i][0] != '-' && !path) path = argv[i];
    else {
      path = NULL; /* anything else: print the usage */
      break;
    }
  }
  if (!path) {
    fprintf(stderr, "usage: text_bench TRACE.trace [--runs N]   (tests/trace-flat.mjs makes the trace)\n");
    return 2;
  }
  size_t len;
  uint8_t *flat = read_file(path, &len);
  if (!flat) return fprintf(stderr, "text_bench: cannot read %s\n", path), 1;
  int rc = text_bench(flat, len, runs, "sloop-native");
  free(flat);
  return rc;
}
#endif
