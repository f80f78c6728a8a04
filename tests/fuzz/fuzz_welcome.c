/*
 * fuzz_welcome.c — the client's reading of the peer's `max_frame` from a
 * WELCOME (or, on a server, a HELLO): ward__hello_max_frame (hello.c);
 * and of the host's zero-copy threshold: ward__hello_zerocopy.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t want = 0, want_z = 0;
  size_t pos = 0;
  ward__kv kv;
  while (ward__kv_next(data, size, &pos, &kv) == 1) {
    if (kv.klen == 9 && memcmp(kv.key, "max_frame", 9) == 0) {
      uint64_t v = oracle(kv.val, kv.vlen);
      if (v)
        want = v;
    }
    if (kv.klen == 8 && memcmp(kv.key, "zerocopy", 8) == 0) {
      uint64_t v = oracle(kv.val, kv.vlen);
      if (v >= WARD__ZC_FLOOR)
        want_z = v;
    }
  }
  uint32_t zmin = 777;
  int zfound = ward__hello_zerocopy(data, size, &zmin);
  FUZZ_CHECK(zfound == (want_z != 0));
  FUZZ_CHECK(zmin == (zfound ? want_z : 777));
  uint32_t max = 12345;
  int found = ward__hello_max_frame(data, size, &max);
  FUZZ_CHECK(found == (want != 0));
  FUZZ_CHECK(max == (found ? want : 12345));
  return 0;
}
