/*
** fixture_gen.c -- writes the format fixtures: a client database and a server database in
** today's on-disk format, through the public C API, deterministically (an injected clock and
** PRNG), so a later format's migration can be tested against files the current code wrote.
**
**   build/native/fixture_gen tests/fixtures/format-v1
**
** writes client.db and server.db there (replacing them). Built by `make native`, never run by
** the tests: the fixtures are committed, and regenerating them is a deliberate act (their
** README says how and from which commit). tests/c/test_format.c checks what is written here,
** so a change to the scenario below goes with a change there.
*/
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cJSON.h"
#include "world.h"

/* The demo's collection (web/schema.json: lww, set, counter, manual and fww fields) and a
** second collection, so the fixture holds more than one. */
static const char kFixtureSchema[] =
    "{\"collections\": {"
    "\"notes\": {\"fields\": {\"title\": \"lww\", \"body\": \"lww\", \"site\": \"lww\","
    " \"updatedAt\": \"lww\", \"tags\": \"set\", \"votes\": \"counter\", \"status\": \"manual\","
    " \"createdBy\": \"fww\"}, \"search\": [\"title\", \"body\", \"site\"],"
    " \"indexes\": [\"status\", \"updatedAt\"]},"
    "\"tasks\": {\"fields\": {\"title\": \"lww\", \"done\": \"lww\", \"owner\": \"fww\","
    " \"points\": \"counter\"}, \"search\": [\"title\"]}},"
    " \"maxDriftMs\": 3600000, \"driftPolicy\": \"clamp\"}";

static void must(sloop_db *db, int rc, const char *what) {
  if (rc == SLOOP_OK) return;
  fprintf(stderr, "fixture_gen: %s: %s: %s\n", what, sloop_errstr(rc), sloop_errmsg(db));
  exit(1);
}

static void put(world *w, int i, const char *coll, const char *id, const char *json) {
  must(w->clients[i], sloop_put(w->clients[i], S(coll), S(id), S(json)), id);
  world_tick(w, 1000);
}

static void patch(world *w, int i, const char *coll, const char *id, const char *json) {
  must(w->clients[i], sloop_patch(w->clients[i], S(coll), S(id), S(json)), id);
  world_tick(w, 1000);
}

/* The id of client i's first conflict on record `rid` with status `status`. */
static int64_t conflict_on(world *w, int i, const char *rid, const char *status) {
  char *out = NULL;
  must(w->clients[i], sloop_conflicts(w->clients[i], 0, &out, NULL), "conflicts");
  cJSON *arr = cJSON_Parse(out);
  sloop_free(out);
  int64_t id = -1;
  const cJSON *c;
  cJSON_ArrayForEach(c, arr) {
    if (strcmp(cJSON_GetObjectItem(c, "rid")->valuestring, rid) == 0 &&
        strcmp(cJSON_GetObjectItem(c, "status")->valuestring, status) == 0)
      id = (int64_t)cJSON_GetObjectItem(c, "id")->valuedouble;
  }
  cJSON_Delete(arr);
  if (id < 0) fprintf(stderr, "fixture_gen: no %s conflict on %s\n", status, rid), exit(1);
  return id;
}

