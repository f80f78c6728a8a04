/*
 * os.c — clocks, descriptors, pipes and waiting on one descriptor, as
 * every POSIX system has them (both backends).
 *
 * A descriptor is made close-on-exec as it is created where the system
 * can (pipe2, SOCK_CLOEXEC: Linux and the BSDs), else at once after
 * (macOS), which leaves a moment in which a fork and exec by another
 * thread of the program copies it.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <dirent.h>
#include <pwd.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <poll.h>
#include <stdint.h>
#include <signal.h>
#if defined(__has_include)
#if __has_include(<sys/random.h>)
#include <sys/random.h> /* getentropy on macOS */
#endif
#endif
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "unix.h"
#include "ward_int.h"

int64_t ward__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ward__wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  remove(path);
  return 0;
}

void ward__remove_tree(const char *path) {
  /* Depth first, without following links out of the tree. */
  nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int ward__self_pid(void) { return (int)getpid(); }

int ward__child_ended(int *pid) {
  siginfo_t si;
  int r;
  do {
    memset(&si, 0, sizeof si);
    r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT);
  } while (r < 0 && errno == EINTR);
  if (r < 0)
    return errno == ECHILD ? 0 : ward__fail_sys(WARD_ESYS, errno, "waitid");
  *pid = (int)si.si_pid;
  return si.si_pid != 0;
}

void ward__child_reap(int pid, int *code, int *sig) {
  int st = 0;
  *code = -1;
  *sig = 0;
  pid_t r;
  do
    r = waitpid((pid_t)pid, &st, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r != (pid_t)pid)
    return;
  if (WIFEXITED(st))
    *code = WEXITSTATUS(st);
  else if (WIFSIGNALED(st))
    *sig = WTERMSIG(st);
}

void ward__sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

static int set_cloexec(int fd) {
  int fl = fcntl(fd, F_GETFD);
  return fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0 ? -1 : 0;
}

int ward__pipe(ward__fd p[2]) {
#ifdef WARD_HAVE_PIPE2
  if (pipe2(p, O_CLOEXEC) < 0)
    return ward__fail_sys(WARD_ESYS, errno, "pipe2");
#else
  if (pipe(p) < 0)
    return ward__fail_sys(WARD_ESYS, errno, "pipe");
  if (set_cloexec(p[0]) || set_cloexec(p[1])) {
    int e = errno;
    close(p[0]);
    close(p[1]);
    return ward__fail_sys(WARD_ESYS, e, "fcntl(FD_CLOEXEC)");
  }
#endif
  int rv = ward__set_nonblock(p[0], 1);
  if (rv) {
    close(p[0]);
    close(p[1]);
  }
  return rv;
}

ptrdiff_t ward__read(ward__fd fd, void *p, size_t n) {
  for (;;) {
    ssize_t r = read(fd, p, n);
    if (r >= 0)
      return r;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return WARD__AGAIN;
    return ward__fail_sys(WARD_ESYS, errno, "read");
  }
}

const char *ward__sys_text(int code, char *buf, size_t cap) {
  snprintf(buf, cap, "%s", strerror(code));
  return buf;
}

size_t ward__stderr_now(const void *p, size_t n) {
  const char *b = p;
  size_t off = 0;
  while (off < n) {
    struct pollfd pf = {.fd = 2, .events = POLLOUT};
    if (poll(&pf, 1, 0) != 1 || !(pf.revents & POLLOUT))
      break;
    ssize_t r = write(2, b + off, n - off < PIPE_BUF ? n - off : PIPE_BUF);
    if (r <= 0 && errno != EINTR)
      break; /* the host's stderr is best effort */
    if (r > 0)
      off += (size_t)r;
  }
  return off;
}

int ward__private_dir(const char *root, const char *prefix, const char *what, char **out) {
  char path[4096], label[96];
  if (snprintf(path, sizeof path, "%s/%sXXXXXX", root, prefix) >= (int)sizeof path)
    return ward__fail(WARD_EINVAL, "%s path too long", what);
  if (!mkdtemp(path)) { /* 0700 */
    snprintf(label, sizeof label, "mkdtemp (%s)", what);
    return ward__fail_sys(WARD_ESYS, errno, label);
  }
  /* Absolute, so that it means the same from any working directory. */
  *out = realpath(path, NULL);
  if (!*out) {
    int e = errno;
    rmdir(path);
    snprintf(label, sizeof label, "realpath (%s)", what);
    return e == ENOMEM ? WARD_ENOMEM : ward__fail_sys(WARD_ESYS, e, label);
  }
  return 0;
}

