/*
 * conform.c — `ward conform [--json] WORKER-COMMAND [ARGS...]`: drives a
 * worker written in any language through every behaviour of the protocol
 * (docs/protocol.md section 16, "Conformance") and prints one line per
 * behaviour, passed or failed.
 *
 * The worker serves the small contract of section 16 (conform.echo,
 * conform.fail, conform.rows...); this host calls it through libward, as
 * any program would, and checks what comes back and how the process ends.
 * Each behaviour is one function below; a behaviour that fails says why in
 * one line and the run goes on, so one run names every gap. Workers are
 * started several times: the main one for calls, one in socket mode, one
 * with fast heartbeats, one that leaves by itself, and the command once
 * without a host at all.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <ward.h>

#include "cli.h"

#define CONFORM_CMD "conform"
#define WAIT_MS 20000    /* the deadline of every wait: generous, the machine may be busy */
#define CALL_MS 30000    /* a call's deadline */
#define GRACE_MS 15000   /* stop and cancel graces: a late worker shows as failed, not killed */

extern char **environ;

/* The methods of the contract (docs/protocol.md 16.1), which the worker
 * announces in its HELLO. */
static const char *const contract[] = {
    "conform.echo",  "conform.fail",  "conform.raise", "conform.add",    "conform.rows",
    "conform.forever", "conform.sleep", "conform.ask", "conform.notify", "conform.leave",
};

/* ------------------------------------------------------------------ */
/* Results                                                             */
/* ------------------------------------------------------------------ */

typedef struct result {
  const char *name; /* the behaviour */
  int ok;
  char detail[4096];
} result;

#define MAX_RESULTS 32

typedef struct conform {
  char **argv; /* the worker's command */
  int argc;
  ward_host *host;
  result results[MAX_RESULTS];
  int nresults;
  int json;
} conform;

