/**
 * search-query.js -- turns what a user typed into a safe FTS5 query.
 *
 * FTS5 gives meaning to quotes, parentheses, `*`, `^`, `:`, `-`, `+` and the bare words AND,
 * OR, NOT and NEAR; passed through, `pump "4` is a syntax error and `title:x` a column filter.
 * Here every whitespace-separated word becomes a quoted string (inner quotes doubled), which
 * FTS5 treats as plain text to tokenize, and the words are ANDed. The last word is a prefix
 * match (`"pum"*`), so results follow typing. Nothing the user types can reach FTS5's syntax.
 * @module sloop/client/search-query
 */

/**
 * @param {string} text user input, any characters
 * @returns {string|null} an FTS5 MATCH expression, or null when there is nothing to search for
 */
export function toFtsQuery(text) {
  // Words are split as the unicode61 tokenizer would see them: runs of letters and digits.
  // Punctuation alone ("--", "**") would make an empty phrase, which matches nothing useful.
  const words = String(text ?? '').split(/\s+/).filter((w) => /[\p{L}\p{N}]/u.test(w));
  if (words.length === 0) return null;
  return words.map((w, i) => {
    const quoted = `"${w.replaceAll('"', '""')}"`;
    return i === words.length - 1 ? `${quoted}*` : quoted;
  }).join(' ');
}
