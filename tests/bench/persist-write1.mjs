/**
 * persist-write1.mjs -- where one durable single-record write's time goes (headless Chromium,
 * real IndexedDB, strict durability), the way `make bench`'s write1 scenario writes: N puts of
 * bench/data.js records through pdb.call on a fresh database, pages 'auto'.
 * `node tests/bench/persist-write1.mjs [N [checkpointAtBytes]]` (default 1000). Prints medians per write of: the
 * core call (SQLite + the commit hook), the wait until durable, the flush transaction alone,
 * pages per commit, checkpoint steps and their total time; and, for scale, raw IndexedDB transactions of one
 * and of five 4 KiB puts, strict and relaxed.
 */
import { repoContext, startBrowserHarness } from '../browser/harness.js';

const n = Number(process.argv[2] ?? 1000);
const atBytes = Number(process.argv[3] ?? 0); // a checkpoint threshold to try, else the default
const h = await startBrowserHarness();
try {
  const context = await repoContext(h.browser, { bench: true });
  const page = await context.newPage();
  page.on('console', (m) => console.error('[page]', m.text()));
  await page.goto(h.url + '/');
  const out = await page.evaluate(async ([n, atBytes]) => {
    const { openPersistentDb, idbBackend } = await import('/tests/browser/persist-page.js');
    const { record } = await import('/bench/data.js');
    const schema = await (await fetch('/schema.json')).json();
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    // The bench counts the total, so the tail counts: mean, p90, p99, max of each part.
    const tail = (xs) => {
      const s = [...xs].sort((a, b) => a - b);
      const at = (q) => +s[Math.min(s.length - 1, Math.floor(q * s.length))].toFixed(2);
      return { mean: +(s.reduce((a, b) => a + b, 0) / s.length).toFixed(2), p90: at(0.9), p99: at(0.99), max: at(1) };
    };
    const now = () => performance.now();
    const result = {};
    for (const durability of ['strict', 'relaxed']) {
      const backend = idbBackend({ durability, ...(atBytes && { checkpointAtBytes: atBytes }) });
      const flushes = [];
      const flush = backend.flush.bind(backend);
      backend.flush = async (name, batch, codec) => {
        const t = now();
        const before = backend.logStats?.(name)?.bytes ?? 0;
        await flush(name, batch, codec);
        // Bytes the commit added to the log (the log's records; a checkpoint meanwhile shows as less).
        flushes.push({ ms: now() - t, pages: batch.pages.size, bytes: (backend.logStats?.(name)?.bytes ?? 0) - before });
      };
      const checkpoints = [];
      if (backend.checkpoint) {
        const step = backend.checkpoint.bind(backend);
        backend.checkpoint = async (...args) => {
          const t = now();
          try { return await step(...args); } finally { checkpoints.push(now() - t); }
        };
      }
      const pdb = await openPersistentDb({ name: `w1-${durability}-${Date.now()}`, backend, pages: 'auto' });
      await pdb.core.setSchema(schema);
      await pdb.whenDurable();
      flushes.length = 0;
      const core = [], durable = [], total = [];
      const t0 = now();
      for (let i = 0; i < n; i++) {
        const r = record(i);
        const a = now();
        await pdb.core.put('notes', r.id, r.doc);
        const b = now();
        await pdb.whenDurable();
        const c = now();
        core.push(b - a); durable.push(c - b); total.push(c - a);
      }
      const all = now() - t0;
      result[durability] = {
        mode: pdb.mode, totalMs: all, perWrite: median(total), core: median(core), durableWait: median(durable),
        flushTx: median(flushes.map((f) => f.ms)), pagesPerCommit: median(flushes.map((f) => f.pages)), logBytesPerCommit: median(flushes.map((f) => f.bytes)),
        flushes: flushes.length, meanPerWrite: all / n,
        tails: { perWrite: tail(total), core: tail(core), durableWait: tail(durable), flushTx: tail(flushes.map((f) => f.ms)) },
        checkpointSteps: checkpoints.length, checkpointMsTotal: checkpoints.reduce((a, b) => a + b, 0),
      };
      await pdb.close();
    }
    // Raw IndexedDB: transactions of k puts of 4 KiB (+ one 48-byte record), as a floor.
    const db = await new Promise((resolve) => {
      const req = indexedDB.open(`raw-${Date.now()}`, 1);
      req.onupgradeneeded = () => { req.result.createObjectStore('p'); req.result.createObjectStore('m'); };
      req.onsuccess = () => resolve(req.result);
    });
    for (const durability of ['strict', 'relaxed']) {
      for (const k of [1, 5, 10]) {
        const ts = [];
        for (let i = 0; i < 200; i++) {
          const t = now();
          await new Promise((resolve, reject) => {
            const tx = db.transaction(['p', 'm'], 'readwrite', { durability });
            tx.objectStore('m').get('commit');
            for (let j = 0; j < k; j++) tx.objectStore('p').put(new ArrayBuffer(4096), j + i * 16);
            tx.objectStore('m').put(new ArrayBuffer(48), 'commit');
            tx.oncomplete = resolve; tx.onabort = () => reject(tx.error);
          });
          ts.push(now() - t);
        }
        result[`raw ${durability} ${k}x4KiB`] = median(ts);
      }
    }
    return result;
  }, [n, atBytes]);
  console.log(JSON.stringify(out, null, 1));
} finally {
  await h.close();
}
