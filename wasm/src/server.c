/*
** server.c -- the server side of a push: applying pushed operations to the canonical state
** (docs/PROTOCOL.md). Pull answers are server_pull.c's; the request envelope is
** server_request.c's.
**
** One database is one tenant, so nothing here can reach another tenant's rows; the HTTP layer
** picks the database from the token. Every accepted change gets the next version of the
** tenant (meta 'version'), which is the pull cursor. The records table is the change log,
** compacted to the newest version of each record; deletes stay as tombstones until
** sloop_server_compact() forgets them, after which older cursors must resync.
**
** Idempotency: every answered operation id is kept in applied_ops with its answer, so a push
** replayed by a retry, a service worker or an attacker applies nothing twice (server_batch.c).
**
** Clock discipline: an operation whose HLC is further ahead of the server's wall clock than
** the schema's maxDriftMs is, under the default "clamp" policy, re-stamped with the server's
** clock and answered with "clamped": true; under "reject" it is rejected with code "drift".
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "server.h"

#define MAX_BATCH 1000

static cJSON *rejection(const char *id, int code, const char *message) {
  cJSON *r = cJSON_CreateObject();
  cJSON_AddStringToObject(r, "id", id);
  cJSON_AddStringToObject(r, "status", "rejected");
  cJSON_AddStringToObject(r, "code", sloop_errcode(code));
  cJSON_AddStringToObject(r, "message", message);
  return r;
}

/* Records a conflict and returns its protocol form in *out. */
static int insert_conflict(sloop_db *db, const sloop_op *op, const sloop_server_ctx *pc, const cJSON *c,
                           int64_t version, cJSON **out) {
  char *server = sloop_print(sloop_member(c, "server"), NULL);
  char *incoming = sloop_print(sloop_member(c, "incoming"), NULL);
  const char *field = sloop_member(c, "field")->valuestring;
  sqlite3_stmt *st;
  int rc = server && incoming ? sloop_prepare(db,
                                              "INSERT INTO conflicts(coll, rid, field, server, incoming, op, device, user, hlc, version)"
                                              " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
                                              &st)
                              : SLOOP_NOMEM;
  if (!rc) {
    const char *texts[] = {op->coll, op->rid, field, server, incoming, op->id, pc->device, pc->user, op->hlc_str};
    for (int i = 0; i < 9; i++) sqlite3_bind_text(st, i + 1, texts[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, version);
    if (sqlite3_step(st) != SQLITE_DONE) rc = sloop_sql_fail(db, SQLITE_ERROR, "insert conflict");
    sloop_finalize(db, st);
  }
  if (!rc) {
    cJSON *j = cJSON_Duplicate(c, 1);
    cJSON_AddNumberToObject(j, "id", (double)sqlite3_last_insert_rowid(db->sql));
    cJSON_AddStringToObject(j, "coll", op->coll);
    cJSON_AddStringToObject(j, "rid", op->rid);
    cJSON_AddStringToObject(j, "op", op->id);
    if (pc->device) cJSON_AddStringToObject(j, "device", pc->device);
    if (pc->user) cJSON_AddStringToObject(j, "user", pc->user);
    cJSON_AddStringToObject(j, "hlc", op->hlc_str);
    cJSON_AddStringToObject(j, "status", "open");
    cJSON_AddNumberToObject(j, "version", (double)version);
    *out = j;
  }
  free(server);
  free(incoming);
  return rc;
}

/* Turns a resolve into a write of the chosen value and closes the conflict. The write is
** made as if against the newest version (base = the record's version), because resolving is
** a decision taken with both sides in view. */
static int prepare_resolve(sloop_db *db, sloop_op *op, cJSON **patch, int64_t *conflict_id, char *msg) {
  const cJSON *cid = sloop_member(op->payload, "conflict");
  *conflict_id = (int64_t)cid->valuedouble;
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT field, status FROM conflicts WHERE id = ?1 AND coll = ?2 AND rid = ?3", &st);
  if (rc) return rc;
  sqlite3_bind_int64(st, 1, *conflict_id);
  sqlite3_bind_text(st, 2, op->coll, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, op->rid, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_ROW) {
    rc = SLOOP_NOTFOUND;
    snprintf(msg, 200, "no conflict %lld on this record", (long long)*conflict_id);
  } else if (strcmp((const char *)sqlite3_column_text(st, 1), "open") != 0) {
    rc = SLOOP_INVALID;
    snprintf(msg, 200, "conflict %lld is already resolved", (long long)*conflict_id);
  } else {
    *patch = cJSON_CreateObject();
    cJSON *fop = *patch ? cJSON_AddObjectToObject(*patch, (const char *)sqlite3_column_text(st, 0)) : NULL;
    if (!fop || !cJSON_AddItemToObject(fop, "set", cJSON_Duplicate(sloop_member(op->payload, "value"), 1)))
      rc = SLOOP_NOMEM;
    op->type = SLOOP_OP_PATCH;
    op->payload = *patch;
    op->base = INT64_MAX / 2;
  }
  sloop_finalize(db, st);
  return rc;
}

/* Closes a conflict and returns its closed record in *out, for the resolve's answer: the
** device that resolved learns from the answer itself, as from a pull, that it is closed. */
static int close_conflict(sloop_db *db, int64_t id, const cJSON *value, int64_t version, cJSON **out) {
  char *text = sloop_print(value, NULL);
  sqlite3_stmt *st;
  int rc = text ? sloop_prepare(db, "UPDATE conflicts SET status = 'resolved', resolution = ?2, version = ?3 WHERE id = ?1", &st) : SLOOP_NOMEM;
  if (!rc) {
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, version);
    if (sqlite3_step(st) != SQLITE_DONE) rc = sloop_sql_fail(db, SQLITE_ERROR, "close conflict");
    sloop_finalize(db, st);
  }
  free(text);
  if (!rc) rc = sloop_prepare(db, "SELECT " SLOOP_CONFLICT_JSON " FROM conflicts WHERE id = ?1", &st);
  if (!rc) {
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) rc = sloop_sql_fail(db, SQLITE_ERROR, "read closed conflict");
    else if (!(*out = sloop_json_parse_text((const char *)sqlite3_column_text(st, 0)))) rc = SLOOP_NOMEM;
    sloop_finalize(db, st);
  }
  return rc;
}

