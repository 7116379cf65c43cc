/*
** op_json.h -- an operation object on the record notes/r, for the property tests that apply
** operations to a state directly (test_props.c, test_state_codec.c).
*/
#ifndef SLOOP_OP_JSON_H
#define SLOOP_OP_JSON_H

#include "cJSON.h"
#include "hlc.h"

/* {"id", "type", "coll": "notes", "rid": "r", "hlc", "base", "payload"}; `payload` (owned by
** the operation from here) may be NULL. */
static inline cJSON *test_op_json(const char *id, const char *type, sloop_hlc hlc, int base, cJSON *payload) {
  char h[SLOOP_HLC_STRLEN];
  sloop_hlc_format(hlc, h);
  cJSON *op = cJSON_CreateObject();
  cJSON_AddStringToObject(op, "id", id);
  cJSON_AddStringToObject(op, "type", type);
  cJSON_AddStringToObject(op, "coll", "notes");
  cJSON_AddStringToObject(op, "rid", "r");
  cJSON_AddStringToObject(op, "hlc", h);
  cJSON_AddNumberToObject(op, "base", base);
  if (payload) cJSON_AddItemToObject(op, "payload", payload);
  return op;
}

#endif /* SLOOP_OP_JSON_H */
