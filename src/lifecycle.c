/*
 * lifecycle.c — the worker's state machine (see lifecycle.h).
 *
 * Design notes
 * ------------
 * Every state change of a worker happens here, in the handler the table
 * below names for the (state, event) pair; an empty cell means the event
 * means nothing in that state. A handler changes the machine and appends
 * actions and events to `out`; the host carries them out (worker.c), and
 * reports what comes of them as further events (a heartbeat's outcome, a
 * memory sample, a process's exit).
 *
 *            START             SPAWNED          READY
 *   STOPPED ───────> QUEUED ─────────> STARTING ─────> READY ──cycle, limits──> DRAINING
 *   EXITED             ^  ^              │  (timeout:   │  \                     │ calls done
 *   FAILED             │  │ no delay     │   killed)    │   \ kill (deadline,    v
 *                      │  │              │ EXIT          │    \ unhealthy, ...) REPLACING
 *              WANT    │  └── BACKOFF <──┴─ policy ─────┴────────────────────────┘ EXIT
 *     PARKED ──────────┘         │         (idle exit: PARKED)
 *                                └── policy says no: EXITED, or gave up: FAILED
 *
 *   any state with a process ──STOP──> STOPPING ──EXIT──> STOPPED
 *   (goodbye, close; after the grace the stop signal, after another SIGKILL;
 *   at once SIGKILL when a call's deadline or cancel grace passes meanwhile)
 *   any state without one ──STOP──> STOPPED at once
 *
 *   READY, DRAINING ──PAUSE──> the same state, paused (frozen: no
 *   heartbeat, no idle timer; calls wait, their deadlines run) ──RESUME──>
 *   running again. Leaving those states (stop, kill, exit...) resumes it
 *   first, in ward__life_step, so that a stop signal or a goodbye reaches
 *   a process that can act on it.
 *
 * The restart policy (policy.c) is asked here, and only here, when a
 * process ended. Time is what each event says it is.
 */
#include "lifecycle.h"

#include <string.h>

#include "platform.h"
#include "spec.h"
#include "ward.h"

/* After SIGKILL, how long a stop waits before it says the process is stuck. */
#define STUCK_MS 30000

typedef void (*handler)(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o);

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static void emit(ward__lout *o, int type, int reason) {
  if (o->nemit == (int)(sizeof o->emit / sizeof o->emit[0]))
    return;
  ward__lemit *e = &o->emit[o->nemit++];
  memset(e, 0, sizeof *e);
  e->type = type;
  e->reason = reason;
}

static ward__lemit *last_emit(ward__lout *o) { return &o->emit[o->nemit - 1]; }

/* ------------------------------------------------------------------ */
/* The steps handlers share                                            */

/* Signals the process, recording `reason` for its exit unless one already
 * was. */
static void kill_with(ward__life *m, ward__lout *o, int sig, int reason) {
  m->killed = 1;
  if (!m->reason)
    m->reason = reason;
  o->act |= WARD__LA_KILL;
  o->signal = sig;
}

/* Kills the process at once for a replacement. */
static void kill_for(ward__life *m, ward__lout *o, int reason) {
  m->state = WARD__L_REPLACING;
  m->kill_at = INT64_MAX;
  kill_with(m, o, WARD__STOP_HARD, reason);
}

/* The resident-set limits sampling enforces: the spec's own, else, where
 * the process's cgroup does not enforce the tree's memory limits, those
 * (ward_spec_tree_limits falls back to sampling). */
static uint64_t hard_limit(const ward__life *m, const ward_spec *s) {
  return s->mem_hard ? s->mem_hard : m->kernel_memory ? 0 : s->tree_mem_max;
}

static uint64_t soft_limit(const ward__life *m, const ward_spec *s) {
  return s->mem_soft ? s->mem_soft : m->kernel_memory ? 0 : s->tree_mem_high;
}

static int sampled(const ward__life *m, const ward_spec *s) {
  return hard_limit(m, s) || soft_limit(m, s);
}

/* A new process is wanted: the host adopts a ready spare if it has one
 * (ADOPTED), else starts one (SPAWNED). */
static void queue_start(ward__life *m, ward__lout *o) {
  m->state = WARD__L_QUEUED;
  o->act |= WARD__LA_SPAWN;
}

static void become_ready(ward__life *m, const ward_spec *s, int64_t now, ward__lout *o) {
  m->state = WARD__L_READY;
  m->readies++;
  m->ready_at = now;
  m->last_activity = now;
  m->gen_served = 0;
  m->hb_misses = 0;
  m->next_hb = now + s->heartbeat_ms;
  m->next_sample = now + s->mem_sample_ms;
  emit(o, WARD_EV_READY, 0);
  if (!m->spawning)
    emit(o, WARD_EV_RESTARTED, 0);
  m->spawning = 0;
}

