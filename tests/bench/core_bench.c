/*
** core_bench.c -- throughput of the core natively (single core, -O2, no sanitizers):
** local writes with their operation-log entries, one per transaction and 1,000 per
** transaction, server-side apply/merge of pushed operations, a client applying pulled pages
** of 1,000 records that have no local operations, and the bytes SQLite stores per record
** (dbstat, full-text index included). Prints medians of 5 runs as JSON on stdout.
** `make bench-core` builds and runs it next to the WASM-in-Node figures.
**
** `core_bench --profile put|put-batch|pull|catch-up|serve|apply|apply-1|apply-1000|push-end|query` runs one hot path alone for callgrind: the
** setup runs outside the functions named measured_*, which `make profile-core` collects
** (--toggle-collect), so the counts hold only the path itself (docs/DESIGN.md, "Where the
** time goes").
**
** Pull, dbstat and the profiles use the notes of `make bench` (bench/data.js, rebuilt here
** byte for byte) under the demo's schema (web/schema.json); the write and apply figures keep
** their small documents, so they compare with earlier runs.
*/
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>

#include "sloop.h"

#define RUNS 5

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v) {
  qsort(v, RUNS, sizeof(double), cmp_double);
  return v[RUNS / 2];
}

static const char kSchema[] =
    "{\"collections\": {\"notes\": {\"fields\": {\"title\": \"lww\", \"body\": \"lww\", \"votes\": \"counter\","
    " \"tags\": \"set\"}, \"search\": [\"title\", \"body\"]}}}";

static void check(sloop_db *db, int rc) {
  if (rc) {
    fprintf(stderr, "bench: %s: %s\n", sloop_errstr(rc), sloop_errmsg(db));
    exit(1);
  }
}

static sloop_db *open_db(sloop_role role) {
  sloop_db *db;
  if (sloop_open(":memory:", NULL, role, NULL, &db)) exit(1);
  check(db, sloop_set_schema(db, kSchema, strlen(kSchema)));
  return db;
}

/* Writes n documents, `per_tx` per transaction; returns writes per second. */
static double bench_writes(int n, int per_tx) {
  sloop_db *db = open_db(SLOOP_ROLE_CLIENT);
  char id[32], doc[200];
  double t0 = now_s();
  for (int i = 0; i < n; i++) {
    if (per_tx > 1 && i % per_tx == 0) check(db, sloop_tx_begin(db));
    snprintf(id, sizeof(id), "n%d", i);
    snprintf(doc, sizeof(doc), "{\"title\": \"Inspection %d\", \"body\": \"Valve %d checked, pressure nominal\", \"votes\": %d}", i, i % 97, i % 7);
    check(db, sloop_put(db, "notes", 5, id, strlen(id), doc, strlen(doc)));
    if (per_tx > 1 && (i % per_tx == per_tx - 1 || i == n - 1)) check(db, sloop_tx_end(db, 1));
  }
  double rate = n / (now_s() - t0);
  sloop_close(db);
  return rate;
}

/* Pushes n patch operations in batches of `batch` to a server; returns operations per second. */
static double bench_apply(int n, int batch) {
  sloop_db *client = open_db(SLOOP_ROLE_CLIENT), *server = open_db(SLOOP_ROLE_SERVER);
  char ctx[128];
  snprintf(ctx, sizeof(ctx), "{\"user\": \"u\", \"device\": \"%s\"}", sloop_device(client));
  check(client, sloop_tx_begin(client));
  for (int i = 0; i < 100; i++) {
    char id[16];
    snprintf(id, sizeof(id), "n%d", i);
    check(client, sloop_put(client, "notes", 5, id, strlen(id), "{\"title\": \"t\"}", 14));
  }
  for (int i = 0; i < n; i++) {
    char id[16], patch[160];
    snprintf(id, sizeof(id), "n%d", i % 100);
    snprintf(patch, sizeof(patch), "{\"title\": \"t%d\", \"votes\": {\"$inc\": 1}, \"tags\": {\"$add\": [\"g%d\"]}}", i, i % 5);
    check(client, sloop_patch(client, "notes", 5, id, strlen(id), patch, strlen(patch)));
  }
  check(client, sloop_tx_end(client, 1));
  /* The first batch holds the 100 puts; they are applied before timing starts. */
  char *req, *resp;
  size_t rl, sl;
  check(client, sloop_push_begin(client, 100, &req, &rl));
  check(server, sloop_server_push(server, req, rl, ctx, strlen(ctx), &resp, &sl));
  check(client, sloop_push_end(client, resp, sl));
  sloop_free(req);
  sloop_free(resp);
  double server_time = 0;
  int applied = 0;
  for (;;) {
    check(client, sloop_push_begin(client, batch, &req, &rl));
    if (!req) break;
    double t0 = now_s();
    check(server, sloop_server_push(server, req, rl, ctx, strlen(ctx), &resp, &sl));
    server_time += now_s() - t0;
    applied += batch;
    check(client, sloop_push_end(client, resp, sl));
    sloop_free(req);
    sloop_free(resp);
  }
  sloop_close(client);
  sloop_close(server);
  return (applied < n ? applied : n) / server_time;
}

