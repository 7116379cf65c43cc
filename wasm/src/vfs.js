/**
 * vfs.js -- the Emscripten library half of wasm/src/vfs.c: the host hooks SQLite's
 * "sloop-mem" and "sloop-file" VFSes call.
 *
 * Each hook forwards to `Module.sloopHost`, which js/storage/host.js installs; the logic lives
 * there, in an ordinary ES module that reads the heap itself. Keeping this file to one line per
 * hook means the toolchain's library dialect (no imports, no classes, `Module` in scope)
 * constrains nothing that matters. Hooks must stay synchronous: SQLite is mid-call. The one
 * exception is `sloop_js_fetch`: in on-demand mode js/jspi.js wraps this import in
 * `WebAssembly.Suspending`, so the Promise the host returns suspends the WebAssembly stack
 * until IndexedDB answers (JS Promise Integration).
 */
mergeInto(LibraryManager.library, {
  sloop_js_commit: function (store, pageSize, fileSize, truncated, n, indexPtr, pagePtr) {
    return Module['sloopHost'].commit(store, pageSize, fileSize, truncated, n, indexPtr, pagePtr);
  },
  sloop_js_open: function (pathPtr, flags) {
    return Module['sloopHost'].open(UTF8ToString(pathPtr), flags);
  },
  sloop_js_read: function (h, ptr, n, off) { return Module['sloopHost'].read(h, ptr, n, off); },
  sloop_js_write: function (h, ptr, n, off) { return Module['sloopHost'].write(h, ptr, n, off); },
  sloop_js_truncate: function (h, size) { return Module['sloopHost'].truncate(h, size); },
  sloop_js_sync: function (h, dir) { return Module['sloopHost'].sync(h, dir); },
  sloop_js_size: function (h) { return Module['sloopHost'].size(h); },
  sloop_js_close: function (h) { return Module['sloopHost'].close(h); },
  sloop_js_remove: function (pathPtr, dirSync) {
    return Module['sloopHost'].remove(UTF8ToString(pathPtr), dirSync);
  },
  sloop_js_exists: function (pathPtr) {
    return Module['sloopHost'].exists(UTF8ToString(pathPtr));
  },
  sloop_js_fetch: function (store, first, n, pagePtr) {
    return Module['sloopHost'].fetch(store, first, n, pagePtr);
  },
});
