/**
 * host.js -- the JS end of the C VFS seam: what wasm/src/vfs.js forwards to.
 *
 * One Host per loaded module. It turns the C commit hook's (index, pointer) arrays into a Map
 * of page copies and hands them to the store registered under that id; and it routes
 * "sloop-file" calls to the file I/O a file backend installs. It also wraps the C commit
 * record codec, so the record format has one implementation (wasm/src/vfs_record.c).
 *
 * Page bytes leave the heap as copies, never as subarray()s of it: a view would make IndexedDB
 * structured-clone the whole heap buffer, and the heap is rewritten by the next commit. A small
 * commit's pages are each sliced into an ArrayBuffer of their own; a large one's are copied into
 * a few large buffers laid out as the store asks (`layout`, page-log.js COMMIT_LAYOUT) and handed
 * on as views into them: one allocation per page is what a bulk commit's copy cost.
 * @module sloop/storage/host
 */
import { SloopError } from '../core.js';

/**
 * A commit as the C side reports it.
 * @typedef {object} Commit
 * @property {number} pageSize storage page size in bytes
 * @property {number} fileSize database file size after the commit
 * @property {boolean} truncated the file shrank since the previous commit
 * @property {Map<number, ArrayBuffer|Uint8Array>} pages changed pages, by index, copied out of
 *   the heap: ArrayBuffers, or for a large commit Uint8Array views into shared buffers (never
 *   hand such a view to IndexedDB: it would clone the whole buffer)
 */

/**
 * How a large commit's pages are copied out (page-log.js COMMIT_LAYOUT).
 * @typedef {object} CommitLayout
 * @property {number} pagesPerBuffer pages per buffer, in index order
 * @property {number} gapBytes bytes left free before each page
 * @property {number} minPages commits of fewer pages get an ArrayBuffer per page
 */

class Host {
  constructor(mod) {
    this.mod = mod;
    this.stores = new Map();
    this.nextStore = 1;
    this.fileIo = null;
  }

  /**
   * Registers a commit listener; returns the store id to bind an image to.
   * @param {(commit: Commit) => boolean} onCommit returns false to refuse the commit
   * @param {(first: number, n: number) => Promise<Array<ArrayBuffer|Uint8Array|undefined>>} [fetchPages]
   *   on-demand images: pages first..first+n-1 as of the last accepted commit (undefined for a
   *   page the store lacks)
   * @param {CommitLayout|null} [layout] how to copy out large commits; null: a buffer per page
   */
  registerStore(onCommit, fetchPages = null, layout = null) {
    const id = this.nextStore++;
    this.stores.set(id, { onCommit, fetchPages, layout });
    return id;
  }

  unregisterStore(id) {
    this.stores.delete(id);
  }

  /**
   * The VFS's page fetch for an on-demand image (wasm/src/vfs.js sloop_js_fetch). Returns a
   * Promise, which suspends the calling WebAssembly stack (the import is wrapped in
   * WebAssembly.Suspending, js/jspi.js) until IndexedDB answered; then the pages are copied
   * into the heap buffers the C side allocated. Resolves to 0, 1 (read failed) or 2 (a page
   * is missing: corrupt).
   */
  async fetch(store, first, n, pagePtr) {
    const fetchPages = this.stores.get(store)?.fetchPages;
    if (!fetchPages) return 1;
    let pages;
    try {
      pages = await fetchPages(first, n);
    } catch {
      return 1;
    }
    // Views taken after the wait: the heap may have grown meanwhile.
    const { HEAPU8, HEAPU32 } = this.mod;
    for (let k = 0; k < n; k++) {
      const bytes = pages[k];
      if (!bytes) return 2;
      HEAPU8.set(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes), HEAPU32[(pagePtr >> 2) + k]);
    }
    return 0;
  }

  commit(store, pageSize, fileSize, truncated, n, indexPtr, pagePtr) {
    const { onCommit, layout } = this.stores.get(store) ?? {};
    if (!onCommit) return 1;
    const { HEAPU8, HEAPU32 } = this.mod;
    const index = HEAPU32.subarray(indexPtr >> 2, (indexPtr >> 2) + n);
    const ptrs = HEAPU32.subarray(pagePtr >> 2, (pagePtr >> 2) + n);
    let pages;
    if (layout && n >= layout.minPages) pages = copyLaidOut(HEAPU8, index, ptrs, pageSize, layout);
    else {
      pages = new Map();
      for (let k = 0; k < n; k++) pages.set(index[k], HEAPU8.slice(ptrs[k], ptrs[k] + pageSize).buffer);
    }
    try {
      return onCommit({ pageSize, fileSize, truncated: truncated !== 0, pages }) === false ? 1 : 0;
    } catch {
      return 1; // an exception must not unwind through SQLite's C frames
    }
  }

  // "sloop-file" hooks: -1 when no file backend is installed, which SQLite sees as CANTOPEN.
  open(path, flags) { return this.fileIo ? this.fileIo.open(path, flags) : -1; }
  read(h, ptr, n, off) { return this.fileIo.read(h, this.mod.HEAPU8, ptr, n, off); }
  write(h, ptr, n, off) { return this.fileIo.write(h, this.mod.HEAPU8, ptr, n, off); }
  truncate(h, size) { return this.fileIo.truncate(h, size); }
  sync(h, dir) { return this.fileIo.sync(h, dir !== 0); }
  size(h) { return this.fileIo.size(h); }
  close(h) { return this.fileIo.close(h); }
  remove(path, dirSync) { return this.fileIo ? this.fileIo.remove(path, dirSync !== 0) : -1; }
  exists(path) { return this.fileIo ? this.fileIo.exists(path) : 0; }
}

