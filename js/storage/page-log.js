/**
 * page-log.js -- the commit log of the IndexedDB page store: record layout, page map and
 * checkpoint folding. Pure data; idb-backend.js is the only module that touches IndexedDB.
 *
 * Why a log: a commit used to be one IndexedDB record per changed 4 KiB page, and a single
 * durable put changes about 16 pages (table, indexes, full-text index, oplog), so most of its
 * time went to per-record costs (docs/PERSISTENCE.md, Costs). Now a commit appends its pages as
 * one log record next to the commit record, and a background checkpoint later copies the log
 * into the per-page records and deletes it.
 *
 * Log record: key [seq, chunk]; value {pageSize, fileSize, truncated, chunks, index, slots, bytes,
 * record}: `index` (Uint32Array) names the pages whose encodings follow one another in `bytes`,
 * page index[k]'s from slots[k] to slots[k+1]: runs that turn its previous copy into this one,
 * or the whole page (encodePage), since one durable put changes a few hundred bytes of each of
 * ~11 pages; `record` is the commit's commit record (wasm/src/vfs_record.c). Schema version 5
 * writes one record per commit (chunk 0 of 1), its `bytes` an ArrayBuffer, or a Blob from
 * BLOB_MIN_BYTES on (a bulk commit: see there), and its commit record inside it, so that a
 * commit is one `add` and nothing else (idb-backend.js, "Fencing"). A claim's record is a
 * marker (`marker: true`, no pages: claimMarker). Version 4's records have no `record` (the
 * commit record was in `meta` only); version 3 wrote a record per LOG_CHUNK_PAGES pages of a
 * commit, each repeating the commit's sizes; version 2's records have no `slots` and hold whole
 * pages, pageSize apart; all read as they are. The committed database is the page records with
 * every log entry past the floor (idb-backend.js) applied in key order.
 *
 * Invariants: a page's newest copy is in the newest log entry that holds it, else in its page
 * record. A checkpoint step writes the newest copies of the oldest records' pages (all of them,
 * or the next part of one record: PageMap.checkpointStep) and deletes the records it finished,
 * in one transaction, so the page records plus the remaining log always spell the same
 * database.
 * @module sloop/storage/page-log
 */
import { SloopError } from '../core.js';
import { fold } from './flusher.js';

/**
 * Pages a commit's encoding is built from at a time (and version 3's pages per log record):
 * 256 x 4 KiB = 1 MiB, the commit hook's buffers (COMMIT_LAYOUT).
 */
export const LOG_CHUNK_PAGES = 256;
/**
 * Record bytes from which a commit's log record holds them as one Blob instead of an
 * ArrayBuffer. Measured in Chromium, 32 MiB in one strict transaction: 32 ArrayBuffers of 1 MiB
 * 115-230 ms, 32 Blobs of 1 MiB about the same, one Blob of 32 MiB (made from the 32 buffers,
 * included) 45-75 ms, one ArrayBuffer of 32 MiB 170-380 ms. A Blob is put by reference (no
 * structured clone of its bytes), and IndexedDB stores each large value in a file of its own:
 * one file per commit rather than one per MiB. Small commits (a single put logs ~2 KiB) stay
 * ArrayBuffers, stored inline.
 */
export const BLOB_MIN_BYTES = 64 << 10;
/**
 * The log is checkpointed when the writer is idle and the log holds this many bytes of pages...
 * A step writes each of its pages' newest copy, and a later step leaves out what is still
 * stored (PageMap.stored): the more commits the log holds, the more rewrites of the same index
 * and full-text pages fold into one put. Syncing 100,000 notes, steps put 22,800 page records
 * at 1 MiB and 18,800 at 4 MiB, the log peaking at 4.4-6.9 MiB and 5.4-6.4 MiB: a sync's
 * commits outrun the steps either way (docs/DESIGN.md, "Initial sync end to end"). The price:
 * an idle writer keeps up to this much log, and the page map a copy of each of its pages.
 */
