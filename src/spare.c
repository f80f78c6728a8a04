/*
 * spare.c — warm spares and the replacement of a worker's process
 * (ward_spec_spares, ward_worker_replace).
 *
 * Design notes
 * ------------
 * A process started for a worker ahead of need lives in a hidden handle:
 * a ward_worker of its own, in no list of the host's (so the program never
 * sees it), with its worker's id and data directory, whose events are
 * dropped (ward__host_event) and whose own machine (lifecycle.c) runs its
 * start, handshake, heartbeats and restarts as for any worker. Its spec is
 * the worker's, but never lazy, idle or recycled, always restarted, and
 * failed starts follow the policy (its backoff spaces out a spare that
 * keeps dying; nobody waits for it).
 *
 * The worker's machine knows how many spares are ready (LE_SPARES) and
 * skips the backoff when one is; whenever it queues a start, the loop
 * (start_job in worker.c) asks here first: a ready spare's process moves
 * into the worker (ward__worker_swap), the machine is told it adopted a
 * ready process (LE_ADOPTED: a new generation, ready at once), and the
 * spare starts another process in the background.
 *
 * A replacement is a hidden handle too, of the new spec, that must become
 * ready (and pass its doctor) before a swap on the loop gives the worker
 * its process and the hidden handle the old one, whose calls in flight
 * finish on the old connection before it is stopped and freed.
 *
 * Owns: the hidden handles of each worker. May not decide what becomes of
 * the worker: the machine does, on the events posted here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "worker.h"

/* Posts an event of `type` alone to `w` (lock held); the machine's answer. */
static int post(ward_worker *w, int type) {
  ward__lev ev = {.type = type};
  ward__lout o;
  ward__worker_post(w, &ev, &o);
  return o.status;
}

static int at_rest(const ward_worker *x) {
  ward__lstate st = x->life.state;
  return st == WARD__L_STOPPED || st == WARD__L_EXITED || st == WARD__L_FAILED;
}

/* A hidden handle of `w` for `spec` (lock held; NULL without memory). */
static ward_worker *hidden_new(ward_worker *w, const ward_spec *spec, int spare) {
  ward_worker *x = ward__worker_alloc(w->host, spec);
  if (!x)
    return NULL;
  x->spare_of = w;
  x->id = w->id;
  ward_spec *s = x->spec;
  s->spares = 0;
  s->lazy = 0;
  s->idle_ms = 0;
  s->max_requests = 0;
  /* A spare that dies is started again, its backoff spacing out one that
   * keeps dying; a replacement is tried once, and its caller told. */
  s->supervise_start = spare;
  s->policy.restart = spare ? WARD_RESTART_ALWAYS : WARD_RESTART_NEVER;
  if (w->data_dir && !s->no_data_dir && !(x->data_dir = strdup(w->data_dir))) {
    ward__worker_destroy(x);
    return NULL;
  }
  return x;
}

/* Starts a hidden handle's process (lock held). */
static void hidden_start(ward_worker *x) {
  x->spawn_err = 0;
  x->spawn_text[0] = 0;
  x->spawn_errno = 0;
  post(x, WARD__LE_START);
}

/* Stops a hidden handle and frees it (lock not held). */
static void hidden_free(ward_worker *x) {
  ward_host *h = x->host;
  ward_worker_stop(x, -1);
  pthread_mutex_lock(&h->mu);
  x->unlinked = 1;
  ward__timer_remove(h, &x->timer);
  pthread_mutex_unlock(&h->mu);
  ward__host_sync(h);
  ward__worker_destroy(x);
}

/* ------------------------------------------------------------------ */
/* Spares                                                              */

/* Tells the worker's machine how many spares are ready, if that changed. */
static void count_ready(ward_worker *w) {
  uint32_t n = 0;
  for (size_t i = 0; i < w->nspares; i++)
    n += w->spares[i]->life.state == WARD__L_READY && !w->spares[i]->life.paused;
  if (n == w->life.spares_ready)
    return;
  ward__lev ev = {.type = WARD__LE_SPARES, .spares = (int)n};
  ward__worker_post(w, &ev, NULL);
}

/* Makes the spares the spec asks for and starts those at rest. Without
 * memory for one, the worker has fewer: it starts processes as before. */
static void ensure_spares(ward_worker *w) {
  size_t want = w->spec->spares;
  if (w->nspares < want) {
    ward_worker **v = realloc(w->spares, want * sizeof *v);
    if (v) {
      w->spares = v;
      while (w->nspares < want) {
        ward_worker *x = hidden_new(w, w->spec, 1);
        if (!x)
          break;
        w->spares[w->nspares++] = x;
      }
    }
  }
  for (size_t i = 0; i < w->nspares; i++)
    if (at_rest(w->spares[i]))
      hidden_start(w->spares[i]);
}

