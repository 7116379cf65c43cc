/*
** client_seq.c -- a local write to a `text` or `list` field becomes sequence edits (merge_seq.h).
**
** The caller gives what it has in hand: a whole new value (a string, an array), which becomes
** the smallest splice from the current one, or explicit splices at indexes. Each splice is
** made on a working copy of the field's sequence, so the next one's positions see it, and the
** edits name the ids the copy chose: this device's node and its next counters. The operation
** then applies to the record's state like any other (client.c).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_sync.h"
#include "json.h"
#include "merge_seq.h"

typedef struct builder {
  sloop_db *db;
  const char *field;
  seq *s;
  cJSON *moves;   /* list: the registers as the copy has them (borrowed) */
  cJSON *edits;   /* the operation's "seq" array */
  uint64_t node;
} builder;

static int schema_fail(builder *b, const char *why) {
  return sloop_fail(b->db, SLOOP_SCHEMA, "field '%.64s': %s", b->field, why);
}

static int add_id(cJSON *edit, const char *key, seq_id id) {
  if (!id.node) return SLOOP_OK;
  char buf[SLOOP_SEQ_ID_MAX];
  sloop_seq_format_id(id, buf);
  return cJSON_AddStringToObject(edit, key, buf) ? SLOOP_OK : SLOOP_NOMEM;
}

/* Records a deletion edit and makes it on the copy. */
static int delete_range(void *ctx, seq_id id, uint32_t n) {
  builder *b = ctx;
  char msg[200];
  cJSON *e = cJSON_CreateObject();
  if (!e || !cJSON_AddItemToArray(b->edits, e)) return cJSON_Delete(e), SLOOP_NOMEM;
  if (add_id(e, "d", id) || !cJSON_AddNumberToObject(e, "n", n)) return SLOOP_NOMEM;
  return seq_delete(b->s, id, n, msg) ? sloop_fail(b->db, SLOOP_CORRUPT, "%s", msg) : SLOOP_OK;
}

/* Deletes [pos, pos+len) in `unit`s: the ids are gathered first, since deleting splits runs. */
typedef struct ranges {
  seq_id *id;
  uint32_t *n;
  size_t count, cap;
} ranges;

static int gather(void *ctx, seq_id id, uint32_t n) {
  ranges *r = ctx;
  if (r->count == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 8;
    seq_id *i = realloc(r->id, cap * sizeof(*i));
    if (!i) return SLOOP_NOMEM;
    r->id = i;
    uint32_t *k = realloc(r->n, cap * sizeof(*k));
    if (!k) return SLOOP_NOMEM;
    r->n = k;
    r->cap = cap;
  }
  r->id[r->count] = id;
  r->n[r->count++] = n;
  return SLOOP_OK;
}

static int delete_at(builder *b, size_t pos, size_t len, seq_unit unit) {
  if (!len) return SLOOP_OK;
  ranges r = {0};
  char msg[200];
  int rc = seq_ids_in(b->s, pos, len, unit, gather, &r, msg);
  if (rc == -1) rc = sloop_fail(b->db, SLOOP_INVALID, "field '%.64s': %s", b->field, msg);
  for (size_t i = 0; i < r.count && !rc; i++) rc = delete_range(b, r.id[i], r.n[i]);
  free(r.id);
  free(r.n);
  return rc;
}

/* The id the next insertion takes: past this device's elements here and past every counter
** it has used anywhere (elem_next), so a failed operation's ids are never taken again. */
static seq_id next_id(const builder *b) {
  seq_id id = {b->node, seq_next_counter(b->s, b->node)};
  if ((int64_t)id.seq < b->db->elem_next) id.seq = (uint32_t)b->db->elem_next;
  return id;
}

