// A store in IndexedDB schema version 4 (the commit record in `meta` only, rewritten by every
// flush; log records without one), written by the version-4 code (tests/fixtures/idb-v4), opens
// with schema version 5: its rows and its blob, from page records and a log whose newest commit
// record is meta's; takes writes (each commit record in its log record now, fenced by its key),
// reopens from that mixed log, checkpoints it and reopens intact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { indexedDB, IDBKeyRange } from 'fake-indexeddb';
import { openPersistentDb } from '../../js/persist.js';
import { idbBackend } from '../../js/storage/idb-backend.js';
import { ProcessLocks } from '../../js/storage/tabs.js';
import { writeRows, committedPrefix } from '../conformance/persist.js';
import { loadIdbV4 } from '../fixtures/idb-v4/load.js';

const dump = JSON.parse(readFileSync(new URL('../fixtures/idb-v4/store.json', import.meta.url), 'utf8'));
const locks = new ProcessLocks();
const open = (name) => openPersistentDb({ name, backend: idbBackend({ indexedDB, IDBKeyRange }), locks, requestPersistence: false });

/** The database's IndexedDB version and its log as stored: [[seq, chunk], {record?, marker?, blob?}]. */
function stored(name) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(`sloop:${name}`);
    req.onsuccess = () => {
      const store = req.result.transaction('log').objectStore('log');
      const keys = store.getAllKeys();
      const values = store.getAll();
      values.onsuccess = () => {
        const version = req.result.version;
        req.result.close();
        resolve({
          version,
          log: keys.result.map((k, i) => [k, {
            record: values.result[i].record instanceof ArrayBuffer, marker: values.result[i].marker === true, blob: values.result[i].bytes instanceof Blob,
          }]),
        });
      };
      values.onerror = () => reject(values.error);
    };
    req.onerror = () => reject(req.error);
  });
}

const blobLength = async (pdb) => (await pdb.call('sql', 'SELECT length(b) FROM big'))[0][0];

test('a version-4 store with its log left behind opens, takes writes over it, and reopens', async () => {
  await loadIdbV4(indexedDB, dump, 'v4');
  const old = await stored('v4');
  assert.equal(old.version, 4);
  assert.ok(old.log.length >= 4 && old.log.every(([, v]) => !v.record && !v.marker), 'version-4 records: no commit record in the log');
  assert.ok(old.log.some(([, v]) => v.blob), 'the fixture holds a bulk commit as a Blob');
  let pdb = await open('v4');
  assert.equal(await committedPrefix(pdb), 14, 'rows from the page records and the version-4 log');
  assert.equal(await blobLength(pdb), 1100000, 'the blob of the bulk commit');
  assert.equal((await pdb.call('sql', 'PRAGMA integrity_check'))[0][0], 'ok');
  await writeRows(pdb, 15, 20);
  await pdb.call('sql', 'UPDATE big SET b = zeroblob(1200000)');
  await pdb.whenDurable();
  // Abandoned, as a killed tab leaves it: the next open reads both layouts from the log.
  await pdb.close({ waitDurable: false });
  const mixed = await stored('v4');
  assert.equal(mixed.version, 5, 'upgraded to the current version (5)');
  const lastOld = old.log.at(-1)[0][0];
  assert.deepEqual(mixed.log.slice(0, old.log.length), old.log, 'the version-4 records are still there');
  assert.deepEqual(mixed.log[old.log.length], [[lastOld + 1, 0], { record: true, marker: true, blob: false }], 'the claim\'s marker right after them');
  assert.ok(mixed.log.slice(old.log.length + 1).every(([, v]) => v.record && !v.marker), 'each new commit holds its commit record');
  pdb = await open('v4');
  assert.equal(await committedPrefix(pdb), 20, 'rows from the mixed log');
  assert.equal(await blobLength(pdb), 1200000);
  await pdb.checkpoint();
  assert.deepEqual(pdb.backend.logStats('v4'), { entries: 0, bytes: 0 });
  await writeRows(pdb, 21, 24);
  await pdb.close();
  const after = await stored('v4');
  assert.ok(after.log.every(([, v]) => v.marker), 'checkpointed: only the claims\' markers stay');
  pdb = await open('v4');
  assert.equal(await committedPrefix(pdb), 24, 'rows from the page records');
  assert.equal((await pdb.call('sql', 'PRAGMA integrity_check'))[0][0], 'ok');
  await pdb.close();
});
