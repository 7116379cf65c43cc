/**
 * core-store.js -- the production tenant store: one C core database per tenant, opened with
 * role 'server', file `<dataDir>/<tenant>.db`. Requests and contexts cross as JSON text, so
 * this file is only the seam; what push and pull do is specified in docs/PROTOCOL.md and
 * implemented in the core.
 *
 * The core module is imported on first use, so the HTTP layer (and its tests) load without a
 * WebAssembly build.
 * @module sloop/server/core-store
 */
import { join } from 'node:path';
import { HttpError } from './errors.js';

/**
 * Makes an `openTenantStore` for createSyncServer.
 * @param {{dataDir: string}} options tenant ids are checked before they get here
 * @returns {(tenant: string) => Promise<import('./tenants.js').TenantStore>}
 */
export function coreStoreOpener({ dataDir }) {
  return async (tenant) => {
    const { loadModule, CoreDb } = await import('../core.js');
    const db = CoreDb.open(await loadModule(), { path: join(dataDir, `${tenant}.db`), role: 'server' });
    if (typeof db.serverPush !== 'function' || typeof db.serverPull !== 'function') {
      db.close();
      throw new HttpError(503, 'unavailable', 'this build of the core has no server-side apply');
    }
    return {
      push: (requestJson, ctxJson) => db.serverPush(requestJson, ctxJson),
      pull: (requestJson, ctxJson) => db.serverPull(requestJson, ctxJson),
      close: () => db.close(),
    };
  };
}