/* Inserts content (n elements) at pos: the edit names its origins and new ids. */
static int insert_at(builder *b, size_t pos, seq_unit unit, const uint8_t *content, size_t bytes, uint32_t n,
                     const char *key, cJSON *payload) {
  char msg[200];
  seq_id l, r;
  if (seq_origins_at(b->s, pos, unit, &l, &r, msg)) {
    cJSON_Delete(payload);
    return sloop_fail(b->db, SLOOP_INVALID, "field '%.64s': %s", b->field, msg);
  }
  seq_id id = next_id(b);
  if ((uint64_t)id.seq + n > SEQ_MAX_COUNTER) {
    cJSON_Delete(payload);
    return sloop_fail(b->db, SLOOP_TOOBIG, "field '%.64s': this device has used every element counter", b->field);
  }
  b->db->elem_next = (int64_t)id.seq + n;
  cJSON *e = cJSON_CreateObject();
  if (!e || !cJSON_AddItemToArray(b->edits, e)) return cJSON_Delete(e), cJSON_Delete(payload), SLOOP_NOMEM;
  if (add_id(e, "i", id) || add_id(e, "l", l) || add_id(e, "r", r) || !cJSON_AddItemToObject(e, key, payload))
    return SLOOP_NOMEM;
  if (seq_insert(b->s, id, l, r, content, bytes, n, msg)) return sloop_fail(b->db, SLOOP_INVALID, "field '%.64s': %s", b->field, msg);
  return SLOOP_OK;
}

/* ---------------------------------------------------------------- text --------------- */

static int text_insert(builder *b, size_t pos, const char *text, seq_unit unit) {
  size_t len = strlen(text);
  if (!len) return SLOOP_OK;
  uint32_t pts = 0, units = 0;
  if (!seq_utf8_count((const uint8_t *)text, len, &pts, &units)) return schema_fail(b, "text is not valid UTF-8");
  if (pts > SEQ_MAX_RUN) return sloop_fail(b->db, SLOOP_TOOBIG, "field '%.64s': at most %u characters per insertion", b->field, SEQ_MAX_RUN);
  cJSON *s = cJSON_CreateString(text);
  if (!s) return SLOOP_NOMEM;
  return insert_at(b, pos, unit, (const uint8_t *)text, len, pts, "s", s);
}

/* The whole new text: one splice from the current one, between their common prefix and suffix
** (whole characters). */
static int text_replace(builder *b, const char *want) {
  char *cur = NULL;
  size_t cur_len;
  if (seq_text(b->s, &cur, &cur_len)) return SLOOP_NOMEM;
  size_t want_len = strlen(want), pre = 0, suf = 0;
  while (pre < cur_len && pre < want_len && cur[pre] == want[pre]) pre++;
  while (pre && (cur[pre] & 0xc0) == 0x80) pre--; /* not inside a character */
  while (suf < cur_len - pre && suf < want_len - pre && cur[cur_len - 1 - suf] == want[want_len - 1 - suf]) suf++;
  while (suf && (cur[cur_len - suf] & 0xc0) == 0x80) suf--;
  uint32_t pre_pts = 0, del_pts = 0, units;
  seq_utf8_count((const uint8_t *)cur, pre, &pre_pts, &units);
  seq_utf8_count((const uint8_t *)cur + pre, cur_len - pre - suf, &del_pts, &units);
  int rc = delete_at(b, pre_pts, del_pts, SEQ_ELEMS);
  free(cur);
  if (rc) return rc;
  size_t mid = want_len - pre - suf;
  char *ins = sloop_strndup(want + pre, mid);
  if (!ins) return SLOOP_NOMEM;
  rc = text_insert(b, pre_pts, ins, SEQ_ELEMS);
  free(ins);
  return rc;
}

