/*
 * test_streams.c — calls that produce a lot: rows on named streams and
 * their summary, asynchronous calls and cancellation, flow control in both
 * directions, and peers that flood or ignore flow control.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "tevents.h"
#include "tworker.h"

static ward_host *host;

/* Notes the worker sends to the host ("note"), and a counter of floods. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static char note[128];
static long floods;

static int on_note(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)ud;
  pthread_mutex_lock(&mu);
  snprintf(note, sizeof note, "%.*s", (int)n, (const char *)d);
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  return 0;
}

static int on_hanging(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n;
  return on_note(ctx, "hanging", 7, ud);
}

static int on_flood(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)d, (void)n, (void)ud;
  /* A host handler slower than the flood: 20 us of work. */
  int64_t until = t_now_ms() * 1000 + 20;
  struct timespec ts;
  do
    clock_gettime(CLOCK_MONOTONIC, &ts);
  while ((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 < until);
  pthread_mutex_lock(&mu);
  floods++;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  return 0;
}

static void wait_note_prefix(const char *prefix, char *out, size_t cap) {
  int64_t deadline = t_now_ms() + 20000;
  pthread_mutex_lock(&mu);
  while (strncmp(note, prefix, strlen(prefix)) != 0 && t_now_ms() < deadline) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&cv, &mu, &ts);
  }
  snprintf(out, cap, "%s", note);
  note[0] = 0;
  pthread_mutex_unlock(&mu);
  if (strncmp(out, prefix, strlen(prefix)) != 0)
    T_FAIL("no note starting '%s' within 20 s (last: '%s')", prefix, out);
}

static ward_worker *spawn(const char *name) {
  ward_worker *w;
  ward_spec *s = tw_spec(name, "serve");
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  return w;
}

/* ---- rows and summary ---- */

struct rowcheck {
  uint64_t next;
  size_t size;
  uint64_t bytes;
  int slow_us;
};

static void check_row(const char *stream, uint64_t seq, const void *d, size_t n, void *ud) {
  struct rowcheck *r = ud;
  T_EQ_STR(stream, "data");
  T_EQ_INT(seq, ++r->next);
  T_EQ_INT(n, r->size);
  const uint8_t *b = d;
  /* Spot-check the pattern; a full check of 1 GiB would be the bottleneck. */
  for (size_t i = 0; i < n; i += 4093)
    T_EQ_INT(b[i], (uint8_t)((seq - 1 + i) & 0xff));
  r->bytes += n;
  if (r->slow_us) {
    struct timespec ts = {0, (long)r->slow_us * 1000L};
    nanosleep(&ts, NULL);
  }
}

static void test_rows_and_summary(void) {
  ward_worker *w = spawn("rows");
  struct rowcheck r = {0, 1000, 0, 0};
  ward_summary sum = WARD_SUMMARY_INIT;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 30000;
  o.on_row = check_row;
  o.ud = &r;
  o.summary = &sum;
  ward_msg *m = NULL;
  T_OK(ward_request_ex(&m, w, "stream", "500 1000", 8, &o));
  T_EQ_INT(r.next, 500);
  T_EQ_INT(sum.rows, 500);
  T_EQ_INT(sum.row_bytes, 500000);
  T_EQ_INT(sum.nstreams, 1);
  T_EQ_STR(sum.streams[0].name, "data");
  T_EQ_INT(sum.streams[0].rows, 500);
  T_TRUE(sum.elapsed_us > 0);
  T_TRUE(strncmp((const char *)ward_msg_data(m), "sent=500", 8) == 0);
  ward_summary_clear(&sum);
  T_TRUE(sum.streams == NULL);
  ward_msg_free(m);

  /* The same through ward_ctx_rows: batched writes, the same rows. */
  struct rowcheck rb = {0, 100, 0, 0};
  o.ud = &rb;
  sum = (ward_summary)WARD_SUMMARY_INIT;
  T_OK(ward_request_ex(&m, w, "stream_batch", "20000 100", 9, &o));
  T_EQ_INT(rb.next, 20000);
  T_EQ_INT(sum.rows, 20000);
  T_EQ_INT(sum.row_bytes, 2000000);
  ward_summary_clear(&sum);
  ward_msg_free(m);
  /* Batches keep to a small window too (the sink is slow, the worker waits). */
  struct rowcheck rs = {0, 1000, 0, 20};
  o.ud = &rs;
  o.window_bytes = 16 * 1024;
  T_OK(ward_request_ex(&m, w, "stream_batch", "2000 1000", 9, &o));
  T_EQ_INT(rs.next, 2000);
  T_EQ_INT(sum.rows, 2000);
  ward_summary_clear(&sum);
  ward_msg_free(m);
  o.window_bytes = 0;

  /* Two streams, each numbered from 1. */
  sum = (ward_summary)WARD_SUMMARY_INIT;
  o.on_row = NULL;
  T_OK(ward_request_ex(NULL, w, "rows", NULL, 0, &o));
  T_EQ_INT(sum.nstreams, 2);
  T_EQ_STR(sum.streams[0].name, "a");
  T_EQ_STR(sum.streams[1].name, "b");
  T_EQ_INT(sum.streams[0].rows, 5);
  T_EQ_INT(sum.rows, 10);
  T_EQ_INT(sum.diagnostics, 1);
  ward_summary_clear(&sum);
  ward_worker_free(w);
}

