/*
** db.c -- opening and closing a Sloop database, and the schema of its tables.
**
** The schema is created in one transaction on open. `records` holds every document (its
** visible JSON in `doc`); `records_fts` indexes their text for search, keyed by the records
** rowid so an update deletes exactly one FTS row.
*/
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char kSchema[] =
    "CREATE TABLE IF NOT EXISTS records("
    "  coll TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,"
    "  PRIMARY KEY(coll, id));"
    "CREATE VIRTUAL TABLE IF NOT EXISTS records_fts USING fts5(text, tokenize='unicode61');";

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

int sloop_prepare(sloop_db *db, const char *sql, sqlite3_stmt **stmt) {
  int rc = sqlite3_prepare_v2(db->sql, sql, -1, stmt, NULL);
  if (rc != SQLITE_OK) {
    *stmt = NULL;
    return sloop_sql_fail(db, rc, "prepare");
  }
  return SLOOP_OK;
}

int sloop_open(const char *path, const char *vfs, sloop_role role, const sloop_env *env,
               sloop_db **out) {
  *out = NULL;
  if (!path || (role != SLOOP_ROLE_CLIENT && role != SLOOP_ROLE_SERVER)) return SLOOP_INVALID;
  sloop_db *db = calloc(1, sizeof(*db));
  if (!db) return SLOOP_NOMEM;
  db->role = role;
  if (env) db->env = *env;
  db->rng_state = 0x9e3779b97f4a7c15ull;
  int rc = sqlite3_open_v2(path, &db->sql, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
  if (rc != SQLITE_OK) {
    rc = sloop_sql_fail(db, rc, "open");
    goto fail;
  }
  rc = sloop_exec(db, kSchema);
  if (rc) goto fail;
  *out = db;
  return SLOOP_OK;
fail:
  sqlite3_close(db->sql);
  free(db);
  return rc;
}

int sloop_close(sloop_db *db) {
  if (!db) return SLOOP_OK;
  int rc = sqlite3_close(db->sql);
  free(db);
  return rc == SQLITE_OK ? SLOOP_OK : SLOOP_STORAGE;
}
