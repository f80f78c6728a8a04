/*
 * bench_lifecycle.c — how long the life events of a worker take: start,
 * crash, replacement, cancellation; ward against the raw system calls, in
 * the same run.
 *
 * Figures (each value the mean of a few samples; both modes):
 *   spawn -> ready        ward_spawn of a minimal worker (it returns once the
 *                         handshake is done), against posix_spawn (Windows:
 *                         CreateProcessW) of the same executable, holding
 *                         one end of a socketpair (a named pipe), until the
 *                         first byte it writes there arrives;
 *                         with a default spec, and with one that inherits
 *                         stdout/stderr and has no data directory (what a
 *                         default spec adds per start: two pipes and a
 *                         directory)
 *   crash -> exit event   the host sends "crash" (the worker aborts: on
 *                         Windows, ends with a fail-fast status) until the
 *                         EXITED event runs, against a raw parent that
 *                         writes a byte to a child which then aborts, until
 *                         the child's pidfd is readable (Windows: until its
 *                         process handle is signalled)
 *   crash -> replacement  the same until the RESTARTED event (restart with
 *                         ward_spec_backoff(s, 0, 0, 200, 0): no delay),
 *                         against the raw exit notice followed by the raw
 *                         spawn -> first byte of a new child
 *   cancel -> call ended  ward_call_start of a call the worker is busy with,
 *                         then ward_call_cancel until its done callback runs;
 *                         and until the worker serves the next call
 *
 * Event times are taken in the event callback (the host's I/O thread), on
 * the same monotonic clock as the start times.
 *
 * Usage: bench_lifecycle [--quick] [--reps N] [--json FILE]
 */
#include <pthread.h>

#include "bench.h"

/* ------------------------------------------------------------------ */
/* The worker                                                          */

/* Says it started, then works until cancelled. */
static int m_slow(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  ward_ctx_progress(ctx, "1", 1);
  while (!ward_ctx_cancelled(ctx))
    bench_nap_us(20);
  return ward_ctx_fail(ctx, WARD_ECANCELED, "cancelled");
}

static const bench_method methods[] = {
    {"crash", bench_m_crash}, {"noop", bench_m_noop}, {"slow", m_slow}};

/* ------------------------------------------------------------------ */
/* Raw children                                                        */

/* Writes one byte, then waits for the parent to close the channel. */
static int raw_hello(bench_fd fd) {
  char c = 'h';
  write_full(fd, &c, 1);
  while (read_full(fd, &c, 1)) {
  }
  return 0;
}

/* Writes one byte, then crashes once it reads one. */
static int raw_crash(bench_fd fd) {
  char c = 'h';
  write_full(fd, &c, 1);
  if (read_full(fd, &c, 1))
    bench_crash_now();
  return 0;
}

/* ------------------------------------------------------------------ */
/* Events                                                              */

typedef struct evlog {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t watch;             /* the worker id whose events count */
  int64_t exited, restarted; /* times of its last ones */
  uint32_t exited_gen, restarted_gen;
} evlog;

static evlog E = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0};

static void on_event(const ward_event *ev, void *ud) {
  (void)ud;
  int64_t t = now_ns();
  pthread_mutex_lock(&E.mu);
  if (ev->worker_id != E.watch) {
    pthread_mutex_unlock(&E.mu);
    return;
  }
  if (ev->type == WARD_EV_EXITED) {
    E.exited = t;
    E.exited_gen = ev->generation;
  } else if (ev->type == WARD_EV_RESTARTED) {
    E.restarted = t;
    E.restarted_gen = ev->generation;
  }
  pthread_cond_broadcast(&E.cv);
  pthread_mutex_unlock(&E.mu);
}

/* Waits until the event of `gen` arrived; returns its time. */
static int64_t wait_event(uint32_t *genp, int64_t *timep, uint32_t gen) {
  pthread_mutex_lock(&E.mu);
  while (*genp != gen)
    pthread_cond_wait(&E.cv, &E.mu);
  int64_t t = *timep;
  pthread_mutex_unlock(&E.mu);
  return t;
}

/* ------------------------------------------------------------------ */
/* spawn -> ready                                                      */

static double ward_spawn_ms(ward_host *h, const ward_spec *s, int n) {
  double sum = 0;
  for (int i = 0; i < n; i++) {
    ward_worker *w;
    int64_t t0 = now_ns();
    if (ward_spawn(&w, h, s))
      die("ward_spawn");
    sum += (double)(now_ns() - t0);
    ward_worker_free(w);
  }
  return sum / n / 1e6;
}

/* Raw spawn -> the child's first byte; returns ns, the child and our end. */
static int64_t raw_first_byte(bench_pid *pid, bench_fd *fd) {
  int64_t t0 = now_ns();
  *pid = raw_spawn("--raw-hello", fd);
  char c;
  if (!read_full(*fd, &c, 1))
    die("raw child said nothing");
  return now_ns() - t0;
}

