/*
** docs.c -- reads: one document, full-text search, and queries with filters and sort.
**
** Reads see the local view (canonical state plus pending writes). Queries compile to SQL over
** json_extract(doc, '$.field'); field names are validated identifiers, so they can be spelled
** into the SQL text, while every value is bound. The expression matches the one the schema's
** indexes are built on (db.c), so SQLite uses those indexes.
**
** Rows come in id order unless orderBy says otherwise, and orderBy's ties too. The app's
** indexes end with id (indexes.c), so an equality condition on an indexed field reads its
** rows from the index already in id order: `ORDER BY id`, no sort, and a limit stops early.
** A range or $in condition on an indexed field gives rows of several values, not in id order:
** there a plain `ORDER BY id` would make SQLite walk the primary key (coll, id) to save a
** sort, evaluating json_extract on every record of the collection, so the query orders by
** `+id`, which the primary key cannot serve: SQLite searches the field's index and sorts only
** the rows that match. Without an indexed condition, walking the key in id order stays the
** best plan (and a limit stops it early). tests/c/test_query.c asserts the plans with
** EXPLAIN QUERY PLAN.
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
  if (db->role != SLOOP_ROLE_CLIENT) return sloop_fail(db, SLOOP_INVALID, "full-text search lives on clients");
  /* The index updates of the open transaction's writes wait for its commit, and those of small
  ** committed transactions in fts_pending (fts.c): put them all in now, so the search sees
  ** every write (in a commit of its own when no transaction is open). Not inside a
  ** savepoint, whose rollback would take them out again after they left the queue. */
  int pending = 0, behind = 0, more = 0;
  int rc = db->nsp == 0 ? sloop_fts_has_pending(db, &pending) : SLOOP_OK;
  /* And records above the index's frontier (a large pull's, fts_behind.c) are indexed first. */
  if (!rc && db->nsp == 0) rc = sloop_fts_behind(db, INT64_MAX, &behind);
  if (!rc && (pending || behind || (db->nfts && db->nsp == 0))) {
    int own = sqlite3_get_autocommit(db->sql);
    if (own) rc = sloop_begin(db, "search_index");
    if (!rc) rc = sloop_fts_catch_up(db, 0, &more);
    if (!rc) rc = sloop_fts_apply(db, 1);
    if (own) rc = sloop_end(db, "search_index", rc);
  }
  if (!rc) rc = sloop_prepare(db,
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

/* A growing string: a query's SQL, then its rows. A failed allocation sets oom and ignores
** what follows, so callers check once at the end. */
typedef struct text_buf {
  char *s;
  size_t len, cap;
  int oom;
} text_buf;

static void add_n(text_buf *b, const char *text, size_t n) {
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
  memcpy(b->s + b->len, text, n);
  b->len += n;
  b->s[b->len] = '\0';
}

static void add(text_buf *b, const char *text) { add_n(b, text, strlen(text)); }

static void add_field(text_buf *b, const char *field) {
  add(b, "json_extract(doc, '$.");
  add(b, field);
  add(b, "')");
}

/* Whether the schema declares an index on the field (db.c creates one for each). */
/* How a query's conditions can use an index (add_condition): the strongest one found. */
enum { INDEX_NONE = 0, INDEX_RANGE = 1, INDEX_EQ = 2 };

static int is_indexed(const sloop_coll_schema *cs, const char *field) {
  const cJSON *f;
  if (cs) cJSON_ArrayForEach(f, cs->indexes) {
    if (cJSON_IsString(f) && strcmp(f->valuestring, field) == 0) return 1;
  }
  return 0;
}

/* Appends one condition of "where"; values are collected in `binds` in placeholder order.
** Raises *uses_index when the field's index can serve the condition: INDEX_EQ for an equality
** (rows come from the index in id order), INDEX_RANGE for the other forms but $ne, whose
** IS NOT matches the unset field too. */
static int add_condition(sloop_db *db, const sloop_coll_schema *cs, text_buf *b, const cJSON *cond,
                         cJSON *binds, int *uses_index) {
  const char *field = cond->string;
  if (!sloop_valid_name(field, strlen(field), 0))
    return sloop_fail(db, SLOOP_INVALID, "invalid field name in query '%.64s'", field);
  int indexed = is_indexed(cs, field);
  if (!cJSON_IsObject(cond)) {
    add(b, " AND ");
    add_field(b, field);
    if (indexed) *uses_index = INDEX_EQ;
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
    if (indexed && strcmp(ops[k][0], "$ne") != 0 && *uses_index < INDEX_RANGE) *uses_index = INDEX_RANGE;
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
    char *text = sloop_print(c, NULL);
    cJSON_AddItemToArray(binds, cJSON_CreateString(text ? text : "[]"));
    free(text);
  }
  return SLOOP_OK;
}

/* Appends the ORDER BY: orderBy's terms, then id for the ties (`+id` when the rows come from
** an index range: see the top of this file). */
static int add_order(sloop_db *db, text_buf *b, const cJSON *order, int uses_index) {
  if (!order) return add(b, uses_index == INDEX_RANGE ? " ORDER BY +id" : " ORDER BY id"), SLOOP_OK;
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

int sloop_query_sql(sloop_db *db, const char *coll, size_t coll_len, const cJSON *q, char **sql,
                    cJSON **binds) {
  *sql = NULL;
  *binds = NULL;
  if (!cJSON_IsObject(q)) return sloop_fail(db, SLOOP_JSON, "query must be a JSON object");
  /* The collection is spelled into the SQL, not bound: the schema's indexes are partial
  ** (WHERE coll = 'name') and SQLite only uses a partial index when the query names the same
  ** literal. Safe because the name is a validated identifier. */
  char coll_name[SLOOP_NAME_MAX + 1];
  if (!sloop_valid_name(coll, coll_len, 0)) return sloop_fail(db, SLOOP_INVALID, "invalid collection name");
  snprintf(coll_name, sizeof(coll_name), "%.*s", (int)coll_len, coll);
  const sloop_coll_schema *cs = sloop_schema_coll(&db->schema, coll_name);
  text_buf b = {0};
  cJSON *values = cJSON_CreateArray();
  int rc = values ? SLOOP_OK : SLOOP_NOMEM;
  /* A server keeps no sync state: its records are all canonical, shown as synced. */
  add(&b, db->role == SLOOP_ROLE_CLIENT ? "SELECT id, doc, sync FROM records WHERE coll = '"
                                        : "SELECT id, doc, 2 FROM records WHERE coll = '");
  add(&b, coll_name);
  add(&b, "' AND doc IS NOT NULL");
  int uses_index = 0;
  const cJSON *c;
  cJSON_ArrayForEach(c, sloop_member(q, "where")) {
    if (!rc) rc = add_condition(db, cs, &b, c, values, &uses_index);
  }
  if (!rc) rc = add_order(db, &b, sloop_member(q, "orderBy"), uses_index);
  const cJSON *limit = sloop_member(q, "limit");
  const cJSON *offset = sloop_member(q, "offset");
  if (!rc && ((limit && !cJSON_IsNull(limit) && !sloop_json_whole(limit, 9e15)) ||
              (offset && !cJSON_IsNull(offset) && !sloop_json_whole(offset, 9e15))))
    rc = sloop_fail(db, SLOOP_INVALID, "limit and offset must be whole numbers from 0");
  long long lim = !rc && cJSON_IsNumber(limit) ? (long long)limit->valuedouble : -1LL;
  long long off = !rc && cJSON_IsNumber(offset) ? (long long)offset->valuedouble : 0LL;
  /* No LIMIT clause unless asked for: with one, even LIMIT -1, SQLite sorts into a b-tree
  ** (an insert per row, with page splits) instead of its sorter, at twice the cost. */
  char tail[80];
  snprintf(tail, sizeof(tail), " LIMIT %lld OFFSET %lld", lim, off);
  if (lim >= 0 || off > 0) add(&b, tail);
  if (!rc && b.oom) rc = SLOOP_NOMEM;
  if (rc) {
    free(b.s);
    cJSON_Delete(values);
    return rc;
  }
  *sql = b.s;
  *binds = values;
  return SLOOP_OK;
}

/* Appends a JSON string: ids hold no control characters (sloop_valid_id), but quotes and
** backslashes are theirs to use. */
static void add_json_string(text_buf *b, const char *s, size_t n) {
  add_n(b, "\"", 1);
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c != '"' && c != '\\' && c >= 0x20) continue;
    add_n(b, s + run, i - run);
    char esc[8];
    if (c < 0x20) snprintf(esc, sizeof(esc), "\\u%04x", c);
    else snprintf(esc, sizeof(esc), "\\%c", c);
    add(b, esc);
    run = i + 1;
  }
  add_n(b, s + run, n - run);
  add_n(b, "\"", 1);
}

