/*
** sync.c -- the client side of the protocol: building push and pull requests, applying their
** answers, rebasing pending writes on canonical state, and the per-record sync state machine.
**
** The local view of a record is always its canonical state (the server's, kept in `base`)
** with the record's pending and in-flight operations re-applied in log order by the same merge
** code the server runs. So once the server has applied those operations, the canonical state
** it sends back equals the local view, and nothing flickers.
**
** An acknowledged operation leaves the log at once: its effect is in the canonical state the
** same answer carries, so it is no longer needed for rebase. A rejected one stays, as failed,
** until the user retries or discards it.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

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
static int transition(sloop_db *db, const char *coll, const char *rid, sloop_row *row, int to) {
  if (!sloop_transition_allowed(row->sync, to))
    return sloop_fail(db, SLOOP_TRANSITION, "record %s/%s: %s -> %s is not a sync state transition",
                      coll, rid, sloop_state_name(row->sync), sloop_state_name(to));
  row->sync = to;
  return SLOOP_OK;
}

/* ---------------------------------------------------------------- oplog rows --------- */

static const char kOpColumns[] = "id, type, coll, rid, hlc, base, payload, status, attempts, last_error";

/* Builds the protocol's operation object from an oplog row selected with kOpColumns. */
static cJSON *op_from_row(sqlite3_stmt *st, int with_status) {
  cJSON *op = cJSON_CreateObject();
  if (!op) return NULL;
  const char *keys[] = {"id", "type", "coll", "rid", "hlc"};
  for (int i = 0; i < 5; i++) cJSON_AddStringToObject(op, keys[i], (const char *)sqlite3_column_text(st, i));
  cJSON_AddNumberToObject(op, "base", (double)sqlite3_column_int64(st, 5));
  cJSON *payload = cJSON_Parse((const char *)sqlite3_column_text(st, 6));
  if (payload) cJSON_AddItemToObject(op, "payload", payload);
  if (with_status) {
    static const char *const statuses[] = {"pending", "syncing", "synced", "failed"};
    int s = sqlite3_column_int(st, 7);
    cJSON_AddStringToObject(op, "status", s >= 0 && s <= 3 ? statuses[s] : "unknown");
    cJSON_AddNumberToObject(op, "attempts", sqlite3_column_int(st, 8));
    if (sqlite3_column_type(st, 9) != SQLITE_NULL)
      cJSON_AddStringToObject(op, "lastError", (const char *)sqlite3_column_text(st, 9));
  }
  if (!payload || !cJSON_GetObjectItemCaseSensitive(op, "hlc")) {
    cJSON_Delete(op);
    return NULL;
  }
  return op;
}

/* Compaction: acknowledged operations leave the log once the record's canonical version
** includes them; until then rebase still needs them. */
static int compact_record(sloop_db *db, const char *coll, const char *rid, int64_t version) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "DELETE FROM oplog WHERE coll = ?1 AND rid = ?2 AND status = 2 AND acked_version <= ?3", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, version);
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
  const sloop_apply_ctx ctx = {0, db->merge_cb ? sloop_custom_merge : NULL, db};
  cJSON *patch = NULL;
  if (op.type == SLOOP_OP_RESOLVE) {
    const cJSON *field = cJSON_GetObjectItemCaseSensitive(op.payload, "field");
    patch = cJSON_CreateObject();
    cJSON *fop = cJSON_IsString(field) && patch ? cJSON_AddObjectToObject(patch, field->valuestring) : NULL;
    if (!fop || !cJSON_AddItemToObject(fop, "set", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(op.payload, "value"), 1))) {
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
static int rebase(sloop_db *db, const char *coll, const char *rid, sloop_row *row) {
  cJSON *state = row->base ? cJSON_Duplicate(row->base, 1) : cJSON_CreateObject();
  if (!state) return SLOOP_NOMEM;
  sqlite3_stmt *st;
  char sql[200];
  /* Acknowledged operations still count until the canonical state includes them: an answer
  ** can arrive before (or without) the record it changed. */
  snprintf(sql, sizeof(sql),
           "SELECT %s FROM oplog WHERE coll = ?1 AND rid = ?2 AND"
           " (status IN (0, 1) OR (status = 2 AND acked_version > ?3)) ORDER BY seq",
           kOpColumns);
  int rc = sloop_prepare(db, sql, &st);
  if (rc) {
    cJSON_Delete(state);
    return rc;
  }
  sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, row->version);
  int src;
  while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
    cJSON *op = op_from_row(st, 0);
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
    if (failed) return transition(db, coll, rid, row, SLOOP_FAILED);
    if (inflight) return SLOOP_OK;
    rc = transition(db, coll, rid, row, SLOOP_SYNCED);
    /* More writes arrived while the batch was in flight: synced, then modified again. */
    if (!rc && open) {
      sloop_note_change(db, coll, rid, SLOOP_SYNCED);
      rc = transition(db, coll, rid, row, SLOOP_MODIFIED);
    }
    return rc;
  }
  if (open) return SLOOP_OK; /* still queued: the next push moves it on */
  /* Its last operations were applied or rejected through a request this handle no longer
  ** counted in flight (a push that timed out, a delayed copy of an earlier batch) and the
  ** outcome came by a pull or a late answer. Nothing is left to send, so the state would
  ** never change again; a local write passes through syncing, the machine's only way on. */
  if (row->sync == SLOOP_LOCAL_ONLY || row->sync == SLOOP_MODIFIED) {
    rc = transition(db, coll, rid, row, SLOOP_SYNCING);
    if (!rc) sloop_note_change(db, coll, rid, SLOOP_SYNCING);
  }
  if (!rc) rc = transition(db, coll, rid, row, failed ? SLOOP_FAILED : SLOOP_SYNCED);
  return rc;
}

