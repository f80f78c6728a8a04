/*
 * tpython.h — what the tests running Python workers under a ward host
 * share (test_protocol_doc: the worker of docs/protocol.md; test_python:
 * the package of bindings/python): the interpreter, a start, a clean
 * stop, and an echo in each encoding.
 */
#ifndef WARD_TPYTHON_H
#define WARD_TPYTHON_H

#include "tevents.h"

static ward_host *host;

/* scripts/deps.sh installs Debian's python3; elsewhere, the one on PATH. */
static inline const char *find_python(void) {
  return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

static inline ward_worker *spawn_py(ward_spec *s) {
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  return w;
}

/* A stop: the GOODBYE, and the process exits with status 0 by itself. */
static inline void stop_cleanly(ward_worker *w) {
  uint64_t id = ward_worker_id(w);
  int from = tev_mark();
  T_OK(ward_worker_stop(w, -1));
  tev e = tev_wait_from(from, WARD_EV_EXITED, id);
  if (e.exit_code != 0 || e.signal != 0) {
    /* What the worker said of it, to debug by. */
    fprintf(stderr, "  exited: code %d signal %d reason %s; protocol errors: %d\n", e.exit_code,
            e.signal, ward_reason_name(e.reason), tev_count_from(from, WARD_EV_ERROR, id));
    ward_log_query q = WARD_LOG_QUERY_INIT;
    q.last = 20;
    ward_log_line *v;
    size_t n;
    if (!ward_worker_logs(&v, &n, w, &q)) {
      for (size_t i = 0; i < n; i++)
        fprintf(stderr, "  worker: %s\n", v[i].text);
      ward_log_lines_free(v, n);
    }
  }
  T_EQ_INT(e.exit_code, 0);
  T_EQ_INT(e.signal, 0);
  ward_info in = WARD_INFO_INIT;
  T_OK(ward_worker_info(&in, w));
  T_EQ_INT(in.last_stop, WARD_STOP_GRACEFUL);
  ward_worker_free(w);
}

static inline void expect_echo(ward_worker *w, int encoding, const char *data, size_t len) {
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 20000;
  o.encoding = encoding;
  ward_msg *m = NULL;
  T_OK(ward_request_ex(&m, w, "echo", data, len, &o));
  T_EQ_INT(ward_msg_encoding(m), encoding);
  T_EQ_INT(ward_msg_len(m), len);
  T_EQ_MEM(ward_msg_data(m), data, len);
  ward_msg_free(m);
}

/* The end of an asynchronous call: its status, and how many ended. */
struct async_done {
  pthread_mutex_t mu;
  int status, calls;
};

static inline void on_async_done(ward_call *call, int status, ward_msg *reply, void *ud) {
  (void)call;
  struct async_done *d = ud;
  pthread_mutex_lock(&d->mu);
  d->status = status;
  d->calls++;
  pthread_mutex_unlock(&d->mu);
  ward_msg_free(reply);
}

/* A replacement of `w`: the GOODBYE, then the host keeps its end open
 * until the process has gone. The worker exits 0 at once without waiting
 * for EOF; one that waited would be killed after the stop grace. */
static inline void check_replacement(ward_worker *w) {
  uint64_t id = ward_worker_id(w);
  int pid = ward_worker_pid(w);
  int from = tev_mark();
  T_OK(ward_worker_cycle(w));
  tev e = tev_wait_from(from, WARD_EV_EXITED, id);
  T_EQ_INT(e.pid, pid);
  T_EQ_INT(e.exit_code, 0);
  T_EQ_INT(e.signal, 0);
  T_EQ_INT(e.reason, WARD_REASON_CYCLE);
  T_EQ_INT(ward_worker_generation(w), 2);
  expect_echo(w, WARD_ENC_JSON, "2", 1);
  stop_cleanly(w);
}

#endif
