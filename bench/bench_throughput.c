/*
 * bench_throughput.c — messages per second: many callers on one worker,
 * one-way notifications, and rows streamed from one call; ward against a
 * raw socketpair doing the same work, in the same run.
 *
 * Figures, in both modes (pinned to CPU 0, and unpinned):
 *   round trips/s   ward: 1 caller, 8 threads calling one worker, and 8
 *                         asynchronous calls in flight from one thread
 *                         (each call's done callback starts the next)
 *                   raw:  ping-pong with 1 request in flight, and with 8 in
 *                         flight (pipelined) on the same echo child
 *   notify msg/s    ward: ward_notify of 32 bytes, the worker counts them;
 *                         the host then requests the count, which ends the
 *                         measurement (the count arrives after the last one)
 *                   raw:  [u32 length][32 bytes] frames, one write() each,
 *                         and the same frames batched into 64 KiB writes
 *   rows/s          ward: one call whose handler emits N rows of 32 bytes
 *                         (ward_ctx_row, or ward_ctx_rows 256 at a time),
 *                         counted by on_row in the host, or by on_rows
 *                   raw:  the child writes N frames, one write() each, and
 *                         batched into 64 KiB writes
 *
 * Usage: bench_throughput [--quick] [--reps N] [--json FILE]
 */
#include <pthread.h>
#include <stdatomic.h>

#include "bench.h"

#define PAYLOAD 32
#define CALLERS 8
#define BATCH (64 * 1024)

/* ------------------------------------------------------------------ */
/* The worker                                                          */


static int m_rows(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  uint64_t count = 0;
  if (n == sizeof count)
    memcpy(&count, d, sizeof count);
  char row[PAYLOAD];
  memset(row, 'x', sizeof row);
  for (uint64_t i = 0; i < count; i++) {
    int rv = ward_ctx_row(ctx, "r", row, sizeof row);
    if (rv)
      return ward_ctx_fail(ctx, rv, "row failed");
  }
  return ward_ctx_reply(ctx, NULL, 0);
}

/* The same rows through ward_ctx_rows, 256 at a time. */
static int m_rows_batched(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  uint64_t count = 0;
  if (n == sizeof count)
    memcpy(&count, d, sizeof count);
  char row[PAYLOAD];
  memset(row, 'x', sizeof row);
  ward_row batch[256];
  for (size_t i = 0; i < 256; i++)
    batch[i] = (ward_row){row, sizeof row};
  for (uint64_t i = 0; i < count;) {
    size_t m = count - i < 256 ? (size_t)(count - i) : 256;
    int rv = ward_ctx_rows(ctx, "r", batch, m);
    if (rv)
      return ward_ctx_fail(ctx, rv, "rows failed");
    i += m;
  }
  return ward_ctx_reply(ctx, NULL, 0);
}

static const bench_method methods[] = {{"echo", bench_m_echo},
                                       {"n", bench_m_note},
                                       {"count", bench_m_count},
                                       {"rows", m_rows},
                                       {"rows_batched", m_rows_batched}};

/* ------------------------------------------------------------------ */
/* The raw children                                                    */

static int raw_echo(int fd) {
  char buf[PAYLOAD];
  while (read_full(fd, buf, PAYLOAD))
    write_full(fd, buf, PAYLOAD);
  return 0;
}

/* Counts [u32 len][payload] frames read in 64 KiB chunks; a frame of
 * length 0 asks for the count (u64), which is then reset. */
static int raw_sink(int fd) {
  static char buf[BATCH + PAYLOAD + 8];
  size_t have = 0;
  uint64_t count = 0;
  for (;;) {
    ssize_t r = read(fd, buf + have, BATCH);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return 0;
    have += (size_t)r;
    size_t off = 0;
    while (have - off >= 4) {
      uint32_t len;
      memcpy(&len, buf + off, 4);
      if (have - off < 4 + (size_t)len)
        break;
      off += 4 + len;
      if (len == 0) {
        write_full(fd, &count, sizeof count);
        count = 0;
      } else {
        count++;
      }
    }
    memmove(buf, buf + off, have - off);
    have -= off;
  }
}

/* Writes n frames [u32 len][PAYLOAD bytes of `c`], one write() each or
 * packed into 64 KiB writes. */
