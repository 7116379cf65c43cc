// The page log's pure parts (js/storage/page-log.js): record layout, the page map, the fold a
// checkpoint writes, and how much one checkpoint step takes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  logRecords, logPage, PageMap, checkpointUpTo, encodePage, decodePage, basesNeeded, readableRecord, ownBuffer,
  LOG_CHUNK_PAGES, CHECKPOINT_STEP_BYTES, BLOB_MIN_BYTES, COMMIT_LAYOUT,
} from '../../js/storage/page-log.js';

const PS = 4096;
const page = (tag) => new Uint8Array(PS).fill(tag).buffer;
const commit = (pages, fileSize, truncated = false) => ({ pageSize: PS, fileSize, truncated, pages: new Map(pages.map(([i, tag]) => [i, page(tag)])) });
const tagOf = (bytes) => new Uint8Array(bytes)[0];

test('a commit becomes one record, its bytes a Blob when large, an ArrayBuffer when small or without Blobs', async () => {
  const n = LOG_CHUNK_PAGES + 3;
  const big = commit(Array.from({ length: n }, (_, i) => [n - 1 - i, (n - 1 - i) % 251]), n * PS);
  for (const blobs of [false, true]) {
    const records = logRecords(7, big, undefined, { blobs });
    assert.deepEqual(records.map((r) => r.key), [[7, 0]]);
    const { value } = records[0];
    assert.equal(value.chunks, 1);
    assert.equal(value.index.length, n);
    assert.equal(value.bytes instanceof Blob, blobs, `blobs: ${blobs}`);
    await readableRecord(value);
    assert.ok(value.bytes instanceof ArrayBuffer);
    value.index.forEach((p, slot) => assert.equal(tagOf(logPage(value, slot)), p % 251));
  }
  assert.ok(!(logRecords(1, commit([[0, 1]], PS))[0].value.bytes instanceof Blob), 'one page: under BLOB_MIN_BYTES');
  assert.ok(BLOB_MIN_BYTES > PS + 8);
  assert.deepEqual(logRecords(8, commit([], PS, true)).map((r) => [r.key, r.value.index.length]), [[[8, 0], 0]]);
});

/** A large commit as the commit hook (host.js copyLaidOut) hands it over: views into laid-out buffers. */
function laidOut(pages, fileSize) {
  const { pagesPerBuffer, gapBytes } = COMMIT_LAYOUT;
  const stride = gapBytes + PS;
  const map = new Map();
  for (let from = 0; from < pages.length; from += pagesPerBuffer) {
    const group = pages.slice(from, from + pagesPerBuffer);
    const buffer = new ArrayBuffer(group.length * stride);
    group.forEach(([i, tag], k) => map.set(i, new Uint8Array(buffer, k * stride + gapBytes, PS).fill(tag)));
  }
  return { pageSize: PS, fileSize, truncated: false, pages: map };
}

test('a laid-out commit of whole pages is logged from the hook\'s buffers, and the map keeps only those views', async () => {
  const n = 2 * LOG_CHUNK_PAGES + 5;
  const batch = laidOut(Array.from({ length: n }, (_, i) => [i, i % 251]), n * PS);
  const [record] = logRecords(1, batch, undefined, { blobs: false });
  assert.equal(record.shared.size, 3, 'every buffer taken as it is');
  for (const buffer of record.shared) assert.ok([...batch.pages.values()].some((v) => v.buffer === buffer));
  record.value.index.forEach((p, slot) => assert.equal(tagOf(logPage(record.value, slot)), p % 251));
  // The same pages with one of them replaced by a page of its own: that buffer is copied.
  const mixed = laidOut(Array.from({ length: n }, (_, i) => [i, i % 251]), n * PS);
  mixed.pages.set(3, page(77));
  const [copied] = logRecords(2, mixed, undefined, { blobs: false });
  assert.equal(copied.shared.size, 2, 'the first buffer no longer lines up');
  assert.equal(tagOf(logPage(copied.value, 3)), 77);
  const map = new PageMap();
  map.add(copied.key, copied.value, mixed.pages, copied.shared);
  assert.ok(map.get(0)[3] instanceof ArrayBuffer, 'a view into a buffer the record copied is copied out');
  assert.equal(map.get(0)[3].byteLength, PS);
  assert.ok(map.get(LOG_CHUNK_PAGES)[3] instanceof Uint8Array, 'a view into a buffer the record took is kept');
  assert.equal(ownBuffer(map.get(LOG_CHUNK_PAGES)[3]).byteLength, PS, 'and copied out whole for a page record');
  // Runs are found between views at any (aligned) offset as between ArrayBuffers.
  const next = new Uint8Array(laidOut([[0, 5]], PS).pages.get(0));
  next[100] = 1;
  assert.deepEqual(encodePage(next, batch.pages.get(5)), encodePage(next.slice().buffer, page(5)));
});

