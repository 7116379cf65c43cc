/*
** sloop_vfs.h -- the storage seam between SQLite and the storage backends (js/storage/).
**
** Two SQLite VFSes share one set of hooks that a host (the JS storage layer, or a native test)
** installs with sloop_vfs_init():
**
**   "sloop-mem"   The database's pages live in memory (the WASM heap), so SQLite's reads and
**                 writes are synchronous and need no Asyncify. At each commit (the
**                 SQLITE_FCNTL_SYNC boundary) the hook `commit` receives exactly the pages
**                 written since the previous commit; the host persists them (IndexedDB) as one
**                 atomic unit. Journals and temp files stay in memory. Before opening, the host
**                 loads the last durable image with sloop_vfs_image_begin/page/end.
**   "sloop-file"  Every read, write, truncate and sync of the database and its rollback journal
**                 goes to the host's file hooks (synchronous file calls in Node), so the
**                 database is not bounded by memory; durability is SQLite's own rollback
**                 journal plus fsync. Temp files stay in memory.
**
** Also here: the commit record codec and the SQLite header check, pure functions that validate
** every byte they decode (fuzzing targets). Nothing in this file knows a table schema.
**
** Functions marked "JS helper" take doubles for 64-bit quantities because Emscripten 3.1.6
** (without WASM_BIGINT) splits int64 arguments at the JS boundary; values stay below 2^53.
*/
#ifndef SLOOP_VFS_H
#define SLOOP_VFS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLOOP_VFS_MEM "sloop-mem"
#define SLOOP_VFS_FILE "sloop-file"

/* Storage page size for new "sloop-mem" files: SQLite's default page size, so one SQLite page
** is one stored page. Existing images keep the page size their commit record names. */
#define SLOOP_VFS_PAGE_SIZE 4096

/* ---------------------------------------------------------------- commit record ------ */

/* Encoded size of a commit record: fixed, little-endian, CRC-32 protected. */
#define SLOOP_VFS_RECORD_SIZE 48

/* The record stored with every durable commit. `epoch` fences writers: a flush only lands if
** the stored epoch equals the writer's. `seq` counts durable flushes. */
typedef struct sloop_vfs_record {
  uint64_t epoch;
  uint64_t seq;
  uint32_t page_size;      /* storage page size: a power of two in 512..65536 */
  uint32_t page_count;     /* ceil(file_size / page_size) */
  uint64_t file_size;      /* bytes in the database file */
  uint32_t pages_written;  /* pages this flush wrote (diagnostic only) */
} sloop_vfs_record;

/* Writes the record's SLOOP_VFS_RECORD_SIZE bytes to `out`. SLOOP_INVALID (and nothing
** written) if the record would not decode: bad page size or page_count != ceil(size/page). */
int sloop_vfs_record_encode(const sloop_vfs_record *rec, uint8_t *out);

/* Decodes `len` bytes into *out with full validation: exact length, magic, version, CRC,
** page size, page count consistent with file size. SLOOP_CORRUPT on any mismatch (then *out
** is zeroed). Never reads outside buf[0..len). */
int sloop_vfs_record_decode(const uint8_t *buf, size_t len, sloop_vfs_record *out);

/* Checks a database image's first page against its size: the SQLite magic, a valid page size,
** file_size a whole number of pages, and the header's page count not beyond the file (a
** longer file is the window before SQLite's post-commit truncate). A zero-length file passes
** (a new database). SLOOP_CORRUPT on mismatch. Reads at most 100 bytes of page0. */
int sloop_vfs_header_check(const uint8_t *page0, size_t len, uint64_t file_size);

/* ---------------------------------------------------------------- host hooks --------- */

