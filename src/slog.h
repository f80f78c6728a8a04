/*
 * slog.h — structured log records on the wire (the LOG frame of
 * docs/protocol.md 8.4): their payload, the rules a record keeps, and the
 * decoder the host runs on what a worker sends. Pure code: no I/O, no
 * locks, no allocation.
 *
 * Payload (all integers little-endian u32):
 *
 *   mlen, message (mlen bytes)
 *   then for each field, until the payload ends:
 *   klen, key (klen bytes), vlen, value (vlen bytes)
 *
 * The frame's aux is the level (WARD_LEVEL_*), its id the call the record
 * belongs to (0: none).
 */
#ifndef WARD_SLOG_H
#define WARD_SLOG_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "ward.h"

typedef struct ward__recfield {
  const char *key;
  size_t klen;
  const char *val;
  size_t vlen;
} ward__recfield;

/* A record as decoded, pointing into the payload (or the sender's
 * strings). */
typedef struct ward__rec {
  int level;
  uint32_t call_id;
  const char *msg;
  size_t mlen;
  size_t nfields; /* how many the payload holds (only the first
                     WARD_LOG_FIELDS_MAX are in `f`) */
  ward__recfield f[WARD_LOG_FIELDS_MAX];
} ward__rec;

/* Size of the payload of `r`, and the payload itself (`out` holds that
 * many bytes). */
size_t ward__rec_size(const ward__rec *r);
void ward__rec_put(uint8_t *out, const ward__rec *r);

/* Splits a LOG frame's payload. Returns WARD_EPROTO when it is not made
 * of length-prefixed strings to its end (a length past the end, a key
 * without its value), else 0. The content rules are ward__rec_check's. */
int ward__rec_get(ward__rec *r, const ward__hdr *h, const uint8_t *p, size_t n);

/* NULL when `r` keeps the rules of a record (level 1..5, sizes, distinct
 * keys of [A-Za-z0-9_.-], UTF-8 without NUL), else a static phrase saying
 * which it breaks. */
const char *ward__rec_check(const ward__rec *r);

/* Whether `n` bytes at `s` are UTF-8 without a NUL byte. */
int ward__utf8_valid(const char *s, size_t n);

#endif
