/*
** fts.c -- the full-text index's updates: queued by each write, applied once per transaction,
** and for small transactions deferred until enough of them have gathered; and its merge settings.
**
** FTS5 writes its pending terms out as a new segment (and merges segments) whenever SQLite
** opens or releases a savepoint while the index is part of the transaction. Every write runs
** inside its own savepoint, so updating the index write by write made FTS5 flush several
** times per record. Instead a write queues its index update, and the queue is applied, with
** no savepoint between the entries, just before the transaction commits (sloop_end of an
** outermost savepoint, sloop_tx_end).
**
** Even once per transaction, that segment costs more than the rest of a one-record write
** (docs/profiles/put.txt: about 40% of a single put's instructions, against 9% for the same
** records written a thousand to a transaction). So a transaction with few updates stores them
** in the fts_pending table instead (rowid, whether the index may hold an older entry for it,
** the text), in the same commit as the records; once FTS_DEFER_MAX have gathered, or a
** transaction brings that many, or a search is about to run, the pending ones and the queue
** go into the index together. The pending table is part of the database, so nothing is lost
** at a crash, and a search always sees every committed write: it applies what is pending
** first (a commit of its own when no transaction is open).
**
** Atomicity is kept by the queue itself: a savepoint that rolls back drops the entries queued
** inside it, and a failure while applying fails the commit.
*/
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Index updates that may wait in fts_pending: the segment FTS5 writes for them then costs a
** sixty-fourth of a record each, and a search applies at most this many before it runs. */
#define FTS_DEFER_MAX 64

/* Appends the string values of `v` (recursively) to the buffer, space separated. */
static int append_text(const cJSON *v, char **buf, size_t *len, size_t *cap) {
  if (cJSON_IsString(v)) {
    size_t n = strlen(v->valuestring);
    if (*len + n + 2 > *cap) {
      size_t ncap = (*cap + n + 2) * 2;
      char *nb = realloc(*buf, ncap);
      if (!nb) return SLOOP_NOMEM;
      *buf = nb;
      *cap = ncap;
    }
    if (*len) (*buf)[(*len)++] = ' ';
    memcpy(*buf + *len, v->valuestring, n);
    *len += n;
    (*buf)[*len] = 0;
    return SLOOP_OK;
  }
  const cJSON *c;
  cJSON_ArrayForEach(c, v) {
    int rc = append_text(c, buf, len, cap);
    if (rc) return rc;
  }
  return SLOOP_OK;
}

char *sloop_fts_text(const sloop_coll_schema *cs, const cJSON *doc) {
  size_t len = 0, cap = 64;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  buf[0] = 0;
  int rc = SLOOP_OK;
  if (cs && cs->search) {
    const cJSON *f;
    cJSON_ArrayForEach(f, cs->search) {
      rc = append_text(sloop_member(doc, f->valuestring), &buf, &len, &cap);
      if (rc) break;
    }
  } else {
    rc = append_text(doc, &buf, &len, &cap);
  }
  if (rc) {
    free(buf);
    return NULL;
  }
  return buf;
}

int sloop_fts_queue(sloop_db *db, int64_t rowid, int replace, const char *text) {
  int behind = 0;
  int rc = sloop_fts_behind(db, rowid, &behind);
  if (rc || behind) return rc; /* no entry yet, and the catch-up reads the row as it will be */
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

void sloop_fts_stale(sloop_db *db) {
  db->fts_pending = -1;
  db->fts_after = SLOOP_FTS_AFTER_UNKNOWN;
}

/* How many updates wait in fts_pending, at most: the count is kept as rows are added (an
** update of a row already there counts again) and read from the table when unknown (at open,
** after a rollback or raw SQL). */
static int pending_count(sloop_db *db, int64_t *n) {
  if (db->fts_pending >= 0) {
    *n = db->fts_pending;
    return SLOOP_OK;
  }
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT count(*) FROM fts_pending", &st);
  if (rc) return rc;
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) db->fts_pending = *n = sqlite3_column_int64(st, 0);
  else rc = sloop_sql_fail(db, src, "read the pending search updates");
  sloop_finalize(db, st);
  return rc;
}

int sloop_fts_index(sloop_db *db, int64_t rowid, int replace, const char *text, int text_len) {
  sqlite3_stmt *st;
  int rc = SLOOP_OK;
  if (replace && !(rc = sloop_prepare(db, "DELETE FROM records_fts WHERE rowid = ?1", &st))) {
    sqlite3_bind_int64(st, 1, rowid);
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "update the search index");
    sloop_finalize(db, st);
  }
  if (!rc && text && text_len > 0 && !(rc = sloop_prepare(db, "INSERT INTO records_fts(rowid, text) VALUES(?1, ?2)", &st))) {
    sqlite3_bind_int64(st, 1, rowid);
    sqlite3_bind_text(st, 2, text, text_len, SQLITE_STATIC);
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "update the search index");
    sloop_finalize(db, st);
  }
  return rc;
}

