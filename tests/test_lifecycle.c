/*
 * test_lifecycle.c — the worker's state machine (src/lifecycle.c), alone:
 * no process, no thread, no clock. Each test feeds it events at times of
 * its choosing and checks the state, the timers to the millisecond, the
 * actions and the events it asks for. After every step the machine's
 * invariants must hold, and a random walk over every (state, event) pair
 * checks them everywhere.
 */

#include <signal.h>

#include "lifecycle.h"
#include "platform.h"
#include "spec.h"
#include "test.h"

static ward__life m;
static ward_spec *s;
static ward__lout o;

/* A fresh machine and a spec with round numbers: startup 1000 ms, stop
 * grace 200 ms, backoff 100 ms doubling to 800 ms, reset after 5000 ms,
 * at most 3 restarts in 10000 ms. */
static void fresh(void) {
  if (s)
    ward_spec_free(s);
  T_OK(ward_spec_new(&s, "t", "/bin/true"));
  T_OK(ward_spec_startup_timeout(s, 1000));
  T_OK(ward_spec_stop_grace(s, 200));
  T_OK(ward_spec_backoff(s, 100, 800, 200, 5000));
  T_OK(ward_spec_intensity(s, 3, 10000));
  ward__life_init(&m);
}

static void step_ev(ward__lev ev) {
  ward__life_step(&m, s, &ev, &o);
  const char *broken = ward__life_check(&m);
  if (broken)
    T_FAIL("after %s at %lld: %s (state %s)", ward__life_event_name(ev.type),
           (long long)ev.now, broken, ward__life_state_name(m.state));
}

static void step(int type, int64_t now) { step_ev((ward__lev){.type = type, .now = now}); }

#define T_STATE(st) T_EQ_STR(ward__life_state_name(m.state), ward__life_state_name(st))
#define T_ACT(bits) T_EQ_INT(o.act, (unsigned)(bits))

/* The events of the last step, by type, in order: "spawned,ready". */
static const char *emitted(void) {
  static char buf[128];
  buf[0] = 0;
  for (int i = 0; i < o.nemit; i++) {
    strcat(buf, i ? "," : "");
    strcat(buf, ward_event_name(o.emit[i].type));
  }
  return buf;
}

/* Start, spawn and ready at `t`: generation +1, state READY. */
static void up(int64_t t) {
  if (m.state != WARD__L_QUEUED)
    step(WARD__LE_START, t);
  step(WARD__LE_SPAWNED, t);
  step(WARD__LE_READY, t);
  T_STATE(WARD__L_READY);
}

static void crash(int64_t t) {
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = t, .code = -1, .signal = SIGSEGV});
}

/* ---- starting ---- */

static void test_first_start(void) {
  fresh();
  T_STATE(WARD__L_STOPPED);
  step(WARD__LE_START, 1000);
  T_STATE(WARD__L_QUEUED);
  T_ACT(WARD__LA_SPAWN);
  T_EQ_INT(m.spawning, 1);
  T_EQ_INT(ward__life_public(&m), WARD_STATE_STARTING);
  step(WARD__LE_SPAWNED, 1010);
  T_STATE(WARD__L_STARTING);
  T_EQ_STR(emitted(), "spawned");
  T_EQ_INT(m.generation, 1);
  T_EQ_INT(ward__life_due(&m, s), 2010); /* the startup timeout */
  step(WARD__LE_READY, 1500);
  T_STATE(WARD__L_READY);
  T_EQ_STR(emitted(), "ready"); /* no "restarted" for a first start */
  T_EQ_INT(m.spawning, 0);
  T_EQ_INT(m.ready_at, 1500);
  T_EQ_INT(ward__life_due(&m, s), INT64_MAX);
}

static void test_startup_timeout(void) {
  fresh();
  step(WARD__LE_START, 0);
  step(WARD__LE_SPAWNED, 0);
  step(WARD__LE_TICK, 999);
  T_ACT(0);
  step(WARD__LE_TICK, 1000);
  T_ACT(WARD__LA_KILL | WARD__LA_FIRST_FAILED);
  T_EQ_INT(o.signal, WARD__STOP_HARD);
  T_EQ_INT(m.reason, WARD_REASON_STARTUP_TIMEOUT);
  T_EQ_INT(ward__life_due(&m, s), INT64_MAX); /* killed once */
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 1003, .signal = WARD__STOP_HARD});
  T_STATE(WARD__L_FAILED); /* a first start that failed: ward_spawn says so */
  T_ACT(WARD__LA_FIRST_FAILED);
  T_EQ_STR(emitted(), "exited");
  T_EQ_INT(o.emit[0].reason, WARD_REASON_STARTUP_TIMEOUT);
  step(WARD__LE_SETTLED, 1004);
  T_EQ_INT(ward__life_public(&m), WARD_STATE_FAILED);
}

static void test_supervised_start(void) {
  fresh();
  T_OK(ward_spec_supervise_start(s, 1));
  step(WARD__LE_START, 0);
  step(WARD__LE_SPAWNED, 0);
  crash(10);
  /* A failed first start follows the policy like any failure. */
  T_STATE(WARD__L_BACKOFF);
  T_EQ_STR(emitted(), "exited,restarting");
  T_EQ_INT(o.emit[1].delay_ms, 100);
  T_EQ_INT(ward__life_due(&m, s), 110);
  /* A start that cannot even exec: code 127, the same backoff. */
  step(WARD__LE_TICK, 110);
  T_STATE(WARD__L_QUEUED);
  T_ACT(WARD__LA_SPAWN);
  step(WARD__LE_SPAWN_FAILED, 111);
  T_STATE(WARD__L_BACKOFF);
  T_EQ_INT(m.last_code, 127);
  T_EQ_INT(ward__life_due(&m, s), 111 + 200);
}

static void test_spawn_failed_first(void) {
  fresh();
  step(WARD__LE_START, 0);
  step(WARD__LE_SPAWN_FAILED, 1);
  T_STATE(WARD__L_FAILED);
  T_ACT(WARD__LA_FIRST_FAILED);
}

