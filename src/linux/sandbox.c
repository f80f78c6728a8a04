/*
 * sandbox.c — the sandbox of a worker's process on Linux: resource
 * limits, PR_SET_NO_NEW_PRIVS, new namespaces, Landlock, capabilities and
 * a seccomp filter (ward.h, "The sandbox"; docs/extensions.md).
 *
 * Design notes
 * ------------
 * The restrictions must be applied by the child itself, after the spawn
 * and before exec, and the child of the cloning spawn (spawn.c) shares
 * the host's memory: it may make system calls and nothing else (no
 * malloc, no lock, no library that may hold one). So everything is
 * prepared here, in the host, per start: the limits as numbers, the
 * seccomp filter built with libseccomp and exported as a BPF program into
 * memory (libseccomp 2.5 exports to a descriptor only, so through a
 * memfd), the Landlock ruleset as a descriptor with its rules added, the
 * namespaces as clone flags. The child then makes a handful of calls:
 * setrlimit, prctl, landlock_restrict_self, capset, seccomp.
 *
 * Order, and why: limits and no_new_privs first (nothing needs them
 * later); the namespaces come with the clone itself (a PID namespace can
 * only be entered by a new process; without privilege a user namespace
 * comes with them, whose maps the child writes); Landlock while the child
 * still shares the host's descriptor table, where the ruleset descriptor
 * is (its own /proc/self is added then, for runtimes that read it);
 * capabilities are dropped next-to-last, as unsharing needed them; the
 * seccomp filter last, right before exec, so that the spawn's own calls
 * (dup3, close_range, setpgid, chdir...) need not be in it. execve is.
 *
 * What the machine lacks is found here, in the host, not in the child:
 * no Landlock, no seccomp (CONFIG_SECCOMP_FILTER). With best_effort the
 * process starts without it and the jail says what is in force; without,
 * the start fails with WARD_ESPAWN and errno ENOTSUP.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jail.h"
#include "sandbox.h"
#include "unix.h"
#include "ward_int.h"

/* ------------------------------------------------------------------ */
/* Landlock                                                            */

/* The access rights by ABI, defined here as the kernel does: the C
 * library's header may be older than the kernel. */
#define LL_EXECUTE (1ull << 0)
#define LL_WRITE_FILE (1ull << 1)
#define LL_READ_FILE (1ull << 2)
#define LL_READ_DIR (1ull << 3)
#define LL_FS_ABI1 ((1ull << 13) - 1)
#define LL_REFER (1ull << 13)     /* ABI 2 */
#define LL_TRUNCATE (1ull << 14)  /* ABI 3 */
#define LL_IOCTL_DEV (1ull << 15) /* ABI 5 */
#define LL_NET_BIND_TCP (1ull << 0)    /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ull << 1) /* ABI 4 */
#define LL_SCOPE_ABSTRACT_UNIX (1ull << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ull << 1)        /* ABI 6 */
/* The newest ABI whose rights this file knows. */
#define LL_ABI_KNOWN 7

/* What may be done to a file (as opposed to a directory). */
#define LL_FILE_RIGHTS (LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | LL_TRUNCATE | LL_IOCTL_DEV)

typedef struct ll_attr {
  uint64_t fs, net, scoped;
} ll_attr;

typedef struct __attribute__((packed)) ll_path {
  uint64_t allowed;
  int32_t parent_fd;
} ll_path;

/* The kernel's Landlock ABI, 0 when it has none (or it is disabled). */
static int kernel_landlock_abi(void) {
  long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return v > 0 ? (int)v : 0;
}

static uint64_t fs_rights(int abi) {
  uint64_t r = LL_FS_ABI1;
  if (abi >= 2)
    r |= LL_REFER;
  if (abi >= 3)
    r |= LL_TRUNCATE;
  if (abi >= 5)
    r |= LL_IOCTL_DEV;
  return r;
}

/* Adds `path` (and all beneath) with `rights`, as far as a file takes
 * them. A path that does not exist is skipped when `optional`. */
