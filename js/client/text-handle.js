/**
 * text-handle.js -- a `text` field as an editor needs it (db.text()): its current string,
 * splices to write, and change events carrying the splices that made each new value, so an
 * editor can apply another device's typing where it happened and keep the user's caret
 * (text-binding.js does that for a <textarea>).
 *
 * The core's change events carry each text field's edits (js/sloop.js, detail.textEdits);
 * the handle applies them to its value. Edits that do not fit the value it holds (it missed
 * an event) make it read the record again and emit the difference as one splice.
 * @module sloop/client/text-handle
 */
import { FieldHandle, readHandle } from './field-handle.js';
import { applyEdits, spliceBetween } from './text-edits.js';

/**
 * One text field of one record. Event 'change': detail {edits, local, value}, where `edits`
 * ([index, deleteCount, inserted], UTF-16 indexes, in order) turn the previous `value` into
 * the new one and `local` says a write on this device made them.
 */
export class TextHandle extends FieldHandle {
  constructor(db, coll, id, field, options) {
    super(db, coll, id, field, '', options);
  }

  onChanges({ changes = [], textEdits = [] }) {
    for (const entry of changes) {
      if (!this.isMine(entry)) continue;
      this.heard();
      // A deletion pulled from another device may come without the text's own edits.
      if (entry.state === 'removed') this.refresh().catch(() => {});
    }
    for (const entry of textEdits) {
      if (!this.isMine(entry) || entry.field !== this.field) continue;
      this.heard();
      const next = applyEdits(this.value, entry.edits);
      if (next === null) {
        this.refresh().catch(() => {});
        continue;
      }
      this.value = next;
      this.emit({ edits: entry.edits, local: entry.local, value: next });
    }
  }

  settle(value) {
    const edit = spliceBetween(this.value, String(value));
    if (!edit) return;
    this.value = String(value);
    this.emit({ edits: [edit], local: false, value: this.value });
  }

  /**
   * Deletes `deleteCount` code units at `index`, then inserts `inserted` there.
   * @returns {Promise<string>} the operation id; rejects with code 'invalid' for an index or
   *   count outside the text or inside a surrogate pair (nothing is written then)
   */
  splice(index, deleteCount, inserted = '') {
    return this.write('splice', [index, deleteCount], { $edit: [[index, deleteCount, String(inserted)]] });
  }

  /** @returns {Promise<string>} */
  insert(index, text) {
    return this.splice(index, 0, text);
  }

  /** @returns {Promise<string>} */
  delete(index, count) {
    return this.splice(index, count, '');
  }
}

/**
 * A handle on a text field, its value read. `options.alongside`: FieldHandle's.
 * @returns {Promise<TextHandle>}
 */
export function openTextHandle(db, coll, id, field, options) {
  return readHandle(new TextHandle(db, coll, id, field, options));
}
