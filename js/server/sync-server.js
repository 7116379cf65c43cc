/**
 * sync-server.js -- the HTTP layer of the reference sync server: routing, authentication,
 * tenancy, limits and error answers. What a push or a pull does is the tenant store's business
 * (the C core, opened with role 'server'); this layer decides who is asking, for which tenant,
 * with which permissions, and refuses anything malformed before it costs the store work.
 *
 * Invariants:
 *   - the tenant comes from the verified token only; nothing in a body can name another one;
 *   - every API answer is JSON with `Cache-Control: no-store`; every failure is
 *     `{code, message}`; a bug is logged and answered 500 `internal`, never a crash;
 *   - large answers are compressed when the request accepts it, never on the event loop
 *     (compress.js); every API answer carries `Vary: Accept-Encoding`;
 *   - the body the store receives is the one that was checked: it is serialised again from
 *     the parsed object, because JSON.parse keeps the last of duplicate keys and cJSON the
 *     first, so forwarding the raw text would let `{"ops": [...], "ops": []}` slip a batch
 *     past the checks here.
 *
 * Who may sign in is the auth hook's business (auth.js: a users file, or the app's own);
 * cross-origin rules are cors.js's; which files a browser may fetch is static.js's.
 *
 * Not here: rate limiting, TLS (put a proxy in front).
 * @module sloop/server/sync-server
 */
import { createServer } from 'node:http';
import { readJsonObject, checkStructure } from './body.js';
import { HttpError, fromStoreError, withinTime } from './errors.js';
import { checkAuthHook, checkIdentity, usersFileAuth } from './auth.js';
import { chooseEncoding, compress, COMPRESS_MIN_BYTES } from './compress.js';
import { corsPolicy } from './cors.js';
import { permsFor, precheckPull, precheckPush } from './permissions.js';
import { demoStaticFiles, staticFiles as staticFileServer } from './static.js';
import { TenantStores } from './tenants.js';
import { bearerToken, createTokenService, DEVICE_RE } from './tokens.js';

/** Defaults for `limits`; each can be overridden alone. */
export const DEFAULT_LIMITS = Object.freeze({
  maxBodyBytes: 1024 * 1024,
  maxOps: 1000,
  maxDepth: 64,
  bodyTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  stepUpMaxAgeMs: 5 * 60_000,
  accessTtlMs: 60 * 60_000,
  offlineTtlMs: 30 * 86_400_000,
  // From a request's arrival to its answer, on the API routes: shorter than a client's own
  // limit (60 s, js/client/transport.js), so a stalled auth lookup, tenant store or hook is
  // answered 503 `timeout`, which the client retries, instead of leaving it to give up.
  handlerTimeoutMs: 30_000,
  shutdownGraceMs: 5_000,
  keepAliveTimeoutMs: 65_000,
});

const API_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

/** `Vary` with `Accept-Encoding` added to what is already set (cors.js may have set `Origin`). */
function varyWithEncoding(res) {
  const vary = res.getHeader('vary');
  return vary ? `${vary}, Accept-Encoding` : 'Accept-Encoding';
}

/**
 * Answers JSON; `body` is an object or already-serialised JSON text. An answer of at least
 * COMPRESS_MIN_BYTES goes gzip or br when the request accepts it (compress.js), compressed in
 * the thread pool; should that fail, it goes as it is. Never rejects.
 */
async function sendJson(req, res, status, body, headers = {}) {
  if (res.headersSent || res.destroyed) return;
  let bytes = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const head = { ...API_HEADERS, ...headers, vary: varyWithEncoding(res) };
  const encoding = bytes.length >= COMPRESS_MIN_BYTES ? chooseEncoding(req.headers['accept-encoding']) : null;
  if (encoding) {
    try {
      bytes = await compress(bytes, encoding);
      head['content-encoding'] = encoding;
    } catch { /* sent uncompressed */ }
    if (res.headersSent || res.destroyed) return;
  }
  res.writeHead(status, { ...head, 'content-length': bytes.length });
  res.end(bytes);
}

