/*
** test_format.c -- databases written by an earlier format open with everything intact.
**
** tests/fixtures/format-v1/ and format-v2/ hold a client and a server database written by
** formats 1 and 2 from the same scenario (see their READMEs and tests/c/fixture_gen.c), so the
** tests that check what a user sees run on both. Each test works on copies in a temporary folder and
** checks, through the public API, every record and sync state, every pending and failed
** operation, every conflict, the cursor, the device id and the operation sequence, then syncs
** the client against the server. A later format migrates these files on open: this test is
** what the migration must keep passing. The expected values below are what formats 1 and 2
** wrote.
** Run from the repository root (tests/run.mjs does), where the fixture path is relative to.
*/
#define _DEFAULT_SOURCE /* mkdtemp */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cJSON.h"
#include "sqlite3.h"
#include "testutil.h"

#define FIXTURES_V1 "tests/fixtures/format-v1"
#define FIXTURES_V2 "tests/fixtures/format-v2"
#define CLIENT_DEVICE "672b8485d9ea8942"
#define OTHER_DEVICE "673e462c5b20d5af"
/* A minute after the fixture's last write, inside its schema's drift bound. */
#define NOW_MS 1767225700000LL

/* ---------------------------------------------------------------- what format 1 wrote -- */

static const char kClientNotes[] =
    "[{\"id\":\"n1\",\"doc\":{\"body\":\"check the valve\",\"createdBy\":\"ann\",\"site\":\"north\","
    "\"status\":\"done\",\"tags\":[\"plant\"],\"title\":\"Pump 4\",\"updatedAt\":1,\"votes\":1},\"state\":2},"
    "{\"id\":\"n2\",\"doc\":{\"body\":\"pressure low\",\"site\":\"south\",\"status\":\"waiting\","
    "\"tags\":[\"heat\"],\"title\":\"Boiler 2\",\"votes\":1},\"state\":4},"
    "{\"id\":\"n3\",\"doc\":{\"createdBy\":\"bob\",\"tags\":[\"safety\",\"yard\"],\"title\":\"Fence\"},\"state\":3},"
    "{\"id\":\"n4\",\"doc\":{\"body\":\"new hinge\",\"tags\":[\"yard\"],\"title\":\"Gate\",\"votes\":2},\"state\":0}]";

static const char kClientTasks[] =
    "[{\"id\":\"t1\",\"doc\":{\"done\":true,\"owner\":\"ann\",\"points\":4,\"title\":\"order seals\"},\"state\":4}]";

static const char kClientOps[] =
    "[{\"id\":\"672b8485d9ea8942:10\",\"type\":\"patch\",\"coll\":\"notes\",\"rid\":\"n3\","
    "\"hlc\":\"019b76dad6e0-0000-672b8485d9ea8942\",\"base\":3,"
    "\"payload\":{\"createdBy\":{\"set\":\"zed\"},\"votes\":{\"inc\":2}},\"status\":\"failed\",\"attempts\":1,"
    "\"lastError\":\"immutable: field 'createdBy' is immutable once set\"},"
    "{\"id\":\"672b8485d9ea8942:12\",\"type\":\"put\",\"coll\":\"notes\",\"rid\":\"n4\","
    "\"hlc\":\"019b76dae298-0000-672b8485d9ea8942\",\"base\":0,"
    "\"payload\":{\"title\":{\"set\":\"Gate\"},\"body\":{\"set\":\"new hinge\"},"
    "\"tags\":{\"add\":{\"yard\":\"672b8485d9ea8942:12#0\"},\"rem\":[]},\"votes\":{\"inc\":2}},"
    "\"status\":\"pending\",\"attempts\":0,\"lastError\":null},"
    "{\"id\":\"672b8485d9ea8942:13\",\"type\":\"patch\",\"coll\":\"notes\",\"rid\":\"n2\","
    "\"hlc\":\"019b76dae680-0000-672b8485d9ea8942\",\"base\":11,"
    "\"payload\":{\"title\":{\"set\":\"Boiler 2\"},\"votes\":{\"inc\":1},"
    "\"tags\":{\"add\":{\"heat\":\"672b8485d9ea8942:13#0\"},\"rem\":[]}},"
    "\"status\":\"pending\",\"attempts\":0,\"lastError\":null},"
    "{\"id\":\"672b8485d9ea8942:14\",\"type\":\"put\",\"coll\":\"tasks\",\"rid\":\"t1\","
    "\"hlc\":\"019b76daea68-0000-672b8485d9ea8942\",\"base\":4,"
    "\"payload\":{\"title\":{\"set\":\"order seals\"},\"done\":{\"set\":true},\"owner\":{\"set\":\"ann\"},"
    "\"points\":{\"inc\":1}},\"status\":\"pending\",\"attempts\":0,\"lastError\":null},"
    "{\"id\":\"672b8485d9ea8942:15\",\"type\":\"patch\",\"coll\":\"notes\",\"rid\":\"n2\","
    "\"hlc\":\"019b76daee50-0000-672b8485d9ea8942\",\"base\":11,\"payload\":{\"site\":{\"set\":\"south\"}},"
    "\"status\":\"pending\",\"attempts\":0,\"lastError\":null},"
    "{\"id\":\"672b8485d9ea8942:16\",\"type\":\"delete\",\"coll\":\"tasks\",\"rid\":\"t4\","
    "\"hlc\":\"019b76daf238-0000-672b8485d9ea8942\",\"base\":6,\"payload\":{},"
    "\"status\":\"pending\",\"attempts\":0,\"lastError\":null}]";

