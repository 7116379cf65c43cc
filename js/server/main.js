/**
 * main.js -- the demo server: the sync API under /v1/ and the PWA, on 127.0.0.1 (PORT,
 * default 8080). Run with `make demo`; the demo users are listed in README.md.
 *
 * Tenants get the schema of the app it serves (web/schema.json). Data and the token secret
 * live in SLOOP_DATA (default build/server-data). The secret is
 * SLOOP_SECRET when set, else a random one written there on first start, so tokens (and the
 * offline tokens clients keep for weeks) survive restarts.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coreStoreOpener } from './core-store.js';
import { createSyncServer } from './sync-server.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The secret from the environment, or the one kept in dataDir (created once, mode 0600). */
function loadSecret(dataDir) {
  if (process.env.SLOOP_SECRET) return Buffer.from(process.env.SLOOP_SECRET);
  const file = join(dataDir, 'secret');
  try {
    writeFileSync(file, randomBytes(32).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if (e.code !== 'EEXIST') throw e;
  }
  return Buffer.from(readFileSync(file, 'utf8').trim());
}

/**
 * Starts the demo server.
 * @param {{port?: number, host?: string, dataDir?: string, handler?: Function}} [options] port 0
 *   picks a free one; `handler(req, res)` is tried before every route and returns true if it
 *   answered (tests put stand-in endpoints there)
 * @returns {Promise<{server: import('node:http').Server, url: string, close: () => Promise<void>}>}
 */
export async function startServer({ port = 8080, host = '127.0.0.1', dataDir = process.env.SLOOP_DATA ?? join(root, 'build/server-data'), handler } = {}) {
  mkdirSync(dataDir, { recursive: true });
  const users = JSON.parse(readFileSync(new URL('./demo-users.json', import.meta.url), 'utf8'));
  const sync = createSyncServer({
    users,
    secret: loadSecret(dataDir),
    openTenantStore: coreStoreOpener({ dataDir, schema: JSON.parse(readFileSync(new URL('../../web/schema.json', import.meta.url), 'utf8')) }),
    staticFiles: true,
    handler,
  });
  const url = await sync.listen({ port, host });
  return { server: sync.server, url, close: sync.close };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { url, close } = await startServer({ port: Number(process.env.PORT ?? 8080) });
  console.log(`Sloop demo on ${url} (users: see README.md)`);
  const stop = (signal) => {
    console.log(`${signal}: finishing requests and closing tenant databases`);
    close().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
