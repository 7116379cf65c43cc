/*
** server_pull.c -- the server's answer to a pull (docs/PROTOCOL.md, Pull): the request parsed,
** the changes after the cursor in version order (or a snapshot page, snapshot.c), the
** conflicts and operation results the device has not seen, the device's cursor noted.
** Each record row becomes its change in server_change.c.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pull.h"
#include "scope.h"
#include "server.h"

#define MAX_PULL 1000

typedef sloop_pull_req pull_req;

/* The snapshot half of a pull request: "snapshot", "have", "verify", scope.order/orderBy. */
static int parse_snapshot(sloop_db *db, const cJSON *body, const cJSON *scope, pull_req *p) {
  const cJSON *order = sloop_member(scope, "order");
  const cJSON *by = sloop_member(scope, "orderBy");
  p->snapshot = sloop_member(body, "snapshot");
  p->have = sloop_member(body, "have");
  p->verify = cJSON_IsTrue(sloop_member(body, "verify"));
  if (order && !(cJSON_IsString(order) && (strcmp(order->valuestring, "version") == 0 || strcmp(order->valuestring, "recent") == 0)))
    return sloop_fail(db, SLOOP_INVALID, "scope.order must be \"version\" or \"recent\"");
  if (by && !(cJSON_IsString(by) && sloop_valid_name(by->valuestring, strlen(by->valuestring), 0)))
    return sloop_fail(db, SLOOP_INVALID, "scope.orderBy must be a field name");
  p->recent = order && strcmp(order->valuestring, "recent") == 0;
  p->order_by = by ? by->valuestring : NULL;
  if (cJSON_IsFalse(p->snapshot) || cJSON_IsNull(p->snapshot)) p->snapshot = NULL;
  if (p->snapshot && !cJSON_IsTrue(p->snapshot) && !cJSON_IsObject(p->snapshot))
    return sloop_fail(db, SLOOP_INVALID, "snapshot must be true or the token of the previous answer");
  if (p->snapshot && p->cursor != 0) return sloop_fail(db, SLOOP_INVALID, "a snapshot pull starts from cursor 0");
  if (p->have && !p->snapshot) return sloop_fail(db, SLOOP_INVALID, "have is for snapshot pulls (resync)");
  if (p->have && !cJSON_IsObject(p->have)) return sloop_fail(db, SLOOP_INVALID, "have must be a Bloom filter object");
  return SLOOP_OK;
}

/* Whether array `list` holds the string `name`. */
static int lists(const cJSON *list, const char *name) {
  const cJSON *c;
  cJSON_ArrayForEach(c, list) if (cJSON_IsString(c) && strcmp(c->valuestring, name) == 0) return 1;
  return 0;
}

/* A snapshot's groups (pull.h): scope.priority's collections first (those the scope takes,
** once each), then scope.collections' others in their order, or one group of the rest. */
static int parse_groups(sloop_db *db, const cJSON *priority, pull_req *p) {
  const cJSON *c;
  if (priority && (!cJSON_IsArray(priority) || cJSON_GetArraySize(priority) > 256))
    return sloop_fail(db, SLOOP_INVALID, "scope.priority must be an array of at most 256 collection names");
  cJSON_ArrayForEach(c, priority) {
    if (!cJSON_IsString(c) || !sloop_valid_name(c->valuestring, strlen(c->valuestring), 0))
      return sloop_fail(db, SLOOP_INVALID, "scope.priority holds an invalid name");
  }
  if (!priority && !p->colls) return SLOOP_OK;
  if (!(p->groups = cJSON_CreateArray())) return SLOOP_NOMEM;
  cJSON_ArrayForEach(c, priority) {
    if ((p->colls && !lists(p->colls, c->valuestring)) || lists(p->groups, c->valuestring)) continue;
    if (!cJSON_AddItemToArray(p->groups, cJSON_CreateString(c->valuestring))) return SLOOP_NOMEM;
  }
  cJSON_ArrayForEach(c, p->colls) {
    if (lists(p->groups, c->valuestring)) continue;
    if (!cJSON_AddItemToArray(p->groups, cJSON_CreateString(c->valuestring))) return SLOOP_NOMEM;
  }
  p->rest = !p->colls;
  return SLOOP_OK;
}

