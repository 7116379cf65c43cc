// Pull scopes by recency and priority (docs/CLIENT.md, "Pull scopes"), end to end: Sloop clients
// on fake-indexeddb against the real server (its store: test-store.js), each opened with
// openSloop's `scope` option.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSyncServer } from '../../js/server/sync-server.js';
import { openSloop } from '../../js/sloop.js';
import { storeOpener } from './test-store.js';
import { backend, freshName, login, users, waitFor } from './client-harness.js';

const DAY = 86_400_000;
const schema = {
  collections: {
    notes: { fields: { title: 'lww', updatedAt: 'lww' }, indexes: ['updatedAt'] },
    tasks: { fields: { title: 'lww', due: 'lww' } },
  },
  maxDriftMs: 3_600_000,
};

const dataDir = mkdtempSync(join(tmpdir(), 'sloop-scope-'));
const stores = await storeOpener({ dataDir, schema });
const sync = createSyncServer({ users, secret: 'client-scope-secret-0123456789abcdef0123456789', openTenantStore: stores });
const url = await sync.listen({ port: 0 });
after(async () => {
  await sync.close();
  await stores.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/**
 * A client of `user` (tenant acme) whose scope is set before its first pull; `pulls` collects
 * the pull answers it receives, parsed.
 */
async function openScoped(scope, { user = 'alice', pullPage = 200, name = freshName('scope') } = {}) {
  const session = { token: null };
  const pulls = [];
  const fetch = async (...args) => {
    const res = await globalThis.fetch(...args);
    if (String(args[0]).endsWith('/v1/pull') && res.ok) pulls.push(await res.clone().json());
    return res;
  };
  const db = await openSloop({
    name, schema, backend: backend(), serverUrl: url, fetch, ...(scope !== undefined && { scope }),
    auth: { getToken: () => session.token }, sync: { debounceMs: 60_000, intervalMs: 0, pullPage },
  });
  Object.assign(session, await login(url, user, db.device));
  await db.sync();
  return { db, pulls, name };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('records outside the window are not pulled; what ages out is evicted, unless it has local work', async () => {
  const writer = await openScoped(undefined);
  const WINDOW_MS = 20_000;
  const scope = { recent: { notes: { field: 'updatedAt', days: WINDOW_MS / DAY } } };
  const reader = await openScoped(scope);
  try {
    const now = Date.now();
    await writer.db.put('notes', 'future', { title: 'in the window for an hour', updatedAt: now + 3_600_000 });
    await writer.db.put('notes', 'iso', { title: 'ISO text', updatedAt: new Date(now + 3_600_000).toISOString() });
    await writer.db.put('notes', 'old', { title: 'a minute old', updatedAt: now - 60_000 });
    await writer.db.put('notes', 'undated', { title: 'no updatedAt' });
    await writer.db.put('notes', 'soon', { title: 'ages out in 5 s', updatedAt: now - WINDOW_MS + 5_000 });
    await writer.db.put('notes', 'held', { title: 'ages out in 5 s', updatedAt: now - WINDOW_MS + 5_000 });
    await writer.db.put('tasks', 't1', { title: 'tasks have no window' });
    await writer.db.sync();
    await reader.db.sync();
    for (const id of ['future', 'iso', 'soon', 'held']) assert.ok(await reader.db.get('notes', id), `${id} pulled`);
    assert.equal(await reader.db.get('notes', 'old'), undefined);
    assert.equal(await reader.db.get('notes', 'undated'), undefined);
    assert.ok(await reader.db.get('tasks', 't1'));
    assert.ok(reader.pulls.every((a) => a.changes.every((ch) => !['old', 'undated'].includes(ch.rid))), 'never sent');

    // Past the window's end (plus its one-second step): a write on 'held' not yet pushed keeps it.
    await sleep(Math.max(0, now + 5_000 + 1_500 - Date.now()));
    await reader.db.patch('notes', 'held', { title: 'edited offline' });
    assert.equal(await reader.db.persistent.call('evictScope'), 1);
    assert.equal(await reader.db.get('notes', 'soon'), undefined);
    assert.deepEqual(await reader.db.get('notes', 'held'), { title: 'edited offline', updatedAt: now - WINDOW_MS + 5_000 });
    assert.ok(await reader.db.get('notes', 'future'));

    // A sync pushes the write, and the pull after it evicts the record: nothing was lost, and
    // the eviction itself pushed nothing (the server still has 'soon').
    await reader.db.sync();
    assert.equal(await reader.db.get('notes', 'held'), undefined);
    await writer.db.sync();
    assert.equal((await writer.db.get('notes', 'held')).title, 'edited offline');
    assert.ok(await writer.db.get('notes', 'soon'));
    assert.equal(reader.db.status.pendingOps, 0);

    // A record that ages out between pulls leaves at the next pull, by itself.
    const later = Date.now();
    await writer.db.put('notes', 'brief', { title: 'ages out in 4 s', updatedAt: later - WINDOW_MS + 4_000 });
    await writer.db.sync();
    await reader.db.sync();
    assert.ok(await reader.db.get('notes', 'brief'));
    let shown = null;
    const stop = reader.db.live('notes', {}, (rows) => { shown = rows.map((r) => r.id); });
    await waitFor(() => shown?.includes('brief'), 'the live query shows brief');
    await sleep(Math.max(0, later + 4_000 + 1_500 - Date.now()));
    await reader.db.sync();
    assert.equal(await reader.db.get('notes', 'brief'), undefined);
    // A live query is told, as for a delete.
    await waitFor(() => !shown.includes('brief'), 'the live query drops brief');
    stop();
    // Moved back into the window, it comes back by version order.
    await writer.db.patch('notes', 'brief', { updatedAt: Date.now() + 3_600_000 });
    await writer.db.sync();
    await reader.db.sync();
    assert.equal((await reader.db.get('notes', 'brief')).title, 'ages out in 4 s');
  } finally {
    await reader.db.close();
    await writer.db.close();
  }
});

test('a wider window fetches what the replica lacks; a bad scope is refused', async () => {
  const writer = await openScoped(undefined, { user: 'bob' });
  const now = Date.now();
  for (const age of [0.5, 5, 20, 40]) {
    await writer.db.put('notes', `age${age}`, { title: `${age} days old`, updatedAt: new Date(now - age * DAY).toISOString() });
  }
  await writer.db.sync();
  let reader = await openScoped({ recent: { field: 'updatedAt', days: 1 }, collections: ['notes'] }, { user: 'bob' });
  try {
    const ids = async () => (await reader.db.query('notes', {})).map((r) => r.id).filter((id) => id.startsWith('age')).sort();
    assert.deepEqual(await ids(), ['age0.5']);
    // A new version of the app opens the same database with a wider window.
    await reader.db.close();
    reader = await openScoped({ recent: { field: 'updatedAt', days: 30 }, collections: ['notes'] }, { user: 'bob', name: reader.name });
    assert.deepEqual(await ids(), ['age0.5', 'age20', 'age5']);
    const progress = await reader.db.persistent.call('pullProgress');
    assert.equal(progress.verified, true);
    for (const bad of [{ recent: { field: 'updatedAt' } }, { recent: { field: 'updatedAt', days: -1 } }, { priority: 'notes' },
      { collections: ['no-such name'] }, { colls: ['notes'] }, [], 'notes']) {
      await assert.rejects(reader.db.persistent.call('setScope', bad), (e) => e.code === 'invalid', JSON.stringify(bad));
    }
    await assert.rejects(openSloop({ name: freshName('scope'), schema, backend: backend(), scope: { recent: { days: 3 } } }),
      (e) => e.code === 'invalid', 'openSloop refuses a bad scope');
    // Nothing changed by the refusals: a sync leaves the replica as it was.
    await reader.db.sync();
    assert.deepEqual(await ids(), ['age0.5', 'age20', 'age5']);
  } finally {
    await reader.db.close();
    await writer.db.close();
  }
});

test('an initial sync brings the priority collection first', async () => {
  const writer = await openScoped(undefined, { user: 'carol' });
  // Tasks written last: in version order they would arrive last.
  for (let k = 0; k < 25; k++) await writer.db.put('notes', `n${k}`, { title: `note ${k}`, updatedAt: Date.now() });
  for (let k = 0; k < 25; k++) await writer.db.put('tasks', `t${k}`, { title: `task ${k}` });
  await writer.db.sync();
  const reader = await openScoped({ priority: ['tasks'] }, { user: 'carol', pullPage: 10 });
  try {
    const colls = reader.pulls.flatMap((a) => a.changes.map((ch) => ch.coll));
    assert.equal(colls.length, 50);
    assert.deepEqual(colls.slice(0, 25), Array(25).fill('tasks'));
    assert.deepEqual(colls.slice(25), Array(25).fill('notes'));
    assert.ok(reader.pulls[0].progress, 'a snapshot page');
    assert.equal((await reader.db.query('tasks', {})).length, 25);
    assert.equal((await reader.db.query('notes', {})).length, 25);
  } finally {
    await reader.db.close();
    await writer.db.close();
  }
});
