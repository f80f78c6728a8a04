/*
 * pool.c — worker pools (see ward.h).
 *
 * The pool hands each call to one worker at a time: workers serve their
 * calls one by one anyway, so queueing a call behind another on a busy
 * worker would only hide a free one. The pool's own lock never covers a
 * call, a spawn or a stop. A worker added while calls wait is started on a
 * thread of its own, so that no caller waits for it past its deadline.
 *
 * A replacement (ward_pool_replace) moves the pool to a new spec member by
 * member. Each member carries the generation of the spec it was started
 * from; the replacement claims a member of an older generation, so that
 * nothing else takes it out of the pool, starts its successor, and then,
 * in one step under the lock, adds the successor and marks the member
 * draining: it takes no new call, so the number of members that serve
 * never drops. Once its call in flight has ended (or the drain time is up
 * and the member's stop has ended it), the member is taken out and stopped
 * like one stopped for idling. The spec the pool grows with switches to the
 * new one when the first new member is ready, and only then, so a spec
 * that cannot start never reaches the pool.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "spec.h"
#include "worker.h"

/* Where a member stands with a replacement. */
enum { MEMBER, CLAIMED, DRAINING };

typedef struct slot {
  ward_worker *w;
  int busy;
  int64_t last_used;
  unsigned gen;  /* that of the spec it was started from */
  int replacing; /* MEMBER, CLAIMED (serving; only the replacement takes
                    it out) or DRAINING (no new call) */
} slot;

struct ward_pool {
  ward_host *host;
  ward_spec *spec; /* what members start from; changed under the lock */
  unsigned gen;     /* its generation: 0, then one per replacement */
  int replacing;    /* a ward_pool_replace under way */
  ward_pool_opts o;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  slot *slots;
  size_t n, cap;
  int growing; /* a spawn in progress, counted in against the maximum */
  int quit;
  int has_reaper;
  /* Stopped for idling, freed at the next pool call: the handles
   * ward_pool_workers gave out stay valid until then. */
  ward_worker **retired;
  size_t nretired, capretired;
  pthread_t reaper; /* stops workers idle past the idle time */
  ward_pool_stats stats;
};

static void *reaper_main(void *arg);
static void free_retired(ward_pool *p);

/* The thread's last error, kept while a cleanup that may write another
 * runs. */
typedef struct kept_error {
  int sys;
  char text[512];
} kept_error;

static kept_error keep_error(void) {
  kept_error k;
  k.sys = ward_last_errno();
  snprintf(k.text, sizeof k.text, "%s", ward_last_error());
  return k;
}

/* One background spawn, shared by its thread and the caller that asked. */
typedef struct growth {
  ward_pool *p;
  int refs, done, rv, sys;
  char text[256];
} growth;

/* Adds started worker `w` of generation `gen` (pool lock held);
 * WARD_ENOMEM if there is no room for it. */
static int add_slot(ward_pool *p, ward_worker *w, unsigned gen) {
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 8;
    slot *v = realloc(p->slots, cap * sizeof *v);
    if (!v)
      return WARD_ENOMEM;
    p->slots = v;
    p->cap = cap;
  }
  p->slots[p->n++] = (slot){w, 0, ward__now_ms(), gen, MEMBER};
  return 0;
}

static int add_worker(ward_pool *p) {
  ward_worker *w = NULL;
  /* A copy of the spec: a replacement may change the pool's meanwhile. */
  pthread_mutex_lock(&p->mu);
  ward_spec *spec = ward__spec_dup(p->spec);
  unsigned gen = p->gen;
  pthread_mutex_unlock(&p->mu);
  if (!spec)
    return ward__fail(WARD_ENOMEM, "no memory for a pool worker's spec");
  int rv = ward_spawn(&w, p->host, spec);
  ward_spec_free(spec);
  int started = rv == WARD_OK;
  pthread_mutex_lock(&p->mu);
  if (!rv)
    rv = add_slot(p, w, gen);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  if (started && rv)
    ward_worker_free(w); /* started, but no room to keep it */
  return rv;
}

