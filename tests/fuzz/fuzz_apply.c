/*
** fuzz_apply.c -- libFuzzer target: sequences of operations through sloop_op_parse and
** sloop_apply, the merge code server and clients share (merge.h), with no database around it.
**
** Two input forms. Text starting with '[' is a JSON array of operation objects, parsed as the
** server parses pushed operations and applied to per-record states. Anything else is decoded
** 8 bytes per operation into valid operations over four records and every field policy, so
** the fuzzer spends its time on merge behaviour rather than on JSON syntax:
**   b0 bits 0-1 type (put, patch, delete, put), bits 2-3 record, bits 4-5 node
**   b1 physical clock step, b2 field mask (title, body, tags, votes, status, createdBy,
**   layout), b3 register value (7: unset), b4 tag element and tag (bit 7: remove instead),
**   b5 counter increment (signed), b6 base version, b7 logical counter
**
** Beyond memory safety it checks the contract of sloop_apply: a rejected operation leaves the
** state untouched; the same sequence gives the same state twice; and a counter is the sum of
** the increments applied since the delete that last cleared the record.
*/
#include <stdio.h>

#include "fuzz.h"
#include "merge.h"

#define NRECORDS 4

static sloop_schema g_schema;

/* The custom merge in the form merge.c calls: the larger JSON text wins, a veto refuses. */
static int merge_json(void *ctx, const char *coll, const char *field, const cJSON *current,
                      const cJSON *incoming, cJSON **out) {
  (void)ctx, (void)coll, (void)field;
  *out = NULL;
  if (current && incoming && cJSON_IsString(incoming) && strcmp(incoming->valuestring, "veto") == 0) return SLOOP_MERGE;
  char *a = current ? cJSON_PrintUnformatted(current) : NULL;
  char *b = incoming ? cJSON_PrintUnformatted(incoming) : NULL;
  const cJSON *winner = !a ? incoming : !b ? current : strcmp(a, b) >= 0 ? current : incoming;
  free(a);
  free(b);
  if (winner) *out = cJSON_Duplicate(winner, 1);
  return SLOOP_OK;
}

static const char *const kValues[] = {"pump", "valve", "open", "done", "ann", "bob", "veto"};
static const char *const kFields[] = {"title", "body", "tags", "votes", "status", "createdBy", "layout"};

/* Builds operation k of the binary form. */
static cJSON *decode_op(const uint8_t *b, int k, int64_t *clock) {
  static const char *const types[] = {"put", "patch", "delete", "put"};
  char id[32], rid[8], hlc[SLOOP_HLC_STRLEN];
  int node = 1 + ((b[0] >> 4) & 3);
  *clock += b[1];
  snprintf(id, sizeof(id), "d%d:%d", node, k + 1);
  snprintf(rid, sizeof(rid), "n%d", (b[0] >> 2) & 3);
  snprintf(hlc, sizeof(hlc), "%012llx-%04x-%016x", (unsigned long long)*clock, b[7], node);
  cJSON *op = cJSON_CreateObject();
  cJSON_AddStringToObject(op, "id", id);
  cJSON_AddStringToObject(op, "type", types[b[0] & 3]);
  cJSON_AddStringToObject(op, "coll", "notes");
  cJSON_AddStringToObject(op, "rid", rid);
  cJSON_AddStringToObject(op, "hlc", hlc);
  cJSON_AddNumberToObject(op, "base", b[6]);
  cJSON *payload = cJSON_AddObjectToObject(op, "payload");
  for (int f = 0; f < 7; f++) {
    if (!(b[2] & (1 << f))) continue;
    cJSON *fop = cJSON_AddObjectToObject(payload, kFields[f]);
    if (f == 2) {
      char elem[4] = {'a' + (b[4] & 3), 0}, tag[16];
      snprintf(tag, sizeof(tag), "t%d", (b[4] >> 2) & 31);
      if (b[4] & 0x80) cJSON_AddItemToObject(fop, "rem", cJSON_CreateStringArray((const char *[]){tag}, 1));
      else cJSON_AddStringToObject(cJSON_AddObjectToObject(fop, "add"), elem, tag);
    } else if (f == 3) {
      cJSON_AddNumberToObject(fop, "inc", (int8_t)b[5]);
    } else if (b[3] % 8 == 7 && f != 5) {
      cJSON_AddTrueToObject(fop, "unset");
    } else {
      cJSON_AddStringToObject(fop, "set", kValues[b[3] % 7]);
    }
  }
  return op;
}

static double counter_of(const cJSON *state) {
  const cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(state, "f"), "votes"), "n");
  return cJSON_IsNumber(n) ? n->valuedouble : 0;
}

