// The vertical slice in Chromium: the device-check page loads the WASM module, writes, reads,
// searches.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBrowserHarness } from './harness.js';

let h;
before(async () => { h = await startBrowserHarness(); });
after(async () => { await h?.close(); });

test('the page loads the module and runs put, get and an FTS5 match', async () => {
  const page = await h.browser.newPage();
  const wasmTypes = [];
  page.on('response', (r) => { if (r.url().endsWith('.wasm')) wasmTypes.push(r.headers()['content-type']); });
  await page.goto(h.url + '/check.html');
  const status = page.locator('#status[data-ok]');
  await status.waitFor({ timeout: 15000 });
  assert.equal(await status.getAttribute('data-ok'), 'true', await status.textContent());
  assert.match(await status.textContent(), /found 1 note/);
  assert.deepEqual(wasmTypes, ['application/wasm']);
  await page.close();
});

test('the core API in the page reports bad input with codes', async () => {
  const page = await h.browser.newPage();
  await page.goto(h.url + '/');
  const codes = await page.evaluate(async () => {
    const { loadModule, CoreDb } = await import('/js/core.js');
    const db = CoreDb.open(await loadModule());
    const out = [];
    for (const f of [() => db.put('n', 'x', 'str'), () => db.search('n', '"q')]) {
      try { f(); out.push('no error'); } catch (e) { out.push(e.code); }
    }
    return out;
  });
  assert.deepEqual(codes, ['schema', 'invalid']);
  await page.close();
});
