/**
 * static.js -- the files a browser may fetch besides the API, from an allow-list and nothing
 * else:
 *   - the app's static folder at `/` (dotfiles and dot-folders refused: .git, .env);
 *   - optionally the client runtime (client-runtime.js: js/*.js outside js/server/ at /js/, as
 *     `make sw` writes them into build/js/, two files and a re-export per module, and build/wasm/sloop-client.{js,wasm} at
 *     /build/wasm/), so module URLs resolve the same way in the browser as in the package;
 *   - optionally a service worker file at /sw.js (a service worker controls only the paths
 *     under its own, so it must be served from the root).
 * The server's code, configuration, users and data are never among them; config.js also
 * refuses a static folder that would contain them. `.wasm` goes out as application/wasm,
 * which streaming compilation requires.
 *
 * Text and WASM files of at least COMPRESS_MIN_BYTES go out compressed (br or gzip, as the
 * request accepts): the first visit of a PWA downloads its whole runtime, and the module alone
 * is three times smaller compressed. Each file is compressed once per version (path, size and
 * modification time) and kept in memory; the runtime is a few files of a few hundred KiB.
 * @module sloop/server/static
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLIENT_RUNTIME } from './client-runtime.js';
import { COMPRESS_MIN_BYTES, STATIC_ENCODER_OPTIONS, chooseEncoding, compress } from './compress.js';

/** The package root: where the client runtime's folders are. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/** Types worth compressing: text, and WASM (code compresses about 3:1). Images are not. */
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.webmanifest', '.wasm', '.svg', '.txt']);

/** What the compressed copies may hold in all: an app's static folder can be large. */
export const COMPRESSED_CACHE_BYTES = 32 * 1024 * 1024;

/**
 * The compressed copies of served files, by path and encoding, least recently served first.
 * An entry is replaced when the file's size or modification time changes (a rebuild), so a
 * stale copy is never served; past `limit` bytes the least recently served copies go (a file
 * whose copy alone is larger is compressed again on every request).
 */
export class CompressedFiles {
  constructor(limit = COMPRESSED_CACHE_BYTES) {
    /** @type {Map<string, {version: string, body: Promise<Buffer>, bytes: number}>} */
    this.entries = new Map();
    this.limit = limit;
    this.bytes = 0;
  }

  /**
   * @param {string} file absolute path
   * @param {import('node:fs').Stats} info its stat
   * @param {'br'|'gzip'} encoding
   * @returns {Promise<Buffer>}
   */
  get(file, info, encoding) {
    const key = `${encoding} ${file}`;
    const version = `${info.size} ${info.mtimeMs}`;
    const hit = this.entries.get(key);
    if (hit && hit.version === version) {
      this.entries.delete(key); // to the most recently served end
      this.entries.set(key, hit);
      return hit.body;
    }
    this.drop(key);
    const entry = { version, body: null, bytes: 0 };
    entry.body = readFile(file).then((data) => compress(data, encoding, STATIC_ENCODER_OPTIONS[encoding]));
    entry.body.then((body) => {
      if (this.entries.get(key) !== entry) return;
      entry.bytes = body.length;
      this.bytes += body.length;
      for (const k of this.entries.keys()) {
        if (this.bytes <= this.limit) break;
        this.drop(k);
      }
    }, () => { if (this.entries.get(key) === entry) this.drop(key); }); // failures are not cached
    this.entries.set(key, entry);
    return entry.body;
  }

  /** Forgets one copy. */
  drop(key) {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.bytes -= entry.bytes;
    this.entries.delete(key);
  }
}

/**
 * @typedef {object} StaticOptions
 * @property {string|null} [dir] the app's static folder, served at `/` (absolute path)
 * @property {boolean} [clientRuntime] also serve the client runtime at /js/ and /build/wasm/
 * @property {string|null} [serviceWorker] a file served at /sw.js (absolute path)
 */

/** The file under `base` that `rel` names, or null if it escapes it or names a dotfile. */
function inside(base, rel) {
  if (rel.split('/').some((part) => part.startsWith('.'))) return null;
  const file = normalize(join(base, rel));
  return file.startsWith(base + sep) ? file : null;
}

/**
 * Builds the resolver from URL path to file for one set of options.
 * @param {StaticOptions} options
 * @returns {(urlPath: string) => string|null} absolute file path, or null (not served)
 */
