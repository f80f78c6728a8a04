/*
 * spawn.c — starting, signalling and reaping worker processes, and their
 * resource figures from /proc (Linux).
 *
 * Design notes
 * ------------
 * Starting a child must cost the same in a host holding ten descriptors
 * as in one holding thirty thousand (8,000 workers hold four each). A
 * plain fork, vfork or posix_spawn copies the parent's whole descriptor
 * table into the child, which must then close each of them (or exec
 * closes the close-on-exec ones): work for every descriptor the host has,
 * on every spawn, about 0.1 us each.
 *
 * So the child is cloned sharing the host's table (CLONE_FILES, with
 * CLONE_VM and CLONE_VFORK as posix_spawn does, so that the host's memory
 * is not copied either), and its first act is
 * close_range(keep, ~0U, CLOSE_RANGE_UNSHARE): the kernel gives it a table
 * of its own holding the descriptors below `keep` alone, without looking
 * at the others. What the child is to keep must therefore sit below
 * `keep`: each host has a spawner holding five descriptor slots, taken at
 * the lowest free numbers from 3 on when the host is created (two on
 * /dev/null, three placeholders). Before each spawn the host puts the
 * child's channel and output pipes into the placeholders, and afterwards
 * /dev/null back. A host's spawns happen one at a time (on its loop), so
 * the slots need no lock; a child of another host that copies them drops
 * them like anything else it did not ask for. The child places its
 * descriptors, marks the rest of its small table close-on-exec, and
 * carries on as posix_spawn would: its own process group, default signal
 * handling, the working directory, an empty signal mask, exec.
 *
 * A start so costs nothing for the descriptors opened after the host was
 * created, workers' included; those the program had open before (below
 * the slots) are still copied into each child, as by posix_spawn: a
 * program with thousands open creates its host first.
 *
 * The child shares the host's memory until it execs, on a stack of its
 * own: it calls nothing but system calls, and handlers the host installed
 * are reset before signals are let in, so none can run in it. Under
 * ThreadSanitizer, whose clone interceptor treats every clone as a fork,
 * the memory is not shared (the report, and the stack, live in a shared
 * mapping for that reason).
 *
 * Where this cannot work, ward falls back to posix_spawn with a closefrom
 * action, whose cost grows with every descriptor the host holds: under
 * valgrind (which follows no clone but a fork's or a thread's), on a
 * kernel without pidfds (before 5.3, so without close_range either;
 * WARD_NO_PIDFD=1 makes ward behave so), and from the first spawn whose
 * clone or close_range is refused (a seccomp filter, a kernel before
 * 5.11).
 *
 * Exec failures come back as an errno with the failed child already
 * reaped, in both ways. Exits are observed through a pidfd so there is no
 * global SIGCHLD handler and no pid-reuse race.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

#include "cgroup.h"
#include "jail.h"
#include "unix.h"

/* ioprio_set's `which` for one process (<linux/ioprio.h>, not in every
 * set of kernel headers). */
#define IOPRIO_WHO_PROCESS_ 1
#include "ward_int.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define CHAN_FD WARD__UNIX_CHAN_FD

/* How long a reap waits for the processes its cgroup.kill ended to be
 * gone before the directory can go (a dying process takes a moment). */
#define REMOVE_WAIT_MS 1000

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

#if defined(__SANITIZE_THREAD__)
#define WARD_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WARD_TSAN 1
#endif
#endif

/* clone3's arguments as far as the cgroup (<linux/sched.h>'s struct
 * clone_args of 5.7, spelled out: not every set of headers has it). */
typedef struct clone3_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
      set_tid_size, cgroup;
} clone3_args;

#define CLONE_INTO_CGROUP_ 0x200000000ULL

/* The C library has no clone3 call, and its syscall() cannot be used for
 * one whose child shares the memory: the child would return into the
 * caller's frames on a stack of its own. So a few instructions do it:
 * the child calls fn(arg) on the stack it was given and exits with its
 * value (it never returns here); the parent gets the pid, or -errno.
 * x86-64 alone, the one measured and tested; elsewhere, and under
 * ThreadSanitizer (which must see every clone, as its interceptor),
 * children are moved into their cgroups instead. */
