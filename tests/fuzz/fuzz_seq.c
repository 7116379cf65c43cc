/*
** fuzz_seq.c -- libFuzzer target for the sequence CRDT (wasm/src/seq.h) and the text and list
** field policies on it (wasm/src/merge_seq.h): blobs a database hands back, operations from
** devices the core must not trust, and field operations as pushed.
**
** Input: the first byte picks the mode (its value modulo 4); the rest is the mode's.
**   0     A byte of options (bit 0: a list; bit 1: the visible content given apart, its length
**         in the next byte, then those bytes), then a blob for seq_decode. A blob that decodes
**         passes seq_check; it encodes, in both forms, to blobs that decode to the same content
**         and encode to the same bytes again; inserts and a deletion by position keep it sound;
**         and seq_diff from the decoded state to the edited one gives splices that turn the one
**         content into the other.
**   1, 2  Commands on three replicas of a text (1) or a list (2), a byte each and its arguments
**         from the bytes after it (see run_command): inserts with ids of a few devices, origins
**         known or not, content perhaps not UTF-8 or not matching its count; deletions of id
**         ranges; inserts and deletions at positions, as an editor makes them; deliveries of
**         logged operations; full syncs; a replica re-encoded; a diff against an earlier state.
**         An operation a replica accepts is logged. A refused one must leave the replica's
**         encoded form as it was; delivering one again must succeed and change nothing. A sync
**         delivers the log in order to every replica, which must accept all of it (an
**         operation's ids and origins were all logged before it); then the replicas' content,
**         lengths and element counts must be equal. Ids stay unique: an insert claiming ids
**         another logged insert holds is not made. A made-up insert that no device keeping its
**         ids would make (a counter below the device's last, or made without the device's
**         earlier inserts) is applied all the same, but that run's syncs skip both checks.
**   3     A byte choosing the field (0: the text field, 1: the list field, 2: the rest is the
**         whole payload), then JSON text: the field operation of a patch, parsed by
**         sloop_op_parse and applied with sloop_apply to a record state built from valid
**         operations (a text with tombstones, a list with a move). A refused operation leaves
**         the state printed byte for byte as it was (both are printed when it does not); an
**         applied one leaves sequences that load and pass seq_check, applies in place alike,
**         and applying it again shows the same document.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "merge.h"
#include "merge_seq.h"
#include "seq.h"
#include "sloop.h"

#define NREPLICAS 3
#define MAX_LOG 256
#define MAX_COMMANDS 300

static void die(const char *what, const char *detail) {
  fprintf(stderr, "fuzz_seq: %s%s%s\n", what, detail && *detail ? ": " : "", detail ? detail : "");
  abort();
}

/* The input as a stream of bytes; past its end every byte reads 0. */
typedef struct reader {
  const uint8_t *p;
  size_t n, at;
} reader;

static uint8_t next(reader *rd) { return rd->at < rd->n ? rd->p[rd->at++] : 0; }

/* ---------------------------------------------------------------- content ------------ */

typedef struct bytes {
  uint8_t *p;
  size_t len, cap;
} bytes;

static void bytes_add(bytes *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2 + 16;
    b->p = realloc(b->p, b->cap);
    if (!b->p) die("out of memory", NULL);
  }
  if (n) memcpy(b->p + b->len, p, n);
  b->len += n;
}

