/*
** test_schema.c -- the schema language's rules (docs/SCHEMA.md): what a schema must say, that
** fields a collection does not list are refused locally and by the server, the opt-outs
** ("strict": false, "open": true), and that a schema stored before these rules still opens.
*/
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cJSON.h"
#include "schema.h"
#include "world.h"

/* kWorldSchema's notes plus a field and a collection the world's server does not have. */
static const char kWiderSchema[] =
    "{\"collections\": {\"notes\": {\"fields\": {\"title\": \"lww\", \"body\": \"lww\","
    " \"tags\": \"set\", \"votes\": \"counter\", \"status\": \"manual\", \"createdBy\": \"fww\","
    " \"layout\": \"custom\", \"colour\": \"lww\"}}, \"lists\": {\"fields\": {\"name\": \"lww\"}}}}";

static int64_t count_of(sloop_db *db, const char *key) {
  char *counts = NULL;
  assert_ok(db, sloop_state_counts(db, &counts, NULL));
  cJSON *j = cJSON_Parse(counts);
  sloop_free(counts);
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, key);
  assert_true(cJSON_IsNumber(n));
  int64_t v = (int64_t)n->valuedouble;
  cJSON_Delete(j);
  return v;
}

static void assert_doc(sloop_db *db, const char *coll, const char *id, const char *want) {
  char *doc = NULL;
  assert_ok(db, sloop_get(db, S(coll), S(id), &doc, NULL));
  assert_string_equal(doc, want);
  sloop_free(doc);
}

static void assert_msg_has(sloop_db *db, const char *part) {
  if (!strstr(sloop_errmsg(db), part)) fail_msg("message '%s' lacks '%s'", sloop_errmsg(db), part);
}

static void a_schema_must_name_its_collections_and_only_known_keys(void **state) {
  (void)state;
  sloop_db *db;
  assert_int_equal(sloop_open(":memory:", NULL, SLOOP_ROLE_CLIENT, NULL, &db), SLOOP_OK);
  const char *good = "{\"collections\": {\"notes\": {\"fields\": {\"a\": \"lww\"}}}}";
  assert_ok(db, sloop_set_schema(db, S(good)));
  struct { const char *schema; int rc; const char *says; } cases[] = {
      {"{}", SLOOP_SCHEMA, "\"open\": true"},
      {"{\"maxDriftMs\": 1000}", SLOOP_SCHEMA, "no \"collections\""},
      {"{\"open\": \"yes\"}", SLOOP_SCHEMA, "open must be"},
      {"{\"collection\": {\"notes\": {}}}", SLOOP_SCHEMA, "unknown key 'collection'"},
      {"{\"collections\": {\"notes\": {\"fields\": {\"a\": \"lww\"}, \"indexs\": [\"a\"]}}}", SLOOP_SCHEMA,
       "collection 'notes': unknown key 'indexs'"},
      {"{\"collections\": {\"notes\": {\"default\": \"counter\"}}}", SLOOP_SCHEMA, "\"strict\": false"},
      {"{\"collections\": {\"notes\": {\"strict\": 0}}}", SLOOP_SCHEMA, "strict must be"},
      {"{\"collections\": {\"notes\": {\"fields\": {\"a\": \"lww\"}, \"search\": [\"b\"]}}}", SLOOP_SCHEMA,
       "search names 'b'"},
      {"{\"collections\": {\"notes\": {\"fields\": {\"a\": \"lww\"}, \"indexes\": [\"b\"]}}}", SLOOP_SCHEMA,
       "indexes names 'b'"},
      {"{\"collections\": {\"notes\": {\"fields\": {\"a\": \"often\"}}}}", SLOOP_SCHEMA, "policy must be"},
      {"{\"collections\": []}", SLOOP_SCHEMA, "collections must be an object"},
      {"{\"collections\": {\"notes\": {\"strict\": false, \"default\": \"counter\", \"search\": [\"b\"]}}}", SLOOP_OK, ""},
      {"{\"open\": true}", SLOOP_OK, ""},
      {"{\"open\": true, \"collections\": {\"notes\": {}}, \"maxDriftMs\": 5, \"driftPolicy\": \"reject\"}", SLOOP_OK, ""},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int rc = sloop_set_schema(db, S(cases[i].schema));
    if (rc != cases[i].rc) fail_msg("case %zu: %s (%s)", i, sloop_errstr(rc), sloop_errmsg(db));
    if (rc) {
      assert_msg_has(db, cases[i].says);
      /* Nothing changed: the last good schema still applies (notes, strict, field a). */
      assert_int_equal(sloop_put(db, S("other"), S("x"), S("{}")), SLOOP_SCHEMA);
      assert_ok(db, sloop_put(db, S("notes"), S("x"), S("{\"a\": 1}")));
    } else {
      assert_ok(db, sloop_set_schema(db, S(good)));
    }
  }
  assert_ok(db, sloop_close(db));
}