const optionalDevice = (device) => {
  if (device === undefined) return undefined;
  if (typeof device !== 'string' || !DEVICE_RE.test(device)) {
    throw new HttpError(400, 'invalid', 'device must match [A-Za-z0-9_-]{1,64}');
  }
  return device;
};

/**
 * Creates the sync server (not yet listening).
 *
 * @example
 *   const sync = createSyncServer({ users, secret, openTenantStore: (t) => openCoreStore(t) });
 *   const url = await sync.listen({ port: 0 });
 *   ...
 *   await sync.close();   // stops accepting, lets requests finish, closes tenant stores
 *
 * @param {object} options
 * @param {Record<string, object>} [options.users] login name -> {tenant, password (scrypt hash),
 *   read, write}; read and write are "*" or a list of collections. Either this or `auth`.
 * @param {import('./auth.js').AuthHook} [options.auth] who may sign in (auth.js, docs/SERVER.md)
 * @param {Buffer|string} options.secret token signing key, at least 32 bytes
 * @param {(tenant: string) => import('./tenants.js').TenantStore|Promise<import('./tenants.js').TenantStore>} options.openTenantStore
 * @param {Partial<typeof DEFAULT_LIMITS>} [options.limits]
 * @param {boolean|import('./static.js').StaticOptions} [options.staticFiles] also serve files
 *   (GET/HEAD outside /v1/): `true` is the demo PWA's set, an object names them (static.js)
 * @param {{origins?: string[], maxAgeSeconds?: number}} [options.cors] origins allowed to call
 *   the server from another origin (exact match); none by default (cors.js)
 * @param {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => boolean|Promise<boolean>} [options.handler]
 *   tried before every route (tests use it for stand-in endpoints); returns true if it answered
 * @param {() => number} [options.now] clock in ms; injectable for tests
 * @param {{error: (...args: unknown[]) => void}} [options.logger] where bugs are reported
 */
