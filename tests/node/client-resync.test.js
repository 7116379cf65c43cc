// A replica whose cursor is older than the server keeps (410 `resync`), or ahead of a server
// restored from a backup (400 `cursor`), resyncs by itself and converges, through the public API
// against the real server: without it the replica could never pull again.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSyncServer } from '../../js/server/sync-server.js';
import { storeOpener } from './test-store.js';
import { openClient, schema, users } from './client-harness.js';

const dataDir = mkdtempSync(join(tmpdir(), 'sloop-resync-'));
const backupDir = mkdtempSync(join(tmpdir(), 'sloop-resync-backup-'));
const stores = {};
const opener = await storeOpener({ dataDir, schema });
// The "restored" store: what a server restored from a backup taken before the tenant's first
// write holds. `restored` switches the server's tenants over to it.
const backupOpener = await storeOpener({ dataDir: backupDir, schema });
let restored = false;
const backing = {};
const sync = createSyncServer({
  users, secret: 'client-resync-secret-0123456789abcdef0123456789',
  openTenantStore: async (tenant) => {
    backing[tenant] = { live: await opener(tenant), backup: await backupOpener(tenant) };
    const current = () => (restored ? backing[tenant].backup : backing[tenant].live);
    return (stores[tenant] = {
      push: (...a) => current().push(...a),
      pull: (...a) => current().pull(...a),
      compact: (...a) => current().compact(...a),
      close: async () => { await backing[tenant].live.close(); await backing[tenant].backup.close(); },
    });
  },
});
const server = { url: await sync.listen({ port: 0 }) };
after(async () => {
  await sync.close();
  await opener.close();
  await backupOpener.close();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(backupDir, { recursive: true, force: true });
});

test('a pull answered 410 resync resyncs and converges; pending work survives', async () => {
  const a = await openClient(server, 'alice');
  const b = await openClient(server, 'alice');
  try {
    await a.db.put('notes', 'keep', { title: 'kept' });
    await a.db.put('notes', 'gone', { title: 'deleted later' });
    await a.db.sync();
    await b.db.sync();
    assert.deepEqual(await b.db.get('notes', 'gone'), { title: 'deleted later' });

    // While b is away: a deletes one note and adds another; the server then forgets the
    // tombstone, so b's cursor is older than what it keeps.
    await a.db.delete('notes', 'gone');
    await a.db.put('notes', 'new', { title: 'added while b was away' });
    await a.db.sync();
    await compactEverything();
    await b.db.put('notes', 'mine', { title: 'written on b meanwhile' });

    await b.db.sync();
    assert.equal(b.db.status.error, null, `status.error: ${JSON.stringify(b.db.status.error)}`);
    assert.equal(await b.db.get('notes', 'gone'), undefined, 'the record deleted on the server is gone from b');
    assert.deepEqual(await b.db.get('notes', 'new'), { title: 'added while b was away' });
    assert.deepEqual(await b.db.get('notes', 'keep'), { title: 'kept' });
    assert.equal(await b.db.recordState('notes', 'mine'), 'synced');
    await a.db.sync();
    assert.deepEqual(await a.db.get('notes', 'mine'), { title: 'written on b meanwhile' });
  } finally {
    await a.db.close();
    await b.db.close();
  }
});

/** Forgets every tombstone the server holds for acme: a replica that last pulled before now must resync. */
async function compactEverything() {
  const version = JSON.parse(await stores.acme.pull(
    JSON.stringify({ v: 1, device: 'probe', cursor: 0, limit: 1000 }),
    JSON.stringify({ user: 'alice', device: 'probe', perms: { read: '*', write: '*', stepUp: false } }),
  )).cursor;
  assert.ok(version > 0);
  await stores.acme.compact(version);
}

/** Every note of a database, id -> title, for comparing two replicas. */
async function notesOf(db) {
  return Object.fromEntries((await db.query('notes')).map((row) => [row.id, row.doc.title]));
}

/** The demo schema plus a collection the server's schema lacks: a way to make a failed operation. */
const widerSchema = { ...schema, collections: { ...schema.collections, lists: { fields: { name: 'lww' } } } };

