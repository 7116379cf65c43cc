/*
** server_rows.c -- the records a push batch touches, each read once and written once per batch.
**
** Applying an operation used to load its record (decode the state blob against the parsed
** document), apply, and save it (materialize, print, encode, write), and the answer then read
** every touched record back and parsed its document again. Here a record is loaded at its
** first operation in the batch and kept as a cJSON state while later operations of the batch
** apply to it; after the batch's last operation on it (server.c knows which that is before
** it applies any) each changed record is materialized, encoded and written once, with its
** last version; the answer's records are made from what was written (the document tree, its
** text, the blob), not read back. Writing a record as soon as nothing more will change it,
** rather than all at the batch's end, keeps one record's state in memory at a time for a
** batch of distinct records: holding a hundred states of a few hundred nodes each until the
** end cost more in cache misses than the instructions it saved (a batch of 100 ran at two
** thirds of the speed with a quarter fewer instructions).
**
** Nothing outside the batch can tell: the batch is one savepoint (server.c), nothing in it
** reads a record row but through here, an error anywhere fails the whole push, and the rows
** written at the end are those the last per-operation save wrote (the records table keeps
** only a record's newest version). The answer is byte for byte the same: its changes come
** from the same document text and blob a read would have given. Node ids a batch meets first
** may be interned in another order than before (records are encoded in the order first
** loaded, not operation by operation); the wire form names nodes by the answer's own list.
**
** A rejected operation must leave its record as it was. At a record's first operation the
** state comes fresh from the database, so the merge works on it in place (scratch) and a
** rejection drops it (loaded again when next needed); once an operation of the batch has
** changed it, the merge works on a copy. A record whose last operation was rejected is written
** at the batch's end (sloop_rows_flush).
*/
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "server.h"

static uint64_t hash_of(const char *coll, const char *rid) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over coll, a NUL, rid */
  for (const unsigned char *c = (const unsigned char *)coll; *c; c++) h = (h ^ *c) * 0x100000001b3ull;
  h *= 0x100000001b3ull;
  for (const unsigned char *c = (const unsigned char *)rid; *c; c++) h = (h ^ *c) * 0x100000001b3ull;
  return h;
}

int sloop_rows_init(sloop_batch_rows *r, size_t n) {
  memset(r, 0, sizeof(*r));
  r->cap = n ? n : 1;
  r->nslots = 16;
  while (r->nslots < 2 * r->cap) r->nslots *= 2;
  r->row = calloc(r->cap, sizeof(*r->row));
  r->slot = calloc(r->nslots, sizeof(*r->slot));
  r->touched = malloc(r->cap * sizeof(*r->touched));
  return r->row && r->slot && r->touched ? SLOOP_OK : SLOOP_NOMEM;
}

static void entry_free(sloop_batch_row *e) {
  sloop_row_clear(&e->row);
  cJSON_Delete(e->doc);
  free(e->doc_text);
  free(e->blob);
}

void sloop_rows_free(sloop_batch_rows *r) {
  for (size_t i = 0; r->row && i < r->count; i++) entry_free(&r->row[i]);
  free(r->row);
  free(r->slot);
  free(r->touched);
  memset(r, 0, sizeof(*r));
}

int sloop_rows_get(sloop_batch_rows *r, const char *coll, const char *rid, sloop_batch_row **out) {
  uint64_t h = hash_of(coll, rid);
  size_t mask = r->nslots - 1, i = (size_t)(h ^ h >> 29) & mask;
  for (; r->slot[i]; i = (i + 1) & mask) {
    sloop_batch_row *e = &r->row[r->slot[i] - 1];
    if (e->hash == h && strcmp(e->rid, rid) == 0 && strcmp(e->coll, coll) == 0) return *out = e, SLOOP_OK;
  }
  if (r->count == r->cap) return SLOOP_NOMEM; /* more records than operations: cannot happen */
  sloop_batch_row *e = &r->row[r->count];
  e->coll = coll;
  e->rid = rid;
  e->hash = h;
  e->last_op = -1;
  r->slot[i] = (uint32_t)++r->count;
  *out = e;
  return SLOOP_OK;
}

int sloop_rows_load(sloop_db *db, sloop_batch_row *e) {
  if (e->loaded) return SLOOP_OK;
  int rc = sloop_row_load(db, e->coll, e->rid, &e->row);
  e->loaded = !rc;
  return rc;
}

void sloop_rows_drop(sloop_batch_row *e) {
  sloop_row_clear(&e->row);
  e->loaded = 0;
}

int sloop_rows_touch(sloop_batch_rows *r, sloop_batch_row *e) {
  if (!e->touched) {
    e->touched = 1;
    r->touched[r->ntouched++] = (uint32_t)(e - r->row);
  }
  return SLOOP_OK;
}

/* What sloop_row_save does for a server, keeping the document (text and tree) and the blob. */
int sloop_rows_write(sloop_db *db, sloop_batch_row *e) {
  if (!e->dirty) return SLOOP_OK;
  const sloop_coll_schema *cs = sloop_schema_coll(&db->schema, e->coll);
  e->doc = cs ? sloop_materialize(cs, e->row.state) : NULL;
  e->doc_text = e->doc ? sloop_print(e->doc, NULL) : NULL;
  if (e->doc && !e->doc_text) return SLOOP_NOMEM;
  int rc = sloop_state_write(db, e->row.state, e->doc, &e->blob, &e->blob_len);
  if (rc) return rc;
  sloop_row_bytes bytes = {e->doc_text, e->doc, 0, e->blob, e->blob_len, NULL, 0,
                           e->row.version, e->row.sync, e->row.exists, e->row.rowid};
  rc = sloop_row_write(db, e->coll, e->rid, &bytes);
  if (rc) return rc;
  e->written = 1;
  e->dirty = 0;
  /* The state is no longer needed (the answer reads the blob): its memory goes back to the
  ** pool. The row's version stays, for the answer. */
  cJSON_Delete(e->row.state);
  e->row.state = NULL;
  e->loaded = 0;
  return SLOOP_OK;
}

int sloop_rows_flush(sloop_db *db, sloop_batch_rows *r) {
  for (size_t i = 0; i < r->count; i++) {
    sloop_batch_row *e = &r->row[i];
    int rc = sloop_rows_write(db, e);
    if (rc) return rc;
  }
  return SLOOP_OK;
}

int sloop_rows_answer(sloop_db *db, sloop_batch_rows *r, sloop_wire_nodes *wire, cJSON **out) {
  *out = cJSON_CreateArray();
  if (!*out) return SLOOP_NOMEM;
  for (size_t i = 0; i < r->ntouched; i++) {
    sloop_batch_row *e = &r->row[r->touched[i]];
    cJSON *ch = NULL;
    int rc;
    if (e->written) {
      rc = sloop_written_change(db, e->coll, e->rid, e->doc_text, e->doc, e->blob, e->blob_len, e->row.version, wire, &ch);
      e->doc = NULL; /* passed on */
    } else {
      rc = sloop_load_change(db, e->coll, e->rid, wire, &ch);
    }
    if (rc) return rc;
    if (ch && !cJSON_AddItemToArray(*out, ch)) {
      cJSON_Delete(ch);
      return SLOOP_NOMEM;
    }
  }
  return SLOOP_OK;
}
