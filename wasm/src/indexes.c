/*
** indexes.c -- the app's indexes on records: one per field a collection's schema lists.
**
** Each is an expression index on (coll, json_extract(doc, '$.field'), id), partial on the
** collection. The trailing id is what makes the common query cheap: an equality condition on
** the field reads the matching rows already in id order (the order queries promise), so a
** limit stops after that many rows. Without it the index is ordered by rowid within a value,
** every matching row must be read and sorted first, and the first query of a fresh page
** fetches most of the database from storage. docs.c spells the same expression.
**
** sloop_indexes_sync makes the stored indexes match the schema: it creates the missing ones
** and drops the ones this code made that the schema no longer lists or that have another
** definition (the (coll, expr) indexes of earlier code). It runs on open and on a new schema;
** when nothing differs it only reads sqlite_schema, which the open has read already.
*/
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* The statement that creates the index of `coll`.`field`, as SQLite stores it in
** sqlite_schema.sql (no IF NOT EXISTS, the rest verbatim), so it compares as text. Names are
** validated identifiers ([A-Za-z_][A-Za-z0-9_]*), safe inside SQL text. */
static void index_sql(char *sql, size_t n, const char *coll, const char *field) {
  snprintf(sql, n,
           "CREATE INDEX \"idx_%s_%s\" ON records(coll, json_extract(doc, '$.%s'), id) WHERE coll = '%s'",
           coll, field, field, coll);
}

/* Whether an index's stored definition is one the schema asks for, verbatim. */
static int wanted(const sloop_schema *schema, const char *stored) {
  char sql[400];
  for (int i = 0; i < schema->ncolls; i++) {
    const cJSON *f;
    cJSON_ArrayForEach(f, schema->colls[i].indexes) {
      index_sql(sql, sizeof(sql), schema->colls[i].name, f->valuestring);
      if (strcmp(sql, stored) == 0) return 1;
    }
  }
  return 0;
}

/* Drops the indexes this code made (named idx_..., over a document field) that the schema
** does not ask for as they are. An app's own indexes, under other names, are left alone. */
static int drop_stale(sloop_db *db) {
  sqlite3_stmt *st = NULL;
  int rc = sloop_prepare(db,
                         "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'records'"
                         " AND name GLOB 'idx_*' AND sql LIKE '%json_extract(doc, ''$.%'",
                         &st);
  char drops[16][96];
  int ndrops = 0, more = 0, src;
  while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    const char *sql = (const char *)sqlite3_column_text(st, 1);
    if (!name || !sql || wanted(&db->schema, sql)) continue;
    if (ndrops == 16 || strlen(name) >= sizeof(drops[0])) {
      more = 1; /* dropped on the next pass */
      continue;
    }
    snprintf(drops[ndrops++], sizeof(drops[0]), "%s", name);
  }
  if (!rc && src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "indexes");
  sloop_finalize(db, st);
  /* Dropped after the walk: a DROP changes sqlite_schema under the statement reading it. */
  for (int i = 0; !rc && i < ndrops; i++) {
    char sql[128];
    snprintf(sql, sizeof(sql), "DROP INDEX \"%s\"", drops[i]);
    rc = sloop_exec(db, sql);
  }
  return !rc && more ? drop_stale(db) : rc;
}

int sloop_indexes_sync(sloop_db *db) {
  int rc = drop_stale(db);
  for (int i = 0; !rc && i < db->schema.ncolls; i++) {
    const sloop_coll_schema *cs = &db->schema.colls[i];
    const cJSON *f;
    cJSON_ArrayForEach(f, cs->indexes) {
      char sql[420] = "CREATE INDEX IF NOT EXISTS";
      /* "CREATE INDEX" + " IF NOT EXISTS" + the rest of the stored form. */
      char stored[400];
      index_sql(stored, sizeof(stored), cs->name, f->valuestring);
      snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), "%s", stored + strlen("CREATE INDEX"));
      rc = sloop_exec(db, sql);
      if (rc) break;
    }
  }
  return rc;
}