static void test_plain_ready_after(void) {
  fresh();
  T_OK(ward_spec_ready(s, WARD_READY_AFTER, 300));
  step(WARD__LE_START, 0);
  step(WARD__LE_SPAWNED, 50);
  T_STATE(WARD__L_STARTING);
  T_EQ_INT(ward__life_due(&m, s), 350);
  step(WARD__LE_TICK, 349);
  T_STATE(WARD__L_STARTING);
  step(WARD__LE_TICK, 350);
  T_STATE(WARD__L_READY); /* up long enough */
  /* Ready after 0 ms: ready as it is spawned. */
  fresh();
  T_OK(ward_spec_ready(s, WARD_READY_AFTER, 0));
  step(WARD__LE_START, 0);
  step(WARD__LE_SPAWNED, 5);
  T_STATE(WARD__L_READY);
  T_EQ_STR(emitted(), "spawned,ready");
}

static void test_spawned_after_stop(void) {
  fresh();
  step(WARD__LE_START, 0);
  step_ev((ward__lev){.type = WARD__LE_STOP, .now = 1, .grace_ms = -1});
  T_STATE(WARD__L_STOPPED); /* no process yet: stopped at once */
  T_EQ_STR(emitted(), "stopped");
  T_EQ_INT(o.emit[0].outcome, WARD_STOP_ALREADY_EXITED);
  step(WARD__LE_SPAWNED, 2);
  T_ACT(WARD__LA_DISCARD); /* the process started meanwhile must not live */
  T_STATE(WARD__L_STOPPED);
  T_EQ_INT(m.generation, 0);
}

/* ---- the restart decision, backoff and intensity ---- */

static void test_backoff_doubles_and_caps(void) {
  fresh();
  T_OK(ward_spec_intensity(s, 256, 0)); /* no limit here */
  up(0);
  int64_t t = 0;
  const int expect[] = {100, 200, 400, 800, 800, 800};
  for (int i = 0; i < 6; i++) {
    t += 10;
    crash(t);
    T_STATE(WARD__L_BACKOFF);
    T_EQ_INT(o.emit[1].attempt, i + 1);
    T_EQ_INT(o.emit[1].delay_ms, expect[i]);
    T_EQ_INT(ward__life_due(&m, s), t + expect[i]);
    step(WARD__LE_TICK, t + expect[i] - 1);
    T_STATE(WARD__L_BACKOFF);
    t += expect[i];
    step(WARD__LE_TICK, t);
    T_STATE(WARD__L_QUEUED);
    up(t);
    T_EQ_STR(emitted(), "ready,restarted");
  }
  T_EQ_INT(m.generation, 7);
  T_EQ_INT(m.sup.restarts, 6);
}

static void test_backoff_resets_after_stable_uptime(void) {
  fresh();
  T_OK(ward_spec_intensity(s, 256, 0));
  up(0);
  crash(10);
  T_EQ_INT(o.emit[1].delay_ms, 100);
  step(WARD__LE_TICK, 110);
  up(110);
  crash(120);
  T_EQ_INT(o.emit[1].delay_ms, 200);
  step(WARD__LE_TICK, 320);
  up(320);
  /* Up 5000 ms: the run of failures is forgotten. */
  crash(5320);
  T_EQ_INT(o.emit[1].delay_ms, 100);
  T_EQ_INT(o.emit[1].attempt, 1);
  step(WARD__LE_TICK, 5420);
  up(5420);
  crash(10419); /* 4999 ms: not enough */
  T_EQ_INT(o.emit[1].delay_ms, 200);
}

static void test_intensity_window(void) {
  fresh();
  T_OK(ward_spec_backoff(s, 0, 0, 100, 5000)); /* restarts at once */
  up(0);
  for (int i = 1; i <= 3; i++) {
    crash(i * 10);
    T_STATE(WARD__L_QUEUED);
    up(i * 10);
  }
  /* A fourth failure within 10000 ms of the first: it gives up. */
  crash(40);
  T_STATE(WARD__L_FAILED);
  T_EQ_STR(emitted(), "exited,gave-up");
  T_EQ_INT(o.emit[1].reason, WARD_REASON_CRASHED);
  T_EQ_INT(ward__life_public(&m), WARD_STATE_FAILED);
  /* An explicit restart forgets the window and the run of failures (it
   * is not counted as a restart itself): the next crash is restarted,
   * though three restarts happened within the period, as a first one. */
  step(WARD__LE_RESTART, 50);
  T_STATE(WARD__L_QUEUED);
  T_EQ_INT(m.spawning, 1);
  up(50);
  T_EQ_INT(m.sup.restarts, 3);
  T_OK(ward_spec_backoff(s, 100, 800, 200, 5000));
  crash(60);
  T_STATE(WARD__L_BACKOFF);
  T_EQ_STR(emitted(), "exited,restarting");
  T_EQ_INT(o.emit[1].attempt, 1);
  T_EQ_INT(o.emit[1].delay_ms, 100);
  T_EQ_INT(m.sup.restarts, 4);
  /* Restarts leave the window as they age: 3 more fit from 10010 on. */
  fresh();
  T_OK(ward_spec_backoff(s, 0, 0, 100, 5000));
  up(0);
  for (int i = 1; i <= 3; i++) {
    crash(i);
    up(i);
  }
  crash(10001); /* the first restart (at 1) is 10000 ms old: out */
  T_STATE(WARD__L_QUEUED);
}

static void test_restart_modes(void) {
  fresh();
  T_OK(ward_spec_restart(s, WARD_RESTART_ON_FAILURE));
  up(0);
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 5, .code = 0});
  T_STATE(WARD__L_EXITED); /* a clean exit is no failure */
  T_EQ_INT(o.emit[0].reason, WARD_REASON_EXITED);
  fresh();
  T_OK(ward_spec_restart(s, WARD_RESTART_NEVER));
  up(0);
  crash(5);
  T_STATE(WARD__L_EXITED);
  fresh();
  T_OK(ward_spec_restart(s, WARD_RESTART_ALWAYS));
  up(0);
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 5, .code = 0});
  T_STATE(WARD__L_BACKOFF);
}

/* ---- health ---- */

