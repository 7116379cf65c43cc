/*
** test_fts_behind.c -- the search index behind a large pull (wasm/src/fts_behind.c): a page of
** FTS_BEHIND_MIN changes or more leaves its records' index entries to the catch-up, and
** whatever happens to those records meanwhile (local writes, deletes, more pulls, a reused
** rowid), a search and the catch-up in slices find exactly what the records hold.
*/
#include <stdio.h>

#include "internal.h" /* FTS_BEHIND_MIN */
#include "world.h"

/* Client 0 writes notes r0..r(n-1), note k titled "w<k>x", and pushes them. */
static void seed(world *w, int n) {
  sloop_db *c = w->clients[0];
  assert_ok(c, sloop_tx_begin(c));
  for (int k = 0; k < n; k++) {
    char id[16], doc[64];
    snprintf(id, sizeof(id), "r%d", k);
    snprintf(doc, sizeof(doc), "{\"title\": \"w%dx\", \"body\": \"common\"}", k);
    assert_ok(c, sloop_put(c, S("notes"), id, strlen(id), doc, strlen(doc)));
  }
  assert_ok(c, sloop_tx_end(c, 1));
  world_sync(w, 0);
}

/* Client i pulls in pages of `limit` until the server has nothing more. */
static void pull_pages(world *w, int i, int limit) {
  sloop_db *c = w->clients[i];
  char ctx[160];
  world_ctx(w, i, ctx, sizeof(ctx));
  for (int more = 1; more;) {
    char *req = NULL, *resp = NULL;
    size_t rl = 0, sl = 0;
    assert_ok(c, sloop_pull_request(c, limit, NULL, 0, &req, &rl));
    assert_ok(w->server, sloop_server_pull(w->server, req, rl, ctx, strlen(ctx), &resp, &sl));
    assert_ok(c, sloop_pull_apply(c, resp, sl, &more));
    sloop_free(req);
    sloop_free(resp);
  }
}

static void assert_sql(sloop_db *db, const char *sql, const char *expected) {
  char *out = NULL;
  assert_ok(db, sloop_sql(db, sql, strlen(sql), &out, NULL));
  assert_string_equal(out, expected);
  sloop_free(out);
}

/* The index entries and the frontier: [[entries, frontier or null]]. */
static void assert_index(sloop_db *db, const char *expected) {
  assert_sql(db, "SELECT (SELECT count(*) FROM records_fts), (SELECT v FROM meta WHERE k = 'fts_after')", expected);
}

/* How many notes a search for `word` finds. */
static int hits(sloop_db *db, const char *word) {
  char *out = NULL;
  assert_ok(db, sloop_search(db, S("notes"), word, strlen(word), 500, &out, NULL));
  int n = 0;
  for (const char *p = out; (p = strstr(p, "\"id\"")); p++) n++;
  sloop_free(out);
  return n;
}

/* Every record with a document has exactly its entry: FTS5's own check, one entry per
** document, and each note found by its title word (none by a word it no longer holds). */
static void assert_index_exact(sloop_db *db) {
  char *out = NULL;
  assert_ok(db, sloop_sql(db, S("INSERT INTO records_fts(records_fts) VALUES('integrity-check')"), &out, NULL));
  sloop_free(out);
  assert_sql(db, "SELECT (SELECT count(*) FROM records_fts) = (SELECT count(*) FROM records WHERE doc IS NOT NULL)", "[[1]]");
}

static void a_large_pull_leaves_the_index_behind_and_a_search_catches_up(void **unused) {
  (void)unused;
  world w;
  world_open(&w, 2, 21, NULL);
  seed(&w, 150);
  sloop_db *c = w.clients[1];
  /* A note of its own first: indexed (through fts_pending), below the frontier. */
  assert_ok(c, sloop_put(c, S("notes"), S("own"), S("{\"title\": \"mine\"}")));
  pull_pages(&w, 1, 100);
  assert_sql(c, "SELECT count(*) FROM records", "[[151]]");
  /* The pages of 100 and 50 left their 150 records behind rowid 1. */
  assert_index(c, "[[0,\"1\"]]");
  assert_int_equal(hits(c, "w7x"), 1);
  assert_index(c, "[[151,null]]");
  assert_int_equal(hits(c, "common"), 150);
  assert_int_equal(hits(c, "mine"), 1);
  assert_index_exact(c);
  world_close(&w);
}