static int ll_add(int rs, const char *path, uint64_t rights, int optional) {
  int fd = open(path, O_PATH | O_CLOEXEC);
  if (fd < 0) {
    if (optional && (errno == ENOENT || errno == ENOTDIR || errno == EACCES))
      return 0;
    int e = errno;
    return ward__fail(ward__fail_sys(WARD_ESPAWN, e, "sandbox"), "sandbox: path '%s': %s",
                      path, strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
    rights &= LL_FILE_RIGHTS;
  ll_path pb = {rights, fd};
  long r = syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
  int e = errno;
  close(fd);
  if (r < 0)
    return ward__fail(ward__fail_sys(WARD_ESYS, e, "landlock_add_rule"),
                      "sandbox: landlock_add_rule '%s': %s", path, strerror(e));
  return 0;
}

/* The system's library folders and devices every program needs. */
static const char *const system_read[] = {
    "/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/ld.so.cache",
    "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/dev/null", "/dev/zero",
    "/dev/urandom", "/dev/random", NULL};

static int ll_paths(int rs, const char *const *v, uint64_t rights, int optional) {
  int rv = 0;
  for (size_t i = 0; !rv && v && v[i]; i++)
    rv = ll_add(rs, v[i], rights, optional);
  return rv;
}

/* The ruleset for `sb`: read (and execute) the read paths, the system's
 * and the executable; read and write the write paths and the data
 * directory. */
static int landlock_prepare(ward__jail *j, const ward__sandbox *sb, const char *exe,
                            const char *data_dir, int abi) {
  if (abi > LL_ABI_KNOWN)
    abi = LL_ABI_KNOWN;
  uint64_t all = fs_rights(abi);
  ll_attr attr = {all, 0, 0};
  size_t size = sizeof attr.fs;
  if (abi >= 4) {
    /* TCP too, unless the network is permitted (the filter refuses the
     * sockets anyway: two locks on one door). */
    if (!(sb->o.permissions & WARD_PERMIT_NETWORK))
      attr.net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
    size = offsetof(ll_attr, scoped);
  }
  if (abi >= 6) {
    attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
    size = sizeof attr;
  }
  int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
  if (rs < 0)
    return ward__fail_sys(WARD_ESYS, errno, "landlock_create_ruleset");
  j->ruleset_fd = rs;
  uint64_t rd = LL_EXECUTE | LL_READ_FILE | LL_READ_DIR;
  int rv = 0;
  if (sb->o.system_paths) {
    rv = ll_paths(rs, system_read, rd, 1);
    if (!rv)
      rv = ll_add(rs, "/dev/null", LL_WRITE_FILE | (all & LL_TRUNCATE), 1);
  }
  if (!rv)
    rv = ll_paths(rs, sb->o.read_paths, rd, 0);
  if (!rv)
    rv = ll_paths(rs, sb->o.write_paths, all, 0);
  if (!rv && data_dir)
    rv = ll_add(rs, data_dir, all, 0);
  /* The executable itself, found in PATH or not: a bare name is left to
   * the read paths. */
  if (!rv && strchr(exe, '/'))
    rv = ll_add(rs, exe, rd, 1);
  if (!rv)
    j->landlock_abi = abi;
  return rv;
}

/* ------------------------------------------------------------------ */
/* seccomp                                                             */

/* What a worker may call: compute, memory, time, threads, signals to
 * itself, I/O on the descriptors it has, files (Landlock says which),
 * Unix sockets, processes of its own. Everything else fails with EPERM:
 * Internet sockets (unless permitted), ptrace, mount, module loading,
 * kexec, bpf, keyctl, personality changes, namespaces, io_uring (whose
 * operations no filter sees), and the like. */
static const char *const allowed[] = {
    /* I/O on descriptors */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
    "preadv2", "pwritev2", "lseek", "close", "close_range", "dup", "dup2", "dup3", "fcntl",
    "ioctl", "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1",
    "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2",
    "timerfd_create", "timerfd_settime", "timerfd_gettime", "signalfd", "signalfd4", "pipe",
    "pipe2", "sendfile", "splice", "tee", "copy_file_range", "flock", "fsync", "fdatasync",
    "sync_file_range", "fadvise64", "fallocate", "ftruncate", "fstat", "fstatfs",
    "memfd_create", "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
    /* sockets already there, and Unix ones (socket() itself: below) */
    "recvfrom", "recvmsg", "recvmmsg", "sendto", "sendmsg", "sendmmsg", "shutdown",
    "getsockopt", "setsockopt", "getsockname", "getpeername", "accept", "accept4", "connect",
    "bind", "listen",
    /* files, as Landlock allows */
    "open", "openat", "openat2", "creat", "stat", "lstat", "newfstatat", "statx", "access",
    "faccessat", "faccessat2", "readlink", "readlinkat", "getdents", "getdents64", "mkdir",
    "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2", "link",
    "linkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat", "truncate", "utimensat",
    "utime", "utimes", "futimesat", "statfs", "getcwd", "chdir", "fchdir", "umask",
    "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr",
    /* memory */
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "msync", "mincore", "mlock",
    "mlock2", "munlock", "membarrier",
    /* threads, time, scheduling */
    "futex", "futex_waitv", "set_robust_list", "get_robust_list", "set_tid_address", "rseq",
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
    "sched_getscheduler", "sched_get_priority_max", "sched_get_priority_min",
    "getpriority", "setpriority", "getrandom", "arch_prctl", "prctl", "uname", "sysinfo",
    "getrusage", "times", "getrlimit", "setrlimit", "prlimit64", "capget",
    /* signals and processes */
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
    "rt_sigsuspend", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "restart_syscall",
    "pause", "alarm", "setitimer", "getitimer", "kill", "tgkill", "tkill", "exit",
    "exit_group", "wait4", "waitid", "fork", "vfork", "execve", "execveat", "getpid",
    "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getgroups", "getresuid",
    "getresgid", "getpgrp", "getpgid", "getsid", "setsid", "setpgid", "pidfd_open",
    "pidfd_send_signal",
    NULL};

/* A comparison of the first argument, every field given (libseccomp's
 * SCMP_A0 leaves one to the compiler, which clang warns of). */
static struct scmp_arg_cmp arg0(enum scmp_compare op, scmp_datum_t a, scmp_datum_t b) {
  struct scmp_arg_cmp c = {.arg = 0, .op = op, .datum_a = a, .datum_b = b};
  return c;
}

static int seccomp_rules(scmp_filter_ctx f, unsigned permissions) {
  int rv = 0;
  for (size_t i = 0; !rv && allowed[i]; i++) {
    int nr = seccomp_syscall_resolve_name(allowed[i]);
    if (nr != __NR_SCMP_ERROR)
      rv = seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 0);
  }
  /* Sockets: Unix ones; Internet ones (and netlink, which the C library's
   * name resolution uses) with the network permission. */
  static const int inet[] = {AF_INET, AF_INET6, AF_NETLINK};
  if (!rv)
    rv = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, arg0(SCMP_CMP_EQ, AF_UNIX, 0));
  if (!rv)
    rv = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
                          arg0(SCMP_CMP_EQ, AF_UNIX, 0));
  for (size_t i = 0; !rv && (permissions & WARD_PERMIT_NETWORK) && i < 3; i++)
    rv = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
                          arg0(SCMP_CMP_EQ, (scmp_datum_t)inet[i], 0));
  /* Threads and processes, but no new namespace. clone3 passes its flags
   * in memory no filter can read: ENOSYS sends the C library back to
   * clone. */
  const scmp_datum_t ns = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
                          CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
  if (!rv)
    rv = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                          arg0(SCMP_CMP_MASKED_EQ, ns, 0));
  if (!rv)
    rv = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  /* personality: asking (0xffffffff, as sanitizer runtimes do), not
   * changing. */
  if (!rv)
    rv = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1,
                          arg0(SCMP_CMP_EQ, 0xffffffffu, 0));
  return rv;
}

