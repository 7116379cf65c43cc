/**
 * idb-backend.js -- the IndexedDB page store: the only module that knows its schema.
 *
 * One IndexedDB database per Sloop database, named `sloop:<name>`, version 5:
 *   pages   key: page index (number), value: ArrayBuffer of exactly page_size bytes
 *   log     key: [seq, chunk], value: a commit's pages, each as runs over its previous copy
 *           or whole, in one record, its bytes a Blob when large, with its commit record; or
 *           a claim's marker (page-log.js)
 *   meta    key 'commit', value: ArrayBuffer, the commit record (wasm/src/vfs_record.c) as of
 *           the last claim or checkpoint; key 'floor', value: number, the seq up to which the
 *           log was checkpointed; key 'startup', value: Uint32Array, the startup pages (a
 *           hint, see STARTUP_KEY)
 * The database is the page records with the log's entries past the floor applied in key order,
 * and its commit record is the newest (by seq) of meta's and those entries'. A flush is one
 * `add` of its commit's log record, commit record inside, in a transaction of its own, so the
 * store moves from one commit to the next all or nothing, and a tab killed mid-flush leaves the
 * previous commit intact. `checkpoint` moves the oldest log entries into the page records,
 * deletes them and moves the floor (and meta's record, if it deleted the newest), also in one
 * transaction. Version 1 (no log) is version 2 with an empty log: the upgrade only adds the
 * store. Version 2 is version 3 whose log holds whole pages only; version 3 is version 4 whose
 * log records are ArrayBuffers of at most 256 pages; version 4 is version 5 with no floor
 * (nothing checkpointed is left in its log) and no commit records in the log (meta's is the
 * newest). Older code refuses a newer database (VersionError) instead of misreading it.
 *
 * Fencing: `claim` bumps the epoch, writes the new commit record to meta and adds a marker at
 * its own seq (the old writer's last seq + 1) to the log. A flush `add`s its record at
 * [seq, 0], seq = its last seq + 1, so a writer that missed a claim (a zombie) adds at the
 * claim's marker: IndexedDB refuses the add (ConstraintError), the transaction aborts, and the
 * zombie is fenced. That costs a commit nothing: no read, and no round trip before the commit
 * (version 4 read the commit record in every flush and wrote it again: 0.48-0.52 against
 * 0.31-0.36 ms a transaction in Chromium here, tests/bench/idb-shapes.mjs). Checkpoints keep markers; a claim deletes those older than the
 * newest MARKERS_KEPT that lie below the floor. A zombie of an epoch older than that would find
 * its key free: its add lands at or below the floor, where nothing is read (and the next claim
 * deletes it), so the store stays whole, but that zombie takes its commit for durable: this
 * needs MARKERS_KEPT claims while one writer, frozen, still believes it holds the Web Lock.
 * Checkpoints and page reads, which are rare or read anyway, check meta's epoch in their
 * transaction (IndexedDB serializes readwrite transactions over the same stores).
 *
 * Durability: transactions use { durability: 'strict' } by default, so `complete` fires only
 * after the browser has flushed to disk (see docs/PERSISTENCE.md for what 'relaxed' risks).
 * @module sloop/storage/idb-backend
 */
import { SloopError } from '../core.js';
import {
  PageMap, logRecords, claimMarker, basesNeeded, keyAtMost, ownBuffer, readableRecord, COMMIT_LAYOUT, CHECKPOINT_AT_BYTES, CHECKPOINT_FORCE_BYTES,
} from './page-log.js';
import { STARTUP_PAGES } from './startup.js';

const VERSION = 5;
const RECORD_KEY = 'commit';
/** Meta key of the floor: log entries with seq <= it are checkpointed (or a late zombie's), and not read. */
const FLOOR_KEY = 'floor';
/** Claim markers (page-log.js claimMarker) kept below the floor: see "Fencing" above. */
const MARKERS_KEPT = 16;
/**
 * Meta key of the startup pages: a Uint32Array of the page indexes the writer's last session
 * fetched first (persist.js). A hint, outside the commit record: read at claim and prefetched
 * while the core opens; never trusted for content (the pages themselves are read and fenced
 * like any page read), so a stale, missing or foreign list costs reads, never correctness.
 * Code that predates it never reads it.
 */
