// End to end, one device: the app starts offline from its cache, keeps offline writes across a
// reload, syncs them when the network returns, and a device whose local data is wiped gets
// every synced note back from the server. (Scenarios 1, 2 and 5 of issue 7.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useAppServerAndBrowser, newDevice, signIn, createNote, openNote, editField, addTag, row,
  waitForBadge, listedTitles, serverNotesByTitle, screenshot,
} from './e2e-harness.js';

const env = useAppServerAndBrowser();

test('offline writes are kept across a reload, sync when online, and survive a wiped device', { timeout: 120000 }, async () => {
  const { context, page } = await newDevice(env.browser, env.server.url);
  await createNote(page, { title: 'Boiler room: inspection log', site: 'Plant A', tags: 'boiler' });
  await waitForBadge(page, 'Boiler room: inspection log', 'clean');

  // 1. Offline: the app reloads from the service worker's cache and says it is offline.
  await context.setOffline(true);
  await page.reload();
  await page.locator('#offline-banner').waitFor({ state: 'visible', timeout: 15000 });
  assert.match(await page.locator('#offline-banner').textContent(), /You are offline/);
  assert.deepEqual(await listedTitles(page), ['Boiler room: inspection log']);

  await createNote(page, { title: 'Valve 12 weeps at the stem', site: 'Plant A', body: 'Small drip every few seconds.', tags: 'valve, leak' });
  await openNote(page, 'Boiler room: inspection log');
  await editField(page, 'Findings', 'Burner cleaned; flue temperature normal.');
  await addTag(page, 'checked');
  await waitForBadge(page, 'Valve 12 weeps at the stem', 'local');
  await waitForBadge(page, 'Boiler room: inspection log', 'local');
  assert.equal(await row(page, 'Valve 12 weeps at the stem').locator('[data-badge]').textContent(), 'Saving locally');
  assert.match(await page.locator('#offline-banner').textContent(), /3 changes saved on this device/);
  await screenshot(page, 'offline-badges');

  // A reload while still offline keeps them, still marked as local.
  await page.reload();
  await page.locator('#offline-banner').waitFor({ state: 'visible', timeout: 15000 });
  await waitForBadge(page, 'Valve 12 weeps at the stem', 'local');
  await waitForBadge(page, 'Boiler room: inspection log', 'local');
  assert.equal((await serverNotesByTitle(env.server.url)).has('Valve 12 weeps at the stem'), false);

  // 2. Online again: the writes sync, the badges turn clean, the server holds them.
  await context.setOffline(false);
  await waitForBadge(page, 'Valve 12 weeps at the stem', 'clean');
  await waitForBadge(page, 'Boiler room: inspection log', 'clean');
  await page.locator('#offline-banner').waitFor({ state: 'hidden' });
  const held = await serverNotesByTitle(env.server.url);
  assert.equal(held.get('Valve 12 weeps at the stem').body, 'Small drip every few seconds.');
  assert.deepEqual(held.get('Valve 12 weeps at the stem').tags.sort(), ['leak', 'valve']);
  assert.equal(held.get('Boiler room: inspection log').body, 'Burner cleaned; flue temperature normal.');
  assert.deepEqual(held.get('Boiler room: inspection log').tags.sort(), ['boiler', 'checked']);
  assert.equal(held.get('Valve 12 weeps at the stem').createdBy, 'alice');

  // 5. Recovery: clear the site's data (storage, caches, service worker) and start again.
  const cdp = await context.newCDPSession(page);
  await cdp.send('Storage.clearDataForOrigin', { origin: env.server.url, storageTypes: 'all' });
  await cdp.detach();
  await page.reload();
  await signIn(page);
  await waitForBadge(page, 'Valve 12 weeps at the stem', 'clean');
  await waitForBadge(page, 'Boiler room: inspection log', 'clean');
  assert.deepEqual((await listedTitles(page)).sort(), [...held.keys()].sort());
  await openNote(page, 'Boiler room: inspection log');
  assert.equal(await page.getByLabel('Findings', { exact: true }).inputValue(), 'Burner cleaned; flue temperature normal.');
  await context.close();
});
