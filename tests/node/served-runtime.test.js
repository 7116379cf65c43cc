// The client runtime as served (sw/build.mjs, `make sw`): the code of every browser-side
// module in two files, the page's (build/js/runtime.js) and the engine's
// (build/js/runtime-engine.js), and at each module's own path a module that re-exports that
// module's names from one of them. What a page imports by any path must be what the
// source module exports, and the same objects whichever path it came by.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLIENT_RUNTIME } from '../../js/server/client-runtime.js';
import { precacheManifest, RUNTIME_FILE, ENGINE_RUNTIME_FILE } from '../../sw/build.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const served = (await precacheManifest()).map((e) => e.url).filter((u) => u.startsWith('/js/')).map((u) => u.slice(4));
// The engine worker's entry runs code at load (it is a worker's main module), so it keeps its
// own file and is not imported here.
const modules = served.filter((rel) => rel !== RUNTIME_FILE && rel !== ENGINE_RUNTIME_FILE && rel !== 'client/engine-worker.js');

test('the runtime is served as two files, and each module path as a one-line re-export of one', () => {
  for (const file of [RUNTIME_FILE, ENGINE_RUNTIME_FILE]) {
    assert.ok(served.includes(file), `${file} is precached and served`);
    assert.ok(CLIENT_RUNTIME.find((e) => e.dir === 'build/js').take(file));
  }
  assert.ok(modules.includes('persist.js') && modules.includes('storage/idb-backend.js') && modules.includes('sloop.js'));
  for (const rel of modules) {
    const text = readFileSync(join(root, 'build/js', rel), 'utf8');
    const up = '../'.repeat(rel.split('/').length - 1) || './';
    assert.match(text, new RegExp(`^export\\{[^}]*\\}from"${up.replace(/\./g, '\\.')}runtime(-engine)?\\.js";\\n$`), rel);
  }
});

test('the page\'s file holds the handle and not the engine: the engine\'s file imports what they share from it', () => {
  const stub = (rel) => readFileSync(join(root, 'build/js', rel), 'utf8');
  assert.match(stub('sloop.js'), /from"\.\/runtime\.js"/);
  assert.match(stub('rpc.js'), /from"\.\/runtime\.js"/);
  for (const rel of ['core.js', 'persist.js', 'engine/serve.js', 'client/scheduler.js', 'storage/idb-backend.js']) {
    assert.match(stub(rel), /runtime-engine\.js"/, rel);
  }
  const page = readFileSync(join(root, 'build/js', RUNTIME_FILE), 'utf8');
  const engine = readFileSync(join(root, 'build/js', ENGINE_RUNTIME_FILE), 'utf8');
  assert.ok(!page.includes('sloop-client'), 'no Emscripten loader in the page\'s file');
  assert.ok(page.includes('import("./engine/serve.js")'), 'the page loads the engine on demand');
  assert.match(engine, /from"\.\/runtime\.js"/);
  // The engine worker's entry imports the engine's file itself, not through serve.js's path.
  assert.match(stub('client/engine-worker.js'), /^import\{[^}]*\}from"\.\.\/runtime-engine\.js";/);
  assert.ok(!engine.includes('this.name="SloopError"'), 'one SloopError class, the page file\'s');
});

test('every module path exports exactly its source module\'s names, as the same objects', async () => {
  const seen = new Map();
  for (const rel of modules) {
    const source = await import(join(root, 'js', rel));
    const built = await import(join(root, 'build/js', rel));
    assert.deepEqual(Object.keys(built).sort(), Object.keys(source).sort(), rel);
    for (const [name, value] of Object.entries(built)) {
      assert.equal(typeof value, typeof source[name], `${rel} ${name}`);
      if (!seen.has(name)) seen.set(name, value);
    }
  }
  // One module instance behind every path: the class persist.js throws is the one core.js exports.
  const core = await import(join(root, 'build/js/core.js'));
  const persist = await import(join(root, 'build/js/persist.js'));
  const backend = await import(join(root, 'build/js/storage/idb-backend.js'));
  assert.equal(seen.get('SloopError'), core.SloopError);
  await assert.rejects(persist.openPersistentDb({}), (e) => e instanceof core.SloopError && e.code === 'invalid');
  assert.ok(backend.storageError(new Error('x')) instanceof core.SloopError);
  // The one URL the runtime builds from its own location, the engine worker's (js/sloop.js),
  // still names the served worker beside the page's file.
  const page = readFileSync(join(root, 'build/js', RUNTIME_FILE), 'utf8');
  const worker = page.match(/new Worker\(new URL\("([^"]+)",import\.meta\.url\)/)?.[1];
  assert.equal(worker, './client/engine-worker.js');
  assert.ok(readFileSync(new URL(worker, new URL(`../../build/js/${RUNTIME_FILE}`, import.meta.url)), 'utf8').length > 0);
});
