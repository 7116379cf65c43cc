/**
 * core.js -- the thin binding over the WebAssembly core.
 *
 * Loads the Emscripten module (built for web and worker; in Node the .wasm bytes are read from
 * disk and handed over as `wasmBinary`, since the web build cannot fetch file URLs) and wraps
 * the C API: strings go in as (pointer, length), results come back as JS values, and C buffers
 * are freed in `finally`. Later layers build the public API on this; it is not that API.
 * @module sloop/core
 */
import createSloopModule from '../build/wasm/sloop.js';

const wasmUrl = new URL('../build/wasm/sloop.wasm', import.meta.url);
const isNode = typeof process === 'object' && process.versions?.node != null;

/** Error thrown by every Sloop call, with a stable string `code` (see sloop.h SLOOP_ERRORS). */
export class SloopError extends Error {
  /**
   * @param {string} code stable identifier, e.g. 'json', 'immutable', 'drift'
   * @param {string} message human-readable detail
   */
  constructor(code, message) {
    super(message);
    this.name = 'SloopError';
    this.code = code;
  }
}

let modulePromise = null;

/**
 * Loads the WebAssembly module once per realm.
 * @returns {Promise<object>} the Emscripten module
 */
export function loadModule() {
  if (!modulePromise) {
    modulePromise = (async () => {
      const opts = {};
      if (isNode) {
        const { readFile } = await import('node:fs/promises');
        opts.wasmBinary = await readFile(wasmUrl);
      } else {
        opts.locateFile = () => wasmUrl.href;
      }
      return createSloopModule(opts);
    })();
  }
  return modulePromise;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Heap scratch for strings and out-parameters of one call; freed all at once. */
class CallFrame {
  constructor(mod) {
    this.mod = mod;
    this.ptrs = [];
  }
  alloc(n) {
    const p = this.mod._malloc(Math.max(n, 1));
    if (!p) throw new SloopError('nomem', 'WebAssembly heap exhausted');
    this.ptrs.push(p);
    return p;
  }
  /** Copies a string into the heap; returns [ptr, byteLength]. */
  str(s) {
    const bytes = encoder.encode(s);
    const p = this.alloc(bytes.length);
    this.mod.HEAPU8.set(bytes, p);
    return [p, bytes.length];
  }
  /** Reserves an out-pointer and an out-length (two 32-bit slots). */
  out() {
    const p = this.alloc(8);
    this.mod.HEAPU32[p >> 2] = 0;
    this.mod.HEAPU32[(p >> 2) + 1] = 0;
    return p;
  }
  /** Reads and frees a caller-owned C string returned through out(). */
  takeString(outp) {
    const ptr = this.mod.HEAPU32[outp >> 2];
    const len = this.mod.HEAPU32[(outp >> 2) + 1];
    if (!ptr) return null;
    try {
      return decoder.decode(this.mod.HEAPU8.slice(ptr, ptr + len));
    } finally {
      this.mod._sloop_free(ptr);
    }
  }
  free() {
    for (const p of this.ptrs) this.mod._free(p);
    this.ptrs.length = 0;
  }
}

/** An open core database handle. */
export class CoreDb {
  /**
   * Opens a database in the module's memory file system, or on the SQLite VFS `vfs` (the
   * persistent ones are opened through js/persist.js, which prepares them first).
   * @param {object} mod the loaded module
   * @param {{path?: string, role?: 'client'|'server', vfs?: string|null}} [options]
   */
  static open(mod, { path = ':memory:', role = 'client', vfs = null } = {}) {
    const f = new CallFrame(mod);
    try {
      const outp = f.out();
      const [pathPtr] = f.str(path + '\0');
      const vfsPtr = vfs ? f.str(vfs + '\0')[0] : 0;
      const rc = mod._sloop_open(pathPtr, vfsPtr, role === 'server' ? 1 : 0, 0, outp);
      if (rc !== 0) throw new SloopError(mod.UTF8ToString(mod._sloop_errcode(rc)), mod.UTF8ToString(mod._sloop_errstr(rc)));
      return new CoreDb(mod, mod.HEAPU32[outp >> 2]);
    } finally {
      f.free();
    }
  }

  constructor(mod, handle) {
    this.mod = mod;
    this.handle = handle;
  }

  /** Throws the handle's last error for a non-zero return code. */
  check(rc) {
    if (rc === 0) return;
    const m = this.mod;
    throw new SloopError(m.UTF8ToString(m._sloop_errcode(rc)), m.UTF8ToString(m._sloop_errmsg(this.handle)));
  }

  /** Runs `fn(frame)` expecting a return code, then returns the string from out-pointer `outp`. */
  callForString(fn) {
    const f = new CallFrame(this.mod);
    try {
      const outp = f.out();
      this.check(fn(f, outp));
      return f.takeString(outp);
    } finally {
      f.free();
    }
  }

  /** Creates or replaces a document. */
  put(coll, id, doc) {
    const f = new CallFrame(this.mod);
    try {
      this.check(this.mod._sloop_put(this.handle, ...f.str(coll), ...f.str(id), ...f.str(JSON.stringify(doc))));
    } finally {
      f.free();
    }
  }

  /** Reads a document, or undefined when it does not exist. */
  get(coll, id) {
    try {
      return JSON.parse(this.callForString((f, outp) =>
        this.mod._sloop_get(this.handle, ...f.str(coll), ...f.str(id), outp, outp + 4)));
    } catch (e) {
      if (e.code === 'notfound') return undefined;
      throw e;
    }
  }

  /** Full-text search (FTS5 MATCH syntax); best match first. */
  search(coll, query, limit = 50) {
    return JSON.parse(this.callForString((f, outp) =>
      this.mod._sloop_search(this.handle, ...f.str(coll), ...f.str(query), limit, outp, outp + 4)));
  }

  /**
   * Runs raw SQL (one or more statements); returns the rows of the last statement that has
   * result columns, each an array of values. The escape hatch below the document API.
   * @param {string} sql
   * @returns {Array<Array<number|string|null>>}
   */
  query(sql) {
    return JSON.parse(this.callForString((f, outp) =>
      this.mod._sloop_query(this.handle, ...f.str(sql), outp, outp + 4)));
  }

  close() {
    if (this.handle) this.check(this.mod._sloop_close(this.handle));
    this.handle = 0;
  }
}
