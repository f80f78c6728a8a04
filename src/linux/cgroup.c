/*
 * cgroup.c — each worker process in a cgroup v2 of its own, so that a
 * stop, a crash or the host's death ends everything it started (a
 * descendant that called setsid() included), a pause freezes all of it,
 * and its limits and figures are the whole tree's.
 *
 * Design notes
 * ------------
 * Where: the host makes one directory, ward-PID-N, under a base: the
 * cgroup its options name (ward_host_opts.cgroup), else its own cgroup
 * (from /proc/self/cgroup's "0::" line) if it may create cgroups there:
 * one delegated to its user (systemd's Delegate=yes), or any as root.
 * The unified hierarchy is found in /proc/self/mountinfo (type cgroup2),
 * wherever it is mounted (/sys/fs/cgroup, or .../unified in the hybrid
 * layout). Each process then gets WARD_DIR/N. Without a place to make
 * them (no cgroup2 mount, a cgroup not ours, a read-only mount) the host
 * keeps process groups: never a failed start for it.
 *
 * Placement: the clone child (spawn.c) is born in its cgroup (clone3's
 * CLONE_INTO_CGROUP, 5.7, given the directory's descriptor). A move
 * instead (a write to cgroup.procs) takes the kernel's lock on every
 * thread group for writing, which waits out an RCU grace period: 5 to
 * 12 ms on the machine measured, on every start of a worker, with the
 * host's loop held meanwhile (the clone is a vfork). Where clone3 is not
 * to be had (an older kernel, a seccomp filter that refuses it, a build
 * for another architecture, WARD_NO_CLONE3=1), the clone child writes
 * "0" into its cgroup's cgroup.procs, through a descriptor the host
 * opened, first thing, before it runs anything else: so every process
 * it ever starts is inside either way. (The kernel checks the opener's
 * rights for such a write, so a child that will become another user
 * still may.) The posix_spawn fallback cannot: there the host moves the
 * pid right after the start, which leaves the instant between exec and
 * the move uncovered.
 *
 * A host killed together with its guard leaves its directory, and what
 * its workers started (they die with it; their escapees do not). So each
 * host holds a flock() on its directory while it lives, and a new host
 * in the same place ends and removes those of hosts gone, their lock
 * free and their pid no process (sweep_stale_hosts).
 *
 * Ending: cgroup.kill (5.14) kills every process in the cgroup at once,
 * those that left the worker's process group too. On an older kernel the
 * cgroup is frozen, every pid listed in cgroup.procs is sent SIGKILL, and
 * it is thawed (a frozen process cannot fork meanwhile; WARD_NO_CGROUP_KILL=1
 * takes this way where cgroup.kill exists, for the tests). The directory
 * goes once cgroup.events says "populated 0" (bounded: SIGKILL takes a
 * moment to finish a process off); one left behind is removed with the
 * host's directory when the host is freed.
 *
 * Limits: memory.max, memory.high, pids.max and cpu.max are written when
 * the controller is enabled for the host's directory: the host enables
 * those that its base lists in cgroup.controllers (a base with processes
 * of its own, not the root, cannot: the kernel's "no internal processes"
 * rule; a delegated subtree is usually set up with the supervisor in a
 * leaf of its own for that reason: docs/deploy.md).
 *
 * The guard process (src/unix/guard.c) calls ward__unix_tree_end, which
 * makes system calls alone and uses static memory: it runs forked from
 * a possibly multithreaded host.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "unix.h"
#include "ward_int.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define CG_PATH 4096

struct ward__trees {
  int kind;              /* WARD_TREE_CGROUP or WARD_TREE_PGROUP */
  unsigned limits;       /* WARD__LIMIT_* */
  _Atomic unsigned next; /* the next process's number */
  char *dir;             /* the host's directory, or NULL */
  int dir_fd;            /* it, open and flock()ed while the host lives */
};

