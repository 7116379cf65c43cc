// For tests/browser/client-sync.test.js and tests/bench/client-longtasks.mjs: a seeded tenant
// and a blank page to run the client in.
//
// seedNotes writes a tenant's server database with `count` notes. Through HTTP each operation is its own fsynced commit
// (~30 ms here), so the seed goes straight into the tenant file before the server starts: the
// server core applies protocol push bodies (serverPush, as the server would) in one
// transaction per batch with synchronous=OFF. The bodies are written here, not by a client
// core, whose puts cost milliseconds each at this size.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPersistentDb } from '../../js/persist.js';
import { fileBackend } from '../../js/storage/file-backend.js';
import { repoContext } from './harness.js';

const schema = JSON.parse(readFileSync(new URL('../../web/schema.json', import.meta.url), 'utf8'));

/** One put operation in the protocol's shape (docs/PROTOCOL.md, Operations). */
function seedOp(device, i, nowMs) {
  const hlc = `${nowMs.toString(16).padStart(12, '0')}-${(i % 0x10000).toString(16).padStart(4, '0')}-${device}`;
  const set = (v) => ({ set: v });
  // body is a text field: its operation inserts one run, with an id of the writing device.
  const text = (v) => ({ seq: [{ i: `${device}:0`, s: v }] });
  return {
    id: `${device}:${i + 1}`, type: 'put', coll: 'notes', rid: `seed-${i}`, hlc, base: 0,
    payload: {
      title: set(`Seeded note ${i}`), body: text(`Pump ${i % 97} pressure check, valve ${i % 13}`),
      site: set(`site-${i % 50}`), updatedAt: set(i), status: set('open'), votes: { inc: i % 7 },
    },
  };
}

/**
 * Writes `count` notes into `<dataDir>/<tenant>.db` as `user`. Run before startServer().
 * @returns {Promise<void>}
 */
export async function seedNotes(dataDir, { tenant = 'globex', user = 'carol', count, batch = 1000 }) {
  const server = await openPersistentDb({ name: join(dataDir, `${tenant}.db`), backend: fileBackend(), role: 'server' });
  try {
    server.core.setSchema(schema);
    server.core.sql('PRAGMA synchronous=OFF');
    const device = '5eed5eed5eed5eed';
    for (let from = 0; from < count; from += batch) {
      // One physical millisecond per batch, so each HLC is unique (counter < 0x10000).
      const nowMs = Date.now() - count + from;
      const ops = [];
      for (let i = from; i < Math.min(count, from + batch); i++) ops.push(seedOp(device, i, nowMs));
      const ctx = JSON.stringify({ tenant, user, device, nowMs: Date.now(), perms: { read: '*', write: '*', stepUp: false } });
      server.core.transaction(() => server.core.serverPush(JSON.stringify({ v: 1, device, ops }), ctx));
    }
  } finally {
    await server.close();
  }
}

/**
 * A page with fresh origin storage on a blank document of the server's origin (not the demo
 * app, which would open databases of its own), with tests/ served for page modules.
 * @returns {Promise<{page: import('playwright-core').Page, context: import('playwright-core').BrowserContext}>}
 */
export async function openClientPage(browser, serverUrl, query = '') {
  const context = await repoContext(browser);
  await context.route('**/client-blank.html*', (route) => route.fulfill({ body: '<!doctype html><title>client</title>', contentType: 'text/html' }));
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`${serverUrl}/client-blank.html${query}`);
  return { page, context };
}
