/*
 * os.c — the portable backend's own small calls: no death signal for a
 * worker (the end of its channel and the host's guard say the host is
 * gone), no memory to give back, and the guard's closing of the host's
 * descriptors and reading of directories with nothing but POSIX.
 */
#include <dirent.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "unix.h"
#include "ward_int.h"

void ward__follow_parent(long ppid) {
  /* Nothing asks the kernel for a signal here: a worker of ward's sees
   * the end of its channel when its host goes, and the host's guard kills
   * its process group should it not exit then. */
  (void)ppid;
}

void ward__mem_trim(void) {}

#ifdef __GLIBC__
#include <malloc.h>
size_t ward__mem_usable(void *p) { return malloc_usable_size(p); }
#else
/* Not known here: nothing is kept for reuse (body.c). */
size_t ward__mem_usable(void *p) {
  (void)p;
  return 0;
}
#endif

/* Descriptors are looked at 1,024 at a time with one poll() each, which
 * says which are open (POLLNVAL: not); only those are closed. No call of
 * POSIX says how high the open descriptors go, so the bound is the
 * process's limit (at most 2^20). */
void ward__unix_close_from(int low) {
  static struct pollfd pf[1024];
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > (1L << 20))
    max = 1L << 20;
  for (long base = low; base < max; base += 1024) {
    int n = max - base < 1024 ? (int)(max - base) : 1024;
    for (int i = 0; i < n; i++)
      pf[i] = (struct pollfd){.fd = (int)base + i, .events = 0};
    int r = poll(pf, (nfds_t)n, 0);
    for (int i = 0; i < n; i++)
      if (r < 0 || !(pf[i].revents & POLLNVAL))
        close(pf[i].fd);
  }
}

/* readdir allocates: the guard relies on the C library's fork handlers
 * having left malloc usable in the child (glibc's, macOS's and the BSDs'
 * all do). */
int ward__unix_dir_each(int dfd, char *buf, unsigned size,
                        void (*fn)(int dfd, const char *name, int depth), int depth) {
  (void)buf, (void)size;
  int d = dup(dfd);
  DIR *dir = d < 0 ? NULL : fdopendir(d);
  if (!dir) {
    if (d >= 0)
      close(d);
    return 0;
  }
  rewinddir(dir);
  int found = 0;
  for (struct dirent *e; (e = readdir(dir));) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
      fn(dfd, e->d_name, depth);
      found++;
    }
  }
  closedir(dir);
  return found;
}

/* No cgroups here: the guard kills process groups alone. */
void ward__unix_tree_end(const char *dir) { (void)dir; }
