// Loaded inside the page (served from tests/ by the test's route): the conformance env over
// the browser's real IndexedDB, Web Locks and BroadcastChannel.
import { openPersistentDb, deletePersistentDb } from '/js/persist.js';
import { idbBackend } from '/js/storage/idb-backend.js';
import { ProcessLocks } from '/js/storage/tabs.js';

export { cases, writeRows, committedPrefix } from '/tests/conformance/persist.js';
export { openPersistentDb, idbBackend };

let serial = 0;

/** The conformance env; `pages` is the page mode every open asks for ('image' or 'on-demand'). */
export function makeEnv(pages = 'image') {
  const backend = (faults) => idbBackend({ faults });
  return {
    kind: 'idb',
    mode: pages,
    name: () => `conf-${Date.now()}-${serial++}`,
    open: (name, { faults, ...options } = {}) => openPersistentDb({ name, backend: backend(faults), pages, ...options }),
    newLocks: () => new ProcessLocks(),
    destroy: (name) => deletePersistentDb({ name, backend: backend() }),
    // The runner clears the origin's IndexedDB over the DevTools protocol, as clearing the
    // site's data does: Chromium closes every connection (firing `close`) and deletes the data.
    loseStore: () => window.sloopLoseStore(),
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
}