/* Builds the filter and exports it as a BPF program in j->prog. */
static int seccomp_prepare(ward__jail *j, unsigned permissions) {
  scmp_filter_ctx f = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (!f)
    return WARD_ENOMEM;
  int rv = seccomp_rules(f, permissions);
  int mfd = -1;
  if (!rv) {
    mfd = memfd_create("ward-seccomp", MFD_CLOEXEC);
    rv = mfd < 0 ? -errno : seccomp_export_bpf(f, mfd);
  }
  seccomp_release(f);
  struct stat st;
  if (!rv && fstat(mfd, &st) != 0)
    rv = -errno;
  void *prog = NULL;
  if (!rv) {
    prog = malloc((size_t)st.st_size ? (size_t)st.st_size : 1);
    if (!prog)
      rv = -ENOMEM;
    else if (pread(mfd, prog, (size_t)st.st_size, 0) != st.st_size)
      rv = -EIO;
  }
  if (mfd >= 0)
    close(mfd);
  if (rv) {
    free(prog);
    return ward__fail(ward__fail_sys(WARD_ESYS, -rv, "seccomp"),
                      "sandbox: building the seccomp filter: %s", strerror(-rv));
  }
  j->prog.filter = prog;
  j->prog.len = (unsigned short)((size_t)st.st_size / sizeof(struct sock_filter));
  return 0;
}

/* Whether this kernel filters system calls (seccomp mode 2). */
static int seccomp_available(void) {
  return prctl(PR_GET_SECCOMP) >= 0 && seccomp_api_get() >= 1;
}

/* ------------------------------------------------------------------ */
/* The jail                                                            */

/* A restriction asked for that cannot be had: ENOTSUP, unless best
 * effort (then 0, and it is not in force). */
