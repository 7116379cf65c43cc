/**
 * main.js -- the demo server: serves the PWA on 127.0.0.1 (PORT, default 8080).
 * Run with `make demo`.
 */
import { createServer } from 'node:http';
import { serveStatic } from './static.js';

/**
 * Starts the server.
 * @param {{port?: number, host?: string, handler?: (req: import('node:http').IncomingMessage,
 *   res: import('node:http').ServerResponse) => boolean|Promise<boolean>}} [options] port 0 picks
 *   a free one; `handler` is tried before the static files and returns true if it answered
 * @returns {Promise<{server: import('node:http').Server, url: string, close: () => Promise<void>}>}
 */
export async function startServer({ port = 8080, host = '127.0.0.1', handler } = {}) {
  const server = createServer(async (req, res) => {
    if (handler && (await handler(req, res))) return;
    if ((req.method === 'GET' || req.method === 'HEAD') && (await serveStatic(req, res))) return;
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 'not_found', message: `no route for ${req.method} ${req.url}` }));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const url = `http://${host}:${server.address().port}`;
  return { server, url, close: () => new Promise((r) => server.close(() => r())) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { url } = await startServer({ port: Number(process.env.PORT ?? 8080) });
  console.log(`Sloop demo on ${url}`);
}
