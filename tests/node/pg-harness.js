/**
 * pg-harness.js -- a real PostgreSQL server for tests: a throwaway cluster in a temp folder, on
 * a free loopback port, with a database `sloop` that user `sloop` reaches without a password
 * (trust). What a test then does with it (a pg Pool on `url`) is its own business.
 *
 * It is the server a PostgreSQL store will run against, not a double: fsync keeps its default
 * (on), since durability tests need commits that really reach the disk. Only initdb skips its
 * fsync (--no-sync): a throwaway cluster's creation need not survive a power cut.
 *
 * Binaries: the highest /usr/lib/postgresql/<major>/bin (Debian's layout; they are not on
 * PATH), else `pg_config --bindir`. initdb refuses to run as root, so as root every server
 * binary runs as user postgres (runuser), in a folder chowned to it; otherwise they run as the
 * current user. Linux only: kill() reads /proc.
 *
 * Invariants: "running" means the data folder holds postmaster.pid (the server's own lock
 * file), nothing else. A server this process started and did not stop() is stopped (pg_ctl
 * stop -m immediate) and its folder removed when the process ends, be it a failed test, an
 * uncaught error, SIGINT or SIGTERM (node --test sends SIGTERM to a file that overruns its
 * timeout), so no run leaves postgres processes or folders behind. SIGKILL still can.
 */
