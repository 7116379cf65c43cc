/*
** test_savepoint.c -- the scope a local write runs in (wasm/src/savepoint.c). Inside an open
** transaction a write has no savepoint of its own: a refused write must have written nothing
** (the transaction goes on, with no operation id or clock tick spent), and a write that fails
** after it began writing must roll the whole transaction back, visibly, and keep it from
** committing anything. Outside a transaction, and inside putMany's savepoint, a failure
** undoes only what it must.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* A write whose document says "refuse" fails after its operation and its record row are
** written. One that says "at commit" fails when the commit stores the operation sequence and
** the clock (sloop_meta_flush), after every write of the transaction. */
static int open_db(void **state) {
  return open_refusing_db(state,
                          "CREATE TEMP TRIGGER refuse_commit BEFORE INSERT ON meta"
                          " WHEN new.k = 'op_seq' AND EXISTS (SELECT 1 FROM records WHERE doc LIKE '%at commit%')"
                          " BEGIN SELECT RAISE(ABORT, 'refused at commit'); END");
}

static int close_db(void **state) { return sloop_close(*state); }

static void assert_sql(sloop_db *db, const char *sql, const char *expected) {
  char *out = NULL;
  assert_ok(db, sloop_sql(db, S(sql), &out, NULL));
  assert_string_equal(out, expected);
  sloop_free(out);
}

/* What the database holds: record ids, and operation sequence numbers as their ids end. */
static void assert_records(sloop_db *db, const char *ids) {
  assert_sql(db, "SELECT group_concat(id, ',') FROM (SELECT id FROM records ORDER BY id)", ids);
}

/* The operations' ids are consecutive from 1 and the persisted clock and sequence are the last
** operation's: nothing a failed write took is left behind. */
static void assert_log_consecutive(sloop_db *db, int n) {
  char expected[64];
  snprintf(expected, sizeof(expected), "[[%d,%d,1,1]]", n, n);
  assert_sql(db,
             "SELECT count(*), max(CAST(substr(id, instr(id, ':') + 1) AS INTEGER)),"
             " (SELECT CAST(v AS INTEGER) FROM meta WHERE k = 'op_seq') = max(CAST(substr(id, instr(id, ':') + 1) AS INTEGER)),"
             " (SELECT v FROM meta WHERE k = 'hlc') = (SELECT hlc FROM oplog ORDER BY seq DESC LIMIT 1)"
             " FROM oplog",
             expected);
}

static void refused_writes_in_a_transaction_change_nothing(void **state) {
  sloop_db *db = *state;
  assert_ok(db, sloop_put(db, S("notes"), S("a"), S("{\"t\": \"alpha\"}")));
  assert_ok(db, sloop_tx_begin(db));
  assert_ok(db, sloop_put(db, S("notes"), S("b"), S("{\"t\": \"beta\"}")));
  /* Refused by the merge (no such record), by validation, and by the JSON parser. */
  assert_int_equal(sloop_patch(db, S("notes"), S("nobody"), S("{\"t\": \"x\"}")), SLOOP_NOTFOUND);
  assert_int_equal(sloop_put(db, S("notes"), S("c"), S("{\"$bad name\": 1}")), SLOOP_INVALID);
  assert_int_equal(sloop_put(db, S("notes"), S("c"), S("{")), SLOOP_JSON);
  assert_ok(db, sloop_put(db, S("notes"), S("d"), S("{\"t\": \"delta\"}")));
  assert_ok(db, sloop_tx_end(db, 1));
  assert_records(db, "[[\"a,b,d\"]]");
  assert_log_consecutive(db, 3);
  const char *last = sloop_last_op(db);
  assert_string_equal(last + strlen(last) - 2, ":3");
}

static void failing_write_dooms_the_transaction(void **state) {
  sloop_db *db = *state;
  assert_ok(db, sloop_put(db, S("notes"), S("a"), S("{\"t\": \"alpha\"}")));
  assert_ok(db, sloop_tx_begin(db));
  assert_ok(db, sloop_put(db, S("notes"), S("b"), S("{\"t\": \"beta\"}")));
  assert_int_equal(sloop_put(db, S("notes"), S("c"), S("{\"t\": \"refuse\"}")), SLOOP_STORAGE);
  assert_non_null(strstr(sloop_errmsg(db), "whole transaction was rolled back"));
  /* Nothing more goes in until the caller ends it, and the commit says it kept nothing. */
  assert_int_equal(sloop_put(db, S("notes"), S("d"), S("{\"t\": \"delta\"}")), SLOOP_STORAGE);
  assert_int_equal(sloop_delete(db, S("notes"), S("a")), SLOOP_STORAGE);
  assert_int_equal(sloop_tx_begin(db), SLOOP_BUSY);
  assert_int_equal(sloop_tx_end(db, 1), SLOOP_STORAGE);
  assert_records(db, "[[\"a\"]]");
  /* Ended: writes go in again, one by one and in a transaction. */
  assert_ok(db, sloop_put(db, S("notes"), S("e"), S("{\"t\": \"epsilon\"}")));
  assert_ok(db, sloop_tx_begin(db));
  assert_ok(db, sloop_put(db, S("notes"), S("f"), S("{\"t\": \"phi\"}")));
  assert_ok(db, sloop_tx_end(db, 1));
  assert_records(db, "[[\"a,e,f\"]]");
}

