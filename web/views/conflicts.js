/**
 * conflicts.js -- "Needs your decision": the open conflicts on fields under manual resolution
 * (a note's status). Each shows both versions side by side, the one the server kept and the
 * incoming one, with who made it; the user keeps one, or sets a merged value (for status:
 * another status). db.resolve() records the decision as an operation, so it works offline
 * and reaches every device through sync.
 *
 * The panel appears above the list whenever a conflict is open; it does not take the focus
 * (a sync must not yank the user out of what they are typing) but announces itself.
 */
import { h, byId, setChildren } from '../dom.js';
import { FIELD_LABELS, STATUSES, statusLabel } from '../notes.js';

/** How a field's value reads in the conflict view. */
function display(fieldName, value) {
  if (value == null) return '(empty)';
  if (fieldName === 'status') return statusLabel(value);
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The control for a merged value: the status list, or free text for other fields. */
function mergeControl(id, fieldName, value) {
  if (fieldName === 'status') {
    return h('select', { id }, STATUSES.map((s) => h('option', { value: s.value, selected: s.value === value }, s.label)));
  }
  return h('input', { id, value: typeof value === 'string' ? value : JSON.stringify(value ?? '') });
}

function version(heading, detail, valueText, action) {
  return h('div', { class: 'version' },
    h('h4', {}, heading),
    detail && h('p', { class: 'hint' }, detail),
    h('p', { class: 'value' }, valueText),
    action);
}

/**
 * @param {object} o
 * @param {object} o.db
 * @param {(id: string) => void} o.onOpenNote
 * @param {(error: unknown) => void} o.onError
 * @returns {(conflicts: Array<object>) => Promise<void>} renders the open conflicts
 */
export function mountConflicts({ db, onOpenNote, onError }) {
  const panel = byId('conflicts');

  async function resolve(conflict, value) {
    await db.resolve(conflict.id, value);
  }

  async function card(conflict, index) {
    const doc = await db.get(conflict.coll, conflict.rid).catch(() => null);
    const title = doc?.title || 'a deleted note';
    const fieldLabel = FIELD_LABELS[conflict.field] ?? conflict.field;
    const mergeId = `merge-${index}`;
    const merged = mergeControl(mergeId, conflict.field, conflict.server);
    const from = [conflict.user && `by ${conflict.user}`, conflict.device && `on device ${conflict.device}`].filter(Boolean).join(' ');
    const keep = (which, value) => h('button', {
      type: 'button', class: 'primary',
      'aria-label': `Keep ${which} ${fieldLabel.toLowerCase()} “${display(conflict.field, value)}”`,
      onclick: () => resolve(conflict, value).catch(onError),
    }, 'Keep this');
    const headingId = `conflict-title-${index}`;
    return h('article', { class: 'conflict', 'aria-labelledby': headingId, 'data-conflict': conflict.id },
      h('h3', { id: headingId }, `${fieldLabel} of “${title}”`),
      h('p', {}, `Two changes to ${fieldLabel.toLowerCase()} were made at the same time. Choose the one to keep, or set another value.`),
      h('div', { class: 'versions' },
        version('Server version', 'What everyone sees now', display(conflict.field, conflict.server), keep('server', conflict.server)),
        version('Incoming version', from ? `Changed ${from}` : null, display(conflict.field, conflict.incoming), keep('incoming', conflict.incoming))),
      h('div', { class: 'merge' },
        h('div', {}, h('label', { for: mergeId }, `Or set ${fieldLabel.toLowerCase()} to`), merged),
        h('button', { type: 'button', onclick: () => resolve(conflict, merged.value).catch(onError) }, 'Use this value'),
        h('button', { type: 'button', class: 'quiet', onclick: () => onOpenNote(conflict.rid) }, 'Open note')));
  }

  return async function renderConflicts(conflicts) {
    const open = conflicts.filter((c) => (c.status ?? 'open') === 'open');
    panel.hidden = open.length === 0;
    if (!open.length) {
      panel.replaceChildren();
      return;
    }
    // Rebuilt only when the set of conflicts changes, so a half-made choice is not wiped.
    const key = open.map((c) => c.id).join(',');
    if (panel.dataset.key === key) return;
    panel.dataset.key = key;
    const cards = await Promise.all(open.map(card));
    setChildren(panel,
      h('h2', { id: 'conflicts-title' }, `Needs your decision (${open.length})`),
      cards);
  };
}
