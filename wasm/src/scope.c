/*
** scope.c -- the recency window of a pull scope (scope.h): times read from fields, the
** window's cut-off, and the window spec checked and looked up. Both modules: the server
** filters by it, the client evicts by it.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "scope.h"

/* ---------------------------------------------------------------- times -------------- */

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* Days from 1970-01-01 to year-month-day (Gregorian, years 1 to 9999). */
static int64_t epoch_days(int64_t y, int m, int d) {
  static const int before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
  int64_t prior = y - 1;
  int64_t days = 365 * prior + prior / 4 - prior / 100 + prior / 400; /* to January 1st of y */
  days += before[m - 1] + (m > 2 && is_leap(y)) + d - 1;
  return days - 719162; /* days from 0001-01-01 to 1970-01-01 */
}

/* Reads exactly n digits at s[*i]. */
static int digits(const char *s, size_t len, size_t *i, int n, int *out) {
  int v = 0;
  for (int k = 0; k < n; k++, (*i)++) {
    if (*i >= len || s[*i] < '0' || s[*i] > '9') return 0;
    v = v * 10 + (s[*i] - '0');
  }
  *out = v;
  return 1;
}

static int at(const char *s, size_t len, size_t i, char c) { return i < len && s[i] == c; }

/* The time of day and the zone after a date: "THH:MM[:SS[.fff]][Z|+HH:MM|-HH:MM]" (a space for
** the T too); *ms the time of day less the zone's offset. */
static int time_of_day(const char *s, size_t len, size_t i, int64_t *ms) {
  int h, mi, sec = 0, oh, om;
  int64_t frac = 0;
  if (!digits(s, len, &i, 2, &h) || !at(s, len, i++, ':') || !digits(s, len, &i, 2, &mi) || h > 23 || mi > 59) return 0;
  if (at(s, len, i, ':')) {
    i++;
    if (!digits(s, len, &i, 2, &sec) || sec > 59) return 0;
    if (at(s, len, i, '.')) {
      int n = 0;
      for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++)
        if (n < 3) frac = frac * 10 + (s[i] - '0');
      if (n == 0) return 0;
      for (; n < 3; n++) frac *= 10;
    }
  }
  *ms = ((int64_t)h * 3600 + mi * 60 + sec) * 1000 + frac;
  if (i == len) return 1;
  if (s[i] == 'Z' || s[i] == 'z') return i + 1 == len;
  if (s[i] != '+' && s[i] != '-') return 0;
  int sign = s[i++] == '-' ? -1 : 1;
  if (!digits(s, len, &i, 2, &oh) || !at(s, len, i++, ':') || !digits(s, len, &i, 2, &om) || oh > 23 || om > 59) return 0;
  *ms -= sign * ((int64_t)oh * 60 + om) * 60000;
  return i == len;
}

int sloop_iso_ms(const char *s, size_t len, int64_t *ms) {
  static const int month_days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  size_t i = 0;
  int y, m, d;
  if (!digits(s, len, &i, 4, &y) || !at(s, len, i++, '-') || !digits(s, len, &i, 2, &m) || !at(s, len, i++, '-') ||
      !digits(s, len, &i, 2, &d))
    return 0;
  if (y < 1 || m < 1 || m > 12 || d < 1 || d > month_days[m - 1] || (m == 2 && d == 29 && !is_leap(y))) return 0;
  int64_t day_ms = 0;
  if (i < len && !((s[i] == 'T' || s[i] == 't' || s[i] == ' ') && time_of_day(s, len, i + 1, &day_ms))) return 0;
  *ms = epoch_days(y, m, d) * 86400000 + day_ms;
  return 1;
}

/* Ms since the epoch as a number: finite and within what a double holds exactly. */
static int ms_number(double v, int64_t *ms) {
  if (!isfinite(v) || fabs(v) > 8.64e15) return 0;
  *ms = (int64_t)floor(v);
  return 1;
}

