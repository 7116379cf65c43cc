/*
** fuzz_json_print.c -- sloop_print (json_print.c) against cJSON_PrintUnformatted, byte for
** byte: stored documents are compared and sent as printed, so the two must never differ.
**
** The input is JSON text, parsed by cJSON and printed both ways. Parsing yields only numbers
** a decimal spells, so the input's bytes are also read as doubles (every 8 bytes, any bit
** pattern: negative zero, subnormals, huge and non-integral values, NaN), wrapped in an
** array, and printed both ways.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "json.h"

static void same(const cJSON *tree) {
  char *want = cJSON_PrintUnformatted(tree);
  size_t len = 0;
  char *got = sloop_print(tree, &len);
  if (!want != !got) abort();
  if (want && (strcmp(want, got) != 0 || len != strlen(want))) abort();
  free(want);
  free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cJSON *tree = cJSON_ParseWithLength((const char *)data, size);
  if (tree) same(tree);
  cJSON_Delete(tree);
  cJSON *numbers = cJSON_CreateArray();
  for (size_t i = 0; i + 8 <= size && i < 64 * 8; i += 8) {
    double d;
    memcpy(&d, data + i, 8);
    cJSON *n = cJSON_CreateNumber(0); /* cJSON_CreateNumber(NaN) converts NaN to int */
    if (n) n->valuedouble = d;
    cJSON_AddItemToArray(numbers, n);
  }
  same(numbers);
  cJSON_Delete(numbers);
  return 0;
}
