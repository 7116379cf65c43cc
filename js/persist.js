/**
 * persist.js -- durable Sloop databases: the CoreDb on a storage backend.
 *
 * ```js
 * import { openPersistentDb } from './persist.js';
 * import { idbBackend } from './storage/idb-backend.js';
 * const pdb = await openPersistentDb({ name: 'notes', backend: idbBackend() });
 * await pdb.call('put', 'notes', 'n1', { title: 'Pump 4' }); // resolves once durable
 * pdb.addEventListener('change', () => refresh());           // another tab committed
 * pdb.addEventListener('error', (e) => warn(e.detail.error.code)); // 'quota', 'storage', 'fenced', 'lost'
 * ```
 *
 * Backends: `idbBackend()` (browser IndexedDB, or fake-indexeddb in Node) flushes each
 * commit's changed pages in one IndexedDB transaction and keeps pages in the WASM heap: all of
 * them ('image' mode), or, where the engine has JS Promise Integration, only those queries
 * touch, in a bounded LRU cache ('on-demand' mode: `pages: 'auto'`; then `core` is an
 * AsyncCoreDb whose methods return Promises);
 * `fileBackend()` (Node) reads and writes a database file on demand with fsync at commit.
 *
 * Tabs: one handle per database name holds the writer lock (Web Locks) and owns `core`. Other
 * handles are followers: `call()` is proxied to the writer over BroadcastChannel, on the
 * client's one call/reply/event layer (js/rpc.js: its message shapes and error wire),
 * and when the writer goes away the next handle in line takes over (re-sending unanswered
 * calls; a call whose writer died after executing it may run twice, so calls should be
 * idempotent, as Sloop's puts are). Every write is fenced by the epoch in the commit record.
 *
 *   follower -> writer   call <CoreDb method> (args)   only the writer answers; others decline
 *   writer -> all        event 'writer'                 a new writer: re-send what is unanswered
 *   writer -> all        event 'change' (seq)           commits up to seq are durable
 *
 * Events (CustomEvent, details in `detail`): 'durable' {upTo, pages} after each flush;
 * 'change' {seq} when another handle's commit became durable; 'writer' when this handle
 * became the writer; 'error' {error} for every failed flush (retried unless code is 'fenced' or 'lost').
 * @module sloop/persist
 */
import { loadModule, moduleSuspends, CoreDb } from './core.js';
import { SloopError, closedError } from './errors.js';
import { AsyncCoreDb } from './core-async.js';
// Imported by core.js; named here too so that a page requests it with core.js, one import
// level sooner (each level is a round trip at cold start, docs/PERSISTENCE.md "Cold start").
import './jspi.js';
import {
  hostOf, decodeRecord, encodeRecord, loadImage, imageStats, dropImage,
} from './storage/host.js';
import { FlushScheduler, isFinal } from './storage/flusher.js';
import { StartupPages } from './storage/startup.js';
import { defaultLocks, openChannel } from './storage/tabs.js';
import { RpcEndpoint, DECLINE } from './rpc.js';

/** CoreDb methods a follower may not proxy: lifecycle and internals. */
const NOT_CALLABLE = new Set([
  'constructor', 'close', 'check', 'invoke', 'after', 'rc', 'text', 'json', 'write',
  'keepAnswer', 'takeAnswer', 'dropAnswer',
]);
/**
 * Calls that only read (search may commit pending index updates, which a later search
 * repeats if they are lost). Like every call they answer once the commits before them are
 * durable, but not while flushes are failing (whenDurable's untilFailure): a full disk can
 * postpone durability for as long as the user takes to free space, and an app whose reads
 * waited that long would freeze. Then they answer at once, from what is in memory; the writes
 * they may show still wait for durability themselves, and the 'error' events say why.
 */
