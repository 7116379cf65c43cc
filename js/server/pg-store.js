/**
 * pg-store.js -- the tenant store on PostgreSQL (SLOOP_DATABASE_URL, or --database): any
 * number of server processes on one database serve the same tenants, none holding state of
 * its own that the database does not have.
 *
 * The C core stays the one implementation of the protocol. A request runs on the core's
 * scratch database for the tenant (pg/scratch.js), loaded with the rows it reads:
 *   - a push group takes the tenant row's lock, loads the records its operations touch, the
 *     answers its operation ids may already have, its devices and the conflicts it resolves,
 *     applies every push there, and writes what the core wrote back in the same transaction,
 *     which is the group's one commit (group-commit.js); the answers go out after it;
 *   - a pull reads one snapshot without any lock (so it never waits behind a push): the window
 *     of the change log after its cursor that one page can use, and the conflicts, answers and
 *     device row it reports; the core answers from that, told where the window ends. A later
 *     snapshot page in version order loads its group from the token's position likewise; a
 *     first snapshot page, one by a field's order and a scope hash read the whole scope
 *     (docs/DEPLOY.md, Costs).
 * docs/PROTOCOL.md, "Versions and commits", says why a pull never skips a row that commits late.
 *
 * A lost connection, a restarting database, too many clients, a serialization failure: each
 * is answered 503 `unavailable`, which clients retry; the push's transaction is rolled back, so
 * the retry applies it once.
 * @module sloop/server/pg-store
 */
import { HttpError } from './errors.js';
import { CommitQueue, settle } from './group-commit.js';
import {
  COMPACT, ENSURE_TENANT, LOAD_PULL, LOAD_PUSH, LOAD_SCOPE, WRITE_PULL, beginAndLock, loadSnapshotWindow, prepared,
  writeAndCommit,
} from './pg/queries.js';
import { Scratch } from './pg/scratch.js';
import { ensureTables } from './pg/tables.js';

const loadPush = prepared('load_push', LOAD_PUSH);
const loadPull = prepared('load_pull', LOAD_PULL);
const loadScope = prepared('load_scope', LOAD_SCOPE);
const writePull = prepared('write_pull', WRITE_PULL);
const loadWindow = { newest: prepared('load_window_newest', loadSnapshotWindow(true)), oldest: prepared('load_window_oldest', loadSnapshotWindow(false)) };

/** The core's page bounds (wasm/src/server_pull.c): the default and the largest. */
const PULL_DEFAULT = 500;
const PULL_MAX = 1000;

/**
 * PostgreSQL's SQLSTATE classes and codes that mean "try again", not "this is a bug": lost
 * connections (08, but for 08P01, a protocol violation: a bug of ours), resources (53), shutdown and crash recovery (57P01-03), a cancelled
 * statement or lock wait (57014, 55P03: the timeouts below), a read-only database (25006: a
 * primary demoted in a failover), serialization failures and deadlocks (40001, 40P01).
 */
const RETRYABLE = /^(08(?!P01)|53|57P0[1-3]|57014|55P03|25006|40001|40P01)/;

/**
 * Bounds on a connection's waits, so a process that stalls holding a tenant's lock, or a
 * database that stops answering, costs a retry (503) rather than every push of the tenant:
 * all under the HTTP layer's own 30 s (handlerTimeoutMs). keepAlive lets PostgreSQL see a
 * process that vanished from the network and free its lock.
 */
const CONNECTION_LIMITS = {
  connectionTimeoutMillis: 10_000,
  keepAlive: true,
  lock_timeout: 15_000,
  statement_timeout: 20_000,
  idle_in_transaction_session_timeout: 20_000,
};

/** A PostgreSQL failure as what the client sees: 503 `unavailable` when retrying can help. */
function storeError(e) {
  if (e instanceof HttpError || e?.name === 'SloopError') return e; // ours, or the core's answer
  const lost = e?.syscall
    || /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(String(e?.message));
  if (lost || RETRYABLE.test(String(e?.code ?? ''))) {
    return new HttpError(503, 'unavailable', 'the database is unavailable; try again');
  }
  return e;
}

/**
 * The collections a pull may and wants to read, for the SQL filter: null for all. The core
 * applies the same rule again (sloop_pull_wanted); this only keeps the rest from being loaded.
 */
function wantedCollections(scope, perms) {
  // As sloop_perm_allows: no grants at all is a trusted caller; grants without "read", none.
  const read = perms?.read;
  const allowed = !perms || read === '*' ? null : Array.isArray(read) ? read : [];
  const asked = Array.isArray(scope?.collections) ? scope.collections.filter(storable) : null;
  if (!asked) return allowed;
  return allowed ? asked.filter((c) => allowed.includes(c)) : asked;
}

/**
 * Whether text can be a key in PostgreSQL: its text type holds no NUL, and a parameter with one
 * fails the whole statement (a whole push group). The core refuses such names itself, per
 * operation, without needing a row.
 */
const storable = (text) => typeof text === 'string' && !text.includes('\0');

