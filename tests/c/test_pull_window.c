/*
** test_pull_window.c -- what an external store (PostgreSQL, js/server/pg-store.js) needs of the
** core's pull: a context "window" {upto, beyond} (the change log was loaded only up to version
** `upto`, and `beyond` more records of the scope follow it) makes the answer stop at `upto`,
** say there is more, and count the rest; and sloop_server_clock, which carries the tenant's
** clock between the processes that serve it.
*/
#include <stdio.h>
#include <stdlib.h>

#include "world.h"

/* Client 0 writes n notes and syncs them: server versions 1..n. */
static void seed(world *w, int n) {
  for (int k = 0; k < n; k++) {
    char id[16];
    snprintf(id, sizeof(id), "r%d", k);
    world_put(w, 0, "notes", id, "{\"title\": \"t\"}");
  }
  world_sync(w, 0);
}

/* The server's answer to a pull from `cursor` of `limit` by client 1 with extra context
** members `extra` (JSON members, or ""), or its error code (*out NULL). */
static int pull_with(world *w, long long cursor, int limit, const char *body_extra, const char *extra, char **out) {
  char req[320], ctx[320];
  size_t len = 0;
  snprintf(req, sizeof(req), "{\"v\": 1, \"device\": \"%s\", \"cursor\": %lld, \"limit\": %d%s}", sloop_device(w->clients[1]),
           cursor, limit, body_extra);
  snprintf(ctx, sizeof(ctx), "{\"user\": \"u1\", \"device\": \"%s\"%s}", sloop_device(w->clients[1]), extra);
  *out = NULL;
  return sloop_server_pull(w->server, req, strlen(req), ctx, strlen(ctx), out, &len);
}

/* The number member `name` of the answer's top level (the last occurrence: it follows the
** changes). */
static long long member(const char *answer, const char *name) {
  char key[40];
  snprintf(key, sizeof(key), "\"%s\":", name);
  const char *at = NULL;
  for (const char *p = strstr(answer, key); p; p = strstr(p + 1, key)) at = p;
  assert_non_null(at);
  if (strncmp(at + strlen(key), "true", 4) == 0) return 1;
  if (strncmp(at + strlen(key), "false", 5) == 0) return 0;
  return atoll(at + strlen(key));
}

static int changes_in(const char *answer) {
  int n = 0;
  for (const char *p = strstr(answer, "\"rid\":"); p; p = strstr(p + 1, "\"rid\":")) n++;
  return n;
}

static void a_window_stops_the_page_at_upto_and_counts_what_follows(void **unused) {
  (void)unused;
  world w;
  world_open(&w, 2, 21, NULL);
  seed(&w, 30);
  char *a = NULL;
  /* The window ends at 12 with 18 beyond it: 12 changes, more to come, 18 remaining. */
  assert_ok(w.server, pull_with(&w, 0, 50, "", ", \"window\": {\"upto\": 12, \"beyond\": 18}", &a));
  assert_int_equal(changes_in(a), 12);
  assert_int_equal(member(a, "cursor"), 12);
  assert_int_equal(member(a, "hasMore"), 1);
  assert_int_equal(member(a, "remaining"), 18);
  sloop_free(a);
  /* A full page inside the window: the page's own end, and the window's rest counted. */
  assert_ok(w.server, pull_with(&w, 12, 5, "", ", \"window\": {\"upto\": 20, \"beyond\": 10}", &a));
  assert_int_equal(changes_in(a), 5);
  assert_int_equal(member(a, "cursor"), 17);
  assert_int_equal(member(a, "hasMore"), 1);
  assert_int_equal(member(a, "remaining"), 3 + 10);
  sloop_free(a);
  /* A window up to the head is no window at all. */
  assert_ok(w.server, pull_with(&w, 17, 50, "", ", \"window\": {\"upto\": 30, \"beyond\": 0}", &a));
  assert_int_equal(changes_in(a), 13);
  assert_int_equal(member(a, "cursor"), 30);
  assert_int_equal(member(a, "hasMore"), 0);
  assert_int_equal(member(a, "remaining"), 0);
  sloop_free(a);
  world_close(&w);
}

static void a_window_that_makes_no_sense_is_refused(void **unused) {
  (void)unused;
  world w;
  world_open(&w, 2, 22, NULL);
  seed(&w, 10);
  char *a = NULL;
  const char *bad[] = {
      ", \"window\": 12",                                 /* not an object */
      ", \"window\": {\"upto\": 5}",                       /* no beyond */
      ", \"window\": {\"upto\": 2.5, \"beyond\": 0}",      /* not whole */
      ", \"window\": {\"upto\": 3, \"beyond\": -1}",       /* negative */
      ", \"window\": {\"upto\": 11, \"beyond\": 0}",       /* past the head */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    assert_int_equal(pull_with(&w, 0, 50, "", bad[i], &a), SLOOP_INVALID);
    assert_null(a);
  }
  /* Before the cursor. */
  assert_int_equal(pull_with(&w, 6, 50, "", ", \"window\": {\"upto\": 4, \"beyond\": 0}", &a), SLOOP_INVALID);
  /* A snapshot or a scope hash reads the whole scope: a window cannot stand in for it. */
  assert_int_equal(pull_with(&w, 0, 50, ", \"snapshot\": true", ", \"window\": {\"upto\": 4, \"beyond\": 6}", &a), SLOOP_INVALID);
  assert_int_equal(pull_with(&w, 0, 50, ", \"verify\": true", ", \"window\": {\"upto\": 4, \"beyond\": 6}", &a), SLOOP_INVALID);
  world_close(&w);
}

static void the_tenant_clock_moves_the_server_clock_forward_only(void **unused) {
  (void)unused;
  world w;
  world_open(&w, 2, 23, NULL);
  seed(&w, 3);
  char *a = NULL;
  /* Ahead of the server's clock (an hour on): later answers carry at least that time. */
  char ahead[48];
  snprintf(ahead, sizeof(ahead), "%012llx-0007-0000000000000001", (unsigned long long)(w.env.now + 3600000));
  assert_ok(w.server, sloop_server_clock(w.server, ahead, strlen(ahead)));
  assert_ok(w.server, pull_with(&w, 0, 50, "", "", &a));
  const char *hlc = strstr(a, "\"hlc\":\"");
  assert_non_null(hlc);
  assert_true(strncmp(hlc + 7, ahead, 17) >= 0); /* same time and counter, or later */
  assert_false(strncmp(hlc + 7 + 18, "0000000000000001", 16) == 0); /* the node stays the server's */
  sloop_free(a);
  /* Behind it: nothing moves back. */
  assert_ok(w.server, sloop_server_clock(w.server, S("000000000001-0000-0000000000000001")));
  assert_ok(w.server, pull_with(&w, 0, 50, "", "", &a));
  hlc = strstr(a, "\"hlc\":\"");
  assert_true(strncmp(hlc + 7, ahead, 17) >= 0);
  sloop_free(a);
  assert_int_equal(sloop_server_clock(w.server, S("not a clock")), SLOOP_INVALID);
  assert_int_equal(sloop_server_clock(w.clients[0], ahead, strlen(ahead)), SLOOP_INVALID);
  world_close(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_window_stops_the_page_at_upto_and_counts_what_follows),
      cmocka_unit_test(a_window_that_makes_no_sense_is_refused),
      cmocka_unit_test(the_tenant_clock_moves_the_server_clock_forward_only),
  };
  return cmocka_run_group_tests_name("pull_window", tests, NULL, NULL);
}