/* The same two conflicts on both sides: n1's open, n2's resolved by the client. */
static const char kConflicts[] =
    "[{\"id\":1,\"coll\":\"notes\",\"rid\":\"n1\",\"field\":\"status\",\"server\":\"done\",\"incoming\":\"blocked\","
    "\"op\":\"673e462c5b20d5af:1\",\"device\":\"673e462c5b20d5af\",\"user\":\"u1\","
    "\"hlc\":\"019b76dac740-0000-673e462c5b20d5af\",\"status\":\"open\",\"resolution\":null,\"version\":9},"
    "{\"id\":2,\"coll\":\"notes\",\"rid\":\"n2\",\"field\":\"status\",\"server\":\"done\",\"incoming\":\"waiting\","
    "\"op\":\"673e462c5b20d5af:2\",\"device\":\"673e462c5b20d5af\",\"user\":\"u1\","
    "\"hlc\":\"019b76dacb28-0000-673e462c5b20d5af\",\"status\":\"resolved\",\"resolution\":\"waiting\",\"version\":11}]";

static const char kClientCounts[] =
    "{\"local-only\":1,\"syncing\":0,\"synced\":1,\"failed\":1,\"modified-locally\":3,"
    "\"pendingOps\":5,\"failedOps\":1,\"openConflicts\":1}";

static const char kPullRequest[] =
    "{\"v\":2,\"device\":\"672b8485d9ea8942\",\"cursor\":13,\"limit\":100,\"ackSeq\":11}";

static const char kServerNotes[] =
    "[{\"id\":\"n1\",\"doc\":{\"body\":\"check the valve\",\"createdBy\":\"ann\",\"site\":\"north\","
    "\"status\":\"done\",\"tags\":[\"plant\"],\"title\":\"Pump 4\",\"updatedAt\":1,\"votes\":1},\"state\":2},"
    "{\"id\":\"n2\",\"doc\":{\"body\":\"pressure fixed\",\"status\":\"waiting\",\"title\":\"Boiler\",\"votes\":5},\"state\":2},"
    "{\"id\":\"n3\",\"doc\":{\"createdBy\":\"bob\",\"tags\":[\"safety\",\"yard\"],\"title\":\"Fence\"},\"state\":2}]";

static const char kServerTasks[] =
    "[{\"id\":\"t1\",\"doc\":{\"done\":false,\"owner\":\"ann\",\"points\":3,\"title\":\"order seals\"},\"state\":2},"
    "{\"id\":\"t4\",\"doc\":{\"points\":1,\"title\":\"sweep\"},\"state\":2}]";

/* ---------------------------------------------------------------- helpers -------------- */

typedef struct fixture {
  char dir[64], client_path[96], server_path[96];
  test_env env;
  sloop_db *client, *server;
} fixture;

static void copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb");
  if (!in) fail_msg("cannot read %s (run from the repository root)", from);
  FILE *out = fopen(to, "wb");
  assert_non_null(out);
  char buf[8192];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), in)) > 0) assert_int_equal(fwrite(buf, 1, n, out), n);
  fclose(in);
  assert_int_equal(fclose(out), 0);
}

/* Reads a whole file into a malloc'd buffer. */
static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc(*len ? *len : 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, *len, f), *len);
  fclose(f);
  return buf;
}

/* Copies the fixtures of folder `from` into a fresh temporary folder (not opened yet). */
static void fixture_copy(fixture *fx, const char *from) {
  memset(fx, 0, sizeof(*fx));
  snprintf(fx->dir, sizeof(fx->dir), "/tmp/sloop-format-XXXXXX");
  assert_non_null(mkdtemp(fx->dir));
  snprintf(fx->client_path, sizeof(fx->client_path), "%s/client.db", fx->dir);
  snprintf(fx->server_path, sizeof(fx->server_path), "%s/server.db", fx->dir);
  char path[128];
  snprintf(path, sizeof(path), "%s/client.db", from);
  copy_file(path, fx->client_path);
  snprintf(path, sizeof(path), "%s/server.db", from);
  copy_file(path, fx->server_path);
  fx->env.now = NOW_MS;
  fx->env.rng = 99;
}

/* Opens copies made by fixture_copy, which migrates them. */
static void fixture_open_copies(fixture *fx) {
  sloop_env env = test_env_make(&fx->env);
  int rc = sloop_open(fx->client_path, NULL, SLOOP_ROLE_CLIENT, &env, &fx->client);
  if (rc) fail_msg("open client fixture: %s", sloop_errstr(rc));
  rc = sloop_open(fx->server_path, NULL, SLOOP_ROLE_SERVER, &env, &fx->server);
  if (rc) fail_msg("open server fixture: %s", sloop_errstr(rc));
}

static void fixture_open(fixture *fx, const char *from) {
  fixture_copy(fx, from);
  fixture_open_copies(fx);
}

static void fixture_close(fixture *fx) {
  sloop_close(fx->client);
  sloop_close(fx->server);
  const char *names[] = {"client.db", "server.db", "client.db-journal", "server.db-journal", "copy.db",
                         "copy.db-journal"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", fx->dir, names[i]);
    unlink(path);
  }
  rmdir(fx->dir);
}

/* Fails unless `got` and `want` are the same JSON value (object keys in any order). */
static void assert_json(const char *what, const char *got, const char *want) {
  cJSON *g = got ? cJSON_Parse(got) : NULL, *w = cJSON_Parse(want);
  assert_non_null(w);
  int same = g && cJSON_Compare(g, w, 1);
  cJSON_Delete(g);
  cJSON_Delete(w);
  if (!same) fail_msg("%s:\n got  %s\n want %s", what, got ? got : "(none)", want);
}

static void assert_query(sloop_db *db, const char *coll, const char *want) {
  char *out = NULL;
  assert_ok(db, sloop_query(db, coll, strlen(coll), S("{}"), &out, NULL));
  assert_json(coll, out, want);
  sloop_free(out);
}

