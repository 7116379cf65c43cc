/**
 * idb-backend.js -- the IndexedDB page store: the only module that knows its schema.
 *
 * One IndexedDB database per Sloop database, named `sloop:<name>`, version 1:
 *   pages   key: page index (number), value: ArrayBuffer of exactly page_size bytes
 *   meta    key 'commit', value: ArrayBuffer, the commit record (wasm/src/vfs_record.c)
 * The commit record says how many pages are valid; it is written in the same readwrite
 * transaction as the pages it describes, so the store moves from one commit to the next all or
 * nothing, and a tab killed mid-flush leaves the previous commit intact.
 *
 * Fencing: `claim` bumps the epoch in the record; every `flush` re-reads the record inside its
 * own transaction and aborts unless epoch and seq are exactly what this writer last wrote.
 * IndexedDB serializes readwrite transactions over the same stores, so check and write are
 * atomic: a zombie writer can never land a flush over a newer one.
 *
 * Durability: transactions use { durability: 'strict' } by default, so `complete` fires only
 * after the browser has flushed to disk (see docs/PERSISTENCE.md for what 'relaxed' risks).
 * @module sloop/storage/idb-backend
 */
import { SloopError } from '../core.js';

const VERSION = 1;
const RECORD_KEY = 'commit';
/** Pages per getAll on open: 1024 x 4 KiB = 4 MiB per request, all in one transaction. */
const LOAD_BATCH = 1024;

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
 * An IndexedDB backend.
 * @param {object} [options]
 * @param {IDBFactory} [options.indexedDB] defaults to globalThis.indexedDB (fake-indexeddb in Node)
 * @param {typeof IDBKeyRange} [options.IDBKeyRange] the key range class belonging to indexedDB
 * @param {'strict'|'relaxed'|'default'} [options.durability]
 * @param {{beforeFlushCommit?: (tx: IDBTransaction, batch: object) => void}} [options.faults]
 *   test hook: runs after a flush's writes are queued; may abort the transaction or throw
 */
