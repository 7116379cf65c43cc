// merge_hook.js -- Emscripten JS library paired with glue.c: calls the custom merge function
// JavaScript registered for a database handle (Module.sloopMergeHandlers[handle]). Values
// cross as JSON text; the result is written into memory from _malloc, which C frees.
mergeInto(LibraryManager.library, {
  sloop_js_merge__deps: ['malloc'],
  sloop_js_merge: function (db, coll, field, current, incoming, out) {
    var handlers = Module['sloopMergeHandlers'];
    var fn = handlers && handlers[db];
    if (!fn) return 1;
    try {
      var result = fn(UTF8ToString(coll), UTF8ToString(field),
        current ? JSON.parse(UTF8ToString(current)) : undefined,
        incoming ? JSON.parse(UTF8ToString(incoming)) : undefined);
      if (result === undefined) {
        HEAPU32[out >> 2] = 0;
        return 0;
      }
      var text = JSON.stringify(result);
      var size = lengthBytesUTF8(text) + 1;
      var ptr = _malloc(size);
      if (!ptr) return 1;
      stringToUTF8(text, ptr, size);
      HEAPU32[out >> 2] = ptr;
      return 0;
    } catch (e) {
      // A throwing merge rejects the operation (SLOOP_MERGE); it must not unwind through C.
      if (typeof console !== 'undefined') console.error('sloop: custom merge threw', e);
      return 1;
    }
  },
});