static int same_bytes(const bytes *a, const bytes *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static int add_stretch(void *ctx, const uint8_t *p, size_t len, uint32_t n) {
  (void)n;
  bytes_add(ctx, p, len);
  return 0;
}

/* The visible content as seq_encode writes it (text: UTF-8; list: LEB128-prefixed elements).
** Never a NULL pointer, even when empty: seq_decode takes NULL for "the blob holds it". */
static bytes visible(const seq *s) {
  bytes b = {malloc(16), 0, 16};
  if (!b.p) die("out of memory", NULL);
  seq_each_visible(s, add_stretch, &b);
  return b;
}

/* The encoded form, for comparing states byte for byte. */
static bytes encoded(const seq *s, int omit_visible) {
  bytes b = {0};
  if (seq_encode(s, omit_visible, &b.p, &b.len)) die("seq_encode ran out of memory", NULL);
  return b;
}

static void sound(const seq *s, const char *when) {
  char msg[200] = "";
  if (seq_check(s, msg)) die(when, msg);
}

/* Bytes of the element at p: a UTF-8 code point, or a LEB128 length and that many bytes. */
static size_t element_len(seq_kind kind, const uint8_t *p, size_t left) {
  size_t n = 0, k = 0;
  if (kind == SEQ_TEXT) n = p[0] < 0x80 ? 1 : p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
  else {
    for (int shift = 0; k < left; shift += 7) {
      uint8_t c = p[k++];
      if (shift < 56) n |= (size_t)(c & 0x7f) << shift;
      if (!(c & 0x80)) break;
    }
    n = n <= left - k ? n + k : left;
  }
  return n <= left ? n : left;
}

/* Content as elements, to splice by position: replays what seq_diff reports. */
typedef struct elements {
  seq_kind kind;
  bytes *items;
  size_t n, cap;
  int bad;
} elements;

static void elements_splice(elements *e, size_t at, size_t del, const uint8_t *p, size_t len) {
  for (size_t i = at; i < at + del; i++) free(e->items[i].p);
  if (del) memmove(e->items + at, e->items + at + del, (e->n - at - del) * sizeof(bytes));
  e->n -= del;
  for (size_t k = 0; k < len; at++) {
    if (e->n == e->cap) {
      e->cap = e->cap * 2 + 8;
      e->items = realloc(e->items, e->cap * sizeof(bytes));
      if (!e->items) die("out of memory", NULL);
    }
    memmove(e->items + at + 1, e->items + at, (e->n - at) * sizeof(bytes));
    e->n++;
    size_t l = element_len(e->kind, p + k, len - k);
    e->items[at] = (bytes){0};
    bytes_add(&e->items[at], p + k, l);
    k += l;
  }
}

static int replay_splice(void *ctx, size_t pos, size_t del, const uint8_t *ins, size_t ins_bytes, size_t ins_n) {
  elements *e = ctx;
  size_t before = e->n;
  if (pos > e->n || del > e->n - pos) return e->bad = 1;
  elements_splice(e, pos, del, ins, ins_bytes);
  if (e->n != before - del + ins_n) return e->bad = 1;
  return 0;
}

/* seq_diff(before, after), replayed on before's content, must give after's. */
static void check_diff(const seq *before, const seq *after) {
  elements e = {seq_get_kind(after), NULL, 0, 0, 0};
  bytes was = visible(before), now = visible(after), got = {0};
  elements_splice(&e, 0, 0, was.p, was.len);
  if (seq_diff(before, after, SEQ_ELEMS, replay_splice, &e) == -1) die("seq_diff ran out of memory", NULL);
  if (e.bad) die("seq_diff reported a splice outside the content or miscounted one", NULL);
  for (size_t i = 0; i < e.n; i++) bytes_add(&got, e.items[i].p, e.items[i].len), free(e.items[i].p);
  if (!same_bytes(&got, &now)) die("seq_diff's splices do not turn the earlier content into the later", NULL);
  free(e.items);
  free(got.p);
  free(was.p);
  free(now.p);
}

static seq *copy_of(const seq *s) {
  bytes blob = encoded(s, 0);
  char msg[200] = "";
  seq *c = seq_decode(seq_get_kind(s), blob.p, blob.len, NULL, 0, msg);
  if (!c) die("a sequence's own encoding does not decode", msg);
  free(blob.p);
  return c;
}

/* Encodes in one form, decodes: the copy is sound, shows the same, counts the same, and
** encodes to the same bytes. */
static void round_trip(const seq *s, int omit_visible) {
  bytes blob = encoded(s, omit_visible), shown = visible(s);
  char msg[200] = "";
  seq *c = seq_decode(seq_get_kind(s), blob.p, blob.len, omit_visible ? shown.p : NULL, omit_visible ? shown.len : 0, msg);
  if (!c) die("an encoded sequence does not decode", msg);
  sound(c, "a decoded copy fails seq_check");
  bytes shown2 = visible(c), again = encoded(c, omit_visible);
  if (!same_bytes(&shown, &shown2)) die("a decoded copy shows other content", NULL);
  if (!same_bytes(&blob, &again)) die("a decoded copy encodes to other bytes", NULL);
  if (seq_elements(c) != seq_elements(s) || seq_length(c, SEQ_ELEMS) != seq_length(s, SEQ_ELEMS) ||
      seq_length(c, SEQ_UTF16) != seq_length(s, SEQ_UTF16))
    die("a decoded copy counts otherwise", NULL);
  seq_free(c);
  free(blob.p), free(shown.p), free(shown2.p), free(again.p);
}

/* The ranges of ids seq_ids_in reports, gathered before any is deleted (deleting splits runs). */
typedef struct ranges {
  seq_id id[512];
  uint32_t n[512];
  size_t count;
} ranges;

static int gather(void *ctx, seq_id id, uint32_t n) {
  ranges *r = ctx;
  if (r->count == 512) return 1;
  r->id[r->count] = id, r->n[r->count++] = n;
  return 0;
}

/* ---------------------------------------------------------------- mode 0: decode ----- */

/* One element of content for a local insert: text a surrogate pair in UTF-16, list "1". */
static const uint8_t kTextOne[] = {0xf0, 0x9f, 0x94, 0xa7};
static const uint8_t kListOne[] = {2, 'v', '1'};

/* Inserts at the start, the middle and the end, and deletes the middle third, as an editor. */
static void edit_decoded(seq *s) {
  char msg[200] = "";
  const uint64_t node = 0x7777777777777777ull;
  int text = seq_get_kind(s) == SEQ_TEXT;
  for (int k = 0; k < 3; k++) {
    size_t len = seq_length(s, SEQ_ELEMS), at = k == 0 ? 0 : k == 1 ? len / 2 : len;
    seq_id l, r, id = {node, seq_next_counter(s, node)};
    if (seq_origins_at(s, at, SEQ_ELEMS, &l, &r, msg)) die("seq_origins_at refused a place inside the content", msg);
    if (id.seq > SEQ_MAX_COUNTER - 1 || seq_elements(s) >= SEQ_MAX_ELEMS) return;
    if (seq_insert(s, id, l, r, text ? kTextOne : kListOne, text ? sizeof(kTextOne) : sizeof(kListOne), 1, msg))
      die("an insert by position into a decoded sequence is refused", msg);
    sound(s, "seq_check after an insert by position");
  }
  size_t len = seq_length(s, SEQ_ELEMS);
  static ranges r;
  r.count = 0;
  if (seq_ids_in(s, len / 3, len / 3, SEQ_ELEMS, gather, &r, msg) == -1) die("seq_ids_in refused a range inside", msg);
  for (size_t i = 0; i < r.count; i++)
    if (seq_delete(s, r.id[i], r.n[i], msg)) die("a deletion by position is refused", msg);
  sound(s, "seq_check after a deletion by position");
  if (r.count < 512 && seq_length(s, SEQ_ELEMS) != len - len / 3) die("a deletion removed another count", NULL);
}

static void decode_mode(reader *rd) {
  uint8_t opts = next(rd);
  seq_kind kind = opts & 1 ? SEQ_LIST : SEQ_TEXT;
  const uint8_t *shown = NULL;
  size_t shown_len = 0;
  if (opts & 2) {
    shown_len = next(rd);
    if (shown_len > rd->n - rd->at) shown_len = rd->n - rd->at;
    shown = rd->p + rd->at;
    rd->at += shown_len;
  }
  char msg[200] = "";
  seq *s = seq_decode(kind, rd->p + rd->at, rd->n - rd->at, shown, shown_len, msg);
  if (!s) return;
  sound(s, "a decoded blob fails seq_check");
  if (seq_get_kind(s) != kind) die("a blob decoded as another kind", NULL);
  if (kind == SEQ_TEXT) {
    char *text = NULL;
    size_t len = 0;
    uint32_t points = 0, units = 0;
    if (seq_text(s, &text, &len)) die("seq_text ran out of memory", NULL);
    if (len && !seq_utf8_count((const uint8_t *)text, len, &points, &units)) die("a decoded text is not UTF-8", NULL);
    if (points != seq_length(s, SEQ_ELEMS) || units != seq_length(s, SEQ_UTF16) || strlen(text) != len)
      die("a decoded text's lengths disagree with its content", NULL);
    free(text);
  }
  round_trip(s, 0);
  round_trip(s, 1);
  seq *before = copy_of(s);
  edit_decoded(s);
  check_diff(before, s);
  round_trip(s, 0);
  seq_free(before);
  seq_free(s);
}

/* ---------------------------------------------------------------- modes 1, 2: replicas */

/* An operation some replica accepted, as its device would send it. */
typedef struct logged {
  int is_delete;
  seq_id id, left, right;
  uint32_t n;
  bytes content;
} logged;

typedef struct replicas {
  seq_kind kind;
  seq *r[NREPLICAS];
  seq *earlier[NREPLICAS]; /* the state the diff command compares with */
  logged log[MAX_LOG];
  int nlog;
  uint8_t applied[NREPLICAS][MAX_LOG];
  uint32_t next_counter[4]; /* per device: past every counter logged */
  int byzantine;            /* an insert was logged that no device keeping its ids makes */
} replicas;

/* Replica i is device i; the fourth device has no replica, only operations made up for it. */
static const uint64_t kNodes[4] = {0x1111111111111111ull, 0x2222222222222222ull, 0x3333333333333333ull, 0xffull};
static int node_index(uint64_t node) {
  for (int k = 0; k < 4; k++)
    if (kNodes[k] == node) return k;
  return -1;
}

/* Applies op to replica i. A refusal must leave its encoded form as it was; so must an
** operation it already applied, which it must accept. Returns 0 or -1 (refused). */
static int apply_op(replicas *w, int i, const logged *op, int again) {
  bytes before = encoded(w->r[i], 0);
  char msg[200] = "";
  int rc = op->is_delete ? seq_delete(w->r[i], op->id, op->n, msg)
                         : seq_insert(w->r[i], op->id, op->left, op->right, op->content.p, op->content.len, op->n, msg);
  if (rc && again) die("a replica refuses an operation it applied before", msg);
  bytes after = encoded(w->r[i], 0);
  if ((rc || again) && !same_bytes(&before, &after))
    die(rc ? "a refused operation changed the replica" : "an operation applied again changed the replica", msg);
  if (!rc) sound(w->r[i], "seq_check after an operation");
  free(before.p);
  free(after.p);
  return rc ? -1 : 0;
}

/* Keeps an operation replica i accepted (the log owns a copy of its content). */
static void log_op(replicas *w, int i, const logged *op) {
  logged *kept = &w->log[w->nlog];
  *kept = *op;
  kept->content = (bytes){0};
  bytes_add(&kept->content, op->content.p, op->content.len);
  w->applied[i][w->nlog++] = 1;
  int k = node_index(op->id.node);
  if (!op->is_delete && k >= 0 && op->id.seq + op->n > w->next_counter[k]) w->next_counter[k] = op->id.seq + op->n;
}

/* Whether replica i holds every logged insert of device k: a device makes its inserts one
** after another, each knowing the ones before (two concurrent inserts of one device have no
** order to be merged in). */
static int caught_up(const replicas *w, int i, int k) {
  for (int j = 0; j < w->nlog; j++)
    if (!w->log[j].is_delete && w->log[j].id.node == kNodes[k] && !w->applied[i][j]) return 0;
  return 1;
}

/* Whether an insert of ids (node, seq .. seq+n-1) claims ids a logged insert holds. */
static int ids_taken(const replicas *w, seq_id id, uint32_t n) {
  for (int k = 0; k < w->nlog; k++) {
    const logged *o = &w->log[k];
    if (!o->is_delete && o->id.node == id.node && id.seq < o->id.seq + o->n && o->id.seq < id.seq + n) return 1;
  }
  return 0;
}

/* Text: é € 🔧 日 and ASCII, so UTF-16 positions fall inside surrogate pairs now and then. */
static const char *const kPoints[] = {"a", "b", " ", "\n", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x94\xa7", "\xe6\x97\xa5"};

/* Content for n elements. how 0, 1: well formed (text from kPoints, list elements of 0..3 bytes);
** 2: raw bytes from the input (perhaps not UTF-8, not n elements); 3: well formed but for n+1
** elements, or (text) with a NUL. */
static void make_content(reader *rd, seq_kind kind, uint32_t n, int how, bytes *out) {
  if (how == 2) {
    for (int len = next(rd) % 24; len > 0; len--) {
      uint8_t c = next(rd);
      bytes_add(out, &c, 1);
    }
    return;
  }
  uint32_t count = how == 3 && kind == SEQ_LIST ? n + 1 : n;
  for (uint32_t k = 0; k < count; k++) {
    uint8_t c = next(rd);
    if (kind == SEQ_TEXT) {
      const char *pt = how == 3 && k == 0 ? "" : kPoints[c & 7];
      bytes_add(out, pt, how == 3 && k == 0 ? 1 : strlen(pt)); /* "" with its NUL */
    } else {
      uint8_t len = c & 3;
      bytes_add(out, &len, 1);
      for (uint8_t j = 0; j < len; j++) bytes_add(out, &(uint8_t){next(rd)}, 1);
    }
  }
}

/* An origin for a made-up insert: 0 none, 1 an id a logged insert holds, 2 any id of the four
** devices (3, what an editor would name, is made_up_insert's). */
static seq_id pick_origin(reader *rd, replicas *w, int how) {
  seq_id none = {0, 0};
  if (how == 1) {
    int k = w->nlog ? next(rd) % w->nlog : 0;
    if (!w->nlog || w->log[k].is_delete) return none;
    return (seq_id){w->log[k].id.node, w->log[k].id.seq + next(rd) % w->log[k].n};
  }
  if (how == 2) return (seq_id){kNodes[next(rd) & 3], next(rd)};
  return none;
}

static int same_id(seq_id a, seq_id b) { return a.node == b.node && a.seq == b.seq; }

/* Whether an editor of s could name these origins: left the element before some position
** (or none at the start) and right the element, live or not, right after it. FugueMax orders
** concurrent inserts by their origins as such; other pairs (a right origin further on) are
** placed in the order they arrive. */
static int editor_origins(const seq *s, seq_id left, seq_id right) {
  char msg[200];
  for (size_t pos = 0, len = seq_length(s, SEQ_ELEMS); pos <= len; pos++) {
    seq_id l, r;
    if (!seq_origins_at(s, pos, SEQ_ELEMS, &l, &r, msg) && same_id(l, left) && same_id(r, right)) return 1;
  }
  return 0;
}

/* Command 0: an insert made up from the input, offered to replica i. */
static void made_up_insert(reader *rd, replicas *w, int i, int opt) {
  uint8_t a = next(rd), o = next(rd);
  logged op = {0};
  op.n = 1 + ((a >> 2) & 7);
  op.id = (seq_id){kNodes[a & 3], opt & 1 ? SEQ_MAX_COUNTER - 4 + (next(rd) & 7) : next(rd)};
  seq_id at_l = {0, 0}, at_r = {0, 0};
  if ((o & 3) == 3 || ((o >> 2) & 3) == 3) {
    char msg[200];
    if (seq_origins_at(w->r[i], next(rd) % (seq_length(w->r[i], SEQ_ELEMS) + 1), SEQ_ELEMS, &at_l, &at_r, msg))
      die("seq_origins_at refused a place inside the content", msg);
  }
  op.left = (o & 3) == 3 ? at_l : pick_origin(rd, w, o & 3);
  op.right = ((o >> 2) & 3) == 3 ? at_r : pick_origin(rd, w, (o >> 2) & 3);
  make_content(rd, w->kind, op.n, (o >> 4) & 3, &op.content);
  int editor = editor_origins(w->r[i], op.left, op.right); /* before the insert */
  if (!ids_taken(w, op.id, op.n) && apply_op(w, i, &op, 0) == 0) {
    /* An insert no device keeping its ids makes (a counter below the device's last, made
    ** without its earlier inserts) or no editor makes (origins not neighbours): still applied,
    ** for the checks of each apply, but the run is no longer compared for convergence. */
    if (op.id.seq < w->next_counter[a & 3] || !caught_up(w, i, a & 3) || !editor) w->byzantine = 1;
    log_op(w, i, &op);
  }
  free(op.content.p);
}

/* Command 1: an insert at a position of replica i, as an editor makes it (opt bit 0: the
** position in UTF-16 units). It must be accepted unless the position splits a surrogate pair. */
static void editor_insert(reader *rd, replicas *w, int i, int opt) {
  seq *s = w->r[i];
  seq_unit unit = w->kind == SEQ_TEXT && (opt & 1) ? SEQ_UTF16 : SEQ_ELEMS;
  logged op = {0};
  char msg[200] = "";
  size_t pos = next(rd) % (seq_length(s, unit) + 1);
  op.n = 1 + next(rd) % 6;
  if (!caught_up(w, i, i)) return; /* the device would type after its own earlier inserts */
  op.id = (seq_id){kNodes[i], seq_next_counter(s, kNodes[i])};
  if (op.id.seq < w->next_counter[i]) op.id.seq = w->next_counter[i];
  if (op.id.seq > SEQ_MAX_COUNTER - op.n) return;
  if (seq_origins_at(s, pos, unit, &op.left, &op.right, msg)) {
    if (unit == SEQ_UTF16) return;
    die("seq_origins_at refused a place inside the content", msg);
  }
  make_content(rd, w->kind, op.n, 0, &op.content);
  if (apply_op(w, i, &op, 0)) die("an insert by position is refused", NULL);
  log_op(w, i, &op);
  free(op.content.p);
}

/* Command 2: a deletion of an id range made up from the input (opt bit 0: of a logged insert's
** ids; bit 1: a long range). */
static void made_up_delete(reader *rd, replicas *w, int i, int opt) {
  logged op = {0};
  uint8_t a = next(rd);
  op.is_delete = 1;
  op.id = (seq_id){kNodes[a & 3], next(rd)};
  op.n = opt & 2 ? 1 + (uint32_t)next(rd) * 65536 : 1 + next(rd) % 12;
  if ((opt & 1) && w->nlog) {
    const logged *o = &w->log[next(rd) % w->nlog];
    uint32_t off = next(rd) % o->n;
    op.id = (seq_id){o->id.node, o->id.seq + off};
    if (!(opt & 2)) op.n = 1 + next(rd) % (o->n - off);
  }
  if (apply_op(w, i, &op, 0) == 0) log_op(w, i, &op);
}

/* Command 3: a deletion of [pos, pos+len) of replica i, as an editor makes it: one operation
** per range of consecutive ids, each accepted. */
static void editor_delete(reader *rd, replicas *w, int i, int opt) {
  seq *s = w->r[i];
  seq_unit unit = w->kind == SEQ_TEXT && (opt & 1) ? SEQ_UTF16 : SEQ_ELEMS;
  size_t total = seq_length(s, unit), pos = next(rd) % (total + 1), len = next(rd) % (total - pos + 1);
  static ranges r;
  char msg[200] = "";
  r.count = 0;
  if (seq_ids_in(s, pos, len, unit, gather, &r, msg) == -1) {
    if (unit == SEQ_UTF16) return; /* a range splitting a surrogate pair */
    die("seq_ids_in refused a range inside the content", msg);
  }
  for (size_t k = 0; k < r.count && w->nlog < MAX_LOG; k++) {
    logged op = {1, r.id[k], {0, 0}, {0, 0}, r.n[k], {0}};
    if (apply_op(w, i, &op, 0)) die("a deletion by position is refused", NULL);
    log_op(w, i, &op);
  }
}

/* Command 5: every replica receives the whole log in order and must accept all of it: each
** operation was accepted by a replica holding only operations logged before it. Then all
** replicas show the same, unless a byzantine insert was logged. */
static void sync_all(replicas *w) {
  for (int i = 0; i < NREPLICAS; i++)
    for (int k = 0; k < w->nlog; k++) {
      if (w->applied[i][k]) continue;
      if (apply_op(w, i, &w->log[k], 0) == 0) w->applied[i][k] = 1;
      else if (!w->byzantine) {
        char what[120];
        snprintf(what, sizeof(what), "replica %d refuses logged operation %d after every operation before it", i, k);
        die(what, NULL);
      }
    }
  if (w->byzantine) return;
  bytes first = visible(w->r[0]);
  for (int i = 1; i < NREPLICAS; i++) {
    bytes other = visible(w->r[i]);
    if (!same_bytes(&first, &other)) die("replicas that applied the same operations show different content", NULL);
    if (seq_length(w->r[i], SEQ_ELEMS) != seq_length(w->r[0], SEQ_ELEMS) ||
        seq_length(w->r[i], SEQ_UTF16) != seq_length(w->r[0], SEQ_UTF16) ||
        seq_elements(w->r[i]) != seq_elements(w->r[0]))
      die("replicas that applied the same operations count differently", NULL);
    free(other.p);
  }
  free(first.p);
}

static void run_command(reader *rd, replicas *w) {
  uint8_t c = next(rd);
  int i = ((c >> 3) & 3) % NREPLICAS, opt = c >> 5;
  if (w->nlog >= MAX_LOG && (c & 7) < 4) return;
  switch (c & 7) {
    case 0: made_up_insert(rd, w, i, opt); break;
    case 1: editor_insert(rd, w, i, opt); break;
    case 2: made_up_delete(rd, w, i, opt); break;
    case 3: editor_delete(rd, w, i, opt); break;
    case 4: { /* a delivery of logged operation k, perhaps again */
      int k = w->nlog ? next(rd) % w->nlog : -1;
      if (k >= 0 && apply_op(w, i, &w->log[k], w->applied[i][k]) == 0) w->applied[i][k] = 1;
      break;
    }
    case 5: sync_all(w); break;
    case 6: { /* the replica stored and loaded, in either form */
      bytes shown = visible(w->r[i]), blob = encoded(w->r[i], opt & 1);
      char msg[200] = "";
      seq *c2 = seq_decode(w->kind, blob.p, blob.len, (opt & 1) ? shown.p : NULL, (opt & 1) ? shown.len : 0, msg);
      if (!c2) die("a replica's encoding does not decode", msg);
      seq_free(w->r[i]);
      w->r[i] = c2;
      free(shown.p), free(blob.p);
      break;
    }
    default: /* what changed since the last diff of this replica */
      if (w->earlier[i]) check_diff(w->earlier[i], w->r[i]), seq_free(w->earlier[i]);
      w->earlier[i] = copy_of(w->r[i]);
  }
}

static void replicas_mode(reader *rd, seq_kind kind) {
  static replicas w;
  memset(&w, 0, sizeof(w));
  w.kind = kind;
  for (int i = 0; i < NREPLICAS; i++) w.r[i] = seq_new(kind);
  for (int k = 0; k < MAX_COMMANDS && rd->at < rd->n; k++) run_command(rd, &w);
  sync_all(&w);
  for (int i = 0; i < NREPLICAS; i++) {
    if (w.earlier[i]) check_diff(w.earlier[i], w.r[i]);
    seq_free(w.earlier[i]);
    seq_free(w.r[i]);
  }
  for (int k = 0; k < w.nlog; k++) free(w.log[k].content.p);
}

/* ---------------------------------------------------------------- mode 3: field ops -- */

static const char kSchema[] =
    "{\"collections\": {\"notes\": {\"fields\": {\"title\": \"lww\", \"findings\": \"text\", \"steps\": \"list\"}}}}";

/* Valid operations of two devices: "Seal worn." and [drain, open, inspect]; " badly" typed
** after "Seal" and "worn" deleted, "inspect" moved to the front; "open" removed and "!" typed
** at the end. */
#define DEV_A "00000000000000aa"
#define DEV_B "00000000000000bb"
static const char *const kSetup[] = {
    "{\"id\":\"" DEV_A ":1\",\"type\":\"put\",\"coll\":\"notes\",\"rid\":\"n1\",\"hlc\":\"018bcfe5fa00-0000-" DEV_A "\","
    "\"base\":0,\"payload\":{\"title\":{\"set\":\"t\"},\"findings\":{\"seq\":[{\"i\":\"" DEV_A ":1\",\"s\":\"Seal worn.\"}]},"
    "\"steps\":{\"seq\":[{\"i\":\"" DEV_A ":20\",\"v\":[\"drain\",\"open\",\"inspect\"]}]}}}",
    "{\"id\":\"" DEV_B ":1\",\"type\":\"patch\",\"coll\":\"notes\",\"rid\":\"n1\",\"hlc\":\"018bcfe5fa10-0000-" DEV_B "\","
    "\"base\":1,\"payload\":{\"findings\":{\"seq\":[{\"i\":\"" DEV_B ":1\",\"l\":\"" DEV_A ":4\",\"r\":\"" DEV_A ":5\","
    "\"s\":\" badly\"},{\"d\":\"" DEV_A ":6\",\"n\":4}]},\"steps\":{\"seq\":[{\"i\":\"" DEV_B ":10\",\"r\":\"" DEV_A ":20\","
    "\"mv\":\"" DEV_A ":22\"}]}}}",
    "{\"id\":\"" DEV_A ":2\",\"type\":\"patch\",\"coll\":\"notes\",\"rid\":\"n1\",\"hlc\":\"018bcfe5fa20-0000-" DEV_A "\","
    "\"base\":2,\"payload\":{\"steps\":{\"seq\":[{\"d\":\"" DEV_A ":21\",\"n\":1}]},\"findings\":{\"seq\":[{\"i\":\""
    DEV_A ":30\",\"l\":\"" DEV_A ":10\",\"s\":\"!\"}]}}}",
};

static sloop_schema g_schema;
static char *g_state; /* the record state the setup operations make, printed */

static int apply_text(const char *op_json, cJSON *state, int64_t version, sloop_apply_result *res) {
  cJSON *json = cJSON_Parse(op_json);
  sloop_op op;
  char msg[200] = "";
  if (!json || sloop_op_parse(&g_schema, json, &op, msg)) die("a setup operation does not parse", msg);
  sloop_apply_ctx ctx = {version, NULL, NULL, 0};
  int rc = sloop_apply(sloop_schema_coll(&g_schema, "notes"), state, &op, &ctx, res);
  cJSON_Delete(res->conflicts);
  cJSON_Delete(json);
  return rc;
}

static void setup_state(void) {
  char msg[200] = "";
  if (sloop_schema_parse(kSchema, strlen(kSchema), &g_schema, msg)) die("schema", msg);
  cJSON *state = cJSON_CreateObject();
  for (size_t k = 0; k < sizeof(kSetup) / sizeof(kSetup[0]); k++) {
    sloop_apply_result res;
    if (apply_text(kSetup[k], state, (int64_t)k + 1, &res) || res.outcome != SLOOP_APPLIED)
      die("a setup operation does not apply", res.message);
  }
  cJSON *doc = sloop_materialize(sloop_schema_coll(&g_schema, "notes"), state);
  char *shown = cJSON_PrintUnformatted(doc);
  if (!shown || strcmp(shown, "{\"findings\":\"Seal badly .!\",\"steps\":[\"inspect\",\"drain\"],\"title\":\"t\"}") != 0)
    die("the setup state shows", shown);
  free(shown);
  cJSON_Delete(doc);
  g_state = cJSON_PrintUnformatted(state);
  cJSON_Delete(state);
}

/* Every text and list field of an applied state loads and passes seq_check. */
static void fields_sound(const cJSON *state) {
  const cJSON *fs;
  cJSON_ArrayForEach(fs, cJSON_GetObjectItemCaseSensitive(state, "f")) {
    sloop_policy p = sloop_field_policy(sloop_schema_coll(&g_schema, "notes"), fs->string);
    if (p != SLOOP_POLICY_TEXT && p != SLOOP_POLICY_LIST) continue;
    seq *s = NULL;
    char msg[200] = "";
    if (sloop_seq_field_load(fs, p, &s, msg)) die("an applied field state does not load", msg);
    sound(s, "an applied field state fails seq_check");
    seq_free(s);
  }
}

static char *shown_doc(const cJSON *state) {
  cJSON *doc = sloop_materialize(sloop_schema_coll(&g_schema, "notes"), state);
  char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
  cJSON_Delete(doc);
  return text;
}

static void field_op_mode(reader *rd) {
  if (!g_state) setup_state();
  uint8_t which = next(rd) % 3;
  cJSON *in = cJSON_ParseWithLength((const char *)rd->p + rd->at, rd->n - rd->at);
  if (!in) return;
  cJSON *op = cJSON_CreateObject();
  cJSON_AddStringToObject(op, "id", "00000000000000cc:1");
  cJSON_AddStringToObject(op, "type", "patch");
  cJSON_AddStringToObject(op, "coll", "notes");
  cJSON_AddStringToObject(op, "rid", "n1");
  cJSON_AddStringToObject(op, "hlc", "018bcfe5fb00-0000-00000000000000cc");
  cJSON_AddNumberToObject(op, "base", 3);
  if (which == 2) cJSON_AddItemToObject(op, "payload", in);
  else cJSON_AddItemToObject(cJSON_AddObjectToObject(op, "payload"), which ? "steps" : "findings", in);
  sloop_op parsed;
  char msg[200] = "";
  if (sloop_op_parse(&g_schema, op, &parsed, msg)) {
    cJSON_Delete(op);
    return;
  }
  const sloop_coll_schema *cs = sloop_schema_coll(&g_schema, "notes");
  cJSON *state = cJSON_Parse(g_state), *scratch = cJSON_Parse(g_state);
  sloop_apply_result res, res2;
  sloop_apply_ctx ctx = {4, NULL, NULL, 0}, in_place = {4, NULL, NULL, 1};
  int rc = sloop_apply(cs, state, &parsed, &ctx, &res);
  if (rc) die("sloop_apply failed on a sound state", sloop_errstr(rc));
  char *after = cJSON_PrintUnformatted(state);
  if (res.outcome == SLOOP_REJECTED) {
    if (strcmp(after, g_state) != 0) {
      fprintf(stderr, "before: %s\nafter:  %s\n", g_state, after);
      die("a refused field operation changed the state", res.message);
    }
  } else {
    fields_sound(state);
    /* In place (scratch, as the server and local writes apply): the same outcome and state. */
    if (sloop_apply(cs, scratch, &parsed, &in_place, &res2) || res2.outcome != res.outcome ||
        !cJSON_Compare(scratch, state, 1))
      die("applying in place differs from applying to a copy", NULL);
    cJSON_Delete(res2.conflicts);
    /* Delivered twice (a retried push): the same document. */
    char *once = shown_doc(state);
    sloop_apply_ctx again = {5, NULL, NULL, 0};
    if (sloop_apply(cs, state, &parsed, &again, &res2)) die("sloop_apply failed applying an operation again", NULL);
    cJSON_Delete(res2.conflicts);
    char *twice = shown_doc(state);
    if (res2.outcome == SLOOP_REJECTED || !once || !twice || strcmp(once, twice) != 0) {
      fprintf(stderr, "once:  %s\ntwice: %s (%s)\n", once ? once : "-", twice ? twice : "-", res2.message);
      die("an operation applied twice shows otherwise than applied once", NULL);
    }
    free(once);
    free(twice);
  }
  cJSON_Delete(res.conflicts);
  free(after);
  cJSON_Delete(state);
  cJSON_Delete(scratch);
  cJSON_Delete(op);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  reader rd = {data, size, 0};
  switch (next(&rd) % 4) {
    case 0: decode_mode(&rd); break;
    case 1: replicas_mode(&rd, SEQ_TEXT); break;
    case 2: replicas_mode(&rd, SEQ_LIST); break;
    default: field_op_mode(&rd);
  }
  return 0;
}
