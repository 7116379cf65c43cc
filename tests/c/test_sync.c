/*
** test_sync.c -- clients and a server converging through the protocol, natively: the
** operation log, per-record sync states, every conflict policy end to end, lost answers,
** replays, and bad input to the server.
*/
#include "internal.h"
#include "world.h"

#define NOTES "notes"

static int count_ops(sloop_db *db, const char *status) {
  char *ops = NULL;
  assert_ok(db, sloop_ops(db, status, &ops, NULL));
  int n = 0;
  for (const char *p = ops; (p = strstr(p, "\"id\":")) != NULL; p++) n++;
  sloop_free(ops);
  return n;
}

static int64_t server_version(world *w) {
  char *counts = NULL;
  /* The version is the cursor a fresh client ends at after a full pull. */
  sloop_db *probe;
  sloop_env env = test_env_make(&w->env);
  assert_int_equal(sloop_open(":memory:", NULL, SLOOP_ROLE_CLIENT, &env, &probe), SLOOP_OK);
  char *req = NULL, *resp = NULL;
  size_t rl = 0, sl = 0;
  assert_ok(probe, sloop_pull_request(probe, 1000, NULL, 0, &req, &rl));
  assert_ok(w->server, sloop_server_pull(w->server, req, rl, NULL, 0, &resp, &sl));
  cJSON *j = cJSON_Parse(resp);
  int64_t v = (int64_t)cJSON_GetObjectItem(j, "cursor")->valuedouble;
  cJSON_Delete(j);
  sloop_free(req);
  sloop_free(resp);
  sloop_free(counts);
  sloop_close(probe);
  return v;
}

/* ---------------------------------------------------------------- the log ------------ */

static void writes_queue_operations_and_ack_compacts_them(void **state) {
  world w;
  world_open(&w, 1, 1, NULL);
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"Pump\", \"votes\": 2}");
  world_patch(&w, 0, NOTES, "n1", "{\"body\": \"leaks\"}");
  assert_int_equal(count_ops(w.clients[0], "pending"), 2);
  assert_int_equal(world_state(w.clients[0], NOTES, "n1"), SLOOP_STATE_LOCAL_ONLY);
  world_sync(&w, 0);
  assert_int_equal(count_ops(w.clients[0], NULL), 0); /* acknowledged: compacted away */
  assert_int_equal(world_state(w.clients[0], NOTES, "n1"), SLOOP_STATE_SYNCED);
  world_assert_doc(w.server, NOTES, "n1", "{\"body\":\"leaks\",\"title\":\"Pump\",\"votes\":2}");
  world_assert_doc(w.clients[0], NOTES, "n1", "{\"body\":\"leaks\",\"title\":\"Pump\",\"votes\":2}");
  world_close(&w);
}

/* Appends one sloop_put_many frame pair (id, document) to buf at *n. */
static void frame_row(uint8_t *buf, size_t *n, const char *id, const char *doc) {
  for (int k = 0; k < 2; k++) {
    const char *s = k ? doc : id;
    size_t len = strlen(s);
    for (int b = 0; b < 4; b++) buf[(*n)++] = (uint8_t)(len >> (8 * b));
    memcpy(buf + *n, s, len);
    *n += len;
  }
}

static void put_many_is_all_or_nothing(void **state) {
  world w;
  world_open(&w, 1, 3, NULL);
  sloop_db *c = w.clients[0];
  uint8_t buf[512];
  size_t n = 0;
  frame_row(buf, &n, "m1", "{\"title\": \"one\"}");
  frame_row(buf, &n, "m2", "{\"title\": \"two\", \"votes\": 3}");
  assert_ok(c, sloop_put_many(c, S(NOTES), buf, n, 2));
  world_assert_doc(c, NOTES, "m1", "{\"title\":\"one\"}");
  world_assert_doc(c, NOTES, "m2", "{\"title\":\"two\",\"votes\":3}");
  assert_int_equal(count_ops(c, "pending"), 2);
  char last[64];
  snprintf(last, sizeof(last), "%s", sloop_last_op(c));
  /* A refused row (a counter given a string) refuses the call: nothing of it stays, and the
  ** ids its rows took are given again. */
  n = 0;
  frame_row(buf, &n, "m3", "{\"title\": \"three\"}");
  frame_row(buf, &n, "m4", "{\"votes\": \"many\"}");
  assert_int_equal(sloop_put_many(c, S(NOTES), buf, n, 2), SLOOP_SCHEMA);
  assert_non_null(strstr(sloop_errmsg(c), "row 1:"));
  assert_null(world_get(c, NOTES, "m3"));
  assert_int_equal(count_ops(c, "pending"), 2);
  assert_string_equal(sloop_last_op(c), last);
  world_put(&w, 0, NOTES, "m5", "{\"title\": \"five\"}");
  char want[64];
  snprintf(want, sizeof(want), "%s:%d", sloop_device(c), 3);
  assert_string_equal(sloop_last_op(c), want);
  /* Frames that overrun the buffer, or bytes after the last row, are refused whole. */
  n = 0;
  frame_row(buf, &n, "m6", "{\"title\": \"six\"}");
  assert_int_equal(sloop_put_many(c, S(NOTES), buf, n - 1, 1), SLOOP_INVALID);
  assert_int_equal(sloop_put_many(c, S(NOTES), buf, n, 2), SLOOP_INVALID);
  assert_int_equal(sloop_put_many(c, S(NOTES), buf, n + 1, 1), SLOOP_INVALID);
  assert_null(world_get(c, NOTES, "m6"));
  /* Inside an open transaction it is a part of it: rolled back with it. */
  assert_ok(c, sloop_tx_begin(c));
  assert_ok(c, sloop_put_many(c, S(NOTES), buf, n, 1));
  assert_ok(c, sloop_tx_end(c, 0));
  assert_null(world_get(c, NOTES, "m6"));
  assert_ok(c, sloop_put_many(c, S(NOTES), buf, 0, 0)); /* nothing to put is not an error */
  world_sync(&w, 0);
  world_assert_doc(w.server, NOTES, "m2", "{\"title\":\"two\",\"votes\":3}");
  assert_null(world_get(w.server, NOTES, "m3"));
  world_close(&w);
}

static void a_refused_write_leaves_neither_state_nor_operation(void **state) {
  world w;
  world_open(&w, 1, 2, NULL);
  world_put(&w, 0, NOTES, "n1", "{\"createdBy\": \"ann\"}");
  int before = count_ops(w.clients[0], NULL);
  assert_int_equal(sloop_patch(w.clients[0], S(NOTES), S("n1"), S("{\"createdBy\": \"bob\"}")), SLOOP_IMMUTABLE);
  assert_int_equal(sloop_patch(w.clients[0], S(NOTES), S("n1"), S("{\"votes\": \"many\"}")), SLOOP_SCHEMA);
  assert_int_equal(sloop_patch(w.clients[0], S(NOTES), S("zz"), S("{\"title\": \"x\"}")), SLOOP_NOTFOUND);
  assert_int_equal(sloop_put(w.clients[0], S("nope"), S("x"), S("{}")), SLOOP_SCHEMA);
  assert_int_equal(count_ops(w.clients[0], NULL), before);
  world_assert_doc(w.clients[0], NOTES, "n1", "{\"createdBy\":\"ann\"}");
  world_close(&w);
}

/* ---------------------------------------------------------------- sync states -------- */

static void sync_states_follow_the_machine(void **state) {
  world w;
  world_open(&w, 1, 3, NULL);
  sloop_db *c = w.clients[0];
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"a\"}");
  assert_int_equal(world_state(c, NOTES, "n1"), SLOOP_STATE_LOCAL_ONLY);
  char *req = NULL;
  assert_ok(c, sloop_push_begin(c, 10, &req, NULL));
  assert_non_null(req);
  assert_int_equal(world_state(c, NOTES, "n1"), SLOOP_STATE_SYNCING);
  assert_ok(c, sloop_push_fail(c, "offline"));
  assert_int_equal(world_state(c, NOTES, "n1"), SLOOP_STATE_FAILED);
  sloop_free(req);
  world_sync(&w, 0);
  assert_int_equal(world_state(c, NOTES, "n1"), SLOOP_STATE_SYNCED);
  world_patch(&w, 0, NOTES, "n1", "{\"title\": \"b\"}");
  assert_int_equal(world_state(c, NOTES, "n1"), SLOOP_STATE_MODIFIED);
  world_sync(&w, 0);
  assert_int_equal(world_state(c, NOTES, "n1"), SLOOP_STATE_SYNCED);
  /* The change list tells a UI every state the record went through, in order. */
  char *changes = NULL;
  assert_ok(c, sloop_take_changes(c, &changes, NULL));
  assert_non_null(strstr(changes, "\"state\":0"));
  assert_non_null(strstr(changes, "\"state\":3"));
  assert_non_null(strstr(changes, "\"state\":4"));
  /* ... the last one synced: a record settled without a rebase is announced too. */
  const char *last = NULL;
  for (const char *at = changes; (at = strstr(at, "\"state\":")); at++) last = at;
  assert_non_null(last);
  assert_int_equal(atoi(last + strlen("\"state\":")), SLOOP_STATE_SYNCED);
  sloop_free(changes);
  assert_ok(c, sloop_take_changes(c, &changes, NULL));
  assert_string_equal(changes, "[]");
  sloop_free(changes);
  world_close(&w);
}

