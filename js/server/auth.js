/**
 * auth.js -- who may sign in, and with which grants. The sync server does not care how a
 * person proves who they are; it asks an auth hook (docs/SERVER.md, "Auth hook"):
 *
 *   login(credentials, info)  -> {tenant, user, read, write} | null      required
 *   lookup({tenant, user})    -> {read, write} | null                    optional
 *
 * `login` sees the body of POST /v1/login less `device` (a user name and password, a token from
 * the app's own identity provider, whatever the app's sign-in page sends) and answers who that
 * is, or null to refuse (401). The server then issues its own tokens.
 *
 * `lookup` is asked on every later request (refresh, push, pull, me) for the user's current
 * grants, so a removed user or a narrowed grant takes effect at once. A hook without it has
 * its grants carried in the signed tokens instead: they hold until the user signs in again
 * (at most the offline token's lifetime).
 *
 * usersFileAuth() is the built-in hook over a users file (scrypt hashes, passwords.js).
 * @module sloop/server/auth
 */
import { HttpError } from './errors.js';
import { parseHash, verifyPassword } from './passwords.js';
import { isGrant } from './permissions.js';
import { isTenantId } from './tenants.js';

/**
 * @typedef {'*'|string[]} Grant every collection, or the listed ones
 * @typedef {{tenant: string, user: string, read: Grant, write: Grant}} Identity what login answers
 * @typedef {object} AuthHook
 * @property {(credentials: Record<string, unknown>, info: {device?: string, headers: Record<string, string|string[]|undefined>}) => Promise<Identity|null>|Identity|null} login
 * @property {(who: {tenant: string, user: string}) => Promise<{read: Grant, write: Grant}|null>|{read: Grant, write: Grant}|null} [lookup]
 * @property {string} [refusedMessage] the message of the 401 when login answers null
 */


/**
 * Checks what a hook's login answered; a wrong shape is the hook's bug, not the user's.
 * @param {unknown} who
 * @returns {Identity}
 */
export function checkIdentity(who) {
  const what = (m) => new Error(`auth hook: login answered ${m}`);
  if (who === null || typeof who !== 'object') throw what('neither an object nor null');
  if (!isTenantId(who.tenant)) throw what('a tenant not matching [a-z0-9-]{1,64}');
  if (typeof who.user !== 'string' || who.user === '' || who.user.length > 256) throw what('a user that is not a string of 1 to 256 characters');
  if (!isGrant(who.read) || !isGrant(who.write)) throw what('read/write that are not "*" or a list of collections');
  return { tenant: who.tenant, user: who.user, read: who.read, write: who.write };
}

/**
 * Checks a hook module's exports.
 * @param {unknown} hook
 * @param {string} where for messages (the module's path)
 * @returns {AuthHook}
 */
export function checkAuthHook(hook, where) {
  if (typeof hook?.login !== 'function') throw new Error(`${where}: an auth hook must export an async function login(credentials, info)`);
  if (hook.lookup !== undefined && typeof hook.lookup !== 'function') throw new Error(`${where}: lookup, when exported, must be a function`);
  return hook;
}

/**
 * Checks a users table once at start, so a typo fails loudly instead of at someone's login.
 * @param {unknown} users
 * @param {string} [where] for messages (the file's path)
 */
export function checkUsers(users, where = 'users') {
  if (users === null || typeof users !== 'object' || Array.isArray(users)) {
    throw new Error(`${where}: must be an object mapping user names to {tenant, password, read, write}`);
  }
  const isOptionalGrant = (g) => g === undefined || isGrant(g);
  for (const [name, u] of Object.entries(users)) {
    if (!isTenantId(u?.tenant)) throw new Error(`${where}: user ${name}: tenant must match [a-z0-9-]{1,64}`);
    if (!parseHash(u.password)) throw new Error(`${where}: user ${name}: password must be a scrypt hash (make one with node js/server/passwords.js)`);
    if (!isOptionalGrant(u.read) || !isOptionalGrant(u.write)) throw new Error(`${where}: user ${name}: read/write must be "*" or a list`);
  }
}

const requireString = (value, what, max) => {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw new HttpError(400, 'invalid', `${what} must be a non-empty string of at most ${max} characters`);
  }
  return value;
};

/**
 * The built-in hook: users and scrypt hashes from a table (a users file), looked up again on
 * every request, so editing the file and restarting the server takes effect for every token.
 * @param {Record<string, {tenant: string, password: string, read?: Grant, write?: Grant}>} users
 * @returns {AuthHook}
 */
export function usersFileAuth(users) {
  checkUsers(users);
  const table = new Map(Object.entries(users));
  const grantsOf = (u) => ({ read: u.read ?? [], write: u.write ?? [] });
  return {
    refusedMessage: 'wrong user or password',
    async login({ user, password }) {
      const name = requireString(user, 'user', 256);
      requireString(password, 'password', 1024);
      const u = table.get(name);
      // An unknown user costs the same scrypt work as a wrong password (verifyPassword).
      if (!(await verifyPassword(password, u?.password))) return null;
      return { tenant: u.tenant, user: name, ...grantsOf(u) };
    },
    lookup({ tenant, user }) {
      const u = table.get(user);
      return u && u.tenant === tenant ? grantsOf(u) : null;
    },
  };
}
