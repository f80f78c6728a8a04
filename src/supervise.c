/*
 * supervise.c — the life of a worker handle across its processes:
 * spawning, timers (startup, backoff, heartbeat, memory, idle), planned
 * replacements, stop, explicit cycle and restart, information.
 *
 * States (host mutex):
 *
 *            spawn/restart          HELLO
 *   (new) ──> QUEUED ──start──> STARTING ──────> READY ──cycle/limits──> DRAINING
 *               ^                   │              │  \                     │ calls done
 *               │ delay 0           │ exit          │   \ kill (timeout,     v
 *               │                   v               v    \ unhealthy) ─> REPLACING
 *            BACKOFF <──policy── (process ended) <──────────────────────────┘
 *                                   │ policy: stay down / give up
 *                                   v
 *                            EXITED / FAILED
 *
 *   any state with a process ──stop──> STOPPING ──exit──> STOPPED
 *
 * What to do after a process ended is decided by policy.c; the timers live
 * in the host's heap (host.c), keyed by each worker's `due`.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int public_state(const ward_worker *w);

/* How often a process without a pidfd is looked at for its exit. */
#define REAP_POLL_MS 5

void ward__worker_schedule(ward_worker *w) {
  const ward_spec *s = w->spec;
  int64_t due = INT64_MAX;
  switch (w->state) {
  case W_STARTING:
    due = w->startup_deadline;
    break;
  case W_BACKOFF:
    due = w->due_start;
    break;
  case W_REPLACING:
    due = min64(w->kill_at, w->conn_due);
    break;
  case W_READY:
  case W_DRAINING:
    due = w->conn_due;
    if (s->heartbeat_ms)
      due = min64(due, w->next_hb);
    if (s->mem_soft || s->mem_hard)
      due = min64(due, w->next_sample);
    if (s->idle_ms && w->state == W_READY && !w->inflight)
      due = min64(due, w->last_activity + s->idle_ms);
    break;
  default:
    break;
  }
  /* Without a pidfd, exits are found by looking every few milliseconds. */
  if (w->proc.pid > 0 && w->proc.pidfd < 0)
    due = min64(due, ward__now_ms() + REAP_POLL_MS);
  w->due = due;
  ward__heap_update(w->host, w);
}

void ward__worker_ready(ward_worker *w) {
  ward_host *h = w->host;
  int64_t now = ward__now_ms();
  w->state = W_READY;
  w->readies++;
  w->ready_at = now;
  w->last_activity = now;
  w->gen_served = 0;
  w->hb_misses = 0;
  w->next_hb = now + w->spec->heartbeat_ms;
  w->next_sample = now + w->spec->mem_sample_ms;
  ward__host_event(h, w, WARD_EV_READY, w->proc.pid, 0, 0, 0, 0, NULL);
  if (!w->spawning)
    ward__host_event(h, w, WARD_EV_RESTARTED, w->proc.pid, 0, 0, 0, 0, NULL);
  w->spawning = 0;
  ward__worker_schedule(w);
  pthread_cond_broadcast(&h->cond);
}

/* Ends the current process for a replacement: a goodbye now, SIGKILL if it
 * is still there after the stop grace (lock held). */
void ward__worker_recycle_now(ward_worker *w) {
  w->state = W_REPLACING;
  w->kill_at = ward__now_ms() + w->spec->stop_grace_ms;
  if (w->conn) {
    ward__hdr h = {.kind = WARD__K_GOODBYE, .len = 7};
    ward__conn_send(w->conn, &h, NULL, "recycle", 7, NULL, 0, 0, 0);
  } else if (w->spec->ready_mode != WARD_READY_HANDSHAKE) {
    ward__worker_kill(w, w->spec->stop_signal, w->reason); /* plain: no goodbye */
  }
  ward__worker_schedule(w);
}

void ward__worker_recycle(ward_worker *w, int reason) {
  if (w->state != W_READY)
    return;
  w->reason = reason;
  w->state = W_DRAINING;
  if (!w->inflight)
    ward__worker_recycle_now(w);
  else
    ward__worker_schedule(w);
}

/* Kills the process now for a replacement (lock held). */
void ward__worker_kill_for(ward_worker *w, int reason) {
  w->state = W_REPLACING;
  w->kill_at = INT64_MAX;
  ward__worker_kill(w, SIGKILL, reason);
  ward__worker_schedule(w);
}

