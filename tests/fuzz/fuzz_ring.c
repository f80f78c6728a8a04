/*
 * fuzz_ring.c — the ring of frames in shared memory (ring.c) against a
 * hostile other side: whatever the peer left in the header and the data,
 * the reader and the writer stay in bounds and end.
 *
 * Input: byte 0 chooses the data area (64, 128 or 256 bytes); then the
 * writer's counter and the reader's counter as the peer left them (8
 * bytes each, little-endian); the rest is the data area's bytes.
 *
 * Invariants:
 * - the reader answers only 1, 0, WARD_ETOOBIG or WARD_EPROTO; a record
 *   it hands over fits the buffer, and it never reads past what the
 *   writer's counter published (its own counter never passes it);
 * - it ends: each record consumes 8 bytes or more of at most one ring;
 * - WARD_EPROTO is final: asked again, it says so again;
 * - the writer, facing the reader's counter from the input, answers only
 *   0, 1, WARD_ETOOBIG or WARD_EPROTO, and writes within the ring (the
 *   memory is exactly the ring's size, so ASan sees any write past it).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ring.h"
#include "ward.h"

static const uint32_t caps[] = {64, 128, 256};

static uint64_t le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 17)
    return 0;
  uint32_t cap = caps[data[0] % 3];
  uint64_t head = le64(data + 1), tail = le64(data + 9);
  size_t rsize = ward__ring_size(cap);
  uint8_t *mem = aligned_alloc(64, rsize);
  if (!mem)
    return 0;
  ward__ring r, w;
  FUZZ_CHECK(ward__ring_open(&r, mem, cap, 1) == 0);
  size_t n = size - 17 < cap ? size - 17 : cap;
  memset(r.data, 0, cap);
  memcpy(r.data, data + 17, n);
  atomic_store(&r.hdr->head, head);
  atomic_store(&r.hdr->tail, tail);

  /* The reader, on what the peer left. */
  int rv = ward__ring_open(&r, mem, cap, 0);
  FUZZ_CHECK(rv == 0 || rv == WARD_EPROTO);
  if (rv == 0) {
    uint8_t buf[256];
    size_t len, bufcap = data[0] & 0x80 ? 16 : sizeof buf;
    int steps = 0;
    for (;;) {
      rv = ward__ring_get(&r, buf, bufcap, &len);
      FUZZ_CHECK(rv == 1 || rv == 0 || rv == WARD_ETOOBIG || rv == WARD_EPROTO);
      FUZZ_CHECK(r.tail <= head);
      if (rv != 1)
        break;
      FUZZ_CHECK(len <= bufcap);
      FUZZ_CHECK(++steps <= (int)(cap / 8));
    }
    if (rv == WARD_EPROTO)
      FUZZ_CHECK(ward__ring_get(&r, buf, bufcap, &len) == WARD_EPROTO);
  }

  /* The writer, facing the reader's counter from the input. */
  static const uint8_t src[64] = "what a writer writes, whatever the reader's counter says";
  FUZZ_CHECK(ward__ring_open(&w, mem, cap, 1) == 0);
  for (size_t i = 17; i < size && i < 25; i++) {
    size_t a = data[i] % 48, b = data[i] % 5;
    rv = ward__ring_put(&w, src, a, src, b);
    FUZZ_CHECK(rv == 0 || rv == 1 || (rv == WARD_ETOOBIG && a + b > ward__ring_max_payload(cap)));
  }
  atomic_store(&w.hdr->tail, tail);
  rv = ward__ring_put(&w, src, size % 40, NULL, 0);
  FUZZ_CHECK(rv == 0 || rv == 1 || rv == WARD_ETOOBIG || rv == WARD_EPROTO);
  FUZZ_CHECK(w.head - w.tail <= cap);
  free(mem);
  return 0;
}
