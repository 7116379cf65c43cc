/*
** snapshot.c -- the server's snapshot pulls: progressive initial sync and resync
** (docs/PROTOCOL.md, "Snapshot pulls" and "Resync").
**
** A snapshot is the scope's records as of version H, the tenant version when its first page
** was asked for. The server keeps no history, so a record changed after H is simply left out
** of the snapshot: its version is above H, and the client, whose cursor becomes H after the
** last page, gets it from the ordinary version-ordered pull that follows. Nothing is missed
** and nothing is served twice within the snapshot, since a record's version only grows.
**
** Pages are served in a fixed order (collections in the order the scope lists them, then
** newest first by version or by the scope's orderBy field, or oldest first by version) and
** continue from a position, never an offset: a record leaving the snapshot between pages
** would shift an offset and make the next page skip one. The position and the progress
** figures travel in a token the client echoes, so the server keeps no per-client state.
**
** Resync adds two things. The client sends a Bloom filter of the (coll, rid, version) it
** holds, and records it claims are left out (counted as omitted, with the bytes they would
** have cost). The last page carries "live", a Bloom filter of the (coll, rid) the scope has
** now, so the client can drop records the server no longer has even when their tombstones
** were compacted away. A false positive in either filter can leave a record stale or kept:
** the scope hash (sloop_scope_hash), compared once the client has caught up, finds that.
**
** Costs, candidly: each page sorts the snapshot's remaining rows (no index serves orderBy),
** and the first page scans the whole scope once to count it. Both are O(n log n) per page.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bloom.h"
#include "json.h"
#include "pull.h"
#include "scope.h"

/* False-positive rate of the "live" filter: a false positive keeps a record the server has
** dropped until the scope hash catches it, which costs a full round, so it is kept rarer than
** the client's 1%. */
#define LIVE_FP 0.001

/* A snapshot's position and progress, as the token carries them. */
typedef struct snap {
  int64_t at;        /* the snapshot version H */
  int64_t horizon;   /* the compaction horizon when it started */
  int64_t now;       /* the time a window in days is cut off at, fixed at the first page */
  int fresh;         /* the client held nothing at the first page */
  int group;         /* index into scope.collections (0 when the scope lists none) */
  int started;       /* whether key/version hold a position in that group */
  cJSON *key;        /* owned: the sort key of the last row consumed (orderBy only) */
  int64_t version;   /* the version of the last row consumed */
  double page, pages, total, sent, omitted, saved;
} snap;