static void unknown_fields_are_refused_locally_and_nothing_changes(void **state) {
  (void)state;
  world w;
  world_open(&w, 1, 31, NULL);
  sloop_db *c = w.clients[0];
  assert_ok(c, sloop_put(c, S("notes"), S("n1"), S("{\"title\": \"a\"}")));
  assert_int_equal(count_of(c, "pendingOps"), 1);
  assert_int_equal(sloop_put(c, S("notes"), S("n1"), S("{\"title\": \"b\", \"colour\": \"red\"}")), SLOOP_SCHEMA);
  assert_msg_has(c, "unknown field 'colour'");
  assert_int_equal(sloop_patch(c, S("notes"), S("n1"), S("{\"colour\": \"red\"}")), SLOOP_SCHEMA);
  assert_int_equal(sloop_put(c, S("notes"), S("n2"), S("{\"colour\": \"red\"}")), SLOOP_SCHEMA);
  assert_doc(c, "notes", "n1", "{\"title\":\"a\"}");
  char *doc = NULL;
  assert_int_equal(sloop_get(c, S("notes"), S("n2"), &doc, NULL), SLOOP_NOTFOUND);
  assert_int_equal(count_of(c, "pendingOps"), 1);
  /* The refused writes took no operation id: the next write is the device's second. */
  assert_ok(c, sloop_patch(c, S("notes"), S("n1"), S("{\"title\": \"c\"}")));
  char *ops = NULL;
  assert_ok(c, sloop_ops(c, NULL, &ops, NULL));
  char second[80];
  snprintf(second, sizeof(second), "\"%s:2\"", sloop_device(c));
  assert_non_null(strstr(ops, second));
  sloop_free(ops);
  world_close(&w);
}

static void a_loose_collection_takes_unlisted_fields_with_its_default_policy(void **state) {
  (void)state;
  const char *schema =
      "{\"collections\": {\"tally\": {\"strict\": false, \"default\": \"counter\", \"fields\": {\"label\": \"lww\"}}}}";
  world w;
  world_open(&w, 1, 32, schema);
  sloop_db *c = w.clients[0];
  assert_ok(c, sloop_put(c, S("tally"), S("t1"), S("{\"label\": \"door\", \"hits\": 3}")));
  assert_ok(c, sloop_patch(c, S("tally"), S("t1"), S("{\"hits\": {\"$inc\": 2}}")));
  assert_doc(c, "tally", "t1", "{\"hits\":5,\"label\":\"door\"}");
  /* An unlisted field still has a policy, and a value of the wrong type for it is refused. */
  assert_int_equal(sloop_patch(c, S("tally"), S("t1"), S("{\"misses\": \"many\"}")), SLOOP_SCHEMA);
  world_sync(&w, 0);
  assert_int_equal(count_of(c, "pendingOps"), 0);
  assert_int_equal(count_of(c, "failedOps"), 0);
  world_close(&w);
}

static void an_open_schema_accepts_collections_it_does_not_list(void **state) {
  (void)state;
  world w;
  world_open(&w, 1, 33, "{\"open\": true, \"collections\": {\"notes\": {\"fields\": {\"title\": \"lww\"}}}}");
  sloop_db *c = w.clients[0];
  assert_ok(c, sloop_put(c, S("scratch"), S("s1"), S("{\"anything\": 1, \"goes\": [true]}")));
  assert_int_equal(sloop_put(c, S("notes"), S("n1"), S("{\"title\": \"t\", \"other\": 1}")), SLOOP_SCHEMA);
  world_sync(&w, 0);
  assert_int_equal(count_of(c, "pendingOps"), 0);
  assert_int_equal(count_of(c, "failedOps"), 0);
  world_close(&w);
}

/* The server's verdict on operation `op_id` of a push: a whole-batch refusal answers for every
** operation in it; otherwise the operation's own result. Written against both forms so it
** holds whether the server refuses the batch or the operation alone. */
static void assert_op_rejected(int rc, const char *resp, const char *op_id, const char *code) {
  if (rc != SLOOP_OK) {
    assert_string_equal(sloop_errcode(rc), code);
    return;
  }
  cJSON *j = cJSON_Parse(resp);
  const cJSON *r;
  int seen = 0;
  cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(j, "results")) {
    if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "id")), op_id) != 0) continue;
    seen = 1;
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "status")), "rejected");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "code")), code);
  }
  cJSON_Delete(j);
  if (!seen) fail_msg("no result for %s", op_id);
}

