/*
** test_props.c -- properties of the merge, checked on thousands of random cases from fixed
** seeds (a failure prints the seed, and the same seed replays it):
**   - LWW and every CRDT type: the same operations in any order give the same document;
**   - applying an operation twice (same id) changes nothing;
**   - the local view after rebase equals what the server holds once the pending operations
**     are applied.
*/
#include "internal.h"
#include "op_json.h"
#include "world.h"

static const char kPropSchema[] =
    "{\"collections\": {\"notes\": {\"fields\": {\"a\": \"lww\", \"b\": \"lww\", \"n\": \"counter\","
    " \"s\": \"set\"}}}}";

/* A random field operation on one of the fields; set removes name tags seen so far. */
static cJSON *random_payload(test_env *e, int op_index, cJSON *seen_tags) {
  cJSON *p = cJSON_CreateObject();
  char value[16], tag[32];
  int k = 1 + test_pick(e, 3);
  for (int i = 0; i < k; i++) {
    switch (test_pick(e, 5)) {
      case 0:
      case 1: {
        const char *f = test_pick(e, 2) ? "a" : "b";
        if (cJSON_GetObjectItem(p, f)) break;
        cJSON *fop = cJSON_AddObjectToObject(p, f);
        if (test_pick(e, 6) == 0) cJSON_AddTrueToObject(fop, "unset");
        else {
          snprintf(value, sizeof(value), "v%d", test_pick(e, 50));
          cJSON_AddStringToObject(fop, "set", value);
        }
        break;
      }
      case 2:
        if (!cJSON_GetObjectItem(p, "n")) cJSON_AddNumberToObject(cJSON_AddObjectToObject(p, "n"), "inc", test_pick(e, 21) - 10);
        break;
      default: {
        if (cJSON_GetObjectItem(p, "s")) break;
        cJSON *fop = cJSON_AddObjectToObject(p, "s");
        cJSON *add = cJSON_AddObjectToObject(fop, "add");
        cJSON *rem = cJSON_AddArrayToObject(fop, "rem");
        snprintf(value, sizeof(value), "e%d", test_pick(e, 6));
        snprintf(tag, sizeof(tag), "t%d-%d", op_index, i);
        cJSON_AddStringToObject(add, value, tag);
        cJSON_AddItemToArray(seen_tags, cJSON_CreateString(tag));
        int n = cJSON_GetArraySize(seen_tags);
        for (int r = test_pick(e, 3); r > 0 && n > 0; r--)
          cJSON_AddItemToArray(rem, cJSON_CreateString(cJSON_GetArrayItem(seen_tags, test_pick(e, n))->valuestring));
      }
    }
  }
  return p;
}

static cJSON *make_op(int index, const char *type, sloop_hlc hlc, cJSON *payload) {
  char id[32];
  snprintf(id, sizeof(id), "d:%d", index + 1);
  return test_op_json(id, type, hlc, 0, payload);
}

/* Applies ops[order[i]] in turn to a state that starts with the put ops[0]; returns the doc. */
static char *apply_in_order(const sloop_schema *schema, cJSON **ops, const int *order, int n) {
  const sloop_coll_schema *cs = sloop_schema_coll(schema, "notes");
  cJSON *state = cJSON_CreateObject();
  sloop_apply_ctx ctx = {0, NULL, NULL, 0};
  for (int i = 0; i < n; i++) {
    sloop_op op;
    char msg[200];
    if (sloop_op_parse(schema, ops[order[i]], &op, msg)) fail_msg("parse: %s", msg);
    sloop_apply_result res;
    assert_int_equal(sloop_apply(cs, state, &op, &ctx, &res), SLOOP_OK);
    assert_int_equal(res.outcome, SLOOP_APPLIED);
  }
  cJSON *doc = sloop_materialize(cs, state);
  char *text = cJSON_PrintUnformatted(doc);
  cJSON_Delete(doc);
  cJSON_Delete(state);
  return text;
}

