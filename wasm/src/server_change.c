/*
** server_change.c -- a record row as the change an answer carries (pull pages, snapshot
** pages, a push answer's touched records), and the scope tests that decide whether a row
** goes out at all.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pull.h"
#include "scope.h"
#include "server.h"

typedef sloop_pull_req pull_req;


/* The decimal digits of v, as "%lld" writes them, into out[24]. */
static void decimal(char out[24], int64_t v) {
  char digits[24];
  int k = 0;
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  do digits[k++] = (char)('0' + u % 10);
  while ((u /= 10) > 0);
  if (v < 0) *out++ = '-';
  while (k > 0) *out++ = digits[--k];
  *out = 0;
}

/* A v2 change (change_json below makes v1's): {coll, rid, version, state, doc (live records
** only)}. The stored blob goes to the wire form without a cJSON state in between
** (sloop_wire_state_transcode), and the stored document text is sent as it is: the server
** printed it (sloop_print) when it wrote the row, and printing its parsed tree again gave the
** same text. The document is still parsed (unless the caller has its tree: a push answer's
** records, server_rows.c), for the names the state takes from it, and so that a corrupt row
** fails here rather than on every client. */
static cJSON *wire_change_json(sloop_db *db, const char *coll, const char *rid, const char *doc_text, cJSON *doc,
                               const void *state_blob, int state_len, int64_t version, sloop_wire_nodes *wire,
                               int *rc) {
  cJSON *c = NULL;
  if (!doc && doc_text) doc = sloop_json_parse_text(doc_text);
  char msg[200] = "", *b64 = NULL, number[24];
  sloop_nodes stored = sloop_db_nodes(db);
  if (doc_text && !doc) *rc = sloop_fail(db, SLOOP_CORRUPT, "a record's document is not JSON");
  else *rc = sloop_wire_state_transcode(state_blob, state_len > 0 ? (size_t)state_len : 0, &stored, doc, wire, &b64, msg);
  if (*rc == SLOOP_CORRUPT && msg[0]) *rc = sloop_fail(db, SLOOP_CORRUPT, "stored %s", msg);
  if (*rc == SLOOP_TOOBIG) *rc = sloop_fail(db, SLOOP_TOOBIG, "an answer names more than %d nodes", SLOOP_WIRE_MAX_NODES);
  if (!*rc && !(c = cJSON_CreateObject())) *rc = SLOOP_NOMEM;
  /* The version as digits: cJSON prints a number with "%1.15g" and reads it back to check. */
  decimal(number, version);
  /* The state as its JSON string, quotes included: base64 has nothing to escape, and the
  ** printer's escaping walked its every character (4,000 instructions a change). */
  size_t n = b64 ? strlen(b64) : 0;
  char *quoted = b64 ? malloc(n + 3) : NULL;
  if (quoted) {
    quoted[0] = '"';
    memcpy(quoted + 1, b64, n);
    memcpy(quoted + 1 + n, "\"", 2);
  }
  if (c && (!quoted || !cJSON_AddStringToObject(c, "coll", coll) || !cJSON_AddStringToObject(c, "rid", rid) ||
            !cJSON_AddRawToObject(c, "version", number) || !cJSON_AddRawToObject(c, "state", quoted) ||
            (doc_text && !cJSON_AddRawToObject(c, "doc", doc_text))))
    *rc = SLOOP_NOMEM;
  free(quoted);
  free(b64);
  cJSON_Delete(doc);
  if (*rc) cJSON_Delete(c);
  return *rc ? NULL : c;
}

/* The canonical record as the protocol sends it, from a row's doc text (NULL: a tombstone)
** and state blob. v1 (wire NULL): {coll, rid, version, deleted, doc, state as JSON}, doc null
** for a tombstone unless `bare_tombstone`, which leaves out doc (as pulls always did). v2:
** {coll, rid, version, doc (live records only), state (wire.h)}: "deleted" is the state's
** own header. `doc` is doc_text parsed, when the caller has it (it passes to this function),
** or NULL: parsed here. NULL with *rc set on failure. */
static cJSON *change_json(sloop_db *db, const char *coll, const char *rid, const char *doc_text, cJSON *doc,
                          const void *state_blob, int state_len, int64_t version, sloop_wire_nodes *wire,
                          int bare_tombstone, int *rc) {
  if (wire) return wire_change_json(db, coll, rid, doc_text, doc, state_blob, state_len, version, wire, rc);
  if (!doc && doc_text) doc = sloop_json_parse_text(doc_text);
  cJSON *state = NULL;
  *rc = doc || !doc_text ? sloop_state_read(db, state_blob, state_len, NULL, doc, &state) : SLOOP_CORRUPT;
  cJSON *c = *rc ? NULL : cJSON_CreateObject();
  if (!*rc && !c) *rc = SLOOP_NOMEM;
  if (c) {
    cJSON_AddStringToObject(c, "coll", coll);
    cJSON_AddStringToObject(c, "rid", rid);
    cJSON_AddNumberToObject(c, "version", (double)version);
    cJSON_AddBoolToObject(c, "deleted", doc_text == NULL);
    if (doc_text) cJSON_AddItemToObject(c, "doc", doc);
    else if (!bare_tombstone) cJSON_AddItemToObject(c, "doc", cJSON_CreateNull());
    if (doc_text) doc = NULL;
    cJSON_AddItemToObject(c, "state", state);
    state = NULL;
  }
  cJSON_Delete(doc);
  cJSON_Delete(state);
  if (*rc) cJSON_Delete(c);
  return *rc ? NULL : c;
}

