/**
 * note-editor.js -- the right-hand pane: a form for a new note, or one note being edited.
 *
 * Editing saves as you go, field by field, as patches of what changed (notes.js): title and
 * site after a pause in typing and when they lose focus; tags, votes and status at once. The
 * findings (`body`, a `text` field) are bound to the database as you type: each keystroke is
 * a splice, and another device's typing appears where it happened without moving the caret
 * (bindTextarea), updatedAt set in the same operation. There is no Save button
 * because there is nothing to lose: each change is in the local database before the badge
 * says "Saving locally". When the note changes elsewhere (another device, a merge) the form
 * takes the new values, except in a field that holds unsaved typing.
 */
import { bindTextarea } from '/js/sloop.js';
import { h, byId, setChildren } from '../dom.js';
import { NOTES, STATUSES, FIELD_LABELS, badgeFor, newNote, normalizeTag, parseTags, textChanges } from '../notes.js';

const TYPING_PAUSE_MS = 700;

/** A labelled control: label text, and the control (which must carry the id). */
function field(label, control) {
  return h('div', {}, h('label', { for: control.id }, label), control);
}

function statusSelect(id, value) {
  return h('select', { id }, STATUSES.map((s) => h('option', { value: s.value, selected: s.value === value }, s.label)));
}

/**
 * @param {object} o
 * @param {object} o.db
 * @param {string} o.user who is signed in (createdBy of new notes)
 * @param {(id: string|null) => void} o.onSelected the pane now shows this note (or none)
 * @param {(error: unknown) => void} o.onError
 * @returns {{showEmpty: () => void, showNew: () => void, open: (id: string) => Promise<void>,
 *   refresh: () => Promise<void>, setMarks: (marks: import('./note-list.js').NoteMarks) => void}}
 */
