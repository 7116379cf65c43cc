/*
** internal.h -- what the core's source files share and nothing outside wasm/src may use.
**
** The handle struct, the SQL helpers that turn SQLite failures into Sloop return codes with a
** message, and the JSON helpers. Every function here follows sloop.h's conventions: int return
** codes, caller-owned `char **out`.
*/
#ifndef SLOOP_INTERNAL_H
#define SLOOP_INTERNAL_H

#include "sloop.h"
#include "sqlite3.h"

struct sloop_db {
  sqlite3 *sql;
  sloop_role role;
  sloop_env env;
  uint64_t rng_state;   /* xorshift state when env.random64 is NULL */
  char errmsg[256];     /* detail of the last failure; see sloop_errmsg() */
};

/* Records `rc` with a printf-style detail on the handle and returns rc, so failure paths read
** `return sloop_fail(db, SLOOP_INVALID, "collection name '%s' ...", name);`. */
int sloop_fail(sloop_db *db, int rc, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Maps an SQLite result to SLOOP_STORAGE (or SLOOP_NOMEM, SLOOP_CORRUPT) and records
** sqlite3_errmsg() on the handle. */
int sloop_sql_fail(sloop_db *db, int sqlite_rc, const char *what);

/* Runs SQL with no results; returns a Sloop code. */
int sloop_exec(sloop_db *db, const char *sql);

/* Prepares `sql`; *stmt is NULL on failure. */
int sloop_prepare(sloop_db *db, const char *sql, sqlite3_stmt **stmt);

/* Copies `len` bytes into a fresh NUL-terminated buffer (malloc); NULL on OOM. */
char *sloop_strndup(const char *s, size_t len);

#endif /* SLOOP_INTERNAL_H */
