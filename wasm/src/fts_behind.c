/*
** fts_behind.c -- the full-text index behind a large pull, and its catch-up.
**
** Indexing a pulled record costs about a third of its apply (tokenizing, FTS5's segment and
** its merges: docs/DESIGN.md, "Engine speed, part 1: the search index behind a pull"), and an
** initial sync pulls every record the user can see before the app can show any of them. So a
** page of many records (FTS_BEHIND_MIN) leaves their index entries for later: the records
** become readable and queryable with the page's commit, and the index catches up behind them.
**
** What is behind is one number, the frontier (meta key fts_after): every record whose rowid is
** above it has no index entry, and every record at or below it is indexed (through fts.c's
** queue and fts_pending as before). A pull places the frontier at the highest rowid before it
** writes, so its new rows, which SQLite numbers above every existing one, land above it; a
** write to a row above it queues nothing (there is no entry to replace, and the catch-up will
** read the row as it is then); a row that lands at or below it (a rowid reused after the
** highest rows were deleted) is indexed as usual. The catch-up indexes the rows above the
** frontier in rowid order, a slice per call, from the rows themselves, and moves the frontier
** up in the same transaction; the last slice removes it.
**
** A search never sees the index behind: it catches up first (docs.c). The runtime runs the
** catch-up in slices after a sync (js/client/scheduler.js), so a search rarely has to.
*/
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const char kFrontier[] = "fts_after";

static int frontier(sloop_db *db, int64_t *after) {
  if (db->fts_after == SLOOP_FTS_AFTER_UNKNOWN) {
    int64_t v = -1;
    int rc = sloop_meta_get_int(db, kFrontier, &v);
    if (rc && rc != SLOOP_NOTFOUND) return rc;
    db->fts_after = rc == SLOOP_NOTFOUND || v < 0 ? -1 : v;
  }
  *after = db->fts_after;
  return SLOOP_OK;
}

int sloop_fts_behind(sloop_db *db, int64_t rowid, int *behind) {
  int64_t after = -1;
  int rc = db->fts_after == -1 ? SLOOP_OK : frontier(db, &after);
  *behind = !rc && after >= 0 && rowid > after;
  return rc;
}

int sloop_fts_fall_behind(sloop_db *db) {
  int64_t after;
  int rc = frontier(db, &after);
  if (rc || after >= 0) return rc;
  /* Above every row, and above every rowid an index update still waits for: a deleted row's
  ** removal of its entry may wait (in fts_pending, or queued), and a new row can take its
  ** rowid; were that above the frontier, the removal would take the new row's entry out. */
  sqlite3_stmt *st;
  if ((rc = sloop_prepare(db, "SELECT max(coalesce((SELECT max(r) FROM records), 0), coalesce((SELECT max(rid) FROM fts_pending), 0))", &st)))
    return rc;
  int src = sqlite3_step(st);
  int64_t top = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  if (src != SQLITE_ROW) rc = sloop_sql_fail(db, src, "place the search index's frontier");
  sloop_finalize(db, st);
  for (size_t i = 0; i < db->nfts; i++)
    if (db->fts[i].rowid > top) top = db->fts[i].rowid;
  if (!rc) rc = sloop_meta_set_int(db, kFrontier, top);
  if (!rc) db->fts_after = top;
  return rc;
}

/* Indexes one record's document, as a write of it would have. */
static int index_doc(sloop_db *db, int64_t rowid, const char *coll, const char *doc_text) {
  cJSON *doc = sloop_json_parse_text(doc_text);
  if (!doc) return sloop_fail(db, SLOOP_CORRUPT, "a stored document does not parse (record %lld)", (long long)rowid);
  char *text = sloop_fts_text(sloop_schema_coll(&db->schema, coll), doc);
  cJSON_Delete(doc);
  if (!text) return SLOOP_NOMEM;
  int rc = sloop_fts_index(db, rowid, 0, text, (int)strlen(text));
  free(text);
  return rc;
}

int sloop_fts_catch_up(sloop_db *db, int limit, int *more) {
  *more = 0;
  int64_t after;
  int rc = frontier(db, &after);
  if (rc || after < 0) return rc;
  sqlite3_stmt *st;
  if ((rc = sloop_prepare(db, "SELECT r, coll, doc FROM records WHERE r > ?1 ORDER BY r LIMIT ?2", &st))) return rc;
  sqlite3_bind_int64(st, 1, after);
  sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
  int src, n = 0;
  while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
    after = sqlite3_column_int64(st, 0);
    n++;
    /* A tombstone (no document) has nothing to index. */
    if (sqlite3_column_type(st, 2) != SQLITE_NULL)
      rc = index_doc(db, after, (const char *)sqlite3_column_text(st, 1), (const char *)sqlite3_column_text(st, 2));
  }
  if (!rc && src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "read the records the search index is behind");
  sloop_finalize(db, st);
  if (rc) return rc;
  *more = limit > 0 && n == limit;
  rc = *more ? sloop_meta_set_int(db, kFrontier, after) : sloop_exec(db, "DELETE FROM meta WHERE k = 'fts_after'");
  if (!rc) db->fts_after = *more ? after : -1;
  return rc;
}

int sloop_search_catch_up(sloop_db *db, int limit, int *more) {
  *more = 0;
  if (db->role != SLOOP_ROLE_CLIENT) return sloop_fail(db, SLOOP_INVALID, "full-text search lives on clients");
  /* Nothing behind (every sync cycle's call but those after a large pull): no savepoint. */
  int behind = 0;
  int rc = sloop_fts_behind(db, INT64_MAX, &behind);
  if (rc || !behind) return rc;
  int outer = sloop_json_pool_enter(); /* the documents' trees, parsed and dropped one by one */
  rc = sloop_begin(db, "search_catch_up");
  if (!rc) rc = sloop_fts_catch_up(db, limit, more);
  rc = sloop_end(db, "search_catch_up", rc);
  sloop_json_pool_leave(outer);
  if (rc) *more = 0;
  return rc;
}
