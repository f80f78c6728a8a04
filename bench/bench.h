/*
 * bench.h — what the benchmarks in bench/ share: options, clocks, pinning,
 * raw children, statistics, the table of results with ratios and targets,
 * and the JSON file.
 *
 * Every benchmark is one self-contained program that re-executes itself as
 * its worker (ward) or as its raw peer. Its figures are rows: each row
 * holds the value of every repetition; the table shows the median, min and
 * max, and, for a row measured against a baseline, the ratio row / baseline
 * (the median of the per-repetition ratios: repetitions alternate between
 * the contenders, so a drift of the machine hits both sides of each pair).
 * A row may carry a target, printed beside it as pass or MISS; targets are
 * never a reason to fail.
 *
 * This file is the portable part (options, rows, statistics, the table, the
 * ward worker's side). What differs between systems is behind one seam,
 * included below: bench_unix.h (Linux and the POSIX systems: posix_spawn
 * and a socketpair, sched_setaffinity, the JSON file through jansson) or
 * bench_win.h (Windows: CreateProcessW and a named pipe,
 * SetProcessAffinityMask; no JSON file, as Debian has no jansson built for
 * mingw-w64). So one program per figure serves every backend; a figure
 * that only one system has (an epoll or an I/O completion port waiter)
 * is chosen in the program itself.
 *
 * Options every program takes:
 *   --quick       tiny counts and one mode (the ctest smoke run)
 *   --reps N      repetitions (default 7, at least 5 outside --quick)
 *   --json FILE   where the results go (default: results.json beside the
 *                 executable, i.e. in build/bench/; none in --quick). Every
 *                 program merges its run into the file under
 *                 "benchmarks" -> its name, so one `make bench` leaves one
 *                 file with every figure. Not on Windows.
 */
#ifndef WARD_BENCH_H
#define WARD_BENCH_H

#if !defined(_GNU_SOURCE) && !defined(_WIN32)
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ward.h"

/* The backend the library was built with: linux, posix or win
 * (CMakeLists.txt defines it for everything it builds). */
#ifndef WARD__BACKEND_NAME
#define WARD__BACKEND_NAME "?"
#endif

/* The printf family's format checks: mingw-w64's own printf (which
 * __USE_MINGW_ANSI_STDIO selects, with %zu and %lld) is not Microsoft's. */
#ifdef __MINGW_PRINTF_FORMAT
#define BENCH_PRINTF __MINGW_PRINTF_FORMAT
#else
#define BENCH_PRINTF printf
#endif

#define BENCH_MAXREPS 31
#define BENCH_MAXROWS 128
#define BENCH_MAXNOTES 32

/* Row targets: on the ratio to the baseline, or on the median itself. */
enum { T_NONE = 0, T_RATIO_LE, T_RATIO_GE, T_MED_LE, T_MED_GE };

typedef struct bench_row {
  char mode[16]; /* "pinned", "unpinned" or "" */
  char section[160];
  char name[64];
  char unit[16];
  double v[BENCH_MAXREPS];
  int n;
  int base; /* row index of the baseline, or -1 */
  int tkind;
  double thr;
  char ttext[64];
} bench_row;

typedef struct bench_state {
  const char *name;  /* the benchmark's name, e.g. "rtt" */
  char self[4096];   /* our executable (UTF-8), to re-exec as worker or raw peer */
  int quick;
  int reps;
  const char *json;
  char json_default[4200];
  const char *mode; /* the mode rows are added in (bench_set_mode) */
  bench_row rows[BENCH_MAXROWS];
  int nrows;
  char *notes[BENCH_MAXNOTES];
  int nnotes;
} bench_state;

static bench_state B __attribute__((unused));

/* ------------------------------------------------------------------ */
/* Basics                                                              */

__attribute__((noreturn, format(BENCH_PRINTF, 1, 2))) static inline void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bench_%s: ", B.name ? B.name : "?");
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (errno: %s; ward: %s)\n", strerror(errno), ward_last_error());
  exit(1);
}

__attribute__((format(BENCH_PRINTF, 1, 2))) static inline void bench_note(const char *fmt, ...) {
  if (B.nnotes >= BENCH_MAXNOTES)
    return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  char *s = malloc(strlen(buf) + 1);
  if (s)
    B.notes[B.nnotes++] = strcpy(s, buf);
}

