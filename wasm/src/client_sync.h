/*
** client_sync.h -- what the client's sync files share (private to the core, client module
** only). rebase.c is at the bottom (the local view and the sync state machine);
** client_answer.c applies answers with it; sync.c (push) and pull_apply.c (pull) use both;
** client.c (local writes) moves records through the same machine.
*/
#ifndef SLOOP_CLIENT_SYNC_H
#define SLOOP_CLIENT_SYNC_H

#include "internal.h"

/* The oplog columns sloop_op_from_row reads, in its order. */
#define SLOOP_OP_COLUMNS "id, type, coll, rid, hlc, base, payload, status, attempts, last_error"

/* ---- rebase.c ---- */

/* Moves row->sync to `to`, refusing (SLOOP_TRANSITION) edges the machine does not have. */
int sloop_transition(sloop_db *db, const char *coll, const char *rid, sloop_row *row, int to);
/* The protocol's operation object of an oplog row selected with SLOOP_OP_COLUMNS (caller
** deletes), with its status and attempts if `with_status`; NULL if unreadable. */
cJSON *sloop_op_from_row(sqlite3_stmt *st, int with_status);
/* Drops the record's acknowledged operations that its canonical `version` includes. */
int sloop_compact_record(sloop_db *db, const char *coll, const char *rid, int64_t version);
/* Recomputes row->state as the canonical state plus the record's operations still open. */
int sloop_rebase(sloop_db *db, const char *coll, const char *rid, sloop_row *row);
/* Rebases a record and settles its sync state after its operations were answered. */
int sloop_settle(sloop_db *db, const char *coll, const char *rid);

/* ---- client_answer.c ---- */

/* Parses a server answer into *answer, a JSON object (caller deletes); else SLOOP_JSON or
** SLOOP_INVALID with the error set and *answer NULL. With `docs`, also the text of each
** canonical `doc` (sloop_json_parse_spans), for sloop_apply_changes. */
int sloop_parse_answer(sloop_db *db, const char *resp, size_t len, sloop_json_spans *docs, cJSON **answer);
/* Stores (or updates) a conflict record from the server, keeping the newest copy. */
int sloop_store_conflict(sloop_db *db, const cJSON *c);
/* Applies per-operation results; adds the records they touch to `touched` ("coll\x1frid"). */
int sloop_apply_results(sloop_db *db, const cJSON *results, cJSON *touched);
/* Applies the canonical records of an answer (`answer`'s "changes" or "records", named by
** `member`), in either wire form; an invalid change refuses the whole answer. `docs` (or NULL):
** the answer's documents as written, which a record stored as pulled keeps as its text. */
int sloop_apply_changes(sloop_db *db, const cJSON *answer, const char *member, sloop_json_spans *docs);
/* Settles every record named in `touched`. */
int sloop_settle_touched(sloop_db *db, const cJSON *touched);

/* ---- pull_plain.c ---- */

struct sloop_wire_nodes;
/* A v2 change's state (`b64`, its answer's `nodes`) encoded for this database without the
** cJSON state, when the change's `doc` is what sloop_materialize makes of that state under
** `cs` and the record is live: *blob (malloc'd, *len bytes) is then byte for byte what
** sloop_row_save would store; else *blob is NULL and the general path must apply the change
** (also for anything it would refuse). Interns the state's nodes. SLOOP_OK or a failure of
** memory or SQL. */
int sloop_pull_plain_encode(sloop_db *db, const sloop_coll_schema *cs, const char *b64, size_t b64_len,
                            const cJSON *doc, const struct sloop_wire_nodes *nodes, uint8_t **blob, size_t *len);
/* Stores a record so encoded, as sloop_row_save stores a record with no operation in the
** log and no base: `head` is what sloop_row_head_load said of it. `text` (or NULL) is `doc`
** as sloop_print would print it, `text_len` bytes, not terminated. With `inserted`, a record
** taken for new (`head` all zero): stored only if no row has its key, *inserted says which. */
int sloop_pull_plain_save(sloop_db *db, const char *coll, const char *rid, const sloop_row_head *head,
                          int64_t version, const cJSON *doc, const char *text, size_t text_len, const uint8_t *blob,
                          size_t len, int *inserted);

/* A local write's value for a `text` or `list` field as sequence edits (client_seq.c): adds
** {"seq": [...]} to `fop` against the field state `fs` (NULL for none) and the canonical one
** `base_fs` (whose "g" it names); *empty when the value
** asks for no change. `hlc` stamps a list move. A Sloop code with the handle's message. */
int sloop_client_seq_op(sloop_db *db, sloop_policy p, const char *field, const cJSON *in, const cJSON *fs,
                        const cJSON *base_fs, const char *hlc, cJSON *fop, int *empty);

/* Folds a local write's operation `op` into the log's last operation when that one is a
** never-sent patch of the same record and fields whose text edits it continues
** (oplog_coalesce.c): *folded 1 and that operation's id in folded_into. */
int sloop_oplog_coalesce(sloop_db *db, const sloop_coll_schema *cs, const cJSON *op, char *folded_into,
                         size_t size, int *folded);

/* Index deltas of text fields for change events (text_changes.c). A snapshot is the text
** fields' sequences of a state before a change ({field: base64}; NULL when it has none);
** sloop_text_note compares the state after it and queues, for each text field that changed,
** {"coll", "id", "field", "local", "edits": [[index, deleteCount, "inserted"], ...]} with
** UTF-16 indexes (splices in order) for sloop_take_changes. */
int sloop_text_snapshot(const sloop_coll_schema *cs, const cJSON *state, cJSON **snap);
void sloop_text_note(sloop_db *db, const sloop_coll_schema *cs, const char *coll, const char *rid, const cJSON *snap,
                     const cJSON *state, int local);
/* Whether a collection may hold text fields. */
int sloop_text_coll(const sloop_coll_schema *cs);
/* Whether a state has a field of the text policy. */
int sloop_text_fields(const sloop_coll_schema *cs, const cJSON *state);

#endif /* SLOOP_CLIENT_SYNC_H */
