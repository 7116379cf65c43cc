/*
** meta.c -- the meta table (the database's own settings and counters, key -> text) and the
** hybrid logical clock persisted in it.
**
** A local write advances the operation counter and the clock in memory; both are stored once,
** just before the transaction commits (sloop_meta_flush), in the same commit as the write.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---------------------------------------------------------------- meta --------------- */

int sloop_meta_get_text(sloop_db *db, const char *key, char **out) {
  *out = NULL;
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT v FROM meta WHERE k = ?1", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    const char *v = (const char *)sqlite3_column_text(st, 0);
    *out = sloop_strndup(v ? v : "", (size_t)sqlite3_column_bytes(st, 0));
    if (!*out) rc = SLOOP_NOMEM;
  } else if (src == SQLITE_DONE) {
    rc = SLOOP_NOTFOUND;
  } else {
    rc = sloop_sql_fail(db, src, "meta");
  }
  sloop_finalize(db, st);
  return rc;
}

int sloop_meta_set_text(sloop_db *db, const char *key, const char *value) {
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "INSERT OR REPLACE INTO meta(k, v) VALUES(?1, ?2)", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
  int src = sqlite3_step(st);
  if (src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "meta");
  sloop_finalize(db, st);
  return rc;
}

int sloop_meta_get_json(sloop_db *db, const char *key, cJSON **out) {
  char *text = NULL;
  int rc = sloop_meta_get_text(db, key, &text);
  *out = rc == SLOOP_OK ? sloop_json_parse_text(text) : NULL;
  free(text);
  return rc;
}

int sloop_meta_set_json(sloop_db *db, const char *key, const cJSON *value) {
  char *text = sloop_print(value, NULL);
  int rc = text ? sloop_meta_set_text(db, key, text) : SLOOP_NOMEM;
  free(text);
  return rc;
}

int sloop_meta_get_int(sloop_db *db, const char *key, int64_t *out) {
  char *v = NULL;
  int rc = sloop_meta_get_text(db, key, &v);
  *out = rc == SLOOP_OK ? strtoll(v, NULL, 10) : 0;
  free(v);
  return rc;
}

int sloop_meta_set_int(sloop_db *db, const char *key, int64_t value) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%lld", (long long)value);
  return sloop_meta_set_text(db, key, buf);
}

/* ---------------------------------------------------------------- clock -------------- */

void sloop_clock_next(sloop_db *db, char buf[SLOOP_HLC_STRLEN]) {
  sloop_hlc_format(sloop_hlc_now(&db->clock, sloop_now_ms(db)), buf);
}

int sloop_clock_save(sloop_db *db) {
  char buf[SLOOP_HLC_STRLEN];
  sloop_hlc_format(db->clock, buf);
  return sloop_meta_set_text(db, "hlc", buf);
}

int sloop_meta_set_int_and_clock(sloop_db *db, const char *key, int64_t value) {
  char number[32], hlc[SLOOP_HLC_STRLEN];
  snprintf(number, sizeof(number), "%lld", (long long)value);
  sloop_hlc_format(db->clock, hlc);
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "INSERT OR REPLACE INTO meta(k, v) VALUES(?1, ?2), ('hlc', ?3)", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, number, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, hlc, -1, SQLITE_STATIC);
  int src = sqlite3_step(st);
  if (src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "meta");
  sloop_finalize(db, st);
  return rc;
}

int sloop_meta_flush(sloop_db *db) {
  if (!db->meta_pending) return SLOOP_OK;
  int rc = sloop_meta_set_int_and_clock(db, "op_seq", db->op_seq);
  if (!rc) db->meta_pending = 0;
  return rc;
}

int sloop_clock_tick(sloop_db *db, char buf[SLOOP_HLC_STRLEN]) {
  sloop_clock_next(db, buf);
  return sloop_meta_set_text(db, "hlc", buf);
}

int sloop_clock_merge(sloop_db *db, sloop_hlc remote) {
  return sloop_hlc_recv(&db->clock, remote, sloop_now_ms(db), db->schema.max_drift_ms);
}

int sloop_clock_recv(sloop_db *db, const char *hlc) {
  sloop_hlc remote;
  if (!hlc || sloop_hlc_parse(hlc, strlen(hlc), &remote)) return SLOOP_INVALID;
  int rc = sloop_clock_merge(db, remote);
  return rc ? rc : sloop_clock_save(db);
}