static int parse_pull(sloop_db *db, const cJSON *body, pull_req *p) {
  const cJSON *cursor = sloop_member(body, "cursor");
  const cJSON *limit = sloop_member(body, "limit");
  const cJSON *ack = sloop_member(body, "ackSeq");
  const cJSON *scope = sloop_member(body, "scope");
  /* Whole numbers, checked before they are converted: 2.5 is not truncated to 2. */
  if (!sloop_json_whole(cursor, 9e15)) return sloop_fail(db, SLOOP_INVALID, "cursor must be a non-negative integer");
  if (limit && (!sloop_json_whole(limit, 9e15) || limit->valuedouble < 1))
    return sloop_fail(db, SLOOP_INVALID, "limit must be a positive integer");
  if (ack && !sloop_json_whole(ack, 9e15)) return sloop_fail(db, SLOOP_INVALID, "ackSeq must be a non-negative integer");
  if (scope && !cJSON_IsObject(scope)) return sloop_fail(db, SLOOP_INVALID, "scope must be an object");
  p->cursor = (int64_t)cursor->valuedouble;
  p->limit = limit ? (limit->valuedouble > MAX_PULL ? MAX_PULL : (int)limit->valuedouble) : 500;
  p->ack_seq = ack ? (int64_t)ack->valuedouble : 0;
  p->fresh = cJSON_IsTrue(sloop_member(body, "fresh"));
  p->colls = sloop_member(scope, "collections");
  p->where = sloop_member(scope, "where");
  if (p->colls && !cJSON_IsArray(p->colls)) return sloop_fail(db, SLOOP_INVALID, "scope.collections must be an array");
  const cJSON *c;
  cJSON_ArrayForEach(c, p->colls) {
    if (!cJSON_IsString(c) || !sloop_valid_name(c->valuestring, strlen(c->valuestring), 0))
      return sloop_fail(db, SLOOP_INVALID, "scope.collections holds an invalid name");
  }
  if (p->where && !cJSON_IsObject(p->where)) return sloop_fail(db, SLOOP_INVALID, "scope.where must be an object");
  cJSON_ArrayForEach(c, p->where) {
    if (!sloop_valid_name(c->string, strlen(c->string), 0) || cJSON_IsObject(c) || cJSON_IsArray(c))
      return sloop_fail(db, SLOOP_INVALID, "scope.where maps field names to scalar values");
  }
  char msg[160];
  p->windows = sloop_member(scope, "recent");
  p->now_ms = sloop_now_ms(db);
  if (p->windows && !sloop_recent_valid(p->windows, 0, msg, sizeof(msg))) return sloop_fail(db, SLOOP_INVALID, "%s", msg);
  int rc = parse_groups(db, sloop_member(scope, "priority"), p);
  return rc ? rc : parse_snapshot(db, body, scope, p);
}

/* Fills "changes" with up to limit records of the scope after the cursor, up to version
** `head`; returns the next cursor and whether more remain. */
static int select_changes(sloop_db *db, const pull_req *p, int64_t head, cJSON *changes,
                          int64_t *next, int *has_more) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT coll, id, doc, state, version FROM records WHERE version > ?1 AND version <= ?2 ORDER BY version", &st);
  if (rc) return rc;
  sqlite3_bind_int64(st, 1, p->cursor);
  sqlite3_bind_int64(st, 2, head);
  int n = 0, src;
  *next = head;
  *has_more = 0;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    if (!sloop_pull_wanted(p, (const char *)sqlite3_column_text(st, 0))) continue;
    if (n == p->limit) {
      *has_more = 1;
      break;
    }
    cJSON *ch = NULL;
    if ((rc = sloop_pull_change(db, p, st, &ch)) != SLOOP_OK) break;
    if (!ch) continue;
    cJSON_AddItemToArray(changes, ch);
    n++;
    *next = sqlite3_column_int64(st, 4);
  }
  if (!rc && src != SQLITE_ROW && src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "pull");
  sloop_finalize(db, st);
  if (!rc && !*has_more) *next = head;
  return rc;
}

/* Whether the request takes every collection: no list in its scope, and a read grant of "*"
** (or none given: everything). */
static int reads_everything(const pull_req *p) {
  if (p->colls) return 0;
  if (!p->perms) return 1;
  const cJSON *read = sloop_member(p->perms, "read");
  return cJSON_IsString(read) && strcmp(read->valuestring, "*") == 0;
}

