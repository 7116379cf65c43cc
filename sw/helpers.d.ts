// Types of `sloop/sw` (sw/helpers.js): what an app's own Workbox service worker calls.

/** Routes POST <serverUrl>/v1/push through the push queue (kept offline, replayed by Background Sync). Call at the top level of the worker. */
export function registerPushRoute(options?: {
  /** The sync server, as given to openSloop; default the worker's own origin. */
  serverUrl?: string;
}): void;

/** Answers the page's REPLAY_PUSHES, STATUS and (unless skipWaiting is false) SKIP_WAITING messages (sloop/sw-client). Call at the top level of the worker. */
export function answerPageMessages(options?: {
  /** What STATUS reports as the worker's version; default ''. */
  version?: string;
  /** Whether SKIP_WAITING calls self.skipWaiting(); default true. */
  skipWaiting?: boolean;
}): void;

/** Replays the queued pushes now; rejects while the network is still down (they stay queued). */
export function replayPushes(): Promise<{ replayed: number; queued: number }>;

/** Pushes not yet delivered. */
export function queuedPushes(): Promise<number>;

/** A precache entry, as workbox-precaching's precacheAndRoute takes it. */
export interface PrecacheEntry {
  url: string;
  revision: string;
}

/**
 * The precache entries of the package's runtime files (engine-worker.js, sloop-client.wasm; with
 * `entry`, also sloop.js, its chunks and sw-client.js), served from `base` (default './',
 * relative to the worker). For apps that serve them as shipped; an app whose bundler renames
 * them precaches its own build output instead.
 */
export function sloopPrecacheEntries(base?: string, options?: { entry?: boolean }): PrecacheEntry[];
