/*
** test_server_batch.c -- what a push batch writes once, at its end (wasm/src/server_batch.c):
** the version counter stays dense across rejected operations, the persisted clock is the one
** the answer reports, and the device's acknowledged operation is the highest one remembered,
** across batches and replays. And the records a batch holds in memory between its operations
** (wasm/src/server_rows.c): a rejected operation leaves its record as it was, and the answer
** carries what was stored, as a pull reads it.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "world.h"

/* One push of hand-made operations (`ops`, a JSON array text with %s for the device id, used
** twice an operation, up to eight operations) from client 0 in protocol version v; returns the answer (caller frees). */
static char *push_v(world *w, int v, const char *ops_fmt) {
  const char *dev = sloop_device(w->clients[0]);
  char ops[16384], req[16700], ctx[160];
  snprintf(ops, sizeof(ops), ops_fmt, dev, dev, dev, dev, dev, dev, dev, dev, dev, dev, dev, dev, dev, dev, dev, dev);
  snprintf(req, sizeof(req), "{\"v\": %d, \"device\": \"%s\", \"ops\": %s}", v, dev, ops);
  world_ctx(w, 0, ctx, sizeof(ctx));
  char *resp = NULL;
  size_t len = 0;
  assert_ok(w->server, sloop_server_push(w->server, req, strlen(req), ctx, strlen(ctx), &resp, &len));
  return resp;
}

static char *push(world *w, const char *ops_fmt) { return push_v(w, 2, ops_fmt); }

static void assert_sql(sloop_db *db, const char *sql, const char *expected) {
  char *out = NULL;
  assert_ok(db, sloop_sql(db, sql, strlen(sql), &out, NULL));
  assert_string_equal(out, expected);
  sloop_free(out);
}

/* The answer's clock is the one stored. */
static void assert_clock_stored(world *w, const char *resp) {
  const char *at = strstr(resp, "\"hlc\":\"");
  assert_non_null(at);
  char sql[160], expected[64];
  snprintf(sql, sizeof(sql), "SELECT v FROM meta WHERE k = 'hlc'");
  snprintf(expected, sizeof(expected), "[[\"%.34s\"]]", at + 7);
  assert_sql(w->server, sql, expected);
}

#define OP(seq, type, rid, lc, payload)                                                                  \
  "{\"id\": \"%s:" #seq "\", \"type\": \"" type "\", \"coll\": \"notes\", \"rid\": \"" rid "\","         \
  " \"hlc\": \"018bcfe56800-" lc "-%s\", \"base\": 0, \"payload\": " payload "}"

static void a_batch_keeps_versions_dense_and_acknowledges_its_highest_operation(void **state) {
  world w;
  world_open(&w, 1, 7, NULL);
  /* The second operation patches a record nobody has: rejected, and its version given back. */
  char *resp = push(&w, "[" OP(1, "put", "a", "0001", "{\"title\": {\"set\": \"x\"}}") ","
                        OP(2, "patch", "missing", "0002", "{\"title\": {\"set\": \"y\"}}") "]");
  assert_non_null(strstr(resp, "\"status\":\"rejected\""));
  sloop_free(resp);
  resp = push(&w, "[" OP(3, "put", "b", "0003", "{\"title\": {\"set\": \"z\"}}") "]");
  assert_sql(w.server, "SELECT id, version FROM records ORDER BY version", "[[\"a\",1],[\"b\",2]]");
  assert_sql(w.server, "SELECT v FROM meta WHERE k = 'version'", "[[\"2\"]]");
  assert_sql(w.server, "SELECT substr(acked_op, instr(acked_op, ':')), acked_seq FROM devices", "[[\":3\",3]]");
  assert_clock_stored(&w, resp);
  sloop_free(resp);
  /* A replay of 3 with a new 4: the acknowledged operation moves on, the counter by one. */
  resp = push(&w, "[" OP(4, "patch", "a", "0004", "{\"title\": {\"set\": \"w\"}}") ","
                  OP(3, "put", "b", "0003", "{\"title\": {\"set\": \"z\"}}") "]");
  assert_sql(w.server, "SELECT v FROM meta WHERE k = 'version'", "[[\"3\"]]");
  assert_sql(w.server, "SELECT substr(acked_op, instr(acked_op, ':')), acked_seq FROM devices", "[[\":4\",4]]");
  assert_clock_stored(&w, resp);
  sloop_free(resp);
  /* A batch of replays only writes nothing. */
  resp = push(&w, "[" OP(4, "patch", "a", "0004", "{\"title\": {\"set\": \"w\"}}") "]");
  assert_sql(w.server, "SELECT v FROM meta WHERE k = 'version'", "[[\"3\"]]");
  sloop_free(resp);
  world_close(&w);
}

