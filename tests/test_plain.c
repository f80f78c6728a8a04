/*
 * test_plain.c — supervising programs that do not link ward: readiness
 * after a time up or on a notification descriptor, the stop signal, and
 * first starts that follow the restart policy (ward_spec_supervise_start).
 */
#include <signal.h>

#include "tevents.h"
#include "tworker.h"

static ward_host *host;

/* A spec running `script` with /bin/sh. */
static ward_spec *sh_spec(const char *name, const char *script) {
  ward_spec *s;
  T_OK(ward_spec_new(&s, name, "/bin/sh"));
  T_OK(ward_spec_arg(s, "-c"));
  T_OK(ward_spec_arg(s, script));
  T_OK(ward_spec_log_events(s, 1));
  return s;
}

static ward_info info_of(ward_worker *w) {
  ward_info i = WARD_INFO_INIT;
  T_OK(ward_worker_info(&i, w));
  return i;
}

/* Waits for a LOG event of worker `id` whose text is `text`. */
static void wait_line(uint64_t id, const char *text) {
  int from = 0;
  for (;;) {
    int i = tev_wait_idx(from, WARD_EV_LOG, id);
    if (strcmp(tev_get(i).detail, text) == 0)
      return;
    from = i + 1;
  }
}

static void test_ready_after(void) {
  /* It must stay up: one that exits at once is not ready. */
  ward_spec *s = sh_spec("quitter", "exit 0");
  T_OK(ward_spec_ready(s, WARD_READY_AFTER, 5000));
  ward_worker *w;
  T_ERR(ward_spawn(&w, host, s), WARD_EHANDSHAKE);
  T_TRUE(strstr(ward_last_error(), "before it was ready") != NULL);
  ward_spec_free(s);

  s = sh_spec("after", "echo started; exec sleep 1000");
  T_OK(ward_spec_ready(s, WARD_READY_AFTER, 150));
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  ward_info i = info_of(w);
  T_EQ_INT(i.state, WARD_STATE_READY);
  T_TRUE(i.pid > 0);
  wait_line(ward_worker_id(w), "started");
  /* No channel: calls are refused at once. */
  T_ERR(ward_request(NULL, w, "echo", "x", 1, 1000), WARD_EINVAL);
  T_ERR(ward_notify(w, "echo", "x", 1), WARD_EINVAL);
  T_ERR(ward_ping(w, 1000), WARD_EINVAL);
  T_TRUE(strstr(ward_last_error(), "plain process") != NULL);
  /* Stopped by its stop signal (SIGTERM), which ends sleep at once. */
  T_OK(ward_worker_stop(w, 10000));
  i = info_of(w);
  T_EQ_INT(i.last_stop, WARD_STOP_GRACEFUL);
  T_EQ_INT(i.last_signal, SIGTERM);
  ward_worker_free(w);
}

static void test_ready_at_once_events(void) {
  /* Ready as it starts: its events come without anything else happening. */
  ward_spec *s = sh_spec("quiet", "exec sleep 1000");
  T_OK(ward_spec_ready(s, WARD_READY_AFTER, 0));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  tev e = tev_wait(WARD_EV_READY, ward_worker_id(w));
  T_EQ_INT(e.pid, ward_worker_pid(w));
  ward_worker_free(w);
}

static void test_ready_at_once_then_policy(void) {
  /* Ready at spawn: its exit is then the restart policy's business. */
  ward_spec *s = sh_spec("at-once", "exit 3");
  T_OK(ward_spec_ready(s, WARD_READY_AFTER, 0));
  T_OK(ward_spec_intensity(s, 1, 60000));
  T_OK(ward_spec_backoff(s, 10, 10, 100, 60000));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  uint64_t id = ward_worker_id(w);
  tev e = tev_wait(WARD_EV_EXITED, id);
  T_EQ_INT(e.exit_code, 3);
  tev_wait(WARD_EV_RESTARTING, id);
  tev_wait(WARD_EV_GAVE_UP, id);
  T_EQ_INT(info_of(w).state, WARD_STATE_FAILED);
  ward_worker_free(w);
}