/* Rebases a record and settles its sync state after its operations were answered. */
static int settle(sloop_db *db, const char *coll, const char *rid) {
  sloop_row row;
  int rc = sloop_row_load(db, coll, rid, &row);
  if (rc) return rc;
  int failed = 0, open = 0, inflight = 0, any = 0;
  if (!row.exists) goto done;
  rc = compact_record(db, coll, rid, row.version);
  if (!rc) rc = sloop_count_ops(db, coll, rid, SLOOP_OP_FAILED, &failed);
  if (!rc) rc = sloop_count_ops(db, coll, rid, SLOOP_OPS_ANY, &any);
  if (!rc) rc = sloop_count_ops(db, coll, rid, SLOOP_OPS_OPEN, &open);
  if (!rc) rc = sloop_count_ops(db, coll, rid, SLOOP_OP_SYNCING, &inflight);
  if (!rc) rc = rebase(db, coll, rid, &row);
  if (!rc) rc = settle_state(db, coll, rid, &row, failed, open, inflight);
  if (rc) goto done;
  if (!row.base && !any) rc = sloop_row_delete(db, coll, rid); /* never reached the server */
  else rc = sloop_row_save(db, coll, rid, &row);
done:
  sloop_row_clear(&row);
  return rc;
}

int sloop_forget_canonical(sloop_db *db, const char *coll, const char *rid) {
  sloop_row row;
  int rc = sloop_row_load(db, coll, rid, &row);
  int open = 0, failed = 0;
  if (!rc && row.exists) rc = sloop_count_ops(db, coll, rid, SLOOP_OPS_OPEN, &open);
  if (!rc && row.exists) rc = sloop_count_ops(db, coll, rid, SLOOP_OP_FAILED, &failed);
  if (rc || !row.exists) goto done;
  if (!open && !failed) {
    rc = sloop_row_delete(db, coll, rid);
    goto done;
  }
  /* Acknowledged operations counted only until a canonical state covered them; with no
  ** canonical state left there is nothing for them to be covered by. */
  rc = compact_record(db, coll, rid, INT64_MAX);
  cJSON_Delete(row.base);
  row.base = NULL;
  row.version = 0;
  if (!rc) rc = rebase(db, coll, rid, &row);
  if (!rc) rc = sloop_row_save(db, coll, rid, &row);
done:
  sloop_row_clear(&row);
  return rc;
}

/* ---------------------------------------------------------------- push --------------- */

static int select_batch(sloop_db *db, int status, int max_ops, cJSON *ops) {
  sqlite3_stmt *st;
  char sql[200];
  snprintf(sql, sizeof(sql), "SELECT %s FROM oplog WHERE status = ?1 ORDER BY seq LIMIT ?2", kOpColumns);
  int rc = sloop_prepare(db, sql, &st);
  if (rc) return rc;
  sqlite3_bind_int(st, 1, status);
  sqlite3_bind_int(st, 2, max_ops);
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    cJSON *op = op_from_row(st, 0);
    if (!op) {
      rc = sloop_fail(db, SLOOP_CORRUPT, "unreadable operation in the log");
      break;
    }
    cJSON_AddItemToArray(ops, op);
  }
  if (!rc && src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "select batch");
  sloop_finalize(db, st);
  return rc;
}

