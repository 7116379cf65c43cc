/*
** resync.c -- the client side of snapshot pulls: progressive initial sync, and resync with a
** Bloom filter of what the replica holds (docs/PROTOCOL.md, "Snapshot pulls", "Resync").
**
** The state of a snapshot in progress is one JSON object in meta 'snapshot', so it survives
** a crash between pages: {"phase": "snapshot" | "catchup" | "idle", "mode": "initial" |
** "filter" | "full", "token": <the server's, echoed>, "colls": <the scope's collections>,
** "fp", "rounds", "verified", and the progress figures of the last answer}. While a snapshot
** runs the pull cursor stays 0; the last page sets it to the snapshot version H, and the
** ordinary pull from H (the catch-up) brings what changed meanwhile.
**
** A resync must end with exactly the server's state plus this replica's unfinished work:
**   - records the server has at a version the filter did not claim arrive as usual;
**   - records the server no longer has (deleted, tombstone compacted away, or out of scope)
**     are dropped: in a filtered round, those the last page's "live" filter does not hold
**     (a Bloom filter never denies a member, so this never drops a record the server has);
**     in a full round, those no page carried (the round sees every record, so this is exact);
**     a dropped record with pending or failed operations keeps them, on no canonical state,
**     and one with a conflict not resolved keeps its row until the conflict is;
**   - once caught up, the server's per-collection scopeHash is compared with the same hash
**     over the canonical versions held here. A false positive of either filter shows up as a
**     mismatch; the client then runs a second filtered round with a differently salted filter
**     (it costs little: only what is still stale is sent), and if that one mismatches too, a
**     full round, which cannot be fooled. A mismatch after the full round (only possible for
**     records kept for local work that the server no longer serves: a conflict not resolved
**     keeps a record's row, canonical state and all, see sloop_forget_canonical) ends the
**     resync with "verified": false rather than looping.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bloom.h"
#include "internal.h"
#include "merge.h"
#include "scope.h"

/* A record the server has (version > 0) whose canonical state (the base, or the state when no
** base is stored: see sloop_row_load) shows it live (sloop_visible: nodes.c). */
#define VISIBLE_BASE "version > 0 AND sloop_visible(coalesce(base, state))"

static int state_load(sloop_db *db, cJSON **out) {
  int rc = sloop_meta_get_json(db, "snapshot", out);
  if (rc == SLOOP_NOTFOUND) return SLOOP_OK;
  if (!rc && !*out) rc = sloop_fail(db, SLOOP_CORRUPT, "unreadable snapshot state");
  return rc;
}

static int state_save(sloop_db *db, const cJSON *s) {
  return sloop_meta_set_json(db, "snapshot", s);
}

static const char *field(const cJSON *obj, const char *name) {
  const char *v = cJSON_GetStringValue(sloop_member(obj, name));
  return v ? v : "";
}

static void set_item(cJSON *obj, const char *name, cJSON *item) {
  if (sloop_member(obj, name)) cJSON_ReplaceItemInObjectCaseSensitive(obj, name, item);
  else cJSON_AddItemToObject(obj, name, item);
}

static int seen_table(sloop_db *db) {
  return sloop_exec(db, "CREATE TABLE IF NOT EXISTS resync_seen(coll TEXT NOT NULL, id TEXT NOT NULL,"
                        " PRIMARY KEY(coll, id)) WITHOUT ROWID; DELETE FROM resync_seen;");
}

/* Starts a round: the cursor goes back to 0 (so records this replica does not hold count as
** new, not as stale copies) and the next pulls are snapshot pages. */
static int start_round(sloop_db *db, cJSON *s, const char *mode) {
  set_item(s, "phase", cJSON_CreateString("snapshot"));
  set_item(s, "mode", cJSON_CreateString(mode));
  set_item(s, "token", cJSON_CreateNull());
  set_item(s, "verified", cJSON_CreateNull());
  cJSON *rounds = sloop_member(s, "rounds");
  set_item(s, "rounds", cJSON_CreateNumber(cJSON_IsNumber(rounds) ? rounds->valuedouble + 1 : 1));
  int rc = strcmp(mode, "full") == 0 ? seen_table(db) : SLOOP_OK;
  if (!rc) rc = sloop_meta_set_int(db, "cursor", 0);
  return rc;
}

