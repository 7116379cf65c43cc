/*
** test_vfs.c -- the commit record codec, the header check, and both VFSes natively: a store
** in this file plays the host (captures commits, as IndexedDB would), and POSIX calls play
** Node's file hooks.
*/
#define _POSIX_C_SOURCE 200809L /* pread, pwrite, mkdtemp under -std=c11 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sloop_vfs.h"
#include "testutil.h"

/* ---------------------------------------------------------------- a captured store --- */

#define MAX_PAGES 4096
static struct {
  uint8_t *page[MAX_PAGES];
  uint64_t file_size;
  uint32_t page_size;
  uint32_t last_n;      /* pages in the latest commit */
  int last_truncated;
  int commits;
  int refuse;           /* commit hook refuses while set */
  int fetch_calls;      /* fetch hook calls */
  int fetched;          /* pages they served */
  int fetch_fails;      /* fetch hook fails while set */
} store;

static int capture_commit(int id, uint32_t page_size, double file_size, int truncated,
                          uint32_t n, const uint32_t *index, uint8_t *const *page) {
  if (store.refuse) return 1;
  store.page_size = page_size;
  store.file_size = (uint64_t)file_size;
  uint32_t count = (uint32_t)((store.file_size + page_size - 1) / page_size);
  for (uint32_t i = count; i < MAX_PAGES && truncated; i++) free(store.page[i]), store.page[i] = NULL;
  for (uint32_t k = 0; k < n; k++) {
    assert_true(index[k] < count);
    if (!store.page[index[k]]) store.page[index[k]] = malloc(page_size);
    memcpy(store.page[index[k]], page[k], page_size);
  }
  store.last_n = n;
  store.last_truncated = truncated;
  store.commits++;
  return 0;
}

/* Serves a lazy image's pages from the captured store, as the JS host does from IndexedDB. */
static int serve_fetch(int id, uint32_t first, uint32_t n, uint8_t *const *page) {
  if (store.fetch_fails) return 1;
  store.fetch_calls++;
  for (uint32_t k = 0; k < n; k++) {
    if (first + k >= MAX_PAGES || !store.page[first + k]) return 2;
    memcpy(page[k], store.page[first + k], store.page_size);
  }
  store.fetched += (int)n;
  return 0;
}

static void store_reset(void) {
  for (int i = 0; i < MAX_PAGES; i++) free(store.page[i]);
  memset(&store, 0, sizeof(store));
}

/* Loads the captured store as an image named `name`, as the JS layer does from IndexedDB. */
static int load_image(const char *name) {
  uint8_t rec[SLOOP_VFS_RECORD_SIZE];
  int rc = sloop_vfs_record_make(1, 1, store.page_size ? store.page_size : SLOOP_VFS_PAGE_SIZE,
                                 (double)store.file_size, 0, rec);
  if (!rc) rc = sloop_vfs_image_begin(name, 1, rec, sizeof(rec));
  uint32_t count = store.page_size ? (uint32_t)((store.file_size + store.page_size - 1) / store.page_size) : 0;
  for (uint32_t i = 0; i < count && !rc; i++) {
    if (!store.page[i]) continue; /* a hole: image_end must notice */
    uint8_t *dst = sloop_vfs_image_page(name, i);
    if (!dst) return SLOOP_NOMEM;
    memcpy(dst, store.page[i], store.page_size);
  }
  return rc ? rc : sloop_vfs_image_end(name);
}

/* Loads the captured store on demand: the record and page 0 only, `cache` pages resident. */
static int load_lazy(const char *name, uint32_t cache) {
  uint8_t rec[SLOOP_VFS_RECORD_SIZE];
  int rc = sloop_vfs_record_make(1, 1, store.page_size, (double)store.file_size, 0, rec);
  if (!rc) rc = sloop_vfs_image_begin(name, 1, rec, sizeof(rec));
  if (!rc) rc = sloop_vfs_image_lazy(name, cache);
  if (!rc) {
    uint8_t *dst = sloop_vfs_image_page(name, 0);
    if (!dst) return SLOOP_NOMEM;
    memcpy(dst, store.page[0], store.page_size);
  }
  store.fetch_calls = store.fetched = 0;
  return rc ? rc : sloop_vfs_image_end(name);
}