#if defined(__x86_64__) && defined(SYS_clone3) && !defined(WARD_TSAN)
#define WARD_CLONE3 1
static long clone3_run(clone3_args *ca, int (*fn)(void *), void *arg) {
  register long rax __asm__("rax") = SYS_clone3;
  register clone3_args *rdi __asm__("rdi") = ca;
  register long rsi __asm__("rsi") = (long)sizeof *ca;
  register int (*r12)(void *) __asm__("r12") = fn;
  register void *r13 __asm__("r13") = arg;
  __asm__ volatile("syscall\n\t"
                   "test %%rax, %%rax\n\t"
                   "jnz 1f\n\t"
                   "xor %%ebp, %%ebp\n\t"
                   "mov %%r13, %%rdi\n\t"
                   "call *%%r12\n\t"
                   "mov %%eax, %%edi\n\t"
                   "mov %[exit], %%eax\n\t"
                   "syscall\n\t"
                   "hlt\n"
                   "1:"
                   : "+r"(rax)
                   : "r"(rdi), "r"(rsi), "r"(r12), "r"(r13), [exit] "i"(SYS_exit_group)
                   : "rcx", "r11", "memory", "cc");
  return rax;
}
#else
#define WARD_CLONE3 0
static long clone3_run(clone3_args *ca, int (*fn)(void *), void *arg) {
  (void)ca, (void)fn, (void)arg;
  return -ENOSYS;
}
#endif

/* Starts that moved their process into its cgroup (ward__trees_moves). */
static _Atomic unsigned long cg_moves;

unsigned long ward__trees_moves(void) { return atomic_load(&cg_moves); }

/* ------------------------------------------------------------------ */
/* The spawner: slots low in the table, a stack for the child          */

enum { SLOT_CHAN, SLOT_OUT, SLOT_ERR, SLOT_NULL_RD, SLOT_NULL_WR, NSLOTS };

/* The child's stack, with its report at the bottom. */
#define CHILD_MAP (64 * 1024)

/* Why a child failed: the kernel lacks what it needs (close_range with
 * CLOSE_RANGE_UNSHARE from 5.9, CLOSE_RANGE_CLOEXEC from 5.11; the host
 * falls back to posix_spawn), or its start or exec failed. */
enum { STAGE_OK = 0, STAGE_KERNEL, STAGE_SETUP, STAGE_EXEC, STAGE_SANDBOX, STAGE_CREDS,
       STAGE_CWD };

/* The kernel's own id calls: glibc's setuid and friends make every thread
 * of the process change (the child shares the host's threads' memory, not
 * their ids). Where the plain numbers are the 16-bit calls of old (i386,
 * arm), the 32-bit ones. */
#ifdef SYS_setresuid32
#define SYS_SETRESUID_ SYS_setresuid32
#define SYS_SETRESGID_ SYS_setresgid32
#define SYS_SETGROUPS_ SYS_setgroups32
#else
#define SYS_SETRESUID_ SYS_setresuid
#define SYS_SETRESGID_ SYS_setresgid
#define SYS_SETGROUPS_ SYS_setgroups
#endif
_Static_assert(sizeof(gid_t) == sizeof(uint32_t), "the groups are passed as the kernel's gid_t");

typedef struct child_report {
  int stage;
  int err;
  int step; /* STAGE_SANDBOX: which (WARD__JAIL_STEP_*) */
  int cg_err; /* its move into its cgroup failed: the errno */
} child_report;

struct ward__spawner {
  int slot[NSLOTS]; /* -1 when the fallback is in use */
  unsigned keep;    /* one above the highest slot: what a child copies */
  char *map;        /* MAP_SHARED: the report, then the child's stack */
  int fast;         /* 0: posix_spawn */
  int clone3;       /* 1: children are born in their cgroups (clone3) */
};

/* /dev/null at the lowest free number from 3 on: descriptors 0 to 2 are
 * the host's own stdio, free or not. */
static int low_null(int flags) {
  int fd = open("/dev/null", flags | O_CLOEXEC);
  if (fd >= 0 && fd < 3) {
    int up = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    fd = up;
  }
  return fd;
}

/* Whether the clone below can work here (see the design notes). Valgrind
 * is asked, where its header was found at build time, else recognised by
 * the library it preloads. */
static int fast_possible(void) {
#ifdef RUNNING_ON_VALGRIND
  if (RUNNING_ON_VALGRIND)
    return 0;
#else
  const char *pre = getenv("LD_PRELOAD");
  if (pre && strstr(pre, "/vgpreload_"))
    return 0;
#endif
  int fd = pidfd_open_(getpid());
  if (fd < 0)
    return 0;
  close(fd);
  return 1;
}

