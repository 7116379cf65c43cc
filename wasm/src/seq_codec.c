/*
** seq_codec.c -- the binary form of a sequence (seq.h).
**
** Layout (varints are LEB128, minimal):
**   u8 version (1), u8 flags (1: list, 2: visible content left out, 4: agents as indexes)
**   varint nagents, then each agent's node as 8 bytes little-endian (flag 4: a varint index of
**   the database's node table instead; seq_blob_agents, never read by seq_decode)
**   varint nruns, then each run in document order:
**     varint head = agent << 8 | bits:  1 tombstone
**                                       2 left origin is the element just before the run
**                                       4 no left origin
**                                       8 right origin is the previous run's
**                                      16 right origin is the element just after the run
**                                      32 the counter continues the agent's previous run here
**                                      64 left origin is the agent's element before this counter
**                                     128 right origin is the agent's previous run's here
**     [varint zigzag(counter - where the agent's previous run here ended)] unless 32
**     varint len - 1
**     [varint agent, varint counter] left origin, unless 2, 4 or 64
**     [varint 0 (none) or agent + 1, then varint counter] right origin, unless 8, 16 or 128
**   then the visible runs' content, in order (text: UTF-8; list: each element's LEB128 length
**   and bytes), unless flag 2.
** Typing makes runs whose origins are their neighbours, and an edit inside a run splits it into
** pieces whose origins are the run's own (64, 128), so a run costs two to four bytes besides its
** content; tombstones cost no content.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seq_internal.h"

#define FAIL(...) (snprintf(msg, 200, __VA_ARGS__), (seq *)NULL)

enum {
  H_DEL = 1,
  H_OL_PREV = 2,
  H_OL_NONE = 4,
  H_OR_SAME = 8,
  H_OR_NEXT = 16,
  H_SEQ_CONT = 32,
  H_OL_SELF = 64,
  H_OR_AGENT = 128,
  H_BITS = 8
};

/* The right origin of each agent's previous run in document order (bit 128). */
typedef struct last_or {
  uint32_t agent, seq;
} last_or;

typedef struct out_buf {
  uint8_t *p;
  size_t len, cap;
  int oom;
} out_buf;

static void put_bytes(out_buf *o, const void *b, size_t n) {
  if (o->oom) return;
  if (o->len + n > o->cap) {
    size_t c = o->cap ? o->cap : 256;
    while (c < o->len + n) c *= 2;
    uint8_t *q = realloc(o->p, c);
    if (!q) {
      o->oom = 1;
      return;
    }
    o->p = q;
    o->cap = c;
  }
  memcpy(o->p + o->len, b, n);
  o->len += n;
}

static void put_varint(out_buf *o, uint64_t v) {
  uint8_t b[10];
  int n = 0;
  do {
    b[n] = v & 0x7f;
    v >>= 7;
    if (v) b[n] |= 0x80;
    n++;
  } while (v);
  put_bytes(o, b, n);
}

static uint64_t zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static int64_t unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

