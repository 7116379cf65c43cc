/**
 * config.js -- the reference server's configuration: a JSON file, environment variables and
 * command-line flags, merged in that order of precedence (a flag beats the environment, which
 * beats the file, which beats the defaults), checked whole before anything listens. Every
 * key is described in docs/SERVER.md.
 *
 * Paths in a config file are relative to the file's folder, so a config can be started from
 * anywhere; paths given as flags or in the environment are relative to the working directory.
 *
 * A bad configuration is a ConfigError naming the key and what is wrong with it: unknown
 * keys, missing or unreadable files, a users file that does not parse, an auth module without
 * `login`, a static folder that would serve the server's own files.
 * @module sloop/server/config
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { checkAuthHook, checkUsers } from './auth.js';
import { corsPolicy } from './cors.js';
import { PACKAGE_ROOT } from './static.js';
import { DEFAULT_LIMITS } from './sync-server.js';

/** A configuration that cannot run; its message says which key and why. */
export class ConfigError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** The keys a config file may hold, with their defaults (null: absent). */
export const DEFAULTS = Object.freeze({
  schema: null,
  users: null,
  auth: null,
  merge: null,
  static: null,
  clientRuntime: false,
  serviceWorker: null,
  data: 'sloop-data',
  database: null,
  databasePool: 10,
  port: 8080,
  host: '127.0.0.1',
  cors: Object.freeze({ origins: Object.freeze([]), maxAgeSeconds: 600 }),
  limits: Object.freeze({}),
});

const PATH_KEYS = ['schema', 'users', 'auth', 'merge', 'static', 'serviceWorker', 'data'];
const CORS_KEYS = ['origins', 'maxAgeSeconds'];

export const USAGE = `usage: sloop-server [--config FILE] [options]

Runs the Sloop sync server (the API under /v1/) for one app schema, and optionally its pages.

  --config FILE           JSON config file; its relative paths are relative to its folder
  --schema FILE           the app's schema (JSON), the one its clients open with
  --users FILE            users file: name -> {tenant, password (scrypt hash), read, write}
  --auth MODULE           auth hook module instead of --users (exports async login(), see docs/SERVER.md)
  --merge MODULE          module whose default export is the custom merge function
  --static DIR            folder served at / (the app's pages)
  --client-runtime        also serve Sloop's client runtime at /js/ and /build/wasm/
  --service-worker FILE   file served at /sw.js
  --data DIR              one SQLite file per tenant, and the token secret (env SLOOP_DATA)
  --database URL          keep tenants in PostgreSQL instead (postgres://...; env SLOOP_DATABASE_URL)
  --database-pool N       connections to it this process opens at most (default 10; env SLOOP_DATABASE_POOL)
  --port N                port; 0 picks a free one (env PORT; default 8080)
  --host ADDR             address to listen on (default 127.0.0.1)
  --cors-origin ORIGIN    allow this origin to call the API; repeat for more (default: none)
  --limit NAME=VALUE      override one limit, e.g. accessTtlMs=900000; repeatable
  --check                 check the configuration, print it resolved, and exit
  --help                  this text

Environment: PORT, SLOOP_DATA, SLOOP_DATABASE_URL, SLOOP_DATABASE_POOL, SLOOP_SECRET (token signing key, >= 32 bytes; else a random one
kept in the data folder). Docs: docs/SERVER.md.`;

/**
 * Parses the command line (without node and the script).
 * @param {string[]} argv
 * @returns {{configFile: string|null, flags: object, check: boolean, help: boolean}} `flags`
 *   holds config keys, paths still relative to the working directory
 * @throws {ConfigError}
 */
