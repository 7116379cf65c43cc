/*
** glue.c -- what only the WebAssembly build has: the custom-merge bridge to JavaScript, and a
** memcpy that stays inside the module (at the end).
**
** A JS merge function cannot be a C function pointer without growing the function table, so
** the core gets one fixed C callback that calls out through sloop_js_merge (implemented in
** merge_hook.js, an Emscripten JS library), which looks up the handler registered for this
** database handle. Native builds leave this file out.
*/
#include <emscripten.h>
#include <stddef.h>

#include "internal.h"

/* Implemented in merge_hook.js. Stores a malloc'd JSON string (or 0 to unset) at *out and
** returns 0, or returns non-zero when the JS function threw or none is registered. */
extern int sloop_js_merge(sloop_db *db, const char *coll, const char *field, const char *current,
                          const char *incoming, char **out);

static int js_merge(void *ctx, const char *coll, const char *field, const char *current,
                    const char *incoming, char **out) {
  return sloop_js_merge(ctx, coll, field, current, incoming, out);
}

/* Routes this handle's custom merges to the JS handler (on = 1) or turns them off (on = 0).
** WASM-only; js/core.js calls it from CoreDb.setMerge(). */
EMSCRIPTEN_KEEPALIVE void sloop_wasm_use_js_merge(sloop_db *db, int on) {
  sloop_set_merge(db, on ? js_merge : NULL, on ? db : NULL);
}

/* Emscripten's libc hands every memcpy of 512 bytes or more to JavaScript (HEAPU8.copyWithin):
** a call out of the module each time. SQLite makes dozens per write (its in-memory rollback
** journal copies each page in 1,020-byte chunks; the page cache and b-tree copy whole pages):
** about 36 per put, 4% of a put's time in a Node profile, a cost the native build does not have.
** The bulk-memory instruction copies in place, inside the module. Smaller copies keep libc's
** loop (emscripten_builtin_memcpy, the same function as libc's memcpy), where a call into the
** engine's copy would cost more than the loop. This definition replaces libc's, which is weak. */
extern void *emscripten_builtin_memcpy(void *restrict dest, const void *restrict src, size_t n);

__attribute__((target("bulk-memory"))) void *memcpy(void *restrict dest, const void *restrict src, size_t n) {
  if (n < 512) return emscripten_builtin_memcpy(dest, src, n);
  __builtin_memcpy(dest, src, n);
  return dest;
}
