/*
** merge_seq.c -- the `text` and `list` field policies (merge_seq.h): checking, applying and
** showing their field operations. Both sides run it: the server on pushed operations, the
** client on its own writes and when it rebases them.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hlc.h"
#include "json.h"
#include "merge_seq.h"
#include "sloop.h"
#include "state_codec.h"
#include "wire.h"

#define MSG(...) snprintf(msg, 200, __VA_ARGS__)

int sloop_seq_parse_id(const char *s, seq_id *id) {
  size_t n = strlen(s);
  if (n < 18 || n > SLOOP_SEQ_ID_MAX - 1 || s[16] != ':' || !sloop_codec_parse_node(s, 16, &id->node) || !id->node)
    return -1;
  uint64_t c = 0;
  for (size_t i = 17; i < n; i++) {
    if (s[i] < '0' || s[i] > '9' || (i == 17 && s[i] == '0' && n > 18)) return -1;
    c = c * 10 + (uint64_t)(s[i] - '0');
    if (c > SEQ_MAX_COUNTER) return -1;
  }
  id->seq = (uint32_t)c;
  return 0;
}

void sloop_seq_format_id(seq_id id, char buf[SLOOP_SEQ_ID_MAX]) {
  snprintf(buf, SLOOP_SEQ_ID_MAX, "%016llx:%u", (unsigned long long)id.node, id.seq);
}

/* ---------------------------------------------------------------- shape -------------- */

static int id_member(const cJSON *edit, const char *key, int required) {
  const cJSON *v = sloop_member(edit, key);
  seq_id id;
  if (!v) return !required;
  return cJSON_IsString(v) && sloop_seq_parse_id(v->valuestring, &id) == 0;
}

static int check_edit(sloop_policy p, const cJSON *e, char *msg) {
  if (!cJSON_IsObject(e)) return MSG("a sequence edit is an object"), SLOOP_INVALID;
  int members = cJSON_GetArraySize(e);
  if (sloop_member(e, "d")) {
    const cJSON *n = sloop_member(e, "n");
    if (members != 2 || !id_member(e, "d", 1) || !sloop_json_whole(n, SEQ_MAX_RUN) || n->valuedouble < 1)
      return MSG("a deletion is {\"d\": id, \"n\": 1..%u}", SEQ_MAX_RUN), SLOOP_INVALID;
    return SLOOP_OK;
  }
  if (!id_member(e, "i", 1) || !id_member(e, "l", 0) || !id_member(e, "r", 0))
    return MSG("an insertion needs an id \"i\" and origins \"l\", \"r\" of the form <device>:<counter>"), SLOOP_INVALID;
  int expected = 1 + (sloop_member(e, "l") != NULL) + (sloop_member(e, "r") != NULL) + 1;
  const cJSON *s = sloop_member(e, "s"), *v = sloop_member(e, "v"), *mv = sloop_member(e, "mv");
  if (p == SLOOP_POLICY_TEXT) {
    if (!cJSON_IsString(s) || members != expected)
      return MSG("a text insertion carries its characters in \"s\""), SLOOP_SCHEMA;
    size_t len = strlen(s->valuestring);
    uint32_t pts = 0, units = 0;
    if (!len || !seq_utf8_count((const uint8_t *)s->valuestring, len, &pts, &units))
      return MSG("inserted text is empty or not UTF-8"), SLOOP_INVALID;
    if (pts > SEQ_MAX_RUN) return MSG("an insertion holds at most %u characters", SEQ_MAX_RUN), SLOOP_INVALID;
    return SLOOP_OK;
  }
  if (members != expected || (!v == !mv)) return MSG("a list insertion carries \"v\" (values) or \"mv\" (a moved element)"), SLOOP_SCHEMA;
  if (v && (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 || cJSON_GetArraySize(v) > (int)SEQ_MAX_RUN))
    return MSG("\"v\" is an array of 1 to %u values", SEQ_MAX_RUN), SLOOP_INVALID;
  if (mv && !id_member(e, "mv", 1)) return MSG("\"mv\" is an element id"), SLOOP_INVALID;
  return SLOOP_OK;
}

