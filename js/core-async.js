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
import { CoreDb, CallFrame } from './core.js';
import { closedError } from './errors.js';
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
  static async open(mod, options = {}) {
    const { handle, schema } = await enqueue(mod, () =>
      CoreDb.openCall(mod, options, (open, ...args) => promisingExport(mod, 'sloop_open')(...args)));
    const db = new AsyncCoreDb(mod, handle);
    if (schema) await db.setSchema(schema);
    return db;
  }

  /** CoreDb's call, queued and awaited: arguments copied in, the call, results copied out, whole. */
  invoke(name, args, result = (f, rc) => this.check(rc)) {
    return enqueue(this.mod, async () => {
      if (!this.handle) throw closedError();
      const f = new CallFrame(this.mod);
      try {
        return result(f, await promisingExport(this.mod, name)(this.handle, ...args(f)));
      } finally {
        f.free();
      }
    });
  }

  after(value, fn) {
    return value.then(fn);
  }

  async transaction(fn) {
    await this.rc('sloop_tx_begin', () => []);
    let result;
    try {
      result = await fn();
    } catch (e) {
      await this.invoke('sloop_tx_end', () => [0], () => {});
      throw e;
    }
    await this.rc('sloop_tx_end', () => [1]);
    return result;
  }
}
