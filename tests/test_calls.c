/*
 * test_calls.c — calls between real processes: replies, remote errors,
 * unknown methods, deadlines, progress, rows, diagnostics, notifications
 * and their order, pings, concurrent callers, and calls from the worker
 * to the host.
 */
#include <pthread.h>

#include "test.h"
#include "tworker.h"

static ward_host *host;
static ward_worker *w;

/* Host-side handlers: "add" answers "sum:<payload>", "note" records. */
static pthread_mutex_t note_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t note_cv = PTHREAD_COND_INITIALIZER;
static char note_text[64];
static ward_worker *note_from;

static int host_add(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  char buf[128];
  int k = snprintf(buf, sizeof buf, "sum:%.*s", (int)n, (const char *)d);
  T_TRUE(ward_ctx_worker(ctx) == w);
  return ward_ctx_reply(ctx, buf, (size_t)k);
}

static int host_note(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  T_TRUE(ward_ctx_is_notify(ctx));
  pthread_mutex_lock(&note_mu);
  snprintf(note_text, sizeof note_text, "%.*s", (int)n, (const char *)d);
  note_from = ward_ctx_worker(ctx);
  pthread_cond_broadcast(&note_cv);
  pthread_mutex_unlock(&note_mu);
  return 0;
}

static void expect_reply(const char *method, const char *payload, const char *want) {
  ward_msg *m = NULL;
  T_OK(ward_request(&m, w, method, payload, strlen(payload), 10000));
  T_EQ_INT(ward_msg_len(m), strlen(want));
  T_EQ_MEM(ward_msg_data(m), want, strlen(want));
  T_EQ_INT(ward_msg_code(m), 0);
  T_TRUE(ward_msg_error(m) == NULL);
  ward_msg_free(m);
}

static void test_echo(void) {
  expect_reply("echo", "{\"a\":1}", "{\"a\":1}");
  /* An empty payload is a payload too. */
  ward_msg *m = NULL;
  T_OK(ward_request(&m, w, "echo", NULL, 0, 10000));
  T_EQ_INT(ward_msg_len(m), 0);
  ward_msg_free(m);
}

static void test_encoding_round_trip(void) {
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.encoding = WARD_ENC_MSGPACK;
  o.timeout_ms = 10000;
  ward_msg *m = NULL;
  T_OK(ward_request_ex(&m, w, "echo", "\x81\xa1x\x01", 4, &o));
  T_EQ_INT(ward_msg_encoding(m), WARD_ENC_MSGPACK);
  ward_msg_free(m);
  T_OK(ward_request(&m, w, "echo", "1", 1, 10000));
  T_EQ_INT(ward_msg_encoding(m), WARD_ENC_JSON);
  ward_msg_free(m);
}

static void test_remote_error(void) {
  ward_msg *m = NULL;
  T_ERR(ward_request(&m, w, "fail", "detail", 6, 10000), WARD_EREMOTE);
  T_TRUE(m != NULL);
  T_EQ_INT(ward_msg_code(m), 42);
  T_EQ_STR(ward_msg_error(m), "nope");
  T_EQ_INT(ward_msg_len(m), 6);
  T_EQ_MEM(ward_msg_data(m), "detail", 6);
  ward_msg_free(m);
}

static void test_handler_without_reply(void) {
  ward_msg *m = NULL;
  T_ERR(ward_request(&m, w, "ret7", NULL, 0, 10000), WARD_EREMOTE);
  T_EQ_INT(ward_msg_code(m), 7);
  ward_msg_free(m);
  T_ERR(ward_request(&m, w, "ret0", NULL, 0, 10000), WARD_EREMOTE);
  T_EQ_INT(ward_msg_code(m), -1);
  T_EQ_STR(ward_msg_error(m), "handler returned without replying");
  ward_msg_free(m);
}

static void test_no_method(void) {
  ward_msg *m = (ward_msg *)1;
  T_ERR(ward_request(&m, w, "no_such_method", "x", 1, 10000), WARD_ENOMETHOD);
  T_TRUE(m == NULL);
  T_TRUE(ward_worker_serves(w, "echo"));
  T_TRUE(!ward_worker_serves(w, "no_such_method"));
  T_EQ_STR(ward_worker_meta(w, "version"), "1.2.3");
  T_TRUE(ward_worker_meta(w, "nothing") == NULL);
}

