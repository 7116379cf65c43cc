/**
 * jspi.js -- JS Promise Integration for the WebAssembly module: lets the VFS wait for IndexedDB.
 *
 * With JSPI (Chromium 137+, Firefox 153+) an import wrapped in `WebAssembly.Suspending` may
 * return a Promise: the WebAssembly stack that called it is suspended until the Promise settles,
 * and the export that was entered through `WebAssembly.promising` returns a Promise itself. So
 * SQLite's synchronous xRead can read a page from IndexedDB without Asyncify or a helper worker.
 *
 * Emscripten 3.1.6 knows nothing of this; none is needed: its `instantiateWasm` hook hands us
 * the imports object, and we instantiate with the one suspending import swapped in. Nothing
 * else changes: the import only suspends when it returns a Promise, which only the on-demand
 * page store does (js/storage/host.js `fetch`).
 *
 * One rule follows from the single shadow stack in linear memory: two promising calls must never
 * be in flight at once (js/core-async.js queues them). A plain (non-suspending) export call
 * while one is suspended is safe: it runs below the suspended frames and restores the stack
 * pointer before the suspended call resumes.
 * @module sloop/jspi
 */

/** Imports that may suspend: the VFS's page fetch (wasm/src/vfs.js). */
const SUSPENDING_IMPORTS = ['sloop_js_fetch'];

/** Whether this engine has JS Promise Integration. */
export function hasJspi() {
  return typeof WebAssembly.Suspending === 'function' && typeof WebAssembly.promising === 'function';
}

/**
 * Fetches and compiles a .wasm: streaming (compiled while it downloads, and cacheable by the
 * engine) when the server sends it as application/wasm, else from its bytes.
 * @param {URL} url
 * @returns {Promise<WebAssembly.Module>}
 */
export async function compileWasm(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetching ${url}: HTTP ${response.status}`);
  if (response.headers.get('content-type') === 'application/wasm') return WebAssembly.compileStreaming(response);
  return WebAssembly.compile(await response.arrayBuffer());
}

/**
 * An Emscripten `instantiateWasm` hook that instantiates with the suspending imports wrapped.
 * @param {URL|ArrayBufferView|ArrayBuffer|Promise<WebAssembly.Module>} source the .wasm URL, its
 *   bytes, or the module compiled already (compileWasm)
 * @param {(error: Error) => void} onError instantiation failed (Emscripten would otherwise wait forever)
 * @returns {(imports: object, receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void) => object}
 */
export function suspendingInstantiate(source, onError) {
  return (imports, receive) => {
    const env = { ...imports.env };
    // A module built without the page store has no such import: nothing to wrap.
    for (const name of SUSPENDING_IMPORTS) if (imports.env[name]) env[name] = new WebAssembly.Suspending(imports.env[name]);
    const wrapped = { ...imports, env };
    (async () => {
      if (source instanceof Promise) {
        const module = await source;
        return { instance: await WebAssembly.instantiate(module, wrapped), module };
      }
      if (!(source instanceof URL)) return WebAssembly.instantiate(source, wrapped);
      const response = await fetch(source);
      if (response.headers.get('content-type') === 'application/wasm') {
        return WebAssembly.instantiateStreaming(response, wrapped);
      }
      return WebAssembly.instantiate(await response.arrayBuffer(), wrapped);
    })().then(({ instance, module }) => receive(instance, module), onError);
    return {}; // exports arrive through receive()
  };
}

/**
 * The promising form of a module export, cached on the module.
 * @param {object} mod a module loaded with suspendingInstantiate
 * @param {string} name export name without the leading underscore, e.g. 'sloop_sql'
 * @returns {(...args: number[]) => Promise<number>}
 */
export function promisingExport(mod, name) {
  const cache = (mod.sloopPromising ??= new Map());
  let fn = cache.get(name);
  if (!fn) {
    fn = WebAssembly.promising(mod.asm[name]);
    cache.set(name, fn);
  }
  return fn;
}
