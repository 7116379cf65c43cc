/**
 * build.mjs -- bundles the service worker (sw/sw.js and the Workbox modules it imports) into
 * one classic script, build/sw/sw.js, served at /sw.js, and writes the precache list into it.
 *
 * The precache list names every file the app needs to start offline, each with a revision that
 * is a hash of its bytes: the page (web/, less its icons, which are cached at run time), the
 * browser-side modules of js/ and the WASM build. Changing any of them changes sw.js, so the
 * browser sees a new version. Run by `make sw`; prints the bundle size, raw and gzipped.
 *
 * Run as a script, it first writes the client runtime as served (`buildClientRuntime`): the
 * browser-side modules of js/ minified into two files, the page's (build/js/runtime.js: the
 * public handle) and the engine's (build/js/runtime-engine.js: core, persistence, sync), and at
 * each module's path a one-line module re-exporting its names from one of them. Exported and
 * class names are kept; the first visit downloads about a third of the bytes (docs/DESIGN.md,
 * "Module size"), and a page's imports cost one round of requests before the runtime runs
 * (docs/PERSISTENCE.md, "Cold start").
 *
 * `buildServiceWorker({outfile, salt, banner})` is exported so tests can build other versions
 * of the worker elsewhere without touching build/: it precaches build/js/ as `make sw` left it.
 */
import { build, transform } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { CLIENT_RUNTIME } from '../js/server/client-runtime.js';

const root = fileURLToPath(new URL('../', import.meta.url));

/**
 * Folders to precache, the URL prefix each is served at, what to take: the app's pages, and
 * the client runtime exactly as the server serves it (js/server/client-runtime.js).
 */
const PRECACHE = [
  { dir: 'web', prefix: '/', take: (rel) => !rel.startsWith('icons/') },
  ...CLIENT_RUNTIME,
];

const VERSION_PLACEHOLDER = '@SLOOP_SW_VERSION@';

const hash = (bytes) => createHash('sha256').update(bytes).digest('hex').slice(0, 16);

/** Lists the files under a folder, recursively, as paths relative to it. */
async function listFiles(dir) {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath ?? e.path, e.name)));
}

/** The file that holds the page's part of the client runtime, served from js/ (build/js/). */
export const RUNTIME_FILE = 'runtime.js';
/** The file that holds the engine's part: loaded by the engine's worker, or on demand. */
export const ENGINE_RUNTIME_FILE = 'runtime-engine.js';
/**
 * The modules an app's page imports. They and what they import statically make the page's
 * file; everything else is the engine's, which the page loads only on demand (js/sloop.js
 * imports the engine dynamically, for the engine on the page's own thread).
 */
const PAGE_ENTRIES = ['sloop.js', 'sw-client.js'];
/**
 * Modules left out of the runtime's files: the engine worker's entry runs code at load (its
 * message handler), which must not run in every page that imports the runtime. It is written
 * minified, importing from the runtime's files directly (one import level less than through
 * the modules' own paths).
 */
const OWN_FILE = new Set(['client/engine-worker.js']);
// KEEP_NAMES=1 make sw keeps the runtime's function names, for a CPU profile that names them.
const MINIFY = {
  format: 'esm', target: 'es2022', legalComments: 'none',
  ...(process.env.KEEP_NAMES ? { minifyWhitespace: true, minifySyntax: true } : { minify: true }),
};

/**
 * The names each module exports, from esbuild's metafile (no module is run).
 * @returns {Promise<Map<string, string[]>>} rel -> export names
 */
async function exportsOf(rels) {
  const { metafile } = await build({
    entryPoints: rels.map((rel) => join(root, 'js', rel)), outdir: join(root, 'build/js-exports'), absWorkingDir: root,
    bundle: false, write: false, metafile: true, format: 'esm', logLevel: 'error',
  });
  const names = new Map();
  for (const output of Object.values(metafile.outputs)) {
    if (output.entryPoint) names.set(relative(join(root, 'js'), join(root, output.entryPoint)).split('\\').join('/'), output.exports);
  }
  return names;
}

/** Leaves dynamic imports of js/ modules out of a bundle, as imports of their served path. */
const dynamicImportsOut = {
  name: 'dynamic-imports-out',
  setup(b) {
    b.onResolve({ filter: /^\./ }, (args) => {
      if (args.kind !== 'dynamic-import') return undefined;
      const rel = relative(join(root, 'js'), join(args.resolveDir, args.path)).split('\\').join('/');
      return rel.startsWith('..') ? undefined : { path: `./${rel}`, external: true };
    });
  },
};