/* stats[0..6] of sloop_vfs_image_stats. */
static void stats_of(const char *name, double *stats) {
  assert_int_equal(sloop_vfs_image_stats(name, stats), SLOOP_OK);
}

/* ---------------------------------------------------------------- POSIX file hooks --- */

static int px_open(const char *path, int flags) {
  return open(path, O_RDWR | ((flags & 0x4 /* SQLITE_OPEN_CREATE */) ? O_CREAT : 0), 0644);
}
static int px_read(int h, uint8_t *buf, int n, double off) { return (int)pread(h, buf, (size_t)n, (off_t)off); }
static int px_write(int h, const uint8_t *buf, int n, double off) {
  return pwrite(h, buf, (size_t)n, (off_t)off) == n ? 0 : -1;
}
static int px_truncate(int h, double size) { return ftruncate(h, (off_t)size); }
static int px_sync(int h, int dir) { return fsync(h); }
static double px_size(int h) {
  off_t end = lseek(h, 0, SEEK_END);
  return (double)end;
}
static int px_close(int h) { return close(h); }
static int px_remove(const char *path, int dir_sync) { return unlink(path); }
static int px_exists(const char *path) { return access(path, F_OK) == 0; }

static const sloop_vfs_hooks kHooks = {
    capture_commit, px_open, px_read, px_write, px_truncate,
    px_sync, px_size, px_close, px_remove, px_exists, serve_fetch,
};

/* ---------------------------------------------------------------- helpers ------------ */

/* The handle a test has open, so teardown can close it when an assertion bails out early. */
static sloop_db *g_open;

static sloop_db *open_on(const char *name, const char *vfs) {
  int rc = sloop_open(name, vfs, SLOOP_ROLE_CLIENT, NULL, &g_open);
  if (rc) fail_msg("open %s on %s: %s", name, vfs, sloop_errstr(rc));
  return g_open;
}

static void close_db(sloop_db *db) {
  assert_ptr_equal(db, g_open);
  g_open = NULL;
  assert_ok(NULL, sloop_close(db));
}

/* A CTE n(i) counting 1..count, for bulk inserts (the build has no generate_series). */
#define SERIES(count) \
  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " #count ") "

/* Runs SQL and compares its JSON result. */
static void expect_query(sloop_db *db, const char *sql, const char *want) {
  char *out = NULL;
  assert_ok(db, sloop_sql(db, S(sql), &out, NULL));
  assert_string_equal(out, want);
  sloop_free(out);
}

static int setup(void **state) {
  store_reset();
  return sloop_vfs_init(&kHooks);
}

static int teardown(void **state) {
  sloop_close(g_open);
  g_open = NULL;
  store_reset();
  sloop_vfs_image_drop("t.db");
  return 0;
}

/* ---------------------------------------------------------------- codec -------------- */

static void record_round_trips_and_rejects_damage(void **state) {
  sloop_vfs_record in = {7, 42, 4096, 3, 3 * 4096 - 10, 2}, out;
  uint8_t buf[SLOOP_VFS_RECORD_SIZE];
  assert_int_equal(sloop_vfs_record_encode(&in, buf), SLOOP_OK);
  assert_int_equal(sloop_vfs_record_decode(buf, sizeof(buf), &out), SLOOP_OK);
  assert_memory_equal(&in, &out, sizeof(in));
  for (size_t i = 0; i < sizeof(buf); i++) {
    buf[i] ^= 0x20;
    assert_int_equal(sloop_vfs_record_decode(buf, sizeof(buf), &out), SLOOP_CORRUPT);
    assert_int_equal(out.page_size, 0);
    buf[i] ^= 0x20;
  }
  assert_int_equal(sloop_vfs_record_decode(buf, sizeof(buf) - 1, &out), SLOOP_CORRUPT);
  assert_int_equal(sloop_vfs_record_decode(NULL, 0, &out), SLOOP_CORRUPT);
  sloop_vfs_record bad = in;
  bad.page_count = 4;
  assert_int_equal(sloop_vfs_record_encode(&bad, buf), SLOOP_INVALID);
  bad = in;
  bad.page_size = 3000;
  assert_int_equal(sloop_vfs_record_encode(&bad, buf), SLOOP_INVALID);
}