/* Applies one validated operation to its record as the batch holds it (server_rows.c, which
** writes it at the batch's end); *result gets its answer. */
static int apply_one(sloop_db *db, sloop_op *op, const sloop_server_ctx *pc, sloop_push_batch *b,
                     sloop_batch_rows *rows, cJSON **result, int *changed) {
  const sloop_coll_schema *cs = sloop_schema_coll(&db->schema, op->coll);
  char msg[200] = "";
  *changed = 0;
  if (!sloop_perm_allows(pc->perms, "write", op->coll)) {
    *result = rejection(op->id, SLOOP_DENIED, "you may not write to this collection");
    return SLOOP_OK;
  }
  int clamped = 0;
  if (sloop_clock_merge(db, op->hlc) == SLOOP_DRIFT) {
    if (db->schema.drift_policy == SLOOP_DRIFT_REJECT) {
      *result = rejection(op->id, SLOOP_DRIFT, "timestamp is ahead of the server clock by more than the allowed drift");
      return SLOOP_OK;
    }
    int rc = sloop_clock_tick(db, op->hlc_str);
    if (rc) return rc;
    sloop_hlc_parse(op->hlc_str, strlen(op->hlc_str), &op->hlc);
    clamped = 1;
  }
  b->clock_moved = 1;
  cJSON *patch = NULL;
  int64_t conflict_id = 0;
  const cJSON *resolution = op->type == SLOOP_OP_RESOLVE ? sloop_member(op->payload, "value") : NULL;
  int rc = SLOOP_OK;
  if (op->type == SLOOP_OP_RESOLVE) {
    /* `resolution` points into the request body, which outlives this call. */
    rc = prepare_resolve(db, op, &patch, &conflict_id, msg);
    if (rc == SLOOP_NOTFOUND || rc == SLOOP_INVALID) {
      *result = rejection(op->id, rc, msg);
      cJSON_Delete(patch);
      return SLOOP_OK;
    }
  }
  sloop_batch_row *row = NULL;
  int64_t version = 0;
  sloop_apply_result res = {0};
  cJSON *closed = NULL; /* a resolve's conflict, closed */
  if (!rc) rc = sloop_rows_get(rows, op->coll, op->rid, &row);
  if (!rc) rc = sloop_rows_load(db, row);
  if (!rc) version = ++b->version;
  /* A state fresh from the database is applied to in place and dropped unless the operation
  ** applies; one this batch changed already is applied to through a copy. */
  sloop_apply_ctx actx = {version, db->merge_cb ? sloop_custom_merge : NULL, db, row && !row->dirty};
  if (!rc) rc = sloop_apply(cs, row->row.state, op, &actx, &res);
  if (rc) goto done;
  if (res.outcome == SLOOP_REJECTED) {
    *result = rejection(op->id, res.code, res.message);
    b->version--; /* not used: given back so versions stay dense */
    if (actx.scratch) sloop_rows_drop(row);
    goto done;
  }
  row->row.version = version;
  row->dirty = 1;
  if (conflict_id) rc = close_conflict(db, conflict_id, resolution, version, &closed);
  if (rc) goto done;
  *changed = 1;
  cJSON *r = cJSON_CreateObject();
  cJSON_AddStringToObject(r, "id", op->id);
  cJSON_AddStringToObject(r, "status", res.outcome == SLOOP_CONFLICTED ? "conflict" : "applied");
  cJSON_AddNumberToObject(r, "version", (double)version);
  if (clamped) cJSON_AddBoolToObject(r, "clamped", 1);
  if (closed) cJSON_AddItemToObject(r, "conflict", closed);
  closed = NULL;
  const cJSON *c;
  cJSON_ArrayForEach(c, res.conflicts) {
    cJSON *conflict = NULL;
    rc = insert_conflict(db, op, pc, c, version, &conflict);
    if (rc) break;
    /* One conflict per field; the answer carries the first, pulls carry them all. */
    if (!sloop_member(r, "conflict")) cJSON_AddItemToObject(r, "conflict", conflict);
    else cJSON_Delete(conflict);
  }
  *result = r;
done:
  cJSON_Delete(closed);
  cJSON_Delete(patch);
  cJSON_Delete(res.conflicts);
  return rc;
}