/* What a host provides. All calls are synchronous. Offsets and sizes are doubles (see above).
**   commit    a "sloop-mem" file bound to `store` reached a commit: `n` pages, page index[i]
**             at page[i] (each page_size bytes, borrowed for the call: copy them). `truncated`
**             is 1 if the file shrank since the previous commit (drop pages >= the count).
**             0 accepts; non-zero refuses (e.g. the writer was fenced) and SQLite sees an
**             I/O error, so the transaction fails.
**   open      returns a handle >= 0 or -1; flags are SQLITE_OPEN_*.
**   read      returns bytes read (short at end of file) or -1.
**   write, truncate, sync, close, remove   0 or -1. sync's `dir` asks to fsync the directory
**             too (a new journal must be findable after power loss).
**   size      bytes, or -1.   exists   1, 0, or -1 on error.
**   fetch     a lazy "sloop-mem" file bound to `store` needs pages first..first+n-1 of the
**             last durable commit *or of a later accepted one* (the host serves pages it still
**             holds for a flush over what its store has): copy each into page[k] (page_size
**             bytes). 0 on success, 1 if the store could not be read, 2 if it lacks a page.
**             In the browser this call waits for IndexedDB: the host wraps it with JS Promise
**             Integration, and every export that can reach it must be called as promising. */
typedef struct sloop_vfs_hooks {
  int (*commit)(int store, uint32_t page_size, double file_size, int truncated, uint32_t n,
                const uint32_t *index, uint8_t *const *page);
  int (*open)(const char *path, int flags);
  int (*read)(int h, uint8_t *buf, int n, double off);
  int (*write)(int h, const uint8_t *buf, int n, double off);
  int (*truncate)(int h, double size);
  int (*sync)(int h, int dir);
  double (*size)(int h);
  int (*close)(int h);
  int (*remove)(const char *path, int dir_sync);
  int (*exists)(const char *path);
  int (*fetch)(int store, uint32_t first, uint32_t n, uint8_t *const *page);
} sloop_vfs_hooks;

/* Registers "sloop-mem" and "sloop-file" with SQLite (once) and installs `hooks` (copied;
** a later call replaces them). Any hook may be NULL when the host never uses that VFS. */
int sloop_vfs_init(const sloop_vfs_hooks *hooks);

/* WebAssembly only: sloop_vfs_init() with the hooks that wasm/src/vfs.js implements, which
** call the object the JS storage layer installs as Module.sloopHost. Internal to js/storage. */
int sloop_vfs_init_js(void);

/* ---------------------------------------------------------------- memory images ------ */

/* Creates the in-memory image of the "sloop-mem" file `name` (NUL-terminated), bound to host
** store id `store` (> 0; commits are reported with it). `rec` is the last durable commit
** record, or NULL/0 for a new empty database. Replaces an unopened image of the same name;
** SLOOP_BUSY if it is open. SLOOP_CORRUPT if the record does not decode. */
int sloop_vfs_image_begin(const char *name, int store, const uint8_t *rec, size_t rec_len);

/* The writable buffer of page `index` of an image being loaded (record's page_size bytes,
** zeroed), for the host to fill. Borrowed; NULL if out of range or out of memory. */
uint8_t *sloop_vfs_image_page(const char *name, uint32_t index);

/* Switches an image just begun (no page supplied yet) to on-demand: pages not supplied stay in
** the host's store and are fetched when SQLite reads them; at most `cache_pages` clean pages
** (at least 128) stay resident, least recently used first out. The host supplies page 0 (the
** header check needs it) and may supply more. SLOOP_INVALID after a page was supplied. */
int sloop_vfs_image_lazy(const char *name, uint32_t cache_pages);
/* Finishes loading: every page (a lazy image: page 0) must have been provided and page 0 must agree with the size
** (sloop_vfs_header_check). On SLOOP_CORRUPT or SLOOP_NOMEM the image is dropped. */
int sloop_vfs_image_end(const char *name);

/* Frees an image that no connection has open. SLOOP_BUSY if open, SLOOP_NOTFOUND if absent. */
int sloop_vfs_image_drop(const char *name);

/* JS helper: out[0..6] = lazy (0/1), resident pages, cache budget in pages (lazy), dirty
** pages, fetch calls, pages fetched, page count. SLOOP_NOTFOUND if there is no such file. */
int sloop_vfs_image_stats(const char *name, double *out);
/* JS helper: decodes a record into out[0..4] = epoch, seq, page_size, page_count, file_size. */
int sloop_vfs_record_fields(const uint8_t *buf, size_t len, double *out);

/* JS helper: encodes a record (page_count derived from file_size) into out. */
int sloop_vfs_record_make(double epoch, double seq, uint32_t page_size, double file_size,
                          uint32_t pages_written, uint8_t *out);

#ifdef __cplusplus
}
#endif
#endif /* SLOOP_VFS_H */
