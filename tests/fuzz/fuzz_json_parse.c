/*
** fuzz_json_parse.c -- sloop_json_parse (json_parse.c) against cJSON's parser: any bytes,
** parsed by length and as a NUL-terminated text, must give the same tree node for node, or a
** refusal from both (json_parse_same.h). The core's stored and compared texts are printed from
** these trees, so the two parsers must never differ. Its spans (a member's object as written)
** must each be exactly what printing its node gives.
*/
#include <stdint.h>
#include <stdlib.h>

#include "json.h"
#include "json_parse_same.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = malloc(size + 1);
  if (!copy) return 0;
  if (!json_parsers_agree((const char *)data, size, copy)) abort();
  if (json_spans_exact((const char *)data, size) < 0) abort();
  free(copy);
  return 0;
}
