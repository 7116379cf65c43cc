/*
** test_scope.c -- pull scopes by recency and priority (docs/PROTOCOL.md, "Scopes"): times read
** from fields, the server's window, the client's evictions (and what local work keeps), a
** wider window fetching what the replica lacks, a resync under a window verifying, and the
** priority order of an initial sync.
*/
#include <stdio.h>

#include "internal.h"
#include "scope.h"
#include "world.h"

#define DAY 86400000LL

static const char kSchema[] =
    "{\"collections\": {\"notes\": {\"fields\": {\"title\": \"lww\", \"updatedAt\": \"lww\"}},"
    " \"tasks\": {\"fields\": {\"title\": \"lww\", \"due\": \"lww\"}}}, \"maxDriftMs\": 3600000}";

/* Client 0 writes note `id` whose updatedAt is `age_days` before now (as a number, or as ISO
** text when `iso`); age < 0: no updatedAt at all. */
static void put_note(world *w, const char *id, double age_days, int iso) {
  char doc[200];
  int64_t t = w->env.now - (int64_t)(age_days * DAY);
  if (age_days < 0) snprintf(doc, sizeof(doc), "{\"title\": \"%s\"}", id);
  else if (!iso) snprintf(doc, sizeof(doc), "{\"title\": \"%s\", \"updatedAt\": %lld}", id, (long long)t);
  else {
    /* ISO text of t, UTC, built by hand from the days since 1970 (the clocks stay in 2023). */
    int64_t days = t / DAY, ms = t % DAY;
    int y = 1970, m = 1;
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (;;) {
      int ylen = (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 366 : 365;
      if (days < ylen) break;
      days -= ylen;
      y++;
    }
    for (;; m++) {
      int mlen = len[m - 1] + (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
      if (days < mlen) break;
      days -= mlen;
    }
    snprintf(doc, sizeof(doc), "{\"title\": \"%s\", \"updatedAt\": \"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"}", id, y, m,
             (int)days + 1, (int)(ms / 3600000), (int)(ms / 60000 % 60), (int)(ms / 1000 % 60), (int)(ms % 1000));
  }
  world_put(w, 0, "notes", id, doc);
}

static int has(sloop_db *db, const char *coll, const char *id) {
  char *doc = world_get(db, coll, id);
  sloop_free(doc);
  return doc != NULL;
}

static int count(sloop_db *db, const char *sql) {
  char *out = NULL;
  assert_ok(db, sloop_sql(db, sql, strlen(sql), &out, NULL));
  const char *digits = strpbrk(out, "0123456789");
  int n = digits ? atoi(digits) : -1;
  sloop_free(out);
  return n;
}

static void set_scope(world *w, int i, const char *scope) {
  assert_ok(w->clients[i], sloop_set_scope(w->clients[i], scope, strlen(scope)));
}

static cJSON *progress(sloop_db *db) {
  char *text = NULL;
  assert_ok(db, sloop_pull_progress(db, &text, NULL));
  cJSON *p = cJSON_Parse(text);
  sloop_free(text);
  return p;
}

/* ---------------------------------------------------------------- times -------------- */

static void iso_times_and_numbers_are_read_and_anything_else_is_not(void **state) {
  int64_t ms = -1;
  assert_true(sloop_iso_ms(S("1970-01-01"), &ms));
  assert_int_equal(ms, 0);
  assert_true(sloop_iso_ms(S("2026-12-06T08:46:49.123Z"), &ms));
  assert_int_equal(ms, 1796546809123LL);
  assert_true(sloop_iso_ms(S("2024-02-29T23:59:59+02:00"), &ms));
  assert_int_equal(ms, 1709243999000LL);
  assert_true(sloop_iso_ms(S("2000-03-01"), &ms));
  assert_int_equal(ms, 951868800000LL);
  assert_true(sloop_iso_ms(S("2026-12-06 08:46"), &ms)); /* no zone: UTC */
  assert_int_equal(ms, 1796546760000LL);
  assert_true(sloop_iso_ms(S("2026-12-06T08:46:49.1234567Z"), &ms)); /* digits past ms are cut */
  assert_int_equal(ms, 1796546809123LL);
  const char *bad[] = {"", "2026", "2026-12", "2026-13-01", "2023-02-29", "2026-04-31", "2026-12-06T24:00Z",
                       "2026-12-06T08:60Z", "2026-12-06T08:46:49.Z", "2026-12-06T08:46Zjunk", "2026-12-06x",
                       "06/12/2026", "2026-12-06T08:46+2:00", "-001-01-01",
                       /* ISO 8601 forms the window does not read (docs/PROTOCOL.md, "Scopes") */
                       "2026-12-06T08:46+0200", "2026-12-06T08:46+00", "2026-12-06Z", "2026-W49-7", "2026-340"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
    if (sloop_iso_ms(bad[i], strlen(bad[i]), &ms)) fail_msg("'%s' read as a time", bad[i]);
  cJSON *doc = cJSON_Parse("{\"n\": 1700000000000, \"s\": \"2023-11-14T22:13:20Z\", \"b\": true, \"o\": {}}");
  assert_true(sloop_time_of(cJSON_GetObjectItem(doc, "n"), &ms) && ms == 1700000000000LL);
  assert_true(sloop_time_of(cJSON_GetObjectItem(doc, "s"), &ms) && ms == 1700000000000LL);
  assert_false(sloop_time_of(cJSON_GetObjectItem(doc, "b"), &ms));
  assert_false(sloop_time_of(cJSON_GetObjectItem(doc, "o"), &ms));
  assert_false(sloop_time_of(NULL, &ms));
  assert_true(sloop_window_holds(doc, "n", 1700000000000LL));
  assert_false(sloop_window_holds(doc, "n", 1700000000001LL));
  assert_false(sloop_window_holds(doc, "missing", 0));
  cJSON_Delete(doc);
  /* The cut-off falls on a step of a thousandth of the window, at most a minute. */
  assert_int_equal(sloop_window_cutoff(30, 1700000012345LL) % 60000, 0);
  assert_true(sloop_window_cutoff(30, 1700000012345LL) <= 1700000012345LL - 30 * DAY);
  assert_true(sloop_window_cutoff(30, 1700000012345LL) > 1700000012345LL - 30 * DAY - 60000);
  assert_int_equal(sloop_window_cutoff(30, 1700000012345LL), sloop_window_cutoff(30, 1700000012999LL));
}

/* ---------------------------------------------------------------- the server --------- */

/* Pulls once for client i with `req` (a whole request body) and returns the answer parsed. */
static cJSON *raw_pull(world *w, int i, const char *req, int *rc) {
  char ctx[160], *resp = NULL;
  size_t len = 0;
  world_ctx(w, i, ctx, sizeof(ctx));
  *rc = sloop_server_pull(w->server, req, strlen(req), ctx, strlen(ctx), &resp, &len);
  cJSON *answer = resp ? cJSON_Parse(resp) : NULL;
  sloop_free(resp);
  return answer;
}

static int carries(const cJSON *answer, const char *rid, int evict) {
  const cJSON *ch;
  cJSON_ArrayForEach(ch, cJSON_GetObjectItem(answer, "changes")) {
    if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(ch, "rid")), rid) == 0)
      return evict == cJSON_IsTrue(cJSON_GetObjectItem(ch, "evict"));
  }
  return 0;
}

