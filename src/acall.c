/*
 * acall.c — asynchronous calls: ward_call_start, cancel, wait, free.
 *
 * A ward_call embeds the connection-level call. Its news (progress, rows,
 * diagnostics, the outcome) reaches the host's loop as a task
 * (ops->call_ready), and the loop runs the callbacks, so they always run on
 * the I/O thread, in order, and `done` exactly once. The handle holds two
 * references: the user's (ward_call_free) and the outcome's (dropped after
 * `done` ran); the memory goes with the last.
 */
#include <stdlib.h>

#include "abi.h"
#include "worker.h"

struct ward_call {
  ward__call call; /* first: the loop finds the handle from it */
  ward_worker *w;
  ward__conn *conn; /* a reference while the call runs */
  ward_call_opts opts;
  ward_call_cb done;
  int timeout_ms;
  void *ud;
  atomic_int refs;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int finished;
  int status;
};

static void unref(ward_call *h) {
  if (atomic_fetch_sub(&h->refs, 1) != 1)
    return;
  ward__conn_unref(h->conn);
  ward__call_release(&h->call);
  pthread_mutex_destroy(&h->mu);
  pthread_cond_destroy(&h->cv);
  free(h);
}

int ward_call_start(ward_call **out, ward_worker *w, const char *method, const void *data,
                    size_t len, const ward_call_opts *caller_opts, ward_call_cb done, void *ud) {
  if (out)
    *out = NULL;
  /* The caller's options as far as its struct goes (zeroing its summary). */
  ward_call_opts o;
  const ward_call_opts *opts = &o;
  int rv = ward__call_opts_take(&o, caller_opts);
  if (rv)
    return rv;
  if (!out || !w || !done || (!data && len))
    return ward__fail(WARD_EINVAL, "ward_call_start needs out, a worker, done and a payload");
  rv = ward__check_name(method);
  if (rv)
    return rv;
  if (opts->encoding < WARD_ENC_RAW || opts->encoding > WARD_ENC_MSGPACK)
    return ward__fail(WARD_EINVAL, "unknown encoding %d", opts->encoding);
  ward_call *h = calloc(1, sizeof *h);
  if (!h)
    return WARD_ENOMEM;
  int timeout = ward__worker_timeout(w, opts->timeout_ms);
  int64_t deadline = ward__deadline(timeout);
  rv = ward__worker_acquire(w, deadline, opts->generation, &h->conn);
  if (rv) {
    free(h);
    return rv;
  }
  h->w = w;
  h->opts = *opts;
  h->done = done;
  h->ud = ud;
  h->timeout_ms = timeout;
  /* The user's, the outcome's, and this function's own until it returns:
   * `done` may run (and free the handle) before it does. */
  atomic_init(&h->refs, 3);
  pthread_mutex_init(&h->mu, NULL);
  ward__cond_init(&h->cv);
  ward__call_init(&h->call, WARD__K_REQUEST, opts);
  h->call.owner = h;
  int block = !ward__on_io_thread(w->host);
  /* The handle keeps the connection for ward_call_cancel, even after the
   * call has let go of it: taken before `done` can possibly run. */
  ward__conn_ref(h->conn);
  rv = ward__conn_start(h->conn, &h->call, method, data, len, opts->encoding, block, deadline);
  if (rv) {
    ward__conn_unref(h->conn);
    ward__worker_release(w, h->conn, 0);
    ward__call_release(&h->call);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
    return rv;
  }
  ward__worker_watch_deadline(w, h->conn, deadline);
  *out = h;
  unref(h);
  return 0;
}

int ward_call_cancel(ward_call *h) {
  if (!h)
    return ward__fail(WARD_EINVAL, "NULL call");
  ward_worker *w = h->w;
  pthread_mutex_lock(&w->host->mu); /* ward_worker_replace may change the spec */
  int64_t grace = ward__deadline(w->spec->cancel_grace_ms);
  pthread_mutex_unlock(&w->host->mu);
  if (ward__conn_cancel(h->conn, &h->call, grace))
    ward__worker_watch_deadline(w, h->conn, grace);
  return 0;
}

int ward_call_wait(ward_call *h, int timeout_ms) {
  if (!h)
    return ward__fail(WARD_EINVAL, "NULL call");
  if (ward__on_io_thread(h->w->host))
    return ward__fail(WARD_EINVAL, "ward_call_wait would wait for its own thread");
  int64_t deadline = ward__deadline(timeout_ms);
  ward_host *host = h->w->host;
  pthread_mutex_lock(&h->mu);
  while (!h->finished) {
    if (host->external) {
      /* Nobody else may be running the loop that delivers `done`. `done`
       * marks the call finished before the loop that ran it broadcasts under
       * host->mu, so looking again with host->mu held loses no wake-up. */
      pthread_mutex_unlock(&h->mu);
      pthread_mutex_lock(&host->mu);
      pthread_mutex_lock(&h->mu);
      int fin = h->finished;
      pthread_mutex_unlock(&h->mu);
      int rv = fin ? 0 : ward__host_wait(host, deadline);
      pthread_mutex_unlock(&host->mu);
      pthread_mutex_lock(&h->mu);
      if (rv == WARD_ETIMEDOUT)
        break;
    } else if (ward__cond_wait(&h->cv, &h->mu, deadline) == WARD_ETIMEDOUT) {
      break;
    }
  }
  int fin = h->finished, rv = h->status;
  pthread_mutex_unlock(&h->mu);
  return fin ? rv : ward__fail(WARD_ETIMEDOUT, "the call did not end within %d ms", timeout_ms);
}

void ward_call_free(ward_call *h) {
  if (h)
    unref(h);
}

/* On the loop: delivers what the call has queued and, once, its outcome. */
void ward__acall_process(ward__conn *c, ward__call *call) {
  ward_call *h = call->owner;
  ward__itemq events;
  int done, cancelled;
  ward__conn_take(c, call, &events, &done, &cancelled);
  ward__item *it;
  while ((it = ward__itemq_pop(&events))) {
    /* Events that raced with a cancel are of no interest any more. */
    if (!cancelled)
      ward__call_consume(c, call, &h->opts, it);
    ward__item_free(it);
  }
  if (!done)
    return;
  int status = call->err;
  ward_msg *reply = (status == WARD_OK || status == WARD_EREMOTE) ? call->reply : NULL;
  if (!reply)
    ward_msg_free(call->reply);
  call->reply = NULL;
  if (h->opts.summary)
    ward__call_summary(call, h->opts.summary);
  h->done(h, status, reply, h->ud);
  pthread_mutex_lock(&h->mu);
  h->finished = 1;
  h->status = status;
  pthread_cond_broadcast(&h->cv);
  pthread_mutex_unlock(&h->mu);
  ward__worker_call_done(h->w, h->conn, status, h->timeout_ms);
  unref(h);
}

uint32_t ward_call_id(const ward_call *h) { return h ? h->call.id : 0; }
