/*
** sql.c -- sloop_sql(), raw SQL on a handle: the escape hatch below the document API.
**
** Used by the storage layer (integrity checks, pragmas) and by tests that need tables of their
** own. Results are JSON so the JS binding needs no per-type marshalling; this is not a fast
** path for bulk reads.
*/
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "internal.h"

static cJSON *column_json(sqlite3_stmt *st, int i) {
  switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
    case SQLITE_FLOAT: return cJSON_CreateNumber(sqlite3_column_double(st, i));
    case SQLITE_TEXT: return cJSON_CreateString((const char *)sqlite3_column_text(st, i));
    case SQLITE_BLOB: {
      /* Blobs come back as lower-case hex, the form X'..' literals take. */
      int n = sqlite3_column_bytes(st, i);
      const uint8_t *b = sqlite3_column_blob(st, i);
      char *hex = malloc((size_t)n * 2 + 1);
      if (!hex) return NULL;
      for (int k = 0; k < n; k++) {
        hex[2 * k] = "0123456789abcdef"[b[k] >> 4];
        hex[2 * k + 1] = "0123456789abcdef"[b[k] & 15];
      }
      hex[2 * n] = 0;
      cJSON *s = cJSON_CreateString(hex);
      free(hex);
      return s;
    }
    default: return cJSON_CreateNull();
  }
}

/* Steps one statement to the end; if it has result columns, *rows becomes its rows. */
static int run_statement(sloop_db *db, sqlite3_stmt *st, cJSON **rows) {
  int cols = sqlite3_column_count(st);
  cJSON *mine = cols ? cJSON_CreateArray() : NULL;
  if (cols && !mine) return SLOOP_NOMEM;
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    cJSON *row = cJSON_CreateArray();
    if (!row || !cJSON_AddItemToArray(mine, row)) goto nomem;
    for (int i = 0; i < cols; i++) {
      cJSON *v = column_json(st, i);
      if (!v || !cJSON_AddItemToArray(row, v)) goto nomem;
    }
  }
  if (src != SQLITE_DONE) {
    cJSON_Delete(mine);
    return sloop_sql_fail(db, src, "query");
  }
  if (mine) {
    cJSON_Delete(*rows);
    *rows = mine;
  }
  return SLOOP_OK;
nomem:
  cJSON_Delete(mine);
  return SLOOP_NOMEM;
}

int sloop_sql(sloop_db *db, const char *sql, size_t sql_len, char **out, size_t *out_len) {
  *out = NULL;
  if (out_len) *out_len = 0;
  if (!db || !sql || sql_len > 0x7fffffff) return SLOOP_INVALID;
  cJSON *rows = cJSON_CreateArray();
  if (!rows) return SLOOP_NOMEM;
  const char *at = sql, *end = sql + sql_len;
  /* The statements may commit the transaction the core's writes are in (an app's COMMIT). */
  int rc = !sqlite3_get_autocommit(db->sql) ? sloop_meta_flush(db) : SLOOP_OK;
  while (!rc && at < end) {
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int src = sqlite3_prepare_v2(db->sql, at, (int)(end - at), &st, &tail);
    if (src != SQLITE_OK) {
      rc = sloop_sql_fail(db, src, "query");
      break;
    }
    if (!st) break; /* only whitespace or comments remain */
    rc = run_statement(db, st, &rows);
    sqlite3_finalize(st);
    at = tail;
  }
  /* Raw SQL may have rolled back to a savepoint of its own, or edited the node table: the
  ** node cache (nodes.c) reloads rather than trust what it held, and so does the count of
** pending search updates (fts.c). Full rollbacks, from here or
  ** anywhere, are caught by the rollback hook nodes.c installs. */
  sloop_nodes_stale(db);
  sloop_fts_stale(db);
  if (!rc) {
    *out = sloop_print(rows, NULL);
    if (!*out) rc = SLOOP_NOMEM;
    else if (out_len) *out_len = strlen(*out);
  }
  cJSON_Delete(rows);
  return rc;
}
