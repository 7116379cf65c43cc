/**
 * data.js -- the records every benchmark writes, reads and syncs: the same bytes for Sloop and
 * for each peer, generated from the record number alone (no randomness between runs or
 * between the Node seeder and the page).
 *
 * A record is a note of about 300 bytes of JSON: a title, a body of 22 words (18 from a small
 * common vocabulary, 4 from a large rare one, so a rare word matches about 0.2% of records), a
 * site, a status (1% are 'blocked': the indexed query's answer) and a timestamp.
 */

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'so', 'ti', 'va', 'be', 'do', 'fu', 'ga', 'hi', 'jo', 'pe', 'zu'];
const COMMON = ['valve', 'pump', 'pressure', 'checked', 'nominal', 'leak', 'filter', 'replaced', 'boiler', 'sensor',
  'reading', 'high', 'low', 'ok', 'inspection', 'room', 'pipe', 'seal', 'motor', 'noise', 'oil', 'level', 'gauge',
  'tank', 'fan', 'belt', 'worn', 'new', 'old', 'north', 'south', 'east', 'west', 'floor', 'roof', 'unit'];
/** 2,048 distinct four-syllable words, none of them a COMMON word. */
const RARE = Array.from({ length: 2048 }, (_, i) =>
  SYLLABLES[i & 15] + SYLLABLES[(i >> 4) & 15] + SYLLABLES[(i >> 8) & 7] + SYLLABLES[8 + (i % 7)]);
const STATUSES = ['open', 'closed', 'waiting'];

/** The word the full-text search scenario looks for (in about 0.2% of records). */
export const SEARCH_WORD = RARE[7];
/** The value the indexed-query scenario looks for (1% of records). */
export const QUERY_STATUS = 'blocked';

/** A small deterministic generator (mulberry32) seeded by the record number. */
function rng(seed) {
  let a = (seed * 2654435761) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Record number `i`: its id and document (fields of web/schema.json's `notes`).
 * @param {number} i
 * @returns {{id: string, doc: {title: string, body: string, site: string, status: string, updatedAt: number, createdBy: string}}}
 */
export function record(i) {
  const next = rng(i + 1);
  const pick = (list) => list[Math.floor(next() * list.length)];
  const words = [];
  for (let w = 0; w < 22; w++) words.push(w % 6 === 5 ? pick(RARE) : pick(COMMON));
  return {
    id: `n${String(i).padStart(7, '0')}`,
    doc: {
      title: `Inspection ${i}: ${pick(COMMON)} ${pick(RARE)}`,
      body: words.join(' '),
      site: `Site ${i % 97} ${pick(COMMON)}`,
      status: i % 100 === 42 ? QUERY_STATUS : STATUSES[i % 3],
      updatedAt: 1767225600000 + i * 1000,
      createdBy: 'alice',
    },
  };
}

/**
 * The distinct lower-case words of a document's searchable fields: what Dexie's documented
 * full-text recipe stores in a multi-entry index (Sloop and SQLite use FTS5 instead).
 */
export function wordsOf(doc) {
  return [...new Set(`${doc.title} ${doc.body} ${doc.site}`.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean))];
}
