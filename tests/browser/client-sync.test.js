// The public API in Chromium: real IndexedDB, the real server, and a large initial sync whose
// engine work stays off the main thread (its CPU profile), run in a page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startServer } from '../../js/server/main.js';
import { CHROMIUM_ARGS } from './harness.js';
import { seedNotes, openClientPage } from './client-fixtures.js';

const SEEDED = Number(process.env.CLIENT_SEED ?? 20_000);
const dataDir = mkdtempSync(join(tmpdir(), 'sloop-client-browser-'));
let server, browser;

before(async () => {
  await seedNotes(dataDir, { count: SEEDED });
  server = await startServer({ port: 0, dataDir });
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
});
after(async () => {
  await browser?.close();
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const openPage = () => openClientPage(browser, server.url, `?page=${process.env.CLIENT_PAGE ?? 200}`);

test('chromium: put, search, live and sync between two pages of different origins storage', { timeout: 60_000 }, async () => {
  const a = await openPage();
  const b = await openPage();
  try {
    await a.page.evaluate(async () => {
      const { openSignedIn } = await import('/tests/browser/client-page.js');
      const db = await openSignedIn('notes-a', 'alice');
      await db.put('notes', 'p1', { title: 'Pump "7" (north)', votes: 1 });
      await db.patch('notes', 'p1', { votes: { $inc: 2 } });
      const found = await db.search('notes', 'pump "7');
      if (found.length !== 1) throw new Error(`search found ${found.length}`);
      await db.sync();
      window.db = db;
    });
    const seen = await b.page.evaluate(async () => {
      const { openSignedIn } = await import('/tests/browser/client-page.js');
      const db = await openSignedIn('notes-b', 'bob', {}, { worker: false }); // the in-page engine
      if (db.runsIn !== 'page') throw new Error(`runsIn ${db.runsIn}`);
      const calls = [];
      db.live('notes', { where: { title: 'Pump "7" (north)' } }, (rows) => calls.push(rows.map((r) => [r.id, r.doc.votes, r.state])));
      await db.sync();
      await new Promise((r) => setTimeout(r, 50));
      await db.close();
      return calls;
    });
    assert.deepEqual(seen.at(0), []);
    assert.deepEqual(seen.at(-1), [['p1', 3, 'synced']]);
    assert.equal(await a.page.evaluate(() => window.db.recordState('notes', 'p1')), 'synced');
  } finally {
    await a.context.close();
    await b.context.close();
  }
});

test('chromium: signed out until passwordAuth signs in, and each user of the browser has a database of their own (engine in a worker)', { timeout: 60_000 }, async () => {
  const { page, context } = await openPage();
  try {
    const r = await page.evaluate(async () => {
      const { openSloop, passwordAuth } = await import('/js/sloop.js');
      const schema = await (await fetch('/schema.json')).json();
      const auth = passwordAuth(); // this origin, localStorage
      const open = (user) => openSloop({ name: 'shared', user, serverUrl: location.origin, schema, auth, sync: { intervalMs: 0 } });
      const until = async (ok, what) => {
        for (const end = Date.now() + 10_000; !ok();) {
          if (Date.now() > end) throw new Error(`timed out: ${what}`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };
      const out = {};
      const a = await open('alice');
      Object.assign(out, { runsIn: a.runsIn, user: a.user });
      await until(() => a.status.auth === 'signed-out', 'signed-out before a sign-in');
      out.pausedSignedOut = a.status.paused;
      out.pages = a.status.pages; // the worker has JS Promise Integration: pages on demand
      await auth.signIn('alice', 'alice-sloop-demo', a.device);
      out.kept = JSON.parse(localStorage.getItem('sloop-session')).user;
      await a.sync();
      out.afterSignIn = a.status.auth;
      a.pause();
      await a.put('notes', 'w-offline', { title: 'alice, before signing out' });
      // Through the worker, on demand: all or nothing, the refused row named.
      await a.putMany('notes', [{ id: 'w-many-1', doc: { title: 'one' } }, { id: 'w-many-2', doc: { title: 'two' } }]);
      out.many = (await a.get('notes', 'w-many-2'))?.title;
      out.manyRefused = await a.putMany('notes', [{ id: 'w-many-3', doc: {} }, { id: 'w-many-4', doc: { votes: 'x' } }])
        .then(() => 'accepted', async (e) => `${e.code} ${e.message.slice(0, 6)} ${typeof (await a.get('notes', 'w-many-3'))}`);
      auth.signOut();
      await a.close();

      const b = await open('bob');
      await auth.signIn('bob', 'bob-sloop-demo', b.device);
      await b.sync();
      Object.assign(out, { devicesDiffer: b.device !== a.device, bobPending: b.status.pendingOps, bobSees: await b.get('notes', 'w-offline') ?? null });
      auth.signOut();
      await b.close();

      const back = await open('alice');
      out.alicePending = back.status.pendingOps;
      await auth.signIn('alice', 'alice-sloop-demo', back.device);
      await back.sync();
      out.aliceState = await back.recordState('notes', 'w-offline');
      await back.close();
      return out;
    });
    assert.deepEqual(r, {
      runsIn: 'worker', user: 'alice', pausedSignedOut: true, pages: 'on-demand', kept: 'alice', afterSignIn: 'ok',
      many: 'two', manyRefused: 'schema row 1: undefined',
      devicesDiffer: true, bobPending: 0, bobSees: null, alicePending: 3, aliceState: 'synced',
    });
  } finally {
    await context.close();
  }
});

let measured = null;

test(`chromium: an initial sync of ${SEEDED} records in pages of 200, with progress and yields`, { timeout: 600_000 }, async () => {
  const { page, context } = await openPage();
  try {
    // The main thread's CPU profile (the page's target only: a dedicated worker is a target of
    // its own), sampled every millisecond through the whole sync.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 1000 });
    await cdp.send('Profiler.start');
    const r = await page.evaluate(async () => {
      const { measureInitialSync } = await import('/tests/browser/client-page.js');
      return measureInitialSync({ pullPage: Number(new URLSearchParams(location.search).get('page') ?? 200) });
    });
    const { profile } = await cdp.send('Profiler.stop');
    await cdp.detach();
    r.mainThreadWasmSamples = wasmSamples(profile);
    r.mainThreadSamples = profile.samples.length;
    measured = r;
    const worst = Math.max(0, ...r.longTasks);
    console.log(`# initial sync of ${r.total} records: ${r.ms} ms; ${r.longTasks.length} long tasks, longest ${worst} ms,`
      + ` total ${r.longTasks.reduce((a, b) => a + b, 0)} ms; ${r.frames} frames; ${r.maxPages} pages;`
      + ` main thread: ${r.mainThreadSamples} samples, ${r.mainThreadWasmSamples} in WebAssembly`);
    assert.equal(r.total, SEEDED);
    assert.deepEqual(r.first, ['seed-0', 'seed-1', 'seed-2', 'seed-3', 'seed-4']);
    assert.ok(r.searched > 0);
    assert.ok(r.maxPages >= Math.ceil(SEEDED / 200), `progress reported ${r.maxPages} pages`);
    assert.ok(r.frames > 0, 'frames were rendered during the sync');
  } finally {
    await context.close();
  }
});

/** Samples of a CDP CPU profile whose function is WebAssembly code (named by its module's URL). */
function wasmSamples(profile) {
  const isWasm = ({ url, functionName }) => /\.wasm$|^wasm:/.test(url) || functionName.startsWith('wasm-function[');
  const wasm = new Set(profile.nodes.filter((n) => isWasm(n.callFrame)).map((n) => n.id));
  return profile.samples.filter((id) => wasm.has(id)).length;
}

// The engine runs in a dedicated worker (docs/CLIENT.md, Where the engine runs): the page's
// main thread only receives messages. That is asserted on what ran there, not on how long its
// tasks took: on this shared machine a task's wall time says more about the load than about the
// code, so the long tasks (> 50 ms) are printed above, not asserted.
test('chromium: none of the engine runs on the main thread during that sync', () => {
  assert.ok(measured, 'the sync above ran');
  assert.equal(measured.runsIn, 'worker');
  assert.ok(measured.mainThreadSamples > 0, 'the main thread was profiled');
  assert.equal(measured.mainThreadWasmSamples, 0, 'WebAssembly ran on the main thread');
});
