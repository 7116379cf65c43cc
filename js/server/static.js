/**
 * static.js -- serves the demo's files: web/ at the root, js/ and the built module (build/wasm/)
 * at their own paths, so module URLs resolve the same way in the browser as on disk, and the
 * built service worker at /sw.js. `.wasm` goes out as application/wasm, which streaming
 * compilation requires.
 * @module sloop/server/static
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

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

/** URL prefixes and the folders they map to; the first match wins, '/' last. */
const MOUNTS = [
  ['/js/', 'js'],
  ['/build/wasm/', 'build/wasm'],
  ['/', 'web'],
];

/** Single files at fixed URLs: a service worker controls only the paths under its own. */
const FILES = { '/sw.js': 'build/sw/sw.js' };

/**
 * Resolves a URL path to a file under one of the mounts, refusing anything that escapes it.
 * @param {string} urlPath decoded path, e.g. '/js/core.js'
 * @returns {string|null} absolute file path, or null
 */
export function resolveStatic(urlPath) {
  if (Object.hasOwn(FILES, urlPath)) return join(root, FILES[urlPath]);
  for (const [prefix, dir] of MOUNTS) {
    if (!urlPath.startsWith(prefix)) continue;
    const base = join(root, dir);
    let rel = urlPath.slice(prefix.length);
    if (rel === '' || rel.endsWith('/')) rel += 'index.html';
    const file = normalize(join(base, rel));
    return file.startsWith(base + sep) ? file : null;
  }
  return null;
}

/**
 * Serves a GET or HEAD for a static file. Returns false when no file matches, so the caller
 * can answer 404 or route elsewhere.
 * @param {import('node:http').IncomingMessage} req
 * @param {import('node:http').ServerResponse} res
 */
export async function serveStatic(req, res) {
  let path;
  try {
    path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  } catch {
    return false;
  }
  const file = resolveStatic(path);
  if (!file) return false;
  let info;
  try {
    info = await stat(file);
  } catch {
    return false;
  }
  if (!info.isFile()) return false;
  res.writeHead(200, {
    'content-type': MIME[extname(file)] ?? 'application/octet-stream',
    'content-length': info.size,
    // The service worker decides what is cached; the HTTP cache must not serve stale code.
    'cache-control': 'no-cache',
  });
  if (req.method === 'HEAD') return res.end(), true;
  createReadStream(file).pipe(res);
  return true;
}
