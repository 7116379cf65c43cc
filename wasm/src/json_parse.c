/*
** json_parse.c -- the core's JSON parser: the tree cJSON_ParseWithLength builds, built faster.
**
** Parsing was the largest share of a server's push apply that was not SQLite (a batch of 1,000
** operations: 13,500 instructions an operation in cJSON's parser, 29%) and 14% of a pulled
** record: cJSON walks every string twice, compares the literals with strncmp, and converts
** every number with strtod through a heap copy. Here a string is scanned once and copied in
** runs, and a whole number of up to 15 digits is converted without strtod (a double holds it
** exactly, so the value is the one strtod gives).
**
** The result must be cJSON's own, node for node, for every input, because the core's stored
** and compared texts come from these trees: the same accepted inputs and the same refusals,
** the same types, values, member order and names, the same `prev` links (a list's head points
** at its tail). cJSON's leniencies are kept on purpose: any byte up to 32 counts as white
** space, text after the value is ignored, a leading UTF-8 byte order mark is skipped, numbers
** may have leading zeros or a trailing '.', control characters and invalid UTF-8 pass inside
** strings (the core validates what it stores), a malformed \u escape yields U+0000, nesting
** stops at CJSON_NESTING_LIMIT. tests/fuzz/fuzz_json_parse.c compares the two parsers on any
** input, and tests/c/test_json_parse.c on a corpus of edge cases.
**
** Nodes and strings come from cJSON's allocator (cJSON_malloc: the pool while a hot path is in
** it, json_pool.c), so cJSON_Delete frees them as it frees its own.
*/
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

typedef struct parser {
  const unsigned char *s;
  size_t len, at;
  int depth;
  /* Spans (sloop_json_parse_spans): `uncanonical` counts what printing the tree would write
  ** otherwise than the text has it (white space, an escape print does not use, a number print
  ** writes otherwise); a member's object whose parse left it unchanged is printed as written. */
  sloop_json_spans *spans;
  unsigned long uncanonical;
} parser;

static int value(parser *p, cJSON *item);

static cJSON *new_node(void) {
  cJSON *n = cJSON_malloc(sizeof(*n));
  if (n) *n = (cJSON){0};
  return n;
}

/* Bytes up to 32 are white space. A run to the very end leaves the position on its last byte
** (so that what follows fails on it, as cJSON's does). */
static void skip_space(parser *p) {
  if (p->at >= p->len) return;
  size_t from = p->at;
  while (p->at < p->len && p->s[p->at] <= 32) p->at++;
  if (p->at == p->len) p->at--;
  p->uncanonical += p->at != from;
}

static unsigned hex4(const unsigned char *h) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned c = h[i], d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return 0; /* as cJSON: a malformed escape reads as \u0000 */
    v = (v << 4) | d;
  }
  return v;
}

