// Static serving is an allow-list: the app's pages and the client runtime the PWA loads, never
// the server's code, configuration, users or data, however the path is spelled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { DEMO_CONFIG, startServer } from '../../js/server/main.js';
import { CompressedFiles, staticFiles } from '../../js/server/static.js';
import { precacheManifest } from '../../sw/build.mjs';
import { PASSWORDS, startTestServer } from './server-harness.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** A GET with the path sent exactly as written (fetch would normalise dot segments). */
function rawGet(url, path) {
  return new Promise((resolve, reject) => {
    const req = request(url, { path, method: 'GET', agent: false }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject).end();
  });
}

/** A GET with the given Accept-Encoding (and other headers): status, headers and the raw
 * (undecoded) body. */
function getEncoded(url, path, acceptEncoding, more = {}) {
  return new Promise((resolve, reject) => {
    const headers = { ...(acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding }), ...more };
    const req = request(url, { path, method: 'GET', agent: false, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c)).on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject).end();
  });
}

/** Files under a folder, recursively, relative to the repository root with `/`. */
const filesUnder = (dir) => readdirSync(dir, { recursive: true, withFileTypes: true })
  .filter((e) => e.isFile())
  .map((e) => relative(root, join(e.parentPath ?? e.path, e.name)).split('\\').join('/'));

/** Every spelling of a repository file's path that a lax server might map to it. */
function spellings(repoPath) {
  const name = repoPath.split('/').pop();
  const enc = (p) => p.replace(/\./g, '%2e');
  return [
    `/${repoPath}`,
    `/${name}`,
    `/../${repoPath}`,
    `/%2e%2e/${repoPath}`,
    `/js/client/../../${repoPath}`,
    `/js/client/${enc('..')}/${enc('..')}/${repoPath}`,
    `/js/${repoPath.replace(/^js\//, '')}`,
    `/build/wasm/%2e%2e/%2e%2e/${repoPath}`,
    `/js/server%2f${name}`,
    `/js/client/%2e%2e%2fserver%2f${name}`,
    `/${encodeURIComponent(repoPath)}`,
  ];
}

