/*
 * fuzz_frame.c — the frame decoder (proto.c) as a connection drives it
 * (conn.c): bytes from the peer, split at any point, some of a body read
 * straight into place, every frame handed on as an item.
 *
 * Input: byte 0 chooses the receive limit (the default a host and a client
 * use, WARD_MAX_FRAME_DEFAULT, or a small one), byte 1 seeds the choice of
 * split points; the rest is the stream.
 *
 * Invariants:
 * - every frame has a known kind, valid flags and a payload within the
 *   limit;
 * - frames are consecutive: re-encoding each gives back exactly the bytes
 *   of the stream it was decoded from;
 * - the stream fed whole and the stream fed in pieces give the same frames
 *   and end the same way (the same error, or none);
 * - an error is sticky: the decoder refuses everything after it;
 * - an ERROR frame's payload that splits re-encodes to the same bytes;
 * - a LOG frame's payload that splits into a record (slog.c) re-encodes to
 *   the same bytes (when it holds no more fields than a record keeps), and
 *   its rules can be checked.
 */
#include <string.h>

#include "fuzz.h"
#include "proto.h"
#include "slog.h"
#include "ward.h"
#include "ward_int.h"

static const uint32_t limits[] = {WARD_MAX_FRAME_DEFAULT, 0, 1, 16, 255, 4096, 65536};

typedef struct outcome {
  size_t frames;
  size_t bytes; /* of whole frames */
  int err;
} outcome;

typedef struct run {
  const uint8_t *s; /* the stream */
  size_t n;
  uint32_t max;
  ward__dec d;
  outcome o;
} run;

static void check_error_payload(const ward__frame *f) {
  const char *msg;
  const uint8_t *data;
  size_t mlen, dlen;
  if (ward__err_get(f->payload, f->h.len, &msg, &mlen, &data, &dlen))
    return;
  FUZZ_CHECK(ward__err_size(mlen, dlen) == f->h.len);
  uint8_t *again = malloc(f->h.len ? f->h.len : 1);
  FUZZ_CHECK(again != NULL);
  ward__err_put(again, msg, mlen, data, dlen);
  FUZZ_CHECK(memcmp(again, f->payload, f->h.len) == 0);
  free(again);
}

static void check_log_payload(const ward__frame *f) {
  ward__rec rec;
  if (ward__rec_get(&rec, &f->h, f->payload, f->h.len))
    return;
  (void)ward__rec_check(&rec);
  if (rec.nfields > WARD_LOG_FIELDS_MAX)
    return;
  FUZZ_CHECK(ward__rec_size(&rec) == f->h.len);
  uint8_t *again = malloc(f->h.len ? f->h.len : 1);
  FUZZ_CHECK(again != NULL);
  ward__rec_put(again, &rec);
  FUZZ_CHECK(memcmp(again, f->payload, f->h.len) == 0);
  free(again);
}

static void check_frame(run *r, const ward__frame *f) {
  FUZZ_CHECK(f->h.kind >= 1 && f->h.kind <= WARD__K_MAX);
  FUZZ_CHECK((f->h.flags & ~WARD__FLAG_ENC_MASK) == 0 && (f->h.flags & 3) != 3);
  FUZZ_CHECK(f->h.len <= r->max);
  size_t size = ward__frame_size(f->h.nlen, f->h.len);
  FUZZ_CHECK(r->o.bytes + size <= r->n);
  uint8_t *again = malloc(size);
  FUZZ_CHECK(again != NULL);
  ward__frame_put(again, &f->h, f->name, f->payload);
  FUZZ_CHECK(memcmp(again, r->s + r->o.bytes, size) == 0);
  free(again);
  if (f->h.kind == WARD__K_ERROR)
    check_error_payload(f);
  if (f->h.kind == WARD__K_LOG)
    check_log_payload(f);
  r->o.bytes += size;
  r->o.frames++;
}

/* Hands `n` bytes at `p` to the decoder, as conn.c's feed() does: every
 * frame completed is checked, then taken as an item. Returns 0, or the
 * decoder's error. */
static int feed(run *r, const uint8_t *p, size_t n) {
  size_t off = 0;
  for (;;) {
    ward__frame f;
    size_t used;
    int rv = ward__dec_feed(&r->d, p + off, n - off, &used, &f);
    FUZZ_CHECK(used <= n - off);
    off += used;
    if (rv < 0) {
      FUZZ_CHECK(rv == WARD_EPROTO || rv == WARD_ETOOBIG || rv == WARD_ENOMEM);
      return rv;
    }
    if (rv == 0) {
      FUZZ_CHECK(off == n);
      return 0;
    }
    check_frame(r, &f);
    ward__item *it = ward__item_new(&f, ward__dec_take_body(&r->d));
    FUZZ_CHECK(it != NULL);
    FUZZ_CHECK(it->h.len == f.h.len && strlen(it->name) <= f.h.nlen);
    ward__item_free(it);
  }
}

/* Decodes the whole stream; with a seed, in pieces of chosen sizes, part of
 * a body sometimes written straight into the decoder's buffer (as conn.c
 * reads large bodies). */
static outcome decode(const uint8_t *s, size_t n, uint32_t max, uint32_t *seed) {
  run r = {.s = s, .n = n, .max = max};
  ward__dec_init(&r.d, max);
  static const uint8_t none[1];
  size_t off = 0;
  int err = 0;
  while (off < n && !err) {
    size_t left = n - off, take = left;
    if (seed) {
      uint32_t x = fuzz_next(seed);
      take = 1 + (x >> 8) % (x & 1 ? 16 : 4096);
      if (take > left)
        take = left;
      size_t missing;
      uint8_t *space = ward__dec_body_space(&r.d, &missing);
      if (space && (x & 2)) {
        if (take > missing)
          take = missing;
        memcpy(space, s + off, take);
        ward__dec_wrote(&r.d, take);
        off += take;
        err = feed(&r, none, 0);
        continue;
      }
    }
    err = feed(&r, s + off, take);
    off += take;
  }
  if (err) {
    /* Sticky: nothing more gets through. */
    ward__frame f;
    size_t used = 1;
    FUZZ_CHECK(ward__dec_feed(&r.d, s, n, &used, &f) == err && used == 0);
  }
  r.o.err = err;
  ward__dec_free(&r.d);
  return r.o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  uint32_t max = limits[data[0] % (sizeof limits / sizeof limits[0])];
  uint32_t seed = (uint32_t)data[1] * 0x01000193u + 1;
  const uint8_t *s = data + 2;
  size_t n = size - 2;
  outcome whole = decode(s, n, max, NULL);
  outcome split = decode(s, n, max, &seed);
  FUZZ_CHECK(whole.frames == split.frames);
  FUZZ_CHECK(whole.bytes == split.bytes);
  FUZZ_CHECK(whole.err == split.err);
  return 0;
}
