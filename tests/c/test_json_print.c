/*
** test_json_print.c -- sloop_print (json_print.c) prints exactly what cJSON_PrintUnformatted
** prints. Here the strings, printed in runs between the bytes to escape: every length up to
** 40, with a byte to escape (or a UTF-8 one, or 0x7f, which are not escaped) at every
** position, alone and followed by a second one two bytes on, so that runs start and end at
** every place. tests/fuzz/fuzz_json_print.c compares the two printers on any document.
*/
#include <stdio.h>
#include <stdlib.h>

#include "json.h"
#include "testutil.h"

/* Both printers on a one-string array; fails with the string when they differ. */
static void assert_prints_alike(const char *s) {
  cJSON *a = cJSON_CreateArray();
  assert_non_null(a);
  assert_true(cJSON_AddItemToArray(a, cJSON_CreateString(s)));
  char *want = cJSON_PrintUnformatted(a);
  size_t len = 0;
  char *got = sloop_print(a, &len);
  assert_non_null(want);
  assert_non_null(got);
  if (strcmp(want, got) != 0 || len != strlen(want)) fail_msg("string \"%s\": cJSON %s, sloop %s", s, want, got);
  cJSON_free(want);
  free(got);
  cJSON_Delete(a);
}

static void strings_print_as_cjson_prints_them(void **unused) {
  (void)unused;
  static const char *const specials[] = {"\"", "\\", "\n", "\t", "\x01", "\x1f", "\x7f", "\xc3\xa9", "/", " "};
  const size_t nspecials = sizeof(specials) / sizeof(*specials);
  char s[64];
  int checked = 0;
  for (size_t len = 0; len <= 40; len++) {
    memset(s, 'a' + (int)(len % 26), len);
    s[len] = '\0';
    assert_prints_alike(s);
    for (size_t pos = 0; pos < len; pos++) {
      for (size_t k = 0; k < nspecials; k++) {
        for (size_t second = 0; second <= nspecials; second++) {
          /* The plain string with specials[k] at pos, then specials[second] two bytes on. */
          char t[96];
          size_t n = 0;
          memcpy(t, s, pos);
          n = pos;
          n += (size_t)snprintf(t + n, sizeof(t) - n, "%s", specials[k]);
          if (second < nspecials && pos + 2 < len) {
            memcpy(t + n, s + pos + 1, 1);
            n += 1;
            n += (size_t)snprintf(t + n, sizeof(t) - n, "%s", specials[second]);
            memcpy(t + n, s + pos + 2, len - pos - 2);
            n += len - pos - 2;
          } else {
            memcpy(t + n, s + pos + 1, len - pos - 1);
            n += len - pos - 1;
          }
          t[n] = '\0';
          assert_prints_alike(t);
          checked++;
        }
      }
    }
  }
  assert_true(checked > 80000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(strings_print_as_cjson_prints_them),
  };
  return cmocka_run_group_tests_name("json_print", tests, NULL, NULL);
}
