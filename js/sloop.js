/**
 * sloop.js -- the public API: an offline-first document database that syncs itself.
 *
 * ```js
 * import { openSloop, passwordAuth } from '/js/sloop.js';
 * const auth = passwordAuth({ serverUrl: location.origin });
 * const db = await openSloop({ name: 'field-notes', user: 'alice', serverUrl: location.origin, schema, auth });
 * await auth.signIn('alice', password, db.device);
 * await db.put('notes', 'n1', { title: 'Pump 4' });        // durable locally, push scheduled
 * const stop = db.live('notes', { orderBy: 'updatedAt' }, render);
 * db.addEventListener('status', (e) => badge(e.detail));
 * ```
 *
 * This file is the handle an app holds, and only that: live queries, text and list handles,
 * events, a copy of the status. The engine (js/engine/: persistence, sync, change collection,
 * counts, tabs) runs elsewhere and is reached through one call/reply/event layer
 * (js/rpc.js): in a dedicated worker by default in a page (js/client/engine-worker.js),
 * or on this thread (Node, `worker: false`, or options that are functions), loaded then with a
 * dynamic import. Either way this module does not import the engine, so a page's bundle holds
 * neither it nor the Emscripten loader. The public methods are listed once
 * (js/client/methods.js); those this class does not write itself are made from that table.
 *
 * Errors: every rejection is a SloopError (js/errors.js) with a stable `code` (the core's codes,
 * the protocol's, and 'network', 'closed', ...).
 * @module sloop
 */
import { SloopError, closedError, fromWire } from './errors.js';
import { RpcEndpoint, directPorts } from './rpc.js';
import { METHODS } from './client/methods.js';
import { LiveQueries, changedCollections } from './client/live.js';
import { openTextHandle } from './client/text-handle.js';
import { openListHandle } from './client/list-handle.js';
import { passwordAuth, memoryStorage } from './client/password-auth.js';

export { SloopError, passwordAuth, memoryStorage };
export { bindTextarea } from './client/text-binding.js';
export { applyEdits, mapIndex, spliceBetween } from './client/text-edits.js';

/**
 * @typedef {object} SloopStatus
 * @property {boolean} online the last request reached the server (or the browser says online)
 * @property {boolean} syncing a sync cycle is running
 * @property {number} pendingOps local operations not yet acknowledged
 * @property {number} failedOps operations the server rejected (see failedOps())
 * @property {number} openConflicts conflicts waiting for resolve()
 * @property {number} pullPage pages pulled in the running cycle (0 when idle)
 * @property {number} pullPages estimated pages of the running cycle, from the server's `remaining`
 * @property {{round: number, page: number, pages: number}} [resync] while a resync runs (after a
 *   410 `resync` or 400 `cursor`): its round (1 to 3) and the snapshot pages of that round,
 *   applied and estimated; absent otherwise (docs/CLIENT.md)
 * @property {number|null} lastSyncAt ms of the last completed cycle
 * @property {'ok'|'expired'|'needs-reauth'|'signed-out'} auth 'signed-out': no token yet (or
 *   any more); 'needs-reauth': the server refused the token (expired past refresh, revoked,
 *   bound to another device, or this device is another user's)
 * @property {boolean} paused automatic sync is off (pause(), or auth 'needs-reauth' or 'signed-out')
 * @property {{code: string, message: string}|null} error the last cycle's failure
 * @property {number} [retryAt] when the next automatic retry is due (ms), after a failure;
 *   absent once a cycle succeeds
 * @property {boolean} writer this tab runs sync for the database
 */

/**
 * A database opened with openSloop(). Events: 'status', 'change' ({changes, textEdits}),
 * 'conflict', 'failed', 'error'. Methods: js/client/methods.js; types and docs: js/sloop.d.ts.
 */
export class Sloop extends EventTarget {
  /**
   * @param {object} port the handle's end of the transport to its engine (rpc.js)
   * @param {{name: string, user?: string, auth?: object}} options openSloop's
   * @param {{runsIn: 'page'|'worker', end?: () => void}} transport `end` stops it after close
   */
  constructor(port, { name, user, auth }, { runsIn, end = () => {} }) {
    super();
    this.name = name;
    /** Whose local database this is (openSloop's `user`), or null for one shared database. */
    this.user = user ?? null;
    this.auth = auth ?? {};
    /** Where the engine runs: 'worker' (a dedicated worker of this page) or 'page'. */
    this.runsIn = runsIn;
    this.end = end;
    this.device = null;
    this.closed = false;
    /** @type {SloopStatus|null} */
    this.current = null;
    this.liveQueries = new LiveQueries((coll, q) => this.query(coll, q), (error) => this.emit('error', { error }));
    this.rpc = new RpcEndpoint(port, {
      serve: (method, args) => this.answerEngine(method, args),
      onEvent: (event, detail) => this.onEngineEvent(event, detail),
    });
    /** Core methods by name on the writer's database, for tests and tools (the engine's coreCall). */
    this.persistent = { call: (method, ...args) => this.request('coreCall', method, ...args) };
  }