static void raw_send_frames(int fd, uint64_t n, int batched, char c) {
  static char buf[BATCH];
  char frame[4 + PAYLOAD];
  uint32_t len = PAYLOAD;
  memcpy(frame, &len, 4);
  memset(frame + 4, c, PAYLOAD);
  size_t fill = 0;
  for (uint64_t i = 0; i < n; i++) {
    if (!batched) {
      write_full(fd, frame, sizeof frame);
      continue;
    }
    if (fill + sizeof frame > sizeof buf) {
      write_full(fd, buf, fill);
      fill = 0;
    }
    memcpy(buf + fill, frame, sizeof frame);
    fill += sizeof frame;
  }
  if (fill)
    write_full(fd, buf, fill);
}

/* Reads [u64 n][u32 batched] and writes n frames of PAYLOAD bytes. */
static int raw_rows(int fd) {
  for (;;) {
    uint64_t n;
    uint32_t batched;
    if (!read_full(fd, &n, sizeof n) || !read_full(fd, &batched, sizeof batched))
      return 0;
    raw_send_frames(fd, n, (int)batched, 'x');
  }
}

/* ------------------------------------------------------------------ */
/* Round trips per second                                              */

static double ward_serial(ward_worker *w, int n) {
  char buf[PAYLOAD];
  memset(buf, 'w', sizeof buf);
  int64_t t0 = now_ns();
  for (int i = 0; i < n; i++)
    if (ward_request(NULL, w, "echo", buf, PAYLOAD, 10000))
      die("ward_request");
  return n / ((double)(now_ns() - t0) / 1e9);
}

typedef struct caller {
  pthread_t t;
  ward_worker *w;
  int n;
  pthread_barrier_t *start;
} caller;

static void *caller_main(void *arg) {
  caller *c = arg;
  char buf[PAYLOAD];
  memset(buf, 'c', sizeof buf);
  pthread_barrier_wait(c->start);
  for (int i = 0; i < c->n; i++)
    if (ward_request(NULL, c->w, "echo", buf, PAYLOAD, 10000))
      die("ward_request (8 callers)");
  return NULL;
}

static double ward_parallel(ward_worker *w, int n) {
  caller c[CALLERS];
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, CALLERS + 1);
  for (int i = 0; i < CALLERS; i++) {
    c[i].w = w;
    c[i].n = n / CALLERS;
    c[i].start = &start;
    if (pthread_create(&c[i].t, NULL, caller_main, &c[i]))
      die("pthread_create");
  }
  pthread_barrier_wait(&start);
  int64_t t0 = now_ns();
  for (int i = 0; i < CALLERS; i++)
    pthread_join(c[i].t, NULL);
  double rate = (n / CALLERS) * CALLERS / ((double)(now_ns() - t0) / 1e9);
  pthread_barrier_destroy(&start);
  return rate;
}

/* ward's counterpart of the raw pipelined loop: CALLERS asynchronous
 * calls in flight from one thread, the host's I/O thread, where each
 * call's `done` starts the next (ward_call_start never waits there). */
typedef struct pipeline {
  ward_worker *w;
  int n;
  atomic_int started, ended, failed;
  pthread_mutex_t mu;
  pthread_cond_t cv;
} pipeline;

static void pipe_start(pipeline *p);

static void pipe_done(ward_call *call, int status, ward_msg *reply, void *ud) {
  pipeline *p = ud;
  ward_msg_free(reply);
  ward_call_free(call);
  if (status)
    atomic_store(&p->failed, status);
  pipe_start(p);
  if (atomic_fetch_add(&p->ended, 1) + 1 == p->n) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
}

static void pipe_start(pipeline *p) {
  static const char buf[PAYLOAD] = {'p'};
  if (atomic_fetch_add(&p->started, 1) >= p->n)
    return;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 10000;
  ward_call *call;
  if (ward_call_start(&call, p->w, "echo", buf, PAYLOAD, &o, pipe_done, p))
    die("ward_call_start");
}

static double ward_pipelined(ward_worker *w, int n) {
  pipeline p = {.w = w, .n = n};
  pthread_mutex_init(&p.mu, NULL);
  pthread_cond_init(&p.cv, NULL);
  int64_t t0 = now_ns();
  for (int i = 0; i < CALLERS; i++)
    pipe_start(&p);
  pthread_mutex_lock(&p.mu);
  while (atomic_load(&p.ended) < n)
    pthread_cond_wait(&p.cv, &p.mu);
  pthread_mutex_unlock(&p.mu);
  double rate = n / ((double)(now_ns() - t0) / 1e9);
  pthread_cond_destroy(&p.cv);
  pthread_mutex_destroy(&p.mu);
  if (atomic_load(&p.failed))
    die("an asynchronous echo failed (%d)", atomic_load(&p.failed));
  return rate;
}

