/*
 * platform.h — what an operating-system backend provides to the portable
 * core. Backends: src/linux/ (epoll, pidfds, /proc) and src/posix/
 * (poll, SIGCHLD: any POSIX system), each over the POSIX code they share
 * in src/unix/ (chosen by CMake's WARD_BACKEND); another platform
 * provides the same functions under src/<platform>/.
 *
 * Every descriptor these functions create is close-on-exec. Functions
 * return 0 or a negative WARD_E* code and record the detail with
 * ward__fail_sys() (the system's own error code: an errno on POSIX, a
 * GetLastError value on Windows) or ward__fail_errno() (a C library
 * errno, on every system).
 *
 * The core holds OS objects only as the opaque ward__fd and ward__proc
 * below: it never compares a descriptor with a number, does arithmetic on
 * it or reads a process's fields other than its pid (a number to show). So
 * a backend on which an I/O object is not a small integer (Windows: a
 * HANDLE, or a pointer to the backend's wrapper of a named pipe with its
 * overlapped I/O and emulated readiness) fits behind the same functions.
 * No POSIX-only type (pid_t, ssize_t) appears in a prototype here.
 */
#ifndef WARD_PLATFORM_H
#define WARD_PLATFORM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* An OS I/O object: a socket, a pipe end, the loop, a timer or wake-up,
 * a listener, a process's exit notification. On POSIX backends a file
 * descriptor; on Windows a pointer to the backend's object wrapping a
 * HANDLE. WARD__FD_NONE is "no object"; test with ward__fd_valid, never
 * with a comparison to a number. */
#if defined(_WIN32)
typedef struct ward__os_obj *ward__fd;
#define WARD__FD_NONE ((ward__fd)0)
#else
typedef int ward__fd;
#define WARD__FD_NONE (-1)
#endif
#define ward__fd_valid(fd) ((fd) != WARD__FD_NONE)

/* The hard stop: what ends a process at once, whatever it does (SIGKILL
 * where there are signals; on Windows, TerminateJobObject of the worker's
 * job). The state machine's KILL action carries either this or the spec's
 * stop signal, the soft stop (SIGTERM by default), which a Windows backend
 * delivers as CTRL_BREAK and the end of the channel. */
#ifdef _WIN32
#define WARD__STOP_HARD 9
#else
#include <signal.h>
#define WARD__STOP_HARD SIGKILL
#endif

/* Readiness bits, shared by ward__wait_fd and the loop. */
enum { WARD__IN = 1, WARD__OUT = 2, WARD__HUP = 4 };

/* Monotonic clock in milliseconds, and in microseconds. */
int64_t ward__now_ms(void);
int64_t ward__now_us(void);
/* Wall clock in milliseconds since the epoch. */
int64_t ward__wall_ms(void);
/* The directory for private runtime files: $XDG_RUNTIME_DIR if usable,
 * else $TMPDIR, else /tmp. */
const char *ward__runtime_dir(void);
/* Removes a directory and everything under it (best effort). */
void ward__remove_tree(const char *path);

/* What a path is, following symbolic links (the extension host's
 * manifests and programs). */
enum {
  WARD__PATH_NONE = 0, /* nothing there (or not reachable) */
  WARD__PATH_DIR,
  WARD__PATH_FILE,     /* a regular file this process may not execute */
  WARD__PATH_EXEC,     /* a regular file this process may execute */
  WARD__PATH_OTHER
};
int ward__path_kind(const char *path);
/* The absolute path with every symbolic link, "." and ".." resolved, in
 * *out (free()); WARD_ESYS (errno kept) when it cannot be, WARD_ENOMEM. */
int ward__path_real(const char *path, char **out);
/* The names in a directory (not "." and ".."), sorted, in *names
 * (NULL-terminated, free each and the array). WARD_ESYS, WARD_ENOMEM. */
int ward__dir_names(const char *dir, char ***names, size_t *count);
/* A deadline `ms` from now; a negative `ms` means never (INT64_MAX). */
int64_t ward__deadline(int ms);

