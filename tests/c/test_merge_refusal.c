/*
** test_merge_refusal.c -- sloop_apply without scratch is all or nothing: an operation refused
** after it began changing the state (a first-writer-wins field set to another value, a custom
** merge that refuses, a field named twice) leaves the state as it was, and one that is not
** refused leaves exactly what applying it to a copy would (merge.c copies the state only when
** an operation could be refused midway).
*/
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "op_json.h"
#include "testutil.h"

static const char kSchema[] =
    "{\"collections\": {\"notes\": {\"fields\": {\"a\": \"lww\", \"f\": \"fww\", \"m\": \"manual\","
    " \"c\": \"custom\", \"n\": \"counter\", \"s\": \"set\"}}}}";

/* Refuses to merge "bad"; otherwise the incoming value wins. */
static int merge_refusing_bad(void *ctx, const char *coll, const char *field, const cJSON *current,
                              const cJSON *incoming, cJSON **out) {
  (void)ctx, (void)coll, (void)field, (void)current;
  if (cJSON_IsString(incoming) && strcmp(incoming->valuestring, "bad") == 0) return SLOOP_MERGE;
  *out = incoming ? cJSON_Duplicate(incoming, 1) : NULL;
  return SLOOP_OK;
}

static char *print(const cJSON *j) { return cJSON_PrintUnformatted(j); }

/* Applies `op_json` to `state` without scratch; checks the property and returns the outcome. */
static int apply_checked(const sloop_schema *schema, cJSON *state, const cJSON *op_json, uint64_t seed) {
  const sloop_coll_schema *cs = sloop_schema_coll(schema, "notes");
  sloop_op op;
  char msg[200];
  if (sloop_op_parse(schema, op_json, &op, msg)) return -1; /* refused before any merge */
  cJSON *before = cJSON_Duplicate(state, 1);
  char *before_text = print(before);
  sloop_apply_ctx ctx = {7, merge_refusing_bad, NULL, 0};
  sloop_apply_result res;
  assert_int_equal(sloop_apply(cs, state, &op, &ctx, &res), SLOOP_OK);
  char *after = print(state);
  if (res.outcome == SLOOP_REJECTED) {
    if (strcmp(before_text, after) != 0)
      fail_msg("seed %llu: a refused operation changed the state\n before %s\n after  %s", (unsigned long long)seed,
               before_text, after);
  } else {
    /* The reference: the same operation applied in place to a copy (scratch). */
    sloop_apply_ctx scratch = ctx;
    scratch.scratch = 1;
    sloop_apply_result ref;
    assert_int_equal(sloop_apply(cs, before, &op, &scratch, &ref), SLOOP_OK);
    assert_int_equal(ref.outcome, res.outcome);
    char *expected = print(before);
    if (strcmp(expected, after) != 0)
      fail_msg("seed %llu: applied in place\n %s\nthrough a copy\n %s", (unsigned long long)seed, after, expected);
    free(expected);
    cJSON_Delete(ref.conflicts);
  }
  cJSON_Delete(res.conflicts);
  free(after);
  free(before_text);
  cJSON_Delete(before);
  return (int)res.outcome;
}

static cJSON *register_op(const char *value) {
  cJSON *fop = cJSON_CreateObject();
  if (value) cJSON_AddStringToObject(fop, "set", value);
  else cJSON_AddTrueToObject(fop, "unset");
  return fop;
}

/* Writes `fields` (name, value pairs; a NULL name ends them) as one operation of `type`, at
** `ms`, through apply_checked; returns the outcome (-1: refused by the parse). */
static int write_fields(const sloop_schema *schema, cJSON *state, const char *type, const char *id, int64_t ms,
                        const char *const *fields) {
  cJSON *payload = cJSON_CreateObject();
  for (; fields[0]; fields += 2) cJSON_AddItemToObject(payload, fields[0], register_op(fields[1]));
  cJSON *op = test_op_json(id, type, (sloop_hlc){ms, 0, 2}, 0, payload);
  int outcome = apply_checked(schema, state, op, 0);
  cJSON_Delete(op);
  return outcome;
}

