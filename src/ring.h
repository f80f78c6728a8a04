/*
 * ring.h — a ring of frames in memory shared with another process, one
 * writer and one reader: the building block of the shared-memory
 * transport (one ring per direction, docs/protocol.md section 17).
 * Pure code: no system call, no lock; the wake-ups are the platform's.
 *
 * The other side is not trusted. Whatever it writes into the shared
 * memory (the header's counters, the records, at any moment), each side
 * reads only within its own ring, sees every record it accepts whole in a
 * private copy it made before looking at it, and answers WARD_EPROTO for a
 * ring that cannot be right, after which the connection is cut; it never
 * reads or writes out of bounds, loops forever, or trusts a length twice.
 *
 * Layout: a header of three cache lines (the writer's counter, the
 * reader's counter, the wake-up words), then `cap` bytes of records. The
 * counters count bytes ever written and ever read; a position in the data
 * is a counter modulo `cap` (a power of two). A record is an 8-byte head,
 * the payload's length and its complement, then the payload, padded to 8
 * bytes. A record never wraps: where the next one does not fit before the
 * end, the writer puts a skip head (length WARD__RING_SKIP, complement 0)
 * and goes on at the start.
 */
#ifndef WARD_RING_H
#define WARD_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define WARD__RING_SKIP UINT32_MAX
/* The smallest and the largest data area. */
#define WARD__RING_MIN_CAP 64u
#define WARD__RING_MAX_CAP (1u << 30)

typedef struct ward__ring_hdr {
  _Alignas(64) _Atomic uint64_t head; /* bytes ever written (the writer's) */
  _Alignas(64) _Atomic uint64_t tail; /* bytes ever read (the reader's) */
  _Alignas(64) _Atomic uint32_t seq;  /* bumped by the writer after each write
                                         while the reader sleeps (futex word) */
  _Atomic uint32_t sleeping;          /* the reader is about to wait on `seq` */
  _Atomic uint32_t room_seq;          /* bumped by the reader after a read while
                                         the writer waits for room (futex word) */
  _Atomic uint32_t room_waiting;      /* the writer waits for room */
  _Atomic uint32_t wakes;             /* wake-up bytes the writer's side has sent
                                         on the socket, either kind (a count
                                         that wraps; its reader drains the
                                         socket only when it moved) */
} ward__ring_hdr;

/* Reader: whether the writer has published bytes not yet read (a hint:
 * ward__ring_get judges them). Safe from any thread of the reader's side. */
int ward__ring_pending(const ward__ring_hdr *hdr);

/* One side's view of a ring. Everything in it is private: the shared
 * counters are read into `head`/`tail` and checked before use. */
typedef struct ward__ring {
  ward__ring_hdr *hdr;
  uint8_t *data;
  uint32_t cap;  /* of the data area, a power of two (never read back) */
  uint64_t head; /* the writer: what it wrote; the reader: what it last saw */
  uint64_t tail; /* the reader: what it read; the writer: what it last saw */
} ward__ring;

/* The bytes a ring with `cap` bytes of data takes (header included). */
size_t ward__ring_size(uint32_t cap);
/* Binds `r` to the ring at `mem` (ward__ring_size(cap) bytes, aligned to
 * 64); `fresh`: zeroes its header first (the side that made the memory).
 * WARD_EINVAL for a cap that is not a power of two in MIN..MAX. */
int ward__ring_open(ward__ring *r, void *mem, uint32_t cap, int fresh);

/* The largest payload a ring of `cap` bytes can carry. */
size_t ward__ring_max_payload(uint32_t cap);

/* Writer: appends one record made of `a` then `b` (either may be empty).
 * 0: written; 1: no room now (nothing written: try again once the reader
 * has read); WARD_ETOOBIG: it can never fit; WARD_EPROTO: the reader's
 * counter cannot be right. */
int ward__ring_put(ward__ring *r, const void *a, size_t alen, const void *b, size_t blen);

/* Reader: copies the next record's payload into `buf` (`cap` bytes) and
 * consumes it. 1 with *len set; 0: the ring is empty; WARD_ETOOBIG: the
 * next payload is larger than `cap` (*len says how large; nothing
 * consumed); WARD_EPROTO: the writer broke the ring. */
int ward__ring_get(ward__ring *r, void *buf, size_t cap, size_t *len);

#endif
