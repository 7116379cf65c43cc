// `make bench` at a tiny scale (100 records, one run): the harness runs every scenario for
// Sloop and every peer, and writes a well-formed results file and chart. Correctness only:
// no timing is asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PEERS = {
  write1: ['dexie', 'sqlite-wasm'],
  bulk: ['dexie', 'sqlite-wasm', 'raw-idb'],
  query: ['dexie', 'sqlite-wasm'],
  search: ['dexie', 'sqlite-wasm'],
  sync: ['pouchdb'],
  push: ['pouchdb'],
  cold: ['dexie', 'sqlite-wasm'],
  bytes: ['dexie', 'pouchdb', 'sqlite-wasm'],
  memory: ['pouchdb'],
};

test('the benchmark harness covers every scenario and peer', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sloop-bench-smoke-'));
  try {
    const out = join(dir, 'results.json');
    const run = spawnSync(process.execPath, ['bench/run.mjs'], {
      cwd: new URL('../../', import.meta.url).pathname,
      env: { ...process.env, BENCH_SCALE: '0.001', BENCH_RUNS: '1', BENCH_OUT: out },
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    const results = JSON.parse(readFileSync(out, 'utf8'));
    assert.equal(results.runs, 1);
    assert.ok(results.machine.chromium && results.date && results.ratio);
    assert.deepEqual(results.scenarios.map((s) => s.id).sort(), Object.keys(PEERS).sort());
    for (const s of results.scenarios) {
      assert.deepEqual(Object.keys(s.results).sort(), ['sloop', ...PEERS[s.id]].sort(), s.id);
      for (const [sys, r] of Object.entries(s.results)) {
        assert.equal(r.runs.length, 1, `${s.id} ${sys}`);
        assert.ok(Number.isFinite(r.median) && r.median > 0, `${s.id} ${sys}: ${r.median}`);
      }
      assert.deepEqual(Object.keys(s.ratios).sort(), [...PEERS[s.id]].sort(), s.id);
      for (const ratio of Object.values(s.ratios)) assert.ok(Number.isFinite(ratio) && ratio > 0, `${s.id}: ${ratio}`);
    }
    const svg = readFileSync(join(dir, 'chart.svg'), 'utf8');
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal((svg.match(/<rect /g) ?? []).length - 1, Object.values(PEERS).flat().length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