/**
 * The page's modules: PAGE_ENTRIES and what they import statically (esbuild's metafile).
 * @returns {Promise<Set<string>>} paths relative to js/
 */
async function pageModules() {
  const { metafile } = await build({
    entryPoints: PAGE_ENTRIES.map((rel) => join(root, 'js', rel)), absWorkingDir: root, bundle: true,
    write: false, metafile: true, format: 'esm', outdir: join(root, 'build/js-page'), plugins: [dynamicImportsOut],
    logLevel: 'error',
  });
  return new Set(Object.keys(metafile.inputs).filter((p) => p.startsWith('js/')).map((p) => p.slice(3)));
}

/**
 * Writes the client runtime as served into build/js/: the code of every browser-side module of
 * js/ (outside js/server/) in two minified files, the page's (RUNTIME_FILE: the public handle,
 * its rpc layer, live queries, field handles, auth) and the engine's (ENGINE_RUNTIME_FILE:
 * core binding, persistence, storage, sync, tabs), and at each module's own path a one-line
 * module that re-exports that module's names from its file. The engine's file imports what it
 * shares with the page (errors, the rpc layer) from the page's file.
 *
 * Why two files and not more: a module's imports are only requested once it has arrived, so
 * each import level is a round of requests (304 revalidations, `no-cache`) before the .wasm can
 * even be asked for, and over HTTP/1.1 a level of more than 6 files waits for free connections.
 * Whatever module a page imports, its code is one request behind it, and what it imports
 * together (persist.js and storage/idb-backend.js) shares that one request
 * (docs/PERSISTENCE.md, "Cold start"). The page, whose engine runs in a worker by default,
 * downloads only its own part; the worker downloads both, since the engine's file imports what
 * it shares with the page (errors, the rpc layer) from the page's file. Every module URL still
 * works and names what it did, and the objects are the same whichever path imported them (one
 * module instance: one SloopError class, one loaded WebAssembly module per role). It is also
 * smaller: one gzip stream over each part, and no import statements between its modules.
 *
 * `import.meta.url` means the runtime file's URL in either file, so only modules of js/'s top
 * level (beside them) may use it; the build refuses others. Dynamic imports of the WebAssembly
 * loaders, and the page's dynamic import of the engine, stay imports, resolved from the same
 * folder. Replaces what was in build/js/, so a module deleted from js/ is not served on.
 * @returns {Promise<number>} the number of modules written
 */
export async function buildClientRuntime() {
  const out = join(root, 'build/js');
  await rm(out, { recursive: true, force: true });
  const served = CLIENT_RUNTIME.find((e) => e.dir === 'build/js').take;
  const rels = (await listFiles(join(root, 'js'))).map((r) => r.split('\\').join('/')).filter(served);
  for (const file of [RUNTIME_FILE, ENGINE_RUNTIME_FILE]) {
    if (rels.includes(file)) throw new Error(`js/${file} would be overwritten by the runtime's files`);
  }
  const bundled = rels.filter((rel) => !OWN_FILE.has(rel));
  for (const rel of bundled) {
    if (rel.includes('/') && (await readFile(join(root, 'js', rel), 'utf8')).includes('import.meta.url')) {
      throw new Error(`js/${rel} uses import.meta.url, which in the runtime would mean js/${RUNTIME_FILE}`);
    }
  }
  const page = await pageModules();
  // Each module's names under short aliases unique across modules (two modules may export
  // the same name).
  const names = await exportsOf(bundled);
  let next = 0;
  const aliases = new Map();
  for (const rel of bundled) aliases.set(rel, names.get(rel).map((name) => [name, `_${(next++).toString(36)}`]));
  const entryOf = (list) => list.map((rel) => `export {${aliases.get(rel).map(([name, alias]) => `${name} as ${alias}`).join(', ')}} from './${rel}';`).join('\n');
  const reexport = (rel, from) => `export{${aliases.get(rel).map(([name, alias]) => `${alias} as ${name}`).join(',')}}from"${from}";\n`;
  const fileOf = new Map();
  for (const rel of bundled) fileOf.set(rel, page.has(rel) ? RUNTIME_FILE : ENGINE_RUNTIME_FILE);
  /**
   * A bundle's imports of modules it does not hold, as imports of the runtime file that holds
   * them (`up`: from the bundle's folder to js/'s): in the engine's file, the page's modules.
   */
  const fromRuntimeFiles = (holds, up) => ({
    name: 'modules-from-runtime-files',
    setup(b) {
      b.onResolve({ filter: /^\./ }, (args) => {
        if (args.namespace === 'runtime-module') return { path: args.path, external: true };
        if (args.kind !== 'import-statement') return undefined;
        const rel = relative(join(root, 'js'), join(args.resolveDir, args.path)).split('\\').join('/');
        return fileOf.has(rel) && !holds(rel) ? { path: rel, namespace: 'runtime-module' } : undefined;
      });
      b.onLoad({ filter: /.*/, namespace: 'runtime-module' }, (args) => ({ contents: reexport(args.path, up + fileOf.get(args.path)), loader: 'js' }));
    },
  });
  // Node's file reads (core.js in Node) and the WebAssembly loaders stay imports.
  const common = { bundle: true, platform: 'browser', write: false, ...MINIFY, external: ['node:*', '../build/wasm/*'], logLevel: 'warning' };
  const files = [
    [RUNTIME_FILE, bundled.filter((rel) => page.has(rel)), [dynamicImportsOut]],
    [ENGINE_RUNTIME_FILE, bundled.filter((rel) => !page.has(rel)), [fromRuntimeFiles((rel) => !page.has(rel), './')]],
  ];
  await mkdir(out, { recursive: true });
  const stubs = new Map();
  for (const [file, list, plugins] of files) {
    const runtime = await build({
      ...common, plugins, stdin: { contents: entryOf(list), resolveDir: join(root, 'js'), loader: 'js', sourcefile: file },
    });
    await writeFile(join(out, file), runtime.outputFiles[0].contents);
    for (const rel of list) stubs.set(rel, reexport(rel, `${'../'.repeat(rel.split('/').length - 1) || './'}${file}`));
  }
  for (const rel of OWN_FILE) {
    const up = '../'.repeat(rel.split('/').length - 1) || './';
    const own = await build({ ...common, entryPoints: [join(root, 'js', rel)], plugins: [fromRuntimeFiles(() => false, up)] });
    stubs.set(rel, own.outputFiles[0].contents);
  }
  for (const rel of rels) {
    const code = stubs.get(rel)
      ?? (await transform(await readFile(join(root, 'js', rel), 'utf8'), { loader: 'js', ...MINIFY })).code;
    await mkdir(dirname(join(out, rel)), { recursive: true });
    await writeFile(join(out, rel), code);
  }
  return rels.length;
}

