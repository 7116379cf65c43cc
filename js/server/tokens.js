/**
 * tokens.js -- signed bearer tokens: `v1.<claims>.<signature>`, both parts base64url, the
 * signature HMAC-SHA256 over `v1.<claims>` with the server secret. Like a JWT without the
 * header: there is one algorithm, so nothing in the token can choose another (the classic
 * `alg: none` hole cannot exist).
 *
 * Claims (times in milliseconds since the epoch, unlike JWT's seconds, to match the protocol):
 *   tid tenant, sub user, dev device (optional), aud audience, iat issued at, exp expiry,
 *   auth when the password was last checked (a refreshed token keeps its login's `auth`, so
 *   step-up freshness cannot be renewed without the password); `rd` and `wr`, the read and
 *   write grants, only when the server's auth hook cannot look a user up again (see
 *   auth.js): the signature then vouches for them until the token expires.
 *
 * Audiences keep token classes apart: an access token (`sloop-sync`) is refused by
 * /v1/refresh and an offline token (`sloop-refresh`) is refused everywhere else.
 *
 * Verification order matters: signature first, so a forged or altered token is
 * `unauthenticated` even when its claimed expiry has passed; then audience; then expiry.
 * @module sloop/server/tokens
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { HttpError } from './errors.js';
import { isGrant } from './permissions.js';

export const AUDIENCE = { access: 'sloop-sync', offline: 'sloop-refresh' };

const TOKEN_RE = /^v1\.([A-Za-z0-9_-]{1,4096})\.([A-Za-z0-9_-]{43})$/;
const TENANT_RE = /^[a-z0-9-]{1,64}$/;
const DEVICE_RE = /^[A-Za-z0-9_-]{1,64}$/;
// Tokens from a server clock a little ahead of this one are accepted; further is forged.
const FUTURE_SKEW_MS = 60_000;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * @typedef {object} Claims
 * @property {string} tid tenant id
 * @property {string} sub user name
 * @property {string} [dev] device id the token was issued for
 * @property {string} aud audience, one of AUDIENCE
 * @property {number} iat issued at (ms)
 * @property {number} exp expiry (ms)
 * @property {number} auth when the password was checked (ms)
 * @property {'*'|string[]} [rd] read grant, when carried in the token
 * @property {'*'|string[]} [wr] write grant, when carried in the token
 */

/** A grant as a token may carry it: a grant (permissions.js) of at most 256 names. */
const isTokenGrant = (g) => isGrant(g) && (g === '*' || g.length <= 256);

function unauthenticated(message) {
  return new HttpError(401, 'unauthenticated', message, { 'www-authenticate': 'Bearer error="invalid_token"' });
}

/** Parses signed claims; anything but the exact shape we issue is refused. */
function parseClaims(part) {
  let claims;
  try {
    claims = JSON.parse(utf8.decode(Buffer.from(part, 'base64url')));
  } catch {
    return null;
  }
  if (!claims || typeof claims !== 'object' || Array.isArray(claims)) return null;
  const times = [claims.iat, claims.exp, claims.auth];
  if (!times.every(Number.isSafeInteger)) return null;
  if (typeof claims.tid !== 'string' || !TENANT_RE.test(claims.tid)) return null;
  if (typeof claims.sub !== 'string' || claims.sub === '' || typeof claims.aud !== 'string') return null;
  if (claims.dev !== undefined && (typeof claims.dev !== 'string' || !DEVICE_RE.test(claims.dev))) return null;
  if ((claims.rd !== undefined || claims.wr !== undefined) && !(isTokenGrant(claims.rd) && isTokenGrant(claims.wr))) return null;
  return claims;
}

/**
 * Creates the issuer and checker of tokens for one secret.
 * @param {object} options
 * @param {Buffer|string} options.secret at least 32 bytes
 * @param {() => number} [options.now] clock in ms; injectable for tests
 * @param {number} [options.accessTtlMs] access token lifetime (default 1 hour)
 * @param {number} [options.offlineTtlMs] offline token lifetime (default 30 days)
 */
export function createTokenService({ secret, now = Date.now, accessTtlMs = 3_600_000, offlineTtlMs = 30 * 86_400_000 }) {
  const key = Buffer.from(secret);
  if (key.length < 32) throw new Error('token secret must be at least 32 bytes');
  const sign = (signed) => createHmac('sha256', key).update(signed).digest();

  return {
    /**
     * Issues a token.
     * @param {'access'|'offline'} kind
     * @param {{tid: string, sub: string, dev?: string, auth: number, rd?: '*'|string[], wr?: '*'|string[]}} subject
     *   `rd` and `wr` are carried only when both are given
     * @returns {{token: string, expiresAt: number}}
     */
    issue(kind, { tid, sub, dev, auth, rd, wr }) {
      const iat = now();
      const exp = iat + (kind === 'offline' ? offlineTtlMs : accessTtlMs);
      const grants = rd !== undefined && wr !== undefined ? { rd, wr } : {};
      const claims = { tid, sub, ...(dev ? { dev } : {}), ...grants, aud: AUDIENCE[kind], iat, exp, auth };
      const signed = `v1.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      return { token: `${signed}.${sign(signed).toString('base64url')}`, expiresAt: exp };
    },

    /**
     * Checks a token for one audience.
     * @param {string} token
     * @param {'access'|'offline'} kind
     * @returns {Claims}
     * @throws {HttpError} 401 `unauthenticated` or 401 `expired`
     */
    verify(token, kind) {
      const m = typeof token === 'string' ? TOKEN_RE.exec(token) : null;
      if (!m) throw unauthenticated('malformed token');
      // Compared as text: base64url decoding ignores the last character's spare bits, so
      // comparing decoded bytes would accept several spellings of one signature.
      const given = Buffer.from(m[2]);
      const expected = Buffer.from(sign(`v1.${m[1]}`).toString('base64url'));
      if (!timingSafeEqual(given, expected)) {
        throw unauthenticated('bad token signature');
      }
      const claims = parseClaims(m[1]);
      if (!claims) throw unauthenticated('malformed token claims');
      if (claims.aud !== AUDIENCE[kind]) throw unauthenticated(`token is not for ${AUDIENCE[kind]}`);
      const t = now();
      if (claims.iat > t + FUTURE_SKEW_MS || claims.auth > claims.iat) throw unauthenticated('token issued in the future');
      if (claims.exp <= t) {
        throw new HttpError(401, 'expired', 'token expired: sign in or refresh', {
          'www-authenticate': 'Bearer error="invalid_token", error_description="expired"',
        });
      }
      return claims;
    },
  };
}

/**
 * Takes the token out of an `Authorization: Bearer <token>` header.
 * @param {string|undefined} header
 * @returns {string}
 * @throws {HttpError} 401 `unauthenticated` when there is none
 */
export function bearerToken(header) {
  const m = typeof header === 'string' ? /^Bearer +(\S+) *$/i.exec(header) : null;
  if (!m) throw new HttpError(401, 'unauthenticated', 'missing bearer token', { 'www-authenticate': 'Bearer' });
  return m[1];
}

export { TENANT_RE, DEVICE_RE };
