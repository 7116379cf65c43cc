/**
 * page-log.js -- the commit log of the IndexedDB page store: record layout, page map and
 * checkpoint folding. Pure data; idb-backend.js is the only module that touches IndexedDB.
 *
 * Why a log: a commit used to be one IndexedDB record per changed 4 KiB page, and a single
 * durable put changes about 16 pages (table, indexes, full-text index, oplog), so most of its
 * time went to per-record costs (docs/PERSISTENCE.md, Costs). Now a commit appends its pages as
 * a few large log records (`LOG_CHUNK_PAGES` pages each, concatenated) next to the commit record,
 * and a background checkpoint later copies the log into the per-page records and deletes it.
 *
 * Log record: key [seq, chunk]; value {pageSize, fileSize, truncated, chunks, index, bytes}:
 * `index` (Uint32Array) names the pages whose bytes follow one another in `bytes`. Every chunk
 * repeats the commit's sizes, so any chunk can be read alone. Entries with seq <= the commit
 * record's seq are committed (they are written in the commit record's transaction); the
 * committed database is the page records with every log entry applied in key order.
 *
 * Invariants: a page's newest copy is in the newest log entry that holds it, else in its page
 * record. A checkpoint step applies the oldest records and deletes them in one transaction, so
 * the page records plus the remaining log always spell the same database.
 * @module sloop/storage/page-log
 */
import { fold } from './flusher.js';

/** Pages per log record: 256 x 4 KiB = 1 MiB, about where IndexedDB reaches its bandwidth. */
export const LOG_CHUNK_PAGES = 256;
/** The log is checkpointed when the writer is idle and the log holds this many bytes of pages... */
export const CHECKPOINT_AT_BYTES = 1 << 20;
/** ...and whatever the writer is doing once it holds this many (the bound on the log, hence on open). */
export const CHECKPOINT_FORCE_BYTES = 16 << 20;
/** Distinct page bytes one checkpoint transaction writes at most (whole records, at least one). */
export const CHECKPOINT_STEP_BYTES = 1 << 20;

/**
 * The log records of one commit.
 * @param {number} seq the commit's sequence number (the commit record's seq)
 * @param {{pageSize: number, fileSize: number, truncated: boolean, pages: Map<number, ArrayBuffer>}} batch
 * @returns {Array<{key: number[], value: object}>} at least one record, even for a page-less commit
 */
export function logRecords(seq, batch) {
  const indices = [...batch.pages.keys()].sort((a, b) => a - b);
  const chunks = Math.max(1, Math.ceil(indices.length / LOG_CHUNK_PAGES));
  const out = [];
  for (let chunk = 0; chunk < chunks; chunk++) {
    const index = Uint32Array.from(indices.slice(chunk * LOG_CHUNK_PAGES, (chunk + 1) * LOG_CHUNK_PAGES));
    const bytes = new Uint8Array(index.length * batch.pageSize);
    index.forEach((page, slot) => bytes.set(new Uint8Array(batch.pages.get(page)), slot * batch.pageSize));
    out.push({
      key: [seq, chunk],
      value: { pageSize: batch.pageSize, fileSize: batch.fileSize, truncated: batch.truncated, chunks, index, bytes: bytes.buffer },
    });
  }
  return out;
}

/** Bytes of page `slot` of a log record's value, as a fresh ArrayBuffer. */
export function logPage(value, slot) {
  return value.bytes.slice(slot * value.pageSize, (slot + 1) * value.pageSize);
}

/** Whether log key a = [seq, chunk] comes no later than b. */
export function keyAtMost(a, b) {
  return a[0] < b[0] || (a[0] === b[0] && a[1] <= b[1]);
}

/**
 * Where each page's newest logged copy is: page -> [seq, chunk, slot, value], `value` being the
 * log record (its bytes stay referenced while it holds a newest copy, so memory is about the
 * log's distinct pages, at most the log's bound). Built at open from the log's records (in key
 * order), extended by each durable flush, trimmed by each checkpoint. The writer only ever adds
 * what it read from the store or what a flush made durable, and only the epoch's owner writes
 * the log, so the map's copies are exactly the log's: a checkpoint step writes from them
 * without reading the log back (checkpointStep).
 */
