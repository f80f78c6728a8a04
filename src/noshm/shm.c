/*
 * shm.c — no shared-memory transport (the posix and win backends): the
 * socket or pipe carries every frame (platform.h; docs/platforms.md).
 * POSIX has shm_open but no sealing, so a peer could shrink the memory
 * under the host's mapping; Windows would need its own design.
 */
#include "ward_int.h"

int ward__shm_supported(void) { return 0; }

int ward__shm_new(size_t size, ward__fd *fd, void **mem) {
  (void)size, (void)fd, (void)mem;
  return ward__fail(WARD_EINVAL, "no shared-memory transport on this backend");
}

int ward__shm_map(ward__fd fd, size_t size, void **mem) {
  (void)fd, (void)size, (void)mem;
  return ward__fail(WARD_EINVAL, "no shared-memory transport on this backend");
}

void ward__shm_unmap(void *mem, size_t size) { (void)mem, (void)size; }

void ward__futex_wait(_Atomic uint32_t *word, uint32_t expect, int timeout_ms) {
  (void)word, (void)expect, (void)timeout_ms;
}

void ward__futex_wake(_Atomic uint32_t *word) { (void)word; }

int ward__payload_mem(size_t size, ward__fd *fd, void **mem) {
  (void)size, (void)fd, (void)mem;
  return ward__fail(WARD_EINVAL, "no shared-memory payloads on this backend");
}

int ward__payload_seal(ward__fd fd, size_t size, void **mem) {
  (void)fd, (void)size, (void)mem;
  return ward__fail(WARD_EINVAL, "no shared-memory payloads on this backend");
}

int ward__payload_map(ward__fd fd, size_t len, const void **mem) {
  (void)fd, (void)len, (void)mem;
  return ward__fail(WARD_EPROTO, "no shared-memory payloads on this backend");
}

void ward__payload_unmap(const void *mem, size_t size) { (void)mem, (void)size; }

/* Nothing here spins for a peer: the socket's wait is the system's. */
int ward__cpus_available(void) { return 1; }