export function idbBackend({
  indexedDB = globalThis.indexedDB, IDBKeyRange = globalThis.IDBKeyRange, durability = 'strict', faults = {},
} = {}) {
  if (!indexedDB) throw new SloopError('invalid', 'no IndexedDB in this environment');
  const connections = new Map();
  /** Page reads since the backend was made: getAll requests and the pages they returned. */
  const stats = { pageReads: 0, pagesRead: 0 };
  /** The last page-read transaction per database, reused while still active. */
  const readers = new Map();

  function connect(name) {
    if (!connections.has(name)) {
      const req = indexedDB.open(`sloop:${name}`, VERSION);
      req.onupgradeneeded = () => {
        req.result.createObjectStore('pages');
        req.result.createObjectStore('meta');
      };
      const p = done(req).then((db) => {
        // Another tab deleting the database (recovery) must not wait on this connection.
        db.onversionchange = () => { db.close(); connections.delete(name); };
        return db;
      });
      p.catch(() => connections.delete(name));
      connections.set(name, p);
    }
    return connections.get(name);
  }

  return {
    kind: 'idb',
    vfs: 'sloop-mem',
    stats,

    /**
     * Takes ownership: bumps the epoch and reads the whole image, in one transaction so the
     * snapshot is exactly one commit. Pages are read with getAll over key ranges of
     * LOAD_BATCH pages, all requests issued at once. With `onDemand`, only page 0 is read
     * (the rest is read by readPages as SQLite needs it), so claiming costs the same at any size.
     * @param {string} name
     * @param {{decode: Function, encode: Function}} codec the C record codec
     * @param {{onDemand?: boolean}} [options]
     * @returns {Promise<{epoch: number, seq: number, pageSize: number, fileSize: number, record: ArrayBuffer|null, pages: ArrayBuffer[]}>}
     */
    async claim(name, codec, { onDemand = false } = {}) {
      const db = await connect(name);
      const tx = db.transaction(['pages', 'meta'], 'readwrite', { durability });
      const meta = tx.objectStore('meta');
      const out = { pages: [] };
      const state = { failure: null };
      const read = done(meta.get(RECORD_KEY)).then((stored) => {
        const prev = stored ? codec.decode(stored) : { epoch: 0, seq: 0, pageSize: 4096, pageCount: 0, fileSize: 0 };
        Object.assign(out, prev, { epoch: prev.epoch + 1 });
        out.record = codec.encode(out);
        meta.put(out.record, RECORD_KEY);
        const store = tx.objectStore('pages');
        const reads = [];
        const count = onDemand ? Math.min(prev.pageCount, 1) : prev.pageCount;
        for (let first = 0; first < count; first += LOAD_BATCH) {
          const last = Math.min(first + LOAD_BATCH, count) - 1;
          reads.push(done(store.getAll(IDBKeyRange.bound(first, last))));
        }
        return Promise.all(reads).then((chunks) => {
          out.pages = chunks.flat();
          stats.pageReads += reads.length;
          stats.pagesRead += out.pages.length;
          if (out.pages.length !== count) {
            throw new SloopError('corrupt', `the store holds ${out.pages.length} of ${count} pages read; recover from the server`);
          }
        });
      }).catch((e) => abortWith(tx, state, e));
      await finished(tx, () => state.failure);
      await read;
      return out;
    },

    /**
     * Reads pages first..first+n-1 in one read-only transaction (one getAll, plus the keys, so
     * a page the store lacks is an undefined slot rather than a shifted one), with the commit
     * record: pages of another writer's epoch would mix two databases, so they are refused.
     * @param {string} name
     * @param {number} first
     * @param {number} n
     * @param {{epoch: number, codec: {decode: Function}}} owner the reader's epoch and record codec
     * @returns {Promise<Array<ArrayBuffer|undefined>>}
     * @throws {SloopError} 'fenced' once another writer claimed the store
     */
    async readPages(name, first, n, { epoch, codec }) {
      const db = await connect(name);
      const range = IDBKeyRange.bound(first, first + n - 1);
      // The VFS resumes in a microtask of the previous read's success event, while that read's
      // transaction is still active: the next read joins it instead of paying for a new one.
      // A transaction that is no longer active throws, and a new one starts.
      let requests = null;
      const last = readers.get(name);
      if (last?.db === db) {
        try {
          const store = last.tx.objectStore('pages');
          requests = [store.getAllKeys(range), store.getAll(range), last.tx.objectStore('meta').get(RECORD_KEY)];
        } catch { /* inactive or finished */ }
      }
      if (!requests) {
        const tx = db.transaction(['pages', 'meta'], 'readonly');
        readers.set(name, { db, tx });
        const store = tx.objectStore('pages');
        requests = [store.getAllKeys(range), store.getAll(range), tx.objectStore('meta').get(RECORD_KEY)];
      }
      const [keys, values, record] = await Promise.all(requests.map(done));
      const stored = record ? codec.decode(record) : null;
      if (stored?.epoch !== epoch) {
        throw new SloopError('fenced', `another writer owns '${name}' (stored epoch ${stored?.epoch}, ours ${epoch})`);
      }
      stats.pageReads++;
      stats.pagesRead += values.length;
      const out = new Array(n);
      keys.forEach((key, k) => { out[key - first] = values[k]; });
      return out;
    },

    /**
     * Writes one batch atomically, if and only if the stored record is still (epoch, prevSeq).
     * @param {string} name
     * @param {object} batch from the flush scheduler, plus epoch, seq, prevSeq and record
     * @param {{decode: Function}} codec
     */
    async flush(name, batch, codec) {
      const db = await connect(name);
      const tx = db.transaction(['pages', 'meta'], 'readwrite', { durability });
      const meta = tx.objectStore('meta');
      const state = { failure: null };
      done(meta.get(RECORD_KEY)).then((stored) => {
        const cur = stored ? codec.decode(stored) : null;
        if (!cur || cur.epoch !== batch.epoch || cur.seq !== batch.prevSeq) {
          throw new SloopError('fenced', `another writer owns '${name}' (stored epoch ${cur?.epoch}, ours ${batch.epoch})`);
        }
        const pages = tx.objectStore('pages');
        for (const [index, bytes] of batch.pages) pages.put(bytes, index);
        if (batch.truncated) pages.delete(IDBKeyRange.lowerBound(Math.ceil(batch.fileSize / batch.pageSize)));
        meta.put(batch.record, RECORD_KEY);
        faults.beforeFlushCommit?.(tx, batch);
      }).catch((e) => abortWith(tx, state, e));
      await finished(tx, () => state.failure);
    },

    /** Deletes the stored database (the recovery path after 'corrupt'). */
    async destroy(name) {
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
