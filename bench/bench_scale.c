/*
 * bench_scale.c — one host, 1000 workers: how long it takes to start them
 * all, to ping them all, to stop them all, and what each costs the host in
 * memory.
 *
 * Each repetition runs in a fresh process (this program re-executed with
 * --scale-rep N), so that memory freed by one repetition and kept by the
 * allocator does not hide the next one's. That process raises
 * RLIMIT_NOFILE to its hard limit, creates a host, reads its resident set
 * (VmRSS), starts N workers one after the other (ward_spawn returns once a
 * worker's handshake is done), pings each once, reads its resident set
 * again, and frees the host (which stops every worker). Host memory per
 * worker is (RSS after - RSS before) / N. Unpinned.
 *
 * Usage: bench_scale [--quick] [--reps N] [--json FILE]
 */
#include "bench.h"

static int m_noop(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  return ward_ctx_reply(ctx, NULL, 0);
}

static const bench_method methods[] = {{"noop", m_noop}};

typedef struct rep {
  double spawn_ms, ping_ms, stop_ms, rss_kib, rss_before, rss_after;
} rep;

/* One repetition, in its own process: prints the figures on stdout. */
static int scale_rep(int n) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  ward_host *h;
  if (ward_host_new(&h, NULL))
    die("ward_host_new");
  ward_spec *s = bench_spec("w", "--ward-child");
  ward_worker **w = calloc((size_t)n, sizeof *w);
  if (!w)
    die("calloc");
  long before = bench_rss_kib();
  int64_t t0 = now_ns();
  for (int i = 0; i < n; i++)
    if (ward_spawn(&w[i], h, s))
      die("ward_spawn of worker %d", i + 1);
  int64_t t1 = now_ns();
  for (int i = 0; i < n; i++)
    if (ward_ping(w[i], 10000))
      die("ward_ping of worker %d", i + 1);
  int64_t t2 = now_ns();
  long after = bench_rss_kib();
  ward_spec_free(s);
  ward_host_free(h);
  int64_t t3 = now_ns();
  free(w);
  printf("%f %f %f %f %ld %ld\n", (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6,
         (double)(t3 - t2) / 1e6, (double)(after - before) / n, before, after);
  return 0;
}

static rep run_rep(int n) {
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC))
    die("pipe");
  char count[32];
  snprintf(count, sizeof count, "%d", n);
  char *args[] = {B.self, "--scale-rep", count, NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
  pid_t pid;
  int e = posix_spawn(&pid, B.self, &fa, NULL, args, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(pfd[1]);
  if (e) {
    errno = e;
    die("posix_spawn");
  }
  char buf[512];
  size_t have = 0;
  ssize_t r;
  while (have < sizeof buf - 1 && (r = read(pfd[0], buf + have, sizeof buf - 1 - have)) > 0)
    have += (size_t)r;
  buf[have] = 0;
  close(pfd[0]);
  int st;
  waitpid(pid, &st, 0);
  rep x;
  long before, after;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
      sscanf(buf, "%lf %lf %lf %lf %ld %ld", &x.spawn_ms, &x.ping_ms, &x.stop_ms, &x.rss_kib,
             &before, &after) != 6)
    die("the repetition with %d workers failed (status %d)", n, st);
  x.rss_before = (double)before;
  x.rss_after = (double)after;
  return x;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--ward-child") == 0)
    return bench_ward_child(methods, 1);
  if (argc > 2 && strcmp(argv[1], "--scale-rep") == 0) {
    B.name = "scale";
    if (readlink("/proc/self/exe", B.self, sizeof B.self - 1) <= 0)
      die("readlink");
    signal(SIGPIPE, SIG_IGN);
    return scale_rep(atoi(argv[2]));
  }
  bench_init("scale", argc, argv);
  int n = B.quick ? 10 : 1000;
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  printf("ward %s: %d workers on one host (RLIMIT_NOFILE raised to %llu)\n",
         ward_version_string(), n, (unsigned long long)rl.rlim_max);
  fflush(stdout);
  double sp[BENCH_MAXREPS], spw[BENCH_MAXREPS], pg[BENCH_MAXREPS], pgw[BENCH_MAXREPS];
  double st[BENCH_MAXREPS], rss[BENCH_MAXREPS], rb[BENCH_MAXREPS], ra[BENCH_MAXREPS];
  for (int i = 0; i < B.reps; i++) {
    rep x = run_rep(n);
    sp[i] = x.spawn_ms;
    spw[i] = x.spawn_ms / n;
    pg[i] = x.ping_ms;
    pgw[i] = x.ping_ms * 1e3 / n;
    st[i] = x.stop_ms;
    rss[i] = x.rss_kib;
    rb[i] = x.rss_before / 1024;
    ra[i] = x.rss_after / 1024;
  }
  B.mode = "unpinned";
  char sec[160];
  snprintf(sec, sizeof sec, "%d workers on one host, any CPU (unpinned): %d reps, each in a "
           "fresh host process", n, B.reps);
  row_add(sec, "spawn all (one after another)", "ms", sp, B.reps);
  row_add(sec, "spawn, per worker", "ms", spw, B.reps);
  row_add(sec, "ping all (one after another)", "ms", pg, B.reps);
  row_add(sec, "ping, per worker", "us", pgw, B.reps);
  row_add(sec, "stop all (ward_host_free)", "ms", st, B.reps);
  row_add(sec, "host RSS before spawning", "MiB", rb, B.reps);
  row_add(sec, "host RSS with all running", "MiB", ra, B.reps);
  int r = row_add(sec, "host RSS per worker", "KiB", rss, B.reps);
  row_target(r, T_MED_LE, 64, "<= 64 KiB");
  bench_report();
  return 0;
}
