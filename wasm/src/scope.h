/*
** scope.h -- the recency window of a pull scope (docs/PROTOCOL.md, "Scopes"), shared by both
** modules: the server serves only records inside it, the client evicts what ages out of it
** (scope_client.c) and counts only what is inside it when it checks a resync's scope hash.
**
** A window is "records whose field F is within the last N days". On the wire a window has a
** field and either `days` (the server cuts off by its own clock) or `since` (ms since the
** epoch: the caller's cut-off, which the client core sends so that what it pulls and what it
** evicts follow one clock, its own). `recent` is one window for every collection of the scope,
** {"field": "updatedAt", "days": 30}, or one per collection, {"messages": {"field": ..., ...}};
** a collection without one has no window.
**
** A field's value is a time when it is a number (ms since the epoch) or an ISO 8601 string
** ("2026-12-06", "2026-12-06T08:46:49.123Z", "...+02:00"; no zone: UTC). Other ISO 8601 forms
** ("+0200", "+00", "2026-12-06Z", week and ordinal dates) are not times here, on either side.
** A record whose field is missing or not a time is outside the window: "within the last N
** days" cannot hold of it.
*/
#ifndef SLOOP_SCOPE_H
#define SLOOP_SCOPE_H

#include "internal.h"

#define SLOOP_DAY_MS 86400000.0
/* The widest window: a thousand years. */
#define SLOOP_WINDOW_DAYS_MAX 365000.0

/* The time an ISO 8601 text names, in ms since the epoch; 0 if it is no such text. */
int sloop_iso_ms(const char *s, size_t len, int64_t *ms);

/* The time a JSON value names (a number of ms, or an ISO text); 0 if none. */
int sloop_time_of(const cJSON *v, int64_t *ms);

/* The time a SQLite column names, as json_extract returns a field (INTEGER, REAL or TEXT). */
int sloop_time_of_column(sqlite3_stmt *st, int col, int64_t *ms);

/* The cut-off of a window of `days` at time `now`: now - days, rounded down to a step of a
** thousandth of the window (1 s to 1 min). Rounded so that two requests a moment apart are the
** same request (a page read ahead is used only when it is: client/pull-loop.js), and so that
** the client's evictions and the server's window fall on the same instants. */
int64_t sloop_window_cutoff(double days, int64_t now);

/* How late an eviction may come after its record left the window: the cut-off's step. */
int64_t sloop_window_step(double days);

/* Whether `recent` is a valid window spec. `client` takes only `days` (the form an app
** gives; the core turns it into `since`). On failure, a message in msg[size]. */
int sloop_recent_valid(const cJSON *recent, int client, char *msg, size_t size);

/* The window of collection `coll` in a valid `recent` (NULL: none): *field, and *since, the
** cut-off (from `since`, or from `days` at time `now`); *days is the window's length in days
** when it was given in days, else 0. Returns 0 when the collection has no window. */
int sloop_window_of(const cJSON *recent, const char *coll, int64_t now, const char **field, int64_t *since,
                    double *days);

/* Whether document `doc` (an object) has `field` at or after `since`. */
int sloop_window_holds(const cJSON *doc, const char *field, int64_t since);

#endif /* SLOOP_SCOPE_H */
