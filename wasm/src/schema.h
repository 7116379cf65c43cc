/*
** schema.h -- collections and their per-field conflict policies, and name validation.
**
** A schema is JSON (the whole language: docs/SCHEMA.md):
**   {"collections": {"notes": {"fields": {"title": "lww", "tags": "set", "votes": "counter",
**     "status": "manual", "createdBy": "fww", "layout": "custom",
**     "findings": "text", "steps": "list"},
**     "search": ["title", "body"], "indexes": ["status"]},
**    "scratch": {"strict": false, "default": "lww"}},
**    "maxDriftMs": 3600000, "driftPolicy": "clamp"}
** A collection is strict unless it says "strict": false: a field it does not list is refused
** with SLOOP_SCHEMA. A loose collection gives unlisted fields its "default" policy. A schema
** must name its collections; "open": true accepts collections it does not list, free-form and
** last-writer-wins. Unknown keys are refused, so a misspelt key is an error, not a no-op.
*/
#ifndef SLOOP_SCHEMA_H
#define SLOOP_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "cJSON.h"

typedef enum {
  SLOOP_POLICY_LWW = 0,
  SLOOP_POLICY_FWW,
  SLOOP_POLICY_COUNTER,
  SLOOP_POLICY_SET,
  SLOOP_POLICY_MANUAL,
  SLOOP_POLICY_CUSTOM,
  SLOOP_POLICY_TEXT, /* a string many devices edit at once (merge_seq.h) */
  SLOOP_POLICY_LIST  /* an ordered list of values: insert, remove, move (merge_seq.h) */
} sloop_policy;

typedef enum { SLOOP_DRIFT_CLAMP = 0, SLOOP_DRIFT_REJECT = 1 } sloop_drift_policy;

#define SLOOP_NAME_MAX 64
#define SLOOP_ID_MAX 128

typedef struct sloop_coll_schema {
  char name[SLOOP_NAME_MAX + 1];
  const cJSON *fields;      /* {"field": "policy"}; borrowed from the schema's tree */
  sloop_policy default_policy;
  const cJSON *search;      /* array of field names, or NULL for every string */
  const cJSON *indexes;     /* array of field names, or NULL */
  int strict;               /* refuses fields not listed; "strict": false turns it off */
} sloop_coll_schema;

typedef struct sloop_schema {
  cJSON *json;              /* owned */
  sloop_coll_schema *colls;
  int ncolls;
  int open;                 /* collections not listed are accepted, free-form, all LWW */
  sloop_coll_schema open_coll;  /* the template used for those */
  int64_t max_drift_ms;
  sloop_drift_policy drift_policy;
} sloop_schema;

/* Parses and validates schema JSON into *out (fields zeroed first) under the rules of
** docs/SCHEMA.md. On failure returns SLOOP_JSON or SLOOP_SCHEMA with a message in msg (200
** bytes). No JSON at all (len 0) is the state of a database no schema was ever set on: open.
** Free with sloop_schema_clear. */
int sloop_schema_parse(const char *json, size_t len, sloop_schema *out, char *msg);

/* The same for a schema stored before these rules (the database has no "schema_rules" mark):
** it keeps the meaning it was accepted with, so the database still opens. No "collections"
** means open, a collection without "strict" is loose, and unknown keys are ignored. */
int sloop_schema_parse_legacy(const char *json, size_t len, sloop_schema *out, char *msg);
void sloop_schema_clear(sloop_schema *s);

/* The collection's schema, or NULL when the collection is unknown. For a collection an open
** schema does not list, the returned template's name is empty. */
const sloop_coll_schema *sloop_schema_coll(const sloop_schema *s, const char *coll);

sloop_policy sloop_field_policy(const sloop_coll_schema *cs, const char *field);
const char *sloop_policy_name(sloop_policy p);

/* Identifier rules of the protocol: names are [A-Za-z_][A-Za-z0-9_]{0,63}; reserved_ok says
** whether a leading '_' is allowed. Record ids are 1..128 bytes of valid UTF-8 without control
** characters. */
int sloop_valid_name(const char *s, size_t len, int reserved_ok);
int sloop_valid_id(const char *s, size_t len);
int sloop_valid_utf8(const char *s, size_t len);

#endif /* SLOOP_SCHEMA_H */
