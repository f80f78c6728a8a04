/*
 * test_plain.c — supervising programs that do not link ward: readiness
 * after a time up or on a notification descriptor (a handle on Windows),
 * the stop signal and its escalation, restarts, output, calls refused,
 * and first starts that follow the restart policy
 * (ward_spec_supervise_start).
 *
 * The plain processes are /bin/sh scripts on POSIX systems. Windows has
 * no /bin/sh: there they are this test's own binary with "--plain" and a
 * mode (plain_main, at the end), which does what the script says, with
 * what Windows has in its place (docs/platforms.md).
 */
#include <signal.h>

#include "tevents.h"
#include "tworker.h"

static ward_host *host;

/* A spec for a plain process doing what `script` says: on POSIX the script
 * itself, run by /bin/sh; on Windows this binary in the mode `mode` (with
 * `arg` after it, when not NULL). */
static ward_spec *plain_spec(const char *name, const char *script, const char *mode,
                             const char *arg) {
  ward_spec *s;
#ifdef _WIN32
  (void)script;
  T_OK(ward_spec_new(&s, name, t_self_path()));
  T_OK(ward_spec_arg(s, "--plain"));
  T_OK(ward_spec_arg(s, mode));
  if (arg)
    T_OK(ward_spec_arg(s, arg));
#else
  (void)mode, (void)arg;
  T_OK(ward_spec_new(&s, name, "/bin/sh"));
  T_OK(ward_spec_arg(s, "-c"));
  T_OK(ward_spec_arg(s, script));
#endif
  T_OK(ward_spec_log_events(s, 1));
  return s;
}

/* Whether the soft stop reaches a plain process here: not where
 * WARD_TEST_NO_SOFT_STOP is set (Windows under Wine runs the tests without
 * a console, so the CTRL_BREAK that is the soft stop there reaches no
 * one), and a stop it would have ended is the hard stop after the grace. */
static int soft_stop(void) { return getenv("WARD_TEST_NO_SOFT_STOP") == NULL; }

/* The grace of a stop that the soft stop ends at once: generous where it
 * does, short where only the hard stop will. */
static int stop_grace(void) { return soft_stop() ? 10000 : 300; }

/* A program that cannot be started, and a word of why. */
#ifdef _WIN32
#define NO_PROGRAM "ward-test-no-such-program"
#define NO_PROGRAM_WHY "not found"
#else
#define NO_PROGRAM "/nonexistent/ward-test-program"
#define NO_PROGRAM_WHY "No such file"
#endif

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
  ward_spec *s = plain_spec("quitter", "exit 0", "exit", "0");
  T_OK(ward_spec_ready(s, WARD_READY_AFTER, 5000));
  ward_worker *w;
  T_ERR(ward_spawn(&w, host, s), WARD_EHANDSHAKE);
  T_TRUE(strstr(ward_last_error(), "before it was ready") != NULL);
  ward_spec_free(s);

  s = plain_spec("after", "echo started; exec sleep 1000", "started", NULL);
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
  /* Stopped by its stop signal (SIGTERM), which ends sleep at once; where
   * the soft stop reaches no one, by the hard stop after the grace. */
  T_OK(ward_worker_stop(w, stop_grace()));
  i = info_of(w);
  T_EQ_INT(i.last_stop, soft_stop() ? WARD_STOP_GRACEFUL : WARD_STOP_KILLED);
  T_EQ_INT(i.last_signal, soft_stop() ? SIGTERM : WARD__STOP_HARD);
  ward_worker_free(w);
}

static void test_ready_at_once_events(void) {
  /* Ready as it starts: its events come without anything else happening. */
  ward_spec *s = plain_spec("quiet", "exec sleep 1000", "sleep", NULL);
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
  ward_spec *s = plain_spec("at-once", "exit 3", "exit", "3");
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
  ward_spec *s =
      plain_spec("tail", "sleep 1000 & printf 'no newline'; exit 0", "tail", NULL);
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
  /* The descriptor is where it was asked for, and nothing else leaks in
   * (on Windows: the handle WARD_NOTIFY_HANDLE names is a pipe's, and no
   * channel is named). */
  ward_spec *s = plain_spec("notify",
                            "for f in 3 4 6; do [ -e /proc/$$/fd/$f ] && exit 9; done; "
                            "echo not-yet; echo >&5; echo notified; exec sleep 1000",
                            "notify", NULL);
  T_OK(ward_spec_ready(s, WARD_READY_NOTIFY, 5));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  T_EQ_INT(info_of(w).state, WARD_STATE_READY);
  wait_line(ward_worker_id(w), "notified");
  ward_worker_free(w);

  /* Bytes without a newline, then the descriptor closed: never ready. */
  s = plain_spec("mute", "printf x >&5; exec 5>&-; exec sleep 1000", "mute", NULL);
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

  T_ERR(ward_spec_ready(s = plain_spec("bad", "true", "exit", "0"), WARD_READY_NOTIFY, 2),
        WARD_EINVAL);
  T_ERR(ward_spec_ready(s, WARD_READY_AFTER, -1), WARD_EINVAL);
  T_ERR(ward_spec_ready(s, 7, 0), WARD_EINVAL);
  ward_spec_free(s);
}