static double num(const cJSON *obj, const char *name) {
  const cJSON *v = sloop_member(obj, name);
  return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/* Reads a token back; anything a client could have altered is range-checked, since it only
** positions this client's own pages within what it may read anyway. */
static int token_read(sloop_db *db, const sloop_pull_req *p, const cJSON *t, int64_t head, snap *s) {
  const char *whole[] = {"at", "horizon", "c", "v"};
  const double max[] = {9e15, 9e15, 1e6, 9e15}; /* "c" becomes an int */
  for (int i = 0; i < 4; i++)
    if (!sloop_json_whole(sloop_member(t, whole[i]), max[i]))
      return sloop_fail(db, SLOOP_INVALID, "snapshot token is not one this server issued");
  s->at = (int64_t)num(t, "at");
  s->horizon = (int64_t)num(t, "horizon");
  s->fresh = cJSON_IsTrue(sloop_member(t, "fresh"));
  s->group = (int)num(t, "c");
  s->version = (int64_t)num(t, "v");
  s->started = s->version > 0;
  const cJSON *key = sloop_member(t, "k");
  const char *names[] = {"page", "pages", "total", "sent", "omitted", "saved"};
  double *vals[] = {&s->page, &s->pages, &s->total, &s->sent, &s->omitted, &s->saved};
  for (int i = 0; i < 6; i++)
    if ((*vals[i] = num(t, names[i])) < 0) return sloop_fail(db, SLOOP_INVALID, "snapshot token lacks %s", names[i]);
  int groups = sloop_pull_groups(p);
  const cJSON *now = sloop_member(t, "t");
  /* A token issued before windows were cut at its first page: this page's time. */
  s->now = sloop_json_whole(now, 9e15) ? (int64_t)now->valuedouble : p->now_ms;
  if (s->at < 0 || s->at > head || s->horizon < 0 || s->group < 0 || s->group > groups || s->version < 0 ||
      (key && !cJSON_IsNumber(key) && !cJSON_IsString(key)))
    return sloop_fail(db, SLOOP_INVALID, "snapshot token is not one this server issued");
  if (key && !(s->key = cJSON_Duplicate(key, 0))) return SLOOP_NOMEM;
  return SLOOP_OK;
}

static cJSON *token_make(const snap *s) {
  cJSON *t = cJSON_CreateObject();
  if (!t) return NULL;
  cJSON_AddNumberToObject(t, "at", (double)s->at);
  cJSON_AddNumberToObject(t, "horizon", (double)s->horizon);
  cJSON_AddNumberToObject(t, "t", (double)s->now);
  cJSON_AddBoolToObject(t, "fresh", s->fresh);
  cJSON_AddNumberToObject(t, "c", s->group);
  cJSON_AddNumberToObject(t, "v", (double)s->version);
  if (s->key) cJSON_AddItemToObject(t, "k", cJSON_Duplicate(s->key, 0));
  const char *names[] = {"page", "pages", "total", "sent", "omitted", "saved"};
  const double vals[] = {s->page, s->pages, s->total, s->sent, s->omitted, s->saved};
  for (int i = 0; i < 6; i++) cJSON_AddNumberToObject(t, names[i], vals[i]);
  return t;
}

/* Whether the client's filter claims it holds this record at this version. */
static int claimed(const sloop_bloom *have, const char *coll, const char *rid, int64_t version) {
  if (!have) return 0;
  char key[SLOOP_BLOOM_KEY_MAX];
  size_t len = sloop_bloom_key(key, coll, rid, version, 1);
  return sloop_bloom_has(have, sloop_key_hash(key, len));
}

/* What leaving out a record saves: its change object's size, estimated from the columns
** rather than printed. v1: the keys and punctuation of change_json add about 70 bytes, and the
** state as JSON repeats the document's values and spells out what the blob packs, about
** three times the blob's size. v2: about 60 bytes of keys, the document once, and the state's
** base64, a third more than the blob (less the names the document has, more its nodes). */
static double change_bytes(sqlite3_stmt *st, int wire) {
  double fixed = sqlite3_column_bytes(st, 0) + sqlite3_column_bytes(st, 1);
  if (wire) return 60.0 + fixed + sqlite3_column_bytes(st, 2) + 4.0 / 3.0 * sqlite3_column_bytes(st, 3);
  return 70.0 + fixed + 2.0 * sqlite3_column_bytes(st, 2) + 3.0 * sqlite3_column_bytes(st, 3);
}

/* Whether the snapshot sends this row at all (before the filter): what sloop_pull_change
** decides, without building the change. */
static int in_snapshot(const sloop_pull_req *p, int fresh, const char *coll, const char *doc) {
  if (!sloop_pull_wanted(p, coll)) return 0;
  return !(fresh || p->no_evict) || sloop_pull_doc_in_scope(p, coll, doc);
}

/* First page: fixes H and counts the scope, and what the filter leaves to send, so the
** answer can say "page k of n" from the start. */
static int snapshot_start(sloop_db *db, const sloop_pull_req *p, const sloop_bloom *have, int64_t head, snap *s) {
  int64_t horizon = 0;
  int rc = sloop_meta_get_int(db, "horizon", &horizon);
  if (rc && rc != SLOOP_NOTFOUND) return rc;
  s->at = head;
  s->horizon = horizon;
  s->fresh = p->fresh;
  sqlite3_stmt *st;
  rc = sloop_prepare(db, "SELECT coll, id, doc, state, version FROM records WHERE version <= ?1", &st);
  if (rc) return rc;
  sqlite3_bind_int64(st, 1, head);
  double to_send = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *coll = (const char *)sqlite3_column_text(st, 0);
    if (!in_snapshot(p, s->fresh, coll, (const char *)sqlite3_column_text(st, 2))) continue;
    s->total++;
    if (!claimed(have, coll, (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 4))) to_send++;
  }
  sloop_finalize(db, st);
  s->pages = to_send > 0 ? ceil(to_send / p->limit) : 1;
  return SLOOP_OK;
}