static void small_pages_index_as_they_go(void **unused) {
  (void)unused;
  world w;
  world_open(&w, 2, 22, NULL);
  seed(&w, 150);
  pull_pages(&w, 1, FTS_BEHIND_MIN - 1);
  /* No frontier: some entries went in, the rest wait in fts_pending for the search (fts.c). */
  assert_sql(w.clients[1], "SELECT (SELECT count(*) FROM records_fts) > 0, (SELECT v FROM meta WHERE k = 'fts_after')", "[[1,null]]");
  assert_int_equal(hits(w.clients[1], "common"), 150);
  assert_index_exact(w.clients[1]);
  world_close(&w);
}

/* A world of `seed` where client 1 pulled client 0's n notes in one page: all behind. */
static sloop_db *behind_by(world *w, uint64_t seed_no, int n) {
  world_open(w, 2, seed_no, NULL);
  seed(w, n);
  pull_pages(w, 1, 1000);
  assert_index(w->clients[1], "[[0,\"0\"]]");
  return w->clients[1];
}

static void the_catch_up_goes_a_slice_at_a_time(void **unused) {
  (void)unused;
  world w;
  sloop_db *c = behind_by(&w, 23, 130);
  int more = 0;
  assert_ok(c, sloop_search_catch_up(c, 50, &more));
  assert_true(more);
  assert_index(c, "[[50,\"50\"]]");
  assert_ok(c, sloop_search_catch_up(c, 50, &more));
  assert_true(more);
  assert_index(c, "[[100,\"100\"]]");
  assert_ok(c, sloop_search_catch_up(c, 50, &more));
  assert_false(more);
  assert_index(c, "[[130,null]]");
  /* Nothing behind: the catch-up has nothing to do. */
  assert_ok(c, sloop_search_catch_up(c, 50, &more));
  assert_false(more);
  assert_int_equal(hits(c, "w129x"), 1);
  assert_index_exact(c);
  /* A server has no search index to catch up. */
  assert_int_equal(sloop_search_catch_up(w.server, 50, &more), SLOOP_INVALID);
  world_close(&w);
}

/* Records behind the frontier written locally, deleted, and changed by a later pull (a small
** page, which indexes as it goes below the frontier): the catch-up indexes what they hold
** then, and nothing they held before. */
static void writes_behind_the_frontier_are_indexed_as_they_are_then(void **unused) {
  (void)unused;
  world w;
  sloop_db *c = behind_by(&w, 24, 100);
  int more = 0;
  assert_ok(c, sloop_search_catch_up(c, 10, &more)); /* r0..r9 indexed, the frontier at 10 */
  assert_ok(c, sloop_patch(c, S("notes"), S("r5"), S("{\"title\": \"changed5\"}")));  /* below */
  assert_ok(c, sloop_patch(c, S("notes"), S("r50"), S("{\"title\": \"changed50\"}"))); /* above */
  assert_ok(c, sloop_delete(c, S("notes"), S("r6")));
  assert_ok(c, sloop_delete(c, S("notes"), S("r60")));
  assert_ok(w.clients[0], sloop_patch(w.clients[0], S("notes"), S("r70"), S("{\"title\": \"server70\"}")));
  world_sync(&w, 0);
  world_sync(&w, 1);
  assert_sql(c, "SELECT v FROM meta WHERE k = 'fts_after'", "[[\"10\"]]");
  assert_int_equal(hits(c, "w5x"), 0);
  assert_int_equal(hits(c, "changed5"), 1);
  assert_int_equal(hits(c, "w50x"), 0);
  assert_int_equal(hits(c, "changed50"), 1);
  assert_int_equal(hits(c, "w6x"), 0);
  assert_int_equal(hits(c, "w60x"), 0);
  assert_int_equal(hits(c, "w70x"), 0);
  assert_int_equal(hits(c, "server70"), 1);
  assert_int_equal(hits(c, "common"), 98);
  assert_index_exact(c);
  world_close(&w);
}

