/*
 * test_deploy.c — `ward run` where operators deploy it: as PID 1 of a
 * PID namespace (a container's entrypoint, under `unshare --pid --fork
 * --mount-proc`) and as a child subreaper, reaping what its services
 * orphan; under systemd, with a fake notify socket (READY=1 once up,
 * STATUS=, RELOADING=1, STOPPING=1, WATCHDOG=1 pings, NOTIFY_SOCKET kept
 * from the services) and a fake journal (--journal, in a mount namespace
 * of the test's own, with a socket at /run/systemd/journal/stdout).
 * The cases that need a namespace say SKIP where the system refuses one.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>

#include "tdaemon.h"

static void wait_log_count(const char *text, int want) {
  int64_t deadline = t_now_ms() + 30000;
  while (log_count(text) < want) {
    if (t_now_ms() > deadline) {
      char *e = read_file(errlog);
      fprintf(stderr, "--- daemon stderr ---\n%s", e);
      free(e);
      T_FAIL("fewer than %d '%s' in the daemon's stderr within 30 s", want, text);
    }
    pause_ms(20);
  }
}

/* The zombies among the children of `parent`. */
static int zombies_of(int parent) {
  DIR *d = opendir("/proc");
  T_TRUE(d != NULL);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9')
      continue;
    char path[300];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f)
      continue;
    char buf[1024];
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = 0;
    char *p = strrchr(buf, ')');
    char state;
    int ppid;
    if (p && sscanf(p + 1, " %c %d", &state, &ppid) == 2 && ppid == parent && state == 'Z')
      n++;
  }
  closedir(d);
  return n;
}

/* A service that leaves 12 orphans, each ending a moment after its
 * parent shell has gone. */
#define ORPHANS 12
static const char orphaner[] =
    "[service orphaner]\n"
    "command = sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sh -c \"sleep 0.05 &\"; done; "
    "exec sleep 1000'\n";

/* Not PID 1: ward asks to be the subreaper, so the orphans come to it
 * (and would go to the system's init otherwise) and it reaps them. */
static void test_subreaper(void) {
  write_conf(orphaner);
  start_daemon();
  T_TRUE(log_count("reaper=subreaper") == 1);
  wait_log_count("orphan-reaped", ORPHANS);
  json_decref(wait_state("orphaner", "ready"));
  T_EQ_INT(zombies_of(daemon_pid), 0);
  stop_daemon();
}

/* The first pid of `pid`'s children. */
static int child_of(int pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task/%d/children", pid, pid);
  int64_t deadline = t_now_ms() + 30000;
  for (;;) {
    char *s = read_file(path);
    int c = atoi(s);
    free(s);
    if (c > 0)
      return c;
    T_TRUE(t_now_ms() < deadline);
    pause_ms(20);
  }
}

/* PID 1 of a new PID namespace, as in a container: every orphan is
 * reaped, SIGTERM stops the services gracefully and ends ward (so the
 * namespace) with status 0, which the runtime sees. */
static void test_pid1(void) {
  if (system("unshare --pid --fork true 2>/dev/null") != 0) {
    printf("SKIP: this system makes no PID namespace for us\n");
    return;
  }
  write_conf(orphaner);
  char *argv[] = {"unshare", "--pid", "--fork", "--mount-proc", (char *)ward_bin,
                  "run",     conf_path, NULL};
  start_daemon_argv(argv, environ);
  T_TRUE(log_count("pid=1 ") == 1 && log_count("reaper=pid1") == 1);
  wait_log_count("orphan-reaped", ORPHANS);
  json_decref(wait_state("orphaner", "ready"));
  int ward_pid = child_of(daemon_pid); /* unshare forked it */
  T_EQ_INT(zombies_of(ward_pid), 0);
  T_TRUE(kill(ward_pid, SIGTERM) == 0);
  T_EQ_INT(wait_exit(daemon_pid), 0);
  daemon_pid = 0;
  T_EQ_INT(log_count("stopped orphaner outcome=graceful"), 1);
  T_EQ_INT(log_count("daemon-exited"), 1);
}

/* ---- systemd's notify socket ---- */

static int notify_fd = -1;

/* The next datagram, or NULL after 30 s (a static buffer). */
static const char *next_note(void) {
  static char buf[4096];
  struct pollfd pf = {.fd = notify_fd, .events = POLLIN};
  if (poll(&pf, 1, 30000) != 1)
    return NULL;
  ssize_t n = recv(notify_fd, buf, sizeof buf - 1, 0);
  T_TRUE(n >= 0);
  buf[n] = 0;
  return buf;
}

/* Reads datagrams until one holds `want`; counts those holding `count`
 * (if not NULL) on the way. */
static void wait_note(const char *want, const char *count, int *counted) {
  for (;;) {
    const char *m = next_note();
    if (!m)
      T_FAIL("no '%s' from ward within 30 s", want);
    if (count && strstr(m, count))
      (*counted)++;
    if (strstr(m, want))
      return;
  }
}