export const CHECKPOINT_AT_BYTES = 4 << 20;
/** ...and whatever the writer is doing once it holds this many (the bound on the log, hence on open). */
export const CHECKPOINT_FORCE_BYTES = 16 << 20;
/** Distinct page bytes one checkpoint transaction writes at most (at least one page). */
export const CHECKPOINT_STEP_BYTES = 1 << 20;

/** Bytes of one run's header: u32 offset, u32 length (little-endian). */
const RUN_HEADER = 8;

/**
 * How the commit hook (host.js) copies a large commit's pages out of the heap: in index order,
 * `pagesPerBuffer` to an ArrayBuffer, each page after `gapBytes` left free, which is exactly a
 * log record's bytes when every page of it goes whole (a bulk commit's new pages): logRecords
 * then writes the runs' headers into the gaps and logs that buffer as it is. One copy out of
 * the heap and no other: 8,192 pages each sliced into its own ArrayBuffer cost 60-115 ms here,
 * and copying them again into records 30-80 ms, against ~25 ms for the one copy (32 MiB).
 * Commits of fewer than `minPages` pages are copied a page to a buffer, as before.
 */
export const COMMIT_LAYOUT = Object.freeze({ pagesPerBuffer: LOG_CHUNK_PAGES, gapBytes: RUN_HEADER, minPages: 64 });

/**
 * A page's bytes as a Uint8Array, without copying. Pages are ArrayBuffers of their own (read
 * from the store, decoded from the log, a small commit's) or Uint8Array views into a large
 * commit's buffers (COMMIT_LAYOUT).
 * @param {ArrayBuffer|Uint8Array} page
 * @returns {Uint8Array}
 */
export function pageBytes(page) {
  return page instanceof Uint8Array ? page : new Uint8Array(page);
}

/**
 * A page as an ArrayBuffer holding exactly its bytes: its own buffer, or a copy out of the
 * larger buffer a view lies in. What IndexedDB must be given: a view would make it clone the
 * view's whole buffer, and what a long-lived copy must be, so that it does not keep that
 * buffer alive.
 * @param {ArrayBuffer|Uint8Array} page
 * @returns {ArrayBuffer}
 */
export function ownBuffer(page) {
  if (!(page instanceof Uint8Array)) return page;
  if (page.byteOffset === 0 && page.byteLength === page.buffer.byteLength) return page.buffer;
  return page.slice().buffer;
}

/** A page's bytes as 32-bit words, without copying (page buffers and offsets are 4-byte aligned). */
function pageWords(page) {
  const bytes = pageBytes(page);
  return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2);
}
/** Equal 4-byte words a run may span rather than end and start again (cheaper than a header). */
const RUN_GAP_WORDS = 2;

/**
 * How page `page` differs from `base` (the copy the store holds before this commit), as runs of
 * [u32 offset][u32 length][the new bytes]; null when the page goes whole (the one run [0,
 * pageSize]): there is no base, or the runs would take more than half a page. Words are
 * compared 4 bytes at a time: page buffers and views are 4-byte aligned. Cost: one pass over
 * the page (~3 us here).
 * @param {ArrayBuffer|Uint8Array} page
 * @param {ArrayBuffer|Uint8Array|undefined} base
 * @returns {Uint8Array|null}
 */
export function pageRuns(page, base) {
  const size = page.byteLength;
  if (!base || base.byteLength !== size || size % 4) return null;
  const a = pageWords(page);
  const b = pageWords(base);
  const runs = [];
  let bytes = 0;
  for (let k = 0; k < a.length; k++) {
    if (a[k] === b[k]) continue;
    let end = k + 1;
    for (let j = end; j < a.length && j <= end + RUN_GAP_WORDS; j++) if (a[j] !== b[j]) end = j + 1;
    runs.push(k, end);
    bytes += RUN_HEADER + 4 * (end - k);
    if (bytes > size / 2) return null;
    k = end - 1;
  }
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer);
  const src = pageBytes(page);
  let at = 0;
  for (let r = 0; r < runs.length; r += 2) {
    const from = 4 * runs[r];
    const length = 4 * (runs[r + 1] - runs[r]);
    view.setUint32(at, from, true);
    view.setUint32(at + 4, length, true);
    out.set(src.subarray(from, from + length), at + RUN_HEADER);
    at += RUN_HEADER + length;
  }
  return out;
}