/* Ends the process for a replacement: a goodbye now (a plain process gets
 * its stop signal), SIGKILL if it is still there after the stop grace. */
static void recycle_now(ward__life *m, const ward_spec *s, int64_t now, ward__lout *o) {
  m->state = WARD__L_REPLACING;
  m->kill_at = now + s->stop_grace_ms;
  if (s->ready_mode == WARD_READY_HANDSHAKE) {
    o->act |= WARD__LA_GOODBYE;
    o->goodbye = "recycle";
  } else {
    kill_with(m, o, s->stop_signal, m->reason);
  }
}

/* A planned replacement: new calls wait, the calls in flight finish. */
static void recycle(ward__life *m, const ward_spec *s, int64_t now, ward__lout *o, int reason) {
  if (m->state != WARD__L_READY)
    return;
  m->reason = reason;
  m->state = WARD__L_DRAINING;
  if (!m->inflight)
    recycle_now(m, s, now, o);
}

/* After a process ended on its own or by ward's hand: idle parks, and the
 * restart policy decides the rest. */
static void ended(ward__life *m, const ward_spec *s, int64_t now, ward__lout *o, int reason,
                  int code, int sig, int64_t uptime) {
  if (reason == WARD_REASON_IDLE) {
    m->state = WARD__L_PARKED; /* no process until a call wants one */
    return;
  }
  /* A group member: a process its group ended waits for the group; a
   * failure the restart mode would restart is the group's to handle (its
   * strategy and intensity); a planned replacement is the member's own. */
  if (m->group_end) {
    m->state = m->group_end == 2 ? WARD__L_FAILED : WARD__L_HELD;
    m->group_end = 0;
    return;
  }
  if (m->grouped && !ward__reason_is_recycle(reason) &&
      ward__policy_wants_restart(&s->policy, reason, code, sig)) {
    m->state = WARD__L_HELD;
    o->act |= WARD__LA_GROUP;
    return;
  }
  ward__decision d = ward__policy_exit(&s->policy, &m->sup, now, reason, code, sig, uptime);
  switch (d.action) {
  case WARD__DO_RESTART: {
    /* The backoff spaces out starts; a ready spare is started already
     * (its own restarts have their backoff), so it takes over at once. */
    int delay = m->spares_ready ? 0 : d.delay_ms;
    emit(o, WARD_EV_RESTARTING, reason);
    last_emit(o)->attempt = d.attempt;
    last_emit(o)->delay_ms = delay;
    if (delay > 0) {
      m->state = WARD__L_BACKOFF;
      m->due_start = now + delay;
    } else {
      queue_start(m, o);
    }
    break;
  }
  case WARD__DO_GIVE_UP:
    m->state = WARD__L_FAILED;
    emit(o, WARD_EV_GAVE_UP, reason);
    break;
  default:
    m->state = WARD__L_EXITED;
    break;
  }
}

/* ------------------------------------------------------------------ */
/* Requests of the program                                             */

static void on_start(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  (void)ev;
  /* A lazy worker's first process waits for a call, as after an idle
   * timeout; there is no start for ward_spawn to wait for. */
  if (s->lazy && m->generation == 0) {
    m->state = WARD__L_PARKED;
    return;
  }
  m->spawning = 1;
  m->reason = 0;
  queue_start(m, o);
}

static void on_cycle(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  switch (m->state) {
  case WARD__L_READY:
    recycle(m, s, ev->now, o, WARD_REASON_CYCLE);
    break;
  case WARD__L_BACKOFF:
  case WARD__L_PARKED:
  case WARD__L_HELD:
    queue_start(m, o);
    break;
  case WARD__L_QUEUED:
  case WARD__L_STARTING:
  case WARD__L_DRAINING:
  case WARD__L_REPLACING:
    break; /* a new process is on its way already */
  default:
    o->status = WARD_ECLOSED;
    break;
  }
}

static void on_restart(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  ward__policy_reset(&m->sup);
  if (m->state == WARD__L_STOPPING)
    o->status = WARD_ECLOSED;
  else if (m->state == WARD__L_EXITED || m->state == WARD__L_FAILED ||
           m->state == WARD__L_STOPPED)
    on_start(m, s, ev, o);
  else
    on_cycle(m, s, ev, o);
}

/* A stop where there is no process: done at once. */
static void stop_idle(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  (void)s, (void)ev;
  m->state = WARD__L_STOPPED;
  m->last_stop = WARD_STOP_ALREADY_EXITED;
  emit(o, WARD_EV_STOPPED, 0);
  last_emit(o)->outcome = WARD_STOP_ALREADY_EXITED;
}

