/**
 * sw.js -- the service worker's entry: registers the routes, answers the page's messages, and
 * takes control of open pages on first install.
 *
 * Updates wait: a new version installs (precaching what changed) and then waits until the page
 * sends SKIP_WAITING, because the user chose "reload to update"; taking over a page mid-edit
 * would swap its code under it. Queued pushes live in IndexedDB, outside any one version, so
 * the new worker picks them up.
 *
 * Bundled by sw/build.mjs to a classic script: module workers allow neither importScripts()
 * nor import(), and Workbox's modules are ES modules.
 */
import { clientsClaim } from 'workbox-core';
import { registerRoutes } from './routes.js';
import { queuedPushes, replayPushes } from './push-queue.js';
import { SW_MESSAGE } from '../js/sw-messages.js';

/* global SLOOP_PRECACHE_MANIFEST, SLOOP_SW_VERSION -- defined by sw/build.mjs */

registerRoutes(SLOOP_PRECACHE_MANIFEST);

// On first install there is no old version to wait for: control the page now, so the pushes
// of the first visit already go through the queue.
clientsClaim();

/** Answers to page requests that expect one, by message type. */
const answers = {
  [SW_MESSAGE.REPLAY_PUSHES]: () => replayPushes(),
  [SW_MESSAGE.STATUS]: async () => ({
    version: SLOOP_SW_VERSION,
    queued: await queuedPushes(),
    backgroundSync: 'sync' in self.registration,
  }),
};

self.addEventListener('message', (event) => {
  const type = event.data?.type;
  if (type === SW_MESSAGE.SKIP_WAITING) {
    self.skipWaiting();
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
