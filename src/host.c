/*
 * host.c — the host object and its I/O thread.
 *
 * Design notes
 * ------------
 * One thread per host runs a loop (platform.h) over: its wake-up, each
 * worker's exit watch (a pidfd on Linux), each connection while no caller
 * is reading it, and the listening sockets of socket-mode spawns. It starts processes (so that
 * PR_SET_PDEATHSIG, which follows the thread that forked, lasts as long as
 * the host), reaps them, runs host-side handlers and delivers events.
 *
 * Everything the loop does for other threads goes through queues under
 * the host mutex (workers to start, tasks, events) and a wake-up. Events
 * are always delivered on the loop thread, in order, without the lock.
 *
 * Deferred destruction: a connection registered with the loop holds a
 * reference owned by the registration; when it closes, the registration is
 * removed and the reference is dropped only after the loop's current batch,
 * which may still hold the pointer. Worker handles are freed only after
 * the loop has gone round twice (ward__host_sync), so no event or batch
 * still refers to them.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "host_int.h"
#include "worker.h"

static void *io_main(void *arg);
static void loop_drain(ward_host *h);

void ward__host_wake(ward_host *h) { ward__loop_wake(h->loop); }

/* The external-loop host this thread is driving right now, if any: read and
 * written only by the thread itself, so no lock is needed. */
static _Thread_local const ward_host *driving;

int ward__on_io_thread(const ward_host *h) {
  if (h->external)
    return driving == h;
  return pthread_equal(pthread_self(), h->thread);
}


/* The loop's timer reports itself until it is armed again, which the
 * turn it woke does (arm_timer): nothing to do here. */