/**
 * A page's encoding in the log: its runs over `base` (pageRuns), or the page whole.
 * @param {ArrayBuffer|Uint8Array} page
 * @param {ArrayBuffer|Uint8Array|undefined} base
 * @returns {Uint8Array}
 */
export function encodePage(page, base) {
  const runs = pageRuns(page, base);
  if (runs) return runs;
  const out = new Uint8Array(RUN_HEADER + page.byteLength);
  writeWhole(out, new DataView(out.buffer), 0, page);
  return out;
}

/**
 * Writes `page` whole (one run [0, pageSize]) into `out` (with `view` over all of its buffer)
 * at `at`. One view per buffer: a DataView made per page over a large record cost ~25 us each.
 */
function writeWhole(out, view, at, page) {
  writeWholeHeader(view, at, page.byteLength);
  out.set(pageBytes(page), at + RUN_HEADER);
}

/** Writes the header of a whole page's one run, [0, pageSize], at `at`. */
function writeWholeHeader(view, at, pageSize) {
  view.setUint32(at, 0, true);
  view.setUint32(at + 4, pageSize, true);
}

/**
 * The buffer that already holds pages `index` (in that order) as a record of whole pages
 * would, a gap of RUN_HEADER bytes before each and nothing else (the commit hook's
 * COMMIT_LAYOUT), or null. A batch folded from several commits, or a chunk that is not one of
 * the hook's buffers, is copied into a record of its own instead.
 * @param {Uint32Array} index
 * @param {Map<number, ArrayBuffer|Uint8Array>} pages
 * @param {number} pageSize
 * @returns {ArrayBuffer|null}
 */
function wholePagesBuffer(index, pages, pageSize) {
  const first = pages.get(index[0]);
  if (!(first instanceof Uint8Array) || first.buffer.byteLength !== index.length * (RUN_HEADER + pageSize)) return null;
  for (let k = 0; k < index.length; k++) {
    const page = pages.get(index[k]);
    if (page.buffer !== first.buffer || page.byteOffset !== k * (RUN_HEADER + pageSize) + RUN_HEADER
      || page.byteLength !== pageSize) return null;
  }
  return first.buffer;
}

/** One DataView per buffer (a log record's bytes), made on first use. */
const views = new WeakMap();
function viewOf(buffer) {
  let view = views.get(buffer);
  if (!view) views.set(buffer, (view = new DataView(buffer)));
  return view;
}

/**
 * The page an encoding (encodePage) spells over `base`, as a fresh ArrayBuffer.
 * @param {Uint8Array} encoded
 * @param {ArrayBuffer|Uint8Array|undefined} base the page's previous copy; needed unless the encoding is whole
 * @param {number} pageSize
 * @returns {ArrayBuffer}
 * @throws {SloopError} 'corrupt' when runs fall outside the page or a needed base is missing
 */
export function decodePage(encoded, base, pageSize) {
  const view = viewOf(encoded.buffer);
  const u32 = (at) => view.getUint32(encoded.byteOffset + at, true);
  const whole = encoded.byteLength === RUN_HEADER + pageSize && u32(0) === 0 && u32(4) === pageSize;
  if (!whole && (!base || base.byteLength !== pageSize)) {
    throw new SloopError('corrupt', 'a log record changes a page the store does not hold; recover from the server');
  }
  const out = whole ? new Uint8Array(pageSize) : pageBytes(base).slice();
  for (let at = 0; at < encoded.byteLength;) {
    const from = at + RUN_HEADER <= encoded.byteLength ? u32(at) : -1;
    const length = from >= 0 ? u32(at + 4) : 0;
    if (from < 0 || from + length > pageSize || at + RUN_HEADER + length > encoded.byteLength) {
      throw new SloopError('corrupt', 'a log record is damaged; recover from the server');
    }
    out.set(encoded.subarray(at + RUN_HEADER, at + RUN_HEADER + length), from);
    at += RUN_HEADER + length;
  }
  return out.buffer;
}