/* Gives memory the allocator holds unused back to the system (best
 * effort: nothing where the allocator has no such call). */
void ward__mem_trim(void);
/* The usable size of a block from malloc (malloc_usable_size, _msize), or
 * 0 where the allocator does not tell (then none is kept for reuse). */
size_t ward__mem_usable(void *p);

/* A connected stream socket pair, both ends close-on-exec; sv[0] (the
 * host's end) is non-blocking. */
int ward__socketpair(ward__fd sv[2]);
int ward__set_nonblock(ward__fd fd, int on);
/* The channel a parent handed down by number (WARD_FD in the
 * environment): checks that `number` names an open object and makes it
 * close-on-exec. WARD_EINVAL for a number no object can have, WARD_ESYS
 * when it is not open. */
int ward__fd_inherited(long number, ward__fd *out);
/* The operating system's own handle behind `fd`, as ward_os_handle
 * carries it (the descriptor on POSIX, the HANDLE on Windows). */
intptr_t ward__fd_os(ward__fd fd);
/* Waits until `fd` is ready for `events` (WARD__IN / WARD__OUT) or the
 * deadline passes. Returns the ready bits (WARD__HUP included on hang-up
 * or error), 0 on timeout, or WARD_ESYS. */
int ward__wait_fd(ward__fd fd, int events, int64_t deadline);
/* Best effort: fill `buf` with random bytes. */
int ward__random(void *buf, size_t n);
/* Closes `fd`; nothing for WARD__FD_NONE. */
void ward__close(ward__fd fd);

/* The channel a spawned worker inherits, named in its environment: writes
 * the entry for the child's end `chan_fd` into `buf`: "WARD_FD=3" where
 * spawn.c places it at descriptor 3; on Windows "WARD_FD=<the value of the
 * inherited HANDLE>" (the child reads either with ward__fd_inherited). */
void ward__chan_env(char *buf, size_t n, ward__fd chan_fd);

/* A child process. The core reads `pid` alone (to show it, in events and
 * logs; 0 when there is no process) and leaves the rest to the backend:
 * the Linux backend keeps a pidfd in `watch`; another keeps what it needs
 * in `os` (Windows: the process handle and the job object). A copy of a
 * live process's struct may be given to ward__proc_usage. */
typedef struct ward__proc {
  int pid;
  ward__fd watch;     /* readable once the process has ended, or NONE */
  int64_t started_ms; /* wall clock when it was started */
  void *os;
} ward__proc;
#define WARD__PROC_NONE {0, WARD__FD_NONE, 0, NULL}

/* How a child's stdout or stderr is set up. */
enum {
  WARD__STDIO_INHERIT = 0, /* the host's own */
  WARD__STDIO_NULL,        /* discarded (/dev/null, NUL) */
  WARD__STDIO_FD           /* the object in out_fd / err_fd */
};

/* The sandbox of one process (ward.h, "The sandbox"): what the backend
 * prepared before the spawn from the spec's ward__sandbox (sandbox.h),
 * for the child to apply. */
typedef struct ward__jail ward__jail;
struct ward__sandbox;
/* Prepares the restrictions `sb` asks for, for a process running `exe`
 * (its path as given, its file readable and executable under Landlock)
 * with the data directory `data_dir` (writable; may be NULL). A
 * restriction this machine or backend cannot apply fails with WARD_ESPAWN
 * (errno ENOTSUP, the detail naming it) unless sb->o.best_effort; other
 * failures WARD_ESYS, WARD_ENOMEM. */
int ward__jail_new(ward__jail **out, const struct ward__sandbox *sb, const char *exe,
                   const char *data_dir);
void ward__jail_free(ward__jail *j);
/* What a process started with it has in force: WARD_SANDBOX_* bits, and
 * the Landlock ABI (0: none). */
uint64_t ward__jail_in_force(const ward__jail *j, int *landlock_abi);
/* What a jail could put in force on this machine (ward_sandbox_supported). */
uint64_t ward__jail_supported(int *landlock_abi);

