// Sync behaviour of the public API against the real server: failed operations, conflicts,
// token expiry and refresh, backoff under a failing network (fake timers), and a schema
// migration that keeps pending operations.
import { test, before, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import { openSloop } from '../../js/sloop.js';
import { backoffDelay } from '../../js/client/transport.js';
import { startTestServer, openClient, login, schema, backend, freshName, waitFor, nextEvent } from './client-harness.js';

let server;
before(async () => { server = await startTestServer(); });
after(() => server.close());

test('a rejected operation is kept, listed, announced, retryable and discardable', async () => {
  const a = await openClient(server, 'alice');
  const b = await openClient(server, 'bob');
  try {
    await a.db.put('notes', 'f1', { title: 'owned' });
    await a.db.sync();
    await b.db.sync();
    // createdBy is first-writer-wins: both set it concurrently, the server keeps alice's.
    await a.db.patch('notes', 'f1', { createdBy: 'alice' });
    await a.db.sync();
    const failedEvent = nextEvent(b.db, 'failed');
    await b.db.patch('notes', 'f1', { createdBy: 'bob' });
    await b.db.sync();
    const { failedOps } = await failedEvent;
    assert.equal(failedOps.length, 1);
    const [op] = await b.db.failedOps();
    assert.deepEqual([op.coll, op.rid, op.type, op.attempts], ['notes', 'f1', 'patch', 1]);
    assert.match(op.lastError, /immutable/);
    assert.equal(b.db.status.failedOps, 1);
    assert.equal(await b.db.recordState('notes', 'f1'), 'failed');
    assert.equal((await b.db.get('notes', 'f1')).createdBy, 'alice', 'a rejected write is not in the view');

    await b.db.retry(op.id);
    await b.db.sync();
    const [again] = await b.db.failedOps();
    assert.notEqual(again.id, op.id, 'a retried operation gets a new id');
    assert.equal(b.db.status.failedOps, 1);

    await b.db.discard(again.id);
    assert.deepEqual(await b.db.failedOps(), []);
    assert.equal(await b.db.recordState('notes', 'f1'), 'synced');
    assert.equal((await b.db.get('notes', 'f1')).createdBy, 'alice');
    await waitFor(() => b.db.status.failedOps === 0, 'the failed count to drop');
  } finally {
    await a.db.close();
    await b.db.close();
  }
});

test('a manual-field conflict is listed, announced and resolved, and both sides converge', async () => {
  const a = await openClient(server, 'alice');
  const b = await openClient(server, 'bob');
  try {
    await a.db.put('notes', 'c1', { title: 'conflicted', status: 'open' });
    await a.db.sync();
    await b.db.sync();
    await a.db.patch('notes', 'c1', { status: 'done' });
    await b.db.patch('notes', 'c1', { status: 'wontfix' });
    await a.db.sync();
    const conflictEvent = nextEvent(b.db, 'conflict');
    await b.db.sync();
    const { conflicts } = await conflictEvent;
    assert.equal(conflicts.length, 1);
    const [c] = await b.db.conflicts();
    assert.deepEqual([c.coll, c.rid, c.field, c.server, c.incoming], ['notes', 'c1', 'status', 'done', 'wontfix']);
    assert.equal(b.db.status.openConflicts, 1);
    await b.db.resolve(c.id, 'done, then wontfix');
    await b.db.sync();
    await a.db.sync();
    assert.deepEqual(await b.db.conflicts(), []);
    assert.equal((await a.db.get('notes', 'c1')).status, 'done, then wontfix');
    assert.equal((await b.db.get('notes', 'c1')).status, 'done, then wontfix');
    await waitFor(() => b.db.status.openConflicts === 0, 'the conflict count to drop');
  } finally {
    await a.db.close();
    await b.db.close();
  }
});

test('an expired token without refresh: needs-reauth, paused, pending kept; a new sign-in syncs it', async () => {
  const a = await openClient(server, 'alice');
  try {
    await a.db.put('notes', 'e1', { title: 'before expiry' });
    await a.db.sync();
    server.advance(2 * 3_600_000); // past the access token's hour
    try {
      await a.db.put('notes', 'e2', { title: 'written while expired' });
      const statusEvent = nextEvent(a.db, 'status', (s) => s.auth === 'needs-reauth');
      await assert.rejects(a.db.sync(), (e) => e.code === 'expired');
      await statusEvent;
      assert.equal(a.db.status.paused, true);
      assert.equal(a.db.status.pendingOps, 1);
      assert.equal(a.db.status.failedOps, 0, 'an auth failure rejects no operation');
      // Automatic triggers do nothing while re-authentication is needed.
      await a.db.put('notes', 'e3', { title: 'also kept' });
      assert.equal(a.db.status.pendingOps, 2);

      Object.assign(a.session, await login(server.url, 'alice', a.db.device));
      const synced = nextEvent(a.db, 'status', (s) => s.auth === 'ok' && s.pendingOps === 0 && !s.syncing);
      a.db.resume();
      await synced;
      assert.equal(a.db.status.paused, false);
      assert.equal(await a.db.recordState('notes', 'e3'), 'synced');
    } finally {
      server.advance(-2 * 3_600_000);
    }
  } finally {
    await a.db.close();
  }
});

test('an expired token with an offline token: refreshed once, the request repeated, nothing shown', async () => {
  const session = await login(server.url, 'alice');
  let refreshes = 0;
  const db = await openSloop({
    name: freshName('refresh'), schema, backend: backend(), serverUrl: server.url,
    sync: { debounceMs: 60_000, intervalMs: 0 },
    auth: {
      getToken: () => session.token,
      refresh: async () => {
        refreshes += 1;
        const res = await fetch(`${server.url}/v1/refresh`, { method: 'POST', headers: { authorization: `Bearer ${session.offlineToken}` } });
        if (res.status !== 200) return null;
        session.token = (await res.json()).token;
        return session.token;
      },
    },
  });
  try {
    await db.sync();
    server.advance(2 * 3_600_000);
    await db.put('notes', 'r1', { title: 'refreshed' });
    await db.sync();
    assert.equal(refreshes, 1);
    assert.equal(db.status.auth, 'ok');
    assert.equal(await db.recordState('notes', 'r1'), 'synced');
    // Past the offline token too: refresh answers null, so the user must sign in.
    server.advance(40 * 86_400_000);
    await db.put('notes', 'r2', { title: 'needs a password' });
    await assert.rejects(db.sync(), (e) => e.code === 'expired');
    assert.equal(db.status.auth, 'needs-reauth');
    assert.equal(db.status.pendingOps, 1);
  } finally {
    server.advance(-(2 * 3_600_000 + 40 * 86_400_000));
    await db.close();
  }
});

test('backoff: exponential, jittered within bounds, capped', () => {
  const backoff = { baseMs: 1000, maxMs: 60_000 };
  assert.equal(backoffDelay(1, backoff, () => 0), 500);
  assert.equal(backoffDelay(1, backoff, () => 0.999999), 1000);
  assert.equal(backoffDelay(3, backoff, () => 0.5), 3000);
  for (let attempt = 1; attempt < 60; attempt++) {
    const d = backoffDelay(attempt, backoff);
    const step = Math.min(60_000, 1000 * 2 ** (attempt - 1));
    assert.ok(d >= step / 2 && d <= step, `attempt ${attempt}: ${d}`);
  }
});

test('a failing network is retried on the backoff schedule, pending ops kept, then synced', async () => {
  const session = await login(server.url, 'alice');
  let failing = true;
  const pushes = [];
  const faultyFetch = async (url, init) => {
    if (url.endsWith('/v1/push')) pushes.push(Date.now());
    if (failing) throw new TypeError('fetch failed'); // as when offline, or queued by the SW
    return fetch(url, init);
  };
  const db = await openSloop({
    name: freshName('backoff'), schema, backend: backend(), serverUrl: server.url, fetch: faultyFetch,
    auth: { getToken: () => session.token },
    sync: { debounceMs: 300, intervalMs: 0, backoff: { baseMs: 1000, maxMs: 4000 }, random: () => 0.5 },
  });
  // Only timers and Date: fake-indexeddb schedules with setImmediate, which must stay real.
  mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 });
  try {
    // The cycle started at open failed (pull, nothing to push): attempt 1 is planned.
    await waitFor(() => db.status.error?.code === 'network', 'the first failure');
    mock.timers.tick(10_000);
    await waitFor(() => !db.status.syncing && db.status.retryAt > Date.now(), 'a failed retry');
    pushes.length = 0;
    await db.put('notes', 'b1', { title: 'offline write' });
    mock.timers.tick(300);
    // The write's push waits for the backoff, whose delays now grow: 0.75 of each step.
    const expected = [3000, 3000, 3000]; // steps 4000 (capped) from here on
    let last = Date.now();
    for (const delay of expected) {
      await waitFor(() => !db.status.syncing && db.status.retryAt > last, 'the next retry to be planned');
      const wait = db.status.retryAt - Date.now();
      assert.ok(wait <= delay, `waits ${wait}, at most ${delay}`);
      const before = pushes.length;
      mock.timers.tick(wait - 1);
      await new Promise((r) => setImmediate(r));
      assert.equal(pushes.length, before, 'nothing before the backoff is over');
      mock.timers.tick(1);
      await waitFor(() => pushes.length === before + 1, 'the retry');
      last = Date.now();
    }
    assert.equal(db.status.pendingOps, 1);
    assert.equal(db.status.online, false);
    assert.equal(db.status.failedOps, 0, 'the failed push went back to the queue');
    assert.equal(await db.recordState('notes', 'b1'), 'failed', 'the record shows that its last attempt failed');

    await waitFor(() => !db.status.syncing && db.status.retryAt > last, 'the next retry to be planned');
    // Real timers again before real requests: Node's fetch keeps its own timers.
    mock.timers.reset();
    failing = false;
    await db.sync();
    assert.equal(db.status.pendingOps, 0);
    assert.equal(db.status.error, null);
    assert.equal(await db.recordState('notes', 'b1'), 'synced');
  } finally {
    mock.timers.reset();
    await db.close();
  }
});

