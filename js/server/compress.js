/**
 * compress.js -- response compression for API answers: which encoding a request accepts
 * (`Accept-Encoding`, q-values honoured) and the compression itself, off the event loop.
 *
 * Rules:
 *   - only answers of at least `COMPRESS_MIN_BYTES` are compressed: below that the saving is
 *     a few hundred bytes at most and not worth a trip to the thread pool;
 *   - br or gzip, whichever the request accepts with the higher q-value; on a tie, br (11%
 *     smaller for about 5 ms more per 1,000-record page, measured in docs/PROTOCOL.md, Compression). `*` stands for either when
 *     it is not named; q=0 refuses. A request that accepts neither gets identity, also when it
 *     says `identity;q=0` (a 406 would only make a client fail over bytes it can read anyway);
 *   - compression runs in libuv's thread pool (zlib's callback API): a pull page of 1,000
 *     records costs milliseconds to compress, which a synchronous call would take from every
 *     other request;
 *   - the levels are chosen by measurement on a 1,000-record pull page (docs/PROTOCOL.md):
 *     gzip level 4 and br quality 5, the last levels where one more KiB saved costs
 *     under 1 ms of CPU (the time a KiB takes on an 8 Mbit/s link); gzip 6 (zlib's default)
 *     costs 2.5x the CPU of level 4 for 4% fewer bytes.
 *
 * Not here: compressed request bodies. They are refused (415, body.js): a client's pushes are
 * small, and accepting them would mean guarding against decompression bombs for little gain.
 * @module sloop/server/compress
 */
import { brotliCompress, constants, gzip } from 'node:zlib';
import { promisify } from 'node:util';

/** Answers shorter than this (bytes of JSON) are sent as they are. */
export const COMPRESS_MIN_BYTES = 1024;

/** zlib options per encoding; see the module comment for why these levels. */
export const ENCODER_OPTIONS = Object.freeze({
  gzip: Object.freeze({ level: 4 }),
  br: Object.freeze({
    params: Object.freeze({
      [constants.BROTLI_PARAM_QUALITY]: 5,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
    }),
  }),
});

const ENCODERS = { gzip: promisify(gzip), br: promisify(brotliCompress) };

/** Server preference on equal q-values: first wins. */
const PREFERENCE = ['br', 'gzip'];

/**
 * Parses `Accept-Encoding` into coding -> q-value (lower-cased codings; `x-gzip` counts as
 * gzip). Malformed q-values count as 0, so a garbled header never selects a coding.
 * @param {string|undefined} header
 * @returns {Map<string, number>}
 */
export function parseAcceptEncoding(header) {
  const accepted = new Map();
  if (typeof header !== 'string') return accepted;
  for (const part of header.split(',')) {
    const [rawName, ...params] = part.split(';');
    let name = rawName.trim().toLowerCase();
    if (name === '') continue;
    if (name === 'x-gzip') name = 'gzip';
    let q = 1;
    for (const param of params) {
      const [key, value = ''] = param.split('=').map((s) => s.trim());
      if (key.toLowerCase() !== 'q') continue;
      q = /^(0(\.\d{0,3})?|1(\.0{0,3})?)$/.test(value) ? Number(value) : 0;
    }
    // A coding named twice keeps its best q-value.
    accepted.set(name, Math.max(q, accepted.get(name) ?? 0));
  }
  return accepted;
}

/**
 * The encoding to answer with, given the request's `Accept-Encoding`.
 * @example
 *   chooseEncoding('gzip, deflate, br')  // 'br'
 *   chooseEncoding('gzip;q=1, br;q=0.5') // 'gzip'
 *   chooseEncoding(undefined)            // null: identity
 * @param {string|undefined} header
 * @returns {'br'|'gzip'|null} null for identity
 */
export function chooseEncoding(header) {
  const accepted = parseAcceptEncoding(header);
  const star = accepted.get('*') ?? 0;
  let best = null;
  let bestQ = 0;
  for (const coding of PREFERENCE) {
    const q = accepted.has(coding) ? accepted.get(coding) : star;
    if (q > bestQ) {
      best = coding;
      bestQ = q;
    }
  }
  return best;
}

/**
 * zlib options for static files: compressed once per file version and then served from a
 * cache (static.js), so the highest levels cost one request a few hundred milliseconds at
 * most and every later visitor downloads less.
 */
export const STATIC_ENCODER_OPTIONS = Object.freeze({
  gzip: Object.freeze({ level: 9 }),
  br: Object.freeze({ params: Object.freeze({ [constants.BROTLI_PARAM_QUALITY]: 11 }) }),
});

/**
 * Compresses an answer in the thread pool.
 * @param {Buffer} body
 * @param {'br'|'gzip'} encoding
 * @param {object} [options] zlib options; ENCODER_OPTIONS (for answers) by default
 * @returns {Promise<Buffer>}
 */
export function compress(body, encoding, options = ENCODER_OPTIONS[encoding]) {
  return ENCODERS[encoding](body, options);
}
