/*
** sim.h -- a deterministic simulation of one server and up to WORLD_MAX_CLIENTS devices, all
** running the real core, over a network and on devices that misbehave.
**
** One seed decides everything: the number of devices, every local write (put, patch, delete,
** resolve, retry, discard on a small id space, touching a field of every policy), and every
** fault: requests and answers dropped, duplicated or delivered late (including a push the
** server applied whose answer never arrives, and a stale answer delivered after the client
** sent the batch again), token expiry (a push or pull refused before it reaches the core),
** device crashes after a local commit, in the middle of a push and in the middle of a pull
** (close and reopen the device's database file), server restarts, clock skew and wall-clock
** jumps, and devices wiped and synced again from nothing.
**
** Refusals, on about half the seeds (drawn from a stream of their own, so the other seeds run
** exactly as before): devices whose app schema has a collection ("lists") and a field
** ("colour") the server's lacks, users who may write nothing, permissions that change
** mid-run, and a proxy that refuses whole any push carrying a "huge" list (413), which the
** client must narrow down to that one operation.
**
** Text and list writes (sim_seq_step), from a stream of their own too: $edit splices of the
** text field "findings" at UTF-16 indexes over characters of one to four bytes, whole strings
** and null; inserts, removes and moves of the list field "steps", whole arrays and null; a put
** of a note with both.
**
** Then the faults heal, every device syncs until nothing moves, and the invariants are
** checked (see sim_check): every device shows the server's state; every operation a device
** committed is reflected on the server or visibly failed on its device (or went away with a
** wipe); replaying the operations the server applied, in version order, through the same
** merge code gives the server's state, so nothing was applied twice or lost on the server;
** every record's sync state agrees with its operations; and conflict records agree; (f)
** every operation left in a device's log is applied or failed with a code; and (g) every
** device's search index has an entry for exactly its records with searchable text; and (h)
** every device holds each live record's text and list as the server does, tombstones and ids
** included.
**
** What it leaves out: read permissions, scopes, compaction and resync (covered by test_sync.c and
** test_resync.c), and concurrency inside one process (handles are single-threaded by contract).
**
** A failure longjmps out of the run with a message, past the frees of the functions it
** leaves: everything the simulation allocates for a moment is registered with sim_own and
** released with sim_drop, so that sim_free releases what a failure left behind.
*/
#ifndef SLOOP_SIM_H
#define SLOOP_SIM_H

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "world.h"

/* Every fault the simulation injects, counted per seed. */
#define SIM_FAULTS(X)                                                                        \
  X(drop_request) X(drop_response) X(dup_request) X(dup_response) X(late_request)            \
  X(late_response) X(token_expired) X(crash_after_write) X(crash_mid_push) X(crash_mid_pull) \
  X(crash_idle) X(server_restart) X(clock_skew) X(clock_jump) X(wipe)                       \
  X(schema_mismatch) X(read_only) X(perm_change) X(push_refused)

enum {
#define SIM_ENUM_(name) SIM_##name,
  SIM_FAULTS(SIM_ENUM_)
#undef SIM_ENUM_
  SIM_NFAULTS
};

static const char *const kSimFaultNames[] = {
#define SIM_NAME_(name) #name,
    SIM_FAULTS(SIM_NAME_)
#undef SIM_NAME_
};

enum { SIM_LATE_PUSH_REQUEST, SIM_LATE_PUSH_ANSWER, SIM_LATE_PULL_ANSWER };

/* A message held back by the network, delivered later (or at healing time). */
typedef struct sim_msg {
  int kind, device, gen;
  char ctx[160];          /* the server context of the device that sent the request */
  char *body;
  size_t len;
} sim_msg;

/* One operation some device committed, as it was logged. */
typedef struct sim_entry {
  char id[96];
  int device, gen;
  cJSON *op;
  int discarded, retried; /* the user dropped it, or requeued it under a new id */
} sim_entry;

/* A temporary allocation, released by sim_drop or, after a failure, by sim_free. */
typedef struct sim_owned {
  void *p;
  int json; /* a cJSON tree; otherwise malloc'd memory (sloop_free is free) */
} sim_owned;

typedef struct sim {
  uint64_t seed;
  int verbose;
  world w;
  test_env rng;           /* the simulation's own choices, apart from the devices' */
  char dir[256];
  int gen[WORLD_MAX_CLIENTS]; /* bumped by a wipe: a new database file, a new device id */
  sim_msg *net;
  int nnet, capnet;
  sim_entry *ledger;
  int nledger, capledger;
  sloop_schema schema;
  int faults[SIM_NFAULTS];
  int steps, writes, folded, refused, checked_records, clamped_records, wiped_ops;
  sim_owned *owned;
  int nowned, capowned;
  jmp_buf fail_jmp;
  char failure[4096];
  /* Refusals (see the top): their own random stream, whether this seed has them, and per
  ** device an app schema wider than the server's and a user who may write nothing. */
  test_env refusal_rng;
  int refusals_on;
  int wide_schema[WORLD_MAX_CLIENTS], read_only[WORLD_MAX_CLIENTS];
  test_env seq_rng; /* text and list writes (sim_seq_step): a stream of their own too */
} sim;

static void sim_fail(sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void sim_fail(sim *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->failure, sizeof(s->failure), fmt, ap);
  va_end(ap);
  longjmp(s->fail_jmp, 1);
}

static void sim_release_owned(sim_owned *o) {
  if (o->json) cJSON_Delete(o->p);
  else free(o->p);
}

/* Registers a temporary allocation (NULL is fine); returns it. */
static void *sim_own_as(sim *s, void *p, int json) {
  if (!p) return NULL;
  if (s->nowned == s->capowned) {
    int cap = s->capowned ? s->capowned * 2 : 16;
    sim_owned *grown = realloc(s->owned, sizeof(*grown) * (size_t)cap);
    if (!grown) {
      sim_release_owned(&(sim_owned){p, json});
      sim_fail(s, "out of memory");
    }
    s->owned = grown;
    s->capowned = cap;
  }
  s->owned[s->nowned++] = (sim_owned){p, json};
  return p;
}
#define sim_own(s, p) sim_own_as((s), (p), 0)
#define sim_own_json(s, j) ((cJSON *)sim_own_as((s), (j), 1))

/* Releases a registered allocation (NULL is fine). */
static void sim_drop(sim *s, void *p) {
  if (!p) return;
  for (int k = s->nowned - 1; k >= 0; k--) {
    if (s->owned[k].p != p) continue;
    sim_release_owned(&s->owned[k]);
    s->owned[k] = s->owned[--s->nowned];
    return;
  }
}

/* Releases everything still registered: what a failure left behind. */
static void sim_drop_all(sim *s) {
  for (int k = 0; k < s->nowned; k++) sim_release_owned(&s->owned[k]);
  free(s->owned);
  s->owned = NULL;
  s->nowned = s->capowned = 0;
}

