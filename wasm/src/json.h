/*
** json.h -- small cJSON helpers (json.c), for every layer of the core.
*/
#ifndef SLOOP_JSON_H
#define SLOOP_JSON_H

#include <stddef.h>

#include "cJSON.h"

/* Returns a malloc'd copy of a cJSON print, or NULL; sets *len when non-NULL. */
char *sloop_print(const cJSON *json, size_t *len);

/* Deep equality of two JSON values (member order aside), as cJSON_Compare with case-sensitive
** names, but one pass when both objects list their members in the same order; NULL equals
** only NULL. */
int sloop_json_equal(const cJSON *a, const cJSON *b);

#endif /* SLOOP_JSON_H */