/**
 * For a later page of a snapshot in version order, what to load instead of the whole scope: the
 * token's group from its position ({group, colls, at, after, newestFirst, lastGroup}), or null
 * for a first page (it counts the scope), a page by a field's order (SQLite's order of mixed
 * JSON values is the core's alone), a scope hash, a scope whose groups are not its collections
 * one by one (a priority, a collection listed twice: the core orders and merges those), or a
 * token the core will refuse anyway. The
 * token is the core's (wasm/src/snapshot.c): `at` the snapshot version, `c` the group, `v` the
 * version of the last row served.
 */
function snapshotWindow(body, wanted) {
  const t = body.snapshot;
  const scope = body.scope ?? {};
  if (!t || typeof t !== 'object' || body.verify === true || scope.orderBy !== undefined) return null;
  if (![t.at, t.c, t.v].every((n) => Number.isSafeInteger(n) && n >= 0)) return null;
  if (scope.priority !== undefined) return null;
  const groups = Array.isArray(scope.collections) ? scope.collections : null;
  if (groups && new Set(groups).size !== groups.length) return null;
  if (groups && t.c >= groups.length) return null;
  if (!groups && t.c !== 0) return null;
  const colls = groups ? (wanted === null || wanted.includes(groups[t.c]) ? [groups[t.c]].filter(storable) : []) : wanted;
  return {
    group: t.c, colls, at: t.at, after: t.v, newestFirst: scope.order === 'recent', lastGroup: !groups || t.c === groups.length - 1,
  };
}

/**
 * The sequence number of an operation id's tail as the core reads it (strtoll in
 * wasm/src/server.c validate_batch: leading white space, a sign, digits to the end, capped at
 * 2^63 - 1), as text; null where the core refuses the id. "7", "07" and " +7" are one number:
 * were an answer looked up by another reading than the core's, a replay of "d:07" would miss
 * its stored answer and be applied again.
 */
function sequenceOf(tail) {
  const m = /^[ \t\n\v\f\r]*\+?(\d+)$/.exec(tail);
  if (!m) return null;
  const n = BigInt(m[1]);
  if (n === 0n) return null;
  return String(n > INT64_MAX ? INT64_MAX : n);
}
const INT64_MAX = 2n ** 63n - 1n;

/**
 * The keys a push group's rows are loaded by, each once (pushes of a group share records, and a
 * retried push may come twice). Malformed operations the core refuses itself.
 */
function pushKeys(group) {
  const k = { colls: [], rids: [], devices: [], seqDevices: [], seqs: [], ids: [], conflicts: [] };
  const seen = new Set();
  const once = (key) => !seen.has(key) && seen.add(key);
  for (const { request } of group) {
    let body;
    try {
      body = JSON.parse(request);
    } catch {
      continue;
    }
    const device = storable(body?.device) ? body.device : null;
    if (device && once(`d\0${device}`)) k.devices.push(device);
    for (const op of Array.isArray(body?.ops) ? body.ops : []) {
      if (storable(op?.coll) && storable(op.rid) && once(`r\0${op.coll}\0${op.rid}`)) {
        k.colls.push(op.coll);
        k.rids.push(op.rid);
      }
      const seq = device && storable(op?.id) && op.id.startsWith(`${device}:`) ? sequenceOf(op.id.slice(device.length + 1)) : null;
      if (seq !== null && once(`o\0${op.id}`)) {
        k.seqDevices.push(device);
        k.seqs.push(seq);
        k.ids.push(op.id);
      }
      const conflict = op?.payload?.conflict;
      if (Number.isSafeInteger(conflict) && conflict > 0 && once(`c\0${conflict}`)) k.conflicts.push(conflict);
    }
  }
  return k;
}

/**
 * Makes an `openTenantStore` for createSyncServer on PostgreSQL.
 * @param {{url: string, schema: object, merge?: Function, poolSize?: number}} options `url` is a
 *   postgres:// connection string; `poolSize` the connections this process opens at most (2 or
 *   more: a quarter of them are the push groups')
 * @returns {Promise<((tenant: string) => Promise<import('./tenants.js').TenantStore>) & {close: () => Promise<void>}>}
 */
