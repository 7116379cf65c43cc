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

#endif /* SLOOP_TESTUTIL_H */
