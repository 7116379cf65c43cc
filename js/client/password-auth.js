/**
 * password-auth.js -- signing in with a user name and password against the reference server
 * (POST /v1/login), keeping the tokens, and renewing the access token (POST /v1/refresh): the
 * `auth` provider openSloop needs, for apps that use the server's own users.
 *
 * ```js
 * const auth = passwordAuth({ serverUrl: location.origin });
 * const db = await openSloop({ name: 'shop', user: 'alice', serverUrl: location.origin, schema, auth });
 * await auth.signIn('alice', password, db.device);
 * ```
 *
 * What is kept, in the storage the app passes (default: localStorage where there is one, else
 * memory): the user, tenant, access token (an hour) and offline token (30 days), under one key.
 * Kept so that an app started offline knows who was signed in and which database to open, and
 * a device offline for days resumes without the password. Every call reads the storage again,
 * so a sign-in or sign-out in one tab reaches the tab that syncs.
 *
 * Tokens are never parsed (docs/PROTOCOL.md): expiry is the server's to say. Not here: an
 * identity provider of the app's own (write an `{getToken, refresh}` of your own), and
 * encrypting the tokens at rest (anyone with the browser profile can read the local data too).
 * @module sloop/client/password-auth
 */
import { SloopError } from '../errors.js';
import { withTimeout } from './transport.js';

/**
 * A storage with the Web Storage methods, in memory: the default where there is no
 * localStorage (Node, workers), and what tests use.
 * @returns {{getItem(key: string): string|null, setItem(key: string, value: string): void, removeItem(key: string): void}}
 */
export function memoryStorage() {
  const items = new Map();
  return {
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => { items.set(key, String(value)); },
    removeItem: (key) => { items.delete(key); },
  };
}

/** localStorage when this realm has a usable one (it throws in some privacy modes). */
function defaultStorage() {
  try {
    if (globalThis.localStorage) return globalThis.localStorage;
  } catch { /* denied: fall through */ }
  return memoryStorage();
}

/**
 * @typedef {object} PasswordSession
 * @property {string} user
 * @property {string} tenant
 * @property {string|null} token access token; null once the offline token was refused
 * @property {number} expiresAt
 * @property {string|null} offlineToken
 * @property {number} offlineExpiresAt
 * @property {string} [device] the device the tokens are bound to
 * @property {{read: string|string[], write: string|string[], stepUpMaxAgeMs: number}} permissions
 */

/**
 * Creates a sign-in helper; pass it as openSloop's `auth`.
 * @param {object} [options]
 * @param {string} [options.serverUrl] the sync server; default this page's origin
 * @param {{getItem: Function, setItem: Function, removeItem: Function}} [options.storage]
 *   where the session is kept; default localStorage, or memory where there is none
 * @param {string} [options.key] the storage key; default 'sloop-session'
 * @param {typeof fetch} [options.fetch] default globalThis.fetch
 * @param {number} [options.timeoutMs] how long a sign-in or refresh waits for the whole answer
 *   before it is aborted (SloopError 'timeout'); default 60 s, as openSloop's requestTimeoutMs
 */