static void test_bad_arguments(void) {
  T_ERR(ward_request(NULL, w, "", "x", 1, 1000), WARD_EINVAL);
  T_ERR(ward_request(NULL, w, NULL, "x", 1, 1000), WARD_EINVAL);
  T_ERR(ward_request(NULL, w, "echo", NULL, 5, 1000), WARD_EINVAL);
  char longname[300];
  memset(longname, 'm', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  T_ERR(ward_request(NULL, w, longname, "x", 1, 1000), WARD_EINVAL);
  T_ERR(ward_notify(w, "", "x", 1), WARD_EINVAL);
  /* An encoding tag the protocol does not have never reaches the wire. */
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.encoding = 3;
  T_ERR(ward_request_ex(NULL, w, "echo", "x", 1, &o), WARD_EINVAL);
  T_OK(ward_ping(w, 10000));
}

struct progress_log {
  int n;
  char seen[16][8];
};

static void on_progress(const void *d, size_t n, void *ud) {
  struct progress_log *p = ud;
  if (p->n < 16)
    snprintf(p->seen[p->n], sizeof p->seen[0], "%.*s", (int)n, (const char *)d);
  p->n++;
}

static void test_progress(void) {
  struct progress_log log = {0};
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 10000;
  o.on_progress = on_progress;
  o.ud = &log;
  ward_msg *m = NULL;
  T_OK(ward_request_ex(&m, w, "progress", "5", 1, &o));
  T_EQ_INT(log.n, 5);
  for (int i = 0; i < 5; i++) {
    char want[8];
    snprintf(want, sizeof want, "p%d", i + 1);
    T_EQ_STR(log.seen[i], want);
  }
  T_EQ_MEM(ward_msg_data(m), "done", 4);
  ward_msg_free(m);
}

struct rows_log {
  int rows, diags;
  uint64_t next_a, next_b;
  char order[64];
};

static void on_row(const char *stream, uint64_t seq, const void *d, size_t n, void *ud) {
  struct rows_log *r = ud;
  char want[16];
  if (strcmp(stream, "a") == 0) {
    T_EQ_INT(seq, ++r->next_a);
  } else {
    T_EQ_STR(stream, "b");
    T_EQ_INT(seq, ++r->next_b);
  }
  snprintf(want, sizeof want, "%s%llu", stream, (unsigned long long)seq);
  T_EQ_INT(n, strlen(want));
  T_EQ_MEM(d, want, n);
  strncat(r->order, stream, sizeof r->order - strlen(r->order) - 1);
  r->rows++;
}

static void on_diag(int level, const char *code, const char *message, void *ud) {
  struct rows_log *r = ud;
  T_EQ_INT(level, 2);
  T_EQ_STR(code, "W001");
  T_EQ_STR(message, "a warning");
  r->diags++;
}

static void test_rows_and_diagnostics(void) {
  struct rows_log r;
  memset(&r, 0, sizeof r);
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 10000;
  o.on_row = on_row;
  o.on_diag = on_diag;
  o.ud = &r;
  ward_msg *m = NULL;
  T_OK(ward_request_ex(&m, w, "rows", NULL, 0, &o));
  T_EQ_INT(r.rows, 10);
  T_EQ_INT(r.diags, 1);
  T_EQ_STR(r.order, "ababababab");
  ward_msg_free(m);
}

static void test_notify_order(void) {
  char want[4096] = "";
  for (int i = 0; i < 300; i++) {
    char p[16];
    int k = snprintf(p, sizeof p, "%d", i);
    T_OK(ward_notify(w, "record", p, (size_t)k));
    snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", i ? "," : "", p);
  }
  /* A request sent after them on the same thread is handled after them. */
  ward_msg *m = NULL;
  T_OK(ward_request(&m, w, "get_log", NULL, 0, 10000));
  T_EQ_INT(ward_msg_len(m), strlen(want));
  T_EQ_MEM(ward_msg_data(m), want, strlen(want));
  ward_msg_free(m);
  /* A notification of an unknown method is dropped, silently. */
  T_OK(ward_notify(w, "no_such_method", "x", 1));
  T_OK(ward_ping(w, 10000));
}

static void test_ping(void) {
  for (int i = 0; i < 100; i++)
    T_OK(ward_ping(w, 10000));
}

static void test_deadline(void) {
  ward_worker *hw;
  ward_spec *s = tw_spec("hanger", "serve");
  /* Keep the wedged process (no kill-and-replace) to look at it. */
  T_OK(ward_spec_kill_on_timeout(s, 0));
  T_OK(ward_spawn(&hw, host, s));
  ward_spec_free(s);
  int64_t t0 = t_now_ms();
  ward_msg *m = (ward_msg *)1;
  T_ERR(ward_request(&m, hw, "hang", NULL, 0, 300), WARD_ETIMEDOUT);
  T_TRUE(m == NULL);
  int64_t took = t_now_ms() - t0;
  /* It ended at its deadline, not long before and not much after. */
  T_TRUE(took >= 290);
  T_TRUE(took < 10000);
  /* The worker is stuck in its handler: pings go unanswered too. */
  T_ERR(ward_ping(hw, 200), WARD_ETIMEDOUT);
  /* The spec's default deadline applies to a negative timeout. */
  ward_worker_free(hw);
  s = tw_spec("hanger2", "serve");
  ward_spec_request_timeout(s, 250);
  T_OK(ward_spec_kill_on_timeout(s, 0));
  T_OK(ward_spawn(&hw, host, s));
  ward_spec_free(s);
  t0 = t_now_ms();
  T_ERR(ward_request(NULL, hw, "hang", NULL, 0, -1), WARD_ETIMEDOUT);
  T_TRUE(t_now_ms() - t0 >= 240);
  /* Stopping a worker wedged in a handler escalates and succeeds. */
  T_OK(ward_worker_stop(hw, 200));
  T_EQ_INT(ward_worker_pid(hw), 0);
  T_ERR(ward_request(NULL, hw, "echo", "x", 1, 1000), WARD_ECLOSED);
  T_OK(ward_worker_stop(hw, 200));
  ward_worker_free(hw);
}

/* ward_notify waits for room at most the spec's request timeout, counted
 * from when it starts to wait (it reads no clock when the socket takes
 * the frame at once), then fails WARD_ETIMEDOUT; the worker that did not
 * read is left running. Notifications of 32 KiB do not gather in the
 * queue: one waits as soon as the socket is full. */
#ifndef _WIN32
static void test_notify_deadline(void) {
  ward_worker *pw;
  ward_spec *s = tw_spec("paused", "serve");
  T_OK(ward_spec_request_timeout(s, 300));
  T_OK(ward_spec_kill_on_timeout(s, 0));
  T_OK(ward_spawn(&pw, host, s));
  ward_spec_free(s);
  T_OK(ward_worker_pause(pw));
  static char big[32 * 1024];
  memset(big, '1', sizeof big);
  int rv = 0, sent = 0;
  int64_t took = 0;
  while (!rv && sent < 10000) {
    int64_t t0 = t_now_ms();
    rv = ward_notify(pw, "record", big, sizeof big);
    took = t_now_ms() - t0;
    sent += !rv;
  }
  T_EQ_INT(rv, WARD_ETIMEDOUT);
  T_TRUE(sent > 0);
  /* It waited its whole timeout, and not much more. */
  T_TRUE(took >= 290);
  T_TRUE(took < 10000);
  T_OK(ward_worker_resume(pw));
  ward_worker_free(pw);
}
#endif

#define NTHREADS 8
#define NCALLS 400

static void *caller(void *arg) {
  intptr_t t = (intptr_t)arg;
  for (int i = 0; i < NCALLS; i++) {
    char p[64];
    int k = snprintf(p, sizeof p, "thread %d call %d", (int)t, i);
    ward_msg *m = NULL;
    T_OK(ward_request(&m, w, "echo", p, (size_t)k, 30000));
    T_EQ_INT(ward_msg_len(m), k);
    T_EQ_MEM(ward_msg_data(m), p, (size_t)k);
    ward_msg_free(m);
    if (i % 50 == 0)
      T_OK(ward_ping(w, 30000));
  }
  return NULL;
}

static void test_concurrent_callers(void) {
  pthread_t th[NTHREADS];
  for (intptr_t i = 0; i < NTHREADS; i++)
    T_TRUE(pthread_create(&th[i], NULL, caller, (void *)i) == 0);
  for (int i = 0; i < NTHREADS; i++)
    pthread_join(th[i], NULL);
}

static void wait_note(const char *want) {
  pthread_mutex_lock(&note_mu);
  int64_t deadline = t_now_ms() + 10000;
  while (strcmp(note_text, want) != 0 && t_now_ms() < deadline) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&note_cv, &note_mu, &ts);
  }
  T_EQ_STR(note_text, want);
  T_TRUE(note_from == w);
  pthread_mutex_unlock(&note_mu);
}

