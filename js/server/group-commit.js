/**
 * group-commit.js -- pushes of one tenant that arrive together share one transaction and one
 * commit (one fsync), instead of one each.
 *
 * A push is queued, not run at once. The queue is drained on the next turn of the event loop,
 * so every push whose body was read in the same turn joins the group; and while a group is
 * committing (a PostgreSQL round trip), the pushes that arrive wait and go together in the
 * next one. Each push keeps its own answer: a push the store refuses (bad input, a schema it
 * breaks) is answered with its own error and changes nothing, while the others of its group go
 * on. No push is answered before the commit its writes are in has returned; when that commit
 * fails, every push of the group gets the commit's error, and none of their writes are kept.
 *
 * Groups are bounded (MAX_GROUP_PUSHES pushes, MAX_GROUP_OPS operations), so one commit's
 * work, and the wait of the push that came first, stay bounded under any load.
 * @module sloop/server/group-commit
 */
import { HttpError } from './errors.js';

/** At most this many pushes share one commit. */
export const MAX_GROUP_PUSHES = 64;
/** And at most this many operations (a push holds at most 1,000: sync-server.js's maxOps). */
export const MAX_GROUP_OPS = 5000;
/**
 * Pushes of one tenant that may wait for a group; past that a push is refused at once with 503
 * `busy`, which a client retries later, rather than queued behind minutes of work whose HTTP
 * answers would have timed out (the work would still be done, for nothing).
 */
export const MAX_QUEUED_PUSHES = 1000;

/**
 * @typedef {{request: string, ctx: string, ops: number}} QueuedPush
 * @typedef {{ok: true, value: string} | {ok: false, error: unknown}} Settled
 * @typedef {(group: QueuedPush[]) => Settled[] | Promise<Settled[]>} RunGroup applies the
 *   group in one transaction and commits it; returns one outcome per push, in order, or
 *   throws (rejects) when the commit failed, which fails them all
 */

/** Runs fn and keeps its outcome, so one push's error does not end its group's loop. */
export function settle(fn) {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    return { ok: false, error };
  }
}

export class CommitQueue {
  /** @param {RunGroup} runGroup */
  constructor(runGroup) {
    this.runGroup = runGroup;
    /** @type {Array<QueuedPush & {resolve: Function, reject: Function}>} */
    this.queue = [];
    this.running = false;
    this.scheduled = false;
    /** Groups committed and pushes in them, for tests and diagnostics. */
    this.stats = { groups: 0, pushes: 0, largest: 0 };
    /** @type {Function[]} who waits for idle() */
    this.waiting = [];
  }

  /** Resolves once every push queued so far has been answered (before a store closes). */
  idle() {
    if (!this.running && !this.scheduled && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /**
   * Queues a push; resolves to its answer once the group it went in has committed.
   * @param {string} request @param {string} ctx
   * @param {number} ops how many operations the request carries (the HTTP layer counted them)
   * @returns {Promise<string>}
   */
  push(request, ctx, ops) {
    if (this.queue.length >= MAX_QUEUED_PUSHES) {
      return Promise.reject(new HttpError(503, 'busy', `${this.queue.length} pushes of this tenant are waiting; try again`));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ request, ctx, ops: Math.max(1, ops || 1), resolve, reject });
      this.schedule();
    });
  }

  schedule() {
    if (this.running || this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.drain();
    });
  }

  /** Takes the next group off the queue: in arrival order, within both bounds. */
  take() {
    let ops = 0;
    let n = 0;
    while (n < this.queue.length && n < MAX_GROUP_PUSHES) {
      ops += this.queue[n].ops;
      if (n > 0 && ops > MAX_GROUP_OPS) break;
      n++;
    }
    return this.queue.splice(0, n);
  }

  async drain() {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length) {
        const group = this.take();
        let outcomes;
        try {
          outcomes = await this.runGroup(group);
          if (!Array.isArray(outcomes) || outcomes.length !== group.length) {
            throw new Error(`group commit: ${group.length} pushes got ${outcomes?.length} answers`);
          }
        } catch (error) {
          for (const p of group) p.reject(error);
          continue;
        }
        this.stats.groups += 1;
        this.stats.pushes += group.length;
        this.stats.largest = Math.max(this.stats.largest, group.length);
        group.forEach((p, i) => (outcomes[i].ok ? p.resolve(outcomes[i].value) : p.reject(outcomes[i].error)));
      }
    } finally {
      this.running = false;
      if (this.queue.length === 0) for (const resolve of this.waiting.splice(0)) resolve();
    }
  }
}
