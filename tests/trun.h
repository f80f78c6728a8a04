/*
 * trun.h — runs the real `ward` binary from a test and keeps what it
 * printed and how it ended (test_cli, test_daemon).
 */
#ifndef WARD_TRUN_H
#define WARD_TRUN_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

extern char **environ;

static const char *ward_bin;

/* What one run of the binary produced. */
typedef struct run_result {
  int code; /* exit code; 128 + signal when killed */
  char *out, *err;
  size_t out_len, err_len;
} run_result;

static void run_result_free(run_result *r) {
  free(r->out);
  free(r->err);
}

/* Prints what the run produced, then fails: a failed expectation about a
 * program is only debuggable with its output. */
#define EXPECT(r, cond)                                                                     \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      fprintf(stderr, "exit %d\n--- stdout ---\n%s--- stderr ---\n%s--------------\n",       \
              (r)->code, (r)->out, (r)->err);                                               \
      T_FAIL("expected: %s", #cond);                                                        \
    }                                                                                       \
  } while (0)

/* Appends what `fd` has to *buf; returns 0 at end of file. */
static int drain(int fd, char **buf, size_t *len) {
  char chunk[4096];
  ssize_t n = read(fd, chunk, sizeof chunk);
  if (n < 0 && errno == EINTR)
    return 1;
  T_TRUE(n >= 0);
  if (n == 0)
    return 0;
  char *grown = realloc(*buf, *len + (size_t)n + 1);
  T_TRUE(grown != NULL);
  memcpy(grown + *len, chunk, (size_t)n);
  *len += (size_t)n;
  grown[*len] = '\0';
  *buf = grown;
  return 1;
}

/* Reads both pipes until both are closed: reading one to its end first
 * could deadlock on a child that fills the other. */
static void collect(run_result *r, int out_fd, int err_fd) {
  struct pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  char **bufs[2] = {&r->out, &r->err};
  size_t *lens[2] = {&r->out_len, &r->err_len};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      T_TRUE(errno == EINTR);
      continue;
    }
    for (int i = 0; i < 2; i++)
      if (fds[i].fd >= 0 && fds[i].revents != 0 && !drain(fds[i].fd, bufs[i], lens[i])) {
        close(fds[i].fd);
        fds[i].fd = -1;
        open_fds--;
      }
  }
}

/* The end of a run: `pid` writes its stdout to out[1] and its stderr to
 * err[1] (the caller's copies of both still open): gathers both, then
 * its exit. */
static void run_finish(run_result *r, pid_t pid, int out[2], int err[2]) {
  close(out[1]);
  close(err[1]);
  memset(r, 0, sizeof *r);
  r->out = calloc(1, 1);
  r->err = calloc(1, 1);
  collect(r, out[0], err[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    T_TRUE(errno == EINTR);
  r->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs `prog` (searched in PATH) with `argv` and stdin on /dev/null. */
static void run_prog(run_result *r, const char *prog, char *const argv[]) {
  int out[2], err[2];
  T_TRUE(pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  pid_t pid;
  int rc = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    T_FAIL("cannot run %s: %s", prog, strerror(rc));
  run_finish(r, pid, out, err);
}

/* Runs `ward ARGS...` (NULL-terminated) with stdin on /dev/null. */
static void run(run_result *r, const char *const *args) {
  char *argv[32];
  int argc = 0;
  argv[argc++] = (char *)ward_bin;
  for (size_t i = 0; args[i] != NULL && argc < 31; i++)
    argv[argc++] = (char *)args[i];
  argv[argc] = NULL;
  run_prog(r, ward_bin, argv);
}

#define RUN(r, ...) run((r), (const char *const[]){__VA_ARGS__, NULL})

#endif