static void the_server_serves_only_the_window_and_evicts_what_moved_out(void **state) {
  world w;
  world_open(&w, 2, 7, kSchema);
  put_note(&w, "new", 1, 0);
  put_note(&w, "iso", 2, 1);
  put_note(&w, "old", 40, 0);
  put_note(&w, "oldiso", 40, 1);
  put_note(&w, "none", -1, 0);
  world_put(&w, 0, "tasks", "t1", "{\"title\": \"no window on tasks\"}");
  world_sync(&w, 0);
  char req[400];
  int rc;
  /* A fresh client, by days (the server's clock) and by since (the caller's): the same. */
  const char *forms[] = {"{\"notes\": {\"field\": \"updatedAt\", \"days\": 30}}", NULL};
  char since[120];
  snprintf(since, sizeof(since), "{\"notes\": {\"field\": \"updatedAt\", \"since\": %lld}}", (long long)(w.env.now - 30 * DAY));
  forms[1] = since;
  for (int f = 0; f < 2; f++) {
    snprintf(req, sizeof(req), "{\"v\": 2, \"device\": \"%s\", \"cursor\": 0, \"fresh\": true, \"scope\": {\"recent\": %s}}",
             sloop_device(w.clients[1]), forms[f]);
    cJSON *a = raw_pull(&w, 1, req, &rc);
    assert_int_equal(rc, SLOOP_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(a, "changes")), 3);
    assert_true(carries(a, "new", 0) && carries(a, "iso", 0) && carries(a, "t1", 0));
    cJSON_Delete(a);
  }
  /* One window for every collection: a task without the field is outside it. */
  snprintf(req, sizeof(req), "{\"v\": 2, \"device\": \"%s\", \"cursor\": 0, \"fresh\": true,"
           " \"scope\": {\"recent\": {\"field\": \"updatedAt\", \"days\": 30}}}", sloop_device(w.clients[1]));
  cJSON *a = raw_pull(&w, 1, req, &rc);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(a, "changes")), 2);
  assert_false(carries(a, "t1", 0));
  cJSON_Delete(a);
  /* A client that holds records (not fresh) is told what moved out of its window. */
  int64_t head = count(w.server, "SELECT v FROM meta WHERE k = 'version'");
  world_patch(&w, 0, "notes", "new", "{\"updatedAt\": 0}");
  world_sync(&w, 0);
  snprintf(req, sizeof(req), "{\"v\": 2, \"device\": \"%s\", \"cursor\": %lld, \"scope\": {\"recent\": %s}}",
           sloop_device(w.clients[1]), (long long)head, forms[0]);
  a = raw_pull(&w, 1, req, &rc);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(a, "changes")), 1);
  assert_true(carries(a, "new", 1));
  cJSON_Delete(a);
  /* Bad windows are refused. */
  const char *bad[] = {"[]", "{\"field\": \"updatedAt\"}", "{\"field\": \"updatedAt\", \"days\": 0}",
                       "{\"field\": \"updatedAt\", \"days\": 30, \"since\": 5}", "{\"field\": \"a.b\", \"days\": 3}",
                       "{\"notes\": 30}", "{\"no-name\": {\"field\": \"x\", \"days\": 1}}",
                       "{\"field\": \"updatedAt\", \"since\": \"yesterday\"}"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    snprintf(req, sizeof(req), "{\"v\": 2, \"device\": \"%s\", \"cursor\": 0, \"scope\": {\"recent\": %s}}",
             sloop_device(w.clients[1]), bad[i]);
    a = raw_pull(&w, 1, req, &rc);
    if (rc != SLOOP_INVALID) fail_msg("window %s: %s", bad[i], sloop_errstr(rc));
    cJSON_Delete(a);
  }
  snprintf(req, sizeof(req), "{\"v\": 2, \"device\": \"%s\", \"cursor\": 0, \"scope\": {\"priority\": [\"no-name\"]}}",
           sloop_device(w.clients[1]));
  cJSON_Delete(raw_pull(&w, 1, req, &rc));
  assert_int_equal(rc, SLOOP_INVALID);
  world_close(&w);
}

