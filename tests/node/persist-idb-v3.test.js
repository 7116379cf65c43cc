// A store in IndexedDB schema version 3 (a log record per 256 pages of a commit, its bytes an
// ArrayBuffer), written by the version-3 code (tests/fixtures/idb-v3), opens with schema version
// 4: its rows and its blob, from page records and a log of runs and of a two-record commit; takes
// writes (one record each, runs over the version-3 log's pages), reopens from that mixed log,
// checkpoints it and reopens intact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { indexedDB, IDBKeyRange } from 'fake-indexeddb';
import { openPersistentDb } from '../../js/persist.js';
import { idbBackend } from '../../js/storage/idb-backend.js';
import { ProcessLocks } from '../../js/storage/tabs.js';
import { writeRows, committedPrefix } from '../conformance/persist.js';
import { loadIdbV3 } from '../fixtures/idb-v3/load.js';

const dump = JSON.parse(readFileSync(new URL('../fixtures/idb-v3/store.json', import.meta.url), 'utf8'));
const locks = new ProcessLocks();
const open = (name) => openPersistentDb({ name, backend: idbBackend({ indexedDB, IDBKeyRange }), locks, requestPersistence: false });

function version(name) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(`sloop:${name}`);
    req.onsuccess = () => { const v = req.result.version; req.result.close(); resolve(v); };
    req.onerror = () => reject(req.error);
  });
}

/** The log's records as stored: [[seq, chunk], chunks]. */
function logRecordsOf(name) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(`sloop:${name}`);
    req.onsuccess = () => {
      const store = req.result.transaction('log').objectStore('log');
      const keys = store.getAllKeys();
      const values = store.getAll();
      values.onsuccess = () => { req.result.close(); resolve(keys.result.map((k, i) => [k, values.result[i].chunks])); };
      values.onerror = () => reject(values.error);
    };
    req.onerror = () => reject(req.error);
  });
}

const blobLength = async (pdb) => (await pdb.call('sql', 'SELECT length(b) FROM big'))[0][0];

test('a version-3 store with a log of chunked commits opens, takes writes over it, and reopens', async () => {
  await loadIdbV3(indexedDB, dump, 'v3');
  assert.equal(await version('v3'), 3);
  const old = await logRecordsOf('v3');
  assert.ok(old.some(([key, chunks]) => chunks === 2 && key[1] === 1), 'the fixture holds a commit of two records');
  let pdb = await open('v3');
  assert.equal(await committedPrefix(pdb), 14, 'rows from the page records and the version-3 log');
  assert.equal(await blobLength(pdb), 1100000, 'the blob of the two-record commit');
  assert.equal((await pdb.call('sql', 'PRAGMA integrity_check'))[0][0], 'ok');
  assert.equal(await version('v3'), 5, 'upgraded to the current version (5)');
  await writeRows(pdb, 15, 20);
  await pdb.call('sql', 'UPDATE big SET b = zeroblob(1200000)');
  await pdb.whenDurable();
  await pdb.close({ waitDurable: false });
  const mixed = await logRecordsOf('v3');
  assert.ok(mixed.some(([, chunks]) => chunks === 2) && mixed.at(-1)[1] === 1, 'both layouts in the log');
  pdb = await open('v3');
  assert.equal(await committedPrefix(pdb), 20, 'rows from the mixed log');
  assert.equal(await blobLength(pdb), 1200000);
  await pdb.checkpoint();
  assert.deepEqual(pdb.backend.logStats('v3'), { entries: 0, bytes: 0 });
  await writeRows(pdb, 21, 24);
  await pdb.close();
  pdb = await open('v3');
  assert.equal(await committedPrefix(pdb), 24, 'rows from the page records');
  assert.equal((await pdb.call('sql', 'PRAGMA integrity_check'))[0][0], 'ok');
  await pdb.close();
});

test('a version-3 commit of two records, checkpointed one step at a time with a reopen after each, stays whole', async () => {
  await loadIdbV3(indexedDB, dump, 'v3steps');
  // Image mode: an on-demand open would checkpoint the whole log before anything else.
  // The handle before may still hold the writer lock for a moment: the new one waits to take it
  // over, and fails the test if its claim fails (a follower's calls would wait for a writer).
  const openImage = async () => {
    const pdb = await openPersistentDb({ name: 'v3steps', pages: 'image', backend: idbBackend({ indexedDB, IDBKeyRange }), locks, requestPersistence: false });
    if (!pdb.isWriter) {
      await new Promise((resolve, reject) => {
        pdb.addEventListener('writer', resolve, { once: true });
        pdb.addEventListener('error', (e) => reject(e.detail.error), { once: true });
      });
    }
    return pdb;
  };
  let pdb = await openImage();
  let steps = 0;
  for (let more = true; more; steps++) {
    // One step, then the writer goes away (a tab closed between steps) and the next one reads
    // the floor and the log as the step left them.
    more = await pdb.backend.checkpoint('v3steps', { epoch: pdb.epoch, codec: pdb.codec });
    await pdb.close({ waitDurable: false });
    pdb = await openImage();
    assert.equal(await committedPrefix(pdb), 14, `rows after step ${steps + 1}`);
    assert.equal(await blobLength(pdb), 1100000, `the blob after step ${steps + 1}`);
    assert.equal((await pdb.call('sql', 'PRAGMA integrity_check'))[0][0], 'ok');
  }
  assert.ok(steps >= 3, `the two-record commit took several steps (${steps})`);
  await pdb.close();
});
