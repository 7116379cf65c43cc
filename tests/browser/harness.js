/**
 * harness.js -- starts the demo server on a free loopback port and Debian's Chromium through
 * playwright-core, for browser tests. The flags keep Chromium off the (closed) network.
 */
import { chromium } from 'playwright-core';
import { startServer } from '../../js/server/main.js';

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
