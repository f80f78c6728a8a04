/*
 * test_python.c — the Python package's worker side (bindings/python/ward)
 * under a ward host.
 *
 * Each test starts `python3 -m fixture_worker` (bindings/python/tests/
 * fixture_worker.py, with the package and its tests on PYTHONPATH) as a
 * worker of this host and checks one behaviour of the package through
 * libward: calls in the three encodings, errors (failures, exceptions,
 * unknown methods, payloads that do not decode), progress, diagnostics and
 * rows within windows from 64 bytes to none, cancellation of a stream and
 * of work between steps, notifications both ways, calls to the host
 * (blocking and asyncio), heartbeats answered during a long handler (and
 * not during a stuck one), socket mode, the host's goodbye (stop and
 * replacement) and the worker's. The frames themselves are checked by the
 * package's pytest tests (bindings/python/tests), which ctest runs too.
 * The Python processes are not instrumented in sanitizer builds; the host
 * is.
 */
#include <jansson.h>
#include <pthread.h>
#include <signal.h>

#include "tpython.h"

static const char *python;
static char pythonpath[2 * sizeof WARD_SOURCE_DIR + 64];


/* The fixture, not restarted (the tests look at how each process ends),
 * with a long stop grace so that a worker that waited for EOF after a
 * GOODBYE would show as killed, not as late; `opt` is one option of the
 * fixture, or NULL. */
static ward_spec *py_spec(const char *name, const char *opt) {
  ward_spec *s;
  T_OK(ward_spec_new(&s, name, python));
  T_OK(ward_spec_arg(s, "-m"));
  T_OK(ward_spec_arg(s, "fixture_worker"));
  if (opt)
    T_OK(ward_spec_arg(s, opt));
  T_OK(ward_spec_env(s, "PYTHONPATH", pythonpath));
  T_OK(ward_spec_restart(s, WARD_RESTART_NEVER));
  T_OK(ward_spec_stop_grace(s, 10000));
  return s;
}



/* Calls `method` with JSON `params`; returns the outcome and, for a reply
 * or a remote error, the message in *m. */
static int call(ward_msg **m, ward_worker *w, const char *method, const char *params) {
  return ward_request(m, w, method, params, strlen(params), 20000);
}

/* A reply that must be exactly `want`. */
static void expect_reply(ward_worker *w, const char *method, const char *params,
                         const char *want) {
  ward_msg *m = NULL;
  T_OK(call(&m, w, method, params));
  T_EQ_INT(ward_msg_encoding(m), WARD_ENC_JSON);
  char got[4096];
  snprintf(got, sizeof got, "%.*s", (int)ward_msg_len(m), (const char *)ward_msg_data(m));
  T_EQ_STR(got, want);
  ward_msg_free(m);
}

/* A remote error: its code and message, and its data when `data` is not
 * NULL (NULL: none at all). */
static void expect_remote(ward_worker *w, const char *method, const char *params, int code,
                          const char *message, const char *data) {
  ward_msg *m = NULL;
  T_ERR(call(&m, w, method, params), WARD_EREMOTE);
  T_EQ_INT(ward_msg_code(m), code);
  T_EQ_STR(ward_msg_error(m), message);
  char got[4096];
  snprintf(got, sizeof got, "%.*s", (int)ward_msg_len(m), (const char *)ward_msg_data(m));
  T_EQ_STR(got, data ? data : "");
  ward_msg_free(m);
}

/* A JSON reply, decoded (json_decref it). */
static json_t *call_json(ward_worker *w, const char *method, const char *params) {
  ward_msg *m = NULL;
  T_OK(call(&m, w, method, params));
  json_error_t err;
  json_t *v = json_loadb(ward_msg_data(m), ward_msg_len(m), JSON_DECODE_ANY, &err);
  if (!v)
    T_FAIL("%s: a reply that is not JSON: %s", method, err.text);
  ward_msg_free(m);
  return v;
}


/* ---------------------------------------------------------------------
 * Calls and errors
 * ------------------------------------------------------------------- */

/* The handshake announces the methods and the metadata; payloads keep
 * their encoding both ways; MessagePack params are decoded and the result
 * encoded back in MessagePack. */
