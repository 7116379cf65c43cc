/**
 * engine-worker.js -- the dedicated worker in which a page's Sloop engine runs: the WebAssembly
 * core, persistence (IndexedDB, Web Locks, BroadcastChannel: all exist in workers, so the
 * multi-tab design of js/persist.js holds unchanged) and the sync scheduler. The page keeps
 * only a thin handle (js/client/worker-sloop.js), so a large sync never blocks its main thread.
 *
 * Functions cannot cross postMessage: the page's auth provider is called back over messages,
 * and the page relays its online state and visibility. Message shapes: worker-messages.js.
 */
import { openSloop } from '../sloop.js';
import { RelayedEnvironment } from './environment.js';
import { WORKER_METHODS, errorToWire, detailToWire } from './worker-messages.js';

const EVENTS = ['status', 'change', 'conflict', 'failed', 'error'];
let db = null;
let environment = null;
const authCalls = new Map();
let nextAuth = 1;

/** Asks the page's auth provider; rejects when it threw. */
function askPage(op) {
  const id = nextAuth++;
  return new Promise((resolve, reject) => {
    authCalls.set(id, { resolve, reject });
    postMessage({ type: 'auth', id, op });
  });
}

async function open({ options, env }) {
  environment = new RelayedEnvironment(env);
  const auth = { getToken: () => askPage('getToken') };
  if (options.hasRefresh) auth.refresh = () => askPage('refresh');
  try {
    db = await openSloop({ ...options, auth, environment, worker: false });
  } catch (e) {
    postMessage({ type: 'open-failed', error: errorToWire(e) });
    return;
  }
  db.runsIn = 'worker';
  for (const event of EVENTS) {
    db.addEventListener(event, (e) => postMessage({ type: 'event', event, detail: detailToWire(event, e.detail) }));
  }
  postMessage({ type: 'opened', device: db.device, status: db.status });
}

async function call({ id, method, args }) {
  try {
    if (!db) throw new Error('the database is not open');
    if (!WORKER_METHODS.has(method)) throw Object.assign(new Error(`'${method}' is not a Sloop method`), { code: 'invalid' });
    const result = method === 'persistentCall' ? await db.persistent.call(...args) : await db[method](...args);
    postMessage({ type: 'reply', id, result });
    if (method === 'close') self.close(); // the database is closed: the worker has nothing left to do
  } catch (e) {
    postMessage({ type: 'reply', id, error: errorToWire(e) });
  }
}

addEventListener('message', ({ data: msg }) => {
  if (msg.type === 'open') open(msg);
  else if (msg.type === 'call') call(msg);
  else if (msg.type === 'env') environment?.update(msg);
  else if (msg.type === 'auth-reply') {
    const pending = authCalls.get(msg.id);
    authCalls.delete(msg.id);
    if (msg.error) pending?.reject(Object.assign(new Error(msg.error.message), { code: msg.error.code }));
    else pending?.resolve(msg.result ?? null);
  }
});