static void test_notify(void) {
  char path[sizeof ((struct sockaddr_un *)0)->sun_path];
  T_TRUE(snprintf(path, sizeof path, "%s/notify.sock", dir) < (int)sizeof path);
  notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  T_TRUE(notify_fd >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  T_TRUE(bind(notify_fd, (struct sockaddr *)&sa, sizeof sa) == 0);

  /* ward's environment plus the unit's variables. */
  size_t n = 0;
  while (environ[n])
    n++;
  char **env = calloc(n + 3, sizeof *env);
  T_TRUE(env != NULL);
  memcpy(env, environ, n * sizeof *env);
  char ns[160], wd[] = "WATCHDOG_USEC=200000";
  snprintf(ns, sizeof ns, "NOTIFY_SOCKET=%s", path);
  env[n] = ns;
  env[n + 1] = wd;

  write_conf("[service web]\n"
             "command = sh -c 'echo \"notify=${NOTIFY_SOCKET:-none} wd=${WATCHDOG_USEC:-none}\"; "
             "exec sleep 1000'\n");
  char *argv[] = {(char *)ward_bin, "run", conf_path, NULL};
  start_daemon_argv(argv, env);
  free(env);

  /* READY=1 once the service is ready, not before. */
  int statuses = 0;
  wait_note("READY=1", "STATUS=", &statuses);
  T_EQ_INT(log_count("ready web"), 1);
  /* The status line says it, and the watchdog is pinged. */
  int pings = 0;
  wait_note("STATUS=1 of 1 instances ready", "WATCHDOG=1", &pings);
  for (int i = 0; i < 3; i++)
    wait_note("WATCHDOG=1", NULL, NULL);
  /* The unit's variables are ward's, not its services'. */
  wait_ctl_logs("web", "notify=none wd=none\n");

  /* A reload: RELOADING=1, then READY=1 again. */
  kill(daemon_pid, SIGHUP);
  wait_note("RELOADING=1", NULL, NULL);
  wait_note("READY=1", NULL, NULL);

  kill(daemon_pid, SIGTERM);
  wait_note("STOPPING=1", NULL, NULL);
  T_EQ_INT(wait_exit(daemon_pid), 0);
  daemon_pid = 0;
  close(notify_fd);
}

/* ---- the journal ---- */

/* One stream a service's output came in on, as journald reads it: seven
 * header lines (identifier, unit, priority, level prefix, and three
 * forwarding flags), then the lines. */
typedef struct jstream {
  int fd;
  char buf[8192];
  size_t len;
} jstream;

/* The stream whose header names `ident` with `prio`, holding a line
 * `line`: 1 when one does. */
static int journal_has(jstream *v, int n, const char *ident, const char *prio, const char *line) {
  for (int i = 0; i < n; i++) {
    char want[256];
    snprintf(want, sizeof want, "%s\n\n%s\n1\n", ident, prio);
    if (strncmp(v[i].buf, want, strlen(want)) != 0)
      continue;
    char body[128];
    snprintf(body, sizeof body, "\n%s\n", line);
    if (strstr(v[i].buf, body))
      return 1;
  }
  return 0;
}

static void test_journal(void) {
  if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
      mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") != 0) {
    printf("SKIP: this system makes no mount namespace for us (%s)\n", strerror(errno));
    return;
  }
  write_conf("[service echoer]\n"
             "command = sh -c 'echo hello-journal; echo oops >&2; exec sleep 1000'\n");

  /* No journal: refused at start, saying why. */
  run_result r;
  RUN(&r, "run", "--journal", conf_path);
  EXPECT(&r, r.code == 1 && strstr(r.err, "cannot reach the journal"));
  run_result_free(&r);

  T_TRUE(mkdir("/run/systemd", 0755) == 0 && mkdir("/run/systemd/journal", 0755) == 0);
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "/run/systemd/journal/stdout");
  T_TRUE(bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(lfd, 16) == 0);

  char *argv[] = {(char *)ward_bin, "run", "--journal", conf_path, NULL};
  start_daemon_argv(argv, environ);
  T_EQ_INT(log_count("log_dir=journal"), 1);

  enum { MAXS = 8 };
  jstream v[MAXS];
  int n = 0;
  int64_t deadline = t_now_ms() + 30000;
  while (!journal_has(v, n, "echoer", "6", "hello-journal") ||
         !journal_has(v, n, "echoer", "4", "oops")) {
    T_TRUE(t_now_ms() < deadline);
    struct pollfd pf[MAXS + 1];
    pf[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
    for (int i = 0; i < n; i++)
      pf[i + 1] = (struct pollfd){.fd = v[i].fd, .events = POLLIN};
    if (poll(pf, (nfds_t)n + 1, 1000) <= 0)
      continue;
    if (pf[0].revents && n < MAXS) {
      v[n].fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
      T_TRUE(v[n].fd >= 0);
      v[n].len = 0;
      v[n].buf[0] = 0;
      n++;
    }
    for (int i = 0; i < n; i++) {
      if (!pf[i + 1].revents || v[i].len + 1 >= sizeof v[i].buf)
        continue;
      ssize_t k = read(v[i].fd, v[i].buf + v[i].len, sizeof v[i].buf - 1 - v[i].len);
      if (k > 0) {
        v[i].len += (size_t)k;
        v[i].buf[v[i].len] = 0;
      }
    }
  }
  /* Nothing went to files. */
  char path[160];
  snprintf(path, sizeof path, "%s/echoer.log", logdir);
  T_TRUE(access(path, F_OK) != 0);
  stop_daemon();
  for (int i = 0; i < n; i++)
    close(v[i].fd);
  close(lfd);
}

int main(int argc, char **argv) {
  tdaemon_setup(argc, argv, "test_deploy");
  T_RUN(test_subreaper);
  T_RUN(test_pid1);
  T_RUN(test_notify);
  T_RUN(test_journal); /* last: it leaves the test in a namespace of its own */
  tdaemon_cleanup();
  return t_done();
}
