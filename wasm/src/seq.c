/*
** seq.c -- the sequence CRDT's structure and its edits (seq.h): runs in blocks, the id index,
** FugueMax integration of an insertion, deletion. Reading and diffs are seq_read.c, the binary
** form seq_codec.c.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seq_internal.h"

#define FAIL(...) (snprintf(msg, 200, __VA_ARGS__), -1)

static int next_pos(const seq *s, seq_pos *p);
static int first_pos(const seq *s, seq_pos *p);

/* ---------------------------------------------------------------- allocation --------- */

seq *seq_new(seq_kind kind) {
  seq *s = calloc(1, sizeof(*s));
  if (s) {
    s->kind = kind;
    s->free_run = SEQ_NONE;
  }
  return s;
}

void seq_free(seq *s) {
  if (!s) return;
  for (uint32_t i = 0; i < s->nblocks; i++) free(s->blocks[i]);
  for (uint32_t i = 0; i < s->nagents; i++) free(s->agents[i].chunks);
  free(s->blocks);
  free(s->order);
  free(s->runs);
  free(s->agents);
  free(s->arena);
  free(s);
}

seq_kind seq_get_kind(const seq *s) { return s->kind; }
size_t seq_length(const seq *s, seq_unit unit) { return (size_t)(unit == SEQ_UTF16 ? s->vis16 : s->vis); }
size_t seq_elements(const seq *s) { return (size_t)s->all; }

size_t seq_runs(const seq *s) {
  size_t n = 0;
  for (uint32_t i = 0; i < s->norder; i++) n += s->blocks[s->order[i]]->n;
  return n;
}

size_t seq_memory(const seq *s) {
  size_t m = sizeof(*s) + (size_t)s->capruns * sizeof(seq_run) + (size_t)s->nblocks * sizeof(seq_block) +
             (size_t)s->capblocks * (sizeof(seq_block *) + sizeof(uint32_t)) + s->arena_cap +
             (size_t)s->capagents * sizeof(seq_agent);
  for (uint32_t i = 0; i < s->nagents; i++) m += (size_t)s->agents[i].cap * sizeof(seq_chunk);
  return m;
}

static int grow(void **p, uint32_t *cap, uint32_t need, size_t size) {
  if (need <= *cap) return 0;
  uint32_t c = *cap ? *cap : 8;
  while (c < need) c *= 2;
  void *q = realloc(*p, (size_t)c * size);
  if (!q) return -1;
  *p = q;
  *cap = c;
  return 0;
}

int seq_arena_reserve(seq *s, size_t more) {
  if (s->arena_len + more <= s->arena_cap) return 0;
  if (s->arena_len + more > 0xffffffffu) return -1; /* offsets are 32-bit */
  size_t c = s->arena_cap ? s->arena_cap : 256;
  while (c < s->arena_len + more) c *= 2;
  uint8_t *q = realloc(s->arena, c);
  if (!q) return -1;
  s->arena = q;
  s->arena_cap = c;
  return 0;
}

static uint32_t new_run(seq *s) {
  if (s->free_run != SEQ_NONE) {
    uint32_t r = s->free_run;
    s->free_run = s->runs[r].next;
    return r;
  }
  if (grow((void **)&s->runs, &s->capruns, s->nruns + 1, sizeof(seq_run))) return SEQ_NONE;
  return s->nruns++;
}

static void free_run(seq *s, uint32_t r) {
  s->runs[r].next = s->free_run;
  s->runs[r].len = 0;
  s->free_run = r;
}

/* A new empty block at document position `at` (order index). SEQ_NONE on OOM. */
static uint32_t new_block(seq *s, uint32_t at) {
  uint32_t cap = s->capblocks;
  if (s->nblocks + 1 > cap) {
    uint32_t c = cap ? cap * 2 : 8;
    seq_block **b = realloc(s->blocks, c * sizeof(*b));
    if (!b) return SEQ_NONE;
    s->blocks = b;
    uint32_t *o = realloc(s->order, c * sizeof(*o));
    if (!o) return SEQ_NONE;
    s->order = o;
    s->capblocks = c;
  }
  seq_block *b = calloc(1, sizeof(*b));
  if (!b) return SEQ_NONE;
  uint32_t id = s->nblocks++;
  s->blocks[id] = b;
  memmove(s->order + at + 1, s->order + at, (s->norder - at) * sizeof(uint32_t));
  s->order[at] = id;
  s->norder++;
  for (uint32_t i = at; i < s->norder; i++) s->blocks[s->order[i]]->order = i;
  return id;
}

/* ---------------------------------------------------------------- agents and ids ----- */

