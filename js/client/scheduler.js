/**
 * scheduler.js -- when and how the writer tab syncs: pushes pending operations in log order,
 * then pulls until the server has nothing more (pull-loop.js), retrying failures with backoff.
 *
 * Every core call goes through `call` (the persistent database's call(), so each step is
 * durable before the next request leaves). One cycle runs at a time; triggers that arrive
 * during a cycle fold into one more cycle after it.
 *
 * Triggers: a local write (after `debounceMs`), the `online` event and the page becoming
 * visible (both at once, forgetting the backoff: the conditions changed), a timer every
 * `intervalMs` while the page is visible, and explicit sync(). A failed cycle is retried after
 * an exponential, jittered, capped delay; automatic triggers wait for it, sync() does not.
 *
 * Auth: a 401 `expired` calls auth.refresh() once and repeats the request with the new token;
 * without one (or on 401 `unauthenticated`, 403 `stepup`, 403 `device`) sync stops with auth
 * 'needs-reauth' and the operations stay pending until resume() or sync() after a sign-in.
 * No token at all (getToken answers null, and refresh cannot make one) is auth 'signed-out':
 * sync stops the same way, but nobody was refused, so the app shows a sign-in, not an error.
 *
 * A push whose fetch rejects is a network failure even when the service worker queued it:
 * pushFail() returns its operations to the queue, and the next push repeats them under the
 * same ids, which the server answers idempotently. Only such failures (network, 408, 429,
 * 5xx) are retried with backoff. A push refused whole with an answer that cannot change on
 * retry (transport kind 'refused': a 4xx other than 401/408/429, 413 included) goes to the
 * core's pushRefused(), which halves the batch in flight or, for a batch of one, marks the
 * operation failed with the answer's code; the loop pushes on, so the operation at fault
 * ends in failedOps() and every other one goes through (after a 413 the rest of the cycle's
 * batches are no larger than the one that fitted). A refused pull is reported in
 * status.error and not retried in a backoff loop, except 410 `resync` and 400 `cursor` (a
 * server restored from a backup), which start a resync (the core's resyncBegin; its progress
 * in status.resync) and pull on.
 *
 * Not here: what the operations are (the core), and who is the writer (the client).
 * @module sloop/client/scheduler
 */
import { SloopError } from '../core.js';
import { postJson, backoffDelay, withTimeout } from './transport.js';
import { globalEnvironment } from './environment.js';
import { pullPages } from './pull-loop.js';

/** Default sync options; each can be overridden alone. */
export const SYNC_DEFAULTS = Object.freeze({
  pushBatch: 100,
  pullPage: 200,
  debounceMs: 300,
  intervalMs: 30_000,
  /** A request, a token from auth.getToken() or a refresh from auth.refresh() that takes
   * longer fails the cycle as a network failure (retried with backoff) instead of holding it. */
  requestTimeoutMs: 60_000,
  backoff: Object.freeze({ baseMs: 1_000, maxMs: 60_000 }),
});

/** Records indexed for search per call of the catch-up after a sync: tens of milliseconds. */
const SEARCH_SLICE = 2000;

/**
 * Lets the event loop run (input, rendering) between two pages of work. A macrotask, not a
 * microtask; not setTimeout(0), which browsers clamp to 4 ms once nested.
 */
export function yieldToEventLoop() {
  if (typeof globalThis.scheduler?.yield === 'function') return globalThis.scheduler.yield();
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => { port1.close(); resolve(); };
    port2.postMessage(null);
  });
}

/** Whether a refused pull is one that only a resync gets past (see pull()). */
const resyncs = (e) => (e.status === 410 && e.code === 'resync') || (e.status === 400 && e.code === 'cursor');

/**
 * The resync filter's false-positive rates, tried in turn. 0.01 costs about 1.2 bytes per
 * record held (docs/PROTOCOL.md, Resync), 1.6 in base64, so a replica of some 650,000 records
 * sends a request over the server's default 1 MiB body limit (413 `toobig`), which no retry
 * changes: the resync starts again with a filter a third of the size (0.2: more records sent
 * again that were already here), and then without one (0: a full round, every record sent).
 */
const RESYNC_FALSE_POSITIVE_RATES = Object.freeze([0.01, 0.2, 0]);

/** Where the position of a pull page's `remaining` count starts; the answer is not parsed. */
function remainingOf(text) {
  const at = text.lastIndexOf('"remaining":');
  return at < 0 ? 0 : parseInt(text.slice(at + 12, at + 32), 10) || 0;
}

