/*
** seq.h -- the sequence CRDT behind the `text` and `list` field policies.
**
** A sequence is an ordered list of elements, each with a unique id (the inserting device's
** 64-bit node and a per-device counter). An insertion names the element it went after (its left
** origin) and the element that was then next (its right origin); the order of concurrent
** insertions is decided by FugueMax, the Fugue paper's maximally non-interleaving rule (as the
** YATA scan with a corrected right-origin case): two devices typing at one place come out as
** two whole runs, never letter by letter, whether they typed forwards or backwards.
** Deleted elements stay as tombstones: their content is dropped at once and neighbouring
** tombstones of one run merge, but their ids stay, so an insertion made offline next to them
** still finds its place (docs/DESIGN.md "Text and lists" says why ids are never dropped).
**
** Elements are kept as runs: a run is elements of one device with consecutive counters, each
** inserted right after the one before, sharing a right origin. Typing or pasting makes one
** run, and one operation names it by its first id and its length. Runs sit in blocks of at
** most SEQ_BLOCK runs that keep their counts, so a position is found by summing a few hundred
** block counts rather than walking every element.
**
** Text elements are Unicode code points stored as UTF-8; positions may be given in code points
** or in UTF-16 code units (what a JS string and a <textarea> count). List elements are opaque
** byte strings (the list layer, seq_list.c, puts a JSON value in each).
**
** Pure: no SQL, no cJSON, no clock. Every mutating function checks everything it needs before
** its first change, so a refused edit leaves the sequence as it was.
*/
#ifndef SLOOP_SEQ_H
#define SLOOP_SEQ_H

#include <stddef.h>
#include <stdint.h>

typedef enum { SEQ_TEXT = 0, SEQ_LIST = 1 } seq_kind;
/* What a position counts: elements (code points for text), or UTF-16 code units (text only). */
typedef enum { SEQ_ELEMS = 0, SEQ_UTF16 = 1 } seq_unit;

/* An element id; `node` 0 means none (no origin: the start or the end of the sequence). Nodes
** are device ids, never 0. */
typedef struct seq_id {
  uint64_t node;
  uint32_t seq;
} seq_id;

/* Largest counter and run length an operation may carry, and the most elements one sequence
** holds: an oversized run is refused, not truncated. */
#define SEQ_MAX_COUNTER 0xfffffff0u
#define SEQ_MAX_RUN 1000000u
#define SEQ_MAX_ELEMS 16000000u

typedef struct seq seq;

seq *seq_new(seq_kind kind);
void seq_free(seq *s);
seq_kind seq_get_kind(const seq *s);

/* Visible length in `unit`s, and the number of elements kept (visible and tombstones). */
size_t seq_length(const seq *s, seq_unit unit);
size_t seq_elements(const seq *s);
size_t seq_runs(const seq *s);
/* Bytes of heap the sequence holds. */
size_t seq_memory(const seq *s);

/* The next counter `node` would use: one past the largest it has in this sequence. */
uint32_t seq_next_counter(const seq *s, uint64_t node);

/* Counts code points in valid UTF-8 (1) and their UTF-16 units; 0 for invalid UTF-8. */
int seq_utf8_count(const uint8_t *p, size_t n, uint32_t *points, uint32_t *units);

/* ---- remote (and replayed) operations: ids given ------------------------------------ */

/* Inserts `n` elements with ids (id.node, id.seq .. id.seq+n-1), the first after `left` and
** the run before `right` as their inserter saw it. Content: text, `bytes` of UTF-8 holding
** exactly n code points; list, n elements each a LEB128 length and that many bytes. An insert
** whose ids are all present already with the same origins is a no-op (duplicates are
** harmless); ids partly present, an unknown origin, or bad content is refused. Returns 0, or
** -1 with a message in msg[200]. */
int seq_insert(seq *s, seq_id id, seq_id left, seq_id right, const uint8_t *content, size_t bytes, uint32_t n,
               char *msg);

/* Deletes the elements (id.node, id.seq .. id.seq+n-1); all must be known. Deleting a
** tombstone again is a no-op. Returns 0 or -1 with msg. */
int seq_delete(seq *s, seq_id id, uint32_t n, char *msg);

/* ---- local edits: positions given, ids chosen -------------------------------------- */