static void only_the_machines_edges_are_allowed(void **state) {
  (void)state;
  /* local-only, syncing, synced, failed, modified-locally */
  static const int allowed[5][5] = {
      {1, 1, 0, 0, 0}, {0, 1, 1, 1, 0}, {0, 0, 1, 0, 1}, {0, 1, 1, 1, 0}, {0, 1, 0, 0, 1}};
  for (int from = 0; from < 5; from++)
    for (int to = 0; to < 5; to++)
      if (sloop_transition_allowed(from, to) != allowed[from][to])
        fail_msg("%s -> %s: allowed=%d", sloop_state_name(from), sloop_state_name(to), allowed[from][to]);
}

static void a_write_during_a_push_leaves_the_record_modified(void **state) {
  world w;
  world_open(&w, 1, 4, NULL);
  sloop_db *c = w.clients[0];
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"a\"}");
  world_sync(&w, 0);
  world_patch(&w, 0, NOTES, "n1", "{\"title\": \"b\"}");
  char *req = NULL, *resp = NULL, ctx[160];
  size_t rl = 0, sl = 0;
  assert_ok(c, sloop_push_begin(c, 10, &req, &rl));
  world_patch(&w, 0, NOTES, "n1", "{\"body\": \"while in flight\"}");
  world_ctx(&w, 0, ctx, sizeof(ctx));
  assert_ok(w.server, sloop_server_push(w.server, req, rl, ctx, strlen(ctx), &resp, &sl));
  assert_ok(c, sloop_push_end(c, resp, sl));
  assert_int_equal(world_state(c, NOTES, "n1"), SLOOP_STATE_MODIFIED);
  world_assert_doc(c, NOTES, "n1", "{\"body\":\"while in flight\",\"title\":\"b\"}");
  assert_int_equal(count_ops(c, "pending"), 1);
  sloop_free(req);
  sloop_free(resp);
  world_sync(&w, 0);
  world_assert_doc(w.server, NOTES, "n1", "{\"body\":\"while in flight\",\"title\":\"b\"}");
  world_close(&w);
}

/* ---------------------------------------------------------------- lost answers ------- */

static void a_lost_push_answer_is_recovered_and_nothing_counts_twice(void **state) {
  world w;
  world_open(&w, 1, 5, NULL);
  sloop_db *c = w.clients[0];
  world_put(&w, 0, NOTES, "n1", "{\"votes\": 1}");
  world_sync(&w, 0);
  world_patch(&w, 0, NOTES, "n1", "{\"votes\": {\"$inc\": 5}}");
  char *req = NULL, *resp = NULL, ctx[160];
  size_t rl = 0, sl = 0;
  assert_ok(c, sloop_push_begin(c, 10, &req, &rl));
  world_ctx(&w, 0, ctx, sizeof(ctx));
  assert_ok(w.server, sloop_server_push(w.server, req, rl, ctx, strlen(ctx), &resp, &sl));
  sloop_free(resp); /* the answer is lost on the way back */
  int64_t v = server_version(&w);
  /* A replay of the same request (a retry, or the service worker's queue) applies nothing. */
  assert_ok(w.server, sloop_server_push(w.server, req, rl, ctx, strlen(ctx), &resp, &sl));
  assert_int_equal(server_version(&w), v);
  sloop_free(resp);
  sloop_free(req);
  world_assert_doc(w.server, NOTES, "n1", "{\"votes\":6}");
  /* The client learns the outcome from its next pull, without pushing again. */
  world_pull(&w, 0);
  assert_int_equal(count_ops(c, NULL), 0);
  world_assert_doc(c, NOTES, "n1", "{\"votes\":6}");
  assert_int_equal(world_state(c, NOTES, "n1"), SLOOP_STATE_SYNCED);
  world_close(&w);
}

/* A push the server applied but whose answer timed out: push_fail marks the record failed;
** when the outcome arrives after all (by a pull, or as the late answer itself), nothing is
** left to retry and the record must not stay "failed" forever. Found by the simulation. */
static void a_timed_out_push_acknowledged_later_leaves_the_record_synced(void **state) {
  world w;
  world_open(&w, 1, 20, NULL);
  sloop_db *c = w.clients[0];
  char *req = NULL, *resp = NULL, ctx[160];
  size_t rl = 0, sl = 0;
  world_ctx(&w, 0, ctx, sizeof(ctx));
  for (int by_pull = 0; by_pull < 2; by_pull++) {
    const char *id = by_pull ? "n2" : "n1";
    world_put(&w, 0, NOTES, id, "{\"title\": \"a\"}");
    assert_ok(c, sloop_push_begin(c, 10, &req, &rl));
    assert_ok(w.server, sloop_server_push(w.server, req, rl, ctx, strlen(ctx), &resp, &sl));
    assert_ok(c, sloop_push_fail(c, "timeout"));
    assert_int_equal(world_state(c, NOTES, id), SLOOP_STATE_FAILED);
    if (by_pull) world_pull(&w, 0);
    else assert_ok(c, sloop_push_end(c, resp, sl));
    assert_int_equal(count_ops(c, NULL), 0);
    assert_int_equal(world_state(c, NOTES, id), SLOOP_STATE_SYNCED);
    sloop_free(req);
    sloop_free(resp);
  }
  world_close(&w);
}

/* Pushes device i's pending operations; the server applies them, but the answer is held back
** (returned, caller frees) and the device sees a timeout. The device then syncs: the batch goes
** again and is answered from the stored results. */
static char *push_with_late_answer(world *w, int i, size_t *len) {
  sloop_db *c = w->clients[i];
  char *req = NULL, *late = NULL, ctx[160];
  size_t rl = 0;
  world_ctx(w, i, ctx, sizeof(ctx));
  assert_ok(c, sloop_push_begin(c, 10, &req, &rl));
  assert_ok(w->server, sloop_server_push(w->server, req, rl, ctx, strlen(ctx), &late, len));
  assert_ok(c, sloop_push_fail(c, "timeout"));
  sloop_free(req);
  world_sync(w, i);
  return late;
}

/* The answer of a push that timed out arrives after the record was deleted and the device
** pulled the tombstone: its copy of the record is stale and must not bring it back. Found by
** the simulation. */
static void a_late_push_answer_does_not_resurrect_a_deleted_record(void **state) {
  world w;
  world_open(&w, 2, 21, NULL);
  sloop_db *c = w.clients[0];
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"a\"}");
  world_sync(&w, 0);
  world_pull(&w, 1);
  world_patch(&w, 0, NOTES, "n1", "{\"title\": \"b\"}");
  size_t ll = 0;
  char *late = push_with_late_answer(&w, 0, &ll);
  assert_ok(w.clients[1], sloop_delete(w.clients[1], S(NOTES), S("n1")));
  world_sync(&w, 1);
  world_pull(&w, 0);
  assert_null(world_get(c, NOTES, "n1"));
  assert_ok(c, sloop_push_end(c, late, ll));
  assert_null(world_get(c, NOTES, "n1"));
  sloop_free(late);
  world_close(&w);
}

/* The same with the record written again locally after the delete reached the device: the
** row holds only this device's write, no canonical copy, and the late answer's copy (older
** than the cursor, deleted since) must not become its base. Found by the simulation (seed
** 1796227654741: the device kept showing a record the server had deleted). */
static void a_late_push_answer_does_not_become_the_base_of_a_record_written_again(void **state) {
  world w;
  world_open(&w, 2, 23, NULL);
  sloop_db *c = w.clients[0];
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"a\", \"votes\": 5}");
  world_sync(&w, 0);
  world_pull(&w, 1);
  world_patch(&w, 0, NOTES, "n1", "{\"title\": \"b\"}");
  size_t ll = 0;
  char *late = push_with_late_answer(&w, 0, &ll);
  assert_ok(w.clients[1], sloop_delete(w.clients[1], S(NOTES), S("n1")));
  world_sync(&w, 1);
  world_pull(&w, 0);
  assert_null(world_get(c, NOTES, "n1"));
  world_put(&w, 0, NOTES, "n1", "{\"votes\": 1}");
  world_assert_doc(c, NOTES, "n1", "{\"votes\":1}");
  assert_ok(c, sloop_push_end(c, late, ll));
  world_assert_doc(c, NOTES, "n1", "{\"votes\":1}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  world_assert_doc(c, NOTES, "n1", "{\"votes\":1}");
  world_assert_doc(w.server, NOTES, "n1", "{\"votes\":1}");
  sloop_free(late);
  world_close(&w);
}