/* The answer's records, each as a pull from cursor 0 in protocol version v gives it (v1: the
** state as JSON; v2: the same text while the one device's node is each answer's first). */
static void assert_records_as_pulled_v(world *w, int v, const char *resp) {
  char pull[80];
  snprintf(pull, sizeof(pull), "{\"v\": %d, \"device\": \"probe\", \"cursor\": 0}", v);
  char *pulled = NULL;
  size_t len = 0;
  assert_ok(w->server, sloop_server_pull(w->server, pull, strlen(pull), NULL, 0, &pulled, &len));
  cJSON *a = cJSON_Parse(resp), *p = cJSON_Parse(pulled);
  const cJSON *records = cJSON_GetObjectItem(a, "records"), *changes = cJSON_GetObjectItem(p, "changes");
  assert_true(cJSON_GetArraySize(records) > 0);
  const cJSON *r, *c;
  cJSON_ArrayForEach(r, records) {
    const char *rid = cJSON_GetObjectItem(r, "rid")->valuestring;
    char *mine = cJSON_PrintUnformatted(r), *theirs = NULL;
    cJSON_ArrayForEach(c, changes) if (strcmp(cJSON_GetObjectItem(c, "rid")->valuestring, rid) == 0) theirs = cJSON_PrintUnformatted(c);
    assert_non_null(theirs);
    assert_string_equal(mine, theirs);
    free(mine);
    free(theirs);
  }
  if (v == 2) {
    char *mine = cJSON_PrintUnformatted(cJSON_GetObjectItem(a, "nodes")), *theirs = cJSON_PrintUnformatted(cJSON_GetObjectItem(p, "nodes"));
    assert_string_equal(mine, theirs);
    free(mine);
    free(theirs);
  }
  cJSON_Delete(a);
  cJSON_Delete(p);
  sloop_free(pulled);
}

static void assert_records_as_pulled(world *w, const char *resp) { assert_records_as_pulled_v(w, 1, resp); }

/* Operations of one batch on one record apply in order to the state the batch holds; a
** rejected one in between (here half applied before its second field is refused: 'title'
** set, then 'createdBy' immutable) leaves the record as the operations before it left it,
** whether the batch changed the record already or it comes fresh from the database. */
static void a_batch_applies_operations_on_one_record_in_order_and_drops_rejected_ones(void **state) {
  world w;
  world_open(&w, 1, 7, NULL);
  char *resp = push_v(&w, 1, "[" OP(1, "put", "a", "0001", "{\"title\": {\"set\": \"x\"}, \"createdBy\": {\"set\": \"me\"}}") ","
                              OP(2, "patch", "a", "0002", "{\"votes\": {\"inc\": 1}}") ","
                              OP(3, "patch", "a", "0003", "{\"title\": {\"set\": \"z\"}, \"createdBy\": {\"set\": \"you\"}}") ","
                              OP(4, "patch", "a", "0004", "{\"votes\": {\"inc\": 2}, \"tags\": {\"add\": {\"t\": \"%s:4#0\"}, \"rem\": []}}") ","
                              OP(5, "put", "b", "0005", "{\"title\": {\"set\": \"b\"}}") ","
                              OP(6, "patch", "a", "0006", "{\"body\": {\"set\": \"y\"}}") "]");
  assert_non_null(strstr(resp, "\"status\":\"rejected\""));
  assert_sql(w.server, "SELECT id, version, json_extract(doc, '$.title'), json_extract(doc, '$.votes'),"
                       " json_extract(doc, '$.createdBy'), json_extract(doc, '$.body') FROM records ORDER BY id",
             "[[\"a\",5,\"x\",3,\"me\",\"y\"],[\"b\",4,\"b\",null,null,null]]");
  assert_records_as_pulled(&w, resp);
  sloop_free(resp);
  /* The record's first operation of the next batch is refused halfway, the second applies. */
  resp = push_v(&w, 1, "[" OP(7, "patch", "a", "0007", "{\"title\": {\"set\": \"q\"}, \"createdBy\": {\"set\": \"you\"}}") ","
                       OP(8, "patch", "a", "0008", "{\"votes\": {\"inc\": 1}}") "]");
  assert_sql(w.server, "SELECT version, json_extract(doc, '$.title'), json_extract(doc, '$.votes') FROM records WHERE id = 'a'",
             "[[6,\"x\",4]]");
  assert_records_as_pulled(&w, resp);
  sloop_free(resp);
  /* The same in protocol v2, where the state is sent in its compact form. */
  resp = push_v(&w, 2, "[" OP(9, "patch", "a", "0009", "{\"votes\": {\"inc\": 1}}") "]");
  assert_records_as_pulled_v(&w, 2, resp);
  sloop_free(resp);
  /* The batch's last operation on the record is refused: what the ones before it did is kept. */
  resp = push_v(&w, 1, "[" OP(10, "patch", "a", "000a", "{\"votes\": {\"inc\": 1}}") ","
                       OP(11, "patch", "a", "000b", "{\"title\": {\"set\": \"q\"}, \"createdBy\": {\"set\": \"you\"}}") "]");
  assert_sql(w.server, "SELECT version, json_extract(doc, '$.title'), json_extract(doc, '$.votes') FROM records WHERE id = 'a'",
             "[[8,\"x\",6]]");
  assert_records_as_pulled(&w, resp);
  sloop_free(resp);
  world_close(&w);
}

