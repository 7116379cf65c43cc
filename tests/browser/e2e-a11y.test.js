// Accessibility of the Field Notes app, checked in the page: every control has a label, text
// contrast is at least 4.5:1 (WCAG AA) in the states the tests visit, and a note can be made
// and edited with the keyboard alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useAppServerAndBrowser, newDevice, row, waitForBadge } from './e2e-harness.js';

const env = useAppServerAndBrowser();

/** Controls without an accessible name, and text below 4.5:1 against its opaque background. */
function audit(page) {
  return page.evaluate(() => {
    const unlabelled = [...document.querySelectorAll('input, select, textarea, button')]
      .filter((el) => el.offsetParent !== null)
      .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' && el.textContent.trim())))
      .map((el) => el.outerHTML.slice(0, 80));
    const rgb = (c) => c.match(/[\d.]+/g).map(Number);
    const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
      .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    const background = (el) => {
      for (; el; el = el.parentElement) {
        const c = rgb(getComputedStyle(el).backgroundColor);
        if (c.length < 4 || c[3] === 1) return c.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const lowContrast = [];
    for (const el of document.querySelectorAll('body *')) {
      const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
      if (!own || el.offsetParent === null || getComputedStyle(el).opacity !== '1') continue;
      const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(background(el))];
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      if (ratio < 4.5) lowContrast.push(`${el.tagName}.${el.className} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
    }
    return { unlabelled, lowContrast };
  });
}

test('labels, contrast and keyboard use', { timeout: 90000 }, async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  await page.goto(env.server.url + '/');
  await page.locator('#login-view').waitFor({ state: 'visible' });
  assert.deepEqual(await audit(page), { unlabelled: [], lowContrast: [] });
  await context.close();

  const { context: device, page: app } = await newDevice(env.browser, env.server.url);
  // Keyboard only: from the search box, Tab to "New note", fill the form, create.
  await app.getByLabel('Search notes').focus();
  await app.keyboard.press('Shift+Tab');
  assert.equal(await app.evaluate(() => document.activeElement.id), 'new-note');
  await app.keyboard.press('Enter');
  assert.equal(await app.evaluate(() => document.activeElement.id), 'new-title');
  await app.keyboard.type('Stair 2 handrail loose');
  await app.keyboard.press('Tab');
  await app.keyboard.type('Block C');
  await app.keyboard.press('Enter');
  await row(app, 'Stair 2 handrail loose').waitFor();
  assert.equal(await app.evaluate(() => document.activeElement.id), 'note-title');
  await waitForBadge(app, 'Stair 2 handrail loose', 'clean');
  assert.deepEqual(await audit(app), { unlabelled: [], lowContrast: [] });

  await device.setOffline(true);
  await app.getByLabel('Add a vote').press('Enter');
  await waitForBadge(app, 'Stair 2 handrail loose', 'local');
  assert.deepEqual(await audit(app), { unlabelled: [], lowContrast: [] });
  await device.close();
});