/* A device that pushed but never pulled holds the canonical records of its push answers; its
** first pull (cursor 0) must still tell it which of them were deleted since. Found by the
** simulation. */
static void a_first_pull_after_pushing_brings_the_deletes(void **state) {
  world w;
  world_open(&w, 2, 22, NULL);
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"a\"}");
  assert_int_equal(world_push(&w, 0), SLOOP_OK);
  world_pull(&w, 1);
  assert_ok(w.clients[1], sloop_delete(w.clients[1], S(NOTES), S("n1")));
  world_sync(&w, 1);
  world_pull(&w, 0);
  assert_null(world_get(w.clients[0], NOTES, "n1"));
  world_close(&w);
}

/* The last pending write of a record goes through in a delayed copy of an earlier batch and
** its outcome comes by a pull: the record must not stay "modified-locally" with nothing left
** to send. Found by the simulation. */
static void a_write_applied_through_a_delayed_batch_leaves_the_record_synced(void **state) {
  world w;
  world_open(&w, 1, 23, NULL);
  sloop_db *c = w.clients[0];
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"a\"}");
  world_sync(&w, 0);
  world_patch(&w, 0, NOTES, "n1", "{\"title\": \"b\"}");
  world_patch(&w, 0, NOTES, "n1", "{\"body\": \"c\"}");
  char *delayed = NULL, *req = NULL, *resp = NULL, ctx[160];
  size_t dl = 0, rl = 0, sl = 0;
  world_ctx(&w, 0, ctx, sizeof(ctx));
  assert_ok(c, sloop_push_begin(c, 10, &delayed, &dl));
  assert_ok(c, sloop_push_fail(c, "timeout"));
  assert_ok(c, sloop_push_begin(c, 1, &req, &rl));
  assert_ok(w.server, sloop_server_push(w.server, req, rl, ctx, strlen(ctx), &resp, &sl));
  assert_ok(c, sloop_push_end(c, resp, sl));
  assert_int_equal(world_state(c, NOTES, "n1"), SLOOP_STATE_MODIFIED);
  sloop_free(resp);
  assert_ok(w.server, sloop_server_push(w.server, delayed, dl, ctx, strlen(ctx), &resp, &sl));
  world_pull(&w, 0);
  assert_int_equal(count_ops(c, NULL), 0);
  assert_int_equal(world_state(c, NOTES, "n1"), SLOOP_STATE_SYNCED);
  world_assert_doc(c, NOTES, "n1", "{\"body\":\"c\",\"title\":\"b\"}");
  sloop_free(delayed);
  sloop_free(req);
  sloop_free(resp);
  world_close(&w);
}

static void an_unanswered_batch_is_sent_again_unchanged(void **state) {
  world w;
  world_open(&w, 1, 6, NULL);
  sloop_db *c = w.clients[0];
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"x\"}");
  char *first = NULL, *second = NULL;
  assert_ok(c, sloop_push_begin(c, 10, &first, NULL));
  /* The tab crashed before an answer arrived; on restart the same batch goes first. */
  assert_ok(c, sloop_push_begin(c, 10, &second, NULL));
  assert_string_equal(first, second);
  sloop_free(first);
  sloop_free(second);
  world_close(&w);
}

/* ---------------------------------------------------------------- policies ----------- */

static void concurrent_edits_merge_per_field_and_per_type(void **state) {
  world w;
  world_open(&w, 2, 7, NULL);
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"t\", \"body\": \"b\", \"tags\": [\"a\"], \"votes\": 1}");
  world_sync(&w, 0);
  world_pull(&w, 1);
  /* Both offline: different text fields, tags added on both sides, votes on both sides. */
  world_patch(&w, 0, NOTES, "n1", "{\"title\": \"title from 0\", \"tags\": {\"$add\": [\"x\"]}, \"votes\": {\"$inc\": 2}}");
  world_tick(&w, 10);
  world_patch(&w, 1, NOTES, "n1", "{\"body\": \"body from 1\", \"tags\": {\"$add\": [\"y\"], \"$remove\": [\"a\"]}, \"votes\": {\"$inc\": 3}}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  world_sync(&w, 0);
  const char *want = "{\"body\":\"body from 1\",\"tags\":[\"x\",\"y\"],\"title\":\"title from 0\",\"votes\":6}";
  world_assert_doc(w.server, NOTES, "n1", want);
  world_assert_doc(w.clients[0], NOTES, "n1", want);
  world_assert_doc(w.clients[1], NOTES, "n1", want);
  world_close(&w);
}

/* One pulled page with a new record first (stored without a look-up), then stored ones (one
** synced, one with a write not yet pushed: rebased), then new ones again: each as it should. */
static void a_page_of_new_and_stored_records_applies_each_its_way(void **state) {
  world w;
  world_open(&w, 2, 7, NULL);
  world_put(&w, 0, NOTES, "n2", "{\"title\": \"two\"}");
  world_put(&w, 0, NOTES, "n3", "{\"title\": \"three\", \"votes\": 1}");
  world_sync(&w, 0);
  world_pull(&w, 1);
  world_put(&w, 0, NOTES, "n4", "{\"title\": \"four\"}");
  world_patch(&w, 0, NOTES, "n2", "{\"title\": \"two again\"}");
  world_patch(&w, 0, NOTES, "n3", "{\"votes\": {\"$inc\": 2}}");
  world_put(&w, 0, NOTES, "n5", "{\"title\": \"five\"}");
  world_sync(&w, 0);
  world_patch(&w, 1, NOTES, "n3", "{\"body\": \"from 1\", \"votes\": {\"$inc\": 10}}");
  world_pull(&w, 1);
  world_assert_doc(w.clients[1], NOTES, "n4", "{\"title\":\"four\"}");
  world_assert_doc(w.clients[1], NOTES, "n2", "{\"title\":\"two again\"}");
  world_assert_doc(w.clients[1], NOTES, "n3", "{\"body\":\"from 1\",\"title\":\"three\",\"votes\":13}");
  world_assert_doc(w.clients[1], NOTES, "n5", "{\"title\":\"five\"}");
  assert_int_equal(count_ops(w.clients[1], "pending"), 1);
  world_sync(&w, 1);
  world_sync(&w, 0);
  const char *ids[] = {"n2", "n3", "n4", "n5"};
  for (int k = 0; k < 4; k++) {
    char *want = world_get(w.server, NOTES, ids[k]);
    world_assert_doc(w.clients[0], NOTES, ids[k], want);
    world_assert_doc(w.clients[1], NOTES, ids[k], want);
    sloop_free(want);
  }
  world_close(&w);
}

static void add_wins_over_a_concurrent_remove(void **state) {
  world w;
  world_open(&w, 2, 8, NULL);
  world_put(&w, 0, NOTES, "n1", "{\"tags\": [\"urgent\"]}");
  world_sync(&w, 0);
  world_pull(&w, 1);
  world_patch(&w, 0, NOTES, "n1", "{\"tags\": {\"$remove\": [\"urgent\"]}}");
  world_patch(&w, 1, NOTES, "n1", "{\"tags\": {\"$add\": [\"urgent\"]}}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  world_sync(&w, 0);
  world_assert_doc(w.server, NOTES, "n1", "{\"tags\":[\"urgent\"]}");
  world_assert_doc(w.clients[0], NOTES, "n1", "{\"tags\":[\"urgent\"]}");
  world_close(&w);
}

static void first_writer_wins_and_the_loser_is_reported(void **state) {
  world w;
  world_open(&w, 2, 9, NULL);
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"t\"}");
  world_sync(&w, 0);
  world_pull(&w, 1);
  world_patch(&w, 0, NOTES, "n1", "{\"createdBy\": \"ann\"}");
  world_patch(&w, 1, NOTES, "n1", "{\"createdBy\": \"bob\", \"title\": \"t2\"}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  world_assert_doc(w.server, NOTES, "n1", "{\"createdBy\":\"ann\",\"title\":\"t\"}");
  /* Client 1's write is kept as failed with the reason, its record shows "failed". */
  assert_int_equal(count_ops(w.clients[1], "failed"), 1);
  assert_int_equal(world_state(w.clients[1], NOTES, "n1"), SLOOP_STATE_FAILED);
  char *ops = NULL;
  assert_ok(w.clients[1], sloop_ops(w.clients[1], "failed", &ops, NULL));
  assert_non_null(strstr(ops, "immutable"));
  cJSON *arr = cJSON_Parse(ops);
  char id[96];
  snprintf(id, sizeof(id), "%s", cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "id")->valuestring);
  cJSON_Delete(arr);
  sloop_free(ops);
  /* The local view already shows the canonical state, not the refused write. */
  world_assert_doc(w.clients[1], NOTES, "n1", "{\"createdBy\":\"ann\",\"title\":\"t\"}");
  assert_ok(w.clients[1], sloop_discard(w.clients[1], id));
  assert_int_equal(count_ops(w.clients[1], NULL), 0);
  assert_int_equal(world_state(w.clients[1], NOTES, "n1"), SLOOP_STATE_SYNCED);
  world_close(&w);
}

