/*
** client.c -- local writes: put, patch, delete and resolve become operations.
**
** A write is turned into field operations against the record's current local state (a counter
** given as a number becomes the increment that reaches it; a set given as an array becomes the
** adds and removes that reach it), applied with the shared merge code, and appended to the
** operation log, all in one savepoint: the state change and its operation commit together or
** not at all.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_sync.h"
#include "json.h"

typedef struct write_req {
  const char *type;     /* "put", "patch", "delete", "resolve" */
  const char *coll;
  const char *id;
  cJSON *input;         /* the caller's document or patch; NULL for delete. A put's or a
                        ** patch's plain values move from it into the operation (build_payload). */
  int64_t conflict_id;  /* resolve only */
  const char *field;    /* resolve only */
} write_req;

static int schema_fail(sloop_db *db, const char *field, const char *why) {
  return sloop_fail(db, SLOOP_SCHEMA, "field '%.64s': %s", field, why);
}

/* Adds {"inc": target - current} for a counter given a number (null resets to 0). */
static int counter_op(sloop_db *db, const char *field, const cJSON *in, const cJSON *fs, cJSON *fop) {
  const cJSON *n = sloop_member(fs, "n");
  double cur = cJSON_IsNumber(n) ? n->valuedouble : 0;
  const cJSON *inc = cJSON_IsObject(in) ? sloop_member(in, "$inc") : NULL;
  double delta;
  if (inc && cJSON_IsNumber(inc) && cJSON_GetArraySize(in) == 1) delta = inc->valuedouble;
  else if (cJSON_IsNumber(in)) delta = in->valuedouble - cur;
  else if (cJSON_IsNull(in)) delta = -cur;
  else return schema_fail(db, field, "a counter takes a number or {\"$inc\": n}");
  if (!isfinite(delta) || fabs(delta) > 9e15) return schema_fail(db, field, "counter value out of range");
  return cJSON_AddNumberToObject(fop, "inc", delta) ? SLOOP_OK : SLOOP_NOMEM;
}

static int is_string_array(const cJSON *a) {
  if (!cJSON_IsArray(a)) return 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, a) if (!cJSON_IsString(e) || !sloop_valid_utf8(e->valuestring, strlen(e->valuestring))) return 0;
  return 1;
}

static int contains(const cJSON *arr, const char *s) {
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) if (strcmp(e->valuestring, s) == 0) return 1;
  return 0;
}

/* Builds {"add": {elem: tag}, "rem": [tags]} for a set. Each add gets its own tag (the op id
** and a counter) because a remove deletes tags, and a tag shared by two elements would take
** both with it. */
static int set_op(sloop_db *db, const char *field, const cJSON *in, const cJSON *fs, const char *op_id, cJSON *fop) {
  const cJSON *adds_state = sloop_member(fs, "a");
  const cJSON *to_add = NULL, *to_remove = NULL;
  cJSON *computed_remove = NULL;
  if (cJSON_IsObject(in)) {
    to_add = sloop_member(in, "$add");
    to_remove = sloop_member(in, "$remove");
    if ((to_add && !is_string_array(to_add)) || (to_remove && !is_string_array(to_remove)) ||
        cJSON_GetArraySize(in) != (to_add != NULL) + (to_remove != NULL))
      return schema_fail(db, field, "a set patch takes {\"$add\": [strings], \"$remove\": [strings]}");
  } else if (is_string_array(in) || cJSON_IsNull(in)) {
    /* Whole new contents: add what is new, remove what is present and not listed. */
    to_add = in;
    computed_remove = cJSON_CreateArray();
    if (!computed_remove) return SLOOP_NOMEM;
    const cJSON *e;
    cJSON_ArrayForEach(e, adds_state) {
      if (cJSON_IsNull(in) || !contains(in, e->string)) cJSON_AddItemToArray(computed_remove, cJSON_CreateString(e->string));
    }
    to_remove = computed_remove;
  } else {
    return schema_fail(db, field, "a set takes an array of strings");
  }
  int rc = SLOOP_NOMEM;
  cJSON *add = cJSON_AddObjectToObject(fop, "add");
  cJSON *rem = cJSON_AddArrayToObject(fop, "rem");
  if (!add || !rem) goto done;
  int n = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, to_add) {
    const cJSON *present = sloop_member(adds_state, e->valuestring);
    if (cJSON_GetArraySize(present) > 0 && !cJSON_IsNull(in) && !cJSON_IsObject(in)) continue;
    char tag[128];
    snprintf(tag, sizeof(tag), "%s#%d", op_id, n++);
    if (!cJSON_AddStringToObject(add, e->valuestring, tag)) goto done;
  }
  cJSON_ArrayForEach(e, to_remove) {
    const cJSON *tags = sloop_member(adds_state, e->valuestring);
    const cJSON *t;
    cJSON_ArrayForEach(t, tags) {
      cJSON *copy = cJSON_CreateString(t->valuestring);
      if (!copy || !cJSON_AddItemToArray(rem, copy)) goto done;
    }
  }
  rc = SLOOP_OK;