/**
 * Copies pages out of the heap as `layout` says: in index order, `pagesPerBuffer` to an
 * ArrayBuffer, `gapBytes` free before each page. Cost: one allocation per buffer, one copy.
 * @param {Uint8Array} heap
 * @param {Uint32Array} index page indexes (the VFS's dirty order)
 * @param {Uint32Array} ptrs each page's address in the heap
 * @param {number} pageSize
 * @param {CommitLayout} layout
 * @returns {Map<number, Uint8Array>} page -> a view of its copy
 */
function copyLaidOut(heap, index, ptrs, pageSize, { pagesPerBuffer, gapBytes }) {
  const order = Array.from(index.keys()).sort((a, b) => index[a] - index[b]);
  const stride = gapBytes + pageSize;
  const pages = new Map();
  for (let from = 0; from < order.length; from += pagesPerBuffer) {
    const count = Math.min(pagesPerBuffer, order.length - from);
    const buffer = new ArrayBuffer(count * stride);
    for (let k = 0; k < count; k++) {
      const at = order[from + k];
      const page = new Uint8Array(buffer, k * stride + gapBytes, pageSize);
      page.set(heap.subarray(ptrs[at], ptrs[at] + pageSize));
      pages.set(index[at], page);
    }
  }
  return pages;
}

/**
 * The module's Host, created (and the VFSes registered with SQLite) on first use.
 * @param {object} mod the loaded module
 * @returns {Host}
 */
export function hostOf(mod) {
  if (!mod.sloopHost) {
    mod.sloopHost = new Host(mod);
    const rc = mod._sloop_vfs_init_js();
    if (rc !== 0) throw new SloopError('storage', 'could not register the Sloop VFSes');
  }
  return mod.sloopHost;
}

/** Copies an image's file name into the heap as a C string; the caller frees it. */
function keyToHeap(mod, key) {
  return toHeap(mod, new TextEncoder().encode(key + '\0'));
}

/** Copies bytes into a fresh heap block; the caller frees it. */
function toHeap(mod, bytes) {
  const ptr = mod._malloc(Math.max(bytes.byteLength, 1));
  if (!ptr) throw new SloopError('nomem', 'WebAssembly heap exhausted');
  mod.HEAPU8.set(new Uint8Array(bytes), ptr);
  return ptr;
}

/**
 * Decodes and validates a commit record with the C codec.
 * @param {object} mod
 * @param {ArrayBuffer} bytes
 * @returns {{epoch: number, seq: number, pageSize: number, pageCount: number, fileSize: number}}
 * @throws {SloopError} code 'corrupt' when the record does not validate
 */
export function decodeRecord(mod, bytes) {
  const buf = toHeap(mod, bytes);
  const out = mod._malloc(5 * 8);
  try {
    if (mod._sloop_vfs_record_fields(buf, bytes.byteLength, out) !== 0) {
      throw new SloopError('corrupt', 'the stored commit record is damaged; recover from the server');
    }
    const [epoch, seq, pageSize, pageCount, fileSize] = new Float64Array(mod.HEAPU8.buffer, out, 5);
    return { epoch, seq, pageSize, pageCount, fileSize };
  } finally {
    mod._free(buf);
    mod._free(out);
  }
}

