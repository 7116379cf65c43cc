/*
** fuzz_vfs_record.c -- libFuzzer target for the VFS codec: the commit record and the SQLite
** header check, the bytes a browser reads back from IndexedDB and must never trust.
**
** Checks beyond "no crash": a record that decodes re-encodes to the same bytes (one spelling
** per record), and decode leaves the output zeroed when it refuses.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sloop.h"
#include "sloop_vfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sloop_vfs_record rec;
  if (sloop_vfs_record_decode(data, size, &rec) == SLOOP_OK) {
    uint8_t again[SLOOP_VFS_RECORD_SIZE];
    if (sloop_vfs_record_encode(&rec, again) != SLOOP_OK) abort();
    if (memcmp(again, data, SLOOP_VFS_RECORD_SIZE) != 0) abort();
  } else {
    static const sloop_vfs_record zero;
    if (memcmp(&rec, &zero, sizeof(rec)) != 0) abort();
  }
  /* The same bytes as a database's first page, against sizes taken from the input. */
  uint64_t file_size = 0;
  if (size >= 8) memcpy(&file_size, data + size - 8, 8);
  (void)sloop_vfs_header_check(data, size, file_size % (1ULL << 40));
  return 0;
}
