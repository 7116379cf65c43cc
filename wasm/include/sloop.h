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
  X(MERGE, 16, "merge", "custom merge function failed")

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

/* ---------------------------------------------------------------- documents ---------- */

/* Creates or replaces the document `id` of collection `coll` with the JSON object `json`.
** Reads are local; this is the local-first write. */
int sloop_put(sloop_db *db, const char *coll, size_t coll_len, const char *id, size_t id_len,
              const char *json, size_t json_len);

/* Reads a document as JSON into *out (caller frees). SLOOP_NOTFOUND if absent or deleted. */
int sloop_get(sloop_db *db, const char *coll, size_t coll_len, const char *id, size_t id_len,
              char **out, size_t *out_len);

/* Full-text search over a collection's documents with an FTS5 MATCH expression. *out is a
** JSON array of {"id":..., "doc":...} best match first, at most `limit` long. */
int sloop_search(sloop_db *db, const char *coll, size_t coll_len, const char *query,
                 size_t query_len, int limit, char **out, size_t *out_len);

/* ---------------------------------------------------------------- raw SQL ------------ */

/* Runs one or more SQL statements (`sql`, `sql_len` bytes). *out (caller frees) is a JSON
** array of the rows of the last statement that has result columns, each row an array of
** values (numbers, strings, null; blobs as lower-case hex strings); "[]" if none has columns.
** The escape hatch below the document API: schema-independent layers and tests use it. */
int sloop_query(sloop_db *db, const char *sql, size_t sql_len, char **out, size_t *out_len);

#ifdef __cplusplus
}
#endif
#endif /* SLOOP_H */
