// The page log's pure parts (js/storage/page-log.js): record layout, the page map, the fold a
// checkpoint writes, and how much one checkpoint step takes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  logRecords, logPage, PageMap, checkpointUpTo, encodePage, decodePage, basesNeeded, LOG_CHUNK_PAGES, CHECKPOINT_STEP_BYTES,
} from '../../js/storage/page-log.js';

const PS = 4096;
const page = (tag) => new Uint8Array(PS).fill(tag).buffer;
const commit = (pages, fileSize, truncated = false) => ({ pageSize: PS, fileSize, truncated, pages: new Map(pages.map(([i, tag]) => [i, page(tag)])) });
const tagOf = (bytes) => new Uint8Array(bytes)[0];

test('a commit becomes one record per LOG_CHUNK_PAGES pages, each readable alone', () => {
  const n = LOG_CHUNK_PAGES + 3;
  const records = logRecords(7, commit(Array.from({ length: n }, (_, i) => [n - 1 - i, (n - 1 - i) % 251]), n * PS));
  assert.deepEqual(records.map((r) => r.key), [[7, 0], [7, 1]]);
  assert.equal(records[1].value.index.length, 3);
  for (const { value } of records) {
    assert.equal(value.chunks, 2);
    value.index.forEach((p, slot) => assert.equal(tagOf(logPage(value, slot)), p % 251));
  }
  assert.deepEqual(logRecords(8, commit([], PS, true)).map((r) => [r.key, r.value.index.length]), [[[8, 0], 0]]);
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
  map.dropUpTo(step.upTo);
  assert.equal(map.checkpointStep(), null);
  const big = logRecords(4, commit(Array.from({ length: 3 * LOG_CHUNK_PAGES }, (_, i) => [i, 4]), 3 * LOG_CHUNK_PAGES * PS));
  add(big);
  map.dropUpTo(big[0].key);
  assert.equal(map.checkpointStep(3 * LOG_CHUNK_PAGES * PS).pages.size, 2 * LOG_CHUNK_PAGES, 'a step starting at a later chunk');
});

test('a checkpoint step writes each page\'s newest logged copy, even past its last record', () => {
  const map = new PageMap();
  const add = (records) => { for (const r of records) map.add(r.key, r.value); };
  add(logRecords(1, commit([[0, 1], [1, 1], [7, 1]], 8 * PS)));
  add(logRecords(2, commit([[0, 2], [2, 2]], 8 * PS)));
  add(logRecords(3, commit([[3, 3]], 6 * PS, true)));
  // A step that ends at commit 1 writes page 0 as commit 2 left it, and skips page 7, which
  // commit 3 truncated away: applying commits 2 and 3 over those page records gives the same.
  const step = map.checkpointStep(PS);
  assert.deepEqual(step.upTo, [1, 0]);
  assert.deepEqual([...step.pages].map(([i, b]) => [i, tagOf(b)]).sort((a, b) => a[0] - b[0]), [[0, 2], [1, 1]]);
});

test('rewrites of the same pages count once towards a step', () => {
  const map = new PageMap();
  for (let seq = 1; seq <= 300; seq++) for (const r of logRecords(seq, commit([[0, seq % 250], [1, 1], [seq % 10 + 2, 1]], 12 * PS))) map.add(r.key, r.value);
  assert.ok(map.bytes > CHECKPOINT_STEP_BYTES);
  assert.deepEqual(checkpointUpTo(map), [300, 0], 'twelve distinct pages: the whole log in one step');
});

test('one checkpoint step takes the oldest records up to CHECKPOINT_STEP_BYTES, at least one', () => {
  const map = new PageMap();
  assert.equal(checkpointUpTo(map), null);
  const perRecord = LOG_CHUNK_PAGES * PS;
  const n = CHECKPOINT_STEP_BYTES / perRecord + 2;
  for (const r of logRecords(1, commit(Array.from({ length: n * LOG_CHUNK_PAGES }, (_, i) => [i, 1]), n * perRecord))) map.add(r.key, r.value);
  assert.deepEqual(checkpointUpTo(map), [1, CHECKPOINT_STEP_BYTES / perRecord - 1]);
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
