/**
 * helpers.js -- what an app's own service worker calls to carry Sloop (the package's `sloop/sw`):
 * the route that queues pushes made offline and replays them with Background Sync, the answers
 * to the page's questions (js/sw-client.js: replay now, status, take over), and the precache
 * entries of the package's runtime files. The demo's worker (sw.js, routes.js) is composed of
 * the same calls.
 *
 *   import { precacheAndRoute } from 'workbox-precaching';
 *   import { registerPushRoute, answerPageMessages } from 'sloop/sw';
 *   precacheAndRoute(self.__WB_MANIFEST);
 *   registerPushRoute();
 *   answerPageMessages();
 *
 * Call them during the worker's first evaluation (top level of the script): browsers only keep
 * the `fetch`, `message` and `sync` listeners added then. Importing this module creates the
 * push queue (push-queue.js says why at the top level).
 *
 * Left out: the app's own routes and caches, its update policy beyond answering SKIP_WAITING,
 * and `clients.claim()`; those are the app's. Workbox comes from the app (peer dependencies),
 * so its routes and these share one router.
 * @module sloop/sw
 */
import { registerRoute } from 'workbox-routing';
import { handlePush, queuedPushes, replayPushes } from './push-queue.js';
import { SW_MESSAGE } from '../js/sw-messages.js';

export { queuedPushes, replayPushes };

/**
 * Routes POST <serverUrl>/v1/push through the push queue: a push that fails for lack of network
 * is kept in IndexedDB and sent again when the browser says the network is back (Background
 * Sync), or when the page asks (answerPageMessages), even if no tab is open by then.
 * @param {object} [options]
 * @param {string} [options.serverUrl] the sync server, as given to openSloop; default the
 *   worker's own origin
 */
export function registerPushRoute({ serverUrl = self.location.origin } = {}) {
  const base = new URL(String(serverUrl).replace(/\/*$/, '/'), self.location.href);
  const pushUrl = new URL('v1/push', base).href;
  registerRoute(({ url }) => url.href.split(/[?#]/)[0] === pushUrl, handlePush, 'POST');
}

/**
 * Answers the page's messages (js/sw-client.js, `sloop/sw-client`): REPLAY_PUSHES (replay the
 * queue now), STATUS ({version, queued, backgroundSync}) and, unless `skipWaiting` is false,
 * SKIP_WAITING (a waiting version takes over because the user chose "reload to update").
 * @param {object} [options]
 * @param {string} [options.version] what STATUS reports as the worker's version
 * @param {boolean} [options.skipWaiting=true] whether SKIP_WAITING calls self.skipWaiting()
 */
export function answerPageMessages({ version = '', skipWaiting = true } = {}) {
  const answers = {
    [SW_MESSAGE.REPLAY_PUSHES]: () => replayPushes(),
    [SW_MESSAGE.STATUS]: async () => ({
      version,
      queued: await queuedPushes(),
      backgroundSync: 'sync' in self.registration,
    }),
  };
  self.addEventListener('message', (event) => {
    const type = event.data?.type;
    if (type === SW_MESSAGE.SKIP_WAITING) {
      if (skipWaiting) self.skipWaiting();
      return;
    }
    const answer = answers[type];
    if (!answer) return;
    const port = event.ports[0];
    event.waitUntil(
      answer().then(
        (result) => port?.postMessage(result),
        (error) => port?.postMessage({ error: String(error?.message ?? error) }),
      ),
    );
  });
}

/* global SLOOP_PACKAGE_FILES -- defined by pack/build.mjs: [{file, revision, entry}] */

/**
 * The precache entries ({url, revision}, for workbox-precaching) of the package's runtime
 * files, for an app that serves them as the package ships them (copied next to its bundle, or
 * the whole dist folder): the engine worker and the WebAssembly module, and with `entry` the
 * page modules too. An app whose bundler renames them (Vite: hashed names under assets/)
 * precaches its own build output instead, .wasm included.
 * @param {string} [base='./'] the folder they are served from, relative to the worker's URL
 * @param {{entry?: boolean}} [options] `entry`: also the page modules (sloop.js, its chunks,
 *   sw-client.js), for an app that imports them unbundled
 * @returns {Array<{url: string, revision: string}>}
 */
export function sloopPrecacheEntries(base = './', { entry = false } = {}) {
  if (typeof SLOOP_PACKAGE_FILES === 'undefined') throw new Error('sloopPrecacheEntries: only the packaged build (dist/sw.js) knows the files');
  const folder = base.endsWith('/') ? base : `${base}/`;
  return SLOOP_PACKAGE_FILES.filter((f) => entry || !f.entry).map((f) => ({ url: folder + f.file, revision: f.revision }));
}