/* The rows of one group of the snapshot after the position, in serving order. */
static int group_rows(sloop_db *db, const sloop_pull_req *p, const snap *s, sqlite3_stmt **st) {
  char sql[512], key[96];
  if (p->order_by) snprintf(key, sizeof(key), "coalesce(json_extract(doc, ?6), -1e308)");
  else snprintf(key, sizeof(key), "version");
  if (p->recent)
    snprintf(sql, sizeof(sql),
             "SELECT coll, id, doc, state, version, %s AS k FROM records WHERE version <= ?1"
             " AND (?2 IS NULL OR coll = ?2) AND (?3 = 0 OR (%s, version) < (?4, ?5))"
             " ORDER BY k DESC, version DESC",
             key, key);
  else
    snprintf(sql, sizeof(sql),
             "SELECT coll, id, doc, state, version, version FROM records WHERE version <= ?1"
             " AND (?2 IS NULL OR coll = ?2) AND (?3 = 0 OR version > ?5) ORDER BY version");
  int rc = sloop_prepare(db, sql, st);
  if (rc) return rc;
  sqlite3_bind_int64(*st, 1, s->at);
  const char *coll = sloop_pull_group_coll(p, s->group);
  if (coll) sqlite3_bind_text(*st, 2, coll, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(*st, 3, s->started);
  if (!p->order_by || !s->key) sqlite3_bind_int64(*st, 4, s->version);
  else if (cJSON_IsString(s->key)) sqlite3_bind_text(*st, 4, s->key->valuestring, -1, SQLITE_TRANSIENT);
  else if (s->key->valuedouble == floor(s->key->valuedouble) && fabs(s->key->valuedouble) < 9e15)
    sqlite3_bind_int64(*st, 4, (int64_t)s->key->valuedouble);
  else sqlite3_bind_double(*st, 4, s->key->valuedouble);
  sqlite3_bind_int64(*st, 5, s->version);
  if (p->order_by) {
    char path[SLOOP_NAME_MAX + 3];
    snprintf(path, sizeof(path), "$.%s", p->order_by);
    sqlite3_bind_text(*st, 6, path, -1, SQLITE_TRANSIENT);
  }
  return SLOOP_OK;
}

/* Moves the position past the current row. */
static int consume(snap *s, sqlite3_stmt *st, int by_field) {
  s->started = 1;
  s->version = sqlite3_column_int64(st, 4);
  cJSON_Delete(s->key);
  s->key = NULL;
  if (!by_field) return SLOOP_OK;
  int type = sqlite3_column_type(st, 5);
  s->key = type == SQLITE_TEXT ? cJSON_CreateString((const char *)sqlite3_column_text(st, 5))
                               : cJSON_CreateNumber(sqlite3_column_double(st, 5));
  if (type == SQLITE_INTEGER && s->key) cJSON_SetNumberValue(s->key, (double)sqlite3_column_int64(st, 5));
  return s->key ? SLOOP_OK : SLOOP_NOMEM;
}

/* Serves rows of the current group until the page is full; *full says a sendable row is
** waiting beyond it (left unconsumed for the next page). */
static int serve_group(sloop_db *db, const sloop_pull_req *p, const sloop_bloom *have, snap *s,
                       cJSON *changes, int *n, int *full) {
  sqlite3_stmt *st;
  int rc = group_rows(db, p, s, &st), src = SQLITE_DONE;
  if (rc) return rc;
  sloop_pull_req fixed = *p;
  fixed.fresh = s->fresh; /* what the client was at the first page, not at this one */
  while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
    const char *coll = (const char *)sqlite3_column_text(st, 0);
    const char *rid = (const char *)sqlite3_column_text(st, 1);
    int64_t version = sqlite3_column_int64(st, 4);
    cJSON *ch = NULL;
    if (!sloop_pull_in_group(p, s->group, coll)) {
      /* The last group of a priority is the rest: a prioritised collection was served already. */
    } else if (sloop_pull_wanted(p, coll) && claimed(have, coll, rid, version)) {
      s->omitted++;
      s->saved += change_bytes(st, p->wire != NULL);
    } else if (sloop_pull_wanted(p, coll) && (rc = sloop_pull_change(db, &fixed, st, &ch)) == SLOOP_OK && ch) {
      if (*n == p->limit) {
        cJSON_Delete(ch);
        *full = 1;
        break;
      }
      cJSON_AddItemToArray(changes, ch);
      (*n)++;
      s->sent++;
    }
    if (!rc) rc = consume(s, st, p->order_by != NULL);
  }
  if (!rc && !*full && src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "snapshot page");
  sloop_finalize(db, st);
  return rc;
}

/* The last page's "live": every (coll, rid) the scope has now. */
static int add_live(sloop_db *db, const sloop_pull_req *p, cJSON *resp);

