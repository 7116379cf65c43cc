// End to end, the findings of a note as a text field, two devices of one user (two browser
// contexts): online, one device's typing shows on the other within a sync cycle; offline,
// both type a sentence at the same place, key by key, and once both are back each sentence is
// whole on both devices and the server, and a device's caret stays after its own sentence
// when the other's arrives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useAppServerAndBrowser, newDevice, createNote, openNote, row, waitForBadge, serverNotesByTitle, screenshot,
} from './e2e-harness.js';

const TITLE = 'Valve 7: pressure check';
/** The app syncs every 30 s while visible (js/client/scheduler.js): one cycle, and slack. */
const SYNC_CYCLE_MS = 45_000;

const env = useAppServerAndBrowser();

/** The findings textarea as the page has it: value, selection, whether it has the focus. */
function findings(page) {
  return page.evaluate(() => {
    const area = document.querySelector('#note-body');
    return { value: area.value, start: area.selectionStart, end: area.selectionEnd, focused: document.activeElement === area };
  });
}

/** Puts the caret at the end of the findings and types `text` key by key. */
async function typeAtEnd(page, text) {
  await page.locator('#note-body').click();
  await page.keyboard.press('Control+End');
  await page.keyboard.type(text, { delay: 15 });
}

/** Resolves once the findings on `page` pass `predicate(value)`; fails after `timeout` ms. */
async function findingsBecome(page, predicate, timeout) {
  const source = `(${predicate})(document.querySelector('#note-body')?.value ?? '')`;
  await page.waitForFunction(source, null, { timeout, polling: 100 });
}

test('findings: typing shows on the other device online; offline sentences at one place merge whole', { timeout: 180_000 }, async () => {
  const a = await newDevice(env.browser, env.server.url);
  const b = await newDevice(env.browser, env.server.url);
  await createNote(a.page, { title: TITLE, site: 'Pump house', body: 'Valve ok.' });
  await waitForBadge(a.page, TITLE, 'clean');
  await b.page.getByRole('button', { name: 'Sync now' }).click();
  await row(b.page, TITLE).waitFor({ timeout: 20_000 });
  await openNote(a.page, TITLE);
  await openNote(b.page, TITLE);
  assert.equal((await findings(b.page)).value, 'Valve ok.');

  // (a) Online: A types; B sees it after its next automatic sync, with no click.
  const steady = ' Pressure steady.';
  await typeAtEnd(a.page, steady);
  await findingsBecome(b.page, `(v) => v === ${JSON.stringify(`Valve ok.${steady}`)}`, SYNC_CYCLE_MS);
  await waitForBadge(a.page, TITLE, 'clean');

  // (b) Offline, both type a sentence at the end of the same paragraph.
  const base = `Valve ok.${steady}`;
  const ann = ' Ann checked the gauge.';
  const bob = ' Bob saw a small leak.';
  await a.context.setOffline(true);
  await b.context.setOffline(true);
  await typeAtEnd(a.page, ann);
  await typeAtEnd(b.page, bob);
  assert.equal((await findings(a.page)).value, base + ann);
  assert.equal((await findings(b.page)).value, base + bob);
  await waitForBadge(a.page, TITLE, 'local');
  await waitForBadge(b.page, TITLE, 'local');

  // A comes back first and pushes; B comes back, pushes, and pulls A's sentence while its
  // caret is after its own.
  await a.context.setOffline(false);
  await waitForBadge(a.page, TITLE, 'clean');
  await b.context.setOffline(false);
  const both = (v) => v.includes(' Ann checked the gauge.') && v.includes(' Bob saw a small leak.');
  await findingsBecome(b.page, both, 20_000);
  const onB = await findings(b.page);
  assert.equal(onB.value.length, base.length + ann.length + bob.length, onB.value);
  assert.ok(onB.value.startsWith(base), onB.value);
  assert.ok(onB.focused);
  const afterBob = onB.value.indexOf(bob) + bob.length;
  assert.deepEqual([onB.start, onB.end], [afterBob, afterBob], `B's caret after its sentence in ${JSON.stringify(onB.value)}`);
  await waitForBadge(b.page, TITLE, 'clean');

  // A gets B's sentence on its next cycle; its caret stays after its own sentence.
  await findingsBecome(a.page, `(v) => v === ${JSON.stringify(onB.value)}`, SYNC_CYCLE_MS);
  const onA = await findings(a.page);
  assert.ok(onA.focused);
  const afterAnn = onA.value.indexOf(ann) + ann.length;
  assert.deepEqual([onA.start, onA.end], [afterAnn, afterAnn], `A's caret after its sentence in ${JSON.stringify(onA.value)}`);
  assert.equal((await serverNotesByTitle(env.server.url)).get(TITLE).body, onB.value);
  await screenshot(a.page, 'text-merged');
  await a.context.close();
  await b.context.close();
});
