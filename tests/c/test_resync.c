/*
** test_resync.c -- snapshot pulls: progressive initial sync (pages newest first, progress
** figures, nothing missed while writes land between pages) and resync (a Bloom filter of
** held records, the bytes it saves, false positives caught by the scope hash, a replica
** restored from a backup older than the compaction horizon).
*/
#define _DEFAULT_SOURCE /* mkdtemp */
#include <stdio.h>
#include <unistd.h>

#include "bloom.h"
#include "internal.h"
#include "world.h"

#define NOTES "notes"

typedef struct traffic {
  size_t request_bytes, answer_bytes;
  int pages, resyncs;
} traffic;

/* Client 0 writes n notes "r<k>" in one transaction and pushes them. */
static void seed_notes(world *w, int n) {
  sloop_db *c = w->clients[0];
  assert_ok(c, sloop_tx_begin(c));
  for (int k = 0; k < n; k++) {
    char id[16], doc[160];
    snprintf(id, sizeof(id), "r%d", k);
    snprintf(doc, sizeof(doc), "{\"title\": \"note %d\", \"body\": \"the body of note %d, long enough to matter\", \"votes\": %d}", k, k, k % 7);
    world_put(w, 0, NOTES, id, doc);
  }
  assert_ok(c, sloop_tx_end(c, 1));
  world_sync(w, 0);
}

/* One pull round trip of client i with `scope`; a SLOOP_RESYNC answer starts a resync with
** false-positive rate fp. Returns hasMore. */
static int pull_page(world *w, int i, const char *scope, int limit, double fp, traffic *t, cJSON **answer) {
  sloop_db *c = w->clients[i];
  char *req = NULL, *resp = NULL, ctx[160];
  size_t rl = 0, sl = 0;
  int more = 0;
  world_ctx(w, i, ctx, sizeof(ctx));
  assert_ok(c, sloop_pull_request(c, limit, scope, scope ? strlen(scope) : 0, &req, &rl));
  int rc = sloop_server_pull(w->server, req, rl, ctx, strlen(ctx), &resp, &sl);
  if (rc == SLOOP_RESYNC) {
    t->resyncs++;
    assert_ok(c, sloop_resync_begin(c, fp));
    more = 1;
  } else {
    if (rc) fail_msg("pull: %s: %s", sloop_errstr(rc), sloop_errmsg(w->server));
    t->request_bytes += rl;
    t->answer_bytes += sl;
    t->pages++;
    assert_ok(c, sloop_pull_apply(c, resp, sl, &more));
    if (answer) *answer = cJSON_Parse(resp);
  }
  sloop_free(req);
  sloop_free(resp);
  return more;
}

static void pull_all(world *w, int i, const char *scope, int limit, double fp, traffic *t) {
  for (int more = 1, guard = 0; more; guard++) {
    if (guard > 2000) fail_msg("client %d never finished pulling", i);
    more = pull_page(w, i, scope, limit, fp, t, NULL);
  }
}

static void assert_same_as_server(world *w, int i) {
  char *server = world_dump(w->server, NOTES), *client = world_dump(w->clients[i], NOTES);
  if (strcmp(server, client) != 0) fail_msg("client %d differs from the server:\n%.600s\n--\n%.600s", i, client, server);
  sloop_free(server);
  sloop_free(client);
}

static cJSON *progress(sloop_db *db) {
  char *text = NULL;
  assert_ok(db, sloop_pull_progress(db, &text, NULL));
  cJSON *p = cJSON_Parse(text);
  sloop_free(text);
  return p;
}

static double num(const cJSON *obj, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
  if (!cJSON_IsNumber(v)) fail_msg("no number %s", name);
  return v->valuedouble;
}

static int64_t server_head(world *w) {
  char *out = NULL;
  assert_ok(w->server, sloop_sql(w->server, S("SELECT v FROM meta WHERE k = 'version'"), &out, NULL));
  const char *digits = strpbrk(out, "0123456789");
  int64_t v = digits ? strtoll(digits, NULL, 10) : 0;
  sloop_free(out);
  return v;
}

