/**
 * sync-cpu-page.js -- the page side of sync-cpu.mjs: `make bench`'s initial sync
 * (bench/page/sloop.js `sync`: pages of 1,000 through the client's pull loop, then
 * whenDurable and the first indexed query), with the time of each kind of call added up.
 * The core's and the backend's calls are wrapped, not copied, so what runs is the runtime as
 * it ships.
 */
import { openPersistentDb, deletePersistentDb } from '/js/persist.js';
import { idbBackend } from '/js/storage/idb-backend.js';
import { pullPages } from '/js/client/pull-loop.js';
import { login, QUERY_STATUS } from '../../bench/page/common.js';

const now = () => performance.now();

/** Wraps `obj[name]` (an async function) to add its calls and time to `into`. */
function timed(obj, name, into) {
  const fn = obj[name].bind(obj);
  into[name] = { calls: 0, ms: 0 };
  obj[name] = async (...args) => {
    const t = now();
    try {
      return await fn(...args);
    } finally {
      into[name].calls += 1;
      into[name].ms += now() - t;
    }
  };
}

let opened = null;
let token = null;
let store = null;

/**
 * Opens a new database `name` with the app's schema and logs in: everything before the sync,
 * outside the window sync-cpu.mjs measures.
 * @param {{name: string}} options
 */
export async function prepare({ name }) {
  const schema = await (await fetch('/schema.json')).json();
  const backend = idbBackend();
  store = {};
  for (const fn of ['flush', 'checkpoint']) timed(backend, fn, store);
  opened = await openPersistentDb({ name, backend, pages: 'auto' });
  await opened.core.setSchema(schema);
  await opened.whenDurable();
  token = await login('alice', opened.core.device);
}

/**
 * Syncs the database `prepare` opened from the server serving this page: the window measured.
 * Resolves to the phase times (ms): `applied` (the last page applied), `durable`, `queried`
 * (the bench's figure), the core's calls, the backend's flushes and checkpoint steps (their
 * wall time: they run beside the pull loop) and the fetches (request to text), and the number
 * of notes stored, checked by the caller. The database stays open: `closeAndDelete`
 * afterwards, outside the window (what the checkpoint has left to do is done there).
 */
export async function sync() {
  const pdb = opened;
  for (const fn of Object.values(store)) Object.assign(fn, { calls: 0, ms: 0 });
  const core = {};
  const fetches = { calls: 0, ms: 0 };
  const t0 = now();
  await pullPages({
    call: async (method, ...args) => {
      core[method] ??= { calls: 0, ms: 0 };
      const t = now();
      try {
        return await pdb.core[method](...args);
      } finally {
        core[method].calls += 1;
        core[method].ms += now() - t;
      }
    },
    post: async (body) => {
      const t = now();
      const res = await fetch('/v1/pull', {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body,
      });
      if (!res.ok) throw new Error(`pull: ${res.status} ${await res.text()}`);
      const text = await res.text();
      fetches.calls += 1;
      fetches.ms += now() - t;
      return text;
    },
    pageSize: 1000,
  });
  const applied = now() - t0;
  await pdb.whenDurable();
  const durable = now() - t0;
  const found = (await pdb.core.query('notes', { where: { status: QUERY_STATUS }, limit: 50 })).length;
  const queried = now() - t0;
  const stats = structuredClone(store);
  const [[notes]] = await pdb.core.sql("SELECT count(*) FROM records WHERE coll = 'notes'");
  return { applied, durable, queried, found, notes, core, store: stats, fetches };
}

/** Closes the database prepare opened (its checkpoint drains here) and deletes it. */
export async function closeAndDelete(name) {
  await opened?.close();
  opened = null;
  await deletePersistentDb({ name, backend: idbBackend() });
}
