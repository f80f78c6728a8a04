/*
 * supervise.c — the host's side of a worker's life: it feeds the worker's
 * state machine (lifecycle.c) its events and carries out what the machine
 * decides (events for the program, signals, goodbyes, starts), keeps the
 * worker's timers in the host's heap, and provides the public operations
 * on a worker's life: spawn, wait, cycle, restart, stop, free, information.
 *
 * Owns: ward__worker_post, the only way a worker's state changes. May not
 * decide anything itself: whether a process restarts, when a timer fires
 * and what a stop does next are the machine's.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "worker.h"

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }


void ward__worker_schedule(ward_worker *w) {
  /* A worker being freed may still be in a timer's firing on the loop
   * (which its free waits out): that must not put it back in the heap. */
  if (w->unlinked)
    return;
  int64_t due = ward__life_due(&w->life, w->spec);
  /* Deadlines of asynchronous and cancelled calls are the connection's. */
  if (w->life.state == WARD__L_READY || w->life.state == WARD__L_DRAINING ||
      w->life.state == WARD__L_REPLACING)
    due = min64(due, w->conn_due);
  /* With nothing to watch (no pidfd), exits are found by looking every
   * few milliseconds. */
  if (w->proc.pid > 0 && !ward__fd_valid(ward__proc_watch(&w->proc)))
    due = min64(due, w->reap_at);
  /* Most events (a call's begin and end) move no timer: no heap work, and
   * no wake-up of the loop, for them. */
  if (due == w->timer.due)
    return;
  ward__timer_set(w->host, &w->timer, due);
}

/* The last lines (at most LAST_WORDS) the current process wrote on its
 * stderr, joined by " | " into `buf` ("" if none): what a process that
 * ended before it was ready said about why (the dynamic loader's "error
 * while loading shared libraries", an interpreter's traceback). */
#define LAST_WORDS 3
static const char *last_words(ward_worker *w, char *buf, size_t cap) {
  const ward__logline *v[LAST_WORDS];
  size_t n = 0;
  for (const ward__logline *l = w->logs.head; l; l = l->next)
    if (l->stream == WARD_LOG_STDERR && l->generation == w->life.generation && l->len) {
      if (n == LAST_WORDS) {
        memmove(v, v + 1, (LAST_WORDS - 1) * sizeof *v);
        n--;
      }
      v[n++] = l;
    }
  buf[0] = 0;
  size_t used = 0;
  for (size_t i = 0; i < n && used + 1 < cap; i++) {
    int k = snprintf(buf + used, cap - used, "%s%s", i ? " | " : "", v[i]->text);
    used += k > 0 ? (size_t)k : 0;
  }
  return buf;
}

/* Why the first start failed, for ward_spawn, from the event that said so. */
static void first_failure(ward_worker *w, const ward__lev *ev) {
  const ward_spec *s = w->spec;
  char text[600], words[480];
  switch (ev->type) {
  case WARD__LE_SPAWN_FAILED:
    ward__worker_spawn_err(w, ev->error, ev->sys_errno, ev->text ? ev->text : "");
    return;
  case WARD__LE_REFUSED:
    ward__worker_spawn_err(w, ev->error ? ev->error : WARD_EHANDSHAKE, ev->sys_errno,
                           ev->text ? ev->text : "");
    return;
  case WARD__LE_VIOLATION:
    ward__worker_spawn_err(w, WARD_EHANDSHAKE, 0, ev->text ? ev->text : "");
    return;
  case WARD__LE_TICK:
    snprintf(text, sizeof text, "%s within %d ms",
             s->ready_mode == WARD_READY_NOTIFY ? "no readiness notification" : "no handshake",
             s->startup_timeout_ms);
    break;
  default: { /* EXIT */
    const char *what = s->ready_mode == WARD_READY_HANDSHAKE ? "the handshake" : "it was ready";
    int k = ev->signal ? snprintf(text, sizeof text, "exited before %s (signal %d)", what, ev->signal)
                       : snprintf(text, sizeof text, "exited before %s (code %d)", what, ev->code);
    if (last_words(w, words, sizeof words)[0] && k > 0 && (size_t)k < sizeof text)
      snprintf(text + k, sizeof text - (size_t)k, "; last on stderr: %s", words);
    break;
  }
  }
  ward__worker_spawn_err(w, WARD_EHANDSHAKE, 0, text);
}

