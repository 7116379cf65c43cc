/*
** test_seq.c -- the sequence CRDT (wasm/src/seq.h), from fixed seeds (a failure prints the seed):
**   - edits by position give the text a splice gives, counted in code points or UTF-16 units;
**     positions inside a surrogate pair, unknown origins, ids partly present, oversized runs
**     and bad content are refused and leave the sequence byte for byte as it was; duplicates
**     change nothing;
**   - 2 to 4 replicas editing concurrently (text and lists), operations delivered in any
**     causal order with duplicates, some replicas restarted from their binary form, converge;
**   - two devices typing a word at one place, forwards or backwards, never interleave;
**   - the binary form round-trips byte for byte (with and without the visible text), and
**     truncated or damaged blobs are refused or decode to a sound sequence;
**   - seq_diff's splices turn the earlier text into the later one, in both units.
** The editing traces are replayed in test_seq_traces.c.
*/
#include <stdio.h>
#include <stdlib.h>

#include "seq_ops.h"

/* ---- the visible content as flat bytes, and its elements -------------------------------- */

typedef struct bytes_buf {
  uint8_t *p;
  size_t len, cap;
  size_t elems;
} bytes_buf;

static void buf_add(bytes_buf *b, const uint8_t *p, size_t len) {
  if (b->len + len + 1 > b->cap) {
    b->cap = (b->len + len + 1) * 2;
    b->p = realloc(b->p, b->cap);
    assert_non_null(b->p);
  }
  if (len) memcpy(b->p + b->len, p, len);
  b->len += len;
}

static int buf_visit(void *ctx, const uint8_t *bytes, size_t len, uint32_t n) {
  bytes_buf *b = ctx;
  buf_add(b, bytes, len);
  b->elems += n;
  return 0;
}

/* The visible content (UTF-8 text, or list elements each LEB128-prefixed), as seq_each_visible
** gives it; the caller frees b->p. For text it must equal seq_text. */
static bytes_buf visible_of(const seq *s) {
  bytes_buf b = {0};
  buf_add(&b, NULL, 0);
  assert_int_equal(seq_each_visible(s, buf_visit, &b), 0);
  assert_int_equal(b.elems, seq_length(s, SEQ_ELEMS));
  if (seq_get_kind(s) == SEQ_TEXT) {
    size_t len;
    char *text = seq_text_of(s, &len);
    if (len != b.len || memcmp(text, b.p, len)) fail_msg("seq_text differs from seq_each_visible");
    free(text);
  }
  return b;
}

/* Byte length of the element at p (UTF-8 code point, or LEB128 length and its bytes). */
static size_t elem_size(seq_kind kind, const uint8_t *p, size_t avail) {
  if (kind == SEQ_TEXT) {
    size_t k = p[0] < 0x80 ? 1 : p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
    assert_true(k <= avail);
    return k;
  }
  size_t len = 0, i = 0;
  for (int shift = 0;; shift += 7) {
    assert_true(i < avail && shift < 35);
    len |= (size_t)(p[i] & 0x7f) << shift;
    if (!(p[i++] & 0x80)) break;
  }
  assert_true(i + len <= avail);
  return i + len;
}

/* Byte offsets of the element boundaries: count+1 of them (the caller frees). */
static size_t *elem_bounds(seq_kind kind, const uint8_t *p, size_t len, size_t *count) {
  size_t *b = malloc((len + 1) * sizeof(size_t)), n = 0;
  assert_non_null(b);
  for (size_t at = 0; at < len; at += elem_size(kind, p + at, len - at)) b[n++] = at;
  b[n] = len;
  *count = n;
  return b;
}

/* UTF-16 units of elements [0, k) given their boundaries (a 4-byte code point is 2). */
static size_t units_before(const size_t *bounds, size_t k) {
  size_t u = 0;
  for (size_t i = 0; i < k; i++) u += bounds[i + 1] - bounds[i] == 4 ? 2 : 1;
  return u;
}

/* The byte offset of `pos` in `unit`s; fails the test inside a surrogate pair or past the end. */
static size_t offset_of(seq_kind kind, const uint8_t *p, size_t len, size_t pos, seq_unit unit) {
  size_t at = 0, u = 0;
  while (u < pos) {
    assert_true(at < len);
    size_t k = elem_size(kind, p + at, len - at);
    u += unit == SEQ_UTF16 && k == 4 ? 2 : 1;
    at += k;
  }
  if (u != pos) fail_msg("position %zu falls inside a surrogate pair", pos);
  return at;
}

/* b := b[0, at) + ins + b[at + del, ...). */
static void splice(bytes_buf *b, size_t at, size_t del, const uint8_t *ins, size_t ins_len) {
  assert_true(at + del <= b->len);
  uint8_t *p = malloc(b->len - del + ins_len + 1);
  assert_non_null(p);
  memcpy(p, b->p, at);
  if (ins_len) memcpy(p + at, ins, ins_len);
  memcpy(p + at + ins_len, b->p + at + del, b->len - at - del);
  free(b->p);
  b->p = p;
  b->len = b->len - del + ins_len;
  b->cap = b->len + 1;
}