const STARTUP_KEY = 'startup';
/** Pages per getAll on open: 1024 x 4 KiB = 4 MiB per request, all in one transaction. */
const LOAD_BATCH = 1024;
/** Log records per getAll on open: at most 16 MiB per request (of version 3's; a Blob is read later). */
const LOG_BATCH = 16;
/** Log entries (commits) that start a checkpoint whatever their size. */
const CHECKPOINT_AT_ENTRIES = 64;
const ALL = 'pages log meta'.split(' ');

/** Promise of a request's result. */
function done(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** Aborts a transaction with `error` as the reason `finished` reports, unless already over. */
function abortWith(tx, state, error) {
  state.failure ??= error;
  try { tx.abort(); } catch { /* it already committed or aborted */ }
}

/**
 * Tells IndexedDB that no request follows (where the engine has `commit()`), so it commits
 * once the queued ones are done instead of after their success events reached the page.
 */
function commitNow(tx) {
  tx.commit?.();
}

/** Promise of a transaction's completion; rejects with a SloopError saying why it aborted. */
function finished(tx, why = () => null) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(storageError(why() ?? tx.error));
  });
}

/** Maps an IndexedDB failure to a SloopError: 'quota' for QuotaExceededError, else 'storage'. */
export function storageError(error) {
  if (error instanceof SloopError) return error;
  if (error?.name === 'QuotaExceededError') {
    return new SloopError('quota', 'storage quota exceeded; the data is kept in memory and the flush will be retried');
  }
  const e = new SloopError('storage', `IndexedDB transaction failed: ${error?.name ?? 'aborted'}${error?.message ? ': ' + error.message : ''}`);
  e.cause = error;
  return e;
}

/**
 * Pages first..first+n-1 of the page records, read with getAll and getAllKeys in LOAD_BATCH
 * ranges (a missing page is an undefined slot, not a shift), or with one get for one page.
 * @returns {Promise<Array<ArrayBuffer|undefined>>}
 */
function readPageRange(KeyRange, store, first, n) {
  // One page (a B-tree descent's read, most reads): one request instead of two.
  if (n === 1) return done(store.get(first)).then((bytes) => [bytes]);
  const reads = [];
  for (let from = first; from < first + n; from += LOAD_BATCH) {
    const range = KeyRange.bound(from, Math.min(from + LOAD_BATCH, first + n) - 1);
    reads.push(Promise.all([done(store.getAllKeys(range)), done(store.getAll(range))]));
  }
  return Promise.all(reads).then((chunks) => {
    const out = new Array(n);
    for (const [keys, values] of chunks) keys.forEach((key, k) => { out[key - first] = values[k]; });
    return out;
  });
}

/**
 * The log records in `range` (all by default), in key order, as {key, value}: the keys first,
 * then the values (readLogValues).
 * @returns {Promise<Array<{key: number[], value: object}>>}
 */
function readLog(KeyRange, tx, range = undefined) {
  return done(tx.objectStore('log').getAllKeys(range)).then((keys) => readLogValues(KeyRange, tx, keys));
}

/**
 * The log records of `keys` (as getAllKeys listed them, in key order), as {key, value}: the
 * values in batches of LOG_BATCH records, all requests issued at once.
 * @returns {Promise<Array<{key: number[], value: object}>>}
 */
function readLogValues(KeyRange, tx, keys) {
  const log = tx.objectStore('log');
  const reads = [];
  for (let k = 0; k < keys.length; k += LOG_BATCH) {
    const last = keys[Math.min(k + LOG_BATCH, keys.length) - 1];
    reads.push(done(log.getAll(KeyRange.bound(keys[k], last))));
  }
  return Promise.all(reads).then((chunks) => chunks.flat().map((value, i) => ({ key: keys[i], value })));
}

/**
 * Splits the log as a claim read it: `live`, its entries past the floor (the database's), with
 * `newest` the commit record of the last of them that holds one (null: meta's is the newest);
 * and `prune`, the keys at or below the floor the claim deletes: a late zombie's commit
 * ("Fencing"), and claim markers older than the newest MARKERS_KEPT there.
 * @param {Array<{key: number[], value: object}>} all the log in key order
 * @param {number} floor
 */