const READS = new Set(['get', 'query', 'search', 'recordState', 'conflicts', 'ops']);
/** Replies a writer remembers, so a re-sent call is answered instead of run twice. */
const REMEMBERED_REPLIES = 1000;
/**
 * Other tabs hear of durable commits at most once per this many ms (and always of the last):
 * in a CPU profile of back-to-back durable single writes, BroadcastChannel posts took 0.1-0.4
 * ms each, against ~1.2-1.5 ms per write; a live query elsewhere refreshes at most this late.
 */
const CHANGE_EVERY_MS = 50;
/**
 * Default page cache of an on-demand database: full by 10,000 records of the benchmark's notes,
 * so the heap stops growing there (docs/PERSISTENCE.md, memory: 22 MiB after 100,000 records,
 * +12-14% from 10,000; 12 MiB gave 24.5 MiB, +21-24%).
 */
const DEFAULT_CACHE_BYTES = 10 * 1024 * 1024;

/** A durable database handle; create with openPersistentDb(). */
export class PersistentDb extends EventTarget {
  constructor({ name, backend, role, locks, retryMs, pages, cacheBytes }) {
    super();
    Object.assign(this, { name, backend, role, locks, retryMs, pages, cacheBytes });
    /**
     * How the database's pages are held: 'on-demand' (fetched as read, bounded cache),
     * 'image' (the whole database in the heap), 'file' (the file backend); null until open.
     * @type {'on-demand'|'image'|'file'|null}
     */
    this.mode = null;
    this.tabId = globalThis.crypto.randomUUID();
    /** @type {CoreDb|null} the local core database, set while this handle is the writer */
    this.core = null;
    this.isWriter = false;
    /** @type {boolean|null} result of navigator.storage.persist(), null where unavailable */
    this.persisted = null;
    /** This handle's calls proxied to the writer, until they settle (whenDurable). */
    this.proxied = new Set();
    /** The tabs' channel, on the rpc layer; null until open. */
    this.rpc = null;
    /** Why this handle's claim failed, while no other handle has announced itself the writer. */
    this.claimError = null;
    /** Whether this handle waits in the writer lock's queue (queueForLock). */
    this.queued = false;
    /** The claim of the store queueForLock made, while it runs or after (closeNow waits for it). */
    this.claiming = null;
    /** Other tabs' calls run here, by id: the promise of each answer (answer). */
    this.replies = new Map();
    this.closed = false;
    this.release = null;
    this.changeTimer = null;
    this.announcedSeq = 0;
    this.checkpointTimer = null;
  }

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  async start({ requestPersistence }) {
    const loading = loadModule(this.role);
    loading.catch(() => {}); // awaited below, where a failure surfaces
    // While the module downloads and compiles: what the claim will read (the claim itself
    // needs the module's record codec), and the persistence request. A wrong guess of the mode,
    // or a handle that turns out a follower, costs one read-only transaction; the claim checks
    // the store did not change since.
    const willClaimOnDemand = this.pages !== 'image' && this.backend.readAhead && moduleSuspends(this.role)
      && typeof this.backend.readPages === 'function';
    let ahead = willClaimOnDemand ? this.backend.readAhead(this.name).catch(() => null) : null;
    const persisting = this.backend.kind !== 'file' && requestPersistence && globalThis.navigator?.storage?.persist
      ? navigator.storage.persist().catch(() => null) : null;
    this.mod = await loading;
    this.host = hostOf(this.mod);
    this.codec = { decode: (b) => decodeRecord(this.mod, b), encode: (r) => encodeRecord(this.mod, r) };
    if (this.backend.kind === 'file') return this.openFile();
    const onDemand = this.mod.sloopJspi === true && typeof this.backend.readPages === 'function';
    if (this.pages === 'on-demand' && !onDemand) {
      throw new SloopError('invalid', 'on-demand pages need JS Promise Integration and a backend with readPages');
    }
    this.mode = this.pages !== 'image' && onDemand ? 'on-demand' : 'image';
    // Not awaited: a browser may ask the user first (Firefox does), and the answer may never come.
    persisting?.then((persisted) => { this.persisted = persisted; });
    this.channel = openChannel(this.name);
    this.rpc = new RpcEndpoint(this.channel, {
      self: this.tabId,
      // A closing writer takes no more calls: the caller sends them again to the next writer.
      serve: (method, args, msg) => (this.isWriter && !this.closed ? this.answer(msg) : DECLINE),
      onEvent: (event, detail) => this.onEvent(event, detail),
    });
    this.abort = new AbortController();
    this.released = new Promise((resolve) => { this.release = resolve; });
    this.lockName = `sloop:${this.name}`;
    await new Promise((opened, failed) => {
      this.locks.request(this.lockName, { ifAvailable: true }, async (lock) => {
        // The lock's callbacks live as long as this handle: they must not keep what was read.
        const takeAhead = () => { const read = this.mode === 'on-demand' ? ahead : null; ahead = null; return read; };
        if (!lock) {
          takeAhead();
          opened();
          return this.queueForLock();
        }
        try {
          await this.becomeWriter(await takeAhead());
        } catch (e) {
          return failed(e);
        }
        opened();
        await this.released;
      }).catch(failed);
    });
  }