static void stop_spares(ward_worker *w) {
  for (size_t i = 0; i < w->nspares; i++) {
    ward__lev ev = {.type = WARD__LE_STOP, .grace_ms = -1};
    ward__worker_post(w->spares[i], &ev, NULL);
  }
}

void ward__spares_after(ward_worker *w, ward__lstate was, uint32_t readies_was) {
  ward__lstate st = w->life.state;
  if (w->spare_of) {
    if ((was == WARD__L_READY) != (st == WARD__L_READY))
      count_ready(w->spare_of);
    return;
  }
  /* At rest, or going there: nothing will take a spare. */
  if (st != was && (st == WARD__L_STOPPING || at_rest(w)))
    stop_spares(w);
  else if (w->life.readies != readies_was && w->life.state == WARD__L_READY && !w->replacing)
    ensure_spares(w); /* (a replacement renews them itself) */
}

int ward__spares_adopt(ward_worker *w) {
  if (w->spare_of || w->life.state != WARD__L_QUEUED)
    return 0;
  ward_worker *x = NULL;
  for (size_t i = 0; i < w->nspares && !x; i++)
    if (w->spares[i]->life.state == WARD__L_READY && !w->spares[i]->life.paused)
      x = w->spares[i];
  if (!x)
    return 0;
  ward__worker_swap(w, x);
  ward__worker_take_hello(w, x);
  ward__lev ev = {.type = WARD__LE_ADOPTED, .kernel_memory = x->life.kernel_memory};
  ward__worker_post(w, &ev, NULL);
  /* What the spare wrote while it waited (its start-up, and what spares
   * that died before it wrote) is the new generation's from now on. */
  ward__output_take(w, x, w->life.generation);
  /* The spare holds nothing now (a queued worker had no process): it
   * starts another. */
  post(x, WARD__LE_GIVEN);
  count_ready(w);
  return 1;
}

int ward__spares_stopped(const ward_worker *w) {
  for (size_t i = 0; i < w->nspares; i++)
    if (w->spares[i]->life.state == WARD__L_STOPPING)
      return 0;
  return 1;
}

void ward__spares_wait_stopped(ward_worker *w) {
  for (size_t i = 0; i < w->nspares; i++) {
    ward_worker *x = w->spares[i];
    while (x->life.state == WARD__L_STOPPING && x->life.stop_step < 3)
      ward__host_wait(w->host, INT64_MAX);
  }
}

void ward__spares_unlink(ward_worker *w) {
  for (size_t i = 0; i < w->nspares; i++) {
    w->spares[i]->unlinked = 1;
    ward__timer_remove(w->host, &w->spares[i]->timer);
  }
}

void ward__spares_destroy(ward_worker *w) {
  for (size_t i = 0; i < w->nspares; i++)
    ward__worker_destroy(w->spares[i]);
  free(w->spares);
  w->spares = NULL;
  w->nspares = 0;
}

int ward__spares_own_pid(const ward_worker *w, int pid) {
  for (size_t i = 0; i < w->nspares; i++)
    if (w->spares[i]->proc.pid == pid)
      return 1;
  /* A replacement's process, new or old. */
  return w->swap_with && w->swap_with->proc.pid == pid;
}

/* ------------------------------------------------------------------ */
/* Replacement                                                         */

/* Calls that were in flight on the old process when the new one took
 * over, still to end. */
void ward__spares_old_call_done(ward_worker *w) {
  if (!w->replacing)
    return;
  if (w->old_calls)
    w->old_calls--;
  pthread_cond_broadcast(&w->host->cond);
}

/* The loop's job: if both are still ready, the worker takes the new
 * process and its spec, the hidden handle the old ones. */