/* A stop of a running process: goodbye and close (a plain process gets its
 * stop signal), then the escalation runs on TICKs. A process ward has
 * already killed keeps the reason it was killed for. */
static void stop_run(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  int grace = ev->grace_ms < 0 ? s->stop_grace_ms : ev->grace_ms;
  m->state = WARD__L_STOPPING;
  m->stop_outcome = m->killed ? WARD_STOP_KILLED : WARD_STOP_GRACEFUL;
  if (!m->killed)
    m->reason = WARD_REASON_STOPPED;
  m->stop_grace_ms = grace;
  m->stop_step = 0;
  m->kill_at = ev->now + grace;
  o->act |= WARD__LA_CLOSE;
  if (s->ready_mode == WARD_READY_HANDSHAKE) {
    o->act |= WARD__LA_GOODBYE;
    o->goodbye = "stop";
  } else {
    o->act |= WARD__LA_KILL; /* the stop signal is how a plain process is asked */
    o->signal = s->stop_signal;
    m->stop_step = 1;
  }
}

/* A second stop while one is under way: it goes on, no slower than asked. */
static void stop_again(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  (void)o;
  int grace = ev->grace_ms < 0 ? s->stop_grace_ms : ev->grace_ms;
  if (grace < m->stop_grace_ms)
    m->stop_grace_ms = grace;
  if (m->stop_step < 2)
    m->kill_at = min64(m->kill_at, ev->now + grace);
}

static void on_want(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  (void)s, (void)ev;
  queue_start(m, o); /* parked: a call wants a process again */
}

static void on_settled(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  (void)s, (void)ev, (void)o;
  m->spawning = 0;
}

/* ------------------------------------------------------------------ */
/* What happens to the process                                         */

static void on_spawned(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  m->generation = ev->generation ? ev->generation : m->generation + 1;
  m->state = WARD__L_STARTING;
  m->kernel_memory = ev->kernel_memory;
  m->reason = 0;
  m->killed = 0;
  m->ready_at = 0;
  m->stop_outcome = WARD_STOP_NONE;
  int plain_after = s->ready_mode == WARD_READY_AFTER;
  m->startup_deadline = ev->now + (plain_after ? s->ready_arg : s->startup_timeout_ms);
  emit(o, WARD_EV_SPAWNED, 0);
  if (plain_after && s->ready_arg == 0)
    become_ready(m, s, ev->now, o);
}

/* The process started when nobody wanted it any more (stopped meanwhile). */
static void on_spawned_late(ward__life *m, const ward_spec *s, const ward__lev *ev,
                            ward__lout *o) {
  (void)m, (void)s, (void)ev;
  o->act |= WARD__LA_DISCARD;
}

static void on_spawn_failed(ward__life *m, const ward_spec *s, const ward__lev *ev,
                            ward__lout *o) {
  if (m->spawning && !s->supervise_start) {
    m->state = WARD__L_FAILED;
    o->act |= WARD__LA_FIRST_FAILED;
    return;
  }
  /* A restart that could not even exec counts as a failed start (127, as
   * a shell says "command not found"); its backoff runs. The event says
   * why (its text is the host's). */
  emit(o, WARD_EV_SPAWN_FAILED, WARD_REASON_EXITED);
  last_emit(o)->error = ev->error;
  last_emit(o)->code = 127;
  m->last_code = 127;
  m->last_signal = 0;
  m->last_reason = WARD_REASON_EXITED;
  ended(m, s, ev->now, o, WARD_REASON_EXITED, 127, 0, -1);
}

static void on_ready(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  become_ready(m, s, ev->now, o);
}

/* The handshake was refused (or its socket could not be used): killed. */
static void on_refused(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  (void)s, (void)ev;
  if (m->spawning)
    o->act |= WARD__LA_FIRST_FAILED;
  kill_with(m, o, WARD__STOP_HARD, WARD_REASON_PROTOCOL);
}

/* A worker that broke the protocol is in an unknown state: it goes. */
static void on_violation(ward__life *m, const ward_spec *s, const ward__lev *ev,
                         ward__lout *o) {
  (void)s;
  if (m->state == WARD__L_STARTING && m->spawning)
    o->act |= WARD__LA_FIRST_FAILED;
  emit(o, WARD_EV_ERROR, 0);
  last_emit(o)->error = ev->error;
  kill_with(m, o, WARD__STOP_HARD, WARD_REASON_PROTOCOL);
}

