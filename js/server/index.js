/**
 * index.js -- the package's `sloop/server`: what a Node program needs to run the sync server
 * itself rather than through the CLI (`sloop-server`, cli.js): the server, its tenant stores
 * on the C core (one SQLite file per tenant) or PostgreSQL, the schema check the CLI runs at
 * start, and the password hash of a users file.
 *
 *   import { createSyncServer, coreStoreOpener } from 'sloop/server';
 *   const sync = createSyncServer({ users, secret, openTenantStore: coreStoreOpener({ dataDir, schema }) });
 *   await sync.listen({ port: 8080 });
 * @module sloop/server
 */
export { createSyncServer, DEFAULT_LIMITS } from './sync-server.js';
export { coreStoreOpener, checkSchema } from './core-store.js';
export { pgStoreOpener } from './pg-store.js';
export { hashPassword } from './passwords.js';