static void check_calls(ward_worker *w) {
  T_TRUE(ward_worker_serves(w, "echo"));
  T_TRUE(ward_worker_serves(w, "stream"));
  T_TRUE(!ward_worker_serves(w, "nosuch"));
  T_EQ_STR(ward_worker_meta(w, "lang"), "python");
  expect_echo(w, WARD_ENC_JSON, "\"hi\"", 4);
  expect_echo(w, WARD_ENC_RAW, "\x00\x01raw\xff", 6);
  expect_echo(w, WARD_ENC_MSGPACK, "\x92\x01\xa1x", 4);
  expect_echo(w, WARD_ENC_JSON, "", 0);
  expect_reply(w, "add", "{\"a\": 2, \"b\": 40}", "42");
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 20000;
  o.encoding = WARD_ENC_MSGPACK;
  ward_msg *m = NULL;
  /* {"a": 1, "b": 2} in MessagePack; the result 3 is the fixint 0x03. */
  T_OK(ward_request_ex(&m, w, "add", "\x82\xa1" "a\x01\xa1" "b\x02", 7, &o));
  T_EQ_INT(ward_msg_encoding(m), WARD_ENC_MSGPACK);
  T_EQ_INT(ward_msg_len(m), 1);
  T_EQ_MEM(ward_msg_data(m), "\x03", 1);
  ward_msg_free(m);
  T_ERR(call(NULL, w, "nosuch", "{}"), WARD_ENOMETHOD);
  T_OK(ward_ping(w, 20000));
  /* A payload built in place goes to a worker that did not offer shared
   * memory in its handshake as an ordinary frame (protocol.md 3.5). */
  ward_payload *p;
  size_t big = 2u << 20;
  T_OK(ward_payload_new(&p, big));
  memset(ward_payload_data(p), 'z', big);
  o.encoding = WARD_ENC_RAW;
  T_OK(ward_request_payload(&m, w, "echo", p, &o));
  T_EQ_INT(ward_msg_len(m), big);
  T_TRUE(((const char *)ward_msg_data(m))[big - 1] == 'z');
  ward_msg_free(m);
}

static void test_calls(void) {
  ward_worker *w = spawn_py(py_spec("py-calls", "--version=2.5.1"));
  check_calls(w);
  T_EQ_STR(ward_worker_meta(w, "version"), "2.5.1");
  stop_cleanly(w);
}

/* Socket mode (WARD_SOCKET, WARD_TOKEN): the same calls. */
static void test_socket_mode(void) {
  ward_spec *s = py_spec("py-socket", NULL);
  T_OK(ward_spec_transport(s, WARD_TRANSPORT_SOCKET));
  ward_worker *w = spawn_py(s);
  check_calls(w);
  stop_cleanly(w);
}

/* ctx.fail's code, message and data; an exception's type and message with
 * code -1 and no traceback (unless the worker asks for them); a ward.Error
 * raised; params that are not JSON (-9, the handler not run). */
static void test_errors(void) {
  ward_worker *w = spawn_py(py_spec("py-errors", NULL));
  expect_remote(w, "fail", "{\"code\": 404, \"message\": \"no such user\", \"data\": {\"id\": 7}}",
                404, "no such user", "{\"id\":7}");
  expect_remote(w, "fail", "{\"code\": -2000}", -2000, "", NULL);
  expect_remote(w, "raise", "3", -1, "ValueError: bad value 3",
                "{\"type\":\"ValueError\",\"message\":\"bad value 3\"}");
  expect_remote(w, "raise_error", "{\"code\": 7, \"message\": \"seven\", \"data\": [1, 2]}", 7,
                "seven", "[1,2]");
  ward_msg *m = NULL;
  T_ERR(call(&m, w, "add", "{\"a\": 1,"), WARD_EREMOTE);
  T_EQ_INT(ward_msg_code(m), WARD_EPROTO);
  T_TRUE(strncmp(ward_msg_error(m), "invalid JSON: ", 14) == 0);
  ward_msg_free(m);
  /* A handler's bug is an error too: the worker goes on serving. */
  T_ERR(call(&m, w, "add", "{\"a\": 1}"), WARD_EREMOTE);
  T_EQ_STR(ward_msg_error(m), "KeyError: 'b'");
  ward_msg_free(m);
  expect_reply(w, "add", "{\"a\": 1, \"b\": 1}", "2");
  stop_cleanly(w);

  w = spawn_py(py_spec("py-traceback", "--traceback"));
  T_ERR(call(&m, w, "raise", "4"), WARD_EREMOTE);
  T_EQ_STR(ward_msg_error(m), "ValueError: bad value 4");
  json_t *data = json_loadb(ward_msg_data(m), ward_msg_len(m), 0, NULL);
  T_TRUE(data != NULL);
  const char *tb = json_string_value(json_object_get(data, "traceback"));
  T_TRUE(tb != NULL && strstr(tb, "Traceback (most recent call last)") != NULL);
  T_TRUE(strstr(tb, "in raise_") != NULL);
  json_decref(data);
  ward_msg_free(m);
  stop_cleanly(w);
}