test('the page map names the newest copy, forgets truncated pages and checkpointed records', () => {
  const map = new PageMap();
  for (const r of logRecords(1, commit([[0, 1], [5, 1]], 6 * PS))) map.add(r.key, r.value);
  for (const r of logRecords(2, commit([[0, 2]], 6 * PS))) map.add(r.key, r.value);
  const at = (page) => map.get(page)?.slice(0, 3);
  assert.deepEqual(at(0), [2, 0, 0]);
  assert.deepEqual(at(5), [1, 0, 1]);
  for (const r of logRecords(3, commit([], 3 * PS, true))) map.add(r.key, r.value);
  assert.equal(map.get(5), undefined, 'past the end after the truncation');
  assert.equal(map.entries, 3);
  map.dropUpTo([1, 0]);
  assert.deepEqual([at(0), map.entries, map.bytes], [[2, 0, 0], 2, PS + 8], 'a whole page: one run of 8 header bytes');
  map.dropUpTo([3, 0]);
  assert.deepEqual([at(0), map.entries, map.bytes], [undefined, 0, 0]);
});

test('a checkpoint step folds commits as the flush scheduler does, from memory, also from inside a commit', () => {
  const map = new PageMap();
  const add = (records) => { for (const r of records) map.add(r.key, r.value); };
  add(logRecords(1, commit([[0, 1], [1, 1], [9, 1]], 10 * PS)));
  add(logRecords(2, commit([[1, 2]], 4 * PS, true)));
  add(logRecords(3, commit([[2, 3]], 4 * PS)));
  const step = map.checkpointStep();
  assert.deepEqual(step.upTo, [3, 0]);
  assert.deepEqual([...step.pages].map(([i, b]) => [i, tagOf(b)]).sort((a, b) => a[0] - b[0]), [[0, 1], [1, 2], [2, 3]]);
  assert.deepEqual([step.truncated, step.fileSize], [true, 4 * PS]);
  map.checkpointed(step);
  assert.equal(map.checkpointStep(), null);
  // A bulk commit is one record: steps of LOG_CHUNK_PAGES pages go through it part by part.
  add(logRecords(4, commit(Array.from({ length: 3 * LOG_CHUNK_PAGES }, (_, i) => [i, 4]), 3 * LOG_CHUNK_PAGES * PS), undefined, { blobs: false }));
  for (let part = 1; part <= 3; part++) {
    const inside = map.checkpointStep(LOG_CHUNK_PAGES * PS);
    assert.equal(inside.pages.size, LOG_CHUNK_PAGES);
    assert.equal(Math.min(...inside.pages.keys()), (part - 1) * LOG_CHUNK_PAGES, `part ${part} starts where the last ended`);
    assert.deepEqual([inside.upTo, inside.partial], part < 3 ? [null, { key: [4, 0], to: part * LOG_CHUNK_PAGES }] : [[4, 0], null]);
    const before = map.bytes;
    map.checkpointed(inside);
    assert.equal(map.entries, part < 3 ? 1 : 0, 'the record stays in the log until its last part');
    assert.ok(Math.abs(map.bytes - before * (3 - part) / (4 - part)) < 16, `the log counts what is left of it: ${map.bytes} of ${before}`);
  }
  assert.equal(map.pageBytes, 0);
});

