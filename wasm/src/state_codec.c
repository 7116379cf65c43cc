/*
** state_codec.c -- encoding and decoding record merge state in its binary form (see
** state_codec.h for the layout).
**
** Decoding never trusts the blob: every read is bounds-checked, varints must be minimal (one
** value, one spelling, so re-encoding a decoded state gives the same bytes) and every string
** is checked for NUL bytes, which a cJSON string could not hold.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hlc.h"
#include "sloop.h"
#include "state_codec.h"

enum { REC_P = 1, REC_D = 2, REC_F = 4, REC_ALL = 7 };
enum {
  F_V_INLINE = 0x001,
  F_V_DOC = 0x002,
  F_T = 0x004,
  F_T_IS_P = 0x008,
  F_S = 0x010,
  F_W = 0x020,
  F_N_INT = 0x040,
  F_N_DBL = 0x080,
  F_A = 0x100,
  F_R = 0x200,
  F_ALL = 0x3ff
};

/* The largest integer a double holds exactly: versions, sequence numbers and integral
** counters up to it are varints. */
#define EXACT_MAX 9007199254740992.0

/* Whether a member before `item` in its object has the same name. The merge never makes
** such objects, and cJSON's lookups and comparisons would see only the first of the two. */
static int repeated(const cJSON *first, const cJSON *item) {
  for (const cJSON *c = first; c && c != item; c = c->next)
    if (strcmp(c->string, item->string) == 0) return 1;
  return 0;
}

/* ---------------------------------------------------------------- encoding ----------- */

typedef struct enc {
  uint8_t *buf;
  size_t len, cap;
  const sloop_nodes *nodes;
  char *msg;
  int rc;
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
  int rc = e->nodes->intern(e->nodes->ctx, node, &index);
  if (rc) e->rc = rc;
  else put_varint(e, index);
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

/* A device id as this core makes them: 16 lower-case hex digits. */
static int parse_node(const char *s, size_t n, uint64_t *node) {
  if (n != 16) return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c >= '0' && c <= '9') v = v << 4 | (uint64_t)(c - '0');
    else if (c >= 'a' && c <= 'f') v = v << 4 | (uint64_t)(c - 'a' + 10);
    else return 0;
  }
  *node = v;
  return 1;
}

/* A decimal without leading zeros, as "%lld" prints it, below EXACT_MAX. */
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
static int tag_parts(const char *s, size_t len, uint64_t *node, uint64_t *seq, uint64_t *n) {
  const char *end = s + len, *hash = NULL;
  for (const char *c = s; c < end; c++)
    if (*c == '#') hash = c;
  const char *colon = hash ? memchr(s, ':', (size_t)(hash - s)) : NULL;
  return colon && parse_node(s, (size_t)(colon - s), node) &&
         parse_decimal(colon + 1, (size_t)(hash - colon - 1), seq) &&
         parse_decimal(hash + 1, (size_t)(end - hash - 1), n);
}