static void check_sized(const char *stream, uint64_t seq, const ward_row *rows, size_t n,
                        void *ud) {
  uint64_t *next = ud;
  T_EQ_STR(stream, "data");
  T_EQ_INT(seq, *next + 1);
  for (size_t r = 0; r < n; r++) {
    uint64_t k = seq + r - 1;
    const uint8_t *b = rows[r].data;
    T_EQ_INT(rows[r].len, k % 300);
    for (size_t i = 0; i < rows[r].len; i++)
      if (b[i] != (uint8_t)((k + i) & 0xff))
        T_FAIL("row %llu differs at byte %zu", (unsigned long long)k, i);
  }
  *next += n;
}

/* ward_ctx_rows frames rows of every length, empty to past 128 bytes,
 * each whole and in order. */
static void test_rows_batch_sizes(void) {
  ward_worker *w = spawn("rows_sizes");
  uint64_t next = 0;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 30000;
  o.on_rows = check_sized;
  o.ud = &next;
  T_OK(ward_request_ex(NULL, w, "rows_sizes", "3000", 4, &o));
  T_EQ_INT(next, 3000);
  ward_worker_free(w);
}

/* A batch with a row over the caller's limit fails whole, before anything is
 * sent, and the worker lives on; a row with NULL data is empty. */
static void test_rows_batch_edges(void) {
  ward_host_opts ho = WARD_HOST_OPTS_INIT;
  ho.max_frame = 4096;
  ward_host *h;
  T_OK(ward_host_new(&h, &ho));
  ward_spec *s = tw_spec("rows_edge", "serve");
  ward_worker *w;
  T_OK(ward_spawn(&w, h, s));
  ward_spec_free(s);
  ward_summary sum = WARD_SUMMARY_INIT;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 30000;
  o.summary = &sum;
  ward_msg *m = NULL;
  T_OK(ward_request_ex(&m, w, "rows_edge", NULL, 0, &o));
  T_EQ_STR((const char *)ward_msg_data(m), "ETOOBIG OK");
  T_EQ_INT(sum.rows, 2);
  T_EQ_INT(sum.row_bytes, 1);
  ward_summary_clear(&sum);
  ward_msg_free(m);
  ward_info info = WARD_INFO_INIT;
  T_OK(ward_worker_info(&info, w));
  T_EQ_INT(info.restarts, 0);
  T_EQ_INT(info.generation, 1);
  ward_worker_free(w);
  ward_host_free(h);
}

/* ---- asynchronous calls ---- */

struct done_log {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int calls;
  int status;
  char reply[64];
  int on_io_thread_rows;
};