int sloop_seq_check_op(sloop_policy p, const cJSON *fop, char *msg) {
  const cJSON *edits = sloop_member(fop, "seq"), *g = sloop_member(fop, "g");
  sloop_hlc h;
  if (g && (!cJSON_IsString(g) || sloop_hlc_parse(g->valuestring, strlen(g->valuestring), &h)))
    return MSG("field '%.64s': \"g\" is a timestamp", fop->string), SLOOP_INVALID;
  if (!cJSON_IsArray(edits) || cJSON_GetArraySize(fop) != 1 + (g != NULL))
    return MSG("field '%.64s' (%s) takes {\"seq\": [edits]}", fop->string, sloop_policy_name(p)), SLOOP_SCHEMA;
  int n = cJSON_GetArraySize(edits);
  if (n < 1 || n > SLOOP_SEQ_EDITS_MAX)
    return MSG("field '%.64s': 1 to %d edits per operation", fop->string, SLOOP_SEQ_EDITS_MAX), SLOOP_INVALID;
  const cJSON *e;
  cJSON_ArrayForEach(e, edits) {
    int rc = check_edit(p, e, msg);
    if (rc) return rc;
  }
  return SLOOP_OK;
}

/* ---------------------------------------------------------------- state -------------- */

typedef struct buf {
  uint8_t *p;
  size_t len, cap;
} buf;

static int put_element(buf *b, char tag, const char *text, size_t n);

int sloop_list_values(const cJSON *values, int first, int count, uint8_t **out, size_t *len) {
  buf b = {0};
  const cJSON *v = cJSON_GetArrayItem(values, first);
  for (int i = 0; i < count && v; i++, v = v->next) {
    size_t n = 0;
    char *json = sloop_print(v, &n);
    int bad = !json || put_element(&b, 'v', json, n);
    free(json);
    if (bad) return free(b.p), SLOOP_NOMEM;
  }
  *out = b.p;
  *len = b.len;
  return SLOOP_OK;
}

int sloop_list_move_slot(const char *elem, uint8_t **out, size_t *len) {
  buf b = {0};
  if (put_element(&b, 'm', elem, strlen(elem))) return free(b.p), SLOOP_NOMEM;
  *out = b.p;
  *len = b.len;
  return SLOOP_OK;
}

/* A field written under another policy before the schema made it text or a list keeps its
** value: every replica turns the value into the same elements, ids (SLOOP_SEQ_LEGACY_NODE, 0..)
** with no origins, so edits made against it name ids the server finds too. A value of another
** type starts empty. */
static int from_value(const cJSON *v, sloop_policy p, seq *s, char *msg) {
  seq_id id = {SLOOP_SEQ_LEGACY_NODE, 0}, none = {0, 0};
  if (p == SLOOP_POLICY_TEXT && cJSON_IsString(v) && v->valuestring[0]) {
    size_t len = strlen(v->valuestring);
    uint32_t n = 0, units;
    if (!seq_utf8_count((const uint8_t *)v->valuestring, len, &n, &units) || n > SEQ_MAX_RUN) return SLOOP_OK;
    return seq_insert(s, id, none, none, (const uint8_t *)v->valuestring, len, n, msg) ? SLOOP_CORRUPT : SLOOP_OK;
  }
  if (p != SLOOP_POLICY_LIST || !cJSON_IsArray(v) || !cJSON_GetArraySize(v)) return SLOOP_OK;
  uint8_t *content = NULL;
  size_t len = 0;
  int n = cJSON_GetArraySize(v);
  int rc = sloop_list_values(v, 0, n, &content, &len);
  if (!rc && seq_insert(s, id, none, none, content, len, (uint32_t)n, msg)) rc = SLOOP_CORRUPT;
  free(content);
  return rc;
}

int sloop_seq_field_load(const cJSON *fs, sloop_policy p, seq **out, char *msg) {
  const cJSON *q = sloop_member(fs, "q");
  *out = NULL;
  if (q && !cJSON_IsString(q)) return MSG("sequence state is not base64"), SLOOP_CORRUPT;
  int rc = sloop_seq_from_base64(q ? q->valuestring : NULL, p, out, msg);
  if (!rc && !q && sloop_member(fs, "v")) {
    rc = from_value(sloop_member(fs, "v"), p, *out, msg);
    if (rc) seq_free(*out), *out = NULL;
  }
  return rc;
}

int sloop_seq_from_base64(const char *b64, sloop_policy p, seq **out, char *msg) {
  seq_kind kind = p == SLOOP_POLICY_LIST ? SEQ_LIST : SEQ_TEXT;
  *out = NULL;
  if (!b64) {
    *out = seq_new(kind);
    return *out ? SLOOP_OK : SLOOP_NOMEM;
  }
  uint8_t *blob = NULL;
  size_t len = 0;
  if (sloop_base64_decode(b64, strlen(b64), &blob, &len)) return MSG("sequence state is not base64"), SLOOP_CORRUPT;
  *out = seq_decode(kind, blob, len, NULL, 0, msg);
  free(blob);
  return *out ? SLOOP_OK : SLOOP_CORRUPT;
}