static int lacking(const ward__jail *j, const char *exe, const char *what) {
  if (j->best_effort)
    return 0;
  ward__fail_sys(WARD_ESPAWN, ENOTSUP, "sandbox");
  return ward__fail(WARD_ESPAWN,
                    "spawn '%s': sandbox: %s, and best_effort is 0 (docs/platforms.md)", exe,
                    what);
}

static void add_limit(ward__jail *j, int resource, uint64_t value) {
  if (!value)
    return;
  struct rlimit cur;
  /* Never above what the process inherits: a sandbox only lowers. */
  if (getrlimit(resource, &cur) == 0 && cur.rlim_max != RLIM_INFINITY && value > cur.rlim_max)
    value = cur.rlim_max;
  j->limit[j->nlimits].resource = resource;
  j->limit[j->nlimits].value = value;
  j->nlimits++;
  j->in_force |= WARD_SANDBOX_RLIMITS;
}

static void namespaces_prepare(ward__jail *j, const ward__sandbox *sb) {
  int want = sb->o.namespaces;
  if (!want)
    return;
  if (want & WARD_SANDBOX_NEW_NET)
    j->clone_flags |= CLONE_NEWNET;
  if (want & WARD_SANDBOX_NEW_IPC)
    j->clone_flags |= CLONE_NEWIPC;
  if (want & WARD_SANDBOX_NEW_PID)
    j->clone_flags |= CLONE_NEWPID;
  /* Without privilege, inside a user namespace of its own where the
   * kernel allows one (user.max_user_namespaces, and distributions'
   * switches); the clone says whether it does. */
  if (geteuid() != 0) {
    j->clone_flags |= CLONE_NEWUSER;
    snprintf(j->uid_map, sizeof j->uid_map, "%u %u 1", (unsigned)geteuid(), (unsigned)geteuid());
    snprintf(j->gid_map, sizeof j->gid_map, "%u %u 1", (unsigned)getegid(), (unsigned)getegid());
  }
  j->in_force |= (uint64_t)want;
}

int ward__jail_new(ward__jail **out, const ward__sandbox *sb, const char *exe,
                   const char *data_dir) {
  *out = NULL;
  ward__jail *j = calloc(1, sizeof *j);
  if (!j)
    return WARD_ENOMEM;
  j->ruleset_fd = -1;
  j->best_effort = sb->o.best_effort;
  j->no_new_privs = sb->o.no_new_privs;
  j->drop_caps = sb->o.drop_caps;
  if (j->no_new_privs)
    j->in_force |= WARD_SANDBOX_NO_NEW_PRIVS;
  if (j->drop_caps)
    j->in_force |= WARD_SANDBOX_NO_CAPS;
  add_limit(j, RLIMIT_AS, sb->o.rlimit_as);
  add_limit(j, RLIMIT_NOFILE, sb->o.rlimit_nofile);
  add_limit(j, RLIMIT_NPROC, sb->o.rlimit_nproc);
  add_limit(j, RLIMIT_CPU, sb->o.rlimit_cpu);
  add_limit(j, RLIMIT_FSIZE, sb->o.rlimit_fsize);
  namespaces_prepare(j, sb);
  int rv = 0;
  if (sb->o.landlock) {
    int abi = kernel_landlock_abi();
    if (abi > 0) {
      rv = landlock_prepare(j, sb, exe, data_dir, abi);
      if (!rv)
        j->in_force |= WARD_SANDBOX_LANDLOCK;
    } else {
      rv = lacking(j, exe, "this kernel has no Landlock (or it is disabled)");
    }
  }
  if (!rv && sb->o.seccomp) {
    if (seccomp_available()) {
      rv = seccomp_prepare(j, sb->o.permissions);
      if (!rv)
        j->in_force |= WARD_SANDBOX_SECCOMP;
    } else {
      rv = lacking(j, exe, "this kernel has no seccomp filters");
    }
  }
  if (rv) {
    ward__jail_free(j);
    return rv;
  }
  *out = j;
  return 0;
}

void ward__jail_free(ward__jail *j) {
  if (!j)
    return;
  if (j->ruleset_fd >= 0)
    close(j->ruleset_fd);
  free(j->prog.filter);
  free(j);
}

uint64_t ward__jail_in_force(const ward__jail *j, int *landlock_abi) {
  *landlock_abi = j->in_force & WARD_SANDBOX_LANDLOCK ? j->landlock_abi : 0;
  return j->in_force;
}

/* Whether a child of this process may make the namespace `flag` (inside
 * a user namespace when it is not root, as a start would). */
