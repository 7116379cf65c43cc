/*
** rebase.c -- a client record's local view and sync state: the canonical state (the server's,
** kept in `base`) with the record's pending and in-flight operations re-applied in log order
** by the same merge code the server runs, and the per-record sync state machine. Once the
** server has applied those operations, the canonical state it sends back equals the local
** view, and nothing flickers.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "client_sync.h"

#define SLOOP_STATE_NAME_(name, value, text) [value] = text,
static const char *const kStateNames[] = {SLOOP_STATES(SLOOP_STATE_NAME_)};
#undef SLOOP_STATE_NAME_

const char *sloop_state_name(int state) {
  return state >= 0 && state <= SLOOP_MODIFIED ? kStateNames[state] : "unknown";
}

/* The machine of the pattern, plus failed -> synced for an explicit discard. */
int sloop_transition_allowed(int from, int to) {
  if (from == to) return 1;
  switch (from) {
    case SLOOP_LOCAL_ONLY: return to == SLOOP_SYNCING;
    case SLOOP_SYNCING: return to == SLOOP_SYNCED || to == SLOOP_FAILED;
    case SLOOP_FAILED: return to == SLOOP_SYNCING || to == SLOOP_SYNCED;
    case SLOOP_SYNCED: return to == SLOOP_MODIFIED;
    case SLOOP_MODIFIED: return to == SLOOP_SYNCING;
  }
  return 0;
}

/* Moves row->sync to `to`, refusing edges the machine does not have. */
int sloop_transition(sloop_db *db, const char *coll, const char *rid, sloop_row *row, int to) {
  if (!sloop_transition_allowed(row->sync, to))
    return sloop_fail(db, SLOOP_TRANSITION, "record %s/%s: %s -> %s is not a sync state transition",
                      coll, rid, sloop_state_name(row->sync), sloop_state_name(to));
  row->sync = to;
  return SLOOP_OK;
}

/* ---------------------------------------------------------------- oplog rows --------- */

/* Builds the protocol's operation object from an oplog row selected with SLOOP_OP_COLUMNS. */
cJSON * sloop_op_from_row(sqlite3_stmt *st, int with_status) {
  cJSON *op = cJSON_CreateObject();
  if (!op) return NULL;
  const char *keys[] = {"id", "type", "coll", "rid", "hlc"};
  for (int i = 0; i < 5; i++) cJSON_AddStringToObject(op, keys[i], (const char *)sqlite3_column_text(st, i));
  cJSON_AddNumberToObject(op, "base", (double)sqlite3_column_int64(st, 5));
  cJSON *payload = sloop_json_parse_text((const char *)sqlite3_column_text(st, 6));
  if (payload) cJSON_AddItemToObject(op, "payload", payload);
  if (with_status) {
    static const char *const statuses[] = {"pending", "syncing", "synced", "failed"};
    int s = sqlite3_column_int(st, 7);
    cJSON_AddStringToObject(op, "status", s >= 0 && s <= 3 ? statuses[s] : "unknown");
    cJSON_AddNumberToObject(op, "attempts", sqlite3_column_int(st, 8));
    if (sqlite3_column_type(st, 9) != SQLITE_NULL)
      cJSON_AddStringToObject(op, "lastError", (const char *)sqlite3_column_text(st, 9));
  }
  if (!payload || !sloop_member(op, "hlc")) {
    cJSON_Delete(op);
    return NULL;
  }
  return op;
}

/* Compaction: acknowledged operations leave the log once the record's canonical version
** includes them; until then rebase still needs them.
** The unary + keeps the planner off oplog_by_status: without it SQLite searched that index
** (status = 2), which after a push answer holds every operation the answer acknowledged, so
** each record of a push answer scanned them all and a batch cost its size squared. */
int sloop_compact_record(sloop_db *db, const char *coll, const char *rid, int64_t version) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "DELETE FROM oplog WHERE coll = ?1 AND rid = ?2 AND +status = ?4 AND acked_version <= ?3", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, version);
  sqlite3_bind_int(st, 4, SLOOP_OP_SYNCED);
  int src = sqlite3_step(st);
  sloop_finalize(db, st);
  return src == SQLITE_DONE ? SLOOP_OK : sloop_sql_fail(db, src, "compact log");
}

