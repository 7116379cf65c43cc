/*
** test_wire.c -- protocol v2's compact changes (wasm/src/wire.h) and v1 beside it:
**   - random states of every policy go out and come back unchanged through an answer's node
**     list, with their document and without (a tombstone), and re-encode to the same text;
**   - the node list: first-met order, 16 hex digits, and every malformed list refused;
**   - base64: RFC 4648's vectors, every length, and every non-canonical spelling refused;
**   - a stored blob re-encoded without decoding it (the server's path) gives the encoder's
**     text and node list, and a damaged one is refused or sent as the stored state;
**   - a hostile blob (an index past the list or past the document, a name spelled out that
**     the document has, damage) is refused, never decoded to a state that does not round-trip;
**   - a server answers v1 requests exactly as before (state as JSON, "deleted", no "nodes") and
**     v2 requests in the compact form; a client applies both, and refuses a corrupt v2 answer
**     whole, with a clear error and nothing applied;
**   - a fresh client stores the same bytes from a v2 page (mostly without decoding states)
**     as from a v1 page.
*/
#include "internal.h"
#include "nodes_mem.h"
#include "random_state.h"
#include "wire.h"

/* Whether `len` bytes at `blob` hold the text `s`. */
static int holds(const uint8_t *blob, size_t len, const char *s) {
  size_t n = strlen(s);
  for (size_t i = 0; i + n <= len; i++)
    if (memcmp(blob + i, s, n) == 0) return 1;
  return 0;
}

/* One answer's worth of states through the wire: the server's list, sent as JSON, read back
** by the client, each state decoded against it. */
static void states_cross_the_wire_unchanged(void **unused) {
  (void)unused;
  sloop_schema schema;
  char msg[200];
  assert_int_equal(sloop_schema_parse(kCodecSchema, strlen(kCodecSchema), &schema, msg), SLOOP_OK);
  const sloop_coll_schema *cs = sloop_schema_coll(&schema, "notes");
  size_t wire_bytes = 0, stored_bytes = 0;
  for (uint64_t seed = 1; seed <= 1500; seed += 10) {
    sloop_wire_nodes sent = {0};
    cJSON *states[10], *docs[10];
    char *texts[10][2];
    for (int k = 0; k < 10; k++) {
      test_env e = {0, seed + (uint64_t)k};
      states[k] = random_state(&e, &schema);
      cJSON *shown = sloop_materialize(cs, states[k]);
      char *doc_text = shown ? cJSON_PrintUnformatted(shown) : NULL;
      docs[k] = doc_text ? cJSON_Parse(doc_text) : NULL;
      free(doc_text);
      cJSON_Delete(shown);
      for (int with_doc = 0; with_doc < 2; with_doc++)
        if (sloop_wire_state_encode(states[k], with_doc ? docs[k] : NULL, &sent, &texts[k][with_doc], msg))
          fail_state(seed + (uint64_t)k, msg, states[k]);
      nodes_mem m = {{0}, 0};
      sloop_nodes nodes = nodes_mem_table(&m);
      uint8_t *blob = NULL;
      size_t len = 0;
      assert_int_equal(sloop_state_encode(states[k], docs[k], &nodes, &blob, &len, msg), SLOOP_OK);
      stored_bytes += len;
      free(blob);
      assert_int_equal(sloop_base64_decode(texts[k][1], strlen(texts[k][1]), &blob, &len), SLOOP_OK);
      wire_bytes += len;
      free(blob);
    }
    cJSON *list = sloop_wire_nodes_json(&sent);
    char *list_text = cJSON_PrintUnformatted(list);
    cJSON *list_back = cJSON_Parse(list_text);
    sloop_wire_nodes got = {0};
    assert_int_equal(sloop_wire_nodes_parse(list_back, &got, msg), SLOOP_OK);
    assert_int_equal(got.count, sent.count);
    for (int k = 0; k < 10; k++) {
      for (int with_doc = 0; with_doc < 2; with_doc++) {
        const cJSON *doc = with_doc ? docs[k] : NULL;
        const char *text = texts[k][with_doc];
        /* The blob names nodes only by index: no device id travels inside it. */
        assert_null(strstr(text, "00a1b2c3d4e5f607"));
        cJSON *back = NULL;
        if (sloop_wire_state_decode(text, strlen(text), doc, &got, &back, msg)) fail_state(seed + (uint64_t)k, msg, states[k]);
        if (!cJSON_Compare(back, states[k], 1)) fail_state(seed + (uint64_t)k, "decodes to another state", states[k]);
        char *again = NULL;
        assert_int_equal(sloop_wire_state_encode(back, doc, &sent, &again, msg), SLOOP_OK);
        if (strcmp(again, text) != 0) fail_state(seed + (uint64_t)k, "re-encodes to another text", states[k]);
        free(again);
        cJSON_Delete(back);
        free(texts[k][with_doc]);
      }
      cJSON_Delete(states[k]);
      cJSON_Delete(docs[k]);
    }
    sloop_wire_nodes_free(&got);
    sloop_wire_nodes_free(&sent);
    cJSON_Delete(list_back);
    cJSON_Delete(list);
    free(list_text);
  }
  print_message("1500 states: %zu bytes stored, %zu on the wire (before base64)\n", stored_bytes, wire_bytes);
  /* The test's names are one letter, as long as an index: no larger than stored. */
  assert_true(wire_bytes <= stored_bytes);
  /* A name the document has is an index: the blob does not spell it. */
  cJSON *state = cJSON_Parse("{\"p\": \"018bcfe72195-0001-00a1b2c3d4e5f607\", \"f\": {\"createdBy\": {\"v\": \"x\","
                             " \"t\": \"018bcfe72195-0001-00a1b2c3d4e5f607\"}, \"title\": {\"v\": 1}}}");
  cJSON *doc = cJSON_Parse("{\"title\": 1, \"createdBy\": \"x\"}");
  sloop_wire_nodes w = {0};
  char *text = NULL;
  uint8_t *blob = NULL;
  size_t len = 0;
  assert_int_equal(sloop_wire_state_encode(state, doc, &w, &text, msg), SLOOP_OK);
  assert_int_equal(sloop_base64_decode(text, strlen(text), &blob, &len), SLOOP_OK);
  assert_false(holds(blob, len, "createdBy"));
  assert_false(holds(blob, len, "title"));
  assert_true(len <= 17); /* header 2, p 8, count 1, two fields of 3 */
  free(blob);
  free(text);
  sloop_wire_nodes_free(&w);
  cJSON_Delete(doc);
  cJSON_Delete(state);
  sloop_schema_clear(&schema);
}