int ward__spawner_new(ward__spawner **out) {
  ward__spawner *sp = calloc(1, sizeof *sp);
  if (!sp)
    return WARD_ENOMEM;
  for (int i = 0; i < NSLOTS; i++)
    sp->slot[i] = -1;
  sp->fast = fast_possible();
  const char *no3 = getenv("WARD_NO_CLONE3");
  sp->clone3 = WARD_CLONE3 && !(no3 && *no3 == '1');
  if (sp->fast) {
    sp->map = mmap(NULL, CHILD_MAP, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (sp->map == MAP_FAILED) {
      int e = errno;
      free(sp);
      return ward__fail_sys(WARD_ESYS, e, "mmap (spawn stack)");
    }
    for (int i = 0; i < NSLOTS; i++) {
      sp->slot[i] = low_null(i == SLOT_NULL_WR ? O_WRONLY : O_RDONLY);
      if (sp->slot[i] < 0) {
        int e = errno;
        ward__spawner_free(sp);
        return ward__fail_sys(WARD_ESYS, e, "open /dev/null (spawn slots)");
      }
      if ((unsigned)sp->slot[i] >= sp->keep)
        sp->keep = (unsigned)sp->slot[i] + 1;
    }
  }
  *out = sp;
  return 0;
}

void ward__spawner_free(ward__spawner *sp) {
  if (!sp)
    return;
  for (int i = 0; i < NSLOTS; i++)
    ward__close(sp->slot[i]);
  if (sp->map && sp->map != MAP_FAILED)
    munmap(sp->map, CHILD_MAP);
  free(sp);
}

/* ------------------------------------------------------------------ */
/* The child of the clone                                              */

/* What the child reads; it lives on the host's stack (shared, or copied
 * under ThreadSanitizer) and the child never writes to it. */
typedef struct child_args {
  const ward__spawner *sp;
  const ward__spawn_args *a;
  int chan_at;
  const char *path;    /* PATH, for a bare executable name */
  unsigned long defs;  /* default_signals(), bit sig - 1 for each */
  child_report *rep;
  int cg_fd;           /* its cgroup's cgroup.procs, or -1 */
} child_args;

/* The kernel's struct sigaction (rt_sigaction), not the C library's. */
typedef struct ksigaction {
  void *handler;
  unsigned long flags;
  void *restorer;
  unsigned long mask;
} ksigaction;

/* The child runs on memory it shares with the host: no instrumentation,
 * and nothing but system calls. */
#define CHILD_CODE WARD__CHILD_CODE

CHILD_CODE static _Noreturn void child_fail(const child_args *c, int stage, int err) {
  c->rep->err = err;
  c->rep->stage = stage;
  syscall(SYS_exit_group, 127);
  for (;;) {
  }
}

/* Handlers the host installed go (they would run on the host's memory),
 * and so do the dispositions in default_signals(); other ignored signals
 * stay ignored, as posix_spawn leaves them. */
CHILD_CODE static void child_signals(unsigned long defs) {
  ksigaction dfl = {SIG_DFL, 0, NULL, 0};
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP)
      continue;
    ksigaction old;
    if (syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof old.mask) != 0)
      continue;
    if ((old.handler != SIG_DFL && old.handler != SIG_IGN) ||
        (old.handler == SIG_IGN && (defs >> (sig - 1) & 1)))
      syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
  }
}

/* Moves `from` to `to` without close-on-exec (dup3 refuses from == to). */
CHILD_CODE static long child_place(int from, int to) {
  if (from == to)
    return syscall(SYS_fcntl, to, F_SETFD, 0);
  return syscall(SYS_dup3, from, to, 0);
}

/* stdin on /dev/null, stdout and stderr, the channel at its place, and
 * nothing else once it execs. The slots are all at 3 or above, so 0 to 2
 * can be set first; the channel comes last, as its place may be a slot. */
