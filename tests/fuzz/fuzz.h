/*
 * fuzz.h — what the fuzz targets of tests/fuzz/ share.
 *
 * Each fuzz_*.c defines LLVMFuzzerTestOneInput and is built two ways:
 * with libFuzzer (`make fuzz`: clang, -fsanitize=fuzzer,address,undefined),
 * and as a plain program with replay.c's main, which feeds it every file of
 * its seed corpus and its regression inputs (a ctest test in every build).
 * A target checks invariants, not only that nothing crashes: a broken one
 * aborts with FUZZ_CHECK, which both builds report as a failure.
 */
#ifndef WARD_FUZZ_H
#define WARD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                               \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);     \
      abort();                                                                         \
    }                                                                                  \
  } while (0)

/* A small generator of pseudo-random numbers (xorshift32), for split
 * points chosen by the input itself: the same input, the same splits. */
static inline uint32_t fuzz_next(uint32_t *s) {
  uint32_t x = *s ? *s : 0x9e3779b9u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

#endif
