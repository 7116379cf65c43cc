/*
** random_state.h -- random merge states for the codec tests (test_state_codec.c, test_wire.c):
** up to 12 operations of every policy, of random writers and clocks, applied by the merge
** itself under kCodecSchema, from a seed.
*/
#ifndef SLOOP_RANDOM_STATE_H
#define SLOOP_RANDOM_STATE_H

#include "internal.h"
#include "op_json.h"
#include "world.h"

static const char kCodecSchema[] =
    "{\"collections\": {\"notes\": {\"fields\": {\"a\": \"lww\", \"b\": \"fww\", \"m\": \"manual\","
    " \"c\": \"custom\", \"n\": \"counter\", \"s\": \"set\"}}}}";

/* A custom merge that keeps the larger printed value, so every op is applied. */
static int larger(void *ctx, const char *coll, const char *field, const cJSON *cur, const cJSON *inc, cJSON **out) {
  (void)ctx, (void)coll, (void)field;
  char *a = cur ? cJSON_PrintUnformatted(cur) : NULL, *b = inc ? cJSON_PrintUnformatted(inc) : NULL;
  const cJSON *win = !a ? inc : !b ? cur : strcmp(a, b) >= 0 ? cur : inc;
  *out = win ? cJSON_Duplicate(win, 1) : NULL;
  free(a);
  free(b);
  return SLOOP_OK;
}

/* Writers: device ids as the core makes them (interned), and ids of any other shape. */
static const char *const kWriters[] = {"00a1b2c3d4e5f607", "ffffffffffffffff", "0000000000000000",
                                       "dev-x", "00A1B2C3D4E5F607", "0123456789abcdef"};

static cJSON *random_value(test_env *e) {
  switch (test_pick(e, 7)) {
    case 0: return cJSON_CreateNumber(test_pick(e, 1000) - 500);
    case 1: return cJSON_CreateNumber((test_pick(e, 2000) - 1000) / 7.0);
    case 2: return cJSON_CreateBool(test_pick(e, 2));
    case 3: return cJSON_CreateNull();
    case 4: return cJSON_Parse("{\"x\": [1, \"two\", {\"y\": null}], \"z\": \"\\u00e9\\n\"}");
    case 5: return cJSON_CreateString("");
    default: {
      char v[24];
      snprintf(v, sizeof(v), "v%d", test_pick(e, 50));
      return cJSON_CreateString(v);
    }
  }
}

static cJSON *random_payload(test_env *e, const char *op_id, cJSON *seen_tags) {
  static const char *const fields[] = {"a", "b", "m", "c", "n", "s", "x"};
  cJSON *p = cJSON_CreateObject();
  for (int k = 1 + test_pick(e, 4); k > 0; k--) {
    const char *f = fields[test_pick(e, 7)];
    if (cJSON_GetObjectItem(p, f)) continue;
    cJSON *fop = cJSON_AddObjectToObject(p, f);
    if (strcmp(f, "n") == 0) {
      double inc = test_pick(e, 4) == 0 ? (test_pick(e, 100) - 50) / 4.0 : test_pick(e, 21) - 10;
      if (test_pick(e, 20) == 0) inc = 4.5e15;
      cJSON_AddNumberToObject(fop, "inc", inc);
    } else if (strcmp(f, "s") == 0) {
      cJSON *add = cJSON_AddObjectToObject(fop, "add");
      cJSON *rem = cJSON_AddArrayToObject(fop, "rem");
      char el[16], tag[96];
      int k = test_pick(e, 6);
      if (test_pick(e, 8)) snprintf(el, sizeof(el), "e%d", k);
      else el[0] = 0; /* the empty element is a valid one */
      /* Tags as local writes make them, and others (a different client's, or odd ones). */
      if (test_pick(e, 3)) snprintf(tag, sizeof(tag), "%s#%d", op_id, test_pick(e, 3));
      else snprintf(tag, sizeof(tag), test_pick(e, 2) ? "t%d" : "00a1b2c3d4e5f607:0%d#1", test_pick(e, 1000));
      cJSON_AddStringToObject(add, el, tag);
      cJSON_AddItemToArray(seen_tags, cJSON_CreateString(tag));
      int n = cJSON_GetArraySize(seen_tags);
      for (int r = test_pick(e, 3); r > 0 && n > 0; r--)
        cJSON_AddItemToArray(rem, cJSON_CreateString(cJSON_GetArrayItem(seen_tags, test_pick(e, n))->valuestring));
    } else if (test_pick(e, 6) == 0) {
      cJSON_AddTrueToObject(fop, "unset");
    } else {
      cJSON_AddItemToObject(fop, "set", random_value(e));
    }
  }
  return p;
}

/* A state built by applying up to 12 random operations of random writers and clocks. */
static cJSON *random_state(test_env *e, const sloop_schema *schema) {
  const sloop_coll_schema *cs = sloop_schema_coll(schema, "notes");
  cJSON *state = cJSON_CreateObject(), *seen = cJSON_CreateArray();
  sloop_apply_ctx ctx = {0, larger, NULL, 0};
  int n = test_pick(e, 13);
  for (int i = 0; i < n; i++) {
    char id[64];
    snprintf(id, sizeof(id), "%s:%d", kWriters[test_pick(e, 6)], 1 + test_pick(e, 100000));
    sloop_hlc hlc = {1700000000000LL + test_pick(e, 5), (uint32_t)test_pick(e, 3),
                     (uint64_t)test_pick(e, 4) * 0x1111111111111111ull};
    static const char *const types[] = {"put", "put", "patch", "patch", "patch", "delete"};
    const char *type = types[test_pick(e, 6)];
    int base = test_pick(e, 5);
    cJSON *op = test_op_json(id, type, hlc, base, strcmp(type, "delete") ? random_payload(e, id, seen) : cJSON_CreateObject());
    sloop_op parsed;
    char msg[200];
    if (sloop_op_parse(schema, op, &parsed, msg) == SLOOP_OK) {
      ctx.version = test_pick(e, 4) ? i + 1 : 0;
      sloop_apply_result res;
      assert_int_equal(sloop_apply(cs, state, &parsed, &ctx, &res), SLOOP_OK);
      cJSON_Delete(res.conflicts);
    }
    cJSON_Delete(op);
  }
  cJSON_Delete(seen);
  return state;
}

static void fail_state(uint64_t seed, const char *what, const cJSON *state) {
  char *s = cJSON_PrintUnformatted(state);
  fail_msg("seed %llu: %s: %s", (unsigned long long)seed, what, s);
}

#endif /* SLOOP_RANDOM_STATE_H */