static void growth_unref(growth *g) {
  if (--g->refs == 0)
    free(g);
}

static void *grow_main(void *arg) {
  growth *g = arg;
  ward_pool *p = g->p;
  int rv = add_worker(p);
  int sys = ward_last_errno();
  char text[sizeof g->text];
  snprintf(text, sizeof text, "%s", rv ? ward_last_error() : "");
  pthread_mutex_lock(&p->mu);
  g->done = 1;
  g->rv = rv;
  g->sys = sys;
  memcpy(g->text, text, sizeof text);
  p->growing--;
  growth_unref(g);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* Starts adding a worker in the background (pool lock held, `growing`
 * already counts it); NULL if no thread could be had. */
static growth *grow(ward_pool *p) {
  growth *g = calloc(1, sizeof *g);
  if (!g)
    return NULL;
  g->p = p;
  g->refs = 2;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  int err = pthread_create(&t, &a, grow_main, g);
  pthread_attr_destroy(&a);
  if (err) {
    free(g);
    return NULL;
  }
  return g;
}

int ward_pool_new(ward_pool **out, ward_host *h, const ward_spec *spec,
                  const ward_pool_opts *caller_opts) {
  if (!out || !h || !spec)
    return ward__fail(WARD_EINVAL, "ward_pool_new needs out, a host and a spec");
  *out = NULL;
  ward_pool_opts o;
  const ward_pool_opts *opts = &o;
  int rv = ward__pool_opts_take(&o, caller_opts);
  if (rv)
    return rv;
  if (opts->min_workers < 0 || opts->max_workers < 1 || opts->min_workers > opts->max_workers ||
      opts->idle_ms < 0)
    return ward__fail(WARD_EINVAL, "pool sizes need 0 <= min <= max, max >= 1");
  if (opts->spares < -1 || opts->spares > WARD_MAX_SPARES)
    return ward__fail(WARD_EINVAL, "ward_pool_opts.spares %d: -1 (the spec's) or 0..%d",
                      opts->spares, WARD_MAX_SPARES);
  ward_pool *p = calloc(1, sizeof *p);
  if (!p)
    return WARD_ENOMEM;
  p->spec = ward__spec_dup(spec);
  if (!p->spec) {
    free(p);
    return WARD_ENOMEM;
  }
  /* Spares are each member's own (ward_spec_spares). */
  if (opts->spares >= 0)
    p->spec->spares = (uint32_t)opts->spares;
  p->host = h;
  p->o = *opts;
  pthread_mutex_init(&p->mu, NULL);
  ward__cond_init(&p->cv);
  for (int i = 0; i < opts->min_workers; i++) {
    rv = add_worker(p);
    if (rv) {
      kept_error k = keep_error();
      ward_pool_free(p);
      return ward__fail_keep(rv, k.sys, k.text);
    }
  }
  if (opts->max_workers > opts->min_workers) {
    if (pthread_create(&p->reaper, NULL, reaper_main, p) != 0) {
      ward_pool_free(p);
      return ward__fail(WARD_ENOMEM, "no thread for the pool");
    }
    p->has_reaper = 1;
  }
  *out = p;
  return 0;
}

void ward_pool_free(ward_pool *p) {
  if (!p)
    return;
  /* Spawns still under way finish first: they add to the pool. */
  pthread_mutex_lock(&p->mu);
  while (p->growing)
    pthread_cond_wait(&p->cv, &p->mu);
  p->quit = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  if (p->has_reaper)
    pthread_join(p->reaper, NULL);
  pthread_mutex_lock(&p->mu);
  free_retired(p);
  pthread_mutex_unlock(&p->mu);
  free(p->retired);
  for (size_t i = p->n; i-- > 0;)
    ward_worker_free(p->slots[i].w);
  free(p->slots);
  ward_spec_free(p->spec);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p);
}

/* Whether a worker can take calls now, or soon (restarting); a failed,
 * exited or stopped one cannot (lock of the pool held, not the host's). */
static int usable(ward_worker *w, int *ready) {
  int st = ward__worker_state(w);
  *ready = st == WARD_STATE_READY;
  return st != WARD_STATE_FAILED && st != WARD_STATE_EXITED && st != WARD_STATE_STOPPED;
}