/* ---------------------------------------------------------------- the client --------- */

static void a_replica_keeps_its_window_and_evicts_what_ages_out_but_not_local_work(void **state) {
  world w;
  world_open(&w, 2, 11, kSchema);
  put_note(&w, "d1", 1, 0);
  put_note(&w, "d10", 10, 1);
  put_note(&w, "d20", 20, 0);
  put_note(&w, "d25", 25, 0);
  put_note(&w, "d40", 40, 0);
  put_note(&w, "none", -1, 0);
  world_put(&w, 0, "tasks", "t1", "{\"title\": \"tasks have no window\"}");
  world_sync(&w, 0);
  sloop_db *c = w.clients[1];
  set_scope(&w, 1, "{\"recent\": {\"notes\": {\"field\": \"updatedAt\", \"days\": 30}}}");
  world_pull(&w, 1);
  assert_true(has(c, "notes", "d1") && has(c, "notes", "d10") && has(c, "notes", "d20") && has(c, "notes", "d25"));
  assert_false(has(c, "notes", "d40"));
  assert_false(has(c, "notes", "none"));
  assert_true(has(c, "tasks", "t1"));
  /* Local work: a write on d20 not yet pushed. */
  world_patch(&w, 1, "notes", "d20", "{\"title\": \"edited offline\"}");
  /* 12 days on: d20 and d25 are outside the window; d25 goes at the next pull, d20 stays for its
  ** pending write, which is not lost. Nothing is pushed for an eviction. */
  world_tick(&w, 12 * DAY);
  world_pull(&w, 1);
  assert_false(has(c, "notes", "d25"));
  assert_true(has(c, "notes", "d20"));
  assert_true(has(c, "notes", "d1") && has(c, "notes", "d10") && has(c, "tasks", "t1"));
  assert_int_equal(count(c, "SELECT count(*) FROM oplog"), 1);
  char *kept = world_server_doc(&w, "notes", "d25");
  assert_non_null(kept); /* the server keeps it */
  sloop_free(kept);
  /* Its write pushed and answered, the next pull lets it go too. */
  world_sync(&w, 1);
  assert_false(has(c, "notes", "d20"));
  char *server = world_server_doc(&w, "notes", "d20");
  assert_non_null(strstr(server, "edited offline"));
  sloop_free(server);
  /* A record changed into the window comes back by version order. */
  world_patch(&w, 0, "notes", "d25", "{\"updatedAt\": 1800000000000}");
  world_sync(&w, 0);
  world_pull(&w, 1);
  assert_true(has(c, "notes", "d25"));
  /* A sweep at a time past this device's clock sweeps at the clock: nothing is out yet. */
  int evicted = -1;
  assert_ok(c, sloop_scope_evict(c, w.env.now + 40 * DAY, &evicted));
  assert_int_equal(evicted, 0);
  assert_true(has(c, "notes", "d1") && has(c, "notes", "d10"));
  /* Eviction by an explicit sweep, as on open, once the clock is 40 days on. */
  w.client_env[1].now += 40 * DAY;
  assert_ok(c, sloop_scope_evict(c, 0, &evicted));
  assert_int_equal(evicted, 2); /* d1 and d10; d25 is in 2027 */
  assert_true(has(c, "notes", "d25"));
  world_close(&w);
}