/* Process trees (ward.h ward_tree): what holds a worker process and all
 * it starts. A host has one ward__trees: on Linux the cgroup v2 directory
 * under which each of its processes gets a cgroup of its own (placed in
 * it before it runs its own code), where one can be had; elsewhere, and
 * where none can, process groups. Never an error for a start: a process
 * that gets no cgroup is held by its process group. */
typedef struct ward__trees ward__trees;
/* `base`: the cgroup under which to make the host's (NULL: the host's own
 * cgroup, where it may create some); `off`: process groups alone. Fails
 * with WARD_ENOMEM alone. */
int ward__trees_new(ward__trees **out, const char *base, int off);
/* Kills whatever is left in the host's cgroups and removes them. */
void ward__trees_free(ward__trees *t);
/* WARD_TREE_CGROUP if its processes get cgroups, else what holds them. */
int ward__trees_kind(const ward__trees *t);
/* The host's cgroup directory (NULL without), for the guard and probe. */
const char *ward__trees_dir(const ward__trees *t);
/* WARD__LIMIT_* bits: the limits its cgroups can enforce (a controller
 * delegated to them); a limit not listed falls back to RSS sampling. */
enum { WARD__LIMIT_MEMORY = 1, WARD__LIMIT_PIDS = 2, WARD__LIMIT_CPU = 4 };
unsigned ward__trees_limits(const ward__trees *t);
/* Starts whose process was moved into its cgroup (through cgroup.procs)
 * rather than born there, in this program so far: for the tests. */
unsigned long ward__trees_moves(void);

/* The limits of one process's tree, where its cgroup can enforce them;
 * 0: none. */
typedef struct ward__tree_limits {
  uint64_t memory_max;  /* bytes: memory.max (the kernel kills past it) */
  uint64_t memory_high; /* bytes: memory.high (reclaim and throttling) */
  uint64_t pids_max;    /* processes and threads: pids.max */
  uint32_t cpu_pct;     /* percent of one CPU: cpu.max */
} ward__tree_limits;

/* What a process's tree says of itself (its cgroup's files). */
typedef struct ward__tree_stats {
  uint64_t memory;   /* memory.current, or WARD_UNKNOWN */
  int pressure[3];   /* cpu, memory, io: "some avg10" in hundredths of a
                        percent, or -1 */
  uint32_t oom_kills; /* memory.events oom_kill, 0 where not counted */
} ward__tree_stats;

typedef struct ward__spawn_args {
  const char *exe;   /* path, or a bare name searched in PATH */
  char *const *argv; /* NULL-terminated */
  char *const *envp; /* NULL-terminated */
  const char *cwd;   /* or NULL */
  ward__fd chan_fd;  /* placed at fd `chan_at` in the child, or NONE */
  int chan_at;       /* 0: fd 3; a plain process's notification fd
                        (Windows: named in WARD_NOTIFY_HANDLE instead) */
  int out_how;       /* WARD__STDIO_*: the child's stdout */
  ward__fd out_fd;   /* with WARD__STDIO_FD, what becomes its stdout */
  int err_how;       /* the same for stderr */
  ward__fd err_fd;
  ward__jail *jail;  /* the sandbox to apply before exec, or NULL; the
                        spawn notes in it what it could not apply */
  int nice;          /* added to the host's nice value in the child (a
                        refused raise is left out) */
  int ioprio;        /* an ioprio_set value (Linux), 0: left alone */
  int set_ids;       /* 1: the child takes `groups`, then `gid`, then `uid`
                        before exec (WARD_EPERM when it may not) */
  uint32_t uid, gid;
  const uint32_t *groups; /* supplementary groups, `ngroups` of them */
  size_t ngroups;
  int set_umask;     /* 1: the child's umask is `umask` */
  int umask;
  ward__trees *trees; /* the host's, or NULL: process group alone */
  const ward__tree_limits *limits; /* for its cgroup, or NULL */
} ward__spawn_args;