static void node_lists_are_checked(void **unused) {
  (void)unused;
  char msg[200];
  sloop_wire_nodes w = {0};
  cJSON *a = cJSON_Parse("{\"p\": \"018bcfe72195-0001-00a1b2c3d4e5f607\", \"f\": {\"t\": {\"v\": 1,"
                         " \"t\": \"018bcfe72195-0001-ffffffffffffffff\", \"w\": \"00a1b2c3d4e5f607\"}}}");
  char *text = NULL;
  assert_int_equal(sloop_wire_state_encode(a, NULL, &w, &text, msg), SLOOP_OK);
  cJSON *list = sloop_wire_nodes_json(&w);
  char *list_text = cJSON_PrintUnformatted(list);
  assert_string_equal(list_text, "[\"00a1b2c3d4e5f607\",\"ffffffffffffffff\"]"); /* first met first */
  free(list_text);
  cJSON_Delete(list);
  /* Against a list that lacks a node, the same text does not decode. */
  sloop_wire_nodes short_list = {0};
  cJSON *one = cJSON_Parse("[\"00a1b2c3d4e5f607\"]");
  assert_int_equal(sloop_wire_nodes_parse(one, &short_list, msg), SLOOP_OK);
  cJSON *back = (cJSON *)1;
  assert_int_equal(sloop_wire_state_decode(text, strlen(text), NULL, &short_list, &back, msg), SLOOP_INVALID);
  assert_null(back);
  assert_non_null(strstr(msg, "unknown node index"));
  sloop_wire_nodes_free(&short_list);
  cJSON_Delete(one);
  free(text);
  cJSON_Delete(a);
  sloop_wire_nodes_free(&w);
  const char *const bad[] = {"{}", "null", "[1]", "[\"00A1B2C3D4E5F607\"]", "[\"00a1b2c3d4e5f60\"]",
                             "[\"00a1b2c3d4e5f6070\"]", "[\"00a1b2c3d4e5f60g\"]",
                             "[\"00a1b2c3d4e5f607\", \"0000000000000001\", \"00a1b2c3d4e5f607\"]"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cJSON *j = cJSON_Parse(bad[i]);
    sloop_wire_nodes n = {0};
    msg[0] = 0;
    if (sloop_wire_nodes_parse(j, &n, msg) != SLOOP_INVALID) fail_msg("took %s", bad[i]);
    assert_true(msg[0] != 0);
    sloop_wire_nodes_free(&n);
    cJSON_Delete(j);
  }
  /* One more than the cap. */
  cJSON *many = cJSON_CreateArray();
  for (int i = 0; i <= SLOOP_WIRE_MAX_NODES; i++) {
    char hex[17];
    snprintf(hex, sizeof(hex), "%016x", i);
    cJSON_AddItemToArray(many, cJSON_CreateString(hex));
  }
  sloop_wire_nodes n = {0};
  assert_int_equal(sloop_wire_nodes_parse(many, &n, msg), SLOOP_INVALID);
  sloop_wire_nodes_free(&n);
  cJSON_Delete(cJSON_DetachItemFromArray(many, SLOOP_WIRE_MAX_NODES));
  assert_int_equal(sloop_wire_nodes_parse(many, &n, msg), SLOOP_OK);
  sloop_wire_nodes_free(&n);
  cJSON_Delete(many);
}

static void base64_is_canonical(void **unused) {
  (void)unused;
  /* RFC 4648, section 10. */
  const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (int i = 0; i < 7; i++) {
    size_t n = 0;
    char *s = sloop_base64_encode((const uint8_t *)plain[i], strlen(plain[i]), &n);
    assert_string_equal(s, coded[i]);
    assert_int_equal(n, strlen(coded[i]));
    free(s);
  }
  uint8_t bytes[70];
  for (size_t len = 0; len < sizeof(bytes); len++) {
    for (size_t i = 0; i < len; i++) bytes[i] = (uint8_t)(i * 37 + len);
    char *s = sloop_base64_encode(bytes, len, NULL);
    uint8_t *back = NULL;
    size_t n = 0;
    assert_int_equal(sloop_base64_decode(s, strlen(s), &back, &n), SLOOP_OK);
    assert_int_equal(n, len);
    assert_memory_equal(back, bytes, len);
    free(back);
    free(s);
  }
  const char *const bad[] = {"Zg", "Zg=", "Zh==", "Zm9=", "Z===", "====", "Zg==Zg==", "Zm9v\n", "Zm-v", "Zm_v", "Zm 9"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    uint8_t *out = (uint8_t *)1;
    size_t n = 1;
    if (sloop_base64_decode(bad[i], strlen(bad[i]), &out, &n) != SLOOP_INVALID) fail_msg("decoded %s", bad[i]);
    assert_null(out);
  }
}