static void refusals_midway_leave_the_state_as_it_was(void **unused) {
  (void)unused;
  sloop_schema schema;
  char msg[200];
  assert_int_equal(sloop_schema_parse(kSchema, strlen(kSchema), &schema, msg), SLOOP_OK);
  cJSON *state = cJSON_CreateObject();
  assert_int_equal(write_fields(&schema, state, "put", "d:1", 1000, (const char *[]){"f", "first", "c", "one", NULL}),
                   SLOOP_APPLIED);
  /* "a" changes first, then "f" refuses: "a" must not stay changed. */
  assert_int_equal(write_fields(&schema, state, "patch", "e:1", 2000, (const char *[]){"a", "changed", "f", "second", NULL}),
                   SLOOP_REJECTED);
  assert_null(sloop_member(sloop_member(state, "f"), "a"));
  /* A concurrent write to the custom field (base 0, written at version 7) that the merge refuses. */
  assert_int_equal(write_fields(&schema, state, "patch", "e:2", 2001, (const char *[]){"a", "changed", "c", "bad", NULL}),
                   SLOOP_REJECTED);
  assert_null(sloop_member(sloop_member(state, "f"), "a"));
  /* The same field twice: the first write would stick if the check read only the state. */
  int outcome = write_fields(&schema, state, "patch", "e:3", 2002,
                             (const char *[]){"a", "changed", "f", "first", "f", "third", NULL});
  assert_true(outcome == -1 || outcome == SLOOP_REJECTED);
  assert_null(sloop_member(sloop_member(state, "f"), "a"));
  /* Nothing to refuse: applied, in place. */
  assert_int_equal(write_fields(&schema, state, "patch", "e:4", 2003, (const char *[]){"a", "changed", "f", "first", NULL}),
                   SLOOP_APPLIED);
  assert_string_equal(sloop_member(sloop_member(sloop_member(state, "f"), "a"), "v")->valuestring, "changed");
  cJSON_Delete(state);
  sloop_schema_clear(&schema);
}

static const char *const kFields[] = {"a", "f", "m", "c", "n", "s"};
static const char *const kValues[] = {"x", "y", "bad", "z"};

/* A random payload over every policy; sometimes a field is named twice. */
static cJSON *random_payload(test_env *e, int index) {
  cJSON *p = cJSON_CreateObject();
  for (int k = 1 + test_pick(e, 4); k > 0; k--) {
    const char *f = kFields[test_pick(e, 6)];
    if (cJSON_GetObjectItemCaseSensitive(p, f) && test_pick(e, 4)) continue;
    cJSON *fop = cJSON_CreateObject();
    if (!strcmp(f, "n")) {
      cJSON_AddNumberToObject(fop, "inc", test_pick(e, 5) - 2);
    } else if (!strcmp(f, "s")) {
      char tag[32];
      snprintf(tag, sizeof(tag), "t%d", index);
      cJSON_AddStringToObject(cJSON_AddObjectToObject(fop, "add"), kValues[test_pick(e, 4)], tag);
      cJSON *rem = cJSON_AddArrayToObject(fop, "rem");
      if (index > 1 && test_pick(e, 3) == 0) {
        snprintf(tag, sizeof(tag), "t%d", test_pick(e, index));
        cJSON_AddItemToArray(rem, cJSON_CreateString(tag));
      }
    } else if (test_pick(e, 8) == 0) {
      cJSON_AddTrueToObject(fop, "unset");
    } else {
      cJSON_AddStringToObject(fop, "set", kValues[test_pick(e, 4)]);
    }
    cJSON_AddItemToObject(p, f, fop);
  }
  return p;
}

static void random_operations_are_all_or_nothing(void **unused) {
  (void)unused;
  sloop_schema schema;
  char msg[200];
  assert_int_equal(sloop_schema_parse(kSchema, strlen(kSchema), &schema, msg), SLOOP_OK);
  int refused = 0, applied = 0;
  for (uint64_t seed = 1; seed <= 400; seed++) {
    test_env e = {0, seed};
    cJSON *state = cJSON_CreateObject();
    for (int i = 1; i <= 25; i++) {
      static const char *const kTypes[] = {"put", "patch", "patch", "patch", "delete"};
      const char *type = i == 1 ? "put" : kTypes[test_pick(&e, 5)];
      char id[32];
      snprintf(id, sizeof(id), "d%d:%d", test_pick(&e, 3), i);
      sloop_hlc h = {1000 + (int64_t)i * 10 + test_pick(&e, 30), 0, (uint64_t)test_pick(&e, 3) + 1};
      cJSON *op = test_op_json(id, type, h, test_pick(&e, 8), strcmp(type, "delete") ? random_payload(&e, i) : NULL);
      int outcome = apply_checked(&schema, state, op, seed);
      if (outcome == SLOOP_REJECTED) refused++;
      else if (outcome >= 0) applied++;
      cJSON_Delete(op);
    }
    cJSON_Delete(state);
  }
  /* The cases must reach both branches, or the property says nothing. */
  assert_true(refused > 200);
  assert_true(applied > 2000);
  sloop_schema_clear(&schema);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(refusals_midway_leave_the_state_as_it_was),
      cmocka_unit_test(random_operations_are_all_or_nothing),
  };
  return cmocka_run_group_tests_name("merge refusals", tests, NULL, NULL);
}