int sloop_load_change(sloop_db *db, const char *coll, const char *rid, sloop_wire_nodes *wire, cJSON **out) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT doc, state, version FROM records WHERE coll = ?1 AND id = ?2", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
  *out = NULL;
  if (sqlite3_step(st) == SQLITE_ROW)
    *out = change_json(db, coll, rid, (const char *)sqlite3_column_text(st, 0), NULL, sqlite3_column_blob(st, 1),
                       sqlite3_column_bytes(st, 1), sqlite3_column_int64(st, 2), wire, 0, &rc);
  sloop_finalize(db, st);
  return rc;
}

int sloop_written_change(sloop_db *db, const char *coll, const char *rid, const char *doc_text, cJSON *doc,
                         const uint8_t *state_blob, size_t state_len, int64_t version, sloop_wire_nodes *wire,
                         cJSON **out) {
  int rc = SLOOP_OK;
  *out = change_json(db, coll, rid, doc_text, doc, state_blob, (int)state_len, version, wire, 0, &rc);
  return rc;
}

/* Whether a document matches the scope's equality filter. */
static int in_scope(const cJSON *doc, const cJSON *where) {
  const cJSON *c;
  cJSON_ArrayForEach(c, where) {
    const cJSON *v = sloop_member(doc, c->string);
    if (!v || !sloop_json_equal(v, c)) return 0;
  }
  return 1;
}

int sloop_pull_doc_in_scope(const pull_req *p, const char *coll, const char *doc) {
  if (!doc) return 0;
  const char *field = NULL;
  int64_t since = 0;
  double days;
  int windowed = sloop_window_of(p->windows, coll, p->now_ms, &field, &since, &days);
  if (!p->where && !windowed) return 1;
  cJSON *parsed = sloop_json_parse_text(doc);
  int in = parsed && (!p->where || in_scope(parsed, p->where)) && (!windowed || sloop_window_holds(parsed, field, since));
  cJSON_Delete(parsed);
  return in;
}

/* Whether the scope filters collection `coll`'s documents at all. */
static int filtered(const pull_req *p, const char *coll) {
  const char *field;
  int64_t since;
  double days;
  return p->where || sloop_window_of(p->windows, coll, p->now_ms, &field, &since, &days);
}

int sloop_pull_wanted(const pull_req *p, const char *coll) {
  if (!sloop_perm_allows(p->perms, "read", coll)) return 0;
  if (!p->colls) return 1;
  const cJSON *c;
  cJSON_ArrayForEach(c, p->colls) if (strcmp(c->valuestring, coll) == 0) return 1;
  return 0;
}

int sloop_pull_groups(const pull_req *p) { return p->groups ? cJSON_GetArraySize(p->groups) + p->rest : 1; }

const char *sloop_pull_group_coll(const pull_req *p, int g) {
  const cJSON *c = p->groups ? cJSON_GetArrayItem(p->groups, g) : NULL;
  return c ? c->valuestring : NULL;
}

int sloop_pull_in_group(const pull_req *p, int g, const char *coll) {
  const char *only = sloop_pull_group_coll(p, g);
  if (only) return strcmp(only, coll) == 0;
  const cJSON *c;
  cJSON_ArrayForEach(c, p->groups) if (strcmp(c->valuestring, coll) == 0) return 0; /* the rest: not named */
  return 1;
}

int sloop_pull_change(sloop_db *db, const pull_req *p, sqlite3_stmt *st, cJSON **out) {
  const char *coll = (const char *)sqlite3_column_text(st, 0);
  const char *rid = (const char *)sqlite3_column_text(st, 1);
  const char *doc = (const char *)sqlite3_column_text(st, 2);
  int64_t version = sqlite3_column_int64(st, 4);
  int evict = doc && filtered(p, coll) && !sloop_pull_doc_in_scope(p, coll, doc);
  cJSON *ch = NULL;
  *out = NULL;
  if (evict || !doc) {
    /* An empty client needs neither tombstones nor records outside its scope. Only the
    ** client knows it is empty: at cursor 0 it may hold records from push answers, or
    ** local-only records a tombstone must reach, even if it never pushed. */
    if (p->fresh || (evict && p->no_evict)) return SLOOP_OK;
    if (!doc) {
      int rc = SLOOP_OK;
      *out = change_json(db, coll, rid, NULL, NULL, sqlite3_column_blob(st, 3), sqlite3_column_bytes(st, 3), version, p->wire, 1, &rc);
      return rc;
    }
    ch = cJSON_CreateObject();
    if (!ch) return SLOOP_NOMEM;
    cJSON_AddStringToObject(ch, "coll", coll);
    cJSON_AddStringToObject(ch, "rid", rid);
    cJSON_AddNumberToObject(ch, "version", (double)version);
    cJSON_AddBoolToObject(ch, "evict", 1);
    *out = ch;
    return SLOOP_OK;
  }
  int rc = SLOOP_OK;
  *out = change_json(db, coll, rid, doc, NULL, sqlite3_column_blob(st, 3), sqlite3_column_bytes(st, 3), version, p->wire, 0, &rc);
  return rc;
}
