/*
 * cgroup.h — a worker's process tree as a cgroup v2 of its own (Linux):
 * what spawn.c asks of cgroup.c.
 */
#ifndef WARD_LINUX_CGROUP_H
#define WARD_LINUX_CGROUP_H

#include "platform.h"

/* One process's cgroup, kept in ward__proc.os. */
typedef struct ward__cg {
  int procs_fd; /* its cgroup.procs, open for the start; -1 after */
  int dir_fd;   /* its directory, for clone3's CLONE_INTO_CGROUP; -1 after */
  int populated_gone; /* 1 once the directory is removed */
  uint32_t oom_kills; /* memory.events oom_kill, as the reap found it */
  char path[];  /* its directory */
} ward__cg;

/* A new cgroup for the next process of `t` with the limits `lim` (may be
 * NULL): NULL where the host has none to give (process groups then), or
 * when it cannot be made (never an error: the start goes on without). */
ward__cg *ward__cg_new(ward__trees *t, const ward__tree_limits *lim);
/* The start is over: the descriptors used to place the child go. */
void ward__cg_started(ward__cg *cg);
/* Kills every process in it (cgroup.kill; on a kernel without it, freeze,
 * SIGKILL each one listed, thaw). 0, or the errno. */
int ward__cg_kill(const char *path);
/* Removes the directory once its processes are gone (waiting for that at
 * most `wait_ms`): 1 when it is gone. */
int ward__cg_remove(ward__cg *cg, int wait_ms);
/* Freezes (1) or thaws (0) it, waiting up to `wait_ms` for the kernel to
 * say it is done: 0, or the errno. */
int ward__cg_freeze(const char *path, int on, int wait_ms);
void ward__cg_free(ward__cg *cg);
/* The kernel's OOM kills in the cgroup `dir` (memory.events), 0 where
 * it has no memory controller. */
uint32_t ward__cg_oom_kills(const char *dir);
/* The figures of the cgroup `dir`. */
void ward__cg_stats(const char *dir, ward__tree_stats *st);

#endif
