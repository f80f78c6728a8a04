/*
 * fuzz_hello.c — the host's parser of a worker's HELLO payload (hello.c),
 * the first bytes a new worker sends.
 *
 * Invariants, for a HELLO that is accepted:
 * - each method is exactly the value of its "method=" line, in order (a
 *   name cut short, at a NUL say, would be a method the worker never
 *   named), 1..WARD_MAX_NAME bytes, at most WARD__HELLO_MAX_METHODS;
 * - each "meta.KEY=VALUE" line is kept as KEY and VALUE exactly, at most
 *   WARD__HELLO_MAX_META of them; the token points into the payload;
 * - max_frame is the one the WELCOME-side parser (ward__hello_max_frame)
 *   reads from the same lines, or the default when there is none.
 * Whatever the outcome, everything it allocated is freed (LeakSanitizer).
 */
#include <string.h>

#include "fuzz.h"
#include "hello.h"
#include "proto.h"
#include "ward.h"

static int key_is(const ward__kv *kv, const char *k) {
  return kv->klen == strlen(k) && memcmp(kv->key, k, kv->klen) == 0;
}

static int same(const char *s, const char *p, size_t n) {
  return strlen(s) == n && memcmp(s, p, n) == 0;
}

/* Walks the lines again and compares what was kept. */
static void check_lines(const ward__hello *hl, const uint8_t *data, size_t size) {
  size_t pos = 0, m = 0, k = 0;
  ward__kv kv;
  int r;
  while ((r = ward__kv_next(data, size, &pos, &kv)) == 1) {
    if (key_is(&kv, "method")) {
      FUZZ_CHECK(m < hl->nmethods && same(hl->methods[m], kv.val, kv.vlen));
      m++;
    } else if (kv.klen > 5 && memcmp(kv.key, "meta.", 5) == 0) {
      FUZZ_CHECK(k < hl->nmeta);
      FUZZ_CHECK(same(hl->meta[k].key, kv.key + 5, kv.klen - 5));
      FUZZ_CHECK(same(hl->meta[k].value, kv.val, kv.vlen));
      k++;
    }
  }
  FUZZ_CHECK(r == 0);
  FUZZ_CHECK(m == hl->nmethods && k == hl->nmeta);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ward__hello hl;
  int rv = ward__hello_parse(&hl, data, size);
  FUZZ_CHECK(rv == 0 || rv == WARD_EPROTO || rv == WARD_ENOMEM);
  if (rv == 0) {
    FUZZ_CHECK(size <= WARD__HELLO_MAX_BYTES);
    FUZZ_CHECK(hl.nmethods <= WARD__HELLO_MAX_METHODS && hl.nmeta <= WARD__HELLO_MAX_META);
    FUZZ_CHECK(!hl.methods || hl.methods[hl.nmethods] == NULL);
    for (size_t i = 0; i < hl.nmethods; i++) {
      size_t len = strlen(hl.methods[i]);
      FUZZ_CHECK(len >= 1 && len <= WARD_MAX_NAME);
    }
    FUZZ_CHECK(!hl.token || ((const uint8_t *)hl.token >= data &&
                             (const uint8_t *)hl.token + hl.token_len <= data + size));
    check_lines(&hl, data, size);
    uint32_t max = 0;
    if (ward__hello_max_frame(data, size, &max))
      FUZZ_CHECK(max == hl.max_frame);
    else
      FUZZ_CHECK(hl.max_frame == WARD_MAX_FRAME_DEFAULT);
  }
  ward__hello_free(&hl);
  return 0;
}