static int same_bytes(const bytes_buf *a, const bytes_buf *b) {
  return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* ---- random content ------------------------------------------------------------------ */

static const char *const kChars[] = {"a", "b", "c", "d", "e", " ", "\n", "\xc3\xa9" /* é */, "\xc3\x9f" /* ß */,
                                     "\xe2\x82\xac" /* € */, "\xe4\xb8\xad" /* 中 */, "\xf0\x9f\x98\x80" /* 😀 */,
                                     "\xf0\x9d\x84\x9e" /* 𝄞 */};

/* 1 to 5 random elements of `kind` into out (room for 5 list elements of up to 200 bytes). */
static uint32_t random_content(test_env *e, seq_kind kind, uint8_t *out, size_t *bytes) {
  static const size_t kListLens[] = {0, 1, 3, 127, 128, 200};
  uint32_t n = 1 + (uint32_t)test_pick(e, 5);
  size_t at = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (kind == SEQ_TEXT) {
      const char *c = kChars[test_pick(e, (int)(sizeof(kChars) / sizeof(kChars[0])))];
      memcpy(out + at, c, strlen(c));
      at += strlen(c);
    } else {
      size_t len = kListLens[test_pick(e, 6)];
      size_t v = len;
      do {
        out[at++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
      } while (v);
      for (size_t k = 0; k < len; k++) out[at++] = (uint8_t)test_rand(e);
    }
  }
  *bytes = at;
  return n;
}

static uint64_t random_node(test_env *e) {
  uint64_t node = test_pick(e, 2) ? test_rand(e) : (uint64_t)(1 + test_pick(e, 6));
  return node ? node : 1;
}

/* ---- encoding helpers ------------------------------------------------------------------ */

static bytes_buf encoded(const seq *s, int omit_visible) {
  bytes_buf b = {0};
  assert_int_equal(seq_encode(s, omit_visible, &b.p, &b.len), 0);
  b.cap = b.len;
  return b;
}

/* A copy through the binary form (omit_visible for text only). */
static seq *copy_of(const seq *s, int omit_visible) {
  char msg[200] = "";
  bytes_buf blob = encoded(s, omit_visible);
  bytes_buf vis = visible_of(s);
  seq *c = seq_decode(seq_get_kind(s), blob.p, blob.len, omit_visible ? vis.p : NULL, omit_visible ? vis.len : 0, msg);
  if (!c) fail_msg("decode of a fresh encoding (omit_visible %d): %s", omit_visible, msg);
  free(blob.p);
  free(vis.p);
  return c;
}

/* ---- unit tests ----------------------------------------------------------------------- */

static void assert_text(const seq *s, const char *want) {
  char *text = seq_text_of(s, NULL);
  if (strcmp(text, want)) fail_msg("text is \"%s\", expected \"%s\"", text, want);
  free(text);
  assert_seq_sound(s, want);
}

static void ins(seq *s, uint64_t node, size_t pos, seq_unit unit, const char *text) {
  seq_local_insert(s, node, pos, unit, (const uint8_t *)text, strlen(text), utf8_points((const uint8_t *)text, strlen(text)),
                   NULL);
}

static void edits_by_position_give_the_spliced_text(void **unused) {
  (void)unused;
  seq *s = seq_new(SEQ_TEXT);
  assert_int_equal(seq_get_kind(s), SEQ_TEXT);
  assert_text(s, "");
  assert_int_equal(seq_length(s, SEQ_ELEMS), 0);
  assert_int_equal(seq_next_counter(s, 7), 0);
  ins(s, 7, 0, SEQ_ELEMS, "hello");
  assert_int_equal(seq_next_counter(s, 7), 5);
  assert_int_equal(seq_next_counter(s, 8), 0);
  ins(s, 7, 5, SEQ_ELEMS, " world");
  ins(s, 8, 0, SEQ_ELEMS, ">");
  ins(s, 8, 6, SEQ_ELEMS, ",");
  assert_text(s, ">hello, world");
  assert_int_equal(seq_next_counter(s, 7), 11);
  assert_int_equal(seq_next_counter(s, 8), 2);
  assert_int_equal(seq_length(s, SEQ_ELEMS), 13);
  assert_int_equal(seq_local_delete(s, 1, 5, SEQ_ELEMS, NULL), 5);
  assert_text(s, ">, world");
  assert_int_equal(seq_elements(s), 13);
  assert_int_equal(seq_length(s, SEQ_ELEMS), 8);
  ins(s, 7, 1, SEQ_ELEMS, "bye");
  assert_text(s, ">bye, world");
  assert_int_equal(seq_local_delete(s, 0, 11, SEQ_ELEMS, NULL), 11);
  assert_text(s, "");
  assert_int_equal(seq_elements(s), 16);
  ins(s, 9, 0, SEQ_ELEMS, "again");
  assert_text(s, "again");

  /* Past the end is refused, for inserts and deletes alike. */
  char msg[200] = "";
  seq_id l, r;
  assert_int_equal(seq_origins_at(s, 6, SEQ_ELEMS, &l, &r, msg), -1);
  assert_true(msg[0] != 0);
  seq_ranges ranges = {0};
  assert_int_equal(seq_ids_in(s, 3, 3, SEQ_ELEMS, seq_ranges_add, &ranges, msg), -1);
  assert_int_equal(ranges.count, 0);
  seq_free(s);
}

static void ids_in_gives_ranges_of_consecutive_ids_in_document_order(void **unused) {
  (void)unused;
  seq *s = seq_new(SEQ_TEXT);
  ins(s, 5, 0, SEQ_ELEMS, "abcdef"); /* (5, 0..5) */
  ins(s, 6, 3, SEQ_ELEMS, "XY");     /* abcXYdef: (6, 0..1) splits the run */
  seq_ranges r = {0};
  char msg[200] = "";
  assert_int_equal(seq_ids_in(s, 1, 6, SEQ_ELEMS, seq_ranges_add, &r, msg), 0);
  assert_int_equal(r.count, 3);
  assert_true(r.ids[0].node == 5 && r.ids[0].seq == 1 && r.ns[0] == 2);
  assert_true(r.ids[1].node == 6 && r.ids[1].seq == 0 && r.ns[1] == 2);
  assert_true(r.ids[2].node == 5 && r.ids[2].seq == 3 && r.ns[2] == 2);
  free(r.ids);
  free(r.ns);
  /* Origins at a position: the element before it and whatever follows that. */
  seq_id left, right;
  assert_int_equal(seq_origins_at(s, 3, SEQ_ELEMS, &left, &right, msg), 0);
  assert_true(left.node == 5 && left.seq == 2 && right.node == 6 && right.seq == 0);
  assert_int_equal(seq_origins_at(s, 0, SEQ_ELEMS, &left, &right, msg), 0);
  assert_true(left.node == 0 && right.node == 5 && right.seq == 0);
  assert_int_equal(seq_origins_at(s, 8, SEQ_ELEMS, &left, &right, msg), 0);
  assert_true(left.node == 5 && left.seq == 5 && right.node == 0);
  seq_free(s);
}

static void utf16_positions_count_surrogate_pairs_and_refuse_their_middle(void **unused) {
  (void)unused;
  seq *s = seq_new(SEQ_TEXT);
  ins(s, 1, 0, SEQ_ELEMS, "a\xf0\x9f\x98\x80" "b"); /* a😀b */
  assert_int_equal(seq_length(s, SEQ_ELEMS), 3);
  assert_int_equal(seq_length(s, SEQ_UTF16), 4);
  ins(s, 1, 3, SEQ_UTF16, "\xc3\xa9");        /* after the emoji, in UTF-16 units: a😀éb */
  ins(s, 1, 5, SEQ_UTF16, "\xf0\x9d\x84\x9e"); /* a😀éb𝄞 */
  assert_text(s, "a\xf0\x9f\x98\x80\xc3\xa9" "b\xf0\x9d\x84\x9e");
  assert_int_equal(seq_length(s, SEQ_ELEMS), 5);
  assert_int_equal(seq_length(s, SEQ_UTF16), 7);

  bytes_buf before = encoded(s, 0);
  char msg[200] = "";
  seq_id l, r;
  seq_ranges ranges = {0};
  assert_int_equal(seq_origins_at(s, 2, SEQ_UTF16, &l, &r, msg), -1);
  assert_true(msg[0] != 0);
  assert_int_equal(seq_origins_at(s, 6, SEQ_UTF16, &l, &r, msg), -1);
  assert_int_equal(seq_origins_at(s, 8, SEQ_UTF16, &l, &r, msg), -1);
  assert_int_equal(seq_origins_at(s, 7, SEQ_UTF16, &l, &r, msg), 0);
  /* Ranges that start or end inside a pair. */
  assert_int_equal(seq_ids_in(s, 2, 1, SEQ_UTF16, seq_ranges_add, &ranges, msg), -1);
  assert_int_equal(seq_ids_in(s, 1, 1, SEQ_UTF16, seq_ranges_add, &ranges, msg), -1);
  assert_int_equal(seq_ids_in(s, 0, 2, SEQ_UTF16, seq_ranges_add, &ranges, msg), -1);
  assert_int_equal(seq_ids_in(s, 5, 3, SEQ_UTF16, seq_ranges_add, &ranges, msg), -1);
  assert_int_equal(ranges.count, 0);
  bytes_buf after = encoded(s, 0);
  assert_true(same_bytes(&before, &after));
  free(after.p);

  /* The emoji alone, by UTF-16 range. */
  assert_int_equal(seq_local_delete(s, 1, 2, SEQ_UTF16, NULL), 1);
  assert_text(s, "a\xc3\xa9" "b\xf0\x9d\x84\x9e");
  assert_int_equal(seq_length(s, SEQ_UTF16), 5);
  assert_int_equal(seq_local_delete(s, 3, 2, SEQ_UTF16, NULL), 1);
  assert_text(s, "a\xc3\xa9" "b");
  assert_int_equal(seq_length(s, SEQ_UTF16), 3);
  free(before.p);
  seq_free(s);
}

/* Applies an operation that must be refused, and checks the sequence is unchanged. */
static void assert_insert_refused(seq *s, seq_id id, seq_id left, seq_id right, const void *content, size_t bytes,
                                  uint32_t n, const char *what) {
  bytes_buf before = encoded(s, 0), shown_before = visible_of(s);
  size_t elems = seq_elements(s);
  char msg[200] = "";
  if (seq_insert(s, id, left, right, content, bytes, n, msg) != -1) fail_msg("%s: accepted", what);
  if (!msg[0]) fail_msg("%s: refused without a message", what);
  bytes_buf after = encoded(s, 0), shown_after = visible_of(s);
  if (!same_bytes(&before, &after) || !same_bytes(&shown_before, &shown_after) || seq_elements(s) != elems)
    fail_msg("%s: refused but the sequence changed", what);
  assert_seq_sound(s, what);
  free(before.p), free(after.p), free(shown_before.p), free(shown_after.p);
}

static void assert_delete_refused(seq *s, seq_id id, uint32_t n, const char *what) {
  bytes_buf before = encoded(s, 0), shown_before = visible_of(s);
  char msg[200] = "";
  if (seq_delete(s, id, n, msg) != -1) fail_msg("%s: accepted", what);
  if (!msg[0]) fail_msg("%s: refused without a message", what);
  bytes_buf after = encoded(s, 0), shown_after = visible_of(s);
  if (!same_bytes(&before, &after) || !same_bytes(&shown_before, &shown_after))
    fail_msg("%s: refused but the sequence changed", what);
  free(before.p), free(after.p), free(shown_before.p), free(shown_after.p);
}

static void duplicates_change_nothing(void **unused) {
  (void)unused;
  seq *s = seq_new(SEQ_TEXT);
  seq_oplog log = {0};
  seq_local_insert(s, 3, 0, SEQ_ELEMS, (const uint8_t *)"abcdef", 6, 6, &log);
  seq_local_insert(s, 4, 2, SEQ_ELEMS, (const uint8_t *)"XY", 2, 2, &log); /* splits the first run */
  seq_local_delete(s, 3, 3, SEQ_ELEMS, &log);                             /* Y, cd: two ranges */
  assert_text(s, "abXef");
  assert_int_equal(log.count, 4);
  char msg[200] = "";
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < log.count; i++) {
      bytes_buf before = encoded(s, 0);
      if (seq_op_apply(s, &log.ops[i], msg)) fail_msg("duplicate op %zu refused: %s", i, msg);
      bytes_buf after = encoded(s, 0);
      if (!same_bytes(&before, &after)) fail_msg("duplicate op %zu changed the sequence", i);
      free(before.p);
      free(after.p);
    }
  }
  assert_text(s, "abXef");
  assert_int_equal(seq_elements(s), 8);
  /* One element by id: live, a tombstone, unknown. */
  const uint8_t *one = NULL;
  size_t one_len = 0;
  assert_int_equal(seq_element(s, (seq_id){3, 4}, &one, &one_len), 1);
  assert_true(one_len == 1 && one[0] == 'e');
  assert_int_equal(seq_element(s, (seq_id){4, 0}, &one, &one_len), 1);
  assert_true(one_len == 1 && one[0] == 'X');
  assert_int_equal(seq_element(s, (seq_id){4, 1}, &one, &one_len), 0);
  assert_int_equal(seq_element(s, (seq_id){3, 3}, &one, &one_len), 0);
  assert_int_equal(seq_element(s, (seq_id){3, 6}, &one, &one_len), -1);
  assert_int_equal(seq_element(s, (seq_id){5, 0}, &one, &one_len), -1);

  /* The same ops on a fresh replica, each twice in a row, give the same text. */
  seq *t = seq_new(SEQ_TEXT);
  for (size_t i = 0; i < log.count; i++)
    for (int k = 0; k < 2; k++)
      if (seq_op_apply(t, &log.ops[i], msg)) fail_msg("op %zu (time %d): %s", i, k, msg);
  assert_text(t, "abXef");
  assert_int_equal(seq_elements(t), 8);

  /* A known id inserted again with other origins or other content is not a duplicate. Either
  ** answer is defensible; what matters is that nothing changes. */
  bytes_buf before = encoded(s, 0);
  seq_id other_left = {3, 5};
  seq_insert(s, log.ops[1].id, other_left, log.ops[1].right, (const uint8_t *)"XY", 2, 2, msg);
  seq_insert(s, log.ops[1].id, log.ops[1].left, log.ops[1].right, (const uint8_t *)"QQ", 2, 2, msg);
  bytes_buf after = encoded(s, 0);
  if (!same_bytes(&before, &after)) fail_msg("a conflicting re-insert changed the sequence");
  free(before.p);
  free(after.p);
  seq_oplog_clear(&log);
  seq_free(s);
  seq_free(t);
}

