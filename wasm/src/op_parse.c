/*
** op_parse.c -- reading an operation of the protocol (docs/PROTOCOL.md, Operations) into a
** sloop_op, and refusing any the merge code would not know how to apply: every field named by
** the schema, every field operation of its field's policy, every value of the right type.
** Parsing is separate from applying (merge.c) so both sides refuse the same operations before
** anything is merged.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "merge.h"
#include "merge_seq.h"
#include "sloop.h"

static int bad(char *msg, int rc, const char *fmt, const char *arg) {
  snprintf(msg, 200, fmt, arg ? arg : "");
  return rc;
}

static const char *get_string(const cJSON *obj, const char *key) {
  const cJSON *v = sloop_member(obj, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Validates one field operation for the field's policy. */
static int check_field_op(sloop_policy p, const cJSON *fop, char *msg) {
  const char *name = fop->string;
  if (!cJSON_IsObject(fop) || cJSON_GetArraySize(fop) < 1)
    return bad(msg, SLOOP_INVALID, "field '%.64s': expected a field operation object", name);
  if (p == SLOOP_POLICY_TEXT || p == SLOOP_POLICY_LIST) return sloop_seq_check_op(p, fop, msg);
  const cJSON *k;
  cJSON_ArrayForEach(k, fop) {
    const char *kind = k->string;
    int ok = 0;
    if (strcmp(kind, "set") == 0) ok = p != SLOOP_POLICY_COUNTER && p != SLOOP_POLICY_SET;
    else if (strcmp(kind, "unset") == 0) ok = cJSON_IsTrue(k) && p != SLOOP_POLICY_COUNTER && p != SLOOP_POLICY_SET;
    else if (strcmp(kind, "seq") == 0) ok = 0;
    else if (strcmp(kind, "inc") == 0) {
      ok = p == SLOOP_POLICY_COUNTER && cJSON_IsNumber(k) && k->valuedouble == k->valuedouble &&
           k->valuedouble < 9.007199254740992e15 && k->valuedouble > -9.007199254740992e15;
    } else if (strcmp(kind, "add") == 0 && p == SLOOP_POLICY_SET && cJSON_IsObject(k)) {
      ok = 1;
      const cJSON *e;
      cJSON_ArrayForEach(e, k) ok = ok && cJSON_IsString(e) && sloop_valid_utf8(e->string, strlen(e->string));
    } else if (strcmp(kind, "rem") == 0 && p == SLOOP_POLICY_SET && cJSON_IsArray(k)) {
      ok = 1;
      const cJSON *e;
      cJSON_ArrayForEach(e, k) ok = ok && cJSON_IsString(e);
    }
    if (!ok)
      return bad(msg, SLOOP_SCHEMA, "field '%.64s': operation not valid for its policy", name);
  }
  return SLOOP_OK;
}

int sloop_op_parse(const sloop_schema *schema, const cJSON *json, sloop_op *op, char *msg) {
  memset(op, 0, sizeof(*op));
  if (!cJSON_IsObject(json)) return bad(msg, SLOOP_INVALID, "operation must be an object%s", NULL);
  op->id = get_string(json, "id");
  op->coll = get_string(json, "coll");
  op->rid = get_string(json, "rid");
  const char *type = get_string(json, "type");
  const char *hlc = get_string(json, "hlc");
  if (!op->id || !sloop_valid_id(op->id, strlen(op->id)))
    return bad(msg, SLOOP_INVALID, "operation id missing or invalid%s", NULL);
  if (!type) return bad(msg, SLOOP_INVALID, "operation type missing%s", NULL);
  if (strcmp(type, "put") == 0) op->type = SLOOP_OP_PUT;
  else if (strcmp(type, "patch") == 0) op->type = SLOOP_OP_PATCH;
  else if (strcmp(type, "delete") == 0) op->type = SLOOP_OP_DELETE;
  else if (strcmp(type, "resolve") == 0) op->type = SLOOP_OP_RESOLVE;
  else return bad(msg, SLOOP_INVALID, "unknown operation type '%.32s'", type);
  if (!op->coll || !sloop_valid_name(op->coll, strlen(op->coll), 0))
    return bad(msg, SLOOP_INVALID, "invalid collection name%s", NULL);
  if (!op->rid || !sloop_valid_id(op->rid, strlen(op->rid)))
    return bad(msg, SLOOP_INVALID, "invalid record id%s", NULL);
  if (!hlc || sloop_hlc_parse(hlc, strlen(hlc), &op->hlc))
    return bad(msg, SLOOP_INVALID, "invalid hlc timestamp%s", NULL);
  memcpy(op->hlc_str, hlc, SLOOP_HLC_STRLEN);
  const cJSON *base = sloop_member(json, "base");
  if (base && (!cJSON_IsNumber(base) || base->valuedouble < 0 || base->valuedouble > 9e15))
    return bad(msg, SLOOP_INVALID, "base must be a non-negative version%s", NULL);
  op->base = base ? (int64_t)base->valuedouble : 0;
  op->step_up = cJSON_IsTrue(sloop_member(json, "stepUp"));
  const sloop_coll_schema *cs = sloop_schema_coll(schema, op->coll);
  if (!cs) return bad(msg, SLOOP_SCHEMA, "unknown collection '%.64s'", op->coll);
  op->payload = sloop_member(json, "payload");
  if (op->type == SLOOP_OP_DELETE) return SLOOP_OK;
  if (!cJSON_IsObject(op->payload)) return bad(msg, SLOOP_INVALID, "payload must be an object%s", NULL);
  if (op->type == SLOOP_OP_RESOLVE) {
    const cJSON *cid = sloop_member(op->payload, "conflict");
    if (!sloop_json_whole(cid, 9e15) || !sloop_member(op->payload, "value"))
      return bad(msg, SLOOP_INVALID, "resolve needs a conflict id and a value%s", NULL);
    return SLOOP_OK;
  }
  const cJSON *fop;
  cJSON_ArrayForEach(fop, op->payload) {
    if (!sloop_valid_name(fop->string, strlen(fop->string), 0))
      return bad(msg, SLOOP_INVALID, "invalid field name '%.64s'", fop->string);
    if (cs->strict && !sloop_member(cs->fields, fop->string))
      return bad(msg, SLOOP_SCHEMA, "unknown field '%.64s' (the collection is strict)", fop->string);
    int rc = check_field_op(sloop_field_policy(cs, fop->string), fop, msg);
    if (rc) return rc;
  }
  return SLOOP_OK;
}
