// The PostgreSQL test harness (pg-harness.js) against a real server: pg reaches what it
// starts; restart() keeps what was committed, drops what was not, and ends old sessions with an
// error a new connection recovers from; kill() is a crash that recovery repairs; stop() leaves
// no folder, process or listening port; a process that ends without stop() stops its server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres, whyUnavailable } from './pg-harness.js';

// One clear failure when PostgreSQL is missing, instead of an obscure one in every test.
const missing = whyUnavailable();
const needsPostgres = { skip: missing ? 'PostgreSQL is not installed' : false };
test('the PostgreSQL server binaries are installed', () => {
  assert.equal(missing, null);
});

/** What a TCP connect to 127.0.0.1:port gives: 'connected' or the error code. */
function tcpProbe(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve('connected'); });
    socket.once('error', (e) => resolve(e.code));
  });
}

/** Whether a process runs (a zombie does not: it only waits for its parent to reap it). */
function running(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

const postmasterPid = (server) => Number(readFileSync(join(server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);

test('startPostgres starts PostgreSQL 15 or later that pg reaches as sloop, in UTF-8 database sloop, fsync on', needsPostgres, async () => {
  const server = await startPostgres({ name: 'basic' });
  const pool = new pg.Pool({ connectionString: server.url });
  try {
    assert.equal(server.url, `postgres://sloop@127.0.0.1:${server.port}/sloop`);
    assert.ok(existsSync(server.dataDir));
    const { rows: [info] } = await pool.query(`SELECT current_user AS "user", current_database() AS db,
      current_setting('server_version_num')::int AS version, current_setting('server_encoding') AS encoding,
      current_setting('fsync') AS fsync`);
    assert.equal(info.user, 'sloop');
    assert.equal(info.db, 'sloop');
    assert.ok(info.version >= 150000, `server_version_num ${info.version}`);
    assert.equal(info.encoding, 'UTF8');
    assert.equal(info.fsync, 'on');
    await pool.query('CREATE TABLE notes (id text PRIMARY KEY, doc jsonb NOT NULL)');
    await pool.query('INSERT INTO notes VALUES ($1, $2), ($3, $4)', ['n1', { title: 'Pump 4' }, 'n2', { title: 'Kessel ✓' }]);
    const { rows } = await pool.query('SELECT id, doc FROM notes ORDER BY id');
    assert.deepEqual(rows, [{ id: 'n1', doc: { title: 'Pump 4' } }, { id: 'n2', doc: { title: 'Kessel ✓' } }]);
  } finally {
    await pool.end();
    await server.stop();
  }
});

test('restart() keeps committed rows, drops an open transaction, and old sessions fail until a new connection', needsPostgres, async () => {
  const server = await startPostgres({ name: 'restart' });
  const sessionErrors = [];
  const before = new pg.Client({ connectionString: server.url });
  before.on('error', (e) => sessionErrors.push(e));
  const poolErrors = [];
  const pool = new pg.Pool({ connectionString: server.url, max: 1 });
  pool.on('error', (e) => poolErrors.push(e));
  try {
    await before.connect();
    await before.query('CREATE TABLE notes (id text PRIMARY KEY)');
    await before.query("INSERT INTO notes VALUES ('committed')");
    await before.query('BEGIN');
    await before.query("INSERT INTO notes VALUES ('uncommitted')");
    await pool.query('SELECT 1'); // leaves one idle connection in the pool
    const { port } = server;

    await server.restart();

    assert.equal(server.port, port);
    await assert.rejects(before.query('SELECT 1'), /not queryable|terminated/);
    // 57P01 admin_shutdown: the fast stop ended the session, rather than something else.
    assert.equal(sessionErrors[0]?.code, '57P01');
    // The pool dropped its dead connection and opens a new one.
    assert.deepEqual((await pool.query('SELECT id FROM notes ORDER BY id')).rows, [{ id: 'committed' }]);
    assert.equal(poolErrors[0]?.code, '57P01');
    const after = new pg.Client({ connectionString: server.url });
    await after.connect();
    try {
      assert.deepEqual((await after.query('SELECT id FROM notes ORDER BY id')).rows, [{ id: 'committed' }]);
    } finally {
      await after.end();
    }
  } finally {
    await before.end().catch(() => {}); // already broken
    await pool.end();
    await server.stop();
  }
});

test('kill() crashes the server, keeping its folder, and restart() recovers every committed row', needsPostgres, async () => {
  const server = await startPostgres({ name: 'kill' });
  const pool = new pg.Pool({ connectionString: server.url });
  const poolErrors = [];
  pool.on('error', (e) => poolErrors.push(e));
  try {
    await pool.query('CREATE TABLE notes (id int PRIMARY KEY)');
    await pool.query('INSERT INTO notes SELECT generate_series(1, 1000)');
    const postmaster = postmasterPid(server);

    await server.kill();

    assert.equal(running(postmaster), false);
    assert.equal(await tcpProbe(server.port), 'ECONNREFUSED');
    assert.ok(existsSync(server.dataDir));
    await server.restart();
    // Recovery ran: a clean stop would have logged nothing of the sort.
    assert.match(readFileSync(server.logFile, 'utf8'), /database system was interrupted|not properly shut down/);
    assert.deepEqual((await pool.query('SELECT count(*)::int AS n, sum(id)::int AS total FROM notes')).rows, [{ n: 1000, total: 500500 }]);
  } finally {
    await pool.end();
    await server.stop();
  }
});

test('stop() ends the server, removes its folder, closes its port, and may be called again', needsPostgres, async () => {
  const server = await startPostgres({ name: 'stop' });
  assert.equal(await tcpProbe(server.port), 'connected');
  const postmaster = postmasterPid(server);
  assert.equal(running(postmaster), true);

  await Promise.all([server.stop(), server.stop()]);
  await server.stop();

  assert.equal(existsSync(server.dir), false);
  assert.equal(running(postmaster), false);
  assert.equal(await tcpProbe(server.port), 'ECONNREFUSED');
  await assert.rejects(new pg.Client({ connectionString: server.url }).connect(), { code: 'ECONNREFUSED' });
  await assert.rejects(server.restart(), /after stop/);
});

/**
 * Runs a child process that starts a server, prints where it is, then ends by `ending`
 * ('throw': an uncaught error; a signal name: that signal while it idles).
 * @returns {Promise<{server: {dir: string, port: number, postmaster: number}, code: number|null, signal: string|null, stderr: string}>}
 */
function orphanServer(ending) {
  const harness = new URL('./pg-harness.js', import.meta.url).href;
  const script = `
    import { readFileSync } from 'node:fs';
    import { startPostgres } from ${JSON.stringify(harness)};
    const server = await startPostgres({ name: 'orphan' });
    const postmaster = Number(readFileSync(server.dataDir + '/postmaster.pid', 'utf8').split('\\n')[0]);
    console.log(JSON.stringify({ dir: server.dir, port: server.port, postmaster }));
    ${ending === 'throw' ? "throw new Error('a failing test');" : 'setInterval(() => {}, 1000);'}`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let server;
  child.stderr.on('data', (d) => { stderr += d; });
  child.stdout.on('data', (d) => {
    stdout += d;
    if (!server && stdout.includes('\n')) {
      server = JSON.parse(stdout.split('\n')[0]);
      if (ending !== 'throw') child.kill(ending);
    }
  });
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ server, code, signal, stderr })));
}

for (const ending of ['throw', 'SIGTERM', 'SIGINT']) {
  const how = ending === 'throw' ? 'an uncaught error' : ending;
  test(`a process ended by ${how} without stop() stops its server and removes its folder`, needsPostgres, async () => {
    const { server, code, signal, stderr } = await orphanServer(ending);
    assert.ok(server, `the child printed no server: ${stderr}`);
    if (ending === 'throw') assert.equal(code, 1);
    else assert.equal(signal, ending); // the signal still ends the process, as it would have
    assert.equal(running(server.postmaster), false);
    assert.equal(existsSync(server.dir), false);
    assert.equal(await tcpProbe(server.port), 'ECONNREFUSED');
  });
}
