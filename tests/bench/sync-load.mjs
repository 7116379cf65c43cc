/**
 * sync-load.mjs -- the real server under real clients: CoreDb instances pushing and pulling
 * over HTTP on 127.0.0.1 against `node js/server/main.js`, for each server store in turn
 * (load-stores.mjs), side by side. A measuring tool, not a test: it prints figures; the one
 * thing it checks is that every client converges on the server's state afterwards.
 * tests/node/sync-load.test.js runs runLoad() small, as a correctness test.
 *
 *   node tests/bench/sync-load.mjs [--clients 16] [--ops 400] [--batch 20] [--seconds 60]
 *        [--procs 2] [--only load,apply,pull,latency] [--apply-clients 8] [--apply-seconds 10]
 *        [--records 100000] [--stores sqlite] [--json]
 *
 * The processes: this driver; the server, one per store, whose RSS and CPU are read from
 * /proc; the store's own (PostgreSQL's), whose CPU and PSS are reported apart as the
 * database's; and --procs client processes (load-fleet.mjs, load-clients.mjs) that hold the
 * many clients of `load`, `latency` and the concurrent `apply`, at a lower priority than the
 * server, so that they do not starve it. Push latency is the push request's HTTP round trip
 * alone, never the client's own pushBegin/pushEnd work; but a round trip still includes the
 * wait of the answer in a busy client process, so `load` and `latency` also report a probe's
 * (one client pushing now and then from an idle process of its own: the server's latency under
 * that load), the client processes' event-loop delay and where the CPU went.
 *
 * Sections: `load` (K clients writing, pushing and pulling, then converging), `apply` (push
 * throughput from this process, one push at a time, for batches of 1, 100 and 1000 operations;
 * then `applyConcurrent`, --apply-clients clients pushing batches of 100 back to back for
 * --apply-seconds, the aggregate the server reaches when pushes arrive together; their bodies
 * are built in the core's format without the core, see load-workload.mjs), `pull` (an
 * initial sync of --records records into an empty :memory: client, after seeding them in
 * batches of 1000), `latency` (push latency with 50 concurrent clients). Every loop is bounded
 * by a count and by --seconds. Each store's figures print as they come; a table of the stores
 * side by side closes the run (--json: one JSON object, {procs, stores: {<name>: ...}}).
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { apiDump, coreClient, docsOf, login, post, rssOf } from '../node/real-server.js';
import { openFleet } from './load-fleet.mjs';
import { stores } from './load-stores.mjs';
import { childrenOf, cpuSecondsOf, pssMiBOf, treeCpuSecondsOf } from './proc-usage.mjs';
import { docsHash, mergeTallies, newTally } from './load-workload.mjs';

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
const round = (n, digits = 1) => Number(n.toFixed(digits));

/** Only the errors of the children's answers, as tallies: the phases whose pushes are not timed. */
const errorsOf = (answers) => answers.map(({ errors }) => ({ ...newTally(), errors }));

/** Signs the writers in once; clients share their tokens (not bound to a device). */
async function writerTokens(url, users) {
  return Promise.all(users.map(async (user) => ({ user, token: (await login(url, user)).token })));
}

/**
 * Runs one of load-clients.mjs's measured calls (`write`, `pushBatches`) on the whole fleet
 * and times it. Besides the merged tally: its wall time, and where the CPU went meanwhile, in
 * percent of one core: the client processes' (they say) and, when `cpuSeconds` is given (a
 * function answering cumulative CPU seconds by name, e.g. {server, database}: measureStore), each
 * of those as `<name>CpuPct`; a server in this process, as in the tests, is not measured.
 * Client CPU near the cores the machine has, with server CPU well under one core, says the
 * clients were the limit, and their push latency then holds their own queueing too (see
 * driverLoopDelayP99Ms, and runLoad's probe).
 */
async function timedPhase(fleet, call, args, cpuSeconds) {
  const before = cpuSeconds?.() ?? {};
  const started = performance.now();
  const answers = await fleet.call(call, args);
  const elapsed = (performance.now() - started) / 1000;
  const after = cpuSeconds?.() ?? {};
  const pct = (seconds) => Math.round((100 * seconds) / elapsed);
  const clientCpu = answers.reduce((sum, a) => sum + a.cpuSeconds, 0);
  const sorted = mergeTallies(answers).latencies.sort((a, b) => a - b);
  return {
    answers, elapsed,
    figures: {
      pushP50Ms: round(percentile(sorted, 0.5)), pushP99Ms: round(percentile(sorted, 0.99)),
      driverLoopDelayP99Ms: round(Math.max(...answers.map((a) => a.loopDelayP99Ms))),
      clientCpuPct: pct(clientCpu),
      ...Object.fromEntries(Object.keys(after).map((name) => [`${name}CpuPct`, pct(after[name] - before[name])])),
    },
  };
}

