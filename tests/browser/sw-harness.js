/**
 * sw-harness.js -- what the service worker tests share: the demo server with a stand-in for
 * POST /v1/push that records what reaches it, a Chromium profile of its own per test (service
 * workers, their caches and the push queue live in the profile), and CDP access to the
 * worker's registration for dispatching sync events on demand.
 *
 * The stand-in answers like the protocol's push (JSON, 200) or, in `drop` mode, closes the
 * connection without an answer: a network failure while the browser believes it is online,
 * which Chromium's Background Sync only retries minutes later, so tests replay explicitly.
 * GET /v1/probe stands for an API read: it answers how often it was asked.
 */
import { chromium } from 'playwright-core';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../../js/server/main.js';
import { CHROMIUM_ARGS } from './harness.js';

/** The sync tag workbox-background-sync registers for the push queue. */
export const PUSH_SYNC_TAG = 'workbox-background-sync:sloop-push';

/** Reads a request body as text. */
async function readBody(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

/**
 * Starts the demo server with the stand-in endpoints.
 * @returns {Promise<{url: string, pushes: string[], setPushMode: (m: 'accept'|'drop') => void,
 *   serveWorkerFrom: (file: string|null) => void, close: () => Promise<void>}>}
 *   `pushes` holds the bodies of the pushes answered, in arrival order; `serveWorkerFrom`
 *   makes /sw.js come from another file (a second build), null for the normal one.
 */
export async function startPushServer() {
  const pushes = [];
  const stalled = [];
  let pushMode = 'accept';
  let workerFile = null;
  let probes = 0;
  const handler = async (req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/v1/probe' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ probes: ++probes }));
      return true;
    }
    if (path === '/v1/push' && req.method === 'POST') {
      if (pushMode === 'drop') {
        req.socket.destroy();
        return true;
      }
      // A server (or a proxy on the way) that takes the push and never answers.
      if (pushMode === 'stall') {
        stalled.push(res);
        return true;
      }
      pushes.push(await readBody(req));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ v: 1, results: [], records: [] }));
      return true;
    }
    if (path === '/sw.js' && workerFile) {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' });
      res.end(await readFile(workerFile));
      return true;
    }
    return false;
  };
  const server = await startServer({ port: 0, handler });
  return {
    url: server.url,
    pushes,
    /** Pushes 'accept'ed, 'drop'ped (the connection cut) or 'stall'ed (never answered). */
    setPushMode: (mode) => { pushMode = mode; },
    stalledPushes: () => stalled.length,
    /** Cuts the stalled pushes' connections: their senders see a network failure. */
    releaseStalled: () => { for (const res of stalled.splice(0)) res.socket?.destroy(); },
    serveWorkerFrom: (file) => { workerFile = file; },
    close: () => {
      // A browser that is killed mid-request would otherwise hold close() open.
      server.server.closeAllConnections();
      return server.close();
    },
  };
}

/**
 * Launches Chromium on a fresh, temporary profile.
 * @param {{args?: string[]}} [options] extra Chromium flags
 * @returns {Promise<{context: import('playwright-core').BrowserContext, close: () => Promise<void>}>}
 */
export async function launchProfile({ args = [] } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'sloop-sw-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [...CHROMIUM_ARGS, ...args],
    headless: true,
  });
  return {
    context,
    close: async () => {
      await context.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A test's server and browser profile, closed when the test ends.
 * @param {import('node:test').TestContext} t
 * @param {{args?: string[]}} [options] passed to launchProfile
 */
export async function startSwTest(t, options) {
  const server = await startPushServer();
  const profile = await launchProfile(options).catch(async (error) => { await server.close(); throw error; });
  t.after(async () => {
    await profile.close();
    await server.close();
  });
  return { server, context: profile.context };
}

/**
 * Opens the demo in a new tab and waits until the service worker controls it (first visit:
 * installed, precached, activated and claimed).
 * @returns {Promise<import('playwright-core').Page>}
 */
export async function openApp(context, url) {
  const page = await context.newPage();
  await page.goto(url + '/');
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 15000 });
  return page;
}

/**
 * Pushes from the page as the client will: fetch POST /v1/push with a JSON body.
 * @returns {Promise<string>} 'status <n>', or 'failed' when the fetch rejected
 */
export function pushFromPage(page, body) {
  return page.evaluate(async (text) => {
    try {
      const res = await fetch('/v1/push', {
        method: 'POST',
        headers: { authorization: 'Bearer test', 'content-type': 'application/json' },
        body: text,
      });
      return `status ${res.status}`;
    } catch {
      return 'failed';
    }
  }, body);
}

/** Asks the page's worker (through js/sw-client.js) for its status or to replay. */
export function askWorker(page, what) {
  return page.evaluate(async (method) => {
    const { registerServiceWorker } = await import('/js/sw-client.js');
    const sw = await registerServiceWorker();
    try {
      return await sw[method]();
    } finally {
      sw.close();
    }
  }, what);
}

/**
 * Dispatches the push queue's sync event through CDP, from any tab of the profile (it need not
 * be a tab of the app).
 */
export async function dispatchPushSync(page, origin) {
  const cdp = await page.context().newCDPSession(page);
  try {
    const registrations = new Promise((resolve) => {
      cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations: list }) => {
        const ours = list.find((r) => r.scopeURL === origin + '/' && !r.isDeleted);
        if (ours) resolve(ours.registrationId);
      });
    });
    await cdp.send('ServiceWorker.enable');
    const registrationId = await withTimeout(registrations, 5000, 'no service worker registration seen');
    await cdp.send('ServiceWorker.dispatchSyncEvent', { origin, registrationId, tag: PUSH_SYNC_TAG, lastChance: false });
  } finally {
    await cdp.detach();
  }
}

/** Resolves as `promise` does, or rejects after `ms` with `message`. */
export function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `check` until it returns true, or fails after `ms`. */
export async function waitUntil(check, ms, message) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(message);
    await new Promise((r) => setTimeout(r, 50));
  }
}