/* Looks up an answered operation; *stored is its answer or NULL. */
static int lookup_applied(sloop_db *db, const char *device, int64_t seq, const char *id, const sloop_server_ctx *pc,
                          cJSON **stored) {
  *stored = NULL;
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT result, user FROM applied_ops WHERE device = ?1 AND seq = ?2 AND id = ?3", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, seq);
  sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) {
    const char *user = (const char *)sqlite3_column_text(st, 1);
    if (pc->user && user && strcmp(user, pc->user) != 0)
      *stored = rejection(id, SLOOP_DENIED, "operation belongs to another user");
    else
      *stored = sloop_json_parse_text((const char *)sqlite3_column_text(st, 0));
    if (!*stored) rc = SLOOP_NOMEM;
  }
  sloop_finalize(db, st);
  return rc;
}

/* Notes a record the answer must carry, once, in first-touched order. Operation `i` (-1: a
** replay) applied to it: after the batch's last operation on the record, it is written. */
static int touch(sloop_batch_rows *rows, const char *coll, const char *rid, int i, sloop_db *db) {
  sloop_batch_row *e;
  int rc = sloop_rows_get(rows, coll, rid, &e);
  if (!rc) rc = sloop_rows_touch(rows, e);
  if (!rc && i >= 0 && e->last_op == i) rc = sloop_rows_write(db, e);
  return rc;
}

