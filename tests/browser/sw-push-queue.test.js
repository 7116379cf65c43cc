// The push queue (sw/push-queue.js): a push that fails for lack of network waits in the
// worker and reaches the server when the network returns, with or without a tab of the app.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildServiceWorker } from '../../sw/build.mjs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startSwTest, openApp, pushFromPage, askWorker, dispatchPushSync, waitUntil,
} from './sw-harness.js';

const pushBody = (n) => JSON.stringify({ v: 1, device: 'd7', ops: [{ id: `d7:${n}`, type: 'put', coll: 'notes', rid: `n${n}` }] });

/** Opens the app, goes offline and pushes `body`; asserts the worker queued it. */
async function queueOfflinePush(context, server, body) {
  const page = await openApp(context, server.url);
  await context.setOffline(true);
  assert.equal(await pushFromPage(page, body), 'failed');
  assert.equal((await askWorker(page, 'status')).queued, 1);
  assert.deepEqual(server.pushes, []);
  return page;
}

/** Waits until the server has received `count` pushes. */
const serverReceived = (server, count) =>
  waitUntil(() => server.pushes.length >= count, 10000, `the server got ${server.pushes.length} of ${count} pushes`);

test('an offline push is queued and replayed by a sync event dispatched through CDP', async (t) => {
  const { server, context } = await startSwTest(t);
  const body = pushBody(1);
  const page = await queueOfflinePush(context, server, body);
  await page.evaluate(async () => {
    const { registerServiceWorker } = await import('/js/sw-client.js');
    window.replayed = [];
    await registerServiceWorker({ onPushReplayed: (outcome) => window.replayed.push(outcome.status) });
  });
  // Back online without telling Background Sync: only the dispatched event can replay.
  server.setPushMode('drop');
  await context.setOffline(false);
  server.setPushMode('accept');
  await dispatchPushSync(page, server.url);
  await serverReceived(server, 1);
  await page.waitForFunction(() => window.replayed.length === 1);
  assert.deepEqual(await page.evaluate(() => window.replayed), [200]);
  assert.deepEqual(server.pushes, [body]);
  assert.equal((await askWorker(page, 'status')).queued, 0);
});

test('an offline push is replayed when the browser goes back online', async (t) => {
  const { server, context } = await startSwTest(t);
  const body = pushBody(2);
  const page = await queueOfflinePush(context, server, body);
  await context.setOffline(false);
  await serverReceived(server, 1);
  assert.deepEqual(server.pushes, [body]);
  assert.equal((await askWorker(page, 'status')).queued, 0);
});

test('a push queued by a tab that was closed reaches the server with no tab open', async (t) => {
  const { server, context } = await startSwTest(t);
  const body = pushBody(3);
  await queueOfflinePush(context, server, body);
  for (const page of context.pages()) await page.close();
  assert.equal(context.pages().length, 0);
  await context.setOffline(false);
  await serverReceived(server, 1);
  assert.deepEqual(server.pushes, [body]);
});

test('a push queued by a closed tab is replayed by a sync event dispatched from a page of another site', async (t) => {
  const { server, context } = await startSwTest(t);
  const body = pushBody(4);
  await queueOfflinePush(context, server, body);
  for (const page of context.pages()) await page.close();
  server.setPushMode('drop');
  await context.setOffline(false);
  const blank = await context.newPage();
  assert.equal(blank.url(), 'about:blank');
  server.setPushMode('accept');
  await dispatchPushSync(blank, server.url);
  await serverReceived(server, 1);
  assert.deepEqual(server.pushes, [body]);
});

test('queued pushes leave in the order they were made, ahead of a new push', async (t) => {
  const { server, context } = await startSwTest(t);
  const page = await openApp(context, server.url);
  server.setPushMode('drop');
  const bodies = [pushBody(5), pushBody(6), pushBody(7)];
  assert.equal(await pushFromPage(page, bodies[0]), 'failed');
  assert.equal(await pushFromPage(page, bodies[1]), 'failed');
  assert.equal((await askWorker(page, 'status')).queued, 2);
  server.setPushMode('accept');
  assert.equal(await pushFromPage(page, bodies[2]), 'status 200');
  assert.deepEqual(server.pushes, bodies);
  assert.equal((await askWorker(page, 'status')).queued, 0);
});

