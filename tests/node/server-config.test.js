// The server's configuration (file, environment, flags) and the sloop-server command line:
// what each source sets, which wins, the errors a bad configuration gets, and a server
// started from a config of its own that logs in, pushes and pulls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, describeConfig, loadConfig, parseCommandLine } from '../../js/server/config.js';
import { hashPassword } from '../../js/server/passwords.js';
import { spawnServerScript } from './real-server.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const cli = join(root, 'js/server/cli.js');

const SCHEMA = { collections: { items: { fields: { name: 'lww', done: 'lww', qty: 'counter' } } } };
const cheap = { N: 1024, r: 8, p: 1 };

/** A folder with an app's schema, users and config, as the README has one write them. */
async function appFolder(config = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sloop-config-'));
  writeFileSync(join(dir, 'schema.json'), JSON.stringify(SCHEMA));
  writeFileSync(join(dir, 'users.json'), JSON.stringify({
    ann: { tenant: 'shop', password: await hashPassword('ann-pw', cheap), read: '*', write: '*' },
    ro: { tenant: 'shop', password: await hashPassword('ro-pw', cheap), read: '*', write: [] },
  }));
  const file = join(dir, 'server.json');
  writeFileSync(file, JSON.stringify({ schema: 'schema.json', users: 'users.json', data: 'data', ...config }));
  return { dir, file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const load = (argv, env = {}, cwd = root) => loadConfig({ argv, env, cwd });

test('a config file\'s paths are relative to it; environment beats file, flags beat both', async () => {
  const app = await appFolder({ port: 9000, cors: { origins: ['http://localhost:5173'] }, limits: { accessTtlMs: 60000 } });
  try {
    let { config } = await load(['--config', app.file], {}, '/');
    assert.equal(config.schemaFile, join(app.dir, 'schema.json'));
    assert.deepEqual(config.schema, SCHEMA);
    assert.equal(config.usersFile, join(app.dir, 'users.json'));
    assert.equal(config.dataDir, join(app.dir, 'data'));
    assert.equal(config.port, 9000);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.static, null, 'nothing is served unless asked');
    assert.deepEqual(config.cors, { origins: ['http://localhost:5173'], maxAgeSeconds: 600 });
    assert.deepEqual(config.limits, { accessTtlMs: 60000 });

    ({ config } = await load(['--config', app.file], { PORT: '9100', SLOOP_DATA: 'elsewhere' }, '/tmp'));
    assert.equal(config.port, 9100);
    assert.equal(config.dataDir, '/tmp/elsewhere', 'paths from the environment are relative to the working directory');

    ({ config } = await load(['--config', app.file, '--port', '0', '--data', 'd2', '--cors-origin', 'https://app.example',
      '--limit', 'offlineTtlMs=86400000', '--host', '0.0.0.0'], { PORT: '9100' }, '/srv'));
    assert.equal(config.port, 0);
    assert.equal(config.dataDir, '/srv/d2');
    assert.equal(config.host, '0.0.0.0');
    assert.deepEqual(config.cors.origins, ['http://localhost:5173', 'https://app.example']);
    assert.deepEqual(config.limits, { accessTtlMs: 60000, offlineTtlMs: 86400000 });
  } finally {
    app.cleanup();
  }
});

test('flags alone make a configuration; static, runtime and service worker go together', async () => {
  const app = await appFolder();
  try {
    mkdirSync(join(app.dir, 'public'));
    const { config } = await load(['--schema', 'schema.json', '--users', 'users.json', '--static', 'public', '--client-runtime'], {}, app.dir);
    assert.deepEqual(config.static, { dir: join(app.dir, 'public'), clientRuntime: true, serviceWorker: null });
    assert.equal(config.dataDir, join(app.dir, 'sloop-data'), 'default data folder: ./sloop-data');
    assert.equal(config.port, 8080);
  } finally {
    app.cleanup();
  }
});

test('a PostgreSQL database comes from the file, the environment or a flag; its password is not shown', async () => {
  const app = await appFolder({ database: 'postgres://file@db:5432/a' });
  try {
    let { config } = await load(['--config', app.file], {});
    assert.equal(config.database, 'postgres://file@db:5432/a');
    assert.equal(config.databasePool, 10);
    ({ config } = await load(['--config', app.file], { SLOOP_DATABASE_URL: 'postgres://env:pw@db/b', SLOOP_DATABASE_POOL: '4' }));
    assert.equal(config.database, 'postgres://env:pw@db/b');
    assert.equal(config.databasePool, 4);
    ({ config } = await load(['--config', app.file, '--database', 'postgresql://flag:s3cret@db/c', '--database-pool', '25'],
      { SLOOP_DATABASE_URL: 'postgres://env@db/b' }));
    assert.equal(config.database, 'postgresql://flag:s3cret@db/c');
    assert.equal(config.databasePool, 25);
    const shown = describeConfig(config);
    assert.equal(shown.database, 'postgresql://flag:***@db/c');
    assert.ok(!JSON.stringify(shown).includes('s3cret'));
    await assert.rejects(load(['--config', app.file, '--database', 'mysql://db/c']), /database: must be a PostgreSQL connection URL/);
    await assert.rejects(load(['--config', app.file, '--database-pool', '1']), /--database-pool: must be a whole number of connections, 2 or more/);
    await assert.rejects(load(['--config', app.file], { SLOOP_DATABASE_POOL: 'many' }), /SLOOP_DATABASE_POOL: must be a whole number/);
  } finally {
    app.cleanup();
  }
});

test('a bad configuration is a ConfigError that names the key and the problem', async () => {
  const app = await appFolder();
  const write = (name, text) => { writeFileSync(join(app.dir, name), text); return join(app.dir, name); };
  const refuses = async (argv, pattern, env = {}) => {
    await assert.rejects(load(argv, env, app.dir), (e) => e instanceof ConfigError && pattern.test(e.message), `${argv.join(' ')} -> ${pattern}`);
  };
  try {
    mkdirSync(join(app.dir, 'public'));
    await refuses(['--config', 'missing.json'], /config file .*missing\.json: not found/);
    await refuses(['--config', write('broken.json', '{"schema": ')], /config file .*broken\.json/);
    await refuses(['--config', write('list.json', '[]')], /must be a JSON object/);
    await refuses(['--config', write('unknown.json', '{"schema": "schema.json", "users": "users.json", "prot": 80}')], /unknown key "prot"/);
    await refuses(['--users', 'users.json'], /schema: required/);
    await refuses(['--schema', 'nope.json', '--users', 'users.json'], /schema file .*nope\.json: not found/);
    await refuses(['--schema', write('s.json', '"x"'), '--users', 'users.json'], /schema file .* must be a JSON object/);
    await refuses(['--schema', 'schema.json'], /users, auth: give exactly one/);
    await refuses(['--schema', 'schema.json', '--users', 'users.json', '--auth', 'a.js'], /give exactly one/);
    await refuses(['--schema', 'schema.json', '--users', 'nope.json'], /users file .*nope\.json: not found/);
    await refuses(['--schema', 'schema.json', '--users', write('u1.json', '{"x": {"tenant": "t", "password": "hunter2"}}')], /user x: password must be a scrypt hash/);
    await refuses(['--schema', 'schema.json', '--users', write('u2.json', '{"x": {"tenant": "T!", "password": "p"}}')], /user x: tenant must match/);
    await refuses(['--schema', 'schema.json', '--users', write('u3.json', '[1]')], /users file .*must be an object/);
    await refuses(['--schema', 'schema.json', '--auth', 'nope.js'], /auth module .*nope\.js/);
    await refuses(['--schema', 'schema.json', '--auth', write('a.mjs', 'export const x = 1;')], /must export an async function login/);
    await refuses(['--schema', 'schema.json', '--users', 'users.json', '--merge', write('m.mjs', 'export const x = 1;')], /merge module .*default export/);
    await refuses(['--schema', 'schema.json', '--users', 'users.json', '--static', 'nowhere'], /static: .* is not a folder/);
    await refuses(['--schema', 'schema.json', '--users', 'users.json', '--static', '.'], /static: .* contains the (data|users)/);
    await refuses(['--schema', 'schema.json', '--users', 'users.json', '--static', 'public', '--data', 'public/data'], /contains the data/);
    await refuses(['--schema', 'schema.json', '--users', 'users.json', '--static', root], /contains the (users|server code)/);
    await refuses(['--schema', 'schema.json', '--users', 'users.json', '--port', '70000'], /--port: port must be 0 to 65535/);
    await refuses(['--schema', 'schema.json', '--users', 'users.json'], /PORT: port must be/, { PORT: 'http' });
    await refuses(['--schema', 'schema.json', '--users', 'users.json', '--cors-origin', 'localhost:5173'], /cors: CORS origin "localhost:5173"/);
    await refuses(['--schema', 'schema.json', '--users', 'users.json', '--limit', 'ttl=5'], /limits: unknown key "ttl"/);
    await refuses(['--schema', 'schema.json', '--users', 'users.json', '--limit', 'maxOps'], /expected NAME=INTEGER/);
    await refuses(['--config', write('c2.json', '{"schema": "schema.json", "users": "users.json", "cors": {"origin": []}}')], /cors: unknown key "origin"/);
    await refuses(['--config', write('c3.json', '{"schema": "schema.json", "users": "users.json", "clientRuntime": "yes"}')], /clientRuntime: must be true or false/);
    await refuses(['--config', write('c4.json', '{"schema": "schema.json", "users": "users.json", "limits": {"maxOps": -1}}')], /limits\.maxOps: must be a whole number/);
    await refuses(['--frobnicate'], /Unknown option '--frobnicate'/);
    assert.equal(parseCommandLine(['--help']).help, true);
  } finally {
    app.cleanup();
  }
});

/** Runs the CLI; resolves with its exit code and output once it ends. */
function runCli(argv, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...argv], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

/** Starts the CLI as a server; resolves once it prints its URL. */
const startCli = (argv, env = {}) => spawnServerScript('js/server/cli.js', argv, env);

const post = async (url, path, body, token) => {
  const res = await fetch(url + path, {
    method: 'POST', body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  return { status: res.status, body: await res.json() };
};

test('sloop-server --check prints the resolved config; a bad one exits 2 with the reason', async () => {
  const app = await appFolder();
  try {
    const ok = await runCli(['--config', app.file, '--check']);
    assert.equal(ok.code, 0, ok.err);
    const shown = JSON.parse(ok.out);
    assert.equal(shown.port, 8080);
    assert.equal(shown.limits.maxOps, 1000, 'limits are shown with their defaults');
    const bad = await runCli(['--config', app.file, '--limit', 'nope=1']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /^sloop-server: limits: unknown key "nope"/);
    // The core itself checks the schema before the server listens.
    writeFileSync(join(app.dir, 'bad-schema.json'), JSON.stringify({ collections: { items: { fields: { name: 'sometimes' } } } }));
    const badSchema = await runCli(['--config', app.file, '--schema', join(app.dir, 'bad-schema.json'), '--port', '0']);
    assert.equal(badSchema.code, 2);
    assert.match(badSchema.err, /schema file .*bad-schema\.json: /);
    const help = await runCli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /^usage: sloop-server/);
  } finally {
    app.cleanup();
  }
});

test('sloop-server runs an app from its own config: log in, push, pull, stop on SIGTERM', async () => {
  const app = await appFolder({ port: 0 });
  const srv = await startCli(['--config', app.file], { SLOOP_SECRET: 'a-test-secret-of-at-least-32-bytes!!' });
  try {
    assert.equal((await post(srv.url, '/v1/login', { user: 'ann', password: 'wrong' })).status, 401);
    const ann = await post(srv.url, '/v1/login', { user: 'ann', password: 'ann-pw', device: 'dev1' });
    assert.equal(ann.status, 200, JSON.stringify(ann.body));
    assert.equal(ann.body.tenant, 'shop');

    const op = {
      id: 'dev1:1', type: 'put', coll: 'items', rid: 'milk', hlc: '0192f3a4b5c6-0000-00000000000000d1', base: 0,
      payload: { name: { set: 'milk' }, done: { set: false } },
    };
    const pushed = await post(srv.url, '/v1/push', { v: 1, device: 'dev1', ops: [op] }, ann.body.token);
    assert.equal(pushed.status, 200, JSON.stringify(pushed.body));
    assert.equal(pushed.body.results[0].status, 'applied', JSON.stringify(pushed.body));

    const ro = await post(srv.url, '/v1/login', { user: 'ro', password: 'ro-pw', device: 'dev2' });
    const pulled = await post(srv.url, '/v1/pull', { v: 1, device: 'dev2', cursor: 0 }, ro.body.token);
    assert.equal(pulled.status, 200, JSON.stringify(pulled.body));
    const milk = pulled.body.changes.find((c) => c.rid === 'milk');
    assert.ok(milk, JSON.stringify(pulled.body));
    assert.equal(milk.coll, 'items');
    assert.match(JSON.stringify(milk), /"milk"/);
    // The data went where the config said, and nothing is served but the API.
    assert.ok(readFileSync(join(app.dir, 'data', 'shop.db')).length > 0);
    assert.equal((await fetch(`${srv.url}/`)).status, 404);
    assert.equal((await fetch(`${srv.url}/users.json`)).status, 404);
  } finally {
    srv.child.kill('SIGTERM');
    assert.equal(await srv.exited, 0);
    app.cleanup();
  }
});
