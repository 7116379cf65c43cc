/*
** test_fts.c -- the full-text index stays exactly in step with the records: its updates wait
** for the commit (wasm/src/fts.c), so a write that fails, or a transaction rolled back, must
** leave no entry behind, and every committed write must be found.
*/
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

/* A write whose document says "refuse" fails after its record row is written: the latest
** point where a local write can fail (the index update and the sequence wait for the commit). */
static int open_db(void **state) { return open_refusing_db(state, NULL); }

static int close_db(void **state) { return sloop_close(*state); }

/* The ids a search finds, as JSON text. */
static char *found(sloop_db *db, const char *query) {
  char *hits = NULL;
  assert_ok(db, sloop_search(db, S("notes"), S(query), 100, &hits, NULL));
  return hits;
}

static void assert_found(sloop_db *db, const char *query, const char *expected) {
  char *hits = found(db, query);
  assert_string_equal(hits, expected);
  sloop_free(hits);
}

/* The rows of raw SQL, as the JSON sloop_sql prints (an array of arrays). */
static void assert_sql(sloop_db *db, const char *sql, const char *expected) {
  char *out = NULL;
  assert_ok(db, sloop_sql(db, S(sql), &out, NULL));
  assert_string_equal(out, expected);
  sloop_free(out);
}

/* FTS5's own check that its index matches its content, and one FTS row per searchable doc. */
static void assert_index_whole(sloop_db *db) {
  char *out = NULL;
  assert_ok(db, sloop_sql(db, S("INSERT INTO records_fts(records_fts) VALUES('integrity-check')"), &out, NULL));
  sloop_free(out);
  assert_sql(db,
             "SELECT (SELECT count(*) FROM records_fts) = (SELECT count(*) FROM records WHERE doc IS NOT NULL)",
             "[[1]]");
}

/* A write that fails after its row was written inside a transaction rolls the whole
** transaction back (wasm/src/savepoint.c): none of its writes reaches the index. */
static void failing_write_in_transaction_leaves_search_unchanged(void **state) {
  sloop_db *db = *state;
  assert_ok(db, sloop_put(db, S("notes"), S("a"), S("{\"t\": \"alpha\"}")));
  assert_ok(db, sloop_tx_begin(db));
  assert_ok(db, sloop_put(db, S("notes"), S("b"), S("{\"t\": \"beta\"}")));
  /* Inside the transaction a search already sees its successful writes. */
  assert_found(db, "beta", "[{\"id\":\"b\",\"doc\":{\"t\":\"beta\"}}]");
  assert_int_equal(sloop_put(db, S("notes"), S("a"), S("{\"t\": \"delta refuse\"}")), SLOOP_STORAGE);
  assert_int_equal(sloop_tx_end(db, 1), SLOOP_STORAGE);
  assert_found(db, "beta", "[]");
  assert_found(db, "delta", "[]");
  assert_found(db, "refuse", "[]");
  assert_found(db, "alpha", "[{\"id\":\"a\",\"doc\":{\"t\":\"alpha\"}}]");
  assert_index_whole(db);
  /* A new record failing the same way, in the next transaction. */
  assert_ok(db, sloop_tx_begin(db));
  assert_ok(db, sloop_put(db, S("notes"), S("d"), S("{\"t\": \"epsilon\"}")));
  assert_int_equal(sloop_put(db, S("notes"), S("c"), S("{\"t\": \"gamma refuse\"}")), SLOOP_STORAGE);
  assert_int_equal(sloop_tx_end(db, 1), SLOOP_STORAGE);
  assert_found(db, "gamma", "[]");
  assert_found(db, "epsilon", "[]");
  /* And one that commits. */
  assert_ok(db, sloop_tx_begin(db));
  assert_ok(db, sloop_put(db, S("notes"), S("e"), S("{\"t\": \"zeta\"}")));
  assert_ok(db, sloop_tx_end(db, 1));
  assert_found(db, "zeta", "[{\"id\":\"e\",\"doc\":{\"t\":\"zeta\"}}]");
  assert_index_whole(db);
}

