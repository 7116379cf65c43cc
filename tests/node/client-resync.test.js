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