static void an_open_conflict_holds_a_record_in_the_replica(void **state) {
  world w;
  world_open(&w, 2, 13, "{\"collections\": {\"notes\": {\"fields\": {\"title\": \"manual\", \"updatedAt\": \"lww\"}}},"
                        " \"maxDriftMs\": 3600000}");
  put_note(&w, "c", 1, 0);
  world_sync(&w, 0);
  set_scope(&w, 1, "{\"recent\": {\"field\": \"updatedAt\", \"days\": 3}}");
  world_pull(&w, 1);
  /* Both write the manual field from the same base: the later push opens a conflict. */
  world_patch(&w, 0, "notes", "c", "{\"title\": \"mine\"}");
  world_patch(&w, 1, "notes", "c", "{\"title\": \"theirs\"}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  world_pull(&w, 1);
  assert_true(count(w.clients[1], "SELECT count(*) FROM conflicts WHERE status != 'resolved'") > 0);
  assert_int_equal(count(w.clients[1], "SELECT count(*) FROM oplog"), 0);
  int evicted = -1;
  w.client_env[1].now += 10 * DAY;
  assert_ok(w.clients[1], sloop_scope_evict(w.clients[1], 0, &evicted));
  assert_int_equal(evicted, 0);
  assert_true(has(w.clients[1], "notes", "c"));
  world_close(&w);
}

static const char kManualSchema[] =
    "{\"collections\": {\"notes\": {\"fields\": {\"title\": \"manual\", \"updatedAt\": \"lww\"}}}, \"maxDriftMs\": 3600000}";

/* Client 1 has an open conflict on note `id` and nothing in its log: both clients wrote its
** manual title from the same base, client 1's push second. */
static void open_conflict(world *w, const char *id) {
  world_patch(w, 0, "notes", id, "{\"title\": \"mine\"}");
  world_patch(w, 1, "notes", id, "{\"title\": \"theirs\"}");
  world_sync(w, 0);
  world_sync(w, 1);
  world_pull(w, 1);
}

static int open_conflicts_on(sloop_db *db, const char *id) {
  char sql[160];
  snprintf(sql, sizeof(sql), "SELECT count(*) FROM conflicts WHERE rid = '%s' AND status != 'resolved'", id);
  return count(db, sql);
}

/* Pulls until done with the client's stored scope; counts the pages. */
static int pull_pages(world *w, int i, int limit, cJSON *pages) {
  sloop_db *c = w->clients[i];
  char ctx[160];
  world_ctx(w, i, ctx, sizeof(ctx));
  int n = 0;
  for (int more = 1; more; n++) {
    if (n > 500) fail_msg("never finished pulling");
    char *req = NULL, *resp = NULL;
    size_t rl = 0, sl = 0;
    assert_ok(c, sloop_pull_request(c, limit, NULL, 0, &req, &rl));
    int rc = sloop_server_pull(w->server, req, rl, ctx, strlen(ctx), &resp, &sl);
    if (rc) fail_msg("pull: %s: %s", sloop_errstr(rc), sloop_errmsg(w->server));
    assert_ok(c, sloop_pull_apply(c, resp, sl, &more));
    if (pages) cJSON_AddItemToArray(pages, cJSON_Parse(resp));
    sloop_free(req);
    sloop_free(resp);
  }
  return n;
}

static void a_wider_window_fetches_what_the_replica_lacks_and_verifies(void **state) {
  world w;
  world_open(&w, 2, 17, kSchema);
  for (int k = 0; k < 60; k++) {
    char id[16];
    snprintf(id, sizeof(id), "n%d", k);
    put_note(&w, id, k + 0.5, k % 2);
  }
  world_sync(&w, 0);
  sloop_db *c = w.clients[1];
  set_scope(&w, 1, "{\"recent\": {\"field\": \"updatedAt\", \"days\": 20}}");
  pull_pages(&w, 1, 7, NULL);
  assert_int_equal(count(c, "SELECT count(*) FROM records"), 20);
  /* The same scope again (as every open sets it): nothing starts. */
  set_scope(&w, 1, "{\"recent\": {\"field\": \"updatedAt\", \"days\": 20}}");
  cJSON *p = progress(c);
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(p, "phase")), "idle");
  cJSON_Delete(p);
  /* Wider: a resync under the new scope brings days 20 to 44, and only those. */
  set_scope(&w, 1, "{\"recent\": {\"field\": \"updatedAt\", \"days\": 45}}");
  cJSON *pages = cJSON_CreateArray();
  pull_pages(&w, 1, 7, pages);
  assert_int_equal(count(c, "SELECT count(*) FROM records"), 45);
  int sent = 0;
  const cJSON *a, *ch;
  cJSON_ArrayForEach(a, pages) cJSON_ArrayForEach(ch, cJSON_GetObjectItem(a, "changes")) sent++;
  assert_true(sent >= 25); /* 25, and whatever a false positive of the filter left to a second round */
  cJSON_Delete(pages);
  p = progress(c);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(p, "verified")));
  cJSON_Delete(p);
  /* Narrower again, with time gone by: the resync drops what the window leaves out, and the
  ** scope hash agrees though the client's clock is a day ahead of the server's. */
  world_tick(&w, 3 * DAY);
  w.client_env[1].now += DAY;
  /* n8 has a write not yet pushed: its row stays, and the hash leaves it out as the server does. */
  world_patch(&w, 1, "notes", "n8", "{\"title\": \"edited offline\"}");
  set_scope(&w, 1, "{\"recent\": {\"field\": \"updatedAt\", \"days\": 10}}");
  pull_pages(&w, 1, 7, NULL);
  assert_int_equal(count(c, "SELECT count(*) FROM records"), 7); /* n0..n5 (4 days less) and n8 */
  /* As in any resync, its write is kept on no canonical state (sloop_forget_canonical). */
  assert_int_equal(count(c, "SELECT count(*) FROM oplog"), 1);
  p = progress(c);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(p, "verified")));
  assert_int_equal((int)cJSON_GetObjectItem(p, "rounds")->valuedouble, 1);
  cJSON_Delete(p);
  /* No scope at all: everything. */
  assert_ok(c, sloop_set_scope(c, S("null")));
  pull_pages(&w, 1, 50, NULL);
  assert_int_equal(count(c, "SELECT count(*) FROM records"), 60);
  world_close(&w);
}

