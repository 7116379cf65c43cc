/*
** wire.h -- the compact form of a change's merge state in protocol v2 (docs/PROTOCOL.md,
** "Changes on the wire"). Pure functions: no SQL, no database.
**
** A v2 change carries its merge state as base64 of the binary encoding of state_codec.h,
** with differences from the stored blob that make it stand on its own between databases and
** leave out what the change's "doc" says: node indexes refer to the answer's "nodes" list (16
** hex digits each, sent once per answer, in the order the server first met them), not to
** either database's `nodes` table; register values equal to the doc's member are left out
** ("v in doc", as in the records table); and a field the doc has is named by its index among
** the doc's member names in sorted order (SC_NAMES_FROM_DOC), not spelled out. The client
** decodes the blob against that list and the change's doc into the state (cJSON) and stores
** it with its own interning: one decode, no JSON text of the state; or, for a record nothing
** local depends on, re-encodes the blob for its table without the cJSON (pull_plain.c). The
** server writes it from the stored blob the same way (sloop_state_transcode).
**
** Everything from the server is checked: the list (an array of distinct 16-hex-digit strings,
** at most SLOOP_WIRE_MAX_NODES), the base64 (canonical: standard alphabet, padded, no stray
** bits), and the blob (every check of sloop_state_decode, an index beyond the list included).
*/
#ifndef SLOOP_WIRE_H
#define SLOOP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "cJSON.h"
#include "state_codec.h"

/* The protocol versions: 1 sends the state as JSON, 2 in the compact form. */
#define SLOOP_WIRE_V1 1
#define SLOOP_WIRE_V2 2
/* More nodes than a page of 1,000 changes can name (a record names at most a few hundred). */
#define SLOOP_WIRE_MAX_NODES 100000

/* An answer's node list: index -> node. Zero-initialize; free with sloop_wire_nodes_free. */
typedef struct sloop_wire_nodes {
  uint64_t *node;
  size_t count, cap;
  size_t last; /* the index found last: consecutive stamps are mostly of one node */
} sloop_wire_nodes;

void sloop_wire_nodes_free(sloop_wire_nodes *w);

/* The list as the answer's "nodes" member: a new JSON array of 16-hex-digit strings, or NULL
** (out of memory). */
cJSON *sloop_wire_nodes_json(const sloop_wire_nodes *w);

/* Reads an answer's "nodes" member into *w (zero-initialized by the caller, freed with
** sloop_wire_nodes_free even on failure). SLOOP_INVALID with a message in msg[200] for
** anything but an array of distinct 16-hex-digit strings within SLOOP_WIRE_MAX_NODES. */
int sloop_wire_nodes_parse(const cJSON *nodes, sloop_wire_nodes *w, char *msg);

/* Encodes `state` (its values left out where `doc`, the document sent with it, shows them;
** doc NULL for a tombstone) as a new NUL-terminated base64 string (*out, malloc'd), adding
** the nodes it names to *w. Refuses (SLOOP_INVALID, msg[200]) what sloop_state_encode does.
** Costs one linear search of the list per node reference not equal to the previous one:
** O(stamps x nodes) a page, small for the tens of devices a tenant's page names. */
int sloop_wire_state_encode(const cJSON *state, const cJSON *doc, sloop_wire_nodes *w, char **out, char *msg);

/* The same text as sloop_wire_state_encode of the state a stored blob decodes to (`blob`,
** `len` bytes, its node indexes those of `stored`, written with `doc`, NULL for none),
** without the cJSON state in between (sloop_state_transcode). SLOOP_CORRUPT with a message
** in msg[200] for a blob that does not decode. */
int sloop_wire_state_transcode(const uint8_t *blob, size_t len, const sloop_nodes *stored, const cJSON *doc,
                               sloop_wire_nodes *w, char **out, char *msg);

/* Decodes a change's base64 state (`len` bytes at `b64`) against the answer's node list and
** the change's `doc` (NULL for none) into a new cJSON state (*out). SLOOP_INVALID with a
** message in msg[200] and *out NULL for bad base64 or a blob that does not decode. */
int sloop_wire_state_decode(const char *b64, size_t len, const cJSON *doc, const sloop_wire_nodes *w, cJSON **out,
                            char *msg);

/* Base64 (RFC 4648, standard alphabet, padded). The encoder returns a new NUL-terminated
** string (NULL: out of memory); the decoder accepts only what the encoder makes (length a
** multiple of 4, padding only at the end, unused bits zero) into a new buffer, else returns
** SLOOP_INVALID. */
char *sloop_base64_encode(const uint8_t *in, size_t n, size_t *out_len);
int sloop_base64_decode(const char *in, size_t n, uint8_t **out, size_t *out_len);

#endif /* SLOOP_WIRE_H */
