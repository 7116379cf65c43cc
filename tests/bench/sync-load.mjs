/**
 * sync-load.mjs -- the real server under real clients: CoreDb instances in this process
 * pushing and pulling over HTTP on 127.0.0.1 against `node js/server/main.js` in a child
 * process (its own RSS, sampled from /proc). A measuring tool, not a test: it prints figures;
 * the one thing it checks is that every client converges on the server's state afterwards.
 * tests/node/sync-load.test.js runs runLoad() small, as a correctness test.
 *
 *   node tests/bench/sync-load.mjs [--clients 16] [--ops 400] [--batch 20] [--seconds 60]
 *        [--only load,apply,pull,latency] [--records 100000] [--json]
 *
 * Sections: `load` (K clients writing, pushing and pulling, then converging), `apply` (push
 * throughput for batches of 1, 100 and 1000 operations), `pull` (an initial sync of
 * --records records into an empty :memory: client, after seeding them in batches of 1000),
 * `latency` (push latency with 50 concurrent clients). Every loop is bounded by a count and by
 * --seconds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { apiDump, clientDocs, coreClient, docsOf, login, post, rssOf, spawnServer } from '../node/real-server.js';

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
const round = (n, digits = 1) => Number(n.toFixed(digits));

/** Signs the writers in once; clients share their tokens (not bound to a device). */
async function writerTokens(url, users) {
  return Promise.all(users.map(async (user) => ({ user, token: (await login(url, user)).token })));
}

/**
 * K clients, each writing `batch` operations (its own records, plus a shared counter and a
 * shared title every client sets), pushing and pulling, until each has written `opsPerClient`
 * or `seconds` pass; then every client syncs until it holds what the server holds.
 * @returns {Promise<object>} ops/s, push latency percentiles (ms), errors by kind, convergence
 */
export async function runLoad({ url, clients = 16, opsPerClient = 400, batch = 20, seconds = 60, users = ['alice', 'bob'] }) {
  const tokens = await writerTokens(url, users);
  const fleet = await Promise.all(Array.from({ length: clients }, (_, i) => coreClient(url, null, { token: tokens[i % tokens.length].token, batch })));
  const latencies = [];
  const errors = {};
  let ops = 0;
  let batches = 0;
  const countError = (e) => { const k = e.cause?.code ?? e.message.slice(0, 40); errors[k] = (errors[k] ?? 0) + 1; };
  fleet[0].db.put('notes', 'shared', { title: 'shared', votes: 0 });
  await fleet[0].push();
  // Everyone needs the shared record before patching it.
  for (const client of fleet) await client.pull().catch(countError);
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(fleet.map(async (client, c) => {
    for (let written = 0; written < opsPerClient && performance.now() < deadline;) {
      for (let i = 0; i < batch - 2; i++) client.db.put('notes', `c${c}-${written + i}`, { title: `client ${c} note ${written + i}`, votes: 1 });
      client.db.patch('notes', 'shared', { votes: { $inc: 1 } });
      client.db.patch('notes', 'shared', { title: `last by ${c} at ${written}` });
      written += batch;
      batches += 1;
      const t = performance.now();
      try {
        const results = await client.push();
        latencies.push(performance.now() - t);
        ops += results.length;
        for (const r of results) if (r.status === 'rejected') countError(new Error(`rejected ${r.code}`));
        await client.pull();
      } catch (e) {
        countError(e);
      }
    }
  }));
  const elapsed = (performance.now() - started) / 1000;
  // Quiescence: each client pushes what is left, then all pull the final state.
  for (const client of fleet) await client.push().catch(countError);
  await Promise.all(fleet.map((client) => client.pull().catch(countError)));
  const { token } = tokens[0];
  const server = docsOf(await apiDump(url, token, 'load-checker'));
  const diverged = fleet.filter((client) => JSON.stringify(clientDocs(client.db)) !== JSON.stringify(server)).length;
  for (const client of fleet) client.db.close();
  const sorted = latencies.sort((a, b) => a - b);
  return {
    clients, batch, ops, pushes: sorted.length, seconds: round(elapsed, 2), opsPerSec: Math.round(ops / elapsed),
    pushP50Ms: round(percentile(sorted, 0.5)), pushP99Ms: round(percentile(sorted, 0.99)),
    errors, errorCount: Object.values(errors).reduce((a, b) => a + b, 0),
    serverRecords: Object.keys(server).length, sharedCounter: server['notes/shared']?.votes, expectedCounter: batches,
    converged: diverged === 0 && server['notes/shared']?.votes === batches, divergedClients: diverged,
  };
}