/**
 * K clients spread over `procs` child processes (load-fleet.mjs), each writing `batch`
 * operations at a time (its own records, plus a shared counter and a shared title every client
 * sets), pushing and pulling, until each has written `opsPerClient` or `seconds` pass; then
 * every client syncs until it holds what the server holds. Push latency is each push
 * request's HTTP round trip, measured in the client's process. Beside them, unless `probeMs`
 * is 0, a probe client pushes `batch` notes every `probeMs` from an idle process at the
 * server's priority (load-workload.mjs's probePushes): probeP50Ms and probeP99Ms are the
 * server's latency under this load without the clients' own queueing. `cpuSeconds`: see
 * timedPhase.
 * @returns {Promise<object>} ops/s, push latency percentiles (ms), errors by kind, convergence
 */
export async function runLoad({
  url: urls, clients = 16, opsPerClient = 400, batch = 20, seconds = 60, users = ['alice', 'bob'], procs = 2, probeMs = 100, cpuSeconds,
}) {
  // One server, or several processes of one (clients spread over them): the first signs in,
  // seeds and checks.
  const url = [].concat(urls)[0];
  const tokens = (await writerTokens(url, users)).map(({ token }) => token);
  // Every client patches the shared record, so it exists before any of them opens.
  const seeder = await coreClient(url, null, { token: tokens[0] });
  seeder.db.put('notes', 'shared', { title: 'shared', votes: 0 });
  await seeder.push();
  const seederDevice = seeder.db.device;
  seeder.db.close();
  const fleet = await openFleet({ url: urls, tokens, clients, procs, batch, pull: true, avoidDevices: [seederDevice] });
  let probe = null;
  try {
    if (probeMs > 0) {
      probe = await openFleet({ url, tokens, clients: 1, procs: 1, batch, niceness: 0, avoidDevices: [seederDevice, ...fleet.devices] });
    }
    const deadline = Date.now() + seconds * 1000;
    const probing = probe?.call('probe', { batch, intervalMs: probeMs, deadline });
    probing?.catch(() => {}); // awaited below; this only keeps an early failure from going unhandled
    const { answers: ran, elapsed, figures } = await timedPhase(fleet, 'write', { opsPerClient, batch, deadline }, cpuSeconds);
    await probe?.call('stopProbe');
    const probeAnswers = probing ? await probing : [];
    const probed = mergeTallies(probeAnswers).latencies.sort((a, b) => a - b);
    // Quiescence: every client pushes what is left, and only once all of them have (in every
    // process) do they pull the final state.
    const flushed = await fleet.call('flush');
    const settled = await fleet.call('settle');
    const { latencies, ops, batches, errors } = mergeTallies([...ran, ...errorsOf([...fleet.opened, ...probeAnswers, ...flushed, ...settled])]);
    const server = docsOf(await apiDump(url, tokens[0], 'load-checker'));
    const serverHash = docsHash(server);
    const diverged = settled.flatMap(({ docHashes }) => docHashes).filter((hash) => hash !== serverHash).length;
    return {
      clients, procs: fleet.procs, batch, ops, pushes: latencies.length, seconds: round(elapsed, 2), opsPerSec: Math.round(ops / elapsed),
      ...figures,
      ...(probe ? { probePushes: probed.length, probeP50Ms: round(percentile(probed, 0.5)), probeP99Ms: round(percentile(probed, 0.99)) } : {}),
      errors, errorCount: Object.values(errors).reduce((a, b) => a + b, 0),
      serverRecords: Object.keys(server).length, sharedCounter: server['notes/shared']?.votes, expectedCounter: batches,
      converged: diverged === 0 && server['notes/shared']?.votes === batches, divergedClients: diverged,
    };
  } finally {
    await probe?.close();
    await fleet.close();
  }
}

/**
 * `clients` clients in `procs` child processes, each pushing batches of `batch` new notes back
 * to back for `seconds`: the aggregate ops/s the server reaches when pushes arrive together
 * (what group commit serves), against the one-at-a-time `apply` figures.
 */