/* Hosts of this program, numbered (two hosts, two directories). */
static _Atomic unsigned hosts_made;

/* ------------------------------------------------------------------ */
/* Small file work, with system calls alone (the guard uses these)     */

/* dir + "/" + name into buf; 0 when it does not fit. */
static int join(char *buf, size_t cap, const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  if (a + 1 + b + 1 > cap)
    return 0;
  memcpy(buf, dir, a);
  buf[a] = '/';
  memcpy(buf + a + 1, name, b + 1);
  return 1;
}

/* Writes `text` to dir/name: 0, or the errno. */
static int put(const char *dir, const char *name, const char *text) {
  char path[CG_PATH];
  if (!join(path, sizeof path, dir, name))
    return ENAMETOOLONG;
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  size_t n = strlen(text);
  ssize_t w;
  do
    w = write(fd, text, n);
  while (w < 0 && errno == EINTR);
  int e = w < 0 ? errno : 0;
  close(fd);
  return e;
}

/* Reads dir/name into buf (terminated): the length, or -1. */
static ssize_t get(const char *dir, const char *name, char *buf, size_t cap) {
  char path[CG_PATH];
  if (!join(path, sizeof path, dir, name))
    return -1;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n;
  do
    n = read(fd, buf, cap - 1);
  while (n < 0 && errno == EINTR);
  close(fd);
  if (n < 0)
    return -1;
  buf[n] = 0;
  return n;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until cgroup.events says `key` is `want` (a change of the file
 * wakes a poll for POLLPRI), for at most `wait_ms`: 1 once it does. */
static int events_wait(const char *dir, const char *key, char want, int wait_ms) {
  char path[CG_PATH], buf[256];
  if (!join(path, sizeof path, dir, "cgroup.events"))
    return 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  size_t klen = strlen(key);
  int64_t end = mono_ms() + wait_ms;
  int ok = 0;
  for (;;) {
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n < 0)
      break;
    buf[n] = 0;
    for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p) {
      if (strncmp(p, key, klen) == 0 && p[klen] == ' ') {
        ok = p[klen + 1] == want;
        break;
      }
    }
    int64_t left = end - mono_ms();
    if (ok || left <= 0)
      break;
    struct pollfd pfd = {fd, POLLPRI, 0};
    poll(&pfd, 1, (int)(left < 50 ? left : 50));
  }
  close(fd);
  return ok;
}

/* ------------------------------------------------------------------ */
/* One cgroup: kill, freeze, remove                                    */

/* The subdirectories (child cgroups) of `dir`, as names back to back in
 * `list` (`cap` bytes): how many bytes it filled. System calls alone. */
static size_t child_cgroups(const char *dir, char *list, size_t cap, char *dents, size_t dcap) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  size_t used = 0;
  long n;
  while ((n = syscall(SYS_getdents64, fd, dents, dcap)) > 0) {
    for (long off = 0; off < n;) {
      unsigned short reclen;
      memcpy(&reclen, dents + off + 16, sizeof reclen);
      unsigned char type = (unsigned char)dents[off + 18];
      const char *d = dents + off + 19;
      size_t len = strlen(d);
      if (type == DT_DIR && strcmp(d, ".") && strcmp(d, "..") && used + len + 1 < cap) {
        memcpy(list + used, d, len + 1);
        used += len + 1;
      }
      off += reclen;
    }
  }
  close(fd);
  return used;
}

#define CG_DEPTH 8

/* SIGKILL to every process listed in `dir` and the cgroups below it
 * (cgroup.procs lists a cgroup's own processes alone). */
