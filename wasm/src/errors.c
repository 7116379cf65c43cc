/*
** errors.c -- return-code names and the per-handle failure detail.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *sloop_errstr(int rc) {
  switch (rc) {
#define SLOOP_MSG_(name, code, id, msg) \
  case code:                        \
    return msg;
    SLOOP_ERRORS(SLOOP_MSG_)
#undef SLOOP_MSG_
  }
  return "unknown error";
}

const char *sloop_errcode(int rc) {
  switch (rc) {
#define SLOOP_ID_(name, code, id, msg) \
  case code:                           \
    return id;
    SLOOP_ERRORS(SLOOP_ID_)
#undef SLOOP_ID_
  }
  return "unknown";
}

void sloop_free(void *p) { free(p); }

const char *sloop_errmsg(sloop_db *db) {
  if (!db) return "no database handle";
  return db->errmsg[0] ? db->errmsg : "ok";
}

int sloop_fail(sloop_db *db, int rc, const char *fmt, ...) {
  if (db) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->errmsg, sizeof(db->errmsg), fmt, ap);
    va_end(ap);
  }
  return rc;
}

int sloop_sql_fail(sloop_db *db, int sqlite_rc, const char *what) {
  int rc = SLOOP_STORAGE;
  switch (sqlite_rc & 0xff) {
    case SQLITE_NOMEM: rc = SLOOP_NOMEM; break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: rc = SLOOP_CORRUPT; break;
    case SQLITE_TOOBIG: rc = SLOOP_TOOBIG; break;
    default: break;
  }
  return sloop_fail(db, rc, "%s: %s", what, db && db->sql ? sqlite3_errmsg(db->sql) : "no db");
}

char *sloop_strndup(const char *s, size_t len) {
  char *p = malloc(len + 1);
  if (!p) return NULL;
  if (len) memcpy(p, s, len);
  p[len] = 0;
  return p;
}

void *sloop_grow(void *items, size_t *cap, size_t need, size_t size, size_t first) {
  if (need <= *cap) return items;
  size_t ncap = *cap ? *cap : first;
  while (ncap < need) ncap *= 2;
  void *grown = realloc(items, ncap * size);
  if (grown) *cap = ncap;
  return grown;
}
