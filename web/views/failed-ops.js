/**
 * failed-ops.js -- changes the server refused for good (a permission, a rule), listed with the
 * reason, each with Retry (send it again, e.g. after a permission was granted) and Discard
 * (drop the change; the note returns to the server's version). Nothing is dropped silently.
 */
import { h, byId, setChildren } from '../dom.js';

/**
 * @param {object} o
 * @param {object} o.db
 * @param {(error: unknown) => void} o.onError
 * @returns {(failed: Array<{id: string, coll: string, rid: string, lastError?: string}>) => Promise<void>}
 */
export function mountFailedOps({ db, onError }) {
  const panel = byId('failed-ops');
  const act = (fn) => () => fn().catch(onError);

  return async function renderFailedOps(failed) {
    panel.hidden = failed.length === 0;
    if (!failed.length) {
      panel.replaceChildren();
      return;
    }
    const titles = await Promise.all(failed.map((op) => db.get(op.coll, op.rid).then((d) => d?.title, () => null)));
    setChildren(panel,
      h('h2', { id: 'failed-title' }, `Changes that could not sync (${failed.length})`),
      h('p', {}, 'These changes are kept on this device. Retry them, or discard them to return to the server’s version.'),
      h('ul', { class: 'failed-list' }, failed.map((op, i) => h('li', { 'data-op': op.id },
        h('strong', {}, titles[i] || op.rid),
        h('span', { class: 'error' }, op.lastError || 'Refused by the server'),
        h('button', { type: 'button', class: 'small', onclick: act(() => db.retry(op.id)) }, 'Retry'),
        h('button', { type: 'button', class: 'small danger', onclick: act(() => db.discard(op.id)) }, 'Discard')))),
      failed.length > 1 && h('button', { type: 'button', onclick: act(() => db.retry()) }, 'Retry all'));
  };
}
