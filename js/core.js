/**
 * core.js -- the thin binding over the WebAssembly core.
 *
 * Loads an Emscripten module (built for web and worker; in Node the .wasm bytes are read from
 * disk and handed over as `wasmBinary`, since the web build cannot fetch file URLs) and wraps
 * the C API: strings go in as (pointer, length), results come back as JS values, and C buffers
 * are freed in `finally`. Later layers build the public API on this; it is not that API.
 *
 * There are two modules (docs/DESIGN.md, "Two modules"): build/wasm/sloop-client.* for the
 * browser and any client core, build/wasm/sloop-server.* for the sync server, each without the
 * other's code. `loadModule(role)` picks one; the server's loader is imported only when asked
 * for, so a page never fetches it.
 * @module sloop/core
 */
import { compileWasm, hasJspi, suspendingInstantiate } from './jspi.js';
import { SloopError } from './errors.js';

// The API's one error class (js/errors.js), exported here too: the core's callers import it with the core.
export { SloopError };

const isNode = typeof process === 'object' && process.versions?.node != null;

/** Where each role's module lives; `loader` resolves to its Emscripten factory. */
const MODULES = {
  client: {
    // Imported when the module is loaded, not with this file: a page then requests the loader
    // while the .wasm downloads and compiles, instead of one import level before it
    // (docs/PERSISTENCE.md "Cold start").
    loader: async () => (await import('../build/wasm/sloop-client.js')).default,
    // Its VFS fetches pages on demand where the engine has JSPI (js/persist.js); the server's
    // module has no such import, so it is instantiated the plain way.
    jspi: true,
    wasm: new URL('../build/wasm/sloop-client.wasm', import.meta.url),
  },
  server: {
    // Not a literal specifier: bundlers of the client leave the server's loader out.
    loader: async () => (await import(MODULES.server.js.href)).default,
    js: new URL('../build/wasm/sloop-server.js', import.meta.url),
    wasm: new URL('../build/wasm/sloop-server.wasm', import.meta.url),
  },
};

const modulePromises = new Map();

/**
 * Whether a role's module, once loaded here, can suspend on a Promise (JS Promise Integration:
 * `mod.sloopJspi`), so that its VFS can fetch pages on demand. Known before the module loads.
 * @param {'client'|'server'} [role='client']
 * @returns {boolean}
 */
export function moduleSuspends(role = 'client') {
  return MODULES[role]?.jspi === true && hasJspi();
}

/**
 * Loads a role's WebAssembly module once per realm.
 * @param {'client'|'server'} [role='client']
 * @returns {Promise<object>} the Emscripten module, prepared by adoptModule
 */
export function loadModule(role = 'client') {
  const where = MODULES[role];
  if (!where) return Promise.reject(new SloopError('invalid', `no module for role ${role}`));
  if (!modulePromises.has(role)) {
    modulePromises.set(role, (async () => {
      const jspi = moduleSuspends(role);
      // Started before the loader is awaited (see MODULES.client); a failure surfaces through
      // the instantiateWasm hook below.
      const compiled = jspi && !isNode ? compileWasm(where.wasm) : null;
      compiled?.catch(() => {});
      const opts = {};
      if (isNode) {
        const { readFile } = await import('node:fs/promises');
        opts.wasmBinary = await readFile(where.wasm);
      } else {
        opts.locateFile = () => where.wasm.href;
      }
      // With JSPI the VFS's page fetch may suspend: the on-demand page store (js/persist.js).
      let failed = null;
      const failure = new Promise((_, reject) => { failed = reject; });
      if (jspi) Object.assign(opts, { sloopJspi: true, instantiateWasm: suspendingInstantiate(compiled ?? opts.wasmBinary ?? where.wasm, failed) });
      const factory = await where.loader();
      return adoptModule(await Promise.race([factory(opts), failure]), role);
    })());
  }
  return modulePromises.get(role);
}

/**
 * Prepares a module for CoreDb: tags it with its role and reads the core's constants once
 * (sloop_constants: return codes, sync state names, limits), so nothing here copies them.
 * loadModule does this; call it on a module created some other way (a benchmark's build).
 * @param {object} mod an Emscripten module of js/core.js's C API
 * @param {'client'|'server'} role the role it was built for
 * @returns {object} mod, with `mod.sloop = {role, codes, states, stateNames, limits}`
 */
