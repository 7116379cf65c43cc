/**
 * client-runtime.js -- the files of Sloop's client runtime a browser may fetch, and the URL
 * prefix each folder is served at. One list for two readers: the server serves exactly these
 * (static.js) and the service worker precaches exactly these (sw/build.mjs), so what the PWA
 * loads offline is what it can load online, and nothing else under js/ (the server's code
 * under js/server/ above all) is ever reachable.
 *
 * Paths are relative to the package root; `take` sees a path relative to `dir`, with `/`
 * separators.
 * @module sloop/server/client-runtime
 */

/** @type {ReadonlyArray<{dir: string, prefix: string, take: (rel: string) => boolean}>} */
export const CLIENT_RUNTIME = Object.freeze([
  // The browser-side modules: every .js of js/ except the server's folder and the Node file
  // backend (node:fs; no page can load it), as `make sw` writes them into build/js/ (sw/build.mjs:
  // their code in two minified files, the page's runtime.js and the engine's runtime-engine.js,
  // and each module's path re-exporting from one of them).
  { dir: 'build/js', prefix: '/js/', take: (rel) => rel.endsWith('.js') && !rel.startsWith('server/') && rel !== 'storage/file-backend.js' },
  // The WASM build: the client module and its loader, nothing else a build may leave there
  // (the server's module, sloop-server.*, above all: a page never needs it).
  { dir: 'build/wasm', prefix: '/build/wasm/', take: (rel) => /^sloop-client\.(js|wasm)$/.test(rel) },
]);
