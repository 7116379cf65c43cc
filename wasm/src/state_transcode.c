/*
** state_transcode.c -- a state blob re-encoded between its stored form and protocol v2's
** (wire.h) without the cJSON state in between: node indexes looked up in one table and
** interned in another, and a field the document has named by its index among the document's
** sorted member names (SC_NAMES_FROM_DOC) on the wire, by its bytes when stored. The server
** sends every change of a pull page this way (SC_TO_WIRE); a client stores a pulled change
** this way when nothing local depends on it (SC_FROM_WIRE, pull_plain.c).
**
** The output is byte for byte what the encoder makes of the decoded state, with the same
** document: the blob is walked in the order the encoder writes it (so nodes are interned in
** the same order), its "v in doc" and "t is p" choices were made against the same document and
** put, and inline values are the encoder's own text, copied. tests/c/test_wire.c compares
** the two on every state shape, both ways.
**
** What it checks is what the decoder checks of the blob's structure (bounds, minimal
** varints, mask bits, node indexes, ranges, NUL bytes, one spelling of device ids, tags and
** names): a corrupt blob fails here as it does in the decoder. It does not parse inline JSON
** values nor look for repeated field names or set elements. Going to the wire, the receiving
** decoder does; coming from it, pull_plain.c stores only blobs with neither inline values
** nor sets, whose fields name distinct members of the document.
** Costs one pass over the blob and a binary search of the names per field.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hlc.h"
#include "sloop.h"
#include "seq.h"
#include "state_codec.h"

typedef struct tc {
  const uint8_t *p, *end;
  uint8_t *buf;
  size_t len, cap;
  const sloop_nodes *from, *to;
  const char **names; /* the document's member names, sorted; NULL for none */
  size_t nnames;
  int direction;      /* SC_TO_WIRE or SC_FROM_WIRE */
  sloop_field_seen *seen; /* NULL, or one entry per field */
  char *msg;
  int rc;
  uint64_t last_in, last_out; /* the node index mapped last (a set's tags are mostly one device's) */
  int has_last;
} tc;

static int corrupt(tc *t, const char *what) {
  if (!t->rc) {
    snprintf(t->msg, 200, "state blob: %s", what);
    t->rc = SLOOP_CORRUPT;
  }
  return t->rc;
}

static uint64_t get_varint(tc *t) {
  uint64_t v = 0;
  const char *why = t->rc ? NULL : sloop_codec_varint(&t->p, t->end, &v);
  if (why) corrupt(t, why);
  return t->rc ? 0 : v;
}

static int reserve(tc *t, size_t n) {
  if (t->rc) return t->rc;
  if (t->len + n <= t->cap) return SLOOP_OK;
  size_t cap = t->cap ? t->cap : 128;
  while (cap < t->len + n) cap *= 2;
  uint8_t *nb = realloc(t->buf, cap);
  if (!nb) return t->rc = SLOOP_NOMEM;
  t->buf = nb;
  t->cap = cap;
  return SLOOP_OK;
}

