/*
** db.c -- opening and closing a Sloop database, its tables, and per-handle settings.
**
** Tables (both roles): meta (key/value: format, clock, device, schema, cursors), nodes (node ids
** of the binary merge state), records (merge state and the visible document of every record),
** conflicts. A client adds records_fts (search) and the operation log; a server adds applied_ops (the idempotency table: every operation id it
** has answered, with the answer) and devices (sync state per user and device).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sloop_vfs.h"

/* SQLite's own page cache on the memory VFS, in KiB (see sloop_open). */
#define MEM_SQLITE_CACHE_KIB "256"

static const char kSchemaCommon[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS nodes(n INTEGER PRIMARY KEY, node INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS conflicts("
    "  id INTEGER PRIMARY KEY, coll TEXT NOT NULL, rid TEXT NOT NULL, field TEXT NOT NULL,"
    "  server TEXT, incoming TEXT, op TEXT, device TEXT, user TEXT, hlc TEXT,"
    "  status TEXT NOT NULL DEFAULT 'open', resolution TEXT, version INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS conflicts_by_version ON conflicts(version);";

/* records: `state` is the binary merge state (state_codec.h), whose register values are read
** from `doc` when it shows them; a client adds the canonical `base` and the sync state, and a
** contentless full-text index (the text is in `doc`, searched by rowid).
** The rowid is a column (`r`), so VACUUM keeps it: SQLite renumbers the rowids of a table
** without an INTEGER PRIMARY KEY when it rebuilds it, and the index and its pending updates
** name records by rowid (format 2 lost its search entries to a VACUUM). (coll, id) is unique,
** as it was the primary key: the same two B-trees. */
static const char kRecordsClient[] =
    "CREATE TABLE IF NOT EXISTS records("
    "  r INTEGER PRIMARY KEY, coll TEXT NOT NULL, id TEXT NOT NULL, doc TEXT, state BLOB NOT NULL,"
    "  version INTEGER NOT NULL DEFAULT 0, base BLOB, sync INTEGER NOT NULL DEFAULT 2,"
    "  UNIQUE(coll, id));";
static const char kFtsClient[] =
    "CREATE VIRTUAL TABLE IF NOT EXISTS records_fts USING fts5(text, content='', contentless_delete=1,"
    " tokenize='unicode61');"
    /* Index updates of small transactions, waiting to go in together (fts.c). */
    "CREATE TABLE IF NOT EXISTS fts_pending(rid INTEGER PRIMARY KEY, indexed INTEGER NOT NULL, text TEXT);";
/* The server's records are its change log, read in version order. */
static const char kRecordsServer[] =
    "CREATE TABLE IF NOT EXISTS records("
    "  r INTEGER PRIMARY KEY, coll TEXT NOT NULL, id TEXT NOT NULL, doc TEXT, state BLOB NOT NULL,"
    "  version INTEGER NOT NULL DEFAULT 0, UNIQUE(coll, id));"
    "CREATE INDEX IF NOT EXISTS records_by_version ON records(version);";

/* oplog: an operation's seq is the number in its id ("<device>:<seq>", sloop_oplog_seq), so
** the id needs no index of its own: a look-up by id is one by seq. */
static const char kSchemaClient[] =
    "CREATE TABLE IF NOT EXISTS oplog("
    "  seq INTEGER PRIMARY KEY, id TEXT NOT NULL, type TEXT NOT NULL,"
    "  coll TEXT NOT NULL, rid TEXT NOT NULL, hlc TEXT NOT NULL, base INTEGER NOT NULL,"
    "  payload TEXT NOT NULL, status INTEGER NOT NULL DEFAULT 0,"
    "  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, acked_version INTEGER);"
    "CREATE INDEX IF NOT EXISTS oplog_by_record ON oplog(coll, rid, seq);"
    "CREATE INDEX IF NOT EXISTS oplog_by_status ON oplog(status, seq);"
    /* A conflict is "resolving" here only while a resolve of this device for it may still
    ** be applied. Whatever path marks that resolve failed (a refusal of the server, of one
    ** operation or of its batch), the conflict reopens, so the user can decide again; a
    ** retry makes it "resolving" again. A conflict the server closed is never touched. */
    "CREATE TRIGGER IF NOT EXISTS oplog_resolve_failed AFTER UPDATE OF status ON oplog"
    "  WHEN new.type = 'resolve' AND new.status = 3 AND old.status != 3 BEGIN"
    "  UPDATE conflicts SET status = 'open'"
    "   WHERE id = json_extract(new.payload, '$.conflict') AND status = 'resolving'; END;"
    "CREATE TRIGGER IF NOT EXISTS oplog_resolve_retried AFTER UPDATE OF status ON oplog"
    "  WHEN new.type = 'resolve' AND old.status = 3 AND new.status IN (0, 1) BEGIN"
    "  UPDATE conflicts SET status = 'resolving'"
    "   WHERE id = json_extract(new.payload, '$.conflict') AND status = 'open'; END;";

/* applied_ops is keyed by (device, seq, id): an id is "<device>:<seq>" and names both, so the
** key is as unique as the id alone, and one B-tree serves the look-up of an id, the batch's
** range of sequence numbers (server_batch.c) and a pull's answers after a sequence number
** (server_pull.c). Format 2 kept the id as key and (device, seq) in a second index: two
** B-trees written per operation, a tenth of a server's apply. */
static const char kSchemaServer[] =
    "CREATE TABLE IF NOT EXISTS applied_ops("
    "  device TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, user TEXT, result TEXT NOT NULL,"
    "  PRIMARY KEY(device, seq, id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS devices("
    "  device TEXT PRIMARY KEY, user TEXT, cursor INTEGER NOT NULL DEFAULT 0,"
    "  acked_op TEXT, acked_seq INTEGER NOT NULL DEFAULT 0, seen_ms INTEGER) WITHOUT ROWID;";

int sloop_exec(sloop_db *db, const char *sql) {
  char *err = NULL;
  int rc = sqlite3_exec(db->sql, sql, NULL, NULL, &err);
  if (rc != SQLITE_OK) {
    int out = sloop_fail(db, rc == SQLITE_NOMEM ? SLOOP_NOMEM : SLOOP_STORAGE, "%s",
                         err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    return out;
  }
  return SLOOP_OK;
}

int sloop_exec_cached(sloop_db *db, const char *sql) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, sql, &st);
  if (rc) return rc;
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
  }
  if (src != SQLITE_DONE) rc = sloop_fail(db, src == SQLITE_NOMEM ? SLOOP_NOMEM : SLOOP_STORAGE, "%s", sqlite3_errmsg(db->sql));
  sloop_finalize(db, st);
  return rc;
}

/* A hash of the text's length and its first and last 24 bytes (FNV-1a): the statement cache is
** looked up once per statement run, and hashing whole texts of a few hundred bytes cost more
** than the lookup saved (3.5% of a server push apply). Texts that agree on all of that only
** share a hash; strcmp still tells them apart. */
static uint32_t hash_sql(const char *s) {
  size_t n = strlen(s);
  uint32_t h = (2166136261u ^ (uint32_t)n) * 16777619u;
  size_t head = n < 48 ? n : 24;
  for (size_t i = 0; i < head; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  for (size_t i = head > n - 24 ? head : n - 24; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

int sloop_prepare(sloop_db *db, const char *sql, sqlite3_stmt **stmt) {
  uint32_t h = hash_sql(sql);
  int busy_copy = 0;
  for (int i = 0; i < db->nstmts; i++) {
    sloop_cached_stmt *c = &db->stmts[i];
    if (c->hash != h || strcmp(c->sql, sql) != 0) continue;
    if (c->in_use) {
      busy_copy = 1;
      continue;
    }
    c->in_use = 1;
    *stmt = c->stmt;
    return SLOOP_OK;
  }
  int cache = !busy_copy && db->nstmts < SLOOP_STMT_CACHE;
  int rc = sqlite3_prepare_v3(db->sql, sql, -1, cache ? SQLITE_PREPARE_PERSISTENT : 0, stmt, NULL);
  if (rc != SQLITE_OK) {
    *stmt = NULL;
    return sloop_sql_fail(db, rc, "prepare");
  }
  char *copy = cache ? sloop_strndup(sql, strlen(sql)) : NULL;
  if (copy) {
    /* Full: statements past the first SLOOP_STMT_CACHE distinct texts are used once. */
    db->stmts[db->nstmts++] = (sloop_cached_stmt){copy, h, *stmt, 1};
  }
  return SLOOP_OK;
}

void sloop_finalize(sloop_db *db, sqlite3_stmt *stmt) {
  if (!stmt) return;
  for (int i = 0; i < db->nstmts; i++) {
    if (db->stmts[i].stmt == stmt) {
      sqlite3_reset(stmt);
      sqlite3_clear_bindings(stmt);
      db->stmts[i].in_use = 0;
      return;
    }
  }
  sqlite3_finalize(stmt);
}

static void drop_statements(sloop_db *db) {
  for (int i = 0; i < db->nstmts; i++) {
    sqlite3_finalize(db->stmts[i].stmt);
    free(db->stmts[i].sql);
  }
  db->nstmts = 0;
}

/* The on-disk format: the tables above and how their columns encode records, operations and
** conflicts, stored in meta as "format". It is not the schema: the app's collections are meta
** "schema", with their own rules mark ("schema_rules", below).
**   1  merge state and base as JSON text, a contentful full-text index, every table in both roles
**   2  merge state and base in the binary form of state_codec.h (node ids in `nodes`), values
**      shared with the document; a contentless index; each role's own tables and columns
**   3  a server's applied_ops keyed by (device, seq, id), without a second index; a client's
**      oplog stores each operation at the seq its id names, without an index on id; records'
**      rowid is a column (`r`), which VACUUM keeps
** Migration runs inside the open savepoint, so a failure leaves the database as it was.
** tests/c/test_format.c opens the committed fixtures of formats 1 and 2
** (tests/fixtures/format-v1/, format-v2/) and checks every record, operation, conflict and
** answered operation after the migration. */
#define FORMAT_VERSION 3

/* The format of an existing database, read before anything is created or written: 0 for a
** new (empty) database, 1 for one written before the key existed (format 1 is the first).
** *stored says whether the key was there. */
static int read_format(sloop_db *db, int64_t *version, int *stored) {
  sqlite3_stmt *st = NULL;
  int rc = sloop_prepare(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'meta'", &st);
  if (rc) return rc;
  int src = sqlite3_step(st);
  int has_meta = src == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
  if (src != SQLITE_ROW) rc = sloop_sql_fail(db, src, "format");
  sloop_finalize(db, st);
  *version = 0;
  *stored = 0;
  if (rc || !has_meta) return rc;
  rc = sloop_meta_get_int(db, "format", version);
  *stored = rc == SLOOP_OK;
  if (rc == SLOOP_NOTFOUND) {
    *version = 1;
    rc = SLOOP_OK;
  } else if (rc == SLOOP_OK && *version < 1) {
    rc = sloop_fail(db, SLOOP_CORRUPT, "format version %lld is not a Sloop format", (long long)*version);
  }
  return rc;
}

/* Creates the tables of `role`, or checks and upgrades those of an existing database; the one
** place that knows the format version. A database of a newer format than this code reads is
** refused before anything is written, so an older app (a stale tab, a rolled-back deploy)
** cannot damage what a newer one stored. The code is SLOOP_INVALID, not SLOOP_CORRUPT: the
** database is sound, this code is too old for it, and 'corrupt' tells apps to delete the
** database and sync again, which would lose the unsynced writes the newer code kept. */
static int open_tables(sloop_db *db) {
  int64_t version = 0;
  int stored = 0;
  int rc = read_format(db, &version, &stored);
  if (rc) return rc;
  if (version > FORMAT_VERSION)
    return sloop_fail(db, SLOOP_INVALID, "database format %lld is newer than this code reads (%d)",
                      (long long)version, FORMAT_VERSION);
  int client = db->role == SLOOP_ROLE_CLIENT;
  rc = sloop_exec(db, kSchemaCommon);
  if (!rc && version == 1) rc = sloop_migrate_1_to_2(db);
  if (!rc && version >= 1 && version <= 2) rc = sloop_migrate_2_to_3(db);
  if (!rc) rc = sloop_exec(db, client ? kRecordsClient : kRecordsServer);
  if (!rc && client) rc = sloop_exec(db, kFtsClient);
  if (!rc && client) rc = sloop_fts_tune(db);
  if (!rc) rc = sloop_exec(db, client ? kSchemaClient : kSchemaServer);
  if (!rc && (!stored || version != FORMAT_VERSION)) rc = sloop_meta_set_int(db, "format", FORMAT_VERSION);
  return rc;
}

/* Marks a stored schema as checked by today's rules (strict collections by default, named
** collections or "open"); a stored schema without the mark predates them. */
#define SCHEMA_RULES 2

/* Loads (or on first open creates) the device id, the clock and the stored schema. */
static int load_identity(sloop_db *db) {
  char *text = NULL;
  int rc = sloop_meta_get_text(db, "device", &text);
  if (rc == SLOOP_NOTFOUND) {
    snprintf(db->device, sizeof(db->device), "%016llx", (unsigned long long)sloop_random64(db));
    rc = sloop_meta_set_text(db, "device", db->device);
  } else if (rc == SLOOP_OK) {
    snprintf(db->device, sizeof(db->device), "%s", text);
  }
  free(text);
  if (rc) return rc;
  db->clock.node = strtoull(db->device, NULL, 16);
  rc = sloop_meta_get_text(db, "hlc", &text);
  if (rc == SLOOP_OK) {
    sloop_hlc stored;
    if (sloop_hlc_parse(text, strlen(text), &stored) == SLOOP_OK) {
      db->clock.pt = stored.pt;
      db->clock.lc = stored.lc;
    }
  }
  free(text);
  if (rc && rc != SLOOP_NOTFOUND) return rc;
  rc = sloop_meta_get_int(db, "op_seq", &db->op_seq);
  if (rc && rc != SLOOP_NOTFOUND) return rc;
  rc = sloop_meta_get_int(db, "elem_next", &db->elem_next);
  if (rc && rc != SLOOP_NOTFOUND) return rc;
  rc = sloop_meta_get_text(db, "schema", &text);
  if (rc == SLOOP_OK) {
    char msg[200];
    /* A schema stored before today's rules (no mark) keeps the meaning it was accepted with,
    ** so the database opens; the next sloop_set_schema applies the rules (docs/SCHEMA.md). */
    int64_t rules = 0;
    rc = sloop_meta_get_int(db, "schema_rules", &rules);
    if (rc == SLOOP_OK || rc == SLOOP_NOTFOUND)
      rc = rules >= SCHEMA_RULES ? sloop_schema_parse(text, strlen(text), &db->schema, msg)
                                 : sloop_schema_parse_legacy(text, strlen(text), &db->schema, msg);
    if (rc) rc = sloop_fail(db, SLOOP_CORRUPT, "stored schema: %s", msg);
  } else if (rc == SLOOP_NOTFOUND) {
    rc = sloop_schema_parse(NULL, 0, &db->schema, NULL);
  }
  free(text);
  return rc;
}

/* A rollback, from the core or from raw SQL, undoes what the caches count on: the node table
** (nodes.c) and the pending search updates (fts.c) are read again. */
static void on_rollback(void *db) {
  sloop_nodes_stale(db);
  sloop_fts_stale(db);
}

int sloop_open(const char *path, const char *vfs, sloop_role role, const sloop_env *env,
               sloop_db **out) {
  *out = NULL;
  if (!path || (role != SLOOP_ROLE_CLIENT && role != SLOOP_ROLE_SERVER)) return SLOOP_INVALID;
  sloop_json_pool_install();
  sloop_db *db = calloc(1, sizeof(*db));
  if (!db) return SLOOP_NOMEM;
  db->role = role;
  db->fts_pending = -1;
  db->fts_after = SLOOP_FTS_AFTER_UNKNOWN;
  if (env) db->env = *env;
  /* Device ids come from this generator (unless env gives one): its seed must differ between
  ** devices even when they open in the same millisecond at the same heap address, which a
  ** WebAssembly module's deterministic allocator makes likely. So the platform's random
  ** source seeds it (SQLite's generator, seeded from the default VFS: Web Crypto in the
  ** module, /dev/urandom natively); time and address only add to that. */
  uint64_t seed = 0;
  sqlite3_randomness((int)sizeof(seed), &seed);
  db->rng_state = (0x9e3779b97f4a7c15ull ^ (uint64_t)sloop_now_ms(db) ^ (uint64_t)(uintptr_t)db) ^ seed;
  if (db->rng_state == 0) db->rng_state = 0x9e3779b97f4a7c15ull; /* xorshift's one fixed point */
  int rc = sqlite3_open_v2(path, &db->sql, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
  if (rc != SQLITE_OK) {
    rc = sloop_sql_fail(db, rc, "open");
    goto fail;
  }
  /* A statement's plan must not depend on the values bound to it (SQLite's query planner
  ** stability guarantee). Without it SQLite plans `LIMIT ?n` with the bound value and marks
  ** the statement expired whenever ?n is bound again, so a cached statement with one (the
  ** push batch, search) was prepared anew inside every sqlite3_step. */
  rc = sqlite3_db_config(db->sql, SQLITE_DBCONFIG_ENABLE_QPSG, 1, (int *)NULL) == SQLITE_OK ? SLOOP_OK
                                                                                 : sloop_sql_fail(db, SQLITE_ERROR, "open");
  if (!rc) rc = sloop_exec(db, "PRAGMA foreign_keys = OFF");
  /* On the memory VFS every page SQLite reads is already in the heap, in the VFS's page cache
  ** (on demand) or image: SQLite's own cache (2 MiB by default) only holds second copies. A
  ** small one keeps the B-trees' upper levels; a miss costs a 4 KiB copy from the VFS.
  ** docs/PERSISTENCE.md, "The page cache". */
  if (!rc && vfs && strcmp(vfs, SLOOP_VFS_MEM) == 0) rc = sloop_exec(db, "PRAGMA cache_size = -" MEM_SQLITE_CACHE_KIB);
  if (!rc) rc = sloop_nodes_register(db);
  if (!rc) sqlite3_rollback_hook(db->sql, on_rollback, db);
  if (!rc) rc = sloop_begin(db, "open");
  if (!rc) {
    rc = open_tables(db);
    if (!rc) rc = load_identity(db);
    /* Indexes made by earlier code (or for a schema since changed) are brought in line. */
    if (!rc) rc = sloop_indexes_sync(db);
    rc = sloop_end(db, "open", rc);
  }
  if (rc) goto fail;
  *out = db;
  return SLOOP_OK;
fail:
  drop_statements(db);
  sqlite3_close(db->sql);
  sloop_schema_clear(&db->schema);
  sloop_nodes_clear(db);
  free(db);
  return rc;
}

int sloop_close(sloop_db *db) {
  if (!db) return SLOOP_OK;
  drop_statements(db);
  int rc = sqlite3_close(db->sql);
  sloop_schema_clear(&db->schema);
  cJSON_Delete(db->changes);
  sloop_fts_discard(db, 0);
  free(db->fts);
  sloop_nodes_clear(db);
  free(db);
  return rc == SQLITE_OK ? SLOOP_OK : SLOOP_STORAGE;
}

/* Whether `text` is the stored schema, stored under today's rules. */
static int schema_stored(sloop_db *db, const char *text) {
  char *stored = NULL;
  int64_t rules = 0;
  int same = sloop_meta_get_text(db, "schema", &stored) == SLOOP_OK && strcmp(stored, text) == 0 &&
             sloop_meta_get_int(db, "schema_rules", &rules) == SLOOP_OK && rules == SCHEMA_RULES;
  free(stored);
  return same;
}

int sloop_set_schema(sloop_db *db, const char *json, size_t len) {
  sloop_schema next;
  char msg[200] = "";
  int rc = sloop_schema_parse(json, len, &next, msg);
  if (rc) return sloop_fail(db, rc, "%s", msg);
  sloop_schema prev = db->schema;
  db->schema = next;
  char *text = sloop_strndup(json, len);
  /* Apps set their schema on every start: the same one again writes nothing, so opening an
  ** app costs no commit (the indexes were brought in line by the open). */
  if (text && schema_stored(db, text)) {
    free(text);
    sloop_schema_clear(&prev);
    return SLOOP_OK;
  }
  rc = text ? sloop_begin(db, "schema") : SLOOP_NOMEM;
  if (!rc) {
    rc = sloop_meta_set_text(db, "schema", text);
    if (!rc) rc = sloop_meta_set_int(db, "schema_rules", SCHEMA_RULES);
    if (!rc) rc = sloop_indexes_sync(db);
    rc = sloop_end(db, "schema", rc);
  }
  free(text);
  if (rc) {
    db->schema = prev;
    sloop_schema_clear(&next);
    return rc;
  }
  sloop_schema_clear(&prev);
  return SLOOP_OK;
}

const char *sloop_device(sloop_db *db) { return db->device; }

int sloop_clock_now(sloop_db *db, char buf[35]) { return sloop_clock_tick(db, buf); }

void sloop_set_merge(sloop_db *db, sloop_merge_cb cb, void *ctx) {
  db->merge_cb = cb;
  db->merge_ctx = ctx;
}

const char *sloop_last_op(sloop_db *db) { return db->last_op; }

int sloop_tx_begin(sloop_db *db) {
  if (db->tx_doomed) return sloop_fail(db, SLOOP_BUSY, "a transaction is already open (and doomed: end it)");
  if (!sqlite3_get_autocommit(db->sql)) return sloop_fail(db, SLOOP_BUSY, "a transaction is already open");
  sloop_fts_discard(db, 0); /* see sloop_begin */
  return sloop_exec_cached(db, "BEGIN IMMEDIATE");
}

int sloop_tx_end(sloop_db *db, int commit) {
  if (db->tx_doomed) {
    /* A write failed halfway and rolled everything back already (savepoint.c): a commit fails,
    ** so the caller learns that none of the transaction's writes were kept. */
    db->tx_doomed = 0;
    if (!sqlite3_get_autocommit(db->sql)) sloop_exec(db, "ROLLBACK"); /* a BEGIN since, by raw SQL */
    sloop_fts_discard(db, 0);
    return commit ? sloop_fail(db, SLOOP_STORAGE, "the transaction was rolled back: a write in it failed") : SLOOP_OK;
  }
  if (sqlite3_get_autocommit(db->sql)) return sloop_fail(db, SLOOP_INVALID, "no transaction is open");
  /* The writes' index updates, queued since BEGIN, go in together before the commit (fts.c).
  ** Failing that, the commit fails: the records must not outlive their index entries. */
  int rc = commit ? sloop_meta_flush(db) : SLOOP_OK;
  if (!rc && commit) rc = sloop_fts_apply(db, 0);
  if (!rc) rc = sloop_exec_cached(db, commit ? "COMMIT" : "ROLLBACK");
  if (rc && commit) sloop_exec(db, "ROLLBACK");
  sloop_fts_discard(db, 0);
  return rc;
}
