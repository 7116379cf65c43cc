/*
** testutil.h -- helpers shared by the native C tests (cmocka).
*/
#ifndef SLOOP_TESTUTIL_H
#define SLOOP_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sloop.h"

/* Length of a NUL-terminated literal, for the (pointer, length) API. */
#define S(str) (str), strlen(str)

/* Fails the test with the handle's message when rc is not SLOOP_OK. */
#define assert_ok(db, expr)                                                         \
  do {                                                                              \
    int rc_ = (expr);                                                               \
    if (rc_ != SLOOP_OK)                                                            \
      fail_msg("%s -> %s: %s", #expr, sloop_errstr(rc_), sloop_errmsg(db));        \
  } while (0)

/* A deterministic environment: a settable clock and a seeded PRNG (splitmix64), so every
** random case replays exactly from its seed. */
typedef struct test_env {
  int64_t now;
  uint64_t rng;
} test_env;

static inline int64_t test_now(void *ctx) { return ((test_env *)ctx)->now; }

static inline uint64_t test_rand(void *ctx) {
  uint64_t z = (((test_env *)ctx)->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform-ish integer in [0, n). */
static inline int test_pick(test_env *e, int n) { return (int)(test_rand(e) % (uint64_t)n); }

static inline sloop_env test_env_make(test_env *e) {
  sloop_env env = {test_now, test_rand, e};
  return env;
}

/* Opens an in-memory client whose local writes fail when their document holds "refuse": after
** the record row is written (insert or update), the last write a local write makes, so the
** failure comes after the write began. `extra_sql` adds the caller's own triggers (or NULL).
** Returns 0, or -1 for a cmocka setup that failed. */
static inline int open_refusing_db(void **state, const char *extra_sql) {
  sloop_db *db = NULL;
  if (sloop_open(":memory:", NULL, SLOOP_ROLE_CLIENT, NULL, &db) != SLOOP_OK) return -1;
  const char *refuse =
      "CREATE TEMP TRIGGER refuse AFTER INSERT ON records WHEN new.doc LIKE '%refuse%'"
      " BEGIN SELECT RAISE(ABORT, 'refused'); END;"
      "CREATE TEMP TRIGGER refuse_update AFTER UPDATE ON records WHEN new.doc LIKE '%refuse%'"
      " BEGIN SELECT RAISE(ABORT, 'refused'); END";
  const char *sql[] = {refuse, extra_sql};
  for (int i = 0; i < 2 && sql[i]; i++) {
    char *out = NULL;
    if (sloop_sql(db, S(sql[i]), &out, NULL) != SLOOP_OK) return sloop_close(db), -1;
    sloop_free(out);
  }
  *state = db;
  return 0;
}

#endif /* SLOOP_TESTUTIL_H */