static int64_t server_rows(world *w, const char *rid) {
  char sql[120], *out = NULL;
  snprintf(sql, sizeof(sql), "SELECT count(*) FROM records WHERE id = '%s'", rid);
  assert_ok(w->server, sloop_sql(w->server, S(sql), &out, NULL));
  int64_t n = strtoll(out + 2, NULL, 10); /* [[n]] */
  sloop_free(out);
  return n;
}

/* A client whose schema is wider than the server's writes one record that its own schema
** allows; the server must reject that operation with `schema` and store nothing of it. */
static void push_one_the_server_lacks(const char *coll, const char *doc, const char *why) {
  world w;
  world_open(&w, 1, 34, NULL);
  sloop_db *c = w.clients[0];
  assert_ok(c, sloop_set_schema(c, S(kWiderSchema)));
  assert_ok(c, sloop_put(c, S(coll), S("r1"), S(doc)));
  char *req = NULL, *resp = NULL, ctx[160], id[80];
  size_t req_len = 0;
  assert_ok(c, sloop_push_begin(c, 50, &req, &req_len));
  world_ctx(&w, 0, ctx, sizeof(ctx));
  int rc = sloop_server_push(w.server, req, req_len, ctx, strlen(ctx), &resp, NULL);
  snprintf(id, sizeof(id), "%s:1", sloop_device(c));
  assert_op_rejected(rc, resp, id, "schema");
  if (rc) assert_msg_has(w.server, why);
  else assert_non_null(strstr(resp, why));
  assert_int_equal(server_rows(&w, "r1"), 0);
  sloop_free(req);
  sloop_free(resp);
  world_close(&w);
}

static void a_server_with_a_narrower_schema_rejects_the_op(void **state) {
  (void)state;
  push_one_the_server_lacks("notes", "{\"title\": \"t\", \"colour\": \"red\"}", "unknown field 'colour'");
  push_one_the_server_lacks("lists", "{\"name\": \"groceries\"}", "unknown collection 'lists'");
}

/* Replaces the stored schema as an earlier version left it: the text, without the mark. */
static void store_old_schema(sloop_db *db, const char *schema) {
  char sql[300];
  snprintf(sql, sizeof(sql), "UPDATE meta SET v = '%s' WHERE k = 'schema'; DELETE FROM meta WHERE k = 'schema_rules'",
           schema);
  char *out = NULL;
  assert_ok(db, sloop_sql(db, S(sql), &out, NULL));
  sloop_free(out);
}

static sloop_db *reopen(sloop_db *db, const char *path) {
  assert_ok(db, sloop_close(db));
  assert_int_equal(sloop_open(path, NULL, SLOOP_ROLE_CLIENT, NULL, &db), SLOOP_OK);
  return db;
}

static void a_schema_stored_before_the_rules_opens_with_its_old_meaning(void **state) {
  (void)state;
  char path[] = "/tmp/sloop-schema-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  sloop_db *db;
  assert_int_equal(sloop_open(path, NULL, SLOOP_ROLE_CLIENT, NULL, &db), SLOOP_OK);
  assert_ok(db, sloop_set_schema(db, S("{\"open\": true}")));
  /* A loose collection, as "notes": {} was before: unlisted fields are accepted, lww. */
  store_old_schema(db, "{\"collections\": {\"notes\": {}}}");
  db = reopen(db, path);
  assert_ok(db, sloop_put(db, S("notes"), S("n1"), S("{\"free\": 1}")));
  assert_int_equal(sloop_put(db, S("other"), S("o1"), S("{}")), SLOOP_SCHEMA);
  /* No collections at all: it stays open. */
  store_old_schema(db, "{\"maxDriftMs\": 1000, \"note\": \"ignored\"}");
  db = reopen(db, path);
  assert_ok(db, sloop_put(db, S("other"), S("o1"), S("{\"x\": 1}")));
  /* The next schema set goes by today's rules; a refused one leaves the stored one. */
  assert_int_equal(sloop_set_schema(db, S("{}")), SLOOP_SCHEMA);
  assert_ok(db, sloop_put(db, S("other"), S("o2"), S("{\"x\": 1}")));
  assert_ok(db, sloop_set_schema(db, S("{\"collections\": {\"notes\": {}}}")));
  db = reopen(db, path);
  /* Stored under the rules now, so "notes": {} is strict after a reopen too. */
  assert_int_equal(sloop_put(db, S("notes"), S("n2"), S("{\"free\": 1}")), SLOOP_SCHEMA);
  assert_ok(db, sloop_put(db, S("notes"), S("n2"), S("{}")));
  /* Records written under the old meaning stay readable. */
  assert_doc(db, "notes", "n1", "{\"free\":1}");
  assert_ok(db, sloop_close(db));
  unlink(path);
}