/* `depth` requests in flight on the echo child: a new one goes out as
 * each reply comes back. */
static double raw_inflight(int fd, int n, int depth) {
  char buf[PAYLOAD];
  memset(buf, 'r', sizeof buf);
  int64_t t0 = now_ns();
  int sent = 0;
  for (; sent < depth && sent < n; sent++)
    write_full(fd, buf, PAYLOAD);
  for (int got = 0; got < n; got++) {
    read_full(fd, buf, PAYLOAD);
    if (sent < n) {
      write_full(fd, buf, PAYLOAD);
      sent++;
    }
  }
  return n / ((double)(now_ns() - t0) / 1e9);
}

/* ------------------------------------------------------------------ */
/* Notifications                                                       */


static double raw_notes(int fd, int n, int batched) {
  int64_t t0 = now_ns();
  raw_send_frames(fd, (uint64_t)n, batched, 'n');
  uint32_t zero = 0;
  write_full(fd, &zero, sizeof zero);
  uint64_t got;
  read_full(fd, &got, sizeof got);
  double rate = n / ((double)(now_ns() - t0) / 1e9);
  if (got != (uint64_t)n)
    die("the raw sink counted %llu frames of %d", (unsigned long long)got, n);
  return rate;
}

/* ------------------------------------------------------------------ */
/* Rows                                                                */

static void count_row(const char *stream, uint64_t seq, const void *d, size_t n, void *ud) {
  (void)stream, (void)seq, (void)d, (void)n;
  ++*(uint64_t *)ud;
}

static void count_rows(const char *stream, uint64_t seq, const ward_row *rows, size_t n,
                       void *ud) {
  (void)stream, (void)seq, (void)rows;
  *(uint64_t *)ud += n;
}

/* `batched`: the host takes rows in batches (on_rows), not one by one. */
static double ward_rows_via(ward_worker *w, int n, const char *method, int batched) {
  uint64_t want = (uint64_t)n, got = 0;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 60000;
  o.encoding = WARD_ENC_RAW;
  if (batched)
    o.on_rows = count_rows;
  else
    o.on_row = count_row;
  o.ud = &got;
  int64_t t0 = now_ns();
  if (ward_request_ex(NULL, w, method, &want, sizeof want, &o))
    die("ward_request rows");
  double rate = n / ((double)(now_ns() - t0) / 1e9);
  if (got != want)
    die("on_row saw %llu rows of %d", (unsigned long long)got, n);
  return rate;
}

static double ward_rows(ward_worker *w, int n) { return ward_rows_via(w, n, "rows", 0); }

static double raw_rows_run(int fd, int n, int batched) {
  static char buf[BATCH + 4 + PAYLOAD];
  uint64_t want = (uint64_t)n, got = 0;
  uint32_t b = (uint32_t)batched;
  int64_t t0 = now_ns();
  write_full(fd, &want, sizeof want);
  write_full(fd, &b, sizeof b);
  size_t have = 0;
  while (got < want) {
    ssize_t r = read(fd, buf + have, BATCH);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      die("raw rows read");
    have += (size_t)r;
    size_t off = 0;
    while (have - off >= 4) {
      uint32_t len;
      memcpy(&len, buf + off, 4);
      if (have - off < 4 + (size_t)len)
        break;
      off += 4 + len;
      got++;
    }
    memmove(buf, buf + off, have - off);
    have -= off;
  }
  return n / ((double)(now_ns() - t0) / 1e9);
}

/* ------------------------------------------------------------------ */

typedef struct counts {
  int rt, notes, rows;
} counts;

