/*
 * shm.c — shared memory and futexes for the shared-memory transport
 * (Linux): a sealed memfd, mapped by both sides, and futex waits on its
 * words (platform.h).
 *
 * The side that makes the memory seals its size (F_SEAL_SHRINK,
 * F_SEAL_GROW) and then the seals themselves (F_SEAL_SEAL), before the
 * descriptor leaves the process: the peer can neither shrink it under the
 * maker's mapping (a read past the end of a file is a SIGBUS, not an
 * error) nor take the seals back. The side that receives memory checks
 * both the size and the seals before it maps anything.
 *
 * The futex calls are the shared (not FUTEX_PRIVATE) forms: the words
 * live in a mapping of two processes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ward_int.h"

#define SIZE_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

int ward__shm_supported(void) { return 1; }

int ward__shm_new(size_t size, ward__fd *fd, void **mem) {
  int f = memfd_create("ward-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (f < 0)
    return ward__fail_sys(WARD_ESYS, errno, "memfd_create");
  if (ftruncate(f, (off_t)size) < 0 || fcntl(f, F_ADD_SEALS, SIZE_SEALS | F_SEAL_SEAL) < 0) {
    int e = errno;
    close(f);
    return ward__fail_sys(WARD_ESYS, e, "sealing the shared memory");
  }
  void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
  if (m == MAP_FAILED) {
    int e = errno;
    close(f);
    return ward__fail_sys(WARD_ESYS, e, "mmap");
  }
  *fd = f;
  *mem = m;
  return 0;
}

int ward__shm_map(ward__fd fd, size_t size, void **mem) {
  struct stat st;
  int seals = fcntl(fd, F_GET_SEALS);
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
    return ward__fail(WARD_EPROTO, "shared memory of the wrong kind or size (want %zu bytes)",
                      size);
  if (seals < 0 || (seals & (SIZE_SEALS | F_SEAL_SEAL)) != (SIZE_SEALS | F_SEAL_SEAL))
    return ward__fail(WARD_EPROTO, "shared memory whose size is not sealed");
  void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED)
    return ward__fail_sys(WARD_ESYS, errno, "mmap");
  *mem = m;
  return 0;
}

void ward__shm_unmap(void *mem, size_t size) {
  if (mem)
    munmap(mem, size);
}

void ward__futex_wait(_Atomic uint32_t *word, uint32_t expect, int timeout_ms) {
  struct timespec ts = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
  syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, expect, timeout_ms < 0 ? NULL : &ts, NULL, 0);
}

void ward__futex_wake(_Atomic uint32_t *word) {
  syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* Payloads                                                            */

/* What a payload's receiver requires: nobody, its sender included, can
 * change the bytes or the size under its mapping any more. */
#define PAYLOAD_SEALS (F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)

int ward__payload_mem(size_t size, ward__fd *fd, void **mem) {
  int f = memfd_create("ward-payload", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (f < 0)
    return ward__fail_sys(WARD_ESYS, errno, "memfd_create");
  if (ftruncate(f, (off_t)size) < 0 || fcntl(f, F_ADD_SEALS, SIZE_SEALS) < 0) {
    int e = errno;
    close(f);
    return ward__fail_sys(e == ENOSPC || e == EFBIG ? WARD_ENOMEM : WARD_ESYS, e,
                          "sizing a payload");
  }
  void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
  if (m == MAP_FAILED) {
    int e = errno;
    close(f);
    return ward__fail_sys(WARD_ENOMEM, e, "mmap of a payload");
  }
  *fd = f;
  *mem = m;
  return 0;
}

int ward__payload_seal(ward__fd fd, size_t size, void **mem) {
  munmap(*mem, size);
  *mem = NULL;
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SEAL) < 0)
    return ward__fail_sys(WARD_ESYS, errno, "sealing a payload against writing");
  void *m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED)
    return ward__fail_sys(WARD_ENOMEM, errno, "mmap of a sealed payload");
  *mem = m;
  return 0;
}

int ward__payload_map(ward__fd fd, size_t len, const void **mem) {
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
    return ward__fail(WARD_EPROTO, "a payload descriptor that is not shared memory");
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0)
    return ward__fail(WARD_EPROTO, "a payload descriptor that is not a memfd");
  if ((seals & PAYLOAD_SEALS) != PAYLOAD_SEALS)
    return ward__fail(WARD_EPROTO, "a payload memfd not sealed against writing, shrinking "
                                   "and growing (seals 0x%x)", (unsigned)seals);
  if ((uint64_t)st.st_size != len)
    return ward__fail(WARD_EPROTO, "a payload memfd of %llu bytes for a payload of %zu",
                      (unsigned long long)st.st_size, len);
  void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED)
    return ward__fail_sys(WARD_ENOMEM, errno, "mmap of a received payload");
  *mem = m;
  return 0;
}

void ward__payload_unmap(const void *mem, size_t size) {
  if (mem)
    munmap((void *)mem, size);
}

int ward__cpus_available(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0)
    return 1;
  int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}