/* Changes left after `after` in the collections this request may and wants to read: a user
** must not learn, even as a count, how much there is that they cannot read. Grouping by
** collection made SQLite walk the whole (coll, id) key on every page, which made a sync
** quadratic (31 ms of a 100,000-record server's 37 per page); a reader of everything (the
** common case) counts entries of the version index past `after`, and only a narrower reader
** pays for the grouping. */
static int count_remaining(sloop_db *db, const pull_req *p, int64_t after, int64_t upto, int *remaining) {
  sqlite3_stmt *st;
  int all = reads_everything(p);
  int rc = sloop_prepare(db, all ? "SELECT NULL, count(*) FROM records WHERE version > ?1 AND version <= ?2"
                                 : "SELECT coll, count(*) FROM records WHERE version > ?1 AND version <= ?2 GROUP BY coll",
                         &st);
  if (rc) return rc;
  sqlite3_bind_int64(st, 1, after);
  sqlite3_bind_int64(st, 2, upto);
  *remaining = 0;
  while (sqlite3_step(st) == SQLITE_ROW)
    if (all || sloop_pull_wanted(p, (const char *)sqlite3_column_text(st, 0))) *remaining += sqlite3_column_int(st, 1);
  sloop_finalize(db, st);
  return SLOOP_OK;
}

static int select_conflicts(sloop_db *db, const pull_req *p, int64_t upto, cJSON *out) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db,
                         "SELECT " SLOOP_CONFLICT_JSON ", coll FROM conflicts WHERE version > ?1 AND version <= ?2 ORDER BY version",
                         &st);
  if (rc) return rc;
  sqlite3_bind_int64(st, 1, p->cursor);
  sqlite3_bind_int64(st, 2, upto);
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (!sloop_pull_wanted(p, (const char *)sqlite3_column_text(st, 1))) continue;
    cJSON *c = sloop_json_parse_text((const char *)sqlite3_column_text(st, 0));
    if (c) cJSON_AddItemToArray(out, c);
  }
  sloop_finalize(db, st);
  return SLOOP_OK;
}

/* Answers of this device's operations after ack_seq: how a client whose push answer was lost
** learns what became of its operations. */
static int select_results(sloop_db *db, const char *device, int64_t ack_seq, cJSON *out, int64_t *last_seq, char *last_id) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT result, seq, id FROM applied_ops WHERE device = ?1 AND seq > ?2 ORDER BY seq LIMIT 5000", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, ack_seq);
  *last_seq = ack_seq;
  while (sqlite3_step(st) == SQLITE_ROW) {
    cJSON *r = sloop_json_parse_text((const char *)sqlite3_column_text(st, 0));
    if (r) cJSON_AddItemToArray(out, r);
    *last_seq = sqlite3_column_int64(st, 1);
    snprintf(last_id, 96, "%s", sqlite3_column_text(st, 2));
  }
  sloop_finalize(db, st);
  return SLOOP_OK;
}

/* How often a device's row is brought up to date while nothing else about it changes. */
#define DEVICE_SEEN_EVERY_MS 60000

/* Records the device's cursor and when it was last seen. Only when it says something new: the
** device's first pull (which makes the device its user's, sloop_device_owner_ok), the pull that
** brings it up to date (no more pages), or a minute after the row was last written. Every pull
** used to write it, which made each page of an initial sync a write transaction, with its
** fsync, on a server that otherwise only reads for a pull. Nothing in the protocol reads the
** cursor or the time back; they tell an operator which devices a compaction would send to
** resync, and an older value there says less, never more, than the device has. */
static int note_cursor(sloop_db *db, const char *device, const sloop_server_ctx *pc, int64_t cursor, int caught_up) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT cursor, seen_ms FROM devices WHERE device = ?1", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
  int64_t now = sloop_now_ms(db);
  int src = sqlite3_step(st);
  int stale = src != SQLITE_ROW || sqlite3_column_type(st, 1) == SQLITE_NULL ||
              now - sqlite3_column_int64(st, 1) >= DEVICE_SEEN_EVERY_MS ||
              (caught_up && sqlite3_column_int64(st, 0) != cursor);
  if (src != SQLITE_ROW && src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "device cursor");
  sloop_finalize(db, st);
  if (rc || !stale) return rc;
  rc = sloop_prepare(db,
                     "INSERT INTO devices(device, user, cursor, seen_ms) VALUES(?1, ?2, ?3, ?4)"
                     " ON CONFLICT(device) DO UPDATE SET cursor = excluded.cursor, seen_ms = excluded.seen_ms",
                     &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, pc->user, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, cursor);
  sqlite3_bind_int64(st, 4, now);
  if (sqlite3_step(st) != SQLITE_DONE) rc = sloop_sql_fail(db, SQLITE_ERROR, "device cursor");
  sloop_finalize(db, st);
  return rc;
}

