// End to end, the demo app with its service worker against the real server run with a small
// body limit: a tab closed while offline leaves a push too large for the server in the
// worker's queue. Replayed with no tab open it is answered 413 `toobig` once and leaves the
// queue (nothing loops); nothing is lost, since the app still holds its operations: opened
// again, it halves the batch, the note that fits syncs, and the one over the limit is listed
// as a change that could not sync, with `toobig`, and is not sent again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSyncServer } from '../../js/server/sync-server.js';
import { coreStoreOpener } from '../../js/server/core-store.js';
import { launchProfile, askWorker, dispatchPushSync, waitUntil } from './sw-harness.js';
import { openApp, signIn, createNote, waitForBadge, serverNotesByTitle } from './e2e-harness.js';

const root = new URL('../../', import.meta.url);
const readJson = async (path) => JSON.parse(await readFile(new URL(path, root), 'utf8'));
const MAX_BODY_BYTES = 4096;

/** The app's server with a 4 KiB body limit; `pushAnswers` holds the status of every push answered. */
async function startSmallServer() {
  const dataDir = await mkdtemp(join(tmpdir(), 'sloop-e2e-toobig-'));
  const pushAnswers = [];
  const sync = createSyncServer({
    users: await readJson('js/server/demo-users.json'),
    secret: randomBytes(32).toString('base64url'),
    openTenantStore: coreStoreOpener({ dataDir, schema: await readJson('web/schema.json') }),
    staticFiles: true,
    limits: { maxBodyBytes: MAX_BODY_BYTES },
    handler: (req, res) => {
      if (req.url === '/v1/push') res.once('finish', () => pushAnswers.push(res.statusCode));
      return false;
    },
  });
  const url = await sync.listen({ port: 0, host: '127.0.0.1' });
  return {
    url,
    pushAnswers,
    close: async () => {
      sync.server.closeAllConnections();
      await sync.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('a queued push over the body limit is answered 413 once; the app reopened narrows it and fails only the note too large', { timeout: 120000 }, async (t) => {
  const server = await startSmallServer();
  const profile = await launchProfile();
  t.after(async () => { await profile.close(); await server.close(); });
  const { context } = profile;
  const page = await openApp(context, server.url);
  await signIn(page);

  // The large note first, alone in the first push the worker queues; the small one joins it
  // in the next (a failed push returns its operations to the queue, ahead of newer ones).
  await context.setOffline(true);
  await createNote(page, { title: 'Full survey log', site: 'Plant B', body: 'Reading. '.repeat(MAX_BODY_BYTES / 4) });
  await waitUntil(async () => (await askWorker(page, 'status')).queued >= 1, 15000, 'the push was not queued by the worker');
  await createNote(page, { title: 'Gauge 3 reads low', site: 'Plant B' });
  await waitUntil(async () => (await askWorker(page, 'status')).queued >= 2, 15000, 'the second push was not queued by the worker');
  await waitForBadge(page, 'Gauge 3 reads low', 'local');
  await waitForBadge(page, 'Full survey log', 'local');
  const queued = (await askWorker(page, 'status')).queued;
  await page.close();

  // No tab open: the worker replays what it queued; the push with the large note is refused.
  await context.setOffline(false);
  const blank = await context.newPage();
  await dispatchPushSync(blank, server.url);
  // `queued` was read before the tab closed; a retry of the page's own scheduler may still have
  // queued one more push before it did, so the replay is at least that many pushes.
  await waitUntil(() => server.pushAnswers.length >= queued, 15000, `the queued pushes were not replayed: ${JSON.stringify(server.pushAnswers)}`);
  await sleep(1500);
  const replayed = server.pushAnswers.length;
  assert.deepEqual(server.pushAnswers, Array(replayed).fill(413), 'every queued push held the large note');
  await sleep(1500);
  assert.equal(server.pushAnswers.length, replayed, `the replay ended, nothing was sent again: ${JSON.stringify(server.pushAnswers)}`);
  assert.equal((await serverNotesByTitle(server.url)).has('Full survey log'), false);

  // The app, opened again, still holds both notes and pushes them itself, halving the batch.
  const again = await openApp(context, server.url);
  await waitForBadge(again, 'Gauge 3 reads low', 'clean');
  // The refused note is listed as a change that could not sync (reads show the record without
  // it: a note only this device had is not in the list), to retry or discard.
  const failed = again.locator('#failed-ops li');
  await failed.waitFor();
  assert.equal(await failed.count(), 1);
  assert.match(await failed.locator('.error').textContent(), /^toobig: body of \d+ bytes is over the 4096-byte limit/);
  const held = await serverNotesByTitle(server.url);
  assert.equal(held.get('Gauge 3 reads low')?.site, 'Plant B');
  assert.equal(held.has('Full survey log'), false);
  assert.equal((await askWorker(again, 'status')).queued, 0, 'nothing left in the worker queue');

  // Nothing is sent again by itself: a later sync pushes nothing (the failed note stays failed).
  const answered = server.pushAnswers.length;
  await again.reload();
  await again.locator('#failed-ops li').waitFor();
  await waitForBadge(again, 'Gauge 3 reads low', 'clean');
  await sleep(1500);
  assert.deepEqual(server.pushAnswers.slice(answered), [], 'the failed note was not pushed again');
});
