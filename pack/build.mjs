/**
 * build.mjs -- writes dist/, the browser half of the npm package (`make package` then packs it
 * with `npm pack` into build/package/):
 *
 *   dist/sloop.js, dist/chunk-*.js   `sloop`: the page entry (js/sloop.js) and what it imports
 *                                      lazily, split into chunks
 *   dist/engine-worker.js             the engine's dedicated worker (js/client/engine-worker.js),
 *                                      one file with the WebAssembly loader inside
 *   dist/sloop-client.wasm            the client module (make wasm)
 *   dist/sw-client.js                 `sloop/sw-client`: the page's side of the service worker
 *   dist/sw.js                        `sloop/sw`: helpers for the app's own Workbox worker
 *                                      (sw/helpers.js; Workbox stays an import, the app's own)
 *   dist/*.d.ts                       their types (js/sloop.d.ts, js/sw-client.d.ts, sw/helpers.d.ts)
 *
 * The server half (`sloop/server`, the `sloop-server` CLI) ships as source: js/ as it is, and
 * build/wasm/sloop-server.{js,wasm}, which js/core.js finds beside it.
 *
 * How the files find each other: in the repository the runtime finds its files from its own
 * modules' URLs (js/sloop.js: the engine's worker beside it; js/core.js: the WebAssembly build
 * at ../build/wasm/), as the demo serves them. A bundler only follows the literal pattern `new URL('./file', import.meta.url)`
 * (and `new Worker(new URL(...), {type: 'module'})`), so this build rewrites those places as it
 * loads the sources (rewriteLocations): each then names a file beside it in dist/, which Vite
 * and other bundlers follow and emit, and which an esbuild-built app copies beside its bundle.
 * The sources stay as they are, so the demo and this build read the same files. After the
 * build every `new URL('...', import.meta.url)` left in dist/ is checked to name a file there.
 * @module sloop/pack/build
 */
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = fileURLToPath(new URL('../', import.meta.url));
const dist = join(root, 'dist');

/**
 * Runtime files the page's code finds relative to its own module (js/sloop.js: the engine's
 * worker), by the path it names, and their name in dist/.
 */
const RUNTIME_FILES = { './client/engine-worker.js': 'engine-worker.js' };