static void any_order_of_the_same_operations_gives_the_same_document(void **state) {
  (void)state;
  sloop_schema schema;
  char msg[200];
  assert_int_equal(sloop_schema_parse(kPropSchema, strlen(kPropSchema), &schema, msg), SLOOP_OK);
  enum { N = 12 };
  for (uint64_t seed = 1; seed <= 3000; seed++) {
    test_env e = {0, seed};
    cJSON *ops[N], *tags = cJSON_CreateArray();
    sloop_hlc put_clock = {1000, 0, 99};
    /* The record exists first (a put older than everything), as it does on a server. */
    ops[0] = make_op(0, "put", put_clock, cJSON_CreateObject());
    for (int i = 1; i < N; i++) {
      /* Devices with clocks that disagree by up to a second, ties included. */
      sloop_hlc h = {2000 + test_pick(&e, 1000), (uint32_t)test_pick(&e, 3), (uint64_t)test_pick(&e, 4) + 1};
      ops[i] = make_op(i, "patch", h, random_payload(&e, i, tags));
    }
    int order[N];
    for (int i = 0; i < N; i++) order[i] = i;
    char *first = apply_in_order(&schema, ops, order, N);
    for (int round = 0; round < 8; round++) {
      for (int i = N - 1; i > 1; i--) { /* shuffle everything after the put */
        int j = 1 + test_pick(&e, i);
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
      char *other = apply_in_order(&schema, ops, order, N);
      if (strcmp(first, other) != 0) fail_msg("seed %llu: %s != %s", (unsigned long long)seed, first, other);
      free(other);
    }
    free(first);
    for (int i = 0; i < N; i++) cJSON_Delete(ops[i]);
    cJSON_Delete(tags);
  }
  sloop_schema_clear(&schema);
}

/* Pushes every request twice (and some three times) through the server: no op applies twice. */
static void replayed_operations_change_nothing(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 200; seed++) {
    world once, dup;
    world_open(&once, 1, seed, kPropSchema);
    world_open(&dup, 1, seed, kPropSchema);
    test_env e = {0, seed};
    world *ws[2] = {&once, &dup};
    for (int w = 0; w < 2; w++) {
      test_env we = e;
      assert_ok(ws[w]->clients[0], sloop_put(ws[w]->clients[0], S("notes"), S("r"), S("{\"a\": \"x\", \"n\": 1, \"s\": [\"e1\"]}")));
      for (int i = 0; i < 10; i++) {
        char patch[120];
        snprintf(patch, sizeof(patch), "{\"n\": {\"$inc\": %d}, \"s\": {\"$add\": [\"e%d\"]}, \"b\": \"%d\"}",
                 test_pick(&we, 9) + 1, test_pick(&we, 4), test_pick(&we, 100));
        assert_ok(ws[w]->clients[0], sloop_patch(ws[w]->clients[0], S("notes"), S("r"), patch, strlen(patch)));
        if (test_pick(&we, 3) == 0) {
          sloop_db *c = ws[w]->clients[0];
          char *req = NULL, *resp = NULL, ctx[160];
          size_t rl = 0, sl = 0;
          assert_ok(c, sloop_push_begin(c, 5, &req, &rl));
          world_ctx(ws[w], 0, ctx, sizeof(ctx));
          int extra = test_pick(&we, 2); /* drawn in both worlds to keep them in step */
          int times = w == 0 ? 1 : 2 + extra;
          for (int t = 0; t < times; t++) {
            sloop_free(resp);
            assert_ok(ws[w]->server, sloop_server_push(ws[w]->server, req, rl, ctx, strlen(ctx), &resp, &sl));
          }
          assert_ok(c, sloop_push_end(c, resp, sl));
          sloop_free(req);
          sloop_free(resp);
        }
      }
      world_sync(ws[w], 0);
    }
    char *a = world_dump(once.server, "notes"), *b = world_dump(dup.server, "notes");
    if (strcmp(a, b) != 0) fail_msg("seed %llu: %s != %s", (unsigned long long)seed, a, b);
    sloop_free(a);
    sloop_free(b);
    world_close(&once);
    world_close(&dup);
  }
}

