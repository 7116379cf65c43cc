/**
 * run.mjs -- `make bench`: Sloop against its peers, every scenario, in one run on one machine.
 *
 * Browser work runs in headless Chromium on real IndexedDB (and OPFS for sqlite-wasm); the
 * servers (Sloop's sync server with the real core, and express-pouchdb) run in this Node
 * process on loopback. Each scenario runs RUNS times; within a run every system is measured
 * once, in an order rotated from run to run, so peers and Sloop see the same machine noise.
 * Writes bench/results.json (medians, every run, ratios) and bench/chart.svg.
 *
 * Ratio = peer median / Sloop median, for times, bytes and memory alike: above 1, Sloop is
 * ahead. Environment: BENCH_SCALE (default 1) multiplies every record count; BENCH_RUNS
 * (default 5); BENCH_OUT (default bench/results.json; the chart goes beside it); BENCH_ONLY
 * (scenario ids, comma-separated: run those and keep the other scenarios already in BENCH_OUT);
 * BENCH_SYSTEMS (peers to measure beside Sloop, comma-separated; default all: for quick checks,
 * never for the committed results).
 * The results file is rewritten after every scenario, so a failure keeps what was measured.
 */
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS } from '../tests/browser/harness.js';
import { startServer } from '../js/server/main.js';
import { renderChart } from './chart.mjs';
import { startPouchServer } from './pouch-server.js';
import { seedSloop } from './seed-sloop.js';
import { firstVisitBytes } from './sizes.mjs';

const root = fileURLToPath(new URL('../', import.meta.url));
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const OUT = process.env.BENCH_OUT ?? join(root, 'bench/results.json');
const ONLY = process.env.BENCH_ONLY?.split(',') ?? null;
/** Peers to run beside Sloop (BENCH_SYSTEMS=dexie,...), for quick side-by-side checks; all by default. */
const PEERS = process.env.BENCH_SYSTEMS?.split(',') ?? null;
const count = (n) => Math.max(10, Math.round(n * SCALE));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const log = (...args) => console.error(`[bench ${((performance.now() - started) / 1000).toFixed(0)}s]`, ...args);
const started = performance.now();

const LOCAL = ['sloop', 'dexie', 'sqlite-wasm'];
const SYNC = ['sloop', 'pouchdb'];
const N = { write1: count(10_000), records: count(100_000), push: count(10_000) };
/**
 * sqlite-wasm's OPFS VFS takes tens of ms per durable commit here, so 10,000 of them would take
 * minutes per run: it writes a tenth of the records and its time is scaled up by that factor
 * (commit latency does not grow with so small a database). Marked `scaledFrom` in the results.
 */
const WRITE1_SHARE = { 'sqlite-wasm': 0.1 };

/**
 * The timed scenarios. `page`: 'main' (one long-lived tab) or 'fresh' (a new tab per run, for
 * cold start and for memory). `db`: 'run' (a new database per run, deleted after) or 'read'
 * (the database `read-<system>` of N.records records, built once, untimed).
 */
const SCENARIOS = [
  { id: 'write1', title: `1. ${N.write1} single-record writes, each durable`, unit: 'ms', fn: 'write1', n: N.write1, systems: LOCAL, page: 'main', db: 'run' },
  { id: 'bulk', title: `2. ${N.records} records bulk-inserted`, unit: 'ms', fn: 'bulk', n: N.records, systems: [...LOCAL, 'raw-idb'], page: 'main', db: 'run' },
  { id: 'cold', title: `6. cold start: open ${N.records} records, first query`, unit: 'ms', fn: 'cold', n: N.records, systems: LOCAL, page: 'fresh', db: 'read' },
  { id: 'query', title: `3a. indexed query over ${N.records} (${Math.floor((N.records + 57) / 100)} matches)`, unit: 'ms', fn: 'query', n: N.records, systems: LOCAL, page: 'main', db: 'read' },
  { id: 'search', title: `3b. full-text search over ${N.records} (best 50)`, unit: 'ms', fn: 'search', n: N.records, systems: LOCAL, page: 'main', db: 'read' },
  { id: 'sync', title: `4. initial sync of ${N.records} records until queryable`, unit: 'ms', fn: 'sync', n: N.records, systems: SYNC, page: 'fresh', db: 'run' },
  { id: 'push', title: `5. push of ${N.push} offline operations until acknowledged`, unit: 'ms', fn: 'push', n: N.push, systems: SYNC, page: 'main', db: 'run' },
];

const COI_HEADERS = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
const MIME = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
const MOUNTS = [['/build/bench/', 'build/bench'], ['/sqlite/', 'node_modules/@sqlite.org/sqlite-wasm/sqlite-wasm/jswasm']];
/** An empty icon, so a fresh tab does not ask for /favicon.ico and log its 404. */
const PAGE = '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>sloop bench</title><p>bench';

