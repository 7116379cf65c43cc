/*
** test_constants.c -- sloop_constants(), the JSON js/core.js reads instead of copied tables:
** it parses, and each entry agrees with the function C callers use for the same thing.
*/
#include <stdlib.h>

#include "cJSON.h"
#include "hlc.h"
#include "schema.h"
#include "sloop_vfs.h"
#include "testutil.h"

static void constants_parse_and_agree_with_the_core(void **state) {
  (void)state;
  cJSON *c = cJSON_Parse(sloop_constants());
  assert_non_null(c);
  const cJSON *codes = cJSON_GetObjectItemCaseSensitive(c, "codes");
  assert_true(cJSON_IsObject(codes));
  int n = 0;
  for (const cJSON *e = codes->child; e; e = e->next, n++) {
    assert_true(cJSON_IsNumber(e));
    /* Every identifier is the one sloop_errcode gives its number. */
    assert_string_equal(sloop_errcode(e->valueint), e->string);
  }
  assert_int_equal(n, 1 + SLOOP_DEVICE + 1); /* "unknown", then 0..SLOOP_DEVICE */
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(codes, "notfound")->valueint, SLOOP_NOTFOUND);

  const cJSON *states = cJSON_GetObjectItemCaseSensitive(c, "states");
  n = 0;
  for (const cJSON *e = states->child; e; e = e->next, n++) {
    if (e->valueint < 0) {
      assert_string_equal(e->string, "removed");
      continue;
    }
    assert_string_equal(sloop_state_name(e->valueint), e->string);
  }
  assert_int_equal(n, 1 + SLOOP_STATE_MODIFIED + 1);

  const cJSON *limits = cJSON_GetObjectItemCaseSensitive(c, "limits");
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(limits, "name")->valueint, SLOOP_NAME_MAX);
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(limits, "id")->valueint, SLOOP_ID_MAX);
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(limits, "clockBytes")->valueint, SLOOP_HLC_STRLEN);
  assert_int_equal(cJSON_GetObjectItemCaseSensitive(limits, "recordBytes")->valueint, SLOOP_VFS_RECORD_SIZE);
  cJSON_Delete(c);
}

/* The limits are the ones the core enforces: an id of the longest length passes, one byte
** more is refused. */
static void the_id_limit_is_the_enforced_one(void **state) {
  (void)state;
  cJSON *c = cJSON_Parse(sloop_constants());
  int max = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "limits"), "id")->valueint;
  cJSON_Delete(c);
  sloop_db *db = NULL;
  assert_int_equal(sloop_open(":memory:", NULL, SLOOP_ROLE_CLIENT, NULL, &db), SLOOP_OK);
  char id[512];
  memset(id, 'a', sizeof id);
  assert_ok(db, sloop_put(db, S("notes"), id, (size_t)max, S("{}")));
  assert_int_not_equal(sloop_put(db, S("notes"), id, (size_t)max + 1, S("{}")), SLOOP_OK);
  char buf[64];
  assert_ok(db, sloop_clock_now(db, buf));
  assert_int_equal(strlen(buf) + 1, 35);
  sloop_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(constants_parse_and_agree_with_the_core),
      cmocka_unit_test(the_id_limit_is_the_enforced_one),
  };
  return cmocka_run_group_tests_name("constants", tests, NULL, NULL);
}
