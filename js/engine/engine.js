/**
 * engine.js -- the writer side of a Sloop database: persistence (js/persist.js: durable core
 * calls, one writer per database across tabs), the sync scheduler (js/client/scheduler.js),
 * change collection, counts, status and events, and what the tabs of one database say to each
 * other (js/engine/tab-peers.js). It runs wherever openSloop put it (a dedicated worker, or the
 * page's own thread) and knows nothing of the page: the public handle (js/sloop.js) talks to it
 * only through js/engine/serve.js, and hears its events through `emit`.
 *
 * Tabs: every tab has an engine; the one whose persistent database is the writer runs sync and
 * publishes status and events to the others, which pass them on to their handles. A follower's
 * core calls are proxied by persist.js; its sync() is run by the writer (tab-peers.js).
 *
 * Errors: every rejection is a SloopError (js/errors.js) with a stable `code`.
 * @module sloop/engine/engine
 */
import { SloopError, closedError } from '../errors.js';
import { SyncScheduler, SYNC_DEFAULTS } from '../client/scheduler.js';
import { toFtsQuery } from '../client/search-query.js';
import { openTabPeers } from './tab-peers.js';
import { globalEnvironment } from '../client/environment.js';

/** While a pull is running, counts (a scan of all records) are refreshed at most this often. */
const COUNTS_EVERY_MS = 500;

/** The engine of one open database; create with openEngine() (js/engine/serve.js). */
export class SloopEngine {
  /**
   * @param {import('../persist.js').PersistentDb} pdb
   * @param {object} options openSloop's (auth: the handle's, asked over rpc)
   * @param {(event: string, detail: any) => void} emit raises an event at this engine's handle
   */
  constructor(pdb, { name, user, serverUrl, schema, scope, auth, fetch, sync, environment, tabsName }, emit) {
    this.persistent = pdb;
    this.emit = emit;
    this.name = name;
    this.user = user ?? null;
    this.serverUrl = serverUrl ? String(serverUrl).replace(/\/+$/, '') : '';
    this.schema = schema;
    /**
     * What this replica pulls and keeps (docs/CLIENT.md, Pull scopes); null: all the user may
     * read; undefined: the stored scope, whatever it is (another tab or page set it).
     */
    this.scope = scope;
    this.auth = auth ?? {};
    this.fetchFn = fetch ?? ((...args) => globalThis.fetch(...args));
    this.syncOptions = { ...SYNC_DEFAULTS, ...sync, backoff: { ...SYNC_DEFAULTS.backoff, ...sync?.backoff } };
    this.closed = false;
    this.scheduler = null;
    this.pausedByUser = false;
    this.environment = environment ?? globalEnvironment();
    this.counts = { pendingOps: 0, failedOps: 0, openConflicts: 0 };
    this.countsTimer = null;
    /** @type {import('../sloop.js').SloopStatus} */
    this.current = {
      online: this.environment.online, syncing: false, pendingOps: 0, failedOps: 0,
      openConflicts: 0, pullPage: 0, pullPages: 0, lastSyncAt: null, auth: 'ok', paused: false,
      error: null, writer: false, pages: pdb.mode,
    };
    this.tabs = openTabPeers(tabsName, this);
    this.onDurable = () => this.collectChanges();
    // Sync requests waiting for a writer fail with why none will run them: this tab's writer
    // set-up failed, or its claim did (the persistent handle rejects its own calls then).
    this.onWriter = () => this.becomeWriter().catch((error) => {
      this.tabs.failSyncRequests(error);
      this.emit('error', { error });
    });
    this.onStorageError = (e) => {
      if (pdb.claimError) this.tabs.failSyncRequests(pdb.claimError);
      this.emit('error', e.detail);
    };
    pdb.addEventListener('durable', this.onDurable);
    pdb.addEventListener('writer', this.onWriter);
    pdb.addEventListener('error', this.onStorageError);
  }

  /** Whether this tab runs sync (its persistent database is the writer). */
  get isWriter() {
    return this.persistent.isWriter;
  }

  /**
   * Applies the schema and the scope (a scope other than the stored one makes the core resync
   * under it), learns the device id, and starts syncing if this tab is the writer. Without a
   * scope option the stored scope stays: a second tab, or a page that does not deal in scopes,
   * must not clear the one the app's main page set (a full resync); it only sweeps what aged
   * out of it, as setScope does on open.
   */
  async init() {
    await this.persistent.call('setSchema', this.schema);
    if (this.scope === undefined) await this.persistent.call('evictScope');
    else await this.persistent.call('setScope', this.scope);
    this.device = JSON.parse(await this.persistent.call('pullRequest', 1)).device;
    if (this.isWriter) await this.becomeWriter();
    else this.tabs.hello();
  }

  /** @returns {import('../sloop.js').SloopStatus} a copy */
  get status() {
    return { ...this.current, error: this.current.error && { ...this.current.error } };
  }

  /** Writer: raises an event at this handle and, through the tabs, at every other. */
  publish(event, detail) {
    this.emit(event, detail);
    this.tabs.publish(event, detail);
  }

  /** Follower: an event the writer published. */
  heard(event, detail) {
    if (event === 'status') this.current = { ...detail, writer: false };
    this.emit(event, event === 'status' ? this.status : detail);
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

  /** This tab's persistent database became the writer: the scheduler starts here. */
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
    this.tabs.announceWriter();
    // On demand these are Promises: the status must be current when open() resolves.
    await this.collectChanges();
    await this.refreshCounts();
    // Sync requests this tab sent to the old writer, which may never answer them now.
    this.tabs.runOwnSyncRequests();
    this.scheduler?.start();
  }