/* Picks a free worker, ready ones first (pool lock held); -1 if none. */
static long pick(ward_pool *p, long *dead) {
  long best = -1;
  int best_ready = 0;
  *dead = -1;
  for (size_t i = 0; i < p->n; i++) {
    int ready;
    if (p->slots[i].replacing == DRAINING)
      continue;
    if (!usable(p->slots[i].w, &ready)) {
      /* A claimed one is the replacement's to take out. */
      if (!p->slots[i].busy && p->slots[i].replacing == MEMBER)
        *dead = (long)i;
      continue;
    }
    if (p->slots[i].busy)
      continue;
    if (best < 0 || (ready && !best_ready)) {
      best = (long)i;
      best_ready = ready;
    }
  }
  return best;
}

/* Takes slot `i` out of the pool (pool lock held); the caller frees it. */
static ward_worker *take_out(ward_pool *p, size_t i) {
  ward_worker *w = p->slots[i].w;
  p->slots[i] = p->slots[--p->n];
  return w;
}

/* Members that take calls, draining ones left out (pool lock held). */
static size_t serving(ward_pool *p) {
  size_t k = 0;
  for (size_t i = 0; i < p->n; i++)
    k += p->slots[i].replacing != DRAINING;
  return k;
}

/* Workers beyond the minimum idle past the idle time (pool lock held);
 * those a replacement holds are its own. */
static size_t idle_ones(ward_pool *p, ward_worker **out, size_t cap) {
  size_t k = 0;
  int64_t now = ward__now_ms();
  for (size_t i = 0; i < p->n && k < cap;) {
    if (serving(p) > (size_t)p->o.min_workers && !p->slots[i].busy &&
        p->slots[i].replacing == MEMBER && now - p->slots[i].last_used >= p->o.idle_ms) {
      out[k++] = take_out(p, i);
      p->stats.shrunk++;
    } else {
      i++;
    }
  }
  return k;
}

/* When the next extra worker's idle time runs out (pool lock held). */
static int64_t next_idle(ward_pool *p) {
  int64_t next = INT64_MAX;
  if (serving(p) <= (size_t)p->o.min_workers)
    return next;
  for (size_t i = 0; i < p->n; i++)
    if (!p->slots[i].busy && p->slots[i].replacing == MEMBER &&
        p->slots[i].last_used + p->o.idle_ms < next)
      next = p->slots[i].last_used + p->o.idle_ms;
  return next;
}

/* Frees the workers stopped for idling (pool lock held; it is dropped and
 * taken again around the frees). */
static void free_retired(ward_pool *p) {
  if (ward__on_io_thread(p->host))
    return; /* ward_worker_free would do nothing there */
  while (p->nretired) {
    ward_worker *w = p->retired[--p->nretired];
    pthread_mutex_unlock(&p->mu);
    ward_worker_free(w);
    pthread_mutex_lock(&p->mu);
  }
}

/* Keeps stopped worker `w` until the next pool call frees it (pool lock
 * held; dropped and taken again if it must be freed now). */
static void retire(ward_pool *p, ward_worker *w) {
  if (p->nretired == p->capretired) {
    size_t cap = p->capretired ? p->capretired * 2 : 8;
    ward_worker **v = realloc(p->retired, cap * sizeof *v);
    if (!v) {
      /* No room to keep it: freed now (only a figure reader holding its
       * handle could mind). */
      pthread_mutex_unlock(&p->mu);
      ward_worker_free(w);
      pthread_mutex_lock(&p->mu);
      return;
    }
    p->retired = v;
    p->capretired = cap;
  }
  p->retired[p->nretired++] = w;
}

/* The pool's one thread: sleeps until an extra worker has been idle past
 * the idle time (every change to the pool wakes it) and stops it. */