/**
 * The precache manifest, sorted by URL so the same inputs give the same worker bytes.
 * @returns {Promise<Array<{url: string, revision: string}>>}
 */
export async function precacheManifest() {
  const manifest = [];
  for (const { dir, prefix, take } of PRECACHE) {
    for (const rel of (await listFiles(join(root, dir))).filter(take)) {
      manifest.push({ url: prefix + rel.split('\\').join('/'), revision: hash(await readFile(join(root, dir, rel))) });
    }
  }
  return manifest.sort((a, b) => (a.url < b.url ? -1 : 1));
}

/**
 * Bundles the worker.
 * @param {{outfile?: string, salt?: string, banner?: string}} [options] `salt` goes into the
 *   version only, to make a different worker from the same sources; `banner` is code run before
 *   the worker's own, e.g. to hide an API and stand in for another browser
 * @returns {Promise<{outfile: string, version: string, precached: number, bytes: number, gzipBytes: number}>}
 */
export async function buildServiceWorker({ outfile = join(root, 'build/sw/sw.js'), salt = '', banner = '' } = {}) {
  const manifest = await precacheManifest();
  const result = await build({
    entryPoints: [join(root, 'sw/sw.js')],
    outfile,
    bundle: true,
    format: 'iife',
    target: 'es2020',
    minify: true,
    write: false,
    define: {
      // Workbox strips its development logging and assertions only in production builds.
      'process.env.NODE_ENV': '"production"',
      SLOOP_PRECACHE_MANIFEST: JSON.stringify(manifest),
      SLOOP_SW_VERSION: JSON.stringify(VERSION_PLACEHOLDER),
    },
    banner: { js: banner },
    logLevel: 'warning',
  });
  // The version names the bytes the browser compares, code and precache list alike.
  const text = result.outputFiles[0].text;
  const version = hash(text + salt);
  const bytes = Buffer.from(text.replace(VERSION_PLACEHOLDER, version));
  await mkdir(dirname(outfile), { recursive: true });
  await writeFile(outfile, bytes);
  return { outfile, version, precached: manifest.length, bytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // The runtime first: the precache list hashes build/js/ as served.
  await buildClientRuntime();
  const r = await buildServiceWorker();
  const kb = (n) => (n / 1024).toFixed(1) + ' KiB';
  console.log(`${relative(root, r.outfile)}: ${kb(r.bytes)}, ${kb(r.gzipBytes)} gzipped; ` +
    `${r.precached} files precached, version ${r.version}`);
}
