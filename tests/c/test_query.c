/*
** test_query.c -- queries use the schema's indexes, and their rows and order are the same
** as without any index.
**
** The plans come from EXPLAIN QUERY PLAN on the very SQL sloop_query runs (sloop_query_sql).
** The results are checked against the same notes in a collection with no index, and against
** ids written out by hand for the cases the order is subtle in: ties, pages, mixed conditions.
** Notes are written in an order other than their ids', so an index's own order of ties (by
** rowid) differs from the id order queries promise.
*/
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "testutil.h"

static const char kSchema[] =
    "{\"collections\": {"
    "\"notes\": {\"fields\": {\"title\": \"lww\", \"status\": \"lww\", \"votes\": \"lww\"},"
    " \"indexes\": [\"status\", \"votes\"]},"
    "\"plain\": {\"fields\": {\"title\": \"lww\", \"status\": \"lww\", \"votes\": \"lww\"}}}}";

#define NOTES 24

static int open_db(void **state) {
  sloop_db *db = NULL;
  if (sloop_open(":memory:", NULL, SLOOP_ROLE_CLIENT, NULL, &db) != SLOOP_OK) return -1;
  if (sloop_set_schema(db, kSchema, strlen(kSchema)) != SLOOP_OK) return -1;
  static const char *const statuses[] = {"open", "done", "blocked", NULL};
  for (int k = 0; k < NOTES; k++) {
    int i = (k * 7) % NOTES; /* 7 is prime to 24: every id once, out of order */
    char id[8], doc[128];
    snprintf(id, sizeof(id), "n%02d", i);
    const char *status = statuses[i % 4];
    /* votes: 0..3 with many ties; every fifth note has none, and one has text. */
    char votes[24] = "";
    if (i == 13) snprintf(votes, sizeof(votes), ", \"votes\": \"many\"");
    else if (i % 5) snprintf(votes, sizeof(votes), ", \"votes\": %d", (i * 5) % 4);
    snprintf(doc, sizeof(doc), "{\"title\": \"t%d\"%s%s%s%s}", i % 3, status ? ", \"status\": \"" : "",
             status ? status : "", status ? "\"" : "", votes);
    if (sloop_put(db, S("notes"), S(id), S(doc)) || sloop_put(db, S("plain"), S(id), S(doc))) return -1;
  }
  *state = db;
  return 0;
}

static int close_db(void **state) { return sloop_close(*state); }

/* The plan of the query's SQL, its detail lines joined by " | ". Caller frees. */
static char *plan(sloop_db *db, const char *query) {
  cJSON *q = cJSON_Parse(query);
  char *sql = NULL;
  cJSON *binds = NULL;
  assert_ok(db, sloop_query_sql(db, S("notes"), q, &sql, &binds));
  size_t n = strlen(sql) + 32;
  char *eqp = malloc(n);
  snprintf(eqp, n, "EXPLAIN QUERY PLAN %s", sql);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db->sql, eqp, -1, &st, NULL), SQLITE_OK);
  char *out = calloc(1, 4096);
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (*out) strncat(out, " | ", 4095 - strlen(out));
    strncat(out, (const char *)sqlite3_column_text(st, 3), 4095 - strlen(out));
  }
  sqlite3_finalize(st);
  free(eqp);
  free(sql);
  cJSON_Delete(binds);
  cJSON_Delete(q);
  return out;
}

/* Fails unless the plan of `query` searches `index` with `key` and contains none of `absent`
** (a NULL-terminated list). */
static void assert_plan(sloop_db *db, const char *query, const char *index, const char *key,
                        const char *const *absent) {
  char *p = plan(db, query);
  char want[96];
  snprintf(want, sizeof(want), "USING INDEX %s (%s)", index, key);
  if (!strstr(p, want)) fail_msg("%s: plan '%s' lacks '%s'", query, p, want);
  for (; absent && *absent; absent++)
    if (strstr(p, *absent)) fail_msg("%s: plan '%s' has '%s'", query, p, *absent);
  free(p);
}

static const char *const kNoKeyWalk[] = {"sqlite_autoindex_records_1", NULL};
static const char *const kNoFullSort[] = {"USE TEMP B-TREE FOR ORDER BY", "sqlite_autoindex_records_1", NULL};
static const char *const kNoSortNoExpr[] = {"TEMP B-TREE", "idx_notes_", NULL};