static void a_manual_field_keeps_both_sides_until_resolved(void **state) {
  world w;
  world_open(&w, 2, 10, NULL);
  world_put(&w, 0, NOTES, "n1", "{\"status\": \"open\"}");
  world_sync(&w, 0);
  world_pull(&w, 1);
  world_patch(&w, 0, NOTES, "n1", "{\"status\": \"done\"}");
  world_patch(&w, 1, NOTES, "n1", "{\"status\": \"blocked\", \"title\": \"kept\"}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  world_sync(&w, 0);
  /* Nothing is overwritten: the first value stands, the other field of the write applies. */
  world_assert_doc(w.server, NOTES, "n1", "{\"status\":\"done\",\"title\":\"kept\"}");
  char *conflicts = NULL;
  for (int i = 0; i < 2; i++) {
    assert_ok(w.clients[i], sloop_conflicts(w.clients[i], 1, &conflicts, NULL));
    assert_non_null(strstr(conflicts, "\"server\":\"done\""));
    assert_non_null(strstr(conflicts, "\"incoming\":\"blocked\""));
    sloop_free(conflicts);
  }
  assert_ok(w.clients[0], sloop_conflicts(w.clients[0], 1, &conflicts, NULL));
  cJSON *arr = cJSON_Parse(conflicts);
  int64_t cid = (int64_t)cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "id")->valuedouble;
  cJSON_Delete(arr);
  sloop_free(conflicts);
  assert_ok(w.clients[0], sloop_resolve(w.clients[0], cid, S("\"blocked\"")));
  world_sync(&w, 0);
  world_sync(&w, 1);
  world_assert_doc(w.server, NOTES, "n1", "{\"status\":\"blocked\",\"title\":\"kept\"}");
  world_assert_doc(w.clients[1], NOTES, "n1", "{\"status\":\"blocked\",\"title\":\"kept\"}");
  for (int i = 0; i < 2; i++) {
    assert_ok(w.clients[i], sloop_conflicts(w.clients[i], 1, &conflicts, NULL));
    assert_string_equal(conflicts, "[]");
    sloop_free(conflicts);
  }
  world_close(&w);
}

/* How many conflicts a device still shows as open ("resolving" included). */
static int open_conflicts(sloop_db *db) {
  char *out = NULL;
  assert_ok(db, sloop_conflicts(db, 1, &out, NULL));
  cJSON *arr = cJSON_Parse(out);
  int n = cJSON_GetArraySize(arr);
  cJSON_Delete(arr);
  sloop_free(out);
  return n;
}

/* A resolution reaches a device by many paths: the answer to its own resolve (first lost,
** then the batch sent again and answered from the stored result), a pull, and copies of the
** conflict older than what the device holds (a pull answer delivered late, a push answer
** delivered late). Each must leave the conflict closed, whatever arrives after it. Found by
** the simulation (seeds 1796222890298 and 1796222890351: a late pull answer reopened it). */
static void a_resolution_closes_the_conflict_on_every_path(void **state) {
  world w;
  world_open(&w, 2, 31, NULL);
  sloop_db *c0 = w.clients[0], *c1 = w.clients[1];
  char ctx0[160], ctx1[160];
  world_ctx(&w, 0, ctx0, sizeof(ctx0));
  world_ctx(&w, 1, ctx1, sizeof(ctx1));
  world_put(&w, 0, NOTES, "n1", "{\"status\": \"open\"}");
  world_sync(&w, 0);
  world_pull(&w, 1);
  world_patch(&w, 0, NOTES, "n1", "{\"status\": \"done\"}");
  world_sync(&w, 0);
  world_patch(&w, 1, NOTES, "n1", "{\"status\": \"blocked\"}");
  /* Device 1's write opens the conflict; its answer is delayed, the device times out. */
  char *req = NULL, *late_push = NULL, *late_pull = NULL;
  size_t rl = 0, lpl = 0, lql = 0;
  assert_ok(c1, sloop_push_begin(c1, 10, &req, &rl));
  assert_ok(w.server, sloop_server_push(w.server, req, rl, ctx1, strlen(ctx1), &late_push, &lpl));
  assert_ok(c1, sloop_push_fail(c1, "timeout"));
  sloop_free(req);
  /* A pull answer of device 1 that shows the conflict open is delayed too. */
  assert_ok(c1, sloop_pull_request(c1, 50, NULL, 0, &req, &rl));
  assert_ok(w.server, sloop_server_pull(w.server, req, rl, ctx1, strlen(ctx1), &late_pull, &lql));
  sloop_free(req);
  assert_non_null(strstr(late_pull, "\"status\":\"open\""));
  /* Device 0 resolves; the answer is lost, the batch goes again and is answered from the
  ** stored result: that answer alone closes the conflict there, before any pull. */
  world_pull(&w, 0);
  assert_int_equal(open_conflicts(c0), 1);
  char *list = NULL;
  assert_ok(c0, sloop_conflicts(c0, 1, &list, NULL));
  cJSON *arr = cJSON_Parse(list);
  int64_t cid = (int64_t)cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "id")->valuedouble;
  cJSON_Delete(arr);
  sloop_free(list);
  assert_ok(c0, sloop_resolve(c0, cid, S("\"blocked\"")));
  char *lost = NULL;
  size_t ll = 0;
  assert_ok(c0, sloop_push_begin(c0, 10, &req, &rl));
  assert_ok(w.server, sloop_server_push(w.server, req, rl, ctx0, strlen(ctx0), &lost, &ll));
  assert_ok(c0, sloop_push_fail(c0, "network"));
  sloop_free(req);
  sloop_free(lost);
  assert_int_equal(open_conflicts(c0), 1); /* "resolving": not yet confirmed */
  assert_int_equal(world_push(&w, 0), SLOOP_OK);
  assert_int_equal(open_conflicts(c0), 0);
  /* Device 1 learns it by a pull; then the stale copies arrive and change nothing. */
  world_pull(&w, 1);
  assert_int_equal(open_conflicts(c1), 0);
  int more = 0;
  assert_ok(c1, sloop_pull_apply(c1, late_pull, lql, &more));
  assert_int_equal(open_conflicts(c1), 0);
  assert_ok(c1, sloop_push_end(c1, late_push, lpl));
  assert_int_equal(open_conflicts(c1), 0);
  world_sync(&w, 1);
  world_sync(&w, 0);
  assert_int_equal(open_conflicts(c0), 0);
  assert_int_equal(open_conflicts(c1), 0);
  world_assert_doc(c1, NOTES, "n1", "{\"status\":\"blocked\"}");
  sloop_free(late_push);
  sloop_free(late_pull);
  world_close(&w);
}

/* The status device `db` shows for its only conflict. */
static const char *conflict_status(sloop_db *db, char *buf, size_t len) {
  char *out = NULL;
  assert_ok(db, sloop_conflicts(db, 0, &out, NULL));
  cJSON *arr = cJSON_Parse(out);
  assert_int_equal(cJSON_GetArraySize(arr), 1);
  snprintf(buf, len, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "status")));
  cJSON_Delete(arr);
  sloop_free(out);
  return buf;
}

