/*
** pull_request.c -- the client's pull request: the stored cursor, the scope, "fresh" at cursor 0,
** and the snapshot's fields (resync.c); and the request that will follow an answer, read from
** the answer before it is applied, so the next page can be on its way while this one is applied.
*/
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "client_sync.h"
#include "wire.h"

static int build_request(sloop_db *db, int64_t cursor, int64_t ack_seq, int limit,
                         const char *scope_json, size_t scope_len, char **out, size_t *out_len) {
  *out = NULL;
  cJSON *scope = NULL;
  if (scope_json && scope_len) {
    scope = sloop_json_parse(scope_json, scope_len);
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
  int rc = SLOOP_OK;
  if (scope) cJSON_AddItemToObject(req, "scope", scope);
  else if ((rc = sloop_scope_request(db, req)) != SLOOP_OK) return cJSON_Delete(req), rc;
  if (cursor == 0) {
    sqlite3_stmt *st;
    rc = sloop_prepare(db, "SELECT NOT EXISTS (SELECT 1 FROM records)", &st);
    if (rc) return cJSON_Delete(req), rc;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0)) cJSON_AddTrueToObject(req, "fresh");
    sloop_finalize(db, st);
  }
  rc = sloop_snapshot_request(db, req);
  if (!rc) rc = (*out = sloop_print(req, out_len)) ? SLOOP_OK : SLOOP_NOMEM;
  cJSON_Delete(req);
  return rc;
}

int sloop_pull_request(sloop_db *db, int limit, const char *scope_json, size_t scope_len,
                       char **out, size_t *out_len) {
  *out = NULL;
  int64_t cursor = 0, ack_seq = 0;
  int rc = sloop_meta_get_int(db, "cursor", &cursor);
  if (rc && rc != SLOOP_NOTFOUND) return rc;
  rc = sloop_meta_get_int(db, "ack_seq", &ack_seq);
  if (rc && rc != SLOOP_NOTFOUND) return rc;
  return build_request(db, cursor, ack_seq, limit, scope_json, scope_len, out, out_len);
}

/* ---------------------------------------------------------------- reading ahead -------- */

/* The top-level members an answer's next request depends on, as spans of its text. The answer
** is not parsed: a page is hundreds of KB whose changes only sloop_pull_apply needs. */
typedef struct {
  const char *at, *end;
} span;

enum { M_CURSOR, M_HAS_MORE, M_ACK_SEQ, M_SNAPSHOT, M_PROGRESS, M_SCOPE_HASH, M_COUNT };
static const char *const MEMBERS[M_COUNT] = {"cursor", "hasMore", "ackSeq", "snapshot", "progress", "scopeHash"};

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

/* p is at an opening quote; returns just past the closing one, or NULL. */
static const char *skip_string(const char *p, const char *end) {
  for (p++; p < end; p++) {
    if (*p == '\\') p++;
    else if (*p == '"') return p + 1;
  }
  return NULL;
}

/* Returns the end of the value at p (after skip_ws), or NULL. Containers are matched by depth
** with strings skipped whole; whether what lies between is valid JSON is sloop_pull_apply's
** to say. */
static const char *skip_value(const char *p, const char *end) {
  if (p >= end) return NULL;
  if (*p != '{' && *p != '[' && *p != '"') {
    while (p < end && !strchr(",}] \t\r\n", *p)) p++;
    return p;
  }
  size_t depth = 0;
  do {
    if (p >= end) return NULL;
    if (*p == '"') {
      if (!(p = skip_string(p, end))) return NULL;
      continue;
    }
    if (*p == '{' || *p == '[') depth++;
    else if (*p == '}' || *p == ']') depth--;
    p++;
  } while (depth > 0);
  return p;
}

/* Whether [p, end) holds a byte below 0x20. */
static int has_control(const char *p, const char *end) {
  for (; p < end; p++)
    if ((unsigned char)*p < 0x20) return 1;
  return 0;
}

/* Fills found[] with the first occurrence of each member; 0 if the text is no JSON object. */
static int scan_members(const char *p, const char *end, span found[M_COUNT]) {
  memset(found, 0, sizeof(span) * M_COUNT);
  p = skip_ws(p, end);
  if (p >= end || *p++ != '{') return 0;
  p = skip_ws(p, end);
  if (p < end && *p == '}') return 1;
  while (p < end && *p == '"') {
    const char *key = p + 1, *key_end = skip_string(p, end);
    /* An escaped name could spell a member the parser would find, and so could one holding a
    ** control character (JSON allows none unescaped; cJSON keeps them, and a NUL ends the name
    ** it compares): read no further. */
    if (!key_end || memchr(key, '\\', (size_t)(key_end - key)) || has_control(key, key_end - 1)) return 0;
    size_t key_len = (size_t)(key_end - 1 - key);
    p = skip_ws(key_end, end);
    if (p >= end || *p++ != ':') return 0;
    const char *value = skip_ws(p, end), *value_end = skip_value(value, end);
    if (!value_end || value_end == value) return 0;
    for (int m = 0; m < M_COUNT; m++) {
      if (!found[m].at && strlen(MEMBERS[m]) == key_len && !memcmp(MEMBERS[m], key, key_len))
        found[m] = (span){value, value_end};
    }
    p = skip_ws(value_end, end);
    if (p < end && *p == '}') return 1;
    if (p >= end || *p++ != ',') return 0;
    p = skip_ws(p, end);
  }
  return 0;
}

/* A span of plain decimal digits (what the server prints for versions and sequences). */
static int span_int(span s, int64_t *out) {
  size_t n = (size_t)(s.end - s.at);
  if (n == 0 || n > 15) return 0;
  int64_t v = 0;
  for (const char *p = s.at; p < s.end; p++) {
    if (*p < '0' || *p > '9') return 0;
    v = v * 10 + (*p - '0');
  }
  *out = v;
  return 1;
}

int sloop_pull_request_next(sloop_db *db, const char *resp, size_t resp_len, int limit,
                            const char *scope_json, size_t scope_len, char **out, size_t *out_len) {
  *out = NULL;
  if (out_len) *out_len = 0;
  span m[M_COUNT];
  int64_t cursor = 0, ack_seq = 0;
  /* Only the plain case reads ahead: a later page of the version order. A snapshot's pages,
  ** a resync's rounds and their verification decide the next request from what applying the
  ** page leaves in meta 'snapshot'. */
  if (!scan_members(resp, resp + resp_len, m)) return SLOOP_OK;
  if (!m[M_HAS_MORE].at || m[M_HAS_MORE].end - m[M_HAS_MORE].at != 4 || memcmp(m[M_HAS_MORE].at, "true", 4)) return SLOOP_OK;
  if (m[M_SNAPSHOT].at || m[M_PROGRESS].at || m[M_SCOPE_HASH].at) return SLOOP_OK;
  if (!m[M_CURSOR].at || !span_int(m[M_CURSOR], &cursor) || cursor == 0) return SLOOP_OK;
  if (m[M_ACK_SEQ].at) {
    if (!span_int(m[M_ACK_SEQ], &ack_seq)) return SLOOP_OK;
  } else {
    int rc = sloop_meta_get_int(db, "ack_seq", &ack_seq);
    if (rc && rc != SLOOP_NOTFOUND) return rc;
  }
  int idle = 0;
  int rc = sloop_snapshot_idle(db, &idle);
  if (rc || !idle) return rc;
  return build_request(db, cursor, ack_seq, limit, scope_json, scope_len, out, out_len);
}
