// End to end, two devices of one user (two browser contexts), both offline, editing the same
// note: each field merges by its policy, and the status, under manual resolution, opens the
// conflict view; the decision reaches both devices and the server. (Scenario 3 of issue 7.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useAppServerAndBrowser, newDevice, createNote, openNote, editField, addTag, row,
  waitForBadge, serverNotesByTitle, screenshot,
} from './e2e-harness.js';

const TITLE = 'Cooling tower 2: fan vibration';

const env = useAppServerAndBrowser();

/** Clicks "Add a vote" n times, waiting for the count each time. */
async function vote(page, times) {
  for (let i = 0; i < times; i++) {
    const before = Number(await page.locator('#note-votes').textContent());
    await page.getByRole('button', { name: 'Add a vote' }).click();
    await page.locator('#note-votes', { hasText: String(before + 1) }).waitFor();
  }
}

/** Syncs now (the header's button) and waits until the note has no sync badge. */
async function syncNow(page, title) {
  await page.getByRole('button', { name: 'Sync now' }).click();
  await waitForBadge(page, title, 'synced');
}

test('concurrent offline edits: text, tags and votes merge; status asks a person', { timeout: 150000 }, async () => {
  const a = await newDevice(env.browser, env.server.url);
  const b = await newDevice(env.browser, env.server.url);
  await createNote(a.page, { title: TITLE, site: 'North yard', body: 'Vibration at 40 Hz.', tags: 'fan' });
  await waitForBadge(a.page, TITLE, 'clean');
  await b.page.getByRole('button', { name: 'Sync now' }).click();
  await row(b.page, TITLE).waitFor({ timeout: 20000 });

  await a.context.setOffline(true);
  await b.context.setOffline(true);
  await openNote(a.page, TITLE);
  await openNote(b.page, TITLE);
  await editField(a.page, 'Site', 'North yard, cell 3');
  await editField(b.page, 'Findings', 'Vibration at 40 Hz; a blade is chipped.');
  await addTag(a.page, 'urgent');
  await addTag(b.page, 'blade');
  await vote(a.page, 2);
  await vote(b.page, 3);
  await a.page.getByLabel('Status').selectOption('in-progress');
  await b.page.getByLabel('Status').selectOption('fixed');
  await waitForBadge(a.page, TITLE, 'local');
  await waitForBadge(b.page, TITLE, 'local');

  // A syncs first; B's status then meets A's on the server and waits for a decision.
  await a.context.setOffline(false);
  await waitForBadge(a.page, TITLE, 'clean');
  await b.context.setOffline(false);
  const conflictsB = b.page.locator('#conflicts');
  await conflictsB.waitFor({ state: 'visible', timeout: 20000 });
  assert.match(await conflictsB.textContent(), /Needs your decision \(1\)/);
  const versions = conflictsB.locator('.version');
  assert.match(await versions.nth(0).textContent(), /Server version.*In progress/s);
  assert.match(await versions.nth(1).textContent(), /Incoming version.*Fixed/s);
  assert.equal(await row(b.page, TITLE).locator('[data-badge="conflict"]').textContent(), 'Needs decision');
  await screenshot(b.page, 'conflict-view');

  // A learns of the conflict on its next sync, too.
  await a.page.getByRole('button', { name: 'Sync now' }).click();
  await a.page.locator('#conflicts').waitFor({ state: 'visible', timeout: 20000 });

  // Every other field merged by itself, on both devices and on the server.
  await syncNow(b.page, TITLE);
  await syncNow(a.page, TITLE);
  let held = (await serverNotesByTitle(env.server.url)).get(TITLE);
  assert.equal(held.site, 'North yard, cell 3');
  assert.equal(held.body, 'Vibration at 40 Hz; a blade is chipped.');
  assert.deepEqual(held.tags.sort(), ['blade', 'fan', 'urgent']);
  assert.equal(held.votes, 5);
  for (const { page } of [a, b]) {
    assert.equal(await page.getByLabel('Site', { exact: true }).inputValue(), 'North yard, cell 3');
    assert.equal(await page.getByLabel('Findings', { exact: true }).inputValue(), 'Vibration at 40 Hz; a blade is chipped.');
    assert.equal(await page.locator('#note-votes').textContent(), '5');
    assert.deepEqual((await page.locator('.chips li > span').allTextContents()).sort(), ['blade', 'fan', 'urgent']);
  }

  // B merges: neither side's value, a third one.
  await conflictsB.getByLabel('Or set status to').selectOption('wont-fix');
  await conflictsB.getByRole('button', { name: 'Use this value' }).click();
  await conflictsB.waitFor({ state: 'hidden', timeout: 20000 });
  await syncNow(b.page, TITLE);
  await a.page.getByRole('button', { name: 'Sync now' }).click();
  await a.page.locator('#conflicts').waitFor({ state: 'hidden', timeout: 20000 });
  for (const { page } of [a, b]) {
    await page.waitForFunction(() => document.querySelector('#note-status').value === 'wont-fix', null, { timeout: 20000 });
  }
  held = (await serverNotesByTitle(env.server.url)).get(TITLE);
  assert.equal(held.status, 'wont-fix');
  assert.equal(held.votes, 5);
  await a.context.close();
  await b.context.close();
});
