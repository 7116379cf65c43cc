// The load driver (tests/bench/sync-load.mjs) small enough for every run: 5 concurrent CoreDb
// clients x 20 operations against the real server. Asserts correctness only (no errors,
// every client converges, the shared counter counts every batch once), never timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './test-store.js';
import { runLoad } from '../bench/sync-load.mjs';

test('5 concurrent clients x 20 operations: no errors, and everyone converges', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sloop-load-smoke-'));
  const srv = await startServer({ port: 0, dataDir });
  try {
    const report = await runLoad({ url: srv.url, clients: 5, opsPerClient: 20, batch: 5, seconds: 60 });
    t.diagnostic(JSON.stringify(report));
    assert.deepEqual(report.errors, {});
    assert.equal(report.ops, 5 * 20);
    assert.equal(report.sharedCounter, report.expectedCounter);
    assert.equal(report.divergedClients, 0);
    assert.ok(report.converged);
  } finally {
    await srv.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