static void sim_log(sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sim_log(sim *s, const char *fmt, ...) {
  if (!s->verbose) return;
  va_list ap;
  va_start(ap, fmt);
  printf("[%4d] ", s->steps);
  vprintf(fmt, ap);
  putchar('\n');
  va_end(ap);
}

/* Counts an injected fault and says what happened to device i. */
static void sim_fault(sim *s, int fault, int i, const char *what) {
  s->faults[fault]++;
  sim_log(s, "device %d %s", i, what);
}

static int sim_pick(sim *s, int n) { return test_pick(&s->rng, n); }
static int sim_chance(sim *s, int percent) { return sim_pick(s, 100) < percent; }

#define SIM_OK(s, db, expr)                                                               \
  do {                                                                                    \
    int rc_ = (expr);                                                                     \
    if (rc_ != SLOOP_OK) sim_fail(s, "%s -> %s: %s", #expr, sloop_errstr(rc_), sloop_errmsg(db)); \
  } while (0)

/* The devices' schema: kWorldSchema and a text and a list field (findings, steps). */
static const char kSimSchema[] =
    "{\"collections\": {\"notes\": {\"fields\": {\"title\": \"lww\", \"body\": \"lww\","
    " \"tags\": \"set\", \"votes\": \"counter\", \"status\": \"manual\", \"createdBy\": \"fww\","
    " \"layout\": \"custom\", \"findings\": \"text\", \"steps\": \"list\"}, \"search\": [\"title\", \"body\"],"
    " \"indexes\": [\"status\"]}}, \"maxDriftMs\": 3600000}";

/* The server's schema: the devices', strict, so that a field it lacks is refused. */
static const char kSimServerSchema[] =
    "{\"collections\": {\"notes\": {\"strict\": true, \"fields\": {\"title\": \"lww\", \"body\": \"lww\","
    " \"tags\": \"set\", \"votes\": \"counter\", \"status\": \"manual\", \"createdBy\": \"fww\","
    " \"layout\": \"custom\", \"findings\": \"text\", \"steps\": \"list\"}, \"search\": [\"title\", \"body\"],"
    " \"indexes\": [\"status\"]}}, \"maxDriftMs\": 3600000}";

/* An app schema newer than the server's: a field and a collection the server does not know. */
static const char kSimWideSchema[] =
    "{\"collections\": {\"notes\": {\"fields\": {\"title\": \"lww\", \"body\": \"lww\","
    " \"tags\": \"set\", \"votes\": \"counter\", \"status\": \"manual\", \"createdBy\": \"fww\","
    " \"layout\": \"custom\", \"findings\": \"text\", \"steps\": \"list\", \"colour\": \"lww\"}, \"search\": [\"title\", \"body\"], \"indexes\": [\"status\"]},"
    " \"lists\": {\"fields\": {\"name\": \"lww\"}}}, \"maxDriftMs\": 3600000}";

/* The refusal code a proxy in front of the server answers a push carrying a huge list with. */
#define SIM_PROXY_CODE "toobig"

static int sim_refusal_chance(sim *s, int percent) {
  return s->refusals_on && test_pick(&s->refusal_rng, 100) < percent;
}

/* ---------------------------------------------------------------- devices ------------ */

/* A crash here is a close and a reopen, never a power cut, so the medium's durability does
** not matter: skipping fsync keeps the run fast without changing what survives. */
static void sim_fast_storage(sim *s, sloop_db *db) {
  if (sqlite3_exec(db->sql, "PRAGMA synchronous = OFF", NULL, NULL, NULL) != SQLITE_OK)
    sim_fail(s, "pragma: %s", sqlite3_errmsg(db->sql));
}

static void sim_client_path(sim *s, int i, char *buf, size_t len) {
  snprintf(buf, len, "%s/c%d-g%d.db", s->dir, i, s->gen[i]);
}

static void sim_open_client(sim *s, int i) {
  char path[320];
  sim_client_path(s, i, path, sizeof(path));
  int rc = world_attach_client(&s->w, i, path, s->wide_schema[i] ? kSimWideSchema : kSimSchema);
  if (rc) sim_fail(s, "open client %d: %s", i, sloop_errstr(rc));
  sim_fast_storage(s, s->w.clients[i]);
  sloop_set_merge(s->w.clients[i], world_merge, NULL);
}

static void sim_open_server(sim *s) {
  char path[320];
  snprintf(path, sizeof(path), "%s/server.db", s->dir);
  int rc = world_attach_server(&s->w, path, kSimServerSchema);
  if (rc) sim_fail(s, "open server: %s", sloop_errstr(rc));
  sim_fast_storage(s, s->w.server);
  sloop_set_merge(s->w.server, world_merge, NULL);
}

/* Between calls no transaction may stay open: a savepoint left unreleased would hold every
** later write uncommitted, and a crash would lose what was already acknowledged. */
static void sim_check_committed(sim *s, sloop_db *db, const char *who) {
  if (!sqlite3_get_autocommit(db->sql)) sim_fail(s, "%s has a transaction left open", who);
}

/* A crash: the process dies and restarts; only what SQLite committed survives. */
static void sim_crash(sim *s, int i, int fault) {
  s->faults[fault]++;
  sim_log(s, "device %d crashes (%s)", i, kSimFaultNames[fault]);
  sim_check_committed(s, s->w.clients[i], "a device");
  sloop_close(s->w.clients[i]);
  s->w.clients[i] = NULL;
  sim_open_client(s, i);
}

static void sim_restart_server(sim *s) {
  s->faults[SIM_server_restart]++;
  sim_log(s, "server restarts");
  sim_check_committed(s, s->w.server, "the server");
  sloop_close(s->w.server);
  s->w.server = NULL;
  sim_open_server(s);
}

/* The user erases the app's storage: a fresh database, a new device id, a full pull later.
** Operations not yet pushed are gone with it; the ledger accounts for them. */
static void sim_wipe(sim *s, int i) {
  char path[320], journal[340];
  s->faults[SIM_wipe]++;
  sim_log(s, "device %d is wiped", i);
  sloop_close(s->w.clients[i]);
  s->w.clients[i] = NULL;
  sim_client_path(s, i, path, sizeof(path));
  snprintf(journal, sizeof(journal), "%s-journal", path);
  unlink(path);
  unlink(journal);
  s->gen[i]++;
  sim_open_client(s, i);
}

/* ---------------------------------------------------------------- the network -------- */

static void sim_hold(sim *s, int kind, int i, const char *ctx, const char *body, size_t len) {
  if (s->nnet == s->capnet) {
    s->capnet = s->capnet ? s->capnet * 2 : 16;
    s->net = realloc(s->net, sizeof(*s->net) * (size_t)s->capnet);
    if (!s->net) sim_fail(s, "out of memory");
  }
  sim_msg *m = &s->net[s->nnet++];
  m->kind = kind;
  m->device = i;
  m->gen = s->gen[i];
  snprintf(m->ctx, sizeof(m->ctx), "%s", ctx);
  m->body = malloc(len + 1);
  if (!m->body) sim_fail(s, "out of memory");
  memcpy(m->body, body, len + 1);
  m->len = len;
}

/* The server context of device i: world_ctx, with an empty write grant for a read-only user. */
static void sim_ctx(sim *s, int i, char *buf, size_t len) {
  if (!s->read_only[i]) {
    world_ctx(&s->w, i, buf, len);
    return;
  }
  snprintf(buf, len, "{\"user\": \"u%d\", \"device\": \"%s\", \"perms\": {\"read\": \"*\", \"write\": []}}", i,
           sloop_device(s->w.clients[i]));
}

/* A proxy refuses, whole and every time, a push carrying a huge list: the client cannot tell
** which operation is at fault and must narrow the batch (sloop_push_refused). Such an
** operation never reaches the server. */
static int sim_proxy_refuses(sim *s, int i, const char *req) {
  if (!strstr(req, "\"huge\"")) return 0;
  int left = -1;
  s->faults[SIM_push_refused]++;
  SIM_OK(s, s->w.clients[i], sloop_push_refused(s->w.clients[i], SIM_PROXY_CODE, "request entity too large", &left));
  sim_log(s, "device %d push: refused whole by the proxy (413), %d left in flight", i, left);
  return 1;
}

static char *sim_server_push(sim *s, const char *req, size_t len, const char *ctx, size_t *out_len) {
  char *resp = NULL;
  int rc = sloop_server_push(s->w.server, req, len, ctx, strlen(ctx), &resp, out_len);
  if (rc) sim_fail(s, "server refused a push a client built: %s: %s", sloop_errstr(rc), sloop_errmsg(s->w.server));
  return sim_own(s, resp);
}

static char *sim_server_pull(sim *s, const char *req, size_t len, const char *ctx, size_t *out_len) {
  char *resp = NULL;
  int rc = sloop_server_pull(s->w.server, req, len, ctx, strlen(ctx), &resp, out_len);
  if (rc) sim_fail(s, "server refused a pull a client built: %s: %s", sloop_errstr(rc), sloop_errmsg(s->w.server));
  return sim_own(s, resp);
}

/* Delivers a push answer to device i. */
static void sim_push_end(sim *s, int i, const char *resp, size_t len) {
  SIM_OK(s, s->w.clients[i], sloop_push_end(s->w.clients[i], resp, len));
}

/* One push of device i through a network that may misbehave (faulty = 0: it behaves).
** Returns whether there was anything to push. */
static int sim_push(sim *s, int i, int faulty) {
  sloop_db *c = s->w.clients[i];
  char *req = NULL, *resp = NULL, *again = NULL, ctx[160];
  size_t rl = 0, sl = 0, al = 0;
  SIM_OK(s, c, sloop_push_begin(c, faulty ? 1 + sim_pick(s, 8) : 50, &req, &rl));
  if (!sim_own(s, req)) return 0;
  sim_ctx(s, i, ctx, sizeof(ctx));
  int r = faulty ? sim_pick(s, 100) : 99;
  if (sim_proxy_refuses(s, i, req)) {
    /* refused before the network could misbehave with it */
  } else if (r < 4) {
    sim_fault(s, SIM_token_expired, i, "push: token expired");
    SIM_OK(s, c, sloop_push_fail(c, "expired"));
  } else if (r < 10) {
    sim_fault(s, SIM_drop_request, i, "push: request lost");
    SIM_OK(s, c, sloop_push_fail(c, "network"));
  } else if (r < 16) {
    sim_fault(s, SIM_late_request, i, "push: request delayed, client times out");
    sim_hold(s, SIM_LATE_PUSH_REQUEST, i, ctx, req, rl);
    SIM_OK(s, c, sloop_push_fail(c, "timeout"));
  } else if (r < 23) {
    sim_fault(s, SIM_drop_response, i, "push: applied, answer lost");
    resp = sim_server_push(s, req, rl, ctx, &sl);
    SIM_OK(s, c, sloop_push_fail(c, "network"));
  } else if (r < 29) {
    sim_fault(s, SIM_late_response, i, "push: applied, answer delayed, client times out");
    resp = sim_server_push(s, req, rl, ctx, &sl);
    sim_hold(s, SIM_LATE_PUSH_ANSWER, i, ctx, resp, sl);
    SIM_OK(s, c, sloop_push_fail(c, "timeout"));
  } else if (r < 33) {
    sim_fault(s, SIM_dup_request, i, "push: request duplicated");
    resp = sim_server_push(s, req, rl, ctx, &sl);
    again = sim_server_push(s, req, rl, ctx, &al);
    int second = sim_chance(s, 50);
    sim_push_end(s, i, second ? again : resp, second ? al : sl);
  } else if (r < 37) {
    sim_fault(s, SIM_dup_response, i, "push: answer delivered twice");
    resp = sim_server_push(s, req, rl, ctx, &sl);
    sim_push_end(s, i, resp, sl);
    sim_push_end(s, i, resp, sl);
  } else if (r < 41) {
    int applied = sim_chance(s, 50);
    if (applied) resp = sim_server_push(s, req, rl, ctx, &sl);
    sim_log(s, "device %d push: %s, then the device crashes", i, applied ? "applied" : "not sent");
    sim_crash(s, i, SIM_crash_mid_push);
  } else {
    resp = sim_server_push(s, req, rl, ctx, &sl);
    sim_log(s, "device %d push: delivered", i);
    sim_push_end(s, i, resp, sl);
  }
  sim_drop(s, req);
  sim_drop(s, resp);
  sim_drop(s, again);
  return 1;
}

/* Applies a pull answer after reading the next request ahead from it: when one is offered
** (sloop_pull_request_next), it must be the request the device makes after applying, as the
** JS pull loop assumes when it uses the page it fetched meanwhile. */
static void sim_pull_apply(sim *s, sloop_db *c, const char *resp, size_t sl, int limit, int *more) {
  char *next = NULL, *after = NULL;
  size_t nl = 0, al = 0;
  SIM_OK(s, c, sloop_pull_request_next(c, resp, sl, limit, NULL, 0, &next, &nl));
  SIM_OK(s, c, sloop_pull_apply(c, resp, sl, more));
  /* As the runtime does after a sync: one slice of the search index's catch-up
  ** (fts_behind.c), so records written, pulled and deleted meet a frontier part-way up. */
  int behind = 0;
  if (!*more) SIM_OK(s, c, sloop_search_catch_up(c, 3, &behind));
  if (next) {
    SIM_OK(s, c, sloop_pull_request(c, limit, NULL, 0, &after, &al));
    if (!*more || nl != al || memcmp(next, after, al) != 0)
      sim_fail(s, "the request read ahead was\n  %s\nbut after applying the page it is\n  %s", next, after);
  }
  sloop_free(next);
  sloop_free(after);
}

/* One pull page of device i; returns hasMore. */
static int sim_pull(sim *s, int i, int faulty) {
  sloop_db *c = s->w.clients[i];
  char *req = NULL, *resp = NULL, ctx[160];
  size_t rl = 0, sl = 0;
  int more = 0;
  sim_ctx(s, i, ctx, sizeof(ctx));
  int limit = faulty ? 1 + sim_pick(s, 10) : 50;
  SIM_OK(s, c, sloop_pull_request(c, limit, NULL, 0, &req, &rl));
  sim_own(s, req);
  int r = faulty ? sim_pick(s, 100) : 99;
  if (r < 4) {
    sim_fault(s, SIM_token_expired, i, "pull: token expired");
  } else if (r < 9) {
    sim_fault(s, SIM_drop_request, i, "pull: request lost");
  } else if (r < 14) {
    sim_fault(s, SIM_drop_response, i, "pull: answer lost");
    resp = sim_server_pull(s, req, rl, ctx, &sl);
  } else if (r < 19) {
    sim_fault(s, SIM_late_response, i, "pull: answer delayed");
    resp = sim_server_pull(s, req, rl, ctx, &sl);
    sim_hold(s, SIM_LATE_PULL_ANSWER, i, ctx, resp, sl);
  } else if (r < 23) {
    sim_fault(s, SIM_dup_response, i, "pull: answer delivered twice");
    resp = sim_server_pull(s, req, rl, ctx, &sl);
    sim_pull_apply(s, c, resp, sl, limit, &more);
    sim_pull_apply(s, c, resp, sl, limit, &more);
  } else if (r < 27) {
    resp = sim_server_pull(s, req, rl, ctx, &sl);
    sim_log(s, "device %d pull: answered, the device crashes before applying it", i);
    sim_crash(s, i, SIM_crash_mid_pull);
  } else {
    resp = sim_server_pull(s, req, rl, ctx, &sl);
    sim_log(s, "device %d pull: delivered", i);
    sim_pull_apply(s, c, resp, sl, limit, &more);
  }
  sim_drop(s, req);
  sim_drop(s, resp);
  return more;
}

/* Delivers held message k. Messages for a wiped device's old database have nowhere to go;
** a late request still reaches the server, as it would. */
static void sim_deliver(sim *s, int k) {
  sim_msg m = s->net[k];
  s->net[k] = s->net[--s->nnet];
  sim_own(s, m.body);
  int alive = m.gen == s->gen[m.device];
  sloop_db *c = s->w.clients[m.device];
  if (m.kind == SIM_LATE_PUSH_REQUEST) {
    size_t sl = 0;
    char *resp = sim_server_push(s, m.body, m.len, m.ctx, &sl);
    int answer = alive && sim_chance(s, 50);
    sim_log(s, "late push request of device %d reaches the server%s", m.device, answer ? ", answer delivered" : "");
    if (answer) sim_push_end(s, m.device, resp, sl);
    sim_drop(s, resp);
  } else if (alive && m.kind == SIM_LATE_PUSH_ANSWER) {
    sim_log(s, "late push answer reaches device %d", m.device);
    sim_push_end(s, m.device, m.body, m.len);
  } else if (alive) {
    int more = 0;
    sim_log(s, "late pull answer reaches device %d", m.device);
    sim_pull_apply(s, c, m.body, m.len, 50, &more);
  }
  sim_drop(s, m.body);
}

/* ---------------------------------------------------------------- local writes ------- */

static const char *const kSimIds[] = {"n0", "n1", "n2", "n3", "n4", "n5"};
static const char *const kSimWords[] = {"pump", "valve", "leak", "gauge", "grid", "list"};
static const char *const kSimTags[] = {"a", "b", "c", "d"};
static const char *const kSimStatus[] = {"open", "done", "blocked"};
static const char *const kSimPeople[] = {"ann", "bob"};
static const char *const kSimLayouts[] = {"grid", "list", "cards", "veto"};

#define SIM_ANY(s, arr) (arr)[sim_pick(s, (int)(sizeof(arr) / sizeof((arr)[0])))]

static cJSON *sim_tag_array(sim *s) {
  cJSON *a = cJSON_CreateArray();
  for (int k = 0; k < 4; k++)
    if (sim_chance(s, 40)) cJSON_AddItemToArray(a, cJSON_CreateString(kSimTags[k]));
  return a;
}

/* A random document (put) or patch over every policy of kWorldSchema. */
static char *sim_random_write(sim *s, int is_put) {
  cJSON *d = cJSON_CreateObject();
  int p = is_put ? 50 : 25;
  char text[32];
  if (sim_chance(s, p)) {
    if (!is_put && sim_chance(s, 15)) cJSON_AddNullToObject(d, "title");
    else cJSON_AddStringToObject(d, "title", SIM_ANY(s, kSimWords));
  }
  if (sim_chance(s, p)) {
    snprintf(text, sizeof(text), "%s %d", SIM_ANY(s, kSimWords), sim_pick(s, 100));
    cJSON_AddStringToObject(d, "body", text);
  }
  if (sim_chance(s, p)) {
    if (is_put) cJSON_AddItemToObject(d, "tags", sim_tag_array(s));
    else {
      cJSON *t = cJSON_AddObjectToObject(d, "tags");
      if (sim_chance(s, 70)) cJSON_AddItemToObject(t, "$add", sim_tag_array(s));
      if (sim_chance(s, 50)) cJSON_AddItemToObject(t, "$remove", sim_tag_array(s));
    }
  }
  if (sim_chance(s, p)) {
    if (is_put) cJSON_AddNumberToObject(d, "votes", sim_pick(s, 20));
    else cJSON_AddNumberToObject(cJSON_AddObjectToObject(d, "votes"), "$inc", sim_pick(s, 9) - 3);
  }
  if (sim_chance(s, p)) cJSON_AddStringToObject(d, "status", SIM_ANY(s, kSimStatus));
  if (sim_chance(s, p / 3)) cJSON_AddStringToObject(d, "createdBy", SIM_ANY(s, kSimPeople));
  if (sim_chance(s, p)) cJSON_AddStringToObject(d, "layout", SIM_ANY(s, kSimLayouts));
  if (!is_put && !d->child) cJSON_AddNumberToObject(cJSON_AddObjectToObject(d, "votes"), "$inc", 1);
  char *text_out = cJSON_PrintUnformatted(d);
  cJSON_Delete(d);
  if (!text_out) sim_fail(s, "out of memory");
  return text_out;
}

/* Reads operation `id` from device i's log, as the protocol sends it. */
static cJSON *sim_load_op(sim *s, int i, const char *id) {
  sloop_db *c = s->w.clients[i];
  sqlite3_stmt *st = NULL;
  cJSON *op = NULL;
  if (sqlite3_prepare_v2(c->sql,
                         "SELECT json_object('id', id, 'type', type, 'coll', coll, 'rid', rid, 'hlc', hlc,"
                         " 'base', base, 'payload', json(payload)) FROM oplog WHERE id = ?1",
                         -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) op = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  if (!op) sim_fail(s, "device %d: operation %s is not in its log right after the write", i, id);
  return op;
}

static sim_entry *sim_find(sim *s, const char *id);

/* Logs the operation a write of device i appended, or extended: a write folded into the
** device's last never-sent operation (oplog_coalesce.c) keeps its id, and its entry takes the
** operation as it now is. */
static void sim_record(sim *s, int i, const char *id) {
  sim_entry *folded = sim_find(s, id);
  if (folded) {
    cJSON_Delete(folded->op);
    folded->op = NULL;
    folded->op = sim_load_op(s, i, id);
    s->writes++;
    s->folded++;
    return;
  }
  if (s->nledger == s->capledger) {
    s->capledger = s->capledger ? s->capledger * 2 : 64;
    s->ledger = realloc(s->ledger, sizeof(*s->ledger) * (size_t)s->capledger);
    if (!s->ledger) sim_fail(s, "out of memory");
  }
  sim_entry *e = &s->ledger[s->nledger];
  memset(e, 0, sizeof(*e));
  snprintf(e->id, sizeof(e->id), "%s", id);
  e->device = i;
  e->gen = s->gen[i];
  e->op = sim_load_op(s, i, id);
  s->nledger++;
  s->writes++;
}

static sim_entry *sim_find(sim *s, const char *id) {
  for (int k = 0; k < s->nledger; k++)
    if (strcmp(s->ledger[k].id, id) == 0) return &s->ledger[k];
  return NULL;
}

/* Refusals the merge rules make locally (documented in sloop.h) are fine; anything else is
** a failure of the run. */
static void sim_after_write(sim *s, int i, int rc, const char *what) {
  sloop_db *c = s->w.clients[i];
  if (rc == SLOOP_OK) {
    sim_log(s, "device %d %s -> %s", i, what, sloop_last_op(c));
    sim_record(s, i, sloop_last_op(c));
    if (sim_chance(s, 5)) sim_crash(s, i, SIM_crash_after_write);
  } else if (rc == SLOOP_NOTFOUND || rc == SLOOP_DELETED || rc == SLOOP_IMMUTABLE || rc == SLOOP_MERGE) {
    s->refused++;
    sim_log(s, "device %d %s refused locally: %s", i, what, sloop_errstr(rc));
  } else {
    sim_fail(s, "device %d %s: %s: %s", i, what, sloop_errstr(rc), sloop_errmsg(c));
  }
}

/* Picks element k of a JSON array text returned by the core, or NULL. Caller deletes. */
static cJSON *sim_pick_item(sim *s, char *text) {
  cJSON *arr = cJSON_Parse(text);
  sloop_free(text);
  int n = cJSON_GetArraySize(arr);
  cJSON *item = n ? cJSON_DetachItemFromArray(arr, sim_pick(s, n)) : NULL;
  cJSON_Delete(arr);
  return sim_own_json(s, item);
}

/* Resolves an open conflict with one of its two sides. */
static void sim_resolve(sim *s, int i) {
  sloop_db *c = s->w.clients[i];
  char *text = NULL;
  SIM_OK(s, c, sloop_conflicts(c, 1, &text, NULL));
  cJSON *conflict = sim_pick_item(s, text);
  if (!conflict) return;
  const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(conflict, "status"));
  if (status && strcmp(status, "open") == 0) {
    char *value = cJSON_PrintUnformatted(cJSON_GetObjectItem(conflict, sim_chance(s, 50) ? "server" : "incoming"));
    int64_t id = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(conflict, "id"));
    int rc = value ? sloop_resolve(c, id, value, strlen(value)) : SLOOP_NOMEM;
    free(value);
    sim_after_write(s, i, rc, "resolve");
  }
  sim_drop(s, conflict);
}

/* The user deals with a failed operation: requeues it under a new id, or drops it. */
static void sim_retry_or_discard(sim *s, int i) {
  sloop_db *c = s->w.clients[i];
  char *text = NULL;
  SIM_OK(s, c, sloop_ops(c, "failed", &text, NULL));
  cJSON *op = sim_pick_item(s, text);
  if (!op) return;
  const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(op, "id"));
  sim_entry *e = sim_find(s, id);
  if (!e) sim_fail(s, "device %d: failed operation %s was never committed", i, id);
  if (sim_chance(s, 50)) {
    SIM_OK(s, c, sloop_discard(c, id));
    sim_log(s, "device %d discards %s", i, id);
    e->discarded = 1;
  } else {
    SIM_OK(s, c, sloop_retry(c, id));
    char new_id[96];
    snprintf(new_id, sizeof(new_id), "%s:%lld", sloop_device(c), (long long)c->op_seq);
    sim_log(s, "device %d retries %s as %s", i, id, new_id);
    e->retried = 1;
    sim_record(s, i, new_id);
  }
  sim_drop(s, op);
}