function splitLog(all, floor) {
  const live = all.filter(({ key }) => key[0] > floor);
  let newest = null;
  for (const { value } of live) if (value.record) newest = value.record;
  const below = all.filter(({ key }) => key[0] <= floor);
  const markers = below.filter(({ value }) => value.marker === true);
  const old = new Set(markers.slice(0, Math.max(0, markers.length - MARKERS_KEPT)));
  const prune = below.filter((entry) => entry.value.marker !== true || old.has(entry)).map(({ key }) => key);
  return { live, newest, prune };
}

/** Whether two stored commit records (ArrayBuffer, or undefined where none) hold the same bytes. */
function sameRecord(a, b) {
  if (!a || !b) return a === b;
  if (a.byteLength !== b.byteLength) return false;
  const x = new Uint8Array(a);
  const y = new Uint8Array(b);
  return x.every((byte, i) => byte === y[i]);
}

/**
 * An IndexedDB backend.
 * @param {object} [options]
 * @param {IDBFactory} [options.indexedDB] defaults to globalThis.indexedDB (fake-indexeddb in Node)
 * @param {typeof IDBKeyRange} [options.IDBKeyRange] the key range class belonging to indexedDB
 * @param {'strict'|'relaxed'|'default'} [options.durability]
 * @param {number} [options.checkpointAtBytes] log bytes that make a checkpoint due when the writer is idle
 * @param {number} [options.checkpointForceBytes] log bytes that make it due whatever the writer does
 * @param {{beforeFlushCommit?: (tx: IDBTransaction, batch: object) => void,
 *   beforeCheckpointCommit?: (tx: IDBTransaction, batch: object) => void,
 *   beforeClaim?: () => Promise<void>}} [options.faults]
 *   test hooks: run after a flush's (a checkpoint step's) writes are queued; may abort the
 *   transaction or throw; beforeClaim is awaited before a claim reads anything
 */
