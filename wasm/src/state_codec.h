/*
** state_codec.h -- the binary form of a record's merge state (format 2 of the records table).
**
** The state itself is described in merge.h; this is only how it is stored. Pure functions: no
** SQL. Node ids (the 64-bit node of every HLC, and a device id of 16 hex digits wherever one
** appears as a writer or inside a set tag) are stored as small integers that the caller
** interns per database (see sloop_nodes).
**
** Layout (all integers LEB128 varints, minimal length; the double is 8 bytes little-endian):
**   u8 codec version (1), u8 record mask: 1 p, 2 d, 4 f
**   [hlc p] [hlc d]                          hlc = varint ms, varint counter, varint node index
**   [if f: varint n, then n fields]          field = varint name length, name bytes, varint mask,
**                                                    then the members its mask names, in order:
**     0x001 v inline   varint length, JSON text
**     0x002 v in doc   nothing: the value is the document's member of the same name
**     0x004 t          hlc
**     0x008 t is p     nothing: t equals the record's p (a put stamps all its fields)
**     0x010 s          varint server version
**     0x020 w          ref (the writing device)
**     0x040 n integer  varint, zigzag
**     0x080 n double   8 bytes
**     0x100 a          varint n, then n times: varint length, element bytes, varint k, k tags
**     0x200 r          varint k, k tags
**     0x400 q          varint length, the sequence of a text or list field (seq_codec.c)
**     0x800 m          varint length, JSON text: a list's move registers (merge_seq.c)
**     0x1000 g         hlc: the write that began the text or list (merge_seq.h)
**   ref = varint x: x odd -> the node of index x >> 1 (16 hex digits); x even -> x >> 1 bytes
**   tag = varint 0, varint length, bytes (any tag); or varint 1, varint node index, varint seq,
**         varint n for the tags local writes make, "<device>:<seq>#<n>".
** A value is taken from the document only when the document shows exactly it, so a state
** written without its document (a canonical base, a deleted record) carries every value.
*/
#ifndef SLOOP_STATE_CODEC_H
#define SLOOP_STATE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "cJSON.h"

#define SLOOP_STATE_CODEC_VERSION 1

/* The interning of node ids: node -> index (adding it if new) and index -> node. Both return
** a Sloop code; lookup fails (SLOOP_CORRUPT) for an index never handed out. */
typedef struct sloop_nodes {
  int (*intern)(void *ctx, uint64_t node, uint64_t *index);
  int (*lookup)(void *ctx, uint64_t index, uint64_t *node);
  void *ctx;
} sloop_nodes;

/* Encodes `state` into a new buffer (*out, malloc'd, *len bytes). `doc` is the document stored
** alongside it (sloop_materialize of this state) or NULL; register values equal to the
** document's are left out of the blob. Refuses (SLOOP_INVALID, message in msg[200]) a state
** whose shape merge.c never makes. */
int sloop_state_encode(const cJSON *state, const cJSON *doc, const sloop_nodes *nodes, uint8_t **out,
                       size_t *len, char *msg);

/* Decodes a blob into a new cJSON state (*out). `doc` must be the document stored with the
** blob when the blob takes values from it. Every byte is checked: a truncated or overlong
** blob, an unknown codec version or mask bit, a non-minimal varint, an unknown node or a
** missing document value gives SLOOP_CORRUPT with a message in msg[200], and *out NULL. */
int sloop_state_decode(const uint8_t *blob, size_t len, const cJSON *doc, const sloop_nodes *nodes,
                       cJSON **out, char *msg);

/* The two above with options: SC_NAMES_FROM_DOC names a field the document has by its index
** among the document's member names in sorted (strcmp) order, as varint 0 and varint index,
** instead of its bytes; the decoder then refuses a name spelled out that the document has.
** Sorted, not in member order, so that whoever reorders the document's members (JSON objects
** are unordered; some re-encoders sort them) changes no name. Protocol v2 (wire.h) uses it: the
** document travels with the state there, and the names were a third of the blob. Stored
** blobs never use it (the records table keeps format 2 as it is). */
enum { SC_NAMES_FROM_DOC = 1 };
int sloop_state_encode_with(const cJSON *state, const cJSON *doc, const sloop_nodes *nodes, int flags, uint8_t **out,
                            size_t *len, char *msg);
