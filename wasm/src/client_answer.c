/*
** client_answer.c -- what a client takes from a server answer, push or pull alike: the
** operations' results, the conflicts, and the canonical records ("changes", "records"),
** in the protocol's JSON form (v1) or the compact one (v2, wire.h).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "client_sync.h"
#include "wire.h"

/* Stores (or updates) a conflict record from the server, keeping the newest copy.
**
** A conflict reaches a device in many copies of different ages: the push answer that opened
** it, a late or repeated push answer, the results a pull carries after a lost answer (each
** a stored answer, so the conflict as it was when it opened), a pull page, a late pull page
** (whose cursor is older than this device's), the last page of a snapshot. On the server a
** conflict changes only twice, opening and closing, and each time takes a new version, so
** the version orders the copies: one older than the stored copy is stale and changes
** nothing, whatever path brought it. A resolution, once here, is never reopened. */
int sloop_store_conflict(sloop_db *db, const cJSON *c) {
  const cJSON *id = sloop_member(c, "id");
  const char *coll = cJSON_GetStringValue(sloop_member(c, "coll"));
  const char *rid = cJSON_GetStringValue(sloop_member(c, "rid"));
  const char *field = cJSON_GetStringValue(sloop_member(c, "field"));
  const char *status = cJSON_GetStringValue(sloop_member(c, "status"));
  const cJSON *v = sloop_member(c, "version");
  if (!sloop_json_whole(id, 9e15) || (v && !sloop_json_whole(v, 9e15)) || !coll || !rid || !field || !status)
    return sloop_fail(db, SLOOP_INVALID, "malformed conflict record");
  char *server = sloop_print(sloop_member(c, "server"), NULL);
  char *incoming = sloop_print(sloop_member(c, "incoming"), NULL);
  char *resolution = sloop_print(sloop_member(c, "resolution"), NULL);
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
      sqlite3_bind_text(st, 7 + i, cJSON_GetStringValue(sloop_member(c, keys[i])), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 12, resolution, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 13, v ? (sqlite3_int64)v->valuedouble : 0);
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
int sloop_apply_results(sloop_db *db, const cJSON *results, cJSON *touched) {
  const cJSON *r;
  cJSON_ArrayForEach(r, results) {
    const char *id = cJSON_GetStringValue(sloop_member(r, "id"));
    const char *status = cJSON_GetStringValue(sloop_member(r, "status"));
    if (!id || !status) return sloop_fail(db, SLOOP_INVALID, "malformed operation result");
    sqlite3_stmt *st;
    int rc = sloop_prepare(db, "SELECT coll, rid FROM oplog WHERE seq = ?4 AND id = ?1 AND status IN (?2, ?3)", &st);
    if (rc) return rc;
    int64_t seq = sloop_oplog_seq(db, id);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, seq);
    sqlite3_bind_int(st, 2, SLOOP_OP_PENDING);
    sqlite3_bind_int(st, 3, SLOOP_OP_SYNCING);
    if (sqlite3_step(st) == SQLITE_ROW) {
      char key[SLOOP_NAME_MAX + SLOOP_ID_MAX + 2];
      snprintf(key, sizeof(key), "%s\x1f%s", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
      cJSON_AddItemToArray(touched, cJSON_CreateString(key));
    } else {
      sloop_finalize(db, st);
      continue; /* answered before, or discarded: nothing to do */
    }
    sloop_finalize(db, st);
    const cJSON *conflict = sloop_member(r, "conflict");
    if (cJSON_IsObject(conflict) && (rc = sloop_store_conflict(db, conflict))) return rc;
    if (strcmp(status, "rejected") == 0) {
      const char *code = cJSON_GetStringValue(sloop_member(r, "code"));
      const char *message = cJSON_GetStringValue(sloop_member(r, "message"));
      char err[300];
      snprintf(err, sizeof(err), "%s: %s", code ? code : "rejected", message ? message : "");
      rc = sloop_prepare(db, "UPDATE oplog SET status = ?3, last_error = ?2 WHERE seq = ?4", &st);
      if (rc) return rc;
      sqlite3_bind_text(st, 2, err, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int(st, 3, SLOOP_OP_FAILED);
    } else {
      const cJSON *version = sloop_member(r, "version");
      /* A version past 2^53 is no server's: converting it to an integer is undefined. */
      if (cJSON_IsNumber(version) && !(version->valuedouble >= 0 && version->valuedouble < SC_EXACT_MAX))
        return sloop_fail(db, SLOOP_INVALID, "malformed operation result");
      rc = sloop_prepare(db, "UPDATE oplog SET status = ?3, acked_version = ?2 WHERE seq = ?4", &st);
      if (rc) return rc;
      sqlite3_bind_int64(st, 2, cJSON_IsNumber(version) ? (sqlite3_int64)version->valuedouble : 0);
      sqlite3_bind_int(st, 3, SLOOP_OP_SYNCED);
    }
    sqlite3_bind_int64(st, 4, seq);
    int src = sqlite3_step(st);
    sloop_finalize(db, st);
    if (src != SQLITE_DONE) return sloop_sql_fail(db, src, "apply result");
  }
  return SLOOP_OK;
}

/* What an answer's changes read once, not once a record: applying them moves neither. */
typedef struct answer_facts {
  int64_t cursor; /* the pull cursor; -1 until read */
  int log;        /* whether the operation log holds anything; -1 until read */
  int64_t op_seq; /* db->op_seq when `log` was read: a local write since (from a custom merge
                  ** function, say) makes it stale */
  int fresh;      /* records are taken for new until one is found stored (apply_plain_wire) */
} answer_facts;

static int cursor_of(sloop_db *db, answer_facts *facts, int64_t *cursor) {
  if (facts->cursor < 0) {
    int rc = sloop_meta_get_int(db, "cursor", &facts->cursor);
    if (rc == SLOOP_NOTFOUND) facts->cursor = 0;
    else if (rc) return rc;
  }
  *cursor = facts->cursor;
  return SLOOP_OK;
}

/* Whether the record has operations in the log. An empty log (an initial sync, a device with
** nothing unsent) answers for every record of the answer: applying changes adds no operation
** (only a local write does, and it moves op_seq), so it stays empty; a query of the record's part of the log was a twentieth of a pulled
** record's cost. */
static int record_has_ops(sloop_db *db, answer_facts *facts, const char *coll, const char *rid, int *has) {
  *has = 0;
  if (facts->log < 0 || facts->op_seq != db->op_seq) {
    sqlite3_stmt *st;
    int rc = sloop_prepare(db, "SELECT EXISTS(SELECT 1 FROM oplog)", &st);
    if (rc) return rc;
    int src = sqlite3_step(st);
    facts->log = src == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    facts->op_seq = db->op_seq;
    sloop_finalize(db, st);
    if (src != SQLITE_ROW) return sloop_sql_fail(db, src, "read the operation log");
  }
  if (!facts->log) return SLOOP_OK;
  sloop_op_counts ops;
  int rc = sloop_op_counts_load(db, coll, rid, &ops);
  *has = !rc && sloop_ops_any(&ops);
  return rc;
}

/* plain_applies for a record with no row: *how 1 for a stale copy, 2 when the log holds
** nothing of it, else 0. */
static int plain_applies_new(sloop_db *db, const char *coll, const char *rid, int64_t v, answer_facts *facts,
                             int *how) {
  int64_t cursor = 0;
  int has_ops = 0;
  *how = 0;
  int rc = cursor_of(db, facts, &cursor);
  if (rc || v <= cursor) return *how = 1, rc; /* a stale copy: see apply_change */
  rc = record_has_ops(db, facts, coll, rid, &has_ops);
  if (!rc && !has_ops) *how = 2;
  return rc;
}

/* Whether apply_plain's path takes a record at version v: *how 0 (no: the general path), 1
** (nothing to do: already have it or newer, or a stale copy), 2 (store it: a record the server
** has, stored without a base, or a new record with nothing in the log). */
static int plain_applies(sloop_db *db, const char *coll, const char *rid, int64_t v, answer_facts *facts,
                         sloop_row_head *head, int *how) {
  int rc = sloop_row_head_load(db, coll, rid, head);
  *how = 0;
  if (rc) return rc;
  if (!head->exists) return plain_applies_new(db, coll, rid, v, facts, how);
  if (!(head->version > 0 && head->base_null)) return SLOOP_OK;
  if (v <= head->version) return *how = 1, SLOOP_OK; /* already have it, or newer */
  *how = 2;
  return SLOOP_OK;
}

/* The fast path of apply_change for a record with no operation in the log, which the row says
** without a query of the log (a record the server has, stored without a base) or a new record
** (one query): no rebase, nothing to compact, the pulled state is the record. It does exactly
** what the general path below does for such a record. *done is 0 when it does not apply. */
static int apply_plain(sloop_db *db, const char *coll, const char *rid, int64_t v, const cJSON *state, int evict,
                       answer_facts *facts, int *done) {
  sloop_row_head head;
  int how;
  int rc = plain_applies(db, coll, rid, v, facts, &head, &how);
  *done = how != 0;
  if (rc || how != 2) return rc;
  if (evict && head.exists) {
    /* Out of scope: a conflict still to be decided keeps the record (apply_change's rule). */
    int conflict = 0;
    rc = sloop_open_conflict(db, coll, rid, &conflict);
    return rc || conflict ? rc : sloop_row_delete(db, coll, rid);
  }
  if (evict || !sloop_state_visible(state)) return head.exists ? sloop_row_delete(db, coll, rid) : SLOOP_OK;
  /* No base: nothing in the log, so the pulled state is the canonical state too. */
  sloop_row row = {.exists = head.exists, .state = (cJSON *)state, .version = v,
                   .sync = head.exists ? head.sync : SLOOP_SYNCED, .rowid = head.rowid};
  return sloop_row_save(db, coll, rid, &row);
}

/* apply_plain for a v2 change without decoding its state into cJSON (pull_plain.c), when its
** document is the one its state shows. *done 0: the change goes the general way (wire_change,
** apply_change), which also refuses whatever is malformed. */
static int apply_plain_wire(sloop_db *db, const cJSON *ch, const sloop_wire_nodes *nodes, answer_facts *facts,
                            sloop_json_spans *docs, int *done) {
  const char *coll = cJSON_GetStringValue(sloop_member(ch, "coll"));
  const char *rid = cJSON_GetStringValue(sloop_member(ch, "rid"));
  const cJSON *version = sloop_member(ch, "version");
  const cJSON *s = sloop_member(ch, "state");
  const cJSON *doc = sloop_member(ch, "doc");
  const sloop_coll_schema *cs = coll ? sloop_schema_coll(&db->schema, coll) : NULL;
  *done = 0;
  if (!cs || !rid || !cJSON_IsNumber(version) || !(version->valuedouble >= 0 && version->valuedouble < SC_EXACT_MAX) ||
      !cJSON_IsString(s) || !cJSON_IsObject(doc) || sloop_member(ch, "evict") ||
      !sloop_valid_name(coll, strlen(coll), 0) || !sloop_valid_id(rid, strlen(rid)))
    return SLOOP_OK;
  int64_t v = (int64_t)version->valuedouble;
  sloop_row_head head = {0};
  int how = 0, stored = 0, rc = SLOOP_OK;
  uint8_t *blob = NULL;
  size_t len = 0, text_len = 0;
  const char *text = sloop_json_span_of(docs, doc, &text_len);
  /* In an initial sync every record is new: each is stored without looking for its row first
  ** (a tenth of such a record's cost). The first one found stored already turns that off for
  ** the rest of the answer, and it goes the way below, as any record then does. */
  if (facts->fresh && !(rc = plain_applies_new(db, coll, rid, v, facts, &how)) && how == 2) {
    rc = sloop_pull_plain_encode(db, cs, s->valuestring, strlen(s->valuestring), doc, nodes, &blob, &len);
    if (!rc && blob) rc = sloop_pull_plain_save(db, coll, rid, &head, v, doc, text, text_len, blob, len, &stored);
    if (rc || !blob || stored) goto done; /* no blob: not one for this path, whether stored or not */
    facts->fresh = 0;
  }
  if (!rc) rc = plain_applies(db, coll, rid, v, facts, &head, &how);
  if (rc || how != 2) goto done; /* a copy to skip still has its state checked, the general way */
  if (!blob) rc = sloop_pull_plain_encode(db, cs, s->valuestring, strlen(s->valuestring), doc, nodes, &blob, &len);
  if (!rc && blob) rc = sloop_pull_plain_save(db, coll, rid, &head, v, doc, text, text_len, blob, len, NULL);
  stored = 1;
done:
  *done = !rc && blob && stored;
  free(blob);
  return rc;
}

/* Stores one canonical record from the server and rebases pending writes on it. `state` is
** the change's state as cJSON (v1: its member; v2: decoded by wire_change). */
static int apply_change(sloop_db *db, const cJSON *ch, const cJSON *state, answer_facts *facts) {
  const char *coll = cJSON_GetStringValue(sloop_member(ch, "coll"));
  const char *rid = cJSON_GetStringValue(sloop_member(ch, "rid"));
  const cJSON *version = sloop_member(ch, "version");
  int evict = cJSON_IsTrue(sloop_member(ch, "evict"));
  if (!coll || !rid || !cJSON_IsNumber(version) || !(version->valuedouble >= 0 && version->valuedouble < SC_EXACT_MAX) ||
      (!evict && !cJSON_IsObject(state)) ||
      !sloop_valid_name(coll, strlen(coll), 0) || !sloop_valid_id(rid, strlen(rid)))
    return sloop_fail(db, SLOOP_INVALID, "malformed change record");
  if (!sloop_schema_coll(&db->schema, coll)) return SLOOP_OK; /* a collection this app does not know */
  int64_t v = (int64_t)version->valuedouble;
  int plain = 0;
  const sloop_coll_schema *cs = sloop_schema_coll(&db->schema, coll);
  /* A text field's change event carries its deltas, which need the state it had: the plain
  ** path never reads it. */
  int text = !evict && (sloop_text_fields(cs, state) || (!sloop_state_visible(state) && sloop_text_coll(cs)));
  int rc = text ? SLOOP_OK : apply_plain(db, coll, rid, v, state, evict, facts, &plain);
  if (rc || plain) return rc;
  cJSON *text_before = NULL;
  sloop_row row;
  rc = sloop_row_load(db, coll, rid, &row);
  if (rc) return rc;
  if (row.exists && row.base && v <= row.version) goto done; /* already have it, or newer */
  if (!row.base) {
    /* This device pulled every change up to its cursor, so a record it holds no canonical
    ** copy of (none at all, or only its own writes since) at a version it has pulled past
    ** was deleted or left the scope since: a stale copy, as a push or pull answer delivered
    ** late carries. Storing it would bring the record back for good, since no later pull
    ** sends that record again. */
    int64_t cursor = 0;
    rc = cursor_of(db, facts, &cursor);
    if (rc || v <= cursor) goto done;
  }
  if (!evict) rc = sloop_compact_record(db, coll, rid, v);
  sloop_op_counts ops;
  int work = 0;
  if (!rc) rc = sloop_op_counts_load(db, coll, rid, &ops);
  if (!rc) work = sloop_ops_any(&ops);
  /* Out of scope, an open conflict is local work too (sloop_has_local_work); a tombstone ends
  ** the record on the server, and with it what the conflict was about. */
  if (!rc && evict && !work) rc = sloop_open_conflict(db, coll, rid, &work);
  if (rc) goto done;
  if (text || sloop_text_fields(cs, row.state)) rc = sloop_text_snapshot(cs, row.state, &text_before);
  if (rc) goto done;
  if ((evict || !sloop_state_visible(state)) && !work) {
    /* Gone from the server or from this device's scope, and nothing local depends on it. */
    if (row.exists) rc = sloop_row_delete(db, coll, rid);
    /* Out of scope is not deleted: an editor showing it is told it left, not that it emptied. */
    if (!rc && text_before && !evict) sloop_text_note(db, cs, coll, rid, text_before, state, 0);
    goto done;
  }
  if (evict) goto done; /* out of scope but with local work: keep it until that work is done */
  cJSON_Delete(row.base);
  row.base = cJSON_Duplicate(state, 1);
  row.version = v;
  if (!row.base) rc = SLOOP_NOMEM;
  if (!rc) rc = sloop_compact_record(db, coll, rid, v);
  if (!rc) rc = sloop_rebase(db, coll, rid, &row);
  if (!rc) {
    if (!row.exists) row.sync = SLOOP_SYNCED;
    rc = sloop_row_save(db, coll, rid, &row);
  }
  if (!rc && (text_before || text)) sloop_text_note(db, cs, coll, rid, text_before, row.state, 0);
done:
  cJSON_Delete(text_before);
  sloop_row_clear(&row);
  return rc;
}

/* A v2 change's state decoded (*state NULL for an eviction, which has none): a string of
** wire.h's form against the answer's nodes and the change's doc (an object, or absent for a
** tombstone). Anything else refuses the answer. */
static int wire_change(sloop_db *db, const cJSON *ch, int i, const sloop_wire_nodes *nodes, cJSON **state) {
  const cJSON *s = sloop_member(ch, "state");
  const cJSON *doc = sloop_member(ch, "doc");
  *state = NULL;
  if (!cJSON_IsObject(ch)) return sloop_fail(db, SLOOP_INVALID, "change %d: not an object", i);
  if (!s && cJSON_IsTrue(sloop_member(ch, "evict"))) return SLOOP_OK;
  if (!cJSON_IsString(s)) return sloop_fail(db, SLOOP_INVALID, "change %d: state must be a base64 string (v2)", i);
  if (doc && !cJSON_IsObject(doc)) return sloop_fail(db, SLOOP_INVALID, "change %d: doc must be an object", i);
  char msg[200] = "";
  int rc = sloop_wire_state_decode(s->valuestring, strlen(s->valuestring), doc, nodes, state, msg);
  if (rc == SLOOP_INVALID) return sloop_fail(db, rc, "change %d: %s", i, msg);
  return rc;
}

int sloop_apply_changes(sloop_db *db, const cJSON *answer, const char *member, sloop_json_spans *docs) {
  const cJSON *changes = sloop_member(answer, member);
  const cJSON *v = sloop_member(answer, "v");
  int wire = cJSON_IsNumber(v) && v->valuedouble == SLOOP_WIRE_V2;
  if (cJSON_IsNumber(v) && !wire && v->valuedouble != SLOOP_WIRE_V1)
    return sloop_fail(db, SLOOP_INVALID, "server answer of an unknown protocol version");
  sloop_wire_nodes nodes = {0};
  char msg[200] = "";
  int rc = SLOOP_OK, i = 0;
  if (wire && cJSON_GetArraySize(changes) > 0 && (rc = sloop_wire_nodes_parse(sloop_member(answer, "nodes"), &nodes, msg)))
    rc = rc == SLOOP_INVALID ? sloop_fail(db, rc, "server answer: %s", msg) : rc;
  const cJSON *ch;
  answer_facts facts = {-1, -1, 0, 1};
  cJSON_ArrayForEach(ch, changes) {
    if (rc) break;
    cJSON *decoded = NULL;
    int done = 0;
    if (wire) rc = apply_plain_wire(db, ch, &nodes, &facts, docs, &done);
    if (!rc && !done && wire) rc = wire_change(db, ch, i, &nodes, &decoded);
    if (!rc && !done) rc = apply_change(db, ch, wire ? decoded : sloop_member(ch, "state"), &facts);
    cJSON_Delete(decoded);
    i++;
  }
  sloop_wire_nodes_free(&nodes);
  return rc;
}

int sloop_settle_touched(sloop_db *db, const cJSON *touched) {
  const cJSON *t;
  cJSON_ArrayForEach(t, touched) {
    char key[SLOOP_NAME_MAX + SLOOP_ID_MAX + 2];
    snprintf(key, sizeof(key), "%s", t->valuestring);
    char *sep = strchr(key, '\x1f');
    if (!sep) continue;
    *sep = 0;
    int rc = sloop_settle(db, key, sep + 1);
    if (rc) return rc;
  }
  return SLOOP_OK;
}

int sloop_parse_answer(sloop_db *db, const char *resp, size_t len, sloop_json_spans *docs, cJSON **answer) {
  cJSON *json = *answer = docs ? sloop_json_parse_spans(resp, len, docs) : sloop_json_parse(resp, len);
  if (!json) return sloop_fail(db, SLOOP_JSON, "server answer is not valid JSON");
  if (cJSON_IsObject(json)) return SLOOP_OK;
  cJSON_Delete(json);
  *answer = NULL;
  return sloop_fail(db, SLOOP_INVALID, "server answer is not an object");
}