export function idbBackend({
  indexedDB = globalThis.indexedDB, IDBKeyRange = globalThis.IDBKeyRange, durability = 'strict', faults = {},
  checkpointAtBytes = CHECKPOINT_AT_BYTES, checkpointForceBytes = Math.max(checkpointAtBytes, CHECKPOINT_FORCE_BYTES),
} = {}) {
  if (!indexedDB) throw new SloopError('invalid', 'no IndexedDB in this environment');
  const connections = new Map();
  /** Reads since the backend was made: page getAll requests and the pages they returned
   * (from page records or the page map), and log records read whole (at claim; page reads take the map). */
  const stats = { pageReads: 0, pagesRead: 0, logRecordsRead: 0, pagesPrefetched: 0 };
  /** The last page-read transaction per database, reused while still active. */
  const readers = new Map();
  /** The claimed databases' log page maps (page-log.js), by name. */
  const maps = new Map();
  /**
   * The 'lost' error of each database whose connection the browser closed (its site data
   * cleared, its storage evicted), by name. Such a store may be gone, or empty: reconnecting
   * and writing on would add this writer's newest pages to nothing, a database with holes. So
   * until a new claim starts over from what is stored, the writer's calls refuse (final, like
   * 'fenced') and its unsaved commits are reported, not written.
   */
  const lost = new Map();

  /** Forgets the connection when the browser closes it under us (`close` fires only then). */
  function watchClose(name, db) {
    db.onclose = () => {
      if (connections.get(name)?.db === db) connections.delete(name);
      readers.delete(name);
      lost.set(name, new SloopError('lost', `the browser closed the storage of '${name}' (site data cleared or evicted); `
        + 'commits not yet durable were not written'));
    };
  }

  /** The connection for a writer's call on `name`; refuses once the browser closed it. */
  function writerConnection(name) {
    if (lost.has(name)) return Promise.reject(lost.get(name));
    return connect(name);
  }

  function connect(name) {
    if (!connections.has(name)) {
      const req = indexedDB.open(`sloop:${name}`, VERSION);
      req.onupgradeneeded = (e) => {
        // Version 1 -> 2 adds the log; version 1's pages and commit record stay as they are.
        // Version 2 -> 3 changes nothing stored: version 3 writes log records as runs over the
        // previous copies (page-log.js), which version-2 code would misread as whole pages, so
        // the version number alone keeps that code out (VersionError); version-2 records, whole
        // pages, read as they are. Version 3 -> 4 changes nothing stored either: version 4
        // writes a commit as one record whose bytes may be a Blob, which version-3 code cannot
        // read; version-3 records read as they are. Version 4 -> 5 changes nothing stored:
        // version 5 keeps each commit's record in its log record and fences by the key (see
        // above); a version-4 store reads as one with no floor whose newest record is meta's.
        if (e.oldVersion < 1) {
          req.result.createObjectStore('pages');
          req.result.createObjectStore('meta');
        }
        if (e.oldVersion < 2) req.result.createObjectStore('log');
      };
      const p = done(req).then((db) => {
        // Another tab deleting the database (recovery) must not wait on this connection.
        db.onversionchange = () => { db.close(); connections.delete(name); };
        p.db = db;
        watchClose(name, db);
        return db;
      });
      p.catch(() => connections.delete(name));
      connections.set(name, p);
    }
    return connections.get(name);
  }

  /**
   * The connection to `name` if the database is at VERSION already, else null: this open never
   * creates or upgrades a database (the upgrade is aborted), so a handle that is not the writer
   * yet (readAhead runs before the writer lock is asked for) leaves every version as it is for
   * the claim to upgrade, under the lock.
   */
  function connectAsIs(name) {
    if (connections.has(name)) return connections.get(name).catch(() => null);
    const req = indexedDB.open(`sloop:${name}`, VERSION);
    req.onupgradeneeded = () => req.transaction.abort();
    return done(req).then((db) => {
      if (connections.has(name)) {
        db.close();
        return connections.get(name).catch(() => null);
      }
      db.onversionchange = () => { db.close(); connections.delete(name); };
      const p = Promise.resolve(db);
      p.db = db;
      watchClose(name, db);
      connections.set(name, p);
      return db;
    }, () => null);
  }

  return {
    kind: 'idb',
    vfs: 'sloop-mem',
    stats,
    /** How the commit hook copies a large commit's pages out: as this store's log records hold them. */
    commitLayout: COMMIT_LAYOUT,

    /**
     * Takes ownership: bumps the epoch and reads the log and the whole image, in one
     * transaction so the snapshot is exactly one commit. Pages are read with getAll (and
     * getAllKeys: a page may be in the log instead) over key ranges of LOAD_BATCH pages, the log
     * in batches of LOG_BATCH records, all requests issued at once; the log is decoded into
     * the page map (runs over the page records they change: those past the range read are read
     * one by one) and its pages laid over the page records. With `onDemand`, only page 0 (and
     * those bases) is read and the page map kept (readPages reads the rest as SQLite needs
     * it), so claiming costs the same at any size: the log is bounded by checkpointing, not by
     * the database. Log records whose bytes are Blobs (page-log.js BLOB_MIN_BYTES) are read and
     * decoded after the transaction: reading a Blob is not a request, and the transaction would
     * commit while it waits.
     * @param {string} name
     * @param {{decode: Function, encode: Function}} codec the C record codec
     * @param {{onDemand?: boolean}} [options]
     * On demand, the startup pages (STARTUP_KEY) are read too, with one get each issued with page
     * 0's (no round trip more), each page's newest copy (the log's, else its page record): they
     * come back as `startup` (the list) and `prefetched` (page -> bytes; a page the store lacks is
     * left out, for the VFS to report when it reads it).
     * With `ahead` (readAhead's result), the first round of reads (record, log keys, hint) tells
     * whether the store is still as it was then; if so the rest is taken from it, else read here.
     * @param {object|null} [options.ahead] on demand: what readAhead read
     * @returns {Promise<{epoch: number, seq: number, pageSize: number, fileSize: number, record: ArrayBuffer|null,
     *   pages: ArrayBuffer[], startup: number[], prefetched: Map<number, ArrayBuffer>}>}
     */
    async claim(name, codec, { onDemand = false, ahead = null } = {}) {
      if (faults.beforeClaim) await faults.beforeClaim();
      lost.delete(name); // a claim starts over from whatever is stored now
      const db = await connect(name);
      const tx = db.transaction(ALL, 'readwrite', { durability });
      const meta = tx.objectStore('meta');
      const pageStore = tx.objectStore('pages');
      const out = { pages: [], startup: [], prefetched: new Map() };
      const state = { failure: null };
      const map = new PageMap();
      const logStore = tx.objectStore('log');
      const first = [
        done(meta.get(RECORD_KEY)), done(logStore.getAllKeys()), onDemand ? done(meta.get(STARTUP_KEY)) : null,
        done(meta.get(FLOOR_KEY)),
      ];
      let marker = null;
      const read = Promise.all(first).then(([stored, keys, storedHint, storedFloor]) => {
        // The store is exactly as readAhead saw it: the same record in meta (every claim
        // rewrites it), the same log keys (every commit and every claim adds one; a checkpoint
        // step that finishes records deletes some, and one that ends inside a record writes
        // only pages that the log still holds, whose older copies are the ones its runs apply
        // over), over the same connection (deleting the database closes it). Then what it read
        // is what this transaction would read.
        const unchanged = onDemand && ahead?.db === db && sameRecord(stored, ahead.record)
          && keys.length === ahead.log.length && keys.every((key, k) => indexedDB.cmp(key, ahead.log[k].key) === 0);
        const readPage = unchanged ? (page) => ahead.pages.get(page) : (page) => done(pageStore.get(page));
        return (unchanged ? Promise.resolve(ahead.log) : readLogValues(IDBKeyRange, tx, keys)).then((all) => {
          const hint = unchanged ? ahead.hint : storedHint;
          const { live: log, newest, prune } = splitLog(all, typeof storedFloor === 'number' ? storedFloor : 0);
          let prev = stored ? codec.decode(stored) : { epoch: 0, seq: 0, pageSize: 4096, pageCount: 0, fileSize: 0 };
          const last = newest && codec.decode(newest);
          if (last && last.seq > prev.seq) prev = last;
          // The claim is a commit of no pages at the next seq: its marker there fences the
          // writer before it ("Fencing").
          Object.assign(out, prev, { epoch: prev.epoch + 1, seq: prev.seq + 1 });
          if (hint instanceof Uint32Array) {
            out.startup = Array.from(hint).filter((page) => page > 0 && page < prev.pageCount).slice(0, STARTUP_PAGES);
          }
          out.record = codec.encode(out);
          meta.put(out.record, RECORD_KEY);
          marker = claimMarker(out.record, out);
          logStore.add(marker, [out.seq, 0]);
          for (const key of prune) logStore.delete(key);
          stats.logRecordsRead += log.length;
          const count = onDemand ? Math.min(prev.pageCount, 1) : prev.pageCount;
          // The log's runs apply over the page records: those of pages past the range read here
          // are read one by one (at most the log's distinct pages).
          const needed = basesNeeded(log);
          const bases = needed.filter((page) => page >= count);
          return Promise.all([
            unchanged ? Promise.all(Array.from({ length: count }, (_, page) => readPage(page)))
              : readPageRange(IDBKeyRange, pageStore, 0, count),
            Promise.all(bases.map(readPage)),
            Promise.all(out.startup.map(readPage)),
          ]).then(([pages, baseBytes, startupBytes]) => {
            const snapshot = { log, count, needed, bases, pages, baseBytes, startupBytes };
            // A log of ArrayBuffers is decoded here, so that a damaged one aborts the epoch's bump
            // with everything else; a Blob's bytes can only be read after the transaction.
            if (log.some(({ value }) => !(value.bytes instanceof ArrayBuffer))) return snapshot;
            decodeSnapshot(snapshot);
            return null;
          });
        });
      }).catch((e) => abortWith(tx, state, e));
      /** Builds the page map from the log over the pages read, and the pages and startup copies. */
      const decodeSnapshot = ({ log, count, needed, bases, pages, baseBytes, startupBytes }) => {
        for (const page of needed) if (page < count && pages[page]) map.seed(page, pages[page]);
        bases.forEach((page, k) => { if (baseBytes[k]) map.seed(page, baseBytes[k]); });
        for (const { key, value } of log) map.add(key, value);
        out.startup.forEach((page, k) => {
          const bytes = map.get(page)?.[3] ?? startupBytes[k];
          if (bytes) out.prefetched.set(page, bytes);
        });
        stats.pagesPrefetched += out.prefetched.size;
        for (let page = 0; page < count; page++) {
          const at = map.get(page);
          if (at) pages[page] = at[3];
        }
        const have = pages.filter(Boolean).length;
        stats.pageReads += Math.ceil(count / LOAD_BATCH) + bases.length;
        stats.pagesRead += have + bases.length;
        if (have !== count) {
          throw new SloopError('corrupt', `the store holds ${have} of ${count} pages read; recover from the server`);
        }
        out.pages = pages;
      };
      await finished(tx, () => state.failure);
      const later = await read;
      if (later) {
        // The epoch is bumped by now: a damaged log found here leaves the store as it was but
        // for that, which no other writer minds (it would be fenced anyway).
        try {
          await Promise.all(later.log.map(({ value }) => readableRecord(value)));
        } catch (e) {
          throw storageError(e); // the Blob's file could not be read (NotReadableError)
        }
        decodeSnapshot(later);
      }
      map.add([out.seq, 0], marker);
      maps.set(name, map);
      return out;
    },

    /**
     * On demand, what `claim` reads, read ahead of it in a read-only transaction: the commit
     * record as stored (its bytes: decoding it needs the module's codec, and this runs while
     * the module loads, js/persist.js), the log, page 0, the page records the log's runs apply
     * over, and the startup pages. Pass the result to `claim` as `ahead`: it uses it only when
     * its own transaction finds the record's bytes and the log's keys unchanged, else it reads
     * everything itself, so what it returns is the same either way. Nothing is decoded or
     * checked here; a page missing here is missing there. Null where the database does not
     * exist yet or is of an older version: the claim creates or upgrades it.
     * @param {string} name
     * @returns {Promise<null|{db: IDBDatabase, record: ArrayBuffer|undefined, log: Array<{key: number[], value: object}>,
     *   hint: Uint32Array|undefined, pages: Map<number, ArrayBuffer|undefined>}>}
     */
    async readAhead(name) {
      const db = await connectAsIs(name);
      if (!db) return null;
      const tx = db.transaction(ALL, 'readonly');
      const meta = tx.objectStore('meta');
      const pageStore = tx.objectStore('pages');
      const [record, log, hint] = await Promise.all([done(meta.get(RECORD_KEY)), readLog(IDBKeyRange, tx), done(meta.get(STARTUP_KEY))]);
      // What the claim will want, less what it can only know once the record is decoded (the
      // page count): page 0, every base, the hint's first STARTUP_PAGES pages.
      const wanted = new Set([0, ...basesNeeded(log)]);
      if (hint instanceof Uint32Array) for (const page of hint.slice(0, STARTUP_PAGES)) wanted.add(page);
      const list = [...wanted];
      const bytes = await Promise.all(list.map((page) => done(pageStore.get(page))));
      return { db, record, log, hint, pages: new Map(list.map((page, k) => [page, bytes[k]])) };
    },

    /**
     * Reads pages first..first+n-1: a page the log holds from the page map's copy (exactly the
     * log's newest, taken now: no commit happens while the VFS waits), the others from their
     * page records in one read-only transaction (one getAll, plus the keys, so a page the store
     * lacks is an undefined slot rather than a shifted one), with the commit record: pages of
     * another writer's epoch would mix two databases, so they are refused. A page the map does
     * not hold now is not in the log, and no checkpoint can write its page record before a
     * commit logs it.
     * @param {string} name
     * @param {number} first
     * @param {number} n
     * @param {{epoch: number, codec: {decode: Function}}} owner the reader's epoch and record codec
     * @returns {Promise<Array<ArrayBuffer|undefined>>}
     * @throws {SloopError} 'fenced' once another writer claimed the store
     */
    async readPages(name, first, n, { epoch, codec }) {
      const db = await writerConnection(name);
      const map = maps.get(name) ?? new PageMap();
      const logged = new Array(n);
      for (let k = 0; k < n; k++) logged[k] = map.get(first + k)?.[3];
      const issue = (tx) => [
        readPageRange(IDBKeyRange, tx.objectStore('pages'), first, n),
        done(tx.objectStore('meta').get(RECORD_KEY)),
      ];
      // The VFS resumes in a microtask of the previous read's success event, while that read's
      // transaction is still active: the next read joins it instead of paying for a new one.
      // A transaction that is no longer active throws, and a new one starts.
      let requests = null;
      const last = readers.get(name);
      if (last?.db === db) {
        try { requests = issue(last.tx); } catch { /* inactive or finished */ }
      }
      if (!requests) {
        const tx = db.transaction(ALL, 'readonly');
        readers.set(name, { db, tx });
        requests = issue(tx);
      }
      const [pages, record] = await Promise.all(requests);
      const stored = record ? codec.decode(record) : null;
      if (stored?.epoch !== epoch) {
        throw new SloopError('fenced', `another writer owns '${name}' (stored epoch ${stored?.epoch}, ours ${epoch})`);
      }
      for (let k = 0; k < n; k++) if (logged[k]) pages[k] = logged[k];
      stats.pageReads++;
      stats.pagesRead += pages.filter(Boolean).length;
      return pages;
    },

    /**
     * Stores the startup pages of `name` (STARTUP_KEY), a hint for the next claim. Its own
     * small transaction with relaxed durability: losing it to a crash costs reads, not data.
     * @param {string} name
     * @param {number[]} list page indexes, the first fetched first
     * @returns {Promise<void>}
     */
    async saveStartupPages(name, list) {
      const db = await writerConnection(name);
      const tx = db.transaction(['meta'], 'readwrite', { durability: 'relaxed' });
      tx.objectStore('meta').put(Uint32Array.from(list), STARTUP_KEY);
      commitNow(tx);
      await finished(tx);
    },

    /**
     * Writes one batch atomically: its pages and commit record as one log record (page-log.js),
     * added at [seq, 0] in a transaction of its own. Fenced by that key ("Fencing" above): the
     * add fails if a claim since this writer's own made it a marker.
     * @param {string} name
     * @param {object} batch from the flush scheduler, plus epoch, seq, prevSeq and record
     * @throws {SloopError} 'fenced' once another writer claimed the store; 'lost' once the
     *   browser closed the connection
     */
    async flush(name, batch) {
      const db = await writerConnection(name);
      const tx = db.transaction(['log'], 'readwrite', { durability });
      const state = { failure: null };
      const map = maps.get(name);
      // Each page as runs over the copy the store holds, where the writer knows it (a single
      // put changes a few hundred bytes of each of its ~11 pages): ~3 KiB a commit, not ~45.
      const records = logRecords(batch.prevSeq + 1, batch, (page) => map?.baseOf(page));
      // (A bulk commit is one record whose bytes are a Blob: page-log.js BLOB_MIN_BYTES.)
      const log = tx.objectStore('log');
      for (const { key, value } of records) {
        log.add(value, key).onerror = (e) => {
          if (e.target.error?.name !== 'ConstraintError') return;
          state.failure ??= new SloopError('fenced', `another writer owns '${name}' (it claimed seq ${key[0]}; ours was epoch ${batch.epoch})`);
        };
      }
      try {
        if (faults.beforeFlushCommit) faults.beforeFlushCommit(tx, batch);
        else commitNow(tx);
      } catch (e) {
        abortWith(tx, state, e);
      }
      await finished(tx, () => state.failure);
      if (map) for (const { key, value, shared } of records) map.add(key, value, batch.pages, shared);
    },

    /**
     * Whether the log of `name` (as this writer knows it) is due for a checkpoint: 'idle' (do
     * it when no flush waits), 'now' (it reached its bound), or false.
     * @param {string} name
     * @returns {'idle'|'now'|false}
     */
    checkpointDue(name) {
      const map = maps.get(name);
      if (!map) return false;
      // Both what an open reads (the records) and what the map holds (a copy per page) are bounded.
      const bytes = Math.max(map.bytes, map.pageBytes);
      if (bytes >= checkpointForceBytes) return 'now';
      return bytes >= checkpointAtBytes || map.entries >= CHECKPOINT_AT_ENTRIES ? 'idle' : false;
    },

    /**
     * Log figures of `name` as this writer knows them.
     * @param {string} name
     * @returns {{entries: number, bytes: number}|null}
     */
    logStats(name) {
      const map = maps.get(name);
      return map ? { entries: map.entries, bytes: map.bytes } : null;
    },

    /**
     * One checkpoint step: in one readwrite transaction, if the stored record is still this
     * writer's epoch, writes the page records of the oldest log records (up to
     * CHECKPOINT_STEP_BYTES of distinct pages, possibly part of a commit or of a record; each
     * page's newest logged copy, from the page map: the log is not read back) and deletes the
     * records it finished.
     * Atomic, so a tab closed mid-checkpoint leaves the log as it was; bounded, so a flush
     * waits at most one step behind it.
     * @param {string} name
     * @param {{epoch: number, codec: {decode: Function}}} owner
     * @returns {Promise<boolean>} whether the log still holds entries
     * @throws {SloopError} 'fenced' once another writer claimed the store
     */
    async checkpoint(name, { epoch, codec }) {
      const map = maps.get(name);
      const step = map?.checkpointStep();
      if (!step) return false;
      const db = await writerConnection(name);
      const tx = db.transaction(ALL, 'readwrite', { durability });
      const state = { failure: null };
      // The writes go with the fencing read, and a mismatch aborts them all.
      const meta = tx.objectStore('meta');
      const stored = done(meta.get(RECORD_KEY));
      const pages = tx.objectStore('pages');
      if (step.truncated) pages.delete(IDBKeyRange.lowerBound(Math.ceil(step.fileSize / step.pageSize)));
      // A page record is its own 4 KiB buffer, never a view into a commit's (ownBuffer); the
      // page map keeps that buffer as the page's base (PageMap.checkpointed), not another copy.
      const written = new Map();
      for (const [index, bytes] of step.pages) {
        const own = ownBuffer(bytes);
        written.set(bytes, own);
        pages.put(own, index);
      }
      if (step.upTo) {
        const log = tx.objectStore('log');
        for (const [first, last] of map.finishedRanges(step.upTo)) log.delete(IDBKeyRange.bound(first, last));
        // The floor: every entry up to it is in the page records now (a commit of several
        // records of schema version 3 counts once all of them are).
        const next = map.records.find((r) => !keyAtMost(r.key, step.upTo));
        meta.put(next?.key[0] === step.upTo[0] ? step.upTo[0] - 1 : step.upTo[0], FLOOR_KEY);
        // A deleted record may be the newest: meta keeps its commit record then. Only one of
        // this epoch's can be newer than meta's, which the claim wrote.
        const record = map.recordAt(step.upTo);
        if (record && codec.decode(record).epoch === epoch) meta.put(record, RECORD_KEY);
      }
      stored.then((bytes) => {
        const cur = bytes ? codec.decode(bytes) : null;
        if (cur?.epoch !== epoch) {
          throw new SloopError('fenced', `another writer owns '${name}' (stored epoch ${cur?.epoch}, ours ${epoch})`);
        }
        if (faults.beforeCheckpointCommit) faults.beforeCheckpointCommit(tx, step);
        else commitNow(tx);
      }).catch((e) => abortWith(tx, state, e));
      await finished(tx, () => state.failure);
      map.checkpointed({ ...step, written });
      return map.entries > 0;
    },

    /** Deletes the stored database (the recovery path after 'corrupt'). */
    async destroy(name) {
      maps.delete(name);
      const open = connections.get(name);
      connections.delete(name);
      if (open) (await open.catch(() => null))?.close();
      await done(indexedDB.deleteDatabase(`sloop:${name}`));
    },

    /** Closes the connections this backend opened. */
    async close() {
      for (const p of connections.values()) (await p.catch(() => null))?.close();
      connections.clear();
    },
  };
}