export function adoptModule(mod, role) {
  const { codes, states, limits } = JSON.parse(mod.UTF8ToString(mod._sloop_constants()));
  const stateNames = [];
  for (const [name, value] of Object.entries(states)) if (value >= 0) stateNames[value] = name;
  mod.sloop = Object.freeze({ role, codes, states, stateNames, limits });
  return mod;
}

const encoder = new TextEncoder();
/** Strings up to this many UTF-16 units are encoded straight into the heap (CallFrame.str). */
const ENCODE_INTO_MAX = 1 << 16;

/**
 * Heap bytes to try a long string's UTF-8 in: its length and an eighth. JSON answers are
 * mostly ASCII (one byte a unit), so this almost always holds them; 3 bytes a unit, the
 * bound, would take three times the heap a pulled page needs.
 */
const longStringBytes = (s) => s.length + (s.length >> 3) + 16;

/**
 * Encodes a long string straight into a block `alloc(n)` gives, when its UTF-8 fits in
 * longStringBytes (no temporary array: encoding a 400 KB pulled page first and copying it cost
 * about 2 ms of the page's main thread each in Chromium); else the exact bytes are encoded
 * first and copied into a second block. `alloc` owns both blocks.
 * @returns {[number, number]} [ptr, byteLength]
 */
function encodeLong(mod, s, alloc) {
  const max = longStringBytes(s);
  const p = alloc(max);
  const { read, written } = encoder.encodeInto(s, mod.HEAPU8.subarray(p, p + max));
  if (read === s.length) return [p, written];
  const bytes = encoder.encode(s);
  const q = alloc(bytes.length);
  mod.HEAPU8.set(bytes, q);
  return [q, bytes.length];
}
const decoder = new TextDecoder();
/**
 * Bytes of heap a module keeps for its calls' arguments (CallFrame): a put's or a one-operation
 * push's strings fit, and then cost no malloc and free each, which show in a profile of a
 * call per write. Allocated on first use and kept for the module's life.
 */
const SCRATCH_BYTES = 16 << 10;

/**
 * Heap scratch for strings and out-parameters of one call; freed all at once. Its blocks come
 * from the module's scratch while that is free, else from malloc: a call made while another
 * frame holds the scratch (a merge handler's call inside a write, an awaited call of
 * js/core-async.js) takes its own blocks.
 */
