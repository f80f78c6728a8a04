/*
 * bench_rtt.c — the round trip of a small request, ward against the raw
 * floor, measured in the same run.
 *
 * Figures (each value the mean round trip of one repetition; repetitions
 * alternate between the contenders so drift hits all alike): a raw
 * ping-pong of 32 bytes with a child, over a socketpair (POSIX) or a named
 * pipe (Windows), the parent waiting for each reply in one of the ways the
 * system has:
 *   raw-block   blocking read() / ReadFile() on a synchronous handle
 *   raw-poll    poll() on the socket, then read()            (POSIX)
 *   raw-epoll   epoll_wait(), then read()                    (Linux)
 *   raw-event   overlapped ReadFile, waiting on its event    (Windows)
 *   raw-iocp    overlapped ReadFile on a handle of an I/O completion
 *               port, waiting in GetQueuedCompletionStatus  (Windows)
 * and
 *   ward        ward_request() of 32 bytes to a worker echoing them.
 *
 * The ratio is to the raw loop that waits as the backend's own loop does:
 * raw-epoll for the linux backend, raw-poll for the posix backend,
 * raw-iocp for the win backend (WARD__BACKEND_NAME says which was built).
 *
 * Both modes are run: "same CPU" (the whole process and its children pinned
 * to CPU 0, which gives repeatable figures on VMs whose idle CPUs are slow
 * to wake) and "any CPU" (unpinned, noisy).
 *
 * Where valgrind is installed (POSIX, not with --quick), the instructions
 * the host process runs per round trip are counted too: the benchmark runs
 * itself under `valgrind --tool=callgrind --trace-children=no` (so the
 * worker runs natively) in a small mode doing N round trips, for two N,
 * and divides the difference of the Ir totals by the difference of the N:
 * start-up and tear-down cancel out.
 *
 * Usage: bench_rtt [--quick] [--reps N] [--json FILE]
 */
#ifndef _WIN32
#include <dirent.h>
#endif
#ifdef __linux__
#include <sys/epoll.h>
#endif

#include "bench.h"

#define PAYLOAD 32

/* ---- the other ends ---- */

static int raw_child(bench_fd fd) {
  char buf[PAYLOAD];
  for (;;) {
    if (!read_full(fd, buf, PAYLOAD))
      return 0;
    write_full(fd, buf, PAYLOAD);
  }
}

static const bench_method methods[] = {{"echo", bench_m_echo}};

/* ---- raw ping-pong: this system's ways of waiting for the reply ---- */

#ifdef _WIN32
enum { W_BLOCK, W_EVENT, W_IOCP, W_COUNT };
static const char *const waiter_names[W_COUNT] = {"raw-block", "raw-event", "raw-iocp"};

typedef struct raw {
  bench_fd fd;
  bench_pid pid;
  int waiter;
  HANDLE port;           /* W_IOCP */
  OVERLAPPED rov, wov;   /* W_EVENT, W_IOCP */
} raw;

static void raw_start(raw *r, int waiter) {
  memset(r, 0, sizeof *r);
  r->waiter = waiter;
  r->pid = raw_spawn_ex("--raw-child", &r->fd, waiter != W_BLOCK);
  if (waiter == W_BLOCK)
    return;
  r->rov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
  r->wov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (!r->rov.hEvent || !r->wov.hEvent)
    bench_win_die("CreateEvent");
  if (waiter == W_IOCP && !(r->port = CreateIoCompletionPort(r->fd, NULL, 0, 1)))
    bench_win_die("CreateIoCompletionPort");
}

static void raw_stop(raw *r) {
  raw_reap(r->pid, r->fd);
  if (r->port)
    CloseHandle(r->port);
  if (r->rov.hEvent)
    CloseHandle(r->rov.hEvent);
  if (r->wov.hEvent)
    CloseHandle(r->wov.hEvent);
}

/* Starts an overlapped read or write of `ov`. */
static void ov_start(raw *r, OVERLAPPED *ov, void *buf, DWORD n, int write) {
  ResetEvent(ov->hEvent);
  ov->Internal = ov->InternalHigh = 0;
  ov->Offset = ov->OffsetHigh = 0;
  BOOL ok = write ? WriteFile(r->fd, buf, n, NULL, ov) : ReadFile(r->fd, buf, n, NULL, ov);
  if (!ok && GetLastError() != ERROR_IO_PENDING)
    bench_win_die(write ? "raw WriteFile" : "raw ReadFile");
}

/* One round trip over the overlapped handle: the write, then reads until
 * the whole reply is in, waiting on the read's event or on the port. A
 * completion that is done at once still posts its packet to the port (no
 * FILE_SKIP_COMPLETION_PORT_ON_SUCCESS, as in ward's loop). */
