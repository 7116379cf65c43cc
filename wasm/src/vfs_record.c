/*
** vfs_record.c -- the commit record codec and the SQLite header check.
**
** Pure functions over byte buffers, with no allocation and no SQLite calls, so native tests
** and fuzz targets exercise them directly. Decoders trust nothing: every field is checked
** before it is used, and a failure leaves the output zeroed.
**
** Record layout (little-endian, SLOOP_VFS_RECORD_SIZE bytes):
**    0  magic "SLPC"       4  u16 version (1)    6  u16 reserved (0)
**    8  u64 epoch         16  u64 seq           24  u32 page_size   28  u32 page_count
**   32  u64 file_size     40  u32 pages_written 44  u32 CRC-32 of bytes 0..43
*/
#include <string.h>

#include "sloop.h"
#include "sloop_vfs.h"

static const uint8_t kMagic[4] = {'S', 'L', 'P', 'C'};
#define RECORD_VERSION 1
#define CRC_OFFSET 44

/* Bitwise CRC-32 (IEEE): the record is 44 bytes, so a table would cost more than it saves. */
static uint32_t crc32_bytes(const uint8_t *p, size_t n) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

static void put_le(uint8_t *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static int page_size_ok(uint64_t ps) {
  return ps >= 512 && ps <= 65536 && (ps & (ps - 1)) == 0;
}

/* True when page_count is exactly the pages needed for file_size; also bounds file_size so
** that page_count fits 32 bits. */
static int count_matches(uint64_t file_size, uint32_t page_size, uint64_t page_count) {
  return page_count == (file_size + page_size - 1) / page_size && page_count <= UINT32_MAX;
}

int sloop_vfs_record_encode(const sloop_vfs_record *rec, uint8_t *out) {
  if (!rec || !out || !page_size_ok(rec->page_size) ||
      !count_matches(rec->file_size, rec->page_size, rec->page_count))
    return SLOOP_INVALID;
  memcpy(out, kMagic, 4);
  put_le(out + 4, RECORD_VERSION, 2);
  put_le(out + 6, 0, 2);
  put_le(out + 8, rec->epoch, 8);
  put_le(out + 16, rec->seq, 8);
  put_le(out + 24, rec->page_size, 4);
  put_le(out + 28, rec->page_count, 4);
  put_le(out + 32, rec->file_size, 8);
  put_le(out + 40, rec->pages_written, 4);
  put_le(out + CRC_OFFSET, crc32_bytes(out, CRC_OFFSET), 4);
  return SLOOP_OK;
}

int sloop_vfs_record_decode(const uint8_t *buf, size_t len, sloop_vfs_record *out) {
  if (!out) return SLOOP_INVALID;
  memset(out, 0, sizeof(*out));
  if (!buf || len != SLOOP_VFS_RECORD_SIZE || memcmp(buf, kMagic, 4) != 0 ||
      get_le(buf + 4, 2) != RECORD_VERSION || get_le(buf + 6, 2) != 0 ||
      get_le(buf + CRC_OFFSET, 4) != crc32_bytes(buf, CRC_OFFSET))
    return SLOOP_CORRUPT;
  sloop_vfs_record r;
  r.epoch = get_le(buf + 8, 8);
  r.seq = get_le(buf + 16, 8);
  r.page_size = (uint32_t)get_le(buf + 24, 4);
  r.page_count = (uint32_t)get_le(buf + 28, 4);
  r.file_size = get_le(buf + 32, 8);
  r.pages_written = (uint32_t)get_le(buf + 40, 4);
  if (!page_size_ok(r.page_size) || !count_matches(r.file_size, r.page_size, r.page_count))
    return SLOOP_CORRUPT;
  *out = r;
  return SLOOP_OK;
}

int sloop_vfs_header_check(const uint8_t *page0, size_t len, uint64_t file_size) {
  static const char kSqliteMagic[16] = "SQLite format 3";  /* includes the NUL */
  if (file_size == 0) return SLOOP_OK;
  if (!page0 || len < 100 || file_size < 100 || memcmp(page0, kSqliteMagic, 16) != 0)
    return SLOOP_CORRUPT;
  /* Offset 16: big-endian page size, where 1 means 65536. Offset 28: page count. */
  uint32_t page_size = ((uint32_t)page0[16] << 8) | page0[17];
  if (page_size == 1) page_size = 65536;
  if (!page_size_ok(page_size)) return SLOOP_CORRUPT;
  uint64_t pages = ((uint64_t)page0[28] << 24) | ((uint64_t)page0[29] << 16) |
                   ((uint64_t)page0[30] << 8) | page0[31];
  /* A file longer than the header says is the window between a shrinking commit and its
  ** phase-two truncate; SQLite ignores the dead tail. A shorter one has lost pages. */
  return file_size % page_size == 0 && pages * page_size <= file_size && pages > 0
             ? SLOOP_OK
             : SLOOP_CORRUPT;
}

int sloop_vfs_record_fields(const uint8_t *buf, size_t len, double *out) {
  sloop_vfs_record r;
  int rc = sloop_vfs_record_decode(buf, len, &r);
  if (rc) return rc;
  out[0] = (double)r.epoch;
  out[1] = (double)r.seq;
  out[2] = r.page_size;
  out[3] = r.page_count;
  out[4] = (double)r.file_size;
  return SLOOP_OK;
}

int sloop_vfs_record_make(double epoch, double seq, uint32_t page_size, double file_size,
                          uint32_t pages_written, uint8_t *out) {
  const double kMaxExact = 9007199254740992.0; /* 2^53 */
  if (!(epoch >= 0 && epoch <= kMaxExact && seq >= 0 && seq <= kMaxExact && file_size >= 0 &&
        file_size <= kMaxExact && page_size_ok(page_size)))
    return SLOOP_INVALID;
  sloop_vfs_record r = {(uint64_t)epoch, (uint64_t)seq, page_size, 0, (uint64_t)file_size,
                        pages_written};
  r.page_count = (uint32_t)((r.file_size + page_size - 1) / page_size);
  return sloop_vfs_record_encode(&r, out);
}
