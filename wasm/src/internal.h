/*
** internal.h -- what the core's source files share and nothing outside wasm/src may use.
**
** The handle struct, the SQL helpers that turn SQLite failures into Sloop return codes with a
** message, and the JSON helpers. Every function here follows sloop.h's conventions: int return
** codes, caller-owned `char **out`.
*/
#ifndef SLOOP_INTERNAL_H
#define SLOOP_INTERNAL_H

#include "cJSON.h"
#include "json.h"
#include "hlc.h"
#include "merge.h"
#include "schema.h"
#include "sloop.h"
#include "sqlite3.h"
#include "state_codec.h"

/* Per-record sync states, stored as integers in records.sync: short names for sloop.h's
** list (SLOOP_STATES), which alone gives the values and the names. */
enum {
  SLOOP_LOCAL_ONLY = SLOOP_STATE_LOCAL_ONLY,
  SLOOP_SYNCING = SLOOP_STATE_SYNCING,
  SLOOP_SYNCED = SLOOP_STATE_SYNCED,
  SLOOP_FAILED = SLOOP_STATE_FAILED,
  SLOOP_MODIFIED = SLOOP_STATE_MODIFIED
};

/* Operation statuses, stored as integers in oplog.status. */
enum { SLOOP_OP_PENDING = 0, SLOOP_OP_SYNCING = 1, SLOOP_OP_SYNCED = 2, SLOOP_OP_FAILED = 3 };

/* A prepared statement kept for reuse: preparing costs more than the step of most of the
** core's statements, and the same few dozen run on every write. */
typedef struct sloop_cached_stmt {
  char *sql;
  uint32_t hash;
  sqlite3_stmt *stmt;
  int in_use;  /* handed out and not yet released: a nested user gets a fresh statement */
} sloop_cached_stmt;

#define SLOOP_STMT_CACHE 64

/* A queued update of the full-text index (fts.c): delete the row's entry first when
** `replace`, then index `text` (owned) when not NULL. */
typedef struct sloop_fts_entry {
  int64_t rowid;
  int replace;
  char *text;
} sloop_fts_entry;

/* An open savepoint (store.c): its name, and how long the FTS queue was when it opened. */
typedef struct sloop_savepoint {
  const char *name;
  size_t nfts;
} sloop_savepoint;

#define SLOOP_SAVEPOINTS 16

/* The node table's cache (nodes.c): index -> node, and a hash of node -> index + 1. */
typedef struct sloop_node_cache {
  uint64_t *nodes;
  size_t count, cap;
  uint32_t *slots;
  size_t nslots;
  int loaded;  /* 0: (re)read the table before the next use */
} sloop_node_cache;

struct sloop_db {
  sqlite3 *sql;
  sloop_cached_stmt stmts[SLOOP_STMT_CACHE];
  int nstmts;
  sloop_role role;
  sloop_env env;
  uint64_t rng_state;   /* xorshift state when env.random64 is NULL */
  sloop_schema schema;
  sloop_hlc clock;      /* persisted in meta 'hlc' with every write that ticks it */
  char device[17];      /* this replica's id: the node id in hex */
  int64_t op_seq;       /* last operation sequence number handed out (client) */
  int64_t elem_next;    /* the next text or list element counter this device may use, in any
                        ** field (meta 'elem_next'): a counter its failed operation used must
                        ** not be used again, or a retry of that operation names taken ids */
  char last_op[96];     /* id of the last local operation; see sloop_last_op() */
  cJSON *changes;       /* [{coll, id, state}] since the last sloop_take_changes() */
  int nchanges;         /* its length: cJSON counts arrays in O(n) */
  sloop_merge_cb merge_cb;
  void *merge_ctx;
  char errmsg[256];     /* detail of the last failure; see sloop_errmsg() */
  sloop_fts_entry *fts; /* index updates not yet applied (fts.c) */
  size_t nfts, capfts;
  int64_t fts_pending;   /* rows in fts_pending (fts.c), at most; -1 when unknown */
  int64_t fts_after;     /* the index's frontier (fts_behind.c): -1 none, SLOOP_FTS_AFTER_UNKNOWN */
  sloop_savepoint sp[SLOOP_SAVEPOINTS]; /* savepoints open through sloop_begin, innermost last */
  int nsp;
  int sp_commits;       /* the outermost one was opened outside a transaction: its release commits */
  int tx_doomed;        /* a write failed halfway and rolled the transaction back (savepoint.c) */
  int meta_pending;     /* op_seq and the clock moved since they were stored (sloop_meta_flush) */
  sloop_node_cache nodes; /* node ids interned for the binary merge state (nodes.c) */
};