/* Marks the batch in flight and moves its records to "syncing". */
static int mark_in_flight(sloop_db *db, const cJSON *ops) {
  const cJSON *op;
  cJSON_ArrayForEach(op, ops) {
    const char *id = cJSON_GetObjectItemCaseSensitive(op, "id")->valuestring;
    const char *coll = cJSON_GetObjectItemCaseSensitive(op, "coll")->valuestring;
    const char *rid = cJSON_GetObjectItemCaseSensitive(op, "rid")->valuestring;
    sqlite3_stmt *st;
    int rc = sloop_prepare(db, "UPDATE oplog SET status = 1, attempts = attempts + 1 WHERE id = ?1", &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    sloop_finalize(db, st);
    if (src != SQLITE_DONE) return sloop_sql_fail(db, src, "mark in flight");
    sloop_row row;
    rc = sloop_row_load(db, coll, rid, &row);
    if (!rc && row.exists && row.sync != SLOOP_SYNCING) {
      rc = transition(db, coll, rid, &row, SLOOP_SYNCING);
      if (!rc) rc = sloop_row_save(db, coll, rid, &row);
    }
    sloop_row_clear(&row);
    if (rc) return rc;
  }
  return SLOOP_OK;
}

int sloop_push_begin(sloop_db *db, int max_ops, char **out, size_t *out_len) {
  *out = NULL;
  if (out_len) *out_len = 0;
  if (db->role != SLOOP_ROLE_CLIENT) return sloop_fail(db, SLOOP_INVALID, "push needs a client database");
  if (max_ops <= 0) max_ops = 100;
  cJSON *req = cJSON_CreateObject();
  cJSON *ops = req ? cJSON_CreateArray() : NULL;
  if (!ops) return cJSON_Delete(req), SLOOP_NOMEM;
  cJSON_AddNumberToObject(req, "v", 1);
  cJSON_AddStringToObject(req, "device", db->device);
  cJSON_AddItemToObject(req, "ops", ops);
  int rc = sloop_begin(db, "push");
  if (rc) return cJSON_Delete(req), rc;
  /* An unanswered batch goes again, unchanged, before anything newer: push is idempotent. */
  rc = select_batch(db, SLOOP_OP_SYNCING, max_ops, ops);
  if (!rc && cJSON_GetArraySize(ops) == 0) {
    rc = select_batch(db, SLOOP_OP_PENDING, max_ops, ops);
    if (!rc) rc = mark_in_flight(db, ops);
  }
  rc = sloop_end(db, "push", rc);
  if (!rc && cJSON_GetArraySize(ops) > 0) {
    *out = sloop_print(req, out_len);
    if (!*out) rc = SLOOP_NOMEM;
  }
  cJSON_Delete(req);
  return rc;
}

/* Stores (or updates) a conflict record from the server, keeping the newest copy.
**
** A conflict reaches a device in many copies of different ages: the push answer that opened
** it, a late or repeated push answer, the results a pull carries after a lost answer (each
** a stored answer, so the conflict as it was when it opened), a pull page, a late pull page
** (whose cursor is older than this device's), the last page of a snapshot. On the server a
** conflict changes only twice, opening and closing, and each time takes a new version, so
** the version orders the copies: one older than the stored copy is stale and changes
** nothing, whatever path brought it. A resolution, once here, is never reopened. */
static int store_conflict(sloop_db *db, const cJSON *c) {
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
  const char *coll = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "coll"));
  const char *rid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "rid"));
  const char *field = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "field"));
  const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "status"));
  if (!cJSON_IsNumber(id) || !coll || !rid || !field || !status)
    return sloop_fail(db, SLOOP_INVALID, "malformed conflict record");
  char *server = sloop_print(cJSON_GetObjectItemCaseSensitive(c, "server"), NULL);
  char *incoming = sloop_print(cJSON_GetObjectItemCaseSensitive(c, "incoming"), NULL);
  char *resolution = sloop_print(cJSON_GetObjectItemCaseSensitive(c, "resolution"), NULL);
  sqlite3_stmt *st;
  int rc = sloop_prepare(db,
                         "INSERT INTO conflicts(id, coll, rid, field, server, incoming, op, device, user,"
                         " hlc, status, resolution, version) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)"
                         " ON CONFLICT(id) DO UPDATE SET status = CASE WHEN conflicts.status = 'resolving'"
                         " AND excluded.status = 'open' THEN 'resolving' ELSE excluded.status END,"
                         " resolution = excluded.resolution, version = excluded.version"
                         " WHERE excluded.version > conflicts.version",
                         &st);
  if (!rc) {
    sqlite3_bind_int64(st, 1, (sqlite3_int64)id->valuedouble);
    sqlite3_bind_text(st, 2, coll, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, rid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, field, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, server, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, incoming, -1, SQLITE_STATIC);
    const char *keys[] = {"op", "device", "user", "hlc"};
    for (int i = 0; i < 4; i++)
      sqlite3_bind_text(st, 7 + i, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, keys[i])), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 12, resolution, -1, SQLITE_STATIC);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, "version");
    sqlite3_bind_int64(st, 13, cJSON_IsNumber(v) ? (sqlite3_int64)v->valuedouble : 0);
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "store conflict");
    sloop_finalize(db, st);
  }
  free(server);
  free(incoming);
  free(resolution);
  return rc;
}

