/*
** test_docs.c -- the vertical slice natively: open, write a JSON document, read it back,
** search it with FTS5, and the errors bad input gets.
*/
#include <stdlib.h>

#include "testutil.h"

static int open_db(void **state) {
  sloop_db *db = NULL;
  if (sloop_open(":memory:", NULL, SLOOP_ROLE_CLIENT, NULL, &db) != SLOOP_OK) return -1;
  *state = db;
  return 0;
}

static int close_db(void **state) { return sloop_close(*state); }

static void put_then_get_round_trips(void **state) {
  sloop_db *db = *state;
  assert_ok(db, sloop_put(db, S("notes"), S("n1"), S("{\"title\": \"Pump 4 leaks\", \"n\": 2}")));
  char *doc = NULL;
  size_t len = 0;
  assert_ok(db, sloop_get(db, S("notes"), S("n1"), &doc, &len));
  /* Fields print in name order, the same on every replica. */
  assert_string_equal(doc, "{\"n\":2,\"title\":\"Pump 4 leaks\"}");
  assert_int_equal(len, strlen(doc));
  sloop_free(doc);
}

static void put_replaces_and_reindexes(void **state) {
  sloop_db *db = *state;
  assert_ok(db, sloop_put(db, S("notes"), S("n1"), S("{\"title\": \"valve stuck\"}")));
  assert_ok(db, sloop_put(db, S("notes"), S("n1"), S("{\"title\": \"valve fixed\"}")));
  char *hits = NULL;
  assert_ok(db, sloop_search(db, S("notes"), S("stuck"), 10, &hits, NULL));
  assert_string_equal(hits, "[]");
  sloop_free(hits);
  assert_ok(db, sloop_search(db, S("notes"), S("fixed"), 10, &hits, NULL));
  assert_string_equal(hits, "[{\"id\":\"n1\",\"doc\":{\"title\":\"valve fixed\"}}]");
  sloop_free(hits);
}

static void search_ranks_and_scopes_by_collection(void **state) {
  sloop_db *db = *state;
  assert_ok(db, sloop_put(db, S("notes"), S("a"), S("{\"t\": \"boiler pressure low\"}")));
  assert_ok(db, sloop_put(db, S("notes"), S("b"), S("{\"t\": \"boiler boiler boiler\"}")));
  assert_ok(db, sloop_put(db, S("other"), S("c"), S("{\"t\": \"boiler\"}")));
  char *hits = NULL;
  assert_ok(db, sloop_search(db, S("notes"), S("boiler"), 10, &hits, NULL));
  /* bm25 ranks the document with more occurrences first; "other" never appears. */
  assert_non_null(strstr(hits, "\"id\":\"b\""));
  assert_true(strstr(hits, "\"id\":\"b\"") < strstr(hits, "\"id\":\"a\""));
  assert_null(strstr(hits, "\"id\":\"c\""));
  sloop_free(hits);
}

static void bad_input_gets_clear_errors(void **state) {
  sloop_db *db = *state;
  assert_int_equal(sloop_put(db, S("notes"), S("x"), S("{not json")), SLOOP_JSON);
  assert_int_equal(sloop_put(db, S("notes"), S("x"), S("[1,2]")), SLOOP_SCHEMA);
  assert_int_equal(sloop_put(db, S(""), S("x"), S("{}")), SLOOP_INVALID);
  char *doc = (char *)1;
  assert_int_equal(sloop_get(db, S("notes"), S("x"), &doc, NULL), SLOOP_NOTFOUND);
  assert_null(doc);
  assert_string_equal(sloop_errcode(SLOOP_NOTFOUND), "notfound");
  assert_string_equal(sloop_errcode(SLOOP_DEVICE), "device");
  assert_int_equal(sloop_search(db, S("notes"), S("\"unbalanced"), 10, &doc, NULL), SLOOP_INVALID);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(put_then_get_round_trips, open_db, close_db),
      cmocka_unit_test_setup_teardown(put_replaces_and_reindexes, open_db, close_db),
      cmocka_unit_test_setup_teardown(search_ranks_and_scopes_by_collection, open_db, close_db),
      cmocka_unit_test_setup_teardown(bad_input_gets_clear_errors, open_db, close_db),
  };
  return cmocka_run_group_tests_name("docs", tests, NULL, NULL);
}