static void on_done(ward_call *call, int status, ward_msg *reply, void *ud) {
  (void)call;
  struct done_log *d = ud;
  pthread_mutex_lock(&d->mu);
  d->calls++;
  d->status = status;
  snprintf(d->reply, sizeof d->reply, "%.*s", (int)ward_msg_len(reply),
           (const char *)ward_msg_data(reply));
  pthread_cond_broadcast(&d->cv);
  pthread_mutex_unlock(&d->mu);
  ward_msg_free(reply);
}

/* ---- rows in batches (on_rows) ---- */

struct batchcheck {
  uint64_t next[3]; /* per stream "data", "a", "b": the last seq seen */
  size_t size;      /* of each "data" row */
  uint64_t rows, calls, bytes;
  int on_row_calls;
};

static void batch_on_row(const char *stream, uint64_t seq, const void *d, size_t n, void *ud) {
  (void)stream, (void)seq, (void)d, (void)n;
  ((struct batchcheck *)ud)->on_row_calls++;
}

static void check_rows(const char *stream, uint64_t seq, const ward_row *rows, size_t n,
                       void *ud) {
  struct batchcheck *r = ud;
  T_TRUE(n > 0);
  int k = strcmp(stream, "data") == 0 ? 0 : strcmp(stream, "a") == 0 ? 1 : 2;
  if (k == 2)
    T_EQ_STR(stream, "b");
  /* Each row once, in order, numbered on from the last. */
  T_EQ_INT(seq, r->next[k] + 1);
  for (size_t i = 0; i < n; i++) {
    const uint8_t *b = rows[i].data;
    uint64_t q = seq + i;
    if (k == 0) {
      T_EQ_INT(rows[i].len, r->size);
      T_EQ_INT(b[0], (uint8_t)((q - 1) & 0xff));
      T_EQ_INT(b[rows[i].len - 1], (uint8_t)((q - 1 + rows[i].len - 1) & 0xff));
    } else {
      char want[16];
      snprintf(want, sizeof want, "%s%llu", stream, (unsigned long long)q);
      T_EQ_INT(rows[i].len, strlen(want));
      T_EQ_MEM(b, want, rows[i].len);
    }
    /* As on_row's data: a NUL after it. */
    T_EQ_INT(b[rows[i].len], 0);
    r->bytes += rows[i].len;
  }
  r->next[k] = seq + n - 1;
  r->rows += n;
  r->calls++;
}

/* on_rows gets every row once, in order, with its stream and sequence
 * number, rows that came together in one call; on_row is then not
 * called. Through a small window (the worker waits for credit that only
 * handing batches over gives back) and the default one, on the blocking
 * and the asynchronous path, and with rows of two streams interleaved
 * (a batch never mixes streams). */
static void test_rows_in_batches(void) {
  ward_worker *w = spawn("batches");
  ward_summary sum = WARD_SUMMARY_INIT;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 30000;
  o.on_rows = check_rows;
  o.on_row = batch_on_row;
  o.summary = &sum;
  int windows[] = {16 * 1024, 0};
  for (int i = 0; i < 2; i++) {
    struct batchcheck r = {.size = 100};
    o.ud = &r;
    o.window_bytes = windows[i];
    ward_msg *m = NULL;
    T_OK(ward_request_ex(&m, w, "stream_batch", "20000 100", 9, &o));
    T_EQ_INT(r.next[0], 20000);
    T_EQ_INT(r.rows, 20000);
    T_EQ_INT(r.bytes, 2000000);
    T_EQ_INT(r.on_row_calls, 0);
    T_EQ_INT(sum.rows, 20000);
    fprintf(stderr, "  window %d: 20000 rows in %llu calls of on_rows\n", windows[i],
            (unsigned long long)r.calls);
    /* Rows read together are handed over together (the worker writes
     * them 64 KiB or a half window at a time). */
    T_TRUE(r.calls < r.rows / 8);
    ward_summary_clear(&sum);
    ward_msg_free(m);
  }
  o.window_bytes = 0;

  /* Two streams, interleaved row by row. */
  struct batchcheck r2 = {.size = 0};
  o.ud = &r2;
  T_OK(ward_request_ex(NULL, w, "rows", NULL, 0, &o));
  T_EQ_INT(r2.next[1], 5);
  T_EQ_INT(r2.next[2], 5);
  T_EQ_INT(r2.rows, 10);
  T_EQ_INT(sum.rows, 10);
  ward_summary_clear(&sum);

  /* Asynchronous: the batches are handed over on the I/O thread. */
  struct batchcheck r3 = {.size = 100};
  struct done_log d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, "", 0};
  o.ud = &r3;
  o.summary = NULL;
  ward_call *call;
  T_OK(ward_call_start(&call, w, "stream_batch", "5000 100", 8, &o, on_done, &d));
  T_OK(ward_call_wait(call, 30000));
  T_EQ_INT(d.calls, 1);
  T_EQ_INT(d.status, WARD_OK);
  T_EQ_INT(r3.rows, 5000);
  T_EQ_INT(r3.next[0], 5000);
  T_EQ_INT(r3.on_row_calls, 0);
  ward_call_free(call);
  ward_worker_free(w);
}

