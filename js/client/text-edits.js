/**
 * text-edits.js -- splices of a string, as the core's text change events carry them: an edit
 * is [index, deleteCount, inserted], indexes in UTF-16 code units (a JS string's own), a list
 * of edits applies in order, each to the result of the one before. Pure functions only: the
 * text handle and the textarea binding build on them, and tests call them directly.
 * @module sloop/client/text-edits
 */

/**
 * A string with `edits` applied, or null when one of them does not fit it (an index past the
 * end: the edits were made against another value).
 * @param {string} text
 * @param {Array<[number, number, string]>} edits
 * @returns {string|null}
 */
export function applyEdits(text, edits) {
  for (const [index, deleteCount, inserted] of edits) {
    if (index + deleteCount > text.length) return null;
    text = text.slice(0, index) + inserted + text.slice(index + deleteCount);
  }
  return text;
}

/**
 * Where a caret at `index` belongs after `edits`, so that it stays on the same text.
 * Text inserted exactly at the caret goes after it: a user typing there keeps typing at the
 * end of their own words, not in the middle of someone else's. A caret inside replaced text
 * keeps its offset into the replacement, cut to its length (a deletion: where it was).
 * @param {number} index
 * @param {Array<[number, number, string]>} edits
 * @returns {number}
 */
export function mapIndex(index, edits) {
  for (const [at, deleteCount, inserted] of edits) {
    if (index <= at) continue;
    index = index >= at + deleteCount ? index - deleteCount + inserted.length : at + Math.min(index - at, inserted.length);
  }
  return index;
}

const isHigh = (code) => code >= 0xd800 && code <= 0xdbff;
const isLow = (code) => code >= 0xdc00 && code <= 0xdfff;

/**
 * The one splice that turns `before` into `after`: the common prefix and suffix are kept.
 * Where they are ambiguous (typing "a" into "aa"), `caret` -- where the caret is in `after`,
 * e.g. a textarea's selectionEnd after an input event -- says where the change ended: the
 * suffix is no longer than what follows it. Without it the prefix is the longest. A surrogate pair is never cut (the core refuses
 * an index inside one). Null when the strings are equal.
 * @param {string} before
 * @param {string} after
 * @param {number} [caret]
 * @returns {[number, number, string]|null}
 */
export function spliceBetween(before, after, caret) {
  if (before === after) return null;
  const shorter = Math.min(before.length, after.length);
  const commonEnd = (limit) => {
    let n = 0;
    while (n < limit && before[before.length - 1 - n] === after[after.length - 1 - n]) n++;
    return n;
  };
  const commonStart = (limit) => {
    let n = 0;
    while (n < limit && before[n] === after[n]) n++;
    return n;
  };
  let prefix, suffix;
  if (caret === undefined) {
    prefix = commonStart(shorter);
    suffix = commonEnd(shorter - prefix);
  } else {
    suffix = commonEnd(Math.min(shorter, Math.max(0, after.length - caret)));
    prefix = commonStart(shorter - suffix);
  }
  if (prefix > 0 && isHigh(before.charCodeAt(prefix - 1))) prefix--;
  if (suffix > 0 && isLow(before.charCodeAt(before.length - suffix))) suffix--;
  return [prefix, before.length - prefix - suffix, after.slice(prefix, after.length - suffix)];
}
