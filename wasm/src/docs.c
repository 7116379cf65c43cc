/*
** docs.c -- reads: one document, full-text search, and queries with filters and sort.
**
** Reads see the local view (canonical state plus pending writes). Queries compile to SQL over
** json_extract(doc, '$.field'); field names are validated identifiers, so they can be spelled
** into the SQL text, while every value is bound. The expression matches the one the schema's
** indexes are built on (db.c), so SQLite uses those indexes.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Runs a statement returning one text column and hands that text to the caller. */
static int single_text(sloop_db *db, sqlite3_stmt *st, const char *what, char **out, size_t *out_len) {
  int rc = SLOOP_OK;
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    *out = sloop_strndup((const char *)sqlite3_column_text(st, 0), n);
    if (!*out) rc = SLOOP_NOMEM;
    else if (out_len) *out_len = n;
  } else if (src == SQLITE_ROW || src == SQLITE_DONE) {
    rc = SLOOP_NOTFOUND;
  } else {
    rc = sloop_sql_fail(db, src, what);
  }
  return rc;
}

int sloop_get(sloop_db *db, const char *coll, size_t coll_len, const char *id, size_t id_len,
              char **out, size_t *out_len) {
  *out = NULL;
  if (out_len) *out_len = 0;
  sqlite3_stmt *st = NULL;
  int rc = sloop_prepare(db, "SELECT doc FROM records WHERE coll = ?1 AND id = ?2", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, coll, (int)coll_len, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, id, (int)id_len, SQLITE_STATIC);
  rc = single_text(db, st, "get", out, out_len);
  if (rc == SLOOP_NOTFOUND)
    sloop_fail(db, rc, "no document '%.*s' in '%.*s'", (int)(id_len > 128 ? 128 : id_len), id,
               (int)(coll_len > 64 ? 64 : coll_len), coll);
  sloop_finalize(db, st);
  return rc;
}

int sloop_search(sloop_db *db, const char *coll, size_t coll_len, const char *query,
                 size_t query_len, int limit, char **out, size_t *out_len) {
  *out = NULL;
  if (out_len) *out_len = 0;
  sqlite3_stmt *st = NULL;
  int rc = sloop_prepare(db,
                         "SELECT json_group_array(json_object('id', id, 'doc', json(doc))) FROM"
                         " (SELECT r.id, r.doc FROM records_fts f JOIN records r ON r.rowid = f.rowid"
                         "  WHERE records_fts MATCH ?2 AND r.coll = ?1 AND r.doc IS NOT NULL"
                         "  ORDER BY f.rank LIMIT ?3)",
                         &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, coll, (int)coll_len, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, query, (int)query_len, SQLITE_STATIC);
  sqlite3_bind_int(st, 3, limit > 0 ? limit : 50);
  rc = single_text(db, st, "search", out, out_len);
  if (rc == SLOOP_STORAGE)
    rc = sloop_fail(db, SLOOP_INVALID, "bad search query: %s", sqlite3_errmsg(db->sql));
  sloop_finalize(db, st);
  return rc;
}

/* ---------------------------------------------------------------- queries ------------ */

typedef struct sql_buf {
  char *s;
  size_t len, cap;
  int oom;
} sql_buf;

static void add(sql_buf *b, const char *text) {
  size_t n = strlen(text);
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->cap + n + 1) * 2;
    char *s = realloc(b->s, cap);
    if (!s) {
      b->oom = 1;
      return;
    }
    b->s = s;
    b->cap = cap;
  }
  memcpy(b->s + b->len, text, n + 1);
  b->len += n;
}

static void add_field(sql_buf *b, const char *field) {
  add(b, "json_extract(doc, '$.");
  add(b, field);
  add(b, "')");
}

/* Appends one condition of "where"; values are collected in `binds` in placeholder order. */
static int add_condition(sloop_db *db, sql_buf *b, const cJSON *cond, cJSON *binds) {
  const char *field = cond->string;
  if (!sloop_valid_name(field, strlen(field), 0))
    return sloop_fail(db, SLOOP_INVALID, "invalid field name in query '%.64s'", field);
  if (!cJSON_IsObject(cond)) {
    add(b, " AND ");
    add_field(b, field);
    if (cJSON_IsNull(cond)) return add(b, " IS NULL"), SLOOP_OK;
    add(b, " = ?");
    cJSON_AddItemToArray(binds, cJSON_Duplicate(cond, 1));
    return SLOOP_OK;
  }
  static const char *const ops[][2] = {{"$gt", " > ?"}, {"$gte", " >= ?"}, {"$lt", " < ?"},
                                       {"$lte", " <= ?"}, {"$ne", " IS NOT ?"}, {"$in", NULL}};
  const cJSON *c;
  cJSON_ArrayForEach(c, cond) {
    size_t k = 0;
    while (k < 6 && strcmp(ops[k][0], c->string) != 0) k++;
    if (k == 6) return sloop_fail(db, SLOOP_INVALID, "unknown query operator '%.16s'", c->string);
    add(b, " AND ");
    add_field(b, field);
    if (ops[k][1]) {
      if (cJSON_IsObject(c) || cJSON_IsArray(c)) return sloop_fail(db, SLOOP_INVALID, "query values must be scalars");
      add(b, ops[k][1]);
      cJSON_AddItemToArray(binds, cJSON_Duplicate(c, 1));
      continue;
    }
    if (!cJSON_IsArray(c) || cJSON_GetArraySize(c) > 500)
      return sloop_fail(db, SLOOP_INVALID, "$in takes an array of at most 500 scalars");
    add(b, " IN (SELECT value FROM json_each(?))");
    /* The array goes in as JSON text; json_each unpacks it. */
    char *text = cJSON_PrintUnformatted(c);
    cJSON_AddItemToArray(binds, cJSON_CreateString(text ? text : "[]"));
    free(text);
  }
  return SLOOP_OK;
}