uint32_t seq_agent_find(const seq *s, uint64_t node) {
  if (s->last_agent < s->nagents && s->agents[s->last_agent].node == node) return s->last_agent;
  for (uint32_t i = 0; i < s->nagents; i++)
    if (s->agents[i].node == node) {
      ((seq *)s)->last_agent = i;
      return i;
    }
  return SEQ_NONE;
}

uint32_t seq_agent_add(seq *s, uint64_t node) {
  uint32_t a = seq_agent_find(s, node);
  if (a != SEQ_NONE) return a;
  if (grow((void **)&s->agents, &s->capagents, s->nagents + 1, sizeof(seq_agent))) return SEQ_NONE;
  memset(&s->agents[s->nagents], 0, sizeof(seq_agent));
  s->agents[s->nagents].node = node;
  return s->nagents++;
}

uint32_t seq_next_counter(const seq *s, uint64_t node) {
  uint32_t a = seq_agent_find(s, node);
  return a == SEQ_NONE ? 0 : s->agents[a].next_seq;
}

/* Index of the chunk holding counter c, or of the first chunk after it (*hit 0). */
static uint32_t chunk_search(const seq_agent *ag, uint32_t c, int *hit) {
  uint32_t lo = 0, hi = ag->nchunks;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    const seq_chunk *k = &ag->chunks[mid];
    if (c < k->seq) hi = mid;
    else if (c - k->seq >= k->len) lo = mid + 1;
    else return *hit = 1, mid;
  }
  return *hit = 0, lo;
}

uint32_t seq_locate(const seq *s, uint32_t agent, uint32_t c, uint32_t *offset) {
  if (agent >= s->nagents) return SEQ_NONE;
  const seq_agent *ag = &s->agents[agent];
  int hit;
  uint32_t k = chunk_search(ag, c, &hit);
  if (!hit) return SEQ_NONE;
  for (uint32_t r = ag->chunks[k].first; r != SEQ_NONE; r = s->runs[r].next) {
    const seq_run *run = &s->runs[r];
    if (c >= run->seq && c - run->seq < run->len) {
      *offset = c - run->seq;
      return r;
    }
  }
  return SEQ_NONE;
}

/* Whether any counter of [c, c+n) is held by the agent. */
static int any_held(const seq_agent *ag, uint32_t c, uint32_t n) {
  int hit;
  uint32_t k = chunk_search(ag, c, &hit);
  if (hit) return 1;
  return k < ag->nchunks && ag->chunks[k].seq < c + n;
}

uint32_t seq_span(const seq *s, uint32_t agent, uint32_t c, uint32_t n, uint32_t *run, uint32_t *offset) {
  *run = SEQ_NONE;
  if (agent >= s->nagents) return n;
  const seq_agent *ag = &s->agents[agent];
  int hit;
  uint32_t k = chunk_search(ag, c, &hit);
  if (!hit) {
    if (k < ag->nchunks && ag->chunks[k].seq - c < n) return ag->chunks[k].seq - c;
    return n;
  }
  uint32_t r = seq_locate(s, agent, c, offset);
  *run = r;
  uint32_t m = s->runs[r].len - *offset;
  return m < n ? m : n;
}

/* Whether every counter of [c, c+n) is held. */
static int all_held(const seq_agent *ag, uint32_t c, uint32_t n) {
  while (n) {
    int hit;
    uint32_t k = chunk_search(ag, c, &hit);
    if (!hit) return 0;
    uint32_t left = ag->chunks[k].seq + ag->chunks[k].len - c;
    if (left >= n) return 1;
    c += left;
    n -= left;
  }
  return 1;
}

static int add_chunk(seq *s, uint32_t agent, uint32_t c, uint32_t n, uint32_t first) {
  seq_agent *ag = &s->agents[agent];
  if (grow((void **)&ag->chunks, &ag->cap, ag->nchunks + 1, sizeof(seq_chunk))) return -1;
  int hit;
  uint32_t k = chunk_search(ag, c, &hit);
  memmove(ag->chunks + k + 1, ag->chunks + k, (ag->nchunks - k) * sizeof(seq_chunk));
  ag->chunks[k] = (seq_chunk){c, n, first};
  ag->nchunks++;
  if (c + n > ag->next_seq) ag->next_seq = c + n;
  return 0;
}

typedef struct piece {
  uint32_t seq, run;
} piece;