static void put_varint(tc *t, uint64_t v) {
  if (reserve(t, 10)) return;
  while (v >= 0x80) {
    t->buf[t->len++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  t->buf[t->len++] = (uint8_t)v;
}

static void put_raw(tc *t, const void *s, size_t n) {
  if (!reserve(t, n)) {
    memcpy(t->buf + t->len, s, n);
    t->len += n;
  }
}

static uint64_t copy_varint(tc *t) {
  uint64_t v = get_varint(t);
  put_varint(t, v);
  return v;
}

/* `n` bytes at the cursor (in bounds, no NUL byte), or NULL. */
static const char *get_span(tc *t, uint64_t n) {
  if (t->rc) return NULL;
  if (n > (uint64_t)(t->end - t->p)) return corrupt(t, "truncated"), NULL;
  const char *s = (const char *)t->p;
  if (memchr(s, 0, (size_t)n)) return corrupt(t, "NUL byte in a string"), NULL;
  t->p += n;
  return s;
}

/* A length-prefixed string copied as it is; returns its bytes (not NUL-terminated). */
static const char *copy_string(tc *t, uint64_t *n) {
  *n = get_varint(t);
  const char *s = get_span(t, *n);
  put_varint(t, *n);
  if (s) put_raw(t, s, (size_t)*n);
  return s;
}

/* A node index of one table as the other's. */
static int remap_node(void *ctx, uint64_t index, uint64_t *out) {
  tc *t = ctx;
  uint64_t node = 0;
  int rc = t->from->lookup(t->from->ctx, index, &node);
  return rc ? rc : t->to->intern(t->to->ctx, node, out);
}

/* A sequence's bytes, its devices' indexes rewritten from one table to the other. */
static void copy_sequence(tc *t) {
  uint64_t n = get_varint(t);
  if (t->rc) return;
  if (n > (uint64_t)(t->end - t->p)) {
    corrupt(t, "truncated");
    return;
  }
  uint8_t *out = NULL;
  size_t len = 0;
  if (seq_blob_agents(t->p, (size_t)n, 1, remap_node, t, &out, &len)) {
    corrupt(t, "sequence devices do not decode");
    return;
  }
  put_varint(t, len);
  put_raw(t, (const char *)out, len);
  free(out);
  t->p += n;
}

/* A node index of the source table, written as the destination table's index. */
static void copy_node(tc *t, int shift_ref) {
  uint64_t index = get_varint(t), node = 0, out = 0;
  if (t->rc) return;
  if (shift_ref) index >>= 1;
  if (t->has_last && t->last_in == index) {
    put_varint(t, shift_ref ? t->last_out << 1 | 1 : t->last_out);
    return;
  }
  if (t->from->lookup(t->from->ctx, index, &node)) {
    corrupt(t, "unknown node index");
    return;
  }
  int rc = t->to->intern(t->to->ctx, node, &out);
  if (rc) {
    t->rc = rc;
    return;
  }
  t->last_in = index, t->last_out = out, t->has_last = 1;
  put_varint(t, shift_ref ? out << 1 | 1 : out);
}

static void copy_hlc(tc *t) {
  uint64_t pt = copy_varint(t), lc = copy_varint(t);
  if (!t->rc && (pt > (uint64_t)SLOOP_HLC_MAX_PT || lc > 0xffff)) corrupt(t, "timestamp out of range");
  copy_node(t, 0);
}

/* A writer: a node (odd) re-mapped, or bytes (even) that must not spell a device id. */
static void copy_ref(tc *t) {
  const uint8_t *at = t->p;
  uint64_t x = get_varint(t), node;
  if (t->rc) return;
  if (x & 1) {
    t->p = at;
    copy_node(t, 1);
    return;
  }
  const char *s = get_span(t, x >> 1);
  if (s && sloop_codec_parse_node(s, (size_t)(x >> 1), &node)) corrupt(t, "device id stored inline");
  put_varint(t, x);
  if (s) put_raw(t, s, (size_t)(x >> 1));
}

static void copy_tags(tc *t) {
  uint64_t k = copy_varint(t);
  if (!t->rc && k > (uint64_t)(t->end - t->p)) corrupt(t, "truncated");
  for (uint64_t i = 0; i < k && !t->rc; i++) {
    uint64_t form = copy_varint(t), n, node, seq, m;
    if (form == 1) {
      copy_node(t, 0);
      seq = copy_varint(t);
      m = copy_varint(t);
      if (!t->rc && (seq >= (uint64_t)SC_EXACT_MAX || m >= (uint64_t)SC_EXACT_MAX)) corrupt(t, "tag number out of range");
    } else if (form == 0) {
      const char *s = copy_string(t, &n);
      if (s && sloop_codec_tag_parts(s, (size_t)n, &node, &seq, &m)) corrupt(t, "tag of a local write stored inline");
    } else if (!t->rc) {
      corrupt(t, "unknown tag form");
    }
  }
}

/* The index of a name among the document's (the first of equal names), or -1. */
static long name_index(const tc *t, const char *s, size_t n) {
  char small[256], *name = n < sizeof(small) ? small : malloc(n + 1);
  if (!name) return -2;
  memcpy(name, s, n);
  name[n] = 0;
  long k = sloop_codec_name_index(t->names, t->nnames, name);
  if (name != small) free(name);
  return k;
}

/* A field's name, read and written in the directions' forms; its document index (-1: the
** document has no such member) in *k. */
static void copy_name(tc *t, long *k) {
  uint64_t n = get_varint(t);
  *k = -1;
  if (t->rc) return;
  if (n == 0 && t->direction == SC_FROM_WIRE) {
    uint64_t index = get_varint(t);
    if (!t->rc && index >= t->nnames) corrupt(t, "field name index past the document");
    if (!t->rc && index > 0 && strcmp(t->names[index - 1], t->names[index]) == 0)
      corrupt(t, "field name index not the first of its name");
    if (t->rc) return;
    *k = (long)index;
    n = strlen(t->names[index]);
    put_varint(t, n);
    put_raw(t, t->names[index], (size_t)n);
    return;
  }
  const char *name = get_span(t, n);
  if (!name) return;
  if (n == 0) {
    corrupt(t, "empty field name");
    return;
  }
  *k = name_index(t, name, (size_t)n);
  if (*k == -2) {
    t->rc = SLOOP_NOMEM;
    return;
  }
  if (*k >= 0 && t->direction == SC_FROM_WIRE) {
    corrupt(t, "field name spelled out, not as its document index");
  } else if (*k >= 0) {
    put_varint(t, 0);
    put_varint(t, (uint64_t)*k);
  } else {
    put_varint(t, n);
    put_raw(t, name, (size_t)n);
  }
}

static void copy_field(tc *t, int has_p, sloop_field_seen *seen) {
  long k;
  uint64_t n;
  copy_name(t, &k);
  uint64_t mask = get_varint(t);
  if (t->rc) return;
  if (mask & ~(uint64_t)SC_F_ALL) corrupt(t, "unknown field mask bit");
  if ((mask & SC_F_V_INLINE) && (mask & SC_F_V_DOC)) corrupt(t, "value both inline and in the document");
  if ((mask & SC_F_T) && (mask & SC_F_T_IS_P)) corrupt(t, "two timestamps");
  if ((mask & SC_F_T_IS_P) && !has_p) corrupt(t, "timestamp refers to a missing put");
  if ((mask & SC_F_N_INT) && (mask & SC_F_N_DBL)) corrupt(t, "two counters");
  if ((mask & SC_F_V_DOC) && k < 0) corrupt(t, "value missing from the document");
  if (t->rc) return;
  if (seen) *seen = (sloop_field_seen){k, mask, 0};
  put_varint(t, mask);
  if (mask & SC_F_V_INLINE) copy_string(t, &n);
  if (mask & SC_F_T) copy_hlc(t);
  if ((mask & SC_F_S) && copy_varint(t) >= (uint64_t)SC_EXACT_MAX && !t->rc) corrupt(t, "version out of range");
  if (mask & SC_F_W) copy_ref(t);
  if (mask & SC_F_N_INT) {
    uint64_t z = copy_varint(t);
    int64_t i = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    if (!t->rc && !sloop_codec_exact_int((double)i)) corrupt(t, "counter out of range");
    if (seen) seen->n = (double)i;
  }
  if (mask & SC_F_N_DBL) {
    if (t->end - t->p < 8) corrupt(t, "truncated");
    uint64_t bits = 0;
    for (int i = 0; i < 8 && !t->rc; i++) bits |= (uint64_t)t->p[i] << (8 * i);
    double v;
    memcpy(&v, &bits, 8);
    if (!t->rc && (v != v || v - v != 0)) corrupt(t, "counter not a finite number");
    if (!t->rc && sloop_codec_exact_int(v)) corrupt(t, "counter not in its shortest form");
    if (!t->rc) put_raw(t, t->p, 8);
    if (seen) seen->n = v;
    t->p += t->rc ? 0 : 8;
  }
  if (mask & SC_F_A) {
    uint64_t count = copy_varint(t);
    if (!t->rc && count > (uint64_t)(t->end - t->p)) corrupt(t, "truncated");
    for (uint64_t i = 0; i < count && !t->rc; i++) {
      copy_string(t, &n);
      copy_tags(t);
    }
  }
  if (mask & SC_F_R) copy_tags(t);
  if (mask & SC_F_Q) copy_sequence(t);
  if (mask & SC_F_G) copy_hlc(t);
  if (mask & SC_F_M) copy_string(t, &n);
}

int sloop_state_transcode(const uint8_t *blob, size_t len, const sloop_nodes *from, const sloop_nodes *to,
                          const char **names, size_t nnames, int direction, uint8_t **out, size_t *out_len,
                          sloop_field_seen **seen, size_t *nseen, char *msg) {
  tc t = {blob, blob + len, NULL, 0, 0, from, to, names, nnames, direction, NULL, msg, SLOOP_OK, 0, 0, 0};
  *out = NULL;
  *out_len = 0;
  if (seen) *seen = NULL, *nseen = 0;
  if (!blob || len < 2) return corrupt(&t, "truncated");
  if (blob[0] != SLOOP_STATE_CODEC_VERSION) return corrupt(&t, "unknown codec version");
  uint8_t rec = blob[1];
  if (rec & ~SC_REC_ALL) return corrupt(&t, "unknown record mask bit");
  put_raw(&t, blob, 2);
  t.p += 2;
  if (rec & SC_REC_P) copy_hlc(&t);
  if (rec & SC_REC_D) copy_hlc(&t);
  uint64_t n = 0;
  if (rec & SC_REC_F) {
    n = copy_varint(&t);
    if (!t.rc && n > (uint64_t)(t.end - t.p)) corrupt(&t, "truncated");
    if (!t.rc && seen && n && !(t.seen = malloc((size_t)n * sizeof(*t.seen)))) t.rc = SLOOP_NOMEM;
    for (uint64_t i = 0; i < n && !t.rc; i++) copy_field(&t, rec & SC_REC_P, t.seen ? &t.seen[i] : NULL);
  }
  if (!t.rc && t.p != t.end) corrupt(&t, "trailing bytes");
  if (t.rc) {
    free(t.buf);
    free(t.seen);
    return t.rc;
  }
  *out = t.buf;
  *out_len = t.len;
  if (seen) *seen = t.seen, *nseen = (size_t)n;
  return SLOOP_OK;
}