int ward__user_groups(uint32_t uid, uint32_t gid, uint32_t **groups, size_t *n) {
  *groups = NULL;
  *n = 0;
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  size_t cap = size > 0 ? (size_t)size : 16384;
  struct passwd pw, *found = NULL;
  char *buf = NULL;
  int e;
  /* A buffer too small says ERANGE: a bigger one is tried. */
  do {
    char *b = realloc(buf, cap);
    if (!b) {
      free(buf);
      return WARD_ENOMEM;
    }
    buf = b;
    e = getpwuid_r((uid_t)uid, &pw, buf, cap, &found);
    cap *= 2;
  } while (e == ERANGE && cap <= (1u << 24));
  if (e || !found) {
    free(buf);
    if (e && e != ENOENT && e != ESRCH)
      return ward__fail_sys(WARD_ESYS, e, "getpwuid_r");
    /* No name: no supplementary groups but the group itself. */
    if (!(*groups = malloc(sizeof **groups)))
      return WARD_ENOMEM;
    (*groups)[0] = gid;
    *n = 1;
    return 0;
  }
  int count = 16;
  gid_t *v = NULL;
  for (;;) {
    gid_t *nv = realloc(v, (size_t)count * sizeof *nv);
    if (!nv) {
      free(v);
      free(buf);
      return WARD_ENOMEM;
    }
    v = nv;
    int got = count;
#ifdef __APPLE__
    int r = getgrouplist(found->pw_name, (int)gid, (int *)v, &got);
#else
    int r = getgrouplist(found->pw_name, (gid_t)gid, v, &got);
#endif
    if (r >= 0) {
      count = got;
      break;
    }
    /* Too few: `got` says how many there are (glibc), else twice as many. */
    if (count >= 65536) {
      free(v);
      free(buf);
      return ward__fail(WARD_ESYS, "getgrouplist: more than 65536 groups");
    }
    count = got > count ? got : 2 * count;
  }
  free(buf);
  uint32_t *out = malloc((size_t)(count ? count : 1) * sizeof *out);
  if (!out) {
    free(v);
    return WARD_ENOMEM;
  }
  for (int i = 0; i < count; i++)
    out[i] = (uint32_t)v[i];
  free(v);
  *groups = out;
  *n = (size_t)count;
  return 0;
}

int ward__give_dir(const char *path, uint32_t uid, uint32_t gid) {
  if (chown(path, (uid_t)uid, (gid_t)gid) == 0)
    return 0;
  int e = errno;
  if (e != EPERM)
    return ward__fail_sys(WARD_ESYS, e, "chown (data directory)");
  /* What the start itself would meet: the host may not be that user. */
  char text[600];
  snprintf(text, sizeof text,
           "cannot run as user %u (group %u): %s: the data directory cannot be given to it (the "
           "host runs as uid %u%s)",
           (unsigned)uid, (unsigned)gid, strerror(e), (unsigned)geteuid(),
           geteuid() ? ", not as root" : "");
  return ward__fail_keep(WARD_EPERM, e, text);
}

int64_t ward__now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t ward__deadline(int ms) {
  if (ms < 0)
    return INT64_MAX;
  return ward__now_ms() + ms;
}

int ward__set_nonblock(ward__fd fd, int on) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0)
    return ward__fail_sys(WARD_ESYS, errno, "fcntl(F_GETFL)");
  int nfl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
  if (nfl != fl && fcntl(fd, F_SETFL, nfl) < 0)
    return ward__fail_sys(WARD_ESYS, errno, "fcntl(F_SETFL)");
  return 0;
}

int ward__fd_inherited(long number, ward__fd *out) {
  if (number < 0 || number > INT_MAX)
    return ward__fail(WARD_EINVAL, "not a descriptor number: %ld", number);
  int fd = (int)number;
  if (set_cloexec(fd))
    return ward__fail_sys(WARD_ESYS, errno, "fcntl(FD_CLOEXEC)");
  *out = fd;
  return 0;
}

int ward__socketpair(ward__fd sv[2]) {
#ifdef SOCK_CLOEXEC
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    return ward__fail_sys(WARD_ESYS, errno, "socketpair");
  int rv = 0;
#else
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
    return ward__fail_sys(WARD_ESYS, errno, "socketpair");
  int rv = set_cloexec(sv[0]) || set_cloexec(sv[1])
               ? ward__fail_sys(WARD_ESYS, errno, "fcntl(FD_CLOEXEC)") : 0;
#endif
  for (int i = 0; !rv && i < 2; i++)
    rv = ward__unix_nosigpipe(sv[i]);
  if (!rv)
    rv = ward__set_nonblock(sv[0], 1);
  if (rv) {
    close(sv[0]);
    close(sv[1]);
  }
  return rv;
}