/* The channel is gone but the process may live on (it closed the socket,
 * or is dying): calls wait for a replacement, and it is killed if it has
 * not exited within the stop grace. */
static void on_closed(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  (void)o;
  m->state = WARD__L_REPLACING;
  m->kill_at = ev->now + s->stop_grace_ms;
}

static void on_exit(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  int sig = ev->signal, code = ev->code;
  int reason = m->reason          ? m->reason
               : sig && ev->oom ? WARD_REASON_OOM_KILLED
               : sig            ? WARD_REASON_CRASHED
                                : WARD_REASON_EXITED;
  /* A process that died of a signal ward did not send while being
   * recycled crashed: that is what counts. */
  if (sig && !m->killed && m->state != WARD__L_STOPPING && ward__reason_is_recycle(reason))
    reason = ev->oom ? WARD_REASON_OOM_KILLED : WARD_REASON_CRASHED;
  int64_t uptime = m->ready_at ? ev->now - m->ready_at : -1;
  m->last_code = sig ? -1 : code;
  m->last_signal = sig;
  m->last_reason = reason;
  m->ready_at = 0;
  emit(o, WARD_EV_EXITED, reason);
  last_emit(o)->code = sig ? -1 : code;
  last_emit(o)->signal = sig;
  if (m->state == WARD__L_STARTING && m->spawning && !s->supervise_start) {
    /* The first start failed: ward_spawn reports it, no restart. */
    m->state = WARD__L_FAILED;
    o->act |= WARD__LA_FIRST_FAILED;
  } else if (m->state == WARD__L_STOPPING) {
    m->state = WARD__L_STOPPED;
    m->last_stop = m->stop_outcome;
    emit(o, WARD_EV_STOPPED, 0);
    last_emit(o)->outcome = m->stop_outcome;
  } else {
    ended(m, s, ev->now, o, reason, code, sig, uptime);
  }
}

/* A ready process the host adopted for this worker: a spare taking over
 * a start that was queued, or the new process of a replacement taking
 * over from a running one (whose calls in flight finish apart, on the
 * old connection: they end here as not current). Either way it is a new
 * generation, ready at once. */
static void on_adopted(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  if (m->state == WARD__L_READY && m->paused)
    return; /* a frozen process is not replaced under its pause */
  int replacing = m->state == WARD__L_READY;
  m->generation++;
  m->kernel_memory = ev->kernel_memory;
  m->reason = 0;
  m->killed = 0;
  m->stop_outcome = WARD_STOP_NONE;
  if (replacing)
    m->ready_at = 0; /* become_ready sets it anew */
  emit(o, WARD_EV_SPAWNED, 0);
  become_ready(m, s, ev->now, o);
}

/* A spare's process was handed over to its worker (which posted itself
 * ADOPTED): this machine has no process any more, and wants another. */
static void on_given(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  (void)s, (void)ev;
  m->ready_at = 0;
  m->reason = 0;
  m->killed = 0;
  m->hb_misses = 0;
  queue_start(m, o);
}

static void on_spares(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  (void)s;
  m->spares_ready = ev->spares > 0 ? (uint32_t)ev->spares : 0;
  /* Backing off with a spare ready now: no start to space out. */
  if (m->state == WARD__L_BACKOFF && m->spares_ready) {
    m->due_start = INT64_MAX;
    queue_start(m, o);
  }
}

/* ------------------------------------------------------------------ */
/* Time                                                                */

static void tick_starting(ward__life *m, const ward_spec *s, const ward__lev *ev,
                          ward__lout *o) {
  if (ev->now < m->startup_deadline)
    return;
  if (s->ready_mode == WARD_READY_AFTER) {
    become_ready(m, s, ev->now, o); /* it stayed up long enough */
    return;
  }
  if (m->spawning)
    o->act |= WARD__LA_FIRST_FAILED;
  kill_with(m, o, WARD__STOP_HARD, WARD_REASON_STARTUP_TIMEOUT);
  m->startup_deadline = INT64_MAX;
}

static void tick_backoff(ward__life *m, const ward_spec *s, const ward__lev *ev,
                         ward__lout *o) {
  (void)s;
  if (ev->now >= m->due_start)
    queue_start(m, o);
}

static void tick_replacing(ward__life *m, const ward_spec *s, const ward__lev *ev,
                           ward__lout *o) {
  (void)s;
  if (ev->now < m->kill_at)
    return;
  /* Without a planned reason, it is here because its channel closed. */
  kill_with(m, o, WARD__STOP_HARD, m->reason ? m->reason : WARD_REASON_PROTOCOL);
  m->kill_at = INT64_MAX;
}

