/*
 * bench_scale.c — one host, many workers: whether what a worker costs
 * stays the same with 1,000 workers and with 8,000 (on the posix
 * backend, 125 and 1,000), ward against raw posix_spawn of the same count,
 * in the same run.
 *
 * Figures (unpinned):
 *   N workers       a host starts N workers one after the other (ward_spawn
 *                   returns once a worker's handshake is done), pings each
 *                   once, and frees the host (which stops each in turn): the
 *                   time per worker of each phase, and the host's memory per
 *                   worker ((RSS with all running - RSS before) / N). The
 *                   raw baseline posix_spawns N children one after the other
 *                   until each child's first byte arrives, holding for each
 *                   the descriptors ward holds for a worker (a socket and a
 *                   pidfd, and two pipes when output is captured), pings
 *                   each with a byte, and stops each by closing its socket
 *                   and waiting for its exit.
 *   growth          each per-worker figure at 8,000 against 1,000 (target:
 *                   ward's spawn within 1.3x).
 *   descriptors     spawn -> ready of one worker at a time from a host that
 *                   holds D extra descriptors (not close-on-exec), opened
 *                   after the host was created or before, against one that
 *                   holds none; the raw baseline does the same (its children
 *                   inherit them, as a plain posix_spawn does).
 *
 * Every repetition runs in a fresh process (this program re-executed with
 * --scale-rep), so that memory freed by one and kept by the allocator does
 * not hide the next one's; repetitions alternate between ward and raw.
 * Each such process raises RLIMIT_NOFILE to its hard limit (the main
 * process first tries to raise the hard limit to what the largest count
 * needs, which only a privileged user may). Workers capture their output
 * (four descriptors per worker in the host; five on the posix backend)
 * when the limit allows it at the largest count, else discard it (two per
 * worker; three); the sections say which, and a note says why.
 *
 * Usage: bench_scale [--quick] [--reps N] [--json FILE]
 */
#include <sys/syscall.h>

#include "bench.h"

static int m_noop(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  return ward_ctx_reply(ctx, NULL, 0);
}

static const bench_method methods[] = {{"noop", m_noop}};

/* Host descriptors per worker: its socket and what tells of its exit (a
 * pidfd on the linux backend, a pipe's two ends on the posix backend:
 * src/posix/proc.c), and the read ends of two pipes when its output is
 * captured. A margin for the rest of the host. */
#define FDS_EXIT (strcmp(WARD__BACKEND_NAME, "posix") == 0 ? 2 : 1)
#define FDS_CAPTURE (1 + FDS_EXIT + 2)
#define FDS_DISCARD (1 + FDS_EXIT)
#define FDS_MARGIN 256

/* ------------------------------------------------------------------ */
/* The children                                                        */

/* Raw: says it started with one byte, then echoes bytes until the end. */
static int raw_child(int fd) {
  char c = 'h';
  write_full(fd, &c, 1);
  while (read_full(fd, &c, 1))
    write_full(fd, &c, 1);
  return 0;
}

/* ------------------------------------------------------------------ */
/* One repetition, in its own process                                  */

typedef struct rep {
  double spawn_us, ping_us, stop_us, rss_kib; /* per worker */
} rep;

static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static void print_rep(int n, int64_t t0, int64_t t1, int64_t t2, int64_t t3, long before,
                      long after) {
  printf("%f %f %f %f\n", (double)(t1 - t0) / 1e3 / n, (double)(t2 - t1) / 1e3 / n,
         (double)(t3 - t2) / 1e3 / n, (double)(after - before) / n);
}

static int ward_rep(int n, int capture) {
  ward_host *h;
  if (ward_host_new(&h, NULL))
    die("ward_host_new");
  ward_spec *s = bench_spec("w", "--ward-child");
  ward_spec_output(s, capture ? WARD_OUTPUT_CAPTURE : WARD_OUTPUT_DISCARD);
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
  print_rep(n, t0, t1, t2, t3, before, after);
  return 0;
}

typedef struct rawkid {
  pid_t pid;
  int fd, pidfd, out, err;
} rawkid;

/* posix_spawn of the raw child with a socket on fd 3 and, when
 * capturing, its stdout and stderr on pipes; then its first byte. */
