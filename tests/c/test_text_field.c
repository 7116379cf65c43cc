/*
** test_text_field.c -- the `text` and `list` policies end to end through databases: local
** writes become sequence edits, offline edits by two devices merge without interleaving,
** change events carry index deltas, lists insert, remove and move, bad edits are refused
** whole, and the states survive storage.
*/
#include "internal.h"
#include "seq.h"
#include "world.h"

#define NOTES "notes"

static const char kTextSchema[] =
    "{\"collections\": {\"notes\": {\"fields\": {\"title\": \"lww\", \"findings\": \"text\", \"steps\": \"list\"}}}}";

/* The document of a record as a parsed tree (the caller deletes it). */
static cJSON *doc_of(sloop_db *db, const char *id) {
  char *text = world_get(db, NOTES, id);
  assert_non_null(text);
  cJSON *doc = cJSON_Parse(text);
  sloop_free(text);
  assert_non_null(doc);
  return doc;
}

static void assert_findings(sloop_db *db, const char *id, const char *want) {
  cJSON *doc = doc_of(db, id);
  const cJSON *f = cJSON_GetObjectItem(doc, "findings");
  if (!cJSON_IsString(f) || strcmp(f->valuestring, want) != 0)
    fail_msg("findings: got %s, want %s", cJSON_IsString(f) ? f->valuestring : "(none)", want);
  cJSON_Delete(doc);
}

static void assert_steps(sloop_db *db, const char *id, const char *want) {
  cJSON *doc = doc_of(db, id);
  char *got = cJSON_PrintUnformatted(cJSON_GetObjectItem(doc, "steps"));
  if (!got || strcmp(got, want) != 0) fail_msg("steps: got %s, want %s", got ? got : "(none)", want);
  free(got);
  cJSON_Delete(doc);
}

static void edit(world *w, int i, const char *id, const char *json) { world_patch(w, i, NOTES, id, json); }

static void text_is_written_and_synced_as_edits(void **unused) {
  world w;
  world_open(&w, 2, 11, kTextSchema);
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"Pump\", \"findings\": \"Seal worn.\"}");
  edit(&w, 0, "n1", "{\"findings\": {\"$edit\": [[10, 0, \" Replace it.\"]]}}");
  assert_findings(w.clients[0], "n1", "Seal worn. Replace it.");
  /* The operation carries edits with ids, not the value. */
  char *ops = NULL;
  assert_ok(w.clients[0], sloop_ops(w.clients[0], "pending", &ops, NULL));
  assert_non_null(strstr(ops, "\"seq\""));
  assert_non_null(strstr(ops, "\"s\":\" Replace it.\""));
  sloop_free(ops);
  world_sync(&w, 0);
  world_sync(&w, 1);
  assert_findings(w.server, "n1", "Seal worn. Replace it.");
  assert_findings(w.clients[1], "n1", "Seal worn. Replace it.");
  /* A whole new value becomes the smallest splice. */
  edit(&w, 1, "n1", "{\"findings\": \"Seal badly worn. Replace it.\"}");
  world_sync(&w, 1);
  world_sync(&w, 0);
  assert_findings(w.clients[0], "n1", "Seal badly worn. Replace it.");
  world_close(&w);
}