int sloop_state_decode_with(const uint8_t *blob, size_t len, const cJSON *doc, const sloop_nodes *nodes, int flags,
                            cJSON **out, char *msg);

/* Re-encodes a blob between its stored form and the wire's (SC_NAMES_FROM_DOC) without
** decoding it, byte for byte as the encoder would encode its decoded state: node indexes
** looked up in `from` and interned in `to`; SC_TO_WIRE writes a name the document has
** (`names`: its member names sorted as sloop_codec_doc_names gives them; NULL, 0 for none) as
** its index, SC_FROM_WIRE reads such indexes and writes the names out. New buffer in *out
** (malloc'd, *out_len bytes). With `seen` non-NULL, also what each field is (a new array of
** *nseen entries, in blob order, the caller frees). SLOOP_CORRUPT with a message in msg[200]
** for a blob that does not decode (state_transcode.c says what is checked). */
enum { SC_TO_WIRE = 0, SC_FROM_WIRE = 1 };
typedef struct sloop_field_seen {
  long doc_index; /* the field's index among the document's sorted names, -1: not there */
  uint64_t mask;  /* SC_F_* */
  double n;       /* the counter, when mask has SC_F_N_INT or SC_F_N_DBL */
} sloop_field_seen;
int sloop_state_transcode(const uint8_t *blob, size_t len, const sloop_nodes *from, const sloop_nodes *to,
                          const char **names, size_t nnames, int direction, uint8_t **out, size_t *out_len,
                          sloop_field_seen **seen, size_t *nseen, char *msg);

/* Whether the blob's state shows a live record (a put and no newer delete), reading only its
** header: 1 or 0, or a negative Sloop code for a blob that does not decode. */
int sloop_state_blob_visible(const uint8_t *blob, size_t len, const sloop_nodes *nodes);

/* ---- shared by the encoder (state_codec.c) and the decoder (state_decode.c) only ---- */

enum { SC_REC_P = 1, SC_REC_D = 2, SC_REC_F = 4, SC_REC_ALL = 7 };
enum {
  SC_F_V_INLINE = 0x001,
  SC_F_V_DOC = 0x002,
  SC_F_T = 0x004,
  SC_F_T_IS_P = 0x008,
  SC_F_S = 0x010,
  SC_F_W = 0x020,
  SC_F_N_INT = 0x040,
  SC_F_N_DBL = 0x080,
  SC_F_A = 0x100,
  SC_F_R = 0x200,
  SC_F_Q = 0x400,
  SC_F_M = 0x800,
  SC_F_G = 0x1000,
  SC_F_ALL = 0x1fff
};

/* The largest integer a double holds exactly: versions, sequence numbers and integral
** counters up to it are varints. */
#define SC_EXACT_MAX 9007199254740992.0

/* A device id as this core makes them (16 lower-case hex digits) into *node; 0 otherwise. */
int sloop_codec_parse_node(const char *s, size_t n, uint64_t *node);
/* Splits a tag of the form local writes make, "<device>:<seq>#<n>"; 0 for any other tag. */
int sloop_codec_tag_parts(const char *s, size_t len, uint64_t *node, uint64_t *seq, uint64_t *n);
/* The document's member names sorted by strcmp (pointers into doc, *n of them; *names NULL
** for none; the caller frees the array), for SC_NAMES_FROM_DOC. SLOOP_NOMEM or SLOOP_OK. */
int sloop_codec_doc_names(const cJSON *doc, const char ***names, size_t *n);
/* The position of the first `name` among the sorted names, or -1 if absent (binary search). */
long sloop_codec_name_index(const char **names, size_t n, const char *name);
/* Whether a double is an integer a varint stores exactly (|d| < 2^53). */
int sloop_codec_exact_int(double d);
/* Reads the varint at *p (before `end`) into *v and moves *p past it, refusing what no encoder
** writes: one every decoder of the format shares, so their rules cannot drift apart. Returns
** NULL, or why it refused (truncated, over 64 bits, not minimal). */
const char *sloop_codec_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v);
/* The same, with the one-byte varint (most of them: lengths, masks, node indexes, small
** numbers) read inline: a call per varint was 4% of a server's apply. */
static inline const char *sloop_codec_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  if (*p < end && **p < 0x80) {
    *v = *(*p)++;
    return NULL;
  }
  return sloop_codec_get_varint(p, end, v);
}

#endif /* SLOOP_STATE_CODEC_H */
