/*
** json.c -- small cJSON helpers the core uses everywhere: deep equality and the range check
** of whole numbers. Printing is json_print.c's.
*/
#include <string.h>

#include "json.h"

cJSON *sloop_member(const cJSON *object, const char *name) {
  if (!object || !name) return NULL;
  for (cJSON *c = object->child; c && c->string; c = c->next)
    if (c->string[0] == name[0] && strcmp(c->string, name) == 0) return c;
  return NULL;
}

int sloop_json_whole(const cJSON *v, double max) {
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= max && v->valuedouble <= 9007199254740992.0))
    return 0;
  return v->valuedouble == (double)(long long)v->valuedouble;
}

/* Objects whose members come in the same order, pairwise equal. The core builds its states
** and documents in one order (the schema's, or the state codec's), so this is the common case
** and costs one pass, where cJSON_Compare looks every member up by name in the other object
** (quadratic in the member count). *same is 0 when the orders differ: nothing is decided. */
static int ordered_equal(const cJSON *a, const cJSON *b, int *same) {
  const cJSON *x = a->child, *y = b->child;
  for (; x && y; x = x->next, y = y->next) {
    if (!x->string || !y->string || strcmp(x->string, y->string) != 0) return *same = 0, 0;
    if (!sloop_json_equal(x, y)) return *same = 1, 0;
  }
  *same = 1;
  return !x && !y;
}

int sloop_json_equal(const cJSON *a, const cJSON *b) {
  if (!a || !b) return a == b;
  if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
    int same = 0;
    int equal = ordered_equal(a, b, &same);
    if (same) return equal;
  }
  /* Member order differs (a document from elsewhere), or not two objects: cJSON decides,
  ** recursing with its own comparison. */
  return cJSON_Compare(a, b, 1);
}
