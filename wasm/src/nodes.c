/*
** nodes.c -- the per-database table of node ids (table `nodes`), which the binary merge state
** (state_codec.h) refers to by small integers instead of 16 hex digits per timestamp.
**
** The table is read once into a cache on the handle: an array (index -> node) and an open
** addressing hash (node -> index). A new node is inserted at once, inside the caller's
** transaction; if that transaction or savepoint rolls back, the row is gone while the cache
** still has it, and a blob written later would name an index the table lacks. So every
** rollback marks the cache stale and the next use reloads it from the table: a transaction's
** through SQLite's rollback hook (whoever rolled it back: the core, raw SQL, SQLite itself),
** a savepoint's through sloop_end, and raw SQL's own savepoints through sloop_sql.
*/
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static size_t slot_of(uint64_t node, size_t mask) {
  uint64_t h = node * 0x9e3779b97f4a7c15ull;
  return (size_t)(h >> 32) & mask;
}

/* Adds node as index `index` (== count) to the cache. */
static int cache_add(sloop_node_cache *c, uint64_t node) {
  uint64_t *grown = sloop_grow(c->nodes, &c->cap, c->count + 1, sizeof(*grown), 16);
  if (!grown) return SLOOP_NOMEM;
  c->nodes = grown;
  if ((c->count + 1) * 2 > c->nslots) {
    size_t nslots = c->nslots ? c->nslots * 2 : 32;
    uint32_t *slots = malloc(nslots * sizeof(*slots));
    if (!slots) return SLOOP_NOMEM;
    memset(slots, 0, nslots * sizeof(*slots)); /* 0 = empty; otherwise index + 1 */
    for (size_t i = 0; i < c->count; i++) {
      size_t s = slot_of(c->nodes[i], nslots - 1);
      while (slots[s]) s = (s + 1) & (nslots - 1);
      slots[s] = (uint32_t)(i + 1);
    }
    free(c->slots);
    c->slots = slots;
    c->nslots = nslots;
  }
  size_t s = slot_of(node, c->nslots - 1);
  while (c->slots[s]) s = (s + 1) & (c->nslots - 1);
  c->slots[s] = (uint32_t)(c->count + 1);
  c->nodes[c->count++] = node;
  return SLOOP_OK;
}

void sloop_nodes_clear(sloop_db *db) {
  sloop_node_cache *c = &db->nodes;
  free(c->nodes);
  free(c->slots);
  memset(c, 0, sizeof(*c));
}

void sloop_nodes_stale(sloop_db *db) { db->nodes.loaded = 0; }

/* (Re)reads the table into the cache. Indexes are dense from 0: the table only grows. */
static int load(sloop_db *db) {
  sloop_node_cache *c = &db->nodes;
  c->count = 0;
  if (c->slots) memset(c->slots, 0, c->nslots * sizeof(*c->slots));
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT n, node FROM nodes ORDER BY n", &st);
  if (rc) return rc;
  int src;
  while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
    if (sqlite3_column_int64(st, 0) != (int64_t)c->count)
      rc = sloop_fail(db, SLOOP_CORRUPT, "node table has a gap at %lld", (long long)c->count);
    else rc = cache_add(c, (uint64_t)sqlite3_column_int64(st, 1));
  }
  if (!rc && src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "read nodes");
  sloop_finalize(db, st);
  c->loaded = rc == SLOOP_OK;
  return rc;
}

static int intern(void *ctx, uint64_t node, uint64_t *index) {
  sloop_db *db = ctx;
  sloop_node_cache *c = &db->nodes;
  int rc = c->loaded ? SLOOP_OK : load(db);
  if (rc) return rc;
  if (c->nslots) {
    for (size_t s = slot_of(node, c->nslots - 1); c->slots[s]; s = (s + 1) & (c->nslots - 1)) {
      if (c->nodes[c->slots[s] - 1] == node) {
        *index = c->slots[s] - 1;
        return SLOOP_OK;
      }
    }
  }
  sqlite3_stmt *st;
  rc = sloop_prepare(db, "INSERT INTO nodes(n, node) VALUES(?1, ?2)", &st);
  if (rc) return rc;
  sqlite3_bind_int64(st, 1, (int64_t)c->count);
  sqlite3_bind_int64(st, 2, (int64_t)node);
  int src = sqlite3_step(st);
  sloop_finalize(db, st);
  if (src != SQLITE_DONE) return sloop_sql_fail(db, src, "add node");
  *index = c->count;
  return cache_add(c, node);
}

static int lookup(void *ctx, uint64_t index, uint64_t *node) {
  sloop_db *db = ctx;
  int rc = db->nodes.loaded ? SLOOP_OK : load(db);
  if (rc) return rc;
  if (index >= db->nodes.count) return SLOOP_CORRUPT;
  *node = db->nodes.nodes[index];
  return SLOOP_OK;
}

sloop_nodes sloop_db_nodes(sloop_db *db) { return (sloop_nodes){intern, lookup, db}; }

/* Whether a SQL function's argument is a stored state; if not (NULL: no base), the function
** answers NULL. */
static int state_arg(sqlite3_context *ctx, sqlite3_value *v) {
  if (sqlite3_value_type(v) == SQLITE_BLOB) return 1;
  sqlite3_result_null(ctx);
  return 0;
}

/* SQL function sloop_visible(state): whether a stored state shows a live record. */
static void sql_visible(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  sloop_db *db = sqlite3_user_data(ctx);
  if (!state_arg(ctx, argv[0])) return;
  sloop_nodes nodes = sloop_db_nodes(db);
  int v = sloop_state_blob_visible(sqlite3_value_blob(argv[0]), (size_t)sqlite3_value_bytes(argv[0]), &nodes);
  if (v < 0) sqlite3_result_error(ctx, "unreadable record state", -1);
  else sqlite3_result_int(ctx, v);
}

/* SQL function sloop_state(state, doc): a stored state as JSON text, for inspection (tests,
** debugging through sloop_sql); NULL for NULL. */
static void sql_state(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  sloop_db *db = sqlite3_user_data(ctx);
  if (!state_arg(ctx, argv[0])) return;
  cJSON *state = NULL;
  const char *doc = (const char *)sqlite3_value_text(argv[1]);
  int rc = sloop_state_read(db, sqlite3_value_blob(argv[0]), sqlite3_value_bytes(argv[0]), doc, NULL, &state);
  char *text = rc ? NULL : sloop_print(state, NULL);
  cJSON_Delete(state);
  if (text) sqlite3_result_text(ctx, text, -1, free);
  else sqlite3_result_error(ctx, rc ? "unreadable record state" : "out of memory", -1);
}

int sloop_nodes_register(sloop_db *db) {
  int rc = sqlite3_create_function(db->sql, "sloop_visible", 1, SQLITE_UTF8, db, sql_visible, NULL, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db->sql, "sloop_state", 2, SQLITE_UTF8, db, sql_state, NULL, NULL);
  return rc == SQLITE_OK ? SLOOP_OK : sloop_sql_fail(db, rc, "register functions");
}