static void test_async_call(void) {
  ward_worker *w = spawn("async");
  struct done_log d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, "", 0};
  ward_call *call;
  T_OK(ward_call_start(&call, w, "echo", "\"async\"", 7, NULL, on_done, &d));
  T_OK(ward_call_wait(call, 20000));
  T_EQ_INT(d.calls, 1);
  T_EQ_STR(d.reply, "\"async\"");
  /* Cancelling or waiting again after the end changes nothing. */
  T_OK(ward_call_cancel(call));
  T_OK(ward_call_wait(call, 0));
  T_EQ_INT(d.calls, 1);
  ward_call_free(call);

  /* Many at once, each completing exactly once. */
  struct done_log many = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, "", 0};
  ward_call *calls[100];
  for (int i = 0; i < 100; i++)
    T_OK(ward_call_start(&calls[i], w, "echo", "1", 1, NULL, on_done, &many));
  for (int i = 0; i < 100; i++) {
    T_OK(ward_call_wait(calls[i], 20000));
    ward_call_free(calls[i]);
  }
  T_EQ_INT(many.calls, 100);

  /* A handle freed early: the call still ends once. */
  struct done_log early = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, "", 0};
  T_OK(ward_call_start(&call, w, "work", "100", 3, NULL, on_done, &early));
  ward_call_free(call);
  pthread_mutex_lock(&early.mu);
  int64_t deadline = t_now_ms() + 20000;
  while (early.calls == 0 && t_now_ms() < deadline) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&early.cv, &early.mu, &ts);
  }
  pthread_mutex_unlock(&early.mu);
  T_EQ_INT(early.calls, 1);
  T_EQ_STR(early.reply, "worked");

  /* A deadline is kept by the host for a call nobody waits on. */
  struct done_log late = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, "", 0};
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 200;
  T_OK(ward_call_start(&call, w, "hang", NULL, 0, &o, on_done, &late));
  int64_t t0 = t_now_ms();
  T_ERR(ward_call_wait(call, 20000), WARD_ETIMEDOUT);
  T_TRUE(t_now_ms() - t0 >= 190);
  T_EQ_INT(late.calls, 1);
  T_EQ_INT(late.status, WARD_ETIMEDOUT);
  ward_call_free(call);
  ward_worker_free(w);
}

/* ---- cancellation ---- */

static void first_row(const char *stream, uint64_t seq, const void *d, size_t n, void *ud) {
  (void)stream, (void)d, (void)n;
  struct done_log *l = ud;
  pthread_mutex_lock(&l->mu);
  if (seq == 1)
    l->on_io_thread_rows++;
  pthread_cond_broadcast(&l->cv);
  pthread_mutex_unlock(&l->mu);
}