int sloop_seq_field_store(cJSON *fs, const seq *s) {
  uint8_t *blob = NULL;
  size_t len = 0;
  if (seq_encode(s, 0, &blob, &len)) return SLOOP_NOMEM;
  char *b64 = sloop_base64_encode(blob, len, NULL);
  free(blob);
  cJSON *str = b64 ? cJSON_CreateString(b64) : NULL;
  free(b64);
  if (!str) return SLOOP_NOMEM;
  if (sloop_member(fs, "q")) return cJSON_ReplaceItemInObjectCaseSensitive(fs, "q", str) ? SLOOP_OK : SLOOP_NOMEM;
  return cJSON_AddItemToObject(fs, "q", str) ? SLOOP_OK : (cJSON_Delete(str), SLOOP_NOMEM);
}

/* ---------------------------------------------------------------- apply -------------- */

static int buf_put(buf *b, const void *src, size_t n) {
  if (b->len + n > b->cap) {
    size_t c = b->cap ? b->cap * 2 : 64;
    while (c < b->len + n) c *= 2;
    uint8_t *q = realloc(b->p, c);
    if (!q) return -1;
    b->p = q, b->cap = c;
  }
  memcpy(b->p + b->len, src, n);
  b->len += n;
  return 0;
}

/* Appends one list element: its LEB128 length, the tag and the text. */
static int put_element(buf *b, char tag, const char *text, size_t n) {
  uint8_t len[5];
  size_t k = 0, v = n + 1;
  do {
    len[k] = v & 0x7f;
    v >>= 7;
    if (v) len[k] |= 0x80;
    k++;
  } while (v);
  return buf_put(b, len, k) || buf_put(b, &tag, 1) || buf_put(b, text, n);
}

/* Splits a list element (its LEB128 length, then tag and text). 0, or -1 when malformed. */
static int element_parts(const uint8_t *c, size_t clen, char *tag, const char **text, size_t *tlen) {
  size_t i = 0, len = 0;
  int shift = 0;
  for (;;) {
    if (i >= clen || shift > 28) return -1;
    uint8_t b = c[i++];
    len |= (size_t)(b & 0x7f) << shift;
    shift += 7;
    if (!(b & 0x80)) break;
  }
  if (len < 1 || len != clen - i) return -1;
  *tag = (char)c[i];
  *text = (const char *)c + i + 1;
  *tlen = len - 1;
  return 0;
}

static seq_id get_id(const cJSON *edit, const char *key) {
  seq_id id = {0, 0};
  const cJSON *v = sloop_member(edit, key);
  if (v) sloop_seq_parse_id(v->valuestring, &id);
  return id;
}

/* Sets the element's move register to (slot, hlc) when that is newer than what it holds. */
static int set_register(cJSON *moves, seq_id elem, seq_id slot, const char *hlc) {
  char e[SLOOP_SEQ_ID_MAX], sl[SLOOP_SEQ_ID_MAX];
  sloop_seq_format_id(elem, e);
  sloop_seq_format_id(slot, sl);
  cJSON *cur = sloop_member(moves, e);
  if (cJSON_GetArraySize(cur) == 2) {
    const cJSON *ct = cJSON_GetArrayItem(cur, 1), *cs = cJSON_GetArrayItem(cur, 0);
    if (cJSON_IsString(ct) && cJSON_IsString(cs)) {
      int order = strcmp(hlc, ct->valuestring);
      if (order < 0 || (order == 0 && strcmp(sl, cs->valuestring) <= 0)) return SLOOP_OK;
    }
  }
  cJSON *reg = cJSON_CreateArray();
  if (!reg || !cJSON_AddItemToArray(reg, cJSON_CreateString(sl)) || !cJSON_AddItemToArray(reg, cJSON_CreateString(hlc)) ||
      cJSON_GetArraySize(reg) != 2)
    return cJSON_Delete(reg), SLOOP_NOMEM;
  if (cur) return cJSON_ReplaceItemInObjectCaseSensitive(moves, e, reg) ? SLOOP_OK : SLOOP_NOMEM;
  return cJSON_AddItemToObject(moves, e, reg) ? SLOOP_OK : (cJSON_Delete(reg), SLOOP_NOMEM);
}