static void test_heartbeat(void) {
  fresh();
  T_OK(ward_spec_heartbeat(s, 100, 3));
  up(0);
  T_EQ_INT(ward__life_due(&m, s), 100);
  step(WARD__LE_TICK, 100);
  T_ACT(WARD__LA_HEARTBEAT);
  T_EQ_INT(ward__life_due(&m, s), 200);
  /* Two misses, then an answer: counted from scratch again. */
  step_ev((ward__lev){.type = WARD__LE_HEARTBEAT, .now = 100, .missed = 1});
  step_ev((ward__lev){.type = WARD__LE_HEARTBEAT, .now = 200, .missed = 1});
  T_EQ_INT(m.hb_misses, 2);
  step_ev((ward__lev){.type = WARD__LE_HEARTBEAT, .now = 300, .missed = 0});
  T_EQ_INT(m.hb_misses, 0);
  for (int i = 1; i <= 2; i++)
    step_ev((ward__lev){.type = WARD__LE_HEARTBEAT, .now = 300 + i * 100, .missed = 1});
  T_STATE(WARD__L_READY);
  step_ev((ward__lev){.type = WARD__LE_HEARTBEAT, .now = 600, .missed = 1});
  T_STATE(WARD__L_REPLACING);
  T_EQ_STR(emitted(), "unhealthy");
  T_EQ_INT(o.emit[0].attempt, 3);
  T_ACT(WARD__LA_KILL);
  T_EQ_INT(o.signal, WARD__STOP_HARD);
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 601, .signal = WARD__STOP_HARD});
  T_EQ_INT(o.emit[0].reason, WARD_REASON_UNHEALTHY);
  T_STATE(WARD__L_BACKOFF);
}

/* ---- pause and resume ---- */

static void test_pause_resume(void) {
  fresh();
  T_OK(ward_spec_heartbeat(s, 100, 2));
  T_OK(ward_spec_idle_timeout(s, 1000));
  /* Nothing to pause before a process runs. */
  step(WARD__LE_PAUSE, 0);
  T_EQ_INT(o.status, WARD_ECLOSED);
  T_EQ_INT(m.paused, 0);
  step(WARD__LE_START, 0);
  step(WARD__LE_SPAWNED, 0);
  step(WARD__LE_PAUSE, 1);
  T_EQ_INT(o.status, WARD_ECLOSED); /* starting: its startup deadline runs */
  step(WARD__LE_READY, 0);
  step(WARD__LE_PAUSE, 50);
  T_ACT(WARD__LA_PAUSE);
  T_EQ_STR(emitted(), "paused");
  T_EQ_INT(m.paused, 1);
  T_EQ_INT(ward__life_public(&m), WARD_STATE_READY);
  /* Again: nothing more. */
  step(WARD__LE_PAUSE, 60);
  T_ACT(0);
  T_EQ_STR(emitted(), "");
  /* No heartbeat, no idle end while paused; a ping sent before the pause
   * that went unanswered counts for nothing. */
  T_EQ_INT(ward__life_due(&m, s), INT64_MAX);
  step(WARD__LE_TICK, 5000);
  T_ACT(0);
  for (int i = 0; i < 5; i++)
    step_ev((ward__lev){.type = WARD__LE_HEARTBEAT, .now = 5000 + i, .missed = 1});
  T_STATE(WARD__L_READY);
  T_EQ_INT(m.hb_misses, 0);
  /* Calls still begin and end. */
  step(WARD__LE_CALL_BEGIN, 5010);
  step(WARD__LE_RESUME, 6000);
  T_ACT(WARD__LA_RESUME);
  T_EQ_STR(emitted(), "resumed");
  T_EQ_INT(m.paused, 0);
  T_EQ_INT(ward__life_due(&m, s), 6100); /* heartbeats start over */
  step(WARD__LE_RESUME, 6001);
  T_ACT(0); /* not paused: nothing */
  step(WARD__LE_CALL_END, 6002);

  /* A stop of a paused worker thaws it first, then says goodbye. */
  step(WARD__LE_PAUSE, 7000);
  step_ev((ward__lev){.type = WARD__LE_STOP, .now = 7001, .grace_ms = 200});
  T_STATE(WARD__L_STOPPING);
  T_TRUE(o.act & WARD__LA_RESUME);
  T_TRUE(o.act & WARD__LA_GOODBYE);
  T_EQ_STR(emitted(), "resumed");
  T_EQ_INT(m.paused, 0);
  step(WARD__LE_PAUSE, 7002);
  T_EQ_INT(o.status, WARD_ECLOSED); /* on its way out */
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 7003, .code = 0});
  T_STATE(WARD__L_STOPPED);

  /* A deadline that passes while paused kills and replaces it, thawed. */
  up(8000);
  step(WARD__LE_PAUSE, 8001);
  step(WARD__LE_CALL_BEGIN, 8002);
  step_ev((ward__lev){.type = WARD__LE_KILL, .now = 9000, .reason = WARD_REASON_REQUEST_TIMEOUT});
  T_STATE(WARD__L_REPLACING);
  T_ACT(WARD__LA_KILL | WARD__LA_RESUME);
  T_EQ_STR(emitted(), "resumed");
  T_EQ_INT(m.paused, 0);

  /* Exiting while paused (killed from outside) ends the pause too. */
  fresh();
  up(0);
  step(WARD__LE_PAUSE, 1);
  crash(2);
  T_STATE(WARD__L_BACKOFF);
  T_EQ_INT(m.paused, 0);
  T_TRUE(o.act & WARD__LA_RESUME);
  T_EQ_STR(emitted(), "exited,restarting,resumed");
}

/* ---- the tree's limits: the kernel's, or sampled ---- */

