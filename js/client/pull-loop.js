/**
 * pull-loop.js -- pulls pages until the server has nothing more, with the next page on its way
 * while this one is applied.
 *
 * Pages are applied one after the other, in order, each in its own commit. What overlaps is
 * the server's work on page n + 1 (its query, compression, the transfer) with the client's
 * apply of page n: the core reads the next request from an answer before applying it
 * (pullRequestNext; only for a plain page of the version order, not the last). After the apply,
 * the request the core makes from what it stored is compared with the one read ahead: only an
 * identical request lets the page read ahead be used, so a wrong guess costs a request, never a
 * skipped or repeated change. A page read ahead whose predecessor fails to apply is dropped
 * unread; its failure, if it fails, is reported only if its answer was needed.
 * @module sloop/client/pull-loop
 */

/**
 * @param {object} o
 * @param {(method: string, ...args: any[]) => any} o.call a core call (may return a Promise)
 * @param {(body: string) => Promise<string>} o.post sends a pull request, resolves to the answer text
 * @param {number} o.pageSize records per page asked for
 * @param {(page: number, text: string, more: boolean) => any} [o.onPage] after each page applied
 * @returns {Promise<{pages: number, readAhead: number}>} pages applied, and how many of them came read ahead
 */
export async function pullPages({ call, post, pageSize, onPage }) {
  let answer = post(await call('pullRequest', pageSize));
  let readAhead = 0;
  for (let page = 1; ; page++) {
    const text = await answer;
    const next = await call('pullRequestNext', text, pageSize);
    const ahead = next === null ? null : post(next);
    ahead?.catch(() => {}); // observed below when used; dropped unread otherwise
    const more = await call('pullApply', text);
    await onPage?.(page, text, more);
    if (!more) return { pages: page, readAhead };
    const expected = await call('pullRequest', pageSize);
    if (ahead && expected === next) {
      answer = ahead;
      readAhead += 1;
    } else {
      answer = post(expected);
    }
  }
}
