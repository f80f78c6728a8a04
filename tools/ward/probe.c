/*
 * probe.c — `ward probe`: measures the capability envelope of ward on the
 * machine it runs on, in a second or two, with a built-in worker.
 *
 * The worker is this very binary, started again through /proc/self/exe as
 * `ward __probe-worker` (probe_worker.c), so the probe needs nothing but
 * itself: what it measures is libward and the machine, not some worker
 * program that might be missing or stale.
 *
 * Each check fills one `check`: a figure in a fixed unit, a pass / fail
 * status and a sentence saying how the figure was taken (or why it could
 * not be). A check fails when ward did not behave as documented (a call
 * failed, a crash was not reported as ECRASHED, no replacement came), never
 * because a figure is slow: the figures are for people to judge.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <ward.h>

#include "cli.h"
#include "probe.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

#define PROBE_CMD "probe"

/* Deadline of every call and wait. Generous: a loaded CI machine or a
 * sanitizer build is slow, and a probe that gives up early says nothing. */
#define CALL_TIMEOUT_MS 10000
/* Payload of a round-trip request. */
#define REQUEST_BYTES 32
/* Not a ward error code: the echo's reply was not the request. */
#define PROBE_EBADREPLY 1
/* Room for the repetitions of a plan (cancels, cycles, crashes). */
#define MAX_REPS 16

/* ------------------------------------------------------------------ */
/* What is measured, and how often                                     */
/* ------------------------------------------------------------------ */

typedef struct probe_plan {
  int warmup;            /* requests before the timed round trips */
  int round_trips;       /* timed requests */
  int stream_ms;         /* how long the worker streams rows */
  long stream_max_rows;  /* ... or how many, whichever ends first */
  int cancels, cycles, crashes; /* repetitions (medians are reported) */
} probe_plan;

static const probe_plan full_plan = {50, 2000, 500, 50000000L, 5, 3, 3};
static const probe_plan quick_plan = {10, 200, 100, 10000000L, 3, 1, 1};

enum {
  CK_SPAWN,
  CK_FIRST_CALL,
  CK_ROUND_TRIP,
  CK_STREAM,
  CK_CANCEL,
  CK_CYCLE,
  CK_CRASH,
  CK_HOST_RSS,
  CK_WORKER_RSS,
  CK_COUNT
};

/* The one description of each figure: the help, the table and the JSON
 * all come from here, so they cannot disagree. */
typedef struct check_def {
  const char *key;   /* JSON key */
  const char *label; /* table label */
  const char *unit;
  int decimals;      /* shown, and kept in the JSON */
  const char *what;  /* one line for --help */
} check_def;

static const check_def defs[CK_COUNT] = {
    {"spawn", "cold spawn", "ms", 2, "ward_spawn of a new worker until its handshake is done"},
    {"first_call", "first call", "us", 1, "the first request after the spawn, reply included"},
    {"round_trip", "round trip", "us", 1, "median round trip of a 32-byte request"},
    {"stream", "streaming", "rows/s", 0, "32-byte rows the worker streams to an on_row callback"},
    {"cancel", "cancellation", "us", 1,
     "ward_call_cancel of a streaming call until its done callback"},
    {"cycle", "cycle", "ms", 2, "ward_worker_cycle: old process retired, new one ready"},
    {"crash_recovery", "crash recovery", "ms", 2,
     "from a call failing ECRASHED (abort) to the replacement answering"},
    {"host_rss", "host RSS", "KiB", 0, "resident set of this process, the host"},
    {"worker_rss", "worker RSS", "KiB", 0, "resident set of the worker process"},
};

/* ST_UNKNOWN: the system does not give the figure (WARD_UNKNOWN); not a
 * failure. */
enum { ST_SKIPPED = 0, ST_PASS, ST_FAIL, ST_UNKNOWN };
static const char *const status_json[] = {"skipped", "pass", "fail", "unknown"};
static const char *const status_table[] = {"skipped", "ok", "FAIL", "unknown"};

typedef struct check {
  int status;
  double value;     /* in defs[].unit; meaningful when passed */
  char detail[320]; /* how it was measured, or why it failed */
  json_t *extra;    /* more figures for the JSON (in the same unit), or NULL */
} check;

/* What the event callback saw, for the crash check. It runs on the
 * host's I/O thread: hence the mutex, and the condition variable to wait
 * for a replacement. */
typedef struct probe_events {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* on CLOCK_MONOTONIC */
  uint32_t ready_gen;  /* the newest generation a RESTARTED event reported */
  uint32_t exit_gen;   /* the generation of the last EXITED event */
  int exit_reason;     /* ... and its reason */
  unsigned gave_up;    /* GAVE_UP events */
} probe_events;