done:
  cJSON_Delete(computed_remove);
  return rc;
}

/* Translates the caller's document or patch into the protocol's field operations. A value
** written as it is (a register's) moves from the input into the operation rather than being
** copied: the input is not read again, and a copy of every value was a tenth of a put's
** cJSON work. */
static int build_payload(sloop_db *db, const sloop_coll_schema *cs, const write_req *w,
                         const sloop_row *row, const char *op_id, const char *hlc, cJSON *payload) {
  const cJSON *fields = sloop_member(row->state, "f");
  for (cJSON *in = w->input->child, *next; in; in = next) {
    next = in->next;
    const char *field = in->string;
    if (!sloop_valid_name(field, strlen(field), 0))
      return sloop_fail(db, SLOOP_INVALID, "invalid field name '%.64s'", field);
    if (cs->strict && !sloop_member(cs->fields, field))
      return sloop_fail(db, SLOOP_SCHEMA, "unknown field '%.64s' in collection '%.64s' (it is strict)", field, w->coll);
    cJSON *fop = cJSON_AddObjectToObject(payload, field);
    if (!fop) return SLOOP_NOMEM;
    const cJSON *fs = sloop_member(fields, field);
    int rc, empty = 0;
    sloop_policy p = sloop_field_policy(cs, field);
    switch (p) {
      case SLOOP_POLICY_COUNTER: rc = counter_op(db, field, in, fs, fop); break;
      case SLOOP_POLICY_SET: rc = set_op(db, field, in, fs, op_id, fop); break;
      case SLOOP_POLICY_TEXT:
      case SLOOP_POLICY_LIST:
        rc = sloop_client_seq_op(db, p, field, in, fs, sloop_member(sloop_member(row->base, "f"), field), hlc, fop, &empty);
        if (!rc && empty) cJSON_Delete(cJSON_DetachItemViaPointer(payload, fop)); /* nothing changed */
        break;
      default:
        if (cJSON_IsNull(in)) rc = cJSON_AddTrueToObject(fop, "unset") ? SLOOP_OK : SLOOP_NOMEM;
        else {
          cJSON_DetachItemViaPointer(w->input, in); /* `field` is freed: not read below */
          rc = cJSON_AddItemToObject(fop, "set", in) ? SLOOP_OK : (cJSON_Delete(in), SLOOP_NOMEM);
        }
    }
    if (rc) return rc;
  }
  return SLOOP_OK;
}

/* Builds the operation JSON for a write against `row`. Caller frees *out. */
static int build_op(sloop_db *db, const sloop_coll_schema *cs, const write_req *w,
                    const sloop_row *row, cJSON **out) {
  char hlc[SLOOP_HLC_STRLEN];
  char op_id[96];
  snprintf(op_id, sizeof(op_id), "%s:%lld", db->device, (long long)(db->op_seq + 1));
  int rc;
  sloop_clock_next(db, hlc); /* persisted with the write (local_write) */
  cJSON *op = cJSON_CreateObject();
  cJSON *payload = NULL;
  if (!op || !cJSON_AddStringToObject(op, "id", op_id) || !cJSON_AddStringToObject(op, "type", w->type) ||
      !cJSON_AddStringToObject(op, "coll", w->coll) || !cJSON_AddStringToObject(op, "rid", w->id) ||
      !cJSON_AddStringToObject(op, "hlc", hlc) || !cJSON_AddNumberToObject(op, "base", (double)row->version))
    goto nomem;
  if (w->input || w->field) {
    if (!(payload = cJSON_AddObjectToObject(op, "payload"))) goto nomem;
    if (w->field) {
      if (!cJSON_AddNumberToObject(payload, "conflict", (double)w->conflict_id) ||
          !cJSON_AddStringToObject(payload, "field", w->field) ||
          !cJSON_AddItemToObject(payload, "value", cJSON_Duplicate(w->input, 1)))
        goto nomem;
    } else if ((rc = build_payload(db, cs, w, row, op_id, hlc, payload))) {
      cJSON_Delete(op);
      return rc;
    }
  }
  *out = op;
  return SLOOP_OK;
nomem:
  cJSON_Delete(op);
  return SLOOP_NOMEM;
}

