/*
 * os.c — the Linux backend's own small calls: the death signal a worker
 * asks for, giving memory back, and the guard's closing of the host's
 * descriptors (close_range) and reading of directories (getdents64,
 * without malloc). The rest of the POSIX layer is src/unix/.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "unix.h"
#include "ward_int.h"

void ward__follow_parent(long ppid) {
  /* Asked first, compared after: equal, the signal is set on the host
   * itself; a host dying in between would leave us another parent. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != (pid_t)ppid)
    prctl(PR_SET_PDEATHSIG, 0);
}

void ward__mem_trim(void) {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

size_t ward__mem_usable(void *p) { return malloc_usable_size(p); }

void ward__unix_close_from(int low) { close_range((unsigned)low, ~0U, 0); }

int ward__unix_dir_each(int dfd, char *buf, unsigned size,
                        void (*fn)(int dfd, const char *name, int depth), int depth) {
  int found = 0;
  lseek(dfd, 0, SEEK_SET);
  long n;
  while ((n = syscall(SYS_getdents64, dfd, buf, size)) > 0) {
    for (long off = 0; off < n;) {
      /* struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name */
      unsigned short reclen;
      memcpy(&reclen, buf + off + 16, sizeof reclen);
      const char *d = buf + off + 19;
      if (strcmp(d, ".") != 0 && strcmp(d, "..") != 0) {
        fn(dfd, d, depth);
        found++;
      }
      off += reclen;
    }
  }
  return n < 0 ? 0 : found;
}
