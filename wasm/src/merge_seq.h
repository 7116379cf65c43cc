/*
** merge_seq.h -- the `text` and `list` field policies on top of the sequence CRDT (seq.h).
**
** Field state (merge.h): {"q": <base64 of the sequence's binary form>, "m": <moves>, "s": <version>}
**   text  the sequence's elements are the characters.
**   list  each element is 'v' and a value's JSON text (an element as inserted), or 'm' and an
**         element id (a slot a move made for that element). "m" is {<element id>: [<slot id>,
**         <hlc>]}: the slot the element's newest move put it in, last writer wins. An element is
**         shown at its own slot until it is first moved, then at the slot its register names;
**         it is removed when its own slot is deleted, wherever it was moved.
**
** "g" is the timestamp of the write that began the sequence. A delete drops the field and a
** later write begins it again, with ids from 0 again; an edit made against the earlier one
** names that one's "g" and is refused (SLOOP_DELETED) rather than applied to other elements
** that happen to have its ids now.
**
** Field operation: {"seq": [edit, ...], "g": <hlc>}, applied in order, all or nothing (g left
** out by an edit of a field that had not begun):
**   {"i": id, "l": id, "r": id, "s": text}    insert a run of characters (text)
**   {"i": id, "l": id, "r": id, "v": [values]} insert a run of elements (list)
**   {"i": id, "l": id, "r": id, "mv": id}     put a moved element in a new slot (list)
**   {"d": id, "n": count}                       delete count elements from id on
** where an id is "<device>:<counter>" (16 hex digits, a decimal), and "l"/"r" (the left and
** right origins) are left out for the start and the end.
*/
#ifndef SLOOP_MERGE_SEQ_H
#define SLOOP_MERGE_SEQ_H

#include "cJSON.h"
#include "schema.h"
#include "seq.h"

/* Longest id text, and the most edits and bytes one field operation may carry. */
#define SLOOP_SEQ_ID_MAX 32
#define SLOOP_SEQ_EDITS_MAX 10000
/* The node of the elements a value written before the field was a sequence becomes: no device
** has it (device ids are random; this one is reserved). */
#define SLOOP_SEQ_LEGACY_NODE 1

int sloop_seq_parse_id(const char *s, seq_id *id);
void sloop_seq_format_id(seq_id id, char buf[SLOOP_SEQ_ID_MAX]);

/* The shape check of op_parse.c: SLOOP_OK or SLOOP_SCHEMA/SLOOP_INVALID with msg[200]. */
int sloop_seq_check_op(sloop_policy p, const cJSON *fop, char *msg);

/* The field's sequence (an empty one when the state has none): SLOOP_OK, SLOOP_NOMEM, or
** SLOOP_CORRUPT with msg. */
int sloop_seq_field_load(const cJSON *fs, sloop_policy p, seq **out, char *msg);
int sloop_seq_field_store(cJSON *fs, const seq *s);
/* The same from the "q" string itself (NULL: none). */
int sloop_seq_from_base64(const char *b64, sloop_policy p, seq **out, char *msg);

/* Applies a field operation: SLOOP_OK with *refused 0, or *refused a Sloop code (SLOOP_INVALID
** for an edit naming unknown ids, out of range or oversized) with msg and `fs` untouched;
** SLOOP_NOMEM or SLOOP_CORRUPT as errors. */
int sloop_seq_field_apply(cJSON *fs, sloop_policy p, const cJSON *fop, const char *hlc, double version, int *refused,
                          char *msg);

/* A list's element content for seq_insert: values [first, first+count) of an array, each as
** inserted ('v' and its JSON), or one slot a move makes for element `elem` ('m' and its id).
** A new buffer in *out (*len bytes); SLOOP_NOMEM. */
int sloop_list_values(const cJSON *values, int first, int count, uint8_t **out, size_t *len);
int sloop_list_move_slot(const char *elem, uint8_t **out, size_t *len);

/* What the field shows: a string (text) or an array (list). NULL on OOM or a corrupt state. */
cJSON *sloop_seq_field_value(const cJSON *fs, sloop_policy p);

/* A list as shown: each shown element's slot, element id, place among the sequence's live
** elements, and value JSON text (borrowed from the sequence). */
typedef struct sloop_list_item {
  seq_id slot, elem;
  size_t at;
  const char *json;
  size_t json_len;
} sloop_list_item;
int sloop_list_shown(const seq *s, const cJSON *moves, sloop_list_item **items, size_t *n);

#endif /* SLOOP_MERGE_SEQ_H */
