/*
 * tdaemon.h — runs the real `ward run` from a test (its binary is argv[1])
 * and watches it: its stderr, `ward ctl status`, its exit (test_daemon,
 * test_deploy).
 */
#ifndef WARD_TDAEMON_H
#define WARD_TDAEMON_H

#include <dirent.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <jansson.h>

#include "trun.h"

static char dir[48];
static char sock[96], conf_path[96], logdir[96], errlog[96];
static pid_t daemon_pid;

static inline void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  T_TRUE(f != NULL);
  fputs(text, f);
  T_TRUE(fclose(f) == 0);
}

static inline char *read_file(const char *path) {
  char *buf = calloc(1, 1);
  size_t len = 0;
  FILE *f = fopen(path, "r");
  if (!f)
    return buf;
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    buf = realloc(buf, len + n + 1);
    T_TRUE(buf != NULL);
    memcpy(buf + len, chunk, n);
    len += n;
    buf[len] = 0;
  }
  fclose(f);
  return buf;
}

/* The configuration: our [ward] section, then `services`. */
static inline void write_conf(const char *services) {
  char text[8192];
  snprintf(text, sizeof text, "[ward]\nsocket = %s\nlog_dir = %s\n\n%s", sock, logdir, services);
  write_file(conf_path, text);
}

#define CTL(r, ...) RUN((r), "ctl", "--socket", sock, __VA_ARGS__)

static inline json_t *status(void) {
  run_result r;
  CTL(&r, "--json", "status");
  /* 3: some instance that should run does not (yet). */
  EXPECT(&r, r.code == 0 || r.code == 3);
  json_error_t je;
  json_t *v = json_loads(r.out, 0, &je);
  EXPECT(&r, v != NULL);
  run_result_free(&r);
  return v;
}

/* The status row of an instance, or NULL (a new reference). */
static inline json_t *row(const char *name) {
  json_t *st = status(), *found = NULL;
  size_t i;
  json_t *x;
  json_array_foreach(json_object_get(st, "services"), i, x) if (
      strcmp(json_string_value(json_object_get(x, "name")), name) == 0) found = json_incref(x);
  json_decref(st);
  return found;
}

static inline const char *row_state(json_t *r) { return json_string_value(json_object_get(r, "state")); }
static inline int row_pid(json_t *r) { return (int)json_integer_value(json_object_get(r, "pid")); }

static inline void pause_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Polls the daemon until `name` is in `state` ("absent": not listed). */
static inline json_t *wait_state(const char *name, const char *state) {
  int64_t deadline = t_now_ms() + 30000;
  for (;;) {
    json_t *r = row(name);
    if (strcmp(state, "absent") == 0 ? r == NULL : r && strcmp(row_state(r), state) == 0)
      return r;
    if (t_now_ms() > deadline) {
      char *e = read_file(errlog);
      fprintf(stderr, "--- daemon stderr ---\n%s", e);
      free(e);
      T_FAIL("%s not %s within 30 s (now %s)", name, state, r ? row_state(r) : "absent");
    }
    json_decref(r);
    pause_ms(50);
  }
}

/* Polls until `name` is in `state` with a process (a service starting is
 * listed before its process is): its pid. */
static inline int wait_pid(const char *name, const char *state) {
  int64_t deadline = t_now_ms() + 30000;
  for (;;) {
    json_t *r = wait_state(name, state);
    int pid = row_pid(r);
    json_decref(r);
    if (pid > 0)
      return pid;
    T_TRUE(t_now_ms() < deadline);
    pause_ms(20);
  }
}

/* Polls the daemon's stderr until it holds `text`. */
static inline void wait_log(const char *text) {
  int64_t deadline = t_now_ms() + 30000;
  for (;;) {
    char *e = read_file(errlog);
    int found = strstr(e, text) != NULL;
    if (!found && t_now_ms() > deadline) {
      fprintf(stderr, "--- daemon stderr ---\n%s", e);
      free(e);
      T_FAIL("'%s' not in the daemon's stderr within 30 s", text);
    }
    free(e);
    if (found)
      return;
    pause_ms(50);
  }
}

/* How many lines of the daemon's stderr hold `text`. */
static inline int log_count(const char *text) {
  char *e = read_file(errlog);
  int n = 0;
  for (const char *p = e; (p = strstr(p, text)); p++)
    n++;
  free(e);
  return n;
}

/* Polls `ward ctl logs NAME` until its output is `text`. */
static inline void wait_ctl_logs(const char *name, const char *text) {
  int64_t deadline = t_now_ms() + 30000;
  for (;;) {
    run_result r;
    CTL(&r, "logs", name);
    int found = r.code == 0 && strcmp(r.out, text) == 0;
    if (!found && t_now_ms() > deadline)
      EXPECT(&r, found);
    run_result_free(&r);
    if (found)
      return;
    pause_ms(20);
  }
}

/* Starts `argv` (searched in PATH) with `envp`, its stderr into errlog,
 * and waits until the daemon says it started. */
static inline void start_daemon_argv(char *const argv[], char *const envp[]) {
  int err = open(errlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  T_TRUE(err >= 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, err, 2);
  T_TRUE(posix_spawnp(&daemon_pid, argv[0], &fa, NULL, argv, envp) == 0);
  posix_spawn_file_actions_destroy(&fa);
  close(err);
  wait_log("daemon-started");
}

static inline void start_daemon(void) {
  char *argv[] = {(char *)ward_bin, "run", conf_path, NULL};
  start_daemon_argv(argv, environ);
}

static inline int wait_exit(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0)
    T_TRUE(errno == EINTR);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static inline void stop_daemon(void) {
  kill(daemon_pid, SIGTERM);
  int code = wait_exit(daemon_pid);
  if (code != 0) {
    char *e = read_file(errlog);
    fprintf(stderr, "--- daemon stderr ---\n%s", e);
    free(e);
  }
  T_EQ_INT(code, 0);
  daemon_pid = 0;
}

/* A process is gone: no such pid, or a zombie nobody reaped yet. */
static inline int gone(int pid) {
  if (kill(pid, 0) < 0 && errno == ESRCH)
    return 1;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  char *s = read_file(path);
  char *p = strrchr(s, ')');
  int zombie = p && p[1] == ' ' && p[2] == 'Z';
  free(s);
  return zombie;
}

static inline void on_abort(int sig) {
  (void)sig;
  if (daemon_pid > 0)
    kill(daemon_pid, SIGKILL);
  signal(SIGABRT, SIG_DFL);
  raise(SIGABRT);
}

/* The scratch directory and the paths in it; the binary from argv. */
static inline void tdaemon_setup(int argc, char **argv, const char *name) {
  signal(SIGABRT, on_abort);
  if (argc < 2) {
    fprintf(stderr, "usage: %s PATH-TO-WARD\n", name);
    exit(2);
  }
  ward_bin = argv[1];
  snprintf(dir, sizeof dir, "/tmp/ward-daemon-XXXXXX");
  T_TRUE(mkdtemp(dir) != NULL);
  snprintf(sock, sizeof sock, "%s/ctl.sock", dir);
  snprintf(conf_path, sizeof conf_path, "%s/ward.ini", dir);
  snprintf(logdir, sizeof logdir, "%s/logs", dir);
  snprintf(errlog, sizeof errlog, "%s/daemon.err", dir);
}

static inline void tdaemon_cleanup(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
}

#endif