static void swap_job(ward__job *job) {
  ward_worker *w = job->obj;
  ward_host *h = w->host;
  pthread_mutex_lock(&h->mu);
  ward_worker *x = w->swap_with;
  ward_spec **v = realloc(w->old_specs, (w->nold_specs + 2) * sizeof *v);
  if (v)
    w->old_specs = v;
  if (v && w->life.state == WARD__L_READY && !w->life.paused &&
      x->life.state == WARD__L_READY) {
    ward__worker_swap(w, x);
    /* The old process goes under its own spec (its grace, its goodbye),
     * which stays the worker's to free: a caller may still read it. The
     * worker takes the caller's spec as given (the hidden handle's copy
     * was bent to be tried once). */
    w->old_specs[w->nold_specs++] = x->spec;
    w->old_specs[w->nold_specs++] = w->spec;
    x->spec = w->spec;
    x->spec_borrowed = 1;
    w->spec = w->next_spec;
    w->next_spec = NULL;
    /* A directory the new spec asked for and the worker had none of. */
    if (!w->data_dir && x->data_dir) {
      w->data_dir = x->data_dir;
      x->data_dir = NULL;
    }
    ward__worker_take_hello(w, x);
    w->old_calls = w->life.inflight;
    w->old_generation = w->life.generation;
    ward__lev ev = {.type = WARD__LE_ADOPTED, .kernel_memory = x->life.kernel_memory};
    ward__worker_post(w, &ev, NULL);
    /* What the new process wrote while it was readied. */
    ward__output_take(w, x, w->life.generation);
    w->swap_done = 1;
  } else {
    w->swap_done = -1;
  }
  pthread_cond_broadcast(&h->cond);
  pthread_mutex_unlock(&h->mu);
}

/* Waits (lock held) for the hidden handle's first start to end: 0 once
 * it is ready, else why not (its error and text kept in the handle). */
static int wait_new(ward_worker *x, int64_t deadline) {
  while (x->life.spawning &&
         (x->life.state == WARD__L_QUEUED || x->life.state == WARD__L_STARTING))
    if (ward__host_wait(x->host, deadline) == WARD_ETIMEDOUT)
      return ward__fail(WARD_ETIMEDOUT, "worker '%s': the new process was not ready within "
                                        "ward_replace_opts.ready_ms",
                        x->spec->name);
  if (x->life.state == WARD__L_READY)
    return 0;
  if (!x->spawn_err)
    ward__worker_spawn_err(x, WARD_EHANDSHAKE, 0,
                           x->life.state == WARD__L_EXITED ? "exited before it took over"
                                                           : "stopped before it took over");
  return x->spawn_err;
}

/* A replacement's doctor check (lock not held): 0 when no check is in
 * error; WARD_EREMOTE naming each one that is; the call's error. */
int ward__doctor_passes(ward_worker *x, int timeout_ms) {
  ward_doctor_report *r;
  int rv = ward_doctor(&r, x, timeout_ms < 1 ? 1 : timeout_ms);
  if (rv)
    return ward__fail_keep(rv, ward_last_errno(), ward_last_error());
  char failed[400] = "";
  size_t used = 0;
  for (size_t i = 0; i < r->count && used + 1 < sizeof failed; i++)
    if (r->checks[i].status == WARD_CHECK_ERROR) {
      int k = snprintf(failed + used, sizeof failed - used, "%sdoctor check '%s' failed: %s",
                       used ? "; " : "", r->checks[i].name, r->checks[i].message);
      used += k > 0 ? (size_t)k : 0;
    }
  int worst = r->worst;
  ward_doctor_report_free(r);
  if (worst != WARD_CHECK_ERROR)
    return 0;
  return ward__fail(WARD_EREMOTE, "its %s", failed);
}

/* Ends the old spares and starts those of the new spec (lock held on
 * entry and return). They stop while still the worker's, so their
 * processes stay its own until reaped (ward_host_reap_orphans). */
static void renew_spares(ward_worker *w) {
  ward_host *h = w->host;
  stop_spares(w);
  ward__spares_wait_stopped(w);
  ward_worker **old = w->spares;
  size_t n = w->nspares;
  w->spares = NULL;
  w->nspares = 0;
  count_ready(w);
  pthread_mutex_unlock(&h->mu);
  for (size_t i = 0; i < n; i++)
    hidden_free(old[i]);
  free(old);
  pthread_mutex_lock(&h->mu);
  if (w->life.state == WARD__L_READY)
    ensure_spares(w);
}

/* Checks the arguments (no lock). */
static int replace_args(ward_worker *w, const ward_spec *ns, const ward_replace_opts *caller,
                        ward_replace_opts *o) {
  if (!w || !ns)
    return ward__fail(WARD_EINVAL, "ward_worker_replace needs a worker and a spec");
  int rv = ward__replace_opts_take(o, caller);
  if (rv)
    return rv;
  if (o->ready_ms <= 0 || o->drain_ms < 0)
    return ward__fail(WARD_EINVAL, "ward_replace_opts needs ready_ms > 0 and drain_ms >= 0");
  if (w->spare_of)
    return ward__fail(WARD_EINVAL, "not a worker of the program's");
  if (strcmp(ns->name, w->spec->name) != 0)
    return ward__fail(WARD_EINVAL, "replacing worker '%s' with a spec named '%s'",
                      w->spec->name, ns->name);
  if (ward__on_io_thread(w->host))
    return ward__fail(WARD_EINVAL, "not from a ward callback: it waits for the I/O thread");
  return 0;
}