/* Apps set their schema on every start: the same schema again writes nothing (no commit to
** make durable at open), and a changed one is stored. */
static void the_same_schema_again_writes_nothing(void **state) {
  sloop_db *db = NULL;
  assert_int_equal(sloop_open(":memory:", NULL, SLOOP_ROLE_CLIENT, NULL, &db), SLOOP_OK);
  static const char kOne[] = "{\"collections\": {\"notes\": {\"fields\": {\"t\": \"lww\"}, \"indexes\": [\"t\"]}}}";
  static const char kTwo[] = "{\"collections\": {\"notes\": {\"fields\": {\"t\": \"lww\", \"u\": \"lww\"}}}}";
  assert_ok(db, sloop_set_schema(db, S(kOne)));
  char *before = NULL, *after = NULL;
  assert_ok(db, sloop_sql(db, S("SELECT total_changes()"), &before, NULL));
  assert_ok(db, sloop_set_schema(db, S(kOne)));
  assert_ok(db, sloop_sql(db, S("SELECT total_changes()"), &after, NULL));
  assert_string_equal(after, before);
  sloop_free(after);
  assert_ok(db, sloop_set_schema(db, S(kTwo)));
  assert_ok(db, sloop_sql(db, S("SELECT total_changes()"), &after, NULL));
  assert_string_not_equal(after, before);
  assert_ok(db, sloop_put(db, S("notes"), S("n1"), S("{\"u\": 1}")));
  sloop_free(before);
  sloop_free(after);
  assert_ok(db, sloop_close(db));
}

/* The definition sloop_valid_utf8 must keep, one byte at a time (its word-at-a-time ASCII path
** is only a shortcut): well-formed, no overlong forms, no surrogates, nothing past U+10FFFF. */
static int utf8_reference(const unsigned char *s, size_t len) {
  for (size_t i = 0; i < len;) {
    unsigned c = s[i], n, min;
    if (c < 0x80) { i++; continue; }
    if ((c & 0xe0) == 0xc0) n = 1, min = 0x80, c &= 0x1f;
    else if ((c & 0xf0) == 0xe0) n = 2, min = 0x800, c &= 0x0f;
    else if ((c & 0xf8) == 0xf0) n = 3, min = 0x10000, c &= 0x07;
    else return 0;
    for (unsigned k = 1; k <= n; k++) {
      if (i + k >= len || (s[i + k] & 0xc0) != 0x80) return 0;
      c = (c << 6) | (s[i + k] & 0x3f);
    }
    if (c < min || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff) return 0;
    i += n + 1;
  }
  return 1;
}

static void utf8_validation_agrees_with_the_byte_by_byte_definition(void **unused) {
  (void)unused;
  /* Runs of ASCII around multi-byte sequences, well-formed or broken, at every alignment. */
  static const char *const pieces[] = {"abcdefgh", "x", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\xa6\x80", "\xc3",
                                       "\xe2\x82", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "\xff", "0123456789abcdef"};
  unsigned char buf[96];
  test_env e = {0, 7};
  int valid = 0, invalid = 0;
  for (int round = 0; round < 20000; round++) {
    size_t len = 0;
    for (int k = test_pick(&e, 8); k >= 0; k--) {
      const char *p = pieces[test_pick(&e, (int)(sizeof(pieces) / sizeof(*pieces)))];
      size_t n = strlen(p);
      if (len + n > sizeof(buf)) break;
      memcpy(buf + len, p, n);
      len += n;
    }
    size_t cut = len ? (size_t)test_pick(&e, (int)len + 1) : 0; /* a prefix: sequences cut short */
    int expected = utf8_reference(buf, cut);
    if (sloop_valid_utf8((const char *)buf, cut) != expected) fail_msg("round %d: length %zu, expected %d", round, cut, expected);
    expected ? valid++ : invalid++;
  }
  assert_true(valid > 2000 && invalid > 2000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(utf8_validation_agrees_with_the_byte_by_byte_definition),
      cmocka_unit_test(a_schema_must_name_its_collections_and_only_known_keys),
      cmocka_unit_test(unknown_fields_are_refused_locally_and_nothing_changes),
      cmocka_unit_test(a_loose_collection_takes_unlisted_fields_with_its_default_policy),
      cmocka_unit_test(an_open_schema_accepts_collections_it_does_not_list),
      cmocka_unit_test(a_server_with_a_narrower_schema_rejects_the_op),
      cmocka_unit_test(a_schema_stored_before_the_rules_opens_with_its_old_meaning),
      cmocka_unit_test(the_same_schema_again_writes_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