static void kill_procs(const char *dir, int depth) {
  static char buf[65536];
  static char names[CG_DEPTH][4096], dents[CG_DEPTH][4096];
  ssize_t n = get(dir, "cgroup.procs", buf, sizeof buf);
  for (ssize_t i = 0; n > 0 && i < n;) {
    long pid = 0;
    while (i < n && buf[i] >= '0' && buf[i] <= '9')
      pid = pid * 10 + (buf[i++] - '0');
    if (pid > 0)
      kill((pid_t)pid, SIGKILL);
    while (i < n && (buf[i] < '0' || buf[i] > '9'))
      i++;
  }
  if (depth >= CG_DEPTH)
    return;
  size_t used = child_cgroups(dir, names[depth], sizeof names[depth], dents[depth],
                              sizeof dents[depth]);
  for (size_t at = 0; at < used; at += strlen(names[depth] + at) + 1) {
    char path[CG_PATH];
    if (join(path, sizeof path, dir, names[depth] + at))
      kill_procs(path, depth + 1);
  }
}

/* The old kernels' way: nothing can fork while frozen (a freeze holds the
 * cgroups below too), so one pass over the lists finds them all. */
static int kill_listed(const char *path) {
  int e = put(path, "cgroup.freeze", "1");
  if (e)
    return e;
  events_wait(path, "frozen", '1', 1000);
  kill_procs(path, 0);
  put(path, "cgroup.freeze", "0");
  return 0;
}

/* WARD_NO_CGROUP_KILL=1 makes ward behave as on a kernel without
 * cgroup.kill (before 5.14), so that way is tested too. */
int ward__cg_kill(const char *path) {
  const char *off = getenv("WARD_NO_CGROUP_KILL");
  int e = off && *off == '1' ? ENOENT : put(path, "cgroup.kill", "1");
  if (e == ENOENT)
    e = kill_listed(path);
  return e;
}

int ward__cg_freeze(const char *path, int on, int wait_ms) {
  int e = put(path, "cgroup.freeze", on ? "1" : "0");
  if (!e)
    events_wait(path, "frozen", on ? '1' : '0', wait_ms);
  return e;
}

/* Removes the cgroup `dir` and those below it, once empty (each waited
 * for up to `wait_ms`). */
static int rm_tree(const char *dir, int wait_ms, int depth);

static void rm_child(const char *dir, const char *name, int wait_ms, int depth) {
  char path[CG_PATH];
  if (join(path, sizeof path, dir, name))
    rm_tree(path, wait_ms, depth + 1);
}

static int rm_tree(const char *dir, int wait_ms, int depth) {
  if (rmdir(dir) == 0 || errno == ENOENT)
    return 1;
  if (errno == EBUSY && depth < CG_DEPTH) {
    /* Children first: a cgroup's directory holds files that cannot be
     * removed, and subdirectories that are its child cgroups. The names
     * are read first (removing while reading would shift the rest), into
     * static memory, as the guard calls this. */
    static char names[CG_DEPTH][4096], dents[CG_DEPTH][4096];
    size_t used = child_cgroups(dir, names[depth], sizeof names[depth], dents[depth],
                                sizeof dents[depth]);
    for (size_t at = 0; at < used; at += strlen(names[depth] + at) + 1)
      rm_child(dir, names[depth] + at, wait_ms, depth);
  }
  if (rmdir(dir) == 0 || errno == ENOENT)
    return 1;
  if (errno == EBUSY && wait_ms > 0 && events_wait(dir, "populated", '0', wait_ms))
    return rmdir(dir) == 0 || errno == ENOENT;
  return 0;
}

int ward__cg_remove(ward__cg *cg, int wait_ms) {
  if (!cg->populated_gone)
    cg->populated_gone = rm_tree(cg->path, wait_ms, 0);
  return cg->populated_gone;
}

void ward__cg_started(ward__cg *cg) {
  if (cg->procs_fd >= 0)
    close(cg->procs_fd);
  if (cg->dir_fd >= 0)
    close(cg->dir_fd);
  cg->procs_fd = -1;
  cg->dir_fd = -1;
}

void ward__cg_free(ward__cg *cg) {
  if (!cg)
    return;
  ward__cg_started(cg);
  free(cg);
}

