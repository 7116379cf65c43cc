/*
** server_batch.c -- what a push batch keeps besides the records: the answer to each operation
** (applied_ops, so a replayed operation is answered again and applied never twice), the
** device's highest acknowledged operation (devices), the version counter and the clock.
**
** The last three are written once per batch, at its end (sloop_batch_store), not once per
** operation: they were a third of the statements an operation ran. All of it happens inside
** the batch's savepoint (server.c), so it commits or rolls back with the operations.
*/
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
                         sloop_push_batch *b, const cJSON *result) {
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
  free(text);
  return rc;
}

int sloop_batch_store(sloop_db *db, const sloop_push_batch *b, const char *device, const sloop_server_ctx *pc) {
  int rc = b->version != b->version_stored ? sloop_meta_set_int(db, "version", b->version) : SLOOP_OK;
  if (!rc && b->clock_moved) rc = sloop_clock_save(db);
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

