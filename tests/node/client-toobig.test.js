// A push over the server's limits (413 `toobig`: a body over maxBodyBytes, or more operations
// than maxOps) is halved until it fits, through the public API against the real server run
// with small limits: every operation that fits syncs, one that is over the limit alone ends in
// failedOps() with `toobig` and is never sent again, and the batches after the one that fitted
// are not refused whole first. A resync request whose Bloom filter is over the body limit
// starts again with a smaller filter, then without one, instead of being refused for ever.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSyncServer } from '../../js/server/sync-server.js';
import { storeOpener } from './test-store.js';
import { openSloop } from '../../js/sloop.js';
import { backend, freshName, login, openClient, schema, users } from './client-harness.js';

const MAX_BODY_BYTES = 4096;
const MAX_OPS = 8;

let server, dataDir, stores;
/** The tenant stores the server opened, by tenant. */
const tenants = {};
before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sloop-toobig-'));
  stores = await storeOpener({ dataDir, schema });
  const sync = createSyncServer({
    users, secret: 'client-toobig-secret-0123456789abcdef0123456789',
    openTenantStore: async (tenant) => (tenants[tenant] = await stores(tenant)),
    limits: { maxBodyBytes: MAX_BODY_BYTES, maxOps: MAX_OPS },
  });
  server = { url: await sync.listen({ port: 0 }), close: () => sync.close() };
});
after(async () => {
  await server.close();
  await stores.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/**
 * Alice's database with every push recorded: `pushes` holds {status, rids} per request.
 * No automatic cycles: the test calls sync().
 */
async function openRecorded({ pushBatch }) {
  const pushes = [];
  const recording = async (url, init) => {
    const res = await fetch(url, init);
    if (url.endsWith('/v1/push')) pushes.push({ status: res.status, rids: JSON.parse(init.body).ops.map((op) => op.rid) });
    return res;
  };
  const session = await login(server.url, 'alice');
  const db = await openSloop({
    name: freshName('toobig'), schema, backend: backend(), serverUrl: server.url, fetch: recording,
    auth: { getToken: () => session.token },
    sync: { pushBatch, debounceMs: 60_000, intervalMs: 0, backoff: { baseMs: 60_000, maxMs: 60_000 } },
  });
  await db.sync();
  pushes.length = 0;
  return { db, pushes };
}

/** A note of about `bytes` bytes on the wire. */
const noteOf = (k, bytes) => ({ title: `${k} ${'x'.repeat(bytes)}` });

/** What another device of alice pulls: note id -> title. */
async function serverNotes() {
  const other = await openClient(server, 'alice');
  try {
    return Object.fromEntries((await other.db.query('notes')).map((row) => [row.id, row.doc.title]));
  } finally {
    await other.db.close();
  }
}

test('a batch over the body limit is halved until it fits, and the later batches go at that size', async () => {
  // 40 notes of about 600 bytes: 5 fit in a 4 KiB body, 10 do not.
  const { db, pushes } = await openRecorded({ pushBatch: 40 });
  try {
    for (let k = 0; k < 40; k++) await db.put('notes', `s${k}`, noteOf(k, 600));
    await db.sync();
    assert.equal(db.status.pendingOps, 0);
    assert.equal(db.status.error, null);
    assert.deepEqual(await db.failedOps(), []);
    const refused = pushes.filter((p) => p.status === 413);
    const applied = pushes.filter((p) => p.status === 200);
    // Halving from 40 needs three refusals (40, 20, 10) before 5 fit; each batch after that
    // is sent at 5. Without keeping the size, every batch would be refused 3 times first.
    assert.equal(refused.length, 3, JSON.stringify(pushes.map((p) => [p.status, p.rids.length])));
    assert.deepEqual(refused.map((p) => p.rids.length), [40, 20, 10]);
    assert.ok(applied.every((p) => p.rids.length <= 5), JSON.stringify(applied.map((p) => p.rids.length)));
    assert.deepEqual(applied.flatMap((p) => p.rids), Array.from({ length: 40 }, (_, k) => `s${k}`), 'in log order, each once');
    const notes = await serverNotes();
    for (let k = 0; k < 40; k++) assert.equal(notes[`s${k}`], noteOf(k, 600).title);
  } finally {
    await db.close();
  }
});

test('one operation over the body limit fails with `toobig`, the others sync, and it is never sent again', async () => {
  const { db, pushes } = await openRecorded({ pushBatch: 16 });
  try {
    for (let k = 0; k < 5; k++) await db.put('notes', `a${k}`, noteOf(k, 100));
    await db.put('notes', 'huge', noteOf('huge', 2 * MAX_BODY_BYTES));
    for (let k = 0; k < 5; k++) await db.put('notes', `b${k}`, noteOf(k, 100));
    await db.sync();

    const failed = await db.failedOps();
    assert.equal(failed.length, 1);
    assert.equal(failed[0].rid, 'huge');
    assert.match(failed[0].lastError, /^toobig: body of \d+ bytes is over the 4096-byte limit/);
    assert.equal(await db.recordState('notes', 'huge'), 'failed');
    // Reads show the record without the refused write (docs/CLIENT.md); the write itself is kept.
    assert.equal(await db.get('notes', 'huge'), undefined);
    assert.ok(JSON.stringify(failed[0].payload).includes(noteOf('huge', 2 * MAX_BODY_BYTES).title), 'the refused write is kept in failedOps()');
    assert.equal(db.status.failedOps, 1);
    assert.equal(db.status.pendingOps, 0);
    assert.equal(db.status.error, null);
    assert.ok(!db.status.retryAt, 'a refusal plans no backoff retry');
    assert.ok(pushes.length <= 10, `narrowing 11 ops took ${pushes.length} pushes`);
    const notes = await serverNotes();
    for (const rid of ['a0', 'a4', 'b0', 'b4']) assert.ok(notes[rid], `${rid} reached the server`);
    assert.equal(notes.huge, undefined);

    // Later cycles, with and without new writes: the failed operation stays out of every push.
    pushes.length = 0;
    await db.sync();
    assert.equal(pushes.length, 0, 'nothing pending: no push at all');
    await db.put('notes', 'c0', noteOf('c', 100));
    await db.sync();
    await db.sync();
    assert.deepEqual(pushes.map((p) => [p.status, p.rids]), [[200, ['c0']]]);
    assert.equal((await db.failedOps()).length, 1);

    // The app decides: discard() drops it, and the record only this device had goes away.
    await db.discard(failed[0].id);
    assert.deepEqual(await db.failedOps(), []);
    assert.equal(await db.get('notes', 'huge'), undefined);
  } finally {
    await db.close();
  }
});

test('a batch of more operations than the server takes (maxOps) is halved until it fits', async () => {
  const { db, pushes } = await openRecorded({ pushBatch: 20 });
  try {
    for (let k = 0; k < 20; k++) await db.put('notes', `m${k}`, { title: `m ${k}` });
    await db.sync();
    assert.equal(db.status.pendingOps, 0);
    assert.deepEqual(await db.failedOps(), []);
    // 20 and 10 are over 8; 5 fit, and the rest go 5 at a time.
    assert.deepEqual(pushes.map((p) => [p.status, p.rids.length]), [[413, 20], [413, 10], [200, 5], [200, 5], [200, 5], [200, 5]]);
    const notes = await serverNotes();
    for (let k = 0; k < 20; k++) assert.equal(notes[`m${k}`], `m ${k}`);
  } finally {
    await db.close();
  }
});

/** Writes `count` notes of carol's tenant (globex) straight into the server's store, in batches. */
async function seedGlobex(count) {
  const device = '5eed5eed5eed5eed';
  const ctx = JSON.stringify({ tenant: 'globex', user: 'carol', device, nowMs: Date.now(), perms: { read: '*', write: '*', stepUp: false } });
  for (let from = 0; from < count; from += 500) {
    const ms = (Date.now() - count + from).toString(16).padStart(12, '0');
    const ops = [];
    for (let i = from; i < Math.min(count, from + 500); i++) {
      const hlc = `${ms}-${(i % 0x10000).toString(16).padStart(4, '0')}-${device}`;
      ops.push({ id: `${device}:${i + 1}`, type: 'put', coll: 'notes', rid: `seed-${i}`, hlc, base: 0, payload: { title: { set: `seeded ${i}` } } });
    }
    await tenants.globex.push(JSON.stringify({ v: 1, device, ops }), ctx, ops.length);
  }
}

/** Forgets every tombstone of globex: a replica that last pulled before now must resync. */
async function compactGlobex() {
  const ctx = JSON.stringify({ tenant: 'globex', user: 'carol', device: 'probe', perms: { read: '*', write: '*', stepUp: false } });
  let version = 0;
  for (let more = true; more;) {
    ({ cursor: version, hasMore: more } = JSON.parse(await tenants.globex.pull(JSON.stringify({ v: 1, device: 'probe', cursor: version, limit: 1000 }), ctx)));
  }
  assert.ok(version > 8000);
  await tenants.globex.compact(version);
}

test('a resync request whose filter is over the body limit starts again with a smaller filter, then with none', { timeout: 120_000 }, async () => {
  // At a 1% false-positive rate the filter of 8,000 records is about 13 KB in base64, at 20%
  // about 4.5 KB: both over 4 KiB. Only the full round (no filter) fits.
  const a = await openClient(server, 'carol');
  await a.db.sync(); // opens the tenant's store
  await seedGlobex(8000);
  const requests = [];
  const recording = async (url, init) => {
    const res = await fetch(url, init);
    if (url.endsWith('/v1/pull')) {
      const body = JSON.parse(init.body);
      requests.push({ status: res.status, filterBits: body.have?.m ?? 0, snapshot: Boolean(body.snapshot) });
    }
    return res;
  };
  const b = await openClient(server, 'carol', { fetch: recording, sync: { pullPage: 1000 } });
  try {
    assert.equal((await b.db.query('notes')).length, 8000);
    await a.db.sync();
    await a.db.delete('notes', 'seed-1');
    await a.db.patch('notes', 'seed-2', { title: 'changed while b was away' });
    await a.db.sync();
    await compactGlobex();
    await b.db.put('notes', 'from-b', { title: 'written on b meanwhile' });

    requests.length = 0;
    await b.db.sync();
    assert.equal(b.db.status.error, null, `status.error: ${JSON.stringify(b.db.status.error)}`);
    assert.equal(b.db.status.resync, undefined);
    const refused = requests.filter((r) => r.status !== 200);
    assert.deepEqual(refused.map((r) => r.status), [410, 413, 413], JSON.stringify(requests));
    const [first, second] = refused.slice(1).map((r) => r.filterBits);
    assert.ok(first > 0 && second > 0 && second < first / 2, `a smaller filter the second time: ${first} then ${second} bits`);
    const full = requests.filter((r) => r.status === 200 && r.snapshot);
    assert.ok(full.length >= 8 && full.every((r) => r.filterBits === 0), `a full round, no filter: ${JSON.stringify(requests)}`);

    assert.equal(await b.db.get('notes', 'seed-1'), undefined, 'the deleted note is gone from b');
    assert.equal((await b.db.get('notes', 'seed-2'))?.title, 'changed while b was away');
    assert.equal(await b.db.recordState('notes', 'from-b'), 'synced');
    assert.equal((await b.db.query('notes')).length, 8000);
  } finally {
    await a.db.close();
    await b.db.close();
  }
});