static void tick_running(ward__life *m, const ward_spec *s, const ward__lev *ev,
                         ward__lout *o) {
  int64_t now = ev->now;
  if (s->heartbeat_ms && !m->paused && now >= m->next_hb) {
    m->next_hb = now + s->heartbeat_ms;
    o->act |= WARD__LA_HEARTBEAT;
  }
  if (sampled(m, s) && now >= m->next_sample) {
    m->next_sample = now + s->mem_sample_ms;
    o->act |= WARD__LA_SAMPLE;
  }
  if (s->idle_ms && m->state == WARD__L_READY && !m->inflight && !m->paused &&
      now - m->last_activity >= s->idle_ms)
    recycle(m, s, now, o, WARD_REASON_IDLE);
}

/* The stop's escalation: the stop signal after the grace, SIGKILL after
 * another; still there 30 s later, it is stuck (the waiter says so). */
static void tick_stopping(ward__life *m, const ward_spec *s, const ward__lev *ev,
                          ward__lout *o) {
  if (ev->now < m->kill_at)
    return;
  o->act |= WARD__LA_KILL;
  if (m->stop_step == 0) {
    if (m->stop_outcome < WARD_STOP_TERMINATED)
      m->stop_outcome = WARD_STOP_TERMINATED;
    o->signal = s->stop_signal;
    m->kill_at = ev->now + m->stop_grace_ms;
  } else if (m->stop_step == 1) {
    m->stop_outcome = WARD_STOP_KILLED;
    o->signal = WARD__STOP_HARD;
    m->kill_at = ev->now + STUCK_MS;
  } else {
    o->act &= ~(unsigned)WARD__LA_KILL;
    m->kill_at = INT64_MAX;
  }
  m->stop_step++;
}

/* ------------------------------------------------------------------ */
/* Calls and health                                                    */

static void on_call_begin(ward__life *m, const ward_spec *s, const ward__lev *ev,
                          ward__lout *o) {
  (void)s, (void)ev, (void)o;
  m->inflight++;
}

static void on_call_end(ward__life *m, const ward_spec *s, const ward__lev *ev,
                        ward__lout *o) {
  if (m->inflight)
    m->inflight--;
  m->last_activity = ev->now;
  if (ev->answered) {
    m->served++;
    if (ev->current) {
      m->gen_served++;
      if (s->max_requests && m->gen_served >= s->max_requests)
        recycle(m, s, ev->now, o, WARD_REASON_MAX_REQUESTS);
    }
  }
  if (m->state == WARD__L_DRAINING && !m->inflight)
    recycle_now(m, s, ev->now, o);
}

/* A call's deadline passed (a worker stuck in it is replaced, unless the
 * spec says otherwise), or a cancelled call outlived its grace. */
static void on_kill(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  if (ev->reason == WARD_REASON_REQUEST_TIMEOUT && !s->kill_on_timeout)
    return;
  kill_for(m, o, ev->reason);
}

/* The same during a stop: a process stuck in a call that timed out (or
 * that ignored its cancellation) will not heed the goodbye either, so it
 * is killed now rather than after the stop's grace. The stop stays a
 * stop: its reason is kept, and it ends as the exit comes. */
static void stop_kill(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  if (ev->reason == WARD_REASON_REQUEST_TIMEOUT && !s->kill_on_timeout)
    return;
  if (m->stop_step >= 2)
    return; /* killed already */
  kill_with(m, o, WARD__STOP_HARD, ev->reason);
  m->stop_outcome = WARD_STOP_KILLED;
  m->stop_step = 2;
  m->kill_at = ev->now + STUCK_MS;
}

static void on_heartbeat(ward__life *m, const ward_spec *s, const ward__lev *ev,
                         ward__lout *o) {
  if (m->paused)
    return; /* a ping sent before the pause: a frozen process answers none */
  if (!ev->missed) {
    m->hb_misses = 0;
    return;
  }
  if (++m->hb_misses < s->heartbeat_misses)
    return;
  emit(o, WARD_EV_UNHEALTHY, 0);
  last_emit(o)->attempt = m->hb_misses;
  kill_for(m, o, WARD_REASON_UNHEALTHY);
}

static void on_memory(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  uint64_t hard = hard_limit(m, s), soft = soft_limit(m, s);
  if (hard && ev->rss > hard)
    kill_for(m, o, WARD_REASON_MEMORY_LIMIT);
  else if (soft && ev->rss > soft)
    recycle(m, s, ev->now, o, WARD_REASON_MEMORY_LIMIT);
}

/* ------------------------------------------------------------------ */
/* Pause and resume                                                    */