/* Decoding `blob` as a v2 state must fail with SLOOP_INVALID and a message. */
static void assert_wire_refused(const uint8_t *blob, size_t len, const cJSON *doc, const sloop_wire_nodes *w, const char *what) {
  char *text = sloop_base64_encode(blob, len, NULL);
  cJSON *out = (cJSON *)1;
  char msg[200] = "";
  int rc = sloop_wire_state_decode(text, strlen(text), doc, w, &out, msg);
  if (rc != SLOOP_INVALID || out) fail_msg("%s: decoded (rc %d)", what, rc);
  assert_true(msg[0] != 0);
  free(text);
}

static void hostile_blobs_are_refused(void **unused) {
  (void)unused;
  char msg[200];
  sloop_wire_nodes w = {0};
  cJSON *one = cJSON_Parse("[\"00a1b2c3d4e5f607\"]");
  assert_int_equal(sloop_wire_nodes_parse(one, &w, msg), SLOOP_OK);
  cJSON *doc = cJSON_Parse("{\"a\": \"x\", \"b\": 2}");
  /* version 1, p; one field named by document index 1 ("b"), value in the doc, t = p. */
  const uint8_t good[] = {1, 1 | 4, 5, 0, 0, 1, 0, 1, 0x02 | 0x08};
  char *text = sloop_base64_encode(good, sizeof(good), NULL);
  cJSON *back = NULL;
  assert_int_equal(sloop_wire_state_decode(text, strlen(text), doc, &w, &back, msg), SLOOP_OK);
  cJSON *want = cJSON_Parse("{\"p\": \"000000000005-0000-00a1b2c3d4e5f607\","
                            " \"f\": {\"b\": {\"v\": 2, \"t\": \"000000000005-0000-00a1b2c3d4e5f607\"}}}");
  assert_true(cJSON_Compare(back, want, 1));
  cJSON_Delete(back);
  /* Names index the sorted names: the same document with its members reordered reads the same. */
  cJSON *reordered = cJSON_Parse("{\"b\": 2, \"a\": \"x\"}");
  assert_int_equal(sloop_wire_state_decode(text, strlen(text), reordered, &w, &back, msg), SLOOP_OK);
  assert_true(cJSON_Compare(back, want, 1));
  cJSON_Delete(back);
  cJSON_Delete(reordered);
  cJSON_Delete(want);
  free(text);
  const uint8_t past_list[] = {1, 1 | 4, 5, 0, 1, 1, 0, 1, 0x02 | 0x08};
  assert_wire_refused(past_list, sizeof(past_list), doc, &w, "a node index past the list");
  const uint8_t past_doc[] = {1, 1 | 4, 5, 0, 0, 1, 0, 2, 0x02 | 0x08};
  assert_wire_refused(past_doc, sizeof(past_doc), doc, &w, "a name index past the document");
  const uint8_t spelled[] = {1, 1 | 4, 5, 0, 0, 1, 1, 'b', 0x02 | 0x08};
  assert_wire_refused(spelled, sizeof(spelled), doc, &w, "a name spelled out that the document has");
  assert_wire_refused(good, sizeof(good), NULL, &w, "a name index without a document");
  cJSON *other = cJSON_Parse("{\"a\": \"x\"}");
  assert_wire_refused(good, sizeof(good), other, &w, "a document without the member");
  cJSON_Delete(other);
  cJSON *twice = cJSON_Parse("{\"b\": 1, \"b\": 2, \"a\": 0}");
  const uint8_t second_b[] = {1, 1 | 4, 5, 0, 0, 1, 0, 2, 0x02 | 0x08}; /* sorted: a, b, b */
  assert_wire_refused(second_b, sizeof(second_b), twice, &w, "the index of a name's second member");
  cJSON_Delete(twice);
  const char *const not_base64[] = {"AQ", "AQ=", "****", "AQU=AQU="};
  for (size_t i = 0; i < sizeof(not_base64) / sizeof(not_base64[0]); i++) {
    cJSON *out = (cJSON *)1;
    assert_int_equal(sloop_wire_state_decode(not_base64[i], strlen(not_base64[i]), doc, &w, &out, msg), SLOOP_INVALID);
    assert_null(out);
  }
  /* Random damage: refused, or a state that round-trips. */
  sloop_schema schema;
  assert_int_equal(sloop_schema_parse(kCodecSchema, strlen(kCodecSchema), &schema, msg), SLOOP_OK);
  const sloop_coll_schema *cs = sloop_schema_coll(&schema, "notes");
  int refused = 0;
  for (uint64_t seed = 1; seed <= 1500; seed++) {
    test_env e = {0, seed};
    cJSON *state = random_state(&e, &schema);
    cJSON *d = sloop_materialize(cs, state);
    sloop_wire_nodes sent = {0};
    char *b64 = NULL;
    assert_int_equal(sloop_wire_state_encode(state, d, &sent, &b64, msg), SLOOP_OK);
    uint8_t *blob = NULL;
    size_t len = 0;
    assert_int_equal(sloop_base64_decode(b64, strlen(b64), &blob, &len), SLOOP_OK);
    for (int k = 1 + test_pick(&e, 3); k > 0; k--) blob[test_pick(&e, (int)len)] ^= (uint8_t)(1 + test_pick(&e, 255));
    char *damaged = sloop_base64_encode(blob, len, NULL);
    cJSON *got = NULL;
    if (sloop_wire_state_decode(damaged, strlen(damaged), d, &sent, &got, msg) == SLOOP_OK) {
      char *again = NULL;
      cJSON *twice_back = NULL;
      if (sloop_wire_state_encode(got, d, &sent, &again, msg)) fail_state(seed, msg, got);
      assert_int_equal(sloop_wire_state_decode(again, strlen(again), d, &sent, &twice_back, msg), SLOOP_OK);
      if (!cJSON_Compare(got, twice_back, 1)) fail_state(seed, "a damaged blob's state does not round-trip", got);
      free(again);
      cJSON_Delete(twice_back);
      cJSON_Delete(got);
    } else {
      assert_null(got);
      refused++;
    }
    free(damaged);
    free(blob);
    free(b64);
    sloop_wire_nodes_free(&sent);
    cJSON_Delete(d);
    cJSON_Delete(state);
  }
  assert_true(refused > 700);
  sloop_schema_clear(&schema);
  cJSON_Delete(doc);
  cJSON_Delete(one);
  sloop_wire_nodes_free(&w);
}

