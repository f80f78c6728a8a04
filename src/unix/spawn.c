/*
 * spawn.c — starting a child with posix_spawn, as every POSIX system can
 * (shared by the backends: the portable one spawns so always, the Linux
 * one where its cloning spawn cannot be had).
 *
 * The child gets its own process group, stdin on /dev/null, stdout and
 * stderr as asked, the channel at its place, default dispositions for the
 * signals a host commonly handles or ignores, an empty signal mask and
 * its working directory. Descriptors the program left inheritable (not
 * close-on-exec) are closed in the child where the C library can say so:
 * posix_spawn_file_actions_addclosefrom_np (glibc 2.34, FreeBSD 13) or
 * POSIX_SPAWN_CLOEXEC_DEFAULT (macOS); elsewhere they are inherited
 * (docs/platforms.md). Every descriptor ward opens is close-on-exec
 * anyway. The cost of the close grows with the descriptors the host holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "unix.h"
#include "ward_int.h"

#if (defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)) || \
    (defined(__FreeBSD__) && __FreeBSD__ >= 13)
#define HAVE_ADDCLOSEFROM 1
#else
#define HAVE_ADDCLOSEFROM 0
#endif

#ifdef POSIX_SPAWN_CLOEXEC_DEFAULT
#define CLOEXEC_DEFAULT POSIX_SPAWN_CLOEXEC_DEFAULT
#else
#define CLOEXEC_DEFAULT 0
#endif

/* The working directory: the _np call of glibc, macOS and FreeBSD, else
 * POSIX 2024's name for it. */
#if defined(__GLIBC__) || defined(__APPLE__) || defined(__FreeBSD__)
#define ADDCHDIR posix_spawn_file_actions_addchdir_np
#else
#define ADDCHDIR posix_spawn_file_actions_addchdir
#endif

/* Signals a host may ignore or handle that a worker should start with at
 * their defaults (ignored dispositions survive exec otherwise). */
void ward__unix_default_signals(sigset_t *set) {
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
    int how = i ? a->err_how : a->out_how;
    if (how == WARD__STDIO_NULL)
      e = posix_spawn_file_actions_addopen(fa, 1 + i, "/dev/null", O_WRONLY, 0);
    else if (how == WARD__STDIO_FD)
      e = posix_spawn_file_actions_adddup2(fa, i ? a->err_fd : a->out_fd, 1 + i);
  }
  int at = a->chan_at > 0 ? a->chan_at : WARD__UNIX_CHAN_FD;
  if (!e && a->chan_fd >= 0)
    e = posix_spawn_file_actions_adddup2(fa, a->chan_fd, at);
  /* Whatever else the host has open, close-on-exec or not, stays behind
   * (closing a descriptor that is not open is no error here). */
  for (int fd = WARD__UNIX_CHAN_FD; !e && a->chan_fd >= 0 && fd < at; fd++)
    e = posix_spawn_file_actions_addclose(fa, fd);
#if HAVE_ADDCLOSEFROM
  if (!e)
    e = posix_spawn_file_actions_addclosefrom_np(fa, a->chan_fd >= 0 ? at + 1 : WARD__UNIX_CHAN_FD);
#endif
  if (!e && a->cwd)
    e = ADDCHDIR(fa, a->cwd);
  return e;
}

static int build_attr(posix_spawnattr_t *at) {
  int e = posix_spawnattr_init(at);
  if (e)
    return e;
  sigset_t none, defs;
  sigemptyset(&none);
  ward__unix_default_signals(&defs);
  e = posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                       POSIX_SPAWN_SETSIGDEF | CLOEXEC_DEFAULT);
  if (!e)
    e = posix_spawnattr_setpgroup(at, 0);
  if (!e)
    e = posix_spawnattr_setsigmask(at, &none);
  if (!e)
    e = posix_spawnattr_setsigdefault(at, &defs);
  return e;
}

/* posix_spawn has no attribute for it: the nice value is set from here,
 * just after the start (so the child's first instructions run at the
 * host's). Best effort, as in the Linux child: a raise the host may not
 * give is left out. */
void ward__unix_nice(int pid, int nice) {
  if (!nice)
    return;
  errno = 0;
  int now = getpriority(PRIO_PROCESS, 0);
  if (now == -1 && errno)
    return;
  int want = now + nice;
  setpriority(PRIO_PROCESS, (id_t)pid, want < -20 ? -20 : want > 19 ? 19 : want);
}

int ward__unix_spawn(ward__proc *p, const ward__spawn_args *a) {
  ward__spawn_args args = *a;
  int moved = -1;
  /* dup2(n, n) would keep close-on-exec set, and the descriptors below
   * its place are closed: move the channel above it. */
  int place = args.chan_at > 0 ? args.chan_at : WARD__UNIX_CHAN_FD;
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
  ward__unix_nice(pid, args.nice);
  return 0;
}

