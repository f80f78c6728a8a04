/*
 * test_daemon.c — drives the real `ward run` and `ward ctl` (the binary's
 * path is argv[1]): configurations refused with their line, a crash loop
 * that backs off and gives up, a service killed after its grace, reloads,
 * logs, rotation, a daemon killed with SIGKILL, control from a service,
 * the control socket's limits (a flood of idle connections, a follower
 * dropped to make room, a refusal when every connection is busy),
 * operations answered side by side, supervision groups, rolling
 * replacement (`ward ctl replace`, and reloads with `reload = replace`),
 * and the command line's exit codes.
 *
 * The test binary doubles as a service that links ward ("--svc-control"):
 * it asks the daemon, over its own channel, to spawn another service.
 */
#include <dirent.h>
#include <grp.h>
#include <pthread.h>
#include <stdatomic.h>

#include "tdaemon.h"
#include "tself.h"
#include "tslogsvc.h"

/* ---- the service that makes control requests ---- */

static int svc_control_main(void) {
  ward_client *c;
  if (ward_client_connect(&c))
    return 2;
  ward_msg *m = NULL;
  const char *req = "{\"name\":\"child\",\"argv\":[\"sleep\",\"1000\"]}";
  int rv = ward_client_request(&m, c, "ward.spawn", req, strlen(req), 60000);
  if (rv == 0)
    printf("spawn: ok\n");
  else
    printf("spawn: refused %d\n", rv == WARD_EREMOTE ? ward_msg_code(m) : rv);
  fflush(stdout);
  ward_msg_free(m);
  ward_client_run(c); /* serves (nothing) until stopped */
  ward_client_free(c);
  return 0;
}

/* ---- tests ---- */

static void expect_refused(const char *text, const char *where_what) {
  write_file(conf_path, text);
  char want[512];
  snprintf(want, sizeof want, "%s:%s", conf_path, where_what);
  run_result r;
  RUN(&r, "run", "--check", conf_path);
  EXPECT(&r, r.code == 3);
  EXPECT(&r, strstr(r.err, want) != NULL);
  run_result_free(&r);
}

static void test_bad_config(void) {
  expect_refused("[service a]\ncommand = true\nbogus = 1\n", "3: unknown key 'bogus'");
  expect_refused("; a comment\n[service a]\nrestart = always\n", "2: [service a] has no command");
  expect_refused("[service a]\ncommand = true\ninstances = many\n",
                 "3: instances: 'many' is not a number");
  expect_refused("[service a]\ncommand = true\nstop_grace = soon\n",
                 "3: stop_grace: 'soon' is not a duration");
  expect_refused("[service a]\ncommand = true\ndepends_on = b\n\n"
                 "[service b]\ncommand = true\ndepends_on = a\n",
                 "7: dependency cycle: a -> b -> a");
  expect_refused("[service a]\ncommand = true\ndepends_on = nobody\n",
                 "3: [service a] depends on 'nobody', which is not a service");
  expect_refused("[ward]\n\n[servce a]\ncommand = true\n", "3: unknown section [servce a]");
  expect_refused("[service a]\ncommand = true\nthis line is not ini\n", "3: syntax error");
  expect_refused("[service a]\ncommand = true\nrestart = always\nrestart = never\n",
                 "4: 'restart' given twice");
  expect_refused("[service a b]\ncommand = true\n", "1: 'a b' is not a service name");
  expect_refused("[service a]\ncommand = echo 'unbalanced\n", "2: cannot split");
  expect_refused("[service a]\n  command = echo hi\n  restart = never\n",
                 "3: an indented line continues the value of 'command'");
  expect_refused("[service b]\ncommand = true\n[service  b]\ncommand = true\n",
                 "3: section [service  b] given twice (first on line 1)");
  expect_refused("[service a]\ncommand = true\nenv = WARD_X=1\n",
                 "3: env: WARD_* variables are ward's own");
  expect_refused("[service a]\ncommand = true\nenv = novalue\n",
                 "3: env: 'novalue' is not KEY=VALUE");
  expect_refused("[ward]\nmax_connections = 0\n[service a]\ncommand = true\n",
                 "2: max_connections: '0' is not a number 1..10000");
  expect_refused("[ward]\nmax_connections = lots\n[service a]\ncommand = true\n",
                 "2: max_connections: 'lots' is not a number 1..10000");
  expect_refused("[ward]\nhandshake_timeout = 0\n[service a]\ncommand = true\n",
                 "2: handshake_timeout: '0' is not a duration of 1ms or more");
  expect_refused("[ward]\nhandshake_timeout = soon\n[service a]\ncommand = true\n",
                 "2: handshake_timeout: 'soon' is not a duration of 1ms or more");

  /* Refused before anything starts: the first service would leave a mark. */
  char mark[160], text[512];
  snprintf(mark, sizeof mark, "%s/started", dir);
  snprintf(text, sizeof text,
           "[ward]\nsocket = %s\n[service first]\ncommand = touch %s\nready = up 0\n"
           "[service second]\ncommand = true\nmemory_limit = lots\n",
           sock, mark);
  write_file(conf_path, text);
  run_result r;
  RUN(&r, "run", conf_path);
  EXPECT(&r, r.code == 3);
  EXPECT(&r, strstr(r.err, ":8: memory_limit: 'lots' is not a size") != NULL);
  run_result_free(&r);
  struct stat st;
  T_TRUE(stat(mark, &st) != 0);
  T_TRUE(stat(sock, &st) != 0);

  /* The example in examples/ is valid. */
  RUN(&r, "run", "--check", WARD_SOURCE_DIR "/examples/ward.ini");
  EXPECT(&r, r.code == 0);
  EXPECT(&r, strstr(r.out, "3 services") != NULL);
  run_result_free(&r);

  /* A good one passes --check. */
  write_conf("[service a]\ncommand = sleep 1000\n");
  RUN(&r, "run", "--check", conf_path);
  EXPECT(&r, r.code == 0);
  EXPECT(&r, strstr(r.out, "1 service") != NULL);
  run_result_free(&r);
}

static void test_crash_loop_and_logs(void) {
  write_conf("[service crash]\n"
             "command = sh -c 'echo \"last words of $WARD_NAME\" >&2; echo out; exit 3'\n"
             "ready = up 0\nmax_restarts = 3\nbackoff = 50ms\nbackoff_max = 1s\n");
  start_daemon();
  json_t *r = wait_state("crash", "failed");
  T_EQ_INT(json_integer_value(json_object_get(r, "restarts")), 3);
  T_EQ_INT(json_integer_value(json_object_get(json_object_get(r, "last_exit"), "code")), 3);
  json_decref(r);
  /* It backed off, doubling, then gave up. */
  wait_log("gave-up crash reason=exited");
  char *e = read_file(errlog);
  T_TRUE(strstr(e, "restarting crash attempt=1 delay_ms=50 ") != NULL);
  T_TRUE(strstr(e, "restarting crash attempt=2 delay_ms=100 ") != NULL);
  T_TRUE(strstr(e, "restarting crash attempt=3 delay_ms=200 ") != NULL);
  T_TRUE(strstr(e, "attempt=4") == NULL);
  free(e);

  /* Its last lines, from the daemon's memory. */
  run_result lr;
  CTL(&lr, "logs", "crash", "--stderr", "-n", "2");
  EXPECT(&lr, lr.code == 0);
  EXPECT(&lr, strcmp(lr.out, "last words of crash\nlast words of crash\n") == 0);
  run_result_free(&lr);
  CTL(&lr, "logs", "crash");
  EXPECT(&lr, lr.code == 0);
  size_t n = 0;
  for (const char *p = lr.out; (p = strstr(p, "last words of crash")); p++)
    n++;
  EXPECT(&lr, n == 4);
  EXPECT(&lr, strstr(lr.out, "out\n") != NULL);
  run_result_free(&lr);
  CTL(&lr, "--json", "logs", "crash", "--stdout");
  EXPECT(&lr, lr.code == 0);
  json_t *lines = json_loads(lr.out, 0, NULL);
  EXPECT(&lr, json_is_array(lines) && json_array_size(lines) == 4);
  EXPECT(&lr, strcmp(json_string_value(json_object_get(json_array_get(lines, 0), "stream")),
                     "stdout") == 0);
  json_decref(lines);
  run_result_free(&lr);

  /* And in its log file. */
  char path[160];
  snprintf(path, sizeof path, "%s/crash.log", logdir);
  char *f = read_file(path);
  T_TRUE(strstr(f, "Z crash err: last words of crash\n") != NULL);
  free(f);

  /* start brings it back (ready at once, by its configuration), and it
   * goes through its restarts again. */
  CTL(&lr, "start", "crash");
  /* It was ready; by the time `start` looks it may have given up again. */
  EXPECT(&lr, lr.code == 0 || (lr.code == 1 && strstr(lr.err, "failed")));
  run_result_free(&lr);
  r = wait_state("crash", "failed");
  T_TRUE(json_integer_value(json_object_get(r, "generation")) == 8);
  json_decref(r);
  stop_daemon();
}

static void test_grace_and_order(void) {
  write_conf("[service db]\ncommand = sleep 1000\nready = up 100ms\n\n"
             "[service web]\ncommand = sleep 1000\nready = up 0\ndepends_on = db\ninstances = 2\n\n"
             "[service stubborn]\n"
             "command = sh -c 'trap \"\" TERM; echo >&5; exec sleep 1000'\n"
             "ready = notify 5\nstop_grace = 300ms\n");
  start_daemon();
  json_decref(wait_state("web.2", "ready"));
  json_t *r = wait_state("stubborn", "ready");
  json_decref(r);
  /* Started in dependency order. */
  char *e = read_file(errlog);
  char *db_ready = strstr(e, "ready db"), *web_spawned = strstr(e, "spawned web.1");
  T_TRUE(db_ready && web_spawned && db_ready < web_spawned);
  free(e);

  /* Ignores SIGTERM: killed after its grace. */
  run_result c;
  CTL(&c, "stop", "stubborn");
  EXPECT(&c, c.code == 0);
  EXPECT(&c, strcmp(c.out, "stubborn: stopped (killed)\n") == 0);
  run_result_free(&c);
  wait_log("stopped stubborn outcome=killed");
  r = row("stubborn");
  T_EQ_STR(json_string_value(json_object_get(json_object_get(r, "last_exit"), "signal")), "KILL");
  json_decref(r);

  /* SIGTERM: dependents stop before what they depend on; exit 0. */
  stop_daemon();
  e = read_file(errlog);
  char *web_stopped = strstr(e, "stopped web.1"), *db_stopped = strstr(e, "stopped db ");
  T_TRUE(web_stopped && db_stopped && web_stopped < db_stopped);
  T_TRUE(strstr(e, "daemon-exited - code=0") != NULL);
  free(e);
  struct stat st;
  T_TRUE(stat(sock, &st) != 0); /* the socket went with it */
}