static void doomed_transaction_may_be_rolled_back(void **state) {
  sloop_db *db = *state;
  assert_ok(db, sloop_tx_begin(db));
  assert_ok(db, sloop_put(db, S("notes"), S("b"), S("{\"t\": \"beta\"}")));
  assert_int_equal(sloop_put(db, S("notes"), S("c"), S("{\"t\": \"refuse\"}")), SLOOP_STORAGE);
  assert_ok(db, sloop_tx_end(db, 0));
  assert_records(db, "[[null]]");
  assert_ok(db, sloop_put(db, S("notes"), S("d"), S("{\"t\": \"delta\"}")));
  assert_records(db, "[[\"d\"]]");
}

/* Rows for sloop_put_many: each a little-endian u32 length and the bytes, id then document. */
static size_t frames(uint8_t *buf, const char *const *texts, int n) {
  size_t at = 0;
  for (int i = 0; i < n; i++) {
    uint32_t len = (uint32_t)strlen(texts[i]);
    for (int b = 0; b < 4; b++) buf[at++] = (uint8_t)(len >> (8 * b));
    memcpy(buf + at, texts[i], len);
    at += len;
  }
  return at;
}

static void failing_put_many_in_a_transaction_undoes_only_itself(void **state) {
  sloop_db *db = *state;
  assert_ok(db, sloop_tx_begin(db));
  assert_ok(db, sloop_put(db, S("notes"), S("a"), S("{\"t\": \"alpha\"}")));
  const char *const rows[] = {"b", "{\"t\": \"beta\"}", "c", "{\"t\": \"refuse\"}"};
  uint8_t buf[256];
  size_t len = frames(buf, rows, 4);
  assert_int_equal(sloop_put_many(db, S("notes"), buf, len, 2), SLOOP_STORAGE);
  assert_ok(db, sloop_put(db, S("notes"), S("d"), S("{\"t\": \"delta\"}")));
  assert_ok(db, sloop_tx_end(db, 1));
  assert_records(db, "[[\"a,d\"]]");
  assert_log_consecutive(db, 2);
}

/* The sequence and the clock are stored once, at the commit: a commit that cannot store them
** keeps nothing, and the ids and the clock it took are given back. */
static void failing_commit_keeps_nothing(void **state) {
  sloop_db *db = *state;
  assert_ok(db, sloop_put(db, S("notes"), S("a"), S("{\"t\": \"alpha\"}")));
  assert_ok(db, sloop_tx_begin(db));
  assert_ok(db, sloop_put(db, S("notes"), S("b"), S("{\"t\": \"at commit\"}")));
  assert_ok(db, sloop_put(db, S("notes"), S("c"), S("{\"t\": \"gamma\"}")));
  assert_int_equal(sloop_tx_end(db, 1), SLOOP_STORAGE);
  assert_records(db, "[[\"a\"]]");
  assert_int_equal(sloop_put(db, S("notes"), S("d"), S("{\"t\": \"at commit\"}")), SLOOP_STORAGE);
  assert_records(db, "[[\"a\"]]");
  assert_ok(db, sloop_put(db, S("notes"), S("e"), S("{\"t\": \"epsilon\"}")));
  assert_records(db, "[[\"a,e\"]]");
  /* Ids 2 and 3 were spent on the rolled-back transaction; the lone failure gave its id back. */
  const char *last = sloop_last_op(db);
  assert_string_equal(last + strlen(last) - 2, ":4");
}

/* Raw SQL may commit a transaction the core wrote in: the sequence and the clock are stored
** before its statements run, so they are never behind the log. */
static void raw_sql_commit_stores_the_sequence(void **state) {
  sloop_db *db = *state;
  char *out = NULL;
  assert_ok(db, sloop_sql(db, S("BEGIN"), &out, NULL));
  sloop_free(out);
  assert_ok(db, sloop_put(db, S("notes"), S("a"), S("{\"t\": \"alpha\"}")));
  assert_ok(db, sloop_put(db, S("notes"), S("b"), S("{\"t\": \"beta\"}")));
  assert_ok(db, sloop_sql(db, S("COMMIT"), &out, NULL));
  sloop_free(out);
  assert_log_consecutive(db, 2);
}

static void failing_write_alone_changes_nothing(void **state) {
  sloop_db *db = *state;
  assert_ok(db, sloop_put(db, S("notes"), S("a"), S("{\"t\": \"alpha\"}")));
  assert_int_equal(sloop_put(db, S("notes"), S("c"), S("{\"t\": \"refuse\"}")), SLOOP_STORAGE);
  assert_ok(db, sloop_put(db, S("notes"), S("d"), S("{\"t\": \"delta\"}")));
  assert_records(db, "[[\"a,d\"]]");
  assert_log_consecutive(db, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(refused_writes_in_a_transaction_change_nothing, open_db, close_db),
      cmocka_unit_test_setup_teardown(failing_write_dooms_the_transaction, open_db, close_db),
      cmocka_unit_test_setup_teardown(doomed_transaction_may_be_rolled_back, open_db, close_db),
      cmocka_unit_test_setup_teardown(failing_put_many_in_a_transaction_undoes_only_itself, open_db, close_db),
      cmocka_unit_test_setup_teardown(failing_write_alone_changes_nothing, open_db, close_db),
      cmocka_unit_test_setup_teardown(failing_commit_keeps_nothing, open_db, close_db),
      cmocka_unit_test_setup_teardown(raw_sql_commit_stores_the_sequence, open_db, close_db),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