/* The supplementary groups of the user `uid` (of its name, with `gid`, as
 * initgroups would give them; `gid` alone without a name), looked up in
 * the system's group database: *groups (malloc'd, `*n` of them).
 * WARD_ESYS, WARD_ENOMEM. Windows: none, 0. */
int ward__user_groups(uint32_t uid, uint32_t gid, uint32_t **groups, size_t *n);
/* Gives the directory `path` to the user `uid` and group `gid` (a worker
 * run as another user, its data directory). WARD_ESYS (errno kept). */
int ward__give_dir(const char *path, uint32_t uid, uint32_t gid);
/* The best-effort class of ioprio_set: its value is class << 13 | level. */
#define WARD__IOPRIO_CLASS_BE 2

/* What starting children needs, prepared once per host (a few
 * descriptors of its own), so that a start costs the same however many
 * descriptors the host holds. One thread at a time may spawn with it. */
typedef struct ward__spawner ward__spawner;
int ward__spawner_new(ward__spawner **out);
void ward__spawner_free(ward__spawner *sp);

/* Starts the child in its own process group with stdin on /dev/null,
 * stdout/stderr inherited, and no other descriptor than the channel.
 * WARD_ESPAWN (errno kept) when the executable cannot be run, the working
 * directory cannot be entered (the text says which), or when the jail,
 * the user or the umask cannot be applied (errno ENOTSUP where the
 * backend cannot apply them: Windows; a jail where the way the backend
 * starts processes here cannot); WARD_EPERM when the child may not take
 * the user and groups asked for. Then no process is left. */
int ward__proc_spawn(ward__spawner *sp, ward__proc *p, const ward__spawn_args *a);
/* What becomes readable once the process has ended, for the loop to
 * watch; WARD__FD_NONE where there is none (no pidfds): then the owner
 * polls ward__proc_reap. */
ward__fd ward__proc_watch(const ward__proc *p);
/* Non-blocking reap: 1 with the status when it has exited, 0 if not yet.
 * Before reaping, whatever is left in the child's tree is killed (its
 * cgroup, or its process group while the group id is still certainly the
 * child's), and after it a cgroup is removed. */
int ward__proc_reap(ward__proc *p, int *code, int *sig);
/* Sends `sig` to the child's whole process group (and to the child itself
 * through its pidfd where there is one, which cannot hit a reused pid);
 * the hard stop goes to its whole cgroup, where it has one, setsid()
 * escapees included. */
void ward__proc_kill(ward__proc *p, int sig);
/* Closes what the backend holds for the process (after its reap: its
 * cgroup goes too, should the reap have had to leave it). */
void ward__proc_close(ward__proc *p);
/* WARD_TREE_*: what holds the process and what it starts (NONE: none). */
int ward__proc_tree(const ward__proc *p);
/* Pauses (1) or resumes (0) the process and everything it started: its
 * cgroup frozen or thawed, else SIGSTOP / SIGCONT to its process group.
 * 0, or WARD_ESYS (errno kept). */
int ward__proc_pause(ward__proc *p, int on);
/* The figures of its tree (WARD_UNKNOWN, -1, 0 where there are none). */
void ward__proc_tree_stats(const ward__proc *p, ward__tree_stats *st);
/* After its reap, before its close: 1 if its cgroup counted an OOM kill
 * (memory.events), else 0. */
int ward__proc_oom_killed(const ward__proc *p);
/* Resident set (bytes), CPU time (user + system, ms) and start time (wall
 * clock, ms since the epoch; `start_ms` may be NULL) of a live process; a
 * figure the system does not give is WARD_UNKNOWN. */
int ward__proc_usage(const ward__proc *p, uint64_t *rss, uint64_t *cpu_ms, int64_t *start_ms);

