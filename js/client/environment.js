/**
 * environment.js -- what the scheduler watches: online/offline and the page's visibility.
 *
 * In a page these come from `window` and `document`. In the engine's dedicated worker there is
 * no document, and a worker's own `online` events do not follow the page's emulated network in
 * every browser, so the page relays what it sees (js/sloop.js, over js/rpc.js) into a
 * RelayedEnvironment. Both raise 'online', 'offline' and 'visible' and answer `online` and
 * `hidden`.
 * @module sloop/client/environment
 */

let shared = null;

/**
 * The realm's own environment: one per realm, so handles opened and closed many times do not
 * each leave listeners on window and document.
 * @returns {GlobalEnvironment}
 */
export function globalEnvironment() {
  shared ??= new GlobalEnvironment();
  return shared;
}

/** The realm's own window/document, or neutral values where they are missing. */
class GlobalEnvironment extends EventTarget {
  constructor() {
    super();
    const relay = (type) => () => this.dispatchEvent(new Event(type));
    globalThis.addEventListener?.('online', relay('online'));
    globalThis.addEventListener?.('offline', relay('offline'));
    globalThis.document?.addEventListener?.('visibilitychange', () => { if (!this.hidden) relay('visible')(); });
  }

  get online() {
    return globalThis.navigator?.onLine ?? true;
  }

  get hidden() {
    return globalThis.document?.visibilityState === 'hidden';
  }
}

/** State set from messages: `update({online, hidden})` raises the events a change implies. */
export class RelayedEnvironment extends EventTarget {
  constructor({ online = true, hidden = false } = {}) {
    super();
    this.online = online;
    this.hidden = hidden;
  }

  update({ online, hidden }) {
    const was = { online: this.online, hidden: this.hidden };
    Object.assign(this, { online, hidden });
    if (online !== was.online) this.dispatchEvent(new Event(online ? 'online' : 'offline'));
    if (was.hidden && !hidden) this.dispatchEvent(new Event('visible'));
  }
}
