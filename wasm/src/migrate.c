/*
** migrate.c -- upgrading a database of an older format in place (formats: see db.c).
**
** Runs inside the open savepoint, before the tables of the current format are created: the
** old tables are copied aside, dropped, and their rows written back in the new form, so any
** failure rolls the whole database back to its old format. Rowids are kept (the full-text
** index is keyed by them), and so are the app's expression indexes on records. A client's
** base is dropped where it equals the state and the record has nothing in the log.
** Format 2 to 3 gives records their rowid as a column and re-keys a server's answered
** operations and a client's log (sloop_migrate_2_to_3).
*/
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Format 2's records table and index, as db.c creates them (kept here as they were when
** format 2 was made: a later format migrates from this shape). */
static const char kRecords2Client[] =
    "CREATE TABLE records("
    "  coll TEXT NOT NULL, id TEXT NOT NULL, doc TEXT, state BLOB NOT NULL,"
    "  version INTEGER NOT NULL DEFAULT 0, base BLOB, sync INTEGER NOT NULL DEFAULT 2,"
    "  PRIMARY KEY(coll, id));"
    "CREATE VIRTUAL TABLE records_fts USING fts5(text, content='', contentless_delete=1,"
    " tokenize='unicode61');";
static const char kRecords2Server[] =
    "CREATE TABLE records("
    "  coll TEXT NOT NULL, id TEXT NOT NULL, doc TEXT, state BLOB NOT NULL,"
    "  version INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(coll, id));";

/* The text of a JSON column of a format-1 row as a new cJSON tree; NULL for SQL NULL. */
static int parse_column(sloop_db *db, sqlite3_stmt *st, int col, cJSON **out) {
  *out = NULL;
  if (sqlite3_column_type(st, col) == SQLITE_NULL) return SLOOP_OK;
  *out = sloop_json_parse((const char *)sqlite3_column_text(st, col), (size_t)sqlite3_column_bytes(st, col));
  if (!*out)
    return sloop_fail(db, SLOOP_CORRUPT, "format 1 record %s/%s: unreadable JSON", sqlite3_column_text(st, 1),
                      sqlite3_column_text(st, 2));
  return SLOOP_OK;
}

/* Writes one format-1 row (rowid, coll, id, doc, state, version, base, sync) in format 2. */
static int copy_record(sloop_db *db, sqlite3_stmt *from, sqlite3_stmt *to) {
  int client = db->role == SLOOP_ROLE_CLIENT;
  cJSON *state = NULL, *doc = NULL, *base = NULL;
  uint8_t *state_blob = NULL, *base_blob = NULL;
  size_t state_len = 0, base_len = 0;
  int rc = parse_column(db, from, 4, &state);
  if (!rc) rc = parse_column(db, from, 3, &doc);
  if (!rc && client) rc = parse_column(db, from, 6, &base);
  if (!rc && !state) rc = sloop_fail(db, SLOOP_CORRUPT, "format 1 record without state");
  /* Format 2 keeps a base only while the record's operations can make it differ from the
  ** state (see sloop_row_load). */
  if (!rc && base && sqlite3_column_int64(from, 5) > 0 && sloop_json_equal(base, state)) {
    sloop_op_counts ops;
    rc = sloop_op_counts_load(db, (const char *)sqlite3_column_text(from, 1), (const char *)sqlite3_column_text(from, 2),
                              &ops);
    if (!rc && !sloop_ops_any(&ops)) {
      cJSON_Delete(base);
      base = NULL;
    }
  }
  if (!rc) rc = sloop_state_write(db, state, doc, &state_blob, &state_len);
  if (!rc && base) rc = sloop_state_write(db, base, NULL, &base_blob, &base_len);
  if (!rc) {
    sqlite3_reset(to);
    sqlite3_bind_int64(to, 1, sqlite3_column_int64(from, 0));
    for (int i = 1; i <= 3; i++) sqlite3_bind_value(to, i + 1, sqlite3_column_value(from, i));
    sqlite3_bind_blob(to, 5, state_blob, (int)state_len, SQLITE_STATIC);
    sqlite3_bind_int64(to, 6, sqlite3_column_int64(from, 5));
    if (client) {
      if (base_blob) sqlite3_bind_blob(to, 7, base_blob, (int)base_len, SQLITE_STATIC);
      else sqlite3_bind_null(to, 7);
      sqlite3_bind_value(to, 8, sqlite3_column_value(from, 7));
    }
    int src = sqlite3_step(to);
    if (src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "migrate record");
  }
  cJSON_Delete(state);
  cJSON_Delete(doc);
  cJSON_Delete(base);
  free(state_blob);
  free(base_blob);
  return rc;
}