/* A child of this process that has ended, without reaping it: 1 with its
 * pid, 0 when none has (or there are no children), or a negative WARD_E*
 * code. Then ward__child_reap reaps it and says how it ended (code -1 for
 * a signal, sig 0 for an exit). Windows has no zombies: always 0. */
int ward__child_ended(int *pid);
void ward__child_reap(int pid, int *code, int *sig);

/* Shared memory and futexes, for the shared-memory transport (src/ring.h).
 * ward__shm_supported says whether this backend has them (linux: memfd
 * and futex; the others: 0, and the socket carries everything).
 *
 * ward__shm_new makes `size` bytes of memory another process can map:
 * *fd (close-on-exec; handed to the peer) and *mem, mapped here, zeroed.
 * Its size is sealed, so that no one, the peer included, can shrink it
 * under a mapping (which would make a read of it a SIGBUS) or grow it.
 * ward__shm_map maps such memory received from a peer, after checking
 * that it is exactly `size` bytes and sealed so: WARD_EPROTO otherwise.
 * ward__futex_wait sleeps while *word == expect (up to timeout_ms, -1: no
 * limit; a wake, a change or a signal ends it early: callers look again);
 * ward__futex_wake wakes the waiters of `word`, in any process. */
int ward__shm_supported(void);
/* Payloads in shared memory (docs/protocol.md 3.5). ward__payload_mem
 * makes `size` (> 0) bytes of memory to fill in place: *fd and a
 * writable mapping *mem; its size is sealed already. ward__payload_seal
 * makes it read-only for good: the writable mapping is unmapped (the
 * kernel seals against writing only memory that nobody can write through
 * a mapping), F_SEAL_WRITE is added, and *mem becomes a read-only
 * mapping. ward__payload_map maps read-only memory a peer sent as a
 * payload of `len` bytes, after checking that it is a memfd sealed
 * against writing, shrinking and growing (WARD_EPROTO otherwise), of
 * exactly `len` bytes (WARD_EPROTO when it is shorter or longer).
 * ward__payload_unmap undoes a mapping of either. Backends without
 * memfd: WARD_EINVAL. */
int ward__payload_mem(size_t size, ward__fd *fd, void **mem);
int ward__payload_seal(ward__fd fd, size_t size, void **mem);
int ward__payload_map(ward__fd fd, size_t len, const void **mem);
void ward__payload_unmap(const void *mem, size_t size);
int ward__shm_new(size_t size, ward__fd *fd, void **mem);
int ward__shm_map(ward__fd fd, size_t size, void **mem);
void ward__shm_unmap(void *mem, size_t size);
void ward__futex_wait(_Atomic uint32_t *word, uint32_t expect, int timeout_ms);
void ward__futex_wake(_Atomic uint32_t *word);
/* How many CPUs this process may run on (its affinity mask; at least 1):
 * with one, spinning for the peer only keeps the peer from running. */
int ward__cpus_available(void);

/* The guard: a small process, started with the host, that outlives it
 * long enough to kill every worker's process group should the host die
 * without stopping them (even by SIGKILL), and then to remove the data
 * directories of its workers. The host tells it which groups and which
 * directories exist. */
typedef struct ward__guard {
  int pid;
  ward__fd fd; /* write end of its pipe, or NONE when there is no guard */
} ward__guard;
/* No guard yet: what ward__guard_stop may be given before a start. */
void ward__guard_init(ward__guard *g);
int ward__guard_start(ward__guard *g);
/* The process `p` and whatever it starts (its process group) are killed
 * should the host die; _remove takes that back before it is reaped. */
void ward__guard_add(ward__guard *g, const ward__proc *p);
void ward__guard_remove(ward__guard *g, const ward__proc *p);
/* A data directory (absolute path) to remove should the host die; `id`
 * names it for ward__guard_remove_dir. */
void ward__guard_add_dir(ward__guard *g, uint64_t id, const char *path);
void ward__guard_remove_dir(ward__guard *g, uint64_t id);
/* The host's cgroup directory `dir` (platform: ward__trees_dir): should
 * the host die, everything in it is killed and it is removed. */
