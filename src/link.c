/*
 * link.c — the shared-memory transport's rings and wake-ups (link.h).
 *
 * Design notes
 * ------------
 * Lost wake-ups. Both wake-ups are the same handshake of two words: the
 * writer publishes (the ring's counter), then reads the flag; the reader
 * sets the flag, then reads the counter. A full fence sits between the
 * write and the read on each side, so at least one of them sees the
 * other's write: either the writer sees the flag and wakes the reader, or
 * the reader sees the new records and does not sleep. A futex waiter reads
 * `room_seq` before it looks for room, so a wake between the look and the
 * wait changes the word and the wait returns at once.
 *
 * The peer is not trusted. It may write any value into any word at any
 * time: the ring code judges the counters and records (ring.c); a flag it
 * sets costs this side one wake-up byte or futex call per batch at most,
 * and a socket full of bytes it does not read only means the byte is not
 * sent (it has one waiting already). Futex waits are cut into slices, so
 * a peer that never wakes us costs a deadline, never a hang.
 */
#include "link.h"

#include <stdlib.h>
#include <string.h>

#include "ward_int.h"

/* The longest futex wait before the waiter looks at its deadline and the
 * connection again. */
#define ROOM_SLICE_MS 50
/* A reader's futex wait: this long without a record and the peer counts
 * as quiet (the next sleep is in poll, which needs no slices). */
#define READ_SLICE_MS 20

static void full_fence(void) { atomic_thread_fence(memory_order_seq_cst); }

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

size_t ward__link_size(uint32_t cap) { return 2 * ward__ring_size(cap); }

static int link_open(ward__link *l, int host) {
  uint8_t *a = l->mem, *b = a + ward__ring_size(l->cap);
  /* Ring A carries the host's frames, ring B the worker's. */
  int rv = ward__ring_open(&l->tx, host ? a : b, l->cap, host);
  if (!rv)
    rv = ward__ring_open(&l->rx, host ? b : a, l->cap, host);
  l->spin_max = ward__cpus_available() > 1 ? WARD__LINK_SPIN_MAX_US : 0;
  l->spin_us = l->spin_max;
  return rv;
}

int ward__link_host(ward__link **out, uint32_t cap, ward__fd *memfd) {
  ward__link *l = calloc(1, sizeof *l);
  if (!l)
    return WARD_ENOMEM;
  l->cap = cap;
  l->size = ward__link_size(cap);
  int rv = ward__shm_new(l->size, memfd, &l->mem);
  if (!rv && (rv = link_open(l, 1)) != 0)
    ward__close(*memfd);
  /* The host's loop watches the socket from the start: the worker's first
   * records must come with a byte. */
  if (!rv)
    atomic_store_explicit(&l->rx.hdr->sleeping, WARD__LINK_WANT_BYTE, memory_order_relaxed);
  if (rv) {
    ward__shm_unmap(l->mem, l->size);
    free(l);
    return rv;
  }
  *out = l;
  return 0;
}

int ward__link_worker(ward__link **out, ward__fd memfd, uint32_t cap) {
  if (cap < WARD__RING_MIN_CAP || cap > WARD__RING_MAX_CAP || (cap & (cap - 1)) ||
      cap < 2 * (WARD__LINK_RECORD_MAX + 8))
    return ward__fail(WARD_EPROTO, "shared-memory rings of %u bytes announced", cap);
  ward__link *l = calloc(1, sizeof *l);
  if (!l)
    return WARD_ENOMEM;
  l->cap = cap;
  l->size = ward__link_size(cap);
  int rv = ward__shm_map(memfd, l->size, &l->mem);
  if (!rv && link_open(l, 0))
    rv = ward__fail(WARD_EPROTO, "the shared-memory rings do not start empty");
  if (rv) {
    ward__shm_unmap(l->mem, l->size);
    free(l);
    return rv;
  }
  *out = l;
  return 0;
}