/* Small files: 1 KiB pages, no free pages. */
static void compact(sloop_db *db) {
  char *out = NULL;
  must(db, sloop_sql(db, S("PRAGMA page_size = 1024; VACUUM"), &out, NULL), "vacuum");
  sloop_free(out);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fixture_gen DIR (writes DIR/client.db and DIR/server.db)\n");
    return 2;
  }
  char client_path[1024], server_path[1024];
  snprintf(client_path, sizeof(client_path), "%s/client.db", argv[1]);
  snprintf(server_path, sizeof(server_path), "%s/server.db", argv[1]);
  unlink(client_path);
  unlink(server_path);

  /* Client 0 is the fixture's client; client 1, in memory, is another device of the same
  ** server, whose writes make the conflicts and the rejection. */
  world w;
  memset(&w, 0, sizeof(w));
  w.env.now = 1767225600000LL; /* 2026-01-01T00:00:00Z */
  w.env.rng = 14;
  w.nclients = 2;
  for (int i = 0; i < 2; i++) {
    w.client_env[i].now = w.env.now;
    w.client_env[i].rng = 14000 + (uint64_t)i + 1;
  }
  must(NULL, world_attach_server(&w, server_path, kFixtureSchema), "server");
  must(NULL, world_attach_client(&w, 0, client_path, kFixtureSchema), "client");
  must(NULL, world_attach_client(&w, 1, ":memory:", kFixtureSchema), "other client");

  /* Synced records in both collections. */
  put(&w, 0, "notes", "n1",
      "{\"title\": \"Pump 4\", \"body\": \"check the valve\", \"site\": \"north\", \"tags\": [\"plant\"],"
      " \"votes\": 1, \"status\": \"open\", \"createdBy\": \"ann\", \"updatedAt\": 1}");
  put(&w, 0, "notes", "n2", "{\"title\": \"Boiler\", \"body\": \"pressure low\", \"status\": \"open\", \"votes\": 0}");
  put(&w, 0, "notes", "n3", "{\"title\": \"Fence\", \"tags\": [\"yard\", \"safety\"]}");
  put(&w, 0, "tasks", "t1", "{\"title\": \"order seals\", \"done\": false, \"owner\": \"ann\", \"points\": 3}");
  put(&w, 0, "tasks", "t2", "{\"title\": \"call vendor\", \"done\": false}");
  put(&w, 0, "tasks", "t4", "{\"title\": \"sweep\", \"points\": 1}");
  world_sync(&w, 0);
  world_pull(&w, 1);

  /* Two conflicts on the manual field: the other device's value loses on n1 and n2. */
  patch(&w, 0, "notes", "n1", "{\"status\": \"done\"}");
  patch(&w, 0, "notes", "n2", "{\"status\": \"done\"}");
  patch(&w, 1, "notes", "n1", "{\"status\": \"blocked\"}");
  patch(&w, 1, "notes", "n2", "{\"status\": \"waiting\"}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  world_sync(&w, 0);
  /* The one on n2 is resolved (and synced); the one on n1 stays open. */
  must(w.clients[0], sloop_resolve(w.clients[0], conflict_on(&w, 0, "n2", "open"), S("\"waiting\"")), "resolve");
  world_tick(&w, 1000);
  world_sync(&w, 0);

  /* A rejected operation: the other device sets n3's first-writer-wins field first. */
  patch(&w, 1, "notes", "n3", "{\"createdBy\": \"bob\"}");
  world_sync(&w, 1);
  patch(&w, 0, "notes", "n3", "{\"createdBy\": \"zed\", \"votes\": {\"$inc\": 2}}");
  world_sync(&w, 0);

  /* A synced tombstone. */
  must(w.clients[0], sloop_delete(w.clients[0], S("tasks"), S("t2")), "delete t2");
  world_tick(&w, 1000);
  world_sync(&w, 0);

  /* Server-side changes the client has not pulled yet, under its pending work below. */
  patch(&w, 1, "notes", "n2", "{\"body\": \"pressure fixed\", \"votes\": {\"$inc\": 5}}");
  world_sync(&w, 1);

  /* Pending operations, never pushed: a new record, a patch on a synced record (its canonical
  ** base stays under the pending work), a put replacing one, and a delete. */
  put(&w, 0, "notes", "n4", "{\"title\": \"Gate\", \"body\": \"new hinge\", \"tags\": [\"yard\"], \"votes\": 2}");
  patch(&w, 0, "notes", "n2", "{\"title\": \"Boiler 2\", \"votes\": {\"$inc\": 1}, \"tags\": {\"$add\": [\"heat\"]}}");
  put(&w, 0, "tasks", "t1", "{\"title\": \"order seals\", \"done\": true, \"owner\": \"ann\", \"points\": 4}");
  patch(&w, 0, "notes", "n2", "{\"site\": \"south\"}");
  must(w.clients[0], sloop_delete(w.clients[0], S("tasks"), S("t4")), "delete t4");

  compact(w.server);
  compact(w.clients[0]);
  printf("client %s\nother  %s\n", sloop_device(w.clients[0]), sloop_device(w.clients[1]));
  world_close(&w);
  return 0;
}