/* A resolution the server refuses leaves the conflict open there, so the device must not
** show it as being resolved: it reopens, a retry makes it "resolving" again, and after a
** discard the user can decide again. */
static void a_refused_resolution_reopens_the_conflict(void **state) {
  world w;
  world_open(&w, 2, 32, NULL);
  sloop_db *c1 = w.clients[1];
  char ctx[200], buf[32];
  world_put(&w, 0, NOTES, "n1", "{\"status\": \"open\"}");
  world_sync(&w, 0);
  world_pull(&w, 1);
  world_patch(&w, 0, NOTES, "n1", "{\"status\": \"done\"}");
  world_sync(&w, 0);
  world_patch(&w, 1, NOTES, "n1", "{\"status\": \"blocked\"}");
  world_sync(&w, 1);
  assert_string_equal(conflict_status(c1, buf, sizeof(buf)), "open");
  char *list = NULL;
  assert_ok(c1, sloop_conflicts(c1, 1, &list, NULL));
  cJSON *arr = cJSON_Parse(list);
  int64_t cid = (int64_t)cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "id")->valuedouble;
  cJSON_Delete(arr);
  sloop_free(list);
  assert_ok(c1, sloop_resolve(c1, cid, S("\"blocked\"")));
  assert_string_equal(conflict_status(c1, buf, sizeof(buf)), "resolving");
  /* The user may no longer write: the server refuses the resolve. */
  snprintf(ctx, sizeof(ctx), "{\"user\": \"u1\", \"device\": \"%s\", \"perms\": {\"write\": [\"other\"], \"read\": \"*\"}}",
           sloop_device(c1));
  for (int round = 0; round < 2; round++) {
    char *req = NULL, *resp = NULL;
    size_t rl = 0, sl = 0;
    assert_ok(c1, sloop_push_begin(c1, 10, &req, &rl));
    assert_ok(w.server, sloop_server_push(w.server, req, rl, ctx, strlen(ctx), &resp, &sl));
    assert_non_null(strstr(resp, "\"code\":\"denied\""));
    assert_ok(c1, sloop_push_end(c1, resp, sl));
    sloop_free(req);
    sloop_free(resp);
    assert_string_equal(conflict_status(c1, buf, sizeof(buf)), "open");
    if (round == 0) {
      assert_ok(c1, sloop_retry(c1, NULL));
      assert_string_equal(conflict_status(c1, buf, sizeof(buf)), "resolving");
    }
  }
  char *ops = NULL;
  assert_ok(c1, sloop_ops(c1, "failed", &ops, NULL));
  arr = cJSON_Parse(ops);
  char id[96];
  snprintf(id, sizeof(id), "%s", cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "id")->valuestring);
  cJSON_Delete(arr);
  sloop_free(ops);
  assert_ok(c1, sloop_discard(c1, id));
  assert_string_equal(conflict_status(c1, buf, sizeof(buf)), "open");
  /* Allowed again, the user decides again, and the decision reaches everyone. */
  assert_ok(c1, sloop_resolve(c1, cid, S("\"done\"")));
  world_sync(&w, 1);
  world_sync(&w, 0);
  assert_string_equal(conflict_status(c1, buf, sizeof(buf)), "resolved");
  assert_string_equal(conflict_status(w.clients[0], buf, sizeof(buf)), "resolved");
  world_assert_doc(w.server, NOTES, "n1", "{\"status\":\"done\"}");
  world_close(&w);
}

/* A custom merge that joins two strings with " | " in byte order, so it is deterministic. */
static int join_merge(void *ctx, const char *coll, const char *field, const char *current,
                      const char *incoming, char **out) {
  (void)ctx;
  (void)coll;
  (void)field;
  if (!current || !incoming) return 1;
  const char *a = strcmp(current, incoming) < 0 ? current : incoming;
  const char *b = a == current ? incoming : current;
  size_t n = strlen(a) + strlen(b) + 8;
  *out = malloc(n);
  /* Both are JSON strings: strip the quotes and join. */
  snprintf(*out, n, "%.*s | %s", (int)strlen(a) - 1, a, b + 1);
  return 0;
}

static void a_custom_merge_decides_concurrent_values(void **state) {
  world w;
  world_open(&w, 2, 11, NULL);
  sloop_set_merge(w.server, join_merge, NULL);
  world_put(&w, 0, NOTES, "n1", "{\"layout\": \"grid\"}");
  world_sync(&w, 0);
  world_pull(&w, 1);
  world_patch(&w, 0, NOTES, "n1", "{\"layout\": \"list\"}");
  world_patch(&w, 1, NOTES, "n1", "{\"layout\": \"cards\"}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  world_sync(&w, 0);
  world_assert_doc(w.server, NOTES, "n1", "{\"layout\":\"cards | list\"}");
  world_assert_doc(w.clients[0], NOTES, "n1", "{\"layout\":\"cards | list\"}");
  world_close(&w);
}

static void delete_wins_over_a_concurrent_patch_and_a_later_put_recreates(void **state) {
  world w;
  world_open(&w, 2, 12, NULL);
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"t\"}");
  world_sync(&w, 0);
  world_pull(&w, 1);
  assert_ok(w.clients[0], sloop_delete(w.clients[0], S(NOTES), S("n1")));
  world_patch(&w, 1, NOTES, "n1", "{\"title\": \"edited\"}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  char *doc = world_get(w.server, NOTES, "n1");
  assert_null(doc);
  assert_null(world_get(w.clients[1], NOTES, "n1"));
  assert_int_equal(count_ops(w.clients[1], "failed"), 1); /* visible, not silently lost */
  world_tick(&w, 100);
  world_put(&w, 1, NOTES, "n2", "{\"title\": \"other\"}");
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"again\"}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  world_assert_doc(w.clients[1], NOTES, "n1", "{\"title\":\"again\"}");
  world_close(&w);
}

/* ---------------------------------------------------------------- clocks and auth ---- */

static void a_clock_far_ahead_is_clamped_or_rejected_by_policy(void **state) {
  world w;
  world_open(&w, 2, 13, NULL);
  w.client_env[1].now += 3LL * 3600 * 1000; /* three hours fast */
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"t\"}");
  world_sync(&w, 0);
  world_pull(&w, 1);
  world_patch(&w, 1, NOTES, "n1", "{\"title\": \"from the future\"}");
  world_sync(&w, 1);
  world_tick(&w, 1000);
  /* Clamped: re-stamped with server time, so an honest later write still wins. */
  world_patch(&w, 0, NOTES, "n1", "{\"title\": \"honest and later\"}");
  world_sync(&w, 0);
  world_assert_doc(w.server, NOTES, "n1", "{\"title\":\"honest and later\"}");
  world_close(&w);

  const char *reject = "{\"collections\": {\"notes\": {\"strict\": false}}, \"maxDriftMs\": 60000, \"driftPolicy\": \"reject\"}";
  world_open(&w, 1, 14, reject);
  w.client_env[0].now += 120000;
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"t\"}");
  world_sync(&w, 0);
  assert_int_equal(count_ops(w.clients[0], "failed"), 1);
  char *ops = NULL;
  assert_ok(w.clients[0], sloop_ops(w.clients[0], "failed", &ops, NULL));
  assert_non_null(strstr(ops, "drift"));
  sloop_free(ops);
  world_close(&w);
}

static void a_push_replayed_by_another_user_applies_nothing(void **state) {
  world w;
  world_open(&w, 1, 15, NULL);
  world_put(&w, 0, NOTES, "n1", "{\"votes\": 1}");
  char *req = NULL, *resp = NULL, ctx[160];
  size_t rl = 0, sl = 0;
  sloop_db *c = w.clients[0];
  assert_ok(c, sloop_push_begin(c, 10, &req, &rl));
  world_ctx(&w, 0, ctx, sizeof(ctx));
  assert_ok(w.server, sloop_server_push(w.server, req, rl, ctx, strlen(ctx), &resp, &sl));
  assert_ok(c, sloop_push_end(c, resp, sl));
  sloop_free(resp);
  int64_t v = server_version(&w);
  char other[160];
  snprintf(other, sizeof(other), "{\"user\": \"mallory\", \"device\": \"%s\"}", sloop_device(c));
  /* The device is u0's: another user's push from it is refused whole, with its own code (the
  ** client then asks for a sign-in on a database of its own, see docs/CLIENT.md). */
  assert_int_equal(sloop_server_push(w.server, req, rl, other, strlen(other), &resp, &sl), SLOOP_DEVICE);
  assert_int_equal(server_version(&w), v);
  /* Nor may mallory spend the device's next operation ids before it does. */
  char *ahead = NULL;
  size_t al = 0;
  world_put(&w, 0, NOTES, "n2", "{\"votes\": 2}");
  assert_ok(c, sloop_push_begin(c, 10, &ahead, &al));
  assert_int_equal(sloop_server_push(w.server, ahead, al, other, strlen(other), &resp, &sl), SLOOP_DEVICE);
  assert_int_equal(server_version(&w), v);
  assert_ok(w.server, sloop_server_push(w.server, ahead, al, ctx, strlen(ctx), &resp, &sl));
  assert_non_null(strstr(resp, "\"applied\""));
  assert_int_equal(server_version(&w), v + 1);
  sloop_free(resp);
  sloop_free(ahead);
  /* Under another device id the operation ids do not match the device: refused whole. */
  snprintf(other, sizeof(other), "{\"user\": \"u0\", \"device\": \"otherdevice\"}");
  assert_int_equal(sloop_server_push(w.server, req, rl, other, strlen(other), &resp, &sl), SLOOP_DENIED);
  sloop_free(req);
  world_close(&w);
}

