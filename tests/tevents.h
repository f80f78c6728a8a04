/*
 * tevents.h — collects a host's events so tests can wait for them.
 */
#ifndef WARD_TEVENTS_H
#define WARD_TEVENTS_H

#include <pthread.h>

#include "test.h"

typedef struct tev {
  int type, pid, exit_code, signal, reason, error;
  int proc_class;                 /* ward_event.proc_class */
  int attempt, delay_ms, outcome; /* RESTARTING / UNHEALTHY, RESTARTING, STOPPED */
  int stream;                     /* LOG */
  uint64_t seq;                   /* LOG */
  uint64_t worker_id;
  uint32_t generation;
  int64_t at_us;                  /* when it arrived (monotonic microseconds) */
  char name[64];
  char group[64];                 /* ward_event.group, or "" */
  char detail[200];
} tev;

#define TEV_MAX 4096

static pthread_mutex_t tev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tev_cv = PTHREAD_COND_INITIALIZER;
static tev tev_log[TEV_MAX];
static int tev_n;
static int tev_dropped; /* events that found the log full */

static inline int64_t tev_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void tev_on_event(const ward_event *ev, void *ud) {
  (void)ud;
  int64_t now = tev_now_us();
  pthread_mutex_lock(&tev_mu);
  if (tev_n >= TEV_MAX)
    tev_dropped++;
  if (tev_n < TEV_MAX) {
    tev *e = &tev_log[tev_n++];
    e->at_us = now;
    e->attempt = ev->attempt;
    e->delay_ms = ev->delay_ms;
    e->outcome = ev->outcome;
    e->stream = ev->stream;
    e->seq = ev->seq;
    e->type = ev->type;
    e->proc_class = ev->proc_class;
    e->pid = ev->pid;
    e->exit_code = ev->exit_code;
    e->signal = ev->signal;
    e->reason = ev->reason;
    e->error = ev->error;
    e->worker_id = ev->worker_id;
    e->generation = ev->generation;
    snprintf(e->name, sizeof e->name, "%s", ev->name);
    snprintf(e->group, sizeof e->group, "%s", ev->group ? ev->group : "");
    snprintf(e->detail, sizeof e->detail, "%s", ev->detail ? ev->detail : "");
  }
  pthread_cond_broadcast(&tev_cv);
  pthread_mutex_unlock(&tev_mu);
}

/* Waits (up to 20 s) for an event of `type` about worker `id` at index
 * `from` or later, and returns its index. On timeout, prints the events
 * logged about that worker and fails the test. */
static int tev_wait_idx(int from, int type, uint64_t id) {
  int64_t deadline = t_now_ms() + 20000;
  pthread_mutex_lock(&tev_mu);
  for (;;) {
    for (int i = from; i < tev_n; i++) {
      if (tev_log[i].type == type && tev_log[i].worker_id == id) {
        pthread_mutex_unlock(&tev_mu);
        return i;
      }
    }
    if (t_now_ms() > deadline) {
      for (int i = 0; i < tev_n; i++)
        if (tev_log[i].worker_id == id)
          fprintf(stderr, "  #%d %s pid %d gen %u code %d sig %d reason %s outcome %d\n", i,
                  ward_event_name(tev_log[i].type), tev_log[i].pid, tev_log[i].generation,
                  tev_log[i].exit_code, tev_log[i].signal, ward_reason_name(tev_log[i].reason),
                  tev_log[i].outcome);
      pthread_mutex_unlock(&tev_mu);
      T_FAIL("no %s event for worker %llu within 20 s", ward_event_name(type),
             (unsigned long long)id);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&tev_cv, &tev_mu, &ts);
  }
}

/* A copy of the i-th event. */
static inline tev tev_get(int i) {
  pthread_mutex_lock(&tev_mu);
  if (i < 0 || i >= tev_n) {
    pthread_mutex_unlock(&tev_mu);
    T_FAIL("no event #%d (%d logged)", i, tev_n);
  }
  tev e = tev_log[i];
  pthread_mutex_unlock(&tev_mu);
  return e;
}

