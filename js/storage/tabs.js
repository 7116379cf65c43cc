/**
 * tabs.js -- what several tabs (or several handles in one realm) share: one writer at a time.
 *
 * In browsers the Web Locks API decides the writer; everywhere else (Node) `ProcessLocks`
 * gives the same exclusive-lock semantics within one process. Both grant a lock to a callback
 * and hold it until the callback's promise settles, so a tab that dies releases its lock.
 * @module sloop/storage/tabs
 */

/** A minimal exclusive LockManager for realms without navigator.locks. */
export class ProcessLocks {
  constructor() {
    this.states = new Map();
  }

  /**
   * Same contract as LockManager.request for exclusive locks: options ifAvailable, steal
   * (the old holder is not told, which is exactly a zombie writer), signal.
   * @param {string} name
   * @param {object|Function} options
   * @param {(lock: {name: string}|null) => Promise<any>} [callback]
   */
  request(name, options, callback) {
    if (typeof options === 'function') [callback, options] = [options, {}];
    const state = this.states.get(name) ?? { held: null, queue: [] };
    this.states.set(name, state);
    return new Promise((resolve, reject) => {
      const grant = () => {
        const token = {};
        state.held = token;
        Promise.resolve({ name }).then(callback).then(resolve, reject).finally(() => {
          if (state.held !== token) return;
          state.held = null;
          state.queue.shift()?.();
        });
      };
      if (options.steal || !state.held) return grant();
      if (options.ifAvailable) return void Promise.resolve(null).then(callback).then(resolve, reject);
      state.queue.push(grant);
      options.signal?.addEventListener('abort', () => {
        const at = state.queue.indexOf(grant);
        if (at >= 0) state.queue.splice(at, 1), reject(options.signal.reason);
      });
    });
  }
}

const processLocks = new ProcessLocks();

/** navigator.locks where it exists, else one ProcessLocks per realm. */
export function defaultLocks() {
  return globalThis.navigator?.locks ?? processLocks;
}

/**
 * A BroadcastChannel for the database, or a stand-in that drops messages where there is none
 * (a port of js/rpc.js either way).
 * @param {string} name
 */
export function openChannel(name) {
  if (typeof BroadcastChannel === 'function') return new BroadcastChannel(`sloop:${name}`);
  return { postMessage() {}, addEventListener() {}, removeEventListener() {}, close() {} };
}
