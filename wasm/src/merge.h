/*
** merge.h -- operations and the deterministic apply/merge of an operation onto a record's
** merge state. Pure functions over cJSON: no SQL, no clock. The server applies pushed
** operations with them; the client applies its own writes and rebases pending operations on
** pulled canonical state with the very same code.
**
** Record merge state (JSON):
**   {"p": <hlc of the newest put>, "d": <hlc of the newest delete>, "f": {<field>: <fs>}}
** where the field state <fs> depends on the field's policy:
**   lww, fww, manual, custom  {"v": <value, absent when unset>, "t": <hlc>, "s": <version>}
**   counter                   {"n": <number>}
**   set (add-wins)            {"a": {<element>: [<add tag>...]}, "r": [<removed tag>...]}
**   text, list                {"q": <sequence>, "m": <list moves>, "s": <version>} (merge_seq.h)
** "s" is the server version at which the field last changed (0 for a change not yet stamped).
** A record is visible when it has a put and no newer delete.
*/
#ifndef SLOOP_MERGE_H
#define SLOOP_MERGE_H

#include "cJSON.h"
#include "hlc.h"
#include "schema.h"

typedef enum { SLOOP_OP_PUT, SLOOP_OP_PATCH, SLOOP_OP_DELETE, SLOOP_OP_RESOLVE } sloop_op_type;

/* A parsed operation. Strings and `payload` are borrowed from the cJSON tree it came from. */
typedef struct sloop_op {
  const char *id;
  sloop_op_type type;
  const char *coll;
  const char *rid;
  char hlc_str[SLOOP_HLC_STRLEN];
  sloop_hlc hlc;
  int64_t base;
  const cJSON *payload;
  int step_up;
} sloop_op;

typedef enum { SLOOP_APPLIED = 0, SLOOP_REJECTED = 1, SLOOP_CONFLICTED = 2 } sloop_outcome;

/* Custom merge hook: merges `incoming` into `current` (either may be NULL for unset) for a
** field whose value changed concurrently. Returns a new cJSON value in *out (ownership passes
** to the caller; NULL unsets), or a non-zero Sloop code to reject the operation. */
typedef int (*sloop_merge_fn)(void *ctx, const char *coll, const char *field,
                              const cJSON *current, const cJSON *incoming, cJSON **out);

typedef struct sloop_apply_ctx {
  int64_t version;  /* the server version stamping this change; 0 on a client */
  sloop_merge_fn custom;
  void *custom_ctx;
  int scratch;      /* the caller drops `state` unless the operation applies: see sloop_apply */
} sloop_apply_ctx;

typedef struct sloop_apply_result {
  sloop_outcome outcome;
  int code;           /* for SLOOP_REJECTED: the reason (SLOOP_IMMUTABLE, SLOOP_DELETED, ...) */
  char message[200];
  cJSON *conflicts;   /* for SLOOP_CONFLICTED: array of {"field","server","incoming"}; owned */
} sloop_apply_result;

/* Parses and validates an operation object against the schema: shape, names, HLC format and
** every field operation's type for its field's policy. Returns SLOOP_OK or a code with a
** message in `msg` (at least 200 bytes). */
int sloop_op_parse(const sloop_schema *schema, const cJSON *json, sloop_op *op, char *msg);

/* Applies `op` to the record state `state` (an object; {} for a record never seen), in place
** and all or nothing: a rejected operation leaves `state` untouched. res->conflicts must be
** freed with cJSON_Delete. Returns SLOOP_OK (the outcome is in res) or SLOOP_NOMEM/SLOOP_MERGE;
** after an error `state` may be half changed, and the caller drops it (the failure fails the
** whole write, push or rebase). The state is copied first only when the operation could be
** refused after its first change (a first-writer-wins field set to another value or named
** twice, a custom merge). With ctx->scratch the caller promises to drop `state` unless the
** outcome is applied or conflicted: then no copy is made at all, and a rejection may leave it
** half changed. A copy of the state was 6% of a server's apply. */
int sloop_apply(const sloop_coll_schema *cs, cJSON *state, const sloop_op *op,
                const sloop_apply_ctx *ctx, sloop_apply_result *res);

/* The document a state shows: a new object, or NULL when the record is deleted or was never
** put. Sets are shown as sorted arrays of their elements, counters as numbers. */
cJSON *sloop_materialize(const sloop_coll_schema *cs, const cJSON *state);

/* Whether the state shows a live record (has a put and no newer delete). */
int sloop_state_visible(const cJSON *state);

#endif /* SLOOP_MERGE_H */
