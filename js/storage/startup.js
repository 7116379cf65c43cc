/**
 * startup.js -- the startup pages of an on-demand database: the pages a session fetched first,
 * stored as a hint beside the commit record and read by the next session's claim.
 *
 * Why: an app's first query after opening is usually the same from one start to the next (the
 * list it shows first), and on demand each page it touches is one IndexedDB round trip, asked
 * for one at a time by SQLite. `make bench`'s cold start (10,000 notes, an indexed query for
 * 50 of them) fetched 55 pages in a row, 1-2 ms each: a third of the cold start or more. Read
 * in the claim's transaction, with page 0 (no round trip more), the same pages cost a few ms.
 *
 * What it does not do: trust the hint. The claim reads the pages it names as any read does,
 * each page's newest copy in the same transaction as the commit record, and a page a commit of
 * this session changed is dropped, so what SQLite gets is exactly what a fetch would return. A
 * stale hint costs the reads of pages nobody asks for (at most STARTUP_PAGES), a missing one
 * costs nothing. Only the writer keeps one.
 *
 * Costs: up to STARTUP_PAGES pages in the JS heap until SQLite asks for them or KEEP_MS pass;
 * at most MAX_SAVES small relaxed transactions a session, each when no fetch is waiting.
 * @module sloop/storage/startup
 */

/** Pages the hint holds at most (512 KiB of 4 KiB pages): bounds the reads at open. */
export const STARTUP_PAGES = 128;
/** Saves of the hint a session makes at most: it is about the start, not the whole session. */
const MAX_SAVES = 4;
/** Prefetched pages SQLite has not asked for by then are dropped. */
const KEEP_MS = 10_000;

export class StartupPages {
  /**
   * @param {number[]} hint the stored startup pages (claim's `startup`), first fetched first
   * @param {Map<number, ArrayBuffer>} prefetched their copies as the claim read them
   * @param {(list: number[]) => Promise<void>} save stores a new list (backend.saveStartupPages)
   */
  constructor(hint, prefetched, save) {
    this.hint = hint.slice(0, STARTUP_PAGES);
    this.inHint = new Set(this.hint);
    /** Prefetched pages not yet taken: page -> bytes. */
    this.pages = prefetched;
    this.save = save;
    /** Pages asked for this session, in order, at most STARTUP_PAGES. */
    this.asked = new Set();
    /** Whether `asked` holds a page the hint lacks: only then is a save worth it. */
    this.fresh = false;
    this.saves = 0;
    this.fetching = 0;
    this.saveTimer = null;
    this.dropTimer = prefetched.size ? setTimeout(() => this.pages.clear(), KEEP_MS) : null;
  }

  /** A fetch of pages first..first+n-1 starts: records them. Pair with fetched(). */
  willFetch(first, n) {
    this.fetching++;
    for (let page = first; page < first + n && this.asked.size < STARTUP_PAGES; page++) {
      if (this.asked.has(page)) continue;
      this.asked.add(page);
      if (!this.inHint.has(page)) this.fresh = true;
    }
  }

  /** The prefetched copy of `page`, taken (SQLite keeps it from now on), or undefined. */
  take(page) {
    const bytes = this.pages.get(page);
    if (bytes) this.pages.delete(page);
    return bytes;
  }

  /** A fetch ended: saves the list at the next turn when no fetch is waiting. */
  fetched() {
    this.fetching--;
    if (!this.fresh || this.saveTimer || this.saves >= MAX_SAVES) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      if (this.fetching === 0) this.store();
    }, 0);
  }

  /** The list to store: this session's pages first, then the old hint's others, bounded. */
  list() {
    return [...this.asked, ...this.hint.filter((page) => !this.asked.has(page))].slice(0, STARTUP_PAGES);
  }

  store() {
    if (!this.fresh || this.saves >= MAX_SAVES) return Promise.resolve();
    this.fresh = false;
    this.saves++;
    return this.save(this.list()).catch(() => {}); // a hint: losing it costs reads only
  }

  /**
   * A commit was made (before it is durable): its pages' prefetched copies are older than what
   * SQLite now holds, so they go; a truncation drops them all.
   * @param {{truncated: boolean, pages: Map<number, ArrayBuffer|Uint8Array>}} commit
   */
  committed(commit) {
    if (commit.truncated) return this.pages.clear();
    for (const page of commit.pages.keys()) this.pages.delete(page);
  }

  /**
   * Stops the timers and, with `save`, stores the list if it changed (at close).
   * @param {{save?: boolean}} [options]
   */
  close({ save = true } = {}) {
    clearTimeout(this.saveTimer);
    clearTimeout(this.dropTimer);
    this.saveTimer = null;
    this.pages.clear();
    if (!save) this.saves = MAX_SAVES;
    return this.store();
  }
}