static void sim_write(sim *s, int i) {
  sloop_db *c = s->w.clients[i];
  const char *rid = SIM_ANY(s, kSimIds);
  int r = sim_pick(s, 100);
  char what[64];
  if (r < 30) {
    char *doc = sim_own(s, sim_random_write(s, 1));
    snprintf(what, sizeof(what), "put %s", rid);
    sim_after_write(s, i, sloop_put(c, S("notes"), rid, strlen(rid), doc, strlen(doc)), what);
    sim_drop(s, doc);
  } else if (r < 80) {
    char *doc = sim_own(s, sim_random_write(s, 0));
    snprintf(what, sizeof(what), "patch %s", rid);
    sim_after_write(s, i, sloop_patch(c, S("notes"), rid, strlen(rid), doc, strlen(doc)), what);
    sim_drop(s, doc);
  } else if (r < 90) {
    snprintf(what, sizeof(what), "delete %s", rid);
    sim_after_write(s, i, sloop_delete(c, S("notes"), rid, strlen(rid)), what);
  } else if (r < 96) {
    sim_resolve(s, i);
  } else {
    sim_retry_or_discard(s, i);
  }
}

/* ---------------------------------------------------------------- text and list writes -- */

/* Edits of the text field (findings) and the list field (steps), drawn from a stream of their
** own like the refusals (the other writes' draws move only where what they read differs):
** $edit splices at UTF-16 indexes over characters of one to four bytes (the 4-byte ones are
** surrogate pairs there), whole strings, null; list inserts, removes, moves, whole arrays,
** null; typing (keystrokes written one by one); and a put of a new note with both when the
** device does not show it. Positions come from the document the device shows, so the core
** refuses none of them (a refusal other than the merge rules' fails the run, sim_after_write). */
static int sim_seq_pick(sim *s, int n) { return test_pick(&s->seq_rng, n); }
static int sim_seq_chance(sim *s, int percent) { return sim_seq_pick(s, 100) < percent; }
#define SIM_SEQ_ANY(s, arr) (arr)[sim_seq_pick(s, (int)(sizeof(arr) / sizeof((arr)[0])))]

