// A replica whose cursor is older than the server keeps (410 `resync`) resyncs by itself and
// converges, through the public API against the real server: without it the replica could
// never pull again.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSyncServer } from '../../js/server/sync-server.js';
import { storeOpener } from './test-store.js';
import { openClient, schema, users } from './client-harness.js';

const dataDir = mkdtempSync(join(tmpdir(), 'sloop-resync-'));
const stores = {};
const opener = await storeOpener({ dataDir, schema });
const sync = createSyncServer({
  users, secret: 'client-resync-secret-0123456789abcdef0123456789',
  openTenantStore: async (tenant) => (stores[tenant] = await opener(tenant)),
});
const server = { url: await sync.listen({ port: 0 }) };
after(async () => {
  await sync.close();
  await opener.close();
  rmSync(dataDir, { recursive: true, force: true });
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
    const version = JSON.parse(await stores.acme.pull(
      JSON.stringify({ v: 1, device: 'probe', cursor: 0, limit: 1000 }),
      JSON.stringify({ user: 'alice', device: 'probe', perms: { read: '*', write: '*', stepUp: false } }),
    )).cursor;
    assert.ok(version > 0);
    await stores.acme.compact(version);
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