static void test_last_line_at_exit(void) {
  /* A last line without its newline is flushed when the process has
   * ended (a child left in its group holds the pipe open until then): its
   * event still names the process that wrote it. */
  ward_spec *s = sh_spec("tail", "sleep 1000 & printf 'no newline'; exit 0");
  T_OK(ward_spec_ready(s, WARD_READY_AFTER, 0));
  T_OK(ward_spec_restart(s, WARD_RESTART_NEVER));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  uint64_t id = ward_worker_id(w);
  int pid = tev_wait(WARD_EV_READY, id).pid;
  T_TRUE(pid > 0);
  tev e = tev_wait(WARD_EV_EXITED, id);
  T_EQ_INT(e.pid, pid);
  int i = tev_wait_idx(0, WARD_EV_LOG, id);
  T_EQ_STR(tev_get(i).detail, "no newline");
  T_EQ_INT(tev_get(i).pid, pid);
  ward_worker_free(w);
}

static void test_notify(void) {
  /* The descriptor is where it was asked for, and nothing else leaks in. */
  ward_spec *s = sh_spec("notify",
                         "for f in 3 4 6; do [ -e /proc/$$/fd/$f ] && exit 9; done; "
                         "echo not-yet; echo >&5; echo notified; exec sleep 1000");
  T_OK(ward_spec_ready(s, WARD_READY_NOTIFY, 5));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  T_EQ_INT(info_of(w).state, WARD_STATE_READY);
  wait_line(ward_worker_id(w), "notified");
  ward_worker_free(w);

  /* Bytes without a newline, then the descriptor closed: never ready. */
  s = sh_spec("mute", "printf x >&5; exec 5>&-; exec sleep 1000");
  T_OK(ward_spec_ready(s, WARD_READY_NOTIFY, 5));
  T_OK(ward_spec_startup_timeout(s, 300));
  int mark = tev_mark();
  T_ERR(ward_spawn(&w, host, s), WARD_EHANDSHAKE);
  T_TRUE(strstr(ward_last_error(), "no readiness notification") != NULL);
  ward_spec_free(s);
  /* Its exit was reported as a startup timeout. */
  pthread_mutex_lock(&tev_mu);
  int found = 0;
  for (int i = mark; i < tev_n; i++)
    found |= tev_log[i].type == WARD_EV_EXITED && strcmp(tev_log[i].name, "mute") == 0 &&
             tev_log[i].reason == WARD_REASON_STARTUP_TIMEOUT;
  pthread_mutex_unlock(&tev_mu);
  T_TRUE(found);

  T_ERR(ward_spec_ready(s = sh_spec("bad", "true"), WARD_READY_NOTIFY, 2), WARD_EINVAL);
  T_ERR(ward_spec_ready(s, WARD_READY_AFTER, -1), WARD_EINVAL);
  T_ERR(ward_spec_ready(s, 7, 0), WARD_EINVAL);
  ward_spec_free(s);
}

/* Whatever number the notification descriptor has (among them those the
 * host uses to hand a new process its descriptors), the process gets it
 * there, open, and no other above 2. */
static void test_notify_at_any_number(void) {
  for (int fd = 3; fd <= 24; fd++) {
    char script[256];
    snprintf(script, sizeof script,
             "for f in $(seq 3 40); do [ $f != %d ] && [ -e /proc/$$/fd/$f ] && exit 9; done; "
             "echo > /proc/$$/fd/%d; exec sleep 1000",
             fd, fd);
    ward_spec *s = sh_spec("notify-n", script);
    T_OK(ward_spec_ready(s, WARD_READY_NOTIFY, fd));
    T_OK(ward_spec_restart(s, WARD_RESTART_NEVER));
    ward_worker *w;
    T_OK(ward_spawn(&w, host, s));
    ward_spec_free(s);
    T_EQ_INT(info_of(w).state, WARD_STATE_READY);
    ward_worker_free(w);
  }
}

