/**
 * rpc.js -- the one call/reply/event layer of the client: between the page's handle and its
 * engine (a direct pair of ports in one realm, or a dedicated worker), between the engines of
 * several tabs (js/engine/tab-peers.js) and between their persistent databases (js/persist.js: core
 * calls proxied to the writer), the last two over BroadcastChannels. Message shapes live here
 * only:
 *
 *   {type: 'call',  id, method, args, from?}     answered by a 'reply' (a call re-sent may
 *                                                     be answered twice: the second is ignored)
 *   {type: 'reply', id, result, to?}                  or
 *   {type: 'reply', id, error, to?}                   `error` in errors.js's wire format
 *   {type: 'event', event, detail, from?}             no answer
 *
 * A port is anything with postMessage(msg) and addEventListener('message', e => e.data): a
 * Worker, a worker's own global scope, a BroadcastChannel, or one end of directPorts(). Either
 * side may call, serve and raise events. On a channel several endpoints share, each endpoint
 * has an address (`self`): its calls and events say `from`, replies go `to` the caller, and a
 * reply addressed to another endpoint is ignored. A call goes to no endpoint in particular: it
 * is answered by whichever endpoint serves it (the writer tab); the others decline (serve
 * returns DECLINE) and stay silent.
 *
 * What it leaves out: retries and time-outs. A caller whose callee went away (a writer tab that
 * closed) re-sends its pending calls with resend() once another callee is there.
 * @module sloop/rpc
 */
import { SloopError, closedError, toWire, fromWire } from './errors.js';

/** What a serve function returns for a call that is not for this endpoint: no reply. */
export const DECLINE = Symbol('decline');

/** One side of a conversation over a port. */
export class RpcEndpoint {
  /**
   * @param {{postMessage: Function, addEventListener: Function, removeEventListener?: Function}} port
   * @param {object} [options]
   * @param {(method: string, args: any[], msg: object) => any} [options.serve] answers calls:
   *   a value or a Promise of one; a throw or rejection becomes the caller's SloopError
   * @param {(event: string, detail: any, msg: object) => void} [options.onEvent]
   * @param {string} [options.self] this endpoint's address, on a channel several share
   */
  constructor(port, { serve = null, onEvent = null, self = null } = {}) {
    Object.assign(this, { port, serve, onEvent, self });
    /** Calls made here and not yet answered: id -> {message, resolve, reject}. */
    this.pending = new Map();
    /** Calls being answered here, until their replies are posted. */
    this.answering = new Set();
    this.nextId = 1;
    this.closed = false;
    this.onMessage = (e) => this.receive(e.data);
    port.addEventListener('message', this.onMessage);
  }

  /**
   * Calls `method` on the other side.
   * @param {string} method
   * @param {any[]} args structured-cloneable over a worker or a channel
   * @returns {Promise<any>} its result; rejects with a SloopError
   */
  call(method, args = []) {
    if (this.closed) return Promise.reject(closedError());
    const id = this.self ? `${this.self}:${this.nextId++}` : this.nextId++;
    const message = { type: 'call', id, method, args };
    if (this.self) message.from = this.self;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { message, resolve, reject });
      this.post(message, (e) => {
        // Arguments the structured clone refuses (a function, a DOM node, a framework's
        // proxy): nothing was sent, so nothing will answer; the call goes, and says why.
        this.pending.delete(id);
        reject(e?.name === 'DataCloneError' ? new SloopError('invalid', `${method}: ${e.message}`) : e);
      });
    });
  }

  /** Raises an event on the other side(s). Details that cannot be cloned are dropped. */
  emit(event, detail) {
    if (this.closed) return;
    const message = { type: 'event', event, detail };
    if (this.self) message.from = this.self;
    this.post(message, () => {});
  }

  /** Posts the calls not yet answered again (their callee went away; another took over). */
  resend() {
    for (const { message } of this.pending.values()) this.post(message, () => {});
  }

  /**
   * Takes the calls not yet answered out of this endpoint (nothing will settle them here any
   * more), for the caller to run them some other way.
   * @returns {Array<{message: object, resolve: Function, reject: Function}>}
   */
  takePending() {
    const calls = [...this.pending.values()];
    this.pending.clear();
    return calls;
  }

  /** Rejects every call not yet answered with `error`. */
  rejectAll(error) {
    for (const { reject } of this.pending.values()) reject(error);
    this.pending.clear();
  }

  /** Resolves once every call this endpoint is answering has had its reply posted. */
  answered() {
    return Promise.allSettled([...this.answering]).then(() => {});
  }

  /** Stops listening; calls not yet answered reject as closed. */
  close() {
    if (this.closed) return;
    this.closed = true;
    this.port.removeEventListener?.('message', this.onMessage);
    this.rejectAll(closedError());
  }

  post(message, onError) {
    try {
      this.port.postMessage(message);
    } catch (e) {
      onError(e);
    }
  }

  receive(msg) {
    if (this.closed || !msg || typeof msg !== 'object') return;
    if (this.self && msg.to != null && msg.to !== this.self) return;
    if (msg.type === 'reply') this.settle(msg);
    else if (msg.type === 'call') {
      const answering = this.answer(msg);
      this.answering.add(answering);
      answering.then(() => this.answering.delete(answering));
    }
    else if (msg.type === 'event') this.onEvent?.(msg.event, msg.detail, msg);
  }

  settle(msg) {
    const call = this.pending.get(msg.id);
    if (!call) return;
    this.pending.delete(msg.id);
    if (msg.error) call.reject(fromWire(msg.error));
    else call.resolve(msg.result);
  }

  async answer(msg) {
    if (!this.serve) return;
    let reply;
    try {
      const result = await this.serve(msg.method, msg.args ?? [], msg);
      if (result === DECLINE) return;
      reply = { type: 'reply', id: msg.id, result };
    } catch (e) {
      reply = { type: 'reply', id: msg.id, error: toWire(e) };
    }
    if (msg.from !== undefined) reply.to = msg.from;
    if (this.closed) return;
    // A result the clone refuses still answers: the caller learns why instead of waiting.
    this.post(reply, (e) => this.post({ ...reply, result: undefined, error: toWire(e) }, () => {}));
  }
}

/**
 * Two connected ports in one realm: what one end posts, the other receives, in order (the
 * direct transport: the engine on the page's own thread, or in Node). Delivery is asynchronous,
 * as over a worker, so the handle behaves the same over either.
 * @param {{copy?: (data: any) => any}} [options] copy: what the first end posts goes through it
 *   at once, in postMessage (a structuredClone, so that the receiver holds what was posted, not
 *   an object its sender may change meanwhile; a throw, a DataCloneError, is postMessage's, as
 *   a worker's is). The second end's messages are delivered as they are.
 * @returns {[object, object]}
 */
export function directPorts({ copy = null } = {}) {
  const make = (copyOut) => ({ listeners: new Set(), peer: null, closed: false, copyOut });
  const ends = [make(copy), make(null)];
  [ends[0].peer, ends[1].peer] = [ends[1], ends[0]];
  return ends.map((end) => ({
    postMessage(message) {
      if (end.closed) return;
      const data = end.copyOut ? end.copyOut(message) : message;
      queueMicrotask(() => { for (const listener of end.peer.listeners) listener({ data }); });
    },
    addEventListener(type, listener) { if (type === 'message') end.listeners.add(listener); },
    removeEventListener(type, listener) { end.listeners.delete(listener); },
    close() { end.closed = true; end.listeners.clear(); },
  }));
}