/* {"$edit": [[index, deleteCount, "inserted"], ...]}: splices at UTF-16 indexes, in order. */
static int text_splices(builder *b, const cJSON *list) {
  const cJSON *sp;
  cJSON_ArrayForEach(sp, list) {
    const cJSON *pos = cJSON_GetArrayItem(sp, 0), *del = cJSON_GetArrayItem(sp, 1), *ins = cJSON_GetArrayItem(sp, 2);
    if (!cJSON_IsArray(sp) || cJSON_GetArraySize(sp) < 2 || cJSON_GetArraySize(sp) > 3 || !sloop_json_whole(pos, 9e15) ||
        !sloop_json_whole(del, 9e15) || (cJSON_GetArraySize(sp) == 3 && !cJSON_IsString(ins)))
      return schema_fail(b, "$edit takes [[index, deleteCount, \"text\"], ...] with whole numbers");
    size_t at = (size_t)pos->valuedouble, n = (size_t)del->valuedouble;
    if (at > seq_length(b->s, SEQ_UTF16) || n > seq_length(b->s, SEQ_UTF16) - at)
      return sloop_fail(b->db, SLOOP_INVALID, "field '%.64s': splice %zu+%zu is past the end of the text (%zu)", b->field,
                        at, n, seq_length(b->s, SEQ_UTF16));
    int rc = delete_at(b, at, n, SEQ_UTF16);
    if (!rc && ins) rc = text_insert(b, at, ins->valuestring, SEQ_UTF16);
    if (rc) return rc;
  }
  return SLOOP_OK;
}

static int text_edits(builder *b, const cJSON *in) {
  if (cJSON_IsString(in)) return text_replace(b, in->valuestring);
  if (cJSON_IsNull(in)) return text_replace(b, "");
  const cJSON *edit = cJSON_IsObject(in) && cJSON_GetArraySize(in) == 1 ? sloop_member(in, "$edit") : NULL;
  if (cJSON_IsArray(edit)) return text_splices(b, edit);
  return schema_fail(b, "a text field takes a string or {\"$edit\": [[index, deleteCount, \"text\"], ...]}");
}

/* ---------------------------------------------------------------- list --------------- */

/* The list as shown now, and each item's value printed. */
static int shown(builder *b, sloop_list_item **items, size_t *n) {
  int rc = sloop_list_shown(b->s, b->moves, items, n);
  return rc == SLOOP_CORRUPT ? sloop_fail(b->db, rc, "field '%.64s': list state is corrupt", b->field) : rc;
}

/* The sequence position right after shown item i-1 (0 for the front). */
static size_t place_after(const sloop_list_item *items, size_t i) { return i ? items[i - 1].at + 1 : 0; }

static int list_insert(builder *b, size_t index, const cJSON *values, int first, int count) {
  sloop_list_item *items;
  size_t n;
  int rc = shown(b, &items, &n);
  if (rc) return rc;
  if (index > n) {
    free(items);
    return sloop_fail(b->db, SLOOP_INVALID, "field '%.64s': index %zu is past the end (%zu)", b->field, index, n);
  }
  size_t at = place_after(items, index);
  free(items);
  cJSON *arr = cJSON_CreateArray();
  uint8_t *content = NULL;
  size_t bytes = 0;
  if (!arr) return SLOOP_NOMEM;
  rc = sloop_list_values(values, first, count, &content, &bytes);
  const cJSON *v = cJSON_GetArrayItem(values, first);
  for (int i = 0; i < count && v && !rc; i++, v = v->next) {
    cJSON *copy = cJSON_Duplicate(v, 1);
    if (!copy || !cJSON_AddItemToArray(arr, copy)) rc = (cJSON_Delete(copy), SLOOP_NOMEM);
  }
  if (rc) return free(content), cJSON_Delete(arr), rc;
  rc = insert_at(b, at, SEQ_ELEMS, content, bytes, (uint32_t)count, "v", arr);
  free(content);
  return rc;
}

