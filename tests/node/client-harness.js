// Shared by tests/node/client-*.test.js: the real sync server (real core, on this run's store:
// test-store.js) on loopback, sign-in, and Sloop clients on fake-indexeddb.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { indexedDB, IDBKeyRange } from 'fake-indexeddb';
import { createSyncServer } from '../../js/server/sync-server.js';
import { storeOpener } from './test-store.js';
import { openSloop } from '../../js/sloop.js';
import { idbBackend } from '../../js/storage/idb-backend.js';

export const schema = JSON.parse(readFileSync(new URL('../../web/schema.json', import.meta.url), 'utf8'));
export const users = JSON.parse(readFileSync(new URL('../../js/server/demo-users.json', import.meta.url), 'utf8'));
let serial = 0;

/**
 * The real server on a fresh data folder, with an adjustable clock: `server.advance(ms)`
 * moves the time tokens are checked against.
 */
export async function startTestServer() {
  const dataDir = mkdtempSync(join(tmpdir(), 'sloop-client-'));
  let offset = 0;
  const stores = await storeOpener({ dataDir, schema });
  const sync = createSyncServer({
    users, secret: 'client-tests-secret-0123456789abcdef0123456789',
    openTenantStore: stores, now: () => Date.now() + offset,
  });
  const url = await sync.listen({ port: 0 });
  return {
    url,
    advance(ms) { offset += ms; },
    async close() {
      await sync.close();
      await stores.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** POST /v1/login; the whole answer ({token, offlineToken, ...}). */
export async function login(url, user, device) {
  const res = await fetch(`${url}/v1/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, password: `${user}-sloop-demo`, device }),
  });
  if (res.status !== 200) throw new Error(`login ${user}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** The IndexedDB backend on fake-indexeddb; `faults`: idb-backend.js's test hooks. */
export const backend = (faults) => idbBackend({ indexedDB, IDBKeyRange, faults });

/** A fresh database name, so tests never share local state. */
export const freshName = (what = 'db') => `client-${what}-${process.pid}-${serial++}`;

/**
 * Opens a Sloop database signed in as `user` (null: local only). `session.token` is what
 * getToken answers; tests replace it. Automatic sync is slow by default so that tests call
 * sync() themselves; pass `sync` to change that.
 */
export async function openClient(server, user, { name = freshName(user ?? 'local'), sync = {}, ...options } = {}) {
  const session = { token: null };
  const db = await openSloop({
    name, schema, backend: backend(),
    serverUrl: user ? server.url : '',
    auth: { getToken: () => session.token },
    sync: { debounceMs: 60_000, intervalMs: 0, ...sync },
    ...options,
  });
  if (user) {
    Object.assign(session, await login(server.url, user, db.device));
    await db.sync(); // the first automatic cycle found no token: signed in, sync restarts
  }
  return { db, session, name };
}

/** Resolves once `predicate()` is true (polled on the event loop); throws after `ms` real ms. */
export async function waitFor(predicate, what = 'condition', ms = 5000) {
  const deadline = performance.now() + ms;
  while (!(await predicate())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Resolves with the next event of `type` on `target` whose detail passes `filter`. */
export function nextEvent(target, type, filter = () => true) {
  return new Promise((resolve) => {
    const on = (e) => {
      if (!filter(e.detail)) return;
      target.removeEventListener(type, on);
      resolve(e.detail);
    };
    target.addEventListener(type, on);
  });
}