static void on_pause(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  (void)s, (void)ev;
  if (m->paused)
    return;
  m->paused = 1;
  o->act |= WARD__LA_PAUSE;
  emit(o, WARD_EV_PAUSED, 0);
}

/* Only a running process can be paused (a starting one would miss its
 * startup deadline; one on its way out is to end). */
static void pause_refused(ward__life *m, const ward_spec *s, const ward__lev *ev,
                          ward__lout *o) {
  (void)m, (void)s, (void)ev;
  o->status = WARD_ECLOSED;
}

static void resumed(ward__life *m, const ward_spec *s, int64_t now, ward__lout *o) {
  m->paused = 0;
  o->act |= WARD__LA_RESUME;
  emit(o, WARD_EV_RESUMED, 0);
  /* Heartbeats start over: the pause was no silence of its own. */
  m->hb_misses = 0;
  m->next_hb = now + s->heartbeat_ms;
}

static void on_resume(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  if (m->paused)
    resumed(m, s, ev->now, o);
}

/* ------------------------------------------------------------------ */
/* Groups                                                              */

/* Its group restarts (2: gave up): the process goes as in a planned
 * replacement, its exit held for the group (or failed). */
static void group_end(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o,
                      int how) {
  if (!m->grouped)
    return;
  m->group_end = how;
  if (!ward__life_has_process(m)) {
    m->state = how == 2 ? WARD__L_FAILED : WARD__L_HELD;
    m->group_end = 0;
    return;
  }
  if (m->state == WARD__L_REPLACING || m->state == WARD__L_STOPPING)
    return; /* on its way out already */
  if (!m->reason)
    m->reason = WARD_REASON_GROUP;
  recycle_now(m, s, ev->now, o);
}

static void on_group_term(ward__life *m, const ward_spec *s, const ward__lev *ev,
                          ward__lout *o) {
  group_end(m, s, ev, o, 1);
}

static void on_group_fail(ward__life *m, const ward_spec *s, const ward__lev *ev,
                          ward__lout *o) {
  group_end(m, s, ev, o, 2);
}

static void on_group_start(ward__life *m, const ward_spec *s, const ward__lev *ev,
                           ward__lout *o) {
  (void)s, (void)ev;
  emit(o, WARD_EV_RESTARTING, m->last_reason);
  queue_start(m, o);
}

/* ------------------------------------------------------------------ */
/* The table                                                           */

/* Short names for the table's cells. */
#define START on_start
#define RESTA on_restart
#define CYCLE on_cycle
#define STOP_ stop_run
#define STOPI stop_idle
#define STOPA stop_again
#define STOPK stop_kill
#define WANT_ on_want
#define SPAWN on_spawned
#define LATE_ on_spawned_late
#define SFAIL on_spawn_failed
#define READY on_ready
#define REFUS on_refused
#define VIOL_ on_violation
#define CLOSE on_closed
#define EXIT_ on_exit
#define T_STA tick_starting
#define T_BAC tick_backoff
#define T_REP tick_replacing
#define T_RUN tick_running
#define T_STO tick_stopping
#define CBEG_ on_call_begin
#define CEND_ on_call_end
#define KILL_ on_kill
#define HBEAT on_heartbeat
#define MEM__ on_memory
#define SETTL on_settled
#define G_TRM on_group_term
#define G_STA on_group_start
#define G_FAI on_group_fail
#define PAUSE on_pause
#define NOPAU pause_refused
#define RESUM on_resume
#define SPARE on_spares
#define ADOPT on_adopted
#define GIVEN on_given
#define _____ NULL