/* ---------------------------------------------------------------- initial sync ------- */

static void an_initial_sync_pages_newest_first_and_misses_nothing(void **state) {
  world w;
  world_open(&w, 2, 41, NULL);
  seed_notes(&w, 250);
  const char *scope = "{\"order\": \"recent\"}";
  traffic t = {0};
  int64_t last = INT64_MAX;
  for (int page = 1, more = 1; more; page++) {
    cJSON *answer = NULL;
    more = pull_page(&w, 1, scope, 50, 0, &t, &answer);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(answer, "progress"), *ch;
    if (p) {
      /* Snapshot pages: newest first, with "page k of n" fixed from the first page. */
      assert_int_equal((int)num(p, "page"), page);
      assert_int_equal((int)num(p, "total"), 250);
      assert_true(num(p, "pages") == 5 || (num(p, "pages") == page && !cJSON_GetObjectItemCaseSensitive(answer, "snapshot")));
      cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(answer, "changes")) {
        int64_t v = (int64_t)num(ch, "version");
        assert_true(v < last);
        last = v;
      }
      printf("  initial sync: page %d of %d, %d records so far of %d\n", (int)num(p, "page"),
             (int)num(p, "pages"), (int)num(p, "sent"), (int)num(p, "total"));
    }
    cJSON_Delete(answer);
    if (page == 2) {
      /* Writes between pages: to records served already, not yet served, new and deleted. */
      world_put(&w, 0, NOTES, "r249", "{\"title\": \"changed after its page\"}");
      world_put(&w, 0, NOTES, "r3", "{\"title\": \"changed before its page\"}");
      world_put(&w, 0, NOTES, "new1", "{\"title\": \"created during the sync\"}");
      assert_ok(w.clients[0], sloop_delete(w.clients[0], S(NOTES), S("r10")));
      world_sync(&w, 0);
    }
  }
  assert_same_as_server(&w, 1);
  cJSON *p = progress(w.clients[1]);
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "phase")), "idle");
  assert_true(num(p, "page") == num(p, "pages"));
  cJSON_Delete(p);
  /* Afterwards the ordinary pull from the snapshot version takes over. */
  world_put(&w, 0, NOTES, "r5", "{\"title\": \"later\"}");
  world_sync(&w, 0);
  world_pull(&w, 1);
  assert_same_as_server(&w, 1);
  world_close(&w);
}

static void collections_in_priority_order_and_a_field_for_recency(void **state) {
  const char *schema = "{\"collections\": {\"notes\": {\"strict\": false}, \"tasks\": {\"strict\": false}}}";
  world w;
  world_open(&w, 2, 42, schema);
  for (int k = 0; k < 30; k++) {
    char id[16], doc[96];
    snprintf(id, sizeof(id), "x%d", k);
    snprintf(doc, sizeof(doc), "{\"updatedAt\": %d}", (k * 7) % 30);
    assert_ok(w.clients[0], sloop_put(w.clients[0], S(k % 2 ? "tasks" : "notes"), id, strlen(id), doc, strlen(doc)));
  }
  world_sync(&w, 0);
  const char *scope = "{\"order\": \"recent\", \"orderBy\": \"updatedAt\", \"collections\": [\"tasks\", \"notes\"]}";
  traffic t = {0};
  const char *coll_seen = "tasks";
  double last = 1e9;
  for (int more = 1; more;) {
    cJSON *answer = NULL;
    more = pull_page(&w, 1, scope, 4, 0, &t, &answer);
    const cJSON *ch;
    cJSON_ArrayForEach(ch, cJSON_GetObjectItemCaseSensitive(answer, "changes")) {
      const char *coll = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ch, "coll"));
      double at = num(cJSON_GetObjectItemCaseSensitive(ch, "doc"), "updatedAt");
      if (strcmp(coll, coll_seen) != 0) {
        assert_string_equal(coll_seen, "tasks"); /* every task before any note */
        coll_seen = "notes";
        last = 1e9;
      }
      assert_true(at <= last);
      last = at;
    }
    cJSON_Delete(answer);
  }
  assert_int_equal(t.pages, 8);
  char *server = world_dump(w.server, "tasks"), *client = world_dump(w.clients[1], "tasks");
  assert_string_equal(server, client);
  sloop_free(server);
  sloop_free(client);
  assert_same_as_server(&w, 1);
  world_close(&w);
}