/* An answer's node list as a lookup-only table. */
static int wire_lookup(void *ctx, uint64_t node, uint64_t *index) {
  (void)ctx, (void)node, (void)index;
  return SLOOP_CORRUPT; /* never interns */
}
static int wire_lookup_only(void *ctx, uint64_t index, uint64_t *node) {
  const sloop_wire_nodes *w = ctx;
  if (index >= w->count) return SLOOP_CORRUPT;
  *node = w->node[index];
  return SLOOP_OK;
}

/* The server sends a stored blob re-encoded without decoding it (sloop_wire_state_transcode):
** the text, and the node list it builds, are byte for byte what the encoder makes of the
** decoded state, with the document and without (a tombstone), many states to one list; a
** client stores a pulled blob the same way back (SC_FROM_WIRE), byte for byte the encoder's.
** A damaged stored blob is refused, or gives a wire state that is refused or is the stored
** state: never another state. */
static void stored_blobs_transcode_to_the_encoders_text(void **unused) {
  (void)unused;
  sloop_schema schema;
  char msg[200];
  assert_int_equal(sloop_schema_parse(kCodecSchema, strlen(kCodecSchema), &schema, msg), SLOOP_OK);
  const sloop_coll_schema *cs = sloop_schema_coll(&schema, "notes");
  nodes_mem m = {{0}, 0};
  sloop_nodes stored = nodes_mem_table(&m);
  sloop_wire_nodes by_encoder = {0}, by_transcoder = {0};
  int refused = 0, damaged_ok = 0;
  for (uint64_t seed = 1; seed <= 1500; seed++) {
    test_env e = {0, seed};
    cJSON *state = random_state(&e, &schema);
    cJSON *shown = sloop_materialize(cs, state);
    char *doc_text = shown ? cJSON_PrintUnformatted(shown) : NULL;
    cJSON *doc = doc_text ? cJSON_Parse(doc_text) : NULL;
    uint8_t *blob = NULL;
    size_t len = 0;
    if (sloop_state_encode(state, doc, &stored, &blob, &len, msg)) fail_state(seed, msg, state);
    cJSON *decoded = NULL;
    char *want = NULL, *got = NULL;
    assert_int_equal(sloop_state_decode(blob, len, doc, &stored, &decoded, msg), SLOOP_OK);
    assert_int_equal(sloop_wire_state_encode(decoded, doc, &by_encoder, &want, msg), SLOOP_OK);
    if (sloop_wire_state_transcode(blob, len, &stored, doc, &by_transcoder, &got, msg)) fail_state(seed, msg, state);
    if (strcmp(want, got) != 0) fail_state(seed, "the transcoded state differs from the encoder's", state);
    assert_int_equal(by_transcoder.count, by_encoder.count);
    assert_memory_equal(by_transcoder.node, by_encoder.node, by_encoder.count * sizeof(uint64_t));
    free(got);
    got = NULL;
    /* And back (a client storing a pulled change, pull_plain.c): the blob the encoder stores
    ** for the state decoded from the wire, with the nodes interned in the same order. */
    uint8_t *sent_blob = NULL, *from_wire = NULL, *expected = NULL;
    size_t sent_len = 0, from_len = 0, expected_len = 0, nseen = 0;
    const char **names = NULL;
    size_t nnames = 0;
    sloop_field_seen *seen = NULL;
    nodes_mem m1 = {{0}, 0}, m2 = {{0}, 0};
    sloop_nodes client1 = nodes_mem_table(&m1), client2 = nodes_mem_table(&m2);
    sloop_nodes page = {wire_lookup, wire_lookup_only, &by_encoder};
    assert_int_equal(sloop_base64_decode(want, strlen(want), &sent_blob, &sent_len), SLOOP_OK);
    assert_int_equal(sloop_codec_doc_names(doc, &names, &nnames), SLOOP_OK);
    cJSON *received = NULL;
    assert_int_equal(sloop_state_decode_with(sent_blob, sent_len, doc, &page, SC_NAMES_FROM_DOC, &received, msg), SLOOP_OK);
    assert_int_equal(sloop_state_encode(received, doc, &client1, &expected, &expected_len, msg), SLOOP_OK);
    if (sloop_state_transcode(sent_blob, sent_len, &page, &client2, names, nnames, SC_FROM_WIRE, &from_wire, &from_len,
                              &seen, &nseen, msg))
      fail_state(seed, msg, state);
    if (from_len != expected_len || memcmp(from_wire, expected, from_len) != 0)
      fail_state(seed, "the stored blob from the wire differs from the encoder's", state);
    assert_int_equal(m1.count, m2.count);
    assert_memory_equal(m1.node, m2.node, m1.count * sizeof(uint64_t));
    cJSON *f = cJSON_GetObjectItem(received, "f");
    assert_int_equal(nseen, (size_t)cJSON_GetArraySize(f));
    free(seen);
    free(names);
    free(sent_blob);
    free(from_wire);
    free(expected);
    cJSON_Delete(received);
    /* Damage: refused, or the receiving decoder refuses it or reads the stored state. */
    for (int k = 1 + test_pick(&e, 3); k > 0; k--) blob[test_pick(&e, (int)len)] ^= (uint8_t)(1 + test_pick(&e, 255));
    sloop_wire_nodes scratch = {0};
    if (sloop_wire_state_transcode(blob, len, &stored, doc, &scratch, &got, msg) == SLOOP_OK) {
      cJSON *sent = NULL, *truth = NULL;
      if (sloop_wire_state_decode(got, strlen(got), doc, &scratch, &sent, msg) == SLOOP_OK) {
        assert_int_equal(sloop_state_decode(blob, len, doc, &stored, &truth, msg), SLOOP_OK);
        if (!cJSON_Compare(sent, truth, 1)) fail_state(seed, "a damaged blob sent as another state", truth);
        damaged_ok++;
      }
      cJSON_Delete(sent);
      cJSON_Delete(truth);
      free(got);
    } else {
      assert_null(got);
      refused++;
    }
    sloop_wire_nodes_free(&scratch);
    free(want);
    free(blob);
    free(doc_text);
    cJSON_Delete(decoded);
    cJSON_Delete(doc);
    cJSON_Delete(shown);
    cJSON_Delete(state);
  }
  assert_true(refused > 700);
  assert_true(damaged_ok > 0);
  sloop_wire_nodes_free(&by_encoder);
  sloop_wire_nodes_free(&by_transcoder);
  sloop_schema_clear(&schema);
}

