// A store in IndexedDB schema version 1 (a record per page, no log), written by the version-1
// code (tests/fixtures/idb-v1), opens with the log layout, keeps its rows, takes writes into
// the log, checkpoints them into its page records and reopens intact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { indexedDB, IDBKeyRange } from 'fake-indexeddb';
import { openPersistentDb } from '../../js/persist.js';
import { idbBackend } from '../../js/storage/idb-backend.js';
import { ProcessLocks } from '../../js/storage/tabs.js';
import { writeRows, committedPrefix } from '../conformance/persist.js';
import { loadIdbV1 } from '../fixtures/idb-v1/load.js';

const dump = JSON.parse(readFileSync(new URL('../fixtures/idb-v1/store.json', import.meta.url), 'utf8'));
const locks = new ProcessLocks();
const open = (name) => openPersistentDb({ name, backend: idbBackend({ indexedDB, IDBKeyRange }), locks, requestPersistence: false });

function storeNames(name) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(`sloop:${name}`);
    req.onsuccess = () => { const out = [req.result.version, [...req.result.objectStoreNames].sort()]; req.result.close(); resolve(out); };
    req.onerror = () => reject(req.error);
  });
}

/** The log's commits (claim markers, which checkpoints keep, left out). */
function logCount(name) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(`sloop:${name}`);
    req.onsuccess = () => {
      const all = req.result.transaction('log').objectStore('log').getAll();
      all.onsuccess = () => { req.result.close(); resolve(all.result.filter((v) => v.marker !== true).length); };
      all.onerror = () => reject(all.error);
    };
    req.onerror = () => reject(req.error);
  });
}

test('a version-1 store opens, converts, takes writes, checkpoints and reopens', async () => {
  await loadIdbV1(indexedDB, dump, 'v1');
  assert.deepEqual(await storeNames('v1'), [1, ['meta', 'pages']]);
  let pdb = await open('v1');
  assert.equal(await committedPrefix(pdb), 12);
  assert.deepEqual(await storeNames('v1'), [5, ['log', 'meta', 'pages']], 'upgraded to the current version');
  await writeRows(pdb, 13, 20);
  assert.ok(pdb.backend.logStats('v1').entries > 0, 'the writes went to the log');
  await pdb.close();
  assert.equal(await logCount('v1'), 0, 'a closing writer empties the log');
  pdb = await open('v1');
  assert.equal(await committedPrefix(pdb), 20, 'rows from the page records');
  // A writer that goes away without closing (a killed tab) leaves its log to the next one.
  await writeRows(pdb, 21, 24);
  await pdb.whenDurable();
  assert.ok(await logCount('v1') > 0, 'the writes went to the log');
  await pdb.close({ waitDurable: false });
  assert.ok(await logCount('v1') > 0, 'an abandoning writer leaves the log');
  pdb = await open('v1');
  assert.equal(await committedPrefix(pdb), 24, 'rows from the page records and the log');
  await pdb.checkpoint();
  assert.deepEqual(pdb.backend.logStats('v1'), { entries: 0, bytes: 0 });
  await pdb.close();
  pdb = await open('v1');
  assert.equal(await committedPrefix(pdb), 24, 'rows after the checkpoint');
  await pdb.close();
});