/* The index of the first event of `type` about `id` from `from` on, or -1
 * (no waiting). */
static inline int tev_find(int from, int type, uint64_t id) {
  int found = -1;
  pthread_mutex_lock(&tev_mu);
  for (int i = from; i < tev_n && found < 0; i++)
    if (tev_log[i].type == type && tev_log[i].worker_id == id)
      found = i;
  pthread_mutex_unlock(&tev_mu);
  return found;
}

/* Waits (up to 20 s) for an event of `type` about worker `id` (after the
 * `from`-th event), returns a copy. Fails the test on timeout. */
static inline tev tev_wait_from(int from, int type, uint64_t id) {
  return tev_get(tev_wait_idx(from, type, id));
}

static inline tev tev_wait(int type, uint64_t id) { return tev_wait_from(0, type, id); }

/* Spawns `s` (then frees it) on `h`; returns once the start's events
 * (SPAWNED, READY) are in the log, so that a mark taken after sees only
 * later ones. */
static inline ward_worker *tev_spawn(ward_host *h, ward_spec *s) {
  ward_worker *w;
  T_OK(ward_spawn(&w, h, s));
  ward_spec_free(s);
  tev_wait(WARD_EV_READY, ward_worker_id(w));
  return w;
}

/* The number of events logged so far: a mark to wait "from" later on. */
static inline int tev_mark(void) {
  pthread_mutex_lock(&tev_mu);
  int n = tev_n;
  pthread_mutex_unlock(&tev_mu);
  return n;
}

/* Events of `type` about worker `id` at index `from` or later. */
static inline int tev_count_from(int from, int type, uint64_t id) {
  int n = 0;
  pthread_mutex_lock(&tev_mu);
  for (int i = from; i < tev_n; i++)
    n += tev_log[i].type == type && tev_log[i].worker_id == id;
  pthread_mutex_unlock(&tev_mu);
  return n;
}

static inline int tev_count(int type, uint64_t id) {
  int n = 0;
  pthread_mutex_lock(&tev_mu);
  for (int i = 0; i < tev_n; i++)
    n += tev_log[i].type == type && tev_log[i].worker_id == id;
  pthread_mutex_unlock(&tev_mu);
  return n;
}

static inline ward_host *tev_host(void) {
  ward_host *h;
  ward_host_opts o = WARD_HOST_OPTS_INIT;
  o.on_event = tev_on_event;
  T_OK(ward_host_new(&h, &o));
  return h;
}

/* The host handler "hanging" (register tev_on_hanging under that name):
 * a worker says a call is in flight in it, and the test waits for that. */
static pthread_mutex_t tev_hang_mu __attribute__((unused)) = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tev_hang_cv __attribute__((unused)) = PTHREAD_COND_INITIALIZER;
static int tev_hanging __attribute__((unused));

static inline int tev_on_hanging(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)d, (void)n, (void)ud;
  pthread_mutex_lock(&tev_hang_mu);
  tev_hanging++;
  pthread_cond_broadcast(&tev_hang_cv);
  pthread_mutex_unlock(&tev_hang_mu);
  return 0;
}

static inline void tev_hang_reset(void) {
  pthread_mutex_lock(&tev_hang_mu);
  tev_hanging = 0;
  pthread_mutex_unlock(&tev_hang_mu);
}

/* Waits (up to 20 s) until `n` calls have said so; fails the test if not. */
static inline void tev_wait_hanging(int n) {
  int64_t deadline = t_now_ms() + 20000;
  pthread_mutex_lock(&tev_hang_mu);
  while (tev_hanging < n && t_now_ms() < deadline) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&tev_hang_cv, &tev_hang_mu, &ts);
  }
  int got = tev_hanging;
  pthread_mutex_unlock(&tev_hang_mu);
  if (got < n)
    T_FAIL("%d \"hanging\" notifications within 20 s, want %d", got, n);
}

#endif
