/*
** json.h -- small cJSON helpers (json.c), for every layer of the core.
*/
#ifndef SLOOP_JSON_H
#define SLOOP_JSON_H

#include <stddef.h>

#include "cJSON.h"

/* Returns the compact JSON text of a tree, exactly as cJSON_PrintUnformatted would print it,
** malloc'd (free it with free()), or NULL; sets *len when non-NULL. The core prints only
** through here (json_print.c). */
char *sloop_print(const cJSON *json, size_t *len);

/* Parses JSON text into the tree cJSON_ParseWithLength(text, len) would build, node for node,
** and refuses exactly what it refuses (NULL), faster (json_parse.c). The core parses through
** these (state_decode.c's inline values, which need cJSON's end position, excepted).
** sloop_json_parse_text is cJSON_Parse: a NUL-terminated text. */
cJSON *sloop_json_parse(const char *text, size_t len);
cJSON *sloop_json_parse_text(const char *text);

/* sloop_json_parse, and the text of each object that is a member's value named `member` (any
** member's, when NULL) wherever sloop_print of its tree gives that text byte for byte: written
** compactly, with the escapes print uses and whole numbers as print writes them (a pulled
** record's document, printed by the server, stored without printing it again). An object with
** anything else gets no text (span NULL), so a span is always exact, and a missing one costs a
** print. The
** spans point into `text` and name nodes of the tree: valid while both are, and while the tree
** is not changed. */
typedef struct sloop_json_span {
  const cJSON *node;
  const char *text;
  size_t len;
} sloop_json_span;
typedef struct sloop_json_spans {
  const char *member;
  sloop_json_span *span;
  size_t n, cap, next;
} sloop_json_spans;
cJSON *sloop_json_parse_spans(const char *text, size_t len, sloop_json_spans *spans);
/* The recorded text of `node` (NULL when none), found fastest when asked in the text's order. */
const char *sloop_json_span_of(sloop_json_spans *spans, const cJSON *node, size_t *len);
void sloop_json_spans_free(sloop_json_spans *spans);

/* Deep equality of two JSON values (member order aside), as cJSON_Compare with case-sensitive
** names, but one pass when both objects list their members in the same order; NULL equals
** only NULL. */
int sloop_json_equal(const cJSON *a, const cJSON *b);

/* cJSON_GetObjectItemCaseSensitive, exactly (the first member so named; NULL for NULL, for a
** non-object, at the first member without a name), but a name's first byte is compared before
** strcmp is called: member look-ups were 9% of a local write, mostly strcmp on names that
** differ at once. The core looks members up only through here. */
cJSON *sloop_member(const cJSON *object, const char *name);

/* Whether v is a whole number from 0 to max (at most 2^53, where doubles stop holding every
** integer). Input is checked with this before any conversion to an integer type: converting a
** double beyond the target's range is undefined behaviour, not a large number. */
int sloop_json_whole(const cJSON *v, double max);

/* The pool for cJSON's small allocations (json_pool.c). Install sets cJSON's hooks, once per
** process (sloop_open). A hot path brackets its work with
**     int outer = sloop_json_pool_enter(); ... sloop_json_pool_leave(outer);
** and code that must hand out malloc memory made by cJSON pauses the pool the same way:
**     int outer = sloop_json_pool_pause(); ... sloop_json_pool_leave(outer); */
void sloop_json_pool_install(void);
int sloop_json_pool_enter(void);
int sloop_json_pool_pause(void);
void sloop_json_pool_leave(int outer);

#endif /* SLOOP_JSON_H */
