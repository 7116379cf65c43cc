/**
 * sign-in.js -- the two places a password is asked for:
 *
 *   the sign-in screen   first use on this device; needs the network
 *   the re-auth dialog   both tokens expired (typically during a long offline window); the
 *                        user, their notes and their pending changes stay as they are, and
 *                        sync resumes after the password is checked
 *
 * The dialog is a modal <dialog>: focus moves to the password field, Escape and "Later" close
 * it (the banner keeps a Sign in button), and focus returns to where it was.
 */
import { byId } from '../dom.js';
import { signIn } from '../session.js';

/**
 * Shows the sign-in screen until a sign-in succeeds.
 * @param {(user: string, password: string) => Promise<import('../session.js').Session>} signInAs
 *   checks the password (rejects with a SignInError shown to the user)
 * @returns {Promise<import('../session.js').Session>}
 */
export function askToSignIn(signInAs) {
  const view = byId('login-view');
  const form = byId('login-form');
  const error = byId('login-error');
  view.hidden = false;
  byId('login-user').focus();
  return new Promise((resolve) => {
    form.onsubmit = async (e) => {
      e.preventDefault();
      const user = form.user.value.trim();
      if (!user || !form.password.value) {
        error.textContent = 'Enter your user name and password.';
        return;
      }
      error.textContent = '';
      try {
        const session = await signInAs(user, form.password.value);
        form.reset();
        view.hidden = true;
        resolve(session);
      } catch (err) {
        error.textContent = err.message;
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
