/**
 * load-workload.mjs -- what one simulated client of sync-load.mjs does, and the tally it keeps.
 * Three loops: the writer (its own notes, the shared counter and the shared title, then push
 * and pull), the probe (a push now and then, beside the writers) and the pusher (batches of
 * new notes pushed back to back, nothing pulled). Also the
 * hash that stands for a client's documents when convergence is checked.
 *
 * No processes and no IPC here: load-clients.mjs runs these loops in a child process and sends
 * the tallies back as they are; sync-load.mjs merges them. Push latency is the HTTP round trip
 * alone: the writer's is recorded by the client's onPushRoundTrip hook (real-server.js), which
 * load-clients.mjs points at the tally; the pusher sends its own requests and times them.
 *
 * Deadlines are Date.now() milliseconds, the one clock the parent and its children share
 * (each process's performance.now() starts at its own zero).
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { post } from '../node/real-server.js';

/**
 * @typedef {{latencies: number[], ops: number, batches: number, errors: Record<string, number>}} Tally
 *   latencies: push round trips (ms); ops: operations the server answered; batches: batches
 *   written (the shared counter's expected increments); errors: count by kind
 */

/** @returns {Tally} an empty tally */
export function newTally() {
  return { latencies: [], ops: 0, batches: 0, errors: {} };
}

/** Counts an error by its kind: a network code when there is one, else its message's start. */
export function countError(tally, e) {
  const kind = e.cause?.code ?? e.message.slice(0, 40);
  tally.errors[kind] = (tally.errors[kind] ?? 0) + 1;
}

/** Adds up tallies (one per child process); latencies are concatenated, not sorted. */
export function mergeTallies(tallies) {
  const total = newTally();
  for (const t of tallies) {
    total.latencies.push(...t.latencies);
    total.ops += t.ops;
    total.batches += t.batches;
    for (const [kind, n] of Object.entries(t.errors)) total.errors[kind] = (total.errors[kind] ?? 0) + n;
  }
  return total;
}

/**
 * sha256 of a `coll/rid` -> doc map's JSON (clientDocs() or docsOf(), both ordered by key):
 * what a child sends back instead of every client's documents.
 */
export function docsHash(docs) {
  return createHash('sha256').update(JSON.stringify(docs)).digest('hex');
}

/** Counts each operation the server rejected as an error, and the rest as done. */
function countResults(tally, results) {
  tally.ops += results.length;
  for (const r of results) if (r.status === 'rejected') countError(tally, new Error(`rejected ${r.code}`));
}

/**
 * The writer, client number `c`: batches of `batch` operations (batch - 2 notes of its own, a
 * $inc of the shared counter, a new shared title), each pushed and followed by a pull, until
 * it has written `opsPerClient` or the deadline passes. Expects notes/shared to be held.
 * A failed push leaves its batch queued (pushFail), so it goes again with the next one.
 */
export async function writeAndSync(client, c, { opsPerClient, batch, deadline }, tally) {
  for (let written = 0; written < opsPerClient && Date.now() < deadline;) {
    for (let i = 0; i < batch - 2; i++) client.db.put('notes', `c${c}-${written + i}`, { title: `client ${c} note ${written + i}`, votes: 1 });
    client.db.patch('notes', 'shared', { votes: { $inc: 1 } });
    client.db.patch('notes', 'shared', { title: `last by ${c} at ${written}` });
    written += batch;
    tally.batches += 1;
    try {
      countResults(tally, await client.push());
      await client.pull();
    } catch (e) {
      countError(tally, e);
    }
  }
}

/**
 * The probe: one client apart from the load, in a process of its own at the server's priority,
 * pushing `batch` new notes of its own every `intervalMs` until stopped() or the deadline.
 * Its event loop is idle between pushes, so its round trips are what the server's queue adds
 * under the load, without the loaded clients' own queueing (which their latencies include
 * whenever the clients, not the server, are short of CPU). It does not pull: it is not one of
 * the clients checked for convergence.
 */
export async function probePushes(client, { batch, intervalMs, deadline, stopped }, tally) {
  for (let round = 0; !stopped() && Date.now() < deadline; round++) {
    for (let i = 0; i < batch; i++) client.db.put('notes', `probe-${client.db.device}-${round}-${i}`, { title: `probe note ${i}`, votes: 1 });
    tally.batches += 1;
    try {
      countResults(tally, await client.push());
    } catch (e) {
      countError(tally, e);
    }
    await sleep(intervalMs);
  }
}

/** An HLC as the core writes it: wall-clock ms and a counter in hex, then the device. */
const hlcText = (ms, counter, device) => `${ms.toString(16).padStart(12, '0')}-${counter.toString(16).padStart(4, '0')}-${device}`;

/**
 * The pusher, client number `c`: pushes of `batch` new notes back to back until the deadline,
 * nothing pulled. Push latency is timed here, around the request alone.
 *
 * The bodies are built here, in the core's push format (ids "<device>:<seq>" of the client's
 * own device, an HLC per operation, put payloads), not by the client's core: its put and
 * pushBegin alone cost some 45 us an operation, more than the server spends applying one
 * (about 28 us in batches of 1000), so on a 2-core machine CoreDb pushers saturate the CPU
 * before the server does, and the figure would be theirs. The server does the same work
 * either way. The client's core never hears of these operations, so it must push nothing else.
 */
export async function pushBackToBack(client, c, { batch, deadline }, tally) {
  const { device } = client.db;
  let seq = 0;
  let lastMs = 0;
  let counter = 0;
  for (let round = 0; Date.now() < deadline; round++) {
    const ops = [];
    for (let i = 0; i < batch; i++) {
      const ms = Date.now();
      counter = ms === lastMs ? counter + 1 : 0;
      lastMs = ms;
      seq += 1;
      ops.push({
        id: `${device}:${seq}`, type: 'put', coll: 'notes', rid: `ac${c}-${round}-${i}`, hlc: hlcText(ms, counter, device),
        base: 0, payload: { title: { set: `pusher ${c} note ${i}` }, votes: { inc: i } },
      });
    }
    tally.batches += 1;
    const sent = performance.now();
    try {
      const answer = await post(client.url, '/v1/push', client.token, { v: 2, device, ops });
      if (answer.status !== 200) throw new Error(`push: ${answer.status} ${answer.text}`);
      tally.latencies.push(performance.now() - sent);
      countResults(tally, answer.json.results);
    } catch (e) {
      // Not sent again: the next batch carries later sequence numbers, and the server
      // answers each operation on its own.
      countError(tally, e);
    }
  }
}
