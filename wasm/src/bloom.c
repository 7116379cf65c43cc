/*
** bloom.c -- Bloom filters over resync keys, and their base64 wire form (see bloom.h).
**
** What it leaves out: counting and deletion (a resync filter is built, sent once and
** dropped), and any hash seeding: both ends must derive the same bits from the same key.
*/
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bloom.h"
#include "json.h"
#include "sloop.h"

static uint64_t mix64(uint64_t h) {
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

uint64_t sloop_key_hash(const char *key, size_t len) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < len; i++) {
    h ^= (uint8_t)key[i];
    h *= 0x100000001b3ull;
  }
  return mix64(h);
}

size_t sloop_bloom_key(char *buf, const char *coll, const char *rid, int64_t version, int with_version) {
  int n = with_version ? snprintf(buf, SLOOP_BLOOM_KEY_MAX, "%s\x1f%s\x1f%lld", coll, rid, (long long)version)
                       : snprintf(buf, SLOOP_BLOOM_KEY_MAX, "%s\x1f%s", coll, rid);
  return n < 0 ? 0 : (size_t)n >= SLOOP_BLOOM_KEY_MAX ? SLOOP_BLOOM_KEY_MAX - 1 : (size_t)n;
}

int sloop_bloom_init(sloop_bloom *b, uint32_t n, double fp) {
  memset(b, 0, sizeof(*b));
  double ln2 = log(2.0);
  double bits = ceil(-(double)(n ? n : 1) * log(fp) / (ln2 * ln2));
  if (bits < 64) bits = 64;
  if (bits > SLOOP_BLOOM_MAX_BITS) return SLOOP_TOOBIG;
  b->m = ((uint32_t)bits + 7u) & ~7u;
  uint32_t k = (uint32_t)lround((double)b->m / (n ? n : 1) * ln2);
  b->k = k < 1 ? 1 : k > 16 ? 16 : k;
  b->n = n;
  b->bits = calloc(b->m / 8, 1);
  return b->bits ? SLOOP_OK : SLOOP_NOMEM;
}

void sloop_bloom_clear(sloop_bloom *b) {
  free(b->bits);
  memset(b, 0, sizeof(*b));
}

/* Probe i of a key: double hashing on the two halves of its 64-bit hash. */
static uint32_t probe(const sloop_bloom *b, uint64_t h, uint32_t i) {
  if (b->salt) h = mix64(h + b->salt * 0x9e3779b97f4a7c15ull);
  uint32_t h1 = (uint32_t)h, h2 = (uint32_t)(h >> 32) | 1u;
  return (uint32_t)(((uint64_t)h1 + (uint64_t)i * h2) % b->m);
}

void sloop_bloom_add(sloop_bloom *b, uint64_t key_hash) {
  for (uint32_t i = 0; i < b->k; i++) {
    uint32_t bit = probe(b, key_hash, i);
    b->bits[bit >> 3] |= (uint8_t)(1u << (bit & 7));
  }
}

int sloop_bloom_has(const sloop_bloom *b, uint64_t key_hash) {
  for (uint32_t i = 0; i < b->k; i++) {
    uint32_t bit = probe(b, key_hash, i);
    if (!(b->bits[bit >> 3] & (1u << (bit & 7)))) return 0;
  }
  return 1;
}

/* ---------------------------------------------------------------- base64 ------------- */

static const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const uint8_t *in, size_t len) {
  char *out = malloc((len + 2) / 3 * 4 + 1), *p = out;
  if (!out) return NULL;
  for (size_t i = 0; i < len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < len ? in[i + 2] : 0);
    *p++ = kB64[v >> 18 & 63];
    *p++ = kB64[v >> 12 & 63];
    *p++ = i + 1 < len ? kB64[v >> 6 & 63] : '=';
    *p++ = i + 2 < len ? kB64[v & 63] : '=';
  }
  *p = 0;
  return out;
}

static int b64_value(char c) {
  const char *p = c ? strchr(kB64, c) : NULL;
  return p ? (int)(p - kB64) : -1;
}

/* Decodes padded base64 of exactly `want` bytes into out; 0 on success, -1 otherwise. */
static int b64_decode(const char *in, uint8_t *out, size_t want) {
  size_t len = strlen(in);
  if (len != (want + 2) / 3 * 4) return -1;
  size_t o = 0;
  for (size_t i = 0; i < len; i += 4) {
    int v[4];
    for (int j = 0; j < 4; j++) v[j] = in[i + j] == '=' && i + 4 == len && j >= 2 ? 0 : b64_value(in[i + j]);
    if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0) return -1;
    uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
    uint8_t bytes[3] = {(uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w};
    for (int j = 0; j < 3 && o < want; j++) out[o++] = bytes[j];
  }
  return o == want ? 0 : -1;
}

cJSON *sloop_bloom_to_json(const sloop_bloom *b) {
  char *text = b64_encode(b->bits, b->m / 8);
  cJSON *j = text ? cJSON_CreateObject() : NULL;
  if (j && (!cJSON_AddStringToObject(j, "bloom", text) || !cJSON_AddNumberToObject(j, "k", b->k) ||
            !cJSON_AddNumberToObject(j, "m", b->m) || !cJSON_AddNumberToObject(j, "n", b->n) ||
            (b->salt && !cJSON_AddNumberToObject(j, "salt", b->salt)))) {
    cJSON_Delete(j);
    j = NULL;
  }
  free(text);
  return j;
}

static int whole_in(const cJSON *v, double lo, double hi) {
  return cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi && v->valuedouble == floor(v->valuedouble);
}

int sloop_bloom_from_json(const cJSON *json, sloop_bloom *b) {
  memset(b, 0, sizeof(*b));
  const cJSON *bits = sloop_member(json, "bloom");
  const cJSON *k = sloop_member(json, "k");
  const cJSON *m = sloop_member(json, "m");
  const cJSON *n = sloop_member(json, "n");
  const cJSON *salt = sloop_member(json, "salt");
  if (!cJSON_IsString(bits) || !whole_in(k, 1, 32) || !whole_in(m, 8, SLOOP_BLOOM_MAX_BITS) ||
      ((uint32_t)m->valuedouble & 7u) || (n && !whole_in(n, 0, 4294967295.0)) ||
      (salt && !whole_in(salt, 0, 4294967295.0)))
    return SLOOP_INVALID;
  b->salt = salt ? (uint32_t)salt->valuedouble : 0;
  b->m = (uint32_t)m->valuedouble;
  b->k = (uint32_t)k->valuedouble;
  b->n = n ? (uint32_t)n->valuedouble : 0;
  b->bits = malloc(b->m / 8);
  if (!b->bits) return SLOOP_NOMEM;
  if (b64_decode(bits->valuestring, b->bits, b->m / 8)) {
    sloop_bloom_clear(b);
    return SLOOP_INVALID;
  }
  return SLOOP_OK;
}