export class CallFrame {
  constructor(mod) {
    this.mod = mod;
    this.ptrs = null;
    this.out = 0;
    this.at = 0;
    this.end = 0;
    const scratch = mod.sloopScratch ??= { ptr: 0, busy: false };
    if (!scratch.busy) {
      if (!scratch.ptr) scratch.ptr = mod._malloc(SCRATCH_BYTES);
      if (scratch.ptr) {
        scratch.busy = true;
        this.at = scratch.ptr;
        this.end = scratch.ptr + SCRATCH_BYTES;
      }
    }
  }
  alloc(n) {
    const at = (this.at + 7) & ~7;
    if (at + n <= this.end) {
      this.at = at + n;
      return at;
    }
    const p = this.mod._malloc(Math.max(n, 1));
    if (!p) throw new SloopError('nomem', 'WebAssembly heap exhausted');
    (this.ptrs ??= []).push(p);
    return p;
  }
  /**
   * Copies a string into the heap; returns [ptr, byteLength]. UTF-8 takes at most 3 bytes per
   * UTF-16 unit, so a string up to ENCODE_INTO_MAX units is encoded straight into a block of
   * that bound (one copy, no temporary array; in the scratch, only the bytes written stay
   * taken); a longer one goes through encodeLong, which takes little more heap than it needs.
   */
  str(s) {
    if (s.length > ENCODE_INTO_MAX) {
      const [p, written] = encodeLong(this.mod, s, (n) => this.alloc(n));
      if (this.at === p + longStringBytes(s)) this.at = p + written;
      return [p, written];
    }
    const max = s.length * 3;
    const p = this.alloc(max);
    const { written } = encoder.encodeInto(s, this.mod.HEAPU8.subarray(p, p + max));
    if (this.at === p + max) this.at = p + written;
    return [p, written];
  }
  /** Frees `ptr` (a malloc'd block handed over by its owner) with the frame's other blocks. */
  adopt(ptr) {
    (this.ptrs ??= []).push(ptr);
  }
  /** An out-pointer and an out-length (two 32-bit slots, zeroed), reserved on first use. */
  get outp() {
    if (!this.out) {
      this.out = this.alloc(8);
      this.mod.HEAPU32[this.out >> 2] = 0;
      this.mod.HEAPU32[(this.out >> 2) + 1] = 0;
    }
    return this.out;
  }
  /**
   * Copies rows of [id, document JSON text] into the heap as sloop_put_many's frames (a u32
   * little-endian length before each string); returns [ptr, byteLength].
   */
  frames(rows) {
    const parts = [];
    let total = 0;
    for (const [id, json] of rows) {
      for (const s of [id, json]) {
        const bytes = encoder.encode(s);
        parts.push(bytes);
        total += 4 + bytes.length;
      }
    }
    const p = this.alloc(total);
    const heap = this.mod.HEAPU8;
    let at = p;
    for (const bytes of parts) {
      const n = bytes.length;
      heap[at] = n & 0xff; heap[at + 1] = (n >>> 8) & 0xff; heap[at + 2] = (n >>> 16) & 0xff; heap[at + 3] = n >>> 24;
      heap.set(bytes, at + 4);
      at += 4 + n;
    }
    return [p, total];
  }
  /** Reads and frees a caller-owned C string returned through out(). */
  takeString(outp) {
    const ptr = this.mod.HEAPU32[outp >> 2];
    const len = this.mod.HEAPU32[(outp >> 2) + 1];
    if (!ptr) return null;
    try {
      return decoder.decode(this.mod.HEAPU8.subarray(ptr, ptr + len));
    } finally {
      this.mod._sloop_free(ptr);
    }
  }
  free() {
    if (this.ptrs) {
      for (const p of this.ptrs) this.mod._free(p);
      this.ptrs = null;
    }
    if (this.end) {
      this.mod.sloopScratch.busy = false;
      this.at = this.end = 0;
    }
    this.out = 0;
  }
}

// An escaped U+0000 not itself escaped: `"\u0000"` but not `"\\u0000"` (a backslash, then "u0000").
const ESCAPED_NUL = /(?<!\\)(?:\\\\)*\\u0000/;

/**
 * Serialises a value for the core, refusing U+0000 anywhere in it: cJSON's strings are C
 * strings, so a field `"title\u0000x"` would reach the core as `title`, another name than
 * the caller's.
 */
export function jsonText(value) {
  const text = JSON.stringify(value);
  // The plain search first: it costs less than the pattern, which only text holding it needs.
  if (text.includes('\\u0000') && ESCAPED_NUL.test(text)) throw new SloopError('invalid', 'names and strings may not hold U+0000');
  return text;
}

/** Splits a non-negative integer into the (low, high) 32-bit halves a legalized i64 takes. */
export function i64(n) {
  return [n >>> 0, Math.floor(n / 0x100000000)];
}

/**
 * An open core database handle: the C API one to one, with JSON values instead of text.
 * Every method is synchronous; persistence and networking live in the layers above.
 *
 * Each method describes its call (the export, how its arguments go in, how its result comes
 * out) and hands it to `invoke`, the one place a call crosses into the module; `after` applies
 * what follows the call. js/core-async.js overrides those two to queue and await the call, so
 * the two bindings share every method.
 */
export class CoreDb {
  /**
   * Opens a database in the module's memory file system, or on the SQLite VFS `vfs` (the
   * persistent ones are opened through js/persist.js, which prepares them first).
   * @param {object} mod the loaded module
   * @param {{path?: string, role?: 'client'|'server', vfs?: string, schema?: object}} [options]
   */
  static open(mod, options = {}) {
    const { handle, schema } = CoreDb.openCall(mod, options, (open, ...args) => open(...args));
    const db = new CoreDb(mod, handle);
    if (schema) db.setSchema(schema);
    return db;
  }

