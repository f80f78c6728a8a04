/*
 * call.c — the host's calls into a worker: finding the live connection
 * (waiting for a restart when one is under way), and what a call's end
 * means for supervision (requests served, recycling, deadline kills).
 */
#include <signal.h>
#include <string.h>

#include "abi.h"
#include "worker.h"

/* The time a call begins or ends at, for the machine. It matters only to
 * what follows a call's end (idle, a replacement's grace): when nothing
 * does, the clock is not read on the call's path (1: any time will do). */
static int64_t call_time(const ward_worker *w) {
  const ward_spec *s = w->spec;
  if (s->idle_ms || s->max_requests || w->life.state == WARD__L_DRAINING)
    return ward__now_ms();
  return 1;
}

/* With the host's lock held: takes a reference on the connection of a
 * worker ready for calls, and tells its machine a call began; 0 when it
 * is not ready. */
static int take_ready(ward_worker *w, ward__conn **out) {
  if (w->life.state != WARD__L_READY || !w->conn || ward__conn_is_closed(w->conn))
    return 0;
  ward__conn_ref(w->conn);
  *out = w->conn;
  ward__lev ev = {.type = WARD__LE_CALL_BEGIN, .now = call_time(w)};
  ward__worker_post(w, &ev, NULL);
  return 1;
}

int ward__worker_acquire_ready(ward_worker *w, int *timeout_ms, ward__conn **out) {
  pthread_mutex_lock(&w->host->mu);
  int ok = w->spec->ready_mode == WARD_READY_HANDSHAKE && take_ready(w, out);
  if (ok)
    *timeout_ms = w->spec->request_timeout_ms;
  pthread_mutex_unlock(&w->host->mu);
  return ok;
}

/* Takes a reference on the worker's live connection, waiting within the
 * deadline while a new process is on its way. `pin` nonzero: only that
 * generation will do. */
int ward__worker_acquire(ward_worker *w, int64_t deadline, uint32_t pin, ward__conn **out) {
  ward_host *h = w->host;
  /* Waiting here would stall the thread that brings the worker back. */
  int may_wait = !ward__on_io_thread(h);
  int rv = 0;
  /* The spec is read under the lock: ward_worker_replace may change it. */
  pthread_mutex_lock(&h->mu);
  const char *name = w->spec->name;
  if (w->spec->ready_mode != WARD_READY_HANDSHAKE) {
    pthread_mutex_unlock(&h->mu);
    return ward__fail(WARD_EINVAL, "worker '%s' is a plain process: it takes no calls", name);
  }
  for (;;) {
    if (pin && (w->life.generation != pin || w->life.state != WARD__L_READY)) {
      rv = ward__fail(WARD_ESTALE, "worker '%s' is past generation %u", name, pin);
      break;
    }
    if (take_ready(w, out))
      break;
    if (w->life.state == WARD__L_FAILED) {
      rv = ward__fail(WARD_EGAVEUP, "worker '%s' failed: restart limit reached", name);
      break;
    }
    if (w->life.state == WARD__L_PARKED) {
      /* Idle, without a process: this call starts one. */
      ward__lev ev = {.type = WARD__LE_WANT};
      ward__worker_post(w, &ev, NULL);
    }
    if (w->life.state == WARD__L_EXITED) {
      rv = ward__fail(WARD_ECRASHED, "worker '%s' is gone (it exited)", name);
      break;
    }
    if (w->life.state == WARD__L_STOPPING || w->life.state == WARD__L_STOPPED) {
      rv = ward__fail(WARD_ECLOSED, "worker '%s' is stopped", name);
      break;
    }
    /* Restarting, backing off, draining or being replaced. */
    if (!w->spec->wait_restart || !may_wait) {
      rv = ward__fail(WARD_ECLOSED, "worker '%s' is restarting", name);
      break;
    }
    /* A closed channel not yet noticed by the loop: wait like a restart. */
    if (ward__host_wait(h, deadline) == WARD_ETIMEDOUT) {
      rv = ward__fail(WARD_ETIMEDOUT, "worker '%s' was not back within the deadline", name);
      break;
    }
  }
  pthread_mutex_unlock(&h->mu);
  return rv;
}

void ward__worker_release(ward_worker *w, ward__conn *c, int answered) {
  ward_host *h = w->host;
  pthread_mutex_lock(&h->mu);
  ward__lev ev = {.type = WARD__LE_CALL_END, .now = call_time(w), .answered = answered,
                  .current = w->conn == c};
  ward__worker_post(w, &ev, NULL);
  if (!ev.current)
    ward__spares_old_call_done(w);
  pthread_mutex_unlock(&h->mu);
  ward__conn_unref(c);
}

/* A call's deadline passed: the worker's state is unknown, so it is
 * replaced (unless the spec says otherwise). Other calls on it end
 * WARD_ECRASHED when the connection closes. */
void ward__worker_timed_out(ward_worker *w, ward__conn *c) {
  ward_host *h = w->host;
  pthread_mutex_lock(&h->mu);
  if (w->conn == c) {
    ward__lev ev = {.type = WARD__LE_KILL, .reason = WARD_REASON_REQUEST_TIMEOUT};
    ward__worker_post(w, &ev, NULL);
  }
  pthread_mutex_unlock(&h->mu);
}