static void indexed_conditions_search_the_index(void **state) {
  sloop_db *db = *state;
  /* An equality reads the index in id order (indexes end with id): no sort, so a limit stops
  ** after that many rows. */
  assert_plan(db, "{\"where\": {\"status\": \"open\"}}", "idx_notes_status", "coll=? AND <expr>=?", kNoFullSort);
  assert_plan(db, "{\"where\": {\"status\": \"open\"}, \"limit\": 2}", "idx_notes_status", "coll=? AND <expr>=?",
              kNoFullSort);
  assert_plan(db, "{\"where\": {\"status\": null}}", "idx_notes_status", "coll=? AND <expr>=?", kNoFullSort);
  assert_plan(db, "{\"where\": {\"votes\": {\"$gt\": 1}}}", "idx_notes_votes", "coll=? AND <expr>>?", kNoKeyWalk);
  assert_plan(db, "{\"where\": {\"votes\": {\"$gte\": 1, \"$lt\": 3}}, \"limit\": 5}", "idx_notes_votes",
              "coll=? AND <expr>>? AND <expr><?", kNoKeyWalk);
  assert_plan(db, "{\"where\": {\"status\": {\"$in\": [\"open\", \"done\"]}}}", "idx_notes_status",
              "coll=? AND <expr>=?", kNoKeyWalk);
  /* A non-indexed condition next to an indexed one filters the rows the index finds. */
  assert_plan(db, "{\"where\": {\"title\": \"t1\", \"status\": \"done\"}}", "idx_notes_status",
              "coll=? AND <expr>=?", kNoKeyWalk);
}

static void indexed_order_walks_the_index(void **state) {
  sloop_db *db = *state;
  /* Only the ties (by id) are sorted, not the whole result. */
  assert_plan(db, "{\"orderBy\": \"votes\", \"limit\": 3}", "idx_notes_votes", "coll=?", kNoFullSort);
  assert_plan(db, "{\"orderBy\": [[\"votes\", \"desc\"], [\"title\", \"asc\"]]}", "idx_notes_votes", "coll=?",
              kNoFullSort);
}

static void other_queries_walk_the_key_in_id_order(void **state) {
  sloop_db *db = *state;
  /* No index to search: the key (coll, id) gives the rows in id order with no sort, and a
  ** limit stops the walk early. $ne matches unset fields, which an index search would miss. */
  assert_plan(db, "{}", "sqlite_autoindex_records_1", "coll=?", kNoSortNoExpr);
  assert_plan(db, "{\"where\": {\"title\": \"t2\"}, \"limit\": 2}", "sqlite_autoindex_records_1", "coll=?",
              kNoSortNoExpr);
  assert_plan(db, "{\"where\": {\"status\": {\"$ne\": \"open\"}}}", "sqlite_autoindex_records_1", "coll=?",
              kNoSortNoExpr);
}

/* The ids a query returns, as "a,b,c". Caller frees. */
static char *ids(sloop_db *db, const char *coll, const char *query) {
  char *out = NULL;
  assert_ok(db, sloop_query(db, coll, strlen(coll), S(query), &out, NULL));
  cJSON *rows = cJSON_Parse(out);
  assert_true(cJSON_IsArray(rows));
  char *list = calloc(1, 1024);
  const cJSON *row;
  cJSON_ArrayForEach(row, rows) {
    if (*list) strcat(list, ",");
    strcat(list, cJSON_GetObjectItem(row, "id")->valuestring);
  }
  cJSON_Delete(rows);
  sloop_free(out);
  return list;
}

static void assert_ids(sloop_db *db, const char *query, const char *want) {
  char *got = ids(db, "notes", query);
  if (strcmp(got, want)) fail_msg("%s: got [%s], want [%s]", query, got, want);
  free(got);
}

static void order_with_ties_is_by_id(void **state) {
  sloop_db *db = *state;
  /* votes (i*5)%4 = i%4 for i not a multiple of 5; 13 has text, which sorts after numbers. */
  assert_ids(db, "{\"where\": {\"votes\": 1}}", "n01,n09,n17,n21");
  assert_ids(db, "{\"where\": {\"status\": \"open\"}}", "n00,n04,n08,n12,n16,n20");
  assert_ids(db, "{\"where\": {\"votes\": {\"$gte\": 2}}, \"orderBy\": \"votes\"}",
             "n02,n06,n14,n18,n22,n03,n07,n11,n19,n23,n13");
  assert_ids(db, "{\"orderBy\": [[\"votes\", \"desc\"]], \"limit\": 6}", "n13,n03,n07,n11,n19,n23");
  assert_ids(db, "{\"where\": {\"status\": {\"$in\": [\"done\", \"blocked\"]}}, \"orderBy\": [[\"votes\", \"desc\"]]}",
             "n13,n02,n06,n14,n18,n22,n01,n09,n17,n21,n05,n10");
}