/* é, ß, €, 日本, 🔧 and 🔩 (surrogate pairs in UTF-16), a newline. */
static const char *const kSimPieces[] = {"a", "b", "pump ", " ", "\n", "\xc3\xa9", "\xc3\x9f", "\xe2\x82\xac",
                                         "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x94\xa7", "x\xf0\x9f\x94\xa9y", "ok."};
static const char *const kSimSteps[] = {"drain", "open", "inspect", "close", "\xe2\x82\xac\x35", "\xf0\x9f\x94\xa7"};

/* A text as code points, the model the splices are computed on. */
typedef struct sim_text {
  uint32_t *cp;
  int n, cap;
} sim_text;

static void sim_text_reserve(sim *s, sim_text *t, int more) {
  if (t->n + more <= t->cap) return;
  int cap = (t->n + more) * 2 + 16;
  uint32_t *grown = realloc(t->cp, sizeof(*grown) * (size_t)cap);
  if (!grown) sim_fail(s, "out of memory");
  for (int k = 0; k < s->nowned; k++)
    if (s->owned[k].p == t->cp) s->owned[k].p = grown; /* the registration follows the block */
  if (!t->cp) sim_own(s, grown);
  t->cp = grown;
  t->cap = cap;
}

/* Appends the code points of valid UTF-8 (what the core shows, or kSimPieces). */
static void sim_text_append(sim *s, sim_text *t, const char *utf8) {
  const unsigned char *p = (const unsigned char *)utf8;
  sim_text_reserve(s, t, (int)strlen(utf8));
  while (*p) {
    int len = *p < 0x80 ? 1 : *p < 0xe0 ? 2 : *p < 0xf0 ? 3 : 4;
    uint32_t c = len == 1 ? *p : (uint32_t)(*p & (0x7f >> len));
    for (int k = 1; k < len; k++) c = (c << 6) | (p[k] & 0x3f);
    t->cp[t->n++] = c;
    p += len;
  }
}

/* UTF-16 units of the first k code points: what an $edit index counts. */
static int sim_text_units(const sim_text *t, int k) {
  int units = 0;
  for (int j = 0; j < k; j++) units += t->cp[j] >= 0x10000 ? 2 : 1;
  return units;
}

/* The model as UTF-8, registered (sim_drop it). */
static char *sim_text_string(sim *s, const sim_text *t) {
  char *out = sim_own(s, malloc((size_t)t->n * 4 + 1));
  if (!out) sim_fail(s, "out of memory");
  size_t at = 0;
  for (int k = 0; k < t->n; k++) {
    uint32_t c = t->cp[k];
    if (c < 0x80) out[at++] = (char)c;
    else if (c < 0x800) out[at++] = (char)(0xc0 | c >> 6), out[at++] = (char)(0x80 | (c & 0x3f));
    else if (c < 0x10000)
      out[at++] = (char)(0xe0 | c >> 12), out[at++] = (char)(0x80 | ((c >> 6) & 0x3f)), out[at++] = (char)(0x80 | (c & 0x3f));
    else
      out[at++] = (char)(0xf0 | c >> 18), out[at++] = (char)(0x80 | ((c >> 12) & 0x3f)),
      out[at++] = (char)(0x80 | ((c >> 6) & 0x3f)), out[at++] = (char)(0x80 | (c & 0x3f));
  }
  out[at] = 0;
  return out;
}

/* Replaces `del` code points at `at` of the model with `ins` (UTF-8). */
static void sim_text_replace(sim *s, sim_text *t, int at, int del, const char *ins) {
  sim_text tail = {0};
  for (int k = at + del; k < t->n; k++) {
    sim_text_reserve(s, &tail, 1);
    tail.cp[tail.n++] = t->cp[k];
  }
  t->n = at;
  sim_text_append(s, t, ins);
  sim_text_reserve(s, t, tail.n);
  if (tail.n) memcpy(t->cp + t->n, tail.cp, sizeof(uint32_t) * (size_t)tail.n);
  t->n += tail.n;
  sim_drop(s, tail.cp);
}

