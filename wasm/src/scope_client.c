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
** be free to go). A sweep also drops the records of collections the scope does not take (a
** collection dropped from `collections`: the resync a change starts covers only the new
** scope's collections), by the same local-work rule.
**
** A window's cut-off never moves back (meta 'scope_cut', cut_of): a device clock corrected
** after running fast keeps the cut-off it reached, for requests and sweeps alike.
**
** Far behind (a version-ordered pull with SLOOP_CATCH_UP_MIN changes or more left, half the
** replica or more) with a priority in the scope and no `where` or `recent` (the count left is
** of every change of the collections, no measure of what a filtered replica lacks), the
** replica catches up by a filtered resync instead: a snapshot, so the priority's collections
** arrive first, sending only what the replica lacks or holds stale. A version-ordered pull
** cannot be reordered (one cursor).
**
** Changing the scope (setScope with one that keeps other records: collections as a set, where
** and recent whatever their members' order; priority and order only order a snapshot) on a
** replica that holds records or pulled already starts a filtered resync (resync.c): its
** snapshot under the new scope brings what the replica now lacks (a wider window, another
** collection) and its "live" filter drops what the new scope leaves out; pending work survives
** as in any resync. A change of only priority, order or orderBy is stored and starts nothing.
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
    cJSON *copy = m ? cJSON_Duplicate(m, 1) : NULL;
    if (m && !(copy && cJSON_AddItemToObject(*out, members[i], copy))) {
      cJSON_Delete(copy);
      cJSON_Delete(*out);
      *out = NULL;
    }
  }
  return *out ? SLOOP_OK : SLOOP_NOMEM;
}