/* Queues the machine's events for the program. */
static void emit_events(ward_worker *w, const ward__lev *ev, const ward__lout *o, int unready) {
  for (int i = 0; i < o->nemit; i++) {
    const ward__lemit *e = &o->emit[i];
    char detail[600], words[480];
    const char *text = NULL;
    int pid = w->proc.pid;
    if (e->type == WARD_EV_EXITED) {
      pid = ev->pid;
      int k = e->signal ? snprintf(detail, sizeof detail, "killed by signal %d (%s)", e->signal,
                                   ward_reason_name(e->reason))
                        : snprintf(detail, sizeof detail, "exited with code %d (%s)", e->code,
                                   ward_reason_name(e->reason));
      /* Ended before it was ready: what it said on stderr says why. */
      if (unready && last_words(w, words, sizeof words)[0] && k > 0 && (size_t)k < sizeof detail)
        snprintf(detail + k, sizeof detail - (size_t)k, "; last on stderr: %s", words);
      text = detail;
    } else if (e->type == WARD_EV_ERROR || e->type == WARD_EV_SPAWN_FAILED) {
      text = ev->text;
    }
    ward__evq *q = ward__host_event(w->host, w, e->type, pid, e->code, e->signal, e->reason,
                                    e->error, text);
    if (q) {
      q->ev.attempt = e->attempt;
      q->ev.delay_ms = e->delay_ms;
      q->ev.outcome = e->outcome;
    }
  }
}

void ward__worker_post(ward_worker *w, ward__lev *ev, ward__lout *out) {
  ward_host *h = w->host;
  ward__lout own;
  ward__lout *o = out ? out : &own;
  if (!ev->now)
    ev->now = ward__now_ms();
  ward__lstate was = w->life.state;
  int step_was = w->life.stop_step, spawning_was = w->life.spawning;
  uint32_t readies_was = w->life.readies;
  ward__life_step(&w->life, w->spec, ev, o);
#if WARD__CHECKED
  const char *broken = ward__life_check(&w->life);
  if (broken) {
    fprintf(stderr, "ward: worker '%s': %s after %s\n", w->spec->name, broken,
            ward__life_event_name(ev->type));
    abort();
  }
#endif
  if (o->act & WARD__LA_FIRST_FAILED)
    first_failure(w, ev);
  emit_events(w, ev, o, ev->type == WARD__LE_EXIT && was == WARD__L_STARTING);
  /* A thaw first: what follows (a stop signal, a goodbye) must reach a
   * process that can act on it. */
  if ((o->act & WARD__LA_RESUME) && w->proc.pid > 0 && ward__proc_pause(&w->proc, 0))
    w->pause_err = ward_last_errno() ? ward_last_errno() : -1;
  if ((o->act & WARD__LA_PAUSE) && w->proc.pid > 0 && ward__proc_pause(&w->proc, 1))
    w->pause_err = ward_last_errno() ? ward_last_errno() : -1;
  if ((o->act & WARD__LA_KILL) && w->proc.pid > 0)
    ward__proc_kill(&w->proc, o->signal);
  if ((o->act & WARD__LA_GOODBYE) && w->conn) {
    ward__hdr bye = {.kind = WARD__K_GOODBYE, .len = (uint32_t)strlen(o->goodbye)};
    ward__conn_send(w->conn, &bye, NULL, o->goodbye, bye.len, NULL, 0, 0, 0);
  }
  if ((o->act & WARD__LA_CLOSE) && w->conn)
    ward__conn_close(w->conn, WARD_ECLOSED); /* calls in flight end now */
  if ((o->act & WARD__LA_HEARTBEAT) && w->conn) {
    ward__lev hb = {.type = WARD__LE_HEARTBEAT, .now = ev->now};
    hb.missed = ward__conn_heartbeat(w->conn);
    ward__worker_post(w, &hb, NULL);
  }
  uint64_t rss, cpu;
  if ((o->act & WARD__LA_SAMPLE) && w->proc.pid > 0 &&
      !ward__proc_usage(&w->proc, &rss, &cpu, NULL) && rss != WARD_UNKNOWN) {
    ward__lev mem = {.type = WARD__LE_MEMORY, .now = ev->now, .rss = rss};
    ward__worker_post(w, &mem, NULL);
  }
  if (o->act & WARD__LA_SPAWN)
    ward__worker_queue(w);
  if (w->group)
    ward__group_after(w->group, w, o, ev->now);
  if (w->spare_of || w->nspares || w->spec->spares)
    ward__spares_after(w, was, readies_was);
  ward__worker_schedule(w);
  /* Threads wait for states (a call for READY, a stop for STOPPED...): they
   * look again when something they wait for may have changed. */
  if (o->act || o->nemit || w->life.state != was || w->life.stop_step != step_was ||
      w->life.spawning != spawning_was)
    pthread_cond_broadcast(&h->cond);
  /* A start, or events, are for the loop to carry on with. */
  if ((o->act & WARD__LA_SPAWN) || (o->nemit && !ward__on_io_thread(h)))
    ward__host_wake(h);
}

