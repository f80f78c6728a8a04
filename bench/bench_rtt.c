/*
 * bench_rtt.c — the round trip of a small request, ward against the raw
 * floor, measured in the same run.
 *
 * Figures (each value the mean round trip of one repetition; repetitions
 * alternate between the contenders so drift hits all alike):
 *   raw-block   socketpair ping-pong, parent blocks in read()
 *   raw-epoll   socketpair ping-pong, parent waits in epoll_wait()
 *   ward        ward_request() of 32 bytes to a worker echoing them
 *
 * Both modes are run: "same CPU" (the whole process and its children pinned
 * to CPU 0, which gives repeatable figures on VMs whose idle CPUs are slow
 * to wake) and "any CPU" (unpinned, noisy). The ratio ward / raw-epoll is
 * the figure to quote.
 *
 * Where valgrind is installed (and not with --quick), the instructions the
 * host process runs per round trip are counted too: the benchmark runs
 * itself under `valgrind --tool=callgrind --trace-children=no` (so the
 * worker runs natively) in a small mode doing N round trips, for two N,
 * and divides the difference of the Ir totals by the difference of the N:
 * start-up and tear-down cancel out.
 *
 * Usage: bench_rtt [--quick] [--reps N] [--json FILE]
 */
#include <dirent.h>
#include <sys/epoll.h>

#include "bench.h"

#define PAYLOAD 32

/* ---- the other ends ---- */

static int raw_child(int fd) {
  char buf[PAYLOAD];
  for (;;) {
    if (!read_full(fd, buf, PAYLOAD))
      return 0;
    write_full(fd, buf, PAYLOAD);
  }
}

static const bench_method methods[] = {{"echo", bench_m_echo}};

/* ---- raw ping-pong ---- */

typedef struct raw {
  int fd, ep;
  pid_t pid;
} raw;

static void raw_start(raw *r) {
  r->pid = raw_spawn("--raw-child", &r->fd);
  r->ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN};
  epoll_ctl(r->ep, EPOLL_CTL_ADD, r->fd, &ev);
}

static void raw_stop(raw *r) {
  close(r->ep);
  raw_reap(r->pid, r->fd);
}

static double raw_run(raw *r, int n, int use_epoll) {
  char buf[PAYLOAD];
  memset(buf, 'r', sizeof buf);
  double t0 = now_us();
  for (int i = 0; i < n; i++) {
    write_full(r->fd, buf, PAYLOAD);
    if (use_epoll) {
      struct epoll_event ev;
      while (epoll_wait(r->ep, &ev, 1, -1) != 1) {
      }
    }
    read_full(r->fd, buf, PAYLOAD);
  }
  return (now_us() - t0) / n;
}

static double ward_run(ward_worker *w, int n) {
  char buf[PAYLOAD];
  memset(buf, 'w', sizeof buf);
  double t0 = now_us();
  for (int i = 0; i < n; i++) {
    ward_msg *m;
    if (ward_request(&m, w, "echo", buf, PAYLOAD, 10000))
      die("ward_request");
    ward_msg_free(m);
  }
  return (now_us() - t0) / n;
}

static ward_worker *start_worker(ward_host **h) {
  if (ward_host_new(h, NULL))
    die("ward_host_new");
  ward_spec *s = bench_spec("echo", "--ward-child");
  ward_worker *w;
  if (ward_spawn(&w, *h, s))
    die("ward_spawn");
  ward_spec_free(s);
  return w;
}

/* One mode: a fresh host and raw pair, so the threads and children take
 * the main thread's affinity. */
static void run_mode(const bench_mode *mode, int iters) {
  bench_set_mode(mode);
  ward_host *h;
  ward_worker *w = start_worker(&h);
  raw r;
  raw_start(&r);
  /* Warm up both paths. */
  raw_run(&r, iters / 10 + 1, 1);
  ward_run(w, iters / 10 + 1);
  double vb[BENCH_MAXREPS], ve[BENCH_MAXREPS], vw[BENCH_MAXREPS];
  for (int i = 0; i < B.reps; i++) {
    vb[i] = raw_run(&r, iters, 0);
    ve[i] = raw_run(&r, iters, 1);
    vw[i] = ward_run(w, iters);
  }
  raw_stop(&r);
  ward_host_free(h);
  char sec[160];
  snprintf(sec, sizeof sec,
           "round trip, %d-byte request -> reply, 1 caller, %s: %d reps x %d round trips",
           PAYLOAD, mode->label, B.reps, iters);
  int rb = row_add(sec, "raw-block", "us", vb, B.reps);
  int re = row_add(sec, "raw-epoll", "us", ve, B.reps);
  int rw = row_add(sec, "ward", "us", vw, B.reps);
  row_vs(rb, re);
  row_vs(re, re);
  row_vs(rw, re);
  row_target(rw, T_RATIO_LE, 1.3, "<= 1.3x raw-epoll");
  bench_set_mode(NULL);
}

/* ---- instruction counts under callgrind ---- */

/* The host side of N round trips, for callgrind: pinned, so the counts do
 * not depend on which CPU wakes first. */
