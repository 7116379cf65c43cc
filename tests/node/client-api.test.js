// The public API (js/sloop.js) against the real server on loopback, on fake-indexeddb:
// documents, queries, search with hostile user text, live queries, two clients converging,
// and two handles of one database acting as two tabs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openSloop, SloopError } from '../../js/sloop.js';
import { startTestServer, openClient, schema, backend, freshName, waitFor, nextEvent } from './client-harness.js';

let server;
before(async () => { server = await startTestServer(); });
after(() => server.close());

test('put, patch, delete, get and query locally, with record states', async () => {
  const { db } = await openClient(server, null);
  try {
    const op = await db.put('notes', 'n1', { title: 'Pump 4', votes: 1, tags: ['a'], status: 'open', updatedAt: 2 });
    assert.match(op, /^[A-Za-z0-9_-]+:\d+$/);
    await db.put('notes', 'n2', { title: 'Boiler', votes: 5, status: 'done', updatedAt: 1 });
    await db.patch('notes', 'n1', { votes: { $inc: 2 }, tags: { $add: ['b'] }, status: null });
    assert.deepEqual(await db.get('notes', 'n1'), { tags: ['a', 'b'], title: 'Pump 4', updatedAt: 2, votes: 3 });
    assert.equal(await db.get('notes', 'nope'), undefined);
    const rows = await db.query('notes', { orderBy: 'updatedAt' });
    assert.deepEqual(rows.map((r) => [r.id, r.state]), [['n2', 'local-only'], ['n1', 'local-only']]);
    assert.deepEqual((await db.query('notes', { where: { status: 'done' } })).map((r) => r.id), ['n2']);
    assert.deepEqual((await db.query('notes', { orderBy: 'updatedAt', limit: 1, offset: 1 })).map((r) => r.id), ['n1']);
    await db.delete('notes', 'n2');
    assert.equal(await db.get('notes', 'n2'), undefined);
    assert.equal(await db.recordState('notes', 'n1'), 'local-only');
    assert.equal(await db.recordState('notes', 'never'), undefined);
    await assert.rejects(db.put('nope', 'x', {}), (e) => e instanceof SloopError && e.code === 'schema');
    await assert.rejects(db.sync(), (e) => e.code === 'invalid');
    assert.equal(db.status.writer, true);
  } finally {
    await db.close();
  }
  await assert.rejects(db.get('notes', 'n1'), (e) => e.code === 'closed');
});

test('putMany writes every row or none, names the refused row, and the rows sync like puts', async () => {
  const { db } = await openClient(server, 'alice');
  try {
    const rows = Array.from({ length: 300 }, (_, i) => ({ id: `m${i}`, doc: { title: `Import ${i}`, votes: i, status: 'open', updatedAt: i } }));
    const op = await db.putMany('notes', rows);
    assert.match(op, /:300$/);
    assert.deepEqual(await db.get('notes', 'm299'), rows[299].doc);
    assert.equal((await db.query('notes', { where: { status: 'open' } })).length, 300);
    await assert.rejects(
      db.putMany('notes', [{ id: 'x1', doc: { title: 'fine' } }, { id: 'x2', doc: { votes: 'many' } }]),
      (e) => e instanceof SloopError && e.code === 'schema' && /^row 1:/.test(e.message),
    );
    assert.equal(await db.get('notes', 'x1'), undefined);
    assert.match(await db.put('notes', 'after', { title: 'next' }), /:301$/);
    await db.sync();
    assert.equal(db.status.pendingOps, 0);
    assert.equal(await db.recordState('notes', 'm150'), 'synced');
  } finally {
    await db.close();
  }
});

test('search takes user text literally: quotes, operators and column filters are plain words', async () => {
  const { db } = await openClient(server, null);
  try {
    await db.put('notes', 'a', { title: 'Pump "4" leaks', body: 'NEAR the boiler AND (valve)' });
    await db.put('notes', 'b', { title: 'title:secret', body: 'pumping station' });
    await db.put('notes', 'c', { title: 'Fan', site: 'roof -north' });
    const ids = async (text) => (await db.search('notes', text)).map((r) => r.id).sort();
    assert.deepEqual(await ids('pump'), ['a', 'b']);            // the last word is a prefix
    assert.deepEqual(await ids('pump "4'), ['a']);
    assert.deepEqual(await ids('"4" leaks'), ['a']);
    assert.deepEqual(await ids('NEAR AND (valve'), ['a']);
    assert.deepEqual(await ids('title:secret'), ['b']);
    assert.deepEqual(await ids('-north'), ['c']);
    for (const hostile of ['"', '""', '(', ')', '*', 'AND', 'OR NOT', '^', 'a OR', 'NEAR(', ':', "'", '\\', '--', '{x}']) {
      assert.ok(Array.isArray(await db.search('notes', hostile)), hostile);
    }
    assert.deepEqual(await db.search('notes', '   '), []);
    assert.equal((await db.search('notes', 'p', { limit: 1 })).length, 1);
  } finally {
    await db.close();
  }
});

