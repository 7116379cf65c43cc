// Crash tests of the page log in Chromium on real IndexedDB: pages closed while a flush's
// transaction is open (mid-commit), while a checkpoint step's transaction is open
// (mid-checkpoint), and at random moments, many rounds in both page modes. Every reopen must
// pass `PRAGMA integrity_check` and hold rows 1..m with m at least every row whose write had
// resolved (durable) before the page was closed. Also: stores written by schema version 1
// (tests/fixtures/idb-v1), version 2 (tests/fixtures/idb-v2, a log of whole pages) and version
// 3 (tests/fixtures/idb-v3, a log of records of up to 256 pages) and version 4 (tests/fixtures/idb-v4, commit
// records in meta only) open and convert in Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { repoContext, startBrowserHarness } from './harness.js';

let h;
before(async () => { h = await startBrowserHarness(); });
after(async () => { await h?.close(); });

const ROUNDS = { flush: 25, checkpoint: 25, random: 10 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function openPage(context) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(h.url + '/');
  return page;
}

/**
 * Runs in the page until it is closed: opens 'crash' (checkpoints due from 32 KiB of log and forced from 64 KiB, so
 * they are frequent), reports the rows it found, writes one row per commit and reports each
 * once durable. After `armAfter` more rows it arms the trap `kind`: the next flush (or
 * checkpoint step) calls trapped() and keeps its transaction open with a chain of reads, so
 * the page is closed while that transaction is uncommitted.
 */
async function writer([pages, kind, armAfter]) {
  const { openPersistentDb, idbBackend, writeRows, committedPrefix } = await import('/tests/browser/persist-page.js');
  let trap = null;
  const hold = (tx, what) => {
    if (trap !== what) return;
    trap = null;
    window.trapped(what);
    const spin = () => { tx.objectStore('log').count().onsuccess = spin; };
    spin();
  };
  const faults = { beforeFlushCommit: (tx) => hold(tx, 'flush'), beforeCheckpointCommit: (tx) => hold(tx, 'checkpoint') };
  const pdb = await openPersistentDb({ name: 'crash', backend: idbBackend({ faults, checkpointAtBytes: 32 << 10, checkpointForceBytes: 64 << 10 }), pages });
  if (!pdb.isWriter) await new Promise((r) => pdb.addEventListener('writer', r, { once: true }));
  const start = await committedPrefix(pdb);
  window.reopened(start);
  for (let k = start + 1; ; k++) {
    if (k === start + armAfter && kind !== 'random') trap = kind;
    writeRows(pdb, k, k).then(() => window.acked(k), () => {});
    if (k % 3 === 0) await new Promise((r) => setTimeout(r, 0));
  }
}

for (const mode of ['image', 'on-demand']) {
  test(`chromium idb ${mode}: pages closed mid-commit, mid-checkpoint and at random reopen at a committed prefix`, { timeout: 300000 }, async () => {
    const context = await repoContext(h.browser);
    const kinds = Object.entries(ROUNDS).flatMap(([kind, n]) => Array(n).fill(kind));
    const trappedCount = { flush: 0, checkpoint: 0 };
    try {
      let ackedAtClose = 0;
      let last = 0;
      for (const [round, kind] of kinds.entries()) {
        const page = await openPage(context);
        const seen = { acked: 0, reopened: -1, trapped: null };
        await page.exposeFunction('acked', (k) => { seen.acked = Math.max(seen.acked, k); });
        await page.exposeFunction('reopened', (m) => { seen.reopened = m; });
        await page.exposeFunction('trapped', (what) => { seen.trapped = what; });
        let failure = null;
        page.evaluate(writer, [mode, kind, 4 + (round % 12)]).catch((e) => { failure = e; });
        const t0 = Date.now();
        while (seen.reopened < 0 && !failure && Date.now() - t0 < 20000) await sleep(2);
        assert.ok(seen.reopened >= 0, `round ${round}: no reopen (${failure?.message})`);
        assert.ok(seen.reopened >= ackedAtClose, `round ${round}: ${ackedAtClose} durable but ${seen.reopened} reopened`);
        assert.ok(seen.reopened >= last, `round ${round}: went back from ${last} to ${seen.reopened}`);
        last = seen.reopened;
        if (kind === 'random') {
          while (seen.acked < last + 5 && Date.now() - t0 < 20000) await sleep(2);
          await sleep(Math.random() * 20);
        } else {
          while (!seen.trapped && !failure && Date.now() - t0 < 20000) await sleep(1);
          assert.equal(seen.trapped, kind, `round ${round}: the ${kind} trap never sprang (${failure?.message})`);
          trappedCount[kind]++;
        }
        ackedAtClose = seen.acked;
        await page.close();
      }
      const check = await openPage(context);
      const rows = await check.evaluate(async (pages) => {
        const { openPersistentDb, idbBackend, committedPrefix } = await import('/tests/browser/persist-page.js');
        const pdb = await openPersistentDb({ name: 'crash', backend: idbBackend(), pages });
        if (!pdb.isWriter) await new Promise((r) => pdb.addEventListener('writer', r, { once: true }));
        try {
          await pdb.checkpoint();
          return await committedPrefix(pdb);
        } finally {
          await pdb.close();
        }
      }, mode);
      assert.ok(rows >= ackedAtClose && rows >= last, `final: ${ackedAtClose} durable, ${last} seen, ${rows} reopened`);
      assert.deepEqual(trappedCount, { flush: ROUNDS.flush, checkpoint: ROUNDS.checkpoint });
    } finally {
      await context.close();
    }
  });
}