/* ---------------------------------------------------------------- rebase ------------- */

/* Applies one logged operation to `state` for the local view; a resolve writes its value. */
static int replay(sloop_db *db, const cJSON *op_json, cJSON *state) {
  sloop_op op;
  char msg[200];
  int rc = sloop_op_parse(&db->schema, op_json, &op, msg);
  if (rc) return SLOOP_OK; /* a schema change made it invalid: the server will say so */
  const sloop_coll_schema *cs = sloop_schema_coll(&db->schema, op.coll);
  /* Not scratch: a rejected operation is skipped, and the next ones apply to the state as it was. */
  const sloop_apply_ctx ctx = {0, db->merge_cb ? sloop_custom_merge : NULL, db, 0};
  cJSON *patch = NULL;
  if (op.type == SLOOP_OP_RESOLVE) {
    const cJSON *field = sloop_member(op.payload, "field");
    patch = cJSON_CreateObject();
    cJSON *fop = cJSON_IsString(field) && patch ? cJSON_AddObjectToObject(patch, field->valuestring) : NULL;
    if (!fop || !cJSON_AddItemToObject(fop, "set", cJSON_Duplicate(sloop_member(op.payload, "value"), 1))) {
      cJSON_Delete(patch);
      return SLOOP_OK;
    }
    op.type = SLOOP_OP_PATCH;
    op.payload = patch;
  }
  sloop_apply_result res;
  rc = sloop_apply(cs, state, &op, &ctx, &res);
  cJSON_Delete(res.conflicts);
  cJSON_Delete(patch);
  return rc;
}

/* Recomputes row->state as the canonical state plus the record's pending operations. */
int sloop_rebase(sloop_db *db, const char *coll, const char *rid, sloop_row *row) {
  cJSON *state = row->base ? cJSON_Duplicate(row->base, 1) : cJSON_CreateObject();
  if (!state) return SLOOP_NOMEM;
  sqlite3_stmt *st;
  char sql[200];
  /* Acknowledged operations still count until the canonical state includes them: an answer
  ** can arrive before (or without) the record it changed. */
  snprintf(sql, sizeof(sql),
           "SELECT %s FROM oplog WHERE coll = ?1 AND rid = ?2 AND"
           " (status IN (?4, ?5) OR (status = ?6 AND acked_version > ?3)) ORDER BY seq",
           SLOOP_OP_COLUMNS);
  int rc = sloop_prepare(db, sql, &st);
  if (rc) {
    cJSON_Delete(state);
    return rc;
  }
  sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, row->version);
  sqlite3_bind_int(st, 4, SLOOP_OP_PENDING);
  sqlite3_bind_int(st, 5, SLOOP_OP_SYNCING);
  sqlite3_bind_int(st, 6, SLOOP_OP_SYNCED);
  int src;
  while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
    cJSON *op = sloop_op_from_row(st, 0);
    rc = op ? replay(db, op, state) : SLOOP_CORRUPT;
    cJSON_Delete(op);
  }
  sloop_finalize(db, st);
  if (rc) {
    cJSON_Delete(state);
    return rc;
  }
  cJSON_Delete(row->state);
  row->state = state;
  return SLOOP_OK;
}

/* Moves a record's sync state on once some of its operations were answered. */
static int settle_state(sloop_db *db, const char *coll, const char *rid, sloop_row *row, int failed,
                        int open, int inflight) {
  int rc = SLOOP_OK;
  if (row->sync == SLOOP_SYNCING) {
    if (failed) return sloop_transition(db, coll, rid, row, SLOOP_FAILED);
    if (inflight) return SLOOP_OK;
    rc = sloop_transition(db, coll, rid, row, SLOOP_SYNCED);
    /* More writes arrived while the batch was in flight: synced, then modified again. */
    if (!rc && open) {
      sloop_note_change(db, coll, rid, SLOOP_SYNCED);
      rc = sloop_transition(db, coll, rid, row, SLOOP_MODIFIED);
    }
    return rc;
  }
  if (open) return SLOOP_OK; /* still queued: the next push moves it on */
  /* Its last operations were applied or rejected through a request this handle no longer
  ** counted in flight (a push that timed out, a delayed copy of an earlier batch) and the
  ** outcome came by a pull or a late answer. Nothing is left to send, so the state would
  ** never change again; a local write passes through syncing, the machine's only way on. */
  if (row->sync == SLOOP_LOCAL_ONLY || row->sync == SLOOP_MODIFIED) {
    rc = sloop_transition(db, coll, rid, row, SLOOP_SYNCING);
    if (!rc) sloop_note_change(db, coll, rid, SLOOP_SYNCING);
  }
  if (!rc) rc = sloop_transition(db, coll, rid, row, failed ? SLOOP_FAILED : SLOOP_SYNCED);
  return rc;
}

