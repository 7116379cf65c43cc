/**
 * sign-in.js -- the two places a password is asked for:
 *
 *   the sign-in screen   first use on this device; needs the network, and says so when
 *                        there is none (a device that signed in before opens offline)
 *   the re-auth dialog   both tokens expired (typically during a long offline window); the
 *                        user, their notes and their pending changes stay as they are, and
 *                        sync resumes after the password is checked
 *
 * The dialog is a modal <dialog>: focus moves to the password field, Escape and "Later" close
 * it (the banner keeps a Sign in button), and focus returns to where it was.
 */
import { byId } from '../dom.js';
import { signIn } from '../session.js';

/** What the sign-in screen says about the network, by what it knows of it. */
const NETWORK_NOTES = {
  offline: 'You are offline. Signing in needs the network. Once signed in, this device opens your notes without a connection.',
  unreachable: 'The server could not be reached. Signing in needs the network. Once signed in, this device opens your notes without a connection.',
};
/** The alert for a sign-in tried while offline (Enter in a field submits the form regardless). */
const OFFLINE_ALERT = 'You are offline: connect to the network to sign in.';

/**
 * Shows the sign-in screen until a sign-in succeeds.
 *
 * Signing in needs the server, so the screen says when it cannot be had: while the browser
 * reports no network (`navigator.onLine` false; the button is then aria-disabled, and stays in
 * the tab order with the note as its description) and after an attempt that failed for lack of
 * network while the browser thought it was online (the button stays usable, to try again). The
 * note is a polite live region that is always in the page, empty while there is nothing to say:
 * a region revealed from `hidden` is often not announced. It goes when the network returns.
 *
 * @param {(user: string, password: string) => Promise<import('../session.js').Session>} signInAs
 *   checks the password (rejects with a SignInError shown to the user)
 * @returns {Promise<import('../session.js').Session>}
 */
export function askToSignIn(signInAs) {
  const view = byId('login-view');
  const form = byId('login-form');
  const error = byId('login-error');
  const networkNote = byId('login-offline');
  const submit = byId('login-submit');
  let unreachable = false; // the last attempt found no network though the browser reported one

  const showNetwork = () => {
    const offline = !navigator.onLine;
    const note = offline ? NETWORK_NOTES.offline : unreachable ? NETWORK_NOTES.unreachable : '';
    if (networkNote.textContent !== note) networkNote.textContent = note;
    if (offline) submit.setAttribute('aria-disabled', 'true');
    else submit.removeAttribute('aria-disabled');
  };
  const onOnline = () => {
    unreachable = false;
    if (error.textContent === OFFLINE_ALERT) error.textContent = '';
    showNetwork();
  };
  addEventListener('online', onOnline);
  addEventListener('offline', showNetwork);
  showNetwork();
  view.hidden = false;
  byId('login-user').focus();

  return new Promise((resolve) => {
    form.onsubmit = async (e) => {
      e.preventDefault();
      if (!navigator.onLine) {
        // The alert tells a screen reader user why nothing happens (the note is only polite).
        error.textContent = OFFLINE_ALERT;
        return;
      }
      const user = form.user.value.trim();
      if (!user || !form.password.value) {
        error.textContent = 'Enter your user name and password.';
        return;
      }
      error.textContent = '';
      try {
        const session = await signInAs(user, form.password.value);
        removeEventListener('online', onOnline);
        removeEventListener('offline', showNetwork);
        form.reset();
        view.hidden = true;
        resolve(session);
      } catch (err) {
        unreachable = err?.reason === 'offline';
        // No network: the note says so and why (a second copy in the alert would be read twice).
        error.textContent = unreachable ? '' : err.message;
        showNetwork();
        form.password.select();
      }
    };
  });
}

/**
 * The re-auth dialog.
 * @param {{user: string, device: string, describe: () => string, onSignedIn: () => void}} o
 *   `describe` says what waits on the device, read each time the dialog opens
 * @returns {{open: () => void, close: () => void}}
 */
export function mountReauthDialog({ user, device, describe, onSignedIn }) {
  const dialog = byId('reauth-dialog');
  const form = byId('reauth-form');
  const password = byId('reauth-password');
  const error = byId('reauth-error');
  byId('reauth-user').textContent = user;
  let returnFocus = null;

  const close = () => {
    if (!dialog.open) return;
    dialog.close();
    returnFocus?.focus?.();
  };
  byId('reauth-later').addEventListener('click', close);
  dialog.addEventListener('cancel', (e) => { e.preventDefault(); close(); });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      await signIn(user, password.value, device);
      password.value = '';
      close();
      onSignedIn();
    } catch (err) {
      error.textContent = err.message;
      password.select();
    }
  });

  return {
    open() {
      if (dialog.open) return;
      byId('reauth-detail').textContent = describe();
      returnFocus = document.activeElement;
      dialog.showModal();
      password.focus();
    },
    close,
  };
}