test('a checkpoint step writes each page\'s newest logged copy, even past its last record', () => {
  const map = new PageMap();
  const add = (records) => { for (const r of records) map.add(r.key, r.value); };
  add(logRecords(1, commit([[0, 1], [1, 1], [7, 1]], 8 * PS)));
  add(logRecords(2, commit([[0, 2], [2, 2]], 8 * PS)));
  add(logRecords(3, commit([[3, 3]], 6 * PS, true)));
  // A step that ends at commit 1 writes page 0 as commit 2 left it, and skips page 7, which
  // commit 3 truncated away: applying commits 2 and 3 over those page records gives the same.
  // Three pages: commit 1, then page 0 of commit 2 (its index is [0, 2]).
  const step = map.checkpointStep(3 * PS);
  assert.deepEqual([step.upTo, step.partial], [[1, 0], { key: [2, 0], to: 1 }]);
  assert.deepEqual([...step.pages].map(([i, b]) => [i, tagOf(b)]).sort((a, b) => a[0] - b[0]), [[0, 2], [1, 1]]);
  map.checkpointed(step);
  assert.deepEqual([map.get(0), map.get(2)?.slice(0, 2), map.entries], [undefined, [2, 0], 2], 'page 0 written, page 2 still logged');
  assert.equal(tagOf(map.baseOf(0)), 2);
  assert.deepEqual(map.checkpointStep(3 * PS).pages.size, 2, 'the next step: page 2, then commit 3');
});

test('a checkpointed page\'s base is the buffer its page record was put from, or else a copy of its own', () => {
  const n = 2 * COMMIT_LAYOUT.minPages;
  const batch = laidOut(Array.from({ length: n }, (_, i) => [i, i % 251]), n * PS);
  const [record] = logRecords(1, batch, undefined, { blobs: false });
  const map = new PageMap();
  map.add(record.key, record.value, batch.pages, record.shared);
  const step = map.checkpointStep();
  assert.equal(step.pages.size, n);
  assert.ok([...step.pages.values()].every((v) => v instanceof Uint8Array), 'views into the hook\'s buffers');
  // As idb-backend.js's checkpoint puts them: each view copied out once; all but page 1 handed on.
  const written = new Map([...step.pages].filter(([p]) => p !== 1).map(([, bytes]) => [bytes, ownBuffer(bytes)]));
  map.checkpointed({ ...step, written });
  assert.equal(map.entries, 0);
  for (let p = 0; p < n; p++) {
    const base = map.baseOf(p);
    assert.ok(base instanceof ArrayBuffer && base.byteLength === PS, `page ${p}: a buffer of its own`);
    assert.equal(tagOf(base), p % 251);
    if (p !== 1) assert.equal(base, written.get(step.pages.get(p)), `page ${p}: the buffer put`);
  }
});

test('rewrites of the same pages count once towards a step', () => {
  const map = new PageMap();
  for (let seq = 1; seq <= 300; seq++) for (const r of logRecords(seq, commit([[0, seq % 250], [1, 1], [seq % 10 + 2, 1]], 12 * PS))) map.add(r.key, r.value);
  assert.ok(map.bytes > CHECKPOINT_STEP_BYTES);
  assert.deepEqual(checkpointUpTo(map), { upTo: [300, 0], partial: null }, 'twelve distinct pages: the whole log in one step');
});

test('one checkpoint step takes the oldest records up to CHECKPOINT_STEP_BYTES of pages, at least one page', () => {
  const map = new PageMap();
  assert.equal(checkpointUpTo(map), null);
  const n = CHECKPOINT_STEP_BYTES / PS + 2 * LOG_CHUNK_PAGES;
  for (const r of logRecords(1, commit(Array.from({ length: n }, (_, i) => [i, 1]), n * PS), undefined, { blobs: false })) map.add(r.key, r.value);
  assert.deepEqual(checkpointUpTo(map), { upTo: null, partial: { key: [1, 0], to: CHECKPOINT_STEP_BYTES / PS } });
  assert.deepEqual(checkpointUpTo(map, PS / 2), { upTo: null, partial: { key: [1, 0], to: 1 } }, 'a bound under a page: one page');
});

