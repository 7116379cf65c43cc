// The two WebAssembly modules (docs/DESIGN.md, "Two modules"): each exports its role's calls
// and not the other's, a database opens only on its role's module, and the constants the
// binding uses come from the module (sloop_constants), not from tables copied into js/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadModule, CoreDb, SloopError } from '../../js/core.js';

const client = await loadModule('client');
const server = await loadModule('server');
const names = (file) => readFileSync(new URL(`../../wasm/${file}`, import.meta.url), 'utf8')
  .split('\n').filter((l) => l.startsWith('_'));

test('each module exports the shared calls and its own, not the other role\'s', () => {
  for (const name of names('exports.txt')) {
    assert.equal(typeof client[name], 'function', `client ${name}`);
    assert.equal(typeof server[name], 'function', `server ${name}`);
  }
  for (const name of names('exports-client.txt')) {
    assert.equal(typeof client[name], 'function', `client ${name}`);
    assert.equal(server[name], undefined, `server ${name}`);
  }
  for (const name of names('exports-server.txt')) {
    assert.equal(typeof server[name], 'function', `server ${name}`);
    assert.equal(client[name], undefined, `client ${name}`);
  }
});

test('a database opens only on its own role\'s module', () => {
  assert.throws(() => CoreDb.open(client, { role: 'server' }), (e) => e instanceof SloopError && e.code === 'invalid');
  assert.throws(() => CoreDb.open(server), (e) => e instanceof SloopError && e.code === 'invalid');
  CoreDb.open(server, { role: 'server' }).close();
  CoreDb.open(client).close();
  assert.equal(client.sloop.role, 'client');
  assert.equal(server.sloop.role, 'server');
});

test('codes, state names and limits come from the module and match what the core does', () => {
  for (const mod of [client, server]) {
    const { codes, stateNames, limits } = mod.sloop;
    for (const [id, rc] of Object.entries(codes)) assert.equal(mod.UTF8ToString(mod._sloop_errcode(rc)), id);
    assert.equal(codes.device, 18);
    assert.deepEqual(stateNames, ['local-only', 'syncing', 'synced', 'failed', 'modified-locally']);
    assert.deepEqual([limits.name, limits.id], [64, 128]);
  }
  stateNamesMatchTheCore();
  const db = CoreDb.open(client);
  try {
    assert.equal(db.clockNow().length, client.sloop.limits.clockBytes - 1);
    assert.equal(db.recordState('notes', 'x'), undefined);
    db.put('notes', 'x'.repeat(client.sloop.limits.id), { t: 1 });
    assert.throws(() => db.put('notes', 'x'.repeat(client.sloop.limits.id + 1), { t: 1 }), SloopError);
    assert.equal(db.recordState('notes', 'x'.repeat(client.sloop.limits.id)), 'local-only');
  } finally {
    db.close();
  }
});

/** sloop_state_name, the core's own naming, agrees with the table read from the module. */
function stateNamesMatchTheCore() {
  client.sloop.stateNames.forEach((name, i) => assert.equal(client.UTF8ToString(client._sloop_state_name(i)), name));
}

test('the modules\' OS layer (wasm_os.c): no files without a VFS, platform randomness and time', () => {
  for (const [mod, role] of [[client, 'client'], [server, 'server']]) {
    // A path without a VFS has nowhere to go: refused at once, not written to a vanishing FS.
    assert.throws(() => CoreDb.open(mod, { path: '/tmp/sloop-nowhere.db', role }), (e) => e instanceof SloopError && e.code === 'storage');
    const db = CoreDb.open(mod, { role });
    try {
      const [[a, b, len, now]] = db.sql(
        'SELECT hex(randomblob(8)), hex(randomblob(8)), length(randomblob(64)), CURRENT_TIMESTAMP');
      assert.notEqual(a, b);
      assert.equal(len, 64);
      // CURRENT_TIMESTAMP reads the OS layer's clock: UTC, "YYYY-MM-DD HH:MM:SS".
      assert.ok(Math.abs(Date.parse(`${now.replace(' ', 'T')}Z`) - Date.now()) < 3_600_000, `the wall clock: ${now}`);
      // The date and time functions are left out of the build (docs/DESIGN.md, "Module size").
      assert.throws(() => db.sql("SELECT date('now')"), /no such function: date/);
      // The three keywords are formatted by the module's own gmtime and strftime (wasm_os.c).
      const [[date, time, stamp]] = db.sql('SELECT CURRENT_DATE, CURRENT_TIME, CURRENT_TIMESTAMP');
      assert.match(date, /^\d{4}-\d{2}-\d{2}$/);
      assert.match(time, /^\d{2}:\d{2}:\d{2}$/);
      assert.ok(stamp === `${date} ${time}` || stamp > `${date} ${time}`, `${stamp} after ${date} ${time}`);
      assert.equal(date, new Date(Date.parse(`${stamp.replace(' ', 'T')}Z`)).toISOString().slice(0, 10));
    } finally {
      db.close();
    }
  }
});