async function applyConcurrent({ url, token, clients = 8, procs = 2, batch = 100, seconds = 10, cpuSeconds }) {
  const fleet = await openFleet({ url, tokens: [token], clients, procs, batch });
  try {
    const { answers, elapsed, figures } = await timedPhase(fleet, 'pushBatches', { batch, deadline: Date.now() + seconds * 1000 }, cpuSeconds);
    const { latencies, ops, errors } = mergeTallies([...answers, ...errorsOf(fleet.opened)]);
    return {
      clients, procs: fleet.procs, batch, pushes: latencies.length, ops, seconds: round(elapsed, 2), opsPerSec: Math.round(ops / elapsed),
      ...figures, errors, errorCount: Object.values(errors).reduce((a, b) => a + b, 0),
    };
  } finally {
    await fleet.close();
  }
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
  const synced = await timedSync(url, token, null);
  // The same records as a progressive initial sync (snapshot pages, newest first), whose every
  // page reads the whole scope (docs/DEPLOY.md, Costs).
  const snapshot = await timedSync(url, token, { order: 'recent' });
  return {
    records: seeded, seedSeconds: round(seedSeconds, 2), seedOpsPerSec: Math.round(seeded / seedSeconds), seedErrors,
    ...synced, snapshot,
  };
}

/** An initial sync of everything into an empty client, pages of 1000, with `scope`; timed. */
async function timedSync(url, token, scope) {
  const reader = await coreClient(url, null, { token, pageSize: 1000 });
  const t = performance.now();
  let pages = 0;
  let errors = 0;
  // A pull resumes from the client's cursor, so a failed page is simply asked again.
  for (let done = false; !done && errors < 5;) {
    try {
      pages += await reader.pull(scope);
      done = true;
    } catch {
      errors += 1;
    }
  }
  const pullSeconds = (performance.now() - t) / 1000;
  const held = reader.db.sql('SELECT count(*) FROM records')[0][0];
  reader.db.close();
  return { pages, pullSeconds: round(pullSeconds, 2), recordsHeld: held, recordsPerSec: Math.round(held / pullSeconds), errors };
}

/**
 * Runs the chosen sections against one store's server, sampling the server process's RSS
 * throughout; `show(name, value)` hears each section's result as it comes.
 * @param {import('./load-stores.mjs').LoadStore} store
 * @returns {Promise<object>} one entry per section, and `server` (peak and final RSS, MiB)
 */
async function measureStore(store, opt, show) {
  const sections = new Set(opt.only.split(','));
  const seconds = Number(opt.seconds);
  const procs = Number(opt.procs);
  const server = await store.spawn();
  const serverPids = server.pids ?? [server.child.pid];
  const urls = server.urls ?? [server.url];
  const { databasePid } = server;
  const sum = (f) => serverPids.reduce((total, pid) => total + f(pid), 0);
  // Cumulative CPU seconds by process group, for timedPhase.
  const cpuSeconds = () => ({ server: sum(cpuSecondsOf), ...(databasePid ? { database: treeCpuSecondsOf(databasePid) } : {}) });
  let peakMiB = 0;
  let databasePeakMiB = 0;
  let ticks = 0;
  const sampler = setInterval(() => {
    try {
      peakMiB = Math.max(peakMiB, sum((pid) => rssOf(pid).nowMiB));
      // Every 0.5 s: listing the database's processes reads every /proc/<pid>/stat.
      if (databasePid && ticks++ % 5 === 0) {
        const pss = [databasePid, ...childrenOf(databasePid)].reduce((sum, pid) => sum + pssMiBOf(pid), 0);
        databasePeakMiB = Math.max(databasePeakMiB, pss);
      }
    } catch {
      // The server is gone; the section under way fails and says why.
    }
  }, 100);
  const report = {};
  const record = (name, value) => { report[name] = value; show(name, value); };
  try {
    const [url] = urls;
    const deadline = () => performance.now() + seconds * 1000;
    const { token } = (await login(url, 'alice'));
    if (sections.has('load')) {
      record('load', await runLoad({
        url: urls, clients: Number(opt.clients), opsPerClient: Number(opt.ops), batch: Number(opt.batch), seconds, procs, cpuSeconds,
      }));
    }
    if (sections.has('apply')) {
      const end = deadline();
      record('apply', [await applyThroughput(url, token, 1, 300, end),
        await applyThroughput(url, token, 100, 30, end), await applyThroughput(url, token, 1000, 10, end)]);
      record('applyConcurrent', await applyConcurrent({
        url: urls, token, clients: Number(opt['apply-clients']), procs, seconds: Math.min(seconds, Number(opt['apply-seconds'])), cpuSeconds,
      }));
    }
    if (sections.has('latency')) {
      // In tenant globex: fresh clients would otherwise first pull all that acme holds.
      record('latency', await runLoad({ url: urls, clients: 50, opsPerClient: 100, batch: 5, seconds, users: ['carol'], procs, cpuSeconds }));
    }
    if (sections.has('pull')) record('pull', await pullThroughput(url, token, Number(opt.records), deadline()));
  } finally {
    clearInterval(sampler);
    let rss = { peakMiB, nowMiB: NaN };
    try {
      rss = { peakMiB: sum((pid) => rssOf(pid).peakMiB), nowMiB: sum((pid) => rssOf(pid).nowMiB) };
    } catch {
      // Gone already: the sampled peak is all there is.
    }
    record('server', {
      peakRssMiB: round(Math.max(peakMiB, rss.peakMiB)), rssMiB: round(rss.nowMiB),
      // PSS: PostgreSQL's shared buffers counted once, not once per backend.
      ...(databasePid ? { databasePeakPssMiB: round(databasePeakMiB) } : {}),
    });
    await server.cleanup();
  }
  return report;
}