  /**
   * Queues for the writer lock: granted when the writer closes or its tab dies. A claim that
   * fails releases it at once (holding would block every handle in line) and leaves the queue:
   * this handle queues again once another handle claims the store (onEvent, 'writer'), so a
   * transient failure does not leave it without a writer when that one closes too.
   */
  queueForLock() {
    this.queued = true;
    this.locks.request(this.lockName, { signal: this.abort.signal }, async () => {
      // A closing handle still claims the store for calls it sent that no writer answered:
      // its close waits for them (closeNow), and would wait for ever.
      if (this.closed && this.proxied.size === 0) return;
      try {
        // Kept for a close made meanwhile: it closes what the claim opens.
        this.claiming = this.becomeWriter();
        await this.claiming;
      } catch (error) {
        this.queued = false;
        this.claimFailed(error);
        return this.emit('error', { error });
      }
      await this.released;
    }).catch(() => {});
  }

  openFile() {
    this.host.fileIo = this.backend.io;
    this.core = CoreDb.open(this.mod, { path: this.name, vfs: this.backend.vfs, role: this.role });
    // EXTRA: fsync the directory after deleting the journal, the rollback-journal commit point.
    this.core.sql('PRAGMA synchronous=EXTRA');
    this.mode = 'file';
    this.isWriter = true;
  }

