/*
 * test_loop.c — a host without a thread of its own, run by the program's
 * event loop: one descriptor, one dispatch function, every callback on the
 * program's thread, and blocking calls that still work.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "tevents.h"
#include "tworker.h"

static ward_host *host;
static pthread_t main_thread;
static int events_elsewhere, events_here;

static void on_event(const ward_event *ev, void *ud) {
  if (pthread_equal(pthread_self(), main_thread))
    events_here++;
  else
    events_elsewhere++;
  tev_on_event(ev, ud);
}

static int on_add(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  T_TRUE(pthread_equal(pthread_self(), main_thread));
  return ward_ctx_reply(ctx, d, n);
}

struct done {
  int calls, status;
};

static void on_done(ward_call *call, int status, ward_msg *reply, void *ud) {
  (void)call;
  struct done *d = ud;
  T_TRUE(pthread_equal(pthread_self(), main_thread));
  /* Not from here: this is the loop's own thread. */
  T_ERR(ward_host_dispatch(host, 0), WARD_EINVAL);
  d->calls++;
  d->status = status;
  ward_msg_free(reply);
}

/* The program's loop: wait on the host's descriptor (poll; on Windows
 * WaitForSingleObject on its HANDLE), dispatch when ready. */
static void run_until(struct done *d, int64_t limit_ms) {
  int64_t deadline = t_now_ms() + limit_ms;
  ward_os_handle fd = ward_host_fd(host);
  T_TRUE(fd != WARD_OS_HANDLE_ERROR);
  while (!d->calls) {
    if (t_wait_os_handle(fd, 1000))
      T_OK(ward_host_dispatch(host, 0));
    if (t_now_ms() > deadline)
      T_FAIL("the loop did not finish the call in %lld ms", (long long)limit_ms);
  }
}

static void test_threaded_host_has_no_fd(void) {
  ward_host *h;
  T_OK(ward_host_new(&h, NULL));
  T_TRUE(ward_host_fd(h) == WARD_OS_HANDLE_ERROR);
  T_ERR(ward_host_dispatch(h, 0), WARD_EINVAL);
  ward_host_free(h);
}

static void test_blocking_calls_work(void) {
  ward_worker *w;
  ward_spec *s = tw_spec("loop", "serve");
  /* No one dispatches: ward_spawn runs the loop itself while it waits. */
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  ward_msg *m = NULL;
  T_OK(ward_request(&m, w, "echo", "\"x\"", 3, 10000));
  ward_msg_free(m);
  /* A call to the host's handler runs it on this thread. */
  T_OK(ward_request(&m, w, "call_host", "7", 1, 10000));
  T_EQ_MEM(ward_msg_data(m), "7", 1);
  ward_msg_free(m);
  /* A crash: the call fails, and the next one waits for the restart by
   * running the loop. */
  T_ERR(ward_request(NULL, w, "abort", NULL, 0, 10000), WARD_ECRASHED);
  T_OK(ward_request(&m, w, "echo", "1", 1, 20000));
  ward_msg_free(m);
  T_EQ_INT(ward_worker_generation(w), 2);
  ward_worker_free(w);
  /* Every event ran on this thread. */
  T_TRUE(events_here >= 5);
  T_EQ_INT(events_elsewhere, 0);
}

static void test_async_calls_through_the_fd(void) {
  ward_worker *w;
  ward_spec *s = tw_spec("loop-async", "serve");
  T_OK(ward_spec_kill_on_timeout(s, 0));
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  struct done d = {0, 0};
  ward_call *call;
  T_OK(ward_call_start(&call, w, "work", "50", 2, NULL, on_done, &d));
  run_until(&d, 20000);
  T_OK(d.status);
  ward_call_free(call);
  /* A deadline is a timer: the descriptor wakes the loop for it. */
  struct done late = {0, 0};
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 200;
  int64_t t0 = t_now_ms();
  T_OK(ward_call_start(&call, w, "hang", NULL, 0, &o, on_done, &late));
  run_until(&late, 20000);
  T_ERR(late.status, WARD_ETIMEDOUT);
  T_TRUE(t_now_ms() - t0 >= 190);
  ward_call_free(call);
  ward_worker_free(w); /* it is stuck in "hang" */
  /* Waiting for a call on the loop's thread runs the loop meanwhile. */
  s = tw_spec("loop-wait", "serve");
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  struct done waited = {0, 0};
  T_OK(ward_call_start(&call, w, "work", "20", 2, NULL, on_done, &waited));
  T_OK(ward_call_wait(call, 20000));
  T_EQ_INT(waited.calls, 1);
  ward_call_free(call);
  ward_worker_free(w);
}

/* With an external loop whichever thread runs the loop starts processes,
 * so the host sets no WARD_PPID and its workers set no death signal: one
 * started on a thread that then ends lives on (protocol.md 2.3, 2.4). */
static void *spawn_on_thread(void *out) {
  ward_spec *s = tw_spec("loop-spawned", "serve");
  T_OK(ward_spawn(out, host, s));
  ward_spec_free(s);
  return NULL;
}