export function mountNoteEditor({ db, user, onSelected, onError }) {
  const pane = byId('editor');
  let current = null; // { id, loaded, els, body, unbindBody } while a note is open
  /** @type {import('./note-list.js').NoteMarks} */
  let marks = { blocked: false, conflicted: new Set(), rejected: new Set() };

  /** Lets go of the open note's findings (its text handle and textarea binding). */
  function leave() {
    current?.unbindBody?.();
    current?.body?.close();
    current = null;
  }

  function showEmpty() {
    leave();
    setChildren(pane, h('h2', { id: 'editor-title', tabindex: '-1' }, 'No note open'),
      h('p', { class: 'empty' }, 'Choose a note from the list, or start a new one.'));
    onSelected(null);
  }

  function showNew() {
    leave();
    const els = {
      title: h('input', { id: 'new-title', required: true, autocomplete: 'off' }),
      site: h('input', { id: 'new-site', autocomplete: 'off' }),
      body: h('textarea', { id: 'new-body' }),
      tags: h('input', { id: 'new-tags', autocomplete: 'off', 'aria-describedby': 'new-tags-hint' }),
    };
    const error = h('p', { class: 'form-error', role: 'alert' });
    const form = h('form', { novalidate: true, onsubmit: (e) => { e.preventDefault(); create().catch(onError); } },
      field(FIELD_LABELS.title, els.title),
      field(FIELD_LABELS.site, els.site),
      field(FIELD_LABELS.body, els.body),
      field(FIELD_LABELS.tags, els.tags),
      h('p', { id: 'new-tags-hint', class: 'hint' }, 'Separate tags with commas.'),
      error,
      h('div', { class: 'editor-actions' },
        h('button', { type: 'submit', class: 'primary' }, 'Create note'),
        h('button', { type: 'button', onclick: showEmpty }, 'Cancel')));
    async function create() {
      const title = els.title.value.trim();
      if (!title) {
        error.textContent = 'A note needs a title.';
        els.title.focus();
        return;
      }
      const id = crypto.randomUUID();
      await db.put(NOTES, id, newNote({ title, site: els.site.value.trim(), body: els.body.value, tags: parseTags(els.tags.value) }, user));
      await open(id, { focus: 'title' });
    }
    setChildren(pane, h('h2', { id: 'editor-title' }, 'New note'), form);
    onSelected(null);
    els.title.focus();
  }

  /** Saves the title and site if they changed since they were loaded (the findings save as typed). */
  async function saveText() {
    if (!current) return;
    const { id, loaded, els } = current;
    const changes = textChanges(loaded, { title: els.title.value, site: els.site.value });
    if (!changes) return;
    Object.assign(loaded, changes);
    await db.patch(NOTES, id, changes);
    els.saved.textContent = 'Saved on this device.';
  }

  async function change(changes, message) {
    await db.patch(NOTES, current.id, { ...changes, updatedAt: Date.now() });
    current.els.saved.textContent = message;
  }

  function buildForm(id, doc) {
    let typingTimer = null;
    const onTyping = () => {
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => saveText().catch(onError), TYPING_PAUSE_MS);
    };
    const text = (tag, name) => h(tag, { id: `note-${name}`, autocomplete: 'off', oninput: onTyping, onchange: () => saveText().catch(onError) });
    const els = {
      heading: h('h2', { id: 'editor-title', tabindex: '-1' }),
      badge: h('span'),
      saved: h('p', { class: 'saved-note', role: 'status' }),
      title: text('input', 'title'),
      site: text('input', 'site'),
      body: h('textarea', { id: 'note-body' }), // bound to the note's text field in open()
      status: statusSelect('note-status', doc.status),
      statusNote: h('p', { class: 'hint', id: 'note-status-conflict' }),
      chips: h('ul', { class: 'chips', 'aria-label': 'Tags on this note' }),
      tagInput: h('input', { id: 'note-tag', autocomplete: 'off' }),
      votes: h('output', { id: 'note-votes', 'aria-live': 'polite' }),
      createdBy: h('p', { class: 'readonly', id: 'note-created-by' }),
    };
    els.status.addEventListener('change', () => change({ status: els.status.value }, 'Status saved on this device.').catch(onError));
    const addTag = () => {
      const tag = normalizeTag(els.tagInput.value);
      els.tagInput.value = '';
      if (tag) change({ tags: { $add: [tag] } }, `Tag “${tag}” added.`).catch(onError);
    };
    els.tagInput.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); addTag(); } });
    const vote = (by) => change({ votes: { $inc: by } }, by > 0 ? 'Vote added.' : 'Vote removed.').catch(onError);
    const remove = async () => {
      if (!confirm(`Delete “${current.loaded.title}”? Other devices lose it when they sync.`)) return;
      await db.delete(NOTES, id);
      showEmpty();
    };
    setChildren(pane,
      h('div', { class: 'editor-head' }, els.heading, els.badge),
      els.saved,
      field(FIELD_LABELS.title, els.title),
      h('div', { class: 'field-row' }, field(FIELD_LABELS.site, els.site), field(FIELD_LABELS.status, els.status)),
      els.statusNote,
      field(FIELD_LABELS.body, els.body),
      h('fieldset', { class: 'plain' }, h('legend', {}, FIELD_LABELS.tags), els.chips,
        h('div', { class: 'tag-add' },
          h('label', { for: 'note-tag', class: 'visually-hidden' }, 'New tag'), els.tagInput,
          h('button', { type: 'button', onclick: addTag }, 'Add tag'))),
      h('div', {},
        h('span', { class: 'label', id: 'votes-label' }, FIELD_LABELS.votes),
        h('div', { class: 'counter', role: 'group', 'aria-labelledby': 'votes-label' },
          h('button', { type: 'button', 'aria-label': 'Remove a vote', onclick: () => vote(-1) }, '−'),
          els.votes,
          h('button', { type: 'button', 'aria-label': 'Add a vote', onclick: () => vote(1) }, '+'))),
      els.createdBy,
      h('div', { class: 'editor-actions' },
        h('button', { type: 'button', class: 'danger', onclick: () => remove().catch(onError) }, 'Delete note'),
        h('button', { type: 'button', onclick: showEmpty }, 'Close')));
    return els;
  }

  /** Puts a note's values into the form, leaving alone a field with unsaved typing. */
  function fill(doc, state) {
    const { els, loaded } = current;
    for (const name of ['title', 'site']) {
      const unsaved = els[name].value !== (loaded[name] ?? '');
      if (!unsaved && els[name].value !== (doc[name] ?? '')) els[name].value = doc[name] ?? '';
      if (!unsaved) loaded[name] = doc[name] ?? '';
    }
    els.heading.textContent = doc.title || 'Untitled';
    if (document.activeElement !== els.status) els.status.value = doc.status ?? 'open';
    const tags = doc.tags ?? [];
    setChildren(els.chips, tags.map((tag) => h('li', {}, h('span', {}, tag),
      h('button', { type: 'button', 'aria-label': `Remove tag ${tag}`, onclick: () => change({ tags: { $remove: [tag] } }, `Tag “${tag}” removed.`).catch(onError) }, '×'))));
    if (!tags.length) els.chips.append(h('li', { class: 'none' }, 'No tags yet'));
    els.votes.textContent = String(doc.votes ?? 0);
    els.createdBy.textContent = `${FIELD_LABELS.createdBy} ${doc.createdBy ?? 'unknown'} (cannot be changed)`;
    const b = badgeFor(state, { blocked: marks.blocked, rejected: marks.rejected.has(current.id) });
    const open = marks.conflicted.has(current.id);
    setChildren(els.badge, open && h('span', { class: 'badge badge-conflict' }, 'Needs decision'), b && h('span', { class: `badge badge-${b.kind}`, 'data-badge': b.kind }, b.text));
    els.statusNote.textContent = open ? 'Two devices chose different statuses: decide under “Needs your decision”.' : '';
  }

  /** Loads the open note again (after a change from anywhere). */
  async function refresh() {
    if (!current) return;
    const id = current.id;
    const [doc, state] = await Promise.all([db.get(NOTES, id), db.recordState(NOTES, id)]);
    if (current?.id !== id) return;
    if (!doc) {
      showEmpty();
      return;
    }
    fill(doc, state);
  }

  /**
   * Opens a note for editing.
   * @param {string} id
   * @param {{focus?: 'heading'|'title'}} [options] where the focus goes
   */
  async function open(id, { focus = 'heading' } = {}) {
    const doc = await db.get(NOTES, id);
    if (!doc) return showEmpty();
    leave();
    const opened = { id, loaded: {}, els: buildForm(id, doc), body: null, unbindBody: null };
    current = opened;
    onSelected(id);
    const body = await db.text(NOTES, id, 'body', { alongside: () => ({ updatedAt: Date.now() }) });
    if (current !== opened) return body.close(); // another note was opened meanwhile
    opened.body = body;
    opened.unbindBody = bindTextarea(body, opened.els.body, { onError });
    await refresh();
    current?.els[focus]?.focus();
  }

  return {
    showEmpty, showNew, open, refresh,
    setMarks(next) { marks = next; refresh().catch(onError); },
  };
}
