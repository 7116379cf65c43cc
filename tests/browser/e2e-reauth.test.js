// End to end: both tokens expire while the device is offline. Back online, sync stops and the
// re-auth prompt appears; the pending changes stay, shown as such; after the password they
// sync. The server issues short-lived tokens for this. (Scenario 4 of issue 7.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useAppServerAndBrowser, newDevice, createNote, openNote, editField, waitForBadge,
  serverNotesByTitle, screenshot, PASSWORD,
} from './e2e-harness.js';

// Access tokens live 4 s, offline tokens 8 s: long enough to sign in and sync once.
const OFFLINE_TTL_MS = 8000;

const env = useAppServerAndBrowser({ accessTtlMs: 4000, offlineTtlMs: OFFLINE_TTL_MS });

test('a session that expired offline asks for the password, keeps the work, then syncs it', { timeout: 120000 }, async () => {
  const { context, page } = await newDevice(env.browser, env.server.url);
  await createNote(page, { title: 'Loading dock lights', site: 'Warehouse', tags: 'electrical' });
  await waitForBadge(page, 'Loading dock lights', 'clean');

  await context.setOffline(true);
  const offlineAt = Date.now();
  await page.locator('#offline-banner').waitFor({ state: 'visible' });
  await createNote(page, { title: 'Dock door 3 sensor misaligned', site: 'Warehouse', tags: 'door' });
  await openNote(page, 'Loading dock lights');
  await editField(page, 'Findings', 'Two tubes out above bay 4.');
  await waitForBadge(page, 'Dock door 3 sensor misaligned', 'local');
  await waitForBadge(page, 'Loading dock lights', 'local');

  // Every token issued before the device went offline runs out during the offline window.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, offlineAt + OFFLINE_TTL_MS + 500 - Date.now())));
  await context.setOffline(false);
  const dialog = page.getByRole('dialog', { name: 'Your session expired' });
  await dialog.waitFor({ timeout: 20000 });
  assert.match(await dialog.textContent(), /Nothing is lost: 2 changes saved on this device/);
  // The dialog moves focus to its password field once it is shown, which may be a task after
  // the dialog is in the accessibility tree: wait for it (a failure is a timeout here).
  await page.waitForFunction(() => document.activeElement?.id === 'reauth-password', null, { timeout: 5000 });
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'reauth-password');
  await waitForBadge(page, 'Dock door 3 sensor misaligned', 'local');
  await waitForBadge(page, 'Loading dock lights', 'local');
  await screenshot(page, 'reauth-prompt');
  assert.equal((await serverNotesByTitle(env.server.url)).has('Dock door 3 sensor misaligned'), false);

  // "Later" keeps the work and a way back to the prompt.
  await dialog.getByRole('button', { name: 'Later' }).click();
  await page.locator('#auth-banner').waitFor({ state: 'visible' });
  await page.locator('#auth-banner').getByRole('button', { name: 'Sign in' }).click();
  await dialog.getByLabel('Password for alice').fill('wrong password');
  await dialog.getByRole('button', { name: 'Sign in and sync' }).click();
  await dialog.getByText('That user name and password do not match.').waitFor();

  await dialog.getByLabel('Password for alice').fill(PASSWORD('alice'));
  await dialog.getByRole('button', { name: 'Sign in and sync' }).click();
  await dialog.waitFor({ state: 'hidden' });
  await waitForBadge(page, 'Dock door 3 sensor misaligned', 'clean');
  await waitForBadge(page, 'Loading dock lights', 'clean');
  await page.locator('#auth-banner').waitFor({ state: 'hidden' });
  const held = await serverNotesByTitle(env.server.url);
  assert.equal(held.get('Dock door 3 sensor misaligned').site, 'Warehouse');
  assert.equal(held.get('Loading dock lights').body, 'Two tubes out above bay 4.');
  await context.close();
});