/* Applies per-operation results (from a push answer, or from a pull after a lost answer).
** Collects the touched records into `touched` as "coll\x1frid" strings. */
static int apply_results(sloop_db *db, const cJSON *results, cJSON *touched) {
  const cJSON *r;
  cJSON_ArrayForEach(r, results) {
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "id"));
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "status"));
    if (!id || !status) return sloop_fail(db, SLOOP_INVALID, "malformed operation result");
    sqlite3_stmt *st;
    int rc = sloop_prepare(db, "SELECT coll, rid FROM oplog WHERE id = ?1 AND status IN (0, 1)", &st);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
      char key[SLOOP_NAME_MAX + SLOOP_ID_MAX + 2];
      snprintf(key, sizeof(key), "%s\x1f%s", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
      cJSON_AddItemToArray(touched, cJSON_CreateString(key));
    } else {
      sloop_finalize(db, st);
      continue; /* answered before, or discarded: nothing to do */
    }
    sloop_finalize(db, st);
    const cJSON *conflict = cJSON_GetObjectItemCaseSensitive(r, "conflict");
    if (cJSON_IsObject(conflict) && (rc = store_conflict(db, conflict))) return rc;
    if (strcmp(status, "rejected") == 0) {
      const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "code"));
      const char *message = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "message"));
      char err[300];
      snprintf(err, sizeof(err), "%s: %s", code ? code : "rejected", message ? message : "");
      rc = sloop_prepare(db, "UPDATE oplog SET status = 3, last_error = ?2 WHERE id = ?1", &st);
      if (rc) return rc;
      sqlite3_bind_text(st, 2, err, -1, SQLITE_TRANSIENT);
    } else {
      const cJSON *version = cJSON_GetObjectItemCaseSensitive(r, "version");
      /* A version past 2^53 is no server's: converting it to an integer is undefined. */
      if (cJSON_IsNumber(version) && !(version->valuedouble >= 0 && version->valuedouble < SC_EXACT_MAX))
        return sloop_fail(db, SLOOP_INVALID, "malformed operation result");
      rc = sloop_prepare(db, "UPDATE oplog SET status = 2, acked_version = ?2 WHERE id = ?1", &st);
      if (rc) return rc;
      sqlite3_bind_int64(st, 2, cJSON_IsNumber(version) ? (sqlite3_int64)version->valuedouble : 0);
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    sloop_finalize(db, st);
    if (src != SQLITE_DONE) return sloop_sql_fail(db, src, "apply result");
  }
  return SLOOP_OK;
}

/* The pull cursor, read once per answer: applying its records does not move it. */
static int cursor_of(sloop_db *db, int64_t *cached, int64_t *cursor) {
  if (*cached < 0) {
    int rc = sloop_meta_get_int(db, "cursor", cached);
    if (rc == SLOOP_NOTFOUND) *cached = 0;
    else if (rc) return rc;
  }
  *cursor = *cached;
  return SLOOP_OK;
}

/* The fast path of apply_change for a record with no operation in the log, which the row says
** without a query of the log (a record the server has, stored without a base) or a new record
** (one query): no rebase, nothing to compact, the pulled state is the record. It does exactly
** what the general path below does for such a record. *done is 0 when it does not apply. */
static int apply_plain(sloop_db *db, const char *coll, const char *rid, int64_t v, const cJSON *state, int evict,
                       int64_t *cursor_cache, int *done) {
  sloop_row_head head;
  int rc = sloop_row_head_load(db, coll, rid, &head);
  *done = 0;
  if (rc) return rc;
  if (head.exists && !(head.version > 0 && head.base_null)) return SLOOP_OK;
  if (head.exists && v <= head.version) return *done = 1, SLOOP_OK; /* already have it, or newer */
  if (!head.exists) {
    int64_t cursor = 0;
    int ops = 0;
    rc = cursor_of(db, cursor_cache, &cursor);
    if (rc || v <= cursor) return *done = 1, rc; /* a stale copy: see apply_change */
    rc = sloop_count_ops(db, coll, rid, SLOOP_OPS_ANY, &ops);
    if (rc || ops) return rc;
  }
  *done = 1;
  if (evict || !sloop_state_visible(state)) return head.exists ? sloop_row_delete(db, coll, rid) : SLOOP_OK;
  /* No base: nothing in the log, so the pulled state is the canonical state too. */
  sloop_row row = {.exists = head.exists, .state = (cJSON *)state, .version = v,
                   .sync = head.exists ? head.sync : SLOOP_SYNCED, .rowid = head.rowid};
  return sloop_row_save(db, coll, rid, &row);
}

/* Stores one canonical record from the server and rebases pending writes on it. */
static int apply_change(sloop_db *db, const cJSON *ch, int64_t *cursor_cache) {
  const char *coll = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ch, "coll"));
  const char *rid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ch, "rid"));
  const cJSON *version = cJSON_GetObjectItemCaseSensitive(ch, "version");
  const cJSON *state = cJSON_GetObjectItemCaseSensitive(ch, "state");
  int evict = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ch, "evict"));
  if (!coll || !rid || !cJSON_IsNumber(version) || !(version->valuedouble >= 0 && version->valuedouble < SC_EXACT_MAX) ||
      (!evict && !cJSON_IsObject(state)) ||
      !sloop_valid_name(coll, strlen(coll), 0) || !sloop_valid_id(rid, strlen(rid)))
    return sloop_fail(db, SLOOP_INVALID, "malformed change record");
  if (!sloop_schema_coll(&db->schema, coll)) return SLOOP_OK; /* a collection this app does not know */
  int64_t v = (int64_t)version->valuedouble;
  int plain = 0;
  int rc = apply_plain(db, coll, rid, v, state, evict, cursor_cache, &plain);
  if (rc || plain) return rc;
  sloop_row row;
  rc = sloop_row_load(db, coll, rid, &row);
  if (rc) return rc;
  int open = 0, failed = 0;
  if (row.exists && row.base && v <= row.version) goto done; /* already have it, or newer */
  if (!row.base) {
    /* This device pulled every change up to its cursor, so a record it holds no canonical
    ** copy of (none at all, or only its own writes since) at a version it has pulled past
    ** was deleted or left the scope since: a stale copy, as a push or pull answer delivered
    ** late carries. Storing it would bring the record back for good, since no later pull
    ** sends that record again. */
    int64_t cursor = 0;
    rc = cursor_of(db, cursor_cache, &cursor);
    if (rc || v <= cursor) goto done;
  }
  if (!evict) rc = compact_record(db, coll, rid, v);
  if (!rc) rc = sloop_count_ops(db, coll, rid, SLOOP_OPS_ANY, &open);
  if (!rc) rc = sloop_count_ops(db, coll, rid, SLOOP_OP_FAILED, &failed);
  if (rc) goto done;
  if ((evict || !sloop_state_visible(state)) && !open && !failed) {
    /* Gone from the server or from this device's scope, and nothing local depends on it. */
    if (row.exists) rc = sloop_row_delete(db, coll, rid);
    goto done;
  }
  if (evict) goto done; /* out of scope but with local work: keep it until that work is done */
  cJSON_Delete(row.base);
  row.base = cJSON_Duplicate(state, 1);
  row.version = v;
  if (!row.base) rc = SLOOP_NOMEM;
  if (!rc) rc = compact_record(db, coll, rid, v);
  if (!rc) rc = rebase(db, coll, rid, &row);
  if (!rc) {
    if (!row.exists) row.sync = SLOOP_SYNCED;
    rc = sloop_row_save(db, coll, rid, &row);
  }
