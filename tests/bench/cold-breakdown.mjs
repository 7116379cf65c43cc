/**
 * cold-breakdown.mjs -- where `make bench`'s cold start goes: each step of a fresh tab's
 * import, open and first indexed query over a prepared database, timed in the page
 * (tests/bench/cold-page.js), in headless Chromium on real IndexedDB.
 *
 *   node tests/bench/cold-breakdown.mjs [ROOT...]
 *
 * Each ROOT (default: this checkout) is a package root served by its own sync server on its
 * own port (so its own origin, IndexedDB and HTTP cache); with two roots (a frozen copy of
 * the code before a change, and after) the runs alternate A/B/A/B, so both see the same machine
 * noise. Environment: N (records, default 10000), RUNS (default 7), LEAVE_OPEN=1 (close the tab
 * with the database open, as make bench does, instead of closing it first). As in bench/run.mjs, one
 * browser context holds every tab, and static files go out with `no-cache` and a validator.
 * Prints the median of each step per root, and writes every run to COLD_OUT if set.
 */
import { build } from 'esbuild';
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS } from '../browser/harness.js';

const here = fileURLToPath(new URL('../../', import.meta.url));
const roots = (process.argv.slice(2).length ? process.argv.slice(2) : [here]).map((r) => resolve(r));
const N = Number(process.env.N ?? 10000);
const RUNS = Number(process.env.RUNS ?? 7);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const COI = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

/** A sync server of `root`'s code that also serves the bench page module and cold-page.js. */
async function serverOf(root, bundleDir) {
  const { startServer } = await import(join(root, 'js/server/main.js'));
  const files = {
    '/bench/sloop.js': join(bundleDir, 'sloop.js'),
    '/tests/bench/cold-page.js': join(here, 'tests/bench/cold-page.js'),
  };
  const handler = async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/bench/') {
      res.writeHead(200, { 'content-type': 'text/html', ...COI });
      return res.end('<!doctype html><title>cold</title>'), true;
    }
    if (!files[path]) return false;
    res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'no-cache', ...COI });
    res.end(await readFile(files[path]));
    return true;
  };
  return startServer({ port: 0, handler });
}

const bundleDir = join(here, 'build/cold-breakdown');
await build({
  entryPoints: [join(here, 'bench/page/sloop.js')], bundle: true, format: 'esm', platform: 'browser',
  outdir: bundleDir, external: ['/js/*'], logLevel: 'error',
});
const { QUERY_STATUS } = await import(join(here, 'bench/data.js'));
const servers = await Promise.all(roots.map((r) => serverOf(r, bundleDir)));
// PROFILE=dir: a persistent profile (HTTP cache and code cache on disk) instead of bench/run.mjs's
// in-memory browser context.
const launch = { executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: [...CHROMIUM_ARGS, ...(process.env.EXTRA_ARGS?.split(' ') ?? [])], headless: true };
const browser = process.env.PROFILE ? null : await chromium.launch(launch);
const context = browser ? await browser.newContext() : await chromium.launchPersistentContext(process.env.PROFILE, launch);
const name = `cold-${N}`;
const all = roots.map(() => []);
try {
  const tab = async (k, fn, arg) => {
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') console.error('[page]', m.text()); });
    page.on('pageerror', (e) => console.error('[page error]', e.message));
    try {
      await page.goto(`${servers[k].url}/bench/`);
      return await page.evaluate(fn, arg);
    } finally {
      await page.close();
    }
  };
  for (let k = 0; k < roots.length; k++) {
    await tab(k, async ({ name, n }) => {
      const m = await import('/bench/sloop.js');
      await m.destroy(name);
      await m.prepare({ name, n });
    }, { name, n: N });
  }
  console.error(`prepared ${N} records in ${roots.length} origin(s)`);
  for (let run = 0; run < RUNS; run++) {
    for (let i = 0; i < roots.length; i++) {
      const k = (i + run) % roots.length;
      const r = await tab(k, async ({ name, status, leaveOpen }) => (await import('/tests/bench/cold-page.js'))
        .coldSteps({ name, schemaUrl: '/schema.json', query: { where: { status }, limit: 50 }, leaveOpen }),
      { name, status: QUERY_STATUS, leaveOpen: process.env.LEAVE_OPEN === '1' });
      all[k].push(r);
      console.error(`run ${run + 1} ${roots[k]}: ${r.times.total.toFixed(1)} ms, ${r.pagesPrefetched} prefetched ${JSON.stringify(Object.fromEntries(Object.entries(r.times).map(([s, v]) => [s, +v.toFixed(1)])))}`);
    }
  }
} finally {
  await (browser ?? context).close();
  await Promise.all(servers.map((s) => s.close()));
}
if (process.env.COLD_OUT) writeFileSync(process.env.COLD_OUT, JSON.stringify({ roots, N, runs: all }, null, 1));
roots.forEach((root, k) => {
  console.log(`\n${root} (${N} records, medians of ${RUNS}, ms)`);
  const steps = [...new Set(all[k].flatMap((r) => Object.keys(r.times)))];
  for (const s of steps) console.log(`  ${s.padEnd(26)} ${median(all[k].map((r) => r.times[s] ?? 0)).toFixed(1).padStart(8)}`);
  console.log(`  page reads: open ${median(all[k].map((r) => r.openPageReads))}, query ${median(all[k].map((r) => r.queryPageReads))}; mode ${all[k][0].mode}`);
  if (process.env.READS) for (const r of all[k]) console.log(JSON.stringify(r.reads.slice(0, 4)), 'rest median', median(r.reads.slice(4).map((x) => x[3])));
  const last = all[k].at(-1).resources.filter((x) => !x.url.startsWith('/bench/'));
  for (const x of last) console.log(`    ${x.url.padEnd(40)} start ${x.start.toFixed(1).padStart(7)} took ${x.ms.toFixed(1).padStart(6)} status ${x.status} bytes ${x.bytes}`);
});
