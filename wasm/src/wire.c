/*
** wire.c -- a change's merge state in protocol v2's compact form (wire.h has the format and
** its checks): the per-answer node list, base64, and the state blob encoded against them.
** The blob itself is state_codec.c's; this file only supplies its node table and its text.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sloop.h"
#include "state_codec.h"
#include "wire.h"

void sloop_wire_nodes_free(sloop_wire_nodes *w) {
  free(w->node);
  memset(w, 0, sizeof(*w));
}

static int nodes_add(sloop_wire_nodes *w, uint64_t node) {
  if (w->count == SLOOP_WIRE_MAX_NODES) return SLOOP_TOOBIG;
  if (w->count == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 16;
    uint64_t *grown = realloc(w->node, cap * sizeof(*grown));
    if (!grown) return SLOOP_NOMEM;
    w->node = grown;
    w->cap = cap;
  }
  w->node[w->count++] = node;
  return SLOOP_OK;
}

/* sloop_nodes.intern over the page list: the index of `node`, appended if new. */
static int page_intern(void *ctx, uint64_t node, uint64_t *index) {
  sloop_wire_nodes *w = ctx;
  if (w->last < w->count && w->node[w->last] == node) return *index = w->last, SLOOP_OK;
  for (size_t i = 0; i < w->count; i++)
    if (w->node[i] == node) return *index = w->last = i, SLOOP_OK;
  int rc = nodes_add(w, node);
  if (!rc) *index = w->last = w->count - 1;
  return rc;
}

/* sloop_nodes.lookup over the page list: an index past its end is corrupt. */
static int page_lookup(void *ctx, uint64_t index, uint64_t *node) {
  const sloop_wire_nodes *w = ctx;
  if (index >= w->count) return SLOOP_CORRUPT;
  *node = w->node[index];
  return SLOOP_OK;
}

cJSON *sloop_wire_nodes_json(const sloop_wire_nodes *w) {
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; arr && i < w->count; i++) {
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)w->node[i]);
    cJSON *s = cJSON_CreateString(hex);
    if (!s || !cJSON_AddItemToArray(arr, s)) {
      cJSON_Delete(s);
      cJSON_Delete(arr);
      return NULL;
    }
  }
  return arr;
}