static double raw_spawn_ms(int n) {
  double sum = 0;
  for (int i = 0; i < n; i++) {
    bench_pid pid;
    bench_fd fd;
    sum += (double)raw_first_byte(&pid, &fd);
    raw_reap(pid, fd);
  }
  return sum / n / 1e6;
}

/* ------------------------------------------------------------------ */
/* crash -> exit, crash -> replacement                                 */

static void ward_crash_ms(ward_worker *w, int n, double *exit_ms, double *repl_ms) {
  double se = 0, sr = 0;
  for (int i = 0; i < n; i++) {
    uint32_t gen = ward_worker_generation(w);
    int64_t t0 = now_ns();
    if (ward_notify(w, "crash", NULL, 0))
      die("ward_notify crash");
    int64_t te = wait_event(&E.exited_gen, &E.exited, gen);
    int64_t tr = wait_event(&E.restarted_gen, &E.restarted, gen + 1);
    se += (double)(te - t0);
    sr += (double)(tr - t0);
  }
  *exit_ms = se / n / 1e6;
  *repl_ms = sr / n / 1e6;
}

static void raw_crash_ms(int n, double *exit_ms, double *repl_ms) {
  double se = 0, sr = 0;
  for (int i = 0; i < n; i++) {
    bench_fd fd;
    bench_pid pid = raw_spawn("--raw-crash", &fd);
    char c;
    if (!read_full(fd, &c, 1))
      die("raw child said nothing");
    bench_watch watch = raw_watch(pid);
    int64_t t0 = now_ns();
    write_full(fd, "x", 1);
    raw_wait_exit(pid, watch);
    int64_t te = now_ns();
    bench_pid npid;
    bench_fd nfd;
    raw_first_byte(&npid, &nfd);
    int64_t tr = now_ns();
    raw_reap(pid, fd);
    raw_reap(npid, nfd);
    se += (double)(te - t0);
    sr += (double)(tr - t0);
  }
  *exit_ms = se / n / 1e6;
  *repl_ms = sr / n / 1e6;
}

/* ------------------------------------------------------------------ */
/* cancel -> call ended                                                */

typedef struct cstate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int started, done, status;
  int64_t done_at;
} cstate;