void ward__guard_tree(ward__guard *g, const char *dir);
/* Ends the guard normally and reaps it. */
void ward__guard_stop(ward__guard *g);

/* A listening socket in a new private 0700 directory, for
 * WARD_TRANSPORT_SOCKET. *dir and *path are malloc'd. */
int ward__listen_private(ward__fd *fd, char **dir, char **path);
/* Connects to the Unix socket at `path` (close-on-exec): 0, or the errno
 * (ENAMETOOLONG for a path that does not fit). */
int ward__unix_connect(const char *path, ward__fd *fd);
/* A non-blocking listener bound at `path`, chmod'ed to `mode` (0: as the
 * umask left it) before it listens: 0, or the errno, nothing left behind. */
int ward__unix_listen(const char *path, int mode, int backlog, ward__fd *fd);
/* Removes the socket and its directory. */
void ward__listen_remove(const char *dir, const char *path);
/* Accepts one connection (non-blocking): the fd, or WARD_ETIMEDOUT-free
 * 0 when none is pending, or an error. */
int ward__accept(ward__fd lfd, ward__fd *fd);
/* Whether the peer of a connected Unix socket runs as this process's user
 * (or as root, when `root_too`), as it did when it connected: 1 or 0, or
 * WARD_ESYS. Its pid goes to *pid (may be NULL). */
int ward__peer_is_us(ward__fd fd, int root_too, int *pid);
/* Whether a live server answers at the socket path `path`: nothing there
 * (0; a socket left by a server that died is removed), a live one
 * (WARD_ESYS with errno EADDRINUSE), something that is not a socket
 * (WARD_EINVAL), or another error (WARD_ESYS). */
int ward__unix_claim(const char *path);
/* Whether `path` fits a Unix socket's address. */
int ward__unix_path_fits(const char *path);
/* Removes the socket file at `path` (best effort). */
void ward__unix_unlink(const char *path);

/* A piece of memory to send; an array of them is sent as one stream. */
typedef struct ward__buf {
  const void *base;
  size_t len;
} ward__buf;
/* Sends what the socket takes now of `n` buffers, without blocking and
 * without SIGPIPE: the bytes sent (0 when it is full), or WARD_ECRASHED
 * when the peer is gone (errno kept). */
ptrdiff_t ward__sock_send(ward__fd fd, const ward__buf *bufs, int n);
/* "Nothing there yet", from the reads below. */
#define WARD__AGAIN (-1000)
/* Receives up to `n` bytes (waiting for some when `block`): the count, 0
 * at the end of the stream, WARD__AGAIN when nothing is there yet, or
 * WARD_ECRASHED (errno kept). */
ptrdiff_t ward__sock_recv(ward__fd fd, void *p, size_t n, int block);
/* ward__sock_send with one descriptor, `pass`, sent along with the first
 * byte taken (SCM_RIGHTS; the sender keeps its own): a payload's memory
 * (zcopy.c) or the rings' (link.c). Nothing was sent,
 * descriptor included, when it returns 0. Windows: WARD_EINVAL. */
ptrdiff_t ward__sock_send_fd(ward__fd fd, const ward__buf *bufs, int n, ward__fd pass);
/* ward__sock_recv that also takes the descriptors that came with the
 * bytes (close-on-exec): up to `max` in fds[], their count in *nfds. When
 * the peer sent more than fit, the others are closed and *nfds is
 * -1 - (the count kept): the caller closes those and refuses the stream.
 * Windows: none ever come. */
ptrdiff_t ward__sock_recv_fds(ward__fd fd, void *p, size_t n, int block, ward__fd *fds,
                              int *nfds, int max);
/* Shuts both directions of a socket down, which wakes whoever polls it;
 * the descriptor stays open. */
void ward__sock_shutdown(ward__fd fd);

/* Monotonic condition variables, so deadlines ignore wall-clock jumps
 * (POSIX sets the condition's clock; winpthreads, which has no monotonic
 * condition, waits for the time left). */
