/**
 * body.js -- reads a request body as one JSON object, refusing early and cheaply: the
 * content type and declared length before any byte is read, the byte count while streaming
 * (a chunked body has no declared length), a deadline for bodies that trickle in, then strict
 * UTF-8 and JSON. It does not look inside the object; the routes do.
 * @module sloop/server/body
 */
import { HttpError } from './errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Refuses a request whose headers already show it cannot be read: wrong media type, a
 * compressed body, or a declared length over the limit.
 * @param {import('node:http').IncomingMessage} req
 * @param {number} maxBytes
 * @throws {HttpError} 415 `unsupported_media_type` or 413 `toobig`
 */
function checkHeaders(req, maxBytes) {
  const type = (req.headers['content-type'] ?? '').toLowerCase().replace(/\s+/g, '');
  if (type !== 'application/json' && type !== 'application/json;charset=utf-8') {
    throw new HttpError(415, 'unsupported_media_type', 'content-type must be application/json (UTF-8)');
  }
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
    throw new HttpError(415, 'unsupported_media_type', 'compressed request bodies are not accepted');
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    throw new HttpError(413, 'toobig', `body of ${declared} bytes is over the ${maxBytes}-byte limit`);
  }
}

/**
 * Collects the body bytes, stopping at the limit or the deadline.
 * @returns {Promise<Buffer>}
 */
function collect(req, maxBytes, timeoutMs) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    const finish = (err, value) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onError).off('aborted', onAborted);
      // Stop reading: the caller answers and closes the connection; the rest is never buffered.
      if (err) req.pause();
      err ? reject(err) : resolve(value);
    };
    const onData = (chunk) => {
      size += chunk.length;
      if (size > maxBytes) finish(new HttpError(413, 'toobig', `body is over the ${maxBytes}-byte limit`));
      else chunks.push(chunk);
    };
    const onEnd = () => finish(null, Buffer.concat(chunks, size));
    const onError = (e) => finish(new HttpError(400, 'invalid', `request stream failed: ${e.code ?? e.message}`));
    const onAborted = () => finish(new HttpError(400, 'invalid', 'request aborted'));
    const timer = setTimeout(
      () => finish(new HttpError(408, 'timeout', `body not received within ${timeoutMs} ms`)), timeoutMs);
    req.on('data', onData).on('end', onEnd).on('error', onError).on('aborted', onAborted);
  });
}

/**
 * Reads and parses a JSON object body.
 * @param {import('node:http').IncomingMessage} req
 * @param {{maxBytes: number, timeoutMs: number}} limits
 * @returns {Promise<object>} the parsed object (never an array or null)
 * @throws {HttpError} 400 `json` / `invalid`, 408 `timeout`, 413 `toobig`, 415
 */
export async function readJsonObject(req, { maxBytes, timeoutMs }) {
  checkHeaders(req, maxBytes);
  const bytes = await collect(req, maxBytes, timeoutMs);
  let value;
  try {
    value = JSON.parse(utf8.decode(bytes));
  } catch (e) {
    const what = e instanceof TypeError ? 'body is not valid UTF-8' : `body is not JSON: ${e.message}`;
    throw new HttpError(400, 'json', what);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HttpError(400, 'invalid', 'body must be a JSON object');
  }
  return value;
}

/**
 * Checks a parsed body before it is serialised again for the core: it nests no deeper than
 * `maxDepth` (JSON.stringify recurses and would overflow the stack), and no key or string
 * holds U+0000. The core's strings are C strings, so `"notes\u0000x"` would reach it as
 * `notes` and `"n1\u0000x"` as record `n1`: a name other than the one the checks here saw.
 * Walks without recursion.
 * @param {unknown} value
 * @param {number} maxDepth
 * @throws {HttpError} 400 `invalid`
 */
export function checkStructure(value, maxDepth) {
  const stack = [[value, 1]];
  const nul = () => new HttpError(400, 'invalid', 'JSON strings and keys may not hold U+0000');
  while (stack.length) {
    const [node, depth] = stack.pop();
    if (typeof node === 'string' && node.includes('\0')) throw nul();
    if (node === null || typeof node !== 'object') continue;
    if (depth > maxDepth) throw new HttpError(400, 'invalid', `JSON nests deeper than ${maxDepth} levels`);
    for (const [key, child] of Object.entries(node)) {
      if (key.includes('\0')) throw nul();
      stack.push([child, depth + 1]);
    }
  }
}