int sloop_resync_begin(sloop_db *db, double fp) {
  if (db->role != SLOOP_ROLE_CLIENT) return sloop_fail(db, SLOOP_INVALID, "resync is for client databases");
  if (fp >= 1) return sloop_fail(db, SLOOP_INVALID, "the false-positive rate must be below 1");
  cJSON *s = cJSON_CreateObject();
  if (!s) return SLOOP_NOMEM;
  cJSON_AddNumberToObject(s, "fp", fp > 0 ? fp : 0);
  int rc = sloop_begin(db, "resync");
  if (!rc) rc = start_round(db, s, fp > 0 ? "filter" : "full");
  if (!rc) rc = state_save(db, s);
  cJSON_Delete(s);
  return sloop_end(db, "resync", rc);
}

int sloop_pull_progress(sloop_db *db, char **out, size_t *out_len) {
  *out = NULL;
  cJSON *s = NULL;
  int rc = state_load(db, &s);
  if (!rc && !s && !(s = cJSON_CreateObject())) rc = SLOOP_NOMEM;
  if (rc) return rc;
  if (!sloop_member(s, "phase")) cJSON_AddStringToObject(s, "phase", "idle");
  cJSON_DeleteItemFromObjectCaseSensitive(s, "token");
  cJSON_DeleteItemFromObjectCaseSensitive(s, "colls");
  *out = sloop_print(s, out_len);
  cJSON_Delete(s);
  return *out ? SLOOP_OK : SLOOP_NOMEM;
}

/* ---------------------------------------------------------------- requests ----------- */

/* The filter of every canonical (coll, rid, version) held here, sized for fp. */
static int build_have(sloop_db *db, double fp, uint32_t salt, cJSON **out) {
  sqlite3_stmt *st;
  sloop_bloom b = {0};
  int n = 0;
  int rc = sloop_prepare(db, "SELECT count(*) FROM records WHERE version > 0", &st);
  if (rc) return rc;
  if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int(st, 0);
  sloop_finalize(db, st);
  rc = sloop_bloom_init(&b, (uint32_t)n, fp);
  b.salt = salt;
  if (!rc) rc = sloop_prepare(db, "SELECT coll, id, version FROM records WHERE version > 0", &st);
  if (rc) return sloop_bloom_clear(&b), rc;
  while (sqlite3_step(st) == SQLITE_ROW) {
    char key[SLOOP_BLOOM_KEY_MAX];
    size_t len = sloop_bloom_key(key, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
                                 sqlite3_column_int64(st, 2), 1);
    sloop_bloom_add(&b, sloop_key_hash(key, len));
  }
  sloop_finalize(db, st);
  *out = sloop_bloom_to_json(&b);
  sloop_bloom_clear(&b);
  return *out ? SLOOP_OK : SLOOP_NOMEM;
}

/* The snapshot fields of a round's request; the first page also notes the scope's
** collections, which bound what the last page may drop. */
static int round_request(sloop_db *db, cJSON *s, cJSON *req) {
  const cJSON *token = sloop_member(s, "token");
  const char *mode = field(s, "mode");
  set_item(req, "cursor", cJSON_CreateNumber(0));
  cJSON_AddItemToObject(req, "snapshot", cJSON_IsObject(token) ? cJSON_Duplicate(token, 1) : cJSON_CreateTrue());
  if (strcmp(mode, "initial") != 0) cJSON_AddTrueToObject(req, "verify");
  int rc = SLOOP_OK;
  if (strcmp(mode, "filter") == 0) {
    cJSON *have = NULL;
    /* Each filtered round salts its filter differently, so a record a false positive left
    ** stale in one round is claimed again in the next only by chance. */
    rc = build_have(db, sloop_member(s, "fp")->valuedouble,
                    (uint32_t)sloop_member(s, "rounds")->valuedouble - 1, &have);
    if (rc == SLOOP_TOOBIG) {
      /* More records than a filter in one request body holds: resync in full instead. */
      set_item(s, "mode", cJSON_CreateString("full"));
      rc = seen_table(db);
    } else if (!rc) {
      cJSON_AddItemToObject(req, "have", have);
    }
  }
  if (!rc && !cJSON_IsObject(token)) {
    const cJSON *colls = sloop_member(sloop_member(req, "scope"), "collections");
    set_item(s, "colls", colls ? cJSON_Duplicate(colls, 1) : cJSON_CreateNull());
    rc = state_save(db, s);
  }
  return rc;
}

