/**
 * core-async.js -- the CoreDb API with every database call awaited: the binding for a database
 * whose pages come from IndexedDB on demand (js/persist.js, on-demand mode).
 *
 * Each export that can reach SQLite is called through `WebAssembly.promising` (js/jspi.js), so
 * a page fetch inside it suspends the WebAssembly stack instead of blocking. The module has one
 * shadow stack, so such calls must never overlap: every method here runs in one queue per module,
 * whole (arguments copied in, the call awaited, results copied out) before the next starts.
 * Exports that only read a field (device, last op, error strings) stay plain calls.
 *
 * Same methods, arguments and results as CoreDb, each returning a Promise. `transaction(fn)`
 * awaits `fn()`; its begin and end are queued calls, so a call another caller queues while fn
 * runs lands inside the transaction: run one transaction at a time per database.
 * @module sloop/core-async
 */
import { CoreDb, CallFrame, SloopError, jsonText, i64 } from './core.js';
import { promisingExport } from './jspi.js';

/** Runs `task` after every task queued before it on this module; resolves with its result. */
function enqueue(mod, task) {
  const run = (mod.sloopQueue ?? Promise.resolve()).then(task);
  mod.sloopQueue = run.catch(() => {});
  return run;
}

export class AsyncCoreDb extends CoreDb {
  /**
   * Opens a database on a module loaded with JSPI (see CoreDb.open for the options).
   * @returns {Promise<AsyncCoreDb>}
   */
  static async open(mod, { path = ':memory:', role = 'client', vfs = null, schema = null } = {}) {
    const handle = await enqueue(mod, async () => {
      const f = new CallFrame(mod);
      try {
        const outp = f.out();
        const [pathPtr] = f.str(path + '\0');
        const vfsPtr = vfs ? f.str(vfs + '\0')[0] : 0;
        const rc = await promisingExport(mod, 'sloop_open')(pathPtr, vfsPtr, role === 'server' ? 1 : 0, 0, outp);
        if (rc !== 0) throw new SloopError(mod.UTF8ToString(mod._sloop_errcode(rc)), `open ${path}: ${mod.UTF8ToString(mod._sloop_errstr(rc))}`);
        return mod.HEAPU32[outp >> 2];
      } finally {
        f.free();
      }
    });
    const db = new AsyncCoreDb(mod, handle);
    if (schema) await db.setSchema(schema);
    return db;
  }

  /**
   * Queues one export call: `args(frame, outp)` builds its arguments (outp: an out-pointer and
   * length pair), `result(frame, outp, rc)` reads what it left. Resolves with that result.
   */
  invoke(name, args, result = () => undefined) {
    return enqueue(this.mod, async () => {
      if (!this.handle) throw new SloopError('invalid', 'the database is closed');
      const f = new CallFrame(this.mod);
      try {
        const outp = f.out();
        const rc = await promisingExport(this.mod, name)(this.handle, ...args(f, outp));
        return result(f, outp, rc);
      } finally {
        f.free();
      }
    });
  }

  /** A call for its return code only. */
  rc(name, args) {
    return this.invoke(name, args, (f, outp, rc) => this.check(rc));
  }

  /** A call returning a string through (outp, outp + 4). */
  text(name, args) {
    return this.invoke(name, (f, outp) => [...args(f), outp, outp + 4], (f, outp, rc) => {
      this.check(rc);
      return f.takeString(outp);
    });
  }

  async json(name, args) {
    return JSON.parse(await this.text(name, args));
  }

  /** A write for its operation id. */
  async write(name, args) {
    await this.rc(name, args);
    return this.lastOp();
  }

  setSchema(schema) { return this.rc('sloop_set_schema', (f) => f.str(jsonText(schema))); }

  clockNow() {
    return this.invoke('sloop_clock_now', (f) => [f.alloc(35)], (f, outp, rc) => {
      this.check(rc);
      return this.mod.UTF8ToString(f.ptrs[f.ptrs.length - 1]);
    });
  }

  put(coll, id, doc) { return this.write('sloop_put', (f) => [...f.str(coll), ...f.str(id), ...f.str(jsonText(doc))]); }
  patch(coll, id, changes) { return this.write('sloop_patch', (f) => [...f.str(coll), ...f.str(id), ...f.str(jsonText(changes))]); }
  delete(coll, id) { return this.write('sloop_delete', (f) => [...f.str(coll), ...f.str(id)]); }
  resolve(conflictId, value) { return this.write('sloop_resolve', (f) => [...i64(conflictId), ...f.str(jsonText(value ?? null))]); }

