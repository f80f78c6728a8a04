/*
 * ring.c — frames in shared memory, one writer, one reader, neither
 * trusting the other (ring.h).
 *
 * The only shared words either side reads are the other side's counter
 * (with acquire ordering, so that the records it covers are visible) and,
 * for the reader, the heads of records. Each is read once into a private
 * variable and checked there: a counter must move forward, by a multiple
 * of 8, and never claim more than the ring holds; a head must be a skip
 * that reaches the end exactly, or a length whose complement matches and
 * whose record lies wholly within what was published and before the end.
 * The payload is copied out before anyone looks at it, so a writer that
 * scribbles on it meanwhile only changes what the copy holds, which the
 * frame decoder then judges as any bytes from a peer.
 */
#include "ring.h"

#include <string.h>

#include "ward.h"

#define HEAD_SIZE 8u

/* The layout of protocol.md 17.2, which the peer shares. */
_Static_assert(offsetof(ward__ring_hdr, seq) == 128 && offsetof(ward__ring_hdr, wakes) == 144 &&
                   sizeof(ward__ring_hdr) == 192,
               "ring header layout");

static size_t pad8(size_t n) { return (n + 7u) & ~(size_t)7u; }

static int cap_ok(uint32_t cap) {
  return cap >= WARD__RING_MIN_CAP && cap <= WARD__RING_MAX_CAP && (cap & (cap - 1)) == 0;
}

size_t ward__ring_size(uint32_t cap) { return sizeof(ward__ring_hdr) + cap; }

size_t ward__ring_max_payload(uint32_t cap) { return cap / 2 - HEAD_SIZE; }

int ward__ring_open(ward__ring *r, void *mem, uint32_t cap, int fresh) {
  if (!mem || !cap_ok(cap) || ((uintptr_t)mem & 63u))
    return WARD_EINVAL;
  r->hdr = mem;
  r->data = (uint8_t *)mem + sizeof(ward__ring_hdr);
  r->cap = cap;
  if (fresh) {
    atomic_store_explicit(&r->hdr->head, 0, memory_order_relaxed);
    atomic_store_explicit(&r->hdr->tail, 0, memory_order_relaxed);
    atomic_store_explicit(&r->hdr->seq, 0, memory_order_relaxed);
    atomic_store_explicit(&r->hdr->sleeping, 0, memory_order_relaxed);
    atomic_store_explicit(&r->hdr->room_seq, 0, memory_order_relaxed);
    atomic_store_explicit(&r->hdr->room_waiting, 0, memory_order_relaxed);
    atomic_store_explicit(&r->hdr->wakes, 0, memory_order_relaxed);
  }
  r->head = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
  r->tail = atomic_load_explicit(&r->hdr->tail, memory_order_acquire);
  /* The counters start at 0 and never wrap (2^64 bytes): compared as
   * numbers, not modulo. */
  return r->head < r->tail || r->head - r->tail > cap || (r->head & 7u) || (r->tail & 7u)
             ? WARD_EPROTO
             : 0;
}

int ward__ring_pending(const ward__ring_hdr *hdr) {
  return atomic_load_explicit(&hdr->head, memory_order_acquire) !=
         atomic_load_explicit(&hdr->tail, memory_order_relaxed);
}

/* The head of a record: its payload's length and the complement. */
static void put_head(uint8_t *at, uint32_t len, uint32_t check) {
  memcpy(at, &len, 4);
  memcpy(at + 4, &check, 4);
}

int ward__ring_put(ward__ring *r, const void *a, size_t alen, const void *b, size_t blen) {
  size_t len = alen + blen;
  if (len > ward__ring_max_payload(r->cap))
    return WARD_ETOOBIG;
  /* The reader's counter: between what we last saw and what we wrote. */
  uint64_t tail = atomic_load_explicit(&r->hdr->tail, memory_order_acquire);
  if (tail < r->tail || tail > r->head || (tail & 7u))
    return WARD_EPROTO;
  r->tail = tail;
  size_t rec = HEAD_SIZE + pad8(len);
  uint32_t pos = (uint32_t)(r->head & (r->cap - 1));
  size_t to_end = r->cap - pos;
  size_t need = rec <= to_end ? rec : to_end + rec; /* a skip first */
  if (r->head + need - r->tail > r->cap)
    return 1;
  uint64_t head = r->head;
  if (rec > to_end) {
    put_head(r->data + pos, WARD__RING_SKIP, 0);
    head += to_end;
    pos = 0;
  }
  uint8_t *at = r->data + pos;
  put_head(at, (uint32_t)len, ~(uint32_t)len);
  if (alen)
    memcpy(at + HEAD_SIZE, a, alen);
  if (blen)
    memcpy(at + HEAD_SIZE + alen, b, blen);
  head += rec;
  r->head = head;
  atomic_store_explicit(&r->hdr->head, head, memory_order_release);
  return 0;
}

int ward__ring_get(ward__ring *r, void *buf, size_t cap, size_t *len) {
  /* The writer's counter: from what we read on, at most a ring ahead. */
  uint64_t head = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
  if (head < r->tail || head - r->tail > r->cap || (head & 7u))
    return WARD_EPROTO;
  r->head = head;
  /* At most one skip before a record. */
  for (int skips = 0; skips < 2; skips++) {
    uint64_t avail = head - r->tail;
    if (avail == 0)
      return 0;
    uint32_t pos = (uint32_t)(r->tail & (r->cap - 1));
    uint32_t rlen, check;
    memcpy(&rlen, r->data + pos, 4);
    memcpy(&check, r->data + pos + 4, 4);
    size_t to_end = r->cap - pos;
    if (rlen == WARD__RING_SKIP) {
      if (check != 0 || to_end > avail || pos == 0)
        return WARD_EPROTO;
      r->tail += to_end;
      atomic_store_explicit(&r->hdr->tail, r->tail, memory_order_release);
      continue;
    }
    if (check != ~rlen || rlen > ward__ring_max_payload(r->cap))
      return WARD_EPROTO;
    size_t rec = HEAD_SIZE + pad8(rlen);
    if (rec > to_end || rec > avail)
      return WARD_EPROTO;
    *len = rlen;
    if (rlen > cap)
      return WARD_ETOOBIG;
    memcpy(buf, r->data + pos + HEAD_SIZE, rlen);
    r->tail += rec;
    atomic_store_explicit(&r->hdr->tail, r->tail, memory_order_release);
    return 1;
  }
  return WARD_EPROTO; /* two skips in a row: the first reached the end */
}
