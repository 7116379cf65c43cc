/*
** state_codec.c -- encoding record merge state in its binary form (state_codec.h has the layout;
** state_decode.c reads it back), and the text forms both sides recognize.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hlc.h"
#include "json.h"
#include "sloop.h"
#include "state_codec.h"
#include "seq.h"
#include "wire.h"

/* Whether a member before `item` in its object has the same name. The merge never makes
** such objects, and cJSON's lookups and comparisons would see only the first of the two. */
static int repeated(const cJSON *first, const cJSON *item) {
  for (const cJSON *c = first; c && c != item; c = c->next)
    if (strcmp(c->string, item->string) == 0) return 1;
  return 0;
}

/* A lower-case hex digit's value plus one; 0 for any other byte. */
#define HEX_DIGITS(x) ['0' + (x)] = (x) + 1
#define HEX_LETTERS(x) ['a' + (x)] = (x) + 11
static const unsigned char kHexValue[256] = {
    HEX_DIGITS(0), HEX_DIGITS(1), HEX_DIGITS(2), HEX_DIGITS(3), HEX_DIGITS(4), HEX_DIGITS(5), HEX_DIGITS(6),
    HEX_DIGITS(7), HEX_DIGITS(8), HEX_DIGITS(9), HEX_LETTERS(0), HEX_LETTERS(1), HEX_LETTERS(2), HEX_LETTERS(3),
    HEX_LETTERS(4), HEX_LETTERS(5)};

/* A device id as this core makes them: 16 lower-case hex digits (what sloop_hex_parse reads,
** by a table: every set tag names one, and its parse was 2% of a server's apply). */
int sloop_codec_parse_node(const char *s, size_t n, uint64_t *node) {
  if (n != 16) return 0;
  uint64_t v = 0;
  for (int i = 0; i < 16; i++) {
    unsigned d = kHexValue[(unsigned char)s[i]];
    if (!d) return 0;
    v = v << 4 | (d - 1);
  }
  *node = v;
  return 1;
}

/* A decimal without leading zeros, as "%lld" prints it, below SC_EXACT_MAX. */
static int parse_decimal(const char *s, size_t n, uint64_t *out) {
  if (n == 0 || n > 15 || (s[0] == '0' && n > 1)) return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = v;
  return 1;
}

/* Splits a tag of the form local writes make, "<device>:<seq>#<n>"; 0 for any other tag. */
int sloop_codec_tag_parts(const char *s, size_t len, uint64_t *node, uint64_t *seq, uint64_t *n) {
  /* The device is the 16 bytes before the first ':', so the colon is at 16 (no hex digit is a
  ** ':'), and the '#' is the last one, after it: each sequence number at least one digit. */
  if (len < 20 || s[16] != ':') return 0;
  const char *end = s + len, *hash = end - 2;
  while (hash > s + 17 && *hash != '#') hash--;
  const char *colon = s + 16;
  return *hash == '#' && sloop_codec_parse_node(s, 16, node) &&
         parse_decimal(colon + 1, (size_t)(hash - colon - 1), seq) &&
         parse_decimal(hash + 1, (size_t)(end - hash - 1), n);
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int sloop_codec_doc_names(const cJSON *doc, const char ***names, size_t *n) {
  *names = NULL;
  *n = 0;
  if (!cJSON_IsObject(doc) || !doc->child) return SLOOP_OK;
  size_t count = 0;
  for (const cJSON *m = doc->child; m; m = m->next) count++;
  const char **sorted = malloc(count * sizeof(*sorted));
  if (!sorted) return SLOOP_NOMEM;
  count = 0;
  for (const cJSON *m = doc->child; m; m = m->next) sorted[count++] = m->string;
  qsort(sorted, count, sizeof(*sorted), compare_names);
  *names = sorted;
  *n = count;
  return SLOOP_OK;
}

long sloop_codec_name_index(const char **names, size_t n, const char *name) {
  size_t lo = 0, hi = n; /* the first position whose name is not below `name` */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(names[mid], name) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && strcmp(names[lo], name) == 0 ? (long)lo : -1;
}

const char *sloop_codec_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  *v = 0;
  for (int shift = 0;; shift += 7) {
    if (*p == end) return "truncated";
    uint8_t b = *(*p)++;
    if (shift == 63 && b > 1) return "varint overflows 64 bits";
    *v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return b == 0 && shift > 0 ? "varint not minimal" : NULL;
  }
}