static void test_cancel(void) {
  ward_worker *w = spawn("cancel");
  int pid = ward_worker_pid(w);
  struct done_log d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, "", 0};
  ward_call *call;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.on_row = first_row;
  o.ud = &d;
  /* on_row and done share `d`: done's ud is the same log. */
  T_OK(ward_call_start(&call, w, "until_cancel", NULL, 0, &o, on_done, &d));
  /* Cancel once the handler is running (its first row has arrived). */
  pthread_mutex_lock(&d.mu);
  int64_t deadline = t_now_ms() + 20000;
  while (!d.on_io_thread_rows && t_now_ms() < deadline) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&d.cv, &d.mu, &ts);
  }
  pthread_mutex_unlock(&d.mu);
  T_EQ_INT(d.on_io_thread_rows, 1);
  T_OK(ward_call_cancel(call));
  T_ERR(ward_call_wait(call, 20000), WARD_ECANCELED);
  T_EQ_INT(d.calls, 1);
  ward_call_free(call);
  /* The worker saw it at its next row and through ward_ctx_cancelled. */
  char got[128];
  wait_note_prefix("cancelled", got, sizeof got);
  /* It ended the call in time: same process, still serving. */
  T_OK(ward_ping(w, 20000));
  T_EQ_INT(ward_worker_pid(w), pid);
  ward_worker_free(w);
}

static void test_cancel_ignored(void) {
  ward_spec *s = tw_spec("stubborn", "serve");
  T_OK(ward_spec_cancel_grace(s, 300));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  uint64_t id = ward_worker_id(w);
  int pid = ward_worker_pid(w);
  struct done_log d = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, "", 0};
  ward_call *call;
  /* "hang_notify" says it started, then reaches no boundary: it never
   * learns of the cancel. */
  T_OK(ward_call_start(&call, w, "hang_notify", NULL, 0, NULL, on_done, &d));
  char got[128];
  wait_note_prefix("hanging", got, sizeof got);
  int64_t t0 = t_now_ms();
  T_OK(ward_call_cancel(call));
  T_ERR(ward_call_wait(call, 20000), WARD_ECANCELED);
  T_TRUE(t_now_ms() - t0 < 1000); /* the caller does not wait for the worker */
  tev e = tev_wait(WARD_EV_EXITED, id);
  T_EQ_INT(e.reason, WARD_REASON_CANCELLED);
  T_EQ_INT(e.pid, pid);
  T_TRUE(t_now_ms() - t0 >= 290);
  ward_call_free(call);
  /* Replaced: a new process answers. */
  T_OK(ward_ping(w, 20000));
  T_TRUE(ward_worker_pid(w) != pid);
  ward_worker_free(w);
}

/* ---- flow control ---- */

struct pinger {
  ward_worker *w;
  atomic_int stop;
  int pings, failures;
};

static void *ping_loop(void *arg) {
  struct pinger *p = arg;
  while (!atomic_load(&p->stop)) {
    if (ward_ping(p->w, 5000) == WARD_OK)
      p->pings++;
    else
      p->failures++;
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL); /* pacing the pings, not synchronising */
  }
  return NULL;
}

static void test_flow_control_slow_sink(void) {
  ward_worker *w = spawn("producer");
  long rss0 = t_rss_kib();
  /* 512 MiB in 64 KiB rows, to a sink that takes 100 us a row: 64 times
   * the host's bound below, and the worker must wait over half a second. */
  struct rowcheck r = {0, 65536, 0, 100};
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 170000;
  o.on_row = check_row;
  o.ud = &r;
  struct pinger p = {.w = w};
  atomic_init(&p.stop, 0);
  pthread_t th;
  T_TRUE(pthread_create(&th, NULL, ping_loop, &p) == 0);
  ward_msg *m = NULL;
  T_OK(ward_request_ex(&m, w, "stream", "8192 65536", 10, &o));
  atomic_store(&p.stop, 1);
  pthread_join(th, NULL);
  long grown = t_rss_kib() - rss0;
  T_EQ_INT(r.bytes, 8192L * 65536L);
  long blocked = 0;
  T_TRUE(sscanf((const char *)ward_msg_data(m), "sent=8192 blocked_ms=%ld", &blocked) == 1);
  fprintf(stderr, "   512 MiB streamed: host RSS +%ld KiB, worker blocked %ld ms, %d pings ok\n",
          grown, blocked, p.pings);
  /* The host held at most a window of rows; the worker waited for it. */
  T_TRUE(!RSS_MEANINGFUL || grown < 8 * 1024);
  T_TRUE(blocked > 500);
  T_TRUE(p.pings > 0);
  T_EQ_INT(p.failures, 0);
  ward_msg_free(m);
  ward_worker_free(w);
}