static void test_stop_during_slow_start(void) {
  /* "slow" and "stuck" never say they are ready (their startup timeout is
   * far away): status shows them coming up, other services can be stopped
   * and started meanwhile, and a stop of one ends its start, even with a
   * reload waiting for that start to end. */
  write_conf("[service quick]\ncommand = sleep 1000\nready = up 0\n"
             "[service slow]\ncommand = sleep 1000\nready = notify 3\n"
             "startup_timeout = 10m\n"
             "[service stuck]\ncommand = sh -c 'trap \"\" TERM; exec sleep 1000'\n"
             "ready = notify 3\nstartup_timeout = 10m\nstop_grace = 60s\n");
  start_daemon();
  json_decref(wait_state("quick", "ready"));
  T_TRUE(wait_pid("stuck", "starting") > 0);
  int pid = wait_pid("slow", "starting");
  run_result c;
  CTL(&c, "stop", "quick");
  EXPECT(&c, c.code == 0 && strcmp(c.out, "quick: stopped (graceful)\n") == 0);
  run_result_free(&c);
  CTL(&c, "start", "quick");
  EXPECT(&c, c.code == 0 && strcmp(c.out, "quick: ready\n") == 0);
  run_result_free(&c);
  /* kill: no grace, though it ignores SIGTERM and its grace is a minute. */
  CTL(&c, "kill", "stuck");
  EXPECT(&c, c.code == 0 && strcmp(c.out, "stuck: stopped (killed)\n") == 0);
  run_result_free(&c);
  kill(daemon_pid, SIGHUP); /* waits for the start of slow to end */
  wait_log("daemon-reload");
  CTL(&c, "stop", "slow");
  EXPECT(&c, c.code == 0 && strcmp(c.out, "slow: stopped (graceful)\n") == 0);
  run_result_free(&c);
  T_TRUE(gone(pid));
  wait_log("reloaded - added=[] removed=[] changed=[]");
  stop_daemon();
  char *e = read_file(errlog);
  T_TRUE(strstr(e, "stopped quick outcome=graceful") != NULL);
  free(e);

  /* SIGTERM while a start waits: taken at once. */
  write_conf("[service slow]\ncommand = sleep 1000\nready = notify 3\n"
             "startup_timeout = 10m\n");
  start_daemon();
  pid = wait_pid("slow", "starting");
  stop_daemon();
  T_TRUE(gone(pid));
}

static void test_reload(void) {
  write_conf("[service keep]\ncommand = sleep 1000\nready = up 0\n"
             "[service change]\ncommand = sleep 1000\nready = up 0\nenv = LEVEL=1\n"
             "[service drop]\ncommand = sleep 1000\nready = up 0\n");
  start_daemon();
  json_t *k = wait_state("keep", "ready"), *c = wait_state("change", "ready");
  json_decref(wait_state("drop", "ready"));
  int keep_pid = row_pid(k), change_pid = row_pid(c);
  json_decref(k);
  json_decref(c);

  write_conf("[service keep]\ncommand = sleep 1000\nready = up 0\n"
             "[service change]\ncommand = sleep 1000\nready = up 0\nenv = LEVEL=2\n"
             "[service add]\ncommand = sleep 1000\nready = up 0\n");
  kill(daemon_pid, SIGHUP);
  wait_log("reloaded - added=[\"add\"] removed=[\"drop\"] changed=[\"change\"]");
  json_decref(wait_state("drop", "absent"));
  json_decref(wait_state("add", "ready"));
  k = wait_state("keep", "ready");
  c = wait_state("change", "ready");
  T_EQ_INT(row_pid(k), keep_pid);   /* untouched */
  T_TRUE(row_pid(c) != change_pid); /* restarted */
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/environ", row_pid(c));
  FILE *f = fopen(path, "r");
  char env[65536];
  size_t n = f ? fread(env, 1, sizeof env - 1, f) : 0;
  if (f)
    fclose(f);
  env[n] = 0;
  int level2 = 0;
  for (size_t i = 0; i < n; i += strlen(env + i) + 1)
    level2 |= strcmp(env + i, "LEVEL=2") == 0;
  T_TRUE(level2);
  json_decref(k);
  json_decref(c);

  /* The same file again: nothing changes. */
  run_result r;
  CTL(&r, "reload");
  EXPECT(&r, r.code == 0);
  EXPECT(&r, strstr(r.out, "added:\nremoved:\nchanged:\nunchanged: keep change add\n") != NULL);
  run_result_free(&r);

  /* A broken file is refused; what runs keeps running. */
  write_conf("[service keep]\ncommand = sleep 1000\nready = up 0\nbogus = 1\n");
  CTL(&r, "reload");
  EXPECT(&r, r.code == 1);
  EXPECT(&r, strstr(r.err, ":8: unknown key 'bogus'") != NULL);
  run_result_free(&r);
  k = wait_state("keep", "ready");
  T_EQ_INT(row_pid(k), keep_pid);
  json_decref(k);
  json_decref(wait_state("add", "ready"));
  stop_daemon();
}

static void test_rotation(void) {
  char text[512];
  snprintf(text, sizeof text,
           "[ward]\nsocket = %s\nlog_dir = %s/rot\nlog_max_size = 1K\nlog_files = 2\n"
           "[service chatty]\n"
           "command = sh -c 'i=0; while [ $i -lt 200 ]; do echo line $i of the chatty one; "
           "i=$((i+1)); done; echo done; exec sleep 1000'\nready = up 0\n",
           sock, dir);
  write_file(conf_path, text);
  start_daemon();
  json_decref(wait_state("chatty", "ready"));
  char path[160];
  snprintf(path, sizeof path, "%s/rot/chatty.log", dir);
  int64_t deadline = t_now_ms() + 30000;
  for (;;) {
    char *f = read_file(path);
    int done = strstr(f, "out: done\n") != NULL;
    free(f);
    if (done)
      break;
    T_TRUE(t_now_ms() < deadline);
    pause_ms(50);
  }
  struct stat st;
  for (int k = 0; k <= 2; k++) {
    if (k)
      snprintf(path, sizeof path, "%s/rot/chatty.log.%d", dir, k);
    else
      snprintf(path, sizeof path, "%s/rot/chatty.log", dir);
    T_TRUE(stat(path, &st) == 0);
    T_TRUE(st.st_size <= 1024);
  }
  snprintf(path, sizeof path, "%s/rot/chatty.log.3", dir);
  T_TRUE(stat(path, &st) != 0);
  stop_daemon();
}

/* Waits until the file at `path` holds `text`. */
static void wait_file_has(const char *path, const char *text) {
  int64_t deadline = t_now_ms() + 30000;
  for (;;) {
    char *f = read_file(path);
    int found = strstr(f, text) != NULL;
    free(f);
    if (found)
      return;
    if (t_now_ms() > deadline)
      T_FAIL("'%s' not in %s within 30 s", text, path);
    pause_ms(20);
  }
}

/* Log files as operators handle them: created with log_mode, a service's
 * own rotation limits, opened again after an external logrotate moved
 * them (`ward ctl reopen-logs`, SIGUSR1), and timestamps on request. */
static void test_log_files_ops(void) {
  char text[1024];
  snprintf(text, sizeof text,
           "[ward]\nsocket = %s\nlog_dir = %s/lf\nlog_max_size = 1K\nlog_files = 3\n"
           "log_mode = 0600\n"
           "[service own]\n"
           "command = sh -c 'i=0; while [ $i -lt 200 ]; do echo line $i of its own; "
           "i=$((i+1)); done; echo done; exec sleep 1000'\nready = up 0\n"
           "log_max_size = 3K\nlog_files = 1\n"
           "[service poked]\n"
           "command = sh -c 'trap \"echo poke\" USR1; echo first; while :; do sleep 0.05; done'\n"
           "ready = up 0\n",
           sock, dir);
  write_file(conf_path, text);
  start_daemon();
  char path[160], moved[170];
  snprintf(path, sizeof path, "%s/lf/own.log", dir);
  wait_file_has(path, "out: done\n");
  /* Its own limits: one rotated file, each up to 3K (more than 1K). */
  struct stat st;
  int over_1k = 0;
  for (int k = 0; k <= 1; k++) {
    snprintf(path, sizeof path, k ? "%s/lf/own.log.%d" : "%s/lf/own.log", dir, k);
    T_TRUE(stat(path, &st) == 0);
    T_TRUE(st.st_size <= 3072);
    over_1k |= st.st_size > 1024;
    T_EQ_INT(st.st_mode & 0777, 0600);
  }
  T_TRUE(over_1k);
  snprintf(path, sizeof path, "%s/lf/own.log.2", dir);
  T_TRUE(stat(path, &st) != 0);

  /* logrotate moves the file; ward writes on into the moved one until
   * told, then starts a new one. */
  snprintf(path, sizeof path, "%s/lf/poked.log", dir);
  snprintf(moved, sizeof moved, "%s.moved", path);
  wait_file_has(path, "out: first\n");
  T_TRUE(rename(path, moved) == 0);
  run_result r;
  CTL(&r, "reopen-logs");
  EXPECT(&r, r.code == 0 && r.out[0] == 0);
  run_result_free(&r);
  CTL(&r, "signal", "poked", "USR1");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  wait_file_has(path, "out: poke\n");
  char *old = read_file(moved);
  T_TRUE(strstr(old, "out: poke\n") == NULL);
  free(old);
  /* The same by SIGUSR1. */
  T_TRUE(rename(path, moved) == 0);
  kill(daemon_pid, SIGUSR1);
  wait_log("logs-reopened - by=SIGUSR1");
  CTL(&r, "signal", "poked", "USR1");
  run_result_free(&r);
  wait_file_has(path, "out: poke\n");

  /* Timestamps: the time each line was read, as the files have it. */
  CTL(&r, "logs", "poked", "-t", "-n", "1");
  EXPECT(&r, r.code == 0 && strlen(r.out) > 25 && r.out[4] == '-' && r.out[10] == 'T' &&
                 strstr(r.out, "Z poke\n"));
  run_result_free(&r);
  stop_daemon();
}

static void test_sigkill_daemon(void) {
  write_conf("[service a]\ncommand = sleep 1000\nready = up 0\ninstances = 2\n"
             "[service b]\ncommand = sh -c 'sleep 1000 & sleep 1000'\nready = up 0\n");
  start_daemon();
  int pids[3];
  const char *names[] = {"a.1", "a.2", "b"};
  for (int i = 0; i < 3; i++) {
    json_t *r = wait_state(names[i], "ready");
    pids[i] = row_pid(r);
    json_decref(r);
  }
  kill(daemon_pid, SIGKILL);
  T_EQ_INT(wait_exit(daemon_pid), 128 + SIGKILL);
  daemon_pid = 0;
  int64_t deadline = t_now_ms() + 20000;
  for (int i = 0; i < 3; i++)
    while (!gone(pids[i])) {
      T_TRUE(t_now_ms() < deadline);
      pause_ms(20);
    }
  unlink(sock); /* left by the killed daemon: the next one would replace it anyway */
}

