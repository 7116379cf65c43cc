/*
** constants.c -- sloop_constants(): the core's constants for JavaScript, in one JSON text.
**
** Written by the preprocessor from the tables the C code itself uses (SLOOP_ERRORS and
** SLOOP_STATES in sloop.h, the limits of schema.h and hlc.h, the commit record's size of
** sloop_vfs.h), so a code or a state added there
** reaches js/core.js without anyone copying a number. Each X-macro entry starts with its comma:
** the first member of each object is written out before the list ("unknown" is what
** sloop_errcode() names a code outside the table; "removed" is sloop_take_changes()' -1).
*/
#include "internal.h"

#include "hlc.h"
#include "schema.h"
#include "sloop_vfs.h"

#define SLOOP_STR_(x) #x
#define SLOOP_STR(x) SLOOP_STR_(x)
#define SLOOP_CODE_JSON_(name, code, id, msg) ",\"" id "\":" #code
#define SLOOP_STATE_JSON_(name, value, text) ",\"" text "\":" #value

static const char kConstants[] =
    "{\"codes\":{\"unknown\":-1" SLOOP_ERRORS(SLOOP_CODE_JSON_) "},"
    "\"states\":{\"removed\":-1" SLOOP_STATES(SLOOP_STATE_JSON_) "},"
    "\"limits\":{\"name\":" SLOOP_STR(SLOOP_NAME_MAX) ",\"id\":" SLOOP_STR(SLOOP_ID_MAX)
    ",\"clockBytes\":" SLOOP_STR(SLOOP_HLC_STRLEN)
    ",\"recordBytes\":" SLOOP_STR(SLOOP_VFS_RECORD_SIZE) "}}";

const char *sloop_constants(void) { return kConstants; }
