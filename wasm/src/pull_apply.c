/*
** pull_apply.c -- the client side of a pull: the request (cursor, scope, "fresh") and the
** answer applied in one transaction: results first, then the changes, conflicts, the
** acknowledged operations the cursor now covers, the snapshot's bookkeeping (resync.c).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "client_sync.h"
#include "wire.h"

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
  cJSON_AddNumberToObject(req, "v", SLOOP_WIRE_V2); /* answers in the compact form (wire.h) */
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
  int rc = sloop_prepare(db, "SELECT DISTINCT coll, rid FROM oplog WHERE status = ?2 AND acked_version <= ?1", &st);
  if (rc) return rc;
  sqlite3_bind_int64(st, 1, cursor);
  sqlite3_bind_int(st, 2, SLOOP_OP_SYNCED);
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
    rc = sloop_compact_record(db, coll, rid, cursor);
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
  cJSON *json = sloop_parse_answer(db, resp, resp_len);
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
  if (cJSON_IsArray(results)) rc = sloop_apply_results(db, results, touched);
  if (!rc) rc = sloop_apply_changes(db, json, "changes");
  const cJSON *c;
  cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(json, "conflicts")) {
    if (!rc) rc = sloop_store_conflict(db, c);
  }
  if (!rc) rc = forget_covered(db, (int64_t)cursor->valuedouble, touched);
  if (!rc) rc = sloop_settle_touched(db, touched);
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
