/*
 * bench_unix.h — the system's part of bench.h on Linux and the POSIX
 * systems: raw peers started with posix_spawn, each with one end of a
 * socketpair; pinning with sched_setaffinity; our own path from
 * /proc/self/exe. The linux and the posix backends are both built and
 * measured on Linux here, so Linux's calls are used where they are the
 * floor (pidfds for exits), with POSIX fallbacks where a call is missing.
 *
 * Only bench.h includes this file, after its state and die().
 */
#ifndef WARD_BENCH_UNIX_H
#define WARD_BENCH_UNIX_H

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

#define BENCH_JSON 1
#define BENCH_RAW_CHANNEL "socketpair"
#define BENCH_RAW_SPAWN "posix_spawn"
#ifdef SYS_pidfd_open
#define BENCH_RAW_EXIT "pidfd exit notice"
#else
#define BENCH_RAW_EXIT "waitid exit notice"
#endif

typedef int bench_fd;
typedef pid_t bench_pid;
typedef int bench_watch; /* a pidfd, or -1 */

extern char **environ;

static inline int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Finds our executable, so that we can start ourselves again. */
static inline void bench_find_self(void) {
  ssize_t n = readlink("/proc/self/exe", B.self, sizeof B.self - 1);
  if (n <= 0)
    die("readlink /proc/self/exe");
  B.self[n] = 0;
}

static inline void bench_os_init(void) {
  bench_find_self();
  signal(SIGPIPE, SIG_IGN);
}

/* The CPUs we were allowed at start: "unpinned" gives them back. */
static cpu_set_t bench_cpus __attribute__((unused));
static int bench_cpus_known __attribute__((unused));

/* Pins the calling thread (and so every thread and child created after)
 * to CPU 0, or lets it run on every CPU it was allowed at start again. */
static inline void bench_pin(int on) {
  if (!bench_cpus_known) {
    if (sched_getaffinity(0, sizeof bench_cpus, &bench_cpus) != 0) {
      CPU_ZERO(&bench_cpus);
      long n = sysconf(_SC_NPROCESSORS_ONLN);
      for (long i = 0; i < n && i < CPU_SETSIZE; i++)
        CPU_SET((int)i, &bench_cpus);
    }
    bench_cpus_known = 1;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  if (sched_setaffinity(0, sizeof set, on ? &set : &bench_cpus) != 0 && on) {
    static int warned;
    if (!warned++)
      fprintf(stderr, "bench: cannot pin to CPU 0 (%s): \"same CPU\" figures are not "
                      "pinned\n", strerror(errno));
  }
}

/* Host resident set (VmRSS) in KiB, or -1. */
static inline long bench_rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
      break;
  fclose(f);
  return kib;
}

/* Sleeps about `us` microseconds. */
static inline void bench_nap_us(int us) {
  struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

/* Ends this process with SIGABRT, leaving no core file. */
__attribute__((noreturn)) static inline void bench_crash_now(void) {
#ifdef __linux__
  prctl(PR_SET_DUMPABLE, 0);
#endif
  struct rlimit none = {0, 0};
  setrlimit(RLIMIT_CORE, &none);
  abort();
}

/* ------------------------------------------------------------------ */
/* Raw peers: the same executable, started with posix_spawn and one end */
/* of a socketpair on descriptor 3                                      */

static inline void write_full(bench_fd fd, const void *p, size_t n) {
  const char *b = p;
  while (n) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      die("raw write");
    b += w;
    n -= (size_t)w;
  }
}

/* Returns 0 at end of stream before anything was read, 1 when `n` bytes
 * were read; dies on a short stream. */
static inline int read_full(bench_fd fd, void *p, size_t n) {
  char *b = p;
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, b + got, n - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      die("raw read");
    if (r == 0) {
      if (got == 0)
        return 0;
      die("raw read: short stream");
    }
    got += (size_t)r;
  }
  return 1;
}

/* Starts `self arg 3` with the other end of a fresh socketpair on
 * descriptor 3. Returns the pid; *fd is our end. */
static inline bench_pid raw_spawn(const char *arg, bench_fd *fd) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
    die("socketpair");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
  char *args[] = {B.self, (char *)arg, "3", NULL};
  pid_t pid;
  int e = posix_spawn(&pid, B.self, &fa, NULL, args, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (e) {
    errno = e;
    die("posix_spawn");
  }
  close(sv[1]);
  *fd = sv[0];
  return pid;
}

/* A raw peer's end of its channel: `end` is its third argument. */
static inline bench_fd raw_child_end(const char *end) { return end ? atoi(end) : 3; }

static inline void raw_reap(bench_pid pid, bench_fd fd) {
  if (fd >= 0)
    close(fd);
  waitpid(pid, NULL, 0);
}

/* What raw_wait_exit waits on, made before the exit is brought about so
 * that making it is not timed: a pidfd where there are pidfds. */
static inline bench_watch raw_watch(bench_pid pid) {
#ifdef SYS_pidfd_open
  return (int)syscall(SYS_pidfd_open, pid, 0);
#else
  (void)pid;
  return -1;
#endif
}

/* Waits until the peer has ended, leaving it to raw_reap; closes `w`. */
static inline void raw_wait_exit(bench_pid pid, bench_watch w) {
  if (w >= 0) {
    struct pollfd p = {.fd = w, .events = POLLIN};
    while (poll(&p, 1, -1) != 1) {
    }
    close(w);
    return;
  }
  /* No pidfds (valgrind, old kernels, not Linux): a blocking wait. */
  siginfo_t si;
  while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
  }
}

/* ------------------------------------------------------------------ */
/* Other programs                                                      */

/* Finds `prog` in PATH; 1 and its path in `out`, or 0. */
static inline int bench_which(const char *prog, char *out, size_t outsz) {
  const char *path = getenv("PATH");
  if (!path)
    return 0;
  while (*path) {
    const char *end = strchr(path, ':');
    size_t len = end ? (size_t)(end - path) : strlen(path);
    snprintf(out, outsz, "%.*s/%s", (int)len, path, prog);
    if (len && access(out, X_OK) == 0)
      return 1;
    path += len + (end ? 1 : 0);
  }
  return 0;
}

/* Runs argv[0] (a path) with its stdout captured into `out` (NUL
 * terminated, cut at `outsz`), stderr to `errfile` (or inherited when
 * NULL), killing it after `timeout_s` seconds. Returns its wait status,
 * or -1 if it could not be started or was killed for the timeout. */
static inline int bench_capture(char *const argv[], const char *errfile, char *out,
                                size_t outsz, int timeout_s) {
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC))
    return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
  if (errfile)
    posix_spawn_file_actions_addopen(&fa, 2, errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid;
  int e = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(pfd[1]);
  if (e) {
    close(pfd[0]);
    errno = e;
    return -1;
  }
  size_t have = 0;
  int64_t deadline = now_ns() + (int64_t)timeout_s * 1000000000;
  int timed_out = 0;
  for (;;) {
    int64_t left = (deadline - now_ns()) / 1000000;
    if (left <= 0) {
      timed_out = 1;
      kill(pid, SIGKILL);
      break;
    }
    struct pollfd p = {.fd = pfd[0], .events = POLLIN};
    int n = poll(&p, 1, (int)left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      continue;
    char tmp[4096];
    ssize_t r = read(pfd[0], tmp, sizeof tmp);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    size_t take = (size_t)r < outsz - 1 - have ? (size_t)r : outsz - 1 - have;
    memcpy(out + have, tmp, take);
    have += take;
  }
  out[have] = 0;
  close(pfd[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  return timed_out ? -1 : st;
}

#endif