static void on_progress(const void *d, size_t n, void *ud) {
  (void)d, (void)n;
  cstate *s = ud;
  pthread_mutex_lock(&s->mu);
  s->started = 1;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static void on_done(ward_call *call, int status, ward_msg *reply, void *ud) {
  (void)call;
  int64_t t = now_ns();
  cstate *s = ud;
  ward_msg_free(reply);
  pthread_mutex_lock(&s->mu);
  s->done = 1;
  s->status = status;
  s->done_at = t;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static void ward_cancel_us(ward_worker *w, int n, double *ended_us, double *free_us) {
  double se = 0, sf = 0;
  for (int i = 0; i < n; i++) {
    cstate s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0};
    ward_call_opts o = WARD_CALL_OPTS_INIT;
    o.timeout_ms = 30000;
    o.on_progress = on_progress;
    o.ud = &s;
    ward_call *call;
    if (ward_call_start(&call, w, "slow", NULL, 0, &o, on_done, &s))
      die("ward_call_start");
    pthread_mutex_lock(&s.mu);
    while (!s.started)
      pthread_cond_wait(&s.cv, &s.mu);
    pthread_mutex_unlock(&s.mu);
    int64_t t0 = now_ns();
    ward_call_cancel(call);
    pthread_mutex_lock(&s.mu);
    while (!s.done)
      pthread_cond_wait(&s.cv, &s.mu);
    int64_t te = s.done_at;
    int status = s.status;
    pthread_mutex_unlock(&s.mu);
    /* The next call is served once the handler has returned. */
    if (ward_request(NULL, w, "noop", NULL, 0, 30000))
      die("ward_request noop after cancel");
    int64_t tf = now_ns();
    ward_call_free(call);
    if (status != WARD_ECANCELED)
      die("a cancelled call ended with %s", ward_err_name(status));
    se += (double)(te - t0);
    sf += (double)(tf - t0);
  }
  *ended_us = se / n / 1e3;
  *free_us = sf / n / 1e3;
}

/* ------------------------------------------------------------------ */

static void run_mode(const bench_mode *mode) {
  bench_set_mode(mode);
  const int nspawn = B.quick ? 2 : 30, ncrash = B.quick ? 1 : 5, ncancel = B.quick ? 2 : 10;
  ward_host_opts ho = WARD_HOST_OPTS_INIT;
  ho.on_event = on_event;
  ward_host *h;
  if (ward_host_new(&h, &ho))
    die("ward_host_new");
  ward_spec *s = bench_spec("life", "--ward-child");
  ward_spec_backoff(s, 0, 0, 200, 0);
  ward_spec_intensity(s, 256, 600000);
  ward_spec_cancel_grace(s, 10000);

  /* The same without what a default spec adds per start (pipes capturing
   * stdout and stderr, a private data directory): what they cost. */
  ward_spec *lean = bench_spec("lean", "--ward-child");
  ward_spec_output(lean, WARD_OUTPUT_INHERIT);
  ward_spec_data_root(lean, NULL);

  /* spawn -> ready (warm-up first: page cache, dynamic loader). */
  ward_spawn_ms(h, s, 1);
  ward_spawn_ms(h, lean, 1);
  raw_spawn_ms(1);
  double sw[BENCH_MAXREPS], sl[BENCH_MAXREPS], sr[BENCH_MAXREPS];
  for (int i = 0; i < B.reps; i++) {
    sr[i] = raw_spawn_ms(nspawn);
    sw[i] = ward_spawn_ms(h, s, nspawn);
    sl[i] = ward_spawn_ms(h, lean, nspawn);
  }
  ward_spec_free(lean);

  /* crash -> exit, crash -> replacement; cancel. One long-lived worker. */
  ward_worker *w;
  if (ward_spawn(&w, h, s))
    die("ward_spawn");
  pthread_mutex_lock(&E.mu);
  E.watch = ward_worker_id(w);
  pthread_mutex_unlock(&E.mu);
  double ew[BENCH_MAXREPS], er[BENCH_MAXREPS], rw[BENCH_MAXREPS], rr[BENCH_MAXREPS];
  double x;
  ward_crash_ms(w, 1, &x, &x);
  raw_crash_ms(1, &x, &x);
  for (int i = 0; i < B.reps; i++) {
    raw_crash_ms(ncrash, &er[i], &rr[i]);
    ward_crash_ms(w, ncrash, &ew[i], &rw[i]);
  }
  double ce[BENCH_MAXREPS], cf[BENCH_MAXREPS];
  ward_cancel_us(w, 1, &x, &x);
  for (int i = 0; i < B.reps; i++)
    ward_cancel_us(w, ncancel, &ce[i], &cf[i]);
  ward_spec_free(s);
  ward_host_free(h);

  char sec[160];
  snprintf(sec, sizeof sec, "spawn -> ready, %s: %d reps x %d spawns", mode->label, B.reps,
           nspawn);
  int a = row_add(sec, "raw " BENCH_RAW_SPAWN " -> 1st byte", "ms", sr, B.reps);
  int b = row_add(sec, "ward_spawn", "ms", sw, B.reps);
  row_vs(b, a);
  row_target(b, T_RATIO_LE, 1.5, "<= 1.5x raw");
  b = row_add(sec, "ward_spawn, no capture, no dir", "ms", sl, B.reps);
  row_vs(b, a);

  snprintf(sec, sizeof sec, "crash (abort) -> exit noticed / replacement ready, %s: %d reps x %d",
           mode->label, B.reps, ncrash);
  a = row_add(sec, "raw " BENCH_RAW_EXIT, "ms", er, B.reps);
  b = row_add(sec, "ward EXITED event", "ms", ew, B.reps);
  row_vs(b, a);
  a = row_add(sec, "raw notice + respawn", "ms", rr, B.reps);
  b = row_add(sec, "ward RESTARTED event", "ms", rw, B.reps);
  row_vs(b, a);
  row_target(b, T_MED_LE, 3.0, "<= 3 ms");

  snprintf(sec, sizeof sec, "cancel -> call ended, %s: %d reps x %d", mode->label, B.reps,
           ncancel);
  row_add(sec, "ward_call_cancel -> done cb", "us", ce, B.reps);
  row_add(sec, "ward_call_cancel -> next call", "us", cf, B.reps);
  bench_set_mode(NULL);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--ward-child") == 0)
    return bench_ward_child(methods, sizeof methods / sizeof methods[0]);
  if (argc > 1 && strcmp(argv[1], "--raw-hello") == 0)
    return raw_hello(raw_child_end(argc > 2 ? argv[2] : NULL));
  if (argc > 1 && strcmp(argv[1], "--raw-crash") == 0)
    return raw_crash(raw_child_end(argc > 2 ? argv[2] : NULL));
  bench_init("lifecycle", argc, argv);
  bench_title("spawn, crash, replacement and cancel latencies against raw system calls");
  for (int m = 0; m < bench_nmodes(); m++)
    run_mode(&bench_modes[m]);
  bench_note("'cancel -> next call' includes the worker noticing the cancel (its handler "
             "polls ward_ctx_cancelled, which reads the socket at most once per ms) and a "
             "round trip");
  bench_report();
  return 0;
}