/* Defect 1: the resync a narrower scope starts, and the server's evictions, dropped a record
** whose only local work was an open conflict (no log operations): the conflict stayed open on
** no record. */
static void an_open_conflict_keeps_its_record_through_a_resync_and_a_server_eviction(void **state) {
  world w;
  world_open(&w, 2, 31, kManualSchema);
  put_note(&w, "r", 10, 0); /* inside 30 days, outside 7: the resync's live filter lacks it */
  put_note(&w, "e", 1, 0);  /* inside both: the server evicts it when its date moves out */
  world_sync(&w, 0);
  sloop_db *c = w.clients[1];
  set_scope(&w, 1, "{\"recent\": {\"field\": \"updatedAt\", \"days\": 30}}");
  pull_pages(&w, 1, 50, NULL);
  open_conflict(&w, "r");
  open_conflict(&w, "e");
  assert_int_equal(open_conflicts_on(c, "r"), 1);
  assert_int_equal(open_conflicts_on(c, "e"), 1);
  assert_int_equal(count(c, "SELECT count(*) FROM oplog"), 0);
  /* Narrower: the resync's sweep (sloop_forget_canonical) keeps r for its conflict. */
  set_scope(&w, 1, "{\"recent\": {\"field\": \"updatedAt\", \"days\": 7}}");
  pull_pages(&w, 1, 50, NULL);
  assert_true(has(c, "notes", "r"));
  assert_int_equal(open_conflicts_on(c, "r"), 1);
  /* The server evicts e (its date moved out of the window): kept for its conflict too. */
  world_patch(&w, 0, "notes", "e", "{\"updatedAt\": 0}");
  world_sync(&w, 0);
  pull_pages(&w, 1, 50, NULL);
  assert_true(has(c, "notes", "e"));
  assert_int_equal(open_conflicts_on(c, "e"), 1);
  world_close(&w);
}

/* Defect 2: a collection dropped from the scope kept its records for good. */
static void a_collection_dropped_from_the_scope_leaves_the_replica(void **state) {
  world w;
  world_open(&w, 2, 37, kSchema);
  put_note(&w, "n", 1, 0);
  world_put(&w, 0, "tasks", "t1", "{\"title\": \"a task\"}");
  world_put(&w, 0, "tasks", "t2", "{\"title\": \"another\"}");
  world_sync(&w, 0);
  sloop_db *c = w.clients[1];
  pull_pages(&w, 1, 50, NULL);
  assert_true(has(c, "tasks", "t1") && has(c, "tasks", "t2"));
  world_patch(&w, 1, "tasks", "t2", "{\"title\": \"edited offline\"}");
  set_scope(&w, 1, "{\"collections\": [\"notes\"]}");
  pull_pages(&w, 1, 50, NULL);
  assert_true(has(c, "notes", "n"));
  assert_false(has(c, "tasks", "t1"));
  assert_true(has(c, "tasks", "t2")); /* its write is not pushed yet */
  /* Pushed and answered, the next pull lets it go too. */
  world_sync(&w, 1);
  pull_pages(&w, 1, 50, NULL);
  w.client_env[1].now += 2 * 60000; /* past the recheck of a record held for its work */
  pull_pages(&w, 1, 50, NULL);
  assert_false(has(c, "tasks", "t2"));
  char *server = world_server_doc(&w, "tasks", "t2");
  assert_non_null(strstr(server, "edited offline"));
  sloop_free(server);
  world_close(&w);
}

