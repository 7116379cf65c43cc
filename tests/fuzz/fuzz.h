/*
** fuzz.h -- what the libFuzzer targets share with the native tests (world.h: the schema, the
** deterministic clock and PRNG, so an input replays the same way, and the custom merge).
**
** Targets open fresh in-memory databases for every input, so a crash reproduces from the one
** input that caused it; the cost is a few hundred microseconds of schema setup per run.
*/
#ifndef SLOOP_FUZZ_H
#define SLOOP_FUZZ_H

#include "world.h"

/* Opens a fresh in-memory database with the schema and the merge; aborts on failure, which
** is a bug in the setup, not in the input. */
static inline sloop_db *fuzz_open(sloop_role role, test_env *env) {
  env->now = 1700000000000LL;
  env->rng = 42;
  sloop_env e = test_env_make(env);
  sloop_db *db = NULL;
  if (sloop_open(":memory:", NULL, role, &e, &db) || sloop_set_schema(db, kWorldSchema, strlen(kWorldSchema))) abort();
  sloop_set_merge(db, world_merge, NULL);
  return db;
}

#endif /* SLOOP_FUZZ_H */