/* ---------------------------------------------------------------- resync ------------- */

/* 5,000 notes that clients 1 and 2 hold, then 1% of them change (patched, deleted, created)
** and the server compacts, so both clients' cursors are too old. */
static void world_with_stale_clients(world *w, uint64_t seed) {
  world_open(w, 3, seed, NULL);
  seed_notes(w, 5000);
  traffic t = {0};
  pull_all(w, 1, NULL, 1000, 0, &t);
  pull_all(w, 2, NULL, 1000, 0, &t);
  sloop_db *c = w->clients[0];
  assert_ok(c, sloop_tx_begin(c));
  for (int k = 0; k < 50; k++) {
    char id[16];
    snprintf(id, sizeof(id), "r%d", k * 100 + 7);
    if (k < 40) assert_ok(c, sloop_patch(c, S(NOTES), id, strlen(id), S("{\"title\": \"changed\"}")));
    else if (k < 45) assert_ok(c, sloop_delete(c, S(NOTES), id, strlen(id)));
    else {
      snprintf(id, sizeof(id), "fresh%d", k);
      world_put(w, 0, NOTES, id, "{\"title\": \"new\"}");
    }
  }
  assert_ok(c, sloop_tx_end(c, 1));
  world_sync(w, 0);
  assert_ok(w->server, sloop_server_compact(w->server, server_head(w)));
}

static void resync_with_a_filter_sends_a_fraction_of_a_full_one(void **state) {
  world w;
  world_with_stale_clients(&w, 43);
  traffic filtered = {0}, full = {0};
  pull_all(&w, 1, NULL, 500, 0.01, &filtered);
  pull_all(&w, 2, NULL, 500, 0, &full);
  assert_int_equal(filtered.resyncs, 1);
  assert_int_equal(full.resyncs, 1);
  assert_same_as_server(&w, 1);
  assert_same_as_server(&w, 2);
  cJSON *p = progress(w.clients[1]);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "verified")));
  printf("  5000 records, 1%% changed: filtered resync %zu bytes (requests %zu + answers %zu) in %d pages,"
         " full resync %zu bytes (requests %zu + answers %zu) in %d pages; saved %.1f%%;"
         " %d records omitted, server estimate of bytes saved %.0f; rounds %d\n",
         filtered.request_bytes + filtered.answer_bytes, filtered.request_bytes, filtered.answer_bytes,
         filtered.pages, full.request_bytes + full.answer_bytes, full.request_bytes, full.answer_bytes, full.pages,
         100.0 * (1.0 - (double)(filtered.request_bytes + filtered.answer_bytes) / (double)(full.request_bytes + full.answer_bytes)),
         (int)num(p, "omitted"), num(p, "omittedBytes"), (int)num(p, "rounds"));
  assert_true((filtered.request_bytes + filtered.answer_bytes) * 10 < full.request_bytes + full.answer_bytes);
  assert_true(num(p, "rounds") <= 2);
  cJSON_Delete(p);
  world_close(&w);
}

static void a_false_positive_is_caught_by_the_scope_hash(void **state) {
  world w;
  world_with_stale_clients(&w, 44);
  traffic t = {0};
  /* A filter this small claims nearly everything, changed records included. */
  pull_all(&w, 1, NULL, 500, 0.9, &t);
  assert_same_as_server(&w, 1);
  cJSON *p = progress(w.clients[1]);
  assert_int_equal((int)num(p, "rounds"), 3);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "verified")));
  printf("  tiny filter: %d pages, %zu bytes, two filtered rounds, then a full one\n", t.pages,
         t.request_bytes + t.answer_bytes);
  cJSON_Delete(p);
  world_close(&w);
}