int seq_encode(const seq *s, int omit_visible, uint8_t **out, size_t *len) {
  out_buf o = {0};
  uint8_t hdr[2] = {1, (uint8_t)((s->kind == SEQ_LIST ? 1 : 0) | (omit_visible ? 2 : 0))};
  put_bytes(&o, hdr, 2);
  put_varint(&o, s->nagents);
  for (uint32_t a = 0; a < s->nagents; a++) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(s->agents[a].node >> (8 * i));
    put_bytes(&o, b, 8);
  }
  uint32_t *ends = calloc(s->nagents ? s->nagents : 1, sizeof(uint32_t));
  last_or *lor = malloc((s->nagents ? s->nagents : 1) * sizeof(last_or));
  if (!ends || !lor) return free(ends), free(lor), -1;
  for (uint32_t a = 0; a < s->nagents; a++) lor[a] = (last_or){SEQ_NONE - 1, 0}; /* matches nothing */
  put_varint(&o, seq_runs(s));
  const seq_run *prev = NULL;
  seq_pos p;
  for (int more = seq_first(s, &p); more;) {
    const seq_run *r = seq_run_at(s, p);
    more = seq_next(s, &p);
    const seq_run *next = more ? seq_run_at(s, p) : NULL;
    uint64_t head = r->deleted ? H_DEL : 0;
    if (r->ol_agent == SEQ_NONE) head |= H_OL_NONE;
    else if (prev && prev->agent == r->ol_agent && prev->seq + prev->len - 1 == r->ol_seq) head |= H_OL_PREV;
    else if (r->ol_agent == r->agent && r->seq > 0 && r->ol_seq == r->seq - 1) head |= H_OL_SELF;
    if (prev && prev->or_agent == r->or_agent && (r->or_agent == SEQ_NONE || prev->or_seq == r->or_seq))
      head |= H_OR_SAME;
    else if (next && next->agent == r->or_agent && next->seq == r->or_seq) head |= H_OR_NEXT;
    else if (lor[r->agent].agent == r->or_agent && (r->or_agent == SEQ_NONE || lor[r->agent].seq == r->or_seq))
      head |= H_OR_AGENT;
    if (r->seq == ends[r->agent]) head |= H_SEQ_CONT;
    put_varint(&o, (uint64_t)r->agent << H_BITS | head);
    if (!(head & H_SEQ_CONT)) put_varint(&o, zigzag((int64_t)r->seq - (int64_t)ends[r->agent]));
    put_varint(&o, r->len - 1);
    if (!(head & (H_OL_PREV | H_OL_NONE | H_OL_SELF))) {
      put_varint(&o, r->ol_agent);
      put_varint(&o, r->ol_seq);
    }
    if (!(head & (H_OR_SAME | H_OR_NEXT | H_OR_AGENT))) {
      put_varint(&o, r->or_agent == SEQ_NONE ? 0 : (uint64_t)r->or_agent + 1);
      if (r->or_agent != SEQ_NONE) put_varint(&o, r->or_seq);
    }
    ends[r->agent] = r->seq + r->len;
    lor[r->agent] = (last_or){r->or_agent, r->or_seq};
    prev = r;
  }
  free(ends);
  free(lor);
  if (!omit_visible)
    for (int more = seq_first(s, &p); more; more = seq_next(s, &p)) {
      const seq_run *r = seq_run_at(s, p);
      if (!r->deleted) put_bytes(&o, s->arena + r->off, r->bytes);
    }
  if (o.oom) return free(o.p), -1;
  *out = o.p;
  *len = o.len;
  return 0;
}

/* ---------------------------------------------------------------- decoding ----------- */

typedef struct in_buf {
  const uint8_t *p, *end;
  int bad;
} in_buf;

static uint64_t get_varint(in_buf *in) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    if (in->p >= in->end || shift > 63) return in->bad = 1, 0;
    uint8_t b = *in->p++;
    if (shift == 63 && b > 1) return in->bad = 1, 0;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      if (b == 0 && shift) in->bad = 1; /* not minimal */
      return v;
    }
  }
}

/* Decoded run with where its origins point before runs are placed. */
typedef struct dec_run {
  seq_run r;
  uint8_t ol_prev, or_next, or_same;
} dec_run;

/* Takes n elements of content from *c for a live run: sets off, bytes and units. */
static int take_content(seq *s, const uint8_t **c, const uint8_t *end, seq_run *r) {
  const uint8_t *p = *c;
  size_t at = 0, avail = (size_t)(end - p);
  for (uint32_t k = 0; k < r->len; k++) {
    if (at >= avail) return -1;
    if (s->kind == SEQ_TEXT) {
      uint8_t b = p[at];
      size_t w = b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
      if (at + w > avail) return -1;
      at += w;
    } else {
      uint64_t n = 0;
      int shift = 0;
      for (;;) {
        if (at >= avail || shift > 28) return -1;
        uint8_t b = p[at++];
        n |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) break;
      }
      if (n > avail - at) return -1;
      at += (size_t)n;
    }
  }
  uint32_t pts = r->len, units = r->len;
  if (s->kind == SEQ_TEXT) {
    if (!seq_utf8_count(p, at, &pts, &units) || pts != r->len) return -1;
    for (size_t i = 0; i < at; i++)
      if (!p[i]) return -1;
  } else if (!seq_list_content_ok(p, at, r->len)) return -1;
  if (seq_arena_reserve(s, at)) return -1;
  r->off = (uint32_t)s->arena_len;
  memcpy(s->arena + s->arena_len, p, at);
  s->arena_len += at;
  r->bytes = (uint32_t)at;
  r->units = units;
  *c = p + at;
  return 0;
}

