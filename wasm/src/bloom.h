/*
** bloom.h -- the Bloom filters and the order-independent set hash that resync exchanges
** (docs/PROTOCOL.md, Resync). Private to the core.
**
** Keys are byte strings; resync uses "coll\x1frid\x1fversion" for what a replica holds and
** "coll\x1frid" for what the server has. One 64-bit hash per key (FNV-1a, then a splitmix64
** finaliser, because FNV alone mixes its high bits poorly) gives the two halves of double
** hashing: probe i sets bit (h1 + i * h2) mod m, with h2 odd so the probes never collapse.
** Both ends must hash alike: this file is the single definition, compiled into the browser
** and the server.
**
** A filter travels as {"bloom": "<base64 of the bit array, bit i in byte i/8, LSB first>",
** "k": probes, "m": bits, "n": keys it was sized for, "salt": s (omitted when 0)}. With a
** salt s > 0 the key hash h is replaced by splitmix64(h + s * 0x9e3779b97f4a7c15), so the
** false positives of two filters of different salts are independent.
*/
#ifndef SLOOP_BLOOM_H
#define SLOOP_BLOOM_H

#include <stddef.h>
#include <stdint.h>

#include "cJSON.h"

/* The largest filter accepted (bits): 8 MiB of bits, over what a 1 MiB request body holds. */
#define SLOOP_BLOOM_MAX_BITS (64u * 1024u * 1024u)

typedef struct sloop_bloom {
  uint8_t *bits;   /* owned; m / 8 bytes */
  uint32_t m;      /* number of bits, a multiple of 8 */
  uint32_t k;      /* probes per key */
  uint32_t n;      /* keys it was sized for (informational) */
  uint32_t salt;   /* mixed into every key hash: a second round's filter errs on other keys */
} sloop_bloom;

/* The 64-bit hash of a key, as both the filters and the set hash use it. */
uint64_t sloop_key_hash(const char *key, size_t len);

/* Sizes a filter for n keys at false-positive rate fp (0 < fp < 1): m = -n ln fp / ln^2 2,
** k = m/n ln 2. All bits clear, salt 0. SLOOP_NOMEM, or SLOOP_TOOBIG past
** SLOOP_BLOOM_MAX_BITS. */
int sloop_bloom_init(sloop_bloom *b, uint32_t n, double fp);
void sloop_bloom_clear(sloop_bloom *b);

void sloop_bloom_add(sloop_bloom *b, uint64_t key_hash);
int sloop_bloom_has(const sloop_bloom *b, uint64_t key_hash);

/* The wire form (see above) as a new cJSON object, or NULL on OOM. */
cJSON *sloop_bloom_to_json(const sloop_bloom *b);

/* Reads the wire form into *b (owned by the caller afterwards). SLOOP_INVALID when a field
** is missing, k is outside 1..32, m is not a multiple of 8 within SLOOP_BLOOM_MAX_BITS, or
** the base64 does not decode to m / 8 bytes; SLOOP_NOMEM. */
int sloop_bloom_from_json(const cJSON *json, sloop_bloom *b);

/* The key "coll\x1frid\x1fversion" (with_version) or "coll\x1frid" into buf; returns its
** length. buf holds at least SLOOP_BLOOM_KEY_MAX bytes. */
#define SLOOP_BLOOM_KEY_MAX 224
size_t sloop_bloom_key(char *buf, const char *coll, const char *rid, int64_t version, int with_version);

#endif /* SLOOP_BLOOM_H */