/* Appends [index, deleteCount, "text"] in UTF-16 units for code points [at, at+del) (text
** NULL: the two-element form). */
static void sim_add_splice(const sim_text *t, cJSON *edits, int at, int del, const char *ins) {
  cJSON *sp = cJSON_CreateArray();
  cJSON_AddItemToArray(edits, sp);
  cJSON_AddItemToArray(sp, cJSON_CreateNumber(sim_text_units(t, at)));
  cJSON_AddItemToArray(sp, cJSON_CreateNumber(sim_text_units(t, at + del) - sim_text_units(t, at)));
  if (ins) cJSON_AddItemToArray(sp, cJSON_CreateString(ins));
}

/* One random splice on the model, appended to `edits` (NULL: the model only). Long texts
** shrink. */
static void sim_text_splice(sim *s, sim_text *t, cJSON *edits) {
  int at = sim_seq_pick(s, t->n + 1), left = t->n - at;
  int del = t->n > 120 ? left : left ? sim_seq_pick(s, (left < 6 ? left : 6) + 1) : 0;
  char ins[64] = "";
  if (t->n <= 120 && (del == 0 || sim_seq_chance(s, 70))) {
    snprintf(ins, sizeof(ins), "%s", SIM_SEQ_ANY(s, kSimPieces));
    if (sim_seq_chance(s, 30)) snprintf(ins + strlen(ins), sizeof(ins) - strlen(ins), "%s", SIM_SEQ_ANY(s, kSimPieces));
  }
  if (edits) sim_add_splice(t, edits, at, del, ins[0] || sim_seq_chance(s, 50) ? ins : NULL);
  sim_text_replace(s, t, at, del, ins);
}

/* Typing at one caret: a few keystrokes (characters, backspaces), each its own write as an
** editor makes them, which fold into one operation while it is unsent (oplog_coalesce.c). */
static void sim_type(sim *s, int i, const char *rid, const cJSON *doc) {
  static const char *const kKeys[] = {"a", "b", " ", "\n", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x94\xa7"};
  const cJSON *cur = cJSON_GetObjectItem(doc, "findings");
  sim_text t = {0};
  sim_text_append(s, &t, cJSON_IsString(cur) ? cur->valuestring : "");
  int caret = sim_seq_pick(s, t.n + 1), rc = SLOOP_OK;
  for (int keys = 2 + sim_seq_pick(s, 6); keys > 0 && rc == SLOOP_OK; keys--) {
    cJSON *patch = sim_own_json(s, cJSON_CreateObject());
    cJSON *edits = cJSON_AddArrayToObject(cJSON_AddObjectToObject(patch, "findings"), "$edit");
    const char *key = caret > 0 && sim_seq_chance(s, 25) ? NULL : SIM_SEQ_ANY(s, kKeys);
    if (key) sim_add_splice(&t, edits, caret, 0, key), sim_text_replace(s, &t, caret, 0, key), caret++;
    else sim_add_splice(&t, edits, caret - 1, 1, ""), sim_text_replace(s, &t, caret - 1, 1, ""), caret--;
    char *json = sim_own(s, cJSON_PrintUnformatted(patch));
    if (!json) sim_fail(s, "out of memory");
    sim_log(s, "device %d types %s", i, json);
    rc = sloop_patch(s->w.clients[i], S("notes"), rid, strlen(rid), json, strlen(json));
    sim_after_write(s, i, rc, "type"); /* may crash the device: its handle is read again */
    sim_drop(s, json);
    sim_drop(s, patch);
  }
  sim_drop(s, t.cp);
}

/* The text field's part of a write: splices, a whole string, or null (`whole`: not splices). */
static void sim_text_field(sim *s, cJSON *patch, const cJSON *doc, int whole) {
  const cJSON *cur = cJSON_GetObjectItem(doc, "findings");
  sim_text t = {0};
  sim_text_append(s, &t, cJSON_IsString(cur) ? cur->valuestring : "");
  int r = sim_seq_pick(s, 100), splices = 1 + sim_seq_pick(s, 3);
  if (whole) r = 70 + r * 30 / 100;
  if (r < 70) {
    cJSON *edits = cJSON_AddArrayToObject(cJSON_AddObjectToObject(patch, "findings"), "$edit");
    for (int k = 0; k < splices; k++) sim_text_splice(s, &t, edits);
  } else if (r < 92) {
    for (int k = 0; k < splices; k++) sim_text_splice(s, &t, NULL);
    char *whole = sim_text_string(s, &t);
    cJSON_AddStringToObject(patch, "findings", whole);
    sim_drop(s, whole);
  } else {
    cJSON_AddNullToObject(patch, "findings");
  }
  sim_drop(s, t.cp);
}

static cJSON *sim_step_value(sim *s) {
  int r = sim_seq_pick(s, 10);
  if (r < 6) return cJSON_CreateString(SIM_SEQ_ANY(s, kSimSteps));
  if (r < 8) return cJSON_CreateNumber(sim_seq_pick(s, 5));
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "by", SIM_SEQ_ANY(s, kSimPeople));
  return o;
}

/* The list field's part of a write: an insert, a remove, a move, a whole array, or null
** (`whole`: one of the last two). */
static void sim_list_field(sim *s, cJSON *patch, const cJSON *doc, int whole) {
  const cJSON *cur = cJSON_GetObjectItem(doc, "steps");
  int n = cJSON_IsArray(cur) ? cJSON_GetArraySize(cur) : 0, r = sim_seq_pick(s, 100);
  if (whole) r = 80 + r / 5;
  else if (n == 0 && r >= 35 && r < 80) r = 0;
  if (r < 35 && n < 12) {
    cJSON *ins = cJSON_AddArrayToObject(cJSON_AddObjectToObject(patch, "steps"), "$insert");
    cJSON_AddItemToArray(ins, cJSON_CreateNumber(sim_seq_pick(s, n + 1)));
    for (int k = 1 + sim_seq_pick(s, 3); k > 0; k--) cJSON_AddItemToArray(ins, sim_step_value(s));
  } else if (r < 55) {
    int at = sim_seq_pick(s, n), count = sim_seq_pick(s, (n - at < 3 ? n - at : 3) + 1);
    cJSON *rm = cJSON_AddArrayToObject(cJSON_AddObjectToObject(patch, "steps"), "$remove");
    cJSON_AddItemToArray(rm, cJSON_CreateNumber(at));
    cJSON_AddItemToArray(rm, cJSON_CreateNumber(count));
  } else if (r < 80) {
    cJSON *mv = cJSON_AddArrayToObject(cJSON_AddObjectToObject(patch, "steps"), "$move");
    cJSON_AddItemToArray(mv, cJSON_CreateNumber(sim_seq_pick(s, n)));
    cJSON_AddItemToArray(mv, cJSON_CreateNumber(sim_seq_pick(s, n)));
  } else if (r < 95 && n < 60) {
    /* The array shown, with an item dropped, one added and two swapped (built by hand:
    ** cJSON 1.7.15 refuses to insert in the middle of an array). */
    cJSON *items[64], *arr = cJSON_AddArrayToObject(patch, "steps");
    for (int k = 0; k < n; k++) items[k] = cJSON_GetArrayItem(cur, k);
    if (n && sim_seq_chance(s, 50)) {
      int drop = sim_seq_pick(s, n--);
      memmove(items + drop, items + drop + 1, sizeof(*items) * (size_t)(n - drop));
    }
    int add = n < 12 && sim_seq_chance(s, 60) ? sim_seq_pick(s, n + 1) : -1;
    if (add >= 0) memmove(items + add + 1, items + add, sizeof(*items) * (size_t)(n++ - add)), items[add] = NULL;
    if (n > 1 && sim_seq_chance(s, 50)) {
      int a = sim_seq_pick(s, n), b = sim_seq_pick(s, n);
      cJSON *x = items[a];
      items[a] = items[b];
      items[b] = x;
    }
    for (int k = 0; k < n; k++) cJSON_AddItemToArray(arr, items[k] ? cJSON_Duplicate(items[k], 1) : sim_step_value(s));
  } else {
    cJSON_AddNullToObject(patch, "steps");
  }
}

/* One text or list write of device i, or none (most steps). */
static void sim_seq_step(sim *s, int i) {
  if (!sim_seq_chance(s, 25)) return;
  sloop_db *c = s->w.clients[i];
  const char *rid = SIM_SEQ_ANY(s, kSimIds);
  char *text = NULL, what[64];
  int rc = sloop_get(c, S("notes"), rid, strlen(rid), &text, NULL);
  if (rc != SLOOP_OK && rc != SLOOP_NOTFOUND) sim_fail(s, "device %d get %s: %s", i, rid, sloop_errstr(rc));
  cJSON *doc = sim_own_json(s, text ? cJSON_Parse(text) : cJSON_CreateObject());
  sloop_free(text);
  cJSON *patch = sim_own_json(s, cJSON_CreateObject());
  int put = rc == SLOOP_NOTFOUND || sim_seq_chance(s, 8), r = sim_seq_pick(s, 100);
  if (rc == SLOOP_NOTFOUND && sim_seq_chance(s, 40)) {
    sim_drop(s, patch);
    sim_drop(s, doc);
    return; /* a patch would be refused (the other writes try that) */
  }
  if (!put && r < 55 && sim_seq_chance(s, 40)) {
    sim_type(s, i, rid, doc);
    sim_drop(s, patch);
    sim_drop(s, doc);
    return;
  }
  if (put) cJSON_AddStringToObject(patch, "title", SIM_SEQ_ANY(s, kSimPieces));
  if (put || r < 55 || r >= 85) sim_text_field(s, patch, doc, put);
  if (put || r >= 55) sim_list_field(s, patch, doc, put);
  if (!put && sim_seq_chance(s, 15)) cJSON_AddStringToObject(patch, "title", SIM_SEQ_ANY(s, kSimWords));
  char *json = sim_own(s, cJSON_PrintUnformatted(patch));
  if (!json) sim_fail(s, "out of memory");
  sim_log(s, "device %d writes %s", i, json);
  snprintf(what, sizeof(what), "%s %s (text, list)", put ? "put" : "patch", rid);
  rc = put ? sloop_put(c, S("notes"), rid, strlen(rid), json, strlen(json))
           : sloop_patch(c, S("notes"), rid, strlen(rid), json, strlen(json));
  sim_after_write(s, i, rc, what);
  sim_drop(s, json);
  sim_drop(s, patch);
  sim_drop(s, doc);
}