static void header_check_compares_size_with_sqlite_header(void **state) {
  uint8_t page[4096] = "SQLite format 3";
  page[16] = 0x10, page[17] = 0x00; /* 4096 */
  page[31] = 3;                     /* 3 pages */
  assert_int_equal(sloop_vfs_header_check(page, sizeof(page), 3 * 4096), SLOOP_OK);
  assert_int_equal(sloop_vfs_header_check(page, sizeof(page), 2 * 4096), SLOOP_CORRUPT);
  assert_int_equal(sloop_vfs_header_check(page, sizeof(page), 3 * 4096 + 512), SLOOP_CORRUPT);
  assert_int_equal(sloop_vfs_header_check(page, sizeof(page), 4 * 4096), SLOOP_OK); /* dead tail */
  assert_int_equal(sloop_vfs_header_check(page, sizeof(page), 0), SLOOP_OK);
  assert_int_equal(sloop_vfs_header_check(page, 50, 3 * 4096), SLOOP_CORRUPT);
  page[17] = 0x01; /* not a power of two */
  assert_int_equal(sloop_vfs_header_check(page, sizeof(page), 3 * 4096), SLOOP_CORRUPT);
  page[17] = 0, page[0] = 'X';
  assert_int_equal(sloop_vfs_header_check(page, sizeof(page), 3 * 4096), SLOOP_CORRUPT);
}

/* ---------------------------------------------------------------- sloop-mem ---------- */

static void commits_hand_over_only_changed_pages(void **state) {
  assert_int_equal(sloop_vfs_image_begin("t.db", 1, NULL, 0), SLOOP_OK);
  assert_int_equal(sloop_vfs_image_end("t.db"), SLOOP_OK);
  sloop_db *db = open_on("t.db", SLOOP_VFS_MEM);
  expect_query(db, "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)", "[]");
  /* Grow the file well past a handful of pages, then one small insert. */
  expect_query(db, SERIES(400) "INSERT INTO t(v) SELECT printf('%.500c', 'x') FROM n", "[]");
  uint32_t pages = (uint32_t)(store.file_size / store.page_size);
  assert_true(pages > 50);
  expect_query(db, "INSERT INTO t(v) VALUES('one more')", "[]");
  assert_in_range(store.last_n, 1, 4);
  close_db(db);

  assert_int_equal(sloop_vfs_image_drop("t.db"), SLOOP_OK);
  assert_int_equal(load_image("t.db"), SLOOP_OK);
  db = open_on("t.db", SLOOP_VFS_MEM);
  expect_query(db, "PRAGMA integrity_check", "[[\"ok\"]]");
  expect_query(db, "SELECT count(*), length(max(v)) FROM t", "[[401,500]]");
  close_db(db);
}

static void refused_commit_fails_the_transaction_and_keeps_pages(void **state) {
  assert_int_equal(sloop_vfs_image_begin("t.db", 1, NULL, 0), SLOOP_OK);
  assert_int_equal(sloop_vfs_image_end("t.db"), SLOOP_OK);
  sloop_db *db = open_on("t.db", SLOOP_VFS_MEM);
  expect_query(db, "CREATE TABLE t(k INTEGER PRIMARY KEY)", "[]");
  store.refuse = 1;
  char *out = NULL;
  assert_int_equal(sloop_sql(db, S("INSERT INTO t VALUES(1)"), &out, NULL), SLOOP_STORAGE);
  store.refuse = 0;
  expect_query(db, "SELECT count(*) FROM t", "[[0]]");
  expect_query(db, "INSERT INTO t VALUES(2)", "[]");
  close_db(db);
  sloop_vfs_image_drop("t.db");
  assert_int_equal(load_image("t.db"), SLOOP_OK);
  db = open_on("t.db", SLOOP_VFS_MEM);
  expect_query(db, "PRAGMA integrity_check", "[[\"ok\"]]");
  expect_query(db, "SELECT k FROM t", "[[2]]");
  close_db(db);
}