static void raw_start(rawkid *k, int capture) {
  int sv[2], po[2] = {-1, -1}, pe[2] = {-1, -1};
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
    die("socketpair");
  if (capture && (pipe2(po, O_CLOEXEC) || pipe2(pe, O_CLOEXEC)))
    die("pipe2");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
  if (capture) {
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
  }
  char *args[] = {B.self, "--raw-child", NULL};
  int e = posix_spawn(&k->pid, B.self, &fa, NULL, args, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (e) {
    errno = e;
    die("posix_spawn");
  }
  close(sv[1]);
  if (capture) {
    close(po[1]);
    close(pe[1]);
  }
  k->fd = sv[0];
  k->out = po[0];
  k->err = pe[0];
  k->pidfd = (int)syscall(SYS_pidfd_open, k->pid, 0);
  char c;
  if (!read_full(k->fd, &c, 1))
    die("raw child said nothing");
}

static void raw_stop(rawkid *k) {
  close(k->fd);
  waitpid(k->pid, NULL, 0);
  if (k->pidfd >= 0)
    close(k->pidfd);
  if (k->out >= 0) {
    close(k->out);
    close(k->err);
  }
}

static int raw_rep(int n, int capture) {
  rawkid *k = calloc((size_t)n, sizeof *k);
  if (!k)
    die("calloc");
  long before = bench_rss_kib();
  int64_t t0 = now_ns();
  for (int i = 0; i < n; i++)
    raw_start(&k[i], capture);
  int64_t t1 = now_ns();
  for (int i = 0; i < n; i++) {
    char c = 'p';
    write_full(k[i].fd, &c, 1);
    if (!read_full(k[i].fd, &c, 1))
      die("raw child %d gone", i + 1);
  }
  int64_t t2 = now_ns();
  long after = bench_rss_kib();
  for (int i = n - 1; i >= 0; i--)
    raw_stop(&k[i]);
  int64_t t3 = now_ns();
  free(k);
  print_rep(n, t0, t1, t2, t3, before, after);
  return 0;
}

/* Opens `d` descriptors that are not close-on-exec (pipes). */
static void hold_fds(int d) {
  for (int i = 0; i + 1 < d; i += 2) {
    int p[2];
    if (pipe(p))
      die("pipe (holding %d descriptors)", d);
  }
}

/* `m` spawns one at a time, each stopped before the next, from a host
 * holding `d` extra descriptors, opened before the host was created
 * (`early`) or after: the mean spawn -> ready (the first byte for raw), in
 * the first field. */
static int fds_rep(int is_ward, int early, int m, int d) {
  if (early || !is_ward)
    hold_fds(d);
  double sum = 0;
  if (is_ward) {
    ward_host *h;
    if (ward_host_new(&h, NULL))
      die("ward_host_new");
    if (!early)
      hold_fds(d);
    ward_spec *s = bench_spec("w", "--ward-child");
    for (int i = 0; i <= m; i++) { /* the first one warms up */
      ward_worker *w;
      int64_t t0 = now_ns();
      if (ward_spawn(&w, h, s))
        die("ward_spawn with %d descriptors held", d);
      if (i)
        sum += (double)(now_ns() - t0);
      ward_worker_free(w);
    }
    ward_spec_free(s);
    ward_host_free(h);
  } else {
    for (int i = 0; i <= m; i++) {
      rawkid k;
      int64_t t0 = now_ns();
      raw_start(&k, 1);
      if (i)
        sum += (double)(now_ns() - t0);
      raw_stop(&k);
    }
  }
  printf("%f 0 0 0\n", sum / 1e3 / m);
  return 0;
}

/* Runs one repetition in a fresh process: `mode` is "ward", "raw",
 * "ward-fds", "ward-fds-early" or "raw-fds". */
static rep run_rep(const char *mode, int n, int arg) {
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC))
    die("pipe");
  char count[32], extra[32];
  snprintf(count, sizeof count, "%d", n);
  snprintf(extra, sizeof extra, "%d", arg);
  char *args[] = {B.self, "--scale-rep", (char *)mode, count, extra, NULL};
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
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
      sscanf(buf, "%lf %lf %lf %lf", &x.spawn_us, &x.ping_us, &x.stop_us, &x.rss_kib) != 4)
    die("the %s repetition with %d failed (status %d)", mode, n, st);
  return x;
}

