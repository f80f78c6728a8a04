/*
 * test_nonblocking.c — lifecycle operations started from where nothing may
 * wait: event callbacks and host handlers, on the host's own thread, with
 * a threaded host and with a host driven by the program's loop. Each
 * completes with its event; a handle freed from a callback is released by
 * the loop once its worker has stopped.
 */
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "tevents.h"
#include "tworker.h"

/* What the event callback does when it sees a worker's READY (or EXITED). */
enum { DO_NOTHING, DO_STOP, DO_RESTART_ON_EXIT, DO_FREE };
static atomic_int plan;
/* The name of the worker the plan is for: set before its host starts its
 * thread, so that the first of its events already sees it. */
static char target[32];
static atomic_int begin_rv = 1;   /* what the operation returned (1: not run) */
static atomic_int blocking_rv = 1; /* what a blocking form returned there */
static char freed_dir[4096];       /* the data directory of the worker freed */

static void on_event(const ward_event *ev, void *ud) {
  (void)ud;
  tev_on_event(ev, NULL);
  if (strcmp(ev->name, target) != 0)
    return;
  int p = atomic_load(&plan);
  if (p == DO_STOP && ev->type == WARD_EV_READY) {
    atomic_store(&blocking_rv, ward_worker_stop(ev->worker, 100));
    atomic_store(&begin_rv, ward_worker_stop_begin(ev->worker, 5000));
    atomic_store(&plan, DO_NOTHING);
  } else if (p == DO_RESTART_ON_EXIT && ev->type == WARD_EV_EXITED) {
    atomic_store(&begin_rv, ward_worker_restart_begin(ev->worker));
    atomic_store(&plan, DO_NOTHING);
  } else if (p == DO_FREE && ev->type == WARD_EV_READY) {
    snprintf(freed_dir, sizeof freed_dir, "%s", ward_worker_data_dir(ev->worker));
    ward_worker_free(ev->worker);
    atomic_store(&begin_rv, 0);
    atomic_store(&plan, DO_NOTHING);
  }
}

/* A host handler: the worker asks for its own replacement. */
static int h_cycle_me(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  ward_worker *w = ward_ctx_worker(ctx);
  int rv = ward_worker_cycle_begin(w);
  char out[32];
  snprintf(out, sizeof out, "%d", rv);
  return ward_ctx_reply(ctx, out, strlen(out));
}

static ward_host *new_host(int external) {
  ward_host *h;
  ward_host_opts o = WARD_HOST_OPTS_INIT;
  o.on_event = on_event;
  o.external_loop = external;
  T_OK(ward_host_new(&h, &o));
  T_OK(ward_host_handle(h, "add", h_cycle_me, NULL)); /* what "call_host" calls */
  return h;
}

/* A worker of this binary that stays down when it exits; `wait`: as
 * ward_spawn, else as ward_spawn_start. */
static ward_worker *start(ward_host *h, const char *name, int wait) {
  ward_spec *s = tw_spec(name, "serve");
  T_OK(ward_spec_restart(s, WARD_RESTART_NEVER));
  ward_worker *w;
  T_OK(wait ? ward_spawn(&w, h, s) : ward_spawn_start(&w, h, s));
  ward_spec_free(s);
  return w;
}

/* Waits for an event, running the loop when the program owns it. */
static tev wait_event(ward_host *h, int external, int from, int type, uint64_t id) {
  if (external) {
    int64_t until = t_now_ms() + 20000;
    while (!tev_count_from(from, type, id) && t_now_ms() < until)
      T_OK(ward_host_dispatch(h, 50));
  }
  return tev_wait_from(from, type, id);
}

static int gone(const char *path) {
  struct stat st;
  return stat(path, &st) != 0;
}

/* From the READY event: the blocking stop is refused there, the one that
 * does not wait starts, and the STOPPED event says how it ended. */
static void stop_from_callback(int external) {
  snprintf(target, sizeof target, "stop-cb");
  atomic_store(&begin_rv, 1);
  atomic_store(&plan, DO_STOP);
  ward_host *h = new_host(external);
  int mark = tev_mark();
  ward_worker *w = start(h, "stop-cb", 0);
  uint64_t id = ward_worker_id(w);
  tev e = wait_event(h, external, mark, WARD_EV_STOPPED, id);
  T_EQ_INT(e.outcome, WARD_STOP_GRACEFUL);
  T_EQ_INT(atomic_load(&begin_rv), 0);
  T_EQ_INT(atomic_load(&blocking_rv), WARD_EINVAL);
  e = tev_wait_from(mark, WARD_EV_EXITED, id);
  T_EQ_INT(e.reason, WARD_REASON_STOPPED);
  ward_info info = WARD_INFO_INIT;
  T_OK(ward_worker_info(&info, w));
  T_EQ_INT(info.state, WARD_STATE_STOPPED);
  /* Nothing to cycle now; a stop of a stopped worker is nothing. */
  T_ERR(ward_worker_cycle_begin(w), WARD_ECLOSED);
  T_OK(ward_worker_stop_begin(w, 0));
  ward_worker_free(w);
  ward_host_free(h);
}

