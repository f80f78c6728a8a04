/*
 * test_pool.c — worker pools: calls spread over the least busy workers,
 * growth and shrinking between the minimum and the maximum, waiting for a
 * free worker within the deadline, and the stress: 4 workers,
 * 10 000 calls from 8 threads, one worker killed every 500 calls. And
 * rolling replacement: a pool under load from 8 threads moved to new
 * arguments with no call failing, a call in flight on an old member
 * finishing (or ended at the drain time), and a new spec that cannot
 * start, or fails its doctor check, leaving the old members serving.
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

/* ---- rolling replacement ---- */

/* ward_last_error() says `part`. */
static void says(const char *part) {
  const char *e = ward_last_error();
  if (!strstr(e, part))
    T_FAIL("the error \"%s\" does not say \"%s\"", e, part);
}

/* What a member the pool picks was started with ("" for no argument after the mode). */
static void args_of(ward_pool *p, char *out, size_t cap) {
  ward_msg *m = NULL;
  T_OK(ward_pool_request(&m, p, "args", "", 0, 60000));
  snprintf(out, cap, "%.*s", (int)ward_msg_len(m), (const char *)ward_msg_data(m));
  ward_msg_free(m);
}

static ward_pool *load_pool;
static atomic_int load_stop, load_replaced, load_calls, load_failed, load_late_old, load_new;

/* Calls "args" until told to stop; a call begun after the replacement
 * returned must be served by a new member. */
static void *load_caller(void *arg) {
  (void)arg;
  while (!atomic_load(&load_stop)) {
    int after = atomic_load(&load_replaced);
    ward_msg *m = NULL;
    int rv = ward_pool_request(&m, load_pool, "args", "", 0, 60000);
    atomic_fetch_add(&load_calls, 1);
    if (rv) {
      fprintf(stderr, "call: %s (%s)\n", ward_err_name(rv), ward_last_error());
      atomic_fetch_add(&load_failed, 1);
      continue;
    }
    int is_new = ward_msg_len(m) == 2 && memcmp(ward_msg_data(m), "v2", 2) == 0;
    atomic_fetch_add(&load_new, is_new);
    if (after && !is_new)
      atomic_fetch_add(&load_late_old, 1);
    ward_msg_free(m);
  }
  return NULL;
}

/* Waits (up to a minute) until the callers have made `n` calls in all. */
static void wait_calls(int n) {
  int64_t deadline = t_now_ms() + 60000;
  while (atomic_load(&load_calls) < n && t_now_ms() < deadline)
    sched_yield();
  T_TRUE(atomic_load(&load_calls) >= n);
}

static void test_replace_under_load(void) {
  ward_spec *s = tw_spec("rolled", "serve");
  ward_pool_opts o = WARD_POOL_OPTS_INIT;
  o.min_workers = o.max_workers = 3;
  T_OK(ward_pool_new(&load_pool, host, s, &o));
  pthread_t th[THREADS];
  for (int i = 0; i < THREADS; i++)
    T_TRUE(pthread_create(&th[i], NULL, load_caller, NULL) == 0);
  wait_calls(200);
  T_OK(ward_spec_arg(s, "v2"));
  ward_replace_opts ro = WARD_REPLACE_OPTS_INIT;
  ro.ready_ms = 60000;
  T_OK(ward_pool_replace(load_pool, s, &ro));
  atomic_store(&load_replaced, 1);
  int at = atomic_load(&load_calls);
  wait_calls(at + 200);
  atomic_store(&load_stop, 1);
  for (int i = 0; i < THREADS; i++)
    pthread_join(th[i], NULL);
  fprintf(stderr, "   %d calls, %d from new members, %d failed\n", atomic_load(&load_calls),
          atomic_load(&load_new), atomic_load(&load_failed));
  T_EQ_INT(atomic_load(&load_failed), 0);
  T_EQ_INT(atomic_load(&load_late_old), 0);
  T_TRUE(atomic_load(&load_new) >= 200);
  ward_pool_stats st = WARD_POOL_STATS_INIT;
  T_OK(ward_pool_info(&st, load_pool));
  T_EQ_INT(st.workers, 3);
  T_EQ_INT(st.failures, 0);
  /* Growth from now on starts from the new spec too. */
  ward_spec_free(s);
  ward_pool_free(load_pool);
}

struct inflight {
  ward_pool *p;
  const char *method, *arg;
  int rv;
  char reply[32];
};

