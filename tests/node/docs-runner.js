// Runs the examples of a Markdown document: every ```js run block, in order, as one module, the
// way a page served by the sync server would run them one after the other (later blocks use
// what earlier ones declared). For tests/node/client-docs.test.js.
//
// What a page has and Node lacks is provided here, nothing more: `location.origin` (the
// server), fetch() of a relative URL (resolved against it), IndexedDB (fake-indexeddb).
// Imports of '/js/...' resolve to this checkout's js/ folder; '/js/sloop.js' to docs-sloop.js,
// which records the databases opened, so that those a failing example left open are closed.
//
// A line `expression; // => value` also checks that the expression equals the value
// (deepStrictEqual), so what the docs say a call answers is verified too.
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual, inspect } from 'node:util';
import 'fake-indexeddb/auto';
import { opened } from './docs-sloop.js';

const jsRoot = new URL('../../js/', import.meta.url).href;
const recordedApi = new URL('./docs-sloop.js', import.meta.url).href;

/**
 * The runnable blocks of a Markdown text.
 * @returns {Array<{line: number, code: string}>} line: where the block's code starts (1-based)
 */
export function runnableBlocks(markdown) {
  const blocks = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```js run\s*$/.test(lines[i])) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
    if (end === lines.length) throw new Error(`line ${i + 1}: unclosed code block`);
    blocks.push({ line: start + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return blocks;
}

/** One line with `// => value` becomes a check; any other line stays as it is. */
function withChecks(code, firstLine) {
  return code.split('\n').map((text, k) => {
    const m = /^(\s*)(?!const |let |var |import |return )(.+?);?\s*\/\/ => (.+)$/.exec(text);
    if (!m) return text;
    return `${m[1]}__docCheck((${m[2]}), (${m[3]}), ${firstLine + k});`;
  }).join('\n');
}

/** The module text: imports of /js/ rewritten, each block announced before it runs. */
function moduleOf(blocks) {
  return blocks.map(({ line, code }) => {
    const imported = code
      .replace(/(from\s+|import\s*\(\s*)(['"])\/js\/sloop\.js\2/g, `$1$2${recordedApi}$2`)
      .replace(/(from\s+|import\s*\(\s*)(['"])\/js\//g, `$1$2${jsRoot}`);
    return `__docBlock(${line});\n${withChecks(imported, line)}`;
  }).join('\n');
}

/**
 * Runs the runnable blocks of `markdown` against the server at `origin`.
 * @param {string} markdown
 * @param {{origin: string, name?: string}} options name: the document, for messages
 * @returns {Promise<{blocks: number, checks: number}>} rejects naming the block (and line) that failed
 */
export async function runDocBlocks(markdown, { origin, name = 'the document' }) {
  const blocks = runnableBlocks(markdown);
  const state = { block: 0, checks: 0 };
  const realFetch = globalThis.fetch;
  Object.assign(globalThis, {
    location: { origin, href: `${origin}/` },
    fetch: (url, init) => realFetch(typeof url === 'string' && url.startsWith('/') ? `${origin}${url}` : url, init),
    __docBlock: (line) => { state.block = line; },
    __docCheck: (actual, expected, line) => {
      state.checks += 1;
      if (!isDeepStrictEqual(actual, expected)) {
        throw new Error(`line ${line}: got ${inspect(actual, { depth: 5 })}, the text says ${inspect(expected, { depth: 5 })}`);
      }
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'sloop-docs-'));
  const file = join(dir, 'examples.mjs');
  writeFileSync(file, moduleOf(blocks));
  try {
    await import(`${new URL(`file://${file}`).href}?${Date.now()}`);
  } catch (e) {
    const where = state.block ? `the block at line ${state.block}` : 'the examples (before any block ran)';
    throw new Error(`${name}: ${where} failed: ${e?.stack ?? e}`, { cause: e });
  } finally {
    for (const db of opened) await db.close().catch(() => {});
    opened.clear();
    globalThis.fetch = realFetch;
    delete globalThis.location;
    rmSync(dir, { recursive: true, force: true });
  }
  return { blocks: blocks.length, checks: state.checks };
}
