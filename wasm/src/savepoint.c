/*
** savepoint.c -- the savepoints the core's writes run in, and the lighter scope of a local
** write inside a transaction that is already open.
**
** Every write path opens a named savepoint (sloop_begin) and ends it with its outcome
** (sloop_end): released on success, rolled back on failure, so a failed call changes nothing.
** Outside a transaction the savepoint is the transaction, and its release commits.
**
** A local write inside an open transaction (an app's transaction(), a putMany) does not open
** one of its own (sloop_write_begin): copying every page it first touches into SQLite's
** statement journal, and the SAVEPOINT and RELEASE statements, cost about a tenth of a batched
** put. It keeps the promise another way: it decides everything that can refuse it (names,
** schema, the merge) before its first write, so a refused write has written nothing; and a
** failure after its first write (storage, memory) dooms the transaction: it is rolled back at
** once, the failure says so, and the core refuses further writes and the commit until the
** caller ends it (sloop_tx_end). Nothing of such a transaction can then commit in part.
** Inside a savepoint of the core's own (putMany), that savepoint's rollback undoes the write.
*/
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* The name of every savepoint in SQL. The core's savepoints nest strictly and end innermost
** first (db->sp, whose entries keep the callers' names for that check), so RELEASE and
** ROLLBACK TO of the one name always reach the innermost, which is the right one; and one name
** makes SAVEPOINT and RELEASE two cached statements (sloop_exec_cached) rather than two per
** caller. */
#define SQL_NAME "sloop_sp"

/* The refusal of every write while a transaction is doomed (sloop_write_end). */
static int doomed(sloop_db *db) {
  return sloop_fail(db, SLOOP_STORAGE, "the transaction was rolled back after a write in it failed; end it first");
}

int sloop_begin(sloop_db *db, const char *name) {
  if (db->tx_doomed) return doomed(db);
  if (db->nsp == SLOOP_SAVEPOINTS) return sloop_fail(db, SLOOP_INVALID, "savepoints nested too deep");
  int commits = sqlite3_get_autocommit(db->sql);
  /* Outside any transaction nothing can be queued: what is left came from a transaction
  ** that ended behind the core's back (raw SQL), and must not reach the index. */
  if (commits) sloop_fts_discard(db, 0);
  int rc = sloop_exec_cached(db, "SAVEPOINT " SQL_NAME);
  if (rc) return rc;
  if (db->nsp == 0) db->sp_commits = commits;
  db->sp[db->nsp++] = (sloop_savepoint){name, db->nfts};
  return SLOOP_OK;
}

int sloop_end(sloop_db *db, const char *name, int rc) {
  /* A caller may end a savepoint whose begin failed: then it is not the innermost one. */
  const sloop_savepoint *sp =
      db->nsp && strcmp(db->sp[db->nsp - 1].name, name) == 0 ? &db->sp[--db->nsp] : NULL;
  if (!sp) {
    /* Its begin failed, so SQL holds nothing of it; every SQL savepoint has one name, and a
    ** RELEASE or ROLLBACK TO here would end the caller's enclosing one. */
    sloop_nodes_stale(db);
    sloop_fts_stale(db);
    return rc ? rc : sloop_fail(db, SLOOP_INVALID, "savepoint %s is not open", name);
  }
  if (rc == SLOOP_OK) {
    /* Releasing an outermost savepoint opened outside a transaction commits: the index
    ** updates queued inside it go in first, all together, so FTS5 flushes once. */
    if (db->nsp == 0 && db->sp_commits) rc = sloop_meta_flush(db);
    if (rc == SLOOP_OK && db->nsp == 0 && db->sp_commits) rc = sloop_fts_apply(db, 0);
    if (rc == SLOOP_OK) {
      rc = sloop_exec_cached(db, "RELEASE " SQL_NAME);
      if (rc == SLOOP_OK) return SLOOP_OK;
    }
  }
  sloop_fts_discard(db, sp->nfts);
  sloop_nodes_stale(db); /* nodes interned inside the savepoint are rolled back too */
  sloop_fts_stale(db);   /* and so are the pending search updates it added */
  /* Keep the first error's message: the rollback's own outcome is secondary. */
  char saved[sizeof(db->errmsg)];
  memcpy(saved, db->errmsg, sizeof(saved));
  sloop_exec(db, "ROLLBACK TO " SQL_NAME "; RELEASE " SQL_NAME);
  memcpy(db->errmsg, saved, sizeof(saved));
  return rc;
}

int sloop_write_begin(sloop_db *db, const char *name, sloop_write_scope *scope) {
  scope->name = name;
  scope->wrote = 0;
  if (db->tx_doomed) return doomed(db);
  scope->own = sqlite3_get_autocommit(db->sql);
  return scope->own ? sloop_begin(db, name) : SLOOP_OK;
}

int sloop_write_end(sloop_db *db, sloop_write_scope *scope, int rc) {
  if (scope->own) return sloop_end(db, scope->name, rc);
  if (rc == SLOOP_OK || !scope->wrote || db->nsp > 0) return rc;
  /* Failed halfway with no savepoint of its own or of the core's around it: the transaction
  ** cannot commit what it holds, so it ends here, and says so. */
  char why[sizeof(db->errmsg)];
  memcpy(why, db->errmsg, sizeof(why));
  sloop_exec(db, "ROLLBACK");
  sloop_fts_discard(db, 0);
  db->tx_doomed = 1;
  return sloop_fail(db, rc, "%s (the whole transaction was rolled back)", why);
}