/* Random writes on three clients with random partial syncs; at random points a client pulls
** (rebasing its pending writes), and then pushes everything with nothing in between: the
** server must then hold exactly the view the client showed. */
static void the_rebased_local_view_is_what_the_server_will_hold(void **state) {
  (void)state;
  static const char *ids[] = {"r1", "r2", "r3"};
  for (uint64_t seed = 1; seed <= 120; seed++) {
    world w;
    world_open(&w, 3, seed, NULL);
    test_env e = {0, seed ^ 0xabcdef};
    int checks = 0;
    for (int step = 0; step < 60; step++) {
      int c = test_pick(&e, 3);
      sloop_db *db = w.clients[c];
      const char *id = ids[test_pick(&e, 3)];
      char json[160];
      world_tick(&w, test_pick(&e, 5));
      switch (test_pick(&e, 8)) {
        case 0:
          snprintf(json, sizeof(json), "{\"title\": \"t%d\", \"votes\": %d, \"tags\": [\"g%d\"], \"status\": \"s%d\"}",
                   test_pick(&e, 9), test_pick(&e, 9), test_pick(&e, 3), test_pick(&e, 3));
          sloop_put(db, S("notes"), id, strlen(id), json, strlen(json));
          break;
        case 1:
          sloop_delete(db, S("notes"), id, strlen(id));
          break;
        case 2:
        case 3:
          snprintf(json, sizeof(json), "{\"body\": \"b%d\", \"votes\": {\"$inc\": %d}, \"tags\": {\"$add\": [\"g%d\"], \"$remove\": [\"g%d\"]}}",
                   test_pick(&e, 9), test_pick(&e, 5), test_pick(&e, 3), test_pick(&e, 3));
          sloop_patch(db, S("notes"), id, strlen(id), json, strlen(json));
          break;
        case 4:
          snprintf(json, sizeof(json), "{\"status\": \"s%d\", \"createdBy\": \"c%d\"}", test_pick(&e, 3), c);
          sloop_patch(db, S("notes"), id, strlen(id), json, strlen(json));
          break;
        case 5:
          world_push(&w, c);
          break;
        case 6:
          world_pull(&w, c);
          break;
        default: {
          world_pull(&w, c);
          char *view = world_dump(db, "notes");
          for (int guard = 0; guard < 20; guard++) {
            char *counts = NULL;
            assert_ok(db, sloop_state_counts(db, &counts, NULL));
            int pending = strstr(counts, "\"pendingOps\":0") == NULL;
            sloop_free(counts);
            if (!pending) break;
            world_push(&w, c);
          }
          char *server = world_dump(w.server, "notes");
          if (strcmp(view, server) != 0) {
            char *rows = NULL;
            sloop_sql(db, S("SELECT id, version, sync, sloop_state(base, NULL), sloop_state(state, doc) FROM records"), &rows, NULL);
            fail_msg("seed %llu step %d client %d:\n view   %s\n server %s\n client rows %s",
                     (unsigned long long)seed, step, c, view, server, rows);
          }
          sloop_free(view);
          sloop_free(server);
          checks++;
        }
      }
    }
    for (int c = 0; c < 3; c++) world_sync(&w, c);
    char *server = world_dump(w.server, "notes");
    for (int c = 0; c < 3; c++) {
      world_pull(&w, c);
      char *view = world_dump(w.clients[c], "notes");
      if (strcmp(view, server) != 0) {
        char *ops = NULL;
        sloop_ops(w.clients[c], NULL, &ops, NULL);
        fail_msg("seed %llu: client %d diverged:\n view   %s\n server %s\n ops %s", (unsigned long long)seed, c, view, server, ops);
      }
      sloop_free(view);
    }
    sloop_free(server);
    world_close(&w);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(any_order_of_the_same_operations_gives_the_same_document),
      cmocka_unit_test(replayed_operations_change_nothing),
      cmocka_unit_test(the_rebased_local_view_is_what_the_server_will_hold),
  };
  return cmocka_run_group_tests_name("properties", tests, NULL, NULL);
}