/* Readies the new process (lock held on entry and return): 0, or why it
 * did not become ready. */
static int ready_new(ward_worker *w, ward_worker *x, const ward_replace_opts *o) {
  ward_host *h = w->host;
  int64_t deadline = ward__deadline(o->ready_ms);
  hidden_start(x);
  int rv = wait_new(x, deadline);
  if (rv == WARD_ETIMEDOUT)
    return rv;
  if (rv)
    return ward__fail_keep(rv, x->spawn_errno, x->spawn_text);
  if (!o->doctor)
    return 0;
  int64_t left = deadline - ward__now_ms();
  pthread_mutex_unlock(&h->mu);
  rv = ward__doctor_passes(x, left > 0 ? (int)left : 0);
  pthread_mutex_lock(&h->mu);
  if (rv) {
    char why[600];
    snprintf(why, sizeof why, "worker '%s': %s", w->spec->name, ward_last_error());
    rv = ward__fail_keep(rv, ward_last_errno(), why);
  }
  return rv;
}

/* Gives the worker the new process on the loop (lock held): 0, or
 * WARD_ECLOSED when the worker was no longer ready for it. */
static int hand_over(ward_worker *w, ward_worker *x) {
  ward_host *h = w->host;
  w->swap_with = x;
  w->swap_done = 0;
  w->swap_job.run = swap_job;
  w->swap_job.obj = w;
  ward__job_queue(h, &w->swap_job);
  ward__host_wake(h);
  while (!w->swap_done)
    ward__host_wait(h, INT64_MAX);
  if (w->swap_done < 0)
    return ward__fail(WARD_ECLOSED, "worker '%s' stopped being ready during its replacement",
                      w->spec->name);
  return 0;
}

/* Lets the old process's calls finish within `drain_ms` (lock held). */
static void drain_old(ward_worker *w, int drain_ms) {
  int64_t deadline = ward__deadline(drain_ms);
  while (w->old_calls && ward__host_wait(w->host, deadline) != WARD_ETIMEDOUT)
    ;
}

int ward_worker_replace(ward_worker *w, const ward_spec *ns, const ward_replace_opts *caller) {
  ward_replace_opts o;
  int rv = replace_args(w, ns, caller, &o);
  if (rv)
    return rv;
  ward_host *h = w->host;
  pthread_mutex_lock(&h->mu);
  if (w->replacing) {
    pthread_mutex_unlock(&h->mu);
    return ward__fail(WARD_EINVAL, "worker '%s' is being replaced already", w->spec->name);
  }
  if (w->life.state != WARD__L_READY || w->life.paused) {
    rv = ward__fail(WARD_ECLOSED, "worker '%s' is %s: only a ready worker is replaced",
                    w->spec->name, w->life.paused ? "paused"
                                                  : ward_state_name(ward__life_public(&w->life)));
    pthread_mutex_unlock(&h->mu);
    return rv;
  }
  ward_worker *x = hidden_new(w, ns, 0);
  if (x && !(w->next_spec = ward__spec_dup(ns))) {
    ward__worker_destroy(x);
    x = NULL;
  }
  if (!x) {
    pthread_mutex_unlock(&h->mu);
    return ward__fail(WARD_ENOMEM, "no memory for a replacement");
  }
  w->replacing = 1;
  w->swap_with = x;
  rv = ready_new(w, x, &o);
  if (!rv)
    rv = hand_over(w, x);
  char why[sizeof x->spawn_text + 64];
  snprintf(why, sizeof why, "%s", rv ? ward_last_error() : "");
  int sys = rv ? ward_last_errno() : 0;
  if (!rv) {
    /* Now `x` holds the old process: its calls finish, then it goes. */
    drain_old(w, o.drain_ms);
    renew_spares(w);
  }
  w->old_calls = 0;
  ward_spec *unused = w->next_spec; /* not taken: the replacement failed */
  w->next_spec = NULL;
  pthread_mutex_unlock(&h->mu);
  ward_spec_free(unused);
  /* Its process (new or old) is the worker's until it is gone
   * (ward_host_reap_orphans leaves it alone); then the handle goes. */
  ward_worker_stop(x, -1);
  pthread_mutex_lock(&h->mu);
  /* The old process's last lines, from the swap to its end, are the
   * worker's too (a replacement that failed leaves its own in why). */
  if (!rv)
    ward__output_take(w, x, w->old_generation);
  w->swap_with = NULL;
  w->replacing = 0;
  pthread_mutex_unlock(&h->mu);
  hidden_free(x);
  return rv ? ward__fail_keep(rv, sys, why) : 0;
}