/**
 * Encodes a commit record with the C codec.
 * @param {object} mod
 * @param {{epoch: number, seq: number, pageSize: number, fileSize: number, pagesWritten?: number}} rec
 * @returns {ArrayBuffer}
 */
export function encodeRecord(mod, { epoch, seq, pageSize, fileSize, pagesWritten = 0 }) {
  const size = mod.sloop.limits.recordBytes;
  const out = mod._malloc(size);
  try {
    if (mod._sloop_vfs_record_make(epoch, seq, pageSize, fileSize, pagesWritten, out) !== 0) {
      throw new SloopError('invalid', `cannot encode a commit record for ${fileSize} bytes in ${pageSize}-byte pages`);
    }
    return mod.HEAPU8.slice(out, out + size).buffer;
  } finally {
    mod._free(out);
  }
}

/**
 * Loads a stored image into the module as the "sloop-mem" file `key`: every page (the whole
 * image), or, with `cachePages`, on demand: then `pages` holds page 0 alone (the header check
 * needs it; none for an empty database) and the VFS fetches every other page through the
 * store's `fetchPages` when SQLite first reads it.
 * @param {object} mod
 * @param {string} key the VFS file name the database will be opened with
 * @param {number} store host store id receiving its commits (and, on demand, serving fetches)
 * @param {ArrayBuffer|null} record last durable commit record, null for a new database
 * @param {ArrayBuffer[]} pages page i at index i, each `pageSize` bytes
 * @param {number} pageSize the record's page size
 * @param {{cachePages?: number}} [options] on demand, with at most this many clean pages resident
 * @throws {SloopError} 'corrupt' when pages and record disagree with the SQLite header
 */
export function loadImage(mod, key, store, record, pages, pageSize, { cachePages = 0 } = {}) {
  const keyPtr = keyToHeap(mod, key);
  const recPtr = record ? toHeap(mod, record) : 0;
  try {
    let rc = mod._sloop_vfs_image_begin(keyPtr, store, recPtr, record ? record.byteLength : 0);
    if (rc === 0 && cachePages) rc = mod._sloop_vfs_image_lazy(keyPtr, cachePages);
    for (let i = 0; rc === 0 && i < pages.length; i++) {
      const dst = mod._sloop_vfs_image_page(keyPtr, i);
      if (!dst || pages[i].byteLength !== pageSize) rc = mod.sloop.codes.corrupt;
      else mod.HEAPU8.set(new Uint8Array(pages[i]), dst);
    }
    rc = rc === 0 ? mod._sloop_vfs_image_end(keyPtr) : (mod._sloop_vfs_image_drop(keyPtr), rc);
    if (rc !== 0) {
      const code = mod.UTF8ToString(mod._sloop_errcode(rc));
      throw new SloopError(code, code === 'corrupt'
        ? 'the stored database does not match its SQLite header; recover from the server'
        : `cannot load the stored database (${code})`);
    }
  } finally {
    mod._free(keyPtr);
    if (recPtr) mod._free(recPtr);
  }
}

/**
 * Page cache figures of the image `key`, or null when there is none.
 * @param {object} mod
 * @param {string} key
 * @returns {{onDemand: boolean, residentPages: number, cachePages: number, dirtyPages: number,
 *   fetches: number, pagesFetched: number, pageCount: number}|null}
 */
export function imageStats(mod, key) {
  const keyPtr = keyToHeap(mod, key);
  const out = mod._malloc(7 * 8);
  try {
    if (mod._sloop_vfs_image_stats(keyPtr, out) !== 0) return null;
    const [lazy, residentPages, cachePages, dirtyPages, fetches, pagesFetched, pageCount] =
      new Float64Array(mod.HEAPU8.buffer, out, 7);
    return { onDemand: lazy === 1, residentPages, cachePages, dirtyPages, fetches, pagesFetched, pageCount };
  } finally {
    mod._free(keyPtr);
    mod._free(out);
  }
}

/**
 * Frees the image `key` once no connection has it open.
 * @param {object} mod
 * @param {string} key
 */
export function dropImage(mod, key) {
  const keyPtr = keyToHeap(mod, key);
  try {
    mod._sloop_vfs_image_drop(keyPtr);
  } finally {
    mod._free(keyPtr);
  }
}