  /**
   * Opens a handle: checks the module's role, then calls `run(sloop_open, ...args)` and reads
   * the handle it left; `run` may return a Promise (AsyncCoreDb.open), and so does this then.
   * @returns {{handle: number, schema: object|null}|Promise<{handle: number, schema: object|null}>}
   */
  static openCall(mod, { path = ':memory:', role = 'client', vfs = null, schema = null }, run) {
    if (mod.sloop?.role !== role) {
      throw new SloopError('invalid', `a ${role} database needs the ${role} module, loadModule('${role}')`);
    }
    const f = new CallFrame(mod);
    const done = (rc) => {
      if (rc !== 0) throw new SloopError(mod.UTF8ToString(mod._sloop_errcode(rc)), `open ${path}: ${mod.UTF8ToString(mod._sloop_errstr(rc))}`);
      return { handle: mod.HEAPU32[f.outp >> 2], schema };
    };
    let rc;
    try {
      rc = run(mod._sloop_open, f.str(path + '\0')[0], vfs ? f.str(vfs + '\0')[0] : 0, role === 'server' ? 1 : 0, 0, f.outp);
    } catch (e) {
      f.free();
      throw e;
    }
    if (!(rc instanceof Promise)) {
      try {
        return done(rc);
      } finally {
        f.free();
      }
    }
    return rc.then(done).finally(() => f.free());
  }

  constructor(mod, handle) {
    this.mod = mod;
    this.handle = handle;
    /**
     * The pull answer pullRequestNext last copied into the heap, {text, ptr, len}, kept for the
     * pullApply of the same text that follows it (client/pull-loop.js): an answer of 1,000
     * records is ~400 KB of JSON, and copying it in twice took 3-4 ms of a page's main thread
     * in Chromium (docs/DESIGN.md, "Initial sync end to end"). The pullApply that takes it
     * frees it with its frame; another answer or close() frees it too.
     */
    this.keptAnswer = null;
  }

  /**
   * [ptr, byteLength] of `text` copied into a heap block that outlives the call, kept as
   * `keptAnswer` (another answer kept before is freed).
   */
  keepAnswer(text) {
    if (this.keptAnswer?.text === text) return [this.keptAnswer.ptr, this.keptAnswer.len];
    this.dropAnswer();
    const blocks = [];
    const [ptr, len] = encodeLong(this.mod, text, (n) => {
      const p = this.mod._malloc(n);
      if (!p) {
        for (const b of blocks) this.mod._free(b);
        throw new SloopError('nomem', 'WebAssembly heap exhausted');
      }
      blocks.push(p);
      return p;
    });
    for (const b of blocks) if (b !== ptr) this.mod._free(b);
    this.keptAnswer = { text, ptr, len };
    return [ptr, len];
  }

  /**
   * [ptr, byteLength] of `text` in the heap for one call on frame `f`: the kept answer when it
   * is this text (handed to the frame, which frees it after the call), else a copy in the frame.
   */
  takeAnswer(text, f) {
    const kept = this.keptAnswer;
    if (kept?.text !== text) {
      this.dropAnswer();
      return f.str(text);
    }
    this.keptAnswer = null;
    f.adopt(kept.ptr);
    return [kept.ptr, kept.len];
  }

  /** Frees the kept answer, if any. */
  dropAnswer() {
    if (this.keptAnswer) this.mod._free(this.keptAnswer.ptr);
    this.keptAnswer = null;
  }

  /** Throws the handle's last error for a non-zero return code. */
  check(rc) {
    if (rc === 0) return;
    const m = this.mod;
    throw new SloopError(m.UTF8ToString(m._sloop_errcode(rc)), m.UTF8ToString(m._sloop_errmsg(this.handle)));
  }

  /**
   * Calls export `name` with (handle, ...args(frame)) and returns result(frame, rc); by default
   * the return code is checked. The frame's scratch is freed after `result` ran.
   */
  invoke(name, args, result = (f, rc) => this.check(rc)) {
    const f = new CallFrame(this.mod);
    try {
      return result(f, this.mod[`_${name}`](this.handle, ...args(f)));
    } finally {
      f.free();
    }
  }

  /** Applies `fn` to a value `invoke` returned (here at once; AsyncCoreDb once it resolves). */
  after(value, fn) {
    return fn(value);
  }

  /** A call for its return code only. */
  rc(name, args) {
    return this.invoke(name, args);
  }

  /** A call returning a string through the frame's out-pointer and out-length. */
  text(name, args) {
    return this.invoke(name, (f) => [...args(f), f.outp, f.outp + 4], (f, rc) => {
      this.check(rc);
      return f.takeString(f.outp);
    });
  }