static void vacuum_shrinks_the_stored_image(void **state) {
  assert_int_equal(sloop_vfs_image_begin("t.db", 1, NULL, 0), SLOOP_OK);
  assert_int_equal(sloop_vfs_image_end("t.db"), SLOOP_OK);
  sloop_db *db = open_on("t.db", SLOOP_VFS_MEM);
  /* Large enough that the core's own tables (a few dozen pages) do not matter. */
  expect_query(db, "CREATE TABLE t(v);" SERIES(1000) "INSERT INTO t SELECT zeroblob(3000) FROM n", "[]");
  uint64_t big = store.file_size;
  expect_query(db, "DELETE FROM t WHERE rowid > 1; VACUUM", "[]");
  assert_true(store.file_size < big / 10);
  assert_true(store.last_truncated);
  close_db(db);
  sloop_vfs_image_drop("t.db");
  assert_int_equal(load_image("t.db"), SLOOP_OK);
  db = open_on("t.db", SLOOP_VFS_MEM);
  expect_query(db, "PRAGMA integrity_check", "[[\"ok\"]]");
  expect_query(db, "SELECT count(*) FROM t", "[[1]]");
  close_db(db);
}

static void damaged_images_are_refused_as_corrupt(void **state) {
  assert_int_equal(sloop_vfs_image_begin("t.db", 1, NULL, 0), SLOOP_OK);
  assert_int_equal(sloop_vfs_image_end("t.db"), SLOOP_OK);
  sloop_db *db = open_on("t.db", SLOOP_VFS_MEM);
  expect_query(db, "CREATE TABLE t(v); INSERT INTO t VALUES(zeroblob(10000))", "[]");
  close_db(db);
  sloop_vfs_image_drop("t.db");

  /* A page missing from the store. */
  uint8_t *saved = store.page[2];
  store.page[2] = NULL;
  assert_int_equal(load_image("t.db"), SLOOP_CORRUPT);
  store.page[2] = saved;
  /* A size that disagrees with the header's page count. */
  store.file_size -= store.page_size;
  assert_int_equal(load_image("t.db"), SLOOP_CORRUPT);
  store.file_size += store.page_size;
  assert_int_equal(load_image("t.db"), SLOOP_OK);
  /* An image being used cannot be replaced. */
  db = open_on("t.db", SLOOP_VFS_MEM);
  assert_int_equal(sloop_vfs_image_begin("t.db", 1, NULL, 0), SLOOP_BUSY);
  close_db(db);
}

/* ---------------------------------------------------------------- on demand --------- */

/* A store made through the plain mode by running `first`, then `then` (NULL: nothing). */
static void make_store(const char *first, const char *then) {
  assert_int_equal(sloop_vfs_image_begin("t.db", 1, NULL, 0), SLOOP_OK);
  assert_int_equal(sloop_vfs_image_end("t.db"), SLOOP_OK);
  sloop_db *db = open_on("t.db", SLOOP_VFS_MEM);
  expect_query(db, first, "[]");
  if (then) expect_query(db, then, "[]");
  close_db(db);
  assert_int_equal(sloop_vfs_image_drop("t.db"), SLOOP_OK);
}

/* A store of ~2,000 pages (8 MB). */
static void make_big_store(void) {
  make_store("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT);"
             SERIES(2000) "INSERT INTO t(v) SELECT printf('%.3500c', char(97 + i % 26)) FROM n", NULL);
  assert_true(store.file_size / store.page_size > 2000);
}

/* Drops the image "t.db", loads it on demand with a budget of `cache_pages`, opens it. */
static sloop_db *reopen_lazy(uint32_t cache_pages) {
  sloop_vfs_image_drop("t.db");
  assert_int_equal(load_lazy("t.db", cache_pages), SLOOP_OK);
  return open_on("t.db", SLOOP_VFS_MEM);
}

static void lazy_image_reads_only_the_pages_queries_touch(void **state) {
  make_big_store();
  sloop_db *db = reopen_lazy(256);
  int at_open = store.fetched;
  /* Opening reads the schema and the core's own tables: a few pages, not the 2,000. */
  assert_in_range(at_open, 0, 64);
  expect_query(db, "SELECT length(v) FROM t WHERE k = 1234", "[[3500]]");
  assert_in_range(store.fetched - at_open, 1, 8);
  close_db(db);
}