/* Whether `pid` is held still by a pause: its cgroup says "frozen 1", or,
 * without a cgroup, it is stopped (state T). */
static int held_still(int pid, const char *tree) {
  char path[512], buf[2048];
  if (strcmp(tree, "pgroup") == 0) {
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
      fclose(f);
    buf[n] = 0;
    const char *e = strrchr(buf, ')');
    return e && e[1] == ' ' && e[2] == 'T';
  }
  snprintf(path, sizeof path, "/proc/%d/cgroup", pid);
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f)
    fclose(f);
  buf[n] = 0;
  char *own = strncmp(buf, "0::/", 4) == 0 ? buf : strstr(buf, "\n0::/");
  if (!own)
    return 0;
  own += own[0] == '\n';
  own[strcspn(own, "\n")] = 0;
  char mnt[256] = "", line[1024];
  f = fopen("/proc/self/mountinfo", "r");
  while (f && fgets(line, sizeof line, f))
    if (strstr(line, " - cgroup2 "))
      sscanf(line, "%*s %*s %*s %*s %255s", mnt);
  if (f)
    fclose(f);
  snprintf(path, sizeof path, "%s%s/cgroup.events", mnt, own + 3);
  f = fopen(path, "r");
  n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f)
    fclose(f);
  buf[n] = 0;
  return strstr(buf, "frozen 1") != NULL;
}

/* Whether the process comes to be held still (`want` 1) or running
 * (0) within 30 s: a stop signal, a cgroup's freeze and a thaw all take
 * effect as the process is next scheduled, after the daemon has logged
 * them, which on a loaded machine can be a while later. */
static int becomes_held(int pid, const char *tree, int want) {
  int64_t deadline = t_now_ms() + 30000;
  while (held_still(pid, tree) != want) {
    if (t_now_ms() > deadline)
      return 0;
    pause_ms(10);
  }
  return 1;
}

/* ward ctl pause and resume: the service's process held still, status
 * and the daemon's log saying so, then running again. */
static void pause_resume(int cgroups) {
  char text[4096];
  snprintf(text, sizeof text,
           "[ward]\nsocket = %s\nlog_dir = %s\ncgroups = %s\n\n"
           "[service still]\ncommand = sleep 1000\nready = up 0\n",
           sock, logdir, cgroups ? "yes" : "no");
  write_file(conf_path, text);
  start_daemon();
  json_t *row = wait_state("still", "ready");
  int pid = row_pid(row);
  const char *tree = json_string_value(json_object_get(row, "tree"));
  T_TRUE(tree && (strcmp(tree, "cgroup") == 0 || strcmp(tree, "pgroup") == 0));
  if (!cgroups)
    T_EQ_STR(tree, "pgroup"); /* cgroups = no: process groups alone */
  char tree_was[16];
  snprintf(tree_was, sizeof tree_was, "%s", tree);
  T_TRUE(json_is_false(json_object_get(row, "paused")));
  T_TRUE(json_is_object(json_object_get(row, "pressure")));
  json_decref(row);
  T_TRUE(!held_still(pid, tree_was));
  run_result r;
  CTL(&r, "pause", "still");
  EXPECT(&r, r.code == 0 && r.out[0] == 0);
  run_result_free(&r);
  wait_log("paused still");
  T_TRUE(becomes_held(pid, tree_was, 1));
  json_t *st = status();
  json_t *rows = json_object_get(st, "services");
  T_TRUE(json_is_true(json_object_get(json_array_get(rows, 0), "paused")));
  json_decref(st);
  CTL(&r, "status", "still");
  EXPECT(&r, strstr(r.out, "ready, paused") != NULL);
  run_result_free(&r);
  CTL(&r, "resume", "still");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  wait_log("resumed still");
  T_TRUE(becomes_held(pid, tree_was, 0));
  /* Nothing running: a failure that says so. */
  CTL(&r, "stop", "still");
  run_result_free(&r);
  CTL(&r, "pause", "still");
  EXPECT(&r, r.code == 1 && strstr(r.err, "no running process"));
  run_result_free(&r);
  CTL(&r, "pause", "nosuch");
  EXPECT(&r, r.code != 0);
  run_result_free(&r);
  stop_daemon();
}

static void test_pause_resume(void) {
  pause_resume(1);
  pause_resume(0);
}

static void test_ctl(void) {
  run_result r;
  /* No daemon. */
  CTL(&r, "status");
  EXPECT(&r, r.code == 3);
  EXPECT(&r, strstr(r.err, "no daemon is running on") != NULL);
  run_result_free(&r);
  /* Usage. */
  RUN(&r, "ctl");
  EXPECT(&r, r.code == 2);
  run_result_free(&r);
  CTL(&r, "frobnicate");
  EXPECT(&r, r.code == 2);
  EXPECT(&r, strstr(r.err, "unknown command 'frobnicate'") != NULL);
  run_result_free(&r);
  CTL(&r, "stop");
  EXPECT(&r, r.code == 2);
  run_result_free(&r);
  CTL(&r, "logs", "x", "-n", "many");
  EXPECT(&r, r.code == 2);
  run_result_free(&r);
  CTL(&r, "status", "--grace", "1s");
  EXPECT(&r, r.code == 2);
  run_result_free(&r);
  RUN(&r, "ctl", "--help");
  EXPECT(&r, r.code == 0 && strstr(r.out, "Usage: ward ctl") && strstr(r.out, "Exit status"));
  run_result_free(&r);
  const char *cmds[] = {"status", "start", "stop",   "restart", "signal", "pause",
                        "resume", "logs",  "spawn", "kill",    "reload", "shutdown",
                        "replace"};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    RUN(&r, "ctl", cmds[i], "--help");
    EXPECT(&r, r.code == 0 && strstr(r.out, "Usage: ward ctl") && strstr(r.out, cmds[i]));
    run_result_free(&r);
  }
  RUN(&r, "run", "--help");
  EXPECT(&r, r.code == 0 && strstr(r.out, "Usage: ward run"));
  run_result_free(&r);

  write_conf("[service web]\ncommand = sleep 1000\nready = up 0\n"
             "[service ghost]\ncommand = /nonexistent/ward-program\n");
  start_daemon();
  json_decref(wait_state("web", "ready"));
  /* A program that is not there: said plainly, at once. */
  json_t *g = wait_state("ghost", "failed");
  T_TRUE(strstr(json_string_value(json_object_get(g, "error")),
                "cannot run /nonexistent/ward-program: No such file") != NULL);
  json_decref(g);
  CTL(&r, "start", "ghost");
  EXPECT(&r, r.code == 1 && strstr(r.err, "cannot run /nonexistent/ward-program"));
  run_result_free(&r);
  struct stat st;
  T_TRUE(stat(sock, &st) == 0 && (st.st_mode & 0777) == 0600);

  CTL(&r, "status");
  EXPECT(&r, r.code == 3); /* ghost should run and does not */
  EXPECT(&r, strncmp(r.out, "NAME", 4) == 0 && strstr(r.out, "LAST-EXIT"));
  EXPECT(&r, strstr(r.out, "\nweb ") && strstr(r.out, " ready "));
  run_result_free(&r);
  CTL(&r, "status", "nosuch");
  EXPECT(&r, r.code == 4);
  EXPECT(&r, strstr(r.err, "no service or group 'nosuch'") != NULL);
  run_result_free(&r);
  CTL(&r, "stop", "nosuch");
  EXPECT(&r, r.code == 4);
  run_result_free(&r);

  /* A transient service: spawned, signalled, killed, gone. */
  CTL(&r, "spawn", "tmp", "--restart", "never", "--", "sh", "-c", "echo hi; exec sleep 1000");
  EXPECT(&r, r.code == 0);
  EXPECT(&r, strcmp(r.out, "tmp: ready\n") == 0);
  run_result_free(&r);
  CTL(&r, "spawn", "tmp", "--", "true");
  EXPECT(&r, r.code == 1);
  EXPECT(&r, strstr(r.err, "exists already") != NULL);
  run_result_free(&r);
  json_t *t = row("tmp");
  T_TRUE(json_is_true(json_object_get(t, "transient")));
  json_decref(t);
  /* Ready means started: the shell may not have printed yet. */
  wait_ctl_logs("tmp", "hi\n");
  CTL(&r, "signal", "tmp", "USR1");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  t = wait_state("tmp", "exited"); /* restart = never */
  T_EQ_STR(json_string_value(json_object_get(json_object_get(t, "last_exit"), "signal")), "USR1");
  json_decref(t);
  CTL(&r, "logs", "tmp");
  EXPECT(&r, r.code == 0 && strcmp(r.out, "hi\n") == 0);
  run_result_free(&r);
  CTL(&r, "kill", "tmp");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  json_decref(wait_state("tmp", "absent"));

  /* A transient service that never gets ready: its spawn waits, and a
   * stop meanwhile ends the wait (the spawn then fails). */
  pid_t spawner;
  {
    char *argv[] = {(char *)ward_bin, "ctl",  "--socket", sock, "spawn", "waiter", "--ready",
                    "notify 3",       "--",   "sleep",    "1000", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    T_TRUE(posix_spawn(&spawner, ward_bin, &fa, NULL, argv, environ) == 0);
    posix_spawn_file_actions_destroy(&fa);
  }
  T_TRUE(wait_pid("waiter", "starting") > 0);
  CTL(&r, "stop", "waiter");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  T_EQ_INT(wait_exit(spawner), 1);
  json_decref(wait_state("waiter", "absent"));

  /* restart gives a new process. */
  t = row("web");
  int pid = row_pid(t);
  json_decref(t);
  CTL(&r, "restart", "web");
  EXPECT(&r, r.code == 0 && strcmp(r.out, "web: ready\n") == 0);
  run_result_free(&r);
  t = row("web");
  T_TRUE(row_pid(t) != pid);
  json_decref(t);

  /* shutdown: the daemon stops everything and exits 0. */
  CTL(&r, "shutdown");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  T_EQ_INT(wait_exit(daemon_pid), 0);
  daemon_pid = 0;
  CTL(&r, "status");
  EXPECT(&r, r.code == 3);
  run_result_free(&r);
}

/* Reads a line from `f` within 30 s (the follower prints as lines come). */
static void expect_line(FILE *f, const char *want) {
  char line[512];
  T_TRUE(fgets(line, sizeof line, f) != NULL);
  line[strcspn(line, "\n")] = 0;
  T_EQ_STR(line, want);
}

/* `ward ctl logs NAME -f` started, its stdout a pipe to read line by
 * line (expect_line); the caller interrupts it and closes the stream. */
