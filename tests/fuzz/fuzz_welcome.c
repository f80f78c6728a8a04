/*
 * fuzz_welcome.c — the client's reading of the peer's `max_frame` from a
 * WELCOME (or, on a server, a HELLO): ward__hello_max_frame (hello.c);
 * of the host's zero-copy threshold: ward__hello_zerocopy; and of the
 * shared-memory rings' size, ward__hello_shm, by the max_frame rule.
 *
 * Invariants: the value taken is that of the last "max_frame=" line made
 * of decimal digits only, 1..UINT32_MAX, among the lines before the first
 * malformed one (checked against a separate reading with strtoull); with
 * no such line, the current value is left alone. The same for the last
 * "zerocopy=" line of at least 4096 (WARD__ZC_FLOOR).
 */
#include <string.h>

#include "fuzz.h"
#include "hello.h"
#include "proto.h"

/* The expected value of one line's text, or 0 when it is not valid. */
static uint64_t oracle(const char *p, size_t n) {
  size_t zeros = 0;
  while (zeros < n && p[zeros] == '0')
    zeros++;
  p += zeros;
  n -= zeros;
  char tmp[16];
  if (n > 10)
    return 0;
  memcpy(tmp, p, n);
  tmp[n] = 0;
  if (strspn(tmp, "0123456789") < n)
    return 0;
  unsigned long long v = strtoull(tmp, NULL, 10);
  return v <= UINT32_MAX ? v : 0;
}

/* The value of the last `key` line of at least `floor`, or 0. */
static uint64_t expected(const uint8_t *data, size_t size, const char *key, uint64_t floor) {
  uint64_t want = 0;
  size_t pos = 0, klen = strlen(key);
  ward__kv kv;
  while (ward__kv_next(data, size, &pos, &kv) == 1)
    if (kv.klen == klen && memcmp(kv.key, key, klen) == 0) {
      uint64_t v = oracle(kv.val, kv.vlen);
      if (v && v >= floor)
        want = v;
    }
  return want;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t want_z = expected(data, size, "zerocopy", WARD__ZC_FLOOR);
  uint32_t zmin = 777;
  int zfound = ward__hello_zerocopy(data, size, &zmin);
  FUZZ_CHECK(zfound == (want_z != 0));
  FUZZ_CHECK(zmin == (zfound ? want_z : 777));
  uint64_t want = expected(data, size, "max_frame", 1);
  uint32_t max = 12345;
  int found = ward__hello_max_frame(data, size, &max);
  FUZZ_CHECK(found == (want != 0));
  FUZZ_CHECK(max == (found ? want : 12345));
  want = expected(data, size, "shm", 1);
  uint32_t cap = 12345;
  found = ward__hello_shm(data, size, &cap);
  FUZZ_CHECK(found == (want != 0));
  FUZZ_CHECK(cap == (found ? want : 12345));
  return 0;
}