static void tick_heartbeat(ward_worker *w, int64_t now) {
  w->next_hb = now + w->spec->heartbeat_ms;
  if (!w->conn)
    return;
  if (!ward__conn_heartbeat(w->conn)) {
    w->hb_misses = 0;
    return;
  }
  if (++w->hb_misses < w->spec->heartbeat_misses)
    return;
  ward_event *ev = ward__event_t(w->host, w, WARD_EV_UNHEALTHY);
  if (ev)
    ev->attempt = w->hb_misses;
  ward__worker_kill_for(w, WARD_REASON_UNHEALTHY);
}

static void tick_memory(ward_worker *w, int64_t now) {
  const ward_spec *s = w->spec;
  w->next_sample = now + s->mem_sample_ms;
  uint64_t rss, cpu;
  if (w->proc.pid <= 0 || ward__proc_usage(w->proc.pid, &rss, &cpu, NULL))
    return;
  if (s->mem_hard && rss > s->mem_hard)
    ward__worker_kill_for(w, WARD_REASON_MEMORY_LIMIT);
  else if (s->mem_soft && rss > s->mem_soft)
    ward__worker_recycle(w, WARD_REASON_MEMORY_LIMIT);
}

/* Deadlines of asynchronous calls and of cancelled calls: the connection
 * is looked at without the host lock, since ending calls queues tasks. */
static void tick_calls(ward_worker *w, int64_t now) {
  ward_host *h = w->host;
  pthread_mutex_lock(&h->mu);
  ward__conn *c = w->conn_due <= now ? w->conn : NULL;
  if (c)
    ward__conn_ref(c);
  pthread_mutex_unlock(&h->mu);
  if (!c)
    return;
  int timed_out, cancel_expired;
  int64_t next = ward__conn_expire(c, now, &timed_out, &cancel_expired);
  pthread_mutex_lock(&h->mu);
  if (w->conn == c) {
    w->conn_due = next;
    /* A worker that ignored a cancellation past its grace is replaced;
     * timeouts are handled as each timed-out call ends. */
    if (cancel_expired && (w->state == W_READY || w->state == W_DRAINING))
      ward__worker_kill_for(w, WARD_REASON_CANCELLED);
  }
  pthread_mutex_unlock(&h->mu);
  ward__conn_unref(c);
}

void ward__worker_tick(ward_worker *w, int64_t now) {
  ward_host *h = w->host;
  const ward_spec *s = w->spec;
  tick_calls(w, now);
  pthread_mutex_lock(&h->mu);
  int poll_exit = w->proc.pid > 0 && w->proc.pidfd < 0;
  pthread_mutex_unlock(&h->mu);
  if (poll_exit)
    ward__worker_on_exit(w); /* returns at once while it still runs */
  pthread_mutex_lock(&h->mu);
  switch (w->state) {
  case W_STARTING:
    if (now >= w->startup_deadline && s->ready_mode == WARD_READY_AFTER) {
      ward__worker_ready(w); /* it stayed up long enough */
    } else if (now >= w->startup_deadline) {
      char text[96];
      snprintf(text, sizeof text, "%s within %d ms",
               s->ready_mode == WARD_READY_NOTIFY ? "no readiness notification"
                                                  : "no handshake",
               s->startup_timeout_ms);
      if (w->spawning)
        ward__worker_spawn_err(w, WARD_EHANDSHAKE, 0, text);
      ward__worker_kill(w, SIGKILL, WARD_REASON_STARTUP_TIMEOUT);
      w->startup_deadline = INT64_MAX;
    }
    break;
  case W_BACKOFF:
    if (now >= w->due_start) {
      w->state = W_QUEUED;
      ward__host_wake(h);
    }
    break;
  case W_REPLACING:
    if (now >= w->kill_at) {
      /* Without a planned reason, it is here because its channel closed. */
      ward__worker_kill(w, SIGKILL, w->reason ? w->reason : WARD_REASON_PROTOCOL);
      w->kill_at = INT64_MAX;
    }
    break;
  case W_READY:
  case W_DRAINING:
    if (s->heartbeat_ms && now >= w->next_hb)
      tick_heartbeat(w, now);
    if ((s->mem_soft || s->mem_hard) && now >= w->next_sample &&
        (w->state == W_READY || w->state == W_DRAINING))
      tick_memory(w, now);
    if (s->idle_ms && w->state == W_READY && !w->inflight &&
        now - w->last_activity >= s->idle_ms)
      ward__worker_recycle(w, WARD_REASON_IDLE);
    break;
  default:
    break;
  }
  ward__worker_schedule(w);
  pthread_cond_broadcast(&h->cond);
  pthread_mutex_unlock(&h->mu);
}

