/**
 * session.js -- who is signed in on this device, and their tokens, kept in localStorage so the
 * app starts offline: a device that signed in once opens its notes without the network.
 *
 * Two tokens (docs/PROTOCOL.md, Auth): the access token (an hour) for sync, and the offline
 * token (30 days) that only buys new access tokens from /v1/refresh. When both have expired
 * the user signs in again; until then nothing on the device is touched, pending changes
 * included. The app never parses tokens: expiry comes from the login and refresh answers.
 *
 * Deliberately left out: encrypting the tokens at rest (anyone with this browser profile can
 * read the notes offline anyway) and several accounts per device.
 */

const STORAGE_KEY = 'sloop-fieldnotes-session';

/** A sign-in the server refused (wrong password) or that could not reach it (offline). */
export class SignInError extends Error {
  /** @param {'denied'|'offline'|'server'} reason */
  constructor(reason, message) {
    super(message);
    this.reason = reason;
  }
}

/**
 * @typedef {object} Session
 * @property {string} user
 * @property {string} tenant
 * @property {string} token access token
 * @property {number} expiresAt
 * @property {string} offlineToken
 * @property {number} offlineExpiresAt
 */

/** The saved session, or null when nobody signed in on this device. */
export function loadSession() {
  try {
    const session = JSON.parse(localStorage.getItem(STORAGE_KEY));
    return session?.user && session?.offlineToken ? session : null;
  } catch {
    return null;
  }
}

function saveSession(session) {
  localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  return session;
}

/** Posts to the sync server; a fetch that rejects means no network. */
async function post(path, { body, bearer } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  try {
    return await fetch(path, { method: 'POST', headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new SignInError('offline', 'No connection to the server. Signing in needs the network.');
  }
}

/**
 * Signs in with a password and saves the session. The tokens are bound to `device` (the
 * database's device id): they cannot sync another device's operations.
 * @returns {Promise<Session>}
 * @throws {SignInError}
 */
export async function signIn(user, password, device) {
  const res = await post('/v1/login', { body: { user, password, device } });
  if (res.status === 401) throw new SignInError('denied', 'That user name and password do not match.');
  if (!res.ok) throw new SignInError('server', `The server could not sign you in (HTTP ${res.status}).`);
  const answer = await res.json();
  return saveSession({
    user: answer.user, tenant: answer.tenant, token: answer.token, expiresAt: answer.expiresAt,
    offlineToken: answer.offlineToken, offlineExpiresAt: answer.offlineExpiresAt,
  });
}

/**
 * Trades the offline token for a new access token and saves it.
 * @returns {Promise<string|null>} the new token, or null when the offline token is no longer
 *   accepted (the user must sign in again)
 * @throws {SignInError} 'offline' when the server cannot be reached: try again later
 */
export async function refreshSession() {
  const session = loadSession();
  if (!session) return null;
  const res = await post('/v1/refresh', { bearer: session.offlineToken });
  if (res.status === 401) return null;
  if (!res.ok) throw new SignInError('server', `Refresh failed (HTTP ${res.status}).`);
  const answer = await res.json();
  saveSession({ ...session, token: answer.token, expiresAt: answer.expiresAt });
  return answer.token;
}

/**
 * Forgets the session and the service worker's copies of API answers (keyed by URL, not by
 * user: the next person on this browser must not read them). The notes database stays: it
 * belongs to this user and opens again when they sign in.
 */
export async function signOut() {
  localStorage.removeItem(STORAGE_KEY);
  if ('caches' in self) await caches.delete('sloop-api');
}
