/**
 * notes.js -- what a field note is: its fields, their labels, the status values, and how an
 * edit becomes the smallest change to send. Every merge policy is the schema's (schema.json):
 *
 *   title, body, site, updatedAt   last writer wins
 *   tags                           add-wins set: an add and a concurrent remove keep the tag
 *   votes                          counter: concurrent +1s add up
 *   status                         manual: concurrent changes wait for a person to decide
 *   createdBy                      first writer wins: set once, on create
 *
 * Edits are sent as patches of the changed fields only, so two people editing different
 * fields of one note never overwrite each other.
 */

export const NOTES = 'notes';

export const STATUSES = [
  { value: 'open', label: 'Open' },
  { value: 'in-progress', label: 'In progress' },
  { value: 'fixed', label: 'Fixed' },
  { value: 'wont-fix', label: "Won't fix" },
];

export const FIELD_LABELS = {
  title: 'Title', body: 'Findings', site: 'Site', tags: 'Tags', votes: 'Votes', status: 'Status', createdBy: 'Created by',
};

/** The label of a status value; unknown values (from a newer app) are shown as they are. */
export function statusLabel(value) {
  return STATUSES.find((s) => s.value === value)?.label ?? String(value ?? '—');
}

/**
 * What a record shows for its sync state: a badge text and kind, or null for a clean record.
 *
 * The core marks a record 'failed' when a push of it failed, for lack of network too; its
 * operations stay queued and go out again by themselves. Only a change the server refused
 * (`rejected`, listed by db.failedOps()) needs the user. So while sync is `blocked` (offline,
 * or the session expired), a record that merely waits reads "Saving locally", like
 * 'local-only' and 'modified-locally' (changes only this device has); otherwise a failed push
 * reads "Sync failed" until the next attempt.
 *
 * @param {string|undefined} state the record's sync state
 * @param {{blocked: boolean, rejected: boolean}} context
 */
export function badgeFor(state, { blocked, rejected }) {
  if (rejected || (state === 'failed' && !blocked)) return { text: 'Sync failed', kind: 'failed' };
  switch (state) {
    case 'local-only':
    case 'modified-locally':
    case 'failed': return { text: 'Saving locally', kind: 'local' };
    case 'syncing': return { text: 'Syncing', kind: 'syncing' };
    default: return null;
  }
}

/** A tag as stored: trimmed, lower case, inner spaces as dashes; '' when nothing is left. */
export function normalizeTag(text) {
  return text.trim().toLowerCase().replace(/\s+/g, '-').slice(0, 40);
}

/** Splits "leak, pump 4" into normalized, distinct tags. */
export function parseTags(text) {
  return [...new Set(text.split(',').map(normalizeTag).filter(Boolean))];
}

/**
 * The document of a new note.
 * @param {{title: string, site?: string, body?: string, tags?: string[]}} fields
 * @param {string} user who creates it (createdBy; the server keeps the first value written)
 */
export function newNote({ title, site = '', body = '', tags = [] }, user) {
  return { title, site, body, tags, votes: 0, status: 'open', createdBy: user, updatedAt: Date.now() };
}

/**
 * The patch for the single-line fields (title, site) that differ between what the editor
 * loaded and what it holds now, with updatedAt; null when nothing changed. The findings are a
 * text field, written as splices while typing (note-editor.js), never as a whole value.
 */
export function textChanges(before, after) {
  const changes = {};
  for (const field of ['title', 'site']) {
    if ((after[field] ?? '') !== (before[field] ?? '')) changes[field] = after[field];
  }
  return Object.keys(changes).length ? { ...changes, updatedAt: Date.now() } : null;
}