/* ---------------------------------------------------------------------
 * Streams
 * ------------------------------------------------------------------- */

/* What a stream call received, in order: 'r' rows, 'p' progress, 'd'
 * diagnostics. */
typedef struct seen {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t rows, progress, diags;
  int bad; /* something not as the fixture sends it */
  char order[64];
  size_t norder;
} seen;

#define SEEN_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, {0}, 0}

static void seen_note(seen *s, char what) {
  if (s->norder + 1 < sizeof s->order)
    s->order[s->norder++] = what;
}

static void on_row(const char *stream, uint64_t seq, const void *data, size_t len, void *ud) {
  seen *s = ud;
  char want[48];
  int n = snprintf(want, sizeof want, "{\"i\":%llu,", (unsigned long long)seq);
  pthread_mutex_lock(&s->mu);
  if (strcmp(stream, "out") != 0 || seq != s->rows + 1 || len < (size_t)n ||
      memcmp(data, want, (size_t)n) != 0)
    s->bad++;
  s->rows++;
  seen_note(s, 'r');
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static void on_progress(const void *data, size_t len, void *ud) {
  seen *s = ud;
  pthread_mutex_lock(&s->mu);
  char want[64];
  snprintf(want, sizeof want, "{\"done\":%llu,\"total\":", (unsigned long long)s->rows);
  if (len < strlen(want) || memcmp(data, want, strlen(want)) != 0)
    s->bad++;
  s->progress++;
  seen_note(s, 'p');
  pthread_mutex_unlock(&s->mu);
}

static void on_diag(int level, const char *code, const char *message, void *ud) {
  seen *s = ud;
  pthread_mutex_lock(&s->mu);
  if (level != 2 || strcmp(code, "start") != 0 || strncmp(message, "starting ", 9) != 0)
    s->bad++;
  s->diags++;
  seen_note(s, 'd');
  pthread_mutex_unlock(&s->mu);
}

static void seen_opts(ward_call_opts *o, seen *s, int window) {
  o->timeout_ms = 60000;
  o->window_bytes = window;
  o->on_row = on_row;
  o->on_progress = on_progress;
  o->on_diag = on_diag;
  o->ud = s;
}

/* n rows of `pad` bytes of padding, progress every 4 rows, within a
 * window: everything arrives in the order sent, and a worker that broke
 * the window would have been cut off (the call failing, a new process). */
static void expect_stream(ward_worker *w, int n, int pad, int window) {
  seen s = SEEN_INIT;
  ward_summary sum = WARD_SUMMARY_INIT;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  seen_opts(&o, &s, window);
  o.summary = &sum;
  char params[96];
  snprintf(params, sizeof params, "{\"n\": %d, \"pad\": %d, \"every\": 4}", n, pad);
  ward_msg *m = NULL;
  T_OK(ward_request_ex(&m, w, "stream", params, strlen(params), &o));
  char want[16];
  snprintf(want, sizeof want, "%d", n);
  T_EQ_INT(ward_msg_len(m), strlen(want));
  T_EQ_MEM(ward_msg_data(m), want, strlen(want));
  ward_msg_free(m);
  T_EQ_INT(s.bad, 0);
  T_EQ_INT(s.rows, n);
  T_EQ_INT(s.progress, n / 4);
  T_EQ_INT(s.diags, 1);
  T_EQ_INT(sum.rows, n);
  if (n >= 4)
    T_TRUE(strncmp(s.order, "drrrrp", 6) == 0);
  ward_summary_clear(&sum);
}

static void test_stream_windows(void) {
  ward_worker *w = spawn_py(py_spec("py-stream", NULL));
  static const int windows[] = {64, 256, 4096, 0 /* 1 MiB */, -1 /* none */};
  for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++)
    expect_stream(w, 200, 10, windows[i]);
  /* Rows larger than the window: each waits until all is credited. */
  expect_stream(w, 12, 3000, 1024);
  expect_stream(w, 0, 0, 64);
  T_EQ_INT(ward_worker_generation(w), 1);
  stop_cleanly(w);
}

