/**
 * worker-messages.js -- what the page and the engine's dedicated worker say to each other.
 * Message shapes live here only.
 *
 *   page -> worker   {type: 'open', options, env}          options without functions
 *   worker -> page   {type: 'opened', device, status} | {type: 'open-failed', error}
 *   page -> worker   {type: 'call', id, method, args}      answered by 'reply'
 *   worker -> page   {type: 'reply', id, result?, error?}
 *   worker -> page   {type: 'event', event, detail}        status, change, conflict, failed, error
 *   page -> worker   {type: 'env', online, hidden}         the page's network and visibility
 *   worker -> page   {type: 'auth', id, op}                op 'getToken' | 'refresh'
 *   page -> worker   {type: 'auth-reply', id, result?, error?}
 * @module sloop/client/worker-messages
 */
import { SloopError } from '../core.js';

/** The methods of a Sloop handle the page may call in the worker. */
export const WORKER_METHODS = new Set([
  'put', 'putMany', 'patch', 'delete', 'get', 'query', 'search', 'recordState', 'conflicts', 'resolve',
  'failedOps', 'retry', 'discard', 'sync', 'pause', 'resume', 'close', 'persistentCall',
]);

/** An error as a structured-cloneable object (an Error's own fields do not all survive). */
export function errorToWire(e) {
  return { code: e?.code ?? 'internal', message: String(e?.message ?? e), kind: e?.kind, status: e?.status };
}

/** The SloopError a wire error stands for. */
export function errorFromWire(w) {
  const err = new SloopError(w?.code ?? 'internal', w?.message ?? 'unknown error');
  if (w?.kind !== undefined) err.kind = w.kind;
  if (w?.status !== undefined) err.status = w.status;
  return err;
}

/** Event details with errors in them, made cloneable. */
export function detailToWire(event, detail) {
  return event === 'error' ? { error: errorToWire(detail?.error) } : detail;
}