CHILD_CODE static void child_fds(const child_args *c) {
  const int *slot = c->sp->slot;
  const ward__spawn_args *a = c->a;
  if (child_place(slot[SLOT_NULL_RD], 0) < 0)
    child_fail(c, STAGE_SETUP, errno);
  for (int i = 1; i <= 2; i++) {
    int how = i == 1 ? a->out_how : a->err_how;
    int from = how == WARD__STDIO_NULL ? slot[SLOT_NULL_WR]
               : how == WARD__STDIO_FD ? slot[i == 1 ? SLOT_OUT : SLOT_ERR]
                                       : -1;
    if (from >= 0 && child_place(from, i) < 0)
      child_fail(c, STAGE_SETUP, errno);
  }
  /* The rest is marked close-on-exec rather than closed: exec closes a
   * descriptor for a tenth of what close_range does. */
  unsigned first = 3;
  if (a->chan_fd >= 0) {
    if (child_place(slot[SLOT_CHAN], c->chan_at) < 0)
      child_fail(c, STAGE_SETUP, errno);
    if (c->chan_at > 3 &&
        syscall(SYS_close_range, 3u, (unsigned)c->chan_at - 1, (unsigned)CLOSE_RANGE_CLOEXEC))
      child_fail(c, STAGE_KERNEL, errno);
    first = (unsigned)c->chan_at + 1;
  }
  if (syscall(SYS_close_range, first, ~0u, (unsigned)CLOSE_RANGE_CLOEXEC))
    child_fail(c, STAGE_KERNEL, errno);
}

/* execvp's search, as posix_spawnp does it: the first that runs, else
 * EACCES if one was found but refused, else the last error. */