seq *seq_decode(seq_kind kind, const uint8_t *blob, size_t len, const uint8_t *visible, size_t visible_len,
                char *msg) {
  in_buf in = {blob, blob + len, 0};
  if (len < 2 || blob[0] != 1) return FAIL("sequence: unknown codec version");
  uint8_t flags = blob[1];
  if (flags & ~3) return FAIL("sequence: unknown flags");
  if ((flags & 1) != (kind == SEQ_LIST)) return FAIL("sequence: a %s where a %s was expected", flags & 1 ? "list" : "text", kind == SEQ_LIST ? "list" : "text");
  int omitted = flags & 2;
  if (omitted && !visible) return FAIL("sequence: the visible content is missing");
  in.p += 2;
  seq *s = seq_new(kind);
  dec_run *runs = NULL;
  uint32_t *ends = NULL;
  last_or *lor = NULL;
  if (!s) return FAIL("out of memory");
  uint64_t nagents = get_varint(&in);
  if (in.bad || nagents > (uint64_t)(in.end - in.p) / 8) goto corrupt;
  for (uint64_t a = 0; a < nagents; a++) {
    uint64_t node = 0;
    for (int i = 0; i < 8; i++) node |= (uint64_t)in.p[i] << (8 * i);
    in.p += 8;
    if (!node || seq_agent_find(s, node) != SEQ_NONE) goto corrupt;
    if (seq_agent_add(s, node) == SEQ_NONE) goto nomem;
  }
  uint64_t nruns = get_varint(&in);
  if (in.bad || nruns > (uint64_t)(in.end - in.p) / 2) goto corrupt; /* a run is at least 2 bytes */
  runs = calloc(nruns ? nruns : 1, sizeof(*runs));
  ends = calloc(nagents ? nagents : 1, sizeof(uint32_t));
  lor = malloc((nagents ? nagents : 1) * sizeof(last_or));
  if (!runs || !ends || !lor) goto nomem;
  for (uint64_t a = 0; a < nagents; a++) lor[a] = (last_or){SEQ_NONE - 1, 0};
  uint64_t total = 0;
  for (uint64_t i = 0; i < nruns; i++) {
    dec_run *d = &runs[i];
    uint64_t head = get_varint(&in);
    uint64_t agent = head >> H_BITS;
    if (in.bad || agent >= nagents) goto corrupt;
    if (!!(head & H_OL_PREV) + !!(head & H_OL_NONE) + !!(head & H_OL_SELF) > 1) goto corrupt;
    if (!!(head & H_OR_SAME) + !!(head & H_OR_NEXT) + !!(head & H_OR_AGENT) > 1) goto corrupt;
    if ((head & H_OL_PREV) && i == 0) goto corrupt;
    if ((head & H_OR_SAME) && i == 0) goto corrupt;
    if ((head & H_OR_NEXT) && i + 1 == nruns) goto corrupt;
    int64_t c = ends[agent];
    if (!(head & H_SEQ_CONT)) {
      int64_t delta = unzigzag(get_varint(&in));
      if (delta == 0) goto corrupt; /* flag 32 says it */
      c += delta;
    }
    uint64_t n = get_varint(&in) + 1;
    if (in.bad || c < 0 || n > SEQ_MAX_ELEMS || (uint64_t)c + n > SEQ_MAX_COUNTER) goto corrupt;
    total += n;
    if (total > SEQ_MAX_ELEMS) goto corrupt;
    seq_run *r = &d->r;
    r->agent = (uint32_t)agent, r->seq = (uint32_t)c, r->len = (uint32_t)n;
    r->deleted = head & H_DEL;
    r->ol_agent = SEQ_NONE;
    r->or_agent = SEQ_NONE;
    if (head & H_OL_PREV) {
      d->ol_prev = 1;
      r->ol_agent = runs[i - 1].r.agent;
      r->ol_seq = runs[i - 1].r.seq + runs[i - 1].r.len - 1;
    } else if (head & H_OL_SELF) {
      if (c == 0) goto corrupt;
      r->ol_agent = (uint32_t)agent, r->ol_seq = (uint32_t)c - 1;
    } else if (!(head & H_OL_NONE)) {
      uint64_t oa = get_varint(&in), os = get_varint(&in);
      if (in.bad || oa >= nagents || os > SEQ_MAX_COUNTER) goto corrupt;
      r->ol_agent = (uint32_t)oa, r->ol_seq = (uint32_t)os;
    }
    if (head & H_OR_SAME) {
      r->or_agent = runs[i - 1].r.or_agent, r->or_seq = runs[i - 1].r.or_seq;
    } else if (head & H_OR_NEXT) {
      d->or_next = 1;
    } else if (head & H_OR_AGENT) {
      if (lor[agent].agent == SEQ_NONE - 1) goto corrupt; /* the agent has no run before */
      if (lor[agent].agent == SEQ_NONE - 2) { /* that run's is the run after it: read by now */
        const seq_run *after = &runs[lor[agent].seq + 1].r;
        r->or_agent = after->agent, r->or_seq = after->seq;
      } else {
        r->or_agent = lor[agent].agent, r->or_seq = lor[agent].seq;
      }
    } else {
      uint64_t oa = get_varint(&in);
      if (in.bad || oa > nagents) goto corrupt;
      if (oa) {
        uint64_t os = get_varint(&in);
        if (in.bad || os > SEQ_MAX_COUNTER) goto corrupt;
        r->or_agent = (uint32_t)(oa - 1), r->or_seq = (uint32_t)os;
      }
    }
    ends[agent] = (uint32_t)(c + n);
    /* A right origin "the next run's" is only known once that run is read: the agent's record
    ** must wait for it too, so it is resolved below when it is the next's. */
    lor[agent] = (last_or){r->or_agent, r->or_seq};
    if (d->or_next) lor[agent] = (last_or){SEQ_NONE - 2, (uint32_t)i};
  }
  if (in.bad) goto corrupt;
  const uint8_t *content = omitted ? visible : in.p;
  const uint8_t *content_end = omitted ? visible + visible_len : in.end;
  for (uint64_t i = 0; i < nruns; i++) {
    seq_run *r = &runs[i].r;
    if (runs[i].or_next) r->or_agent = runs[i + 1].r.agent, r->or_seq = runs[i + 1].r.seq;
    if (!r->deleted && take_content(s, &content, content_end, r)) goto corrupt;
    if (seq_append_run(s, r) == SEQ_NONE) goto nomem;
  }
  if (content != content_end || (omitted && in.p != in.end)) goto corrupt;
  if (seq_rebuild_chunks(s, msg)) goto fail;
  /* Content and counts were checked as they were read; what is left is that every origin
  ** names an element held (seq_check does more, and costs more, for tests). */
  for (uint64_t i = 0; i < nruns; i++) {
    const seq_run *r = &runs[i].r;
    uint32_t off;
    if ((r->ol_agent != SEQ_NONE && seq_locate(s, r->ol_agent, r->ol_seq, &off) == SEQ_NONE) ||
        (r->or_agent != SEQ_NONE && seq_locate(s, r->or_agent, r->or_seq, &off) == SEQ_NONE)) {
      snprintf(msg, 200, "sequence: a run names an unknown origin");
      goto fail;
    }
  }
  free(runs);
  free(ends);
  free(lor);
  return s;
corrupt:
  snprintf(msg, 200, "sequence: the blob does not decode");
  goto fail;
nomem:
  snprintf(msg, 200, "out of memory");
fail:
  free(runs);
  free(ends);
  free(lor);
  seq_free(s);
  return NULL;
}

