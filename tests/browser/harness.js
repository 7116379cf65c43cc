/**
 * harness.js -- starts the demo server on a free loopback port and Debian's Chromium through
 * playwright-core, for browser tests. The flags keep Chromium off the (closed) network.
 */
import { readFile } from 'node:fs/promises';
import { chromium } from 'playwright-core';
import { startServer } from '../../js/server/main.js';

const root = new URL('../../', import.meta.url);

export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic',
];

/**
 * Starts server and browser; call the returned `close()` in an `after` hook.
 * @returns {Promise<{url: string, browser: import('playwright-core').Browser, close: () => Promise<void>}>}
 */
export async function startBrowserHarness() {
  const server = await startServer({ port: 0 });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    headless: true,
  });
  return {
    url: server.url,
    browser,
    close: async () => {
      await browser.close();
      await server.close();
    },
  };
}

/**
 * A new browser context (one origin's storage) whose pages may also import the repository's
 * test and bench modules: requests under /tests/ (and /bench/ with `bench`) are answered from
 * the working tree, which the server does not serve.
 * @param {import('playwright-core').Browser} browser
 * @param {{bench?: boolean}} [options]
 * @returns {Promise<import('playwright-core').BrowserContext>}
 */
export async function repoContext(browser, { bench = false } = {}) {
  const context = await browser.newContext();
  await context.route(bench ? /\/(tests|bench)\// : '**/tests/**', async (route) => {
    const path = new URL(route.request().url()).pathname;
    route.fulfill({ body: await readFile(new URL('.' + path, root)), contentType: 'text/javascript' });
  });
  return context;
}