  /** Like text, parsed as JSON. */
  json(name, args) {
    return this.after(this.text(name, args), JSON.parse);
  }

  /** A write: returns the id of the operation it appended. */
  write(name, args) {
    return this.after(this.rc(name, args), () => this.lastOp());
  }

  /** Sets the schema (collections, per-field policies, search fields, indexes, drift bound). */
  setSchema(schema) {
    return this.rc('sloop_set_schema', (f) => f.str(jsonText(schema)));
  }

  /** This replica's device id. */
  get device() {
    return this.mod.UTF8ToString(this.mod._sloop_device(this.handle));
  }

  /** Ticks the hybrid logical clock and returns the timestamp string. */
  clockNow() {
    let buf = 0;
    return this.invoke('sloop_clock_now', (f) => [buf = f.alloc(this.mod.sloop.limits.clockBytes)], (f, rc) => {
      this.check(rc);
      return this.mod.UTF8ToString(buf);
    });
  }

  /** The id of the operation the last write appended. */
  lastOp() {
    return this.mod.UTF8ToString(this.mod._sloop_last_op(this.handle));
  }

  /** Creates or replaces a document; returns the operation id. */
  put(coll, id, doc) {
    return this.write('sloop_put', (f) => [...f.str(coll), ...f.str(id), ...f.str(jsonText(doc))]);
  }

  /**
   * Puts many documents of one collection in one call into the core, all or nothing: each
   * row as put() would, in one transaction (or inside the open one). A refused row refuses
   * the call: nothing of it stays, and the error's message starts with "row <k>:" (from 0).
   * @param {string} coll
   * @param {Iterable<{id: string, doc: object}>} rows
   * @returns {string} the last row's operation id (or lastOp() as it was, for no rows)
   */
  putMany(coll, rows) {
    const texts = [];
    for (const { id, doc } of rows) texts.push([String(id), jsonText(doc)]);
    return this.write('sloop_put_many', (f) => [...f.str(coll), ...f.frames(texts), texts.length]);
  }

  /** Changes some fields ({"$inc"}, {"$add","$remove"}, null unsets); returns the operation id. */
  patch(coll, id, changes) {
    return this.write('sloop_patch', (f) => [...f.str(coll), ...f.str(id), ...f.str(jsonText(changes))]);
  }

  /** Deletes a document; returns the operation id. */
  delete(coll, id) {
    return this.write('sloop_delete', (f) => [...f.str(coll), ...f.str(id)]);
  }

  /** Resolves conflict `conflictId` with `value`; returns the operation id. */
  resolve(conflictId, value) {
    return this.write('sloop_resolve', (f) => [...i64(conflictId), ...f.str(jsonText(value ?? null))]);
  }

  /**
   * Runs `fn()` inside one transaction: its writes commit together (one flush) or, when it
   * throws, not at all. Returns what fn returns. A write refused inside it (bad input, schema,
   * merge) changes nothing and the transaction goes on; a write that fails after it began
   * writing (storage full, out of memory) rolls the whole transaction back, and the commit then
   * throws even if `fn` caught that error (the core has no savepoint per write inside a
   * transaction: docs/DESIGN.md).
   */
  transaction(fn) {
    this.rc('sloop_tx_begin', () => []);
    let result;
    try {
      result = fn();
    } catch (e) {
      this.invoke('sloop_tx_end', () => [0], () => {});
      throw e;
    }
    this.rc('sloop_tx_end', () => [1]);
    return result;
  }

  /** Reads a document, or undefined when it does not exist. */
  get(coll, id) {
    return this.invoke('sloop_get', (f) => [...f.str(coll), ...f.str(id), f.outp, f.outp + 4], (f, rc) => {
      if (rc === this.mod.sloop.codes.notfound) return undefined;
      this.check(rc);
      return JSON.parse(f.takeString(f.outp));
    });
  }

  /** Full-text search (FTS5 MATCH syntax); best match first. */
  search(coll, query, limit = 50) {
    return this.json('sloop_search', (f) => [...f.str(coll), ...f.str(query), limit]);
  }

  /**
   * Indexes for search up to `limit` of the records a large pull left behind the index, in
   * one commit; true while some are left. A search does all of them first itself.
   */
  searchCatchUp(limit) {
    return this.invoke('sloop_search_catch_up', (f) => [limit, f.outp], (f, rc) => {
      this.check(rc);
      return this.mod.HEAP32[f.outp >> 2] !== 0;
    });
  }