/* Defect 3: `remaining` counts changes outside the window, so a windowed replica holding a
** few records resynced each time it fell SLOOP_CATCH_UP_MIN changes behind. */
static void a_windowed_replica_does_not_catch_up_by_resync(void **state) {
  world w;
  world_open(&w, 2, 41, kSchema);
  put_note(&w, "n", 1, 0);
  world_put(&w, 0, "tasks", "t", "{\"title\": \"a task\"}");
  world_sync(&w, 0);
  sloop_db *c = w.clients[1];
  set_scope(&w, 1, "{\"recent\": {\"notes\": {\"field\": \"updatedAt\", \"days\": 3}}, \"priority\": [\"tasks\"]}");
  pull_pages(&w, 1, 100, NULL);
  assert_ok(w.clients[0], sloop_tx_begin(w.clients[0]));
  for (int k = 0; k < SLOOP_CATCH_UP_MIN + 200; k++) {
    char id[16];
    snprintf(id, sizeof(id), "old%d", k);
    put_note(&w, id, 40, 0); /* outside the window */
  }
  assert_ok(w.clients[0], sloop_tx_end(w.clients[0], 1));
  world_sync(&w, 0);
  cJSON *pages = cJSON_CreateArray();
  pull_pages(&w, 1, 100, pages);
  const cJSON *a;
  cJSON_ArrayForEach(a, pages) assert_null(cJSON_GetObjectItem(a, "progress"));
  cJSON_Delete(pages);
  cJSON *p = progress(c);
  assert_null(cJSON_GetObjectItem(p, "rounds"));
  cJSON_Delete(p);
  assert_int_equal(count(c, "SELECT count(*) FROM records"), 2);
  world_close(&w);
}

static const char *phase(sloop_db *db) {
  static char buf[32];
  cJSON *p = progress(db);
  snprintf(buf, sizeof(buf), "%s", cJSON_GetStringValue(cJSON_GetObjectItem(p, "phase")));
  cJSON_Delete(p);
  return buf;
}

/* Defect 4: a scope the same but for its members' order, or for what only orders a snapshot
** (priority, order, orderBy), started a resync. */
static void only_a_change_of_what_is_held_resyncs(void **state) {
  world w;
  world_open(&w, 2, 43, kSchema);
  put_note(&w, "n", 1, 0);
  world_sync(&w, 0);
  sloop_db *c = w.clients[1];
  set_scope(&w, 1, "{\"collections\": [\"notes\", \"tasks\"], \"where\": {\"a\": 1, \"b\": \"x\"},"
                   " \"recent\": {\"notes\": {\"field\": \"updatedAt\", \"days\": 30}, \"tasks\": {\"field\": \"due\", \"days\": 9}}}");
  pull_pages(&w, 1, 50, NULL);
  assert_string_equal(phase(c), "idle");
  const char *same[] = {
      "{\"where\": {\"b\": \"x\", \"a\": 1}, \"collections\": [\"tasks\", \"notes\", \"notes\"],"
      " \"recent\": {\"tasks\": {\"days\": 9, \"field\": \"due\"}, \"notes\": {\"days\": 30, \"field\": \"updatedAt\"}}}",
      "{\"collections\": [\"notes\", \"tasks\"], \"where\": {\"a\": 1, \"b\": \"x\"}, \"priority\": [\"tasks\"], \"order\": \"recent\","
      " \"orderBy\": \"updatedAt\", \"recent\": {\"notes\": {\"field\": \"updatedAt\", \"days\": 30}, \"tasks\": {\"field\": \"due\", \"days\": 9}}}"};
  for (int i = 0; i < 2; i++) {
    set_scope(&w, 1, same[i]);
    if (strcmp(phase(c), "idle") != 0) fail_msg("scope %d started a resync", i);
  }
  /* The new text is kept all the same: its priority is what the next snapshot serves first. */
  assert_int_equal(count(c, "SELECT count(*) FROM meta WHERE k = 'scope' AND v LIKE '%priority%'"), 1);
  /* What is held changes: a resync. */
  set_scope(&w, 1, "{\"collections\": [\"notes\"], \"where\": {\"a\": 1, \"b\": \"x\"},"
                   " \"recent\": {\"notes\": {\"field\": \"updatedAt\", \"days\": 30}, \"tasks\": {\"field\": \"due\", \"days\": 9}}}");
  assert_string_equal(phase(c), "snapshot");
  world_close(&w);
}

/* The `since` of the window of `coll` in client i's next pull request. */
static int64_t request_since(world *w, int i, const char *coll) {
  char *req = NULL;
  size_t len = 0;
  assert_ok(w->clients[i], sloop_pull_request(w->clients[i], 10, NULL, 0, &req, &len));
  cJSON *r = cJSON_Parse(req);
  sloop_free(req);
  const cJSON *recent = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "scope"), "recent");
  const cJSON *win = cJSON_GetObjectItem(recent, "field") ? recent : cJSON_GetObjectItem(recent, coll);
  int64_t since = (int64_t)cJSON_GetObjectItem(win, "since")->valuedouble;
  cJSON_Delete(r);
  return since;
}

