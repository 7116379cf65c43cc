/*
** sloop.h -- the public C API of Sloop's core.
**
** Sloop keeps collections of JSON documents in SQLite, records every local write as an
** operation in the same transaction, and merges operations with per-field conflict policies.
** The same code runs in the browser (WebAssembly), in the sync server, and in native tests.
**
** Conventions, shared by every function here:
**   - 0 (SLOOP_OK) is success; every other return is a code from SLOOP_ERRORS below, and
**     sloop_errstr() names it. sloop_errmsg() gives the detail of the last failure on a handle.
**   - Strings come in as (pointer, length) pairs and need not be NUL-terminated; C copies
**     what it keeps.
**   - A `char **out` result is owned by the caller and freed with sloop_free(). On failure
**     *out is set to NULL.
**   - A `const char *` result is borrowed: valid until the next call on the same handle.
**   - Handles are not thread-safe; one thread (or one JS realm) uses a handle at a time.
*/
#ifndef SLOOP_H
#define SLOOP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One list generates the enum, the stable identifiers and the messages, so they cannot drift
** apart. Columns: enum suffix, value, identifier (protocol and JS `code`), message. */
#define SLOOP_ERRORS(X)                                                        \
  X(OK, 0, "ok", "ok")                                                               \
  X(NOMEM, 1, "nomem", "out of memory")                                                 \
  X(INVALID, 2, "invalid", "invalid argument")                                            \
  X(JSON, 3, "json", "malformed JSON")                                                 \
  X(NOTFOUND, 4, "notfound", "not found")                                                  \
  X(STORAGE, 5, "storage", "storage error")                                               \
  X(TRANSITION, 6, "transition", "invalid sync state transition")                            \
  X(IMMUTABLE, 7, "immutable", "field is immutable once set")                               \
  X(DRIFT, 8, "drift", "timestamp beyond the allowed clock drift")                      \
  X(TOOBIG, 9, "toobig", "payload too large")                                            \
  X(SCHEMA, 10, "schema", "unknown collection or field, or a value of the wrong type")  \
  X(DELETED, 11, "deleted", "record is deleted")                                          \
  X(CORRUPT, 12, "corrupt", "database is corrupt")                                        \
  X(BUSY, 13, "busy", "operation already in progress")                                 \
  X(RESYNC, 14, "resync", "cursor is older than the server retains; resync required")   \
  X(DENIED, 15, "denied", "permission denied")                                           \
  X(MERGE, 16, "merge", "custom merge function failed")                               \
  X(CURSOR, 17, "cursor", "cursor is ahead of the server")                              \
  X(DEVICE, 18, "device", "device belongs to another user")

typedef enum {
#define SLOOP_ENUM_(name, code, id, msg) SLOOP_##name = code,
  SLOOP_ERRORS(SLOOP_ENUM_)
#undef SLOOP_ENUM_
} sloop_rc;

/* Names a return code; never NULL, static storage. */
const char *sloop_errstr(int rc);

/* A stable lower-case identifier for a return code ("immutable", "drift", ...), used as the
** `code` of protocol errors and of the JS error class. Static storage. */
const char *sloop_errcode(int rc);

/* Frees a buffer returned through a `char **out` parameter. NULL is a no-op. */
void sloop_free(void *p);

/* What JavaScript needs to know of the core, as JSON, so no table is copied by hand into js/:
** {"codes": {"unknown": -1, "ok": 0, ...}, "states": {"removed": -1, "local-only": 0, ...},
** "limits": {"name": 64, "id": 128, "clockBytes": 35}}: return codes and sync states by name
** (-1: sloop_take_changes' removed record), the longest collection or field name and record id
** in bytes, the buffer sloop_clock_now fills. Static storage. */
const char *sloop_constants(void);

/* ---------------------------------------------------------------- environment -------- */

/* Injectable time and randomness, so tests and simulations are deterministic. Either
** callback may be NULL for the real clock (milliseconds since the epoch) or a seeded PRNG. */
typedef struct sloop_env {
  int64_t (*now_ms)(void *ctx);
  uint64_t (*random64)(void *ctx);
  void *ctx;
} sloop_env;

/* ---------------------------------------------------------------- the database ------- */

typedef struct sloop_db sloop_db;