/* ---------------------------------------------------------------- clocks ------------- */

static void sim_skew(sim *s, int i) {
  int64_t hour = 3600 * 1000;
  if (sim_chance(s, 50)) {
    s->faults[SIM_clock_skew]++;
    int64_t skew = (int64_t)sim_pick(s, (int)(8 * hour)) - 4 * hour;
    s->w.client_env[i].now = s->w.env.now + skew;
    sim_log(s, "device %d clock skewed by %lld ms", i, (long long)skew);
  } else {
    s->faults[SIM_clock_jump]++;
    int64_t jump = (int64_t)sim_pick(s, (int)(6 * hour)) - 3 * hour;
    s->w.client_env[i].now += jump;
    sim_log(s, "device %d wall clock jumps by %lld ms", i, (long long)jump);
  }
}

/* ---------------------------------------------------------------- healing ------------ */

/* With the network and devices behaving, every device pushes everything and pulls until the
** server has nothing more; stops after a round in which no device had anything to push,
** since then every device has pulled after the last change. */
static void sim_quiesce(sim *s) {
  for (int round = 0; round < 50; round++) {
    int pushed = 0;
    for (int i = 0; i < s->w.nclients; i++)
      for (int k = 0; k < 200 && sim_push(s, i, 0); k++) pushed = 1;
    for (int i = 0; i < s->w.nclients; i++) {
      int more = 1;
      for (int k = 0; more && k < 1000; k++) more = sim_pull(s, i, 0);
      if (more) sim_fail(s, "device %d still has more to pull after 1000 pages", i);
    }
    if (!pushed) return;
  }
  sim_fail(s, "no quiescence: devices still had operations to push after 50 rounds");
}

/* ---------------------------------------------------------------- invariants --------- */

/* One JSON value computed by SQL on a handle's own connection: the simulation reads tables
** the public API does not expose (the server's applied_ops, the client's oplog by record). */
static cJSON *sim_sql_json(sim *s, sloop_db *db, const char *sql, const char *bind) {
  sqlite3_stmt *st = NULL;
  cJSON *out = NULL;
  if (sqlite3_prepare_v2(db->sql, sql, -1, &st, NULL) != SQLITE_OK)
    sim_fail(s, "sql: %s: %s", sqlite3_errmsg(db->sql), sql);
  if (bind) sqlite3_bind_text(st, 1, bind, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
    out = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return sim_own_json(s, out);
}

static int sim_has_string(const cJSON *arr, const char *str) {
  const cJSON *e;
  cJSON_ArrayForEach(e, arr) if (cJSON_IsString(e) && strcmp(e->valuestring, str) == 0) return 1;
  return 0;
}

/* (d) Nothing left pending or in flight; a record with a failed operation shows "failed",
** every other record "synced". */
static void sim_check_states(sim *s, int i) {
  sloop_db *c = s->w.clients[i];
  cJSON *open = sim_sql_json(s, c, "SELECT json_group_array(id) FROM oplog WHERE status IN (0, 1)", NULL);
  if (cJSON_GetArraySize(open) > 0) {
    char *ids = sim_own(s, cJSON_PrintUnformatted(open));
    sim_fail(s, "(d) device %d: operations left pending after quiescence: %s", i, ids);
  }
  sim_drop(s, open);
  cJSON *rows = sim_sql_json(s, c,
                             "SELECT json_group_array(json_object('id', r.id, 'sync', r.sync, 'failed',"
                             " (SELECT count(*) FROM oplog o WHERE o.coll = r.coll AND o.rid = r.id AND o.status = 3)))"
                             " FROM records r",
                             NULL);
  const cJSON *row;
  cJSON_ArrayForEach(row, rows) {
    int sync = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(row, "sync"));
    int failed = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(row, "failed"));
    int want = failed ? SLOOP_STATE_FAILED : SLOOP_STATE_SYNCED;
    if (sync != want)
      sim_fail(s, "(d) device %d record %s is \"%s\" with %d failed operations, want \"%s\"", i,
               cJSON_GetStringValue(cJSON_GetObjectItem(row, "id")), sloop_state_name(sync), failed,
               sloop_state_name(want));
  }
  sim_drop(s, rows);
}

/* (b) Every committed operation is reflected on the server (applied or in conflict), or
** failed visibly on its device (or retried or discarded there by the user), or went away
** with a wipe before it was pushed. And the server holds nothing nobody committed. */
static void sim_check_ledger(sim *s, const cJSON *applied) {
  cJSON *failed[WORLD_MAX_CLIENTS] = {0}, *refused[WORLD_MAX_CLIENTS] = {0};
  for (int i = 0; i < s->w.nclients; i++) {
    failed[i] = sim_sql_json(s, s->w.clients[i], "SELECT json_group_array(id) FROM oplog WHERE status = 3", NULL);
    /* Failed by the proxy's refusal: they never reached the server. */
    refused[i] = sim_sql_json(s, s->w.clients[i],
                              "SELECT json_group_array(id) FROM oplog WHERE status = 3 AND last_error LIKE '" SIM_PROXY_CODE ": %'", NULL);
  }
  for (int k = 0; k < s->nledger; k++) {
    sim_entry *e = &s->ledger[k];
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(applied, e->id);
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(res, "status"));
    int current = e->gen == s->gen[e->device];
    int is_failed = current && sim_has_string(failed[e->device], e->id);
    int is_refused = current && sim_has_string(refused[e->device], e->id);
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(e->op, "type"));
    const char *rid = cJSON_GetStringValue(cJSON_GetObjectItem(e->op, "rid"));
    if (status && strcmp(status, "rejected") != 0) {
      if (is_failed) sim_fail(s, "(b) %s %s (%s) is %s on the server and failed on device %d", type, rid, e->id, status, e->device);
    } else if (status) {
      if (!e->discarded && !e->retried && current && !is_failed)
        sim_fail(s, "(b) %s %s (%s) was rejected by the server (%s) but is not failed on device %d", type, rid,
                 e->id, cJSON_GetStringValue(cJSON_GetObjectItem(res, "code")), e->device);
    } else if (current && !is_refused && !e->discarded && !e->retried) {
      /* (discarded or retried: only a failed operation can be, so the proxy refused it) */
      sim_fail(s, "(b) %s %s (%s) committed on device %d is neither on the server nor failed: silently lost",
               type, rid, e->id, e->device);
    } else if (!current) {
      s->wiped_ops++;
    }
  }
  for (int i = 0; i < s->w.nclients; i++) {
    const cJSON *id;
    cJSON_ArrayForEach(id, failed[i]) {
      const cJSON *res = cJSON_GetObjectItemCaseSensitive(applied, id->valuestring);
      const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(res, "status"));
      if ((!status && !sim_has_string(refused[i], id->valuestring)) || (status && strcmp(status, "rejected") != 0))
        sim_fail(s, "(b) device %d shows %s as failed, the server says %s", i, id->valuestring, status ? status : "nothing");
    }
    sim_drop(s, failed[i]);
    sim_drop(s, refused[i]);
  }
  const cJSON *r;
  cJSON_ArrayForEach(r, applied) {
    if (!sim_find(s, r->string)) sim_fail(s, "(b) the server applied %s, which no device committed", r->string);
  }
}

typedef struct sim_applied {
  int64_t version;
  sim_entry *e;
  int clamped, conflict;
} sim_applied;

static int sim_by_version(const void *a, const void *b) {
  int64_t x = ((const sim_applied *)a)->version, y = ((const sim_applied *)b)->version;
  return x < y ? -1 : x > y;
}

/* Applies one ledger operation to `state` as the server did, at `version`. */
static void sim_replay_one(sim *s, cJSON *state, const sim_applied *a) {
  sloop_op op;
  char msg[200];
  if (sloop_op_parse(&s->schema, a->e->op, &op, msg)) sim_fail(s, "(c) %s does not parse: %s", a->e->id, msg);
  cJSON *patch = NULL;
  if (op.type == SLOOP_OP_RESOLVE) {
    /* What the server does with a resolve: a write of the value made against the newest state. */
    const char *field = cJSON_GetStringValue(cJSON_GetObjectItem(op.payload, "field"));
    patch = cJSON_CreateObject();
    cJSON_AddItemToObject(cJSON_AddObjectToObject(patch, field ? field : "status"), "set",
                          cJSON_Duplicate(cJSON_GetObjectItem(op.payload, "value"), 1));
    op.type = SLOOP_OP_PATCH;
    op.payload = patch;
    op.base = INT64_MAX / 2;
  }
  sloop_apply_ctx ctx = {a->version, sloop_custom_merge, s->w.server, 0};
  sloop_apply_result res;
  int rc = sloop_apply(sloop_schema_coll(&s->schema, op.coll), state, &op, &ctx, &res);
  cJSON_Delete(res.conflicts);
  cJSON_Delete(patch);
  if (rc) sim_fail(s, "(c) replaying %s: %s", a->e->id, sloop_errstr(rc));
  if (res.outcome == SLOOP_REJECTED)
    sim_fail(s, "(c) the server applied %s at version %lld, replaying it rejects it (%s)", a->e->id,
             (long long)a->version, res.message);
  if ((res.outcome == SLOOP_CONFLICTED) != a->conflict)
    sim_fail(s, "(c) %s: the server answered %s, replaying it gives %s", a->e->id, a->conflict ? "conflict" : "applied",
             res.outcome == SLOOP_CONFLICTED ? "conflict" : "applied");
}