/* Waits (up to 20 s) until the call has received a row. */
static void wait_first_row(seen *s) {
  int64_t deadline = t_now_ms() + 20000;
  pthread_mutex_lock(&s->mu);
  while (s->rows == 0 && t_now_ms() < deadline) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&s->cv, &s->mu, &ts);
  }
  uint64_t rows = s->rows;
  pthread_mutex_unlock(&s->mu);
  if (!rows)
    T_FAIL("no row within 20 s");
}

/* A stream that never ends, cancelled after its first row (with a window
 * and without), and work between steps cancelled: the worker stops and
 * ends each call, so the next request is served. The cancel grace is
 * long, so a worker that went on (or waited for credit that no longer
 * comes) would leave that request unanswered rather than be replaced. */
static void test_cancel(void) {
  ward_spec *s = py_spec("py-cancel", NULL);
  T_OK(ward_spec_cancel_grace(s, 120000));
  ward_worker *w = spawn_py(s);
  uint64_t id = ward_worker_id(w);
  static const int windows[] = {256, -1};
  for (size_t i = 0; i < 2; i++) {
    seen sn = SEEN_INIT;
    struct async_done d = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
    ward_call_opts o = WARD_CALL_OPTS_INIT;
    seen_opts(&o, &sn, windows[i]);
    o.timeout_ms = 120000;
    ward_call *c;
    T_OK(ward_call_start(&c, w, "forever", "{}", 2, &o, on_async_done, &d));
    wait_first_row(&sn);
    T_OK(ward_call_cancel(c));
    T_ERR(ward_call_wait(c, 20000), WARD_ECANCELED);
    ward_call_free(c);
    expect_echo(w, WARD_ENC_JSON, "\"after\"", 7);
    pthread_mutex_lock(&sn.mu);
    T_EQ_INT(sn.bad, 0);
    pthread_mutex_unlock(&sn.mu);
  }
  /* No rows: the handler checks ctx.cancelled() between steps; it says
   * when it runs (a "hanging" notification), so the cancel finds it
   * running, not queued. */
  struct async_done d = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 120000;
  ward_call *c;
  static const char spin[] = "{\"ms\": 100000, \"tell\": true}";
  tev_hang_reset();
  T_OK(ward_call_start(&c, w, "spin", spin, strlen(spin), &o, on_async_done, &d));
  tev_wait_hanging(1);
  T_OK(ward_call_cancel(c));
  T_ERR(ward_call_wait(c, 20000), WARD_ECANCELED);
  ward_call_free(c);
  expect_reply(w, "add", "{\"a\": 1, \"b\": 2}", "3");
  T_EQ_INT(ward_worker_generation(w), 1);
  T_EQ_INT(tev_count(WARD_EV_EXITED, id), 0);
  stop_cleanly(w);
}

/* ---------------------------------------------------------------------
 * Notifications and calls to the host
 * ------------------------------------------------------------------- */

static pthread_mutex_t poked_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t poked_cv = PTHREAD_COND_INITIALIZER;
static char poked[256];
static int poked_n;

static int on_poked(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ud;
  pthread_mutex_lock(&poked_mu);
  if (!ward_ctx_is_notify(ctx))
    snprintf(poked, sizeof poked, "not a notification");
  else
    snprintf(poked, sizeof poked, "%.*s", (int)len, (const char *)data);
  poked_n++;
  pthread_cond_broadcast(&poked_cv);
  pthread_mutex_unlock(&poked_mu);
  return 0;
}

/* "host.add": {"a", "b"} -> a + b; "host.fail": an error with data. */
static int on_host_add(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ud;
  json_t *p;
  if (ward_ctx_params_json(ctx, data, len, &p) != 0)
    return ward_ctx_fail(ctx, WARD_EPROTO, ward_last_error());
  json_t *sum = json_integer(json_integer_value(json_object_get(p, "a")) +
                             json_integer_value(json_object_get(p, "b")));
  int rv = ward_ctx_reply_json(ctx, sum);
  json_decref(sum);
  json_decref(p);
  return rv;
}