void ward__link_free(ward__link *l) {
  if (!l)
    return;
  ward__shm_unmap(l->mem, l->size);
  free(l);
}

/* One wake-up byte, counted in the header of the ring this side writes
 * after it is sent: a peer that sees the count unchanged since it last
 * drained the socket need not look there (ward__link_drain). The writer
 * and the reader of one side may both send: the count is added to. */
static void send_wake(ward__link *l, ward__fd sock) {
  static const uint8_t wake = WARD__LINK_WAKE;
  ward__buf b = {&wake, 1};
  /* 0 (the socket is full) is fine: the peer has bytes to wake it. */
  ward__sock_send(sock, &b, 1);
  atomic_fetch_add_explicit(&l->tx.hdr->wakes, 1, memory_order_release);
}

/* Wakes whoever waits in a futex on `word` (a changed word: a waiter about
 * to sleep on the old value returns at once). */
static void bump_and_wake(_Atomic uint32_t *word) {
  atomic_fetch_add_explicit(word, 1, memory_order_acq_rel);
  ward__futex_wake(word);
}

/* Wakes the peer's sleepers as the flags taken from its word ask: a futex
 * wake on `word`, a byte on the socket, or both (two threads of the peer
 * may each wait, the one that reads in a futex and its loop in poll). */
static void wake_as_asked(ward__link *l, ward__fd sock, uint32_t how, _Atomic uint32_t *word) {
  if (how & WARD__LINK_WANT_FUTEX)
    bump_and_wake(word);
  if (how & WARD__LINK_WANT_BYTE)
    send_wake(l, sock);
}

/* After a write: the reader, if it announced that it sleeps, is woken. */
static void wake_reader(ward__link *l, ward__fd sock) {
  full_fence();
  if (!atomic_load_explicit(&l->tx.hdr->sleeping, memory_order_relaxed))
    return;
  uint32_t how = atomic_exchange_explicit(&l->tx.hdr->sleeping, 0, memory_order_relaxed);
  wake_as_asked(l, sock, how, &l->tx.hdr->seq);
}

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

ptrdiff_t ward__link_send(ward__link *l, ward__fd sock, const ward__buf *iov, int cnt,
                          int block) {
  size_t total = 0, off = 0;
  int i = 0, armed = 0;
  while (i < cnt) {
    if (off == iov[i].len) {
      i++;
      off = 0;
      continue;
    }
    /* One record: the rest of this buffer, and as much of the next as fits
     * in a record with it (a frame's header and body in one). */
    const uint8_t *a = (const uint8_t *)iov[i].base + off;
    size_t alen = min_size(iov[i].len - off, WARD__LINK_RECORD_MAX);
    const void *b = NULL;
    size_t blen = 0;
    if (alen == iov[i].len - off && i + 1 < cnt) {
      b = iov[i + 1].base;
      blen = min_size(iov[i + 1].len, WARD__LINK_RECORD_MAX - alen);
    }
    int r = ward__ring_put(&l->tx, a, alen, b, blen);
    if (r == 0) {
      total += alen + blen;
      off += alen;
      if (b && off == iov[i].len) {
        i++;
        off = blen;
      }
      continue;
    }
    if (r < 0)
      return ward__fail(WARD_EPROTO, "the peer broke the shared-memory ring it reads");
    if (armed)
      break;
    /* Full: ask for a wake-up once the reader has read, then look again
     * (it may have read in between). */
    atomic_fetch_or_explicit(&l->tx.hdr->room_waiting,
                             block ? WARD__LINK_WANT_FUTEX : WARD__LINK_WANT_BYTE,
                             memory_order_relaxed);
    full_fence();
    armed = 1;
  }
  if (total)
    wake_reader(l, sock);
  return (ptrdiff_t)total;
}

