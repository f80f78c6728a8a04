/*
 * bench_rtt.c — the round trip of a small request, ward against the raw
 * floor, measured in the same run.
 *
 * Figures (each the mean round trip of one repetition; the table shows
 * the median, min and max over the repetitions, which alternate between
 * the contenders so drift hits all alike):
 *   raw-block   socketpair ping-pong, parent blocks in read()
 *   raw-epoll   socketpair ping-pong, parent waits in epoll_wait()
 *   ward        ward_request() of 32 bytes to a worker echoing them
 *
 * Both modes are run: "same CPU" (the whole process and its children pinned
 * to CPU 0, which gives repeatable figures on VMs whose idle CPUs are slow
 * to wake) and "any CPU" (unpinned, noisy). The ratio ward / raw-epoll is
 * the figure to quote.
 *
 * Usage: bench_rtt [--quick] [--reps N] [--json FILE]
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ward.h"

#define PAYLOAD 32
#define MAXREPS 31

extern char **environ;

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static char self_path[4096];

static void die(const char *what) {
  fprintf(stderr, "bench_rtt: %s failed: %s\n", what, ward_last_error());
  exit(1);
}

/* ---- the other ends ---- */

static int raw_child(int fd) {
  char buf[PAYLOAD];
  for (;;) {
    size_t got = 0;
    while (got < PAYLOAD) {
      ssize_t n = read(fd, buf + got, PAYLOAD - got);
      if (n <= 0)
        return 0;
      got += (size_t)n;
    }
    if (write(fd, buf, PAYLOAD) != PAYLOAD)
      return 0;
  }
}

static int echo(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  return ward_ctx_reply(ctx, d, n);
}

static int ward_child(void) {
  ward_client *c;
  if (ward_client_connect(&c))
    return 2;
  ward_client_handle(c, "echo", echo, NULL);
  int rv = ward_client_run(c);
  ward_client_free(c);
  return rv ? 1 : 0;
}

/* ---- raw ping-pong ---- */

typedef struct raw {
  int fd, ep;
  pid_t pid;
} raw;

static void raw_start(raw *r) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
    die("socketpair");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
  char *args[] = {self_path, "--raw-child", NULL};
  if (posix_spawn(&r->pid, self_path, &fa, NULL, args, environ))
    die("posix_spawn");
  posix_spawn_file_actions_destroy(&fa);
  close(sv[1]);
  r->fd = sv[0];
  r->ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN};
  epoll_ctl(r->ep, EPOLL_CTL_ADD, r->fd, &ev);
}

static void raw_stop(raw *r) {
  close(r->fd);
  close(r->ep);
  waitpid(r->pid, NULL, 0);
}

static void read_full(int fd, char *buf) {
  size_t got = 0;
  while (got < PAYLOAD) {
    ssize_t n = read(fd, buf + got, PAYLOAD - got);
    if (n <= 0)
      die("raw read");
    got += (size_t)n;
  }
}

