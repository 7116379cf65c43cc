/*
** fuzz_state_codec.c -- libFuzzer target for the binary merge state (wasm/src/state_codec.h),
** the bytes a database hands back and the core must never trust.
**
** Input: the first byte picks the document stored alongside (none, or one of two fixed ones)
** and how many nodes the table holds (0..7); the rest is the blob. Checks beyond "no crash":
** a refused blob leaves no state; a decoded one encodes again, decodes to an equal state, and
** its header's visibility agrees with the state's.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "merge.h"
#include "nodes_mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const char *const docs[] = {NULL, "{\"title\": \"x\", \"n\": 1, \"tags\": [\"a\"]}",
                                     "{\"a\": {\"b\": [1, 2.5, null]}, \"t\": true, \"x\": \"\"}"};
  cJSON *doc = docs[data[0] % 3] ? cJSON_Parse(docs[data[0] % 3]) : NULL;
  nodes_mem m = {{0}, 0};
  for (uint64_t i = 0, index; i < (uint64_t)(data[0] >> 2 & 7); i++) nodes_mem_intern(&m, i * 0x0123456789abcdefull, &index);
  sloop_nodes nodes = nodes_mem_table(&m);
  cJSON *state = NULL;
  char msg[200];
  int rc = sloop_state_decode(data + 1, size - 1, doc, &nodes, &state, msg);
  int visible = sloop_state_blob_visible(data + 1, size - 1, &nodes);
  if (rc != SLOOP_OK) {
    if (state) abort();
  } else {
    if (visible != sloop_state_visible(state)) abort();
    uint8_t *blob = NULL;
    size_t len = 0;
    cJSON *again = NULL;
    if (sloop_state_encode(state, doc, &nodes, &blob, &len, msg) != SLOOP_OK) abort();
    if (sloop_state_decode(blob, len, doc, &nodes, &again, msg) != SLOOP_OK) abort();
    if (!cJSON_Compare(state, again, 1)) abort();
    free(blob);
    cJSON_Delete(again);
    cJSON_Delete(state);
  }
  cJSON_Delete(doc);
  return 0;
}