/* The role decides which tables exist and which calls are allowed: a client keeps an
** operation log and per-record sync state; a server keeps the canonical state, the change
** log with its versions, and the applied-operation table that makes push idempotent. */
typedef enum { SLOOP_ROLE_CLIENT = 0, SLOOP_ROLE_SERVER = 1 } sloop_role;

/* Opens (creating if needed) the database at `path` (":memory:" for a private in-memory
** one; `vfs` NULL for SQLite's default VFS). `env` may be NULL; it is copied. On success
** *out owns the handle, released with sloop_close(); on failure *out is NULL. */
int sloop_open(const char *path, const char *vfs, sloop_role role, const sloop_env *env,
               sloop_db **out);

/* Closes the handle; NULL is a no-op. Returns SLOOP_STORAGE if SQLite could not close. */
int sloop_close(sloop_db *db);

/* Detail of the last failure on this handle. Borrowed. */
const char *sloop_errmsg(sloop_db *db);

/* Sets the schema: collections, per-field conflict policies, search fields, indexes, and the
** clock-drift bound and policy (docs/SCHEMA.md: the language and its rules). Persisted in the database;
** on open the stored schema applies. SLOOP_JSON or SLOOP_SCHEMA on bad input, nothing changed. */
int sloop_set_schema(sloop_db *db, const char *json, size_t len);

/* This replica's device id (16 hex digits, fixed at creation). Borrowed. */
const char *sloop_device(sloop_db *db);

/* Ticks the clock and writes the timestamp (34 characters and a NUL) into buf. */
int sloop_clock_now(sloop_db *db, char buf[35]);

/* Custom merge: called for a field with the "custom" policy when a write made against an older
** version meets a value changed since. `current` and `incoming` are JSON (NULL when unset);
** the callback stores a malloc'd JSON string in *out (NULL to unset) and returns 0, or returns
** non-zero to refuse, which rejects the operation with SLOOP_MERGE. The same callback must be
** registered wherever merges run (server and clients), so every replica merges alike. */
typedef int (*sloop_merge_cb)(void *ctx, const char *coll, const char *field, const char *current,
                              const char *incoming, char **out);
void sloop_set_merge(sloop_db *db, sloop_merge_cb cb, void *ctx);

/* ---------------------------------------------------------------- local writes ------- */
/* Every write applies locally and appends an operation to the log in one transaction: a crash
** leaves both or neither. A write that the merge rules refuse locally (an immutable field
** already set, a patch on a deleted record) returns that code and changes nothing. */

/* Creates or replaces document `id`: `json` is the whole new document. Counter fields given
** as numbers become increments from the current value; set fields given as arrays become adds
** and removes; fields of the old document that `json` leaves out are unset. */
int sloop_put(sloop_db *db, const char *coll, size_t coll_len, const char *id, size_t id_len,
              const char *json, size_t json_len);

/* Puts `count` documents of one collection in one call, all or nothing: one transaction (a
** savepoint inside an open one), each row exactly as sloop_put. `rows` holds, per row, the id's
** length (4 bytes, little-endian), the id, the document's length (4 bytes) and the document
** JSON; a frame that overruns `rows_len`, or bytes left over, is SLOOP_INVALID. When a row
** fails, nothing of the call stays, the code is that row's and the message starts "row <k>:"
** (k from 0). A batch crosses the WebAssembly boundary once instead of once per record. */
int sloop_put_many(sloop_db *db, const char *coll, size_t coll_len, const uint8_t *rows, size_t rows_len,
                   int count);

/* Changes some fields: {"title": "x", "done": null, "votes": {"$inc": 1},
** "tags": {"$add": ["a"], "$remove": ["b"]}}. A null unsets. SLOOP_NOTFOUND if absent. */
int sloop_patch(sloop_db *db, const char *coll, size_t coll_len, const char *id, size_t id_len,
                const char *json, size_t json_len);

/* Deletes document `id`; the tombstone syncs like any write. */
int sloop_delete(sloop_db *db, const char *coll, size_t coll_len, const char *id, size_t id_len);

/* Closes conflict `conflict_id` (see sloop_conflicts) with `value_json`, picked or merged. */
int sloop_resolve(sloop_db *db, int64_t conflict_id, const char *value_json, size_t value_len);

