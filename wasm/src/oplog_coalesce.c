/*
** oplog_coalesce.c -- typing is one operation, not one per key (client_sync.h).
**
** An editor writes each keystroke as it happens, so the text is durable at once. Left as they
** are, those writes would be an operation each in the log and on the wire. A write that edits
** the same record's same fields as the operation just before it, while that operation has
** never been sent, is folded into it instead: its sequence edits are appended, a character
** continuing the run before it extends that run's text, a deletion next to the one before it
** widens it, and its register values replace the older ones. Never-sent is what makes this
** safe: an operation the server may have seen keeps its id and its content together.
**
** The fold changes nothing the record shows: a run inserted whole lands where its characters
** one by one did, because each continued the last with the same right origin (checked).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_sync.h"
#include "json.h"
#include "merge_seq.h"

/* The last operation of the log, if it is a never-sent patch of coll/rid: its seq and parsed
** payload (owned) and id. */
static int last_open_patch(sloop_db *db, const char *coll, const char *rid, int64_t *seq, cJSON **payload,
                           char *id, size_t id_size) {
  sqlite3_stmt *st;
  *payload = NULL;
  int rc = sloop_prepare(db,
                         "SELECT seq, id, type, coll, rid, status, attempts, payload FROM oplog"
                         " ORDER BY seq DESC LIMIT 1",
                         &st);
  if (rc) return rc;
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 2), "patch") == 0 &&
      strcmp((const char *)sqlite3_column_text(st, 3), coll) == 0 &&
      strcmp((const char *)sqlite3_column_text(st, 4), rid) == 0 && sqlite3_column_int(st, 5) == SLOOP_OP_PENDING &&
      sqlite3_column_int(st, 6) == 0) {
    *seq = sqlite3_column_int64(st, 0);
    snprintf(id, id_size, "%s", (const char *)sqlite3_column_text(st, 1));
    const char *text = (const char *)sqlite3_column_text(st, 7);
    *payload = cJSON_Parse(text);
    if (!*payload) rc = SLOOP_NOMEM;
  } else if (src != SQLITE_ROW && src != SQLITE_DONE) {
    rc = sloop_sql_fail(db, src, "read the last operation");
  }
  sloop_finalize(db, st);
  return rc;
}

/* Whether two field ops of one field can fold: both sequence edits, or both register writes. */
static int same_kind(const cJSON *a, const cJSON *b) {
  int sa = sloop_member(a, "seq") != NULL, sb = sloop_member(b, "seq") != NULL;
  int ra = cJSON_GetArraySize(a) == 1 && (sloop_member(a, "set") || sloop_member(a, "unset"));
  int rb = cJSON_GetArraySize(b) == 1 && (sloop_member(b, "set") || sloop_member(b, "unset"));
  return (sa && sb) || (ra && rb);
}

