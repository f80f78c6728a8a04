/*
 * bench_spares.c — what a warm spare buys and costs: a crash, then the
 * next call, with and without a spare, in the same run.
 *
 * Figures (each value the mean of a few samples; both modes):
 *   crash -> next call    ward_request of "crash" (the worker aborts in
 *                         the call), which ends WARD_ECRASHED, then
 *                         ward_request of "noop", which waits for the new
 *                         process, until its reply: from the crash call's
 *                         end (the caller knows the worker crashed) to the
 *                         reply. Without a spare the new process is
 *                         started then (ward_spec_backoff(s, 0, 0, 200, 0):
 *                         no delay), today's path; with ward_spec_spares(1)
 *                         a spare that was ready takes over. Before each
 *                         crash the spare is let become ready, and then
 *                         20 ms pass (in both paths): the steady state
 *                         when crashes are rare, not a crash loop.
 *   crash sent -> next call
 *                         the same from before the crash call, abort and
 *                         exit notice included
 *   spare's cost          ward_info.spares_running (processes) and
 *                         .spares_rss_bytes (KiB), beside the worker's own
 *                         resident set
 *
 * Usage: bench_spares [--quick] [--reps N] [--json FILE]
 */
#include "bench.h"

static const bench_method methods[] = {{"crash", bench_m_crash}, {"noop", bench_m_noop}};

/* The quiet time before each crash, in both paths. */
#define SETTLE_US 20000

static ward_info info_of(ward_worker *w) {
  ward_info i = WARD_INFO_INIT;
  if (ward_worker_info(&i, w))
    die("ward_worker_info");
  return i;
}

/* Waits until the worker has `n` ready spares (a bench may poll). */
static void wait_spares(ward_worker *w, uint32_t n) {
  int64_t deadline = now_ns() + (int64_t)30e9;
  while (info_of(w).spares_ready != n) {
    if (now_ns() > deadline)
      die("no ready spare within 30 s");
    bench_nap_us(200);
  }
}

/* `n` crashes, each followed by a call; the means in ms from the crash
 * call's end and from its start to the next call's reply. */
static void crash_then_call(ward_worker *w, int spares, int n, double *noticed_ms,
                            double *sent_ms) {
  double sn = 0, ss = 0;
  for (int i = 0; i < n; i++) {
    if (spares)
      wait_spares(w, 1);
    else if (ward_request(NULL, w, "noop", NULL, 0, 30000))
      die("ward_request noop before the crash");
    /* Crashes are rare: the last one's aftermath (the old process's
     * teardown, the next spare's start) is over before the next. */
    bench_nap_us(SETTLE_US);
    int64_t t0 = now_ns();
    int rv = ward_request(NULL, w, "crash", NULL, 0, 30000);
    int64_t t1 = now_ns();
    if (rv != WARD_ECRASHED)
      die("the crash call ended %s", ward_err_name(rv));
    if (ward_request(NULL, w, "noop", NULL, 0, 30000))
      die("ward_request noop after the crash: %s", ward_last_error());
    int64_t t2 = now_ns();
    sn += (double)(t2 - t1);
    ss += (double)(t2 - t0);
  }
  *noticed_ms = sn / n / 1e6;
  *sent_ms = ss / n / 1e6;
}

static ward_worker *start(ward_host *h, const char *name, unsigned spares) {
  ward_spec *s = bench_spec(name, "--ward-child");
  ward_spec_backoff(s, 0, 0, 200, 0);
  ward_spec_intensity(s, 256, 600000);
  ward_spec_spares(s, spares);
  ward_worker *w;
  if (ward_spawn(&w, h, s))
    die("ward_spawn: %s", ward_last_error());
  ward_spec_free(s);
  return w;
}

static void run_mode(const bench_mode *mode) {
  bench_set_mode(mode);
  const int n = B.quick ? 1 : 10;
  ward_host *h;
  if (ward_host_new(&h, NULL))
    die("ward_host_new");
  ward_worker *cold = start(h, "cold", 0), *warm = start(h, "warm", 1);
  double x, cn[BENCH_MAXREPS], cs[BENCH_MAXREPS], wn[BENCH_MAXREPS], ws[BENCH_MAXREPS];
  crash_then_call(cold, 0, 1, &x, &x); /* warm-up */
  crash_then_call(warm, 1, 1, &x, &x);
  for (int i = 0; i < B.reps; i++) {
    crash_then_call(cold, 0, n, &cn[i], &cs[i]);
    crash_then_call(warm, 1, n, &wn[i], &ws[i]);
  }
  /* The cost, with the spare ready. */
  double procs[BENCH_MAXREPS], rss[BENCH_MAXREPS], own[BENCH_MAXREPS];
  for (int i = 0; i < B.reps; i++) {
    wait_spares(warm, 1);
    ward_info wi = info_of(warm);
    procs[i] = wi.spares_running;
    rss[i] = wi.spares_rss_bytes == WARD_UNKNOWN ? 0 : (double)wi.spares_rss_bytes / 1024;
    own[i] = wi.rss_bytes == WARD_UNKNOWN ? 0 : (double)wi.rss_bytes / 1024;
  }
  ward_worker_free(cold);
  ward_worker_free(warm);
  ward_host_free(h);

  char sec[160];
  snprintf(sec, sizeof sec, "crash -> next call served, %s: %d reps x %d", mode->label, B.reps,
           n);
  int a = row_add(sec, "no spare: crash noticed -> call", "ms", cn, B.reps);
  int b = row_add(sec, "1 spare: crash noticed -> call", "ms", wn, B.reps);
  row_vs(b, a);
  row_target(b, T_MED_LE, 0.2, "<= 0.2 ms");
  a = row_add(sec, "no spare: crash sent -> call", "ms", cs, B.reps);
  b = row_add(sec, "1 spare: crash sent -> call", "ms", ws, B.reps);
  row_vs(b, a);

  snprintf(sec, sizeof sec, "what a ready spare costs, %s", mode->label);
  row_add(sec, "spare processes", "procs", procs, B.reps);
  a = row_add(sec, "worker's own RSS", "KiB", own, B.reps);
  b = row_add(sec, "spares' RSS", "KiB", rss, B.reps);
  row_vs(b, a);
  bench_set_mode(NULL);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--ward-child") == 0)
    return bench_ward_child(methods, sizeof methods / sizeof methods[0]);
  bench_init("spares", argc, argv);
  bench_title("a crash, then the next call, with and without a warm spare");
  for (int m = 0; m < bench_nmodes(); m++)
    run_mode(&bench_modes[m]);
  bench_note("each crash comes 20 ms after the last one's aftermath (with a spare: after "
             "the next spare is ready), in both paths: crashes are rare; in a crash loop the "
             "spare's own start competes for the CPU");
  bench_note("'crash noticed' is when the crash call returned WARD_ECRASHED (the "
             "connection closed); the next call then waits for the exit to be reaped and a "
             "new process: started (no spare) or adopted (a ready spare, started earlier)");
  bench_report();
  return 0;
}
