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
 * Options every program takes:
 *   --quick       tiny counts and one mode (the ctest smoke run)
 *   --reps N      repetitions (default 7, at least 5 outside --quick)
 *   --json FILE   where the results go (default: results.json beside the
 *                 executable, i.e. in build/bench/; none in --quick). Every
 *                 program merges its run into the file under
 *                 "benchmarks" -> its name, so one `make bench` leaves one
 *                 file with every figure.
 */
#ifndef WARD_BENCH_H
#define WARD_BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ward.h"

#define BENCH_MAXREPS 31
#define BENCH_MAXROWS 128
#define BENCH_MAXNOTES 32

extern char **environ;

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
  char self[4096];   /* our executable, to re-exec as worker or raw peer */
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

static inline int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline double now_us(void) { return (double)now_ns() / 1e3; }

__attribute__((noreturn, format(printf, 1, 2))) static inline void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bench_%s: ", B.name ? B.name : "?");
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (errno: %s; ward: %s)\n", strerror(errno), ward_last_error());
  exit(1);
}

__attribute__((format(printf, 1, 2))) static inline void bench_note(const char *fmt, ...) {
  if (B.nnotes >= BENCH_MAXNOTES)
    return;
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) >= 0)
    B.notes[B.nnotes++] = s;
  va_end(ap);
}

/* The CPUs we were allowed at start: "unpinned" gives them back. */
static cpu_set_t bench_cpus __attribute__((unused));
static int bench_cpus_known __attribute__((unused));

/* Pins the calling thread (and so every thread and child created after)
 * to CPU 0, or lets it run on every CPU it was allowed at start again. */
static inline void bench_pin(int on) {
  if (!bench_cpus_known) {
    if (sched_getaffinity(0, sizeof bench_cpus, &bench_cpus) != 0) {
      CPU_ZERO(&bench_cpus);
      long n = sysconf(_SC_NPROCESSORS_ONLN);
      for (long i = 0; i < n && i < CPU_SETSIZE; i++)
        CPU_SET((int)i, &bench_cpus);
    }
    bench_cpus_known = 1;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  if (sched_setaffinity(0, sizeof set, on ? &set : &bench_cpus) != 0 && on) {
    static int warned;
    if (!warned++)
      fprintf(stderr, "bench: cannot pin to CPU 0 (%s): \"same CPU\" figures are not "
                      "pinned\n", strerror(errno));
  }
}

/* Parses the common options (exits 2 on a bad one) and finds ourselves. */
static inline void bench_init(const char *name, int argc, char **argv) {
  B.name = name;
  B.reps = 7;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0)
      B.quick = 1;
    else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
      B.reps = atoi(argv[++i]);
    else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
      B.json = argv[++i];
    else {
      fprintf(stderr, "usage: bench_%s [--quick] [--reps N] [--json FILE]\n", name);
      exit(2);
    }
  }
  if (B.quick)
    B.reps = 1;
  else if (B.reps < 5)
    B.reps = 5;
  if (B.reps > BENCH_MAXREPS)
    B.reps = BENCH_MAXREPS;
  ssize_t n = readlink("/proc/self/exe", B.self, sizeof B.self - 1);
  if (n <= 0)
    die("readlink /proc/self/exe");
  B.self[n] = 0;
  if (!B.json && !B.quick) {
    const char *slash = strrchr(B.self, '/');
    int dirlen = slash ? (int)(slash - B.self) : 1;
    snprintf(B.json_default, sizeof B.json_default, "%.*s/results.json", dirlen,
             slash ? B.self : ".");
    B.json = B.json_default;
  }
  signal(SIGPIPE, SIG_IGN);
  bench_pin(0); /* records the CPUs we may use */
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

/* Host resident set (VmRSS) in KiB. */
static inline long bench_rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
      break;
  fclose(f);
  return kib;
}

/* ------------------------------------------------------------------ */
/* Raw peers: the same executable, started with posix_spawn and one end */
/* of a socketpair on fd 3                                              */

static inline void write_full(int fd, const void *p, size_t n) {
  const char *b = p;
  while (n) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      die("raw write");
    b += w;
    n -= (size_t)w;
  }
}

/* Returns 0 at end of stream before anything was read, 1 when `n` bytes
 * were read; dies on a short stream. */
static inline int read_full(int fd, void *p, size_t n) {
  char *b = p;
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, b + got, n - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      die("raw read");
    if (r == 0) {
      if (got == 0)
        return 0;
      die("raw read: short stream");
    }
    got += (size_t)r;
  }
  return 1;
}

/* Starts `self arg` with the other end of a fresh socketpair on fd 3.
 * Returns the pid; *fd is our end. */
static inline pid_t raw_spawn(const char *arg, int *fd) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
    die("socketpair");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
  char *args[] = {B.self, (char *)arg, NULL};
  pid_t pid;
  int e = posix_spawn(&pid, B.self, &fa, NULL, args, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (e) {
    errno = e;
    die("posix_spawn");
  }
  close(sv[1]);
  *fd = sv[0];
  return pid;
}

static inline void raw_reap(pid_t pid, int fd) {
  if (fd >= 0)
    close(fd);
  waitpid(pid, NULL, 0);
}

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

