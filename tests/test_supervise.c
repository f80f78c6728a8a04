/*
 * test_supervise.c — supervision on real processes: how exits are reported
 * and restarted, a crash loop, calls that wait for a restart, deadline
 * kills, heartbeats, planned replacements (cycle, max requests, memory,
 * idle), sessions, stop outcomes, no orphans (even when the host is killed),
 * shutdown order, 500 cycles without leaks, and ward_worker_info.
 *
 * What is decided about a worker, and when (restart or not by mode and
 * exit, backoff growth and cap, its reset, the intensity window, idle
 * parking, max requests, cancel grace, stop escalation), is the state
 * machine's: tests/test_lifecycle.c and tests/test_policy.c walk it on a
 * fake clock to the millisecond. The tests here keep what needs a real
 * process: that exits, signals and pids are seen and reported, that the
 * host carries the machine's actions out (signals, timers, reaping), and
 * that callers are woken. Their waits are as short as the behaviour
 * allows, and they bound nothing from above but by deadlines far longer
 * than the work.
 *
 * Every wait is on an event, a host handler's notification, a pidfd or a
 * condition polled with a deadline; the sleeps a worker does ("work") are
 * simulated work, not synchronisation. Negative checks ("no restart
 * followed") are made after ward_worker_free, which returns only once
 * every event about the worker has been delivered (it waits for the I/O
 * thread to go round twice, ward__host_sync).
 *
 * Arguments pick tests by name ("crash", "-idle" to leave one out).
 *
 * On Windows (the win backend, under Wine) every case runs in its Windows
 * form: the hard stop is WARD__STOP_HARD (SIGKILL on POSIX, the job's
 * termination there), an abort is a fail-fast the backend reports as
 * SIGABRT, a stopped process is a suspended one, a pidfd is a process
 * handle and the descriptors counted are handles (tw_count_open).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#ifndef _WIN32
#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#endif

#include "tevents.h"
#include "tworker.h"


static ward_host *host;

/* Slack for comparing a measured gap with a delay: the library's clock is
 * in whole milliseconds, and an event is timed when it is delivered. */
#define TOL_MS 3

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

/* Spawns on the test host (tev_spawn). */
static ward_worker *spawn_spec(ward_spec *s) { return tev_spawn(host, s); }

static void expect_reply(ward_worker *w, const char *method, const char *payload,
                         const char *want) {
  ward_msg *m = NULL;
  T_OK(ward_request(&m, w, method, payload, strlen(payload), 20000));
  char got[256];
  snprintf(got, sizeof got, "%.*s", (int)ward_msg_len(m), (const char *)ward_msg_data(m));
  T_EQ_STR(got, want);
  ward_msg_free(m);
}

static void sleep_ms(int ms) { t_nap_ms(ms); }

/* Polls the worker's figures `wi` (every 2 ms, up to `ms`) until `cond`
 * holds. */
#define WAIT_INFO(w, ms, cond)                                                        \
  do {                                                                                \
    int64_t wi__deadline = t_now_ms() + (ms);                                         \
    for (;;) {                                                                        \
      ward_info wi = tw_info(w);                                                      \
      if (cond)                                                                       \
        break;                                                                        \
      if (t_now_ms() > wi__deadline)                                                  \
        T_FAIL("not within %d ms: %s (state %s, pid %d, gen %u, in flight %u)",       \
               (int)(ms), #cond, ward_state_name(wi.state), wi.pid, wi.generation,    \
               wi.calls_in_flight);                                                   \
      sleep_ms(2);                                                                    \
    }                                                                                 \
  } while (0)

/* A reference to a process that a reused pid cannot fool: a pidfd (a
 * process handle on Windows). */
#ifdef _WIN32
typedef HANDLE proc_ref;
#define PROC_REF_NONE NULL

static proc_ref proc_open(int pid) { return OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid); }

static void proc_close(proc_ref p) { CloseHandle(p); }

/* Whether the process is gone within `ms`. */
static int gone_within(proc_ref p, int ms) {
  return WaitForSingleObject(p, ms < 0 ? 0 : (DWORD)ms) == WAIT_OBJECT_0;
}
#else
typedef int proc_ref;
#define PROC_REF_NONE (-1)

static proc_ref proc_open(int pid) { return (int)syscall(SYS_pidfd_open, (pid_t)pid, 0); }

static void proc_close(proc_ref p) { close(p); }

/* Whether the process (by pidfd) is gone within `ms`. */
static int gone_within(proc_ref pidfd, int ms) {
  struct pollfd p = {.fd = pidfd, .events = POLLIN};
  int r;
  do
    r = poll(&p, 1, ms < 0 ? 0 : ms);
  while (r < 0 && errno == EINTR);
  return r == 1;
}
#endif

/* Stops process `pid` where it is, as SIGSTOP does (on Windows it is
 * suspended: NtSuspendProcess): alive, and answering nothing. */
static void freeze(int pid) {
#ifdef _WIN32
  typedef LONG(NTAPI * suspend_fn)(HANDLE);
  suspend_fn suspend =
      (suspend_fn)(void (*)(void))GetProcAddress(GetModuleHandleW(L"ntdll.dll"), "NtSuspendProcess");
  HANDLE h = OpenProcess(PROCESS_SUSPEND_RESUME, FALSE, (DWORD)pid);
  T_TRUE(suspend && h);
  T_TRUE(suspend(h) == 0);
  CloseHandle(h);
#else
  T_TRUE(kill(pid, SIGSTOP) == 0);
#endif
}


/* The same by worker name (for a second host, whose ids overlap ours). */
static int tev_find_name(int from, int type, const char *name) {
  int found = -1;
  pthread_mutex_lock(&tev_mu);
  for (int i = from; i < tev_n && found < 0; i++)
    if (tev_log[i].type == type && strcmp(tev_log[i].name, name) == 0)
      found = i;
  pthread_mutex_unlock(&tev_mu);
  return found;
}

/* A call made from another thread. */
typedef struct tcall {
  ward_worker *w;
  const char *method;
  const char *payload;
  int timeout_ms;
  int rv;
  char reply[128];
  int64_t start_ms, end_ms;
  pthread_t th;
} tcall;

static void *tcall_main(void *arg) {
  tcall *c = arg;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = c->timeout_ms;
  ward_msg *m = NULL;
  c->rv = ward_request_ex(&m, c->w, c->method, c->payload, strlen(c->payload), &o);
  c->end_ms = t_now_ms();
  if (m)
    snprintf(c->reply, sizeof c->reply, "%.*s", (int)ward_msg_len(m),
             (const char *)ward_msg_data(m));
  ward_msg_free(m);
  return NULL;
}

static void tcall_start(tcall *c, ward_worker *w, const char *method, const char *payload,
                        int timeout_ms) {
  memset(c, 0, sizeof *c);
  c->w = w;
  c->method = method;
  c->payload = payload;
  c->timeout_ms = timeout_ms;
  c->rv = 1;
  c->start_ms = t_now_ms();
  T_TRUE(pthread_create(&c->th, NULL, tcall_main, c) == 0);
}

static void tcall_join(tcall *c) { T_TRUE(pthread_join(c->th, NULL) == 0); }

/* ward_worker_cycle from another thread. */
typedef struct tcycle {
  ward_worker *w;
  int rv;
  int64_t end_ms;
  pthread_t th;
} tcycle;

static void *tcycle_main(void *arg) {
  tcycle *c = arg;
  c->rv = ward_worker_cycle(c->w);
  c->end_ms = t_now_ms();
  return NULL;
}