static void assert_ops(sloop_db *db, const char *status, const char *want) {
  char *out = NULL;
  assert_ok(db, sloop_ops(db, status, &out, NULL));
  assert_json(status ? status : "ops", out, want);
  sloop_free(out);
}

static void assert_conflicts(sloop_db *db, const char *want) {
  char *out = NULL;
  assert_ok(db, sloop_conflicts(db, 0, &out, NULL));
  assert_json("conflicts", out, want);
  sloop_free(out);
}

static void assert_counts(sloop_db *db, const char *want) {
  char *out = NULL;
  assert_ok(db, sloop_state_counts(db, &out, NULL));
  assert_json("counts", out, want);
  sloop_free(out);
}

static int state_of(sloop_db *db, const char *coll, const char *id) {
  int st = -1;
  int rc = sloop_record_state(db, S(coll), S(id), &st);
  return rc == SLOOP_OK ? st : -rc;
}

static int get_rc(sloop_db *db, const char *coll, const char *id) {
  char *out = NULL;
  int rc = sloop_get(db, S(coll), S(id), &out, NULL);
  sloop_free(out);
  return rc;
}

/* The server's answer to `req` from the fixture client (user u0). Caller frees. */
static char *server_call(fixture *fx, int push, const char *req) {
  char ctx[128], *out = NULL;
  snprintf(ctx, sizeof(ctx), "{\"user\": \"u0\", \"device\": \"%s\"}", CLIENT_DEVICE);
  size_t len = 0;
  int rc = push ? sloop_server_push(fx->server, S(req), S(ctx), &out, &len)
                : sloop_server_pull(fx->server, S(req), S(ctx), &out, &len);
  if (rc) fail_msg("server %s: %s: %s", push ? "push" : "pull", sloop_errstr(rc), sloop_errmsg(fx->server));
  return out;
}

/* Pushes everything the client has pending, then pulls until the server has nothing more. */
static void sync_client(fixture *fx) {
  for (int guard = 0; guard < 20; guard++) {
    char *req = NULL;
    assert_ok(fx->client, sloop_push_begin(fx->client, 50, &req, NULL));
    if (!req) break;
    char *resp = server_call(fx, 1, req);
    assert_ok(fx->client, sloop_push_end(fx->client, S(resp)));
    sloop_free(req);
    sloop_free(resp);
  }
  for (int more = 1, guard = 0; more && guard < 20; guard++) {
    char *req = NULL;
    assert_ok(fx->client, sloop_pull_request(fx->client, 100, NULL, 0, &req, NULL));
    char *resp = server_call(fx, 0, req);
    assert_ok(fx->client, sloop_pull_apply(fx->client, S(resp), &more));
    sloop_free(req);
    sloop_free(resp);
  }
}

/* ---------------------------------------------------------------- tests ---------------- */

static void the_client_fixture_opens_with_everything_intact(void **state) {
  fixture fx;
  fixture_open(&fx, *state);
  sloop_db *c = fx.client;
  assert_string_equal(sloop_device(c), CLIENT_DEVICE);
  assert_query(c, "notes", kClientNotes);
  assert_query(c, "tasks", kClientTasks);
  /* A pending delete keeps its tombstone (t4); a synced one is gone from the client (t2). */
  assert_int_equal(get_rc(c, "tasks", "t4"), SLOOP_NOTFOUND);
  assert_int_equal(state_of(c, "tasks", "t4"), SLOOP_STATE_MODIFIED);
  assert_int_equal(state_of(c, "tasks", "t2"), -SLOOP_NOTFOUND);
  assert_ops(c, NULL, kClientOps);
  assert_conflicts(c, kConflicts);
  assert_counts(c, kClientCounts);
  /* The cursor, the device and the last acknowledged operation, as the next pull sends them. */
  char *req = NULL;
  assert_ok(c, sloop_pull_request(c, 100, NULL, 0, &req, NULL));
  assert_json("pull request", req, kPullRequest);
  sloop_free(req);
  /* Search still finds a pending record's text, and its index got today's merge settings. */
  char *settings = NULL;
  assert_ok(c, sloop_sql(c, S("SELECT k, v FROM records_fts_config WHERE k IN ('automerge', 'crisismerge') ORDER BY k"),
                         &settings, NULL));
  assert_string_equal(settings, "[[\"automerge\",16],[\"crisismerge\",64]]");
  sloop_free(settings);
  char *hits = NULL;
  assert_ok(c, sloop_search(c, S("notes"), S("hinge"), 10, &hits, NULL));
  assert_non_null(strstr(hits, "\"id\":\"n4\""));
  sloop_free(hits);
  /* The operation sequence continues where it stopped. */
  assert_ok(c, sloop_patch(c, S("notes"), S("n1"), S("{\"title\": \"Pump 5\"}")));
  assert_string_equal(sloop_last_op(c), CLIENT_DEVICE ":17");
  fixture_close(&fx);
}

