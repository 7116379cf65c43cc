/**
 * serve.js -- an engine behind a port: the engine's end of the one call/reply/event layer
 * (js/rpc.js) that the page's handle (js/sloop.js) talks to, over whatever carries it
 * (a dedicated worker: js/client/engine-worker.js; or directPorts() on the handle's own thread).
 *
 *   handle -> engine   call 'open' (options, env)     answers {device, status}
 *   handle -> engine   call <method> (args)           a name of js/client/methods.js
 *   engine -> handle   event status | change | conflict | failed | error
 *   engine -> handle   call 'auth' (op)               op 'getToken' | 'refresh': the app's provider
 *   handle -> engine   event 'env' ({online, hidden}) the page's network and visibility, relayed
 *                                                     where the engine cannot see them (a worker)
 *
 * Functions do not cross a worker: the app's auth provider stays beside the app, and the
 * engine asks it over the same layer (the same way on every transport).
 * @module sloop/engine/serve
 */
import { SloopError, toWire } from '../errors.js';
import { RpcEndpoint } from '../rpc.js';
import { METHODS, ENGINE_METHODS } from '../client/methods.js';
import { RelayedEnvironment } from '../client/environment.js';
import { openPersistentDb, deletePersistentDb } from '../persist.js';
import { idbBackend } from '../storage/idb-backend.js';
import { SloopEngine } from './engine.js';

/**
 * Serves one database's engine on `port` until its handle closes it.
 * @param {object} port see rpc.js
 * @param {{relayEnvironment?: boolean, onClosed?: () => void}} [options] relayEnvironment: the
 *   handle relays online state and visibility ('env' events); onClosed: after the close call
 *   was answered (a worker ends itself then)
 * @returns {RpcEndpoint}
 */
export function serveEngine(port, { relayEnvironment = false, onClosed } = {}) {
  let engine = null;
  let environment = null;
  const rpc = new RpcEndpoint(port, {
    serve: async (method, args) => {
      if (!ENGINE_METHODS.has(method)) throw new SloopError('invalid', `'${method}' is not a Sloop method`);
      if (method === 'open') {
        if (engine) throw new SloopError('invalid', 'the database is open already');
        const [options, env] = args;
        if (relayEnvironment) environment = new RelayedEnvironment(env);
        engine = await openEngine({ ...options, ...(environment && { environment }) }, rpc);
        return { device: engine.device, status: engine.status };
      }
      if (!engine) throw new SloopError('invalid', 'the database is not open');
      const result = await run(engine, method, args);
      // A task later: the reply is posted first (it waits on microtasks only).
      if (method === 'close' && onClosed) setTimeout(onClosed, 0);
      return result;
    },
    onEvent: (event, detail) => {
      if (event === 'env') environment?.update(detail);
    },
  });
  return rpc;
}

/** One call of the method table on an engine. */
function run(engine, method, args) {
  const via = METHODS[method]?.via;
  if (via === 'write') return engine.written(engine.coreCall(method, ...args));
  if (via === 'read') return engine.coreCall(method, ...args);
  return engine[method](...args);
}

/**
 * Opens the persistent database and its engine; the engine's events go to the handle.
 * @param {object} options openSloop's, with `auth` as {hasGetToken, hasRefresh}
 * @param {RpcEndpoint} rpc
 * @returns {Promise<SloopEngine>}
 */
async function openEngine(options, rpc) {
  const { dbName, backend, locks, pages = 'auto' } = options;
  const auth = {};
  if (options.auth?.hasGetToken) auth.getToken = () => rpc.call('auth', ['getToken']);
  if (options.auth?.hasRefresh) auth.refresh = () => rpc.call('auth', ['refresh']);
  const pdb = await openPersistentDb({ name: dbName, backend: backend ?? idbBackend(), pages, ...(locks && { locks }) });
  const emit = (event, detail) => rpc.emit(event, event === 'error' ? { error: toWire(detail?.error) } : detail);
  const engine = new SloopEngine(pdb, { ...options, auth, tabsName: dbName }, emit);
  try {
    await engine.init();
  } catch (e) {
    await engine.close().catch(() => {});
    throw e;
  }
  return engine;
}

/**
 * Deletes a stored database (deleteSloop). No handle may have it open.
 * @param {{dbName: string, backend?: object}} options
 */
export async function deleteDatabase({ dbName, backend }) {
  await deletePersistentDb({ name: dbName, backend: backend ?? idbBackend() });
}
