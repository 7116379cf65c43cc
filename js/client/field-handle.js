/**
 * field-handle.js -- what the text and list handles share: one field of one record, its
 * current value kept up to date from the database's change events, and writes as patches of
 * that field (so they are ordinary operations: durable, queued, pushed, replayed).
 *
 * The value is read once and then follows the events. A read and an event can cross (the
 * event of a write the read already saw arrives after it): a read during which an event for
 * the record arrived is made again, so the value a read settles on is never older than the
 * events heard. Handles run on the page's side of the API (db.get, db.patch and the 'change'
 * event), so they work the same in a worker handle, a follower tab and the writer.
 * @module sloop/client/field-handle
 */
import { SloopError } from '../errors.js';

/** Base of TextHandle and ListHandle; events: 'change'. */
export class FieldHandle extends EventTarget {
  /**
   * @param {EventTarget & {get: Function, patch: Function}} db
   * @param {string} coll
   * @param {string} id
   * @param {string} field
   * @param {any} empty the value of a record or field that does not exist
   * @param {{alongside?: () => object}} [options] alongside: other fields to set in the same
   *   patch as each write (an updatedAt), so an edit stays one operation
   */
  constructor(db, coll, id, field, empty, { alongside = null } = {}) {
    super();
    Object.assign(this, { db, coll, id, field, empty, alongside });
    this.value = empty;
    this.closed = false;
    this.reading = null;
    this.heardDuringRead = false;
    this.onDbChange = (e) => { if (!this.closed) this.onChanges(e.detail); };
    db.addEventListener('change', this.onDbChange);
  }

  /** Whether a change entry ({coll, id, ...}) is about this handle's record. */
  isMine(entry) {
    return entry.coll === this.coll && entry.id === this.id;
  }

  /** Marks a read in flight as stale; subclasses call it for every entry about the record. */
  heard() {
    if (this.reading) this.heardDuringRead = true;
  }

  /**
   * Reads the field again; concurrent calls share one read. Resolves with the value read,
   * which the subclass's `settle` makes current (emitting the difference).
   * @returns {Promise<any>}
   */
  refresh() {
    this.reading ??= this.readSettled().finally(() => { this.reading = null; });
    return this.reading;
  }

  async readSettled() {
    let value;
    do {
      this.heardDuringRead = false;
      const doc = await this.db.get(this.coll, this.id);
      value = doc?.[this.field] ?? this.empty;
    } while (this.heardDuringRead && !this.closed);
    if (!this.closed) this.settle(value);
    return value;
  }

  emit(detail) {
    this.dispatchEvent(new CustomEvent('change', { detail }));
  }

  /**
   * A patch of this field, after checking that `numbers` (indexes, counts) are whole numbers
   * from 0. Rejects with SloopError 'invalid' for those; the core refuses an index past the
   * end with 'invalid' too, and writes nothing.
   */
  write(method, numbers, change) {
    if (this.closed) return Promise.reject(new SloopError('closed', 'the handle is closed'));
    if (!numbers.every((n) => Number.isInteger(n) && n >= 0)) {
      return Promise.reject(new SloopError('invalid', `${method}: indexes and counts are whole numbers from 0`));
    }
    return this.db.patch(this.coll, this.id, { ...this.alongside?.(), [this.field]: change });
  }

  /** Stops following the record. Writes already made go on. */
  close() {
    this.closed = true;
    this.db.removeEventListener('change', this.onDbChange);
  }
}

/**
 * Reads a new handle's value; a failed read closes it.
 * @template {FieldHandle} H
 * @param {H} handle
 * @returns {Promise<H>}
 */
export async function readHandle(handle) {
  try {
    await handle.refresh();
  } catch (e) {
    handle.close();
    throw e;
  }
  return handle;
}