static void the_server_fixture_opens_with_everything_intact(void **state) {
  fixture fx;
  fixture_open(&fx, *state);
  sloop_db *s = fx.server;
  assert_query(s, "notes", kServerNotes);
  assert_query(s, "tasks", kServerTasks);
  assert_conflicts(s, kConflicts);
  /* Every record with its version, the tombstone included, and the device's last op. */
  char *resp = server_call(&fx, 0, "{\"v\":1,\"device\":\"" CLIENT_DEVICE "\",\"cursor\":0,\"limit\":100}");
  cJSON *r = cJSON_Parse(resp);
  sloop_free(resp);
  assert_non_null(r);
  assert_int_equal((int)cJSON_GetObjectItem(r, "cursor")->valuedouble, 14);
  assert_string_equal(cJSON_GetObjectItem(r, "ackedOp")->valuestring, CLIENT_DEVICE ":11");
  const char *want[][3] = {{"tasks", "t1", "4"}, {"tasks", "t4", "6"},  {"notes", "n1", "9"},
                           {"notes", "n3", "12"}, {"tasks", "t2", "13"}, {"notes", "n2", "14"}};
  const cJSON *changes = cJSON_GetObjectItem(r, "changes");
  assert_int_equal(cJSON_GetArraySize(changes), 6);
  for (int i = 0; i < 6; i++) {
    const cJSON *ch = cJSON_GetArrayItem(changes, i);
    assert_string_equal(cJSON_GetObjectItem(ch, "coll")->valuestring, want[i][0]);
    assert_string_equal(cJSON_GetObjectItem(ch, "rid")->valuestring, want[i][1]);
    assert_int_equal((int)cJSON_GetObjectItem(ch, "version")->valuedouble, atoi(want[i][2]));
    assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(ch, "deleted")), strcmp(want[i][1], "t2") == 0);
  }
  cJSON_Delete(r);
  /* The idempotency table: operations sent again get the answers they got, and change nothing. */
  resp = server_call(&fx, 1,
                     "{\"v\":1,\"device\":\"" CLIENT_DEVICE "\",\"ops\":["
                     "{\"id\":\"" CLIENT_DEVICE ":10\",\"type\":\"patch\",\"coll\":\"notes\",\"rid\":\"n3\","
                     "\"hlc\":\"019b76dad6e0-0000-672b8485d9ea8942\",\"base\":3,"
                     "\"payload\":{\"createdBy\":{\"set\":\"zed\"},\"votes\":{\"inc\":2}}},"
                     "{\"id\":\"" CLIENT_DEVICE ":3\",\"type\":\"put\",\"coll\":\"notes\",\"rid\":\"n3\","
                     "\"hlc\":\"019b76daafd0-0000-672b8485d9ea8942\",\"base\":0,"
                     "\"payload\":{\"title\":{\"set\":\"Fence\"}}}]}");
  r = cJSON_Parse(resp);
  sloop_free(resp);
  const cJSON *results = cJSON_GetObjectItem(r, "results");
  assert_int_equal(cJSON_GetArraySize(results), 2);
  const cJSON *r0 = cJSON_GetArrayItem(results, 0), *r1 = cJSON_GetArrayItem(results, 1);
  assert_string_equal(cJSON_GetObjectItem(r0, "status")->valuestring, "rejected");
  assert_string_equal(cJSON_GetObjectItem(r0, "code")->valuestring, "immutable");
  assert_string_equal(cJSON_GetObjectItem(r1, "status")->valuestring, "applied");
  assert_int_equal((int)cJSON_GetObjectItem(r1, "version")->valuedouble, 3);
  cJSON_Delete(r);
  assert_query(s, "notes", kServerNotes);
  fixture_close(&fx);
}

static void the_fixture_client_syncs_its_pending_work(void **state) {
  fixture fx;
  fixture_open(&fx, *state);
  sync_client(&fx);
  /* The pending ops applied on top of the other device's unpulled change to n2 (body, +5). */
  static const char notes[] =
      "[{\"id\":\"n1\",\"doc\":{\"body\":\"check the valve\",\"createdBy\":\"ann\",\"site\":\"north\","
      "\"status\":\"done\",\"tags\":[\"plant\"],\"title\":\"Pump 4\",\"updatedAt\":1,\"votes\":1},\"state\":2},"
      "{\"id\":\"n2\",\"doc\":{\"body\":\"pressure fixed\",\"site\":\"south\",\"status\":\"waiting\","
      "\"tags\":[\"heat\"],\"title\":\"Boiler 2\",\"votes\":6},\"state\":2},"
      "{\"id\":\"n3\",\"doc\":{\"createdBy\":\"bob\",\"tags\":[\"safety\",\"yard\"],\"title\":\"Fence\"},\"state\":3},"
      "{\"id\":\"n4\",\"doc\":{\"body\":\"new hinge\",\"tags\":[\"yard\"],\"title\":\"Gate\",\"votes\":2},\"state\":2}]";
  static const char tasks[] =
      "[{\"id\":\"t1\",\"doc\":{\"done\":true,\"owner\":\"ann\",\"points\":4,\"title\":\"order seals\"},\"state\":2}]";
  assert_query(fx.client, "notes", notes);
  assert_query(fx.client, "tasks", tasks);
  /* The server holds the same documents (n3's failed write was never applied there). */
  char *got = NULL;
  assert_ok(fx.server, sloop_query(fx.server, S("notes"), S("{}"), &got, NULL));
  char *want = strdup(notes);
  char *p = strstr(want, "\"state\":3");
  p[8] = '2';
  assert_json("server notes", got, want);
  free(want);
  sloop_free(got);
  assert_query(fx.server, "tasks", tasks);
  assert_int_equal(get_rc(fx.server, "tasks", "t4"), SLOOP_NOTFOUND);
  assert_int_equal(state_of(fx.client, "tasks", "t4"), -SLOOP_NOTFOUND);
  /* Nothing pending; the failed operation is still there to retry or discard. */
  assert_counts(fx.client,
                "{\"local-only\":0,\"syncing\":0,\"synced\":4,\"failed\":1,\"modified-locally\":0,"
                "\"pendingOps\":0,\"failedOps\":1,\"openConflicts\":1}");
  char *ops = NULL;
  assert_ok(fx.client, sloop_ops(fx.client, NULL, &ops, NULL));
  cJSON *arr = cJSON_Parse(ops);
  sloop_free(ops);
  assert_int_equal(cJSON_GetArraySize(arr), 1);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "id")->valuestring, CLIENT_DEVICE ":10");
  cJSON_Delete(arr);
  /* Discarding it settles n3 on the server's state. */
  assert_ok(fx.client, sloop_discard(fx.client, CLIENT_DEVICE ":10"));
  assert_int_equal(state_of(fx.client, "notes", "n3"), SLOOP_STATE_SYNCED);
  fixture_close(&fx);
}