/* Removes shown items [index, index+count): each element's own slot goes (which removes it
** wherever it was moved) and the slot it is shown in, when a move made that one. */
static int list_remove(builder *b, size_t index, size_t count) {
  sloop_list_item *items;
  size_t n;
  int rc = shown(b, &items, &n);
  if (rc) return rc;
  if (index > n || count > n - index) {
    free(items);
    return sloop_fail(b->db, SLOOP_INVALID, "field '%.64s': range %zu+%zu is past the end (%zu)", b->field, index, count, n);
  }
  for (size_t i = index; i < index + count && !rc; i++) {
    const uint8_t *c;
    size_t len;
    if (seq_element(b->s, items[i].elem, &c, &len) == 1) rc = delete_range(b, items[i].elem, 1);
    if (!rc && (items[i].slot.node != items[i].elem.node || items[i].slot.seq != items[i].elem.seq) &&
        seq_element(b->s, items[i].slot, &c, &len) == 1)
      rc = delete_range(b, items[i].slot, 1);
  }
  free(items);
  return rc;
}

/* Moves shown item `from` so that it is shown at `to` afterwards: a new slot for the element
** where `to` is in the list without it, and the slot it leaves deleted when a move made it. */
static int list_move(builder *b, size_t from, size_t to, const char *hlc) {
  sloop_list_item *items;
  size_t n;
  int rc = shown(b, &items, &n);
  if (rc) return rc;
  if (from >= n || to >= n) {
    free(items);
    return sloop_fail(b->db, SLOOP_INVALID, "field '%.64s': move %zu to %zu is past the end (%zu)", b->field, from, to, n);
  }
  if (from == to) return free(items), SLOOP_OK;
  sloop_list_item it = items[from];
  memmove(items + from, items + from + 1, (n - from - 1) * sizeof(*items));
  size_t at = place_after(items, to);
  free(items);
  char ref[SLOOP_SEQ_ID_MAX];
  sloop_seq_format_id(it.elem, ref);
  uint8_t *content = NULL;
  size_t len = 0;
  cJSON *mv = cJSON_CreateString(ref);
  if (!mv || sloop_list_move_slot(ref, &content, &len)) return cJSON_Delete(mv), SLOOP_NOMEM;
  seq_id slot = next_id(b);
  rc = insert_at(b, at, SEQ_ELEMS, content, len, 1, "mv", mv);
  free(content);
  /* The copy's register follows, so a later splice of this write sees the element moved. */
  if (!rc) {
    char sl[SLOOP_SEQ_ID_MAX];
    sloop_seq_format_id(slot, sl);
    cJSON *reg = cJSON_CreateArray();
    if (!reg || !cJSON_AddItemToArray(reg, cJSON_CreateString(sl)) || !cJSON_AddItemToArray(reg, cJSON_CreateString(hlc)))
      rc = SLOOP_NOMEM;
    else if (sloop_member(b->moves, ref)) cJSON_ReplaceItemInObjectCaseSensitive(b->moves, ref, reg), reg = NULL;
    else cJSON_AddItemToObject(b->moves, ref, reg), reg = NULL;
    cJSON_Delete(reg);
  }
  if (!rc && (it.slot.node != it.elem.node || it.slot.seq != it.elem.seq)) rc = delete_range(b, it.slot, 1);
  return rc;
}

static int index_arg(const cJSON *v, size_t *out) {
  if (!sloop_json_whole(v, 9e15)) return 0;
  *out = (size_t)v->valuedouble;
  return 1;
}

/* A whole new array: one splice between the common prefix and suffix (equal printed JSON). */
static int list_replace(builder *b, const cJSON *want) {
  sloop_list_item *items;
  size_t n;
  int rc = shown(b, &items, &n);
  if (rc) return rc;
  size_t m = (size_t)cJSON_GetArraySize(want), pre = 0, suf = 0;
  char **printed = calloc(m ? m : 1, sizeof(char *));
  if (!printed) return free(items), SLOOP_NOMEM;
  size_t i = 0;
  for (const cJSON *v = want ? want->child : NULL; v; v = v->next, i++)
    if (!(printed[i] = sloop_print(v, NULL))) rc = SLOOP_NOMEM;
#define SAME(k, j) (strlen(printed[j]) == items[k].json_len && memcmp(printed[j], items[k].json, items[k].json_len) == 0)
  if (!rc) {
    while (pre < n && pre < m && SAME(pre, pre)) pre++;
    while (suf < n - pre && suf < m - pre && SAME(n - 1 - suf, m - 1 - suf)) suf++;
  }
#undef SAME
  for (i = 0; i < m; i++) free(printed[i]);
  free(printed);
  free(items);
  if (!rc) rc = list_remove(b, pre, n - pre - suf);
  if (!rc && m - pre - suf) rc = list_insert(b, pre, want, (int)pre, (int)(m - pre - suf));
  return rc;
}

