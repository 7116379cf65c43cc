// What a first visit downloads, gzipped: every file the service worker precaches (the page of
// web/, the client runtime of js/ and the WASM build, named by sw/build.mjs and
// js/server/client-runtime.js) plus the service worker itself, each gzipped on its own at
// zlib level 6 (what a typical static server sends; bench scenario 7 uses the same level).
// Prints one line per file, largest first, then subtotals per group and the total; the
// issue's target (first-visit download <= 400 KiB gzip) is the "total" line.
//   make bench-size        (builds the module and the worker first)
//   node tests/bench/download-size.mjs [--json]
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { precacheManifest } from '../../sw/build.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Where a served URL lives in the checkout (js/server/client-runtime.js, sw/build.mjs). */
const pathOf = (url) => (url.startsWith('/js/') ? 'build' + url : url.startsWith('/build/') ? url.slice(1) : 'web' + url);

/** The group a URL is summed under. */
const groupOf = (url) => (url.endsWith('.wasm') ? 'wasm' : url.startsWith('/build/wasm/') ? 'wasm loader'
  : url.startsWith('/js/') ? 'js' : url === '/sw.js' ? 'service worker' : 'page (web/)');

const urls = (await precacheManifest()).map((e) => e.url);
const rows = [];
for (const url of urls) {
  const bytes = await readFile(join(root, pathOf(url)));
  rows.push({ url, group: groupOf(url), raw: bytes.length, gzip: gzipSync(bytes, { level: 6 }).length });
}
const sw = await readFile(join(root, 'build/sw/sw.js'));
rows.push({ url: '/sw.js', group: 'service worker', raw: sw.length, gzip: gzipSync(sw, { level: 6 }).length });
rows.sort((a, b) => b.gzip - a.gzip);

const groups = {};
for (const r of rows) {
  const g = (groups[r.group] ??= { files: 0, raw: 0, gzip: 0 });
  g.files++; g.raw += r.raw; g.gzip += r.gzip;
}
const total = rows.reduce((t, r) => ({ raw: t.raw + r.raw, gzip: t.gzip + r.gzip }), { raw: 0, gzip: 0 });
// The engine alone, as bench scenario 7 counts it: everything but the demo's own page.
const engine = rows.filter((r) => r.group !== 'page (web/)').reduce((t, r) => t + r.gzip, 0);

if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ files: rows, groups, total, engineGzip: engine }));
} else {
  const kib = (n) => (n / 1024).toFixed(1).padStart(7);
  console.log('  gzip KiB    raw KiB  file');
  for (const r of rows) console.log(`${kib(r.gzip)}    ${kib(r.raw)}  ${r.url}`);
  console.log('');
  for (const [name, g] of Object.entries(groups).sort((a, b) => b[1].gzip - a[1].gzip)) {
    console.log(`${kib(g.gzip)}    ${kib(g.raw)}  ${name} (${g.files} files)`);
  }
  console.log(`${kib(engine)}               engine: js + wasm + loader + service worker`);
  console.log(`${kib(total.gzip)}    ${kib(total.raw)}  total, ${rows.length} files`);
}
