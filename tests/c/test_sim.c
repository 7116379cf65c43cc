/*
** test_sim.c -- the deterministic simulation (sim.h) as a cmocka group: every seed listed in
** sim_regressions.txt, then a sweep of fresh seeds (SIM_SEEDS, default 300). Each seed is one
** test, named after it, so a failure names the seed to replay with build/native/sim.
*/
#define _DEFAULT_SOURCE
#include "sim.h"

static void run_one(void **state) {
  sim *s = calloc(1, sizeof(*s));
  assert_non_null(s);
  s->seed = *(uint64_t *)*state;
  int rc = sim_run(s);
  if (rc) sim_report(s, stderr); /* the faults that led there */
  char failure[sizeof(s->failure)];
  memcpy(failure, s->failure, sizeof(failure));
  sim_free(s);
  free(s);
  if (rc) fail_msg("seed %llu failed: %s", (unsigned long long)*(uint64_t *)*state, failure);
}

/* Reads the regression seeds; a missing list is an error, not an empty pass. */
static int read_regressions(uint64_t *seeds, int max) {
  FILE *f = fopen("tests/c/sim_regressions.txt", "r");
  if (!f) return -1;
  char line[256];
  int n = 0;
  while (n < max && fgets(line, sizeof(line), f)) {
    char *end = NULL;
    unsigned long long seed = strtoull(line, &end, 10);
    if (end != line) seeds[n++] = seed;
  }
  fclose(f);
  return n;
}

int main(void) {
  enum { kMax = 4096 };
  static uint64_t seeds[kMax];
  static char names[kMax][40];
  static struct CMUnitTest tests[kMax];
  int nreg = read_regressions(seeds, kMax / 2);
  if (nreg < 0) {
    fprintf(stderr, "cannot read tests/c/sim_regressions.txt (run from the repository root)\n");
    return 1;
  }
  const char *env = getenv("SIM_SEEDS");
  int sweep = env ? atoi(env) : 300;
  if (sweep > kMax - nreg) sweep = kMax - nreg;
  int n = 0;
  for (; n < nreg; n++) snprintf(names[n], sizeof(names[n]), "regression_seed_%llu", (unsigned long long)seeds[n]);
  for (int k = 0; k < sweep; k++, n++) {
    seeds[n] = (uint64_t)k + 1;
    snprintf(names[n], sizeof(names[n]), "seed_%d", k + 1);
  }
  for (int k = 0; k < n; k++) {
    tests[k] = (struct CMUnitTest){names[k], run_one, NULL, NULL, &seeds[k]};
  }
  return _cmocka_run_group_tests("sim", tests, (size_t)n, NULL, NULL);
}
