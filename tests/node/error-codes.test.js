// docs/CLIENT.md, "Errors": every error code it lists is one the client can raise to an app,
// and every code the client can raise is listed. The codes are read from the source, not
// copied here, so a code added anywhere without documenting it fails this test:
//
//   the core     the SLOOP_ERRORS list (wasm/include/sloop.h) whose names the C files built into
//                the client module return (not only compare against), passed to JS as they are
//                (js/core.js throws SloopError(sloop_errcode(rc)))
//   the client   codes made in js/ outside js/server/: SloopError('x', ...) and the like,
//                `code: 'x'`, `code = ...'x'...`, `code ?? 'x'` (transport outcomes, defaults)
//   the server   what it answers and the client passes on (sync() and signIn() reject with the
//                server's code): HttpError(status, 'x') and `code: 'x'` in js/server/, the core
//                codes it maps to a status (CORE_STATUS), and docs/PROTOCOL.md, "Errors"
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (rel) => readFileSync(join(root, rel), 'utf8');

/** Every file under `dir` (relative to the repository) whose name ends with `ext`, recursively. */
function filesUnder(dir, ext) {
  return readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(ext))
    .map((e) => relative(root, join(e.parentPath ?? e.path, e.name)).split('\\').join('/'))
    .sort();
}

/**
 * Source text without comments, so a code named in prose is not taken for one raised. Good
 * enough for this code base: a `//` after a quote or a colon (a URL in a string) is kept.
 */
function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

const CODE = "'([a-z][a-z0-9_-]*)'";
const BUILTIN_ERRORS = new Set(['Error', 'TypeError', 'RangeError', 'SyntaxError', 'ReferenceError', 'EvalError', 'URIError', 'AggregateError']);

/**
 * The codes a piece of JS makes: the first argument of an error class or helper named *Error
 * (SloopError('closed', ...), HttpError(503, 'timeout', ...)), `code: 'x'`, `code ?? 'x'`, and
 * every literal on the right of `code = ` (`e?.timeout ? 'timeout' : 'network'`).
 * @param {string} text source, comments included (they are stripped)
 * @returns {Map<string, string>} code -> the snippet that made it
 */
function jsCodes(text) {
  const source = stripComments(text);
  const found = new Map();
  const add = (code, snippet) => { if (!found.has(code)) found.set(code, snippet.trim().slice(0, 100)); };
  for (const m of source.matchAll(new RegExp(`\\b(\\w*Error)\\(\\s*(?:\\d{3}\\s*,\\s*)?${CODE}`, 'g'))) {
    if (!BUILTIN_ERRORS.has(m[1])) add(m[2], m[0]);
  }
  for (const m of source.matchAll(new RegExp(`\\bcode\\s*(?::|\\?\\?)\\s*${CODE}`, 'g'))) add(m[1], m[0]);
  for (const m of source.matchAll(/\bcode\s*=(?![=>])([^;\n]*)/g)) {
    // Literals compared with (typeof err === 'object') are conditions, not values.
    for (const lit of m[1].matchAll(new RegExp(`(?<![=!]=\\s*)${CODE}(?!\\s*[=!]=)`, 'g'))) add(lit[1], m[0]);
  }
  return found;
}