/* Steps the query and writes its rows as a JSON array of {"id", "doc", "state"}. The stored
** document is JSON text printed by the core (store.c), so it goes in as it is: asking SQLite
** for json(doc) and json_group_array would parse and print every document once more, which
** was most of what a query cost once its index was used. */
static int rows_json(sloop_db *db, sqlite3_stmt *st, char **out, size_t *out_len) {
  text_buf b = {0};
  add_n(&b, "[", 1);
  int src, n = 0;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    add(&b, n++ ? ",{\"id\":" : "{\"id\":");
    add_json_string(&b, (const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    add_n(&b, ",\"doc\":", 7);
    add_n(&b, (const char *)sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1));
    /* The sync state is an integer column: SQLite's text of it is the JSON number. */
    add_n(&b, ",\"state\":", 9);
    add_n(&b, (const char *)sqlite3_column_text(st, 2), (size_t)sqlite3_column_bytes(st, 2));
    add_n(&b, "}", 1);
  }
  add_n(&b, "]", 1);
  if (src != SQLITE_DONE) {
    free(b.s);
    return sloop_sql_fail(db, src, "query");
  }
  if (b.oom) {
    free(b.s);
    return SLOOP_NOMEM;
  }
  *out = b.s;
  if (out_len) *out_len = b.len;
  return SLOOP_OK;
}

int sloop_query(sloop_db *db, const char *coll, size_t coll_len, const char *query_json,
                size_t query_len, char **out, size_t *out_len) {
  *out = NULL;
  if (out_len) *out_len = 0;
  cJSON *q = query_len ? sloop_json_parse(query_json, query_len) : cJSON_CreateObject();
  char *sql = NULL;
  cJSON *binds = NULL;
  int rc = sloop_query_sql(db, coll, coll_len, q, &sql, &binds);
  sqlite3_stmt *st = NULL;
  if (!rc) rc = sloop_prepare(db, sql, &st);
  if (!rc) {
    int i = 1;
    const cJSON *c;
    cJSON_ArrayForEach(c, binds) bind_json(st, i++, c);
    rc = rows_json(db, st, out, out_len);
  }
  sloop_finalize(db, st);
  free(sql);
  cJSON_Delete(binds);
  cJSON_Delete(q);
  return rc;
}