/* ------------------------------------------------------------------ */
/* Spawn, restart, cycle                                               */

/* Queues a first start (or an explicit restart) and waits for its
 * handshake (lock held). Returns 0, or the reason it failed. */
static void start_queued(ward_worker *w);

static int start_and_wait(ward_worker *w) {
  ward_host *h = w->host;
  start_queued(w);
  int sup = w->spec->supervise_start; /* failed starts follow the policy */
  while (w->spawning && (w->state == W_QUEUED || w->state == W_STARTING ||
                         (sup && w->state == W_BACKOFF)))
    ward__host_wait(h, INT64_MAX);
  if (!w->spawning)
    return 0;
  w->spawning = 0;
  if (sup)
    return 0; /* at rest (failed, exited, stopped): the handle says which */
  if (w->state != W_STOPPED)
    w->state = W_FAILED;
  return w->spawn_err ? w->spawn_err : WARD_ECLOSED;
}

static int spawn_error(ward_worker *w, int err) {
  char text[256];
  snprintf(text, sizeof text, "%s", w->spawn_text[0] ? w->spawn_text : ward_strerror(err));
  return ward__fail_keep(err, w->spawn_errno, text);
}

/* A new handle in the host's list (lock held on return, or NULL with the
 * lock not held and the error in *err). */
static ward_worker *new_worker(ward_host *h, const ward_spec *spec, int *err) {
  ward_worker *w = calloc(1, sizeof *w);
  *err = WARD_ENOMEM;
  if (!w)
    return NULL;
  w->spec = ward__spec_dup(spec);
  if (!w->spec) {
    free(w);
    return NULL;
  }
  w->host = h;
  w->listen_fd = -1;
  w->out_fd = w->err_fd = w->notify_fd = -1;
  ward__logring_init(&w->logs, w->spec->log_ring);
  w->proc.pidfd = -1;
  w->heap_idx = SIZE_MAX;
  w->due = INT64_MAX;
  pthread_mutex_lock(&h->mu);
  if (h->quit) {
    pthread_mutex_unlock(&h->mu);
    ward__worker_destroy(w);
    *err = ward__fail(WARD_ECLOSED, "host is shutting down");
    return NULL;
  }
  w->id = ++h->next_id;
  w->prev = h->last;
  if (h->last)
    h->last->next = w;
  else
    h->first = w;
  h->last = w;
  return w;
}

/* Queues a first start (or a restart) without waiting (lock held). */
static void start_queued(ward_worker *w) {
  w->spawning = 1;
  w->spawn_err = 0;
  w->spawn_text[0] = 0;
  w->spawn_errno = 0;
  w->reason = 0;
  w->state = W_QUEUED;
  ward__host_wake(w->host);
}

int ward_spawn_start(ward_worker **out, ward_host *h, const ward_spec *spec) {
  if (!out || !h || !spec)
    return ward__fail(WARD_EINVAL, "ward_spawn_start needs out, host and spec");
  *out = NULL;
  int err;
  ward_worker *w = new_worker(h, spec, &err);
  if (!w)
    return err;
  start_queued(w);
  pthread_mutex_unlock(&h->mu);
  *out = w;
  return 0;
}

int ward_worker_wait_ready(ward_worker *w, int timeout_ms) {
  if (!w)
    return ward__fail(WARD_EINVAL, "NULL worker");
  ward_host *h = w->host;
  if (ward__on_io_thread(h))
    return ward__fail(WARD_EINVAL, "not from a ward callback: it waits for the I/O thread");
  int64_t deadline = timeout_ms < 0 ? INT64_MAX : ward__deadline(timeout_ms);
  pthread_mutex_lock(&h->mu);
  int rv;
  for (;;) {
    /* Ready now, or it has been (and ended since: the policy has it). */
    if (w->state == W_READY || w->readies > 0) {
      rv = 0;
      break;
    }
    if (w->state == W_FAILED || w->state == W_EXITED || w->state == W_STOPPED ||
        w->state == W_STOPPING) {
      /* At rest without being ready (a first start that failed). */
      int err = w->state == W_FAILED    ? (w->spawning && w->spawn_err ? w->spawn_err
                                                                       : WARD_EGAVEUP)
                : w->state == W_EXITED ? WARD_ECRASHED
                                       : WARD_ECLOSED;
      w->spawning = 0;
      rv = w->spawn_text[0] ? ward__fail_keep(err, w->spawn_errno, w->spawn_text)
                            : ward__fail(err, "worker '%s' is %s", w->spec->name,
                                         ward_state_name(public_state(w)));
      break;
    }
    if (ward__host_wait(h, deadline) == WARD_ETIMEDOUT) {
      rv = ward__fail(WARD_ETIMEDOUT, "worker '%s' not ready in time", w->spec->name);
      break;
    }
  }
  pthread_mutex_unlock(&h->mu);
  return rv;
}