static void permissions_and_step_up_are_checked_on_every_push(void **state) {
  world w;
  world_open(&w, 1, 16, NULL);
  sloop_db *c = w.clients[0];
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"t\"}");
  char *req = NULL, *resp = NULL, ctx[200];
  size_t rl = 0, sl = 0;
  assert_ok(c, sloop_push_begin(c, 10, &req, &rl));
  snprintf(ctx, sizeof(ctx), "{\"user\": \"u0\", \"device\": \"%s\", \"perms\": {\"write\": [\"other\"], \"read\": \"*\"}}", sloop_device(c));
  assert_ok(w.server, sloop_server_push(w.server, req, rl, ctx, strlen(ctx), &resp, &sl));
  assert_non_null(strstr(resp, "\"code\":\"denied\""));
  assert_ok(c, sloop_push_end(c, resp, sl));
  assert_int_equal(count_ops(c, "failed"), 1);
  assert_null(world_get(w.server, NOTES, "n1"));
  sloop_free(req);
  sloop_free(resp);
  world_close(&w);
}

/* ---------------------------------------------------------------- server input ------- */

static void bad_push_bodies_get_errors_and_change_nothing(void **state) {
  world w;
  world_open(&w, 1, 17, NULL);
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"t\"}");
  world_sync(&w, 0);
  int64_t v = server_version(&w);
  char ctx[160], body[600];
  world_ctx(&w, 0, ctx, sizeof(ctx));
  const char *dev = sloop_device(w.clients[0]);
  /* Only a batch whose structure is broken is refused whole: no op id to answer under. */
  struct { const char *body; int rc; } cases[] = {
      {"{not json", SLOOP_JSON},
      {"[]", SLOOP_INVALID},
      {"{\"v\": 3, \"device\": \"%s\", \"ops\": []}", SLOOP_INVALID},
      {"{\"v\": 1, \"device\": \"%s\", \"ops\": {}}", SLOOP_INVALID},
      {"{\"v\": 1, \"device\": \"%s\", \"ops\": [7]}", SLOOP_INVALID},
      {"{\"v\": 1, \"device\": \"%s\", \"ops\": [{\"type\": \"put\", \"coll\": \"notes\", \"rid\": \"n9\"}]}", SLOOP_INVALID},
      {"{\"v\": 1, \"device\": \"%s\", \"ops\": [{\"id\": \"other:9\", \"type\": \"put\", \"coll\": \"notes\", \"rid\": \"n9\","
       " \"hlc\": \"0192f3a4b5c6-0000-00000000000000d7\", \"payload\": {}}]}", SLOOP_INVALID},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    snprintf(body, sizeof(body), cases[i].body, dev, dev);
    char *resp = NULL;
    size_t sl = 0;
    int rc = sloop_server_push(w.server, body, strlen(body), ctx, strlen(ctx), &resp, &sl);
    if (rc != cases[i].rc) fail_msg("case %zu: %s (%s), want %s", i, sloop_errstr(rc), sloop_errmsg(w.server), sloop_errstr(cases[i].rc));
    assert_null(resp);
  }
  /* Invalid UTF-8 in a string. */
  snprintf(body, sizeof(body), "{\"v\": 1, \"device\": \"%s\", \"ops\": [], \"x\": \"\xc3\x28\"}", dev);
  char *resp = NULL;
  assert_int_equal(sloop_server_push(w.server, body, strlen(body), ctx, strlen(ctx), &resp, NULL), SLOOP_JSON);
  assert_int_equal(server_version(&w), v);
  /* A cursor from the future. */
  snprintf(body, sizeof(body), "{\"v\": 1, \"device\": \"%s\", \"cursor\": 999999}", dev);
  assert_int_equal(sloop_server_pull(w.server, body, strlen(body), ctx, strlen(ctx), &resp, NULL), SLOOP_CURSOR);
  world_close(&w);
}

/* Everything decidable per operation is answered per operation, and the rest of the batch
** applies: one op the server cannot take never refuses the request. */
static void bad_operations_are_rejected_one_by_one(void **state) {
  world w;
  world_open(&w, 1, 27, NULL);
  char ctx[160], body[2000];
  world_ctx(&w, 0, ctx, sizeof(ctx));
  const char *d = sloop_device(w.clients[0]);
  const char *hlc = "0192f3a4b5c6-0000-00000000000000d7";
  snprintf(body, sizeof(body),
           "{\"v\": 1, \"device\": \"%s\", \"ops\": ["
           "{\"id\": \"%s:1\", \"type\": \"put\", \"coll\": \"notes\", \"rid\": \"n9\", \"hlc\": \"bad\", \"payload\": {}},"
           "{\"id\": \"%s:2\", \"type\": \"put\", \"coll\": \"lists\", \"rid\": \"l1\", \"hlc\": \"%s\", \"payload\": {}},"
           "{\"id\": \"%s:3\", \"type\": \"put\", \"coll\": \"notes\", \"rid\": \"n9\", \"hlc\": \"%s\", \"payload\": {\"votes\": {\"set\": 1}}},"
           "{\"id\": \"%s:4\", \"type\": \"put\", \"coll\": \"notes\", \"rid\": \"n9\", \"hlc\": \"%s\", \"payload\": {\"a'b\": {\"set\": 1}}},"
           "{\"id\": \"%s:5\", \"type\": \"put\", \"coll\": \"notes\", \"rid\": \"\", \"hlc\": \"%s\", \"payload\": {}},"
           "{\"id\": \"%s:6\", \"type\": \"jump\", \"coll\": \"notes\", \"rid\": \"n9\", \"hlc\": \"%s\", \"payload\": {}},"
           "{\"id\": \"%s:7\", \"type\": \"put\", \"coll\": \"notes\", \"rid\": \"ok1\", \"hlc\": \"%s\", \"payload\": {\"title\": {\"set\": \"t\"}}}"
           "]}",
           d, d, d, hlc, d, hlc, d, hlc, d, hlc, d, hlc, d, hlc);
  char *resp = NULL;
  size_t sl = 0;
  assert_ok(w.server, sloop_server_push(w.server, body, strlen(body), ctx, strlen(ctx), &resp, &sl));
  cJSON *answer = cJSON_Parse(resp);
  const cJSON *results = cJSON_GetObjectItem(answer, "results");
  assert_int_equal(cJSON_GetArraySize(results), 7);
  const char *want[] = {"invalid", "schema", "schema", "invalid", "invalid", "invalid", NULL};
  for (int i = 0; i < 7; i++) {
    const cJSON *r = cJSON_GetArrayItem(results, i);
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(r, "status"));
    const char *code = cJSON_GetStringValue(cJSON_GetObjectItem(r, "code"));
    if (want[i] ? strcmp(status, "rejected") != 0 || !code || strcmp(code, want[i]) != 0 : strcmp(status, "applied") != 0)
      fail_msg("op %d: %s %s, want %s", i + 1, status, code ? code : "", want[i] ? want[i] : "applied");
  }
  assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(results, 1), "message")), "unknown collection 'lists'"));
  char *doc = world_server_doc(&w, NOTES, "ok1");
  assert_non_null(doc);
  sloop_free(doc);
  /* Replayed: the same answers, nothing applied twice. */
  char *again = NULL;
  int64_t v = server_version(&w);
  assert_ok(w.server, sloop_server_push(w.server, body, strlen(body), ctx, strlen(ctx), &again, NULL));
  cJSON *second = cJSON_Parse(again);
  for (int i = 0; i < 6; i++)
    assert_true(cJSON_Compare(cJSON_GetArrayItem(results, i), cJSON_GetArrayItem(cJSON_GetObjectItem(second, "results"), i), 1));
  assert_int_equal(server_version(&w), v);
  /* An operation that does not parse under an id answered before gets that answer, and
  ** nothing else (it names no record to send back). */
  char *third = NULL;
  snprintf(body, sizeof(body),
           "{\"v\": 1, \"device\": \"%s\", \"ops\": [{\"id\": \"%s:7\", \"type\": \"jump\", \"hlc\": \"%s\"}]}", d, d, hlc);
  assert_ok(w.server, sloop_server_push(w.server, body, strlen(body), ctx, strlen(ctx), &third, NULL));
  assert_non_null(strstr(third, "\"status\":\"applied\""));
  assert_non_null(strstr(third, "\"records\":[]"));
  assert_int_equal(server_version(&w), v);
  sloop_free(third);
  cJSON_Delete(second);
  cJSON_Delete(answer);
  sloop_free(again);
  sloop_free(resp);
  world_close(&w);
}