static void test_workers_outlive_the_thread_that_started_them(void) {
  ward_worker *w;
  pthread_t t;
  T_TRUE(pthread_create(&t, NULL, spawn_on_thread, &w) == 0);
  pthread_join(t, NULL);
  ward_msg *m = NULL;
  T_OK(ward_request(&m, w, "env", "WARD_PPID", 9, 10000));
  T_EQ_INT(ward_msg_len(m), 7);
  T_EQ_MEM(ward_msg_data(m), "(unset)", 7);
  ward_msg_free(m);
#if TW_POSIX /* a death signal is Linux's (a worker on Windows sets none) */
  T_OK(ward_request(&m, w, "pdeathsig", "", 0, 10000));
  T_EQ_INT(ward_msg_len(m), 1);
  T_EQ_MEM(ward_msg_data(m), "0", 1);
  ward_msg_free(m);
#endif
  T_EQ_INT(ward_worker_generation(w), 1);
  ward_worker_free(w);
}

/* Workers wait in the host's queue until the loop runs: one stopped or
 * freed before that is never started, and the others start in the order
 * they were queued. */
static void test_queued_workers(void) {
  enum { N = 6 };
  ward_spec *s = tw_spec("queued", "serve");
  T_OK(ward_spec_restart(s, WARD_RESTART_NEVER));
  ward_worker *w[N];
  uint64_t id[N];
  int mark = tev_mark();
  for (int i = 0; i < N; i++) {
    T_OK(ward_spawn_start(&w[i], host, s));
    id[i] = ward_worker_id(w[i]);
  }
  ward_spec_free(s);
  T_OK(ward_worker_stop(w[1], 1000)); /* still queued: nothing to end */
  ward_worker_free(w[3]);             /* runs the loop: the others start */
  w[3] = NULL;
  for (int i = 0; i < N; i++)
    if (i != 1 && i != 3)
      T_OK(ward_worker_wait_ready(w[i], 20000));
  T_EQ_INT(ward_worker_generation(w[1]), 0);
  T_EQ_INT(ward_worker_pid(w[1]), 0);
  pthread_mutex_lock(&tev_mu);
  int started = 0;
  for (int i = mark; i < tev_n; i++) {
    if (tev_log[i].type != WARD_EV_SPAWNED)
      continue;
    static const int order[] = {0, 2, 4, 5};
    T_TRUE(started < 4);
    T_TRUE(tev_log[i].worker_id == id[order[started]]);
    started++;
  }
  pthread_mutex_unlock(&tev_mu);
  T_EQ_INT(started, 4);
  for (int i = 0; i < N; i++)
    ward_worker_free(w[i]);
}

/* One thread runs the loop while others make blocking and asynchronous
 * calls and wait for them: each thread knows whether it is the loop's, and
 * no wait misses the end of its call. */
static ward_host *shared;
static ward_worker *shared_w;
static atomic_int stop_dispatch;
static atomic_int shared_failures;

static void *dispatcher(void *arg) {
  (void)arg;
  while (!atomic_load(&stop_dispatch))
    if (ward_host_dispatch(shared, 50) != WARD_OK)
      atomic_fetch_add(&shared_failures, 1);
  return NULL;
}

static void quiet_done(ward_call *call, int status, ward_msg *reply, void *ud) {
  (void)call, (void)status, (void)ud;
  ward_msg_free(reply);
}

static void *caller(void *arg) {
  long id = (long)(intptr_t)arg;
  for (int i = 0; i < 300; i++) {
    int rv;
    if ((i + id) & 1) {
      ward_msg *m = NULL;
      rv = ward_request(&m, shared_w, "echo", "\"x\"", 3, 20000);
      ward_msg_free(m);
    } else {
      ward_call *c;
      rv = ward_call_start(&c, shared_w, "echo", "\"x\"", 3, NULL, quiet_done, NULL);
      if (rv == WARD_OK) {
        rv = ward_call_wait(c, 20000);
        ward_call_free(c);
      }
    }
    if (rv != WARD_OK) {
      fprintf(stderr, "caller %ld call %d: %s (%s)\n", id, i, ward_err_name(rv),
              ward_last_error());
      atomic_fetch_add(&shared_failures, 1);
    }
  }
  return NULL;
}

static void test_loop_on_another_thread(void) {
  ward_host_opts o = WARD_HOST_OPTS_INIT;
  o.external_loop = 1;
  T_OK(ward_host_new(&shared, &o));
  ward_spec *s = tw_spec("loop-shared", "serve");
  T_OK(ward_spawn(&shared_w, shared, s));
  ward_spec_free(s);
  pthread_t d, t[3];
  T_TRUE(pthread_create(&d, NULL, dispatcher, NULL) == 0);
  for (intptr_t i = 0; i < 3; i++)
    T_TRUE(pthread_create(&t[i], NULL, caller, (void *)i) == 0);
  for (int i = 0; i < 3; i++)
    pthread_join(t[i], NULL);
  atomic_store(&stop_dispatch, 1);
  pthread_join(d, NULL);
  T_EQ_INT(atomic_load(&shared_failures), 0);
  ward_worker_free(shared_w);
  ward_host_free(shared);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
#ifndef _WIN32
  signal(SIGPIPE, SIG_IGN);
#endif
  main_thread = pthread_self();
  ward_host_opts o = WARD_HOST_OPTS_INIT;
  o.on_event = on_event;
  o.external_loop = 1;
  T_OK(ward_host_new(&host, &o));
  T_OK(ward_host_handle(host, "add", on_add, NULL));
  T_RUN(test_threaded_host_has_no_fd);
  T_RUN(test_blocking_calls_work);
  T_RUN(test_async_calls_through_the_fd);
  T_RUN(test_workers_outlive_the_thread_that_started_them);
  T_RUN(test_queued_workers);
  T_RUN(test_loop_on_another_thread);
  ward_host_free(host);
  return t_done();
}
