/*
** json_print.c -- sloop_print: a cJSON tree as compact JSON text, byte for byte what
** cJSON_PrintUnformatted gives, in one pass.
**
** Why not cJSON's own: it prints every number with sprintf("%1.15g") and reads it back with
** sscanf to check it, about 5,000 instructions a number, and a put prints its document and
** its operation (a tenth of a put's instructions went there: docs/DESIGN.md, "Printing").
** Whole numbers below 10^15, nearly all the numbers the core prints (counters, versions,
** sequence numbers), print the same digits through a table here; any other number takes
** cJSON's exact steps. Equality with cJSON's output is what stored documents rely on (a
** document's text is compared and sent as printed), so tests/fuzz/fuzz_json_print.c prints
** every input both ways and compares.
*/
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

typedef struct {
  char *s;
  size_t len, cap;
  int failed;
} out_buf;

static char *room(out_buf *b, size_t n) {
  if (b->failed) return NULL;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) return b->failed = 1, NULL;
    b->s = s;
    b->cap = cap;
  }
  return b->s + b->len;
}

static void put_n(out_buf *b, const char *s, size_t n) {
  char *p = room(b, n);
  if (!p) return;
  memcpy(p, s, n);
  b->len += n;
}

/* cJSON's check that "%1.15g" kept the value: equal within a relative DBL_EPSILON. */
static int close_enough(double a, double b) {
  double max = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
  return fabs(a - b) <= max * DBL_EPSILON;
}

static void put_number(out_buf *b, double d) {
  char digits[32];
  int n;
  if (isnan(d) || isinf(d)) {
    n = 4;
    memcpy(digits, "null", 4);
  } else if (d == floor(d) && fabs(d) < 1e15) {
    /* "%1.15g" of a whole number with at most 15 digits: its digits, no point, no exponent,
    ** and "-0" for negative zero. */
    unsigned long long v = (unsigned long long)fabs(d);
    char rev[20];
    int k = 0;
    do rev[k++] = (char)('0' + v % 10), v /= 10;
    while (v);
    n = 0;
    if (signbit(d)) digits[n++] = '-';
    while (k) digits[n++] = rev[--k];
  } else {
    n = snprintf(digits, sizeof(digits), "%1.15g", d);
    if (!close_enough(strtod(digits, NULL), d)) n = snprintf(digits, sizeof(digits), "%1.17g", d);
    if (n < 0 || n >= (int)sizeof(digits)) {
      b->failed = 1;
      return;
    }
  }
  put_n(b, digits, (size_t)n);
}

/* As cJSON escapes: the two-letter escapes, \u00xx for the other control characters, every
** other byte as it is (UTF-8 included). A NULL string prints as "". */
static void put_string(out_buf *b, const char *s) {
  static const char hex[] = "0123456789abcdef";
  if (!s) s = "";
  size_t run = 0, i = 0;
  put_n(b, "\"", 1);
  for (;; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c > 31 && c != '"' && c != '\\') continue;
    put_n(b, s + run, i - run);
    if (!c) break;
    char esc[6] = {'\\', 0, 0, 0, 0, 0};
    size_t len = 2;
    switch (c) {
      case '"': esc[1] = '"'; break;
      case '\\': esc[1] = '\\'; break;
      case '\b': esc[1] = 'b'; break;
      case '\f': esc[1] = 'f'; break;
      case '\n': esc[1] = 'n'; break;
      case '\r': esc[1] = 'r'; break;
      case '\t': esc[1] = 't'; break;
      default:
        memcpy(esc + 1, "u00", 3);
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        len = 6;
    }
    put_n(b, esc, len);
    run = i + 1;
  }
  put_n(b, "\"", 1);
}

static void put_value(out_buf *b, const cJSON *item) {
  if (!item) {
    b->failed = 1;
    return;
  }
  switch (item->type & 0xFF) {
    case cJSON_NULL: put_n(b, "null", 4); return;
    case cJSON_False: put_n(b, "false", 5); return;
    case cJSON_True: put_n(b, "true", 4); return;
    case cJSON_Number: put_number(b, item->valuedouble); return;
    case cJSON_Raw:
      if (!item->valuestring) b->failed = 1;
      else put_n(b, item->valuestring, strlen(item->valuestring));
      return;
    case cJSON_String: put_string(b, item->valuestring); return;
    case cJSON_Array:
    case cJSON_Object: {
      int object = (item->type & 0xFF) == cJSON_Object;
      put_n(b, object ? "{" : "[", 1);
      for (const cJSON *c = item->child; c && !b->failed; c = c->next) {
        if (object) {
          put_string(b, c->string);
          put_n(b, ":", 1);
        }
        put_value(b, c);
        if (c->next) put_n(b, ",", 1);
      }
      put_n(b, object ? "}" : "]", 1);
      return;
    }
    default: b->failed = 1; return;
  }
}

char *sloop_print(const cJSON *json, size_t *len) {
  out_buf b = {0};
  put_value(&b, json);
  if (!b.failed && !room(&b, 0)) b.failed = 1;
  if (b.failed) {
    free(b.s);
    return NULL;
  }
  b.s[b.len] = '\0';
  if (len) *len = b.len;
  return b.s;
}
