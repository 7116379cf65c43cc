/*
** test_statements.c -- the core's cached statements stay prepared. SQLite prepares a statement
** anew inside sqlite3_step when it expired: after a schema change, or when its plan depended on
** a value bound to it, which then changed. Nothing fails; each run of such a statement just
** pays a parse and a code generation, and only a count tells. So: run the hot paths of a
** client and a server (writes alone and in a transaction, a patch and a delete, push, server
** apply, paged pull, read-ahead of the next pull request, get, indexed query, search, conflict
** resolution), then run them again, and find that no cached statement was prepared again.
*/
#include <stdio.h>

#include "internal.h"
#include "world.h"

#define NOTES "notes"

/* Re-prepares so far of the statements `db` keeps cached. */
static int reprepares(sloop_db *db) {
  int n = 0;
  for (int i = 0; i < db->nstmts; i++)
    n += sqlite3_stmt_status(db->stmts[i].stmt, SQLITE_STMTSTATUS_REPREPARE, 0);
  return n;
}

static void put(sloop_db *c, const char *id, const char *doc) {
  assert_ok(c, sloop_put(c, S(NOTES), id, strlen(id), doc, strlen(doc)));
}

/* Client 1 pulls to the end in pages of 5, reading each next request ahead of the apply. */
static void pull_paged(world *w) {
  sloop_db *c = w->clients[1];
  char ctx[160];
  world_ctx(w, 1, ctx, sizeof(ctx));
  char *req = NULL, *next = NULL;
  size_t rl = 0, nl = 0;
  assert_ok(c, sloop_pull_request(c, 5, NULL, 0, &req, &rl));
  for (int more = 1, guard = 0; more && guard < 100; guard++) {
    char *resp = NULL;
    size_t sl = 0;
    int rc = sloop_server_pull(w->server, req, rl, ctx, strlen(ctx), &resp, &sl);
    if (rc) fail_msg("pull: %s: %s", sloop_errstr(rc), sloop_errmsg(w->server));
    assert_ok(c, sloop_pull_request_next(c, resp, sl, 5, NULL, 0, &next, &nl));
    assert_ok(c, sloop_pull_apply(c, resp, sl, &more));
    sloop_free(resp);
    sloop_free(req);
    sloop_free(next);
    req = next = NULL;
    if (more) assert_ok(c, sloop_pull_request(c, 5, NULL, 0, &req, &rl));
  }
  sloop_free(req);
}

/* Reads: a document, an indexed query, a search. */
static void read_back(sloop_db *c, const char *id) {
  char *out = NULL;
  assert_ok(c, sloop_get(c, S(NOTES), id, strlen(id), &out, NULL));
  sloop_free(out);
  assert_ok(c, sloop_query(c, S(NOTES), S("{\"where\": {\"status\": \"open\"}, \"limit\": 3}"),
                           &out, NULL));
  assert_non_null(strstr(out, "\"id\""));
  sloop_free(out);
  assert_ok(c, sloop_search(c, S(NOTES), S("\"pump\"*"), 4, &out, NULL));
  assert_non_null(strstr(out, "\"id\""));
  sloop_free(out);
}

/* Resolves client i's open conflicts, and syncs; returns how many it resolved. */
static int resolve_open(world *w, int i) {
  sloop_db *c = w->clients[i];
  char *out = NULL;
  int n = 0;
  assert_ok(c, sloop_conflicts(c, 1, &out, NULL));
  for (char *p = strstr(out, "\"id\":"); p; p = strstr(p + 1, "\"id\":"), n++) {
    long long id = strtoll(p + 5, NULL, 10);
    assert_ok(c, sloop_resolve(c, id, S("\"done\"")));
  }
  sloop_free(out);
  world_sync(w, i);
  return n;
}

/* One round of every hot path; `round` keeps its records apart from the other rounds'. */
static void hot_paths(world *w, int round) {
  sloop_db *a = w->clients[0], *b = w->clients[1];
  char id[32], doc[160];
  for (int k = 0; k < 3; k++) { /* single writes, each its own transaction */
    snprintf(id, sizeof(id), "s%d-%d", round, k);
    snprintf(doc, sizeof(doc), "{\"title\": \"pump %d\", \"status\": \"open\", \"votes\": %d}", k,
             k);
    put(a, id, doc);
  }
  assert_ok(a, sloop_tx_begin(a)); /* a transaction of writes */
  for (int k = 0; k < 12; k++) {
    snprintf(id, sizeof(id), "t%d-%d", round, k);
    snprintf(doc, sizeof(doc),
             "{\"title\": \"pump valve %d\", \"body\": \"round %d\", \"status\": \"%s\", \"tags\": "
             "[\"x%d\"]}",
             k, round, k % 2 ? "open" : "closed", k % 3);
    put(a, id, doc);
  }
  assert_ok(a, sloop_tx_end(a, 1));
  snprintf(id, sizeof(id), "t%d-1", round);
  assert_ok(a, sloop_patch(a, S(NOTES), id, strlen(id), S("{\"votes\": 5}")));
  snprintf(id, sizeof(id), "t%d-2", round);
  assert_ok(a, sloop_delete(a, S(NOTES), id, strlen(id)));
  world_sync(w, 0); /* push (server apply) and pull */
  pull_paged(w);
  /* Both edit one manual field: client 1's push conflicts, client 0 resolves it. */
  snprintf(id, sizeof(id), "t%d-3", round);
  assert_ok(a, sloop_patch(a, S(NOTES), id, strlen(id), S("{\"status\": \"a\"}")));
  assert_ok(b, sloop_patch(b, S(NOTES), id, strlen(id), S("{\"status\": \"b\"}")));
  world_sync(w, 0);
  world_sync(w, 1);
  world_sync(w, 0);
  assert_int_equal(resolve_open(w, 0), 1);
  pull_paged(w);
  read_back(a, id);
  read_back(b, id);
}

static void hot_paths_reprepare_no_cached_statement(void **state) {
  world w;
  world_open(&w, 2, 7, NULL);
  sloop_db *dbs[] = {w.server, w.clients[0], w.clients[1]};
  const char *names[] = {"server", "client 0", "client 1"};
  hot_paths(&w, 0); /* prepares them */
  int before[3];
  for (int i = 0; i < 3; i++) before[i] = reprepares(dbs[i]);
  for (int round = 1; round <= 2; round++) hot_paths(&w, round);
  for (int i = 0; i < 3; i++) {
    assert_true(dbs[i]->nstmts > 10); /* the paths ran through the cache */
    if (reprepares(dbs[i]) != before[i])
      fail_msg("%s: %d statement(s) prepared again", names[i], reprepares(dbs[i]) - before[i]);
  }
  world_close(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hot_paths_reprepare_no_cached_statement),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