int sloop_snapshot_idle(sloop_db *db, int *idle) {
  cJSON *s = NULL;
  int rc = state_load(db, &s);
  const char *phase = field(s, "phase");
  *idle = !rc && strcmp(phase, "snapshot") != 0 && strcmp(phase, "catchup") != 0;
  cJSON_Delete(s);
  return rc;
}

int sloop_snapshot_request(sloop_db *db, cJSON *req) {
  cJSON *s = NULL;
  int rc = state_load(db, &s);
  if (rc) return rc;
  const char *phase = field(s, "phase");
  const cJSON *scope = sloop_member(req, "scope");
  const char *order = cJSON_GetStringValue(sloop_member(scope, "order"));
  const cJSON *cursor = sloop_member(req, "cursor");
  if (strcmp(phase, "snapshot") == 0) rc = round_request(db, s, req);
  else if (strcmp(phase, "catchup") == 0) cJSON_AddTrueToObject(req, "verify");
  /* An initial sync in an order of the scope's: newest first, or its priority's collections
  ** first. */
  else if (cursor->valuedouble == 0 && ((order && strcmp(order, "recent") == 0) || sloop_member(scope, "priority")))
    cJSON_AddTrueToObject(req, "snapshot");
  cJSON_Delete(s);
  return rc;
}

/* ---------------------------------------------------------------- answers ------------ */

static int mark_seen(sloop_db *db, const cJSON *changes) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "INSERT OR IGNORE INTO resync_seen(coll, id) VALUES(?1, ?2)", &st);
  const cJSON *ch;
  cJSON_ArrayForEach(ch, changes) {
    if (rc) break;
    const char *coll = field(ch, "coll"), *rid = field(ch, "rid");
    sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rid, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) rc = sloop_sql_fail(db, SQLITE_ERROR, "resync seen");
    sqlite3_reset(st);
  }
  sloop_finalize(db, st);
  return rc;
}

static int in_colls(const cJSON *colls, const char *coll) {
  if (!cJSON_IsArray(colls)) return 1;
  const cJSON *c;
  cJSON_ArrayForEach(c, colls) if (cJSON_IsString(c) && strcmp(c->valuestring, coll) == 0) return 1;
  return 0;
}

/* Drops the canonical state of every record of the scope the server no longer has: those
** the live filter does not hold (live != NULL), or those no page of a full round carried. */
static int sweep(sloop_db *db, const cJSON *colls, const sloop_bloom *live) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db,
                         live ? "SELECT coll, id FROM records WHERE version > 0"
                              : "SELECT coll, id FROM records r WHERE version > 0 AND NOT EXISTS"
                                " (SELECT 1 FROM resync_seen s WHERE s.coll = r.coll AND s.id = r.id)",
                         &st);
  if (rc) return rc;
  cJSON *gone = cJSON_CreateArray();
  while (gone && sqlite3_step(st) == SQLITE_ROW) {
    const char *pair[2] = {(const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1)};
    if (!in_colls(colls, pair[0])) continue;
    char key[SLOOP_BLOOM_KEY_MAX];
    if (live && sloop_bloom_has(live, sloop_key_hash(key, sloop_bloom_key(key, pair[0], pair[1], 0, 0)))) continue;
    cJSON_AddItemToArray(gone, cJSON_CreateStringArray(pair, 2));
  }
  sloop_finalize(db, st);
  if (!gone) return SLOOP_NOMEM;
  const cJSON *g;
  cJSON_ArrayForEach(g, gone) {
    if (rc) break;
    rc = sloop_forget_canonical(db, cJSON_GetArrayItem(g, 0)->valuestring, cJSON_GetArrayItem(g, 1)->valuestring);
  }
  cJSON_Delete(gone);
  return rc;
}