typedef struct probe {
  const probe_plan *plan;
  int quick;
  char exe[PATH_MAX];
  ward_host *host;
  ward_worker *w; /* NULL when the spawn failed */
  probe_events events;
  check checks[CK_COUNT];
  int tree; /* ward_tree of the worker's process (WARD_TREE_NONE: none seen) */
} probe;

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static void pass(check *c, double value, const char *fmt, ...) CLI_PRINTF(3, 4);
static void fail(check *c, const char *fmt, ...) CLI_PRINTF(2, 3);

static void pass(check *c, double value, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->detail, sizeof c->detail, fmt, ap);
  va_end(ap);
  c->status = ST_PASS;
  c->value = value;
}

static void unknown(check *c, const char *fmt, ...) CLI_PRINTF(2, 3);
static void unknown(check *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->detail, sizeof c->detail, fmt, ap);
  va_end(ap);
  c->status = ST_UNKNOWN;
}

static void fail(check *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->detail, sizeof c->detail, fmt, ap);
  va_end(ap);
  c->status = ST_FAIL;
}

/* A failed ward call: what it was, the code, and the thread's last error
 * sentence, copied before anything else can replace it. */
static void fail_ward(check *c, const char *what, int rc) {
  if (rc == PROBE_EBADREPLY) {
    fail(c, "%s: the reply differs from the request", what);
    return;
  }
  char why[200];
  snprintf(why, sizeof why, "%s", ward_last_error());
  fail(c, "%s: %s (%s)%s%s", what, ward_err_name(rc), ward_strerror(rc),
       why[0] != '\0' ? ": " : "", why);
}

/* Rounds a non-negative figure to what is shown, so the table and the
 * JSON carry the same number. */
static double round_to(double v, int decimals) {
  double scale = 1;
  for (int i = 0; i < decimals; i++)
    scale *= 10;
  return (double)(long long)(v * scale + 0.5) / scale;
}

static json_t *json_figure(double v, int decimals) {
  if (decimals == 0)
    return json_integer((json_int_t)round_to(v, 0));
  return json_real(round_to(v, decimals));
}

/* A figure besides the check's value, for the JSON only (the detail
 * sentence carries it for the table). */
static void add_extra(check *c, const char *key, double v, int decimals) {
  if (c->extra == NULL)
    c->extra = json_object();
  if (c->extra != NULL)
    json_object_set_new(c->extra, key, json_figure(v, decimals));
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Sorts `v` and returns its median. */
static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return v[n / 2];
}

static void sleep_us(long us) {
  struct timespec ts = {us / 1000000L, (us % 1000000L) * 1000L};
  nanosleep(&ts, NULL);
}

static int events_init(probe_events *e) {
  pthread_condattr_t attr;
  memset(e, 0, sizeof *e);
  if (pthread_mutex_init(&e->mu, NULL) != 0)
    return -1;
  int rc = pthread_condattr_init(&attr);
  if (rc == 0) {
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
      rc = pthread_cond_init(&e->cv, &attr);
    pthread_condattr_destroy(&attr);
  }
  if (rc != 0)
    pthread_mutex_destroy(&e->mu);
  return rc == 0 ? 0 : -1;
}

static void events_destroy(probe_events *e) {
  pthread_cond_destroy(&e->cv);
  pthread_mutex_destroy(&e->mu);
}

static void on_event(const ward_event *ev, void *ud) {
  probe_events *e = ud;
  pthread_mutex_lock(&e->mu);
  if (ev->type == WARD_EV_RESTARTED && ev->generation > e->ready_gen)
    e->ready_gen = ev->generation;
  else if (ev->type == WARD_EV_EXITED) {
    e->exit_gen = ev->generation;
    e->exit_reason = ev->reason;
  } else if (ev->type == WARD_EV_GAVE_UP)
    e->gave_up++;
  pthread_cond_broadcast(&e->cv);
  pthread_mutex_unlock(&e->mu);
}

/* A call's options for the probe: raw bytes (nothing to parse on either
 * side) and the probe's deadline. */
static ward_call_opts raw_opts(void) {
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = CALL_TIMEOUT_MS;
  o.encoding = WARD_ENC_RAW;
  return o;
}

/* One 32-byte echo request, whose reply must be the request. */
static int echo_once(ward_worker *w) {
  char buf[REQUEST_BYTES];
  memset(buf, 'p', sizeof buf);
  ward_call_opts o = raw_opts();
  ward_msg *reply = NULL;
  int rc = ward_request_ex(&reply, w, PROBE_M_ECHO, buf, sizeof buf, &o);
  if (rc == WARD_OK &&
      (ward_msg_len(reply) != sizeof buf || memcmp(ward_msg_data(reply), buf, sizeof buf) != 0))
    rc = PROBE_EBADREPLY;
  ward_msg_free(reply); /* holds the remote error on WARD_EREMOTE */
  return rc;
}

/* ------------------------------------------------------------------ */
/* Checks: spawn, first call, round trip                               */
/* ------------------------------------------------------------------ */

