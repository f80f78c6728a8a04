/*
 * proc.c — starting, watching, signalling and reaping worker processes
 * with nothing but POSIX (the portable backend: macOS, the BSDs, and
 * Linux when asked for).
 *
 * Design notes
 * ------------
 * Without pidfds, the one news of a child's end that a program gets
 * without polling is SIGCHLD. ward installs a handler for it the first
 * time a host is created: if the program had one, ward's calls it after
 * its own work (chained, with the same arguments); if the program had
 * none (or ignored SIGCHLD), ward's is the only one. A program that sets
 * its own handler later must call the one it replaces (docs/platforms.md).
 *
 * Each process gets a pipe: the loop watches its read end (the
 * process's ward__proc_watch), and the handler writes a byte to the
 * write end of every live process's pipe, since a signal does not say
 * which child it is about (and several exits may make one signal). The
 * loop then looks at each such process with a waitid(WNOWAIT) that reaps
 * nothing: one that has not ended goes on, with its pipe drained. The
 * cost of an exit so grows with the number of live processes (a write
 * each), as in libuv's handling of SIGCHLD.
 *
 * The handler reads a table of write ends that threads change while it
 * may run: a slot is published or cleared with an atomic store, a bigger
 * table replaces a full one with an atomic pointer, and whoever clears a
 * slot or drops a table waits until no handler runs before it closes the
 * descriptor or frees the memory, so the handler never writes to a
 * descriptor that has been closed (and perhaps reused).
 *
 * Resource figures: POSIX has no way to read a live process's memory or
 * CPU time (getrusage covers only the caller and its reaped children), so
 * they are WARD_UNKNOWN here, and a memory limit is not enforced; the
 * start time is the host's clock at the spawn.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unix.h"
#include "ward_int.h"

typedef struct exit_table {
  size_t len;
  atomic_int fd[]; /* write ends, -1 for a free slot */
} exit_table;

static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER; /* a leaf lock */
static _Atomic(exit_table *) table;
static atomic_int in_handler;
static struct sigaction chained; /* the program's own, or SIG_DFL */
static int installed;
static size_t free_hint;

/* Until no SIGCHLD handler runs anywhere: what it may have loaded is no
 * longer in use. */
static void handlers_done(void) {
  while (atomic_load(&in_handler) > 0)
    sched_yield();
}

static void on_sigchld(int sig, siginfo_t *si, void *uc) {
  int saved = errno;
  atomic_fetch_add(&in_handler, 1);
  exit_table *t = atomic_load(&table);
  for (size_t i = 0; t && i < t->len; i++) {
    int fd = atomic_load(&t->fd[i]);
    if (fd >= 0) {
      char b = 1;
      ssize_t r = write(fd, &b, 1); /* a full pipe has news enough */
      (void)r;
    }
  }
  atomic_fetch_sub(&in_handler, 1);
  if (chained.sa_flags & SA_SIGINFO) {
    if (chained.sa_sigaction)
      chained.sa_sigaction(sig, si, uc);
  } else if (chained.sa_handler != SIG_DFL && chained.sa_handler != SIG_IGN) {
    chained.sa_handler(sig);
  }
  errno = saved;
}

/* Installs the handler once per process (table_mu held). */
static int install(void) {
  if (installed)
    return 0;
  struct sigaction old, sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigchld;
  sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NOCLDSTOP;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGCHLD, NULL, &old) < 0)
    return ward__fail_sys(WARD_ESYS, errno, "sigaction(SIGCHLD)");
  /* Ignoring SIGCHLD would have the system reap our children unasked:
   * that disposition is not kept (nor called). */
  if ((old.sa_flags & SA_SIGINFO) || (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN))
    chained = old;
  else
    chained.sa_handler = SIG_DFL;
  if (sigaction(SIGCHLD, &sa, NULL) < 0)
    return ward__fail_sys(WARD_ESYS, errno, "sigaction(SIGCHLD)");
  installed = 1;
  return 0;
}

/* Publishes `fd` in a free slot of the table: its index, or an error. */
static int table_add(int fd, size_t *at) {
  pthread_mutex_lock(&table_mu);
  int rv = install();
  exit_table *t = atomic_load(&table);
  size_t len = t ? t->len : 0, i = len;
  for (size_t k = 0; !rv && k < len; k++) {
    size_t j = (free_hint + k) % len;
    if (atomic_load(&t->fd[j]) < 0) {
      i = j;
      break;
    }
  }
  if (!rv && i == len) {
    size_t nlen = len ? len * 2 : 64;
    exit_table *n = malloc(sizeof *n + nlen * sizeof n->fd[0]);
    if (!n) {
      rv = WARD_ENOMEM;
    } else {
      n->len = nlen;
      for (size_t k = 0; k < nlen; k++)
        atomic_init(&n->fd[k], k < len ? atomic_load(&t->fd[k]) : -1);
      atomic_store(&table, n);
      handlers_done();
      free(t);
      t = n;
    }
  }
  if (!rv) {
    atomic_store(&t->fd[i], fd);
    free_hint = i + 1;
    *at = i;
  }
  pthread_mutex_unlock(&table_mu);
  return rv;
}

