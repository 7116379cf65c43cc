// End to end: a tab closed while offline, with writes it could not push. The service worker
// queued the push; when the network returns it delivers it with no tab of the app open, and
// the app opened later finds the note synced. (Scenario 7 of issue 7.) A profile of its own:
// Background Sync belongs to a persistent profile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchProfile, askWorker, dispatchPushSync, waitUntil } from './sw-harness.js';
import { startAppServer, openApp, signIn, createNote, waitForBadge, serverNotesByTitle } from './e2e-harness.js';

test('the service worker delivers the writes of a tab closed while offline', { timeout: 120000 }, async (t) => {
  const server = await startAppServer();
  const profile = await launchProfile();
  t.after(async () => { await profile.close(); await server.close(); });
  const { context } = profile;
  const page = await openApp(context, server.url);
  await signIn(page);
  await createNote(page, { title: 'Pump house: weekly check', site: 'Pump house' });
  await waitForBadge(page, 'Pump house: weekly check', 'clean');

  await context.setOffline(true);
  await createNote(page, { title: 'Sump pump float sticks', site: 'Pump house', body: 'Float arm rubs the pit wall.', tags: 'pump' });
  await waitForBadge(page, 'Sump pump float sticks', 'local');
  await waitUntil(async () => (await askWorker(page, 'status')).queued >= 1, 15000, 'the push was not queued by the worker');
  await page.close();

  await context.setOffline(false);
  const blank = await context.newPage();
  await dispatchPushSync(blank, server.url);
  await waitUntil(async () => (await serverNotesByTitle(server.url)).has('Sump pump float sticks'), 15000, 'the server never got the note');
  const held = (await serverNotesByTitle(server.url)).get('Sump pump float sticks');
  assert.equal(held.body, 'Float arm rubs the pit wall.');
  assert.deepEqual(held.tags, ['pump']);

  // The app, opened again, learns that its write arrived.
  const again = await openApp(context, server.url);
  await waitForBadge(again, 'Sump pump float sticks', 'clean');
  await waitForBadge(again, 'Pump house: weekly check', 'clean');
});