static void test_stop_signal(void) {
  /* Ignores SIGTERM: killed after the grace. */
  ward_spec *s = sh_spec("stubborn", "trap '' TERM; echo >&5; while :; do sleep 1; done");
  T_OK(ward_spec_ready(s, WARD_READY_NOTIFY, 5));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  T_OK(ward_worker_stop(w, 200));
  ward_info i = info_of(w);
  T_EQ_INT(i.last_stop, WARD_STOP_KILLED);
  T_EQ_INT(i.last_signal, SIGKILL);
  ward_worker_free(w);

  /* Told to stop with SIGINT, which it handles by exiting 0. */
  s = sh_spec("on-int", "trap 'exit 0' INT; echo >&5; sleep 1000 & wait");
  T_OK(ward_spec_ready(s, WARD_READY_NOTIFY, 5));
  T_OK(ward_spec_stop_signal(s, SIGINT));
  T_ERR(ward_spec_stop_signal(s, 0), WARD_EINVAL);
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  T_OK(ward_worker_stop(w, 20000));
  i = info_of(w);
  T_EQ_INT(i.last_stop, WARD_STOP_GRACEFUL);
  T_EQ_INT(i.last_exit_code, 0);
  T_EQ_INT(i.last_signal, 0);
  ward_worker_free(w);
}

static void test_restart_plain(void) {
  /* A replacement asks with the stop signal and is not a crash. */
  ward_spec *s = sh_spec("cycled", "exec sleep 1000");
  T_OK(ward_spec_ready(s, WARD_READY_AFTER, 0));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  int pid = ward_worker_pid(w);
  int mark = tev_mark();
  T_OK(ward_worker_restart(w));
  ward_info i = info_of(w);
  T_EQ_INT(i.state, WARD_STATE_READY);
  T_EQ_INT(i.generation, 2);
  T_TRUE(i.pid > 0 && i.pid != pid);
  tev e = tev_wait_from(mark, WARD_EV_EXITED, ward_worker_id(w));
  T_EQ_INT(e.reason, WARD_REASON_CYCLE);
  T_EQ_INT(e.signal, SIGTERM);
  ward_worker_free(w);
}

static size_t count_lines(ward_worker *w, const char *text) {
  ward_log_line *v;
  size_t n, k = 0;
  T_OK(ward_worker_logs(&v, &n, w, NULL));
  for (size_t j = 0; j < n; j++)
    k += strcmp(v[j].text, text) == 0;
  ward_log_lines_free(v, n);
  return k;
}

static void test_supervise_start(void) {
  /* Never gets going: the policy gives up, the handle and its lines stay. */
  ward_spec *s = sh_spec("crashloop", "echo attempt; exit 1");
  T_OK(ward_spec_ready(s, WARD_READY_AFTER, 2000));
  T_OK(ward_spec_supervise_start(s, 1));
  T_OK(ward_spec_intensity(s, 2, 60000));
  T_OK(ward_spec_backoff(s, 10, 20, 200, 60000));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  ward_info i = info_of(w);
  T_EQ_INT(i.state, WARD_STATE_FAILED);
  T_EQ_INT(i.restarts, 2);
  T_EQ_INT(i.last_exit_code, 1);
  T_EQ_INT(count_lines(w, "attempt"), 3);
  tev_wait(WARD_EV_GAVE_UP, ward_worker_id(w));
  ward_worker_free(w);

  /* Fails once, then comes up: ward_spawn returns it ready. */
  char flag[] = "/tmp/ward-plain-XXXXXX";
  int fd = mkstemp(flag);
  T_TRUE(fd >= 0);
  close(fd);
  char script[200];
  snprintf(script, sizeof script,
           "if [ -e %s ]; then rm %s; echo failing; exit 1; fi; echo >&5; exec sleep 1000", flag,
           flag);
  s = sh_spec("second-time", script);
  T_OK(ward_spec_ready(s, WARD_READY_NOTIFY, 5));
  T_OK(ward_spec_supervise_start(s, 1));
  T_OK(ward_spec_backoff(s, 10, 20, 200, 60000));
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  i = info_of(w);
  T_EQ_INT(i.state, WARD_STATE_READY);
  T_EQ_INT(i.generation, 2);
  T_EQ_INT(i.restarts, 1);
  T_EQ_INT(count_lines(w, "failing"), 1);
  ward_worker_free(w);

  /* A program that cannot even be executed: each start fails, with a
   * backoff between them, until the policy gives up. */
  T_OK(ward_spec_new(&s, "ghost", "/nonexistent/ward-test-program"));
  T_OK(ward_spec_ready(s, WARD_READY_AFTER, 0));
  T_OK(ward_spec_supervise_start(s, 1));
  T_OK(ward_spec_intensity(s, 2, 60000));
  T_OK(ward_spec_backoff(s, 10, 20, 200, 60000));
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  i = info_of(w);
  T_EQ_INT(i.state, WARD_STATE_FAILED);
  T_EQ_INT(i.restarts, 2);
  T_EQ_INT(i.last_exit_code, 127);
  ward_worker_free(w);

  /* A handshake worker too: exits before its handshake, then gives up. */
  s = tw_spec("early", "exit_early");
  T_OK(ward_spec_supervise_start(s, 1));
  T_OK(ward_spec_intensity(s, 1, 60000));
  T_OK(ward_spec_backoff(s, 10, 20, 200, 60000));
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  i = info_of(w);
  T_EQ_INT(i.state, WARD_STATE_FAILED);
  T_EQ_INT(i.last_exit_code, 3);
  ward_worker_free(w);
}

