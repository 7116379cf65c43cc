/*
** materialize.c -- the document a record's merge state shows: each field's value by its
** policy (a register's value, a counter's total, a set's live elements), nothing for a
** deleted record. Equal states must print as equal documents on every replica, so fields
** and set elements come out in byte order, never in the order operations arrived.
*/
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "merge.h"
#include "merge_seq.h"

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static cJSON *set_elements(const cJSON *fs) {
  /* Elements print in byte order so every replica shows the same array. */
  const cJSON *adds = sloop_member(fs, "a");
  int n = cJSON_GetArraySize(adds);
  const char **names = malloc(sizeof(*names) * (size_t)(n > 0 ? n : 1));
  cJSON *arr = names ? cJSON_CreateArray() : NULL;
  if (!arr) goto fail;
  int k = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, adds) if (cJSON_GetArraySize(e) > 0) names[k++] = e->string;
  qsort(names, (size_t)k, sizeof(*names), cmp_names);
  for (int i = 0; i < k; i++) {
    cJSON *str = cJSON_CreateString(names[i]);
    if (!str || !cJSON_AddItemToArray(arr, str)) {
      cJSON_Delete(str);
      goto fail;
    }
  }
  free(names);
  return arr;
fail:
  free(names);
  cJSON_Delete(arr);
  return NULL;
}

static int cmp_items(const void *a, const void *b) {
  return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* The document's value of one field state, or NULL (with *skip set) when it shows nothing. */
static cJSON *field_value(const sloop_coll_schema *cs, const cJSON *fs, int *skip) {
  *skip = 0;
  sloop_policy p = sloop_field_policy(cs, fs->string);
  switch (p) {
    case SLOOP_POLICY_TEXT:
    case SLOOP_POLICY_LIST:
      return sloop_seq_field_value(fs, p);
    case SLOOP_POLICY_COUNTER: {
      const cJSON *n = sloop_member(fs, "n");
      return cJSON_CreateNumber(cJSON_IsNumber(n) ? n->valuedouble : 0);
    }
    case SLOOP_POLICY_SET:
      return set_elements(fs);
    default: {
      const cJSON *v = sloop_member(fs, "v");
      if (!v) *skip = 1;
      return v ? cJSON_Duplicate(v, 1) : NULL;
    }
  }
}

cJSON *sloop_materialize(const sloop_coll_schema *cs, const cJSON *state) {
  if (!sloop_state_visible(state)) return NULL;
  /* Fields come out in byte order of their names: the order operations arrived in differs
  ** between replicas, and equal states must print as equal documents. */
  const cJSON *fields = sloop_member(state, "f");
  int n = cJSON_GetArraySize(fields);
  const cJSON **sorted = malloc(sizeof(*sorted) * (size_t)(n > 0 ? n : 1));
  cJSON *doc = sorted ? cJSON_CreateObject() : NULL;
  if (!doc) goto fail;
  int k = 0;
  const cJSON *fs;
  cJSON_ArrayForEach(fs, fields) sorted[k++] = fs;
  qsort(sorted, (size_t)k, sizeof(*sorted), cmp_items);
  for (int i = 0; i < k; i++) {
    int skip;
    cJSON *value = field_value(cs, sorted[i], &skip);
    if (skip) continue;
    if (!value || !cJSON_AddItemToObject(doc, sorted[i]->string, value)) {
      cJSON_Delete(value);
      goto fail;
    }
  }
  free(sorted);
  return doc;
fail:
  free(sorted);
  cJSON_Delete(doc);
  return NULL;
}