/* ------------------------------------------------------------------ */
/* The system's part. Each of the two files provides:                  */
/*                                                                     */
/*   BENCH_JSON          1 when the results can be written as JSON     */
/*   BENCH_RAW_CHANNEL   what a raw peer talks over ("socketpair")     */
/*   BENCH_RAW_SPAWN     how a raw peer is started ("posix_spawn")     */
/*   BENCH_RAW_EXIT      how a raw parent learns of an exit            */
/*   bench_fd            our end of a raw peer's channel               */
/*   bench_pid           a raw peer                                    */
/*   now_ns()            a monotonic clock in ns                       */
/*   bench_os_init()     finds our executable (B.self), and the like   */
/*   bench_pin(on)       this process and what it starts after on CPU 0 */
/*                       (on), or on every CPU it was allowed (off)    */
/*   raw_spawn(arg, fd)  starts `self arg END` with the other end of a  */
/*                       fresh channel, END its number there           */
/*   raw_child_end(s)    a raw peer's end, from that END               */
/*   read_full, write_full  blocking I/O on a channel end              */
/*   raw_reap(pid, fd)   closes our end, waits for the peer's exit     */
/*   raw_wait_exit(pid)  waits until the peer has ended (not reaped)   */
/*   bench_crash_now()   ends this process as a crash does             */
/*   bench_nap_us(us)    sleeps about that long (at least a tick)      */
/* ------------------------------------------------------------------ */

#ifdef _WIN32
#include "bench_win.h"
#else
#include "bench_unix.h"
#endif

static inline double now_us(void) { return (double)now_ns() / 1e3; }

/* Parses the common options (exits 2 on a bad one) and finds ourselves. */
static inline void bench_init(const char *name, int argc, char **argv) {
  B.name = name;
  B.reps = 7;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0)
      B.quick = 1;
    else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
      B.reps = atoi(argv[++i]);
    else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc && BENCH_JSON)
      B.json = argv[++i];
    else {
      fprintf(stderr, "usage: bench_%s [--quick] [--reps N]%s\n", name,
              BENCH_JSON ? " [--json FILE]" : " (no --json: this build has no JSON)");
      exit(2);
    }
  }
  if (B.quick)
    B.reps = 1;
  else if (B.reps < 5)
    B.reps = 5;
  if (B.reps > BENCH_MAXREPS)
    B.reps = BENCH_MAXREPS;
  bench_os_init();
  if (BENCH_JSON && !B.json && !B.quick) {
    const char *slash = strrchr(B.self, '/');
    int dirlen = slash ? (int)(slash - B.self) : 1;
    snprintf(B.json_default, sizeof B.json_default, "%.*s/results.json", dirlen,
             slash ? B.self : ".");
    B.json = B.json_default;
  }
  bench_pin(0); /* records the CPUs we may use */
}

/* The first line of every program: what it measures, and on what. */
static inline void bench_title(const char *what) {
  printf("ward %s, %s backend: %s\n", ward_version_string(), WARD__BACKEND_NAME, what);
}

/* The two modes of the round-trip figures. */
typedef struct bench_mode {
  const char *label; /* for the table */
  const char *key;   /* for the JSON file */
  int pinned;
} bench_mode;

static const bench_mode bench_modes[2] __attribute__((unused)) = {
    {"same CPU (pinned to CPU 0)", "pinned", 1},
    {"any CPU (unpinned)", "unpinned", 0},
};

/* Pins (or not) for `m`; the rows added from now on belong to it (NULL:
 * to no mode). */
static inline void bench_set_mode(const bench_mode *m) {
  B.mode = m ? m->key : NULL;
  bench_pin(m ? m->pinned : 0);
}

/* --quick runs the first mode only. */
static inline int bench_nmodes(void) { return B.quick ? 1 : 2; }

/* ------------------------------------------------------------------ */
/* The ward side                                                       */

/* A ward worker serving the given methods until the host says goodbye. */
typedef struct bench_method {
  const char *name;
  ward_handler fn;
} bench_method;

static inline int bench_ward_child(const bench_method *m, size_t n) {
  ward_client *c;
  if (ward_client_connect(&c))
    return 2;
  for (size_t i = 0; i < n; i++)
    ward_client_handle(c, m[i].name, m[i].fn, NULL);
  int rv = ward_client_run(c);
  ward_client_free(c);
  return rv ? 1 : 0;
}

/* Worker methods the benchmarks share: "echo" replies with its payload,
 * "n" (a notification) is counted, "count" replies with the count (a
 * uint64_t) and starts it again. */
static uint64_t bench_notified __attribute__((unused));

static inline int bench_m_echo(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  return ward_ctx_reply(ctx, d, n);
}

static inline int bench_m_note(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)d, (void)n, (void)ud;
  bench_notified++;
  return 0;
}

/* "crash" ends the worker as a crash does (it never answers); "noop"
 * replies with nothing. */
static inline int bench_m_crash(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)d, (void)n, (void)ud;
  bench_crash_now();
}

static inline int bench_m_noop(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  return ward_ctx_reply(ctx, NULL, 0);
}