static void *reaper_main(void *arg) {
  ward_pool *p = arg;
  pthread_mutex_lock(&p->mu);
  while (!p->quit) {
    ward_worker *gone[8];
    size_t n = idle_ones(p, gone, 8);
    if (n) {
      pthread_mutex_unlock(&p->mu);
      for (size_t k = 0; k < n; k++)
        ward_worker_stop(gone[k], -1);
      pthread_mutex_lock(&p->mu);
      for (size_t k = 0; k < n; k++)
        retire(p, gone[k]);
      continue;
    }
    ward__cond_wait(&p->cv, &p->mu, next_idle(p));
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

int ward_pool_request_ex(ward_msg **reply, ward_pool *p, const char *method, const void *data,
                         size_t len, const ward_call_opts *caller_opts) {
  if (reply)
    *reply = NULL;
  /* The caller's options as far as its struct goes (zeroing its summary). */
  ward_call_opts o;
  int rv = ward__call_opts_take(&o, caller_opts);
  if (rv)
    return rv;
  if (!p)
    return ward__fail(WARD_EINVAL, "NULL pool");
  if (ward__on_io_thread(p->host))
    return ward__fail(WARD_EINVAL, "a pool call from a ward callback would block the host's loop");
  const ward_call_opts *opts = &o;
  pthread_mutex_lock(&p->mu);
  int timeout = opts->timeout_ms < 0 ? p->spec->request_timeout_ms : opts->timeout_ms;
  int64_t deadline = ward__deadline(timeout);
  p->stats.calls++;
  free_retired(p);
  growth *mine = NULL; /* the spawn this call asked for, if any */
  long i;
  for (;;) {
    long dead;
    i = pick(p, &dead);
    if (i >= 0)
      break;
    if (mine && mine->done && mine->rv) {
      /* The worker asked for did not start, and none is free: its error. */
      rv = ward__fail_keep(mine->rv, mine->sys, mine->text);
      break;
    }
    if (mine && mine->done) {
      growth_unref(mine);
      mine = NULL;
    }
    ward_worker *old = NULL;
    if (dead >= 0) {
      /* It gave up: a new worker takes its place. */
      old = take_out(p, (size_t)dead);
      p->stats.replaced++;
    }
    if (!mine && (old || p->n + (size_t)p->growing < (size_t)p->o.max_workers)) {
      p->stats.grown += !old && p->n >= (size_t)p->o.min_workers;
      p->growing++;
      mine = grow(p);
      if (!mine) {
        p->growing--;
        rv = ward__fail(WARD_ENOMEM, "no thread to start a pool worker");
        break;
      }
    }
    if (old) {
      pthread_mutex_unlock(&p->mu);
      ward_worker_free(old);
      pthread_mutex_lock(&p->mu);
      continue;
    }
    if (ward__cond_wait(&p->cv, &p->mu, deadline) == WARD_ETIMEDOUT) {
      rv = ward__fail(WARD_ETIMEDOUT, "no free worker in the pool within %d ms", timeout);
      break;
    }
  }
  if (mine)
    growth_unref(mine);
  if (rv) {
    p->stats.failures++;
    pthread_mutex_unlock(&p->mu);
    return rv;
  }
  ward_worker *w = p->slots[i].w;
  p->slots[i].busy = 1;
  p->stats.busy++;
  pthread_mutex_unlock(&p->mu);

  int64_t left = deadline == INT64_MAX ? -1 : deadline - ward__now_ms();
  o.timeout_ms = deadline == INT64_MAX ? -1 : left < 0 ? 0 : (int)left;
  rv = ward_request_ex(reply, w, method, data, len, &o);

  pthread_mutex_lock(&p->mu);
  for (size_t k = 0; k < p->n; k++) {
    if (p->slots[k].w == w) {
      p->slots[k].busy = 0;
      p->slots[k].last_used = ward__now_ms();
    }
  }
  p->stats.busy--;
  if (rv)
    p->stats.failures++;
  pthread_cond_broadcast(&p->cv); /* a waiting call, and the reaper */
  pthread_mutex_unlock(&p->mu);
  return rv;
}

int ward_pool_request(ward_msg **reply, ward_pool *p, const char *method, const void *data,
                      size_t len, int timeout_ms) {
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = timeout_ms;
  return ward_pool_request_ex(reply, p, method, data, len, &o);
}

int ward_pool_info(ward_pool_stats *out, ward_pool *p) {
  if (!out || !p)
    return ward__fail(WARD_EINVAL, "ward_pool_info needs out and a pool");
  pthread_mutex_lock(&p->mu);
  free_retired(p);
  ward_pool_stats v = p->stats;
  v.workers = p->n;
  pthread_mutex_unlock(&p->mu);
  return ward__pool_stats_put(out, &v);
}

size_t ward_pool_workers(ward_worker **out, size_t cap, ward_pool *p) {
  if (!p)
    return 0;
  pthread_mutex_lock(&p->mu);
  free_retired(p);
  size_t k = 0;
  for (; k < p->n && k < cap; k++)
    out[k] = p->slots[k].w;
  pthread_mutex_unlock(&p->mu);
  return k;
}

/* ---- rolling replacement ---- */

/* The index of worker `w` in the pool (pool lock held); the replacement
 * asks only for members it holds, which nothing else takes out. */
static size_t slot_of(ward_pool *p, const ward_worker *w) {
  size_t i = 0;
  while (p->slots[i].w != w)
    i++;
  return i;
}

/* Claims a member not yet of generation `gen` (pool lock held): NULL when
 * none is left. `left` receives how many are, the claimed one included. */
static ward_worker *claim_old(ward_pool *p, unsigned gen, size_t *left) {
  ward_worker *w = NULL;
  *left = 0;
  for (size_t i = 0; i < p->n; i++) {
    if (p->slots[i].gen == gen || p->slots[i].replacing != MEMBER)
      continue;
    ++*left;
    if (!w) {
      w = p->slots[i].w;
      p->slots[i].replacing = CLAIMED;
    }
  }
  return w;
}

/* Starts a worker from `spec` and waits until it serves (its doctor
 * check passed, if asked), all within opts->ready_ms; on failure nothing
 * is left and the error says why. */
static int start_member(ward_worker **out, ward_pool *p, const ward_spec *spec,
                        const ward_replace_opts *opts) {
  int64_t deadline = ward__deadline(opts->ready_ms);
  ward_worker *w = NULL;
  int rv = ward_spawn_start(&w, p->host, spec);
  if (rv)
    return rv;
  /* A lazy spec starts no process until the first call: a ping is one. */
  if (ward__worker_state(w) == WARD_STATE_IDLE)
    rv = ward_ping(w, opts->ready_ms);
  if (!rv)
    rv = ward_worker_wait_ready(w, opts->ready_ms);
  if (!rv && opts->doctor)
    rv = ward__doctor_passes(w, (int)(deadline - ward__now_ms()));
  if (rv) {
    kept_error k = keep_error();
    ward_worker_free(w);
    return ward__fail_keep(rv, k.sys, k.text);
  }
  *out = w;
  return 0;
}

/* Lets draining member `w` finish its call in flight until `deadline`,
 * stops it (which ends a call still going), and takes it out of the pool
 * once no call uses it, kept until the next pool call like one stopped for
 * idling. */
static void drain_out(ward_pool *p, ward_worker *w, int64_t deadline) {
  pthread_mutex_lock(&p->mu);
  while (p->slots[slot_of(p, w)].busy)
    if (ward__cond_wait(&p->cv, &p->mu, deadline) == WARD_ETIMEDOUT)
      break;
  pthread_mutex_unlock(&p->mu);
  ward_worker_stop(w, -1);
  pthread_mutex_lock(&p->mu);
  while (p->slots[slot_of(p, w)].busy)
    ward__cond_wait(&p->cv, &p->mu, INT64_MAX);
  take_out(p, slot_of(p, w));
  retire(p, w);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

/* Puts new member `nw` of generation `gen` in the place of claimed member
 * `old`, which drains from now on; the first time, `*spec` becomes the
 * pool's spec (and *spec the one it replaced, for the caller to free). */
static int swap_in(ward_pool *p, ward_worker *old, ward_worker *nw, unsigned gen,
                   ward_spec **spec) {
  pthread_mutex_lock(&p->mu);
  int rv = add_slot(p, nw, gen);
  if (!rv) {
    p->slots[slot_of(p, old)].replacing = DRAINING;
    if (p->gen != gen) {
      ward_spec *was = p->spec;
      p->spec = *spec;
      p->gen = gen;
      *spec = was;
    }
    pthread_cond_broadcast(&p->cv);
  }
  pthread_mutex_unlock(&p->mu);
  return rv;
}

/* Gives claimed member `w` back to the pool after a failure. */
static void unclaim(ward_pool *p, ward_worker *w) {
  pthread_mutex_lock(&p->mu);
  p->slots[slot_of(p, w)].replacing = MEMBER;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

/* Replaces members of an older generation than `gen` by members started
 * from `fresh` one at a time, until none is left or one fails. `*spec` is
 * `fresh` until the pool takes it, then the spec it replaced. */
static int replace_all(ward_pool *p, const ward_spec *fresh, ward_spec **spec, unsigned gen,
                       const ward_replace_opts *opts) {
  for (size_t done = 0;; done++) {
    size_t left;
    pthread_mutex_lock(&p->mu);
    ward_worker *old = claim_old(p, gen, &left);
    /* A member that started from the old spec may still be on its way. */
    while (!old && p->growing) {
      ward__cond_wait(&p->cv, &p->mu, INT64_MAX);
      old = claim_old(p, gen, &left);
    }
    if (!old && p->gen != gen) {
      /* No member at all: nothing to try the spec on; it is the pool's. */
      ward_spec *was = p->spec;
      p->spec = *spec;
      p->gen = gen;
      *spec = was;
    }
    pthread_mutex_unlock(&p->mu);
    if (!old)
      return 0;
    ward_worker *nw = NULL;
    int rv = start_member(&nw, p, fresh, opts);
    if (!rv && swap_in(p, old, nw, gen, spec)) {
      ward_worker_free(nw);
      rv = ward__fail(WARD_ENOMEM, "no memory to add a new member to the pool");
    }
    if (rv) {
      unclaim(p, old);
      char why[768];
      snprintf(why, sizeof why,
               "pool replacement: a new member did not become ready (%zu of %zu replaced), the "
               "old ones keep serving: %s",
               done, done + left, ward_last_error()[0] ? ward_last_error() : ward_strerror(rv));
      return ward__fail_keep(rv, ward_last_errno(), why);
    }
    drain_out(p, old, ward__deadline(opts->drain_ms));
  }
}

int ward_pool_replace(ward_pool *p, const ward_spec *spec, const ward_replace_opts *caller_opts) {
  ward_replace_opts o;
  int rv = ward__replace_opts_take(&o, caller_opts);
  if (rv)
    return rv;
  if (!p || !spec)
    return ward__fail(WARD_EINVAL, "ward_pool_replace needs a pool and a spec");
  if (o.ready_ms <= 0 || o.drain_ms < 0)
    return ward__fail(WARD_EINVAL, "ward_replace_opts needs ready_ms > 0 and drain_ms >= 0");
  if (ward__on_io_thread(p->host))
    return ward__fail(WARD_EINVAL, "a pool replacement from a ward callback would block the "
                                   "host's loop");
  ward_spec *mine = ward__spec_dup(spec);
  if (!mine)
    return ward__fail(WARD_ENOMEM, "no memory for the pool's new spec");
  pthread_mutex_lock(&p->mu);
  int busy = p->replacing;
  p->replacing = 1;
  unsigned gen = p->gen + 1;
  free_retired(p);
  pthread_mutex_unlock(&p->mu);
  if (busy) {
    ward_spec_free(mine);
    return ward__fail(WARD_EINVAL, "another replacement of this pool is under way");
  }
  /* `mine` becomes the pool's spec at the first new member; from then on
   * it holds the old one, freed here. */
  const ward_spec *fresh = mine;
  rv = replace_all(p, fresh, &mine, gen, &o);
  ward_spec_free(mine);
  pthread_mutex_lock(&p->mu);
  p->replacing = 0;
  pthread_mutex_unlock(&p->mu);
  return rv;
}