/* ---------------------------------------------------------------- end to end --------- */

static char *server_pull(world *w, int i, int v, int64_t cursor) {
  char req[200], ctx[160];
  snprintf(req, sizeof(req), "{\"v\": %d, \"device\": \"%s\", \"cursor\": %lld, \"limit\": 100}", v,
           sloop_device(w->clients[i]), (long long)cursor);
  world_ctx(w, i, ctx, sizeof(ctx));
  char *resp = NULL;
  size_t len = 0;
  int rc = sloop_server_pull(w->server, req, strlen(req), ctx, strlen(ctx), &resp, &len);
  if (rc) fail_msg("pull v%d: %s: %s", v, sloop_errstr(rc), sloop_errmsg(w->server));
  return resp;
}

static void put_note(sloop_db *c, const char *id, const char *doc) {
  assert_ok(c, sloop_put(c, S("notes"), S(id), S(doc)));
}

/* Two records and a tombstone on the server, written by client 0. */
static void seed_world(world *w) {
  world_open(w, 2, 7, NULL);
  sloop_db *c = w->clients[0];
  put_note(c, "a", "{\"title\": \"one\", \"tags\": [\"x\"], \"votes\": 2}");
  put_note(c, "b", "{\"title\": \"two\", \"body\": \"b\"}");
  put_note(c, "gone", "{\"title\": \"three\"}");
  world_sync(w, 0);
  assert_ok(c, sloop_delete(c, S("notes"), S("gone")));
  world_sync(w, 0);
}

static void v1_requests_get_the_state_as_json(void **unused) {
  (void)unused;
  world w;
  seed_world(&w);
  char *resp = server_pull(&w, 1, 1, 0);
  cJSON *j = cJSON_Parse(resp);
  assert_int_equal(cJSON_GetObjectItem(j, "v")->valueint, 1);
  assert_null(cJSON_GetObjectItem(j, "nodes"));
  const cJSON *ch;
  int tombstones = 0;
  cJSON_ArrayForEach(ch, cJSON_GetObjectItem(j, "changes")) {
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(ch, "state")));
    assert_true(cJSON_IsBool(cJSON_GetObjectItem(ch, "deleted")));
    if (cJSON_IsTrue(cJSON_GetObjectItem(ch, "deleted"))) {
      tombstones++;
      assert_null(cJSON_GetObjectItem(ch, "doc")); /* as pulls always sent tombstones */
    } else {
      assert_true(cJSON_IsObject(cJSON_GetObjectItem(ch, "doc")));
      /* The state spells out its clocks, device ids included. */
      char *state = cJSON_PrintUnformatted(cJSON_GetObjectItem(ch, "state"));
      assert_non_null(strstr(state, sloop_device(w.clients[0])));
      free(state);
    }
  }
  assert_int_equal(tombstones, 1);
  /* A client applies a v1 answer as it always did. */
  assert_ok(w.clients[1], sloop_pull_apply(w.clients[1], resp, strlen(resp), NULL));
  char *got = world_dump(w.clients[1], "notes"), *want = world_dump(w.clients[0], "notes");
  assert_string_equal(got, want);
  free(got);
  free(want);
  cJSON_Delete(j);
  sloop_free(resp);
  world_close(&w);
}