test('no file of the server, its config, users or data is served, however the path is spelled', async () => {
  // The data folder inside the repository, so that a path to it exists at all.
  const dataRel = `build/test-static-data-${randomBytes(4).toString('hex')}`;
  const dataDir = join(root, dataRel);
  const srv = await startServer({ port: 0, dataDir });
  try {
    // Make the data folder hold what it holds in use: a tenant database and the secret.
    const login = await fetch(`${srv.url}/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password: 'alice-sloop-demo', device: 'd1' }) });
    const { token } = await login.json();
    const pulled = await fetch(`${srv.url}/v1/pull`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ v: 1, device: 'd1', cursor: 0 }) });
    assert.equal(pulled.status, 200);
    const data = filesUnder(dataDir);
    assert.ok(data.some((f) => f.endsWith('/secret')) && data.some((f) => f.endsWith('/acme.db')), `data folder holds ${data}`);

    const secret = [...filesUnder(join(root, 'js/server')), ...data, relative(root, DEMO_CONFIG)];
    assert.ok(secret.includes('js/server/demo-users.json') && secret.includes('js/server/sync-server.js'));
    for (const file of secret) {
      for (const path of spellings(file)) {
        assert.equal(await rawGet(srv.url, path), 404, `GET ${path} (${file})`);
      }
    }
  } finally {
    await srv.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('everything the service worker precaches is served, so the PWA starts online and offline', async () => {
  const srv = await startServer({ port: 0, dataDir: mkdtempSync(join(tmpdir(), 'sloop-static-')) });
  try {
    const manifest = await precacheManifest();
    assert.ok(manifest.some((e) => e.url === '/js/sloop.js') && manifest.some((e) => e.url === '/build/wasm/sloop-client.wasm'));
    assert.ok(!manifest.some((e) => e.url.startsWith('/js/server/')), 'the precache list holds no server file');
    assert.ok(!manifest.some((e) => e.url.includes('sloop-server')), 'nor the server\'s module');
    // /js/ serves the runtime as make sw writes it: the code in two files, js/ less its comments
    // and whitespace, with local names shortened, and each module's path re-exporting its names.
    const served = await (await fetch(`${srv.url}/js/core.js`)).text();
    assert.equal(served, readFileSync(join(root, 'build/js/core.js'), 'utf8'));
    assert.match(served, /^export\{.*\bas SloopError\b.*\}from"\.\/runtime(-engine)?\.js";$/m);
    const runtime = await (await fetch(`${srv.url}/js/runtime.js`)).text();
    assert.equal(runtime, readFileSync(join(root, 'build/js/runtime.js'), 'utf8'));
    assert.ok(runtime.length < readFileSync(join(root, 'js/core.js'), 'utf8').length * 3);
    assert.ok(!runtime.includes('@module sloop/core'), 'no comments');
    assert.match(runtime, /this\.name="SloopError"/, 'errors still say what they are');
    for (const { url } of manifest) {
      const res = await fetch(srv.url + url);
      assert.equal(res.status, 200, url);
      await res.arrayBuffer();
    }
    if (existsSync(join(root, 'build/sw/sw.js'))) assert.equal((await fetch(`${srv.url}/sw.js`)).status, 200);
    for (const path of ['/build/wasm/sloop-server.wasm', '/build/wasm/sloop-server.js']) {
      assert.equal(await rawGet(srv.url, path), 404, path);
    }
    assert.equal((await fetch(`${srv.url}/js/sloop.d.ts`)).status, 404, 'only the runtime\'s .js files');
  } finally {
    await srv.close();
  }
});

test('an app\'s static folder is served, less its dotfiles; without clientRuntime /js/ is the app\'s own', async () => {
  const site = mkdtempSync(join(tmpdir(), 'sloop-site-'));
  mkdirSync(join(site, 'js'));
  mkdirSync(join(site, '.git'));
  writeFileSync(join(site, 'index.html'), '<title>my app</title>');
  writeFileSync(join(site, 'js/app.js'), 'export {};');
  writeFileSync(join(site, '.env'), 'SECRET=1');
  writeFileSync(join(site, '.git/config'), '[core]');
  const srv = await startTestServer({ staticFiles: { dir: site, clientRuntime: false, serviceWorker: null } });
  try {
    assert.match(await (await fetch(`${srv.url}/`)).text(), /my app/);
    assert.equal((await fetch(`${srv.url}/js/app.js`)).status, 200);
    for (const path of ['/.env', '/.git/config', '/%2eenv', '/js/../.env', '/js/sloop.js', '/sw.js', '/build/wasm/sloop-client.wasm']) {
      assert.equal(await rawGet(srv.url, path), 404, path);
    }
    // The API is unaffected.
    const login = await fetch(`${srv.url}/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'bob', password: PASSWORDS.bob }) });
    assert.equal(login.status, 200);
  } finally {
    await srv.close();
    rmSync(site, { recursive: true, force: true });
  }
});

test('static files go out compressed when the request accepts it, and a rebuilt file is never served stale', async () => {
  const site = mkdtempSync(join(tmpdir(), 'sloop-site-'));
  const big = 'export const words = ' + JSON.stringify(Array.from({ length: 400 }, (_, i) => `word${i % 37}`)) + ';\n';
  writeFileSync(join(site, 'app.js'), big);
  writeFileSync(join(site, 'tiny.js'), 'export {};');
  writeFileSync(join(site, 'logo.png'), randomBytes(4096));
  const srv = await startTestServer({ staticFiles: { dir: site, clientRuntime: true, serviceWorker: null } });
  try {
    const br = await getEncoded(srv.url, '/app.js', 'gzip, br');
    assert.equal(br.status, 200);
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(br.headers.vary, 'Accept-Encoding');
    assert.equal(Number(br.headers['content-length']), br.body.length);
    assert.ok(br.body.length < big.length / 3, `compressed ${br.body.length} of ${big.length}`);
    assert.equal(brotliDecompressSync(br.body).toString(), big);
    const gz = await getEncoded(srv.url, '/app.js', 'gzip');
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(gz.body).toString(), big);
    const plain = await getEncoded(srv.url, '/app.js', 'identity');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body.toString(), big);
    // Too small to gain, or already compressed: as they are.
    assert.equal((await getEncoded(srv.url, '/tiny.js', 'br')).headers['content-encoding'], undefined);
    const png = await getEncoded(srv.url, '/logo.png', 'br');
    assert.equal(png.headers['content-encoding'], undefined);
    assert.equal(png.body.length, 4096);
    // The module, the largest file of a first visit.
    const wasm = await getEncoded(srv.url, '/build/wasm/sloop-client.wasm', 'br');
    assert.equal(wasm.headers['content-encoding'], 'br');
    assert.equal(wasm.headers['content-type'], 'application/wasm');
    assert.ok(Buffer.compare(brotliDecompressSync(wasm.body), readFileSync(join(root, 'build/wasm/sloop-client.wasm'))) === 0);
    // Revalidation: an unchanged file is a 304 with no body, per encoding (each encoding has
    // its own validator, so a cache never pairs one encoding's body with another's).
    assert.match(br.headers.etag, /^".+"$/);
    assert.notEqual(br.headers.etag, gz.headers.etag);
    assert.notEqual(br.headers.etag, plain.headers.etag);
    const again = await getEncoded(srv.url, '/app.js', 'br', { 'if-none-match': br.headers.etag });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    assert.equal(again.headers.etag, br.headers.etag);
    assert.equal(again.headers['cache-control'], 'no-cache');
    assert.equal((await getEncoded(srv.url, '/app.js', 'gzip', { 'if-none-match': br.headers.etag })).status, 200);
    assert.equal((await getEncoded(srv.url, '/app.js', 'br', { 'if-none-match': `"x", ${br.headers.etag}` })).status, 304);
    // A rebuild (new content, new modification time) is served, not the cached copy, even to
    // a browser that asks with the old validator.
    const rebuilt = big.replace('word0', 'WORD0');
    writeFileSync(join(site, 'app.js'), rebuilt);
    utimesSync(join(site, 'app.js'), new Date(), new Date(Date.now() + 5000));
    const fresh = await getEncoded(srv.url, '/app.js', 'br', { 'if-none-match': br.headers.etag });
    assert.equal(fresh.status, 200);
    assert.notEqual(fresh.headers.etag, br.headers.etag);
    assert.equal(brotliDecompressSync(fresh.body).toString(), rebuilt);
  } finally {
    await srv.close();
    rmSync(site, { recursive: true, force: true });
  }
});

