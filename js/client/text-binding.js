/**
 * text-binding.js -- a <textarea> editing a text field (a TextHandle): the user's typing goes
 * out as splices, and other devices' edits come in where they happened, the caret and the
 * selection staying on the same text.
 *
 * Typing: each input event is diffed against what the textarea showed before (one splice:
 * common prefix and suffix, the caret saying where the change ended when repeated letters
 * make that ambiguous). An IME composition is sent once it ends, as one splice.
 *
 * Edits from elsewhere are applied while none of the textarea's own splices is in flight.
 * A splice is computed against what the textarea shows; an edit that arrives while one is
 * on its way was made against another value, so it is not applied then: once the splices in
 * flight are answered, the textarea is compared with the record and, if they differ, takes
 * the record's value. The same happens whenever the edits do not turn what the textarea
 * shows into the record's value (an event was missed). In that fallback the caret is mapped
 * through the one splice between the two values.
 *
 * Setting a textarea's value programmatically clears the browser's undo history (Chrome,
 * Firefox): undo after a remote edit arrived undoes nothing. The binding does not emulate it.
 * @module sloop/client/text-binding
 */
import { applyEdits, mapIndex, spliceBetween } from './text-edits.js';

/**
 * How long after the textarea's own splices are answered it is compared with the record. In
 * the writer tab and a worker handle the change event of a write comes before its answer; in
 * a follower tab it comes over another BroadcastChannel and may come after: comparing at once
 * there would flash the value without the user's last letters.
 */
const SETTLE_MS = 100;

/**
 * Binds a textarea to a text handle: sets its value, sends its typing, applies edits from
 * elsewhere keeping the caret.
 * @param {import('./text-handle.js').TextHandle} handle
 * @param {HTMLTextAreaElement|HTMLInputElement} textarea
 * @param {{onError?: (error: unknown) => void}} [options] onError: a splice the database refused
 *   (the textarea then returns to the record's value)
 * @returns {() => void} unbind
 */
export function bindTextarea(handle, textarea, { onError = () => {} } = {}) {
  let shown = handle.value; // what the textarea showed after the last input or applied change
  let inFlight = 0;
  let composing = false;
  let settleTimer = null;
  textarea.value = shown;

  const show = (value, edits) => {
    const { selectionStart, selectionEnd, selectionDirection, scrollTop } = textarea;
    const focused = textarea.ownerDocument?.activeElement === textarea;
    textarea.value = value;
    shown = value;
    // Unfocused, the caret does not matter, and some browsers focus a field whose selection is set.
    if (focused) textarea.setSelectionRange(mapIndex(selectionStart, edits), mapIndex(selectionEnd, edits), selectionDirection);
    textarea.scrollTop = scrollTop;
  };

  const showRecord = () => {
    const edit = spliceBetween(textarea.value, handle.value);
    if (edit) show(handle.value, [edit]);
    else shown = handle.value;
  };

  const settle = () => {
    settleTimer = null;
    if (inFlight === 0 && !composing && shown !== handle.value) showRecord();
  };

  const send = () => {
    const splice = spliceBetween(shown, textarea.value, textarea.selectionEnd);
    if (!splice) return;
    shown = textarea.value;
    inFlight++;
    handle.splice(...splice).catch(onError).finally(() => {
      if (--inFlight > 0) return;
      clearTimeout(settleTimer);
      settleTimer = setTimeout(settle, SETTLE_MS);
    });
  };

  const onInput = (e) => { if (!composing && !e.isComposing) send(); };
  const onCompositionStart = () => { composing = true; };
  const onCompositionEnd = () => {
    composing = false;
    send();
    if (inFlight === 0) settle();
  };
  const onChange = ({ detail: { edits, value } }) => {
    if (inFlight > 0 || composing) return; // settled once the textarea's own splices are answered
    if (applyEdits(shown, edits) === value && textarea.value === shown) show(value, edits);
    else showRecord();
  };

  textarea.addEventListener('input', onInput);
  textarea.addEventListener('compositionstart', onCompositionStart);
  textarea.addEventListener('compositionend', onCompositionEnd);
  handle.addEventListener('change', onChange);
  return () => {
    clearTimeout(settleTimer);
    textarea.removeEventListener('input', onInput);
    textarea.removeEventListener('compositionstart', onCompositionStart);
    textarea.removeEventListener('compositionend', onCompositionEnd);
    handle.removeEventListener('change', onChange);
  };
}
