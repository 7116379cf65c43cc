/**
 * seed-sloop.js -- fills the sync server's tenant `acme` with records 0..n-1 before the
 * server starts, through a CoreDb client and a server CoreDb on the tenant's data file: the
 * client's puts are pushed in batches of 1000 (the protocol's limit), each batch applied by
 * serverPush inside one transaction. Over HTTP every operation is its own durable
 * transaction, which would spend minutes on fsyncs that initial sync does not measure.
 */
import { join } from 'node:path';
import { loadModule, CoreDb } from '../js/core.js';
import { openPersistentDb } from '../js/persist.js';
import { fileBackend } from '../js/storage/file-backend.js';
import { record } from './data.js';

/**
 * @param {{dataDir: string, schema: object, n: number, tenant?: string, user?: string}} options
 */
export async function seedSloop({ dataDir, schema, n, tenant = 'acme', user = 'alice' }) {
  const mod = await loadModule();
  const server = await openPersistentDb({ name: join(dataDir, `${tenant}.db`), backend: fileBackend(), role: 'server' });
  server.core.setSchema(schema);
  const client = CoreDb.open(mod, { schema });
  const ctx = JSON.stringify({ tenant, user, device: client.device, nowMs: Date.now(), perms: { read: '*', write: '*', stepUp: false } });
  try {
    for (let from = 0; from < n; from += 1000) {
      client.transaction(() => {
        for (let i = from; i < Math.min(n, from + 1000); i++) {
          const r = record(i);
          client.put('notes', r.id, r.doc);
        }
      });
      const body = client.pushBegin(1000);
      client.pushEnd(server.core.transaction(() => server.core.serverPush(body, ctx)));
    }
    if (client.stateCounts().pendingOps !== 0) throw new Error('seeding left operations unacknowledged');
  } finally {
    client.close();
    await server.close();
  }
}