export function createSyncServer({ users, auth, secret, openTenantStore, limits = {}, staticFiles = false, cors = {}, handler = null, now = Date.now, logger = console }) {
  if ((users === undefined) === (auth === undefined)) throw new Error('createSyncServer: give exactly one of users and auth');
  const hook = auth ? checkAuthHook(auth, 'auth') : usersFileAuth(users);
  const lim = { ...DEFAULT_LIMITS, ...limits };
  const tokens = createTokenService({ secret, now, accessTtlMs: lim.accessTtlMs, offlineTtlMs: lim.offlineTtlMs });
  const stores = new TenantStores(openTenantStore);
  const corsRules = corsPolicy(cors);
  const serveStatic = staticFiles === true ? demoStaticFiles() : staticFiles ? staticFileServer(staticFiles) : null;
  let closing = null;
  let inFlight = 0;
  let idle = null; // resolves when inFlight drops to 0 while closing

  const permissionsPayload = (user) => ({
    read: user.read ?? [], write: user.write ?? [], stepUpMaxAgeMs: lim.stepUpMaxAgeMs,
  });

  /**
   * Verifies the bearer token for `kind` and finds its user's grants: from the hook's lookup
   * (the user must still exist), or, for a hook without one, from the token itself.
   */
  async function authenticate(req, kind) {
    const claims = tokens.verify(bearerToken(req.headers.authorization), kind);
    const grants = hook.lookup
      ? await hook.lookup({ tenant: claims.tid, user: claims.sub })
      : claims.rd !== undefined ? { read: claims.rd, write: claims.wr } : null;
    if (!grants) throw new HttpError(401, 'unauthenticated', 'unknown user');
    return { claims, user: { tenant: claims.tid, read: grants.read, write: grants.write } };
  }

  /** Login answer and refresh answer share this shape. */
  function session(name, user, claims) {
    const access = tokens.issue('access', claims);
    return {
      v: 1, token: access.token, expiresAt: access.expiresAt, tenant: user.tenant, user: name,
      ...(claims.dev ? { device: claims.dev } : {}), permissions: permissionsPayload(user),
    };
  }

  async function login(req) {
    const body = await readJsonObject(req, { maxBytes: 16 * 1024, timeoutMs: lim.bodyTimeoutMs });
    const { device, ...credentials } = body;
    const dev = optionalDevice(device);
    const answer = await hook.login(credentials, { device: dev, headers: req.headers });
    if (answer === null || answer === undefined) {
      throw new HttpError(401, 'unauthenticated', hook.refusedMessage ?? 'sign-in refused');
    }
    const who = checkIdentity(answer);
    const user = { tenant: who.tenant, read: who.read, write: who.write };
    // Without a lookup, the grants travel in the signed tokens (auth.js).
    const grants = hook.lookup ? {} : { rd: who.read, wr: who.write };
    const claims = { tid: who.tenant, sub: who.user, dev, auth: now(), ...grants };
    const offline = tokens.issue('offline', claims);
    return { ...session(who.user, user, claims), offlineToken: offline.token, offlineExpiresAt: offline.expiresAt };
  }

  async function refresh(req) {
    const { claims, user } = await authenticate(req, 'offline');
    return session(claims.sub, user, claims);
  }

  async function me(req) {
    const { claims, user } = await authenticate(req, 'access');
    return {
      v: 1, tenant: claims.tid, user: claims.sub, ...(claims.dev ? { device: claims.dev } : {}),
      permissions: permissionsPayload(user), authAt: claims.auth, expiresAt: claims.exp,
    };
  }

  /**
   * What push and pull share: token, body, device, context. Returns the checked body, the
   * context for the store, and the store of the token's tenant.
   */
  async function syncRequest(req) {
    const { claims, user } = await authenticate(req, 'access');
    const body = await readJsonObject(req, { maxBytes: lim.maxBodyBytes, timeoutMs: lim.bodyTimeoutMs });
    checkStructure(body, lim.maxDepth);
    // 1: changes carry their state as JSON; 2: in the compact form (docs/PROTOCOL.md).
    if (body.v !== 1 && body.v !== 2) throw new HttpError(400, 'invalid', 'v must be 1 or 2');
    const device = optionalDevice(body.device);
    if (device === undefined) throw new HttpError(400, 'invalid', 'device is required');
    // Its own code, not `denied`: the user may well sync, only not with this token from this
    // device, so the client asks for a sign-in instead of giving up on the operations.
    if (claims.dev && claims.dev !== device) {
      throw new HttpError(403, 'device', `this token is for device ${claims.dev}`);
    }
    const nowMs = now();
    const perms = permsFor(user, nowMs - claims.auth <= lim.stepUpMaxAgeMs);
    const ctx = { tenant: claims.tid, user: claims.sub, device, nowMs, perms };
    return { body, ctx, store: await stores.get(claims.tid) };
  }

  /**
   * Calls the store and checks it answered JSON text; its SloopErrors become HttpErrors. A push
   * also tells the store how many operations it carries (the bound of a group commit).
   */
  async function callStore(store, method, body, ctx) {
    let answer;
    try {
      answer = await store[method](JSON.stringify(body), JSON.stringify(ctx), body.ops?.length);
    } catch (err) {
      throw fromStoreError(err) ?? err;
    }
    if (typeof answer !== 'string') throw new Error(`tenant store ${method} answered ${typeof answer}, not JSON text`);
    return answer;
  }

  async function push(req) {
    const { body, ctx, store } = await syncRequest(req);
    if (!Array.isArray(body.ops)) throw new HttpError(400, 'invalid', 'ops must be an array');
    if (body.ops.length > lim.maxOps) {
      throw new HttpError(413, 'toobig', `${body.ops.length} operations in one batch; the limit is ${lim.maxOps}`);
    }
    precheckPush(body, ctx.perms, lim.stepUpMaxAgeMs);
    return callStore(store, 'push', body, ctx);
  }

  async function pull(req) {
    const { body, ctx, store } = await syncRequest(req);
    precheckPull(body, ctx.perms);
    return callStore(store, 'pull', body, ctx);
  }

  const routes = {
    '/v1/login': { POST: login },
    '/v1/refresh': { POST: refresh },
    '/v1/me': { GET: me },
    '/v1/push': { POST: push },
    '/v1/pull': { POST: pull },
  };

  /** Routes one request; every outcome, including bugs, ends in a JSON answer. */
  async function handle(req, res) {
    const path = req.url.split('?', 1)[0];
    try {
      if (closing) throw new HttpError(503, 'unavailable', 'server is shutting down', { connection: 'close' });
      // Set before any answer, so every one (errors included) carries them; a preflight ends here.
      if (corsRules.apply(req, res)) return;
      if (handler && (await handler(req, res))) return;
      const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
      if (route && Object.hasOwn(route, req.method)) {
        const answer = await withinTime(route[req.method](req), lim.handlerTimeoutMs, `${req.method} ${path}`);
        return sendJson(req, res, 200, answer);
      }
      if (route) {
        throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed on ${path}`,
          { allow: Object.keys(route).join(', ') });
      }
      const isRead = req.method === 'GET' || req.method === 'HEAD';
      if (serveStatic && isRead && !path.startsWith('/v1/') && (await serveStatic(req, res))) return;
      throw new HttpError(404, 'not_found', `no route for ${req.method} ${path.slice(0, 200)}`);
    } catch (err) {
      const known = err instanceof HttpError ? err : null;
      if (!known) logger.error(`sloop server: ${req.method} ${path.slice(0, 200)} failed:`, err);
      const answer = known ?? new HttpError(500, 'internal', 'internal error');
      // A body left unread (refused early) must not be drained: close the connection instead.
      const unread = !req.complete ? { connection: 'close' } : {};
      await sendJson(req, res, answer.status, { code: answer.code, message: answer.message }, { ...answer.headers, ...unread });
    }
  }

  const server = createServer({
    // Longer than a client or proxy keeps an idle connection: Node's 5 s default closed
    // connections that busy clients were reusing, and a POST cut that way is not retried (50
    // CoreDb clients on a loaded machine lost ~3% of requests). Idle time is not headers time.
    keepAliveTimeout: lim.keepAliveTimeoutMs,
    headersTimeout: lim.headersTimeoutMs,
    requestTimeout: lim.bodyTimeoutMs + lim.headersTimeoutMs,
    // How often Node looks for connections over those timeouts; its default (30 s) would let
    // a slow client hold a socket far past them.
    connectionsCheckingInterval: Math.min(1_000, lim.headersTimeoutMs),
  }, (req, res) => {
    inFlight += 1;
    res.on('close', () => {
      inFlight -= 1;
      if (inFlight === 0 && idle) idle();
    });
    handle(req, res).catch((err) => {
      logger.error('sloop server: answering failed:', err);
      res.destroy();
    });
  });
  // Malformed HTTP never reaches the handler; answer it in the same JSON shape.
  server.on('clientError', (err, socket) => {
    if (!socket.writable || err.code === 'ECONNRESET') return socket.destroy();
    const slow = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const text = JSON.stringify(slow
      ? { code: 'timeout', message: 'request headers not received in time' }
      : { code: 'invalid', message: `bad HTTP request: ${err.code ?? 'parse error'}` });
    socket.end(`HTTP/1.1 ${slow ? '408 Request Timeout' : '400 Bad Request'}\r\n`
      + `content-type: application/json\r\ncache-control: no-store\r\n`
      + `connection: close\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
  });

  return {
    server,
    /**
     * Starts listening.
     * @param {{port?: number, host?: string}} [where] port 0 picks a free port
     * @returns {Promise<string>} the base URL
     */
    listen({ port = 0, host = '127.0.0.1' } = {}) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve(`http://${host}:${server.address().port}`);
        });
      });
    },
    /**
     * Stops accepting connections, lets requests in flight finish (up to shutdownGraceMs, then
     * cuts them), and closes every tenant store. Safe to call more than once.
     * @returns {Promise<void>}
     */
    close() {
      closing ??= (async () => {
        const stopped = new Promise((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        if (inFlight > 0) {
          let timer;
          await Promise.race([
            new Promise((resolve) => { idle = resolve; }),
            new Promise((resolve) => { timer = setTimeout(resolve, lim.shutdownGraceMs); }),
          ]);
          clearTimeout(timer);
        }
        server.closeAllConnections();
        await stopped;
        // A store still opening (or closing) after the grace is abandoned, not awaited for ever.
        await stores.closeAll(lim.shutdownGraceMs);
      })();
      return closing;
    },
  };
}