static void failing_write_alone_leaves_search_unchanged(void **state) {
  sloop_db *db = *state;
  assert_ok(db, sloop_put(db, S("notes"), S("a"), S("{\"t\": \"alpha\"}")));
  assert_int_equal(sloop_put(db, S("notes"), S("a"), S("{\"t\": \"delta refuse\"}")), SLOOP_STORAGE);
  assert_int_equal(sloop_put(db, S("notes"), S("c"), S("{\"t\": \"gamma refuse\"}")), SLOOP_STORAGE);
  assert_found(db, "refuse", "[]");
  assert_found(db, "alpha", "[{\"id\":\"a\",\"doc\":{\"t\":\"alpha\"}}]");
  assert_index_whole(db);
}

static void rolled_back_transaction_leaves_no_entry(void **state) {
  sloop_db *db = *state;
  assert_ok(db, sloop_put(db, S("notes"), S("a"), S("{\"t\": \"alpha\"}")));
  assert_ok(db, sloop_tx_begin(db));
  assert_ok(db, sloop_put(db, S("notes"), S("x"), S("{\"t\": \"omega\"}")));
  assert_ok(db, sloop_put(db, S("notes"), S("a"), S("{\"t\": \"sigma\"}")));
  assert_ok(db, sloop_delete(db, S("notes"), S("a")));
  assert_ok(db, sloop_tx_end(db, 0));
  assert_found(db, "omega", "[]");
  assert_found(db, "sigma", "[]");
  assert_found(db, "alpha", "[{\"id\":\"a\",\"doc\":{\"t\":\"alpha\"}}]");
  assert_sql(db, "SELECT count(*) AS n FROM records_fts", "[[1]]");
  /* Nothing of the rolled-back writes waits to reach the index with the next commit. */
  assert_ok(db, sloop_put(db, S("notes"), S("y"), S("{\"t\": \"kappa\"}")));
  assert_found(db, "omega", "[]");
  assert_sql(db, "SELECT count(*) AS n FROM records_fts", "[[2]]");
  assert_index_whole(db);
}

static void search_finds_each_committed_write(void **state) {
  sloop_db *db = *state;
  char id[16], doc[64], word[16];
  assert_ok(db, sloop_tx_begin(db));
  for (int i = 0; i < 50; i++) {
    snprintf(id, sizeof(id), "n%d", i);
    snprintf(doc, sizeof(doc), "{\"t\": \"first w%dx\"}", i);
    assert_ok(db, sloop_put(db, S("notes"), S(id), S(doc)));
  }
  /* Rewritten and deleted in the same transaction that created them. */
  for (int i = 0; i < 50; i += 2) {
    snprintf(id, sizeof(id), "n%d", i);
    snprintf(doc, sizeof(doc), "{\"t\": \"second w%dx\"}", i);
    assert_ok(db, sloop_put(db, S("notes"), S(id), S(doc)));
  }
  assert_ok(db, sloop_delete(db, S("notes"), S("n49")));
  assert_ok(db, sloop_tx_end(db, 1));
  for (int i = 0; i < 49; i++) {
    snprintf(word, sizeof(word), "w%dx", i);
    char *hits = found(db, word);
    snprintf(doc, sizeof(doc), "\"id\":\"n%d\"", i);
    assert_non_null(strstr(hits, doc));
    assert_non_null(strstr(hits, i % 2 ? "first" : "second"));
    sloop_free(hits);
  }
  assert_found(db, "w49x", "[]");
  char *hits = found(db, "first");
  int n = 0;
  for (const char *p = hits; (p = strstr(p, "\"id\"")); p++) n++;
  assert_int_equal(n, 24);
  sloop_free(hits);
  /* One by one, outside a transaction, each write is found at once. */
  assert_ok(db, sloop_put(db, S("notes"), S("n1"), S("{\"t\": \"third\"}")));
  assert_found(db, "third", "[{\"id\":\"n1\",\"doc\":{\"t\":\"third\"}}]");
  assert_found(db, "w1x", "[]");
  assert_index_whole(db);
}

