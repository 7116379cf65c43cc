// End to end: the sign-in screen says when the device is offline (signing in needs the network;
// a device that signed in before opens offline), its button says so too, and both go when the
// network returns; an attempt that finds no network while the browser thinks it is online says
// the same. A device that signed in before opens offline straight into its notes, in a reload
// and in a new tab. (Requirement 5 of issue 18.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  useAppServerAndBrowser, openApp, signIn, newDevice, createNote, waitForBadge, listedTitles,
  screenshot, PASSWORD,
} from './e2e-harness.js';

const env = useAppServerAndBrowser();

/** The sign-in screen's network note, its live-region roles, and the button's state. */
function signInScreen(page) {
  return page.evaluate(() => {
    const note = document.getElementById('login-offline');
    const button = document.getElementById('login-submit');
    const described = (button.getAttribute('aria-describedby') ?? '').split(/\s+/).map((id) => document.getElementById(id)?.textContent ?? '').join(' ').trim();
    // WCAG contrast of the note's text on its own background (e2e-a11y.test.js audits the rest).
    const rgb = (c) => c.match(/[\d.]+/g).map(Number).slice(0, 3);
    const lum = (c) => rgb(c).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
      .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    const style = getComputedStyle(note);
    const [a, b] = [lum(style.color), lum(style.backgroundColor)];
    return {
      shown: !document.getElementById('login-view').hidden,
      note: note.textContent,
      noteVisible: note.textContent !== '' && note.getClientRects().length > 0,
      role: note.getAttribute('role'),
      live: note.getAttribute('aria-live'),
      buttonDisabled: button.getAttribute('aria-disabled') === 'true' || button.disabled,
      buttonDescription: described,
      error: document.getElementById('login-error').textContent,
      noteContrast: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05),
    };
  });
}

const OFFLINE_NOTE = /^You are offline\. Signing in needs the network\. Once signed in, this device opens your notes without a connection\.$/;

test('the sign-in screen says it is offline, refuses to try, and signs in once back online', { timeout: 90000 }, async () => {
  const context = await env.browser.newContext();
  const page = await openApp(context, env.server.url);
  await page.locator('#login-view').waitFor({ state: 'visible' });
  let screen = await signInScreen(page);
  assert.equal(screen.note, '', 'nothing to say while online');
  assert.equal(screen.buttonDisabled, false);
  assert.equal(screen.role, 'status');
  assert.equal(screen.live, 'polite');

  // Going offline with the screen open: the note appears, the button is disabled and described by it.
  await context.setOffline(true);
  await page.waitForFunction(() => document.getElementById('login-offline').textContent !== '', null, { timeout: 10000 });
  screen = await signInScreen(page);
  assert.match(screen.note, OFFLINE_NOTE);
  assert.equal(screen.noteVisible, true);
  assert.ok(screen.noteContrast >= 4.5, `the note's contrast is ${screen.noteContrast.toFixed(2)}:1`);
  assert.equal(screen.buttonDisabled, true);
  assert.match(screen.buttonDescription, OFFLINE_NOTE);
  assert.equal(await page.getByRole('status').filter({ hasText: 'Signing in needs the network' }).count(), 1);

  // Started offline (served by the service worker): the same from the first paint.
  await page.reload();
  await page.locator('#login-view').waitFor({ state: 'visible', timeout: 15000 });
  screen = await signInScreen(page);
  assert.match(screen.note, OFFLINE_NOTE);
  assert.equal(screen.buttonDisabled, true);
  await screenshot(page, 'signin-offline');

  // Enter in the password field submits the form anyway: nothing is tried, an alert says why.
  let loginRequests = 0;
  page.on('request', (r) => { if (new URL(r.url()).pathname === '/v1/login') loginRequests++; });
  await page.getByLabel('User name').fill('alice');
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD('alice'));
  await page.getByLabel('Password', { exact: true }).press('Enter');
  await page.getByRole('alert').filter({ hasText: 'You are offline: connect to the network to sign in.' }).waitFor();
  assert.equal(loginRequests, 0);
  assert.equal((await signInScreen(page)).shown, true);
  assert.equal(await page.locator('#notes-view').isHidden(), true);

  // Back online: the note, the alert and the button's state go; signing in works.
  await context.setOffline(false);
  await page.waitForFunction(() => document.getElementById('login-offline').textContent === '', null, { timeout: 10000 });
  screen = await signInScreen(page);
  assert.equal(screen.buttonDisabled, false);
  assert.equal(screen.error, '');
  assert.equal(screen.noteVisible, false);
  await signIn(page);
  assert.equal(loginRequests, 1);
  await context.close();
});

test('a sign-in that finds no network while the browser reports one says so, and may be tried again', { timeout: 90000 }, async () => {
  const context = await env.browser.newContext();
  const page = await openApp(context, env.server.url);
  await page.locator('#login-view').waitFor({ state: 'visible' });
  // The server cannot be reached, though navigator.onLine stays true (a captive portal, a dead link).
  await page.route('**/v1/login', (route) => route.abort('internetdisconnected'));
  await page.getByLabel('User name').fill('alice');
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD('alice'));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForFunction(() => document.getElementById('login-offline').textContent !== '', null, { timeout: 10000 });
  const screen = await signInScreen(page);
  assert.match(screen.note, /^The server could not be reached\. Signing in needs the network\. Once signed in, this device opens your notes without a connection\.$/);
  assert.equal(screen.buttonDisabled, false, 'the browser says it is online: trying again is allowed');
  assert.equal(screen.error, '', 'said once, in the note');

  await page.unroute('**/v1/login');
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD('alice'));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#notes-view').waitFor({ state: 'visible', timeout: 20000 });
  assert.equal(await page.locator('#login-view').isHidden(), true);
  await context.close();
});

test('a device that signed in before opens offline straight into its notes', { timeout: 90000 }, async () => {
  const { context, page } = await newDevice(env.browser, env.server.url);
  await createNote(page, { title: 'Roof hatch latch stiff', site: 'Block B', tags: 'roof' });
  await waitForBadge(page, 'Roof hatch latch stiff', 'clean');
  await page.close();

  await context.setOffline(true);
  // A new tab, then a reload of it: neither shows the sign-in screen or waits for the network.
  const offlineTab = await context.newPage();
  offlineTab.on('pageerror', (e) => console.error('page error:', e.message));
  for (const open of [() => offlineTab.goto(env.server.url + '/'), () => offlineTab.reload()]) {
    await open();
    await offlineTab.locator('#notes-view').waitFor({ state: 'visible', timeout: 15000 });
    await offlineTab.locator('#offline-banner').waitFor({ state: 'visible', timeout: 15000 });
    assert.equal(await offlineTab.locator('#login-view').isHidden(), true);
    assert.deepEqual(await listedTitles(offlineTab), ['Roof hatch latch stiff']);
  }
  await createNote(offlineTab, { title: 'Written offline after opening offline', site: 'Block B' });
  await waitForBadge(offlineTab, 'Written offline after opening offline', 'local');

  await context.setOffline(false);
  await waitForBadge(offlineTab, 'Written offline after opening offline', 'clean');
  await context.close();
});