test('the compressed copies are compressed once per version and stay within their byte budget', async () => {
  const site = mkdtempSync(join(tmpdir(), 'sloop-site-'));
  const text = (seed) => Array.from({ length: 3000 }, (_, i) => `${seed}-${(i * 7919) % 1000}`).join(' ');
  for (const name of ['a.js', 'b.js', 'c.js']) writeFileSync(join(site, name), text(name));
  try {
    const cache = new CompressedFiles(Number.MAX_SAFE_INTEGER);
    const file = join(site, 'a.js');
    const first = cache.get(file, statSync(file), 'br');
    assert.equal(cache.get(file, statSync(file), 'br'), first, 'the same version is served from the copy');
    assert.equal(brotliDecompressSync(await first).toString(), text('a.js'));
    assert.equal(cache.bytes, (await first).length);
    // A budget that holds two copies: the least recently served goes.
    const small = new CompressedFiles(2.5 * (await first).length);
    for (const name of ['a.js', 'b.js']) await small.get(join(site, name), statSync(join(site, name)), 'br');
    await small.get(join(site, 'a.js'), statSync(join(site, 'a.js')), 'br'); // a.js served again: b.js is older
    await small.get(join(site, 'c.js'), statSync(join(site, 'c.js')), 'br');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual([...small.entries.keys()].map((k) => k.split('/').pop()), ['a.js', 'c.js']);
    assert.ok(small.bytes <= small.limit);
  } finally {
    rmSync(site, { recursive: true, force: true });
  }
});

test('a file gone between its stat and its open is a 404, and the server lives on', async () => {
  const site = mkdtempSync(join(tmpdir(), 'sloop-static-'));
  const victim = join(site, 'gone.txt');
  writeFileSync(victim, 'replaced by a deploy');
  writeFileSync(join(site, 'kept.txt'), 'still here');
  // The race made certain: fs/promises' stat removes the file once it has answered for it.
  // static.js imports stat by name; syncBuiltinESMExports carries the swap to that binding.
  const fsp = createRequire(import.meta.url)('node:fs/promises');
  const realStat = fsp.stat;
  fsp.stat = async (path, ...rest) => {
    const info = await realStat(path, ...rest);
    if (path === victim) rmSync(victim);
    return info;
  };
  syncBuiltinESMExports();
  const serve = staticFiles({ dir: site });
  const server = createServer(async (req, res) => {
    if (!(await serve(req, res))) res.writeHead(404).end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  try {
    assert.equal(await rawGet(url, '/gone.txt'), 404);
    const kept = await getEncoded(url, '/kept.txt', 'identity');
    assert.equal(kept.status, 200);
    assert.equal(kept.body.toString(), 'still here');
  } finally {
    fsp.stat = realStat;
    syncBuiltinESMExports();
    await new Promise((resolve) => server.close(resolve));
    rmSync(site, { recursive: true, force: true });
  }
});