static void the_bloom_filter_keeps_its_false_positive_rate(void **state) {
  sloop_bloom b;
  assert_int_equal(sloop_bloom_init(&b, 5000, 0.01), SLOOP_OK);
  char key[SLOOP_BLOOM_KEY_MAX];
  for (int k = 0; k < 5000; k++) sloop_bloom_add(&b, sloop_key_hash(key, sloop_bloom_key(key, "notes", "r", k, 1)));
  for (int k = 0; k < 5000; k++) assert_true(sloop_bloom_has(&b, sloop_key_hash(key, sloop_bloom_key(key, "notes", "r", k, 1))));
  int fp = 0;
  for (int k = 5000; k < 105000; k++) fp += sloop_bloom_has(&b, sloop_key_hash(key, sloop_bloom_key(key, "notes", "r", k, 1)));
  printf("  Bloom filter for 5000 keys at 1%%: m=%u bits (%u bytes), k=%u, measured false positives %.2f%%\n", b.m,
         b.m / 8, b.k, fp / 1000.0);
  assert_true(fp < 1500);
  cJSON *json = sloop_bloom_to_json(&b);
  sloop_bloom back;
  assert_int_equal(sloop_bloom_from_json(json, &back), SLOOP_OK);
  assert_memory_equal(back.bits, b.bits, b.m / 8);
  cJSON_ReplaceItemInObject(json, "m", cJSON_CreateNumber(b.m + 8));
  sloop_bloom bad;
  assert_int_equal(sloop_bloom_from_json(json, &bad), SLOOP_INVALID);
  cJSON_Delete(json);
  sloop_bloom_clear(&back);
  sloop_bloom_clear(&b);
}

static void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  assert_non_null(in);
  assert_non_null(out);
  char buf[8192];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), in)) > 0) assert_int_equal(fwrite(buf, 1, n, out), n);
  fclose(in);
  fclose(out);
}

static void a_replica_restored_from_a_backup_ends_equal_and_keeps_its_pending_ops(void **state) {
  char dir[] = "/tmp/sloop-resync-XXXXXX", path[64], backup[64];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/c0.db", dir);
  snprintf(backup, sizeof(backup), "%s/backup.db", dir);
  world w;
  world_open(&w, 2, 45, NULL);
  sloop_close(w.clients[0]);
  assert_int_equal(world_attach_client(&w, 0, path, NULL), SLOOP_OK);
  for (int k = 0; k < 20; k++) {
    char id[16];
    snprintf(id, sizeof(id), "a%d", k);
    world_put(&w, 0, NOTES, id, "{\"title\": \"first\", \"votes\": 1}");
  }
  world_sync(&w, 0);
  world_pull(&w, 1);
  /* In the backup: a record never pushed and a patch not yet pushed. */
  world_put(&w, 0, NOTES, "p1", "{\"title\": \"made offline\"}");
  assert_ok(w.clients[0], sloop_patch(w.clients[0], S(NOTES), S("a1"), S("{\"votes\": {\"$inc\": 5}}")));
  copy_file(path, backup);
  /* After the backup: they are pushed, the other device changes and deletes, the server
  ** compacts. */
  world_sync(&w, 0);
  world_pull(&w, 1);
  assert_ok(w.clients[1], sloop_delete(w.clients[1], S(NOTES), S("a2")));
  assert_ok(w.clients[1], sloop_patch(w.clients[1], S(NOTES), S("a3"), S("{\"title\": \"by the other device\"}")));
  assert_ok(w.clients[1], sloop_put(w.clients[1], S(NOTES), S("b1"), S("{\"title\": \"new elsewhere\"}")));
  world_sync(&w, 1);
  assert_ok(w.server, sloop_server_compact(w.server, server_head(&w)));
  /* Restore, and write offline before syncing. */
  sloop_close(w.clients[0]);
  copy_file(backup, path);
  assert_int_equal(world_attach_client(&w, 0, path, NULL), SLOOP_OK);
  world_put(&w, 0, NOTES, "p2", "{\"title\": \"made after the restore\"}");
  assert_ok(w.clients[0], sloop_patch(w.clients[0], S(NOTES), S("a4"), S("{\"title\": \"edited after the restore\"}")));
  traffic t = {0};
  pull_all(&w, 0, NULL, 7, 0.01, &t);
  assert_int_equal(t.resyncs, 1);
  /* The operations of the backup the server had applied were acknowledged by the pull (so
  ** the increment counts once); those it never saw are still queued. */
  char *ops = NULL;
  assert_ok(w.clients[0], sloop_ops(w.clients[0], "pending", &ops, NULL));
  assert_null(strstr(ops, "\"rid\":\"p1\""));
  assert_null(strstr(ops, "\"rid\":\"a1\""));
  assert_non_null(strstr(ops, "\"rid\":\"p2\""));
  assert_non_null(strstr(ops, "\"rid\":\"a4\""));
  sloop_free(ops);
  assert_null(world_get(w.clients[0], NOTES, "a2"));
  char *doc = world_get(w.clients[0], NOTES, "a1");
  assert_non_null(strstr(doc, "\"votes\":6"));
  sloop_free(doc);
  doc = world_get(w.clients[0], NOTES, "a4");
  assert_non_null(strstr(doc, "edited after the restore"));
  sloop_free(doc);
  cJSON *p = progress(w.clients[0]);
  assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "verified")));
  cJSON_Delete(p);
  world_sync(&w, 0);
  assert_same_as_server(&w, 0);
  doc = world_server_doc(&w, NOTES, "p2");
  assert_non_null(doc);
  sloop_free(doc);
  world_pull(&w, 1);
  assert_same_as_server(&w, 1);
  world_close(&w);
  unlink(path);
  unlink(backup);
  char journal[80];
  snprintf(journal, sizeof(journal), "%s-journal", path);
  unlink(journal);
  rmdir(dir);
}