/* Where an insertion at visible position `pos` goes: the element before it (left) and the
** element (visible or not) right after that (right). -1 with msg when pos is past the end or,
** in UTF-16 units, inside a surrogate pair. */
int seq_origins_at(const seq *s, size_t pos, seq_unit unit, seq_id *left, seq_id *right, char *msg);

/* The ids of the visible elements in [pos, pos+len) (in `unit`s) as ranges of consecutive ids,
** in document order: each calls visit(ctx, id, n); a non-zero return stops the walk and is
** returned. -1 with msg for a range past the end or splitting a surrogate pair. */
typedef int (*seq_range_fn)(void *ctx, seq_id id, uint32_t n);
int seq_ids_in(const seq *s, size_t pos, size_t len, seq_unit unit, seq_range_fn visit, void *ctx, char *msg);

/* ---- reading ------------------------------------------------------------------------ */

/* Calls visit for each visible stretch of content in document order (a run or its visible
** part): the bytes, and how many elements they hold. Stops at a non-zero return. */
typedef int (*seq_content_fn)(void *ctx, const uint8_t *bytes, size_t len, uint32_t n);
int seq_each_visible(const seq *s, seq_content_fn visit, void *ctx);

/* The same with the id of each stretch's first element (the others follow it by counter). */
typedef int (*seq_id_content_fn)(void *ctx, seq_id first, const uint8_t *bytes, size_t len, uint32_t n);
int seq_each_visible_id(const seq *s, seq_id_content_fn visit, void *ctx);

/* One element: 1 and its content when live, 0 for a tombstone, -1 when unknown. */
int seq_element(const seq *s, seq_id id, const uint8_t **bytes, size_t *len);

/* The visible text (SEQ_TEXT): a new NUL-terminated buffer (*out, *len bytes), or -1 on OOM. */
int seq_text(const seq *s, char **out, size_t *len);

/* What changed between `before` and `after`, a later state of the same sequence (all its
** elements, perhaps fewer tombstones): calls edit(ctx, pos, del, ins, ins_bytes, ins_n) for
** each changed stretch in document order, with pos in `unit`s of the text as already edited
** by the calls before (splice semantics, like the editing traces). ins_n is the number of
** elements inserted (for a list), del in `unit`s. Returns 0, -1 on OOM, or the callback's
** non-zero return. */
typedef int (*seq_edit_fn)(void *ctx, size_t pos, size_t del, const uint8_t *ins, size_t ins_bytes, size_t ins_n);
int seq_diff(const seq *before, const seq *after, seq_unit unit, seq_edit_fn edit, void *ctx);

/* ---- storage ------------------------------------------------------------------------ */

/* The binary form (seq_codec.c): a new buffer in *out (*len bytes), -1 on OOM. With
** `omit_visible` the visible content is left out; decode then takes it from `visible` (the
** text a document shows, which equals it). */
int seq_encode(const seq *s, int omit_visible, uint8_t **out, size_t *len);
/* Decodes; every byte is checked. `visible` is the document's text when the blob omits it,
** else NULL. NULL with msg[200] for a blob that does not decode. */
seq *seq_decode(seq_kind kind, const uint8_t *blob, size_t len, const uint8_t *visible, size_t visible_len,
                char *msg);

/* A blob's devices are 8-byte node ids, so a blob means the same anywhere. Stored inside a
** record's state (state_codec.h) they are instead indexes into the database's node table, as
** every other node there is (flag SEQ_FLAG_INDEXES): a device named in a thousand records is
** then stored once, and protocol v2 lists it once per answer. This rewrites the table from one
** form to the other (to_indexes or not), passing each entry through map; the rest of the blob
** is copied. -1 for a malformed table, OOM or a refusal of map. */
#define SEQ_FLAG_INDEXES 4
typedef int (*seq_agent_map)(void *ctx, uint64_t in, uint64_t *out);
int seq_blob_agents(const uint8_t *in, size_t len, int to_indexes, seq_agent_map map, void *ctx, uint8_t **out,
                    size_t *out_len);

/* Structural self-check for tests: counts, blocks, id index. 0 or -1 with msg. */
int seq_check(const seq *s, char *msg);

#endif /* SLOOP_SEQ_H */