/* ---------------------------------------------------------------- the notes of make bench */

/* bench/data.js's generator (mulberry32 seeded by the record number), so both benches store
** the same bytes. */
typedef struct { uint32_t a; } rng;
static double rng_next(rng *r) {
  r->a += 0x6d2b79f5u;
  uint32_t t = r->a;
  t = (t ^ (t >> 15)) * (t | 1u);
  t ^= t + (t ^ (t >> 7)) * (t | 61u);
  return (double)(t ^ (t >> 14)) / 4294967296.0;
}

static const char *const kSyll[] = {"ka", "lo", "mi", "ne", "ru", "so", "ti", "va", "be", "do", "fu", "ga", "hi", "jo", "pe", "zu"};
static const char *const kCommon[] = {"valve", "pump", "pressure", "checked", "nominal", "leak", "filter", "replaced", "boiler", "sensor",
  "reading", "high", "low", "ok", "inspection", "room", "pipe", "seal", "motor", "noise", "oil", "level", "gauge",
  "tank", "fan", "belt", "worn", "new", "old", "north", "south", "east", "west", "floor", "roof", "unit"};
#define NCOMMON (int)(sizeof(kCommon) / sizeof(kCommon[0]))
static const char *const kStatuses[] = {"open", "closed", "waiting"};

static char *rare(char *buf, int i) {
  sprintf(buf, "%s%s%s%s", kSyll[i & 15], kSyll[(i >> 4) & 15], kSyll[(i >> 8) & 7], kSyll[8 + i % 7]);
  return buf;
}

/* Record i of bench/data.js: its id and its document as JSON.stringify writes it. */
static void note(int i, char id[16], char doc[512]) {
  rng r = {(uint32_t)((uint64_t)(i + 1) * 2654435761u)};
  char w[9], body[300] = "";
  snprintf(id, 16, "n%07d", i);
  for (int k = 0; k < 22; k++) { /* drawn in data.js's order: the body's words first */
    if (k) strcat(body, " ");
    strcat(body, k % 6 == 5 ? rare(w, (int)(rng_next(&r) * 2048)) : kCommon[(int)(rng_next(&r) * NCOMMON)]);
  }
  const char *c1 = kCommon[(int)(rng_next(&r) * NCOMMON)];
  rare(w, (int)(rng_next(&r) * 2048));
  char title[64];
  snprintf(title, sizeof(title), "Inspection %d: %s %s", i, c1, w);
  const char *site = kCommon[(int)(rng_next(&r) * NCOMMON)];
  snprintf(doc, 512,
           "{\"title\":\"%s\",\"body\":\"%s\",\"site\":\"Site %d %s\",\"status\":\"%s\",\"updatedAt\":%lld,"
           "\"createdBy\":\"alice\"}",
           title, body, i % 97, site, i % 100 == 42 ? "blocked" : kStatuses[i % 3],
           1767225600000LL + (long long)i * 1000);
}

static char *app_schema(void) {
  FILE *f = fopen("web/schema.json", "rb");
  if (!f) {
    fprintf(stderr, "bench: run from the repository root (web/schema.json)\n");
    exit(1);
  }
  static char buf[4096];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = 0;
  return buf;
}

static sloop_db *open_app_db(sloop_role role) {
  sloop_db *db;
  if (sloop_open(":memory:", NULL, role, NULL, &db)) exit(1);
  const char *schema = app_schema();
  check(db, sloop_set_schema(db, schema, strlen(schema)));
  return db;
}