  /**
   * Claims the store (new epoch), loads its image, and opens the core database on it.
   * @param {object|null} [ahead] on demand, the backend's readAhead of the store, if any
   */
  async becomeWriter(ahead = null) {
    const onDemand = this.mode === 'on-demand';
    const snap = await this.backend.claim(this.name, this.codec, { onDemand, ...(ahead && { ahead }) });
    Object.assign(this, { epoch: snap.epoch, seq: snap.seq });
    // On demand, a page read takes whole IndexedDB records, and a log record holds up to
    // 1 MiB of pages: a log left by a tab that was closed or killed before its checkpoint
    // (at most the log's bound, whatever the database's size) goes into the page records
    // first, so the first queries read pages, not log records. Measured: a cold start after
    // a bulk write went from ~450 ms back to ~170.
    if (onDemand) await this.drainLog();
    // The pages the last session fetched first, read by the claim (storage/startup.js).
    if (onDemand && this.backend.saveStartupPages) {
      this.startup = new StartupPages(snap.startup ?? [], snap.prefetched ?? new Map(),
        (list) => this.backend.saveStartupPages(this.name, list));
    }
    this.flusher = new FlushScheduler({
      write: (batch) => this.writeBatch(batch),
      onDurable: (upTo, batch) => {
        this.emit('durable', { upTo, pages: batch.pages.size });
        this.announceChange();
        // After this turn's microtasks: a write awaiting this flush commits first, and waits
        // for no checkpoint unless the log reached its bound.
        // One timer at a time: back-to-back writes leave the log due after every flush.
        if (!this.checkpointTimer && this.backend.checkpointDue?.(this.name)) {
          this.checkpointTimer = setTimeout(() => {
            this.checkpointTimer = null;
            this.checkpoint({ all: false });
          }, 0);
        }
      },
      onError: (error) => this.emit('error', { error }),
      ...(this.retryMs && { retryMs: this.retryMs }),
    });
    this.storeId = this.host.registerStore((commit) => {
      this.startup?.committed(commit);
      return this.flusher.add(commit);
    },
      onDemand ? (first, n) => this.fetchPages(first, n) : null, this.backend.commitLayout ?? null);
    this.key = `${this.tabId}/${this.name}`;
    try {
      if (onDemand) {
        const cachePages = Math.max(1, Math.floor(this.cacheBytes / snap.pageSize));
        loadImage(this.mod, this.key, this.storeId, snap.record, snap.pages[0] ? [snap.pages[0]] : [], snap.pageSize, { cachePages });
        this.core = await AsyncCoreDb.open(this.mod, { path: this.key, vfs: this.backend.vfs, role: this.role });
      } else {
        loadImage(this.mod, this.key, this.storeId, snap.record, snap.pages, snap.pageSize);
        this.core = CoreDb.open(this.mod, { path: this.key, vfs: this.backend.vfs, role: this.role });
      }
    } catch (e) {
      if (this.core) await this.core.close();
      this.core = null;
      this.startup?.close({ save: false });
      this.startup = null;
      dropImage(this.mod, this.key);
      this.host.unregisterStore(this.storeId);
      throw e;
    }
    this.isWriter = true;
    this.rpc.emit('writer');
    this.emit('writer');
    // This handle's own calls waiting for a writer run here now.
    for (const call of this.rpc.takePending()) {
      this.runHere(call.message.method, call.message.args).then(call.resolve, call.reject);
    }
  }

  /**
   * Tells the other tabs that commits became durable: at once if nothing was posted in the
   * last CHANGE_EVERY_MS, else once when that period ends, with the seq then durable.
   */
  announceChange() {
    if (this.changeTimer) return;
    const post = () => this.rpc?.emit('change', this.seq);
    post();
    this.changeTimer = setTimeout(() => {
      this.changeTimer = null;
      if (this.seq !== this.announcedSeq) this.announceChange();
    }, CHANGE_EVERY_MS);
    this.announcedSeq = this.seq;
  }

  /**
   * On-demand mode: pages first..first+n-1 as of the last commit SQLite made. A page whose
   * commit is not yet durable comes from the flush queue (pending, else in flight), else from
   * the startup pages the claim read, else from the store. The queue is read before the store
   * is: no commit can happen while the VFS waits (the module is suspended), and a flush only
   * moves pages from the queue to the store.
   */
  async fetchPages(first, n) {
    if (!this.startup) return this.fetchStored(first, n);
    this.startup.willFetch(first, n);
    try {
      return await this.fetchStored(first, n);
    } finally {
      this.startup.fetched();
    }
  }

  async fetchStored(first, n) {
    const queued = new Array(n);
    let missing = 0;
    for (let k = 0; k < n; k++) {
      queued[k] = this.flusher.queuedPage(first + k) ?? this.startup?.take(first + k);
      if (!queued[k]) missing++;
    }
    if (missing === 0) return queued;
    let stored;
    try {
      stored = await this.backend.readPages(this.name, first, n, { epoch: this.epoch, codec: this.codec });
    } catch (error) {
      // Fenced: this handle's cache and the newer writer's pages must not mix; lost: the store
      // is gone. Final either way, as for a flush.
      if (isFinal(error) && !this.flusher.fatal) {
        this.flusher.stop(error);
        this.emit('error', { error });
      }
      throw error;
    }
    return queued.map((bytes, k) => bytes ?? stored[k]);
  }