test('a request, or a token, that never comes fails the cycle after requestTimeoutMs, and sync goes on', { timeout: 30_000 }, async () => {
  const session = await login(server.url, 'alice');
  let stallPushes = 0, stallTokens = 0;
  const aborted = [];
  // A server (or proxy) that takes the push and never answers: the promise never settles.
  const stallingFetch = (url, init) => {
    if (url.endsWith('/v1/push') && stallPushes > 0) {
      stallPushes--;
      init.signal?.addEventListener('abort', () => aborted.push(url));
      return new Promise(() => {});
    }
    return fetch(url, init);
  };
  const db = await openSloop({
    name: freshName('timeout'), schema, backend: backend(), serverUrl: server.url, fetch: stallingFetch,
    auth: { getToken: () => (stallTokens-- > 0 ? new Promise(() => {}) : session.token) },
    sync: { debounceMs: 60_000, intervalMs: 0, requestTimeoutMs: 300, backoff: { baseMs: 50, maxMs: 100 } },
  });
  try {
    await db.sync();
    await db.put('notes', 'h1', { title: 'sent into the void' });
    stallPushes = 1;
    assert.equal(await db.sync().then(() => 'synced', (e) => e.code), 'timeout');
    assert.equal(aborted.length, 1, 'the stalled request was aborted');
    assert.equal(db.status.syncing, false);
    assert.equal(db.status.error?.code, 'timeout');
    assert.equal(db.status.pendingOps, 1, 'the operation waits for the next push');
    stallTokens = 1;
    assert.equal(await db.sync().then(() => 'synced', (e) => e.code), 'timeout', 'a getToken() that never answers');
    await db.sync();
    assert.equal(db.status.pendingOps, 0);
    assert.equal(db.status.error, null);
    assert.equal(await db.recordState('notes', 'h1'), 'synced');
  } finally {
    await db.close();
  }
});