export function passwordAuth({ serverUrl = globalThis.location?.origin ?? '', storage = defaultStorage(), key = 'sloop-session', fetch: fetchFn, timeoutMs = 60_000 } = {}) {
  const base = String(serverUrl).replace(/\/+$/, '');
  const doFetch = fetchFn ?? ((...args) => globalThis.fetch(...args));

  /** @returns {PasswordSession|null} */
  const load = () => {
    try {
      const session = JSON.parse(storage.getItem(key));
      return typeof session?.user === 'string' ? session : null;
    } catch {
      return null;
    }
  };
  const save = (session) => storage.setItem(key, JSON.stringify(session));

  /**
   * POSTs; a rejected fetch is a SloopError 'network', an answer not whole within timeoutMs
   * (a server or proxy that takes the request and never answers) 'timeout', any answer is
   * returned. Without the bound a sign-in form would wait for ever.
   */
  async function post(path, { body, bearer }) {
    const headers = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (bearer) headers.authorization = `Bearer ${bearer}`;
    const abort = typeof AbortController === 'function' ? new AbortController() : null;
    const exchange = (async () => {
      const res = await doFetch(`${base}${path}`, {
        method: 'POST', headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store',
        ...(abort ? { signal: abort.signal } : {}),
      });
      return { res, text: await res.text() };
    })();
    let res, text;
    try {
      ({ res, text } = await withTimeout(exchange, timeoutMs, `POST ${path}`, () => abort?.abort()));
    } catch (e) {
      if (e?.timeout) {
        exchange.catch(() => {}); // aborted: its rejection is this one
        throw new SloopError('timeout', e.message);
      }
      throw new SloopError('network', `${path}: ${e?.message ?? e}`);
    }
    let json = null;
    try { json = JSON.parse(text); } catch { /* a proxy's error page */ }
    return { status: res.status, json };
  }

  const refused = ({ status, json }) => new SloopError(json?.code ?? 'http', json?.message ?? `HTTP ${status}`);

  return {
    /** Who signed in last on this browser (kept after the offline token was refused), or null. */
    get user() {
      return load()?.user ?? null;
    },

    /** The signed-in user's tenant, or null. */
    get tenant() {
      return load()?.tenant ?? null;
    },

    /** Whether there are tokens to sync with (the access token may have expired). */
    get signedIn() {
      const session = load();
      return Boolean(session?.token || session?.offlineToken);
    },

    /** The session as kept: user, tenant, tokens, permissions; null when signed out. */
    get session() {
      return load();
    },

    /**
     * Signs in and keeps the session. Pass the database's device id, so the tokens sync that
     * database only (403 `device` from any other).
     * @param {string} user
     * @param {string} password
     * @param {string} [device] db.device
     * @returns {Promise<PasswordSession>}
     * @throws {SloopError} 'unauthenticated' for a wrong user or password, 'network' when
     *   the server cannot be reached, 'timeout' when it took the request and did not answer
     *   within timeoutMs, else the server's code
     */
    async signIn(user, password, device) {
      const answer = await post('/v1/login', { body: { user, password, ...(device ? { device } : {}) } });
      if (answer.status !== 200) throw refused(answer);
      const { json } = answer;
      const session = {
        user: json.user, tenant: json.tenant, token: json.token, expiresAt: json.expiresAt,
        offlineToken: json.offlineToken, offlineExpiresAt: json.offlineExpiresAt,
        ...(json.device ? { device: json.device } : {}), permissions: json.permissions,
      };
      save(session);
      return session;
    },

    /** openSloop calls this before each request: the access token, or null when signed out. */
    getToken() {
      return load()?.token ?? null;
    },

    /**
     * openSloop calls this after 401 `expired`: trades the offline token for a new access
     * token. Resolves null when there is none or the server refuses it (the user must sign in
     * again; the user name is kept, so the app knows whose database to offer).
     * @returns {Promise<string|null>}
     * @throws {SloopError} 'network' when offline, 'timeout' when unanswered, the server's
     *   code on a 5xx: try later
     */
    async refresh() {
      const session = load();
      if (!session?.offlineToken) return null;
      const answer = await post('/v1/refresh', { bearer: session.offlineToken });
      if (answer.status === 401) {
        save({ ...session, token: null, offlineToken: null });
        return null;
      }
      if (answer.status !== 200) throw refused(answer);
      // Read again: a sign-out (or another sign-in) may have happened while this was in flight.
      const now = load();
      if (now?.offlineToken !== session.offlineToken) return now?.token ?? null;
      save({ ...now, token: answer.json.token, expiresAt: answer.json.expiresAt });
      return answer.json.token;
    },

    /**
     * Forgets the session: tokens and user. The user's local database stays, with its
     * pending writes; it syncs again when they sign in (close it first: docs/CLIENT.md, Users).
     */
    signOut() {
      storage.removeItem(key);
    },
  };
}