  /** Query: {where, orderBy, limit, offset}; returns [{id, doc, state}] with state names. */
  query(coll, q = {}) {
    return this.after(this.json('sloop_query', (f) => [...f.str(coll), ...f.str(jsonText(q))]), (rows) => {
      for (const r of rows) r.state = this.mod.sloop.stateNames[r.state] ?? 'synced';
      return rows;
    });
  }

  /** The sync state name of a record, or undefined when there is no such record. */
  recordState(coll, id) {
    return this.invoke('sloop_record_state', (f) => [...f.str(coll), ...f.str(id), f.outp], (f, rc) => {
      if (rc === this.mod.sloop.codes.notfound) return undefined;
      this.check(rc);
      return this.mod.sloop.stateNames[this.mod.HEAP32[f.outp >> 2]];
    });
  }

  /** Counts per sync state plus pendingOps, failedOps and openConflicts. */
  stateCounts() {
    return this.json('sloop_state_counts', () => []);
  }

  /** Record changes since the last call: [{coll, id, state}] with state names ('removed'). */
  takeChanges() {
    return this.after(this.json('sloop_take_changes', () => []), (list) => {
      const { stateNames, states } = this.mod.sloop;
      for (const c of list) if (c.state !== undefined) c.state = c.state === states.removed ? 'removed' : stateNames[c.state];
      return list;
    });
  }

  /** Operations in the log, optionally of one status ('pending', 'syncing', 'failed'). */
  ops(status = null) {
    return this.json('sloop_ops', (f) => [status ? f.str(status + '\0')[0] : 0]);
  }

  /** Requeues a failed operation (or all of them when opId is null). */
  retry(opId = null) {
    return this.rc('sloop_retry', (f) => [opId ? f.str(opId + '\0')[0] : 0]);
  }

  /** Drops a failed operation explicitly. */
  discard(opId) {
    return this.rc('sloop_discard', (f) => [f.str(opId + '\0')[0]]);
  }

  /** Conflict records; open ones only unless `all`. */
  conflicts({ all = false } = {}) {
    return this.json('sloop_conflicts', () => [all ? 0 : 1]);
  }

  /** The next push request body (text), or null when nothing is pending. */
  pushBegin(maxOps = 100) {
    return this.text('sloop_push_begin', () => [maxOps]);
  }

  /** Applies a push answer body (text). */
  pushEnd(responseText) {
    return this.rc('sloop_push_end', (f) => f.str(responseText));
  }

  /** The push failed in transit; in-flight operations return to the queue. */
  pushFail(message) {
    return this.rc('sloop_push_fail', (f) => [f.str(String(message) + '\0')[0]]);
  }

  /**
   * The server refused the whole push (a 4xx that retrying cannot change): narrows the batch
   * in flight instead of requeuing it. Several operations: the first half stays in flight,
   * the rest is queued again; one: it becomes failed with "code: message".
   * @param {string} code the error's code
   * @param {string} message
   * @returns {number} operations left in flight (0 once the one at fault failed)
   */
  pushRefused(code, message) {
    return this.invoke('sloop_push_refused',
      (f) => [f.str(String(code) + '\0')[0], f.str(String(message) + '\0')[0], f.outp],
      (f, rc) => {
        this.check(rc);
        return this.mod.HEAP32[f.outp >> 2];
      });
  }

  /** The next pull request body (text). */
  pullRequest(limit = 500, scope = null) {
    return this.text('sloop_pull_request', (f) => [limit, ...(scope ? f.str(jsonText(scope)) : [0, 0])]);
  }

  /**
   * The request pullRequest(limit, scope) will make once `responseText`, a pull answer not yet
   * applied, has been applied; null when that cannot be known before (the last page, snapshot
   * and resync pages). Lets the next page travel while this one is applied (client/pull-loop.js).
   */
  pullRequestNext(responseText, limit = 500, scope = null) {
    // The answer stays in the heap for the pullApply of the same text (keptAnswer).
    return this.text('sloop_pull_request_next', (f) => [...this.keepAnswer(responseText), limit, ...(scope ? f.str(jsonText(scope)) : [0, 0])]);
  }

