/**
 * sloop.js -- Sloop in the page, measured at the engine layer: openPersistentDb over the
 * IndexedDB backend (strict durability) with the CoreDb inside, and the real sync server over
 * HTTP. Bulk writes go through CoreDb.putMany (one call, one commit, one flush). Pages as openSloop
 * holds them ('auto': on demand where the browser has JS Promise Integration, where `core`'s
 * calls return Promises, hence the awaits; else the whole image, where they are synchronous).
 */
import { openPersistentDb, deletePersistentDb } from '/js/persist.js';
import { idbBackend } from '/js/storage/idb-backend.js';
import { pullPages } from '/js/client/pull-loop.js';
import { records, now, medianOf, READ_REPEATS, login, pullPost, expect, queryMatches, searchMatches, QUERY_STATUS, SEARCH_WORD } from './common.js';

const schema = fetch('/schema.json').then((r) => r.json());
const open = new Map();

/** Opens (or returns the already open) database `name` with the app's schema. */
async function db(name) {
  if (!open.has(name)) {
    const pdb = await openPersistentDb({ name, backend: idbBackend(), pages: 'auto' });
    // A tab closed just before may still hold the writer lock for a moment: wait for it.
    if (!pdb.isWriter) await new Promise((resolve) => pdb.addEventListener('writer', resolve, { once: true }));
    await pdb.core.setSchema(await schema);
    await pdb.whenDurable();
    open.set(name, pdb);
  }
  return open.get(name);
}

export async function destroy(name) {
  await open.get(name)?.close();
  open.delete(name);
  await deletePersistentDb({ name, backend: idbBackend() });
}

/** Puts `rows` (ids prefixed by `tag`) in one call, as Dexie's bulkAdd: one commit. */
async function putAll(pdb, rows, tag = '') {
  await pdb.core.putMany('notes', tag ? rows.map((r) => ({ id: `${tag}-${r.id}`, doc: r.doc })) : rows);
}

export async function write1({ name, n }) {
  const pdb = await db(name);
  const rows = records(n);
  const t = now();
  for (const r of rows) await pdb.call('put', 'notes', r.id, r.doc);
  return now() - t;
}

export async function bulk({ name, n }) {
  const pdb = await db(name);
  const rows = records(n);
  const t = now();
  await putAll(pdb, rows);
  await pdb.whenDurable();
  return now() - t;
}

export async function prepare({ name, n }) {
  await bulk({ name, n });
  await open.get(name).close();
  open.delete(name);
}

const indexedQuery = (pdb, limit) => pdb.core.query('notes', { where: { status: QUERY_STATUS }, ...(limit && { limit }) });

export async function query({ name, n }) {
  const pdb = await db(name);
  expect('query', (await indexedQuery(pdb)).length, queryMatches(n));
  return medianOf(READ_REPEATS, () => indexedQuery(pdb));
}

export async function search({ name, n }) {
  const pdb = await db(name);
  expect('search', (await pdb.core.search('notes', SEARCH_WORD, 50)).length, searchMatches(n));
  return medianOf(READ_REPEATS, () => pdb.core.search('notes', SEARCH_WORD, 50));
}

/** Open and first query; the caller times it from before this module was imported. */
export async function cold({ name }) {
  return (await indexedQuery(await db(name), 50)).length;
}

/**
 * Pulls pages of 1000 (the server's cap) until none is left, each page one commit, through the
 * client's pull loop (the next page fetched while this one is applied).
 */
export async function sync({ name, n }) {
  const pdb = await db(name);
  const token = await login('alice', pdb.core.device);
  const t = now();
  await pullPages({
    call: (method, ...args) => pdb.core[method](...args),
    post: pullPost(token),
    pageSize: 1000,
  });
  await pdb.whenDurable();
  const first = await indexedQuery(pdb, 50);
  const ms = now() - t;
  expect('records after sync', (await pdb.core.sql("SELECT count(*) FROM records WHERE coll = 'notes'"))[0][0], n);
  expect('first query after sync', first.length, Math.min(50, queryMatches(n)));
  // The pages left the search index behind (wasm/src/fts_behind.c); the first search indexes
  // what is left first. Not part of the figure, which is "until queryable": logged beside it.
  // The expected count generates all n records: outside the timed span (it took ~0.9 s of the
  // figure at 100,000 before).
  const want = searchMatches(n);
  const s0 = now();
  const found = (await pdb.core.search('notes', SEARCH_WORD, 50)).length;
  console.error(`first search after the sync: ${(now() - s0).toFixed(0)} ms`);
  expect('first search after sync', found, want);
  globalThis.benchWasmBytes = pdb.mod.HEAPU8.buffer.byteLength;
  return ms;
}

/** Makes n operations offline (untimed), then pushes batches of 1000 until all are acked. */
export async function push({ name, n, tag }) {
  const pdb = await db(name);
  const token = await login('carol', pdb.core.device);
  const rows = records(n);
  await putAll(pdb, rows, tag);
  await pdb.whenDurable();
  const t = now();
  for (let body; (body = await pdb.core.pushBegin(1000));) {
    const res = await fetch('/v1/push', {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body,
    });
    if (!res.ok) throw new Error(`push: ${res.status} ${await res.text()}`);
    await pdb.core.pushEnd(await res.text());
  }
  await pdb.whenDurable();
  const ms = now() - t;
  expect('pending operations after push', (await pdb.core.stateCounts()).pendingOps, 0);
  return ms;
}