static int same_str(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

static int foldable(const sloop_coll_schema *cs, const cJSON *prev, const cJSON *next) {
  if (cJSON_GetArraySize(prev) != cJSON_GetArraySize(next)) return 0;
  int seqs = 0;
  const cJSON *f;
  cJSON_ArrayForEach(f, next) {
    const cJSON *p = sloop_member(prev, f->string);
    sloop_policy pol = sloop_field_policy(cs, f->string);
    if (!p || !same_kind(p, f)) return 0;
    /* Text only: a list's moves are stamped with their operation's time, which a fold changes. */
    if (sloop_member(f, "seq") && pol != SLOOP_POLICY_TEXT) return 0;
    if (sloop_member(f, "seq")) {
      seqs++;
      /* Edits of one beginning of the field only (merge_seq.h, "g"). */
      if (!same_str(cJSON_GetStringValue(sloop_member(p, "g")), cJSON_GetStringValue(sloop_member(f, "g")))) return 0;
    } else if (pol != SLOOP_POLICY_LWW) {
      return 0; /* only last-writer-wins values simply replace */
    }
    if (sloop_member(f, "seq") &&
        cJSON_GetArraySize(sloop_member(p, "seq")) + cJSON_GetArraySize(sloop_member(f, "seq")) > SLOOP_SEQ_EDITS_MAX)
      return 0;
  }
  return seqs > 0;
}

static const char *str(const cJSON *edit, const char *key) { return cJSON_GetStringValue(sloop_member(edit, key)); }


/* Folds `e` into `last` when it continues it; 1 if it did. */
static int extend(cJSON *last, const cJSON *e) {
  seq_id li, ei;
  if (str(last, "s") && str(e, "s") && sloop_seq_parse_id(str(last, "i"), &li) == 0 &&
      sloop_seq_parse_id(str(e, "i"), &ei) == 0) {
    /* A character typed after the run: the next counter, left of it the run's last, same right. */
    const char *s = str(last, "s");
    uint32_t n = 0, units;
    seq_id el;
    if (!seq_utf8_count((const uint8_t *)s, strlen(s), &n, &units)) return 0;
    if (ei.node != li.node || ei.seq != li.seq + n || !str(e, "l") || sloop_seq_parse_id(str(e, "l"), &el) ||
        el.node != li.node || el.seq != li.seq + n - 1 || !same_str(str(last, "r"), str(e, "r")) ||
        n + strlen(str(e, "s")) > SEQ_MAX_RUN)
      return 0;
    size_t a = strlen(s), b = strlen(str(e, "s"));
    char *joined = malloc(a + b + 1);
    if (!joined) return 0;
    memcpy(joined, s, a);
    memcpy(joined + a, str(e, "s"), b + 1);
    cJSON *js = cJSON_CreateString(joined);
    free(joined);
    return js && cJSON_ReplaceItemInObjectCaseSensitive(last, "s", js);
  }
  seq_id ld, ed;
  const cJSON *ln = sloop_member(last, "n"), *en = sloop_member(e, "n");
  if (str(last, "d") && str(e, "d") && sloop_seq_parse_id(str(last, "d"), &ld) == 0 &&
      sloop_seq_parse_id(str(e, "d"), &ed) == 0 && ld.node == ed.node && cJSON_IsNumber(ln) && cJSON_IsNumber(en)) {
    double k = ln->valuedouble, m = en->valuedouble;
    if (k + m > SEQ_MAX_RUN) return 0;
    if (ed.seq + m == ld.seq) { /* backspace: the ids just before */
      cJSON_ReplaceItemInObjectCaseSensitive(last, "d", cJSON_CreateString(str(e, "d")));
    } else if (ed.seq != ld.seq + k) { /* nor delete: the ids just after */
      return 0;
    }
    cJSON_SetNumberValue(sloop_member(last, "n"), k + m);
    return 1;
  }
  return 0;
}

static int fold(cJSON *prev, const cJSON *next) {
  const cJSON *f;
  cJSON_ArrayForEach(f, next) {
    cJSON *p = sloop_member(prev, f->string);
    const cJSON *edits = sloop_member(f, "seq");
    if (!edits) {
      cJSON *copy = cJSON_Duplicate(f, 1);
      if (!copy || !cJSON_ReplaceItemInObjectCaseSensitive(prev, f->string, copy)) return cJSON_Delete(copy), SLOOP_NOMEM;
      continue;
    }
    cJSON *into = sloop_member(p, "seq");
    const cJSON *e;
    cJSON_ArrayForEach(e, edits) {
      cJSON *last = cJSON_GetArrayItem(into, cJSON_GetArraySize(into) - 1);
      if (last && extend(last, e)) continue;
      cJSON *copy = cJSON_Duplicate(e, 1);
      if (!copy || !cJSON_AddItemToArray(into, copy)) return cJSON_Delete(copy), SLOOP_NOMEM;
    }
  }
  return SLOOP_OK;
}

int sloop_oplog_coalesce(sloop_db *db, const sloop_coll_schema *cs, const cJSON *op, char *folded_into,
                         size_t size, int *folded) {
  *folded = 0;
  const cJSON *payload = sloop_member(op, "payload");
  const char *type = cJSON_GetStringValue(sloop_member(op, "type"));
  if (!type || strcmp(type, "patch") != 0 || !cJSON_IsObject(payload)) return SLOOP_OK;
  /* Only a write with text edits can fold: any other patch (the hot path of writes) is not
  ** worth a read of the log and a parse of its last operation. */
  int edits_text = 0;
  const cJSON *f;
  cJSON_ArrayForEach(f, payload) edits_text |= sloop_member(f, "seq") && sloop_field_policy(cs, f->string) == SLOOP_POLICY_TEXT;
  if (!edits_text) return SLOOP_OK;
  int64_t seq = 0;
  cJSON *prev = NULL;
  int rc = last_open_patch(db, cJSON_GetStringValue(sloop_member(op, "coll")), cJSON_GetStringValue(sloop_member(op, "rid")),
                           &seq, &prev, folded_into, size);
  if (rc || !prev || !foldable(cs, prev, payload)) {
    cJSON_Delete(prev);
    return rc;
  }
  rc = fold(prev, payload);
  char *text = rc ? NULL : sloop_print(prev, NULL);
  cJSON_Delete(prev);
  if (!rc && !text) rc = SLOOP_NOMEM;
  if (rc) return rc;
  /* The newest timestamp: the register values it carries now are the latest write's. */
  sqlite3_stmt *st;
  rc = sloop_prepare(db, "UPDATE oplog SET payload = ?2, hlc = ?3 WHERE seq = ?1", &st);
  if (!rc) {
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, cJSON_GetStringValue(sloop_member(op, "hlc")), -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "fold into the last operation");
    sloop_finalize(db, st);
  }
  free(text);
  if (!rc) *folded = 1;
  return rc;
}