/* (c) Replays, record by record, the operations the server applied in the order of the
** versions it gave them. The result must be the server's state: an operation applied twice
** or lost on the way would show. Records where the server re-stamped a clock-skewed
** operation ("clamped") cannot be replayed from the original timestamps; for every record
** never deleted, the counter must equal the sum of the applied increments. */
static void sim_check_replay(sim *s, const cJSON *applied) {
  sim_applied *list = sim_own(s, calloc((size_t)s->nledger + 1, sizeof(*list)));
  if (!list) sim_fail(s, "out of memory");
  int n = 0;
  for (int k = 0; k < s->nledger; k++) {
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(applied, s->ledger[k].id);
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItem(res, "status"));
    if (!status || strcmp(status, "rejected") == 0) continue;
    list[n].version = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(res, "version"));
    list[n].e = &s->ledger[k];
    list[n].clamped = cJSON_IsTrue(cJSON_GetObjectItem(res, "clamped"));
    list[n].conflict = strcmp(status, "conflict") == 0;
    n++;
  }
  qsort(list, (size_t)n, sizeof(*list), sim_by_version);
  for (int k = 1; k < n; k++)
    if (list[k].version == list[k - 1].version)
      sim_fail(s, "(c) %s and %s were both applied at version %lld", list[k - 1].e->id, list[k].e->id, (long long)list[k].version);
  for (size_t r = 0; r < sizeof(kSimIds) / sizeof(kSimIds[0]); r++) {
    const char *rid = kSimIds[r];
    cJSON *state = sim_own_json(s, cJSON_CreateObject());
    int clamped = 0, deleted = 0, nops = 0;
    double increments = 0;
    for (int k = 0; k < n; k++) {
      const cJSON *op = list[k].e->op;
      if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(op, "rid")), rid) != 0) continue;
      /* From a re-stamped operation on, the original timestamps no longer decide the order. */
      clamped |= list[k].clamped;
      if (!clamped) sim_replay_one(s, state, &list[k]);
      nops++;
      deleted |= strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(op, "type")), "delete") == 0;
      const cJSON *inc = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(op, "payload"), "votes"), "inc");
      if (cJSON_IsNumber(inc)) increments += inc->valuedouble;
    }
    cJSON *server = sim_sql_json(s, s->w.server, "SELECT sloop_state(state, doc) FROM records WHERE coll = 'notes' AND id = ?1", rid);
    if (!server) server = sim_own_json(s, cJSON_CreateObject());
    if (!clamped && !cJSON_Compare(state, server, 1)) {
      char *a = sim_own(s, cJSON_PrintUnformatted(state)), *b = sim_own(s, cJSON_PrintUnformatted(server));
      sim_fail(s, "(c) record %s: replaying the %d operations the server applied gives %s, the server has %s", rid, nops, a, b);
    }
    if (clamped) s->clamped_records++;
    else s->checked_records++;
    const cJSON *votes = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(server, "f"), "votes"), "n");
    double counter = cJSON_IsNumber(votes) ? votes->valuedouble : 0;
    if (!deleted && counter != increments)
      sim_fail(s, "(c) record %s: counter is %g, the applied increments sum to %g", rid, counter, increments);
    sim_drop(s, state);
    sim_drop(s, server);
  }
  sim_drop(s, list);
}

static cJSON *sim_dump(sim *s, sloop_db *db) {
  char *out = NULL;
  SIM_OK(s, db, sloop_query(db, S("notes"), S("{}"), &out, NULL));
  cJSON *arr = cJSON_Parse(out);
  sloop_free(out);
  return sim_own_json(s, arr);
}

static const cJSON *sim_find_doc(const cJSON *dump, const char *id) {
  const cJSON *e;
  cJSON_ArrayForEach(e, dump) {
    if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "id")), id) == 0) return cJSON_GetObjectItem(e, "doc");
  }
  return NULL;
}

/* A record row in full, for failure messages. */
static const char kSimRowSql[] =
    "SELECT json_object('version', version, 'sync', sync, 'base', json(sloop_state(base, NULL)),"
    " 'state', json(sloop_state(state, doc)))"
    " FROM records WHERE coll = 'notes' AND id = ?1";

/* (a) Every device shows exactly the server's documents. */
static void sim_check_views(sim *s, int i, const cJSON *server) {
  cJSON *mine = sim_dump(s, s->w.clients[i]);
  const cJSON *e;
  cJSON_ArrayForEach(e, server) {
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(e, "id"));
    const cJSON *doc = sim_find_doc(mine, id);
    if (!doc || !cJSON_Compare(doc, cJSON_GetObjectItem(e, "doc"), 1)) {
      char *a = doc ? sim_own(s, cJSON_PrintUnformatted(doc)) : NULL;
      char *b = sim_own(s, cJSON_PrintUnformatted(cJSON_GetObjectItem(e, "doc")));
      sim_fail(s, "(a) device %d record %s shows %s, the server has %s", i, id, a ? a : "nothing", b);
    }
  }
  cJSON_ArrayForEach(e, mine) {
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(e, "id"));
    if (!sim_find_doc(server, id)) {
      cJSON *row = sim_sql_json(s, s->w.clients[i], kSimRowSql, id);
      cJSON *canon = sim_sql_json(s, s->w.server, kSimRowSql, id);
      char *a = sim_own(s, cJSON_PrintUnformatted(row)), *b = sim_own(s, cJSON_PrintUnformatted(canon));
      sim_fail(s, "(a) device %d shows record %s, which the server does not have: device row %s, server row %s", i, id, a, b);
    }
  }
  sim_drop(s, mine);
}

/* (h) Every device holds each live record's text and list as the server does: the same
** sequence, tombstones and ids included, and the same moves, not only the same text shown, so
** that an edit made next on any device names the places the others know. */
static const char kSimSeqSql[] =
    "SELECT json_group_object(id, json_object('findings', json_extract(sloop_state(state, doc), '$.f.findings'),"
    " 'steps', json_extract(sloop_state(state, doc), '$.f.steps'))) FROM records WHERE coll = 'notes' AND doc IS NOT NULL";

static void sim_check_sequences(sim *s, int i, const cJSON *server) {
  cJSON *mine = sim_sql_json(s, s->w.clients[i], kSimSeqSql, NULL);
  const cJSON *rec;
  cJSON_ArrayForEach(rec, server) {
    const cJSON *got = cJSON_GetObjectItemCaseSensitive(mine, rec->string);
    if (!got || !cJSON_Compare(got, rec, 1)) {
      char *a = got ? sim_own(s, cJSON_PrintUnformatted(got)) : NULL, *b = sim_own(s, cJSON_PrintUnformatted(rec));
      sim_fail(s, "(h) device %d record %s holds the sequences %s, the server %s", i, rec->string, a ? a : "nothing", b);
    }
  }
  sim_drop(s, mine);
}

/* (e) Every device knows every conflict, in the state the server has it: open or resolved.
** "resolving" (a resolution of this device not answered yet) cannot last past healing: the
** answer, or a pull, closes the conflict, and a refusal reopens it. */
static void sim_check_conflicts(sim *s, int i, const cJSON *server) {
  static const char kSql[] = "SELECT json_group_object(id, status) FROM conflicts";
  cJSON *mine = sim_sql_json(s, s->w.clients[i], kSql, NULL);
  if (cJSON_GetArraySize(mine) != cJSON_GetArraySize(server))
    sim_fail(s, "(e) device %d knows %d conflicts, the server %d", i, cJSON_GetArraySize(mine), cJSON_GetArraySize(server));
  const cJSON *c;
  cJSON_ArrayForEach(c, server) {
    const char *want = c->valuestring;
    const char *got = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(mine, c->string));
    if (!got || strcmp(got, want) != 0)
      sim_fail(s, "(e) device %d: conflict %s is %s there, %s on the server", i, c->string, got ? got : "missing", want);
  }
  sim_drop(s, mine);
}

/* (f) After healing, no operation is pending or in flight (see (d)), and each one left in a
** device's log was applied (acknowledged, waiting for compaction) or failed with a code: its
** last error starts with one of the protocol's error codes, so the app can tell the user why. */
static void sim_check_failed_codes(sim *s, int i) {
  cJSON *ops = sim_sql_json(s, s->w.clients[i],
                            "SELECT json_group_array(json_object('id', id, 'status', status, 'error', last_error))"
                            " FROM oplog WHERE status != 2",
                            NULL);
  const cJSON *op;
  cJSON_ArrayForEach(op, ops) {
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(op, "id"));
    const char *error = cJSON_GetStringValue(cJSON_GetObjectItem(op, "error"));
    int status = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(op, "status"));
    int coded = 0;
    for (int rc = 1; error && rc < 64 && !coded; rc++) {
      const char *code = sloop_errcode(rc);
      size_t n = strlen(code);
      coded = strcmp(code, "unknown") != 0 && strncmp(error, code, n) == 0 && error[n] == ':';
    }
    if (status != SLOOP_OP_FAILED || !coded)
      sim_fail(s, "(f) device %d: operation %s is left with status %d and error %s, want applied or failed with a code",
               i, id, status, error ? error : "none");
  }
  sim_drop(s, ops);
}

/* Refusals, once per seed: whether this seed has them, and which devices run an app schema
** wider than the server's or belong to a user who may write nothing. */
static void sim_refusal_setup(sim *s) {
  s->refusal_rng.rng = s->seed * 0xbf58476d1ce4e5b9ull + 7;
  s->refusals_on = test_pick(&s->refusal_rng, 2) == 0;
  for (int i = 0; s->refusals_on && i < s->w.nclients; i++) {
    s->wide_schema[i] = sim_refusal_chance(s, 40);
    s->read_only[i] = sim_refusal_chance(s, 15);
    if (s->read_only[i]) sim_fault(s, SIM_read_only, i, "is a user who may write nothing");
  }
}