export function parseCommandLine(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
        schema: { type: 'string' },
        users: { type: 'string' },
        auth: { type: 'string' },
        merge: { type: 'string' },
        static: { type: 'string' },
        'client-runtime': { type: 'boolean' },
        'service-worker': { type: 'string' },
        data: { type: 'string' },
        database: { type: 'string' },
        'database-pool': { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        'cors-origin': { type: 'string', multiple: true },
        limit: { type: 'string', multiple: true },
        check: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    });
  } catch (e) {
    throw new ConfigError(`${e.message}\n\n${USAGE}`);
  }
  const v = parsed.values;
  const flags = {};
  for (const key of ['schema', 'users', 'auth', 'merge', 'static', 'data', 'database', 'host']) {
    if (v[key] !== undefined) flags[key] = v[key];
  }
  if (v['client-runtime'] !== undefined) flags.clientRuntime = v['client-runtime'];
  if (v['service-worker'] !== undefined) flags.serviceWorker = v['service-worker'];
  if (v.port !== undefined) flags.port = parsePort(v.port, '--port');
  if (v['database-pool'] !== undefined) flags.databasePool = parsePool(v['database-pool'], '--database-pool');
  if (v['cors-origin'] !== undefined) flags.cors = { origins: v['cors-origin'] };
  if (v.limit !== undefined) {
    flags.limits = {};
    for (const item of v.limit) {
      const m = /^([A-Za-z]+)=(\d+)$/.exec(item);
      if (!m) throw new ConfigError(`--limit ${item}: expected NAME=INTEGER, e.g. accessTtlMs=900000`);
      flags.limits[m[1]] = Number(m[2]);
    }
  }
  return { configFile: v.config ?? null, flags, check: v.check === true, help: v.help === true };
}

/** A pool size from text (flag or environment). */
function parsePool(text, where) {
  if (!/^\d{1,4}$/.test(text) || Number(text) < 2) throw new ConfigError(`${where}: must be a whole number of connections, 2 or more, not ${JSON.stringify(text)}`);
  return Number(text);
}

/** A port from text (flag or environment). */
function parsePort(text, where) {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new ConfigError(`${where}: port must be 0 to 65535, not ${JSON.stringify(text)}`);
  return Number(text);
}

/** The config keys the environment sets (paths relative to `cwd`). */
export function fromEnvironment(env) {
  const out = {};
  if (env.PORT !== undefined && env.PORT !== '') out.port = parsePort(env.PORT, 'PORT');
  if (env.SLOOP_DATA) out.data = env.SLOOP_DATA;
  if (env.SLOOP_DATABASE_URL) out.database = env.SLOOP_DATABASE_URL;
  if (env.SLOOP_DATABASE_POOL) out.databasePool = parsePool(env.SLOOP_DATABASE_POOL, 'SLOOP_DATABASE_POOL');
  return out;
}

/**
 * Reads a config file.
 * @param {string} file
 * @returns {object} its keys, paths made absolute against the file's folder
 */