static inline int bench_m_count(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  uint64_t v = bench_notified;
  bench_notified = 0;
  return ward_ctx_reply(ctx, &v, sizeof v);
}

/* Sends `n` notifications of `size` (at most 256) bytes to "n", then asks
 * "count" whether all arrived; returns notifications per second. */
static inline double bench_ward_notes(ward_worker *w, int n, size_t size) {
  char buf[256];
  memset(buf, 'n', sizeof buf);
  int64_t t0 = now_ns();
  for (int i = 0; i < n; i++)
    if (ward_notify(w, "n", buf, size))
      die("ward_notify");
  ward_msg *m;
  if (ward_request(&m, w, "count", NULL, 0, 10000))
    die("ward_request count");
  double rate = n / ((double)(now_ns() - t0) / 1e9);
  uint64_t got = 0;
  if (ward_msg_len(m) == sizeof got)
    memcpy(&got, ward_msg_data(m), sizeof got);
  ward_msg_free(m);
  if (got != (uint64_t)n)
    die("the worker counted %llu notifications of %d", (unsigned long long)got, n);
  return rate;
}

/* A raw peer that echoes: [u64 n][n bytes] read whole into a buffer it
 * keeps, then written back; until the end of its channel. */
static inline int bench_raw_echo(bench_fd fd) {
  char *buf = NULL;
  size_t cap = 0;
  for (;;) {
    uint64_t n;
    if (!read_full(fd, &n, sizeof n))
      break;
    if (n > cap) {
      free(buf);
      if (!(buf = malloc(n)))
        die("malloc");
      cap = n;
    }
    read_full(fd, buf, n);
    write_full(fd, buf, n);
  }
  free(buf);
  return 0;
}

/* `iters` round trips with a bench_raw_echo peer, `size` bytes from `out`
 * there and back into `in`: microseconds per round trip. */
static inline double bench_raw_echo_us(bench_fd fd, const char *out, char *in, size_t size,
                                       int iters) {
  uint64_t n = size;
  int64_t t0 = now_ns();
  for (int i = 0; i < iters; i++) {
    write_full(fd, &n, sizeof n);
    write_full(fd, out, size);
    read_full(fd, in, size);
  }
  return (double)(now_ns() - t0) / 1e3 / iters;
}

/* A spec running ourselves with `arg` as the worker. */
static inline ward_spec *bench_spec(const char *name, const char *arg) {
  ward_spec *s;
  if (ward_spec_new(&s, name, B.self) || ward_spec_arg(s, arg))
    die("ward_spec_new");
  return s;
}

/* ------------------------------------------------------------------ */
/* Statistics and rows                                                 */

typedef struct stat3 {
  double med, min, max;
} stat3;