/** `new URL('<literal>', import.meta.url)`. */
const URL_RE = /new URL\(\s*(['"])([^'"]+)\1\s*,\s*import\.meta\.url\s*\)/g;

/**
 * Rewrites how one source file locates the runtime's files, for a bundle that lies in dist/.
 * The server's module (sloop-server.*) is never loaded by a page: its URL gets a base no
 * bundler follows.
 * @param {string} code
 */
export function rewriteLocations(code) {
  return code.replace(URL_RE, (whole, quote, target) => {
    if (RUNTIME_FILES[target]) return `new URL('./${RUNTIME_FILES[target]}', import.meta.url)`;
    // The client's module ships beside the bundles; its loader (a literal import()) is bundled.
    if (target === '../build/wasm/sloop-client.wasm') return `new URL('./sloop-client.wasm', import.meta.url)`;
    const server = /^\.\.\/build\/wasm\/(sloop-server\.\w+)$/.exec(target);
    return server ? `new URL('${server[1]}', 'sloop-server:/')` : whole;
  });
}

/**
 * The esbuild plugin of the browser bundles: sources of js/ go through rewriteLocations; a
 * dynamic import of a Node module (core.js reads the .wasm from disk in Node) becomes a module
 * that throws if ever loaded, so an app's bundler meets no `node:` import; a static one is an
 * error (it would load in every page).
 */
const browserPlugin = {
  name: 'sloop-browser',
  setup(b) {
    b.onLoad({ filter: /[\\/]js[\\/].*\.js$/ }, async (args) => ({
      contents: rewriteLocations(await readFile(args.path, 'utf8')),
      loader: 'js',
    }));
    b.onResolve({ filter: /^node:/ }, (args) => (args.kind === 'dynamic-import'
      ? { path: args.path, namespace: 'sloop-node-only' }
      : { errors: [{ text: `${args.path} is imported by browser code (${relative(root, args.importer)})` }] }));
    b.onLoad({ filter: /.*/, namespace: 'sloop-node-only' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${args.path} is not available in a browser`)});`,
      loader: 'js',
    }));
  },
};

const BROWSER = {
  bundle: true, platform: 'browser', format: 'esm', target: 'es2022', minify: true,
  legalComments: 'none', logLevel: 'warning', plugins: [browserPlugin], absWorkingDir: root,
};

const hash = (bytes) => createHash('sha256').update(bytes).digest('hex').slice(0, 16);

/**
 * Checks that every `new URL('x', import.meta.url)` in dist/'s JavaScript names a file of
 * dist/: what a bundler would try to emit, and what the browser fetches when unbundled.
 */
async function checkLocations(files) {
  for (const file of files.filter((f) => f.endsWith('.js'))) {
    const code = await readFile(join(dist, file), 'utf8');
    for (const [, , target] of code.matchAll(/new URL\(\s*(['"])([^'"]+)\1\s*,\s*import\.meta\.url\s*\)/g)) {
      if (!files.includes(target.replace(/^\.\//, ''))) throw new Error(`dist/${file} locates ${target}, which is not in dist/`);
    }
    if (/build\/wasm\//.test(code)) throw new Error(`dist/${file} still locates files the repository's way`);
    // A worker is found by bundlers only as `new Worker(new URL(...))`; elsewhere they would
    // copy it as a plain file, without the module it loads.
    const worker = 'new URL("./engine-worker.js",import.meta.url)';
    if (code.split(worker).length !== code.split(`new Worker(${worker}`).length) {
      throw new Error(`dist/${file} locates engine-worker.js outside new Worker(...)`);
    }
  }
}

/**
 * Writes dist/. Needs build/wasm/ (make wasm).
 * @returns {Promise<Record<string, {bytes: number, gzipBytes: number}>>} by file of dist/
 */
export async function buildPackage() {
  await rm(dist, { recursive: true, force: true });
  await mkdir(dist, { recursive: true });
  // The page's modules: split, so what the page loads lazily stays out of its first download.
  await build({
    ...BROWSER, entryPoints: [join(root, 'js/sloop.js'), join(root, 'js/sw-client.js')],
    outdir: dist, splitting: true, chunkNames: 'chunk-[hash]',
  });
  // The worker in one file: a bundler may build a worker as a classic script, without chunks.
  await build({ ...BROWSER, entryPoints: [join(root, 'js/client/engine-worker.js')], outfile: join(dist, 'engine-worker.js') });
  await copyFile(join(root, 'build/wasm/sloop-client.wasm'), join(dist, 'sloop-client.wasm'));

  // The service-worker helpers last: they carry the revisions of the files above.
  const shipped = (await readdir(dist)).sort();
  const packageFiles = [];
  for (const file of shipped) {
    packageFiles.push({ file, revision: hash(await readFile(join(dist, file))), entry: !['engine-worker.js', 'sloop-client.wasm'].includes(file) });
  }
  await build({
    entryPoints: [join(root, 'sw/helpers.js')], outfile: join(dist, 'sw.js'), absWorkingDir: root,
    bundle: true, platform: 'browser', format: 'esm', target: 'es2020', logLevel: 'warning',
    // The app's Workbox, so its routes and these share one router.
    external: ['workbox-*'],
    define: { SLOOP_PACKAGE_FILES: JSON.stringify(packageFiles) },
  });
  for (const [from, to] of [['js/sloop.d.ts', 'sloop.d.ts'], ['js/sw-client.d.ts', 'sw-client.d.ts'], ['sw/helpers.d.ts', 'sw.d.ts']]) {
    await copyFile(join(root, from), join(dist, to));
  }
  const files = (await readdir(dist)).sort();
  await checkLocations(files);
  const sizes = {};
  for (const file of files) {
    const bytes = await readFile(join(dist, file));
    sizes[file] = { bytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length };
  }
  return sizes;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = await buildPackage();
  const kb = (n) => (n / 1024).toFixed(1) + ' KiB';
  for (const [file, { bytes, gzipBytes }] of Object.entries(sizes)) {
    if (!file.endsWith('.d.ts')) console.log(`dist/${basename(file)}: ${kb(bytes)}, ${kb(gzipBytes)} gzipped`);
  }
}