done:
  sloop_row_clear(&row);
  return rc;
}

static int apply_changes(sloop_db *db, const cJSON *changes) {
  const cJSON *ch;
  int64_t cursor = -1;
  cJSON_ArrayForEach(ch, changes) {
    int rc = apply_change(db, ch, &cursor);
    if (rc) return rc;
  }
  return SLOOP_OK;
}

static int settle_touched(sloop_db *db, const cJSON *touched) {
  const cJSON *t;
  cJSON_ArrayForEach(t, touched) {
    char key[SLOOP_NAME_MAX + SLOOP_ID_MAX + 2];
    snprintf(key, sizeof(key), "%s", t->valuestring);
    char *sep = strchr(key, '\x1f');
    if (!sep) continue;
    *sep = 0;
    int rc = settle(db, key, sep + 1);
    if (rc) return rc;
  }
  return SLOOP_OK;
}

static cJSON *parse_answer(sloop_db *db, const char *resp, size_t len) {
  cJSON *json = cJSON_ParseWithLength(resp, len);
  if (!json) {
    sloop_fail(db, SLOOP_JSON, "server answer is not valid JSON");
    return NULL;
  }
  if (!cJSON_IsObject(json)) {
    cJSON_Delete(json);
    sloop_fail(db, SLOOP_INVALID, "server answer is not an object");
    return NULL;
  }
  return json;
}

int sloop_push_end(sloop_db *db, const char *resp, size_t resp_len) {
  cJSON *json = parse_answer(db, resp, resp_len);
  if (!json) return db->errmsg[0] && strstr(db->errmsg, "JSON") ? SLOOP_JSON : SLOOP_INVALID;
  const cJSON *results = cJSON_GetObjectItemCaseSensitive(json, "results");
  cJSON *touched = cJSON_CreateArray();
  int rc = touched ? sloop_begin(db, "pushend") : SLOOP_NOMEM;
  if (!rc) {
    if (!cJSON_IsArray(results)) rc = sloop_fail(db, SLOOP_INVALID, "push answer has no results");
    if (!rc) rc = apply_results(db, results, touched);
    if (!rc) rc = apply_changes(db, cJSON_GetObjectItemCaseSensitive(json, "records"));
    if (!rc) rc = settle_touched(db, touched);
    if (!rc) sloop_clock_recv(db, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json, "hlc")));
    rc = sloop_end(db, "pushend", rc);
  }
  cJSON_Delete(touched);
  cJSON_Delete(json);
  return rc;
}

