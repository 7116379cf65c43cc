// The IndexedDB backend's readAhead (js/storage/idb-backend.js): what a claim reads, read while
// the module loads. A claim given it must return exactly what it would have read itself: it
// uses it only while the store is as readAhead saw it, and reads for itself once a commit, a
// claim or a checkpoint came between.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { indexedDB, IDBKeyRange, IDBObjectStore } from 'fake-indexeddb';
import { idbBackend } from '../../js/storage/idb-backend.js';
import { loadModule } from '../../js/core.js';
import { hostOf, decodeRecord, encodeRecord } from '../../js/storage/host.js';

const mod = await loadModule('client');
hostOf(mod);
const codec = { decode: (b) => decodeRecord(mod, b), encode: (r) => encodeRecord(mod, r) };
const filled = (byte) => new Uint8Array(4096).fill(byte).buffer;
const firstByte = (bytes) => new Uint8Array(bytes)[0];

/** Counts the gets of page records made while `fn` runs. */
async function pageGets(fn) {
  const get = IDBObjectStore.prototype.get;
  let gets = 0;
  IDBObjectStore.prototype.get = function (...args) {
    if (this.name === 'pages') gets++;
    return get.apply(this, args);
  };
  try {
    return { result: await fn(), gets };
  } finally {
    IDBObjectStore.prototype.get = get;
  }
}

/** A store of 4 pages (page i filled with i + 1) in its log, and the hint [3, 1]. */
async function storeOf4(backend, name) {
  // The claim is a commit of no pages (its seq is 1); the flush is the next.
  const { epoch, seq } = await backend.claim(name, codec, { onDemand: true });
  const pages = new Map([0, 1, 2, 3].map((i) => [i, filled(i + 1)]));
  const record = codec.encode({ epoch, seq: seq + 1, pageSize: 4096, fileSize: 4 * 4096, pagesWritten: 4 });
  await backend.flush(name, { pageSize: 4096, fileSize: 4 * 4096, truncated: false, pages, epoch, prevSeq: seq, record });
  await backend.saveStartupPages(name, [3, 1]);
  return { epoch, seq: seq + 1 };
}

test('a claim over an unchanged store takes what readAhead read, and reads no page itself', async () => {
  const backend = idbBackend({ indexedDB, IDBKeyRange });
  const name = `ahead-same-${Date.now()}`;
  const owner = await storeOf4(backend, name);
  while (await backend.checkpoint(name, { epoch: owner.epoch, codec }));
  const ahead = await backend.readAhead(name);
  const { result: snap, gets } = await pageGets(() => backend.claim(name, codec, { onDemand: true, ahead }));
  assert.equal(gets, 0, 'no page read in the claim');
  assert.equal(snap.epoch, owner.epoch + 1);
  assert.deepEqual(snap.startup, [3, 1]);
  assert.deepEqual([...snap.prefetched].map(([page, bytes]) => [page, firstByte(bytes)]), [[3, 4], [1, 2]]);
  assert.equal(firstByte(snap.pages[0]), 1);
  const { gets: without } = await pageGets(() => backend.claim(name, codec, { onDemand: true }));
  assert.ok(without > 0, 'without it the claim reads them');
  await backend.destroy(name);
});

test('a commit of another writer after readAhead, checkpointed: the claim reads the store as it is now', async () => {
  const backend = idbBackend({ indexedDB, IDBKeyRange });
  const other = idbBackend({ indexedDB, IDBKeyRange });
  const name = `ahead-commit-${Date.now()}`;
  await storeOf4(backend, name);
  while (await backend.checkpoint(name, { epoch: 1, codec }));
  const ahead = await backend.readAhead(name);
  // Another tab claims (seq 3) and rewrites page 3 (its epoch, seq 4).
  const theirs = await other.claim(name, codec, { onDemand: true });
  assert.equal(theirs.seq, 3);
  const record = codec.encode({ epoch: theirs.epoch, seq: 4, pageSize: 4096, fileSize: 4 * 4096, pagesWritten: 1 });
  await other.flush(name, {
    pageSize: 4096, fileSize: 4 * 4096, truncated: false, pages: new Map([[3, filled(0xee)]]), epoch: theirs.epoch, prevSeq: 3, record,
  });
  // ... and checkpoints it: the log is empty again, as readAhead saw it; only the record differs.
  while (await other.checkpoint(name, { epoch: theirs.epoch, codec }));
  const snap = await backend.claim(name, codec, { onDemand: true, ahead });
  assert.equal(snap.epoch, theirs.epoch + 1);
  assert.equal(snap.seq, 5, 'the other writer\'s commit, then this claim');
  assert.equal(firstByte(snap.prefetched.get(3)), 0xee, 'page 3 as the other writer left it, not as read ahead');
  await other.close();
  await backend.destroy(name);
});

test('a checkpoint after readAhead: the claim reads the log as it is now', async () => {
  const backend = idbBackend({ indexedDB, IDBKeyRange });
  const name = `ahead-checkpoint-${Date.now()}`;
  const owner = await storeOf4(backend, name);
  const ahead = await backend.readAhead(name);
  assert.equal(ahead.log.length > 0, true, 'read ahead with the commit in the log');
  while (await backend.checkpoint(name, { epoch: owner.epoch, codec }));
  const snap = await backend.claim(name, codec, { onDemand: true, ahead });
  assert.deepEqual(backend.logStats(name), { entries: 0, bytes: 0 }, 'the page map holds no entry the log lost');
  assert.equal(firstByte(snap.prefetched.get(3)), 4);
  await backend.destroy(name);
});

test('readAhead neither creates a database nor upgrades one: the claim does, under the writer lock', async () => {
  const backend = idbBackend({ indexedDB, IDBKeyRange });
  const name = `ahead-versions-${Date.now()}`;
  assert.equal(await backend.readAhead(name), null, 'nothing to read');
  assert.ok(!(await indexedDB.databases()).some((d) => d.name === `sloop:${name}`), 'and nothing created');
  // A database of the previous version (2: the same stores), as a tab of older code leaves it.
  const old = await new Promise((resolve, reject) => {
    const req = indexedDB.open(`sloop:${name}`, 2);
    req.onupgradeneeded = () => ['pages', 'meta', 'log'].forEach((store) => req.result.createObjectStore(store));
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  old.onversionchange = () => old.close();
  assert.equal(await backend.readAhead(name), null, 'an older version is left to the claim');
  assert.equal((await indexedDB.databases()).find((d) => d.name === `sloop:${name}`).version, 2);
  const snap = await backend.claim(name, codec, { onDemand: true, ahead: null });
  assert.equal(snap.epoch, 1);
  assert.equal((await indexedDB.databases()).find((d) => d.name === `sloop:${name}`).version, 5); // the current version
  assert.notEqual(await backend.readAhead(name), null, 'at this version it reads');
  await backend.destroy(name);
});
