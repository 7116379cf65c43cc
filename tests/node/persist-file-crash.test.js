// The file backend survives a process killed mid-write: every acknowledged commit is there on
// restart, SQLite's hot journal rolls back the one in progress, and the file passes
// integrity_check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPersistentDb } from '../../js/persist.js';
import { fileBackend } from '../../js/storage/file-backend.js';
import { committedPrefix } from '../conformance/persist.js';

const writer = new URL('./fixtures/file-writer.js', import.meta.url).pathname;

/** Runs the writer until it has acknowledged `atLeast` more rows, then SIGKILLs it at a random moment. */
function runAndKill(path, atLeast) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    let acked = 0;
    let seen = 0;
    let buffered = '';
    child.stdout.on('data', (d) => {
      buffered += d;
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) acked = Math.max(acked, Number(line));
      if ((seen += lines.length) >= atLeast && !child.killed) {
        setTimeout(() => child.kill('SIGKILL'), Math.random() * 20);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve(acked) : reject(new Error(`writer exited ${code}`))));
  });
}

test('file: a killed writer loses no acknowledged commit and leaves a committed prefix', { timeout: 60000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sloop-crash-'));
  const path = join(dir, 'server.db');
  try {
    let last = 0;
    for (let round = 0; round < 4; round++) {
      const acked = await runAndKill(path, 15);
      const pdb = await openPersistentDb({ name: path, backend: fileBackend(), role: 'server' });
      const rows = await committedPrefix(pdb);
      await pdb.close();
      assert.ok(rows >= acked, `round ${round}: ${acked} acknowledged but ${rows} on disk`);
      assert.ok(rows <= acked + 1, `round ${round}: ${rows} rows but only ${acked} (+1 in flight) written`);
      assert.ok(rows > last, 'each round adds rows');
      last = rows;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
