// On-demand pages in Chromium (JS Promise Integration, real IndexedDB): opening reads the
// commit record and page 0 only, queries read what they touch, a scan of a database larger
// than the cache reads ahead in runs and leaves the cache (and the heap) bounded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { repoContext, startBrowserHarness } from './harness.js';

let h;
let context;
before(async () => {
  h = await startBrowserHarness();
  context = await repoContext(h.browser);
});
after(async () => {
  await context?.close();
  await h?.close();
});

/** Runs `fn(arg)` in a fresh page (a fresh WebAssembly heap) of the shared context. */
async function inPage(fn, arg) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  try {
    await page.goto(h.url + '/');
    return await page.evaluate(fn, arg);
  } finally {
    await page.close();
  }
}

const ROWS = 6000; // rows of 3,500 bytes: about 24 MB, 6,000+ pages

test('setup: a 24 MB database written in on-demand mode', { timeout: 120000 }, async () => {
  const out = await inPage(async (rows) => {
    const { openPersistentDb, idbBackend } = await import('/tests/browser/persist-page.js');
    const pdb = await openPersistentDb({ name: 'big', backend: idbBackend(), pages: 'auto', cacheBytes: 4 << 20 });
    await pdb.call('sql', 'CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)');
    for (let from = 1; from <= rows; from += 1000) {
      await pdb.call('sql', `WITH RECURSIVE n(i) AS (SELECT ${from} UNION ALL SELECT i + 1 FROM n WHERE i < ${from + 999})` +
        " INSERT INTO t SELECT i, printf('%.3500c', char(97 + i % 26)) FROM n");
    }
    const stats = pdb.cacheStats();
    await pdb.close();
    return { mode: pdb.mode, stats };
  }, ROWS);
  assert.equal(out.mode, 'on-demand', "'auto' picks on-demand where JSPI exists");
  assert.ok(out.stats.pageCount > ROWS, `${out.stats.pageCount} pages`);
  assert.ok(out.stats.residentPages <= out.stats.cachePages, `${out.stats.residentPages} pages resident of ${out.stats.cachePages} after writing`);
});

test('opening reads the commit record and page 0; a point query reads a few pages', { timeout: 60000 }, async () => {
  const out = await inPage(async () => {
    const { openPersistentDb, idbBackend } = await import('/tests/browser/persist-page.js');
    const backend = idbBackend();
    const pdb = await openPersistentDb({ name: 'big', backend, pages: 'on-demand' });
    const atOpen = { ...backend.stats };
    const row = await pdb.call('sql', 'SELECT k, length(v), substr(v, 1, 1) FROM t WHERE k = 4321');
    const afterQuery = { ...backend.stats };
    const stats = pdb.cacheStats();
    await pdb.close();
    return { atOpen, afterQuery, row, stats };
  });
  assert.deepEqual(out.row, [[4321, 3500, String.fromCharCode(97 + (4321 % 26))]]);
  // Open: page 0 with the claim, then the schema and the core's own tables.
  assert.ok(out.atOpen.pagesRead < 64, `open read ${out.atOpen.pagesRead} of ${out.stats.pageCount} pages`);
  const byQuery = out.afterQuery.pagesRead - out.atOpen.pagesRead;
  assert.ok(byQuery >= 1 && byQuery <= 16, `a point query read ${byQuery} pages`);
});

