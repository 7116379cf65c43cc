/**
 * real-server.js -- what the tests and benchmarks against the real server share: the demo
 * server (js/server/main.js, on this run's store: test-store.js) in this process or in a child
 * process, CoreDb clients that push and pull over HTTP on 127.0.0.1, and dumps
 * of what a client, the sync API and a tenant's database file hold, for convergence and
 * "nothing changed" checks.
 *
 * Unlike server-harness.js (a fake store, for the HTTP layer alone) nothing here is a double:
 * the demo users, the app's schema and the production core.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadModule, CoreDb } from '../../js/core.js';
import { readTenant, spawnEnv, startServer } from './test-store.js';

export const root = new URL('../../', import.meta.url).pathname;
export const mod = await loadModule();
export const schema = JSON.parse(readFileSync(join(root, 'web/schema.json'), 'utf8'));

/**
 * Signs a demo user in (passwords are `<user>-sloop-demo`, see README.md).
 * @returns {Promise<object>} the login answer: token, offlineToken, ...
 */
export async function login(url, user, device) {
  const res = await fetch(`${url}/v1/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, password: `${user}-sloop-demo`, ...(device ? { device } : {}) }),
  });
  if (res.status !== 200) throw new Error(`login ${user}: ${res.status} ${await res.text()}`);
  return res.json();
}

/**
 * One API request. `body` is sent as it is when a string or bytes, as JSON otherwise.
 * @returns {Promise<{status: number, text: string, json: any}>} json is null when the answer is not JSON
 */
export async function post(url, path, token, body, { method = 'POST', headers = {} } = {}) {
  const h = { 'content-type': 'application/json', ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const payload = body === undefined || typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
  const res = await fetch(`${url}${path}`, { method, headers: h, body: payload });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, text, json };
}

/**
 * A client: a CoreDb (in memory unless `db` is given) syncing with the server over HTTP.
 * `push()` sends every pending operation in batches and returns the results the server
 * answered; a failed request returns the batch to the queue (pushFail) and throws, so a
 * caller can retry the way a real client does.
 * `onPushRoundTrip(ms)`, when given, hears the HTTP round trip of each push request the server
 * accepted, from just before the request to its answer: a load driver's push latency, without
 * the core's own pushBegin/pushEnd work (which push() as a whole includes).
 * @param {{token?: string, db?: CoreDb, batch?: number, pageSize?: number,
 *   onPushRoundTrip?: (ms: number) => void}} [options]
 */
export async function coreClient(url, user, { token, db, batch = 100, pageSize = 500, onPushRoundTrip } = {}) {
  const local = db ?? CoreDb.open(mod, { schema });
  const client = {
    db: local,
    url,
    token: token ?? (await login(url, user, local.device)).token,
    async push() {
      const results = [];
      for (let body; (body = local.pushBegin(batch));) {
        let r;
        const sent = performance.now();
        try {
          r = await post(client.url, '/v1/push', client.token, body);
        } catch (e) {
          local.pushFail(e.message);
          throw e;
        }
        const roundTripMs = performance.now() - sent;
        if (r.status !== 200) {
          local.pushFail(`${r.status}`);
          throw new Error(`push: ${r.status} ${r.text}`);
        }
        onPushRoundTrip?.(roundTripMs);
        local.pushEnd(r.text);
        results.push(...r.json.results);
      }
      return results;
    },
    async pull(scope = null) {
      let pages = 0;
      for (let more = true; more; pages++) {
        const r = await post(client.url, '/v1/pull', client.token, local.pullRequest(pageSize, scope));
        if (r.status !== 200) throw new Error(`pull: ${r.status} ${r.text}`);
        more = local.pullApply(r.text);
      }
      return pages;
    },
    async sync() {
      await client.push();
      await client.pull();
    },
  };
  return client;
}

/**
 * Pushes the client's queue and adds each applied result, with the record it wrote, to
 * `applied` ({rid, version}): what a kill or restart test checks the server kept. The
 * operation log is read first: acknowledged operations leave it.
 */
export async function pushRecording(client, applied) {
  const rids = new Map(client.db.ops().map((op) => [op.id, op.rid]));
  for (const r of await client.push()) if (r.status === 'applied') applied.push({ rid: rids.get(r.id), version: r.version });
}

/** A client's live documents, `coll/rid` -> doc, for comparing with serverDocs(). */
export function clientDocs(db) {
  const docs = {};
  for (const [coll, id, doc] of db.sql('SELECT coll, id, doc FROM records WHERE doc IS NOT NULL ORDER BY coll, id')) {
    docs[`${coll}/${id}`] = JSON.parse(doc);
  }
  return docs;
}

/**
 * What the sync API shows `token`'s user from cursor 0 under device `device`: every change
 * (tombstones included) and conflict, and the tenant's version. Two equal dumps mean the
 * tenant's synced state did not change in between.
 */
export async function apiDump(url, token, device) {
  const dump = { version: 0, changes: [], conflicts: [] };
  for (let cursor = 0, more = true; more;) {
    const r = await post(url, '/v1/pull', token, { v: 1, device, cursor, limit: 1000 });
    if (r.status !== 200) throw new Error(`dump pull: ${r.status} ${r.text}`);
    dump.changes.push(...r.json.changes);
    dump.conflicts.push(...r.json.conflicts);
    ({ cursor, hasMore: more } = r.json);
    dump.version = cursor;
  }
  return dump;
}

/** The server's live documents as serverDocs: `coll/rid` -> doc. */
export function docsOf(dump) {
  const docs = {};
  for (const c of [...dump.changes].sort((a, b) => a.version - b.version)) {
    if (c.deleted || c.evict) delete docs[`${c.coll}/${c.rid}`];
    else docs[`${c.coll}/${c.rid}`] = c.doc;
  }
  return Object.fromEntries(Object.entries(docs).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * Every row of every server table of a tenant's database, read with the server stopped (one
 * process owns a file), on this run's store (test-store.js). `skipDevices` leaves out device
 * rows whose pulls only moved a cursor.
 */
export async function fileDump(dataDir, tenant, { skipDevices = [] } = {}) {
  // Not the clock, nor the database's own device id (a PostgreSQL dump reads through a scratch
  // database of its own).
  return readTenant(dataDir, tenant, (q) => ({
    meta: q("SELECT k, v FROM meta WHERE k NOT IN ('hlc', 'device') ORDER BY k"),
    records: q('SELECT coll, id, doc, sloop_state(state, doc), version FROM records ORDER BY coll, id'),
    conflicts: q("SELECT * FROM conflicts WHERE status <> 'placeholder' ORDER BY id"),
    appliedOps: q('SELECT id, device, seq, user, result FROM applied_ops ORDER BY id'),
    devices: q('SELECT device, user, acked_op, acked_seq FROM devices ORDER BY device')
      .filter(([device]) => !skipDevices.includes(device)),
  }));
}

/**
 * Runs a server script of this repository (`js/server/main.js`, `js/server/cli.js`) in a child
 * process; resolves once it prints the URL it listens on, rejects if it exits first.
 * @param {string} script path from the repository root
 * @param {string[]} [argv]
 * @param {Record<string, string>} [env] added to this process's environment
 * @returns {Promise<{child: import('node:child_process').ChildProcess, url: string, exited: Promise<number|string>}>}
 */
export function spawnServerScript(script, argv = [], env = {}) {
  const child = spawn(process.execPath, [join(root, script), ...argv], {
    env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  let errors = '';
  child.stderr.on('data', (d) => { errors += d; });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const url = /on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      if (url) resolve({ child, url, exited });
    });
    exited.then((how) => reject(new Error(`${script} exited (${how}) before listening: ${errors}`)));
  });
}

/**
 * Runs `node js/server/main.js` in a child process on a free port, with its data in
 * `dataDir` (or, on PostgreSQL, in that folder's database: test-store.js). Resolves once it
 * listens.
 */
export async function spawnServer(dataDir, env = {}) {
  return spawnServerScript('js/server/main.js', [], { PORT: '0', ...(await spawnEnv(dataDir)), ...env });
}

/** Peak and current resident set of a process, from /proc (Linux), in MiB. */
export function rssOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { peakMiB: kb('VmHWM') / 1024, nowMiB: kb('VmRSS') / 1024 };
}

/** The marker every seeded acme value carries, so a leak is one substring search away. */
export const ACME_MARK = 'ACME-SECRET';

/**
 * Seeds tenant acme through the API: alice's and bob's devices, notes (one deleted, one with
 * an open conflict on the manual `status` field), every value marked with ACME_MARK.
 * @returns {Promise<{alice, bob, rids: string[], devices: string[], opIds: string[], conflictIds: number[]}>}
 */
export async function seedAcme(url) {
  const alice = await coreClient(url, 'alice');
  const bob = await coreClient(url, 'bob');
  const mark = (s) => `${ACME_MARK} ${s}`;
  alice.db.put('notes', 'n1', { title: mark('boiler'), status: 'open', votes: 3, tags: ['heating'], createdBy: 'alice' });
  alice.db.put('notes', 'n2', { title: mark('roof'), body: mark('leak over bay 2') });
  alice.db.put('notes', 'gone', { title: mark('to delete') });
  await alice.sync();
  await bob.sync();
  alice.db.delete('notes', 'gone');
  alice.db.patch('notes', 'n1', { status: 'done' });
  bob.db.patch('notes', 'n1', { status: 'blocked', body: mark('valve') });
  bob.db.put('notes', 'b1', { title: mark('bob only') });
  const opIds = [...alice.db.ops(), ...bob.db.ops()].map((op) => op.id);
  await alice.sync();
  await bob.sync();
  await alice.sync();
  const conflictIds = alice.db.conflicts().map((c) => c.id);
  if (conflictIds.length === 0) throw new Error('seeding made no conflict');
  return {
    alice, bob, rids: ['n1', 'n2', 'gone', 'b1'], devices: [alice.db.device, bob.db.device],
    opIds: [...opIds, `${alice.db.device}:1`, `${bob.db.device}:1`], conflictIds,
  };
}

/**
 * The real server in a fresh data folder with acme seeded (seedAcme), and alice's dump of
 * acme as `baseline`: what a security test compares against after each attempt.
 * `dump()` takes the dump again (as device `auditor`), `restart(whileStopped?)` closes the
 * server, awaits whileStopped() (reading the files, say) and starts it again on the same folder,
 * `close()` removes it all.
 */
export async function seededServer(name) {
  const dataDir = mkdtempSync(join(tmpdir(), `sloop-${name}-`));
  const env = { dataDir, srv: await startServer({ port: 0, dataDir }) };
  env.acme = await seedAcme(env.srv.url);
  env.alice = await login(env.srv.url, 'alice');
  env.dump = () => apiDump(env.srv.url, env.alice.token, 'auditor');
  env.baseline = await env.dump();
  env.restart = async (whileStopped = async () => {}) => {
    await env.srv.close();
    const result = await whileStopped();
    env.srv = await startServer({ port: 0, dataDir });
    for (const c of [env.acme.alice, env.acme.bob]) c.url = env.srv.url;
    return result;
  };
  env.close = async () => {
    for (const c of [env.acme.alice, env.acme.bob]) c.db.close();
    await env.srv.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return env;
}