/* Sets (or deletes, for NULL) the format key of a database file with SQLite itself: opening
** it through Sloop would migrate it first. */
/* Runs `sql`, which changes exactly one row, on a database file with SQLite itself. */
static void edit_file(const char *path, const char *sql) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_changes(db), 1);
  assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void set_format(const char *path, const char *value) {
  char sql[128];
  if (value) snprintf(sql, sizeof(sql), "UPDATE meta SET v = '%s' WHERE k = 'format'", value);
  else snprintf(sql, sizeof(sql), "DELETE FROM meta WHERE k = 'format'");
  edit_file(path, sql);
}

static char *get_format(sloop_db *db) {
  char *out = NULL;
  assert_ok(db, sloop_sql(db, S("SELECT v FROM meta WHERE k = 'format'"), &out, NULL));
  return out;
}

static void a_newer_format_is_refused_and_left_unchanged(void **state) {
  fixture fx;
  fixture_copy(&fx, FIXTURES_V1);
  const char *paths[] = {fx.client_path, fx.server_path};
  for (int role = 0; role < 2; role++) {
    set_format(paths[role], "99");
    size_t before_len = 0, after_len = 0;
    char *before = read_all(paths[role], &before_len);
    for (int r = 0; r < 2; r++) { /* under either role */
      sloop_db *db = (sloop_db *)1;
      assert_int_equal(sloop_open(paths[role], NULL, (sloop_role)r, NULL, &db), SLOOP_INVALID);
      assert_null(db);
    }
    char *after = read_all(paths[role], &after_len);
    assert_int_equal(after_len, before_len);
    assert_memory_equal(after, before, before_len);
    char journal[128];
    snprintf(journal, sizeof(journal), "%s-journal", paths[role]);
    assert_int_equal(access(journal, F_OK), -1);
    free(before);
    free(after);
  }
  fixture_close(&fx);
}

static void a_database_without_a_format_is_format_1_and_gets_the_key(void **state) {
  fixture fx;
  fixture_copy(&fx, FIXTURES_V1);
  set_format(fx.client_path, NULL);
  sloop_env env = test_env_make(&fx.env);
  assert_int_equal(sloop_open(fx.client_path, NULL, SLOOP_ROLE_CLIENT, &env, &fx.client), SLOOP_OK);
  /* Opened as the format-1 database it is: everything is there, and the key is now the
  ** current format, the same a new database gets. */
  assert_query(fx.client, "notes", kClientNotes);
  assert_ops(fx.client, NULL, kClientOps);
  sloop_db *fresh = NULL;
  assert_int_equal(sloop_open(":memory:", NULL, SLOOP_ROLE_CLIENT, NULL, &fresh), SLOOP_OK);
  char *got = get_format(fx.client), *want = get_format(fresh);
  assert_string_equal(got, want);
  assert_string_not_equal(want, "[]");
  sloop_free(got);
  sloop_free(want);
  sloop_close(fresh);
  fixture_close(&fx);
}

/* The rows of a format-1 file as SQLite reads them: coll, id, doc, state, base, version, sync. */
typedef struct v1_rows {
  cJSON *rows; /* [[coll, id, doc, state, base, version, sync, fts text]] */
} v1_rows;

static cJSON *column_json(sqlite3_stmt *st, int i) {
  const char *t = (const char *)sqlite3_column_text(st, i);
  return t ? cJSON_Parse(t) : cJSON_CreateNull();
}

static cJSON *read_v1(const char *path, int client) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT coll, id, doc, state, base, version, sync,"
                                      " (SELECT text FROM records_fts f WHERE f.rowid = r.rowid)"
                                      " FROM records r ORDER BY coll, id",
                                      -1, &st, NULL),
                   SQLITE_OK);
  cJSON *rows = cJSON_CreateArray();
  while (sqlite3_step(st) == SQLITE_ROW) {
    cJSON *row = cJSON_CreateArray();
    cJSON_AddItemToArray(row, cJSON_CreateString((const char *)sqlite3_column_text(st, 0)));
    cJSON_AddItemToArray(row, cJSON_CreateString((const char *)sqlite3_column_text(st, 1)));
    for (int i = 2; i <= 4; i++) cJSON_AddItemToArray(row, column_json(st, i));
    cJSON_AddItemToArray(row, cJSON_CreateNumber((double)sqlite3_column_int64(st, 5)));
    cJSON_AddItemToArray(row, cJSON_CreateNumber(client ? sqlite3_column_int(st, 6) : 2));
    const char *fts = (const char *)sqlite3_column_text(st, 7);
    cJSON_AddItemToArray(row, client && fts ? cJSON_CreateString(fts) : cJSON_CreateNull());
    cJSON_AddItemToArray(rows, row);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return rows;
}

