/*
** hlc.h -- Hybrid Logical Clock: pure functions, no storage.
**
** A timestamp is (physical ms, logical counter, node id). now() never goes backwards even when
** the wall clock does; recv() moves past a remote timestamp, unless that timestamp is further
** ahead of the local wall clock than max_drift_ms, in which case it is refused (SLOOP_DRIFT) and
** the clock is left as it was: a skewed peer must not drag every clock into its future. What a
** caller does with a refused timestamp is policy (see server.c: clamp and flag, or reject).
*/
#ifndef SLOOP_HLC_H
#define SLOOP_HLC_H

#include <stddef.h>
#include <stdint.h>

/* 12 + 1 + 4 + 1 + 16 = 34 characters and a NUL. */
#define SLOOP_HLC_STRLEN 35

/* The largest physical time representable in 12 hex digits (year 10889). */
#define SLOOP_HLC_MAX_PT 0xffffffffffffLL

typedef struct sloop_hlc {
  int64_t pt;   /* physical milliseconds since the epoch */
  uint32_t lc;  /* logical counter, 0..0xffff */
  uint64_t node;
} sloop_hlc;

/* Advances `clock` for a local event at wall time `wall_ms` and returns the new timestamp. */
sloop_hlc sloop_hlc_now(sloop_hlc *clock, int64_t wall_ms);

/* Advances `clock` past `remote`; SLOOP_DRIFT (clock unchanged) when remote.pt > wall_ms +
** max_drift_ms. Returns SLOOP_OK otherwise. */
int sloop_hlc_recv(sloop_hlc *clock, sloop_hlc remote, int64_t wall_ms, int64_t max_drift_ms);

/* Total order: physical, then logical, then node. Negative, zero or positive. */
int sloop_hlc_cmp(sloop_hlc a, sloop_hlc b);

/* Formats as "PPPPPPPPPPPP-CCCC-NNNNNNNNNNNNNNNN" (lower-case hex) so that string order is clock
** order. `buf` holds SLOOP_HLC_STRLEN bytes. */
void sloop_hlc_format(sloop_hlc ts, char buf[SLOOP_HLC_STRLEN]);

/* Parses the format above (exactly; upper-case hex is refused so one clock value has one
** spelling). Returns SLOOP_OK or SLOOP_INVALID. */
int sloop_hlc_parse(const char *s, size_t len, sloop_hlc *out);

/* Parses exactly `n` lower-case hex digits (n <= 16) into *out: SLOOP_OK or SLOOP_INVALID.
** The clock's parts and node ids (a device id is its node in 16 digits) are spelled this way. */
int sloop_hex_parse(const char *s, size_t n, uint64_t *out);

#endif /* SLOOP_HLC_H */