static void test_spawn_start(void) {
  /* The handle comes back at once; the wait is the caller's. */
  ward_spec *s = sh_spec("slow", "exec sleep 1000");
  T_OK(ward_spec_ready(s, WARD_READY_AFTER, 100));
  ward_worker *w;
  T_OK(ward_spawn_start(&w, host, s));
  T_OK(ward_worker_wait_ready(w, -1));
  T_EQ_INT(info_of(w).state, WARD_STATE_READY);
  T_OK(ward_worker_wait_ready(w, 0)); /* ready already */
  ward_worker_free(w);

  /* Ready, then gone at once (the policy gave up): it has been ready. */
  ward_spec *q = sh_spec("brief", "exit 3");
  T_OK(ward_spec_ready(q, WARD_READY_AFTER, 0));
  T_OK(ward_spec_intensity(q, 0, 60000));
  T_OK(ward_spawn_start(&w, host, q));
  ward_spec_free(q);
  tev_wait(WARD_EV_GAVE_UP, ward_worker_id(w));
  T_OK(ward_worker_wait_ready(w, -1));
  T_EQ_INT(info_of(w).state, WARD_STATE_FAILED);
  ward_worker_free(w);

  /* Stopped while it comes up: the wait ends, it is not ready. */
  T_OK(ward_spec_ready(s, WARD_READY_AFTER, 600000));
  T_OK(ward_spawn_start(&w, host, s));
  T_EQ_INT(info_of(w).state, WARD_STATE_STARTING);
  T_ERR(ward_worker_wait_ready(w, 0), WARD_ETIMEDOUT);
  T_OK(ward_worker_stop(w, 10000));
  T_ERR(ward_worker_wait_ready(w, -1), WARD_ECLOSED);
  ward_worker_free(w);
  ward_spec_free(s);

  /* A first start that fails: the reason ward_spawn would give, and the
   * handle stays (failed) until freed. */
  T_OK(ward_spec_new(&s, "missing", "/nonexistent/ward-test-program"));
  T_OK(ward_spawn_start(&w, host, s));
  ward_spec_free(s);
  T_ERR(ward_worker_wait_ready(w, -1), WARD_ESPAWN);
  T_TRUE(strstr(ward_last_error(), "No such file") != NULL);
  T_EQ_INT(info_of(w).state, WARD_STATE_FAILED);
  ward_worker_free(w);

  s = tw_spec("early-exit", "exit_early");
  T_OK(ward_spawn_start(&w, host, s));
  ward_spec_free(s);
  T_ERR(ward_worker_wait_ready(w, -1), WARD_EHANDSHAKE);
  ward_worker_free(w);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
  host = tev_host();
  T_RUN(test_ready_after);
  T_RUN(test_ready_at_once_events);
  T_RUN(test_ready_at_once_then_policy);
  T_RUN(test_last_line_at_exit);
  T_RUN(test_notify);
  T_RUN(test_notify_at_any_number);
  T_RUN(test_stop_signal);
  T_RUN(test_restart_plain);
  T_RUN(test_supervise_start);
  T_RUN(test_spawn_start);
  ward_host_free(host);
  return t_done();
}