/* The same rows from the migrated database, through the core's own decoding. */
static cJSON *read_v2(sloop_db *db, int client) {
  char *out = NULL;
  /* Without a stored base, a record the server has has its state as canonical state. */
  const char *sql = client ? "SELECT coll, id, json(doc), json(sloop_state(state, doc)),"
                             " json(CASE WHEN base IS NULL AND version > 0 THEN sloop_state(state, doc)"
                             " ELSE sloop_state(base, NULL) END), version, sync FROM records ORDER BY coll, id"
                           : "SELECT coll, id, json(doc), json(sloop_state(state, doc)), NULL, version, 2"
                             " FROM records ORDER BY coll, id";
  assert_ok(db, sloop_sql(db, S(sql), &out, NULL));
  cJSON *rows = cJSON_Parse(out);
  sloop_free(out);
  assert_non_null(rows);
  cJSON *row;
  cJSON_ArrayForEach(row, rows) {
    for (int i = 2; i <= 4; i++) { /* JSON text columns arrive as strings */
      const cJSON *text = cJSON_GetArrayItem(row, i);
      if (cJSON_IsString(text)) cJSON_ReplaceItemInArray(row, i, cJSON_Parse(text->valuestring));
    }
  }
  return rows;
}

/* Every record's document, merge state, canonical base, version and sync state read back
** after the migration equal what format 1 stored (the fixture generator's rows), the server
** keeps only its own columns and tables, and a client finds each record by the words format 1
** indexed for it. */
static void the_migration_keeps_every_state_base_and_index_entry(void **state) {
  fixture fx;
  fixture_copy(&fx, FIXTURES_V1);
  cJSON *before[2] = {read_v1(fx.client_path, 1), read_v1(fx.server_path, 0)};
  assert_int_equal(cJSON_GetArraySize(before[0]), 6);
  assert_int_equal(cJSON_GetArraySize(before[1]), 6);
  fixture_open_copies(&fx);
  sloop_db *dbs[2] = {fx.client, fx.server};
  for (int k = 0; k < 2; k++) {
    int client = k == 0;
    cJSON *after = read_v2(dbs[k], client);
    assert_int_equal(cJSON_GetArraySize(after), cJSON_GetArraySize(before[k]));
    for (int i = 0; i < cJSON_GetArraySize(after); i++) {
      cJSON *want = cJSON_GetArrayItem(before[k], i), *got = cJSON_GetArrayItem(after, i);
      for (int c = 0; c < 7; c++) {
        const cJSON *w = cJSON_GetArrayItem(want, c), *g = cJSON_GetArrayItem(got, c);
        if (!cJSON_Compare(w, g, 1)) {
          char *ws = cJSON_PrintUnformatted(w), *gs = cJSON_PrintUnformatted(g);
          fail_msg("%s row %d column %d:\n got  %s\n want %s", client ? "client" : "server", i, c, gs, ws);
        }
      }
      /* Format 1 kept a base only on clients, where it is the canonical state. */
      if (!client) assert_true(cJSON_IsNull(cJSON_GetArrayItem(want, 4)));
      const cJSON *text = cJSON_GetArrayItem(want, 7);
      if (!cJSON_IsString(text) || !text->valuestring[0]) continue;
      /* Each word format 1 indexed for the record still finds it. */
      char words[256];
      snprintf(words, sizeof(words), "%s", text->valuestring);
      for (char *w = strtok(words, " "); w; w = strtok(NULL, " ")) {
        char *hits = NULL, query[80];
        snprintf(query, sizeof(query), "\"%s\"", w);
        const char *coll = cJSON_GetArrayItem(want, 0)->valuestring;
        assert_ok(fx.client, sloop_search(fx.client, S(coll), S(query), 50, &hits, NULL));
        char id[80];
        snprintf(id, sizeof(id), "\"id\":\"%s\"", cJSON_GetArrayItem(want, 1)->valuestring);
        if (!strstr(hits, id)) fail_msg("search '%s' misses %s: %s", w, id, hits);
        sloop_free(hits);
      }
    }
    cJSON_Delete(after);
    char *format = get_format(dbs[k]);
    assert_string_equal(format, "[[\"3\"]]");
    sloop_free(format);
    /* Each role's own tables and columns: no search index, base or sync state on a server. */
    char *tables = NULL;
    assert_ok(dbs[k], sloop_sql(dbs[k],
                                S("SELECT (SELECT count(*) FROM sqlite_schema WHERE name = 'records_fts'),"
                                  " (SELECT count(*) FROM pragma_table_info('records') WHERE name IN ('base', 'sync')),"
                                  " (SELECT count(*) FROM sqlite_schema WHERE name LIKE '%_v1')"),
                                &tables, NULL));
    assert_string_equal(tables, client ? "[[1,2,0]]" : "[[0,0,0]]");
    sloop_free(tables);
    /* The app's indexes, (coll, expr) in the fixture, now end with id (indexes.c). */
    char *indexes = NULL;
    assert_ok(dbs[k], sloop_sql(dbs[k],
                                S("SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_schema"
                                  " WHERE type = 'index' AND name GLOB 'idx_*' AND sql LIKE '%''$.%''), id) WHERE%'"
                                  " ORDER BY name)"),
                                &indexes, NULL));
    assert_string_equal(indexes, "[[\"idx_notes_status,idx_notes_updatedAt\"]]");
    sloop_free(indexes);
    if (!client) continue;
    /* A client stores a base only for records with operations in the log: n2, n3 (its failed
    ** one), t1 and t4; n1 has none, and n4 never reached the server (no base at all). */
    char *bases = NULL;
    assert_ok(dbs[k], sloop_sql(dbs[k],
                                S("SELECT (SELECT count(*) FROM records r WHERE base IS NOT NULL AND NOT EXISTS"
                                  "  (SELECT 1 FROM oplog o WHERE o.coll = r.coll AND o.rid = r.id)),"
                                  " (SELECT count(*) FROM records WHERE base IS NULL AND version > 0),"
                                  " (SELECT count(*) FROM records WHERE base IS NOT NULL)"),
                                &bases, NULL));
    assert_string_equal(bases, "[[0,1,4]]");
    sloop_free(bases);
  }
  cJSON_Delete(before[0]);
  cJSON_Delete(before[1]);
  fixture_close(&fx);
}

