/*
** schema.c -- parsing the schema and validating identifiers (see schema.h).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "schema.h"
#include "sloop.h"

static const char *const kPolicyNames[] = {"lww", "fww", "counter", "set", "manual", "custom", "text", "list"};

const char *sloop_policy_name(sloop_policy p) {
  return (unsigned)p < sizeof(kPolicyNames) / sizeof(kPolicyNames[0]) ? kPolicyNames[p] : "?";
}

static int policy_from_name(const char *s, sloop_policy *out) {
  for (size_t i = 0; i < sizeof(kPolicyNames) / sizeof(kPolicyNames[0]); i++) {
    if (strcmp(s, kPolicyNames[i]) == 0) {
      *out = (sloop_policy)i;
      return 1;
    }
  }
  return 0;
}

int sloop_valid_name(const char *s, size_t len, int reserved_ok) {
  if (!s || len == 0 || len > SLOOP_NAME_MAX) return 0;
  if (s[0] == '_' && !reserved_ok) return 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
             (i > 0 && c >= '0' && c <= '9');
    if (!ok) return 0;
  }
  return 1;
}

int sloop_valid_utf8(const char *str, size_t len) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < len) {
    /* Eight ASCII bytes at a time: requests, pages and documents are mostly ASCII, and byte by
    ** byte this check was 3% of a server's push apply. */
    uint64_t word;
    if (i + 8 <= len && (memcpy(&word, s + i, 8), (word & 0x8080808080808080ull) == 0)) {
      i += 8;
      continue;
    }
    unsigned c = s[i];
    size_t n;
    unsigned min;
    if (c < 0x80) { i++; continue; }
    if ((c & 0xe0) == 0xc0) { n = 1; min = 0x80; c &= 0x1f; }
    else if ((c & 0xf0) == 0xe0) { n = 2; min = 0x800; c &= 0x0f; }
    else if ((c & 0xf8) == 0xf0) { n = 3; min = 0x10000; c &= 0x07; }
    else return 0;
    for (size_t k = 1; k <= n; k++) {
      if (i + k >= len || (s[i + k] & 0xc0) != 0x80) return 0;
      c = (c << 6) | (s[i + k] & 0x3f);
    }
    /* Overlong forms, UTF-16 surrogates and values past U+10FFFF are not UTF-8. */
    if (c < min || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff) return 0;
    i += n + 1;
  }
  return 1;
}

int sloop_valid_id(const char *s, size_t len) {
  if (!s || len == 0 || len > SLOOP_ID_MAX) return 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f) return 0;
  }
  return sloop_valid_utf8(s, len);
}

static int fail(char *msg, int rc, const char *text, const char *name) {
  snprintf(msg, 200, text, name ? name : "");
  return rc;
}

/* Checks that `arr` is NULL or an array of valid field names. */
static int check_name_list(const cJSON *arr, const char *what, char *msg) {
  if (!arr) return SLOOP_OK;
  if (!cJSON_IsArray(arr)) return fail(msg, SLOOP_SCHEMA, "%s must be an array of field names", what);
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    if (!cJSON_IsString(it) || !sloop_valid_name(it->valuestring, strlen(it->valuestring), 0))
      return fail(msg, SLOOP_SCHEMA, "%s holds an invalid field name", what);
  }
  return SLOOP_OK;
}

/* Refuses a key outside `allowed` (NULL-terminated): a misspelt "strcit" or "indexs" would
** otherwise be silently ignored and the schema would mean something else than it says. */
static int check_keys(const cJSON *obj, const char *const *allowed, const char *where, char *msg) {
  const cJSON *it;
  cJSON_ArrayForEach(it, obj) {
    int known = 0;
    for (const char *const *a = allowed; *a && !known; a++) known = strcmp(it->string, *a) == 0;
    if (!known) {
      snprintf(msg, 200, "%s: unknown key '%.64s'", where, it->string);
      return SLOOP_SCHEMA;
    }
  }
  return SLOOP_OK;
}

