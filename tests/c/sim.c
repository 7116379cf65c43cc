/*
** sim.c -- the command line of the deterministic simulation (sim.h).
**
**   sim --seed N [-v]          runs one seed; -v prints every event, to replay a failure
**   sim --seeds A B            runs seeds A..B-1
**   sim --seconds S [--from A] runs seeds from A (default: the clock) until S seconds passed
**   sim --count N [--from A]   runs N seeds from A (default: the clock)
**   sim --list FILE            runs the seeds listed in FILE (one per line, '#' comments)
**
** Every failing seed prints "seed N failed: <invariant>: <detail>" and what the run did; the
** exit status is 1 if any failed. The last line, and the only one that starts with "soak:"
** or "sim:", sums up: seeds run, seeds failed (the first ones named), faults injected in all
** and per kind, wall time.
*/
#define _DEFAULT_SOURCE
#include <time.h>

#include "sim.h"

enum { kNamedFailures = 10 };

typedef struct totals {
  long seeds, failed;
  long faults[SIM_NFAULTS];
  long ops;
  uint64_t failures[kNamedFailures]; /* the first failing seeds, for the summary */
} totals;

static void run_seed(uint64_t seed, int verbose, totals *t) {
  sim *s = calloc(1, sizeof(*s));
  if (!s) exit(2);
  s->seed = seed;
  s->verbose = verbose;
  int rc = sim_run(s);
  if (rc) {
    printf("seed %llu failed: %s\n", (unsigned long long)seed, s->failure);
    if (t->failed < kNamedFailures) t->failures[t->failed] = seed;
    t->failed++;
  }
  if (verbose || rc) sim_report(s, stdout);
  t->seeds++;
  t->ops += s->writes;
  for (int k = 0; k < SIM_NFAULTS; k++) t->faults[k] += s->faults[k];
  sim_free(s);
  free(s);
  fflush(stdout);
}

/* The one summary line. */
static void print_summary(const totals *t, const char *mode, double wall) {
  long faults = 0;
  for (int k = 0; k < SIM_NFAULTS; k++) faults += t->faults[k];
  printf("%s: %ld seeds, %ld failed", mode, t->seeds, t->failed);
  for (long k = 0; k < t->failed && k < kNamedFailures; k++)
    printf("%s%llu", k ? ", " : " (", (unsigned long long)t->failures[k]);
  if (t->failed > kNamedFailures) printf(", ...");
  if (t->failed) putchar(')');
  printf(", %ld faults injected (", faults);
  for (int k = 0; k < SIM_NFAULTS; k++) printf("%s%s %ld", k ? ", " : "", kSimFaultNames[k], t->faults[k]);
  printf("), %.1f ops/seed, %.1f s, %.1f ms/seed\n", t->seeds ? (double)t->ops / (double)t->seeds : 0, wall,
         t->seeds ? wall * 1000 / (double)t->seeds : 0);
}

static double seconds_since(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static int run_list(const char *path, totals *t) {
  FILE *f = fopen(path, "r");
  if (!f) return fprintf(stderr, "cannot read %s\n", path), 2;
  char line[256];
  while (fgets(line, sizeof(line), f)) {
    char *end = NULL;
    unsigned long long seed = strtoull(line, &end, 10);
    if (end != line) run_seed(seed, 0, t);
  }
  fclose(f);
  return 0;
}

int main(int argc, char **argv) {
  totals t = {0};
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  int verbose = 0, soak = 0;
  long long seed = -1, from = -1, to = -1, count = -1;
  double seconds = 0;
  const char *list = NULL;
  for (int a = 1; a < argc; a++) {
    if (strcmp(argv[a], "-v") == 0) verbose = 1;
    else if (strcmp(argv[a], "--seed") == 0 && a + 1 < argc) seed = atoll(argv[++a]);
    else if (strcmp(argv[a], "--seeds") == 0 && a + 2 < argc) from = atoll(argv[++a]), to = atoll(argv[++a]);
    else if (strcmp(argv[a], "--seconds") == 0 && a + 1 < argc) seconds = atof(argv[++a]);
    else if (strcmp(argv[a], "--from") == 0 && a + 1 < argc) from = atoll(argv[++a]);
    else if (strcmp(argv[a], "--count") == 0 && a + 1 < argc) count = atoll(argv[++a]);
    else if (strcmp(argv[a], "--list") == 0 && a + 1 < argc) list = argv[++a];
    else {
      fprintf(stderr, "usage: sim --seed N [-v] | --seeds A B | --seconds S [--from A] | --count N [--from A] | --list FILE\n");
      return 2;
    }
  }
  if (list) {
    int rc = run_list(list, &t);
    if (rc) return rc;
  } else if (seed >= 0) {
    run_seed((uint64_t)seed, verbose, &t);
  } else if (seconds > 0 || count > 0) {
    /* Soak: fresh seeds each time unless --from pins the start. */
    uint64_t next = from >= 0 ? (uint64_t)from : (uint64_t)time(NULL) * 1000;
    soak = 1;
    if (count > 0) printf("soak from seed %llu, %lld seeds\n", (unsigned long long)next, count);
    else printf("soak from seed %llu for %.0f s\n", (unsigned long long)next, seconds);
    while (count > 0 ? t.seeds < count : seconds_since(&start) < seconds) run_seed(next++, 0, &t);
  } else {
    if (from < 0) from = 1, to = 201;
    for (long long k = from; k < to; k++) run_seed((uint64_t)k, verbose, &t);
  }
  print_summary(&t, soak ? "soak" : "sim", seconds_since(&start));
  return t.failed ? 1 : 0;
}