/* Records a failure's reason (the first one given wins: it is the cause). */
static int failf(char *detail, const char *fmt, ...) CLI_PRINTF(2, 3);
static int failf(char *detail, const char *fmt, ...) {
  if (detail[0] == '\0') {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, 512, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* A failed ward call as a reason: the code's name and ward's sentence. */
static int fail_ward(char *detail, const char *what, int rc, const ward_msg *m) {
  if (rc == WARD_EREMOTE && m != NULL)
    return failf(detail, "%s: remote error %d: %s", what, ward_msg_code(m), ward_msg_error(m));
  return failf(detail, "%s: %s (%s)", what, ward_err_name(rc), ward_last_error());
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An absolute CLOCK_REALTIME time `ms` from now, for timed waits. */
static struct timespec deadline_in(int ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

/* ------------------------------------------------------------------ */
/* What the host hears: events, and the worker's calls and notices    */
/* ------------------------------------------------------------------ */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

#define MAX_EVENTS 256
typedef struct seen_event {
  int type, exit_code, signal, reason;
  uint64_t worker_id;
  char detail[160]; /* ERROR: why the worker was cut off */
} seen_event;
static seen_event events[MAX_EVENTS];
static int nevents;
static int notified_n;     /* conform.notified notifications received */
static char notified[256]; /* the last one's payload */
static int running_n;      /* conform.running notifications received */

static void on_event(const ward_event *ev, void *ud) {
  (void)ud;
  pthread_mutex_lock(&mu);
  if (nevents < MAX_EVENTS) {
    seen_event *e = &events[nevents++];
    *e = (seen_event){ev->type, ev->exit_code, ev->signal, ev->reason, ev->worker_id, ""};
    if (ev->detail != NULL)
      snprintf(e->detail, sizeof e->detail, "%s", ev->detail);
  }
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static int event_mark(void) {
  pthread_mutex_lock(&mu);
  int n = nevents;
  pthread_mutex_unlock(&mu);
  return n;
}

/* Waits for an event of `type` about worker `id` from index `from`;
 * returns 0 and a copy in *out, or -1 after WAIT_MS. */
static int wait_event(int from, int type, uint64_t id, seen_event *out) {
  struct timespec until = deadline_in(WAIT_MS);
  int rc = -1;
  pthread_mutex_lock(&mu);
  for (;;) {
    for (int i = from; i < nevents && rc != 0; i++)
      if (events[i].type == type && events[i].worker_id == id) {
        *out = events[i];
        rc = 0;
      }
    if (rc == 0 || pthread_cond_timedwait(&cv, &mu, &until) == ETIMEDOUT)
      break;
  }
  pthread_mutex_unlock(&mu);
  return rc;
}

static int count_events(int from, int type, uint64_t id) {
  int n = 0;
  pthread_mutex_lock(&mu);
  for (int i = from; i < nevents; i++)
    n += events[i].type == type && events[i].worker_id == id;
  pthread_mutex_unlock(&mu);
  return n;
}

/* Waits until *counter exceeds `before`; 0, or -1 after WAIT_MS. */
static int wait_count(const int *counter, int before) {
  struct timespec until = deadline_in(WAIT_MS);
  pthread_mutex_lock(&mu);
  while (*counter <= before && pthread_cond_timedwait(&cv, &mu, &until) != ETIMEDOUT) {
  }
  int rc = *counter > before ? 0 : -1;
  pthread_mutex_unlock(&mu);
  return rc;
}

static int read_count(const int *counter) {
  pthread_mutex_lock(&mu);
  int n = *counter;
  pthread_mutex_unlock(&mu);
  return n;
}

/* conform.notified: what the worker's conform.notify handler sends back. */
static int on_notified(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ud;
  pthread_mutex_lock(&mu);
  if (ward_ctx_is_notify(ctx))
    snprintf(notified, sizeof notified, "%.*s", (int)len, (const char *)data);
  else
    snprintf(notified, sizeof notified, "(a request, not a notification)");
  notified_n++;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  return ward_ctx_is_notify(ctx) ? 0 : ward_ctx_reply(ctx, "null", 4);
}

/* conform.running: conform.sleep with "tell" says it has started. */
static int on_running(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)data, (void)len, (void)ud;
  pthread_mutex_lock(&mu);
  running_n++;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  return ward_ctx_is_notify(ctx) ? 0 : ward_ctx_reply(ctx, "null", 4);
}

/* conform.add (host side): {"a", "b"} -> a + b. */
static int on_add(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ud;
  json_t *p;
  if (ward_ctx_params_json(ctx, data, len, &p) != WARD_OK)
    return ward_ctx_fail(ctx, WARD_EPROTO, ward_last_error());
  json_t *sum = json_integer(json_integer_value(json_object_get(p, "a")) +
                             json_integer_value(json_object_get(p, "b")));
  int rc = ward_ctx_reply_json(ctx, sum);
  json_decref(sum);
  json_decref(p);
  return rc;
}

/* conform.refuse (host side): error 451 "refused" with data. */
static int on_refuse(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)data, (void)len, (void)ud;
  json_t *d = json_pack("{s:s}", "why", "conformance");
  int rc = ward_ctx_fail_json(ctx, 451, "refused", d);
  json_decref(d);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Workers                                                             */
/* ------------------------------------------------------------------ */

enum { SPEC_PLAIN, SPEC_SOCKET, SPEC_HEARTBEAT };

static int spawn_worker(conform *c, ward_worker **out, const char *name, int kind, char *why) {
  ward_spec *s = NULL;
  int rc = ward_spec_new(&s, name, c->argv[0]);
  for (int i = 1; rc == WARD_OK && i < c->argc; i++)
    rc = ward_spec_arg(s, c->argv[i]);
  if (rc == WARD_OK)
    rc = ward_spec_restart(s, WARD_RESTART_NEVER);
  if (rc == WARD_OK)
    rc = ward_spec_stop_grace(s, GRACE_MS);
  if (rc == WARD_OK)
    rc = ward_spec_cancel_grace(s, GRACE_MS);
  if (rc == WARD_OK && kind == SPEC_SOCKET)
    rc = ward_spec_transport(s, WARD_TRANSPORT_SOCKET);
  /* Pings every 200 ms, 10 misses: a worker silent for 2 s is caught,
   * one answering between steps is not, even on a busy machine. */
  if (rc == WARD_OK && kind == SPEC_HEARTBEAT)
    rc = ward_spec_heartbeat(s, 200, 10);
  if (rc == WARD_OK)
    rc = ward_spawn(out, c->host, s);
  if (rc != WARD_OK)
    failf(why, "the worker did not start: %s (%s)", ward_err_name(rc), ward_last_error());
  ward_spec_free(s);
  return rc == WARD_OK ? 0 : -1;
}

/* How the worker's process ended, and its last lines, appended to a
 * reason, to debug by. */
static void append_logs(ward_worker *w, char *why) {
  uint64_t id = ward_worker_id(w);
  pthread_mutex_lock(&mu);
  for (int i = 0; i < nevents; i++) {
    const seen_event *e = &events[i];
    size_t used = strlen(why);
    if (e->worker_id != id || used + 8 >= 512)
      continue;
    if (e->type == WARD_EV_ERROR)
      snprintf(why + used, 512 - used, " | cut off: %s", e->detail);
    else if (e->type == WARD_EV_EXITED)
      snprintf(why + used, 512 - used, " | exited: code %d, signal %d, %s", e->exit_code,
               e->signal, ward_reason_name(e->reason));
  }
  pthread_mutex_unlock(&mu);
  ward_log_query q = WARD_LOG_QUERY_INIT;
  q.last = 3;
  ward_log_line *v;
  size_t n;
  if (ward_worker_logs(&v, &n, w, &q) != WARD_OK)
    return;
  for (size_t i = 0; i < n; i++) {
    size_t used = strlen(why);
    if (used + 8 < 512)
      snprintf(why + used, 512 - used, " | %s", v[i].text);
  }
  ward_log_lines_free(v, n);
}

/* Stops `w` and checks that it said nothing back and exited 0 in time. */
static int stop_cleanly(ward_worker *w, char *why) {
  uint64_t id = ward_worker_id(w);
  int from = event_mark();
  int rc = ward_worker_stop(w, -1);
  if (rc != WARD_OK)
    return fail_ward(why, "stop", rc, NULL);
  seen_event e;
  if (wait_event(from, WARD_EV_EXITED, id, &e) != 0)
    return failf(why, "no exit after the goodbye");
  ward_info in = WARD_INFO_INIT;
  ward_worker_info(&in, w);
  if (e.exit_code != 0 || e.signal != 0 || in.last_stop != WARD_STOP_GRACEFUL) {
    failf(why, "after the goodbye: exit code %d, signal %d, stop %s (want 0, 0, graceful)",
          e.exit_code, e.signal, ward_stop_outcome_name(in.last_stop));
    append_logs(w, why);
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* Calls                                                               */
/* ------------------------------------------------------------------ */

static int call(ward_worker *w, ward_msg **m, const char *method, const char *params, int enc,
                size_t len) {
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = CALL_MS;
  o.encoding = enc;
  return ward_request_ex(m, w, method, params, len, &o);
}

static int call_json(ward_worker *w, ward_msg **m, const char *method, const char *params) {
  return call(w, m, method, params, WARD_ENC_JSON, strlen(params));
}

/* A JSON reply parsed, or NULL with the reason in `why`. */
static json_t *reply_json(ward_worker *w, const char *method, const char *params, char *why) {
  ward_msg *m = NULL;
  int rc = call_json(w, &m, method, params);
  if (rc != WARD_OK) {
    fail_ward(why, method, rc, m);
    ward_msg_free(m);
    return NULL;
  }
  json_error_t err;
  json_t *v = json_loadb(ward_msg_data(m), ward_msg_len(m), JSON_DECODE_ANY, &err);
  if (v == NULL)
    failf(why, "%s: a reply that is not JSON (%s): %.*s", method, err.text,
          (int)(ward_msg_len(m) > 80 ? 80 : ward_msg_len(m)), (const char *)ward_msg_data(m));
  ward_msg_free(m);
  return v;
}

static const char *enc_name(int enc) {
  return enc == WARD_ENC_RAW ? "raw" : enc == WARD_ENC_JSON ? "JSON" : "MessagePack";
}

static int check_handshake(ward_worker *w, char *why) {
  for (size_t i = 0; i < sizeof contract / sizeof contract[0]; i++)
    if (!ward_worker_serves(w, contract[i]))
      return failf(why, "the HELLO does not announce %s", contract[i]);
  return 0;
}

/* conform.echo in each encoding: the same bytes, the same tag. */
static int check_echo(ward_worker *w, char *why) {
  static const struct {
    int enc;
    const char *data;
    size_t len;
  } cases[] = {
      {WARD_ENC_JSON, "{\"text\":\"h\\u00e9\",\"n\":[1,2.5,null]}", 34},
      {WARD_ENC_RAW, "\x00\x01raw\xff\xfe", 7},
      {WARD_ENC_MSGPACK, "\x92\x01\xa1x", 4},
      {WARD_ENC_JSON, "", 0},
      {WARD_ENC_RAW, "", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ward_msg *m = NULL;
    int rc = call(w, &m, "conform.echo", cases[i].data, cases[i].enc, cases[i].len);
    if (rc != WARD_OK) {
      fail_ward(why, "conform.echo", rc, m);
      ward_msg_free(m);
      return -1;
    }
    int same = ward_msg_encoding(m) == cases[i].enc && ward_msg_len(m) == cases[i].len &&
               memcmp(ward_msg_data(m), cases[i].data, cases[i].len) == 0;
    int enc = ward_msg_encoding(m);
    size_t len = ward_msg_len(m);
    ward_msg_free(m);
    if (!same)
      return failf(why, "echo #%zu (%s, %zu bytes) came back as %s, %zu bytes", i + 1,
                   enc_name(cases[i].enc), cases[i].len, enc_name(enc), len);
  }
  /* A larger payload: 1 MiB, crossing many reads and writes. */
  size_t big = 1 << 20;
  char *buf = malloc(big);
  if (buf == NULL)
    return failf(why, "out of memory");
  for (size_t i = 0; i < big; i++)
    buf[i] = (char)(i * 7 + (i >> 10));
  ward_msg *m = NULL;
  int rc = call(w, &m, "conform.echo", buf, WARD_ENC_RAW, big);
  int same = rc == WARD_OK && ward_msg_len(m) == big && memcmp(ward_msg_data(m), buf, big) == 0;
  if (rc != WARD_OK)
    fail_ward(why, "conform.echo of 1 MiB", rc, m);
  else if (!same)
    failf(why, "conform.echo of 1 MiB came back different (%zu bytes)", ward_msg_len(m));
  ward_msg_free(m);
  free(buf);
  return same ? 0 : -1;
}

static int check_ping(ward_worker *w, char *why) {
  int rc = ward_ping(w, CALL_MS);
  return rc == WARD_OK ? 0 : fail_ward(why, "ping", rc, NULL);
}

/* Expects a remote error; returns the message (ward_msg_free it) or NULL. */
static ward_msg *expect_remote(ward_worker *w, const char *method, const char *params,
                               char *why) {
  ward_msg *m = NULL;
  int rc = call_json(w, &m, method, params);
  if (rc == WARD_EREMOTE)
    return m;
  if (rc == WARD_OK)
    failf(why, "%s %s: a reply, not an error", method, params);
  else
    fail_ward(why, method, rc, m);
  ward_msg_free(m);
  return NULL;
}

static int check_unknown(ward_worker *w, char *why) {
  ward_msg *m = NULL;
  int rc = call_json(w, &m, "conform.no-such-method", "{}");
  ward_msg_free(m);
  if (rc != WARD_ENOMETHOD)
    return failf(why, "an unknown method gave %s, not ENOMETHOD (-11)", ward_err_name(rc));
  return 0;
}

static int check_fail(ward_worker *w, char *why) {
  ward_msg *m = expect_remote(
      w, "conform.fail",
      "{\"code\": 404, \"message\": \"no such user\", \"data\": {\"id\": 7, \"tags\": [\"a\"]}}", why);
  if (m == NULL)
    return -1;
  json_t *d = json_loadb(ward_msg_data(m), ward_msg_len(m), 0, NULL);
  int ok = ward_msg_code(m) == 404 && strcmp(ward_msg_error(m), "no such user") == 0 &&
           ward_msg_encoding(m) == WARD_ENC_JSON && d != NULL &&
           json_integer_value(json_object_get(d, "id")) == 7 &&
           json_array_size(json_object_get(d, "tags")) == 1;
  if (!ok)
    failf(why, "got code %d, message \"%s\", data (%s) %.*s; want 404, \"no such user\", "
          "JSON {\"id\":7,\"tags\":[\"a\"]}", ward_msg_code(m), ward_msg_error(m),
          enc_name(ward_msg_encoding(m)),
          (int)(ward_msg_len(m) > 80 ? 80 : ward_msg_len(m)), (const char *)ward_msg_data(m));
  json_decref(d);
  ward_msg_free(m);
  if (!ok)
    return -1;
  /* No data at all, a negative code of the application's. */
  m = expect_remote(w, "conform.fail", "{\"code\": -2000, \"message\": \"x\"}", why);
  if (m == NULL)
    return -1;
  ok = ward_msg_code(m) == -2000 && strcmp(ward_msg_error(m), "x") == 0 && ward_msg_len(m) == 0;
  if (!ok)
    failf(why, "got code %d, message \"%s\", %zu bytes of data; want -2000, \"x\", none",
          ward_msg_code(m), ward_msg_error(m), ward_msg_len(m));
  ward_msg_free(m);
  return ok ? 0 : -1;
}

static int check_raise(ward_worker *w, char *why) {
  ward_msg *m = expect_remote(w, "conform.raise", "{\"message\": \"conformance boom\"}", why);
  if (m == NULL)
    return -1;
  int ok = ward_msg_code(m) != 0 && strstr(ward_msg_error(m), "conformance boom") != NULL;
  if (!ok)
    failf(why, "got code %d, message \"%s\"; want a code and a message holding "
          "\"conformance boom\"", ward_msg_code(m), ward_msg_error(m));
  ward_msg_free(m);
  if (!ok)
    return -1;
  /* The worker goes on serving. */
  json_t *v = reply_json(w, "conform.add", "{\"a\": 2, \"b\": 3}", why);
  ok = v != NULL && json_integer_value(v) == 5;
  if (v != NULL && !ok)
    failf(why, "conform.add 2 + 3 after the raise was not 5");
  json_decref(v);
  return ok ? 0 : -1;
}

static int check_bad_json(ward_worker *w, char *why) {
  json_t *v = reply_json(w, "conform.add", "{\"a\": 20, \"b\": 22}", why);
  int ok = v != NULL && json_integer_value(v) == 42;
  if (v != NULL && !ok)
    failf(why, "conform.add 20 + 22 was not 42");
  json_decref(v);
  if (!ok)
    return -1;
  ward_msg *m = expect_remote(w, "conform.add", "{\"a\": 1,", why);
  if (m == NULL)
    return -1;
  ok = ward_msg_code(m) == WARD_EPROTO;
  if (!ok)
    failf(why, "params that are not JSON gave code %d (\"%s\"), not EPROTO (-9)",
          ward_msg_code(m), ward_msg_error(m));
  ward_msg_free(m);
  return ok ? 0 : -1;
}

/* ---- Streams ---- */

typedef struct seen {
  uint64_t rows, progress, diags;
  int bad;
  char first[160]; /* the first thing out of order */
  char order[8];   /* 'd', 'r', 'p' of the first frames */
  size_t norder;
  int n; /* rows the call asks for */
} seen;

static void seen_bad(seen *s, const char *fmt, ...) CLI_PRINTF(2, 3);
static void seen_bad(seen *s, const char *fmt, ...) {
  if (s->bad++ == 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->first, sizeof s->first, fmt, ap);
    va_end(ap);
  }
}

static void seen_note(seen *s, char what) {
  if (s->norder < sizeof s->order)
    s->order[s->norder++] = what;
}

static void on_row(const char *stream, uint64_t seq, const void *data, size_t len, void *ud) {
  seen *s = ud;
  pthread_mutex_lock(&mu);
  json_t *v = json_loadb(data, len, 0, NULL);
  if (strcmp(stream, "out") != 0)
    seen_bad(s, "a row on stream \"%s\", not \"out\"", stream);
  else if (seq != s->rows + 1)
    seen_bad(s, "row number %llu after %llu", (unsigned long long)seq,
             (unsigned long long)s->rows);
  else if (v == NULL || json_integer_value(json_object_get(v, "i")) != (json_int_t)seq)
    seen_bad(s, "row %llu is not {\"i\": %llu, ...}", (unsigned long long)seq,
             (unsigned long long)seq);
  json_decref(v);
  s->rows++;
  seen_note(s, 'r');
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

static void on_progress(const void *data, size_t len, void *ud) {
  seen *s = ud;
  pthread_mutex_lock(&mu);
  json_t *v = json_loadb(data, len, 0, NULL);
  if (v == NULL || json_integer_value(json_object_get(v, "done")) != (json_int_t)s->rows ||
      json_integer_value(json_object_get(v, "total")) != s->n)
    seen_bad(s, "progress %.*s after %llu rows", (int)(len > 60 ? 60 : len), (const char *)data,
             (unsigned long long)s->rows);
  json_decref(v);
  s->progress++;
  seen_note(s, 'p');
  pthread_mutex_unlock(&mu);
}

static void on_diag(int level, const char *code, const char *message, void *ud) {
  seen *s = ud;
  pthread_mutex_lock(&mu);
  if (level != 2 || strcmp(code, "start") != 0 || strncmp(message, "starting ", 9) != 0)
    seen_bad(s, "diagnostic level %d code \"%s\" message \"%s\"", level, code, message);
  s->diags++;
  seen_note(s, 'd');
  pthread_mutex_unlock(&mu);
}

static void stream_opts(ward_call_opts *o, seen *s, int window) {
  o->timeout_ms = 60000;
  o->window_bytes = window;
  o->on_row = on_row;
  o->on_progress = on_progress;
  o->on_diag = on_diag;
  o->ud = s;
}

/* n rows of `pad` bytes, progress every 4, within `window`: in order, and
 * a worker that broke the window would have been cut off (EPROTO). */
static int one_stream(ward_worker *w, int n, int pad, int window, char *why) {
  seen s;
  memset(&s, 0, sizeof s);
  s.n = n;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  stream_opts(&o, &s, window);
  char params[96];
  snprintf(params, sizeof params, "{\"n\": %d, \"pad\": %d, \"every\": 4}", n, pad);
  ward_msg *m = NULL;
  int rc = ward_request_ex(&m, w, "conform.rows", params, strlen(params), &o);
  char label[64];
  snprintf(label, sizeof label, "conform.rows %s, window %d", params, window);
  if (rc != WARD_OK) {
    fail_ward(why, label, rc, m);
    ward_msg_free(m);
    return -1;
  }
  char want[16];
  snprintf(want, sizeof want, "%d", n);
  int reply_ok = ward_msg_len(m) == strlen(want) && memcmp(ward_msg_data(m), want, strlen(want)) == 0;
  ward_msg_free(m);
  if (s.bad)
    return failf(why, "%s: %s", label, s.first);
  if (!reply_ok)
    return failf(why, "%s: the reply is not %d", label, n);
  if (s.rows != (uint64_t)n || s.progress != (uint64_t)(n / 4) || s.diags != 1)
    return failf(why, "%s: %llu rows, %llu progress reports, %llu diagnostics; want %d, %d, 1",
                 label, (unsigned long long)s.rows, (unsigned long long)s.progress,
                 (unsigned long long)s.diags, n, n / 4);
  if (n >= 4 && memcmp(s.order, "drrrrp", 6) != 0)
    return failf(why, "%s: frames came as %.6s, not drrrrp (d diagnostic, r row, p progress)",
                 label, s.order);
  return 0;
}

static int check_rows(ward_worker *w, char *why) {
  if (one_stream(w, 10, 0, -1, why) != 0)
    return -1;
  return one_stream(w, 0, 0, 64, why);
}

static int check_flow(ward_worker *w, char *why) {
  static const int windows[] = {64, 256, 4096, 0 /* 1 MiB */, -1 /* none */};
  uint32_t gen = ward_worker_generation(w);
  for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++)
    if (one_stream(w, 200, 10, windows[i], why) != 0)
      return -1;
  /* Rows larger than the window: each waits until all is credited. */
  if (one_stream(w, 12, 3000, 1024, why) != 0)
    return -1;
  if (ward_worker_generation(w) != gen)
    return failf(why, "the worker was replaced while streaming");
  return 0;
}

/* The end of an asynchronous call. */
static void on_done(ward_call *c, int status, ward_msg *reply, void *ud) {
  (void)c, (void)status, (void)ud;
  ward_msg_free(reply);
}

/* A stream that never ends, cancelled after its first row, with a window
 * and without: the worker ends the call and serves the next one. */
static int check_cancel_stream(ward_worker *w, char *why) {
  static const int windows[] = {256, -1};
  uint64_t id = ward_worker_id(w);
  int from = event_mark();
  for (size_t i = 0; i < 2; i++) {
    seen s;
    memset(&s, 0, sizeof s);
    ward_call_opts o = WARD_CALL_OPTS_INIT;
    stream_opts(&o, &s, windows[i]);
    o.timeout_ms = 120000;
    ward_call *c;
    int rc = ward_call_start(&c, w, "conform.forever", "{}", 2, &o, on_done, NULL);
    if (rc != WARD_OK)
      return fail_ward(why, "conform.forever", rc, NULL);
    struct timespec until = deadline_in(WAIT_MS);
    pthread_mutex_lock(&mu);
    while (s.rows == 0 && pthread_cond_timedwait(&cv, &mu, &until) != ETIMEDOUT) {
    }
    uint64_t rows = s.rows;
    pthread_mutex_unlock(&mu);
    ward_call_cancel(c);
    rc = ward_call_wait(c, WAIT_MS);
    ward_call_free(c);
    if (rows == 0)
      return failf(why, "conform.forever sent no row within %d s", WAIT_MS / 1000);
    if (rc != WARD_ECANCELED)
      return failf(why, "the cancelled call ended %s", ward_err_name(rc));
    /* The next call is served, by the same process: had the worker gone
     * on, this would wait for the cancel grace and a new process. */
    ward_msg *m = NULL;
    rc = call(w, &m, "conform.echo", "\"after\"", WARD_ENC_JSON, 7);
    ward_msg_free(m);
    if (rc != WARD_OK)
      return fail_ward(why, "conform.echo after a cancel", rc, NULL);
    if (s.bad)
      return failf(why, "conform.forever: %s", s.first);
  }
  if (count_events(from, WARD_EV_EXITED, id) != 0)
    return failf(why, "the worker was replaced: it did not end the cancelled call");
  return 0;
}

/* Work between steps, cancelled while it runs (conform.sleep says when it
 * has started): the handler stops at its next step. */
static int check_cancel_running(ward_worker *w, char *why) {
  uint64_t id = ward_worker_id(w);
  int from = event_mark();
  int before = read_count(&running_n);
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 120000;
  static const char p[] = "{\"ms\": 100000, \"tell\": true}";
  ward_call *c;
  int rc = ward_call_start(&c, w, "conform.sleep", p, strlen(p), &o, on_done, NULL);
  if (rc != WARD_OK)
    return fail_ward(why, "conform.sleep", rc, NULL);
  int told = wait_count(&running_n, before);
  int64_t t0 = now_ms();
  ward_call_cancel(c);
  rc = ward_call_wait(c, WAIT_MS);
  ward_call_free(c);
  if (told != 0)
    return failf(why, "conform.sleep with \"tell\" sent no conform.running notification");
  if (rc != WARD_ECANCELED)
    return failf(why, "the cancelled call ended %s", ward_err_name(rc));
  ward_msg *m = NULL;
  rc = call(w, &m, "conform.echo", "1", WARD_ENC_JSON, 1);
  ward_msg_free(m);
  if (rc != WARD_OK)
    return fail_ward(why, "conform.echo after a cancel", rc, NULL);
  if (count_events(from, WARD_EV_EXITED, id) != 0)
    return failf(why, "the worker was replaced: it did not end the cancelled call");
  if (now_ms() - t0 > GRACE_MS / 2)
    return failf(why, "the next call waited %lld ms", (long long)(now_ms() - t0));
  return 0;
}

static int check_notify(ward_worker *w, char *why) {
  int before = read_count(&notified_n);
  /* A notification for no method is dropped, unanswered. */
  int rc = ward_notify(w, "conform.no-such-notification", "{}", 2);
  if (rc == WARD_OK)
    rc = ward_notify(w, "conform.notify", "{\"n\":1,\"s\":\"x\"}", 15);
  if (rc != WARD_OK)
    return fail_ward(why, "notify", rc, NULL);
  if (wait_count(&notified_n, before) != 0)
    return failf(why, "no conform.notified notification came back within %d s", WAIT_MS / 1000);
  pthread_mutex_lock(&mu);
  json_t *v = json_loads(notified, 0, NULL);
  int ok = v != NULL && json_integer_value(json_object_get(v, "n")) == 1 &&
           strcmp(json_string_value(json_object_get(v, "s")) ? json_string_value(json_object_get(v, "s")) : "", "x") == 0;
  if (!ok)
    failf(why, "conform.notified came with %s, not the params sent", notified);
  pthread_mutex_unlock(&mu);
  json_decref(v);
  if (!ok)
    return -1;
  /* The worker still serves (and answered nothing to the notifications:
   * an answer would have been a protocol violation and cut it off). */
  ward_msg *m = NULL;
  rc = call(w, &m, "conform.echo", "2", WARD_ENC_JSON, 1);
  ward_msg_free(m);
  return rc == WARD_OK ? 0 : fail_ward(why, "conform.echo after the notifications", rc, NULL);
}

static int check_ask(ward_worker *w, char *why) {
  json_t *v = reply_json(w, "conform.ask",
                         "{\"method\": \"conform.add\", \"params\": {\"a\": 20, \"b\": 22}}", why);
  if (v == NULL)
    return -1;
  int ok = json_integer_value(json_object_get(v, "result")) == 42;
  if (!ok) {
    char *text = json_dumps(v, JSON_COMPACT);
    failf(why, "asking the host conform.add 20 + 22 gave %s, not {\"result\": 42}", text);
    free(text);
  }
  json_decref(v);
  if (!ok)
    return -1;
  v = reply_json(w, "conform.ask", "{\"method\": \"conform.refuse\", \"params\": {}}", why);
  if (v == NULL)
    return -1;
  json_t *data = json_object_get(v, "data");
  const char *msg = json_string_value(json_object_get(v, "message"));
  const char *why_d = json_string_value(json_object_get(data, "why"));
  ok = json_integer_value(json_object_get(v, "code")) == 451 && msg != NULL &&
       strcmp(msg, "refused") == 0 && why_d != NULL && strcmp(why_d, "conformance") == 0;
  if (!ok) {
    char *text = json_dumps(v, JSON_COMPACT);
    failf(why, "the host's error came back as %s, not {\"code\": 451, \"message\": "
          "\"refused\", \"data\": {\"why\": \"conformance\"}}", text);
    free(text);
  }
  json_decref(v);
  if (!ok)
    return -1;
  v = reply_json(w, "conform.ask", "{\"method\": \"conform.no-such-method\", \"params\": {}}", why);
  if (v == NULL)
    return -1;
  ok = json_integer_value(json_object_get(v, "code")) == WARD_ENOMETHOD;
  if (!ok) {
    char *text = json_dumps(v, JSON_COMPACT);
    failf(why, "a method the host does not serve came back as %s, not code -11", text);
    free(text);
  }
  json_decref(v);
  return ok ? 0 : -1;
}

/* ---- Checks on workers of their own ---- */

/* Fast heartbeats while a handler works for 3 s in steps: no miss. */
static int check_heartbeats(conform *c, char *why) {
  ward_worker *w;
  if (spawn_worker(c, &w, "conform-heartbeat", SPEC_HEARTBEAT, why) != 0)
    return -1;
  uint64_t id = ward_worker_id(w);
  int from = event_mark();
  json_t *v = reply_json(w, "conform.sleep", "{\"ms\": 3000}", why);
  int ok = v != NULL && json_is_string(v) && strcmp(json_string_value(v), "done") == 0;
  if (v != NULL && !ok)
    failf(why, "conform.sleep did not reply \"done\"");
  json_decref(v);
  if (ok && (count_events(from, WARD_EV_UNHEALTHY, id) != 0 ||
             count_events(from, WARD_EV_EXITED, id) != 0))
    ok = failf(why, "heartbeats went unanswered while conform.sleep ran") == 0;
  if (ok)
    ok = stop_cleanly(w, why) == 0;
  ward_worker_free(w);
  return ok ? 0 : -1;
}

static int check_socket(conform *c, char *why) {
  ward_worker *w;
  if (spawn_worker(c, &w, "conform-socket", SPEC_SOCKET, why) != 0)
    return -1;
  int ok = check_echo(w, why) == 0 && check_ask(w, why) == 0 && stop_cleanly(w, why) == 0;
  ward_worker_free(w);
  return ok ? 0 : -1;
}

/* The host replaces the process: a GOODBYE, after which the worker exits
 * 0 by itself, without waiting for EOF (the host keeps its end open). */
static int check_replacement(ward_worker *w, char *why) {
  uint64_t id = ward_worker_id(w);
  int from = event_mark();
  int rc = ward_worker_cycle(w);
  if (rc != WARD_OK)
    return fail_ward(why, "cycle", rc, NULL);
  seen_event e;
  if (wait_event(from, WARD_EV_EXITED, id, &e) != 0)
    return failf(why, "the old process did not exit");
  if (e.exit_code != 0 || e.signal != 0 || e.reason != WARD_REASON_CYCLE)
    return failf(why, "the old process ended with code %d, signal %d, reason %s "
                 "(want 0, 0, cycle: exit at the GOODBYE, not at EOF)",
                 e.exit_code, e.signal, ward_reason_name(e.reason));
  ward_msg *m = NULL;
  rc = call(w, &m, "conform.echo", "3", WARD_ENC_JSON, 1);
  ward_msg_free(m);
  return rc == WARD_OK ? 0 : fail_ward(why, "conform.echo on the new process", rc, NULL);
}

/* conform.leave: the worker says goodbye itself and exits 0. */
static int check_leave(conform *c, char *why) {
  ward_worker *w;
  if (spawn_worker(c, &w, "conform-leave", SPEC_PLAIN, why) != 0)
    return -1;
  uint64_t id = ward_worker_id(w);
  int from = event_mark();
  int ok = 1;
  int rc = ward_notify(w, "conform.leave", "{}", 2);
  seen_event e;
  if (rc != WARD_OK)
    ok = fail_ward(why, "notify conform.leave", rc, NULL) == 0;
  else if (wait_event(from, WARD_EV_EXITED, id, &e) != 0)
    ok = failf(why, "the worker did not exit after conform.leave") == 0;
  else if (e.exit_code != 0 || e.signal != 0 || e.reason != WARD_REASON_EXITED)
    ok = failf(why, "the worker ended with code %d, signal %d, reason %s (want 0, 0, exited)",
               e.exit_code, e.signal, ward_reason_name(e.reason)) == 0;
  ward_worker_free(w);
  return ok ? 0 : -1;
}

/* The command with no host: the environment names no channel. It must
 * say so on stderr and exit with status 2, promptly. */
static int check_no_host(conform *c, char *why) {
  size_t n = 0;
  while (environ[n] != NULL)
    n++;
  char **env = calloc(n + 1, sizeof *env);
  if (env == NULL)
    return failf(why, "out of memory");
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], "WARD_", 5) != 0)
      env[k++] = environ[i];
  char errpath[] = "/tmp/ward-conform-XXXXXX";
  int errfd = mkstemp(errpath);
  if (errfd < 0) {
    free(env);
    return failf(why, "mkstemp: %s", strerror(errno));
  }
  unlink(errpath);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, errfd, 2);
  pid_t pid;
  int rc = posix_spawnp(&pid, c->argv[0], &fa, NULL, c->argv, env);
  posix_spawn_file_actions_destroy(&fa);
  free(env);
  if (rc != 0) {
    close(errfd);
    return failf(why, "cannot start %s: %s", c->argv[0], strerror(rc));
  }
  int status = 0;
  int64_t until = now_ms() + WAIT_MS;
  pid_t got;
  while ((got = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() < until) {
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
  if (got == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    close(errfd);
    return failf(why, "still running %d s after it started without a host", WAIT_MS / 1000);
  }
  char text[200] = "";
  ssize_t len = pread(errfd, text, sizeof text - 1, 0);
  close(errfd);
  if (len > 0) {
    text[len] = '\0';
    text[strcspn(text, "\n")] = '\0';
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 2)
    return failf(why, "without a host it ended with %s %d, not exit status 2",
                 WIFEXITED(status) ? "status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
  if (len <= 0)
    return failf(why, "without a host it exited 2 but said nothing on stderr");
  return 0;
}

/* ------------------------------------------------------------------ */
/* The run                                                             */
/* ------------------------------------------------------------------ */

static void record(conform *c, const char *name, int rc, const char *why) {
  if (c->nresults >= MAX_RESULTS)
    return;
  result *r = &c->results[c->nresults++];
  r->name = name;
  r->ok = rc == 0;
  snprintf(r->detail, sizeof r->detail, "%s", rc == 0 ? "" : (why[0] ? why : "failed"));
  if (!c->json) {
    printf("%s  %s%s%s\n", r->ok ? "pass" : "FAIL", name, r->ok ? "" : ": ", r->detail);
    fflush(stdout);
  }
}

typedef int (*call_check)(ward_worker *w, char *why);

/* The behaviours checked on the main worker, in order. */
static const struct {
  const char *name;
  call_check fn;
} call_checks[] = {
    {"handshake: every method of the contract announced", check_handshake},
    {"calls: echo in JSON, raw and MessagePack, empty and 1 MiB", check_echo},
    {"ping answered", check_ping},
    {"unknown method: error -11", check_unknown},
    {"errors: code, message and data", check_fail},
    {"a raising handler: a remote error, and serving goes on", check_raise},
    {"params that are not JSON: error -9 (EPROTO)", check_bad_json},
    {"rows, progress and a diagnostic, in order", check_rows},
    {"flow control: rows within windows from 64 bytes to none", check_flow},
    {"cancellation of a stream", check_cancel_stream},
    {"cancellation of a handler between steps", check_cancel_running},
    {"notifications both ways", check_notify},
    {"calls to the host: result, error with data, unknown method", check_ask},
};

static void run_all(conform *c) {
  char why[512] = "";
  ward_worker *w = NULL;
  int up = spawn_worker(c, &w, "conform", SPEC_PLAIN, why) == 0;
  record(c, "start and handshake", up ? 0 : -1, why);
  int crashed = 0;
  for (size_t i = 0; i < sizeof call_checks / sizeof call_checks[0]; i++) {
    why[0] = '\0';
    int rc = up ? call_checks[i].fn(w, why) : failf(why, "the worker did not start");
    /* The first time the worker is found dead: its last words. */
    if (rc != 0 && up && !crashed && strstr(why, "ECRASHED") != NULL) {
      crashed = 1;
      seen_event e;
      wait_event(0, WARD_EV_EXITED, ward_worker_id(w), &e); /* its exit, then what it said */
      append_logs(w, why);
    }
    record(c, call_checks[i].name, rc, why);
  }
  why[0] = '\0';
  record(c, "heartbeats answered while a handler runs", check_heartbeats(c, why), why);
  why[0] = '\0';
  record(c, "socket mode (WARD_SOCKET, WARD_TOKEN)", check_socket(c, why), why);
  why[0] = '\0';
  record(c, "replacement: the host's GOODBYE, exit 0 without waiting for EOF",
         up ? check_replacement(w, why) : failf(why, "the worker did not start"), why);
  why[0] = '\0';
  record(c, "stop: the host's GOODBYE, exit 0 within the grace",
         up ? stop_cleanly(w, why) : failf(why, "the worker did not start"), why);
  if (w != NULL)
    ward_worker_free(w);
  why[0] = '\0';
  record(c, "the worker's own GOODBYE, exit 0", check_leave(c, why), why);
  why[0] = '\0';
  record(c, "started without a host: a message and exit status 2", check_no_host(c, why), why);
}

static int count_passed(const conform *c) {
  int n = 0;
  for (int i = 0; i < c->nresults; i++)
    n += c->results[i].ok;
  return n;
}

static int print_json(const conform *c) {
  json_t *cmd = json_array();
  for (int i = 0; i < c->argc; i++)
    json_array_append_new(cmd, json_string(c->argv[i]));
  json_t *checks = json_array();
  for (int i = 0; i < c->nresults; i++) {
    const result *r = &c->results[i];
    json_t *o = json_pack("{s:s, s:b}", "name", r->name, "pass", r->ok);
    json_object_set_new(o, "detail", r->ok ? json_null() : json_string(r->detail));
    json_array_append_new(checks, o);
  }
  int passed = count_passed(c);
  json_t *top = json_pack("{s:o, s:o, s:i, s:i}", "worker", cmd, "checks", checks, "passed",
                          passed, "failed", c->nresults - passed);
  int rc = top ? cli_json_print(top, stdout) : -1;
  json_decref(top);
  return rc;
}

enum { OPT_HELP, OPT_JSON, OPT_VERSION };

static const cli_opt conform_opts[] = {
    {"help", 'h', 0, OPT_HELP},
    {"json", 0, 0, OPT_JSON},
    {"version", 0, 0, OPT_VERSION},
    {NULL, 0, 0, 0},
};

static void conform_usage(void) {
  printf("Usage: %s %s [--json] WORKER-COMMAND [ARGS...]\n"
         "\n"
         "Starts WORKER-COMMAND as a ward worker, several times, and drives it\n"
         "through every behaviour of the protocol (docs/protocol.md section 16):\n"
         "calls, errors, progress, rows within windows, cancellation,\n"
         "notifications both ways, calls to the host, heartbeats, socket mode,\n"
         "goodbyes, and a start without a host. The worker serves the methods\n"
         "of the conformance contract (conform.echo, conform.rows, ...). Prints\n"
         "one line per behaviour: pass, or FAIL and why.\n"
         "\n"
         "Options:\n"
         "      --json     print one JSON object instead of the lines\n"
         "  -h, --help     show this help and exit\n"
         "      --version  print the version of ward and exit\n"
         "\n",
         CLI_NAME, CONFORM_CMD);
  cli_print_exits(stdout, CONFORM_CMD);
}

int conform_main(int argc, char **argv) {
  static conform c; /* big: not on the stack */
  memset(&c, 0, sizeof c);
  cli_args a;
  cli_args_init(&a, CONFORM_CMD, argc, argv);
  for (int done = 0; !done;) {
    switch (cli_next_opt(&a, conform_opts)) {
    case CLI_OPT_END:
      return cli_usage_error(CONFORM_CMD, "no worker command given");
    case OPT_HELP:
      conform_usage();
      return cli_finish(CONFORM_CMD, CLI_EXIT_OK);
    case OPT_VERSION:
      puts(ward_version_string());
      return cli_finish(CONFORM_CMD, CLI_EXIT_OK);
    case OPT_JSON:
      c.json = 1;
      break;
    case CLI_OPT_POSITIONAL:
      done = 1; /* the command: it and everything after it are the worker's */
      break;
    default:
      return CLI_EXIT_USAGE;
    }
  }
  c.argv = argv + a.next - 1;
  c.argc = argc - (a.next - 1);
  signal(SIGPIPE, SIG_IGN);
  ward_host_opts opts = WARD_HOST_OPTS_INIT;
  opts.on_event = on_event;
  int rc = ward_host_new(&c.host, &opts);
  if (rc == WARD_OK)
    rc = ward_host_handle(c.host, "conform.notified", on_notified, NULL);
  if (rc == WARD_OK)
    rc = ward_host_handle(c.host, "conform.running", on_running, NULL);
  if (rc == WARD_OK)
    rc = ward_host_handle(c.host, "conform.add", on_add, NULL);
  if (rc == WARD_OK)
    rc = ward_host_handle(c.host, "conform.refuse", on_refuse, NULL);
  if (rc != WARD_OK) {
    cli_error(CONFORM_CMD, "cannot set up the host: %s (%s)", ward_err_name(rc),
              ward_last_error());
    ward_host_free(c.host);
    return CLI_EXIT_FAIL;
  }
  run_all(&c);
  ward_host_free(c.host);
  int passed = count_passed(&c);
  if (c.json) {
    if (print_json(&c) != 0)
      cli_error(CONFORM_CMD, "cannot print the JSON");
  } else {
    printf("%d of %d behaviours passed\n", passed, c.nresults);
  }
  return cli_finish(CONFORM_CMD, passed == c.nresults ? CLI_EXIT_OK : CLI_EXIT_FAIL);
}