static void put_notes(sloop_db *db, int from, int to) {
  char id[16], doc[512];
  check(db, sloop_tx_begin(db));
  for (int i = from; i < to; i++) {
    note(i, id, doc);
    check(db, sloop_put(db, "notes", 5, id, strlen(id), doc, strlen(doc)));
  }
  check(db, sloop_tx_end(db, 1));
}

static void ctx_for(sloop_db *client, char ctx[128]) {
  snprintf(ctx, 128, "{\"user\": \"u\", \"device\": \"%s\"}", sloop_device(client));
}

/* A server holding notes 0..n-1, written by one client and pushed in batches of 1,000. */
static sloop_db *server_with_notes(int n) {
  sloop_db *writer = open_app_db(SLOOP_ROLE_CLIENT), *server = open_app_db(SLOOP_ROLE_SERVER);
  char ctx[128], *req, *resp;
  size_t rl, sl;
  ctx_for(writer, ctx);
  for (int i = 0; i < n; i += 1000) put_notes(writer, i, i + 1000 < n ? i + 1000 : n);
  for (;;) {
    check(writer, sloop_push_begin(writer, 1000, &req, &rl));
    if (!req) break;
    check(server, sloop_server_push(server, req, rl, ctx, strlen(ctx), &resp, &sl));
    check(writer, sloop_push_end(writer, resp, sl));
    sloop_free(req);
    sloop_free(resp);
  }
  sloop_close(writer);
  return server;
}

/* The pulled pages' bodies: what a fresh client receives from the server, page by page. */
typedef struct {
  char **body;
  size_t *len;
  int n;
} pages;

static pages server_pages(sloop_db *server) {
  sloop_db *probe = open_app_db(SLOOP_ROLE_CLIENT);
  char ctx[128], *req, *resp;
  size_t rl, sl;
  int more = 1;
  pages p = {NULL, NULL, 0};
  ctx_for(probe, ctx);
  while (more) {
    check(probe, sloop_pull_request(probe, 1000, NULL, 0, &req, &rl));
    check(server, sloop_server_pull(server, req, rl, ctx, strlen(ctx), &resp, &sl));
    check(probe, sloop_pull_apply(probe, resp, sl, &more));
    p.body = realloc(p.body, (p.n + 1) * sizeof(char *));
    p.len = realloc(p.len, (p.n + 1) * sizeof(size_t));
    p.body[p.n] = resp;
    p.len[p.n++] = sl;
    sloop_free(req);
  }
  sloop_close(probe);
  return p;
}

static void free_pages(pages *p) {
  for (int i = 0; i < p->n; i++) sloop_free(p->body[i]);
  free(p->body);
  free(p->len);
}

__attribute__((noinline)) static void measured_pull_apply(sloop_db *db, const pages *p) {
  int more;
  for (int i = 0; i < p->n; i++) check(db, sloop_pull_apply(db, p->body[i], p->len[i], &more));
}

__attribute__((noinline)) static void measured_catch_up(sloop_db *db) {
  int more = 1;
  while (more) check(db, sloop_search_catch_up(db, 2000, &more));
}

static int64_t sql_int(sloop_db *db, const char *sql) {
  char *out;
  size_t len;
  check(db, sloop_sql(db, sql, strlen(sql), &out, &len));
  long long v = 0;
  if (sscanf(out, "[[%lld]]", &v) != 1) {
    fprintf(stderr, "bench: %s gave %s\n", sql, out);
    exit(1);
  }
  sloop_free(out);
  return v;
}

/* Applies the pages to a fresh client; returns records per second, the same with the search
** index's catch-up after the pages (wasm/src/fts_behind.c: the pages leave the index behind)
** in *indexed, and the bytes SQLite stores per record once the index is whole (every b-tree
** of the database: tables, indexes, FTS5). */
static double bench_pull(const pages *p, double *indexed, double *bytes_per_record) {
  sloop_db *db = open_app_db(SLOOP_ROLE_CLIENT);
  double t0 = now_s();
  measured_pull_apply(db, p);
  double dt = now_s() - t0;
  measured_catch_up(db);
  double dt_indexed = now_s() - t0;
  int64_t records = sql_int(db, "SELECT count(*) FROM records");
  if (sql_int(db, "SELECT count(*) FROM records_fts") != records) {
    fprintf(stderr, "bench: the search index is not whole after the catch-up\n");
    exit(1);
  }
  *bytes_per_record = (double)sql_int(db, "SELECT sum(pgsize) FROM dbstat") / (double)records;
  *indexed = records / dt_indexed;
  sloop_close(db);
  return records / dt;
}

