/*
 * proto.h — the wire codec: frame header, incremental decoder, handshake
 * and error payloads. Pure code: no I/O, no threads, no allocation beyond
 * one body buffer per frame, bounded by the receiver's maximum.
 *
 * Frame layout (all integers little-endian), see docs/protocol.md:
 *
 *   off size field
 *   0   1    magic   0x57 ('W')
 *   1   1    kind    WARD__K_*
 *   2   1    flags   bits 0-1 payload encoding, bit 2 payload in shared
 *                    memory (where agreed), bits 3-7 zero
 *   3   1    nlen    length of the name that starts the body (0..255)
 *   4   4    len     payload length (after the name), <= receiver's maximum
 *   8   4    id      call id (0 for notifications)
 *   12  4    aux     kind-specific: protocol version, error code, row
 *                    sequence, diagnostic level, goodbye reason
 *   16  nlen name    UTF-8, no NUL
 *   ..  len  payload
 */
#ifndef WARD_PROTO_H
#define WARD_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WARD__MAGIC 0x57u
#define WARD__HDR_SIZE 16u
#define WARD__FLAG_ENC_MASK 0x03u
/* The payload is in shared memory, passed with the frame (protocol.md
 * 3.5): only where both sides agreed to it at the handshake. */
#define WARD__FLAG_SHM 0x04u

enum {
  WARD__K_HELLO = 1,    /* worker -> host: first frame; aux = version; name = worker name */
  WARD__K_WELCOME = 2,  /* host -> worker: handshake accepted; aux = version */
  WARD__K_REQUEST = 3,  /* either way: id, name = method, aux = flow-control window */
  WARD__K_REPLY = 4,    /* answer to a request: id */
  WARD__K_ERROR = 5,    /* answer to a request: id, aux = code, payload = u32 mlen, msg, data */
  WARD__K_NOTIFY = 6,   /* either way: id 0, name = method */
  WARD__K_PROGRESS = 7, /* callee -> caller: id */
  WARD__K_ROW = 8,      /* callee -> caller: id, name = stream, aux = sequence */
  WARD__K_DIAG = 9,     /* callee -> caller: id, aux = level, name = code, payload = message */
  WARD__K_CANCEL = 10,  /* caller -> callee: id of the call to cancel */
  WARD__K_PING = 11,    /* either way: id */
  WARD__K_PONG = 12,    /* answer to a ping: the ping's id */
  WARD__K_GOODBYE = 13, /* either way: aux = reason, payload = UTF-8 text */
  WARD__K_CREDIT = 14,  /* caller -> callee: id, aux = row/progress bytes consumed */
  WARD__K_LOG = 15,     /* worker -> host, if the WELCOME says log=1: a log record
                           (slog.h); id = call or 0, aux = level */
  WARD__K_MAX = 15
};

/* Goodbye reasons (aux of GOODBYE). */
enum {
  WARD__BYE_NORMAL = 0,  /* orderly: stop serving and exit */
  WARD__BYE_VERSION = 1, /* handshake refused: unsupported protocol version */
  WARD__BYE_AUTH = 2,    /* handshake refused: bad or missing token */
  WARD__BYE_PROTO = 3,   /* the peer broke the protocol */
  WARD__BYE_BUSY = 4     /* connection refused: a server at its connection limit */
};

typedef struct ward__hdr {
  uint8_t kind;
  uint8_t flags;
  uint8_t nlen;
  uint32_t len;
  uint32_t id;
  uint32_t aux;
} ward__hdr;

/* The header's numbers are little-endian. Inline: the rows' fast paths
 * (conn.c, ctx.c) read and write one header per row. */
static inline void ward__put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t ward__get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Copies a small payload (a row). Rows are mostly tens of bytes: copies
 * of a fixed size become plain moves, where a memcpy of a length the
 * compiler knows only to be bounded may become a string instruction that
 * costs more than the row's other work together. Big ones go to memcpy. */
static inline void ward__copy_small(uint8_t *d, const uint8_t *s, size_t len) {
  if (len > 128) {
    memcpy(d, s, len);
    return;
  }
  for (; len >= 16; len -= 16, d += 16, s += 16)
    memcpy(d, s, 16);
  if (len >= 8) {
    memcpy(d, s, 8);
    memcpy(d + len - 8, s + len - 8, 8);
  } else {
    for (size_t i = 0; i < len; i++)
      d[i] = s[i];
  }
}

/* Writes the 16-byte header. */
void ward__hdr_put(uint8_t out[WARD__HDR_SIZE], const ward__hdr *h);
/* Reads and validates a header: magic, kind, reserved flag bits, payload
 * length against `max_len`. Returns 0, WARD_EPROTO or WARD_ETOOBIG. */
int ward__hdr_get(ward__hdr *h, const uint8_t in[WARD__HDR_SIZE], uint32_t max_len);