/* The stored scope (*scope NULL: none). */
static int scope_load(sloop_db *db, cJSON **scope) {
  int rc = sloop_meta_get_json(db, "scope", scope);
  if (rc == SLOOP_NOTFOUND) return SLOOP_OK;
  if (!rc && !*scope) return sloop_fail(db, SLOOP_CORRUPT, "unreadable pull scope");
  if (cJSON_IsNull(*scope)) {
    cJSON_Delete(*scope);
    *scope = NULL;
  }
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

/* The highest cut-off each window has used (meta 'scope_cut': {collection or "*": ms}). A
** window's cut-off follows this device's clock, which a correction can set back after it ran
** fast: the cut-off then stays where it was rather than move back (which would ask the server
** for records swept already, and count them in no scope hash the server took). Cleared when
** the scope's filter changes (sloop_set_scope). */
static int cuts_load(sloop_db *db, cJSON **cuts) {
  int rc = sloop_meta_get_json(db, "scope_cut", cuts);
  if (rc == SLOOP_NOTFOUND) rc = SLOOP_OK;
  if (!rc && !cJSON_IsObject(*cuts)) {
    cJSON_Delete(*cuts);
    if (!(*cuts = cJSON_CreateObject())) rc = SLOOP_NOMEM;
  }
  return rc;
}

static int cuts_save(sloop_db *db, const cJSON *cuts) {
  return sloop_meta_set_json(db, "scope_cut", cuts);
}

/* The cut-off of the window of `key` (a collection, "*" for one window for all) at `now`: the
** computed one, or the highest used before if that is later; a later one is noted in `cuts`
** (*raised 1). Out of memory the note is lost, which only lets the cut-off move back. */
static int64_t cut_of(cJSON *cuts, const char *key, double days, int64_t now, int *raised) {
  int64_t cut = sloop_window_cutoff(days, now);
  const cJSON *was = sloop_member(cuts, key);
  if (cJSON_IsNumber(was) && was->valuedouble >= (double)cut) return (int64_t)was->valuedouble;
  if (was) cJSON_DeleteItemFromObjectCaseSensitive(cuts, key);
  cJSON_AddNumberToObject(cuts, key, (double)cut);
  *raised = 1;
  return cut;
}

/* A window in days as the wire has it: {field, since}; NULL out of memory. */
static cJSON *wire_window(const cJSON *w, const char *key, cJSON *cuts, int64_t now, int *raised) {
  cJSON *out = cJSON_CreateObject();
  int64_t since = cut_of(cuts, key, sloop_member(w, "days")->valuedouble, now, raised);
  if (out && cJSON_AddStringToObject(out, "field", cJSON_GetStringValue(sloop_member(w, "field"))) &&
      cJSON_AddNumberToObject(out, "since", (double)since))
    return out;
  cJSON_Delete(out);
  return NULL;
}

/* The scope's windows in days as the wire has them; NULL out of memory. */
static cJSON *wire_recent(const cJSON *recent, cJSON *cuts, int64_t now, int *raised) {
  if (cJSON_IsString(sloop_member(recent, "field"))) return wire_window(recent, "*", cuts, now, raised);
  cJSON *wire = cJSON_CreateObject(), *one;
  const cJSON *w;
  cJSON_ArrayForEach(w, recent) {
    if (!wire) break;
    if (!(one = wire_window(w, w->string, cuts, now, raised)) || !cJSON_AddItemToObject(wire, w->string, one)) {
      cJSON_Delete(one);
      cJSON_Delete(wire);
      wire = NULL;
    }
  }
  return wire;
}

int sloop_scope_request(sloop_db *db, cJSON *req) {
  cJSON *scope = NULL, *cuts = NULL;
  int rc = scope_load(db, &scope);
  if (rc || !scope) return rc;
  cJSON *recent = cJSON_DetachItemFromObjectCaseSensitive(scope, "recent");
  if (recent) {
    /* Each window's days become a cut-off by this device's clock, which the server keeps to. */
    int raised = 0;
    cJSON *wire = NULL;
    rc = cuts_load(db, &cuts);
    if (!rc && !(wire = wire_recent(recent, cuts, sloop_now_ms(db), &raised))) rc = SLOOP_NOMEM;
    if (!rc && !cJSON_AddItemToObject(scope, "recent", wire)) cJSON_Delete(wire), rc = SLOOP_NOMEM;
    if (!rc && raised) rc = cuts_save(db, cuts);
    cJSON_Delete(recent);
    cJSON_Delete(cuts);
  }
  if (!rc && !cJSON_AddItemToObject(req, "scope", scope)) rc = SLOOP_NOMEM;
  else if (!rc) scope = NULL;
  cJSON_Delete(scope);
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

/* Evicts the records of `coll` outside its window (field NULL: every record, for a collection
** the scope no longer takes), cut off at `since`; lowers *due to the earliest instant one it
** keeps can leave. *evicted counts what went. */
static int sweep_coll(sloop_db *db, const char *coll, const char *field, double days, int64_t since, int64_t now,
                      int64_t *due, int *evicted) {
  char path[SLOOP_NAME_MAX + 3];
  if (field) snprintf(path, sizeof(path), "$.%s", field);
  else snprintf(path, sizeof(path), "$"); /* read, not used */
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT id, json_extract(doc, ?2) FROM records WHERE coll = ?1 AND version > 0", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
  cJSON *out = cJSON_CreateArray();
  int src = SQLITE_DONE;
  while (out && (src = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t t;
    if (field && sloop_time_of_column(st, 1, &t) && t >= since) {
      int64_t at = expiry(days, t);
      if (at < *due) *due = at;
    } else if (!cJSON_AddItemToArray(out, cJSON_CreateString((const char *)sqlite3_column_text(st, 0)))) {
      cJSON_Delete(out);
      out = NULL;
    }
  }
  /* A scan cut short would store a scope_due that misses the records it did not see. */
  if (out && src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "scope sweep");
  sloop_finalize(db, st);
  if (!rc && !out) rc = SLOOP_NOMEM;
  if (rc) return cJSON_Delete(out), rc;
  const cJSON *id;
  cJSON_ArrayForEach(id, out) {
    int work = 0;
    if ((rc = sloop_has_local_work(db, coll, id->valuestring, &work)) != SLOOP_OK) break;
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

/* Sweeps the collections of the schema the scope does not take, and every windowed one it
** does, at `now`; stores when to sweep next and the cut-offs used. */
static int sweep(sloop_db *db, const cJSON *scope, int64_t now, int *evicted) {
  const cJSON *recent = sloop_member(scope, "recent");
  int64_t due = INT64_MAX;
  int raised = 0;
  cJSON *cuts = NULL;
  int rc = cuts_load(db, &cuts);
  for (int i = 0; !rc && i < db->schema.ncolls; i++) {
    const char *coll = db->schema.colls[i].name, *field;
    const char *key = cJSON_IsString(sloop_member(recent, "field")) ? "*" : coll;
    int64_t since;
    double days;
    if (!takes(scope, coll)) rc = sweep_coll(db, coll, NULL, 0, 0, now, &due, evicted);
    else if (sloop_window_of(recent, coll, now, &field, &since, &days))
      rc = sweep_coll(db, coll, field, days, cut_of(cuts, key, days, now, &raised), now, &due, evicted);
  }
  if (!rc && raised) rc = cuts_save(db, cuts);
  cJSON_Delete(cuts);
  return rc ? rc : sloop_meta_set_int(db, "scope_due", due);
}

int sloop_scope_evict(sloop_db *db, int64_t now, int *evicted) {
  int count = 0;
  if (evicted) *evicted = 0;
  if (db->role != SLOOP_ROLE_CLIENT) return sloop_fail(db, SLOOP_INVALID, "evictions are for client databases");
  cJSON *scope = NULL;
  int rc = scope_load(db, &scope);
  if (rc || !scope) return rc;
  /* Never later than the clock: a cut-off once used is kept (cut_of), and one from a time
  ** ahead of the clock would keep evicting what is still inside the window. */
  int64_t clock = sloop_now_ms(db);
  if (now <= 0 || now > clock) now = clock;
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
  /* Without a window or a list of collections, nothing leaves the replica by a sweep. */
  if (rc || !(recent || sloop_member(scope, "collections"))) return cJSON_Delete(scope), rc;
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
  /* `remaining` counts every change of the scope's collections, wherever its record is: with
  ** a `where` or a window it is no measure of what this replica lacks, and a windowed replica
  ** holding a few records would resync each time it fell SLOOP_CATCH_UP_MIN changes behind. */
  int prioritised = !rc && sloop_member(scope, "priority") && !sloop_member(scope, "where") &&
                    !sloop_member(scope, "recent");
  cJSON_Delete(scope);
  if (rc || !prioritised) return rc;
  sqlite3_stmt *st;
  double held = 0;
  if ((rc = sloop_prepare(db, "SELECT count(*) FROM records WHERE version > 0", &st)) != SLOOP_OK) return rc;
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) held = sqlite3_column_double(st, 0);
  else rc = sloop_sql_fail(db, src, "count records");
  sloop_finalize(db, st);
  if (rc) return rc;
  /* Behind by half the replica or more: a filtered snapshot costs about what the log would. */
  if (remaining->valuedouble * 2 < held) return SLOOP_OK;
  rc = sloop_resync_begin(db, CHANGED_SCOPE_FP);
  if (!rc) *again = 1;
  return rc;
}

/* ---------------------------------------------------------------- setting it --------- */

/* Compares by name (an object's members) or by text (a list of names). */
static int by_name(const void *a, const void *b) {
  return strcmp((*(cJSON *const *)a)->string, (*(cJSON *const *)b)->string);
}
static int by_text(const void *a, const void *b) {
  return strcmp((*(cJSON *const *)a)->valuestring, (*(cJSON *const *)b)->valuestring);
}

/* Puts v's items in the order of `cmp`, an object's recursively; a list of names loses its
** repeats (`set`). 0 out of memory. */
static int sort_items(cJSON *v, int set) {
  int n = cJSON_GetArraySize(v), kept = 0;
  if (n < 1) return 1;
  cJSON **items = malloc((size_t)n * sizeof(*items));
  if (!items) return 0;
  for (int i = 0; i < n; i++) items[i] = cJSON_DetachItemViaPointer(v, v->child);
  qsort(items, (size_t)n, sizeof(*items), set ? by_text : by_name);
  int ok = 1;
  for (int i = 0; i < n; i++) {
    if (set && kept && by_text(&items[i], &items[kept - 1]) == 0) {
      cJSON_Delete(items[i]);
      continue;
    }
    if (!set && cJSON_IsObject(items[i])) ok &= sort_items(items[i], 0);
    cJSON_AddItemToArray(v, items[i]); /* relinks an object's member, its name kept */
    items[kept++] = items[i];
  }
  free(items);
  return ok;
}

/* What of a scope decides which records the replica holds: its collections as a set, `where`
** and `recent` with their members in one order (no scope: {}, as a scope of none of them);
** NULL out of memory (*rc). Priority and order only decide the order a snapshot serves them in. */
static cJSON *filter_of(const cJSON *scope, int *rc) {
  static const char *const parts[] = {"collections", "where", "recent"};
  cJSON *out = cJSON_CreateObject();
  if (!out) *rc = SLOOP_NOMEM;
  for (size_t i = 0; out && i < sizeof(parts) / sizeof(*parts); i++) {
    const cJSON *m = sloop_member(scope, parts[i]);
    cJSON *copy = m ? cJSON_Duplicate(m, 1) : NULL;
    if (m && !(copy && sort_items(copy, i == 0) && cJSON_AddItemToObject(out, parts[i], copy))) {
      if (!sloop_member(out, parts[i])) cJSON_Delete(copy);
      cJSON_Delete(out);
      out = NULL;
      *rc = SLOOP_NOMEM;
    }
  }
  return out;
}

/* Whether scope `now` keeps other records than the stored one `was` (either NULL: none). */
static int filter_changed(const cJSON *was, const cJSON *now, int *changed) {
  int rc = SLOOP_OK;
  cJSON *a = filter_of(was, &rc), *b = rc ? NULL : filter_of(now, &rc);
  *changed = !rc && !cJSON_Compare(a, b, 1);
  cJSON_Delete(a);
  cJSON_Delete(b);
  return rc;
}

/* Whether the replica holds records or pulled already (a fresh one has nothing to resync). */
static int pulled_any(sloop_db *db, int *any) {
  int64_t cursor = 0;
  int rc = sloop_meta_get_int(db, "cursor", &cursor);
  if (rc == SLOOP_NOTFOUND) rc = SLOOP_OK;
  if (rc || (*any = cursor > 0)) return rc;
  sqlite3_stmt *st;
  if ((rc = sloop_prepare(db, "SELECT EXISTS (SELECT 1 FROM records)", &st)) != SLOOP_OK) return rc;
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) *any = sqlite3_column_int(st, 0);
  else rc = sloop_sql_fail(db, src, "look for records");
  sloop_finalize(db, st);
  return rc;
}

/* Stores a scope whose text differs from the stored one; when it keeps other records, starts
** the resync that makes the replica hold exactly them (see the top), and lets the next sweep
** run now and from the new windows' cut-offs. */
static int scope_store(sloop_db *db, const cJSON *was, int unreadable, const cJSON *scope, const char *text) {
  int changed = 1, any = 0;
  int rc = unreadable ? SLOOP_OK : filter_changed(was, scope, &changed);
  if (!rc) rc = sloop_meta_set_text(db, "scope", text ? text : "null");
  if (rc || !changed) return rc;
  rc = sloop_meta_set_int(db, "scope_due", 0);
  if (!rc) rc = sloop_exec(db, "DELETE FROM meta WHERE k = 'scope_cut'");
  if (!rc) rc = pulled_any(db, &any);
  if (!rc && any) rc = sloop_resync_begin(db, CHANGED_SCOPE_FP);
  return rc;
}

int sloop_set_scope(sloop_db *db, const char *json, size_t len) {
  if (db->role != SLOOP_ROLE_CLIENT) return sloop_fail(db, SLOOP_INVALID, "a pull scope is for client databases");
  cJSON *in = json && len ? sloop_json_parse(json, len) : cJSON_CreateNull(), *scope = NULL, *was = NULL;
  if (!in) return sloop_fail(db, SLOOP_JSON, "scope is not JSON");
  int rc = cJSON_IsNull(in) ? SLOOP_OK : scope_canonical(db, in, &scope);
  cJSON_Delete(in);
  if (rc) return rc;
  char *text = scope ? sloop_print(scope, NULL) : NULL, *stored = NULL;
  rc = scope && !text ? SLOOP_NOMEM : sloop_meta_get_text(db, "scope", &stored);
  if (rc == SLOOP_NOTFOUND) rc = SLOOP_OK;
  int same_text = !rc && strcmp(stored ? stored : "null", text ? text : "null") == 0;
  /* A stored scope that cannot be read is replaced, as one that differs. */
  int unreadable = 0;
  if (!rc && !same_text && (rc = scope_load(db, &was)) == SLOOP_CORRUPT) unreadable = 1, rc = SLOOP_OK;
  if (!rc) rc = sloop_begin(db, "scope");
  if (!rc && !same_text) rc = scope_store(db, was, unreadable, scope, text);
  /* On open: what aged out while the app was closed goes now, unless nothing can have. */
  int64_t now = sloop_now_ms(db), due = 0;
  if (!rc && (rc = sloop_meta_get_int(db, "scope_due", &due)) == SLOOP_NOTFOUND) rc = SLOOP_OK, due = 0;
  int evicted = 0;
  if (!rc && scope && now >= due) rc = sweep(db, scope, now, &evicted);
  rc = sloop_end(db, "scope", rc);
  free(text);
  free(stored);
  cJSON_Delete(was);
  cJSON_Delete(scope);
  return rc;
}
