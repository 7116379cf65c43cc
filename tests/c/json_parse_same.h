/*
** json_parse_same.h -- whether sloop_json_parse built the tree cJSON's parser builds, for the
** parser's unit test (test_json_parse.c) and its fuzz target (fuzz_json_parse.c).
*/
#ifndef SLOOP_JSON_PARSE_SAME_H
#define SLOOP_JSON_PARSE_SAME_H

#include <string.h>

#include "cJSON.h"

/* Node for node: type, values (doubles bit for bit), names, order, and the `prev` links
** (each node's to the one before; a list's head's to its tail). */
static inline int json_same_tree(const cJSON *a, const cJSON *b) {
  if (!a || !b) return a == b;
  if (a->type != b->type || a->valueint != b->valueint || memcmp(&a->valuedouble, &b->valuedouble, sizeof(double)) != 0)
    return 0;
  if (!a->valuestring != !b->valuestring || (a->valuestring && strcmp(a->valuestring, b->valuestring) != 0)) return 0;
  if (!a->string != !b->string || (a->string && strcmp(a->string, b->string) != 0)) return 0;
  const cJSON *x = a->child, *y = b->child, *xlast = NULL, *ylast = NULL;
  for (; x && y; xlast = x, ylast = y, x = x->next, y = y->next) {
    if (xlast && (x->prev != xlast || y->prev != ylast)) return 0;
    if (!json_same_tree(x, y)) return 0;
  }
  if (x || y) return 0;
  if (a->child && (a->child->prev != xlast || b->child->prev != ylast)) return 0;
  return 1;
}

/* Both parsers on the same bytes, by length and as a NUL-terminated text (cJSON_Parse). */
static inline int json_parsers_agree(const char *data, size_t size, char *terminated_copy) {
  cJSON *want = cJSON_ParseWithLength(data, size), *got = sloop_json_parse(data, size);
  int same = json_same_tree(want, got);
  cJSON_Delete(want);
  cJSON_Delete(got);
  if (!same || !terminated_copy) return same;
  memcpy(terminated_copy, data, size);
  terminated_copy[size] = '\0';
  want = cJSON_Parse(terminated_copy);
  got = sloop_json_parse_text(terminated_copy);
  same = json_same_tree(want, got);
  cJSON_Delete(want);
  cJSON_Delete(got);
  return same;
}

#endif /* SLOOP_JSON_PARSE_SAME_H */
