/*
** test_pull_next.c -- reading the next pull request from an answer before applying it
** (sloop_pull_request_next): it must be byte for byte the request sloop_pull_request builds
** after the answer is applied, on every page where it is offered, and offered on every page
** of a plain pull but the last; never for snapshot or resync pages, where applying decides.
*/
#include <stdio.h>

#include "internal.h"
#include "world.h"

#define NOTES "notes"

/* Client 0 writes n new notes and syncs them. */
static void seed(world *w, int n) {
  static int next_id;
  sloop_db *c = w->clients[0];
  assert_ok(c, sloop_tx_begin(c));
  for (int k = 0; k < n; k++) {
    char id[16], doc[96];
    snprintf(id, sizeof(id), "r%d", next_id++);
    snprintf(doc, sizeof(doc), "{\"title\": \"note %d\", \"votes\": %d}", k, k % 5);
    assert_ok(c, sloop_put(c, S(NOTES), id, strlen(id), doc, strlen(doc)));
  }
  assert_ok(c, sloop_tx_end(c, 1));
  world_sync(w, 0);
}

/* Client i pulls to the end in pages of `limit` with `scope`; returns how many pages offered
** a next request, and checks each offer against the request made after applying. */
static int pull_reading_ahead(world *w, int i, const char *scope, int limit, int *pages) {
  sloop_db *c = w->clients[i];
  char ctx[160];
  world_ctx(w, i, ctx, sizeof(ctx));
  size_t scope_len = scope ? strlen(scope) : 0;
  int offered = 0;
  char *req = NULL;
  size_t rl = 0;
  assert_ok(c, sloop_pull_request(c, limit, scope, scope_len, &req, &rl));
  *pages = 0;
  for (int more = 1; more; (*pages)++) {
    if (*pages > 500) fail_msg("never finished pulling");
    char *resp = NULL, *next = NULL;
    size_t sl = 0, nl = 0;
    assert_ok(w->server, sloop_server_pull(w->server, req, rl, ctx, strlen(ctx), &resp, &sl));
    assert_ok(c, sloop_pull_request_next(c, resp, sl, limit, scope, scope_len, &next, &nl));
    assert_ok(c, sloop_pull_apply(c, resp, sl, &more));
    sloop_free(req);
    assert_ok(c, sloop_pull_request(c, limit, scope, scope_len, &req, &rl));
    if (next) {
      offered++;
      assert_true(more);
      assert_int_equal(nl, rl);
      assert_string_equal(next, req);
    }
    sloop_free(next);
    sloop_free(resp);
  }
  sloop_free(req);
  return offered;
}

static void a_plain_pull_reads_every_page_but_the_last_ahead(void **unused) {
  world w;
  world_open(&w, 3, 71, NULL);
  seed(&w, 53);
  int pages = 0;
  /* Fresh, then from a cursor part of the way (client 2 pulls, the server changes, again). */
  assert_int_equal(pull_reading_ahead(&w, 1, NULL, 10, &pages), pages - 1);
  assert_int_equal(pages, 6);
  world_pull(&w, 2);
  seed(&w, 20);
  assert_int_equal(pull_reading_ahead(&w, 2, NULL, 7, &pages), pages - 1);
  assert_int_equal(pages, 3);
  world_close(&w);
}

static void snapshot_pages_are_not_read_ahead(void **unused) {
  world w;
  world_open(&w, 2, 72, NULL);
  seed(&w, 40);
  int pages = 0;
  const char *scope = "{\"order\": \"recent\", \"collections\": [\"notes\"]}";
  /* The snapshot's pages decide their successor in meta; its catch-up from H is plain. */
  int offered = pull_reading_ahead(&w, 1, scope, 10, &pages);
  assert_true(pages >= 4);
  assert_int_equal(offered, 0);
  world_close(&w);
}

static void resync_rounds_are_not_read_ahead(void **unused) {
  world w;
  world_open(&w, 2, 73, NULL);
  seed(&w, 30);
  world_pull(&w, 1);
  seed(&w, 30); /* 30 the replica lacks: pages of them in the filtered round */
  assert_ok(w.clients[1], sloop_resync_begin(w.clients[1], 0.01));
  int pages = 0;
  assert_int_equal(pull_reading_ahead(&w, 1, NULL, 10, &pages), 0);
  assert_true(pages >= 3);
  world_close(&w);
}