int ward_spawn(ward_worker **out, ward_host *h, const ward_spec *spec) {
  if (!out || !h || !spec)
    return ward__fail(WARD_EINVAL, "ward_spawn needs out, host and spec");
  *out = NULL;
  if (ward__on_io_thread(h))
    return ward__fail(WARD_EINVAL, "not from a ward callback: it waits for the I/O thread");
  int err;
  ward_worker *w = new_worker(h, spec, &err);
  if (!w)
    return err;
  err = start_and_wait(w);
  if (!err) {
    pthread_mutex_unlock(&h->mu);
    *out = w;
    return 0;
  }
  err = spawn_error(w, err);
  char text[256];
  snprintf(text, sizeof text, "%s", ward_last_error());
  int sys = ward_last_errno();
  ward__heap_remove(h, w);
  ward__worker_unlink(h, w);
  pthread_mutex_unlock(&h->mu);
  ward__host_sync(h);
  ward__worker_destroy(w);
  return ward__fail_keep(err, sys, text);
}

/* Waits (lock held) until the worker is ready in a generation of at least
 * `gen`, or has come to rest otherwise, or the deadline passed. */
static int wait_generation(ward_worker *w, uint32_t gen, int64_t deadline) {
  for (;;) {
    switch (w->state) {
    case W_READY:
      if (w->generation >= gen)
        return 0;
      break;
    case W_FAILED:
      return ward__fail(WARD_EGAVEUP, "worker '%s' failed", w->spec->name);
    case W_EXITED:
      return ward__fail(WARD_ECRASHED, "worker '%s' exited", w->spec->name);
    case W_STOPPED:
    case W_STOPPING:
      return ward__fail(WARD_ECLOSED, "worker '%s' was stopped", w->spec->name);
    default:
      break;
    }
    if (ward__host_wait(w->host, deadline) == WARD_ETIMEDOUT)
      return ward__fail(WARD_ETIMEDOUT, "worker '%s' not back in time", w->spec->name);
  }
}

/* Starts a replacement of a running worker and waits for it (lock held). */
static int cycle_locked(ward_worker *w) {
  const ward_spec *s = w->spec;
  uint32_t target = w->generation + 1;
  switch (w->state) {
  case W_READY:
    ward__worker_recycle(w, WARD_REASON_CYCLE);
    break;
  case W_STARTING:
    target = w->generation;
    break;
  case W_BACKOFF:
  case W_PARKED:
    w->state = W_QUEUED;
    ward__worker_schedule(w);
    ward__host_wake(w->host);
    break;
  case W_QUEUED:
  case W_DRAINING:
  case W_REPLACING:
    break;
  default:
    return ward__fail(WARD_ECLOSED, "worker '%s' is not running", s->name);
  }
  /* Room for calls to finish, the old process to go, a new one to start. */
  int64_t budget = (int64_t)s->request_timeout_ms + 2 * s->stop_grace_ms +
                   s->startup_timeout_ms + s->policy.backoff_max_ms;
  return wait_generation(w, target, ward__now_ms() + budget);
}

int ward_worker_cycle(ward_worker *w) {
  if (!w)
    return ward__fail(WARD_EINVAL, "NULL worker");
  if (ward__on_io_thread(w->host))
    return ward__fail(WARD_EINVAL, "not from a ward callback: it waits for the I/O thread");
  pthread_mutex_lock(&w->host->mu);
  int rv = cycle_locked(w);
  pthread_mutex_unlock(&w->host->mu);
  return rv;
}

int ward_worker_restart(ward_worker *w) {
  if (!w)
    return ward__fail(WARD_EINVAL, "NULL worker");
  if (ward__on_io_thread(w->host))
    return ward__fail(WARD_EINVAL, "not from a ward callback: it waits for the I/O thread");
  ward_host *h = w->host;
  pthread_mutex_lock(&h->mu);
  ward__policy_reset(&w->sup);
  int rv;
  if (w->state == W_EXITED || w->state == W_FAILED || w->state == W_STOPPED) {
    rv = start_and_wait(w);
    if (rv)
      rv = spawn_error(w, rv);
  } else if (w->state == W_STOPPING) {
    rv = ward__fail(WARD_ECLOSED, "worker '%s' is stopping", w->spec->name);
  } else {
    rv = cycle_locked(w);
  }
  pthread_mutex_unlock(&h->mu);
  return rv;
}