/* Posts an event of `type` alone (lock held); returns the machine's answer. */
static int post(ward_worker *w, int type) {
  ward__lev ev = {.type = type};
  ward__lout o;
  ward__worker_post(w, &ev, &o);
  return o.status;
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
    if (cancel_expired) {
      ward__lev ev = {.type = WARD__LE_KILL, .now = now, .reason = WARD_REASON_CANCELLED};
      ward__worker_post(w, &ev, NULL);
    }
  }
  pthread_mutex_unlock(&h->mu);
  ward__conn_unref(c);
}

void ward__worker_tick(ward_worker *w, int64_t now) {
  ward_host *h = w->host;
  tick_calls(w, now);
  pthread_mutex_lock(&h->mu);
  int poll_exit = w->proc.pid > 0 && !ward__fd_valid(ward__proc_watch(&w->proc));
  if (poll_exit && now >= w->reap_at)
    w->reap_at = now + WARD__REAP_POLL_MS;
  pthread_mutex_unlock(&h->mu);
  if (poll_exit)
    ward__worker_on_exit(w); /* returns at once while it still runs */
  pthread_mutex_lock(&h->mu);
  ward__lev ev = {.type = WARD__LE_TICK, .now = now};
  ward__worker_post(w, &ev, NULL);
  pthread_mutex_unlock(&h->mu);
}

/* The worker's timer came (the loop, no lock). */
static void worker_fire(ward__timer *t, int64_t now) { ward__worker_tick(t->obj, now); }

/* ------------------------------------------------------------------ */
/* Spawn, restart, cycle                                               */

/* Waits (lock held) for a first start (or a start from rest) to come to
 * its end. Returns 0 (ready, or at rest under supervise_start), or why it
 * failed. */
static int wait_started(ward_worker *w) {
  ward_host *h = w->host;
  int sup = w->spec->supervise_start; /* failed starts follow the policy */
  while (w->life.spawning &&
         (w->life.state == WARD__L_QUEUED || w->life.state == WARD__L_STARTING ||
          (sup && w->life.state == WARD__L_BACKOFF)))
    ward__host_wait(h, INT64_MAX);
  if (!w->life.spawning)
    return 0;
  post(w, WARD__LE_SETTLED);
  if (sup)
    return 0; /* at rest (failed, exited, stopped): the handle says which */
  return w->spawn_err ? w->spawn_err : WARD_ECLOSED;
}