/* Offered only from a plain page's own members; anything odd gives no offer and no error. */
static void answers_are_scanned_not_trusted(void **unused) {
  world w;
  world_open(&w, 1, 74, NULL);
  sloop_db *c = w.clients[0];
  const char *none[] = {
      "", "not json", "[]", "{", "{}", "{\"cursor\": 5}", "{\"cursor\": 5, \"hasMore\": false}",
      "{\"cursor\": 5, \"hasMore\": true", "{\"cursor\": \"5\", \"hasMore\": true}",
      "{\"cursor\": 5.5, \"hasMore\": true}", "{\"cursor\": -5, \"hasMore\": true}",
      "{\"cursor\": 0, \"hasMore\": true}", "{\"cursor\": 1e3, \"hasMore\": true}",
      "{\"cursor\": 5, \"hasMore\": true, \"progress\": {}}", "{\"cursor\": 5, \"hasMore\": true, \"snapshot\": null}",
      "{\"cursor\": 5, \"hasMore\": true, \"scopeHash\": {}}", "{\"cursor\": 5, \"hasMore\": true, \"ackSeq\": \"x\"}",
      "{\"cursor\": 99999999999999999, \"hasMore\": true}", "{\"cursor\" 5, \"hasMore\": true}",
      "{\"changes\": [\"}\"], \"cursor\": 5 \"hasMore\": true}", "{\"changes\": [{\"a\": \"\\\"]}\"}, \"cursor\": 5, \"hasMore\": true}",
  };
  for (size_t k = 0; k < sizeof(none) / sizeof(none[0]); k++) {
    char *next = (char *)1;
    assert_ok(c, sloop_pull_request_next(c, none[k], strlen(none[k]), 10, NULL, 0, &next, NULL));
    if (next) fail_msg("offered a request for %s", none[k]);
  }
  /* A name holding a control character: the parser reads "ackSeq\0\0" as ackSeq (it compares
  ** up to the NUL), so the scan must not take it for another member (found by fuzz_client). */
  static const char nul_name[] = "{\"cursor\": 5, \"hasMore\": true, \"ackSeq\0\0\": 1}";
  char *offered = (char *)1;
  assert_ok(c, sloop_pull_request_next(c, nul_name, sizeof(nul_name) - 1, 10, NULL, 0, &offered, NULL));
  if (offered) fail_msg("offered a request for an answer with a NUL in a member name");
  /* Members found past strings holding braces, quotes and escapes; the first of a repeated
  ** member counts, as in the parser sloop_pull_apply uses. */
  const char *answer = "{\"changes\": [{\"doc\": {\"t\": \"}]{[\\\\\\\"\"}}], \"cursor\" : 12 ,\n"
                       "\"hasMore\":true, \"ackSeq\": 4, \"cursor\": 13}";
  char *next = NULL;
  assert_ok(c, sloop_pull_request_next(c, answer, strlen(answer), 10, NULL, 0, &next, NULL));
  assert_non_null(next);
  cJSON *req = cJSON_Parse(next);
  assert_int_equal(cJSON_GetObjectItem(req, "cursor")->valueint, 12);
  assert_int_equal(cJSON_GetObjectItem(req, "ackSeq")->valueint, 4);
  assert_int_equal(cJSON_GetObjectItem(req, "limit")->valueint, 10);
  assert_null(cJSON_GetObjectItem(req, "fresh"));
  cJSON_Delete(req);
  sloop_free(next);
  world_close(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_plain_pull_reads_every_page_but_the_last_ahead),
      cmocka_unit_test(snapshot_pages_are_not_read_ahead),
      cmocka_unit_test(resync_rounds_are_not_read_ahead),
      cmocka_unit_test(answers_are_scanned_not_trusted),
  };
  return cmocka_run_group_tests_name("pull_next", tests, NULL, NULL);
}
