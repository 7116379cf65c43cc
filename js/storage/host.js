/**
 * host.js -- the JS end of the C VFS seam: what wasm/src/vfs.js forwards to.
 *
 * One Host per loaded module. It turns the C commit hook's (index, pointer) arrays into a Map
 * of page copies and hands them to the store registered under that id; and it routes
 * "sloop-file" calls to the file I/O a file backend installs. It also wraps the C commit
 * record codec, so the record format has one implementation (wasm/src/vfs_record.c).
 *
 * Page bytes leave the heap with slice(), never subarray(): a view would make IndexedDB
 * structured-clone the whole heap buffer, and the heap is rewritten by the next commit.
 * @module sloop/storage/host
 */
import { SloopError } from '../core.js';

const CORRUPT = 12; // SLOOP_CORRUPT

/** Size of an encoded commit record (SLOOP_VFS_RECORD_SIZE). */
export const RECORD_SIZE = 48;

/**
 * A commit as the C side reports it.
 * @typedef {object} Commit
 * @property {number} pageSize storage page size in bytes
 * @property {number} fileSize database file size after the commit
 * @property {boolean} truncated the file shrank since the previous commit
 * @property {Map<number, ArrayBuffer>} pages changed pages, by index, copied out of the heap
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
   */
  registerStore(onCommit) {
    const id = this.nextStore++;
    this.stores.set(id, onCommit);
    return id;
  }

  unregisterStore(id) {
    this.stores.delete(id);
  }

  commit(store, pageSize, fileSize, truncated, n, indexPtr, pagePtr) {
    const onCommit = this.stores.get(store);
    if (!onCommit) return 1;
    const { HEAPU8, HEAPU32 } = this.mod;
    const pages = new Map();
    for (let k = 0; k < n; k++) {
      const ptr = HEAPU32[(pagePtr >> 2) + k];
      pages.set(HEAPU32[(indexPtr >> 2) + k], HEAPU8.slice(ptr, ptr + pageSize).buffer);
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
  const out = mod._malloc(RECORD_SIZE);
  try {
    if (mod._sloop_vfs_record_make(epoch, seq, pageSize, fileSize, pagesWritten, out) !== 0) {
      throw new SloopError('invalid', `cannot encode a commit record for ${fileSize} bytes in ${pageSize}-byte pages`);
    }
    return mod.HEAPU8.slice(out, out + RECORD_SIZE).buffer;
  } finally {
    mod._free(out);
  }
}

/**
 * Loads a stored image into the module as the "sloop-mem" file `key`.
 * @param {object} mod
 * @param {string} key the VFS file name the database will be opened with
 * @param {number} store host store id receiving its commits
 * @param {ArrayBuffer|null} record last durable commit record, null for a new database
 * @param {ArrayBuffer[]} pages page i at index i, each `pageSize` bytes
 * @param {number} pageSize the record's page size
 * @throws {SloopError} 'corrupt' when pages and record disagree with the SQLite header
 */
export function loadImage(mod, key, store, record, pages, pageSize) {
  const keyPtr = toHeap(mod, new TextEncoder().encode(key + '\0'));
  const recPtr = record ? toHeap(mod, record) : 0;
  try {
    let rc = mod._sloop_vfs_image_begin(keyPtr, store, recPtr, record ? record.byteLength : 0);
    for (let i = 0; rc === 0 && i < pages.length; i++) {
      const dst = mod._sloop_vfs_image_page(keyPtr, i);
      if (!dst || pages[i].byteLength !== pageSize) rc = CORRUPT;
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
 * Frees the image `key` once no connection has it open.
 * @param {object} mod
 * @param {string} key
 */
export function dropImage(mod, key) {
  const keyPtr = toHeap(mod, new TextEncoder().encode(key + '\0'));
  try {
    mod._sloop_vfs_image_drop(keyPtr);
  } finally {
    mod._free(keyPtr);
  }
}