/* A decoded frame. `name` and `payload` point into the decoder's buffer or
 * into the bytes that were fed, valid until the next call on the decoder. */
struct ward__map;
typedef struct ward__frame {
  ward__hdr h;
  const char *name;       /* h.nlen bytes, not NUL-terminated */
  const uint8_t *payload; /* h.len bytes */
  /* A payload in shared memory (conn.c, zcopy.c): `payload` points into
   * it; whoever keeps the payload past the dispatch takes a reference.
   * NULL from the decoder. */
  struct ward__map *map;
} ward__frame;

/* Frame bodies: large ones come from, and go back to, a one-slot cache,
 * so that a program moving big messages back and forth does not map and
 * fault in fresh memory for each (see body.c). Free what the decoder
 * handed out with ward__body_free. */
void *ward__body_alloc(size_t n);
void ward__body_free(void *p);
/* Gives the cached big body back to the system; returns its size (0: none). */
size_t ward__body_trim(void);

/* Incremental decoder: frames can arrive split at any byte. */
typedef struct ward__dec {
  uint32_t max_len;  /* largest payload accepted */
  uint8_t hbuf[WARD__HDR_SIZE];
  size_t hgot;       /* header bytes collected */
  ward__hdr h;       /* valid once hgot == WARD__HDR_SIZE */
  uint8_t *body;     /* body being collected across feeds */
  size_t bgot;       /* body bytes collected */
  int err;           /* sticky error: once broken, stays broken */
  int ready;         /* a frame was returned from `body` and is still in use */
  int shm_ok;        /* WARD__FLAG_SHM is allowed (the connection agreed to it) */
} ward__dec;

void ward__dec_init(ward__dec *d, uint32_t max_len);
void ward__dec_free(ward__dec *d);

/* Consumes bytes from `p` (n of them) until one frame is complete or the
 * input ends. Returns 1 with *f set (and *used bytes consumed) when a frame
 * is complete, 0 when all input was consumed without completing one, or a
 * negative error (WARD_EPROTO, WARD_ETOOBIG, WARD_ENOMEM), after which the
 * decoder refuses everything. A frame wholly inside `p` is returned
 * without copying. */
int ward__dec_feed(ward__dec *d, const uint8_t *p, size_t n, size_t *used, ward__frame *f);

/* When the decoder is in the middle of a body, where the rest of it should
 * be written (so a large body can be read straight into place) and how many
 * bytes are missing; NULL when not inside a body. ward__dec_wrote() records
 * bytes written there. */
uint8_t *ward__dec_body_space(ward__dec *d, size_t *missing);
void ward__dec_wrote(ward__dec *d, size_t n);
/* With a frame just returned from a body buffer, takes ownership of that
 * buffer (it holds name then payload); NULL if the frame was not copied. */
uint8_t *ward__dec_take_body(ward__dec *d);
/* Whether the decoder is between frames (no part of one collected). */
static inline int ward__dec_idle(const ward__dec *d) { return d->hgot == 0 || d->ready; }

/* Encoded size of a frame. */
static inline size_t ward__frame_size(size_t nlen, size_t len) {
  return WARD__HDR_SIZE + nlen + len;
}

/* Encodes a whole frame into `out` (ward__frame_size bytes). */
void ward__frame_put(uint8_t *out, const ward__hdr *h, const char *name, const void *payload);

/* ERROR payload: u32 LE message length, message (UTF-8), then data. */
size_t ward__err_size(size_t mlen, size_t dlen);
void ward__err_put(uint8_t *out, const char *msg, size_t mlen, const void *data, size_t dlen);
/* Splits an ERROR payload. Returns 0 or WARD_EPROTO. */
int ward__err_get(const uint8_t *p, size_t n, const char **msg, size_t *mlen,
                  const uint8_t **data, size_t *dlen);

/* Handshake payloads (HELLO and WELCOME) are lines of "key=value\n";
 * keys repeat for lists (method=...). Values hold no '\n'. */
typedef struct ward__kv {
  const char *key;
  size_t klen;
  const char *val;
  size_t vlen;
} ward__kv;
/* Iterates lines: returns 1 with *kv set, 0 at the end, WARD_EPROTO for a
 * line without '=' or without its final '\n'. *pos starts at 0. */
int ward__kv_next(const uint8_t *p, size_t n, size_t *pos, ward__kv *kv);

/* The first `n` bytes of `s` (fewer at a NUL) as a new string, or NULL
 * without memory: strndup, which not every C library has. */
static inline char *ward__strndup(const char *s, size_t n) {
  size_t len = 0;
  while (len < n && s[len])
    len++;
  char *p = (char *)malloc(len + 1);
  if (p) {
    memcpy(p, s, len);
    p[len] = 0;
  }
  return p;
}

#endif
