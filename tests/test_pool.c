/*
 * test_pool.c — worker pools: calls spread over the least busy workers,
 * growth and shrinking between the minimum and the maximum, waiting for a
 * free worker within the deadline, and the stress: 4 workers,
 * 10 000 calls from 8 threads, one worker killed every 500 calls.
 */
#include <pthread.h>
#include <signal.h>
#include <fcntl.h>
#include <stdatomic.h>

#include "test.h"
#include "tworker.h"

static ward_host *host;

/* ---- the stress ---- */

#define THREADS 8
#define CALLS 10000
#define KILL_EVERY 500

static ward_pool *pool;
static atomic_int issued, ok, crashed, other, kills;

/* Ends process `pid` at once (SIGKILL; TerminateProcess on Windows):
 * whether it could (it may have gone already). */
static int kill_now(int pid) {
#ifdef _WIN32
  HANDLE h = OpenProcess(PROCESS_TERMINATE, FALSE, (DWORD)pid);
  int done = h && TerminateProcess(h, 9);
  if (h)
    CloseHandle(h);
  return done;
#else
  return kill(pid, SIGKILL) == 0;
#endif
}

static void *caller(void *arg) {
  (void)arg;
  for (;;) {
    int n = atomic_fetch_add(&issued, 1);
    if (n >= CALLS)
      return NULL;
    if (n > 0 && n % KILL_EVERY == 0) {
      /* Kill one of the workers, whatever it is doing. */
      ward_worker *ws[8];
      size_t k = ward_pool_workers(ws, 8, pool);
      int pid = k ? ward_worker_pid(ws[(size_t)n / KILL_EVERY % k]) : 0;
      if (pid > 0 && kill_now(pid))
        atomic_fetch_add(&kills, 1);
    }
    char p[32];
    int len = snprintf(p, sizeof p, "%d", n);
    ward_msg *m = NULL;
    int rv = ward_pool_request(&m, pool, "echo", p, (size_t)len, 60000);
    if (rv == WARD_OK) {
      T_EQ_INT(ward_msg_len(m), len);
      T_EQ_MEM(ward_msg_data(m), p, (size_t)len);
      atomic_fetch_add(&ok, 1);
    } else if (rv == WARD_ECRASHED) {
      atomic_fetch_add(&crashed, 1);
    } else {
      fprintf(stderr, "call %d: %s (%s)\n", n, ward_err_name(rv), ward_last_error());
      atomic_fetch_add(&other, 1);
    }
    ward_msg_free(m);
  }
}

static void test_stress_with_kills(void) {
  ward_spec *s = tw_spec("pooled", "serve");
  T_OK(ward_spec_backoff(s, 0, 0, 200, 0));
  T_OK(ward_spec_intensity(s, 256, 1000));
  ward_pool_opts o = WARD_POOL_OPTS_INIT;
  o.min_workers = o.max_workers = 4;
  T_OK(ward_pool_new(&pool, host, s, &o));
  ward_spec_free(s);
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++)
    T_TRUE(pthread_create(&th[i], NULL, caller, NULL) == 0);
  for (int i = 0; i < THREADS; i++)
    pthread_join(th[i], NULL);
  int total = atomic_load(&ok) + atomic_load(&crashed) + atomic_load(&other);
  fprintf(stderr, "   %d calls: %d ok, %d crashed with their worker, %d other; %d kills\n", total,
          atomic_load(&ok), atomic_load(&crashed), atomic_load(&other), atomic_load(&kills));
  /* Every call ended exactly once... */
  T_EQ_INT(total, CALLS);
  /* ...and only calls in flight on a killed worker failed: a worker serves
   * one call at a time, so at most one per kill. */
  T_EQ_INT(atomic_load(&other), 0);
  T_TRUE(atomic_load(&kills) >= CALLS / KILL_EVERY - 2);
  T_TRUE(atomic_load(&crashed) <= atomic_load(&kills));
  ward_pool_stats st = WARD_POOL_STATS_INIT;
  T_OK(ward_pool_info(&st, pool));
  T_EQ_INT(st.calls, CALLS);
  T_EQ_INT(st.workers, 4);
  T_EQ_INT(st.busy, 0);
  T_EQ_INT(st.failures, atomic_load(&crashed));
  ward_pool_free(pool);
}

/* ---- growth, waiting, shrinking ---- */

struct held {
  ward_pool *p;
  int rv;
};

static void *hold(void *arg) {
  struct held *h = arg;
  h->rv = ward_pool_request(NULL, h->p, "work", "400", 3, 20000);
  return NULL;
}

