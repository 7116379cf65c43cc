/**
 * dom.js -- the one DOM helper the views share: build an element from a tag, its attributes
 * and its children. No framework: views rebuild the small parts that change and leave the
 * rest (and the focus in it) alone.
 */

/**
 * Creates an element. `on<event>` props become listeners, `class` the class name, booleans
 * present-or-absent attributes; null, undefined and false children are skipped.
 *
 *   h('button', { type: 'button', onclick: save }, 'Save')
 *
 * @param {string} tag
 * @param {Record<string, unknown>} [props]
 * @param {...(Node|string|number|null|undefined|false|Array)} children
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  el.append(...children.flat().filter((c) => c != null && c !== false).map((c) => (typeof c === 'number' ? String(c) : c)));
  return el;
}

/** The element with this id; throws if the page lacks it (a typo, not a runtime condition). */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page has no #${id}`);
  return el;
}

/** Replaces an element's children. */
export function setChildren(el, ...children) {
  el.replaceChildren();
  el.append(...children.flat().filter((c) => c != null && c !== false));
}

/** Formats a past time for people: "just now", "5 min ago", else the local date and time. */
export function timeAgo(ms, now = Date.now()) {
  const seconds = Math.round((now - ms) / 1000);
  if (seconds < 45) return 'just now';
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return new Date(ms).toLocaleString();
}