static const handler table[WARD__L_NSTATES][WARD__LE_NEVENTS] = {
  /*            START  RESTA  CYCLE  STOP   WANT   SPAWN  SFAIL  READY  REFUS  VIOL   CLOSE  EXIT   TICK   CBEG   CEND   KILL   HBEAT  MEM    SETTL  G_TRM  G_STA  G_FAI  PAUSE  RESUM  SPARE  ADOPT  GIVEN */
  [WARD__L_QUEUED]    = {_____, RESTA, CYCLE, STOPI, _____, SPAWN, SFAIL, _____, _____, VIOL_, _____, _____, _____, CBEG_, CEND_, _____, _____, _____, SETTL, G_TRM, _____, G_FAI, NOPAU, _____, SPARE, ADOPT, _____},
  [WARD__L_STARTING]  = {_____, RESTA, CYCLE, STOP_, _____, LATE_, _____, READY, REFUS, VIOL_, _____, EXIT_, T_STA, CBEG_, CEND_, _____, _____, _____, SETTL, G_TRM, _____, G_FAI, NOPAU, _____, SPARE, _____, _____},
  [WARD__L_READY]     = {_____, RESTA, CYCLE, STOP_, _____, LATE_, _____, _____, REFUS, VIOL_, CLOSE, EXIT_, T_RUN, CBEG_, CEND_, KILL_, HBEAT, MEM__, SETTL, G_TRM, _____, G_FAI, PAUSE, RESUM, SPARE, ADOPT, GIVEN},
  [WARD__L_DRAINING]  = {_____, RESTA, CYCLE, STOP_, _____, LATE_, _____, _____, REFUS, VIOL_, CLOSE, EXIT_, T_RUN, CBEG_, CEND_, KILL_, HBEAT, MEM__, SETTL, G_TRM, _____, G_FAI, PAUSE, RESUM, SPARE, _____, _____},
  [WARD__L_REPLACING] = {_____, RESTA, CYCLE, STOP_, _____, LATE_, _____, _____, REFUS, VIOL_, _____, EXIT_, T_REP, CBEG_, CEND_, _____, _____, _____, SETTL, G_TRM, _____, G_FAI, NOPAU, _____, SPARE, _____, _____},
  [WARD__L_BACKOFF]   = {_____, RESTA, CYCLE, STOPI, _____, LATE_, _____, _____, _____, VIOL_, _____, _____, T_BAC, CBEG_, CEND_, _____, _____, _____, SETTL, G_TRM, _____, G_FAI, NOPAU, _____, SPARE, _____, _____},
  [WARD__L_PARKED]    = {_____, RESTA, CYCLE, STOPI, WANT_, LATE_, _____, _____, _____, VIOL_, _____, _____, _____, CBEG_, CEND_, _____, _____, _____, SETTL, G_TRM, _____, G_FAI, NOPAU, _____, SPARE, _____, _____},
  [WARD__L_STOPPING]  = {_____, RESTA, CYCLE, STOPA, _____, LATE_, _____, _____, REFUS, VIOL_, _____, EXIT_, T_STO, CBEG_, CEND_, STOPK, _____, _____, SETTL, _____, _____, _____, NOPAU, _____, SPARE, _____, _____},
  [WARD__L_EXITED]    = {START, RESTA, CYCLE, STOPI, _____, LATE_, _____, _____, _____, VIOL_, _____, _____, _____, CBEG_, CEND_, _____, _____, _____, SETTL, _____, _____, _____, NOPAU, _____, SPARE, _____, _____},
  [WARD__L_STOPPED]   = {START, RESTA, CYCLE, _____, _____, LATE_, _____, _____, _____, VIOL_, _____, _____, _____, CBEG_, CEND_, _____, _____, _____, SETTL, _____, _____, _____, NOPAU, _____, SPARE, _____, _____},
  [WARD__L_FAILED]    = {START, RESTA, CYCLE, STOPI, _____, LATE_, _____, _____, _____, VIOL_, _____, _____, _____, CBEG_, CEND_, _____, _____, _____, SETTL, _____, _____, _____, NOPAU, _____, SPARE, _____, _____},
  [WARD__L_HELD]      = {_____, RESTA, CYCLE, STOPI, _____, LATE_, _____, _____, _____, VIOL_, _____, _____, _____, CBEG_, CEND_, _____, _____, _____, SETTL, _____, G_STA, G_FAI, NOPAU, _____, SPARE, _____, _____},
};

void ward__life_init(ward__life *m) {
  memset(m, 0, sizeof *m);
  m->state = WARD__L_STOPPED;
  m->startup_deadline = m->due_start = m->kill_at = INT64_MAX;
  m->next_hb = m->next_sample = INT64_MAX;
}

void ward__life_grouped(ward__life *m, int grouped) {
  m->grouped = grouped;
  if (!grouped) {
    m->group_end = 0;
    if (m->state == WARD__L_HELD)
      m->state = WARD__L_FAILED;
  }
}

void ward__life_step(ward__life *m, const ward_spec *s, const ward__lev *ev, ward__lout *o) {
  /* Not the whole struct: most steps (a call's begin and end) add nothing,
   * and this is on every call's path. */
  o->act = 0;
  o->signal = 0;
  o->goodbye = NULL;
  o->status = 0;
  o->nemit = 0;
  if (ev->type < 0 || ev->type >= WARD__LE_NEVENTS || m->state >= WARD__L_NSTATES)
    return;
  handler h = table[m->state][ev->type];
  if (h)
    h(m, s, ev, o);
  /* A paused process that leaves the running states is let go first: a
   * stop signal or a goodbye must reach a process able to act on it. */
  if (m->paused && m->state != WARD__L_READY && m->state != WARD__L_DRAINING)
    resumed(m, s, ev->now, o);
}

