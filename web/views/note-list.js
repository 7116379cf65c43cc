/**
 * note-list.js -- the list of notes: newest change first, each with its sync badge, kept live
 * (db.live) so edits from this tab, other tabs and other devices appear as they land; and the
 * search box, which runs full-text search over title, site and findings on this device.
 *
 * Badges come from each row's sync state (notes.js badgeFor) plus a "Needs decision" badge for
 * notes with an open conflict. A failed note carries its own Retry button. Rows are rebuilt on
 * every change; the focused row's button gets the focus back.
 */
import { h, byId, setChildren } from '../dom.js';
import { NOTES, badgeFor, statusLabel } from '../notes.js';

const LIST_LIMIT = 500;

/**
 * What the app knows about notes beyond their rows.
 * @typedef {{blocked: boolean, conflicted: Set<string>, rejected: Set<string>}} NoteMarks
 *   `blocked`: sync cannot run now (offline, or the session expired)
 */
const SEARCH_LIMIT = 50;

/** One badge element, or null. */
function badge(text, kind) {
  return h('span', { class: `badge badge-${kind}`, 'data-badge': kind }, text);
}

/**
 * @param {object} o
 * @param {object} o.db the open database
 * @param {(id: string) => void} o.onOpen a note was chosen
 * @param {(id: string) => void} o.onRetry the Retry of a failed note was pressed
 * @returns {{setSelected: (id: string|null) => void, setMarks: (marks: NoteMarks) => void, close: () => void}}
 */
export function mountNoteList({ db, onOpen, onRetry }) {
  const list = byId('note-list');
  const summary = byId('list-summary');
  const search = byId('search');
  let rows = [];
  let searchText = '';
  let searchHits = null; // null: not searching; else [{id, doc}] in rank order
  let selected = null;
  /** @type {NoteMarks} */
  let marks = { blocked: false, conflicted: new Set(), rejected: new Set() };

  function item({ id, doc, state }) {
    const b = badgeFor(state, { blocked: marks.blocked, rejected: marks.rejected.has(id) });
    const meta = [doc.site, statusLabel(doc.status), doc.votes ? `${doc.votes} ${Math.abs(doc.votes) === 1 ? 'vote' : 'votes'}` : null, ...(doc.tags ?? []).map((t) => `#${t}`)]
      .filter(Boolean).join(' · ');
    return h('li', { class: id === selected ? 'selected' : null, 'data-id': id, 'data-state': state ?? 'unknown' },
      h('button', { type: 'button', class: 'note-open', 'aria-current': id === selected ? 'true' : null, onclick: () => onOpen(id) },
        h('span', { class: 'title' }, doc.title || 'Untitled'),
        h('span', { class: 'meta' }, meta)),
      marks.conflicted.has(id) && badge('Needs decision', 'conflict'),
      b && badge(b.text, b.kind),
      b?.kind === 'failed' && h('button', { type: 'button', class: 'small', 'aria-label': `Retry syncing “${doc.title}”`, onclick: () => onRetry(id) }, 'Retry'));
  }

  function render() {
    const focusedId = document.activeElement?.closest?.('#note-list li')?.dataset.id;
    let shown = rows;
    if (searchHits) {
      const byId = new Map(rows.map((r) => [r.id, r]));
      shown = searchHits.map((hit) => byId.get(hit.id) ?? { ...hit, state: 'synced' });
    }
    setChildren(list, shown.map(item));
    summary.textContent = searchHits
      ? `${shown.length} ${shown.length === 1 ? 'note matches' : 'notes match'} “${searchText}”.`
      : rows.length >= LIST_LIMIT
        ? `The ${LIST_LIMIT} most recently changed notes; search to find older ones.`
        : `${rows.length} ${rows.length === 1 ? 'note' : 'notes'}.`;
    if (focusedId) list.querySelector(`li[data-id="${CSS.escape(focusedId)}"] .note-open`)?.focus();
  }

  async function runSearch() {
    const text = search.value.trim();
    if (!text) {
      searchHits = null;
      searchText = '';
      render();
      return;
    }
    const hits = await db.search(NOTES, text, { limit: SEARCH_LIMIT });
    if (search.value.trim() !== text) return; // typed on meanwhile; a newer search follows
    searchText = text;
    searchHits = hits;
    render();
  }

  search.addEventListener('input', () => { runSearch().catch(reportError); });
  byId('search-form').addEventListener('submit', (e) => e.preventDefault());

  const unsubscribe = db.live(NOTES, { orderBy: [['updatedAt', 'desc']], limit: LIST_LIMIT }, (fresh) => {
    rows = fresh;
    if (searchHits) runSearch().catch(reportError);
    else render();
  });

  return {
    setSelected(id) { selected = id; render(); },
    setMarks(next) { marks = next; render(); },
    close() { unsubscribe(); },
  };
}
