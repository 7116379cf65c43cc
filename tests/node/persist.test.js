// The storage conformance suite in Node: fake-indexeddb behind the IndexedDB backend, and the
// file backend on a temporary directory. Node 20 has no JS Promise Integration, so there
// `pages: 'auto'` must fall back to the whole-image mode; a Node with it reads on demand.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { indexedDB, IDBKeyRange } from 'fake-indexeddb';
import { openPersistentDb, deletePersistentDb } from '../../js/persist.js';
import { idbBackend } from '../../js/storage/idb-backend.js';
import { fileBackend } from '../../js/storage/file-backend.js';
import { ProcessLocks } from '../../js/storage/tabs.js';
import { hasJspi } from '../../js/jspi.js';
import { cases } from '../conformance/persist.js';

const dir = mkdtempSync(join(tmpdir(), 'sloop-persist-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let serial = 0;

/**
 * fake-indexeddb behind a proxy that keeps the connections it opens, so a test can do what
 * clearing the site's data does in a browser: close each one (firing `close`, which only a
 * connection the browser closes gets) and delete the database.
 */
const connections = new Map();
const trackedIndexedDB = new Proxy(indexedDB, {
  get(target, key) {
    if (key === 'open') {
      return (name, version) => {
        const req = target.open(name, version);
        req.addEventListener('success', () => {
          if (!connections.has(name)) connections.set(name, new Set());
          connections.get(name).add(req.result);
        });
        return req;
      };
    }
    const value = target[key];
    return typeof value === 'function' ? value.bind(target) : value;
  },
});

async function loseStore(name) {
  for (const db of connections.get(`sloop:${name}`) ?? []) {
    db.close();
    db.onclose?.(new Event('close'));
  }
  connections.delete(`sloop:${name}`);
  await new Promise((resolve, reject) => {
    const req = indexedDB.deleteDatabase(`sloop:${name}`);
    req.onsuccess = resolve;
    req.onerror = () => reject(req.error);
  });
}

const envs = {
  idb: () => {
    const backend = (faults) => idbBackend({ indexedDB: trackedIndexedDB, IDBKeyRange, faults });
    return {
      kind: 'idb',
      mode: hasJspi() ? 'on-demand' : 'image',
      name: () => `conf-${process.pid}-${serial++}`,
      open: (name, { faults, ...options } = {}) => openPersistentDb({ name, backend: backend(faults), pages: 'auto', ...options }),
      newLocks: () => new ProcessLocks(),
      destroy: (name) => deletePersistentDb({ name, backend: backend() }),
      loseStore,
      tamper: (name) => new Promise((resolve, reject) => {
        const req = indexedDB.open(`sloop:${name}`);
        req.onsuccess = () => {
          // Page 1 gone from the page records and the log (where it may be newer).
          const tx = req.result.transaction(['pages', 'log'], 'readwrite');
          tx.objectStore('pages').delete(1);
          tx.objectStore('log').clear();
          tx.oncomplete = () => { req.result.close(); resolve(); };
          tx.onabort = () => reject(tx.error);
        };
      }),
    };
  },
  file: () => ({
    kind: 'file',
    mode: 'file',
    name: () => join(dir, `conf-${serial++}.db`),
    open: (name, options = {}) => openPersistentDb({ name, backend: fileBackend(), ...options }),
    newLocks: () => new ProcessLocks(),
    destroy: (name) => deletePersistentDb({ name, backend: fileBackend() }),
  }),
};

for (const [kind, makeEnv] of Object.entries(envs)) {
  for (const c of cases) {
    if (c.only && !c.only.includes(kind)) continue;
    test(`${kind}: ${c.name}`, { timeout: 30000 }, () => c.run(makeEnv()));
  }
}

test('idb: on-demand pages are refused where there is no JS Promise Integration', { skip: hasJspi() && 'this engine has JSPI' }, async () => {
  const backend = idbBackend({ indexedDB, IDBKeyRange });
  await assert.rejects(openPersistentDb({ name: `no-jspi-${serial++}`, backend, pages: 'on-demand' }), { code: 'invalid' });
  await assert.rejects(openPersistentDb({ name: `no-jspi-${serial++}`, backend, pages: 'lazy' }), { code: 'invalid' });
});

test('idb: open does not wait for the browser to answer the persistence request', { timeout: 30000 }, async () => {
  // Firefox asks the user first, and an unanswered prompt leaves persist() pending.
  const had = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  let asked = 0;
  let answer;
  const persist = () => { asked++; return new Promise((resolve) => { answer = resolve; }); };
  Object.defineProperty(globalThis, 'navigator', { configurable: true, value: { storage: { persist } } });
  try {
    const pdb = await openPersistentDb({ name: `persist-prompt-${serial++}`, backend: idbBackend({ indexedDB, IDBKeyRange }), locks: new ProcessLocks() });
    assert.equal(asked, 1);
    assert.equal(pdb.persisted, null);
    answer(true);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(pdb.persisted, true);
    await pdb.close();
  } finally {
    if (had) Object.defineProperty(globalThis, 'navigator', had);
    else delete globalThis.navigator;
  }
});
