/*
 * spawn.c — starting, signalling and reaping worker processes (Linux).
 *
 * posix_spawn (vfork-style in glibc) keeps spawning cheap even from a host
 * with a large address space, and reports exec failures as an errno with
 * the failed child already reaped. Exits are observed through a pidfd so
 * there is no global SIGCHLD handler and no pid-reuse race.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "platform.h"
#include "ward_int.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* The channel's fd number in the child (WARD_FD). */
#define CHAN_FD 3

/* WARD_NO_PIDFD=1 makes ward behave as on a system without pidfds, so the
 * polling fallback is tested on Linux too. */
static int pidfd_open_(pid_t pid) {
  const char *off = getenv("WARD_NO_PIDFD");
  if (off && *off == '1') {
    errno = ENOSYS;
    return -1;
  }
  return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_signal_(int pidfd, int sig) {
  return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* Signals a host may ignore or handle that a worker should start with at
 * their defaults (ignored dispositions survive exec otherwise). */
static void default_signals(sigset_t *set) {
  static const int sigs[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD,
                             SIGUSR1, SIGUSR2, SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU};
  sigemptyset(set);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    sigaddset(set, sigs[i]);
}

static int build_actions(posix_spawn_file_actions_t *fa, const ward__spawn_args *a) {
  int e = posix_spawn_file_actions_init(fa);
  if (e)
    return e;
  e = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
  /* Output: a pipe end to the host, /dev/null, or the host's own. */
  for (int i = 0; !e && i < 2; i++) {
    int fd = i ? a->err_fd : a->out_fd;
    if (fd == -2)
      e = posix_spawn_file_actions_addopen(fa, 1 + i, "/dev/null", O_WRONLY, 0);
    else if (fd >= 0)
      e = posix_spawn_file_actions_adddup2(fa, fd, 1 + i);
  }
  int at = a->chan_at > 0 ? a->chan_at : CHAN_FD;
  if (!e && a->chan_fd >= 0)
    e = posix_spawn_file_actions_adddup2(fa, a->chan_fd, at);
  /* Whatever else the host has open, close-on-exec or not, stays behind
   * (closing a descriptor that is not open is no error here). */
  for (int fd = CHAN_FD; !e && a->chan_fd >= 0 && fd < at; fd++)
    e = posix_spawn_file_actions_addclose(fa, fd);
  if (!e)
    e = posix_spawn_file_actions_addclosefrom_np(fa, a->chan_fd >= 0 ? at + 1 : CHAN_FD);
  if (!e && a->cwd)
    e = posix_spawn_file_actions_addchdir_np(fa, a->cwd);
  return e;
}

static int build_attr(posix_spawnattr_t *at) {
  int e = posix_spawnattr_init(at);
  if (e)
    return e;
  sigset_t none, defs;
  sigemptyset(&none);
  default_signals(&defs);
  e = posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                       POSIX_SPAWN_SETSIGDEF);
  if (!e)
    e = posix_spawnattr_setpgroup(at, 0);
  if (!e)
    e = posix_spawnattr_setsigmask(at, &none);
  if (!e)
    e = posix_spawnattr_setsigdefault(at, &defs);
  return e;
}

int ward__proc_spawn(ward__proc *p, const ward__spawn_args *a) {
  ward__spawn_args args = *a;
  int moved = -1;
  p->pid = 0;
  p->pidfd = -1;
  /* dup2(n, n) would keep close-on-exec set, and the descriptors below
   * its place are closed: move the channel above it. */
  int place = args.chan_at > 0 ? args.chan_at : CHAN_FD;
  if (args.chan_fd >= 0 && args.chan_fd <= place) {
    moved = fcntl(args.chan_fd, F_DUPFD_CLOEXEC, place + 1);
    if (moved < 0)
      return ward__fail_sys(WARD_ESYS, errno, "fcntl(F_DUPFD_CLOEXEC)");
    args.chan_fd = moved;
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  int e = build_actions(&fa, &args);
  if (e) {
    ward__close(moved);
    return ward__fail_sys(WARD_ESYS, e, "posix_spawn_file_actions");
  }
  e = build_attr(&at);
  if (e) {
    posix_spawn_file_actions_destroy(&fa);
    ward__close(moved);
    return ward__fail_sys(WARD_ESYS, e, "posix_spawnattr");
  }
  pid_t pid;
  if (strchr(args.exe, '/'))
    e = posix_spawn(&pid, args.exe, &fa, &at, args.argv, args.envp);
  else
    e = posix_spawnp(&pid, args.exe, &fa, &at, args.argv, args.envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  ward__close(moved);
  if (e) {
    errno = e;
    ward__fail_sys(WARD_ESPAWN, e, "spawn");
    return ward__fail(WARD_ESPAWN, "spawn '%s': %s", args.exe, strerror(e));
  }
  p->pid = pid;
  p->pidfd = pidfd_open_(pid);
  if (p->pidfd < 0 && (errno == ENOSYS || errno == EPERM)) {
    /* No pidfds (an old kernel, valgrind, or a seccomp filter that refuses
     * syscalls it does not know with EPERM): the host polls instead. */
    return 0;
  }
  if (p->pidfd < 0) {
    int err = errno;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    p->pid = 0;
    return ward__fail_sys(WARD_ESYS, err, "pidfd_open");
  }
  return 0;
}

int ward__proc_reap(ward__proc *p, int *code, int *sig) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  *code = -1;
  *sig = 0;
  if (p->pid <= 0)
    return 1;
  int r;
  /* Without a pidfd, the pid itself: still ours until we reap it. */
  idtype_t type = p->pidfd >= 0 ? (idtype_t)P_PIDFD : P_PID;
  id_t id = p->pidfd >= 0 ? (id_t)p->pidfd : (id_t)p->pid;
  /* Look first without reaping: while the zombie holds its pid, the group
   * id is still ours, and whatever the worker left in its group (children
   * it started) goes with it. */
  do
    r = waitid(type, id, &si, WEXITED | WNOHANG | WNOWAIT);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    /* Someone else reaped it (a waitpid(-1) elsewhere): gone, status unknown. */
    p->pid = 0;
    return 1;
  }
  if (si.si_pid == 0)
    return 0;
  kill(-p->pid, SIGKILL);
  memset(&si, 0, sizeof si);
  do
    r = waitid(type, id, &si, WEXITED | WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r < 0 || si.si_pid == 0) {
    p->pid = 0;
    return 1;
  }
  if (si.si_code == CLD_EXITED)
    *code = si.si_status;
  else
    *sig = si.si_status;
  p->pid = 0;
  return 1;
}

void ward__proc_kill(ward__proc *p, int sig) {
  if (p->pid <= 0)
    return;
  /* The group id is the child's pid, still ours while it is unreaped. */
  kill(-p->pid, sig);
  if (p->pidfd >= 0)
    pidfd_signal_(p->pidfd, sig);
  else
    kill(p->pid, sig);
}

void ward__proc_close(ward__proc *p) {
  ward__close(p->pidfd);
  p->pidfd = -1;
}

/* Reads /proc/PID/stat: resident set, CPU time and start time. */
int ward__proc_usage(pid_t pid, uint64_t *rss, uint64_t *cpu_ms, int64_t *start_ms) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return WARD_ESYS;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return WARD_ESYS;
  buf[n] = 0;
  /* The command name may hold spaces and parentheses: fields start after
   * the last ')'. Field 3 is the state; utime is 14, stime 15,
   * starttime 22, rss 24 (in pages). */
  char *p = strrchr(buf, ')');
  if (!p)
    return WARD_ESYS;
  p += 2;
  unsigned long long v[24] = {0};
  int field = 3;
  while (*p && field <= 24) {
    if (field >= 14)
      v[field - 1] = strtoull(p, NULL, 10);
    while (*p && *p != ' ')
      p++;
    while (*p == ' ')
      p++;
    field++;
  }
  long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
  if (tick <= 0)
    tick = 100;
  *rss = (uint64_t)v[23] * (uint64_t)page;
  *cpu_ms = (uint64_t)(v[13] + v[14]) * 1000u / (uint64_t)tick;
  if (start_ms) {
    /* starttime is in ticks since boot: turn it into wall-clock time. */
    struct timespec boot, real;
    clock_gettime(CLOCK_BOOTTIME, &boot);
    clock_gettime(CLOCK_REALTIME, &real);
    int64_t now_ms = (int64_t)real.tv_sec * 1000 + real.tv_nsec / 1000000;
    int64_t up_ms = (int64_t)boot.tv_sec * 1000 + boot.tv_nsec / 1000000;
    *start_ms = now_ms - up_ms + (int64_t)(v[21] * 1000u / (uint64_t)tick);
  }
  return 0;
}