/**
 * The log record of one commit, each page encoded against its previous copy (encodePage), its
 * bytes one Blob from BLOB_MIN_BYTES on (where the environment has Blob), else one ArrayBuffer.
 * The encoding is built LOG_CHUNK_PAGES pages at a time; a part that is all whole pages and
 * already laid out by the commit hook (COMMIT_LAYOUT) is taken as it is, not copied.
 * @param {number} seq the commit's sequence number (the commit record's seq)
 * @param {{pageSize: number, fileSize: number, truncated: boolean, pages: Map<number, ArrayBuffer|Uint8Array>}} batch
 * @param {(page: number) => ArrayBuffer|Uint8Array|undefined} [baseOf] the copy the store holds
 *   before this commit, where the writer knows it (PageMap.baseOf); a page without one is logged whole
 * @param {{blobs?: boolean}} [options] whether large records may be Blobs
 * @returns {Array<{key: number[], value: object, shared: Set<ArrayBuffer>}>} the one record, even
 *   for a page-less commit; `shared` (not stored) names the hook's buffers whose bytes the record
 *   took as they are, for PageMap.add
 */
export function logRecords(seq, batch, baseOf = () => undefined, { blobs = typeof Blob === 'function' } = {}) {
  const { pageSize } = batch;
  const index = Uint32Array.from([...batch.pages.keys()].sort((a, b) => a - b));
  const slots = new Uint32Array(index.length + 1);
  const parts = [];
  const shared = new Set();
  for (let from = 0; from < index.length; from += LOG_CHUNK_PAGES) {
    const group = index.subarray(from, Math.min(from + LOG_CHUNK_PAGES, index.length));
    // Runs are built first; whole pages (most of a bulk commit) are copied once, straight in.
    const runs = Array.from(group, (page) => pageRuns(batch.pages.get(page), baseOf(page)));
    runs.forEach((r, k) => { slots[from + k + 1] = slots[from + k] + (r ? r.byteLength : RUN_HEADER + pageSize); });
    const at = (k) => slots[from + k] - slots[from];
    const laidOut = runs.every((r) => !r) && wholePagesBuffer(group, batch.pages, pageSize);
    const bytes = laidOut ? new Uint8Array(laidOut) : new Uint8Array(at(group.length));
    const view = new DataView(bytes.buffer);
    if (laidOut) {
      group.forEach((page, k) => writeWholeHeader(view, at(k), pageSize));
      shared.add(laidOut);
    } else runs.forEach((r, k) => (r ? bytes.set(r, at(k)) : writeWhole(bytes, view, at(k), batch.pages.get(group[k]))));
    parts.push(bytes.buffer);
  }
  const size = slots[index.length];
  let bytes;
  if (blobs && size >= BLOB_MIN_BYTES) bytes = new Blob(parts);
  else if (parts.length === 1) bytes = parts[0];
  else {
    const all = new Uint8Array(size);
    parts.forEach((part, k) => all.set(new Uint8Array(part), slots[k * LOG_CHUNK_PAGES]));
    bytes = all.buffer;
  }
  const value = { pageSize, fileSize: batch.fileSize, truncated: batch.truncated, chunks: 1, index, slots, bytes };
  if (batch.record) value.record = batch.record;
  return [{ key: [seq, 0], value, shared }];
}

/**
 * The log record a claim adds at its own seq: no pages, the new epoch's commit record, and
 * `marker` so that checkpoints keep it. A writer of an older epoch that did not notice the claim
 * would add its next commit at exactly this key, and IndexedDB refuses the `add` (idb-backend.js,
 * "Fencing").
 * @param {ArrayBuffer} record the claim's commit record
 * @param {{pageSize: number, fileSize: number}} sizes
 * @returns {object}
 */