/** Push throughput for batches of `size`: HTTP round trips only, the client's work excluded. */
async function applyThroughput(url, token, size, requests, deadline) {
  const client = await coreClient(url, null, { token, batch: size });
  let spent = 0;
  let ops = 0;
  let errors = 0;
  for (let r = 0; r < requests && performance.now() < deadline; r++) {
    for (let i = 0; i < size; i++) client.db.put('notes', `a${size}-${r}-${i}`, { title: `apply ${i}`, votes: i });
    const body = client.db.pushBegin(size);
    const t = performance.now();
    try {
      const answer = await post(url, '/v1/push', token, body);
      if (answer.status !== 200) throw new Error(`push: ${answer.status} ${answer.text}`);
      spent += performance.now() - t;
      client.db.pushEnd(answer.text);
      ops += size;
    } catch (e) {
      // Requeued and sent again with the next batch, as a client would.
      client.db.pushFail(e.message);
      errors += 1;
    }
  }
  client.db.close();
  const pushes = ops / size;
  return { batch: size, pushes, ops, opsPerSec: Math.round(ops / (spent / 1000)), msPerPush: round(spent / pushes), errors };
}

/** Seeds `records` records in batches of 1000, then times an initial sync into an empty client. */
async function pullThroughput(url, token, records, deadline) {
  const seeder = await coreClient(url, null, { token, batch: 1000 });
  let seeded = 0;
  let seedErrors = 0;
  const seedStart = performance.now();
  while (seeded < records && performance.now() < deadline) {
    const n = Math.min(1000, records - seeded);
    seeder.db.transaction(() => {
      for (let i = 0; i < n; i++) seeder.db.put('notes', `p${seeded + i}`, { title: `record ${seeded + i}`, body: 'x'.repeat(64), votes: 1 });
    });
    // A failed batch is requeued (pushFail) and goes with the next one.
    await seeder.push().catch(() => { seedErrors += 1; });
    seeded += n;
  }
  for (let tries = 0; seeder.db.stateCounts().pendingOps > 0 && tries < 5; tries++) {
    await seeder.push().catch(() => { seedErrors += 1; });
  }
  const seedSeconds = (performance.now() - seedStart) / 1000;
  seeder.db.close();
  const reader = await coreClient(url, null, { token, pageSize: 1000 });
  const t = performance.now();
  let pages = 0;
  let errors = 0;
  // A pull resumes from the client's cursor, so a failed page is simply asked again.
  for (let done = false; !done && errors < 5;) {
    try {
      pages += await reader.pull();
      done = true;
    } catch {
      errors += 1;
    }
  }
  const pullSeconds = (performance.now() - t) / 1000;
  const held = reader.db.sql('SELECT count(*) FROM records')[0][0];
  reader.db.close();
  return {
    records: seeded, seedSeconds: round(seedSeconds, 2), seedOpsPerSec: Math.round(seeded / seedSeconds), seedErrors,
    pages, pullSeconds: round(pullSeconds, 2), recordsHeld: held, recordsPerSec: Math.round(held / pullSeconds), errors,
  };
}

async function main() {
  const { values: opt } = parseArgs({
    options: {
      clients: { type: 'string', default: '16' }, ops: { type: 'string', default: '400' },
      batch: { type: 'string', default: '20' }, seconds: { type: 'string', default: '60' },
      records: { type: 'string', default: '100000' }, only: { type: 'string', default: 'load,apply,pull,latency' },
      json: { type: 'boolean', default: false },
    },
  });
  const sections = new Set(opt.only.split(','));
  const seconds = Number(opt.seconds);
  const dataDir = mkdtempSync(join(tmpdir(), 'sloop-sync-load-'));
  const server = await spawnServer(dataDir);
  let peakMiB = 0;
  const sampler = setInterval(() => { peakMiB = Math.max(peakMiB, rssOf(server.child.pid).nowMiB); }, 100);
  const report = {};
  const show = (name, value) => {
    report[name] = value;
    if (!opt.json) console.log(`${name.padEnd(8)} ${JSON.stringify(value)}`);
  };
  try {
    const deadline = () => performance.now() + seconds * 1000;
    const { token } = (await login(server.url, 'alice'));
    if (sections.has('load')) {
      show('load', await runLoad({ url: server.url, clients: Number(opt.clients), opsPerClient: Number(opt.ops), batch: Number(opt.batch), seconds }));
    }
    if (sections.has('apply')) {
      const end = deadline();
      show('apply', [await applyThroughput(server.url, token, 1, 300, end),
        await applyThroughput(server.url, token, 100, 30, end), await applyThroughput(server.url, token, 1000, 10, end)]);
    }
    if (sections.has('latency')) {
      // In tenant globex: fresh clients would otherwise first pull all that acme holds.
      show('latency', await runLoad({ url: server.url, clients: 50, opsPerClient: 100, batch: 5, seconds, users: ['carol'] }));
    }
    if (sections.has('pull')) show('pull', await pullThroughput(server.url, token, Number(opt.records), deadline()));
  } finally {
    clearInterval(sampler);
    const { peakMiB: hwm, nowMiB } = rssOf(server.child.pid);
    show('server', { peakRssMiB: round(Math.max(peakMiB, hwm)), rssMiB: round(nowMiB) });
    server.child.kill('SIGTERM');
    await server.exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
  if (opt.json) console.log(JSON.stringify(report));
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