/* The rows of `sql` in a database file, read with SQLite itself (opening it through the core
** would migrate it), as the JSON text sloop_sql prints for the same rows: integers as numbers,
** text as strings, NULL as null. */
static char *rows_in_file(const char *path, const char *sql) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  cJSON *rows = cJSON_CreateArray();
  while (sqlite3_step(st) == SQLITE_ROW) {
    cJSON *row = cJSON_CreateArray();
    for (int i = 0; i < sqlite3_column_count(st); i++) {
      int type = sqlite3_column_type(st, i);
      cJSON_AddItemToArray(row, type == SQLITE_NULL      ? cJSON_CreateNull()
                                : type == SQLITE_INTEGER ? cJSON_CreateNumber((double)sqlite3_column_int64(st, i))
                                                         : cJSON_CreateString((const char *)sqlite3_column_text(st, i)));
    }
    cJSON_AddItemToArray(rows, row);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  char *out = cJSON_PrintUnformatted(rows);
  cJSON_Delete(rows);
  return out;
}

/* A server's answered operations, ordered by id. */
static const char kAnsweredSql[] = "SELECT device, seq, id, user, result FROM applied_ops ORDER BY id";

/* Format 3 keys a server's answered operations by (device, seq, id) in one B-tree: migrating
** either older fixture keeps every row and column, leaves no second index or copy behind, and
** the answers are found under the new key (a replay gets the stored answer, not a new one). */
static void answered_operations_move_to_the_new_key_intact(void **state) {
  fixture fx;
  fixture_copy(&fx, *state);
  char *before = rows_in_file(fx.server_path, kAnsweredSql);
  fixture_open_copies(&fx);
  char *after = NULL;
  assert_ok(fx.server, sloop_sql(fx.server, S(kAnsweredSql), &after, NULL));
  assert_json("answered operations", after, before);
  cJSON *rows = cJSON_Parse(before);
  assert_int_equal(cJSON_GetArraySize(rows), 15); /* both devices' answers (see the README) */
  cJSON_Delete(rows);
  char *shape = NULL;
  assert_ok(fx.server,
            sloop_sql(fx.server,
                      S("SELECT (SELECT group_concat(name || ':' || pk, ',') FROM pragma_table_info('applied_ops')"
                        "   WHERE pk > 0),"
                        " (SELECT count(*) FROM sqlite_schema WHERE tbl_name LIKE 'applied_ops%' AND type = 'index'"
                        "   AND sql IS NOT NULL),"
                        " (SELECT count(*) FROM sqlite_schema WHERE name LIKE 'applied_ops_%'),"
                        " (SELECT v FROM meta WHERE k = 'format')"),
                      &shape, NULL));
  assert_json("applied_ops shape", shape, "[[\"device:1,seq:2,id:3\",0,0,\"3\"]]");
  sloop_free(shape);
  /* Answered before the migration: answered again from the table, the record untouched. */
  char *resp = server_call(&fx, 1,
                           "{\"v\":1,\"device\":\"" CLIENT_DEVICE "\",\"ops\":["
                           "{\"id\":\"" CLIENT_DEVICE ":10\",\"type\":\"patch\",\"coll\":\"notes\",\"rid\":\"n3\","
                           "\"hlc\":\"019b76dad6e0-0000-672b8485d9ea8942\",\"base\":3,"
                           "\"payload\":{\"votes\":{\"inc\":2}}}]}");
  cJSON *r = cJSON_Parse(resp);
  sloop_free(resp);
  const cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "results"), 0);
  assert_string_equal(cJSON_GetObjectItem(r0, "status")->valuestring, "rejected");
  assert_string_equal(cJSON_GetObjectItem(r0, "code")->valuestring, "immutable");
  cJSON_Delete(r);
  assert_query(fx.server, "notes", kServerNotes);
  sloop_free(after);
  free(before);
  fixture_close(&fx);
}

/* A client's operations, in log order, with every column but the position. */
static const char kOpsSql[] =
    "SELECT id, type, coll, rid, hlc, base, payload, status, attempts, last_error, acked_version FROM oplog ORDER BY seq";

/* Format 3 stores a client's operation at the seq its id names: migrating either fixture keeps
** every operation and column, in the same order, with no index on the id; the log's indexes
** and triggers are there again, and the sequence goes on where it stopped. */
static void operations_move_to_the_seq_their_ids_name(void **state) {
  fixture fx;
  fixture_copy(&fx, *state);
  char *before = rows_in_file(fx.client_path, kOpsSql);
  fixture_open_copies(&fx);
  char *after = NULL;
  assert_ok(fx.client, sloop_sql(fx.client, S(kOpsSql), &after, NULL));
  assert_json("operations", after, before);
  cJSON *rows = cJSON_Parse(before);
  assert_int_equal(cJSON_GetArraySize(rows), 6); /* :10 failed, :12 to :16 pending */
  cJSON_Delete(rows);
  char *shape = NULL;
  assert_ok(fx.client,
            sloop_sql(fx.client,
                      S("SELECT (SELECT count(*) FROM oplog WHERE id != '" CLIENT_DEVICE ":' || seq),"
                        " (SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_schema"
                        "   WHERE tbl_name = 'oplog' AND type IN ('index', 'trigger') ORDER BY name)),"
                        " (SELECT count(*) FROM sqlite_schema WHERE name LIKE 'oplog_v%'),"
                        " (SELECT v FROM meta WHERE k = 'format')"),
                      &shape, NULL));
  assert_json("oplog shape", shape,
              "[[0,\"oplog_by_record,oplog_by_status,oplog_resolve_failed,oplog_resolve_retried\",0,\"3\"]]");
  sloop_free(shape);
  /* The failed one is found by its id, retried at the end of the log and found there. */
  assert_ok(fx.client, sloop_retry(fx.client, CLIENT_DEVICE ":10"));
  char *last = NULL;
  assert_ok(fx.client, sloop_sql(fx.client, S("SELECT seq, id, status FROM oplog ORDER BY seq DESC LIMIT 1"), &last, NULL));
  assert_json("retried", last, "[[17,\"" CLIENT_DEVICE ":17\",0]]");
  sloop_free(last);
  sloop_free(after);
  free(before);
  fixture_close(&fx);
}