static void pages_split_ties_in_id_order(void **state) {
  sloop_db *db = *state;
  /* Five notes with votes 3 (and n13's text above them): pages of 4 cut through the ties. */
  assert_ids(db, "{\"orderBy\": [[\"votes\", \"desc\"]], \"limit\": 4}", "n13,n03,n07,n11");
  assert_ids(db, "{\"orderBy\": [[\"votes\", \"desc\"]], \"limit\": 4, \"offset\": 4}", "n19,n23,n02,n06");
  assert_ids(db, "{\"where\": {\"status\": \"open\"}, \"limit\": 2, \"offset\": 3}", "n12,n16");
  assert_ids(db, "{\"where\": {\"votes\": {\"$gt\": 0, \"$lt\": 3}}, \"limit\": 3, \"offset\": 6}", "n18,n21,n22");
}

static void mixed_conditions_match_both(void **state) {
  sloop_db *db = *state;
  /* title t<i%3>, status by i%4: t0 and open is i%12 == 0. */
  assert_ids(db, "{\"where\": {\"title\": \"t0\", \"status\": \"open\"}}", "n00,n12");
  assert_ids(db, "{\"where\": {\"title\": \"t1\", \"votes\": {\"$lte\": 1}}, \"orderBy\": \"votes\"}",
             "n04,n16,n01");
  assert_ids(db, "{\"where\": {\"status\": null, \"votes\": {\"$ne\": 3}}}", "n15");
}

/* Every query gives the same rows, byte for byte, with and without the indexes. */
static void indexes_change_no_result(void **state) {
  sloop_db *db = *state;
  static const char *const queries[] = {
      "{}",
      "{\"where\": {\"status\": \"open\"}}",
      "{\"where\": {\"status\": null}}",
      "{\"where\": {\"status\": {\"$ne\": \"open\"}}}",
      "{\"where\": {\"status\": {\"$in\": [\"done\", \"nope\", \"blocked\"]}}, \"limit\": 5}",
      "{\"where\": {\"votes\": {\"$gt\": 0}}}",
      "{\"where\": {\"votes\": {\"$gt\": 0, \"$lte\": 2}}, \"orderBy\": [[\"votes\", \"desc\"]], \"offset\": 2}",
      "{\"where\": {\"votes\": {\"$gte\": \"a\"}}}",
      "{\"where\": {\"votes\": {\"$in\": [0, 3, \"many\"]}}, \"orderBy\": \"title\"}",
      "{\"where\": {\"title\": \"t2\", \"status\": {\"$in\": [\"open\", \"blocked\"]}}}",
      "{\"orderBy\": \"votes\"}",
      "{\"orderBy\": [[\"status\", \"asc\"], [\"votes\", \"desc\"]], \"limit\": 7, \"offset\": 3}",
      "{\"orderBy\": [[\"votes\", \"desc\"]], \"limit\": 0}",
  };
  for (size_t i = 0; i < sizeof(queries) / sizeof(*queries); i++) {
    char *indexed = NULL, *plain = NULL;
    assert_ok(db, sloop_query(db, S("notes"), S(queries[i]), &indexed, NULL));
    assert_ok(db, sloop_query(db, S("plain"), S(queries[i]), &plain, NULL));
    if (strcmp(indexed, plain)) fail_msg("%s:\n  indexed %s\n  plain   %s", queries[i], indexed, plain);
    sloop_free(indexed);
    sloop_free(plain);
  }
}

