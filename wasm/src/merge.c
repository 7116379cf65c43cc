/*
** merge.c -- applying operations to record merge state (see merge.h); parsing them is
** op_parse.c, the document a state shows materialize.c.
**
** Determinism is the contract: the result depends only on the state and the operation, never on
** the clock, the machine or the side (client or server) it runs on. Last-writer-wins compares
** HLC strings, whose order is the clock order with the node id breaking ties. Counter
** increments add up and add-wins sets keep tombstones of removed add tags, so for those types
** any order of the same operations gives the same state; idempotence (an operation applied
** once) is the caller's job, by operation id.
**
** Deletes: a delete wins over concurrent patches (a patch on a deleted record is rejected with
** SLOOP_DELETED and is reported, never dropped); a put whose HLC is newer than the delete
** recreates the record. Field state is cleared when a delete takes effect, so a recreated
** record starts fresh.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "merge.h"
#include "merge_seq.h"
#include "sloop.h"

/* ---------------------------------------------------------------- helpers ------------ */

/* Gets or creates the object member `key`. NULL on OOM. */
static cJSON *child_object(cJSON *parent, const char *key) {
  cJSON *c = sloop_member(parent, key);
  if (cJSON_IsObject(c)) return c;
  cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
  return cJSON_AddObjectToObject(parent, key);
}

static int replace_item(cJSON *obj, const char *key, cJSON *item) {
  if (!item) return SLOOP_NOMEM;
  if (sloop_member(obj, key))
    return cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item) ? SLOOP_OK : SLOOP_NOMEM;
  return cJSON_AddItemToObject(obj, key, item) ? SLOOP_OK : SLOOP_NOMEM;
}

static int set_string(cJSON *obj, const char *key, const char *value) {
  return replace_item(obj, key, cJSON_CreateString(value));
}

static int set_number(cJSON *obj, const char *key, double value) {
  return replace_item(obj, key, cJSON_CreateNumber(value));
}