/* Repro A: a client schema with a collection (and a field) the server lacks. The op on it
** fails with `schema`, the next write goes through; once the server's schema has it, a retry
** (under a new id: the old one is remembered as rejected) applies; a discard of a record the
** server never saw removes it locally. */
static void a_schema_mismatch_fails_one_op_and_the_rest_syncs(void **state) {
  world w;
  world_open(&w, 1, 28, NULL);
  const char *client = "{\"collections\": {\"notes\": {\"fields\": {\"title\": \"lww\", \"colour\": \"lww\"}},"
                       " \"lists\": {\"fields\": {\"name\": \"lww\"}}}}";
  const char *server = "{\"collections\": {\"notes\": {\"strict\": true, \"fields\": {\"title\": \"lww\"}}}}";
  const char *server2 = "{\"collections\": {\"notes\": {\"strict\": true, \"fields\": {\"title\": \"lww\"}},"
                        " \"lists\": {\"fields\": {\"name\": \"lww\"}}}}";
  assert_ok(w.clients[0], sloop_set_schema(w.clients[0], client, strlen(client)));
  assert_ok(w.server, sloop_set_schema(w.server, server, strlen(server)));
  assert_ok(w.clients[0], sloop_put(w.clients[0], S("lists"), S("l1"), S("{\"name\": \"groceries\"}")));
  world_put(&w, 0, NOTES, "ok1", "{\"title\": \"milk\"}");
  world_put(&w, 0, NOTES, "x1", "{\"title\": \"eggs\", \"colour\": \"red\"}");
  world_sync(&w, 0);
  sloop_db *c = w.clients[0];
  assert_int_equal(count_ops(c, "failed"), 2);
  assert_int_equal(count_ops(c, "pending"), 0);
  assert_int_equal(world_state(c, NOTES, "ok1"), SLOOP_STATE_SYNCED);
  assert_int_equal(world_state(c, "lists", "l1"), SLOOP_STATE_FAILED);
  assert_int_equal(world_state(c, NOTES, "x1"), SLOOP_STATE_FAILED);
  char *ops = NULL;
  assert_ok(c, sloop_ops(c, "failed", &ops, NULL));
  assert_non_null(strstr(ops, "schema: unknown collection 'lists'"));
  assert_non_null(strstr(ops, "schema: unknown field 'colour'"));
  cJSON *failed = cJSON_Parse(ops);
  const char *lists_op = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(failed, 0), "id"));
  const char *x1_op = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(failed, 1), "id"));
  char *ok1 = world_server_doc(&w, NOTES, "ok1");
  assert_non_null(ok1);
  /* Discard the one on a record the server never saw: the record goes. */
  assert_ok(c, sloop_discard(c, x1_op));
  assert_int_equal(world_state(c, NOTES, "x1"), -1);
  /* The server learns `lists`: a retry goes through under a new id. */
  assert_ok(w.server, sloop_set_schema(w.server, server2, strlen(server2)));
  assert_ok(c, sloop_retry(c, lists_op));
  world_sync(&w, 0);
  assert_int_equal(count_ops(c, "failed"), 0);
  assert_int_equal(world_state(c, "lists", "l1"), SLOOP_STATE_SYNCED);
  char *l1 = world_server_doc(&w, "lists", "l1");
  assert_non_null(l1);
  sloop_free(l1);
  sloop_free(ok1);
  cJSON_Delete(failed);
  sloop_free(ops);
  world_close(&w);
}

/* A push refused whole (the client cannot tell which op is at fault) is narrowed by the core:
** halves in log order, then the one left fails with the refusal's code; the rest goes on. */
static void a_refused_batch_is_narrowed_to_the_op_at_fault(void **state) {
  world w;
  world_open(&w, 1, 29, NULL);
  sloop_db *c = w.clients[0];
  char rid[8];
  for (int k = 0; k < 7; k++) {
    snprintf(rid, sizeof(rid), "n%d", k);
    world_put(&w, 0, NOTES, rid, "{\"title\": \"t\"}");
  }
  char bad[96];
  snprintf(bad, sizeof(bad), "\"%s:5\"", sloop_device(c)); /* the op of n4 (ids start at 1) */
  char ctx[160];
  world_ctx(&w, 0, ctx, sizeof(ctx));
  int refusals = 0, requests = 0;
  for (int guard = 0; guard < 50; guard++) {
    char *req = NULL, *resp = NULL;
    size_t rl = 0, sl = 0;
    assert_ok(c, sloop_push_begin(c, 100, &req, &rl));
    if (!req) break;
    requests++;
    if (strstr(req, bad)) {
      /* A proxy (or a server rule) refuses any request holding that op. */
      int left = -1;
      assert_ok(c, sloop_push_refused(c, "toobig", "request entity too large", &left));
      refusals++;
      char *inflight = NULL;
      assert_ok(c, sloop_ops(c, "syncing", &inflight, NULL));
      cJSON *arr = cJSON_Parse(inflight);
      assert_int_equal(cJSON_GetArraySize(arr), left);
      cJSON_Delete(arr);
      sloop_free(inflight);
    } else {
      assert_ok(w.server, sloop_server_push(w.server, req, rl, ctx, strlen(ctx), &resp, &sl));
      assert_ok(c, sloop_push_end(c, resp, sl));
    }
    sloop_free(req);
    sloop_free(resp);
  }
  world_pull(&w, 0);
  assert_int_equal(count_ops(c, "pending") + count_ops(c, "syncing"), 0);
  assert_int_equal(count_ops(c, "failed"), 1);
  assert_true(refusals <= 4); /* 7 -> 4 -> 2 -> 1 at most, then it fails */
  char *ops = NULL;
  assert_ok(c, sloop_ops(c, "failed", &ops, NULL));
  assert_non_null(strstr(ops, bad));
  assert_non_null(strstr(ops, "\"lastError\":\"toobig: request entity too large\""));
  sloop_free(ops);
  assert_int_equal(world_state(c, NOTES, "n4"), SLOOP_STATE_FAILED);
  for (int k = 0; k < 7; k++) {
    snprintf(rid, sizeof(rid), "n%d", k);
    char *doc = world_server_doc(&w, NOTES, rid);
    if (k == 4) assert_null(doc);
    else assert_non_null(doc);
    sloop_free(doc);
  }
  /* Discard: a record only this device had goes away. Nothing in flight: a no-op. */
  char bad_id[96];
  snprintf(bad_id, sizeof(bad_id), "%s:5", sloop_device(c));
  assert_ok(c, sloop_discard(c, bad_id));
  assert_int_equal(world_state(c, NOTES, "n4"), -1);
  int left = -1;
  assert_ok(c, sloop_push_refused(c, "invalid", "x", &left));
  assert_int_equal(left, 0);
  world_close(&w);
}

/* A user who may write nothing gets each op rejected `denied` by the core; a later grant and a
** retry under a new id go through. */
static void a_read_only_user_gets_each_write_denied(void **state) {
  world w;
  world_open(&w, 1, 30, NULL);
  sloop_db *c = w.clients[0];
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"t\"}");
  world_put(&w, 0, NOTES, "n2", "{\"title\": \"u\"}");
  char ctx[200];
  char *req = NULL, *resp = NULL;
  size_t rl = 0, sl = 0;
  snprintf(ctx, sizeof(ctx), "{\"user\": \"dave\", \"device\": \"%s\", \"perms\": {\"write\": [], \"read\": \"*\"}}", sloop_device(c));
  assert_ok(c, sloop_push_begin(c, 10, &req, &rl));
  assert_ok(w.server, sloop_server_push(w.server, req, rl, ctx, strlen(ctx), &resp, &sl));
  assert_ok(c, sloop_push_end(c, resp, sl));
  sloop_free(req);
  sloop_free(resp);
  assert_int_equal(count_ops(c, "failed"), 2);
  assert_int_equal(count_ops(c, "pending"), 0);
  char *ops = NULL;
  assert_ok(c, sloop_ops(c, "failed", &ops, NULL));
  assert_non_null(strstr(ops, "denied: you may not write to this collection"));
  sloop_free(ops);
  /* Granted later: a retry (new ids) goes through. */
  assert_ok(c, sloop_retry(c, NULL));
  snprintf(ctx, sizeof(ctx), "{\"user\": \"dave\", \"device\": \"%s\", \"perms\": {\"write\": \"*\", \"read\": \"*\"}}", sloop_device(c));
  assert_ok(c, sloop_push_begin(c, 10, &req, &rl));
  assert_ok(w.server, sloop_server_push(w.server, req, rl, ctx, strlen(ctx), &resp, &sl));
  assert_ok(c, sloop_push_end(c, resp, sl));
  sloop_free(req);
  sloop_free(resp);
  assert_int_equal(count_ops(c, "failed"), 0);
  char *doc = world_server_doc(&w, NOTES, "n2");
  assert_non_null(doc);
  sloop_free(doc);
  world_close(&w);
}