static int append_oplog(sloop_db *db, const cJSON *op) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db,
                         "INSERT INTO oplog(id, type, coll, rid, hlc, base, payload, seq)"
                         " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                         &st);
  if (rc) return rc;
  const cJSON *payload = sloop_member(op, "payload");
  char *payload_text = payload ? sloop_print(payload, NULL) : sloop_strndup("{}", 2);
  if (!payload_text) {
    sloop_finalize(db, st);
    return SLOOP_NOMEM;
  }
  const char *keys[] = {"id", "type", "coll", "rid", "hlc"};
  for (int i = 0; i < 5; i++)
    sqlite3_bind_text(st, i + 1, sloop_member(op, keys[i])->valuestring, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 6, (sqlite3_int64)sloop_member(op, "base")->valuedouble);
  sqlite3_bind_text(st, 7, payload_text, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 8, sloop_oplog_seq(db, sloop_member(op, "id")->valuestring));
  int src = sqlite3_step(st);
  if (src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "append operation");
  sloop_finalize(db, st);
  free(payload_text);
  return rc;
}

/* The write's changes to the database, in order. The operation goes in first: the row's save
** keeps the base while the log has any of the record's operations. */
static int store_write(sloop_db *db, const sloop_coll_schema *cs, const write_req *w, const cJSON *op_json,
                       sloop_row *row, char *folded_into, size_t size, int *folded) {
  int rc = sloop_oplog_coalesce(db, cs, op_json, folded_into, size, folded);
  if (!rc && !*folded) rc = append_oplog(db, op_json);
  if (!rc) rc = sloop_row_save(db, w->coll, w->id, row);
  if (!rc) db->meta_pending = 1; /* op_seq and the clock: stored before the commit */
  if (!rc && w->field) {
    sqlite3_stmt *st;
    rc = sloop_prepare(db, "UPDATE conflicts SET status = 'resolving' WHERE id = ?1", &st);
    if (!rc) {
      sqlite3_bind_int64(st, 1, w->conflict_id);
      if (sqlite3_step(st) != SQLITE_DONE) rc = sloop_sql_fail(db, SQLITE_ERROR, "resolve");
      sloop_finalize(db, st);
    }
  }
  return rc;
}

