/*
 * guard.c — the guard process: no orphans, and nothing left behind, even
 * when the host is killed.
 *
 * Workers die with their host through PR_SET_PDEATHSIG (Linux) or the end
 * of their channel, but what a worker started itself does not, and nobody removes the workers' data
 * directories. So the host starts, once, a small child of its own that
 * keeps two lists it is told about through a pipe: the process groups of
 * the workers, and the data directories to remove when their worker goes.
 * When the pipe reaches end of stream (the host is gone, however it went)
 * the guard kills every process group still listed, waits a moment for
 * them to be gone, removes every directory still listed, and exits.
 *
 * Where the workers are in cgroups (Linux: src/linux/cgroup.c), the host
 * also names its cgroup directory, and the guard kills everything in it
 * (cgroup.kill: a process that left its group by setsid() too) and
 * removes it.
 *
 * Records on the pipe end with a NUL byte (a path may hold any other):
 *   +PGID   -PGID        a process group to kill / no longer to kill
 *   DID PATH   dID       a data directory (worker id ID) to remove / not
 *   TPATH                the host's cgroup directory
 * Each record is written with one write() of at most PIPE_BUF bytes, so
 * records from several threads never interleave.
 *
 * The guard is forked from a possibly multithreaded program, so it only
 * makes system calls and uses static memory (or memory it maps itself),
 * never malloc or stdio (the portable backend's directory reading aside:
 * src/posix/os.c). Shared by both backends; closing the host's
 * descriptors and reading a directory are each backend's. It leaves the terminal's process group, and
 * ignores the signals a terminal sends, so that a ^C reaching the host
 * does not also take away the guard.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unix.h"
#include "ward_int.h"

#define GUARD_MAX 65536
/* The room for data directory paths, mapped in the guard when it needs
 * it; pages it never touches cost nothing. */
#define DIRS_ROOM (16u << 20)
/* How deep a data directory is removed, and the buffer of each level. */
#define RM_DEPTH 32
#define RM_BUF 2048
/* How long the guard waits for the groups it killed to be gone before it
 * removes their directories (they might still be writing there). */
#define GONE_WAIT_MS 2000

static pid_t guard_groups[GUARD_MAX];
static int ngroups;

/* Directory records, back to back: the id as text, ' ', the path, NUL. */
static char *dirs;
static size_t dirs_len;

static char record[PIPE_BUF];
/* The host's cgroup directory, or empty. */
static char tree_dir[PIPE_BUF];
static char rm_bufs[RM_DEPTH][RM_BUF] __attribute__((aligned(8)));

static uint64_t parse_u64(const char *s, const char **end) {
  uint64_t v = 0;
  while (*s >= '0' && *s <= '9')
    v = v * 10 + (uint64_t)(*s++ - '0');
  *end = s;
  return v;
}

static void groups_apply(char sign, const char *arg) {
  const char *end;
  pid_t v = (pid_t)parse_u64(arg, &end);
  if (v <= 0)
    return;
  if (sign == '+' && ngroups < GUARD_MAX) {
    guard_groups[ngroups++] = v;
  } else if (sign == '-') {
    for (int i = 0; i < ngroups; i++) {
      if (guard_groups[i] == v) {
        guard_groups[i] = guard_groups[--ngroups];
        break;
      }
    }
  }
}

/* Removes the record of worker `id` from the directory list. */
static void dirs_drop(uint64_t id) {
  size_t at = 0;
  while (at < dirs_len) {
    const char *end;
    size_t len = strlen(dirs + at) + 1;
    if (parse_u64(dirs + at, &end) == id) {
      memmove(dirs + at, dirs + at + len, dirs_len - at - len);
      dirs_len -= len;
      return;
    }
    at += len;
  }
}

static void dirs_apply(char sign, const char *arg, size_t n) {
  const char *end;
  uint64_t id = parse_u64(arg, &end);
  if (sign == 'd') {
    dirs_drop(id);
    return;
  }
  if (*end != ' ' || end[1] != '/')
    return;
  if (!dirs) {
    void *m = mmap(NULL, DIRS_ROOM, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
      return;
    dirs = m;
  }
  if (dirs_len + n + 1 > DIRS_ROOM)
    return; /* best effort: the host removes it when it can */
  memcpy(dirs + dirs_len, arg, n);
  dirs[dirs_len + n] = 0;
  dirs_len += n + 1;
}

static void apply(const char *rec, size_t n) {
  if (n < 2)
    return;
  if (rec[0] == '+' || rec[0] == '-')
    groups_apply(rec[0], rec + 1);
  else if (rec[0] == 'D' || rec[0] == 'd')
    dirs_apply(rec[0], rec + 1, n - 1);
  else if (rec[0] == 'T' && rec[1] == '/')
    memcpy(tree_dir, rec + 1, n); /* with its NUL */
}

/* Removes `name` under the directory `dfd`, and all it holds. */
static void rm_at(int dfd, const char *name, int depth) {
  if (unlinkat(dfd, name, 0) == 0 || (errno != EISDIR && errno != EPERM))
    return;
  if (depth < RM_DEPTH) {
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      /* Entries removed while reading may shift the rest: read again from
       * the start until a pass finds nothing left. */
      while (ward__unix_dir_each(fd, rm_bufs[depth], RM_BUF, rm_at, depth + 1) > 0) {
      }
      close(fd);
    }
  }
  unlinkat(dfd, name, AT_REMOVEDIR);
}