int sloop_codec_exact_int(double d) {
  return d < SC_EXACT_MAX && d > -SC_EXACT_MAX && d == (double)(int64_t)d;
}

/* ---------------------------------------------------------------- encoding ----------- */

typedef struct enc {
  uint8_t *buf;
  size_t len, cap;
  const sloop_nodes *nodes;
  char *msg;
  int rc;
  int flags;          /* SC_NAMES_FROM_DOC or 0 */
  const char **names; /* with SC_NAMES_FROM_DOC: the document's member names, sorted */
  size_t nnames;
  uint64_t last_node, last_index; /* the node interned last (a set's tags are mostly one device's) */
  int has_last;
} enc;

static int refuse(enc *e, const char *what, const char *name) {
  if (!e->rc) {
    snprintf(e->msg, 200, "state: %s%s%.64s", what, name ? " in field " : "", name ? name : "");
    e->rc = SLOOP_INVALID;
  }
  return e->rc;
}

static int reserve(enc *e, size_t n) {
  if (e->rc) return e->rc;
  if (e->len + n <= e->cap) return SLOOP_OK;
  size_t cap = e->cap ? e->cap : 64;
  while (cap < e->len + n) cap *= 2;
  uint8_t *nb = realloc(e->buf, cap);
  if (!nb) return e->rc = SLOOP_NOMEM;
  e->buf = nb;
  e->cap = cap;
  return SLOOP_OK;
}

static void put_byte(enc *e, uint8_t b) {
  if (!reserve(e, 1)) e->buf[e->len++] = b;
}

