/*
** store.c -- rows of the records table, and the helpers every write path shares (the wall
** clock and random ids, change notifications, the FTS text of a document). The meta table and
** the persisted clock are meta.c; savepoints are savepoint.c.
**
** A record row keeps its merge state (JSON) and, derived from it, the visible document that
** queries and full-text search read. The FTS row shares the record's rowid, so replacing a
** record's text deletes exactly one FTS row; the FTS update is queued (fts.c) and applied
** when the transaction commits.
*/
/* clock_gettime is POSIX, not C11. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

int64_t sloop_now_ms(sloop_db *db) {
  if (db->env.now_ms) return db->env.now_ms(db->env.ctx);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t sloop_random64(sloop_db *db) {
  if (db->env.random64) return db->env.random64(db->env.ctx);
  /* xorshift64*: not for secrets, only for ids that must not collide across devices; its
  ** seed is the platform's randomness (see sloop_open in db.c). */
  uint64_t x = db->rng_state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  db->rng_state = x;
  return x * 0x2545f4914f6cdd1dull;
}

/* ---------------------------------------------------------------- rows --------------- */

void sloop_row_clear(sloop_row *row) {
  cJSON_Delete(row->state);
  cJSON_Delete(row->base);
  free(row->doc);
  memset(row, 0, sizeof(*row));
}

int sloop_row_load(sloop_db *db, const char *coll, const char *id, sloop_row *row) {
  memset(row, 0, sizeof(*row));
  sqlite3_stmt *st;
  int rc = sloop_prepare(db,
                         db->role == SLOOP_ROLE_CLIENT
                             ? "SELECT state, doc, base, version, sync, rowid FROM records WHERE coll = ?1 AND id = ?2"
                             : "SELECT state, doc, NULL, version, 2, rowid FROM records WHERE coll = ?1 AND id = ?2",
                         &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    row->exists = 1;
    rc = sloop_state_read(db, sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0),
                          (const char *)sqlite3_column_text(st, 1), NULL, &row->state);
    if (!rc && sqlite3_column_type(st, 2) != SQLITE_NULL)
      rc = sloop_state_read(db, sqlite3_column_blob(st, 2), sqlite3_column_bytes(st, 2), NULL, NULL, &row->base);
    row->version = sqlite3_column_int64(st, 3);
    row->sync = sqlite3_column_int(st, 4);
    row->rowid = sqlite3_column_int64(st, 5);
    const char *doc = (const char *)sqlite3_column_text(st, 1);
    if (!rc && doc && db->role == SLOOP_ROLE_CLIENT && !(row->doc = sloop_strndup(doc, sqlite3_column_bytes(st, 1))))
      rc = SLOOP_NOMEM;
    /* No stored base on a record the server has: the canonical state is the state. */
    if (!rc && !row->base && row->version > 0 && db->role == SLOOP_ROLE_CLIENT &&
        !(row->base = cJSON_Duplicate(row->state, 1)))
      rc = SLOOP_NOMEM;
    if (rc == SLOOP_CORRUPT) {
      char why[sizeof(db->errmsg)];
      memcpy(why, db->errmsg, sizeof(why));
      rc = sloop_fail(db, rc, "record %s/%s: %s", coll, id, why);
    }
  } else if (src == SQLITE_DONE) {
    row->state = cJSON_CreateObject();
    row->sync = SLOOP_SYNCED;
    if (!row->state) rc = SLOOP_NOMEM;
  } else {
    rc = sloop_sql_fail(db, src, "load record");
  }
  sloop_finalize(db, st);
  if (rc) sloop_row_clear(row);
  return rc;
}

int sloop_row_head_load(sloop_db *db, const char *coll, const char *id, sloop_row_head *head) {
  memset(head, 0, sizeof(*head));
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT version, base IS NULL, sync, rowid FROM records WHERE coll = ?1 AND id = ?2", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    head->exists = 1;
    head->version = sqlite3_column_int64(st, 0);
    head->base_null = sqlite3_column_int(st, 1);
    head->sync = sqlite3_column_int(st, 2);
    head->rowid = sqlite3_column_int64(st, 3);
  } else if (src != SQLITE_DONE) {
    rc = sloop_sql_fail(db, src, "load record");
  }
  sloop_finalize(db, st);
  return rc;
}

int64_t sloop_oplog_seq(const sloop_db *db, const char *id) { return sloop_op_id_seq(db->device, id); }

