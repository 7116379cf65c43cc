/**
 * dexie.js -- Dexie as its documentation recommends: indexes declared in the schema
 * (status, updatedAt, and the multi-entry `*words` index of Dexie's full-text recipe),
 * bulkAdd for bulk writes, and strict durability so a resolved write is on disk, as Sloop's is.
 */
import Dexie from 'dexie';
import { records, wordsOf, now, medianOf, READ_REPEATS, expect, queryMatches, searchMatches, QUERY_STATUS, SEARCH_WORD } from './common.js';

const open = new Map();

async function db(name) {
  if (!open.has(name)) {
    const d = new Dexie(name, { chromeTransactionDurability: 'strict' });
    d.version(1).stores({ notes: 'id, status, updatedAt, *words' });
    await d.open();
    open.set(name, d);
  }
  return open.get(name);
}

/** The stored row: the document, its id, and its words (computed per write, inside the timing). */
const row = (r) => ({ id: r.id, ...r.doc, words: wordsOf(r.doc) });

export async function destroy(name) {
  open.get(name)?.close();
  open.delete(name);
  await Dexie.delete(name);
}

export async function write1({ name, n }) {
  const d = await db(name);
  const rows = records(n);
  const t = now();
  for (const r of rows) await d.notes.put(row(r));
  return now() - t;
}

export async function bulk({ name, n }) {
  const d = await db(name);
  const rows = records(n);
  const t = now();
  await d.notes.bulkAdd(rows.map(row));
  return now() - t;
}

export async function prepare({ name, n }) {
  await bulk({ name, n });
  open.get(name).close();
  open.delete(name);
}

const indexedQuery = (d, limit) => {
  const c = d.notes.where('status').equals(QUERY_STATUS);
  return (limit ? c.limit(limit) : c).toArray();
};
const wordSearch = (d) => d.notes.where('words').equals(SEARCH_WORD).limit(50).toArray();

export async function query({ name, n }) {
  const d = await db(name);
  expect('query', (await indexedQuery(d)).length, queryMatches(n));
  return medianOf(READ_REPEATS, () => indexedQuery(d));
}

export async function search({ name, n }) {
  const d = await db(name);
  expect('search', (await wordSearch(d)).length, searchMatches(n));
  return medianOf(READ_REPEATS, () => wordSearch(d));
}

export async function cold({ name }) {
  return (await indexedQuery(await db(name), 50)).length;
}