/* A message the worker sends on its own after a call has ended reaches
 * the host even though no caller is reading any more. */
static void test_unsolicited_after_call(void) {
  for (int i = 0; i < 20; i++) {
    char p[32];
    snprintf(p, sizeof p, "after %d", i);
    expect_reply("reply_then_notify", p, "ok");
    wait_note(p);
  }
}

static void test_worker_calls_host(void) {
  /* Before the host serves "add", the worker's call gets ENOMETHOD. */
  ward_msg *m = NULL;
  T_ERR(ward_request(&m, w, "call_host", "2+3", 3, 10000), WARD_EREMOTE);
  T_EQ_STR(ward_msg_error(m), "host call failed: ENOMETHOD");
  ward_msg_free(m);
  T_OK(ward_host_handle(host, "add", host_add, NULL));
  expect_reply("call_host", "2+3", "sum:2+3");
  pthread_mutex_lock(&note_mu);
  note_text[0] = 0;
  pthread_mutex_unlock(&note_mu);
  expect_reply("notify_host", "hello host", "ok");
  wait_note("hello host");
}

static void test_too_big(void) {
  /* Over the worker's announced limit: refused before anything is sent. */
  size_t big = (size_t)WARD_MAX_FRAME_DEFAULT + 1;
  char *p = calloc(1, big);
  T_TRUE(p != NULL);
  T_ERR(ward_request(NULL, w, "echo", p, big, 10000), WARD_ETOOBIG);
  T_ERR(ward_notify(w, "record", p, big), WARD_ETOOBIG);
  /* The connection is still fine. */
  T_OK(ward_ping(w, 10000));
  /* A large payload within the limit goes both ways intact. */
  size_t n = 8u << 20;
  for (size_t i = 0; i < n; i++)
    p[i] = (char)(i * 7 + 3);
  ward_msg *m = NULL;
  T_OK(ward_request(&m, w, "echo", p, n, 30000));
  T_EQ_INT(ward_msg_len(m), n);
  T_EQ_MEM(ward_msg_data(m), p, n);
  ward_msg_free(m);
  free(p);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
  T_OK(ward_host_new(&host, NULL));
  T_OK(ward_host_handle(host, "note", host_note, NULL));
  ward_spec *s = tw_spec("calls", "serve");
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  T_TRUE(ward_worker_pid(w) > 0);
  T_EQ_STR(ward_worker_name(w), "calls");
  T_EQ_INT(ward_worker_generation(w), 1);

  T_RUN(test_echo);
  T_RUN(test_encoding_round_trip);
  T_RUN(test_remote_error);
  T_RUN(test_handler_without_reply);
  T_RUN(test_no_method);
  T_RUN(test_bad_arguments);
  T_RUN(test_progress);
  T_RUN(test_rows_and_diagnostics);
  T_RUN(test_notify_order);
  T_RUN(test_ping);
  T_RUN(test_deadline);
#ifndef _WIN32 /* no pause there */
  T_RUN(test_notify_deadline);
#endif
  T_RUN(test_concurrent_callers);
  T_RUN(test_worker_calls_host);
  T_RUN(test_unsolicited_after_call);
  T_RUN(test_too_big);
  ward_host_free(host);
  return t_done();
}