  /**
   * Page cache figures while this handle is the writer of an 'image' or 'on-demand' database:
   * {onDemand, residentPages, cachePages, dirtyPages, fetches, pagesFetched, pageCount}.
   * @returns {object|null}
   */
  cacheStats() {
    return this.isWriter && this.key ? imageStats(this.mod, this.key) : null;
  }

  async writeBatch(batch) {
    const seq = this.seq + 1;
    const record = this.codec.encode({
      epoch: this.epoch, seq, pageSize: batch.pageSize, fileSize: batch.fileSize, pagesWritten: batch.pages.size,
    });
    await this.backend.flush(this.name, { ...batch, epoch: this.epoch, prevSeq: this.seq, record }, this.codec);
    this.seq = seq;
  }

  /**
   * Runs a CoreDb method (put, get, search, query, ...) on the writer's database: here if this
   * handle is the writer, else proxied to it. Resolves with its result once every commit up to
   * and including it is durable; rejects with a SloopError.
   * @param {string} method
   * @param {...any} args structured-cloneable arguments
   * @returns {Promise<any>}
   */
  call(method, ...args) {
    if (this.closed) return Promise.reject(closedError());
    if (this.isWriter) return this.runHere(method, args);
    if (this.claimError) return Promise.reject(this.claimError);
    // Arguments a message cannot carry (a function in a document, a framework's reactive
    // proxy: DataCloneError) refuse the call at once, as 'invalid' (rpc.js): kept to be re-sent,
    // it would throw again at every re-send, and run if this handle became the writer, after
    // the app was told it failed.
    const proxied = this.rpc.call(method, args);
    this.proxied.add(proxied);
    const settled = () => this.proxied.delete(proxied);
    proxied.then(settled, settled);
    return proxied;
  }

  async runHere(method, args) {
    if (NOT_CALLABLE.has(method) || typeof this.core?.[method] !== 'function') {
      throw new SloopError('invalid', `'${method}' is not a database method`);
    }
    let result;
    try {
      result = await this.core[method](...args);
    } catch (e) {
      // A page read refused as fenced (or lost) reaches SQLite as an I/O error; say why.
      throw isFinal(this.flusher?.fatal) ? this.flusher.fatal : e;
    }
    await this.whenDurable({ untilFailure: READS.has(method) });
    return result;
  }

  /**
   * This handle was next in line for the writer lock and could not claim the store (a damaged
   * store, a storage error): the calls it has waiting for a writer reject with why, and so do
   * the ones it makes until another handle announces itself as the writer. Otherwise they
   * would wait for a writer that may never come.
   * @param {Error} error
   */
  claimFailed(error) {
    this.claimError = error;
    this.rpc.rejectAll(error);
  }

  onEvent(event, detail) {
    if (event === 'writer') {
      this.claimError = null;
      if (!this.queued && !this.closed && !this.isWriter) this.queueForLock();
      this.rpc.resend();
    } else if (event === 'change') {
      this.emit('change', { seq: detail });
    }
  }

  /**
   * Writer: runs another tab's call. A call re-sent (its caller heard of a new writer before
   * this one's reply) is answered from memory, not run twice (a counter's $inc counted twice);
   * close() waits for the replies of the calls run here (rpc.answered()), so a call run here
   * is never left to run again on the next writer.
   */
  answer({ id, method, args }) {
    if (this.replies.has(id)) return this.replies.get(id);
    const answer = this.runHere(method, args).catch((e) => {
      throw e?.code ? e : new SloopError('storage', String(e?.message ?? e));
    });
    this.replies.set(id, answer);
    if (this.replies.size > REMEMBERED_REPLIES) this.replies.delete(this.replies.keys().next().value);
    return answer;
  }

  /**
   * Resolves once every commit made so far through this handle is durable (for a follower:
   * once its pending calls are answered). Stays pending across retried failures; rejects with
   * code 'fenced' if another writer took over the store.
   * @param {{untilFailure?: boolean}} [options] the writer's flusher's (FlushScheduler.whenDurable)
   * @returns {Promise<void>}
   */
  whenDurable(options) {
    if (this.flusher) return this.flusher.whenDurable(options);
    if (this.isWriter) return Promise.resolve(); // file backend: durable when the call returns
    return Promise.allSettled([...this.proxied]).then(() => {});
  }

