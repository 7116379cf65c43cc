/**
 * server-harness.js -- what the server-*.test.js files share: a sync server on 127.0.0.1
 * (port 0) over a recording fake tenant store, test users, a settable clock, and request
 * helpers.
 *
 * The fake store is a unit-test double for the HTTP layer only: it records which tenant each
 * call reached, with what request and context, and answers canned JSON. It applies nothing;
 * what push and pull do is the core's, tested against the real store elsewhere.
 */
import { request } from 'node:http';
import { hashPassword } from '../../js/server/passwords.js';
import { createSyncServer } from '../../js/server/sync-server.js';

export const SECRET = 'test-secret-0123456789abcdef0123456789abcdef';
export const T0 = Date.UTC(2026, 0, 1);

// A cheap scrypt cost keeps the suite fast; the format and the check are the production ones.
const cheap = { N: 1024, r: 8, p: 1 };
const hash = (pw) => hashPassword(pw, cheap);

/** Users as in the demo, plus erin who may read only notes. */
export const USERS = {
  alice: { tenant: 'acme', password: await hash('alice-pw'), read: '*', write: '*' },
  bob: { tenant: 'acme', password: await hash('bob-pw'), read: '*', write: ['notes', 'tasks'] },
  dave: { tenant: 'acme', password: await hash('dave-pw'), read: '*', write: [] },
  erin: { tenant: 'acme', password: await hash('erin-pw'), read: ['notes'], write: ['notes'] },
  carol: { tenant: 'globex', password: await hash('carol-pw'), read: '*', write: '*' },
};
export const PASSWORDS = { alice: 'alice-pw', bob: 'bob-pw', dave: 'dave-pw', erin: 'erin-pw', carol: 'carol-pw' };

/**
 * A recording fake of openTenantStore. `behaviour.push/pull(request, ctx, tenant)` may
 * override the canned answer (return a string, throw, or return a promise);
 * `behaviour.open(tenant)`, when given, is awaited before a store is handed out.
 */
export function recordingStores(behaviour = {}) {
  const calls = [];
  const opened = [];
  const closed = [];
  const canned = {
    push: (req) => JSON.stringify({ v: 1, results: req.ops.map((op) => ({ id: op?.id, status: 'applied', version: 1 })), records: [], hlc: '' }),
    pull: () => JSON.stringify({ v: 1, changes: [], conflicts: [], cursor: 0, hasMore: false, remaining: 0 }),
  };
  const open = (tenant) => {
    opened.push(tenant);
    const call = (method) => (requestJson, ctxJson) => {
      const entry = { tenant, method, requestJson, request: JSON.parse(requestJson), ctx: JSON.parse(ctxJson) };
      calls.push(entry);
      return (behaviour[method] ?? canned[method])(entry.request, entry.ctx, tenant);
    };
    const store = { push: call('push'), pull: call('pull'), close: () => { closed.push(tenant); } };
    return behaviour.open ? Promise.resolve(behaviour.open(tenant)).then(() => store) : store;
  };
  return { open, calls, opened, closed };
}

/**
 * Starts a server over a recording store.
 * @param {{limits?: object, behaviour?: object, staticFiles?: boolean|object, cors?: object, auth?: object}} [options]
 *   `auth` replaces the test users with an auth hook
 */
export async function startTestServer({ limits = {}, behaviour, staticFiles = false, cors, auth } = {}) {
  const clock = { now: T0 };
  const stores = recordingStores(behaviour);
  const logged = [];
  const sync = createSyncServer({
    ...(auth ? { auth } : { users: USERS }), secret: SECRET, openTenantStore: stores.open, limits, staticFiles, cors,
    now: () => clock.now, logger: { error: (...args) => logged.push(args) },
  });
  const url = await sync.listen({ port: 0 });
  return { url, sync, stores, clock, logged, close: () => sync.close() };
}

/**
 * One request with fetch; answers {status, headers, body} with body parsed when JSON.
 * `body` objects are sent as JSON; strings and bytes as they are.
 */
export async function call(url, path, { method = 'POST', token, body, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload = body;
  if (body !== undefined && typeof body === 'object' && !(body instanceof Uint8Array)) payload = JSON.stringify(body);
  if (payload !== undefined && !Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
  const res = await fetch(url + path, { method, headers: h, body: payload });
  const text = await res.text();
  let parsed = text;
  try { parsed = JSON.parse(text); } catch { /* left as text */ }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** Logs in and returns the login answer (token, offlineToken, ...). */
export async function login(url, user, device) {
  const res = await call(url, '/v1/login', { body: { user, password: PASSWORDS[user], ...(device ? { device } : {}) } });
  if (res.status !== 200) throw new Error(`login ${user}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/**
 * A raw node:http request for what fetch cannot do (slow or endless bodies). `write(req)`
 * sends the body; resolves with {status, body} or {error} when the connection breaks first.
 */
export function rawRequest(url, path, headers, write) {
  return new Promise((resolve) => {
    const req = request(url + path, { method: 'POST', headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => { text += d; }).on('end', () => {
        let body = text;
        try { body = JSON.parse(text); } catch { /* left as text */ }
        resolve({ status: res.statusCode, headers: res.headers, body });
      });
    });
    req.on('error', (error) => resolve({ error }));
    write(req);
  });
}

/** A valid push body with `n` patch operations from device d1. */
export function pushBody(n = 1, extra = {}) {
  const ops = Array.from({ length: n }, (_, i) => ({
    id: `d1:${i + 1}`, type: 'patch', coll: 'notes', rid: `n${i}`, hlc: '0192f3a4b5c6-0000-00000000000000d1',
    base: 0, payload: { title: { set: `t${i}` } },
  }));
  return { v: 1, device: 'd1', ops, ...extra };
}
