// Auth states of the public API against the real server: signed out before any token, a token
// refused as another device's or a device that is another user's (needs-reauth), retryAt
// cleared by a success, the passwordAuth helper (sign-in, refresh, sign-out), and two users on
// one browser, each with a database of their own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openSloop, passwordAuth, memoryStorage, deleteSloop, databaseName } from '../../js/sloop.js';
import { classify } from '../../js/client/transport.js';
import { startTestServer, openClient, login, schema, backend, freshName, nextEvent, waitFor } from './client-harness.js';

let server;
before(async () => { server = await startTestServer(); });
after(() => server.close());

const quiet = { debounceMs: 60_000, intervalMs: 0 };

test('403 device is a reason to sign in again, like 403 stepup; other 403s are refusals', () => {
  assert.equal(classify(403, 'device'), 'reauth');
  assert.equal(classify(403, 'stepup'), 'reauth');
  assert.equal(classify(403, 'denied'), 'refused');
  assert.equal(classify(401, 'expired'), 'expired');
});

test('before any token the status is signed-out, not expired; writes wait; a sign-in syncs them', async () => {
  const session = { token: null };
  const db = await openSloop({ name: freshName('signed-out'), schema, backend: backend(), serverUrl: server.url, auth: { getToken: () => session.token }, sync: quiet });
  try {
    await waitFor(() => db.status.auth === 'signed-out', 'the first cycle to find no token');
    assert.equal(db.status.paused, true, 'automatic sync waits for a sign-in');
    assert.equal(db.status.error.code, 'unauthenticated');
    await db.put('notes', 's1', { title: 'written before signing in' });
    await assert.rejects(db.sync(), (e) => e.kind === 'signed-out' && e.code === 'unauthenticated');
    assert.equal(db.status.auth, 'signed-out');
    assert.equal(db.status.pendingOps, 1);
    assert.equal(db.status.failedOps, 0, 'being signed out rejects no operation');

    Object.assign(session, await login(server.url, 'alice', db.device));
    await db.sync();
    assert.equal(db.status.auth, 'ok');
    assert.equal(db.status.paused, false);
    assert.equal(db.status.pendingOps, 0);
    assert.equal(await db.recordState('notes', 's1'), 'synced');

    // Signing out again: the next cycle says so.
    session.token = null;
    await assert.rejects(db.sync(), (e) => e.kind === 'signed-out');
    assert.equal(db.status.auth, 'signed-out');
  } finally {
    await db.close();
  }
});

test('a token bound to another device: 403 device, needs-reauth, operations kept; a sign-in for this device syncs', async () => {
  const session = { token: null };
  const db = await openSloop({ name: freshName('other-device'), schema, backend: backend(), serverUrl: server.url, auth: { getToken: () => session.token }, sync: quiet });
  try {
    Object.assign(session, await login(server.url, 'alice', 'some-other-device'));
    await db.put('notes', 'd1', { title: 'pushed with the wrong token' });
    const reauth = nextEvent(db, 'status', (s) => s.auth === 'needs-reauth');
    await assert.rejects(db.sync(), (e) => e.code === 'device' && e.kind === 'reauth' && e.status === 403);
    await reauth;
    assert.equal(db.status.paused, true);
    assert.equal(db.status.error.code, 'device');
    assert.equal(db.status.pendingOps, 1, 'kept for after the sign-in');
    assert.equal(db.status.failedOps, 0);

    Object.assign(session, await login(server.url, 'alice', db.device));
    const synced = nextEvent(db, 'status', (s) => s.auth === 'ok' && s.pendingOps === 0 && !s.syncing);
    db.resume();
    await synced;
    assert.equal(await db.recordState('notes', 'd1'), 'synced');
  } finally {
    await db.close();
  }
});

