/**
 * flusher.js -- the flush scheduler between SQLite commits and a page store.
 *
 * Policy only; it never touches IndexedDB. Commits arrive synchronously from the VFS hook and
 * fold into one pending batch (a later write of a page replaces the earlier one). At most one
 * batch is in flight; commits that arrive meanwhile are group-committed by the next flush.
 *
 * A failed flush is folded back *under* the pending batch and retried with backoff, so no
 * later flush can land without the pages of the one that failed: the store only ever moves
 * from one committed state to a later one. A 'fenced' failure is final: another writer owns the
 * store, and every waiter is rejected. So is 'lost': the browser closed the store's connection
 * (site data cleared), and what is stored now cannot take this writer's next pages.
 * @module sloop/storage/flusher
 */

/**
 * A batch: the union of consecutive commits.
 * @typedef {object} Batch
 * @property {number} pageSize
 * @property {number} fileSize size after the batch's last commit
 * @property {boolean} truncated some commit shrank the file: the store drops pages past the end
 * @property {Map<number, ArrayBuffer|Uint8Array>} pages (host.js Commit: views into a large commit's buffers)
 * @property {number} upTo number of the batch's last commit
 */

/** Whether a failure ends the writer's flushing for good ('fenced', 'lost') rather than being retried. */
export function isFinal(error) {
  return error?.code === 'fenced' || error?.code === 'lost';
}

/** Folds `next` on top of `base` (mutating and returning base): newer pages win. */
export function fold(base, next) {
  for (const [index, bytes] of next.pages) base.pages.set(index, bytes);
  base.truncated ||= next.truncated;
  base.fileSize = next.fileSize;
  base.pageSize = next.pageSize;
  base.upTo = next.upTo;
  const count = Math.ceil(base.fileSize / base.pageSize);
  if (base.truncated) for (const index of base.pages.keys()) if (index >= count) base.pages.delete(index);
  return base;
}

const DEFAULT_RETRY_MS = [50, 100, 250, 500, 1000, 2000, 5000];

export class FlushScheduler {
  /**
   * @param {object} options
   * @param {(batch: Batch) => Promise<void>} options.write persists a batch atomically or throws
   * @param {(upTo: number, batch: Batch) => void} [options.onDurable] after each successful flush
   * @param {(error: Error) => void} [options.onError] after each failed flush
   * @param {number[]} [options.retryMs] backoff schedule; the last entry repeats
   */
  constructor({ write, onDurable = () => {}, onError = () => {}, retryMs = DEFAULT_RETRY_MS }) {
    Object.assign(this, { write, onDurable, onError, retryMs });
    this.committed = 0;
    this.durable = 0;
    this.pending = null;
    this.inflight = null;
    this.failures = 0;
    this.retryTimer = null;
    this.fatal = null;
    this.waiters = [];
  }

  /**
   * Accepts one commit (synchronously, from the VFS hook).
   * @param {{pageSize: number, fileSize: number, truncated: boolean, pages: Map<number, ArrayBuffer|Uint8Array>}} commit
   * @returns {boolean} false once the scheduler is fenced: the commit must be refused
   */
  add(commit) {
    if (this.fatal) return false;
    const batch = { ...commit, upTo: ++this.committed };
    this.pending = this.pending ? fold(this.pending, batch) : batch;
    this.kick();
    return true;
  }

  /**
   * Resolves once every commit accepted so far is durable; rejects if the store is fenced.
   * Transient failures do not reject: the data stays in memory and flushes are retried.
   * @param {{untilFailure?: boolean}} [options] untilFailure: resolve at the first failed
   *   flush instead (at once while the last one failed): for reads, which must not wait as
   *   long as a full disk lasts
   * @returns {Promise<void>}
   */
  whenDurable({ untilFailure = false } = {}) {
    if (this.fatal) return Promise.reject(this.fatal);
    const target = this.committed;
    if (this.durable >= target || (untilFailure && this.failures > 0)) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ target, resolve, reject, untilFailure }));
  }

  /**
   * The newest copy of page `index` that is not yet durable (pending, else in flight), or
   * undefined: what an on-demand reader must see instead of the store's older page.
   * @param {number} index
   * @returns {ArrayBuffer|Uint8Array|undefined}
   */
  queuedPage(index) {
    return this.pending?.pages.get(index) ?? this.inflight?.pages.get(index);
  }

  /** Retries a failed flush now instead of waiting out the backoff (e.g. after freeing space). */
  retryNow() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.kick();
  }

  /** Stops retrying; waiters are rejected with `error`. */
  stop(error) {
    this.fatal ??= error;
    clearTimeout(this.retryTimer);
    for (const w of this.waiters.splice(0)) w.reject(this.fatal);
  }

  kick() {
    if (this.inflight || !this.pending || this.retryTimer || this.fatal) return;
    this.inflight = this.pending;
    this.pending = null;
    this.run(this.inflight);
  }

  async run(batch) {
    try {
      await this.write(batch);
      this.durable = batch.upTo;
      this.failures = 0;
      this.waiters = this.waiters.filter((w) => (w.target <= this.durable ? (w.resolve(), false) : true));
      this.onDurable(this.durable, batch);
    } catch (error) {
      if (isFinal(error)) this.stop(error);
      else {
        this.pending = this.pending ? fold(batch, this.pending) : batch;
        this.waiters = this.waiters.filter((w) => (w.untilFailure ? (w.resolve(), false) : true));
        const delay = this.retryMs[Math.min(this.failures++, this.retryMs.length - 1)];
        this.retryTimer = setTimeout(() => this.retryNow(), delay);
      }
      this.onError(error);
    } finally {
      this.inflight = null;
      this.kick();
    }
  }
}
