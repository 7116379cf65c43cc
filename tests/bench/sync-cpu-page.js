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
import { login, pullPost, QUERY_STATUS } from '../../bench/page/common.js';

const now = () => performance.now();

/** Runs `fn` (async) and adds one call and its time to `into[key]` ({calls, ms}). */
async function counted(into, key, fn) {
  const t = now();
  try {
    return await fn();
  } finally {
    const c = (into[key] ??= { calls: 0, ms: 0 });
    c.calls += 1;
    c.ms += now() - t;
  }
}

/** Wraps `obj[name]` (an async function) so that its calls are counted into `into[name]`. */
function timed(obj, name, into) {
  const fn = obj[name].bind(obj);
  obj[name] = (...args) => counted(into, name, () => fn(...args));
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
 * Resolves to `ms` (until the first query answers: the bench's figure), the first query's
 * matches, the number of notes stored (both checked by the caller), and {calls, ms} of the
 * core's calls by method, of the backend's flushes and checkpoint steps (their wall time:
 * they run beside the pull loop) and of the pull fetches (request to text). The database stays open: `closeAndDelete`
 * afterwards, outside the window (what the checkpoint has left to do is done there).
 */
export async function sync() {
  const pdb = opened;
  const post = pullPost(token);
  for (const key of Object.keys(store)) delete store[key]; // the open's flushes are not the sync's
  const core = {};
  const fetches = {};
  const t0 = now();
  await pullPages({
    call: (method, ...args) => counted(core, method, () => pdb.core[method](...args)),
    post: (body) => counted(fetches, 'pull', () => post(body)),
    pageSize: 1000,
  });
  await pdb.whenDurable();
  const found = (await pdb.core.query('notes', { where: { status: QUERY_STATUS }, limit: 50 })).length;
  const ms = now() - t0;
  const stats = structuredClone(store);
  const [[notes]] = await pdb.core.sql("SELECT count(*) FROM records WHERE coll = 'notes'");
  return { ms, found, notes, core, store: stats, fetches: fetches.pull };
}

/** Closes the database prepare opened (its checkpoint drains here) and deletes it. */
export async function closeAndDelete(name) {
  await opened?.close();
  opened = null;
  await deletePersistentDb({ name, backend: idbBackend() });
}
