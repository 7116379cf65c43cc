/**
 * permissions.js -- what a user may read and write, and the cheap checks the HTTP layer makes
 * before a request reaches the tenant store.
 *
 * The authority is the core: it gets the permissions in ctx.perms and rejects each operation
 * on its own (an op on a collection the user may not write is `rejected` with `denied`, the
 * rest of the batch goes on, so one forbidden op cannot wedge a client's queue). That holds
 * for a user who may write nothing too: each of their operations is rejected `denied`, so the
 * client shows each one as failed, with its code, instead of retrying a refused request. The
 * checks here only refuse requests that could never succeed in part, before any work:
 *   - a pull naming a collection the user may not read, or from a user who may read
 *     nothing: 403 `denied` (a pull is one question; there is no part to answer);
 *   - a push holding a `stepUp` operation when the password was checked more than
 *     stepUpMaxAgeMs ago: 403 `stepup`, the whole batch, before the core sees it. Refusing it
 *     per operation would let the core record a rejection under the op's id, and the
 *     idempotent replay after the user signs in again would return that rejection forever.
 * @module sloop/server/permissions
 */
import { HttpError } from './errors.js';

/**
 * @typedef {'*'|string[]} Grant every collection, or the listed ones
 * @typedef {{read: Grant, write: Grant, stepUp: boolean}} Perms what ctx.perms carries
 */

/** Whether `g` is a grant: "*" or a list of collection names. */
export const isGrant = (g) => g === '*' || (Array.isArray(g) && g.every((c) => typeof c === 'string'));

/** @param {Grant} grant @param {string} coll */
export function grants(grant, coll) {
  return grant === '*' || (Array.isArray(grant) && grant.includes(coll));
}

const isEmpty = (grant) => Array.isArray(grant) && grant.length === 0;

/**
 * The permissions for one request.
 * @param {{read?: Grant, write?: Grant}} user the user's config entry
 * @param {boolean} fresh whether the password was checked within the step-up window
 * @returns {Perms}
 */
export function permsFor(user, fresh) {
  return { read: user.read ?? [], write: user.write ?? [], stepUp: fresh };
}

/**
 * Refuses a push that cannot succeed in part (see the module comment).
 * @param {{ops: object[]}} body a push body whose `ops` is an array
 * @param {Perms} perms
 * @param {number} stepUpMaxAgeMs for the message
 * @throws {HttpError} 403 `stepup`
 */
export function precheckPush(body, perms, stepUpMaxAgeMs) {
  if (body.ops.length === 0) return;
  const needsStepUp = body.ops.find((op) => op !== null && typeof op === 'object' && op.stepUp === true);
  if (needsStepUp && !perms.stepUp) {
    const minutes = Math.round(stepUpMaxAgeMs / 60_000);
    throw new HttpError(403, 'stepup', `operation ${JSON.stringify(String(needsStepUp.id))} needs a sign-in `
      + `with password within the last ${minutes} minutes; sign in again and retry the batch`);
  }
}

/**
 * Refuses a pull that asks for what the user may not read.
 * @param {{scope?: {collections?: unknown}}} body
 * @param {Perms} perms
 * @throws {HttpError} 403 `denied`
 */
export function precheckPull(body, perms) {
  if (isEmpty(perms.read)) throw new HttpError(403, 'denied', 'this user may not read');
  const colls = body.scope?.collections;
  if (!Array.isArray(colls)) return;
  const forbidden = colls.find((c) => typeof c === 'string' && !grants(perms.read, c));
  if (forbidden !== undefined) throw new HttpError(403, 'denied', `this user may not read ${JSON.stringify(forbidden)}`);
}
