/*
** test_state_codec.c -- the binary merge state (wasm/src/state_codec.h), on thousands of random
** states from fixed seeds (a failure prints the seed):
**   - decode(encode(s), doc) == s, with the record's document alongside and without it, for
**     states of every policy built by the merge itself, and the bytes re-encode identically;
**   - every truncation, a trailing byte, an unknown version or mask bit, a non-minimal varint,
**     an unknown node and a value missing from the document are refused, and random damage
**     never reads out of bounds (ASan) and never decodes to a state that does not round-trip;
**   - the header alone answers visibility as sloop_state_visible does;
**   - a set tag is split into device, sequence and number exactly as the plain reading of its
**     form says (the last '#', the first ':' before it), on hand-made and random near-misses.
*/
#include "internal.h"
#include "nodes_mem.h"
#include "random_state.h"

/* Decoding must refuse `blob` (len bytes) and leave *out NULL. */
static void assert_refused(const uint8_t *blob, size_t len, const cJSON *doc, sloop_nodes *nodes, const char *what) {
  cJSON *out = (cJSON *)1;
  char msg[200] = "";
  int rc = sloop_state_decode(blob, len, doc, nodes, &out, msg);
  if (rc != SLOOP_CORRUPT || out) fail_msg("%s: decoded (rc %d)", what, rc);
  assert_true(msg[0] != 0);
}

static void states_round_trip_with_and_without_their_document(void **unused) {
  (void)unused;
  sloop_schema schema;
  char msg[200];
  assert_int_equal(sloop_schema_parse(kCodecSchema, strlen(kCodecSchema), &schema, msg), SLOOP_OK);
  const sloop_coll_schema *cs = sloop_schema_coll(&schema, "notes");
  nodes_mem m = {{0}, 0};
  sloop_nodes nodes = nodes_mem_table(&m);
  size_t json_bytes = 0, blob_bytes = 0;
  int with_values_in_doc = 0;
  for (uint64_t seed = 1; seed <= 3000; seed++) {
    test_env e = {0, seed};
    cJSON *state = random_state(&e, &schema);
    /* The document as the store keeps it: printed, then parsed back when read. */
    cJSON *shown = sloop_materialize(cs, state);
    char *doc_text = shown ? cJSON_PrintUnformatted(shown) : NULL;
    cJSON *doc = doc_text ? cJSON_Parse(doc_text) : NULL;
    for (int alongside = 0; alongside < 2; alongside++) {
      const cJSON *d = alongside ? doc : NULL;
      uint8_t *blob = NULL, *again = NULL;
      size_t len = 0, len2 = 0;
      if (sloop_state_encode(state, d, &nodes, &blob, &len, msg)) fail_state(seed, msg, state);
      cJSON *back = NULL;
      if (sloop_state_decode(blob, len, d, &nodes, &back, msg)) fail_state(seed, msg, state);
      if (!cJSON_Compare(back, state, 1)) fail_state(seed, "decodes to another state", state);
      assert_int_equal(sloop_state_encode(back, d, &nodes, &again, &len2, msg), SLOOP_OK);
      if (len2 != len || memcmp(blob, again, len)) fail_state(seed, "re-encodes to other bytes", state);
      assert_int_equal(sloop_state_blob_visible(blob, len, &nodes), sloop_state_visible(state));
      if (alongside) {
        char *json = cJSON_PrintUnformatted(state);
        json_bytes += strlen(json);
        blob_bytes += len;
        free(json);
        /* A blob that takes values from its document cannot be read without it. */
        cJSON *none = NULL;
        if (sloop_state_decode(blob, len, NULL, &nodes, &none, msg) == SLOOP_OK) cJSON_Delete(none);
        else with_values_in_doc++;
        /* Every truncation and any trailing byte are refused. */
        for (size_t cut = 0; cut < len; cut++) assert_refused(blob, cut, d, &nodes, "a truncated blob");
        uint8_t *longer = malloc(len + 1);
        memcpy(longer, blob, len);
        longer[len] = 0;
        assert_refused(longer, len + 1, d, &nodes, "a blob with a trailing byte");
        free(longer);
      }
      cJSON_Delete(back);
      free(blob);
      free(again);
    }
    cJSON_Delete(state);
    cJSON_Delete(shown);
    cJSON_Delete(doc);
    free(doc_text);
  }
  print_message("3000 states: %zu bytes as JSON, %zu in the binary form beside their document\n", json_bytes, blob_bytes);
  /* The random states exercised the document path, and the form is smaller than JSON. */
  assert_true(with_values_in_doc > 100);
  assert_true(blob_bytes * 2 < json_bytes);
  sloop_schema_clear(&schema);
}