test('a resync shows its progress in status.resync; failed and pending operations survive it, pending ones are pushed', async () => {
  const a = await openClient(server, 'alice');
  // b's transport: counts resync pages (their requests carry the filter, `have`), can write on
  // b while one travels, and fail one as if the network dropped.
  const wire = { resyncPages: 0, failPage: 0, writeAt: 0, write: null };
  const transport = async (url, init) => {
    if (url.endsWith('/v1/pull') && JSON.parse(init.body).have) {
      wire.resyncPages++;
      if (wire.resyncPages === wire.writeAt) await wire.write();
      if (wire.resyncPages === wire.failPage) throw new TypeError('fetch failed: the network dropped');
    }
    return fetch(url, init);
  };
  const b = await openClient(server, 'alice', { schema: widerSchema, fetch: transport, sync: { pullPage: 5 } });
  try {
    for (let k = 0; k < 10; k++) await a.db.put('notes', `old${k}`, { title: `old ${k}` });
    await a.db.put('notes', 'gone', { title: 'deleted while b is away' });
    await a.db.sync();
    await b.db.sync();
    const held = Object.keys(await notesOf(b.db)).length; // earlier tests' notes too
    assert.deepEqual(await notesOf(b.db), await notesOf(a.db));

    // A write the server cannot take: failed before the resync.
    await b.db.put('lists', 'l1', { name: 'groceries' });
    await b.db.sync();
    const failedBefore = await b.db.failedOps();
    assert.equal(failedBefore.length, 1);

    // While b is away a deletes one note, changes one, and adds 30; the server then forgets
    // the tombstone, so b's cursor is older than what it keeps.
    await a.db.delete('notes', 'gone');
    await a.db.patch('notes', 'old3', { title: 'changed while b was away' });
    for (let k = 0; k < 30; k++) await a.db.put('notes', `new${k}`, { title: `new ${k}` });
    await a.db.sync();
    await compactEverything();

    await b.db.put('notes', 'before', { title: 'written on b before it came back' });
    wire.failPage = 3;
    const seen = [];
    const onStatus = (e) => { if (e.detail.resync) seen.push({ ...e.detail.resync }); };
    b.db.addEventListener('status', onStatus);

    // The network drops on the third resync page: the resync is left half done...
    await assert.rejects(b.db.sync(), (e) => e.kind === 'network');
    assert.ok(b.db.status.resync, 'status.resync stays while the resync is unfinished');
    assert.equal(b.db.status.resync.round, 1);
    assert.ok(seen.some((r) => r.page === 0 && r.pages === 0), `the resync shown from its start: ${JSON.stringify(seen)}`);
    assert.ok(seen.some((r) => r.page === 2 && r.pages > 2), `pages of the resync shown: ${JSON.stringify(seen)}`);

    // ...and the next cycle goes on with it, shown from its first request, to the end.
    const pagesBefore = wire.resyncPages;
    // Written while the resumed resync's first page travels: pending through the rest of it.
    wire.writeAt = pagesBefore + 1;
    wire.write = async () => {
      await b.db.put('notes', 'during', { title: 'written on b during the resync' });
      await b.db.patch('notes', 'old5', { title: 'changed on b during the resync' });
    };
    seen.length = 0;
    await b.db.sync();
    b.db.removeEventListener('status', onStatus);
    assert.equal(b.db.status.error, null, `status.error: ${JSON.stringify(b.db.status.error)}`);
    assert.equal(b.db.status.resync, undefined, 'status.resync is gone once the resync is done');
    assert.ok(wire.resyncPages > pagesBefore, 'the resync went on in the next cycle');
    assert.ok(seen.length > 0 && seen.every((r) => r.round >= 1), `the resumed resync is shown: ${JSON.stringify(seen)}`);
    const pages = seen.map((r) => r.page);
    assert.ok(pages.every((p, k) => k === 0 || p >= pages[k - 1]) && pages.at(-1) >= 3,
      `the resumed resync's pages shown in order: ${JSON.stringify(seen)}`);

    // The failed operation is still there, as it was.
    const failedAfter = await b.db.failedOps();
    assert.deepEqual(failedAfter.map((op) => [op.id, op.coll, op.rid, op.lastError]),
      failedBefore.map((op) => [op.id, op.coll, op.rid, op.lastError]));
    assert.equal(await b.db.recordState('lists', 'l1'), 'failed');
    // The writes made during the resync were pending through it, and are pushed afterwards.
    assert.equal(await b.db.get('notes', 'gone'), undefined, 'the record deleted on the server is gone from b');
    assert.deepEqual(await b.db.get('notes', 'during'), { title: 'written on b during the resync' });
    assert.equal(b.db.status.pendingOps, 2, 'the writes made during the resync wait for the next cycle');
    await b.db.sync();
    assert.equal(b.db.status.pendingOps, 0);
    assert.equal(await b.db.recordState('notes', 'during'), 'synced');
    assert.equal(await b.db.recordState('notes', 'before'), 'synced');

    await a.db.sync();
    const expected = await notesOf(a.db);
    assert.equal(expected.during, 'written on b during the resync');
    assert.equal(expected.before, 'written on b before it came back');
    assert.equal(expected.old5, 'changed on b during the resync');
    assert.equal(expected.old3, 'changed while b was away');
    assert.equal(expected.gone, undefined);
    assert.equal(Object.keys(expected).length, held - 1 + 30 + 2);
    assert.deepEqual(await notesOf(b.db), expected, 'both replicas hold the same notes');
  } finally {
    await a.db.close();
    await b.db.close();
  }
});

test('a replica ahead of a server restored from a backup (400 cursor) resyncs to it; pending work survives', async () => {
  const a = await openClient(server, 'alice');
  try {
    await a.db.put('notes', 'lost', { title: 'acknowledged after the backup was taken' });
    await a.db.sync();
    assert.equal(await a.db.recordState('notes', 'lost'), 'synced');
    restored = true;
    await a.db.put('notes', 'pending', { title: 'written after the restore' });
    await a.db.sync();
    assert.equal(a.db.status.error, null, `status.error: ${JSON.stringify(a.db.status.error)}`);
    // The server is the truth: what it lost is gone here too; what was pending went up.
    assert.equal(await a.db.get('notes', 'lost'), undefined);
    assert.equal(await a.db.recordState('notes', 'pending'), 'synced');
    const check = await openClient(server, 'bob');
    try {
      assert.deepEqual(await check.db.get('notes', 'pending'), { title: 'written after the restore' });
      assert.equal(await check.db.get('notes', 'lost'), undefined);
    } finally {
      await check.db.close();
    }
  } finally {
    restored = false;
    await a.db.close();
  }
});