int ward__cond_init(pthread_cond_t *c);
/* Waits until signalled or `deadline` (ward__now_ms scale, INT64_MAX for
 * never). Returns 0, or WARD_ETIMEDOUT once the deadline has passed. */
int ward__cond_wait(pthread_cond_t *c, pthread_mutex_t *m, int64_t deadline);
/* Starts a thread that takes no signals (they stay the program's
 * business): 0, or WARD_ESYS. */
int ward__thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

/* This process's id. */
int ward__self_pid(void);
/* Sleeps `ms` milliseconds (where there is nothing to wait on). */
void ward__sleep_ms(int ms);

/* A pipe, both ends close-on-exec, the read end p[0] non-blocking. */
int ward__pipe(ward__fd p[2]);
/* Reads up to `n` bytes from a non-blocking descriptor: the count, 0 at
 * the end, WARD__AGAIN when nothing is there yet, or WARD_ESYS. */
ptrdiff_t ward__read(ward__fd fd, void *p, size_t n);
/* Writes what the host's own stderr takes of `p` at once, never waiting
 * (the bytes written; pieces no larger than a pipe takes whole). */
size_t ward__stderr_now(const void *p, size_t n);
/* What the system says of its error code `code` (an errno on POSIX:
 * strerror; on Windows a GetLastError value: FormatMessageW, in UTF-8,
 * without the line end and final period), in `buf`, always terminated;
 * returns `buf`. A code the system does not know is "error N". */
const char *ward__sys_text(int code, char *buf, size_t cap);
/* Makes a new private directory (owner only) `root`/`prefix`XXXXXX, with
 * a random end, and returns its absolute path (malloc'd) in *out. `what`
 * names it in errors ("data directory"). */
int ward__private_dir(const char *root, const char *prefix, const char *what, char **out);
/* A worker process: dies when the process `ppid` that started it dies,
 * as long as that process is its parent (PR_SET_PDEATHSIG where it
 * exists; elsewhere the end of the channel says it). A parent that is
 * not `ppid` (a wrapper that forked it) must not take it along. */
void ward__follow_parent(long ppid);

/* The event loop: a set of watched objects, each with a pointer that the
 * wait reports. Any thread may add, change or remove a watch while
 * another waits: the change holds from the next wait on (a wait under
 * way may still report what it found before it). */
typedef struct ward__loop ward__loop;
typedef struct ward__loop_event {
  void *ptr;
  int events; /* WARD__IN | WARD__OUT | WARD__HUP */
} ward__loop_event;

/* `pollable`: ward__loop_fd will be asked for (a host on the program's
 * own loop), so the backend prepares it. */
int ward__loop_new(ward__loop **out, int pollable);
void ward__loop_free(ward__loop *l);
int ward__loop_add(ward__loop *l, ward__fd fd, int events, void *ptr);
int ward__loop_mod(ward__loop *l, ward__fd fd, int events, void *ptr);
void ward__loop_del(ward__loop *l, ward__fd fd);
/* Waits up to `timeout_ms` (-1 forever); returns the count of events. */
int ward__loop_wait(ward__loop *l, ward__loop_event *evs, int max, int timeout_ms);
/* The loop's one timer: from `ms` from now on (0: at once) the wait
 * reports `ptr` ready (WARD__IN) at every call, until the timer is armed
 * again; a negative `ms` disarms it. For a pollable loop, whose program
 * waits on ward__loop_fd instead: the timer makes that readable too. */
int ward__loop_timer(ward__loop *l, int64_t ms, void *ptr);
/* Of a pollable loop: what becomes readable whenever a wait would report
 * something (a program's loop watches it; nobody reads or closes it). */
ward__fd ward__loop_fd(const ward__loop *l);

/* From any thread: the loop's wait under way returns (or its next one, at
 * once), reporting no event for it. An eventfd on Linux, a self-pipe on
 * the portable backend. */
void ward__loop_wake(ward__loop *l);

#endif
