/**
 * pouch-server.js -- the PouchDB peer's server: express-pouchdb over pouchdb-core with the
 * memory adapter (leveldown would need a native build), mounted at /pouch so the page reaches
 * it on its own origin through startServer's `handler` hook. Seeded in process with bulkDocs.
 */
import { createRequire } from 'node:module';
import { record } from './data.js';

const require = createRequire(import.meta.url);

/**
 * Creates the app and seeds database `seed` with records 0..n-1.
 * @param {{n: number}} options
 * @returns {Promise<{handle: (req: object, res: object) => boolean}>} handle answers /pouch/...
 */
export async function startPouchServer({ n }) {
  const PouchDB = require('pouchdb-core')
    .plugin(require('pouchdb-adapter-memory'))
    .plugin(require('pouchdb-adapter-http'))
    .plugin(require('pouchdb-mapreduce'))
    .plugin(require('pouchdb-replication'))
    .defaults({ adapter: 'memory' });
  const app = require('express')();
  app.use('/pouch', require('express-pouchdb')(PouchDB, { mode: 'minimumForPouchDB', inMemoryConfig: true }));
  const seed = new PouchDB('seed');
  for (let from = 0; from < n; from += 1000) {
    const docs = [];
    for (let i = from; i < Math.min(n, from + 1000); i++) {
      const r = record(i);
      docs.push({ _id: r.id, ...r.doc });
    }
    await seed.bulkDocs(docs);
  }
  return {
    handle(req, res) {
      if (!req.url.startsWith('/pouch/')) return false;
      app(req, res);
      return true;
    },
  };
}