static void lazy_cache_stays_bounded_and_scans_read_ahead(void **state) {
  make_big_store();
  uint32_t count = (uint32_t)(store.file_size / store.page_size);
  assert_int_equal(load_lazy("t.db", 200), SLOOP_OK);
  sloop_db *db = open_on("t.db", SLOOP_VFS_MEM);
  expect_query(db, "PRAGMA cache_size = 10", "[]");
  int calls = store.fetch_calls;
  expect_query(db, "SELECT count(*), sum(length(v)) FROM t", "[[2000,7000000]]");
  double st[7];
  stats_of("t.db", st);
  assert_true(st[0] == 1);
  assert_true(st[1] <= 200);              /* resident pages within the budget */
  assert_true(st[5] >= count - 64);       /* every page was read once... */
  /* ...in runs: a sequential scan needs far fewer fetch calls than pages. */
  assert_true(store.fetch_calls - calls < (int)count / 8);
  expect_query(db, "PRAGMA integrity_check", "[[\"ok\"]]");
  stats_of("t.db", st);
  assert_true(st[1] <= 200);
  close_db(db);
}

/* A scan of one table that looks each row up in another reads two sequences at once, one
** page of each in turn: each keeps its read-ahead. */
static void lazy_interleaved_scans_both_read_ahead(void **state) {
  make_store("CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT); CREATE TABLE u(k INTEGER PRIMARY KEY, v TEXT);"
             SERIES(1000) "INSERT INTO t(v) SELECT printf('%.3500c', 'a') FROM n",
             SERIES(1000) "INSERT INTO u(v) SELECT printf('%.3500c', 'b') FROM n");
  uint32_t count = (uint32_t)(store.file_size / store.page_size);
  assert_true(count > 2000);
  sloop_db *db = reopen_lazy(200);
  expect_query(db, "PRAGMA cache_size = 10", "[]");
  int calls = store.fetch_calls;
  expect_query(db, "SELECT count(*), sum(length(t.v) + length(u.v)) FROM t CROSS JOIN u ON u.k = t.k",
               "[[1000,7000000]]");
  /* Followed as one sequence, each read of the other table restarted it at one page. */
  assert_true(store.fetch_calls - calls < (int)count / 8);
  close_db(db);
}

/* A table scanned once through a cache smaller than it does not push out the pages that are
** read again: what a scan read ahead goes first once read. */
static void lazy_scan_leaves_pages_read_again_cached(void **state) {
  make_store("CREATE TABLE h(k INTEGER PRIMARY KEY, v TEXT); CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT);"
             SERIES(40) "INSERT INTO h(v) SELECT printf('%.3500c', 'h') FROM n",
             SERIES(1500) "INSERT INTO t(v) SELECT printf('%.3500c', 't') FROM n");
  sloop_db *db = reopen_lazy(300);
  expect_query(db, "PRAGMA cache_size = 10", "[]");
  for (int k = 0; k < 2; k++) expect_query(db, "SELECT count(*) FROM h WHERE length(v) = 3500", "[[40]]");
  expect_query(db, "SELECT count(*) FROM t WHERE length(v) = 3500", "[[1500]]");
  int before = store.fetched;
  expect_query(db, "SELECT count(*) FROM h WHERE length(v) = 3500", "[[40]]");
  /* Without it, the scan's 1,500 pages took the place of all 40. */
  assert_in_range(store.fetched - before, 0, 4);
  close_db(db);
}

/* Runs `sql` on both databases and requires the same result. */
static void same_on_both(sloop_db *lazy, sloop_db *ref, const char *sql) {
  char *a = NULL, *b = NULL;
  assert_ok(lazy, sloop_sql(lazy, S(sql), &a, NULL));
  assert_ok(ref, sloop_sql(ref, S(sql), &b, NULL));
  assert_string_equal(a, b);
  sloop_free(a);
  sloop_free(b);
}