static void partial_unknown_and_oversized_operations_are_refused(void **unused) {
  (void)unused;
  seq *s = seq_new(SEQ_TEXT);
  const seq_id none = {0, 0};
  seq_id a0 = {10, 0};
  char msg[200] = "";
  assert_int_equal(seq_insert(s, a0, none, none, (const uint8_t *)"abc", 3, 3, msg), 0);
  seq_id a2 = {10, 2}, a1 = {10, 1}, a3 = {10, 3};
  /* Ids partly present: (10, 1..3) when 1 and 2 exist. */
  assert_insert_refused(s, a1, a0, none, "xyz", 3, 3, "ids partly present");
  assert_insert_refused(s, a2, a1, none, "xy", 2, 2, "ids partly present at the end");
  /* Unknown origins, left or right, of a known or an unknown device. */
  seq_id b0 = {11, 0}, unknown_a = {10, 9}, unknown_c = {12, 0};
  assert_insert_refused(s, b0, unknown_a, none, "x", 1, 1, "unknown left origin");
  assert_insert_refused(s, b0, none, unknown_c, "x", 1, 1, "unknown right origin");
  assert_insert_refused(s, b0, a0, unknown_a, "x", 1, 1, "unknown right origin after a known left");
  /* Node 0 is no device. */
  seq_id nobody = {0, 4};
  assert_insert_refused(s, nobody, a0, none, "x", 1, 1, "an insert by node 0");
  /* Content that does not hold exactly n code points, or is not UTF-8. */
  static const struct {
    const char *bytes;
    uint32_t n;
    const char *what;
  } bad[] = {
      {"xy", 1, "more code points than n"},
      {"xy", 3, "fewer code points than n"},
      {"", 0, "an empty run"},
      {"\xc0\xaf", 1, "an overlong encoding"},
      {"\x80", 1, "a lone continuation byte"},
      {"\xe2\x82", 1, "a truncated sequence"},
      {"a\xe2\x82", 2, "a truncated sequence at the end"},
      {"\xed\xa0\x80", 1, "an encoded surrogate"},
      {"\xf4\x90\x80\x80", 1, "a code point past U+10FFFF"},
      {"\xff", 1, "a byte never in UTF-8"},
      {"\xf0\x9f\x98", 1, "an emoji cut short"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_insert_refused(s, b0, a2, none, bad[i].bytes, strlen(bad[i].bytes), bad[i].n, bad[i].what);

  /* Oversized runs, and counters past SEQ_MAX_COUNTER (or wrapping round 2^32). */
  size_t big = SEQ_MAX_RUN + 1;
  char *many = malloc(big);
  memset(many, 'q', big);
  assert_insert_refused(s, b0, a2, none, many, big, (uint32_t)big, "a run longer than SEQ_MAX_RUN");
  seq_id late = {11, SEQ_MAX_COUNTER}, wrap = {11, 0xfffffff8u};
  assert_insert_refused(s, late, a2, none, "xy", 2, 2, "counters past SEQ_MAX_COUNTER");
  assert_insert_refused(s, wrap, a2, none, many, 16, 16, "counters wrapping round");
  free(many);

  /* Deletes: unknown ids, and ids partly known (none of the known ones is deleted). */
  assert_delete_refused(s, unknown_c, 1, "delete of an unknown id");
  assert_delete_refused(s, a1, 5, "delete of ids partly known");
  assert_delete_refused(s, a3, 1, "delete just past the known ids");
  assert_text(s, "abc");

  /* After all that, the good operations still apply. */
  assert_int_equal(seq_insert(s, b0, a2, none, (const uint8_t *)"\xf0\x9f\x98\x80", 4, 1, msg), 0);
  assert_int_equal(seq_delete(s, a1, 2, msg), 0);
  assert_int_equal(seq_delete(s, a1, 2, msg), 0); /* again: a no-op */
  assert_text(s, "a\xf0\x9f\x98\x80");
  seq_free(s);
}

static void list_elements_are_length_prefixed_byte_strings(void **unused) {
  (void)unused;
  seq *s = seq_new(SEQ_LIST);
  assert_int_equal(seq_get_kind(s), SEQ_LIST);
  uint8_t content[300];
  size_t at = 0;
  content[at++] = 1, content[at++] = '7';  /* "7" */
  content[at++] = 0;                        /* "" */
  content[at++] = 0x82, content[at++] = 1;  /* 130 bytes */
  for (int i = 0; i < 130; i++) content[at++] = (uint8_t)i;
  seq_oplog log = {0};
  seq_local_insert(s, 2, 0, SEQ_ELEMS, content, at, 3, &log);
  assert_int_equal(seq_length(s, SEQ_ELEMS), 3);
  bytes_buf v = visible_of(s);
  assert_int_equal(v.len, at);
  assert_memory_equal(v.p, content, at);
  free(v.p);
  seq_local_insert(s, 2, 1, SEQ_ELEMS, (const uint8_t *)"\x02hi", 3, 1, &log);
  seq_local_delete(s, 2, 1, SEQ_ELEMS, &log); /* the empty element */
  assert_int_equal(seq_length(s, SEQ_ELEMS), 3);
  v = visible_of(s);
  assert_int_equal(v.len, 2 + 3 + 2 + 130);
  assert_memory_equal(v.p, "\x01" "7\x02hi\x82\x01", 7);
  free(v.p);
  assert_seq_sound(s, "list");
  /* A list has no UTF-16 positions. */
  char msg[200] = "";
  seq_id l, r;
  seq_ranges ranges = {0};
  assert_int_equal(seq_origins_at(s, 0, SEQ_UTF16, &l, &r, msg), -1);
  assert_int_equal(seq_ids_in(s, 0, 1, SEQ_UTF16, seq_ranges_add, &ranges, msg), -1);

  /* A replica that receives the ops agrees, and the list round-trips through its blob. */
  seq *t = seq_new(SEQ_LIST);
  for (size_t i = 0; i < log.count; i++) assert_int_equal(seq_op_apply(t, &log.ops[i], msg), 0);
  bytes_buf a = visible_of(s), b = visible_of(t);
  assert_true(same_bytes(&a, &b));
  seq *c = copy_of(t, 0);
  bytes_buf d = visible_of(c);
  assert_true(same_bytes(&a, &d));
  free(a.p), free(b.p), free(d.p);
  seq_free(c);
  seq_free(t);
  seq_oplog_clear(&log);
  seq_free(s);
}

static void list_content_that_does_not_match_its_count_is_refused(void **unused) {
  (void)unused;
  seq *s = seq_new(SEQ_LIST);
  const seq_id none = {0, 0};
  seq_id c0 = {3, 0}, first = {2, 0};
  char msg[200] = "";
  assert_int_equal(seq_insert(s, first, none, none, (const uint8_t *)"\x01" "a", 2, 1, msg), 0);
  static const struct {
    const char *bytes;
    size_t len;
    uint32_t n;
    const char *what;
  } bad[] = {
      {"\x05" "abc", 4, 1, "a length past the end"},
      {"\x01" "ab", 3, 1, "a trailing byte"},
      {"\x01" "a\x01" "b", 4, 1, "more elements than n"},
      {"\x01" "a", 2, 2, "fewer elements than n"},
      {"\x80", 1, 1, "a length cut short"},
      {"", 0, 0, "an empty run"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_insert_refused(s, c0, first, none, bad[i].bytes, bad[i].len, bad[i].n, bad[i].what);
  assert_int_equal(seq_length(s, SEQ_ELEMS), 1);
  seq_free(s);
}

/* ---- replicas editing concurrently ---------------------------------------------------- */

#define MAX_PEERS 4

/* An operation a peer made, with how many operations of each peer it had applied then (its own
** entry is the operation's index among its own). */
typedef struct peer_op {
  seq_op op;
  uint32_t seen[MAX_PEERS];
} peer_op;

typedef struct peers {
  test_env e;
  uint64_t seed;
  seq_kind kind;
  int k;
  seq *s[MAX_PEERS];
  uint64_t node[MAX_PEERS];
  peer_op *own[MAX_PEERS];
  uint32_t nown[MAX_PEERS], capown[MAX_PEERS];
  uint32_t applied[MAX_PEERS][MAX_PEERS];
  /* Per peer, what it applied in order (peer, index), to rebuild an earlier state. */
  uint32_t (*history[MAX_PEERS])[2];
  size_t nhistory[MAX_PEERS], caphistory[MAX_PEERS];
  int local_edits, deliveries, duplicates, restarts;
} peers;

static void peers_init(peers *P, uint64_t seed, seq_kind kind, int k) {
  memset(P, 0, sizeof(*P));
  P->e.rng = seed;
  P->seed = seed;
  P->kind = kind;
  P->k = k;
  for (int i = 0; i < k; i++) {
    P->s[i] = seq_new(kind);
    assert_non_null(P->s[i]);
    uint64_t node;
    int fresh;
    do {
      node = random_node(&P->e);
      fresh = 1;
      for (int j = 0; j < i; j++) fresh &= P->node[j] != node;
    } while (!fresh);
    P->node[i] = node;
  }
}

static void peers_free(peers *P) {
  for (int i = 0; i < P->k; i++) {
    seq_free(P->s[i]);
    for (uint32_t j = 0; j < P->nown[i]; j++) free(P->own[i][j].op.content);
    free(P->own[i]);
    free(P->history[i]);
  }
}

static void history_add(peers *P, int r, int from, uint32_t index) {
  if (P->nhistory[r] == P->caphistory[r]) {
    P->caphistory[r] = P->caphistory[r] ? P->caphistory[r] * 2 : 64;
    P->history[r] = realloc(P->history[r], P->caphistory[r] * sizeof(P->history[r][0]));
    assert_non_null(P->history[r]);
  }
  P->history[r][P->nhistory[r]][0] = (uint32_t)from;
  P->history[r][P->nhistory[r]++][1] = index;
}

/* Records the ops peer r just made (in log) as its own. */
static void peers_record(peers *P, int r, seq_oplog *log) {
  for (size_t i = 0; i < log->count; i++) {
    if (P->nown[r] == P->capown[r]) {
      P->capown[r] = P->capown[r] ? P->capown[r] * 2 : 32;
      P->own[r] = realloc(P->own[r], P->capown[r] * sizeof(peer_op));
      assert_non_null(P->own[r]);
    }
    peer_op *po = &P->own[r][P->nown[r]];
    po->op = log->ops[i]; /* takes the content */
    memcpy(po->seen, P->applied[r], sizeof(po->seen));
    assert_int_equal(po->seen[r], P->nown[r]);
    history_add(P, r, r, P->nown[r]);
    P->nown[r]++;
    P->applied[r][r]++;
  }
  free(log->ops);
  memset(log, 0, sizeof(*log));
}

/* One local edit on peer r at a random place, checked against the splice it should be. */
static void peers_local_edit(peers *P, int r) {
  test_env *e = &P->e;
  seq *s = P->s[r];
  bytes_buf model = visible_of(s);
  size_t count;
  size_t *bounds = elem_bounds(P->kind, model.p, model.len, &count);
  seq_unit unit = P->kind == SEQ_TEXT && test_pick(e, 2) ? SEQ_UTF16 : SEQ_ELEMS;
  seq_oplog log = {0};
  if (count == 0 || test_pick(e, 5) < 3) {
    uint8_t content[1100];
    size_t bytes;
    uint32_t n = random_content(e, P->kind, content, &bytes);
    size_t at = (size_t)test_pick(e, (int)count + 1);
    size_t pos = unit == SEQ_UTF16 ? units_before(bounds, at) : at;
    seq_local_insert(s, P->node[r], pos, unit, content, bytes, n, &log);
    splice(&model, bounds[at], 0, content, bytes);
  } else {
    size_t at = (size_t)test_pick(e, (int)count);
    size_t len = 1 + (size_t)test_pick(e, (int)(count - at < 6 ? count - at : 6));
    size_t pos = unit == SEQ_UTF16 ? units_before(bounds, at) : at;
    size_t ulen = unit == SEQ_UTF16 ? units_before(bounds, at + len) - pos : len;
    if (seq_local_delete(s, pos, ulen, unit, &log) != len)
      fail_msg("seed %llu: deleting %zu elements deleted another number", (unsigned long long)P->seed, len);
    splice(&model, bounds[at], bounds[at + len] - bounds[at], NULL, 0);
  }
  bytes_buf now = visible_of(s);
  if (!same_bytes(&model, &now))
    fail_msg("seed %llu: peer %d's local edit gave other content than the splice", (unsigned long long)P->seed, r);
  free(now.p);
  free(model.p);
  free(bounds);
  peers_record(P, r, &log);
  P->local_edits++;
}

static int deliverable(const peers *P, int r, int from) {
  if (from == r || P->applied[r][from] >= P->nown[from]) return 0;
  const peer_op *po = &P->own[from][P->applied[r][from]];
  for (int j = 0; j < P->k; j++)
    if (j != from && po->seen[j] > P->applied[r][j]) return 0;
  return 1;
}

/* Applies an op peer r has applied before, which must change nothing. */
static void peers_duplicate(peers *P, int r) {
  size_t h = (size_t)test_pick(&P->e, (int)P->nhistory[r]);
  const seq_op *op = &P->own[P->history[r][h][0]][P->history[r][h][1]].op;
  bytes_buf before = encoded(P->s[r], 0);
  char msg[200] = "";
  if (seq_op_apply(P->s[r], op, msg))
    fail_msg("seed %llu: a duplicate op was refused: %s", (unsigned long long)P->seed, msg);
  bytes_buf after = encoded(P->s[r], 0);
  if (!same_bytes(&before, &after)) fail_msg("seed %llu: a duplicate op changed peer %d", (unsigned long long)P->seed, r);
  free(before.p);
  free(after.p);
  P->duplicates++;
}

/* Delivers one causally ready op to some peer (with, now and then, a duplicate); 0 when none
** is ready anywhere. */
static int peers_deliver_one(peers *P) {
  int choices[MAX_PEERS * MAX_PEERS][2], n = 0;
  for (int r = 0; r < P->k; r++)
    for (int from = 0; from < P->k; from++)
      if (deliverable(P, r, from)) choices[n][0] = r, choices[n++][1] = from;
  if (n == 0) return 0;
  int c = test_pick(&P->e, n), r = choices[c][0], from = choices[c][1];
  uint32_t index = P->applied[r][from];
  char msg[200] = "";
  if (seq_op_apply(P->s[r], &P->own[from][index].op, msg))
    fail_msg("seed %llu: peer %d refused op %u of peer %d: %s", (unsigned long long)P->seed, r, index, from, msg);
  P->applied[r][from]++;
  history_add(P, r, from, index);
  P->deliveries++;
  if (test_pick(&P->e, 6) == 0) peers_duplicate(P, r);
  return 1;
}

/* Replaces peer r by a copy through its binary form, as a restart would. */
static void peers_restart(peers *P, int r) {
  int omit = P->kind == SEQ_TEXT && test_pick(&P->e, 2);
  seq *c = copy_of(P->s[r], omit);
  assert_seq_sound(c, "a restarted peer");
  bytes_buf a = visible_of(P->s[r]), b = visible_of(c);
  if (!same_bytes(&a, &b) || seq_elements(c) != seq_elements(P->s[r]))
    fail_msg("seed %llu: peer %d restarted to other content", (unsigned long long)P->seed, r);
  for (int j = 0; j < P->k; j++) assert_int_equal(seq_next_counter(c, P->node[j]), seq_next_counter(P->s[r], P->node[j]));
  free(a.p);
  free(b.p);
  seq_free(P->s[r]);
  P->s[r] = c;
  P->restarts++;
}

/* `steps` random steps: local edits, deliveries and restarts, in a random mix. */
static void peers_run(peers *P, int steps) {
  for (int i = 0; i < steps; i++) {
    int what = test_pick(&P->e, 20);
    if (what < 9) peers_local_edit(P, test_pick(&P->e, P->k));
    else if (what < 19) peers_deliver_one(P);
    else peers_restart(P, test_pick(&P->e, P->k));
  }
}

static void peers_deliver_all(peers *P) {
  while (peers_deliver_one(P)) {
  }
  for (int r = 0; r < P->k; r++)
    for (int j = 0; j < P->k; j++)
      if (P->applied[r][j] != P->nown[j]) fail_msg("seed %llu: delivery stuck (causality)", (unsigned long long)P->seed);
}

/* Element ids, one per visible element, in document order. */
typedef struct id_list {
  seq_id *ids;
  size_t n, cap;
  const seq *s;
  bytes_buf shown;
} id_list;

static void id_list_add(id_list *l, seq_id first, uint32_t n) {
  if (l->n + n > l->cap) {
    l->cap = (l->n + n) * 2;
    l->ids = realloc(l->ids, l->cap * sizeof(seq_id));
    assert_non_null(l->ids);
  }
  for (uint32_t k = 0; k < n; k++) l->ids[l->n++] = (seq_id){first.node, first.seq + k};
}

static int add_range(void *ctx, seq_id id, uint32_t n) {
  id_list_add(ctx, id, n);
  return 0;
}

/* Each element of a stretch is what seq_element answers for its id. */
static int add_stretch(void *ctx, seq_id first, const uint8_t *bytes, size_t len, uint32_t n) {
  id_list *l = ctx;
  id_list_add(l, first, n);
  buf_add(&l->shown, bytes, len);
  size_t at = 0;
  for (uint32_t k = 0; k < n; k++) {
    size_t size = elem_size(seq_get_kind(l->s), bytes + at, len - at);
    const uint8_t *one = NULL;
    size_t one_len = 0;
    if (seq_element(l->s, (seq_id){first.node, first.seq + k}, &one, &one_len) != 1 || one_len != size ||
        memcmp(one, bytes + at, size))
      fail_msg("seq_element disagrees with seq_each_visible_id");
    at += size;
  }
  assert_int_equal(at, len);
  return 0;
}

/* seq_each_visible_id, seq_element and seq_ids_in over the whole text name the same elements. */
static void assert_ids_agree(const seq *s, const char *what) {
  char msg[200] = "";
  id_list walked = {0}, ranged = {0};
  walked.s = s;
  buf_add(&walked.shown, NULL, 0);
  assert_int_equal(seq_each_visible_id(s, add_stretch, &walked), 0);
  assert_int_equal(seq_ids_in(s, 0, seq_length(s, SEQ_ELEMS), SEQ_ELEMS, add_range, &ranged, msg), 0);
  bytes_buf shown = visible_of(s);
  if (!same_bytes(&shown, &walked.shown)) fail_msg("%s: seq_each_visible_id shows other content", what);
  if (walked.n != ranged.n) fail_msg("%s: seq_each_visible_id and seq_ids_in count other elements", what);
  for (size_t i = 0; i < walked.n; i++) /* field by field: seq_id has padding */
    if (walked.ids[i].node != ranged.ids[i].node || walked.ids[i].seq != ranged.ids[i].seq)
      fail_msg("%s: seq_each_visible_id and seq_ids_in name other elements at %zu", what, i);
  free(walked.ids), free(ranged.ids), free(walked.shown.p), free(shown.p);
}

static void assert_converged(peers *P) {
  bytes_buf first = visible_of(P->s[0]);
  for (int r = 0; r < P->k; r++) {
    char what[64];
    snprintf(what, sizeof(what), "seed %llu peer %d", (unsigned long long)P->seed, r);
    assert_seq_sound(P->s[r], what);
    assert_ids_agree(P->s[r], what);
    bytes_buf v = visible_of(P->s[r]);
    if (!same_bytes(&first, &v)) fail_msg("%s: diverged from peer 0", what);
    if (seq_elements(P->s[r]) != seq_elements(P->s[0]) || seq_length(P->s[r], SEQ_UTF16) != seq_length(P->s[0], SEQ_UTF16))
      fail_msg("%s: counts differ from peer 0", what);
    for (int omit = 0; omit <= (P->kind == SEQ_TEXT); omit++) {
      seq *c = copy_of(P->s[r], omit);
      bytes_buf cv = visible_of(c);
      if (!same_bytes(&first, &cv)) fail_msg("%s: its blob (omit_visible %d) decodes to other content", what, omit);
      free(cv.p);
      seq_free(c);
    }
    free(v.p);
  }
  free(first.p);
}

static void replicas_converge_under_any_causal_delivery(void **unused) {
  (void)unused;
  long ops = 0, dups = 0, restarts = 0;
  size_t longest = 0;
  enum { SEEDS = 600 };
  for (uint64_t seed = 1; seed <= SEEDS; seed++) {
    peers P;
    peers_init(&P, seed, seed % 3 == 0 ? SEQ_LIST : SEQ_TEXT, 2 + (int)(seed % 3));
    /* Every 50th seed a long session, so that runs fill several blocks. */
    int rounds = 1 + test_pick(&P.e, 4), steps = seed % 50 == 0 ? 800 : 60;
    for (int i = 0; i < rounds; i++) peers_run(&P, 10 + test_pick(&P.e, steps));
    peers_deliver_all(&P);
    assert_converged(&P);
    ops += P.local_edits;
    dups += P.duplicates;
    restarts += P.restarts;
    if (seq_length(P.s[0], SEQ_ELEMS) > longest) longest = seq_length(P.s[0], SEQ_ELEMS);
    peers_free(&P);
  }
  print_message("%d seeds: %ld local edits, %ld duplicates, %ld restarts; longest %zu elements\n", SEEDS, ops, dups, restarts,
                longest);
  assert_true(dups > 1000 && restarts > 300 && longest > 300);
}

/* Every edit delivered everywhere before the next (no concurrency); then a fresh replica fed
** the same ops in another causal order agrees. */
static void sequential_edits_and_a_late_replica_agree(void **unused) {
  (void)unused;
  for (uint64_t seed = 1; seed <= 200; seed++) {
    peers P;
    peers_init(&P, seed, SEQ_TEXT, 3);
    for (int i = 0; i < 40; i++) {
      peers_local_edit(&P, test_pick(&P.e, 3));
      peers_deliver_all(&P);
    }
    assert_converged(&P);
    /* A fresh replica fed every op in a different causal order agrees too. */
    seq *t = seq_new(SEQ_TEXT);
    char msg[200] = "";
    uint32_t next[MAX_PEERS] = {0};
    for (;;) {
      int ready[MAX_PEERS], n = 0;
      for (int j = 0; j < 3; j++) {
        if (next[j] >= P.nown[j]) continue;
        int ok = 1;
        for (int x = 0; x < 3; x++) ok &= x == j || P.own[j][next[j]].seen[x] <= next[x];
        if (ok) ready[n++] = j;
      }
      if (!n) break;
      int j = ready[test_pick(&P.e, n)];
      if (seq_op_apply(t, &P.own[j][next[j]++].op, msg)) fail_msg("seed %llu: %s", (unsigned long long)seed, msg);
    }
    bytes_buf a = visible_of(P.s[0]), b = visible_of(t);
    if (!same_bytes(&a, &b)) fail_msg("seed %llu: a fresh replica disagrees", (unsigned long long)seed);
    free(a.p), free(b.p);
    seq_free(t);
    peers_free(&P);
  }
}

/* ---- non-interleaving ------------------------------------------------------------------ */

/* Types `word` (code points, each its own op) at `pos`, forwards or each before the last. */
static void type_word(seq *s, uint64_t node, size_t pos, const char *word, int backwards, seq_oplog *log) {
  const char *p[32];
  size_t lens[32], n = 0;
  for (const char *c = word; *c; c += lens[n++]) {
    p[n] = c;
    lens[n] = elem_size(SEQ_TEXT, (const uint8_t *)c, strlen(c));
  }
  for (size_t i = 0; i < n; i++) {
    size_t k = backwards ? n - 1 - i : i;
    seq_local_insert(s, node, backwards ? pos : pos + i, SEQ_ELEMS, (const uint8_t *)p[k], lens[k], 1, log);
  }
}

static void concurrent_words_never_interleave(void **unused) {
  (void)unused;
  static const char *const words[][2] = {{"abcd", "WXYZ"}, {"\xce\xb1\xce\xb2\xce\xb3", "\xf0\x9f\x98\x80xy\xf0\x9f\x98\x81"}, {"q", "RS"}};
  int cases = 0;
  for (uint64_t seed = 1; seed <= 300; seed++) {
    test_env e = {0, seed};
    uint64_t na = random_node(&e), nb = random_node(&e);
    if (na == nb) nb = na ^ 1 ? na ^ 1 : 2;
    const char *wa = words[seed % 3][0], *wb = words[seed % 3][1];
    int back_a = test_pick(&e, 2), back_b = test_pick(&e, 2);
    seq *a = seq_new(SEQ_TEXT), *b = seq_new(SEQ_TEXT);
    seq_oplog base = {0}, la = {0}, lb = {0};
    char msg[200] = "";
    /* A shared base ("mn", typed as one run or two), then both type at one place. */
    if (test_pick(&e, 2)) {
      seq_local_insert(a, na, 0, SEQ_ELEMS, (const uint8_t *)"mn", 2, 2, &base);
    } else {
      seq_local_insert(a, na, 0, SEQ_ELEMS, (const uint8_t *)"n", 1, 1, &base);
      seq_local_insert(a, na, 0, SEQ_ELEMS, (const uint8_t *)"m", 1, 1, &base);
    }
    for (size_t i = 0; i < base.count; i++) assert_int_equal(seq_op_apply(b, &base.ops[i], msg), 0);
    size_t pos = (size_t)test_pick(&e, 3);
    type_word(a, na, pos, wa, back_a, &la);
    type_word(b, nb, pos, wb, back_b, &lb);
    for (size_t i = 0; i < lb.count; i++) assert_int_equal(seq_op_apply(a, &lb.ops[i], msg), 0);
    for (size_t i = 0; i < la.count; i++) assert_int_equal(seq_op_apply(b, &la.ops[i], msg), 0);
    char *ta = seq_text_of(a, NULL), *tb = seq_text_of(b, NULL);
    if (strcmp(ta, tb)) fail_msg("seed %llu: replicas differ: %s / %s", (unsigned long long)seed, ta, tb);
    char one[64], two[64];
    const char *mn = "mn";
    snprintf(one, sizeof(one), "%.*s%s%s%s", (int)pos, mn, wa, wb, mn + pos);
    snprintf(two, sizeof(two), "%.*s%s%s%s", (int)pos, mn, wb, wa, mn + pos);
    if (strcmp(ta, one) && strcmp(ta, two))
      fail_msg("seed %llu (%s %s at %zu, %s/%s): interleaved: %s", (unsigned long long)seed, back_a ? "backwards" : "forwards",
               back_b ? "backwards" : "forwards", pos, wa, wb, ta);
    free(ta), free(tb);
    seq_oplog_clear(&base), seq_oplog_clear(&la), seq_oplog_clear(&lb);
    seq_free(a), seq_free(b);
    cases++;
  }
  assert_int_equal(cases, 300);
}

/* ---- the binary form ------------------------------------------------------------------- */

/* A damaged blob must be refused, or decode to a sound sequence that reads, writes and edits. */
static int decodes_soundly_or_is_refused(seq_kind kind, const uint8_t *blob, size_t len, const uint8_t *visible,
                                         size_t visible_len, const char *what) {
  char msg[200] = "";
  seq *d = seq_decode(kind, blob, len, visible, visible_len, msg);
  if (!d) {
    if (!msg[0]) fail_msg("%s: refused without a message", what);
    return 0;
  }
  if (seq_check(d, msg)) fail_msg("%s: decoded to an unsound sequence: %s", what, msg);
  bytes_buf v = visible_of(d);
  if (visible && (v.len != visible_len || memcmp(v.p, visible, visible_len)))
    fail_msg("%s: decoded, but not to the visible text it was given", what);
  /* What decodes re-encodes and decodes to the same. */
  bytes_buf again = encoded(d, 0);
  seq *twice = seq_decode(kind, again.p, again.len, NULL, 0, msg);
  if (!twice) fail_msg("%s: decoded, but its re-encoding does not: %s", what, msg);
  bytes_buf v2 = visible_of(twice);
  if (!same_bytes(&v, &v2)) fail_msg("%s: decoded, but does not round-trip", what);
  seq_id l, r;
  if (seq_origins_at(d, 0, SEQ_ELEMS, &l, &r, msg) == 0) {
    seq_id id = {99, seq_next_counter(d, 99)};
    const char *one = kind == SEQ_TEXT ? "z" : "\x01z";
    if (seq_insert(d, id, l, r, (const uint8_t *)one, strlen(one), 1, msg) == 0) assert_seq_sound(d, what);
  }
  free(v.p), free(v2.p), free(again.p);
  seq_free(twice);
  seq_free(d);
  return 1;
}

/* The blob of s decodes to its content and all its elements and re-encodes to the same bytes;
** with the visible content left out, it needs exactly that content. */
static void assert_blob_round_trips(const seq *s, const bytes_buf *blob, const bytes_buf *vis, int omit,
                                    const char *what) {
  char msg[200] = "";
  seq_kind kind = seq_get_kind(s);
  bytes_buf blob2 = encoded(s, omit);
  if (!same_bytes(blob, &blob2)) fail_msg("%s: encoding twice gave other bytes", what);
  seq *d = seq_decode(kind, blob->p, blob->len, omit ? vis->p : NULL, omit ? vis->len : 0, msg);
  if (!d) fail_msg("%s: %s", what, msg);
  assert_seq_sound(d, what);
  bytes_buf dv = visible_of(d), again = encoded(d, omit);
  if (!same_bytes(vis, &dv)) fail_msg("%s: decodes to other content", what);
  if (!same_bytes(blob, &again)) fail_msg("%s: re-encodes to other bytes", what);
  if (seq_elements(d) != seq_elements(s)) fail_msg("%s: tombstones lost", what);
  free(dv.p), free(again.p), free(blob2.p);
  seq_free(d);
  if (omit && vis->len > 0) {
    /* Without the text, or with a byte less or more, the blob does not decode. */
    if ((d = seq_decode(kind, blob->p, blob->len, NULL, 0, msg))) fail_msg("%s: decoded without its text", what);
    if ((d = seq_decode(kind, blob->p, blob->len, vis->p, vis->len - 1, msg)))
      fail_msg("%s: decoded with its text cut short", what);
    bytes_buf longer = {0};
    buf_add(&longer, vis->p, vis->len);
    buf_add(&longer, (const uint8_t *)"x", 1);
    if ((d = seq_decode(kind, blob->p, blob->len, longer.p, longer.len, msg)))
      fail_msg("%s: decoded with a longer text", what);
    free(longer.p);
  }
}

typedef struct damage_tally {
  long truncations, truncations_decoded, flips, flips_decoded;
} damage_tally;

/* Every truncation of the blob, and 200 copies with 1 to 3 bytes changed. */
static void damage_blob(test_env *e, seq_kind kind, const bytes_buf *blob, const uint8_t *given, size_t given_len,
                        damage_tally *t, const char *what) {
  for (size_t cut = 0; cut < blob->len; cut++) {
    t->truncations++;
    t->truncations_decoded += decodes_soundly_or_is_refused(kind, blob->p, cut, given, given_len, what);
  }
  for (int f = 0; f < 200; f++) {
    bytes_buf bad = {0};
    buf_add(&bad, blob->p, blob->len);
    for (int k = 1 + test_pick(e, 3); k > 0; k--) bad.p[test_pick(e, (int)bad.len)] ^= (uint8_t)(1 + test_pick(e, 255));
    t->flips++;
    t->flips_decoded += decodes_soundly_or_is_refused(kind, bad.p, bad.len, given, given_len, what);
    free(bad.p);
  }
}

static void blobs_round_trip_and_damage_is_refused_or_sound(void **unused) {
  (void)unused;
  damage_tally tally = {0};
  for (uint64_t seed = 1; seed <= 150; seed++) {
    peers P;
    seq_kind kind = seed % 4 == 0 ? SEQ_LIST : SEQ_TEXT;
    peers_init(&P, seed, kind, 2 + (int)(seed % 2));
    peers_run(&P, 5 + test_pick(&P.e, 80));
    peers_deliver_all(&P);
    for (int r = 0; r < P.k; r++) {
      for (int omit = 0; omit <= (kind == SEQ_TEXT); omit++) {
        char what[96];
        snprintf(what, sizeof(what), "seed %llu peer %d omit_visible %d", (unsigned long long)seed, r, omit);
        bytes_buf blob = encoded(P.s[r], omit), vis = visible_of(P.s[r]);
        assert_blob_round_trips(P.s[r], &blob, &vis, omit, what);
        damage_blob(&P.e, kind, &blob, omit ? vis.p : NULL, omit ? vis.len : 0, &tally, what);
        free(blob.p), free(vis.p);
      }
    }
    peers_free(&P);
  }
  print_message("%ld truncations (%ld decoded), %ld damaged blobs (%ld decoded)\n", tally.truncations,
                tally.truncations_decoded, tally.flips, tally.flips_decoded);
  assert_true(tally.truncations > 1000 && tally.flips > 10000);
}

/* ---- diffs ----------------------------------------------------------------------------- */

typedef struct diff_apply {
  seq_kind kind;
  seq_unit unit;
  bytes_buf text;
  size_t last_end; /* where the previous splice ended, in units of the edited text */
  int calls;
} diff_apply;

static size_t units_of(seq_kind kind, const uint8_t *p, size_t len, seq_unit unit) {
  size_t u = 0;
  for (size_t at = 0; at < len;) {
    size_t k = elem_size(kind, p + at, len - at);
    u += unit == SEQ_UTF16 && k == 4 ? 2 : 1;
    at += k;
  }
  return u;
}

static int apply_splice(void *ctx, size_t pos, size_t del, const uint8_t *ins, size_t ins_bytes, size_t ins_n) {
  diff_apply *d = ctx;
  if (del == 0 && ins_bytes == 0) fail_msg("an empty splice");
  if (d->calls && pos < d->last_end) fail_msg("splices out of document order");
  size_t at = offset_of(d->kind, d->text.p, d->text.len, pos, d->unit);
  size_t end = offset_of(d->kind, d->text.p, d->text.len, pos + del, d->unit);
  size_t count;
  free(elem_bounds(d->kind, ins, ins_bytes, &count));
  if (count != ins_n) fail_msg("ins_n %zu for %zu inserted elements", ins_n, count);
  splice(&d->text, at, end - at, ins, ins_bytes);
  d->last_end = pos + units_of(d->kind, ins, ins_bytes, d->unit);
  d->calls++;
  return 0;
}

static void diff_and_check(const seq *before, const seq *after, seq_unit unit, uint64_t seed) {
  diff_apply d = {seq_get_kind(before), unit, visible_of(before), 0, 0};
  assert_int_equal(seq_diff(before, after, unit, apply_splice, &d), 0);
  bytes_buf want = visible_of(after);
  if (!same_bytes(&d.text, &want))
    fail_msg("seed %llu: the diff's splices (%s) do not give the later content", (unsigned long long)seed,
             unit == SEQ_UTF16 ? "UTF-16" : "elements");
  free(want.p);
  free(d.text.p);
}

static int never_called(void *ctx, size_t pos, size_t del, const uint8_t *ins, size_t ins_bytes, size_t ins_n) {
  fail_msg("a diff of a sequence with itself called back");
  return 1;
}

static int stop_at_first(void *ctx, size_t pos, size_t del, const uint8_t *ins, size_t ins_bytes, size_t ins_n) {
  (*(int *)ctx)++;
  return 7;
}

static void diffs_turn_the_earlier_text_into_the_later(void **unused) {
  (void)unused;
  int stopped = 0;
  for (uint64_t seed = 1; seed <= 400; seed++) {
    peers P;
    seq_kind kind = seed % 4 == 0 ? SEQ_LIST : SEQ_TEXT;
    peers_init(&P, seed, kind, 2 + (int)(seed % 3));
    peers_run(&P, 5 + test_pick(&P.e, 50));
    /* Peer 0 as it was at some point of its history, rebuilt from the ops it had applied. */
    size_t upto = P.nhistory[0] ? (size_t)test_pick(&P.e, (int)P.nhistory[0] + 1) : 0;
    peers_run(&P, test_pick(&P.e, 50));
    if (test_pick(&P.e, 2)) peers_deliver_all(&P);
    seq *before = seq_new(kind);
    char msg[200] = "";
    for (size_t h = 0; h < upto; h++)
      if (seq_op_apply(before, &P.own[P.history[0][h][0]][P.history[0][h][1]].op, msg)) fail_msg("rebuild: %s", msg);
    diff_and_check(before, P.s[0], SEQ_ELEMS, seed);
    if (kind == SEQ_TEXT) diff_and_check(before, P.s[0], SEQ_UTF16, seed);
    assert_int_equal(seq_diff(P.s[0], P.s[0], SEQ_ELEMS, never_called, NULL), 0);
    /* A callback's non-zero return stops the diff and is its answer. */
    int calls = 0;
    bytes_buf a = visible_of(before), b = visible_of(P.s[0]);
    if (!same_bytes(&a, &b)) {
      assert_int_equal(seq_diff(before, P.s[0], SEQ_ELEMS, stop_at_first, &calls), 7);
      assert_int_equal(calls, 1);
      stopped++;
    }
    free(a.p), free(b.p);
    seq_free(before);
    peers_free(&P);
  }
  assert_true(stopped > 200);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(edits_by_position_give_the_spliced_text),
      cmocka_unit_test(ids_in_gives_ranges_of_consecutive_ids_in_document_order),
      cmocka_unit_test(utf16_positions_count_surrogate_pairs_and_refuse_their_middle),
      cmocka_unit_test(duplicates_change_nothing),
      cmocka_unit_test(partial_unknown_and_oversized_operations_are_refused),
      cmocka_unit_test(list_elements_are_length_prefixed_byte_strings),
      cmocka_unit_test(list_content_that_does_not_match_its_count_is_refused),
      cmocka_unit_test(replicas_converge_under_any_causal_delivery),
      cmocka_unit_test(sequential_edits_and_a_late_replica_agree),
      cmocka_unit_test(concurrent_words_never_interleave),
      cmocka_unit_test(blobs_round_trip_and_damage_is_refused_or_sound),
      cmocka_unit_test(diffs_turn_the_earlier_text_into_the_later),
  };
  return cmocka_run_group_tests_name("seq", tests, NULL, NULL);
}
