/*
** state_decode.c -- decoding record merge state from its binary form (see state_codec.h for the
** layout; state_codec.c writes it).
**
** Decoding never trusts the blob: every read is bounds-checked, varints must be minimal (one
** value, one spelling), every string is checked for NUL bytes (a cJSON string could not hold
** them), names may not repeat, and numbers must be finite.
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

/* ---------------------------------------------------------------- decoding ----------- */

typedef struct dec {
  const uint8_t *p, *end;
  const sloop_nodes *nodes;
  char *msg;
  int rc;
  int flags;          /* SC_NAMES_FROM_DOC or 0 */
  const char **names; /* with SC_NAMES_FROM_DOC: the document's member names, sorted */
  size_t nnames;
  uint64_t last_index, last_node; /* the node looked up last, and its 16 hex digits */
  char last_hex[16];
  int has_last;
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
  const char *why = d->rc ? NULL : sloop_codec_varint(&d->p, d->end, &v);
  if (why) corrupt(d, why);
  return d->rc ? 0 : v;
}

/* `n` bytes at the cursor, in bounds. */
static const uint8_t *get_bytes(dec *d, uint64_t n) {
  if (d->rc) return NULL;
  if (n > (uint64_t)(d->end - d->p)) return corrupt(d, "truncated"), NULL;
  const uint8_t *s = d->p;
  d->p += n;
  return s;
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

/* A NUL-terminated copy of n bytes read by get_span. */
static char *span_dup(dec *d, const char *s, uint64_t n) {
  char *copy = malloc((size_t)n + 1);
  if (!copy) return d->rc = SLOOP_NOMEM, NULL;
  memcpy(copy, s, (size_t)n);
  copy[n] = 0;
  return copy;
}

static char *get_string(dec *d) {
  uint64_t n = get_varint(d);
  const char *s = get_span(d, n);
  return s ? span_dup(d, s, n) : NULL;
}

static uint64_t get_node(dec *d) {
  uint64_t index = get_varint(d), node = 0;
  if (d->rc) return 0;
  if (d->has_last && d->last_index == index) return d->last_node;
  if (d->nodes->lookup(d->nodes->ctx, index, &node)) return corrupt(d, "unknown node index"), 0;
  d->last_index = index, d->last_node = node, d->has_last = 1;
  for (int i = 15, v = 0; i >= 0; i--, v++) d->last_hex[i] = "0123456789abcdef"[(node >> (4 * v)) & 15];
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
  if (sloop_codec_parse_node(s, (size_t)n, &node)) return corrupt(d, "device id stored inline"), NULL;
  char *copy = span_dup(d, s, n);
  if (!copy) return NULL;
  cJSON *str = cJSON_CreateString(copy);
  free(copy);
  return str;
}

static cJSON *get_tag(dec *d) {
  uint64_t form = get_varint(d);
  if (d->rc) return NULL;
  if (form == 1) {
    get_node(d); /* its digits in d->last_hex */
    uint64_t seq = get_varint(d), n = get_varint(d);
    if (d->rc) return NULL;
    if (seq >= (uint64_t)SC_EXACT_MAX || n >= (uint64_t)SC_EXACT_MAX) return corrupt(d, "tag number out of range"), NULL;
    char buf[64];
    memcpy(buf, d->last_hex, 16);
    buf[16] = ':';
    put_decimal(put_decimal(buf + 17, seq, '#'), n, 0);
    return cJSON_CreateString(buf);
  }
  if (form != 0) return corrupt(d, "unknown tag form"), NULL;
  char *s = get_string(d);
  if (!s) return NULL;
  uint64_t node, seq, n;
  if (sloop_codec_tag_parts(s, strlen(s), &node, &seq, &n)) {
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

/* A field's name: its bytes, or with SC_NAMES_FROM_DOC, for a name the document has, varint
** 0 and its index among the document's names in sorted order (the first of equal names: one
** spelling only). */
static char *get_name(dec *d) {
  char *name = get_string(d);
  if (d->rc || !(d->flags & SC_NAMES_FROM_DOC)) return name;
  if (name[0]) {
    if (sloop_codec_name_index(d->names, d->nnames, name) >= 0) corrupt(d, "field name spelled out, not as its document index");
    return name;
  }
  free(name);
  uint64_t k = get_varint(d);
  if (!d->rc && k >= d->nnames) corrupt(d, "field name index past the document");
  if (!d->rc && k > 0 && strcmp(d->names[k - 1], d->names[k]) == 0) corrupt(d, "field name index not the first of its name");
  return d->rc ? NULL : span_dup(d, d->names[k], strlen(d->names[k]));
}

static void get_field(dec *d, cJSON *fields, const cJSON *p, const cJSON *doc) {
  char *name = get_name(d);
  uint64_t mask = get_varint(d);
  cJSON *fs = NULL;
  if (d->rc) goto done;
  if (!name[0]) corrupt(d, "empty field name");
  if (!d->rc && sloop_member(fields, name)) corrupt(d, "repeated field");
  if (mask & ~(uint64_t)SC_F_ALL) corrupt(d, "unknown field mask bit");
  if ((mask & SC_F_V_INLINE) && (mask & SC_F_V_DOC)) corrupt(d, "value both inline and in the document");
  if ((mask & SC_F_T) && (mask & SC_F_T_IS_P)) corrupt(d, "two timestamps");
  if ((mask & SC_F_T_IS_P) && !p) corrupt(d, "timestamp refers to a missing put");
  if ((mask & SC_F_N_INT) && (mask & SC_F_N_DBL)) corrupt(d, "two counters");
  if (d->rc) goto done;
  fs = cJSON_CreateObject();
  if (!fs) {
    d->rc = SLOOP_NOMEM;
    goto done;
  }
  if (mask & SC_F_V_INLINE) {
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
  if (mask & SC_F_V_DOC) {
    const cJSON *v = doc ? sloop_member(doc, name) : NULL;
    if (!v) corrupt(d, "value missing from the document");
    else add(d, fs, "v", cJSON_Duplicate(v, 1));
  }
  if (mask & SC_F_T) {
    sloop_hlc h = get_hlc(d);
    if (!d->rc) add(d, fs, "t", hlc_string(d, h));
  }
  if (mask & SC_F_T_IS_P) add(d, fs, "t", cJSON_CreateString(p->valuestring));
  if (mask & SC_F_S) {
    uint64_t s = get_varint(d);
    if (!d->rc && s >= (uint64_t)SC_EXACT_MAX) corrupt(d, "version out of range");
    add(d, fs, "s", cJSON_CreateNumber((double)s));
  }
  if (mask & SC_F_W) add(d, fs, "w", get_ref(d));
  if (mask & SC_F_N_INT) {
    uint64_t z = get_varint(d);
    int64_t i = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    if (!d->rc && !sloop_codec_exact_int((double)i)) corrupt(d, "counter out of range");
    add(d, fs, "n", cJSON_CreateNumber((double)i));
  }
  if (mask & SC_F_N_DBL) {
    if (d->end - d->p < 8) corrupt(d, "truncated");
    uint64_t bits = 0;
    for (int i = 0; i < 8 && !d->rc; i++) bits |= (uint64_t)*d->p++ << (8 * i);
    double v;
    memcpy(&v, &bits, 8);
    if (!d->rc && (v != v || v - v != 0)) corrupt(d, "counter not a finite number");
    if (!d->rc && sloop_codec_exact_int(v)) corrupt(d, "counter not in its shortest form");
    if (!d->rc) add(d, fs, "n", cJSON_CreateNumber(v)); /* cJSON casts it to int: finite only */
  }
  if (mask & SC_F_A) {
    uint64_t k = get_varint(d);
    if (!d->rc && k > (uint64_t)(d->end - d->p)) corrupt(d, "truncated");
    cJSON *a = d->rc ? NULL : cJSON_CreateObject();
    add(d, fs, "a", a);
    for (uint64_t i = 0; i < k && !d->rc; i++) {
      char *el = get_string(d);
      cJSON *tags = get_tags(d);
      if (!d->rc && sloop_member(a, el)) corrupt(d, "repeated set element");
      if (!d->rc) add(d, a, el, tags);
      else cJSON_Delete(tags);
      free(el);
    }
  }
  if (mask & SC_F_R) add(d, fs, "r", get_tags(d));
  if (mask & SC_F_Q) {
    uint64_t n = get_varint(d);
    const uint8_t *bytes = get_bytes(d, n); /* binary: any byte */
    uint8_t *raw = NULL, *whole = NULL;
    size_t rawn = 0;
    if (bytes && n >= 2 && (bytes[1] & 2)) {
      /* Its visible text left out: the document's (state_codec.c). */
      const cJSON *shown = doc ? sloop_member(doc, name) : NULL;
      size_t tl = cJSON_IsString(shown) ? strlen(shown->valuestring) : 0;
      if (!tl || (bytes[1] & 1)) {
        corrupt(d, "sequence text missing from the document");
        bytes = NULL;
      } else if (!(whole = malloc((size_t)n + tl))) {
        d->rc = SLOOP_NOMEM;
        bytes = NULL;
      } else {
        memcpy(whole, bytes, (size_t)n);
        memcpy(whole + n, shown->valuestring, tl);
        whole[1] &= (uint8_t)~2;
        bytes = whole;
        n += tl;
      }
    }
    if (bytes && seq_blob_agents(bytes, (size_t)n, 0, d->nodes->lookup, d->nodes->ctx, &raw, &rawn))
      corrupt(d, "sequence devices do not decode");
    else if (bytes) {
      char *b64 = sloop_base64_encode(raw, rawn, NULL);
      if (!b64) d->rc = SLOOP_NOMEM;
      else add(d, fs, "q", cJSON_CreateString(b64));
      free(b64);
    }
    free(raw);
    free(whole);
  }
  if (mask & SC_F_G) {
    sloop_hlc h = get_hlc(d);
    if (!d->rc) add(d, fs, "g", hlc_string(d, h));
  }
  if (mask & SC_F_M) {
    uint64_t n = get_varint(d);
    const char *text = get_span(d, n);
    if (text) {
      const char *end = NULL;
      cJSON *v = cJSON_ParseWithLengthOpts(text, (size_t)n, &end, 0);
      if (!cJSON_IsObject(v) || end != text + n) {
        cJSON_Delete(v);
        corrupt(d, "move registers are not a JSON object");
      } else {
        add(d, fs, "m", v);
      }
    }
  }
  add(d, fields, name, fs);
  fs = NULL;
done:
  cJSON_Delete(fs);
  free(name);
}

int sloop_state_decode(const uint8_t *blob, size_t len, const cJSON *doc, const sloop_nodes *nodes,
                       cJSON **out, char *msg) {
  return sloop_state_decode_with(blob, len, doc, nodes, 0, out, msg);
}

int sloop_state_decode_with(const uint8_t *blob, size_t len, const cJSON *doc, const sloop_nodes *nodes, int flags,
                            cJSON **out, char *msg) {
  dec d = {blob, blob + len, nodes, msg, SLOOP_OK, flags, NULL, 0, 0, 0, {0}, 0};
  *out = NULL;
  if (!blob || len < 2) return corrupt(&d, "truncated");
  if (blob[0] != SLOOP_STATE_CODEC_VERSION) return corrupt(&d, "unknown codec version");
  uint8_t rec = blob[1];
  d.p += 2;
  if (rec & ~SC_REC_ALL) return corrupt(&d, "unknown record mask bit");
  cJSON *state = cJSON_CreateObject();
  if (!state) return SLOOP_NOMEM;
  cJSON *p = NULL;
  if (rec & SC_REC_P) {
    sloop_hlc h = get_hlc(&d);
    if (!d.rc) add(&d, state, "p", p = hlc_string(&d, h));
  }
  if (rec & SC_REC_D) {
    sloop_hlc h = get_hlc(&d);
    if (!d.rc) add(&d, state, "d", hlc_string(&d, h));
  }
  if (rec & SC_REC_F) {
    uint64_t n = get_varint(&d);
    if (!d.rc && n > (uint64_t)(d.end - d.p)) corrupt(&d, "truncated");
    cJSON *fields = d.rc ? NULL : cJSON_CreateObject();
    add(&d, state, "f", fields);
    if (!d.rc && (flags & SC_NAMES_FROM_DOC) && sloop_codec_doc_names(doc, &d.names, &d.nnames)) d.rc = SLOOP_NOMEM;
    for (uint64_t i = 0; i < n && !d.rc; i++) get_field(&d, fields, p, doc);
    free(d.names);
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
  dec d = {blob, blob + len, nodes, msg, SLOOP_OK, 0, NULL, 0, 0, 0, {0}, 0};
  if (!blob || len < 2 || blob[0] != SLOOP_STATE_CODEC_VERSION || (blob[1] & ~SC_REC_ALL)) return -SLOOP_CORRUPT;
  uint8_t rec = blob[1];
  d.p += 2;
  if (!(rec & SC_REC_P)) return 0;
  sloop_hlc p = get_hlc(&d);
  if (!(rec & SC_REC_D)) return d.rc ? -d.rc : 1;
  sloop_hlc del = get_hlc(&d);
  return d.rc ? -d.rc : sloop_hlc_cmp(p, del) > 0;
}