/* ------------------------------------------------------------------ */
/* Stop and free                                                       */

/* Waits (lock held) until the worker has been reaped or the deadline. */
static int wait_reaped(ward_worker *w, int64_t deadline) {
  while (w->state == W_STOPPING) {
    if (ward__host_wait(w->host, deadline) == WARD_ETIMEDOUT)
      return WARD_ETIMEDOUT;
  }
  return 0;
}

static int has_process(const ward_worker *w) {
  return w->state == W_STARTING || w->state == W_READY || w->state == W_DRAINING ||
         w->state == W_REPLACING || w->state == W_STOPPING;
}

int ward_worker_stop(ward_worker *w, int grace_ms) {
  if (!w)
    return ward__fail(WARD_EINVAL, "NULL worker");
  if (ward__on_io_thread(w->host))
    return ward__fail(WARD_EINVAL, "not from a ward callback: it waits for the I/O thread");
  ward_host *h = w->host;
  int grace = grace_ms < 0 ? w->spec->stop_grace_ms : grace_ms;
  pthread_mutex_lock(&h->mu);
  if (w->state == W_STOPPED) {
    pthread_mutex_unlock(&h->mu);
    return 0;
  }
  if (!has_process(w)) {
    /* Exited, failed, backing off or queued: nothing to end. */
    w->state = W_STOPPED;
    w->last_stop = WARD_STOP_ALREADY_EXITED;
    ward_event *ev = ward__event_t(h, w, WARD_EV_STOPPED);
    if (ev)
      ev->outcome = WARD_STOP_ALREADY_EXITED;
    ward__worker_schedule(w);
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->mu);
    ward__host_wake(h); /* the event goes out from the loop */
    return 0;
  }
  /* A call may have returned the violation that ends this process
   * before the loop saw the close: it is why the process goes. */
  ward__worker_settle_violation(w);
  if (w->state != W_STOPPING) {
    w->state = W_STOPPING;
    /* A process ward has already killed (for a violation, a call past its
     * deadline...) keeps the reason it was killed for. */
    w->stop_outcome = w->killed ? WARD_STOP_KILLED : WARD_STOP_GRACEFUL;
    if (!w->killed)
      w->reason = WARD_REASON_STOPPED;
  }
  ward__worker_schedule(w);
  pthread_cond_broadcast(&h->cond);
  ward__conn *c = w->conn;
  if (c)
    ward__conn_ref(c);
  pthread_mutex_unlock(&h->mu);

  if (c) {
    /* Ask first; whatever is in flight ends now, with ECLOSED. */
    ward__hdr bye = {.kind = WARD__K_GOODBYE, .len = 4};
    ward__conn_send(c, &bye, NULL, "stop", 4, NULL, 0, 1, ward__deadline(grace));
    ward__conn_close(c, WARD_ECLOSED);
    ward__conn_unref(c);
  }
  pthread_mutex_lock(&h->mu);
  int rv;
  if (w->spec->ready_mode != WARD_READY_HANDSHAKE) {
    /* Plain: the stop signal is how it is asked. */
    ward__proc_kill(&w->proc, w->spec->stop_signal);
    rv = wait_reaped(w, ward__deadline(grace));
  } else {
    rv = wait_reaped(w, ward__deadline(grace));
    if (rv) {
      w->stop_outcome = WARD_STOP_TERMINATED;
      ward__proc_kill(&w->proc, w->spec->stop_signal);
      rv = wait_reaped(w, ward__deadline(grace));
    }
  }
  if (rv) {
    w->stop_outcome = WARD_STOP_KILLED;
    ward__proc_kill(&w->proc, SIGKILL);
    rv = wait_reaped(w, ward__deadline(30000));
  }
  pthread_mutex_unlock(&h->mu);
  return rv ? ward__fail(WARD_ESYS, "worker '%s' did not die after SIGKILL", w->spec->name)
            : 0;
}

void ward_worker_free(ward_worker *w) {
  if (!w || ward__on_io_thread(w->host))
    return; /* not from a ward callback: it would wait for its own thread */
  ward_host *h = w->host;
  ward_worker_stop(w, -1);
  pthread_mutex_lock(&h->mu);
  ward__heap_remove(h, w);
  ward__worker_unlink(h, w);
  pthread_mutex_unlock(&h->mu);
  ward__host_sync(h);
  ward__worker_destroy(w);
}