static void v2_requests_get_the_compact_form(void **unused) {
  (void)unused;
  world w;
  seed_world(&w);
  char *resp = server_pull(&w, 1, 2, 0);
  cJSON *j = cJSON_Parse(resp);
  assert_int_equal(cJSON_GetObjectItem(j, "v")->valueint, 2);
  const cJSON *nodes = cJSON_GetObjectItem(j, "nodes");
  assert_int_equal(cJSON_GetArraySize(nodes), 1);
  assert_string_equal(cJSON_GetArrayItem(nodes, 0)->valuestring, sloop_device(w.clients[0]));
  const cJSON *ch;
  int tombstones = 0;
  cJSON_ArrayForEach(ch, cJSON_GetObjectItem(j, "changes")) {
    assert_true(cJSON_IsString(cJSON_GetObjectItem(ch, "state")));
    assert_null(cJSON_GetObjectItem(ch, "deleted"));
    if (!cJSON_GetObjectItem(ch, "doc")) tombstones++;
  }
  assert_int_equal(tombstones, 1);
  /* The device id travels once, in the node list. */
  const char *dev = sloop_device(w.clients[0]);
  const char *first = strstr(resp, dev);
  assert_non_null(first);
  assert_null(strstr(first + 1, dev));
  assert_ok(w.clients[1], sloop_pull_apply(w.clients[1], resp, strlen(resp), NULL));
  char *got = world_dump(w.clients[1], "notes"), *want = world_dump(w.clients[0], "notes");
  assert_string_equal(got, want);
  free(got);
  free(want);
  /* And from here on the two replicas merge as ever: a write on each, both synced. */
  assert_ok(w.clients[1], sloop_patch(w.clients[1], S("notes"), S("a"), S("{\"votes\": {\"$inc\": 3}}")));
  assert_ok(w.clients[0], sloop_patch(w.clients[0], S("notes"), S("a"), S("{\"votes\": {\"$inc\": 1}}")));
  world_sync(&w, 1);
  world_sync(&w, 0);
  world_sync(&w, 1);
  got = world_get(w.clients[1], "notes", "a");
  assert_non_null(strstr(got, "\"votes\":6"));
  free(got);
  cJSON_Delete(j);
  sloop_free(resp);
  world_close(&w);
}

/* Every row of a client's records and nodes tables, as JSON text (caller frees). */
static char *stored_rows(sloop_db *c) {
  const char sql[] = "SELECT coll, id, doc, hex(state), version, hex(base), sync, rowid FROM records ORDER BY coll, id;"
                     " SELECT json_group_array(node) FROM (SELECT node FROM nodes ORDER BY n)";
  char *a = NULL, *b = NULL, *out = NULL;
  size_t len = 0;
  assert_ok(c, sloop_sql(c, sql, strlen(sql) - strlen(strchr(sql, ';')), &a, &len));
  const char *second = strchr(sql, ';') + 2;
  assert_ok(c, sloop_sql(c, second, strlen(second), &b, &len));
  out = malloc(strlen(a) + strlen(b) + 2);
  sprintf(out, "%s\n%s", a, b);
  sloop_free(a);
  sloop_free(b);
  return out;
}

/* A fresh client stores a v2 page mostly without decoding states into cJSON (pull_plain.c):
** the rows, nodes and full-text index it ends with are byte for byte those of a client that
** pulled the same records as v1 (whose states are JSON, stored the general way), for records
** of every policy, with fields set, removed and merged by several devices, and tombstones. */
static void v1_and_v2_pulls_store_the_same_bytes(void **unused) {
  (void)unused;
  world w;
  world_open(&w, 4, 11, NULL);
  for (int i = 0; i < 40; i++) {
    sloop_db *c = w.clients[i % 2];
    char id[16], doc[200];
    snprintf(id, sizeof(id), "r%d", i % 25);
    if (i % 7 == 3) {
      snprintf(doc, sizeof(doc), "{\"votes\": {\"$inc\": %d}, \"tags\": {\"$add\": [\"t%d\"]}, \"body\": null}", i, i % 3);
      int rc = sloop_patch(c, S("notes"), S(id), S(doc));
      if (rc == SLOOP_NOTFOUND) continue;
      assert_ok(c, rc);
    } else if (i % 11 == 5) {
      int rc = sloop_delete(c, S("notes"), S(id));
      if (rc != SLOOP_NOTFOUND) assert_ok(c, rc);
    } else {
      snprintf(doc, sizeof(doc),
               "{\"title\": \"t%d \\u00e9\", \"body\": \"b%d\", \"status\": \"s%d\", \"createdBy\": \"u%d\","
               " \"votes\": %d.5, \"layout\": {\"w\": [%d, \"x\"]}}",
               i, i, i % 3, (i % 25) % 2, i, i);
      int rc = sloop_put(c, S("notes"), S(id), S(doc));
      if (rc) fail_msg("put %s: %s", doc, sloop_errmsg(c));
    }
    if (i % 5 == 4) {
      world_sync(&w, 0);
      world_sync(&w, 1);
    }
  }
  world_sync(&w, 0);
  world_sync(&w, 1);
  for (int v = 1; v <= 2; v++) {
    sloop_db *c = w.clients[1 + v];
    int64_t cursor = 0;
    for (int more = 1; more;) {
      char *resp = server_pull(&w, 1 + v, v, cursor);
      assert_ok(c, sloop_pull_apply(c, resp, strlen(resp), &more));
      assert_int_equal(sloop_meta_get_int(c, "cursor", &cursor), SLOOP_OK);
      sloop_free(resp);
    }
  }
  char *by_v1 = stored_rows(w.clients[2]), *by_v2 = stored_rows(w.clients[3]);
  assert_string_equal(by_v2, by_v1);
  assert_non_null(strstr(by_v1, "\"r23\""));
  free(by_v1);
  free(by_v2);
  const char check[] = "INSERT INTO records_fts(records_fts, rank) VALUES('integrity-check', 0)";
  for (int k = 2; k <= 3; k++) {
    char *out = NULL;
    size_t len = 0;
    assert_ok(w.clients[k], sloop_sql(w.clients[k], check, strlen(check), &out, &len));
    sloop_free(out);
    assert_ok(w.clients[k], sloop_search(w.clients[k], S("notes"), S("t13"), 10, &out, &len));
    assert_non_null(strstr(out, "r13"));
    sloop_free(out);
  }
  world_close(&w);
}