test('a push answered 200 without settling its operations fails the cycle instead of sending it again at once', { timeout: 30_000 }, async () => {
  const session = await login(server.url, 'alice');
  let pushes = 0, broken = true;
  // A server that answers a push with no results for its operations.
  const fetchFn = async (url, init) => {
    if (url.endsWith('/v1/push') && broken) {
      pushes++;
      return new Response(JSON.stringify({ v: 2, results: [], records: [] }), { status: 200 });
    }
    return fetch(url, init);
  };
  const db = await openSloop({
    name: freshName('unsettled'), schema, backend: backend(), serverUrl: server.url, fetch: fetchFn,
    auth: { getToken: () => session.token },
    sync: { debounceMs: 60_000, intervalMs: 0, backoff: { baseMs: 60_000, maxMs: 60_000 } },
  });
  try {
    await db.sync();
    await db.put('notes', 'u1', { title: 'never settled' });
    const outcome = await Promise.race([
      db.sync().then(() => 'synced', (e) => e.code),
      new Promise((resolve) => setTimeout(() => resolve('still pushing after 5 s'), 5000)),
    ]);
    assert.equal(outcome, 'unsettled');
    assert.equal(pushes, 1, 'sent once: the same batch again is caught before it goes out');
    assert.equal(db.status.syncing, false);
    assert.equal(db.status.pendingOps, 1);
    broken = false;
    await db.sync();
    assert.equal(db.status.pendingOps, 0);
    assert.equal(await db.recordState('notes', 'u1'), 'synced');
  } finally {
    await db.close();
  }
});

test('a new schema on open migrates the local database and keeps pending operations', async () => {
  const name = freshName('migrate');
  const v1 = structuredClone(schema);
  delete v1.collections.notes.fields.updatedAt;
  v1.collections.notes.indexes = ['status'];
  v1.collections.notes.search = ['title'];
  let db = await openSloop({ name, schema: v1, backend: backend() });
  await db.put('notes', 'm1', { title: 'old app version', body: 'not searchable yet', status: 'open' });
  await db.patch('notes', 'm1', { votes: { $inc: 1 } });
  assert.deepEqual(await db.search('notes', 'searchable'), []);
  assert.equal(db.status.pendingOps, 2);
  await db.close();

  const session = await login(server.url, 'alice');
  db = await openSloop({ name, schema, backend: backend(), serverUrl: server.url, auth: { getToken: () => session.token }, sync: { intervalMs: 0 } });
  try {
    assert.equal(db.status.pendingOps, 2);
    assert.deepEqual(await db.get('notes', 'm1'), { body: 'not searchable yet', status: 'open', title: 'old app version', votes: 1 });
    await db.patch('notes', 'm1', { updatedAt: 5 });
    assert.deepEqual((await db.search('notes', 'searchable')).map((r) => r.id), ['m1'], 'the new search field is indexed, old rows too');
    await db.sync();
    assert.equal(db.status.pendingOps, 0);
    const b = await openClient(server, 'bob');
    assert.deepEqual(await b.db.get('notes', 'm1'), { body: 'not searchable yet', status: 'open', title: 'old app version', updatedAt: 5, votes: 1 });
    await b.db.close();
  } finally {
    await db.close();
  }
});