static int64_t cpu_self_ms(void) {
#ifdef _WIN32
  FILETIME c, x, k, u;
  T_TRUE(GetProcessTimes(GetCurrentProcess(), &c, &x, &k, &u));
  uint64_t t = ((uint64_t)k.dwHighDateTime << 32 | k.dwLowDateTime) +
               ((uint64_t)u.dwHighDateTime << 32 | u.dwLowDateTime);
  return (int64_t)(t / 10000);
#else
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
#endif
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* 1. Restart modes                                                    */

static void test_restart_never(void) {
  ward_spec *s = tw_spec("never", "serve");
  T_OK(ward_spec_restart(s, WARD_RESTART_NEVER));
  T_OK(ward_spec_backoff(s, 10, 10, 100, 60000));
  ward_worker *w = spawn_spec(s);
  uint64_t id = ward_worker_id(w);
  int pid = ward_worker_pid(w);
  int mark = tev_mark();
  T_ERR(ward_request(NULL, w, "abort", NULL, 0, 20000), WARD_ECRASHED);
  tev e = tev_wait_from(mark, WARD_EV_EXITED, id);
  T_EQ_INT(e.pid, pid);
  T_EQ_INT(e.signal, SIGABRT);
  T_EQ_INT(e.exit_code, -1);
  T_EQ_INT(e.reason, WARD_REASON_CRASHED);
  ward_info i = tw_info(w);
  T_EQ_INT(i.state, WARD_STATE_EXITED);
  T_EQ_STR(ward_state_name(i.state), "exited");
  T_EQ_INT(i.pid, 0);
  T_EQ_INT(i.generation, 1);
  T_EQ_INT(i.restarts, 0);
  T_EQ_INT(i.last_signal, SIGABRT);
  T_EQ_INT(i.last_exit_code, -1);
  T_EQ_INT(i.last_reason, WARD_REASON_CRASHED);
  int64_t t0 = t_now_ms();
  T_ERR(ward_request(NULL, w, "echo", "x", 1, 10000), WARD_ECRASHED);
  T_TRUE(t_now_ms() - t0 < 1000);
  ward_worker_free(w);
  T_EQ_INT(tev_count_from(mark, WARD_EV_RESTARTING, id), 0);
  T_EQ_INT(tev_count_from(mark, WARD_EV_SPAWNED, id), 0);
  T_EQ_INT(tev_count_from(mark, WARD_EV_EXITED, id), 1);
}

/* Exits with `code` through the "exit" method and checks the restart. */
static void exit_and_restart(ward_worker *w, const char *code, int want_code) {
  uint64_t id = ward_worker_id(w);
  int pid = ward_worker_pid(w);
  int mark = tev_mark();
  /* The call in flight when the process ends gets ECRASHED. */
  T_ERR(ward_request(NULL, w, "exit", code, strlen(code), 20000), WARD_ECRASHED);
  int ie = tev_wait_idx(mark, WARD_EV_EXITED, id);
  tev e = tev_get(ie);
  T_EQ_INT(e.pid, pid);
  T_EQ_INT(e.exit_code, want_code);
  T_EQ_INT(e.signal, 0);
  T_EQ_INT(e.reason, WARD_REASON_EXITED);
  T_EQ_INT(e.generation, 1);
  int irs = tev_wait_idx(ie, WARD_EV_RESTARTING, id);
  tev r = tev_get(irs);
  T_EQ_INT(r.reason, WARD_REASON_EXITED);
  T_EQ_INT(r.attempt, 1);
  T_EQ_INT(r.delay_ms, 50);
  tev n = tev_wait_from(irs, WARD_EV_RESTARTED, id);
  T_TRUE(n.pid > 0 && n.pid != pid);
  T_EQ_INT(n.generation, 2);
  T_EQ_INT(ward_worker_generation(w), 2);
  T_EQ_INT(ward_worker_pid(w), n.pid);
  T_EQ_INT(tw_call_int(w, "pid"), n.pid);
  ward_info i = tw_info(w);
  T_EQ_INT(i.state, WARD_STATE_READY);
  T_EQ_INT(i.restarts, 1);
  T_EQ_INT(i.last_exit_code, want_code);
  T_EQ_INT(i.last_reason, WARD_REASON_EXITED);
}

static void test_restart_on_failure(void) {
  /* ON_FAILURE is the default: exit 0 is not a failure. */
  ward_spec *s = tw_spec("onfail0", "serve");
  T_OK(ward_spec_backoff(s, 50, 1000, 200, 60000));
  ward_worker *w = spawn_spec(s);
  uint64_t id = ward_worker_id(w);
  int mark = tev_mark();
  T_ERR(ward_request(NULL, w, "exit", "0", 1, 20000), WARD_ECRASHED);
  tev e = tev_wait_from(mark, WARD_EV_EXITED, id);
  T_EQ_INT(e.exit_code, 0);
  T_EQ_INT(e.signal, 0);
  T_EQ_INT(e.reason, WARD_REASON_EXITED);
  T_EQ_INT(tw_info(w).state, WARD_STATE_EXITED);
  T_ERR(ward_request(NULL, w, "echo", "x", 1, 10000), WARD_ECRASHED);
  ward_worker_free(w);
  T_EQ_INT(tev_count_from(mark, WARD_EV_RESTARTING, id), 0);
  T_EQ_INT(tev_count_from(mark, WARD_EV_SPAWNED, id), 0);

  /* Exit 3 is: restarted after the backoff, a new pid, generation 2. */
  s = tw_spec("onfail3", "serve");
  T_OK(ward_spec_restart(s, WARD_RESTART_ON_FAILURE));
  T_OK(ward_spec_backoff(s, 50, 1000, 200, 60000));
  w = spawn_spec(s);
  exit_and_restart(w, "3", 3);
  expect_reply(w, "echo", "back", "back");
  ward_worker_free(w);
}

/* ------------------------------------------------------------------ */
/* 2. Crash loop: backoff, intensity, give up, explicit restart        */

static void test_crash_loop(void) {
  char path[128];
  t_tmp_path(path, sizeof path, "ward-test-crashloop");
  unlink(path);
  ward_spec *s = tw_spec("crashloop", "crash_if_file");
  T_OK(ward_spec_arg(s, path));
  T_OK(ward_spec_backoff(s, 50, 200, 200, 60000));
  T_OK(ward_spec_intensity(s, 3, 60000));
  ward_worker *w = spawn_spec(s);
  uint64_t id = ward_worker_id(w);
  expect_reply(w, "echo", "gen1", "gen1");
  FILE *f = fopen(path, "w");
  T_TRUE(f != NULL);
  fclose(f);

  int mark = tev_mark();
  int64_t cpu0 = cpu_self_ms(), wall0 = t_now_ms();
  T_ERR(ward_request(NULL, w, "abort", NULL, 0, 20000), WARD_ECRASHED);
  int idx = tev_wait_idx(mark, WARD_EV_EXITED, id);
  tev e = tev_get(idx);
  T_EQ_INT(e.reason, WARD_REASON_CRASHED);
  T_EQ_INT(e.signal, SIGABRT);
  static const int delays[3] = {50, 100, 200};
  for (int k = 0; k < 3; k++) {
    int ir = tev_wait_idx(idx, WARD_EV_RESTARTING, id);
    tev r = tev_get(ir);
    T_EQ_INT(r.attempt, k + 1);
    T_EQ_INT(r.delay_ms, delays[k]);
    T_EQ_INT(r.reason, k == 0 ? WARD_REASON_CRASHED : WARD_REASON_EXITED);
    int is = tev_wait_idx(ir, WARD_EV_SPAWNED, id);
    tev sp = tev_get(is);
    T_EQ_INT(sp.generation, k + 2);
    /* The new attempt waited for the announced delay. */
    int64_t gap_us = sp.at_us - r.at_us;
    fprintf(stderr, "   attempt %d: delay %d ms, next start after %.1f ms\n", r.attempt,
            r.delay_ms, gap_us / 1000.0);
    if (gap_us < (int64_t)(delays[k] - TOL_MS) * 1000)
      T_FAIL("attempt %d started %.1f ms after RESTARTING, announced delay %d ms", k + 1,
             gap_us / 1000.0, delays[k]);
    idx = tev_wait_idx(is, WARD_EV_EXITED, id);
    e = tev_get(idx);
    T_EQ_INT(e.exit_code, 1);
    T_EQ_INT(e.reason, WARD_REASON_EXITED);
    T_EQ_INT(e.generation, k + 2);
  }
  tev g = tev_wait_from(idx, WARD_EV_GAVE_UP, id);
  T_EQ_INT(g.reason, WARD_REASON_EXITED);
  int64_t wall = t_now_ms() - wall0, cpu = cpu_self_ms() - cpu0;
  fprintf(stderr, "   crash loop: %lld ms wall, %lld ms host CPU\n", (long long)wall,
          (long long)cpu);
  /* The waits are waits: the host did not burn the backoff on a CPU. */
  T_TRUE(wall >= 350 - TOL_MS);
  T_TRUE(cpu * 2 < wall);
  T_EQ_INT(tev_count_from(mark, WARD_EV_READY, id), 0);
  T_EQ_INT(tev_count_from(mark, WARD_EV_RESTARTING, id), 3);

  ward_info i = tw_info(w);
  T_EQ_INT(i.state, WARD_STATE_FAILED);
  T_EQ_STR(ward_state_name(i.state), "failed");
  T_EQ_INT(i.pid, 0);
  T_EQ_INT(i.generation, 4);
  T_EQ_INT(i.restarts, 3);
  T_EQ_INT(i.last_exit_code, 1);
  T_EQ_INT(i.last_signal, 0);
  T_EQ_INT(i.last_reason, WARD_REASON_EXITED);
  /* A failed worker refuses at once, whatever the call's deadline. */
  int64_t t0 = t_now_ms();
  T_ERR(ward_request(NULL, w, "echo", "x", 1, 10000), WARD_EGAVEUP);
  T_ERR(ward_ping(w, 10000), WARD_EGAVEUP);
  T_TRUE(t_now_ms() - t0 < 1000);
  T_ERR(ward_worker_cycle(w), WARD_ECLOSED);

  /* An explicit restart brings it back and forgets the history. */
  unlink(path);
  T_OK(ward_worker_restart(w));
  i = tw_info(w);
  T_EQ_INT(i.state, WARD_STATE_READY);
  T_EQ_INT(i.generation, 5);
  /* restarts counts the automatic restarts: the explicit one is not one. */
  T_EQ_INT(i.restarts, 3);
  expect_reply(w, "echo", "gen5", "gen5");
  /* With the window forgotten, a crash is restarted again (not given up,
   * though 3 restarts happened within the period), with the first delay. */
  mark = tev_mark();
  T_ERR(ward_request(NULL, w, "abort", NULL, 0, 20000), WARD_ECRASHED);
  tev r = tev_wait_from(mark, WARD_EV_RESTARTING, id);
  T_EQ_INT(r.attempt, 1);
  T_EQ_INT(r.delay_ms, 50);
  tev n = tev_wait_from(mark, WARD_EV_RESTARTED, id);
  T_EQ_INT(n.generation, 6);
  expect_reply(w, "echo", "gen6", "gen6");
  T_EQ_INT(tw_info(w).restarts, 4);
  T_EQ_INT(tev_count_from(mark, WARD_EV_GAVE_UP, id), 0);
  ward_worker_free(w);
}

/* ------------------------------------------------------------------ */
/* 3. Calls during a restart                                           */

static void test_calls_wait_for_restart(void) {
  /* A call made during the backoff waits for the new process (it is made
   * as RESTARTING is seen: 200 ms leave it well inside the backoff). */
  ward_spec *s = tw_spec("waiter", "serve");
  T_OK(ward_spec_backoff(s, 200, 200, 200, 60000));
  ward_worker *w = spawn_spec(s);
  uint64_t id = ward_worker_id(w);
  int pid = ward_worker_pid(w);
  int mark = tev_mark();
  T_ERR(ward_request(NULL, w, "abort", NULL, 0, 20000), WARD_ECRASHED);
  tev_wait_from(mark, WARD_EV_RESTARTING, id);
  int got = tw_call_int(w, "pid");
  T_TRUE(got != pid);
  T_EQ_INT(ward_worker_generation(w), 2);
  T_EQ_INT(ward_worker_pid(w), got);
  ward_worker_free(w);

  /* A deadline shorter than the backoff passes while waiting. The backoff
   * is a minute, so that the call surely falls within it; a cycle then
   * ends it (it starts the new process now). */
  s = tw_spec("short-deadline", "serve");
  T_OK(ward_spec_backoff(s, 60000, 60000, 200, 600000));
  w = spawn_spec(s);
  id = ward_worker_id(w);
  mark = tev_mark();
  T_ERR(ward_request(NULL, w, "abort", NULL, 0, 20000), WARD_ECRASHED);
  tev_wait_from(mark, WARD_EV_RESTARTING, id);
  int64_t t0 = t_now_ms();
  T_ERR(ward_request(NULL, w, "echo", "x", 1, 100), WARD_ETIMEDOUT);
  T_TRUE(t_now_ms() - t0 >= 100 - TOL_MS);
  T_EQ_INT(tev_count_from(mark, WARD_EV_RESTARTED, id), 0);
  T_OK(ward_worker_cycle(w));
  tev_wait_from(mark, WARD_EV_RESTARTED, id);
  expect_reply(w, "echo", "gen2", "gen2");
  T_EQ_INT(ward_worker_generation(w), 2);
  ward_worker_free(w);

  /* Without waiting: a call during the backoff fails at once, ECLOSED
   * (had it waited, its 10 s would have ended ETIMEDOUT). */
  s = tw_spec("nowait", "serve");
  T_OK(ward_spec_backoff(s, 60000, 60000, 200, 600000));
  T_OK(ward_spec_wait_restart(s, 0));
  w = spawn_spec(s);
  id = ward_worker_id(w);
  mark = tev_mark();
  T_ERR(ward_request(NULL, w, "abort", NULL, 0, 20000), WARD_ECRASHED);
  tev_wait_from(mark, WARD_EV_RESTARTING, id);
  T_ERR(ward_request(NULL, w, "echo", "x", 1, 10000), WARD_ECLOSED);
  T_EQ_INT(tev_count_from(mark, WARD_EV_RESTARTED, id), 0);
  T_OK(ward_worker_cycle(w));
  tev_wait_from(mark, WARD_EV_RESTARTED, id);
  expect_reply(w, "echo", "back", "back");
  ward_worker_free(w);
}

/* The same, with the call made right after the crashed call returned:
 * the host may not have seen the process end yet (its connection is
 * closed, the pidfd not yet handled); the call must still wait for the
 * new process (or, without waiting, fail with ECLOSED). */
static void test_call_right_after_crash(void) {
  ward_spec *s = tw_spec("waiter-now", "serve");
  T_OK(ward_spec_backoff(s, 100, 100, 200, 60000));
  ward_worker *w = spawn_spec(s);
  int pid = ward_worker_pid(w);
  T_ERR(ward_request(NULL, w, "abort", NULL, 0, 20000), WARD_ECRASHED);
  int64_t t0 = t_now_ms();
  ward_msg *m = NULL;
  int rv = ward_request(&m, w, "pid", NULL, 0, 20000);
  if (rv != WARD_OK)
    T_FAIL("a call right after a crash = %s after %lld ms, want OK from generation 2 [%s]",
           ward_err_name(rv), (long long)(t_now_ms() - t0), ward_last_error());
  int got = atoi((const char *)ward_msg_data(m));
  ward_msg_free(m);
  T_TRUE(got != pid);
  T_EQ_INT(ward_worker_generation(w), 2);
  ward_worker_free(w);

  /* A minute of backoff: the call surely falls within it. */
  s = tw_spec("nowait-now", "serve");
  T_OK(ward_spec_backoff(s, 60000, 60000, 200, 600000));
  T_OK(ward_spec_wait_restart(s, 0));
  w = spawn_spec(s);
  T_ERR(ward_request(NULL, w, "abort", NULL, 0, 20000), WARD_ECRASHED);
  T_ERR(ward_request(NULL, w, "echo", "x", 1, 10000), WARD_ECLOSED);
  ward_worker_free(w);
}

/* ------------------------------------------------------------------ */
/* 4. Deadline expiry                                                  */

static void test_deadline_kills_and_replaces(void) {
  ward_spec *s = tw_spec("deadline", "serve");
  T_OK(ward_spec_backoff(s, 50, 1000, 200, 60000));
  ward_worker *w = spawn_spec(s);
  uint64_t id = ward_worker_id(w);
  int pid = ward_worker_pid(w);
  int mark = tev_mark();
  tev_hang_reset();
  tcall hang, echo;
  /* 500 ms leave room for the echo to be in flight before the deadline. */
  tcall_start(&hang, w, "hang_notify", "", 500);
  tev_wait_hanging(1);
  tcall_start(&echo, w, "echo", "queued", 60000);
  /* The echo holds the connection (it is queued in the worker behind the
   * hang) before the hang's deadline passes. */
  int64_t deadline = t_now_ms() + 20000;
  for (;;) {
    ward_info i = tw_info(w);
    if (i.calls_in_flight == 2)
      break;
    if (i.calls_in_flight < 2 && tev_find(mark, WARD_EV_EXITED, id) >= 0)
      T_FAIL("the echo was not in flight before the hang's deadline (box too slow?)");
    if (t_now_ms() > deadline)
      T_FAIL("the echo never got in flight");
    sleep_ms(1);
  }
  tcall_join(&hang);
  T_ERR(hang.rv, WARD_ETIMEDOUT);
  T_TRUE(hang.end_ms - hang.start_ms >= 500 - TOL_MS);
  tcall_join(&echo);
  T_ERR(echo.rv, WARD_ECRASHED);
  int ie = tev_wait_idx(mark, WARD_EV_EXITED, id);
  tev e = tev_get(ie);
  T_EQ_INT(e.pid, pid);
  T_EQ_INT(e.reason, WARD_REASON_REQUEST_TIMEOUT);
  T_EQ_INT(e.signal, WARD__STOP_HARD);
  tev r = tev_wait_from(ie, WARD_EV_RESTARTING, id);
  T_EQ_INT(r.reason, WARD_REASON_REQUEST_TIMEOUT);
  tev n = tev_wait_from(ie, WARD_EV_RESTARTED, id);
  T_EQ_INT(n.generation, 2);
  T_TRUE(n.pid != pid);
  expect_reply(w, "echo", "again", "again");
  T_EQ_INT(ward_worker_generation(w), 2);
  ward_worker_free(w);
  /* With kill_on_timeout off the process is left alone: test_lifecycle's
   * test_request_deadline decides it, and test_info below watches such a
   * process go on spinning after its call timed out. */
}

/* ------------------------------------------------------------------ */
/* 5. Heartbeat                                                        */

static ward_spec *hb_spec(const char *name) {
  ward_spec *s = tw_spec(name, "serve");
  T_OK(ward_spec_heartbeat(s, 100, 2));
  T_OK(ward_spec_backoff(s, 50, 1000, 200, 60000));
  return s;
}

/* After UNHEALTHY: the process is killed (reason UNHEALTHY) and replaced. */
static void expect_unhealthy_replacement(ward_worker *w, int pid, int mark, int64_t since_us) {
  uint64_t id = ward_worker_id(w);
  int iu = tev_wait_idx(mark, WARD_EV_UNHEALTHY, id);
  tev u = tev_get(iu);
  T_EQ_INT(u.pid, pid);
  T_EQ_INT(u.attempt, 2);
  int64_t after_ms = (u.at_us - since_us) / 1000;
  fprintf(stderr, "   unhealthy %lld ms after the worker stopped answering\n",
          (long long)after_ms);
  T_TRUE(after_ms < 2000);
  int ie = tev_wait_idx(iu, WARD_EV_EXITED, id);
  tev e = tev_get(ie);
  T_EQ_INT(e.pid, pid);
  T_EQ_INT(e.reason, WARD_REASON_UNHEALTHY);
  T_EQ_INT(e.signal, WARD__STOP_HARD);
  tev r = tev_wait_from(ie, WARD_EV_RESTARTING, id);
  T_EQ_INT(r.reason, WARD_REASON_UNHEALTHY);
  tev n = tev_wait_from(ie, WARD_EV_RESTARTED, id);
  T_EQ_INT(n.generation, 2);
  T_TRUE(n.pid != pid);
}

static void test_heartbeat_sigstop(void) {
  ward_worker *w = spawn_spec(hb_spec("hb-stop"));
  int pid = ward_worker_pid(w);
  int mark = tev_mark();
  int64_t t0 = tev_now_us();
  freeze(pid);
  expect_unhealthy_replacement(w, pid, mark, t0);
  expect_reply(w, "echo", "healthy", "healthy");
  ward_worker_free(w);
}

static void test_heartbeat_spin(void) {
  ward_worker *w = spawn_spec(hb_spec("hb-spin"));
  int pid = ward_worker_pid(w);
  int mark = tev_mark();
  tcall spin;
  int64_t t0 = tev_now_us();
  tcall_start(&spin, w, "spin", "", 60000);
  expect_unhealthy_replacement(w, pid, mark, t0);
  tcall_join(&spin);
  T_ERR(spin.rv, WARD_ECRASHED);
  T_TRUE(spin.end_ms - spin.start_ms < 20000);
  expect_reply(w, "echo", "healthy", "healthy");
  ward_worker_free(w);
}

static void test_heartbeat_busy_is_healthy(void) {
  ward_worker *w = spawn_spec(hb_spec("hb-busy"));
  uint64_t id = ward_worker_id(w);
  int pid = ward_worker_pid(w);
  int mark = tev_mark();
  /* Busy for 5 heartbeat intervals: two missed would have killed it. */
  expect_reply(w, "busy_progress", "500", "busy done");
  T_EQ_INT(ward_worker_pid(w), pid);
  T_EQ_INT(ward_worker_generation(w), 1);
  expect_reply(w, "echo", "still", "still");
  ward_worker_free(w);
  T_EQ_INT(tev_count_from(mark, WARD_EV_UNHEALTHY, id), 0);
  T_EQ_INT(tev_count_from(mark, WARD_EV_RESTARTING, id), 0);
}

/* ------------------------------------------------------------------ */
/* 6. Planned replacements                                             */

/* Checks the exit and replacement of `pid` by a planned replacement. */
static tev expect_replaced(ward_worker *w, int pid, int mark, int reason, int sig) {
  uint64_t id = ward_worker_id(w);
  int ie = tev_wait_idx(mark, WARD_EV_EXITED, id);
  tev e = tev_get(ie);
  T_EQ_INT(e.pid, pid);
  T_EQ_INT(e.reason, reason);
  T_EQ_INT(e.signal, sig);
  T_EQ_INT(e.exit_code, sig ? -1 : 0);
  int ir = tev_wait_idx(ie, WARD_EV_RESTARTING, id);
  tev r = tev_get(ir);
  T_EQ_INT(r.reason, reason);
  T_EQ_INT(r.delay_ms, 0);
  T_EQ_INT(r.attempt, 0);
  tev n = tev_wait_from(ir, WARD_EV_RESTARTED, id);
  T_TRUE(n.pid > 0 && n.pid != pid);
  T_EQ_INT(n.generation, e.generation + 1);
  return n;
}

static void test_cycle_waits_for_call(void) {
  ward_worker *w = spawn_spec(tw_spec("cycle-busy", "serve"));
  int pid = ward_worker_pid(w);
  int mark = tev_mark();
  tev_hang_reset();
  tcall work;
  tcall_start(&work, w, "work_notify", "300", 20000);
  tev_wait_hanging(1);
  tcycle cy = {.w = w, .rv = 1};
  T_TRUE(pthread_create(&cy.th, NULL, tcycle_main, &cy) == 0);
  /* While it drains, a new call waits and reaches the new process. */
  WAIT_INFO(w, 20000, wi.state == WARD_STATE_RESTARTING || wi.generation >= 2);
  int got = tw_call_int(w, "pid");
  T_TRUE(pthread_join(cy.th, NULL) == 0);
  T_OK(cy.rv);
  tcall_join(&work);
  T_OK(work.rv);
  T_EQ_STR(work.reply, "worked");
  /* The cycle returned only after the 300 ms call had been served. */
  T_TRUE(cy.end_ms - work.start_ms >= 300 - TOL_MS);
  T_EQ_INT(ward_worker_generation(w), 2);
  tev n = expect_replaced(w, pid, mark, WARD_REASON_CYCLE, 0);
  T_EQ_INT(got, n.pid);
  ward_worker_free(w);
}

static void test_max_requests(void) {
  ward_spec *s = tw_spec("maxreq", "serve");
  T_OK(ward_spec_max_requests(s, 5));
  ward_worker *w = spawn_spec(s);
  int pid = ward_worker_pid(w);
  int mark = tev_mark();
  for (int k = 0; k < 5; k++)
    T_EQ_INT(tw_call_int(w, "pid"), pid);
  int pid2 = tw_call_int(w, "pid");
  T_TRUE(pid2 != pid);
  tev n = expect_replaced(w, pid, mark, WARD_REASON_MAX_REQUESTS, 0);
  T_EQ_INT(n.pid, pid2);
  T_EQ_INT(ward_worker_generation(w), 2);
  /* That the count is per process is the machine's (test_lifecycle's
   * test_max_requests). */
  ward_worker_free(w);
}

/* The worker of the memory tests ("--worker memory"): tworker.h's "grow"
 * leaves its block unreachable, so clang at -O2 drops the allocation
 * altogether (nothing grows) and LeakSanitizer turns a clean exit into
 * exit code 1. This one keeps its blocks reachable and writes through a
 * volatile pointer. */
static char *hoard[64];
static int nhoard;

static int mem_grow(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  size_t bytes = (size_t)tw_payload_int(d, n) << 20;
  char *p = malloc(bytes);
  if (!p || nhoard == 64) {
    free(p);
    return ward_ctx_fail(ctx, 1, "no memory");
  }
  hoard[nhoard++] = p;
  volatile char *v = p;
  for (size_t i = 0; i < bytes; i += 4096)
    v[i] = 1;
  return tw_reply_str(ctx, "grown");
}

static int memory_worker(void) {
  ward_client *c;
  if (ward_client_connect(&c))
    return 2;
  ward_client_handle(c, "grow", mem_grow, NULL);
  ward_client_handle(c, "hang", tw_hang, NULL);
  ward_client_handle(c, "echo", tw_echo, NULL);
  int rv = ward_client_run(c);
  ward_client_free(c);
  for (int k = 0; k < nhoard; k++)
    free(hoard[k]);
  return rv == WARD_OK ? 0 : 1;
}

/* The resident set of a fresh worker, to set limits above it (sanitizer
 * builds start much bigger). */
static uint64_t worker_baseline_rss(void) {
  ward_worker *w = spawn_spec(tw_spec("rss-probe", "memory"));
  expect_reply(w, "echo", "x", "x");
  uint64_t rss = tw_info(w).rss_bytes;
  T_TRUE(rss > 0);
  ward_worker_free(w);
  return rss;
}

static void test_memory_soft_limit(void) {
  uint64_t limit = worker_baseline_rss() + (64u << 20);
  ward_spec *s = tw_spec("mem-soft", "memory");
  T_OK(ward_spec_memory_limit(s, limit, 0, 50));
  ward_worker *w = spawn_spec(s);
  int pid = ward_worker_pid(w);
  int mark = tev_mark();
  /* The call that grows it is served: the replacement is graceful. */
  expect_reply(w, "grow", "100", "grown");
  expect_replaced(w, pid, mark, WARD_REASON_MEMORY_LIMIT, 0);
  expect_reply(w, "echo", "smaller", "smaller");
  T_TRUE(tw_info(w).rss_bytes < limit);
  ward_worker_free(w);
}

static void test_memory_hard_limit(void) {
  uint64_t limit = worker_baseline_rss() + (64u << 20);
  ward_spec *s = tw_spec("mem-hard", "memory");
  T_OK(ward_spec_memory_limit(s, 0, limit, 200));
  ward_worker *w = spawn_spec(s);
  int pid = ward_worker_pid(w);
  int mark = tev_mark();
  /* The kill comes at the first sample over the limit: during "grow" or
   * during the "hang" after it. The hang is pinned to generation 1, so it
   * never reaches the replacement. */
  int rv = ward_request(NULL, w, "grow", "100", 3, 60000);
  if (rv == WARD_OK) {
    ward_call_opts o = WARD_CALL_OPTS_INIT;
    o.timeout_ms = 60000;
    o.generation = 1;
    int64_t t0 = t_now_ms();
    rv = ward_request_ex(NULL, w, "hang", NULL, 0, &o);
    fprintf(stderr, "   killed in \"hang\" after %lld ms: %s\n", (long long)(t_now_ms() - t0),
            ward_err_name(rv));
    if (rv != WARD_ECRASHED && rv != WARD_ESTALE)
      T_FAIL("hang over the hard limit = %s, want ECRASHED (or ESTALE if killed before)",
             ward_err_name(rv));
    T_TRUE(t_now_ms() - t0 < 20000);
  } else {
    fprintf(stderr, "   killed during \"grow\"\n");
    T_ERR(rv, WARD_ECRASHED);
  }
  expect_replaced(w, pid, mark, WARD_REASON_MEMORY_LIMIT, WARD__STOP_HARD);
  expect_reply(w, "echo", "smaller", "smaller");
  ward_worker_free(w);
}

static void test_idle_timeout(void) {
  ward_spec *s = tw_spec("idle", "serve");
  T_OK(ward_spec_idle_timeout(s, 200));
  ward_worker *w = spawn_spec(s);
  uint64_t id = ward_worker_id(w);
  int pid = ward_worker_pid(w);
  int mark = tev_mark();
  /* Calls more often than every 200 ms keep it, for longer than 200 ms
   * (the pause between calls is the workload's pace, not a
   * synchronisation). */
  for (int k = 0; k < 6; k++) {
    expect_reply(w, "echo", "busy", "busy");
    sleep_ms(50);
  }
  expect_reply(w, "echo", "last", "last");
  int64_t last_us = tev_now_us();
  T_EQ_INT(ward_worker_pid(w), pid);
  T_EQ_INT(tev_count_from(mark, WARD_EV_EXITED, id), 0);
  /* Then left alone, its process ends (gracefully) and none replaces it
   * until a call wants one. */
  int ie = tev_wait_idx(mark, WARD_EV_EXITED, id);
  tev e = tev_get(ie);
  int64_t idle_ms = (e.at_us - last_us) / 1000;
  fprintf(stderr, "   parked %lld ms after the last call\n", (long long)idle_ms);
  T_TRUE(idle_ms >= 200 - TOL_MS);
  T_EQ_INT(e.reason, WARD_REASON_IDLE);
  T_EQ_INT(e.exit_code, 0);
  T_EQ_INT(e.pid, pid);
  ward_info in = WARD_INFO_INIT;
  T_OK(ward_worker_info(&in, w));
  T_EQ_INT(in.state, WARD_STATE_IDLE);
  T_EQ_STR(ward_state_name(in.state), "idle");
  T_EQ_INT(in.pid, 0);
  T_EQ_INT(tev_count_from(mark, WARD_EV_RESTARTING, id), 0);
  T_EQ_INT(tev_count_from(mark, WARD_EV_SPAWNED, id), 0);
  /* The next call starts a new process and is served by it. */
  expect_reply(w, "echo", "again", "again");
  T_TRUE(ward_worker_pid(w) != pid);
  T_EQ_INT(ward_worker_generation(w), 2);
  tev_wait_from(mark, WARD_EV_RESTARTED, id);
  /* Parking is no failure: the restart history is untouched. */
  T_OK(ward_worker_info(&in, w));
  T_EQ_INT(in.state, WARD_STATE_READY);
  ward_worker_free(w);
}

/* ------------------------------------------------------------------ */
/* 7. Sessions                                                         */

static int pinned(ward_worker *w, uint32_t gen) {
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 20000;
  o.generation = gen;
  return ward_request_ex(NULL, w, "echo", "s", 1, &o);
}

static void test_sessions(void) {
  ward_worker *w = spawn_spec(tw_spec("session", "serve"));
  uint32_t g = ward_worker_generation(w);
  T_EQ_INT(g, 1);
  T_OK(pinned(w, g));
  T_OK(ward_worker_cycle(w));
  T_ERR(pinned(w, g), WARD_ESTALE);
  T_OK(pinned(w, g + 1));
  T_OK(pinned(w, 0));
  ward_worker_free(w);
}

/* ------------------------------------------------------------------ */
/* 8. Stop outcomes                                                    */

/* Stops `w` with `grace`, optionally while a "hang_notify" call is in
 * flight, and checks the outcome. */
static void stop_and_expect(ward_worker *w, int grace, int wedged, int outcome, int sig) {
  uint64_t id = ward_worker_id(w);
  int mark = tev_mark();
  tcall hang;
  if (wedged) {
    tev_hang_reset();
    tcall_start(&hang, w, "hang_notify", "", 60000);
    tev_wait_hanging(1);
  }
  int64_t t0 = t_now_ms();
  T_OK(ward_worker_stop(w, grace));
  int64_t took = t_now_ms() - t0;
  if (wedged) {
    tcall_join(&hang);
    T_ERR(hang.rv, WARD_ECLOSED);
  }
  if (outcome == WARD_STOP_TERMINATED)
    T_TRUE(took >= grace - TOL_MS);
  if (outcome == WARD_STOP_KILLED)
    T_TRUE(took >= 2 * grace - TOL_MS);
  int is = tev_wait_idx(mark, WARD_EV_STOPPED, id);
  tev st = tev_get(is);
  if (st.outcome != outcome)
    T_FAIL("STOPPED outcome %s, want %s", ward_stop_outcome_name(st.outcome),
           ward_stop_outcome_name(outcome));
  ward_info i = tw_info(w);
  T_EQ_INT(i.last_stop, outcome);
  T_EQ_INT(i.state, WARD_STATE_STOPPED);
  T_EQ_STR(ward_state_name(i.state), "stopped");
  T_EQ_INT(i.pid, 0);
  if (outcome != WARD_STOP_ALREADY_EXITED) {
    int ie = tev_find(mark, WARD_EV_EXITED, id);
    T_TRUE(ie >= 0 && ie < is);
    tev e = tev_get(ie);
    T_EQ_INT(e.reason, WARD_REASON_STOPPED);
    T_EQ_INT(e.signal, sig);
    T_EQ_INT(e.exit_code, sig ? -1 : 0);
  }
  /* Stopping a stopped worker is fine; calls get ECLOSED. */
  T_OK(ward_worker_stop(w, grace));
  T_ERR(ward_request(NULL, w, "echo", "x", 1, 1000), WARD_ECLOSED);
  ward_worker_free(w);
  /* No restart followed. */
  T_EQ_INT(tev_count_from(mark, WARD_EV_RESTARTING, id), 0);
  T_EQ_INT(tev_count_from(mark, WARD_EV_SPAWNED, id), 0);
  T_EQ_INT(tev_count_from(mark, WARD_EV_STOPPED, id), 1);
}

/* Whether the soft stop can end a wedged process here: not where
 * WARD_TEST_NO_SOFT_STOP is set (Windows under Wine gives the tests no
 * console, so the CTRL_BREAK that is Windows's SIGTERM reaches no one;
 * only the goodbye on the channel does, which a wedged worker does not
 * read), and a stop that would have terminated it kills it instead. */
static int soft_stop_ends_wedged(void) { return getenv("WARD_TEST_NO_SOFT_STOP") == NULL; }

static void test_stop_outcomes(void) {
  stop_and_expect(spawn_spec(tw_spec("graceful", "serve")), 5000, 0, WARD_STOP_GRACEFUL, 0);
  if (soft_stop_ends_wedged())
    stop_and_expect(spawn_spec(tw_spec("terminated", "serve")), 100, 1, WARD_STOP_TERMINATED,
                    SIGTERM);
  else
    stop_and_expect(spawn_spec(tw_spec("terminated", "serve")), 100, 1, WARD_STOP_KILLED,
                    WARD__STOP_HARD);
  stop_and_expect(spawn_spec(tw_spec("killed", "ignore_term")), 100, 1, WARD_STOP_KILLED,
                  WARD__STOP_HARD);
}

/* A worker that exited and stays down: nothing to stop. */
static void test_stop_already_exited(void) {
  ward_spec *s = tw_spec("gone", "serve");
  T_OK(ward_spec_restart(s, WARD_RESTART_NEVER));
  ward_worker *w = spawn_spec(s);
  int mark = tev_mark();
  T_ERR(ward_request(NULL, w, "exit", "5", 1, 20000), WARD_ECRASHED);
  tev_wait_from(mark, WARD_EV_EXITED, ward_worker_id(w));
  stop_and_expect(w, 200, 0, WARD_STOP_ALREADY_EXITED, 0);
}

/* ------------------------------------------------------------------ */
/* 9. No orphans                                                       */

/* Starts a grandchild in `w` and returns a reference to it. */
static proc_ref grandchild(ward_worker *w) {
  int gpid = tw_call_int(w, "spawn_child");
  T_TRUE(gpid > 0);
  proc_ref pfd = proc_open(gpid);
  T_TRUE(pfd != PROC_REF_NONE);
  T_TRUE(!gone_within(pfd, 0));
  return pfd;
}

static void test_no_orphans(void) {
  /* (a) stop */
  ward_worker *w = spawn_spec(tw_spec("parent-stop", "serve"));
  proc_ref pfd = grandchild(w);
  T_OK(ward_worker_stop(w, 5000));
  T_TRUE(gone_within(pfd, 5000));
  proc_close(pfd);
  ward_worker_free(w);

  /* (b) crash, not restarted */
  ward_spec *s = tw_spec("parent-crash", "serve");
  T_OK(ward_spec_restart(s, WARD_RESTART_NEVER));
  w = spawn_spec(s);
  pfd = grandchild(w);
  T_ERR(ward_request(NULL, w, "abort", NULL, 0, 20000), WARD_ECRASHED);
  T_TRUE(gone_within(pfd, 5000));
  proc_close(pfd);
  ward_worker_free(w);

  /* (c) crash, restarted: the old process's grandchild goes all the same. */
  s = tw_spec("parent-restart", "serve");
  T_OK(ward_spec_backoff(s, 50, 1000, 200, 60000));
  w = spawn_spec(s);
  pfd = grandchild(w);
  T_ERR(ward_request(NULL, w, "abort", NULL, 0, 20000), WARD_ECRASHED);
  T_TRUE(gone_within(pfd, 5000));
  proc_close(pfd);
  expect_reply(w, "echo", "back", "back");
  ward_worker_free(w);
}

/* ------------------------------------------------------------------ */
/* 10. Host SIGKILL with grandchildren                                 */

/* Runs as a separate process: a host with three workers, each with a
 * grandchild; prints their pids on one line ("WORKER GRANDCHILD" three
 * times), then waits to be killed. */
static int host_mode(void) {
  ward_host *h;
  T_OK(ward_host_new(&h, NULL));
  for (int k = 0; k < 3; k++) {
    ward_worker *w;
    ward_spec *s = tw_spec("orphan?", "serve");
    T_OK(ward_spawn(&w, h, s));
    ward_spec_free(s);
    ward_msg *m = NULL;
    T_OK(ward_request(&m, w, "spawn_child", NULL, 0, 20000));
    printf("%d %.*s ", ward_worker_pid(w), (int)ward_msg_len(m), (const char *)ward_msg_data(m));
    ward_msg_free(m);
  }
  printf("\n");
  fflush(stdout);
  for (;;)
    t_nap_ms(1000000);
}

static void test_host_sigkill_leaves_nothing(void) {
  char line[256];
  int hpid = t_spawn_self("--host", line, sizeof line);
  int pids[6];
  T_TRUE(sscanf(line, "%d %d %d %d %d %d", &pids[0], &pids[1], &pids[2], &pids[3], &pids[4],
                &pids[5]) == 6);
  proc_ref pidfds[6];
  for (int k = 0; k < 6; k++) {
    pidfds[k] = proc_open(pids[k]);
    T_TRUE(pidfds[k] != PROC_REF_NONE);
  }
  for (int k = 0; k < 6; k++)
    T_TRUE(!gone_within(pidfds[k], 0));
  int64_t t0 = t_now_ms();
  t_kill_hard(hpid);
  for (int k = 0; k < 6; k++) {
    int left = (int)(1000 - (t_now_ms() - t0));
    if (!gone_within(pidfds[k], left))
      T_FAIL("%s %d still alive 1000 ms after the host was killed",
             k % 2 ? "grandchild" : "worker", k / 2);
    proc_close(pidfds[k]);
  }
  fprintf(stderr, "   all gone %lld ms after the kill\n", (long long)(t_now_ms() - t0));
}

/* ------------------------------------------------------------------ */
/* 11. ward_host_free stops in reverse start order                     */

static void test_host_free_order(void) {
  ward_host *h;
  ward_host_opts o = WARD_HOST_OPTS_INIT;
  o.on_event = tev_on_event;
  T_OK(ward_host_new(&h, &o));
  static const char *const names[3] = {"order-a", "order-b", "order-c"};
  for (int k = 0; k < 3; k++) {
    ward_worker *w;
    ward_spec *s = tw_spec(names[k], "serve");
    T_OK(ward_spawn(&w, h, s));
    ward_spec_free(s);
    T_OK(ward_ping(w, 20000));
  }
  int mark = tev_mark();
  ward_host_free(h);
  int at[3];
  for (int k = 0; k < 3; k++) {
    at[k] = tev_find_name(mark, WARD_EV_STOPPED, names[k]);
    if (at[k] < 0)
      T_FAIL("no STOPPED event for %s", names[k]);
    T_EQ_INT(tev_get(at[k]).outcome, WARD_STOP_GRACEFUL);
  }
  if (!(at[2] < at[1] && at[1] < at[0]))
    T_FAIL("STOPPED events at #%d (a), #%d (b), #%d (c): want c, b, a", at[0], at[1], at[2]);
}

/* ------------------------------------------------------------------ */
/* 12. Many cycles leak nothing                                        */

static void test_cycles_leak_nothing(void) {
  ward_host *h;
  T_OK(ward_host_new(&h, NULL));
  ward_worker *w;
  ward_spec *s = tw_spec("cycler", "serve");
  T_OK(ward_spawn(&w, h, s));
  ward_spec_free(s);
  for (int k = 0; k < 20; k++)
    T_OK(ward_worker_cycle(w));
  T_OK(ward_ping(w, 20000));
  int fds = tw_count_open();
  uint64_t rss = (uint64_t)t_rss_kib() * 1024;
  int64_t t0 = t_now_ms();
  for (int k = 0; k < 500; k++)
    T_OK(ward_worker_cycle(w));
  int64_t took = t_now_ms() - t0;
  T_OK(ward_ping(w, 20000));
  T_EQ_INT(ward_worker_generation(w), 521);
  int fds2 = tw_count_open();
  uint64_t rss2 = (uint64_t)t_rss_kib() * 1024;
  fprintf(stderr, "   500 cycles in %lld ms; fds %d -> %d; host RSS %.1f -> %.1f MiB\n",
          (long long)took, fds, fds2, rss / 1048576.0, rss2 / 1048576.0);
  if (fds >= 0)
    T_EQ_INT(fds2, fds);
  else
    fprintf(stderr, "   (handles not counted here)\n");
  if (RSS_MEANINGFUL)
    T_TRUE(rss2 < rss + (8u << 20));
  else
    fprintf(stderr, "   (ASan build: RSS growth not checked)\n");
  ward_worker_free(w);
  ward_host_free(h);
}

/* ------------------------------------------------------------------ */
/* 13. ward_worker_info                                                */

static void test_info(void) {
  T_EQ_STR(ward_state_name(WARD_STATE_READY), "ready");
  T_EQ_STR(ward_state_name(WARD_STATE_EXITED), "exited");
  T_EQ_STR(ward_state_name(WARD_STATE_FAILED), "failed");
  T_EQ_STR(ward_state_name(WARD_STATE_STOPPED), "stopped");
  T_EQ_STR(ward_state_name(WARD_STATE_BACKING_OFF), "backing-off");

  ward_spec *s = tw_spec("info", "serve");
  T_OK(ward_spec_backoff(s, 60000, 60000, 200, 600000));
  ward_worker *w = spawn_spec(s);
  uint64_t id = ward_worker_id(w);
  ward_info i = tw_info(w);
  T_EQ_INT(i.state, WARD_STATE_READY);
  T_EQ_INT(i.pid, ward_worker_pid(w));
  T_TRUE(i.pid > 0);
  T_EQ_INT(i.generation, 1);
  T_EQ_INT(i.restarts, 0);
  T_EQ_INT(i.calls_served, 0);
  T_EQ_INT(i.calls_in_flight, 0);
  /* The portable backend cannot read a live process's figures. */
  T_TRUE(getenv("WARD_TEST_NO_FIGURES") ? i.rss_bytes == WARD_UNKNOWN && i.cpu_ms == WARD_UNKNOWN
                                        : i.rss_bytes > (1u << 20));
  int64_t now = wall_ms();
  if (i.start_time_ms > now + 1000 || i.start_time_ms < now - 10000)
    T_FAIL("start_time_ms %lld, wall clock %lld", (long long)i.start_time_ms, (long long)now);

  /* Answered requests count, remote errors included; pings do not. */
  for (int k = 0; k < 3; k++)
    expect_reply(w, "echo", "x", "x");
  ward_msg *m = NULL;
  T_ERR(ward_request(&m, w, "fail", "d", 1, 20000), WARD_EREMOTE);
  ward_msg_free(m);
  T_OK(ward_ping(w, 20000));
  T_EQ_INT(tw_info(w).calls_served, 4);

  tev_hang_reset();
  tcall work;
  tcall_start(&work, w, "work_notify", "300", 20000);
  tev_wait_hanging(1);
  T_EQ_INT(tw_info(w).calls_in_flight, 1);
  tcall_join(&work);
  T_OK(work.rv);
  i = tw_info(w);
  T_EQ_INT(i.calls_in_flight, 0);
  T_EQ_INT(i.calls_served, 5);

  /* A crash: the figures of the last exit, and the long backoff. */
  int mark = tev_mark();
  T_ERR(ward_request(NULL, w, "abort", NULL, 0, 20000), WARD_ECRASHED);
  tev_wait_from(mark, WARD_EV_RESTARTING, id);
  i = tw_info(w);
  T_EQ_INT(i.state, WARD_STATE_BACKING_OFF);
  T_EQ_STR(ward_state_name(i.state), "backing-off");
  T_EQ_INT(i.pid, 0);
  T_EQ_INT(i.restarts, 1);
  T_EQ_INT(i.generation, 1);
  T_EQ_INT(i.last_exit_code, -1);
  T_EQ_INT(i.last_signal, SIGABRT);
  T_EQ_INT(i.last_reason, WARD_REASON_CRASHED);
  T_EQ_INT(i.calls_in_flight, 0);
  T_EQ_INT(i.calls_served, 5);
  /* A cycle starts the new process now instead of after the minute of
   * backoff. */
  int64_t t0 = t_now_ms();
  T_OK(ward_worker_cycle(w));
  T_TRUE(t_now_ms() - t0 < 30000);
  i = tw_info(w);
  T_EQ_INT(i.state, WARD_STATE_READY);
  T_EQ_INT(i.generation, 2);
  T_EQ_INT(i.calls_served, 5);
  T_TRUE(i.pid > 0);
  now = wall_ms();
  if (i.start_time_ms > now + 1000 || i.start_time_ms < now - 10000)
    T_FAIL("start_time_ms %lld, wall clock %lld", (long long)i.start_time_ms, (long long)now);

  mark = tev_mark();
  T_ERR(ward_request(NULL, w, "exit", "3", 1, 20000), WARD_ECRASHED);
  tev_wait_from(mark, WARD_EV_RESTARTING, id);
  i = tw_info(w);
  T_EQ_INT(i.state, WARD_STATE_BACKING_OFF);
  T_EQ_INT(i.last_exit_code, 3);
  T_EQ_INT(i.last_signal, 0);
  T_EQ_INT(i.last_reason, WARD_REASON_EXITED);
  T_EQ_INT(i.restarts, 2);
  T_OK(ward_worker_stop(w, 200));
  i = tw_info(w);
  T_EQ_INT(i.state, WARD_STATE_STOPPED);
  T_EQ_INT(i.last_stop, WARD_STOP_ALREADY_EXITED);
  ward_worker_free(w);

  /* CPU time: a worker left spinning (its call timed out, not killed:
   * kill_on_timeout off). */
  if (getenv("WARD_TEST_NO_FIGURES"))
    return;
  s = tw_spec("info-cpu", "serve");
  T_OK(ward_spec_kill_on_timeout(s, 0));
  w = spawn_spec(s);
  int pid = ward_worker_pid(w);
  uint64_t cpu0 = tw_info(w).cpu_ms;
  T_ERR(ward_request(NULL, w, "spin", NULL, 0, 100), WARD_ETIMEDOUT);
  WAIT_INFO(w, 20000, wi.cpu_ms >= cpu0 + 100);
  i = tw_info(w);
  T_EQ_INT(i.pid, pid);
  T_EQ_INT(i.generation, 1);
  T_EQ_INT(i.state, WARD_STATE_READY);
  /* Still wedged in "spin": the stop has to terminate it. */
  T_OK(ward_worker_stop(w, 100));
  T_EQ_INT(tw_info(w).last_stop,
           soft_stop_ends_wedged() ? WARD_STOP_TERMINATED : WARD_STOP_KILLED);
  ward_worker_free(w);
}

/* ------------------------------------------------------------------ */

typedef struct tcase {
  const char *name;
  void (*fn)(void);
} tcase;

#define TCASE(fn) {#fn, fn}

static const tcase cases[] = {
    TCASE(test_restart_never),
    TCASE(test_restart_on_failure),
    TCASE(test_crash_loop),
    TCASE(test_calls_wait_for_restart),
    TCASE(test_deadline_kills_and_replaces),
    TCASE(test_heartbeat_sigstop),
    TCASE(test_heartbeat_spin),
    TCASE(test_heartbeat_busy_is_healthy),
    TCASE(test_cycle_waits_for_call),
    TCASE(test_max_requests),
    TCASE(test_memory_soft_limit),
    TCASE(test_memory_hard_limit),
    TCASE(test_idle_timeout),
    TCASE(test_sessions),
    TCASE(test_stop_outcomes),
    TCASE(test_no_orphans),
    TCASE(test_info),
    TCASE(test_host_sigkill_leaves_nothing),
    TCASE(test_host_free_order),
    TCASE(test_cycles_leak_nothing),
    TCASE(test_stop_already_exited),
    TCASE(test_call_right_after_crash),
};

/* With arguments, runs only the tests whose names contain one of them;
 * an argument "-NAME" leaves out the tests whose names contain NAME. */
int main(int argc, char **argv) {
  if (argc > 2 && strcmp(argv[1], "--worker") == 0 && strcmp(argv[2], "memory") == 0)
    return memory_worker();
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
  if (argc > 1 && strcmp(argv[1], "--host") == 0)
    return host_mode();
#ifndef _WIN32
  signal(SIGPIPE, SIG_IGN);
#endif
  int64_t t0 = t_now_ms();
  host = tev_host();
  T_OK(ward_host_handle(host, "hanging", tev_on_hanging, NULL));
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    int run = 1, picked = 0, matched = 0;
    for (int a = 1; a < argc; a++) {
      if (argv[a][0] == '-') {
        run &= strstr(cases[k].name, argv[a] + 1) == NULL;
      } else {
        picked = 1;
        matched |= strstr(cases[k].name, argv[a]) != NULL;
      }
    }
    if (!run || (picked && !matched))
      continue;
    fprintf(stderr, "-- %s\n", cases[k].name);
    int64_t t1 = t_now_ms();
    cases[k].fn();
    t__passed++;
    fprintf(stderr, "   %s: %lld ms\n", cases[k].name, (long long)(t_now_ms() - t1));
  }
  ward_host_free(host);
  T_EQ_INT(tev_dropped, 0);
  fprintf(stderr, "   total: %lld ms\n", (long long)(t_now_ms() - t0));
  return t_done();
}