/* The records above the frontier all deleted, a new one takes a rowid at or below it: it is
** indexed as it is written, and the catch-up that follows leaves it so. */
static void a_rowid_reused_below_the_frontier_is_indexed_at_once(void **unused) {
  (void)unused;
  world w;
  world_open(&w, 2, 25, NULL);
  seed(&w, 70);
  sloop_db *c = w.clients[1];
  assert_ok(c, sloop_put(c, S("notes"), S("a"), S("{\"title\": \"alpha\"}")));
  assert_ok(c, sloop_put(c, S("notes"), S("b"), S("{\"title\": \"beta\"}")));
  pull_pages(&w, 1, 1000);
  assert_sql(c, "SELECT v FROM meta WHERE k = 'fts_after'", "[[\"2\"]]");
  assert_ok(c, sloop_tx_begin(c));
  for (int k = 0; k < 70; k++) {
    char id[16];
    snprintf(id, sizeof(id), "r%d", k);
    assert_ok(c, sloop_delete(c, S("notes"), id, strlen(id)));
  }
  assert_ok(c, sloop_delete(c, S("notes"), S("b")));
  assert_ok(c, sloop_tx_end(c, 1));
  world_sync(&w, 1); /* the deletes acknowledged: their rows go */
  assert_sql(c, "SELECT max(r) FROM records", "[[1]]");
  assert_ok(c, sloop_put(c, S("notes"), S("n"), S("{\"title\": \"nu\"}")));
  assert_sql(c, "SELECT r FROM records WHERE id = 'n'", "[[2]]");
  /* Pending: a's entry from before the pull, and n's, which took b's row. */
  assert_sql(c, "SELECT (SELECT v FROM meta WHERE k = 'fts_after'), (SELECT group_concat(rid) FROM fts_pending)", "[[\"2\",\"1,2\"]]");
  assert_int_equal(hits(c, "nu"), 1);
  assert_int_equal(hits(c, "beta"), 0);
  assert_int_equal(hits(c, "alpha"), 1);
  assert_index(c, "[[2,null]]");
  assert_index_exact(c);
  world_close(&w);
}

/* A deleted row's removal from the index still waits in fts_pending when a large pull comes:
** the frontier goes above that rowid too, so the new row that takes it is indexed as usual and
** the removal, applied first, cannot take its entry out. */
static void the_frontier_clears_the_removals_that_wait(void **unused) {
  (void)unused;
  world w;
  world_open(&w, 2, 26, NULL);
  sloop_db *c = w.clients[1];
  assert_ok(c, sloop_put(c, S("notes"), S("a"), S("{\"title\": \"alpha\"}")));
  assert_ok(c, sloop_put(c, S("notes"), S("b"), S("{\"title\": \"beta\"}")));
  assert_int_equal(hits(c, "beta"), 1);
  assert_ok(c, sloop_delete(c, S("notes"), S("b")));
  world_sync(&w, 1); /* acknowledged: the row goes, its entry's removal waits */
  assert_sql(c, "SELECT (SELECT max(r) FROM records), (SELECT group_concat(rid) FROM fts_pending)", "[[1,\"2\"]]");
  seed(&w, 70);
  pull_pages(&w, 1, 1000);
  assert_sql(c, "SELECT (SELECT r FROM records WHERE id = 'r0'), (SELECT v FROM meta WHERE k = 'fts_after')", "[[2,\"2\"]]");
  assert_int_equal(hits(c, "common"), 70);
  assert_int_equal(hits(c, "w0x"), 1);
  assert_int_equal(hits(c, "beta"), 0);
  assert_index_exact(c);
  world_close(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_large_pull_leaves_the_index_behind_and_a_search_catches_up),
      cmocka_unit_test(small_pages_index_as_they_go),
      cmocka_unit_test(the_catch_up_goes_a_slice_at_a_time),
      cmocka_unit_test(writes_behind_the_frontier_are_indexed_as_they_are_then),
      cmocka_unit_test(a_rowid_reused_below_the_frontier_is_indexed_at_once),
      cmocka_unit_test(the_frontier_clears_the_removals_that_wait),
  };
  return cmocka_run_group_tests_name("fts_behind", tests, NULL, NULL);
}
