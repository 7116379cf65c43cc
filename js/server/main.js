/**
 * main.js -- starts the reference server from a configuration (config.js): the secret, the
 * tenant stores on the C core, the auth hook or users, static files, CORS, limits. The CLI
 * (cli.js, `sloop-server`) and the demo are two ways of calling it.
 *
 * The demo (`make demo`, or `node js/server/main.js`) is the configuration in
 * demo-config.json: the Field Notes PWA of web/, its schema, the demo users of README.md.
 *
 * The token secret is SLOOP_SECRET when set, else a random one written to the data folder on
 * first start, so tokens (and the offline tokens clients keep for weeks) survive restarts.
 * Several processes on one PostgreSQL database (--database) verify each other's tokens only
 * when they share it: give them all the same SLOOP_SECRET (docs/DEPLOY.md).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, USAGE, describeConfig, loadConfig, readConfigFile, resolveConfig } from './config.js';
import { checkSchema, coreStoreOpener } from './core-store.js';
import { pgStoreOpener } from './pg-store.js';
import { createSyncServer } from './sync-server.js';

/** The demo's configuration file. */
export const DEMO_CONFIG = fileURLToPath(new URL('./demo-config.json', import.meta.url));

/** The secret from the environment, or the one kept in dataDir (created once, mode 0600). */
function loadSecret(dataDir, env) {
  if (env.SLOOP_SECRET) {
    if (Buffer.byteLength(env.SLOOP_SECRET) < 32) throw new ConfigError('SLOOP_SECRET: must be at least 32 bytes');
    return Buffer.from(env.SLOOP_SECRET);
  }
  const file = join(dataDir, 'secret');
  try {
    writeFileSync(file, randomBytes(32).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if (e.code !== 'EEXIST') throw e;
  }
  return Buffer.from(readFileSync(file, 'utf8').trim());
}

/** The core's verdict on the config's schema, as a ConfigError naming the file. */
async function checkSchemaOf(config) {
  try {
    await checkSchema(config.schema);
  } catch (e) {
    throw new ConfigError(`schema file ${config.schemaFile}: ${e.message}`);
  }
}

/**
 * Starts a server for a checked configuration.
 * @param {import('./config.js').ServerConfig} config from loadConfig or resolveConfig
 * @param {{handler?: Function, env?: Record<string, string|undefined>, logger?: {error: Function}}} [extra]
 *   `handler(req, res)` is tried before every route and returns true if it answered (tests
 *   put stand-in endpoints there)
 * @returns {Promise<{server: import('node:http').Server, url: string, close: () => Promise<void>}>}
 * @throws {ConfigError} for a schema the core refuses or a bad SLOOP_SECRET
 */
export async function startFromConfig(config, { handler, env = process.env, logger = console } = {}) {
  await checkSchemaOf(config);
  mkdirSync(config.dataDir, { recursive: true });
  const secret = loadSecret(config.dataDir, env);
  const pg = config.database
    ? await pgStoreOpener({ url: config.database, schema: config.schema, merge: config.merge, poolSize: config.databasePool })
    : null;
  const sync = createSyncServer({
    ...(config.auth ? { auth: config.auth } : { users: config.users }),
    secret,
    openTenantStore: pg ?? coreStoreOpener({ dataDir: config.dataDir, schema: config.schema, merge: config.merge }),
    staticFiles: config.static ?? false,
    cors: config.cors,
    limits: config.limits,
    handler,
    logger,
  });
  const url = await sync.listen({ port: config.port, host: config.host });
  const close = async () => {
    await sync.close();
    await pg?.close();
  };
  return { server: sync.server, url, close };
}

/**
 * Starts the demo (demo-config.json), with a few keys overridden.
 * @param {{port?: number, host?: string, dataDir?: string, handler?: Function}} [options] port 0
 *   picks a free one; dataDir defaults to SLOOP_DATA, then the demo config's
 * @returns {Promise<{server: import('node:http').Server, url: string, close: () => Promise<void>}>}
 */
export async function startServer({ port = 8080, host = '127.0.0.1', dataDir = process.env.SLOOP_DATA, handler } = {}) {
  const keys = { ...readConfigFile(DEMO_CONFIG), port, host, ...(dataDir ? { data: dataDir } : {}) };
  return startFromConfig(await resolveConfig(keys, { configFile: DEMO_CONFIG }), { handler });
}

/**
 * Runs a server from a command line until SIGINT or SIGTERM, which let requests in flight
 * finish and close the tenant databases.
 * @param {string[]} argv the arguments after the script
 * @param {{banner?: string}} [options]
 */
export async function runCommandLine(argv, { banner = 'sloop-server' } = {}) {
  let started;
  try {
    const { config, check, help } = await loadConfig({ argv });
    if (help) {
      console.log(USAGE);
      return;
    }
    if (check) {
      await checkSchemaOf(config);
      console.log(JSON.stringify(describeConfig(config), null, 2));
      return;
    }
    started = await startFromConfig(config);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    console.error(`${banner}: ${e.message}`);
    process.exitCode = 2;
    return;
  }
  console.log(`${banner} on ${started.url}`);
  const stop = (signal) => {
    console.log(`${signal}: finishing requests and closing tenant databases`);
    started.close().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // The demo: its config file, then the usual environment and flags on top.
  await runCommandLine(['--config', DEMO_CONFIG, ...process.argv.slice(2)], { banner: 'Sloop demo (users: see README.md)' });
}