/** SLOOP_ERRORS in sloop.h: enum suffix -> identifier, without OK (0 is success, never raised). */
function coreErrorTable() {
  const header = read('wasm/include/sloop.h');
  const list = header.slice(header.indexOf('#define SLOOP_ERRORS(X)'));
  const table = new Map();
  for (const m of list.matchAll(/^\s*X\((\w+),\s*(\d+),\s*"([a-z_-]+)",/gm)) {
    if (m[2] !== '0') table.set(m[1], m[3]);
  }
  return table;
}

/** The C files built into the client module: wasm/src/*.c less the Makefile's SERVER_ONLY_SRC. */
function clientCoreFiles() {
  const makefile = read('Makefile').replace(/\\\n/g, ' ');
  const serverOnly = new Set(makefile.match(/^SERVER_ONLY_SRC\s*:=(.*)$/m)[1].trim().split(/\s+/));
  assert.ok(serverOnly.size > 0, 'the Makefile names the server-only C files');
  return filesUnder('wasm/src', '.c').filter((f) => !serverOnly.has(f));
}

/**
 * The core codes the client module can return: a SLOOP_X named in its C files other than in a
 * comparison (`rc == SLOOP_NOTFOUND` tests for a code, it does not make one).
 * @returns {Map<string, string>} code -> file
 */
function clientCoreCodes() {
  const table = coreErrorTable();
  const found = new Map();
  for (const file of clientCoreFiles()) {
    const source = stripComments(read(file));
    for (const m of source.matchAll(/(?<![=!]=\s*)\bSLOOP_([A-Z_]+)\b/g)) {
      if (table.has(m[1]) && !found.has(table.get(m[1]))) found.set(table.get(m[1]), file);
    }
  }
  return found;
}

/** The sections of a markdown text under the heading that matches, up to the next of its level. */
function section(markdown, heading) {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => heading.test(l));
  assert.ok(start >= 0, `no heading ${heading}`);
  const level = lines[start].match(/^#+/)[0];
  const end = lines.findIndex((l, i) => i > start && new RegExp(`^#{1,${level.length}} `).test(l));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** The codes in the first column of the tables of a markdown section (one code per row). */
function tableCodes(text, column = 0) {
  const codes = new Map();
  for (const line of text.split('\n')) {
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    const m = cells[column]?.match(/^`([a-z][a-z0-9_-]*)`$/);
    if (m) codes.set(m[1], line.trim().slice(0, 100));
  }
  return codes;
}

/** Every code the client can raise to an app, with where it comes from. */
function raisableCodes({ extraClientSource = '' } = {}) {
  const raised = new Map();
  const add = (code, where) => { if (!raised.has(code)) raised.set(code, where); };

  // The core's codes reach JS as they are: JS names a failed return code by sloop_errcode
  // (js/core.js today), never by a table of its own.
  const clientFiles = filesUnder('js', '.js').filter((f) => !f.startsWith('js/server/'));
  assert.ok(clientFiles.some((f) => /\bSloopError\(\s*\w+\.UTF8ToString\(\s*\w+\._sloop_errcode\(/.test(read(f))),
    'a client module throws SloopError(sloop_errcode(rc))');
  for (const [code, file] of clientCoreCodes()) add(code, `core: ${file}`);

  for (const file of clientFiles) {
    for (const [code, snippet] of jsCodes(read(file))) add(code, `${file}: ${snippet}`);
  }
  for (const [code, snippet] of jsCodes(extraClientSource)) add(code, `extra: ${snippet}`);

  for (const [code, snippet] of serverCodes()) add(code, `server: ${snippet}`);
  const protocol = section(read('docs/PROTOCOL.md'), /^## Errors$/);
  for (const [code, row] of tableCodes(protocol, 1)) add(code, `docs/PROTOCOL.md: ${row}`);
  return raised;
}

/** What the server answers: its HttpErrors, its `{code}` answers, the core codes it maps. */
function serverCodes() {
  const codes = new Map();
  for (const file of filesUnder('js/server', '.js')) {
    for (const [code, snippet] of jsCodes(read(file))) codes.set(code, `${file}: ${snippet}`);
  }
  const errors = stripComments(read('js/server/errors.js'));
  const table = errors.match(/const CORE_STATUS = \{([^}]*)\}/);
  assert.ok(table, 'js/server/errors.js has CORE_STATUS');
  for (const m of table[1].matchAll(/\b([a-z][a-z_-]*):\s*\d{3}/g)) codes.set(m[1], `js/server/errors.js CORE_STATUS ${m[0]}`);
  return codes;
}

/** The codes docs/CLIENT.md lists, from the tables of its "Errors" section. */
function documentedCodes() {
  return tableCodes(section(read('docs/CLIENT.md'), /^## Errors\b/));
}

test('every code docs/CLIENT.md lists can be raised, and every code that can be raised is listed', () => {
  const raised = raisableCodes();
  const documented = documentedCodes();
  const undocumented = [...raised].filter(([code]) => !documented.has(code)).map(([code, where]) => `${code} (${where})`);
  const unraisable = [...documented].filter(([code]) => !raised.has(code)).map(([code, row]) => `${code} (${row})`);
  assert.deepEqual(undocumented, [], 'raised by the source but not listed in docs/CLIENT.md, Errors');
  assert.deepEqual(unraisable, [], 'listed in docs/CLIENT.md, Errors, but raised nowhere');
});

test('each source gives codes: a pattern that stops matching after a change does not pass unseen', () => {
  assert.ok(coreErrorTable().size >= 10, 'SLOOP_ERRORS parsed');
  assert.ok(clientCoreCodes().size >= 5, 'core codes found in the client module');
  const clientFiles = filesUnder('js', '.js').filter((f) => !f.startsWith('js/server/'));
  const fromClient = new Set(clientFiles.flatMap((f) => [...jsCodes(read(f)).keys()]));
  assert.ok(fromClient.size >= 5, `client JS codes found: ${[...fromClient]}`);
  assert.ok(serverCodes().size >= 5, 'server codes found');
  assert.ok(documentedCodes().size >= 10, 'docs/CLIENT.md, Errors, has its tables');
});

test('every code the server answers is in docs/PROTOCOL.md, Errors', () => {
  const protocol = section(read('docs/PROTOCOL.md'), /^## Errors$/);
  const missing = [...serverCodes()].filter(([code]) => !new RegExp(`\`${code}\``).test(protocol)).map(([code, where]) => `${code} (${where})`);
  assert.deepEqual(missing, []);
});

test('the comparison fails for a code added without documenting it', () => {
  const added = "if (broken) throw new SloopError('brand-new-code', 'made up for this test');";
  assert.deepEqual([...jsCodes(added).keys()], ['brand-new-code']);
  const raised = raisableCodes({ extraClientSource: added });
  assert.ok(raised.has('brand-new-code'));
  assert.equal(documentedCodes().has('brand-new-code'), false);
});

test('the patterns: what makes a code and what does not', () => {
  const source = [
    "throw new SloopError('made', 'x');",
    "const err = requestError({ kind: 'network', status: 0, code: 'literal', message: m });",
    "const code = e?.timeout ? 'left' : 'right';",
    "const code = typeof err === 'object' ? err.code : kind !== 'skipped' ? 'kept' : 'also';",
    "let code = 'assigned', message = `HTTP ${status}`;",
    "new SloopError(w?.code ?? 'fallback', 'x');",
    "throw new HttpError(503, 'answered', 'x');",
    "if (e.code === 'compared' || code !== 'unequal') return;",
    "throw new Error('plain');",
    "// throw new SloopError('commented', 'x');",
    "/* code: 'blocked' */ const url = 'http://example.invalid/'; const after = { code: 'after-url' };",
  ].join('\n');
  assert.deepEqual([...jsCodes(source).keys()].sort(), ['after-url', 'also', 'answered', 'assigned', 'fallback', 'kept', 'left', 'literal', 'made', 'right']);
});