static void offline_edits_of_one_paragraph_keep_both_runs_whole(void **unused) {
  world w;
  world_open(&w, 2, 12, kTextSchema);
  world_put(&w, 0, NOTES, "n1", "{\"findings\": \"Valve ok.\"}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  /* Both offline, both typing at the same place, character by character. */
  const char *a = " Ann checked the gauge.", *b = " Bob saw a leak.";
  char json[200];
  for (size_t k = 0; k < strlen(a); k++) {
    snprintf(json, sizeof(json), "{\"findings\": {\"$edit\": [[%zu, 0, \"%c\"]]}}", 9 + k, a[k]);
    edit(&w, 0, "n1", json);
  }
  for (size_t k = 0; k < strlen(b); k++) {
    snprintf(json, sizeof(json), "{\"findings\": {\"$edit\": [[%zu, 0, \"%c\"]]}}", 9 + k, b[k]);
    edit(&w, 1, "n1", json);
  }
  /* Typed a key at a time, each is one operation: one insertion naming the whole run. */
  char *ops = NULL;
  assert_ok(w.clients[0], sloop_ops(w.clients[0], "pending", &ops, NULL));
  cJSON *list = cJSON_Parse(ops);
  sloop_free(ops);
  assert_int_equal(cJSON_GetArraySize(list), 1);
  const cJSON *edits = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "payload"), "findings"), "seq");
  assert_int_equal(cJSON_GetArraySize(edits), 1);
  assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(edits, 0), "s")->valuestring, a);
  cJSON_Delete(list);
  /* Backspaces fold into one deletion; a typo fixed is still the one operation. */
  edit(&w, 1, "n1", "{\"findings\": {\"$edit\": [[24, 1, \"\"]]}}");
  edit(&w, 1, "n1", "{\"findings\": {\"$edit\": [[23, 1, \"\"]]}}");
  edit(&w, 1, "n1", "{\"findings\": {\"$edit\": [[23, 0, \"k.\"]]}}");
  assert_findings(w.clients[1], "n1", "Valve ok. Bob saw a leak.");
  assert_ok(w.clients[1], sloop_ops(w.clients[1], "pending", &ops, NULL));
  list = cJSON_Parse(ops);
  sloop_free(ops);
  assert_int_equal(cJSON_GetArraySize(list), 1);
  cJSON_Delete(list);
  world_sync(&w, 0);
  world_sync(&w, 1);
  world_sync(&w, 0);
  cJSON *d0 = doc_of(w.clients[0], "n1"), *d1 = doc_of(w.clients[1], "n1"), *ds = doc_of(w.server, "n1");
  const char *t0 = cJSON_GetObjectItem(d0, "findings")->valuestring;
  assert_string_equal(t0, cJSON_GetObjectItem(d1, "findings")->valuestring);
  assert_string_equal(t0, cJSON_GetObjectItem(ds, "findings")->valuestring);
  assert_non_null(strstr(t0, a));
  assert_non_null(strstr(t0, b));
  assert_int_equal(strlen(t0), 9 + strlen(a) + strlen(b));
  cJSON_Delete(d0);
  cJSON_Delete(d1);
  cJSON_Delete(ds);
  world_close(&w);
}

/* The change events since the last take, as a tree. */
static cJSON *take(sloop_db *db) {
  char *out = NULL;
  assert_ok(db, sloop_take_changes(db, &out, NULL));
  cJSON *j = cJSON_Parse(out);
  sloop_free(out);
  return j;
}

static const cJSON *text_change(const cJSON *changes, int local) {
  const cJSON *c;
  cJSON_ArrayForEach(c, changes) {
    if (cJSON_GetObjectItem(c, "edits") && cJSON_IsTrue(cJSON_GetObjectItem(c, "local")) == local) return c;
  }
  return NULL;
}