static void test_grow_wait_shrink(void) {
  ward_pool *p;
  ward_pool_opts o = WARD_POOL_OPTS_INIT;
  o.min_workers = 1;
  o.max_workers = 2;
  o.idle_ms = 100;
  ward_spec *s = tw_spec("elastic", "serve");
  T_OK(ward_pool_new(&p, host, s, &o));
  ward_spec_free(s);
  ward_pool_stats st = WARD_POOL_STATS_INIT;
  T_OK(ward_pool_info(&st, p));
  T_EQ_INT(st.workers, 1);
  /* Two long calls at once: the pool grows to its maximum. */
  struct held a = {p, -1}, b = {p, -1};
  pthread_t ta, tb;
  T_TRUE(pthread_create(&ta, NULL, hold, &a) == 0);
  T_TRUE(pthread_create(&tb, NULL, hold, &b) == 0);
  /* While both are busy, a third call with a short deadline waits, then
   * gives up: no free worker. */
  int64_t deadline = t_now_ms() + 10000;
  for (;;) {
    T_OK(ward_pool_info(&st, p));
    if (st.busy == 2 || t_now_ms() > deadline)
      break;
    sched_yield();
  }
  T_EQ_INT(st.busy, 2);
  T_EQ_INT(st.workers, 2);
  T_ERR(ward_pool_request(NULL, p, "echo", "1", 1, 50), WARD_ETIMEDOUT);
  /* The two workers, taken while both are busy (where starting a process
   * is slow, under Wine, the first call may end more than idle_ms before
   * the second, and its worker go before both are joined). */
  ward_worker *ws[4];
  T_EQ_INT(ward_pool_workers(ws, 4, p), 2);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  T_OK(a.rv);
  T_OK(b.rv);
  /* Left idle past idle_ms, the extra worker is stopped by itself: no call
   * is needed to notice. Handles given out stay valid until the next pool
   * call, the stopped one in state stopped. */
  deadline = t_now_ms() + 20000;
  int stopped = 0;
  while (!stopped && t_now_ms() < deadline) {
    for (int k = 0; k < 2; k++) {
      ward_info in = WARD_INFO_INIT;
      T_OK(ward_worker_info(&in, ws[k]));
      stopped += in.state == WARD_STATE_STOPPED;
    }
    sched_yield();
  }
  T_EQ_INT(stopped, 1);
  T_OK(ward_pool_info(&st, p));
  T_EQ_INT(st.workers, 1);
  T_OK(ward_pool_request(NULL, p, "echo", "1", 1, 10000));
  T_EQ_INT(st.shrunk, 1);
  T_EQ_INT(st.grown, 1);
  ward_pool_free(p);
}

/* A worker added for a waiting call is started in the background: the call
 * gives up at its own deadline, not the new worker's start-up timeout, and
 * the worker joins the pool once it is up. */
static void *hold_long(void *arg) {
  struct held *h = arg;
  /* Busy for 1.5 s: five times the waiting call's deadline below. */
  h->rv = ward_pool_request(NULL, h->p, "work", "1500", 4, 30000);
  return NULL;
}

static void test_growth_keeps_the_deadline(void) {
  /* The gate: a fifo (on Windows a named event, tworker.h's
   * "gate_if_fifo"), made once the first worker is up. */
  char gate[64];
#ifdef _WIN32
  snprintf(gate, sizeof gate, "Local\\ward-test-gate-%lu", (unsigned long)GetCurrentProcessId());
#else
  snprintf(gate, sizeof gate, "/tmp/ward-test-gate-%d", (int)getpid());
  unlink(gate);
#endif
  ward_pool *p;
  ward_pool_opts o = WARD_POOL_OPTS_INIT;
  o.min_workers = 1;
  o.max_workers = 2;
  ward_spec *s = tw_spec("gated", "gate_if_fifo");
  T_OK(ward_spec_arg(s, gate));
  T_OK(ward_spec_startup_timeout(s, 120000));
  T_OK(ward_pool_new(&p, host, s, &o));
  ward_spec_free(s);
#ifdef _WIN32
  HANDLE gate_ev = CreateEventA(NULL, TRUE, FALSE, gate);
  T_TRUE(gate_ev != NULL);
#else
  T_TRUE(mkfifo(gate, 0600) == 0);
#endif
  struct held a = {p, -1};
  pthread_t ta;
  T_TRUE(pthread_create(&ta, NULL, hold_long, &a) == 0);
  ward_pool_stats st = WARD_POOL_STATS_INIT;
  int64_t deadline = t_now_ms() + 10000;
  do
    T_OK(ward_pool_info(&st, p));
  while (st.busy != 1 && t_now_ms() < deadline && sched_yield() == 0);
  T_EQ_INT(st.busy, 1);
  /* The only worker is busy; the new one is held at its gate. */
  int64_t t0 = t_now_ms();
  T_ERR(ward_pool_request(NULL, p, "echo", "1", 1, 300), WARD_ETIMEDOUT);
  T_TRUE(t_now_ms() - t0 < 60000);
  /* Let it through: it joins the pool and serves. */
#ifdef _WIN32
  T_TRUE(SetEvent(gate_ev));
  CloseHandle(gate_ev);
#else
  int fd = open(gate, O_WRONLY);
  T_TRUE(fd >= 0);
  T_TRUE(write(fd, "x", 1) == 1);
  close(fd);
  unlink(gate);
#endif
  deadline = t_now_ms() + 20000;
  do
    T_OK(ward_pool_info(&st, p));
  while (st.workers != 2 && t_now_ms() < deadline && sched_yield() == 0);
  T_EQ_INT(st.workers, 2);
  T_OK(ward_pool_request(NULL, p, "echo", "1", 1, 20000));
  pthread_join(ta, NULL);
  T_OK(a.rv);
  ward_pool_free(p);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
#ifndef _WIN32
  signal(SIGPIPE, SIG_IGN);
#endif
  T_OK(ward_host_new(&host, NULL));
  T_RUN(test_grow_wait_shrink);
  T_RUN(test_growth_keeps_the_deadline);
  T_RUN(test_stress_with_kills);
  ward_host_free(host);
  return t_done();
}