export async function pgStoreOpener({ url, schema, merge = null, poolSize = 10 }) {
  const [{ default: pg }, { loadModule, CoreDb }] = await Promise.all([import('pg'), import('../core.js')]);
  // Push groups get connections of their own (a quarter of them, at least one), so that a crowd
  // of pulls never keeps a push waiting for one: a push group holds its connection across its
  // transaction, a pull for one statement.
  const pushShare = Math.max(1, Math.floor(poolSize / 4));
  const pool = new pg.Pool({ connectionString: url, max: Math.max(1, poolSize - pushShare), ...CONNECTION_LIMITS });
  const pushPool = new pg.Pool({ connectionString: url, max: pushShare, ...CONNECTION_LIMITS });
  const pools = [pool, pushPool];
  for (const p of pools) {
    // A connection the database drops (a restart) emits 'error' on its client, in the pool or
    // checked out; unheard, that ends the process. The request using it fails on its own (503).
    p.on('error', () => {});
    p.on('connect', (client) => client.on('error', () => {}));
  }
  const endPools = () => Promise.all(pools.map((p) => p.end()));
  await ensureTables(pool).catch((e) => {
    endPools().catch(() => {});
    throw e;
  });
  const mod = await loadModule('server');

  const open = async (tenant) => {
    await pool.query(ENSURE_TENANT, [tenant]).catch((e) => { throw storeError(e); });
    const db = CoreDb.open(mod, { role: 'server' });
    db.setSchema(schema);
    if (merge) db.setMerge(merge);
    const scratch = new Scratch(db);

    /**
     * Runs `work(client, tenantRow)` in a transaction that holds the tenant's lock; `work` ends
     * it with its COMMIT. Any failure rolls it back and gives the connection up: after a lost
     * connection it would fail the next request too.
     */
    async function locked(work) {
      const client = await pushPool.connect().catch((e) => { throw storeError(e); });
      try {
        const result = await work(client, (await client.query(beginAndLock(tenant)))[1].rows[0]);
        client.release();
        return result;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => {});
        client.release(true);
        throw storeError(e);
      }
    }

    const pushes = new CommitQueue((group) => locked(async (client, tenantRow) => {
      const k = pushKeys(group);
      const loaded = (await client.query(loadPush([tenant, k.colls, k.rids, k.seqDevices, k.seqs, k.ids,
        k.devices, k.conflicts, scratch.nodes]))).rows[0];
      const { value: outcomes, written } = scratch.run(tenantRow, loaded,
        (core) => group.map((p) => settle(() => core.serverPush(p.request, p.ctx))));
      await client.query(writeAndCommit(tenant, written));
      return outcomes;
    }));

    async function pull(requestJson, ctxJson) {
      let body;
      let ctx;
      try {
        body = JSON.parse(requestJson);
        ctx = JSON.parse(ctxJson);
      } catch {
        return db.serverPull(requestJson, ctxJson); // the core's own error for it
      }
      const cursor = Number.isSafeInteger(body.cursor) && body.cursor >= 0 ? body.cursor : 0;
      const ack = Number.isSafeInteger(body.ackSeq) && body.ackSeq >= 0 ? body.ackSeq : 0;
      // A device the core will refuse (not a string, a NUL in it) loads nothing.
      const device = storable(body.device) ? body.device : '';
      const colls = wantedCollections(body.scope, ctx.perms);
      // A snapshot page or a scope hash: the core reads the scope, not the change log after the cursor.
      const scoped = (body.snapshot !== undefined && body.snapshot !== false && body.snapshot !== null) || body.verify === true;
      const limit = Number.isSafeInteger(body.limit) && body.limit > 0 ? Math.min(body.limit, PULL_MAX) : PULL_DEFAULT;
      const later = scoped ? snapshotWindow(body, colls) : null;
      let row;
      let window = null;
      try {
        if (later) {
          // Twice a page's rows: rows the page does not send (left out by the client's filter,
          // out of the scope) still move it on.
          const rows = 2 * limit + 1;
          const query = later.newestFirst ? loadWindow.newest : loadWindow.oldest;
          // Conflicts come with the last page only (snapshot.c): loaded when this one may be it.
          row = (await pool.query(query([tenant, later.at, later.colls, later.after, rows, device, ack, scratch.nodes,
            later.lastGroup]))).rows[0];
          window = { group: later.group, more: row.loaded === rows };
          // A filtered resync's last page lists every live key of the scope: that needs it whole.
          if (!window.more && later.lastGroup && body.have !== undefined) window = null;
        }
        if (scoped && !window) row = (await pool.query(loadScope([tenant, cursor, colls, device, ack, scratch.nodes]))).rows[0];
        if (!scoped) row = (await pool.query(loadPull([tenant, cursor, colls, limit + 1, device, ack, scratch.nodes]))).rows[0];
      } catch (e) {
        throw storeError(e);
      }
      // A cursor ahead of the head is the core's to refuse; the window must not pass the head.
      if (!scoped && cursor <= Number(row.version)) window = { upto: Number(row.upto), beyond: row.beyond };
      const runCtx = window ? JSON.stringify({ ...ctx, window }) : ctxJson;
      const { value: answer, written } = scratch.run(row, row, (core) => core.serverPull(requestJson, runCtx));
      if (JSON.parse(written).devices.length > 0) {
        await pool.query(writePull([tenant, written])).catch((e) => { throw storeError(e); });
      }
      return answer;
    }

    const compact = (version) => locked(async (client) => {
      for (const sql of COMPACT) await client.query(sql, [tenant, version]);
      await client.query('COMMIT');
    });

    return {
      push: (requestJson, ctxJson, ops) => pushes.push(requestJson, ctxJson, ops),
      pull,
      compact,
      /** Groups committed so far (group-commit.js), for tests and diagnostics. */
      commits: pushes.stats,
      close: async () => {
        await pushes.idle();
        db.close();
      },
    };
  };
  let ended;
  open.close = () => (ended ??= endPools());
  return open;
}
