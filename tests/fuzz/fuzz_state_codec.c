/*
** fuzz_state_codec.c -- libFuzzer target for the binary merge state (wasm/src/state_codec.h),
** the bytes a database hands back and the core must never trust.
**
** Input: the first byte picks the document stored alongside (none, or one of two fixed ones),
** how many nodes the table holds (0..7) and, bit 5, whether the rest is a stored blob or one
** in the wire's form (names the document has given by index, SC_NAMES_FROM_DOC). Checks beyond
** "no crash":
**   - a refused blob leaves no state; a decoded one encodes again, decodes to an equal state,
**     and (stored form) its header's visibility agrees with the state's;
**   - the transcoder, which re-encodes without decoding, agrees with the decoder: what it makes
**     of a stored blob is the wire text the encoder makes of the decoded state
**     (sloop_wire_state_transcode against sloop_wire_state_encode); of a wire blob, a stored
**     blob that decodes to the same state (SC_FROM_WIRE); and it refuses what the decoder
**     refuses, except what state_transcode.c leaves to others by design (inline values, sets,
**     text and list fields, a name twice, a field the document lacks: the receiving decoder,
**     or pull_plain.c's gate, which stores only blobs with none of them).
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "merge.h"
#include "nodes_mem.h"
#include "wire.h"

/* Whether the transcoder's field list shows what it does not check (see the header). */
static int unchecked(const sloop_field_seen *seen, size_t n) {
  for (size_t i = 0; i < n; i++) {
    /* Text and list fields (q, m, g) too: pull_plain.c's gate sends them the general way. */
    if (seen[i].mask & (SC_F_V_INLINE | SC_F_S | SC_F_A | SC_F_R | SC_F_Q | SC_F_M | SC_F_G) || seen[i].doc_index < 0)
      return 1;
    for (size_t j = 0; j < i; j++)
      if (seen[j].doc_index == seen[i].doc_index) return 1;
  }
  return 0;
}

/* The transcoder's verdict on `blob` in `direction`: SLOOP_OK, or 2 when it accepts what it
** does not check, or its refusal. */
static int transcoder_verdict(const uint8_t *blob, size_t len, const cJSON *doc, const sloop_nodes *nodes,
                              int direction) {
  const char **names = NULL;
  size_t nnames = 0, nseen = 0, out_len = 0;
  if (doc && sloop_codec_doc_names(doc, &names, &nnames) != SLOOP_OK) abort();
  nodes_mem mine = {{0}, 0};
  sloop_nodes to = nodes_mem_table(&mine);
  uint8_t *out = NULL;
  sloop_field_seen *seen = NULL;
  char msg[200];
  int rc = sloop_state_transcode(blob, len, nodes, &to, names, nnames, direction, &out, &out_len, &seen, &nseen, msg);
  if (rc == SLOOP_OK && unchecked(seen, nseen)) rc = 2;
  free(out);
  free(seen);
  free(names);
  return rc;
}