/* Checks the structure of the batch before applying anything: every operation must be an
** object with a readable id of this device ("<device>:<sequence>"). A batch that fails this is
** refused whole, since there is no id to answer such an operation under. Everything else is
** decided per operation: an operation the schema refuses (unknown collection or field, a value
** of the wrong type for the policy, a malformed field) gets its rejection in refusals[i], is
** answered "rejected" under its id, and the rest of the batch goes on, so one operation a
** server cannot take never blocks a client's queue. */
static int validate_batch(sloop_db *db, const cJSON *ops, const char *device, sloop_op *parsed, int64_t *seqs,
                          cJSON **refusals) {
  int i = 0;
  const cJSON *j;
  size_t dlen = strlen(device);
  cJSON_ArrayForEach(j, ops) {
    if (!cJSON_IsObject(j)) return sloop_fail(db, SLOOP_INVALID, "operation %d: must be an object", i);
    const char *id = cJSON_GetStringValue(sloop_member(j, "id"));
    if (!id || !sloop_valid_id(id, strlen(id))) return sloop_fail(db, SLOOP_INVALID, "operation %d: id missing or invalid", i);
    char *end = NULL;
    if (strncmp(id, device, dlen) != 0 || id[dlen] != ':' || (seqs[i] = strtoll(id + dlen + 1, &end, 10)) <= 0 || *end)
      return sloop_fail(db, SLOOP_INVALID, "operation %d: id must be \"<device>:<sequence>\" of this device", i);
    char msg[200];
    int rc = sloop_op_parse(&db->schema, j, &parsed[i], msg);
    parsed[i].id = id;
    if (rc && !(refusals[i] = rejection(id, rc, msg))) return SLOOP_NOMEM;
    i++;
  }
  return SLOOP_OK;
}

/* Answers one operation not answered before: a step-up refusal (not remembered), a rejection
** found by validate_batch, or the operation applied; the answer is remembered under its id. */
static int answer_new(sloop_db *db, sloop_op *op, int64_t seq, cJSON *refusal, const char *device, const sloop_server_ctx *pc,
                      sloop_push_batch *b, sloop_batch_rows *rows, cJSON **result, int *changed) {
  *changed = 0;
  if (!refusal && op->step_up && pc->perms && !cJSON_IsTrue(sloop_member(pc->perms, "stepUp"))) {
    /* Not remembered: the same operation may go through after the user signs in again. */
    *result = rejection(op->id, SLOOP_DENIED, "this operation needs a fresh sign-in (step-up)");
    return SLOOP_OK;
  }
  /* No savepoint of its own: an operation that cannot be applied is answered `rejected` before
  ** it writes anything (sloop_apply is all or nothing in memory), and an error after its first
  ** write (storage, memory) fails the push, whose batch savepoint then rolls back every
  ** operation of it. A savepoint per operation bought nothing and cost two statements each. */
  int rc = SLOOP_OK;
  if (refusal) *result = refusal;
  else rc = apply_one(db, op, pc, b, rows, result, changed);
  char *text = NULL;
  if (!rc) rc = sloop_batch_remember(db, op->id, device, seq, pc, b, *result, &text);
  /* The answer goes out as the text just stored, not printed a second time with the rest. */
  cJSON *raw = rc ? NULL : cJSON_CreateRaw(text);
  if (raw) {
    cJSON_Delete(*result);
    *result = raw;
  }
  free(text);
  return rc;
}