export function claimMarker(record, { pageSize, fileSize }) {
  return {
    pageSize, fileSize, truncated: false, chunks: 1, index: new Uint32Array(0), slots: new Uint32Array(1),
    bytes: new ArrayBuffer(0), record, marker: true,
  };
}

/** Bytes a log record's value holds: its ArrayBuffer's, or its Blob's. */
export function recordBytes(value) {
  return value.bytes.byteLength ?? value.bytes.size;
}

/**
 * Resolves a log record read from the store to bytes that can be read synchronously: a Blob's
 * are read into an ArrayBuffer (asynchronously, so after the transaction that read the record:
 * IndexedDB would commit it meanwhile; the Blob is a snapshot, so that is the same data).
 * @param {object} value mutated: `bytes` becomes an ArrayBuffer
 * @returns {Promise<object>|object} the value
 */
export function readableRecord(value) {
  if (value.bytes instanceof ArrayBuffer || typeof value.bytes?.arrayBuffer !== 'function') return value;
  return value.bytes.arrayBuffer().then((buffer) => Object.assign(value, { bytes: buffer }));
}

/**
 * Page `slot` of a log record's value, as a fresh ArrayBuffer: a whole page (records of schema
 * version 2 have no `slots` and hold whole pages), or its runs applied over `base`.
 * @param {object} value
 * @param {number} slot
 * @param {ArrayBuffer|undefined} [base] the page's copy before this record
 * @returns {ArrayBuffer}
 */
export function logPage(value, slot, base = undefined) {
  if (!value.slots) return value.bytes.slice(slot * value.pageSize, (slot + 1) * value.pageSize);
  const encoded = new Uint8Array(value.bytes, value.slots[slot], value.slots[slot + 1] - value.slots[slot]);
  return decodePage(encoded, base, value.pageSize);
}

/**
 * The pages whose first copy in `records` (log records in key order) is runs over the page
 * record rather than a whole page: what an open must read to decode the log. Told from the
 * slots alone, so that the records' bytes (a Blob's, read later) are not needed: a whole page's
 * encoding is RUN_HEADER + pageSize bytes, and runs are never more than half a page (pageRuns).
 * @param {Array<{key: number[], value: object}>} records
 * @returns {number[]}
 */
export function basesNeeded(records) {
  const seen = new Set();
  const needed = [];
  for (const { value } of records) {
    value.index.forEach((page, slot) => {
      if (seen.has(page)) return;
      seen.add(page);
      if (value.slots && value.slots[slot + 1] - value.slots[slot] !== RUN_HEADER + value.pageSize) needed.push(page);
    });
  }
  return needed;
}

/** Whether log key a = [seq, chunk] comes no later than b. */
export function keyAtMost(a, b) {
  return a[0] < b[0] || (a[0] === b[0] && a[1] <= b[1]);
}

/** Pages whose stored copy the writer keeps once checkpointed, as bases for later commits' runs. */
export const BASE_CACHE_PAGES = 256;

/**
 * Where each page's newest logged copy is, and that copy: page -> [seq, chunk, slot, bytes].
 * Built at open from the log's records (in key order, over the page records they change),
 * extended by each durable flush, trimmed by each checkpoint. The writer only ever adds what
 * it read from the store or what a flush made durable, and only the epoch's owner writes the
 * store, so the map's copies are exactly the store's: a checkpoint step writes from them
 * without reading the log back (checkpointStep), a page read takes them instead of log records,
 * and a flush encodes its pages against them (logRecords). Memory: a page per distinct logged
 * page (bounded with the log, checkpointDue) plus BASE_CACHE_PAGES checkpointed ones.
 */