static int make_spec(const probe *p, ward_spec **out) {
  static const char *const methods[] = {PROBE_M_ECHO, PROBE_M_STREAM, PROBE_M_FLOOD,
                                        PROBE_M_CRASH};
  ward_spec *s = NULL;
  int rc = ward_spec_new(&s, "probe", p->exe);
  if (rc == WARD_OK)
    rc = ward_spec_arg(s, PROBE_WORKER_CMD);
  /* A crash is replaced at once, so the recovery figure is ward's own
   * work and not a backoff delay. */
  if (rc == WARD_OK)
    rc = ward_spec_backoff(s, 0, 0, 200, 0);
  /* Room for the crashes the probe causes on purpose (the default, 5 in
   * 10 s, is just enough; a second probe run must not fail for it). */
  if (rc == WARD_OK)
    rc = ward_spec_intensity(s, 20, 10000);
  /* Refuse, at the handshake, a worker that is not this probe's. */
  for (size_t i = 0; rc == WARD_OK && i < sizeof methods / sizeof methods[0]; i++)
    rc = ward_spec_require_method(s, methods[i]);
  if (rc != WARD_OK) {
    ward_spec_free(s);
    return rc;
  }
  *out = s;
  return WARD_OK;
}

static void check_spawn(probe *p, check *c) {
  ward_spec *spec = NULL;
  int rc = make_spec(p, &spec);
  if (rc != WARD_OK) {
    fail_ward(c, "setting up the spec", rc);
    return;
  }
  double t0 = cli_now_us();
  rc = ward_spawn(&p->w, p->host, spec);
  double us = cli_now_us() - t0;
  ward_spec_free(spec); /* ward_spawn copied what it needs */
  if (rc != WARD_OK) {
    p->w = NULL;
    fail_ward(c, "ward_spawn", rc);
    return;
  }
  pass(c, us / 1000, "ward_spawn until ready, pid %d", ward_worker_pid(p->w));
}

static void check_first_call(probe *p, check *c) {
  double t0 = cli_now_us();
  int rc = echo_once(p->w);
  double us = cli_now_us() - t0;
  if (rc != WARD_OK)
    fail_ward(c, "the first request", rc);
  else
    pass(c, us, "first %d-byte request after the spawn", REQUEST_BYTES);
}

static void check_round_trip(probe *p, check *c) {
  int n = p->plan->round_trips;
  double *v = malloc((size_t)n * sizeof *v);
  if (v == NULL) {
    fail(c, "out of memory");
    return;
  }
  int rc = WARD_OK;
  for (int i = 0; i < p->plan->warmup && rc == WARD_OK; i++)
    rc = echo_once(p->w);
  for (int i = 0; i < n && rc == WARD_OK; i++) {
    double t0 = cli_now_us();
    rc = echo_once(p->w);
    v[i] = cli_now_us() - t0;
  }
  if (rc != WARD_OK) {
    fail_ward(c, "a request", rc);
  } else {
    double med = median(v, n), p99 = v[n * 99 / 100];
    pass(c, med, "median of %d x %d B (min %.1f, p99 %.1f)", n, REQUEST_BYTES, v[0], p99);
    add_extra(c, "samples", n, 0);
    add_extra(c, "min", v[0], 1);
    add_extra(c, "p99", p99, 1);
  }
  free(v);
}

/* ------------------------------------------------------------------ */
/* Checks: streaming, cancellation                                     */
/* ------------------------------------------------------------------ */

static void count_row(const char *stream, uint64_t seq, const void *data, size_t len, void *ud) {
  (void)stream, (void)seq, (void)data, (void)len;
  (*(uint64_t *)ud)++;
}

/* The reply of "stream": how many rows the worker sent, as text. */
static unsigned long long reply_count(const ward_msg *m) {
  char text[32];
  size_t n = ward_msg_len(m) < sizeof text - 1 ? ward_msg_len(m) : sizeof text - 1;
  memcpy(text, ward_msg_data(m), n);
  text[n] = '\0';
  return strtoull(text, NULL, 10);
}

static void check_stream(probe *p, check *c) {
  char params[64];
  snprintf(params, sizeof params, "%ld %d", p->plan->stream_max_rows, p->plan->stream_ms);
  uint64_t rows = 0;
  ward_call_opts o = raw_opts();
  o.on_row = count_row; /* runs on this thread, inside the call */
  o.ud = &rows;
  ward_msg *reply = NULL;
  double t0 = cli_now_us();
  int rc = ward_request_ex(&reply, p->w, PROBE_M_STREAM, params, strlen(params), &o);
  double us = cli_now_us() - t0;
  unsigned long long sent = rc == WARD_OK ? reply_count(reply) : 0;
  ward_msg_free(reply);
  if (rc != WARD_OK)
    fail_ward(c, "the streaming call", rc);
  else if (rows == 0 || sent != rows)
    fail(c, "the worker sent %llu rows, the callback saw %llu", sent, (unsigned long long)rows);
  else
    pass(c, (double)rows / (us / 1e6), "%llu rows x %d B in %.0f ms", sent, PROBE_ROW_BYTES,
         us / 1000);
}