test('checkpoint steps that end inside records, between commits that rewrite their pages, always leave the same database', () => {
  // The store as IndexedDB would hold it: page records and log records, each step applied to it
  // as its transaction would; after every step a fresh map replays the log over the page records
  // (what an open does) and must find every page's newest copy.
  const store = { pages: new Map(), log: [] };
  const newest = new Map();
  const map = new PageMap();
  const flush = (seq, pages) => {
    const batch = { pageSize: PS, fileSize: 600 * PS, truncated: false, pages: new Map(pages.map(([i, tag]) => [i, page(tag)])) };
    const [record] = logRecords(seq, batch, (p) => map.baseOf(p), { blobs: false });
    store.log.push(record);
    map.add(record.key, record.value, batch.pages, record.shared);
    for (const [i, tag] of pages) newest.set(i, tag);
  };
  const reopenMatches = () => {
    const fresh = new PageMap();
    for (const p of basesNeeded(store.log)) fresh.seed(p, store.pages.get(p));
    for (const { key, value } of store.log) fresh.add(key, value);
    for (const [i, tag] of newest) assert.equal(tagOf(fresh.get(i)?.[3] ?? store.pages.get(i)), tag, `page ${i}`);
  };
  flush(1, Array.from({ length: 600 }, (_, i) => [i, 1]));
  let seq = 2;
  for (let step = map.checkpointStep(100 * PS); step; step = map.checkpointStep(100 * PS)) {
    // A flush that commits while the step is in flight (its transaction was queued first)
    // rewrites one of the step's pages: the step writes the older copy, and the newer one must
    // stay in the map for a later step.
    if (seq < 10) flush(seq, [[Math.max(...step.pages.keys()), 30 + seq]]), seq++;
    for (const [i, bytes] of step.pages) store.pages.set(i, ownBuffer(bytes));
    if (step.upTo) store.log = store.log.filter((r) => r.key[0] > step.upTo[0]);
    map.checkpointed(step);
    reopenMatches();
    // Between steps, a commit rewrites a page already written and one not yet reached (as runs:
    // the map holds their copies), so later steps meet pages newer than the big record.
    if (seq < 10) flush(seq, [[seq * 7, 10 + seq], [590 - seq, 20 + seq]]), seq++;
    reopenMatches();
  }
  assert.equal(store.log.length, 0);
  for (const [i, tag] of newest) assert.equal(tagOf(store.pages.get(i)), tag, `page ${i} checkpointed`);
});

test('a page whose newest copy an earlier step put is not put again, and the store stays the same database', () => {
  // As idb-backend.js's checkpoint applies a step: page records and log records, then the map.
  const store = { pages: new Map(), log: [] };
  const map = new PageMap();
  const puts = [];
  const flush = (seq, pages) => {
    const batch = { pageSize: PS, fileSize: 8 * PS, truncated: false, pages: new Map(pages.map(([i, tag]) => [i, page(tag)])) };
    const [record] = logRecords(seq, batch, (p) => map.baseOf(p), { blobs: false });
    store.log.push(record);
    map.add(record.key, record.value, batch.pages, record.shared);
  };
  const apply = (step) => {
    for (const [i, bytes] of step.pages) store.pages.set(i, ownBuffer(bytes)), puts.push([i, tagOf(bytes)]);
    if (step.upTo) store.log = store.log.filter((r) => r.key[0] > step.upTo[0]);
    map.checkpointed(step);
  };
  const reopened = () => {
    const fresh = new PageMap();
    for (const p of basesNeeded(store.log)) fresh.seed(p, store.pages.get(p));
    for (const { key, value } of store.log) fresh.add(key, value);
    return (i) => tagOf(fresh.get(i)?.[3] ?? store.pages.get(i));
  };
  // Page 7 is rewritten by most commits (an index's root); the others by one or two.
  flush(1, [[1, 1], [7, 1]]);
  flush(2, [[2, 2], [7, 2]]);
  flush(3, [[3, 3]]);
  apply(map.checkpointStep(2 * PS)); // commit 1: page 1, and page 7 as commit 2 left it
  assert.deepEqual(puts, [[1, 1], [7, 2]]);
  // Commit 2's step: page 7's newest copy is the one put, so only page 2 goes.
  const second = map.checkpointStep(2 * PS);
  assert.deepEqual(second.upTo, [2, 0]);
  apply(second);
  assert.deepEqual(puts.slice(2), [[2, 2]]);
  const read = reopened();
  assert.deepEqual([1, 2, 3, 7].map(read), [1, 2, 3, 2]);
  // A commit while a step is in flight rewrites page 7: the step puts the copy it took, and the
  // newer one is put by a later step, not taken for stored.
  flush(4, [[7, 4]]);
  flush(5, [[1, 5], [7, 5]]);
  const inFlight = map.checkpointStep(2 * PS); // commits 3 and 4: page 3, page 7 as commit 5 left it
  flush(6, [[7, 6]]);
  apply(inFlight);
  assert.deepEqual(puts.slice(3), [[3, 3], [7, 5]]);
  while (map.entries) apply(map.checkpointStep(2 * PS));
  assert.deepEqual(puts.slice(5), [[1, 5], [7, 6]]);
  assert.equal(store.log.length, 0);
  assert.deepEqual([1, 2, 3, 7].map(reopened()), [5, 2, 3, 6]);
});

