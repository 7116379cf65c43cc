/*
** test_nodes.c -- the node table (wasm/src/nodes.c) stays in step with what the stored states
** refer to: a node interned inside a transaction or savepoint that rolls back is gone from the
** table, so the next write that needs it must insert it again, or its state would name an
** index the table lacks and the record would not read back once the cache is reloaded.
*/
#define _DEFAULT_SOURCE /* mkstemp */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "testutil.h"

static void run_sql(sloop_db *db, const char *sql) {
  char *out = NULL;
  assert_ok(db, sloop_sql(db, S(sql), &out, NULL));
  sloop_free(out);
}

static void assert_sql(sloop_db *db, const char *sql, const char *expected) {
  char *out = NULL;
  assert_ok(db, sloop_sql(db, S(sql), &out, NULL));
  assert_string_equal(out, expected);
  sloop_free(out);
}

/* Writes once inside `open_sql` ... `close_sql` (rolled back), then once for good; reopens
** the file, so the cache is read from the table, and reads the record back. */
static void write_after_rollback(const char *open_sql, const char *close_sql) {
  char path[] = "/tmp/sloop-nodes-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  sloop_db *db = NULL;
  assert_int_equal(sloop_open(path, NULL, SLOOP_ROLE_CLIENT, NULL, &db), SLOOP_OK);
  run_sql(db, open_sql);
  assert_ok(db, sloop_put(db, S("notes"), S("a"), S("{\"t\": \"gone\"}")));
  run_sql(db, close_sql);
  assert_sql(db, "SELECT count(*) FROM nodes", "[[0]]");
  assert_ok(db, sloop_put(db, S("notes"), S("b"), S("{\"t\": \"kept\"}")));
  assert_sql(db, "SELECT count(*) FROM nodes", "[[1]]");
  assert_int_equal(sloop_close(db), SLOOP_OK);

  assert_int_equal(sloop_open(path, NULL, SLOOP_ROLE_CLIENT, NULL, &db), SLOOP_OK);
  char *doc = NULL;
  assert_ok(db, sloop_get(db, S("notes"), S("b"), &doc, NULL));
  assert_string_equal(doc, "{\"t\":\"kept\"}");
  sloop_free(doc);
  assert_int_equal(sloop_get(db, S("notes"), S("a"), &doc, NULL), SLOOP_NOTFOUND);
  assert_sql(db, "SELECT sloop_state(state, doc) IS NOT NULL FROM records", "[[1]]");
  assert_int_equal(sloop_close(db), SLOOP_OK);
  unlink(path);
}

static void a_node_of_a_rolled_back_transaction_is_interned_again(void **state) {
  (void)state;
  write_after_rollback("BEGIN", "ROLLBACK");
}

static void a_node_of_a_rolled_back_raw_savepoint_is_interned_again(void **state) {
  (void)state;
  write_after_rollback("SAVEPOINT mine", "ROLLBACK TO mine; RELEASE mine");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_node_of_a_rolled_back_transaction_is_interned_again),
      cmocka_unit_test(a_node_of_a_rolled_back_raw_savepoint_is_interned_again),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
