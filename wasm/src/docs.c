/*
** docs.c -- writing, reading and searching documents.
*/
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "internal.h"

/* Indexes every string value of the document, at any depth, for full-text search. */
static const char kIndexText[] =
    "INSERT INTO records_fts(rowid, text)"
    " SELECT r.rowid, (SELECT group_concat(value, ' ') FROM json_tree(r.doc) WHERE type = 'text')"
    " FROM records r WHERE r.coll = ?1 AND r.id = ?2";

static int check_name(sloop_db *db, const char *what, const char *s, size_t len) {
  if (!s || len == 0 || len > 256) return sloop_fail(db, SLOOP_INVALID, "%s must be 1..256 bytes", what);
  if (memchr(s, 0, len)) return sloop_fail(db, SLOOP_INVALID, "%s contains NUL", what);
  return SLOOP_OK;
}

int sloop_put(sloop_db *db, const char *coll, size_t coll_len, const char *id, size_t id_len,
              const char *json, size_t json_len) {
  int rc = check_name(db, "collection", coll, coll_len);
  if (!rc) rc = check_name(db, "id", id, id_len);
  if (rc) return rc;
  cJSON *doc = cJSON_ParseWithLength(json, json_len);
  if (!doc) return sloop_fail(db, SLOOP_JSON, "document is not valid JSON");
  if (!cJSON_IsObject(doc)) {
    cJSON_Delete(doc);
    return sloop_fail(db, SLOOP_SCHEMA, "document must be a JSON object");
  }
  char *canon = cJSON_PrintUnformatted(doc);
  cJSON_Delete(doc);
  if (!canon) return SLOOP_NOMEM;

  sqlite3_stmt *del = NULL, *ins = NULL, *fts = NULL;
  rc = sloop_exec(db, "SAVEPOINT put");
  if (rc) goto done;
  rc = sloop_prepare(db,
                     "DELETE FROM records_fts WHERE rowid ="
                     " (SELECT rowid FROM records WHERE coll = ?1 AND id = ?2)",
                     &del);
  if (!rc) rc = sloop_prepare(db,
                              "INSERT INTO records(coll, id, doc) VALUES(?1, ?2, ?3)"
                              " ON CONFLICT(coll, id) DO UPDATE SET doc = excluded.doc",
                              &ins);
  if (!rc) rc = sloop_prepare(db, kIndexText, &fts);
  if (rc) goto rollback;
  sqlite3_stmt *steps[] = {del, ins, fts};
  for (int i = 0; i < 3; i++) {
    sqlite3_bind_text(steps[i], 1, coll, (int)coll_len, SQLITE_STATIC);
    sqlite3_bind_text(steps[i], 2, id, (int)id_len, SQLITE_STATIC);
    if (steps[i] == ins) sqlite3_bind_text(ins, 3, canon, -1, SQLITE_STATIC);
    int src = sqlite3_step(steps[i]);
    if (src != SQLITE_DONE) {
      rc = sloop_sql_fail(db, src, "put");
      goto rollback;
    }
  }
  rc = sloop_exec(db, "RELEASE put");
  goto done;
rollback:
  sloop_exec(db, "ROLLBACK TO put; RELEASE put");
done:
  sqlite3_finalize(del);
  sqlite3_finalize(ins);
  sqlite3_finalize(fts);
  free(canon);
  return rc;
}

int sloop_get(sloop_db *db, const char *coll, size_t coll_len, const char *id, size_t id_len,
              char **out, size_t *out_len) {
  *out = NULL;
  if (out_len) *out_len = 0;
  sqlite3_stmt *st = NULL;
  int rc = sloop_prepare(db, "SELECT doc FROM records WHERE coll = ?1 AND id = ?2", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, coll, (int)coll_len, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, id, (int)id_len, SQLITE_STATIC);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    *out = sloop_strndup((const char *)sqlite3_column_text(st, 0), n);
    if (!*out) rc = SLOOP_NOMEM;
    else if (out_len) *out_len = n;
  } else if (src == SQLITE_DONE) {
    rc = sloop_fail(db, SLOOP_NOTFOUND, "no document '%.*s' in '%.*s'", (int)id_len, id,
                    (int)coll_len, coll);
  } else {
    rc = sloop_sql_fail(db, src, "get");
  }
  sqlite3_finalize(st);
  return rc;
}

int sloop_search(sloop_db *db, const char *coll, size_t coll_len, const char *query,
                 size_t query_len, int limit, char **out, size_t *out_len) {
  *out = NULL;
  if (out_len) *out_len = 0;
  sqlite3_stmt *st = NULL;
  int rc = sloop_prepare(db,
                         "SELECT json_group_array(json_object('id', id, 'doc', json(doc))) FROM"
                         " (SELECT r.id, r.doc FROM records_fts f JOIN records r ON r.rowid = f.rowid"
                         "  WHERE records_fts MATCH ?2 AND r.coll = ?1 ORDER BY f.rank LIMIT ?3)",
                         &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, coll, (int)coll_len, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, query, (int)query_len, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, limit > 0 ? limit : 50);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    *out = sloop_strndup((const char *)sqlite3_column_text(st, 0), n);
    if (!*out) rc = SLOOP_NOMEM;
    else if (out_len) *out_len = n;
  } else {
    rc = sloop_sql_fail(db, src, "search");
    if (rc == SLOOP_STORAGE) rc = sloop_fail(db, SLOOP_INVALID, "bad search query: %s",
                                             sqlite3_errmsg(db->sql));
  }
  sqlite3_finalize(st);
  return rc;
}
