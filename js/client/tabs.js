/**
 * tabs.js -- what the client's tabs say to each other, beside persist.js's own channel: the
 * writer tab (which runs sync) publishes status and events, and followers ask it to sync,
 * pause or resume. Message shapes live here only.
 *
 *   writer -> all   {type: 'event', event, detail}   status, change, conflict, failed
 *   writer -> all   {type: 'writer'}                 a new writer: re-send what it missed
 *   any -> writer   {type: 'hello'}                  please publish your status
 *   any -> writer   {type: 'written'}                a follower wrote: plan a push
 *   any -> writer   {type: 'sync', id, from}         run a cycle; answered by 'synced'
 *   writer -> one   {type: 'synced', id, to, error?}
 *   any -> all      {type: 'pause'} | {type: 'resume'}
 * @module sloop/client/tabs
 */

/**
 * Opens the client channel of one database, or a stand-in that goes nowhere.
 * @param {string} name database name
 * @param {(msg: object) => void} onMessage
 */
export function openClientChannel(name, onMessage) {
  if (typeof BroadcastChannel !== 'function') return { postMessage() {}, close() {} };
  const channel = new BroadcastChannel(`sloop-client:${name}`);
  channel.onmessage = (e) => onMessage(e.data);
  return channel;
}
