/**
 * deadline.js -- a promise bounded in time: the client's requests, sign-ins and token calls,
 * the server's handlers and its shutdown all give up on work that never settles this one way.
 * @module sloop/deadline
 */

/**
 * `promise`, or a rejection with the error `late()` returns once `ms` have passed without it
 * settling. The work itself goes on (a promise cannot be cancelled); `late` may abort it. No
 * bound for ms <= 0 or Infinity.
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {() => Error} late called once, at the deadline
 * @param {{unref?: boolean}} [options] unref: in Node, the timer does not keep the process
 *   alive (a request cut at shutdown leaves its work pending)
 * @returns {Promise<T>}
 */
export function deadline(promise, ms, late, { unref = false } = {}) {
  if (!(ms > 0 && ms < Infinity)) return promise;
  let timer;
  const expired = new Promise((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
    if (unref) timer.unref?.();
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
