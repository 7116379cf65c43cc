/**
 * engine-worker.js -- the dedicated worker in which a page's Sloop engine runs: the WebAssembly
 * core, persistence (IndexedDB, Web Locks, BroadcastChannel: all exist in workers, so the
 * multi-tab design of js/persist.js holds unchanged) and the sync scheduler. The page keeps
 * only the handle (js/sloop.js), so a large sync never blocks its main thread.
 *
 * The worker's own scope is the port of the one call/reply/event layer (js/rpc.js,
 * js/engine/serve.js); the page relays its online state and visibility, which a worker does
 * not see reliably (js/client/environment.js).
 */
import { serveEngine } from '../engine/serve.js';

// The database is closed: the worker has nothing left to do.
serveEngine(self, { relayEnvironment: true, onClosed: () => self.close() });
