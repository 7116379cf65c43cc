/**
 * common.js -- what every system's page module shares: the records of a run, timing, and
 * the sync server's login. Each system module exports the same functions (those that apply to
 * it), each resolving to milliseconds measured in the page:
 *   write1({name, n})   n single-record writes, each durable before the next
 *   bulk({name, n})     n records in one bulk write, until durable
 *   prepare({name, n})  untimed: a database of n records for query, search and cold
 *   query({name})       the indexed query (status = QUERY_STATUS, every match, whole records)
 *   search({name})      full-text search for SEARCH_WORD, best 50
 *   cold({name})        open a prepared database and run the first query (a new tab)
 *   sync({name, n})     initial sync of n records from the server until queryable
 *   push({name, n, tag}) push n operations made offline until acknowledged
 *   destroy(name)       delete a database
 */
import { record, wordsOf, QUERY_STATUS, SEARCH_WORD } from '../data.js';

export { record, wordsOf, QUERY_STATUS, SEARCH_WORD };

/** Records 0..n-1 (generated before the clock starts: generation is not what is measured). */
export const records = (n, from = 0) => Array.from({ length: n }, (_, i) => record(from + i));

export const now = () => performance.now();

/** The median of `times` calls of the async `fn`, each timed alone: for reads, which are short. */
export async function medianOf(times, fn) {
  const out = [];
  for (let i = 0; i < times; i++) {
    const t = now();
    await fn();
    out.push(now() - t);
  }
  return out.sort((a, b) => a - b)[Math.floor(times / 2)];
}

/** How many times a read is repeated within one run. */
export const READ_REPEATS = 9;

/** Logs a demo user in on the Sloop server serving this page; resolves to the access token. */
export async function login(user, device) {
  const res = await fetch('/v1/login', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, password: `${user}-sloop-demo`, device }),
  });
  if (!res.ok) throw new Error(`login ${user}: ${res.status} ${await res.text()}`);
  return (await res.json()).token;
}

/**
 * The pull loop's `post` against the Sloop server serving this page: sends a pull request with
 * `token`, resolves to the answer's text.
 */
export const pullPost = (token) => async (body) => {
  const res = await fetch('/v1/pull', {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body,
  });
  if (!res.ok) throw new Error(`pull: ${res.status} ${await res.text()}`);
  return res.text();
};

/** Asserts a benchmark read what it should have, so a broken system cannot look fast. */
export function expect(what, got, want) {
  if (got !== want) throw new Error(`${what}: got ${got}, want ${want}`);
}

/** The number of records of 0..n-1 whose status is QUERY_STATUS (see data.js). */
export const queryMatches = (n) => Math.floor((n + 57) / 100);

/** How many results the search returns over records 0..n-1: its matches, at most 50. */
export const searchMatches = (n) =>
  Math.min(50, records(n).filter((r) => wordsOf(r.doc).includes(SEARCH_WORD)).length);
