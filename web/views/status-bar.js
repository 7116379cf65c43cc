/**
 * status-bar.js -- what the header and banners say about the connection and sync, from the
 * database's status (db.status):
 *
 *   offline             a banner, with how many changes wait on this device
 *   syncing             a small spinner and "Syncing…"; a large initial sync (more than one
 *                       pull page) shows "Syncing page k of n" with a progress bar; a
 *                       resync (after a long time offline) says it is checking the device
 *   needs-reauth        a banner with a Sign in button (the dialog is reauth-dialog.js)
 *   idle                "All changes synced" or "n changes waiting", and when it last synced
 *
 * The indicator is a polite live region: its text changes only when the state does, so
 * screen readers are not flooded during a long sync.
 */
import { byId, timeAgo } from '../dom.js';

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** The words for changes waiting on this device. */
export function pendingText(pendingOps) {
  return pendingOps > 0 ? `${plural(pendingOps, 'change', 'changes')} saved on this device, not yet synced.` : 'Nothing is waiting to sync.';
}

/** What the indicator says; `progress` is [page, pages] for a sync of several pages. */
function indicatorState(status) {
  if (status.auth === 'needs-reauth') return { text: 'Sync paused: sign in again', active: false };
  if (!status.online) return { text: status.pendingOps ? `Offline · ${plural(status.pendingOps, 'change', 'changes')} waiting` : 'Offline', active: false };
  // A resync re-checks everything this device holds against the server (after a long time
  // offline): said apart, since it can take longer than a usual sync.
  if (status.syncing && status.resync) {
    const { page, pages } = status.resync;
    return pages > 0
      ? { text: `Checking this device against the server: page ${page} of ${pages}`, active: true, progress: [page, pages] }
      : { text: 'Checking this device against the server…', active: true };
  }
  if (status.syncing && status.pullPages > 1) {
    return { text: `Syncing page ${status.pullPage} of ${status.pullPages}`, active: true, progress: [status.pullPage, status.pullPages] };
  }
  if (status.syncing) return { text: 'Syncing…', active: true };
  if (status.pendingOps) return { text: `${plural(status.pendingOps, 'change', 'changes')} waiting`, active: false };
  return { text: status.lastSyncAt ? `All changes synced ${timeAgo(status.lastSyncAt)}` : 'Not synced yet', active: false };
}

/**
 * Binds the header and banners to a status source.
 * @param {{onSignInAgain: () => void}} actions
 * @returns {(status: object) => void} call with every new status
 */
export function mountStatusBar({ onSignInAgain }) {
  const indicator = byId('sync-indicator');
  const text = byId('sync-text');
  const progress = byId('sync-progress');
  const offline = byId('offline-banner');
  const offlineDetail = byId('offline-detail');
  const auth = byId('auth-banner');
  const authDetail = byId('auth-detail');
  byId('auth-banner-button').addEventListener('click', onSignInAgain);

  return function renderStatus(status) {
    const state = indicatorState(status);
    if (text.textContent !== state.text) text.textContent = state.text;
    indicator.classList.toggle('active', state.active);
    indicator.setAttribute('aria-busy', String(state.active));
    progress.hidden = !state.progress;
    if (state.progress) {
      progress.max = state.progress[1];
      progress.value = state.progress[0];
    }
    offline.hidden = status.online;
    offlineDetail.textContent = `Changes are saved on this device and sync when the connection returns. ${pendingText(status.pendingOps)}`;
    auth.hidden = status.auth !== 'needs-reauth';
    authDetail.textContent = `Your session expired. ${pendingText(status.pendingOps)}`;
  };
}