static void bad_snapshot_requests_are_refused(void **state) {
  world w;
  world_open(&w, 1, 46, NULL);
  const char *ctx = "{}";
  const char *bodies[] = {
      "{\"v\":1,\"device\":\"d1\",\"cursor\":3,\"snapshot\":true}",
      "{\"v\":1,\"device\":\"d1\",\"cursor\":0,\"have\":{\"bloom\":\"\",\"k\":1,\"m\":8}}",
      "{\"v\":1,\"device\":\"d1\",\"cursor\":0,\"snapshot\":true,\"have\":{\"bloom\":\"!!\",\"k\":1,\"m\":8}}",
      "{\"v\":1,\"device\":\"d1\",\"cursor\":0,\"snapshot\":{\"at\":99}}",
      "{\"v\":1,\"device\":\"d1\",\"cursor\":0,\"snapshot\":true,\"scope\":{\"order\":\"sideways\"}}",
      "{\"v\":1,\"device\":\"d1\",\"cursor\":0,\"snapshot\":true,\"scope\":{\"orderBy\":\"a b\"}}",
  };
  for (size_t k = 0; k < sizeof(bodies) / sizeof(bodies[0]); k++) {
    char *resp = NULL;
    assert_int_equal(sloop_server_pull(w.server, bodies[k], strlen(bodies[k]), ctx, strlen(ctx), &resp, NULL), SLOOP_INVALID);
    assert_null(resp);
  }
  world_close(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(an_initial_sync_pages_newest_first_and_misses_nothing),
      cmocka_unit_test(collections_in_priority_order_and_a_field_for_recency),
      cmocka_unit_test(the_bloom_filter_keeps_its_false_positive_rate),
      cmocka_unit_test(resync_with_a_filter_sends_a_fraction_of_a_full_one),
      cmocka_unit_test(a_false_positive_is_caught_by_the_scope_hash),
      cmocka_unit_test(a_replica_restored_from_a_backup_ends_equal_and_keeps_its_pending_ops),
      cmocka_unit_test(bad_snapshot_requests_are_refused),
  };
  return cmocka_run_group_tests_name("resync", tests, NULL, NULL);
}
