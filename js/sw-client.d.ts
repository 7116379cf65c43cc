// Types for js/sw-client.js, the page's side of the service worker.

export interface SwStatus {
  /** Hash of the worker's bytes; changes with every build that changes the worker. */
  version: string;
  /** Pushes waiting in the worker's queue, including one being replayed. */
  queued: number;
  /** Whether the worker can register sync events. */
  backgroundSync: boolean;
}

export interface SwHandle {
  /** The raw registration, for what this module does not wrap. */
  readonly registration: ServiceWorkerRegistration;
  /** Whether the browser wakes the worker to replay pushes when the network returns. */
  readonly backgroundSync: boolean;
  /** Looks for a new worker version now. */
  checkForUpdate(): Promise<void>;
  /** Lets the waiting version take over; resolves once it controls the page. False if none waits. */
  applyUpdate(): Promise<boolean>;
  /** Replays queued pushes now; rejects while the network is down (they stay queued). */
  replayPushes(): Promise<{ replayed: number; queued: number }>;
  status(): Promise<SwStatus>;
  /** Stops listening; the worker stays registered. */
  close(): void;
}

export interface RegisterOptions {
  /** The worker script; its folder is its scope. Default '/sw.js'. */
  url?: string;
  /** A new version is installed and waits for applyUpdate(). */
  onUpdateAvailable?: () => void;
  /** A push failed for lack of network and was queued by the worker. */
  onPushQueued?: () => void;
  /** A queued push reached the server; pull to learn what it changed. */
  onPushReplayed?: (outcome: { status: number; queuedAt: number }) => void;
}

/** True where service workers can register one-off sync events (Background Sync). */
export function supportsBackgroundSync(): boolean;

/** Registers the service worker; null where service workers are unavailable. */
export function registerServiceWorker(options?: RegisterOptions): Promise<SwHandle | null>;
