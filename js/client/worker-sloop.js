/**
 * worker-sloop.js -- the page's handle on a Sloop engine running in a dedicated worker
 * (js/client/engine-worker.js). Same surface as the in-page Sloop (js/sloop.js): every call
 * goes to the worker and its answer comes back; status and events are re-raised here; live
 * queries run here, re-queried when the worker reports a change.
 *
 * Why a worker: applying a pulled page costs tens to hundreds of milliseconds of WebAssembly,
 * which on the main thread are long tasks that freeze input and rendering during a large sync
 * (docs/CLIENT.md has the figures). In the worker the page only receives messages.
 * @module sloop/client/worker-sloop
 */
import { RUNTIME_DIR, SloopError } from '../core.js';
import { LiveQueries, changedCollections } from './live.js';
import { openTextHandle } from './text-handle.js';
import { openListHandle } from './list-handle.js';
import { errorFromWire, errorToWire } from './worker-messages.js';

/**
 * Whether openSloop can run the engine in a worker: a browser page with module workers, and
 * no option that is a function or an object a message cannot carry.
 */
export function workerSupported(options) {
  if (options.worker === false) return false;
  const inPage = typeof Worker === 'function' && typeof document === 'object';
  const cloneable = !options.fetch && !options.backend && !options.locks && !options.environment &&
    typeof options.sync?.random !== 'function';
  if (options.worker === true && !(inPage && cloneable)) {
    throw new SloopError('invalid', 'worker: true needs a browser page and no fetch, backend, locks or sync.random option');
  }
  return inPage && cloneable;
}

/** A database whose engine runs in a dedicated worker; create with openInWorker(). */
export class WorkerSloop extends EventTarget {
  constructor(worker, { name, user, auth }) {
    super();
    Object.assign(this, { worker, name, user: user ?? null, auth: auth ?? {} });
    this.runsIn = 'worker';
    this.closed = false;
    this.calls = new Map();
    this.nextCall = 1;
    this.current = null;
    this.device = null;
    this.liveQueries = new LiveQueries((coll, q) => this.query(coll, q), (error) => this.emit('error', { error }));
    this.persistent = { call: (method, ...args) => this.call('persistentCall', method, ...args) };
    this.onEnvChange = () => this.sendEnv();
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** @returns {import('../sloop.js').SloopStatus} a copy, current as of the last 'status' event */
  get status() {
    return { ...this.current, error: this.current?.error && { ...this.current.error } };
  }

  environment() {
    return { online: navigator.onLine, hidden: document.visibilityState === 'hidden' };
  }

  sendEnv() {
    if (!this.closed) this.worker.postMessage({ type: 'env', ...this.environment() });
  }

  onMessage(msg) {
    if (msg.type === 'reply') {
      const pending = this.calls.get(msg.id);
      this.calls.delete(msg.id);
      if (msg.error) pending?.reject(errorFromWire(msg.error));
      else pending?.resolve(msg.result);
    } else if (msg.type === 'event') {
      let detail = msg.detail;
      if (msg.event === 'status') this.current = detail;
      if (msg.event === 'error') detail = { error: errorFromWire(detail.error) };
      if (msg.event === 'change') this.liveQueries.refresh(changedCollections(detail));
      this.emit(msg.event, msg.event === 'status' ? this.status : detail);
    } else if (msg.type === 'auth') {
      this.answerAuth(msg);
    }
  }

  async answerAuth({ id, op }) {
    try {
      const fn = op === 'refresh' ? this.auth.refresh : this.auth.getToken;
      const result = fn ? await fn.call(this.auth) : null;
      this.worker.postMessage({ type: 'auth-reply', id, result: result ?? null });
    } catch (e) {
      this.worker.postMessage({ type: 'auth-reply', id, error: errorToWire(e) });
    }
  }

  call(method, ...args) {
    if (this.closed) return Promise.reject(new SloopError('closed', 'the database is closed'));
    const id = this.nextCall++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      try {
        this.worker.postMessage({ type: 'call', id, method, args });
      } catch (e) {
        // Arguments the structured clone refuses (a function, a DOM node): nothing was sent,
        // so nothing will answer; the entry goes, and the caller learns why.
        this.calls.delete(id);
        reject(e?.name === 'DataCloneError' ? new SloopError('invalid', `${method}: ${e.message}`) : e);
      }
    });
  }

  put(coll, id, doc) { return this.call('put', coll, id, doc); }
  putMany(coll, rows) { return this.call('putMany', coll, rows); }
  patch(coll, id, changes) { return this.call('patch', coll, id, changes); }
  delete(coll, id) { return this.call('delete', coll, id); }
  get(coll, id) { return this.call('get', coll, id); }
  query(coll, query = {}) { return this.call('query', coll, query ?? {}); }
  search(coll, text, options = {}) { return this.call('search', coll, text, options); }
  recordState(coll, id) { return this.call('recordState', coll, id); }
  conflicts() { return this.call('conflicts'); }
  resolve(conflictId, value) { return this.call('resolve', conflictId, value); }
  failedOps() { return this.call('failedOps'); }
  retry(opId) { return this.call('retry', opId); }
  discard(opId) { return this.call('discard', opId); }
  sync() { return this.call('sync'); }
  pause() { this.call('pause').catch(() => {}); }
  resume() { this.call('resume').catch(() => {}); }

  /** As Sloop.text(): the handle runs here, on db.get, db.patch and the 'change' event. */
  text(coll, id, field, options) {
    if (this.closed) return Promise.reject(new SloopError('closed', 'the database is closed'));
    return openTextHandle(this, coll, id, field, options);
  }

  /** As Sloop.list(). */
  list(coll, id, field, options) {
    if (this.closed) return Promise.reject(new SloopError('closed', 'the database is closed'));
    return openListHandle(this, coll, id, field, options);
  }

  live(coll, query, callback) {
    if (this.closed) throw new SloopError('closed', 'the database is closed');
    return this.liveQueries.add(coll, query, callback);
  }

  /**
   * Stops syncing, waits for durability in the worker, then ends the worker.
   * @param {{waitDurable?: boolean}} [options] as Sloop.close(): waitDurable false abandons
   *   what is not durable; sent while an earlier close waits (a full disk), it ends that wait
   */
  async close(options = {}) {
    if (this.closed) return;
    await this.call('close', options).catch(() => {});
    if (this.closed) return; // the other close call ended first
    this.closed = true;
    this.liveQueries.clear();
    removeEventListener('online', this.onEnvChange);
    removeEventListener('offline', this.onEnvChange);
    document.removeEventListener('visibilitychange', this.onEnvChange);
    this.worker.terminate();
    for (const pending of this.calls.values()) pending.reject(new SloopError('closed', 'the database is closed'));
    this.calls.clear();
  }
}

