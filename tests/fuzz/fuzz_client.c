/*
** fuzz_client.c -- libFuzzer target: push and pull answers against a client with work queued.
**
** Input: byte 0 picks what the rest is fed to (bit 0: sloop_pull_apply, else
** sloop_push_end; bit 3: instead, sloop_put_many's frames, as many rows as the high nibble
** says) and what follows (bit 1: the push fails and is begun again; bit 2: every failed
** operation is retried). Each run starts from a fresh client holding records n1 and n2 with a
** batch of two operations in flight and one pending, so results, records and conflicts in the
** answer meet real operations and rows.
**
** Beyond memory safety it checks that the client stays usable whatever the answer was: its
** state, operations and conflicts can be listed, a query runs, and the next push can be built.
** A pull answer's read-ahead request (sloop_pull_request_next), when one is offered and the
** answer applies, must be the request sloop_pull_request makes afterwards. A sloop_put_many
** that fails must leave the counts as they were (all or nothing).
*/
#include <string.h>
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

/* Applies a pull answer, checking the request read ahead from it against the one made after. */
static void pull(sloop_db *db, const char *answer, size_t len) {
  char *next = NULL, *req = NULL;
  size_t next_len = 0, req_len = 0;
  int more = 0;
  must(db, sloop_pull_request_next(db, answer, len, 10, NULL, 0, &next, &next_len), "pull_request_next");
  if (sloop_pull_apply(db, answer, len, &more) == SLOOP_OK && next) {
    must(db, sloop_pull_request(db, 10, NULL, 0, &req, &req_len), "pull_request");
    if (!more || req_len != next_len || memcmp(req, next, req_len) != 0) {
      fprintf(stderr, "read ahead %s\nbut after applying %s\n", next, req);
      abort();
    }
  }
  sloop_free(req);
  sloop_free(next);
}

/* Puts rows from arbitrary frames; a refusal must leave nothing behind. */
static void put_many(sloop_db *db, const uint8_t *rows, size_t len, int count) {
  char *before = NULL, *after = NULL;
  size_t before_len = 0, after_len = 0;
  must(db, sloop_state_counts(db, &before, &before_len), "state_counts");
  if (sloop_put_many(db, S("notes"), rows, len, count) != SLOOP_OK) {
    must(db, sloop_state_counts(db, &after, &after_len), "state_counts");
    if (after_len != before_len || memcmp(before, after, after_len) != 0) {
      fprintf(stderr, "a refused put_many changed the counts: %s -> %s\n", before, after);
      abort();
    }
  }
  sloop_free(before);
  sloop_free(after);
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
  if (data[0] & 8) put_many(db, (const uint8_t *)answer, size - 1, data[0] >> 4);
  else if (data[0] & 1) pull(db, answer, size - 1);
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
