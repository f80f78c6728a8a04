/*
 * platform.h — what an operating-system backend provides to the portable
 * core. The Linux backend lives in src/unix/; another platform provides
 * the same functions under src/<platform>/.
 *
 * Every descriptor these functions create is close-on-exec. Functions
 * return 0 or a negative WARD_E* code and record the detail with
 * ward__fail_sys().
 */
#ifndef WARD_PLATFORM_H
#define WARD_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
/* A deadline `ms` from now; a negative `ms` means never (INT64_MAX). */
int64_t ward__deadline(int ms);

/* Gives memory the allocator holds unused back to the system (best
 * effort: nothing where the allocator has no such call). */
void ward__mem_trim(void);

/* A connected stream socket pair, both ends close-on-exec; sv[0] (the
 * host's end) is non-blocking. */
int ward__socketpair(int sv[2]);
int ward__set_nonblock(int fd, int on);
int ward__set_cloexec(int fd);
/* Waits until `fd` is ready for `events` (WARD__IN / WARD__OUT) or the
 * deadline passes. Returns the ready bits (WARD__HUP included on hang-up
 * or error), 0 on timeout, or WARD_ESYS. */
int ward__wait_fd(int fd, int events, int64_t deadline);
/* Best effort: fill `buf` with random bytes. */
int ward__random(void *buf, size_t n);
void ward__close(int fd);

/* A child process, tracked through a pidfd. */
typedef struct ward__proc {
  pid_t pid;
  int pidfd;
} ward__proc;

typedef struct ward__spawn_args {
  const char *exe;   /* path, or a bare name searched in PATH */
  char *const *argv; /* NULL-terminated */
  char *const *envp; /* NULL-terminated */
  const char *cwd;   /* or NULL */
  int chan_fd;       /* placed at fd `chan_at` in the child, or -1 */
  int chan_at;       /* 0: fd 3; a plain process's notification fd */
  int out_fd;        /* becomes the child's stdout; -1: inherit, -2: /dev/null */
  int err_fd;        /* the same for stderr */
} ward__spawn_args;

/* What starting children needs, prepared once per host (a few
 * descriptors of its own), so that a start costs the same however many
 * descriptors the host holds. One thread at a time may spawn with it. */
typedef struct ward__spawner ward__spawner;
int ward__spawner_new(ward__spawner **out);
void ward__spawner_free(ward__spawner *sp);

/* Starts the child in its own process group with stdin on /dev/null,
 * stdout/stderr inherited, and no other descriptor than the channel.
 * WARD_ESPAWN (errno kept) when the executable cannot be run: then no
 * process is left. Where pidfds do not exist, pidfd is -1 and the owner
 * must poll ward__proc_reap. */
int ward__proc_spawn(ward__spawner *sp, ward__proc *p, const ward__spawn_args *a);
/* Non-blocking reap: 1 with the status when it has exited, 0 if not yet.
 * Before reaping, whatever is left in the child's process group is
 * killed, while the group id is still certainly the child's. */
int ward__proc_reap(ward__proc *p, int *code, int *sig);
/* Sends `sig` to the child's whole process group (and to the child itself
 * through its pidfd, which cannot hit a reused pid). */
void ward__proc_kill(ward__proc *p, int sig);
void ward__proc_close(ward__proc *p);
/* Resident set (bytes), CPU time (user + system, ms) and start time (wall
 * clock, ms since the epoch; `start_ms` may be NULL) of a live process. */
int ward__proc_usage(pid_t pid, uint64_t *rss, uint64_t *cpu_ms, int64_t *start_ms);

/* The guard: a small process, started with the host, that outlives it
 * long enough to kill every worker's process group should the host die
 * without stopping them (even by SIGKILL), and then to remove the data
 * directories of its workers. The host tells it which groups and which
 * directories exist. */
typedef struct ward__guard {
  pid_t pid;
  int fd; /* write end of its pipe, or -1 when there is no guard */
} ward__guard;
int ward__guard_start(ward__guard *g);
void ward__guard_add(ward__guard *g, pid_t pgid);
void ward__guard_remove(ward__guard *g, pid_t pgid);
/* A data directory (absolute path) to remove should the host die; `id`
 * names it for ward__guard_remove_dir. */