static void an_old_cursor_after_compaction_must_resync(void **state) {
  world w;
  world_open(&w, 2, 18, NULL);
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"t\"}");
  world_put(&w, 0, NOTES, "n2", "{\"title\": \"u\"}");
  world_sync(&w, 0);
  world_pull(&w, 1);
  world_put(&w, 0, NOTES, "n3", "{\"title\": \"v\"}");
  assert_ok(w.clients[0], sloop_delete(w.clients[0], S(NOTES), S("n1")));
  world_sync(&w, 0);
  assert_ok(w.server, sloop_server_compact(w.server, server_version(&w)));
  char *req = NULL, *resp = NULL, ctx[160];
  size_t rl = 0;
  world_ctx(&w, 1, ctx, sizeof(ctx));
  assert_ok(w.clients[1], sloop_pull_request(w.clients[1], 10, NULL, 0, &req, &rl));
  assert_int_equal(sloop_server_pull(w.server, req, rl, ctx, strlen(ctx), &resp, NULL), SLOOP_RESYNC);
  sloop_free(req);
  world_close(&w);
}

static void scopes_filter_collections_and_evict_records_that_leave(void **state) {
  const char *schema = "{\"collections\": {\"notes\": {\"strict\": false}, \"audit\": {\"strict\": false}}}";
  world w;
  world_open(&w, 2, 19, schema);
  world_put(&w, 0, NOTES, "a", "{\"project\": \"p1\"}");
  world_put(&w, 0, NOTES, "b", "{\"project\": \"p2\"}");
  assert_ok(w.clients[0], sloop_put(w.clients[0], S("audit"), S("x"), S("{\"project\": \"p1\"}")));
  world_sync(&w, 0);
  sloop_db *c = w.clients[1];
  char ctx[160];
  world_ctx(&w, 1, ctx, sizeof(ctx));
  const char *scope = "{\"collections\": [\"notes\"], \"where\": {\"project\": \"p1\"}}";
  for (int round = 0; round < 2; round++) {
    for (int more = 1; more;) {
      char *req = NULL, *resp = NULL;
      size_t rl = 0, sl = 0;
      assert_ok(c, sloop_pull_request(c, 10, scope, strlen(scope), &req, &rl));
      assert_ok(w.server, sloop_server_pull(w.server, req, rl, ctx, strlen(ctx), &resp, &sl));
      assert_ok(c, sloop_pull_apply(c, resp, sl, &more));
      sloop_free(req);
      sloop_free(resp);
    }
    if (round == 0) {
      world_assert_doc(c, NOTES, "a", "{\"project\":\"p1\"}");
      assert_null(world_get(c, NOTES, "b"));
      assert_null(world_get(c, "audit", "x"));
      world_patch(&w, 0, NOTES, "a", "{\"project\": \"p2\"}"); /* leaves the scope */
      world_sync(&w, 0);
    }
  }
  assert_null(world_get(c, NOTES, "a"));
  world_close(&w);
}

static void a_pull_counts_only_what_the_reader_may_read(void **state) {
  world w;
  world_open(&w, 1, 20, "{\"collections\": {\"notes\": {\"strict\": false}, \"audit\": {\"strict\": false}}}");
  for (int i = 0; i < 3; i++) {
    char id[8];
    snprintf(id, sizeof(id), "n%d", i);
    world_put(&w, 0, NOTES, id, "{\"title\": \"t\"}");
    assert_ok(w.clients[0], sloop_put(w.clients[0], S("audit"), id, strlen(id), S("{\"secret\": 1}")));
  }
  world_sync(&w, 0);
  const char *body = "{\"v\": 1, \"device\": \"reader\", \"cursor\": 0, \"limit\": 1}";
  const char *ctx = "{\"user\": \"r\", \"device\": \"reader\", \"perms\": {\"read\": [\"notes\"], \"write\": []}}";
  char *resp = NULL;
  assert_ok(w.server, sloop_server_pull(w.server, body, strlen(body), ctx, strlen(ctx), &resp, NULL));
  /* One note now, two left; the three audit records are neither sent nor counted. */
  assert_null(strstr(resp, "secret"));
  assert_non_null(strstr(resp, "\"remaining\":2"));
  sloop_free(resp);
  /* A reader of everything has five left (counted without grouping by collection); one that
  ** asks for notes alone, two. */
  const char *all[] = {"{\"user\": \"r\", \"device\": \"reader\", \"perms\": {\"read\": \"*\", \"write\": []}}",
                       "{\"user\": \"r\", \"device\": \"reader\"}"};
  for (int k = 0; k < 2; k++) {
    assert_ok(w.server, sloop_server_pull(w.server, body, strlen(body), all[k], strlen(all[k]), &resp, NULL));
    assert_non_null(strstr(resp, "\"remaining\":5"));
    sloop_free(resp);
  }
  const char *scoped = "{\"v\": 1, \"device\": \"reader\", \"cursor\": 0, \"limit\": 1, \"scope\": {\"collections\": [\"notes\"]}}";
  assert_ok(w.server, sloop_server_pull(w.server, scoped, strlen(scoped), all[0], strlen(all[0]), &resp, NULL));
  assert_non_null(strstr(resp, "\"remaining\":2"));
  sloop_free(resp);
  world_close(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(writes_queue_operations_and_ack_compacts_them),
      cmocka_unit_test(a_refused_write_leaves_neither_state_nor_operation),
      cmocka_unit_test(put_many_is_all_or_nothing),
      cmocka_unit_test(sync_states_follow_the_machine),
      cmocka_unit_test(only_the_machines_edges_are_allowed),
      cmocka_unit_test(a_write_during_a_push_leaves_the_record_modified),
      cmocka_unit_test(a_lost_push_answer_is_recovered_and_nothing_counts_twice),
      cmocka_unit_test(a_timed_out_push_acknowledged_later_leaves_the_record_synced),
      cmocka_unit_test(a_late_push_answer_does_not_resurrect_a_deleted_record),
      cmocka_unit_test(a_late_push_answer_does_not_become_the_base_of_a_record_written_again),
      cmocka_unit_test(a_first_pull_after_pushing_brings_the_deletes),
      cmocka_unit_test(a_write_applied_through_a_delayed_batch_leaves_the_record_synced),
      cmocka_unit_test(an_unanswered_batch_is_sent_again_unchanged),
      cmocka_unit_test(concurrent_edits_merge_per_field_and_per_type),
      cmocka_unit_test(a_page_of_new_and_stored_records_applies_each_its_way),
      cmocka_unit_test(add_wins_over_a_concurrent_remove),
      cmocka_unit_test(first_writer_wins_and_the_loser_is_reported),
      cmocka_unit_test(a_manual_field_keeps_both_sides_until_resolved),
      cmocka_unit_test(a_resolution_closes_the_conflict_on_every_path),
      cmocka_unit_test(a_refused_resolution_reopens_the_conflict),
      cmocka_unit_test(a_custom_merge_decides_concurrent_values),
      cmocka_unit_test(delete_wins_over_a_concurrent_patch_and_a_later_put_recreates),
      cmocka_unit_test(a_clock_far_ahead_is_clamped_or_rejected_by_policy),
      cmocka_unit_test(a_push_replayed_by_another_user_applies_nothing),
      cmocka_unit_test(permissions_and_step_up_are_checked_on_every_push),
      cmocka_unit_test(bad_push_bodies_get_errors_and_change_nothing),
      cmocka_unit_test(bad_operations_are_rejected_one_by_one),
      cmocka_unit_test(a_schema_mismatch_fails_one_op_and_the_rest_syncs),
      cmocka_unit_test(a_refused_batch_is_narrowed_to_the_op_at_fault),
      cmocka_unit_test(a_read_only_user_gets_each_write_denied),
      cmocka_unit_test(an_old_cursor_after_compaction_must_resync),
      cmocka_unit_test(scopes_filter_collections_and_evict_records_that_leave),
      cmocka_unit_test(a_pull_counts_only_what_the_reader_may_read),
  };
  return cmocka_run_group_tests_name("sync", tests, NULL, NULL);
}
