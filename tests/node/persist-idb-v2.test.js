// A store in IndexedDB schema version 2 (a log of whole pages), written by the version-2 code
// (tests/fixtures/idb-v2), opens with the current schema (version 5), keeps its rows, takes writes whose log
// records are runs over the version-2 log's pages, reopens from that mixed log, checkpoints it
// and reopens intact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { indexedDB, IDBKeyRange } from 'fake-indexeddb';
import { openPersistentDb } from '../../js/persist.js';
import { idbBackend } from '../../js/storage/idb-backend.js';
import { ProcessLocks } from '../../js/storage/tabs.js';
import { writeRows, committedPrefix } from '../conformance/persist.js';
import { loadIdbV2 } from '../fixtures/idb-v2/load.js';

const dump = JSON.parse(readFileSync(new URL('../fixtures/idb-v2/store.json', import.meta.url), 'utf8'));
const locks = new ProcessLocks();
const open = (name) => openPersistentDb({ name, backend: idbBackend({ indexedDB, IDBKeyRange }), locks, requestPersistence: false });

function version(name) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(`sloop:${name}`);
    req.onsuccess = () => { const v = req.result.version; req.result.close(); resolve(v); };
    req.onerror = () => reject(req.error);
  });
}

/** The log's records as stored: [[seq, chunk], whether they are runs (schema 3)]. */
function logRecordsOf(name) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(`sloop:${name}`);
    req.onsuccess = () => {
      const store = req.result.transaction('log').objectStore('log');
      const keys = store.getAllKeys();
      const values = store.getAll();
      values.onsuccess = () => { req.result.close(); resolve(keys.result.map((k, i) => [k, Boolean(values.result[i].slots)])); };
      values.onerror = () => reject(values.error);
    };
    req.onerror = () => reject(req.error);
  });
}

test('a version-2 store with a log opens, takes writes as runs over it, and reopens', async () => {
  await loadIdbV2(indexedDB, dump, 'v2');
  assert.equal(await version('v2'), 2);
  const old = await logRecordsOf('v2');
  assert.ok(old.length > 0 && old.every(([, runs]) => !runs), 'the fixture holds a version-2 log');
  let pdb = await open('v2');
  assert.equal(await committedPrefix(pdb), 12, 'rows from the page records and the version-2 log');
  assert.equal(await version('v2'), 5, 'upgraded to the current version (5)');
  await writeRows(pdb, 13, 20);
  await pdb.whenDurable();
  await pdb.close({ waitDurable: false });
  const mixed = await logRecordsOf('v2');
  assert.ok(mixed.some(([, runs]) => !runs) && mixed.some(([, runs]) => runs), 'both kinds of record in the log');
  pdb = await open('v2');
  assert.equal(await committedPrefix(pdb), 20, 'rows from the mixed log');
  await pdb.checkpoint();
  assert.deepEqual(pdb.backend.logStats('v2'), { entries: 0, bytes: 0 });
  await writeRows(pdb, 21, 24);
  await pdb.close();
  pdb = await open('v2');
  assert.equal(await committedPrefix(pdb), 24, 'rows from the page records');
  await pdb.close();
});