int ward__link_wait_room(ward__link *l, int64_t deadline, atomic_int *closed) {
  if (atomic_load(closed))
    return -1;
  int64_t now = ward__now_ms();
  if (deadline != INT64_MAX && now >= deadline)
    return 0;
  uint32_t seq = atomic_load_explicit(&l->tx.hdr->room_seq, memory_order_acquire);
  /* The reader read since the writer last looked: there may be room. */
  if (atomic_load_explicit(&l->tx.hdr->tail, memory_order_acquire) != l->tx.tail)
    return 1;
  int64_t left = deadline == INT64_MAX ? ROOM_SLICE_MS : deadline - now;
  ward__futex_wait(&l->tx.hdr->room_seq, seq, (int)(left < ROOM_SLICE_MS ? left : ROOM_SLICE_MS));
  return atomic_load(closed) ? -1 : 1;
}

void ward__link_close_wake(ward__link *l) {
  bump_and_wake(&l->tx.hdr->room_seq);
  bump_and_wake(&l->rx.hdr->seq);
}

int ward__link_get(ward__link *l, void *buf, size_t cap, size_t *len) {
  int r = ward__ring_get(&l->rx, buf, cap, len);
  if (r == WARD_ETOOBIG)
    return ward__fail(WARD_EPROTO, "the peer put a record of %zu bytes in the shared memory", *len);
  if (r == WARD_EPROTO)
    return ward__fail(WARD_EPROTO, "the peer broke the shared-memory ring it writes");
  return r;
}

void ward__link_read_done(ward__link *l, ward__fd sock) {
  full_fence();
  if (!atomic_load_explicit(&l->rx.hdr->room_waiting, memory_order_relaxed))
    return;
  uint32_t how = atomic_exchange_explicit(&l->rx.hdr->room_waiting, 0, memory_order_relaxed);
  wake_as_asked(l, sock, how, &l->rx.hdr->room_seq);
}

int ward__link_drain(ward__link *l, ward__fd sock, int polled) {
  /* The peer counts a byte after sending it: a count read before the
   * reads below covers bytes that are on the socket already. A peer that
   * lies about it only delays its own wake-ups: a socket left readable
   * ends the next poll at once, and that reader drains (`polled`). */
  uint32_t sent = atomic_load_explicit(&l->rx.hdr->wakes, memory_order_acquire);
  if (!polled && sent == l->wakes_seen)
    return 0;
  l->wakes_seen = sent;
  atomic_fetch_add_explicit(&l->drains, 1, memory_order_relaxed);
  if (!polled)
    atomic_fetch_add_explicit(&l->drains_told, 1, memory_order_relaxed);
  uint8_t b[256];
  for (;;) {
    /* With room for descriptors, so that one sent beside the rings is seen
     * and refused rather than dropped unseen by the kernel (protocol.md
     * 17.5: payloads in shared memory are not agreed with the rings). */
    ward__fd fds[4];
    int nf = 0;
    ptrdiff_t n = ward__sock_recv_fds(sock, b, sizeof b, 0, fds, &nf, 4);
    if (nf < 0)
      nf = -1 - nf;
    for (int i = 0; i < nf; i++)
      ward__close(fds[i]);
    if (nf && n > 0)
      return ward__fail(WARD_EPROTO, "peer passed a descriptor on the socket beside its "
                                     "shared memory");
    if (n == WARD__AGAIN)
      return 0;
    if (n < 0)
      return (int)n;
    if (n == 0)
      return ward__fail(WARD_ECRASHED, "peer closed the connection");
    for (ptrdiff_t i = 0; i < n; i++)
      if (b[i] != WARD__LINK_WAKE)
        return ward__fail(WARD_EPROTO, "peer sent bytes on the socket beside its shared memory");
    if ((size_t)n < sizeof b)
      return 0;
  }
}

int ward__link_pending(const ward__link *l) { return ward__ring_pending(l->rx.hdr); }