/* The guard's end (src/unix/guard.c), the host gone: kill everything in
 * the host's cgroups, then remove them. */
void ward__unix_tree_end(const char *dir) {
  ward__cg_kill(dir);
  rm_tree(dir, 2000, 0);
}

/* ------------------------------------------------------------------ */
/* Finding the place                                                   */

/* The unified hierarchy's mount point and the cgroup path its root is
 * (not "/" inside a cgroup namespace's bind mount), from mountinfo:
 *   ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - TYPE SOURCE ... */
static int find_unified(char *mnt, size_t mcap, char *root, size_t rcap) {
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f)
    return 0;
  char line[4096];
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) {
    const char *sep = strstr(line, " - ");
    if (!sep || strncmp(sep + 3, "cgroup2 ", 8) != 0)
      continue;
    char r[2048], m[2048];
    if (sscanf(line, "%*s %*s %*s %2047s %2047s", r, m) != 2)
      continue;
    /* Octal escapes (\040 for a space) are left as they are: such a
     * mount point is not one a system uses. */
    if ((size_t)snprintf(mnt, mcap, "%s", m) < mcap &&
        (size_t)snprintf(root, rcap, "%s", r) < rcap)
      found = 1;
  }
  fclose(f);
  return found;
}

/* This process's cgroup on the unified hierarchy ("0::/path"). */
static int own_cgroup(char *buf, size_t cap) {
  FILE *f = fopen("/proc/self/cgroup", "re");
  if (!f)
    return 0;
  char line[4096];
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) {
    if (strncmp(line, "0::", 3) != 0)
      continue;
    line[strcspn(line, "\n")] = 0;
    found = (size_t)snprintf(buf, cap, "%s", line + 3) < cap;
  }
  fclose(f);
  return found;
}

static int is_cgroup2(const char *path) {
  struct statfs sf;
  return statfs(path, &sf) == 0 && (unsigned long)sf.f_type == CGROUP2_SUPER_MAGIC;
}

/* The directory under which to make the host's: `base` as given (an
 * absolute path on the unified hierarchy, or one relative to its mount),
 * else the host's own cgroup. */
static int find_base(const char *base, char *out, size_t cap) {
  char mnt[2048], root[2048], own[2048];
  if (base && base[0] == '/' && is_cgroup2(base))
    return (size_t)snprintf(out, cap, "%s", base) < cap;
  if (!find_unified(mnt, sizeof mnt, root, sizeof root))
    return 0;
  if (base) {
    while (*base == '/')
      base++;
    return (size_t)snprintf(out, cap, "%s/%s", mnt, base) < cap && is_cgroup2(out);
  }
  if (!own_cgroup(own, sizeof own))
    return 0;
  /* The path is from the namespace's root; the mount shows `root` of it. */
  const char *rel = own;
  size_t rlen = strlen(root);
  if (strcmp(root, "/") != 0) {
    if (strncmp(own, root, rlen) != 0 || (own[rlen] && own[rlen] != '/'))
      return 0;
    rel = own + rlen;
  }
  return (size_t)snprintf(out, cap, "%s%s", mnt, strcmp(rel, "/") ? rel : "") < cap &&
         is_cgroup2(out);
}

/* Enables in `dir`'s subtree the controllers it has of those limits use:
 * each on its own, as one refused must not cost the others. */
static void enable_controllers(const char *dir) {
  char have[512];
  if (get(dir, "cgroup.controllers", have, sizeof have) < 0)
    return;
  static const char *const want[] = {"memory", "pids", "cpu"};
  for (size_t i = 0; i < 3; i++) {
    size_t n = strlen(want[i]);
    for (const char *p = have; (p = strstr(p, want[i])) != NULL; p += n) {
      if ((p == have || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n])) {
        char cmd[16];
        snprintf(cmd, sizeof cmd, "+%s", want[i]);
        put(dir, "cgroup.subtree_control", cmd);
        break;
      }
    }
  }
}

