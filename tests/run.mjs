/**
 * run.mjs -- runs the test suites and ends with one line "N passed, M failed".
 *
 * Suites: c (native cmocka binaries under ASan/UBSan), node (node --test against the WASM
 * build), node-pg (the server's tests again on a real PostgreSQL), browser (node --test driving headless Chromium), fuzz (the libFuzzer targets of
 * build/fuzz: their corpus and regression inputs replayed, then a short fuzzing pass). `node tests/run.mjs [suite...]`
 * runs some of them. A suite that fails to start, or runs no test, counts as a failure: a
 * green line must mean tests actually ran.
 */
import { spawn } from 'node:child_process';
import { readdirSync, existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../', import.meta.url).pathname;

/** Runs a command, echoing its output, and resolves to {code, output}. */
function run(cmd, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env } });
    let output = '';
    const take = (stream, sink) => stream.on('data', (d) => { output += d; sink.write(d); });
    take(child.stdout, process.stdout);
    take(child.stderr, process.stderr);
    child.on('error', (e) => resolve({ code: 1, output: output + String(e) }));
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** Native C tests: each build/native/test_* binary is one cmocka group. */
async function cSuite() {
  const dir = join(root, 'build/native');
  const bins = existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('test_')).sort() : [];
  let passed = 0;
  let failed = 0;
  for (const bin of bins) {
    const { code, output } = await run(join(dir, bin), [], { ASAN_OPTIONS: 'detect_leaks=1' });
    const ran = Number(/\[=+\] (\d+) test\(s\) run\./.exec(output)?.[1] ?? 0);
    const bad = Number(/\[  FAILED  \] (\d+) test\(s\)/.exec(output)?.[1] ?? 0);
    // A crash (sanitizer report) leaves no summary: count the binary as one failure.
    if (ran === 0 || (code !== 0 && bad === 0)) failed += Math.max(1, bad);
    else { passed += ran - bad; failed += bad; }
  }
  return { passed, failed, ran: bins.length > 0 };
}

/**
 * Longest a test file may run before it fails (with --test, node applies --test-timeout to
 * each file's run): several times the slowest file here (about 45 s), so that a test waiting
 * on a promise that never settles fails rather than blocking `make test` for ever.
 */
const NODE_TEST_TIMEOUT_MS = 300_000;

/**
 * A node --test suite over a folder (or the named files in it), read through the TAP reporter's
 * totals; `env` is added to the tests' environment.
 */
function nodeSuite(folder, { only = null, env = {} } = {}) {
  return async () => {
    const files = only ?? readdirSync(join(root, folder)).filter((f) => f.endsWith('.test.js')).sort();
    if (files.length === 0) return { passed: 0, failed: 0, ran: false };
    const { code, output } = await run(process.execPath, [
      '--test', '--test-reporter=tap', '--test-concurrency=1', `--test-timeout=${NODE_TEST_TIMEOUT_MS}`,
      ...files.map((f) => join(folder, f)),
    ], env);
    const passed = Number(/^# pass (\d+)/m.exec(output)?.[1] ?? 0);
    let failed = Number(/^# fail (\d+)/m.exec(output)?.[1] ?? 0);
    if (code !== 0 && failed === 0) failed = 1;
    return { passed, failed, ran: passed + failed > 0 };
  };
}

/**
 * libFuzzer targets: every committed input (tests/fuzz/corpus/<target>, tests/fuzz/regressions/
 * <target>) is one test, replayed; then each target fuzzes for FUZZ_TEST_SECONDS (default 3),
 * one test per target. A crash exits non-zero and leaves its input in build/fuzz/crashes.
 */
async function fuzzSuite() {
  const dir = join(root, 'build/fuzz');
  const bins = existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('fuzz_')).sort() : [];
  const seconds = process.env.FUZZ_TEST_SECONDS ?? '3';
  let passed = 0;
  let failed = 0;
  mkdirSync(join(dir, 'crashes'), { recursive: true });
  for (const bin of bins) {
    const inputs = ['corpus', 'regressions']
      .map((kind) => join(root, 'tests/fuzz', kind, bin))
      .filter((d) => existsSync(d));
    const files = inputs.flatMap((d) => readdirSync(d).map((f) => join(d, f)));
    const artifacts = `-artifact_prefix=${join(dir, 'crashes', bin)}-`;
    if (files.length > 0) {
      const { code } = await run(join(dir, bin), [artifacts, ...files]);
      if (code === 0) passed += files.length; else failed += 1;
    }
    // New inputs go to a scratch directory, so the committed corpus stays hand-written.
    const scratch = mkdtempSync(join(tmpdir(), `${bin}-`));
    const { code } = await run(join(dir, bin), [`-max_total_time=${seconds}`, artifacts, scratch, ...inputs]);
    rmSync(scratch, { recursive: true, force: true });
    if (code === 0) passed += 1; else failed += 1;
  }
  return { passed, failed, ran: bins.length > 0 };
}

/**
 * The server tests that run a second time with the tenant store on PostgreSQL (each test
 * process starts a throwaway cluster: tests/node/test-store.js, pg-harness.js). They start their
 * servers through the store seam (test-store.js, and the harnesses built on it); the tests of
 * the HTTP layer alone, of the client alone or of SQLite files stay in `node` only.
 */
const BOTH_STORES = [
  'store-conformance.test.js', 'server-core.test.js', 'server-group-commit.test.js', 'server-restart.test.js',
  'server-wire.test.js', 'security-names.test.js', 'security-payloads.test.js', 'security-replay.test.js',
  'security-tenancy.test.js', 'security-tokens.test.js', 'sim-js.test.js', 'sync-load.test.js',
  'client-sync.test.js', 'client-api.test.js', 'client-auth.test.js', 'client-refusal.test.js', 'client-resync.test.js', 'client-toobig.test.js', 'client-scope.test.js',
];

const suites = {
  c: cSuite,
  node: nodeSuite('tests/node'),
  'node-pg': nodeSuite('tests/node', { only: BOTH_STORES, env: { SLOOP_TEST_STORE: 'postgres' } }),
  browser: nodeSuite('tests/browser'),
  fuzz: fuzzSuite,
};

const chosen = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(suites);
let passed = 0;
let failed = 0;
const lines = [];
for (const name of chosen) {
  if (!suites[name]) {
    console.error(`unknown suite ${name}; known: ${Object.keys(suites).join(', ')}`);
    process.exit(2);
  }
  const r = await suites[name]();
  if (!r.ran) r.failed += 1; // a suite that ran nothing is a failure, not a pass
  passed += r.passed;
  failed += r.failed;
  lines.push(`  ${name}: ${r.passed} passed, ${r.failed} failed${r.ran ? '' : ' (ran no test)'}`);
}
console.log('\nsuites:\n' + lines.join('\n'));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