  /**
   * The sync status; a copy, current as of the last 'status' event.
   * @returns {SloopStatus}
   */
  get status() {
    return { ...this.current, error: this.current?.error && { ...this.current.error } };
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  onEngineEvent(event, detail) {
    if (this.closed) return;
    if (event === 'status') this.current = detail;
    if (event === 'error') detail = { error: fromWire(detail?.error) };
    if (event === 'change') this.liveQueries.refresh(changedCollections(detail));
    this.emit(event, event === 'status' ? this.status : detail);
  }

  /** The engine asks the app's auth provider, which stays beside the app. */
  async answerEngine(method, [op] = []) {
    if (method !== 'auth') throw new SloopError('invalid', `'${method}' is not a call to the handle`);
    const fn = op === 'refresh' ? this.auth.refresh : this.auth.getToken;
    return (fn ? await fn.call(this.auth) : null) ?? null;
  }

  /**
   * Calls a method of the engine: a name of js/client/methods.js, or an internal one.
   * @returns {Promise<any>} rejects with a SloopError
   */
  request(method, ...args) {
    if (this.closed) return Promise.reject(closedError());
    return this.rpc.call(method, args);
  }

  /**
   * Calls `callback(rows)` now and whenever the collection changes: local writes, other tabs,
   * sync. Rows are query()'s.
   * @param {string} coll
   * @param {object} query as for query()
   * @param {(rows: Array<{id: string, doc: object, state: string}>) => void} callback
   * @returns {() => void} unsubscribe
   */
  live(coll, query, callback) {
    if (this.closed) throw closedError();
    return this.liveQueries.add(coll, query, callback);
  }

  /**
   * A handle on one `text` field of a record, for an editor: its current string (`value`,
   * kept up to date), splices to write, and 'change' events {edits, local, value} whose edits
   * say where the text changed, so the editor can keep the user's caret. bindTextarea()
   * (js/client/text-binding.js) connects one to a <textarea>. It runs here, on get, patch
   * and the 'change' event, wherever the engine runs.
   * @param {string} coll
   * @param {string} id
   * @param {string} field a field the schema makes `text`
   * @param {{alongside?: () => object}} [options] alongside(): other fields to set in the same
   *   patch as each edit (an `updatedAt`), so an edit stays one operation
   * @returns {Promise<import('./client/text-handle.js').TextHandle>}
   */
  text(coll, id, field, options) {
    if (this.closed) return Promise.reject(closedError());
    return openTextHandle(this, coll, id, field, options);
  }

  /**
   * A handle on one `list` field of a record: `value` (an array), insert, remove and move.
   * @param {string} coll
   * @param {string} id
   * @param {string} field a field the schema makes `list`
   * @param {{alongside?: () => object}} [options] as for text()
   * @returns {Promise<import('./client/list-handle.js').ListHandle>}
   */
  list(coll, id, field, options) {
    if (this.closed) return Promise.reject(closedError());
    return openListHandle(this, coll, id, field, options);
  }

  /**
   * Stops syncing, waits for local writes to be durable, and lets another tab take over.
   * @param {{waitDurable?: boolean}} [options] waitDurable false abandons writes not yet
   *   durable; made while an earlier close waits (storage failing), it ends that wait
   * @returns {Promise<void>}
   */
  async close(options = {}) {
    if (this.closed) return;
    // 'closed': the transport ended under this call (another close ended first), which is what
    // was asked. Anything else (the storage's close failed) is the app's to know, once the
    // handle is closed all the same: the engine is closed either way.
    let failure = null;
    await this.request('close', options).catch((e) => { if (e?.code !== 'closed') failure = e; });
    if (!this.closed) {
      this.closed = true;
      this.liveQueries.clear();
      this.rpc.close();
      this.end();
    }
    if (failure) throw failure;
  }

  /**
   * Stops automatic sync in every tab (sync() still works) until resume(). `status.paused` is
   * true at once; resolves once the engine has paused (in the writer tab, after its status
   * event).
   * @returns {Promise<void>}
   */
  pause() {
    return setPaused(this, 'pause', true);
  }

  /**
   * Restarts automatic sync, also after a sign-in when auth was 'needs-reauth' or 'signed-out'.
   * `status.paused` is false at once; resolves once the engine has resumed.
   * @returns {Promise<void>}
   */
  resume() {
    return setPaused(this, 'resume', false);
  }
}

/**
 * pause() and resume(): the status copy says so at once, as it did when the engine ran on the
 * page's thread and published its status before pause() returned; the engine's status follows.
 */
async function setPaused(db, method, paused) {
  if (db.closed) throw closedError();
  if (db.current) db.current = { ...db.current, paused };
  await db.request(method);
}

// The methods the class does not write itself: each a call of the engine's method of that name.
for (const [name, { via, resolvesVoid }] of Object.entries(METHODS)) {
  if (via === 'handle' || Object.hasOwn(Sloop.prototype, name)) continue;
  const method = resolvesVoid
    ? async function (...args) { await this.request(name, ...args); }
    : function (...args) { return this.request(name, ...args); };
  Object.defineProperty(method, 'name', { value: name });
  Object.defineProperty(Sloop.prototype, name, { value: method, writable: true, configurable: true });
}

/**
 * The local database's name: `name` alone, or `name@user` (the user URI-encoded) so that every
 * user of a browser has a database, an operation queue and a device id of their own.
 * @param {string} name
 * @param {string|null|undefined} user
 * @returns {string}
 */
export function databaseName(name, user) {
  return user == null ? name : `${name}@${encodeURIComponent(user)}`;
}

/**
 * Opens (or creates) a local database and, with a serverUrl, keeps it in sync. The schema is
 * applied on every open, so a new app version's collections, fields and indexes take effect
 * at once; pending operations are kept (docs/CLIENT.md says what a breaking change needs).
 *
 * @param {object} options
 * @param {string} options.name local database name
 * @param {string} [options.user] whose database: each user gets their own (`name@user`), so
 *   signing out and another user signing in on the same browser never mixes their data or
 *   their pending writes (docs/CLIENT.md, Users). Omitted: one database for whoever signs in.
 * @param {object} options.schema the schema the server uses (the language: docs/SCHEMA.md; a schema
 *   that breaks its rules rejects with code 'schema')
 * @param {string|null} [options.serverUrl] sync server base URL; '' or null: local only
 * @param {object|null} [options.scope] what this replica pulls and keeps (docs/CLIENT.md, Pull
 *   scopes): {collections?: string[], where?: object, recent?: {field, days} | {[coll]: {field,
 *   days}}, priority?: string[], order?: 'recent'|'version', orderBy?: string}; a bad shape
 *   rejects with code 'invalid'. A scope other than the stored one resyncs under it; records
 *   that age out of a `recent` window are evicted unless they have local work. Omitted: the
 *   stored scope stays (another tab's or page's); null: no scope, all the user may read.
 * @param {{getToken: () => (string|null|Promise<string|null>), refresh?: () => Promise<string|null>}} [options.auth]
 *   getToken answers the current access token (may be expired), null when signed out; refresh
 *   tries the offline token and answers a new access token (it should also store it), or null
 *   when the user must sign in again. It may throw when offline. passwordAuth() is one, for
 *   the server's own users.
 * @param {object} [options.backend] storage backend; default idbBackend()
 * @param {'auto'|'image'|'on-demand'} [options.pages] how the pages are held: 'auto' (default)
 *   reads them on demand where the engine has JS Promise Integration, else the whole image
 * @param {typeof fetch} [options.fetch] transport; default globalThis.fetch
 * @param {object} [options.sync] {pushBatch, pullPage, debounceMs, intervalMs, backoff: {baseMs, maxMs}}
 * @param {object} [options.locks] a LockManager (tests); default navigator.locks
 * @param {boolean} [options.worker] run the engine in a dedicated worker: the default in a
 *   browser page when no option is a function besides `auth` (fetch, backend, locks,
 *   sync.random); false keeps it on this thread (a large sync then blocks it), loaded then
 *   with a dynamic import
 * @returns {Promise<Sloop>}
 */
export async function openSloop(options = {}) {
  const { name, user, schema } = options;
  if (typeof name !== 'string' || !name) throw new SloopError('invalid', 'openSloop needs a name');
  if (user != null && (typeof user !== 'string' || !user)) throw new SloopError('invalid', 'user must be a non-empty string');
  if (!schema || typeof schema !== 'object') throw new SloopError('invalid', 'openSloop needs a schema');
  if (options.serverUrl && !options.auth?.getToken) throw new SloopError('invalid', 'syncing needs auth.getToken');
  return workerSupported(options) ? openInWorker(options) : openHere(options);
}

/**
 * Whether openSloop can run the engine in a worker: a browser page with module workers, and
 * no option that is a function or an object a message cannot carry.
 */
function workerSupported(options) {
  if (options.worker === false) return false;
  const inPage = typeof Worker === 'function' && typeof document === 'object';
  const cloneable = !options.fetch && !options.backend && !options.locks && !options.environment &&
    typeof options.sync?.random !== 'function';
  if (options.worker === true && !(inPage && cloneable)) {
    throw new SloopError('invalid', 'worker: true needs a browser page and no fetch, backend, locks or sync.random option');
  }
  return inPage && cloneable;
}

/** openSloop's options as the engine's 'open' call takes them: the auth provider stays here. */
function engineOptions({ auth, worker, ...options }) {
  return {
    ...options,
    dbName: databaseName(options.name, options.user),
    auth: { hasGetToken: typeof auth?.getToken === 'function', hasRefresh: typeof auth?.refresh === 'function' },
  };
}

/** Opens the database through its handle's port; the engine answers {device, status}. */
async function openThrough(db, options, env) {
  try {
    const { device, status } = await db.rpc.call('open', [engineOptions(options), env]);
    Object.assign(db, { device, current: status });
  } catch (e) {
    db.closed = true;
    db.rpc.close();
    db.end();
    throw e;
  }
  return db;
}

/** The engine on this thread, over a direct pair of ports; loaded only now. */
async function openHere(options) {
  // The page's messages reach the engine as copies, as through a worker: a document the app
  // changes after put() (or reuses for the next put) must not change what is stored. The open
  // call is the exception: its options hold what no message carries (fetch, backend, locks:
  // why the engine runs here). The engine's replies and events are not copied: each is a value
  // built for that message (a core result parsed from its JSON, a status copy) that the engine
  // keeps no reference to, and a clone of a large query result would cost time for nothing.
  const [page, engine] = directPorts({
    copy: (message) => (message.type === 'call' && message.method === 'open' ? message : structuredClone(message)),
  });
  const { serveEngine } = await import('./engine/serve.js');
  serveEngine(engine);
  const db = new Sloop(page, options, { runsIn: 'page', end: () => { page.close(); engine.close(); } });
  return openThrough(db, options);
}

/** The engine in a dedicated worker (js/client/engine-worker.js). */
async function openInWorker(options) {
  // Written as one expression: bundlers find (and emit) a worker only in this literal form.
  const worker = new Worker(new URL('./client/engine-worker.js', import.meta.url), {
    type: 'module', name: `sloop:${databaseName(options.name, options.user)}`,
  });
  // Workers cannot ask for persistent storage (StorageManager.persist is window-only).
  navigator.storage?.persist?.().catch(() => {});
  const environment = () => ({ online: navigator.onLine, hidden: document.visibilityState === 'hidden' });
  const relay = () => db.rpc.emit('env', environment());
  const end = () => {
    removeEventListener('online', relay);
    removeEventListener('offline', relay);
    document.removeEventListener('visibilitychange', relay);
    worker.terminate();
  };
  const db = new Sloop(worker, options, { runsIn: 'worker', end });
  addEventListener('online', relay);
  addEventListener('offline', relay);
  document.addEventListener('visibilitychange', relay);
  // A worker that fails to load or throws: before the open, the open fails; after, an 'error' event.
  const failed = new Promise((resolve, reject) => {
    worker.addEventListener('error', (e) => {
      const error = new SloopError('internal', `engine worker: ${e.message ?? 'failed to start'}`);
      if (db.device == null) reject(error);
      else db.emit('error', { error });
    });
  });
  return Promise.race([openThrough(db, options, environment()), failed.catch((e) => { db.rpc.close(); end(); throw e; })]);
}

/**
 * Deletes a local database (the recovery path after a 'corrupt' error, or removing a user's
 * data from a shared browser). Unsynced writes are lost. No handle may have it open.
 * @param {{name: string, user?: string, backend?: object}} options as given to openSloop
 */
export async function deleteSloop({ name, user, backend }) {
  const { deleteDatabase } = await import('./engine/serve.js');
  await deleteDatabase({ dbName: databaseName(name, user), backend });
}