static int on_host_fail(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)data, (void)len, (void)ud;
  json_t *d = json_pack("{s:s}", "why", "refused");
  int rv = ward_ctx_fail_json(ctx, 451, "not here", d);
  json_decref(d);
  return rv;
}

/* The host notifies "poke"; its handler notifies the host's "poked" back
 * with the same params. */
static void test_notifications(void) {
  ward_worker *w = spawn_py(py_spec("py-notify", NULL));
  int before = poked_n;
  T_OK(ward_notify(w, "poke", "{\"n\":1}", 7));
  T_OK(ward_notify(w, "nosuch", "{}", 2)); /* dropped, unanswered */
  int64_t deadline = t_now_ms() + 20000;
  pthread_mutex_lock(&poked_mu);
  while (poked_n == before && t_now_ms() < deadline) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&poked_cv, &poked_mu, &ts);
  }
  T_EQ_INT(poked_n, before + 1);
  T_EQ_STR(poked, "{\"n\":1}");
  pthread_mutex_unlock(&poked_mu);
  /* A notification handler that raises: no answer, the worker serves on. */
  T_OK(ward_notify(w, "broken_note", "{}", 2));
  expect_reply(w, "add", "{\"a\": 5, \"b\": 5}", "10");
  stop_cleanly(w);
}

/* A handler calls the host: a reply, a remote error with its code,
 * message and data, a method the host does not serve; then the asyncio
 * variant, several calls in flight at once. */
static void test_calls_to_host(void) {
  ward_worker *w = spawn_py(py_spec("py-ask", NULL));
  expect_reply(w, "ask", "{\"method\": \"host.add\", \"params\": {\"a\": 20, \"b\": 22}}",
               "{\"result\":42}");
  json_t *r = call_json(w, "ask", "{\"method\": \"host.fail\"}");
  T_EQ_STR(json_string_value(json_object_get(r, "error")), "RemoteError");
  T_EQ_INT(json_integer_value(json_object_get(r, "code")), 451);
  T_EQ_STR(json_string_value(json_object_get(r, "message")), "not here");
  T_EQ_STR(json_string_value(json_object_get(json_object_get(r, "data"), "why")), "refused");
  json_decref(r);
  r = call_json(w, "ask", "{\"method\": \"host.nosuch\"}");
  T_EQ_STR(json_string_value(json_object_get(r, "error")), "NoMethod");
  T_EQ_INT(json_integer_value(json_object_get(r, "code")), WARD_ENOMETHOD);
  json_decref(r);
  expect_reply(w, "ask_async",
               "{\"method\": \"host.add\", \"each\": [{\"a\": 1, \"b\": 1}, {\"a\": 2, \"b\": 2},"
               " {\"a\": 3, \"b\": 3}]}",
               "{\"result\":[2,4,6]}");
  stop_cleanly(w);
}

/* ---------------------------------------------------------------------
 * Heartbeats
 * ------------------------------------------------------------------- */

/* Heartbeats every 100 ms, five misses allowed: a handler that works for
 * 1.5 s in steps, checking for cancellation between them, keeps the
 * worker healthy; one that sleeps without a boundary stops the answers,
 * and the host replaces it (which is how it detects hangs). */
static void test_heartbeats(void) {
  ward_spec *s = py_spec("py-heartbeat", NULL);
  T_OK(ward_spec_heartbeat(s, 100, 5));
  ward_worker *w = spawn_py(s);
  uint64_t id = ward_worker_id(w);
  int from = tev_mark();
  expect_reply(w, "spin", "{\"ms\": 1500}", "\"done\"");
  T_EQ_INT(tev_count_from(from, WARD_EV_UNHEALTHY, id), 0);
  T_EQ_INT(ward_worker_generation(w), 1);
  T_TRUE(ward_request(NULL, w, "stuck", "{\"ms\": 60000}", 13, 20000) != WARD_OK);
  tev_wait_from(from, WARD_EV_UNHEALTHY, id);
  tev e = tev_wait_from(from, WARD_EV_EXITED, id);
  T_EQ_INT(e.reason, WARD_REASON_UNHEALTHY);
  ward_worker_free(w);
}

