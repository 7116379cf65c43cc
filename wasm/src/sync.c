/*
** sync.c -- the client side of a push: the batch sent, its answer applied, a network failure
** and a refusal handled; and the failed operations retried or discarded. Rebase and the sync
** state machine are rebase.c's, answers' records client_answer.c's, pulls pull_apply.c's.
**
** An acknowledged operation leaves the log at once: its effect is in the canonical state the
** same answer carries, so it is no longer needed for rebase. A rejected one stays, as failed,
** until the user retries or discards it.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "client_sync.h"
#include "wire.h"

/* ---------------------------------------------------------------- push --------------- */

static int select_batch(sloop_db *db, int status, int max_ops, cJSON *ops) {
  sqlite3_stmt *st;
  char sql[200];
  snprintf(sql, sizeof(sql), "SELECT %s FROM oplog WHERE status = ?1 ORDER BY seq LIMIT ?2", SLOOP_OP_COLUMNS);
  int rc = sloop_prepare(db, sql, &st);
  if (rc) return rc;
  sqlite3_bind_int(st, 1, status);
  sqlite3_bind_int(st, 2, max_ops);
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    cJSON *op = sloop_op_from_row(st, 0);
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
    const char *id = sloop_member(op, "id")->valuestring;
    const char *coll = sloop_member(op, "coll")->valuestring;
    const char *rid = sloop_member(op, "rid")->valuestring;
    sqlite3_stmt *st;
    int rc = sloop_prepare(db, "UPDATE oplog SET status = ?2, attempts = attempts + 1 WHERE seq = ?1", &st);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, sloop_oplog_seq(db, id));
    sqlite3_bind_int(st, 2, SLOOP_OP_SYNCING);
    int src = sqlite3_step(st);
    sloop_finalize(db, st);
    if (src != SQLITE_DONE) return sloop_sql_fail(db, src, "mark in flight");
    sloop_row row;
    rc = sloop_row_load(db, coll, rid, &row);
    if (!rc && row.exists && row.sync != SLOOP_SYNCING) {
      rc = sloop_transition(db, coll, rid, &row, SLOOP_SYNCING);
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
  cJSON_AddNumberToObject(req, "v", SLOOP_WIRE_V2); /* answers in the compact form (wire.h) */
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

static int sloop_push_end_run(sloop_db *db, const char *resp, size_t resp_len) {
  cJSON *json = NULL;
  int parsed = sloop_parse_answer(db, resp, resp_len, NULL, &json);
  if (parsed) return parsed;
  const cJSON *results = sloop_member(json, "results");
  cJSON *touched = cJSON_CreateArray();
  int rc = touched ? sloop_begin(db, "pushend") : SLOOP_NOMEM;
  if (!rc) {
    if (!cJSON_IsArray(results)) rc = sloop_fail(db, SLOOP_INVALID, "push answer has no results");
    if (!rc) rc = sloop_apply_results(db, results, touched);
    if (!rc) rc = sloop_apply_changes(db, json, "records", NULL);
    if (!rc) rc = sloop_settle_touched(db, touched);
    if (!rc) sloop_clock_recv(db, cJSON_GetStringValue(sloop_member(json, "hlc")));
    rc = sloop_end(db, "pushend", rc);
  }
  cJSON_Delete(touched);
  cJSON_Delete(json);
  return rc;
}

/* The hot path's cJSON trees come from the pool (json_pool.c). */
int sloop_push_end(sloop_db *db, const char *resp, size_t resp_len) {
  int outer = sloop_json_pool_enter();
  int rc = sloop_push_end_run(db, resp, resp_len);
  sloop_json_pool_leave(outer);
  return rc;
}

int sloop_push_fail(sloop_db *db, const char *error) {
  int rc = sloop_begin(db, "pushfail");
  if (rc) return rc;
  sqlite3_stmt *st;
  rc = sloop_prepare(db, "SELECT DISTINCT coll, rid FROM oplog WHERE status = ?1", &st);
  if (!rc) sqlite3_bind_int(st, 1, SLOOP_OP_SYNCING);
  cJSON *touched = cJSON_CreateArray();
  while (!rc && touched && sqlite3_step(st) == SQLITE_ROW) {
    char key[SLOOP_NAME_MAX + SLOOP_ID_MAX + 2];
    snprintf(key, sizeof(key), "%s\x1f%s", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
    cJSON_AddItemToArray(touched, cJSON_CreateString(key));
  }
  sloop_finalize(db, st);
  if (!rc) {
    rc = sloop_prepare(db, "UPDATE oplog SET status = ?2, last_error = ?1 WHERE status = ?3", &st);
    if (!rc) {
      sqlite3_bind_text(st, 1, error ? error : "network error", -1, SQLITE_STATIC);
      sqlite3_bind_int(st, 2, SLOOP_OP_PENDING);
      sqlite3_bind_int(st, 3, SLOOP_OP_SYNCING);
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
      rc = sloop_transition(db, key, sep + 1, &row, SLOOP_FAILED);
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
                         "UPDATE oplog SET status = ?2 WHERE seq IN (SELECT seq FROM oplog WHERE status = ?3"
                         " ORDER BY seq LIMIT -1 OFFSET ?1)",
                         &st);
  if (rc) return rc;
  sqlite3_bind_int(st, 1, keep);
  sqlite3_bind_int(st, 2, SLOOP_OP_PENDING);
  sqlite3_bind_int(st, 3, SLOOP_OP_SYNCING);
  int src = sqlite3_step(st);
  sloop_finalize(db, st);
  return src == SQLITE_DONE ? SLOOP_OK : sloop_sql_fail(db, src, "narrow batch");
}

/* Marks the one in-flight operation failed with "code: message" and settles its record. */
static int fail_in_flight(sloop_db *db, const char *code, const char *message) {
  char err[300], coll[SLOOP_NAME_MAX + 1] = "", rid[SLOOP_ID_MAX + 1] = "";
  snprintf(err, sizeof(err), "%s: %s", code && *code ? code : "refused", message ? message : "");
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT coll, rid FROM oplog WHERE status = ?1", &st);
  if (rc) return rc;
  sqlite3_bind_int(st, 1, SLOOP_OP_SYNCING);
  if (sqlite3_step(st) == SQLITE_ROW) {
    snprintf(coll, sizeof(coll), "%s", sqlite3_column_text(st, 0));
    snprintf(rid, sizeof(rid), "%s", sqlite3_column_text(st, 1));
  }
  sloop_finalize(db, st);
  if (!coll[0]) return SLOOP_OK;
  rc = sloop_prepare(db, "UPDATE oplog SET status = ?2, last_error = ?1 WHERE status = ?3", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, err, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, SLOOP_OP_FAILED);
  sqlite3_bind_int(st, 3, SLOOP_OP_SYNCING);
  int src = sqlite3_step(st);
  sloop_finalize(db, st);
  if (src != SQLITE_DONE) return sloop_sql_fail(db, src, "refused operation");
  return sloop_settle(db, coll, rid);
}

int sloop_push_refused(sloop_db *db, const char *code, const char *message, int *remaining) {
  if (remaining) *remaining = 0;
  if (db->role != SLOOP_ROLE_CLIENT) return sloop_fail(db, SLOOP_INVALID, "push needs a client database");
  int rc = sloop_begin(db, "pushrefused");
  if (rc) return rc;
  sqlite3_stmt *st;
  int inflight = 0;
  rc = sloop_prepare(db, "SELECT count(*) FROM oplog WHERE status = ?1", &st);
  if (!rc) {
    sqlite3_bind_int(st, 1, SLOOP_OP_SYNCING);
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

/* ---------------------------------------------------------------- failed ops --------- */

static int op_record(sloop_db *db, const char *op_id, int status, char *coll, char *rid) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT coll, rid FROM oplog WHERE seq = ?3 AND id = ?1 AND status = ?2", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, op_id, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, sloop_oplog_seq(db, op_id));
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
                     "UPDATE oplog SET id = ?2, status = ?3, attempts = 0, last_error = NULL,"
                     " seq = ?4 WHERE seq = ?5 AND id = ?1",
                     &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, op_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, new_id, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, SLOOP_OP_PENDING);
  sqlite3_bind_int64(st, 4, db->op_seq + 1);
  sqlite3_bind_int64(st, 5, sloop_oplog_seq(db, op_id));
  int src = sqlite3_step(st);
  sloop_finalize(db, st);
  if (src != SQLITE_DONE) return sloop_sql_fail(db, src, "retry");
  db->op_seq++;
  rc = sloop_meta_set_int(db, "op_seq", db->op_seq);
  if (!rc) {
    sloop_row row;
    rc = sloop_row_load(db, coll, rid, &row);
    if (!rc) rc = sloop_rebase(db, coll, rid, &row);
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
    rc = ids ? sloop_prepare(db, "SELECT id FROM oplog WHERE status = ?1 ORDER BY seq", &st) : SLOOP_NOMEM;
    if (!rc) sqlite3_bind_int(st, 1, SLOOP_OP_FAILED);
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
  if (!rc) rc = sloop_prepare(db, "DELETE FROM oplog WHERE seq = ?1", &st);
  if (!rc) {
    sqlite3_bind_int64(st, 1, sloop_oplog_seq(db, op_id));
    if (sqlite3_step(st) != SQLITE_DONE) rc = sloop_sql_fail(db, SQLITE_ERROR, "discard");
    sloop_finalize(db, st);
  }
  sloop_op_counts ops = {{0}};
  if (!rc) rc = sloop_op_counts_load(db, coll, rid, &ops);
  int failed = ops.by[SLOOP_OP_FAILED], open = sloop_ops_open(&ops);
  sloop_row row = {0};
  if (!rc) rc = sloop_row_load(db, coll, rid, &row);
  if (!rc && row.exists) {
    rc = sloop_rebase(db, coll, rid, &row);
    if (!rc && !failed && row.sync == SLOOP_FAILED) {
      /* Nothing failed is left: the canonical state (and any newer pending work) stands. */
      rc = sloop_transition(db, coll, rid, &row, SLOOP_SYNCED);
      if (!rc && open) {
        sloop_note_change(db, coll, rid, SLOOP_SYNCED);
        rc = sloop_transition(db, coll, rid, &row, SLOOP_MODIFIED);
      }
    }
    if (!rc) rc = !row.base && !open && !failed ? sloop_row_delete(db, coll, rid) : sloop_row_save(db, coll, rid, &row);
  }
  sloop_row_clear(&row);
  return sloop_end(db, "discard", rc);
}