/* A put of record r<seq> as operation <seq> of client 0, for push_ops. */
static void put_op(world *w, char *buf, size_t size, int seq, int rid) {
  const char *dev = sloop_device(w->clients[0]);
  snprintf(buf, size,
           "{\"id\": \"%s:%d\", \"type\": \"put\", \"coll\": \"notes\", \"rid\": \"r%d\", \"hlc\": \"018bcfe56800-%04x-%s\","
           " \"base\": 0, \"payload\": {\"title\": {\"set\": \"t%d\"}}}",
           dev, seq, rid, seq, dev, seq);
}

/* Pushes the puts of `seqs` (n of them, each on record r<seq>); returns the answer. */
static char *push_puts(world *w, const int *seqs, int n) {
  char ops[16384] = "[", op[400];
  for (int i = 0; i < n; i++) {
    put_op(w, op, sizeof(op), seqs[i], seqs[i]);
    strcat(ops, i ? "," : "");
    strcat(ops, op);
  }
  strcat(ops, "]");
  return push_v(w, 2, ops); /* no %s in it */
}

/* The i-th result of an answer, printed (caller frees). */
static char *result_text(const char *resp, int i) {
  cJSON *a = cJSON_Parse(resp);
  assert_non_null(a);
  char *text = cJSON_PrintUnformatted(cJSON_GetArrayItem(cJSON_GetObjectItem(a, "results"), i));
  cJSON_Delete(a);
  assert_non_null(text);
  return text;
}

/* Whether an operation was answered before is read once per batch for the batch's range of
** sequence numbers (server_batch.c): a replay is answered from storage whether its id is in
** that range, met earlier in the same batch, or one of so many answered ids in the range that
** every id is looked up one by one. Any of them applied twice would fail the push (the id is
** the key of applied_ops) or move the version. */
static void replays_are_answered_from_storage_however_the_batch_finds_them(void **state) {
  world w;
  world_open(&w, 1, 7, NULL);
  int first[30];
  for (int i = 0; i < 30; i++) first[i] = i + 1;
  char *resp = push_puts(&w, first, 30);
  char *first_answer = result_text(resp, 4);
  sloop_free(resp);
  assert_sql(w.server, "SELECT v FROM meta WHERE k = 'version'", "[[\"30\"]]");
  /* In range: 5 and 6 answered, 31 new. */
  int some[] = {5, 31, 6};
  resp = push_puts(&w, some, 3);
  assert_sql(w.server, "SELECT v FROM meta WHERE k = 'version'", "[[\"31\"]]");
  /* A replay's answer is the text stored the first time, which is what the first answer said. */
  char *again = result_text(resp, 0);
  assert_string_equal(again, first_answer);
  free(again);
  free(first_answer);
  sloop_free(resp);
  /* The same new operation twice in one batch: applied once, answered twice. */
  int twice[] = {32, 32};
  resp = push_puts(&w, twice, 2);
  assert_sql(w.server, "SELECT v FROM meta WHERE k = 'version'", "[[\"32\"]]");
  assert_int_equal(strstr(strstr(resp, "\"version\":32") + 1, "\"version\":32") != NULL, 1);
  sloop_free(resp);
  /* A range of 32 answered ids for a batch of three: more than the batch reads at once (30
  ** is past the first of them it would have read). */
  int wide[] = {1, 33, 30};
  resp = push_puts(&w, wide, 3);
  assert_sql(w.server, "SELECT v FROM meta WHERE k = 'version'", "[[\"33\"]]");
  assert_non_null(strstr(resp, "\"version\":30,"));
  sloop_free(resp);
  assert_sql(w.server, "SELECT count(*) FROM applied_ops", "[[33]]");
  world_close(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_batch_keeps_versions_dense_and_acknowledges_its_highest_operation),
      cmocka_unit_test(a_batch_applies_operations_on_one_record_in_order_and_drops_rejected_ones),
      cmocka_unit_test(replays_are_answered_from_storage_however_the_batch_finds_them),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