static inline int bench_cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static inline double bench_median(const double *v, int n) {
  double s[BENCH_MAXREPS];
  memcpy(s, v, (size_t)n * sizeof *v);
  qsort(s, (size_t)n, sizeof *s, bench_cmp_double);
  return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static inline stat3 bench_stats(const double *v, int n) {
  stat3 r = {0, 0, 0};
  if (n <= 0)
    return r;
  r.med = bench_median(v, n);
  r.min = r.max = v[0];
  for (int i = 1; i < n; i++) {
    if (v[i] < r.min)
      r.min = v[i];
    if (v[i] > r.max)
      r.max = v[i];
  }
  return r;
}

/* Adds a row with `n` values; returns its index. */
static inline int row_add(const char *section, const char *name, const char *unit,
                          const double *v, int n) {
  if (B.nrows >= BENCH_MAXROWS)
    die("too many rows");
  bench_row *r = &B.rows[B.nrows];
  memset(r, 0, sizeof *r);
  snprintf(r->mode, sizeof r->mode, "%s", B.mode ? B.mode : "");
  snprintf(r->section, sizeof r->section, "%s", section);
  snprintf(r->name, sizeof r->name, "%s", name);
  snprintf(r->unit, sizeof r->unit, "%s", unit);
  if (n > BENCH_MAXREPS)
    n = BENCH_MAXREPS;
  memcpy(r->v, v, (size_t)n * sizeof *v);
  r->n = n;
  r->base = -1;
  return B.nrows++;
}

/* The row is measured against `base`. */
static inline void row_vs(int row, int base) { B.rows[row].base = base; }

static inline void row_target(int row, int kind, double thr, const char *text) {
  B.rows[row].tkind = kind;
  B.rows[row].thr = thr;
  snprintf(B.rows[row].ttext, sizeof B.rows[row].ttext, "%s", text);
}

/* row / baseline: the median of the paired ratios when both rows have the
 * same repetitions, else the ratio of the medians. NAN without baseline. */
static inline double row_ratio(int row) {
  const bench_row *r = &B.rows[row];
  if (r->base < 0)
    return NAN;
  const bench_row *b = &B.rows[r->base];
  if (r->n == b->n && r->n > 0) {
    double q[BENCH_MAXREPS];
    for (int i = 0; i < r->n; i++)
      q[i] = b->v[i] != 0 ? r->v[i] / b->v[i] : NAN;
    return bench_median(q, r->n);
  }
  double bm = bench_median(b->v, b->n);
  return bm != 0 ? bench_median(r->v, r->n) / bm : NAN;
}

/* -1: no target; 0: missed; 1: met. */
static inline int row_met(int row) {
  const bench_row *r = &B.rows[row];
  double x;
  switch (r->tkind) {
  case T_RATIO_LE:
  case T_RATIO_GE:
    x = row_ratio(row);
    if (isnan(x))
      return 0;
    return r->tkind == T_RATIO_LE ? x <= r->thr : x >= r->thr;
  case T_MED_LE:
  case T_MED_GE:
    x = bench_median(r->v, r->n);
    return r->tkind == T_MED_LE ? x <= r->thr : x >= r->thr;
  default:
    return -1;
  }
}

/* A number in 9 characters, with k/M/G for large ones. */
static inline const char *bench_fmt(char *buf, size_t n, double v) {
  double a = v < 0 ? -v : v;
  if (isnan(v))
    snprintf(buf, n, "-");
  else if (a >= 1e9)
    snprintf(buf, n, "%.3fG", v / 1e9);
  else if (a >= 1e6)
    snprintf(buf, n, "%.3fM", v / 1e6);
  else if (a >= 1e4)
    snprintf(buf, n, "%.1fk", v / 1e3);
  else if (a >= 100)
    snprintf(buf, n, "%.1f", v);
  else if (a >= 1)
    snprintf(buf, n, "%.2f", v);
  else
    snprintf(buf, n, "%.4f", v);
  return buf;
}

static inline void bench_print_rows(void) {
  const char *section = NULL;
  for (int i = 0; i < B.nrows; i++) {
    const bench_row *r = &B.rows[i];
    if (!section || strcmp(section, r->section) != 0) {
      section = r->section;
      printf("\n%s\n\n", section);
      printf("| %-30s | %-6s | %9s | %9s | %9s | %-30s | %8s | %-24s |\n", "figure", "unit",
             "median", "min", "max", "vs", "ratio", "target");
      printf("|--------------------------------|--------|-----------|-----------|-----------|"
             "--------------------------------|----------|--------------------------|\n");
    }
    stat3 s = bench_stats(r->v, r->n);
    char a[32], b[32], c[32], q[32], t[96];
    double ratio = row_ratio(i);
    if (isnan(ratio))
      snprintf(q, sizeof q, "-");
    else if (ratio < 0.1)
      snprintf(q, sizeof q, "%.4fx", ratio);
    else if (ratio >= 100)
      snprintf(q, sizeof q, "%.0fx", ratio);
    else
      snprintf(q, sizeof q, "%.2fx", ratio);
    int met = row_met(i);
    if (met < 0)
      snprintf(t, sizeof t, "-");
    else
      snprintf(t, sizeof t, "%s %s", r->ttext, met ? "pass" : "MISS");
    printf("| %-30s | %-6s | %9s | %9s | %9s | %-30s | %8s | %-24s |\n", r->name, r->unit,
           bench_fmt(a, sizeof a, s.med), bench_fmt(b, sizeof b, s.min),
           bench_fmt(c, sizeof c, s.max), r->base >= 0 ? B.rows[r->base].name : "-", q, t);
  }
}


#if BENCH_JSON
#include "bench_json.h"
#else
static inline void bench_write_json(void) {}
#endif

/* Prints the table, the targets and the notes, and writes the JSON file. */
static inline void bench_report(void) {
  bench_print_rows();
  int ntargets = 0, nmet = 0;
  for (int i = 0; i < B.nrows; i++) {
    int m = row_met(i);
    if (m >= 0) {
      ntargets++;
      nmet += m;
    }
  }
  if (ntargets)
    printf("\ntargets: %d met, %d missed (targets are reported, never enforced)\n", nmet,
           ntargets - nmet);
  if (B.nnotes) {
    printf("\nnotes:\n");
    for (int i = 0; i < B.nnotes; i++)
      printf("- %s\n", B.notes[i]);
  }
  bench_write_json();
  if (B.json)
    printf("\nresults written to %s\n", B.json);
  for (int i = 0; i < B.nnotes; i++)
    free(B.notes[i]);
  B.nnotes = 0;
  fflush(stdout);
}

#endif
