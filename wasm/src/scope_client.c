/*
** scope_client.c -- the client's pull scope (docs/CLIENT.md, "Pull scopes"): kept in meta
** 'scope', sent with every pull request the caller does not give a scope of its own, and the
** recency window's evictions.
**
** The scope an app gives: {"collections": [names], "where": {field: value}, "recent": a window
** in days (scope.h), "priority": [names], "order": "recent" | "version", "orderBy": field}, every
** member optional. On the wire a window's days become `since`, the cut-off by this device's
** clock (sloop_window_cutoff), so the server serves exactly the window this replica keeps.
**
** Evictions: a record of a windowed collection whose field is before the cut-off leaves this
** replica as a record that left the scope does (its row goes, nothing is pushed), unless it has
** local work: operations in the log (pending, in flight, answered but not yet covered by a pull,
** failed) or a conflict not resolved. Such a record stays until its work is done. Sweeping
** every record after every pull would cost a scan per page of a live client, so meta
** 'scope_due' keeps the earliest instant a record it keeps can age out (or a minute ahead while
** a record is held for its work): the last page of a pull sweeps only once that instant has
** passed. Each page's records bring it forward if they age out sooner, and an eviction or a
** tombstone among them brings it to now (a record held for a write the page's pull covers may
** be free to go).
**
** Far behind (a version-ordered pull with SLOOP_CATCH_UP_MIN changes or more left, half the
** replica or more) with a priority in the scope, the replica catches up by a filtered resync
** instead: a snapshot, so the priority's collections arrive first, sending only what the
** replica lacks or holds stale. A version-ordered pull cannot be reordered (one cursor).
**
** Changing the scope (setScope with a different one, on a replica that holds records or pulled
** already) starts a filtered resync (resync.c): its snapshot under the new scope brings what
** the replica now lacks (a wider window, another collection) and its "live" filter drops what
** the new scope leaves out; pending work survives as in any resync.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json.h"
#include "scope.h"

/* How soon a sweep looks again at a record held for its local work. */
#define HELD_RECHECK_MS 60000
/* The false-positive rate of the resync a changed scope starts (resync.c's default). */
#define CHANGED_SCOPE_FP 0.01

static int names_valid(const cJSON *list) {
  const cJSON *c;
  if (!cJSON_IsArray(list)) return 0;
  cJSON_ArrayForEach(c, list) {
    if (!cJSON_IsString(c) || !sloop_valid_name(c->valuestring, strlen(c->valuestring), 0)) return 0;
  }
  return 1;
}

/* Checks an app's scope; *out is it with its members in one order (so that the same scope
** given twice is the same text). */
static int scope_canonical(sloop_db *db, const cJSON *in, cJSON **out) {
  static const char *const members[] = {"collections", "where", "recent", "priority", "order", "orderBy"};
  char msg[160];
  const cJSON *c;
  if (!cJSON_IsObject(in)) return sloop_fail(db, SLOOP_INVALID, "scope must be an object or null");
  cJSON_ArrayForEach(c, in) {
    int known = 0;
    for (size_t i = 0; i < sizeof(members) / sizeof(*members); i++) known |= strcmp(c->string, members[i]) == 0;
    if (!known) return sloop_fail(db, SLOOP_INVALID, "scope has no member '%.64s'", c->string);
  }
  const cJSON *colls = sloop_member(in, "collections"), *where = sloop_member(in, "where");
  const cJSON *recent = sloop_member(in, "recent"), *priority = sloop_member(in, "priority");
  const cJSON *order = sloop_member(in, "order"), *by = sloop_member(in, "orderBy");
  if (colls && !names_valid(colls)) return sloop_fail(db, SLOOP_INVALID, "scope.collections must be an array of collection names");
  if (priority && !names_valid(priority)) return sloop_fail(db, SLOOP_INVALID, "scope.priority must be an array of collection names");
  if (where && !cJSON_IsObject(where)) return sloop_fail(db, SLOOP_INVALID, "scope.where must be an object");
  cJSON_ArrayForEach(c, where) {
    if (!sloop_valid_name(c->string, strlen(c->string), 0) || cJSON_IsObject(c) || cJSON_IsArray(c))
      return sloop_fail(db, SLOOP_INVALID, "scope.where maps field names to scalar values");
  }
  if (recent && !sloop_recent_valid(recent, 1, msg, sizeof(msg))) return sloop_fail(db, SLOOP_INVALID, "%s", msg);
  if (order && !(cJSON_IsString(order) && (!strcmp(order->valuestring, "recent") || !strcmp(order->valuestring, "version"))))
    return sloop_fail(db, SLOOP_INVALID, "scope.order must be \"recent\" or \"version\"");
  if (by && !(cJSON_IsString(by) && sloop_valid_name(by->valuestring, strlen(by->valuestring), 0)))
    return sloop_fail(db, SLOOP_INVALID, "scope.orderBy must be a field name");
  *out = cJSON_CreateObject();
  for (size_t i = 0; *out && i < sizeof(members) / sizeof(*members); i++) {
    const cJSON *m = sloop_member(in, members[i]);
    if (m && !cJSON_AddItemToObject(*out, members[i], cJSON_Duplicate(m, 1))) {
      cJSON_Delete(*out);
      *out = NULL;
    }
  }
  return *out ? SLOOP_OK : SLOOP_NOMEM;
}

