/**
 * persist-memory.mjs -- memory after loading N records the way an initial sync commits them
 * (pages of 1,000 records, one commit each, every commit durable before the next page), whole
 * image against on-demand pages, in headless Chromium on real IndexedDB.
 * `node tests/bench/persist-memory.mjs [N...]` (default 10000 100000). Memory is the JS heap in
 * use after a full garbage collection (CDP) plus the WebAssembly memory, as `make bench` counts
 * it; a fresh page per measurement. The records are bench/data.js's, with the demo schema.
 * Environment: CACHE_MIB sets the on-demand page cache (default: openPersistentDb's), MODES
 * the modes measured (default "image,on-demand").
 */
import { repoContext, startBrowserHarness } from '../browser/harness.js';

const counts = process.argv.slice(2).map(Number).filter((n) => n > 0);
if (counts.length === 0) counts.push(10000, 100000);
const h = await startBrowserHarness();
try {
  const context = await repoContext(h.browser, { bench: true });
  const MiB = 1 << 20;
  console.log('records | mode      | load s | JS heap MiB | WASM MiB | total MiB | DB MB | page cache');
  for (const n of counts) {
    for (const mode of (process.env.MODES ?? 'image,on-demand').split(',')) {
      const page = await context.newPage();
      page.on('console', (m) => { if (m.type() === 'error') console.error('[page]', m.text()); });
      await page.goto(h.url + '/');
      const out = await page.evaluate(async ([n, mode, cacheMiB]) => {
        const { openPersistentDb, idbBackend } = await import('/tests/browser/persist-page.js');
        const { record } = await import('/bench/data.js');
        const schema = await (await fetch('/schema.json')).json();
        const pdb = await openPersistentDb({ name: `mem-${n}-${mode}-${Date.now()}`, backend: idbBackend(), pages: mode,
          ...(cacheMiB && { cacheBytes: cacheMiB * 1024 * 1024 }) });
        await pdb.core.setSchema(schema);
        const t = performance.now();
        for (let from = 0; from < n; from += 1000) {
          const rows = Array.from({ length: Math.min(1000, n - from) }, (_, i) => record(from + i));
          if (pdb.mode === 'on-demand') {
            await pdb.core.transaction(async () => { for (const r of rows) await pdb.core.put('notes', r.id, r.doc); });
          } else {
            pdb.core.transaction(() => { for (const r of rows) pdb.core.put('notes', r.id, r.doc); });
          }
          await pdb.whenDurable();
        }
        const seconds = (performance.now() - t) / 1000;
        const [[pages]] = await pdb.call('sql', 'PRAGMA page_count');
        window.keep = pdb; // measured open, as after a sync
        return { seconds, wasm: pdb.mod.HEAPU8.buffer.byteLength, dbBytes: pages * 4096, mode: pdb.mode, cache: pdb.cacheStats() };
      }, [n, mode, Number(process.env.CACHE_MIB ?? 0)]);
      const cdp = await context.newCDPSession(page);
      await cdp.send('HeapProfiler.collectGarbage');
      const { usedSize } = await cdp.send('Runtime.getHeapUsage');
      const total = usedSize + out.wasm;
      console.log(`${String(n).padStart(7)} | ${out.mode.padEnd(9)} | ${out.seconds.toFixed(1).padStart(6)} | ${(usedSize / MiB).toFixed(1).padStart(11)} | ${(out.wasm / MiB).toFixed(1).padStart(8)} | ${(total / MiB).toFixed(1).padStart(9)} | ${(out.dbBytes / 1e6).toFixed(0).padStart(5)}` +
        (out.mode === 'on-demand' ? ` | resident ${out.cache.residentPages} of ${out.cache.cachePages} pages` : ''));
      await page.close();
    }
  }
} finally {
  await h.close();
}
