/*
** fuzz_server.c -- libFuzzer target: request bodies of push and pull against a server.
**
** Input: byte 0 picks the endpoint (bit 0: pull, else push) and the caller's context (bits 1-2:
** device "d1" with every permission, d1 with writes to "notes" only and no reads, or a trusted
** caller with no context); the rest is the body. Each run starts from a fresh server that has
** already applied one valid batch of d1 (a put and a patch that conflicts on the manual field),
** so pushes meet existing state, replays meet applied_ops, and pulls have records and
** conflicts to answer with.
**
** Beyond memory safety it checks the contract: an answer exists exactly when the call
** succeeds, and is JSON; whatever was pushed, the server still answers a full pull.
*/
#include <stdio.h>

#include "cJSON.h"
#include "fuzz.h"

static const char kSeedPush[] =
    "{\"v\":1,\"device\":\"d1\",\"ops\":["
    "{\"id\":\"d1:1\",\"type\":\"put\",\"coll\":\"notes\",\"rid\":\"n1\",\"hlc\":\"018bcfe5fa23-0000-00000000000000d1\","
    "\"base\":0,\"payload\":{\"title\":{\"set\":\"a\"},\"votes\":{\"inc\":2},\"tags\":{\"add\":{\"x\":\"d1:1#0\"}},"
    "\"status\":{\"set\":\"open\"},\"layout\":{\"set\":\"grid\"}}},"
    "{\"id\":\"d1:2\",\"type\":\"patch\",\"coll\":\"notes\",\"rid\":\"n1\",\"hlc\":\"018bcfe5fa24-0000-00000000000000d1\","
    "\"base\":0,\"payload\":{\"status\":{\"set\":\"done\"},\"layout\":{\"set\":\"list\"}}}]}";

static const char *const kContexts[] = {
    "{\"user\":\"u1\",\"device\":\"d1\"}",
    "{\"user\":\"u1\",\"device\":\"d1\",\"perms\":{\"write\":[\"notes\"],\"read\":[\"other\"]}}",
    "",
    "{\"user\":\"u2\",\"device\":\"d1\"}",
};

static void check_answer(int rc, char *out, size_t len) {
  if ((rc == SLOOP_OK) != (out != NULL)) abort();
  if (out) {
    cJSON *json = cJSON_ParseWithLength(out, len);
    if (!cJSON_IsObject(json)) abort();
    cJSON_Delete(json);
  }
  sloop_free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  test_env env;
  sloop_db *db = fuzz_open(SLOOP_ROLE_SERVER, &env);
  const char *ctx = kContexts[(data[0] >> 1) & 3];
  char *out = NULL;
  size_t len = 0;
  if (sloop_server_push(db, kSeedPush, strlen(kSeedPush), kContexts[0], strlen(kContexts[0]), &out, &len)) abort();
  sloop_free(out);
  const char *body = (const char *)data + 1;
  int rc = data[0] & 1 ? sloop_server_pull(db, body, size - 1, ctx, strlen(ctx), &out, &len)
                       : sloop_server_push(db, body, size - 1, ctx, strlen(ctx), &out, &len);
  check_answer(rc, out, len);
  static const char kFullPull[] = "{\"v\":1,\"device\":\"d9\",\"cursor\":0}";
  rc = sloop_server_pull(db, kFullPull, strlen(kFullPull), "", 0, &out, &len);
  if (rc) {
    fprintf(stderr, "full pull after the input: %s: %s\n", sloop_errstr(rc), sloop_errmsg(db));
    abort();
  }
  check_answer(rc, out, len);
  sloop_close(db);
  return 0;
}