test('chromium idb: a store written by schema version 1 opens, converts and checkpoints', { timeout: 60000 }, async () => {
  const context = await repoContext(h.browser);
  try {
    const page = await openPage(context);
    const dump = JSON.parse(readFileSync(new URL('../fixtures/idb-v1/store.json', import.meta.url), 'utf8'));
    const result = await page.evaluate(async (dump) => {
      const { openPersistentDb, idbBackend, writeRows, committedPrefix } = await import('/tests/browser/persist-page.js');
      const { loadIdbV1 } = await import('/tests/fixtures/idb-v1/load.js');
      await loadIdbV1(indexedDB, dump, 'v1');
      const out = [];
      for (const pages of ['on-demand', 'image', 'on-demand']) {
        const pdb = await openPersistentDb({ name: 'v1', backend: idbBackend(), pages });
        out.push(await committedPrefix(pdb));
        await writeRows(pdb, out.at(-1) + 1, out.at(-1) + 4);
        if (pages === 'image') await pdb.checkpoint();
        await pdb.close();
      }
      return out;
    }, dump);
    assert.deepEqual(result, [12, 16, 20]);
  } finally {
    await context.close();
  }
});

test('chromium idb: a store written by schema version 2, its log of whole pages left behind, opens and takes runs over it', { timeout: 60000 }, async () => {
  const context = await repoContext(h.browser);
  try {
    const page = await openPage(context);
    const dump = JSON.parse(readFileSync(new URL('../fixtures/idb-v2/store.json', import.meta.url), 'utf8'));
    const result = await page.evaluate(async (dump) => {
      const { openPersistentDb, idbBackend, writeRows, committedPrefix } = await import('/tests/browser/persist-page.js');
      const { loadIdbV2 } = await import('/tests/fixtures/idb-v2/load.js');
      const out = [];
      for (const [name, modes] of [['v2a', ['image', 'on-demand']], ['v2b', ['on-demand', 'image']]]) {
        await loadIdbV2(indexedDB, dump, name);
        for (const pages of modes) {
          const pdb = await openPersistentDb({ name, backend: idbBackend(), pages });
          out.push(await committedPrefix(pdb));
          await writeRows(pdb, out.at(-1) + 1, out.at(-1) + 4);
          // Abandoned: the next open reads the log, version-2 records and runs alike.
          await pdb.whenDurable();
          await pdb.close({ waitDurable: false });
        }
        const pdb = await openPersistentDb({ name, backend: idbBackend(), pages: 'image' });
        out.push(await committedPrefix(pdb));
        await pdb.close();
      }
      return out;
    }, dump);
    assert.deepEqual(result, [12, 16, 20, 12, 16, 20]);
  } finally {
    await context.close();
  }
});