  /**
   * Checkpoints the store's log into its page records (IndexedDB backends; a no-op elsewhere),
   * one bounded step at a time, while this handle is the writer. Runs by itself in the
   * background after a durable flush leaves the log due: when no flush is waiting (writes go
   * first: a step in flight delays a flush by one step), or at once when the log reached its
   * bound. One run at a time.
   * @param {{all?: boolean}} [options] all (default): until the log is empty; else while due
   * @returns {Promise<void>} resolves when done; rejects with 'fenced' or a storage error
   */
  checkpoint({ all = true } = {}) {
    if (!this.backend.checkpoint || !this.flusher) return Promise.resolve();
    if (!all && this.checkpointing) return this.checkpointing;
    const previous = this.checkpointing ?? Promise.resolve();
    const writing = () => this.flusher.pending || this.flusher.inflight;
    const wanted = () => {
      const due = this.backend.checkpointDue(this.name);
      return due === 'now' || (due === 'idle' && !writing());
    };
    const run = previous.catch(() => {}).then(async () => {
      const owner = { epoch: this.epoch, codec: this.codec };
      while (!this.closed && !this.flusher.fatal && (all || wanted())) {
        if (!(await this.backend.checkpoint(this.name, owner))) break;
      }
    });
    this.checkpointing = run;
    run.catch((error) => {
      if (isFinal(error) && !this.flusher.fatal) this.flusher.stop(error);
      // The log stays as it was (each step is atomic); the next durable flush tries again.
      if (!all) this.emit('error', { error });
    }).finally(() => { if (this.checkpointing === run) this.checkpointing = null; });
    return run;
  }

  /**
   * Checkpoints the whole log, step by step, outside the background runs (at open before the
   * first read, and at close, when `checkpoint()` no longer runs).
   * @returns {Promise<void>} rejects with 'fenced' or a storage error; the log stays as it was
   */
  async drainLog() {
    if (!this.backend.checkpoint) return;
    const owner = { epoch: this.epoch, codec: this.codec };
    while (await this.backend.checkpoint(this.name, owner));
  }

  /** Retries a failed flush now, e.g. after the app freed storage. */
  retryNow() {
    this.flusher?.retryNow();
  }

  /**
   * Waits for durability (unless fenced), closes the core database and lets the next handle
   * in line become the writer. A follower waits for the answers to the calls it sent the
   * writer, which applies them whatever this handle does.
   *
   * While flushes fail and are retried (a full disk), the wait lasts until one succeeds: the
   * 'error' events say why. A close({waitDurable: false}) made meanwhile ends that wait, and
   * both calls resolve once the handle is closed.
   * @param {{waitDurable?: boolean}} [options] waitDurable false abandons commits not yet
   *   durable (they stay lost, as if the tab had been killed), and a follower's calls not yet
   *   answered (they reject as 'closed', and may still be applied); the default waits
   */
  close({ waitDurable = true } = {}) {
    if (this.closed) {
      if (!waitDurable) this.abandonClose?.();
      return this.closing;
    }
    this.closed = true;
    this.closing = this.closeNow(waitDurable);
    return this.closing;
  }