static void test_tree_limits(void) {
  fresh();
  T_OK(ward_spec_tree_limits(s, 1000, 500, 0, 0));
  T_OK(ward_spec_memory_limit(s, 0, 0, 100));
  /* No cgroup enforcing them: sampled, as hard and soft limits. */
  step(WARD__LE_START, 0);
  step_ev((ward__lev){.type = WARD__LE_SPAWNED, .now = 0, .kernel_memory = 0});
  step(WARD__LE_READY, 0);
  T_EQ_INT(ward__life_due(&m, s), 100);
  step(WARD__LE_TICK, 100);
  T_ACT(WARD__LA_SAMPLE);
  step_ev((ward__lev){.type = WARD__LE_MEMORY, .now = 100, .rss = 1001});
  T_STATE(WARD__L_REPLACING);
  T_EQ_INT(m.reason, WARD_REASON_MEMORY_LIMIT);
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 101, .signal = WARD__STOP_HARD});
  T_STATE(WARD__L_QUEUED); /* a new process at once */
  /* The spec's own sampled limits win over the tree's. */
  T_OK(ward_spec_memory_limit(s, 0, 5000, 100));
  step_ev((ward__lev){.type = WARD__LE_SPAWNED, .now = 200, .kernel_memory = 0});
  step(WARD__LE_READY, 200);
  step_ev((ward__lev){.type = WARD__LE_MEMORY, .now = 300, .rss = 4000});
  T_STATE(WARD__L_REPLACING); /* no call in flight: at once */
  T_EQ_INT(m.reason, WARD_REASON_MEMORY_LIMIT); /* soft: the tree's 500 */
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 301, .code = 0});
  /* A cgroup that enforces them: nothing sampled, the kernel's OOM kill
   * is its own reason. */
  T_OK(ward_spec_memory_limit(s, 0, 0, 100));
  step_ev((ward__lev){.type = WARD__LE_SPAWNED, .now = 400, .kernel_memory = 1});
  step(WARD__LE_READY, 400);
  T_EQ_INT(ward__life_due(&m, s), INT64_MAX);
  step(WARD__LE_TICK, 10000);
  T_ACT(0);
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 10001, .signal = WARD__STOP_HARD, .oom = 1});
  T_EQ_STR(emitted(), "exited,restarting");
  T_EQ_INT(o.emit[0].reason, WARD_REASON_OOM_KILLED);
  T_EQ_INT(m.last_reason, WARD_REASON_OOM_KILLED);
  /* An exit without the kernel's kill is what it was. */
  step(WARD__LE_TICK, 20000);
  step_ev((ward__lev){.type = WARD__LE_SPAWNED, .now = 20000, .kernel_memory = 1});
  step(WARD__LE_READY, 20000);
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 20001, .signal = SIGSEGV, .oom = 0});
  T_EQ_INT(m.last_reason, WARD_REASON_CRASHED);
}

static void test_request_deadline(void) {
  fresh();
  up(0);
  step(WARD__LE_CALL_BEGIN, 10);
  step_ev((ward__lev){.type = WARD__LE_KILL, .now = 30010, .reason = WARD_REASON_REQUEST_TIMEOUT});
  T_STATE(WARD__L_REPLACING);
  T_ACT(WARD__LA_KILL);
  T_EQ_INT(m.reason, WARD_REASON_REQUEST_TIMEOUT);
  /* A stop right after keeps that reason (the call returned it). */
  step_ev((ward__lev){.type = WARD__LE_STOP, .now = 30011, .grace_ms = -1});
  T_STATE(WARD__L_STOPPING);
  T_EQ_INT(m.stop_outcome, WARD_STOP_KILLED);
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 30012, .signal = WARD__STOP_HARD});
  T_EQ_STR(emitted(), "exited,stopped");
  T_EQ_INT(o.emit[0].reason, WARD_REASON_REQUEST_TIMEOUT);
  /* Without kill on timeout, the worker is left alone. */
  fresh();
  T_OK(ward_spec_kill_on_timeout(s, 0));
  up(0);
  step_ev((ward__lev){.type = WARD__LE_KILL, .now = 5, .reason = WARD_REASON_REQUEST_TIMEOUT});
  T_STATE(WARD__L_READY);
  T_ACT(0);
  /* A cancelled call past its grace kills it all the same. */
  step_ev((ward__lev){.type = WARD__LE_KILL, .now = 6, .reason = WARD_REASON_CANCELLED});
  T_STATE(WARD__L_REPLACING);
  T_EQ_INT(m.reason, WARD_REASON_CANCELLED);
}

static void test_memory_limits(void) {
  fresh();
  T_OK(ward_spec_memory_limit(s, 1000, 2000, 50));
  up(0);
  T_EQ_INT(ward__life_due(&m, s), 50);
  step(WARD__LE_TICK, 50);
  T_ACT(WARD__LA_SAMPLE);
  T_EQ_INT(ward__life_due(&m, s), 100);
  step_ev((ward__lev){.type = WARD__LE_MEMORY, .now = 50, .rss = 1000});
  T_STATE(WARD__L_READY); /* at the limit is not over it */
  /* Over the soft limit with a call in flight: drains, then goes. */
  step(WARD__LE_CALL_BEGIN, 60);
  step_ev((ward__lev){.type = WARD__LE_MEMORY, .now = 100, .rss = 1001});
  T_STATE(WARD__L_DRAINING);
  T_ACT(0);
  step_ev((ward__lev){.type = WARD__LE_CALL_END, .now = 120, .answered = 1, .current = 1});
  T_STATE(WARD__L_REPLACING);
  T_ACT(WARD__LA_GOODBYE);
  T_EQ_STR(o.goodbye, "recycle");
  T_EQ_INT(ward__life_due(&m, s), 320); /* WARD__STOP_HARD after the stop grace */
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 130, .code = 0});
  T_EQ_STR(emitted(), "exited,restarting");
  T_EQ_INT(o.emit[0].reason, WARD_REASON_MEMORY_LIMIT);
  T_EQ_INT(o.emit[1].delay_ms, 0); /* a planned replacement: at once */
  T_STATE(WARD__L_QUEUED);
  /* Over the hard limit: killed at once. */
  up(200);
  step_ev((ward__lev){.type = WARD__LE_MEMORY, .now = 250, .rss = 2001});
  T_STATE(WARD__L_REPLACING);
  T_ACT(WARD__LA_KILL);
  T_EQ_INT(m.reason, WARD_REASON_MEMORY_LIMIT);
}

/* ---- planned replacements ---- */

