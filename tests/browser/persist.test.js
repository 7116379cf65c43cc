// Durable storage in Chromium on real IndexedDB: the conformance suite, pages closed mid-flush,
// and two pages of one origin writing at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { repoContext, startBrowserHarness } from './harness.js';
import { cases } from '../conformance/persist.js';

let h;
before(async () => { h = await startBrowserHarness(); });
after(async () => { await h?.close(); });

/** A browser context (one origin's storage) that also serves tests/ to its pages. */
async function newContext() {
  return repoContext(h.browser);
}

async function openPage(context) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(h.url + '/');
  return page;
}

// Every case in both page modes: the whole image, and pages on demand through JSPI.
for (const mode of ['image', 'on-demand']) {
  for (const c of cases) {
    if (c.only && !c.only.includes('idb')) continue;
    test(`chromium idb ${mode}: ${c.name}`, { timeout: 60000 }, async () => {
      const context = await newContext();
      try {
        const page = await openPage(context);
        await page.exposeFunction('sloopLoseStore', async () => {
          const cdp = await context.newCDPSession(page);
          await cdp.send('Storage.clearDataForOrigin', { origin: new URL(h.url).origin, storageTypes: 'indexeddb' });
          await cdp.detach();
        });
        const failure = await page.evaluate(async ([name, mode]) => {
          const { cases, makeEnv } = await import('/tests/browser/persist-page.js');
          try {
            await cases.find((x) => x.name === name).run(makeEnv(mode));
            return null;
          } catch (e) {
            return String(e?.stack ?? e);
          }
        }, [c.name, mode]);
        assert.equal(failure, null);
      } finally {
        await context.close();
      }
    });
  }
}

for (const mode of ['image', 'on-demand']) test(`chromium idb ${mode}: a page closed mid-flush reopens at a committed prefix`, { timeout: 60000 }, async () => {
  const context = await newContext();
  try {
    let last = 0;
    for (let round = 0; round < 3; round++) {
      const page = await openPage(context);
      let acked = 0;
      await page.exposeFunction('acked', (k) => { acked = Math.max(acked, k); });
      // Runs until the page dies: writes one row per commit, reports each once durable.
      page.evaluate(async (pages) => {
        const { openPersistentDb, idbBackend, writeRows, committedPrefix } = await import('/tests/browser/persist-page.js');
        const pdb = await openPersistentDb({ name: 'crash', backend: idbBackend(), pages });
        const start = await committedPrefix(pdb);
        for (let k = start + 1; ; k++) {
          writeRows(pdb, k, k).then(() => window.acked(k));
          if (k % 4 === 0) await new Promise((r) => setTimeout(r, 0));
        }
      }, mode).catch(() => {});
      while (acked < last + 20) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, Math.random() * 30));
      const ackedAtClose = acked;
      await page.close();
      const check = await openPage(context);
      const rows = await check.evaluate(async (pages) => {
        const { openPersistentDb, idbBackend, committedPrefix } = await import('/tests/browser/persist-page.js');
        const pdb = await openPersistentDb({ name: 'crash', backend: idbBackend(), pages });
        try {
          return await committedPrefix(pdb);
        } finally {
          await pdb.close();
        }
      }, mode);
      await check.close();
      assert.ok(rows >= ackedAtClose, `round ${round}: ${ackedAtClose} durable but ${rows} reopened`);
      assert.ok(rows > last, `round ${round}: no progress`);
      last = rows;
    }
  } finally {
    await context.close();
  }
});

test('chromium idb: two pages write at once, then reload with every write', { timeout: 60000 }, async () => {
  const context = await newContext();
  try {
    const pages = [await openPage(context), await openPage(context)];
    const roles = await Promise.all(pages.map((p, i) => p.evaluate(async (parity) => {
      const { openPersistentDb, idbBackend } = await import('/tests/browser/persist-page.js');
      const pdb = await openPersistentDb({ name: 'two-tabs', backend: idbBackend() });
      window.pdb = pdb;
      window.changes = 0;
      pdb.addEventListener('change', () => window.changes++);
      await pdb.call('sql', 'CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, tab TEXT)');
      return pdb.isWriter;
    }, i)));
    assert.deepEqual(roles.filter(Boolean).length, 1, 'exactly one writer');
    await Promise.all(pages.map((p, i) => p.evaluate(async (parity) => {
      const writes = [];
      for (let k = parity; k < 200; k += 2) writes.push(window.pdb.call('sql', `INSERT INTO t VALUES(${k}, 'tab${parity}')`));
      await Promise.all(writes);
    }, i)));
    const follower = pages[roles.indexOf(false)];
    assert.ok(await follower.evaluate(() => window.changes) > 0, 'the follower heard commits');
    for (const p of pages) await p.reload();
    const rows = await pages[1].evaluate(async () => {
      const { openPersistentDb, idbBackend } = await import('/tests/browser/persist-page.js');
      const pdb = await openPersistentDb({ name: 'two-tabs', backend: idbBackend() });
      return pdb.call('sql', 'PRAGMA integrity_check; SELECT count(*), sum(k), count(DISTINCT tab) FROM t');
    });
    assert.deepEqual(rows, [[200, 199 * 100, 2]]);
  } finally {
    await context.close();
  }
});
