/*
 * hello.h — the handshake's payloads as they arrive: a worker's HELLO, read
 * by the host, and the peer's WELCOME (or, on a server, HELLO), read for
 * its `max_frame`. Pure code, no I/O, bounded: these bytes come from
 * another process, so tests/fuzz/ feeds them anything.
 *
 * The payload is lines of "key=value\n" (proto.h, ward__kv_next).
 */
#ifndef WARD_HELLO_H
#define WARD_HELLO_H

#include <stddef.h>
#include <stdint.h>

#include "host_int.h"

/* Bounds on what a HELLO may announce: the host parses it on its loop. */
#define WARD__HELLO_MAX_BYTES (64u * 1024u)
#define WARD__HELLO_MAX_METHODS 1024
#define WARD__HELLO_MAX_META 256

/* What a worker's HELLO announces. */
typedef struct ward__hello {
  uint32_t max_frame;  /* the largest payload it accepts (WARD_MAX_FRAME_DEFAULT if unsaid) */
  const char *token;   /* points into the payload; token_len bytes; NULL if none */
  size_t token_len;
  char **methods;      /* NULL-terminated, owned (or NULL when none) */
  size_t nmethods;
  ward__meta *meta;    /* the "meta.KEY=VALUE" lines, KEY without "meta.", owned */
  size_t nmeta;
  int zerocopy;        /* it takes payloads in shared memory ("zerocopy=1") */
  int shm;             /* it offers the shared-memory transport ("shm=1") */
} ward__hello;

/* Parses the `n` bytes of a HELLO payload into *hl. Returns 0, WARD_EPROTO
 * (a malformed line, a bad max_frame, an empty, too long or NUL-holding
 * method, a NUL in metadata, or more than the bounds above), or
 * WARD_ENOMEM. Whatever it returns, free *hl with ward__hello_free. */
int ward__hello_parse(ward__hello *hl, const uint8_t *p, size_t n);
void ward__hello_free(ward__hello *hl);

/* Takes the peer's `max_frame` from the lines of its WELCOME (or HELLO):
 * sets *max to the last valid one (1..UINT32_MAX) and returns 1, or leaves
 * it and returns 0 when there is none. Malformed lines are skipped: the
 * peer's other lines are not this side's business. */
int ward__hello_max_frame(const uint8_t *p, size_t n, uint32_t *max);

/* Takes the host's zero-copy threshold from the lines of its WELCOME
 * ("zerocopy=N", N >= WARD__ZC_FLOOR): sets *min and returns 1, or 0 when
 * there is none (or none valid): then payloads all go through the socket. */
int ward__hello_zerocopy(const uint8_t *p, size_t n, uint32_t *min);
/* Takes the rings' size from a WELCOME's "shm=CAP" line (protocol.md
 * 16): sets *cap and returns 1, or returns 0 when there is none or it is
 * not a number (the worker then keeps the socket). */
int ward__hello_shm(const uint8_t *p, size_t n, uint32_t *cap);

#endif