/* Defect 5: a clock set back (after running fast) moved the cut-off back. */
static void the_cut_off_never_moves_back(void **state) {
  world w;
  world_open(&w, 2, 47, kSchema);
  put_note(&w, "d5", 5, 0);
  world_sync(&w, 0);
  sloop_db *c = w.clients[1];
  set_scope(&w, 1, "{\"recent\": {\"field\": \"updatedAt\", \"days\": 7}}");
  pull_pages(&w, 1, 50, NULL);
  int64_t first = request_since(&w, 1, "notes");
  /* The clock runs 3 days fast: d5 ages out and goes. */
  w.client_env[1].now += 3 * DAY;
  int evicted = -1;
  assert_ok(c, sloop_scope_evict(c, 0, &evicted));
  assert_int_equal(evicted, 1);
  int64_t fast = request_since(&w, 1, "notes");
  assert_true(fast >= first + 3 * DAY - 60000);
  /* Corrected: the cut-off stays where it was, and d5 does not come back. */
  w.client_env[1].now -= 3 * DAY;
  assert_int_equal(request_since(&w, 1, "notes"), fast);
  set_scope(&w, 1, "{\"recent\": {\"field\": \"updatedAt\", \"days\": 7}}");
  pull_pages(&w, 1, 50, NULL);
  assert_false(has(c, "notes", "d5"));
  /* Another window starts from its own cut-off. */
  set_scope(&w, 1, "{\"recent\": {\"field\": \"updatedAt\", \"days\": 8}}");
  assert_true(request_since(&w, 1, "notes") < fast);
  world_close(&w);
}

/* Defect 6: the scope hash's window was tested on the local view (pending edits), the
** server's on the canonical record. */
static void the_scope_hash_reads_the_window_from_the_canonical_state(void **state) {
  world w;
  world_open(&w, 2, 53, kSchema);
  for (int k = 0; k < 10; k++) {
    char id[16];
    snprintf(id, sizeof(id), "n%d", k);
    put_note(&w, id, k * 3 + 0.5, 0);
  }
  world_sync(&w, 0);
  sloop_db *c = w.clients[1];
  set_scope(&w, 1, "{\"recent\": {\"field\": \"updatedAt\", \"days\": 10}}");
  pull_pages(&w, 1, 50, NULL);
  /* Pending edits date n1 and n3 out of every window here; the server still has them inside. */
  world_patch(&w, 1, "notes", "n1", "{\"updatedAt\": 0}");
  world_patch(&w, 1, "notes", "n3", "{\"updatedAt\": 1}");
  set_scope(&w, 1, "{\"recent\": {\"field\": \"updatedAt\", \"days\": 20}}");
  pull_pages(&w, 1, 50, NULL);
  cJSON *p = progress(c);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(p, "verified")));
  assert_int_equal((int)cJSON_GetObjectItem(p, "rounds")->valuedouble, 1);
  cJSON_Delete(p);
  assert_int_equal(count(c, "SELECT count(*) FROM oplog"), 2);
  world_close(&w);
}

static void priority_collections_arrive_first_in_an_initial_sync(void **state) {
  world w;
  world_open(&w, 3, 19, kSchema);
  for (int k = 0; k < 30; k++) {
    char id[16];
    snprintf(id, sizeof(id), "n%d", k);
    put_note(&w, id, 1, 0);
  }
  world_sync(&w, 0);
  /* Tasks written last: in version order they would come last. */
  for (int k = 0; k < 30; k++) {
    char id[16];
    snprintf(id, sizeof(id), "t%d", k);
    world_put(&w, 0, "tasks", id, "{\"title\": \"a task\"}");
  }
  world_sync(&w, 0);
  /* Priority alone (every collection the user may read), and priority within collections. */
  const char *scopes[] = {"{\"priority\": [\"tasks\"]}", "{\"collections\": [\"notes\", \"tasks\"], \"priority\": [\"tasks\"]}"};
  for (int s = 0; s < 2; s++) {
    sloop_db *c = w.clients[1 + s];
    set_scope(&w, 1 + s, scopes[s]);
    cJSON *pages = cJSON_CreateArray();
    pull_pages(&w, 1 + s, 8, pages);
    int seen_notes = 0, tasks_after_notes = 0, n = 0;
    const cJSON *a, *ch;
    cJSON_ArrayForEach(a, pages) cJSON_ArrayForEach(ch, cJSON_GetObjectItem(a, "changes")) {
      int task = strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(ch, "coll")), "tasks") == 0;
      if (!task) seen_notes = 1;
      else if (seen_notes) tasks_after_notes++;
      n++;
    }
    assert_int_equal(n, 60);
    assert_int_equal(tasks_after_notes, 0);
    /* The first page is tasks only, and it was a snapshot page. */
    const cJSON *first = cJSON_GetArrayItem(pages, 0);
    assert_non_null(cJSON_GetObjectItem(first, "progress"));
    cJSON_ArrayForEach(ch, cJSON_GetObjectItem(first, "changes"))
      assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(ch, "coll")), "tasks");
    assert_int_equal(count(c, "SELECT count(*) FROM records"), 60);
    cJSON_Delete(pages);
  }
  world_close(&w);
}