static void damaged_blobs_are_refused_or_decode_consistently(void **unused) {
  (void)unused;
  sloop_schema schema;
  char msg[200];
  assert_int_equal(sloop_schema_parse(kCodecSchema, strlen(kCodecSchema), &schema, msg), SLOOP_OK);
  nodes_mem m = {{0}, 0};
  sloop_nodes nodes = nodes_mem_table(&m);
  int refused = 0;
  for (uint64_t seed = 1; seed <= 2000; seed++) {
    test_env e = {0, seed};
    cJSON *state = random_state(&e, &schema);
    uint8_t *blob = NULL;
    size_t len = 0;
    assert_int_equal(sloop_state_encode(state, NULL, &nodes, &blob, &len, msg), SLOOP_OK);
    for (int k = 1 + test_pick(&e, 3); k > 0; k--) blob[test_pick(&e, (int)len)] ^= (uint8_t)(1 + test_pick(&e, 255));
    cJSON *back = NULL;
    if (sloop_state_decode(blob, len, NULL, &nodes, &back, msg) == SLOOP_OK) {
      /* Whatever decodes is a state the codec can write and read back unchanged. */
      uint8_t *again = NULL;
      size_t len2 = 0;
      cJSON *twice = NULL;
      if (sloop_state_encode(back, NULL, &nodes, &again, &len2, msg)) fail_state(seed, msg, back);
      assert_int_equal(sloop_state_decode(again, len2, NULL, &nodes, &twice, msg), SLOOP_OK);
      if (!cJSON_Compare(back, twice, 1)) fail_state(seed, "a damaged blob's state does not round-trip", back);
      free(again);
      cJSON_Delete(twice);
      cJSON_Delete(back);
    } else {
      assert_null(back);
      refused++;
    }
    free(blob);
    cJSON_Delete(state);
  }
  assert_true(refused > 1000);
  sloop_schema_clear(&schema);
}

