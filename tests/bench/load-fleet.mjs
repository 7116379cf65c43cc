/**
 * load-fleet.mjs -- sync-load.mjs's simulated clients, spread over child processes
 * (load-clients.mjs), so that their CoreDb work and their event loops are not the driver's.
 * With every client in the driver's own process, 200 of them starve its one event loop, and
 * the wait of an answer behind other clients' work was measured as the server's push latency.
 *
 * The children run at a lower OS priority than the server (see CLIENT_NICENESS), and each call
 * goes to every child at once and resolves when all have answered, so the caller can order
 * phases across the whole fleet. What the children answer is returned as it is, one entry per
 * child; merging is the caller's business (load-workload.mjs's mergeTallies).
 */
import { fork } from 'node:child_process';
import { setPriority } from 'node:os';

const CHILD = new URL('./load-clients.mjs', import.meta.url).pathname;

/**
 * nice(1) value of the client processes. On a machine with fewer cores than busy processes
 * (2 cores: the server and two client processes), the scheduler then gives the server the CPU
 * whenever both are ready, so the clients do not slow the server they measure. Their own
 * queueing, when they are short of CPU, still shows in their latencies; hence runLoad's probe,
 * a client in a process of its own at the server's priority. Raising one's own child's
 * niceness needs no privilege.
 */
export const CLIENT_NICENESS = 10;

/**
 * One child at nice(1) value `niceness`: call(name, args) sends a call and resolves to its
 * result; exited is a promise.
 */
function startChild(niceness) {
  const child = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    if (niceness) setPriority(child.pid, niceness);
  } catch {
    // Not permitted here (some containers): the figures are then those of equal priorities.
  }
  const pending = new Map();
  let nextId = 0;
  child.on('message', ({ id, result, error }) => {
    const waiting = pending.get(id);
    pending.delete(id);
    if (error) waiting.reject(new Error(error.message));
    else waiting.resolve(result);
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    for (const { reject } of pending.values()) reject(new Error(`load client process exited (${code ?? signal})`));
    pending.clear();
    resolve(code ?? signal);
  }));
  const call = (name, args) => new Promise((resolve, reject) => {
    // send() on a closed channel would raise an 'error' event instead of failing this call.
    if (!child.connected) return reject(new Error(`load client process gone before ${name}`));
    const id = nextId++;
    pending.set(id, { resolve, reject });
    child.send({ id, call: name, args });
  });
  return { child, call, exited };
}

/**
 * Client indexes whose device id an earlier index, or `avoid`, already has, among
 * `devicesByChild` (one {index: device} map per child).
 */
function clashingIndexes(devicesByChild, avoid) {
  const seen = new Set(avoid);
  const clashing = [];
  for (const devices of devicesByChild) {
    for (const [index, device] of Object.entries(devices)) {
      if (seen.has(device)) clashing.push(Number(index));
      seen.add(device);
    }
  }
  return clashing;
}

/**
 * Forks min(procs, clients) client processes and opens `clients` clients among them (client i
 * talking to url[i % url.length] when `url` lists several server processes), client i
 * in process i % procs (load-clients.mjs's `open`, with `batch`), and checks that no two
 * clients, nor a client and an entry of `avoidDevices`, share a device id; then, when `pull` is
 * set, every client pulls once. The processes run at nice `niceness`.
 * `call(name, args)` runs one of load-clients.mjs's calls in every process and resolves to
 * their answers; `opened` holds the answers to the first pull (their errors), `devices` every
 * client's device id; `close()`
 * closes the clients and ends the processes (call it in a finally).
 * @param {{url: string|string[], tokens: string[], clients: number, procs?: number, batch: number,
 *   pull?: boolean, niceness?: number, avoidDevices?: string[]}} options
 */
export async function openFleet({ url, tokens, clients, procs = 2, batch, pull = false, niceness = CLIENT_NICENESS, avoidDevices = [] }) {
  const children = Array.from({ length: Math.max(1, Math.min(procs, clients)) }, () => startChild(niceness));
  const call = (name, args = {}) => Promise.all(children.map((child) => child.call(name, args)));
  const close = async () => {
    await call('close').catch(() => {});
    for (const { child } of children) if (child.connected) child.disconnect();
    await Promise.all(children.map((child) => child.exited));
  };
  try {
    const devices = await Promise.all(children.map((child, p) => child.call('open', {
      url, tokens, batch,
      indexes: Array.from({ length: clients }, (_, i) => i).filter((i) => i % children.length === p),
    })));
    // Device ids are random (wasm/src/db.c, sloop_open): two clients alike would be a bug
    // the server would then act on (403 `device`, or one client's operations taken as the
    // other's replays), so a clash stops the run rather than skew it.
    const clashing = clashingIndexes(devices, avoidDevices);
    if (clashing.length > 0) throw new Error(`device ids clash: clients ${clashing} (the core's id generator is broken)`);
    const opened = pull ? await call('pull') : [];
    return { procs: children.length, call, close, opened, devices: devices.flatMap(Object.values) };
  } catch (e) {
    await close();
    throw e;
  }
}