/* The stored indexes follow the schema: one the schema drops goes, one made by earlier code
** as (coll, expr) is rebuilt ending with id, and an app's own index is left alone. */
static void indexes_follow_the_schema(void **state) {
  sloop_db *db = *state;
  assert_ok(db, sloop_exec(db, "DROP INDEX idx_notes_status;"
                               "CREATE INDEX \"idx_notes_status\" ON records(coll, json_extract(doc, '$.status'))"
                               " WHERE coll = 'notes';"
                               "CREATE INDEX app_title ON records(json_extract(doc, '$.title'))"));
  static const char kLess[] =
      "{\"collections\": {"
      "\"notes\": {\"fields\": {\"title\": \"lww\", \"status\": \"lww\", \"votes\": \"lww\"}, \"indexes\": [\"status\"]},"
      "\"plain\": {\"fields\": {\"title\": \"lww\", \"status\": \"lww\", \"votes\": \"lww\"}}}}";
  assert_ok(db, sloop_set_schema(db, kLess, strlen(kLess)));
  char *out = NULL;
  assert_ok(db, sloop_sql(db, S("SELECT name, sql LIKE '%, id) WHERE%' FROM sqlite_schema WHERE type = 'index'"
                                " AND tbl_name = 'records' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'records_%'"
                                " ORDER BY name"),
                          &out, NULL));
  assert_string_equal(out, "[[\"app_title\",0],[\"idx_notes_status\",1]]");
  sloop_free(out);
  assert_plan(db, "{\"where\": {\"status\": \"open\"}, \"limit\": 2}", "idx_notes_status", "coll=? AND <expr>=?",
              kNoFullSort);
  assert_ids(db, "{\"where\": {\"status\": \"open\"}, \"limit\": 3}", "n00,n04,n08");
}

/* The rows, written out by the core, are byte for byte what SQLite's JSON functions make of
** the same statement's rows: ids with quotes, backslashes and non-ASCII characters included. */
static void rows_are_the_json_sqlite_would_build(void **state) {
  sloop_db *db = *state;
  static const char *const odd[][2] = {
      {"say \"hi\"", "{\"title\": \"quote \\\" back \\\\ tab \\t\", \"votes\": 1.5}"},
      {"back\\slash/é", "{\"title\": \"café \\u00e9 \\ud83d\\ude00 \\u0001\", \"status\": \"open\"}"},
      {"\xf0\x9f\x98\x80", "{\"title\": \"\", \"votes\": -2e21, \"status\": \"done\"}"},
  };
  for (size_t i = 0; i < sizeof(odd) / sizeof(*odd); i++)
    assert_ok(db, sloop_put(db, S("notes"), S(odd[i][0]), S(odd[i][1])));
  static const char *const queries[] = {
      "{}",
      "{\"where\": {\"status\": \"open\"}}",
      "{\"where\": {\"votes\": {\"$lt\": 2}}, \"orderBy\": [[\"votes\", \"desc\"]]}",
      "{\"where\": {\"title\": \"nothing has this\"}}",
  };
  for (size_t i = 0; i < sizeof(queries) / sizeof(*queries); i++) {
    cJSON *q = cJSON_Parse(queries[i]);
    char *sql = NULL, *wrapped = NULL, *got = NULL;
    cJSON *binds = NULL;
    assert_ok(db, sloop_query_sql(db, S("notes"), q, &sql, &binds));
    size_t n = strlen(sql) + 128;
    wrapped = malloc(n);
    snprintf(wrapped, n, "SELECT json_group_array(json_object('id', id, 'doc', json(doc), 'state', sync)) FROM (%s)", sql);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db->sql, wrapped, -1, &st, NULL), SQLITE_OK);
    int k = 1;
    const cJSON *v;
    cJSON_ArrayForEach(v, binds) {
      if (cJSON_IsString(v)) sqlite3_bind_text(st, k++, v->valuestring, -1, SQLITE_TRANSIENT);
      else sqlite3_bind_double(st, k++, v->valuedouble);
    }
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_ok(db, sloop_query(db, S("notes"), S(queries[i]), &got, NULL));
    assert_string_equal(got, (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sloop_free(got);
    free(wrapped);
    free(sql);
    cJSON_Delete(binds);
    cJSON_Delete(q);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(indexed_conditions_search_the_index, open_db, close_db),
      cmocka_unit_test_setup_teardown(indexed_order_walks_the_index, open_db, close_db),
      cmocka_unit_test_setup_teardown(other_queries_walk_the_key_in_id_order, open_db, close_db),
      cmocka_unit_test_setup_teardown(order_with_ties_is_by_id, open_db, close_db),
      cmocka_unit_test_setup_teardown(pages_split_ties_in_id_order, open_db, close_db),
      cmocka_unit_test_setup_teardown(mixed_conditions_match_both, open_db, close_db),
      cmocka_unit_test_setup_teardown(indexes_change_no_result, open_db, close_db),
      cmocka_unit_test_setup_teardown(indexes_follow_the_schema, open_db, close_db),
      cmocka_unit_test_setup_teardown(rows_are_the_json_sqlite_would_build, open_db, close_db),
  };
  return cmocka_run_group_tests_name("query", tests, NULL, NULL);
}
