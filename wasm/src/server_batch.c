/*
** server_batch.c -- what a push batch keeps besides the records: the answer to each operation
** (applied_ops, so a replayed operation is answered again and applied never twice), the
** device's highest acknowledged operation (devices), the version counter and the clock.
**
** The last three are written once per batch, at its end (sloop_batch_store), not once per
** operation: they were a third of the statements an operation ran. All of it happens inside
** the batch's savepoint (server.c), so it commits or rolls back with the operations.
**
** Whether an operation was answered before is read once per batch (sloop_batch_ids_load): the
** answered ids of the device within the batch's range of sequence numbers, a range of
** applied_ops' key (device, seq, id). An operation id is "<device>:<seq>", and every answer is kept under the
** device its id names, so an id outside that range, or absent from it, has no answer unless
** the batch itself gave one; only ids the range holds, or the batch met before, are looked up.
** A range holding many answered ids (a client replaying a long stretch) gives up and every id
** is looked up, as before.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "server.h"

int sloop_batch_open(sloop_db *db, sloop_push_batch *b) {
  memset(b, 0, sizeof(*b));
  int rc = sloop_meta_get_int(db, "version", &b->version);
  b->version_stored = b->version;
  return rc == SLOOP_NOTFOUND ? SLOOP_OK : rc;
}

int sloop_batch_remember(sloop_db *db, const char *id, const char *device, int64_t seq, const sloop_server_ctx *pc,
                         sloop_push_batch *b, const cJSON *result, char **printed) {
  char *text = sloop_print(result, NULL);
  sqlite3_stmt *st;
  int rc = text ? sloop_prepare(db, "INSERT INTO applied_ops(id, device, seq, user, result) VALUES(?1,?2,?3,?4,?5)", &st) : SLOOP_NOMEM;
  if (!rc) {
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, seq);
    sqlite3_bind_text(st, 4, pc->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, text, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) rc = sloop_sql_fail(db, SQLITE_ERROR, "remember operation");
    sloop_finalize(db, st);
  }
  if (!rc && (!b->acked_op || seq > b->acked_seq)) {
    b->acked_op = id;
    b->acked_seq = seq;
  }
  if (printed && !rc) *printed = text;
  else free(text);
  return rc;
}

int sloop_batch_store(sloop_db *db, const sloop_push_batch *b, const char *device, const sloop_server_ctx *pc) {
  int version_moved = b->version != b->version_stored, rc;
  if (version_moved && b->clock_moved) rc = sloop_meta_set_int_and_clock(db, "version", b->version);
  else if (version_moved) rc = sloop_meta_set_int(db, "version", b->version);
  else rc = b->clock_moved ? sloop_clock_save(db) : SLOOP_OK;
  if (rc || !b->acked_op) return rc;
  sqlite3_stmt *st;
  rc = sloop_prepare(db,
                     "INSERT INTO devices(device, user, acked_op, acked_seq, seen_ms) VALUES(?1, ?2, ?3, ?4, ?5)"
                     " ON CONFLICT(device) DO UPDATE SET acked_op = CASE WHEN excluded.acked_seq > acked_seq"
                     " THEN excluded.acked_op ELSE acked_op END, acked_seq = max(acked_seq, excluded.acked_seq),"
                     " seen_ms = excluded.seen_ms",
                     &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, pc->user, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, b->acked_op, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 4, b->acked_seq);
  sqlite3_bind_int64(st, 5, sloop_now_ms(db));
  if (sqlite3_step(st) != SQLITE_DONE) rc = sloop_sql_fail(db, SQLITE_ERROR, "device state");
  sloop_finalize(db, st);
  return rc;
}


static uint64_t id_hash(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h ^ h >> 31;
}

/* Adds `id` unless there; returns whether it was there. */
static int ids_add(sloop_batch_ids *ids, const char *id) {
  size_t mask = ids->nslots - 1, i = (size_t)id_hash(id) & mask;
  for (; ids->slot[i]; i = (i + 1) & mask)
    if (strcmp(ids->slot[i], id) == 0) return 1;
  ids->slot[i] = id;
  return 0;
}

int sloop_batch_ids_load(sloop_db *db, const char *device, const int64_t *seq, int n, sloop_batch_ids *ids) {
  memset(ids, 0, sizeof(*ids));
  /* A push of one operation looks it up: the range would be the same one look-up. */
  if (n <= 1) return ids->all = 1, SLOOP_OK;
  int64_t lo = seq[0], hi = seq[0];
  for (int i = 1; i < n; i++) {
    if (seq[i] < lo) lo = seq[i];
    if (seq[i] > hi) hi = seq[i];
  }
  /* At most `limit` answered ids are kept; the set holds them and the batch's own ids at
  ** most half full, so probes stay short. */
  size_t limit = 2 * (size_t)n + 16;
  ids->nslots = 16;
  while (ids->nslots < 2 * (limit + (size_t)n)) ids->nslots *= 2;
  if (!(ids->slot = calloc(ids->nslots, sizeof(*ids->slot)))) return SLOOP_NOMEM;
  sqlite3_stmt *st;
  int rc = sloop_prepare(db, "SELECT id FROM applied_ops WHERE device = ?1 AND seq BETWEEN ?2 AND ?3", &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, lo);
  sqlite3_bind_int64(st, 3, hi);
  /* The ids' text first (column text lasts only until the next step), then the set. */
  size_t count = 0;
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    if (++count > limit) {
      ids->all = 1;
      break;
    }
    size_t len = (size_t)sqlite3_column_bytes(st, 0) + 1;
    if (ids->text_len + len > ids->text_cap) {
      size_t cap = ids->text_cap ? ids->text_cap * 2 : 1024;
      while (cap < ids->text_len + len) cap *= 2;
      char *grown = realloc(ids->text, cap);
      if (!grown) {
        rc = SLOOP_NOMEM;
        break;
      }
      ids->text = grown;
      ids->text_cap = cap;
    }
    memcpy(ids->text + ids->text_len, sqlite3_column_text(st, 0), len);
    ids->text_len += len;
  }
  if (!rc && src != SQLITE_ROW && src != SQLITE_DONE) rc = sloop_sql_fail(db, src, "answered operations");
  sloop_finalize(db, st);
  for (size_t at = 0; !rc && !ids->all && at < ids->text_len; at += strlen(ids->text + at) + 1)
    ids_add(ids, ids->text + at);
  return rc;
}

int sloop_batch_ids_check(sloop_batch_ids *ids, const char *id) {
  if (ids->all) return 1;
  return ids_add(ids, id);
}

void sloop_batch_ids_free(sloop_batch_ids *ids) {
  free(ids->slot);
  free(ids->text);
  memset(ids, 0, sizeof(*ids));
}