static double raw_run(raw *r, int n, int use_epoll) {
  char buf[PAYLOAD];
  memset(buf, 'r', sizeof buf);
  double t0 = now_us();
  for (int i = 0; i < n; i++) {
    if (write(r->fd, buf, PAYLOAD) != PAYLOAD)
      die("raw write");
    if (use_epoll) {
      struct epoll_event ev;
      while (epoll_wait(r->ep, &ev, 1, -1) != 1) {
      }
    }
    read_full(r->fd, buf);
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

/* ---- statistics ---- */

typedef struct stat3 {
  double med, min, max;
} stat3;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static stat3 summarize(double *v, int n) {
  double s[MAXREPS];
  memcpy(s, v, (size_t)n * sizeof *v);
  qsort(s, (size_t)n, sizeof *s, cmp_double);
  stat3 r = {s[n / 2], s[0], s[n - 1]};
  return r;
}

typedef struct result {
  const char *mode;
  stat3 block, epoll, ward;
} result;

static void pin(int on) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (on) {
    CPU_SET(0, &set);
  } else {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    for (long i = 0; i < n && i < CPU_SETSIZE; i++)
      CPU_SET((int)i, &set);
  }
  sched_setaffinity(0, sizeof set, &set);
}

/* One mode: a fresh host and raw pair, so the threads and children take
 * the main thread's affinity. */
static result run_mode(const char *mode, int pinned, int reps, int iters) {
  pin(pinned);
  ward_host *h;
  if (ward_host_new(&h, NULL))
    die("ward_host_new");
  ward_spec *s;
  ward_spec_new(&s, "echo", self_path);
  ward_spec_arg(s, "--ward-child");
  ward_worker *w;
  if (ward_spawn(&w, h, s))
    die("ward_spawn");
  ward_spec_free(s);
  raw r;
  raw_start(&r);
  /* Warm up both paths. */
  raw_run(&r, iters / 10 + 1, 1);
  ward_run(w, iters / 10 + 1);
  double vb[MAXREPS], ve[MAXREPS], vw[MAXREPS];
  for (int i = 0; i < reps; i++) {
    vb[i] = raw_run(&r, iters, 0);
    ve[i] = raw_run(&r, iters, 1);
    vw[i] = ward_run(w, iters);
  }
  raw_stop(&r);
  ward_host_free(h);
  pin(0);
  result res = {mode, summarize(vb, reps), summarize(ve, reps), summarize(vw, reps)};
  return res;
}

static void print_row(const char *name, stat3 s, stat3 base) {
  printf("| %-10s | %8.2f | %8.2f | %8.2f | %6.2fx |\n", name, s.med, s.min, s.max,
         s.med / base.med);
}

static void print_result(const result *r, int reps, int iters) {
  printf("\n%s: %d repetitions x %d round trips of %d bytes (us per round trip)\n\n", r->mode,
         reps, iters, PAYLOAD);
  printf("| %-10s | %8s | %8s | %8s | %7s |\n", "figure", "median", "min", "max", "/epoll");
  printf("|------------|----------|----------|----------|---------|\n");
  print_row("raw-block", r->block, r->epoll);
  print_row("raw-epoll", r->epoll, r->epoll);
  print_row("ward", r->ward, r->epoll);
}

static void json_stat(FILE *f, const char *k, stat3 s, int last) {
  fprintf(f, "      \"%s\": {\"median_us\": %.3f, \"min_us\": %.3f, \"max_us\": %.3f}%s\n", k,
          s.med, s.min, s.max, last ? "" : ",");
}

static void write_json(const char *path, const result *r, int n, int reps, int iters) {
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    return;
  }
  fprintf(f, "{\n  \"benchmark\": \"rtt\",\n  \"payload_bytes\": %d,\n", PAYLOAD);
  fprintf(f, "  \"repetitions\": %d,\n  \"round_trips_per_repetition\": %d,\n", reps, iters);
  fprintf(f, "  \"modes\": [\n");
  for (int i = 0; i < n; i++) {
    fprintf(f, "    {\n      \"mode\": \"%s\",\n", r[i].mode);
    json_stat(f, "raw_block", r[i].block, 0);
    json_stat(f, "raw_epoll", r[i].epoll, 0);
    json_stat(f, "ward", r[i].ward, 0);
    fprintf(f, "      \"ward_over_raw_epoll\": %.3f\n    }%s\n", r[i].ward.med / r[i].epoll.med,
            i + 1 < n ? "," : "");
  }
  fprintf(f, "  ]\n}\n");
  fclose(f);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--raw-child") == 0)
    return raw_child(3);
  if (argc > 1 && strcmp(argv[1], "--ward-child") == 0)
    return ward_child();
  ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
  if (n <= 0)
    die("readlink");
  self_path[n] = 0;
  signal(SIGPIPE, SIG_IGN);

  int quick = 0, reps = 7;
  const char *json = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0)
      quick = 1;
    else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
      reps = atoi(argv[++i]);
    else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
      json = argv[++i];
    else {
      fprintf(stderr, "usage: bench_rtt [--quick] [--reps N] [--json FILE]\n");
      return 2;
    }
  }
  if (reps < 1)
    reps = 1;
  if (reps > MAXREPS)
    reps = MAXREPS;
  if (quick)
    reps = 1;
  printf("ward %s: small request round trip against the raw floor\n", ward_version_string());
  result r[2];
  r[0] = run_mode("same CPU (pinned to CPU 0)", 1, reps, quick ? 200 : 20000);
  print_result(&r[0], reps, quick ? 200 : 20000);
  r[1] = run_mode("any CPU (unpinned)", 0, reps, quick ? 100 : 3000);
  print_result(&r[1], reps, quick ? 100 : 3000);
  if (json)
    write_json(json, r, 2, reps, quick ? 200 : 20000);
  return 0;
}
