/*
** test_device_cursor.c -- what a pull writes on the server (server_pull.c note_cursor): the
** device's row only when it says something new (the device's first pull, which makes the
** device its user's; the pull that brings it up to date; a minute since the row was
** written), so the pages of an initial sync are read-only transactions.
*/
#include <stdio.h>

#include "world.h"

/* Client 0 writes n notes and syncs them (its pushes write its own device row). */
static void seed(world *w, int n) {
  sloop_db *c = w->clients[0];
  assert_ok(c, sloop_tx_begin(c));
  for (int k = 0; k < n; k++) {
    char id[16];
    snprintf(id, sizeof(id), "r%d", k);
    assert_ok(c, sloop_put(c, S("notes"), id, strlen(id), S("{\"title\": \"t\"}")));
  }
  assert_ok(c, sloop_tx_end(c, 1));
  world_sync(w, 0);
}

/* One page of 7 for client i as user `user`: the server's rc; *more and *cursor (the cursor
** the request sent) when it answered. */
static int pull_page(world *w, int i, const char *user, int *more, long long *cursor) {
  sloop_db *c = w->clients[i];
  char ctx[160], *req = NULL, *resp = NULL;
  size_t rl = 0, sl = 0;
  snprintf(ctx, sizeof(ctx), "{\"user\": \"%s\", \"device\": \"%s\"}", user, sloop_device(c));
  assert_ok(c, sloop_pull_request(c, 7, NULL, 0, &req, &rl));
  const char *at = strstr(req, "\"cursor\":");
  assert_non_null(at);
  *cursor = atoll(at + 9);
  int rc = sloop_server_pull(w->server, req, rl, ctx, strlen(ctx), &resp, &sl);
  if (!rc) assert_ok(c, sloop_pull_apply(c, resp, sl, more));
  sloop_free(req);
  sloop_free(resp);
  return rc;
}

/* The rows the server's connection has written so far. */
static long long server_writes(world *w) {
  char *out = NULL;
  assert_ok(w->server, sloop_sql(w->server, S("SELECT total_changes()"), &out, NULL));
  long long n = atoll(out + 2); /* [[n]] */
  sloop_free(out);
  return n;
}

/* Client 1's row as JSON: [[user, cursor, seen_ms]], or [] before it has one. */
static void assert_device_row(world *w, const char *want) {
  char sql[160], *out = NULL;
  snprintf(sql, sizeof(sql), "SELECT user, cursor, seen_ms FROM devices WHERE device = '%s'", sloop_device(w->clients[1]));
  assert_ok(w->server, sloop_sql(w->server, sql, strlen(sql), &out, NULL));
  assert_string_equal(out, want);
  sloop_free(out);
}

static void a_pull_writes_the_device_row_only_when_it_says_something_new(void **unused) {
  (void)unused;
  world w;
  world_open(&w, 2, 11, NULL);
  seed(&w, 20); /* three pages of 7 */
  int more = 0;
  long long cursor = 0, before = server_writes(&w);
  char want[128];
  /* The first page: the device is new, so the row is written, and the device is u1's. */
  assert_ok(w.server, pull_page(&w, 1, "u1", &more, &cursor));
  assert_true(more);
  assert_int_equal(server_writes(&w), before + 1);
  snprintf(want, sizeof(want), "[[\"u1\",0,%lld]]", (long long)w.env.now);
  assert_device_row(&w, want);
  assert_int_equal(pull_page(&w, 1, "intruder", &more, &cursor), SLOOP_DEVICE);
  /* The second page, within the minute and with more to come: nothing written. */
  world_tick(&w, 1000);
  assert_ok(w.server, pull_page(&w, 1, "u1", &more, &cursor));
  assert_true(more);
  assert_int_equal(server_writes(&w), before + 1);
  assert_device_row(&w, want);
  /* The last page brings the device up to date: its cursor (as the request sent it) is new. */
  world_tick(&w, 1000);
  assert_ok(w.server, pull_page(&w, 1, "u1", &more, &cursor));
  assert_false(more);
  assert_true(cursor > 0);
  assert_int_equal(server_writes(&w), before + 2);
  snprintf(want, sizeof(want), "[[\"u1\",%lld,%lld]]", cursor, (long long)w.env.now);
  assert_device_row(&w, want);
  /* The next pull confirms the last page (its cursor is the head's): written once more. */
  world_tick(&w, 1000);
  assert_ok(w.server, pull_page(&w, 1, "u1", &more, &cursor));
  assert_int_equal(server_writes(&w), before + 3);
  long long polled_at = w.env.now;
  snprintf(want, sizeof(want), "[[\"u1\",%lld,%lld]]", cursor, polled_at);
  assert_device_row(&w, want);
  /* Polling at the head: the same cursor, within the minute, writes nothing... */
  world_tick(&w, 59000);
  assert_ok(w.server, pull_page(&w, 1, "u1", &more, &cursor));
  assert_int_equal(server_writes(&w), before + 3);
  assert_device_row(&w, want);
  /* ...and a minute after the row was written, the poll records that the device is alive. */
  world_tick(&w, 1000);
  assert_ok(w.server, pull_page(&w, 1, "u1", &more, &cursor));
  assert_int_equal(server_writes(&w), before + 4);
  snprintf(want, sizeof(want), "[[\"u1\",%lld,%lld]]", cursor, (long long)w.env.now);
  assert_device_row(&w, want);
  world_close(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_pull_writes_the_device_row_only_when_it_says_something_new),
  };
  return cmocka_run_group_tests_name("device_cursor", tests, NULL, NULL);
}
