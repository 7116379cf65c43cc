/*
** pull_apply.c -- the client side of a pull: the answer applied in one transaction (the request
** is pull_request.c's): results first, then the changes, conflicts, the
** acknowledged operations the cursor now covers, the snapshot's bookkeeping (resync.c).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "client_sync.h"
#include "wire.h"

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

static int sloop_pull_apply_run(sloop_db *db, const char *resp, size_t resp_len, int *has_more) {
  if (has_more) *has_more = 0;
  sloop_json_spans docs = {.member = "doc"};
  cJSON *json = NULL;
  int parsed = sloop_parse_answer(db, resp, resp_len, &docs, &json);
  if (parsed) {
    sloop_json_spans_free(&docs);
    return parsed;
  }
  const cJSON *cursor = sloop_member(json, "cursor");
  const cJSON *changes = sloop_member(json, "changes");
  const cJSON *results = sloop_member(json, "results");
  const cJSON *ack = sloop_member(json, "ackSeq");
  cJSON *touched = cJSON_CreateArray();
  int64_t prev_cursor = 0, next_cursor = 0;
  int again = 0;
  int rc = touched ? SLOOP_OK : SLOOP_NOMEM;
  if (!rc && (!cJSON_IsNumber(cursor) || !cJSON_IsArray(changes)))
    rc = sloop_fail(db, SLOOP_INVALID, "pull answer needs a cursor and changes");
  /* A cursor or an operation sequence from the server: a whole number a double holds exactly.
  ** Anything else is refused, not converted: a double beyond int64's range has no defined
  ** conversion. */
  if (!rc && (!sloop_json_whole(cursor, SC_EXACT_MAX - 1) || (cJSON_IsNumber(ack) && !sloop_json_whole(ack, SC_EXACT_MAX - 1))))
    rc = sloop_fail(db, SLOOP_INVALID, "pull answer's cursor and ackSeq must be whole numbers from 0 to 2^53");
  if (!rc) rc = sloop_begin(db, "pull");
  if (rc) goto done;
  next_cursor = (int64_t)cursor->valuedouble;
  if ((rc = sloop_meta_get_int(db, "cursor", &prev_cursor)) == SLOOP_NOTFOUND) rc = SLOOP_OK;
  /* A page of many records leaves their search index entries to the catch-up (fts_behind.c). */
  if (!rc && cJSON_GetArraySize(changes) >= FTS_BEHIND_MIN) rc = sloop_fts_fall_behind(db);
  /* Results first: an operation the server applied must leave the log before rebasing, or
  ** its effect would count twice (once in the canonical state, once replayed). */
  if (!rc && cJSON_IsArray(results)) rc = sloop_apply_results(db, results, touched);
  if (!rc) rc = sloop_apply_changes(db, json, "changes", &docs);
  const cJSON *c;
  cJSON_ArrayForEach(c, sloop_member(json, "conflicts")) {
    if (!rc) rc = sloop_store_conflict(db, c);
  }
  if (!rc) rc = forget_covered(db, (int64_t)cursor->valuedouble, touched);
  if (!rc) rc = sloop_settle_touched(db, touched);
  if (!rc) rc = sloop_snapshot_apply(db, json, prev_cursor, &next_cursor, &again);
  if (!rc) rc = sloop_scope_after_page(db, changes, !again && !cJSON_IsTrue(sloop_member(json, "hasMore")));
  if (!rc) rc = sloop_meta_set_int(db, "cursor", next_cursor);
  if (!rc) rc = sloop_scope_catch_up(db, json, &again); /* after the cursor: a resync moves it to 0 */
  if (!rc && cJSON_IsNumber(ack)) rc = sloop_meta_set_int(db, "ack_seq", (int64_t)ack->valuedouble);
  if (!rc && cJSON_IsNumber(ack) && (int64_t)ack->valuedouble > db->op_seq) {
    /* The server applied operations of this device that its log does not remember: it was
    ** restored from a backup. New operations must not reuse those ids, or the server would
    ** take them for replays and answer what it answered before. */
    rc = sloop_meta_set_int(db, "op_seq", (int64_t)ack->valuedouble);
    if (!rc) db->op_seq = (int64_t)ack->valuedouble;
  }
  if (!rc) sloop_clock_recv(db, cJSON_GetStringValue(sloop_member(json, "hlc")));
  rc = sloop_end(db, "pull", rc);
  if (!rc && has_more) *has_more = again || cJSON_IsTrue(sloop_member(json, "hasMore"));
done:
  cJSON_Delete(touched);
  cJSON_Delete(json);
  sloop_json_spans_free(&docs);
  return rc;
}

/* The hot path's cJSON trees come from the pool (json_pool.c). */
int sloop_pull_apply(sloop_db *db, const char *resp, size_t resp_len, int *has_more) {
  int outer = sloop_json_pool_enter();
  int rc = sloop_pull_apply_run(db, resp, resp_len, has_more);
  sloop_json_pool_leave(outer);
  return rc;
}