test('chromium idb: a store written by schema version 3, its log left behind, opens, and reopens from a log with a bulk commit\'s Blob', { timeout: 60000 }, async () => {
  const context = await repoContext(h.browser);
  try {
    const page = await openPage(context);
    const dump = JSON.parse(readFileSync(new URL('../fixtures/idb-v3/store.json', import.meta.url), 'utf8'));
    const result = await page.evaluate(async (dump) => {
      const { openPersistentDb, idbBackend, writeRows, committedPrefix } = await import('/tests/browser/persist-page.js');
      const { loadIdbV3 } = await import('/tests/fixtures/idb-v3/load.js');
      const blobIsLogged = (name) => new Promise((resolve, reject) => {
        const req = indexedDB.open(`sloop:${name}`);
        req.onsuccess = () => {
          const all = req.result.transaction('log').objectStore('log').getAll();
          all.onsuccess = () => { req.result.close(); resolve(all.result.some((v) => v.bytes instanceof Blob)); };
          all.onerror = () => reject(all.error);
        };
        req.onerror = () => reject(req.error);
      });
      const out = [];
      for (const [name, modes] of [['v3a', ['image', 'on-demand']], ['v3b', ['on-demand', 'image']]]) {
        await loadIdbV3(indexedDB, dump, name);
        for (const [k, pages] of modes.entries()) {
          const pdb = await openPersistentDb({ name, backend: idbBackend(), pages });
          out.push(await committedPrefix(pdb), (await pdb.call('sql', 'SELECT length(b) FROM big'))[0][0]);
          await writeRows(pdb, out.at(-2) + 1, out.at(-2) + 4);
          await pdb.call('sql', `UPDATE big SET b = zeroblob(${1200000 + k})`);
          // Abandoned: the next open reads the log, version-3 records and a Blob alike.
          await pdb.whenDurable();
          await pdb.close({ waitDurable: false });
          out.push(await blobIsLogged(name));
        }
        const pdb = await openPersistentDb({ name, backend: idbBackend(), pages: 'image' });
        out.push(await committedPrefix(pdb), (await pdb.call('sql', 'SELECT length(b) FROM big'))[0][0]);
        await pdb.close();
      }
      return out;
    }, dump);
    const run = [14, 1100000, true, 18, 1200000, true, 22, 1200001];
    assert.deepEqual(result, [...run, ...run]);
  } finally {
    await context.close();
  }
});

test('chromium idb: a store written by schema version 4, its log left behind, opens, takes commits that hold their records, and reopens', { timeout: 60000 }, async () => {
  const context = await repoContext(h.browser);
  try {
    const page = await openPage(context);
    const dump = JSON.parse(readFileSync(new URL('../fixtures/idb-v4/store.json', import.meta.url), 'utf8'));
    const result = await page.evaluate(async (dump) => {
      const { openPersistentDb, idbBackend, writeRows, committedPrefix } = await import('/tests/browser/persist-page.js');
      const { loadIdbV4 } = await import('/tests/fixtures/idb-v4/load.js');
      /** Whether some commit in the log holds its commit record (version 5's), and how many claim markers it has. */
      const logShape = (name) => new Promise((resolve, reject) => {
        const req = indexedDB.open(`sloop:${name}`);
        req.onsuccess = () => {
          const all = req.result.transaction('log').objectStore('log').getAll();
          all.onsuccess = () => {
            req.result.close();
            const markers = all.result.filter((v) => v.marker === true);
            resolve([all.result.some((v) => v.record instanceof ArrayBuffer && v.marker !== true), markers.length]);
          };
          all.onerror = () => reject(all.error);
        };
        req.onerror = () => reject(req.error);
      });
      const out = [];
      for (const [name, modes] of [['v4a', ['image', 'on-demand']], ['v4b', ['on-demand', 'image']]]) {
        await loadIdbV4(indexedDB, dump, name);
        out.push(await logShape(name));
        for (const [k, pages] of modes.entries()) {
          const pdb = await openPersistentDb({ name, backend: idbBackend(), pages });
          out.push(await committedPrefix(pdb), (await pdb.call('sql', 'SELECT length(b) FROM big'))[0][0]);
          await writeRows(pdb, out.at(-2) + 1, out.at(-2) + 4);
          await pdb.call('sql', `UPDATE big SET b = zeroblob(${1200000 + k})`);
          // Abandoned: the next open reads the version-4 records and the new ones alike.
          await pdb.whenDurable();
          await pdb.close({ waitDurable: false });
        }
        out.push(await logShape(name));
        const pdb = await openPersistentDb({ name, backend: idbBackend(), pages: 'image' });
        out.push(await committedPrefix(pdb), (await pdb.call('sql', 'SELECT length(b) FROM big'))[0][0]);
        out.push((await pdb.call('sql', 'PRAGMA integrity_check'))[0][0]);
        await pdb.close();
      }
      return out;
    }, dump);
    // Before: version-4 commits alone. After two sessions: each claim's marker, and the commits
    // of the second (the first's may have been checkpointed by the second's open) with their records.
    const run = [[false, 0], 14, 1100000, 18, 1200000, [true, 2], 22, 1200001, 'ok'];
    assert.deepEqual(result, [...run, ...run]);
  } finally {
    await context.close();
  }
});