static void raw_trip_ov(raw *r, char *buf) {
  DWORD n;
  ov_start(r, &r->wov, buf, PAYLOAD, 1);
  int wdone = 0;
  DWORD got = 0;
  while (got < PAYLOAD) {
    ov_start(r, &r->rov, buf + got, PAYLOAD - got, 0);
    if (r->waiter == W_EVENT) {
      if (!GetOverlappedResult(r->fd, &r->rov, &n, TRUE))
        bench_win_die("raw GetOverlappedResult");
      got += n;
      continue;
    }
    for (;;) {
      ULONG_PTR key;
      OVERLAPPED *ov;
      if (!GetQueuedCompletionStatus(r->port, &n, &key, &ov, INFINITE))
        bench_win_die("raw GetQueuedCompletionStatus");
      if (ov == &r->wov) {
        wdone = 1;
        continue;
      }
      got += n;
      break;
    }
  }
  if (r->waiter == W_EVENT) {
    if (!GetOverlappedResult(r->fd, &r->wov, &n, TRUE))
      bench_win_die("raw GetOverlappedResult (write)");
  } else {
    while (!wdone) {
      ULONG_PTR key;
      OVERLAPPED *ov;
      if (!GetQueuedCompletionStatus(r->port, &n, &key, &ov, INFINITE))
        bench_win_die("raw GetQueuedCompletionStatus");
      wdone = ov == &r->wov;
    }
  }
}

static double raw_run(raw *r, int n) {
  char buf[PAYLOAD];
  memset(buf, 'r', sizeof buf);
  double t0 = now_us();
  for (int i = 0; i < n; i++) {
    if (r->waiter == W_BLOCK) {
      write_full(r->fd, buf, PAYLOAD);
      read_full(r->fd, buf, PAYLOAD);
    } else {
      raw_trip_ov(r, buf);
    }
  }
  return (now_us() - t0) / n;
}
#else
#ifdef __linux__
enum { W_BLOCK, W_POLL, W_EPOLL, W_COUNT };
static const char *const waiter_names[W_COUNT] = {"raw-block", "raw-poll", "raw-epoll"};
#else
enum { W_BLOCK, W_POLL, W_COUNT };
static const char *const waiter_names[W_COUNT] = {"raw-block", "raw-poll"};
#endif

typedef struct raw {
  bench_fd fd;
  bench_pid pid;
  int waiter;
  int ep; /* W_EPOLL */
} raw;

static void raw_start(raw *r, int waiter) {
  r->waiter = waiter;
  r->pid = raw_spawn("--raw-child", &r->fd);
  r->ep = -1;
#ifdef __linux__
  if (waiter == W_EPOLL) {
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    if (r->ep < 0 || epoll_ctl(r->ep, EPOLL_CTL_ADD, r->fd, &ev))
      die("epoll");
  }
#endif
}

static void raw_stop(raw *r) {
  if (r->ep >= 0)
    close(r->ep);
  raw_reap(r->pid, r->fd);
}

static double raw_run(raw *r, int n) {
  char buf[PAYLOAD];
  memset(buf, 'r', sizeof buf);
  double t0 = now_us();
  for (int i = 0; i < n; i++) {
    write_full(r->fd, buf, PAYLOAD);
    if (r->waiter == W_POLL) {
      struct pollfd p = {.fd = r->fd, .events = POLLIN};
      while (poll(&p, 1, -1) != 1) {
      }
    }
#ifdef __linux__
    if (r->waiter == W_EPOLL) {
      struct epoll_event ev;
      while (epoll_wait(r->ep, &ev, 1, -1) != 1) {
      }
    }
#endif
    read_full(r->fd, buf, PAYLOAD);
  }
  return (now_us() - t0) / n;
}
#endif

/* The raw loop ward is measured against: the one that waits as the
 * backend's loop does. */