export class PageMap {
  constructor() {
    this.where = new Map();
    /** The log's records in key order, without their bytes: the checkpoint policy's input. */
    this.records = [];
    this.logBytes = 0;
  }

  /** Records one log record (call in key order). */
  add(key, value) {
    const [seq, chunk] = key;
    if (chunk === 0 && value.truncated) {
      const count = Math.ceil(value.fileSize / value.pageSize);
      for (const page of this.where.keys()) if (page >= count) this.where.delete(page);
    }
    value.index.forEach((page, slot) => this.where.set(page, [seq, chunk, slot, value]));
    const { pageSize, fileSize, truncated, index } = value;
    const bytes = index.length * pageSize;
    this.records.push({ key, bytes, pageSize, fileSize, truncated, index });
    this.logBytes += bytes;
  }

  /** Forgets the records up to and including `key`: they were checkpointed. */
  dropUpTo(key) {
    for (const [page, at] of this.where) if (keyAtMost(at, key)) this.where.delete(page);
    let k = 0;
    while (k < this.records.length && keyAtMost(this.records[k].key, key)) this.logBytes -= this.records[k++].bytes;
    this.records.splice(0, k);
  }

  /** Page bytes the log holds. */
  get bytes() {
    return this.logBytes;
  }

  /** Records the log holds. */
  get entries() {
    return this.records.length;
  }

  /** @returns {[number, number, number, object]|undefined} [seq, chunk, slot, value] of page's newest logged copy */
  get(page) {
    return this.where.get(page);
  }

  /**
   * What one checkpoint step writes, from memory: the oldest records whose distinct pages add
   * up to `maxBytes` (at least one record; checkpointUpTo), folded as the flush scheduler folds
   * commits, each page with its newest logged copy. That copy may be newer than `upTo`: the
   * page records then hold a copy that a remaining log record also holds, and applying the
   * remaining log (in key order) over them still spells the same database. A page that a later
   * commit truncated away has no newest copy and is skipped: its page record is deleted when
   * that truncation is checkpointed, and until then it lies past the end.
   * @param {number} [maxBytes]
   * @returns {{upTo: number[], pageSize: number, fileSize: number, truncated: boolean,
   *   pages: Map<number, ArrayBuffer>}|null} null if the log is empty
   */
  checkpointStep(maxBytes = CHECKPOINT_STEP_BYTES) {
    const upTo = checkpointUpTo(this, maxBytes);
    if (!upTo) return null;
    let base = null;
    let current = null;
    for (const r of this.records) {
      if (!keyAtMost(r.key, upTo)) break;
      if (!current || r.key[0] !== current.seq) {
        if (current) base = base ? fold(base, current) : current;
        current = { seq: r.key[0], pageSize: r.pageSize, fileSize: r.fileSize, truncated: r.truncated, pages: new Map() };
      }
      for (const page of r.index) current.pages.set(page, true);
    }
    base = base ? fold(base, current) : current;
    const pages = new Map();
    for (const page of base.pages.keys()) {
      const at = this.where.get(page);
      if (at) pages.set(page, logPage(at[3], at[2]));
    }
    return { upTo, pageSize: base.pageSize, fileSize: base.fileSize, truncated: base.truncated, pages };
  }
}

/**
 * The last log key one checkpoint step takes: the oldest records whose distinct pages add up to
 * `maxBytes` (at least one record). Distinct, since a step writes each page once however many
 * commits rewrote it: back-to-back small commits rewrite the same few pages, so one step takes
 * the whole log. A step may end inside a commit: its remaining chunks stay in the log, newer
 * than the page records, so the store still spells the same database, and a flush never waits
 * behind more than one step, however large the commit.
 * @param {PageMap} map
 * @param {number} [maxBytes]
 * @returns {number[]|null} null if the log is empty
 */
export function checkpointUpTo(map, maxBytes = CHECKPOINT_STEP_BYTES) {
  const distinct = new Set();
  let last = null;
  for (const record of map.records) {
    let added = 0;
    for (const page of record.index) if (!distinct.has(page)) added++;
    if (last && (distinct.size + added) * record.pageSize > maxBytes) break;
    for (const page of record.index) distinct.add(page);
    last = record.key;
  }
  return last;
}
