/*
 * soak_cycles.c — one host through many lifecycles, watching for growth.
 *
 *   soak_cycles [--cycles N] [--every K]
 *
 * Two phases, each N cycles (default 10000) in one host:
 *   spawn-stop     ward_spawn -> ward_request("echo") -> ward_worker_free
 *   crash-restart  one worker (restart always, no backoff, no restart
 *                  limit): a call that kills the process (WARD_ECRASHED),
 *                  then a call that waits for the new process and succeeds
 * Every K cycles (default 1000) it prints the host's open descriptors and
 * resident set. The first report of a phase is its baseline (what a host
 * keeps anyway is in place by then); a later report with more descriptors,
 * or a resident set over the baseline by more than 4 MiB, is growth: the
 * program says so and exits 1. `make soak` runs it with the defaults;
 * `make check` runs it briefly (--cycles 300 --every 100) so it cannot rot.
 */
#include <signal.h>

#include "tworker.h"
#include "test.h"

#define RSS_SLACK_KIB (4 * 1024)

static long cycles = 10000, every = 1000;
static int grew;

typedef struct watch {
  const char *phase;
  int fds0;
  long rss0;
  int64_t t0;   /* the start of this report's cycles */
  long from;    /* cycles done at t0 */
} watch;

static void report(watch *wt, long done) {
  int fds = tw_count_fds();
  long rss = t_rss_kib();
  if (wt->fds0 < 0) {
    wt->fds0 = fds;
    wt->rss0 = rss;
  }
  int64_t now = t_now_ms();
  double ms = (double)(now - wt->t0) / (double)(done - wt->from);
  wt->t0 = now;
  wt->from = done;
  printf("%-14s %7ld cycles  %4d fds  %7ld KiB RSS  %6.2f ms/cycle\n", wt->phase, done, fds,
         rss, ms);
  fflush(stdout);
  if (fds > wt->fds0) {
    printf("   growth: %d descriptors open, %d after the first %ld cycles\n", fds, wt->fds0, every);
    grew = 1;
  }
  if (RSS_MEANINGFUL && rss > wt->rss0 + RSS_SLACK_KIB) {
    printf("   growth: %ld KiB resident, %ld after the first %ld cycles\n", rss, wt->rss0, every);
    grew = 1;
  }
}

static void spawn_stop(ward_host *h) {
  watch wt = {"spawn-stop", -1, 0, t_now_ms(), 0};
  ward_spec *s = tw_spec("soak", "serve");
  for (long i = 1; i <= cycles; i++) {
    ward_worker *w;
    ward_msg *m = NULL;
    T_OK(ward_spawn(&w, h, s));
    T_OK(ward_request(&m, w, "echo", "soak", 4, 10000));
    T_EQ_MEM(ward_msg_data(m), "soak", 4);
    ward_msg_free(m);
    ward_worker_free(w);
    if (i % every == 0)
      report(&wt, i);
  }
  ward_spec_free(s);
}

static void crash_restart(ward_host *h) {
  watch wt = {"crash-restart", -1, 0, t_now_ms(), 0};
  ward_spec *s = tw_spec("soak-crash", "serve");
  T_OK(ward_spec_restart(s, WARD_RESTART_ALWAYS));
  T_OK(ward_spec_intensity(s, 256, 0)); /* a window of 0 ms: no limit */
  T_OK(ward_spec_backoff(s, 0, 0, 100, 0));
  ward_worker *w;
  T_OK(ward_spawn(&w, h, s));
  ward_spec_free(s);
  for (long i = 1; i <= cycles; i++) {
    uint32_t gen = ward_worker_generation(w);
    T_ERR(ward_request(NULL, w, "sigkill", NULL, 0, 10000), WARD_ECRASHED);
    T_OK(ward_request(NULL, w, "echo", "x", 1, 10000));
    T_TRUE(ward_worker_generation(w) == gen + 1);
    if (i % every == 0)
      report(&wt, i);
  }
  ward_worker_free(w);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--cycles") == 0)
      cycles = atol(argv[i + 1]);
    else if (strcmp(argv[i], "--every") == 0)
      every = atol(argv[i + 1]);
  }
  if (cycles < 1 || every < 1 || (argc - 1) % 2) {
    fprintf(stderr, "usage: soak_cycles [--cycles N] [--every K]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  ward_host *h;
  T_OK(ward_host_new(&h, NULL));
  spawn_stop(h);
  crash_restart(h);
  ward_host_free(h);
  if (grew) {
    printf("FAIL: the host grew\n");
    return 1;
  }
  printf("no growth over %ld + %ld cycles\n", cycles, cycles);
  return 0;
}