test("a shared database synced by one user, then another user's token: 403 device, needs-reauth, nothing mixed", async () => {
  const a = await openClient(server, 'alice');
  try {
    await a.db.put('notes', 'x1', { title: "alice's" });
    await a.db.sync();
    // Bob signs in on the same database (no per-user name): the device is alice's.
    Object.assign(a.session, await login(server.url, 'bob', a.db.device));
    await a.db.put('notes', 'x2', { title: "bob's, on alice's device" });
    await assert.rejects(a.db.sync(), (e) => e.code === 'device' && e.kind === 'reauth');
    assert.equal(a.db.status.auth, 'needs-reauth');
    assert.match(a.db.status.error.message, /another user/);
    assert.equal(a.db.status.pendingOps, 1);
    const bob = await openClient(server, 'bob');
    assert.equal(await bob.db.get('notes', 'x2'), undefined, 'nothing of it reached the server');
    await bob.db.close();
  } finally {
    await a.db.close();
  }
});

test('retryAt is set by a failed cycle and gone after a successful one', async () => {
  const session = await login(server.url, 'alice');
  let failing = true;
  const fetch = async (url, init) => {
    if (failing) throw new TypeError('fetch failed');
    return globalThis.fetch(url, init);
  };
  const db = await openSloop({
    name: freshName('retry-at'), schema, backend: backend(), serverUrl: server.url, fetch,
    auth: { getToken: () => session.token }, sync: { ...quiet, backoff: { baseMs: 600_000, maxMs: 600_000 } },
  });
  try {
    await assert.rejects(db.sync(), (e) => e.kind === 'network');
    assert.ok(db.status.retryAt > Date.now(), 'a retry is planned');
    failing = false;
    const event = nextEvent(db, 'status', (s) => s.lastSyncAt !== null && !s.syncing);
    await db.sync();
    assert.ok(!('retryAt' in db.status), `status after success: ${JSON.stringify(db.status)}`);
    assert.ok(!('retryAt' in (await event)), 'the status event says so too');
    assert.equal(db.status.error, null);
  } finally {
    await db.close();
  }
});

test('passwordAuth: wrong password, sign-in, refresh after expiry, refused offline token, sign-out', async () => {
  const storage = memoryStorage();
  const auth = passwordAuth({ serverUrl: server.url, storage });
  assert.equal(auth.user, null);
  assert.equal(auth.getToken(), null);
  assert.equal(await auth.refresh(), null, 'nothing to refresh when signed out');
  const db = await openSloop({ name: freshName('pw'), user: 'alice', schema, backend: backend(), serverUrl: server.url, auth, sync: quiet });
  try {
    await assert.rejects(auth.signIn('alice', 'wrong', db.device), (e) => e.code === 'unauthenticated');
    await assert.rejects(db.sync(), (e) => e.kind === 'signed-out', 'a helper without tokens is signed out');
    const session = await auth.signIn('alice', 'alice-sloop-demo', db.device);
    assert.deepEqual([session.user, session.tenant, session.device], ['alice', 'acme', db.device]);
    assert.equal(auth.user, 'alice');
    assert.equal(auth.signedIn, true);
    assert.equal(JSON.parse(storage.getItem('sloop-session')).user, 'alice', 'kept in the storage given');
    await db.put('notes', 'pw1', { title: 'first' });
    await db.sync();

    server.advance(2 * 3_600_000); // the access token has expired
    const before = auth.getToken();
    await db.put('notes', 'pw2', { title: 'after expiry' });
    await db.sync();
    assert.notEqual(auth.getToken(), before, 'refresh stored a new access token');
    assert.equal(db.status.auth, 'ok');
    assert.equal(await db.recordState('notes', 'pw2'), 'synced');

    server.advance(40 * 86_400_000); // and the offline token too
    await db.put('notes', 'pw3', { title: 'needs the password' });
    await assert.rejects(db.sync(), (e) => e.code === 'expired');
    assert.equal(db.status.auth, 'needs-reauth');
    assert.equal(auth.user, 'alice', 'who to ask for is kept');
    assert.equal(auth.signedIn, false);
    server.advance(-(2 * 3_600_000 + 40 * 86_400_000));

    await auth.signIn('alice', 'alice-sloop-demo', db.device);
    db.resume();
    await waitFor(() => db.status.pendingOps === 0 && db.status.auth === 'ok', 'the write after signing in again');

    auth.signOut();
    assert.equal(auth.user, null);
    assert.equal(auth.getToken(), null);
    assert.equal(storage.getItem('sloop-session'), null);
    await assert.rejects(db.sync(), (e) => e.kind === 'signed-out');
    assert.equal(db.status.auth, 'signed-out');
  } finally {
    await db.close();
  }
});