export class PageMap {
  constructor() {
    this.where = new Map();
    /** Checkpointed pages' copies, as their page records hold them: page -> bytes, oldest first. */
    this.bases = new Map();
    /**
     * The log's records in key order, without their bytes: the checkpoint policy's input. A
     * record's `done` pages (index[0..done)) were written to the page records by checkpoint
     * steps that ended inside it; it is deleted with the step that writes the rest.
     */
    this.records = [];
    this.logBytes = 0;
    /**
     * Copies (this map's objects) that a committed checkpoint step put as their page's record.
     * While a page's newest copy is one of them, its page record holds exactly that, and a later
     * step whose records hold the page leaves it out: a step writes each page's newest copy,
     * often from a record after its own, and the step that reaches that record used to put the
     * same bytes again. A copy object is never a page's newest again once a newer one was
     * logged (the map only ever takes fresh objects), and a truncation drops the page from the
     * map before a step can delete its record, so membership cannot outlive the page record.
     */
    this.stored = new WeakSet();
    /** Keys of the claim markers among the log's records (claimMarker), in key order: no pages, and never deleted by a checkpoint. */
    this.markers = [];
  }

  /** The copy the store holds of `page`, where this map knows it. */
  baseOf(page) {
    return this.where.get(page)?.[3] ?? this.bases.get(page);
  }

  /** Remembers a page record's bytes as read from the store (a base for the log at open). */
  seed(page, bytes) {
    if (!this.where.has(page)) this.bases.set(page, bytes);
  }

  /**
   * Records one log record (call in key order).
   * @param {number[]} key
   * @param {object} value the record as stored, its bytes an ArrayBuffer unless `pages` is given
   *   (readableRecord)
   * @param {Map<number, ArrayBuffer|Uint8Array>} [pages] its pages whole (a flush has them); else
   *   decoded over the copies this map holds
   * @param {Set<ArrayBuffer>} [shared] the commit hook's buffers the record's bytes were made of
   *   as they are (logRecords): views into them are kept, any other view is copied
   * @throws {SloopError} 'corrupt' when a page's runs have no base
   */
  add(key, value, pages = undefined, shared = undefined) {
    if (value.marker === true) {
      this.markers.push(key);
      return;
    }
    const [seq, chunk] = key;
    if (chunk === 0 && value.truncated) {
      const count = Math.ceil(value.fileSize / value.pageSize);
      for (const page of this.where.keys()) if (page >= count) this.where.delete(page);
      for (const page of this.bases.keys()) if (page >= count) this.bases.delete(page);
    }
    value.index.forEach((page, slot) => {
      const given = pages?.get(page);
      // A view into a buffer the record took whole keeps nothing alive that the log does not
      // count (map.bytes); a view into another of the hook's buffers would keep all of it.
      const bytes = given ? (shared?.has(given.buffer) ? given : ownBuffer(given)) : logPage(value, slot, this.baseOf(page));
      this.where.set(page, [seq, chunk, slot, bytes]);
      this.bases.delete(page);
    });
    const { pageSize, fileSize, truncated, index } = value;
    const bytes = recordBytes(value);
    this.records.push({ key, bytes, counted: bytes, pageSize, fileSize, truncated, index, done: 0, record: value.record ?? null });
    this.logBytes += bytes;
  }

  /**
   * Forgets the records up to and including `key`: they were checkpointed. Their pages' copies
   * are what the page records now hold, so they stay on as bases (at most BASE_CACHE_PAGES).
   * @param {number[]} key
   * @param {Map<ArrayBuffer|Uint8Array, ArrayBuffer>} [written] see checkpointed
   */
  dropUpTo(key, written = undefined) {
    for (const [page, at] of this.where) if (keyAtMost(at, key)) this.toBase(page, at, written);
    this.trimBases();
    let k = 0;
    while (k < this.records.length && keyAtMost(this.records[k].key, key)) this.logBytes -= this.records[k++].counted;
    this.records.splice(0, k);
    this.markers = this.markers.filter((m) => !keyAtMost(m, key));
  }

