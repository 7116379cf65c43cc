/*
** seq_read.c -- reading a sequence (seq.h): its visible content, what changed between two
** states of it, and the structural self-check the tests run.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seq_internal.h"

#define FAIL(...) (snprintf(msg, 200, __VA_ARGS__), -1)

int seq_each_visible(const seq *s, seq_content_fn visit, void *ctx) {
  seq_pos p;
  for (int more = seq_first(s, &p); more; more = seq_next(s, &p)) {
    const seq_run *r = seq_run_at(s, p);
    if (r->deleted) continue;
    int rc = visit(ctx, s->arena + r->off, r->bytes, r->len);
    if (rc) return rc;
  }
  return 0;
}

typedef struct text_buf {
  char *p;
  size_t len;
} text_buf;

static int append_text(void *ctx, const uint8_t *bytes, size_t len, uint32_t n) {
  (void)n;
  text_buf *b = ctx;
  memcpy(b->p + b->len, bytes, len);
  b->len += len;
  return 0;
}

int seq_text(const seq *s, char **out, size_t *len) {
  size_t total = 0;
  seq_pos p;
  for (int more = seq_first(s, &p); more; more = seq_next(s, &p)) total += seq_run_at(s, p)->bytes;
  text_buf b = {malloc(total + 1), 0};
  if (!b.p) return -1;
  seq_each_visible(s, append_text, &b);
  b.p[b.len] = '\0';
  *out = b.p;
  *len = b.len;
  return 0;
}

/* ---------------------------------------------------------------- diff --------------- */

/* The edit being gathered: deletions and insertions with no kept element between them. */
typedef struct differ {
  seq_edit_fn fn;
  void *ctx;
  size_t pos;         /* where the pending edit starts, in the text as edited so far */
  size_t del;
  uint8_t *ins;
  size_t ins_len, ins_cap, ins_n, ins_units;
  int pending;
} differ;

static int flush(differ *d) {
  if (!d->pending) return 0;
  int rc = d->fn(d->ctx, d->pos, d->del, d->ins, d->ins_len, d->ins_n);
  d->pos += d->ins_units;
  d->del = d->ins_len = d->ins_n = d->ins_units = 0;
  d->pending = 0;
  return rc;
}

static int keep(differ *d, size_t units) {
  int rc = flush(d);
  d->pos += units;
  return rc;
}

static int insert(differ *d, const uint8_t *bytes, size_t len, size_t n, size_t units) {
  if (d->ins_len + len > d->ins_cap) {
    size_t c = d->ins_cap ? d->ins_cap : 64;
    while (c < d->ins_len + len) c *= 2;
    uint8_t *q = realloc(d->ins, c);
    if (!q) return -1;
    d->ins = q;
    d->ins_cap = c;
  }
  memcpy(d->ins + d->ins_len, bytes, len);
  d->ins_len += len;
  d->ins_n += n;
  d->ins_units += units;
  d->pending = 1;
  return 0;
}

/* Units of elements [k, k+m) of a live run. */
static size_t units_of(const seq *s, const seq_run *r, uint32_t k, uint32_t m, seq_unit unit) {
  if (unit == SEQ_ELEMS) return m;
  return seq_units_before(s, r, k + m) - seq_units_before(s, r, k);
}

int seq_diff(const seq *before, const seq *after, seq_unit unit, seq_edit_fn edit, void *ctx) {
  differ d = {edit, ctx, 0, 0, NULL, 0, 0, 0, 0, 0};
  int rc = 0;
  seq_pos p;
  for (int more = seq_first(after, &p); more && !rc; more = seq_next(after, &p)) {
    const seq_run *r = seq_run_at(after, p);
    uint32_t agent = seq_agent_find(before, after->agents[r->agent].node);
    for (uint32_t k = 0; k < r->len && !rc;) {
      uint32_t b = SEQ_NONE, off = 0;
      uint32_t m = seq_span(before, agent, r->seq + k, r->len - k, &b, &off);
      int was = b != SEQ_NONE && !before->runs[b].deleted;
      if (was && !r->deleted) rc = keep(&d, units_of(after, r, k, m, unit));
      else if (was) {
        d.del += units_of(before, &before->runs[b], off, m, unit);
        d.pending = 1;
      } else if (!r->deleted) {
        uint32_t from = seq_elem_offset(after, r, k), to = seq_elem_offset(after, r, k + m);
        rc = insert(&d, after->arena + r->off + from, to - from, m, units_of(after, r, k, m, unit));
      }
      k += m;
    }
  }
  if (!rc) rc = flush(&d);
  free(d.ins);
  return rc;
}

/* ---------------------------------------------------------------- self-check --------- */