/* The time in the window's field (`path`, "$.field") of the canonical state of record `rid`,
** which has a base (operations in the log): the server's hash is over what it holds, so the
** local view with pending edits would count a record the server does not, or not one it does. */
static int base_time(sloop_db *db, const char *coll, const char *rid, const char *path, int64_t *t, int *ok) {
  const sloop_coll_schema *cs = sloop_schema_coll(&db->schema, coll);
  sloop_row row;
  int rc = sloop_row_load(db, coll, rid, &row);
  cJSON *doc = !rc && cs && row.base ? sloop_materialize(cs, row.base) : NULL;
  if (!rc && cs && row.base && !doc) rc = SLOOP_NOMEM;
  *ok = doc && sloop_time_of(sloop_member(doc, path + 2), t);
  cJSON_Delete(doc);
  sloop_row_clear(&row);
  return rc;
}

/* The sum of the key hashes of the visible canonical records of `coll` held here; with a
** recency window (`since` not NULL: the cut-off the server's hash was taken at), of those
** whose canonical state is inside it. */
static int local_sum(sloop_db *db, const char *coll, const cJSON *since, uint64_t *sum, double *n) {
  sqlite3_stmt *st;
  char field[SLOOP_NAME_MAX + 1], path[SLOOP_NAME_MAX + 3];
  int windowed = cJSON_IsNumber(since) && sloop_scope_window_field(db, coll, field, sizeof(field));
  if (windowed) snprintf(path, sizeof(path), "$.%s", field);
  int rc = sloop_prepare(db, "SELECT id, version, CASE WHEN ?2 IS NOT NULL THEN json_extract(doc, ?2) END,"
                         " base IS NOT NULL FROM records WHERE coll = ?1 AND " VISIBLE_BASE, &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
  if (windowed) sqlite3_bind_text(st, 2, path, -1, SQLITE_TRANSIENT);
  *sum = 0;
  *n = 0;
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    const char *rid = (const char *)sqlite3_column_text(st, 0);
    int64_t t;
    int inside = 1;
    if (windowed && sqlite3_column_int(st, 3)) rc = base_time(db, coll, rid, path, &t, &inside);
    else if (windowed) inside = sloop_time_of_column(st, 2, &t);
    if (rc) break;
    if (windowed && !(inside && (double)t >= since->valuedouble)) continue;
    char key[SLOOP_BLOOM_KEY_MAX];
    *sum += sloop_key_hash(key, sloop_bloom_key(key, coll, rid, sqlite3_column_int64(st, 1), 1));
    (*n)++;
  }
  if (!rc && src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "scope hash");
  sloop_finalize(db, st);
  return rc;
}

/* Compares the server's scopeHash with this replica's; *mismatch lists the collections that
** differ (collections this app's schema does not know are skipped: their records are never
** stored here). */
static int compare_hash(sloop_db *db, const cJSON *hash, cJSON *mismatch) {
  const cJSON *c;
  cJSON_ArrayForEach(c, hash) {
    if (!sloop_schema_coll(&db->schema, c->string)) continue;
    uint64_t sum = 0;
    double n = 0;
    int rc = local_sum(db, c->string, sloop_member(c, "since"), &sum, &n);
    if (rc) return rc;
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)sum);
    const cJSON *want_n = sloop_member(c, "n");
    if (!cJSON_IsNumber(want_n) || want_n->valuedouble != n || strcmp(field(c, "sum"), hex) != 0)
      cJSON_AddItemToArray(mismatch, cJSON_CreateString(c->string));
  }
  return SLOOP_OK;
}