  /**
   * Takes in a checkpoint step that committed (checkpointStep): the copies it put are now their
   * page records (`stored`); the records it finished are forgotten (dropUpTo); of the record it
   * ended inside, the pages it wrote (or left out as stored) whose newest copy is that record's
   * are now their page records' (a page rewritten since stays in the map), so they leave the
   * map for the bases, and the record stays in the log, `done` up to there.
   * @param {{upTo: number[]|null, partial: {key: number[], to: number}|null,
   *   pages?: Map<number, ArrayBuffer|Uint8Array>, written?: Map<ArrayBuffer|Uint8Array, ArrayBuffer>}} step
   *   `pages`: what the step put (checkpointStep's); `written`: each copy the step wrote -> the
   *   ArrayBuffer of its own the page record was put from, taken as the base instead of copying
   *   the page once more
   */
  checkpointed({ upTo, partial, written, pages }) {
    for (const copy of pages?.values() ?? []) this.stored.add(copy);
    if (upTo) this.dropUpTo(upTo, written);
    const record = partial && this.records.find((r) => r.key[0] === partial.key[0] && r.key[1] === partial.key[1]);
    if (!record) return;
    for (let k = record.done; k < partial.to; k++) {
      const at = this.where.get(record.index[k]);
      if (at && at[0] === record.key[0] && at[1] === record.key[1]) this.toBase(record.index[k], at, written);
    }
    record.done = Math.max(record.done, partial.to);
    // What is left of it to checkpoint counts, not all of it: else a bulk commit would keep the
    // log at its bound (CHECKPOINT_FORCE_BYTES), and every flush behind a step, until its last
    // part, where a log of the same pages in smaller records would have dropped below it sooner.
    const left = Math.round(record.bytes * (record.index.length - record.done) / record.index.length);
    this.logBytes -= record.counted - left;
    record.counted = left;
    this.trimBases();
  }

  /**
   * Moves `page` from the log's copies to the bases: its page record now holds that copy, put
   * from `written`'s buffer for it where given (IndexedDB cloned it at the put: it is still ours).
   */
  toBase(page, at, written = undefined) {
    this.where.delete(page);
    // Not a commit's buffer: the copy outlives its record.
    this.bases.set(page, written?.get(at[3]) ?? ownBuffer(at[3]));
  }

  /** Drops the oldest bases beyond BASE_CACHE_PAGES. */
  trimBases() {
    for (const page of this.bases.keys()) {
      if (this.bases.size <= BASE_CACHE_PAGES) break;
      this.bases.delete(page);
    }
  }

  /**
   * Bytes the log's records hold (runs and whole pages), a record that checkpoint steps are
   * part-way through counting its share still to be written: what the checkpoint policy weighs.
   * An open reads whole records, so that record's written part too.
   */
  get bytes() {
    return this.logBytes;
  }

  /** Bytes of the distinct pages the log holds: what a checkpoint writes, and the map's copies. */
  get pageBytes() {
    return this.where.size * (this.records.at(-1)?.pageSize ?? 0);
  }

  /** Records the log holds. */
  get entries() {
    return this.records.length;
  }

  /**
   * What a checkpoint step that finishes the records up to `upTo` deletes: the key ranges of
   * those records that hold no claim marker (claimMarker: markers stay in the store), as
   * [first, last] pairs of keys, in key order.
   * @param {number[]} upTo
   * @returns {Array<[number[], number[]]>}
   */
  finishedRanges(upTo) {
    const ranges = [];
    let open = null;
    for (const r of this.records) {
      if (!keyAtMost(r.key, upTo)) break;
      // A marker between the range's last record and this one ends the range.
      if (open && this.markers.some((m) => !keyAtMost(m, open[1]) && keyAtMost(m, r.key))) open = null;
      if (open) open[1] = r.key;
      else ranges.push((open = [r.key, r.key]));
    }
    return ranges;
  }

  /** The commit record the log's record `key` holds (null for a record of schema version 4 or older). */
  recordAt(key) {
    return this.records.find((r) => r.key[0] === key[0] && r.key[1] === key[1])?.record ?? null;
  }

  /** @returns {[number, number, number, ArrayBuffer|Uint8Array]|undefined} [seq, chunk, slot, bytes] of page's newest logged copy */
  get(page) {
    return this.where.get(page);
  }