int sloop_snapshot_page(sloop_db *db, const sloop_pull_req *request, int64_t head, cJSON *resp,
                        cJSON *changes, int64_t *next, int *has_more, int *remaining) {
  snap s = {0};
  /* A resync round drops what it holds and the server does not: evictions would be noise. */
  sloop_pull_req q = *request;
  q.no_evict = request->verify;
  const sloop_pull_req *p = &q;
  sloop_bloom have = {0};
  int rc = SLOOP_OK, n = 0, full = 0;
  if (p->have && (rc = sloop_bloom_from_json(p->have, &have)) != SLOOP_OK) {
    if (rc == SLOOP_INVALID) rc = sloop_fail(db, rc, "have is not a valid Bloom filter");
    return rc;
  }
  const sloop_bloom *filter = p->have ? &have : NULL;
  if (cJSON_IsObject(p->snapshot)) rc = token_read(db, p, p->snapshot, head, &s);
  else {
    s.now = p->now_ms;
    rc = snapshot_start(db, p, filter, head, &s);
  }
  /* Every page cuts its window off where the first did, so a record's place in the snapshot
  ** does not depend on when its page was asked for. */
  q.now_ms = s.now;
  int64_t horizon = 0;
  if (!rc && (rc = sloop_meta_get_int(db, "horizon", &horizon)) == SLOOP_NOTFOUND) rc = SLOOP_OK;
  /* A tombstone compacted before its page was served never reaches a client that needs it;
  ** a fresh client needs none, and a filtered resync learns deletions from "live". */
  if (!rc && !s.fresh && !p->have && horizon > s.horizon)
    rc = sloop_fail(db, SLOOP_RESYNC, "tombstones were compacted during the snapshot: resync");
  int groups = sloop_pull_groups(p);
  /* With a store's window (pull.h) only the token's group is loaded, from its position: the page
  ** ends where those rows end, before the group's own end when more lie beyond them, else at
  ** the group's end; the next page asks for what follows. A filtered resync's last page builds
  ** "live" from the whole scope, which a window cannot stand in for. */
  if (!rc && p->windowed && p->window_group != s.group)
    rc = sloop_fail(db, SLOOP_INVALID, "snapshot window is for group %d, the token is at %d", p->window_group, s.group);
  if (!rc && p->windowed && p->have && !p->window_more && s.group == groups - 1)
    rc = sloop_fail(db, SLOOP_INVALID, "a filtered resync's last page reads the whole scope: no window");
  int cut = 0;
  while (!rc && !full && !cut && s.group < groups) {
    rc = serve_group(db, p, filter, &s, changes, &n, &full);
    if (!rc && !full && p->windowed && p->window_more) cut = 1;
    else if (!rc && !full) {
      s.group++;
      s.started = 0;
      s.version = 0;
      cJSON_Delete(s.key);
      s.key = NULL;
      if (p->windowed && s.group < groups) cut = 1;
    }
  }
  /* A page cut at the window's end is not the last: the snapshot goes on as after a full one. */
  full = full || cut;
  cJSON *progress = rc ? NULL : cJSON_AddObjectToObject(resp, "progress");
  if (!rc && !progress) rc = SLOOP_NOMEM;
  if (!rc) {
    s.page++;
    if (!full || s.page > s.pages) s.pages = s.page;
    const char *names[] = {"page", "pages", "total", "sent", "omitted", "omittedBytes"};
    const double vals[] = {s.page, s.pages, s.total, s.sent, s.omitted, s.saved};
    for (int i = 0; i < 6; i++) cJSON_AddNumberToObject(progress, names[i], vals[i]);
    cJSON_AddNumberToObject(progress, "at", (double)s.at);
    *next = full ? p->cursor : s.at;
    *has_more = full || head > s.at;
    *remaining = full && s.total > s.sent + s.omitted ? (int)(s.total - s.sent - s.omitted) : 0;
  }
  if (!rc && full && !cJSON_AddItemToObject(resp, "snapshot", token_make(&s))) rc = SLOOP_NOMEM;
  if (!rc && !full && p->have) rc = add_live(db, p, resp);
  cJSON_Delete(s.key);
  sloop_bloom_clear(&have);
  return rc;
}

/* ---------------------------------------------------------------- the live scope ----- */

/* Calls fn for every live record of the scope (coll, rid, version), as it is now. */
static int scan_live(sloop_db *db, const sloop_pull_req *p,
                     int (*fn)(void *ctx, const char *coll, const char *rid, int64_t version), void *ctx) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT coll, id, doc, version FROM records WHERE doc IS NOT NULL", &st);
  if (rc) return rc;
  int src = SQLITE_DONE;
  while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
    const char *coll = (const char *)sqlite3_column_text(st, 0);
    if (!sloop_pull_wanted(p, coll) || !sloop_pull_doc_in_scope(p, coll, (const char *)sqlite3_column_text(st, 2))) continue;
    rc = fn(ctx, coll, (const char *)sqlite3_column_text(st, 1), sqlite3_column_int64(st, 3));
  }
  if (!rc && src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "scope scan");
  sloop_finalize(db, st);
  return rc;
}

