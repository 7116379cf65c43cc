/**
 * passwords.js -- scrypt password hashes in one self-describing string,
 * `scrypt$<N>$<r>$<p>$<salt base64url>$<hash base64url>`, so the cost can be raised later
 * without invalidating stored hashes. Verification is constant-time in the hash and takes the
 * same path for unknown users (see verifyPassword), so timing does not reveal who exists.
 *
 * `node js/server/passwords.js <password>` prints a hash for a config file.
 * @module sloop/server/passwords
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scryptAsync = promisify(scrypt);

/** Cost for new hashes: 16 MiB and roughly 50 ms per check on a 2020s core. */
const DEFAULT_COST = { N: 16384, r: 8, p: 1 };
const KEY_BYTES = 32;
// Bounds on what a stored hash may ask for, so a bad config cannot make login allocate
// gigabytes: 128 * N * r bytes must stay under MAX_MEM.
const MAX_MEM = 64 * 1024 * 1024;
const HASH_RE = /^scrypt\$(\d{1,7})\$(\d{1,2})\$(\d{1,2})\$([A-Za-z0-9_-]{16,88})\$([A-Za-z0-9_-]{43})$/;

/**
 * Hashes a password with a fresh random salt.
 * @param {string} password
 * @param {{N?: number, r?: number, p?: number}} [cost] lower it only in tests
 * @returns {Promise<string>} the encoded hash
 */
export async function hashPassword(password, { N, r, p } = DEFAULT_COST) {
  const salt = randomBytes(16);
  const key = await scryptAsync(password.normalize('NFC'), salt, KEY_BYTES, { N, r, p, maxmem: MAX_MEM });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/**
 * Parses an encoded hash, or returns null when it is not one this module wrote.
 * @param {string} encoded
 */
export function parseHash(encoded) {
  const m = typeof encoded === 'string' ? HASH_RE.exec(encoded) : null;
  if (!m) return null;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const powerOfTwo = N >= 2 && (N & (N - 1)) === 0;
  if (!powerOfTwo || r < 1 || p < 1 || 128 * N * r >= MAX_MEM) return null;
  return { N, r, p, salt: Buffer.from(m[4], 'base64url'), key: Buffer.from(m[5], 'base64url') };
}

// Checked against when the user does not exist, so that case costs the same scrypt work.
const DECOY = parseHash(`scrypt$${DEFAULT_COST.N}$8$1$${'A'.repeat(22)}$${'A'.repeat(43)}`);

/**
 * Checks a password against an encoded hash. A missing or unparsable hash (unknown user)
 * still runs scrypt on a decoy and answers false.
 * @param {string} password
 * @param {string|undefined} encoded
 * @returns {Promise<boolean>}
 */
export async function verifyPassword(password, encoded) {
  const parsed = parseHash(encoded);
  const { N, r, p, salt, key } = parsed ?? DECOY;
  const candidate = await scryptAsync(String(password).normalize('NFC'), salt, key.length,
    { N, r, p, maxmem: MAX_MEM });
  return timingSafeEqual(candidate, key) && parsed !== null;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.length !== 3) {
    console.error('usage: node js/server/passwords.js <password>');
    process.exit(2);
  }
  console.log(await hashPassword(process.argv[2]));
}
