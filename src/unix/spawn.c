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
 *
 * posix_spawn can neither switch the child to another user nor set its
 * umask: a start that asks for either (ward_spec_user, ward_spec_umask)
 * forks and execs instead, the child doing the same steps itself, with
 * async-signal-safe calls alone (the host has threads), and reporting a
 * failure on a close-on-exec pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

int ward__unix_spawn_failed(const ward__spawn_args *a, int stage, int err) {
  char text[700];
  int code = WARD_ESPAWN;
  switch (stage) {
  case WARD__SPAWN_CREDS:
    code = err == EPERM ? WARD_EPERM : WARD_ESPAWN;
    if (err == EPERM && geteuid() != 0)
      snprintf(text, sizeof text,
               "spawn '%.200s': cannot run as user %u (group %u): %s (the host runs as uid %u, "
               "not as root)",
               a->exe, (unsigned)a->uid, (unsigned)a->gid, strerror(err), (unsigned)geteuid());
    else
      snprintf(text, sizeof text, "spawn '%.200s': cannot run as user %u (group %u): %s", a->exe,
               (unsigned)a->uid, (unsigned)a->gid, strerror(err));
    break;
  case WARD__SPAWN_CWD:
    snprintf(text, sizeof text, "spawn '%.200s': working directory '%.300s': %s", a->exe,
             a->cwd, strerror(err));
    break;
  default:
    snprintf(text, sizeof text, "spawn '%.200s': %s", a->exe, strerror(err));
    break;
  }
  return ward__fail_keep(code, err, text);
}

/* What the fork below reports from the child. */
typedef struct fork_report {
  int stage;
  int err;
} fork_report;

/* In the child: says why it failed, and ends. */
static _Noreturn void fork_fail(int fd, int stage, int err) {
  fork_report r = {stage, err};
  ssize_t n = write(fd, &r, sizeof r);
  (void)n;
  _exit(127);
}

/* In the child: `from` to `to`, not close-on-exec. */
static int fork_place(int from, int to) {
  if (from == to)
    return fcntl(to, F_SETFD, 0);
  return dup2(from, to) < 0 ? -1 : 0;
}

/* In the child: every descriptor from `low` up closed. */
static void fork_close_from(int low) {
#if HAVE_ADDCLOSEFROM
  closefrom(low);
#else
  long max = sysconf(_SC_OPEN_MAX);
  for (long fd = low; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
    close((int)fd);
#endif
}

/* In the child: execvp's search (not itself safe after fork), as the Linux
 * child does it: the first that runs, else EACCES if one was refused,
 * else the last error. */
static void fork_exec(const ward__spawn_args *a, const char *path) {
  if (strchr(a->exe, '/') || !path) {
    execve(a->exe, a->argv, a->envp);
    return;
  }
  size_t flen = strlen(a->exe);
  int err = ENOENT, eacces = 0;
  for (const char *p = path;;) {
    size_t dlen = strcspn(p, ":");
    char buf[PATH_MAX];
    if (dlen + flen + 2 <= sizeof buf) {
      memcpy(buf, p, dlen);
      size_t k = dlen;
      if (dlen)
        buf[k++] = '/';
      memcpy(buf + k, a->exe, flen + 1);
      execve(buf, a->argv, a->envp);
      err = errno;
      if (err == EACCES)
        eacces = 1;
      else if (err != ENOENT && err != ESTALE && err != ENOTDIR && err != ENODEV &&
               err != ETIMEDOUT)
        break;
    }
    if (!p[dlen])
      break;
    p += dlen + 1;
  }
  errno = eacces ? EACCES : err;
}

/* The child of fork_spawn: what posix_spawn would do, and the user and
 * umask. `rep` (above every descriptor it keeps) says why it failed. */
static _Noreturn void fork_child(const ward__spawn_args *a, int at, int rep, const char *path,
                                 const sigset_t *defs) {
  /* Handlers the host installed go before signals are let in; the
   * dispositions the host commonly ignores too. */
  for (int sig = 1; sig < NSIG; sig++) {
    struct sigaction sa;
    if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) != 0)
      continue;
    if ((sa.sa_flags & SA_SIGINFO) || (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN) ||
        (sa.sa_handler == SIG_IGN && sigismember(defs, sig) == 1))
      signal(sig, SIG_DFL);
  }
  if (setpgid(0, 0) != 0)
    fork_fail(rep, WARD__SPAWN_SETUP, errno);
  int null_rd = open("/dev/null", O_RDONLY);
  if (null_rd < 0 || fork_place(null_rd, 0) != 0)
    fork_fail(rep, WARD__SPAWN_SETUP, errno);
  for (int i = 1; i <= 2; i++) {
    int how = i == 1 ? a->out_how : a->err_how;
    int from = how == WARD__STDIO_FD ? (i == 1 ? a->out_fd : a->err_fd)
               : how == WARD__STDIO_NULL ? open("/dev/null", O_WRONLY)
                                         : i;
    if (from < 0 || fork_place(from, i) != 0)
      fork_fail(rep, WARD__SPAWN_SETUP, errno);
  }
  int keep = 2;
  if (a->chan_fd >= 0) {
    if (fork_place(a->chan_fd, at) != 0)
      fork_fail(rep, WARD__SPAWN_SETUP, errno);
    for (int fd = 3; fd < at; fd++)
      close(fd);
    keep = at;
  }
  /* The report pipe goes just above what the child keeps (its old number
   * may be anywhere), the rest is closed. */
  if (rep != keep + 1 && dup2(rep, keep + 1) < 0)
    fork_fail(rep, WARD__SPAWN_SETUP, errno);
  rep = keep + 1;
  fcntl(rep, F_SETFD, FD_CLOEXEC);
  fork_close_from(rep + 1);
  if (a->set_ids && (setgroups((int)a->ngroups, (const gid_t *)a->groups) != 0 ||
                     setgid((gid_t)a->gid) != 0 || setuid((uid_t)a->uid) != 0))
    fork_fail(rep, WARD__SPAWN_CREDS, errno);
  if (a->cwd && chdir(a->cwd) != 0)
    fork_fail(rep, WARD__SPAWN_CWD, errno);
  if (a->set_umask)
    umask((mode_t)a->umask);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  fork_exec(a, path);
  fork_fail(rep, WARD__SPAWN_EXEC, errno);
}