int seq_check(const seq *s, char *msg) {
  uint64_t all = 0, vis = 0, vis16 = 0;
  for (uint32_t bo = 0; bo < s->norder; bo++) {
    const seq_block *b = s->blocks[s->order[bo]];
    if (b->order != bo) return FAIL("block %u has order %u", bo, b->order);
    uint64_t ba = 0, bv = 0, bu = 0;
    for (uint32_t i = 0; i < b->n; i++) {
      const seq_run *r = &s->runs[b->r[i]];
      if (r->block != s->order[bo]) return FAIL("run %u names block %u, is in %u", b->r[i], r->block, s->order[bo]);
      if (!r->len) return FAIL("empty run %u", b->r[i]);
      if (r->agent >= s->nagents) return FAIL("run %u has agent %u of %u", b->r[i], r->agent, s->nagents);
      ba += r->len;
      if (r->deleted) {
        if (r->bytes || r->units) return FAIL("tombstone run %u keeps content", b->r[i]);
      } else {
        uint32_t pts = r->len, units = r->len;
        if (s->kind == SEQ_TEXT && !seq_utf8_count(s->arena + r->off, r->bytes, &pts, &units))
          return FAIL("run %u holds invalid UTF-8", b->r[i]);
        if (s->kind == SEQ_LIST && !seq_list_content_ok(s->arena + r->off, r->bytes, r->len))
          return FAIL("run %u holds bad list elements", b->r[i]);
        if (pts != r->len || units != r->units) return FAIL("run %u counts %u/%u, holds %u/%u", b->r[i], r->len, r->units, pts, units);
        bv += r->len;
        bu += r->units;
      }
      uint32_t off;
      if (r->ol_agent != SEQ_NONE && seq_locate(s, r->ol_agent, r->ol_seq, &off) == SEQ_NONE)
        return FAIL("run %u has an unknown left origin", b->r[i]);
      if (r->or_agent != SEQ_NONE && seq_locate(s, r->or_agent, r->or_seq, &off) == SEQ_NONE)
        return FAIL("run %u has an unknown right origin", b->r[i]);
      for (uint32_t e = 0; e < r->len; e += r->len - 1 ? r->len - 1 : 1) {
        uint32_t at = seq_locate(s, r->agent, r->seq + e, &off);
        if (at != b->r[i] || off != e) return FAIL("id index misses element %u of run %u", e, b->r[i]);
      }
    }
    if (ba != b->all || bv != b->vis || bu != b->vis16) return FAIL("block %u counts are wrong", bo);
    all += ba, vis += bv, vis16 += bu;
  }
  if (all != s->all || vis != s->vis || vis16 != s->vis16) return FAIL("sequence counts are wrong");
  uint64_t chained = 0;
  for (uint32_t a = 0; a < s->nagents; a++) {
    const seq_agent *ag = &s->agents[a];
    for (uint32_t k = 0; k < ag->nchunks; k++) {
      const seq_chunk *c = &ag->chunks[k];
      if (k && ag->chunks[k - 1].seq + ag->chunks[k - 1].len > c->seq) return FAIL("agent %u chunks overlap", a);
      if (c->seq + c->len > ag->next_seq) return FAIL("agent %u next counter too small", a);
      uint32_t at = c->seq;
      for (uint32_t r = c->first; r != SEQ_NONE; r = s->runs[r].next) {
        if (s->runs[r].agent != a || s->runs[r].seq != at) return FAIL("agent %u chunk chain broken", a);
        at += s->runs[r].len;
        chained += s->runs[r].len;
      }
      if (at != c->seq + c->len) return FAIL("agent %u chunk chain is %u long, not %u", a, at - c->seq, c->len);
    }
  }
  if (chained != all) return FAIL("chains hold %llu elements, blocks %llu", (unsigned long long)chained, (unsigned long long)all);
  return 0;
}

int seq_each_visible_id(const seq *s, seq_id_content_fn visit, void *ctx) {
  seq_pos p;
  for (int more = seq_first(s, &p); more; more = seq_next(s, &p)) {
    const seq_run *r = seq_run_at(s, p);
    if (r->deleted) continue;
    int rc = visit(ctx, (seq_id){s->agents[r->agent].node, r->seq}, s->arena + r->off, r->bytes, r->len);
    if (rc) return rc;
  }
  return 0;
}

int seq_element(const seq *s, seq_id id, const uint8_t **bytes, size_t *len) {
  uint32_t agent = seq_agent_find(s, id.node), off = 0;
  uint32_t r = agent == SEQ_NONE ? SEQ_NONE : seq_locate(s, agent, id.seq, &off);
  if (r == SEQ_NONE) return -1;
  const seq_run *run = &s->runs[r];
  if (run->deleted) return 0;
  uint32_t from = seq_elem_offset(s, run, off), to = seq_elem_offset(s, run, off + 1);
  *bytes = s->arena + run->off + from;
  *len = to - from;
  return 1;
}