static unsigned limits_of(const char *dir) {
  char on[512];
  unsigned l = 0;
  if (get(dir, "cgroup.subtree_control", on, sizeof on) < 0)
    return 0;
  for (char *t = strtok(on, " \n"); t; t = strtok(NULL, " \n")) {
    if (!strcmp(t, "memory"))
      l |= WARD__LIMIT_MEMORY;
    else if (!strcmp(t, "pids"))
      l |= WARD__LIMIT_PIDS;
    else if (!strcmp(t, "cpu"))
      l |= WARD__LIMIT_CPU;
  }
  return l;
}

/* Whether `name` in `where` is the directory of a host that is gone,
 * its guard too: its lock is free (a host holds it while it lives, in
 * whatever pid namespace), and its pid is no process here (a host of a
 * version without the lock, alive, keeps its own). */
static int stale_host(int wfd, const char *name) {
  int pid;
  unsigned n;
  char end;
  if (sscanf(name, "ward-%d-%u%c", &pid, &n, &end) != 2 || pid <= 0 || pid == getpid())
    return 0;
  if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
    return 0;
  int fd = openat(wfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  int free_lock = flock(fd, LOCK_EX | LOCK_NB) == 0;
  close(fd);
  return free_lock;
}

/* A host killed together with its guard (SIGKILL to both, an OOM kill)
 * leaves its directory, and what its workers started that outlived them
 * (the workers themselves die with their host): the next host made in
 * the same place ends them and removes it, as the guard would have. */
static void sweep_stale_hosts(const char *where) {
  DIR *d = opendir(where);
  if (!d)
    return;
  struct dirent *e;
  char path[CG_PATH];
  while ((e = readdir(d)) != NULL) {
    if (e->d_type != DT_DIR || strncmp(e->d_name, "ward-", 5) != 0 ||
        !stale_host(dirfd(d), e->d_name) || !join(path, sizeof path, where, e->d_name))
      continue;
    ward__cg_kill(path);
    rm_tree(path, 1000, 0);
  }
  closedir(d);
}

int ward__trees_new(ward__trees **out, const char *base, int off) {
  ward__trees *t = calloc(1, sizeof *t);
  if (!t)
    return WARD_ENOMEM;
  t->kind = WARD_TREE_PGROUP;
  t->dir_fd = -1;
  char where[CG_PATH], dir[CG_PATH];
  int made = 0;
  if (!off && find_base(base, where, sizeof where) && access(where, W_OK) == 0) {
    /* The pid alone may not tell hosts apart: two containers' PID 1 can
     * share a cgroup parent. A name taken is passed over. */
    for (int tries = 0; !made && tries < 64; tries++) {
      unsigned n = atomic_fetch_add(&hosts_made, 1);
      int len = snprintf(dir, sizeof dir, "%s/ward-%d-%u", where, (int)getpid(), n);
      if (len <= 0 || (size_t)len >= sizeof dir - 32)
        break;
      made = mkdir(dir, 0755) == 0;
      if (!made && errno != EEXIST)
        break;
    }
    if (made) {
      t->dir = strdup(dir);
      if (!t->dir) {
        rmdir(dir);
        free(t);
        return WARD_ENOMEM;
      }
      t->kind = WARD_TREE_CGROUP;
      /* Held for the host's life (the guard, forked before, has no copy):
       * another host can tell that this one is gone. */
      t->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (t->dir_fd >= 0)
        flock(t->dir_fd, LOCK_EX | LOCK_NB);
      sweep_stale_hosts(where);
      enable_controllers(where);
      enable_controllers(dir);
      t->limits = limits_of(dir);
    }
  }
  *out = t;
  return 0;
}

void ward__trees_free(ward__trees *t) {
  if (!t)
    return;
  if (t->dir) {
    /* Its workers are gone by now; what is left (a process that outlived
     * a bounded wait) goes with the directory. */
    ward__cg_kill(t->dir);
    if (t->dir_fd >= 0)
      close(t->dir_fd);
    rm_tree(t->dir, 2000, 0);
    free(t->dir);
  }
  free(t);
}

int ward__trees_kind(const ward__trees *t) { return t ? t->kind : WARD_TREE_PGROUP; }
const char *ward__trees_dir(const ward__trees *t) { return t ? t->dir : NULL; }
unsigned ward__trees_limits(const ward__trees *t) { return t ? t->limits : 0; }

/* Writes the limits its controllers allow (a refused one is left out:
 * the spec's RSS sampling still holds). */
static void set_limits(const ward__trees *t, const char *dir, const ward__tree_limits *lim) {
  char v[64];
  if (t->limits & WARD__LIMIT_MEMORY) {
    if (lim->memory_high) {
      snprintf(v, sizeof v, "%" PRIu64, lim->memory_high);
      put(dir, "memory.high", v);
    }
    if (lim->memory_max) {
      snprintf(v, sizeof v, "%" PRIu64, lim->memory_max);
      put(dir, "memory.max", v);
    }
  }
  if ((t->limits & WARD__LIMIT_PIDS) && lim->pids_max) {
    snprintf(v, sizeof v, "%" PRIu64, lim->pids_max);
    put(dir, "pids.max", v);
  }
  if ((t->limits & WARD__LIMIT_CPU) && lim->cpu_pct) {
    snprintf(v, sizeof v, "%" PRIu64 " 100000", (uint64_t)lim->cpu_pct * 1000u);
    put(dir, "cpu.max", v);
  }
}

ward__cg *ward__cg_new(ward__trees *t, const ward__tree_limits *lim) {
  if (!t || !t->dir)
    return NULL;
  char dir[CG_PATH];
  int n = snprintf(dir, sizeof dir, "%s/%u", t->dir, atomic_fetch_add(&t->next, 1));
  if (n < 0 || (size_t)n >= sizeof dir - 32 || mkdir(dir, 0755) != 0)
    return NULL;
  size_t len = strlen(dir);
  ward__cg *cg = malloc(sizeof *cg + len + 1);
  if (!cg) {
    rmdir(dir);
    return NULL;
  }
  memcpy(cg->path, dir, len + 1);
  cg->populated_gone = 0;
  cg->oom_kills = 0;
  if (lim)
    set_limits(t, dir, lim);
  char procs[CG_PATH];
  cg->procs_fd = join(procs, sizeof procs, dir, "cgroup.procs")
                     ? open(procs, O_WRONLY | O_CLOEXEC)
                     : -1;
  if (cg->procs_fd < 0) {
    rmdir(dir);
    free(cg);
    return NULL;
  }
  /* Without it the child is moved in through cgroup.procs (spawn.c). */
  cg->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return cg;
}

/* ------------------------------------------------------------------ */
/* Figures                                                             */

uint32_t ward__cg_oom_kills(const char *dir) {
  char buf[1024];
  uint64_t v;
  if (get(dir, "memory.events", buf, sizeof buf) > 0 && !ward__keyed_u64(buf, "oom_kill", &v))
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
  return 0;
}

void ward__cg_stats(const char *dir, ward__tree_stats *st) {
  char buf[1024];
  static const char *const files[3] = {"cpu.pressure", "memory.pressure", "io.pressure"};
  for (int i = 0; i < 3; i++)
    st->pressure[i] = get(dir, files[i], buf, sizeof buf) > 0 ? ward__pressure_avg10(buf) : -1;
  st->memory = WARD_UNKNOWN;
  if (get(dir, "memory.current", buf, sizeof buf) > 0) {
    char *end;
    unsigned long long m = strtoull(buf, &end, 10);
    if (end != buf)
      st->memory = m;
  }
  st->oom_kills = ward__cg_oom_kills(dir);
}