test('a replay requested while the network is still down keeps the push queued', async (t) => {
  const { server, context } = await startSwTest(t);
  const body = pushBody(8);
  const page = await queueOfflinePush(context, server, body);
  server.setPushMode('drop');
  await context.setOffline(false);
  await assert.rejects(askWorker(page, 'replayPushes'));
  assert.equal((await askWorker(page, 'status')).queued, 1);
  server.setPushMode('accept');
  assert.deepEqual(await askWorker(page, 'replayPushes'), { replayed: 1, queued: 0 });
  assert.deepEqual(server.pushes, [body]);
});

test('without Background Sync the page detects it and replays the queue when it goes online', async (t) => {
  // Chromium cannot switch the API off, so both sides hide it, as Firefox and Safari lack it.
  const hide = 'delete ServiceWorkerRegistration.prototype.sync;';
  const dir = await mkdtemp(join(tmpdir(), 'sloop-sw-nosync-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { outfile } = await buildServiceWorker({ outfile: join(dir, 'sw.js'), banner: hide });
  const { server, context } = await startSwTest(t);
  server.serveWorkerFrom(outfile);
  await context.addInitScript(hide);
  const page = await openApp(context, server.url);
  const detected = await page.evaluate(async () => {
    const { registerServiceWorker } = await import('/js/sw-client.js');
    window.sw = await registerServiceWorker();
    return window.sw.backgroundSync;
  });
  assert.equal(detected, false);
  assert.equal((await askWorker(page, 'status')).backgroundSync, false);
  const body = pushBody(9);
  await context.setOffline(true);
  assert.equal(await pushFromPage(page, body), 'failed');
  assert.equal((await askWorker(page, 'status')).queued, 1);
  await context.setOffline(false);
  await serverReceived(server, 1);
  assert.deepEqual(server.pushes, [body]);
});

test('a replay stuck on a server that never answers rejects after the answer timeout, and the push still arrives once', { timeout: 60000 }, async (t) => {
  const { server, context } = await startSwTest(t);
  const body = pushBody(10);
  const page = await queueOfflinePush(context, server, body);
  server.setPushMode('stall');
  await context.setOffline(false); // the worker's sync event replays, and the push hangs on the wire
  await waitUntil(() => server.stalledPushes() >= 1, 10000, 'the replayed push reached the stalling server');
  const outcome = await page.evaluate(async () => {
    const { registerServiceWorker } = await import('/js/sw-client.js');
    const sw = await registerServiceWorker({ answerTimeoutMs: 1500 });
    const started = Date.now();
    // The test's own bound: without the answer timeout the replay would wait for ever.
    const never = new Promise((resolve) => setTimeout(() => resolve({ hung: true }), 15000));
    try {
      const result = await Promise.race([sw.replayPushes().then((r) => ({ answered: r }), (e) => ({ rejected: e.message })), never]);
      return { ...result, ms: Date.now() - started };
    } finally {
      sw.close();
    }
  });
  assert.match(outcome.rejected ?? JSON.stringify(outcome), /did not answer within 1500 ms/);
  assert.ok(outcome.ms >= 1400 && outcome.ms < 10000, `rejected after ${outcome.ms} ms`);
  assert.deepEqual(server.pushes, [], 'nothing was delivered');
  // The stuck push's connection is cut: Chromium sends it again at once, or it fails and goes
  // back to the queue for the next replay. Either way it arrives, once.
  server.setPushMode('accept');
  server.releaseStalled();
  await waitUntil(async () => server.pushes.length > 0 || (await askWorker(page, 'status')).queued === 1, 20000,
    'the push delivered or back in the queue');
  if (server.pushes.length === 0) assert.deepEqual(await askWorker(page, 'replayPushes'), { replayed: 1, queued: 0 });
  assert.deepEqual(server.pushes, [body]);
  assert.equal((await askWorker(page, 'status')).queued, 0);
});