#ifdef _WIN32
/* A process that a console control event ended (the soft stop's
 * CTRL_BREAK, where there is a console, ends one that does not handle it
 * so) is reported as ended by SIGTERM, as on POSIX, not as a crash of
 * another kind. */
static void test_ended_by_console_event(void) {
  ward_spec *s = plain_spec("ctrl", NULL, "ctrl-exit", NULL);
  T_OK(ward_spec_ready(s, WARD_READY_AFTER, 0));
  T_OK(ward_spec_restart(s, WARD_RESTART_NEVER));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  tev e = tev_wait(WARD_EV_EXITED, ward_worker_id(w));
  T_EQ_INT(e.signal, SIGTERM);
  T_EQ_INT(e.reason, WARD_REASON_CRASHED); /* not ward's stop */
  ward_worker_free(w);
}
#else
/* Whatever number the notification descriptor has (among them those the
 * host uses to hand a new process its descriptors), the process gets it
 * there, open, and no other above 2. (Descriptor numbers: POSIX only.) */
static void test_notify_at_any_number(void) {
  for (int fd = 3; fd <= 24; fd++) {
    char script[256];
    snprintf(script, sizeof script,
             "for f in $(seq 3 40); do [ $f != %d ] && [ -e /proc/$$/fd/$f ] && exit 9; done; "
             "echo > /proc/$$/fd/%d; exec sleep 1000",
             fd, fd);
    ward_spec *s = plain_spec("notify-n", script, NULL, NULL);
    T_OK(ward_spec_ready(s, WARD_READY_NOTIFY, fd));
    T_OK(ward_spec_restart(s, WARD_RESTART_NEVER));
    ward_worker *w;
    T_OK(ward_spawn(&w, host, s));
    ward_spec_free(s);
    T_EQ_INT(info_of(w).state, WARD_STATE_READY);
    ward_worker_free(w);
  }
}
#endif

static void test_stop_signal(void) {
  /* Ignores SIGTERM (on Windows, CTRL_BREAK): killed after the grace. */
  ward_spec *s = plain_spec("stubborn", "trap '' TERM; echo >&5; while :; do sleep 1; done",
                            "stubborn", NULL);
  T_OK(ward_spec_ready(s, WARD_READY_NOTIFY, 5));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  T_OK(ward_worker_stop(w, 200));
  ward_info i = info_of(w);
  T_EQ_INT(i.last_stop, WARD_STOP_KILLED);
  T_EQ_INT(i.last_signal, WARD__STOP_HARD);
  ward_worker_free(w);

  /* Told to stop with SIGINT, which it handles by exiting 0 (on Windows
   * every soft stop is a CTRL_BREAK, which it handles so). */
  s = plain_spec("on-int", "trap 'exit 0' INT; echo >&5; sleep 1000 & wait", "on-break", NULL);
  T_OK(ward_spec_ready(s, WARD_READY_NOTIFY, 5));
  T_OK(ward_spec_stop_signal(s, SIGINT));
  T_ERR(ward_spec_stop_signal(s, 0), WARD_EINVAL);
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  T_OK(ward_worker_stop(w, soft_stop() ? 20000 : 300));
  i = info_of(w);
  if (soft_stop()) {
    T_EQ_INT(i.last_stop, WARD_STOP_GRACEFUL);
    T_EQ_INT(i.last_exit_code, 0);
    T_EQ_INT(i.last_signal, 0);
  } else {
    T_EQ_INT(i.last_stop, WARD_STOP_KILLED);
    T_EQ_INT(i.last_signal, WARD__STOP_HARD);
  }
  ward_worker_free(w);
}