static int add_order(sloop_db *db, sql_buf *b, const cJSON *order) {
  if (!order) return add(b, " ORDER BY id"), SLOOP_OK;
  add(b, " ORDER BY ");
  if (cJSON_IsString(order)) {
    if (!sloop_valid_name(order->valuestring, strlen(order->valuestring), 0))
      return sloop_fail(db, SLOOP_INVALID, "invalid orderBy field");
    add_field(b, order->valuestring);
    return add(b, ", id"), SLOOP_OK;
  }
  const cJSON *term;
  cJSON_ArrayForEach(term, order) {
    const cJSON *f = cJSON_GetArrayItem(term, 0);
    const cJSON *dir = cJSON_GetArrayItem(term, 1);
    if (!cJSON_IsString(f) || !sloop_valid_name(f->valuestring, strlen(f->valuestring), 0) ||
        (dir && (!cJSON_IsString(dir) || (strcmp(dir->valuestring, "asc") && strcmp(dir->valuestring, "desc")))))
      return sloop_fail(db, SLOOP_INVALID, "orderBy takes [[\"field\", \"asc\"|\"desc\"], ...]");
    add_field(b, f->valuestring);
    add(b, dir && strcmp(dir->valuestring, "desc") == 0 ? " DESC, " : " ASC, ");
  }
  add(b, "id");
  return SLOOP_OK;
}

static void bind_json(sqlite3_stmt *st, int i, const cJSON *v) {
  if (cJSON_IsString(v)) sqlite3_bind_text(st, i, v->valuestring, -1, SQLITE_TRANSIENT);
  else if (cJSON_IsBool(v)) sqlite3_bind_int(st, i, cJSON_IsTrue(v));
  else if (cJSON_IsNumber(v)) sqlite3_bind_double(st, i, v->valuedouble);
  else sqlite3_bind_null(st, i);
}

int sloop_query(sloop_db *db, const char *coll, size_t coll_len, const char *query_json,
                size_t query_len, char **out, size_t *out_len) {
  *out = NULL;
  if (out_len) *out_len = 0;
  cJSON *q = query_len ? cJSON_ParseWithLength(query_json, query_len) : cJSON_CreateObject();
  if (!cJSON_IsObject(q)) return cJSON_Delete(q), sloop_fail(db, SLOOP_JSON, "query must be a JSON object");
  /* The collection is spelled into the SQL, not bound: the schema's indexes are partial
  ** (WHERE coll = 'name') and SQLite only uses a partial index when the query names the same
  ** literal. Safe because the name is a validated identifier. */
  char coll_name[SLOOP_NAME_MAX + 1];
  if (!sloop_valid_name(coll, coll_len, 0)) {
    cJSON_Delete(q);
    return sloop_fail(db, SLOOP_INVALID, "invalid collection name");
  }
  snprintf(coll_name, sizeof(coll_name), "%.*s", (int)coll_len, coll);
  sql_buf b = {0};
  cJSON *binds = cJSON_CreateArray();
  int rc = binds ? SLOOP_OK : SLOOP_NOMEM;
  add(&b, "SELECT json_group_array(json_object('id', id, 'doc', json(doc), 'state', sync)) FROM"
          " (SELECT id, doc, sync FROM records WHERE coll = '");
  add(&b, coll_name);
  add(&b, "' AND doc IS NOT NULL");
  const cJSON *c;
  cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(q, "where")) {
    if (!rc) rc = add_condition(db, &b, c, binds);
  }
  if (!rc) rc = add_order(db, &b, cJSON_GetObjectItemCaseSensitive(q, "orderBy"));
  const cJSON *limit = cJSON_GetObjectItemCaseSensitive(q, "limit");
  const cJSON *offset = cJSON_GetObjectItemCaseSensitive(q, "offset");
  char tail[80];
  snprintf(tail, sizeof(tail), " LIMIT %lld OFFSET %lld)",
           cJSON_IsNumber(limit) && limit->valuedouble >= 0 ? (long long)limit->valuedouble : -1LL,
           cJSON_IsNumber(offset) && offset->valuedouble >= 0 ? (long long)offset->valuedouble : 0LL);
  add(&b, tail);
  if (!rc && b.oom) rc = SLOOP_NOMEM;
  sqlite3_stmt *st = NULL;
  if (!rc) rc = sloop_prepare(db, b.s, &st);
  if (!rc) {
    int i = 1;
    cJSON_ArrayForEach(c, binds) bind_json(st, i++, c);
    rc = single_text(db, st, "query", out, out_len);
  }
  sloop_finalize(db, st);
  free(b.s);
  cJSON_Delete(binds);
  cJSON_Delete(q);
  return rc;
}