/* A stored blob: decoded, encoded again, and sent as the server sends it (transcoded). */
static void stored_form(const uint8_t *blob, size_t len, const cJSON *doc, const sloop_nodes *nodes) {
  cJSON *state = NULL;
  char msg[200];
  int rc = sloop_state_decode(blob, len, doc, nodes, &state, msg);
  int visible = sloop_state_blob_visible(blob, len, nodes);
  sloop_wire_nodes w_trans = {0}, w_enc = {0};
  char *trans = NULL, *enc = NULL;
  int trc = sloop_wire_state_transcode(blob, len, nodes, doc, &w_trans, &trans, msg);
  if (rc != SLOOP_OK) {
    if (state || (trc == SLOOP_OK && transcoder_verdict(blob, len, doc, nodes, SC_TO_WIRE) == SLOOP_OK)) abort();
  } else {
    if (visible != sloop_state_visible(state)) abort();
    uint8_t *again_blob = NULL;
    size_t again_len = 0;
    cJSON *again = NULL;
    if (sloop_state_encode(state, doc, nodes, &again_blob, &again_len, msg) != SLOOP_OK) abort();
    if (sloop_state_decode(again_blob, again_len, doc, nodes, &again, msg) != SLOOP_OK) abort();
    if (!cJSON_Compare(state, again, 1)) abort();
    if (trc != SLOOP_OK || sloop_wire_state_encode(state, doc, &w_enc, &enc, msg) != SLOOP_OK) abort();
    if (transcoder_verdict(blob, len, doc, nodes, SC_TO_WIRE) == SLOOP_OK) {
      /* Byte for byte the encoder's. */
      if (strcmp(trans, enc) != 0 || w_trans.count != w_enc.count) abort();
      if (w_enc.count && memcmp(w_trans.node, w_enc.node, w_enc.count * sizeof(uint64_t)) != 0) abort();
    } else {
      /* Inline values copied as stored (the encoder prints them again): the same state. */
      cJSON *received = NULL;
      if (sloop_wire_state_decode(trans, strlen(trans), doc, &w_trans, &received, msg) != SLOOP_OK) abort();
      if (!cJSON_Compare(state, received, 1)) abort();
      cJSON_Delete(received);
    }
    free(again_blob);
    cJSON_Delete(again);
    cJSON_Delete(state);
  }
  free(trans);
  free(enc);
  sloop_wire_nodes_free(&w_trans);
  sloop_wire_nodes_free(&w_enc);
}

/* A blob in the wire's form: decoded, and stored as a client stores it (transcoded). */
static void wire_form(const uint8_t *blob, size_t len, const cJSON *doc, const sloop_nodes *nodes) {
  cJSON *state = NULL, *stored_state = NULL;
  char msg[200];
  const char **names = NULL;
  size_t nnames = 0;
  if (doc && sloop_codec_doc_names(doc, &names, &nnames) != SLOOP_OK) abort();
  nodes_mem mine = {{0}, 0};
  sloop_nodes to = nodes_mem_table(&mine);
  uint8_t *stored = NULL;
  size_t stored_len = 0;
  int rc = sloop_state_decode_with(blob, len, doc, nodes, SC_NAMES_FROM_DOC, &state, msg);
  int trc = sloop_state_transcode(blob, len, nodes, &to, names, nnames, SC_FROM_WIRE, &stored, &stored_len, NULL, NULL, msg);
  if (rc != SLOOP_OK) {
    if (state || (trc == SLOOP_OK && transcoder_verdict(blob, len, doc, nodes, SC_FROM_WIRE) == SLOOP_OK)) abort();
  } else {
    if (trc != SLOOP_OK) abort();
    if (sloop_state_decode(stored, stored_len, doc, &to, &stored_state, msg) != SLOOP_OK) abort();
    if (!cJSON_Compare(state, stored_state, 1)) abort();
  }
  cJSON_Delete(state);
  cJSON_Delete(stored_state);
  free(stored);
  free(names);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const char *const docs[] = {NULL, "{\"title\": \"x\", \"n\": 1, \"tags\": [\"a\"]}",
                                     "{\"a\": {\"b\": [1, 2.5, null]}, \"t\": true, \"x\": \"\"}"};
  cJSON *doc = docs[data[0] % 3] ? cJSON_Parse(docs[data[0] % 3]) : NULL;
  nodes_mem m = {{0}, 0};
  for (uint64_t i = 0, index; i < (uint64_t)(data[0] >> 2 & 7); i++) nodes_mem_intern(&m, i * 0x0123456789abcdefull, &index);
  sloop_nodes nodes = nodes_mem_table(&m);
  if (data[0] & 0x20) wire_form(data + 1, size - 1, doc, &nodes);
  else stored_form(data + 1, size - 1, doc, &nodes);
  cJSON_Delete(doc);
  return 0;
}