/* Whether any of the killed groups still has a process. */
static int groups_alive(void) {
  for (int i = 0; i < ngroups; i++)
    if (kill(-guard_groups[i], 0) == 0)
      return 1;
  return 0;
}

static _Noreturn void guard_end(void) {
  for (int i = 0; i < ngroups; i++)
    kill(-guard_groups[i], SIGKILL);
  if (tree_dir[0])
    ward__unix_tree_end(tree_dir); /* waits for them to be gone */
  if (dirs_len) {
    /* SIGKILL takes effect asynchronously, and a dying process may still
     * create a file: the directories go once their groups are gone (or
     * after a bound, should one linger as a zombie nobody reaps). */
    struct timespec nap = {0, 10 * 1000000L};
    for (int waited = 0; waited < GONE_WAIT_MS && groups_alive(); waited += 10)
      nanosleep(&nap, NULL);
    for (size_t at = 0; at < dirs_len; at += strlen(dirs + at) + 1) {
      const char *path = strchr(dirs + at, ' ');
      if (path)
        rm_at(AT_FDCWD, path + 1, 0);
    }
  }
  _exit(0);
}

static _Noreturn void guard_main(int rfd) {
  static char buf[4096];
  size_t rl = 0;
  setpgid(0, 0);
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGTSTP, SIG_IGN);
  for (;;) {
    ssize_t n = read(rfd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] == 0) {
        record[rl < sizeof record ? rl : sizeof record - 1] = 0;
        apply(record, rl < sizeof record ? rl : 0);
        rl = 0;
      } else if (rl < sizeof record) {
        record[rl++] = buf[i];
      } else {
        rl = sizeof record; /* too long: the record is dropped */
      }
    }
  }
  guard_end();
}

void ward__guard_init(ward__guard *g) {
  g->pid = 0;
  g->fd = -1;
}

int ward__guard_start(ward__guard *g) {
  int p[2];
  ward__guard_init(g);
  if (pipe2(p, O_CLOEXEC) < 0)
    return ward__fail_sys(WARD_ESYS, errno, "pipe2");
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(p[0]);
    close(p[1]);
    return ward__fail_sys(WARD_ESYS, e, "fork");
  }
  if (pid == 0) {
    /* Nothing of the host's stays open here, so the guard keeps no socket,
     * pipe or file of it alive. */
    if (p[0] != 3)
      dup2(p[0], 3);
    ward__unix_close_from(4);
    for (int fd = 0; fd < 3; fd++)
      close(fd);
    guard_main(3);
  }
  close(p[0]);
  g->pid = pid;
  g->fd = p[1];
  return 0;
}

/* One record, in one write (so never interleaved with another's). */
static void guard_send(ward__guard *g, const char *rec, int n) {
  if (g->fd < 0 || n <= 0 || n >= PIPE_BUF)
    return;
  ssize_t w;
  do
    w = write(g->fd, rec, (size_t)n + 1); /* with its NUL */
  while (w < 0 && errno == EINTR);
}

static void guard_group(ward__guard *g, char sign, pid_t pgid) {
  if (pgid <= 0)
    return;
  char rec[32];
  guard_send(g, rec, snprintf(rec, sizeof rec, "%c%d", sign, (int)pgid));
}

/* A worker's process group has its pid for id. */
void ward__guard_add(ward__guard *g, const ward__proc *p) { guard_group(g, '+', p->pid); }
void ward__guard_remove(ward__guard *g, const ward__proc *p) { guard_group(g, '-', p->pid); }

void ward__guard_add_dir(ward__guard *g, uint64_t id, const char *path) {
  char rec[PIPE_BUF];
  if (path[0] != '/')
    return; /* the guard works from another directory */
  guard_send(g, rec, snprintf(rec, sizeof rec, "D%llu %s", (unsigned long long)id, path));
}

void ward__guard_remove_dir(ward__guard *g, uint64_t id) {
  char rec[32];
  guard_send(g, rec, snprintf(rec, sizeof rec, "d%llu", (unsigned long long)id));
}

void ward__guard_tree(ward__guard *g, const char *dir) {
  char rec[PIPE_BUF];
  if (dir && dir[0] == '/')
    guard_send(g, rec, snprintf(rec, sizeof rec, "T%s", dir));
}

void ward__guard_stop(ward__guard *g) {
  if (g->fd >= 0) {
    close(g->fd);
    g->fd = -1;
  }
  if (g->pid > 0) {
    int st;
    while (waitpid(g->pid, &st, 0) < 0 && errno == EINTR) {
    }
    g->pid = 0;
  }
}