static int apply_edit(seq *s, cJSON *moves, sloop_policy p, const cJSON *e, const char *hlc, int *refused, char *msg) {
  if (sloop_member(e, "d")) {
    if (seq_delete(s, get_id(e, "d"), (uint32_t)sloop_member(e, "n")->valuedouble, msg)) *refused = SLOOP_INVALID;
    return SLOOP_OK;
  }
  seq_id id = get_id(e, "i"), l = get_id(e, "l"), r = get_id(e, "r");
  uint8_t *content = NULL;
  size_t len = 0;
  uint32_t n = 0;
  const cJSON *mv = sloop_member(e, "mv");
  seq_id moved = {0, 0};
  if (p == SLOOP_POLICY_TEXT) {
    const char *text = sloop_member(e, "s")->valuestring;
    uint32_t units;
    seq_utf8_count((const uint8_t *)text, strlen(text), &n, &units);
    if (seq_insert(s, id, l, r, (const uint8_t *)text, strlen(text), n, msg)) *refused = SLOOP_INVALID;
    return SLOOP_OK;
  }
  if (mv) {
    moved = get_id(e, "mv");
    const uint8_t *c = NULL;
    const char *text;
    size_t clen = 0, tlen;
    char tag = 0;
    int st = seq_element(s, moved, &c, &clen);
    /* Only an element as inserted moves (tag 'v'), not a slot a move made. */
    if (st < 0 || (st == 1 && (element_parts(c, clen, &tag, &text, &tlen) || tag != 'v'))) {
      MSG("move of an unknown element %s", sloop_member(e, "mv")->valuestring);
      *refused = SLOOP_INVALID;
      return SLOOP_OK;
    }
    if (sloop_list_move_slot(sloop_member(e, "mv")->valuestring, &content, &len)) return SLOOP_NOMEM;
    n = 1;
  } else {
    n = (uint32_t)cJSON_GetArraySize(sloop_member(e, "v"));
    if (sloop_list_values(sloop_member(e, "v"), 0, (int)n, &content, &len)) return SLOOP_NOMEM;
  }
  if (seq_insert(s, id, l, r, content, len, n, msg)) *refused = SLOOP_INVALID;
  free(content);
  if (!*refused && mv) return set_register(moves, moved, id, hlc);
  return SLOOP_OK;
}

int sloop_seq_field_apply(cJSON *fs, sloop_policy p, const cJSON *fop, const char *hlc, double version, int *refused,
                          char *msg) {
  seq *s = NULL;
  *refused = 0;
  const char *g = cJSON_GetStringValue(sloop_member(fop, "g")), *have = cJSON_GetStringValue(sloop_member(fs, "g"));
  if (g && (!have || strcmp(g, have) != 0)) {
    MSG("field '%.64s' was deleted and written again since this edit was made", fop->string);
    *refused = SLOOP_DELETED;
    return SLOOP_OK;
  }
  int rc = sloop_seq_field_load(fs, p, &s, msg);
  if (rc) return rc;

  cJSON *moves = NULL;
  if (p == SLOOP_POLICY_LIST) {
    const cJSON *m = sloop_member(fs, "m");
    moves = m ? cJSON_Duplicate(m, 1) : cJSON_CreateObject();
    if (!moves) rc = SLOOP_NOMEM;
  }
  const cJSON *e;
  cJSON_ArrayForEach(e, sloop_member(fop, "seq")) {
    if (rc || *refused) break;
    rc = apply_edit(s, moves, p, e, hlc, refused, msg);
  }
  if (!rc && !*refused) rc = sloop_seq_field_store(fs, s);
  /* The write that begins the sequence names it (a value from another policy begins it too). */
  if (!rc && !*refused && !have && !cJSON_AddStringToObject(fs, "g", hlc)) rc = SLOOP_NOMEM;
  if (!rc && !*refused) {
    /* A value from before the field was a sequence is in the sequence now. */
    cJSON_DeleteItemFromObjectCaseSensitive(fs, "v");
    cJSON_DeleteItemFromObjectCaseSensitive(fs, "t");
    cJSON_DeleteItemFromObjectCaseSensitive(fs, "w");
  }
  if (!rc && !*refused && moves) {
    if (cJSON_GetArraySize(moves) == 0) cJSON_Delete(moves);
    else if (sloop_member(fs, "m")) rc = cJSON_ReplaceItemInObjectCaseSensitive(fs, "m", moves) ? SLOOP_OK : SLOOP_NOMEM;
    else rc = cJSON_AddItemToObject(fs, "m", moves) ? SLOOP_OK : SLOOP_NOMEM;
    moves = NULL;
  }
  cJSON_Delete(moves);
  if (!rc && !*refused) {
    cJSON *sv = cJSON_CreateNumber(version);
    if (!sv) rc = SLOOP_NOMEM;
    else if (sloop_member(fs, "s")) cJSON_ReplaceItemInObjectCaseSensitive(fs, "s", sv);
    else cJSON_AddItemToObject(fs, "s", sv);
  }
  seq_free(s);
  return rc;
}