/* ---------------------------------------------------------------- profiles for callgrind */

#define PROFILE_N 2000

__attribute__((noinline)) static void measured_put(sloop_db *db, int n, char (*ids)[16], char (*docs)[512]) {
  for (int i = 0; i < n; i++) check(db, sloop_put(db, "notes", 5, ids[i], strlen(ids[i]), docs[i], strlen(docs[i])));
}

/* A transaction of puts, its commit included: the commit is where a batch's index updates
** go. Not through measured_put: callgrind's --toggle-collect would stop collecting inside it. */
__attribute__((noinline)) static void measured_put_tx(sloop_db *db, int n, char (*ids)[16], char (*docs)[512]) {
  check(db, sloop_tx_begin(db));
  for (int i = 0; i < n; i++) check(db, sloop_put(db, "notes", 5, ids[i], strlen(ids[i]), docs[i], strlen(docs[i])));
  check(db, sloop_tx_end(db, 1));
}

__attribute__((noinline)) static void measured_server_push(sloop_db *server, const char *req, size_t rl, const char *ctx,
                                                           char **resp, size_t *sl) {
  check(server, sloop_server_push(server, req, rl, ctx, strlen(ctx), resp, sl));
}

__attribute__((noinline)) static void measured_push_end(sloop_db *client, const char *resp, size_t sl) {
  check(client, sloop_push_end(client, resp, sl));
}

__attribute__((noinline)) static size_t measured_query(sloop_db *db, const char *q, int times) {
  size_t total = 0;
  for (int t = 0; t < times; t++) {
    char *out;
    size_t len;
    check(db, sloop_query(db, "notes", 5, q, strlen(q), &out, &len));
    total += len;
    sloop_free(out);
  }
  return total;
}

/* One hot path, for `valgrind --tool=callgrind --toggle-collect='measured_*'`. Prints how many
** records (or ops, or rows) the measured part handled, to divide the counts by. */
/* The server answering a fresh client's pull, page by page; each page applied (outside the
** measured function) so the next request carries the client's new cursor. */
__attribute__((noinline)) static void measured_server_pull(sloop_db *server, const char *req, size_t rl, const char *ctx,
                                                           char **resp, size_t *sl) {
  check(server, sloop_server_pull(server, req, rl, ctx, strlen(ctx), resp, sl));
}