/* What the callbacks of one cancelled call report. They run on the host's
 * I/O thread, hence the atomics. */
typedef struct cancel_state {
  atomic_ullong rows;
  atomic_llong done_ns; /* when `done` ran (cli_now_us in ns), 0 before */
} cancel_state;

static void flood_row(const char *stream, uint64_t seq, const void *data, size_t len, void *ud) {
  (void)stream, (void)seq, (void)data, (void)len;
  atomic_fetch_add(&((cancel_state *)ud)->rows, 1);
}

static void flood_done(ward_call *call, int status, ward_msg *reply, void *ud) {
  (void)call, (void)status;
  atomic_store(&((cancel_state *)ud)->done_ns, (long long)(cli_now_us() * 1000));
  ward_msg_free(reply); /* `done` owns it */
}

/* Waits until the flood has delivered a row: the cancel must hit a
 * handler that is running, not a request still on its way. */
static int wait_first_row(cancel_state *st) {
  double deadline = cli_now_us() + CALL_TIMEOUT_MS * 1000.0;
  while (atomic_load(&st->rows) == 0) {
    if (cli_now_us() > deadline)
      return -1;
    sleep_us(100);
  }
  return 0;
}

/* Cancels a call that has got no row; reports why in `c`. */
static void abandon(ward_call *call, check *c) {
  ward_call_cancel(call);
  ward_call_wait(call, CALL_TIMEOUT_MS);
  fail(c, "the streaming call delivered no row within %d ms", CALL_TIMEOUT_MS);
}

/* One cancellation: `latency` from ward_call_cancel to `done`, `settle`
 * from ward_call_cancel to the worker answering the next request (its
 * handler saw the cancel at its next row and returned). */
static int cancel_once(probe *p, check *c, double *latency, double *settle) {
  cancel_state st;
  atomic_init(&st.rows, 0);
  atomic_init(&st.done_ns, 0);
  ward_call_opts o = raw_opts();
  o.on_row = flood_row;
  o.ud = &st;
  ward_call *call = NULL;
  uint32_t gen = ward_worker_generation(p->w);
  int rc = ward_call_start(&call, p->w, PROBE_M_FLOOD, NULL, 0, &o, flood_done, &st);
  if (rc != WARD_OK) {
    fail_ward(c, "ward_call_start", rc);
    return -1;
  }
  if (wait_first_row(&st) != 0) {
    abandon(call, c);
    ward_call_free(call);
    return -1;
  }
  double t0 = cli_now_us();
  ward_call_cancel(call);
  int status = ward_call_wait(call, CALL_TIMEOUT_MS);
  ward_call_free(call);
  *latency = (double)atomic_load(&st.done_ns) / 1000 - t0;
  if (status != WARD_ECANCELED) {
    fail(c, "the cancelled call ended %s, not ECANCELED", ward_err_name(status));
    return -1;
  }
  rc = echo_once(p->w);
  *settle = cli_now_us() - t0;
  if (rc != WARD_OK) {
    fail_ward(c, "a request after the cancel", rc);
    return -1;
  }
  /* A handler that ignored the cancel would have been killed after the
   * cancel grace: the request would have reached a new process. */
  if (ward_worker_generation(p->w) != gen) {
    fail(c, "the worker was replaced: its handler did not end after the cancel");
    return -1;
  }
  return 0;
}

static void check_cancel(probe *p, check *c) {
  double latency[MAX_REPS], settle[MAX_REPS];
  int n = p->plan->cancels;
  for (int i = 0; i < n; i++)
    if (cancel_once(p, c, &latency[i], &settle[i]) != 0)
      return;
  double med = median(latency, n), free_again = median(settle, n);
  pass(c, med, "median of %d; worker free again after %.0f us", n, free_again);
  add_extra(c, "worker_free", free_again, 1);
}

/* ------------------------------------------------------------------ */
/* Checks: cycle, crash recovery                                       */
/* ------------------------------------------------------------------ */

static int cycle_once(probe *p, check *c, double *us) {
  uint32_t gen = ward_worker_generation(p->w);
  double t0 = cli_now_us();
  int rc = ward_worker_cycle(p->w);
  *us = cli_now_us() - t0;
  if (rc != WARD_OK) {
    fail_ward(c, "ward_worker_cycle", rc);
    return -1;
  }
  if (ward_worker_generation(p->w) != gen + 1) {
    fail(c, "generation %u after a cycle from %u", (unsigned)ward_worker_generation(p->w),
         (unsigned)gen);
    return -1;
  }
  rc = echo_once(p->w);
  if (rc != WARD_OK) {
    fail_ward(c, "a request to the new process", rc);
    return -1;
  }
  return 0;
}