static int spawn_error(ward_worker *w, int err) {
  char text[sizeof w->spawn_text];
  snprintf(text, sizeof text, "%s", w->spawn_text[0] ? w->spawn_text : ward_strerror(err));
  return ward__fail_keep(err, w->spawn_errno, text);
}

ward_worker *ward__worker_alloc(ward_host *h, const ward_spec *spec) {
  ward_worker *w = calloc(1, sizeof *w);
  if (!w)
    return NULL;
  w->spec = ward__spec_dup(spec);
  if (!w->spec) {
    free(w);
    return NULL;
  }
  w->host = h;
  w->listen_fd = WARD__FD_NONE;
  w->out_fd = w->err_fd = w->notify_fd = WARD__FD_NONE;
  ward__life_init(&w->life);
  ward__logring_init(&w->logs, w->spec->log_ring);
  w->proc = (ward__proc)WARD__PROC_NONE;
  w->timer = (ward__timer){INT64_MAX, SIZE_MAX, worker_fire, w};
  w->conn_due = INT64_MAX;
  return w;
}

/* A new handle in the host's list (lock held on return, or NULL with the
 * lock not held and the error in *err). */
static ward_worker *new_worker(ward_host *h, const ward_spec *spec, int *err) {
  *err = WARD_ENOMEM;
  ward_worker *w = ward__worker_alloc(h, spec);
  if (!w)
    return NULL;
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

/* Asks for a start (START or RESTART from rest), forgetting why an earlier
 * first start failed (lock held). */
static int ask_start(ward_worker *w, int type) {
  w->spawn_err = 0;
  w->spawn_text[0] = 0;
  w->spawn_errno = 0;
  return post(w, type);
}

/* ward_spawn_start, in a group or not. */
static int spawn_start_in(ward_worker **out, ward_host *h, ward_group *g,
                          const ward_spec *spec) {
  *out = NULL;
  int err;
  ward_worker *w = new_worker(h, spec, &err);
  if (!w)
    return err;
  err = g ? ward__group_add(g, w) : 0;
  if (err) {
    /* Never started: nothing but this call knows of it. */
    ward__timer_remove(h, &w->timer);
    ward__worker_unlink(h, w);
    pthread_mutex_unlock(&h->mu);
    ward__worker_destroy(w);
    return err;
  }
  ask_start(w, WARD__LE_START);
  pthread_mutex_unlock(&h->mu);
  *out = w;
  return 0;
}

int ward_spawn_start(ward_worker **out, ward_host *h, const ward_spec *spec) {
  if (!out || !h || !spec)
    return ward__fail(WARD_EINVAL, "ward_spawn_start needs out, host and spec");
  return spawn_start_in(out, h, NULL, spec);
}

int ward_group_spawn_start(ward_worker **out, ward_group *g, const ward_spec *spec) {
  if (!out || !g || !spec)
    return ward__fail(WARD_EINVAL, "ward_group_spawn_start needs out, a group and a spec");
  return spawn_start_in(out, ward__group_host(g), g, spec);
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
    ward__lstate st = w->life.state;
    /* Ready now, or it has been (and ended since: the policy has it). */
    if (st == WARD__L_READY || w->life.readies > 0) {
      rv = 0;
      break;
    }
    if (st == WARD__L_FAILED || st == WARD__L_EXITED || st == WARD__L_STOPPED ||
        st == WARD__L_STOPPING) {
      /* At rest without being ready (a first start that failed). */
      int err = st == WARD__L_FAILED   ? (w->life.spawning && w->spawn_err ? w->spawn_err
                                                                           : WARD_EGAVEUP)
                : st == WARD__L_EXITED ? WARD_ECRASHED
                                       : WARD_ECLOSED;
      post(w, WARD__LE_SETTLED);
      rv = w->spawn_text[0] ? ward__fail_keep(err, w->spawn_errno, w->spawn_text)
                            : ward__fail(err, "worker '%s' is %s", w->spec->name,
                                         ward_state_name(ward__life_public(&w->life)));
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

/* ward_spawn, for `g`'s next member when `g` is not NULL. */
static int spawn_in(ward_worker **out, ward_host *h, ward_group *g, const ward_spec *spec) {
  *out = NULL;
  if (ward__on_io_thread(h))
    return ward__fail(WARD_EINVAL, "not from a ward callback: it waits for the I/O thread");
  int err;
  ward_worker *w = new_worker(h, spec, &err);
  if (!w)
    return err;
  err = g ? ward__group_add(g, w) : 0;
  if (!err) {
    ask_start(w, WARD__LE_START);
    err = wait_started(w);
  }
  if (!err) {
    pthread_mutex_unlock(&h->mu);
    *out = w;
    return 0;
  }
  err = spawn_error(w, err);
  char text[256];
  snprintf(text, sizeof text, "%s", ward_last_error());
  int sys = ward_last_errno();
  ward__timer_remove(h, &w->timer);
  ward__worker_unlink(h, w);
  pthread_mutex_unlock(&h->mu);
  ward__host_sync(h);
  ward__worker_destroy(w);
  return ward__fail_keep(err, sys, text);
}

int ward_spawn(ward_worker **out, ward_host *h, const ward_spec *spec) {
  if (!out || !h || !spec)
    return ward__fail(WARD_EINVAL, "ward_spawn needs out, host and spec");
  return spawn_in(out, h, NULL, spec);
}

int ward_group_spawn(ward_worker **out, ward_group *g, const ward_spec *spec) {
  if (!out || !g || !spec)
    return ward__fail(WARD_EINVAL, "ward_group_spawn needs out, a group and a spec");
  return spawn_in(out, ward__group_host(g), g, spec);
}

/* Waits (lock held) until the worker is ready in a generation of at least
 * `gen`, or has come to rest otherwise, or the deadline passed. */
static int wait_generation(ward_worker *w, uint32_t gen, int64_t deadline) {
  for (;;) {
    switch (w->life.state) {
    case WARD__L_READY:
      if (w->life.generation >= gen)
        return 0;
      break;
    case WARD__L_FAILED:
      return ward__fail(WARD_EGAVEUP, "worker '%s' failed", w->spec->name);
    case WARD__L_EXITED:
      return ward__fail(WARD_ECRASHED, "worker '%s' exited", w->spec->name);
    case WARD__L_STOPPED:
    case WARD__L_STOPPING:
      return ward__fail(WARD_ECLOSED, "worker '%s' was stopped", w->spec->name);
    default:
      break;
    }
    if (ward__host_wait(w->host, deadline) == WARD_ETIMEDOUT)
      return ward__fail(WARD_ETIMEDOUT, "worker '%s' not back in time", w->spec->name);
  }
}

/* The generation a cycle asked now waits for: the one being started, or
 * the next. */
static uint32_t cycle_target(const ward_worker *w) {
  return w->life.state == WARD__L_STARTING ? w->life.generation : w->life.generation + 1;
}

/* Waits (lock held) for the replacement a cycle or restart asked for. */
static int wait_cycled(ward_worker *w, uint32_t target) {
  const ward_spec *s = w->spec;
  /* Room for calls to finish, the old process to go, a new one to start. */
  int64_t budget = (int64_t)s->request_timeout_ms + 2 * s->stop_grace_ms +
                   s->startup_timeout_ms + s->policy.backoff_max_ms;
  return wait_generation(w, target, ward__now_ms() + budget);
}

int ward_worker_cycle_begin(ward_worker *w) {
  if (!w)
    return ward__fail(WARD_EINVAL, "NULL worker");
  pthread_mutex_lock(&w->host->mu);
  int rv = post(w, WARD__LE_CYCLE);
  pthread_mutex_unlock(&w->host->mu);
  return rv ? ward__fail(rv, "worker '%s' is not running", w->spec->name) : 0;
}

int ward_worker_restart_begin(ward_worker *w) {
  if (!w)
    return ward__fail(WARD_EINVAL, "NULL worker");
  pthread_mutex_lock(&w->host->mu);
  int rv = ask_start(w, WARD__LE_RESTART);
  pthread_mutex_unlock(&w->host->mu);
  return rv ? ward__fail(rv, "worker '%s' is stopping", w->spec->name) : 0;
}

/* Pause (1) or resume (0): the machine decides, the post carries it out;
 * a freeze or thaw the system refused is taken back. */
static int pause_or_resume(ward_worker *w, int on) {
  if (!w)
    return ward__fail(WARD_EINVAL, "NULL worker");
  pthread_mutex_lock(&w->host->mu);
  w->pause_err = 0;
  int rv = post(w, on ? WARD__LE_PAUSE : WARD__LE_RESUME);
  if (rv) {
    rv = ward__fail(rv, "worker '%s' has no running process to pause", w->spec->name);
  } else if (w->pause_err) {
    int e = w->pause_err > 0 ? w->pause_err : 0;
    char why[300];
    snprintf(why, sizeof why, "%s", ward_last_error());
    /* A failed pause is no pause (a failed thaw is a process that is
     * gone or going: nothing to hold on to). */
    if (on)
      post(w, WARD__LE_RESUME);
    rv = ward__fail_keep(WARD_ESYS, e, why);
  }
  pthread_mutex_unlock(&w->host->mu);
  return rv;
}

int ward_worker_pause(ward_worker *w) { return pause_or_resume(w, 1); }
int ward_worker_resume(ward_worker *w) { return pause_or_resume(w, 0); }

int ward_worker_cycle(ward_worker *w) {
  if (!w)
    return ward__fail(WARD_EINVAL, "NULL worker");
  if (ward__on_io_thread(w->host))
    return ward__fail(WARD_EINVAL, "not from a ward callback: it waits for the I/O thread");
  pthread_mutex_lock(&w->host->mu);
  uint32_t target = cycle_target(w);
  int rv = post(w, WARD__LE_CYCLE);
  rv = rv ? ward__fail(rv, "worker '%s' is not running", w->spec->name) : wait_cycled(w, target);
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
  ward__lstate st = w->life.state;
  int from_rest = st == WARD__L_EXITED || st == WARD__L_FAILED || st == WARD__L_STOPPED;
  uint32_t target = cycle_target(w);
  int rv = ask_start(w, WARD__LE_RESTART);
  if (rv)
    rv = ward__fail(rv, "worker '%s' is stopping", w->spec->name);
  else if (from_rest)
    rv = (rv = wait_started(w)) ? spawn_error(w, rv) : 0;
  else
    rv = wait_cycled(w, target);
  pthread_mutex_unlock(&h->mu);
  return rv;
}

/* ------------------------------------------------------------------ */
/* Stop and free                                                       */

/* Asks the machine to stop the worker (lock held). */
static void ask_stop(ward_worker *w, int grace_ms) {
  /* A call may have returned the violation that ends this process
   * before the loop saw the close: it is why the process goes. */
  ward__worker_settle_violation(w);
  ward__lev ev = {.type = WARD__LE_STOP, .grace_ms = grace_ms};
  ward__worker_post(w, &ev, NULL);
}

int ward_worker_stop_begin(ward_worker *w, int grace_ms) {
  if (!w)
    return ward__fail(WARD_EINVAL, "NULL worker");
  pthread_mutex_lock(&w->host->mu);
  ask_stop(w, grace_ms);
  pthread_mutex_unlock(&w->host->mu);
  return 0;
}

int ward_worker_stop(ward_worker *w, int grace_ms) {
  if (!w)
    return ward__fail(WARD_EINVAL, "NULL worker");
  if (ward__on_io_thread(w->host))
    return ward__fail(WARD_EINVAL, "not from a ward callback: use ward_worker_stop_begin");
  ward_host *h = w->host;
  pthread_mutex_lock(&h->mu);
  ask_stop(w, grace_ms);
  /* The machine escalates on its timers; the loop runs them. */
  while (w->life.state == WARD__L_STOPPING && w->life.stop_step < 3)
    ward__host_wait(h, INT64_MAX);
  int stuck = w->life.state == WARD__L_STOPPING;
  /* Its spares were asked to stop with it (ward__spares_after). */
  ward__spares_wait_stopped(w);
  pthread_mutex_unlock(&h->mu);
  return stuck ? ward__fail(WARD_ESYS, "worker '%s' did not die after SIGKILL", w->spec->name)
               : 0;
}

void ward_worker_free(ward_worker *w) {
  if (!w)
    return;
  ward_host *h = w->host;
  if (ward__on_io_thread(h)) {
    /* From a callback, nothing may wait: the stop goes on, and the loop
     * releases the handle once it is over (ward__host_free_stopped). */
    pthread_mutex_lock(&h->mu);
    if (!w->free_pending) {
      ask_stop(w, -1);
      w->free_pending = 1;
      w->free_next = h->to_free;
      h->to_free = w;
    }
    pthread_mutex_unlock(&h->mu);
    return;
  }
  ward_worker_stop(w, -1);
  pthread_mutex_lock(&h->mu);
  w->unlinked = 1;
  ward__timer_remove(h, &w->timer);
  ward__spares_unlink(w);
  ward__worker_unlink(h, w);
  pthread_mutex_unlock(&h->mu);
  ward__host_sync(h);
  ward__worker_destroy(w);
}

/* ------------------------------------------------------------------ */
/* Information                                                         */

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
  int st = ward__life_public(&w->life);
  pthread_mutex_unlock(&w->host->mu);
  return st;
}

int ward_worker_info(ward_info *out, const ward_worker *w) {
  if (!out || !w)
    return ward__fail(WARD_EINVAL, "ward_worker_info needs out and a worker");
  /* Filled in full here, then given to the caller as far as its struct
   * goes: it may be an older, smaller ward_info. */
  ward_info v = WARD_INFO_INIT;
  pthread_mutex_lock(&w->host->mu);
  ward__proc proc = w->proc; /* read outside the lock */
  v.pid = proc.pid;
  v.state = ward__life_public(&w->life);
  v.generation = w->life.generation;
  v.restarts = w->life.sup.restarts;
  v.last_exit_code = w->life.last_code;
  v.last_signal = w->life.last_signal;
  v.last_reason = w->life.last_reason;
  v.last_stop = w->life.last_stop;
  v.calls_served = w->life.served;
  v.calls_in_flight = w->life.inflight;
  if (proc.pid > 0) {
    v.sandbox = w->sandbox;
    v.landlock_abi = w->landlock_abi;
  }
  v.proc_class = w->spec->proc_class;
  v.paused = w->life.paused;
  v.tree = ward__proc_tree(&w->proc);
  /* Under the lock: the backend's record of the tree goes with the reap. */
  ward__tree_stats ts;
  ward__proc_tree_stats(&w->proc, &ts);
  v.tree_memory_bytes = ts.memory;
  v.pressure_cpu = ts.pressure[0];
  v.pressure_memory = ts.pressure[1];
  v.pressure_io = ts.pressure[2];
  v.oom_kills = ts.oom_kills;
  ward__proc spares[WARD_MAX_SPARES];
  size_t nspares = 0;
  v.spares_ready = w->life.spares_ready;
  for (size_t i = 0; i < w->nspares && nspares < WARD_MAX_SPARES; i++)
    if (w->spares[i]->proc.pid > 0)
      spares[nspares++] = w->spares[i]->proc;
  v.spares_running = (uint32_t)nspares;
  pthread_mutex_unlock(&w->host->mu);
  if (v.pid > 0)
    ward__proc_usage(&proc, &v.rss_bytes, &v.cpu_ms, &v.start_time_ms);
  /* What the spares cost: read outside the lock, as the worker's own. */
  for (size_t i = 0; i < nspares && v.spares_rss_bytes != WARD_UNKNOWN; i++) {
    uint64_t rss = 0, cpu;
    if (ward__proc_usage(&spares[i], &rss, &cpu, NULL) || rss == WARD_UNKNOWN)
      v.spares_rss_bytes = WARD_UNKNOWN; /* as rss_bytes where the system does not say */
    else
      v.spares_rss_bytes += rss;
  }
  return ward__info_put(out, &v);
}

int ward_worker_logs(ward_log_line **out, size_t *count, const ward_worker *w,
                     const ward_log_query *caller_q) {
  if (!out || !count || !w)
    return ward__fail(WARD_EINVAL, "ward_worker_logs needs out, count and a worker");
  *out = NULL;
  *count = 0;
  ward_log_query q;
  int rv = ward__log_query_take(&q, caller_q);
  if (rv)
    return rv;
  pthread_mutex_lock(&w->host->mu);
  rv = ward__logring_query(&w->logs, &q, out, count);
  pthread_mutex_unlock(&w->host->mu);
  return rv;
}

int ward_worker_log_entries(ward_log_entry **out, size_t *count, const ward_worker *w,
                            const ward_log_query *caller_q) {
  if (!out || !count || !w)
    return ward__fail(WARD_EINVAL, "ward_worker_log_entries needs out, count and a worker");
  *out = NULL;
  *count = 0;
  ward_log_query q;
  int rv = ward__log_query_take(&q, caller_q);
  if (rv)
    return rv;
  pthread_mutex_lock(&w->host->mu);
  rv = ward__logring_entries(&w->logs, &q, out, count);
  pthread_mutex_unlock(&w->host->mu);
  return rv;
}

int ward_worker_take_logs(ward_worker *w, ward_worker *from) {
  if (!w || !from || w == from || w->host != from->host)
    return ward__fail(WARD_EINVAL, "ward_worker_take_logs needs two handles of one host");
  pthread_mutex_lock(&w->host->mu);
  ward__logring_prepend(&w->logs, &from->logs);
  pthread_mutex_unlock(&w->host->mu);
  return 0;
}

const char *ward_worker_data_dir(const ward_worker *w) { return w ? w->data_dir : NULL; }

int ward_worker_frames(const ward_worker *w) {
  if (!w)
    return 0;
  pthread_mutex_lock(&w->host->mu);
  ward__conn *c = w->conn;
  int f = c && w->life.state != WARD__L_STARTING && !ward__conn_is_closed(c)
              ? ward__conn_frames(c)
              : 0;
  pthread_mutex_unlock(&w->host->mu);
  return f;
}

int ward_worker_pid(const ward_worker *w) {
  if (!w)
    return 0;
  pthread_mutex_lock(&w->host->mu);
  int pid = w->proc.pid;
  pthread_mutex_unlock(&w->host->mu);
  return pid;
}

const char *ward_worker_name(const ward_worker *w) {
  if (!w)
    return NULL;
  /* Under the lock, as ward_worker_replace may change the spec; the name
   * it returns stays valid until the worker is freed (old specs are kept). */
  pthread_mutex_lock(&w->host->mu);
  const char *name = w->spec->name;
  pthread_mutex_unlock(&w->host->mu);
  return name;
}

uint64_t ward_worker_id(const ward_worker *w) { return w ? w->id : 0; }

uint32_t ward_worker_generation(const ward_worker *w) {
  if (!w)
    return 0;
  pthread_mutex_lock(&w->host->mu);
  uint32_t g = w->life.generation;
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