test('live queries fire now, on local writes and on sync; two clients converge', async () => {
  const a = await openClient(server, 'alice');
  const b = await openClient(server, 'bob');
  try {
    const seen = [];
    const stop = b.db.live('notes', { where: { site: 'live' }, orderBy: 'title' }, (rows) => seen.push(rows));
    await waitFor(() => seen.length === 1, 'the first callback');
    assert.deepEqual(seen[0], []);

    await b.db.put('notes', 'mine', { title: 'b1', site: 'live' });
    await waitFor(() => seen.at(-1).length === 1, 'a callback for the local write');
    assert.equal(seen.at(-1)[0].state, 'local-only');

    await a.db.put('notes', 'theirs', { title: 'a1', site: 'live', votes: 1 });
    await a.db.patch('notes', 'theirs', { votes: { $inc: 1 } });
    await a.db.sync();
    await b.db.sync();
    await waitFor(() => seen.at(-1).length === 2, 'a callback for the pulled record');
    assert.deepEqual(seen.at(-1).map((r) => [r.id, r.state]), [['theirs', 'synced'], ['mine', 'synced']]);
    await a.db.sync();
    assert.deepEqual(await a.db.get('notes', 'mine'), { site: 'live', title: 'b1' });
    assert.deepEqual(await b.db.get('notes', 'theirs'), { site: 'live', title: 'a1', votes: 2 });

    // Concurrent edits of different fields and a counter merge on both sides.
    await a.db.patch('notes', 'theirs', { title: 'a2', votes: { $inc: 10 } });
    await b.db.patch('notes', 'theirs', { body: 'from b', votes: { $inc: 100 } });
    await a.db.sync(); await b.db.sync(); await a.db.sync();
    const want = { body: 'from b', site: 'live', title: 'a2', votes: 112 };
    assert.deepEqual(await a.db.get('notes', 'theirs'), want);
    assert.deepEqual(await b.db.get('notes', 'theirs'), want);

    stop();
    const count = seen.length;
    await b.db.put('notes', 'after', { title: 'z', site: 'live' });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(seen.length, count, 'no callback after unsubscribe');
    assert.equal(b.db.status.pendingOps, 1);
    assert.equal(b.db.status.auth, 'ok');
    assert.ok(b.db.status.lastSyncAt > 0);
  } finally {
    await a.db.close();
    await b.db.close();
  }
});

test('a local write is pushed by itself after the debounce, and change events say what changed', async () => {
  const a = await openClient(server, 'alice', { sync: { debounceMs: 20 } });
  try {
    const changes = [];
    a.db.addEventListener('change', (e) => changes.push(...e.detail.changes));
    await a.db.put('notes', 'auto', { title: 'pushed without sync()' });
    await waitFor(async () => (await a.db.recordState('notes', 'auto')) === 'synced', 'the debounced push');
    assert.deepEqual([...new Set(changes.filter((c) => c.id === 'auto').map((c) => c.state))], ['local-only', 'syncing', 'synced']);
    await waitFor(() => !a.db.status.syncing && a.db.status.pendingOps === 0, 'an idle status');
  } finally {
    await a.db.close();
  }
});

// A timeout: what this guards against is a promise that never settles.
test('a follower tab whose claim fails: its waiting sync and write, and the next ones, reject with why', { timeout: 30_000 }, async () => {
  const name = freshName('claimfail');
  const first = await openClient(server, 'alice', { name });
  // The follower's claim waits at a gate after the writer closes, then fails.
  let letClaim, claimStarted;
  const gate = new Promise((resolve) => { letClaim = resolve; });
  const started = new Promise((resolve) => { claimStarted = resolve; });
  const faults = {
    beforeClaim: async () => {
      claimStarted();
      await gate;
      throw new SloopError('storage', 'the store is unavailable');
    },
  };
  const second = await openSloop({ name, schema, backend: backend(faults), serverUrl: server.url, auth: { getToken: () => null }, sync: { debounceMs: 60_000, intervalMs: 0 } });
  try {
    assert.equal(second.status.writer, false);
    const failed = nextEvent(second, 'error');
    await first.db.close();
    await started;
    const waitingSync = second.sync().then(() => 'synced', (e) => e.code);
    const waitingPut = second.put('notes', 'w1', { title: 'waiting' }).then(() => 'written', (e) => e.code);
    letClaim();
    assert.equal((await failed).error.code, 'storage');
    assert.equal(await waitingSync, 'storage');
    assert.equal(await waitingPut, 'storage');
    await assert.rejects(second.sync(), { code: 'storage' });
    await assert.rejects(second.put('notes', 'w2', { title: 'after' }), { code: 'storage' });
  } finally {
    await first.db.close();
    await second.close();
  }
});

test('a second handle of one database is a follower tab: proxied writes, shared status and live queries', async () => {
  const name = freshName('tabs');
  const first = await openClient(server, 'alice', { name });
  const second = await openSloop({ name, schema, backend: backend(), serverUrl: server.url, auth: { getToken: () => null }, sync: { debounceMs: 60_000, intervalMs: 0 } });
  try {
    assert.equal(second.status.writer, false);
    assert.equal(second.device, first.db.device);
    const rows = [];
    second.live('notes', { where: { site: 'tabs' } }, (r) => rows.push(r));
    await first.db.put('notes', 't1', { title: 'from the writer', site: 'tabs' });
    await waitFor(() => rows.at(-1)?.length === 1, 'the follower live query');
    await second.put('notes', 't2', { title: 'from the follower', site: 'tabs' });
    await waitFor(() => rows.at(-1)?.length === 2, 'the follower live query, after its own write');
    assert.deepEqual(await first.db.get('notes', 't2'), { site: 'tabs', title: 'from the follower' });
    const synced = nextEvent(second, 'status', (s) => s.pendingOps === 0 && s.lastSyncAt);
    await second.sync(); // run by the writer, with its token
    await synced;
    assert.equal(await second.recordState('notes', 't2'), 'synced');
    second.pause();
    await waitFor(() => first.db.status.paused, 'the pause to reach the writer');
    second.resume();
    await waitFor(() => !first.db.status.paused, 'the resume to reach the writer');

    // The writer closes: the follower takes over and syncs with its own auth.
    await first.db.close();
    await waitFor(() => second.status.writer, 'the follower to become the writer');
    await second.put('notes', 't3', { title: 'after takeover' });
    assert.equal(await second.get('notes', 't1').then((d) => d.title), 'from the writer');
  } finally {
    await first.db.close();
    await second.close();
  }
});
