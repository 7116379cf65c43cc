/*
** test_server_batch.c -- what a push batch writes once, at its end (wasm/src/server_batch.c):
** the version counter stays dense across rejected operations, the persisted clock is the one
** the answer reports, and the device's acknowledged operation is the highest one remembered,
** across batches and replays.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "world.h"

/* One push of hand-made operations (`ops`, a JSON array text with %s for the device id, used
** up to four times) from client 0; returns the answer (caller frees). */
static char *push(world *w, const char *ops_fmt) {
  const char *dev = sloop_device(w->clients[0]);
  char ops[2048], req[2300], ctx[160];
  snprintf(ops, sizeof(ops), ops_fmt, dev, dev, dev, dev);
  snprintf(req, sizeof(req), "{\"v\": 2, \"device\": \"%s\", \"ops\": %s}", dev, ops);
  world_ctx(w, 0, ctx, sizeof(ctx));
  char *resp = NULL;
  size_t len = 0;
  assert_ok(w->server, sloop_server_push(w->server, req, strlen(req), ctx, strlen(ctx), &resp, &len));
  return resp;
}

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_batch_keeps_versions_dense_and_acknowledges_its_highest_operation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
