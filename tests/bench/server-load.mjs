/**
 * server-load.mjs -- a load driver for the sync server: K concurrent clients on loopback, each
 * signed in as its own user and device, pushing batches and pulling, until a request count or
 * a time bound is reached. Reports throughput, latency percentiles, errors and the server
 * process's peak RSS. A measuring tool, not a test: nothing here passes or fails.
 *
 *   node tests/bench/server-load.mjs [--clients 16] [--requests 20000] [--seconds 20]
 *        [--ops 20] [--pull-ratio 0.25] [--tenants 2] [--store fake|core] [--json]
 *
 * The server runs in a child process (this file with --serve), so its RSS is its own. With
 * `--store fake` the tenant store answers canned JSON and the figures are the HTTP layer's
 * cost alone; `--store core` opens the C core per tenant with the app's schema, driven by
 * hand-made requests (tests/bench/sync-load.mjs drives it with real CoreDb clients).
 */
import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

const { values: opt } = parseArgs({
  options: {
    clients: { type: 'string', default: '16' },
    requests: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '20' },
    ops: { type: 'string', default: '20' },
    'pull-ratio': { type: 'string', default: '0.25' },
    tenants: { type: 'string', default: '2' },
    store: { type: 'string', default: 'fake' },
    json: { type: 'boolean', default: false },
    serve: { type: 'boolean', default: false },
  },
});
const clients = Number(opt.clients);
const tenants = Number(opt.tenants);
const PASSWORD = 'bench-pw';

/** Child mode: start the server, print its URL as one JSON line, run until SIGTERM. */
async function serve() {
  const { createSyncServer } = await import('../../js/server/sync-server.js');
  const { hashPassword } = await import('../../js/server/passwords.js');
  const password = await hashPassword(PASSWORD, { N: 1024, r: 8, p: 1 });
  const users = {};
  for (let i = 0; i < clients; i++) users[`u${i}`] = { tenant: `t${i % tenants}`, password, read: '*', write: '*' };
  let dataDir = null;
  let openTenantStore;
  if (opt.store === 'core') {
    const { coreStoreOpener } = await import('../../js/server/core-store.js');
    dataDir = mkdtempSync(join(tmpdir(), 'sloop-bench-'));
    const schema = JSON.parse(readFileSync(new URL('../../web/schema.json', import.meta.url), 'utf8'));
    openTenantStore = coreStoreOpener({ dataDir, schema });
  } else {
    // Canned answers of the protocol's shape; nothing is kept, so RSS is the HTTP layer's.
    openTenantStore = () => ({
      push: (reqJson) => {
        const { ops } = JSON.parse(reqJson);
        return JSON.stringify({ v: 1, results: ops.map((op) => ({ id: op.id, status: 'applied', version: 1 })), records: [], hlc: '' });
      },
      pull: () => '{"v":1,"changes":[],"conflicts":[],"cursor":0,"hasMore":false,"remaining":0}',
      close: () => {},
    });
  }
  const sync = createSyncServer({ users, secret: 'bench-secret-0123456789abcdef0123456789', openTenantStore, logger: console });
  console.log(JSON.stringify({ url: await sync.listen({ port: 0 }) }));
  process.once('SIGTERM', async () => {
    await sync.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  });
}

/** Starts the server child and waits for its URL. */
function startChild() {
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, '--serve',
    '--clients', String(clients), '--tenants', String(tenants), '--store', opt.store], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve({ child, url: JSON.parse(line).url });
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

/** Peak and current resident set of a process, from /proc (Linux), in MiB. */
function rssOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { peakMiB: kb('VmHWM') / 1024, nowMiB: kb('VmRSS') / 1024 };
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

/** One client: signs in, then pushes and pulls until the shared budget runs out. */
async function client(url, index, budget, stats) {
  const device = `dev${index}`;
  const loginRes = await fetch(`${url}/v1/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: `u${index}`, password: PASSWORD, device }),
  });
  const { token } = await loginRes.json();
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  let seq = 0;
  let cursor = 0;
  while (budget.take()) {
    const isPull = Math.random() < Number(opt['pull-ratio']);
    const body = isPull
      ? { v: 1, device, cursor, limit: 500 }
      : { v: 1, device, ops: Array.from({ length: Number(opt.ops) }, () => ({
        id: `${device}:${++seq}`, type: 'patch', coll: 'notes', rid: `n${seq % 1000}`,
        hlc: `${Date.now().toString(16).padStart(12, '0')}-0000-${index.toString(16).padStart(16, '0')}`,
        base: 0, payload: { title: { set: `note ${seq}` }, votes: { inc: 1 } },
      })) };
    const started = performance.now();
    try {
      const res = await fetch(`${url}/v1/${isPull ? 'pull' : 'push'}`, { method: 'POST', headers, body: JSON.stringify(body) });
      const answer = await res.json();
      stats.latencies.push(performance.now() - started);
      if (res.status !== 200) stats.errors[res.status] = (stats.errors[res.status] ?? 0) + 1;
      else if (isPull) cursor = answer.cursor ?? cursor;
      else stats.ops += body.ops.length;
    } catch (e) {
      stats.errors[e.cause?.code ?? e.name] = (stats.errors[e.cause?.code ?? e.name] ?? 0) + 1;
    }
  }
}

async function drive() {
  const { child, url } = await startChild();
  const deadline = performance.now() + Number(opt.seconds) * 1000;
  let left = Number(opt.requests);
  const budget = { take: () => left-- > 0 && performance.now() < deadline };
  const stats = { latencies: [], errors: {}, ops: 0 };
  const started = performance.now();
  let elapsed;
  let rss;
  try {
    await Promise.all(Array.from({ length: clients }, (_, i) => client(url, i, budget, stats)));
  } finally {
    elapsed = (performance.now() - started) / 1000;
    rss = rssOf(child.pid);
    child.kill('SIGTERM');
  }
  const sorted = stats.latencies.sort((a, b) => a - b);
  const report = {
    store: opt.store, clients, tenants, opsPerPush: Number(opt.ops), requests: sorted.length,
    seconds: Number(elapsed.toFixed(2)), requestsPerSec: Math.round(sorted.length / elapsed),
    opsPerSec: Math.round(stats.ops / elapsed), p50Ms: Number(percentile(sorted, 0.5)?.toFixed(2)),
    p99Ms: Number(percentile(sorted, 0.99)?.toFixed(2)), errors: stats.errors,
    serverPeakRssMiB: Number(rss.peakMiB.toFixed(1)), serverRssMiB: Number(rss.nowMiB.toFixed(1)),
  };
  if (opt.json) console.log(JSON.stringify(report));
  else for (const [k, v] of Object.entries(report)) console.log(`${k.padEnd(18)} ${typeof v === 'object' ? JSON.stringify(v) : v}`);
}

await (opt.serve ? serve() : drive());
