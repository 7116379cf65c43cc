/**
 * load-clients.mjs -- a child process of sync-load.mjs's fleet (load-fleet.mjs forks it; it is
 * not run by hand). It holds some of the simulated clients, CoreDb instances in memory, and
 * runs load-workload.mjs's loops on them when the parent calls.
 *
 * The parent sends {id, call, args} over the IPC channel; the child answers {id, result} or
 * {id, error: {message}}. Calls are the methods of `calls` below; the parent sends one at a
 * time to each child (stopProbe aside) and waits for every child before the next, which is how
 * it keeps the phases apart (no pull of the final state starts before every client of every
 * child has pushed). The child exits when the parent disconnects.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { clientDocs, coreClient } from '../node/real-server.js';
import { countError, docsHash, newTally, probePushes, pushBackToBack, writeAndSync } from './load-workload.mjs';

/** @type {Array<{index: number, client: Awaited<ReturnType<typeof coreClient>>}>} */
let fleet = [];
/** The tally of the call under way; the clients' onPushRoundTrip hooks write into it. */
let tally = newTally();

/** Runs work(client, index, tally) on every client at once, into a fresh tally, and returns it. */
async function onEveryClient(work) {
  tally = newTally();
  await Promise.all(fleet.map(({ index, client }) => work(client, index, tally).catch((e) => countError(tally, e))));
  return tally;
}

/**
 * Like onEveryClient, and also reports this process's event-loop delay p99 (ms), how long a
 * ready answer may have waited here before its round trip was timed (the driver's share of
 * the push latency), and the CPU seconds this process used meanwhile.
 */
async function measured(work) {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  const cpuBefore = process.cpuUsage();
  delay.enable();
  try {
    const result = await onEveryClient(work);
    const { user, system } = process.cpuUsage(cpuBefore);
    return { ...result, loopDelayP99Ms: delay.percentile(99) / 1e6, cpuSeconds: (user + system) / 1e6 };
  } finally {
    delay.disable();
  }
}

/** Set by stopProbe, read by a probe under way. */
let probeStopped = false;

/** What `open` was given. */
let opening = null;

/** Opens client number `index` (its number in the whole fleet), as `open` describes. */
function openClient(index) {
  const { url, tokens, batch } = opening;
  const record = (ms) => tally.latencies.push(ms);
  // Several server processes: client i talks to the i-th, round the list.
  const at = Array.isArray(url) ? url[index % url.length] : url;
  return coreClient(at, null, { token: tokens[index % tokens.length], batch, onPushRoundTrip: record });
}

/** Each client's device id, by index. */
const devicesOf = () => Object.fromEntries(fleet.map(({ index, client }) => [index, client.db.device]));

const calls = {
  /**
   * Opens one client per entry of `indexes` (its number in the whole fleet), signed in with
   * tokens[index % tokens.length], pushing at most `batch` operations a request. Nothing is
   * sent yet: answers the clients' device ids, for load-fleet.mjs to check they are unique.
   */
  async open({ url, tokens, indexes, batch }) {
    opening = { url, tokens, batch };
    fleet = await Promise.all(indexes.map(async (index) => ({ index, client: await openClient(index) })));
    return devicesOf();
  },
  /** Every client pulls (the writers need notes/shared before they patch it). */
  pull: () => onEveryClient(async (client) => { await client.pull(); }),
  /** load-workload.mjs's writer on every client. */
  write: ({ opsPerClient, batch, deadline }) => measured((client, c, t) => writeAndSync(client, c, { opsPerClient, batch, deadline }, t)),
  /** load-workload.mjs's probe on every client (a probe process holds one), until stopProbe. */
  probe({ batch, intervalMs, deadline }) {
    probeStopped = false;
    return measured((client, c, t) => probePushes(client, { batch, intervalMs, deadline, stopped: () => probeStopped }, t));
  },
  /** Ends a probe under way at its next push; the only call that comes while another runs. */
  stopProbe() {
    probeStopped = true;
    return null;
  },
  /** load-workload.mjs's pusher on every client. */
  pushBatches: ({ batch, deadline }) => measured((client, c, t) => pushBackToBack(client, c, { batch, deadline }, t)),
  /** Every client pushes what it still holds (a failed push's requeued batch, say). */
  flush: () => onEveryClient((client) => client.push()),
  /** Every client pulls the final state; answers each client's docsHash() and the errors. */
  async settle() {
    const { errors } = await onEveryClient((client) => client.pull());
    return { docHashes: fleet.map(({ client }) => docsHash(clientDocs(client.db))), errors };
  },
  close() {
    for (const { client } of fleet) client.db.close();
    fleet = [];
    return null;
  },
};

process.on('message', async ({ id, call, args }) => {
  try {
    process.send({ id, result: await calls[call](args) });
  } catch (e) {
    process.send({ id, error: { message: `${call}: ${e.stack ?? e}` } });
  }
});
process.on('disconnect', () => process.exit(0));
