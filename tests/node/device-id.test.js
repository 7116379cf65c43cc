// Device ids differ between devices that open their database in the same millisecond. Each
// device runs its own instance of the module, whose allocator is deterministic: the first
// handle of every instance sits at the same heap address. An id seeded from the clock and that
// address alone named two such devices alike, and a server then took one device's operations
// for the other's replays (or refused them as another user's). Seen by the load driver: two
// client processes opening at once, one clash in a hundred.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { adoptModule, CoreDb } from '../../js/core.js';

const wasm = (role) => new URL(`../../build/wasm/sloop-${role}.wasm`, import.meta.url);
const loader = (role) => import(`../../build/wasm/sloop-${role}.js`);

for (const role of ['client', 'server']) {
  test(`${role} module: fresh instances opening at the same instant get different device ids`, async () => {
    const [{ default: factory }, wasmBinary] = await Promise.all([loader(role), readFile(wasm(role))]);
    const realNow = Date.now;
    Date.now = () => 1767225600000; // every instance opens in the same millisecond
    const ids = new Set();
    try {
      for (let i = 0; i < 8; i++) {
        const mod = adoptModule(await factory({ wasmBinary }), role);
        const db = CoreDb.open(mod, { role });
        ids.add(db.device);
        db.close();
      }
    } finally {
      Date.now = realNow;
    }
    assert.equal(ids.size, 8, `device ids: ${[...ids].join(' ')}`);
  });
}