int64_t sloop_op_id_seq(const char *device, const char *id) {
  size_t n = strlen(device);
  if (!id || strncmp(id, device, n) != 0 || id[n] != ':') return 0;
  const char *p = id + n + 1;
  /* Exactly as written ("%lld" of a positive number): "<device>:007" is not operation 7. */
  if (*p < '1' || *p > '9') return 0;
  int64_t seq = 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (seq > (INT64_MAX - 9) / 10) return 0;
    seq = seq * 10 + (*p - '0');
  }
  return *p ? 0 : seq;
}

int sloop_op_counts_load(sloop_db *db, const char *coll, const char *rid, sloop_op_counts *n) {
  sqlite3_stmt *st;
  memset(n, 0, sizeof(*n));
  /* Sums rather than GROUP BY status, which could lead the planner to oplog_by_status. */
  int rc = sloop_prepare(db,
                         "SELECT total(status = ?3), total(status = ?4), total(status = ?5), total(status = ?6)"
                         " FROM oplog WHERE coll = ?1 AND rid = ?2",
                         &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
  for (int s = SLOOP_OP_PENDING; s <= SLOOP_OP_FAILED; s++) sqlite3_bind_int(st, 3 + s, s);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    for (int s = SLOOP_OP_PENDING; s <= SLOOP_OP_FAILED; s++) n->by[s] = sqlite3_column_int(st, s);
  else rc = sloop_sql_fail(db, src, "count operations");
  sloop_finalize(db, st);
  return rc;
}

/* A conflict the server has not closed ("open", or "resolving" while this device's resolve is
** on its way: db.c's triggers): the user's decision is still to come, on this record. */
static const char kOpenConflictSql[] =
    "SELECT EXISTS (SELECT 1 FROM conflicts WHERE coll = ?1 AND rid = ?2 AND status != '" SLOOP_CONFLICT_RESOLVED "')";

int sloop_open_conflict(sloop_db *db, const char *coll, const char *rid, int *open) {
  sqlite3_stmt *st;
  *open = 0;
  int rc = sloop_prepare(db, kOpenConflictSql, &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
  int src = sqlite3_step(st);
  /* Anything but an answer is an error: read as "no conflict", it would let the record go. */
  if (src == SQLITE_ROW) *open = sqlite3_column_int(st, 0);
  else rc = sloop_sql_fail(db, src, "look for open conflicts");
  sloop_finalize(db, st);
  return rc;
}

int sloop_has_local_work(sloop_db *db, const char *coll, const char *rid, int *work) {
  sloop_op_counts ops;
  int rc = sloop_op_counts_load(db, coll, rid, &ops);
  *work = !rc && sloop_ops_any(&ops);
  if (rc || *work) return rc;
  return sloop_open_conflict(db, coll, rid, work);
}

void sloop_queue_change(sloop_db *db, cJSON *entry) {
  if (!db->changes && !(db->changes = cJSON_CreateArray())) {
    cJSON_Delete(entry);
    return;
  }
  /* Bounded: a UI that never drains the list should not grow the heap without end. */
  if (db->nchanges >= 10000) {
    cJSON_DeleteItemFromArray(db->changes, 0);
    db->nchanges--;
  }
  cJSON_AddItemToArray(db->changes, entry);
  db->nchanges++;
}

void sloop_note_change(sloop_db *db, const char *coll, const char *id, int sync) {
  if (db->role != SLOOP_ROLE_CLIENT) return; /* nobody watches a server's records this way */
  cJSON *c = cJSON_CreateObject();
  if (!c) return;
  cJSON_AddStringToObject(c, "coll", coll);
  cJSON_AddStringToObject(c, "id", id);
  cJSON_AddNumberToObject(c, "state", sync);
  sloop_queue_change(db, c);
}

static int exec_bound(sloop_db *db, const char *sql, const char *coll, const char *id,
                      const char *text) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, sql, &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
  if (text) sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
  int src = sqlite3_step(st);
  if (src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "write record");
  sloop_finalize(db, st);
  return rc;
}

/* The rowid of a record, which its FTS row shares; 0 when there is none. */
static int record_rowid(sloop_db *db, const char *coll, const char *id, int64_t *rowid) {
  sloop_row_head head;
  int rc = sloop_row_head_load(db, coll, id, &head);
  *rowid = head.rowid;
  return rc;
}

int sloop_row_save(sloop_db *db, const char *coll, const char *id, const sloop_row *row) {
  const sloop_coll_schema *cs = sloop_schema_coll(&db->schema, coll);
  cJSON *doc = cs ? sloop_materialize(cs, row->state) : NULL;
  char *doc_text = doc ? sloop_print(doc, NULL) : NULL;
  uint8_t *state_blob = NULL, *base_blob = NULL;
  size_t state_len = 0, base_len = 0;
  /* The server answers sync, not search: it keeps no full-text index, no base, no sync state. */
  int client = db->role == SLOOP_ROLE_CLIENT;
  /* The searched text follows from the document: an unchanged document (an acknowledgement,
  ** a settle, a pulled copy of what this device wrote) needs no update of the index. */
  int same_doc = client && doc_text && row->exists && row->doc && strcmp(row->doc, doc_text) == 0;
  int rc = SLOOP_OK;
  if (doc && !doc_text) {
    rc = SLOOP_NOMEM;
    goto done;
  }
  /* The base is kept only while it can differ from the state: the record's operations in the
  ** log are what make them differ, now or after a rebase. */
  int keep_base = client && row->base;
  if (keep_base && row->version > 0 && sloop_json_equal(row->base, row->state)) {
    sloop_op_counts ops;
    rc = sloop_op_counts_load(db, coll, id, &ops);
    keep_base = rc || sloop_ops_any(&ops) > 0;
  }
  if (!rc) rc = sloop_state_write(db, row->state, doc, &state_blob, &state_len);
  if (!rc && keep_base) rc = sloop_state_write(db, row->base, NULL, &base_blob, &base_len);
  if (!rc) {
    sloop_row_bytes bytes = {doc_text, doc, same_doc, state_blob, state_len, base_blob, base_len,
                             row->version, row->sync, row->exists, row->rowid};
    rc = sloop_row_write(db, coll, id, &bytes);
  }
done:
  cJSON_Delete(doc);
  free(doc_text);
  free(state_blob);
  free(base_blob);
  return rc;
}

/* A server's write of a record it loaded: an update by rowid, which leaves the (coll, id) key
** alone where the upsert below searched it twice (3,400 instructions of a server's apply).
** *done is 0 if no row has that rowid any more: then the upsert writes it. */
static int server_row_update(sloop_db *db, const sloop_row_bytes *row, int *done) {
  sqlite3_stmt *st;
  *done = 0;
  int rc = sloop_prepare(db, "UPDATE records SET doc = ?2, state = ?3, version = ?4 WHERE rowid = ?1", &st);
  if (rc) return rc;
  sqlite3_bind_int64(st, 1, row->rowid);
  if (row->doc_text) sqlite3_bind_text(st, 2, row->doc_text, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 3, row->state, (int)row->state_len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, row->version);
  int src = sqlite3_step(st);
  *done = src == SQLITE_DONE && sqlite3_changes(db->sql) == 1;
  sloop_finalize(db, st);
  return src == SQLITE_DONE ? SLOOP_OK : sloop_sql_fail(db, src, "write record");
}

/* sloop_row_write, or with `inserted` (a client's) sloop_row_insert_new. */
static int row_write(sloop_db *db, const char *coll, const char *id, const sloop_row_bytes *row, int *inserted) {
  int client = db->role == SLOOP_ROLE_CLIENT;
  sqlite3_stmt *st = NULL;
  if (!client && row->exists && row->rowid) {
    int done, rc = server_row_update(db, row, &done);
    if (rc || done) return rc;
  }
  int rc = sloop_prepare(db,
                         inserted ? "INSERT INTO records(coll, id, doc, state, version, base, sync)"
                                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(coll, id) DO NOTHING"
                         : client ? "INSERT INTO records(coll, id, doc, state, version, base, sync)"
                                    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(coll, id) DO UPDATE SET"
                                    " doc = excluded.doc, state = excluded.state, version = excluded.version,"
                                    " base = excluded.base, sync = excluded.sync"
                                  : "INSERT INTO records(coll, id, doc, state, version)"
                                    " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(coll, id) DO UPDATE SET"
                                    " doc = excluded.doc, state = excluded.state, version = excluded.version",
                         &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
  if (row->doc_text) sqlite3_bind_text(st, 3, row->doc_text, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, row->state, (int)row->state_len, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, row->version);
  if (client) {
    if (row->base) sqlite3_bind_blob(st, 6, row->base, (int)row->base_len, SQLITE_STATIC);
    sqlite3_bind_int(st, 7, row->sync);
  }
  /* Only the insert branch of the upsert sets the last insert rowid: a new record has no FTS
  ** row to replace, an updated one keeps its rowid. */
  if (client) sqlite3_set_last_insert_rowid(db->sql, 0);
  int src = sqlite3_step(st);
  sloop_finalize(db, st);
  if (src != SQLITE_DONE) return sloop_sql_fail(db, src, "write record");
  if (inserted && !(*inserted = sqlite3_changes(db->sql) > 0)) return SLOOP_OK; /* a row had that key */
  int64_t rowid = client ? sqlite3_last_insert_rowid(db->sql) : 0;
  /* A row inserted has no index entry yet, whatever document the caller loaded before. */
  if (client && (rowid || !row->same_doc)) {
    char *fts = NULL;
    int replace = rowid == 0, behind = 0;
    if (replace && row->exists && row->rowid) rowid = row->rowid;
    else if (replace) rc = record_rowid(db, coll, id, &rowid);
    /* A row above the index's frontier is indexed later, from what it holds then (fts_behind.c). */
    if (!rc) rc = sloop_fts_behind(db, rowid, &behind);
    if (!rc && !behind && row->doc && !(fts = sloop_fts_text(sloop_schema_coll(&db->schema, coll), row->doc))) rc = SLOOP_NOMEM;
    if (!rc && !behind) rc = sloop_fts_queue(db, rowid, replace, fts);
    free(fts);
  }
  if (!rc) sloop_note_change(db, coll, id, row->sync);
  return rc;
}

int sloop_row_write(sloop_db *db, const char *coll, const char *id, const sloop_row_bytes *row) {
  return row_write(db, coll, id, row, NULL);
}

int sloop_row_insert_new(sloop_db *db, const char *coll, const char *id, const sloop_row_bytes *row, int *inserted) {
  *inserted = 0;
  if (db->role != SLOOP_ROLE_CLIENT) return sloop_fail(db, SLOOP_INVALID, "insert_new is a client's");
  return row_write(db, coll, id, row, inserted);
}

int sloop_row_delete(sloop_db *db, const char *coll, const char *id) {
  int64_t rowid = 0;
  int rc = db->role == SLOOP_ROLE_CLIENT ? record_rowid(db, coll, id, &rowid) : SLOOP_OK;
  if (!rc && rowid) rc = sloop_fts_queue(db, rowid, 1, NULL);
  if (!rc) rc = exec_bound(db, "DELETE FROM records WHERE coll = ?1 AND id = ?2", coll, id, NULL);
  if (!rc) sloop_note_change(db, coll, id, -1);
  return rc;
}

/* ---------------------------------------------------------------- stored states ------ */

int sloop_state_read(sloop_db *db, const void *blob, int len, const char *doc_text, const cJSON *doc,
                     cJSON **state) {
  *state = NULL;
  cJSON *parsed = NULL;
  if (!doc && doc_text && !(doc = parsed = sloop_json_parse_text(doc_text)))
    return sloop_fail(db, SLOOP_CORRUPT, "a record's document is not JSON");
  sloop_nodes nodes = sloop_db_nodes(db);
  char msg[200] = "";
  int rc = sloop_state_decode(blob, len > 0 ? (size_t)len : 0, doc, &nodes, state, msg);
  cJSON_Delete(parsed);
  if (rc == SLOOP_CORRUPT && msg[0]) return sloop_fail(db, rc, "%s", msg);
  return rc;
}

int sloop_state_write(sloop_db *db, const cJSON *state, const cJSON *doc, uint8_t **blob, size_t *len) {
  sloop_nodes nodes = sloop_db_nodes(db);
  char msg[200] = "";
  int rc = sloop_state_encode(state, doc, &nodes, blob, len, msg);
  if (rc == SLOOP_INVALID && msg[0]) return sloop_fail(db, rc, "%s", msg);
  return rc;
}

/* ---------------------------------------------------------------- custom merge ------- */

int sloop_custom_merge(void *ctx, const char *coll, const char *field, const cJSON *current,
                       const cJSON *incoming, cJSON **out) {
  sloop_db *db = ctx;
  *out = NULL;
  char *cur = current ? sloop_print(current, NULL) : NULL;
  char *inc = incoming ? sloop_print(incoming, NULL) : NULL;
  char *merged = NULL;
  int rc = SLOOP_NOMEM;
  if ((current && !cur) || (incoming && !inc)) goto done;
  rc = db->merge_cb(db->merge_ctx, coll, field, cur, inc, &merged);
  if (rc) {
    rc = SLOOP_MERGE;
    goto done;
  }
  if (merged) {
    *out = sloop_json_parse_text(merged);
    if (!*out) rc = SLOOP_MERGE;
  }
done:
  free(cur);
  free(inc);
  free(merged);
  return rc;
}