static void check_cycle(probe *p, check *c) {
  double v[MAX_REPS];
  int n = p->plan->cycles;
  for (int i = 0; i < n; i++)
    if (cycle_once(p, c, &v[i]) != 0)
      return;
  pass(c, median(v, n) / 1000, "median of %d, now generation %u", n,
       (unsigned)ward_worker_generation(p->w));
}

/* Waits until the RESTARTED event of a generation after `old_gen` (or a
 * GAVE_UP, or the deadline). The probe learns of the replacement from the
 * event rather than by polling ward_worker_info: until the I/O thread has
 * reaped the dead process the handle still looks ready with its pid (a
 * call then fails at once with ECRASHED, docs/api.md 6.1), and while the
 * new process is being spawned its pid is written without the lock the
 * accessors take (ThreadSanitizer reports the race). */
static int wait_restarted(probe_events *e, uint32_t old_gen) {
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += CALL_TIMEOUT_MS / 1000;
  int rc = 0;
  pthread_mutex_lock(&e->mu);
  while (e->ready_gen <= old_gen && e->gave_up == 0 && rc != ETIMEDOUT)
    rc = pthread_cond_timedwait(&e->cv, &e->mu, &deadline);
  int ok = e->ready_gen > old_gen;
  int gave_up = e->gave_up != 0;
  pthread_mutex_unlock(&e->mu);
  return ok ? WARD_OK : gave_up ? WARD_EGAVEUP : WARD_ETIMEDOUT;
}

/* How the process of generation `gen` ended, from its EXITED event. */
static int exit_reason(probe_events *e, uint32_t gen) {
  pthread_mutex_lock(&e->mu);
  int reason = e->exit_gen == gen ? e->exit_reason : -1;
  pthread_mutex_unlock(&e->mu);
  return reason;
}

/* One crash: `detect` from the call to its ECRASHED, `recover` from the
 * ECRASHED to the replacement answering a ping. */
static int crash_once(probe *p, check *c, double *detect, double *recover) {
  uint32_t old_gen = ward_worker_generation(p->w);
  ward_msg *reply = NULL;
  double t0 = cli_now_us();
  int rc = ward_request(&reply, p->w, PROBE_M_CRASH, "null", 4, CALL_TIMEOUT_MS);
  double t_failed = cli_now_us();
  ward_msg_free(reply);
  if (rc != WARD_ECRASHED) {
    fail(c, "the call whose worker abort()s ended %s, not ECRASHED", ward_err_name(rc));
    return -1;
  }
  rc = wait_restarted(&p->events, old_gen);
  if (rc == WARD_OK)
    rc = ward_ping(p->w, CALL_TIMEOUT_MS);
  *recover = cli_now_us() - t_failed;
  *detect = t_failed - t0;
  if (rc != WARD_OK) {
    fail_ward(c, "waiting for the replacement", rc);
    return -1;
  }
  int reason = exit_reason(&p->events, old_gen);
  if (reason != WARD_REASON_CRASHED) {
    fail(c, "the dead process was reported as '%s', not 'crashed'", ward_reason_name(reason));
    return -1;
  }
  return 0;
}

static void check_crash(probe *p, check *c) {
  double detect[MAX_REPS], recover[MAX_REPS];
  int n = p->plan->crashes;
  for (int i = 0; i < n; i++)
    if (crash_once(p, c, &detect[i], &recover[i]) != 0)
      return;
  double det = median(detect, n) / 1000;
  pass(c, median(recover, n) / 1000, "median of %d; the call failed ECRASHED after %.2f ms", n,
       det);
  add_extra(c, "detect", det, 2);
}

/* ------------------------------------------------------------------ */
/* Checks: memory                                                      */
/* ------------------------------------------------------------------ */

static void check_worker_rss(probe *p, check *c) {
  ward_info info = WARD_INFO_INIT;
  int rc = ward_worker_info(&info, p->w);
  if (rc == WARD_OK)
    p->tree = info.tree; /* what holds its process tree, for the report */
  if (rc != WARD_OK)
    fail_ward(c, "ward_worker_info", rc);
  else if (info.rss_bytes == WARD_UNKNOWN)
    unknown(c, "this system does not say a process's resident set (pid %d)", info.pid);
  else if (info.rss_bytes == 0)
    fail(c, "ward_worker_info reported no resident set for pid %d", info.pid);
  else
    pass(c, (double)info.rss_bytes / 1024, "pid %d, after the calls above", info.pid);
}

