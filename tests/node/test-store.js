/**
 * test-store.js -- which tenant store the server tests run on: the embedded SQLite files
 * (default) or PostgreSQL (SLOOP_TEST_STORE=postgres, as `tests/run.mjs`'s node-pg suite sets it).
 *
 * Tests that should hold on both stores start their servers through here rather than through
 * js/server/main.js: startServer() and spawnEnv() take a data folder as before, and on
 * PostgreSQL each data folder gets a database of its own (created on first use, kept for the
 * process), so a server restarted on the same folder finds its tenants again and two folders
 * never share one. The PostgreSQL cluster is one per test process (pg-harness.js), started at
 * the first need and stopped when the process ends.
 * @module tests/node/test-store
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { coreStoreOpener } from '../../js/server/core-store.js';
import { pgStoreOpener } from '../../js/server/pg-store.js';
import { readConfigFile, resolveConfig } from '../../js/server/config.js';
import { DEMO_CONFIG, startFromConfig } from '../../js/server/main.js';
import { startPostgres } from './pg-harness.js';

/** 'sqlite' or 'postgres'. */
export const STORE = process.env.SLOOP_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';
export const onPostgres = STORE === 'postgres';

let cluster;
const databases = new Map();

/** The cluster of this process, started on first use. */
export function postgres() {
  cluster ??= startPostgres({ name: 'store' });
  return cluster;
}

/** The PostgreSQL URL of a data folder's database (null on SQLite), created on first use. */
export async function databaseFor(dataDir) {
  if (!onPostgres) return null;
  let url = databases.get(dataDir);
  if (!url) {
    const { url: base } = await postgres();
    const name = `d_${createHash('sha256').update(dataDir).digest('hex').slice(0, 24)}`;
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } catch (e) {
      if (e.code !== '42P04') throw e; // made already, by this process
    } finally {
      await admin.end();
    }
    url = base.replace(/\/[^/]*$/, `/${name}`);
    databases.set(dataDir, url);
  }
  return url;
}

/** main.js's startServer (the demo configuration) on this run's store. */
export async function startServer({ port = 0, host = '127.0.0.1', dataDir, handler } = {}) {
  const database = await databaseFor(dataDir);
  const keys = { ...readConfigFile(DEMO_CONFIG), port, host, data: dataDir, ...(database ? { database } : {}) };
  return startFromConfig(await resolveConfig(keys, { configFile: DEMO_CONFIG }), { handler });
}

/** The environment a child-process server (js/server/main.js) needs for this run's store. */
export async function spawnEnv(dataDir) {
  const database = await databaseFor(dataDir);
  return { SLOOP_DATA: dataDir, ...(database ? { SLOOP_DATABASE_URL: database } : {}) };
}

/**
 * An openTenantStore on this run's store. On PostgreSQL its pool is ended by `close()`; the
 * tenant stores close with the sync server as usual.
 */
export async function storeOpener({ dataDir, schema, merge }) {
  if (!onPostgres) {
    const open = coreStoreOpener({ dataDir, schema, merge });
    open.close = async () => {};
    return open;
  }
  return pgStoreOpener({ url: await databaseFor(dataDir), schema, merge });
}

/**
 * Runs `read(sql)` (CoreDb.sql on the tenant's rows) with the server stopped: on SQLite, on
 * the tenant's file; on PostgreSQL, on a scratch database loaded with every row of the tenant
 * (js/server/pg/scratch.js), so one set of queries reads both.
 */
export async function readTenant(dataDir, tenant, read) {
  if (!onPostgres) {
    const [{ openPersistentDb }, { fileBackend }] = await Promise.all([
      import('../../js/persist.js'), import('../../js/storage/file-backend.js'),
    ]);
    const pdb = await openPersistentDb({ name: join(dataDir, `${tenant}.db`), backend: fileBackend(), role: 'server' });
    try {
      return read((sql) => pdb.core.sql(sql));
    } finally {
      await pdb.close();
    }
  }
  const [{ loadModule, CoreDb }, { Scratch }, { LOAD_TENANT }] = await Promise.all([
    import('../../js/core.js'), import('../../js/server/pg/scratch.js'), import('../../js/server/pg/queries.js'),
  ]);
  const client = new pg.Client({ connectionString: await databaseFor(dataDir) });
  await client.connect();
  const db = CoreDb.open(await loadModule('server'), { role: 'server' });
  try {
    const row = (await client.query(LOAD_TENANT, [tenant])).rows[0];
    if (!row) throw new Error(`no tenant ${tenant} in ${databases.get(dataDir)}`);
    return new Scratch(db).run(row, row, (core) => read((sql) => core.sql(sql))).value;
  } finally {
    db.close();
    await client.end();
  }
}