static void *inflight_call(void *arg) {
  struct inflight *c = arg;
  ward_msg *m = NULL;
  c->rv = ward_pool_request(&m, c->p, c->method, c->arg, strlen(c->arg), 60000);
  if (m)
    snprintf(c->reply, sizeof c->reply, "%.*s", (int)ward_msg_len(m),
             (const char *)ward_msg_data(m));
  ward_msg_free(m);
  return NULL;
}

/* Waits (up to a minute) until `n` of the pool's members are busy. */
static void wait_busy(ward_pool *p, size_t n) {
  ward_pool_stats st = WARD_POOL_STATS_INIT;
  int64_t deadline = t_now_ms() + 60000;
  do
    T_OK(ward_pool_info(&st, p));
  while (st.busy != n && t_now_ms() < deadline && sched_yield() == 0);
  T_EQ_INT(st.busy, n);
}

/* A call in flight on the old member finishes there; one that outlives
 * the drain time ends when the old member is stopped. */
static void test_replace_drains(void) {
  ward_spec *s = tw_spec("drained", "serve");
  ward_pool_opts o = WARD_POOL_OPTS_INIT;
  o.min_workers = o.max_workers = 1;
  ward_pool *p;
  T_OK(ward_pool_new(&p, host, s, &o));
  struct inflight c = {p, "work", "1500", -1, ""};
  pthread_t t;
  T_TRUE(pthread_create(&t, NULL, inflight_call, &c) == 0);
  wait_busy(p, 1);
  T_OK(ward_spec_arg(s, "v2"));
  ward_replace_opts ro = WARD_REPLACE_OPTS_INIT;
  ro.drain_ms = 120000;
  T_OK(ward_pool_replace(p, s, &ro));
  pthread_join(t, NULL);
  T_OK(c.rv);
  T_EQ_STR(c.reply, "worked");
  char a[64];
  args_of(p, a, sizeof a);
  T_EQ_STR(a, "v2");

  /* Past the drain time: the old member's stop ends the call. */
  ward_spec_free(s);
  s = tw_spec("drained", "serve");
  T_OK(ward_spec_arg(s, "v3"));
  struct inflight h = {p, "hang", "", -1, ""};
  T_TRUE(pthread_create(&t, NULL, inflight_call, &h) == 0);
  wait_busy(p, 1);
  ro.drain_ms = 100;
  T_OK(ward_pool_replace(p, s, &ro));
  pthread_join(t, NULL);
  T_ERR(h.rv, WARD_ECLOSED);
  args_of(p, a, sizeof a);
  T_EQ_STR(a, "v3");
  ward_spec_free(s);
  ward_pool_free(p);
}