/* The host's resident set: /proc/self/statm counts pages. */
static void check_host_rss(probe *p, check *c) {
  (void)p;
  unsigned long long size = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  int got = f != NULL ? fscanf(f, "%llu %llu", &size, &resident) : 0;
  if (f != NULL)
    fclose(f);
  long page = sysconf(_SC_PAGESIZE);
  if (got != 2 || page <= 0)
    fail(c, "cannot read /proc/self/statm");
  else
    pass(c, (double)resident * (double)page / 1024, "pid %ld, /proc/self/statm", (long)getpid());
}

/* ------------------------------------------------------------------ */
/* Running the checks                                                  */
/* ------------------------------------------------------------------ */

typedef void (*check_fn)(probe *p, check *c);

/* In the order they run: the worker is measured warmed up, before the
 * cycles and crashes replace it, and the crashes come last. */
static const struct {
  int id;
  check_fn fn;
  int needs_worker;
} steps[] = {
    {CK_SPAWN, check_spawn, 0},          {CK_FIRST_CALL, check_first_call, 1},
    {CK_ROUND_TRIP, check_round_trip, 1}, {CK_STREAM, check_stream, 1},
    {CK_CANCEL, check_cancel, 1},        {CK_WORKER_RSS, check_worker_rss, 1},
    {CK_CYCLE, check_cycle, 1},          {CK_CRASH, check_crash, 1},
    {CK_HOST_RSS, check_host_rss, 0},
};

static void run_checks(probe *p) {
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
    check *c = &p->checks[steps[i].id];
    if (steps[i].needs_worker && p->w == NULL)
      snprintf(c->detail, sizeof c->detail, "no worker (the spawn failed)");
    else
      steps[i].fn(p, c);
  }
}

static int count_status(const probe *p, int status) {
  int n = 0;
  for (int i = 0; i < CK_COUNT; i++)
    n += p->checks[i].status == status;
  return n;
}

/* Every check that did not pass counts as failed for the exit status: a
 * figure that could not be taken is not a pass (one the system does not
 * give at all is not a failure either). */