static void malformed_headers_and_numbers_are_refused(void **unused) {
  (void)unused;
  nodes_mem m = {{0}, 0};
  sloop_nodes nodes = nodes_mem_table(&m);
  uint64_t index;
  nodes_mem_intern(&m, 0x00a1b2c3d4e5f607ull, &index);
  cJSON *state = cJSON_Parse("{\"p\": \"018bcfe72195-0001-00a1b2c3d4e5f607\","
                             " \"f\": {\"t\": {\"v\": \"x\", \"t\": \"018bcfe72195-0001-00a1b2c3d4e5f607\", \"s\": 3}}}");
  cJSON *doc = cJSON_Parse("{\"t\": \"x\"}");
  uint8_t *blob = NULL;
  size_t len = 0;
  char msg[200];
  assert_int_equal(sloop_state_encode(state, doc, &nodes, &blob, &len, msg), SLOOP_OK);
  cJSON *back = NULL;
  assert_int_equal(sloop_state_decode(blob, len, doc, &nodes, &back, msg), SLOOP_OK);
  assert_true(cJSON_Compare(back, state, 1));
  cJSON_Delete(back);
  /* The value lives in the document: without it, or with another document, nothing decodes
  ** to a wrong state. */
  assert_refused(blob, len, NULL, &nodes, "no document");
  cJSON *other = cJSON_Parse("{\"u\": 1}");
  assert_refused(blob, len, other, &nodes, "a document without the value");
  cJSON_Delete(other);
  uint8_t copy[256];
  assert_true(len < sizeof(copy));
  memcpy(copy, blob, len);
  copy[0] = 2;
  assert_refused(copy, len, doc, &nodes, "an unknown codec version");
  copy[0] = 1;
  copy[1] |= 0x80;
  assert_refused(copy, len, doc, &nodes, "an unknown record mask bit");
  nodes_mem empty = {{0}, 0};
  sloop_nodes none = nodes_mem_table(&empty);
  assert_refused(blob, len, doc, &none, "an unknown node");
  /* Hand-made: version 1, a put whose physical time is spelled with a redundant byte. */
  const uint8_t overlong[] = {1, 1, 0x80, 0x00, 0, 0};
  assert_refused(overlong, sizeof(overlong), NULL, &nodes, "a non-minimal varint");
  /* Ten bytes whose last bits fall past bit 63: unchecked, the value would wrap to 0. */
  const uint8_t huge[] = {1, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02, 0, 0};
  assert_refused(huge, sizeof(huge), NULL, &nodes, "a varint past 64 bits");
  const uint8_t too_late[] = {1, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0};
  assert_refused(too_late, sizeof(too_late), NULL, &nodes, "a time past the HLC's range");
  const uint8_t many_fields[] = {1, 4, 0x7f};
  assert_refused(many_fields, sizeof(many_fields), NULL, &nodes, "more fields than bytes");
  /* "a" and a NUL: unchecked, the name would read as "a". */
  const uint8_t nul_name[] = {1, 4, 1, 2, 'a', 0, 0};
  assert_refused(nul_name, sizeof(nul_name), NULL, &nodes, "a NUL in a field name");
  const uint8_t two_a[] = {1, 4, 2, 1, 'a', 0, 1, 'a', 0};
  assert_refused(two_a, sizeof(two_a), NULL, &nodes, "a repeated field");
  const uint8_t t_is_p_alone[] = {1, 4, 1, 1, 'a', 0x08};
  assert_refused(t_is_p_alone, sizeof(t_is_p_alone), NULL, &nodes, "t = p without a p");
  const uint8_t inline_device[] = {1, 4, 1, 1, 'a', 0x20, 32, '0', '0', 'a', '1', 'b', '2', 'c', '3',
                                   'd', '4', 'e', '5', 'f', '6', '0', '7'};
  assert_refused(inline_device, sizeof(inline_device), NULL, &nodes, "a device id spelled inline");
  /* Shapes the merge never makes are refused on the way in, too. */
  const char *const bad[] = {"[]", "{\"q\": 1}", "{\"p\": \"not a clock\"}", "{\"f\": {\"a\": {\"s\": -1}}}",
                             "{\"f\": {\"a\": {\"s\": 1.5}}}", "{\"f\": {\"a\": {\"z\": 1}}}", "{\"f\": {\"a\": 1}}",
                             "{\"f\": {\"a\": {\"a\": {\"e\": [1]}}}}", "{\"f\": {\"a\": {\"n\": \"1\"}}}",
                             "{\"f\": {\"a\": {}, \"a\": {}}}", "{\"f\": {\"a\": {\"a\": {\"e\": [], \"e\": []}}}}"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cJSON *b = cJSON_Parse(bad[i]);
    uint8_t *out = (uint8_t *)1;
    size_t n = 1;
    if (sloop_state_encode(b, NULL, &nodes, &out, &n, msg) != SLOOP_INVALID) fail_msg("encoded %s", bad[i]);
    assert_null(out);
    cJSON_Delete(b);
  }
  free(blob);
  cJSON_Delete(state);
  cJSON_Delete(doc);
}