/* The part of the change log an external store loaded for this pull (ctx "window"): the
** records after the cursor up to version `upto`, where it stopped loading, and how many records
** of the scope lie beyond it (`beyond`, for "remaining"). The answer reads and counts nothing
** past `upto`, whatever else the database holds. An embedded database holds the whole log: no
** window, upto is the head. A store that cannot tell what a snapshot page or a scope
** hash would read loads the whole scope for those and names no window (docs/DEPLOY.md). */
typedef struct pull_window {
  int64_t upto;
  int beyond;
} pull_window;

static int parse_window(sloop_db *db, const cJSON *ctx, pull_req *p, int64_t head, pull_window *w) {
  const cJSON *win = sloop_member(ctx, "window");
  w->upto = head;
  w->beyond = 0;
  if (!win) return SLOOP_OK;
  const cJSON *group = sloop_member(win, "group");
  if (group) {
    /* A later snapshot page (ordered by version: a field's order is the core's alone), whose
    ** store loaded one group's next rows. */
    const cJSON *more = sloop_member(win, "more");
    if (!cJSON_IsObject(win) || !sloop_json_whole(group, 1e6) || !cJSON_IsBool(more))
      return sloop_fail(db, SLOOP_INVALID, "context window must be {group, more}");
    if (!cJSON_IsObject(p->snapshot) || p->verify || p->order_by)
      return sloop_fail(db, SLOOP_INVALID, "a snapshot window is for later pages of a snapshot in version order");
    p->windowed = 1;
    p->window_group = (int)group->valuedouble;
    p->window_more = cJSON_IsTrue(more);
    return SLOOP_OK;
  }
  const cJSON *upto = sloop_member(win, "upto"), *beyond = sloop_member(win, "beyond");
  if (!cJSON_IsObject(win) || !sloop_json_whole(upto, 9e15) || !sloop_json_whole(beyond, 2e9))
    return sloop_fail(db, SLOOP_INVALID, "context window must be {upto, beyond}, whole numbers");
  if (p->snapshot || p->verify) return sloop_fail(db, SLOOP_INVALID, "a snapshot or verify pull takes no window");
  if ((int64_t)upto->valuedouble < p->cursor || (int64_t)upto->valuedouble > head)
    return sloop_fail(db, SLOOP_INVALID, "context window ends outside the cursor and the head");
  w->upto = (int64_t)upto->valuedouble;
  w->beyond = (int)beyond->valuedouble;
  return SLOOP_OK;
}

