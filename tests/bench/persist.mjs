/**
 * persist.mjs -- persistence benchmarks in headless Chromium on real IndexedDB
 * (`make bench-persist`). Prints medians:
 *   - one-record commit latency, p50 and p99, until durable;
 *   - bulk-write throughput (MB/s) against raw IndexedDB blob-write bandwidth (1 MiB
 *     ArrayBuffers in one transaction), both measured in this run, same durability;
 *   - one-record commit latency as the database grows from 1 MB to 50 MB;
 *   - open time against database size.
 */
import { repoContext, startBrowserHarness } from '../browser/harness.js';

const h = await startBrowserHarness();
try {
  const context = await repoContext(h.browser);
  const page = await context.newPage();
  page.on('console', (m) => console.error('[page]', m.text()));
  await page.goto(h.url + '/');
  const result = await page.evaluate(async () => {
    const { openPersistentDb, idbBackend } = await import('/tests/browser/persist-page.js');
    const MB = 1 << 20;
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
    const now = () => performance.now();
    const open = (name) => openPersistentDb({ name, backend: idbBackend() });
    let serial = 0;

    async function commitLatencies(pdb, n) {
      const out = [];
      for (let i = 0; i < n; i++) {
        const t = now();
        await pdb.call('sql', `INSERT INTO small(v) VALUES('record ${serial++}')`);
        out.push(now() - t);
      }
      return out;
    }

    async function rawIdbMBps(mb) {
      const name = `raw-${Date.now()}-${serial++}`;
      const db = await new Promise((resolve, reject) => {
        const req = indexedDB.open(name, 1);
        req.onupgradeneeded = () => req.result.createObjectStore('blobs');
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      const buffers = Array.from({ length: mb }, () => crypto.getRandomValues(new Uint8Array(MB / 16)))
        .map((chunk) => { const b = new Uint8Array(MB); for (let o = 0; o < MB; o += chunk.length) b.set(chunk, o); return b.buffer; });
      const t = now();
      await new Promise((resolve, reject) => {
        const tx = db.transaction('blobs', 'readwrite', { durability: 'strict' });
        buffers.forEach((b, i) => tx.objectStore('blobs').put(b, i));
        tx.oncomplete = resolve;
        tx.onabort = () => reject(tx.error);
      });
      const mbps = mb / ((now() - t) / 1000);
      db.close();
      await new Promise((r) => { indexedDB.deleteDatabase(name).onsuccess = r; });
      return mbps;
    }

    /** Grows the database by `mb` MiB of random blobs in one commit; returns MB/s until durable. */
    async function bulkWrite(pdb, mb) {
      // The random bytes are made before the clock starts, as rawIdbMBps makes its buffers: in
      // a temporary table, which lives in the module's memory, not in the page store.
      await pdb.core.sql(`CREATE TEMP TABLE IF NOT EXISTS src(b BLOB); DELETE FROM temp.src;` +
        ` WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${mb * 16})` +
        ` INSERT INTO temp.src SELECT randomblob(65536) FROM n`);
      const t = now();
      await pdb.core.sql('INSERT INTO bulk SELECT b FROM temp.src');
      await pdb.whenDurable();
      const mbps = mb / ((now() - t) / 1000);
      await pdb.core.sql('DROP TABLE temp.src');
      return mbps;
    }

    const SCHEMA = 'CREATE TABLE IF NOT EXISTS small(v TEXT); CREATE TABLE IF NOT EXISTS bulk(b BLOB)';
    const out = {};

    // 1. One-record commit latency on a small database.
    {
      const pdb = await open(`lat-${Date.now()}`);
      await pdb.call('sql', SCHEMA);
      await commitLatencies(pdb, 20); // warm-up
      const lat = await commitLatencies(pdb, 300);
      out.commit = { p50: median(lat), p99: pct(lat, 0.99), n: lat.length };
      await pdb.close();
    }

    // 2. Bulk throughput against raw IndexedDB, interleaved so both see the same conditions.
    {
      const raw = [], bulk = [];
      for (let r = 0; r < 3; r++) {
        raw.push(await rawIdbMBps(32));
        const pdb = await open(`bulk-${Date.now()}-${r}`);
        await pdb.call('sql', SCHEMA);
        bulk.push(await bulkWrite(pdb, 32));
        await pdb.close();
      }
      out.bulk = { rawMBps: median(raw), sloopMBps: median(bulk), fraction: median(bulk) / median(raw) };
    }

    // 3 and 4. Commit cost and open time as the database grows.
    {
      const name = `grow-${Date.now()}`;
      let pdb = await open(name);
      await pdb.call('sql', SCHEMA);
      let size = 0;
      out.growth = [];
      for (const target of [1, 5, 10, 25, 50]) {
        await bulkWrite(pdb, target - size);
        size = target;
        const lat = await commitLatencies(pdb, 50);
        const opens = [];
        for (let r = 0; r < 3; r++) {
          await pdb.close();
          const t = now();
          pdb = await open(name);
          opens.push(now() - t);
        }
        const [[pages]] = pdb.core.sql('PRAGMA page_count');
        out.growth.push({ mb: target, fileMB: (pages * 4096) / MB, commitP50: median(lat), commitP99: pct(lat, 0.99), openMs: median(opens) });
      }
      await pdb.close();
    }
    return out;
  });
  const f = (x) => x.toFixed(2);
  console.log(`one-record commit (durable, strict): p50 ${f(result.commit.p50)} ms, p99 ${f(result.commit.p99)} ms (n=${result.commit.n})`);
  console.log(`bulk write: ${f(result.bulk.sloopMBps)} MB/s; raw IndexedDB ${f(result.bulk.rawMBps)} MB/s; fraction ${f(result.bulk.fraction)} (medians of 3, 32 MiB)`);
  console.log('size MB | file MB | commit p50 ms | commit p99 ms | open ms');
  for (const g of result.growth) console.log(`${String(g.mb).padStart(7)} | ${f(g.fileMB).padStart(7)} | ${f(g.commitP50).padStart(13)} | ${f(g.commitP99).padStart(13)} | ${f(g.openMs).padStart(7)}`);
  console.log(JSON.stringify(result));
} finally {
  await h.close();
}
