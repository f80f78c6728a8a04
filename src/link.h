/*
 * link.h — the shared-memory transport: one memory of two rings (ring.h),
 * one per direction, and the wake-ups between the two sides
 * (docs/protocol.md, section 17). Pure code; the memory, the futex and
 * the socket are the platform's.
 *
 * The rings carry the connection's byte stream, cut into records of at
 * most WARD__LINK_RECORD_MAX bytes: frames are decoded from the records'
 * payloads exactly as from what a socket reads, so a record may hold
 * several frames (a batch) or part of one. The socket stays, for the
 * handshake, the end of the peer (end of stream) and the wake-ups: a
 * reader about to sleep says so in its ring's `sleeping` word, re-checks
 * the ring and then sleeps: 1, in poll on the socket (a loop, or a reader
 * whose peer has been quiet), and a writer that sees it clears it and
 * sends one WARD__LINK_WAKE byte, counted in the `wakes` of the ring it
 * writes (a reader that no poll woke reads the socket only when that
 * count moved); 2, in a futex wait on `seq` (a reader
 * whose peer answered lately), and the writer bumps `seq` and wakes it.
 * A writer that waits for room does the same with `room_waiting`: 1, it
 * sleeps in its loop and wants a byte; 2, it blocks in a futex wait on
 * `room_seq`.
 */
#ifndef WARD_LINK_H
#define WARD_LINK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "platform.h"
#include "ring.h"

/* Each ring's data area, as the host makes it. */
#define WARD__LINK_CAP (256u * 1024u)
/* The most stream bytes one record carries (a reader's buffer). */
#define WARD__LINK_RECORD_MAX (64u * 1024u)
/* The flags of a ring's `sleeping` and `room_waiting` words: the sleeper
 * wants a byte on the socket, a futex wake, or (two sleepers) both. */
#define WARD__LINK_WANT_BYTE 1u
#define WARD__LINK_WANT_FUTEX 2u
/* The one byte the socket carries once the rings do. */
#define WARD__LINK_WAKE 0x57u
/* How long a reader spins for the peer before it sleeps, at most, in µs
 * (none with one CPU: the peer could not run meanwhile). */
#define WARD__LINK_SPIN_MAX_US 100
#define WARD__LINK_SPIN_MIN_US 5
/* A reader whose spin stopped catching the peer (it missed at the least
 * spin: the peer is slow, or shares our CPU now) waits without spinning,
 * and spins again once per WARD__LINK_SPIN_PROBE waits to look, for
 * WARD__LINK_SPIN_PROBE_US: longer than the least spin, as a peer that
 * stopped spinning too sleeps, and answers only after its own wake-up
 * (some 13 µs from an idle CPU on the machine measured), yet short
 * enough not to cost a peer that shares our CPU much. */
#define WARD__LINK_SPIN_PROBE 64
#define WARD__LINK_SPIN_PROBE_US 25

typedef struct ward__link {
  void *mem;
  size_t size;
  uint32_t cap;
  ward__ring tx; /* the ring this side writes */
  ward__ring rx; /* the ring this side reads */
  int spin_us;   /* the reader's spin now (adapted), 0: not now */
  int spin_max;  /* 0: never spins (one CPU) */
  int spin_off;  /* waits without a spin since it stopped paying */
  int hot;       /* the peer answered a sleeping reader lately: it waits
                    in a futex (cheaper to wake), not in poll */
  int polled;    /* the reader's last wait ended in poll on the socket */
  uint32_t wakes_seen; /* the peer's `wakes` when the reader last drained */
  /* Counted for the tests (read from any thread). */
  _Atomic unsigned long drains;      /* ward__link_drain's reads of the socket */
  _Atomic unsigned long drains_told; /* of which because the peer's count moved
                                        (not after a poll) */
} ward__link;

/* The bytes of a link whose rings have `cap` bytes of data each. */
size_t ward__link_size(uint32_t cap);
/* The host's side: makes the memory (two fresh rings, `cap` each) and
 * gives the descriptor to pass to the worker in *memfd (the caller closes
 * it once passed). */
int ward__link_host(ward__link **out, uint32_t cap, ward__fd *memfd);
/* The worker's side: maps what the host passed (its size and seals
 * checked). WARD_EPROTO for memory that cannot be the link the host
 * announced. Does not close `memfd`. */
int ward__link_worker(ward__link **out, ward__fd memfd, uint32_t cap);
void ward__link_free(ward__link *l);

/* Writer: puts as much of the `cnt` buffers as fits now, as records, and
 * wakes the reader if it sleeps. Returns the bytes written (0: the ring is
 * full; a wake-up for room is then asked for: a byte on `sock` when
 * `block` is 0, a futex wake otherwise), or WARD_EPROTO. */
ptrdiff_t ward__link_send(ward__link *l, ward__fd sock, const ward__buf *iov, int cnt,
                          int block);
/* Writer, after ward__link_send(block 1) returned 0: waits for room, as
 * ward__wait_fd does for a socket: >0 (there may be room), 0 (the deadline
 * passed) or <0 (`closed` was set). */
int ward__link_wait_room(ward__link *l, int64_t deadline, atomic_int *closed);
/* Wakes this side's own threads blocked in ward__link_wait_room or in
 * ward__link_wait's futex (the connection closes). */
void ward__link_close_wake(ward__link *l);

/* Reader: the next record into `buf` (`cap` bytes): 1 (*len set), 0
 * (empty), or WARD_EPROTO (the peer broke the ring). */
int ward__link_get(ward__link *l, void *buf, size_t cap, size_t *len);
/* Reader, after a batch of reads: wakes the writer if it waits for room. */
void ward__link_read_done(ward__link *l, ward__fd sock);
/* Reader: reads the wake-up bytes waiting on `sock`: 0, WARD_ECRASHED at
 * the end of the stream, WARD_EPROTO for any other byte or a descriptor
 * (closed: none travels beside the rings). Without `polled` (the caller
 * did not see the socket readable: a futex wake, a spin, records already
 * there) it reads only when the peer's count of bytes sent moved: no
 * system call on the fast path. */
int ward__link_drain(ward__link *l, ward__fd sock, int polled);
/* Reader: whether records wait (a hint, from any thread of this side). */
int ward__link_pending(const ward__link *l);
/* Reader: an active reader (it will look at the ring again before it
 * sleeps): writers need not send wake-ups. */
void ward__link_awake(ward__link *l);
/* Reader, before it sleeps or stops reading: announces it, then looks
 * again. Returns whether records wait (then it must not sleep). */
int ward__link_sleep(ward__link *l);
/* Reader: spins a little for records (bounded, adapted; never with one
 * CPU; once in WARD__LINK_SPIN_PROBE waits when it stopped catching the
 * peer). Returns whether records wait. */
int ward__link_spin(ward__link *l, atomic_int *closed);
/* Reader holding the reading role: waits for records until `deadline`
 * (ward__now_ms scale): a spin, then sleep, after saying so and looking
 * once more: in a futex wait (at most a slice, and only when `futex_ok`
 * and the peer answered lately) or in poll on `sock`, which a writer's
 * byte, the peer's end and this side's close all wake. 0: look again
 * (records, a wake-up, the end of the socket or a slice's end: the
 * caller reads; `polled` is set when poll saw the socket readable);
 * WARD_ETIMEDOUT; WARD_ECRASHED (the socket failed). */
int ward__link_wait(ward__link *l, ward__fd sock, int64_t deadline, atomic_int *closed,
                    int futex_ok);

#endif
