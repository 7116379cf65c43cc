/**
 * tenants.js -- one store per tenant, opened on first use and closed on shutdown.
 *
 * The tenant id that picks the store always comes from a verified token, never from a request
 * body, and is checked against [a-z0-9-]{1,64} again here because it becomes a file name
 * (`<dataDir>/<tenant>.db`): no dots or slashes, so no path traversal. A store only ever sees
 * its own tenant's requests, which is what keeps tenants' records, change logs and cursors
 * apart.
 * @module sloop/server/tenants
 */
import { deadline } from '../deadline.js';
import { TENANT_RE } from './tokens.js';

/**
 * @typedef {object} TenantStore what openTenantStore returns
 * @property {(requestJson: string, ctxJson: string, ops: number) => string|Promise<string>} push
 *   `ops`: how many operations the request carries
 * @property {(requestJson: string, ctxJson: string) => string|Promise<string>} pull
 * @property {() => void|Promise<void>} close
 */

/** @param {string} tenant @returns {boolean} */
export function isTenantId(tenant) {
  return typeof tenant === 'string' && TENANT_RE.test(tenant);
}

/** Opens tenant stores lazily, one per tenant, and closes them all at the end. */
export class TenantStores {
  /** @param {(tenant: string) => TenantStore|Promise<TenantStore>} openTenantStore */
  constructor(openTenantStore) {
    this.openTenantStore = openTenantStore;
    /** @type {Map<string, Promise<TenantStore>>} promises, so concurrent first requests open once */
    this.open = new Map();
    this.closed = false;
  }

  /**
   * The store of one tenant.
   * @param {string} tenant a tenant id from a verified token
   * @returns {Promise<TenantStore>}
   */
  get(tenant) {
    if (!isTenantId(tenant)) throw new Error(`refusing tenant id ${JSON.stringify(tenant)}`);
    if (this.closed) throw new Error('tenant stores are closed');
    let store = this.open.get(tenant);
    if (!store) {
      store = Promise.resolve().then(() => this.openTenantStore(tenant));
      // A failed open is not cached: the next request tries again.
      store.catch(() => this.open.delete(tenant));
      this.open.set(tenant, store);
    }
    return store;
  }

  /**
   * Closes every store opened so far; errors are collected, not thrown one by one. A store
   * whose open or close has not settled within `waitMs` is given up (reported among the
   * errors) so that shutdown cannot hang on it; one that opens later is closed then.
   * @param {number} [waitMs] no bound when omitted
   */
  async closeAll(waitMs) {
    this.closed = true;
    const closeOne = (tenant, opening) => {
      const closing = opening.then((store) => store.close());
      closing.catch(() => {}); // a failure after the deadline is past reporting
      return deadline(closing, waitMs, () => new Error(`tenant store ${tenant} did not open and close within ${waitMs} ms; abandoned`));
    };
    const results = await Promise.allSettled([...this.open].map(([tenant, opening]) => closeOne(tenant, opening)));
    this.open.clear();
    const failed = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
    if (failed.length) throw new AggregateError(failed, 'closing tenant stores failed');
  }
}