static void test_flow_control_to_slow_worker(void) {
  ward_worker *w = spawn("slowreader");
  long rss0 = t_rss_kib();
  char buf[4096];
  memset(buf, 'n', sizeof buf);
  int64_t t0 = t_now_ms();
  /* 2000 notifications of 4 KiB, each taking the worker 1 ms: the socket
   * fills and the host blocks instead of buffering (what the socket and
   * the worker hold is far less than the 1000 notifications that would
   * let it return within a second). */
  for (int i = 0; i < 2000; i++)
    T_OK(ward_notify(w, "slow_note", buf, sizeof buf));
  int64_t took = t_now_ms() - t0;
  long grown = t_rss_kib() - rss0;
  fprintf(stderr, "   8 MiB to a slow reader: sending took %lld ms, host RSS +%ld KiB\n",
          (long long)took, grown);
  T_TRUE(took > 1000);
  T_TRUE(!RSS_MEANINGFUL || grown < 4 * 1024);
  T_OK(ward_ping(w, 60000));
  ward_worker_free(w);
}

/* ---- peers that do not play by the rules ---- */

static void cut_off(const char *method, int err) {
  ward_spec *s = tw_spec(method, "serve");
  T_OK(ward_spec_restart(s, WARD_RESTART_NEVER));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  uint64_t id = ward_worker_id(w);
  long rss0 = t_rss_kib();
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 60000;
  T_ERR(ward_request_ex(NULL, w, method, NULL, 0, &o), err);
  tev e = tev_wait(WARD_EV_ERROR, id);
  T_EQ_INT(e.error, WARD_EPROTO);
  e = tev_wait(WARD_EV_EXITED, id);
  T_EQ_INT(e.reason, WARD_REASON_PROTOCOL);
  T_TRUE(!RSS_MEANINGFUL || t_rss_kib() - rss0 < 256 * 1024);
  ward_worker_free(w);
}

static void test_progress_flood_is_cut_off(void) { cut_off("progress_flood", WARD_EPROTO); }

static void test_ping_flood_is_cut_off(void) {
  /* The host answers pings until its queue to a worker that never reads
   * is full, then cuts it off; the call in flight ends. */
  cut_off("ping_flood", WARD_EPROTO);
}

static void test_notify_flood_is_throttled(void) {
  ward_worker *w = spawn("flooder");
  long rss0 = t_rss_kib();
  pthread_mutex_lock(&mu);
  floods = 0;
  pthread_mutex_unlock(&mu);
  /* 100 000 notifications of 1 KiB while this caller reads the socket:
   * without a bound they would pile up as tasks. */
  T_OK(ward_request(NULL, w, "notify_flood", "100000 1024", 11, 120000));
  long grown = t_rss_kib() - rss0;
  fprintf(stderr, "   100 MB of notifications: host RSS +%ld KiB\n", grown);
  T_TRUE(!RSS_MEANINGFUL || grown < 64 * 1024);
  /* Every one reaches the handler, also those the worker queued while
   * the socket was full (they went before its reply). */
  int64_t deadline = t_now_ms() + 60000;
  pthread_mutex_lock(&mu);
  while (floods < 100000 && t_now_ms() < deadline) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&cv, &mu, &ts);
  }
  long got = floods;
  pthread_mutex_unlock(&mu);
  T_EQ_INT(got, 100000);
  T_OK(ward_ping(w, 60000));
  ward_worker_free(w);
}

/* ---- deadlines hold while events keep coming ---- */

static void slow_progress(const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  struct timespec ts = {0, 20 * 1000000L};
  nanosleep(&ts, NULL); /* a callback slower than the worker's progress */
}

/* A consumer 2 ms per row: the worker soon waits for credit. */
static void spin_row(const char *stream, uint64_t seq, const void *d, size_t n, void *ud) {
  (void)stream, (void)seq, (void)d, (void)n, (void)ud;
  int64_t until = t_now_ms() + 2;
  while (t_now_ms() < until)
    ;
}

