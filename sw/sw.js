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
import { answerPageMessages } from './helpers.js';

/* global SLOOP_PRECACHE_MANIFEST, SLOOP_SW_VERSION -- defined by sw/build.mjs */

registerRoutes(SLOOP_PRECACHE_MANIFEST);

// On first install there is no old version to wait for: control the page now, so the pushes
// of the first visit already go through the queue.
clientsClaim();

// REPLAY_PUSHES, STATUS and SKIP_WAITING: the same answers an app's own worker gives (sloop/sw).
answerPageMessages({ version: SLOOP_SW_VERSION });
