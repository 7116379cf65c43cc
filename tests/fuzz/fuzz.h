/*
** fuzz.h -- what the libFuzzer targets share: a fixed clock and PRNG (an input must replay
** the same way), the schema of the native tests, and a deterministic custom merge.
**
** Targets open fresh in-memory databases for every input, so a crash reproduces from the one
** input that caused it; the cost is a few hundred microseconds of schema setup per run.
*/
#ifndef SLOOP_FUZZ_H
#define SLOOP_FUZZ_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sloop.h"

static const char kFuzzSchema[] =
    "{\"collections\": {\"notes\": {\"fields\": {\"title\": \"lww\", \"body\": \"lww\","
    " \"tags\": \"set\", \"votes\": \"counter\", \"status\": \"manual\", \"createdBy\": \"fww\","
    " \"layout\": \"custom\"}, \"search\": [\"title\", \"body\"], \"indexes\": [\"status\"]}},"
    " \"maxDriftMs\": 3600000}";

typedef struct fuzz_env {
  int64_t now;
  uint64_t rng;
} fuzz_env;

static inline int64_t fuzz_now(void *ctx) { return ((fuzz_env *)ctx)->now; }

static inline uint64_t fuzz_random(void *ctx) {
  uint64_t z = (((fuzz_env *)ctx)->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* The larger JSON text wins; a "veto" is refused, so the rejection path runs too. */
static inline int fuzz_merge(void *ctx, const char *coll, const char *field, const char *current,
                      const char *incoming, char **out) {
  (void)ctx, (void)coll, (void)field;
  *out = NULL;
  if (current && incoming && strcmp(incoming, "\"veto\"") == 0) return 1;
  const char *winner = !current ? incoming : !incoming ? current : strcmp(current, incoming) >= 0 ? current : incoming;
  if (!winner) return 0;
  size_t n = strlen(winner) + 1;
  *out = malloc(n);
  if (!*out) return 1;
  memcpy(*out, winner, n);
  return 0;
}

/* Opens a fresh in-memory database with the schema and the merge; aborts on failure, which
** is a bug in the setup, not in the input. */
static inline sloop_db *fuzz_open(sloop_role role, fuzz_env *env) {
  env->now = 1700000000000LL;
  env->rng = 42;
  sloop_env e = {fuzz_now, fuzz_random, env};
  sloop_db *db = NULL;
  if (sloop_open(":memory:", NULL, role, &e, &db) || sloop_set_schema(db, kFuzzSchema, strlen(kFuzzSchema))) abort();
  sloop_set_merge(db, fuzz_merge, NULL);
  return db;
}

#endif /* SLOOP_FUZZ_H */
