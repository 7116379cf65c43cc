/*
** world.h -- one server and some clients, all in memory, wired without a network: the
** harness of the native sync tests and of the deterministic simulation.
*/
#ifndef SLOOP_WORLD_H
#define SLOOP_WORLD_H

#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define WORLD_MAX_CLIENTS 10

typedef struct world {
  test_env env;         /* one clock for everyone unless a test skews a client */
  test_env client_env[WORLD_MAX_CLIENTS];
  sloop_db *server;
  sloop_db *clients[WORLD_MAX_CLIENTS];
  int nclients;
} world;

static const char kWorldSchema[] =
    "{\"collections\": {\"notes\": {\"fields\": {\"title\": \"lww\", \"body\": \"lww\","
    " \"tags\": \"set\", \"votes\": \"counter\", \"status\": \"manual\", \"createdBy\": \"fww\","
    " \"layout\": \"custom\"}, \"search\": [\"title\", \"body\"], \"indexes\": [\"status\"]}},"
    " \"maxDriftMs\": 3600000}";

/* A deterministic custom merge for kWorldSchema's 'layout': the larger JSON text wins, so
** every replica and every order agree. It refuses to merge a "veto" into a set value, which
** rejects the operation with SLOOP_MERGE, so the failure path of custom merges runs too. */
static inline int world_merge(void *ctx, const char *coll, const char *field, const char *current,
                              const char *incoming, char **out) {
  (void)ctx, (void)coll, (void)field;
  *out = NULL;
  if (current && incoming && strcmp(incoming, "\"veto\"") == 0) return 1;
  const char *winner = !current ? incoming : !incoming ? current : strcmp(current, incoming) >= 0 ? current : incoming;
  if (!winner) return 0;
  size_t n = strlen(winner) + 1;
  *out = malloc(n);
  if (!*out) return 1;
  memcpy(*out, winner, n);
  return 0;
}

/* Opens a server and n clients with `schema` (NULL: kWorldSchema), all on `seed`. */
static inline void world_open(world *w, int n, uint64_t seed, const char *schema) {
  memset(w, 0, sizeof(*w));
  w->env.now = 1700000000000LL;
  w->env.rng = seed;
  sloop_env env = test_env_make(&w->env);
  if (!schema) schema = kWorldSchema;
  assert_int_equal(sloop_open(":memory:", NULL, SLOOP_ROLE_SERVER, &env, &w->server), SLOOP_OK);
  assert_ok(w->server, sloop_set_schema(w->server, schema, strlen(schema)));
  w->nclients = n;
  for (int i = 0; i < n; i++) {
    w->client_env[i].now = w->env.now;
    w->client_env[i].rng = seed * 1000 + (uint64_t)i + 1;
    sloop_env ce = test_env_make(&w->client_env[i]);
    assert_int_equal(sloop_open(":memory:", NULL, SLOOP_ROLE_CLIENT, &ce, &w->clients[i]), SLOOP_OK);
    assert_ok(w->clients[i], sloop_set_schema(w->clients[i], schema, strlen(schema)));
  }
}

/* Opens (or reopens after a simulated crash) client i on the database file `path` with the
** client's own clock, and sets `schema` (NULL: kWorldSchema). Returns a Sloop code instead of
** asserting, so the simulation can report the seed that failed. */
static inline int world_attach_client(world *w, int i, const char *path, const char *schema) {
  sloop_env ce = test_env_make(&w->client_env[i]);
  if (!schema) schema = kWorldSchema;
  int rc = sloop_open(path, NULL, SLOOP_ROLE_CLIENT, &ce, &w->clients[i]);
  if (!rc) rc = sloop_set_schema(w->clients[i], schema, strlen(schema));
  return rc;
}

/* The same for the server, on the world's clock (a restart is a close and an attach). */
static inline int world_attach_server(world *w, const char *path, const char *schema) {
  sloop_env env = test_env_make(&w->env);
  if (!schema) schema = kWorldSchema;
  int rc = sloop_open(path, NULL, SLOOP_ROLE_SERVER, &env, &w->server);
  if (!rc) rc = sloop_set_schema(w->server, schema, strlen(schema));
  return rc;
}

static inline void world_close(world *w) {
  for (int i = 0; i < w->nclients; i++) sloop_close(w->clients[i]);
  sloop_close(w->server);
}

/* Advances every clock by ms (client skews are kept). */
static inline void world_tick(world *w, int64_t ms) {
  w->env.now += ms;
  for (int i = 0; i < w->nclients; i++) w->client_env[i].now += ms;
}