static int cg_mode(const char *what, int n) {
  bench_pin(1);
  if (strcmp(what, "ward") == 0) {
    ward_host *h;
    ward_worker *w = start_worker(&h);
    ward_run(w, n);
    ward_host_free(h);
  } else {
    raw r;
    raw_start(&r);
    raw_run(&r, n, 1);
    raw_stop(&r);
  }
  return 0;
}

/* Runs `self --cg-<what> n` under callgrind; returns the host process's
 * Ir total, or -1 (why in `err`). */
static double cg_run(const char *valgrind, const char *dir, const char *what, int n, char *err,
                     size_t errsz) {
  char outopt[4200], mode[32], count[32];
  snprintf(outopt, sizeof outopt, "--callgrind-out-file=%s/cg.%%p", dir);
  snprintf(mode, sizeof mode, "--cg-%s", what);
  snprintf(count, sizeof count, "%d", n);
  char *args[] = {(char *)valgrind, "--tool=callgrind", "--trace-children=no", "-q", outopt,
                  B.self, mode, count, NULL};
  char log[4200];
  snprintf(log, sizeof log, "%s/log.txt", dir);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid;
  int e = posix_spawn(&pid, valgrind, &fa, NULL, args, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (e) {
    snprintf(err, errsz, "cannot start valgrind: %s", strerror(e));
    return -1;
  }
  int st;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    char first[200] = "";
    FILE *lf = fopen(log, "r");
    if (lf) {
      if (!fgets(first, sizeof first, lf))
        first[0] = 0;
      fclose(lf);
    }
    first[strcspn(first, "\n")] = 0;
    snprintf(err, errsz, "the host under callgrind failed (status %d)%s%s", st,
             first[0] ? ": " : "", first);
    return -1;
  }
  /* The file of the process we started (a forked helper has its own). */
  char file[4300];
  snprintf(file, sizeof file, "%s/cg.%d", dir, (int)pid);
  FILE *f = fopen(file, "r");
  if (!f) {
    snprintf(err, errsz, "no callgrind output %.300s", file);
    return -1;
  }
  char line[512];
  double total = -1;
  while (fgets(line, sizeof line, f)) {
    unsigned long long v;
    if (sscanf(line, "totals: %llu", &v) == 1 || sscanf(line, "summary: %llu", &v) == 1)
      total = (double)v;
  }
  fclose(f);
  if (total < 0)
    snprintf(err, errsz, "no totals in %.300s", file);
  return total;
}

static void rm_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.')
        continue;
      char p[4400];
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      unlink(p);
    }
    closedir(d);
  }
  rmdir(dir);
}

static void callgrind_figures(void) {
  char valgrind[4200];
  if (!bench_which("valgrind", valgrind, sizeof valgrind)) {
    bench_note("valgrind is not installed: no instruction counts");
    return;
  }
  char dir[] = "/tmp/ward-bench-cg-XXXXXX";
  if (!mkdtemp(dir)) {
    bench_note("callgrind skipped: mkdtemp failed");
    return;
  }
  const int n1 = 500, n2 = 2500;
  const char *what[2] = {"raw", "ward"};
  double per[2];
  char err[512] = "";
  for (int i = 0; i < 2; i++) {
    double a = cg_run(valgrind, dir, what[i], n1, err, sizeof err);
    double b = a < 0 ? -1 : cg_run(valgrind, dir, what[i], n2, err, sizeof err);
    if (a < 0 || b < 0) {
      bench_note("callgrind figure skipped (%s): %s", what[i], err);
      rm_dir(dir);
      return;
    }
    per[i] = (b - a) / (n2 - n1);
  }
  rm_dir(dir);
  B.mode = "pinned"; /* the host under callgrind pins itself */
  char sec[160];
  snprintf(sec, sizeof sec,
           "instructions per round trip, host process only (callgrind Ir, (Ir(%d) - Ir(%d)) / %d)",
           n2, n1, n2 - n1);
  int rr = row_add(sec, "raw-epoll", "Ir", &per[0], 1);
  int rw = row_add(sec, "ward", "Ir", &per[1], 1);
  row_vs(rr, rr);
  row_vs(rw, rr);
  bench_note("callgrind counts user-space instructions of the host process (all its threads), "
             "not the kernel's and not the worker's; one run each, they repeat within a few "
             "hundred Ir");
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--raw-child") == 0)
    return raw_child(3);
  if (argc > 1 && strcmp(argv[1], "--ward-child") == 0)
    return bench_ward_child(methods, 1);
  if (argc > 2 && strncmp(argv[1], "--cg-", 5) == 0) {
    B.name = "rtt";
    if (readlink("/proc/self/exe", B.self, sizeof B.self - 1) <= 0)
      die("readlink");
    signal(SIGPIPE, SIG_IGN);
    return cg_mode(argv[1] + 5, atoi(argv[2]));
  }
  bench_init("rtt", argc, argv);
  printf("ward %s: small request round trip against the raw floor\n", ward_version_string());
  for (int m = 0; m < bench_nmodes(); m++)
    run_mode(&bench_modes[m], B.quick ? 200 : bench_modes[m].pinned ? 50000 : 10000);
  if (!B.quick)
    callgrind_figures();
  bench_note("ratios are the median of per-repetition ratios; cross-CPU (unpinned) figures "
             "pay the wake-up of an idle CPU and jump between runs (see perf-floor.md)");
  bench_report();
  return 0;
}
