/**
 * tab-peers.js -- what the engines of one database's tabs say to each other, beside persist.js's
 * own proxying of core calls: the writer tab (which runs sync) publishes status and events, and
 * followers ask it to sync, pause or resume. Over a BroadcastChannel, on the one call/reply/event
 * layer (rpc.js), each tab addressed by an id of its own:
 *
 *   writer -> all   event status | change | conflict | failed    followers pass them on
 *   writer -> all   event 'writer'      a new writer: re-send the sync calls it missed
 *   any -> writer   event 'hello'       please publish your status
 *   any -> writer   event 'written'     a follower wrote: plan a push
 *   any -> all      event 'paused' (true | false)
 *   any -> writer   call 'sync'         run a cycle; only the writer answers (others decline)
 * @module sloop/engine/tab-peers
 */
import { RpcEndpoint, DECLINE } from '../rpc.js';
import { SloopError } from '../errors.js';

/** Events the writer publishes for the followers' handles. */
const PUBLISHED = new Set(['status', 'change', 'conflict', 'failed']);

/**
 * Opens the tabs channel of one database (a stand-in that goes nowhere where there is no
 * BroadcastChannel).
 * @param {string} name database name
 * @param {import('./engine.js').SloopEngine} engine this tab's engine
 * @returns {TabPeers}
 */
export function openTabPeers(name, engine) {
  const channel = typeof BroadcastChannel === 'function'
    ? new BroadcastChannel(`sloop-client:${name}`)
    : { postMessage() {}, addEventListener() {}, removeEventListener() {}, close() {} };
  return new TabPeers(channel, engine);
}

/** One tab's end of the channel. */
export class TabPeers {
  constructor(channel, engine) {
    this.channel = channel;
    this.engine = engine;
    this.rpc = new RpcEndpoint(channel, {
      self: globalThis.crypto.randomUUID(),
      serve: (method) => this.serve(method),
      onEvent: (event, detail) => this.onEvent(event, detail),
    });
  }

  serve(method) {
    const engine = this.engine;
    if (engine.closed || !engine.isWriter) return DECLINE;
    // A new writer between its claim and its scheduler (becomeWriter): declined, not failed as
    // local only; the caller sends it again when this tab announces itself ('writer').
    if (method === 'sync' && engine.serverUrl && !engine.scheduler) return DECLINE;
    if (method === 'sync') return engine.syncHere();
    throw new SloopError('invalid', `'${method}' is not a call between tabs`);
  }

  onEvent(event, detail) {
    const engine = this.engine;
    if (engine.closed) return;
    if (PUBLISHED.has(event)) {
      if (!engine.isWriter) engine.heard(event, detail);
    } else if (event === 'writer') {
      if (!engine.isWriter) this.rpc.resend();
    } else if (event === 'hello') {
      if (engine.isWriter) engine.publish('status', engine.status);
    } else if (event === 'written') {
      if (engine.isWriter) engine.scheduler?.afterWrite();
    } else if (event === 'paused') {
      engine.setPaused(detail === true);
    }
  }

  /** Writer: an event for every other tab's handle. */
  publish(event, detail) {
    this.rpc.emit(event, detail);
  }

  /** Follower, at open: asks the writer for its status. */
  hello() {
    this.rpc.emit('hello');
  }

  /** This tab became the writer. */
  announceWriter() {
    this.rpc.emit('writer');
  }

  /** Follower: a write went through the writer; it plans a push. */
  written() {
    this.rpc.emit('written');
  }

  /** Pauses or resumes automatic sync in the other tabs (this one's engine does its own). */
  setPausedEverywhere(paused) {
    this.rpc.emit('paused', paused);
  }

  /** Follower: the writer runs a sync cycle. Resolves or rejects as it does. */
  requestSync() {
    return this.rpc.call('sync');
  }

  /** New writer: the sync calls this tab sent to the old writer run here. */
  runOwnSyncRequests() {
    for (const call of this.rpc.takePending()) this.engine.syncHere().then(call.resolve, call.reject);
  }

  /** Rejects the sync calls this tab sent and that no writer has answered yet. */
  failSyncRequests(error) {
    this.rpc.rejectAll(error);
  }

  /** Sync calls still waiting reject as closed. */
  close() {
    this.rpc.close();
    this.channel.close();
  }
}
