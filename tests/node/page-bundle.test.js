// The page's part of the client (js/sloop.js and what it imports statically) holds neither the
// engine nor the Emscripten loader, and stays within its budget: 10 KiB gzipped. The engine
// comes by a dynamic import (direct transport) or in the worker (js/client/engine-worker.js).
// Prints the size; a size is not a timing, so it is asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../../', import.meta.url));
const BUDGET = 10 * 1024;

/** js/sloop.js bundled for a browser page, dynamic imports left out (they load on demand). */
async function pageBundle() {
  const leaveDynamicOut = {
    name: 'leave-dynamic-imports-out',
    setup(b) { b.onResolve({ filter: /.*/ }, (args) => (args.kind === 'dynamic-import' ? { path: args.path, external: true } : undefined)); },
  };
  const result = await build({
    entryPoints: [`${root}js/sloop.js`], bundle: true, minify: true, format: 'esm', platform: 'browser',
    write: false, metafile: true, plugins: [leaveDynamicOut], logLevel: 'error',
  });
  return { code: result.outputFiles[0].contents, inputs: Object.keys(result.metafile.inputs) };
}

test('the page bundle holds no engine, no Emscripten loader, and is at most 10 KiB gzipped', async () => {
  const { code, inputs } = await pageBundle();
  const gzip = gzipSync(code, { level: 9 }).length;
  console.log(`page bundle: ${(code.length / 1024).toFixed(1)} KiB minified, ${(gzip / 1024).toFixed(1)} KiB gzipped; ${inputs.length} modules`);
  for (const engineModule of ['js/core.js', 'js/persist.js', 'js/engine/engine.js', 'js/engine/serve.js', 'js/client/scheduler.js', 'js/storage/idb-backend.js']) {
    assert.ok(!inputs.includes(engineModule), `${engineModule} is not in the page bundle`);
  }
  assert.ok(!inputs.some((path) => path.startsWith('build/wasm/')), 'no Emscripten loader');
  assert.ok(inputs.includes('js/rpc.js') && inputs.includes('js/sloop.js'));
  const text = new TextDecoder().decode(code);
  assert.ok(text.includes('engine/serve.js'), 'the engine is imported on demand');
  assert.ok(gzip <= BUDGET, `${gzip} bytes gzipped, budget ${BUDGET}`);
});