/* The plain reading of "<16 hex>:<decimal>#<decimal>" that sloop_codec_tag_parts shortcuts,
** by another route than the codec's: each part is read with strtoull and must print back, as
** the device id and "%lld" print it, to exactly its bytes (so no sign, no leading zero, no
** upper case), the decimals below 10^15. */
static int plain_part(const char *s, size_t n, int base, const char *format, uint64_t max, uint64_t *out) {
  char in[32], back[32];
  if (n == 0 || n >= sizeof(in)) return 0;
  memcpy(in, s, n);
  in[n] = 0;
  char *stop = NULL;
  unsigned long long v = strtoull(in, &stop, base);
  snprintf(back, sizeof(back), format, v);
  if (*stop || v > max || strcmp(back, in) != 0) return 0;
  *out = v;
  return 1;
}

static int plain_tag_parts(const char *s, size_t len, uint64_t *node, uint64_t *seq, uint64_t *n) {
  const char *end = s + len, *hash = NULL, *colon = NULL;
  for (const char *c = s; c < end; c++)
    if (*c == '#') hash = c;
  for (const char *c = s; hash && c < hash && !colon; c++)
    if (*c == ':') colon = c;
  if (!colon || colon - s != 16) return 0;
  return plain_part(s, 16, 16, "%016llx", UINT64_MAX, node) &&
         plain_part(colon + 1, (size_t)(hash - colon - 1), 10, "%llu", 999999999999999ull, seq) &&
         plain_part(hash + 1, (size_t)(end - hash - 1), 10, "%llu", 999999999999999ull, n);
}

static void tags_split_as_their_plain_reading_says(void **unused) {
  static const char *const given[] = {
      "0123456789abcdef:1#0", "0123456789abcdef:12#3", "0123456789abcdef:#3", "0123456789abcdef:1#", "0123456789abcdef:1",
      "0123456789abcdef:1#2#3", "0123456789abcdef:1#:2", "0123456789abcdeF:1#0", "0123456789abcde:1#0", "0123456789abcdef0:1#0",
      "012345678:abcdef:1#0", "0123456789abcdef::1#0", "0123456789abcdef:01#0", "0123456789abcdef:1#00", "#123456789abcdef:1#0",
      "0123456789abcdef:123456789012345#1", "0123456789abcdef:1234567890123456#1", "0123456789abcdef#1:1#0", "", "#", "a:1#0"};
  for (size_t i = 0; i < sizeof(given) / sizeof(given[0]); i++) {
    uint64_t a[3] = {0}, b[3] = {0};
    size_t len = strlen(given[i]);
    int want = plain_tag_parts(given[i], len, &a[0], &a[1], &a[2]), got = sloop_codec_tag_parts(given[i], len, &b[0], &b[1], &b[2]);
    if (want != got || (want && memcmp(a, b, sizeof(a)))) fail_msg("%s: %d, expected %d", given[i], got, want);
  }
  /* Random strings over the characters that matter, around the lengths that matter. */
  uint64_t x = 0x9e3779b97f4a7c15ull;
  static const char alphabet[] = "0123456789abcdef:#A";
  for (int k = 0; k < 200000; k++) {
    char s[40];
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    size_t len = 16 + x % 12;
    for (size_t i = 0; i < len; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      /* Mostly hex, then the form's own separators in their places. */
      s[i] = x % 4 ? alphabet[x % 16] : alphabet[(x >> 8) % (sizeof(alphabet) - 1)];
    }
    if (x % 3) s[16] = ':';
    if (x % 5 && len > 19) s[len - 1 - (x >> 20) % 3] = '#';
    s[len] = 0;
    uint64_t a[3] = {0}, b[3] = {0};
    int want = plain_tag_parts(s, len, &a[0], &a[1], &a[2]), got = sloop_codec_tag_parts(s, len, &b[0], &b[1], &b[2]);
    if (want != got || (want && memcmp(a, b, sizeof(a)))) fail_msg("%s: %d, expected %d", s, got, want);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(states_round_trip_with_and_without_their_document),
      cmocka_unit_test(damaged_blobs_are_refused_or_decode_consistently),
      cmocka_unit_test(malformed_headers_and_numbers_are_refused),
      cmocka_unit_test(tags_split_as_their_plain_reading_says),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