  async closeNow(waitDurable) {
    const abandoned = new Promise((resolve) => { this.abandonClose = resolve; });
    let waiting = waitDurable;
    // Awaits what `start` returns unless the close was abandoned (before, or meanwhile).
    const wait = async (start) => {
      if (waiting) waiting = await Promise.race([start().then(() => true, () => true), abandoned.then(() => false)]);
    };
    // Other tabs' calls run here are answered before the channel closes (answer).
    await wait(() => this.rpc?.answered() ?? Promise.resolve());
    // A follower's calls are run by the writer: rejected as closed now, one the writer applies
    // would be reported failed (and a retried $inc would count twice). They are answered first;
    // should the writer go meanwhile, this handle claims the store to run them (queueForLock).
    if (!this.isWriter) await wait(() => Promise.allSettled([...this.proxied]));
    // A claim under way (the lock came while closing, or just before) ends first: what it
    // opens is closed below, as a writer's.
    await this.claiming?.catch(() => {});
    if (this.flusher) await wait(() => this.flusher.whenDurable());
    waitDurable = waiting;
    // A closing writer empties the log (each step atomic; a failure leaves the log to the
    // next writer), so the next open reads no log. Abandoning (waitDurable false) lets a step
    // in flight finish and starts none.
    await this.checkpointing?.catch(() => {});
    if (this.flusher && waitDurable && !this.flusher.fatal) {
      // Fenced or a storage failure: the log stays, whole, for the next writer.
      await this.drainLog().catch(() => {});
    }
    // A fenced writer's list would overwrite the new writer's: it is left unsaved.
    await this.startup?.close({ save: !this.flusher?.fatal });
    this.startup = null;
    await this.core?.close();
    this.core = null;
    if (this.key) dropImage(this.mod, this.key);
    if (this.storeId) this.host.unregisterStore(this.storeId);
    this.flusher?.stop(closedError());
    this.isWriter = false;
    clearTimeout(this.changeTimer);
    if (this.changeTimer && this.seq !== this.announcedSeq) this.rpc?.emit('change', this.seq);
    this.changeTimer = null;
    this.abort?.abort();
    this.release?.();
    this.rpc?.close(); // this handle's calls still waiting reject as closed
    this.channel?.close();
  }
}

/**
 * Opens a durable database. Resolves once this handle is the writer (its `core` is open) or
 * a follower of the handle that is; rejects with code 'corrupt' if the stored image fails
 * validation (recover with deletePersistentDb() and a fresh sync from the server).
 * @param {object} options
 * @param {string} options.name database name (for the file backend, its path)
 * @param {object} options.backend idbBackend() or fileBackend()
 * @param {'client'|'server'} [options.role]
 * @param {object} [options.locks] a LockManager; defaults to navigator.locks or one per process
 * @param {boolean} [options.requestPersistence] ask navigator.storage.persist() (default true)
 * @param {number[]} [options.retryMs] backoff between flush retries
 * @param {'image'|'auto'|'on-demand'} [options.pages] IndexedDB backends: 'image' loads the
 *   whole database into the heap at open (synchronous `core`); 'auto' reads pages on demand
 *   where the engine has JS Promise Integration and falls back to 'image' elsewhere;
 *   'on-demand' insists (rejects with 'invalid' without JSPI). On demand, `core` is an
 *   AsyncCoreDb (every method returns a Promise). `pdb.mode` says which mode runs.
 * @param {number} [options.cacheBytes] on demand: pages kept in the heap (default 10 MiB)
 * @returns {Promise<PersistentDb>}
 */
export async function openPersistentDb({
  name, backend, role = 'client', locks = defaultLocks(), requestPersistence = true, retryMs,
  pages = 'image', cacheBytes = DEFAULT_CACHE_BYTES,
}) {
  if (!name || !backend) throw new SloopError('invalid', 'openPersistentDb needs a name and a backend');
  if (!['image', 'auto', 'on-demand'].includes(pages)) throw new SloopError('invalid', `unknown pages mode '${pages}'`);
  const pdb = new PersistentDb({ name, backend, role, locks, retryMs, pages, cacheBytes });
  try {
    await pdb.start({ requestPersistence });
  } catch (e) {
    await pdb.close().catch(() => {});
    throw e;
  }
  return pdb;
}

/**
 * Deletes a stored database: the recovery path after 'corrupt'. No handle may have it open.
 * @param {{name: string, backend: object}} options
 */
export async function deletePersistentDb({ name, backend }) {
  await backend.destroy(name);
}
