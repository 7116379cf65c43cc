// Service worker updates (sw/sw.js, js/sw-client.js): a new version is announced to the page,
// waits for the user, and takes over with the queued pushes intact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildServiceWorker } from '../../sw/build.mjs';
import { startSwTest, openApp, pushFromPage, askWorker } from './sw-harness.js';

test('a new version is announced, waits for "reload to update", and keeps the queued push', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sloop-sw-update-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const next = await buildServiceWorker({ outfile: join(dir, 'sw.js'), salt: 'next' });
  const { server, context } = await startSwTest(t);
  const page = await openApp(context, server.url);
  const first = await askWorker(page, 'status');
  assert.notEqual(first.version, next.version);

  // A push the network swallows while the browser thinks it is online: Background Sync would
  // retry it only minutes later, so it is still queued across the update.
  const body = JSON.stringify({ v: 1, device: 'd7', ops: [{ id: 'd7:1', type: 'put', coll: 'notes', rid: 'n1' }] });
  server.setPushMode('drop');
  assert.equal(await pushFromPage(page, body), 'failed');
  assert.equal((await askWorker(page, 'status')).queued, 1);

  server.serveWorkerFrom(next.outfile);
  const banner = page.locator('#update');
  assert.equal(await banner.isVisible(), false);
  await page.evaluate(async () => (await navigator.serviceWorker.getRegistration()).update());
  await banner.waitFor({ state: 'visible', timeout: 10000 });
  // Installed but waiting: the old version still serves the page until the user chooses.
  assert.equal((await askWorker(page, 'status')).version, first.version);

  await Promise.all([page.waitForEvent('load'), banner.locator('button').click()]);
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
  const after = await askWorker(page, 'status');
  assert.equal(after.version, next.version);
  assert.equal(after.queued, 1);
  assert.equal(await banner.isVisible(), false);

  server.setPushMode('accept');
  assert.deepEqual(await askWorker(page, 'replayPushes'), { replayed: 1, queued: 0 });
  assert.deepEqual(server.pushes, [body]);
});