/* Runs one local write end to end: everything that can refuse it first, in memory, then its
** changes to the database (store_write), in a savepoint when no transaction is open. */
static int local_write(sloop_db *db, const write_req *w) {
  if (db->role != SLOOP_ROLE_CLIENT) return sloop_fail(db, SLOOP_INVALID, "local writes need a client database");
  if (!sloop_valid_name(w->coll, strlen(w->coll), 0))
    return sloop_fail(db, SLOOP_INVALID, "invalid collection name '%.64s'", w->coll);
  if (!sloop_valid_id(w->id, strlen(w->id)))
    return sloop_fail(db, SLOOP_INVALID, "record id must be 1..128 bytes of UTF-8 without control characters");
  const sloop_coll_schema *cs = sloop_schema_coll(&db->schema, w->coll);
  if (!cs) return sloop_fail(db, SLOOP_SCHEMA, "unknown collection '%.64s'", w->coll);
  sloop_row row;
  cJSON *op_json = NULL, *text_before = NULL;
  char folded_into[96] = "";
  int folded = 0;
  sloop_hlc clock_before = db->clock;
  int64_t seq_before = db->op_seq, elem_before = db->elem_next;
  sloop_write_scope scope;
  int rc = sloop_write_begin(db, "write", &scope);
  if (rc) return rc;
  rc = sloop_row_load(db, w->coll, w->id, &row);
  if (!rc) rc = build_op(db, cs, w, &row, &op_json);
  if (!rc) rc = sloop_text_snapshot(cs, row.state, &text_before);
  if (rc) goto done;
  sloop_op op;
  char msg[200];
  sloop_apply_result res;
  const sloop_apply_ctx ctx = {0, db->merge_cb ? sloop_custom_merge : NULL, db, 1}; /* row dropped unless applied */
  rc = sloop_op_parse(&db->schema, op_json, &op, msg);
  if (rc) {
    rc = sloop_fail(db, rc, "%s", msg);
    goto done;
  }
  if (op.type == SLOOP_OP_RESOLVE) {
    /* Locally a resolution is a write of the chosen value; the server closes the conflict. */
    cJSON *patch = cJSON_CreateObject();
    cJSON *fop = cJSON_AddObjectToObject(patch, w->field);
    if (!fop || !cJSON_AddItemToObject(fop, "set", cJSON_Duplicate(w->input, 1))) rc = SLOOP_NOMEM;
    op.type = SLOOP_OP_PATCH;
    op.payload = patch;
    if (!rc) rc = sloop_apply(cs, row.state, &op, &ctx, &res);
    cJSON_Delete(patch);
  } else {
    rc = sloop_apply(cs, row.state, &op, &ctx, &res);
  }
  if (rc) goto done;
  cJSON_Delete(res.conflicts);
  if (res.outcome == SLOOP_REJECTED) {
    rc = sloop_fail(db, res.code, "%s", res.message);
    goto done;
  }
  /* A new record enters the machine as local-only; a synced one is modified, through the
  ** machine's own edge. In any other state the operation joins those still to be answered,
  ** and the state moves on with them. */
  if (!row.exists) row.sync = SLOOP_LOCAL_ONLY;
  else if (row.sync == SLOOP_SYNCED) rc = sloop_transition(db, w->coll, w->id, &row, SLOOP_MODIFIED);
  if (rc) goto done;
  scope.wrote = 1;
  rc = store_write(db, cs, w, op_json, &row, folded_into, sizeof(folded_into), &folded);
  if (!rc && db->elem_next != elem_before) rc = sloop_meta_set_int(db, "elem_next", db->elem_next);
  if (!rc && !folded) db->op_seq++; /* before the commit, which stores it (sloop_meta_flush) */
done:
  rc = sloop_write_end(db, &scope, rc);
  if (rc == SLOOP_OK) {
    snprintf(db->last_op, sizeof(db->last_op), "%s", folded ? folded_into : sloop_member(op_json, "id")->valuestring);
    if (text_before || sloop_text_fields(cs, row.state)) sloop_text_note(db, cs, w->coll, w->id, text_before, row.state, 1);
  } else {
    db->op_seq = seq_before; /* the persisted ones are as they were, or rolled back */
    db->elem_next = elem_before;
    db->clock = clock_before;
  }
  cJSON_Delete(op_json);
  cJSON_Delete(text_before);
  sloop_row_clear(&row);
  return rc;
}

/* Copies the (pointer, length) arguments and parses the JSON, then runs the write. */
static int write_from_args_run(sloop_db *db, const char *type, const char *coll, size_t coll_len,
                           const char *id, size_t id_len, const char *json, size_t json_len) {
  char *c = sloop_strndup(coll, coll_len);
  char *i = sloop_strndup(id, id_len);
  cJSON *input = NULL;
  int rc = SLOOP_OK;
  if (!c || !i) rc = SLOOP_NOMEM;
  else if (strlen(c) != coll_len || strlen(i) != id_len) rc = sloop_fail(db, SLOOP_INVALID, "names must not contain NUL");
  else if (json) {
    if (!sloop_valid_utf8(json, json_len)) rc = sloop_fail(db, SLOOP_JSON, "document is not valid UTF-8");
    else if (!(input = sloop_json_parse(json, json_len))) rc = sloop_fail(db, SLOOP_JSON, "document is not valid JSON");
    else if (!cJSON_IsObject(input)) rc = sloop_fail(db, SLOOP_SCHEMA, "document must be a JSON object");
  }
  if (!rc) {
    write_req w = {type, c, i, input, 0, NULL};
    rc = local_write(db, &w);
  }
  cJSON_Delete(input);
  free(c);
  free(i);
  return rc;
}