/** The closing table's rows: a label, and where the figure is in one store's report. */
const SUMMARY_ROWS = [
  ['clients', (r) => r.load?.clients],
  ['ops/s', (r) => r.load?.opsPerSec],
  ['push p50 ms', (r) => r.load?.pushP50Ms],
  ['push p99 ms', (r) => r.load?.pushP99Ms],
  ['probe push p50 ms', (r) => r.load?.probeP50Ms],
  ['probe push p99 ms', (r) => r.load?.probeP99Ms],
  ['errors', (r) => r.load?.errorCount],
  ['server peak RSS MiB', (r) => r.server?.peakRssMiB],
  ['database peak PSS MiB', (r) => r.server?.databasePeakPssMiB],
  ['converged', (r) => r.load?.converged],
  ['server CPU % (load)', (r) => r.load?.serverCpuPct],
  ['database CPU % (load)', (r) => r.load?.databaseCpuPct],
  ['client CPU % (load)', (r) => r.load?.clientCpuPct],
  ['apply 100/push ops/s', (r) => r.apply?.find((a) => a.batch === 100)?.opsPerSec],
  ['concurrent apply ops/s', (r) => r.applyConcurrent?.opsPerSec],
  ['initial sync records/s', (r) => r.pull?.recordsPerSec],
  ['snapshot sync records/s', (r) => r.pull?.snapshot?.recordsPerSec],
  ['50-client push p99 ms', (r) => r.latency?.pushP99Ms],
];

/** The stores side by side, one column each; a skipped or failed store's column says so. */
function summaryTable(reports) {
  const names = Object.keys(reports);
  const cell = (v) => String(v ?? '-').padStart(12);
  const unmeasured = (r) => (r.skipped ? 'skipped' : r.failed ? 'failed' : null);
  const lines = [`${''.padEnd(24)}${names.map(cell).join('')}`];
  for (const [label, pick] of SUMMARY_ROWS) {
    lines.push(`${label.padEnd(24)}${names.map((n) => cell(unmeasured(reports[n]) ?? pick(reports[n]))).join('')}`);
  }
  for (const n of names) if (unmeasured(reports[n])) lines.push(`${n}: ${unmeasured(reports[n])}, ${reports[n].skipped ?? reports[n].failed}`);
  return lines.join('\n');
}

async function main() {
  const { values: opt } = parseArgs({
    options: {
      clients: { type: 'string', default: '16' }, ops: { type: 'string', default: '400' },
      batch: { type: 'string', default: '20' }, seconds: { type: 'string', default: '60' },
      procs: { type: 'string', default: '2' },
      'apply-clients': { type: 'string', default: '8' }, 'apply-seconds': { type: 'string', default: '10' },
      records: { type: 'string', default: '100000' }, only: { type: 'string', default: 'load,apply,pull,latency' },
      stores: { type: 'string', default: stores.map((s) => s.name).join(',') },
      json: { type: 'boolean', default: false },
    },
  });
  const chosen = opt.stores.split(',').map((name) => stores.find((s) => s.name === name)
    ?? fail(`unknown store ${name}; known: ${stores.map((s) => s.name).join(', ')}`));
  const reports = {};
  for (const store of chosen) {
    const skipped = store.skip?.();
    if (skipped) {
      reports[store.name] = { skipped };
      continue;
    }
    if (!opt.json) console.log(`-- ${store.name}`);
    try {
      reports[store.name] = await measureStore(store, opt, (name, value) => {
        if (!opt.json) console.log(`${name.padEnd(16)} ${JSON.stringify(value)}`);
      });
    } catch (e) {
      // The other stores are still worth measuring; the exit status says one failed.
      console.error(`sync-load: ${store.name}: ${e.stack ?? e}`);
      reports[store.name] = { failed: e.message };
      process.exitCode = 1;
    }
  }
  if (opt.json) console.log(JSON.stringify({ procs: Number(opt.procs), stores: reports }));
  else console.log(`\n${summaryTable(reports)}`);
}

function fail(message) {
  console.error(`sync-load: ${message}`);
  process.exit(2);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
