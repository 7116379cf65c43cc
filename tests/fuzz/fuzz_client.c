/*
** fuzz_client.c -- libFuzzer target: push and pull answers against a client with work queued.
**
** Input: byte 0 picks what the answer is fed to (bit 0: sloop_pull_apply, else
** sloop_push_end) and what follows (bit 1: the push fails and is begun again; bit 2: every
** failed operation is retried); the rest is the answer. Each run starts from a fresh client
** holding records n1 and n2 with a batch of two operations in flight and one pending, so
** results, records and conflicts in the answer meet real operations and rows.
**
** Beyond memory safety it checks that the client stays usable whatever the answer was: its
** state, operations and conflicts can be listed, a query runs, and the next push can be built.
*/
#include <stdio.h>

#include "fuzz.h"

static void must(sloop_db *db, int rc, const char *what) {
  if (rc == SLOOP_OK) return;
  fprintf(stderr, "%s: %s: %s\n", what, sloop_errstr(rc), sloop_errmsg(db));
  abort();
}

static void use(sloop_db *db, int rc, char *out, const char *what) {
  must(db, rc, what);
  sloop_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  test_env env;
  sloop_db *db = fuzz_open(SLOOP_ROLE_CLIENT, &env);
  must(db, sloop_put(db, S("notes"), S("n1"), S("{\"title\":\"a\",\"votes\":1,\"tags\":[\"x\"],\"status\":\"open\"}")), "put");
  must(db, sloop_patch(db, S("notes"), S("n1"), S("{\"votes\":{\"$inc\":2},\"layout\":\"grid\"}")), "patch");
  char *out = NULL;
  size_t len = 0;
  use(db, sloop_push_begin(db, 2, &out, &len), out, "push_begin");
  must(db, sloop_put(db, S("notes"), S("n2"), S("{\"createdBy\":\"ann\"}")), "put");
  const char *answer = (const char *)data + 1;
  int more = 0;
  if (data[0] & 1) sloop_pull_apply(db, answer, size - 1, &more);
  else sloop_push_end(db, answer, size - 1);
  if (data[0] & 2) {
    must(db, sloop_push_fail(db, "network"), "push_fail");
    use(db, sloop_push_begin(db, 10, &out, &len), out, "push_begin again");
  }
  if (data[0] & 4) must(db, sloop_retry(db, NULL), "retry");
  use(db, sloop_state_counts(db, &out, &len), out, "state_counts");
  use(db, sloop_ops(db, NULL, &out, &len), out, "ops");
  use(db, sloop_conflicts(db, 0, &out, &len), out, "conflicts");
  use(db, sloop_query(db, S("notes"), S("{}"), &out, &len), out, "query");
  use(db, sloop_take_changes(db, &out, &len), out, "take_changes");
  use(db, sloop_push_begin(db, 10, &out, &len), out, "next push_begin");
  sloop_close(db);
  return 0;
}
