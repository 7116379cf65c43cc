/**
 * sync-cpu.mjs -- where `make bench`'s initial sync spends its CPU: the same sync (a fresh
 * database pulls every note from the real sync server over HTTP, pages of 1,000, until the
 * first indexed query answers) in headless Chromium on real IndexedDB, with the CPU time of
 * each process over exactly that window (the database is opened and the user logged in
 * before it): the sync server (this Node process: HTTP, its core, compression in the thread
 * pool, and Playwright's client, which is idle meanwhile) and Chromium's processes by type (the
 * renderer: the page's core, JS and the IndexedDB calls; the browser process: IndexedDB's own
 * work, and its IPC; the network service). On a machine with few cores the sync is bound by
 * their sum, not by any one of them. What the checkpoint has left at the end is done after the
 * window, when the database closes.
 *
 *   node tests/bench/sync-cpu.mjs
 *
 * Environment: N (records, default 100000, as `make bench`), RUNS (default 3, after one run
 * that warms the server up and is not counted: its first pages pay V8's compile), ENCODING
 * (br, gzip or identity: what the server is told the page accepts; default what Chromium
 * sends, so br). Linux only: it reads /proc/<pid>/stat for the processes' CPU times. Prints
 * each run as JSON, then the medians, each of its own column (so the types' medians need not
 * add up to the total's).
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { seedSloop } from '../../bench/seed-sloop.js';
import { startServer } from '../../js/server/main.js';
import { CHROMIUM_ARGS } from '../browser/harness.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const N = Number(process.env.N ?? 100000);
const RUNS = Number(process.env.RUNS ?? 3);
if (!(RUNS >= 1)) throw new Error('sync-cpu: RUNS must be at least 1');
const ENCODING = process.env.ENCODING ?? null;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const COI = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/** CPU ms of each of Chromium's processes now: pid -> {type, ms} (--type, or 'browser'). */
function chromiumCpu(browserPid) {
  const byPid = new Map();
  for (const pid of [browserPid, ...descendants(browserPid)]) {
    let stat, cmdline;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // gone since listed
    }
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const type = cmdline.match(/--type=([\w-]+)/)?.[1] ?? 'browser';
    const sub = cmdline.match(/--utility-sub-type=([\w.]+)/)?.[1].split('.').pop();
    byPid.set(pid, { type: sub ? `${type}:${sub}` : type, ms: (Number(fields[11]) + Number(fields[12])) * TICK_MS });
  }
  return byPid;
}

/**
 * CPU ms per process type between two chromiumCpu readings, process by process: one started
 * in between counts from zero; one gone by the second reading is left out (not measurable).
 */
function cpuBetween(before, after) {
  const byType = {};
  for (const [pid, { type, ms }] of after) byType[type] = (byType[type] ?? 0) + ms - (before.get(pid)?.ms ?? 0);
  return byType;
}

/** Every process below `pid` (Chromium's zygotes fork renderers below themselves). */
function descendants(pid) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(entry));
    } catch {
      // gone since listed
    }
  }
  const out = [];
  const walk = (p) => { for (const c of children.get(p) ?? []) { out.push(c); walk(c); } };
  walk(pid);
  return out;
}

const bundleDir = join(root, 'build/sync-cpu');
await build({
  entryPoints: [join(root, 'tests/bench/sync-cpu-page.js')], bundle: true, format: 'esm', platform: 'browser',
  outdir: bundleDir, external: ['/js/*'], logLevel: 'error',
});
const pageModule = readFileSync(join(bundleDir, 'sync-cpu-page.js'));
const dataDir = mkdtempSync(join(os.tmpdir(), 'sloop-sync-cpu-'));
const schema = JSON.parse(readFileSync(join(root, 'web/schema.json'), 'utf8'));
const t = performance.now();
await seedSloop({ dataDir, schema, n: N });
console.error(`seeded ${N} records in ${Math.round(performance.now() - t)} ms`);

const handler = (req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  if (path === '/bench/') {
    res.writeHead(200, { 'content-type': 'text/html', ...COI });
    return res.end('<!doctype html><title>sync-cpu</title><link rel="icon" href="data:,">'), true;
  }
  if (path === '/sync-cpu-page.js') {
    res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'no-cache', ...COI });
    return res.end(pageModule), true;
  }
  if (ENCODING && path === '/v1/pull') req.headers['accept-encoding'] = ENCODING;
  return false;
};
const server = await startServer({ port: 0, dataDir, handler });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true,
});
// This process launched the browser: its browser process is the child of ours that is Chromium
// without a --type (another Chromium on the machine is not counted).
const browserPid = descendants(process.pid).find((pid) => {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /chrom/.test(cmdline.split('\0')[0]) && !cmdline.includes('--type=');
  } catch {
    return false;
  }
});
if (!browserPid) throw new Error('sync-cpu: the browser process was not found below this one');
const runs = [];
try {
  const context = await browser.newContext();
  for (let run = -1; run < RUNS; run++) {
    const page = await context.newPage();
    page.on('pageerror', (e) => console.error('[page error]', e.message));
    await page.goto(`${server.url}/bench/`);
    const name = `sync-cpu-${run}-${Date.now()}`;
    const page$ = (fn, arg) => page.evaluate(async ({ fn, arg }) => (await import('/sync-cpu-page.js'))[fn](arg), { fn, arg });
    await page$('prepare', { name });
    const before = { chromium: chromiumCpu(browserPid), node: process.cpuUsage() };
    const steps = await page$('sync');
    const nodeUs = process.cpuUsage(before.node);
    const cpu = { server: (nodeUs.user + nodeUs.system) / 1000, ...cpuBetween(before.chromium, chromiumCpu(browserPid)) };
    await page$('closeAndDelete', name);
    await page.close();
    if (steps.found === 0) throw new Error('the first query found nothing');
    if (steps.notes !== N) throw new Error(`the sync stored ${steps.notes} notes of ${N}`);
    const r = {
      ms: steps.ms, recordsPerSec: Math.round(N / (steps.ms / 1000)), cpuMs: cpu,
      cpuSumMs: Object.values(cpu).reduce((a, b) => a + b, 0),
      applyMs: steps.core.pullApply?.ms ?? 0, fetchMs: steps.fetches.ms, pages: steps.fetches.calls,
      flushMs: steps.store.flush?.ms ?? 0, flushes: steps.store.flush?.calls ?? 0,
      checkpointMs: steps.store.checkpoint?.ms ?? 0, checkpointSteps: steps.store.checkpoint?.calls ?? 0,
    };
    if (run < 0) continue;
    runs.push(r);
    console.log(JSON.stringify(r, (k, v) => (typeof v === 'number' ? Math.round(v) : v)));
  }
} finally {
  await browser.close();
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
}
console.log(`\n${N} records, ${ENCODING ?? 'br'}, medians of ${RUNS} (ms; CPU includes every thread of each process)`);
const keys = ['ms', 'recordsPerSec', 'cpuSumMs', 'applyMs', 'fetchMs', 'flushMs', 'checkpointMs', 'checkpointSteps'];
for (const k of keys) console.log(`  ${k.padEnd(24)} ${String(Math.round(median(runs.map((r) => r[k])))).padStart(9)}`);
for (const type of [...new Set(runs.flatMap((r) => Object.keys(r.cpuMs)))]) {
  console.log(`  cpu ${type.padEnd(20)} ${String(Math.round(median(runs.map((r) => r.cpuMs[type] ?? 0)))).padStart(9)}`);
}