CHILD_CODE static void child_exec_path(const child_args *c) {
  const ward__spawn_args *a = c->a;
  char buf[PATH_MAX];
  size_t flen = 0;
  while (a->exe[flen])
    flen++;
  int err = ENOENT, eacces = 0;
  for (const char *p = c->path; flen;) {
    size_t dlen = 0;
    while (p[dlen] && p[dlen] != ':')
      dlen++;
    if (dlen + flen + 2 <= sizeof buf) {
      size_t k = 0;
      for (size_t i = 0; i < dlen; i++)
        buf[k++] = p[i];
      if (dlen)
        buf[k++] = '/';
      for (size_t i = 0; i <= flen; i++)
        buf[k++] = a->exe[i];
      syscall(SYS_execve, buf, a->argv, a->envp);
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
  child_fail(c, STAGE_EXEC, eacces ? EACCES : err);
}

/* The class's priorities (ward_spec_priority). Best effort: a raise the
 * process may not have (a negative nice without CAP_SYS_NICE) is left
 * out rather than failing the start. getpriority's system call answers
 * 20 - nice, never negative. */
CHILD_CODE static void child_priority(const ward__spawn_args *a) {
  if (a->nice) {
    long k = syscall(SYS_getpriority, PRIO_PROCESS, 0);
    long want = k >= 0 ? 20 - k + a->nice : 0;
    if (k >= 0)
      syscall(SYS_setpriority, PRIO_PROCESS, 0, want < -20 ? -20 : want > 19 ? 19 : want);
  }
  if (a->ioprio)
    syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS_, 0, a->ioprio);
}

/* The user and groups of ward_spec_user: the supplementary groups first,
 * then the group, then the user (after which no id may change). */
CHILD_CODE static void child_creds(const child_args *c) {
  const ward__spawn_args *a = c->a;
  if (!a->set_ids)
    return;
  if (syscall(SYS_SETGROUPS_, a->ngroups, a->groups) != 0 ||
      syscall(SYS_SETRESGID_, a->gid, a->gid, a->gid) != 0 ||
      syscall(SYS_SETRESUID_, a->uid, a->uid, a->uid) != 0)
    child_fail(c, STAGE_CREDS, errno);
}

CHILD_CODE static int child_main(void *arg) {
  const child_args *c = arg;
  const ward__jail *jail = c->a->jail;
  int err;
  /* Into its cgroup before anything else, so that all it ever starts is
   * there too ("0": the writer). A refusal leaves it in its process group
   * alone: the host sees cg_err. */
  if (c->cg_fd >= 0 && syscall(SYS_write, c->cg_fd, "0", 1) != 1)
    c->rep->cg_err = errno ? errno : EIO;
  /* The sandbox's first steps, while the host's descriptors (the
   * Landlock ruleset's among them) are still in view (sandbox.c). */
  if (jail && (err = ward__jail_enter(jail, &c->rep->step)) != 0)
    child_fail(c, STAGE_SANDBOX, err);
  /* A table of its own with the descriptors below `keep` alone. */
  if (syscall(SYS_close_range, c->sp->keep, ~0u, (unsigned)CLOSE_RANGE_UNSHARE) != 0)
    child_fail(c, STAGE_KERNEL, errno);
  child_signals(c->defs);
  if (syscall(SYS_setpgid, 0, 0) != 0)
    child_fail(c, STAGE_SETUP, errno);
  child_fds(c);
  /* Priorities first: a lower nice value is no longer allowed once the
   * process has become another user. The directory is then entered as
   * that user. */
  child_priority(c->a);
  child_creds(c);
  if (c->a->cwd && syscall(SYS_chdir, c->a->cwd) != 0)
    child_fail(c, STAGE_CWD, errno);
  if (c->a->set_umask)
    syscall(SYS_umask, c->a->umask);
  if (jail && (err = ward__jail_seal(jail, &c->rep->step)) != 0)
    child_fail(c, STAGE_SANDBOX, err);
  unsigned long none = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
  if (c->path)
    child_exec_path(c);
  syscall(SYS_execve, c->a->exe, c->a->argv, c->a->envp);
  child_fail(c, STAGE_EXEC, errno);
}

/* ------------------------------------------------------------------ */
/* Spawning                                                            */


/* Puts the child's descriptors into the slots (`on`), or /dev/null back. */
static int fill_slots(ward__spawner *sp, const ward__spawn_args *a, int on) {
  const int src[3] = {a->chan_fd, a->out_how == WARD__STDIO_FD ? a->out_fd : -1,
                      a->err_how == WARD__STDIO_FD ? a->err_fd : -1};
  for (int i = 0; i < 3; i++) {
    if (src[i] < 0)
      continue;
    if (dup3(on ? src[i] : sp->slot[SLOT_NULL_RD], sp->slot[i], O_CLOEXEC) < 0 && on)
      return ward__fail_sys(WARD_ESYS, errno, "dup3 (spawn slot)");
  }
  return 0;
}

/* The clone, the child born in its cgroup where it can be: the pid, or
 * -1 with errno. A clone3 that fails is followed by a clone (the child
 * then moves itself in); one refused as unknown or not allowed here,
 * where the clone works, is not tried again. */
static pid_t clone_child(ward__spawner *sp, child_args *c, int flags, const ward__cg *cg) {
  int e3 = 0;
  if (sp->clone3 && cg && cg->dir_fd >= 0) {
    clone3_args ca = {0};
    ca.flags = (uint64_t)(flags & ~CSIGNAL) | CLONE_INTO_CGROUP_;
    ca.exit_signal = SIGCHLD;
    /* The report sits at the bottom of the map; the stack grows down
     * from its top, as for clone. */
    ca.stack = (uint64_t)(uintptr_t)(sp->map + 256);
    ca.stack_size = CHILD_MAP - 256;
    ca.cgroup = (uint64_t)cg->dir_fd;
    c->cg_fd = -1;
    long pid = clone3_run(&ca, child_main, c);
    if (pid > 0)
      return (pid_t)pid;
    e3 = (int)-pid;
    c->cg_fd = cg->procs_fd;
  }
  pid_t pid = clone(child_main, sp->map + CHILD_MAP, flags, c);
  if (pid > 0 && (e3 == ENOSYS || e3 == E2BIG || e3 == EINVAL || e3 == EPERM))
    sp->clone3 = 0;
  return pid;
}

/* Clones the child (see the design notes). 1: the clone is not to be had
 * here, use the fallback; 0 or an error otherwise. */
static int spawn_clone(ward__spawner *sp, ward__proc *p, const ward__spawn_args *a,
                       ward__cg *cg) {
  child_report *rep = (child_report *)(void *)sp->map;
  rep->stage = STAGE_OK;
  rep->err = 0;
  rep->step = 0;
  rep->cg_err = 0;
  const char *path = NULL;
  if (!strchr(a->exe, '/')) {
    path = getenv("PATH");
    if (!path)
      path = "/bin:/usr/bin"; /* as the C library's execvp */
  }
  sigset_t defs;
  ward__unix_default_signals(&defs);
  child_args c = {sp, a, a->chan_at > 0 ? a->chan_at : CHAN_FD, path, 0, rep,
                  cg ? cg->procs_fd : -1};
  for (int sig = 1; sig <= 64; sig++)
    if (sigismember(&defs, sig) == 1)
      c.defs |= 1ul << (sig - 1);
  int rv = fill_slots(sp, a, 1);
  if (rv) {
    fill_slots(sp, a, 0);
    return rv;
  }
  int flags = CLONE_VFORK | CLONE_FILES | SIGCHLD;
#ifndef WARD_TSAN
  flags |= CLONE_VM;
#endif
  if (a->jail)
    flags |= a->jail->clone_flags;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  pid_t pid = clone_child(sp, &c, flags, cg);
  int e = errno;
  if (pid > 0 && c.cg_fd >= 0)
    atomic_fetch_add(&cg_moves, 1);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  fill_slots(sp, a, 0);
  if (pid < 0) {
    if (a->jail && a->jail->clone_flags) {
      errno = e;
      return 2; /* the namespaces were refused */
    }
    if (e == EINVAL || e == ENOSYS || e == EPERM)
      return 1;
    return ward__fail_sys(WARD_ESYS, e, "clone");
  }
  if (rep->stage != STAGE_OK) {
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    if (rep->stage == STAGE_KERNEL)
      return 1;
    if (rep->stage == STAGE_SANDBOX) {
      ward__fail_sys(WARD_ESPAWN, rep->err, "sandbox");
      return ward__fail(WARD_ESPAWN, "spawn '%s': sandbox: %s: %s", a->exe,
                        ward__jail_step_name(rep->step), strerror(rep->err));
    }
    return ward__unix_spawn_failed(a,
                                   rep->stage == STAGE_CREDS ? WARD__SPAWN_CREDS
                                   : rep->stage == STAGE_CWD ? WARD__SPAWN_CWD
                                   : rep->stage == STAGE_EXEC ? WARD__SPAWN_EXEC
                                                              : WARD__SPAWN_SETUP,
                                   rep->err);
  }
  p->pid = pid;
  return 0;
}

/* Namespaces refused (without privilege, where the kernel allows no user
 * namespace): without them if best effort, else ENOTSUP. */
static int spawn_without_namespaces(ward__spawner *sp, ward__proc *p,
                                    const ward__spawn_args *a, ward__cg *cg) {
  ward__jail *j = a->jail;
  int e = errno;
  if (!j->best_effort) {
    ward__fail_sys(WARD_ESPAWN, ENOTSUP, "sandbox");
    return ward__fail(WARD_ESPAWN,
                      "spawn '%s': sandbox: new namespaces refused (clone: %s), and "
                      "best_effort is 0",
                      a->exe, strerror(e));
  }
  j->clone_flags = 0;
  j->in_force &= ~(uint64_t)(WARD_SANDBOX_NEW_NET | WARD_SANDBOX_NEW_IPC | WARD_SANDBOX_NEW_PID);
  return spawn_clone(sp, p, a, cg);
}

/* A sandbox is applied by the cloning spawn's child alone: posix_spawn
 * cannot. Without it, a sandboxed start fails, or with best effort runs
 * with nothing in force. */
static int spawn_fallback(ward__proc *p, const ward__spawn_args *a) {
  if (a->jail && !a->jail->best_effort) {
    ward__fail_sys(WARD_ESPAWN, ENOTSUP, "sandbox");
    return ward__fail(WARD_ESPAWN,
                      "spawn '%s': sandbox: the cloning spawn that applies it is not "
                      "available here (valgrind, no pidfds, or close_range refused), and "
                      "best_effort is 0",
                      a->exe);
  }
  if (a->jail) {
    a->jail->in_force = 0;
    a->jail->landlock_abi = 0;
  }
  return ward__unix_spawn(p, a);
}

/* The process is in its cgroup (kept in p->os), or, where the move was
 * refused, in its process group alone (the cgroup goes). */
static void keep_cgroup(ward__proc *p, ward__cg *cg, int refused) {
  ward__cg_started(cg);
  if (refused) {
    ward__cg_remove(cg, 0);
    ward__cg_free(cg);
    return;
  }
  p->os = cg;
}

int ward__proc_spawn(ward__spawner *sp, ward__proc *p, const ward__spawn_args *a) {
  *p = (ward__proc)WARD__PROC_NONE;
  int rv = 1;
  /* Its cgroup, where the host has some to give (none is no failure). */
  ward__cg *cg = ward__cg_new(a->trees, a->limits);
  if (sp->fast) {
    rv = spawn_clone(sp, p, a, cg);
    if (rv == 2)
      rv = spawn_without_namespaces(sp, p, a, cg);
    if (rv == 1)
      sp->fast = 0; /* refused here: the fallback from now on */
    if (!rv && cg)
      keep_cgroup(p, cg, ((child_report *)(void *)sp->map)->cg_err != 0);
  }
  if (rv == 1) {
    rv = spawn_fallback(p, a); /* its nice value set from here */
    if (!rv && a->ioprio)
      syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS_, p->pid, a->ioprio);
    if (!rv && cg) {
      /* posix_spawn cannot place it: moved now, a moment after its exec. */
      char pid[16];
      int n = snprintf(pid, sizeof pid, "%d", p->pid);
      keep_cgroup(p, cg, write(cg->procs_fd, pid, (size_t)n) != n);
      atomic_fetch_add(&cg_moves, 1);
    }
  }
  if (rv) {
    if (cg) {
      ward__cg_started(cg);
      ward__cg_remove(cg, 1000);
      ward__cg_free(cg);
    }
    return rv;
  }
  p->started_ms = ward__wall_ms();
  p->watch = pidfd_open_(p->pid);
  if (p->watch < 0 && (errno == ENOSYS || errno == EPERM)) {
    /* No pidfds (an old kernel, valgrind, or a seccomp filter that refuses
     * syscalls it does not know with EPERM): the host polls instead. */
    return 0;
  }
  if (p->watch < 0) {
    int err = errno;
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
    ward__proc_close(p);
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
  idtype_t type = p->watch >= 0 ? (idtype_t)P_PIDFD : P_PID;
  id_t id = p->watch >= 0 ? (id_t)p->watch : (id_t)p->pid;
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
  ward__cg *cg = p->os;
  if (cg)
    ward__cg_kill(cg->path); /* the setsid() escapees too */
  memset(&si, 0, sizeof si);
  do
    r = waitid(type, id, &si, WEXITED | WNOHANG);
  while (r < 0 && errno == EINTR);
  if (cg) {
    /* The kernel's OOM kills, counted before the directory goes (that
     * file alone: the reap is on the way to a crashed call's end and the
     * restart). */
    cg->oom_kills = ward__cg_oom_kills(cg->path);
    ward__cg_remove(cg, REMOVE_WAIT_MS);
  }
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
  ward__cg *cg = p->os;
  if (cg && sig == SIGKILL)
    ward__cg_kill(cg->path);
  if (p->watch >= 0)
    pidfd_signal_(p->watch, sig);
  else
    kill(p->pid, sig);
}

void ward__proc_close(ward__proc *p) {
  ward__close(p->watch);
  p->watch = -1;
  ward__cg *cg = p->os;
  if (cg) {
    /* Removed at the reap, unless a process was still dying then: one
     * more try, else the host's directory takes it along at its end. */
    ward__cg_remove(cg, 0);
    ward__cg_free(cg);
    p->os = NULL;
  }
}

int ward__proc_oom_killed(const ward__proc *p) {
  const ward__cg *cg = p->os;
  return cg && cg->oom_kills > 0;
}

int ward__proc_tree(const ward__proc *p) {
  if (p->pid <= 0)
    return WARD_TREE_NONE;
  return p->os ? WARD_TREE_CGROUP : WARD_TREE_PGROUP;
}

int ward__proc_pause(ward__proc *p, int on) {
  if (p->pid <= 0)
    return ward__fail(WARD_EINVAL, "no process to pause");
  ward__cg *cg = p->os;
  if (cg) {
    int e = ward__cg_freeze(cg->path, on, 1000);
    return e ? ward__fail_sys(WARD_ESYS, e, "cgroup.freeze") : 0;
  }
  if (kill(-p->pid, on ? SIGSTOP : SIGCONT) != 0)
    return ward__fail_sys(WARD_ESYS, errno, on ? "SIGSTOP" : "SIGCONT");
  return 0;
}

void ward__proc_tree_stats(const ward__proc *p, ward__tree_stats *st) {
  const ward__cg *cg = p->os;
  st->memory = WARD_UNKNOWN;
  st->pressure[0] = st->pressure[1] = st->pressure[2] = -1;
  st->oom_kills = 0;
  if (cg && p->pid > 0)
    ward__cg_stats(cg->path, st);
}

/* The pidfd, readable once the process has ended. */
ward__fd ward__proc_watch(const ward__proc *p) { return p->watch; }

/* Reads /proc/PID/stat: resident set, CPU time and start time. */
int ward__proc_usage(const ward__proc *proc, uint64_t *rss, uint64_t *cpu_ms, int64_t *start_ms) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", proc->pid);
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