static int rep_main(const char *mode, int n, int arg) {
  B.name = "scale";
  bench_os_init();
  raise_nofile();
  if (strcmp(mode, "ward") == 0)
    return ward_rep(n, arg);
  if (strcmp(mode, "raw") == 0)
    return raw_rep(n, arg);
  return fds_rep(strncmp(mode, "ward", 4) == 0, strcmp(mode, "ward-fds-early") == 0, n, arg);
}

/* ------------------------------------------------------------------ */
/* The run                                                             */

/* Per-repetition figures of one contender at one count. */
typedef struct series {
  double spawn[BENCH_MAXREPS], ping[BENCH_MAXREPS], stop[BENCH_MAXREPS], rss[BENCH_MAXREPS];
} series;

/* Rows of one count; returns the index of ward's spawn row (the others
 * follow it: raw spawn, ward ping, raw ping, ward stop, raw stop). */
static int count_rows(int n, const char *out, const series *w, const series *r) {
  char sec[160];
  snprintf(sec, sizeof sec, "%d workers on one host, output %s, any CPU (unpinned): %d reps, "
           "each in a fresh process", n, out, B.reps);
  int first = -1;
  const char *what[3] = {"spawn", "ping", "stop"};
  for (int k = 0; k < 3; k++) {
    const double *wv = k == 0 ? w->spawn : k == 1 ? w->ping : w->stop;
    const double *rv = k == 0 ? r->spawn : k == 1 ? r->ping : r->stop;
    char name[64];
    snprintf(name, sizeof name, "raw %s /worker, %d", what[k], n);
    int a = row_add(sec, name, "us", rv, B.reps);
    snprintf(name, sizeof name, "ward %s /worker, %d", what[k], n);
    int b = row_add(sec, name, "us", wv, B.reps);
    row_vs(b, a);
    if (first < 0)
      first = b;
  }
  int m = row_add(sec, "host RSS per worker", "KiB", w->rss, B.reps);
  row_target(m, T_MED_LE, 64, "<= 64 KiB");
  return first;
}

/* Chooses the largest count and whether output is captured, from the
 * descriptor limit (raising the hard limit if we may). */
