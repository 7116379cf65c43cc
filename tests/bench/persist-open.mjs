/**
 * persist-open.mjs -- open time and heap against database size, whole-image vs on-demand pages
 * (headless Chromium, real IndexedDB). `node tests/bench/persist-open.mjs [MB...]` (default
 * 1 10 100). Each open runs in a fresh page, so the WebAssembly heap starts empty; the time
 * is from openPersistentDb() (module already compiled) until the first query by primary key
 * has answered. Medians of 3.
 */
import { repoContext, startBrowserHarness } from '../browser/harness.js';

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
if (sizes.length === 0) sizes.push(1, 10, 100);
const ROW = 3500; // one row per 4 KiB page
const h = await startBrowserHarness();
try {
  const context = await repoContext(h.browser);
  const inPage = async (fn, arg) => {
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') console.error('[page]', m.text()); });
    try {
      await page.goto(h.url + '/');
      return await page.evaluate(fn, arg);
    } finally {
      await page.close();
    }
  };
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const MiB = 1 << 20;
  console.log('size MB | mode      | open+query ms | pages read | heap MiB');
  for (const mb of sizes) {
    const rows = Math.round((mb * 1e6) / 4096);
    const name = `open-${mb}-${Date.now()}`;
    await inPage(async ([name, rows, ROW]) => {
      const { openPersistentDb, idbBackend } = await import('/tests/browser/persist-page.js');
      const pdb = await openPersistentDb({ name, backend: idbBackend(), pages: 'auto' });
      await pdb.call('sql', 'CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)');
      for (let from = 1; from <= rows; from += 2000) {
        const to = Math.min(rows, from + 1999);
        await pdb.call('sql', `WITH RECURSIVE n(i) AS (SELECT ${from} UNION ALL SELECT i + 1 FROM n WHERE i < ${to})` +
          ` INSERT INTO t SELECT i, printf('%.${ROW}c', char(97 + i % 26)) FROM n`);
      }
      await pdb.close();
    }, [name, rows, ROW]);
    for (const mode of ['image', 'on-demand']) {
      const runs = [];
      for (let r = 0; r < 3; r++) {
        runs.push(await inPage(async ([name, mode, k]) => {
          const { openPersistentDb, idbBackend } = await import('/tests/browser/persist-page.js');
          const backend = idbBackend();
          await (await import('/js/core.js')).loadModule(); // compiling the module is not opening
          const t = performance.now();
          const pdb = await openPersistentDb({ name, backend, pages: mode });
          const [[len]] = await pdb.call('sql', `SELECT length(v) FROM t WHERE k = ${k}`);
          const ms = performance.now() - t;
          if (len !== 3500) throw new Error(`row ${k}: length ${len}`);
          const heap = pdb.mod.HEAPU8.length;
          await pdb.close();
          return { ms, pagesRead: backend.stats.pagesRead, heap };
        }, [name, mode, Math.ceil(rows / 2)]));
      }
      const ms = median(runs.map((x) => x.ms));
      const pagesRead = median(runs.map((x) => x.pagesRead));
      const heap = median(runs.map((x) => x.heap)) / MiB;
      console.log(`${String(mb).padStart(7)} | ${mode.padEnd(9)} | ${ms.toFixed(1).padStart(13)} | ${String(pagesRead).padStart(10)} | ${heap.toFixed(0).padStart(8)}`);
    }
  }
} finally {
  await h.close();
}
