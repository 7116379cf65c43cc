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
 * is not installed; `postgres-2p`, the same with two server processes on the one database.
 *
 * @typedef {{url: string, child: import('node:child_process').ChildProcess,
 *   exited: Promise<number|string>, cleanup: () => Promise<void>, databasePid?: number,
 *   urls?: string[], pids?: number[]}} RunningServer
 *   cleanup() stops the server and removes what spawn() made; call it in a finally. A store of
 *   several server processes gives all their URLs (clients are spread over them) and pids.
 *   databasePid, for a store with processes of its own (PostgreSQL's), is the first of them;
 *   it and its children's CPU and memory are reported as the database's, beside the server's.
 * @typedef {{name: string, spawn: () => Promise<RunningServer>, skip?: () => string|null}} LoadStore
 *   skip(), when given, says why the store cannot be measured on this machine (null: it can)
 */
import { randomBytes } from 'node:crypto';
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

/**
 * `processes` servers on one throwaway PostgreSQL cluster, sharing a token secret; clients are
 * spread over their URLs (`urls`), and their CPU and memory add up as the server's (`pids`).
 * @returns {Promise<RunningServer>}
 */
async function onPostgres(processes) {
  const cluster = await startPostgres({ name: 'bench' });
  const servers = [];
  try {
    // Every process must verify the tokens the others sign (docs/DEPLOY.md).
    const env = { SLOOP_DATABASE_URL: cluster.url, SLOOP_SECRET: randomBytes(32).toString('base64url') };
    for (let i = 0; i < processes; i++) servers.push(await serverInTempDir(env));
  } catch (e) {
    for (const server of servers) await server.cleanup();
    await cluster.stop();
    throw e;
  }
  // The postmaster: its pid is the first line of the lock file it keeps while it runs.
  const postmaster = Number(readFileSync(join(cluster.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return {
    ...servers[0],
    urls: servers.map((server) => server.url),
    pids: servers.map((server) => server.child.pid),
    databasePid: postmaster,
    async cleanup() {
      for (const server of servers) await server.cleanup();
      await cluster.stop();
    },
  };
}

/** @type {LoadStore[]} in the order of the report's columns */
export const stores = [
  // undefined drops the variable from the child's environment (spawn skips undefined values):
  // a database URL the driver was started with must not make this column PostgreSQL's.
  { name: 'sqlite', spawn: () => serverInTempDir({ SLOOP_DATABASE_URL: undefined }) },
  // A throwaway cluster (tests/node/pg-harness.js) per run, so every run starts empty.
  { name: 'postgres', skip: () => whyUnavailable(), spawn: () => onPostgres(1) },
  // Two server processes on one database: what a second process adds on this machine.
  { name: 'postgres-2p', skip: () => whyUnavailable(), spawn: () => onPostgres(2) },
];