test('a full scan of a database larger than the cache reads ahead and stays bounded', { timeout: 60000 }, async () => {
  const out = await inPage(async () => {
    const { openPersistentDb, idbBackend } = await import('/tests/browser/persist-page.js');
    const backend = idbBackend();
    const pdb = await openPersistentDb({ name: 'big', backend, pages: 'on-demand', cacheBytes: 2 << 20 });
    const heapAtOpen = pdb.mod.HEAPU8.length;
    const sums = await pdb.call('sql', "SELECT count(*), sum(length(v)), sum(substr(v, 1, 1) = char(97 + k % 26)) FROM t");
    const integrity = await pdb.call('sql', 'PRAGMA integrity_check');
    const stats = pdb.cacheStats();
    const reads = { ...backend.stats };
    const heap = pdb.mod.HEAPU8.length;
    await pdb.close();
    return { sums, integrity, stats, reads, heapAtOpen, heap };
  });
  const MiB = 1 << 20;
  assert.deepEqual(out.sums, [[ROWS, ROWS * 3500, ROWS]]);
  assert.deepEqual(out.integrity, [['ok']]);
  assert.equal(out.stats.cachePages, 512);
  assert.ok(out.stats.residentPages <= out.stats.cachePages, `${out.stats.residentPages} resident of ${out.stats.cachePages}`);
  assert.ok(out.reads.pagesRead >= out.stats.pageCount, `${out.reads.pagesRead} pages read of ${out.stats.pageCount}`);
  // Read-ahead: runs of pages per getAll, not one request per page.
  assert.ok(out.reads.pageReads * 8 < out.reads.pagesRead, `${out.reads.pageReads} requests for ${out.reads.pagesRead} pages`);
  // The whole image would need 24 MB of heap on top of the initial 16 MiB.
  assert.ok(out.heap <= 24 * MiB, `heap ${out.heap / MiB} MiB after the scan (${out.heapAtOpen / MiB} at open)`);
});

test('writes on demand survive a reopen as a whole image', { timeout: 60000 }, async () => {
  await inPage(async () => {
    const { openPersistentDb, idbBackend } = await import('/tests/browser/persist-page.js');
    const pdb = await openPersistentDb({ name: 'big', backend: idbBackend(), pages: 'on-demand', cacheBytes: 1 << 20 });
    await pdb.call('sql', "UPDATE t SET v = printf('%.3500c', 'Z') WHERE k % 7 = 0");
    await pdb.close();
  });
  const out = await inPage(async () => {
    const { openPersistentDb, idbBackend } = await import('/tests/browser/persist-page.js');
    const pdb = await openPersistentDb({ name: 'big', backend: idbBackend(), pages: 'image' });
    // One statement per call: sql() answers with the last statement's rows only.
    const integrity = await pdb.call('sql', 'PRAGMA integrity_check');
    const rows = await pdb.call('sql', "SELECT count(*) FROM t WHERE substr(v, 1, 1) = 'Z'");
    await pdb.close();
    return { mode: pdb.mode, integrity, rows };
  });
  assert.equal(out.mode, 'image');
  assert.deepEqual(out.integrity, [['ok']]);
  assert.deepEqual(out.rows, [[Math.floor(ROWS / 7)]]);
});

test('a fenced writer refuses to read pages of the newer writer', { timeout: 60000 }, async () => {
  const out = await inPage(async () => {
    const { openPersistentDb, idbBackend } = await import('/tests/browser/persist-page.js');
    const { ProcessLocks } = await import('/js/storage/tabs.js');
    const open = () => openPersistentDb({ name: 'big', backend: idbBackend(), pages: 'on-demand', locks: new ProcessLocks() });
    const zombie = await open();
    const before = await zombie.call('sql', 'SELECT length(v) FROM t WHERE k = 10');
    const owner = await open(); // another "session": claims the store, a new epoch
    const errors = [];
    zombie.addEventListener('error', (e) => errors.push(e.detail.error.code));
    const code = await zombie.call('sql', 'SELECT length(v) FROM t WHERE k = 5000').then(() => null, (e) => e.code);
    const ownerReads = await owner.call('sql', 'SELECT length(v) FROM t WHERE k = 5000');
    await owner.close();
    await zombie.close();
    return { before, code, errors, ownerReads };
  });
  assert.deepEqual(out.before, [[3500]]);
  assert.equal(out.code, 'fenced');
  assert.deepEqual(out.errors, ['fenced']);
  assert.deepEqual(out.ownerReads, [[3500]]);
});

