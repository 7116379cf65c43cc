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
 * Layers, each talking only to the one below: this file (API, tabs, events) -> the scheduler
 * (js/client/scheduler.js: when and how to sync) -> the transport (js/client/transport.js:
 * HTTP) and the persistent database (js/persist.js: durable core calls, one writer per
 * database across tabs). Every core call goes through the persistent database, so a call in
 * a follower tab is proxied to the writer tab; only the writer syncs, and it publishes status
 * and events to the others (js/client/tabs.js).
 *
 * Errors: every rejection is a SloopError with a stable `code` (the core's codes, the
 * protocol's, and 'network', 'closed').
 * @module sloop
 */
import { SloopError } from './core.js';
import { openPersistentDb, deletePersistentDb } from './persist.js';
import { idbBackend } from './storage/idb-backend.js';
import { SyncScheduler, SYNC_DEFAULTS } from './client/scheduler.js';
import { LiveQueries, changedCollections } from './client/live.js';
import { toFtsQuery } from './client/search-query.js';
import { openTextHandle } from './client/text-handle.js';
import { openListHandle } from './client/list-handle.js';
import { openClientChannel } from './client/tabs.js';
import { globalEnvironment } from './client/environment.js';
import { openInWorker, workerSupported } from './client/worker-sloop.js';
import { passwordAuth, memoryStorage } from './client/password-auth.js';

export { SloopError, passwordAuth, memoryStorage };
export { bindTextarea } from './client/text-binding.js';
export { applyEdits, mapIndex, spliceBetween } from './client/text-edits.js';

/** While a pull is running, counts (a scan of all records) are refreshed at most this often. */
const COUNTS_EVERY_MS = 500;

/**
 * @typedef {object} SloopStatus
 * @property {boolean} online the last request reached the server (or the browser says online)
 * @property {boolean} syncing a sync cycle is running
 * @property {number} pendingOps local operations not yet acknowledged
 * @property {number} failedOps operations the server rejected (see failedOps())
 * @property {number} openConflicts conflicts waiting for resolve()
 * @property {number} pullPage pages pulled in the running cycle (0 when idle)
 * @property {number} pullPages estimated pages of the running cycle, from the server's `remaining`
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
 * 'conflict', 'failed', 'error'.
 */
export class Sloop extends EventTarget {
  constructor(pdb, { name, user, serverUrl, schema, auth, fetch, sync, environment }) {
    super();
    this.persistent = pdb;
    this.name = name;
    /** Whose local database this is (openSloop's `user`), or null for one shared database. */
    this.user = user ?? null;
    this.serverUrl = serverUrl ? String(serverUrl).replace(/\/+$/, '') : '';
    this.schema = schema;
    this.auth = auth ?? {};
    this.fetchFn = fetch ?? ((...args) => globalThis.fetch(...args));
    this.syncOptions = { ...SYNC_DEFAULTS, ...sync, backoff: { ...SYNC_DEFAULTS.backoff, ...sync?.backoff } };
    this.closed = false;
    this.scheduler = null;
    this.pausedByUser = false;
    this.syncRequests = new Map();
    this.nextRequest = 1;
    this.tabId = globalThis.crypto.randomUUID();
    this.environment = environment ?? globalEnvironment();
    /** 'page': the engine runs in this realm; openSloop's worker handle says 'worker'. */
    this.runsIn = 'page';
    this.counts = { pendingOps: 0, failedOps: 0, openConflicts: 0 };
    this.countsTimer = null;
    /** @type {SloopStatus} */
    this.current = {
      online: this.environment.online, syncing: false, pendingOps: 0, failedOps: 0,
      openConflicts: 0, pullPage: 0, pullPages: 0, lastSyncAt: null, auth: 'ok', paused: false,
      error: null, writer: false, pages: pdb.mode,
    };
    this.liveQueries = new LiveQueries((coll, q) => this.query(coll, q), (error) => this.emit('error', { error }));
    this.channel = openClientChannel(databaseName(name, user), (msg) => this.onTabMessage(msg));
    this.onDurable = () => this.collectChanges();
    // Sync requests waiting for a writer fail with why none will run them: this tab's writer
    // set-up failed, or its claim did (the persistent handle rejects its own calls then).
    this.onWriter = () => this.becomeWriter().catch((error) => {
      this.failSyncRequests(error);
      this.emit('error', { error });
    });
    this.onStorageError = (e) => {
      if (pdb.claimError) this.failSyncRequests(pdb.claimError);
      this.emit('error', e.detail);
    };
    pdb.addEventListener('durable', this.onDurable);
    pdb.addEventListener('writer', this.onWriter);
    pdb.addEventListener('error', this.onStorageError);
  }

  /** Applies the schema, learns the device id, and starts syncing if this tab is the writer. */
  async init() {
    await this.persistent.call('setSchema', this.schema);
    this.device = JSON.parse(await this.persistent.call('pullRequest', 1)).device;
    if (this.persistent.isWriter) await this.becomeWriter();
    else this.channel.postMessage({ type: 'hello' });
  }

  /**
   * The sync status; a copy, current as of the last 'status' event.
   * @returns {SloopStatus}
   */
  get status() {
    return { ...this.current, error: this.current.error && { ...this.current.error } };
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Writer: raises an event here and in every other tab. */
  publish(event, detail) {
    this.emit(event, detail);
    this.channel.postMessage({ type: 'event', event, detail });
  }

  /** Writer: merges a change into the status (a key set to undefined is removed) and publishes it. */
  setStatus(patch) {
    const next = { ...this.current, ...patch };
    for (const key of Object.keys(next)) if (next[key] === undefined) delete next[key];
    next.paused = this.pausedByUser || authStops(next.auth);
    const keys = new Set([...Object.keys(next), ...Object.keys(this.current)]);
    if ([...keys].every((k) => next[k] === this.current[k])) return;
    this.current = next;
    this.publish('status', this.status);
  }

  // ---- tabs -------------------------------------------------------------------------------

  async becomeWriter() {
    if (this.closed || this.scheduler) return;
    await this.persistent.call('setSchema', this.schema);
    this.current = { ...this.current, writer: true };
    if (this.serverUrl) {
      this.scheduler = new SyncScheduler({
        call: (method, ...args) => this.persistent.call(method, ...args),
        serverUrl: this.serverUrl,
        auth: this.auth,
        fetch: this.fetchFn,
        options: this.syncOptions,
        onStatus: (patch) => this.setStatus(patch),
        onStep: () => this.collectChanges({ throttleCounts: true }),
        paused: this.pausedByUser,
        random: this.syncOptions.random,
        environment: this.environment,
      });
    }
    this.channel.postMessage({ type: 'writer' });
    // On demand these are Promises: the status must be current when open() resolves.
    await this.collectChanges();
    await this.refreshCounts();
    // Sync requests this tab sent to the old writer, which may never answer them now.
    for (const request of this.syncRequests.values()) this.runSyncRequest(request);
    this.scheduler?.start();
  }

  onTabMessage(msg) {
    if (this.closed) return;
    const writer = this.persistent.isWriter;
    if (msg.type === 'event' && !writer) {
      if (msg.event === 'status') this.current = { ...msg.detail, writer: false };
      if (msg.event === 'change') this.liveQueries.refresh(changedCollections(msg.detail));
      this.emit(msg.event, msg.event === 'status' ? this.status : msg.detail);
    } else if (msg.type === 'written' && writer) {
      this.scheduler?.afterWrite();
    } else if (msg.type === 'hello' && writer) {
      this.publish('status', this.status);
    } else if (msg.type === 'writer' && !writer) {
      for (const request of this.syncRequests.values()) this.channel.postMessage(request.message);
    } else if (msg.type === 'sync' && writer) {
      const reply = (error) => this.channel.postMessage({ type: 'synced', id: msg.id, to: msg.from, error });
      this.syncHere().then(() => reply(null), (e) => reply({ code: e.code, message: e.message }));
    } else if (msg.type === 'synced' && msg.to === this.tabId) {
      const request = this.syncRequests.get(msg.id);
      if (!request) return;
      this.syncRequests.delete(msg.id);
      if (msg.error) request.reject(new SloopError(msg.error.code, msg.error.message));
      else request.resolve();
    } else if (msg.type === 'pause' || msg.type === 'resume') {
      this.setPaused(msg.type === 'pause');
    }
  }

  /** Rejects the sync requests this tab sent and that no writer has answered yet. */
  failSyncRequests(error) {
    for (const request of this.syncRequests.values()) request.reject(error);
    this.syncRequests.clear();
  }

  runSyncRequest(request) {
    this.syncRequests.delete(request.message.id);
    this.syncHere().then(request.resolve, request.reject);
  }

  // ---- changes, counts, events (writer) ---------------------------------------------------

  /**
   * Writer: takes the core's changes and tells live queries, tabs and the scheduler. The
   * core's queue mixes record states and text fields' edits; the event keeps them apart
   * (`changes` as before, `textEdits` new) so a listener of one never sees the other's shape.
   */
  collectChanges({ throttleCounts = false } = {}) {
    const core = this.persistent.core;
    if (!core || this.closed) return undefined;
    return this.withCore(core.takeChanges(), (entries) => {
      if (entries.length === 0 || this.closed) return;
      const detail = { changes: entries.filter((c) => !c.edits), textEdits: entries.filter((c) => c.edits) };
      this.publish('change', detail);
      this.liveQueries.refresh(changedCollections(detail));
      if (throttleCounts) this.refreshCountsSoon();
      else this.refreshCounts();
    });
  }

  /**
   * `fn(result)` of a direct core call: at once for a whole-image database (synchronous core),
   * once it settles on demand (the core's calls return Promises; a failure is an 'error' event).
   * Returns fn's result, or a Promise of it.
   */
  withCore(result, fn) {
    if (!(result instanceof Promise)) return fn(result);
    return result.then(fn).catch((error) => {
      if (!this.closed) this.emit('error', { error });
    });
  }

  /** Refreshes counts within COUNTS_EVERY_MS: they scan every record, too much per page. */
  refreshCountsSoon() {
    this.countsTimer ??= setTimeout(() => {
      this.countsTimer = null;
      this.refreshCounts();
    }, COUNTS_EVERY_MS);
  }

  /** Writer: pending/failed/conflict counts into the status; 'failed'/'conflict' when they grow. */
  refreshCounts() {
    const core = this.persistent.core;
    if (!core || this.closed) return undefined;
    return this.withCore(core.stateCounts(), ({ pendingOps, failedOps, openConflicts }) => {
      if (this.closed) return;
      const before = this.counts;
      this.counts = { pendingOps, failedOps, openConflicts };
      this.setStatus(this.counts);
      if (failedOps > before.failedOps) {
        this.withCore(core.ops('failed'), (ops) => this.publish('failed', { failedOps: failedOpsOf(ops) }));
      }
      if (openConflicts > before.openConflicts) {
        this.withCore(core.conflicts(), (conflicts) => this.publish('conflict', { conflicts }));
      }
    });
  }

  /**
   * After a write through this handle: the writer collects its changes at once (no wait for
   * the durable event) and plans a push; a follower asks the writer to plan one.
   */
  async written(promise) {
    const result = await promise;
    if (this.persistent.isWriter) {
      const collected = this.collectChanges();
      if (collected) await collected; // on demand: the change event before the write resolves
      this.scheduler?.afterWrite();
    } else {
      this.channel.postMessage({ type: 'written' });
    }
    return result;
  }

  call(method, ...args) {
    if (this.closed) return Promise.reject(new SloopError('closed', 'the database is closed'));
    return this.persistent.call(method, ...args);
  }

  // ---- documents ----------------------------------------------------------------------------

  /**
   * Creates or replaces a document. Resolves once the write is durable locally; a push
   * follows after `sync.debounceMs`.
   * @param {string} coll collection name from the schema
   * @param {string} id record id (1 to 128 bytes of UTF-8)
   * @param {object} doc the whole document; fields it leaves out are unset
   * @returns {Promise<string>} the operation id
   */
  put(coll, id, doc) {
    return this.written(this.call('put', coll, id, doc));
  }

  /**
   * Creates or replaces many documents of one collection at once, all or nothing: one
   * transaction and one durable flush for all of them (an import, a batch from elsewhere).
   * A refused row refuses the whole call, and the error's message names the row ("row k:").
   * @param {string} coll
   * @param {Array<{id: string, doc: object}>} rows
   * @returns {Promise<string>} the last row's operation id
   */
  putMany(coll, rows) {
    return this.written(this.call('putMany', coll, rows));
  }

  /**
   * Changes some fields: a value sets, null unsets, {$inc: n} adds to a counter,
   * {$add: [...], $remove: [...]} changes a set.
   * @param {string} coll
   * @param {string} id
   * @param {object} changes
   * @returns {Promise<string>} the operation id
   */
  patch(coll, id, changes) {
    return this.written(this.call('patch', coll, id, changes));
  }

  /**
   * Deletes a document (a delete wins over concurrent patches).
   * @returns {Promise<string>} the operation id
   */
  delete(coll, id) {
    return this.written(this.call('delete', coll, id));
  }

  /**
   * Reads one document.
   * @returns {Promise<object|undefined>}
   */
  get(coll, id) {
    return this.call('get', coll, id);
  }

  /**
   * Queries a collection.
   * @param {string} coll
   * @param {{where?: object, orderBy?: string|Array, limit?: number, offset?: number}} [query]
   * @returns {Promise<Array<{id: string, doc: object, state: string}>>}
   */
  query(coll, query = {}) {
    return this.call('query', coll, query ?? {});
  }

  /**
   * Full-text search over the schema's search fields. `text` is what a user typed: every word
   * must match (the last as a prefix); quotes and FTS5 operators are taken literally.
   * @param {string} coll
   * @param {string} text
   * @param {{limit?: number}} [options]
   * @returns {Promise<Array<{id: string, doc: object}>>} best match first
   */
  async search(coll, text, { limit = 50 } = {}) {
    const match = toFtsQuery(text);
    if (!match) return [];
    // After a large pull the index catches up in slices, a commit each (the scheduler); a
    // search would otherwise index all that is left in its own one commit first.
    await this.scheduler?.searchCaughtUp;
    return this.call('search', coll, match, limit);
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
    if (this.closed) throw new SloopError('closed', 'the database is closed');
    return this.liveQueries.add(coll, query, callback);
  }

  /**
   * A handle on one `text` field of a record, for an editor: its current string (`value`,
   * kept up to date), splices to write, and 'change' events {edits, local, value} whose edits
   * say where the text changed, so the editor can keep the user's caret. bindTextarea()
   * (js/client/text-binding.js) connects one to a <textarea>.
   * @param {string} coll
   * @param {string} id
   * @param {string} field a field the schema makes `text`
   * @param {{alongside?: () => object}} [options] alongside(): other fields to set in the same
   *   patch as each edit (an `updatedAt`), so an edit stays one operation
   * @returns {Promise<import('./client/text-handle.js').TextHandle>}
   */
  text(coll, id, field, options) {
    if (this.closed) return Promise.reject(new SloopError('closed', 'the database is closed'));
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
    if (this.closed) return Promise.reject(new SloopError('closed', 'the database is closed'));
    return openListHandle(this, coll, id, field, options);
  }

  /**
   * The sync state of one record.
   * @returns {Promise<'local-only'|'syncing'|'synced'|'failed'|'modified-locally'|undefined>}
   */
  recordState(coll, id) {
    return this.call('recordState', coll, id);
  }

  // ---- conflicts and failed operations ----------------------------------------------------

  /**
   * Open conflicts: both values of a `manual` field that two devices changed concurrently.
   * @returns {Promise<Array<{id: number, coll: string, rid: string, field: string, server: any, incoming: any, status: string}>>}
   */
  conflicts() {
    return this.call('conflicts');
  }

  /**
   * Closes a conflict with a value (either side, or a merge); pushed like any write.
   * @param {number} conflictId
   * @param {any} value
   * @returns {Promise<string>} the operation id
   */
  resolve(conflictId, value) {
    return this.written(this.call('resolve', conflictId, value));
  }

  /**
   * Operations the server rejected. They stay until retry() or discard(); the record shows
   * state 'failed' meanwhile.
   * @returns {Promise<Array<{id: string, coll: string, rid: string, type: string, payload: object, lastError: string|null, attempts: number}>>}
   */
  async failedOps() {
    return failedOpsOf(await this.call('ops', 'failed'));
  }

  /**
   * Queues failed operations again (one, or all when opId is omitted); each gets a new id.
   * @param {string} [opId]
   */
  async retry(opId) {
    await this.written(this.call('retry', opId ?? null));
  }

  /**
   * Drops a failed operation: the record returns to the server's state.
   * @param {string} opId
   */
  async discard(opId) {
    await this.written(this.call('discard', opId));
  }

  // ---- sync control -----------------------------------------------------------------------

  /**
   * Syncs now: pushes everything pending, in order, then pulls until the server has nothing
   * more. Runs even when paused or waiting for a backoff, and after a sign-in is how sync
   * restarts. In a follower tab the writer tab runs it.
   * @returns {Promise<void>} rejects with a SloopError ('network', 'expired', 'unavailable', ...)
   */
  sync() {
    if (this.closed) return Promise.reject(new SloopError('closed', 'the database is closed'));
    if (!this.serverUrl) return Promise.reject(new SloopError('invalid', 'no serverUrl: this database is local only'));
    if (this.persistent.isWriter) return this.syncHere();
    if (this.persistent.claimError) return Promise.reject(this.persistent.claimError);
    return new Promise((resolve, reject) => {
      const message = { type: 'sync', id: `${this.tabId}:${this.nextRequest++}`, from: this.tabId };
      this.syncRequests.set(message.id, { message, resolve, reject });
      this.channel.postMessage(message);
    });
  }

  async syncHere() {
    if (!this.scheduler) throw new SloopError('invalid', 'no serverUrl: this database is local only');
    await this.scheduler.syncNow();
    await this.refreshCounts();
  }

  /** Stops automatic sync in every tab (sync() still works) until resume(). */
  pause() {
    this.channel.postMessage({ type: 'pause' });
    this.setPaused(true);
  }

  /** Restarts automatic sync, also after a sign-in when auth was 'needs-reauth' or 'signed-out'. */
  resume() {
    this.channel.postMessage({ type: 'resume' });
    this.setPaused(false);
  }

  setPaused(paused) {
    this.pausedByUser = paused;
    if (!this.persistent.isWriter) return;
    if (paused) this.scheduler?.pause();
    else {
      if (authStops(this.current.auth)) this.setStatus({ auth: 'ok' });
      this.scheduler?.resume();
    }
    this.setStatus({ paused });
  }

  /**
   * Stops syncing, waits for local writes to be durable, and lets another tab take over.
   * @param {{waitDurable?: boolean}} [options] waitDurable false abandons writes not yet
   *   durable; made while an earlier close waits (storage failing), it ends that wait
   * @returns {Promise<void>}
   */
  async close(options = {}) {
    // A second close({waitDurable: false}) ends the first one's wait for durability (persist.js).
    if (this.closed) return this.persistent.close(options);
    this.closed = true;
    this.scheduler?.stop();
    clearTimeout(this.countsTimer);
    this.liveQueries.clear();
    const pdb = this.persistent;
    pdb.removeEventListener('durable', this.onDurable);
    pdb.removeEventListener('writer', this.onWriter);
    pdb.removeEventListener('error', this.onStorageError);
    this.failSyncRequests(new SloopError('closed', 'the database is closed'));
    this.channel.close();
    await pdb.close(options);
  }
}

/** Auth states in which automatic sync waits for a sign-in. */
function authStops(auth) {
  return auth === 'needs-reauth' || auth === 'signed-out';
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

/** The public shape of failed operations. */
function failedOpsOf(ops) {
  return ops.map(({ id, coll, rid, type, payload, lastError, attempts }) => ({ id, coll, rid, type, payload, lastError, attempts }));
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
 *   sync.random); false keeps it on this thread (a large sync then blocks it)
 * @returns {Promise<Sloop>}
 */
export async function openSloop(options = {}) {
  const { name, user, schema, backend, locks } = options;
  if (typeof name !== 'string' || !name) throw new SloopError('invalid', 'openSloop needs a name');
  if (user != null && (typeof user !== 'string' || !user)) throw new SloopError('invalid', 'user must be a non-empty string');
  if (!schema || typeof schema !== 'object') throw new SloopError('invalid', 'openSloop needs a schema');
  if (options.serverUrl && !options.auth?.getToken) throw new SloopError('invalid', 'syncing needs auth.getToken');
  if (workerSupported(options)) return openInWorker(options);
  const pdb = await openPersistentDb({
    name: databaseName(name, user), backend: backend ?? idbBackend(), pages: options.pages ?? 'auto', ...(locks && { locks }),
  });
  const db = new Sloop(pdb, options);
  try {
    await db.init();
  } catch (e) {
    await db.close().catch(() => {});
    throw e;
  }
  return db;
}

/**
 * Deletes a local database (the recovery path after a 'corrupt' error, or removing a user's
 * data from a shared browser). Unsynced writes are lost. No handle may have it open.
 * @param {{name: string, user?: string, backend?: object}} options as given to openSloop
 */
export async function deleteSloop({ name, user, backend }) {
  await deletePersistentDb({ name: databaseName(name, user), backend: backend ?? idbBackend() });
}
