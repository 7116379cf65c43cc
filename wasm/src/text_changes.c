/*
** text_changes.c -- index deltas of text fields, so that an editor showing one can apply a
** change where it happened and keep the user's caret (client_sync.h).
**
** A delta compares two states of the field's sequence element by element (seq_diff): the
** characters present in both keep their places whatever else moved around them, so two
** remote insertions far apart are two splices, not one replacement of all between them.
*/
#include <stdlib.h>
#include <string.h>

#include "client_sync.h"
#include "json.h"
#include "merge_seq.h"

int sloop_text_fields(const sloop_coll_schema *cs, const cJSON *state) {
  const cJSON *fs;
  cJSON_ArrayForEach(fs, sloop_member(state, "f")) if (sloop_field_policy(cs, fs->string) == SLOOP_POLICY_TEXT) return 1;
  return 0;
}

int sloop_text_coll(const sloop_coll_schema *cs) {
  if (!cs) return 0;
  if (cs->default_policy == SLOOP_POLICY_TEXT && !cs->strict) return 1;
  const cJSON *f;
  cJSON_ArrayForEach(f, cs->fields) if (sloop_field_policy(cs, f->string) == SLOOP_POLICY_TEXT) return 1;
  return 0;
}

int sloop_text_snapshot(const sloop_coll_schema *cs, const cJSON *state, cJSON **snap) {
  *snap = NULL;
  if (!cs || !sloop_text_fields(cs, state)) return SLOOP_OK;
  if (!(*snap = cJSON_CreateObject())) return SLOOP_NOMEM;
  const cJSON *fs;
  cJSON_ArrayForEach(fs, sloop_member(state, "f")) {
    const cJSON *q = sloop_member(fs, "q");
    if (sloop_field_policy(cs, fs->string) != SLOOP_POLICY_TEXT || !cJSON_IsString(q)) continue;
    if (!cJSON_AddStringToObject(*snap, fs->string, q->valuestring)) return cJSON_Delete(*snap), *snap = NULL, SLOOP_NOMEM;
  }
  return SLOOP_OK;
}

static int add_splice(void *ctx, size_t pos, size_t del, const uint8_t *ins, size_t ins_bytes, size_t ins_n) {
  cJSON *edits = ctx;
  cJSON *sp = cJSON_CreateArray();
  char *text = sloop_strndup((const char *)ins, ins_bytes);
  int ok = sp && text && cJSON_AddItemToArray(edits, sp) && cJSON_AddItemToArray(sp, cJSON_CreateNumber((double)pos)) &&
           cJSON_AddItemToArray(sp, cJSON_CreateNumber((double)del)) && cJSON_AddItemToArray(sp, cJSON_CreateString(text));
  free(text);
  return ok ? 0 : -1;
}

static seq *load(const char *b64, char *msg) {
  seq *s = NULL;
  sloop_seq_from_base64(b64, SLOOP_POLICY_TEXT, &s, msg);
  return s;
}

/* Queues one field's delta; nothing when the field did not change or does not decode (the
** event then still says the record changed, and the editor reads the whole value). */
static void note_field(sloop_db *db, const char *coll, const char *rid, const char *field, const char *before,
                       const char *after, int local) {
  if (before && after && strcmp(before, after) == 0) return;
  char msg[200];
  seq *a = load(before, msg), *b = load(after, msg);
  cJSON *c = a && b ? cJSON_CreateObject() : NULL;
  cJSON *edits = c ? cJSON_AddArrayToObject(c, "edits") : NULL;
  /* Gone (the record was deleted): everything it showed goes. Otherwise the later state holds
  ** every element of the earlier one, which is what seq_diff compares. */
  int failed = !edits || (after ? seq_diff(a, b, SEQ_UTF16, add_splice, edits)
                                : seq_length(a, SEQ_UTF16) && add_splice(edits, 0, seq_length(a, SEQ_UTF16), (const uint8_t *)"", 0, 0));
  if (failed || cJSON_GetArraySize(edits) == 0 ||
      !cJSON_AddStringToObject(c, "coll", coll) || !cJSON_AddStringToObject(c, "id", rid) ||
      !cJSON_AddStringToObject(c, "field", field) || !cJSON_AddBoolToObject(c, "local", local))
    goto done;
  sloop_queue_change(db, c);
  c = NULL;
done:
  cJSON_Delete(c);
  seq_free(a);
  seq_free(b);
}

void sloop_text_note(sloop_db *db, const sloop_coll_schema *cs, const char *coll, const char *rid, const cJSON *snap,
                     const cJSON *state, int local) {
  if (!cs || db->role != SLOOP_ROLE_CLIENT) return;
  const cJSON *fs;
  cJSON_ArrayForEach(fs, sloop_member(state, "f")) {
    if (sloop_field_policy(cs, fs->string) != SLOOP_POLICY_TEXT) continue;
    const cJSON *q = sloop_member(fs, "q");
    note_field(db, coll, rid, fs->string, cJSON_GetStringValue(sloop_member(snap, fs->string)),
               cJSON_GetStringValue(q), local);
  }
  /* A text field that left the state (the record was deleted) is shown empty now. */
  cJSON_ArrayForEach(fs, snap) {
    if (!sloop_member(sloop_member(state, "f"), fs->string)) note_field(db, coll, rid, fs->string, fs->valuestring, NULL, local);
  }
}