export function readConfigFile(file) {
  let raw;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`config file ${file}: ${e.code === 'ENOENT' ? 'not found' : e.message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`config file ${file}: must be a JSON object`);
  return absolutePaths(raw, dirname(resolve(file)), `config file ${file}`);
}

/** Checks a source's keys and makes its paths absolute against `base`. */
function absolutePaths(source, base, where) {
  const known = Object.keys(DEFAULTS);
  const out = {};
  for (const [key, value] of Object.entries(source)) {
    if (!known.includes(key)) throw new ConfigError(`${where}: unknown key ${JSON.stringify(key)} (known: ${known.join(', ')})`);
    if (PATH_KEYS.includes(key) && value !== null) {
      if (typeof value !== 'string' || value === '') throw new ConfigError(`${where}: ${key} must be a path (a non-empty string) or null`);
      out[key] = resolve(base, value);
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** Reads a JSON file named by a config key. */
function readJsonFile(key, file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`${key} file ${file}: ${e.code === 'ENOENT' ? 'not found' : e.message}`);
  }
}

/** Imports a module named by a config key. */
async function importModule(key, file) {
  try {
    return await import(pathToFileURL(file).href);
  } catch (e) {
    throw new ConfigError(`${key} module ${file}: ${e.code === 'ERR_MODULE_NOT_FOUND' && e.message.includes(file) ? 'not found' : e.message}`);
  }
}

const isDir = (path) => {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
};

/** Whether `path` is `dir` or inside it. */
const within = (path, dir) => {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
};

/**
 * Checks merged keys and loads what they name: the schema, the users or the auth hook, the
 * merge function.
 * @param {object} keys merged config keys, paths absolute
 * @param {{configFile?: string|null}} [about]
 * @returns {Promise<ServerConfig>}
 * @throws {ConfigError}
 *
 * @typedef {object} ServerConfig
 * @property {string} schemaFile
 * @property {object} schema
 * @property {string|null} usersFile
 * @property {object|null} users
 * @property {string|null} authFile
 * @property {import('./auth.js').AuthHook|null} auth
 * @property {string|null} mergeFile
 * @property {Function|null} merge
 * @property {import('./static.js').StaticOptions|null} static null when nothing is served
 * @property {string} dataDir
 * @property {string|null} database a PostgreSQL URL: tenants live there, not in dataDir
 * @property {number} databasePool the most connections to it this process opens
 * @property {number} port
 * @property {string} host
 * @property {{origins: string[], maxAgeSeconds: number}} cors
 * @property {Partial<typeof DEFAULT_LIMITS>} limits
 */
export async function resolveConfig(keys, { configFile = null } = {}) {
  const c = { ...DEFAULTS, ...keys };
  if (typeof c.data !== 'string' || c.data === '') throw new ConfigError('data: required (the folder for tenant databases and the token secret)');
  c.data = resolve(c.data);
  if (!c.schema) throw new ConfigError('schema: required (the app\'s schema file, e.g. "schema": "schema.json")');
  const schema = readJsonFile('schema', c.schema);
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) throw new ConfigError(`schema file ${c.schema}: must be a JSON object`);

  if (!c.users === !c.auth) throw new ConfigError('users, auth: give exactly one (a users file, or an auth hook module)');
  let users = null;
  let auth = null;
  if (c.users) {
    users = readJsonFile('users', c.users);
    try {
      checkUsers(users, `users file ${c.users}`);
    } catch (e) {
      throw new ConfigError(e.message);
    }
  } else {
    try {
      auth = checkAuthHook(await importModule('auth', c.auth), `auth module ${c.auth}`);
    } catch (e) {
      throw e instanceof ConfigError ? e : new ConfigError(e.message);
    }
  }
  let merge = null;
  if (c.merge) {
    merge = (await importModule('merge', c.merge)).default;
    if (typeof merge !== 'function') throw new ConfigError(`merge module ${c.merge}: its default export must be the merge function`);
  }

  if (typeof c.clientRuntime !== 'boolean') throw new ConfigError('clientRuntime: must be true or false');
  if (c.static !== null && !isDir(c.static)) throw new ConfigError(`static: ${c.static} is not a folder`);
  if (!Number.isSafeInteger(c.port) || c.port < 0 || c.port > 65535) throw new ConfigError('port: must be a whole number from 0 to 65535');
  if (typeof c.host !== 'string' || c.host === '') throw new ConfigError('host: must be a non-empty string');
  if (c.database !== null && !(typeof c.database === 'string' && /^postgres(ql)?:\/\/\S+$/.test(c.database))) {
    throw new ConfigError('database: must be a PostgreSQL connection URL, postgres://user@host:port/name');
  }
  if (!Number.isSafeInteger(c.databasePool) || c.databasePool < 2) throw new ConfigError('databasePool: must be a whole number of connections, 2 or more');

  if (c.cors === null || typeof c.cors !== 'object' || Array.isArray(c.cors)) throw new ConfigError('cors: must be an object {origins, maxAgeSeconds}');
  const unknownCors = Object.keys(c.cors).find((k) => !CORS_KEYS.includes(k));
  if (unknownCors) throw new ConfigError(`cors: unknown key ${JSON.stringify(unknownCors)} (known: ${CORS_KEYS.join(', ')})`);
  const cors = { ...DEFAULTS.cors, ...c.cors };
  if (!Array.isArray(cors.origins)) throw new ConfigError('cors.origins: must be a list of origins like "http://localhost:5173"');
  try {
    corsPolicy(cors);
  } catch (e) {
    throw new ConfigError(`cors: ${e.message}`);
  }

  if (c.limits === null || typeof c.limits !== 'object' || Array.isArray(c.limits)) throw new ConfigError('limits: must be an object');
  for (const [name, value] of Object.entries(c.limits)) {
    if (!Object.hasOwn(DEFAULT_LIMITS, name)) throw new ConfigError(`limits: unknown key ${JSON.stringify(name)} (known: ${Object.keys(DEFAULT_LIMITS).join(', ')})`);
    if (!Number.isSafeInteger(value) || value < 1) throw new ConfigError(`limits.${name}: must be a whole number >= 1`);
  }

  // The static folder is served whole: it must hold none of the server's own files.
  if (c.static !== null) {
    const secretsAndCode = {
      data: c.data, users: c.users, auth: c.auth, merge: c.merge, config: configFile && resolve(configFile),
      'server code': join(PACKAGE_ROOT, 'js', 'server'),
    };
    for (const [what, path] of Object.entries(secretsAndCode)) {
      if (path && within(path, c.static)) {
        throw new ConfigError(`static: ${c.static} contains the ${what} (${path}), which must never be served; serve a folder of pages only`);
      }
    }
  }

  const served = c.static !== null || c.clientRuntime || c.serviceWorker !== null;
  return {
    schemaFile: c.schema,
    schema,
    usersFile: c.users,
    users,
    authFile: c.auth,
    auth,
    mergeFile: c.merge,
    merge,
    static: served ? { dir: c.static, clientRuntime: c.clientRuntime, serviceWorker: c.serviceWorker } : null,
    dataDir: c.data,
    database: c.database,
    databasePool: c.databasePool,
    port: c.port,
    host: c.host,
    cors,
    limits: { ...c.limits },
  };
}

/**
 * The whole configuration from a command line and an environment.
 * @param {{argv?: string[], env?: Record<string, string|undefined>, cwd?: string}} [from]
 * @returns {Promise<{config: ServerConfig, check: boolean, help: boolean}>}
 * @throws {ConfigError}
 */
export async function loadConfig({ argv = [], env = process.env, cwd = process.cwd() } = {}) {
  const { configFile, flags, check, help } = parseCommandLine(argv);
  if (help) return { config: null, check, help };
  const file = configFile ? readConfigFile(resolve(cwd, configFile)) : {};
  const keys = {
    ...file,
    ...absolutePaths(fromEnvironment(env), cwd, 'environment'),
    ...absolutePaths(flags, cwd, 'command line'),
  };
  // Flags add to a file's CORS list and limits rather than replace them whole.
  if (file.cors && flags.cors) keys.cors = { ...file.cors, origins: [...(file.cors.origins ?? []), ...flags.cors.origins] };
  if (file.limits && flags.limits) keys.limits = { ...file.limits, ...flags.limits };
  if (!keys.data) keys.data = resolve(cwd, DEFAULTS.data);
  return { config: await resolveConfig(keys, { configFile: configFile && resolve(cwd, configFile) }), check, help };
}

/** Paths of a config shown relative to `cwd`, for --check and the start-up line. */
export function describeConfig(config, cwd = process.cwd()) {
  const rel = (p) => (p ? (relative(cwd, p) || '.').split(sep).join('/') : null);
  return {
    schema: rel(config.schemaFile),
    ...(config.usersFile ? { users: rel(config.usersFile) } : { auth: rel(config.authFile) }),
    ...(config.mergeFile ? { merge: rel(config.mergeFile) } : {}),
    static: config.static ? rel(config.static.dir) : null,
    clientRuntime: config.static?.clientRuntime ?? false,
    serviceWorker: config.static ? rel(config.static.serviceWorker) : null,
    data: rel(config.dataDir),
    database: config.database ? config.database.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@') : null,
    ...(config.database ? { databasePool: config.databasePool } : {}),
    port: config.port,
    host: config.host,
    cors: config.cors,
    limits: { ...DEFAULT_LIMITS, ...config.limits },
  };
}