static FILE *follow_logs(const char *name, pid_t *pid) {
  int out[2];
  T_TRUE(pipe2(out, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  char *argv[] = {(char *)ward_bin, "ctl", "--socket", sock, "logs", (char *)name, "-f", NULL};
  T_TRUE(posix_spawn(pid, ward_bin, &fa, NULL, argv, environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  FILE *f = fdopen(out[0], "r");
  T_TRUE(f != NULL);
  return f;
}

static void test_logs_follow(void) {
  write_conf("[service talker]\n"
             "command = sh -c 'trap \"echo got usr1\" USR1; echo first; "
             "while :; do sleep 0.1; done'\nready = up 0\n"
             "[service pair]\ncommand = sh -c 'echo one of $WARD_NAME; echo two of $WARD_NAME; "
             "exec sleep 1000'\nready = up 0\ninstances = 2\n");
  start_daemon();
  json_decref(wait_state("talker", "ready"));

  /* Two instances: merged, each line marked, the last N of them all. */
  run_result r;
  int64_t deadline = t_now_ms() + 30000;
  for (;;) {
    CTL(&r, "logs", "pair");
    int n = 0;
    for (const char *q = r.out; (q = strchr(q, '\n')); q++)
      n++;
    int done = r.code == 0 && n == 4;
    run_result_free(&r);
    if (done)
      break;
    T_TRUE(t_now_ms() < deadline);
    pause_ms(50);
  }
  CTL(&r, "logs", "pair", "-n", "3");
  EXPECT(&r, r.code == 0);
  int n = 0;
  for (const char *q = r.out; (q = strstr(q, "[pair.")); q++)
    n++;
  EXPECT(&r, n == 3);
  run_result_free(&r);
  CTL(&r, "logs", "pair.2");
  EXPECT(&r, r.code == 0 && strcmp(r.out, "one of pair.2\ntwo of pair.2\n") == 0);
  run_result_free(&r);
  CTL(&r, "logs", "pair", "-n", "0");
  EXPECT(&r, r.code == 0 && r.out_len == 0);
  run_result_free(&r);
  /* `ward ctl logs -f`, its stdout a pipe we read line by line. */
  pid_t pid;
  FILE *f = follow_logs("talker", &pid);
  expect_line(f, "first");
  /* It waits in the daemon for the next line (no polling): the daemon
   * holds its call, and answers it when the line comes. */
  deadline = t_now_ms() + 30000;
  for (;;) {
    json_t *st = status();
    json_int_t waiting = json_integer_value(json_object_get(json_object_get(st, "daemon"),
                                                            "followers"));
    json_decref(st);
    if (waiting == 1)
      break;
    T_TRUE(t_now_ms() < deadline);
    pause_ms(20);
  }
  CTL(&r, "signal", "talker", "USR1");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  expect_line(f, "got usr1");
  CTL(&r, "signal", "talker", "USR1");
  run_result_free(&r);
  expect_line(f, "got usr1");
  kill(pid, SIGINT); /* a follower stops when interrupted, with 0 */
  T_EQ_INT(wait_exit(pid), 0);
  fclose(f);
  stop_daemon();
}

/* Log records a service sends: readable in `ward ctl logs` (LEVEL message
 * key=value), with their structure in --json, filtered by --level, in the
 * service's log file, and streamed by -f. */
static void test_log_records(void) {
  char self[4096];
  ssize_t sn = readlink("/proc/self/exe", self, sizeof self - 1);
  T_TRUE(sn > 0);
  self[sn] = 0;
  char text[4200];
  snprintf(text, sizeof text, "[service slogger]\ncommand = %s --svc-logs\nready = handshake\n",
           self);
  write_conf(text);
  start_daemon();
  json_decref(wait_state("slogger", "ready"));
  run_result r;
  for (int64_t deadline = t_now_ms() + 30000;;) {
    CTL(&r, "logs", "slogger");
    int found = r.code == 0 && strstr(r.out, "a plain line\n") != NULL;
    run_result_free(&r);
    if (found)
      break;
    T_TRUE(t_now_ms() < deadline);
    pause_ms(20);
  }
  CTL(&r, "logs", "slogger");
  EXPECT(&r, r.code == 0 && strstr(r.out, "INFO started\n") &&
                 strstr(r.out, "WARN disk slow ms=250 path=\"/a b\"\n") &&
                 strstr(r.out, "a plain line\n"));
  run_result_free(&r);

  CTL(&r, "--json", "logs", "slogger");
  EXPECT(&r, r.code == 0);
  json_t *v = json_loads(r.out, 0, NULL);
  EXPECT(&r, json_is_array(v) && json_array_size(v) == 3);
  json_t *w = json_array_get(v, 1);
  EXPECT(&r, strcmp(json_string_value(json_object_get(w, "stream")), "record") == 0);
  EXPECT(&r, strcmp(json_string_value(json_object_get(w, "level")), "warn") == 0);
  EXPECT(&r, strcmp(json_string_value(json_object_get(w, "text")), "disk slow") == 0);
  EXPECT(&r, json_integer_value(json_object_get(w, "call_id")) == 0);
  json_t *fields = json_object_get(w, "fields");
  EXPECT(&r, json_object_size(fields) == 2);
  EXPECT(&r, strcmp(json_string_value(json_object_get(fields, "path")), "/a b") == 0);
  json_t *plain = json_array_get(v, 2);
  EXPECT(&r, strcmp(json_string_value(json_object_get(plain, "stream")), "stdout") == 0);
  EXPECT(&r, json_object_get(plain, "level") == NULL);
  json_decref(v);
  run_result_free(&r);

  CTL(&r, "logs", "slogger", "--level", "warn");
  EXPECT(&r, r.code == 0 && strcmp(r.out, "WARN disk slow ms=250 path=\"/a b\"\n") == 0);
  run_result_free(&r);
  CTL(&r, "logs", "slogger", "--level", "loud");
  EXPECT(&r, r.code == 2 && strstr(r.err, "--level"));
  run_result_free(&r);
  CTL(&r, "logs", "slogger", "--call", "0");
  EXPECT(&r, r.code == 2 && strstr(r.err, "--call"));
  run_result_free(&r);
  CTL(&r, "logs", "slogger", "--call", "7");
  EXPECT(&r, r.code == 0 && r.out_len == 0);
  run_result_free(&r);

  char path[160];
  snprintf(path, sizeof path, "%s/slogger.log", logdir);
  char *f = read_file(path);
  T_TRUE(strstr(f, "Z slogger log: WARN disk slow ms=250 path=\"/a b\"\n") != NULL);
  free(f);

  /* -f --json: records as JSON lines, as they come. */
  int out[2];
  T_TRUE(pipe2(out, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  char *argv[] = {(char *)ward_bin, "ctl", "--socket", sock, "--json", "logs", "slogger",
                  "-f", "-n", "0", NULL};
  pid_t pid;
  T_TRUE(posix_spawn(&pid, ward_bin, &fa, NULL, argv, environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  FILE *fp = fdopen(out[0], "r");
  T_TRUE(fp != NULL);
  int64_t deadline = t_now_ms() + 30000;
  for (;;) {
    json_t *st = status();
    json_int_t waiting = json_integer_value(json_object_get(json_object_get(st, "daemon"),
                                                            "followers"));
    json_decref(st);
    if (waiting == 1)
      break;
    T_TRUE(t_now_ms() < deadline);
    pause_ms(20);
  }
  CTL(&r, "signal", "slogger", "USR1");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  char line[1024];
  T_TRUE(fgets(line, sizeof line, fp) != NULL);
  json_t *o = json_loads(line, 0, NULL);
  T_TRUE(o != NULL);
  T_EQ_STR(json_string_value(json_object_get(o, "level")), "error");
  T_EQ_STR(json_string_value(json_object_get(o, "text")), "got usr1");
  T_EQ_STR(json_string_value(json_object_get(json_object_get(o, "fields"), "signal")), "USR1");
  json_decref(o);
  kill(pid, SIGINT);
  T_EQ_INT(wait_exit(pid), 0);
  fclose(fp);
  stop_daemon();
}

/* ---- the control socket's limits ---- */

/* The threads of process `pid`. */
static int task_count(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  return t_count_entries(path);
}

/* A connection to the control socket that says nothing. */
static int idle_connection(void) { return t_unix_connect(sock); }

/* Many idle connections: the daemon drops the oldest to stay within
 * max_connections (threads included), logs each, and still answers. */
static void test_control_flood(void) {
  enum { FLOOD = 300, MAX = 16 };
  char text[1024];
  snprintf(text, sizeof text,
           "[ward]\nsocket = %s\nlog_dir = %s\nmax_connections = %d\nhandshake_timeout = 1h\n"
           "[service web]\ncommand = sleep 1000\nready = up 0\n",
           sock, logdir, MAX);
  write_file(conf_path, text);
  start_daemon();
  json_decref(wait_state("web", "ready"));
  int base = task_count(daemon_pid); /* no control connection held */
  int fds[FLOOD];
  for (int i = 0; i < FLOOD; i++) {
    fds[i] = idle_connection();
    if (i % 25 == 0)
      T_TRUE(task_count(daemon_pid) <= base + MAX + 2); /* + ones on their way out */
  }
  int64_t deadline = t_now_ms() + 60000;
  while (log_count("control-dropped - reason=idle") < FLOOD - MAX) {
    T_TRUE(t_now_ms() < deadline);
    pause_ms(50);
  }
  while (task_count(daemon_pid) > base + MAX) {
    T_TRUE(t_now_ms() < deadline);
    pause_ms(20);
  }
  run_result r;
  CTL(&r, "status");
  EXPECT(&r, r.code == 0 && strstr(r.out, "\nweb "));
  run_result_free(&r);
  char want[128];
  snprintf(want, sizeof want, "control-dropped - reason=idle pid=%d greeted=no idle_ms=",
           (int)getpid());
  T_TRUE(log_count(want) >= FLOOD - MAX);
  T_TRUE(log_count(" max_connections=16\n") >= FLOOD - MAX);
  for (int i = 0; i < FLOOD; i++)
    close(fds[i]);
  stop_daemon();
}

/* `ward ctl` in the background; its stdout goes to `out` (-1: nowhere). */
static pid_t ctl_background(char *const argv[], int out) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (out >= 0)
    posix_spawn_file_actions_adddup2(&fa, out, 1);
  else
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  T_TRUE(posix_spawn(&pid, ward_bin, &fa, NULL, argv, environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

/* A `ward ctl spawn` that waits (for a service that never gets ready):
 * a control connection busy in a call until the service is stopped. */
static pid_t busy_spawner(void) {
  char *argv[] = {(char *)ward_bin, "ctl",   "--socket", sock,   "spawn", "waiter",
                  "--ready",        "notify 3", "--",    "sleep", "1000",  NULL};
  pid_t pid = ctl_background(argv, -1);
  wait_log("spawned waiter");
  return pid;
}

/* A command that the daemon may refuse for a moment (every connection
 * busy, the follower's poll among them): tried again until taken. */
static void ctl_retry(run_result *r, const char *cmd, const char *arg, const char *arg2) {
  int64_t deadline = t_now_ms() + 30000;
  for (;;) {
    CTL(r, cmd, arg, arg2);
    if (!(r->code == 1 && strstr(r->err, "server busy")))
      return;
    T_TRUE(t_now_ms() < deadline);
    run_result_free(r);
    pause_ms(20);
  }
}

/* `ward ctl logs -f` keeps following when the daemon drops its idle
 * connection to make room for another. */
static void test_follower_dropped(void) {
  char text[1024];
  snprintf(text, sizeof text,
           "[ward]\nsocket = %s\nlog_dir = %s\nmax_connections = 2\n"
           "[service talker]\ncommand = sh -c 'trap \"echo got usr1\" USR1; echo first; "
           "while :; do sleep 0.1; done'\nready = up 0\n",
           sock, logdir);
  write_file(conf_path, text);
  start_daemon();
  json_decref(wait_state("talker", "ready"));
  int out[2];
  T_TRUE(pipe2(out, O_CLOEXEC) == 0);
  char *argv[] = {(char *)ward_bin, "ctl", "--socket", sock, "logs", "talker", "-f", NULL};
  pid_t follower = ctl_background(argv, out[1]);
  close(out[1]);
  FILE *f = fdopen(out[0], "r");
  T_TRUE(f != NULL);
  expect_line(f, "first");
  /* The spawner's call and the follower fill both places: the next
   * command takes the follower's (between its polls, it is idle). */
  pid_t spawner = busy_spawner();
  run_result r;
  ctl_retry(&r, "stop", "waiter", NULL);
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  wait_log("control-dropped - reason=idle");
  char *e = read_file(errlog);
  T_TRUE(strstr(e, "greeted=yes idle_ms=") != NULL);
  free(e);
  T_EQ_INT(wait_exit(spawner), 1); /* its service was stopped before it was ready */
  ctl_retry(&r, "signal", "talker", "USR1");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  expect_line(f, "got usr1"); /* the follower came back */
  kill(follower, SIGINT);
  T_EQ_INT(wait_exit(follower), 0);
  fclose(f);

  /* New limits wait for the next start, and a reload says so. */
  snprintf(text, sizeof text,
           "[ward]\nsocket = %s\nlog_dir = %s\nmax_connections = 3\nhandshake_timeout = 5s\n"
           "[service talker]\ncommand = sh -c 'trap \"echo got usr1\" USR1; echo first; "
           "while :; do sleep 0.1; done'\nready = up 0\n",
           sock, logdir);
  write_file(conf_path, text);
  kill(daemon_pid, SIGHUP);
  wait_log("reload-note - max_connections=3 takes effect at the next start");
  wait_log("reload-note - handshake_timeout=5000ms takes effect at the next start");
  wait_log("reloaded - added=[] removed=[] changed=[]");
  stop_daemon();
}

/* Every connection busy in a call: a newcomer is refused, says why, and
 * the refusal is logged. */
static void test_control_busy(void) {
  char text[1024];
  snprintf(text, sizeof text,
           "[ward]\nsocket = %s\nlog_dir = %s\nmax_connections = 1\n"
           "[service web]\ncommand = sleep 1000\nready = up 0\n",
           sock, logdir);
  write_file(conf_path, text);
  start_daemon();
  json_decref(wait_state("web", "ready"));
  pid_t spawner = busy_spawner();
  run_result r;
  CTL(&r, "status");
  EXPECT(&r, r.code == 1 && strstr(r.err, "server busy"));
  run_result_free(&r);
  char want[128];
  snprintf(want, sizeof want, "control-refused - reason=busy pid=");
  wait_log(want);
  wait_log("max_connections=1");
  stop_daemon(); /* its start gives up: the spawner's call ends */
  wait_exit(spawner);
}

static void test_service_control(void) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  T_TRUE(n > 0);
  self[n] = 0;
  char text[9000];
  snprintf(text, sizeof text,
           "[service boss]\ncommand = %s --svc-control\nready = handshake\ncontrol = yes\n"
           "[service peon]\ncommand = %s --svc-control\nready = handshake\n",
           self, self);
  write_conf(text);
  start_daemon();
  json_decref(wait_state("child", "ready"));
  json_t *c = row("child");
  T_TRUE(json_is_true(json_object_get(c, "transient")));
  json_decref(c);
  run_result r;
  int64_t deadline = t_now_ms() + 30000;
  for (;;) {
    CTL(&r, "logs", "peon");
    int done = strstr(r.out, "spawn: refused 403") != NULL;
    run_result_free(&r);
    if (done)
      break;
    T_TRUE(t_now_ms() < deadline);
    pause_ms(50);
  }
  CTL(&r, "logs", "boss");
  EXPECT(&r, strcmp(r.out, "spawn: ok\n") == 0);
  run_result_free(&r);
  stop_daemon();
}

/* Operations move on side by side on the daemon's one thread: two stops
 * that each wait out a stop grace answer in about the time of one;
 * status answers while they wait; and a stop answers while a reload
 * still waits for a grace (that reload once held every other operation
 * back until it was over). Each stubborn service ignores SIGTERM, so its
 * stop takes its grace. */
#define STUBBORN(name)                                                   \
  "[service " name "]\n"                                                \
  "command = sh -c 'trap \"\" TERM; echo >&5; exec sleep 1000'\n"       \
  "ready = notify 5\nstop_grace = 2500ms\n"

static void test_concurrent_ops(void) {
  write_conf(STUBBORN("a") STUBBORN("b") "[service quick]\ncommand = sleep 1000\nready = up 0\n");
  start_daemon();
  json_decref(wait_state("a", "ready"));
  json_decref(wait_state("b", "ready"));
  json_decref(wait_state("quick", "ready"));

  int64_t t0 = t_now_ms();
  char *stop_a[] = {(char *)ward_bin, "ctl", "--socket", sock, "stop", "a", NULL};
  char *stop_b[] = {(char *)ward_bin, "ctl", "--socket", sock, "stop", "b", NULL};
  pid_t pa = ctl_background(stop_a, -1), pb = ctl_background(stop_b, -1);
  json_decref(wait_state("a", "stopping"));
  json_decref(wait_state("b", "stopping"));
  /* Both stops wait on their graces; status is answered meanwhile. */
  json_t *r = row("quick");
  T_EQ_STR(row_state(r), "ready");
  json_decref(r);
  T_TRUE(t_now_ms() - t0 < 2500);
  T_EQ_INT(wait_exit(pa), 0);
  T_EQ_INT(wait_exit(pb), 0);
  int64_t both = t_now_ms() - t0;
  /* One after the other would take two graces, 5 s at least. */
  if (both >= 4900)
    T_FAIL("two stops took %lld ms: one waited for the other", (long long)both);
  wait_log("stopped a outcome=killed");
  wait_log("stopped b outcome=killed");

  /* A reload that stops b (changed) waits out its grace; a stop of quick
   * is answered meanwhile. */
  run_result c;
  CTL(&c, "start", "b");
  EXPECT(&c, c.code == 0 && strcmp(c.out, "b: ready\n") == 0);
  run_result_free(&c);
  write_conf(STUBBORN("a") STUBBORN("b") "env = CHANGED=1\n"
             "[service quick]\ncommand = sleep 1000\nready = up 0\n");
  kill(daemon_pid, SIGHUP);
  json_decref(wait_state("b", "stopping"));
  t0 = t_now_ms();
  CTL(&c, "stop", "quick");
  EXPECT(&c, c.code == 0 && strcmp(c.out, "quick: stopped (graceful)\n") == 0);
  run_result_free(&c);
  T_TRUE(t_now_ms() - t0 < 2500);
  char *e = read_file(errlog);
  T_TRUE(strstr(e, "reloaded") == NULL); /* still waiting for b */
  free(e);
  wait_log("reloaded - added=[] removed=[] changed=[\"b\"]");
  json_decref(wait_state("b", "ready"));
  stop_daemon();
}

/* Waits until `name` is ready with a process other than `old`: its pid. */
static int wait_new_pid(const char *name, int old) {
  int64_t deadline = t_now_ms() + 30000;
  for (;;) {
    json_t *r = row(name);
    int pid = r && strcmp(row_state(r), "ready") == 0 ? row_pid(r) : 0;
    json_decref(r);
    if (pid > 0 && pid != old)
      return pid;
    if (t_now_ms() > deadline)
      T_FAIL("%s not ready again with a new process within 30 s", name);
    pause_ms(50);
  }
}

#define MEMBER(name, group)                                                      \
  "[service " name "]\ncommand = sleep 1000\nready = up 0\ngroup = " group "\n"

/* Supervision groups: one-for-all restarts every member when one dies
 * (their processes change), members start in the file's order, status
 * shows the group, a group past its intensity gives up in one line, and
 * a reload that changes a group starts its services again. */
static void test_groups(void) {
  write_conf("[group g]\nstrategy = one-for-all\n"
             "[group h]\nmax_restarts = 0\n" MEMBER("a", "g") MEMBER("b", "g") MEMBER("c", "g")
                 MEMBER("d", "h") "[service solo]\ncommand = sleep 1000\nready = up 0\n");
  start_daemon();
  int pa = wait_pid("a", "ready"), pb = wait_pid("b", "ready"), pc = wait_pid("c", "ready");
  int pd = wait_pid("d", "ready");
  char *e = read_file(errlog);
  char *a_ready = strstr(e, "ready a "), *b_spawned = strstr(e, "spawned b "),
       *b_ready = strstr(e, "ready b "), *c_spawned = strstr(e, "spawned c ");
  T_TRUE(a_ready && b_spawned && a_ready < b_spawned && b_ready && c_spawned &&
         b_ready < c_spawned);
  free(e);
  json_t *r = row("b");
  T_EQ_STR(json_string_value(json_object_get(r, "group")), "g");
  json_decref(r);
  r = row("solo");
  T_TRUE(json_is_null(json_object_get(r, "group")));
  json_decref(r);

  /* One dies: all three start again. */
  T_TRUE(kill(pb, SIGKILL) == 0);
  int na = wait_new_pid("a", pa), nb = wait_new_pid("b", pb), nc = wait_new_pid("c", pc);
  T_TRUE(gone(pa) && gone(pc));

  /* Past its intensity (none), h gives up: one line, its member failed. */
  T_TRUE(kill(pd, SIGKILL) == 0);
  wait_log("group-gave-up h member=d");
  json_decref(wait_state("d", "failed"));
  e = read_file(errlog);
  T_TRUE(strstr(strstr(e, "group-gave-up h") + 1, "group-gave-up") == NULL);
  free(e);

  /* A reload that changes g's strategy starts its services again. */
  write_conf("[group g]\nstrategy = rest-for-one\n"
             "[group h]\nmax_restarts = 0\n" MEMBER("a", "g") MEMBER("b", "g") MEMBER("c", "g")
                 MEMBER("d", "h") "[service solo]\ncommand = sleep 1000\nready = up 0\n");
  run_result c;
  CTL(&c, "reload");
  EXPECT(&c, c.code == 0);
  run_result_free(&c);
  wait_log("changed=[\"a\",\"b\",\"c\"]");
  wait_new_pid("a", na);
  wait_new_pid("b", nb);
  wait_new_pid("c", nc);
  stop_daemon();
  e = read_file(errlog);
  /* Stopped in the reverse order: the last member first. */
  char *last = strstr(e, "daemon-stopping");
  T_TRUE(last != NULL);
  char *c_stopped = strstr(last, "stopped c "), *a_stopped = strstr(last, "stopped a ");
  T_TRUE(c_stopped && a_stopped && c_stopped < a_stopped);
  free(e);
}

/* A service of a class other than worker takes the class's defaults for
 * the keys its section leaves out; the keys it sets win. */
static void test_class_defaults(void) {
  write_conf("[service plain]\ncommand = sh -c 'exit 0'\nready = up 0\nbackoff = 10ms\n"
             "[service ext]\ncommand = sh -c 'exit 0'\nready = up 0\nclass = extension\n"
             "[service ext-always]\ncommand = sh -c 'exit 0'\nready = up 0\n"
             "class = extension\nrestart = always\nbackoff = 10ms\n");
  start_daemon();
  /* The extension class restarts on failure only: an exit 0 ends it. */
  json_t *r = wait_state("ext", "exited");
  T_EQ_INT((int)json_integer_value(json_object_get(r, "restarts")), 0);
  json_decref(r);
  /* ward run's default (always), and the key given over the class. */
  const char *again[] = {"plain", "ext-always"};
  for (int i = 0; i < 2; i++) {
    int64_t deadline = t_now_ms() + 30000;
    for (;;) {
      r = row(again[i]);
      json_int_t n = r ? json_integer_value(json_object_get(r, "restarts")) : 0;
      json_decref(r);
      if (n >= 1)
        break;
      if (t_now_ms() > deadline)
        T_FAIL("%s not restarted within 30 s", again[i]);
      pause_ms(50);
    }
  }
  stop_daemon();
}

/* A failed check aborts: the daemon of the test goes with it (its guard
 * then takes its services). */
/* `ward ctl status` exits 3 while an instance that should run does not
 * (as `systemctl is-active` and LSB do), 0 once everything is as meant,
 * stopped services included; the JSON says null for what is not there;
 * a stop or kill says how it went; and a reader that goes away ends
 * `logs -f` quietly, with status 0. */
static void test_ctl_statuses(void) {
  write_conf("[service up]\ncommand = sh -c 'trap \"\" TERM; while :; do echo tick; sleep 0.02; "
             "done'\n"
             "ready = up 0\n"
             "[service down]\ncommand = sh -c 'exit 5'\nready = up 0\nrestart = never\n");
  start_daemon();
  json_decref(wait_state("up", "ready"));
  json_decref(wait_state("down", "exited"));
  run_result r;
  CTL(&r, "status");
  EXPECT(&r, r.code == 3 && strstr(r.out, "down"));
  run_result_free(&r);
  CTL(&r, "status", "up");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  CTL(&r, "--json", "status", "down");
  EXPECT(&r, r.code == 3);
  json_t *v = json_loads(r.out, 0, NULL);
  EXPECT(&r, v != NULL);
  json_t *row0 = json_array_get(json_object_get(v, "services"), 0);
  T_TRUE(json_is_false(json_object_get(row0, "ok")));
  T_TRUE(json_is_null(json_object_get(row0, "pid")));
  T_TRUE(json_is_null(json_object_get(row0, "rss_bytes")));
  T_TRUE(json_is_null(json_object_get(row0, "cpu_ms")));
  T_EQ_INT(json_integer_value(json_object_get(json_object_get(row0, "last_exit"), "code")), 5);
  json_decref(v);
  run_result_free(&r);

  /* A reader that has had enough: quiet, status 0. */
  char cmd[512];
  snprintf(cmd, sizeof cmd,
           "bash -c '%s ctl --socket %s logs -f up 2>%s/pipe.err | head -2 >/dev/null; "
           "exit ${PIPESTATUS[0]}'",
           ward_bin, sock, dir);
  T_EQ_INT(system(cmd), 0);
  char path[160];
  snprintf(path, sizeof path, "%s/pipe.err", dir);
  char *err = read_file(path);
  T_EQ_STR(err, "");
  free(err);

  /* A kill says how it went (the service ignores SIGTERM); a stop with
   * nothing left to stop says that. */
  CTL(&r, "kill", "up");
  EXPECT(&r, r.code == 0 && strcmp(r.out, "up: stopped (killed)\n") == 0);
  run_result_free(&r);
  CTL(&r, "stop", "up");
  EXPECT(&r, r.code == 0 && strstr(r.out, "up: stopped (already-exited)"));
  run_result_free(&r);
  CTL(&r, "--json", "status", "up");
  EXPECT(&r, r.code == 0);
  v = json_loads(r.out, 0, NULL);
  row0 = json_array_get(json_object_get(v, "services"), 0);
  json_t *le = json_object_get(row0, "last_exit");
  T_TRUE(json_is_null(json_object_get(le, "code")));
  T_TRUE(json_is_string(json_object_get(le, "signal")));
  T_TRUE(json_is_true(json_object_get(row0, "ok")));
  json_decref(v);
  run_result_free(&r);
  /* Once `down` is stopped too, all is as meant. */
  CTL(&r, "stop", "down");
  run_result_free(&r);
  CTL(&r, "status");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  stop_daemon();
}

/* A service that exits before it is ready says why in the daemon's log,
 * in status and in the answer to `ward ctl start`: its last words on
 * stderr (the dynamic loader's, here). */
static void test_start_failure_says_why(void) {
  write_conf("[service broken]\n"
             "command = sh -c 'echo \"error while loading shared libraries: libnope.so.1\" >&2; "
             "exit 127'\n"
             "ready = handshake\nrestart = never\n");
  start_daemon();
  wait_log("exited broken");
  T_EQ_INT(log_count("code=127 reason=exited stderr=\"error while loading shared libraries: "
                     "libnope.so.1\""),
           1);
  json_t *r = wait_state("broken", "exited");
  const char *e = json_string_value(json_object_get(r, "error"));
  T_TRUE(e && strstr(e, "libnope.so.1"));
  json_decref(r);
  run_result rr;
  CTL(&rr, "start", "broken");
  EXPECT(&rr, rr.code == 1 && strstr(rr.err, "last on stderr: error while loading shared "
                                             "libraries: libnope.so.1"));
  run_result_free(&rr);
  stop_daemon();
}

/* A service run as nobody, with its umask, its env_file and $VAR in its
 * command (as root, as CI runs the tests; elsewhere the user is left
 * out). */
static void test_user_umask_env(void) {
  char envfile[160], text[1024];
  snprintf(envfile, sizeof envfile, "%s/who.env", dir);
  write_file(envfile, "# for who\nWORD=hello\nQUOTED='from the file'\n");
  snprintf(text, sizeof text,
           "[service who]\n"
           "command = sh -c 'id -u; umask; echo \"[$1] [$2] [$3]\"' - $WORD \"${QUOTED}\" "
           "$$HOME\n"
           "env_file = %s\nenv = QUOTED=over ridden\n%s"
           "umask = 0027\nready = up 0\nrestart = never\n",
           envfile, geteuid() == 0 ? "user = nobody\n" : "");
  write_conf(text);
  start_daemon();
  char want[128];
  snprintf(want, sizeof want, "%u\n0027\n[hello] [over ridden] [$HOME]\n",
           geteuid() == 0 ? 65534u : (unsigned)geteuid());
  wait_ctl_logs("who", want);
  stop_daemon();
}

/* autostart = no: defined, not started (and that is as meant: status
 * exits 0), until `ward ctl start`; a service that depends on it brings
 * it up; a reload that adds one leaves it down too. */
static void test_autostart(void) {
  write_conf("[service manual]\ncommand = sleep 1000\nready = up 0\nautostart = no\n"
             "[service base]\ncommand = sleep 1000\nready = up 0\nautostart = no\n"
             "[service top]\ncommand = sleep 1000\nready = up 0\ndepends_on = base\n");
  start_daemon();
  json_decref(wait_state("top", "ready"));
  json_decref(wait_state("base", "ready"));
  json_t *r = row("manual");
  T_EQ_STR(row_state(r), "not-started");
  T_TRUE(json_is_true(json_object_get(r, "ok")));
  T_TRUE(json_is_null(json_object_get(r, "pid")));
  json_decref(r);
  run_result c;
  CTL(&c, "status");
  EXPECT(&c, c.code == 0 && strstr(c.out, "not-started"));
  run_result_free(&c);
  T_EQ_INT(log_count("spawned manual"), 0);
  CTL(&c, "start", "manual");
  EXPECT(&c, c.code == 0 && strcmp(c.out, "manual: ready\n") == 0);
  run_result_free(&c);

  /* Added by a reload with autostart = no: there, not started. */
  write_conf("[service manual]\ncommand = sleep 1000\nready = up 0\nautostart = no\n"
             "[service base]\ncommand = sleep 1000\nready = up 0\nautostart = no\n"
             "[service top]\ncommand = sleep 1000\nready = up 0\ndepends_on = base\n"
             "[service later]\ncommand = sleep 1000\nready = up 0\nautostart = no\n");
  CTL(&c, "reload");
  EXPECT(&c, c.code == 0 && strstr(c.out, "added: later\n"));
  run_result_free(&c);
  r = row("later");
  T_EQ_STR(row_state(r), "not-started");
  json_decref(r);
  /* manual, started by hand, keeps running: its settings did not change. */
  json_decref(wait_state("manual", "ready"));
  CTL(&c, "status");
  EXPECT(&c, c.code == 0);
  run_result_free(&c);
  stop_daemon();
}

/* A service whose working directory goes away while it runs: its next
 * start fails, and the daemon's log and status say why. */
static void test_cwd_vanished(void) {
  char home[160], text[512];
  snprintf(home, sizeof home, "%s/home", dir);
  T_TRUE(mkdir(home, 0755) == 0);
  snprintf(text, sizeof text,
           "[service homeless]\ncommand = sleep 1000\ncwd = %s\nready = up 0\n"
           "backoff = 50ms\nmax_restarts = 1\n",
           home);
  write_conf(text);
  start_daemon();
  int pid = wait_pid("homeless", "ready");
  T_TRUE(rmdir(home) == 0);
  T_TRUE(kill(pid, SIGKILL) == 0);
  char want[300];
  snprintf(want, sizeof want,
           "spawn-failed homeless error=\"spawn 'sleep': working directory '%s': No such file or "
           "directory\"",
           home);
  wait_log(want);
  json_t *r = wait_state("homeless", "failed");
  const char *e = json_string_value(json_object_get(r, "error"));
  T_TRUE(e && strstr(e, "working directory") != NULL);
  json_decref(r);
  run_result c;
  CTL(&c, "start", "homeless");
  EXPECT(&c, c.code == 1 && strstr(c.err, "working directory"));
  run_result_free(&c);
  stop_daemon();
}

/* `ward run` that is not root, asked to run a service as another user,
 * says so when it starts it. */
static void test_user_not_root(void) {
  if (geteuid() != 0)
    return;
  char sub[128], conf2[192], sock2[192], err2[192], text[512];
  snprintf(sub, sizeof sub, "%s/as-nobody", dir);
  T_TRUE(mkdir(sub, 0777) == 0 && chmod(sub, 0777) == 0 && chmod(dir, 0755) == 0);
  snprintf(conf2, sizeof conf2, "%s/ward.ini", sub);
  snprintf(sock2, sizeof sock2, "%s/ctl.sock", sub);
  snprintf(err2, sizeof err2, "%s/daemon.err", sub);
  snprintf(text, sizeof text,
           "[ward]\nsocket = %s\nlog_dir = none\n"
           "[service rooted]\ncommand = true\nready = up 0\nuser = root\n",
           sock2);
  write_file(conf2, text);
  int err = open(err2, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  T_TRUE(err >= 0);
  pid_t pid = fork();
  T_TRUE(pid >= 0);
  if (pid == 0) {
    dup2(err, 2);
    if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
      _exit(99);
    unsetenv("XDG_RUNTIME_DIR");
    execl(ward_bin, ward_bin, "run", conf2, (char *)NULL);
    _exit(98);
  }
  close(err);
  daemon_pid = pid;
  int64_t deadline = t_now_ms() + 30000;
  static const char want[] = "start-failed rooted reason=\"user = root: ward run runs as uid "
                             "65534, not as root, and cannot switch to another user\"";
  for (;;) {
    char *e = read_file(err2);
    int found = strstr(e, want) != NULL;
    if (!found && t_now_ms() > deadline)
      T_FAIL("not in the daemon's stderr within 30 s: %s\n--- its stderr ---\n%s", want, e);
    free(e);
    if (found)
      break;
    pause_ms(50);
  }
  T_TRUE(kill(pid, SIGTERM) == 0);
  T_EQ_INT(wait_exit(pid), 0);
  daemon_pid = 0;
  T_TRUE(chmod(dir, 0700) == 0);
}

/* The pid of every instance, by name, in `pids` (up to 8). */
static int pid_of(const char *name) {
  json_t *r = row(name);
  int pid = r ? row_pid(r) : 0;
  json_decref(r);
  return pid;
}

/* Names in `ward ctl`: a group acts on each of its services, `all` on
 * every service, several names at once, an instance alone; a name that
 * is nothing stops the command before anything is done. */
static void test_ctl_names(void) {
  write_conf("[group web]\n"
             "[service front]\ncommand = sh -c 'echo hi from $WARD_NAME; exec sleep 1000'\n"
             "ready = up 0\ngroup = web\n"
             "[service back]\ncommand = sh -c 'echo hi from $WARD_NAME; exec sleep 1000'\n"
             "ready = up 0\ngroup = web\n"
             "[service db]\ncommand = sleep 1000\nready = up 0\n"
             "[service pool]\ncommand = sleep 1000\nready = up 0\ninstances = 3\n");
  start_daemon();
  int front = wait_pid("front", "ready"), back = wait_pid("back", "ready");
  int db = wait_pid("db", "ready");
  for (int i = 1; i <= 3; i++) {
    char n[16];
    snprintf(n, sizeof n, "pool.%d", i);
    json_decref(wait_state(n, "ready"));
  }
  run_result c;

  /* A group: each of its services, the last in the file first. */
  CTL(&c, "stop", "web");
  EXPECT(&c, c.code == 0 && strstr(c.out, "front: stopped (") && strstr(c.out, "back: stopped ("));
  run_result_free(&c);
  T_TRUE(gone(front) && gone(back));
  T_EQ_INT(pid_of("db"), db);
  char *e = read_file(errlog);
  char *at = strstr(e, "daemon-started");
  T_TRUE(strstr(at, "stopped back ") && strstr(at, "stopped front ") &&
         strstr(at, "stopped back ") < strstr(at, "stopped front "));
  free(e);
  CTL(&c, "start", "web");
  EXPECT(&c, c.code == 0 && strcmp(c.out, "front: ready\nback: ready\n") == 0);
  run_result_free(&c);

  /* Several names, and their logs merged. */
  front = pid_of("front");
  CTL(&c, "restart", "front", "db");
  EXPECT(&c, c.code == 0 && strcmp(c.out, "front: ready\ndb: ready\n") == 0);
  run_result_free(&c);
  T_TRUE(pid_of("front") != front && pid_of("db") != db);
  CTL(&c, "--json", "status", "web", "db");
  EXPECT(&c, c.code == 0);
  json_t *v = json_loads(c.out, 0, NULL);
  T_EQ_INT((int)json_array_size(json_object_get(v, "services")), 3);
  json_decref(v);
  run_result_free(&c);
  /* Ready means started: the shells may not have printed yet. */
  for (int64_t deadline = t_now_ms() + 30000;;) {
    CTL(&c, "logs", "web");
    int both = c.code == 0 && strstr(c.out, "[front] hi from front\n") &&
               strstr(c.out, "[back] hi from back\n");
    if (!both && t_now_ms() > deadline)
      EXPECT(&c, both);
    run_result_free(&c);
    if (both)
      break;
    pause_ms(20);
  }
  /* Following several names: the daemon holds the call for any of them. */
  int out[2];
  T_TRUE(pipe2(out, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  char *argv[] = {(char *)ward_bin, "ctl", "--socket", sock, "logs", "-f", "-n", "0",
                  "front", "back", NULL};
  pid_t follower;
  T_TRUE(posix_spawn(&follower, ward_bin, &fa, NULL, argv, environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  FILE *f = fdopen(out[0], "r");
  T_TRUE(f != NULL);
  for (int64_t deadline = t_now_ms() + 30000;;) {
    v = status();
    json_int_t waiting =
        json_integer_value(json_object_get(json_object_get(v, "daemon"), "followers"));
    json_decref(v);
    if (waiting == 1)
      break;
    T_TRUE(t_now_ms() < deadline);
    pause_ms(20);
  }
  CTL(&c, "restart", "web");
  EXPECT(&c, c.code == 0);
  run_result_free(&c);
  int seen_front = 0, seen_back = 0;
  for (int i = 0; i < 2; i++) {
    char line[256];
    T_TRUE(fgets(line, sizeof line, f) != NULL);
    seen_front |= strcmp(line, "[front] hi from front\n") == 0;
    seen_back |= strcmp(line, "[back] hi from back\n") == 0;
  }
  T_TRUE(seen_front && seen_back);
  kill(follower, SIGTERM);
  fclose(f);
  T_EQ_INT(wait_exit(follower), 0);

  CTL(&c, "--json", "signal", "db", "web", "CONT");
  EXPECT(&c, c.code == 0 && strstr(c.out, "\"signalled\": 3"));
  run_result_free(&c);

  /* One instance alone. */
  int p1 = pid_of("pool.1"), p2 = pid_of("pool.2"), p3 = pid_of("pool.3");
  CTL(&c, "stop", "pool.2");
  EXPECT(&c, c.code == 0 && strcmp(c.out, "pool.2: stopped (graceful)\n") == 0);
  run_result_free(&c);
  T_TRUE(gone(p2));
  T_EQ_INT(pid_of("pool.1"), p1);
  T_EQ_INT(pid_of("pool.3"), p3);
  CTL(&c, "start", "pool.2");
  EXPECT(&c, c.code == 0 && strcmp(c.out, "pool.2: ready\n") == 0);
  run_result_free(&c);
  CTL(&c, "restart", "pool.3", "pool");
  EXPECT(&c, c.code == 0 && strcmp(c.out, "pool.1: ready\npool.2: ready\npool.3: ready\n") == 0);
  run_result_free(&c);

  /* A name that is nothing: refused, nothing done. */
  front = pid_of("front");
  CTL(&c, "stop", "front", "nosuch");
  EXPECT(&c, c.code == 4 && strstr(c.err, "no service or group 'nosuch'"));
  run_result_free(&c);
  T_EQ_INT(pid_of("front"), front);
  CTL(&c, "signal", "front");
  EXPECT(&c, c.code == 2 && strstr(c.err, "missing SIG"));
  run_result_free(&c);

  /* all: every service. */
  CTL(&c, "stop", "all");
  EXPECT(&c, c.code == 0);
  run_result_free(&c);
  v = status();
  size_t i;
  json_t *x;
  json_array_foreach(json_object_get(v, "services"), i, x) T_EQ_STR(row_state(x), "stopped");
  json_decref(v);
  CTL(&c, "status");
  EXPECT(&c, c.code == 0);
  run_result_free(&c);
  CTL(&c, "start", "all");
  EXPECT(&c, c.code == 0);
  run_result_free(&c);
  CTL(&c, "status", "all");
  EXPECT(&c, c.code == 0 && strstr(c.out, "pool.3") && strstr(c.out, "front"));
  run_result_free(&c);
  stop_daemon();

  /* "all" names no service or group of the file. */
  expect_refused("[service all]\ncommand = true\n", "1: 'all' is not a service name");
  expect_refused("[group all]\n", "1: 'all' is not a group name");
}

/* ---- rolling replacement ---- */

/* Watches `ward ctl status` while a replacement runs on another thread:
 * how many samples, and how many found an instance of `web` or `solo`
 * not ready. */
typedef struct watch {
  const char *const *argv; /* the ctl command run meanwhile */
  run_result r;
  atomic_int over;
} watch;

static void *watch_run(void *arg) {
  watch *w = arg;
  const char *const *a = w->argv;
  RUN(&w->r, "ctl", "--socket", sock, a[0], a[1], a[2]);
  atomic_store(&w->over, 1);
  return NULL;
}

/* Runs `ward ctl A0 A1 A2` while sampling the status: each sample must
 * show every instance named in `must` ready. Returns the samples taken. */
static int replace_watched(const char *a0, const char *a1, const char *a2,
                           const char *const *must, size_t nmust, run_result *out) {
  const char *argv[] = {a0, a1, a2};
  watch w = {.argv = argv};
  pthread_t t;
  T_TRUE(pthread_create(&t, NULL, watch_run, &w) == 0);
  int samples = 0;
  while (!atomic_load(&w.over)) {
    for (size_t k = 0; k < nmust; k++) {
      json_t *r = row(must[k]);
      T_TRUE(r != NULL);
      if (strcmp(row_state(r), "ready") != 0)
        T_FAIL("%s is %s while it is replaced", must[k], row_state(r));
      json_decref(r);
    }
    samples++;
  }
  pthread_join(t, NULL);
  *out = w.r;
  return samples;
}

/* Where `text` first is in the daemon's stderr (-1: nowhere). */
static long log_at(const char *text) {
  char *e = read_file(errlog);
  const char *p = strstr(e, text);
  long at = p ? p - e : -1;
  free(e);
  return at;
}

/* `ward ctl replace` starts each new process beside the old one and stops
 * the old one only once the new one is ready: the instances stay ready
 * throughout, and their pids change. A command that cannot come up (here
 * after a reload with `reload = replace`) leaves the old processes
 * serving, and says why. */
/* The children of `parent` running `comm`, in `out` (at most `cap`): how
 * many. */
static int children_named(pid_t parent, const char *comm, int *out, int cap) {
  int n = 0;
  DIR *d = opendir("/proc");
  T_TRUE(d != NULL);
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < cap) {
    int pid = atoi(e->d_name), ppid = 0;
    char name[64];
    if (pid > 0 && t_proc_stat(pid, name, sizeof name, NULL, &ppid) == 0 && ppid == parent &&
        strcmp(name, comm) == 0)
      out[n++] = pid;
  }
  closedir(d);
  return n;
}

/* The `spares` figures of an instance's status row. */
static int spares_of(const char *name, const char *what) {
  json_t *r = row(name);
  T_TRUE(r != NULL);
  int v = (int)json_integer_value(json_object_get(json_object_get(r, "spares"), what));
  json_decref(r);
  return v;
}

static void wait_spares_ready(const char *name, int want) {
  int64_t deadline = t_now_ms() + 30000;
  while (spares_of(name, "ready") != want) {
    T_TRUE(t_now_ms() < deadline);
    pause_ms(20);
  }
}

/* spares = 1: a process started ahead, which takes over when the
 * service's process is killed (its pid becomes the service's), and is
 * started again; status shows them. */
static void test_spares_key(void) {
  write_conf("[service hot]\ncommand = sleep 1000\nready = up 0\nspares = 1\n"
             "[service cold]\ncommand = sleep 1000\nready = up 0\n");
  start_daemon();
  int pid = wait_pid("hot", "ready");
  wait_spares_ready("hot", 1);
  T_EQ_INT(spares_of("hot", "wanted"), 1);
  T_EQ_INT(spares_of("cold", "wanted"), 0);
  T_EQ_INT(spares_of("cold", "running"), 0);
  run_result r;
  CTL(&r, "status", "hot");
  EXPECT(&r, r.code == 0 && strstr(r.out, "ready, spares 1/1"));
  run_result_free(&r);
  /* The spare: the daemon's child running sleep that is neither the
   * service's process nor cold's. */
  int cold = wait_pid("cold", "ready"), kids[8], spare = 0;
  int n = children_named(daemon_pid, "sleep", kids, 8);
  for (int i = 0; i < n; i++)
    if (kids[i] != pid && kids[i] != cold)
      spare = kids[i];
  T_TRUE(n == 3 && spare > 0);
  kill(pid, SIGKILL);
  int64_t deadline = t_now_ms() + 30000;
  int now;
  while ((now = wait_pid("hot", "ready")) == pid) {
    T_TRUE(t_now_ms() < deadline);
    pause_ms(20);
  }
  T_EQ_INT(now, spare);
  wait_spares_ready("hot", 1);
  stop_daemon();
}

static void test_ctl_replace(void) {
  write_conf("[service web]\ncommand = sleep 1000\nready = up 1s\ninstances = 2\n"
             "[service solo]\ncommand = sleep 1000\nready = up 1s\nreload = replace\n"
             "[group g]\n[service member]\ncommand = sleep 1000\nready = up 0\ngroup = g\n");
  start_daemon();
  int web1 = wait_pid("web.1", "ready"), web2 = wait_pid("web.2", "ready"),
      solo = wait_pid("solo", "ready");
  json_decref(wait_state("member", "ready"));

  const char *const must[] = {"web.1", "web.2", "solo"};
  run_result r;
  int samples = replace_watched("replace", "web", "solo", must, 3, &r);
  EXPECT(&r, r.code == 0);
  EXPECT(&r, strcmp(r.out, "web.1: ready\nweb.2: ready\nsolo: ready\n") == 0);
  run_result_free(&r);
  T_TRUE(samples > 0);
  int nweb1 = wait_pid("web.1", "ready"), nweb2 = wait_pid("web.2", "ready"),
      nsolo = wait_pid("solo", "ready");
  T_TRUE(nweb1 != web1 && nweb2 != web2 && nsolo != solo);
  T_TRUE(gone(web1) && gone(web2) && gone(solo));
  /* The new process was ready before the old one ended. */
  char ready[64], exited[64];
  snprintf(ready, sizeof ready, "ready solo pid=%d", nsolo);
  snprintf(exited, sizeof exited, "exited solo pid=%d", solo);
  T_TRUE(log_at(ready) >= 0 && log_at(exited) > log_at(ready));
  char replaced[96];
  snprintf(replaced, sizeof replaced, "replaced solo pid=%d old_pid=%d", nsolo, solo);
  wait_log(replaced);

  /* --json: the instances as they are now. */
  CTL(&r, "--json", "replace", "solo");
  EXPECT(&r, r.code == 0);
  json_t *v = json_loads(r.out, 0, NULL);
  EXPECT(&r, v != NULL);
  json_t *row0 = json_array_get(json_object_get(v, "services"), 0);
  EXPECT(&r, strcmp(json_string_value(json_object_get(row0, "state")), "ready") == 0);
  int jsolo = (int)json_integer_value(json_object_get(row0, "pid"));
  EXPECT(&r, jsolo > 0 && jsolo != nsolo);
  json_decref(v);
  run_result_free(&r);
  T_TRUE(gone(nsolo));

  /* Names as the other commands take them; a group member is not replaced. */
  CTL(&r, "replace", "nosuch");
  EXPECT(&r, r.code == 4);
  run_result_free(&r);
  CTL(&r, "replace", "member");
  EXPECT(&r, r.code == 1 && strstr(r.err, "restarted with its group, not replaced"));
  run_result_free(&r);

  /* A reload with reload = replace: a new command comes in beside the
   * old one; web (reload = restart by default) is untouched. */
  write_conf("[service web]\ncommand = sleep 1000\nready = up 1s\ninstances = 2\n"
             "[service solo]\ncommand = sleep 2000\nready = up 1s\nreload = replace\n"
             "[group g]\n[service member]\ncommand = sleep 1000\nready = up 0\ngroup = g\n");
  const char *const solo_only[] = {"solo"};
  samples = replace_watched("reload", NULL, NULL, solo_only, 1, &r);
  EXPECT(&r, r.code == 0 && strstr(r.out, "changed: solo\n") && strstr(r.out, "replaced: solo\n"));
  run_result_free(&r);
  int rsolo = wait_pid("solo", "ready");
  T_TRUE(rsolo != jsolo);
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/cmdline", rsolo);
  char *cmd = read_file(path);
  T_TRUE(strcmp(cmd, "sleep") == 0 && strcmp(cmd + 6, "2000") == 0);
  free(cmd);
  T_EQ_INT(wait_pid("web.1", "ready"), nweb1);

  /* A command that exits before it is ready: the reload's replacement
   * fails, and the old process serves on. */
  write_conf("[service web]\ncommand = sleep 1000\nready = up 1s\ninstances = 2\n"
             "[service solo]\ncommand = sh -c 'echo no config >&2; exit 3'\nready = up 1s\n"
             "reload = replace\n"
             "[group g]\n[service member]\ncommand = sleep 1000\nready = up 0\ngroup = g\n");
  samples = replace_watched("reload", NULL, NULL, solo_only, 1, &r);
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  wait_log("replace-failed solo");
  T_EQ_INT(wait_pid("solo", "ready"), rsolo);
  T_TRUE(!gone(rsolo));
  /* ...and so does `ward ctl replace` with that command: exit 1, why. */
  samples = replace_watched("replace", "solo", NULL, solo_only, 1, &r);
  EXPECT(&r, r.code == 1);
  EXPECT(&r, strstr(r.err, "did not become ready") && strstr(r.err, "code 3") &&
                 strstr(r.err, "no config") && strstr(r.err, "the old process keeps serving"));
  run_result_free(&r);
  T_EQ_INT(wait_pid("solo", "ready"), rsolo);
  /* A program that is not there at all. */
  write_conf("[service web]\ncommand = sleep 1000\nready = up 1s\ninstances = 2\n"
             "[service solo]\ncommand = /nonexistent/ward-v2\nready = up 1s\nreload = replace\n"
             "[group g]\n[service member]\ncommand = sleep 1000\nready = up 0\ngroup = g\n");
  CTL(&r, "reload");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  CTL(&r, "replace", "solo");
  EXPECT(&r, r.code == 1 && strstr(r.err, "cannot run /nonexistent/ward-v2") &&
                 strstr(r.err, "the old process keeps serving"));
  run_result_free(&r);
  T_EQ_INT(wait_pid("solo", "ready"), rsolo);
  stop_daemon();
}

/* `ward ctl logs` reads on across `ward ctl replace`: the old process's
 * lines, then the new one's; a follower (`logs -f`) sees each once. */
static void test_replace_keeps_logs(void) {
  write_conf("[service talk]\ncommand = sh -c 'echo hello from $$; exec sleep 1000'\n"
             "ready = up 0\n");
  start_daemon();
  int old = wait_pid("talk", "ready");
  char want[128];
  snprintf(want, sizeof want, "hello from %d\n", old);
  wait_ctl_logs("talk", want);
  pid_t pid;
  FILE *f = follow_logs("talk", &pid);
  want[strlen(want) - 1] = 0;
  expect_line(f, want);
  run_result r;
  CTL(&r, "replace", "talk");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  int now = wait_pid("talk", "ready");
  T_TRUE(now != old);
  snprintf(want, sizeof want, "hello from %d\nhello from %d\n", old, now);
  wait_ctl_logs("talk", want);
  /* The next line the follower gets is the new process's, not the old
   * one's again. */
  snprintf(want, sizeof want, "hello from %d", now);
  expect_line(f, want);
  kill(pid, SIGINT);
  T_EQ_INT(wait_exit(pid), 0);
  fclose(f);
  stop_daemon();
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--svc-control") == 0)
    return svc_control_main();
  if (argc > 1 && strcmp(argv[1], "--svc-logs") == 0)
    return svc_logs_main();
  tdaemon_setup(argc, argv, "test_daemon");
  T_RUN(test_bad_config);
  T_RUN(test_ctl);
  T_RUN(test_crash_loop_and_logs);
  T_RUN(test_grace_and_order);
  T_RUN(test_stop_during_slow_start);
  T_RUN(test_reload);
  T_RUN(test_rotation);
  T_RUN(test_log_files_ops);
  T_RUN(test_sigkill_daemon);
  T_RUN(test_pause_resume);
  T_RUN(test_logs_follow);
  T_RUN(test_log_records);
  T_RUN(test_service_control);
  T_RUN(test_control_flood);
  T_RUN(test_follower_dropped);
  T_RUN(test_control_busy);
  T_RUN(test_concurrent_ops);
  T_RUN(test_groups);
  T_RUN(test_class_defaults);
  T_RUN(test_start_failure_says_why);
  T_RUN(test_ctl_statuses);
  T_RUN(test_user_umask_env);
  T_RUN(test_autostart);
  T_RUN(test_cwd_vanished);
  T_RUN(test_user_not_root);
  T_RUN(test_ctl_names);
  T_RUN(test_ctl_replace);
  T_RUN(test_replace_keeps_logs);
  T_RUN(test_spares_key);
  tdaemon_cleanup();
  return t_done();
}