static void table_remove(size_t at) {
  pthread_mutex_lock(&table_mu);
  exit_table *t = atomic_load(&table);
  int fd = atomic_exchange(&t->fd[at], -1);
  handlers_done();
  pthread_mutex_unlock(&table_mu);
  ward__close(fd);
}

/* ------------------------------------------------------------------ */

struct ward__spawner {
  int unused;
};

int ward__spawner_new(ward__spawner **out) {
  ward__spawner *sp = calloc(1, sizeof *sp);
  if (!sp)
    return WARD_ENOMEM;
  /* The handler is there before any child can end. */
  pthread_mutex_lock(&table_mu);
  int rv = install();
  pthread_mutex_unlock(&table_mu);
  if (rv) {
    free(sp);
    return rv;
  }
  *out = sp;
  return 0;
}

void ward__spawner_free(ward__spawner *sp) { free(sp); }

int ward__proc_spawn(ward__spawner *sp, ward__proc *p, const ward__spawn_args *a) {
  (void)sp;
  *p = (ward__proc)WARD__PROC_NONE;
  int pp[2];
  int rv = ward__pipe(pp);
  if (rv)
    return rv;
  size_t at;
  rv = ward__set_nonblock(pp[1], 1); /* the handler never waits */
  if (!rv)
    rv = table_add(pp[1], &at);
  if (rv) {
    ward__close(pp[0]);
    ward__close(pp[1]);
    return rv;
  }
  /* Watched before the child exists, so that no end goes unnoticed. */
  rv = ward__unix_spawn(p, a);
  if (rv) {
    table_remove(at);
    ward__close(pp[0]);
    return rv;
  }
  p->watch = pp[0];
  p->os = (void *)(uintptr_t)(at + 1);
  p->started_ms = ward__wall_ms();
  return 0;
}

ward__fd ward__proc_watch(const ward__proc *p) { return p->watch; }

int ward__proc_reap(ward__proc *p, int *code, int *sig) {
  *code = -1;
  *sig = 0;
  if (p->pid <= 0)
    return 1;
  /* The news is taken first: an end after the look below writes again. */
  char buf[64];
  while (p->watch >= 0 && read(p->watch, buf, sizeof buf) > 0) {
  }
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int r;
  /* Look first without reaping: while the zombie holds its pid, the group
   * id is still ours, and whatever the worker left in its group goes. */
  do
    r = waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    p->pid = 0; /* someone else reaped it: gone, status unknown */
    return 1;
  }
  if (si.si_pid == 0)
    return 0;
  kill(-p->pid, SIGKILL);
  int st;
  pid_t w;
  do
    w = waitpid(p->pid, &st, WNOHANG);
  while (w < 0 && errno == EINTR);
  if (w > 0 && WIFEXITED(st))
    *code = WEXITSTATUS(st);
  else if (w > 0 && WIFSIGNALED(st))
    *sig = WTERMSIG(st);
  p->pid = 0;
  return 1;
}

void ward__proc_kill(ward__proc *p, int sig) {
  if (p->pid <= 0)
    return;
  /* The group id is the child's pid, still ours while it is unreaped. */
  kill(-p->pid, sig);
  kill(p->pid, sig);
}

void ward__proc_close(ward__proc *p) {
  if (p->os) {
    table_remove((size_t)(uintptr_t)p->os - 1);
    p->os = NULL;
  }
  ward__close(p->watch);
  p->watch = -1;
}

int ward__proc_usage(const ward__proc *p, uint64_t *rss, uint64_t *cpu_ms, int64_t *start_ms) {
  *rss = WARD_UNKNOWN;
  *cpu_ms = WARD_UNKNOWN;
  if (start_ms)
    *start_ms = p->started_ms;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Process trees: process groups alone (docs/platforms.md)             */

int ward__trees_kind(const ward__trees *t) { return (void)t, WARD_TREE_PGROUP; }

int ward__proc_tree(const ward__proc *p) {
  return p->pid > 0 ? WARD_TREE_PGROUP : WARD_TREE_NONE;
}

int ward__proc_pause(ward__proc *p, int on) {
  if (p->pid <= 0)
    return ward__fail(WARD_EINVAL, "no process to pause");
  if (kill(-p->pid, on ? SIGSTOP : SIGCONT) != 0)
    return ward__fail_sys(WARD_ESYS, errno, on ? "SIGSTOP" : "SIGCONT");
  return 0;
}
