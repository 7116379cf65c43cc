// Runs inside the page (served from tests/ by the test's route): a large initial sync under
// a long-task observer, with the public API and the browser's real IndexedDB.
import { openSloop } from '/js/sloop.js';

export async function signIn(user, device) {
  const res = await fetch('/v1/login', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, password: `${user}-sloop-demo`, device }),
  });
  if (res.status !== 200) throw new Error(`login: ${res.status}`);
  return res.json();
}

export async function openSignedIn(name, user, sync = {}, options = {}) {
  const schema = await (await fetch('/schema.json')).json();
  const session = { token: null };
  const db = await openSloop({ name, schema, serverUrl: location.origin, auth: { getToken: () => session.token }, sync: { intervalMs: 0, ...sync }, ...options });
  Object.assign(session, await signIn(user, db.device));
  return db;
}

/**
 * Opens a fresh database, syncs everything, and reports the long tasks (> 50 ms) seen on the
 * main thread from the first request to the end, with progress events and timings.
 */
export async function measureInitialSync({ user = 'carol', pullPage = 200 } = {}) {
  const db = await openSignedIn(`big-${Date.now()}`, user, { pullPage });
  const longTasks = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longTasks.push(Math.round(e.duration));
  });
  observer.observe({ type: 'longtask' });
  let maxPages = 0;
  db.addEventListener('status', (e) => { maxPages = Math.max(maxPages, e.detail.pullPages); });
  // A frame callback that keeps asking for frames shows whether rendering kept up.
  let frames = 0;
  let framing = true;
  const frame = () => { frames += 1; if (framing) requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
  const started = performance.now();
  await db.sync();
  const ms = Math.round(performance.now() - started);
  framing = false;
  await new Promise((r) => setTimeout(r, 100));
  observer.disconnect();
  const rows = await db.query('notes', { orderBy: 'updatedAt', limit: 5 });
  const { runsIn } = db;
  const total = (await db.query('notes', {})).length;
  const found = await db.search('notes', 'pump "42');
  await db.close();
  return { runsIn, ms, longTasks, maxPages, frames, total, first: rows.map((r) => r.id), searched: found.length };
}
