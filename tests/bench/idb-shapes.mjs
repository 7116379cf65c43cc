/**
 * idb-shapes.mjs -- what the shape of one durable commit's IndexedDB transaction costs in
 * Chromium (strict durability), with nothing of Sloop around it: the shapes a single durable
 * write could take, alternated round by round in one tab. Prints each shape's median ms per
 * transaction over ROUNDS rounds of N back-to-back transactions.
 * `node tests/bench/idb-shapes.mjs [rounds [n]]` (default 9 rounds of 200). The figures behind
 * schema version 5 (docs/PERSISTENCE.md, "Schema version 5: a commit is one add").
 */
import { repoContext, startBrowserHarness } from '../browser/harness.js';

const rounds = Number(process.argv[2] ?? 9);
const n = Number(process.argv[3] ?? 200);
const h = await startBrowserHarness();
try {
  const context = await repoContext(h.browser);
  const page = await context.newPage();
  await page.goto(h.url + '/');
  const out = await page.evaluate(async ([rounds, n]) => {
    const db = await new Promise((resolve, reject) => {
      const req = indexedDB.open(`shapes-${Date.now()}`, 1);
      req.onupgradeneeded = () => { for (const s of ['log', 'meta', 'rows']) req.result.createObjectStore(s); };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const finished = (tx) => new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onabort = () => reject(tx.error); });
    const answered = (req) => new Promise((resolve) => { req.onsuccess = resolve; });
    const rw = (stores) => db.transaction(stores, 'readwrite', { durability: 'strict' });
    const logRecord = () => new Uint8Array(1716).buffer; // a single put's commit, as runs (median)
    const commitRecord = () => new Uint8Array(48).buffer;
    const shapes = {
      // Dexie's put: one object of about a note's size.
      'dexie: one put': async (key) => { const tx = rw(['rows']); tx.objectStore('rows').put({ id: key, title: 'x'.repeat(300) }, key); await finished(tx); },
      // Schema version 4: the fencing read, the log record and the commit record, commit() after the read's answer.
      'v4: get, 2 puts, 2 stores': async (key) => {
        const tx = rw(['log', 'meta']);
        const read = tx.objectStore('meta').get('commit');
        tx.objectStore('log').put(logRecord(), [key, 0]);
        tx.objectStore('meta').put(commitRecord(), 'commit');
        await answered(read);
        tx.commit();
        await finished(tx);
      },
      '2 puts, 2 stores': async (key) => {
        const tx = rw(['log', 'meta']);
        tx.objectStore('log').put(logRecord(), [key, 0]);
        tx.objectStore('meta').put(commitRecord(), 'commit');
        tx.commit();
        await finished(tx);
      },
      'get, 1 put, 2 stores': async (key) => {
        const tx = rw(['log', 'meta']);
        const read = tx.objectStore('meta').get('commit');
        tx.objectStore('log').put(logRecord(), [key, 0]);
        await answered(read);
        tx.commit();
        await finished(tx);
      },
      '2 puts, 1 store': async (key) => {
        const tx = rw(['log']);
        tx.objectStore('log').put(logRecord(), [key, 0]);
        tx.objectStore('log').put(commitRecord(), [key, -1]);
        tx.commit();
        await finished(tx);
      },
      // A fence key added and deleted in every commit, and the record.
      'add+delete fence, put': async (key) => {
        const tx = rw(['log']);
        const log = tx.objectStore('log');
        log.add(new ArrayBuffer(0), ['fence', 1]);
        log.delete(['fence', 1]);
        log.put(logRecord(), [key, 0]);
        tx.commit();
        await finished(tx);
      },
      'v5: 1 add, 1 store': async (key) => { const tx = rw(['log']); tx.objectStore('log').add(logRecord(), [key, 0]); tx.commit(); await finished(tx); },
    };
    const times = {};
    for (let round = 0; round < rounds; round++) {
      for (const [s, [name, shape]] of Object.entries(shapes).entries()) {
        const t = performance.now();
        for (let i = 0; i < n; i++) await shape(s * 1e7 + round * 1e5 + i);
        (times[name] ??= []).push((performance.now() - t) / n);
      }
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    return Object.fromEntries(Object.entries(times).map(([name, xs]) => [name, +median(xs).toFixed(3)]));
  }, [rounds, n]);
  console.log(JSON.stringify(out, null, 1));
} finally {
  await h.close();
}
