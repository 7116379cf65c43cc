/*
** pull_plain.c -- a pulled v2 change stored without its cJSON state: the common case of an
** initial sync, a record this device has no operation on (client_answer.c, apply_plain).
**
** The general path decodes the change's state into cJSON against the answer's nodes and the
** change's document (wire.c), materializes the document again from it, prints that, and
** encodes the state for this database. When the change's own document is what
** sloop_materialize would make of its state under this device's schema, all of that gives
** what this file gives in one pass over the blob (sloop_state_transcode, SC_FROM_WIRE): the
** stored blob, byte for byte, and the document, printed from the answer's tree.
**
** The document is that one exactly when its members are in byte order (as materialize
** writes them) and match the state's fields one to one: each register ("lww", "fww",
** "manual", "custom") takes its value from the document ("v in doc"), each counter's member
** is its total. Anything else (a set, a value sent inline, a member with no field, a
** tombstone, a blob that does not decode) is left to the general path, which stores it or
** refuses the answer with its own messages: this path never refuses anything.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "client_sync.h"
#include "wire.h"

/* sloop_nodes over an answer's list, for lookups only (the transcoder interns in `to`). */
static int page_lookup(void *ctx, uint64_t index, uint64_t *node) {
  const sloop_wire_nodes *w = ctx;
  if (index >= w->count) return SLOOP_CORRUPT;
  *node = w->node[index];
  return SLOOP_OK;
}

static int no_intern(void *ctx, uint64_t node, uint64_t *index) { return SLOOP_CORRUPT; }

/* The document's members and names in order, if they are in strictly ascending byte order
** (then also sorted as sloop_codec_doc_names would sort them); 0 otherwise. */
static int doc_in_order(const cJSON *doc, const cJSON ***members, const char ***names, size_t *n) {
  size_t count = 0;
  for (const cJSON *m = doc->child; m; m = m->next) {
    if (m != doc->child && strcmp(m->prev->string, m->string) >= 0) return 0;
    count++;
  }
  *n = count;
  *members = malloc((count ? count : 1) * sizeof(**members));
  *names = malloc((count ? count : 1) * sizeof(**names));
  if (!*members || !*names) return free(*members), free(*names), *members = NULL, *names = NULL, -1;
  count = 0;
  for (const cJSON *m = doc->child; m; m = m->next, count++) (*members)[count] = m, (*names)[count] = m->string;
  return 1;
}

/* Whether the fields seen are the document's members one to one, as materialize shows them. */
static int shows(const sloop_coll_schema *cs, const cJSON **members, const char **names, size_t nnames,
                 const sloop_field_seen *seen, size_t nseen) {
  if (nseen != nnames) return 0;
  unsigned char *taken = calloc(nnames ? nnames : 1, 1);
  if (!taken) return 0;
  int ok = 1;
  for (size_t i = 0; i < nseen && ok; i++) {
    long k = seen[i].doc_index;
    uint64_t mask = seen[i].mask;
    ok = k >= 0 && !taken[k] && !(mask & (SC_F_V_INLINE | SC_F_A));
    if (!ok) break;
    taken[k] = 1;
    switch (sloop_field_policy(cs, names[k])) {
      case SLOOP_POLICY_SET:
      case SLOOP_POLICY_TEXT:
      case SLOOP_POLICY_LIST:
        ok = 0;
        break;
      case SLOOP_POLICY_COUNTER: {
        double n = mask & (SC_F_N_INT | SC_F_N_DBL) ? seen[i].n : 0;
        /* Equal, and of one sign: -0 prints otherwise than the 0 materialize would print. */
        ok = !(mask & SC_F_V_DOC) && cJSON_IsNumber(members[k]) && members[k]->valuedouble == n &&
             !signbit(members[k]->valuedouble) == !signbit(n);
        break;
      }
      default:
        ok = (mask & SC_F_V_DOC) != 0;
    }
  }
  free(taken);
  return ok;
}

int sloop_pull_plain_encode(sloop_db *db, const sloop_coll_schema *cs, const char *b64, size_t b64_len,
                            const cJSON *doc, const sloop_wire_nodes *nodes, uint8_t **blob, size_t *len) {
  const cJSON **members = NULL;
  const char **names = NULL;
  sloop_field_seen *seen = NULL;
  uint8_t *wire = NULL, *stored = NULL;
  size_t nnames = 0, nseen = 0, wire_len = 0, stored_len = 0;
  char msg[200];
  *blob = NULL;
  *len = 0;
  if (!cJSON_IsObject(doc)) return SLOOP_OK;
  int rc = SLOOP_OK, order = doc_in_order(doc, &members, &names, &nnames);
  if (order < 0) rc = SLOOP_NOMEM;
  if (order <= 0 || sloop_base64_decode(b64, b64_len, &wire, &wire_len)) goto done;
  /* Visible (a put, no newer delete): checked on the answer's blob before anything is interned. */
  sloop_nodes page = {no_intern, page_lookup, (void *)nodes};
  if (sloop_state_blob_visible(wire, wire_len, &page) != 1) goto done;
  sloop_nodes here = sloop_db_nodes(db);
  rc = sloop_state_transcode(wire, wire_len, &page, &here, names, nnames, SC_FROM_WIRE, &stored, &stored_len, &seen,
                             &nseen, msg);
  if (rc == SLOOP_CORRUPT) rc = SLOOP_OK; /* the general path says why */
  if (!rc && stored && shows(cs, members, names, nnames, seen, nseen)) {
    *blob = stored;
    *len = stored_len;
    stored = NULL;
  }
done:
  free(stored);
  free(seen);
  free(wire);
  free(members);
  free(names);
  return rc;
}

int sloop_pull_plain_save(sloop_db *db, const char *coll, const char *rid, const sloop_row_head *head,
                          int64_t version, const cJSON *doc, const char *text, size_t text_len, const uint8_t *blob,
                          size_t len, int *inserted) {
  /* The document as the answer wrote it, when that is its print (most are: the server
  ** printed it): a copy instead of a print, about 7% of a pulled record. */
  char *doc_text = text ? sloop_strndup(text, text_len) : sloop_print(doc, NULL);
  int rc = doc_text ? SLOOP_OK : SLOOP_NOMEM;
  if (!rc) {
    /* same_doc 0: the general path does not compare either (the loaded row has no text). */
    sloop_row_bytes row = {doc_text, doc, 0, blob, len, NULL, 0, version,
                           head->exists ? head->sync : SLOOP_SYNCED, head->exists, head->rowid};
    rc = inserted ? sloop_row_insert_new(db, coll, rid, &row, inserted) : sloop_row_write(db, coll, rid, &row);
  }
  free(doc_text);
  return rc;
}