static void run_mode(const bench_mode *mode, counts k) {
  bench_set_mode(mode);
  ward_host *h;
  if (ward_host_new(&h, NULL))
    die("ward_host_new");
  ward_spec *s = bench_spec("tp", "--ward-child");
  ward_worker *w, *wm = NULL;
  if (ward_spec_frames(s, WARD_FRAMES_SOCKET) || ward_spawn(&w, h, s))
    die("ward_spawn");
  /* The same worker with its frames in shared memory, where there is some. */
  if (ward_spec_frames(s, WARD_FRAMES_SHM) == 0 && ward_spawn(&wm, h, s))
    die("ward_spawn");
  ward_spec_free(s);
  int efd, sfd, rfd;
  pid_t ep = raw_spawn("--raw-echo", &efd);
  pid_t sp = raw_spawn("--raw-sink", &sfd);
  pid_t rp = raw_spawn("--raw-rows", &rfd);

  /* Warm-up of every path. */
  ward_serial(w, k.rt / 10 + 1);
  ward_parallel(w, k.rt / 10 + CALLERS);
  ward_pipelined(w, k.rt / 10 + 1);
  raw_inflight(efd, k.rt / 10 + 1, 1);
  raw_inflight(efd, k.rt / 10 + 1, CALLERS);
  bench_ward_notes(w, k.notes / 10 + 1, PAYLOAD);
  raw_notes(sfd, k.notes / 10 + 1, 0);
  ward_rows(w, k.rows / 10 + 1);
  raw_rows_run(rfd, k.rows / 10 + 1, 0);
  if (wm) {
    ward_serial(wm, k.rt / 10 + 1);
    ward_parallel(wm, k.rt / 10 + CALLERS);
    ward_pipelined(wm, k.rt / 10 + 1);
    bench_ward_notes(wm, k.notes / 10 + 1, PAYLOAD);
    ward_rows(wm, k.rows / 10 + 1);
  }

  double r1[BENCH_MAXREPS], r8[BENCH_MAXREPS], w1[BENCH_MAXREPS], w8[BENCH_MAXREPS],
      wp[BENCH_MAXREPS], mp[BENCH_MAXREPS];
  double nr[BENCH_MAXREPS], nb[BENCH_MAXREPS], nw[BENCH_MAXREPS];
  double rr[BENCH_MAXREPS], rb[BENCH_MAXREPS], rw[BENCH_MAXREPS], rwb[BENCH_MAXREPS],
      rwo[BENCH_MAXREPS];
  /* The shared-memory worker's figures. */
  double m1[BENCH_MAXREPS], m8[BENCH_MAXREPS], mn[BENCH_MAXREPS], mrw[BENCH_MAXREPS],
      mrb[BENCH_MAXREPS], mro[BENCH_MAXREPS];
  for (int i = 0; i < B.reps; i++) {
    r1[i] = raw_inflight(efd, k.rt, 1);
    r8[i] = raw_inflight(efd, k.rt, CALLERS);
    w1[i] = ward_serial(w, k.rt);
    w8[i] = ward_parallel(w, k.rt);
    wp[i] = ward_pipelined(w, k.rt);
    nr[i] = raw_notes(sfd, k.notes, 0);
    nb[i] = raw_notes(sfd, k.notes, 1);
    nw[i] = bench_ward_notes(w, k.notes, PAYLOAD);
    rr[i] = raw_rows_run(rfd, k.rows, 0);
    rb[i] = raw_rows_run(rfd, k.rows, 1);
    rw[i] = ward_rows(w, k.rows);
    rwb[i] = ward_rows_via(w, k.rows, "rows_batched", 0);
    rwo[i] = ward_rows_via(w, k.rows, "rows_batched", 1);
    if (wm) {
      m1[i] = ward_serial(wm, k.rt);
      m8[i] = ward_parallel(wm, k.rt);
      mp[i] = ward_pipelined(wm, k.rt);
      mn[i] = bench_ward_notes(wm, k.notes, PAYLOAD);
      mrw[i] = ward_rows(wm, k.rows);
      mrb[i] = ward_rows_via(wm, k.rows, "rows_batched", 0);
      mro[i] = ward_rows_via(wm, k.rows, "rows_batched", 1);
    }
  }
  raw_reap(ep, efd);
  raw_reap(sp, sfd);
  raw_reap(rp, rfd);
  ward_host_free(h);

  char sec[160];
  int a, b, c, d;
  snprintf(sec, sizeof sec, "round trips/s, %d-byte echo, %s: %d reps x %d round trips",
           PAYLOAD, mode->label, B.reps, k.rt);
  a = row_add(sec, "raw, 1 in flight", "rt/s", r1, B.reps);
  b = row_add(sec, "raw, 8 in flight (pipelined)", "rt/s", r8, B.reps);
  row_vs(b, a);
  c = row_add(sec, "ward, 1 caller", "rt/s", w1, B.reps);
  row_vs(c, a);
  d = row_add(sec, "ward, 8 callers", "rt/s", w8, B.reps);
  row_vs(d, b);
  row_target(d, T_RATIO_GE, 0.8, ">= 0.8x pipelined");
  d = row_add(sec, "ward, 8 callers (scaling)", "rt/s", w8, B.reps);
  row_vs(d, c);
  row_target(d, T_RATIO_GE, 2.0, ">= 2x 1 caller");
  d = row_add(sec, "ward, 8 in flight, 1 thread (async)", "rt/s", wp, B.reps);
  row_vs(d, b);
  row_target(d, T_RATIO_GE, 0.8, ">= 0.8x pipelined");
  if (wm) {
    c = row_add(sec, "ward, 1 caller, shared memory", "rt/s", m1, B.reps);
    row_vs(c, a);
    d = row_add(sec, "ward, 8 callers, shared memory", "rt/s", m8, B.reps);
    row_vs(d, b);
    row_target(d, T_RATIO_GE, 0.8, ">= 0.8x pipelined");
    d = row_add(sec, "ward, 8 in flight, 1 thread, shared memory", "rt/s", mp, B.reps);
    row_vs(d, b);
    row_target(d, T_RATIO_GE, 0.8, ">= 0.8x pipelined");
  }

  snprintf(sec, sizeof sec, "notify one-way, %d-byte messages, %s: %d reps x %d messages",
           PAYLOAD, mode->label, B.reps, k.notes);
  a = row_add(sec, "raw, 1 write per frame", "msg/s", nr, B.reps);
  b = row_add(sec, "raw, 64 KiB writes", "msg/s", nb, B.reps);
  row_vs(b, a);
  c = row_add(sec, "ward_notify", "msg/s", nw, B.reps);
  row_vs(c, a);
  row_target(c, T_MED_GE, 2e6, ">= 2M msg/s");
  c = row_add(sec, "ward_notify (vs batched)", "msg/s", nw, B.reps);
  row_vs(c, b);
  if (wm) {
    c = row_add(sec, "ward_notify, shared memory", "msg/s", mn, B.reps);
    row_vs(c, a);
    row_target(c, T_MED_GE, 2e6, ">= 2M msg/s");
  }

  snprintf(sec, sizeof sec, "rows/s, %d-byte rows from one call, %s: %d reps x %d rows",
           PAYLOAD, mode->label, B.reps, k.rows);
  a = row_add(sec, "raw, 1 write per frame", "rows/s", rr, B.reps);
  b = row_add(sec, "raw, 64 KiB writes", "rows/s", rb, B.reps);
  row_vs(b, a);
  c = row_add(sec, "ward_ctx_row, one at a time", "rows/s", rw, B.reps);
  row_vs(c, a);
  c = row_add(sec, "ward_ctx_rows, 256 at a time", "rows/s", rwb, B.reps);
  row_vs(c, b);
  row_target(c, T_MED_GE, 3e6, ">= 3M rows/s");
  c = row_add(sec, "ward_ctx_rows, 256 at a time, host on_rows", "rows/s", rwo, B.reps);
  row_vs(c, b);
  row_target(c, T_MED_GE, 30e6, ">= 30M rows/s");
  if (wm) {
    c = row_add(sec, "ward_ctx_row, one at a time, shared memory", "rows/s", mrw, B.reps);
    row_vs(c, a);
    c = row_add(sec, "ward_ctx_rows, 256 at a time, shared memory", "rows/s", mrb, B.reps);
    row_vs(c, b);
    c = row_add(sec, "ward_ctx_rows, 256 at a time, host on_rows, shared memory", "rows/s", mro,
                B.reps);
    row_vs(c, b);
    row_target(c, T_MED_GE, 30e6, ">= 30M rows/s");
  }
  bench_set_mode(NULL);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--ward-child") == 0)
    return bench_ward_child(methods, sizeof methods / sizeof methods[0]);
  if (argc > 1 && strcmp(argv[1], "--raw-echo") == 0)
    return raw_echo(3);
  if (argc > 1 && strcmp(argv[1], "--raw-sink") == 0)
    return raw_sink(3);
  if (argc > 1 && strcmp(argv[1], "--raw-rows") == 0)
    return raw_rows(3);
  bench_init("throughput", argc, argv);
  bench_title("throughput of calls, notifications and rows against the raw floor");
  counts k = B.quick ? (counts){400, 2000, 2000} : (counts){40000, 200000, 400000};
  for (int m = 0; m < bench_nmodes(); m++)
    run_mode(&bench_modes[m], k);
  bench_note("ratios are the median of per-repetition ratios; 'scaling' compares ward's 8 "
             "callers with its own single caller");
  bench_report();
  return 0;
}