/* The stored scope (*scope NULL: none). */
static int scope_load(sloop_db *db, cJSON **scope) {
  char *text = NULL;
  *scope = NULL;
  int rc = sloop_meta_get_text(db, "scope", &text);
  if (rc == SLOOP_NOTFOUND) return SLOOP_OK;
  if (!rc && strcmp(text, "null") != 0 && !(*scope = sloop_json_parse_text(text)))
    rc = sloop_fail(db, SLOOP_CORRUPT, "unreadable pull scope");
  free(text);
  return rc;
}

/* Whether the scope takes collection `coll` (its list, if it has one). */
static int takes(const cJSON *scope, const char *coll) {
  const cJSON *colls = sloop_member(scope, "collections"), *c;
  if (!colls) return 1;
  cJSON_ArrayForEach(c, colls) if (strcmp(c->valuestring, coll) == 0) return 1;
  return 0;
}

/* The first instant at which a record whose field says `t` is outside a window of `days`:
** when sloop_window_cutoff passes t. */
static int64_t expiry(double days, int64_t t) {
  int64_t step = sloop_window_step(days);
  int64_t q = t / step;
  if (t % step < 0) q--;
  return (q + 1) * step + (int64_t)llround(days * SLOOP_DAY_MS);
}

/* ---------------------------------------------------------------- requests ----------- */

/* A window in days as the wire has it: {field, since}. */
static cJSON *wire_window(const cJSON *w, int64_t now) {
  cJSON *out = cJSON_CreateObject();
  cJSON_AddStringToObject(out, "field", cJSON_GetStringValue(sloop_member(w, "field")));
  cJSON_AddNumberToObject(out, "since", (double)sloop_window_cutoff(sloop_member(w, "days")->valuedouble, now));
  return out;
}

int sloop_scope_request(sloop_db *db, cJSON *req) {
  cJSON *scope = NULL;
  int rc = scope_load(db, &scope);
  if (rc || !scope) return rc;
  cJSON *recent = cJSON_DetachItemFromObjectCaseSensitive(scope, "recent");
  if (recent) {
    /* Each window's days become a cut-off by this device's clock, which the server keeps to. */
    int64_t now = sloop_now_ms(db);
    int global = cJSON_IsString(sloop_member(recent, "field"));
    cJSON *w, *wire = global ? wire_window(recent, now) : cJSON_CreateObject();
    if (!global) {
      cJSON_ArrayForEach(w, recent) cJSON_AddItemToObject(wire, w->string, wire_window(w, now));
    }
    cJSON_AddItemToObject(scope, "recent", wire);
    cJSON_Delete(recent);
  }
  if (!cJSON_AddItemToObject(req, "scope", scope)) {
    cJSON_Delete(scope);
    rc = SLOOP_NOMEM;
  }
  return rc;
}

int sloop_scope_window_field(sloop_db *db, const char *coll, char *field, size_t size) {
  cJSON *scope = NULL;
  const char *name = NULL;
  int64_t since;
  double days;
  int windowed = scope_load(db, &scope) == SLOOP_OK && scope && takes(scope, coll) &&
                 sloop_window_of(sloop_member(scope, "recent"), coll, 0, &name, &since, &days);
  if (windowed) snprintf(field, size, "%s", name);
  cJSON_Delete(scope);
  return windowed;
}

/* ---------------------------------------------------------------- evictions ---------- */