int sloop_push_fail(sloop_db *db, const char *error) {
  int rc = sloop_begin(db, "pushfail");
  if (rc) return rc;
  sqlite3_stmt *st;
  rc = sloop_prepare(db, "SELECT DISTINCT coll, rid FROM oplog WHERE status = 1", &st);
  cJSON *touched = cJSON_CreateArray();
  while (!rc && touched && sqlite3_step(st) == SQLITE_ROW) {
    char key[SLOOP_NAME_MAX + SLOOP_ID_MAX + 2];
    snprintf(key, sizeof(key), "%s\x1f%s", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
    cJSON_AddItemToArray(touched, cJSON_CreateString(key));
  }
  sloop_finalize(db, st);
  if (!rc) {
    rc = sloop_prepare(db, "UPDATE oplog SET status = 0, last_error = ?1 WHERE status = 1", &st);
    if (!rc) {
      sqlite3_bind_text(st, 1, error ? error : "network error", -1, SQLITE_STATIC);
      if (sqlite3_step(st) != SQLITE_DONE) rc = sloop_sql_fail(db, SQLITE_ERROR, "push fail");
      sloop_finalize(db, st);
    }
  }
  const cJSON *t;
  cJSON_ArrayForEach(t, touched) {
    if (rc) break;
    char key[SLOOP_NAME_MAX + SLOOP_ID_MAX + 2];
    snprintf(key, sizeof(key), "%s", t->valuestring);
    char *sep = strchr(key, '\x1f');
    *sep = 0;
    sloop_row row;
    rc = sloop_row_load(db, key, sep + 1, &row);
    if (!rc && row.exists && row.sync == SLOOP_SYNCING) {
      rc = transition(db, key, sep + 1, &row, SLOOP_FAILED);
      if (!rc) rc = sloop_row_save(db, key, sep + 1, &row);
    }
    sloop_row_clear(&row);
  }
  cJSON_Delete(touched);
  return sloop_end(db, "pushfail", rc);
}

/* Returns the in-flight operations from position `keep` on (in log order) to the queue. */
static int unsend_after(sloop_db *db, int keep) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db,
                         "UPDATE oplog SET status = 0 WHERE id IN (SELECT id FROM oplog WHERE status = 1"
                         " ORDER BY seq LIMIT -1 OFFSET ?1)",
                         &st);
  if (rc) return rc;
  sqlite3_bind_int(st, 1, keep);
  int src = sqlite3_step(st);
  sloop_finalize(db, st);
  return src == SQLITE_DONE ? SLOOP_OK : sloop_sql_fail(db, src, "narrow batch");
}

/* Marks the one in-flight operation failed with "code: message" and settles its record. */
static int fail_in_flight(sloop_db *db, const char *code, const char *message) {
  char err[300], coll[SLOOP_NAME_MAX + 1] = "", rid[SLOOP_ID_MAX + 1] = "";
  snprintf(err, sizeof(err), "%s: %s", code && *code ? code : "refused", message ? message : "");
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT coll, rid FROM oplog WHERE status = 1", &st);
  if (rc) return rc;
  if (sqlite3_step(st) == SQLITE_ROW) {
    snprintf(coll, sizeof(coll), "%s", sqlite3_column_text(st, 0));
    snprintf(rid, sizeof(rid), "%s", sqlite3_column_text(st, 1));
  }
  sloop_finalize(db, st);
  if (!coll[0]) return SLOOP_OK;
  rc = sloop_prepare(db, "UPDATE oplog SET status = 3, last_error = ?1 WHERE status = 1", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, err, -1, SQLITE_STATIC);
  int src = sqlite3_step(st);
  sloop_finalize(db, st);
  if (src != SQLITE_DONE) return sloop_sql_fail(db, src, "refused operation");
  return settle(db, coll, rid);
}

int sloop_push_refused(sloop_db *db, const char *code, const char *message, int *remaining) {
  if (remaining) *remaining = 0;
  if (db->role != SLOOP_ROLE_CLIENT) return sloop_fail(db, SLOOP_INVALID, "push needs a client database");
  int rc = sloop_begin(db, "pushrefused");
  if (rc) return rc;
  sqlite3_stmt *st;
  int inflight = 0;
  rc = sloop_prepare(db, "SELECT count(*) FROM oplog WHERE status = 1", &st);
  if (!rc) {
    if (sqlite3_step(st) == SQLITE_ROW) inflight = sqlite3_column_int(st, 0);
    sloop_finalize(db, st);
  }
  /* Halving keeps the operations in log order (a prefix goes first), so a record's writes
  ** still reach the server in the order they were made; the operation at fault is isolated
  ** after about log2(batch) refusals. */
  if (!rc && inflight > 1) rc = unsend_after(db, (inflight + 1) / 2);
  else if (!rc && inflight == 1) rc = fail_in_flight(db, code, message);
  if (!rc && remaining) *remaining = inflight > 1 ? (inflight + 1) / 2 : 0;
  return sloop_end(db, "pushrefused", rc);
}

/* ---------------------------------------------------------------- pull --------------- */

int sloop_pull_request(sloop_db *db, int limit, const char *scope_json, size_t scope_len,
                       char **out, size_t *out_len) {
  *out = NULL;
  int64_t cursor = 0, ack_seq = 0;
  int rc = sloop_meta_get_int(db, "cursor", &cursor);
  if (rc && rc != SLOOP_NOTFOUND) return rc;
  rc = sloop_meta_get_int(db, "ack_seq", &ack_seq);
  if (rc && rc != SLOOP_NOTFOUND) return rc;
  cJSON *scope = NULL;
  if (scope_json && scope_len) {
    scope = cJSON_ParseWithLength(scope_json, scope_len);
    if (!cJSON_IsObject(scope)) {
      cJSON_Delete(scope);
      return sloop_fail(db, SLOOP_JSON, "scope must be a JSON object");
    }
  }
  cJSON *req = cJSON_CreateObject();
  if (!req) return cJSON_Delete(scope), SLOOP_NOMEM;
  cJSON_AddNumberToObject(req, "v", 1);
  cJSON_AddStringToObject(req, "device", db->device);
  cJSON_AddNumberToObject(req, "cursor", (double)cursor);
  cJSON_AddNumberToObject(req, "limit", limit > 0 ? limit : 500);
  cJSON_AddNumberToObject(req, "ackSeq", (double)ack_seq);
  if (scope) cJSON_AddItemToObject(req, "scope", scope);
  if (cursor == 0) {
    sqlite3_stmt *st;
    rc = sloop_prepare(db, "SELECT NOT EXISTS (SELECT 1 FROM records)", &st);
    if (rc) return cJSON_Delete(req), rc;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0)) cJSON_AddTrueToObject(req, "fresh");
    sloop_finalize(db, st);
  }
  rc = sloop_snapshot_request(db, req);
  if (rc) return cJSON_Delete(req), rc;
  *out = sloop_print(req, out_len);
  cJSON_Delete(req);
  return *out ? SLOOP_OK : SLOOP_NOMEM;
}

