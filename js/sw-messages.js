/**
 * sw-messages.js -- the names the page and the service worker use to talk to each other, kept
 * in one place because the two sides are built apart (the worker is bundled, the page is not).
 *
 * Page to worker: `postMessage({type})` on the registration's worker, with a MessagePort for
 * the answer where one is expected. Worker to pages: a BroadcastChannel, because it also
 * reaches pages the worker does not control yet (the first visit, before `clients.claim()`).
 * @module sloop/sw-messages
 */

/** Name of the BroadcastChannel the worker announces queue events on. */
export const SW_CHANNEL = 'sloop-sw';

/** Message types; the values are stable, both sides of an update may be of different builds. */
export const SW_MESSAGE = Object.freeze({
  /** page -> waiting worker: take over now (the user chose "reload to update"). */
  SKIP_WAITING: 'sloop:skip-waiting',
  /** page -> worker: replay queued pushes now; answers {replayed, queued} or {error}. */
  REPLAY_PUSHES: 'sloop:replay-pushes',
  /** page -> worker: answers {version, queued, backgroundSync}. */
  STATUS: 'sloop:status',
  /** worker -> pages: a push failed for lack of network and waits in the queue. */
  PUSH_QUEUED: 'sloop:push-queued',
  /** worker -> pages: a queued push reached the server; {status} is its HTTP status. */
  PUSH_REPLAYED: 'sloop:push-replayed',
});