/* Under today's rules a strict collection only searches and indexes fields it lists. */
static int check_listed(const cJSON *arr, const sloop_coll_schema *cs, const char *what, char *msg) {
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    if (!sloop_member(cs->fields, it->valuestring)) {
      snprintf(msg, 200, "collection '%.64s': %s names '%.64s', which is not in its fields", cs->name, what,
               it->valuestring);
      return SLOOP_SCHEMA;
    }
  }
  return SLOOP_OK;
}

static const char *const kCollKeys[] = {"fields", "default", "strict", "search", "indexes", NULL};
static const char *const kSchemaKeys[] = {"collections", "open", "maxDriftMs", "driftPolicy", NULL};

static int parse_coll(const cJSON *def, sloop_coll_schema *cs, int legacy, char *msg) {
  if (!sloop_valid_name(def->string, strlen(def->string), 0))
    return fail(msg, SLOOP_SCHEMA, "invalid collection name '%.64s'", def->string);
  if (!cJSON_IsObject(def)) return fail(msg, SLOOP_SCHEMA, "collection '%.64s' must be an object", def->string);
  snprintf(cs->name, sizeof(cs->name), "%s", def->string);
  char where[80];
  snprintf(where, sizeof(where), "collection '%.64s'", def->string);
  if (!legacy && check_keys(def, kCollKeys, where, msg)) return SLOOP_SCHEMA;
  cs->default_policy = SLOOP_POLICY_LWW;
  const cJSON *dflt = sloop_member(def, "default");
  if (dflt && (!cJSON_IsString(dflt) || !policy_from_name(dflt->valuestring, &cs->default_policy)))
    return fail(msg, SLOOP_SCHEMA, "collection '%.64s': unknown default policy", def->string);
  cs->fields = sloop_member(def, "fields");
  if (cs->fields && !cJSON_IsObject(cs->fields))
    return fail(msg, SLOOP_SCHEMA, "collection '%.64s': fields must be an object", def->string);
  const cJSON *f;
  cJSON_ArrayForEach(f, cs->fields) {
    sloop_policy p;
    if (!sloop_valid_name(f->string, strlen(f->string), 0))
      return fail(msg, SLOOP_SCHEMA, "invalid field name '%.64s'", f->string);
    if (!cJSON_IsString(f) || !policy_from_name(f->valuestring, &p))
      return fail(msg, SLOOP_SCHEMA, "field '%.64s': policy must be lww, fww, counter, set, manual, custom, text or list", f->string);
    /* The policy, parsed once, kept in the string node's unused number slot for
    ** sloop_field_policy: every write, merge and materialize asks it for each field, and
    ** comparing the policy's name each time was 2% of a put. */
    ((cJSON *)f)->valueint = (int)p + 1;
  }
  const cJSON *strict = sloop_member(def, "strict");
  if (legacy) {
    cs->strict = cJSON_IsTrue(strict);
  } else {
    if (strict && !cJSON_IsBool(strict))
      return fail(msg, SLOOP_SCHEMA, "collection '%.64s': strict must be true or false", def->string);
    cs->strict = !cJSON_IsFalse(strict);
    /* The default policy is for fields not listed, which a strict collection refuses: saying
    ** one there is a mistake (the author meant a loose collection), not a preference. */
    if (cs->strict && dflt)
      return fail(msg, SLOOP_SCHEMA,
                  "collection '%.64s': \"default\" is for fields not listed; add \"strict\": false to accept them",
                  def->string);
  }
  cs->search = sloop_member(def, "search");
  cs->indexes = sloop_member(def, "indexes");
  int rc = check_name_list(cs->search, "search", msg);
  if (!rc) rc = check_name_list(cs->indexes, "indexes", msg);
  if (!rc && !legacy && cs->strict) rc = check_listed(cs->search, cs, "search", msg);
  if (!rc && !legacy && cs->strict) rc = check_listed(cs->indexes, cs, "indexes", msg);
  return rc;
}

