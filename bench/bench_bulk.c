/*
 * bench_bulk.c — large payloads: ward_request echoing 1 MiB and 64 MiB
 * against a raw socketpair (Windows: a named pipe) moving the same bytes,
 * in the same run.
 *
 * Each value is one repetition: the mean of a few echo round trips. A
 * round trip carries the payload there and back, so GB/s counts 2 x size
 * bytes per round trip, and ns/byte is its inverse: equal ns/byte for
 * 1 MiB and 64 MiB shows the cost is linear in the size, not quadratic.
 *   raw    the parent writes [u64 size][payload]; the child reads it whole
 *          into a buffer it keeps, then writes it back; the parent reads it
 *          into a buffer it keeps. Default socket buffers, as ward's (on
 *          Windows, 64 KiB pipe buffers, as ward's).
 *   ward   ward_request("echo") with the payload; the worker replies with
 *          the bytes it received; the host frees each reply.
 *
 * Usage: bench_bulk [--quick] [--reps N] [--json FILE]
 */
#include "bench.h"

#define MIB (1024u * 1024u)

static const bench_method methods[] = {{"echo", bench_m_echo}};

static double ward_bulk(ward_worker *w, const char *out, size_t size, int iters) {
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 120000;
  o.encoding = WARD_ENC_RAW;
  int64_t t0 = now_ns();
  for (int i = 0; i < iters; i++) {
    ward_msg *m;
    if (ward_request_ex(&m, w, "echo", out, size, &o))
      die("ward_request of %zu bytes", size);
    if (ward_msg_len(m) != size)
      die("echo of %zu bytes came back with %zu", size, ward_msg_len(m));
    ward_msg_free(m);
  }
  return (double)(now_ns() - t0) / 1e9 / iters;
}

static void run_mode(const bench_mode *mode, const size_t *sizes, const int *iters, int nsizes) {
  bench_set_mode(mode);
  ward_host *h;
  if (ward_host_new(&h, NULL))
    die("ward_host_new");
  ward_spec *s = bench_spec("bulk", "--ward-child");
  ward_worker *w;
  if (ward_spawn(&w, h, s))
    die("ward_spawn");
  ward_spec_free(s);
  bench_fd fd;
  bench_pid pid = raw_spawn("--raw-echo", &fd);
  size_t max = 0;
  for (int k = 0; k < nsizes; k++)
    if (sizes[k] > max)
      max = sizes[k];
  char *out = malloc(max), *in = malloc(max);
  if (!out || !in)
    die("malloc");
  memset(out, 'b', max);
  memset(in, 0, max);

  int first_ns[2] = {-1, -1}; /* ns/B rows of the first size: raw, ward */
  double lin[2][BENCH_MAXREPS];
  for (int k = 0; k < nsizes; k++) {
    size_t size = sizes[k];
    /* Warm-up: buffers faulted in on both sides. */
    bench_raw_echo_us(fd, out, in, size, 1);
    ward_bulk(w, out, size, 1);
    double rg[BENCH_MAXREPS], wg[BENCH_MAXREPS], rn[BENCH_MAXREPS], wn[BENCH_MAXREPS];
    for (int i = 0; i < B.reps; i++) {
      double tr = bench_raw_echo_us(fd, out, in, size, iters[k]) / 1e6;
      double tw = ward_bulk(w, out, size, iters[k]);
      rg[i] = 2.0 * (double)size / tr / 1e9;
      wg[i] = 2.0 * (double)size / tw / 1e9;
      rn[i] = tr * 1e9 / (2.0 * (double)size);
      wn[i] = tw * 1e9 / (2.0 * (double)size);
    }
    char sec[160];
    snprintf(sec, sizeof sec,
             "bulk echo of %zu MiB (2 x %zu MiB moved per round trip), %s: %d reps x %d",
             size / MIB, size / MIB, mode->label, B.reps, iters[k]);
    char rname[64], wname[64];
    snprintf(rname, sizeof rname, "raw " BENCH_RAW_CHANNEL ", %zu MiB", size / MIB);
    snprintf(wname, sizeof wname, "ward_request echo, %zu MiB", size / MIB);
    int a = row_add(sec, rname, "GB/s", rg, B.reps);
    int b = row_add(sec, wname, "GB/s", wg, B.reps);
    row_vs(b, a);
    row_target(b, T_RATIO_GE, 0.5, ">= 0.5x raw");
    int c = row_add(sec, rname, "ns/B", rn, B.reps);
    int d = row_add(sec, wname, "ns/B", wn, B.reps);
    row_vs(d, c);
    if (k == 0) {
      first_ns[0] = c;
      first_ns[1] = d;
    } else {
      memcpy(lin[0], rn, sizeof rn);
      memcpy(lin[1], wn, sizeof wn);
    }
  }
  if (nsizes > 1 && first_ns[0] >= 0) {
    /* About 1x when the cost is linear in the size. */
    char sec[160], rname[64], wname[64];
    snprintf(sec, sizeof sec, "linearity, %s: ns/byte of %zu MiB against %zu MiB", mode->label,
             sizes[nsizes - 1] / MIB, sizes[0] / MIB);
    snprintf(rname, sizeof rname, "raw " BENCH_RAW_CHANNEL ", %zu MiB", sizes[nsizes - 1] / MIB);
    snprintf(wname, sizeof wname, "ward_request echo, %zu MiB", sizes[nsizes - 1] / MIB);
    row_vs(row_add(sec, rname, "ns/B", lin[0], B.reps), first_ns[0]);
    row_vs(row_add(sec, wname, "ns/B", lin[1], B.reps), first_ns[1]);
  }
  free(out);
  free(in);
  raw_reap(pid, fd);
  ward_host_free(h);
  bench_set_mode(NULL);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--ward-child") == 0)
    return bench_ward_child(methods, 1);
  if (argc > 1 && strcmp(argv[1], "--raw-echo") == 0)
    return bench_raw_echo(raw_child_end(argc > 2 ? argv[2] : NULL));
  bench_init("bulk", argc, argv);
  bench_title("bulk payloads against a raw " BENCH_RAW_CHANNEL);
  /* 64 MiB is the default frame limit (WARD_MAX_FRAME_DEFAULT): the
   * largest payload a default host and worker accept. */
  static const size_t full_sizes[] = {1 * MIB, 64 * MIB};
  static const int full_iters[] = {40, 2};
  static const size_t quick_sizes[] = {1 * MIB, 4 * MIB};
  static const int quick_iters[] = {2, 1};
  for (int m = 0; m < bench_nmodes(); m++)
    run_mode(&bench_modes[m], B.quick ? quick_sizes : full_sizes,
             B.quick ? quick_iters : full_iters, 2);
  bench_note("GB/s counts the bytes carried both ways; ns/B is per byte carried");
  bench_report();
  return 0;
}
