/*
 * loop.c — the host's loop: what one turn does, and who runs it.
 *
 * A turn runs the jobs queued for it (starting workers, say), waits on
 * the platform's loop (platform.h: tagged I/O sources, each a ward__watch
 * whose callback the turn calls, and one timer) for at most as long as
 * the soonest of the host's timers allows, reads the clock once, handles
 * what is ready, fires the timers due at that reading, and ends with the
 * host's own work (host.c: tasks, events, releases). The loop knows
 * watches, timers and jobs, and nothing of workers: they register
 * callbacks. It is run by the host's I/O thread, or, for a host on the
 * program's own loop, by whoever holds it: ward_host_dispatch, or a
 * blocking call waiting for it (drive).
 *
 * Timers live in a binary heap ordered by due time; jobs in a FIFO list.
 * Both are guarded by the host's mutex, and may be set from any thread: a
 * timer sooner than the one the loop sleeps for wakes it.
 */
#include <stdlib.h>

#include "host_int.h"
#include "worker.h"

/* The external-loop host this thread is driving right now, if any: read and
 * written only by the thread itself, so no lock is needed. */
static _Thread_local const ward_host *driving;

int ward__on_io_thread(const ward_host *h) {
  if (h->external)
    return driving == h;
  return pthread_equal(pthread_self(), h->thread);
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
  if (h->settling && (timeout < 0 || timeout > WARD__SETTLE_MS))
    timeout = WARD__SETTLE_MS;
  /* Work queued by this thread itself (timers, callbacks) runs now. */
  if (events || ward__host_has_pending(h))
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
  ward__host_end_turn(h, now);
  pthread_mutex_lock(&h->mu);
  h->epoch++;
  pthread_cond_broadcast(&h->cond);
  pthread_mutex_unlock(&h->mu);
}

void ward__loop_drain(ward_host *h) { ward__host_last_turn(h); }

/* The host's I/O thread. */
void *ward__loop_main(void *arg) {
  ward_host *h = arg;
  for (;;) {
    pthread_mutex_lock(&h->mu);
    int quit = h->quit;
    pthread_mutex_unlock(&h->mu);
    if (quit)
      break;
    loop_once(h, -1);
  }
  ward__loop_drain(h);
  return NULL;
}

/* External loop: makes the descriptor readable when the next timer is due
 * (or at once when work is queued). */
static void arm_timer(ward_host *h) {
  pthread_mutex_lock(&h->mu);
  int64_t next = h->nheap ? h->heap[0]->due : INT64_MAX;
  pthread_mutex_unlock(&h->mu);
  int64_t now = ward__now_ms(); /* for the program's loop, after this turn */
  if (h->settling && next > now + WARD__SETTLE_MS)
    next = now + WARD__SETTLE_MS;
  pthread_mutex_lock(&h->mu);
  int freeing = h->freeing;
  pthread_mutex_unlock(&h->mu);
  ward__loop_timer(h->loop, ward__host_has_pending(h) || freeing ? 0
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
  if (!ward__host_has_pending(h))
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
  return (ward_os_handle)ward__fd_os(ward__loop_fd(h->loop));
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
