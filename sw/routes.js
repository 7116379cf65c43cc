/**
 * routes.js -- which requests the service worker answers, and with which strategy:
 *
 *   the app shell and the WASM module   precache, cache-first   the app starts offline
 *   same-origin images and fonts        stale-while-revalidate  cosmetic; fresh on next visit
 *   GET /v1/...  (made by the page)     network-first           live data, last copy offline
 *   POST /v1/push                       network, else queued    see push-queue.js (helpers.js)
 *
 * Anything else goes to the network untouched. The precache list comes from the build
 * (sw/build.mjs): each URL with a content hash, so a changed file changes the worker's bytes,
 * which is how the browser notices an update, and only changed files are fetched again.
 * Responses are cached with the server's headers, so .wasm keeps application/wasm, which
 * streaming compilation needs.
 *
 * Left out: pull (a POST: Cache Storage cannot key on a body, and the client's database is the
 * offline copy anyway) and cross-origin requests (the demo makes none).
 */
import { cleanupOutdatedCaches, precacheAndRoute } from 'workbox-precaching';
import { registerRoute } from 'workbox-routing';
import { NetworkFirst, StaleWhileRevalidate } from 'workbox-strategies';
import { ExpirationPlugin } from 'workbox-expiration';
import { registerPushRoute } from './helpers.js';

const DAY = 24 * 60 * 60;

const sameOrigin = (url) => url.origin === self.location.origin;

/**
 * Registers every route. Call once, during the worker's first evaluation.
 * @param {Array<{url: string, revision: string}>} precacheManifest
 */
export function registerRoutes(precacheManifest) {
  precacheAndRoute(precacheManifest);
  cleanupOutdatedCaches();

  registerRoute(
    ({ url, request }) => sameOrigin(url) && (request.destination === 'image' || request.destination === 'font'),
    new StaleWhileRevalidate({
      cacheName: 'sloop-assets',
      plugins: [new ExpirationPlugin({ maxEntries: 60, maxAgeSeconds: 30 * DAY })],
    }),
  );

  // Cached by URL alone, whatever the Authorization header: whoever signs out must clear this
  // cache, or the next user of the browser could read the last answers offline.
  registerRoute(
    ({ url }) => sameOrigin(url) && url.pathname.startsWith('/v1/'),
    new NetworkFirst({
      cacheName: 'sloop-api',
      networkTimeoutSeconds: 5,
      plugins: [new ExpirationPlugin({ maxEntries: 50, maxAgeSeconds: DAY })],
    }),
    'GET',
  );

  // The same call an app's own worker makes (sloop/sw).
  registerPushRoute();
}