/* Once the cursor passes an acknowledged operation's version, the canonical state covering
** it has been delivered, or deliberately left out (a tombstone an empty client does not need,
** a record outside the scope): either way rebase no longer needs the operation. */
static int forget_covered(sloop_db *db, int64_t cursor, cJSON *touched) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT DISTINCT coll, rid FROM oplog WHERE status = 2 AND acked_version <= ?1", &st);
  if (rc) return rc;
  sqlite3_bind_int64(st, 1, cursor);
  cJSON *records = cJSON_CreateArray();
  while (records && sqlite3_step(st) == SQLITE_ROW) {
    const char *pair[2] = {(const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1)};
    cJSON_AddItemToArray(records, cJSON_CreateStringArray(pair, 2));
  }
  sloop_finalize(db, st);
  if (!records) return SLOOP_NOMEM;
  const cJSON *r;
  cJSON_ArrayForEach(r, records) {
    const char *coll = cJSON_GetArrayItem(r, 0)->valuestring, *rid = cJSON_GetArrayItem(r, 1)->valuestring;
    rc = compact_record(db, coll, rid, cursor);
    if (rc) break;
    char key[SLOOP_NAME_MAX + SLOOP_ID_MAX + 2];
    snprintf(key, sizeof(key), "%s\x1f%s", coll, rid);
    cJSON_AddItemToArray(touched, cJSON_CreateString(key));
  }
  cJSON_Delete(records);
  return rc;
}

int sloop_pull_apply(sloop_db *db, const char *resp, size_t resp_len, int *has_more) {
  if (has_more) *has_more = 0;
  cJSON *json = parse_answer(db, resp, resp_len);
  if (!json) return strstr(db->errmsg, "JSON") ? SLOOP_JSON : SLOOP_INVALID;
  const cJSON *cursor = cJSON_GetObjectItemCaseSensitive(json, "cursor");
  const cJSON *changes = cJSON_GetObjectItemCaseSensitive(json, "changes");
  const cJSON *results = cJSON_GetObjectItemCaseSensitive(json, "results");
  const cJSON *ack = cJSON_GetObjectItemCaseSensitive(json, "ackSeq");
  cJSON *touched = cJSON_CreateArray();
  int64_t prev_cursor = 0, next_cursor = 0;
  int again = 0;
  int rc = touched ? SLOOP_OK : SLOOP_NOMEM;
  if (!rc && (!cJSON_IsNumber(cursor) || !cJSON_IsArray(changes)))
    rc = sloop_fail(db, SLOOP_INVALID, "pull answer needs a cursor and changes");
  if (!rc) rc = sloop_begin(db, "pull");
  if (rc) goto done;
  next_cursor = (int64_t)cursor->valuedouble;
  if ((rc = sloop_meta_get_int(db, "cursor", &prev_cursor)) == SLOOP_NOTFOUND) rc = SLOOP_OK;
  /* Results first: an operation the server applied must leave the log before rebasing, or
  ** its effect would count twice (once in the canonical state, once replayed). */
  if (cJSON_IsArray(results)) rc = apply_results(db, results, touched);
  if (!rc) rc = apply_changes(db, changes);
  const cJSON *c;
  cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(json, "conflicts")) {
    if (!rc) rc = store_conflict(db, c);
  }
  if (!rc) rc = forget_covered(db, (int64_t)cursor->valuedouble, touched);
  if (!rc) rc = settle_touched(db, touched);
  if (!rc) rc = sloop_snapshot_apply(db, json, prev_cursor, &next_cursor, &again);
  if (!rc) rc = sloop_meta_set_int(db, "cursor", next_cursor);
  if (!rc && cJSON_IsNumber(ack)) rc = sloop_meta_set_int(db, "ack_seq", (int64_t)ack->valuedouble);
  if (!rc && cJSON_IsNumber(ack) && (int64_t)ack->valuedouble > db->op_seq) {
    /* The server applied operations of this device that its log does not remember: it was
    ** restored from a backup. New operations must not reuse those ids, or the server would
    ** take them for replays and answer what it answered before. */
    rc = sloop_meta_set_int(db, "op_seq", (int64_t)ack->valuedouble);
    if (!rc) db->op_seq = (int64_t)ack->valuedouble;
  }
  if (!rc) sloop_clock_recv(db, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(json, "hlc")));
  rc = sloop_end(db, "pull", rc);
  if (!rc && has_more) *has_more = again || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(json, "hasMore"));