/* A \u escape at `in` (before `end`, the closing quote) as UTF-8 at *out; returns the bytes of
** input it took (6, or 12 for a surrogate pair), 0 when it is refused. */
static size_t utf16_escape(const unsigned char *in, const unsigned char *end, unsigned char **out) {
  if (end - in < 6) return 0;
  unsigned long cp = hex4(in + 2);
  size_t taken = 6;
  if (cp >= 0xdc00 && cp <= 0xdfff) return 0;
  if (cp >= 0xd800 && cp <= 0xdbff) {
    const unsigned char *low = in + 6;
    if (end - low < 6 || low[0] != '\\' || low[1] != 'u') return 0;
    unsigned lo = hex4(low + 2);
    if (lo < 0xdc00 || lo > 0xdfff) return 0;
    cp = 0x10000 + (((cp & 0x3ff) << 10) | (lo & 0x3ff));
    taken = 12;
  }
  unsigned char *o = *out;
  if (cp < 0x80) {
    *o++ = (unsigned char)cp;
  } else if (cp < 0x800) {
    *o++ = (unsigned char)(0xc0 | (cp >> 6));
    *o++ = (unsigned char)(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    *o++ = (unsigned char)(0xe0 | (cp >> 12));
    *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    *o++ = (unsigned char)(0x80 | (cp & 0x3f));
  } else {
    *o++ = (unsigned char)(0xf0 | (cp >> 18));
    *o++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    *o++ = (unsigned char)(0x80 | (cp & 0x3f));
  }
  *out = o;
  return taken;
}

/* The string starting at the quote under the position, decoded into a new block: *out. */
static int string(parser *p, char **out) {
  const unsigned char *s = p->s, *start = s + p->at + 1, *limit = s + p->len, *end = start;
  if (s[p->at] != '"') return 0;
  size_t escapes = 0;
  /* The closing quote: the first quote with no backslash before it since the last escape (an
  ** escape's second byte never closes the string). memchr finds both in long runs at once. */
  for (;;) {
    const unsigned char *quote = memchr(end, '"', (size_t)(limit - end));
    if (!quote) return 0;
    const unsigned char *slash = memchr(end, '\\', (size_t)(quote - end));
    if (!slash) {
      end = quote;
      break;
    }
    if (slash + 1 >= limit) return 0;
    escapes++;
    end = slash + 2;
  }
  /* At most the bytes between the quotes (an escape decodes to fewer than it takes), plus one
  ** for the quote and one for the terminator: the size cJSON allocates. */
  unsigned char *buf = cJSON_malloc((size_t)(end - start) + 1 - escapes + 1);
  if (!buf) return 0;
  unsigned char *o = buf;
  for (const unsigned char *in = start; in < end;) {
    const unsigned char *slash = memchr(in, '\\', (size_t)(end - in));
    size_t run = (size_t)((slash ? slash : end) - in);
    memcpy(o, in, run);
    o += run;
    in += run;
    if (!slash) break;
    size_t taken = 2;
    switch (in[1]) {
      case 'b': *o++ = '\b'; break;
      case 'f': *o++ = '\f'; break;
      case 'n': *o++ = '\n'; break;
      case 'r': *o++ = '\r'; break;
      case 't': *o++ = '\t'; break;
      case '"':
      case '\\': *o++ = in[1]; break;
      case '/':
        *o++ = in[1];
        p->uncanonical++; /* printed as it is */
        break;
      case 'u':
        p->uncanonical++; /* printed as the character, or as \u00xx in lower case */
        if ((taken = utf16_escape(in, end, &o))) break;
        /* fall through: refused */
      default:
        cJSON_free(buf);
        return 0;
    }
    in += taken;
  }
  *o = '\0';
  *out = (char *)buf;
  p->at = (size_t)(end - s) + 1;
  return 1;
}

static int is_number_byte(unsigned char c) {
  return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'e' || c == 'E' || c == '.';
}

/* A number: the longest run of number bytes, read by strtod as far as it goes (cJSON's rule);
** a whole number of 1 to 15 digits, with a sign at most in front, is exact without it. */
static int number(parser *p, cJSON *item) {
  const unsigned char *s = p->s + p->at;
  size_t n = 0, avail = p->len - p->at;
  int plain = 1;
  while (n < avail && is_number_byte(s[n])) {
    if (!(s[n] >= '0' && s[n] <= '9') && !(n == 0 && s[n] == '-')) plain = 0;
    n++;
  }
  size_t digits = n - (s[0] == '-');
  double d;
  size_t used;
  /* Printed as written: a whole number of 1 to 15 digits without a leading zero. */
  p->uncanonical += !(plain && digits >= 1 && digits <= 15 && (digits == 1 || s[n - digits] != '0'));
  if (plain && digits >= 1 && digits <= 15) {
    int64_t v = 0;
    for (size_t i = n - digits; i < n; i++) v = v * 10 + (s[i] - '0');
    d = s[0] == '-' ? -(double)v : (double)v;
    used = n;
  } else {
    char small[64], *text = n < sizeof(small) ? small : malloc(n + 1);
    if (!text) return 0;
    memcpy(text, s, n);
    text[n] = '\0';
    char *after = NULL;
    d = strtod(text, &after);
    used = (size_t)(after - text);
    if (text != small) free(text);
    if (used == 0) return 0;
  }
  item->valuedouble = d;
  item->valueint = d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
  item->type = cJSON_Number;
  p->at += used;
  return 1;
}

/* Records `node`, an object parsed from `from` to the position with nothing that prints
** otherwise (from == position: something does), and its text unless a raw control character
** lies in one of its strings (printed as an escape; anywhere else such a byte is white space,
** counted already). Every such object gets an entry, with or without text, so that the
** entries follow the objects one to one and a look-up in order never searches far. 0 when out
** of memory. */
static int record_span(parser *p, const cJSON *node, size_t from) {
  /* Eight bytes at a time: a byte below 32 sets its top bit in (x - 0x20..) & ~x. */
  size_t i = from;
  int exact = from < p->at;
  for (; exact && i + 8 <= p->at; i += 8) {
    uint64_t x;
    memcpy(&x, p->s + i, 8);
    if ((x - 0x2020202020202020ull) & ~x & 0x8080808080808080ull) exact = 0;
  }
  for (; exact && i < p->at; i++)
    if (p->s[i] < 32) exact = 0;
  sloop_json_spans *sp = p->spans;
  if (sp->n == sp->cap) {
    size_t cap = sp->cap ? sp->cap * 2 : 64;
    sloop_json_span *grown = realloc(sp->span, cap * sizeof(*grown));
    if (!grown) return 0;
    sp->span = grown;
    sp->cap = cap;
  }
  sp->span[sp->n++] = exact ? (sloop_json_span){node, (const char *)p->s + from, p->at - from}
                            : (sloop_json_span){node, NULL, 0};
  return 1;
}

/* The members of an array (close ']') or object (close '}'): the position is on the opener. */
static int members(parser *p, cJSON *item, unsigned char close) {
  if (p->depth >= CJSON_NESTING_LIMIT) return 0;
  p->depth++;
  cJSON *head = NULL, *last = NULL;
  p->at++;
  skip_space(p);
  if (p->at < p->len && p->s[p->at] == close) goto done;
  if (p->at >= p->len) return 0;
  p->at--;
  do {
    cJSON *node = new_node();
    if (!node) goto fail;
    if (!head) head = node;
    else last->next = node, node->prev = last;
    last = node;
    if (close == '}') {
      if (p->at + 1 >= p->len) goto fail; /* nothing after the comma */
      p->at++;
      skip_space(p);
      char *name = NULL;
      if (!string(p, &name)) goto fail;
      node->string = name;
      skip_space(p);
      if (p->at >= p->len || p->s[p->at] != ':') goto fail;
    }
    p->at++;
    skip_space(p);
    size_t from = p->at;
    unsigned long before = p->uncanonical;
    if (!value(p, node)) goto fail;
    if (p->spans && close == '}' && node->type == cJSON_Object &&
        (!p->spans->member || strcmp(node->string, p->spans->member) == 0) &&
        !record_span(p, node, p->uncanonical == before ? from : p->at))
      goto fail;
    skip_space(p);
  } while (p->at < p->len && p->s[p->at] == ',');
  if (p->at >= p->len || p->s[p->at] != close) goto fail;
done:
  p->depth--;
  if (head) head->prev = last;
  item->type = close == '}' ? cJSON_Object : cJSON_Array;
  item->child = head;
  p->at++;
  return 1;
fail:
  cJSON_Delete(head);
  return 0;
}

static int literal(parser *p, const char *word, size_t n) {
  return p->len - p->at >= n && memcmp(p->s + p->at, word, n) == 0 ? (p->at += n, 1) : 0;
}

static int value(parser *p, cJSON *item) {
  if (p->at >= p->len) return 0;
  switch (p->s[p->at]) {
    case 'n':
      return literal(p, "null", 4) ? (item->type = cJSON_NULL, 1) : 0;
    case 'f':
      return literal(p, "false", 5) ? (item->type = cJSON_False, 1) : 0;
    case 't':
      return literal(p, "true", 4) ? (item->type = cJSON_True, item->valueint = 1, 1) : 0;
    case '"': {
      char *text = NULL;
      if (!string(p, &text)) return 0;
      item->type = cJSON_String;
      item->valuestring = text;
      return 1;
    }
    case '[':
      return members(p, item, ']');
    case '{':
      return members(p, item, '}');
    default:
      return p->s[p->at] == '-' || (p->s[p->at] >= '0' && p->s[p->at] <= '9') ? number(p, item) : 0;
  }
}

static cJSON *parse(const char *text, size_t len, sloop_json_spans *spans) {
  if (!text || len == 0) return NULL;
  parser p = {(const unsigned char *)text, len, 0, 0, spans, 0};
  if (len > 4 && memcmp(text, "\xef\xbb\xbf", 3) == 0) p.at = 3;
  cJSON *item = new_node();
  if (!item) return NULL;
  skip_space(&p);
  if (!value(&p, item)) {
    cJSON_Delete(item);
    return NULL;
  }
  return item;
}

cJSON *sloop_json_parse_text(const char *text) {
  /* cJSON_Parse's length counts the terminator, which is white space to it. */
  return text ? sloop_json_parse(text, strlen(text) + 1) : NULL;
}

cJSON *sloop_json_parse(const char *text, size_t len) { return parse(text, len, NULL); }

cJSON *sloop_json_parse_spans(const char *text, size_t len, sloop_json_spans *spans) {
  spans->n = spans->next = 0;
  cJSON *tree = parse(text, len, spans);
  if (!tree) spans->n = 0;
  return tree;
}

const char *sloop_json_span_of(sloop_json_spans *spans, const cJSON *node, size_t *len) {
  if (!spans || !node) return NULL;
  for (size_t k = 0; k < spans->n; k++) {
    size_t i = (spans->next + k) % spans->n; /* in order of the text, as callers walk it */
    if (spans->span[i].node == node) {
      spans->next = i + 1;
      *len = spans->span[i].len;
      return spans->span[i].text; /* NULL: printed otherwise than written */
    }
  }
  return NULL;
}

void sloop_json_spans_free(sloop_json_spans *spans) {
  free(spans->span);
  spans->span = NULL;
  spans->n = spans->cap = spans->next = 0;
}