/* ---------------------------------------------------------------- agent forms -------- */

int seq_blob_agents(const uint8_t *in, size_t len, int to_indexes, seq_agent_map map, void *ctx, uint8_t **out,
                    size_t *out_len) {
  in_buf b = {in, in + len, 0};
  *out = NULL;
  *out_len = 0;
  if (len < 2 || in[0] != 1 || (in[1] & ~7)) return -1;
  int indexes = (in[1] & SEQ_FLAG_INDEXES) != 0;
  b.p += 2;
  uint64_t n = get_varint(&b);
  if (b.bad || n > len) return -1;
  out_buf o = {0};
  uint8_t hdr[2] = {1, (uint8_t)((in[1] & ~SEQ_FLAG_INDEXES) | (to_indexes ? SEQ_FLAG_INDEXES : 0))};
  put_bytes(&o, hdr, 2);
  put_varint(&o, n);
  for (uint64_t a = 0; a < n; a++) {
    uint64_t v = 0, m = 0;
    if (indexes) v = get_varint(&b);
    else if (b.end - b.p < 8) b.bad = 1;
    else {
      for (int i = 0; i < 8; i++) v |= (uint64_t)b.p[i] << (8 * i);
      b.p += 8;
    }
    if (b.bad || map(ctx, v, &m)) return free(o.p), -1;
    if (to_indexes) put_varint(&o, m);
    else {
      uint8_t bytes[8];
      for (int i = 0; i < 8; i++) bytes[i] = (uint8_t)(m >> (8 * i));
      put_bytes(&o, bytes, 8);
    }
  }
  put_bytes(&o, b.p, (size_t)(b.end - b.p));
  if (o.oom) return free(o.p), -1;
  *out = o.p;
  *out_len = o.len;
  return 0;
}