/* Small transactions leave their index updates in fts_pending (fts.c); a search puts them in
** first, so it still sees every write. */
static void small_writes_wait_and_search_sees_them(void **state) {
  sloop_db *db = *state;
  assert_ok(db, sloop_put(db, S("notes"), S("a"), S("{\"t\": \"alpha\"}")));
  assert_ok(db, sloop_put(db, S("notes"), S("b"), S("{\"t\": \"beta\"}")));
  assert_sql(db, "SELECT (SELECT count(*) FROM records_fts), (SELECT count(*) FROM fts_pending)", "[[0,2]]");
  assert_found(db, "beta", "[{\"id\":\"b\",\"doc\":{\"t\":\"beta\"}}]");
  assert_sql(db, "SELECT (SELECT count(*) FROM records_fts), (SELECT count(*) FROM fts_pending)", "[[2,0]]");
  /* A row indexed already, then rewritten twice and another written and deleted while
  ** pending: the old words go, the last text stays, the deleted one leaves nothing. */
  assert_ok(db, sloop_put(db, S("notes"), S("a"), S("{\"t\": \"gamma\"}")));
  assert_ok(db, sloop_put(db, S("notes"), S("a"), S("{\"t\": \"delta\"}")));
  assert_ok(db, sloop_put(db, S("notes"), S("c"), S("{\"t\": \"kappa\"}")));
  assert_ok(db, sloop_delete(db, S("notes"), S("c")));
  assert_ok(db, sloop_delete(db, S("notes"), S("b")));
  assert_sql(db, "SELECT rid, indexed FROM fts_pending ORDER BY rid", "[[1,1],[2,1],[3,1]]");
  assert_found(db, "alpha", "[]");
  assert_found(db, "gamma", "[]");
  assert_found(db, "kappa", "[]");
  assert_found(db, "beta", "[]");
  assert_found(db, "delta", "[{\"id\":\"a\",\"doc\":{\"t\":\"delta\"}}]");
  assert_index_whole(db);
}

/* Once enough updates wait, the next commit puts them all in: fts_pending stays small. */
static void enough_small_writes_go_in_together(void **state) {
  sloop_db *db = *state;
  char id[16], doc[64];
  for (int i = 0; i < 70; i++) {
    snprintf(id, sizeof(id), "n%d", i);
    snprintf(doc, sizeof(doc), "{\"t\": \"w%dx\"}", i);
    assert_ok(db, sloop_put(db, S("notes"), S(id), S(doc)));
  }
  assert_sql(db, "SELECT (SELECT count(*) FROM records_fts), (SELECT count(*) FROM fts_pending)", "[[64,6]]");
  /* A large transaction goes in at its commit, the pending ones with it. */
  assert_ok(db, sloop_tx_begin(db));
  for (int i = 70; i < 140; i++) {
    snprintf(id, sizeof(id), "n%d", i);
    snprintf(doc, sizeof(doc), "{\"t\": \"w%dx\"}", i);
    assert_ok(db, sloop_put(db, S("notes"), S(id), S(doc)));
  }
  assert_ok(db, sloop_tx_end(db, 1));
  assert_sql(db, "SELECT (SELECT count(*) FROM records_fts), (SELECT count(*) FROM fts_pending)", "[[140,0]]");
  assert_found(db, "w69x", "[{\"id\":\"n69\",\"doc\":{\"t\":\"w69x\"}}]");
  assert_index_whole(db);
}

/* Names a new empty file for a database (path: a buffer of "/tmp/sloop-fts-XXXXXX"). */
static void temp_file(char *path) {
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
}

/* Opens the client database in the file at `path`. */
static sloop_db *open_file(const char *path) {
  sloop_db *db = NULL;
  assert_int_equal(sloop_open(path, NULL, SLOOP_ROLE_CLIENT, NULL, &db), SLOOP_OK);
  return db;
}

/* The pending updates are in the database: a reopened one (after a crash, say) finds them. */
static void pending_updates_survive_a_reopen(void **state) {
  (void)state;
  char path[] = "/tmp/sloop-fts-XXXXXX";
  temp_file(path);
  sloop_db *db = open_file(path);
  assert_ok(db, sloop_put(db, S("notes"), S("a"), S("{\"t\": \"alpha\"}")));
  assert_ok(db, sloop_close(db));
  db = open_file(path);
  assert_sql(db, "SELECT count(*) FROM fts_pending", "[[1]]");
  assert_found(db, "alpha", "[{\"id\":\"a\",\"doc\":{\"t\":\"alpha\"}}]");
  assert_index_whole(db);
  assert_ok(db, sloop_close(db));
  unlink(path);
}