static void keep_reply(ward_call *call, int status, ward_msg *reply, void *ud) {
  (void)call, (void)status;
  char *out = ud;
  const char *e = reply ? ward_msg_error(reply) : NULL;
  snprintf(out, 64, "%s", e ? e : "(no remote error)");
  ward_msg_free(reply);
}

/* While a handler waits for credit the worker keeps reading (its credit
 * may be behind what is queued), but not without bound: a host that floods
 * it meanwhile with 320 MiB of notifications fails the waiting call with
 * WARD_ETOOBIG instead of filling the worker's memory. */
static void test_flood_during_credit_wait(void) {
  ward_worker *w = spawn("credit-flood");
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 120000;
  o.window_bytes = 16 * 1024;
  o.on_row = spin_row;
  ward_call *call;
  char why[64] = "";
  T_OK(ward_call_start(&call, w, "stream", "20000 1000", 10, &o, keep_reply, why));
  size_t big = 1u << 20;
  char *payload = malloc(big);
  T_TRUE(payload != NULL);
  memset(payload, 'x', big);
  payload[0] = payload[big - 1] = '"';
  for (int i = 0; i < 320; i++)
    T_OK(ward_notify(w, "echo", payload, big));
  free(payload);
  /* The stream ends early (its 20000 rows would take the consumer 40 s),
   * failed by the handler with the error its row got. */
  T_ERR(ward_call_wait(call, 120000), WARD_EREMOTE);
  if (!strstr(why, "ETOOBIG"))
    T_FAIL("the stream failed for another reason: %s", why);
  ward_call_free(call);
  ward_msg *m = NULL;
  T_OK(ward_request(&m, w, "hwm", NULL, 0, 30000));
  long kib = strtol((const char *)ward_msg_data(m), NULL, 10);
  ward_msg_free(m);
  printf("   worker peak RSS %ld KiB after 320 MiB of notifications\n", kib);
  /* Far below the flood, even with a sanitizer's shadow memory. */
  T_TRUE(kib > 0 && kib < 200 * 1024);
  ward_worker_free(w);
}

static void test_deadline_with_busy_callbacks(void) {
  ward_spec *s = tw_spec("busy", "serve");
  T_OK(ward_spec_kill_on_timeout(s, 0));
  /* The free below finds it still busy for seconds: a short grace ends
   * it (the default would wait 2 s for a goodbye it cannot act on). */
  T_OK(ward_spec_stop_grace(s, 100));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 300;
  o.on_progress = slow_progress;
  int64_t t0 = t_now_ms();
  T_ERR(ward_request_ex(NULL, w, "busy_progress", "5000", 4, &o), WARD_ETIMEDOUT);
  int64_t took = t_now_ms() - t0;
  T_TRUE(took >= 290);
  T_TRUE(took < 2000);
  ward_worker_free(w);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
#ifdef SIGPIPE /* not on Windows, where pipes raise no signal */
  signal(SIGPIPE, SIG_IGN);
#endif
  host = tev_host();
  T_OK(ward_host_handle(host, "note", on_note, NULL));
  T_OK(ward_host_handle(host, "flood", on_flood, NULL));
  T_OK(ward_host_handle(host, "hanging", on_hanging, NULL));
  T_RUN(test_rows_and_summary);
  T_RUN(test_rows_batch_sizes);
  T_RUN(test_rows_batch_edges);
  T_RUN(test_rows_in_batches);
  T_RUN(test_async_call);
  T_RUN(test_cancel);
  T_RUN(test_cancel_ignored);
  T_RUN(test_deadline_with_busy_callbacks);
  T_RUN(test_progress_flood_is_cut_off);
  T_RUN(test_ping_flood_is_cut_off);
  T_RUN(test_notify_flood_is_throttled);
  T_RUN(test_flow_control_to_slow_worker);
  T_RUN(test_flow_control_slow_sink);
  T_RUN(test_flood_during_credit_wait);
  ward_host_free(host);
  return t_done();
}