int sloop_time_of(const cJSON *v, int64_t *ms) {
  if (cJSON_IsNumber(v)) return ms_number(v->valuedouble, ms);
  if (cJSON_IsString(v)) return sloop_iso_ms(v->valuestring, strlen(v->valuestring), ms);
  return 0;
}

int sloop_time_of_column(sqlite3_stmt *st, int col, int64_t *ms) {
  switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER: return ms_number((double)sqlite3_column_int64(st, col), ms);
    case SQLITE_FLOAT: return ms_number(sqlite3_column_double(st, col), ms);
    case SQLITE_TEXT:
      return sloop_iso_ms((const char *)sqlite3_column_text(st, col), (size_t)sqlite3_column_bytes(st, col), ms);
    default: return 0;
  }
}

/* ---------------------------------------------------------------- the window --------- */

int64_t sloop_window_step(double days) {
  double step = days * SLOOP_DAY_MS / 1000;
  return step < 1000 ? 1000 : step > 60000 ? 60000 : (int64_t)step;
}

int64_t sloop_window_cutoff(double days, int64_t now) {
  int64_t step = sloop_window_step(days);
  int64_t cut = now - (int64_t)llround(days * SLOOP_DAY_MS);
  int64_t q = cut / step;
  if (cut % step < 0) q--; /* round down before 1970 too */
  return q * step;
}

/* One window: {"field": name, "days": n} or {"field": name, "since": ms}. */
static int window_valid(const cJSON *w, int client, char *msg, size_t size, const char *what) {
  const cJSON *field = sloop_member(w, "field"), *days = sloop_member(w, "days"), *since = sloop_member(w, "since");
  int64_t ms;
  if (!cJSON_IsObject(w) || cJSON_GetArraySize(w) != 2 || !cJSON_IsString(field) ||
      !sloop_valid_name(field->valuestring, strlen(field->valuestring), 0))
    return snprintf(msg, size, "%s must be {field, days}, field a field name", what), 0;
  if (days && !(cJSON_IsNumber(days) && days->valuedouble > 0 && days->valuedouble <= SLOOP_WINDOW_DAYS_MAX))
    return snprintf(msg, size, "%s.days must be a number of days above 0, at most %.0f", what, SLOOP_WINDOW_DAYS_MAX), 0;
  if (since && (client || !cJSON_IsNumber(since) || !ms_number(since->valuedouble, &ms)))
    return snprintf(msg, size, client ? "%s takes days, not since" : "%s.since must be ms since the epoch", what), 0;
  if (!days && !since) return snprintf(msg, size, "%s needs days", what), 0;
  return 1;
}

int sloop_recent_valid(const cJSON *recent, int client, char *msg, size_t size) {
  if (!cJSON_IsObject(recent)) return snprintf(msg, size, "scope.recent must be an object"), 0;
  if (cJSON_IsString(sloop_member(recent, "field"))) return window_valid(recent, client, msg, size, "scope.recent");
  const cJSON *c;
  cJSON_ArrayForEach(c, recent) {
    if (!sloop_valid_name(c->string, strlen(c->string), 0))
      return snprintf(msg, size, "scope.recent maps collection names to windows"), 0;
    if (!window_valid(c, client, msg, size, "a window of scope.recent")) return 0;
  }
  return 1;
}

int sloop_window_of(const cJSON *recent, const char *coll, int64_t now, const char **field, int64_t *since,
                    double *days) {
  if (!recent) return 0;
  const cJSON *w = cJSON_IsString(sloop_member(recent, "field")) ? recent : sloop_member(recent, coll);
  if (!w) return 0;
  const cJSON *d = sloop_member(w, "days"), *s = sloop_member(w, "since");
  *field = cJSON_GetStringValue(sloop_member(w, "field"));
  *days = cJSON_IsNumber(d) ? d->valuedouble : 0;
  if (cJSON_IsNumber(s)) ms_number(s->valuedouble, since);
  else *since = sloop_window_cutoff(*days, now);
  return *field != NULL;
}

int sloop_window_holds(const cJSON *doc, const char *field, int64_t since) {
  int64_t t;
  return sloop_time_of(sloop_member(doc, field), &t) && t >= since;
}