/* Groups writes into one transaction: one commit (and one durable flush) for all of them.
** Each write inside still succeeds or fails on its own: a refused write (bad input, the
** schema, the merge) changes nothing and the transaction goes on. A write that fails after it
** began changing the database (storage full or failing, out of memory) rolls back the whole
** transaction at once and says so; until sloop_tx_end, further writes fail, and so does the
** commit (nothing of the transaction is kept). sloop_tx_end commits when `commit` is non-zero
** and rolls everything back otherwise. */
int sloop_tx_begin(sloop_db *db);
int sloop_tx_end(sloop_db *db, int commit);

/* Id of the operation the last successful write appended. Borrowed. */
const char *sloop_last_op(sloop_db *db);

/* ---------------------------------------------------------------- reads -------------- */

/* Reads a document as JSON into *out (caller frees). SLOOP_NOTFOUND if absent or deleted. */
int sloop_get(sloop_db *db, const char *coll, size_t coll_len, const char *id, size_t id_len,
              char **out, size_t *out_len);

/* Full-text search over a collection's documents with an FTS5 MATCH expression. *out is a
** JSON array of {"id":..., "doc":...} best match first, at most `limit` long. */
int sloop_search(sloop_db *db, const char *coll, size_t coll_len, const char *query,
                 size_t query_len, int limit, char **out, size_t *out_len);

/* Indexes for full-text search up to `limit` records (0: all) that a large pull left behind
** the index, in one commit; *more is 1 while some are left. A search does this for all of them
** first, so it only takes work off a later search (the runtime calls it after a sync). */
int sloop_search_catch_up(sloop_db *db, int limit, int *more);

/* Runs a query: {"where": {"field": value | {"$gt"|"$gte"|"$lt"|"$lte"|"$ne": v} | {"$in": [..]}},
** "orderBy": "field" or [["field","desc"], ...], "limit": n, "offset": n} (limit and offset
** whole numbers from 0, or the query is refused with SLOOP_INVALID). *out is a JSON array
** of {"id", "doc", "state"}, in id order, or in orderBy's with its ties in id order. Conditions
** on a field the schema indexes (all but $ne) and an orderBy on one use its expression index. */
int sloop_query(sloop_db *db, const char *coll, size_t coll_len, const char *query_json,
                size_t query_len, char **out, size_t *out_len);

/* ---------------------------------------------------------------- sync state --------- */
/* Per-record states follow one machine: local-only -> syncing -> synced; syncing -> failed ->
** (retry) syncing; synced -> modified-locally -> syncing. Discarding a failed operation is the
** one extra edge: failed -> synced. Anything else is SLOOP_TRANSITION. */

/* One list for the enum and the names (sloop_constants() hands the names to JavaScript).
** Columns: enum suffix, value, name. */
#define SLOOP_STATES(X)                     \
  X(LOCAL_ONLY, 0, "local-only")            \
  X(SYNCING, 1, "syncing")                  \
  X(SYNCED, 2, "synced")                    \
  X(FAILED, 3, "failed")                    \
  X(MODIFIED, 4, "modified-locally")

typedef enum {
#define SLOOP_STATE_ENUM_(name, value, text) SLOOP_STATE_##name = value,
  SLOOP_STATES(SLOOP_STATE_ENUM_)
#undef SLOOP_STATE_ENUM_
} sloop_sync_state;

/* "local-only", "syncing", "synced", "failed", "modified-locally". Static storage. */
const char *sloop_state_name(int state);

/* The sync state of one record; SLOOP_NOTFOUND when there is no such record. */
int sloop_record_state(sloop_db *db, const char *coll, size_t coll_len, const char *id,
                       size_t id_len, int *state);

/* {"local-only": n, ..., "pendingOps": n, "failedOps": n, "openConflicts": n}. Caller frees. */
int sloop_state_counts(sloop_db *db, char **out, size_t *out_len);

/* Changes since the last call, oldest first: [{"coll","id","state"}] (state -1: removed).
** Lets a UI refresh badges and live queries without polling. Caller frees. */
int sloop_take_changes(sloop_db *db, char **out, size_t *out_len);

/* Operations in the log with status "pending", "syncing", "failed" or NULL for all, in order:
** [{"id","type","coll","rid","hlc","base","payload","status","attempts","lastError"}]. */
int sloop_ops(sloop_db *db, const char *status, char **out, size_t *out_len);

