/*
 * host.c — the host object: its workers, and the work its loop (loop.c)
 * does for it at the end of each turn.
 *
 * Design notes
 * ------------
 * One thread per host (or the program's own loop) runs the loop over: its
 * wake-up, each worker's exit watch (a pidfd on Linux), each connection
 * while no caller is reading it, and the listening sockets of socket-mode
 * spawns. It starts processes (so that PR_SET_PDEATHSIG, which follows the
 * thread that forked, lasts as long as the host), reaps them, runs
 * host-side handlers and delivers events.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "host_int.h"
#include "worker.h"

void ward__host_wake(ward_host *h) { ward__loop_wake(h->loop); }

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
  /* Where its workers' process trees go (cgroups where there are some to
   * be had); the base's name is not kept. */
  if (!rv)
    rv = ward__trees_new(&h->trees, h->opts.cgroup, h->opts.no_cgroup);
  h->opts.cgroup = NULL;
  if (!rv)
    ward__guard_tree(&h->guard, ward__trees_dir(h->trees));
  h->timer_watch = (ward__watch){timer_ready, h};
  if (!rv && h->external)
    rv = ward__loop_timer(h->loop, -1, &h->timer_watch);
  if (!rv && !h->external) {
    rv = ward__thread_start(&h->thread, ward__loop_main, h);
  }
  if (rv) {
    ward__trees_free(h->trees);
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

/* Whether `pid` is a process the host started and reaps itself. */
static int owns_pid(ward_host *h, int pid) {
  for (ward_worker *w = h->first; w; w = w->next)
    if (w->proc.pid == pid || ward__spares_own_pid(w, pid))
      return 1;
  return 0;
}

int ward_host_reap_orphans(ward_host *h, ward_orphan_fn fn, void *ud) {
  if (!h)
    return ward__fail(WARD_EINVAL, "ward_host_reap_orphans: NULL host");
  int reaped = 0;
  for (;;) {
    int pid, code, sig;
    int rv = ward__child_ended(&pid);
    if (rv <= 0)
      return rv < 0 ? rv : reaped;
    /* A worker's zombie keeps its pid in the worker until the loop reaps
     * it, so the check and the reap below cannot meet a reused pid. */
    pthread_mutex_lock(&h->mu);
    int ours = owns_pid(h, pid);
    pthread_mutex_unlock(&h->mu);
    if (ours)
      return reaped; /* the loop's, and it stands before the others */
    ward__child_reap(pid, &code, &sig);
    /* The guard ends with the host; ended before, it is no orphan of the
     * program's but it must not block the others (ward__guard_stop finds
     * it gone). */
    if (pid == h->guard.pid)
      continue;
    reaped++;
    if (fn)
      fn(pid, code, sig, ud);
  }
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
    ward__loop_drain(h);
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
  ward__trees_free(h->trees); /* before the guard, which would do it too */
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
  /* A hidden handle's process (a spare, a replacement being readied, an
   * old process draining) is no process of the program's: what happens
   * to it is no event, and a spare's failure must not look like one. */
  if (w->spare_of)
    return NULL;
  ward__evq *e = calloc(1, sizeof *e);
  if (!e)
    return NULL; /* an event lost to memory exhaustion; the state is still right */
  e->ev.type = type;
  e->ev.worker = w;
  e->ev.name = w->spec->name;
  e->ev.proc_class = w->spec->proc_class;
  e->ev.worker_id = w->id;
  e->ev.pid = pid;
  e->ev.generation = w->life.generation;
  e->ev.exit_code = code;
  e->ev.signal = sig;
  e->ev.reason = reason;
  e->ev.error = error;
  if (detail && strlen(detail) >= sizeof e->detail && (e->text = strdup(detail))) {
    e->ev.detail = e->text; /* an exit's last words on stderr, say */
  } else if (detail) {
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
  h->log_event_bytes = 0; /* these are delivered now: the next may wait */
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
    if (!t->call && !t->it) {
      /* A kick of the shared-memory transport (worker.c, host_kick). */
      ward__conn_pump(t->conn);
      ward__conn_unref(t->conn);
      free(t);
      t = next;
      continue;
    }
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
    ward__conn_pending(t->conn, ward__item_weight(t->it), 0);
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
    if (ward__conn_settle(v[i], now, WARD__SETTLE_MS))
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
int ward__host_has_pending(ward_host *h) {
  pthread_mutex_lock(&h->lazy_mu);
  int pending = h->tasks || h->closed;
  pthread_mutex_unlock(&h->lazy_mu);
  return pending;
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
    if (w->life.state != WARD__L_STOPPED || !ward__spares_stopped(w)) {
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
    w->unlinked = 1;
    ward__timer_remove(h, &w->timer);
    ward__spares_unlink(w);
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

/* The end of a loop turn, after its I/O and timers: tasks, the
 * connections to read again, the references the turn held, events, and
 * the handles freed from callbacks. */
void ward__host_end_turn(ward_host *h, int64_t now) {
  run_tasks(h);
  h->settling = settle(h, now);
  release_dead(h);
  deliver_events(h);
  free_stopped(h);
}

/* The last turn, once the host is going: nothing may stay queued. */
void ward__host_last_turn(ward_host *h) {
  ward__host_run_closed(h);
  run_tasks(h);
  settle(h, INT64_MAX);
  release_dead(h);
  deliver_events(h);
}