/**
 * Starts the engine worker and opens the database in it.
 * @param {object} options openSloop's options (functions only in `auth`)
 * @returns {Promise<WorkerSloop>}
 */
export function openInWorker(options) {
  const worker = new Worker(new URL('client/engine-worker.js', RUNTIME_DIR), { type: 'module', name: `sloop:${options.name}${options.user == null ? '' : `@${options.user}`}` });
  const db = new WorkerSloop(worker, options);
  // Workers cannot ask for persistent storage (StorageManager.persist is window-only).
  navigator.storage?.persist?.().catch(() => {});
  const { auth, ...rest } = options;
  const sent = { ...rest, hasRefresh: typeof auth?.refresh === 'function' };
  return new Promise((resolve, reject) => {
    worker.onerror = (e) => {
      const error = new SloopError('internal', `engine worker: ${e.message ?? 'failed to start'}`);
      if (db.device == null) { worker.terminate(); reject(error); } else db.emit('error', { error });
    };
    worker.onmessage = ({ data: msg }) => {
      if (msg.type === 'opened') {
        Object.assign(db, { device: msg.device, current: msg.status });
        worker.onmessage = ({ data }) => db.onMessage(data);
        addEventListener('online', db.onEnvChange);
        addEventListener('offline', db.onEnvChange);
        document.addEventListener('visibilitychange', db.onEnvChange);
        resolve(db);
      } else if (msg.type === 'open-failed') {
        worker.terminate();
        reject(errorFromWire(msg.error));
      } else {
        db.onMessage(msg); // auth questions arrive before 'opened'
      }
    };
    worker.postMessage({ type: 'open', options: sent, env: db.environment() });
  });
}