int ward__wait_fd(ward__fd fd, int events, int64_t deadline) {
  struct pollfd p = {.fd = fd, .events = 0};
  if (events & WARD__IN)
    p.events |= POLLIN;
  if (events & WARD__OUT)
    p.events |= POLLOUT;
  for (;;) {
    int timeout = -1;
    if (deadline != INT64_MAX) {
      int64_t left = deadline - ward__now_ms();
      if (left <= 0)
        timeout = 0;
      else
        timeout = left > INT32_MAX ? INT32_MAX : (int)left;
    }
    int n = poll(&p, 1, timeout);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return ward__fail_sys(WARD_ESYS, errno, "poll");
    }
    if (n == 0)
      return 0;
    int r = 0;
    if (p.revents & POLLIN)
      r |= WARD__IN;
    if (p.revents & POLLOUT)
      r |= WARD__OUT;
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
      r |= WARD__HUP;
    return r;
  }
}

/* getentropy: Linux (glibc 2.25), macOS and the BSDs, 256 bytes a call. */
int ward__random(void *buf, size_t n) {
  uint8_t *p = buf;
  while (n > 0) {
    size_t k = n < 256 ? n : 256;
    if (getentropy(p, k) < 0)
      return ward__fail_sys(WARD_ESYS, errno, "getentropy");
    p += k;
    n -= k;
  }
  return 0;
}

void ward__close(ward__fd fd) {
  if (fd >= 0)
    close(fd);
}

int ward__thread_start(pthread_t *t, void *(*fn)(void *), void *arg) {
  /* The new thread inherits the mask in force while it is created. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int e = pthread_create(t, NULL, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return e ? ward__fail_sys(WARD_ESYS, e, "pthread_create") : 0;
}

void ward__chan_env(char *buf, size_t n, ward__fd chan_fd) {
  (void)chan_fd; /* the child finds it at fd 3, where spawn.c puts it */
  snprintf(buf, n, "WARD_FD=3");
}

intptr_t ward__fd_os(ward__fd fd) { return fd; }

int ward__cond_init(pthread_cond_t *c) {
  pthread_condattr_t a;
  pthread_condattr_init(&a);
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  int e = pthread_cond_init(c, &a);
  pthread_condattr_destroy(&a);
  return e ? WARD_ESYS : 0;
}

int ward__cond_wait(pthread_cond_t *c, pthread_mutex_t *m, int64_t deadline) {
  if (deadline == INT64_MAX) {
    pthread_cond_wait(c, m);
    return 0;
  }
  if (ward__now_ms() >= deadline)
    return WARD_ETIMEDOUT;
  struct timespec ts = {.tv_sec = deadline / 1000, .tv_nsec = (deadline % 1000) * 1000000};
  pthread_cond_timedwait(c, m, &ts);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Paths (the extension host)                                          */

int ward__path_kind(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0)
    return WARD__PATH_NONE;
  if (S_ISDIR(st.st_mode))
    return WARD__PATH_DIR;
  if (!S_ISREG(st.st_mode))
    return WARD__PATH_OTHER;
  return access(path, X_OK) == 0 ? WARD__PATH_EXEC : WARD__PATH_FILE;
}

int ward__path_real(const char *path, char **out) {
  *out = realpath(path, NULL);
  if (*out)
    return 0;
  if (errno == ENOMEM)
    return WARD_ENOMEM;
  return ward__fail_sys(WARD_ESYS, errno, "realpath");
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int ward__dir_names(const char *dir, char ***names, size_t *count) {
  *names = NULL;
  *count = 0;
  DIR *d = opendir(dir);
  if (!d)
    return ward__fail_sys(WARD_ESYS, errno, "opendir");
  char **v = calloc(1, sizeof *v);
  size_t n = 0;
  int rv = v ? 0 : WARD_ENOMEM;
  for (struct dirent *e; !rv && (e = readdir(d));) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char **nv = realloc(v, (n + 2) * sizeof *nv);
    if (!nv || !(nv[n] = strdup(e->d_name))) {
      if (nv)
        v = nv;
      rv = WARD_ENOMEM;
      break;
    }
    v = nv;
    v[++n] = NULL;
  }
  closedir(d);
  if (rv) {
    for (size_t i = 0; v && i < n; i++)
      free(v[i]);
    free(v);
    return rv;
  }
  qsort(v, n, sizeof *v, name_cmp);
  *names = v;
  *count = n;
  return 0;
}