test('two users on one browser: each has a database; pending writes never cross; A finds hers on return', async () => {
  const name = freshName('shared-browser');
  const storage = memoryStorage(); // one browser: one storage for the session
  const auth = passwordAuth({ serverUrl: server.url, storage });
  let online = true;
  const fetch = async (url, init) => {
    if (!online) throw new TypeError('fetch failed');
    return globalThis.fetch(url, init);
  };
  const open = (user) => openSloop({ name, user, schema, backend: backend(), serverUrl: server.url, auth, fetch, sync: quiet });

  // Alice signs in, syncs, then writes offline and signs out with the write pending.
  let a = await open('alice');
  assert.equal(a.user, 'alice');
  const aliceDevice = a.device;
  await auth.signIn('alice', 'alice-sloop-demo', a.device);
  await a.put('notes', 'shared', { title: 'synced by alice' });
  await a.sync();
  online = false;
  await a.put('notes', 'a-offline', { title: 'alice, offline' });
  assert.equal(a.status.pendingOps, 1);
  auth.signOut();
  await a.close();

  // Bob on the same browser: his own database, device and queue.
  online = true;
  const b = await open('bob');
  try {
    assert.notEqual(b.device, aliceDevice);
    assert.equal(b.status.pendingOps, 0, "alice's pending write is not in bob's queue");
    await auth.signIn('bob', 'bob-sloop-demo', b.device);
    await b.put('notes', 'b1', { title: "bob's" });
    await b.sync();
    assert.equal(b.status.auth, 'ok');
    assert.equal(b.status.pendingOps, 0);
    assert.equal(await b.get('notes', 'a-offline'), undefined, 'bob never sees it');
    assert.equal((await b.get('notes', 'shared')).title, 'synced by alice', 'the tenant data he may read comes from the server');
    auth.signOut();
  } finally {
    await b.close();
  }

  // Alice returns: her write is still pending, and syncs once she signs in.
  a = await open('alice');
  try {
    assert.equal(a.device, aliceDevice);
    assert.equal(a.status.pendingOps, 1);
    assert.equal((await a.get('notes', 'a-offline')).title, 'alice, offline');
    assert.equal(await a.get('notes', 'b1'), undefined, 'not pulled yet: nothing of bob was in her database');
    await auth.signIn('alice', 'alice-sloop-demo', a.device);
    await a.sync();
    assert.equal(a.status.pendingOps, 0);
    assert.equal(await a.recordState('notes', 'a-offline'), 'synced');
    assert.equal((await a.get('notes', 'b1')).title, "bob's");
  } finally {
    await a.close();
  }
  await deleteSloop({ name, user: 'alice', backend: backend() });
  await deleteSloop({ name, user: 'bob', backend: backend() });
  assert.equal(databaseName('notes', 'a@b/c'), 'notes@a%40b%2Fc');
  assert.equal(databaseName('notes'), 'notes');
});

test('passwordAuth: a server that takes the sign-in and never answers is given up after timeoutMs', async () => {
  const signals = [];
  // A fetch that answers only by being aborted, as a hung server or proxy would leave it.
  const hung = (url, init) => new Promise((_, reject) => {
    signals.push(init.signal);
    init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
  });
  const storage = memoryStorage();
  const auth = passwordAuth({ serverUrl: 'http://127.0.0.1:9', storage, fetch: hung, timeoutMs: 100 });
  const started = Date.now();
  await assert.rejects(auth.signIn('alice', 'pw'), (e) => e.code === 'timeout' && /POST \/v1\/login: no answer within 100 ms/.test(e.message));
  assert.ok(Date.now() - started < 5000);
  assert.equal(signals.length, 1);
  assert.equal(signals[0].aborted, true, 'the request was aborted, not left open');
  assert.equal(auth.signedIn, false, 'nothing was kept');

  storage.setItem('sloop-session', JSON.stringify({ user: 'alice', tenant: 'acme', token: null, offlineToken: 'o' }));
  await assert.rejects(auth.refresh(), { code: 'timeout' });
  assert.equal(signals[1].aborted, true);
  assert.equal(auth.session.offlineToken, 'o', 'a refresh that timed out keeps the offline token');
});