/* Applies one operation object to the state of its record, checking sloop_apply's contract. */
static void apply_json(const cJSON *json, cJSON *states, int64_t version, int check_counter) {
  sloop_op op;
  char msg[200];
  if (sloop_op_parse(&g_schema, json, &op, msg) || op.type == SLOOP_OP_RESOLVE) return;
  cJSON *state = cJSON_GetObjectItemCaseSensitive(states, op.rid);
  if (!state) {
    if (cJSON_GetArraySize(states) >= 8) return;
    state = cJSON_AddObjectToObject(states, op.rid);
  }
  cJSON *before = cJSON_Duplicate(state, 1);
  double counter = counter_of(state);
  sloop_apply_ctx ctx = {version, merge_json, NULL, 0};
  sloop_apply_result res;
  int rc = sloop_apply(sloop_schema_coll(&g_schema, op.coll), state, &op, &ctx, &res);
  /* In place (scratch, as the server and local writes apply): the same outcome, and the same
  ** state whenever the operation applies. */
  cJSON *scratch = cJSON_Duplicate(before, 1);
  sloop_apply_ctx in_place = {version, merge_json, NULL, 1};
  sloop_apply_result res2;
  int rc2 = sloop_apply(sloop_schema_coll(&g_schema, op.coll), scratch, &op, &in_place, &res2);
  if (rc2 != rc || (!rc && res2.outcome != res.outcome) || (!rc && (!res.conflicts != !res2.conflicts ||
                (res.conflicts && !cJSON_Compare(res.conflicts, res2.conflicts, 1)))) ||
      (!rc && res.outcome != SLOOP_REJECTED && !cJSON_Compare(scratch, state, 1))) {
    fprintf(stderr, "applying in place differs from applying to a copy\n");
    abort();
  }
  cJSON_Delete(scratch);
  cJSON_Delete(res2.conflicts);
  cJSON_Delete(res.conflicts);
  if (rc && rc != SLOOP_MERGE) abort();
  if ((rc || res.outcome == SLOOP_REJECTED) && !cJSON_Compare(before, state, 1)) {
    fprintf(stderr, "a rejected operation changed the state\n");
    abort();
  }
  if (check_counter && !rc && res.outcome != SLOOP_REJECTED) {
    const cJSON *inc = cJSON_GetObjectItem(cJSON_GetObjectItem(op.payload, "votes"), "inc");
    double want = counter;
    if (op.type == SLOOP_OP_DELETE) {
      if (!sloop_state_visible(state)) want = 0; /* fields cleared; a delete's payload is ignored */
    } else if (cJSON_IsNumber(inc)) {
      want += inc->valuedouble;
    }
    if (counter_of(state) != want) {
      fprintf(stderr, "counter %g, want %g\n", counter_of(state), want);
      abort();
    }
  }
  cJSON *doc = sloop_materialize(sloop_schema_coll(&g_schema, op.coll), state);
  if (doc && !cJSON_IsObject(doc)) abort();
  cJSON_Delete(doc);
  cJSON_Delete(before);
}

static cJSON *run(const uint8_t *data, size_t size) {
  cJSON *states = cJSON_CreateObject();
  if (size && data[0] == '[') {
    cJSON *ops = cJSON_ParseWithLength((const char *)data, size);
    const cJSON *op;
    int64_t version = 0;
    cJSON_ArrayForEach(op, ops) apply_json(op, states, ++version, 0);
    cJSON_Delete(ops);
    return states;
  }
  int64_t clock = 0x18bcfe5fa00;
  for (size_t k = 0; k + 8 <= size && k / 8 < 256; k += 8) {
    cJSON *op = decode_op(data + k, (int)(k / 8), &clock);
    char msg[200];
    sloop_op parsed;
    if (sloop_op_parse(&g_schema, op, &parsed, msg)) {
      fprintf(stderr, "a valid operation does not parse: %s\n", msg);
      abort();
    }
    apply_json(op, states, (int64_t)(k / 8) + 1, 1);
    cJSON_Delete(op);
  }
  return states;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char msg[200];
  if (!g_schema.json && sloop_schema_parse(kWorldSchema, strlen(kWorldSchema), &g_schema, msg)) abort();
  cJSON *first = run(data, size);
  cJSON *second = run(data, size);
  if (!cJSON_Compare(first, second, 1)) {
    fprintf(stderr, "the same operations gave two different states\n");
    abort();
  }
  cJSON_Delete(first);
  cJSON_Delete(second);
  return 0;
}