  /**
   * Applies a pull answer body (text); returns whether more pages wait. The answer is copied
   * into the heap unless the pullRequestNext just before was given the same text.
   */
  pullApply(responseText) {
    return this.invoke('sloop_pull_apply', (f) => [...this.takeAnswer(responseText, f), f.outp], (f, rc) => {
      this.check(rc);
      return this.mod.HEAP32[f.outp >> 2] !== 0;
    });
  }

  /**
   * Marks the replica for resync (after a 410 `resync`, or a restore from a backup): the next
   * pulls send a Bloom filter of the records held, sized for false-positive rate `fp`
   * (0 or less: a full resync without a filter). Pull as usual until no more pages wait.
   * @param {number} [fp=0.01]
   */
  resyncBegin(fp = 0.01) {
    return this.rc('sloop_resync_begin', () => [fp]);
  }

  /**
   * Sets the replica's pull scope, kept in the database (docs/CLIENT.md, "Pull scopes"):
   * `{collections, where, recent, priority, order, orderBy}`, each optional, or null for
   * none. Pulls without a scope of their own then carry it. A scope other than the stored one
   * starts a resync under it; what has aged out of a `recent` window is evicted.
   * @param {object|null} scope
   * @throws {SloopError} `invalid` for a bad shape
   */
  setScope(scope) {
    return this.rc('sloop_set_scope', (f) => f.str(jsonText(scope ?? null)));
  }

  /**
   * Evicts what has aged out of the scope's `recent` windows at `now` (ms; the clock when left
   * out, and a time later than the clock counts as the clock: a window never cuts off ahead of
   * it), records with local work excepted; pulls do this themselves.
   * @param {number} [now]
   * @returns {number} records evicted
   */
  evictScope(now = 0) {
    return this.invoke('sloop_scope_evict', (f) => [...i64(now), f.outp], (f, rc) => {
      this.check(rc);
      return this.mod.HEAP32[f.outp >> 2];
    });
  }

  /**
   * Progress of a snapshot pull (a progressive initial sync with scope `{order: 'recent'}`,
   * or a resync): `{phase, mode, page, pages, total, sent, omitted, omittedBytes, rounds,
   * verified}`; phase 'idle' when none runs (the last one's figures stay).
   * @returns {object}
   */
  pullProgress() {
    return this.json('sloop_pull_progress', () => []);
  }

  /** Server: answers a push request body for the context {user, device, perms}. */
  serverPush(requestText, ctxText) {
    return this.text('sloop_server_push', (f) => [...f.str(requestText), ...f.str(ctxText)]);
  }

  /** Server: answers a pull request body. */
  serverPull(requestText, ctxText) {
    return this.text('sloop_server_pull', (f) => [...f.str(requestText), ...f.str(ctxText)]);
  }

  /** Server: forgets tombstones at or below `version`. */
  serverCompact(version) {
    return this.rc('sloop_server_compact', () => i64(version));
  }

  /** Server: moves the handle's clock up to the tenant's (an external store's scratch handle). */
  serverClock(hlc) {
    return this.rc('sloop_server_clock', (f) => f.str(hlc));
  }

  /**
   * Registers the custom merge function for "custom" fields, or removes it with null:
   * `(coll, field, current, incoming) => merged` (undefined unsets; a throw rejects the write).
   * Register the same function on the server and every client.
   */
  setMerge(fn) {
    const handlers = (this.mod.sloopMergeHandlers ??= {});
    if (fn) handlers[this.handle] = fn;
    else delete handlers[this.handle];
    this.mod._sloop_wasm_use_js_merge(this.handle, fn ? 1 : 0);
  }

  /**
   * Runs raw SQL (one or more statements); returns the rows of the last statement that has
   * result columns, each an array of values. The escape hatch below the document API.
   * @param {string} sql
   * @returns {Array<Array<number|string|null>>}
   */
  sql(sql) {
    return this.json('sloop_sql', (f) => f.str(sql));
  }

  /** Closes the handle; a closed handle stays closed. */
  close() {
    if (!this.handle) return undefined;
    if (this.mod.sloopMergeHandlers) delete this.mod.sloopMergeHandlers[this.handle];
    return this.after(this.rc('sloop_close', () => []), () => {
      this.handle = 0;
      this.dropAnswer();
    });
  }
}
