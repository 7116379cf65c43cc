/**
 * sw-client.js -- the page's side of the service worker: registers /sw.js, says when a new
 * version waits ("reload to update"), and relays what the worker's push queue does.
 *
 * Background Sync is detected, not assumed (Chromium has it; Firefox and Safari do not). Where
 * it is missing the worker cannot wake itself when the network returns, so this module asks it
 * to replay its queue on the page's `online` event; beyond that, the client's own push retry
 * covers those browsers. Every async call returns a promise; the raw registration is exposed.
 * @module sloop/sw-client
 */
import { SW_CHANNEL, SW_MESSAGE } from './sw-messages.js';

/**
 * @typedef {object} SwHandle
 * @property {ServiceWorkerRegistration} registration the raw registration, for what is not wrapped
 * @property {boolean} backgroundSync whether the browser wakes the worker to replay pushes
 * @property {() => Promise<void>} checkForUpdate looks for a new worker version now
 * @property {() => Promise<boolean>} applyUpdate lets the waiting version take over and
 *   resolves once it controls the page (then reload); false if none waits. Queued pushes are
 *   kept: they live in IndexedDB, not in the worker.
 * @property {() => Promise<{replayed: number, queued: number}>} replayPushes replays queued
 *   pushes now; rejects if the network is still down (they stay queued), or if the worker does
 *   not answer in time (answerTimeoutMs)
 * @property {() => Promise<{version: string, queued: number, backgroundSync: boolean}>} status
 * @property {() => void} close stops listening; the worker stays registered
 */

/**
 * True where service workers can register one-off sync events (the Background Sync API).
 * @returns {boolean}
 */
export function supportsBackgroundSync() {
  return typeof ServiceWorkerRegistration === 'function' && 'sync' in ServiceWorkerRegistration.prototype;
}

/** How long a question to the worker may go unanswered before it rejects (registerServiceWorker's answerTimeoutMs). */
const ANSWER_TIMEOUT_MS = 60000;

/**
 * Sends a message to the active worker and resolves to its answer. Rejects, rather than
 * waiting for ever, when the worker asked is replaced before it answers (an update took over),
 * or when no answer comes within `timeoutMs`: a replay stuck on a server that accepts the push
 * and never answers, a worker the browser stopped, a registration that never activates. The
 * worker may still finish what it was asked; PUSH_REPLAYED and status() tell.
 * @param {string} type one of SW_MESSAGE
 * @param {number} timeoutMs
 */
async function ask(type, timeoutMs) {
  const undo = [];
  let settled = false;
  const answer = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the service worker did not answer within ${timeoutMs} ms`)), timeoutMs);
    undo.push(() => clearTimeout(timer));
    navigator.serviceWorker.ready.then(({ active }) => {
      if (settled) return; // timed out while waiting for a worker: ask nothing
      const { port1, port2 } = new MessageChannel();
      port1.onmessage = ({ data }) => (data?.error ? reject(new Error(data.error)) : resolve(data));
      const onState = () => {
        if (active.state === 'redundant') reject(new Error('the service worker was replaced before it answered'));
      };
      active.addEventListener('statechange', onState);
      undo.push(() => {
        port1.close();
        active.removeEventListener('statechange', onState);
      });
      active.postMessage({ type }, [port2]);
    }, reject);
  });
  try {
    return await answer;
  } finally {
    settled = true;
    for (const step of undo) step();
  }
}

/**
 * Registers the service worker. Resolves to null where service workers are unavailable
 * (an insecure origin, an old browser): the app then works online only, with the client's own
 * retry for pushes.
 *
 *   const sw = await registerServiceWorker({ onUpdateAvailable: () => showReloadButton() });
 *   reloadButton.onclick = async () => { await sw.applyUpdate(); location.reload(); };
 *
 * @param {object} [options]
 * @param {string} [options.url='/sw.js'] the worker script; its folder is its scope
 * @param {() => void} [options.onUpdateAvailable] a new version is installed and waits
 * @param {() => void} [options.onPushQueued] a push failed for lack of network and was queued
 * @param {(outcome: {status: number, queuedAt: number}) => void} [options.onPushReplayed] a
 *   queued push reached the server; pull to learn what it changed
 * @param {number} [options.answerTimeoutMs=60000] how long replayPushes() and status() wait
 *   for the worker's answer before they reject
 * @returns {Promise<SwHandle|null>}
 */
export async function registerServiceWorker({
  url = '/sw.js', onUpdateAvailable, onPushQueued, onPushReplayed, answerTimeoutMs = ANSWER_TIMEOUT_MS,
} = {}) {
  if (!('serviceWorker' in navigator)) return null;
  const registration = await navigator.serviceWorker.register(url);

  // A worker that finishes installing while another is active is an update, and it waits.
  const watch = (incoming) => incoming?.addEventListener('statechange', () => {
    if (incoming.state === 'installed' && registration.active && registration.active !== incoming) onUpdateAvailable?.();
  });
  if (registration.waiting && registration.active) onUpdateAvailable?.();
  watch(registration.installing);
  const onUpdateFound = () => watch(registration.installing);
  registration.addEventListener('updatefound', onUpdateFound);

  const channel = new BroadcastChannel(SW_CHANNEL);
  channel.onmessage = ({ data }) => {
    if (data?.type === SW_MESSAGE.PUSH_QUEUED) onPushQueued?.();
    else if (data?.type === SW_MESSAGE.PUSH_REPLAYED) onPushReplayed?.({ status: data.status, queuedAt: data.queuedAt });
  };

  const backgroundSync = supportsBackgroundSync();
  let closed = false;
  const replayWhenOnline = async () => {
    // `online` can come before requests get through (the worker's own connection, DNS, a
    // captive portal), so a failed replay is tried again a few times, backing off.
    for (let delayMs = 250; delayMs <= 4000 && !closed; delayMs *= 2) {
      try {
        await handle.replayPushes();
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  };
  if (!backgroundSync) addEventListener('online', replayWhenOnline);

  /** @type {SwHandle} */
  const handle = {
    registration,
    backgroundSync,
    checkForUpdate: () => registration.update(),
    async applyUpdate() {
      const { waiting } = registration;
      if (!waiting) return false;
      const controlled = new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }));
      waiting.postMessage({ type: SW_MESSAGE.SKIP_WAITING });
      await controlled;
      return true;
    },
    replayPushes: () => ask(SW_MESSAGE.REPLAY_PUSHES, answerTimeoutMs),
    status: () => ask(SW_MESSAGE.STATUS, answerTimeoutMs),
    close() {
      closed = true;
      channel.close();
      registration.removeEventListener('updatefound', onUpdateFound);
      removeEventListener('online', replayWhenOnline);
    },
  };
  return handle;
}