/* Settles a record whose canonical state is its state (version > 0, no base stored): the log
** holds none of its operations (the invariant of internal.h's sloop_row_load, which the pull's
** fast path relies on too), so compacting and rebasing change nothing and only its sync state
** can move. The general path decoded, rebased and wrote back the same state: two fifths of the
** instructions of a client taking a push answer. */
static int settle_canonical(sloop_db *db, const char *coll, const char *rid, int sync) {
  sloop_row row = {.exists = 1, .sync = sync};
  int rc = settle_state(db, coll, rid, &row, 0, 0, 0);
  if (!rc && row.sync != sync) {
    sqlite3_stmt *st;
    rc = sloop_prepare(db, "UPDATE records SET sync = ?3 WHERE coll = ?1 AND id = ?2", &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, row.sync);
    int src = sqlite3_step(st);
    sloop_finalize(db, st);
    if (src != SQLITE_DONE) return sloop_sql_fail(db, src, "settle record");
  }
  if (!rc) sloop_note_change(db, coll, rid, row.sync); /* as the general path's save does */
  return rc;
}

/* Rebases a record and settles its sync state after its operations were answered. */
int sloop_settle(sloop_db *db, const char *coll, const char *rid) {
  sloop_row_head head;
  int rc = sloop_row_head_load(db, coll, rid, &head);
  if (rc) return rc;
  if (head.exists && head.version > 0 && head.base_null) return settle_canonical(db, coll, rid, head.sync);
  sloop_row row;
  rc = sloop_row_load(db, coll, rid, &row);
  if (rc) return rc;
  sloop_op_counts ops;
  if (!row.exists) goto done;
  rc = sloop_compact_record(db, coll, rid, row.version);
  if (!rc) rc = sloop_op_counts_load(db, coll, rid, &ops);
  if (!rc) rc = sloop_rebase(db, coll, rid, &row);
  if (!rc)
    rc = settle_state(db, coll, rid, &row, ops.by[SLOOP_OP_FAILED], sloop_ops_open(&ops), ops.by[SLOOP_OP_SYNCING]);
  if (rc) goto done;
  if (!row.base && !sloop_ops_any(&ops)) rc = sloop_row_delete(db, coll, rid); /* never reached the server */
  else rc = sloop_row_save(db, coll, rid, &row);
done:
  sloop_row_clear(&row);
  return rc;
}

int sloop_forget_canonical(sloop_db *db, const char *coll, const char *rid) {
  sloop_row row;
  int rc = sloop_row_load(db, coll, rid, &row);
  sloop_op_counts ops = {{0}};
  if (!rc && row.exists) rc = sloop_op_counts_load(db, coll, rid, &ops);
  int open = sloop_ops_open(&ops), failed = ops.by[SLOOP_OP_FAILED];
  if (rc || !row.exists) goto done;
  if (!open && !failed) {
    /* A conflict still to be decided keeps the row as it is, canonical state and all: the
    ** decision is made on it. A sweep lets it go once the conflict is resolved. */
    int conflict = 0;
    rc = sloop_open_conflict(db, coll, rid, &conflict);
    if (!rc && !conflict) rc = sloop_row_delete(db, coll, rid);
    goto done;
  }
  /* Acknowledged operations counted only until a canonical state covered them; with no
  ** canonical state left there is nothing for them to be covered by. */
  rc = sloop_compact_record(db, coll, rid, INT64_MAX);
  cJSON_Delete(row.base);
  row.base = NULL;
  row.version = 0;
  if (!rc) rc = sloop_rebase(db, coll, rid, &row);
  if (!rc) rc = sloop_row_save(db, coll, rid, &row);
done:
  sloop_row_clear(&row);
  return rc;
}