static int copy_records(sloop_db *db) {
  int client = db->role == SLOOP_ROLE_CLIENT;
  sqlite3_stmt *from = NULL, *to = NULL;
  int rc = sloop_prepare(db, "SELECT r, coll, id, doc, state, version, base, sync FROM records_v1 ORDER BY r", &from);
  if (!rc)
    rc = sloop_prepare(db,
                       client ? "INSERT INTO records(rowid, coll, id, doc, state, version, base, sync)"
                                " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                              : "INSERT INTO records(rowid, coll, id, doc, state, version)"
                                " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                       &to);
  int src = SQLITE_DONE;
  while (!rc && (src = sqlite3_step(from)) == SQLITE_ROW) rc = copy_record(db, from, to);
  if (!rc && src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "read format 1 records");
  sloop_finalize(db, from);
  sloop_finalize(db, to);
  return rc;
}

/* Runs again the CREATE INDEX statements of the app's indexes on records, which the drop of
** the old table took with it. */
static int saved_indexes(sloop_db *db, cJSON **out) {
  sqlite3_stmt *st;
  *out = cJSON_CreateArray();
  if (!*out) return SLOOP_NOMEM;
  int rc = sloop_prepare(db,
                         "SELECT sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'records'"
                         " AND name LIKE 'idx!_%' ESCAPE '!' AND sql IS NOT NULL",
                         &st);
  if (rc) return rc;
  while (sqlite3_step(st) == SQLITE_ROW)
    if (!cJSON_AddItemToArray(*out, cJSON_CreateString((const char *)sqlite3_column_text(st, 0)))) rc = SLOOP_NOMEM;
  sloop_finalize(db, st);
  return rc;
}

int sloop_migrate_1_to_2(sloop_db *db) {
  int client = db->role == SLOOP_ROLE_CLIENT;
  cJSON *indexes = NULL;
  int rc = saved_indexes(db, &indexes);
  if (!rc)
    rc = sloop_exec(db,
                    "CREATE TABLE records_v1 AS SELECT rowid AS r, coll, id, doc, state, version, base, sync"
                    " FROM records;"
                    "DROP TABLE records;");
  if (!rc && client)
    rc = sloop_exec(db, "CREATE TABLE records_fts_v1 AS SELECT rowid AS r, text FROM records_fts;");
  if (!rc) rc = sloop_exec(db, "DROP TABLE IF EXISTS records_fts;");
  if (!rc) rc = sloop_exec(db, client ? kRecords2Client : kRecords2Server);
  if (!rc) rc = copy_records(db);
  const cJSON *sql;
  cJSON_ArrayForEach(sql, indexes) if (!rc) rc = sloop_exec(db, sql->valuestring);
  /* The index keeps its entries' rowids, which are the records' and did not change; its text
  ** is the format-1 index's own copy, so a schema change since cannot alter it. */
  if (!rc && client)
    rc = sloop_exec(db,
                    "INSERT INTO records_fts(rowid, text) SELECT r, text FROM records_fts_v1 ORDER BY r;"
                    "DROP TABLE records_fts_v1;");
  if (!rc) rc = sloop_exec(db, "DROP TABLE records_v1;");
  cJSON_Delete(indexes);
  return rc;
}

/* Format 3's applied_ops, as db.c creates it (kept here as it was when format 3 was made). */
static const char kAppliedOps3[] =
    "CREATE TABLE applied_ops("
    "  device TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, user TEXT, result TEXT NOT NULL,"
    "  PRIMARY KEY(device, seq, id)) WITHOUT ROWID;";

/* Format 3's records tables, as db.c creates them (kept here as they were when format 3 was
** made; the server's index by version is db.c's to create, after the migration). */
static const char kRecords3Client[] =
    "CREATE TABLE records("
    "  r INTEGER PRIMARY KEY, coll TEXT NOT NULL, id TEXT NOT NULL, doc TEXT, state BLOB NOT NULL,"
    "  version INTEGER NOT NULL DEFAULT 0, base BLOB, sync INTEGER NOT NULL DEFAULT 2,"
    "  UNIQUE(coll, id));";
static const char kRecords3Server[] =
    "CREATE TABLE records("
    "  r INTEGER PRIMARY KEY, coll TEXT NOT NULL, id TEXT NOT NULL, doc TEXT, state BLOB NOT NULL,"
    "  version INTEGER NOT NULL DEFAULT 0, UNIQUE(coll, id));";

/* The records get their rowid as a column: the same rows, each at the rowid it had, so the
** search index and its pending updates still name them. The app's indexes went with the old
** table and are created again as they were. */
static int records_2_to_3(sloop_db *db) {
  int client = db->role == SLOOP_ROLE_CLIENT;
  cJSON *indexes = NULL;
  int rc = saved_indexes(db, &indexes);
  if (!rc)
    rc = sloop_exec(db,
                    "ALTER TABLE records RENAME TO records_v2;"
                    "DROP INDEX IF EXISTS records_by_version;");
  if (!rc) rc = sloop_exec(db, client ? kRecords3Client : kRecords3Server);
  if (!rc)
    rc = sloop_exec(db, client ? "INSERT INTO records(r, coll, id, doc, state, version, base, sync)"
                                 " SELECT rowid, coll, id, doc, state, version, base, sync FROM records_v2 ORDER BY rowid;"
                                 "DROP TABLE records_v2;"
                               : "INSERT INTO records(r, coll, id, doc, state, version)"
                                 " SELECT rowid, coll, id, doc, state, version FROM records_v2 ORDER BY rowid;"
                                 "DROP TABLE records_v2;");
  const cJSON *sql;
  cJSON_ArrayForEach(sql, indexes) if (!rc) rc = sloop_exec(db, sql->valuestring);
  cJSON_Delete(indexes);
  return rc;
}

/* Format 3's operation log, as db.c creates it (kept here as it was when format 3 was made). */
static const char kOplog3[] =
    "CREATE TABLE oplog("
    "  seq INTEGER PRIMARY KEY, id TEXT NOT NULL, type TEXT NOT NULL,"
    "  coll TEXT NOT NULL, rid TEXT NOT NULL, hlc TEXT NOT NULL, base INTEGER NOT NULL,"
    "  payload TEXT NOT NULL, status INTEGER NOT NULL DEFAULT 0,"
    "  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, acked_version INTEGER);";

/* A server's answered operations move from (id; index on device, seq) to one table keyed by
** (device, seq, id). Every row keeps its columns: the device and sequence number it was stored
** under are the ones its id names (server.c checks each id against the pushing device), which
** is what the look-ups by (device, seq, id) find it by. */
static int answers_2_to_3(sloop_db *db) {
  int rc = sloop_exec(db,
                      "ALTER TABLE applied_ops RENAME TO applied_ops_v2;"
                      "DROP INDEX IF EXISTS applied_by_device;");
  if (!rc) rc = sloop_exec(db, kAppliedOps3);
  if (!rc)
    rc = sloop_exec(db,
                    "INSERT INTO applied_ops(device, seq, id, user, result)"
                    " SELECT device, seq, id, user, result FROM applied_ops_v2 ORDER BY device, seq, id;"
                    "DROP TABLE applied_ops_v2;");
  return rc;
}

/* A client's operations move to the seq their ids name ("<device>:<n>" at seq n), which keeps
** their order: ids and log positions were both handed out in increasing order, a retry giving
** the operation a new id and the end of the log. Checked row by row: an id that is not this
** device's, or out of order, stops the migration (the database stays as it was). Indexes and
** triggers went with the old table; db.c creates them again on the new one. */
static int oplog_2_to_3(sloop_db *db) {
  int rc = sloop_exec(db,
                      "ALTER TABLE oplog RENAME TO oplog_v2;"
                      "DROP INDEX IF EXISTS oplog_by_record; DROP INDEX IF EXISTS oplog_by_status;"
                      "DROP TRIGGER IF EXISTS oplog_resolve_failed; DROP TRIGGER IF EXISTS oplog_resolve_retried;");
  if (!rc) rc = sloop_exec(db, kOplog3);
  char *device = NULL;
  int drc = rc ? SLOOP_OK : sloop_meta_get_text(db, "device", &device);
  if (drc && drc != SLOOP_NOTFOUND) rc = drc;
  sqlite3_stmt *from = NULL, *to = NULL;
  if (!rc)
    rc = sloop_prepare(db,
                       "SELECT id, type, coll, rid, hlc, base, payload, status, attempts, last_error, acked_version"
                       " FROM oplog_v2 ORDER BY seq",
                       &from);
  if (!rc)
    rc = sloop_prepare(db,
                       "INSERT INTO oplog(seq, id, type, coll, rid, hlc, base, payload, status, attempts, last_error,"
                       " acked_version) VALUES(?12, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                       &to);
  int64_t last = 0;
  int src = SQLITE_DONE;
  while (!rc && (src = sqlite3_step(from)) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(from, 0);
    int64_t seq = device ? sloop_op_id_seq(device, id) : 0;
    if (seq <= last) {
      rc = sloop_fail(db, SLOOP_CORRUPT, "format 2 operation %.96s: %s", id ? id : "(null)",
                      seq ? "out of order" : "not an id of this device");
      break;
    }
    last = seq;
    sqlite3_reset(to);
    for (int i = 0; i < 11; i++) sqlite3_bind_value(to, i + 1, sqlite3_column_value(from, i));
    sqlite3_bind_int64(to, 12, seq);
    if ((src = sqlite3_step(to)) != SQLITE_DONE) rc = sloop_sql_fail(db, src, "migrate operation");
  }
  if (!rc && src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "read format 2 operations");
  sloop_finalize(db, from);
  sloop_finalize(db, to);
  free(device);
  if (!rc) rc = sloop_exec(db, "DROP TABLE oplog_v2;");
  return rc;
}

int sloop_migrate_2_to_3(sloop_db *db) {
  int rc = records_2_to_3(db);
  if (!rc) rc = db->role == SLOOP_ROLE_SERVER ? answers_2_to_3(db) : oplog_2_to_3(db);
  return rc;
}
