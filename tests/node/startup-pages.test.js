// The startup pages (js/storage/startup.js): a prefetched copy is served once and never after
// a commit changed its page, the list is saved only when it learned something, and the
// IndexedDB backend stores the hint outside the commit record and fences the prefetch read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { indexedDB, IDBKeyRange } from 'fake-indexeddb';
import { StartupPages, STARTUP_PAGES } from '../../js/storage/startup.js';
import { idbBackend } from '../../js/storage/idb-backend.js';
import { loadModule } from '../../js/core.js';
import { hostOf, decodeRecord, encodeRecord } from '../../js/storage/host.js';

const page = (byte) => new Uint8Array(16).fill(byte).buffer;
const turn = () => new Promise((resolve) => setTimeout(resolve, 5));

test('a prefetched page is served once, and not at all once a commit changed it', async () => {
  const startup = new StartupPages([3, 5, 7, 9], async () => {});
  let answer;
  startup.prefetch((list) => {
    assert.deepEqual(list, [3, 5, 7, 9]);
    return new Promise((resolve) => { answer = resolve; });
  });
  // A commit while the read is in flight: its page's copy from the read is already old.
  startup.committed({ truncated: false, pages: new Map([[5, page(0xee)]]) });
  const waited = startup.willFetch(3, 1);
  answer(new Map([[3, page(3)], [5, page(5)], [7, page(7)], [9, page(9)]]));
  await waited;
  assert.equal(new Uint8Array(startup.take(3))[0], 3);
  assert.equal(startup.take(3), undefined, 'taken once: SQLite holds it from then on');
  assert.equal(startup.take(5), undefined, 'changed during the read');
  startup.committed({ truncated: false, pages: new Map([[7, page(0xee)]]) });
  assert.equal(startup.take(7), undefined, 'changed after the read');
  startup.committed({ truncated: true, pages: new Map() });
  assert.equal(startup.take(9), undefined, 'a truncation drops them all');
  startup.fetched();
  await startup.close();
});

test('a failed prefetch leaves nothing prefetched and fetches go on', async () => {
  const startup = new StartupPages([2], async () => {});
  startup.prefetch(() => Promise.reject(new Error('fenced')));
  await startup.willFetch(2, 1);
  assert.equal(startup.take(2), undefined);
  startup.fetched();
  await startup.close();
});

test('the list is saved when a session fetched a page the hint lacked, newest first, bounded', async () => {
  const saved = [];
  const startup = new StartupPages([4, 6], async (list) => { saved.push(list); });
  await startup.willFetch(4, 1);
  startup.fetched();
  await turn();
  assert.deepEqual(saved, [], 'nothing new: no save');
  await startup.willFetch(10, 2);
  await startup.willFetch(20, 1); // two fetches in flight: no save until both ended
  startup.fetched();
  await turn();
  assert.deepEqual(saved, []);
  startup.fetched();
  await turn();
  assert.deepEqual(saved, [[4, 10, 11, 20, 6]]);
  await startup.willFetch(100, STARTUP_PAGES * 2);
  startup.fetched();
  await turn();
  assert.equal(saved.length, 2);
  assert.equal(saved[1].length, STARTUP_PAGES);
  await startup.close();
  assert.equal(saved.length, 2, 'close saves only what was not saved');
});

test('the IndexedDB backend keeps the hint beside the commit record and fences its reads', async () => {
  const mod = await loadModule('client');
  hostOf(mod);
  const codec = { decode: (b) => decodeRecord(mod, b), encode: (r) => encodeRecord(mod, r) };
  const backend = idbBackend({ indexedDB, IDBKeyRange });
  const name = `startup-${Date.now()}`;
  // A store of 4 pages written as a flush would, then the hint.
  const first = await backend.claim(name, codec, { onDemand: true });
  assert.deepEqual(first.startup, []);
  const pages = new Map([0, 1, 2, 3].map((i) => [i, new Uint8Array(4096).fill(i + 1).buffer]));
  const record = codec.encode({ epoch: first.epoch, seq: 1, pageSize: 4096, fileSize: 4 * 4096, pagesWritten: 4 });
  await backend.flush(name, { pageSize: 4096, fileSize: 4 * 4096, truncated: false, pages, epoch: first.epoch, prevSeq: 0, record }, codec);
  await backend.saveStartupPages(name, [3, 0, 1, 9]);
  const second = await backend.claim(name, codec, { onDemand: true });
  assert.deepEqual(second.startup, [3, 1], 'page 0 is read anyway; pages past the end are left out');
  const read = await backend.readPageList(name, second.startup, { epoch: second.epoch, codec });
  assert.deepEqual([...read.keys()], [3, 1]);
  assert.equal(new Uint8Array(read.get(3))[0], 4, 'page 3 from the log');
  await assert.rejects(backend.readPageList(name, [1], { epoch: first.epoch, codec }), { code: 'fenced' });
  await backend.destroy(name);
});