static int piece_order(const void *a, const void *b) {
  const piece *x = a, *y = b;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int seq_rebuild_chunks(seq *s, char *msg) {
  uint32_t total = 0;
  seq_pos p;
  for (int more = first_pos(s, &p); more; more = next_pos(s, &p)) total++;
  piece *all = malloc((total ? total : 1) * sizeof(piece));
  uint32_t *count = calloc(s->nagents + 1, sizeof(uint32_t));
  if (!all || !count) return free(all), free(count), FAIL("out of memory");
  for (int more = first_pos(s, &p); more; more = next_pos(s, &p)) count[seq_run_at(s, p)->agent + 1]++;
  for (uint32_t a = 0; a < s->nagents; a++) count[a + 1] += count[a];
  for (int more = first_pos(s, &p); more; more = next_pos(s, &p)) {
    uint32_t r = s->blocks[s->order[p.bo]]->r[p.bi];
    all[count[s->runs[r].agent]++] = (piece){s->runs[r].seq, r};
  }
  int rc = 0;
  uint32_t from = 0;
  for (uint32_t a = 0; a < s->nagents && !rc; a++) {
    uint32_t to = count[a];
    seq_agent *ag = &s->agents[a];
    ag->nchunks = 0;
    ag->next_seq = 0;
    qsort(all + from, to - from, sizeof(piece), piece_order);
    for (uint32_t i = from; i < to && !rc; i++) {
      seq_run *r = &s->runs[all[i].run];
      r->next = SEQ_NONE;
      /* A chunk per run: a lookup is then a binary search, where one chunk per stretch of
      ** consecutive counters made it a walk along every run of the device (decoding the
      ** automerge-paper trace's state took a second, and every later edit paid it too). */
      seq_chunk *last = ag->nchunks ? &ag->chunks[ag->nchunks - 1] : NULL;
      if (last && last->seq + last->len > r->seq) rc = FAIL("sequence: element ids held twice");
      else if (grow((void **)&ag->chunks, &ag->cap, ag->nchunks + 1, sizeof(seq_chunk))) rc = FAIL("out of memory");
      else {
        ag->chunks[ag->nchunks++] = (seq_chunk){r->seq, r->len, all[i].run};
        ag->next_seq = r->seq + r->len;
      }
    }
    from = to;
  }
  free(all);
  free(count);
  return rc;
}

/* ---------------------------------------------------------------- positions ---------- */

seq_pos seq_pos_of(const seq *s, uint32_t run) {
  const seq_block *b = s->blocks[s->runs[run].block];
  uint32_t i = 0;
  while (b->r[i] != run) i++;
  return (seq_pos){b->order, i};
}

/* Elements kept before the run at p (tombstones included). */
static uint64_t index_of(const seq *s, seq_pos p) {
  uint64_t n = 0;
  for (uint32_t i = 0; i < p.bo; i++) n += s->blocks[s->order[i]]->all;
  const seq_block *b = s->blocks[s->order[p.bo]];
  for (uint32_t i = 0; i < p.bi; i++) n += s->runs[b->r[i]].len;
  return n;
}

/* The kept index of element (agent, c), which must exist. */
static uint64_t index_of_id(const seq *s, uint32_t agent, uint32_t c) {
  uint32_t off = 0;
  uint32_t r = seq_locate(s, agent, c, &off);
  return index_of(s, seq_pos_of(s, r)) + off;
}

/* Moves to the next run, over empty blocks; 0 at the end. */
static int next_pos(const seq *s, seq_pos *p) {
  if (++p->bi < s->blocks[s->order[p->bo]]->n) return 1;
  p->bi = 0;
  while (++p->bo < s->norder)
    if (s->blocks[s->order[p->bo]]->n) return 1;
  return 0;
}

/* The first run; 0 when there is none. */
static int first_pos(const seq *s, seq_pos *p) {
  for (p->bo = 0, p->bi = 0; p->bo < s->norder; p->bo++)
    if (s->blocks[s->order[p->bo]]->n) return 1;
  return 0;
}

int seq_utf8_count(const uint8_t *p, size_t n, uint32_t *points, uint32_t *units) {
  uint32_t pts = 0, u = 0;
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    uint32_t cp, need;
    if (c < 0x80) {
      i++, pts++, u++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) need = 1, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) need = 2, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) need = 3, cp = c & 0x07;
    else return 0;
    if (i + need >= n) return 0; /* a truncated sequence */
    for (uint32_t k = 1; k <= need; k++) {
      if ((p[i + k] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += need + 1;
    pts++;
    u += cp >= 0x10000 ? 2 : 1;
  }
  *points = pts;
  *units = u;
  return 1;
}

int seq_list_content_ok(const uint8_t *p, size_t bytes, uint32_t n) {
  size_t i = 0;
  for (uint32_t k = 0; k < n; k++) {
    uint64_t len = 0;
    int shift = 0;
    for (;;) {
      if (i >= bytes || shift > 28) return 0;
      uint8_t b = p[i++];
      len |= (uint64_t)(b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    if (len > bytes - i) return 0;
    i += (size_t)len;
  }
  return i == bytes;
}

/* Bytes of the list element starting at p (its length prefix and body). */
static uint32_t list_elem_size(const uint8_t *p) {
  uint32_t len = 0, i = 0;
  int shift = 0;
  uint8_t b;
  do {
    b = p[i++];
    len |= (uint32_t)(b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80);
  return i + len;
}

static uint32_t utf8_size(uint8_t c) { return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4; }

uint32_t seq_elem_offset(const seq *s, const seq_run *r, uint32_t k) {
  if (s->kind == SEQ_TEXT && r->bytes == r->len) return k; /* ASCII */
  const uint8_t *p = s->arena + r->off;
  uint32_t at = 0;
  for (uint32_t i = 0; i < k; i++) at += s->kind == SEQ_TEXT ? utf8_size(p[at]) : list_elem_size(p + at);
  return at;
}

uint32_t seq_units_before(const seq *s, const seq_run *r, uint32_t k) {
  if (s->kind == SEQ_LIST || r->units == r->len) return k;
  const uint8_t *p = s->arena + r->off;
  uint32_t at = 0, u = 0;
  for (uint32_t i = 0; i < k; i++) {
    uint32_t w = utf8_size(p[at]);
    u += w == 4 ? 2 : 1;
    at += w;
  }
  return u;
}

/* ---------------------------------------------------------------- blocks ------------- */

static void block_add(seq *s, seq_block *b, const seq_run *r, int sign) {
  uint64_t len = r->len, v = r->deleted ? 0 : r->len, u = r->deleted ? 0 : r->units;
  if (sign > 0) b->all += len, b->vis += v, b->vis16 += u, s->all += len, s->vis += v, s->vis16 += u;
  else b->all -= len, b->vis -= v, b->vis16 -= u, s->all -= len, s->vis -= v, s->vis16 -= u;
}

/* Puts run `r` at position p (before the run now there; p.bi may be the block's n). Splits a
** full block in two. -1 on OOM. */
static int block_insert(seq *s, seq_pos p, uint32_t r) {
  if (s->norder == 0) {
    if (new_block(s, 0) == SEQ_NONE) return -1;
    p = (seq_pos){0, 0};
  }
  seq_block *b = s->blocks[s->order[p.bo]];
  if (b->n == SEQ_BLOCK) {
    uint32_t id = new_block(s, p.bo + 1);
    if (id == SEQ_NONE) return -1;
    b = s->blocks[s->order[p.bo]];
    seq_block *nb = s->blocks[id];
    uint32_t half = SEQ_BLOCK / 2;
    for (uint32_t i = half; i < SEQ_BLOCK; i++) {
      uint32_t x = b->r[i];
      nb->r[nb->n++] = x;
      s->runs[x].block = id;
      block_add(s, b, &s->runs[x], -1);
      block_add(s, nb, &s->runs[x], +1);
    }
    b->n = half;
    if (p.bi > half) {
      p.bi -= half;
      p.bo++;
      b = nb;
    }
  }
  memmove(b->r + p.bi + 1, b->r + p.bi, (b->n - p.bi) * sizeof(uint32_t));
  b->r[p.bi] = r;
  b->n++;
  s->runs[r].block = s->order[p.bo];
  block_add(s, b, &s->runs[r], +1);
  return 0;
}

static void block_remove(seq *s, seq_pos p) {
  seq_block *b = s->blocks[s->order[p.bo]];
  block_add(s, b, seq_run_at(s, p), -1);
  memmove(b->r + p.bi, b->r + p.bi + 1, (b->n - p.bi - 1) * sizeof(uint32_t));
  b->n--;
  /* An empty block stays: it costs a few bytes and a scan step until the next encode. */
}

uint32_t seq_append_run(seq *s, const seq_run *src) {
  uint32_t r = new_run(s);
  if (r == SEQ_NONE) return SEQ_NONE;
  s->runs[r] = *src;
  s->runs[r].next = SEQ_NONE;
  seq_pos p = {0, 0};
  if (s->norder) {
    p.bo = s->norder - 1;
    p.bi = s->blocks[s->order[p.bo]]->n;
    /* Fill blocks to three quarters, so the first edits in them do not split them at once. */
    if (p.bi >= SEQ_BLOCK * 3 / 4) {
      if (new_block(s, s->norder) == SEQ_NONE) return SEQ_NONE;
      p = (seq_pos){s->norder - 1, 0};
    }
  }
  if (block_insert(s, p, r)) return SEQ_NONE;
  return r;
}

/* Splits run r at element k (0 < k < len): r keeps [0, k), a new run right after it takes the
** rest. Returns the new run, SEQ_NONE on OOM. */
static uint32_t split_run(seq *s, uint32_t r, uint32_t k) {
  uint32_t t = new_run(s);
  if (t == SEQ_NONE) return SEQ_NONE;
  seq_run *a = &s->runs[r], *b = &s->runs[t];
  *b = *a;
  b->seq = a->seq + k;
  b->len = a->len - k;
  b->ol_agent = a->agent;
  b->ol_seq = a->seq + k - 1;
  if (!a->deleted) {
    uint32_t at = seq_elem_offset(s, a, k);
    uint32_t u = seq_units_before(s, a, k);
    b->off = a->off + at;
    b->bytes = a->bytes - at;
    b->units = a->units - u;
    a->bytes = at;
    a->units = u;
  }
  a->len = k;
  a->next = t;
  /* The counts of the block do not change: take b out of a's figures and put it back in. */
  seq_pos p = seq_pos_of(s, r);
  seq_block *blk = s->blocks[s->order[p.bo]];
  block_add(s, blk, b, -1);
  if (block_insert(s, (seq_pos){p.bo, p.bi + 1}, t)) {
    block_add(s, blk, b, +1);
    a->len += b->len, a->bytes += b->bytes, a->units += b->units, a->next = b->next;
    free_run(s, t);
    return SEQ_NONE;
  }
  return t;
}

/* ---------------------------------------------------------------- integration -------- */

static int same_origin(uint32_t a1, uint32_t s1, uint32_t a2, uint32_t s2) {
  return a1 == a2 && (a1 == SEQ_NONE || s1 == s2);
}

/* The FugueMax scan: where a new run with origins at kept indexes L (-1: none) and R (s->all:
** none) goes among the elements between them. Each element in between is compared by its own
** origins: one whose left origin is left of L ends the scan (the new run goes before it); one
** with the same left origin is a sibling, ordered by its right origin and then by node; one
** whose left origin is right of L belongs to a sibling subtree already passed or being
** skipped. `start` is the position of kept index L+1 (and k its element offset). */
static void fugue_scan(const seq *s, uint64_t node, int64_t L, uint64_t R, seq_pos start, uint32_t k,
                       int at_end, seq_pos *dest, uint32_t *dest_k, int *dest_end) {
  uint64_t i = (uint64_t)(L + 1);
  int scanning = 0;
  seq_pos p = start;
  int end = at_end;
  *dest = p, *dest_k = k, *dest_end = end;
  for (;;) {
    if (!scanning) *dest = p, *dest_k = k, *dest_end = end;
    if (end || i >= R) break;
    const seq_run *o = seq_run_at(s, p);
    int64_t oleft;
    uint64_t oright;
    if (k > 0) oleft = (int64_t)i - 1;
    else oleft = o->ol_agent == SEQ_NONE ? -1 : (int64_t)index_of_id(s, o->ol_agent, o->ol_seq);
    if (oleft < L) break;
    uint32_t step = 1;
    if (oleft == L) {
      oright = o->or_agent == SEQ_NONE ? s->all : index_of_id(s, o->or_agent, o->or_seq);
      if (oright < R) scanning = 1;
      else if (oright == R) {
        uint64_t onode = s->agents[o->agent].node;
        if (node < onode) break;
        scanning = 0;
      } else scanning = 0;
    } else {
      /* The rest of this run hangs off its own elements: skip it, but not past R. */
      step = o->len - k;
      if (i + step > R) step = (uint32_t)(R - i);
    }
    i += step;
    k += step;
    if (k >= o->len) {
      k = 0;
      if (!next_pos(s, &p)) end = 1;
    }
  }
}

static int check_content(const seq *s, const uint8_t *c, size_t bytes, uint32_t n, uint32_t *units, char *msg) {
  if (s->kind == SEQ_TEXT) {
    uint32_t pts = 0;
    if (!seq_utf8_count(c, bytes, &pts, units)) return FAIL("inserted text is not valid UTF-8");
    if (pts != n) return FAIL("inserted text holds %u characters, the run says %u", pts, n);
    for (size_t i = 0; i < bytes; i++)
      if (c[i] == 0) return FAIL("inserted text holds a NUL character");
  } else {
    if (!seq_list_content_ok(c, bytes, n)) return FAIL("list elements do not match their count");
    *units = n;
  }
  return 0;
}

/* Resolves an origin id to (agent, counter); 0 when known, -1 with msg. */
static int origin(const seq *s, seq_id id, const char *which, uint32_t *agent, uint32_t *c, char *msg) {
  if (!id.node) return *agent = SEQ_NONE, *c = 0, 0;
  uint32_t a = seq_agent_find(s, id.node), off;
  if (a == SEQ_NONE || seq_locate(s, a, id.seq, &off) == SEQ_NONE)
    return FAIL("unknown %s origin %016llx:%u", which, (unsigned long long)id.node, id.seq);
  *agent = a, *c = id.seq;
  return 0;
}

/* Whether run r can take the new run (agent, c) at its end: same device, next counters, left
** origin r's last element, same right origin, both live, content adjacent in the arena. */
static int extends(const seq *s, const seq_run *r, uint32_t agent, uint32_t c, uint32_t ol_a, uint32_t ol_s,
                   uint32_t or_a, uint32_t or_s, uint32_t off) {
  return r->agent == agent && !r->deleted && r->seq + r->len == c && ol_a == agent && ol_s == c - 1 &&
         same_origin(r->or_agent, r->or_seq, or_a, or_s) && r->off + r->bytes == off && r->next == SEQ_NONE;
}

int seq_insert(seq *s, seq_id id, seq_id left, seq_id right, const uint8_t *content, size_t bytes, uint32_t n,
               char *msg) {
  if (!id.node) return FAIL("an inserted element needs a device");
  if (n == 0 || n > SEQ_MAX_RUN) return FAIL("a run holds 1 to %u elements, not %u", SEQ_MAX_RUN, n);
  if (id.seq > SEQ_MAX_COUNTER - n) return FAIL("element counter out of range");
  if (bytes > 0x7fffffff) return FAIL("inserted content too large");
  uint32_t ol_a, ol_s, or_a, or_s, units = 0;
  if (origin(s, left, "left", &ol_a, &ol_s, msg) || origin(s, right, "right", &or_a, &or_s, msg)) return -1;
  uint32_t agent = seq_agent_find(s, id.node);
  if (agent != SEQ_NONE && any_held(&s->agents[agent], id.seq, n)) {
    /* A duplicate delivery is harmless; anything else claiming held ids is refused. */
    uint32_t off = 0;
    uint32_t r = seq_locate(s, agent, id.seq, &off);
    if (r != SEQ_NONE && all_held(&s->agents[agent], id.seq, n)) {
      const seq_run *run = &s->runs[r];
      uint32_t a = off ? run->agent : run->ol_agent, c = off ? run->seq + off - 1 : run->ol_seq;
      if (same_origin(a, c, ol_a, ol_s) && same_origin(run->or_agent, run->or_seq, or_a, or_s)) return 0;
    }
    return FAIL("element ids %016llx:%u+%u are already taken", (unsigned long long)id.node, id.seq, n);
  }
  if (check_content(s, content, bytes, n, &units, msg)) return -1;
  if (s->all + n > SEQ_MAX_ELEMS) return FAIL("the sequence would hold more than %u elements", SEQ_MAX_ELEMS);
  int64_t L = ol_a == SEQ_NONE ? -1 : (int64_t)index_of_id(s, ol_a, ol_s);
  uint64_t R = or_a == SEQ_NONE ? s->all : index_of_id(s, or_a, or_s);
  if ((int64_t)R <= L) return FAIL("the right origin is not after the left origin");

  /* Nothing below refuses: reserve first so that running out of memory changes nothing. */
  if (seq_arena_reserve(s, bytes)) return FAIL("out of memory");
  if (agent == SEQ_NONE && (agent = seq_agent_add(s, id.node)) == SEQ_NONE) return FAIL("out of memory");
  uint32_t off = (uint32_t)s->arena_len;
  memcpy(s->arena + off, content, bytes);

  seq_pos start = {0, 0};
  uint32_t k = 0;
  int at_end = 0;
  if (ol_a != SEQ_NONE) {
    uint32_t o = 0;
    uint32_t r = seq_locate(s, ol_a, ol_s, &o);
    start = seq_pos_of(s, r);
    k = o + 1;
    if (k >= s->runs[r].len) {
      k = 0;
      at_end = !next_pos(s, &start);
    }
  } else {
    at_end = !first_pos(s, &start);
  }
  seq_pos dest;
  uint32_t dk;
  int dend;
  fugue_scan(s, id.node, L, R, start, k, at_end, &dest, &dk, &dend);

  /* The run right before the destination, if the new run may extend it. */
  seq_run *prev = NULL;
  seq_pos ip;
  if (dk > 0) {
    uint32_t r = s->blocks[s->order[dest.bo]]->r[dest.bi];
    if (split_run(s, r, dk) == SEQ_NONE) return FAIL("out of memory");
    ip = seq_pos_of(s, r);
    prev = &s->runs[r];
    ip.bi++;
  } else if (dend) {
    if (s->norder == 0) ip = (seq_pos){0, 0};
    else {
      ip.bo = s->norder - 1;
      ip.bi = s->blocks[s->order[ip.bo]]->n;
      while (ip.bi == 0 && ip.bo > 0) ip.bi = s->blocks[s->order[--ip.bo]]->n;
      if (ip.bi) prev = &s->runs[s->blocks[s->order[ip.bo]]->r[ip.bi - 1]];
    }
  } else {
    ip = dest;
    if (ip.bi > 0) prev = &s->runs[s->blocks[s->order[ip.bo]]->r[ip.bi - 1]];
    else {
      seq_pos q = ip;
      while (q.bo > 0) {
        q.bo--;
        uint32_t nb = s->blocks[s->order[q.bo]]->n;
        if (nb) {
          prev = &s->runs[s->blocks[s->order[q.bo]]->r[nb - 1]];
          break;
        }
      }
    }
  }
  seq_agent *ag = &s->agents[agent];
  if (prev && extends(s, prev, agent, id.seq, ol_a, ol_s, or_a, or_s, off) && ag->nchunks &&
      ag->chunks[ag->nchunks - 1].seq + ag->chunks[ag->nchunks - 1].len == id.seq) {
    seq_block *b = s->blocks[prev->block];
    seq_run add = {.len = n, .units = units};
    block_add(s, b, &add, +1);
    prev->len += n, prev->bytes += (uint32_t)bytes, prev->units += units;
    ag->chunks[ag->nchunks - 1].len += n;
    ag->next_seq = id.seq + n;
    s->arena_len += bytes;
    return 0;
  }
  uint32_t r = new_run(s);
  if (r == SEQ_NONE) return FAIL("out of memory");
  s->runs[r] = (seq_run){agent, id.seq, n, ol_a, ol_s, or_a, or_s, off, (uint32_t)bytes, units, 0, SEQ_NONE, 0};
  if (add_chunk(s, agent, id.seq, n, r)) return free_run(s, r), FAIL("out of memory");
  if (block_insert(s, ip, r)) return FAIL("out of memory"); /* the chunk names a run not placed: OOM is fatal */
  s->arena_len += bytes;
  return 0;
}

/* ---------------------------------------------------------------- deletion ----------- */

/* Merges tombstone run t into the run right before it in the document when both are
** tombstones of one chain with consecutive counters, so runs of deletions cost one run. */
static void merge_tombstones(seq *s, uint32_t t) {
  seq_pos p = seq_pos_of(s, t);
  if (p.bi == 0) return;
  seq_block *b = s->blocks[s->order[p.bo]];
  uint32_t a = b->r[p.bi - 1];
  seq_run *x = &s->runs[a], *y = &s->runs[t];
  if (!x->deleted || !y->deleted || x->next != t || y->ol_agent != x->agent || y->ol_seq != x->seq + x->len - 1 ||
      !same_origin(x->or_agent, x->or_seq, y->or_agent, y->or_seq))
    return;
  block_remove(s, p);
  x->len += y->len;
  x->next = y->next;
  seq_run add = {.len = y->len, .deleted = 1};
  block_add(s, b, &add, +1);
  free_run(s, t);
}

int seq_delete(seq *s, seq_id id, uint32_t n, char *msg) {
  if (n == 0 || n > SEQ_MAX_RUN) return FAIL("a deletion covers 1 to %u elements, not %u", SEQ_MAX_RUN, n);
  if (id.seq > SEQ_MAX_COUNTER - n) return FAIL("element counter out of range");
  uint32_t agent = seq_agent_find(s, id.node);
  if (agent == SEQ_NONE || !all_held(&s->agents[agent], id.seq, n))
    return FAIL("deletion of unknown elements %016llx:%u+%u", (unsigned long long)id.node, id.seq, n);
  uint32_t c = id.seq, left = n;
  while (left) {
    uint32_t off = 0;
    uint32_t r = seq_locate(s, agent, c, &off);
    if (s->runs[r].deleted) {
      uint32_t skip = s->runs[r].len - off;
      if (skip > left) skip = left;
      c += skip, left -= skip;
      continue;
    }
    if (off > 0) {
      if ((r = split_run(s, r, off)) == SEQ_NONE) return FAIL("out of memory");
    }
    if (s->runs[r].len > left && split_run(s, r, left) == SEQ_NONE) return FAIL("out of memory");
    seq_run *run = &s->runs[r];
    seq_block *b = s->blocks[run->block];
    block_add(s, b, run, -1);
    run->deleted = 1, run->bytes = 0, run->units = 0;
    block_add(s, b, run, +1);
    uint32_t done = run->len;
    uint32_t after = run->next;
    merge_tombstones(s, r);
    if (after != SEQ_NONE && s->runs[after].len) merge_tombstones(s, after);
    c += done, left -= done;
  }
  return 0;
}

int seq_first(const seq *s, seq_pos *p) { return first_pos(s, p); }
int seq_next(const seq *s, seq_pos *p) { return next_pos(s, p); }

/* ---------------------------------------------------------------- local positions ---- */

/* The visible element holding unit index u (0-based): position, element offset, and the units
** before the element within it. -1 when u is past the end. */
static int find_visible(const seq *s, uint64_t u, seq_unit unit, seq_pos *pos, uint32_t *k, uint32_t *units_in) {
  uint32_t bo = 0;
  for (; bo < s->norder; bo++) {
    const seq_block *b = s->blocks[s->order[bo]];
    uint64_t v = unit == SEQ_UTF16 ? b->vis16 : b->vis;
    if (u < v) break;
    u -= v;
  }
  if (bo == s->norder) return -1;
  const seq_block *b = s->blocks[s->order[bo]];
  for (uint32_t i = 0; i < b->n; i++) {
    const seq_run *r = &s->runs[b->r[i]];
    if (r->deleted) continue;
    uint64_t v = unit == SEQ_UTF16 ? r->units : r->len;
    if (u >= v) {
      u -= v;
      continue;
    }
    *pos = (seq_pos){bo, i};
    if (unit == SEQ_ELEMS || r->units == r->len) {
      *k = (uint32_t)u;
      *units_in = 0;
    } else {
      const uint8_t *p = s->arena + r->off;
      uint32_t at = 0, acc = 0, e = 0;
      for (;;) {
        uint32_t w = utf8_size(p[at]), uw = w == 4 ? 2 : 1;
        if (u < acc + uw) break;
        acc += uw, at += w, e++;
      }
      *k = e;
      *units_in = (uint32_t)(u - acc);
    }
    return 0;
  }
  return -1;
}

static seq_id id_of(const seq *s, const seq_run *r, uint32_t k) {
  return (seq_id){s->agents[r->agent].node, r->seq + k};
}

int seq_origins_at(const seq *s, size_t pos, seq_unit unit, seq_id *left, seq_id *right, char *msg) {
  if (unit == SEQ_UTF16 && s->kind != SEQ_TEXT) return FAIL("UTF-16 positions are for text");
  if (pos > seq_length(s, unit)) return FAIL("position %zu is past the end (%zu)", pos, seq_length(s, unit));
  *left = (seq_id){0, 0};
  *right = (seq_id){0, 0};
  seq_pos p = {0, 0};
  uint32_t k = 0;
  if (pos == 0) {
    if (first_pos(s, &p)) *right = id_of(s, seq_run_at(s, p), 0);
    return 0;
  }
  uint32_t units_in = 0;
  if (find_visible(s, pos - 1, unit, &p, &k, &units_in)) return FAIL("position past the end");
  const seq_run *r = seq_run_at(s, p);
  if (unit == SEQ_UTF16 && r->units != r->len) {
    /* pos-1 must be the last unit of its element: an astral element's first unit is not. */
    const uint8_t *c = s->arena + r->off + seq_elem_offset(s, r, k);
    if (utf8_size(*c) == 4 && units_in == 0) return FAIL("position %zu is inside a surrogate pair", pos);
  }
  *left = id_of(s, r, k);
  if (k + 1 < r->len) *right = id_of(s, r, k + 1);
  else if (next_pos(s, &p)) *right = id_of(s, seq_run_at(s, p), 0);
  return 0;
}

int seq_ids_in(const seq *s, size_t pos, size_t len, seq_unit unit, seq_range_fn visit, void *ctx, char *msg) {
  if (unit == SEQ_UTF16 && s->kind != SEQ_TEXT) return FAIL("UTF-16 positions are for text");
  size_t total = seq_length(s, unit);
  if (pos > total || len > total - pos) return FAIL("range %zu+%zu is past the end (%zu)", pos, len, total);
  if (len == 0) return 0;
  seq_pos p;
  uint32_t k, units_in;
  if (find_visible(s, pos, unit, &p, &k, &units_in)) return FAIL("range past the end");
  if (units_in) return FAIL("position %zu is inside a surrogate pair", pos);
  /* The end must fall between elements too. */
  if (unit == SEQ_UTF16 && pos + len < total) {
    seq_pos q;
    uint32_t qk, qin;
    if (find_visible(s, pos + len, unit, &q, &qk, &qin) || qin)
      return FAIL("position %zu is inside a surrogate pair", pos + len);
  }
  size_t left = len;
  for (;;) {
    const seq_run *r = seq_run_at(s, p);
    if (!r->deleted) {
      uint32_t n;
      if (unit == SEQ_ELEMS || r->units == r->len) {
        n = r->len - k;
        if (n > left) n = (uint32_t)left;
        left -= n;
      } else {
        const uint8_t *c = s->arena + r->off + seq_elem_offset(s, r, k);
        uint32_t at = 0;
        n = 0;
        while (k + n < r->len && left) {
          uint32_t w = utf8_size(c[at]);
          left -= w == 4 ? 2 : 1;
          at += w, n++;
        }
      }
      int rc = visit(ctx, id_of(s, r, k), n);
      if (rc) return rc;
      if (!left) return 0;
    }
    k = 0;
    if (!next_pos(s, &p)) return FAIL("range past the end");
  }
}