static void put_varint(enc *e, uint64_t v) {
  if (reserve(e, 10)) return;
  while (v >= 0x80) {
    e->buf[e->len++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  e->buf[e->len++] = (uint8_t)v;
}

static void put_bytes(enc *e, const char *s, size_t n) {
  put_varint(e, n);
  if (!reserve(e, n)) {
    memcpy(e->buf + e->len, s, n);
    e->len += n;
  }
}

static void put_node(enc *e, uint64_t node) {
  uint64_t index = 0;
  if (e->rc) return;
  if (e->has_last && e->last_node == node) {
    put_varint(e, e->last_index);
    return;
  }
  int rc = e->nodes->intern(e->nodes->ctx, node, &index);
  if (rc) {
    e->rc = rc;
    return;
  }
  e->last_node = node, e->last_index = index, e->has_last = 1;
  put_varint(e, index);
}

static void put_hlc(enc *e, const cJSON *v, const char *field) {
  sloop_hlc h;
  if (!cJSON_IsString(v) || sloop_hlc_parse(v->valuestring, strlen(v->valuestring), &h)) {
    refuse(e, "not a timestamp", field);
    return;
  }
  put_varint(e, (uint64_t)h.pt);
  put_varint(e, h.lc);
  put_node(e, h.node);
}

static void put_ref(enc *e, const char *s) {
  size_t n = strlen(s);
  uint64_t node, index = 0;
  if (sloop_codec_parse_node(s, n, &node)) {
    if (!e->rc && (e->rc = e->nodes->intern(e->nodes->ctx, node, &index)) == SLOOP_OK) put_varint(e, index << 1 | 1);
    return;
  }
  put_varint(e, (uint64_t)n << 1);
  if (!reserve(e, n)) {
    memcpy(e->buf + e->len, s, n);
    e->len += n;
  }
}

static void put_tag(enc *e, const cJSON *t, const char *field) {
  if (!cJSON_IsString(t)) {
    refuse(e, "a set tag is not a string", field);
    return;
  }
  const char *s = t->valuestring;
  size_t len = strlen(s);
  uint64_t node, seq, n;
  if (sloop_codec_tag_parts(s, len, &node, &seq, &n)) {
    put_varint(e, 1);
    put_node(e, node);
    put_varint(e, seq);
    put_varint(e, n);
    return;
  }
  put_varint(e, 0);
  put_bytes(e, s, len);
}

static void put_tags(enc *e, const cJSON *arr, const char *field) {
  if (!cJSON_IsArray(arr)) {
    refuse(e, "set tags are not an array", field);
    return;
  }
  put_varint(e, (uint64_t)cJSON_GetArraySize(arr));
  const cJSON *t;
  cJSON_ArrayForEach(t, arr) put_tag(e, t, field);
}

/* A field's name: its bytes; with SC_NAMES_FROM_DOC, for a name the document has, varint 0
** (no name is empty) and its index among the document's names in sorted order. */
static void put_name(enc *e, const char *name) {
  long k = sloop_codec_name_index(e->names, e->nnames, name);
  if (k < 0) {
    put_bytes(e, name, strlen(name));
    return;
  }
  put_varint(e, 0);
  put_varint(e, (uint64_t)k);
}

static void put_field(enc *e, const cJSON *fs, const cJSON *p, const cJSON *doc) {
  const char *name = fs->string;
  if (!name[0]) {
    refuse(e, "empty field name", NULL);
    return;
  }
  if (!cJSON_IsObject(fs)) {
    refuse(e, "field state is not an object", name);
    return;
  }
  const cJSON *v = NULL, *t = NULL, *s = NULL, *w = NULL, *n = NULL, *a = NULL, *r = NULL, *q = NULL, *mv = NULL, *g = NULL;
  const cJSON *m;
  cJSON_ArrayForEach(m, fs) {
    const char *k = m->string;
    const cJSON **slot = k[0] && !k[1] ? (k[0] == 'v' ? &v : k[0] == 't' ? &t : k[0] == 's' ? &s : k[0] == 'w' ? &w
                                          : k[0] == 'n' ? &n : k[0] == 'a' ? &a : k[0] == 'r' ? &r
                                          : k[0] == 'q' ? &q : k[0] == 'm' ? &mv : k[0] == 'g' ? &g : NULL)
                                       : NULL;
    if (!slot || *slot) {
      refuse(e, "unknown or repeated member", name);
      return;
    }
    *slot = m;
  }
  const cJSON *shown = v && doc ? sloop_member(doc, name) : NULL;
  uint64_t mask = 0;
  if (v) mask |= shown && sloop_json_equal(shown, v) ? SC_F_V_DOC : SC_F_V_INLINE;
  if (t) mask |= p && cJSON_IsString(p) && cJSON_IsString(t) && strcmp(t->valuestring, p->valuestring) == 0 ? SC_F_T_IS_P : SC_F_T;
  if (s) {
    if (!cJSON_IsNumber(s) || !sloop_codec_exact_int(s->valuedouble) || s->valuedouble < 0) {
      refuse(e, "version is not a non-negative integer", name);
      return;
    }
    mask |= SC_F_S;
  }
  if (w) {
    if (!cJSON_IsString(w)) {
      refuse(e, "writer is not a string", name);
      return;
    }
    mask |= SC_F_W;
  }
  if (n) {
    if (!cJSON_IsNumber(n) || n->valuedouble != n->valuedouble || n->valuedouble - n->valuedouble != 0) {
      refuse(e, "counter is not a finite number", name);
      return;
    }
    mask |= sloop_codec_exact_int(n->valuedouble) ? SC_F_N_INT : SC_F_N_DBL;
  }
  if (a) {
    if (!cJSON_IsObject(a)) {
      refuse(e, "set elements are not an object", name);
      return;
    }
    mask |= SC_F_A;
  }
  if (r) mask |= SC_F_R;
  uint8_t *seqb = NULL;
  size_t seqn = 0;
  if (q) {
    /* The sequence is base64 in the cJSON state (merge_seq.c) and its bytes here. */
    uint8_t *raw = NULL;
    size_t rawn = 0;
    if (!cJSON_IsString(q) || sloop_base64_decode(q->valuestring, strlen(q->valuestring), &raw, &rawn)) {
      refuse(e, "sequence is not base64", name);
      return;
    }
    /* Its devices as node indexes, like every node of the state (seq.h, seq_blob_agents). */
    int bad = seq_blob_agents(raw, rawn, 1, e->nodes->intern, e->nodes->ctx, &seqb, &seqn);
    free(raw);
    if (bad) {
      refuse(e, "sequence does not decode", name);
      return;
    }
    /* A text's blob ends with its visible text, which the document shows: left out here
    ** (flag 2), put back from the document when decoded, as a register's "v in doc" is. */
    const cJSON *shown_text = doc ? sloop_member(doc, name) : NULL;
    size_t tl = cJSON_IsString(shown_text) ? strlen(shown_text->valuestring) : 0;
    if (tl && !(seqb[1] & 3) && seqn >= 2 + tl && memcmp(seqb + seqn - tl, shown_text->valuestring, tl) == 0) {
      seqb[1] |= 2;
      seqn -= tl;
    }
    mask |= SC_F_Q;
  }
  if (g) mask |= SC_F_G;
  if (mv) {
    if (!cJSON_IsObject(mv)) {
      free(seqb);
      refuse(e, "move registers are not an object", name);
      return;
    }
    mask |= SC_F_M;
  }
  put_name(e, name);
  put_varint(e, mask);
  if (mask & SC_F_V_INLINE) {
    char *text = sloop_print(v, NULL);
    if (!text) {
      e->rc = SLOOP_NOMEM;
      return;
    }
    put_bytes(e, text, strlen(text));
    free(text);
  }
  if (mask & SC_F_T) put_hlc(e, t, name);
  if (mask & SC_F_S) put_varint(e, (uint64_t)s->valuedouble);
  if (mask & SC_F_W) put_ref(e, w->valuestring);
  if (mask & SC_F_N_INT) {
    int64_t i = (int64_t)n->valuedouble;
    put_varint(e, ((uint64_t)i << 1) ^ (uint64_t)(i >> 63));
  }
  if (mask & SC_F_N_DBL) {
    uint64_t bits;
    memcpy(&bits, &n->valuedouble, 8);
    if (!reserve(e, 8))
      for (int i = 0; i < 8; i++) e->buf[e->len++] = (uint8_t)(bits >> (8 * i));
  }
  if (mask & SC_F_A) {
    put_varint(e, (uint64_t)cJSON_GetArraySize(a));
    const cJSON *el;
    cJSON_ArrayForEach(el, a) {
      if (repeated(a->child, el)) {
        refuse(e, "repeated set element", name);
        return;
      }
      put_bytes(e, el->string, strlen(el->string));
      put_tags(e, el, name);
    }
  }
  if (mask & SC_F_R) put_tags(e, r, name);
  if (mask & SC_F_Q) put_bytes(e, (const char *)seqb, seqn);
  free(seqb);
  if (mask & SC_F_G) put_hlc(e, g, name);
  if (mask & SC_F_M) {
    char *text = sloop_print(mv, NULL);
    if (!text) {
      e->rc = SLOOP_NOMEM;
      return;
    }
    put_bytes(e, text, strlen(text));
    free(text);
  }
}

int sloop_state_encode(const cJSON *state, const cJSON *doc, const sloop_nodes *nodes, uint8_t **out,
                       size_t *len, char *msg) {
  return sloop_state_encode_with(state, doc, nodes, 0, out, len, msg);
}

int sloop_state_encode_with(const cJSON *state, const cJSON *doc, const sloop_nodes *nodes, int flags, uint8_t **out,
                            size_t *len, char *msg) {
  enc e = {NULL, 0, 0, nodes, msg, SLOOP_OK, flags, NULL, 0, 0, 0, 0};
  *out = NULL;
  *len = 0;
  if ((flags & SC_NAMES_FROM_DOC) && sloop_codec_doc_names(doc, &e.names, &e.nnames)) return SLOOP_NOMEM;
  const cJSON *p = NULL, *d = NULL, *f = NULL, *m;
  if (!cJSON_IsObject(state)) refuse(&e, "not an object", NULL);
  else {
    cJSON_ArrayForEach(m, state) {
      const char *k = m->string;
      const cJSON **slot = k[0] && !k[1] ? (k[0] == 'p' ? &p : k[0] == 'd' ? &d : k[0] == 'f' ? &f : NULL) : NULL;
      if (!slot || *slot) {
        refuse(&e, "unknown or repeated member", NULL);
        break;
      }
      *slot = m;
    }
  }
  if (f && !cJSON_IsObject(f)) refuse(&e, "fields are not an object", NULL);
  put_byte(&e, SLOOP_STATE_CODEC_VERSION);
  put_byte(&e, (uint8_t)((p ? SC_REC_P : 0) | (d ? SC_REC_D : 0) | (f ? SC_REC_F : 0)));
  if (p) put_hlc(&e, p, NULL);
  if (d) put_hlc(&e, d, NULL);
  if (f && !e.rc) {
    put_varint(&e, (uint64_t)cJSON_GetArraySize(f));
    const cJSON *fs;
    cJSON_ArrayForEach(fs, f) {
      if (repeated(f->child, fs)) refuse(&e, "repeated field", fs->string);
      put_field(&e, fs, p, doc);
      if (e.rc) break;
    }
  }
  free(e.names);
  if (e.rc) {
    free(e.buf);
    return e.rc;
  }
  *out = e.buf;
  *len = e.len;
  return SLOOP_OK;
}