/* ---------------------------------------------------------------- showing ------------ */

typedef struct shown_ctx {
  const seq *s;
  const cJSON *moves;
  sloop_list_item *items;
  size_t n, cap, at;
  int rc;
} shown_ctx;

/* The slot an element's register names, or 0 when it was never moved. */
static int moved_to(const cJSON *moves, seq_id elem, seq_id *slot) {
  char e[SLOOP_SEQ_ID_MAX];
  sloop_seq_format_id(elem, e);
  const cJSON *reg = sloop_member(moves, e);
  const cJSON *sl = cJSON_GetArrayItem(reg, 0);
  return cJSON_IsString(sl) && sloop_seq_parse_id(sl->valuestring, slot) == 0;
}

static int collect(void *ctx, seq_id first, const uint8_t *bytes, size_t len, uint32_t n) {
  shown_ctx *c = ctx;
  size_t at = 0;
  for (uint32_t k = 0; k < n; k++, c->at++) {
    size_t size = 0, i = at;
    int shift = 0;
    while (bytes[i] & 0x80) size |= (size_t)(bytes[i++] & 0x7f) << shift, shift += 7;
    size |= (size_t)bytes[i++] << shift;
    const uint8_t *el = bytes + at;
    size_t el_len = i - at + size;
    at += el_len;
    char tag;
    const char *text;
    size_t tlen;
    if (element_parts(el, el_len, &tag, &text, &tlen)) return c->rc = SLOOP_CORRUPT;
    seq_id slot = {first.node, first.seq + k}, elem = slot, to;
    if (tag == 'v') {
      if (moved_to(c->moves, elem, &to)) continue;
    } else if (tag == 'm') {
      char ref[SLOOP_SEQ_ID_MAX];
      if (tlen >= sizeof(ref)) return c->rc = SLOOP_CORRUPT;
      memcpy(ref, text, tlen);
      ref[tlen] = 0;
      if (sloop_seq_parse_id(ref, &elem) || !moved_to(c->moves, elem, &to) || to.node != slot.node || to.seq != slot.seq)
        continue;
      const uint8_t *orig;
      size_t olen;
      if (seq_element(c->s, elem, &orig, &olen) != 1) continue; /* removed: wherever it moved */
      if (element_parts(orig, olen, &tag, &text, &tlen) || tag != 'v') return c->rc = SLOOP_CORRUPT;
    } else {
      return c->rc = SLOOP_CORRUPT;
    }
    if (c->n == c->cap) {
      size_t cap = c->cap ? c->cap * 2 : 16;
      sloop_list_item *q = realloc(c->items, cap * sizeof(*q));
      if (!q) return c->rc = SLOOP_NOMEM;
      c->items = q, c->cap = cap;
    }
    c->items[c->n++] = (sloop_list_item){slot, elem, c->at, text, tlen};
  }
  (void)len;
  return 0;
}

int sloop_list_shown(const seq *s, const cJSON *moves, sloop_list_item **items, size_t *n) {
  shown_ctx c = {s, moves, NULL, 0, 0, 0, SLOOP_OK};
  seq_each_visible_id(s, collect, &c);
  if (c.rc) {
    free(c.items);
    *items = NULL, *n = 0;
    return c.rc;
  }
  *items = c.items;
  *n = c.n;
  return SLOOP_OK;
}

cJSON *sloop_seq_field_value(const cJSON *fs, sloop_policy p) {
  char msg[200];
  seq *s = NULL;
  if (sloop_seq_field_load(fs, p, &s, msg)) return NULL;
  cJSON *out = NULL;
  if (p == SLOOP_POLICY_TEXT) {
    char *text = NULL;
    size_t len;
    if (!seq_text(s, &text, &len)) out = cJSON_CreateString(text);
    free(text);
  } else {
    sloop_list_item *items = NULL;
    size_t n = 0;
    if (!sloop_list_shown(s, sloop_member(fs, "m"), &items, &n) && (out = cJSON_CreateArray())) {
      for (size_t i = 0; i < n; i++) {
        const char *end = NULL;
        cJSON *v = cJSON_ParseWithLengthOpts(items[i].json, items[i].json_len, &end, 0);
        if (!v || end != items[i].json + items[i].json_len || !cJSON_AddItemToArray(out, v)) {
          cJSON_Delete(v);
          cJSON_Delete(out);
          out = NULL;
          break;
        }
      }
    }
    free(items);
  }
  seq_free(s);
  return out;
}