static void test_max_requests(void) {
  fresh();
  T_OK(ward_spec_max_requests(s, 2));
  up(0);
  for (int i = 0; i < 2; i++) {
    step(WARD__LE_CALL_BEGIN, 10);
    T_STATE(WARD__L_READY);
    step_ev((ward__lev){.type = WARD__LE_CALL_END, .now = 11, .answered = 1, .current = 1});
  }
  T_STATE(WARD__L_REPLACING); /* the second answer was the last */
  T_ACT(WARD__LA_GOODBYE);
  T_EQ_INT(m.served, 2);
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 20, .code = 0});
  T_STATE(WARD__L_QUEUED);
  T_EQ_STR(emitted(), "exited,restarting");
  T_EQ_INT(o.emit[0].reason, WARD_REASON_MAX_REQUESTS);
  T_EQ_INT(o.emit[1].reason, WARD_REASON_MAX_REQUESTS);
  T_EQ_INT(o.emit[1].attempt, 0); /* a planned replacement: at once, no attempt */
  T_EQ_INT(o.emit[1].delay_ms, 0);
  T_EQ_INT(m.sup.failures, 0); /* not a failure */
  /* The count is per process: the next one serves its own two. */
  up(20);
  step(WARD__LE_CALL_BEGIN, 21);
  step_ev((ward__lev){.type = WARD__LE_CALL_END, .now = 22, .answered = 1, .current = 1});
  T_STATE(WARD__L_READY);
  step(WARD__LE_CALL_BEGIN, 23);
  step_ev((ward__lev){.type = WARD__LE_CALL_END, .now = 24, .answered = 1, .current = 1});
  T_STATE(WARD__L_REPLACING);
  T_EQ_INT(m.served, 4);
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 25, .code = 0});
  T_STATE(WARD__L_QUEUED);
  T_EQ_INT(m.generation, 2);
  /* Unanswered calls and calls of an older connection do not count. */
  up(30);
  step(WARD__LE_CALL_BEGIN, 31);
  step_ev((ward__lev){.type = WARD__LE_CALL_END, .now = 32, .answered = 0, .current = 1});
  step(WARD__LE_CALL_BEGIN, 33);
  step_ev((ward__lev){.type = WARD__LE_CALL_END, .now = 34, .answered = 1, .current = 0});
  T_EQ_INT(m.gen_served, 0);
  T_STATE(WARD__L_READY);
}

static void test_idle_parking(void) {
  fresh();
  T_OK(ward_spec_idle_timeout(s, 500));
  up(0);
  T_EQ_INT(ward__life_due(&m, s), 500);
  /* A call in flight is not idleness; its end starts the count again. */
  step(WARD__LE_CALL_BEGIN, 100);
  T_EQ_INT(ward__life_due(&m, s), INT64_MAX);
  step_ev((ward__lev){.type = WARD__LE_CALL_END, .now = 300, .answered = 1, .current = 1});
  T_EQ_INT(ward__life_due(&m, s), 800);
  step(WARD__LE_TICK, 799);
  T_STATE(WARD__L_READY);
  step(WARD__LE_TICK, 800);
  T_STATE(WARD__L_REPLACING);
  T_ACT(WARD__LA_GOODBYE);
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 810, .code = 0});
  T_STATE(WARD__L_PARKED); /* no restart: no process until a call wants one */
  T_EQ_STR(emitted(), "exited");
  T_EQ_INT(o.emit[0].reason, WARD_REASON_IDLE);
  T_EQ_INT(ward__life_public(&m), WARD_STATE_IDLE);
  T_EQ_INT(ward__life_due(&m, s), INT64_MAX);
  step(WARD__LE_WANT, 5000);
  T_STATE(WARD__L_QUEUED);
  T_ACT(WARD__LA_SPAWN);
  up(5000);
  T_EQ_STR(emitted(), "ready,restarted");
}

static void test_cycle(void) {
  fresh();
  up(0);
  step(WARD__LE_CYCLE, 10);
  T_STATE(WARD__L_REPLACING);
  T_EQ_INT(m.reason, WARD_REASON_CYCLE);
  /* A crash while being replaced is a crash. */
  crash(20);
  T_EQ_INT(o.emit[0].reason, WARD_REASON_CRASHED);
  T_STATE(WARD__L_BACKOFF);
  step(WARD__LE_CYCLE, 30); /* backing off: start now */
  T_STATE(WARD__L_QUEUED);
  T_ACT(WARD__LA_SPAWN);
  up(30);
  /* A process that ward killed while cycling keeps the cycle's reason. */
  step(WARD__LE_CYCLE, 40);
  step(WARD__LE_TICK, 240);
  T_ACT(WARD__LA_KILL); /* the grace is over */
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 241, .signal = WARD__STOP_HARD});
  T_EQ_INT(o.emit[0].reason, WARD_REASON_CYCLE);
  /* Not running: nothing to cycle. */
  fresh();
  step(WARD__LE_CYCLE, 0);
  T_EQ_INT(o.status, WARD_ECLOSED);
  /* With a call in flight it drains: no goodbye until the call is
   * answered, then a replacement at once (no delay, no attempt). */
  fresh();
  up(0);
  step(WARD__LE_CALL_BEGIN, 5);
  step(WARD__LE_CYCLE, 10);
  T_STATE(WARD__L_DRAINING);
  T_ACT(0);
  T_EQ_INT(ward__life_public(&m), WARD_STATE_RESTARTING);
  T_EQ_INT(ward__life_due(&m, s), INT64_MAX); /* no grace while a call drains */
  step_ev((ward__lev){.type = WARD__LE_CALL_END, .now = 310, .answered = 1, .current = 1});
  T_STATE(WARD__L_REPLACING);
  T_ACT(WARD__LA_GOODBYE);
  T_EQ_STR(o.goodbye, "recycle");
  T_EQ_INT(ward__life_due(&m, s), 510);
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 320, .code = 0});
  T_STATE(WARD__L_QUEUED);
  T_ACT(WARD__LA_SPAWN);
  T_EQ_STR(emitted(), "exited,restarting");
  T_EQ_INT(o.emit[0].reason, WARD_REASON_CYCLE);
  T_EQ_INT(o.emit[0].code, 0);
  T_EQ_INT(o.emit[1].attempt, 0);
  T_EQ_INT(o.emit[1].delay_ms, 0);
  up(320);
  T_EQ_STR(emitted(), "ready,restarted");
  T_EQ_INT(m.generation, 2);
}

/* ---- the connection ---- */