static int sloop_server_push_run(sloop_db *db, const char *req, size_t req_len, const char *ctx,
                                 size_t ctx_len, char **out, size_t *out_len) {
  *out = NULL;
  if (out_len) *out_len = 0;
  if (db->role != SLOOP_ROLE_SERVER) return sloop_fail(db, SLOOP_INVALID, "push answers need a server database");
  cJSON *ctx_json = NULL, *body = NULL, *resp = NULL;
  sloop_op *parsed = NULL;
  cJSON **refusals = NULL;
  sloop_server_ctx pc = {0};
  const char *device = NULL;
  int version = SLOOP_WIRE_V1;
  sloop_wire_nodes wire = {0};
  int rc = sloop_server_ctx_parse(db, ctx, ctx_len, &ctx_json, &pc);
  if (!rc) rc = sloop_server_request(db, req, req_len, &pc, &body, &device, &version);
  if (!rc && !sloop_device_owner_ok(db, device, &pc)) rc = sloop_fail(db, SLOOP_DEVICE, "device belongs to another user");
  const cJSON *ops = body ? sloop_member(body, "ops") : NULL;
  if (!rc && !cJSON_IsArray(ops)) rc = sloop_fail(db, SLOOP_INVALID, "ops must be an array");
  int n = rc ? 0 : cJSON_GetArraySize(ops);
  if (!rc && n > MAX_BATCH) rc = sloop_fail(db, SLOOP_TOOBIG, "at most %d operations per push", MAX_BATCH);
  if (!rc && !(parsed = calloc((size_t)n + 1, sizeof(*parsed)))) rc = SLOOP_NOMEM;
  if (!rc && !(refusals = calloc((size_t)n + 1, sizeof(*refusals)))) rc = SLOOP_NOMEM;
  int64_t *seqs = rc ? NULL : malloc(((size_t)n + 1) * sizeof(*seqs));
  if (!rc && !seqs) rc = SLOOP_NOMEM;
  if (!rc) rc = validate_batch(db, ops, device, parsed, seqs, refusals);
  resp = rc ? NULL : cJSON_CreateObject();
  cJSON *results = resp ? cJSON_AddArrayToObject(resp, "results") : NULL;
  sloop_batch_rows rows;
  int rows_rc = sloop_rows_init(&rows, (size_t)n);
  if (!rc && (!results || rows_rc)) rc = SLOOP_NOMEM;
  /* One commit for the batch: each operation is still atomic (see answer_new), and nothing is
  ** acknowledged before the answer, which comes after this commit. A commit per
  ** operation cost three fsyncs each and capped a server at a few hundred operations/s. */
  if (!rc) rc = sloop_begin(db, "batch");
  int in_batch = !rc;
  sloop_push_batch batch;
  if (!rc) rc = sloop_batch_open(db, &batch);
  sloop_batch_ids ids = {0};
  if (!rc) rc = sloop_batch_ids_load(db, device, seqs, n, &ids);
  /* Each record's last operation in the batch, after which it is written (server_rows.c). */
  for (int i = 0; !rc && i < n; i++) {
    sloop_batch_row *e;
    if (refusals[i] || !parsed[i].coll || !parsed[i].rid) continue;
    if (!(rc = sloop_rows_get(&rows, parsed[i].coll, parsed[i].rid, &e))) e->last_op = i;
  }
  for (int i = 0; !rc && i < n; i++) {
    sloop_op *op = &parsed[i];
    cJSON *result = NULL;
    if (sloop_batch_ids_check(&ids, op->id)) rc = lookup_applied(db, device, seqs[i], op->id, &pc, &result);
    if (!rc && result) {
      /* A replayed answer carries the record too: the first answer may never have arrived. */
      const char *status = cJSON_GetStringValue(sloop_member(result, "status"));
      /* (Not for an operation that does not parse: it only reuses an answered id.) */
      if (status && strcmp(status, "rejected") != 0 && !refusals[i]) rc = touch(&rows, op->coll, op->rid, -1, db);
    } else if (!rc) {
      int changed = 0;
      cJSON *refusal = refusals[i];
      refusals[i] = NULL; /* answer_new hands it on as the result */
      rc = answer_new(db, op, seqs[i], refusal, device, &pc, &batch, &rows, &result, &changed);
      if (rc && result != refusal) cJSON_Delete(refusal);
      if (!rc && changed) rc = touch(&rows, op->coll, op->rid, i, db);
    }
    if (result) cJSON_AddItemToArray(results, result);
  }
  sloop_batch_ids_free(&ids);
  if (!rc && in_batch) rc = sloop_rows_flush(db, &rows);
  if (!rc && in_batch) rc = sloop_batch_store(db, &batch, device, &pc);
  if (in_batch) rc = sloop_end(db, "batch", rc);
  cJSON *records = NULL;
  if (!rc) rc = sloop_rows_answer(db, &rows, version == SLOOP_WIRE_V2 ? &wire : NULL, &records);
  if (!rc) {
    cJSON_AddNumberToObject(resp, "v", version);
    cJSON_AddItemToObject(resp, "records", records);
    records = NULL;
    if (version == SLOOP_WIRE_V2 && !cJSON_AddItemToObject(resp, "nodes", sloop_wire_nodes_json(&wire))) rc = SLOOP_NOMEM;
    char hlc[SLOOP_HLC_STRLEN];
    sloop_hlc_format(db->clock, hlc);
    cJSON_AddStringToObject(resp, "hlc", hlc);
    if (!rc && !(*out = sloop_print(resp, out_len))) rc = SLOOP_NOMEM;
  }
  sloop_wire_nodes_free(&wire);
  for (int i = 0; refusals && i < n; i++) cJSON_Delete(refusals[i]);
  free(refusals);
  free(parsed);
  free(seqs);
  cJSON_Delete(records);
  sloop_rows_free(&rows);
  cJSON_Delete(resp);
  cJSON_Delete(body);
  cJSON_Delete(ctx_json);
  return rc;
}