void ward__worker_call_done(ward_worker *w, ward__conn *c, int rv, int timeout_ms) {
  /* A zero timeout asks not to wait; it is no sign the worker hangs. */
  if (rv == WARD_ETIMEDOUT && timeout_ms != 0)
    ward__worker_timed_out(w, c);
  ward__worker_release(w, c, rv == WARD_OK || rv == WARD_EREMOTE || rv == WARD_ENOMETHOD);
}

int ward__worker_timeout(const ward_worker *w, int timeout_ms) {
  if (timeout_ms >= 0)
    return timeout_ms;
  pthread_mutex_lock(&w->host->mu); /* ward_worker_replace may change the spec */
  int t = w->spec->request_timeout_ms;
  pthread_mutex_unlock(&w->host->mu);
  return t;
}

int ward_request_ex(ward_msg **reply, ward_worker *w, const char *method, const void *data,
                    size_t len, const ward_call_opts *caller_opts) {
  if (reply)
    *reply = NULL;
  /* The caller's options as far as its struct goes (zeroing its summary). */
  ward_call_opts o;
  const ward_call_opts *opts = &o;
  int rv = ward__call_opts_take(&o, caller_opts);
  if (rv)
    return rv;
  if (!w || (!data && len))
    return ward__fail(WARD_EINVAL, "ward_request needs a worker and a payload");
  rv = ward__check_name(method);
  if (rv)
    return rv;
  if (ward__on_io_thread(w->host))
    return ward__fail(WARD_EINVAL, "no blocking call from a ward callback: use ward_call_start");
  if (opts->encoding < WARD_ENC_RAW || opts->encoding > WARD_ENC_MSGPACK)
    return ward__fail(WARD_EINVAL, "unknown encoding %d", opts->encoding);
  /* One deadline for the whole call, waiting for a restart included. */
  int timeout = ward__worker_timeout(w, opts->timeout_ms);
  int64_t deadline = ward__deadline(timeout);
  ward__conn *c;
  rv = ward__worker_acquire(w, deadline, opts->generation, &c);
  if (rv)
    return rv;
  rv = ward__conn_call_at(c, WARD__K_REQUEST, method, data, len, opts, deadline, timeout, reply);
  ward__worker_call_done(w, c, rv, timeout);
  return rv;
}

int ward_request(ward_msg **reply, ward_worker *w, const char *method, const void *data,
                 size_t len, int timeout_ms) {
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = timeout_ms;
  return ward_request_ex(reply, w, method, data, len, &o);
}

int ward_ping(ward_worker *w, int timeout_ms) {
  if (!w)
    return ward__fail(WARD_EINVAL, "NULL worker");
  if (ward__on_io_thread(w->host))
    return ward__fail(WARD_EINVAL, "no blocking call from a ward callback");
  int timeout = ward__worker_timeout(w, timeout_ms);
  int64_t deadline = ward__deadline(timeout);
  ward__conn *c;
  int rv = ward__worker_acquire(w, deadline, 0, &c);
  if (rv)
    return rv;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.encoding = WARD_ENC_RAW;
  rv = ward__conn_call_at(c, WARD__K_PING, NULL, NULL, 0, &o, deadline, timeout, NULL);
  ward__worker_release(w, c, 0);
  return rv;
}

int ward_notify(ward_worker *w, const char *method, const void *data, size_t len) {
  if (!w || (!data && len))
    return ward__fail(WARD_EINVAL, "ward_notify needs a worker and a payload");
  int rv = ward__check_name(method);
  if (rv)
    return rv;
  /* The spec's timeout bounds waiting for the worker and for the socket.
   * A ready worker is taken under one lock, with the timeout read there,
   * and the clock is read only if the send has to wait: a burst of
   * notifications then costs neither per message. */
  ward__conn *c;
  int timeout;
  int64_t deadline;
  if (ward__worker_acquire_ready(w, &timeout, &c)) {
    deadline = ward__deadline_later(timeout);
  } else {
    deadline = ward__deadline(ward__worker_timeout(w, -1));
    rv = ward__worker_acquire(w, deadline, 0, &c);
    if (rv)
      return rv;
  }
  if (len > c->max_out) {
    ward__worker_release(w, c, 0);
    return ward__fail(WARD_ETOOBIG, "notification of %zu bytes over the worker's limit", len);
  }
  ward__hdr h = {.kind = WARD__K_NOTIFY,
                 .flags = WARD_ENC_JSON,
                 .nlen = (uint8_t)strlen(method),
                 .len = (uint32_t)len};
  rv = ward__conn_send(c, &h, method, data, len, NULL, 0, 1, deadline);
  ward__worker_release(w, c, 0);
  return rv;
}

void ward__worker_watch_deadline(ward_worker *w, ward__conn *c, int64_t deadline) {
  ward_host *h = w->host;
  pthread_mutex_lock(&h->mu);
  if (w->conn == c && deadline < w->conn_due) {
    w->conn_due = deadline;
    ward__worker_schedule(w);
    ward__host_wake(h);
  }
  pthread_mutex_unlock(&h->mu);
}
