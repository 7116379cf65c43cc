/*
** core_bench.c -- throughput of the core natively (single core, -O2, no sanitizers):
** local writes with their operation-log entries, one per transaction and 1,000 per
** transaction, and server-side apply/merge of pushed operations. Prints medians of 5 runs
** as JSON on stdout. `make bench-core` builds and runs it next to the WASM-in-Node figures.
*/
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int main(void) {
  double one[RUNS], thousand[RUNS], apply1[RUNS], apply100[RUNS], apply1000[RUNS];
  for (int r = 0; r < RUNS; r++) {
    one[r] = bench_writes(5000, 1);
    thousand[r] = bench_writes(20000, 1000);
    apply1[r] = bench_apply(2000, 1);
    apply100[r] = bench_apply(10000, 100);
    apply1000[r] = bench_apply(10000, 1000);
  }
  printf("{\"runtime\": \"native\", \"writesPerSec1PerTx\": %.0f, \"writesPerSec1000PerTx\": %.0f,"
         " \"applyOpsPerSecBatch1\": %.0f, \"applyOpsPerSecBatch100\": %.0f, \"applyOpsPerSecBatch1000\": %.0f}\n",
         median(one), median(thousand), median(apply1), median(apply100), median(apply1000));
  return 0;
}
