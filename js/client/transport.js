/**
 * transport.js -- the HTTP side of sync: one POST to the sync server, its outcome sorted into
 * what the scheduler acts on. Knows the protocol's error shape and nothing about the core.
 *
 * Outcomes (`kind`):
 *   'ok'        200, `text` is the answer body, handed to the core unparsed
 *   'network'   fetch rejected (offline, DNS, connection reset, or the service worker queued
 *               the push), or no whole answer came within the timeout (code 'timeout'): nothing
 *               is known about delivery; retry later
 *   'expired'   401 expired: refresh the access token, or sign in
 *   'reauth'    401 unauthenticated, 403 stepup, or 403 device (the token is bound to another
 *               device, or the device to another user): only a new sign-in helps
 *   'transient' 408, 429, 5xx: the server may answer later; retry with backoff
 *   'refused'   any other 4xx: retrying the same request cannot help
 * @module sloop/client/transport
 */
import { deadline } from '../deadline.js';

/**
 * @typedef {object} PostOutcome
 * @property {'ok'|'network'|'expired'|'reauth'|'transient'|'refused'} kind
 * @property {number} status HTTP status, 0 for 'network'
 * @property {string} [text] answer body ('ok')
 * @property {string} [code] the protocol's error code, or 'network'
 * @property {string} [message]
 */

/**
 * `promise`, or a rejection with a `{timeout: true}` error after `ms` (deadline.js); calls
 * `onTimeout` then (to abort what is in flight). No limit for ms <= 0 or Infinity.
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {string} what said in the message
 * @param {() => void} [onTimeout]
 * @returns {Promise<T>}
 */
export function withTimeout(promise, ms, what, onTimeout) {
  return deadline(promise, ms, () => {
    onTimeout?.();
    return Object.assign(new Error(`${what}: no answer within ${ms} ms`), { timeout: true });
  });
}

/**
 * Posts a body to `${baseUrl}${path}` with a bearer token.
 *
 * A request that stays unanswered (a proxy or server that takes it and never answers, a
 * connection left half open by a sleeping laptop) would hold the sync cycle, and every sync()
 * queued behind it, for ever: after `timeoutMs` without the whole answer the request is
 * aborted and reported as a network failure, which the scheduler retries with backoff. A push
 * repeated after a timeout is answered idempotently by the server.
 * @param {typeof fetch} fetchFn
 * @param {string} baseUrl server base URL, no trailing slash
 * @param {string} path e.g. '/v1/push'
 * @param {string|null} token bearer token (none when null)
 * @param {string|null} body JSON text, or null for an empty POST (refresh)
 * @param {number} [timeoutMs] until the whole answer is read; none when omitted
 * @returns {Promise<PostOutcome>} never rejects
 */
export async function postJson(fetchFn, baseUrl, path, token, body, timeoutMs = Infinity) {
  const headers = {};
  if (body != null) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const abort = typeof AbortController === 'function' ? new AbortController() : null;
  let res, text;
  try {
    const exchange = (async () => {
      res = await fetchFn(`${baseUrl}${path}`, { method: 'POST', headers, body: body ?? undefined, cache: 'no-store', signal: abort?.signal });
      text = await res.text();
    })();
    exchange.catch(() => {}); // a late failure after the timeout is nobody's
    await withTimeout(exchange, timeoutMs, `POST ${path}`, () => abort?.abort());
  } catch (e) {
    if (e?.timeout) return { kind: 'network', status: 0, code: 'timeout', message: e.message };
    return { kind: 'network', status: 0, code: 'network', message: String(e?.message ?? e) };
  }
  if (res.status === 200) return { kind: 'ok', status: 200, text };
  let code = 'http', message = `HTTP ${res.status}`;
  try {
    const parsed = JSON.parse(text);
    if (typeof parsed?.code === 'string') code = parsed.code;
    if (typeof parsed?.message === 'string') message = parsed.message;
  } catch { /* a proxy's HTML error page: keep the status */ }
  return { kind: classify(res.status, code), status: res.status, code, message };
}

/** Sorts an HTTP failure into what the scheduler does about it. */
export function classify(status, code) {
  if (status === 401) return code === 'expired' ? 'expired' : 'reauth';
  if (status === 403 && (code === 'stepup' || code === 'device')) return 'reauth';
  if (status === 408 || status === 429 || status >= 500) return 'transient';
  return 'refused';
}

/**
 * Exponential backoff with "equal jitter": half the step is fixed, half
 * random, so retries from many clients spread out yet never fire at once after an outage.
 * @param {number} attempt 1 for the first retry
 * @param {{baseMs: number, maxMs: number}} backoff
 * @param {() => number} [random] in [0, 1)
 * @returns {number} milliseconds to wait, at most maxMs
 */
export function backoffDelay(attempt, { baseMs, maxMs }, random = Math.random) {
  const step = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(step / 2 + (step / 2) * random());
}
