/*
** server_request.c -- what a push and a pull request share on the server: the caller's context
** (user, device, grants) as the HTTP layer passes it, the body's envelope ("v", "device") and
** the rule that a device belongs to the first user that synced it.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "server.h"

int sloop_perm_allows(const cJSON *perms, const char *kind, const char *coll) {
  if (!perms) return 1;
  const cJSON *p = sloop_member(perms, kind);
  if (cJSON_IsString(p)) return strcmp(p->valuestring, "*") == 0;
  const cJSON *c;
  cJSON_ArrayForEach(c, p) if (cJSON_IsString(c) && strcmp(c->valuestring, coll) == 0) return 1;
  return 0;
}

int sloop_server_ctx_parse(sloop_db *db, const char *ctx, size_t ctx_len, cJSON **json, sloop_server_ctx *pc) {
  *json = ctx_len ? sloop_json_parse(ctx, ctx_len) : cJSON_CreateObject();
  if (!cJSON_IsObject(*json)) return sloop_fail(db, SLOOP_INVALID, "server context must be a JSON object");
  pc->user = cJSON_GetStringValue(sloop_member(*json, "user"));
  pc->device = cJSON_GetStringValue(sloop_member(*json, "device"));
  pc->perms = sloop_member(*json, "perms");
  if (pc->perms && !cJSON_IsObject(pc->perms)) return sloop_fail(db, SLOOP_INVALID, "perms must be an object");
  return SLOOP_OK;
}

static int valid_device(const char *d) {
  size_t n = d ? strlen(d) : 0;
  if (n == 0 || n > 64) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = d[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return 0;
  }
  return 1;
}

/* Parses a request body: an object with "v" 1 or 2 (the form of the answer's changes,
** wire.h) and a valid "device" (matching the context's device when the context names one). */
int sloop_server_request(sloop_db *db, const char *req, size_t len, const sloop_server_ctx *pc, cJSON **out,
                         const char **device, int *version) {
  if (!sloop_valid_utf8(req, len)) return sloop_fail(db, SLOOP_JSON, "body is not valid UTF-8");
  *out = sloop_json_parse(req, len);
  if (!*out) return sloop_fail(db, SLOOP_JSON, "body is not valid JSON");
  if (!cJSON_IsObject(*out)) return sloop_fail(db, SLOOP_INVALID, "body must be a JSON object");
  const cJSON *v = sloop_member(*out, "v");
  if (!cJSON_IsNumber(v) || (v->valuedouble != SLOOP_WIRE_V1 && v->valuedouble != SLOOP_WIRE_V2))
    return sloop_fail(db, SLOOP_INVALID, "unsupported protocol version (need \"v\": 1 or 2)");
  *version = (int)v->valuedouble;
  *device = cJSON_GetStringValue(sloop_member(*out, "device"));
  if (!valid_device(*device)) return sloop_fail(db, SLOOP_INVALID, "device must be 1..64 of [A-Za-z0-9_-]");
  if (pc->device && strcmp(pc->device, *device) != 0)
    return sloop_fail(db, SLOOP_DENIED, "request device does not match the authenticated device");
  return SLOOP_OK;
}

/* Whether the device is the context user's: a device belongs to the first user that synced
** it. Pushes check it too, or another user of the tenant could spend the device's operation
** ids (its real operations would then be refused as "another user's") and move its ack. */
int sloop_device_owner_ok(sloop_db *db, const char *device, const sloop_server_ctx *pc) {
  if (!pc->user) return 1;
  sqlite3_stmt *st;
  if (sloop_prepare(db, "SELECT user FROM devices WHERE device = ?1", &st)) return 0;
  sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
  int ok = 1;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
    ok = strcmp((const char *)sqlite3_column_text(st, 0), pc->user) == 0;
  sloop_finalize(db, st);
  return ok;
}