static int profile(const char *path) {
  if (!strcmp(path, "put")) {
    /* A local put of a new note, one per transaction, as an app's single writes are. */
    static char ids[PROFILE_N][16], docs[PROFILE_N][512];
    for (int i = 0; i < PROFILE_N; i++) note(i, ids[i], docs[i]);
    sloop_db *db = open_app_db(SLOOP_ROLE_CLIENT);
    measured_put(db, PROFILE_N, ids, docs);
    sloop_close(db);
    printf("{\"path\": \"put\", \"records\": %d}\n", PROFILE_N);
  } else if (!strcmp(path, "put-batch")) {
    /* The same puts, 1,000 per transaction (a transaction() of writes). */
    static char ids[PROFILE_N][16], docs[PROFILE_N][512];
    for (int i = 0; i < PROFILE_N; i++) note(i, ids[i], docs[i]);
    sloop_db *db = open_app_db(SLOOP_ROLE_CLIENT);
    for (int i = 0; i < PROFILE_N; i += 1000) measured_put_tx(db, 1000, ids + i, docs + i);
    sloop_close(db);
    printf("{\"path\": \"put-batch\", \"records\": %d}\n", PROFILE_N);
  } else if (!strcmp(path, "pull")) {
    /* Pulled notes that have no local operations, in pages of 1,000, into a fresh client. */
    sloop_db *server = server_with_notes(PROFILE_N);
    pages p = server_pages(server);
    sloop_db *db = open_app_db(SLOOP_ROLE_CLIENT);
    measured_pull_apply(db, &p);
    sloop_close(db);
    sloop_close(server);
    free_pages(&p);
    printf("{\"path\": \"pull\", \"records\": %d}\n", PROFILE_N);
  } else if (!strcmp(path, "catch-up")) {
    /* The search index's catch-up after that pull (wasm/src/fts_behind.c), in the runtime's
    ** slices of 2,000: what a pulled record's indexing costs now. */
    sloop_db *server = server_with_notes(PROFILE_N);
    pages p = server_pages(server);
    sloop_db *db = open_app_db(SLOOP_ROLE_CLIENT);
    int more; /* the pages outside callgrind's collection: only measured_* functions count */
    for (int i = 0; i < p.n; i++) check(db, sloop_pull_apply(db, p.body[i], p.len[i], &more));
    measured_catch_up(db);
    sloop_close(db);
    sloop_close(server);
    free_pages(&p);
    printf("{\"path\": \"catch-up\", \"records\": %d}\n", PROFILE_N);
  } else if (!strcmp(path, "serve")) {
    /* The server's side of the same pull: 2,000 notes answered in pages of 1,000. */
    sloop_db *server = server_with_notes(PROFILE_N), *client = open_app_db(SLOOP_ROLE_CLIENT);
    char ctx[128], *req, *resp;
    size_t rl, sl;
    int more = 1, pages = 0;
    ctx_for(client, ctx);
    while (more) {
      check(client, sloop_pull_request(client, 1000, NULL, 0, &req, &rl));
      measured_server_pull(server, req, rl, ctx, &resp, &sl);
      check(client, sloop_pull_apply(client, resp, sl, &more));
      sloop_free(req);
      sloop_free(resp);
      pages++;
    }
    sloop_close(client);
    sloop_close(server);
    printf("{\"path\": \"serve\", \"records\": %d, \"pages\": %d}\n", PROFILE_N, pages);
  } else if (!strcmp(path, "apply") || !strcmp(path, "apply-1") || !strcmp(path, "apply-1000")) {
    /* The server applying pushed patches (a set, a counter and a last-writer-wins field) to
    ** notes it holds, in batches of 100 (apply-1: one operation per push, where what a push
    ** costs besides its operations shows; apply-1000: ten operations per note and batch, where
    ** a note is read and written once for ten): bench_apply's operations. */
    int batch = !strcmp(path, "apply-1") ? 1 : !strcmp(path, "apply-1000") ? 1000 : 100;
    sloop_db *client = open_db(SLOOP_ROLE_CLIENT), *server = open_db(SLOOP_ROLE_SERVER);
    char ctx[128], *req, *resp;
    size_t rl, sl;
    int ops = 0;
    ctx_for(client, ctx);
    check(client, sloop_tx_begin(client));
    for (int i = 0; i < 100; i++) {
      char id[16];
      snprintf(id, sizeof(id), "n%d", i);
      check(client, sloop_put(client, "notes", 5, id, strlen(id), "{\"title\": \"t\"}", 14));
    }
    for (int i = 0; i < PROFILE_N; i++) {
      char id[16], patch[160];
      snprintf(id, sizeof(id), "n%d", i % 100);
      snprintf(patch, sizeof(patch), "{\"title\": \"t%d\", \"votes\": {\"$inc\": 1}, \"tags\": {\"$add\": [\"g%d\"]}}", i, i % 5);
      check(client, sloop_patch(client, "notes", 5, id, strlen(id), patch, strlen(patch)));
    }
    check(client, sloop_tx_end(client, 1));
    check(client, sloop_push_begin(client, 100, &req, &rl));
    check(server, sloop_server_push(server, req, rl, ctx, strlen(ctx), &resp, &sl));
    check(client, sloop_push_end(client, resp, sl));
    sloop_free(req);
    sloop_free(resp);
    for (;;) {
      check(client, sloop_push_begin(client, batch, &req, &rl));
      if (!req) break;
      measured_server_push(server, req, rl, ctx, &resp, &sl);
      ops += batch;
      check(client, sloop_push_end(client, resp, sl));
      sloop_free(req);
      sloop_free(resp);
    }
    sloop_close(client);
    sloop_close(server);
    printf("{\"path\": \"%s\", \"ops\": %d}\n", path, ops);
  } else if (!strcmp(path, "push-end")) {
    /* A client taking the server's answer to its push of new notes, 1,000 per push: make
    ** bench's push scenario (the server's part is the apply path). */
    sloop_db *client = open_app_db(SLOOP_ROLE_CLIENT), *server = open_app_db(SLOOP_ROLE_SERVER);
    char ctx[128], *req, *resp;
    size_t rl, sl;
    ctx_for(client, ctx);
    for (int i = 0; i < PROFILE_N; i += 1000) put_notes(client, i, i + 1000);
    for (;;) {
      check(client, sloop_push_begin(client, 1000, &req, &rl));
      if (!req) break;
      check(server, sloop_server_push(server, req, rl, ctx, strlen(ctx), &resp, &sl));
      measured_push_end(client, resp, sl);
      sloop_free(req);
      sloop_free(resp);
    }
    sloop_close(client);
    sloop_close(server);
    printf("{\"path\": \"push-end\", \"records\": %d}\n", PROFILE_N);
  } else if (!strcmp(path, "query")) {
    /* The indexed query of make bench: status = 'blocked' over 10,000 notes, 100 rows. */
    sloop_db *db = open_app_db(SLOOP_ROLE_CLIENT);
    for (int i = 0; i < 10000; i += 1000) put_notes(db, i, i + 1000);
    const char q[] = "{\"where\": {\"status\": \"blocked\"}}";
    size_t once = measured_query(db, q, 1);
    /* 20 more, each timed: the median is the figure natively (under callgrind it means nothing). */
    double ms[20];
    for (int t = 0; t < 20; t++) {
      double t0 = now_s();
      measured_query(db, q, 1);
      ms[t] = (now_s() - t0) * 1e3;
    }
    qsort(ms, 20, sizeof(double), cmp_double);
    char *out;
    size_t len;
    check(db, sloop_query(db, "notes", 5, q, strlen(q), &out, &len));
    int rows = 0;
    for (const char *s = out; (s = strstr(s, "\"state\"")); s++) rows++;
    sloop_free(out);
    sloop_close(db);
    printf("{\"path\": \"query\", \"queries\": 21, \"rows\": %d, \"bytes\": %zu, \"msPerQuery\": %.3f}\n", rows,
           once, (ms[9] + ms[10]) / 2);
  } else {
    fprintf(stderr, "usage: core_bench [--profile put|put-batch|pull|catch-up|serve|apply|apply-1|apply-1000|push-end|query]\n");
    return 2;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--profile")) return profile(argv[2]);
  if (argc != 1) return profile("");
  double pull[RUNS], pull_indexed[RUNS], bytes[RUNS];
  sloop_db *server = server_with_notes(10000);
  pages p = server_pages(server);
  sloop_close(server);
  for (int r = 0; r < RUNS; r++) pull[r] = bench_pull(&p, &pull_indexed[r], &bytes[r]);
  free_pages(&p);
  char id[16], doc[512];
  note(0, id, doc);
  size_t note_len = strlen(doc);
  for (int i = 1; i < 100; i++) note(i, id, doc), note_len += strlen(doc);

  double one[RUNS], thousand[RUNS], apply1[RUNS], apply100[RUNS], apply1000[RUNS];
  for (int r = 0; r < RUNS; r++) {
    one[r] = bench_writes(5000, 1);
    thousand[r] = bench_writes(20000, 1000);
    apply1[r] = bench_apply(2000, 1);
    apply100[r] = bench_apply(10000, 100);
    apply1000[r] = bench_apply(10000, 1000);
  }
  printf("{\"runtime\": \"native\", \"writesPerSec1PerTx\": %.0f, \"writesPerSec1000PerTx\": %.0f,"
         " \"applyOpsPerSecBatch1\": %.0f, \"applyOpsPerSecBatch100\": %.0f, \"applyOpsPerSecBatch1000\": %.0f,"
         " \"pullApplyPerSec\": %.0f, \"pullIndexedPerSec\": %.0f, \"bytesPerRecord\": %.0f, \"noteJsonBytes\": %.0f}\n",
         median(one), median(thousand), median(apply1), median(apply100), median(apply1000), median(pull),
         median(pull_indexed), median(bytes), note_len / 100.0);
  return 0;
}
