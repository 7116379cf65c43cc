/*
** json_parse_same.h -- whether sloop_json_parse built the tree cJSON's parser builds, for the
** parser's unit test (test_json_parse.c) and its fuzz target (fuzz_json_parse.c).
*/
#ifndef SLOOP_JSON_PARSE_SAME_H
#define SLOOP_JSON_PARSE_SAME_H

#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "json.h"

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

/* sloop_json_parse_spans on the same bytes: the same tree as sloop_json_parse, and each span
** recorded (for every member's object) exactly what sloop_print prints of its node. Returns
** the number of spans with text, or -1 when any of that fails. */
static inline long json_spans_exact(const char *data, size_t size) {
  sloop_json_spans spans = {0};
  cJSON *plain = sloop_json_parse(data, size), *tree = sloop_json_parse_spans(data, size, &spans);
  long n = json_same_tree(plain, tree) ? 0 : -1;
  for (size_t i = 0; i < spans.n && n >= 0; i++) {
    size_t found_len = 0;
    if (sloop_json_span_of(&spans, spans.span[i].node, &found_len) != spans.span[i].text) n = -1;
    if (!spans.span[i].text || n < 0) continue; /* an object printed otherwise: no text kept */
    size_t len = 0;
    char *printed = sloop_print(spans.span[i].node, &len);
    if (!printed || len != spans.span[i].len || memcmp(printed, spans.span[i].text, len) != 0) n = -1;
    else n++;
    free(printed);
  }
  cJSON_Delete(plain);
  cJSON_Delete(tree);
  sloop_json_spans_free(&spans);
  return n;
}

#endif /* SLOOP_JSON_PARSE_SAME_H */