/** A SloopError for a failed request, with `kind` from the transport. */
function requestError(outcome) {
  const err = new SloopError(outcome.code, outcome.message);
  err.kind = outcome.kind;
  err.status = outcome.status;
  return err;
}

export class SyncScheduler {
  /**
   * @param {object} o
   * @param {(method: string, ...args: any[]) => Promise<any>} o.call a core call, durable
   * @param {string} o.serverUrl base URL, no trailing slash
   * @param {{getToken: () => string|null|Promise<string|null>, refresh?: () => Promise<string|null>}} o.auth
   * @param {typeof fetch} o.fetch
   * @param {typeof SYNC_DEFAULTS} o.options
   * @param {(patch: object) => void} o.onStatus merges a change into the public status
   * @param {() => void} o.onStep after every core step that may have changed records
   * @param {boolean} [o.paused] start paused
   * @param {() => number} [o.random] for jitter
   * @param {EventTarget & {hidden: boolean}} [o.environment] online/offline/visible events
   */
  constructor({ call, serverUrl, auth, fetch, options, onStatus, onStep, paused = false, random = Math.random, environment = globalEnvironment() }) {
    Object.assign(this, { call, serverUrl, auth, fetchFn: fetch, options, onStatus, onStep, random, environment });
    this.paused = paused;
    this.authBlocked = false;
    this.attempt = 0;
    this.retryAt = 0;
    this.timer = null;
    this.timerAt = Infinity;
    this.current = null;
    this.queued = null;
    this.stopped = false;
    this.expiredToken = null;
    this.refreshedToken = null;
    this.listeners = [];
  }

  /** Installs the triggers (online, visibility, interval) and syncs once. */
  start() {
    const on = (target, type, fn) => {
      if (!target?.addEventListener) return;
      target.addEventListener(type, fn);
      this.listeners.push(() => target.removeEventListener(type, fn));
    };
    const env = this.environment;
    on(env, 'online', () => { this.onStatus({ online: true }); this.now(); });
    on(env, 'offline', () => this.onStatus({ online: false }));
    on(env, 'visible', () => this.now());
    if (this.options.intervalMs > 0) {
      const interval = setInterval(() => { if (!env.hidden) this.schedule(0); }, this.options.intervalMs);
      this.listeners.push(() => clearInterval(interval));
    }
    this.schedule(0);
  }

  /** Removes triggers and timers; a cycle in flight finishes its current request. */
  stop() {
    this.stopped = true;
    for (const remove of this.listeners.splice(0)) remove();
    this.clearTimer();
  }

  get blocked() {
    return this.stopped || this.paused || this.authBlocked;
  }

  /** Runs a cycle at once, forgetting the backoff (the network or the page came back). */
  now() {
    this.attempt = 0;
    this.retryAt = 0;
    this.schedule(0);
  }