/* Puts a failed operation (NULL: every failed one) back in the queue under a new id. */
int sloop_retry(sloop_db *db, const char *op_id);

/* Drops a failed operation explicitly (any failed one: rejected by the server, or failed by
** sloop_push_refused). Its record is rebased on the canonical state with its other pending
** operations; a record the server never had and nothing else pending is removed. SLOOP_NOTFOUND
** when `op_id` is not a failed operation. */
int sloop_discard(sloop_db *db, const char *op_id);

/* Conflict records [{"id","coll","rid","field","server","incoming","status",...}]. */
int sloop_conflicts(sloop_db *db, int open_only, char **out, size_t *out_len);

/* ---------------------------------------------------------------- client sync -------- */

/* Builds the next push request (docs/PROTOCOL.md) with at most `max_ops` operations into *out.
** A batch already in flight (after a crash or a lost response) is sent again first: push is
** idempotent. *out is NULL when there is nothing to push. */
int sloop_push_begin(sloop_db *db, int max_ops, char **out, size_t *out_len);

/* Applies a push response: acknowledged operations leave the log, rejected ones are kept as
** failed, conflicts are recorded, canonical records are stored and pending writes rebased. */
int sloop_push_end(sloop_db *db, const char *resp, size_t resp_len);

/* The push failed in transit, or with an answer that may change (a network error, 408, 429,
** 5xx): in-flight operations return to the queue with the error noted and their records go
** to "failed" until the retry, which sends the same ids (idempotent). For a refusal that will
** not change, call sloop_push_refused instead. */
int sloop_push_fail(sloop_db *db, const char *error);

/* The server refused the whole push request with an answer that will not change if the same
** request is sent again: a 4xx other than 401, 408 and 429 (413 included), with the error's
** `code` and `message` (either may be NULL). Call it instead of sloop_push_fail; the
** operations are not put back unchanged. The core narrows the batch in flight:
**   - several operations in flight: the first half (in log order) stays in flight, the rest
**     returns to the queue; the next sloop_push_begin sends that half alone;
**   - one operation in flight: it becomes failed, with last_error "code: message", as if the
**     server had rejected it per operation (see sloop_ops, sloop_retry, sloop_discard), and
**     its record's sync state settles.
** Pushing again after each call isolates the operation at fault after about log2(batch size)
** refusals and lets every other operation through. *remaining (may be NULL) gets the number
** of operations left in flight, 0 once one failed. Idempotent when nothing is in flight. */
int sloop_push_refused(sloop_db *db, const char *code, const char *message, int *remaining);

/* Builds a pull request from the stored cursor. `scope_json` (may be NULL: the scope stored by
** sloop_set_scope, if any) is the scope object of the protocol. */
int sloop_pull_request(sloop_db *db, int limit, const char *scope_json, size_t scope_len,
                       char **out, size_t *out_len);

/* The request that sloop_pull_request will build once `resp` (a pull answer not yet applied)
** has been applied, so that the next page can be fetched while this one is applied. *out is
** NULL when it cannot be known before applying: the last page, a snapshot's or a resync's
** pages, an answer that is not a JSON object. A read-ahead, not a promise: a caller compares
** it with sloop_pull_request's after applying and sends that one if they differ. */
int sloop_pull_request_next(sloop_db *db, const char *resp, size_t resp_len, int limit,
                            const char *scope_json, size_t scope_len, char **out, size_t *out_len);

/* Applies a pull response. *has_more says whether to pull again now. */
int sloop_pull_apply(sloop_db *db, const char *resp, size_t resp_len, int *has_more);

/* Progressive initial sync and resync run through the same two calls (docs/PROTOCOL.md,
** "Snapshot pulls"). At cursor 0, a scope with "order": "recent" (and optionally "orderBy":
** "updatedAt", and "collections" in priority order) pulls a snapshot in pages, newest first,
** and so does one with a "priority" (its collections first); keep passing the same scope (or
** none: the stored one, sloop_set_scope) until *has_more is 0. */

