/*
** test_pull_window.c -- what an external store (PostgreSQL, js/server/pg-store.js) needs of the
** core's pull: a context "window" {upto, beyond} (the change log was loaded only up to version
** `upto`, and `beyond` more records of the scope follow it) makes the answer stop at `upto`,
** say there is more, and count the rest; a later snapshot page's window {group, more} ends the
** page where the loaded rows of its group end; and sloop_server_clock, which carries the tenant's
** clock between the processes that serve it.
*/
#include <stdio.h>
#include <stdlib.h>

#include "cJSON.h"
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

/* Two groups for snapshot pages: 3 tasks (versions 1-3), then 10 notes (4-13). */
static const char kTwoGroups[] =
    "{\"collections\": {\"notes\": {\"fields\": {\"title\": \"lww\"}}, \"tasks\": {\"fields\": {\"title\": \"lww\"}}}}";

static void seed_groups(world *w) {
  for (int k = 0; k < 13; k++) {
    char id[16];
    snprintf(id, sizeof(id), "r%d", k);
    world_put(w, 0, k < 3 ? "tasks" : "notes", id, "{\"title\": \"t\"}");
  }
  world_sync(w, 0);
}

/* The first page of a snapshot of [tasks, notes] newest first, pages of 5: its token's text. */
static char *first_page_token(world *w) {
  char *a = NULL;
  assert_ok(w->server, pull_with(w, 0, 5, ", \"snapshot\": true, \"scope\": {\"collections\": [\"tasks\", \"notes\"],"
                                         " \"order\": \"recent\"}", "", &a));
  cJSON *answer = cJSON_Parse(a);
  sloop_free(a);
  char *token = cJSON_PrintUnformatted(cJSON_GetObjectItem(answer, "snapshot"));
  cJSON_Delete(answer);
  assert_non_null(token);
  return token;
}

static void a_snapshot_window_ends_the_page_where_the_loaded_rows_end(void **unused) {
  (void)unused;
  world w;
  world_open(&w, 2, 24, kTwoGroups);
  seed_groups(&w);
  char body[400], *token = first_page_token(&w), *a = NULL;
  /* The first page took the 3 tasks and 2 notes: the token is in group 1 (notes), at 13, 12. */
  snprintf(body, sizeof(body), ", \"snapshot\": %s, \"scope\": {\"collections\": [\"tasks\", \"notes\"], \"order\": \"recent\"}",
           token);
  /* No window: a full page of 5 notes. */
  assert_ok(w.server, pull_with(&w, 0, 5, body, "", &a));
  assert_int_equal(changes_in(a), 5);
  sloop_free(a);
  /* A window of the group with more beyond it: the same page, as the embedded database holds
  ** every row (the window only ends a page early where a store's loaded rows run out). */
  assert_ok(w.server, pull_with(&w, 0, 5, body, ", \"window\": {\"group\": 1, \"more\": true}", &a));
  assert_int_equal(changes_in(a), 5);
  assert_int_equal(member(a, "hasMore"), 1);
  sloop_free(a);
  /* Refused: a window for another group than the token's; one on a first page; one by a field. */
  assert_int_equal(pull_with(&w, 0, 5, body, ", \"window\": {\"group\": 0, \"more\": true}", &a), SLOOP_INVALID);
  assert_int_equal(pull_with(&w, 0, 5, ", \"snapshot\": true", ", \"window\": {\"group\": 0, \"more\": true}", &a), SLOOP_INVALID);
  char by_field[400];
  snprintf(by_field, sizeof(by_field), ", \"snapshot\": %s, \"scope\": {\"collections\": [\"tasks\", \"notes\"],"
           " \"order\": \"recent\", \"orderBy\": \"title\"}", token);
  assert_int_equal(pull_with(&w, 0, 5, by_field, ", \"window\": {\"group\": 1, \"more\": true}", &a), SLOOP_INVALID);
  free(token);
  world_close(&w);
}

static void a_snapshot_window_cuts_at_its_group_and_a_filtered_last_page_needs_the_scope(void **unused) {
  (void)unused;
  world w;
  world_open(&w, 2, 25, kTwoGroups);
  seed_groups(&w);
  char *a = NULL;
  /* A first page of 2 (both tasks of 3), then a window on group 0 without more: the page ends
  ** with the last task, not running on into the notes, and the snapshot goes on. */
  assert_ok(w.server, pull_with(&w, 0, 2, ", \"snapshot\": true, \"scope\": {\"collections\": [\"tasks\", \"notes\"],"
                                         " \"order\": \"recent\"}", "", &a));
  cJSON *answer = cJSON_Parse(a);
  sloop_free(a);
  char *token = cJSON_PrintUnformatted(cJSON_GetObjectItem(answer, "snapshot"));
  cJSON_Delete(answer);
  char body[400];
  snprintf(body, sizeof(body), ", \"snapshot\": %s, \"scope\": {\"collections\": [\"tasks\", \"notes\"], \"order\": \"recent\"}",
           token);
  assert_ok(w.server, pull_with(&w, 0, 5, body, ", \"window\": {\"group\": 0, \"more\": false}", &a));
  assert_int_equal(changes_in(a), 1);
  assert_int_equal(member(a, "hasMore"), 1);
  assert_non_null(strstr(a, "\"snapshot\":{"));
  sloop_free(a);
  /* Without the window the same page runs on into the notes. */
  assert_ok(w.server, pull_with(&w, 0, 5, body, "", &a));
  assert_int_equal(changes_in(a), 5);
  sloop_free(a);
  free(token);
  /* A filtered resync (have) on its last group with nothing beyond: refused, it needs "live". */
  char have[600];
  snprintf(have, sizeof(have), ", \"snapshot\": {\"at\": 13, \"horizon\": 0, \"fresh\": false, \"c\": 1, \"v\": 0, \"page\": 1,"
           " \"pages\": 3, \"total\": 13, \"sent\": 3, \"omitted\": 0, \"saved\": 0}, \"have\": {\"bloom\": \"AA==\", \"k\": 1,"
           " \"m\": 8, \"n\": 0}, \"scope\": {\"collections\": [\"tasks\", \"notes\"]}");
  assert_int_equal(pull_with(&w, 0, 5, have, ", \"window\": {\"group\": 1, \"more\": false}", &a), SLOOP_INVALID);
  assert_ok(w.server, pull_with(&w, 0, 5, have, ", \"window\": {\"group\": 1, \"more\": true}", &a));
  sloop_free(a);
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
      cmocka_unit_test(a_snapshot_window_ends_the_page_where_the_loaded_rows_end),
      cmocka_unit_test(a_snapshot_window_cuts_at_its_group_and_a_filtered_last_page_needs_the_scope),
      cmocka_unit_test(the_tenant_clock_moves_the_server_clock_forward_only),
  };
  return cmocka_run_group_tests_name("pull_window", tests, NULL, NULL);
}