typedef struct hash_list {
  uint64_t *h;
  size_t n, cap;
} hash_list;

static int collect_key(void *ctx, const char *coll, const char *rid, int64_t version) {
  hash_list *l = ctx;
  (void)version;
  uint64_t *grown = sloop_grow(l->h, &l->cap, l->n + 1, sizeof(*grown), 256);
  if (!grown) return SLOOP_NOMEM;
  l->h = grown;
  char key[SLOOP_BLOOM_KEY_MAX];
  size_t len = sloop_bloom_key(key, coll, rid, 0, 0);
  l->h[l->n++] = sloop_key_hash(key, len);
  return SLOOP_OK;
}

static int add_live(sloop_db *db, const sloop_pull_req *p, cJSON *resp) {
  hash_list keys = {0};
  sloop_bloom live = {0};
  int rc = scan_live(db, p, collect_key, &keys);
  if (!rc) rc = sloop_bloom_init(&live, (uint32_t)keys.n, LIVE_FP);
  for (size_t i = 0; !rc && i < keys.n; i++) sloop_bloom_add(&live, keys.h[i]);
  cJSON *json = rc ? NULL : sloop_bloom_to_json(&live);
  if (!rc && (!json || !cJSON_AddItemToObject(resp, "live", json))) rc = SLOOP_NOMEM;
  free(keys.h);
  sloop_bloom_clear(&live);
  return rc;
}

/* ---------------------------------------------------------------- the scope hash ----- */

typedef struct coll_sum {
  char name[SLOOP_NAME_MAX + 1];
  uint64_t sum;
  double n;
} coll_sum;

typedef struct sums {
  coll_sum *c;
  int n, cap;
} sums;

static coll_sum *sums_slot(sums *s, const char *coll) {
  for (int i = 0; i < s->n; i++)
    if (strcmp(s->c[i].name, coll) == 0) return &s->c[i];
  if (s->n == s->cap) {
    int cap = s->cap ? s->cap * 2 : 8;
    coll_sum *c = realloc(s->c, (size_t)cap * sizeof(*c));
    if (!c) return NULL;
    s->c = c;
    s->cap = cap;
  }
  coll_sum *slot = &s->c[s->n++];
  memset(slot, 0, sizeof(*slot));
  snprintf(slot->name, sizeof(slot->name), "%s", coll);
  return slot;
}

static int add_to_sum(void *ctx, const char *coll, const char *rid, int64_t version) {
  coll_sum *slot = sums_slot(ctx, coll);
  if (!slot) return SLOOP_NOMEM;
  char key[SLOOP_BLOOM_KEY_MAX];
  slot->sum += sloop_key_hash(key, sloop_bloom_key(key, coll, rid, version, 1));
  slot->n++;
  return SLOOP_OK;
}

int sloop_scope_hash(sloop_db *db, const sloop_pull_req *p, cJSON *resp) {
  sums s = {0};
  int rc = SLOOP_OK;
  /* Collections the scope takes but the server holds nothing of are listed too, with zero:
  ** that is how a client learns to drop every record it still has of them. */
  for (int i = 0; i < db->schema.ncolls && !rc; i++)
    if (sloop_pull_wanted(p, db->schema.colls[i].name) && !sums_slot(&s, db->schema.colls[i].name)) rc = SLOOP_NOMEM;
  const cJSON *c;
  cJSON_ArrayForEach(c, p->colls) if (!rc && sloop_pull_wanted(p, c->valuestring) && !sums_slot(&s, c->valuestring)) rc = SLOOP_NOMEM;
  if (!rc) rc = scan_live(db, p, add_to_sum, &s);
  cJSON *out = rc ? NULL : cJSON_AddObjectToObject(resp, "scopeHash");
  if (!rc && !out) rc = SLOOP_NOMEM;
  for (int i = 0; !rc && i < s.n; i++) {
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)s.c[i].sum);
    cJSON *entry = cJSON_AddObjectToObject(out, s.c[i].name);
    if (!entry || !cJSON_AddNumberToObject(entry, "n", s.c[i].n) || !cJSON_AddStringToObject(entry, "sum", hex)) rc = SLOOP_NOMEM;
    /* The cut-off the hash was taken at, so the client counts what it holds inside the same
    ** window, whatever its clock says by the time it compares. */
    const char *field;
    int64_t since;
    double days;
    if (!rc && sloop_window_of(p->windows, s.c[i].name, p->now_ms, &field, &since, &days) &&
        !cJSON_AddNumberToObject(entry, "since", (double)since))
      rc = SLOOP_NOMEM;
  }
  free(s.c);
  return rc;
}
