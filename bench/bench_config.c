/*
 * bench_config.c — how long `ward run --check` takes on configurations of
 * 1, 4 and 10 MB, and whether that time grows linearly with the size.
 *
 * Each file is generated here: services of about a hundred bytes each
 * (a command that goes on over an indented line, an environment variable,
 * a restart policy), each depending on the one before, so that the check
 * looks up every service by name and walks a dependency chain as long as
 * the file. Each repetition runs the real `ward` binary (the path CMake
 * built it at) on the file and times it from spawn to exit; the file is
 * read once beforehand so that it is in the page cache.
 *
 * The linearity rows compare milliseconds per megabyte of the largest file
 * against the smallest: about 1x when the check is linear.
 *
 * Usage: bench_config [--quick] [--reps N] [--json FILE]
 */
#include "bench.h"

#define MB (1024u * 1024u)

/* Writes about `size` bytes of configuration to `path`; returns the
 * number of services. */
static int write_config(const char *path, size_t size) {
  FILE *f = fopen(path, "w");
  if (!f)
    die("fopen %s", path);
  fprintf(f, "[ward]\nsocket = /tmp/ward-bench-config.sock\nlog_dir = none\n\n");
  int n = 0;
  while ((size_t)ftell(f) < size) {
    fprintf(f, "[service s%d]\ncommand = sleep 1000\n  --instance %d\nenv = SERVICE_%d=yes\n", n,
            n, n);
    if (n > 0)
      fprintf(f, "depends_on = s%d\n", n - 1);
    fprintf(f, "restart = on-failure\n\n");
    n++;
  }
  if (fclose(f))
    die("write %s", path);
  return n;
}

/* One `ward run --check`, in milliseconds; dies unless it accepted the
 * file with `n` services. */
static double check_ms(const char *ward, const char *path, int n) {
  char *argv[] = {(char *)ward, "run", "--check", (char *)path, NULL};
  char out[512], want[64];
  int64_t t0 = now_ns();
  int st = bench_capture(argv, NULL, out, sizeof out, 600);
  double ms = (double)(now_ns() - t0) / 1e6;
  snprintf(want, sizeof want, ": %d services,", n);
  if (st != 0 || !strstr(out, want))
    die("ward run --check %s: status %d, printed: %s", path, st, out);
  return ms;
}

static void warm(const char *path) {
  char buf[1 << 16];
  FILE *f = fopen(path, "r");
  if (!f)
    die("fopen %s", path);
  while (fread(buf, 1, sizeof buf, f) > 0)
    ;
  fclose(f);
}

int main(int argc, char **argv) {
  bench_init("config", argc, argv);
#ifndef WARD_CLI
  printf("bench_config: the ward tool is not built (WARD_BUILD_TOOLS=OFF): nothing to time\n");
  return 0;
#else
  const char *ward = WARD_CLI;
  bench_title("`ward run --check` of large configurations");
  static const size_t full_sizes[] = {1 * MB, 4 * MB, 10 * MB};
  static const size_t quick_sizes[] = {MB / 4, 1 * MB};
  const size_t *sizes = B.quick ? quick_sizes : full_sizes;
  int nsizes = B.quick ? 2 : 3;
  char dir[] = "/tmp/ward-bench-config-XXXXXX";
  if (!mkdtemp(dir))
    die("mkdtemp");
  char path[64];
  snprintf(path, sizeof path, "%s/ward.ini", dir);

  char sec[160];
  snprintf(sec, sizeof sec, "ward run --check, services chained by depends_on: %d reps",
           B.reps);
  double per_mb[3][BENCH_MAXREPS];
  int rows_per_mb[3];
  for (int k = 0; k < nsizes; k++) {
    int n = write_config(path, sizes[k]);
    warm(path);
    double ms[BENCH_MAXREPS];
    for (int i = 0; i < B.reps; i++) {
      ms[i] = check_ms(ward, path, n);
      per_mb[k][i] = ms[i] / ((double)sizes[k] / MB);
    }
    char name[64];
    snprintf(name, sizeof name, "%g MB, %d services", (double)sizes[k] / MB, n);
    int r = row_add(sec, name, "ms", ms, B.reps);
    if (sizes[k] == 10 * MB)
      row_target(r, T_MED_LE, 2000, "< 2 s");
    snprintf(name, sizeof name, "%g MB, per MB", (double)sizes[k] / MB);
    rows_per_mb[k] = row_add(sec, name, "ms/MB", per_mb[k], B.reps);
  }
  unlink(path);
  rmdir(dir);

  /* About 1x when checking is linear in the size of the file. */
  snprintf(sec, sizeof sec, "linearity: ms per MB of %g MB against %g MB",
           (double)sizes[nsizes - 1] / MB, (double)sizes[0] / MB);
  char name[64];
  snprintf(name, sizeof name, "%g MB", (double)sizes[nsizes - 1] / MB);
  int r = row_add(sec, name, "ms/MB", per_mb[nsizes - 1], B.reps);
  row_vs(r, rows_per_mb[0]);
  row_target(r, T_RATIO_LE, 1.5, "<= 1.5x (linear)");
  bench_note("each time is one `ward run --check` process, from spawn to exit");
  bench_report();
  return 0;
#endif
}
