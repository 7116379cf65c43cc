/*
** status.c -- what a UI asks about sync: per-record states and their counts, the change
** notifications that drive badges and live queries, the operation log, and conflicts.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int run_text(sloop_db *db, const char *sql, const char *bind, char **out, size_t *out_len) {
  *out = NULL;
  if (out_len) *out_len = 0;
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, sql, &st);
  if (rc) return rc;
  if (bind) sqlite3_bind_text(st, 1, bind, -1, SQLITE_STATIC);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    *out = sloop_strndup((const char *)sqlite3_column_text(st, 0), n);
    if (!*out) rc = SLOOP_NOMEM;
    else if (out_len) *out_len = n;
  } else {
    rc = sloop_sql_fail(db, src, "status");
  }
  sloop_finalize(db, st);
  return rc;
}

int sloop_record_state(sloop_db *db, const char *coll, size_t coll_len, const char *id,
                       size_t id_len, int *state) {
  *state = -1;
  if (db->role != SLOOP_ROLE_CLIENT) return sloop_fail(db, SLOOP_INVALID, "sync states live on clients");
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT sync FROM records WHERE coll = ?1 AND id = ?2", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, coll, (int)coll_len, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, id, (int)id_len, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) *state = sqlite3_column_int(st, 0);
  else rc = sloop_fail(db, SLOOP_NOTFOUND, "no record '%.*s'", (int)(id_len > 128 ? 128 : id_len), id);
  sloop_finalize(db, st);
  return rc;
}

/* Adds count(*) of `sql`'s rows grouped by its first column (0..n-1) into counts[]. */
static int count_by(sloop_db *db, const char *sql, int64_t *counts, int n) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, sql, &st);
  if (rc) return rc;
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    int k = sqlite3_column_int(st, 0);
    if (k >= 0 && k < n) counts[k] += sqlite3_column_int64(st, 1);
  }
  if (src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "status");
  sloop_finalize(db, st);
  return rc;
}

int sloop_state_counts(sloop_db *db, char **out, size_t *out_len) {
  *out = NULL; /* sloop.h: NULL on failure, so a caller reusing the pointer never frees it twice */
  if (out_len) *out_len = 0;
  if (db->role != SLOOP_ROLE_CLIENT) return sloop_fail(db, SLOOP_INVALID, "sync states live on clients");
  /* One pass over each table, grouped by the stored integer; the names come from the state
  ** list (sloop.h), not from numbers spelled in SQL. */
  int64_t states[SLOOP_MODIFIED + 1] = {0}, ops[SLOOP_OP_FAILED + 1] = {0}, open_conflicts = 0;
  int rc = count_by(db, "SELECT sync, count(*) FROM records GROUP BY sync", states, SLOOP_MODIFIED + 1);
  if (!rc) rc = count_by(db, "SELECT status, count(*) FROM oplog GROUP BY status", ops, SLOOP_OP_FAILED + 1);
  if (!rc)
    rc = count_by(db, "SELECT 0, count(*) FROM conflicts WHERE status != '" SLOOP_CONFLICT_RESOLVED "'",
                  &open_conflicts, 1);
  if (rc) return rc;
  cJSON *o = cJSON_CreateObject();
  for (int k = 0; o && k <= SLOOP_MODIFIED; k++) cJSON_AddNumberToObject(o, sloop_state_name(k), (double)states[k]);
  cJSON_AddNumberToObject(o, "pendingOps", (double)(ops[SLOOP_OP_PENDING] + ops[SLOOP_OP_SYNCING]));
  cJSON_AddNumberToObject(o, "failedOps", (double)ops[SLOOP_OP_FAILED]);
  cJSON_AddNumberToObject(o, "openConflicts", (double)open_conflicts);
  *out = o ? sloop_print(o, out_len) : NULL;
  cJSON_Delete(o);
  return *out ? SLOOP_OK : SLOOP_NOMEM;
}

int sloop_take_changes(sloop_db *db, char **out, size_t *out_len) {
  *out = NULL;
  if (out_len) *out_len = 0;
  if (!db->changes) {
    *out = sloop_strndup("[]", 2);
    if (*out && out_len) *out_len = 2;
    return *out ? SLOOP_OK : SLOOP_NOMEM;
  }
  *out = sloop_print(db->changes, out_len);
  if (!*out) return SLOOP_NOMEM;
  cJSON_Delete(db->changes);
  db->changes = NULL;
  db->nchanges = 0;
  return SLOOP_OK;
}

int sloop_ops(sloop_db *db, const char *status, char **out, size_t *out_len) {
  if (db->role != SLOOP_ROLE_CLIENT) return sloop_fail(db, SLOOP_INVALID, "the operation log lives on clients");
  static const char *const names[] = {"pending", "syncing", "synced", "failed"};
  int code = -1;
  for (int i = 0; status && i < 4; i++)
    if (strcmp(status, names[i]) == 0) code = i;
  if (status && code < 0) return sloop_fail(db, SLOOP_INVALID, "unknown operation status '%.16s'", status);
  char bind[8];
  snprintf(bind, sizeof(bind), "%d", code);
  return run_text(db,
                  "SELECT json_group_array(json_object('id', id, 'type', type, 'coll', coll,"
                  " 'rid', rid, 'hlc', hlc, 'base', base, 'payload', json(payload),"
                  " 'status', CASE status WHEN 0 THEN 'pending' WHEN 1 THEN 'syncing'"
                  "   WHEN 2 THEN 'synced' ELSE 'failed' END,"
                  " 'attempts', attempts, 'lastError', last_error))"
                  " FROM (SELECT * FROM oplog WHERE ?1 = '-1' OR status = CAST(?1 AS INTEGER) ORDER BY seq)",
                  bind, out, out_len);
}

int sloop_conflicts(sloop_db *db, int open_only, char **out, size_t *out_len) {
  return run_text(db,
                  "SELECT json_group_array(json_object('id', id, 'coll', coll, 'rid', rid,"
                  " 'field', field, 'server', json(server), 'incoming', json(incoming), 'op', op,"
                  " 'device', device, 'user', user, 'hlc', hlc, 'status', status,"
                  " 'resolution', json(resolution), 'version', version))"
                  " FROM (SELECT * FROM conflicts WHERE ?1 = '0' OR status != 'resolved' ORDER BY id)",
                  open_only ? "1" : "0", out, out_len);
}