/* Applies every pending update, oldest rowid first (they are distinct rows, so the order is
** free), and empties the table. */
static int apply_pending(sloop_db *db) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT rid, indexed, text FROM fts_pending ORDER BY rid", &st);
  if (rc) return rc;
  int src;
  while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW)
    rc = sloop_fts_index(db, sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1), (const char *)sqlite3_column_text(st, 2),
                   sqlite3_column_bytes(st, 2));
  if (!rc && src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "read the pending search updates");
  sloop_finalize(db, st);
  if (!rc) rc = sloop_exec(db, "DELETE FROM fts_pending");
  if (!rc) db->fts_pending = 0;
  return rc;
}

/* Moves the queue into fts_pending. A row already pending keeps "indexed" if either says so
** (its older entry may be in the index) and takes the newer text. */
static int defer_queue(sloop_db *db) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db,
                         "INSERT INTO fts_pending(rid, indexed, text) VALUES(?1, ?2, ?3) ON CONFLICT(rid) DO UPDATE"
                         " SET indexed = indexed OR excluded.indexed, text = excluded.text",
                         &st);
  for (size_t i = 0; !rc && i < db->nfts; i++) {
    const sloop_fts_entry *e = &db->fts[i];
    sqlite3_bind_int64(st, 1, e->rowid);
    sqlite3_bind_int(st, 2, e->replace);
    if (e->text) sqlite3_bind_text(st, 3, e->text, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, 3);
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "queue a search index update");
    sqlite3_reset(st);
  }
  sloop_finalize(db, st);
  if (!rc) {
    db->fts_pending += (int64_t)db->nfts;
    sloop_fts_discard(db, 0);
  }
  return rc;
}

int sloop_fts_apply(sloop_db *db, int all) {
  int64_t pending = 0;
  int rc = db->nfts || all ? pending_count(db, &pending) : SLOOP_OK;
  if (rc || (!db->nfts && !pending)) return rc;
  if (!all && pending + (int64_t)db->nfts < FTS_DEFER_MAX) return defer_queue(db);
  if (pending) rc = apply_pending(db);
  size_t i = 0;
  for (; i < db->nfts && !rc; i++) {
    const sloop_fts_entry *e = &db->fts[i];
    rc = sloop_fts_index(db, e->rowid, e->replace, e->text, e->text ? (int)strlen(e->text) : 0);
  }
  if (rc && i > 0) {
    /* The entry that failed stays queued, as a replacement: applying it again (at the commit,
    ** or the next search) first deletes whatever part of it reached the index. */
    i--;
    db->fts[i].replace = 1;
  }
  for (size_t k = 0; k < i; k++) free(db->fts[k].text);
  if (i) memmove(db->fts, db->fts + i, (db->nfts - i) * sizeof(*db->fts));
  db->nfts -= i;
  return rc;
}

/* FTS5 writes each transaction's terms as a new segment and merges a level's segments into
** one of the next level once `automerge` of them have gathered (4 by default), so every entry
** is rewritten once per level: about log4(records / records per commit) times. An initial
** sync of 100,000 records (pages of 1,000) spent a quarter of its instructions merging, the
** last pages half. Merging at 16 rewrites each entry half as often (-13% instructions for
** the whole sync, natively); a search then reads up to 15 segments a level instead of 3, a
** few microseconds more per term. `crisismerge` (16 by default: merge a level at once, in the
** write that fills it) goes above it, or the merges would all be the blocking kind.
** docs/DESIGN.md, "Engine speed, part 1: the search index's merges". */
#define FTS_AUTOMERGE "16"
#define FTS_CRISISMERGE "64"

int sloop_fts_tune(sloop_db *db) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db,
                         "SELECT count(*) FROM records_fts_config WHERE (k = 'automerge' AND v = " FTS_AUTOMERGE
                         ") OR (k = 'crisismerge' AND v = " FTS_CRISISMERGE ")",
                         &st);
  if (rc) return rc;
  int src = sqlite3_step(st);
  int tuned = src == SQLITE_ROW && sqlite3_column_int(st, 0) == 2;
  if (src != SQLITE_ROW) rc = sloop_sql_fail(db, src, "read the search index's settings");
  sloop_finalize(db, st);
  /* Stored in the index's own config table: set once, by the first open of this code. */
  if (!rc && !tuned)
    rc = sloop_exec(db, "INSERT INTO records_fts(records_fts, rank) VALUES('automerge', " FTS_AUTOMERGE ");"
                        "INSERT INTO records_fts(records_fts, rank) VALUES('crisismerge', " FTS_CRISISMERGE ");");
  return rc;
}

int sloop_fts_has_pending(sloop_db *db, int *has) {
  int64_t n = 0;
  int rc = pending_count(db, &n);
  *has = !rc && n > 0;
  return rc;
}