static void remote_edits_arrive_as_index_deltas(void **unused) {
  world w;
  world_open(&w, 2, 13, kTextSchema);
  world_put(&w, 0, NOTES, "n1", "{\"findings\": \"abcdefghij\"}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  cJSON_Delete(take(w.clients[1]));
  /* Two edits far apart: two splices, so a caret between them stays where it is. */
  edit(&w, 0, "n1", "{\"findings\": {\"$edit\": [[1, 0, \"X\"], [9, 1, \"\"]]}}");
  cJSON *local = take(w.clients[0]);
  const cJSON *lc = text_change(local, 1);
  assert_non_null(lc);
  assert_string_equal(cJSON_GetObjectItem(lc, "field")->valuestring, "findings");
  world_sync(&w, 0);
  world_sync(&w, 1);
  cJSON *remote = take(w.clients[1]);
  const cJSON *rc = text_change(remote, 0);
  assert_non_null(rc);
  char *edits = cJSON_PrintUnformatted(cJSON_GetObjectItem(rc, "edits"));
  assert_string_equal(edits, "[[1,0,\"X\"],[9,1,\"\"]]");
  free(edits);
  assert_findings(w.clients[1], "n1", "aXbcdefghj");
  /* UTF-16 indexes: an emoji counts two. */
  edit(&w, 0, "n1", "{\"findings\": {\"$edit\": [[0, 0, \"\xf0\x9f\x94\xa7\"]]}}");
  edit(&w, 0, "n1", "{\"findings\": {\"$edit\": [[2, 0, \"!\"]]}}");
  assert_findings(w.clients[0], "n1", "\xf0\x9f\x94\xa7!aXbcdefghj");
  assert_int_equal(sloop_patch(w.clients[0], S(NOTES), S("n1"), S("{\"findings\": {\"$edit\": [[1, 0, \"?\"]]}}")),
                   SLOOP_INVALID); /* inside the pair */
  cJSON_Delete(local);
  cJSON_Delete(remote);
  /* A record deleted elsewhere: its text goes, as one splice. */
  world_sync(&w, 0);
  world_sync(&w, 1);
  cJSON_Delete(take(w.clients[1]));
  assert_ok(w.clients[0], sloop_delete(w.clients[0], S(NOTES), S("n1")));
  world_sync(&w, 0);
  world_sync(&w, 1);
  cJSON *gone = take(w.clients[1]);
  const cJSON *gc = text_change(gone, 0);
  assert_non_null(gc);
  edits = cJSON_PrintUnformatted(cJSON_GetObjectItem(gc, "edits"));
  assert_string_equal(edits, "[[0,13,\"\"]]");
  free(edits);
  cJSON_Delete(gone);
  world_close(&w);
}

static void lists_insert_remove_and_move_once(void **unused) {
  world w;
  world_open(&w, 2, 14, kTextSchema);
  world_put(&w, 0, NOTES, "n1", "{\"steps\": [\"drain\", \"open\", \"inspect\"]}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  /* Both move "inspect" offline, to different places: it ends in one of them, once. */
  edit(&w, 0, "n1", "{\"steps\": {\"$move\": [2, 0]}}");
  assert_steps(w.clients[0], "n1", "[\"inspect\",\"drain\",\"open\"]");
  world_tick(&w, 5);
  edit(&w, 1, "n1", "{\"steps\": {\"$move\": [2, 1]}}");
  edit(&w, 1, "n1", "{\"steps\": {\"$insert\": [3, \"close\", {\"by\": \"bob\"}]}}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  world_sync(&w, 0);
  assert_steps(w.clients[0], "n1", "[\"drain\",\"inspect\",\"open\",\"close\",{\"by\":\"bob\"}]");
  assert_steps(w.clients[1], "n1", "[\"drain\",\"inspect\",\"open\",\"close\",{\"by\":\"bob\"}]");
  assert_steps(w.server, "n1", "[\"drain\",\"inspect\",\"open\",\"close\",{\"by\":\"bob\"}]");
  /* A remove concurrent with a move removes it wherever it moved. */
  edit(&w, 0, "n1", "{\"steps\": {\"$remove\": [1, 1]}}");
  edit(&w, 1, "n1", "{\"steps\": {\"$move\": [1, 4]}}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  world_sync(&w, 0);
  assert_steps(w.clients[0], "n1", "[\"drain\",\"open\",\"close\",{\"by\":\"bob\"}]");
  assert_steps(w.clients[1], "n1", "[\"drain\",\"open\",\"close\",{\"by\":\"bob\"}]");
  /* A whole array is the smallest splice. */
  edit(&w, 0, "n1", "{\"steps\": [\"drain\", \"close\"]}");
  assert_steps(w.clients[0], "n1", "[\"drain\",\"close\"]");
  world_close(&w);
}

/* A pushed operation of this shape, signed as client 0's device. */
static char *op_with(world *w, int k, const char *payload) {
  char *out = malloc(1024);
  snprintf(out, 1024,
           "{\"id\":\"%s:%d\",\"type\":\"patch\",\"coll\":\"notes\",\"rid\":\"n1\",\"hlc\":\"018bcfe5ffff-0000-%s\","
           "\"base\":0,\"payload\":%s}",
           w->clients[0]->device, 900 + k, w->clients[0]->device, payload);
  return out;
}

static void bad_sequence_edits_are_refused_whole(void **unused) {
  world w;
  world_open(&w, 1, 15, kTextSchema);
  world_put(&w, 0, NOTES, "n1", "{\"title\": \"t\", \"findings\": \"abc\"}");
  world_sync(&w, 0);
  char *before = world_server_doc(&w, NOTES, "n1");
  const char *dev = w.clients[0]->device;
  char p1[400], p2[400], p3[400], p4[400];
  /* An unknown origin, a deletion of unknown ids, a value for a text field, an oversized run. */
  snprintf(p1, sizeof(p1), "{\"title\":{\"set\":\"changed\"},\"findings\":{\"seq\":[{\"i\":\"%s:50\",\"l\":\"%s:40\",\"s\":\"x\"}]}}", dev, dev);
  snprintf(p2, sizeof(p2), "{\"findings\":{\"seq\":[{\"d\":\"%s:1\",\"n\":1},{\"d\":\"%s:70\",\"n\":2}]}}", dev, dev);
  snprintf(p3, sizeof(p3), "{\"findings\":{\"set\":\"plain\"}}");
  snprintf(p4, sizeof(p4), "{\"findings\":{\"seq\":[{\"d\":\"%s:0\",\"n\":2000000}]}}", dev);
  const char *payloads[] = {p1, p2, p3, p4};
  const char *codes[] = {"\"code\":\"invalid\"", "\"code\":\"invalid\"", "\"code\":\"schema\"", "\"code\":\"invalid\""};
  const char *why[] = {"unknown left origin", "unknown elements", "takes {\\\"seq\\\"", "a deletion is"};
  for (int k = 0; k < 4; k++) {
    char *op = op_with(&w, k, payloads[k]);
    char body[1400];
    snprintf(body, sizeof(body), "{\"v\":1,\"device\":\"%s\",\"ops\":[%s]}", dev, op);
    char *resp = NULL;
    size_t rl = 0;
    char ctx[200];
    world_ctx(&w, 0, ctx, sizeof(ctx));
    assert_ok(w.server, sloop_server_push(w.server, body, strlen(body), ctx, strlen(ctx), &resp, &rl));
    if (!strstr(resp, codes[k]) || !strstr(resp, why[k])) fail_msg("payload %d: answer %s lacks %s / %s", k, resp, codes[k], why[k]);
    sloop_free(resp);
    free(op);
    char *after = world_server_doc(&w, NOTES, "n1");
    assert_string_equal(after, before);
    sloop_free(after);
  }
  sloop_free(before);
  world_close(&w);
}

/* A field that held a plain value before the schema made it text keeps the value, and edits
** against it sync: every replica turns the value into the same elements. */
static void a_value_written_before_the_field_was_text_is_kept(void **unused) {
  static const char kBefore[] = "{\"collections\": {\"notes\": {\"fields\": {\"findings\": \"lww\", \"steps\": \"lww\"}}}}";
  world w;
  world_open(&w, 2, 16, kBefore);
  for (int i = 0; i < 2; i++) assert_ok(w.clients[i], sloop_set_schema(w.clients[i], S(kBefore)));
  world_put(&w, 0, NOTES, "n1", "{\"findings\": \"Old text.\", \"steps\": [\"a\", \"b\"]}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  assert_ok(w.server, sloop_set_schema(w.server, S(kTextSchema)));
  for (int i = 0; i < 2; i++) assert_ok(w.clients[i], sloop_set_schema(w.clients[i], S(kTextSchema)));
  assert_findings(w.clients[1], "n1", "Old text.");
  edit(&w, 0, "n1", "{\"findings\": {\"$edit\": [[3, 0, \"er\"]]}}");
  edit(&w, 1, "n1", "{\"findings\": {\"$edit\": [[9, 0, \" More.\"]]}, \"steps\": {\"$move\": [1, 0]}}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  world_sync(&w, 0);
  assert_findings(w.clients[0], "n1", "Older text. More.");
  assert_findings(w.clients[1], "n1", "Older text. More.");
  assert_findings(w.server, "n1", "Older text. More.");
  assert_steps(w.server, "n1", "[\"b\",\"a\"]");
  world_close(&w);
}

/* An edit made offline before the record was deleted and written again names the sequence it
** was made on: it is refused, not applied to the new text's elements that reuse its ids. */
static void an_edit_of_a_deleted_and_rewritten_text_is_refused(void **unused) {
  world w;
  world_open(&w, 2, 18, kTextSchema);
  world_put(&w, 0, NOTES, "n1", "{\"findings\": \"abcdef\"}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  edit(&w, 1, "n1", "{\"findings\": {\"$edit\": [[1, 3, \"\"]]}}");
  assert_ok(w.clients[0], sloop_delete(w.clients[0], S(NOTES), S("n1")));
  world_tick(&w, 10);
  world_put(&w, 0, NOTES, "n1", "{\"findings\": \"uvwxyz\"}");
  world_sync(&w, 0);
  world_sync(&w, 1);
  world_sync(&w, 0);
  assert_findings(w.server, "n1", "uvwxyz");
  assert_findings(w.clients[0], "n1", "uvwxyz");
  assert_findings(w.clients[1], "n1", "uvwxyz");
  char *failed = NULL;
  assert_ok(w.clients[1], sloop_ops(w.clients[1], "failed", &failed, NULL));
  assert_non_null(strstr(failed, "deleted and written again"));
  sloop_free(failed);
  world_close(&w);
}

/* Writes splices (taken) as one $edit of the paper's findings on client 0. */
static void write_splices(world *w, cJSON *splices) {
  cJSON *patch = cJSON_CreateObject(), *fop = cJSON_AddObjectToObject(patch, "findings");
  cJSON_AddItemToObject(fop, "$edit", splices);
  char *json = cJSON_PrintUnformatted(patch);
  edit(w, 0, "paper", json);
  free(json);
  cJSON_Delete(patch);
}

/* The automerge-paper editing trace (tests/fixtures/editing-traces, CC BY 4.0) through the
** database: its 259,778 edits as $edit splices, 4,000 per write, on one device; then
** pushed to the server and pulled by another. Each must end with the trace's endContent. */
static void the_automerge_paper_trace_replays_through_the_database(void **unused) {
  FILE *f = fopen("build/traces/automerge-paper.trace", "rb");
  if (!f) fail_msg("build/traces/automerge-paper.trace is missing (make builds it)");
  world w;
  world_open(&w, 2, 17, kTextSchema);
  world_put(&w, 0, NOTES, "paper", "{\"title\": \"paper\"}");
  int txns = 0, patches = 0, agents = 0;
  assert_int_equal(fscanf(f, "sloop-trace 1 %d %d %d\n", &txns, &patches, &agents), 3);
  cJSON *batch = cJSON_CreateArray();
  int in_batch = 0, done = 0;
  char *ins = malloc(1 << 20);
  for (;;) {
    int c = fgetc(f);
    if (c == 'T') {
      int agent, n, np;
      assert_int_equal(fscanf(f, " %d %d %d", &agent, &n, &np), 3);
      for (int k = 0; k < np; k++) assert_int_equal(fscanf(f, " %*d"), 0);
      fgetc(f);
      continue;
    }
    if (c != 'P') {
      assert_int_equal(c, 'E');
      break;
    }
    long pos, del, pts, bytes;
    assert_int_equal(fscanf(f, " %ld %ld %ld %ld", &pos, &del, &pts, &bytes), 4);
    fgetc(f);
    assert_int_equal(fread(ins, 1, (size_t)bytes, f), (size_t)bytes);
    ins[bytes] = 0;
    fgetc(f);
    cJSON *sp = cJSON_CreateArray();
    cJSON_AddItemToArray(sp, cJSON_CreateNumber((double)pos));
    cJSON_AddItemToArray(sp, cJSON_CreateNumber((double)del));
    cJSON_AddItemToArray(sp, cJSON_CreateString(ins));
    cJSON_AddItemToArray(batch, sp);
    done++;
    if (++in_batch == 4000) {
      write_splices(&w, batch);
      batch = cJSON_CreateArray();
      in_batch = 0;
    }
  }
  if (in_batch) write_splices(&w, batch);
  else cJSON_Delete(batch);
  assert_int_equal(done, patches);
  long pts, bytes;
  assert_int_equal(fscanf(f, " %ld %ld", &pts, &bytes), 2);
  fgetc(f);
  char *end = malloc((size_t)bytes + 1);
  assert_int_equal(fread(end, 1, (size_t)bytes, f), (size_t)bytes);
  end[bytes] = 0;
  fclose(f);
  assert_findings(w.clients[0], "paper", end);
  world_sync(&w, 0);
  world_sync(&w, 1);
  assert_findings(w.server, "paper", end);
  assert_findings(w.clients[1], "paper", end);
  free(end);
  free(ins);
  world_close(&w);
}

/* ---------------------------------------------------------------- size ---------------- */

/* One edit as it travels: an insertion or a deletion range. */
typedef struct wire_edit {
  int del;
  seq_id id, l, r;
  uint32_t n;
  char text[16];
} wire_edit;

typedef struct edit_log {
  wire_edit *e;
  size_t n, cap;
} edit_log;

static void log_add(edit_log *g, wire_edit e) {
  if (g->n == g->cap) {
    g->cap = g->cap ? g->cap * 2 : 256;
    g->e = realloc(g->e, g->cap * sizeof(*g->e));
  }
  g->e[g->n++] = e;
}

static int log_delete(void *ctx, seq_id id, uint32_t n) {
  wire_edit e = {.del = 1, .id = id, .n = n};
  log_add(ctx, e);
  return 0;
}

static void play(seq *s, const wire_edit *e) {
  char msg[200];
  int rc = e->del ? seq_delete(s, e->id, e->n, msg)
                  : seq_insert(s, e->id, e->l, e->r, (const uint8_t *)e->text, strlen(e->text), e->n, msg);
  if (rc) fail_msg("replay: %s", msg);
}

/* The size bound: a 10,000-character note edited by three devices (words typed and
** deleted at random places, a fifth of what is typed deleted again, exchanged every few
** edits) stays a small multiple of its text. Sizes are exact, so this asserts them. */
static void a_note_edited_by_three_devices_stays_a_small_multiple_of_its_text(void **unused) {
  seq *r[3];
  size_t seen[3] = {0, 0, 0};
  edit_log g = {0};
  for (int i = 0; i < 3; i++) r[i] = seq_new(SEQ_TEXT);
  uint64_t rng = 42;
  static const char *words[] = {"pump ", "valve ", "leak ", "gauge ", "seal ", "flange ", "worn ", "ok "};
  char msg[200];
  while (seq_length(r[0], SEQ_ELEMS) < 10000) {
    for (int d = 0; d < 3; d++) {
      rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
      size_t len = seq_length(r[d], SEQ_ELEMS);
      if ((rng >> 33) % 5 == 0 && len > 20) {
        size_t n = 1 + (rng >> 40) % 6, at = (rng >> 20) % (len - n);
        size_t before = g.n;
        assert_int_equal(seq_ids_in(r[d], at, n, SEQ_ELEMS, log_delete, &g, msg), 0);
        for (size_t k = before; k < g.n; k++) play(r[d], &g.e[k]);
      } else {
        const char *w = words[(rng >> 45) % 8];
        size_t at = len ? (rng >> 18) % (len + 1) : 0;
        for (size_t c = 0; w[c]; c++) { /* typed a key at a time: the runs merge */
          wire_edit e = {.n = 1};
          e.text[0] = w[c];
          assert_int_equal(seq_origins_at(r[d], at + c, SEQ_ELEMS, &e.l, &e.r, msg), 0);
          e.id = (seq_id){0xa0 + (uint64_t)d, seq_next_counter(r[d], 0xa0 + (uint64_t)d)};
          play(r[d], &e);
          log_add(&g, e);
        }
      }
    }
    /* Everyone receives what they have not seen, in log order (causal). */
    for (int d = 0; d < 3; d++) {
      for (; seen[d] < g.n; seen[d]++) play(r[d], &g.e[seen[d]]);
    }
  }
  char *t0, *t1, *t2;
  size_t l0, l1, l2;
  seq_text(r[0], &t0, &l0);
  seq_text(r[1], &t1, &l1);
  seq_text(r[2], &t2, &l2);
  assert_true(l0 == l1 && l1 == l2 && memcmp(t0, t1, l0) == 0 && memcmp(t1, t2, l0) == 0);
  uint8_t *blob;
  size_t bl;
  assert_int_equal(seq_encode(r[0], 0, &blob, &bl), 0);
  double ratio = (double)bl / (double)l0;
  printf("# text %zu bytes, %zu elements kept, %zu runs: state %zu bytes (%.2f x the text)\n", l0,
         seq_elements(r[0]), seq_runs(r[0]), bl, ratio);
  assert_true(ratio <= 4.0); /* 3.37 when written: 2.4 bytes of ids and origins per element kept */
  free(blob);
  free(t0), free(t1), free(t2);
  free(g.e);
  for (int i = 0; i < 3; i++) seq_free(r[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(text_is_written_and_synced_as_edits),
      cmocka_unit_test(offline_edits_of_one_paragraph_keep_both_runs_whole),
      cmocka_unit_test(remote_edits_arrive_as_index_deltas),
      cmocka_unit_test(lists_insert_remove_and_move_once),
      cmocka_unit_test(bad_sequence_edits_are_refused_whole),
      cmocka_unit_test(a_value_written_before_the_field_was_text_is_kept),
      cmocka_unit_test(the_automerge_paper_trace_replays_through_the_database),
      cmocka_unit_test(a_note_edited_by_three_devices_stays_a_small_multiple_of_its_text),
      cmocka_unit_test(an_edit_of_a_deleted_and_rewritten_text_is_refused),
  };
  return cmocka_run_group_tests_name("text_field", tests, NULL, NULL);
}
