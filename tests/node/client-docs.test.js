// docs/CLIENT.md's examples run: every ```js run block, in order, against the real demo server
// (js/server/main.js: its users, web/schema.json, static files), with the public API on
// fake-indexeddb. An example that stops running, or a `// => value` that stops being true,
// fails here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../../js/server/main.js';
import { runDocBlocks, runnableBlocks } from './docs-runner.js';

const clientMd = readFileSync(new URL('../../docs/CLIENT.md', import.meta.url), 'utf8');
const dataDir = mkdtempSync(join(tmpdir(), 'sloop-client-docs-'));
let server;

before(async () => { server = await startServer({ port: 0, dataDir }); });
after(async () => {
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test('docs/CLIENT.md: every runnable example runs, and every "// =>" holds', { timeout: 60_000 }, async (t) => {
  const { blocks, checks } = await runDocBlocks(clientMd, { origin: server.url, name: 'docs/CLIENT.md' });
  t.diagnostic(`${blocks} blocks, ${checks} checked results`);
  // The sections that must stay runnable: sign-in, field types, queries, users.
  assert.ok(blocks >= 6, `only ${blocks} runnable blocks`);
  assert.ok(checks >= 20, `only ${checks} checked results`);
});

test('the runner fails on a block that throws, and on a result that differs from the text', async () => {
  const throwing = '# x\n\n```js run\nconst a = 1;\n```\n\ntext\n\n```js run\nthrow new Error(`broken ${a}`);\n```\n';
  assert.deepEqual(runnableBlocks(throwing).map((b) => b.line), [4, 10]);
  await assert.rejects(runDocBlocks(throwing, { origin: server.url }), /block at line 10 failed: Error: broken 1/);
  const wrong = '```js run\nconst answer = 6 * 7;\nanswer; // => 42\n[answer]; // => [41]\n```\n';
  await assert.rejects(runDocBlocks(wrong, { origin: server.url }), /line 4: got \[ 42 \], the text says \[ 41 \]/);
  const right = '```js run\nimport { databaseName } from \'/js/sloop.js\';\ndatabaseName(\'a\', \'b\'); // => \'a@b\'\n```\n\n```js\nnot run at all(\n```\n';
  assert.deepEqual(await runDocBlocks(right, { origin: server.url }), { blocks: 1, checks: 1 });
});