export function staticResolver({ dir = null, clientRuntime = false, serviceWorker = null } = {}) {
  const mounts = clientRuntime
    ? CLIENT_RUNTIME.map(({ dir: d, prefix, take }) => ({ prefix, base: normalize(join(PACKAGE_ROOT, d)), take }))
    : [];
  const site = dir ? normalize(dir).replace(/[\\/]+$/, '') : null;
  return (urlPath) => {
    if (serviceWorker && urlPath === '/sw.js') return serviceWorker;
    // The first mount whose prefix matches decides: /js/server/... is refused here, never
    // looked up in the static folder.
    for (const { prefix, base, take } of mounts) {
      if (!urlPath.startsWith(prefix)) continue;
      const file = inside(base, urlPath.slice(prefix.length));
      return file && take(relative(base, file).split(sep).join('/')) ? file : null;
    }
    if (!site || !urlPath.startsWith('/')) return null;
    let rel = urlPath.slice(1);
    if (rel === '' || rel.endsWith('/')) rel += 'index.html';
    return inside(site, rel);
  };
}

/**
 * The validator of a file as it is now, per encoding: a rebuild changes its size or its
 * modification time (nanosecond resolution where the file system keeps it). Keeping the body
 * in the HTTP cache is what lets the browser reuse what it compiled from it: V8 caches the
 * code of scripts and of WebAssembly modules next to their cache entries, so an unchanged
 * runtime answered with 304 starts without downloading or compiling it again.
 */
function etagOf(info, encoding) {
  return `"${info.size.toString(36)}-${info.mtimeMs.toString(36)}${encoding ? `-${encoding}` : ''}"`;
}

/** Whether an If-None-Match header names `etag` (or is `*`). */
function matches(header, etag) {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim().replace(/^W\//, '');
    return t === '*' || t === etag;
  });
}

/**
 * Makes the GET/HEAD handler for one set of options. It returns false when no file matches,
 * so the caller can answer 404 or route elsewhere.
 * @param {StaticOptions} options
 * @returns {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => Promise<boolean>}
 */
export function staticFiles(options) {
  const resolve = staticResolver(options);
  const compressed = new CompressedFiles();
  return async (req, res) => {
    let path;
    try {
      path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      return false;
    }
    if (path.includes('\0')) return false;
    const file = resolve(path);
    if (!file) return false;
    let info;
    try {
      info = await stat(file);
    } catch {
      return false;
    }
    if (!info.isFile()) return false;
    const headers = {
      'content-type': MIME[extname(file)] ?? 'application/octet-stream',
      'content-length': info.size,
      // The service worker decides what is cached; the HTTP cache must not serve stale code:
      // it asks every time, and the validator lets an unchanged file cost a 304.
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    };
    const compressible = COMPRESSIBLE.has(extname(file)) && info.size >= COMPRESS_MIN_BYTES;
    const encoding = compressible ? chooseEncoding(req.headers['accept-encoding']) : null;
    if (compressible) headers.vary = 'Accept-Encoding';
    headers.etag = etagOf(info, encoding);
    if (matches(req.headers['if-none-match'], headers.etag)) {
      delete headers['content-length'];
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    if (encoding) {
      let body;
      try {
        body = await compressed.get(file, info, encoding);
      } catch {
        return false; // gone between stat and read: as if it never was
      }
      res.writeHead(200, { ...headers, 'content-encoding': encoding, 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    }
    if (req.method === 'HEAD') return res.writeHead(200, headers), res.end(), true;
    // Opened before the headers go: a file gone between stat and open (a deploy replacing
    // files) is a 404 like any missing one. A stream's 'error' with no listener would throw,
    // and end the whole server, every tenant's requests with it.
    const stream = createReadStream(file);
    const opened = await new Promise((resolve) => {
      stream.once('open', () => resolve(true));
      stream.once('error', () => resolve(false));
    });
    if (!opened) return false;
    stream.on('error', () => res.destroy()); // a read failing midway: cut this response only
    res.writeHead(200, headers);
    stream.pipe(res);
    return true;
  };
}

/** The demo's set: web/ at the root, the client runtime, and the built service worker. */
export const DEMO_STATIC = Object.freeze({
  dir: join(PACKAGE_ROOT, 'web'),
  clientRuntime: true,
  serviceWorker: join(PACKAGE_ROOT, 'build/sw/sw.js'),
});

/** The handler for the demo's set (createSyncServer's `staticFiles: true`). */
export const demoStaticFiles = () => staticFiles(DEMO_STATIC);
