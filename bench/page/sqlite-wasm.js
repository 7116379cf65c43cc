/**
 * sqlite-wasm.js -- the page side of the @sqlite.org/sqlite-wasm peer: every call is a message
 * to sqlite-worker.js, answered when SQLite returns (on OPFS, durable at commit). Round trips
 * and moving the rows between threads are timed, since the app needs the results here.
 */
import { records, now, medianOf, READ_REPEATS, expect, queryMatches, searchMatches, QUERY_STATUS, SEARCH_WORD } from './common.js';

let worker = null;
let serial = 0;
const waiting = new Map();

function call(op, ...args) {
  if (!worker) {
    worker = new Worker('/build/bench/sqlite-worker.js', { type: 'module' });
    worker.onmessage = ({ data }) => {
      const w = waiting.get(data.id);
      waiting.delete(data.id);
      if (data.error) w.reject(new Error(`sqlite-wasm ${w.op}: ${data.error}`));
      else w.resolve(data.result);
    };
  }
  const id = serial++;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject, op });
    worker.postMessage({ id, op, args });
  });
}

export const destroy = (name) => call('destroy', name);

export async function write1({ name, n }) {
  await call('open', name);
  const rows = records(n);
  const t = now();
  for (const r of rows) await call('put', name, r);
  return now() - t;
}

export async function bulk({ name, n }) {
  await call('open', name);
  const rows = records(n);
  const t = now();
  await call('bulk', name, rows);
  return now() - t;
}

export async function prepare({ name, n }) {
  await bulk({ name, n });
  await call('close', name);
}

export async function query({ name, n }) {
  expect('query', (await call('query', name, QUERY_STATUS)).length, queryMatches(n));
  return medianOf(READ_REPEATS, () => call('query', name, QUERY_STATUS));
}

export async function search({ name, n }) {
  expect('search', (await call('search', name, SEARCH_WORD)).length, searchMatches(n));
  return medianOf(READ_REPEATS, () => call('search', name, SEARCH_WORD));
}

export async function cold({ name }) {
  return (await call('query', name, QUERY_STATUS, 50)).length;
}