/* ---------------------------------------------------------------------
 * Goodbyes
 * ------------------------------------------------------------------- */

/* A replacement of the worker (tpython.h). */
static void test_replacement(void) { check_replacement(spawn_py(py_spec("py-cycle", NULL))); }

/* The worker says goodbye itself (Worker.close) and exits 0. */
static void test_worker_goodbye(void) {
  ward_worker *w = spawn_py(py_spec("py-leave", NULL));
  uint64_t id = ward_worker_id(w);
  int from = tev_mark();
  T_OK(ward_notify(w, "leave", "{}", 2));
  tev e = tev_wait_from(from, WARD_EV_EXITED, id);
  T_EQ_INT(e.exit_code, 0);
  T_EQ_INT(e.signal, 0);
  T_EQ_INT(e.reason, WARD_REASON_EXITED);
  ward_worker_free(w);
}

static char logs_reply[64];

static void logs_done(ward_call *call, int status, ward_msg *reply, void *ud) {
  (void)call, (void)ud;
  pthread_mutex_lock(&poked_mu);
  if (status == 0)
    snprintf(logs_reply, sizeof logs_reply, "%.*s", (int)ward_msg_len(reply),
             (const char *)ward_msg_data(reply));
  pthread_mutex_unlock(&poked_mu);
  ward_msg_free(reply);
}

/* Log records from the package's worker reach the host with their
 * level, fields and call id (docs/protocol.md 8.4). */
static void test_log_records(void) {
  ward_worker *w = spawn_py(py_spec("py-logs", NULL));
  ward_call *call;
  T_OK(ward_call_start(&call, w, "logs", "{}", 2, NULL, logs_done, NULL));
  T_OK(ward_call_wait(call, 20000));
  uint32_t id = ward_call_id(call);
  ward_call_free(call);
  pthread_mutex_lock(&poked_mu);
  T_EQ_STR(logs_reply, "5");
  pthread_mutex_unlock(&poked_mu);
  ward_log_query q = WARD_LOG_QUERY_INIT;
  q.streams = WARD_LOG_RECORD;
  ward_log_entry *v;
  size_t n;
  T_OK(ward_worker_log_entries(&v, &n, w, &q));
  T_EQ_INT(n, 3);
  T_EQ_INT(v[0].level, WARD_LEVEL_WARN);
  T_EQ_STR(v[0].text, "disk slow");
  T_EQ_INT(v[0].call_id, id);
  T_EQ_INT(v[0].nfields, 2);
  T_EQ_STR(v[0].fields[0].key, "ms");
  T_EQ_STR(v[0].fields[0].value, "250");
  T_EQ_STR(v[0].fields[1].key, "disk");
  T_EQ_STR(v[0].fields[1].value, "sda");
  T_EQ_INT(v[1].level, WARD_LEVEL_ERROR);
  T_EQ_STR(v[1].text, "tab\there");
  T_EQ_INT(v[1].call_id, id);
  T_EQ_INT(v[2].level, WARD_LEVEL_DEBUG);
  T_EQ_STR(v[2].text, "not in a call");
  T_EQ_INT(v[2].call_id, 0);
  ward_log_entries_free(v, n);
  stop_cleanly(w);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  python = find_python();
  snprintf(pythonpath, sizeof pythonpath, "%s/bindings/python:%s/bindings/python/tests",
           WARD_SOURCE_DIR, WARD_SOURCE_DIR);
  host = tev_host();
  T_OK(ward_host_handle(host, "poked", on_poked, NULL));
  T_OK(ward_host_handle(host, "host.add", on_host_add, NULL));
  T_OK(ward_host_handle(host, "host.fail", on_host_fail, NULL));
  T_OK(ward_host_handle(host, "hanging", tev_on_hanging, NULL));
  T_RUN(test_calls);
  T_RUN(test_socket_mode);
  T_RUN(test_errors);
  T_RUN(test_stream_windows);
  T_RUN(test_cancel);
  T_RUN(test_notifications);
  T_RUN(test_calls_to_host);
  T_RUN(test_heartbeats);
  T_RUN(test_replacement);
  T_RUN(test_worker_goodbye);
  T_RUN(test_log_records);
  ward_host_free(host);
  return t_done();
}
