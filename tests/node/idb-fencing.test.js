// Fencing in the IndexedDB backend (js/storage/idb-backend.js, "Fencing"): a flush is one `add`
// of its log record, with no read, and a writer that missed a claim is refused by the key the
// claim's marker holds, even after the new owner checkpointed its whole log. A writer that
// missed more claims than the markers kept lands at or below the floor, where nothing is read,
// and the store stays whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { indexedDB, IDBKeyRange, IDBObjectStore, IDBDatabase } from 'fake-indexeddb';
import { idbBackend } from '../../js/storage/idb-backend.js';
import { loadModule } from '../../js/core.js';
import { hostOf, decodeRecord, encodeRecord } from '../../js/storage/host.js';

const mod = await loadModule('client');
hostOf(mod);
const codec = { decode: (b) => decodeRecord(mod, b), encode: (r) => encodeRecord(mod, r) };
const filled = (byte) => new Uint8Array(4096).fill(byte).buffer;
const firstByte = (bytes) => new Uint8Array(bytes)[0];

/** A writer: its backend, epoch and last seq; commit(byte) writes page 0 and page 1 filled with byte. */
async function writer(name) {
  const backend = idbBackend({ indexedDB, IDBKeyRange });
  const w = { backend, ...(await backend.claim(name, codec)) };
  w.commit = async (byte) => {
    const seq = w.seq + 1;
    const record = codec.encode({ epoch: w.epoch, seq, pageSize: 4096, fileSize: 2 * 4096, pagesWritten: 2 });
    await backend.flush(name, {
      pageSize: 4096, fileSize: 2 * 4096, truncated: false, pages: new Map([[0, filled(byte)], [1, filled(byte)]]), epoch: w.epoch, prevSeq: w.seq, record,
    });
    w.seq = seq;
  };
  w.checkpointAll = async () => { while (await backend.checkpoint(name, { epoch: w.epoch, codec })); };
  return w;
}

/** The log as stored: its keys at or below the floor that are no markers (a late writer's), and its markers. */
async function storedLog(name) {
  const db = await new Promise((resolve, reject) => {
    const req = indexedDB.open(`sloop:${name}`);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  const tx = db.transaction(['log', 'meta'], 'readonly');
  const done = (req) => new Promise((resolve) => { req.onsuccess = () => resolve(req.result); });
  const [keys, values, floor] = await Promise.all([
    done(tx.objectStore('log').getAllKeys()), done(tx.objectStore('log').getAll()), done(tx.objectStore('meta').get('floor')),
  ]);
  db.close();
  return {
    stale: keys.filter((k, i) => k[0] <= (floor ?? 0) && values[i].marker !== true),
    markers: values.filter((v) => v.marker === true).length,
  };
}

/** Page 1 and the seq as a fresh claim of the store finds them. */
async function reopen(name) {
  const w = await writer(name);
  await w.backend.close();
  return { page1: firstByte(w.pages[1]), seq: w.seq };
}

test('a flush is one add to the log, in a transaction of the log alone, and nothing else', async () => {
  const name = `fence-shape-${Date.now()}`;
  const w = await writer(name);
  const calls = [];
  const spied = [
    [IDBDatabase.prototype, 'transaction', (args) => `transaction ${[].concat(args[0]).join(',')}`],
    ...['get', 'getAll', 'getAllKeys', 'put', 'add', 'delete', 'count', 'openCursor'].map((m) => [IDBObjectStore.prototype, m, function () { return `${this.name}.${m}`; }]),
  ];
  const saved = spied.map(([proto, m]) => [proto, m, proto[m]]);
  for (const [proto, m, label] of spied) {
    const original = proto[m];
    proto[m] = function (...args) {
      calls.push(label.call(this, args));
      return original.apply(this, args);
    };
  }
  try {
    await w.commit(7);
  } finally {
    for (const [proto, m, original] of saved) proto[m] = original;
  }
  assert.deepEqual(calls, ['transaction log', 'log.add']);
  await w.backend.destroy(name);
});

test('a writer that missed a claim is fenced, also after the new owner checkpointed all its log', async () => {
  const name = `fence-zombie-${Date.now()}`;
  const zombie = await writer(name);
  await zombie.commit(1);
  const owner = await writer(name);
  await owner.commit(2);
  await owner.checkpointAll();
  assert.deepEqual(owner.backend.logStats(name), { entries: 0, bytes: 0 }, 'the owner\'s log is checkpointed');
  await assert.rejects(zombie.commit(3), (e) => e.code === 'fenced');
  const after = await reopen(name);
  assert.equal(after.page1, 2, 'the owner\'s page, not the zombie\'s');
  assert.deepEqual((await storedLog(name)).stale, []);
  await owner.backend.destroy(name);
});

test('a writer that missed more claims than the markers kept lands below the floor: not read, and pruned', async () => {
  const name = `fence-late-${Date.now()}`;
  const zombie = await writer(name);
  await zombie.commit(1);
  let owner = null;
  for (let k = 0; k < 20; k++) {
    owner = await writer(name);
    await owner.commit(10 + k);
    await owner.checkpointAll();
    await owner.backend.close();
  }
  const before = await reopen(name);
  assert.ok((await storedLog(name)).markers <= 17, 'old markers are pruned');
  // Its key was a marker that the claims since have pruned: the add goes through, at or below the floor.
  await zombie.commit(99);
  assert.equal((await storedLog(name)).stale.length, 1, 'the late commit is in the log, below the floor');
  const after = await reopen(name);
  assert.equal(after.page1, 29, 'the store as the last owner left it');
  assert.ok(after.seq > before.seq, 'and the claims go on from its seq');
  assert.deepEqual((await storedLog(name)).stale, [], 'the late commit was deleted by the claim');
  await zombie.backend.destroy(name);
});