static int base_waiter(void) {
#ifdef _WIN32
  return W_IOCP;
#elif defined(__linux__)
  return strcmp(WARD__BACKEND_NAME, "posix") == 0 ? W_POLL : W_EPOLL;
#else
  return W_POLL;
#endif
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

/* A worker whose frames travel as `frames` says (WARD_FRAMES_*), or NULL
 * when the backend has no such transport (shared memory on posix, win). */
static ward_worker *spawn_worker(ward_host *h, int frames) {
  ward_spec *s = bench_spec("echo", "--ward-child");
  if (ward_spec_frames(s, frames)) {
    ward_spec_free(s);
    return NULL;
  }
  ward_worker *w;
  if (ward_spawn(&w, h, s))
    die("ward_spawn");
  ward_spec_free(s);
  return w;
}

static ward_worker *start_worker(ward_host **h) {
  if (ward_host_new(h, NULL))
    die("ward_host_new");
  return spawn_worker(*h, WARD_FRAMES_SOCKET);
}

/* One mode: a fresh host and raw peers, so the threads and children take
 * the main thread's affinity. */
static void run_mode(const bench_mode *mode, int iters) {
  bench_set_mode(mode);
  ward_host *h;
  ward_worker *w = start_worker(&h);
  ward_worker *wm = spawn_worker(h, WARD_FRAMES_SHM);
  raw r[W_COUNT];
  for (int k = 0; k < W_COUNT; k++)
    raw_start(&r[k], k);
  /* One measurement lasts 0.3 s at most: under Wine a round trip costs a
   * hundred times what it does natively. */
  double probe = raw_run(&r[base_waiter()], 200);
  if (probe > 0 && iters > 0.3e6 / probe)
    iters = 0.3e6 / probe < 200 ? 200 : (int)(0.3e6 / probe);
  /* Warm up every path. */
  for (int k = 0; k < W_COUNT; k++)
    raw_run(&r[k], iters / 10 + 1);
  ward_run(w, iters / 10 + 1);
  if (wm)
    ward_run(wm, iters / 10 + 1);
  double vr[W_COUNT][BENCH_MAXREPS], vw[BENCH_MAXREPS], vm[BENCH_MAXREPS];
  for (int i = 0; i < B.reps; i++) {
    for (int k = 0; k < W_COUNT; k++)
      vr[k][i] = raw_run(&r[k], iters);
    vw[i] = ward_run(w, iters);
    if (wm)
      vm[i] = ward_run(wm, iters);
  }
  for (int k = 0; k < W_COUNT; k++)
    raw_stop(&r[k]);
  ward_host_free(h);
  char sec[160];
  snprintf(sec, sizeof sec,
           "round trip, %d-byte request -> reply, 1 caller, %s: %d reps x %d round trips",
           PAYLOAD, mode->label, B.reps, iters);
  int base = base_waiter(), rows[W_COUNT];
  for (int k = 0; k < W_COUNT; k++)
    rows[k] = row_add(sec, waiter_names[k], "us", vr[k], B.reps);
  for (int k = 0; k < W_COUNT; k++)
    row_vs(rows[k], rows[base]);
  int rw = row_add(sec, "ward", "us", vw, B.reps);
  row_vs(rw, rows[base]);
  char target[64];
  snprintf(target, sizeof target, "<= 1.3x %s", waiter_names[base]);
  row_target(rw, T_RATIO_LE, 1.3, target);
  if (wm) {
    /* Frames in shared memory (api.md 8.5.1): against the same socket floor. */
    int rm = row_add(sec, "ward, shared memory", "us", vm, B.reps);
    row_vs(rm, rows[base]);
    snprintf(target, sizeof target, "<= 0.6x %s", waiter_names[base]);
    row_target(rm, T_RATIO_LE, 0.6, target);
  }
  bench_set_mode(NULL);
}

#ifndef _WIN32
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
    raw_start(&r, base_waiter());
    raw_run(&r, n);
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
  int rr = row_add(sec, waiter_names[base_waiter()], "Ir", &per[0], 1);
  int rw = row_add(sec, "ward", "Ir", &per[1], 1);
  row_vs(rr, rr);
  row_vs(rw, rr);
  bench_note("callgrind counts user-space instructions of the host process (all its threads), "
             "not the kernel's and not the worker's; one run each, they repeat within a few "
             "hundred Ir");
}
#endif

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--raw-child") == 0)
    return raw_child(raw_child_end(argc > 2 ? argv[2] : NULL));
  if (argc > 1 && strcmp(argv[1], "--ward-child") == 0)
    return bench_ward_child(methods, 1);
#ifndef _WIN32
  if (argc > 2 && strncmp(argv[1], "--cg-", 5) == 0) {
    B.name = "rtt";
    bench_os_init();
    return cg_mode(argv[1] + 5, atoi(argv[2]));
  }
#endif
  bench_init("rtt", argc, argv);
  bench_title("small request round trip against the raw floor");
  for (int m = 0; m < bench_nmodes(); m++)
    run_mode(&bench_modes[m], B.quick ? 200 : bench_modes[m].pinned ? 50000 : 10000);
#ifdef _WIN32
  bench_note("no instruction counts on Windows (they come from valgrind's callgrind)");
#else
  if (!B.quick)
    callgrind_figures();
#endif
  bench_note("ratios are the median of per-repetition ratios; cross-CPU (unpinned) figures "
             "pay the wake-up of an idle CPU and jump between runs (bench/README.md)");
  bench_report();
  return 0;
}