static int plan(int want, int *capture) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rlim_t need = (rlim_t)want * FDS_CAPTURE + FDS_MARGIN;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
    struct rlimit up = {need, need};
    if (setrlimit(RLIMIT_NOFILE, &up) == 0)
      rl = up;
  }
  rlim_t max = rl.rlim_max;
  *capture = max == RLIM_INFINITY || max >= need;
  if (*capture)
    return want;
  int n = want;
  if (max < (rlim_t)want * FDS_DISCARD + FDS_MARGIN)
    n = max > FDS_MARGIN ? (int)((max - FDS_MARGIN) / FDS_DISCARD) / 1000 * 1000 : 0;
  bench_note("RLIMIT_NOFILE's hard limit is %llu: workers discard their output (%d host "
             "descriptors per worker instead of %d)%s",
             (unsigned long long)max, FDS_DISCARD, FDS_CAPTURE,
             n < want ? ", and the largest count is lowered to fit" : "");
  return n;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--ward-child") == 0)
    return bench_ward_child(methods, 1);
  if (argc > 1 && strcmp(argv[1], "--raw-child") == 0)
    return raw_child(3);
  if (argc > 4 && strcmp(argv[1], "--scale-rep") == 0)
    return rep_main(argv[2], atoi(argv[3]), atoi(argv[4]));
  bench_init("scale", argc, argv);
  /* The posix backend's loop polls every descriptor on each turn, and its
   * SIGCHLD handler writes to every live worker's pipe (src/posix/): per
   * worker, spawn and stop grow with the count, and 8,000 workers would
   * take hours. Its counts are eight times smaller, in the same ratio. */
  int posix = strcmp(WARD__BACKEND_NAME, "posix") == 0;
  int capture;
  int counts[2] = {B.quick ? 10 : posix ? 125 : 1000, 0};
  counts[1] = plan(B.quick ? 20 : posix ? 1000 : 8000, &capture);
  if (posix && !B.quick)
    bench_note("posix backend: 125 and 1,000 workers instead of 1,000 and 8,000 (its poll loop "
               "and SIGCHLD handling cost each worker more the more workers there are)");
  if (counts[1] <= counts[0])
    die("RLIMIT_NOFILE is too low for %d workers", counts[0] * 2);
  const char *out = capture ? "captured" : "discarded";
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  char title[160];
  snprintf(title, sizeof title,
           "%d and %d workers on one host (output %s, RLIMIT_NOFILE up to %llu)", counts[0],
           counts[1], out, (unsigned long long)rl.rlim_max);
  bench_title(title);
  fflush(stdout);

  static series ws[2], rs[2];
  for (int i = 0; i < B.reps; i++) {
    for (int c = 0; c < 2; c++) {
      rep x = run_rep("ward", counts[c], capture);
      ws[c].spawn[i] = x.spawn_us;
      ws[c].ping[i] = x.ping_us;
      ws[c].stop[i] = x.stop_us;
      ws[c].rss[i] = x.rss_kib;
      x = run_rep("raw", counts[c], capture);
      rs[c].spawn[i] = x.spawn_us;
      rs[c].ping[i] = x.ping_us;
      rs[c].stop[i] = x.stop_us;
      rs[c].rss[i] = x.rss_kib;
    }
  }

  /* One worker at a time from a host holding many descriptors: as many
   * as the limit leaves room for, up to 32,000. */
  int m = B.quick ? 5 : 100;
  int d = (int)((rl.rlim_max == RLIM_INFINITY ? 33000 : rl.rlim_max) - 1000) / 1000 * 1000;
  if (d > 32000)
    d = 32000;
  if (B.quick)
    d = 1000;
  double fw0[BENCH_MAXREPS], fw1[BENCH_MAXREPS], fw2[BENCH_MAXREPS];
  double fr0[BENCH_MAXREPS], fr1[BENCH_MAXREPS];
  for (int i = 0; i < B.reps; i++) {
    fr0[i] = run_rep("raw-fds", m, 0).spawn_us;
    fw0[i] = run_rep("ward-fds", m, 0).spawn_us;
    fr1[i] = run_rep("raw-fds", m, d).spawn_us;
    fw1[i] = run_rep("ward-fds", m, d).spawn_us;
    fw2[i] = run_rep("ward-fds-early", m, d).spawn_us;
  }

  B.mode = "unpinned";
  int first[2];
  for (int c = 0; c < 2; c++)
    first[c] = count_rows(counts[c], out, &ws[c], &rs[c]);

  char sec[160];
  snprintf(sec, sizeof sec, "growth: per worker at %d against %d (ratio to the row at %d)",
           counts[1], counts[0], counts[0]);
  const char *what[3] = {"spawn", "ping", "stop"};
  for (int k = 0; k < 3; k++) {
    for (int who = 0; who < 2; who++) {
      /* ward's row of figure k at count c is first[c] + 2k; raw's is one before. */
      const bench_row *src = &B.rows[first[1] + 2 * k - who];
      char name[64];
      snprintf(name, sizeof name, "%s %s /worker, %d", who ? "raw" : "ward", what[k], counts[1]);
      int r = row_add(sec, name, "us", src->v, src->n);
      row_vs(r, first[0] + 2 * k - who);
      if (k == 0 && who == 0)
        row_target(r, T_RATIO_LE, 1.3, "<= 1.3x");
    }
  }

  snprintf(sec, sizeof sec, "spawn -> ready, one at a time, from a host holding %d extra "
           "descriptors: %d reps x %d spawns", d, B.reps, m);
  int a = row_add(sec, "raw, no extra descriptors", "us", fr0, B.reps);
  int b = row_add(sec, "raw, descriptors held", "us", fr1, B.reps);
  row_vs(b, a);
  a = row_add(sec, "ward, no extra descriptors", "us", fw0, B.reps);
  b = row_add(sec, "ward, opened after the host", "us", fw1, B.reps);
  row_vs(b, a);
  b = row_add(sec, "ward, opened before the host", "us", fw2, B.reps);
  row_vs(b, a);
  bench_note("raw children inherit the descriptors held (a plain posix_spawn closes "
             "nothing); a ward worker gets none of them");
  if (posix)
    bench_note("posix backend: a ward child is started with posix_spawn, which copies every "
               "descriptor of the host and then closes those not its own (src/unix/spawn.c), "
               "so its start grows with the descriptors the host holds");
  else
    bench_note("a ward child copies the descriptors that were open when its host was "
               "created, and only those (src/linux/spawn.c)");
  bench_report();
  return 0;
}
