/**
 * push-queue.js -- the queue policy for POST /v1/push: a push that fails for lack of network is
 * stored (workbox-background-sync, IndexedDB) and sent again when the browser says the network
 * is back, even if no tab of the app is open by then.
 *
 * Why replaying blindly is safe: the server applies operations idempotently by id (see
 * docs/PROTOCOL.md), so a push that the page's own retry already delivered only gets back the
 * result it got the first time. The queue is a faster path, not the truth: the client keeps its
 * operation log until a pull's `ackedOp` covers it, so a push dropped here (expired after
 * RETENTION_MINUTES, or answered 401 because its token expired while queued) is pushed again by
 * the client. That is also why any HTTP answer, even an error, ends a queued push: only a
 * network failure keeps it queued.
 *
 * Order: pushes leave in the order they were made. Replays are serialised, and a new push
 * first drains what is queued, so a later batch of a device never overtakes an earlier one.
 *
 * Left out: reading or rewriting the queued bodies; retry timing (the browser owns it: Chromium
 * retries a failed sync event with backoff, then gives up until the next push or an explicit
 * replay request).
 */
import { Queue } from 'workbox-background-sync';
import { NetworkOnly } from 'workbox-strategies';
import { SW_CHANNEL, SW_MESSAGE } from '../js/sw-messages.js';

/** The IndexedDB queue name; survives service worker updates, so do not version it. */
const PUSH_QUEUE_NAME = 'sloop-push';

/** A week: long enough for a trip offline; older pushes are left to the client's own retry. */
const RETENTION_MINUTES = 7 * 24 * 60;

const pages = new BroadcastChannel(SW_CHANNEL);

/** The replay in flight, shared by sync events, page requests and new pushes. */
let replayInFlight = null;

/** The tail of the queue writes, which run one at a time (see writeQueue). */
let lastWrite = Promise.resolve();

/**
 * Runs a queue write after the ones before it. Workbox's unshiftRequest reads the head's id
 * and then adds below it, or lets IndexedDB pick the next id when the queue is empty; a push
 * added between the two would otherwise land ahead of the older push being put back.
 * @param {() => Promise<void>} write
 */
function writeQueue(write) {
  const done = lastWrite.then(write);
  lastWrite = done.catch(() => {});
  return done;
}

/**
 * Sends queued pushes oldest first until the queue is empty or the network fails; a failed one
 * goes back to the head of the queue and the returned promise rejects, which tells a sync event
 * to be retried later. Each delivered push is announced to open pages with its HTTP status, so
 * they can pull. Resolves to the number delivered.
 * @param {Queue} queue
 */
async function drainQueue(queue) {
  let delivered = 0;
  for (let entry; (entry = await queue.shiftRequest()); delivered++) {
    let response;
    try {
      response = await fetch(entry.request.clone());
    } catch (error) {
      await writeQueue(() => queue.unshiftRequest(entry));
      throw error;
    }
    pages.postMessage({ type: SW_MESSAGE.PUSH_REPLAYED, status: response.status, queuedAt: entry.timestamp });
  }
  return delivered;
}

/**
 * Replays the queue, joining a replay already running rather than starting a second one that
 * would send batches out of order.
 * @param {Queue} queue
 * @returns {Promise<number>} pushes delivered by this replay
 */
function replay(queue) {
  replayInFlight ??= drainQueue(queue).finally(() => { replayInFlight = null; });
  return replayInFlight;
}

// Created at the top level on purpose: Workbox adds its `sync` listener in the constructor, and
// browsers only keep event listeners added during the worker's first evaluation. Where
// Background Sync is missing, the constructor replays at every worker start-up instead.
const queue = new Queue(PUSH_QUEUE_NAME, {
  maxRetentionTime: RETENTION_MINUTES,
  onSync: ({ queue: ownQueue }) => replay(ownQueue),
});

// What workbox-background-sync's BackgroundSyncPlugin does, but on a queue we hold, so that
// page requests can replay it and the sync callback can report outcomes.
const networkOrQueue = new NetworkOnly({
  plugins: [{
    fetchDidFail: async ({ request }) => {
      await writeQueue(() => queue.pushRequest({ request }));
      pages.postMessage({ type: SW_MESSAGE.PUSH_QUEUED });
    },
  }],
});

/**
 * Route handler for POST /v1/push. A push that fails for lack of network is queued and the
 * page's fetch still rejects, as it would without a service worker: the page learns the
 * outcome from PUSH_REPLAYED or its next pull.
 * @param {import('workbox-core').RouteHandlerCallbackOptions} options
 * @returns {Promise<Response>}
 */
export async function handlePush(options) {
  // A replay in flight has its push out of the queue and on the wire: wait for it too. If the
  // network is down the drain fails, and this push queues up behind the older ones.
  if (replayInFlight || (await queue.size()) > 0) await replay(queue).catch(() => {});
  return networkOrQueue.handle(options);
}

/** Replays the queue now (a page asked); resolves to {replayed, queued}. */
export async function replayPushes() {
  const replayed = await replay(queue);
  return { replayed, queued: await queue.size() };
}

/**
 * Number of pushes not yet delivered. Counted once a replay in flight has settled, since its
 * push is out of the queue while on the wire and may yet come back.
 */
export async function queuedPushes() {
  await replayInFlight?.catch(() => {});
  return queue.size();
}