/* The hot path's cJSON trees come from the pool (json_pool.c). */
static int write_from_args(sloop_db *db, const char *type, const char *coll, size_t coll_len,
                           const char *id, size_t id_len, const char *json, size_t json_len) {
  int outer = sloop_json_pool_enter();
  int rc = write_from_args_run(db, type, coll, coll_len, id, id_len, json, json_len);
  sloop_json_pool_leave(outer);
  return rc;
}

int sloop_put(sloop_db *db, const char *coll, size_t coll_len, const char *id, size_t id_len,
              const char *json, size_t json_len) {
  return write_from_args(db, "put", coll, coll_len, id, id_len, json ? json : "", json_len);
}

/* A little-endian u32 length and the bytes it counts, from rows[*at]; 0 if it overruns. */
static int frame(const uint8_t *rows, size_t len, size_t *at, const char **bytes, size_t *n) {
  if (len - *at < 4) return 0;
  const uint8_t *p = rows + *at;
  size_t k = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
  if (len - *at - 4 < k) return 0;
  *bytes = (const char *)p + 4;
  *n = k;
  *at += 4 + k;
  return 1;
}

int sloop_put_many(sloop_db *db, const char *coll, size_t coll_len, const uint8_t *rows, size_t rows_len,
                   int count) {
  if (count < 0 || (!rows && rows_len)) return sloop_fail(db, SLOOP_INVALID, "put_many: bad arguments");
  int64_t seq_before = db->op_seq;
  char last_before[sizeof(db->last_op)];
  memcpy(last_before, db->last_op, sizeof(last_before));
  int rc = sloop_begin(db, "putmany");
  if (rc) return rc;
  size_t at = 0;
  for (int k = 0; k < count && !rc; k++) {
    const char *id, *json;
    size_t id_len, json_len;
    if (!frame(rows, rows_len, &at, &id, &id_len) || !frame(rows, rows_len, &at, &json, &json_len)) {
      rc = sloop_fail(db, SLOOP_INVALID, "row %d: its frame overruns the %zu bytes given", k, rows_len);
    } else if ((rc = sloop_put(db, coll, coll_len, id, id_len, json, json_len))) {
      char why[sizeof(db->errmsg)];
      memcpy(why, db->errmsg, sizeof(why));
      sloop_fail(db, rc, "row %d: %s", k, why);
    }
  }
  if (!rc && at != rows_len) rc = sloop_fail(db, SLOOP_INVALID, "%zu bytes after the last of %d rows", rows_len - at, count);
  rc = sloop_end(db, "putmany", rc);
  if (rc) { /* the rows written are rolled back: so are the ids they took */
    db->op_seq = seq_before;
    memcpy(db->last_op, last_before, sizeof(last_before));
  }
  return rc;
}

int sloop_patch(sloop_db *db, const char *coll, size_t coll_len, const char *id, size_t id_len,
                const char *json, size_t json_len) {
  return write_from_args(db, "patch", coll, coll_len, id, id_len, json ? json : "", json_len);
}

int sloop_delete(sloop_db *db, const char *coll, size_t coll_len, const char *id, size_t id_len) {
  return write_from_args(db, "delete", coll, coll_len, id, id_len, NULL, 0);
}

int sloop_resolve(sloop_db *db, int64_t conflict_id, const char *value_json, size_t value_len) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT coll, rid, field, status FROM conflicts WHERE id = ?1", &st);
  if (rc) return rc;
  sqlite3_bind_int64(st, 1, conflict_id);
  cJSON *value = NULL;
  if (sqlite3_step(st) != SQLITE_ROW) {
    rc = sloop_fail(db, SLOOP_NOTFOUND, "no conflict %lld", (long long)conflict_id);
  } else if (strcmp((const char *)sqlite3_column_text(st, 3), "open") != 0) {
    rc = sloop_fail(db, SLOOP_INVALID, "conflict %lld is not open", (long long)conflict_id);
  } else if (!(value = sloop_json_parse(value_json, value_len))) {
    rc = sloop_fail(db, SLOOP_JSON, "resolution value is not valid JSON");
  } else {
    write_req w = {"resolve", (const char *)sqlite3_column_text(st, 0),
                   (const char *)sqlite3_column_text(st, 1), value, conflict_id,
                   (const char *)sqlite3_column_text(st, 2)};
    rc = local_write(db, &w);
  }
  sloop_finalize(db, st);
  cJSON_Delete(value);
  return rc;
}