/* The server context of client i: user "u<i>", its device, everything permitted. */
static inline void world_ctx(world *w, int i, char *buf, size_t len) {
  snprintf(buf, len, "{\"user\": \"u%d\", \"device\": \"%s\"}", i, sloop_device(w->clients[i]));
}

/* One push round trip; returns the server's rc (the client applies the answer). */
static inline int world_push(world *w, int i) {
  sloop_db *c = w->clients[i];
  char *req = NULL, *resp = NULL, ctx[160];
  size_t req_len = 0, resp_len = 0;
  assert_ok(c, sloop_push_begin(c, 50, &req, &req_len));
  if (!req) return SLOOP_OK;
  world_ctx(w, i, ctx, sizeof(ctx));
  int rc = sloop_server_push(w->server, req, req_len, ctx, strlen(ctx), &resp, &resp_len);
  if (rc == SLOOP_OK) assert_ok(c, sloop_push_end(c, resp, resp_len));
  else assert_ok(c, sloop_push_fail(c, sloop_errstr(rc)));
  sloop_free(req);
  sloop_free(resp);
  return rc;
}

/* Pulls until the server has nothing more. */
static inline void world_pull(world *w, int i) {
  sloop_db *c = w->clients[i];
  char ctx[160];
  world_ctx(w, i, ctx, sizeof(ctx));
  for (int more = 1, guard = 0; more && guard < 1000; guard++) {
    char *req = NULL, *resp = NULL;
    size_t req_len = 0, resp_len = 0;
    assert_ok(c, sloop_pull_request(c, 7, NULL, 0, &req, &req_len));
    int rc = sloop_server_pull(w->server, req, req_len, ctx, strlen(ctx), &resp, &resp_len);
    if (rc) fail_msg("pull: %s: %s", sloop_errstr(rc), sloop_errmsg(w->server));
    assert_ok(c, sloop_pull_apply(c, resp, resp_len, &more));
    sloop_free(req);
    sloop_free(resp);
  }
}

/* Pushes everything pending, then pulls. */
static inline void world_sync(world *w, int i) {
  for (int guard = 0; guard < 100; guard++) {
    char *counts = NULL;
    assert_ok(w->clients[i], sloop_state_counts(w->clients[i], &counts, NULL));
    int pending = strstr(counts, "\"pendingOps\":0") == NULL;
    sloop_free(counts);
    if (!pending) break;
    world_push(w, i);
  }
  world_pull(w, i);
}

/* Reads a document as a malloc'd string, or NULL when absent. */
static inline char *world_get(sloop_db *db, const char *coll, const char *id) {
  char *out = NULL;
  int rc = sloop_get(db, coll, strlen(coll), id, strlen(id), &out, NULL);
  if (rc != SLOOP_OK && rc != SLOOP_NOTFOUND) fail_msg("get: %s", sloop_errmsg(db));
  return out;
}

/* Fails the test unless `db` shows `expected` (NULL: nothing) as the document coll/id. */
static inline void world_assert_doc(sloop_db *db, const char *coll, const char *id, const char *expected) {
  char *doc = world_get(db, coll, id);
  if (!doc || strcmp(doc, expected) != 0) fail_msg("doc %s: got %s, want %s", id, doc ? doc : "(none)", expected);
  sloop_free(doc);
}

/* A put by client i, which must succeed. */
static inline void world_put(world *w, int i, const char *coll, const char *id, const char *json) {
  assert_ok(w->clients[i], sloop_put(w->clients[i], coll, strlen(coll), id, strlen(id), json, strlen(json)));
}

/* A patch by client i, which must succeed. */
static inline void world_patch(world *w, int i, const char *coll, const char *id, const char *json) {
  assert_ok(w->clients[i], sloop_patch(w->clients[i], coll, strlen(coll), id, strlen(id), json, strlen(json)));
}

/* The server's visible document, read through the client-independent query path. */
static inline char *world_server_doc(world *w, const char *coll, const char *id) {
  return world_get(w->server, coll, id);
}

/* Every visible document of a database as one JSON array, for whole-state comparisons. */
static inline char *world_dump(sloop_db *db, const char *coll) {
  char *out = NULL;
  assert_ok(db, sloop_query(db, coll, strlen(coll), S("{}"), &out, NULL));
  /* Drop the per-record sync state so server and client dumps compare. */
  char *p;
  while ((p = strstr(out, ",\"state\":")) != NULL) {
    char *end = p + 9;
    while (*end >= '0' && *end <= '9') end++;
    memmove(p, end, strlen(end) + 1);
  }
  return out;
}

static inline int world_state(sloop_db *db, const char *coll, const char *id) {
  int st = -1;
  sloop_record_state(db, coll, strlen(coll), id, strlen(id), &st);
  return st;
}

#endif /* SLOOP_WORLD_H */