static int count_failed(const probe *p) {
  return CK_COUNT - count_status(p, ST_PASS) - count_status(p, ST_UNKNOWN);
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

typedef struct sysinfo {
  struct utsname uts;
  long cpus;
  uint64_t sandbox; /* ward_sandbox_supported */
  int landlock_abi;
} sysinfo;

static void get_sysinfo(sysinfo *si) {
  if (uname(&si->uts) != 0)
    memset(&si->uts, 0, sizeof si->uts);
  si->cpus = sysconf(_SC_NPROCESSORS_ONLN);
  si->sandbox = ward_sandbox_supported(&si->landlock_abi);
}

/* The sandbox's restrictions, as `ward probe` names them. */
static const struct {
  uint64_t bit;
  const char *key;
} sandbox_parts[] = {
    {WARD_SANDBOX_NO_NEW_PRIVS, "no_new_privs"}, {WARD_SANDBOX_RLIMITS, "rlimits"},
    {WARD_SANDBOX_NO_CAPS, "drop_caps"},         {WARD_SANDBOX_SECCOMP, "seccomp"},
    {WARD_SANDBOX_LANDLOCK, "landlock"},         {WARD_SANDBOX_NEW_NET, "new_net"},
    {WARD_SANDBOX_NEW_IPC, "new_ipc"},           {WARD_SANDBOX_NEW_PID, "new_pid"},
};
#define SANDBOX_PARTS (sizeof sandbox_parts / sizeof sandbox_parts[0])

/* "sandbox: seccomp yes, landlock ABI 7, ..." */
static void print_sandbox(const sysinfo *si) {
  printf("sandbox:");
  for (size_t i = 0; i < SANDBOX_PARTS; i++) {
    int yes = (si->sandbox & sandbox_parts[i].bit) != 0;
    if (sandbox_parts[i].bit == WARD_SANDBOX_LANDLOCK && yes)
      printf(" %s ABI %d,", sandbox_parts[i].key, si->landlock_abi);
    else
      printf(" %s %s%s", sandbox_parts[i].key, yes ? "yes" : "no",
             i + 1 < SANDBOX_PARTS ? "," : "");
  }
  printf("\n\n");
}

static json_t *sandbox_json(const sysinfo *si) {
  json_t *o = json_object();
  for (size_t i = 0; i < SANDBOX_PARTS; i++)
    json_object_set_new(o, sandbox_parts[i].key,
                        json_boolean((si->sandbox & sandbox_parts[i].bit) != 0));
  json_object_set_new(o, "landlock_abi", json_integer(si->landlock_abi));
  return o;
}

static void print_table(const probe *p, const sysinfo *si, double elapsed_s) {
  static const char *const header[] = {"check", "value", "unit", "status", "detail"};
  static const int align[] = {CLI_LEFT, CLI_RIGHT, CLI_LEFT, CLI_LEFT, CLI_LEFT};
  cli_table t;
  printf("ward probe: ward %s (protocol %d), %s %s %s, %ld CPUs, %s run\n\n",
         ward_version_string(), WARD_PROTOCOL_VERSION, si->uts.sysname, si->uts.release,
         si->uts.machine, si->cpus, p->quick ? "quick" : "full");
  print_sandbox(si);
  /* What holds a worker's processes together here (api.md 4.9). */
  printf("process tree: %s\n\n", p->tree ? ward_tree_name(p->tree) : "unknown (no worker)");
  if (cli_table_init(&t, 5, header, align) != 0)
    return;
  for (int i = 0; i < CK_COUNT; i++) {
    const check *c = &p->checks[i];
    char value[32] = "-";
    if (c->status == ST_PASS)
      snprintf(value, sizeof value, "%.*f", defs[i].decimals, round_to(c->value, defs[i].decimals));
    const char *row[] = {defs[i].label, value, defs[i].unit, status_table[c->status], c->detail};
    cli_table_add(&t, row);
  }
  cli_table_print(&t, stdout);
  cli_table_free(&t);
  if (count_failed(p) == 0 && count_status(p, ST_UNKNOWN))
    printf("\nall %d checks passed in %.1f s (%d figures unknown on this system)\n",
           CK_COUNT, elapsed_s, count_status(p, ST_UNKNOWN));
  else if (count_failed(p) == 0)
    printf("\nall %d checks passed in %.1f s\n", CK_COUNT, elapsed_s);
  else
    printf("\nFAILED: %d failed, %d not run, %d passed in %.1f s\n", count_status(p, ST_FAIL),
           count_status(p, ST_SKIPPED), count_status(p, ST_PASS), elapsed_s);
}

static json_t *check_json(const check *c, const check_def *d) {
  json_t *o = json_object();
  json_object_set_new(o, "status", json_string(status_json[c->status]));
  json_object_set_new(o, "value", c->status == ST_PASS ? json_figure(c->value, d->decimals)
                                                       : json_null());
  json_object_set_new(o, "unit", json_string(d->unit));
  json_object_set_new(o, "detail", json_string(c->detail));
  if (c->extra != NULL)
    json_object_update(o, c->extra);
  return o;
}

static json_t *system_json(const sysinfo *si) {
  json_t *o = json_object();
  json_object_set_new(o, "os", json_string(si->uts.sysname));
  json_object_set_new(o, "release", json_string(si->uts.release));
  json_object_set_new(o, "machine", json_string(si->uts.machine));
  json_object_set_new(o, "cpus", json_integer(si->cpus));
  return o;
}

static json_t *probe_json(const probe *p, const sysinfo *si, double elapsed_s) {
  json_t *root = json_object(), *checks = json_object(), *failed = json_array();
  json_object_set_new(root, "ward_version", json_string(ward_version_string()));
  json_object_set_new(root, "protocol_version", json_integer(WARD_PROTOCOL_VERSION));
  json_object_set_new(root, "system", system_json(si));
  json_object_set_new(root, "sandbox", sandbox_json(si));
  json_object_set_new(root, "process_tree",
                      p->tree ? json_string(ward_tree_name(p->tree)) : json_null());
  json_object_set_new(root, "quick", json_boolean(p->quick));
  for (int i = 0; i < CK_COUNT; i++) {
    json_object_set_new(checks, defs[i].key, check_json(&p->checks[i], &defs[i]));
    if (p->checks[i].status != ST_PASS && p->checks[i].status != ST_UNKNOWN)
      json_array_append_new(failed, json_string(defs[i].key));
  }
  json_object_set_new(root, "passed", json_boolean(count_failed(p) == 0));
  json_object_set_new(root, "failed", failed);
  json_object_set_new(root, "elapsed_s", json_real(round_to(elapsed_s, 2)));
  json_object_set_new(root, "checks", checks);
  return root;
}

static int print_json(const probe *p, const sysinfo *si, double elapsed_s) {
  json_t *root = probe_json(p, si, elapsed_s);
  int rc = root != NULL ? cli_json_print(root, stdout) : -1;
  json_decref(root);
  return rc;
}

/* Names every check that did not pass on stderr, whatever the format:
 * each failure with its reason, the checks not run on one line (their
 * reason is the failure before them). */
static void report_failures(const probe *p) {
  char skipped[256] = "";
  size_t used = 0;
  for (int i = 0; i < CK_COUNT; i++) {
    const check *c = &p->checks[i];
    if (c->status == ST_FAIL)
      cli_error(PROBE_CMD, "check '%s' failed: %s", defs[i].key, c->detail);
    else if (c->status == ST_SKIPPED && used < sizeof skipped)
      used += (size_t)snprintf(skipped + used, sizeof skipped - used, "%s%s",
                               used != 0 ? ", " : "", defs[i].key);
  }
  if (used != 0)
    cli_error(PROBE_CMD, "checks not run: %s", skipped);
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */
/* ------------------------------------------------------------------ */

enum { OPT_HELP, OPT_JSON, OPT_QUICK, OPT_VERSION };

static const cli_opt probe_opts[] = {
    {"help", 'h', 0, OPT_HELP},
    {"json", 0, 0, OPT_JSON},
    {"quick", 0, 0, OPT_QUICK},
    {"version", 0, 0, OPT_VERSION},
    {NULL, 0, 0, 0},
};

static void probe_usage(void) {
  printf("Usage: %s %s [--json] [--quick]\n"
         "\n"
         "Measures what ward can do on this machine, in a second or two, with a\n"
         "built-in worker (this binary, started again as its own worker):\n"
         "\n",
         CLI_NAME, PROBE_CMD);
  for (int i = 0; i < CK_COUNT; i++)
    printf("  %-15s %-7s %s\n", defs[i].label, defs[i].unit, defs[i].what);
  printf("\n"
         "Options:\n"
         "      --json     print one JSON object (same figures and units) instead of a table\n"
         "      --quick    fewer repetitions, for tests (figures are noisier)\n"
         "  -h, --help     show this help and exit\n"
         "      --version  print the version of ward and exit\n"
         "\n");
  cli_print_exits(stdout, PROBE_CMD);
}

typedef struct probe_args {
  int json, quick;
} probe_args;

/* Returns -1 to go on with the probe, or the exit code (help, version,
 * usage error). */
static int parse_args(int argc, char **argv, probe_args *out) {
  cli_args a;
  cli_args_init(&a, PROBE_CMD, argc, argv);
  for (;;) {
    switch (cli_next_opt(&a, probe_opts)) {
    case CLI_OPT_END:
      return -1;
    case OPT_HELP:
      probe_usage();
      return cli_finish(PROBE_CMD, CLI_EXIT_OK);
    case OPT_VERSION:
      puts(ward_version_string());
      return cli_finish(PROBE_CMD, CLI_EXIT_OK);
    case OPT_JSON:
      out->json = 1;
      break;
    case OPT_QUICK:
      out->quick = 1;
      break;
    case CLI_OPT_POSITIONAL:
      return cli_usage_error(PROBE_CMD, "unexpected argument '%s'", a.arg);
    default: /* CLI_OPT_ERROR, already reported */
      return CLI_EXIT_USAGE;
    }
  }
}

static void free_checks(probe *p) {
  for (int i = 0; i < CK_COUNT; i++)
    json_decref(p->checks[i].extra);
}

/* Finds this executable and creates the host, with the event callback
 * the crash check listens to. Returns 0, or -1 once reported. */
static int probe_start(probe *p) {
  if (cli_self_exe(p->exe, sizeof p->exe) != 0) {
    cli_error(PROBE_CMD, "cannot find this executable (/proc/self/exe): %s", strerror(errno));
    return -1;
  }
  if (events_init(&p->events) != 0) {
    cli_error(PROBE_CMD, "cannot set up a mutex and a condition variable");
    return -1;
  }
  ward_host_opts opts = WARD_HOST_OPTS_INIT;
  opts.on_event = on_event;
  opts.event_ud = &p->events;
  int rc = ward_host_new(&p->host, &opts);
  if (rc != WARD_OK) {
    cli_error(PROBE_CMD, "ward_host_new: %s (%s)", ward_err_name(rc), ward_last_error());
    events_destroy(&p->events);
    return -1;
  }
  return 0;
}

/* Stops the worker and the host; no callback runs after it. */
static void probe_stop(probe *p) {
  ward_host_free(p->host);
  events_destroy(&p->events);
}

/* Prints the results and names the failures; returns the exit code. */
static int probe_report(const probe *p, const sysinfo *si, double elapsed_s, int json) {
  int printed = 0;
  if (json)
    printed = print_json(p, si, elapsed_s);
  else
    print_table(p, si, elapsed_s);
  if (printed != 0)
    cli_error(PROBE_CMD, "cannot print the JSON");
  report_failures(p);
  return printed == 0 && count_failed(p) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int probe_main(int argc, char **argv) {
  probe_args args = {0, 0};
  int rc = parse_args(argc, argv, &args);
  if (rc >= 0)
    return rc;
  static probe p; /* big (a path, the checks): not on the stack */
  memset(&p, 0, sizeof p);
  p.quick = args.quick;
  p.plan = args.quick ? &quick_plan : &full_plan;
  if (probe_start(&p) != 0)
    return CLI_EXIT_FAIL;
  sysinfo si;
  get_sysinfo(&si);
  double t0 = cli_now_us();
  run_checks(&p);
  double elapsed_s = (cli_now_us() - t0) / 1e6;
  probe_stop(&p);
  rc = probe_report(&p, &si, elapsed_s, args.json);
  free_checks(&p);
  return cli_finish(PROBE_CMD, rc);
}