static int sloop_server_pull_run(sloop_db *db, const char *req, size_t req_len, const char *ctx,
                                 size_t ctx_len, char **out, size_t *out_len) {
  *out = NULL;
  if (out_len) *out_len = 0;
  if (db->role != SLOOP_ROLE_SERVER) return sloop_fail(db, SLOOP_INVALID, "pull answers need a server database");
  cJSON *ctx_json = NULL, *body = NULL, *resp = NULL;
  sloop_server_ctx pc = {0};
  pull_req p = {0};
  const char *device = NULL;
  int64_t head = 0, horizon = 0, next = 0, ack_seq = 0;
  int has_more = 0, remaining = 0;
  pull_window win = {0};
  char acked_op[96] = "";
  int version = SLOOP_WIRE_V1;
  sloop_wire_nodes wire = {0};
  int rc = sloop_server_ctx_parse(db, ctx, ctx_len, &ctx_json, &pc);
  if (!rc) rc = sloop_server_request(db, req, req_len, &pc, &body, &device, &version);
  if (!rc) rc = parse_pull(db, body, &p);
  if (version == SLOOP_WIRE_V2) p.wire = &wire;
  if (!rc && !sloop_device_owner_ok(db, device, &pc)) rc = sloop_fail(db, SLOOP_DEVICE, "device belongs to another user");
  if (!rc && (rc = sloop_meta_get_int(db, "version", &head)) == SLOOP_NOTFOUND) rc = SLOOP_OK;
  if (!rc && (rc = sloop_meta_get_int(db, "horizon", &horizon)) == SLOOP_NOTFOUND) rc = SLOOP_OK;
  if (!rc && p.cursor > head) rc = sloop_fail(db, SLOOP_CURSOR, "cursor %lld is ahead of the server (%lld)", (long long)p.cursor, (long long)head);
  if (!rc && p.cursor > 0 && p.cursor < horizon)
    rc = sloop_fail(db, SLOOP_RESYNC, "cursor %lld is older than the oldest kept change (%lld): resync", (long long)p.cursor, (long long)horizon);
  if (!rc && !(resp = cJSON_CreateObject())) rc = SLOOP_NOMEM;
  cJSON *changes = resp ? cJSON_AddArrayToObject(resp, "changes") : NULL;
  cJSON *conflicts = resp ? cJSON_AddArrayToObject(resp, "conflicts") : NULL;
  cJSON *results = resp ? cJSON_AddArrayToObject(resp, "results") : NULL;
  if (!rc && (!changes || !conflicts || !results)) rc = SLOOP_NOMEM;
  p.perms = pc.perms;
  if (!rc) rc = parse_window(db, ctx_json, &p, head, &win);
  if (!rc && p.snapshot) rc = sloop_snapshot_page(db, &p, head, resp, changes, &next, &has_more, &remaining);
  else if (!rc) rc = select_changes(db, &p, win.upto, changes, &next, &has_more);
  /* The window ended before the tenant's head: the rest is for the next page. */
  if (!rc && !p.snapshot && !has_more && next < head) has_more = 1;
  /* A snapshot's pages answer cursor 0 until the last, so its conflicts come with that one. */
  if (!rc) rc = select_conflicts(db, &p, next, conflicts);
  if (!rc && !p.snapshot) rc = count_remaining(db, &p, next, win.upto, &remaining);
  remaining += win.beyond;
  if (!rc && p.verify && next == head) rc = sloop_scope_hash(db, &p, resp);
  if (!rc) rc = select_results(db, device, p.ack_seq, results, &ack_seq, acked_op);
  if (!rc) rc = note_cursor(db, device, &pc, p.cursor, !has_more);
  if (!rc) {
    cJSON_AddNumberToObject(resp, "v", version);
    /* After the changes that name them; an answer without changes has an empty list. */
    if (p.wire && !cJSON_AddItemToObject(resp, "nodes", sloop_wire_nodes_json(p.wire))) rc = SLOOP_NOMEM;
    cJSON_AddNumberToObject(resp, "cursor", (double)next);
    cJSON_AddBoolToObject(resp, "hasMore", has_more);
    cJSON_AddNumberToObject(resp, "remaining", has_more ? remaining : 0);
    cJSON_AddNumberToObject(resp, "ackSeq", (double)ack_seq);
    if (acked_op[0]) cJSON_AddStringToObject(resp, "ackedOp", acked_op);
    char hlc[SLOOP_HLC_STRLEN];
    sloop_hlc_format(db->clock, hlc);
    cJSON_AddStringToObject(resp, "hlc", hlc);
    if (!rc && !(*out = sloop_print(resp, out_len))) rc = SLOOP_NOMEM;
  }
  sloop_wire_nodes_free(&wire);
  cJSON_Delete(p.groups);
  cJSON_Delete(resp);
  cJSON_Delete(body);
  cJSON_Delete(ctx_json);
  return rc;
}

/* The hot path's cJSON trees come from the pool (json_pool.c). */
int sloop_server_pull(sloop_db *db, const char *req, size_t req_len, const char *ctx,
                      size_t ctx_len, char **out, size_t *out_len) {
  int outer = sloop_json_pool_enter();
  int rc = sloop_server_pull_run(db, req, req_len, ctx, ctx_len, out, out_len);
  sloop_json_pool_leave(outer);
  return rc;
}

