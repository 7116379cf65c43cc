/**
 * cors.js -- which other origins' pages may call the server, for an app served from its own
 * origin (a dev server, a CDN) rather than by this server. Allowed origins are listed exactly
 * (scheme, host and port, as the browser sends them in `Origin`); none by default, so a
 * server that serves its own pages answers no cross-origin request at all.
 *
 * Rules:
 *   - an allowed origin gets `Access-Control-Allow-Origin: <that origin>` on every answer,
 *     errors included, so the page can read `{code, message}`;
 *   - a preflight (OPTIONS with Access-Control-Request-Method) from an allowed origin is
 *     answered 204 with the methods and headers the API uses (authorization, content-type)
 *     and a max-age; from any other origin (also when none is allowed), 403 `denied`
 *     without CORS headers;
 *   - any other origin gets no CORS headers, so the browser hides the answer from the page;
 *   - `Vary: Origin` on every answer once any origin is allowed, because the answer then
 *     depends on that header and a shared cache must not hand one origin's copy to another;
 *   - no `Access-Control-Allow-Credentials`: the API authenticates with bearer tokens in the
 *     Authorization header, never with cookies, so a page has no reason to send credentials
 *     and the browser refuses a credentialed request, which keeps ambient cookies of this
 *     origin out of cross-origin calls.
 * @module sloop/server/cors
 */
import { HttpError } from './errors.js';

export const ALLOWED_METHODS = 'GET, HEAD, POST';
export const ALLOWED_HEADERS = 'authorization, content-type';
export const DEFAULT_MAX_AGE_SECONDS = 600;

/**
 * Checks one configured origin: `scheme://host[:port]`, no path, no trailing slash, as a
 * browser serialises it, since matching is exact.
 * @param {unknown} origin
 * @returns {string|null} why it is not one, or null
 */
export function originProblem(origin) {
  if (typeof origin !== 'string') return 'must be a string';
  let url;
  try {
    url = new URL(origin);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be http: or https:';
  if (url.origin !== origin) return `must be written as the browser sends it: ${JSON.stringify(url.origin)}`;
  return null;
}

/**
 * Builds the CORS rules for a server.
 * @param {{origins?: string[], maxAgeSeconds?: number}} [options]
 * @returns {{apply: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => boolean}}
 *   `apply` sets the headers for one request, answers a preflight itself and then returns true
 * @throws {Error} for an origin that could never match
 */
export function corsPolicy({ origins = [], maxAgeSeconds = DEFAULT_MAX_AGE_SECONDS } = {}) {
  for (const o of origins) {
    const problem = originProblem(o);
    if (problem) throw new Error(`CORS origin ${JSON.stringify(o)} ${problem}`);
  }
  if (!Number.isSafeInteger(maxAgeSeconds) || maxAgeSeconds < 0) throw new Error('CORS maxAgeSeconds must be a whole number >= 0');
  const allowed = new Set(origins);

  return {
    apply(req, res) {
      const origin = req.headers.origin;
      const ok = typeof origin === 'string' && allowed.has(origin);
      const preflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
      if (allowed.size > 0) res.setHeader('vary', 'Origin');
      if (preflight && !ok) throw new HttpError(403, 'denied', 'this origin may not call the server');
      if (!ok) return false;
      res.setHeader('access-control-allow-origin', origin);
      if (!preflight) return false;
      res.writeHead(204, {
        'access-control-allow-methods': ALLOWED_METHODS,
        'access-control-allow-headers': ALLOWED_HEADERS,
        'access-control-max-age': String(maxAgeSeconds),
        'cache-control': 'no-store',
        'content-length': 0,
      });
      res.end();
      return true;
    },
  };
}
