/**
 * methods.js -- the one table of the public Sloop methods. Everything that lists them derives
 * from it: the handle's methods (js/sloop.js generates the ones it does not write itself), the
 * engine's dispatch (js/engine/serve.js accepts exactly these names), and the type
 * declarations (tests/node/method-table.test.js fails when js/sloop.d.ts's `Sloop` and this
 * table disagree).
 *
 * Each entry says where the method runs:
 *   - `via: 'write'`   the engine runs the core call of that name, then collects its changes
 *                      and plans a push (SloopEngine.written); resolves with the core's answer
 *   - `via: 'read'`    the engine runs the core call of that name and answers its result
 *   - `via: 'engine'`  a SloopEngine method of that name (js/engine/engine.js)
 *   - `via: 'handle'`  the page's handle only (live queries and field handles run beside the
 *                      app, on get, query and the 'change' event); never sent to the engine
 * `resolvesVoid: true`: the method resolves with nothing once the engine has answered (the
 * handle drops the answer); sloop.d.ts declares exactly these `Promise<void>`.
 * @module sloop/client/methods
 */

/** @typedef {{via: 'write'|'read'|'engine'|'handle', resolvesVoid?: boolean}} MethodSpec */

/** @type {Readonly<Record<string, MethodSpec>>} */
export const METHODS = Object.freeze({
  // documents: durable locally when they resolve (the operation id), a push follows
  put: { via: 'write' }, // (coll, id, doc) creates or replaces a document
  putMany: { via: 'write' }, // (coll, rows) many documents of one collection, all or nothing
  patch: { via: 'write' }, // (coll, id, changes) some fields: set, unset, $inc, $add/$remove, $edit, ...
  delete: { via: 'write' }, // (coll, id)
  get: { via: 'read' }, // (coll, id) one document, or undefined
  query: { via: 'engine' }, // (coll, query?) rows {id, doc, state}
  search: { via: 'engine' }, // (coll, text, {limit}?) full-text, the user's text taken literally
  live: { via: 'handle' }, // (coll, query, callback) query() now and after every change; unsubscribe
  recordState: { via: 'read' }, // (coll, id) the record's sync state
  text: { via: 'handle' }, // (coll, id, field, options?) a TextHandle
  list: { via: 'handle' }, // (coll, id, field, options?) a ListHandle
  // conflicts and refused operations
  conflicts: { via: 'read' }, // () open conflicts
  resolve: { via: 'write' }, // (conflictId, value) closes a conflict; pushed like any write
  failedOps: { via: 'engine' }, // () operations the server refused
  retry: { via: 'engine', resolvesVoid: true }, // (opId?) queues failed operations again
  discard: { via: 'engine', resolvesVoid: true }, // (opId) drops a failed operation
  // sync control and lifecycle
  sync: { via: 'engine', resolvesVoid: true }, // () push everything, then pull until the server has nothing more
  pause: { via: 'engine', resolvesVoid: true }, // () automatic sync off in every tab (the handle's own: status.paused at once)
  resume: { via: 'engine', resolvesVoid: true }, // () automatic sync on again (the handle's own, as pause)
  close: { via: 'engine', resolvesVoid: true }, // ({waitDurable}?) the handle's own close, which closes the engine
});

/**
 * Engine calls that are not public methods: `open` (the handle's first call, with openSloop's
 * options) and `coreCall` (a core method by name, for tests and tools: `db.persistent.call`).
 */
export const INTERNAL_METHODS = Object.freeze({
  open: { via: 'engine' },
  coreCall: { via: 'engine' },
});

/** The names the engine answers: the table's, less the handle's own, and the internal ones. */
export const ENGINE_METHODS = new Set([
  ...Object.keys(METHODS).filter((name) => METHODS[name].via !== 'handle'),
  ...Object.keys(INTERNAL_METHODS),
]);
