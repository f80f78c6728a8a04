/*
 * unix.h — what the POSIX code shared by the Linux and the portable POSIX
 * backends (src/unix/) and the code particular to each (src/linux/,
 * src/posix/) provide to one another. The core never includes it: it
 * sees src/platform.h alone.
 *
 * src/unix/ holds what every POSIX system does the same way (clocks,
 * pipes, Unix sockets, waiting on one descriptor, posix_spawn, the guard
 * process); src/linux/ and src/posix/ hold the loop, exit watching,
 * resource figures and the few calls the guard needs that differ.
 */
#ifndef WARD_UNIX_H
#define WARD_UNIX_H

#include <signal.h>

#include "platform.h"

/* Starts the child with posix_spawn as ward__proc_spawn says (own
 * process group, stdio, the channel, no other descriptor where the C
 * library can close them, default signals, the working directory), and
 * sets p->pid. WARD_ESPAWN (errno kept) when it cannot run. */
int ward__unix_spawn(ward__proc *p, const ward__spawn_args *a);
/* Where a child's start failed, as a child reports it. */
enum {
  WARD__SPAWN_SETUP = 1, /* its descriptors, process group, signals */
  WARD__SPAWN_EXEC,      /* the executable */
  WARD__SPAWN_CREDS,     /* its groups and user (ward_spec_user) */
  WARD__SPAWN_CWD        /* its working directory */
};
/* Records why the start of a child failed at `stage` with `err` (its
 * process already reaped) and returns the code: WARD_EPERM for a user it
 * may not take, else WARD_ESPAWN. */
int ward__unix_spawn_failed(const ward__spawn_args *a, int stage, int err);
/* Adds `nice` to the host's nice value for process `pid` (best effort). */
void ward__unix_nice(int pid, int nice);
/* The channel's descriptor number in a child (WARD_FD). */
#define WARD__UNIX_CHAN_FD 3
/* Signals a host may ignore or handle that a worker should start with at
 * their defaults (ignored dispositions survive exec otherwise). */
void ward__unix_default_signals(sigset_t *set);

/* Where a send cannot say MSG_NOSIGNAL (macOS), marks the socket so
 * that a write to a closed peer raises no SIGPIPE: 0 or WARD_ESYS. */
int ward__unix_nosigpipe(int fd);

/* In the guard process (forked, so async-signal-safe calls only): closes
 * every descriptor from `low` up. */
void ward__unix_close_from(int low);
/* In the guard process: calls fn(dfd, name, depth) for each entry of the
 * open directory `dfd` but "." and "..", reading from its start, with
 * `buf` (`size` bytes) as room if it needs some; returns how many it
 * found. `fn` may remove the entry it is given. */
int ward__unix_dir_each(int dfd, char *buf, unsigned size,
                        void (*fn)(int dfd, const char *name, int depth), int depth);
/* In the guard process, the host gone: kills every process in the host's
 * cgroup directory `dir` (ward__guard_tree) and removes it (Linux; the
 * portable backend has none, and does nothing). */
void ward__unix_tree_end(const char *dir);

#endif
