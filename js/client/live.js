/**
 * live.js -- live queries: a query re-run whenever the records it may show changed, its
 * callback called with the fresh rows.
 *
 * A refresh requested while the query is still running is folded into one more run after it,
 * so a burst of changes (a large pull, page after page) costs at most one query in flight and
 * one waiting, never a queue. A callback that throws does not stop the others; its error goes
 * to `onError`.
 * @module sloop/client/live
 */

export class LiveQueries {
  /**
   * @param {(coll: string, query: object) => Promise<Array>} runQuery
   * @param {(error: unknown) => void} onError
   */
  constructor(runQuery, onError) {
    this.runQuery = runQuery;
    this.onError = onError;
    this.entries = new Set();
  }

  /**
   * Registers a live query and runs it now.
   * @returns {() => void} unsubscribe
   */
  add(coll, query, callback) {
    const entry = { coll, query: query ?? {}, callback, running: false, dirty: false, active: true };
    this.entries.add(entry);
    this.refreshEntry(entry);
    return () => {
      entry.active = false;
      this.entries.delete(entry);
    };
  }

  /**
   * Re-runs the queries over the collections in `colls` (all of them when null).
   * @param {Set<string>|null} colls
   */
  refresh(colls = null) {
    for (const entry of this.entries) if (!colls || colls.has(entry.coll)) this.refreshEntry(entry);
  }

  async refreshEntry(entry) {
    if (entry.running) {
      entry.dirty = true;
      return;
    }
    entry.running = true;
    try {
      do {
        entry.dirty = false;
        let rows;
        try {
          rows = await this.runQuery(entry.coll, entry.query);
        } catch (e) {
          if (entry.active) this.onError(e);
          continue;
        }
        if (!entry.active) return;
        try {
          entry.callback(rows);
        } catch (e) {
          this.onError(e);
        }
      } while (entry.dirty && entry.active);
    } finally {
      entry.running = false;
    }
  }

  clear() {
    for (const entry of this.entries) entry.active = false;
    this.entries.clear();
  }
}

/**
 * The collections a change event's detail touches.
 * @param {{changes: Array<{coll: string}>, textEdits?: Array<{coll: string}>}} detail
 * @returns {Set<string>}
 */
export function changedCollections({ changes, textEdits = [] }) {
  return new Set([...changes, ...textEdits].map((c) => c.coll));
}