static int list_edits(builder *b, const cJSON *in, const char *hlc) {
  if (cJSON_IsArray(in)) return list_replace(b, in);
  if (cJSON_IsNull(in)) return list_replace(b, NULL);
  const cJSON *a = cJSON_IsObject(in) && cJSON_GetArraySize(in) == 1 ? in->child : NULL;
  size_t x, y;
  if (a && strcmp(a->string, "$insert") == 0 && cJSON_IsArray(a) && cJSON_GetArraySize(a) >= 2 &&
      index_arg(a->child, &x))
    return list_insert(b, x, a, 1, cJSON_GetArraySize(a) - 1);
  if (a && strcmp(a->string, "$remove") == 0 && cJSON_GetArraySize(a) == 2 && index_arg(a->child, &x) &&
      index_arg(a->child->next, &y))
    return list_remove(b, x, y);
  if (a && strcmp(a->string, "$move") == 0 && cJSON_GetArraySize(a) == 2 && index_arg(a->child, &x) &&
      index_arg(a->child->next, &y))
    return list_move(b, x, y, hlc);
  return schema_fail(b, "a list field takes an array, {\"$insert\": [index, values...]}, {\"$remove\": [index, count]}"
                        " or {\"$move\": [from, to]}");
}

int sloop_client_seq_op(sloop_db *db, sloop_policy p, const char *field, const cJSON *in, const cJSON *fs,
                        const cJSON *base_fs, const char *hlc, cJSON *fop, int *empty) {
  char msg[200];
  builder b = {db, field, NULL, NULL, NULL, 0};
  *empty = 0;
  if (!sloop_codec_parse_node(db->device, strlen(db->device), &b.node))
    return sloop_fail(db, SLOOP_INVALID, "this device has no id");
  int rc = sloop_seq_field_load(fs, p, &b.s, msg);
  if (rc) return rc == SLOOP_CORRUPT ? sloop_fail(db, rc, "field '%.64s': %s", field, msg) : rc;
  const cJSON *m = sloop_member(fs, "m");
  b.moves = m ? cJSON_Duplicate(m, 1) : cJSON_CreateObject();
  b.edits = cJSON_AddArrayToObject(fop, "seq");
  if (!b.moves || !b.edits) rc = SLOOP_NOMEM;
  if (!rc) rc = p == SLOOP_POLICY_TEXT ? text_edits(&b, in) : list_edits(&b, in, hlc);
  /* The sequence the edits name, as the server began it and this device still shows it: its
  ** own first write of a field (no canonical one yet), or a field it deleted and began again,
  ** names none. */
  const char *g = cJSON_GetStringValue(sloop_member(base_fs, "g")), *here = cJSON_GetStringValue(sloop_member(fs, "g"));
  if (g && (!here || strcmp(g, here) != 0)) g = NULL;
  if (!rc && g && !cJSON_AddStringToObject(fop, "g", g)) rc = SLOOP_NOMEM;
  if (!rc && cJSON_GetArraySize(b.edits) > SLOOP_SEQ_EDITS_MAX)
    rc = sloop_fail(db, SLOOP_TOOBIG, "field '%.64s': more than %d edits in one write", field, SLOOP_SEQ_EDITS_MAX);
  if (!rc) *empty = cJSON_GetArraySize(b.edits) == 0;
  cJSON_Delete(b.moves);
  seq_free(b.s);
  return rc;
}