static void test_closed_and_violation(void) {
  fresh();
  up(0);
  step(WARD__LE_CLOSED, 100);
  T_STATE(WARD__L_REPLACING);
  T_EQ_INT(ward__life_due(&m, s), 300);
  step(WARD__LE_TICK, 300);
  T_ACT(WARD__LA_KILL);
  T_EQ_INT(m.reason, WARD_REASON_PROTOCOL); /* closed its channel, did not exit */
  fresh();
  up(0);
  step_ev((ward__lev){.type = WARD__LE_VIOLATION, .now = 5, .error = WARD_EPROTO});
  T_EQ_STR(emitted(), "error");
  T_EQ_INT(o.emit[0].error, WARD_EPROTO);
  T_ACT(WARD__LA_KILL);
  T_EQ_INT(m.reason, WARD_REASON_PROTOCOL);
  /* During the first start it is why the start failed. */
  fresh();
  step(WARD__LE_START, 0);
  step(WARD__LE_SPAWNED, 0);
  step_ev((ward__lev){.type = WARD__LE_VIOLATION, .now = 5, .error = WARD_ETOOBIG});
  T_ACT(WARD__LA_KILL | WARD__LA_FIRST_FAILED);
  step(WARD__LE_REFUSED, 6);
  T_ACT(WARD__LA_KILL | WARD__LA_FIRST_FAILED);
}

/* ---- stop ---- */

static void test_stop_escalation(void) {
  fresh();
  T_OK(ward_spec_stop_signal(s, SIGINT));
  up(0);
  step_ev((ward__lev){.type = WARD__LE_STOP, .now = 1000, .grace_ms = 100});
  T_STATE(WARD__L_STOPPING);
  T_ACT(WARD__LA_GOODBYE | WARD__LA_CLOSE);
  T_EQ_STR(o.goodbye, "stop");
  T_EQ_INT(m.reason, WARD_REASON_STOPPED);
  T_EQ_INT(ward__life_due(&m, s), 1100);
  step(WARD__LE_TICK, 1099);
  T_ACT(0);
  step(WARD__LE_TICK, 1100);
  T_ACT(WARD__LA_KILL);
  T_EQ_INT(o.signal, SIGINT);
  T_EQ_INT(m.stop_outcome, WARD_STOP_TERMINATED);
  T_EQ_INT(ward__life_due(&m, s), 1200);
  step(WARD__LE_TICK, 1200);
  T_EQ_INT(o.signal, WARD__STOP_HARD);
  T_EQ_INT(m.stop_outcome, WARD_STOP_KILLED);
  T_EQ_INT(ward__life_due(&m, s), 31200);
  step(WARD__LE_TICK, 31200);
  T_EQ_INT(m.stop_step, 3); /* stuck: the waiter says so */
  T_ACT(0);
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 31300, .signal = WARD__STOP_HARD});
  T_STATE(WARD__L_STOPPED);
  T_EQ_STR(emitted(), "exited,stopped");
  T_EQ_INT(o.emit[0].reason, WARD_REASON_STOPPED);
  T_EQ_INT(o.emit[1].outcome, WARD_STOP_KILLED);
  T_EQ_INT(m.last_stop, WARD_STOP_KILLED);
  /* A stop is never followed by a restart, and a second stop is nothing. */
  step_ev((ward__lev){.type = WARD__LE_STOP, .now = 31400, .grace_ms = 100});
  T_ACT(0);
  T_EQ_INT(o.nemit, 0);
}

static void test_stop_then_timed_out_call(void) {
  /* A call times out as a stop begins: the process stuck in it is killed
   * at once, not after the stop's grace; the stop stays a stop. */
  fresh();
  up(0);
  step_ev((ward__lev){.type = WARD__LE_STOP, .now = 1000, .grace_ms = 2000});
  T_EQ_INT(ward__life_due(&m, s), 3000);
  step_ev((ward__lev){.type = WARD__LE_KILL, .now = 1010,
                      .reason = WARD_REASON_REQUEST_TIMEOUT});
  T_STATE(WARD__L_STOPPING);
  T_ACT(WARD__LA_KILL);
  T_EQ_INT(o.signal, WARD__STOP_HARD);
  T_EQ_INT(m.stop_outcome, WARD_STOP_KILLED);
  T_EQ_INT(m.reason, WARD_REASON_STOPPED);
  T_EQ_INT(ward__life_due(&m, s), 31010);
  /* A second one changes nothing. */
  step_ev((ward__lev){.type = WARD__LE_KILL, .now = 1020, .reason = WARD_REASON_CANCELLED});
  T_ACT(0);
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 1030, .signal = WARD__STOP_HARD});
  T_STATE(WARD__L_STOPPED);
  T_EQ_INT(m.last_stop, WARD_STOP_KILLED);

  /* Without kill-on-timeout the stop keeps its grace. */
  fresh();
  T_OK(ward_spec_kill_on_timeout(s, 0));
  up(0);
  step_ev((ward__lev){.type = WARD__LE_STOP, .now = 1000, .grace_ms = 2000});
  step_ev((ward__lev){.type = WARD__LE_KILL, .now = 1010,
                      .reason = WARD_REASON_REQUEST_TIMEOUT});
  T_ACT(0);
  T_EQ_INT(ward__life_due(&m, s), 3000);
}

static void test_stop_graceful_and_again(void) {
  fresh();
  up(0);
  step_ev((ward__lev){.type = WARD__LE_STOP, .now = 10, .grace_ms = 1000});
  /* A second stop with a shorter grace hurries the first. */
  step_ev((ward__lev){.type = WARD__LE_STOP, .now = 20, .grace_ms = 50});
  T_EQ_INT(ward__life_due(&m, s), 70);
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 30, .code = 0});
  T_EQ_INT(o.emit[1].outcome, WARD_STOP_GRACEFUL);
  /* A negative grace is the spec's. */
  fresh();
  up(0);
  step_ev((ward__lev){.type = WARD__LE_STOP, .now = 10, .grace_ms = -1});
  T_EQ_INT(ward__life_due(&m, s), 210);
}