/* An operation whose id is not this device's (only raw SQL could have written one) stops the
** migration with 'corrupt', and the database is left as it was: its schema, its format and its
** log. (Not byte for byte: the savepoint's rollback commits an empty transaction, which moves
** the header's change counter.) */
static void a_foreign_operation_id_stops_the_migration(void **state) {
  fixture fx;
  fixture_copy(&fx, FIXTURES_V2);
  edit_file(fx.client_path, "UPDATE oplog SET id = 'ffffffffffffffff:13' WHERE id LIKE '%:13'");
  const char *reads[] = {"SELECT type, name, sql FROM sqlite_schema ORDER BY name",
                         "SELECT v FROM meta WHERE k = 'format'", kOpsSql};
  char *before[3], *after[3];
  for (int i = 0; i < 3; i++) before[i] = rows_in_file(fx.client_path, reads[i]);
  assert_string_equal(before[1], "[[\"2\"]]");
  sloop_env env = test_env_make(&fx.env);
  sloop_db *db = (sloop_db *)1;
  assert_int_equal(sloop_open(fx.client_path, NULL, SLOOP_ROLE_CLIENT, &env, &db), SLOOP_CORRUPT);
  assert_null(db);
  for (int i = 0; i < 3; i++) {
    after[i] = rows_in_file(fx.client_path, reads[i]);
    assert_string_equal(after[i], before[i]);
    free(before[i]);
    free(after[i]);
  }
  fixture_close(&fx);
}

/* Format 3 keeps each record's rowid through a VACUUM, which the search index depends on: the
** format-2 client fixture has a gap in its rowids (a deleted task), which a VACUUM of format 2's
** table closed, leaving n4's index entry and pending update on a rowid that was no longer n4's. */
static void a_vacuum_keeps_every_record_found(void **state) {
  fixture fx;
  fixture_open(&fx, *state);
  static const char kRowids[] = "SELECT rowid, coll, id FROM records ORDER BY rowid";
  char *before = NULL, *after = NULL, *out = NULL;
  assert_ok(fx.client, sloop_sql(fx.client, S(kRowids), &before, NULL));
  assert_ok(fx.client, sloop_sql(fx.client, S("VACUUM"), &out, NULL));
  sloop_free(out);
  assert_ok(fx.client, sloop_sql(fx.client, S(kRowids), &after, NULL));
  assert_json("rowids after VACUUM", after, before);
  const char *finds[][2] = {{"hinge", "n4"}, {"valve", "n1"}, {"Fence", "n3"}, {"pressure", "n2"}};
  for (int i = 0; i < 4; i++) {
    char *hits = NULL, want[32];
    assert_ok(fx.client, sloop_search(fx.client, S("notes"), S(finds[i][0]), 10, &hits, NULL));
    snprintf(want, sizeof(want), "\"id\":\"%s\"", finds[i][1]);
    if (!strstr(hits, want) || strstr(hits, "},{")) fail_msg("search '%s': %s", finds[i][0], hits);
    sloop_free(hits);
  }
  assert_ok(fx.client, sloop_sql(fx.client, S("INSERT INTO records_fts(records_fts) VALUES('integrity-check')"), &out, NULL));
  sloop_free(out);
  sloop_free(before);
  sloop_free(after);
  fixture_close(&fx);
}

/* A test run on the fixtures of format `v`, named so that each run tells which. */
#define ON_FIXTURE(fn, v) {#fn " (format " #v ")", fn, NULL, NULL, FIXTURES_V##v}

int main(void) {
  const struct CMUnitTest tests[] = {
      ON_FIXTURE(the_client_fixture_opens_with_everything_intact, 1),
      ON_FIXTURE(the_server_fixture_opens_with_everything_intact, 1),
      ON_FIXTURE(the_fixture_client_syncs_its_pending_work, 1),
      ON_FIXTURE(the_client_fixture_opens_with_everything_intact, 2),
      ON_FIXTURE(the_server_fixture_opens_with_everything_intact, 2),
      ON_FIXTURE(the_fixture_client_syncs_its_pending_work, 2),
      ON_FIXTURE(answered_operations_move_to_the_new_key_intact, 1),
      ON_FIXTURE(answered_operations_move_to_the_new_key_intact, 2),
      ON_FIXTURE(operations_move_to_the_seq_their_ids_name, 1),
      ON_FIXTURE(operations_move_to_the_seq_their_ids_name, 2),
      cmocka_unit_test(a_foreign_operation_id_stops_the_migration),
      ON_FIXTURE(a_vacuum_keeps_every_record_found, 1),
      ON_FIXTURE(a_vacuum_keeps_every_record_found, 2),
      cmocka_unit_test(a_newer_format_is_refused_and_left_unchanged),
      cmocka_unit_test(a_database_without_a_format_is_format_1_and_gets_the_key),
      cmocka_unit_test(the_migration_keeps_every_state_base_and_index_entry),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
