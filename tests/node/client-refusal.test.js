// No refusal stalls the queue, through the public API against the real server: an operation
// the server cannot take (a collection its schema lacks, a user who may write nothing) ends in
// failedOps() with its code while every other write syncs; a push refused whole with a 4xx
// that retrying cannot change is narrowed down to the operation at fault; only network errors,
// 408, 429 and 5xx are retried with backoff; a refused pull is reported, not looped on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openSloop } from '../../js/sloop.js';
import { startTestServer, openClient, login, schema, backend, freshName, waitFor } from './client-harness.js';

let server;
before(async () => { server = await startTestServer(); });
after(() => server.close());

/** The demo schema plus a collection the server's schema lacks. */
const widerSchema = { ...schema, collections: { ...schema.collections, lists: { fields: { name: 'lww' } } } };

/** Opens alice's database with `fetch` in between; signs in, no automatic cycles. */
async function openWithFetch(fetchFn, { user = 'alice', appSchema = schema } = {}) {
  const session = await login(server.url, user);
  const db = await openSloop({
    name: freshName(`refusal-${user}`), schema: appSchema, backend: backend(), serverUrl: server.url, fetch: fetchFn,
    auth: { getToken: () => session.token },
    sync: { debounceMs: 60_000, intervalMs: 0, backoff: { baseMs: 60_000, maxMs: 60_000 } },
  });
  return { db, session };
}

/** What another device of alice sees on the server after a full pull. */
async function serverView(coll, id) {
  const other = await openClient(server, 'alice');
  try {
    await other.db.sync();
    return await other.db.get(coll, id);
  } finally {
    await other.db.close();
  }
}

test('repro A: an op on a collection the server lacks fails with `schema`; the rest syncs; discard clears it', async () => {
  const { db } = await openWithFetch(fetch, { appSchema: widerSchema });
  try {
    await db.sync().catch(() => {}); // the cycle at open may have had no token yet
    await db.put('lists', 'l1', { name: 'groceries' });
    await db.put('notes', 'ok1', { title: 'milk' });
    await db.sync();
    const failed = await db.failedOps();
    assert.equal(failed.length, 1);
    assert.deepEqual([failed[0].coll, failed[0].rid], ['lists', 'l1']);
    assert.match(failed[0].lastError, /^schema: unknown collection 'lists'/);
    assert.equal(db.status.pendingOps, 0);
    assert.equal(db.status.error, null);
    assert.equal(await db.recordState('notes', 'ok1'), 'synced');
    assert.equal(await db.recordState('lists', 'l1'), 'failed');
    assert.equal((await serverView('notes', 'ok1'))?.title, 'milk');

    await db.discard(failed[0].id);
    assert.deepEqual(await db.failedOps(), []);
    assert.equal(await db.get('lists', 'l1'), undefined, 'a record only this device had is gone');
    await waitFor(() => db.status.failedOps === 0, 'the failed count to drop');
  } finally {
    await db.close();
  }
});

test('repro B: a read-only user writes; each op fails `denied`, discard clears it, nothing stays pending', async () => {
  const dave = await openClient(server, 'dave');
  try {
    await dave.db.put('notes', 'd1', { title: 'from dave' });
    await dave.db.put('notes', 'd2', { title: 'again' });
    await dave.db.sync();
    const failed = await dave.db.failedOps();
    assert.equal(failed.length, 2);
    for (const op of failed) assert.match(op.lastError, /^denied: /);
    assert.equal(dave.db.status.pendingOps, 0);
    assert.equal(dave.db.status.error, null);
    await dave.db.discard(failed[0].id);
    await dave.db.discard(failed[1].id);
    assert.deepEqual(await dave.db.failedOps(), []);
    assert.equal(await dave.db.get('notes', 'd1'), undefined);
    assert.equal(await serverView('notes', 'd1'), undefined);
  } finally {
    await dave.db.close();
  }
});

test('a push refused whole (413) is narrowed to the op at fault, which fails with the code; the rest syncs', async () => {
  let pushes = 0;
  const proxy = async (url, init) => {
    if (url.endsWith('/v1/push')) {
      pushes++;
      const body = JSON.parse(init.body);
      // A proxy in front of the server refuses any request carrying the big record.
      if (body.ops.some((op) => op.rid === 'big')) {
        return new Response(JSON.stringify({ code: 'toobig', message: 'request entity too large' }), { status: 413 });
      }
    }
    return fetch(url, init);
  };
  const { db } = await openWithFetch(proxy);
  try {
    await db.sync().catch(() => {});
    for (let k = 0; k < 6; k++) await db.put('notes', `n${k}`, { title: `t${k}` });
    await db.put('notes', 'big', { title: 'x' });
    for (let k = 6; k < 9; k++) await db.put('notes', `n${k}`, { title: `t${k}` });
    pushes = 0;
    await db.sync();
    const failed = await db.failedOps();
    assert.equal(failed.length, 1);
    assert.equal(failed[0].rid, 'big');
    assert.equal(failed[0].lastError, 'toobig: request entity too large');
    assert.equal(db.status.pendingOps, 0);
    assert.equal(db.status.error, null);
    assert.ok(!db.status.retryAt, 'no backoff for a refusal');
    assert.ok(pushes <= 12, `narrowing took ${pushes} pushes for 10 ops`);
    assert.equal((await serverView('notes', 'n8'))?.title, 't8');
    assert.equal(await serverView('notes', 'big'), undefined);
  } finally {
    await db.close();
  }
});

for (const status of [408, 429, 503]) {
  test(`a push answered ${status} is retried with backoff, nothing failed`, async () => {
    let refuse = true;
    const flaky = async (url, init) => {
      if (refuse && url.endsWith('/v1/push')) return new Response(JSON.stringify({ code: 'busy', message: 'later' }), { status });
      return fetch(url, init);
    };
    const { db } = await openWithFetch(flaky);
    try {
      await db.sync().catch(() => {});
      await db.put('notes', `t${status}`, { title: 'kept' });
      await assert.rejects(db.sync(), (e) => e.code === 'busy' && e.kind === 'transient');
      assert.equal(db.status.pendingOps, 1);
      assert.equal(db.status.failedOps, 0);
      assert.ok(db.status.retryAt > Date.now(), 'a retry is planned');
      refuse = false;
      await db.sync();
      assert.equal(db.status.pendingOps, 0);
      assert.deepEqual(await db.failedOps(), []);
    } finally {
      await db.close();
    }
  });
}

test('a refused pull is reported in status.error and not retried in a backoff loop', async () => {
  let pulls = 0;
  const refusing = async (url, init) => {
    if (url.endsWith('/v1/pull')) {
      pulls++;
      return new Response(JSON.stringify({ code: 'invalid', message: 'no such scope' }), { status: 400 });
    }
    return fetch(url, init);
  };
  const { db } = await openWithFetch(refusing);
  try {
    await db.sync().catch(() => {});
    await assert.rejects(db.sync(), (e) => e.code === 'invalid' && e.kind === 'refused');
    assert.equal(db.status.error?.code, 'invalid');
    assert.ok(!db.status.retryAt, 'no retry planned');
    const seen = pulls;
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(pulls, seen, 'no pull after the refusal until the next trigger');
  } finally {
    await db.close();
  }
});
