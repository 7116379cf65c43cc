/*
** test_json_parse.c -- sloop_json_parse (json_parse.c) builds cJSON's tree for cJSON's input
** and refuses what cJSON refuses: edge cases written out, then random documents and random
** damage to them (json_parse_same.h compares node for node). tests/fuzz/fuzz_json_parse.c does
** the same on any bytes.
*/
#include <stdio.h>
#include <stdlib.h>

#include "json.h"
#include "json_parse_same.h"
#include "testutil.h"

static int agree(const char *text, size_t len) {
  char *copy = malloc(len + 1);
  int same = json_parsers_agree(text, len, copy);
  free(copy);
  return same;
}

static void edge_cases_parse_as_cjson_parses_them(void **unused) {
  (void)unused;
  static const char *const cases[] = {
      "", " ", "\t\n ", "null", "nul", "nullx", "true", "tru", "false", "falsey", "0", "-0", "-", "--1", "+1", ".5",
      "01", "1.", "1.5e", "1e+", "1e-5", "1E400", "-1e400", "123456789012345", "1234567890123456",
      "9007199254740993", "2147483647", "2147483648", "-2147483648", "-2147483649", "0.1e1", "1e5x", "12-3",
      "\"\"", "\"abc", "\"a\\\"b\"", "\"a\\\\\"", "\"\\b\\f\\n\\r\\t\\/\"", "\"\\x\"", "\"\\u00e9\"", "\"\\u12zz\"",
      "\"\\ud83e\\udd80\"", "\"\\ud83e\"", "\"\\udd80\"", "\"\\ud83ex\"", "\"\\ud83e\\u0041\"", "\"\\u\"", "\"\\u12\"",
      "\"\\", "\"a\x01\x7f\xff\"", "[]", "[ ]", "[", "[1", "[1,", "[1,]", "[,1]", "[1 2]", "[1,2]x", "{}", "{ }", "{",
      "{\"a\"", "{\"a\":", "{\"a\":1", "{\"a\":1,}", "{\"a\" : 1 , \"b\":[true,{}]}", "{a:1}", "{\"a\"1}",
      "{\"a\":1,\"a\":2}", "{,}", "\xef\xbb\xbf{}", "\xef\xbb\xbf", "\xef\xbb\xbf\x31", " \xef\xbb\xbf{}", "1 2",
      "{\"k\":\"v\"} trailing", "[\"\\u0000x\"]", "[1,\x01\x02 2]",
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
    if (!agree(cases[i], strlen(cases[i]))) fail_msg("case %zu: %s", i, cases[i]);
  /* NUL bytes inside a length-delimited text: white space to cJSON, data inside strings. */
  static const char nul_space[] = "[1,\0 2]", nul_string[] = "[\"a\0b\"]";
  assert_true(agree(nul_space, sizeof(nul_space) - 1));
  assert_true(agree(nul_string, sizeof(nul_string) - 1));
  /* Nesting at and past the limit. */
  size_t deep = CJSON_NESTING_LIMIT + 1;
  char *text = malloc(2 * deep + 1);
  for (size_t n = CJSON_NESTING_LIMIT - 1; n <= deep; n++) {
    memset(text, '[', n);
    memset(text + n, ']', n);
    if (!agree(text, 2 * n)) fail_msg("nesting %zu", n);
  }
  free(text);
}

/* A random JSON document (every kind of value and escape) into buf; returns its length. */
static size_t random_json(test_env *e, char *buf, size_t cap, int depth) {
  static const char *const atoms[] = {"null", "true", "false", "0", "-0", "17", "-3.25", "1e3", "0.000001",
                                      "123456789012345678", "\"\"", "\"plain\"", "\"esc \\\" \\\\ \\n \\u00e9 \\ud83e\\udd80\"",
                                      "\"\\u0041\\u00zz\"", "\"caf\xc3\xa9\""};
  int kind = depth > 4 ? 0 : test_pick(e, 4);
  size_t n = 0;
  if (kind == 0 || cap < 64) {
    const char *a = atoms[test_pick(e, (int)(sizeof(atoms) / sizeof(*atoms)))];
    n = strlen(a);
    if (n >= cap) return 0;
    memcpy(buf, a, n);
    return n;
  }
  int object = kind == 1;
  buf[n++] = object ? '{' : '[';
  for (int k = test_pick(e, 5); k > 0 && n + 40 < cap; k--) {
    if (n > 1) buf[n++] = ',';
    if (test_pick(e, 3) == 0) buf[n++] = ' ';
    if (object) n += (size_t)snprintf(buf + n, cap - n, "\"k%d\":", test_pick(e, 4));
    n += random_json(e, buf + n, cap - n - 2, depth + 1);
  }
  buf[n++] = object ? '}' : ']';
  return n;
}

static void random_documents_and_damage_parse_alike(void **unused) {
  (void)unused;
  test_env e = {0, 11};
  char buf[4096];
  int accepted = 0, refused = 0;
  long spans = 0;
  for (int round = 0; round < 20000; round++) {
    size_t n = random_json(&e, buf, sizeof(buf) - 1, 0);
    /* Damage: a byte changed, a cut, or nothing. */
    int damage = test_pick(&e, 3);
    if (damage == 0 && n) buf[test_pick(&e, (int)n)] = "{}[],:\"\\ 0-e.u"[test_pick(&e, 15)];
    if (damage == 1 && n) n = (size_t)test_pick(&e, (int)n + 1);
    if (!agree(buf, n)) fail_msg("round %d: %.*s", round, (int)n, buf);
    long exact = json_spans_exact(buf, n);
    if (exact < 0) fail_msg("round %d, spans: %.*s", round, (int)n, buf);
    spans += exact;
    cJSON *t = sloop_json_parse(buf, n);
    t ? accepted++ : refused++;
    cJSON_Delete(t);
  }
  assert_true(accepted > 5000 && refused > 2000);
  assert_true(spans > 1000);
}

/* The text of a member's object is kept only when printing its tree gives it back. */
static void spans_only_where_print_gives_the_text(void **unused) {
  (void)unused;
  static const struct {
    const char *text;
    int kept;
  } cases[] = {
      {"{\"doc\":{\"a\":1,\"b\":[true,null,\"x\\\"y\\n\"],\"c\":{\"d\":-12}}}", 1},
      {"{\"doc\":{}}", 1},
      {"{\"doc\":{\"a\":-0,\"b\":\"caf\xc3\xa9\"}}", 1},
      {"{\"doc\":{\"a\": 1}}", 0},         /* white space */
      {"{\"doc\":{\"a\":1 }}", 0},
      {"{\"doc\":{\"a\":1.5}}", 0},        /* not a whole number */
      {"{\"doc\":{\"a\":1e3}}", 0},
      {"{\"doc\":{\"a\":007}}", 0},        /* a leading zero */
      {"{\"doc\":{\"a\":1234567890123456}}", 0},
      {"{\"doc\":{\"a\":\"\\u0041\"}}", 0}, /* an escape print does not write */
      {"{\"doc\":{\"a\":\"\\/\"}}", 0},
      {"{\"doc\":{\"a\":\"x\x01y\"}}", 0},  /* a raw control character */
      {"{\"doc\":[1]}", 0},                  /* not an object */
      {"{\"other\":{\"a\":1}}", 0},          /* another member */
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    sloop_json_spans spans = {.member = "doc"};
    cJSON *tree = sloop_json_parse_spans(cases[i].text, strlen(cases[i].text), &spans);
    assert_non_null(tree);
    size_t len = 0;
    const char *text = sloop_json_span_of(&spans, sloop_member(tree, "doc"), &len);
    if (!text != !cases[i].kept) fail_msg("case %zu: %s", i, cases[i].text);
    if (text) {
      char *printed = sloop_print(sloop_member(tree, "doc"), NULL);
      assert_int_equal(strlen(printed), len);
      assert_memory_equal(printed, text, len);
      free(printed);
    }
    cJSON_Delete(tree);
    sloop_json_spans_free(&spans);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(edge_cases_parse_as_cjson_parses_them),
      cmocka_unit_test(random_documents_and_damage_parse_alike),
      cmocka_unit_test(spans_only_where_print_gives_the_text),
  };
  return cmocka_run_group_tests_name("json parse", tests, NULL, NULL);
}
