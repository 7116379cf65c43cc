// The service worker's routes (sw/routes.js): the precache starts the app offline, images are
// cached at run time, API reads go to the network first and fall back to the last answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSwTest, openApp } from './sw-harness.js';
import { precacheManifest } from '../../sw/build.mjs';

test('after the first visit the app starts offline from the precache, .wasm as application/wasm', async (t) => {
  const { server, context } = await startSwTest(t);
  const page = await openApp(context, server.url);
  await context.setOffline(true);
  const wasm = [];
  page.on('response', (r) => {
    if (r.url().endsWith('.wasm')) wasm.push({ type: r.headers()['content-type'], fromWorker: r.fromServiceWorker() });
  });
  await page.goto(server.url + '/check.html'); // precached like the app, and it reports the module
  const status = page.locator('#status[data-ok]');
  await status.waitFor({ timeout: 15000 });
  assert.equal(await status.getAttribute('data-ok'), 'true', await status.textContent());
  assert.deepEqual(wasm, [{ type: 'application/wasm', fromWorker: true }]);
  // What the precache does not hold really is unreachable: the app did not start by luck.
  assert.equal(await page.evaluate(() => fetch('/not-precached').then((r) => r.status, () => 'failed')), 'failed');
});

test('the precache holds exactly the build manifest, each file at its content revision', async (t) => {
  const { server, context } = await startSwTest(t);
  const page = await openApp(context, server.url);
  const cached = await page.evaluate(async () => {
    const name = (await caches.keys()).find((n) => n.startsWith('workbox-precache'));
    return (await (await caches.open(name)).keys()).map((r) => r.url);
  });
  const manifest = await precacheManifest();
  assert.ok(manifest.some((e) => e.url === '/build/wasm/sloop-client.wasm'));
  assert.ok(manifest.some((e) => e.url === '/index.html'));
  const expected = manifest.map((e) => `${server.url}${e.url}?__WB_REVISION__=${e.revision}`);
  assert.deepEqual(cached.sort(), expected.sort());
});

test('images are cached at run time and served by the worker offline', async (t) => {
  const { server, context } = await startSwTest(t);
  const page = await openApp(context, server.url);
  const loadIcon = (p) => p.evaluate(() => new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve(img.naturalWidth);
    img.onerror = () => resolve('error');
    img.src = '/icons/icon-192.png';
  }));
  assert.equal(await loadIcon(page), 192);
  await context.setOffline(true);
  const offlinePage = await context.newPage();
  await offlinePage.goto(server.url + '/');
  const fromWorker = [];
  offlinePage.on('response', (r) => { if (r.url().endsWith('.png')) fromWorker.push(r.fromServiceWorker()); });
  assert.equal(await loadIcon(offlinePage), 192);
  // The page's favicon link may load the same icon too: every answer must be the worker's.
  assert.ok(fromWorker.length > 0 && fromWorker.every(Boolean), String(fromWorker));
});

test('API reads go to the network first and fall back to the last answer offline', async (t) => {
  const { server, context } = await startSwTest(t);
  const page = await openApp(context, server.url);
  const probe = () => page.evaluate(() => fetch('/v1/probe').then((r) => r.json(), () => 'failed'));
  assert.deepEqual(await probe(), { probes: 1 });
  assert.deepEqual(await probe(), { probes: 2 });
  await context.setOffline(true);
  assert.deepEqual(await probe(), { probes: 2 });
});
