/*
** test_hlc.c -- the Hybrid Logical Clock: monotonic under wall-clock jumps, advanced by remote
** timestamps, refusing timestamps beyond the drift bound, and persisted across restarts.
*/
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "hlc.h"
#include "testutil.h"

static void now_is_strictly_monotonic_under_random_wall_jumps(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 2000; seed++) {
    test_env e = {1700000000000LL, seed};
    sloop_hlc clock = {0, 0, seed};
    sloop_hlc prev = sloop_hlc_now(&clock, e.now);
    for (int i = 0; i < 200; i++) {
      /* Jumps of up to +-2 hours, half of them backwards; sometimes the same millisecond. */
      int kind = test_pick(&e, 4);
      if (kind == 0) e.now -= test_pick(&e, 7200000);
      else if (kind == 1) e.now += test_pick(&e, 7200000);
      sloop_hlc next;
      if (test_pick(&e, 3) == 0) {
        sloop_hlc remote = {e.now + test_pick(&e, 120000) - 60000, (uint32_t)test_pick(&e, 0x10000), test_rand(&e)};
        assert_int_equal(sloop_hlc_recv(&clock, remote, e.now, 3600000), SLOOP_OK);
        next = clock;
        if (sloop_hlc_cmp(next, remote) <= 0) fail_msg("seed %llu: recv did not pass the remote", (unsigned long long)seed);
      } else {
        next = sloop_hlc_now(&clock, e.now);
      }
      if (sloop_hlc_cmp(next, prev) <= 0) fail_msg("seed %llu step %d: clock went backwards", (unsigned long long)seed, i);
      /* String order must agree with clock order, since timestamps are compared as strings. */
      char a[SLOOP_HLC_STRLEN], b[SLOOP_HLC_STRLEN];
      sloop_hlc_format(prev, a);
      sloop_hlc_format(next, b);
      if (strcmp(a, b) >= 0) fail_msg("seed %llu: string order disagrees: %s >= %s", (unsigned long long)seed, a, b);
      prev = next;
    }
  }
}

static void recv_refuses_timestamps_beyond_the_drift_bound(void **state) {
  (void)state;
  sloop_hlc clock = {1000, 3, 7};
  sloop_hlc before = clock;
  sloop_hlc far = {1000 + 3600001, 0, 9};
  assert_int_equal(sloop_hlc_recv(&clock, far, 1000, 3600000), SLOOP_DRIFT);
  assert_int_equal(sloop_hlc_cmp(clock, before), 0);
  sloop_hlc near = {1000 + 3600000, 5, 9};
  assert_int_equal(sloop_hlc_recv(&clock, near, 1000, 3600000), SLOOP_OK);
  assert_int_equal(clock.pt, near.pt);
  assert_int_equal(clock.lc, 6);
}

static void counter_overflow_borrows_a_millisecond(void **state) {
  (void)state;
  sloop_hlc clock = {5000, 0xffff, 1};
  sloop_hlc next = sloop_hlc_now(&clock, 5000);
  assert_int_equal(next.pt, 5001);
  assert_int_equal(next.lc, 0);
}

static void parse_accepts_only_the_canonical_spelling(void **state) {
  (void)state;
  sloop_hlc ts = {0x0192f3a4b5c6LL, 0x2a, 0x00000000000000d7ULL}, back;
  char buf[SLOOP_HLC_STRLEN];
  sloop_hlc_format(ts, buf);
  assert_string_equal(buf, "0192f3a4b5c6-002a-00000000000000d7");
  assert_int_equal(sloop_hlc_parse(buf, strlen(buf), &back), SLOOP_OK);
  assert_int_equal(sloop_hlc_cmp(ts, back), 0);
  const char *bad[] = {"0192F3A4B5C6-002a-00000000000000d7", "0192f3a4b5c6-002a-00000000000000d", "0192f3a4b5c6_002a-00000000000000d7",
                       "", "zz92f3a4b5c6-002a-00000000000000d7"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(sloop_hlc_parse(bad[i], strlen(bad[i]), &back), SLOOP_INVALID);
}

/* The clock persists with every write, so a restart with the wall clock set back an hour
** still produces later timestamps than before the restart. */
/* The hand-written formatter spells what "%012llx-%04x-%016llx" spells, and parses back. */
static void format_is_the_canonical_spelling(void **state) {
  (void)state;
  sloop_hlc cases[] = {{0, 0, 0}, {1, 1, 1}, {SLOOP_HLC_MAX_PT, 0xffff, UINT64_MAX},
                       {0x0192f3a4b5c6LL, 0x00a0, 0x00000000000000d7ULL}, {0x123456789abcLL, 0x0f0f, 0xfedcba9876543210ULL}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char got[SLOOP_HLC_STRLEN], want[SLOOP_HLC_STRLEN];
    sloop_hlc_format(cases[i], got);
    snprintf(want, sizeof(want), "%012llx-%04x-%016llx", (unsigned long long)cases[i].pt, (unsigned)cases[i].lc,
             (unsigned long long)cases[i].node);
    assert_string_equal(got, want);
    sloop_hlc back;
    assert_int_equal(sloop_hlc_parse(got, strlen(got), &back), SLOOP_OK);
    assert_true(back.pt == cases[i].pt && back.lc == cases[i].lc && back.node == cases[i].node);
  }
}

static void clock_stays_monotonic_across_restart_and_backward_wall_clock(void **state) {
  (void)state;
  char path[] = "/tmp/sloop-hlc-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  test_env e = {1700000000000LL, 42};
  sloop_env env = test_env_make(&e);
  sloop_db *db;
  char before[SLOOP_HLC_STRLEN], after[SLOOP_HLC_STRLEN];
  assert_int_equal(sloop_open(path, NULL, SLOOP_ROLE_CLIENT, &env, &db), SLOOP_OK);
  assert_ok(db, sloop_put(db, S("notes"), S("a"), S("{\"t\": 1}")));
  assert_ok(db, sloop_clock_now(db, before));
  assert_ok(db, sloop_close(db));
  e.now -= 3600000;
  assert_int_equal(sloop_open(path, NULL, SLOOP_ROLE_CLIENT, &env, &db), SLOOP_OK);
  assert_ok(db, sloop_clock_now(db, after));
  assert_true(strcmp(after, before) > 0);
  assert_ok(db, sloop_close(db));
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(now_is_strictly_monotonic_under_random_wall_jumps),
      cmocka_unit_test(recv_refuses_timestamps_beyond_the_drift_bound),
      cmocka_unit_test(counter_overflow_borrows_a_millisecond),
      cmocka_unit_test(parse_accepts_only_the_canonical_spelling),
      cmocka_unit_test(format_is_the_canonical_spelling),
      cmocka_unit_test(clock_stays_monotonic_across_restart_and_backward_wall_clock),
  };
  return cmocka_run_group_tests_name("hlc", tests, NULL, NULL);
}