static void test_stop_from_callback(void) { stop_from_callback(0); }
static void test_stop_from_callback_external(void) { stop_from_callback(1); }

/* From a host handler: the worker that called is replaced. */
static void cycle_from_handler(int external) {
  ward_host *h = new_host(external);
  int mark = tev_mark();
  ward_worker *w = start(h, "cycle-cb", 0);
  uint64_t id = ward_worker_id(w);
  wait_event(h, external, mark, WARD_EV_READY, id);
  /* The worker calls the host, whose handler asks for the replacement:
   * it comes once this call has ended. */
  ward_msg *m = NULL;
  T_OK(ward_request(&m, w, "call_host", "1", 1, 10000));
  T_EQ_MEM(ward_msg_data(m), "0", 1); /* what ward_worker_cycle_begin returned */
  ward_msg_free(m);
  tev e = wait_event(h, external, mark, WARD_EV_RESTARTED, id);
  T_EQ_INT(e.generation, 2);
  e = tev_wait_from(mark, WARD_EV_EXITED, id);
  T_EQ_INT(e.reason, WARD_REASON_CYCLE);
  ward_worker_free(w);
  ward_host_free(h);
}

static void test_cycle_from_handler(void) { cycle_from_handler(0); }
static void test_cycle_from_handler_external(void) { cycle_from_handler(1); }

/* From the EXITED event of a worker that stays down: it comes back. */
static void test_restart_from_callback(void) {
  snprintf(target, sizeof target, "restart-cb");
  atomic_store(&begin_rv, 1);
  atomic_store(&plan, DO_NOTHING);
  ward_host *h = new_host(0);
  int mark = tev_mark();
  ward_worker *w = start(h, "restart-cb", 1);
  uint64_t id = ward_worker_id(w);
  atomic_store(&plan, DO_RESTART_ON_EXIT);
  T_ERR(ward_request(NULL, w, "exit", "0", 1, 10000), WARD_ECRASHED);
  tev_wait_from(mark, WARD_EV_EXITED, id);
  int ready = tev_wait_idx(tev_wait_idx(mark, WARD_EV_EXITED, id), WARD_EV_READY, id);
  T_EQ_INT(tev_get(ready).generation, 2);
  T_EQ_INT(atomic_load(&begin_rv), 0);
  T_OK(ward_ping(w, 10000));
  ward_worker_free(w);
  ward_host_free(h);
}

/* From the READY event: the handle is freed there; the worker stops, and
 * the loop releases the handle (its data directory goes with it). */
static void free_from_callback(int external) {
  snprintf(target, sizeof target, "free-cb");
  freed_dir[0] = 0;
  atomic_store(&begin_rv, 1);
  atomic_store(&plan, DO_FREE);
  ward_host *h = new_host(external);
  int mark = tev_mark();
  ward_worker *w = start(h, "free-cb", 0);
  uint64_t id = ward_worker_id(w);
  /* `w` may be gone from here on: only its id is used. */
  tev e = wait_event(h, external, mark, WARD_EV_STOPPED, id);
  const char *dir = freed_dir;
  T_TRUE(t_path_absolute(dir));
  T_EQ_INT(e.outcome, WARD_STOP_GRACEFUL);
  int64_t until = t_now_ms() + 20000;
  while (!gone(dir) && t_now_ms() < until) {
    if (external)
      T_OK(ward_host_dispatch(h, 10));
    else
      nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
  }
  if (!gone(dir))
    T_FAIL("the handle freed from a callback was not released (%s is still there)", dir);
  /* The host goes on with other workers. */
  if (!external) {
    ward_worker *other = start(h, "after-free", 1);
    T_OK(ward_ping(other, 10000));
    ward_worker_free(other);
  }
  ward_host_free(h);
}

static void test_free_from_callback(void) { free_from_callback(0); }
static void test_free_from_callback_external(void) { free_from_callback(1); }

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
#ifdef SIGPIPE /* not on Windows, where pipes raise no signal */
  signal(SIGPIPE, SIG_IGN);
#endif
  T_RUN(test_stop_from_callback);
  T_RUN(test_stop_from_callback_external);
  T_RUN(test_cycle_from_handler);
  T_RUN(test_cycle_from_handler_external);
  T_RUN(test_restart_from_callback);
  T_RUN(test_free_from_callback);
  T_RUN(test_free_from_callback_external);
  return t_done();
}
