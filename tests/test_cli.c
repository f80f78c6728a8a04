/*
 * test_cli.c — drives the real `ward` binary (its path is argv[1]; CMake
 * passes $<TARGET_FILE:ward_cli>) and checks what a user or a script sees:
 * exit codes, what goes to stdout and what to stderr, the table of
 * `ward probe` and its JSON, parsed with jansson.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

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

/* Runs `ward ARGS...` (NULL-terminated) with stdin on /dev/null. */
static void run(run_result *r, const char *const *args) {
  char *argv[16];
  int argc = 0;
  argv[argc++] = (char *)ward_bin;
  for (size_t i = 0; args[i] != NULL && argc < 15; i++)
    argv[argc++] = (char *)args[i];
  argv[argc] = NULL;

  int out[2], err[2];
  T_TRUE(pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  pid_t pid;
  int rc = posix_spawn(&pid, ward_bin, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    T_FAIL("posix_spawn %s: %s", ward_bin, strerror(rc));
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

#define RUN(r, ...) run((r), (const char *const[]){__VA_ARGS__, NULL})

/* ---- the tool ---- */

static void test_help(void) {
  run_result r;
  RUN(&r, "--help");
  EXPECT(&r, r.code == 0);
  EXPECT(&r, strstr(r.out, "probe") != NULL);
  EXPECT(&r, strstr(r.out, "Usage") != NULL);
  EXPECT(&r, r.err_len == 0);
  /* The hidden worker command is plumbing, not listed. */
  EXPECT(&r, strstr(r.out, "__probe-worker") == NULL);
  run_result_free(&r);
}

static void test_version(void) {
  char want[64];
  snprintf(want, sizeof want, "%s\n", ward_version_string());
  run_result r;
  RUN(&r, "--version");
  EXPECT(&r, r.code == 0);
  EXPECT(&r, strcmp(r.out, want) == 0);
  run_result_free(&r);
  RUN(&r, "probe", "--version");
  EXPECT(&r, r.code == 0);
  EXPECT(&r, strcmp(r.out, want) == 0);
  run_result_free(&r);
}

/* A usage error: exit 2, a message naming `culprit` on stderr, and
 * nothing on stdout. */
static void expect_usage_error(run_result *r, const char *culprit) {
  EXPECT(r, r->code == 2);
  EXPECT(r, r->out_len == 0);
  EXPECT(r, strstr(r->err, culprit) != NULL);
  run_result_free(r);
}

static void test_usage_errors(void) {
  run_result r;
  RUN(&r, "frobnicate");
  expect_usage_error(&r, "frobnicate");
  RUN(&r, "--frobnicate");
  expect_usage_error(&r, "--frobnicate");
  RUN(&r, "probe", "--frobnicate");
  expect_usage_error(&r, "--frobnicate");
  RUN(&r, "probe", "extra");
  expect_usage_error(&r, "extra");
  RUN(&r, "probe", "--json=yes");
  expect_usage_error(&r, "--json");
  /* No command at all: the usage, on stderr. */
  static const char *const nothing[] = {NULL};
  run(&r, nothing);
  expect_usage_error(&r, "Usage");
}

static void test_probe_help(void) {
  run_result r;
  RUN(&r, "probe", "--help");
  EXPECT(&r, r.code == 0);
  EXPECT(&r, r.err_len == 0);
  EXPECT(&r, strstr(r.out, "--json") != NULL);
  EXPECT(&r, strstr(r.out, "--quick") != NULL);
  EXPECT(&r, strstr(r.out, "Exit status") != NULL);
  run_result_free(&r);
}

/* The worker command is for `ward probe` to start; by hand it is refused. */
static void test_worker_by_hand(void) {
  run_result r;
  RUN(&r, "__probe-worker");
  EXPECT(&r, r.code == 2);
  EXPECT(&r, r.out_len == 0);
  EXPECT(&r, r.err_len > 0);
  run_result_free(&r);
}

/* ---- ward probe ---- */

static const struct {
  const char *key, *label, *unit;
} figures[] = {
    {"spawn", "cold spawn", "ms"},        {"first_call", "first call", "us"},
    {"round_trip", "round trip", "us"},   {"stream", "streaming", "rows/s"},
    {"cancel", "cancellation", "us"},     {"cycle", "cycle", "ms"},
    {"crash_recovery", "crash recovery", "ms"}, {"host_rss", "host RSS", "KiB"},
    {"worker_rss", "worker RSS", "KiB"},
};
#define NFIGURES (sizeof figures / sizeof figures[0])

/* The table line of `label`: it starts the line, then a number, the unit
 * and "ok". */
static int table_line_ok(const char *out, const char *label, const char *unit) {
  size_t n = strlen(label);
  for (const char *line = out; line != NULL && *line != '\0';) {
    const char *end = strchr(line, '\n');
    if (strncmp(line, label, n) == 0 && line[n] == ' ') {
      double value;
      char got_unit[16], status[16];
      if (sscanf(line + n, "%lf %15s %15s", &value, got_unit, status) != 3)
        return 0;
      return strcmp(got_unit, unit) == 0 && strcmp(status, "ok") == 0 && value >= 0;
    }
    line = end != NULL ? end + 1 : NULL;
  }
  return 0;
}

static void test_probe_table(void) {
  run_result r;
  RUN(&r, "probe", "--quick");
  EXPECT(&r, r.code == 0);
  EXPECT(&r, r.err_len == 0);
  EXPECT(&r, strstr(r.out, ward_version_string()) != NULL);
  for (size_t i = 0; i < NFIGURES; i++)
    EXPECT(&r, table_line_ok(r.out, figures[i].label, figures[i].unit));
  EXPECT(&r, strstr(r.out, "all 9 checks passed") != NULL);
  run_result_free(&r);
}

static void expect_figure(run_result *r, json_t *checks, size_t i) {
  json_t *c = json_object_get(checks, figures[i].key);
  EXPECT(r, json_is_object(c));
  EXPECT(r, json_is_string(json_object_get(c, "status")));
  EXPECT(r, strcmp(json_string_value(json_object_get(c, "status")), "pass") == 0);
  EXPECT(r, json_is_number(json_object_get(c, "value")));
  EXPECT(r, json_number_value(json_object_get(c, "value")) >= 0);
  EXPECT(r, json_is_string(json_object_get(c, "unit")));
  EXPECT(r, strcmp(json_string_value(json_object_get(c, "unit")), figures[i].unit) == 0);
  EXPECT(r, json_is_string(json_object_get(c, "detail")));
}

static void test_probe_json(void) {
  run_result r;
  RUN(&r, "probe", "--quick", "--json");
  EXPECT(&r, r.code == 0);
  EXPECT(&r, r.err_len == 0);
  /* The whole of stdout is one JSON value: jansson refuses trailing text. */
  json_error_t error;
  json_t *root = json_loadb(r.out, r.out_len, 0, &error);
  if (root == NULL)
    fprintf(stderr, "JSON error: %s (line %d)\n", error.text, error.line);
  EXPECT(&r, json_is_object(root));
  EXPECT(&r, json_is_true(json_object_get(root, "passed")));
  EXPECT(&r, json_is_true(json_object_get(root, "quick")));
  EXPECT(&r, json_array_size(json_object_get(root, "failed")) == 0);
  const char *version = json_string_value(json_object_get(root, "ward_version"));
  EXPECT(&r, version != NULL && strcmp(version, ward_version_string()) == 0);
  EXPECT(&r, json_is_integer(json_object_get(json_object_get(root, "system"), "cpus")));
  json_t *checks = json_object_get(root, "checks");
  EXPECT(&r, json_is_object(checks));
  EXPECT(&r, json_object_size(checks) == NFIGURES);
  for (size_t i = 0; i < NFIGURES; i++)
    expect_figure(&r, checks, i);
  json_decref(root);
  run_result_free(&r);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_cli PATH_TO_WARD\n");
    return 2;
  }
  ward_bin = argv[1];
  T_RUN(test_help);
  T_RUN(test_version);
  T_RUN(test_usage_errors);
  T_RUN(test_probe_help);
  T_RUN(test_worker_by_hand);
  T_RUN(test_probe_table);
  T_RUN(test_probe_json);
  return t_done();
}
