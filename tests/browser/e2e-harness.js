/**
 * e2e-harness.js -- what the end-to-end tests of the Field Notes app (web/) share: the real
 * sync server on the real core (with token lifetimes a test can shorten), Chromium devices
 * with storage of their own, the app driven as a person would (through labels and buttons),
 * and the server's own view of the data, read over the protocol, to check against the page.
 *
 * Screenshots go to test-results/e2e/ (git-ignored); a few are copied to docs/screenshots/.
 */
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSyncServer } from '../../js/server/sync-server.js';
import { coreStoreOpener } from '../../js/server/core-store.js';
import { CHROMIUM_ARGS } from './harness.js';

const root = new URL('../../', import.meta.url);
export const SHOTS = new URL('test-results/e2e/', root).pathname;
export const PASSWORD = (user) => `${user}-sloop-demo`;

/**
 * Starts the sync server with the app's schema and the demo users, on a temporary data folder.
 * @param {{accessTtlMs?: number, offlineTtlMs?: number}} [limits] token lifetimes
 * @returns {Promise<{url: string, close: () => Promise<void>}>}
 */
export async function startAppServer(limits = {}) {
  const dataDir = await mkdtemp(join(tmpdir(), 'sloop-e2e-'));
  const readJson = async (path) => JSON.parse(await readFile(new URL(path, root), 'utf8'));
  const sync = createSyncServer({
    users: await readJson('js/server/demo-users.json'),
    secret: randomBytes(32).toString('base64url'),
    openTenantStore: coreStoreOpener({ dataDir, schema: await readJson('web/schema.json') }),
    staticFiles: true,
    limits,
  });
  const url = await sync.listen({ port: 0, host: '127.0.0.1' });
  return {
    url,
    close: async () => {
      sync.server.closeAllConnections();
      await sync.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** One Chromium for a test file; devices are its contexts. */
export function launchBrowser() {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
}

/**
 * A server and a browser for the tests of one file, started in `before`, closed in `after`.
 * @param {{accessTtlMs?: number, offlineTtlMs?: number}} [limits] as for startAppServer
 * @returns {{server: {url: string}, browser: import('playwright-core').Browser}} filled in
 *   once `before` has run
 */
export function useAppServerAndBrowser(limits) {
  const shared = { server: null, browser: null };
  before(async () => { [shared.server, shared.browser] = await Promise.all([startAppServer(limits), launchBrowser()]); });
  after(async () => { await shared.browser?.close(); await shared.server?.close(); });
  return shared;
}

/** POSTs JSON to the server from Node, as another client would; answers the parsed body. */
async function post(url, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url + path, { method: 'POST', headers, body: JSON.stringify(body) });
  const answer = await res.json();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(answer)}`);
  return answer;
}

/** A token for a Node-side client of the server (device `probe` unless named). */
export async function serverToken(url, user = 'alice', device = 'probe', password = PASSWORD(user)) {
  return (await post(url, '/v1/login', { user, password, device })).token;
}

/**
 * What the server holds: every live note of the user's tenant, by id, read with full pulls.
 * `password` for a user that is not one of the demo's.
 * @returns {Promise<Map<string, object>>}
 */
export async function serverNotes(url, user = 'alice', password = PASSWORD(user)) {
  const token = await serverToken(url, user, 'probe', password);
  const notes = new Map();
  for (let cursor = 0, more = true; more;) {
    const page = await post(url, '/v1/pull', { v: 1, device: 'probe', cursor, limit: 1000, scope: { collections: ['notes'] } }, token);
    for (const c of page.changes) {
      if (c.deleted) notes.delete(c.rid);
      else notes.set(c.rid, c.doc);
    }
    cursor = page.cursor;
    more = page.hasMore;
  }
  return notes;
}

/** The server's notes by title (titles are unique in these tests). */
export async function serverNotesByTitle(url, user = 'alice') {
  return new Map([...(await serverNotes(url, user)).values()].map((doc) => [doc.title, doc]));
}

/**
 * Writes `count` notes straight to the server, as another device of the team did before.
 * @returns {Promise<void>}
 */
export async function seedNotes(url, count, { user = 'alice', prefix = 'Seeded note' } = {}) {
  const device = 'seed';
  const token = await serverToken(url, user, device);
  const hlc = (n) => `${Date.now().toString(16).padStart(12, '0')}-${n.toString(16).padStart(4, '0').slice(-4)}-${'5eed'.padStart(16, '0')}`;
  for (let first = 1; first <= count; first += 500) {
    const ops = [];
    for (let n = first; n < Math.min(first + 500, count + 1); n++) {
      const doc = {
        title: `${prefix} ${n}`, site: `Line ${n % 17}`, body: `Inspection round ${n}: valve torque checked, gasket ${n % 3 ? 'fine' : 'worn'}.`,
        tags: ['seeded'], status: 'open', createdBy: user, updatedAt: Date.now(),
      };
      // tags is a set (an add with a tag), body a text field (one inserted run, ids of the node
      // in the HLC), the rest values.
      const op = (k, v) => (k === 'tags' ? { add: { seeded: `${device}:${n}` } } : k === 'body' ? { seq: [{ i: `${'5eed'.padStart(16, '0')}:0`, s: v }] } : { set: v });
      const payload = Object.fromEntries(Object.entries(doc).map(([k, v]) => [k, op(k, v)]));
      ops.push({ id: `${device}:${n}`, type: 'put', coll: 'notes', rid: `seed-${n}`, hlc: hlc(n), base: 0, payload });
    }
    await post(url, '/v1/push', { v: 1, device, ops }, token);
  }
}

/** Saves a screenshot of the page under test-results/e2e/<name>.png. */
export async function screenshot(page, name) {
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

// ---- the app, driven through its labels --------------------------------------------------

/**
 * Opens the app in a new tab and waits until the service worker controls it.
 * @returns {Promise<import('playwright-core').Page>}
 */
export async function openApp(context, url) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(url + '/');
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 20000 });
  return page;
}

/** Signs in on the sign-in screen and waits for the notes. */
export async function signIn(page, user = 'alice') {
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD(user));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#notes-view').waitFor({ state: 'visible', timeout: 20000 });
}

/** A new device: a browser context of its own, the app open and signed in. */
export async function newDevice(browser, url, user = 'alice') {
  const context = await browser.newContext();
  const page = await openApp(context, url);
  await signIn(page, user);
  return { context, page };
}

/** The title element of the note with exactly this title. */
const titled = (page, title) => page.locator('.title', { hasText: new RegExp(`^${escapeRegExp(title)}$`) });

/** The list row of the note with this title. */
export function row(page, title) {
  return page.locator('#note-list li').filter({ has: titled(page, title) });
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Creates a note through the "New note" form; resolves once it is listed. */
export async function createNote(page, { title, site = '', body = '', tags = '' }) {
  await page.getByRole('button', { name: 'New note' }).click();
  await page.locator('#new-title').fill(title);
  await page.locator('#new-site').fill(site);
  await page.locator('#new-body').fill(body);
  await page.locator('#new-tags').fill(tags);
  await page.getByRole('button', { name: 'Create note' }).click();
  await row(page, title).waitFor();
}

/**
 * Opens a note in the editor by its title, and waits until the editor shows that note: the
 * editor of the note opened before (e.g. one just created) is already visible, so waiting for
 * the editor alone let the next edit land on the previous note.
 */
export async function openNote(page, title) {
  await row(page, title).locator('.note-open').click();
  await page.waitForFunction((t) => document.querySelector('#note-title')?.value === t, title, { timeout: 15000 });
}

/** Types into a text field of the open note and leaves it, which saves it. */
export async function editField(page, label, value) {
  const field = page.getByLabel(label, { exact: true });
  await field.fill(value);
  await field.press('Tab');
}

/** Adds a tag to the open note. */
export async function addTag(page, tag) {
  await page.getByLabel('New tag').fill(tag);
  await page.getByLabel('New tag').press('Enter');
  await page.locator('.chips li', { hasText: tag }).waitFor();
}

/**
 * Resolves when the note's row shows a badge: 'local', 'syncing', 'failed', 'conflict'; or
 * 'clean' for no badge at all, 'synced' for no sync badge (an open conflict allowed).
 */
export async function waitForBadge(page, title, state, timeout = 20000) {
  const selector = {
    clean: 'li:not(:has([data-badge]))',
    synced: 'li:not(:has([data-badge="local"], [data-badge="syncing"], [data-badge="failed"]))',
  }[state] ?? `li:has([data-badge="${state}"])`;
  await page.locator('#note-list').locator(selector).filter({ has: titled(page, title) }).waitFor({ timeout });
}

/** The text of every note title in the list, in order. */
export function listedTitles(page) {
  return page.locator('#note-list .title').allTextContents();
}