/* The merge settings fts.c gives the index (FTS_AUTOMERGE, FTS_CRISISMERGE), as stored. */
static const char kTuned[] = "[[\"automerge\",16],[\"crisismerge\",64]]";
static const char kTunedSql[] = "SELECT k, v FROM records_fts_config WHERE k IN ('automerge', 'crisismerge') ORDER BY k";

/* Commits of 64 records each (enough to go into the index at once): a segment each. Twenty
** commits leave twenty segments: merging starts at sixteen, a step with each later write
** (with FTS5's defaults the sixteenth commit merged them all at once: five segments left).
** Every record is found. */
static void the_index_merges_sixteen_segments_at_a_time(void **state) {
  sloop_db *db = *state;
  assert_sql(db, kTunedSql, kTuned);
  for (int c = 0; c < 20; c++) {
    assert_ok(db, sloop_tx_begin(db));
    for (int i = 0; i < 64; i++) {
      char id[16], doc[64];
      snprintf(id, sizeof(id), "n%d", c * 64 + i);
      snprintf(doc, sizeof(doc), "{\"t\": \"word%d common\"}", c * 64 + i);
      assert_ok(db, sloop_put(db, S("notes"), id, strlen(id), doc, strlen(doc)));
    }
    assert_ok(db, sloop_tx_end(db, 1));
  }
  /* A segment's rows have ids (segment << 37) + page; the structure and averages rows, 0. */
  assert_sql(db, "SELECT count(DISTINCT id >> 37) FROM records_fts_data WHERE id >> 37 > 0", "[[20]]");
  assert_found(db, "word0", "[{\"id\":\"n0\",\"doc\":{\"t\":\"word0 common\"}}]");
  assert_found(db, "word1279", "[{\"id\":\"n1279\",\"doc\":{\"t\":\"word1279 common\"}}]");
  char *hits = found(db, "common");
  int n = 0;
  for (const char *p = hits; (p = strstr(p, "\"id\"")); p++) n++;
  assert_int_equal(n, 100); /* the search's limit, of 1,280 */
  sloop_free(hits);
  assert_index_whole(db);
}

/* A database whose index has the default settings (one written before fts.c set them) gets
** them at its next open, and keeps them. */
static void an_older_index_gets_the_settings_at_open(void **state) {
  (void)state;
  char path[] = "/tmp/sloop-fts-XXXXXX";
  temp_file(path);
  sloop_db *db = open_file(path);
  char *out = NULL;
  assert_ok(db, sloop_sql(db, S("DELETE FROM records_fts_config WHERE k IN ('automerge', 'crisismerge')"), &out, NULL));
  sloop_free(out);
  assert_sql(db, kTunedSql, "[]");
  assert_ok(db, sloop_close(db));
  for (int open = 0; open < 2; open++) {
    db = open_file(path);
    assert_sql(db, kTunedSql, kTuned);
    assert_ok(db, sloop_close(db));
  }
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(failing_write_in_transaction_leaves_search_unchanged, open_db, close_db),
      cmocka_unit_test_setup_teardown(failing_write_alone_leaves_search_unchanged, open_db, close_db),
      cmocka_unit_test_setup_teardown(rolled_back_transaction_leaves_no_entry, open_db, close_db),
      cmocka_unit_test_setup_teardown(search_finds_each_committed_write, open_db, close_db),
      cmocka_unit_test_setup_teardown(small_writes_wait_and_search_sees_them, open_db, close_db),
      cmocka_unit_test_setup_teardown(enough_small_writes_go_in_together, open_db, close_db),
      cmocka_unit_test(pending_updates_survive_a_reopen),
      cmocka_unit_test_setup_teardown(the_index_merges_sixteen_segments_at_a_time, open_db, close_db),
      cmocka_unit_test(an_older_index_gets_the_settings_at_open),
  };
  return cmocka_run_group_tests_name("fts", tests, NULL, NULL);
}
