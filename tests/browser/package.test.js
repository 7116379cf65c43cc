// The npm package as an app meets it: the tarball `make package` packs (build/package/) is
// installed into a fresh temporary project with the fixture app (tests/fixtures/package-app/),
// which is built with Vite and with esbuild and served by the package's own `sloop-server`;
// in Chromium each build writes offline, reloads offline from its service worker's cache, still
// shows the write, and syncs it to the server once the network is back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, cp, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { build as esbuild } from 'esbuild';
import { serverNotes as serverNotesOf } from './e2e-harness.js';
import { build as viteBuild, createLogger } from 'vite';
import { launchBrowser } from './e2e-harness.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const PASSWORD = 'ann-package-test';

let fresh = null;
let tarball = null;
let browser = null;
const servers = [];

/** The one tarball of build/package/. */
async function findTarball() {
  const dir = join(root, 'build/package');
  const found = (await readdir(dir).catch(() => [])).filter((f) => f.endsWith('.tgz'));
  assert.equal(found.length, 1, `expected one tarball in build/package/ (make package), found ${found.length}`);
  return join(dir, found[0]);
}

/** Every file under a folder, relative to it, with / separators. */
async function listFiles(dir) {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath ?? e.path, e.name)).split('\\').join('/')).sort();
}

/** The names a module exports, from esbuild's metafile (the module is not run). */
async function exportsOf(file) {
  const { metafile } = await esbuild({ entryPoints: [file], bundle: false, write: false, metafile: true, format: 'esm', outdir: join(fresh, 'exports-probe'), logLevel: 'error' });
  return Object.values(metafile.outputs).find((o) => o.entryPoint).exports;
}

before(async () => {
  tarball = await findTarball();
  fresh = await mkdtemp(join(tmpdir(), 'sloop-package-'));
  await cp(join(root, 'tests/fixtures/package-app'), fresh, { recursive: true });
  // Workbox at the versions the repository uses, which `npm ci` left in npm's cache.
  const { devDependencies } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  const workbox = ['workbox-core', 'workbox-precaching', 'workbox-routing', 'workbox-strategies', 'workbox-background-sync']
    .map((name) => `${name}@${devDependencies[name]}`);
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball, ...workbox], { cwd: fresh });
  await run(process.execPath, ['make-users.mjs', PASSWORD], { cwd: fresh });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  for (const server of servers) server.kill('SIGTERM');
  if (fresh) await rm(fresh, { recursive: true, force: true });
});

test('the tarball holds the built client, its types, the service-worker helpers and the server', async () => {
  const { stdout } = await run('tar', ['tzf', tarball]);
  const files = new Set(stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, '')));
  for (const file of ['package.json', 'README.md', 'dist/sloop.js', 'dist/sloop.d.ts', 'dist/engine-worker.js', 'dist/sloop-client.wasm',
    'dist/sw.js', 'dist/sw.d.ts', 'dist/sw-client.js', 'dist/sw-client.d.ts', 'js/server/index.js', 'js/server/index.d.ts',
    'js/server/cli.js', 'build/wasm/sloop-server.js', 'build/wasm/sloop-server.wasm']) {
    assert.ok(files.has(file), `${file} is in the tarball`);
  }
  for (const file of files) assert.doesNotMatch(file, /^(tests|web|wasm|sw|pack|bench|docs)\//, `${file} has no place in the package`);

  const installed = join(fresh, 'node_modules/sloop');
  const pkg = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8'));
  assert.equal(pkg.private, undefined);
  assert.deepEqual(Object.keys(pkg.exports), ['.', './sw', './sw-client', './server', './dist/*', './package.json']);
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (subpath.includes('*')) continue;
    for (const file of typeof target === 'string' ? [target] : Object.values(target)) {
      assert.ok((await stat(join(installed, file))).isFile(), `${subpath} -> ${file} exists`);
    }
  }
  // Each entry's declarations name exactly what it exports.
  for (const [subpath, { types, default: code }] of Object.entries(pkg.exports)) {
    if (typeof types !== 'string') continue;
    const declared = [...(await readFile(join(installed, types), 'utf8')).matchAll(/^export (?:declare )?(?:function|class|const) (\w+)/gm)].map((m) => m[1]);
    assert.deepEqual([...new Set(declared)].sort(), (await exportsOf(join(installed, code))).sort(), `${subpath}: ${types} declares what ${code} exports`);
  }
  assert.ok((await stat(join(fresh, 'node_modules/.bin/sloop-server'))).isFile(), 'the CLI is linked');
  // make-users.mjs ran `sloop/server` from the installed package in Node.
  assert.match(JSON.parse(await readFile(join(fresh, 'users.json'), 'utf8')).ann.password, /^scrypt\$/);
});

/**
 * Bundles the app's service worker into `outDir`, precaching `ownFiles` (the build output);
 * `filesBeside`: the package's worker and .wasm were copied beside the bundle.
 */
