/**
 * errors.js -- the one error class of the API, and its one wire format.
 *
 * Every rejection and throw of Sloop is a SloopError with a stable string `code`: the core's
 * codes (sloop.h SLOOP_ERRORS), the protocol's, and the client's own ('network', 'timeout',
 * 'closed', ...). One condition has one code wherever it is met: a closed database is 'closed'
 * in the handle, the engine and the persistence layer alike.
 *
 * Errors cross realms (a worker, another tab) as plain objects (`toWire`), because an Error's
 * own fields do not all survive the structured clone, and become SloopErrors again on the other
 * side (`fromWire`). Nothing else builds or reads that shape.
 * @module sloop/errors
 */

/** Error thrown by every Sloop call, with a stable string `code`. */
export class SloopError extends Error {
  /**
   * @param {string} code stable identifier, e.g. 'json', 'immutable', 'drift', 'closed'
   * @param {string} message human-readable detail
   */
  constructor(code, message) {
    super(message);
    this.name = 'SloopError';
    this.code = code;
  }
}

/** The message every call on a closed database rejects with. */
export function closedError() {
  return new SloopError('closed', 'the database is closed');
}

/**
 * An error as a structured-cloneable object: {code, message, kind?, status?, cause?}. An error
 * without a code (a bug, a TypeError) crosses as 'internal'. Its `cause` (the IndexedDB error
 * behind a 'storage' or 'quota' one) crosses as {name, message}: an error object of the
 * browser's need not survive the clone, and those two say what happened.
 * @param {unknown} error
 * @returns {{code: string, message: string, kind?: string, status?: number, cause?: {name: string, message: string}}}
 */
export function toWire(error) {
  const wire = { code: error?.code ?? 'internal', message: String(error?.message ?? error) };
  if (error?.kind !== undefined) wire.kind = error.kind;
  if (error?.status !== undefined) wire.status = error.status;
  const cause = error?.cause;
  if (cause !== undefined && cause !== null) {
    wire.cause = { name: String(cause.name ?? 'Error'), message: String(cause.message ?? cause) };
  }
  return wire;
}

/**
 * The SloopError a wire error stands for; a cause comes back as an Error of its name and message.
 * @param {{code?: string, message?: string, kind?: string, status?: number, cause?: {name?: string, message?: string}}} wire
 * @returns {SloopError}
 */
export function fromWire(wire) {
  const error = new SloopError(wire?.code ?? 'internal', wire?.message ?? 'unknown error');
  if (wire?.kind !== undefined) error.kind = wire.kind;
  if (wire?.status !== undefined) error.status = wire.status;
  if (wire?.cause) {
    error.cause = new Error(String(wire.cause.message ?? ''));
    error.cause.name = String(wire.cause.name ?? 'Error');
  }
  return error;
}