/* A snapshot page was applied: note progress, and after the last page drop what the server
** no longer has and move on to the catch-up (or finish an initial sync). */
static int page_done(sloop_db *db, cJSON *s, const cJSON *answer) {
  const char *mode = field(s, "mode");
  const cJSON *token = sloop_member(answer, "snapshot");
  const cJSON *progress = sloop_member(answer, "progress");
  const cJSON *p;
  cJSON_ArrayForEach(p, progress) set_item(s, p->string, cJSON_Duplicate(p, 0));
  int rc = strcmp(mode, "full") == 0 ? mark_seen(db, sloop_member(answer, "changes")) : SLOOP_OK;
  if (rc) return rc;
  if (cJSON_IsObject(token)) {
    set_item(s, "token", cJSON_Duplicate(token, 1));
    return SLOOP_OK;
  }
  const cJSON *colls = sloop_member(s, "colls");
  if (strcmp(mode, "full") == 0) {
    rc = sweep(db, colls, NULL);
    if (!rc) rc = sloop_exec(db, "DELETE FROM resync_seen");
  } else if (strcmp(mode, "filter") == 0) {
    sloop_bloom live;
    rc = sloop_bloom_from_json(sloop_member(answer, "live"), &live);
    if (rc == SLOOP_INVALID) rc = sloop_fail(db, rc, "the last resync page has no valid live filter");
    if (!rc) rc = sweep(db, colls, &live);
    sloop_bloom_clear(&live);
  }
  set_item(s, "token", cJSON_CreateNull());
  set_item(s, "phase", cJSON_CreateString(strcmp(mode, "initial") == 0 ? "idle" : "catchup"));
  return rc;
}

/* Caught up after a resync round: equal hashes end it; a mismatch after the first filtered
** round starts a second, differently salted one (cheap: it sends only what is still
** stale), after the second a full one, which a false positive cannot fool (*again: pull on). */
static int verify(sloop_db *db, cJSON *s, const cJSON *hash, int64_t *cursor, int *again) {
  cJSON *mismatch = cJSON_CreateArray();
  int rc = mismatch ? compare_hash(db, hash, mismatch) : SLOOP_NOMEM;
  if (rc) return cJSON_Delete(mismatch), rc;
  int equal = cJSON_GetArraySize(mismatch) == 0;
  if (!equal && strcmp(field(s, "mode"), "filter") == 0) {
    set_item(s, "mismatch", mismatch);
    *cursor = 0;
    *again = 1;
    return start_round(db, s, sloop_member(s, "rounds")->valuedouble < 2 ? "filter" : "full");
  }
  set_item(s, "mismatch", mismatch);
  set_item(s, "phase", cJSON_CreateString("idle"));
  set_item(s, "verified", cJSON_CreateBool(equal));
  return SLOOP_OK;
}

int sloop_snapshot_apply(sloop_db *db, const cJSON *answer, int64_t prev_cursor, int64_t *cursor, int *again) {
  *again = 0;
  const cJSON *progress = sloop_member(answer, "progress");
  const cJSON *hash = sloop_member(answer, "scopeHash");
  cJSON *s = NULL;
  int rc = state_load(db, &s);
  if (rc) return rc;
  const char *phase = field(s, "phase");
  int in_snapshot = strcmp(phase, "snapshot") == 0;
  if (!cJSON_IsObject(progress) && !cJSON_IsObject(hash)) {
    /* An answer to a pull sent before the snapshot began: the cursor stays 0 until the
    ** snapshot's last page, or records this replica lacks would pass for stale copies. */
    if (in_snapshot) *cursor = prev_cursor;
    cJSON_Delete(s);
    return SLOOP_OK;
  }
  if (cJSON_IsObject(progress) && !in_snapshot) {
    if (prev_cursor == 0 && strcmp(phase, "catchup") != 0) {
      /* The first page of an initial sync: the request asked for it through the scope. */
      cJSON_Delete(s);
      s = cJSON_CreateObject();
      if (!s) return SLOOP_NOMEM;
      cJSON_AddStringToObject(s, "phase", "snapshot");
      cJSON_AddStringToObject(s, "mode", "initial");
      in_snapshot = 1;
    } else {
      /* A page delivered late, after its snapshot ended: its records were harmless, but it
      ** must not send the cursor back or restart the snapshot. */
      *cursor = prev_cursor;
      cJSON_Delete(s);
      return SLOOP_OK;
    }
  }
  if (in_snapshot && cJSON_IsObject(progress)) rc = page_done(db, s, answer);
  if (!rc && cJSON_IsObject(hash) && strcmp(field(s, "phase"), "catchup") == 0) rc = verify(db, s, hash, cursor, again);
  if (!rc && s) rc = state_save(db, s);
  cJSON_Delete(s);
  return rc;
}