/* Random scans, point reads, writes and rolled-back transactions over two interleaved tables,
** through a cache far smaller than the database: every result equals an in-memory database's,
** and the store the commits left reopens whole. The cache's order, its read-ahead runs (which
** span resident and dirty pages) and its pinning all get exercised. */
static void lazy_cache_random_work_matches_memory(void **state) {
  for (uint32_t seed = 1; seed <= 3; seed++) {
    store_reset();
    const char *make = "CREATE TABLE a(k INTEGER PRIMARY KEY, v TEXT); CREATE TABLE b(k INTEGER PRIMARY KEY, v TEXT);"
                       "CREATE INDEX b_v ON b(substr(v, 1, 8));";
    make_store(make, NULL);
    sloop_db *db = reopen_lazy(128);
    expect_query(db, "PRAGMA cache_size = 10", "[]");
    sloop_db *ref = NULL;
    assert_ok(NULL, sloop_open(":memory:", NULL, SLOOP_ROLE_CLIENT, NULL, &ref));
    expect_query(ref, make, "[]");
    uint32_t x = seed * 2654435761u;
    char sql[400];
    for (int step = 0; step < 250; step++) {
      x = x * 1664525u + 1013904223u;
      uint32_t r = x >> 8, t = r & 1, k = (r >> 1) % 1500;
      const char *tab = t ? "b" : "a";
      switch ((r >> 12) % 8) {
        case 0: case 1: /* a batch of rows, one to three pages each */
          snprintf(sql, sizeof(sql), SERIES(40) "INSERT OR REPLACE INTO %s(k, v) SELECT %u + i * 7, printf('%%.*c', %u + i * 97, char(97 + (i + %u) %% 26)) FROM n",
                   tab, k, 200 + r % 3000, r % 26);
          break;
        case 2:
          snprintf(sql, sizeof(sql), "UPDATE %s SET v = v || 'x' WHERE k %% 13 = %u", tab, r % 13);
          break;
        case 3:
          snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE k BETWEEN %u AND %u", tab, k, k + 20);
          break;
        case 4: /* a write that is rolled back */
          snprintf(sql, sizeof(sql), "BEGIN; UPDATE a SET v = 'gone'; DELETE FROM b WHERE k < %u; ROLLBACK", k);
          break;
        case 5:
          snprintf(sql, sizeof(sql), "SELECT count(*), sum(length(a.v)), sum(length(b.v)) FROM a JOIN b USING(k)");
          break;
        case 6:
          snprintf(sql, sizeof(sql), "SELECT k, length(v), substr(v, -3) FROM %s WHERE k >= %u ORDER BY k LIMIT 5", tab, k);
          break;
        default:
          snprintf(sql, sizeof(sql), "SELECT count(*), sum(length(v)) FROM b WHERE substr(v, 1, 8) > '%c'", 'a' + (int)(r % 26));
      }
      same_on_both(db, ref, sql);
    }
    same_on_both(db, ref, "SELECT count(*), sum(length(v)), group_concat(k) FROM (SELECT k, v FROM a UNION ALL SELECT k, v FROM b)");
    expect_query(db, "PRAGMA integrity_check", "[[\"ok\"]]");
    close_db(db);
    /* What the commits stored is the database: it reopens whole, from the store alone. */
    db = reopen_lazy(128);
    same_on_both(db, ref, "SELECT count(*), sum(length(v)), group_concat(k) FROM (SELECT k, v FROM a UNION ALL SELECT k, v FROM b)");
    expect_query(db, "PRAGMA integrity_check", "[[\"ok\"]]");
    close_db(db);
    assert_ok(ref, sloop_close(ref));
  }
}