  /**
   * Plans an automatic cycle in `delayMs`, not before the backoff allows; an earlier plan wins.
   * @param {number} delayMs
   */
  schedule(delayMs) {
    if (this.blocked) return;
    const at = Math.max(Date.now() + delayMs, this.retryAt);
    if (this.timer && this.timerAt <= at) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      if (!this.blocked) this.run().catch(() => {});
    }, at - Date.now());
  }

  /** A local write: sync after the debounce. */
  afterWrite() {
    this.schedule(this.options.debounceMs);
  }

  clearTimer() {
    clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  pause() {
    this.paused = true;
    this.clearTimer();
    this.onStatus({ paused: true });
  }

  resume() {
    this.paused = false;
    this.authBlocked = false;
    this.onStatus({ paused: false });
    this.now();
  }

  /**
   * Syncs now, whatever the backoff or a pause says; after a sign-in this is how sync
   * restarts. Resolves when a full cycle (begun after this call) has finished.
   * @returns {Promise<void>} rejects with the cycle's SloopError
   */
  syncNow() {
    this.authBlocked = false;
    return this.run();
  }

  /** Queues one cycle after the current one; concurrent requests share the queued one. */
  run() {
    if (this.queued) return this.queued;
    const before = this.current ? this.current.catch(() => {}) : Promise.resolve();
    const cycle = before.then(() => {
      this.queued = null;
      this.current = cycle;
      return this.cycle();
    }).finally(() => {
      if (this.current === cycle) this.current = null;
    });
    this.queued = cycle;
    return cycle;
  }

  async cycle() {
    if (this.stopped) throw new SloopError('closed', 'the database is closed');
    this.clearTimer();
    this.onStatus({ syncing: true });
    try {
      await this.pushAll();
      await this.pullAll();
    } catch (e) {
      throw this.failed(e);
    }
    this.attempt = 0;
    this.retryAt = 0;
    this.onStatus({
      syncing: false, online: true, auth: 'ok', paused: this.paused, error: null, retryAt: undefined,
      lastSyncAt: Date.now(), pullPage: 0, pullPages: 0, resync: undefined,
    });
    this.catchUpSearch();
  }

  /**
   * After a sync, in the background: indexes for search the records a large pull left behind
   * the index (the core's fts_behind.c), a slice per call, letting the event loop run between.
   * They are readable and queryable already, and a search that comes first catches up itself.
   * A failure (the database closed meanwhile, storage) leaves the rest where it was: to the
   * next sync's catch-up, or to a search. `searchCaughtUp` is the run in progress, if any: a
   * search waits for it rather than index what is left in its own one commit.
   * @returns {Promise<void>}
   */
  catchUpSearch() {
    if (!this.searchCaughtUp) {
      const run = (async () => {
        try {
          while (!this.stopped && await this.call('searchCatchUp', SEARCH_SLICE)) await yieldToEventLoop();
        } catch {
          // nothing is lost: the records stay behind the index's frontier
        }
      })();
      this.searchCaughtUp = run;
      run.then(() => { if (this.searchCaughtUp === run) this.searchCaughtUp = null; });
    }
    return this.searchCaughtUp;
  }

  /** Records a failed cycle in the status and plans what comes next; returns the error. */
  failed(e) {
    const err = e instanceof SloopError ? e : new SloopError('internal', String(e?.message ?? e));
    const error = { code: err.code, message: err.message };
    if (err.kind === 'reauth' || err.kind === 'expired' || err.kind === 'signed-out') {
      this.authBlocked = true;
      this.clearTimer();
      this.retryAt = 0;
      const auth = err.kind === 'signed-out' ? 'signed-out' : 'needs-reauth';
      this.onStatus({ syncing: false, auth, paused: true, error, retryAt: undefined });
      return err;
    }
    if (err.kind === 'refused') {
      // A refused pull (a refused push never gets here: it is narrowed) would be refused
      // again: no backoff loop; the next trigger tries once more.
      this.onStatus({ syncing: false, online: true, error });
      return err;
    }
    this.attempt += 1;
    const delay = backoffDelay(this.attempt, this.options.backoff, this.random);
    this.retryAt = Date.now() + delay;
    this.onStatus({ syncing: false, online: err.kind !== 'network', error, retryAt: this.retryAt });
    this.schedule(0);
    return err;
  }

  async pushAll() {
    // The body of the last batch answered 200. The core sends the batch in flight again until
    // an answer settles it; the same body again right after a 200 means the answer settled
    // none of it (a server that leaves operations out of `results`), and looping would send
    // it as fast as the server answers, for ever. That fails the cycle, retried with backoff.
    let answered = null;
    let batch = this.options.pushBatch;
    for (;;) {
      const body = await this.call('pushBegin', batch);
      if (!body) return;
      if (body === answered) {
        const e = requestError({ kind: 'transient', status: 200, code: 'unsettled', message: 'the server answered the push without settling its operations' });
        await this.call('pushFail', e.message);
        throw e;
      }
      let text;
      try {
        text = await this.post('/v1/push', body);
      } catch (e) {
        if (e.kind === 'refused') {
          // Sending the same batch again would be refused again: narrow it, and go on.
          const inFlight = await this.call('pushRefused', e.code, e.message);
          // 413: the body was too large. The size that fits is kept for the rest of the cycle,
          // or every later batch would be refused whole first; once the operation at fault
          // has failed alone, the others are tried at the full size again.
          if (e.status === 413) batch = inFlight > 0 ? inFlight : this.options.pushBatch;
          this.onStep();
          continue;
        }
        await this.call('pushFail', e.message);
        throw e;
      }
      await this.call('pushEnd', text);
      answered = body;
      this.onStep();
    }
  }

  async pullAll() {
    const pageSize = this.options.pullPage;
    // A resync that an earlier cycle or session left unfinished (its state is durable) goes on
    // with the first request here: shown from the start.
    let resync = await this.resyncProgress();
    if (resync) this.onStatus({ resync });
    for (let resyncing = false, filter = 0; ;) {
      try {
        await pullPages({
          call: this.call,
          post: (body) => this.post('/v1/pull', body),
          pageSize,
          onPage: async (page, text, more) => {
            const remaining = more ? remainingOf(text) : 0;
            const progress = { pullPage: page, pullPages: page + Math.ceil(remaining / pageSize) };
            // Absent (removed from the status) once the page that ended the resync is applied.
            if (resync) progress.resync = resync = await this.resyncProgress();
            this.onStatus(progress);
            this.onStep();
            if (more) await yieldToEventLoop();
          },
        });
        return;
      } catch (e) {
        // 410 `resync`: the server no longer keeps the changes since this replica's cursor, so
        // pulling from it again would be refused for ever. 400 `cursor`: the cursor is ahead of
        // the server's head, which a server restored from a backup is, and which no pull fixes
        // either. Resync instead (snapshot pages that carry a Bloom filter of what this replica
        // holds; pending and failed operations are kept, and pending ones are pushed by the
        // next cycle) and go on in this cycle. Once per cycle: a second refusal is a server
        // fault, reported. A resync request over the server's body limit: a smaller filter.
        if (resyncs(e) && !resyncing) {
          resyncing = true;
        } else if (e.status === 413 && resync && filter + 1 < RESYNC_FALSE_POSITIVE_RATES.length) {
          filter += 1;
        } else {
          throw e;
        }
        await this.call('resyncBegin', RESYNC_FALSE_POSITIVE_RATES[filter]);
        resync = await this.resyncProgress();
        this.onStatus({ resync });
      }
    }
  }

  /**
   * What status.resync shows: the resync under way (the core's pullProgress: its round, 1 to
   * 3, and the snapshot pages of that round, done and estimated; 0 of 0 until the first
   * answer), or undefined when none runs. A progressive initial sync is not a resync.
   * @returns {Promise<{round: number, page: number, pages: number}|undefined>}
   */
  async resyncProgress() {
    const p = await this.call('pullProgress');
    const running = (p?.phase === 'snapshot' || p?.phase === 'catchup') && (p.mode === 'filter' || p.mode === 'full');
    return running ? { round: p.rounds ?? 1, page: p.page ?? 0, pages: p.pages ?? 0 } : undefined;
  }

  /** The token to send: the app's, unless it still hands out one that refresh replaced. */
  async token() {
    let token;
    try {
      token = (await withTimeout(Promise.resolve(this.auth.getToken?.()), this.options.requestTimeoutMs, 'auth.getToken()')) ?? null;
    } catch (e) {
      if (!e?.timeout) throw e;
      throw requestError({ kind: 'network', status: 0, code: 'timeout', message: e.message });
    }
    if (token && token === this.expiredToken && this.refreshedToken) return this.refreshedToken;
    return token;
  }

  /**
   * POSTs with the current token; on 401 expired, or with no token, tries auth.refresh() once
   * (an app may keep only its offline token across restarts).
   * @returns {Promise<string>} the answer body; rejects with a SloopError carrying `kind`
   */
  async post(path, body) {
    let token = await this.token();
    for (let refreshed = false; ; refreshed = true) {
      const outcome = token
        ? await postJson(this.fetchFn, this.serverUrl, path, token, body, this.options.requestTimeoutMs)
        : { kind: 'signed-out', status: 0, code: 'unauthenticated', message: 'not signed in: no access token' };
      if (outcome.kind === 'ok') {
        this.onStatus({ online: true });
        return outcome.text;
      }
      const renewable = outcome.kind === 'expired' || outcome.kind === 'signed-out';
      if (!renewable || refreshed || !this.auth.refresh) throw requestError(outcome);
      if (outcome.kind === 'expired') this.onStatus({ auth: 'expired' });
      let fresh;
      try {
        fresh = await withTimeout(Promise.resolve(this.auth.refresh()), this.options.requestTimeoutMs, 'auth.refresh()');
      } catch (e) {
        // The refresh request itself failed (offline?) or hangs: not a reason to ask for the password.
        const code = e?.timeout ? 'timeout' : 'network';
        throw requestError({ kind: 'network', status: 0, code, message: `refresh failed: ${e?.message ?? e}` });
      }
      if (!fresh) throw requestError(outcome);
      // Remembered only in place of an expired token: after a sign-out getToken answers null,
      // and a token kept here would go on syncing for the user who left.
      if (token) Object.assign(this, { expiredToken: token, refreshedToken: fresh });
      token = fresh;
    }
  }
}
