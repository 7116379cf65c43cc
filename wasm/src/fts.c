/*
** fts.c -- the full-text index's updates, queued by each write and applied once per
** transaction.
**
** FTS5 writes its pending terms out as a new segment (and merges segments) whenever SQLite
** opens or releases a savepoint while the index is part of the transaction. Every write runs
** inside its own savepoint, so updating the index write by write made FTS5 flush several
** times per record, even when a thousand writes shared one transaction. Instead a write
** queues its index update; the queue is applied, with no savepoint between the entries, just
** before the transaction commits (sloop_end of an outermost savepoint, sloop_tx_end), so
** FTS5 flushes once. Atomicity is kept by the queue itself: a savepoint that rolls back drops
** the entries queued inside it, and a failure while applying fails the commit.
*/
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int sloop_fts_queue(sloop_db *db, int64_t rowid, int replace, const char *text) {
  sloop_fts_entry *grown = sloop_grow(db->fts, &db->capfts, db->nfts + 1, sizeof(*grown), 16);
  if (!grown) return SLOOP_NOMEM;
  db->fts = grown;
  char *copy = NULL;
  if (text && text[0] && !(copy = sloop_strndup(text, strlen(text)))) return SLOOP_NOMEM;
  db->fts[db->nfts++] = (sloop_fts_entry){rowid, replace, copy};
  return SLOOP_OK;
}

void sloop_fts_discard(sloop_db *db, size_t keep) {
  while (db->nfts > keep) free(db->fts[--db->nfts].text);
}

static int run(sloop_db *db, const char *sql, int64_t rowid, const char *text) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, sql, &st);
  if (rc) return rc;
  sqlite3_bind_int64(st, 1, rowid);
  if (text) sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
  int src = sqlite3_step(st);
  if (src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "update the search index");
  sloop_finalize(db, st);
  return rc;
}

int sloop_fts_apply(sloop_db *db) {
  if (!db->nfts) return SLOOP_OK;
  size_t i = 0;
  int rc = SLOOP_OK;
  for (; i < db->nfts && !rc; i++) {
    const sloop_fts_entry *e = &db->fts[i];
    if (e->replace) rc = run(db, "DELETE FROM records_fts WHERE rowid = ?1", e->rowid, NULL);
    if (!rc && e->text) rc = run(db, "INSERT INTO records_fts(rowid, text) VALUES(?1, ?2)", e->rowid, e->text);
  }
  if (rc) {
    /* The entry that failed stays queued, as a replacement: applying it again (at the commit,
    ** or the next search) first deletes whatever part of it reached the index. */
    i--;
    db->fts[i].replace = 1;
  }
  for (size_t k = 0; k < i; k++) free(db->fts[k].text);
  memmove(db->fts, db->fts + i, (db->nfts - i) * sizeof(*db->fts));
  db->nfts -= i;
  return rc;
}