/** Serves the bench page and bundles cross-origin isolated (sqlite-wasm's OPFS VFS needs it). */
async function serveBench(req, res) {
  const path = new URL(req.url, 'http://x').pathname;
  let body = null;
  let type = 'text/html';
  if (path === '/bench/') body = PAGE;
  for (const [prefix, dir] of MOUNTS) {
    if (body || !path.startsWith(prefix)) continue;
    const base = join(root, dir);
    const file = normalize(join(base, path.slice(prefix.length)));
    if (!file.startsWith(base + sep)) return false;
    body = await readFile(file).catch(() => null);
    type = MIME[extname(file)] ?? 'application/octet-stream';
  }
  if (body === null) return false;
  // A validator, as the sync server's static files have: every system's page modules are
  // revalidated (304) rather than downloaded again, so a cold start counts no re-download.
  const etag = `"${createHash('sha256').update(body).digest('base64url')}"`;
  const headers = { 'content-type': type, 'cache-control': 'no-cache', etag, ...COI_HEADERS };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    return res.end(), true;
  }
  res.writeHead(200, headers);
  res.end(body);
  return true;
}

/** Bundles each system's page module (with its npm packages) into build/bench/. */
async function bundlePages() {
  await build({
    entryPoints: ['sloop', 'dexie', 'pouchdb', 'raw-idb', 'sqlite-wasm', 'sqlite-worker'].map((s) => join(root, `bench/page/${s}.js`)),
    bundle: true, format: 'esm', platform: 'browser', outdir: join(root, 'build/bench'),
    external: ['/js/*', '/sqlite/*'], define: { global: 'globalThis' }, logLevel: 'error',
  });
}

/** Runs `fn` of system `sys`'s page module in `page`, returning what it resolves to. */
const inPage = (page, sys, fn, args) => page.evaluate(async ({ sys, fn, args }) =>
  (await import(`/build/bench/${sys}.js`))[fn](args), { sys, fn, args });

/** Opens a new tab on the bench page. */
async function newTab(context, url) {
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') log('[page]', m.text()); });
  page.on('pageerror', (e) => log('[page error]', e.message));
  await page.goto(`${url}/bench/`);
  return page;
}

/** JS heap in use after a full garbage collection (CDP), plus the page's WASM memory. */
async function memoryOf(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  await cdp.detach();
  const wasm = await page.evaluate(() => globalThis.benchWasmBytes ?? 0);
  return { jsHeap: usedSize, wasm, total: usedSize + wasm };
}

/** One measurement of one system; returns {ms, extra}. */
async function measure(s, sys, run, env) {
  const name = s.db === 'read' ? `read-${sys}` : `${s.id}-${sys}-${run}-${Date.now()}`;
  const share = (s.id === 'write1' && WRITE1_SHARE[sys]) || 1;
  const args = { name, n: Math.round(s.n * share), tag: `r${run}-${Date.now()}` };
  if (s.page === 'main') {
    const ms = (await inPage(env.main, sys, s.fn, args)) / share;
    if (s.db === 'run') await inPage(env.main, sys, 'destroy', name);
    return { ms, ...(share !== 1 && { scaledFrom: args.n }) };
  }
  const page = await newTab(env.context, env.url);
  try {
    if (s.fn === 'cold') {
      // From before the module is imported (WASM compiled, code loaded) to the first results.
      return { ms: await page.evaluate(async ({ sys, name }) => {
        const t = performance.now();
        const found = await (await import(`/build/bench/${sys}.js`)).cold({ name });
        if (found === 0) throw new Error('cold start query found nothing');
        return performance.now() - t;
      }, { sys, name }) };
    }
    const ms = await inPage(page, sys, s.fn, args);
    const memory = await memoryOf(env.context, page);
    const replicatedMs = await page.evaluate(() => globalThis.benchReplicatedMs);
    await inPage(page, sys, 'destroy', name);
    return { ms, memory, ...(replicatedMs !== undefined && { replicatedMs }) };
  } finally {
    await page.close();
  }
}

/** Runs one scenario RUNS times, systems interleaved; returns its result entry. */
async function runScenario(scenario, env) {
  const s = { ...scenario, systems: scenario.systems.filter((sys) => sys === 'sloop' || !PEERS || PEERS.includes(sys)) };
  const results = Object.fromEntries(s.systems.map((sys) => [sys, { runs: [] }]));
  const memory = Object.fromEntries(s.systems.map((sys) => [sys, { runs: [] }]));
  for (let run = 0; run < RUNS; run++) {
    const order = s.systems.map((_, i) => s.systems[(i + run) % s.systems.length]);
    for (const sys of order) {
      const m = await measure(s, sys, run, env);
      results[sys].runs.push(+m.ms.toFixed(2));
      if (m.replicatedMs !== undefined) (results[sys].replicatedMs ??= []).push(+m.replicatedMs.toFixed(2));
      if (m.scaledFrom) results[sys].scaledFrom = m.scaledFrom;
      if (m.memory) memory[sys].runs.push(m.memory);
      log(`${s.id} run ${run + 1}/${RUNS} ${sys}: ${m.ms.toFixed(1)} ms`);
    }
  }
  const entry = summarize({ id: s.id, title: s.title, unit: s.unit, n: s.n, runs: RUNS }, results);
  if (s.id !== 'sync') return [entry];
  for (const sys of s.systems) {
    memory[sys].detail = memory[sys].runs;
    memory[sys].runs = memory[sys].runs.map((m) => m.total);
  }
  return [entry, summarize({ id: 'memory', title: `8. memory after initial sync (JS heap + WASM)`, unit: 'bytes', n: s.n, runs: RUNS }, memory)];
}