static void lazy_writes_pin_pages_until_the_commit_is_accepted(void **state) {
  make_big_store();
  sloop_db *db = reopen_lazy(128);
  expect_query(db, "PRAGMA cache_size = 10", "[]");
  /* A transaction that dirties more pages than the cache holds: they cannot be evicted. */
  expect_query(db, "UPDATE t SET v = printf('%.3500c', 'Z') WHERE k <= 600", "[]");
  double st[7];
  stats_of("t.db", st);
  assert_true(st[3] == 0);                /* committed, so no page is dirty any more... */
  assert_true(st[1] <= 128);              /* ...and the cache is back within its budget */
  /* Inside a transaction the dirty pages are pinned beyond the budget: evicted, they would
  ** be fetched back from the store as they were before the transaction. */
  expect_query(db, "BEGIN; UPDATE t SET v = printf('%.3500c', 'X') WHERE k > 1200 AND k <= 1800", "[]");
  stats_of("t.db", st);
  assert_true(st[3] > 128);               /* more dirty pages than the budget... */
  assert_true(st[1] > 128);               /* ...all of them resident */
  expect_query(db, "SELECT count(*) FROM t WHERE substr(v, 1, 1) = 'X'", "[[600]]");
  expect_query(db, "COMMIT", "[]");
  stats_of("t.db", st);
  assert_true(st[3] == 0 && st[1] <= 128);
  /* A refused commit leaves the store and what reads see as they were. */
  store.refuse = 1;
  char *out = NULL;
  assert_int_equal(sloop_sql(db, S("UPDATE t SET v = printf('%.3500c', 'Y') WHERE k > 1000"), &out, NULL),
                   SLOOP_STORAGE);
  store.refuse = 0;
  expect_query(db, "SELECT count(*) FROM t WHERE substr(v, 1, 1) = 'Z'", "[[600]]");
  expect_query(db, "SELECT count(*) FROM t WHERE substr(v, 1, 1) = 'Y'", "[[0]]");
  expect_query(db, "PRAGMA integrity_check", "[[\"ok\"]]");
  close_db(db);
  /* What was committed reopens, on demand and as a whole image. */
  db = reopen_lazy(128);
  expect_query(db, "SELECT count(*) FROM t WHERE substr(v, 1, 1) = 'Z'", "[[600]]");
  close_db(db);
  sloop_vfs_image_drop("t.db");
  assert_int_equal(load_image("t.db"), SLOOP_OK);
  db = open_on("t.db", SLOOP_VFS_MEM);
  expect_query(db, "PRAGMA integrity_check", "[[\"ok\"]]");
  close_db(db);
}

/* Dirty pages count against the budget: beside a transaction's dirty pages, a scan keeps
** the resident pages, dirty and clean, within it (memory does not grow with the transaction),
** as long as BUDGET_MIN clean pages fit beside them. */
static void lazy_dirty_pages_count_against_the_budget(void **state) {
  make_big_store();
  sloop_db *db = reopen_lazy(400);
  expect_query(db, "PRAGMA cache_size = 10", "[]"); /* SQLite's own cache spills to the VFS */
  expect_query(db, "BEGIN; UPDATE t SET v = printf('%.3500c', 'W') WHERE k <= 100", "[]");
  expect_query(db, "SELECT count(*) FROM t WHERE substr(v, 1, 1) = 'a'", "[[73]]");
  double st[7];
  stats_of("t.db", st);
  assert_true(st[3] >= 60); /* dirty */
  assert_true(st[1] <= 400); /* resident, dirty included */
  expect_query(db, "SELECT count(*) FROM t WHERE substr(v, 1, 1) = 'W'", "[[100]]");
  expect_query(db, "ROLLBACK", "[]");
  expect_query(db, "SELECT count(*) FROM t WHERE substr(v, 1, 1) = 'W'", "[[0]]");
  expect_query(db, "PRAGMA integrity_check", "[[\"ok\"]]");
  close_db(db);
}

static void lazy_vacuum_shrinks_and_reopens(void **state) {
  make_big_store();
  sloop_db *db = reopen_lazy(128);
  expect_query(db, "DELETE FROM t WHERE k > 100; VACUUM", "[]");
  assert_true(store.last_truncated);
  assert_true(store.file_size / store.page_size < 200);
  close_db(db);
  db = reopen_lazy(128);
  expect_query(db, "PRAGMA integrity_check", "[[\"ok\"]]");
  expect_query(db, "SELECT count(*) FROM t", "[[100]]");
  close_db(db);
}

