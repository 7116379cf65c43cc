/**
 * load-stores.mjs -- the server stores sync-load.mjs measures side by side, one entry each.
 * An entry starts `node js/server/main.js` in a child process over its store, on a free port
 * and over empty data, and says how to take it all down again; sync-load.mjs knows nothing
 * else about a store. The server's own process is what sync-load.mjs samples for RSS and CPU,
 * and a store's own processes (databasePid) apart.
 *
 * Adding a store is one entry: a name, a spawn() that starts the server with the environment
 * that selects the store (serverInTempDir(env) does the rest), and, when the store needs
 * something this machine may lack, a skip() that says so. The entries here: `sqlite`, the
 * embedded C core's files in the data folder; `postgres`, SLOOP_DATABASE_URL on a throwaway
 * cluster of tests/node/pg-harness.js (fsync on, as in production), skipped where PostgreSQL
 * is not installed.
 *
 * @typedef {{url: string, child: import('node:child_process').ChildProcess,
 *   exited: Promise<number|string>, cleanup: () => Promise<void>, databasePid?: number}} RunningServer
 *   cleanup() stops the server and removes what spawn() made; call it in a finally.
 *   databasePid, for a store with processes of its own (PostgreSQL's), is the first of them;
 *   it and its children's CPU and memory are reported as the database's, beside the server's.
 * @typedef {{name: string, spawn: () => Promise<RunningServer>, skip?: () => string|null}} LoadStore
 *   skip(), when given, says why the store cannot be measured on this machine (null: it can)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServer } from '../node/real-server.js';
import { startPostgres, whyUnavailable } from '../node/pg-harness.js';

/**
 * The server with `env` added to its environment and SLOOP_DATA in a fresh temporary folder
 * (the SQLite files, and whatever else the server keeps there), removed by cleanup().
 * @returns {Promise<RunningServer>}
 */
export async function serverInTempDir(env = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'sloop-sync-load-'));
  const removeDir = () => rmSync(dataDir, { recursive: true, force: true });
  let server;
  try {
    server = await spawnServer(dataDir, env);
  } catch (e) {
    removeDir();
    throw e;
  }
  return {
    ...server,
    async cleanup() {
      server.child.kill('SIGTERM');
      await server.exited;
      removeDir();
    },
  };
}

/** @type {LoadStore[]} in the order of the report's columns */
export const stores = [
  // undefined drops the variable from the child's environment (spawn skips undefined values):
  // a database URL the driver was started with must not make this column PostgreSQL's.
  { name: 'sqlite', spawn: () => serverInTempDir({ SLOOP_DATABASE_URL: undefined }) },
  {
    name: 'postgres',
    skip: () => whyUnavailable(),
    // A throwaway cluster (tests/node/pg-harness.js) per run, so every run starts empty.
    async spawn() {
      const cluster = await startPostgres({ name: 'bench' });
      let server;
      try {
        server = await serverInTempDir({ SLOOP_DATABASE_URL: cluster.url });
      } catch (e) {
        await cluster.stop();
        throw e;
      }
      // The postmaster: its pid is the first line of the lock file it keeps while it runs.
      const postmaster = Number(readFileSync(join(cluster.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return {
        ...server,
        databasePid: postmaster,
        async cleanup() {
          await server.cleanup();
          await cluster.stop();
        },
      };
    },
  },
];