void ward__link_awake(ward__link *l) {
  if (atomic_load_explicit(&l->rx.hdr->sleeping, memory_order_relaxed))
    atomic_store_explicit(&l->rx.hdr->sleeping, 0, memory_order_relaxed);
}

int ward__link_sleep(ward__link *l) {
  /* Or'ed in: a reader of ours may sleep in a futex meanwhile (the role
   * changed hands since this thread read), whose flag must stay. */
  atomic_fetch_or_explicit(&l->rx.hdr->sleeping, WARD__LINK_WANT_BYTE, memory_order_relaxed);
  full_fence();
  return ward__link_pending(l);
}

int ward__link_spin(ward__link *l, atomic_int *closed) {
  if (!l->spin_us) {
    /* Spinning stopped paying: a spin that cannot catch the peer (one
     * that shares our CPU, with the other taken by someone else) only
     * delays its turn. Look again now and then. */
    if (!l->spin_max || ++l->spin_off < WARD__LINK_SPIN_PROBE)
      return ward__link_pending(l);
    l->spin_off = 0;
    l->spin_us = WARD__LINK_SPIN_PROBE_US < l->spin_max ? WARD__LINK_SPIN_PROBE_US : l->spin_max;
  }
  int64_t until = ward__now_us() + l->spin_us;
  for (;;) {
    for (int i = 0; i < 64; i++) {
      if (ward__link_pending(l) || atomic_load_explicit(closed, memory_order_relaxed)) {
        /* Caught: the peer answers within a spin; spin as long next time. */
        if (l->spin_us < l->spin_max)
          l->spin_us *= 2;
        if (l->spin_us > l->spin_max)
          l->spin_us = l->spin_max;
        return 1;
      }
      cpu_relax();
    }
    if (ward__now_us() >= until)
      break;
  }
  /* Missed: the peer is slower than a spin; spin less until it is not,
   * and not at all (but to look now and then) below the least. */
  l->spin_us /= 2;
  if (l->spin_us < WARD__LINK_SPIN_MIN_US)
    l->spin_us = 0;
  return 0;
}

/* Sleeps in a futex wait on `seq` for a slice at most (sleeping = 2). */
static void wait_futex(ward__link *l, int64_t deadline, atomic_int *closed) {
  uint32_t seq = atomic_load_explicit(&l->rx.hdr->seq, memory_order_acquire);
  atomic_fetch_or_explicit(&l->rx.hdr->sleeping, WARD__LINK_WANT_FUTEX, memory_order_relaxed);
  full_fence();
  if (ward__link_pending(l) || atomic_load(closed))
    return;
  int64_t left = READ_SLICE_MS;
  if (deadline != INT64_MAX && deadline - ward__now_ms() < left)
    left = deadline - ward__now_ms();
  if (left <= 0)
    return;
  ward__futex_wait(&l->rx.hdr->seq, seq, (int)left);
  /* Nothing for a whole slice: the peer went quiet. */
  if (atomic_load_explicit(&l->rx.hdr->seq, memory_order_acquire) == seq &&
      !ward__link_pending(l))
    l->hot = 0;
}

int ward__link_wait(ward__link *l, ward__fd sock, int64_t deadline, atomic_int *closed,
                    int futex_ok) {
  if (ward__link_pending(l))
    return 0;
  /* Awake while it spins: a writer need not wake it (it looks again
   * after announcing that it sleeps, below). */
  ward__link_awake(l);
  if (ward__link_spin(l, closed))
    return 0;
  if (futex_ok && l->hot) {
    wait_futex(l, deadline, closed);
  } else if (!ward__link_sleep(l)) {
    int ev = ward__wait_fd(sock, WARD__IN, deadline);
    if (ev == 0)
      return WARD_ETIMEDOUT;
    if (ev < 0)
      return WARD_ECRASHED;
    l->hot = 1;
    l->polled = 1;
  }
  ward__link_awake(l);
  return 0;
}