void ward__guard_add_dir(ward__guard *g, uint64_t id, const char *path);
void ward__guard_remove_dir(ward__guard *g, uint64_t id);
/* Ends the guard normally and reaps it. */
void ward__guard_stop(ward__guard *g);

/* A listening socket in a new private 0700 directory, for
 * WARD_TRANSPORT_SOCKET. *dir and *path are malloc'd. */
int ward__listen_private(int *fd, char **dir, char **path);
/* Connects to the Unix socket at `path` (close-on-exec): 0, or the errno
 * (ENAMETOOLONG for a path that does not fit). */
int ward__unix_connect(const char *path, int *fd);
/* A non-blocking listener bound at `path`, chmod'ed to `mode` (0: as the
 * umask left it) before it listens: 0, or the errno, nothing left behind. */
int ward__unix_listen(const char *path, int mode, int backlog, int *fd);
/* Removes the socket and its directory. */
void ward__listen_remove(const char *dir, const char *path);
/* Accepts one connection (non-blocking): the fd, or WARD_ETIMEDOUT-free
 * 0 when none is pending, or an error. */
int ward__accept(int lfd, int *fd);
/* Whether the peer of a connected Unix socket runs as this process's user
 * (or as root, when `root_too`), as it did when it connected: 1 or 0, or
 * WARD_ESYS. Its pid goes to *pid (may be NULL). */
int ward__peer_is_us(int fd, int root_too, int *pid);
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
ssize_t ward__sock_send(int fd, const ward__buf *bufs, int n);
/* "Nothing there yet", from the reads below. */
#define WARD__AGAIN (-1000)
/* Receives up to `n` bytes (waiting for some when `block`): the count, 0
 * at the end of the stream, WARD__AGAIN when nothing is there yet, or
 * WARD_ECRASHED (errno kept). */
ssize_t ward__sock_recv(int fd, void *p, size_t n, int block);
/* Shuts both directions of a socket down, which wakes whoever polls it;
 * the descriptor stays open. */
void ward__sock_shutdown(int fd);

/* This process's id. */
int ward__self_pid(void);
/* Sleeps `ms` milliseconds (where there is nothing to wait on). */
void ward__sleep_ms(int ms);

/* A pipe, both ends close-on-exec, the read end p[0] non-blocking. */
int ward__pipe(int p[2]);
/* Reads up to `n` bytes from a non-blocking descriptor: the count, 0 at
 * the end, WARD__AGAIN when nothing is there yet, or WARD_ESYS. */
ssize_t ward__read(int fd, void *p, size_t n);
/* Writes what the host's own stderr takes of `p` at once, never waiting
 * (the bytes written; pieces no larger than a pipe takes whole). */
size_t ward__stderr_now(const void *p, size_t n);
/* Makes a new private directory (owner only) `root`/`prefix`XXXXXX, with
 * a random end, and returns its absolute path (malloc'd) in *out. `what`
 * names it in errors ("data directory"). */
int ward__private_dir(const char *root, const char *prefix, const char *what, char **out);
/* A worker process: dies when the process `ppid` that started it dies,
 * as long as that process is its parent (PR_SET_PDEATHSIG where it
 * exists; elsewhere the end of the channel says it). A parent that is
 * not `ppid` (a wrapper that forked it) must not take it along. */
void ward__follow_parent(long ppid);

/* The event loop: a set of watched descriptors, each with a pointer. */
typedef struct ward__loop_event {
  void *ptr;
  int events; /* WARD__IN | WARD__OUT | WARD__HUP */
} ward__loop_event;

int ward__loop_new(int *lfd);
int ward__loop_add(int lfd, int fd, int events, void *ptr);
int ward__loop_mod(int lfd, int fd, int events, void *ptr);
void ward__loop_del(int lfd, int fd);
/* Waits up to `timeout_ms` (-1 forever); returns the count of events. */
int ward__loop_wait(int lfd, ward__loop_event *evs, int max, int timeout_ms);

/* A wake-up descriptor for the loop (an eventfd on Linux). */
/* A timer descriptor for the loop: readable once armed time has passed.
 * ward__timer_arm: `ms` from now (0: at once; negative: disarm). */
int ward__timer_new(int *fd);
void ward__timer_arm(int fd, int64_t ms);
int ward__wake_new(int *fd);
void ward__wake_signal(int fd);
void ward__wake_drain(int fd);

#endif
