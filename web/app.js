/**
 * app.js -- Sloop Field Notes: starts the app and wires the views to the database.
 *
 * Start: register the service worker (the app then starts offline), read the saved session,
 * or show the sign-in screen, then open this user's database with the public API
 * (/js/sloop.js) and mount the views. A device that signed in once never waits for the
 * network: the database opens from IndexedDB and syncs when it can.
 *
 * Only the public API is used; the views never see tokens, and session.js never sees notes.
 */
import { registerServiceWorker } from '/js/sw-client.js';
import { openSloop } from '/js/sloop.js';
import { byId } from './dom.js';
import { loadSession, refreshSession, signIn, signOut } from './session.js';
import { mountStatusBar, pendingText } from './views/status-bar.js';
import { mountNoteList } from './views/note-list.js';
import { mountNoteEditor } from './views/note-editor.js';
import { mountConflicts } from './views/conflicts.js';
import { mountFailedOps } from './views/failed-ops.js';
import { askToSignIn, mountReauthDialog } from './views/sign-in.js';

/** Shows an unexpected error where it cannot be missed, and keeps it in the console. */
function reportError(error) {
  console.error(error);
  const banner = byId('auth-banner');
  if (!banner.hidden) return;
  byId('sync-text').textContent = `Something went wrong: ${error?.message ?? error}`;
}
globalThis.reportError ??= reportError;

/** "Update available": the new version waits until the user reloads. */
async function startServiceWorker(onPushReplayed) {
  const banner = byId('update');
  const sw = await registerServiceWorker({ onUpdateAvailable: () => { banner.hidden = false; }, onPushReplayed });
  banner.querySelector('button').onclick = async () => {
    await sw.applyUpdate();
    location.reload();
  };
  return sw;
}

/** Each user of this browser has a database of their own. */
const databaseName = (user) => `fieldnotes-${user}`;

function openNotes(user, schema) {
  return openSloop({
    name: databaseName(user),
    serverUrl: location.origin,
    schema,
    auth: { getToken: () => loadSession()?.token ?? null, refresh: refreshSession },
  });
}

/** Mounts every view on an open database; returns nothing, the views live as long as the page. */
function mountViews(db, session) {
  window.sloopRunsIn = db.runsIn; // where the engine runs, for the end-to-end tests
  let marks = { blocked: !navigator.onLine, conflicted: new Set(), rejected: new Set() };
  const setMarks = (changes) => {
    marks = { ...marks, ...changes };
    list.setMarks(marks);
    editor.setMarks(marks);
  };
  let wasNeedingReauth = false;

  const renderStatus = mountStatusBar({ onSignInAgain: () => reauth.open() });
  const reauth = mountReauthDialog({
    user: session.user,
    device: db.device,
    describe: () => `It expired while this device was offline. Nothing is lost: ${pendingText(db.status.pendingOps)} Sign in to sync them.`,
    onSignedIn: () => db.resume(),
  });
  const editor = mountNoteEditor({
    db, user: session.user, onError: reportError,
    onSelected: (id) => list.setSelected(id),
  });
  // A refused change is queued again; a push that failed for lack of network is tried now.
  const retryNote = async (rid) => {
    const refused = (await db.failedOps()).filter((op) => op.rid === rid);
    for (const op of refused) await db.retry(op.id);
    if (!refused.length) await db.sync();
  };
  const list = mountNoteList({ db, onOpen: (id) => editor.open(id), onRetry: (id) => retryNote(id).catch(reportError) });
  const renderConflicts = mountConflicts({ db, onError: reportError, onOpenNote: (id) => editor.open(id) });
  const renderFailed = mountFailedOps({ db, onError: reportError });

  db.addEventListener('change', () => editor.refresh().catch(reportError));
  const refreshDecisions = async () => {
    const conflicts = (await db.conflicts()).filter((c) => (c.status ?? 'open') === 'open');
    const failed = await db.failedOps();
    setMarks({ conflicted: new Set(conflicts.map((c) => c.rid)), rejected: new Set(failed.map((op) => op.rid)) });
    await renderConflicts(conflicts);
    await renderFailed(failed);
  };
  let decisionCounts = '';
  const onStatus = () => {
    const status = { ...db.status, online: db.status.online && navigator.onLine };
    renderStatus(status);
    const blocked = !status.online || status.auth === 'needs-reauth';
    if (blocked !== marks.blocked) setMarks({ blocked });
    // A conflict closed elsewhere or a failed change retried changes only the counts.
    const counts = `${status.openConflicts}/${status.failedOps}`;
    if (counts !== decisionCounts) refreshDecisions().catch(reportError);
    decisionCounts = counts;
    // 'expired' is a token refresh under way, which ends in 'ok' or 'needs-reauth' again: the
    // dialog stays as it is meanwhile. Closing it there and opening it again took the focus
    // from the password field the user may be typing in (another sync cycle refreshing while
    // the dialog was open).
    if (status.auth !== 'expired') {
      const needsReauth = status.auth === 'needs-reauth';
      if (needsReauth && !wasNeedingReauth) reauth.open();
      if (!needsReauth) reauth.close();
      wasNeedingReauth = needsReauth;
    }
  };
  db.addEventListener('status', onStatus);
  for (const type of ['conflict', 'failed']) db.addEventListener(type, () => refreshDecisions().catch(reportError));
  // Titles in the panels follow the notes; with no panel shown there is nothing to refresh.
  db.addEventListener('change', () => {
    if (db.status.openConflicts || db.status.failedOps) refreshDecisions().catch(reportError);
  });
  addEventListener('online', onStatus);
  addEventListener('offline', onStatus);
  setInterval(onStatus, 30_000); // "synced 5 min ago" ages

  byId('new-note').addEventListener('click', () => editor.showNew());
  const syncNow = byId('sync-now');
  syncNow.hidden = false;
  syncNow.addEventListener('click', () => db.sync().catch(() => {})); // failures show in the status
  byId('account-name').textContent = `${session.user} · ${session.tenant}`;
  byId('account').hidden = false;
  byId('sign-out').addEventListener('click', async () => {
    const pending = db.status.pendingOps;
    if (pending && !confirm(`${pendingText(pending)} They stay on this device and sync when ${session.user} signs in again. Sign out?`)) return;
    list.close();
    await db.close();
    await signOut();
    location.reload();
  });

  editor.showEmpty();
  onStatus();
}

async function main() {
  let db = null;
  startServiceWorker(() => db?.sync().catch(() => {})).catch((e) => console.warn('service worker:', e));
  const schema = await (await fetch('/schema.json')).json();
  let session = loadSession();
  if (session) db = await openNotes(session.user, schema);
  else {
    // The database is opened first: the tokens are bound to its device id.
    session = await askToSignIn(async (user, password) => {
      if (db?.name !== databaseName(user)) {
        await db?.close();
        db = await openNotes(user, schema);
      }
      return signIn(user, password, db.device);
    });
    // Without a token the first sync stopped at "needs re-auth"; now it may go on.
    db.resume();
  }
  byId('notes-view').hidden = false;
  mountViews(db, session);
  byId('main').focus();
}

main().catch(reportError);
