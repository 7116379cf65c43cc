/**
 * pouchdb.js -- PouchDB in the page (pouchdb-browser: the IndexedDB adapter) replicating with
 * a PouchDB server on loopback (express-pouchdb, memory adapter, mounted at /pouch on the same
 * origin). Replication uses batches of 1000 documents, the size of Sloop's pull pages. "Until
 * queryable" includes the first Mango query by the indexed field (pouchdb-find, index declared
 * before replicating), because that is when the app can show it.
 */
import PouchDB from 'pouchdb-browser';
import find from 'pouchdb-find';
import { records, now, expect, queryMatches, QUERY_STATUS } from './common.js';

PouchDB.plugin(find);
const remote = (db) => new PouchDB(`${location.origin}/pouch/${db}`);
const open = new Map();

function db(name) {
  if (!open.has(name)) open.set(name, new PouchDB(name));
  return open.get(name);
}

export async function destroy(name) {
  await db(name).destroy();
  open.delete(name);
}

export async function sync({ name, n }) {
  const local = db(name);
  await local.createIndex({ index: { fields: ['status'] } });
  const t = now();
  await local.replicate.from(remote('seed'), { batch_size: 1000 });
  const replicated = now() - t;
  const first = await local.find({ selector: { status: QUERY_STATUS }, limit: 50 });
  const ms = now() - t;
  expect('documents after sync (and the index\'s design document)', (await local.info()).doc_count, n + 1);
  expect('first query after sync', first.docs.length, Math.min(50, queryMatches(n)));
  globalThis.benchReplicatedMs = replicated;
  globalThis.benchWasmBytes = 0;
  return ms;
}

export async function push({ name, n, tag }) {
  const local = db(name);
  await local.bulkDocs(records(n).map((r) => ({ _id: `${tag}-${r.id}`, ...r.doc })));
  const target = remote(`push-${tag}`);
  const t = now();
  const result = await local.replicate.to(target, { batch_size: 1000 });
  const ms = now() - t;
  expect('documents written', result.docs_written, n);
  await target.destroy();
  return ms;
}
