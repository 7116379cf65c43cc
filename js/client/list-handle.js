/**
 * list-handle.js -- a `list` field (db.list()): its current array, and insert, remove and
 * move at indexes, each an operation on the list's sequence that merges with other devices'
 * (a concurrently moved element shows once; a remove wins over a move).
 *
 * Change events carry no index deltas for lists: the handle reads the field again when its
 * record changes and emits the new array. A write resolves once `value` shows it.
 * @module sloop/client/list-handle
 */
import { FieldHandle, readHandle } from './field-handle.js';

/** One list field of one record. Event 'change': detail {value}. */
export class ListHandle extends FieldHandle {
  constructor(db, coll, id, field, options) {
    super(db, coll, id, field, [], options);
  }

  onChanges({ changes = [] }) {
    if (!changes.some((entry) => this.isMine(entry))) return;
    this.heard();
    this.refresh().catch(() => {});
  }

  settle(value) {
    if (JSON.stringify(value) === JSON.stringify(this.value)) return;
    this.value = value;
    this.emit({ value });
  }

  /** Inserts values at `index` (0 to length). @returns {Promise<string>} the operation id */
  insert(index, ...values) {
    return this.writeAndRead(this.write('insert', [index], { $insert: [index, ...values] }));
  }

  /** Removes `count` elements from `index` on. @returns {Promise<string>} */
  remove(index, count = 1) {
    return this.writeAndRead(this.write('remove', [index, count], { $remove: [index, count] }));
  }

  /** Moves the element at `from` so that it ends at index `to`. @returns {Promise<string>} */
  move(from, to) {
    return this.writeAndRead(this.write('move', [from, to], { $move: [from, to] }));
  }

  /** Resolves once `value` shows the write: with a read begun after it. */
  async writeAndRead(written) {
    const opId = await written;
    await this.reading?.catch(() => {});
    await this.refresh();
    return opId;
  }
}

/**
 * A handle on a list field, its value read. `options.alongside`: FieldHandle's.
 * @returns {Promise<ListHandle>}
 */
export function openListHandle(db, coll, id, field, options) {
  return readHandle(new ListHandle(db, coll, id, field, options));
}