static void lazy_read_failures_are_errors_not_zeros(void **state) {
  make_big_store();
  sloop_db *db = reopen_lazy(128);
  char *out = NULL;
  store.fetch_fails = 1;
  assert_int_equal(sloop_sql(db, S("SELECT sum(length(v)) FROM t"), &out, NULL), SLOOP_STORAGE);
  store.fetch_fails = 0;
  /* A page missing from the store is corruption. */
  free(store.page[1500]);
  store.page[1500] = NULL;
  assert_int_equal(sloop_sql(db, S("SELECT sum(length(v)) FROM t"), &out, NULL), SLOOP_CORRUPT);
  close_db(db);
  /* Too late to switch once pages were supplied. */
  sloop_vfs_image_drop("t.db");
  uint8_t rec[SLOOP_VFS_RECORD_SIZE];
  assert_int_equal(sloop_vfs_record_make(1, 1, store.page_size, (double)store.file_size, 0, rec), SLOOP_OK);
  assert_int_equal(sloop_vfs_image_begin("t.db", 1, rec, sizeof(rec)), SLOOP_OK);
  assert_non_null(sloop_vfs_image_page("t.db", 0));
  assert_int_equal(sloop_vfs_image_lazy("t.db", 128), SLOOP_INVALID);
}

/* ---------------------------------------------------------------- sloop-file --------- */

static void file_vfs_persists_through_host_calls(void **state) {
  char dir[] = "/tmp/sloop-vfs-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof(path), "%s/s.db", dir);
  sloop_db *db = open_on(path, SLOOP_VFS_FILE);
  expect_query(db, "CREATE TABLE t(v);" SERIES(50) "INSERT INTO t SELECT randomblob(1000) FROM n", "[]");
  close_db(db);
  db = open_on(path, SLOOP_VFS_FILE);
  expect_query(db, "PRAGMA integrity_check", "[[\"ok\"]]");
  expect_query(db, "SELECT count(*) FROM t", "[[50]]");
  close_db(db);
  assert_int_equal(store.commits, 0); /* the file VFS never uses the commit hook */
  unlink(path);
  rmdir(dir);
}

/* SQLite's own page cache is small on the memory VFS, whose pages are in the heap already, and
** SQLite's default on the file VFS, where a miss is a read from disk. */
static void sqlite_caches_less_over_memory_files(void **state) {
  sloop_db *db = open_on("t.db", SLOOP_VFS_MEM);
  expect_query(db, "PRAGMA cache_size", "[[-256]]");
  close_db(db);
  char dir[] = "/tmp/sloop-vfs-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[64];
  snprintf(path, sizeof(path), "%s/s.db", dir);
  db = open_on(path, SLOOP_VFS_FILE);
  expect_query(db, "PRAGMA cache_size", "[[-2000]]");
  close_db(db);
  unlink(path);
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(record_round_trips_and_rejects_damage),
      cmocka_unit_test(header_check_compares_size_with_sqlite_header),
      cmocka_unit_test_setup_teardown(commits_hand_over_only_changed_pages, setup, teardown),
      cmocka_unit_test_setup_teardown(refused_commit_fails_the_transaction_and_keeps_pages, setup, teardown),
      cmocka_unit_test_setup_teardown(vacuum_shrinks_the_stored_image, setup, teardown),
      cmocka_unit_test_setup_teardown(damaged_images_are_refused_as_corrupt, setup, teardown),
      cmocka_unit_test_setup_teardown(lazy_image_reads_only_the_pages_queries_touch, setup, teardown),
      cmocka_unit_test_setup_teardown(lazy_cache_stays_bounded_and_scans_read_ahead, setup, teardown),
      cmocka_unit_test_setup_teardown(lazy_interleaved_scans_both_read_ahead, setup, teardown),
      cmocka_unit_test_setup_teardown(lazy_scan_leaves_pages_read_again_cached, setup, teardown),
      cmocka_unit_test_setup_teardown(lazy_cache_random_work_matches_memory, setup, teardown),
      cmocka_unit_test_setup_teardown(lazy_writes_pin_pages_until_the_commit_is_accepted, setup, teardown),
      cmocka_unit_test_setup_teardown(lazy_dirty_pages_count_against_the_budget, setup, teardown),
      cmocka_unit_test_setup_teardown(lazy_vacuum_shrinks_and_reopens, setup, teardown),
      cmocka_unit_test_setup_teardown(lazy_read_failures_are_errors_not_zeros, setup, teardown),
      cmocka_unit_test_setup_teardown(file_vfs_persists_through_host_calls, setup, teardown),
      cmocka_unit_test_setup_teardown(sqlite_caches_less_over_memory_files, setup, teardown),
  };
  return cmocka_run_group_tests_name("vfs", tests, NULL, NULL);
}