/* Records `rc` with a printf-style detail on the handle and returns rc, so failure paths read
** `return sloop_fail(db, SLOOP_INVALID, "collection name '%s' ...", name);`. */
int sloop_fail(sloop_db *db, int rc, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Maps an SQLite result to SLOOP_STORAGE (or SLOOP_NOMEM, SLOOP_CORRUPT) and records
** sqlite3_errmsg() on the handle. */
int sloop_sql_fail(sloop_db *db, int sqlite_rc, const char *what);

/* Runs SQL with no results; returns a Sloop code. */
int sloop_exec(sloop_db *db, const char *sql);

/* sloop_exec for one statement the hot paths run again and again (SAVEPOINT, RELEASE, BEGIN,
** COMMIT): it is prepared once and kept in the statement cache, since parsing it each time was
** most of what such a statement cost (docs/DESIGN.md, "savepoints and transactions as cached
** statements"). Same return
** codes and messages as sloop_exec. */
int sloop_exec_cached(sloop_db *db, const char *sql);

/* Prepares `sql` (or hands out the cached statement for the same text); *stmt is NULL on
** failure. Every statement from here goes back through sloop_finalize(). */
int sloop_prepare(sloop_db *db, const char *sql, sqlite3_stmt **stmt);

/* Releases a statement from sloop_prepare: a cached one is reset for the next user, any other
** finalized. NULL is a no-op. */
void sloop_finalize(sloop_db *db, sqlite3_stmt *stmt);

/* Copies `len` bytes into a fresh NUL-terminated buffer (malloc); NULL on OOM. */
char *sloop_strndup(const char *s, size_t len);
/* An array of `size`-byte items with *cap slots, grown (doubling, from `first`) to hold `need`:
** the array, or NULL when out of memory (then `items` and *cap are unchanged). */
void *sloop_grow(void *items, size_t *cap, size_t need, size_t size, size_t first);

/* Whether the per-record sync state machine has the edge from -> to (identity included). */
int sloop_transition_allowed(int from, int to);

/* Wall-clock milliseconds and 64 random bits, from the injected environment if any. */
int64_t sloop_now_ms(sloop_db *db);
uint64_t sloop_random64(sloop_db *db);

/* ---- indexes.c ---- */

/* Makes the app's indexes on records match the schema: creates the missing ones, drops the
** ones this code made that it no longer lists or that have an older definition. */
int sloop_indexes_sync(sloop_db *db);

/* ---- store.c: rows of the records table and the meta table ---- */

typedef struct sloop_row {
  int exists;
  cJSON *state;      /* owned; {} when the row does not exist */
  cJSON *base;       /* owned; client's canonical state, NULL if none (exactly when version is 0) */
  int64_t version;   /* canonical server version */
  int sync;          /* client sync state */
  int64_t rowid;     /* the row's rowid when known, else 0 */
  char *doc;         /* owned; a client's stored document text, as loaded (NULL if none): a save
                     ** that leaves it unchanged leaves the full-text index alone */
} sloop_row;

/* A client stores `base` only while it differs from `state` or the operation log holds some of
** the record's operations; a row with version > 0 and no stored base has its state as the
** canonical state and nothing in the log. sloop_row_load gives back the base either way. */
int sloop_row_load(sloop_db *db, const char *coll, const char *id, sloop_row *row);
void sloop_row_clear(sloop_row *row);

/* What a row says without decoding its state: whether it exists, its version, sync state and
** rowid, and whether it stores no base (with version > 0: nothing in the log, see above). */
typedef struct sloop_row_head {
  int exists, base_null, sync;
  int64_t version, rowid;
} sloop_row_head;
int sloop_row_head_load(sloop_db *db, const char *coll, const char *id, sloop_row_head *head);

/* A record's operations in the log, counted by status (indexed by SLOOP_OP_PENDING ...), in
** one read of the record's part of the log: settling a record needs several of the counts. */
typedef struct sloop_op_counts {
  int by[SLOOP_OP_FAILED + 1];
} sloop_op_counts;
int sloop_op_counts_load(sloop_db *db, const char *coll, const char *rid, sloop_op_counts *n);

/* The status of a conflict the server closed; any other ("open", "resolving") is open. */
#define SLOOP_CONFLICT_RESOLVED "resolved"
/* Whether record (coll, rid) has local work that must not be lost when its row would go (an
** eviction, a resync's sweep, a record that left the scope): operations in the log, whatever
** their status, or a conflict not resolved. *work 0 or 1. */
int sloop_has_local_work(sloop_db *db, const char *coll, const char *rid, int *work);
/* Whether record (coll, rid) has a conflict not resolved (*open 0 or 1). */
int sloop_open_conflict(sloop_db *db, const char *coll, const char *rid, int *open);

/* The log position of this device's operation `id`: the core writes ids as "<device>:<n>" and
** stores the operation at seq n (format 3), so the log needs no index on id. 0 for any other
** text, which names no operation in the log. */
int64_t sloop_oplog_seq(const sloop_db *db, const char *id);
/* The same for the operations of device `device` (the migration reads it before the handle has it). */
int64_t sloop_op_id_seq(const char *device, const char *id);
/* Pending or syncing: still to be answered. */
static inline int sloop_ops_open(const sloop_op_counts *n) { return n->by[SLOOP_OP_PENDING] + n->by[SLOOP_OP_SYNCING]; }
static inline int sloop_ops_any(const sloop_op_counts *n) {
  return sloop_ops_open(n) + n->by[SLOOP_OP_SYNCED] + n->by[SLOOP_OP_FAILED];
}

/* Writes the row: state, its materialized doc, the FTS text, version, base and sync state.
** Queues a change notification when the doc or the sync state changes. */
int sloop_row_save(sloop_db *db, const char *coll, const char *id, const sloop_row *row);

/* A row already encoded (what sloop_row_save writes once it has materialized and encoded the
** state): the document's text and tree (NULL: a tombstone), whether the stored row already
** shows that text (its index entry then stays), the state blob encoded against that document
** and this database's nodes, the base blob or NULL. sloop_row_write stores it, updates its
** full-text index entry when needed and notes the change; it keeps nothing. */
typedef struct sloop_row_bytes {
  const char *doc_text;
  const cJSON *doc;
  int same_doc;
  const uint8_t *state;
  size_t state_len;
  const uint8_t *base;
  size_t base_len;
  int64_t version;
  int sync, exists;
  int64_t rowid; /* as sloop_row's */
} sloop_row_bytes;
int sloop_row_write(sloop_db *db, const char *coll, const char *id, const sloop_row_bytes *row);
/* sloop_row_write of a row not stored yet (a client's): *inserted 0, and nothing written, when
** a row has its (coll, id) already. */
int sloop_row_insert_new(sloop_db *db, const char *coll, const char *id, const sloop_row_bytes *row, int *inserted);

int sloop_row_delete(sloop_db *db, const char *coll, const char *id);

/* Queues {coll, id, state} for sloop_take_changes(). */
void sloop_note_change(sloop_db *db, const char *coll, const char *id, int sync);
/* Queues any entry (taken) on that list, which keeps its newest 10,000. */
void sloop_queue_change(sloop_db *db, cJSON *entry);

int sloop_meta_get_int(sloop_db *db, const char *key, int64_t *out);
int sloop_meta_set_int(sloop_db *db, const char *key, int64_t value);
int sloop_meta_get_text(sloop_db *db, const char *key, char **out);
int sloop_meta_set_text(sloop_db *db, const char *key, const char *value);
/* A JSON value kept in meta. Get: SLOOP_NOTFOUND when the key is absent; SLOOP_OK with *out
** the parsed value (caller frees with cJSON_Delete), or NULL when the text does not parse
** (what that means is the caller's: corrupt state, or nothing). Set: the value printed. */
int sloop_meta_get_json(sloop_db *db, const char *key, cJSON **out);
int sloop_meta_set_json(sloop_db *db, const char *key, const cJSON *value);
/* sloop_meta_set_int(key) and sloop_clock_save in one statement: a commit of one write (a
** local put's op_seq, a push of one operation's version) would otherwise run both. */
int sloop_meta_set_int_and_clock(sloop_db *db, const char *key, int64_t value);

/* Ticks the clock for a local event, persists it, and formats the timestamp into buf. */
int sloop_clock_tick(sloop_db *db, char buf[SLOOP_HLC_STRLEN]);
/* The same in two steps: tick in memory only, then persist the clock (meta 'hlc'). */
void sloop_clock_next(sloop_db *db, char buf[SLOOP_HLC_STRLEN]);
int sloop_clock_save(sloop_db *db);
/* Stores op_seq and the clock if a local write moved them since (meta_pending). A local write
** only marks them: storing both once per write was 8% of a batched put, and once per commit
** keeps the same promise, since nothing of a transaction is durable before its commit. So
** every commit the core makes calls this first (sloop_end, sloop_tx_end), and so does raw SQL
** before it runs (sloop_sql: it may be an app's COMMIT). */
int sloop_meta_flush(sloop_db *db);
/* Receives a remote timestamp string; SLOOP_DRIFT leaves the clock as it was. */
int sloop_clock_recv(sloop_db *db, const char *hlc);
/* The same for a parsed timestamp, in memory only: the caller persists (sloop_clock_save). */
int sloop_clock_merge(sloop_db *db, sloop_hlc remote);

/* The custom merge hook in the form merge.c calls, adapting the public string callback. */
int sloop_custom_merge(void *ctx, const char *coll, const char *field, const cJSON *current,
                       const cJSON *incoming, cJSON **out);

/* ---- savepoint.c ---- */

/* Savepoints: begin, then commit on success or roll back on failure. `name` must be a string
** literal (kept until the savepoint ends). A rollback drops the FTS updates queued inside it;
** the release of an outermost savepoint that commits applies the queue first. */
int sloop_begin(sloop_db *db, const char *name);
int sloop_end(sloop_db *db, const char *name, int rc);

/* The scope of one local write: its own savepoint outside a transaction, none inside one. */
typedef struct sloop_write_scope {
  const char *name;
  int own;    /* a savepoint of its own is open */
  int wrote;  /* set by the write before its first change to the database */
} sloop_write_scope;

/* Opens a write's scope; refuses while the transaction is doomed (sloop_write_end). */
int sloop_write_begin(sloop_db *db, const char *name, sloop_write_scope *scope);
/* Ends it with the write's outcome `rc`, returned. Without a savepoint of its own, a failure
** after scope->wrote rolls back the whole transaction and dooms it: further writes and the
** commit fail until sloop_tx_end. */
int sloop_write_end(sloop_db *db, sloop_write_scope *scope, int rc);

/* ---- nodes.c: node ids interned per database for the binary merge state ---- */

/* The interning of this database, for sloop_state_encode/decode. */
sloop_nodes sloop_db_nodes(sloop_db *db);
/* Marks the cache stale after a rollback that may have taken rows of the table with it. */
void sloop_nodes_stale(sloop_db *db);
void sloop_nodes_clear(sloop_db *db);
/* Registers the SQL functions sloop_visible(state blob) and sloop_state(state blob, doc text)
** (the state as JSON) on the connection. */
int sloop_nodes_register(sloop_db *db);

/* Decodes a stored state blob (store.c), its values taken from the record's document: `doc`
** if parsed already, else `doc_text` (NULL for none). SLOOP_CORRUPT with a message. */
int sloop_state_read(sloop_db *db, const void *blob, int len, const char *doc_text, const cJSON *doc,
                     cJSON **state);
/* Encodes a state for storage next to `doc` (NULL: a blob that stands alone). */
int sloop_state_write(sloop_db *db, const cJSON *state, const cJSON *doc, uint8_t **blob, size_t *len);

/* ---- migrate.c: upgrading an older format in place, inside the open savepoint ---- */
int sloop_migrate_1_to_2(sloop_db *db);
int sloop_migrate_2_to_3(sloop_db *db);

/* ---- fts.c: the full-text index, updated once per transaction or deferred ---- */

/* Queues an index update for the record at `rowid`: replace (delete its entry first) or not
** (a new row), then index `text` unless NULL or empty. Applied by sloop_fts_apply. */
int sloop_fts_queue(sloop_db *db, int64_t rowid, int replace, const char *text);
/* At a commit (all = 0): stores a small queue in fts_pending, or applies the pending updates
** and the queue to the index once enough have gathered. Before a search (all = 1): applies
** everything. Empties the queue; on failure the rest stays queued. */
int sloop_fts_apply(sloop_db *db, int all);
/* Gives the index its merge settings (FTS_AUTOMERGE, FTS_CRISISMERGE) unless it has them:
** at the creation of a client database and at the first open of an older one. */
int sloop_fts_tune(sloop_db *db);
/* Whether updates wait in fts_pending (a search must apply them first). */
int sloop_fts_has_pending(sloop_db *db, int *has);
/* Drops the queued updates after the first `keep`. */
void sloop_fts_discard(sloop_db *db, size_t keep);
/* Forgets the count of pending updates and the frontier (after a rollback or raw SQL): they
** are read again. */
void sloop_fts_stale(sloop_db *db);
/* The text full-text search indexes for a document: the schema's search fields, or every
** string in the document when the schema names none. Caller frees. */
char *sloop_fts_text(const sloop_coll_schema *cs, const cJSON *doc);
/* One update of the index, now: the row's old entry out (replace), then `text` in unless
** NULL or empty. */
int sloop_fts_index(sloop_db *db, int64_t rowid, int replace, const char *text, int text_len);

/* ---- fts_behind.c: the index's frontier, behind a large pull, and its catch-up ---- */

#define SLOOP_FTS_AFTER_UNKNOWN (-2)
/* The changes a pulled page holds from which their index entries wait for the catch-up. The
** simulation's fast build sets it low (Makefile, FAST_CFLAGS), so faults meet the frontier. */
#ifndef FTS_BEHIND_MIN
#define FTS_BEHIND_MIN 64
#endif
/* Whether the record at `rowid` lies above the frontier: it has no index entry, and gets one
** from the catch-up (so no update of the index is queued for it now). */
int sloop_fts_behind(sloop_db *db, int64_t rowid, int *behind);
/* Places the frontier at the highest rowid of a record or of a waiting index update, unless one
** is placed: the rows inserted from now on wait for the catch-up. In the caller's transaction. */
int sloop_fts_fall_behind(sloop_db *db);
/* Indexes up to `limit` records above the frontier (limit <= 0: all of them) and moves it up;
** *more is 1 if records are left behind it. Inside the caller's transaction. */
int sloop_fts_catch_up(sloop_db *db, int limit, int *more);


/* ---- docs.c: queries ---- */

/* Builds the SQL of sloop_query for a parsed query: *sql (malloc'd) and *binds, the values of
** its placeholders in order (a cJSON array the caller deletes). Exposed so a test can ask
** SQLite for the plan of exactly the statement a query runs. */
int sloop_query_sql(sloop_db *db, const char *coll, size_t coll_len, const cJSON *q, char **sql,
                    cJSON **binds);

/* ---- sync.c and resync.c: the client's side of snapshot pulls (docs/PROTOCOL.md) ---- */

/* Drops a record's canonical state: the row goes, unless it has pending or failed
** operations, which then apply to no canonical state (as for a record never pushed). */
int sloop_forget_canonical(sloop_db *db, const char *coll, const char *rid);

/* ---- scope_client.c: the client's pull scope ---- */

/* Adds the stored scope to a pull request (its recency windows cut off by this device's
** clock); nothing when none is stored. */
int sloop_scope_request(sloop_db *db, cJSON *req);
/* After a pull page is applied, inside its transaction: notes when the page's records leave
** their window, and on the last page (`last`) evicts what has left it. */
int sloop_scope_after_page(sloop_db *db, const cJSON *changes, int last);
/* A version-ordered pull answer with this many changes or more left may start a catch-up in
** the scope's priority order (sloop_scope_catch_up). */
#ifndef SLOOP_CATCH_UP_MIN
#define SLOOP_CATCH_UP_MIN 1000
#endif
/* After a pull page is applied and the cursor stored: when the answer says the replica is far
** behind and the scope has a priority, starts a filtered resync (*again: pull on), so the rest
** arrives in priority order. */
int sloop_scope_catch_up(sloop_db *db, const cJSON *answer, int *again);
/* Whether the stored scope gives collection `coll` a recency window: its field in field[size]. */
int sloop_scope_window_field(sloop_db *db, const char *coll, char *field, size_t size);

/* *idle: no snapshot or resync round is running (nor its catch-up), so the next pull request
** follows from an answer's cursor alone. */
int sloop_snapshot_idle(sloop_db *db, int *idle);

/* Adds the snapshot fields (snapshot, have, verify) a pull request needs, from the state of
** the snapshot in progress and the request's scope. */
int sloop_snapshot_request(sloop_db *db, cJSON *req);

/* Takes the snapshot fields of an applied pull answer, inside its transaction. `prev_cursor`
** is the cursor before the answer; *cursor (the answer's) may be changed, and *again says
** to pull again though the answer said hasMore false (a resync's full round). */
int sloop_snapshot_apply(sloop_db *db, const cJSON *answer, int64_t prev_cursor, int64_t *cursor, int *again);

#endif /* SLOOP_INTERNAL_H */
