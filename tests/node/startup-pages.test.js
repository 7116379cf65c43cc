// The startup pages (js/storage/startup.js): a prefetched copy is served once and never after
// a commit changed its page, the list is saved only when it learned something, and the
// IndexedDB backend stores the hint beside the commit record and reads its pages at claim.
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
  const prefetched = new Map([[3, page(3)], [5, page(5)], [7, page(7)], [9, page(9)]]);
  const startup = new StartupPages([3, 5, 7, 9], prefetched, async () => {});
  startup.willFetch(3, 1);
  assert.equal(new Uint8Array(startup.take(3))[0], 3);
  startup.fetched();
  assert.equal(startup.take(3), undefined, 'taken once: SQLite holds it from then on');
  startup.committed({ truncated: false, pages: new Map([[5, page(0xee)]]) });
  assert.equal(startup.take(5), undefined, 'changed by a commit');
  assert.equal(new Uint8Array(startup.take(7))[0], 7);
  startup.committed({ truncated: true, pages: new Map() });
  assert.equal(startup.take(9), undefined, 'a truncation drops them all');
  await startup.close();
});

test('the list is saved when a session fetched a page the hint lacked, newest first, bounded', async () => {
  const saved = [];
  const startup = new StartupPages([4, 6], new Map(), async (list) => { saved.push(list); });
  startup.willFetch(4, 1);
  startup.fetched();
  await turn();
  assert.deepEqual(saved, [], 'nothing new: no save');
  startup.willFetch(10, 2);
  startup.willFetch(20, 1); // two fetches in flight: no save until both ended
  startup.fetched();
  await turn();
  assert.deepEqual(saved, []);
  startup.fetched();
  await turn();
  assert.deepEqual(saved, [[4, 10, 11, 20, 6]]);
  startup.willFetch(100, STARTUP_PAGES * 2);
  startup.fetched();
  await turn();
  assert.equal(saved.length, 2);
  assert.equal(saved[1].length, STARTUP_PAGES);
  await startup.close();
  assert.equal(saved.length, 2, 'close saves only what was not saved');
  const fenced = new StartupPages([], new Map(), async (list) => { saved.push(list); });
  fenced.willFetch(7, 1);
  fenced.fetched();
  await fenced.close({ save: false });
  await turn();
  assert.equal(saved.length, 2, 'a fenced writer leaves the list as it is');
});

test('the IndexedDB backend keeps the hint beside the commit record and reads its pages at claim', async () => {
  const mod = await loadModule('client');
  hostOf(mod);
  const codec = { decode: (b) => decodeRecord(mod, b), encode: (r) => encodeRecord(mod, r) };
  const backend = idbBackend({ indexedDB, IDBKeyRange });
  const name = `startup-${Date.now()}`;
  // A store of 4 pages written as a flush would, then the hint.
  const first = await backend.claim(name, codec, { onDemand: true });
  assert.deepEqual(first.startup, []);
  const pages = new Map([0, 1, 2, 3].map((i) => [i, new Uint8Array(4096).fill(i + 1).buffer]));
  const record = codec.encode({ epoch: first.epoch, seq: first.seq + 1, pageSize: 4096, fileSize: 4 * 4096, pagesWritten: 4 });
  await backend.flush(name, { pageSize: 4096, fileSize: 4 * 4096, truncated: false, pages, epoch: first.epoch, prevSeq: first.seq, record });
  await backend.saveStartupPages(name, [3, 0, 1, 9]);
  const second = await backend.claim(name, codec, { onDemand: true });
  assert.deepEqual(second.startup, [3, 1], 'page 0 is read anyway; pages past the end are left out');
  assert.deepEqual([...second.prefetched.keys()], [3, 1]);
  assert.equal(new Uint8Array(second.prefetched.get(3))[0], 4, 'page 3, from the log');
  const image = await backend.claim(name, codec);
  assert.equal(image.prefetched.size, 0, 'a whole image reads no hint');
  await backend.destroy(name);
});