async function buildServiceWorker(outDir, ownFiles, filesBeside) {
  const manifest = [];
  for (const file of ownFiles) {
    manifest.push({ url: file, revision: createHash('sha256').update(await readFile(join(outDir, file))).digest('hex').slice(0, 16) });
  }
  await esbuild({
    entryPoints: [join(fresh, 'sw.js')], outfile: join(outDir, 'sw.js'), absWorkingDir: fresh,
    bundle: true, format: 'iife', minify: true, logLevel: 'error',
    define: {
      'process.env.NODE_ENV': '"production"',
      'self.__WB_MANIFEST': JSON.stringify(manifest),
      SLOOP_FILES_BESIDE: String(filesBeside),
    },
  });
}

/** Starts the package's `sloop-server` on a free port, serving `staticDir`; resolves to its URL. */
async function startServer(staticDir, dataDir) {
  const bin = join(fresh, 'node_modules/.bin/sloop-server');
  // Only the flags configure it: none of the environment's server settings.
  const env = { ...process.env };
  for (const name of ['PORT', 'SLOOP_DATA', 'SLOOP_DATABASE_URL', 'SLOOP_DATABASE_POOL', 'SLOOP_SECRET']) delete env[name];
  const server = spawn(bin, ['--schema', 'schema.json', '--users', 'users.json', '--static', staticDir, '--data', dataDir, '--port', '0'], { cwd: fresh, env });
  servers.push(server);
  let output = '';
  return new Promise((resolve, reject) => {
    server.stdout.on('data', (d) => {
      output += d;
      const url = /sloop-server on (http:\/\/\S+)/.exec(output)?.[1];
      if (url) resolve(url);
    });
    server.stderr.on('data', (d) => { output += d; });
    server.on('exit', (code) => reject(new Error(`sloop-server exited (${code}): ${output}`)));
  });
}

/** The notes the server holds for ann's tenant, by id. */
const serverNotes = (url) => serverNotesOf(url, 'ann', PASSWORD);

/** Waits until `check()` is truthy, polling. */
async function eventually(check, what, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The offline round on one build: write offline, reload offline, still there, sync when online. */
async function offlineRound(url, title) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.evaluate(() => window.app.ready);
    assert.equal(await page.evaluate(() => window.app.db.runsIn), 'worker', 'the engine runs in its worker');
    await page.evaluate(async (password) => {
      await window.app.auth.signIn(window.app.user, password, window.app.db.device);
      await window.app.db.sync();
    }, PASSWORD);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    // The app's worker answers the page (sloop/sw's answerPageMessages).
    const swStatus = await page.evaluate(() => window.app.sw.status());
    assert.deepEqual(swStatus, { version: '', queued: 0, backgroundSync: true });

    await context.setOffline(true);
    await page.evaluate((t) => window.app.db.put('notes', 'offline-1', { title: t, done: false }), title);
    await page.reload();
    await page.evaluate(() => window.app.ready);
    assert.equal((await page.evaluate(() => window.app.db.get('notes', 'offline-1'))).title, title, 'the write survived the reload');
    await page.locator('#notes li', { hasText: title }).waitFor({ timeout: 10000 });
    assert.equal((await serverNotes(url)).has('offline-1'), false, 'nothing reached the server while offline');

    await context.setOffline(false);
    await page.evaluate(() => window.app.db.sync().catch(() => {}));
    await eventually(async () => (await serverNotes(url)).get('offline-1')?.title === title, 'the server to hold the offline write');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
}

test('an app built with Vite writes offline, reloads and syncs', { timeout: 180000 }, async () => {
  const outDir = join(fresh, 'out-vite');
  const warnings = [];
  const logger = createLogger('warn');
  logger.warn = (msg) => warnings.push(msg);
  logger.warnOnce = (msg) => warnings.push(msg);
  await viteBuild({ root: fresh, configFile: false, logLevel: 'warn', customLogger: logger, build: { outDir, emptyOutDir: true } });
  assert.deepEqual(warnings, [], 'Vite found every file the package locates');
  const built = await listFiles(outDir);
  assert.ok(built.some((f) => /^assets\/sloop-client-.*\.wasm$/.test(f)), `Vite emitted the module: ${built}`);
  assert.ok(built.some((f) => /^assets\/engine-worker-.*\.js$/.test(f)), `Vite emitted the engine worker: ${built}`);
  await buildServiceWorker(outDir, built, false);
  const url = await startServer(outDir, join(fresh, 'data-vite'));
  await offlineRound(url, 'Written offline (Vite)');
});

test('an app built with esbuild, the package files copied beside it, writes offline, reloads and syncs', { timeout: 180000 }, async () => {
  const outDir = join(fresh, 'out-esbuild');
  await esbuild({
    entryPoints: [join(fresh, 'main.js')], outdir: outDir, absWorkingDir: fresh,
    bundle: true, format: 'esm', minify: true, logLevel: 'error',
  });
  await copyFile(join(fresh, 'index.html'), join(outDir, 'index.html'));
  // What the README tells an esbuild user to do: esbuild does not follow new URL(..., import.meta.url).
  const require = createRequire(join(fresh, 'package.json'));
  for (const file of ['engine-worker.js', 'sloop-client.wasm']) {
    await copyFile(require.resolve(`sloop/dist/${file}`), join(outDir, file));
  }
  await buildServiceWorker(outDir, ['index.html', 'main.js'], true);
  const url = await startServer(outDir, join(fresh, 'data-esbuild'));
  await offlineRound(url, 'Written offline (esbuild)');
});
