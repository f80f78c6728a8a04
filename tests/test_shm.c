/*
 * test_shm.c — the shared-memory building blocks of the linux backend
 * (src/linux/shm.c) with the ring (src/ring.c): two processes pass records
 * through a sealed memfd, the reader asleep on a futex whenever the ring
 * is empty; memory a peer hands over that it could still shrink, or of
 * the wrong size or kind, is refused. On a backend without them (posix,
 * win) every call says so.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/mman.h>
#include <sys/wait.h>
#endif

#include "platform.h"
#include "ring.h"
#include "test.h"
#include "ward.h"
#include "ward_int.h"

#define CAP 4096u
#define RECORDS 100000

static void test_unsupported(void) {
  ward__fd fd;
  void *mem;
  T_ERR(ward__shm_new(4096, &fd, &mem), WARD_EINVAL);
  T_ERR(ward__shm_map(WARD__FD_NONE, 4096, &mem), WARD_EINVAL);
}

#ifdef __linux__
/* The writer's side of a record: wake the reader if it sleeps. */
static void wake(ward__ring *w) {
  if (atomic_load(&w->hdr->sleeping)) {
    atomic_fetch_add(&w->hdr->seq, 1);
    ward__futex_wake(&w->hdr->seq);
  }
}

static int child_writer(int fd, size_t size) {
  void *mem;
  ward__ring w;
  if (ward__shm_map(fd, size, &mem) || ward__ring_open(&w, mem, CAP, 0))
    return 10;
  for (uint32_t i = 0; i < RECORDS; i++) {
    uint8_t rec[40];
    size_t n = 4 + i % 36;
    memcpy(rec, &i, 4);
    memset(rec + 4, (int)(i & 0xff), n - 4);
    int rv;
    while ((rv = ward__ring_put(&w, rec, n, NULL, 0)) == 1)
      sched_yield();
    if (rv)
      return 11;
    wake(&w);
  }
  return 0;
}

/* Two processes: every record arrives in order; the reader sleeps on the
 * futex when the ring is empty, and the writer's wake ends the sleep. */
static void test_two_processes(void) {
  size_t size = ward__ring_size(CAP);
  ward__fd fd;
  void *mem;
  T_OK(ward__shm_new(size, &fd, &mem));
  ward__ring r;
  T_OK(ward__ring_open(&r, mem, CAP, 1));
  pid_t pid = fork();
  T_TRUE(pid >= 0);
  if (pid == 0)
    _exit(child_writer(fd, size));
  for (uint32_t i = 0; i < RECORDS;) {
    uint8_t rec[64];
    size_t len;
    int rv = ward__ring_get(&r, rec, sizeof rec, &len);
    if (rv == 0) {
      /* Sleep only after saying so and looking once more, so that a
       * record written meanwhile is not slept through. */
      uint32_t seq = atomic_load(&r.hdr->seq);
      atomic_store(&r.hdr->sleeping, 1);
      if ((rv = ward__ring_get(&r, rec, sizeof rec, &len)) == 0) {
        ward__futex_wait(&r.hdr->seq, seq, 10000);
      }
      atomic_store(&r.hdr->sleeping, 0);
      if (rv == 0)
        continue;
    }
    T_EQ_INT(rv, 1);
    uint32_t got;
    memcpy(&got, rec, 4);
    T_EQ_INT(got, i);
    T_EQ_INT(len, 4 + i % 36);
    i++;
  }
  int st;
  T_TRUE(waitpid(pid, &st, 0) == pid);
  T_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  ward__shm_unmap(mem, size);
  close(fd);
}

/* What a peer could hand over instead of sealed memory of the agreed size. */
static void test_refused(void) {
  size_t size = ward__ring_size(CAP);
  void *mem;
  /* Not sealed: the peer could shrink it under the mapping. */
  int f = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  T_TRUE(f >= 0 && ftruncate(f, (off_t)size) == 0);
  T_ERR(ward__shm_map(f, size, &mem), WARD_EPROTO);
  /* Sealed against shrinking, but not its seals: still refused. */
  T_TRUE(fcntl(f, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0);
  T_ERR(ward__shm_map(f, size, &mem), WARD_EPROTO);
  close(f);
  /* Sealed, but not the size agreed on. */
  ward__fd fd;
  T_OK(ward__shm_new(size / 2, &fd, &mem));
  ward__shm_unmap(mem, size / 2);
  T_ERR(ward__shm_map(fd, size, &mem), WARD_EPROTO);
  close(fd);
  /* Not memory at all. */
  int p[2];
  T_TRUE(pipe(p) == 0);
  T_ERR(ward__shm_map(p[0], size, &mem), WARD_EPROTO);
  close(p[0]);
  close(p[1]);
  /* The maker's own memory, as the peer gets it: accepted, and it cannot
   * be shrunk by anyone. */
  T_OK(ward__shm_new(size, &fd, &mem));
  void *again;
  T_OK(ward__shm_map(fd, size, &again));
  T_TRUE(ftruncate(fd, 0) != 0);
  ward__shm_unmap(again, size);
  ward__shm_unmap(mem, size);
  close(fd);
}
#endif

int main(void) {
  if (!ward__shm_supported()) {
    T_RUN(test_unsupported);
    return t_done();
  }
#ifdef __linux__
  T_RUN(test_two_processes);
  T_RUN(test_refused);
#endif
  return t_done();
}