  /**
   * What one checkpoint step writes, from memory: the pages of the oldest records, up to
   * `maxBytes` of distinct pages (checkpointUpTo: whole records, then possibly the next part of
   * one, so that a flush never waits behind more than one bounded step however large a commit
   * is), folded as the flush scheduler folds commits, each page with its newest logged copy.
   * That copy may be newer than the step's records: the page records then hold a copy that a
   * remaining log record also holds, and applying the remaining log (in key order) over them
   * still spells the same database (docs/PERSISTENCE.md). That is also why a record may stay in
   * the log after part of its pages were written. A page whose newest copy an earlier step put
   * (`stored`) is left out: its page record holds it already. A page that a later commit truncated away has
   * no newest copy and is skipped: its page record is deleted when that truncation is
   * checkpointed, and until then it lies past the end.
   * @param {number} [maxBytes]
   * @returns {{upTo: number[]|null, partial: {key: number[], to: number}|null, pageSize: number,
   *   fileSize: number, truncated: boolean, pages: Map<number, ArrayBuffer|Uint8Array>}|null}
   *   null if the log is empty; `upTo` the last record finished (deleted by the step), `partial`
   *   the record it ends inside and how far (PageMap.checkpointed)
   */
  checkpointStep(maxBytes = CHECKPOINT_STEP_BYTES) {
    const cut = checkpointUpTo(this, maxBytes);
    if (!cut) return null;
    const { upTo, partial } = cut;
    let base = null;
    let current = null;
    for (const r of this.records) {
      const whole = upTo && keyAtMost(r.key, upTo);
      const part = !whole && partial && r.key[0] === partial.key[0] && r.key[1] === partial.key[1];
      if (!whole && !part) break;
      if (!current || r.key[0] !== current.seq) {
        if (current) base = base ? fold(base, current) : current;
        current = { seq: r.key[0], pageSize: r.pageSize, fileSize: r.fileSize, truncated: r.truncated, pages: new Map() };
      }
      for (const page of r.index.subarray(r.done, part ? partial.to : r.index.length)) current.pages.set(page, true);
    }
    base = base ? fold(base, current) : current;
    const pages = new Map();
    for (const page of base.pages.keys()) {
      const at = this.where.get(page);
      if (at && !this.stored.has(at[3])) pages.set(page, at[3]);
    }
    return { upTo, partial, pageSize: base.pageSize, fileSize: base.fileSize, truncated: base.truncated, pages };
  }
}

/**
 * Where one checkpoint step ends: the oldest records whose remaining distinct pages add up to
 * `maxBytes`, then as much of the next one as still fits (at least one page in all). Distinct,
 * since a step writes each page once however many commits rewrote it: back-to-back small
 * commits rewrite the same few pages, so one step takes the whole log. A step may end inside a
 * commit, and inside a record (a bulk commit is one record): what it did not reach stays in the
 * log, newer than the page records, so the store still spells the same database, and a flush
 * never waits behind more than one step, however large the commit.
 * @param {PageMap} map
 * @param {number} [maxBytes]
 * @returns {{upTo: number[]|null, partial: {key: number[], to: number}|null}|null} the last
 *   record taken whole, and the record taken in part with the index position it ends before;
 *   null if the log is empty
 */
export function checkpointUpTo(map, maxBytes = CHECKPOINT_STEP_BYTES) {
  const distinct = new Set();
  let upTo = null;
  for (const record of map.records) {
    const rest = record.index.subarray(record.done);
    let added = 0;
    for (const page of rest) if (!distinct.has(page)) added++;
    if ((distinct.size + added) * record.pageSize > maxBytes) {
      let to = record.done;
      for (; to < record.index.length; to++) {
        const page = record.index[to];
        if (!distinct.has(page) && distinct.size > 0 && (distinct.size + 1) * record.pageSize > maxBytes) break;
        distinct.add(page);
      }
      const partial = to > record.done ? { key: record.key, to } : null;
      return upTo || partial ? { upTo, partial } : null;
    }
    for (const page of rest) distinct.add(page);
    upTo = record.key;
  }
  return upTo ? { upTo, partial: null } : null;
}