static int int_cmp(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* The members' pids, sorted. */
static size_t pids_of(ward_pool *p, int *out, size_t cap) {
  ward_worker *ws[8];
  size_t n = ward_pool_workers(ws, cap < 8 ? cap : 8, p);
  for (size_t i = 0; i < n; i++)
    out[i] = ward_worker_pid(ws[i]);
  qsort(out, n, sizeof *out, int_cmp);
  return n;
}

/* A pool of two members from the spec `name` "serve", and their pids. */
static ward_pool *pool_of_two(const char *name, int *pids) {
  ward_spec *s = tw_spec(name, "serve");
  ward_pool_opts o = WARD_POOL_OPTS_INIT;
  o.min_workers = o.max_workers = 2;
  ward_pool *p;
  T_OK(ward_pool_new(&p, host, s, &o));
  ward_spec_free(s);
  T_EQ_INT(pids_of(p, pids, 8), 2);
  return p;
}

/* A replacement that fails leaves the pool as it was: same processes,
 * still serving, and growth still from the old spec. */
static void expect_unchanged(ward_pool *p, const int *pids, size_t n) {
  int now[8];
  T_EQ_INT(pids_of(p, now, 8), n);
  for (size_t i = 0; i < n; i++)
    T_EQ_INT(now[i], pids[i]);
  char a[64];
  args_of(p, a, sizeof a);
  T_EQ_STR(a, "");
}

/* Replacing `p` by `spec` (freed) fails with `err`, saying `why` and
 * `more` (NULL: nothing more), and leaves the pool as it was. */
static void refused(ward_pool *p, ward_spec *spec, const ward_replace_opts *ro, int err,
                    const char *why, const char *more, const int *pids) {
  T_ERR(ward_pool_replace(p, spec, ro), err);
  says(why);
  if (more)
    says(more);
  ward_spec_free(spec);
  expect_unchanged(p, pids, 2);
}

static void test_replace_broken_keeps_old(void) {
  int pids[8];
  ward_pool *p = pool_of_two("kept", pids);
  /* No such executable. */
  ward_spec *missing;
  T_OK(ward_spec_new(&missing, "kept", "/nonexistent/ward-worker-v2"));
  refused(p, missing, NULL, WARD_ESPAWN, "did not become ready (0 of 2 replaced)",
          "/nonexistent/ward-worker-v2", pids);
  /* Exits before it is ready. */
  refused(p, tw_spec("kept", "exit_early"), NULL, WARD_EHANDSHAKE, "exited before", "(code 3)",
          pids);
  /* Never ready within ready_ms. */
  ward_replace_opts ro = WARD_REPLACE_OPTS_INIT;
  ro.ready_ms = 300;
  refused(p, tw_spec("kept", "silent"), &ro, WARD_ETIMEDOUT, "not ready in time", NULL, pids);
  /* Options out of range change nothing. */
  ro.ready_ms = 0;
  refused(p, tw_spec("kept", "serve"), &ro, WARD_EINVAL, "ready_ms > 0", NULL, pids);
  ward_pool_free(p);
}

#if TW_JSON
/* With `doctor`, a new member whose doctor reports an error never serves;
 * warnings pass. */
static void test_replace_doctor(void) {
  int pids[8];
  size_t n = 2;
  ward_pool *p = pool_of_two("checked", pids);
  ward_spec *sick = tw_spec("checked", "serve");
  T_OK(ward_spec_arg(sick, "doctor_fails"));
  ward_replace_opts ro = WARD_REPLACE_OPTS_INIT;
  ro.doctor = 1;
  T_ERR(ward_pool_replace(p, sick, &ro), WARD_EREMOTE);
  says("doctor check 'schema' failed: version 7 needed, 6 found");
  expect_unchanged(p, pids, n);
  /* The same spec without the check is taken. */
  ro.doctor = 0;
  T_OK(ward_pool_replace(p, sick, &ro));
  char a[64];
  args_of(p, a, sizeof a);
  T_EQ_STR(a, "doctor_fails");
  ward_spec_free(sick);
  /* A doctor with warnings alone passes. */
  ward_spec *well = tw_spec("checked", "serve");
  T_OK(ward_spec_arg(well, "v2"));
  ro.doctor = 1;
  T_OK(ward_pool_replace(p, well, &ro));
  args_of(p, a, sizeof a);
  T_EQ_STR(a, "v2");
  int now[8];
  T_EQ_INT(pids_of(p, now, 8), n);
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++)
      T_TRUE(now[i] != pids[j]);
  ward_spec_free(well);
  ward_pool_free(p);
}
#endif

/* A pool that grows after a replacement grows with the new spec. */
static void test_replace_then_grow(void) {
  ward_spec *s = tw_spec("grown", "serve");
  ward_pool_opts o = WARD_POOL_OPTS_INIT;
  o.min_workers = 1;
  o.max_workers = 2;
  ward_pool *p;
  T_OK(ward_pool_new(&p, host, s, &o));
  T_OK(ward_spec_arg(s, "v2"));
  T_OK(ward_pool_replace(p, s, NULL));
  ward_spec_free(s);
  struct inflight c = {p, "work", "60000", -1, ""};
  pthread_t t;
  T_TRUE(pthread_create(&t, NULL, inflight_call, &c) == 0);
  wait_busy(p, 1);
  /* The only member is busy: this call grows the pool. */
  char a[64];
  args_of(p, a, sizeof a);
  T_EQ_STR(a, "v2");
  ward_pool_stats st = WARD_POOL_STATS_INIT;
  T_OK(ward_pool_info(&st, p));
  T_EQ_INT(st.workers, 2);
  T_EQ_INT(st.grown, 1);
  /* Ends the long call: its member's process is killed under it. */
  ward_worker *ws[2];
  T_EQ_INT(ward_pool_workers(ws, 2, p), 2);
  for (int i = 0; i < 2; i++)
    T_TRUE(kill_now(ward_worker_pid(ws[i])));
  pthread_join(t, NULL);
  T_ERR(c.rv, WARD_ECRASHED);
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
  T_RUN(test_replace_under_load);
  T_RUN(test_replace_drains);
  T_RUN(test_replace_broken_keeps_old);
#if TW_JSON
  T_RUN(test_replace_doctor);
#endif
  T_RUN(test_replace_then_grow);
  ward_host_free(host);
  return t_done();
}
