/**
 * core-store.js -- the production tenant store: one C core database per tenant, opened with
 * role 'server' on the file VFS (`<dataDir>/<tenant>.db`, pages read and written on demand,
 * fsync at every commit), so an acknowledged push survives a restart and the database is not
 * bounded by WASM memory. Requests and contexts cross as JSON text: what push and pull do is
 * specified in docs/PROTOCOL.md and implemented in the core.
 *
 * Pushes that arrive together share one transaction and one commit (group-commit.js): each is
 * its own savepoint inside it, so a refused push changes nothing and the rest of its group goes
 * on. Pulls are synchronous calls between groups, so they read committed state only.
 *
 * The core module is imported on first use, so the HTTP layer (and its tests) load without a
 * WebAssembly build.
 * @module sloop/server/core-store
 */
import { join } from 'node:path';
import { CommitQueue, settle } from './group-commit.js';

/**
 * Makes an `openTenantStore` for createSyncServer.
 * @param {{dataDir: string, schema: object, merge?: Function}} options tenant ids are checked
 *   before they get here; `schema` is the app's (docs/SCHEMA.md), the same as or a superset of what
 *   the clients open with; `merge` is the custom merge function, if the schema has custom fields
 * @returns {(tenant: string) => Promise<import('./tenants.js').TenantStore>}
 */
export function coreStoreOpener({ dataDir, schema, merge = null }) {
  return async (tenant) => {
    const [{ openPersistentDb }, { fileBackend }] = await Promise.all([
      import('../persist.js'),
      import('../storage/file-backend.js'),
    ]);
    const pdb = await openPersistentDb({ name: join(dataDir, `${tenant}.db`), backend: fileBackend(), role: 'server' });
    const db = pdb.core;
    db.setSchema(schema);
    if (merge) db.setMerge(merge);
    const pushes = new CommitQueue((group) => {
      const apply = () => group.map((p) => settle(() => db.serverPush(p.request, p.ctx)));
      // A push alone commits in its own savepoint, as it always did; a group needs the outer one.
      return group.length === 1 ? apply() : db.transaction(apply);
    });
    return {
      push: (requestJson, ctxJson, ops) => pushes.push(requestJson, ctxJson, ops),
      pull: (requestJson, ctxJson) => db.serverPull(requestJson, ctxJson),
      compact: (version) => db.serverCompact(version),
      /** Groups committed so far (group-commit.js), for tests and diagnostics. */
      commits: pushes.stats,
      close: async () => {
        await pushes.idle();
        await pdb.close();
      },
    };
  };
}

/**
 * Checks a schema with the core itself, on a throwaway in-memory database, so a schema the
 * core would refuse stops the server at start rather than at the first request of a tenant.
 * @param {object} schema
 * @throws {Error} the core's message (a SloopError, code `schema` or `invalid`)
 */
export async function checkSchema(schema) {
  const { loadModule, CoreDb } = await import('../core.js');
  const db = CoreDb.open(await loadModule('server'), { role: 'server' });
  try {
    db.setSchema(schema);
  } finally {
    db.close();
  }
}