/* The hot path's cJSON trees come from the pool (json_pool.c). */
int sloop_server_push(sloop_db *db, const char *req, size_t req_len, const char *ctx,
                      size_t ctx_len, char **out, size_t *out_len) {
  int outer = sloop_json_pool_enter();
  int rc = sloop_server_push_run(db, req, req_len, ctx, ctx_len, out, out_len);
  sloop_json_pool_leave(outer);
  return rc;
}

int sloop_server_compact(sloop_db *db, int64_t version) {
  if (db->role != SLOOP_ROLE_SERVER) return sloop_fail(db, SLOOP_INVALID, "compaction is for server databases");
  int rc = sloop_begin(db, "compact");
  if (rc) return rc;
  sqlite3_stmt *st;
  rc = sloop_prepare(db, "DELETE FROM records WHERE doc IS NULL AND version <= ?1", &st);
  if (!rc) {
    sqlite3_bind_int64(st, 1, version);
    if (sqlite3_step(st) != SQLITE_DONE) rc = sloop_sql_fail(db, SQLITE_ERROR, "compact");
    sloop_finalize(db, st);
  }
  int64_t horizon = 0;
  if (!rc && (rc = sloop_meta_get_int(db, "horizon", &horizon)) == SLOOP_NOTFOUND) rc = SLOOP_OK;
  if (!rc && version > horizon) rc = sloop_meta_set_int(db, "horizon", version);
  return sloop_end(db, "compact", rc);
}

int sloop_server_clock(sloop_db *db, const char *hlc, size_t len) {
  if (db->role != SLOOP_ROLE_SERVER) return sloop_fail(db, SLOOP_INVALID, "the tenant clock is for server databases");
  sloop_hlc remote;
  if (sloop_hlc_parse(hlc, len, &remote)) return sloop_fail(db, SLOOP_INVALID, "tenant clock is not a timestamp");
  /* No drift bound here: the stored clock passed it when an operation moved it, against that
  ** process's wall clock; refusing it now would only let this process hand out older times. */
  /* The node stays this handle's: the timestamps it hands out are still its own. */
  if (remote.pt > db->clock.pt || (remote.pt == db->clock.pt && remote.lc > db->clock.lc)) {
    db->clock.pt = remote.pt;
    db->clock.lc = remote.lc;
  }
  return SLOOP_OK;
}