static int compare_nodes(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

int sloop_wire_nodes_parse(const cJSON *nodes, sloop_wire_nodes *w, char *msg) {
  if (!cJSON_IsArray(nodes)) return snprintf(msg, 200, "nodes must be an array"), SLOOP_INVALID;
  const cJSON *n;
  cJSON_ArrayForEach(n, nodes) {
    uint64_t node;
    const char *s = cJSON_GetStringValue(n);
    if (!s || !sloop_codec_parse_node(s, strlen(s), &node))
      return snprintf(msg, 200, "nodes[%zu] is not 16 lower-case hex digits", w->count), SLOOP_INVALID;
    /* Distinct (checked below on a sorted copy, not quadratically), so one state has one
    ** spelling. */
    int rc = nodes_add(w, node);
    if (rc == SLOOP_TOOBIG) return snprintf(msg, 200, "more than %d nodes", SLOOP_WIRE_MAX_NODES), SLOOP_INVALID;
    if (rc) return rc;
  }
  if (w->count > 1) {
    uint64_t *sorted = malloc(w->count * sizeof(*sorted));
    if (!sorted) return SLOOP_NOMEM;
    memcpy(sorted, w->node, w->count * sizeof(*sorted));
    qsort(sorted, w->count, sizeof(*sorted), compare_nodes);
    int dup = 0;
    for (size_t i = 1; i < w->count && !dup; i++) dup = sorted[i] == sorted[i - 1];
    free(sorted);
    if (dup) return snprintf(msg, 200, "nodes holds a node twice"), SLOOP_INVALID;
  }
  return SLOOP_OK;
}

int sloop_wire_state_encode(const cJSON *state, const cJSON *doc, sloop_wire_nodes *w, char **out, char *msg) {
  sloop_nodes table = {page_intern, page_lookup, w};
  uint8_t *blob = NULL;
  size_t len = 0;
  *out = NULL;
  int rc = sloop_state_encode_with(state, doc, &table, SC_NAMES_FROM_DOC, &blob, &len, msg);
  if (!rc && !(*out = sloop_base64_encode(blob, len, NULL))) rc = SLOOP_NOMEM;
  free(blob);
  return rc;
}

int sloop_wire_state_transcode(const uint8_t *blob, size_t len, const sloop_nodes *stored, const cJSON *doc,
                               sloop_wire_nodes *w, char **out, char *msg) {
  sloop_nodes table = {page_intern, page_lookup, w};
  const char **names = NULL;
  size_t nnames = 0;
  uint8_t *wire = NULL;
  size_t n = 0;
  *out = NULL;
  if (sloop_codec_doc_names(doc, &names, &nnames)) return SLOOP_NOMEM;
  int rc = sloop_state_transcode(blob, len, stored, &table, names, nnames, SC_TO_WIRE, &wire, &n, NULL, NULL, msg);
  if (!rc && !(*out = sloop_base64_encode(wire, n, NULL))) rc = SLOOP_NOMEM;
  free(wire);
  free(names);
  return rc;
}

int sloop_wire_state_decode(const char *b64, size_t len, const cJSON *doc, const sloop_wire_nodes *w, cJSON **out,
                            char *msg) {
  sloop_nodes table = {page_intern, page_lookup, (void *)w}; /* decoding never interns */
  uint8_t *blob = NULL;
  size_t n = 0;
  *out = NULL;
  int rc = sloop_base64_decode(b64, len, &blob, &n);
  if (rc == SLOOP_INVALID) snprintf(msg, 200, "state is not canonical base64");
  if (!rc) {
    rc = sloop_state_decode_with(blob, n, doc, &table, SC_NAMES_FROM_DOC, out, msg);
    if (rc == SLOOP_CORRUPT) rc = SLOOP_INVALID;
  }
  free(blob);
  return rc;
}

/* ---------------------------------------------------------------- base64 ------------- */

static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *sloop_base64_encode(const uint8_t *in, size_t n, size_t *out_len) {
  size_t len = (n + 2) / 3 * 4;
  char *out = malloc(len + 1), *o = out;
  if (!out) return NULL;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    *o++ = kAlphabet[v >> 18];
    *o++ = kAlphabet[(v >> 12) & 63];
    *o++ = kAlphabet[(v >> 6) & 63];
    *o++ = kAlphabet[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
    *o++ = kAlphabet[v >> 18];
    *o++ = kAlphabet[(v >> 12) & 63];
    *o++ = i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
  *o = 0;
  if (out_len) *out_len = len;
  return out;
}

static int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

int sloop_base64_decode(const char *in, size_t n, uint8_t **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  if (n % 4) return SLOOP_INVALID;
  size_t pad = n && in[n - 1] == '=' ? (in[n - 2] == '=' ? 2 : 1) : 0;
  uint8_t *buf = malloc(n / 4 * 3 + 1), *o = buf;
  if (!buf) return SLOOP_NOMEM;
  for (size_t i = 0; i < n; i += 4) {
    int last = i + 4 == n, s[4];
    for (int k = 0; k < 4; k++) s[k] = last && k >= 4 - (int)pad ? 0 : sextet(in[i + k]);
    if (s[0] < 0 || s[1] < 0 || s[2] < 0 || s[3] < 0) return free(buf), SLOOP_INVALID;
    uint32_t v = (uint32_t)s[0] << 18 | (uint32_t)s[1] << 12 | (uint32_t)s[2] << 6 | (uint32_t)s[3];
    *o++ = (uint8_t)(v >> 16);
    if (!(last && pad == 2)) *o++ = (uint8_t)(v >> 8);
    else if (v & 0xffff) return free(buf), SLOOP_INVALID; /* bits the padding says are unused */
    if (!(last && pad >= 1)) *o++ = (uint8_t)v;
    else if (pad == 1 && (v & 0xff)) return free(buf), SLOOP_INVALID;
  }
  *out = buf;
  *out_len = (size_t)(o - buf);
  return SLOOP_OK;
}