/* The answer with one change made to it (by `damage`), printed. */
static char *damaged(const char *resp, int damage) {
  cJSON *j = cJSON_Parse(resp);
  cJSON *changes = cJSON_GetObjectItem(j, "changes"), *nodes = cJSON_GetObjectItem(j, "nodes");
  cJSON *first = cJSON_GetArrayItem(changes, 0), *second = cJSON_GetArrayItem(changes, 1);
  switch (damage) {
    case 0: cJSON_ReplaceItemInArray(nodes, 0, cJSON_CreateString("00000000000000zz")); break; /* not a node */
    case 1: cJSON_Delete(cJSON_DetachItemFromArray(nodes, 0)); break;                       /* an index past the list */
    case 2: cJSON_DeleteItemFromObject(j, "nodes"); break;                                   /* no list */
    case 3: cJSON_ReplaceItemInObject(second, "state", cJSON_CreateString("AQ==")); break;  /* a truncated blob */
    case 4: cJSON_ReplaceItemInObject(second, "state", cJSON_CreateString("not base64!")); break;
    case 5: cJSON_ReplaceItemInObject(second, "state", cJSON_CreateNumber(5)); break;       /* not v2's form */
    case 6: cJSON_ReplaceItemInObject(first, "doc", cJSON_CreateObject()); break;           /* names past the doc */
    case 7: cJSON_ReplaceItemInObject(first, "doc", cJSON_CreateString("x")); break;        /* not a document */
    default: cJSON_ReplaceItemInObject(j, "v", cJSON_CreateNumber(3)); break;               /* an unknown version */
  }
  char *out = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  return out;
}

static void a_corrupt_v2_answer_is_refused_whole(void **unused) {
  (void)unused;
  world w;
  seed_world(&w);
  char *resp = server_pull(&w, 1, 2, 0);
  sloop_db *c = w.clients[1];
  char *before = world_dump(c, "notes");
  for (int i = 0; i <= 8; i++) {
    char *bad = damaged(resp, i);
    int rc = sloop_pull_apply(c, bad, strlen(bad), NULL);
    if (rc != SLOOP_INVALID) fail_msg("damage %d: %s (%s)", i, sloop_errstr(rc), sloop_errmsg(c));
    print_message("damage %d: %s\n", i, sloop_errmsg(c));
    char *after = world_dump(c, "notes");
    assert_string_equal(after, before); /* nothing applied */
    free(after);
    int64_t cursor = -1;
    assert_int_equal(sloop_meta_get_int(c, "cursor", &cursor), SLOOP_NOTFOUND);
    free(bad);
  }
  /* The answer as sent still applies. */
  assert_ok(c, sloop_pull_apply(c, resp, strlen(resp), NULL));
  char *after = world_dump(c, "notes");
  assert_string_not_equal(after, before);
  free(after);
  free(before);
  sloop_free(resp);
  world_close(&w);
}