static void far_behind_a_replica_catches_up_in_priority_order(void **state) {
  world w;
  world_open(&w, 2, 29, kSchema);
  put_note(&w, "n", 1, 0);
  world_put(&w, 0, "tasks", "t", "{\"title\": \"a task\"}");
  world_sync(&w, 0);
  sloop_db *c = w.clients[1];
  set_scope(&w, 1, "{\"priority\": [\"tasks\"]}");
  pull_pages(&w, 1, 100, NULL);
  /* While the replica is away: many notes, then a few tasks. */
  assert_ok(w.clients[0], sloop_tx_begin(w.clients[0]));
  for (int k = 0; k < SLOOP_CATCH_UP_MIN + 200; k++) {
    char id[16];
    snprintf(id, sizeof(id), "m%d", k);
    put_note(&w, id, 1, 0);
  }
  assert_ok(w.clients[0], sloop_tx_end(w.clients[0], 1));
  for (int k = 0; k < 5; k++) {
    char id[16];
    snprintf(id, sizeof(id), "t%d", k);
    world_put(&w, 0, "tasks", id, "{\"title\": \"written last\"}");
  }
  world_sync(&w, 0);
  cJSON *pages = cJSON_CreateArray();
  pull_pages(&w, 1, 100, pages);
  /* The first page came in version order (notes); the rest as a snapshot, tasks first. */
  int page = 0, tasks_late = 0, seen_notes = 0, n = 0;
  const cJSON *a, *ch;
  cJSON_ArrayForEach(a, pages) {
    if (page++ == 0) {
      assert_null(cJSON_GetObjectItem(a, "progress"));
      continue;
    }
    cJSON_ArrayForEach(ch, cJSON_GetObjectItem(a, "changes")) {
      int task = strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(ch, "coll")), "tasks") == 0;
      if (!task) seen_notes = 1;
      else if (seen_notes) tasks_late++;
      n++;
    }
  }
  cJSON_Delete(pages);
  assert_int_equal(tasks_late, 0);
  assert_true(n >= SLOOP_CATCH_UP_MIN + 200 + 5 - 100); /* everything the first page did not bring */
  assert_int_equal(count(c, "SELECT count(*) FROM records"), SLOOP_CATCH_UP_MIN + 200 + 7);
  char *server = world_dump(w.server, "tasks"), *client = world_dump(c, "tasks");
  assert_string_equal(client, server);
  sloop_free(server);
  sloop_free(client);
  cJSON *p = progress(c);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItem(p, "verified")));
  cJSON_Delete(p);
  /* A replica only a little behind pulls in version order as ever. */
  world_put(&w, 0, "tasks", "t9", "{\"title\": \"one more\"}");
  world_sync(&w, 0);
  pages = cJSON_CreateArray();
  pull_pages(&w, 1, 100, pages);
  cJSON_ArrayForEach(a, pages) assert_null(cJSON_GetObjectItem(a, "progress"));
  cJSON_Delete(pages);
  world_close(&w);
}

static void bad_scopes_are_refused_and_change_nothing(void **state) {
  world w;
  world_open(&w, 1, 23, kSchema);
  sloop_db *c = w.clients[0];
  const char *bad[] = {"[]", "5", "{\"colls\": []}", "{\"collections\": \"notes\"}", "{\"collections\": [\"no-name\"]}",
                       "{\"where\": {\"a\": {}}}", "{\"recent\": {\"field\": \"updatedAt\"}}",
                       "{\"recent\": {\"field\": \"updatedAt\", \"since\": 5}}", "{\"recent\": {\"notes\": {\"days\": 3}}}",
                       "{\"priority\": \"tasks\"}", "{\"order\": \"oldest\"}", "{\"orderBy\": 5}", "{\"recent\": "};
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    int rc = sloop_set_scope(c, bad[i], strlen(bad[i]));
    if (rc != SLOOP_INVALID && rc != SLOOP_JSON) fail_msg("scope %s: %s", bad[i], sloop_errstr(rc));
  }
  assert_int_equal(count(c, "SELECT count(*) FROM meta WHERE k = 'scope'"), 0);
  assert_int_equal(sloop_set_scope(w.server, S("null")), SLOOP_INVALID);
  world_close(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(iso_times_and_numbers_are_read_and_anything_else_is_not),
      cmocka_unit_test(the_server_serves_only_the_window_and_evicts_what_moved_out),
      cmocka_unit_test(a_replica_keeps_its_window_and_evicts_what_ages_out_but_not_local_work),
      cmocka_unit_test(an_open_conflict_holds_a_record_in_the_replica),
      cmocka_unit_test(a_wider_window_fetches_what_the_replica_lacks_and_verifies),
      cmocka_unit_test(priority_collections_arrive_first_in_an_initial_sync),
      cmocka_unit_test(far_behind_a_replica_catches_up_in_priority_order),
      cmocka_unit_test(bad_scopes_are_refused_and_change_nothing),
      cmocka_unit_test(an_open_conflict_keeps_its_record_through_a_resync_and_a_server_eviction),
      cmocka_unit_test(a_collection_dropped_from_the_scope_leaves_the_replica),
      cmocka_unit_test(a_windowed_replica_does_not_catch_up_by_resync),
      cmocka_unit_test(only_a_change_of_what_is_held_resyncs),
      cmocka_unit_test(the_cut_off_never_moves_back),
      cmocka_unit_test(the_scope_hash_reads_the_window_from_the_canonical_state),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