/* Marks the replica for resync, after a pull answered SLOOP_RESYNC (HTTP 410) or after a
** restore from a backup; the next pulls are a snapshot from cursor 0. `fp` is the
** false-positive rate of the Bloom filter of held records sent with each page (0.01 is a
** good default; the filter then costs about 1.2 bytes per record); fp <= 0 resyncs in full,
** without a filter. Records the server no longer has are dropped, except that records with
** pending or failed operations keep them. Once caught up the client checks a hash of the
** scope and, after a filtered round that left something stale, runs one full round. */
int sloop_resync_begin(sloop_db *db, double fp);

/* The progress of a snapshot pull, as JSON (caller frees): {"phase": "idle" | "snapshot" |
** "catchup", "mode": "initial" | "filter" | "full", "page": k, "pages": n, "total": records
** in the snapshot, "sent", "omitted": records the filter spared, "omittedBytes", "rounds",
** "verified": true | false | null, "mismatch": [collections]}. After a snapshot ends the
** figures of the last one stay, with phase "idle". "pages" is exact once the last page came;
** before that it is the count at the first page (records changed meanwhile leave early). */
int sloop_pull_progress(sloop_db *db, char **out, size_t *out_len);

/* Sets the replica's pull scope (docs/CLIENT.md, "Pull scopes"): JSON {"collections":
** [names], "where": {field: value}, "recent": {"field": f, "days": n} or {coll: {"field": f,
** "days": n}, ...}, "priority": [names], "order": "recent" | "version", "orderBy": field}, each
** member optional; "null" (or len 0) for none. Kept in the database; every pull request built
** without a scope of the caller's carries it, its windows cut off by this device's clock. A
** scope other than the one stored, on a replica that holds records or has pulled, starts a
** filtered resync (sloop_resync_begin) so the replica ends with exactly the new scope; a scope
** that keeps the same records (members in another order, collections as a set, another
** priority, order or orderBy) is stored and starts nothing. Then evicts what has aged out of a
** window, and the records of collections the scope no longer takes (sloop_scope_evict's rule).
** SLOOP_INVALID for a bad shape. */
int sloop_set_scope(sloop_db *db, const char *json, size_t len);

/* Evicts the records of the scope's windowed collections whose field is before the window's
** cut-off at `now` (ms; 0 or less, or later than the clock: the clock, since a cut-off once used
** is kept and never moves back), and of collections the scope does not take, unless they have
** local work (operations in the log, a conflict not resolved): their rows go, as records that
** left the scope, and nothing is pushed. Pulls call it themselves when a record may have aged
** out; *evicted (may be NULL) counts the records evicted. */
int sloop_scope_evict(sloop_db *db, int64_t now, int *evicted);

/* ---------------------------------------------------------------- server ------------- */
/* `ctx` is JSON: {"user": "...", "device": "...", "perms": {"write": "*" | [colls],
** "read": "*" | [colls], "stepUp": bool}}. The answers are the protocol's response bodies. */

int sloop_server_push(sloop_db *db, const char *req, size_t req_len, const char *ctx,
                      size_t ctx_len, char **out, size_t *out_len);
int sloop_server_pull(sloop_db *db, const char *req, size_t req_len, const char *ctx,
                      size_t ctx_len, char **out, size_t *out_len);

/* Forgets tombstones at or below `version`; a pull with an older cursor then gets
** SLOOP_RESYNC. */
int sloop_server_compact(sloop_db *db, int64_t version);

/* A server whose tenant state lives in an external store (PostgreSQL) runs each request on a
** scratch database loaded with the rows it needs. Before it, the store tells the handle the
** tenant's clock (meta 'hlc' as last committed, by any process): the handle's clock moves up
** to it when behind, so no process hands out a timestamp below one another already gave.
** Pull contexts may then carry "window": {"upto": version, "beyond": count}: the change log
** was loaded only up to `upto` (docs/PROTOCOL.md, "Versions and commits"). */
int sloop_server_clock(sloop_db *db, const char *hlc, size_t len);

/* ---------------------------------------------------------------- raw SQL ------------ */

/* Runs one or more SQL statements (`sql`, `sql_len` bytes). *out (caller frees) is a JSON
** array of the rows of the last statement that has result columns, each row an array of
** values (numbers, strings, null; blobs as lower-case hex strings); "[]" if none has columns.
** The escape hatch below the document API: schema-independent layers and tests use it. */
int sloop_sql(sloop_db *db, const char *sql, size_t sql_len, char **out, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif /* SLOOP_H */