test('the pages a session fetched first are read at the next open, and never served stale', { timeout: 120000 }, async () => {
  const name = `startup-${Date.now()}`;
  const CHECK = "SELECT count(*), sum(substr(v, 1, 1) = CASE WHEN k <= 750 THEN 'Z' ELSE char(97 + k % 26) END) FROM t";
  const QUERY = 'SELECT k, substr(v, 1, 1) FROM t WHERE k IN (10, 700, 1400) ORDER BY k';
  // 1,500 rows of 3,500 bytes, then a session whose first query reads three of them.
  const first = await inPage(async ({ name, QUERY }) => {
    const { openPersistentDb, idbBackend } = await import('/tests/browser/persist-page.js');
    const writer = await openPersistentDb({ name, backend: idbBackend(), pages: 'on-demand', cacheBytes: 1 << 20 });
    await writer.call('sql', 'CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)');
    await writer.call('sql', 'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500)' +
      " INSERT INTO t SELECT i, printf('%.3500c', char(97 + i % 26)) FROM n");
    await writer.close();
    const backend = idbBackend();
    const pdb = await openPersistentDb({ name, backend, pages: 'on-demand', cacheBytes: 1 << 20 });
    const rows = await pdb.call('sql', QUERY);
    await pdb.close();
    return { rows, reads: backend.stats.pageReads };
  }, { name, QUERY });
  assert.deepEqual(first.rows, [[10, 'k'], [700, 'y'], [1400, 'w']]);
  assert.ok(first.reads >= 3, `the first session read ${first.reads} times`);
  // The next session: the same query reads nothing more; then it deletes and rewrites half of
  // the table (freed pages reused without being read) with a cache smaller than the table, so
  // pages prefetched, changed, evicted and read again must all come back as committed.
  const second = await inPage(async ({ name, QUERY, CHECK }) => {
    const { openPersistentDb, idbBackend } = await import('/tests/browser/persist-page.js');
    const backend = idbBackend();
    const pdb = await openPersistentDb({ name, backend, pages: 'on-demand', cacheBytes: 1 << 20 });
    const atOpen = { ...backend.stats };
    const rows = await pdb.call('sql', QUERY);
    const byQuery = backend.stats.pageReads - atOpen.pageReads;
    await pdb.call('sql', 'DELETE FROM t WHERE k <= 750');
    await pdb.call('sql', 'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 750)' +
      " INSERT INTO t SELECT i, printf('%.3500c', 'Z') FROM n");
    const check = await pdb.call('sql', CHECK);
    const integrity = await pdb.call('sql', 'PRAGMA integrity_check');
    await pdb.close();
    return { atOpen, rows, byQuery, check, integrity };
  }, { name, QUERY, CHECK });
  assert.ok(second.atOpen.pagesPrefetched >= 3, `${second.atOpen.pagesPrefetched} pages prefetched`);
  assert.deepEqual(second.rows, [[10, 'k'], [700, 'y'], [1400, 'w']]);
  assert.equal(second.byQuery, 0, 'the first query was answered from the prefetched pages');
  assert.deepEqual(second.check, [[1500, 1500]]);
  assert.deepEqual(second.integrity, [['ok']]);
  const third = await inPage(async ({ name, CHECK }) => {
    const { openPersistentDb, idbBackend } = await import('/tests/browser/persist-page.js');
    const pdb = await openPersistentDb({ name, backend: idbBackend(), pages: 'on-demand', cacheBytes: 1 << 20 });
    const check = await pdb.call('sql', CHECK);
    const integrity = await pdb.call('sql', 'PRAGMA integrity_check');
    await pdb.close();
    return { check, integrity };
  }, { name, CHECK });
  assert.deepEqual(third.check, [[1500, 1500]]);
  assert.deepEqual(third.integrity, [['ok']]);
});
