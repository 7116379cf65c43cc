/*
** server.h -- what the server's files share (private to the core, server module only): the
** caller's context, the request envelope, and the conflict record's protocol form.
** server_request.c holds the functions; server.c (push) and server_pull.c use them;
** server_batch.c keeps what a push batch writes besides its records.
*/
#ifndef SLOOP_SERVER_H
#define SLOOP_SERVER_H

#include "internal.h"
#include "wire.h"

typedef struct sloop_server_ctx {
  const char *user;
  const char *device;
  const cJSON *perms;   /* NULL: a trusted caller, everything allowed */
} sloop_server_ctx;

/* Whether the grants allow `kind` ("read", "write") on collection `coll`; NULL perms: all. */
int sloop_perm_allows(const cJSON *perms, const char *kind, const char *coll);

/* Parses the caller's context (a JSON object, empty: a trusted caller) into *pc, which
** points into *json (the caller deletes it). */
int sloop_server_ctx_parse(sloop_db *db, const char *ctx, size_t ctx_len, cJSON **json, sloop_server_ctx *pc);

/* Parses a request body: an object with a supported "v" (*version: SLOOP_WIRE_V1 or V2, the
** form of the answer's changes) and a valid "device" (matching the context's device when it
** names one). *out is the body (the caller deletes it). */
int sloop_server_request(sloop_db *db, const char *req, size_t len, const sloop_server_ctx *pc, cJSON **out,
                         const char **device, int *version);

/* Whether the device is the context user's (or new, or the caller trusted). */
int sloop_device_owner_ok(sloop_db *db, const char *device, const sloop_server_ctx *pc);

/* The canonical record of (coll, rid) as the change an answer carries, or *out NULL when
** the server has no such record (server_change.c). `wire` is NULL for v1 (the state as
** JSON), else the answer's node list, which the v2 form adds to. */
int sloop_load_change(sloop_db *db, const char *coll, const char *rid, sloop_wire_nodes *wire, cJSON **out);

/* The change sloop_load_change would give for a row the caller has just written (doc_text,
** its parsed tree `doc`, which passes to this function, NULL for both on a tombstone; the state
** blob; the version), without reading it back. */
int sloop_written_change(sloop_db *db, const char *coll, const char *rid, const char *doc_text, cJSON *doc,
                         const uint8_t *state_blob, size_t state_len, int64_t version, sloop_wire_nodes *wire,
                         cJSON **out);

/* The records a push batch reads and writes (server_rows.c): each loaded once per batch, its
** state kept in memory while the batch's operations apply to it, written once after the
** batch's last operation on it, and answered from what was written. Entries stay where they are (room for one per
** operation is made at the start), so pointers to them hold for the batch. */
typedef struct sloop_batch_row {
  const char *coll, *rid; /* point into the request body */
  uint64_t hash;
  int loaded;             /* row holds the record as the batch has left it so far */
  int dirty;              /* an operation applied to row.state since it was loaded: to be written */
  int touched;            /* the answer carries the record */
  int last_op;            /* the index of the batch's last operation on the record */
  sloop_row row;
  /* Once written (sloop_rows_flush): what was stored, for the answer. */
  int written;
  cJSON *doc;
  char *doc_text;
  uint8_t *blob;
  size_t blob_len;
} sloop_batch_row;

typedef struct sloop_batch_rows {
  sloop_batch_row *row;
  size_t count, cap;
  uint32_t *slot;         /* open addressing by hash: index + 1, 0 for an empty slot */
  size_t nslots;
  uint32_t *touched;      /* indexes of touched entries, first touched first */
  size_t ntouched;
} sloop_batch_rows;

/* Room for the records of `n` operations. */
int sloop_rows_init(sloop_batch_rows *r, size_t n);
void sloop_rows_free(sloop_batch_rows *r);
/* The entry of (coll, rid), added if new (not loaded). */
int sloop_rows_get(sloop_batch_rows *r, const char *coll, const char *rid, sloop_batch_row **out);
/* Loads the entry's record from the database unless it holds it already. */
int sloop_rows_load(sloop_db *db, sloop_batch_row *e);
/* Forgets what the entry holds (an operation left its state half changed): loaded again from
** the database when next needed. Only for an entry that is not dirty. */
void sloop_rows_drop(sloop_batch_row *e);
/* Marks the entry for the answer (once; answered in the order first marked). */
int sloop_rows_touch(sloop_batch_rows *r, sloop_batch_row *e);
/* Writes the entry if dirty (its state freed, what was written kept for the answer). */
int sloop_rows_write(sloop_db *db, sloop_batch_row *e);
/* Writes every dirty entry. */
int sloop_rows_flush(sloop_db *db, sloop_batch_rows *r);
/* The touched records as the answer's "records" (v2: against `wire`; NULL for v1): written
** ones from memory, others read from the database (sloop_load_change). */
int sloop_rows_answer(sloop_db *db, sloop_batch_rows *r, sloop_wire_nodes *wire, cJSON **out);

/* What a push batch writes once, at its end (server_batch.c). */
typedef struct sloop_push_batch {
  int64_t version, version_stored; /* the last version handed out, and meta's */
  int clock_moved;                 /* an operation moved the clock (persisted at the end) */
  const char *acked_op;            /* the remembered operation of the highest sequence */
  int64_t acked_seq;
} sloop_push_batch;

/* Starts a batch: reads the version counter. */
int sloop_batch_open(sloop_db *db, sloop_push_batch *b);
/* Keeps an operation's answer under its id (applied_ops) and notes it for the device's
** acknowledged operation. `id` must outlive the batch (it points into the request body).
** With `printed`, hands over the answer's text as stored (the caller frees it). */
int sloop_batch_remember(sloop_db *db, const char *id, const char *device, int64_t seq, const sloop_server_ctx *pc,
                         sloop_push_batch *b, const cJSON *result, char **printed);
/* Which operation ids of a batch may have an answer already, read in one range of the
** device's sequence numbers (applied_by_device) instead of one look-up per operation: an id
** needs looking up only if that range holds it or the batch had it before. */
typedef struct sloop_batch_ids {
  const char **slot; /* open addressing: ids (answered ones copied into `text`), NULL empty */
  size_t nslots;
  char *text;
  size_t text_len, text_cap;
  int all;           /* the range held too many answered ids: look every id up */
} sloop_batch_ids;

/* Reads the answered ids of `device` between the batch's lowest and highest sequence number
** (seq[i] of n operations). */
int sloop_batch_ids_load(sloop_db *db, const char *device, const int64_t *seq, int n, sloop_batch_ids *ids);
/* Whether `id` (which must outlive the batch) may have an answer: answered before the batch,
** or met earlier in it. Notes it as met. */
int sloop_batch_ids_check(sloop_batch_ids *ids, const char *id);
void sloop_batch_ids_free(sloop_batch_ids *ids);

/* Writes what the batch deferred: the version counter, the clock, the device's state. */
int sloop_batch_store(sloop_db *db, const sloop_push_batch *b, const char *device, const sloop_server_ctx *pc);

/* A conflict record in its protocol form, as pulls and push answers carry it. */
#define SLOOP_CONFLICT_JSON                                                                           \
  "json_object('id', id, 'coll', coll, 'rid', rid, 'field', field, 'server', json(server),"    \
  " 'incoming', json(incoming), 'op', op, 'device', device, 'user', user, 'hlc', hlc,"         \
  " 'status', status, 'resolution', json(resolution), 'version', version)"

#endif /* SLOOP_SERVER_H */