done:
  cJSON_Delete(touched);
  cJSON_Delete(json);
  return rc;
}

/* ---------------------------------------------------------------- failed ops --------- */

static int op_record(sloop_db *db, const char *op_id, int status, char *coll, char *rid) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT coll, rid FROM oplog WHERE id = ?1 AND status = ?2", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, op_id, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, status);
  if (sqlite3_step(st) == SQLITE_ROW) {
    snprintf(coll, SLOOP_NAME_MAX + 1, "%s", sqlite3_column_text(st, 0));
    snprintf(rid, SLOOP_ID_MAX + 1, "%s", sqlite3_column_text(st, 1));
  } else {
    rc = sloop_fail(db, SLOOP_NOTFOUND, "no failed operation '%.96s'", op_id);
  }
  sloop_finalize(db, st);
  return rc;
}

/* Requeues one failed operation under a fresh id at the end of the log: the server answered
** the old id already and would answer it the same way again. */
static int retry_one(sloop_db *db, const char *op_id) {
  char coll[SLOOP_NAME_MAX + 1], rid[SLOOP_ID_MAX + 1], new_id[96];
  int rc = op_record(db, op_id, SLOOP_OP_FAILED, coll, rid);
  if (rc) return rc;
  snprintf(new_id, sizeof(new_id), "%s:%lld", db->device, (long long)(db->op_seq + 1));
  sqlite3_stmt *st;
  rc = sloop_prepare(db,
                     "UPDATE oplog SET id = ?2, status = 0, attempts = 0, last_error = NULL,"
                     " seq = (SELECT max(seq) + 1 FROM oplog) WHERE id = ?1",
                     &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, op_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, new_id, -1, SQLITE_STATIC);
  int src = sqlite3_step(st);
  sloop_finalize(db, st);
  if (src != SQLITE_DONE) return sloop_sql_fail(db, src, "retry");
  db->op_seq++;
  rc = sloop_meta_set_int(db, "op_seq", db->op_seq);
  if (!rc) {
    sloop_row row;
    rc = sloop_row_load(db, coll, rid, &row);
    if (!rc) rc = rebase(db, coll, rid, &row);
    if (!rc) rc = sloop_row_save(db, coll, rid, &row);
    sloop_row_clear(&row);
  }
  return rc;
}

int sloop_retry(sloop_db *db, const char *op_id) {
  int64_t seq_before = db->op_seq;
  int rc = sloop_begin(db, "retry");
  if (rc) return rc;
  if (op_id) {
    rc = retry_one(db, op_id);
  } else {
    cJSON *ids = cJSON_CreateArray();
    sqlite3_stmt *st;
    rc = ids ? sloop_prepare(db, "SELECT id FROM oplog WHERE status = 3 ORDER BY seq", &st) : SLOOP_NOMEM;
    while (!rc && sqlite3_step(st) == SQLITE_ROW)
      cJSON_AddItemToArray(ids, cJSON_CreateString((const char *)sqlite3_column_text(st, 0)));
    if (!rc) sloop_finalize(db, st);
    const cJSON *id;
    cJSON_ArrayForEach(id, ids) if (!rc) rc = retry_one(db, id->valuestring);
    cJSON_Delete(ids);
  }
  rc = sloop_end(db, "retry", rc);
  if (rc) db->op_seq = seq_before;
  return rc;
}

int sloop_discard(sloop_db *db, const char *op_id) {
  char coll[SLOOP_NAME_MAX + 1], rid[SLOOP_ID_MAX + 1];
  int rc = sloop_begin(db, "discard");
  if (rc) return rc;
  rc = op_record(db, op_id, SLOOP_OP_FAILED, coll, rid);
  sqlite3_stmt *st;
  if (!rc) rc = sloop_prepare(db, "DELETE FROM oplog WHERE id = ?1", &st);
  if (!rc) {
    sqlite3_bind_text(st, 1, op_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) rc = sloop_sql_fail(db, SQLITE_ERROR, "discard");
    sloop_finalize(db, st);
  }
  int failed = 0, open = 0;
  if (!rc) rc = sloop_count_ops(db, coll, rid, SLOOP_OP_FAILED, &failed);
  if (!rc) rc = sloop_count_ops(db, coll, rid, SLOOP_OPS_OPEN, &open);
  sloop_row row = {0};
  if (!rc) rc = sloop_row_load(db, coll, rid, &row);
  if (!rc && row.exists) {
    rc = rebase(db, coll, rid, &row);
    if (!rc && !failed && row.sync == SLOOP_FAILED) {
      /* Nothing failed is left: the canonical state (and any newer pending work) stands. */
      rc = transition(db, coll, rid, &row, SLOOP_SYNCED);
      if (!rc && open) {
        sloop_note_change(db, coll, rid, SLOOP_SYNCED);
        rc = transition(db, coll, rid, &row, SLOOP_MODIFIED);
      }
    }
    if (!rc) rc = !row.base && !open && !failed ? sloop_row_delete(db, coll, rid) : sloop_row_save(db, coll, rid, &row);
  }
  sloop_row_clear(&row);
  return sloop_end(db, "discard", rc);
}