static const char *state_hlc(const cJSON *obj, const char *key) {
  const cJSON *v = sloop_member(obj, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

int sloop_state_visible(const cJSON *state) {
  const char *p = state_hlc(state, "p");
  const char *d = state_hlc(state, "d");
  return p && (!d || strcmp(p, d) > 0);
}

static int array_has_string(const cJSON *arr, const char *s) {
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0) return 1;
  return 0;
}

/* ---------------------------------------------------------------- field policies ----- */

typedef struct field_step {
  const sloop_coll_schema *cs;
  const sloop_op *op;
  const sloop_apply_ctx *ctx;
  sloop_apply_result *res;
} field_step;

/* The writing device: the operation id up to its last ':'. */
static void op_writer(const sloop_op *op, char *buf, size_t size) {
  const char *colon = strrchr(op->id, ':');
  size_t n = colon ? (size_t)(colon - op->id) : strlen(op->id);
  if (n >= size) n = size - 1;
  memcpy(buf, op->id, n);
  buf[n] = '\0';
}

/* Writes value (NULL = unset) with the op's timestamp, the context's version and, for the
** policies that detect concurrent writes, the writer: a device's own successive writes never
** conflict with each other, whatever base version they carry. */
static int write_register(cJSON *fs, const cJSON *value, const field_step *st, sloop_policy p) {
  cJSON_DeleteItemFromObjectCaseSensitive(fs, "v");
  if (value) {
    cJSON *copy = cJSON_Duplicate(value, 1);
    if (!copy || !cJSON_AddItemToObject(fs, "v", copy)) return SLOOP_NOMEM;
  }
  int rc = set_string(fs, "t", st->op->hlc_str);
  if (!rc) rc = set_number(fs, "s", (double)st->ctx->version);
  if (!rc && (p == SLOOP_POLICY_MANUAL || p == SLOOP_POLICY_CUSTOM)) {
    char writer[100];
    op_writer(st->op, writer, sizeof(writer));
    rc = set_string(fs, "w", writer);
  }
  return rc;
}


/* A total order on values (absent first, then by printed JSON), for timestamp ties. */
static int value_order(const cJSON *a, const cJSON *b) {
  if (!a || !b) return a ? 1 : (b ? -1 : 0);
  char *pa = sloop_print(a, NULL), *pb = sloop_print(b, NULL);
  int order = pa && pb ? strcmp(pa, pb) : 0;
  free(pa);
  free(pb);
  return order;
}

static int add_conflict(field_step *st, const char *field, const cJSON *server, const cJSON *incoming) {
  if (!st->res->conflicts && !(st->res->conflicts = cJSON_CreateArray())) return SLOOP_NOMEM;
  cJSON *c = cJSON_CreateObject();
  if (!c || !cJSON_AddItemToArray(st->res->conflicts, c)) return cJSON_Delete(c), SLOOP_NOMEM;
  if (!cJSON_AddStringToObject(c, "field", field)) return SLOOP_NOMEM;
  cJSON *sv = server ? cJSON_Duplicate(server, 1) : cJSON_CreateNull();
  cJSON *iv = incoming ? cJSON_Duplicate(incoming, 1) : cJSON_CreateNull();
  if (!cJSON_AddItemToObject(c, "server", sv)) return cJSON_Delete(sv), cJSON_Delete(iv), SLOOP_NOMEM;
  if (!cJSON_AddItemToObject(c, "incoming", iv)) return cJSON_Delete(iv), SLOOP_NOMEM;
  st->res->outcome = SLOOP_CONFLICTED;
  return SLOOP_OK;
}

/* Registers: lww, fww, manual and custom. `value` NULL means unset. */
static int apply_register(cJSON *fs, sloop_policy p, const char *field, const cJSON *value, field_step *st) {
  const cJSON *cur = sloop_member(fs, "v");
  const char *t = state_hlc(fs, "t");
  const cJSON *s = sloop_member(fs, "s");
  char writer[100];
  op_writer(st->op, writer, sizeof(writer));
  const char *last_writer = state_hlc(fs, "w");
  int changed_since_base = cJSON_IsNumber(s) && s->valuedouble > (double)st->op->base &&
                           !(last_writer && strcmp(last_writer, writer) == 0);
  switch (p) {
    case SLOOP_POLICY_LWW: {
      int order = t ? strcmp(st->op->hlc_str, t) : 1;
      /* Two writes with one timestamp only come from a broken or hostile client; the larger
      ** value wins so that replicas still agree whatever the arrival order. */
      if (order == 0 && !sloop_json_equal(cur, value)) order = value_order(value, cur);
      if (order <= 0) return SLOOP_OK; /* an older write loses */
      return write_register(fs, value, st, p);
    }
    case SLOOP_POLICY_FWW:
      if (sloop_json_equal(cur, value)) return SLOOP_OK;
      if (cur) {
        st->res->outcome = SLOOP_REJECTED;
        st->res->code = SLOOP_IMMUTABLE;
        snprintf(st->res->message, sizeof(st->res->message),
                 "field '%.64s' is immutable once set", field);
        return SLOOP_OK;
      }
      return write_register(fs, value, st, p);
    case SLOOP_POLICY_MANUAL:
      if (changed_since_base && !sloop_json_equal(cur, value)) return add_conflict(st, field, cur, value);
      return write_register(fs, value, st, p);
    case SLOOP_POLICY_CUSTOM: {
      if (!changed_since_base || sloop_json_equal(cur, value)) return write_register(fs, value, st, p);
      if (!st->ctx->custom) {
        st->res->outcome = SLOOP_REJECTED;
        st->res->code = SLOOP_MERGE;
        snprintf(st->res->message, sizeof(st->res->message),
                 "field '%.64s' needs a custom merge function and none is registered", field);
        return SLOOP_OK;
      }
      char prev_t[SLOOP_HLC_STRLEN] = "";
      if (t) snprintf(prev_t, sizeof(prev_t), "%s", t); /* write_register frees the old "t" */
      cJSON *merged = NULL;
      int rc = st->ctx->custom(st->ctx->custom_ctx, st->op->coll, field, cur, value, &merged);
      if (rc) {
        st->res->outcome = SLOOP_REJECTED;
        st->res->code = SLOOP_MERGE;
        snprintf(st->res->message, sizeof(st->res->message), "custom merge of '%.64s' failed", field);
        return SLOOP_OK;
      }
      rc = write_register(fs, merged, st, p);
      /* Keep the newer timestamp: the merged value supersedes both inputs. */
      if (!rc && strcmp(prev_t, st->op->hlc_str) > 0) rc = set_string(fs, "t", prev_t);
      cJSON_Delete(merged);
      return rc;
    }
    default:
      return SLOOP_INVALID;
  }
}

static int apply_counter(cJSON *fs, const cJSON *fop) {
  const cJSON *inc = sloop_member(fop, "inc");
  const cJSON *n = sloop_member(fs, "n");
  return set_number(fs, "n", (cJSON_IsNumber(n) ? n->valuedouble : 0) + inc->valuedouble);
}

/* Add-wins set: an add inserts its tag unless that tag was removed already; a remove deletes
** the tags its author observed and remembers them, so a late-arriving add of a removed tag
** stays removed while a concurrent add (a tag the remover never saw) survives. */
static int apply_set(cJSON *fs, const cJSON *fop) {
  cJSON *adds = child_object(fs, "a");
  cJSON *removed = sloop_member(fs, "r");
  if (!removed && !(removed = cJSON_AddArrayToObject(fs, "r"))) return SLOOP_NOMEM;
  if (!adds) return SLOOP_NOMEM;
  const cJSON *rem = sloop_member(fop, "rem");
  const cJSON *tag;
  cJSON_ArrayForEach(tag, rem) {
    if (!array_has_string(removed, tag->valuestring)) {
      cJSON *copy = cJSON_CreateString(tag->valuestring);
      if (!copy || !cJSON_AddItemToArray(removed, copy)) return cJSON_Delete(copy), SLOOP_NOMEM;
    }
    cJSON *elem = adds->child;
    while (elem) {
      cJSON *next = elem->next;
      for (int i = cJSON_GetArraySize(elem) - 1; i >= 0; i--) {
        cJSON *t = cJSON_GetArrayItem(elem, i);
        if (cJSON_IsString(t) && strcmp(t->valuestring, tag->valuestring) == 0) cJSON_DeleteItemFromArray(elem, i);
      }
      if (cJSON_GetArraySize(elem) == 0) cJSON_Delete(cJSON_DetachItemViaPointer(adds, elem));
      elem = next;
    }
  }
  const cJSON *add = sloop_member(fop, "add");
  const cJSON *e;
  cJSON_ArrayForEach(e, add) {
    if (array_has_string(removed, e->valuestring)) continue;
    cJSON *tags = sloop_member(adds, e->string);
    if (!tags && !(tags = cJSON_AddArrayToObject(adds, e->string))) return SLOOP_NOMEM;
    if (array_has_string(tags, e->valuestring)) continue;
    cJSON *copy = cJSON_CreateString(e->valuestring);
    if (!copy || !cJSON_AddItemToArray(tags, copy)) return cJSON_Delete(copy), SLOOP_NOMEM;
  }
  return SLOOP_OK;
}

static int apply_field(cJSON *fields, const cJSON *fop, field_step *st) {
  const char *field = fop->string;
  sloop_policy p = sloop_field_policy(st->cs, field);
  cJSON *fs = child_object(fields, field);
  if (!fs) return SLOOP_NOMEM;
  if (p == SLOOP_POLICY_COUNTER) return apply_counter(fs, fop);
  if (p == SLOOP_POLICY_SET) return apply_set(fs, fop);
  if (p == SLOOP_POLICY_TEXT || p == SLOOP_POLICY_LIST) {
    int refused = 0;
    int rc = sloop_seq_field_apply(fs, p, fop, st->op->hlc_str, (double)st->ctx->version, &refused, st->res->message);
    if (!rc && refused) {
      st->res->outcome = SLOOP_REJECTED;
      st->res->code = refused;
    }
    return rc;
  }
  const cJSON *set = sloop_member(fop, "set");
  return apply_register(fs, p, field, set, st);
}

/* A put lists every field of the new document: registers it does not list are unset (by the
** same last-writer-wins rule), counters and sets are left to their own operations. */
static int unset_unlisted(cJSON *fields, field_step *st) {
  cJSON *fs;
  cJSON_ArrayForEach(fs, fields) {
    if (sloop_member(st->op->payload, fs->string)) continue;
    sloop_policy p = sloop_field_policy(st->cs, fs->string);
    if (p == SLOOP_POLICY_LWW || p == SLOOP_POLICY_MANUAL || p == SLOOP_POLICY_CUSTOM) {
      int rc = apply_register(fs, p, fs->string, NULL, st);
      if (rc) return rc;
    }
  }
  return SLOOP_OK;
}

static void reject(sloop_apply_result *res, int code, const char *message) {
  res->outcome = SLOOP_REJECTED;
  res->code = code;
  snprintf(res->message, sizeof(res->message), "%s", message);
}

/* Applies a put or patch to `work` (a copy of the state). */
static int apply_write(cJSON *work, field_step *st) {
  const sloop_op *op = st->op;
  const char *d = state_hlc(work, "d");
  if (op->type == SLOOP_OP_PATCH) {
    if (!state_hlc(work, "p") && !d) return reject(st->res, SLOOP_NOTFOUND, "record does not exist"), SLOOP_OK;
    if (!sloop_state_visible(work)) return reject(st->res, SLOOP_DELETED, "record was deleted"), SLOOP_OK;
  } else {
    if (d && strcmp(op->hlc_str, d) <= 0)
      return reject(st->res, SLOOP_DELETED, "record was deleted after this write was made"), SLOOP_OK;
    const char *p = state_hlc(work, "p");
    if (!p || strcmp(op->hlc_str, p) > 0) {
      int rc = set_string(work, "p", op->hlc_str);
      if (rc) return rc;
    }
  }
  cJSON *fields = child_object(work, "f");
  if (!fields) return SLOOP_NOMEM;
  const cJSON *fop;
  cJSON_ArrayForEach(fop, op->payload) {
    int rc = apply_field(fields, fop, st);
    if (rc) return rc;
    if (st->res->outcome == SLOOP_REJECTED) return SLOOP_OK;
  }
  if (op->type == SLOOP_OP_PUT) return unset_unlisted(fields, st);
  return SLOOP_OK;
}

static int apply_delete(cJSON *work, const sloop_op *op) {
  const char *d = state_hlc(work, "d");
  if (!d || strcmp(op->hlc_str, d) > 0) {
    int rc = set_string(work, "d", op->hlc_str);
    if (rc) return rc;
  }
  if (!sloop_state_visible(work)) cJSON_DeleteItemFromObjectCaseSensitive(work, "f");
  return SLOOP_OK;
}

/* Whether applying `op` to `state` could be refused after its first change to it: only a
** first-writer-wins field already set to another value, or a custom merge (whose function may
** refuse), can refuse a write midway (apply_write's other refusals come before any change).
** A first-writer-wins field named twice (the first write would refuse the second), more than
** a few of them (the search for a second name stays linear), or a put that would unset a
** custom field is answered 1 without looking closer: the check reads each field as the state
** holds it before the operation. */
#define FWW_CHECKED_MAX 8
static int may_refuse_midway(const sloop_coll_schema *cs, const cJSON *state, const sloop_op *op) {
  if (op->type == SLOOP_OP_DELETE) return 0;
  const cJSON *fields = sloop_member(state, "f");
  const cJSON *fop;
  int fww = 0;
  cJSON_ArrayForEach(fop, op->payload) {
    sloop_policy p = sloop_field_policy(cs, fop->string);
    /* A sequence edit naming an unknown element is refused after earlier fields changed. */
    if (p == SLOOP_POLICY_CUSTOM || p == SLOOP_POLICY_TEXT || p == SLOOP_POLICY_LIST) return 1;
    if (p != SLOOP_POLICY_FWW) continue;
    if (++fww > FWW_CHECKED_MAX) return 1;
    for (const cJSON *other = op->payload->child; other; other = other->next)
      if (other != fop && strcmp(other->string, fop->string) == 0) return 1;
    const cJSON *cur = sloop_member(sloop_member(fields, fop->string), "v");
    if (cur && !sloop_json_equal(cur, sloop_member(fop, "set"))) return 1;
  }
  if (op->type == SLOOP_OP_PUT) {
    const cJSON *fs;
    cJSON_ArrayForEach(fs, fields) {
      if (sloop_field_policy(cs, fs->string) == SLOOP_POLICY_CUSTOM && !sloop_member(op->payload, fs->string)) return 1;
    }
  }
  return 0;
}

int sloop_apply(const sloop_coll_schema *cs, cJSON *state, const sloop_op *op,
                const sloop_apply_ctx *ctx, sloop_apply_result *res) {
  memset(res, 0, sizeof(*res));
  if (op->type == SLOOP_OP_RESOLVE) return SLOOP_INVALID; /* resolved by the store, see server.c */
  field_step st = {cs, op, ctx, res};
  /* An operation nothing can refuse once it has begun changing the state needs no copy to
  ** leave the state untouched: its refusals all come before the first change. Copying the
  ** whole state for every operation was a fifth of a server's batch of 1,000 operations on
  ** 100 notes (docs/DESIGN.md), and grows with the state (a set's add tags). */
  if (ctx->scratch || !may_refuse_midway(cs, state, op)) {
    int rc = op->type == SLOOP_OP_DELETE ? apply_delete(state, op) : apply_write(state, &st);
    if (rc || res->outcome == SLOOP_REJECTED) {
      cJSON_Delete(res->conflicts);
      res->conflicts = NULL;
    }
    return rc;
  }
  cJSON *work = cJSON_Duplicate(state, 1);
  if (!work) return SLOOP_NOMEM;
  int rc = op->type == SLOOP_OP_DELETE ? apply_delete(work, op) : apply_write(work, &st);
  if (rc || res->outcome == SLOOP_REJECTED) {
    cJSON_Delete(work);
    cJSON_Delete(res->conflicts);
    res->conflicts = NULL;
    return rc;
  }
  /* Swap the children so the caller's pointer stays valid. */
  cJSON *tmp = state->child;
  state->child = work->child;
  work->child = tmp;
  cJSON_Delete(work);
  return SLOOP_OK;
}