/* A spec running ourselves with `arg` as the worker. */
static inline ward_spec *bench_spec(const char *name, const char *arg) {
  ward_spec *s;
  if (ward_spec_new(&s, name, B.self) || ward_spec_arg(s, arg))
    die("ward_spec_new");
  return s;
}

/* ------------------------------------------------------------------ */
/* Other programs                                                      */

/* Finds `prog` in PATH; 1 and its path in `out`, or 0. */
static inline int bench_which(const char *prog, char *out, size_t outsz) {
  const char *path = getenv("PATH");
  if (!path)
    return 0;
  while (*path) {
    const char *end = strchr(path, ':');
    size_t len = end ? (size_t)(end - path) : strlen(path);
    snprintf(out, outsz, "%.*s/%s", (int)len, path, prog);
    if (len && access(out, X_OK) == 0)
      return 1;
    path += len + (end ? 1 : 0);
  }
  return 0;
}

/* Runs argv[0] (a path) with its stdout captured into `out` (NUL
 * terminated, cut at `outsz`), stderr to `errfile` (or inherited when
 * NULL), killing it after `timeout_s` seconds. Returns its wait status,
 * or -1 if it could not be started or was killed for the timeout. */
static inline int bench_capture(char *const argv[], const char *errfile, char *out,
                                size_t outsz, int timeout_s) {
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC))
    return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
  if (errfile)
    posix_spawn_file_actions_addopen(&fa, 2, errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid;
  int e = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(pfd[1]);
  if (e) {
    close(pfd[0]);
    errno = e;
    return -1;
  }
  size_t have = 0;
  int64_t deadline = now_ns() + (int64_t)timeout_s * 1000000000;
  int timed_out = 0;
  for (;;) {
    int64_t left = (deadline - now_ns()) / 1000000;
    if (left <= 0) {
      timed_out = 1;
      kill(pid, SIGKILL);
      break;
    }
    struct pollfd p = {.fd = pfd[0], .events = POLLIN};
    int n = poll(&p, 1, (int)left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      continue;
    char tmp[4096];
    ssize_t r = read(pfd[0], tmp, sizeof tmp);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    size_t take = (size_t)r < outsz - 1 - have ? (size_t)r : outsz - 1 - have;
    memcpy(out + have, tmp, take);
    have += take;
  }
  out[have] = 0;
  close(pfd[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  return timed_out ? -1 : st;
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

static inline json_t *bench_jnum(double v) {
  return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

/* This run's object: its rows and notes. */
static inline json_t *bench_json_run(void) {
  char when[64];
  time_t t = time(NULL);
  struct tm tm;
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
  json_t *rows = json_array();
  for (int i = 0; i < B.nrows; i++) {
    const bench_row *r = &B.rows[i];
    stat3 s = bench_stats(r->v, r->n);
    json_t *vals = json_array();
    for (int k = 0; k < r->n; k++)
      json_array_append_new(vals, bench_jnum(r->v[k]));
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "section", r->section,
                          "mode", r->mode, "name", r->name, "unit", r->unit, "median",
                          bench_jnum(s.med), "min", bench_jnum(s.min), "max", bench_jnum(s.max),
                          "values", vals);
    if (r->base >= 0) {
      json_object_set_new(o, "vs", json_string(B.rows[r->base].name));
      json_object_set_new(o, "ratio", bench_jnum(row_ratio(i)));
    }
    if (r->tkind != T_NONE) {
      json_object_set_new(o, "target", json_string(r->ttext));
      json_object_set_new(o, "target_met", json_boolean(row_met(i) == 1));
    }
    json_array_append_new(rows, o);
  }
  json_t *notes = json_array();
  for (int i = 0; i < B.nnotes; i++)
    json_array_append_new(notes, json_string(B.notes[i]));
  return json_pack("{s:s, s:s, s:b, s:i, s:i, s:o, s:o}", "time", when, "ward_version",
                   ward_version_string(), "quick", B.quick, "repetitions", B.reps, "cpus",
                   (int)sysconf(_SC_NPROCESSORS_ONLN), "rows", rows, "notes", notes);
}

/* Merges this run into the file, under "benchmarks" -> name, so that every
 * program of one `make bench` fills the same file. Written to a temporary
 * file and renamed, so a reader never sees half a file. */
static inline void bench_write_json(void) {
  if (!B.json)
    return;
  json_t *root = json_load_file(B.json, 0, NULL);
  if (!root || !json_is_object(root) || !json_is_object(json_object_get(root, "benchmarks"))) {
    json_decref(root);
    root = json_pack("{s:{}}", "benchmarks");
  }
  json_object_set_new(json_object_get(root, "benchmarks"), B.name, bench_json_run());
  char tmp[4400];
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", B.json, (int)getpid());
  if (json_dump_file(root, tmp, JSON_INDENT(1) | JSON_REAL_PRECISION(6)) != 0 ||
      rename(tmp, B.json) != 0) {
    fprintf(stderr, "bench_%s: cannot write %s: %s\n", B.name, B.json, strerror(errno));
    unlink(tmp);
  }
  json_decref(root);
}

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