test('a page is logged as runs over its previous copy, whole without one, and decodes back', () => {
  const base = new Uint8Array(PS).fill(7);
  const next = base.slice();
  next.set([1, 2, 3], 100);
  next[4000] = 9;
  next[0] = 5;
  const runs = encodePage(next.buffer, base.buffer);
  assert.ok(runs.byteLength < 64, `three short runs: ${runs.byteLength} bytes`);
  assert.deepEqual(new Uint8Array(decodePage(runs, base.buffer, PS)), next);
  assert.equal(encodePage(next.buffer, undefined).byteLength, PS + 8, 'no base: whole');
  assert.deepEqual(new Uint8Array(decodePage(encodePage(next.buffer, undefined), undefined, PS)), next);
  const scrambled = Uint8Array.from({ length: PS }, (_, i) => (i * 13) % 251);
  assert.equal(encodePage(scrambled.buffer, base.buffer).byteLength, PS + 8, 'runs over half a page: whole');
  assert.equal(encodePage(base.slice().buffer, base.buffer).byteLength, 0, 'unchanged: no runs');
  assert.throws(() => decodePage(runs, undefined, PS), { code: 'corrupt' });
  const damaged = runs.slice();
  new DataView(damaged.buffer).setUint32(0, PS, true);
  assert.throws(() => decodePage(damaged, base.buffer, PS), { code: 'corrupt' });
});

test('an open reads the page records that a log\'s first runs of a page apply over, and decodes the log', () => {
  const edit = (bytes, at, tag) => { const out = new Uint8Array(bytes).slice(); out.fill(tag, at, at + 16); return out.buffer; };
  const stored = page(1);
  const v1 = edit(stored, 0, 2);
  const v2 = edit(v1, 2000, 3);
  const batch = (pages) => ({ pageSize: PS, fileSize: 5 * PS, truncated: false, pages: new Map(pages) });
  const map = new PageMap();
  map.seed(3, stored);
  const first = logRecords(1, batch([[3, v1], [4, page(9)]]), (p) => map.baseOf(p));
  for (const r of first) map.add(r.key, r.value);
  const second = logRecords(2, batch([[3, v2], [4, edit(page(9), 100, 4)]]), (p) => map.baseOf(p));
  const log = [...first, ...second];
  assert.deepEqual(basesNeeded(log), [3], 'page 3 first appears as runs, page 4 whole');
  assert.ok(second[0].value.bytes.byteLength < 100, 'the second commit is runs');
  const reopened = new PageMap();
  reopened.seed(3, stored);
  for (const r of log) reopened.add(r.key, r.value);
  assert.deepEqual(new Uint8Array(reopened.get(3)[3]), new Uint8Array(v2));
  assert.deepEqual(new Uint8Array(reopened.get(4)[3]), new Uint8Array(edit(page(9), 100, 4)));
  assert.throws(() => { const bare = new PageMap(); for (const r of log) bare.add(r.key, r.value); }, { code: 'corrupt' }, 'runs without their base');
});