import { execFile, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const USER = 'sloop';
const DATABASE = 'sloop';
const SERVER_BINARIES = ['initdb', 'pg_ctl', 'postgres'];
const DEBIAN_ROOT = '/usr/lib/postgresql';
/** Ports tried before giving up: another process may take the one we picked before postgres binds it. */
const START_ATTEMPTS = 5;
/** pg_ctl's wait for start and stop, in seconds (its default is 60). */
const PG_CTL_WAIT_S = '30';
const asRoot = process.getuid?.() === 0;

let binDirCache;

/** The folder holding initdb, pg_ctl and postgres, or null when the server is not installed. */
function serverBinDir() {
  if (binDirCache !== undefined) return binDirCache;
  const complete = (dir) => SERVER_BINARIES.every((bin) => existsSync(join(dir, bin)));
  const majors = existsSync(DEBIAN_ROOT) ? readdirSync(DEBIAN_ROOT).filter((v) => /^\d+$/.test(v)) : [];
  const debian = majors.sort((a, b) => b - a).map((v) => join(DEBIAN_ROOT, v, 'bin')).find(complete);
  if (debian) return (binDirCache = debian);
  // pg_config comes with libpq's headers too, so its bindir may lack the server.
  const config = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const dir = config.status === 0 ? config.stdout.trim() : '';
  return (binDirCache = dir && complete(dir) ? dir : null);
}

/** User postgres's {uid, gid}, or null when there is no such user. */
function postgresUser() {
  const id = (flag) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const [uid, gid] = [id('-u'), id('-g')];
  return uid.status === 0 && gid.status === 0 ? { uid: Number(uid.stdout), gid: Number(gid.stdout) } : null;
}

/**
 * Why startPostgres() cannot run here, in words a test can print; null when it can.
 * @returns {string|null}
 */
export function whyUnavailable() {
  if (!serverBinDir()) {
    return `PostgreSQL is not installed: no ${SERVER_BINARIES.join(', ')} in ${DEBIAN_ROOT}/*/bin or in ` +
      '`pg_config --bindir`; install the Debian package postgresql (`make setup` does, as root)';
  }
  if (asRoot && !postgresUser()) return 'running as root, but there is no user postgres to run PostgreSQL as (initdb refuses root)';
  return null;
}

/** Whether startPostgres() can run here; whyUnavailable() says why not. */
export function available() {
  return whyUnavailable() === null;
}

/** [command, argv] running a server binary, as user postgres when we are root. */
function commandFor(bin, args) {
  const path = join(serverBinDir(), bin);
  return asRoot ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
}

/**
 * Runs a server binary in `cwd` (a folder user postgres can enter: from ours, initdb would
 * complain). Resolves with its stdout; rejects with its stderr in the message.
 */
function runServerBinary(bin, args, cwd) {
  const [command, argv] = commandFor(bin, args);
  return new Promise((resolve, reject) => {
    execFile(command, argv, { cwd, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${bin} ${args[0]}: ${(stderr || stdout || error.message).trim()}`));
      else resolve(stdout);
    });
  });
}

/** A loopback port that is free now (the kernel's pick for port 0). */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

const logSize = (cluster) => (existsSync(cluster.logFile) ? statSync(cluster.logFile).size : 0);
const logSince = (cluster, offset) => (existsSync(cluster.logFile) ? readFileSync(cluster.logFile).subarray(offset).toString() : '');
const isRunning = (cluster) => existsSync(join(cluster.dataDir, 'postmaster.pid'));

/**
 * Starts the cluster on cluster.port and waits until it accepts connections. Its socket goes
 * in the data folder, so it never meets a system server's /var/run/postgresql. Rejects with
 * what the server logged; `clash` is true when the port was taken.
 */
async function pgCtlStart(cluster) {
  // pg_ctl hands -o to /bin/sh, hence the quoting.
  const quoted = `'${cluster.dataDir.replaceAll("'", "'\\''")}'`;
  const options = `-p ${cluster.port} -k ${quoted} -c listen_addresses=127.0.0.1`;
  const logged = logSize(cluster);
  try {
    const args = ['start', '-w', '-t', PG_CTL_WAIT_S, '-D', cluster.dataDir, '-l', cluster.logFile, '-o', options];
    await runServerBinary('pg_ctl', args, cluster.dir);
  } catch (e) {
    const log = logSince(cluster, logged);
    throw Object.assign(new Error(`${e.message}\n${cluster.logFile}:\n${log.trim()}`), { clash: /could not bind/.test(log) });
  }
}

/** Stops the cluster: `fast` ends sessions and checkpoints, `immediate` aborts (recovery at next start). */
function pgCtlStop(cluster, mode) {
  return runServerBinary('pg_ctl', ['stop', '-w', '-t', PG_CTL_WAIT_S, '-m', mode, '-D', cluster.dataDir], cluster.dir);
}

/** Clusters started and not yet removed, for the exit handler. */
const live = new Set();
let exitHooked = false;

/**
 * Synchronously stops the cluster if it runs (mode immediate) and removes its folder. The exit
 * handler's way, and stop()'s last step, so a failed fast stop leaves nothing either.
 */
function removeNow(cluster) {
  if (isRunning(cluster)) {
    const [command, argv] = commandFor('pg_ctl', ['stop', '-w', '-t', PG_CTL_WAIT_S, '-m', 'immediate', '-D', cluster.dataDir]);
    spawnSync(command, argv, { cwd: cluster.dir, stdio: 'ignore' });
  }
  rmSync(cluster.dir, { recursive: true, force: true });
  live.delete(cluster);
}

function hookExit() {
  if (exitHooked) return;
  exitHooked = true;
  const removeAll = () => { for (const cluster of [...live]) removeNow(cluster); };
  process.on('exit', removeAll);
  // A signal skips 'exit' handlers; once stopped, the signal is raised again, to end the
  // process as it would have without this listener.
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => { removeAll(); process.kill(process.pid, signal); });
  }
}

/** A process's state letter and parent, from /proc; null once it is gone. */
function procStat(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state, ppid: Number(ppid) };
  } catch {
    return null;
  }
}

/**
 * Crashes the cluster: SIGKILL to the postmaster and every child, the data folder kept as it
 * is. The postmaster is stopped first, so it forks nothing between the scan and the kill.
 */
async function crash(cluster) {
  const lockFile = join(cluster.dataDir, 'postmaster.pid');
  const postmaster = Number(readFileSync(lockFile, 'utf8').split('\n')[0]);
  process.kill(postmaster, 'SIGSTOP');
  const children = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number)
    .filter((pid) => procStat(pid)?.ppid === postmaster);
  const pids = [postmaster, ...children];
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (e) {
      if (e.code !== 'ESRCH') throw e; // a child that ended on its own meanwhile
    }
  }
  for (const deadline = Date.now() + 10_000; pids.some((pid) => (procStat(pid)?.state ?? 'Z') !== 'Z');) {
    if (Date.now() > deadline) throw new Error(`postgres processes ${pids.join(' ')} survived SIGKILL`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  // A dead postmaster stays a zombie until PID 1 reaps it, and some PID 1s (process_api here,
  // node in a bare container) do that late or never. kill(pid, 0) still finds a zombie, so a
  // new postmaster would take these lock files for a live server's and refuse to start.
  for (const stale of [lockFile, join(cluster.dataDir, `.s.PGSQL.${cluster.port}.lock`)]) rmSync(stale, { force: true });
}

/**
 * Starts a fresh PostgreSQL server (initdb, then pg_ctl start) and creates database `sloop`.
 * About 1 s. Throws whyUnavailable()'s words when PostgreSQL is missing.
 *
 *   const server = await startPostgres({ name: 'store' });
 *   const pool = new pg.Pool({ connectionString: server.url });
 *   try { ... } finally { await pool.end(); await server.stop(); }
 *
 * A fast restart or a kill ends every session with an error that pg emits as an 'error'
 * event on the Client or Pool: give those a listener, or the event ends the process.
 *
 * @param {{name?: string}} [options] name goes into the temp folder's name
 * @returns {Promise<{url: string, port: number, dir: string, dataDir: string, logFile: string,
 *   stop: () => Promise<void>, restart: () => Promise<void>, kill: () => Promise<void>}>}
 *   `stop()` stops the server (mode fast) and removes `dir`; a second call does nothing.
 *   `restart()` stops it (mode fast) if it runs and starts it again on the same port.
 *   `kill()` crashes it (SIGKILL to every process); `restart()` then recovers from the WAL.
 */
export async function startPostgres({ name = 'test' } = {}) {
  const why = whyUnavailable();
  if (why) throw new Error(why);
  // Short, as the socket's path must fit in 107 bytes.
  const label = name.replace(/[^\w-]/g, '_').slice(0, 20);
  const dir = mkdtempSync(join(tmpdir(), `sloop-pg-${label}-`));
  const cluster = { dir, dataDir: join(dir, 'data'), logFile: join(dir, 'postgres.log'), port: 0, stopping: null };
  hookExit();
  live.add(cluster);
  try {
    // mkdtemp makes the folder 0700; tmpdir() (/tmp) lets user postgres through to it.
    if (asRoot) {
      const { uid, gid } = postgresUser();
      chownSync(dir, uid, gid);
    }
    await runServerBinary('initdb', ['-D', cluster.dataDir, '-A', 'trust', '-U', USER, '-E', 'UTF8', '--locale=C', '--no-sync'], dir);
    for (let attempt = 1; ; attempt++) {
      cluster.port = await freePort();
      try {
        await pgCtlStart(cluster);
        break;
      } catch (e) {
        if (!e.clash || attempt === START_ATTEMPTS) throw e;
      }
    }
    const admin = new pg.Client({ host: '127.0.0.1', port: cluster.port, user: USER, database: 'postgres' });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE "${DATABASE}"`);
    } finally {
      await admin.end();
    }
  } catch (e) {
    removeNow(cluster);
    throw e;
  }
  return {
    url: `postgres://${USER}@127.0.0.1:${cluster.port}/${DATABASE}`,
    port: cluster.port,
    dir,
    dataDir: cluster.dataDir,
    logFile: cluster.logFile,
    stop() {
      cluster.stopping ??= (async () => {
        try {
          if (isRunning(cluster)) await pgCtlStop(cluster, 'fast');
        } finally {
          removeNow(cluster);
        }
      })();
      return cluster.stopping;
    },
    async restart() {
      if (cluster.stopping) throw new Error('restart() after stop(): the server and its folder are gone');
      if (isRunning(cluster)) await pgCtlStop(cluster, 'fast');
      await pgCtlStart(cluster);
    },
    async kill() {
      if (cluster.stopping) throw new Error('kill() after stop(): the server and its folder are gone');
      if (isRunning(cluster)) await crash(cluster);
    },
  };
}
