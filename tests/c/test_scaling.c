/*
** test_scaling.c -- the work per record of a batch does not grow with the batch.
**
** A statement the planner runs through the wrong index (or a scan where a search was meant)
** costs nothing on a ten-record test and a batch's size squared in production: the push answer
** of 1,000 new notes once took 0.3 ms a record because a DELETE searched oplog_by_status, which
** held every operation the answer had just acknowledged. Timings cannot catch this here (the
** machine is shared); SQLite's own count of virtual machine steps can, and it is exact.
**
** Each hot path runs at two batch sizes on fresh databases; the steps per record of the large
** batch must stay within SLOPE of the small one's. A quadratic statement makes the large batch
** cost about LARGE / SMALL times more per record (here 10).
*/
#include "internal.h"
#include "world.h"

#define SMALL 100
#define LARGE 1000
/* Per-record steps may grow this much from SMALL to LARGE: b-trees deepen (a log factor) and
** fixed costs spread, neither near the 10x of a scan per record. */
#define SLOPE 1.5
#define NOTES_COLL "notes"

/* Steps every statement of the connection ran since the last call (and zeroes the counters).
** Statements the core caches live as long as the handle, so none is missed on a hot path. */
static long long steps(sloop_db *db) {
  long long n = 0;
  for (sqlite3_stmt *st = sqlite3_next_stmt(db->sql, NULL); st; st = sqlite3_next_stmt(db->sql, st))
    n += sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 1);
  return n;
}

static void note(int i, char *id, size_t idlen, char *doc, size_t doclen) {
  snprintf(id, idlen, "n%05d", i);
  snprintf(doc, doclen, "{\"title\": \"Inspection %d\", \"body\": \"Valve %d checked, pressure nominal\", \"votes\": %d,"
           " \"status\": \"s%d\"}", i, i % 97, i % 7, i % 3);
}

static void put_notes(sloop_db *db, int n) {
  assert_ok(db, sloop_tx_begin(db));
  for (int i = 0; i < n; i++) {
    char id[16], doc[200];
    note(i, id, sizeof(id), doc, sizeof(doc));
    assert_ok(db, sloop_put(db, S(NOTES_COLL), id, strlen(id), doc, strlen(doc)));
  }
  assert_ok(db, sloop_tx_end(db, 1));
}

/* The measured paths: each returns the steps its measured part took for n records. */
typedef long long (*path_fn)(int n);

static long long local_writes(int n) {
  world w;
  world_open(&w, 1, 7, NULL);
  steps(w.clients[0]);
  put_notes(w.clients[0], n);
  long long s = steps(w.clients[0]);
  world_close(&w);
  return s;
}

/* One push of n new notes: the server's apply, then the client's handling of the answer. */
static void push_once(world *w, int n, long long *server_steps, long long *client_steps) {
  sloop_db *c = w->clients[0];
  char *req = NULL, *resp = NULL, ctx[160];
  size_t rl = 0, sl = 0;
  put_notes(c, n);
  assert_ok(c, sloop_push_begin(c, n, &req, &rl));
  world_ctx(w, 0, ctx, sizeof(ctx));
  steps(w->server);
  assert_ok(w->server, sloop_server_push(w->server, req, rl, ctx, strlen(ctx), &resp, &sl));
  *server_steps = steps(w->server);
  steps(c);
  assert_ok(c, sloop_push_end(c, resp, sl));
  *client_steps = steps(c);
  sloop_free(req);
  sloop_free(resp);
}

/* One push of n new notes on a fresh world, all acknowledged: the steps of its client side
** (the answer) or of its server side (the apply). */
static long long push_steps(int n, int client_side) {
  world w;
  world_open(&w, 1, 7, NULL);
  long long server = 0, client = 0;
  push_once(&w, n, &server, &client);
  char *counts = NULL;
  assert_ok(w.clients[0], sloop_state_counts(w.clients[0], &counts, NULL));
  assert_non_null(strstr(counts, "\"pendingOps\":0"));
  sloop_free(counts);
  world_close(&w);
  return client_side ? client : server;
}

static long long server_push(int n) { return push_steps(n, 0); }
static long long push_answer(int n) { return push_steps(n, 1); }

/* A fresh client applying one pull page of n notes another device wrote. */
static long long pull_page(int n) {
  world w;
  world_open(&w, 2, 7, NULL);
  long long server = 0, client = 0;
  push_once(&w, n, &server, &client);
  sloop_db *c = w.clients[1];
  char *req = NULL, *resp = NULL, ctx[160];
  size_t rl = 0, sl = 0;
  int more = 0;
  world_ctx(&w, 1, ctx, sizeof(ctx));
  assert_ok(c, sloop_pull_request(c, n, NULL, 0, &req, &rl));
  assert_ok(w.server, sloop_server_pull(w.server, req, rl, ctx, strlen(ctx), &resp, &sl));
  steps(c);
  assert_ok(c, sloop_pull_apply(c, resp, sl, &more));
  long long s = steps(c);
  char *doc = world_get(c, NOTES_COLL, "n00042");
  assert_non_null(doc); /* the page was applied, not skipped */
  sloop_free(doc);
  sloop_free(req);
  sloop_free(resp);
  world_close(&w);
  return s;
}

static void assert_flat(const char *name, path_fn path) {
  double small = (double)path(SMALL) / SMALL, large = (double)path(LARGE) / LARGE;
  print_message("%s: %.0f steps per record at %d, %.0f at %d\n", name, small, SMALL, large, LARGE);
  assert_true(small > 0);
  if (large > small * SLOPE)
    fail_msg("%s: %.0f steps per record in a batch of %d, %.0f in one of %d: the work per record grows with the batch",
             name, large, LARGE, small, SMALL);
}

static void local_writes_are_flat(void **state) { assert_flat("local writes", local_writes); }
static void server_push_apply_is_flat(void **state) { assert_flat("server push apply", server_push); }
static void push_answer_is_flat(void **state) { assert_flat("push answer", push_answer); }
static void pull_page_is_flat(void **state) { assert_flat("pull page", pull_page); }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(local_writes_are_flat),
      cmocka_unit_test(server_push_apply_is_flat),
      cmocka_unit_test(push_answer_is_flat),
      cmocka_unit_test(pull_page_is_flat),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