int64_t ward__life_due(const ward__life *m, const ward_spec *s) {
  switch (m->state) {
  case WARD__L_STARTING:
    return m->startup_deadline;
  case WARD__L_BACKOFF:
    return m->due_start;
  case WARD__L_REPLACING:
  case WARD__L_STOPPING:
    return m->kill_at;
  case WARD__L_READY:
  case WARD__L_DRAINING: {
    int64_t due = INT64_MAX;
    if (s->heartbeat_ms && !m->paused)
      due = min64(due, m->next_hb);
    if (sampled(m, s))
      due = min64(due, m->next_sample);
    if (s->idle_ms && m->state == WARD__L_READY && !m->inflight && !m->paused)
      due = min64(due, m->last_activity + s->idle_ms);
    return due;
  }
  default:
    return INT64_MAX;
  }
}

int ward__life_public(const ward__life *m) {
  switch (m->state) {
  case WARD__L_QUEUED:
  case WARD__L_STARTING:
    return m->spawning ? WARD_STATE_STARTING : WARD_STATE_RESTARTING;
  case WARD__L_READY:
    return WARD_STATE_READY;
  case WARD__L_DRAINING:
  case WARD__L_REPLACING:
  case WARD__L_HELD:
    return WARD_STATE_RESTARTING;
  case WARD__L_BACKOFF:
    return WARD_STATE_BACKING_OFF;
  case WARD__L_PARKED:
    return WARD_STATE_IDLE;
  case WARD__L_STOPPING:
    return WARD_STATE_STOPPING;
  case WARD__L_EXITED:
    return WARD_STATE_EXITED;
  case WARD__L_STOPPED:
    return WARD_STATE_STOPPED;
  default:
    return WARD_STATE_FAILED;
  }
}

int ward__life_has_process(const ward__life *m) {
  switch (m->state) {
  case WARD__L_STARTING:
  case WARD__L_READY:
  case WARD__L_DRAINING:
  case WARD__L_REPLACING:
  case WARD__L_STOPPING:
    return 1;
  default:
    return 0;
  }
}

const char *ward__life_check(const ward__life *m) {
  if (m->state >= WARD__L_NSTATES)
    return "state out of range";
  if (m->state == WARD__L_READY && !m->readies)
    return "ready without having become ready";
  if (m->ready_at && m->state != WARD__L_READY && m->state != WARD__L_DRAINING &&
      m->state != WARD__L_REPLACING && m->state != WARD__L_STOPPING)
    return "a ready time without a running process";
  if (m->state == WARD__L_DRAINING && !m->inflight)
    return "draining with no call in flight";
  if (m->state == WARD__L_BACKOFF && m->due_start == INT64_MAX)
    return "backing off with no start due";
  if (m->state == WARD__L_STOPPING && m->stop_outcome == WARD_STOP_NONE)
    return "stopping with no outcome";
  if (m->state == WARD__L_STOPPING && (m->stop_step < 0 || m->stop_step > 3))
    return "stop escalation out of range";
  if (m->state == WARD__L_STOPPED && m->generation && m->last_stop == WARD_STOP_NONE)
    return "stopped with no stop outcome";
  if (m->hb_misses < 0)
    return "negative heartbeat misses";
  if (m->paused && m->state != WARD__L_READY && m->state != WARD__L_DRAINING)
    return "paused without a running process";
  if (m->group_end < 0 || m->group_end > 2 || (m->group_end && !m->grouped))
    return "a group's end for a worker not in a group";
  if (m->state == WARD__L_HELD && !m->grouped)
    return "held without a group";
  if (m->stop_outcome < WARD_STOP_NONE || m->stop_outcome > WARD_STOP_ALREADY_EXITED)
    return "stop outcome out of range";
  return NULL;
}

const char *ward__life_state_name(int state) {
  static const char *const names[] = {"queued",  "starting", "ready",  "draining",
                                      "replacing", "backoff", "parked", "stopping",
                                      "exited",  "stopped",  "failed", "held"};
  return state >= 0 && state < WARD__L_NSTATES ? names[state] : "?";
}

const char *ward__life_event_name(int type) {
  static const char *const names[] = {
      "start",    "restart", "cycle", "stop",       "want",     "spawned", "spawn-failed",
      "ready",    "refused", "violation", "closed", "exit",     "tick",    "call-begin",
      "call-end", "kill",    "heartbeat", "memory", "settled", "group-term",
      "group-start", "group-fail", "pause", "resume", "spares", "adopted", "given"};
  return type >= 0 && type < WARD__LE_NEVENTS ? names[type] : "?";
}