/* Cursors and sequences beyond what int64 (and a double, exactly) holds are refused both ways,
** never converted (the conversion is undefined). */
static void numbers_beyond_int64_are_refused(void **unused) {
  (void)unused;
  world w;
  world_open(&w, 1, 81, NULL);
  sloop_db *c = w.clients[0];
  const char *answers[] = {
      "{\"v\": 2, \"changes\": [], \"cursor\": 3, \"hasMore\": false, \"ackSeq\": 1e30}",
      "{\"v\": 2, \"changes\": [], \"cursor\": 1e30, \"hasMore\": false}",
      "{\"v\": 2, \"changes\": [], \"cursor\": 2.5, \"hasMore\": false}",
  };
  for (size_t k = 0; k < sizeof(answers) / sizeof(answers[0]); k++)
    assert_int_equal(sloop_pull_apply(c, answers[k], strlen(answers[k]), NULL), SLOOP_INVALID);
  int64_t cursor = -1;
  assert_int_equal(sloop_meta_get_int(c, "cursor", &cursor), SLOOP_NOTFOUND);
  char ctx[160];
  world_ctx(&w, 0, ctx, sizeof(ctx));
  char req[160];
  snprintf(req, sizeof(req), "{\"v\": 2, \"device\": \"%s\", \"cursor\": 0, \"ackSeq\": 1e30}", sloop_device(c));
  char *resp = NULL;
  assert_int_equal(sloop_server_pull(w.server, req, strlen(req), ctx, strlen(ctx), &resp, NULL), SLOOP_INVALID);
  assert_null(resp);
  /* Nor fractions: they were truncated (an ackSeq of 2.5 acknowledged operation 2). */
  const char *fractions[] = {"\"cursor\": 0, \"ackSeq\": 2.5", "\"cursor\": 0.5", "\"cursor\": 0, \"limit\": 2.5"};
  for (size_t k = 0; k < sizeof(fractions) / sizeof(fractions[0]); k++) {
    snprintf(req, sizeof(req), "{\"v\": 2, \"device\": \"%s\", %s}", sloop_device(c), fractions[k]);
    assert_int_equal(sloop_server_pull(w.server, req, strlen(req), ctx, strlen(ctx), &resp, NULL), SLOOP_INVALID);
    assert_null(resp);
  }
  snprintf(req, sizeof(req), "{\"v\": 2, \"device\": \"%s\", \"cursor\": 0, \"ackSeq\": 2, \"limit\": 3}", sloop_device(c));
  assert_int_equal(sloop_server_pull(w.server, req, strlen(req), ctx, strlen(ctx), &resp, NULL), SLOOP_OK);
  sloop_free(resp);
  resp = NULL;
  /* A snapshot token's numbers, which the client echoes back. */
  char big[400];
  snprintf(big, sizeof(big),
           "{\"v\": 2, \"device\": \"%s\", \"cursor\": 0, \"snapshot\": {\"at\": 1e30, \"horizon\": 0, \"c\": 0,"
           " \"v\": 0, \"page\": 1, \"pages\": 1, \"total\": 1, \"sent\": 0, \"omitted\": 0, \"saved\": 0}}",
           sloop_device(c));
  assert_int_equal(sloop_server_pull(w.server, big, strlen(big), ctx, strlen(ctx), &resp, NULL), SLOOP_INVALID);
  assert_null(resp);
  char *small = strstr(big, "1e30");
  memcpy(small, "0   ", 4);
  char *c_at = strstr(big, "\"c\": 0");
  memcpy(c_at + 5, "9", 1); /* "c": 9 is in range but names no group: refused too */
  assert_int_equal(sloop_server_pull(w.server, big, strlen(big), ctx, strlen(ctx), &resp, NULL), SLOOP_INVALID);
  /* A conflict in a pull answer. */
  const char *conflict = "{\"v\": 2, \"changes\": [], \"cursor\": 0, \"hasMore\": false, \"conflicts\": [{\"id\": 1e30,"
                         " \"coll\": \"notes\", \"rid\": \"n1\", \"field\": \"title\", \"status\": \"open\", \"version\": 1}]}";
  assert_int_equal(sloop_pull_apply(c, conflict, strlen(conflict), NULL), SLOOP_INVALID);
  /* A resolve of conflict 1e30 is rejected as invalid, alone. */
  char body[600];
  snprintf(body, sizeof(body),
           "{\"v\": 1, \"device\": \"%s\", \"ops\": [{\"id\": \"%s:1\", \"type\": \"resolve\", \"coll\": \"notes\","
           " \"rid\": \"n1\", \"hlc\": \"0192f3a4b5c6-0000-00000000000000d7\", \"payload\": {\"conflict\": 1e30, \"value\": 1}}]}",
           sloop_device(c), sloop_device(c));
  assert_int_equal(sloop_server_push(w.server, body, strlen(body), ctx, strlen(ctx), &resp, NULL), SLOOP_OK);
  assert_non_null(strstr(resp, "\"code\":\"invalid\""));
  sloop_free(resp);
  /* A query's limit and offset. */
  const char *queries[] = {"{\"limit\": 1e30}", "{\"offset\": 1e30}", "{\"limit\": 2.5}", "{\"limit\": -1}", "{\"limit\": \"9\"}"};
  for (size_t k = 0; k < sizeof(queries) / sizeof(queries[0]); k++) {
    char *rows = NULL;
    assert_int_equal(sloop_query(c, "notes", 5, queries[k], strlen(queries[k]), &rows, NULL), SLOOP_INVALID);
    assert_null(rows);
  }
  char *rows = NULL;
  assert_int_equal(sloop_query(c, "notes", 5, "{\"limit\": 3, \"offset\": 0}", 26, &rows, NULL), SLOOP_OK);
  sloop_free(rows);
  world_close(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(states_cross_the_wire_unchanged),
      cmocka_unit_test(node_lists_are_checked),
      cmocka_unit_test(base64_is_canonical),
      cmocka_unit_test(hostile_blobs_are_refused),
      cmocka_unit_test(stored_blobs_transcode_to_the_encoders_text),
      cmocka_unit_test(v1_requests_get_the_state_as_json),
      cmocka_unit_test(v2_requests_get_the_compact_form),
      cmocka_unit_test(a_corrupt_v2_answer_is_refused_whole),
      cmocka_unit_test(numbers_beyond_int64_are_refused),
      cmocka_unit_test(v1_and_v2_pulls_store_the_same_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
