/**
 * sizes.mjs -- scenario 7: the bytes a first visit downloads, gzipped (zlib level 6, what a
 * typical server sends). Sloop: what its service worker precaches of the engine (js/ and the
 * WASM build, not the demo app's own page) plus the service worker itself, as served. Peers:
 * their browser code minified into one ES module by esbuild, as an app would ship it, plus
 * sqlite-wasm's .wasm and OPFS proxy worker as published.
 */
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { precacheManifest } from '../sw/build.mjs';

const root = fileURLToPath(new URL('../', import.meta.url));
const gz = (bytes) => gzipSync(bytes, { level: 6 }).length;

/** Minifies `source` (an ES module importing the peer) into one file; returns its gzip size. */
async function bundledSize(source) {
  const out = await build({
    stdin: { contents: source, resolveDir: root, loader: 'js' },
    bundle: true, minify: true, format: 'esm', platform: 'browser', write: false,
    define: { global: 'globalThis' }, logLevel: 'error',
  });
  return gz(out.outputFiles[0].contents);
}

const files = async (paths) => (await Promise.all(paths.map(async (p) => gz(await readFile(join(root, p)))))).reduce((a, b) => a + b, 0);

/**
 * @returns {Promise<Record<string, {bytes: number, parts: Record<string, number>}>>} gzip bytes per system
 */
export async function firstVisitBytes() {
  const engine = (await precacheManifest()).map((e) => e.url).filter((u) => u.startsWith('/js/') || u.startsWith('/build/wasm/'));
  const wasm = engine.filter((u) => u.endsWith('.wasm'));
  const js = engine.filter((u) => !u.endsWith('.wasm'));
  const sloopParts = {
    wasm: await files(wasm.map((u) => u.slice(1))),
    // Served from build/js/ (sw/build.mjs writes the runtime there, as the server sends it).
    js: await files(js.map((u) => (u.startsWith('/js/') ? 'build' + u : u.slice(1)))),
    serviceWorker: await files(['build/sw/sw.js']),
  };
  const sqliteDir = 'node_modules/@sqlite.org/sqlite-wasm/sqlite-wasm/jswasm/';
  const systems = {
    sloop: sloopParts,
    dexie: { js: await bundledSize("export { default } from 'dexie';") },
    pouchdb: { js: await bundledSize("import P from 'pouchdb-browser'; import f from 'pouchdb-find'; P.plugin(f); export default P;") },
    'sqlite-wasm': {
      wasm: await files([`${sqliteDir}sqlite3.wasm`]),
      js: (await bundledSize("export { default } from '@sqlite.org/sqlite-wasm';")) + (await files([`${sqliteDir}sqlite3-opfs-async-proxy.js`])),
    },
  };
  return Object.fromEntries(Object.entries(systems).map(([name, parts]) =>
    [name, { bytes: Object.values(parts).reduce((a, b) => a + b, 0), parts }]));
}