  // ---- changes, counts, events (writer) ---------------------------------------------------

  /**
   * Writer: takes the core's changes and tells the handles and the scheduler. The core's queue
   * mixes record states and text fields' edits; the event keeps them apart (`changes` as
   * before, `textEdits` new) so a listener of one never sees the other's shape.
   */
  collectChanges({ throttleCounts = false } = {}) {
    const core = this.persistent.core;
    if (!core || this.closed) return undefined;
    return this.withCore(core.takeChanges(), (entries) => {
      if (entries.length === 0 || this.closed) return;
      const detail = { changes: entries.filter((c) => !c.edits), textEdits: entries.filter((c) => c.edits) };
      this.publish('change', detail);
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
   * After a write: the writer collects its changes at once (no wait for the durable event) and
   * plans a push; a follower asks the writer to plan one.
   */
  async written(promise) {
    const result = await promise;
    if (this.isWriter) {
      const collected = this.collectChanges();
      if (collected) await collected; // on demand: the change event before the write resolves
      this.scheduler?.afterWrite();
    } else {
      this.tabs.written();
    }
    return result;
  }

  /** A core call by name, on the writer's database (proxied there from a follower). */
  coreCall(method, ...args) {
    if (this.closed) return Promise.reject(closedError());
    return this.persistent.call(method, ...args);
  }

  // ---- the methods of js/client/methods.js that the engine implements itself ---------------

  /** Rows of a collection: {id, doc, state}. */
  query(coll, query = {}) {
    return this.coreCall('query', coll, query ?? {});
  }

  /** Full-text search; `text` is what a user typed, taken literally (search-query.js). */
  async search(coll, text, { limit = 50 } = {}) {
    const match = toFtsQuery(text);
    if (!match) return [];
    // After a large pull the index catches up in slices, a commit each (the scheduler); a
    // search would otherwise index all that is left in its own one commit first.
    await this.scheduler?.searchCaughtUp;
    return this.coreCall('search', coll, match, limit);
  }

  /** Operations the server refused, in their public shape. */
  async failedOps() {
    return failedOpsOf(await this.coreCall('ops', 'failed'));
  }

  /** Queues failed operations again (one, or all when opId is omitted); each gets a new id. */
  async retry(opId) {
    await this.written(this.coreCall('retry', opId ?? null));
  }

  /** Drops a failed operation: the record returns to the server's state. */
  async discard(opId) {
    await this.written(this.coreCall('discard', opId));
  }

  /** Syncs now: here if this tab is the writer, else the writer tab runs it (tab-peers.js). */
  sync() {
    if (this.closed) return Promise.reject(closedError());
    if (!this.serverUrl) return Promise.reject(new SloopError('invalid', 'no serverUrl: this database is local only'));
    if (this.isWriter) return this.syncHere();
    if (this.persistent.claimError) return Promise.reject(this.persistent.claimError);
    return this.tabs.requestSync();
  }

  /** Writer: one cycle now, then fresh counts. */
  async syncHere() {
    if (!this.scheduler) throw new SloopError('invalid', 'no serverUrl: this database is local only');
    await this.scheduler.syncNow();
    await this.refreshCounts();
  }

  /** Stops automatic sync in every tab (sync() still works) until resume(). */
  pause() {
    this.tabs.setPausedEverywhere(true);
    this.setPaused(true);
  }

  /** Restarts automatic sync, also after a sign-in when auth was 'needs-reauth' or 'signed-out'. */
  resume() {
    this.tabs.setPausedEverywhere(false);
    this.setPaused(false);
  }

  /** This tab's part of pause() and resume(), wherever they were called. */
  setPaused(paused) {
    this.pausedByUser = paused;
    if (!this.isWriter) return;
    if (paused) this.scheduler?.pause();
    else {
      if (authStops(this.current.auth)) this.setStatus({ auth: 'ok' });
      this.scheduler?.resume();
    }
    this.setStatus({ paused });
  }

  /**
   * Stops syncing, waits for local writes to be durable, and lets another tab take over. A
   * second close({waitDurable: false}) ends the first one's wait for durability (persist.js).
   * @param {{waitDurable?: boolean}} [options]
   */
  async close(options = {}) {
    if (this.closed) return this.persistent.close(options);
    this.closed = true;
    this.scheduler?.stop();
    clearTimeout(this.countsTimer);
    const pdb = this.persistent;
    pdb.removeEventListener('durable', this.onDurable);
    pdb.removeEventListener('writer', this.onWriter);
    pdb.removeEventListener('error', this.onStorageError);
    // The tabs' channel stays open while a follower's writes are answered (persist.js waits
    // for them): each then still tells the writer to plan its push (written).
    try {
      await pdb.close(options);
    } finally {
      this.tabs.close();
    }
  }
}

/** Auth states in which automatic sync waits for a sign-in. */
function authStops(auth) {
  return auth === 'needs-reauth' || auth === 'signed-out';
}

/** The public shape of failed operations. */
function failedOpsOf(ops) {
  return ops.map(({ id, coll, rid, type, payload, lastError, attempts }) => ({ id, coll, rid, type, payload, lastError, attempts }));
}
