// Bundle sizes of what a page downloads: the JS client (esbuild bundles of js/sloop.js, the
// page's part, without what it imports only dynamically: the engine; and of the engine's worker,
// js/client/engine-worker.js, with what it imports, the Emscripten loader included, into
// build/client/), the service worker
// (build/sw/sw.js) and the WebAssembly module. Raw and gzip -9 bytes.
//   node tests/bench/client-size.mjs
import { build } from 'esbuild';
import { readFileSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const root = new URL('../../', import.meta.url).pathname;
const common = { bundle: true, minify: true, format: 'esm', platform: 'browser', external: ['node:*'], logLevel: 'warning' };
// The page loads the engine only on demand (worker: false): a dynamic import stays one.
const dynamicImportsOut = {
  name: 'dynamic-imports-out',
  setup(b) { b.onResolve({ filter: /.*/ }, (args) => (args.kind === 'dynamic-import' ? { path: args.path, external: true } : undefined)); },
};
await build({ ...common, entryPoints: [`${root}js/sloop.js`], outdir: `${root}build/client`, plugins: [dynamicImportsOut] });
await build({ ...common, entryPoints: [`${root}js/client/engine-worker.js`], outdir: `${root}build/client/client` });
const rows = [['JS client, page (build/client/sloop.js, minified)', 'build/client/sloop.js'],
  ['JS client, engine worker (build/client/client/engine-worker.js, minified)', 'build/client/client/engine-worker.js'],
  ['service worker (build/sw/sw.js)', 'build/sw/sw.js'], ['WebAssembly (build/wasm/sloop-client.wasm)', 'build/wasm/sloop-client.wasm']];
for (const [what, path] of rows) {
  if (!existsSync(root + path)) { console.log(`${what}: missing (make sw / make wasm)`); continue; }
  const bytes = readFileSync(root + path);
  console.log(`${what}: ${(bytes.length / 1024).toFixed(1)} KiB, gzip ${(gzipSync(bytes, { level: 9 }).length / 1024).toFixed(1)} KiB`);
}