static void test_restart_plain(void) {
  /* A replacement asks with the stop signal (where it reaches no one, the
   * hard stop follows the grace) and is not a crash. */
  ward_spec *s = plain_spec("cycled", "exec sleep 1000", "sleep", NULL);
  T_OK(ward_spec_ready(s, WARD_READY_AFTER, 0));
  T_OK(ward_spec_stop_grace(s, stop_grace()));
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
  T_EQ_INT(e.signal, soft_stop() ? SIGTERM : WARD__STOP_HARD);
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
  ward_spec *s = plain_spec("crashloop", "echo attempt; exit 1", "attempt", NULL);
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
  char flag[200];
  t_tmp_path(flag, sizeof flag, "ward-plain-flag");
  FILE *f = fopen(flag, "w");
  T_TRUE(f != NULL);
  fclose(f);
  char script[600];
  snprintf(script, sizeof script,
           "if [ -e %s ]; then rm %s; echo failing; exit 1; fi; echo >&5; exec sleep 1000", flag,
           flag);
  s = plain_spec("second-time", script, "second-time", flag);
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
  T_OK(ward_spec_new(&s, "ghost", NO_PROGRAM));
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
  /* Each failed start says why, before its restart (or the end). */
  tev_wait(WARD_EV_GAVE_UP, ward_worker_id(w));
  T_EQ_INT(tev_count(WARD_EV_SPAWN_FAILED, ward_worker_id(w)), 3);
  tev sf = tev_wait(WARD_EV_SPAWN_FAILED, ward_worker_id(w));
  T_EQ_INT(sf.error, WARD_ESPAWN);
  T_EQ_INT(sf.exit_code, 127);
  T_TRUE(strstr(sf.detail, NO_PROGRAM) != NULL);
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

#ifndef _WIN32
/* A service whose working directory goes away while it runs: its next
 * start fails, and an event says that the directory is the cause. (On
 * Windows a process's working directory cannot be removed.) */
static void test_cwd_gone(void) {
  char dir[] = "/tmp/ward-plain-cwd-XXXXXX";
  T_TRUE(mkdtemp(dir) != NULL);
  ward_spec *s = plain_spec("homeless", "exec sleep 1000", "sleep", NULL);
  T_OK(ward_spec_cwd(s, dir));
  T_OK(ward_spec_ready(s, WARD_READY_AFTER, 0));
  T_OK(ward_spec_supervise_start(s, 1));
  T_OK(ward_spec_restart(s, WARD_RESTART_ALWAYS));
  T_OK(ward_spec_intensity(s, 1, 60000));
  T_OK(ward_spec_backoff(s, 10, 20, 200, 60000));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  T_TRUE(rmdir(dir) == 0);
  T_TRUE(kill(ward_worker_pid(w), SIGKILL) == 0);
  tev f = tev_wait(WARD_EV_SPAWN_FAILED, ward_worker_id(w));
  T_EQ_INT(f.error, WARD_ESPAWN);
  char want[96];
  snprintf(want, sizeof want, "working directory '%s': No such file or directory", dir);
  if (!strstr(f.detail, want))
    T_FAIL("spawn-failed: \"%s\" does not say \"%s\"", f.detail, want);
  tev_wait(WARD_EV_GAVE_UP, ward_worker_id(w));
  ward_worker_free(w);
}
#endif

static void test_spawn_start(void) {
  /* The handle comes back at once; the wait is the caller's. */
  ward_spec *s = plain_spec("slow", "exec sleep 1000", "sleep", NULL);
  T_OK(ward_spec_ready(s, WARD_READY_AFTER, 100));
  ward_worker *w;
  T_OK(ward_spawn_start(&w, host, s));
  T_OK(ward_worker_wait_ready(w, -1));
  T_EQ_INT(info_of(w).state, WARD_STATE_READY);
  T_OK(ward_worker_wait_ready(w, 0)); /* ready already */
  ward_worker_free(w);

  /* Ready, then gone at once (the policy gave up): it has been ready. */
  ward_spec *q = plain_spec("brief", "exit 3", "exit", "3");
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
  T_OK(ward_worker_stop(w, stop_grace()));
  T_ERR(ward_worker_wait_ready(w, -1), WARD_ECLOSED);
  ward_worker_free(w);
  ward_spec_free(s);

  /* A first start that fails: the reason ward_spawn would give, and the
   * handle stays (failed) until freed. */
  T_OK(ward_spec_new(&s, "missing", NO_PROGRAM));
  T_OK(ward_spawn_start(&w, host, s));
  ward_spec_free(s);
  T_ERR(ward_worker_wait_ready(w, -1), WARD_ESPAWN);
  T_TRUE(strstr(ward_last_error(), NO_PROGRAM_WHY) != NULL);
  T_EQ_INT(info_of(w).state, WARD_STATE_FAILED);
  ward_worker_free(w);

  s = tw_spec("early-exit", "exit_early");
  T_OK(ward_spawn_start(&w, host, s));
  ward_spec_free(s);
  T_ERR(ward_worker_wait_ready(w, -1), WARD_EHANDSHAKE);
  ward_worker_free(w);
}

#ifdef _WIN32
/* ---- the plain processes on Windows: what the scripts above do ---- */

/* Sleeps until it is killed. */
static _Noreturn void plain_forever(void) {
  for (;;)
    Sleep(INFINITE);
}

/* The notification handle the host named (WARD_NOTIFY_HANDLE), checked to
 * be a pipe; exits 9 when it is not there. */
static HANDLE plain_notify_handle(void) {
  const char *v = getenv("WARD_NOTIFY_HANDLE");
  HANDLE h = v ? (HANDLE)(intptr_t)strtoll(v, NULL, 10) : NULL;
  DWORD flags;
  if (!h || !GetHandleInformation(h, &flags) || GetFileType(h) != FILE_TYPE_PIPE)
    exit(9);
  return h;
}

static void plain_write(HANDLE h, const char *p) {
  DWORD n;
  if (!WriteFile(h, p, (DWORD)strlen(p), &n, NULL))
    exit(10);
}

/* Starts this binary sleeping, with our stdout (and so the log's pipe). */
static void plain_child_sleeping(void) {
  wchar_t self[2048], cmd[2600];
  if (!GetModuleFileNameW(NULL, self, 2048))
    exit(8);
  swprintf(cmd, 2600, L"\"%ls\" --plain sleep", self);
  STARTUPINFOW si = {.cb = sizeof si, .dwFlags = STARTF_USESTDHANDLES};
  si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
  si.hStdOutput = GetStdHandle(STD_OUTPUT_HANDLE);
  si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
  PROCESS_INFORMATION pi;
  if (!CreateProcessW(self, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi))
    exit(8);
  CloseHandle(pi.hThread);
  CloseHandle(pi.hProcess);
}

static BOOL WINAPI plain_ignore(DWORD event) {
  (void)event;
  return TRUE;
}

static BOOL WINAPI plain_exit_0(DWORD event) {
  (void)event;
  ExitProcess(0);
}

static int plain_main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IONBF, 0); /* a pipe: each line as it is written */
  const char *mode = argv[2], *arg = argc > 3 ? argv[3] : "";
  if (!strcmp(mode, "exit"))
    return atoi(arg);
  if (!strcmp(mode, "sleep"))
    plain_forever();
  if (!strcmp(mode, "started")) {
    printf("started\n");
    plain_forever();
  }
  if (!strcmp(mode, "ctrl-exit"))
    ExitProcess(0xC000013A); /* STATUS_CONTROL_C_EXIT */
  if (!strcmp(mode, "attempt")) {
    printf("attempt\n");
    return 1;
  }
  if (!strcmp(mode, "tail")) {
    plain_child_sleeping();
    printf("no newline");
    return 0;
  }
  if (!strcmp(mode, "notify")) {
    HANDLE h = plain_notify_handle();
    if (getenv("WARD_FD") || getenv("WARD_SOCKET"))
      return 9;
    printf("not-yet\n");
    plain_write(h, "\n");
    printf("notified\n");
    plain_forever();
  }
  if (!strcmp(mode, "mute")) {
    HANDLE h = plain_notify_handle();
    plain_write(h, "x");
    CloseHandle(h);
    plain_forever();
  }
  if (!strcmp(mode, "stubborn") || !strcmp(mode, "on-break")) {
    SetConsoleCtrlHandler(!strcmp(mode, "stubborn") ? plain_ignore : plain_exit_0, TRUE);
    plain_write(plain_notify_handle(), "\n");
    plain_forever();
  }
  if (!strcmp(mode, "second-time")) {
    if (GetFileAttributesA(arg) != INVALID_FILE_ATTRIBUTES) {
      DeleteFileA(arg);
      printf("failing\n");
      return 1;
    }
    plain_write(plain_notify_handle(), "\n");
    plain_forever();
  }
  fprintf(stderr, "test_plain: unknown mode %s\n", mode);
  return 2;
}
#endif

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
#ifdef _WIN32
  if (argc > 2 && strcmp(argv[1], "--plain") == 0)
    return plain_main(argc, argv);
#endif
  host = tev_host();
  T_RUN(test_ready_after);
  T_RUN(test_ready_at_once_events);
  T_RUN(test_ready_at_once_then_policy);
  T_RUN(test_last_line_at_exit);
  T_RUN(test_notify);
#ifdef _WIN32
  T_RUN(test_ended_by_console_event);
#else
  T_RUN(test_notify_at_any_number);
#endif
  T_RUN(test_stop_signal);
  T_RUN(test_restart_plain);
  T_RUN(test_supervise_start);
#ifndef _WIN32
  T_RUN(test_cwd_gone);
#endif
  T_RUN(test_spawn_start);
  ward_host_free(host);
  return t_done();
}
