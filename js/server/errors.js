/**
 * errors.js -- the server's one error class and the table that turns core error codes into HTTP
 * statuses. Every failure a client can see is `{code, message}` with a stable `code` (see
 * docs/PROTOCOL.md, Errors); anything not in the table is a bug and becomes 500 `internal`.
 * @module sloop/server/errors
 */
import { deadline } from '../deadline.js';

/** A failure with an HTTP status and a stable protocol `code`, answered as `{code, message}`. */
export class HttpError extends Error {
  /**
   * @param {number} status HTTP status, 4xx or 5xx
   * @param {string} code stable identifier, e.g. 'toobig'
   * @param {string} message detail for people; never secrets or internals
   * @param {Record<string, string>} [headers] extra response headers (Allow, WWW-Authenticate)
   */
  constructor(status, code, message, headers = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/**
 * HTTP status for each core (SloopError) code a request can cause. Codes that mean the server
 * itself failed (nomem, storage, corrupt, merge) are deliberately absent: they are logged and
 * answered as 500 `internal`, so the detail stays in the log.
 */
const CORE_STATUS = {
  json: 400,
  invalid: 400,
  schema: 400,
  drift: 400,
  cursor: 400,
  immutable: 400,
  transition: 409,
  deleted: 409,
  notfound: 404,
  denied: 403,
  device: 403,
  resync: 410,
  toobig: 413,
  busy: 503,
};

/**
 * Turns what a tenant store threw into an HttpError, or returns null when it is a bug.
 * @param {unknown} err typically a SloopError {code, message}
 * @returns {HttpError|null}
 */
export function fromStoreError(err) {
  if (err instanceof HttpError) return err;
  const code = err && typeof err === 'object' ? err.code : undefined;
  if (typeof code !== 'string' || !Object.hasOwn(CORE_STATUS, code)) return null;
  return new HttpError(CORE_STATUS[code], code, String(err.message ?? code));
}

/**
 * `promise`, or a 503 `timeout` once `ms` have passed without it settling. The work itself
 * goes on (a hook's promise cannot be cancelled); only its answer is given up, which a client
 * retries (a push is answered idempotently the second time).
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms none when not a positive finite number
 * @param {string} what named in the message, e.g. 'POST /v1/push'
 * @returns {Promise<T>}
 */
export function withinTime(promise, ms, what) {
  // A request cut at shutdown leaves its work pending: its timer must not keep Node running.
  return deadline(promise, ms, () => new HttpError(503, 'timeout', `${what} did not finish within ${ms} ms; try again`), { unref: true });
}