static void put_ref(enc *e, const char *s) {
  size_t n = strlen(s);
  uint64_t node, index = 0;
  if (parse_node(s, n, &node)) {
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
  uint64_t node, seq, n;
  if (tag_parts(s, strlen(s), &node, &seq, &n)) {
    put_varint(e, 1);
    put_node(e, node);
    put_varint(e, seq);
    put_varint(e, n);
    return;
  }
  put_varint(e, 0);
  put_bytes(e, s, strlen(s));
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

static int is_exact_int(double d) {
  return d < EXACT_MAX && d > -EXACT_MAX && d == (double)(int64_t)d;
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
  const cJSON *v = NULL, *t = NULL, *s = NULL, *w = NULL, *n = NULL, *a = NULL, *r = NULL;
  const cJSON *m;
  cJSON_ArrayForEach(m, fs) {
    const char *k = m->string;
    const cJSON **slot = k[0] && !k[1] ? (k[0] == 'v' ? &v : k[0] == 't' ? &t : k[0] == 's' ? &s : k[0] == 'w' ? &w
                                          : k[0] == 'n' ? &n : k[0] == 'a' ? &a : k[0] == 'r' ? &r : NULL)
                                       : NULL;
    if (!slot || *slot) {
      refuse(e, "unknown or repeated member", name);
      return;
    }
    *slot = m;
  }
  const cJSON *shown = v && doc ? cJSON_GetObjectItemCaseSensitive(doc, name) : NULL;
  uint64_t mask = 0;
  if (v) mask |= shown && cJSON_Compare(shown, v, 1) ? F_V_DOC : F_V_INLINE;
  if (t) mask |= p && cJSON_IsString(p) && cJSON_IsString(t) && strcmp(t->valuestring, p->valuestring) == 0 ? F_T_IS_P : F_T;
  if (s) {
    if (!cJSON_IsNumber(s) || !is_exact_int(s->valuedouble) || s->valuedouble < 0) {
      refuse(e, "version is not a non-negative integer", name);
      return;
    }
    mask |= F_S;
  }
  if (w) {
    if (!cJSON_IsString(w)) {
      refuse(e, "writer is not a string", name);
      return;
    }
    mask |= F_W;
  }
  if (n) {
    if (!cJSON_IsNumber(n) || n->valuedouble != n->valuedouble || n->valuedouble - n->valuedouble != 0) {
      refuse(e, "counter is not a finite number", name);
      return;
    }
    mask |= is_exact_int(n->valuedouble) ? F_N_INT : F_N_DBL;
  }
  if (a) {
    if (!cJSON_IsObject(a)) {
      refuse(e, "set elements are not an object", name);
      return;
    }
    mask |= F_A;
  }
  if (r) mask |= F_R;
  put_bytes(e, name, strlen(name));
  put_varint(e, mask);
  if (mask & F_V_INLINE) {
    char *text = cJSON_PrintUnformatted(v);
    if (!text) {
      e->rc = SLOOP_NOMEM;
      return;
    }
    put_bytes(e, text, strlen(text));
    free(text);
  }
  if (mask & F_T) put_hlc(e, t, name);
  if (mask & F_S) put_varint(e, (uint64_t)s->valuedouble);
  if (mask & F_W) put_ref(e, w->valuestring);
  if (mask & F_N_INT) {
    int64_t i = (int64_t)n->valuedouble;
    put_varint(e, ((uint64_t)i << 1) ^ (uint64_t)(i >> 63));
  }
  if (mask & F_N_DBL) {
    uint64_t bits;
    memcpy(&bits, &n->valuedouble, 8);
    if (!reserve(e, 8))
      for (int i = 0; i < 8; i++) e->buf[e->len++] = (uint8_t)(bits >> (8 * i));
  }
  if (mask & F_A) {
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
  if (mask & F_R) put_tags(e, r, name);
}

int sloop_state_encode(const cJSON *state, const cJSON *doc, const sloop_nodes *nodes, uint8_t **out,
                       size_t *len, char *msg) {
  enc e = {NULL, 0, 0, nodes, msg, SLOOP_OK};
  *out = NULL;
  *len = 0;
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
  put_byte(&e, (uint8_t)((p ? REC_P : 0) | (d ? REC_D : 0) | (f ? REC_F : 0)));
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
  if (e.rc) {
    free(e.buf);
    return e.rc;
  }
  *out = e.buf;
  *len = e.len;
  return SLOOP_OK;
}

/* ---------------------------------------------------------------- decoding ----------- */

typedef struct dec {
  const uint8_t *p, *end;
  const sloop_nodes *nodes;
  char *msg;
  int rc;
} dec;

static int corrupt(dec *d, const char *what) {
  if (!d->rc) {
    snprintf(d->msg, 200, "state blob: %s", what);
    d->rc = SLOOP_CORRUPT;
  }
  return d->rc;
}

static uint64_t get_varint(dec *d) {
  uint64_t v = 0;
  for (int shift = 0; !d->rc; shift += 7) {
    if (d->p == d->end) return corrupt(d, "truncated"), 0;
    uint8_t b = *d->p++;
    if (shift == 63 && b > 1) return corrupt(d, "varint overflows 64 bits"), 0;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      if (b == 0 && shift > 0) return corrupt(d, "varint not minimal"), 0;
      return v;
    }
  }
  return 0;
}

/* A string of `n` bytes at the cursor, checked: in bounds and free of NUL bytes. */
static const char *get_span(dec *d, uint64_t n) {
  if (d->rc) return NULL;
  if (n > (uint64_t)(d->end - d->p)) return corrupt(d, "truncated"), NULL;
  const char *s = (const char *)d->p;
  if (memchr(s, 0, (size_t)n)) return corrupt(d, "NUL byte in a string"), NULL;
  d->p += n;
  return s;
}

static char *get_string(dec *d) {
  uint64_t n = get_varint(d);
  const char *s = get_span(d, n);
  if (!s) return NULL;
  char *copy = malloc((size_t)n + 1);
  if (!copy) return d->rc = SLOOP_NOMEM, NULL;
  memcpy(copy, s, (size_t)n);
  copy[n] = 0;
  return copy;
}

static uint64_t get_node(dec *d) {
  uint64_t index = get_varint(d), node = 0;
  if (!d->rc && d->nodes->lookup(d->nodes->ctx, index, &node)) corrupt(d, "unknown node index");
  return node;
}

static sloop_hlc get_hlc(dec *d) {
  sloop_hlc h;
  uint64_t pt = get_varint(d), lc = get_varint(d);
  h.node = get_node(d);
  if (!d->rc && (pt > (uint64_t)SLOOP_HLC_MAX_PT || lc > 0xffff)) corrupt(d, "timestamp out of range");
  h.pt = (int64_t)pt;
  h.lc = (uint32_t)lc;
  return h;
}

/* Whether every number in a value is finite: cJSON reads 1e999 as infinity, which no JSON
** text can spell again. */
static int finite(const cJSON *v) {
  if (cJSON_IsNumber(v)) return v->valuedouble - v->valuedouble == 0;
  for (const cJSON *c = v->child; c; c = c->next)
    if (!finite(c)) return 0;
  return 1;
}

static cJSON *hlc_string(dec *d, sloop_hlc h) {
  char buf[SLOOP_HLC_STRLEN];
  sloop_hlc_format(h, buf);
  cJSON *s = cJSON_CreateString(buf);
  if (!s) d->rc = SLOOP_NOMEM;
  return s;
}

static void add(dec *d, cJSON *obj, const char *key, cJSON *item) {
  if (d->rc) {
    cJSON_Delete(item);
    return;
  }
  if (!item) {
    d->rc = SLOOP_NOMEM;
    return;
  }
  if (key ? !cJSON_AddItemToObject(obj, key, item) : !cJSON_AddItemToArray(obj, item)) {
    cJSON_Delete(item);
    d->rc = SLOOP_NOMEM;
  }
}

/* The tag's text, written by hand: snprintf costs more than the rest of decoding a tag. Each
** writes its digits and then `after` (NUL included), and returns the position past `after`. */
static char *put_hex16(char *p, uint64_t v, char after) {
  for (int i = 15; i >= 0; i--, v >>= 4) p[i] = "0123456789abcdef"[v & 15];
  p[16] = after;
  return p + 17;
}

static char *put_decimal(char *p, uint64_t v, char after) {
  char digits[20];
  int k = 0;
  do digits[k++] = (char)('0' + v % 10);
  while ((v /= 10) > 0);
  while (k > 0) *p++ = digits[--k];
  *p = after;
  return p + 1;
}

static cJSON *get_ref(dec *d) {
  uint64_t x = get_varint(d);
  if (d->rc) return NULL;
  if (x & 1) {
    uint64_t node = 0;
    if (d->nodes->lookup(d->nodes->ctx, x >> 1, &node)) return corrupt(d, "unknown node index"), NULL;
    char buf[17];
    put_hex16(buf, node, 0);
    return cJSON_CreateString(buf);
  }
  uint64_t n = x >> 1;
  const char *s = get_span(d, n);
  if (!s) return NULL;
  /* A device id would have been stored as a node: one state, one encoding. */
  uint64_t node;
  if (parse_node(s, (size_t)n, &node)) return corrupt(d, "device id stored inline"), NULL;
  char *copy = malloc((size_t)n + 1);
  if (!copy) return d->rc = SLOOP_NOMEM, NULL;
  memcpy(copy, s, (size_t)n);
  copy[n] = 0;
  cJSON *str = cJSON_CreateString(copy);
  free(copy);
  return str;
}

static cJSON *get_tag(dec *d) {
  uint64_t form = get_varint(d);
  if (d->rc) return NULL;
  if (form == 1) {
    uint64_t node = get_node(d), seq = get_varint(d), n = get_varint(d);
    if (d->rc) return NULL;
    if (seq >= (uint64_t)EXACT_MAX || n >= (uint64_t)EXACT_MAX) return corrupt(d, "tag number out of range"), NULL;
    char buf[64];
    char *end = put_decimal(put_decimal(put_hex16(buf, node, ':'), seq, '#'), n, 0);
    (void)end;
    return cJSON_CreateString(buf);
  }
  if (form != 0) return corrupt(d, "unknown tag form"), NULL;
  char *s = get_string(d);
  if (!s) return NULL;
  uint64_t node, seq, n;
  if (tag_parts(s, strlen(s), &node, &seq, &n)) {
    free(s);
    return corrupt(d, "tag of a local write stored inline"), NULL;
  }
  cJSON *str = cJSON_CreateString(s);
  free(s);
  return str;
}

static cJSON *get_tags(dec *d) {
  uint64_t k = get_varint(d);
  if (!d->rc && k > (uint64_t)(d->end - d->p)) return corrupt(d, "truncated"), NULL;
  cJSON *arr = d->rc ? NULL : cJSON_CreateArray();
  if (!arr && !d->rc) d->rc = SLOOP_NOMEM;
  for (uint64_t i = 0; i < k && !d->rc; i++) add(d, arr, NULL, get_tag(d));
  return arr;
}

static void get_field(dec *d, cJSON *fields, const cJSON *p, const cJSON *doc) {
  char *name = get_string(d);
  uint64_t mask = get_varint(d);
  cJSON *fs = NULL;
  if (d->rc) goto done;
  if (!name[0]) corrupt(d, "empty field name");
  if (!d->rc && cJSON_GetObjectItemCaseSensitive(fields, name)) corrupt(d, "repeated field");
  if (mask & ~(uint64_t)F_ALL) corrupt(d, "unknown field mask bit");
  if ((mask & F_V_INLINE) && (mask & F_V_DOC)) corrupt(d, "value both inline and in the document");
  if ((mask & F_T) && (mask & F_T_IS_P)) corrupt(d, "two timestamps");
  if ((mask & F_T_IS_P) && !p) corrupt(d, "timestamp refers to a missing put");
  if ((mask & F_N_INT) && (mask & F_N_DBL)) corrupt(d, "two counters");
  if (d->rc) goto done;
  fs = cJSON_CreateObject();
  if (!fs) {
    d->rc = SLOOP_NOMEM;
    goto done;
  }
  if (mask & F_V_INLINE) {
    uint64_t n = get_varint(d);
    const char *text = get_span(d, n);
    if (text) {
      const char *end = NULL;
      cJSON *v = cJSON_ParseWithLengthOpts(text, (size_t)n, &end, 0);
      if (!v || end != text + n || !finite(v)) {
        cJSON_Delete(v);
        corrupt(d, "value is not JSON");
      } else {
        add(d, fs, "v", v);
      }
    }
  }
  if (mask & F_V_DOC) {
    const cJSON *v = doc ? cJSON_GetObjectItemCaseSensitive(doc, name) : NULL;
    if (!v) corrupt(d, "value missing from the document");
    else add(d, fs, "v", cJSON_Duplicate(v, 1));
  }
  if (mask & F_T) {
    sloop_hlc h = get_hlc(d);
    if (!d->rc) add(d, fs, "t", hlc_string(d, h));
  }
  if (mask & F_T_IS_P) add(d, fs, "t", cJSON_CreateString(p->valuestring));
  if (mask & F_S) {
    uint64_t s = get_varint(d);
    if (!d->rc && s >= (uint64_t)EXACT_MAX) corrupt(d, "version out of range");
    add(d, fs, "s", cJSON_CreateNumber((double)s));
  }
  if (mask & F_W) add(d, fs, "w", get_ref(d));
  if (mask & F_N_INT) {
    uint64_t z = get_varint(d);
    int64_t i = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    if (!d->rc && !is_exact_int((double)i)) corrupt(d, "counter out of range");
    add(d, fs, "n", cJSON_CreateNumber((double)i));
  }
  if (mask & F_N_DBL) {
    if (d->end - d->p < 8) corrupt(d, "truncated");
    uint64_t bits = 0;
    for (int i = 0; i < 8 && !d->rc; i++) bits |= (uint64_t)*d->p++ << (8 * i);
    double v;
    memcpy(&v, &bits, 8);
    if (!d->rc && (v != v || v - v != 0)) corrupt(d, "counter not a finite number");
    if (!d->rc && is_exact_int(v)) corrupt(d, "counter not in its shortest form");
    if (!d->rc) add(d, fs, "n", cJSON_CreateNumber(v)); /* cJSON casts it to int: finite only */
  }
  if (mask & F_A) {
    uint64_t k = get_varint(d);
    if (!d->rc && k > (uint64_t)(d->end - d->p)) corrupt(d, "truncated");
    cJSON *a = d->rc ? NULL : cJSON_CreateObject();
    add(d, fs, "a", a);
    for (uint64_t i = 0; i < k && !d->rc; i++) {
      char *el = get_string(d);
      cJSON *tags = get_tags(d);
      if (!d->rc && cJSON_GetObjectItemCaseSensitive(a, el)) corrupt(d, "repeated set element");
      if (!d->rc) add(d, a, el, tags);
      else cJSON_Delete(tags);
      free(el);
    }
  }
  if (mask & F_R) add(d, fs, "r", get_tags(d));
  add(d, fields, name, fs);
  fs = NULL;
done:
  cJSON_Delete(fs);
  free(name);
}

int sloop_state_decode(const uint8_t *blob, size_t len, const cJSON *doc, const sloop_nodes *nodes,
                       cJSON **out, char *msg) {
  dec d = {blob, blob + len, nodes, msg, SLOOP_OK};
  *out = NULL;
  if (!blob || len < 2) return corrupt(&d, "truncated");
  if (blob[0] != SLOOP_STATE_CODEC_VERSION) return corrupt(&d, "unknown codec version");
  uint8_t rec = blob[1];
  d.p += 2;
  if (rec & ~REC_ALL) return corrupt(&d, "unknown record mask bit");
  cJSON *state = cJSON_CreateObject();
  if (!state) return SLOOP_NOMEM;
  cJSON *p = NULL;
  if (rec & REC_P) {
    sloop_hlc h = get_hlc(&d);
    if (!d.rc) add(&d, state, "p", p = hlc_string(&d, h));
  }
  if (rec & REC_D) {
    sloop_hlc h = get_hlc(&d);
    if (!d.rc) add(&d, state, "d", hlc_string(&d, h));
  }
  if (rec & REC_F) {
    uint64_t n = get_varint(&d);
    if (!d.rc && n > (uint64_t)(d.end - d.p)) corrupt(&d, "truncated");
    cJSON *fields = d.rc ? NULL : cJSON_CreateObject();
    add(&d, state, "f", fields);
    for (uint64_t i = 0; i < n && !d.rc; i++) get_field(&d, fields, p, doc);
  }
  if (!d.rc && d.p != d.end) corrupt(&d, "trailing bytes");
  if (d.rc) {
    cJSON_Delete(state);
    return d.rc;
  }
  *out = state;
  return SLOOP_OK;
}

int sloop_state_blob_visible(const uint8_t *blob, size_t len, const sloop_nodes *nodes) {
  char msg[200];
  dec d = {blob, blob + len, nodes, msg, SLOOP_OK};
  if (!blob || len < 2 || blob[0] != SLOOP_STATE_CODEC_VERSION || (blob[1] & ~REC_ALL)) return -SLOOP_CORRUPT;
  uint8_t rec = blob[1];
  d.p += 2;
  if (!(rec & REC_P)) return 0;
  sloop_hlc p = get_hlc(&d);
  if (!(rec & REC_D)) return d.rc ? -d.rc : 1;
  sloop_hlc del = get_hlc(&d);
  return d.rc ? -d.rc : sloop_hlc_cmp(p, del) > 0;
}