static void test_stop_plain(void) {
  fresh();
  T_OK(ward_spec_ready(s, WARD_READY_AFTER, 0));
  up(0);
  step_ev((ward__lev){.type = WARD__LE_STOP, .now = 10, .grace_ms = 100});
  /* The stop signal is how a plain process is asked, at once. */
  T_ACT(WARD__LA_KILL | WARD__LA_CLOSE);
  T_EQ_INT(o.signal, SIGTERM);
  step(WARD__LE_TICK, 110);
  T_EQ_INT(o.signal, WARD__STOP_HARD);
  T_EQ_INT(m.stop_outcome, WARD_STOP_KILLED);
}

static void test_restart_from_rest(void) {
  fresh();
  T_OK(ward_spec_restart(s, WARD_RESTART_NEVER));
  up(0);
  crash(10);
  T_STATE(WARD__L_EXITED);
  step(WARD__LE_RESTART, 20);
  T_STATE(WARD__L_QUEUED);
  T_EQ_INT(m.spawning, 1);
  /* Stopping: a restart must wait for the stop. */
  up(20);
  step_ev((ward__lev){.type = WARD__LE_STOP, .now = 30, .grace_ms = 100});
  step(WARD__LE_RESTART, 31);
  T_EQ_INT(o.status, WARD_ECLOSED);
}

/* ---- groups ---- */

static void test_group_member(void) {
  fresh();
  ward__life_grouped(&m, 1);
  up(0);
  /* A failure is the group's to handle: held, no restart of its own. */
  crash(10);
  T_STATE(WARD__L_HELD);
  T_ACT(WARD__LA_GROUP);
  T_EQ_STR(emitted(), "exited");
  T_EQ_INT(ward__life_public(&m), WARD_STATE_RESTARTING);
  T_EQ_INT(ward__life_due(&m, s), INT64_MAX);
  step(WARD__LE_GROUP_START, 20);
  T_STATE(WARD__L_QUEUED);
  T_ACT(WARD__LA_SPAWN);
  T_EQ_STR(emitted(), "restarting");
  up(20);
  T_EQ_STR(emitted(), "ready,restarted");
  /* Its group restarts it: ended as a planned replacement, then held. */
  step(WARD__LE_GROUP_TERM, 30);
  T_STATE(WARD__L_REPLACING);
  T_ACT(WARD__LA_GOODBYE);
  T_EQ_INT(ward__life_due(&m, s), 230); /* WARD__STOP_HARD after the stop grace */
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 40, .code = 0});
  T_STATE(WARD__L_HELD);
  T_ACT(0); /* not a failure: the group knows */
  T_EQ_INT(o.emit[0].reason, WARD_REASON_GROUP);
  /* Its group gives up: failed, at once without a process. */
  step(WARD__LE_GROUP_FAIL, 50);
  T_STATE(WARD__L_FAILED);
  /* A planned replacement stays its own; a clean exit its mode keeps down
   * is no failure for the group. */
  fresh();
  ward__life_grouped(&m, 1);
  T_OK(ward_spec_restart(s, WARD_RESTART_ON_FAILURE));
  up(0);
  step(WARD__LE_CYCLE, 5);
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 6, .code = 0});
  T_STATE(WARD__L_QUEUED);
  T_ACT(WARD__LA_SPAWN);
  up(6);
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 7, .code = 0});
  T_STATE(WARD__L_EXITED);
  T_ACT(0);
  /* A worker outside any group ignores the group's events. */
  fresh();
  up(0);
  step(WARD__LE_GROUP_TERM, 1);
  step(WARD__LE_GROUP_FAIL, 2);
  T_STATE(WARD__L_READY);
  T_ACT(0);
}

/* ---- every cell ---- */

/* ---- spares and replacement ---- */

static void spares(int n, int64_t t) {
  step_ev((ward__lev){.type = WARD__LE_SPARES, .now = t, .spares = n});
}

/* With a ready spare, a crash queues the new process at once (no
 * backoff); the host's adoption makes it the next generation, ready. The
 * policy still counts the failure. */
static void test_spare_skips_backoff(void) {
  fresh();
  up(0);
  spares(1, 5);
  T_STATE(WARD__L_READY);
  T_ACT(0);
  T_EQ_INT(m.spares_ready, 1);
  crash(100);
  T_STATE(WARD__L_QUEUED);
  T_ACT(WARD__LA_SPAWN);
  T_EQ_STR(emitted(), "exited,restarting");
  T_EQ_INT(o.emit[1].delay_ms, 0);
  T_EQ_INT(o.emit[1].attempt, 1);
  T_EQ_INT(m.sup.failures, 1);
  step(WARD__LE_ADOPTED, 100);
  T_STATE(WARD__L_READY);
  T_EQ_STR(emitted(), "spawned,ready,restarted");
  T_EQ_INT(m.generation, 2);
  T_EQ_INT(m.ready_at, 100);
  T_EQ_INT(m.spawning, 0);

  /* No spare: the same crash backs off. */
  spares(0, 150);
  crash(200);
  T_STATE(WARD__L_BACKOFF);
  T_EQ_INT(m.due_start, 200 + 200); /* the second failure in a row: doubled */
  /* A spare ready meanwhile ends the wait: no start to space out. */
  spares(1, 210);
  T_STATE(WARD__L_QUEUED);
  T_ACT(WARD__LA_SPAWN);
  T_EQ_INT(ward__life_due(&m, s), INT64_MAX);
  step(WARD__LE_ADOPTED, 210);
  T_STATE(WARD__L_READY);
  T_EQ_INT(m.generation, 3);

  /* The intensity still holds: a third failure in the window, then a
   * fourth gives up, spare or not. */
  crash(300);
  step(WARD__LE_ADOPTED, 300);
  crash(400);
  T_STATE(WARD__L_FAILED);
  T_EQ_STR(emitted(), "exited,gave-up");
}

/* A planned replacement with a spare: the exit after the goodbye queues
 * the new process at once, as without one. */
