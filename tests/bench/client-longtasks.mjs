// Main-thread long tasks during a large initial sync in headless Chromium: seeds a tenant with
// N notes (default 100,000), opens a fresh database in a page and syncs it all, then prints
// the time, the long tasks (> 50 ms) and the frames rendered meanwhile. A measurement, not a test.
//   node tests/bench/client-longtasks.mjs [--records 100000] [--page 200]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startServer } from '../../js/server/main.js';
import { CHROMIUM_ARGS } from '../browser/harness.js';
import { seedNotes, openClientPage } from '../browser/client-fixtures.js';

const { values } = parseArgs({ options: { records: { type: 'string', default: '100000' }, page: { type: 'string', default: '200' } } });
const records = Number(values.records);
const dataDir = mkdtempSync(join(tmpdir(), 'sloop-client-bench-'));
let server, browser;
try {
  let t = performance.now();
  await seedNotes(dataDir, { count: records });
  console.log(`seeded ${records} notes in ${Math.round(performance.now() - t)} ms`);
  server = await startServer({ port: 0, dataDir });
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
  const { page } = await openClientPage(browser, server.url);
  const r = await page.evaluate(async (pullPage) => {
    const { measureInitialSync } = await import('/tests/browser/client-page.js');
    return measureInitialSync({ pullPage });
  }, Number(values.page));
  const sorted = [...r.longTasks].sort((a, b) => b - a);
  console.log(`initial sync of ${r.total} records, pages of ${values.page}: ${r.ms} ms`);
  console.log(`long tasks: ${r.longTasks.length}, total ${r.longTasks.reduce((a, b) => a + b, 0)} ms,`
    + ` longest ${sorted.slice(0, 5).join(', ')} ms, median ${sorted[Math.floor(sorted.length / 2)] ?? 0} ms`);
  console.log(`frames rendered during the sync: ${r.frames} (${(r.frames / (r.ms / 1000)).toFixed(1)}/s)`);
} finally {
  await browser?.close();
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
}