static int parse(const char *json, size_t len, int legacy, sloop_schema *out, char *msg) {
  memset(out, 0, sizeof(*out));
  out->max_drift_ms = 60LL * 60 * 1000;
  out->open = 1;
  out->open_coll.default_policy = SLOOP_POLICY_LWW;
  if (!json || len == 0) return SLOOP_OK;
  out->json = sloop_json_parse(json, len);
  if (!out->json) return fail(msg, SLOOP_JSON, "schema is not valid JSON%s", NULL);
  int rc = SLOOP_OK;
  if (!cJSON_IsObject(out->json)) {
    rc = fail(msg, SLOOP_SCHEMA, "schema must be an object%s", NULL);
    goto fail;
  }
  if (!legacy && (rc = check_keys(out->json, kSchemaKeys, "schema", msg))) goto fail;
  const cJSON *drift = sloop_member(out->json, "maxDriftMs");
  if (drift) {
    if (!cJSON_IsNumber(drift) || drift->valuedouble < 0 || drift->valuedouble > 1e12) {
      rc = fail(msg, SLOOP_SCHEMA, "maxDriftMs must be a non-negative number%s", NULL);
      goto fail;
    }
    out->max_drift_ms = (int64_t)drift->valuedouble;
  }
  const cJSON *dp = sloop_member(out->json, "driftPolicy");
  if (dp) {
    if (cJSON_IsString(dp) && strcmp(dp->valuestring, "reject") == 0) out->drift_policy = SLOOP_DRIFT_REJECT;
    else if (!cJSON_IsString(dp) || strcmp(dp->valuestring, "clamp") != 0) {
      rc = fail(msg, SLOOP_SCHEMA, "driftPolicy must be \"clamp\" or \"reject\"%s", NULL);
      goto fail;
    }
  }
  const cJSON *open = sloop_member(out->json, "open");
  if (open && !cJSON_IsBool(open)) {
    rc = fail(msg, SLOOP_SCHEMA, "open must be true or false%s", NULL);
    goto fail;
  }
  const cJSON *colls = sloop_member(out->json, "collections");
  /* Before these rules a schema without collections was open; it keeps that meaning. */
  out->open = legacy ? !colls || cJSON_IsTrue(open) : cJSON_IsTrue(open);
  if (!colls) {
    if (out->open) return SLOOP_OK;
    rc = fail(msg, SLOOP_SCHEMA,
              "schema has no \"collections\"; list them, or say \"open\": true to accept any collection%s", NULL);
    goto fail;
  }
  if (!cJSON_IsObject(colls)) {
    rc = fail(msg, SLOOP_SCHEMA, "collections must be an object%s", NULL);
    goto fail;
  }
  out->ncolls = cJSON_GetArraySize(colls);
  out->colls = calloc((size_t)out->ncolls + 1, sizeof(*out->colls));
  if (!out->colls) {
    rc = SLOOP_NOMEM;
    goto fail;
  }
  int i = 0;
  const cJSON *def;
  cJSON_ArrayForEach(def, colls) {
    rc = parse_coll(def, &out->colls[i++], legacy, msg);
    if (rc) goto fail;
  }
  return SLOOP_OK;
fail:
  sloop_schema_clear(out);
  return rc;
}

int sloop_schema_parse(const char *json, size_t len, sloop_schema *out, char *msg) {
  return parse(json, len, 0, out, msg);
}

int sloop_schema_parse_legacy(const char *json, size_t len, sloop_schema *out, char *msg) {
  return parse(json, len, 1, out, msg);
}

void sloop_schema_clear(sloop_schema *s) {
  cJSON_Delete(s->json);
  free(s->colls);
  memset(s, 0, sizeof(*s));
}

const sloop_coll_schema *sloop_schema_coll(const sloop_schema *s, const char *coll) {
  for (int i = 0; i < s->ncolls; i++)
    if (strcmp(s->colls[i].name, coll) == 0) return &s->colls[i];
  return s->open ? &s->open_coll : NULL;
}

sloop_policy sloop_field_policy(const sloop_coll_schema *cs, const char *field) {
  const cJSON *f = cs->fields ? sloop_member(cs->fields, field) : NULL;
  return f && f->valueint > 0 ? (sloop_policy)(f->valueint - 1) : cs->default_policy; /* parse_coll */
}