static void test_spare_recycle(void) {
  fresh();
  T_OK(ward_spec_max_requests(s, 1));
  up(0);
  spares(1, 1);
  step(WARD__LE_CALL_BEGIN, 10);
  step_ev((ward__lev){.type = WARD__LE_CALL_END, .now = 11, .answered = 1, .current = 1});
  T_STATE(WARD__L_REPLACING);
  step_ev((ward__lev){.type = WARD__LE_EXIT, .now = 12, .code = 0});
  T_STATE(WARD__L_QUEUED);
  T_ACT(WARD__LA_SPAWN);
  step(WARD__LE_ADOPTED, 12);
  T_STATE(WARD__L_READY);
  T_EQ_INT(m.generation, 2);
  T_EQ_INT(m.gen_served, 0);
}

/* A replacement: a ready worker adopts a new process while a call is in
 * flight on the old one; that call ends as not current. A paused worker
 * is not replaced. A spare's process takes the generation it was given. */
static void test_adopted_while_ready(void) {
  fresh();
  up(0);
  step(WARD__LE_CALL_BEGIN, 10);
  step(WARD__LE_ADOPTED, 20);
  T_STATE(WARD__L_READY);
  T_EQ_STR(emitted(), "spawned,ready,restarted");
  T_EQ_INT(m.generation, 2);
  T_EQ_INT(m.ready_at, 20);
  T_EQ_INT(m.inflight, 1);
  step_ev((ward__lev){.type = WARD__LE_CALL_END, .now = 30, .answered = 1, .current = 0});
  T_EQ_INT(m.inflight, 0);
  T_EQ_INT(m.served, 1);
  T_EQ_INT(m.gen_served, 0);
  step(WARD__LE_PAUSE, 40);
  step(WARD__LE_ADOPTED, 41);
  T_EQ_INT(m.generation, 2);
  T_EQ_INT(o.nemit, 0);
  /* Adopted means nothing where no process was asked for. */
  fresh();
  step(WARD__LE_ADOPTED, 1);
  T_STATE(WARD__L_STOPPED);
  /* A spare whose process was given to its worker starts another: it
   * holds none, and says nothing. */
  fresh();
  up(0);
  step(WARD__LE_GIVEN, 10);
  T_STATE(WARD__L_QUEUED);
  T_ACT(WARD__LA_SPAWN);
  T_EQ_INT(o.nemit, 0);
  T_EQ_INT(m.ready_at, 0);
  /* Given means nothing without a ready process. */
  step(WARD__LE_GIVEN, 11);
  T_ACT(0);
  /* SPAWNED with a generation: a spare's, its worker's next. */
  step(WARD__LE_START, 2);
  step_ev((ward__lev){.type = WARD__LE_SPAWNED, .now = 3, .generation = 7});
  T_EQ_INT(m.generation, 7);
}

/* A random walk over every event in every state (with plausible fields):
 * no invariant may break, and a TICK leaves no timer due. */
/* The walk's own generator (rand_r is not everywhere): the same walk on
 * every system. */
static unsigned walk_rand(unsigned *seed) {
  *seed = *seed * 1103515245u + 12345u;
  return (*seed >> 16) & 0x7fff;
}

static void test_random_walk(void) {
  unsigned seed = 12345;
  for (int round = 0; round < 200; round++) {
    fresh();
    T_OK(ward_spec_heartbeat(s, 50, 2));
    T_OK(ward_spec_idle_timeout(s, 300));
    T_OK(ward_spec_max_requests(s, 3));
    T_OK(ward_spec_memory_limit(s, 100, 200, 40));
    T_OK(ward_spec_supervise_start(s, round % 2));
    ward__life_grouped(&m, round % 3 == 0); /* some walks as a group member */
    int64_t t = 1;
    for (int i = 0; i < 500; i++) {
      t += walk_rand(&seed) % 50;
      ward__lev ev = {.type = (int)(walk_rand(&seed) % WARD__LE_NEVENTS), .now = t};
      ev.reason = WARD_REASON_REQUEST_TIMEOUT + (int)(walk_rand(&seed) % 2) * 10;
      ev.signal = walk_rand(&seed) % 2 ? WARD__STOP_HARD : 0;
      ev.grace_ms = (int)(walk_rand(&seed) % 300) - 1;
      ev.answered = walk_rand(&seed) % 2;
      ev.current = walk_rand(&seed) % 2;
      ev.missed = walk_rand(&seed) % 2;
      ev.rss = walk_rand(&seed) % 300;
      ev.spares = (int)(walk_rand(&seed) % 3);
      ev.error = WARD_EPROTO;
      /* Calls end only after they began. */
      if (ev.type == WARD__LE_CALL_END && !m.inflight)
        ev.type = WARD__LE_CALL_BEGIN;
      step_ev(ev);
      /* A TICK serves every timer that is due: none is left behind (but a
       * stop with no grace takes one step a tick, the next due at once). */
      int no_grace = m.state == WARD__L_STOPPING && m.stop_grace_ms == 0;
      if (ev.type == WARD__LE_TICK && ward__life_due(&m, s) <= t && !no_grace)
        T_FAIL("a timer left due by a tick at %lld (state %s)", (long long)t,
               ward__life_state_name(m.state));
    }
  }
}

int main(void) {
  T_RUN(test_first_start);
  T_RUN(test_startup_timeout);
  T_RUN(test_supervised_start);
  T_RUN(test_spawn_failed_first);
  T_RUN(test_plain_ready_after);
  T_RUN(test_spawned_after_stop);
  T_RUN(test_backoff_doubles_and_caps);
  T_RUN(test_backoff_resets_after_stable_uptime);
  T_RUN(test_intensity_window);
  T_RUN(test_restart_modes);
  T_RUN(test_heartbeat);
  T_RUN(test_pause_resume);
  T_RUN(test_tree_limits);
  T_RUN(test_request_deadline);
  T_RUN(test_memory_limits);
  T_RUN(test_max_requests);
  T_RUN(test_idle_parking);
  T_RUN(test_cycle);
  T_RUN(test_closed_and_violation);
  T_RUN(test_stop_escalation);
  T_RUN(test_stop_then_timed_out_call);
  T_RUN(test_stop_graceful_and_again);
  T_RUN(test_stop_plain);
  T_RUN(test_restart_from_rest);
  T_RUN(test_group_member);
  T_RUN(test_spare_skips_backoff);
  T_RUN(test_spare_recycle);
  T_RUN(test_adopted_while_ready);
  T_RUN(test_random_walk);
  ward_spec_free(s);
  return t_done();
}
