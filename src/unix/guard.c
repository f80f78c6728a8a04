/*
 * guard.c — the guard process: no orphans even when the host is killed.
 *
 * Workers die with their host through PR_SET_PDEATHSIG, but what a worker
 * started itself does not. So the host starts, once, a small child of its
 * own: it reads "+PGID\n" and "-PGID\n" lines from a pipe, and when the
 * pipe reaches end of stream (the host is gone, however it went) it kills
 * every process group still listed, then exits.
 *
 * The guard is forked from a possibly multithreaded program, so it only
 * uses async-signal-safe calls and static memory. It leaves the terminal's
 * process group, and ignores the signals a terminal sends, so that a ^C
 * reaching the host does not also take away the guard.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "platform.h"
#include "ward_int.h"

#define GUARD_MAX 65536

static pid_t guard_groups[GUARD_MAX];

static void guard_apply(const char *line, size_t n, int *count) {
  if (n < 2)
    return;
  pid_t v = 0;
  for (size_t i = 1; i < n && line[i] >= '0' && line[i] <= '9'; i++)
    v = v * 10 + (line[i] - '0');
  if (v <= 0)
    return;
  if (line[0] == '+' && *count < GUARD_MAX) {
    guard_groups[(*count)++] = v;
  } else if (line[0] == '-') {
    for (int i = 0; i < *count; i++) {
      if (guard_groups[i] == v) {
        guard_groups[i] = guard_groups[--*count];
        break;
      }
    }
  }
}

static _Noreturn void guard_main(int rfd) {
  static char buf[4096];
  char line[32];
  size_t ll = 0;
  int count = 0;
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
      if (buf[i] == '\n') {
        guard_apply(line, ll, &count);
        ll = 0;
      } else if (ll < sizeof line) {
        line[ll++] = buf[i];
      }
    }
  }
  for (int i = 0; i < count; i++)
    kill(-guard_groups[i], SIGKILL);
  _exit(0);
}

int ward__guard_start(ward__guard *g) {
  int p[2];
  g->pid = 0;
  g->fd = -1;
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
    close_range(4, ~0U, 0);
    for (int fd = 0; fd < 3; fd++)
      if (fd != 3)
        close(fd);
    guard_main(3);
  }
  close(p[0]);
  g->pid = pid;
  g->fd = p[1];
  return 0;
}

static void guard_send(ward__guard *g, char sign, pid_t pgid) {
  if (g->fd < 0 || pgid <= 0)
    return;
  char line[32];
  int n = snprintf(line, sizeof line, "%c%d\n", sign, (int)pgid);
  ssize_t w;
  do
    w = write(g->fd, line, (size_t)n);
  while (w < 0 && errno == EINTR);
}

void ward__guard_add(ward__guard *g, pid_t pgid) { guard_send(g, '+', pgid); }
void ward__guard_remove(ward__guard *g, pid_t pgid) { guard_send(g, '-', pgid); }

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