/* Starts the child with fork and exec (see the top). `args` has its
 * channel above its place already. */
static int fork_spawn(ward__proc *p, const ward__spawn_args *a, int at) {
  int rp[2];
  if (pipe(rp) != 0)
    return ward__fail_sys(WARD_ESYS, errno, "pipe (spawn report)");
  /* Both ends close-on-exec, and above every descriptor the child places. */
  int low = at + 1, ends[2];
  for (int i = 0; i < 2; i++) {
    ends[i] = fcntl(rp[i], F_DUPFD_CLOEXEC, low);
    close(rp[i]);
  }
  if (ends[0] < 0 || ends[1] < 0) {
    int e = errno;
    ward__close(ends[0]);
    ward__close(ends[1]);
    return ward__fail_sys(WARD_ESYS, e, "fcntl (spawn report)");
  }
  const char *path = getenv("PATH");
  if (!path)
    path = "/bin:/usr/bin"; /* as the C library's execvp */
  sigset_t defs, all, old;
  ward__unix_default_signals(&defs);
  sigfillset(&all);
  /* No handler of the host runs in the child before it resets them. */
  pthread_sigmask(SIG_BLOCK, &all, &old);
  pid_t pid = fork();
  if (pid == 0)
    fork_child(a, at, ends[1], path, &defs);
  int fork_err = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(ends[1]);
  if (pid < 0) {
    close(ends[0]);
    return ward__fail_sys(WARD_ESYS, fork_err, "fork");
  }
  fork_report r = {0, 0};
  ssize_t got;
  do
    got = read(ends[0], &r, sizeof r);
  while (got < 0 && errno == EINTR);
  close(ends[0]);
  if (got == (ssize_t)sizeof r) {
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    return ward__unix_spawn_failed(a, r.stage, r.err);
  }
  p->pid = pid;
  return 0;
}

/* posix_spawn says ENOENT for a missing working directory as for a
 * missing program: which it was is looked at here (the child would have
 * had the host's rights). */
static int spawn_error(const ward__spawn_args *a, int e) {
  struct stat st;
  if (a->cwd && (e == ENOENT || e == EACCES || e == ENOTDIR) &&
      (stat(a->cwd, &st) != 0 || !S_ISDIR(st.st_mode) || access(a->cwd, X_OK) != 0))
    return ward__unix_spawn_failed(a, WARD__SPAWN_CWD,
                                   stat(a->cwd, &st) != 0 ? errno
                                   : S_ISDIR(st.st_mode) ? EACCES
                                                         : ENOTDIR);
  return ward__unix_spawn_failed(a, WARD__SPAWN_EXEC, e);
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
  if (args.set_ids || args.set_umask) {
    int rv = fork_spawn(p, &args, args.chan_fd >= 0 ? place : 2);
    ward__close(moved);
    if (!rv)
      ward__unix_nice(p->pid, args.nice);
    return rv;
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
    return spawn_error(&args, e);
  }
  p->pid = pid;
  ward__unix_nice(pid, args.nice);
  return 0;
}

