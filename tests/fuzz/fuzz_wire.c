/*
** fuzz_wire.c -- libFuzzer target for protocol v2's compact changes (wasm/src/wire.h): what a
** server answer hands a client and the client must never trust.
**
** Input: byte 0 picks the mode (bits 0-1), the document sent with the change (bits 2-3: none,
** or one of three fixed ones) and how many nodes the answer's list holds (bits 4-6: 0..7);
** the rest is, by mode:
**   0, 3: a state blob, sent as its base64 (so the fuzzer works on the binary form directly);
**   1:    the change's "state" text itself (base64 or not);
**   2:    the answer's "nodes" member as JSON text.
** Checks beyond "no crash": a refused state or list leaves nothing; text that decodes is the
** base64 the encoder makes of those bytes; a decoded state encodes again and decodes to an
** equal state; a list that parses prints as the same nodes.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "sloop.h"
#include "wire.h"

static void check_state(const char *text, size_t len, const cJSON *doc, sloop_wire_nodes *w) {
  cJSON *state = NULL;
  char msg[200];
  int rc = sloop_wire_state_decode(text, len, doc, w, &state, msg);
  if (rc != SLOOP_OK) {
    if (state) abort();
    return;
  }
  uint8_t *bytes = NULL;
  size_t n = 0;
  if (sloop_base64_decode(text, len, &bytes, &n) != SLOOP_OK) abort();
  char *canonical = sloop_base64_encode(bytes, n, NULL);
  if (!canonical || strlen(canonical) != len || memcmp(canonical, text, len) != 0) abort();
  free(canonical);
  free(bytes);
  size_t before = w->count;
  char *again = NULL;
  cJSON *back = NULL;
  if (sloop_wire_state_encode(state, doc, w, &again, msg) != SLOOP_OK) abort();
  if (w->count != before) abort(); /* a decoded state names only nodes of the list */
  if (sloop_wire_state_decode(again, strlen(again), doc, w, &back, msg) != SLOOP_OK) abort();
  if (!cJSON_Compare(state, back, 1)) abort();
  free(again);
  cJSON_Delete(back);
  cJSON_Delete(state);
}

static void check_list(const uint8_t *data, size_t size) {
  cJSON *json = cJSON_ParseWithLength((const char *)data, size);
  sloop_wire_nodes w = {0};
  char msg[200];
  if (sloop_wire_nodes_parse(json, &w, msg) == SLOOP_OK) {
    cJSON *printed = sloop_wire_nodes_json(&w);
    if (!printed || !cJSON_Compare(printed, json, 1)) abort();
    cJSON_Delete(printed);
  }
  sloop_wire_nodes_free(&w);
  cJSON_Delete(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int mode = data[0] & 3;
  if (mode == 2) {
    check_list(data + 1, size - 1);
    return 0;
  }
  static const char *const docs[] = {NULL, "{\"title\": \"x\", \"n\": 1, \"tags\": [\"a\"]}",
                                     "{\"a\": {\"b\": [1, 2.5, null]}, \"t\": true, \"x\": \"\"}",
                                     "{\"b\": 1, \"b\": 2, \"c\": null}"};
  cJSON *doc = docs[data[0] >> 2 & 3] ? cJSON_Parse(docs[data[0] >> 2 & 3]) : NULL;
  sloop_wire_nodes w = {0};
  cJSON *list = cJSON_CreateArray();
  for (uint64_t i = 0; i < (uint64_t)(data[0] >> 4 & 7); i++) {
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)(i * 0x0123456789abcdefull));
    cJSON_AddItemToArray(list, cJSON_CreateString(hex));
  }
  char msg[200];
  if (sloop_wire_nodes_parse(list, &w, msg) != SLOOP_OK) abort();
  if (mode == 1) {
    check_state((const char *)data + 1, size - 1, doc, &w);
  } else {
    char *text = sloop_base64_encode(data + 1, size - 1, NULL);
    if (text) check_state(text, strlen(text), doc, &w);
    free(text);
  }
  sloop_wire_nodes_free(&w);
  cJSON_Delete(list);
  cJSON_Delete(doc);
  return 0;
}