/* Whether the record has local work an eviction must not lose. */
static int has_local_work(sloop_db *db, const char *coll, const char *rid, int *work) {
  sloop_op_counts ops;
  int rc = sloop_op_counts_load(db, coll, rid, &ops);
  *work = !rc && sloop_ops_any(&ops);
  if (rc || *work) return rc;
  sqlite3_stmt *st;
  rc = sloop_prepare(db, "SELECT 1 FROM conflicts WHERE coll = ?1 AND rid = ?2 AND status != 'resolved' LIMIT 1", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
  *work = sqlite3_step(st) == SQLITE_ROW;
  sloop_finalize(db, st);
  return SLOOP_OK;
}

/* Evicts the records of `coll` outside its window at `now`; lowers *due to the earliest
** instant one it keeps can leave. *evicted counts what went. */
static int sweep_coll(sloop_db *db, const char *coll, const char *field, double days, int64_t now, int64_t *due,
                      int *evicted) {
  char path[SLOOP_NAME_MAX + 3];
  snprintf(path, sizeof(path), "$.%s", field);
  int64_t since = sloop_window_cutoff(days, now);
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT id, json_extract(doc, ?2) FROM records WHERE coll = ?1 AND version > 0", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
  cJSON *out = cJSON_CreateArray();
  int src;
  while (out && (src = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t t;
    if (sloop_time_of_column(st, 1, &t) && t >= since) {
      int64_t at = expiry(days, t);
      if (at < *due) *due = at;
    } else {
      cJSON_AddItemToArray(out, cJSON_CreateString((const char *)sqlite3_column_text(st, 0)));
    }
  }
  sloop_finalize(db, st);
  if (!out) return SLOOP_NOMEM;
  const cJSON *id;
  cJSON_ArrayForEach(id, out) {
    int work = 0;
    if ((rc = has_local_work(db, coll, id->valuestring, &work)) != SLOOP_OK) break;
    if (work) {
      if (now + HELD_RECHECK_MS < *due) *due = now + HELD_RECHECK_MS;
      continue;
    }
    if ((rc = sloop_row_delete(db, coll, id->valuestring)) != SLOOP_OK) break;
    (*evicted)++;
  }
  cJSON_Delete(out);
  return rc;
}

/* Sweeps every windowed collection of the scope at `now` and stores when to sweep next. */
static int sweep(sloop_db *db, const cJSON *scope, int64_t now, int *evicted) {
  const cJSON *recent = sloop_member(scope, "recent");
  int64_t due = INT64_MAX;
  int rc = SLOOP_OK;
  for (int i = 0; !rc && recent && i < db->schema.ncolls; i++) {
    const char *coll = db->schema.colls[i].name, *field;
    int64_t since;
    double days;
    if (takes(scope, coll) && sloop_window_of(recent, coll, now, &field, &since, &days))
      rc = sweep_coll(db, coll, field, days, now, &due, evicted);
  }
  return rc ? rc : sloop_meta_set_int(db, "scope_due", due);
}

int sloop_scope_evict(sloop_db *db, int64_t now, int *evicted) {
  int count = 0;
  if (evicted) *evicted = 0;
  if (db->role != SLOOP_ROLE_CLIENT) return sloop_fail(db, SLOOP_INVALID, "evictions are for client databases");
  cJSON *scope = NULL;
  int rc = scope_load(db, &scope);
  if (rc || !scope) return rc;
  if (now <= 0) now = sloop_now_ms(db);
  rc = sloop_begin(db, "evict");
  if (!rc) rc = sweep(db, scope, now, &count);
  rc = sloop_end(db, "evict", rc);
  if (!rc && evicted) *evicted = count;
  cJSON_Delete(scope);
  return rc;
}

int sloop_scope_after_page(sloop_db *db, const cJSON *changes, int last) {
  cJSON *scope = NULL;
  int rc = scope_load(db, &scope);
  const cJSON *recent = sloop_member(scope, "recent"), *ch;
  if (rc || !recent) return cJSON_Delete(scope), rc;
  int64_t now = sloop_now_ms(db), due = 0;
  if ((rc = sloop_meta_get_int(db, "scope_due", &due)) == SLOOP_NOTFOUND) rc = SLOOP_OK, due = 0;
  int64_t was = due;
  /* The page's records: one that leaves its window sooner than any held so far brings the next
  ** sweep forward. */
  cJSON_ArrayForEach(ch, changes) {
    const char *coll = cJSON_GetStringValue(sloop_member(ch, "coll")), *field;
    const cJSON *doc = sloop_member(ch, "doc");
    int64_t since, t;
    double days;
    if (!coll || !takes(scope, coll) || !sloop_window_of(recent, coll, now, &field, &since, &days)) continue;
    /* An eviction or a tombstone: a record held for its local work may be free to go now
    ** (the pull that covers its answered write brings its change back). */
    int64_t at = cJSON_IsObject(doc) && sloop_time_of(sloop_member(doc, field), &t) ? expiry(days, t) : now;
    if (at < due) due = at;
  }
  int evicted = 0;
  if (!rc && last && now >= due) rc = sweep(db, scope, now, &evicted);
  else if (!rc && due != was) rc = sloop_meta_set_int(db, "scope_due", due);
  cJSON_Delete(scope);
  return rc;
}

/* ---------------------------------------------------------------- catching up -------- */

int sloop_scope_catch_up(sloop_db *db, const cJSON *answer, int *again) {
  const cJSON *remaining = sloop_member(answer, "remaining");
  if (sloop_member(answer, "progress") || !cJSON_IsTrue(sloop_member(answer, "hasMore")) ||
      !cJSON_IsNumber(remaining) || remaining->valuedouble < SLOOP_CATCH_UP_MIN)
    return SLOOP_OK;
  int idle = 0;
  cJSON *scope = NULL;
  int rc = sloop_snapshot_idle(db, &idle);
  if (!rc && idle) rc = scope_load(db, &scope);
  int prioritised = !rc && sloop_member(scope, "priority") != NULL;
  cJSON_Delete(scope);
  if (rc || !prioritised) return rc;
  sqlite3_stmt *st;
  double held = 0;
  if ((rc = sloop_prepare(db, "SELECT count(*) FROM records WHERE version > 0", &st)) != SLOOP_OK) return rc;
  if (sqlite3_step(st) == SQLITE_ROW) held = sqlite3_column_double(st, 0);
  sloop_finalize(db, st);
  /* Behind by half the replica or more: a filtered snapshot costs about what the log would. */
  if (remaining->valuedouble * 2 < held) return SLOOP_OK;
  rc = sloop_resync_begin(db, CHANGED_SCOPE_FP);
  if (!rc) *again = 1;
  return rc;
}

/* ---------------------------------------------------------------- setting it --------- */

int sloop_set_scope(sloop_db *db, const char *json, size_t len) {
  if (db->role != SLOOP_ROLE_CLIENT) return sloop_fail(db, SLOOP_INVALID, "a pull scope is for client databases");
  cJSON *in = json && len ? sloop_json_parse(json, len) : cJSON_CreateNull(), *scope = NULL;
  if (!in) return sloop_fail(db, SLOOP_JSON, "scope is not JSON");
  int rc = cJSON_IsNull(in) ? SLOOP_OK : scope_canonical(db, in, &scope);
  cJSON_Delete(in);
  if (rc) return rc;
  char *text = scope ? sloop_print(scope, NULL) : NULL, *stored = NULL;
  rc = scope && !text ? SLOOP_NOMEM : sloop_meta_get_text(db, "scope", &stored);
  if (rc == SLOOP_NOTFOUND) rc = SLOOP_OK;
  int changed = !rc && strcmp(stored ? stored : "null", text ? text : "null") != 0;
  int64_t cursor = 0, held = 0;
  if (!rc) rc = sloop_begin(db, "scope");
  if (!rc && changed) rc = sloop_meta_set_text(db, "scope", text ? text : "null");
  if (!rc && changed) rc = sloop_meta_set_int(db, "scope_due", 0);
  if (!rc && changed && (rc = sloop_meta_get_int(db, "cursor", &cursor)) == SLOOP_NOTFOUND) rc = SLOOP_OK;
  if (!rc && changed) {
    sqlite3_stmt *st;
    if ((rc = sloop_prepare(db, "SELECT EXISTS (SELECT 1 FROM records)", &st)) == SLOOP_OK) {
      held = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0);
      sloop_finalize(db, st);
    }
  }
  /* A replica that pulled under another scope: resync under this one (see the top). */
  if (!rc && changed && (cursor > 0 || held)) rc = sloop_resync_begin(db, CHANGED_SCOPE_FP);
  /* On open: what aged out while the app was closed goes now, unless nothing can have. */
  int64_t now = sloop_now_ms(db), due = 0;
  if (!rc && (rc = sloop_meta_get_int(db, "scope_due", &due)) == SLOOP_NOTFOUND) rc = SLOOP_OK, due = 0;
  int evicted = 0;
  if (!rc && scope && now >= due) rc = sweep(db, scope, now, &evicted);
  rc = sloop_end(db, "scope", rc);
  free(text);
  free(stored);
  cJSON_Delete(scope);
  return rc;
}