/* ------------------------------------------------------------------ */
/* Information                                                         */

static int public_state(const ward_worker *w) {
  switch (w->state) {
  case W_QUEUED:
  case W_STARTING:
    return w->spawning ? WARD_STATE_STARTING : WARD_STATE_RESTARTING;
  case W_READY:
    return WARD_STATE_READY;
  case W_DRAINING:
  case W_REPLACING:
    return WARD_STATE_RESTARTING;
  case W_BACKOFF:
    return WARD_STATE_BACKING_OFF;
  case W_PARKED:
    return WARD_STATE_IDLE;
  case W_STOPPING:
    return WARD_STATE_STOPPING;
  case W_EXITED:
    return WARD_STATE_EXITED;
  case W_STOPPED:
    return WARD_STATE_STOPPED;
  default:
    return WARD_STATE_FAILED;
  }
}

const char *ward_state_name(int state) {
  static const char *const names[] = {"unknown", "starting", "ready",   "stopping",
                                      "restarting", "backing-off", "failed", "stopped",
                                      "exited",  "idle"};
  if (state < 0 || (size_t)state >= sizeof names / sizeof names[0])
    return "unknown";
  return names[state];
}

int ward__worker_state(const ward_worker *w) {
  pthread_mutex_lock(&w->host->mu);
  int st = public_state(w);
  pthread_mutex_unlock(&w->host->mu);
  return st;
}

int ward_worker_info(ward_info *out, const ward_worker *w) {
  if (!out || !w)
    return ward__fail(WARD_EINVAL, "ward_worker_info needs out and a worker");
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&w->host->mu);
  out->pid = w->proc.pid;
  out->state = public_state(w);
  out->generation = w->generation;
  out->restarts = w->sup.restarts;
  out->last_exit_code = w->last_code;
  out->last_signal = w->last_signal;
  out->last_reason = w->last_reason;
  out->last_stop = w->last_stop;
  out->calls_served = w->served;
  out->calls_in_flight = w->inflight;
  pthread_mutex_unlock(&w->host->mu);
  if (out->pid > 0)
    ward__proc_usage(out->pid, &out->rss_bytes, &out->cpu_ms, &out->start_time_ms);
  return 0;
}

int ward_worker_logs(ward_log_line **out, size_t *count, const ward_worker *w,
                     const ward_log_query *q) {
  if (!out || !count || !w)
    return ward__fail(WARD_EINVAL, "ward_worker_logs needs out, count and a worker");
  *out = NULL;
  *count = 0;
  pthread_mutex_lock(&w->host->mu);
  int rv = ward__logring_query(&w->logs, q, out, count);
  pthread_mutex_unlock(&w->host->mu);
  return rv;
}

const char *ward_worker_data_dir(const ward_worker *w) { return w ? w->data_dir : NULL; }

int ward_worker_pid(const ward_worker *w) {
  if (!w)
    return 0;
  pthread_mutex_lock(&w->host->mu);
  int pid = w->proc.pid;
  pthread_mutex_unlock(&w->host->mu);
  return pid;
}

const char *ward_worker_name(const ward_worker *w) { return w ? w->spec->name : NULL; }

uint64_t ward_worker_id(const ward_worker *w) { return w ? w->id : 0; }

uint32_t ward_worker_generation(const ward_worker *w) {
  if (!w)
    return 0;
  pthread_mutex_lock(&w->host->mu);
  uint32_t g = w->generation;
  pthread_mutex_unlock(&w->host->mu);
  return g;
}

int ward_worker_serves(const ward_worker *w, const char *method) {
  if (!w || !method)
    return 0;
  int found = 0;
  pthread_mutex_lock(&w->host->mu);
  for (size_t i = 0; i < w->nmethods && !found; i++)
    found = strcmp(w->methods[i], method) == 0;
  pthread_mutex_unlock(&w->host->mu);
  return found;
}

const char *ward_worker_meta(const ward_worker *w, const char *key) {
  if (!w || !key)
    return NULL;
  const char *v = NULL;
  pthread_mutex_lock(&w->host->mu);
  for (size_t i = 0; i < w->nmeta && !v; i++)
    if (strcmp(w->meta[i].key, key) == 0)
      v = w->meta[i].value;
  pthread_mutex_unlock(&w->host->mu);
  return v;
}