static void timer_ready(ward__watch *wt, int events) { (void)wt, (void)events; }
int ward_host_new(ward_host **out, const ward_host_opts *opts) {
  if (!out)
    return ward__fail(WARD_EINVAL, "NULL out");
  /* Only as much of the caller's options as its struct holds. */
  ward_host_opts o;
  int rv = ward__host_opts_take(&o, opts);
  if (rv)
    return rv;
  ward_host *h = calloc(1, sizeof *h);
  if (!h)
    return WARD_ENOMEM;
  h->opts = o;
  if (!h->opts.max_frame)
    h->opts.max_frame = WARD_MAX_FRAME_DEFAULT;
  pthread_mutex_init(&h->mu, NULL);
  pthread_mutex_init(&h->lazy_mu, NULL);
  ward__cond_init(&h->cond);
  h->external = h->opts.external_loop;
  rv = ward__loop_new(&h->loop, h->external);
  ward__guard_init(&h->guard);
  if (!rv)
    rv = ward__guard_start(&h->guard);
  if (!rv)
    rv = ward__spawner_new(&h->spawner);
  h->timer_watch = (ward__watch){timer_ready, h};
  if (!rv && h->external)
    rv = ward__loop_timer(h->loop, -1, &h->timer_watch);
  if (!rv && !h->external) {
    /* The loop thread takes no signals: they stay the program's business. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&h->thread, NULL, io_main, h))
      rv = ward__fail(WARD_ESYS, "pthread_create failed");
    pthread_sigmask(SIG_SETMASK, &old, NULL);
  }
  if (rv) {
    ward__guard_stop(&h->guard);
    ward__spawner_free(h->spawner);
    ward__loop_free(h->loop);
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->lazy_mu);
    pthread_cond_destroy(&h->cond);
    free(h);
    return rv;
  }
  *out = h;
  return 0;
}

void ward_host_free(ward_host *h) {
  if (!h || ward__on_io_thread(h))
    return; /* not from a ward callback: it would wait for its own thread */
  /* Reverse start order: later workers may depend on earlier ones. */
  pthread_mutex_lock(&h->mu);
  ward_worker *w = h->last;
  while (w) {
    pthread_mutex_unlock(&h->mu);
    ward_worker_stop(w, -1);
    pthread_mutex_lock(&h->mu);
    w = w->prev;
  }
  h->quit = 1;
  pthread_mutex_unlock(&h->mu);
  ward__host_wake(h);
  if (h->external)
    loop_drain(h);
  else
    pthread_join(h->thread, NULL);
  while (h->groups)
    ward__group_destroy(h->groups);
  while ((w = h->first)) {
    h->first = w->next;
    ward__worker_destroy(w);
  }
  for (ward__task *t = h->tasks, *n; t; t = n) {
    n = t->next;
    ward__item_free(t->it);
    ward__conn_unref(t->conn);
    free(t);
  }
  for (ward__closed *q = h->closed, *n; q; q = n) {
    n = q->next;
    free(q);
  }
  for (size_t i = 0; i < h->ndead; i++)
    ward__conn_unref(h->dead[i]);
  free(h->dead);
  for (size_t i = 0; i < h->nlazy; i++)
    ward__conn_unref(h->lazy[i]);
  free(h->lazy);
  free(h->heap);
  ward__guard_stop(&h->guard);
  ward__spawner_free(h->spawner);
  pthread_mutex_destroy(&h->lazy_mu);
  ward__handlers_free(&h->handlers);
  ward__loop_free(h->loop);
  pthread_mutex_destroy(&h->mu);
  pthread_cond_destroy(&h->cond);
  free(h);
  ward__body_trim();
}

int ward_host_handle(ward_host *h, const char *method, ward_handler fn, void *ud) {
  if (!h)
    return ward__fail(WARD_EINVAL, "NULL host");
  pthread_mutex_lock(&h->mu);
  int rv = ward__handlers_set(&h->handlers, method, fn, ud);
  pthread_mutex_unlock(&h->mu);
  return rv;
}

void ward__host_sync(ward_host *h) {
  if (ward__on_io_thread(h))
    return;
  pthread_mutex_lock(&h->mu);
  uint64_t target = h->epoch + 2;
  while (h->epoch < target && !h->quit) {
    pthread_mutex_unlock(&h->mu);
    ward__host_wake(h);
    pthread_mutex_lock(&h->mu);
    if (h->epoch < target && !h->quit)
      ward__host_wait(h, ward__deadline(50));
  }
  pthread_mutex_unlock(&h->mu);
}

/* ------------------------------------------------------------------ */
/* Events                                                              */

ward__evq *ward__host_event(ward_host *h, ward_worker *w, int type, int pid, int code, int sig,
                            int reason, int error, const char *detail) {
  ward__evq *e = calloc(1, sizeof *e);
  if (!e)
    return NULL; /* an event lost to memory exhaustion; the state is still right */
  e->ev.type = type;
  e->ev.worker = w;
  e->ev.name = w->spec->name;
  e->ev.worker_id = w->id;
  e->ev.pid = pid;
  e->ev.generation = w->life.generation;
  e->ev.exit_code = code;
  e->ev.signal = sig;
  e->ev.reason = reason;
  e->ev.error = error;
  if (detail) {
    snprintf(e->detail, sizeof e->detail, "%s", detail);
    e->ev.detail = e->detail;
  }
  if (w->group) {
    snprintf(e->group, sizeof e->group, "%s", ward__group_name(w->group));
    e->ev.group = e->group;
  }
  if (h->events_tail)
    h->events_tail->next = e;
  else
    h->events = e;
  h->events_tail = e;
  return e;
}

static void deliver_events(ward_host *h) {
  pthread_mutex_lock(&h->mu);
  ward__evq *e = h->events;
  h->events = h->events_tail = NULL;
  pthread_mutex_unlock(&h->mu);
  while (e) {
    ward__evq *next = e->next;
    if (h->opts.on_event)
      h->opts.on_event(&e->ev, h->opts.event_ud);
    free(e->text);
    free(e);
    e = next;
  }
}

/* ------------------------------------------------------------------ */
/* Tasks: requests and notifications from workers to host handlers     */

/* The task queue is under the leaf lock, so that connection code may queue
 * tasks while the host mutex is held. */
void ward__host_task(ward_host *h, ward_worker *w, ward__conn *c, ward__item *it,
                     ward__call *call) {
  ward__task *t = malloc(sizeof *t);
  if (!t) {
    ward__item_free(it);
    return;
  }
  ward__conn_ref(c);
  t->next = NULL;
  t->w = w;
  t->conn = c;
  t->it = it;
  t->call = call;
  pthread_mutex_lock(&h->lazy_mu);
  if (h->tasks_tail)
    h->tasks_tail->next = t;
  else
    h->tasks = t;
  h->tasks_tail = t;
  pthread_mutex_unlock(&h->lazy_mu);
  if (!ward__on_io_thread(h))
    ward__host_wake(h);
}

void ward__host_cancel_task(ward_host *h, ward__conn *c, uint32_t id) {
  pthread_mutex_lock(&h->lazy_mu);
  for (ward__task *t = h->tasks; t; t = t->next)
    if (t->conn == c && t->it && t->it->h.kind == WARD__K_REQUEST && t->it->h.id == id)
      t->it->cancelled = 1;
  pthread_mutex_unlock(&h->lazy_mu);
}

static void run_tasks(ward_host *h) {
  pthread_mutex_lock(&h->lazy_mu);
  ward__task *t = h->tasks;
  h->tasks = h->tasks_tail = NULL;
  pthread_mutex_unlock(&h->lazy_mu);
  while (t) {
    ward__task *next = t->next;
    if (t->call) {
      ward__acall_process(t->conn, t->call);
      ward__conn_unref(t->conn);
      free(t);
      t = next;
      continue;
    }
    pthread_mutex_lock(&h->mu);
    const ward__handler_entry *e = ward__handlers_find(&h->handlers, t->it->name);
    ward_handler fn = e ? e->fn : NULL;
    void *ud = e ? e->ud : NULL;
    pthread_mutex_unlock(&h->mu);
    if (!fn) {
      ward__serve_nomethod(t->conn, t->it, 0);
    } else {
      ward_ctx ctx;
      memset(&ctx, 0, sizeof ctx);
      ctx.conn = t->conn;
      ctx.worker = t->w;
      ctx.block = 0; /* the loop thread never blocks on a worker */
      ward__serve(&ctx, t->it, fn, ud);
    }
    ward__conn_pending(t->conn, t->it->h.len, 0);
    ward__item_free(t->it);
    ward__conn_unref(t->conn);
    free(t);
    t = next;
  }
}

/* ------------------------------------------------------------------ */
/* Connections registered with the loop                                */

void ward__host_dead_conn(ward_host *h, ward__conn *c) {
  /* Lock held by the caller. */
  if (h->ndead == h->capdead) {
    size_t cap = h->capdead ? h->capdead * 2 : 8;
    ward__conn **d = realloc(h->dead, cap * sizeof *d);
    if (!d)
      return; /* leaks one conn rather than freeing it under the loop */
    h->dead = d;
    h->capdead = cap;
  }
  h->dead[h->ndead++] = c;
}

static void release_dead(ward_host *h) {
  pthread_mutex_lock(&h->mu);
  ward__conn **d = h->dead;
  size_t n = h->ndead;
  h->dead = NULL;
  h->ndead = h->capdead = 0;
  pthread_mutex_unlock(&h->mu);
  for (size_t i = 0; i < n; i++)
    ward__conn_unref(d[i]);
  free(d);
}

void ward__host_closed(ward_host *h, ward__conn *c, void (*closed)(ward__conn *c)) {
  ward__closed *q = malloc(sizeof *q);
  if (!q)
    return; /* the loop's registration then stays until the host goes */
  q->conn = c;
  q->closed = closed;
  pthread_mutex_lock(&h->lazy_mu);
  q->next = h->closed;
  h->closed = q;
  pthread_mutex_unlock(&h->lazy_mu);
  ward__host_wake(h);
}

void ward__host_run_closed(ward_host *h) {
  pthread_mutex_lock(&h->lazy_mu);
  ward__closed *q = h->closed;
  h->closed = NULL;
  pthread_mutex_unlock(&h->lazy_mu);
  while (q) {
    ward__closed *next = q->next;
    q->closed(q->conn);
    free(q);
    q = next;
  }
}

/* ------------------------------------------------------------------ */
/* The timer heap: workers ordered by `due`                            */

static void heap_swap(ward_host *h, size_t a, size_t b) {
  ward__timer *t = h->heap[a];
  h->heap[a] = h->heap[b];
  h->heap[b] = t;
  h->heap[a]->idx = a;
  h->heap[b]->idx = b;
}

static void heap_fix(ward_host *h, size_t i) {
  while (i > 0 && h->heap[(i - 1) / 2]->due > h->heap[i]->due) {
    heap_swap(h, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < h->nheap && h->heap[l]->due < h->heap[m]->due)
      m = l;
    if (r < h->nheap && h->heap[r]->due < h->heap[m]->due)
      m = r;
    if (m == i)
      return;
    heap_swap(h, i, m);
    i = m;
  }
}

void ward__timer_remove(ward_host *h, ward__timer *t) {
  size_t i = t->idx;
  t->due = INT64_MAX;
  if (i == SIZE_MAX)
    return;
  t->idx = SIZE_MAX;
  if (i != --h->nheap) {
    h->heap[i] = h->heap[h->nheap];
    h->heap[i]->idx = i;
    heap_fix(h, i);
  }
}

void ward__timer_set(ward_host *h, ward__timer *t, int64_t due) {
  if (due == INT64_MAX) {
    ward__timer_remove(h, t);
    return;
  }
  t->due = due;
  if (t->idx == SIZE_MAX) {
    if (h->nheap == h->capheap) {
      size_t cap = h->capheap ? h->capheap * 2 : 64;
      ward__timer **v = realloc(h->heap, cap * sizeof *v);
      if (!v)
        return; /* it fires at its next change */
      h->heap = v;
      h->capheap = cap;
    }
    t->idx = h->nheap;
    h->heap[h->nheap++] = t;
  }
  heap_fix(h, t->idx);
  /* The loop sleeps until the soonest timer it knew of: one set from
   * another thread that is sooner must wake it. */
  if (t->idx == 0 && !ward__on_io_thread(h))
    ward__host_wake(h);
}

/* Runs the timers that are due at `now`, without the lock. What a timer
 * fires for cannot be freed meanwhile (a free waits for the loop). */
static void run_timers(ward_host *h, int64_t now) {
  ward__timer *due[64];
  size_t n = 0;
  pthread_mutex_lock(&h->mu);
  while (n < 64 && h->nheap && h->heap[0]->due <= now) {
    ward__timer *t = h->heap[0];
    ward__timer_remove(h, t);
    due[n++] = t;
  }
  pthread_mutex_unlock(&h->mu);
  for (size_t i = 0; i < n; i++)
    due[i]->fire(due[i], now);
}

/* How long the loop may wait for its soonest timer, from `now` (lock
 * held): -1 for none. */
static int timer_wait(const ward_host *h, int64_t now) {
  if (!h->nheap)
    return -1;
  int64_t left = h->heap[0]->due - now;
  return left < 0 ? 0 : left > 60000 ? 60000 : (int)left + 1;
}

static void handle(const ward__loop_event *ev) {
  ward__watch *wt = ev->ptr;
  wt->ready(wt, ev->events);
}


/* How long a connection stays quiet before the loop reads it again. */
#define SETTLE_MS 1

/* Turns reading back on for connections callers have left alone; returns
 * whether some are still lazy (then the loop wakes up again soon). */
static int settle(ward_host *h, int64_t now) {
  pthread_mutex_lock(&h->lazy_mu);
  size_t n = h->nlazy;
  if (!n) {
    pthread_mutex_unlock(&h->lazy_mu);
    return 0;
  }
  ward__conn **v = h->lazy;
  size_t cap = h->caplazy;
  h->lazy = NULL;
  h->nlazy = h->caplazy = 0;
  pthread_mutex_unlock(&h->lazy_mu);
  size_t keep = 0;
  for (size_t i = 0; i < n; i++) {
    if (ward__conn_settle(v[i], now, SETTLE_MS))
      v[keep++] = v[i];
    else
      ward__conn_unref(v[i]);
  }
  pthread_mutex_lock(&h->lazy_mu);
  /* Merge with those added meanwhile (never the same conn twice: a conn is
   * added only when it turns lazy). */
  if (keep + h->nlazy > cap) {
    ward__conn **g = realloc(v, (keep + h->nlazy) * sizeof *g);
    if (g) {
      v = g;
      cap = keep + h->nlazy;
    }
  }
  /* Those that do not fit (no memory) are settled at once, but not under
   * lazy_mu: a connection's lock is taken before it, never after. */
  ward__conn **old = h->lazy;
  size_t nover = 0;
  for (size_t i = 0; i < h->nlazy; i++) {
    if (keep < cap)
      v[keep++] = old[i];
    else
      old[nover++] = old[i];
  }
  h->lazy = v;
  h->nlazy = keep;
  h->caplazy = cap;
  pthread_mutex_unlock(&h->lazy_mu);
  for (size_t i = 0; i < nover; i++) {
    ward__conn_settle(old[i], INT64_MAX, 0);
    ward__conn_unref(old[i]);
  }
  free(old);
  return keep > 0;
}

/* Whether tasks or closed connections wait for the loop. */
static int has_pending(ward_host *h) {
  pthread_mutex_lock(&h->lazy_mu);
  int pending = h->tasks || h->closed;
  pthread_mutex_unlock(&h->lazy_mu);
  return pending;
}

/* ------------------------------------------------------------------ */
/* Jobs for the loop's next turn                                       */

void ward__job_queue(ward_host *h, ward__job *job) {
  if (job->queued)
    return;
  job->queued = 1;
  job->next = NULL;
  job->prev = h->jobs_last;
  if (h->jobs_last)
    h->jobs_last->next = job;
  else
    h->jobs = job;
  h->jobs_last = job;
}

void ward__job_cancel(ward_host *h, ward__job *job) {
  if (!job->queued)
    return;
  if (job->prev)
    job->prev->next = job->next;
  else
    h->jobs = job->next;
  if (job->next)
    job->next->prev = job->prev;
  else
    h->jobs_last = job->prev;
  job->prev = job->next = NULL;
  job->queued = 0;
}

/* Runs the queued jobs, oldest first, each without the lock (lock held). */
static void run_jobs(ward_host *h) {
  ward__job *job;
  while ((job = h->jobs)) {
    ward__job_cancel(h, job);
    pthread_mutex_unlock(&h->mu);
    job->run(job);
    pthread_mutex_lock(&h->mu);
  }
}

/* Releases the handles freed from callbacks whose workers have stopped,
 * two loop turns after, when no batch, task or event refers to them any
 * more (as ward__host_sync does for a free from another thread). */
static void free_stopped(ward_host *h) {
  ward_worker *done = NULL;
  pthread_mutex_lock(&h->mu);
  h->freeing = 0;
  for (ward_worker **pp = &h->to_free; *pp;) {
    ward_worker *w = *pp;
    if (w->life.state != WARD__L_STOPPED) {
      pp = &w->free_next;
      continue;
    }
    if (!w->free_epoch)
      w->free_epoch = h->epoch + 1;
    if (h->epoch < w->free_epoch + 1) {
      h->freeing = 1;
      pp = &w->free_next;
      continue;
    }
    *pp = w->free_next;
    ward__timer_remove(h, &w->timer);
    ward__worker_unlink(h, w);
    w->free_next = done;
    done = w;
  }
  pthread_mutex_unlock(&h->mu);
  while (done) {
    ward_worker *next = done->free_next;
    ward__worker_destroy(done);
    done = next;
  }
}

/* One turn of the loop: start queued workers, wait for events (at most
 * `max_wait_ms`, negative: as long as nothing is due), handle them, run
 * timers, tasks and events. */
static void loop_once(ward_host *h, int max_wait_ms) {
  ward__loop_event evs[64];
  pthread_mutex_lock(&h->mu);
  run_jobs(h); /* starts queued workers, say */
  int timeout = timer_wait(h, ward__now_ms());
  int events = h->events != NULL || h->freeing; /* queued by those starts, say */
  pthread_mutex_unlock(&h->mu);
  if (h->settling && (timeout < 0 || timeout > SETTLE_MS))
    timeout = SETTLE_MS;
  /* Work queued by this thread itself (timers, callbacks) runs now. */
  if (events || has_pending(h))
    timeout = 0;
  if (max_wait_ms >= 0 && (timeout < 0 || timeout > max_wait_ms))
    timeout = max_wait_ms;
  int n = ward__loop_wait(h->loop, evs, 64, timeout);
  /* The turn's time: timers and settling decide by this one reading. */
  int64_t now = ward__now_ms();
  for (int i = 0; i < n; i++)
    handle(&evs[i]);
  ward__host_run_closed(h);
  run_timers(h, now);
  run_tasks(h);
  h->settling = settle(h, now);
  release_dead(h);
  deliver_events(h);
  free_stopped(h);
  pthread_mutex_lock(&h->mu);
  h->epoch++;
  pthread_cond_broadcast(&h->cond);
  pthread_mutex_unlock(&h->mu);
}

/* The last turn, once the host is going: nothing may stay queued. */
static void loop_drain(ward_host *h) {
  ward__host_run_closed(h);
  run_tasks(h);
  settle(h, INT64_MAX);
  release_dead(h);
  deliver_events(h);
}

static void *io_main(void *arg) {
  ward_host *h = arg;
  for (;;) {
    pthread_mutex_lock(&h->mu);
    int quit = h->quit;
    pthread_mutex_unlock(&h->mu);
    if (quit)
      break;
    loop_once(h, -1);
  }
  loop_drain(h);
  return NULL;
}

/* External loop: makes the descriptor readable when the next timer is due
 * (or at once when work is queued). */
static void arm_timer(ward_host *h) {
  pthread_mutex_lock(&h->mu);
  int64_t next = h->nheap ? h->heap[0]->due : INT64_MAX;
  pthread_mutex_unlock(&h->mu);
  int64_t now = ward__now_ms(); /* for the program's loop, after this turn */
  if (h->settling && next > now + SETTLE_MS)
    next = now + SETTLE_MS;
  pthread_mutex_lock(&h->mu);
  int freeing = h->freeing;
  pthread_mutex_unlock(&h->mu);
  ward__loop_timer(h->loop, has_pending(h) || freeing ? 0
                            : next == INT64_MAX        ? -1
                            : next <= now              ? 0
                                                       : next - now,
                   &h->timer_watch);
}

/* Runs the external loop once on this thread (lock held, loop free). */
static void drive(ward_host *h, int max_wait_ms) {
  h->loop_busy = 1;
  const ward_host *outer = driving;
  driving = h;
  pthread_mutex_unlock(&h->mu);
  loop_once(h, max_wait_ms);
  arm_timer(h);
  pthread_mutex_lock(&h->mu);
  driving = outer;
  h->loop_busy = 0;
  pthread_cond_broadcast(&h->cond);
}

int ward__host_wait(ward_host *h, int64_t deadline) {
  if (!h->external || h->quit || h->loop_busy)
    return ward__cond_wait(&h->cond, &h->mu, deadline);
  int64_t left = deadline == INT64_MAX ? 100 : deadline - ward__now_ms();
  if (left <= 0)
    return WARD_ETIMEDOUT;
  drive(h, left > 100 ? 100 : (int)left);
  return 0;
}

void ward__host_run_pending(ward_host *h) {
  if (!has_pending(h))
    return;
  pthread_mutex_lock(&h->mu);
  if (!h->loop_busy && !h->quit)
    drive(h, 0);
  pthread_mutex_unlock(&h->mu);
}

ward_os_handle ward_host_fd(const ward_host *h) {
  if (!h || !h->external) {
    ward__fail(WARD_EINVAL, "ward_host_fd: not a host with an external loop");
    return WARD_OS_HANDLE_ERROR;
  }
  return (ward_os_handle)ward__loop_fd(h->loop);
}

int ward_host_dispatch(ward_host *h, int timeout_ms) {
  if (!h || !h->external)
    return ward__fail(WARD_EINVAL, "ward_host_dispatch: not a host with an external loop");
  pthread_mutex_lock(&h->mu);
  if (h->loop_busy) {
    int own = driving == h;
    pthread_mutex_unlock(&h->mu);
    return own ? ward__fail(WARD_EINVAL, "ward_host_dispatch called from a ward callback") : 0;
  }
  drive(h, timeout_ms);
  pthread_mutex_unlock(&h->mu);
  return 0;
}