static int namespace_allowed(int flag) {
  if (geteuid() != 0)
    flag |= CLONE_NEWUSER;
  pid_t pid = fork();
  if (pid == 0)
    _exit(unshare(flag) == 0 ? 0 : 1);
  int st;
  if (pid < 0 || waitpid(pid, &st, 0) != pid)
    return 0;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

uint64_t ward__jail_supported(int *landlock_abi) {
  uint64_t bits = WARD_SANDBOX_RLIMITS | WARD_SANDBOX_NO_CAPS;
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) >= 0)
    bits |= WARD_SANDBOX_NO_NEW_PRIVS;
  if (seccomp_available())
    bits |= WARD_SANDBOX_SECCOMP;
  *landlock_abi = kernel_landlock_abi();
  if (*landlock_abi > 0)
    bits |= WARD_SANDBOX_LANDLOCK;
  static const struct {
    int bit, flag;
  } ns[] = {{WARD_SANDBOX_NEW_NET, CLONE_NEWNET},
            {WARD_SANDBOX_NEW_IPC, CLONE_NEWIPC},
            {WARD_SANDBOX_NEW_PID, CLONE_NEWPID}};
  for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
    if (namespace_allowed(ns[i].flag))
      bits |= (uint64_t)ns[i].bit;
  return bits;
}

const char *ward__jail_step_name(int step) {
  switch (step) {
  case WARD__JAIL_STEP_RLIMIT:
    return "resource limits";
  case WARD__JAIL_STEP_NNP:
    return "no_new_privs";
  case WARD__JAIL_STEP_USERNS:
    return "user namespace maps";
  case WARD__JAIL_STEP_LANDLOCK:
    return "Landlock";
  case WARD__JAIL_STEP_CAPS:
    return "dropping capabilities";
  case WARD__JAIL_STEP_SECCOMP:
    return "seccomp filter";
  }
  return "sandbox";
}

/* ------------------------------------------------------------------ */
/* In the child: system calls only                                     */

WARD__CHILD_CODE static long child_write_file(const char *path, const char *text) {
  long fd = syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  size_t n = 0;
  while (text[n])
    n++;
  long r = syscall(SYS_write, (int)fd, text, n);
  syscall(SYS_close, (int)fd);
  return r == (long)n ? 0 : -1;
}

WARD__CHILD_CODE int ward__jail_enter(const ward__jail *j, int *step) {
  for (int i = 0; i < j->nlimits; i++) {
    struct rlimit rl = {(rlim_t)j->limit[i].value, (rlim_t)j->limit[i].value};
    *step = WARD__JAIL_STEP_RLIMIT;
    if (syscall(SYS_prlimit64, 0, j->limit[i].resource, &rl, NULL) != 0)
      return errno;
  }
  *step = WARD__JAIL_STEP_NNP;
  if (j->no_new_privs && syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return errno;
  if (j->clone_flags & CLONE_NEWUSER) {
    *step = WARD__JAIL_STEP_USERNS;
    if (child_write_file("/proc/self/setgroups", "deny") != 0 ||
        child_write_file("/proc/self/uid_map", j->uid_map) != 0 ||
        child_write_file("/proc/self/gid_map", j->gid_map) != 0)
      return errno;
  }
  if (j->ruleset_fd >= 0) {
    *step = WARD__JAIL_STEP_LANDLOCK;
    /* Its own /proc/self (resolved now, in the child), to read: runtimes
     * read their maps and status there. */
    long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self", O_PATH | O_CLOEXEC);
    if (fd >= 0) {
      ll_path pb = {LL_READ_FILE | LL_READ_DIR, (int32_t)fd};
      syscall(SYS_landlock_add_rule, j->ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
      syscall(SYS_close, (int)fd);
    }
    if (syscall(SYS_landlock_restrict_self, j->ruleset_fd, 0) != 0)
      return errno;
  }
  *step = WARD__JAIL_STEP_NONE;
  return 0;
}

WARD__CHILD_CODE int ward__jail_seal(const ward__jail *j, int *step) {
  if (j->drop_caps) {
    *step = WARD__JAIL_STEP_CAPS;
    /* The bounding set (needs CAP_SETPCAP: without it there is nothing
     * to drop that exec could give back), the ambient set, then the
     * rest at once. */
    for (int cap = 0; cap < 64; cap++)
      if (syscall(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL)
        break;
    syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    for (int i = 0; i < 2; i++)
      data[i].effective = data[i].permitted = data[i].inheritable = 0;
    if (syscall(SYS_capset, &hdr, data) != 0)
      return errno;
  }
  if (j->prog.len) {
    *step = WARD__JAIL_STEP_SECCOMP;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &j->prog) != 0)
      return errno;
  }
  *step = WARD__JAIL_STEP_NONE;
  return 0;
}