/** Adds medians and the ratios peer median / Sloop median. */
function summarize(entry, results) {
  for (const r of Object.values(results)) r.median = median(r.runs);
  const ratios = {};
  for (const [sys, r] of Object.entries(results)) if (sys !== 'sloop') ratios[sys] = +(r.median / results.sloop.median).toFixed(3);
  return { ...entry, results, ratios };
}

/** Scenarios kept from an earlier invocation (BENCH_ONLY), with the invocation's date. */
function earlierScenarios() {
  if (!ONLY) return [];
  const earlier = JSON.parse(readFileSync(OUT, 'utf8'));
  return earlier.scenarios.filter((s) => !ONLY.includes(s.id) && s.id !== 'bytes' && !(s.id === 'memory' && ONLY.includes('sync')))
    .map((s) => ({ measured: earlier.date, ...s }));
}

/** Writes the results file and the chart (after every scenario, and at the end). */
function writeResults(scenarios, browser, complete) {
  const results = {
    date: new Date().toISOString(),
    complete,
    machine: {
      cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memoryBytes: os.totalmem(), os: `${os.type()} ${os.release()}`,
      node: process.version, chromium: browser.version(),
    },
    layer: 'engine: openPersistentDb + CoreDb over the IndexedDB backend (strict durability), real sync server over HTTP',
    ratio: 'peer median / Sloop median (time, bytes or memory): above 1 means Sloop is ahead',
    scale: SCALE,
    runs: RUNS,
    wallSeconds: Math.round((performance.now() - started) / 1000),
    scenarios: [...scenarios].sort((a, b) => parseFloat(a.title) - parseFloat(b.title) || a.title.localeCompare(b.title)),
  };
  writeFileSync(OUT, JSON.stringify(results, null, 1) + '\n');
  writeFileSync(join(dirname(OUT), 'chart.svg'), renderChart(results));
  return results;
}

async function main() {
  const schema = JSON.parse(readFileSync(join(root, 'web/schema.json'), 'utf8'));
  const dataDir = mkdtempSync(join(os.tmpdir(), 'sloop-bench-'));
  const chosen = SCENARIOS.filter((s) => !ONLY || ONLY.includes(s.id));
  const scenarios = earlierScenarios();
  log(`scale ${SCALE}, ${RUNS} runs; bundling, seeding ${N.records} records on both servers`);
  await bundlePages();
  if (chosen.some((s) => s.id === 'sync')) await seedSloop({ dataDir, schema, n: N.records });
  const pouch = await startPouchServer({ n: chosen.some((s) => s.id === 'sync') ? N.records : 0 });
  log('seeded');
  const server = await startServer({ port: 0, dataDir, handler: (req, res) => pouch.handle(req, res) || serveBench(req, res) });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
  try {
    const context = await browser.newContext();
    const env = { context, url: server.url, main: await newTab(context, server.url) };
    const sizes = await firstVisitBytes();
    scenarios.push(summarize({ id: 'bytes', title: '7. first-visit download, gzip (WASM + JS + service worker)', unit: 'bytes', runs: 1 },
      Object.fromEntries(Object.entries(sizes).map(([sys, v]) => [sys, { runs: [v.bytes], parts: v.parts }]))));
    if (chosen.some((s) => s.db === 'read')) {
      for (const sys of LOCAL.filter((sys) => sys === 'sloop' || !PEERS || PEERS.includes(sys))) await inPage(env.main, sys, 'prepare', { name: `read-${sys}`, n: N.records });
      log('read databases prepared');
    }
    for (const s of chosen) {
      scenarios.push(...await runScenario(s, env));
      writeResults(scenarios, browser, false);
    }
    const results = writeResults(scenarios, browser, true);
    log(`wrote ${OUT}`);
    for (const s of results.scenarios) {
      const cells = Object.entries(s.results).map(([sys, r]) => `${sys} ${r.median}${s.ratios[sys] ? ` (x${s.ratios[sys]})` : ''}`);
      console.log(`${s.title} [${s.unit}]: ${cells.join(', ')}`);
    }
  } finally {
    await browser.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