  async transaction(fn) {
    await this.rc('sloop_tx_begin', () => []);
    let result;
    try {
      result = await fn();
    } catch (e) {
      await this.invoke('sloop_tx_end', () => [0]);
      throw e;
    }
    await this.rc('sloop_tx_end', () => [1]);
    return result;
  }

  async get(coll, id) {
    try {
      return await this.json('sloop_get', (f) => [...f.str(coll), ...f.str(id)]);
    } catch (e) {
      if (e.code === 'notfound') return undefined;
      throw e;
    }
  }

  search(coll, query, limit = 50) { return this.json('sloop_search', (f) => [...f.str(coll), ...f.str(query), limit]); }

  async query(coll, q = {}) {
    const rows = await this.json('sloop_query', (f) => [...f.str(coll), ...f.str(jsonText(q))]);
    for (const r of rows) r.state = this.mod.sloop.stateNames[r.state] ?? 'synced';
    return rows;
  }

  recordState(coll, id) {
    return this.invoke('sloop_record_state', (f, outp) => [...f.str(coll), ...f.str(id), outp], (f, outp, rc) => {
      if (rc === this.mod.sloop.codes.notfound) return undefined;
      this.check(rc);
      return this.mod.sloop.stateNames[this.mod.HEAP32[outp >> 2]];
    });
  }

  stateCounts() { return this.json('sloop_state_counts', () => []); }

  async takeChanges() {
    const list = await this.json('sloop_take_changes', () => []);
    const { stateNames, states } = this.mod.sloop;
    for (const c of list) if (c.state !== undefined) c.state = c.state === states.removed ? 'removed' : stateNames[c.state];
    return list;
  }

  ops(status = null) { return this.json('sloop_ops', (f) => [status ? f.str(status + '\0')[0] : 0]); }
  retry(opId = null) { return this.rc('sloop_retry', (f) => [opId ? f.str(opId + '\0')[0] : 0]); }
  discard(opId) { return this.rc('sloop_discard', (f) => [f.str(opId + '\0')[0]]); }
  conflicts({ all = false } = {}) { return this.json('sloop_conflicts', () => [all ? 0 : 1]); }
  pushBegin(maxOps = 100) { return this.text('sloop_push_begin', () => [maxOps]); }
  pushEnd(responseText) { return this.rc('sloop_push_end', (f) => f.str(responseText)); }
  pushFail(message) { return this.rc('sloop_push_fail', (f) => [f.str(String(message) + '\0')[0]]); }

  pushRefused(code, message) {
    return this.invoke('sloop_push_refused',
      (f, outp) => [f.str(String(code) + '\0')[0], f.str(String(message) + '\0')[0], outp],
      (f, outp, rc) => {
        this.check(rc);
        return this.mod.HEAP32[outp >> 2];
      });
  }

  pullRequest(limit = 500, scope = null) {
    return this.text('sloop_pull_request', (f) => [limit, ...(scope ? f.str(jsonText(scope)) : [0, 0])]);
  }

  pullApply(responseText) {
    return this.invoke('sloop_pull_apply', (f, outp) => [...f.str(responseText), outp], (f, outp, rc) => {
      this.check(rc);
      return this.mod.HEAP32[outp >> 2] !== 0;
    });
  }

  resyncBegin(fp = 0.01) { return this.rc('sloop_resync_begin', () => [fp]); }
  pullProgress() { return this.json('sloop_pull_progress', () => []); }
  serverPush(requestText, ctxText) { return this.text('sloop_server_push', (f) => [...f.str(requestText), ...f.str(ctxText)]); }
  serverPull(requestText, ctxText) { return this.text('sloop_server_pull', (f) => [...f.str(requestText), ...f.str(ctxText)]); }
  serverCompact(version) { return this.rc('sloop_server_compact', () => i64(version)); }
  async sql(sql) { return JSON.parse(await this.text('sloop_sql', (f) => f.str(sql))); }

  async close() {
    if (!this.handle) return;
    const handle = this.handle;
    await enqueue(this.mod, async () => {
      if (this.mod.sloopMergeHandlers) delete this.mod.sloopMergeHandlers[handle];
      this.check(await promisingExport(this.mod, 'sloop_close')(handle));
    });
    this.handle = 0;
  }
}
