// End to end in Chromium, with real IndexedDB and the engine in its worker: a device stays
// offline, with writes of its own, while another device deletes and adds notes and the server
// compacts its log past the device's cursor. Back online, its pull is answered 410 `resync`;
// it resyncs (status.resync shows the pages), keeps and pushes its writes, and converges with
// the other device.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSyncServer } from '../../js/server/sync-server.js';
import { coreStoreOpener } from '../../js/server/core-store.js';
import { launchBrowser } from './e2e-harness.js';
import { openClientPage } from './client-fixtures.js';

const root = new URL('../../', import.meta.url);
const readJson = async (path) => JSON.parse(await readFile(new URL(path, root), 'utf8'));

let server, browser, dataDir;
const stores = {};
/** Answers of the server to pulls, as [device's request path, HTTP status]. */
const pullAnswers = [];

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'sloop-e2e-resync-'));
  const opener = coreStoreOpener({ dataDir, schema: await readJson('web/schema.json') });
  const sync = createSyncServer({
    users: await readJson('js/server/demo-users.json'),
    secret: randomBytes(32).toString('base64url'),
    openTenantStore: async (tenant) => (stores[tenant] = await opener(tenant)),
    staticFiles: true,
    // Sees every answer to a pull, answers nothing itself.
    handler: (req, res) => {
      if (req.url === '/v1/pull') res.once('finish', () => pullAnswers.push(res.statusCode));
      return false;
    },
  });
  server = { url: await sync.listen({ port: 0, host: '127.0.0.1' }), sync };
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  server?.sync.server.closeAllConnections();
  await server?.sync.close();
  for (const store of Object.values(stores)) await store.close();
  await rm(dataDir, { recursive: true, force: true });
});

/**
 * Opens alice's database `name` in `page` as `window.db`, signed in; `window.resyncSeen`
 * collects every status.resync the page is shown. Answers status.pendingOps.
 */
function openInPage(page, name, sync = {}) {
  return page.evaluate(async ({ name, sync }) => {
    const { openSignedIn } = await import('/tests/browser/client-page.js');
    window.db = await openSignedIn(name, 'alice', sync);
    window.resyncSeen = [];
    window.db.addEventListener('status', (e) => { if (e.detail.resync) window.resyncSeen.push(e.detail.resync); });
    return window.db.status.pendingOps;
  }, { name, sync });
}

/** A device: a page with storage of its own, alice's database open and synced. */
async function openDevice(name, sync = {}) {
  const device = await openClientPage(browser, server.url);
  await openInPage(device.page, name, sync);
  await device.page.evaluate(() => window.db.sync());
  return device;
}

/** Every note of the page's database, id -> title. */
const notesIn = (page) => page.evaluate(async () => Object.fromEntries((await window.db.query('notes')).map((r) => [r.id, r.doc.title])));

/** Forgets every tombstone the server holds for acme (the tenant of the demo user alice). */
async function compactEverything() {
  const version = JSON.parse(await stores.acme.pull(
    JSON.stringify({ v: 1, device: 'probe', cursor: 0, limit: 1000 }),
    JSON.stringify({ user: 'alice', device: 'probe', perms: { read: '*', write: '*', stepUp: false } }),
  )).cursor;
  assert.ok(version > 0);
  await stores.acme.compact(version);
}

test('a device offline past the compaction horizon resyncs, shows it, keeps and pushes its writes, and converges', { timeout: 120_000 }, async () => {
  const a = await openDevice('resync-a');
  const b = await openDevice('resync-b', { pullPage: 5 });
  try {
    assert.equal(await b.page.evaluate(() => window.db.runsIn), 'worker');
    await a.page.evaluate(async () => {
      for (let k = 0; k < 12; k++) await window.db.put('notes', `n${k}`, { title: `note ${k}` });
      await window.db.sync();
    });
    await b.page.evaluate(() => window.db.sync());
    assert.equal(Object.keys(await notesIn(b.page)).length, 12);

    // b goes offline and writes; its attempts to sync fail and its writes stay pending.
    await b.context.setOffline(true);
    const offline = await b.page.evaluate(async () => {
      await window.db.put('notes', 'b-new', { title: 'written on b offline' });
      await window.db.patch('notes', 'n4', { title: 'note 4, changed on b offline' });
      await window.db.delete('notes', 'n7');
      const error = await window.db.sync().then(() => null, (e) => e.kind);
      return { error, pending: window.db.status.pendingOps };
    });
    assert.deepEqual(offline, { error: 'network', pending: 3 });

    // Meanwhile a deletes one note, changes one and adds 25; the server compacts past b's cursor.
    await a.page.evaluate(async () => {
      await window.db.delete('notes', 'n1');
      await window.db.patch('notes', 'n2', { title: 'note 2, changed on a' });
      for (let k = 0; k < 25; k++) await window.db.put('notes', `a${k}`, { title: `added on a ${k}` });
      await window.db.sync();
    });
    await compactEverything();

    // b closes while offline and comes back online in a new session: what it wrote is read
    // back from IndexedDB, still pending. The pull is answered 410; b resyncs, pushes what it
    // wrote, and converges.
    await b.page.evaluate(() => window.db.close());
    pullAnswers.length = 0;
    await b.context.setOffline(false);
    await b.page.reload();
    assert.equal(await openInPage(b.page, 'resync-b', { pullPage: 5 }), 3);
    const after = await b.page.evaluate(async () => {
      await window.db.sync();
      const { status } = window.db;
      return {
        error: status.error, pending: status.pendingOps, failed: status.failedOps, resync: status.resync ?? null,
        seen: window.resyncSeen, states: [await window.db.recordState('notes', 'b-new'), await window.db.recordState('notes', 'n4')],
      };
    });
    assert.ok(pullAnswers.includes(410), `the server answered 410 resync: ${JSON.stringify(pullAnswers)}`);
    assert.equal(after.error, null);
    assert.equal(after.pending, 0, 'b pushed its writes');
    assert.equal(after.failed, 0);
    assert.equal(after.resync, null, 'status.resync is gone once the resync is done');
    assert.deepEqual(after.states, ['synced', 'synced']);
    assert.ok(after.seen.length > 0, 'status.resync was shown');
    assert.ok(after.seen.some((r) => r.round === 1 && r.pages >= 2 && r.page >= 1 && r.page <= r.pages),
      `status.resync showed pages: ${JSON.stringify(after.seen)}`);

    await a.page.evaluate(() => window.db.sync());
    const onA = await notesIn(a.page);
    assert.equal(onA['b-new'], 'written on b offline');
    assert.equal(onA.n4, 'note 4, changed on b offline');
    assert.equal(onA.n7, undefined, "b's delete reached a");
    assert.equal(onA.n1, undefined);
    assert.equal(onA.n2, 'note 2, changed on a');
    assert.equal(Object.keys(onA).length, 12 - 2 + 25 + 1);
    assert.deepEqual(await notesIn(b.page), onA, 'both devices hold the same notes');
  } finally {
    await a.context.close();
    await b.context.close();
  }
});