/* One refusal step: a user's write grant changes, or a device with the wider schema writes
** what the server's schema lacks (a list, a "huge" list the proxy refuses, a note's colour). */
static void sim_refusal_step(sim *s, int i) {
  if (sim_refusal_chance(s, 3)) {
    int j = test_pick(&s->refusal_rng, s->w.nclients);
    s->read_only[j] = !s->read_only[j];
    sim_fault(s, SIM_perm_change, j, s->read_only[j] ? "loses its write grant" : "gets its write grant back");
  }
  if (!s->wide_schema[i] || !sim_refusal_chance(s, 8)) return;
  sloop_db *c = s->w.clients[i];
  static const char *const kLists[] = {"l0", "l1", "l2"};
  const char *lid = kLists[test_pick(&s->refusal_rng, 3)];
  int kind = test_pick(&s->refusal_rng, 3);
  s->faults[SIM_schema_mismatch]++;
  if (kind < 2) {
    const char *doc = kind == 0 ? "{\"name\": \"groceries\"}" : "{\"name\": \"huge\"}";
    sim_after_write(s, i, sloop_put(c, S("lists"), lid, strlen(lid), doc, strlen(doc)), kind == 0 ? "put list" : "put huge list");
  } else {
    const char *rid = kSimIds[test_pick(&s->refusal_rng, (int)(sizeof(kSimIds) / sizeof(kSimIds[0])))];
    sim_after_write(s, i, sloop_put(c, S("notes"), rid, strlen(rid), S("{\"title\": \"pump\", \"colour\": \"red\"}")),
                    "put with colour");
  }
}

/* (g) Every device's search index holds an entry for exactly the records whose searchable
** fields (title, body) hold text, once a search has caught it up (fts.c, fts_behind.c). */
static void sim_check_index(sim *s, int i) {
  sloop_db *c = s->w.clients[i];
  char *hits = NULL;
  SIM_OK(s, c, sloop_search(c, S("notes"), S("pump"), 1, &hits, NULL));
  sloop_free(hits);
  cJSON *pair = sim_sql_json(s, c,
                             "SELECT json_array((SELECT json_group_array(rowid) FROM (SELECT rowid FROM records_fts ORDER BY rowid)),"
                             " (SELECT json_group_array(r) FROM (SELECT r FROM records WHERE doc IS NOT NULL AND"
                             "  ((json_type(doc, '$.title') = 'text' AND json_extract(doc, '$.title') <> '') OR"
                             "   (json_type(doc, '$.body') = 'text' AND json_extract(doc, '$.body') <> '')) ORDER BY r)))",
                             NULL);
  char *a = sim_own(s, cJSON_PrintUnformatted(cJSON_GetArrayItem(pair, 0)));
  char *b = sim_own(s, cJSON_PrintUnformatted(cJSON_GetArrayItem(pair, 1)));
  if (strcmp(a, b) != 0) {
    cJSON *dbg = sim_sql_json(s, c, "SELECT json_array((SELECT v FROM meta WHERE k = 'fts_after'), (SELECT json_group_array(json_array(rid, indexed, text)) FROM fts_pending), (SELECT json_group_array(json_array(r, id, doc)) FROM records))", NULL);
    char *d = sim_own(s, cJSON_PrintUnformatted(dbg));
    sim_fail(s, "(g) device %d's search index has entries %s, its records with text are %s; %s", i, a, b, d);
  }
}

static void sim_check(sim *s) {
  for (int i = 0; i < s->w.nclients; i++) sim_check_states(s, i);
  for (int i = 0; i < s->w.nclients; i++) sim_check_failed_codes(s, i);
  cJSON *applied = sim_sql_json(s, s->w.server, "SELECT json_group_object(id, json(result)) FROM applied_ops", NULL);
  sim_check_ledger(s, applied);
  sim_check_replay(s, applied);
  sim_drop(s, applied);
  cJSON *docs = sim_dump(s, s->w.server);
  cJSON *conflicts = sim_sql_json(s, s->w.server, "SELECT json_group_object(id, status) FROM conflicts", NULL);
  cJSON *sequences = sim_sql_json(s, s->w.server, kSimSeqSql, NULL);
  for (int i = 0; i < s->w.nclients; i++) {
    sim_check_views(s, i, docs);
    sim_check_sequences(s, i, sequences);
    sim_check_conflicts(s, i, conflicts);
    sim_check_index(s, i);
  }
  sim_drop(s, docs);
  sim_drop(s, conflicts);
  sim_drop(s, sequences);
}


/* ---------------------------------------------------------------- a run -------------- */

static void sim_make_dir(sim *s) {
  const char *base = getenv("SIM_TMPDIR");
  struct stat sb;
  /* tmpfs when there is one, for speed (see sim_fast_storage). */
  if (!base) base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp";
  snprintf(s->dir, sizeof(s->dir), "%s/sloop-sim-XXXXXX", base);
  if (!mkdtemp(s->dir)) {
    s->dir[0] = 0;
    sim_fail(s, "cannot create a temporary directory under %s", base);
  }
}

static void sim_free(sim *s) {
  for (int i = 0; i < s->w.nclients; i++) sloop_close(s->w.clients[i]);
  sloop_close(s->w.server);
  for (int k = 0; k < s->nnet; k++) free(s->net[k].body);
  free(s->net);
  for (int k = 0; k < s->nledger; k++) cJSON_Delete(s->ledger[k].op);
  free(s->ledger);
  sloop_schema_clear(&s->schema);
  sim_drop_all(s);
  if (s->dir[0] && getenv("SIM_KEEP")) {
    printf("databases kept in %s\n", s->dir); /* for a post-mortem with the sqlite3 shell */
  } else if (s->dir[0]) {
    DIR *d = opendir(s->dir);
    struct dirent *ent;
    char path[600];
    while (d && (ent = readdir(d)) != NULL) {
      if (ent->d_name[0] == '.') continue;
      snprintf(path, sizeof(path), "%s/%s", s->dir, ent->d_name);
      unlink(path);
    }
    if (d) closedir(d);
    rmdir(s->dir);
  }
}

/* One step of the faulty phase. */
static void sim_step(sim *s) {
  int n = s->w.nclients, i = sim_pick(s, n), r = sim_pick(s, 1000);
  world_tick(&s->w, sim_pick(s, 3000));
  if (r < 400) sim_write(s, i);
  else if (r < 600) sim_push(s, i, 1);
  else if (r < 800) {
    for (int more = 1, k = 0; more && k < 3; k++) more = sim_pull(s, i, 1);
  } else if (r < 870) {
    if (s->nnet) sim_deliver(s, sim_pick(s, s->nnet));
  } else if (r < 900) sim_crash(s, i, SIM_crash_idle);
  else if (r < 910) sim_restart_server(s);
  else if (r < 940) sim_skew(s, i);
  else if (r < 946) {
    sim_wipe(s, i);
    for (int more = 1, k = 0; more && k < 100; k++) more = sim_pull(s, i, 0);
  }
  if (s->refusals_on) sim_refusal_step(s, i);
  sim_seq_step(s, i);
}

/* Runs seed `seed` to the end; returns 0, or -1 with the reason in s->failure. The caller
** zeroes *s and sets seed and verbose, and calls sim_free afterwards. */
static int sim_run(sim *s) {
  if (setjmp(s->fail_jmp)) return -1;
  s->rng.rng = s->seed * 0x9e3779b97f4a7c15ull + 1;
  s->seq_rng.rng = s->seed * 0x94d049bb133111ebull + 13;
  char msg[200];
  if (sloop_schema_parse(kSimSchema, strlen(kSimSchema), &s->schema, msg)) sim_fail(s, "schema: %s", msg);
  sim_make_dir(s);
  s->w.env.now = 1700000000000LL;
  s->w.env.rng = s->seed;
  s->w.nclients = 2 + sim_pick(s, WORLD_MAX_CLIENTS - 1);
  sim_refusal_setup(s);
  sim_open_server(s);
  for (int i = 0; i < s->w.nclients; i++) {
    s->w.client_env[i].now = s->w.env.now;
    s->w.client_env[i].rng = s->seed * 1000 + (uint64_t)i + 1;
    sim_open_client(s, i);
  }
  int nsteps = 150 + sim_pick(s, 250);
  sim_log(s, "seed %llu: %d devices, %d steps", (unsigned long long)s->seed, s->w.nclients, nsteps);
  for (s->steps = 0; s->steps < nsteps; s->steps++) sim_step(s);
  sim_log(s, "healing: %d held messages", s->nnet);
  while (s->nnet) sim_deliver(s, sim_pick(s, s->nnet));
  sim_quiesce(s);
  sim_check(s);
  return 0;
}

/* One line: what the run did and which faults it injected. */
static void sim_report(const sim *s, FILE *f) {
  fprintf(f, "seed %llu: %d devices, %d steps, %d ops (%d refused locally, %d folded into the one before), %d records replayed (%d skipped: clamped), %d ops lost to wipes; faults:",
          (unsigned long long)s->seed, s->w.nclients, s->steps, s->writes, s->refused, s->folded, s->checked_records,
          s->clamped_records, s->wiped_ops);
  for (int k = 0; k < SIM_NFAULTS; k++) fprintf(f, " %s=%d", kSimFaultNames[k], s->faults[k]);
  fputc('\n', f);
}

#endif /* SLOOP_SIM_H */
