/*
** pull.h -- what the server's two pull paths share (private to the core): the parsed request,
** the scope test, and the change a record row becomes. server.c answers version-ordered
** pulls; snapshot.c answers snapshot pages (progressive initial sync and resync) and the
** scope hash that verifies a resync.
*/
#ifndef SLOOP_PULL_H
#define SLOOP_PULL_H

#include "internal.h"
#include "wire.h"

typedef struct sloop_pull_req {
  int64_t cursor, ack_seq;
  int limit;
  int fresh;             /* the client holds no records: tombstones and evictions are noise */
  const cJSON *colls;    /* array or NULL; a snapshot serves them in this order */
  const cJSON *where;    /* object or NULL */
  const cJSON *windows;  /* scope.recent, the recency windows (scope.h), or NULL */
  int64_t now_ms;        /* the time a window in days is cut off at: this request's, or a
                         ** snapshot's first page's */
  int no_evict;          /* leave out records outside the scope rather than send evictions (a
                         ** resync round: what it holds and the server does not, it drops) */
  /* The snapshot's groups, in serving order: scope.priority's collections first, then the rest
  ** of scope.collections; NULL: one group. `rest`: one more group after them, of every
  ** collection they do not name (a priority without collections). Owned. */
  cJSON *groups;
  int rest;
  const cJSON *perms;    /* the caller's grants, NULL: everything */
  const cJSON *snapshot; /* NULL: version order; true: first snapshot page; object: the token */
  int recent;            /* scope.order "recent": a snapshot serves newest first */
  const char *order_by;  /* scope.orderBy: the field "recent" sorts by, NULL: the version */
  const cJSON *have;     /* the client's Bloom filter of what it holds, or NULL */
  int verify;            /* answer scopeHash once the client is caught up */
  /* A snapshot page whose rows an external store loaded only for group `window_group` from the
  ** token's position (ctx "window" {group, more}): the page ends where those rows end, and
  ** `window_more` says rows of the group lie beyond them. */
  int windowed, window_group, window_more;
  sloop_wire_nodes *wire; /* v2: the answer's node list, which its changes add to; NULL: v1 */
} sloop_pull_req;

/* Whether the scope and the read grants take collection `coll`. */
int sloop_pull_wanted(const sloop_pull_req *p, const char *coll);

/* Turns a records row selected as (coll, id, doc, state, version) into the change the
** answer carries: the record, a tombstone, or an eviction when it left the scope's filter.
** *out is NULL when the client needs nothing (a fresh client and a tombstone or an
** out-of-scope record). */
int sloop_pull_change(sloop_db *db, const sloop_pull_req *p, sqlite3_stmt *st, cJSON **out);

/* Whether a live document (text) of collection `coll` is in the scope's equality filter and
** recency window; 0 for a tombstone. */
int sloop_pull_doc_in_scope(const sloop_pull_req *p, const char *coll, const char *doc);

/* The number of snapshot groups, and whether group g serves collection `coll`. */
int sloop_pull_groups(const sloop_pull_req *p);
int sloop_pull_in_group(const sloop_pull_req *p, int g, const char *coll);
/* The one collection group g serves, or NULL when it serves several. */
const char *sloop_pull_group_coll(const sloop_pull_req *p, int g);

/* Snapshot pages (snapshot.c): fills `changes` with one page of the snapshot the request
** names (or starts one at `head`), and adds "snapshot" (the token for the next page, while
** pages remain), "progress" and, for a filtered resync's last page, "live" to resp.
** *next is the cursor to answer (0 until the last page, then the snapshot version),
** *has_more whether to pull again now, *remaining how many records the snapshot still has
** to send. */
int sloop_snapshot_page(sloop_db *db, const sloop_pull_req *p, int64_t head, cJSON *resp,
                        cJSON *changes, int64_t *next, int *has_more, int *remaining);

/* Adds "scopeHash" to resp: per collection of the scope, the count of live records and the
** sum (mod 2^64, 16 hex digits) of the key hashes of their "coll\x1frid\x1fversion". */
int sloop_scope_hash(sloop_db *db, const sloop_pull_req *p, cJSON *resp);

#endif /* SLOOP_PULL_H */
