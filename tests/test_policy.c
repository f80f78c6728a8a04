/*
 * test_policy.c — table-driven unit test of the restart decision
 * (src/policy.c): ward__policy_exit, ward__policy_reset and
 * ward__reason_is_recycle. No processes, no real clock: every `now` is a
 * plain int64 passed in.
 *
 * Every expected value below is written out by hand from the rules at the
 * top of src/policy.h (and the WARD_RESTART_* / WARD_REASON_* comments in
 * include/ward.h); nothing here re-implements the rules to compute them.
 *
 *   1. mode x reason x exit shape, on a fresh state, on a state with a run
 *      of two failures, and with intensity 0;
 *   2. backoff growth, caps, multipliers, initial 0;
 *   3. the reset of the run after a stable uptime;
 *   4. the intensity window (edges, expiry, intensity 0, the cap at
 *      WARD__MAX_INTENSITY, the ring wrapping), and the recycles (CYCLE,
 *      MAX_REQUESTS, IDLE, MEMORY_LIMIT) that never count against it nor
 *      give up, however many and however fast;
 *   5. ward__policy_reset;
 *   6. the `restarts` total;
 *   7. whole walks of one worker through crash loops, give-ups, explicit
 *      restarts, stable periods and recycles.
 *
 * Checks do not abort: every mismatch is printed with its inputs and
 * counted in t__failed, so one run lists every disagreement. The file uses
 * nothing of libward but policy.c (and error.c for test.h), so it also
 * builds alone:
 *   cc -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -Itests tests/test_policy.c \
 *      src/policy.c src/error.c
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "test.h"
#include "ward.h"

/* ---------------------------------------------------------------------
 * Short names for the tables
 * ------------------------------------------------------------------- */

#define NEVER WARD_RESTART_NEVER
#define ONFAIL WARD_RESTART_ON_FAILURE
#define ALWAYS WARD_RESTART_ALWAYS

#define NONE WARD_REASON_NONE
#define EXITED WARD_REASON_EXITED
#define CRASHED WARD_REASON_CRASHED
#define REQ_TO WARD_REASON_REQUEST_TIMEOUT
#define START_TO WARD_REASON_STARTUP_TIMEOUT
#define UNHEALTHY WARD_REASON_UNHEALTHY
#define MEMLIM WARD_REASON_MEMORY_LIMIT
#define MAXREQ WARD_REASON_MAX_REQUESTS
#define IDLE WARD_REASON_IDLE
#define CYCLE WARD_REASON_CYCLE
#define PROTOCOL WARD_REASON_PROTOCOL
#define STOPPED WARD_REASON_STOPPED
#define CANCELLED WARD_REASON_CANCELLED

#define RESTART WARD__DO_RESTART
#define STAY WARD__DO_STAY_DOWN
#define GIVEUP WARD__DO_GIVE_UP

/* Exit shapes as "exit_code, signal" (ward_event: -1 and the signal when
 * killed by a signal). */
#define C0 0, 0
#define C3 3, 0
#define K9 -1, 9
#define K15 -1, 15

/* A step that is not an exit but an explicit restart (ward__policy_reset). */
#define OP_RESET (-1000)
/* A column not checked. */
#define ANY (-999)

static int n_cases;  /* decisions (and other facts) checked */
static int n_checks; /* individual comparisons */

static const char *mode_name(int m) {
  switch (m) {
  case NEVER:
    return "NEVER";
  case ONFAIL:
    return "ON_FAILURE";
  case ALWAYS:
    return "ALWAYS";
  default:
    return "?";
  }
}

static const char *reason_name(int r) {
  static const char *const names[] = {
      [NONE] = "NONE",           [EXITED] = "EXITED",
      [CRASHED] = "CRASHED",     [REQ_TO] = "REQUEST_TIMEOUT",
      [START_TO] = "STARTUP_TIMEOUT", [UNHEALTHY] = "UNHEALTHY",
      [MEMLIM] = "MEMORY_LIMIT", [MAXREQ] = "MAX_REQUESTS",
      [IDLE] = "IDLE",           [CYCLE] = "CYCLE",
      [PROTOCOL] = "PROTOCOL",   [STOPPED] = "STOPPED",
      [CANCELLED] = "CANCELLED"};
  if (r < 0 || (size_t)r >= sizeof names / sizeof names[0] || !names[r])
    return "?";
  return names[r];
}

static const char *action_name(int a) {
  switch (a) {
  case RESTART:
    return "RESTART";
  case STAY:
    return "STAY_DOWN";
  case GIVEUP:
    return "GIVE_UP";
  default:
    return "?";
  }
}

static ward__policy mkpolicy(int restart, int intensity, int period_ms, int initial_ms,
                             int max_ms, int mult_pct, int reset_ms) {
  ward__policy p;
  memset(&p, 0, sizeof p);
  p.restart = restart;
  p.intensity = intensity;
  p.period_ms = period_ms;
  p.backoff_initial_ms = initial_ms;
  p.backoff_max_ms = max_ms;
  p.backoff_mult_pct = mult_pct;
  p.backoff_reset_ms = reset_ms;
  return p;
}

static void fresh(ward__supstate *s) { memset(s, 0, sizeof *s); }

static void print_policy(const ward__policy *p) {
  fprintf(stderr,
          "    policy: restart %s, intensity %d in %d ms, backoff initial %d max %d "
          "mult %d%% reset %d\n",
          mode_name(p->restart), p->intensity, p->period_ms, p->backoff_initial_ms,
          p->backoff_max_ms, p->backoff_mult_pct, p->backoff_reset_ms);
}

/* Compares one int; prints and counts a mismatch (does not abort). */
static int cmp(const char *where, const char *what, long long got, long long want) {
  n_checks++;
  if (want == ANY || got == want)
    return 1;
  fprintf(stderr, "FAIL: %s: %s = %lld, expected %lld\n", where, what, got, want);
  t__failed++;
  return 0;
}

/* One exit: decides and checks action, delay, attempt (ANY: unchecked). */
static int expect_exit(const char *sect, int row, const ward__policy *p, ward__supstate *s,
                       int64_t now, int reason, int code, int sig, int64_t uptime,
                       int act, int delay, int attempt) {
  char where[256];
  snprintf(where, sizeof where,
           "%s row %d [now %lld, %s, code %d, signal %d, uptime %lld]", sect, row,
           (long long)now, reason_name(reason), code, sig, (long long)uptime);
  ward__decision d = ward__policy_exit(p, s, now, reason, code, sig, uptime);
  n_cases++;
  int ok = 1;
  if ((int)d.action != act) {
    n_checks++;
    fprintf(stderr, "FAIL: %s: action = %s, expected %s\n", where, action_name(d.action),
            action_name(act));
    t__failed++;
    ok = 0;
  } else {
    n_checks++;
  }
  ok &= cmp(where, "delay_ms", d.delay_ms, delay);
  ok &= cmp(where, "attempt", d.attempt, attempt);
  if (!ok) {
    print_policy(p);
    fprintf(stderr, "    got {%s, delay %d, attempt %d}\n", action_name(d.action), d.delay_ms,
            d.attempt);
  }
  return ok;
}

/* A step of a walk: an exit, or OP_RESET in `reason`. */
typedef struct step {
  int64_t now;
  int reason;
  int code, sig;
  int64_t uptime;
  int act, delay, attempt;
  long long restarts; /* the total after the step, or ANY */
} step;

static void run_steps(const char *sect, const ward__policy *p, ward__supstate *s,
                      const step *steps, size_t n) {
  char where[192];
  for (size_t i = 0; i < n; i++) {
    const step *st = &steps[i];
    snprintf(where, sizeof where, "%s row %zu", sect, i);
    if (st->reason == OP_RESET) {
      ward__policy_reset(s);
      n_cases++;
      cmp(where, "count after reset", s->count, 0);
      cmp(where, "failures after reset", s->failures, 0);
    } else {
      expect_exit(sect, (int)i, p, s, st->now, st->reason, st->code, st->sig, st->uptime,
                  st->act, st->delay, st->attempt);
    }
    cmp(where, "restarts", s->restarts, st->restarts);
  }
}

#define RUN_STEPS(sect, p, s, arr) run_steps(sect, p, s, arr, sizeof arr / sizeof arr[0])

/* ---------------------------------------------------------------------
 * 0. ward__reason_is_recycle
 * ------------------------------------------------------------------- */

static void test_is_recycle(void) {
  static const struct {
    int reason, recycle;
  } rows[] = {
      {NONE, 0},     {EXITED, 0}, {CRASHED, 0},  {REQ_TO, 0},   {START_TO, 0},
      {UNHEALTHY, 0}, {MEMLIM, 1}, {MAXREQ, 1},   {IDLE, 1},     {CYCLE, 1},
      {PROTOCOL, 0}, {STOPPED, 0}, {CANCELLED, 0}, {-1, 0},      {13, 0},
      {1000, 0},     {INT_MIN, 0}, {INT_MAX, 0},
  };
  char where[96];
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    snprintf(where, sizeof where, "is_recycle row %zu [%s = %d]", i,
             reason_name(rows[i].reason), rows[i].reason);
    n_cases++;
    cmp(where, "ward__reason_is_recycle", ward__reason_is_recycle(rows[i].reason) != 0,
        rows[i].recycle);
  }
}

/* ---------------------------------------------------------------------
 * 1. Mode x reason x exit shape
 *
 * Policy: intensity 5 in 1000 ms, backoff 100 ms doubling up to 10000,
 * reset after 10000 ms; every exit has uptime 50 (below the reset).
 *
 * Columns:
 *   act, delay, attempt, win: on a fresh state (win: restart times in the
 *     intensity window afterwards, i.e. whether the restart counted: 1 for
 *     a failure, 0 for every recycle);
 *   delay2, attempt2: same action, on a state with a run of two failures
 *     (their restart times long expired): a failure is the third (400 ms),
 *     a recycle waits 0 and reports 0 but keeps the run at 2 (failures2),
 *     a STAY_DOWN leaves the run at 2;
 *   act0: the action with intensity 0 (every failure gives up; a recycle
 *     still restarts).
 * ------------------------------------------------------------------- */

typedef struct mrow {
  int mode, reason, code, sig;
  int act, delay, attempt, win;
  int delay2, attempt2, failures2;
  int act0;
} mrow;

static const mrow mode_rows[] = {
    /* mode   reason     shape  act      dly  att win  dly2 att2 f2  act0 */
    {NEVER,  NONE,      C0,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  NONE,      C3,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  NONE,      K9,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  EXITED,    C0,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  EXITED,    C3,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  EXITED,    K9,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  CRASHED,   C0,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  CRASHED,   C3,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  CRASHED,   K9,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  REQ_TO,    C0,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  REQ_TO,    C3,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  REQ_TO,    K9,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  START_TO,  C0,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  START_TO,  C3,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  START_TO,  K9,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  UNHEALTHY, C0,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  UNHEALTHY, C3,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  UNHEALTHY, K9,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  MEMLIM,    C0,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {NEVER,  MEMLIM,    C3,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {NEVER,  MEMLIM,    K9,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {NEVER,  MAXREQ,    C0,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {NEVER,  MAXREQ,    C3,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {NEVER,  MAXREQ,    K9,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {NEVER,  IDLE,      C0,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {NEVER,  IDLE,      C3,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {NEVER,  IDLE,      K9,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {NEVER,  CYCLE,     C0,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {NEVER,  CYCLE,     C3,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {NEVER,  CYCLE,     K9,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {NEVER,  PROTOCOL,  C0,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  PROTOCOL,  C3,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  PROTOCOL,  K9,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  STOPPED,   C0,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  STOPPED,   C3,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  STOPPED,   K9,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  CANCELLED, C0,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  CANCELLED, C3,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {NEVER,  CANCELLED, K9,  STAY,    0,   0,  0,   0,   2,   2,  STAY},

    {ONFAIL, NONE,      C0,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, NONE,      C3,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, NONE,      K9,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, EXITED,    C0,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {ONFAIL, EXITED,    C3,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, EXITED,    K9,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, CRASHED,   C0,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, CRASHED,   C3,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, CRASHED,   K9,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, REQ_TO,    C0,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, REQ_TO,    C3,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, REQ_TO,    K9,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, START_TO,  C0,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, START_TO,  C3,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, START_TO,  K9,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, UNHEALTHY, C0,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, UNHEALTHY, C3,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, UNHEALTHY, K9,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, MEMLIM,    C0,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ONFAIL, MEMLIM,    C3,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ONFAIL, MEMLIM,    K9,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ONFAIL, MAXREQ,    C0,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ONFAIL, MAXREQ,    C3,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ONFAIL, MAXREQ,    K9,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ONFAIL, IDLE,      C0,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ONFAIL, IDLE,      C3,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ONFAIL, IDLE,      K9,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ONFAIL, CYCLE,     C0,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ONFAIL, CYCLE,     C3,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ONFAIL, CYCLE,     K9,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ONFAIL, PROTOCOL,  C0,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, PROTOCOL,  C3,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, PROTOCOL,  K9,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, STOPPED,   C0,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {ONFAIL, STOPPED,   C3,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {ONFAIL, STOPPED,   K9,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {ONFAIL, CANCELLED, C0,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, CANCELLED, C3,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ONFAIL, CANCELLED, K9,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},

    {ALWAYS, NONE,      C0,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, NONE,      C3,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, NONE,      K9,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, EXITED,    C0,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, EXITED,    C3,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, EXITED,    K9,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, CRASHED,   C0,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, CRASHED,   C3,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, CRASHED,   K9,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, REQ_TO,    C0,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, REQ_TO,    C3,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, REQ_TO,    K9,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, START_TO,  C0,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, START_TO,  C3,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, START_TO,  K9,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, UNHEALTHY, C0,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, UNHEALTHY, C3,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, UNHEALTHY, K9,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, MEMLIM,    C0,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ALWAYS, MEMLIM,    C3,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ALWAYS, MEMLIM,    K9,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ALWAYS, MAXREQ,    C0,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ALWAYS, MAXREQ,    C3,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ALWAYS, MAXREQ,    K9,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ALWAYS, IDLE,      C0,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ALWAYS, IDLE,      C3,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ALWAYS, IDLE,      K9,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ALWAYS, CYCLE,     C0,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ALWAYS, CYCLE,     C3,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ALWAYS, CYCLE,     K9,  RESTART, 0,   0,  0,   0,   0,   2,  RESTART},
    {ALWAYS, PROTOCOL,  C0,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, PROTOCOL,  C3,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, PROTOCOL,  K9,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, STOPPED,   C0,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {ALWAYS, STOPPED,   C3,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {ALWAYS, STOPPED,   K9,  STAY,    0,   0,  0,   0,   2,   2,  STAY},
    {ALWAYS, CANCELLED, C0,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, CANCELLED, C3,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
    {ALWAYS, CANCELLED, K9,  RESTART, 100, 1,  1,   400, 3,   3,  GIVEUP},
};

static void test_mode_reason_shape(void) {
  const size_t n = sizeof mode_rows / sizeof mode_rows[0];
  /* The table is complete: 3 modes x 13 reasons x 3 shapes, in order. */
  T_EQ_INT(n, 3 * 13 * 3);
  for (size_t i = 0; i < n; i++) {
    T_EQ_INT(mode_rows[i].mode, (int)(i / 39));
    T_EQ_INT(mode_rows[i].reason, (int)(i / 3 % 13));
  }
  T_EQ_INT(CANCELLED, 12); /* the last reason, so 13 of them */

  char sect[96], where[192];
  for (size_t i = 0; i < n; i++) {
    const mrow *r = &mode_rows[i];
    snprintf(sect, sizeof sect, "mode-table %s", mode_name(r->mode));
    snprintf(where, sizeof where, "mode-table row %zu [%s, %s, code %d, signal %d]", i,
             mode_name(r->mode), reason_name(r->reason), r->code, r->sig);

    /* Fresh state. */
    ward__policy p = mkpolicy(r->mode, 5, 1000, 100, 10000, 200, 10000);
    ward__supstate s;
    fresh(&s);
    expect_exit(sect, (int)i, &p, &s, 5000, r->reason, r->code, r->sig, 50, r->act, r->delay,
                r->attempt);
    cmp(where, "fresh: restarts", s.restarts, r->act == RESTART ? 1 : 0);
    cmp(where, "fresh: restart times in window", s.count, r->win);
    cmp(where, "fresh: failures", s.failures, r->attempt);

    /* Same mode, state with a run of two failures (times long expired). */
    fresh(&s);
    ward__policy pa = mkpolicy(ALWAYS, 5, 1000, 100, 10000, 200, 10000);
    expect_exit("mode-table setup", (int)i, &pa, &s, 0, CRASHED, K9, 50, RESTART, 100, 1);
    expect_exit("mode-table setup", (int)i, &pa, &s, 1, CRASHED, K9, 50, RESTART, 200, 2);
    expect_exit(sect, (int)i, &p, &s, 100000, r->reason, r->code, r->sig, 50, r->act,
                r->delay2, r->attempt2);
    cmp(where, "run of 2: failures after", s.failures, r->failures2);
    cmp(where, "run of 2: restarts", s.restarts, r->act == RESTART ? 3 : 2);

    /* Intensity 0. */
    ward__policy p0 = mkpolicy(r->mode, 0, 1000, 100, 10000, 200, 10000);
    fresh(&s);
    snprintf(sect, sizeof sect, "mode-table intensity 0 %s", mode_name(r->mode));
    expect_exit(sect, (int)i, &p0, &s, 5000, r->reason, r->code, r->sig, 50, r->act0, ANY,
                ANY);
    cmp(where, "intensity 0: restarts", s.restarts, r->act0 == RESTART ? 1 : 0);
    cmp(where, "intensity 0: restart times in window", s.count, 0);
  }
}

/* ---------------------------------------------------------------------
 * 2. Backoff
 *
 * Consecutive failures (CRASHED, uptime 0, never reaching the reset), 10
 * ms apart, under intensity 256 in a 1 ms window (so the window never
 * fills). Expected delays are initial * (mult/100)^(failures-1) capped,
 * written out; where the exact product has a fraction, its integer part.
 * ------------------------------------------------------------------- */

static void backoff_run(const char *name, int initial, int max, int mult, const int *delays,
                        int n) {
  ward__policy p = mkpolicy(ALWAYS, 256, 1, initial, max, mult, 1000000);
  ward__supstate s;
  fresh(&s);
  for (int i = 0; i < n; i++)
    expect_exit(name, i, &p, &s, (int64_t)i * 10, CRASHED, K9, 0, RESTART, delays[i], i + 1);
  char where[96];
  snprintf(where, sizeof where, "%s: after the run", name);
  cmp(where, "restarts", s.restarts, n);
  cmp(where, "failures", s.failures, n);
}

#define BACKOFF(name, initial, max, mult, ...)                                  \
  do {                                                                          \
    static const int d_[] = {__VA_ARGS__};                                      \
    backoff_run(name, initial, max, mult, d_, (int)(sizeof d_ / sizeof d_[0])); \
  } while (0)

static void test_backoff(void) {
  /* 100 ms, doubling, capped at 1000. */
  BACKOFF("backoff 100/200%/1000", 100, 1000, 200, 100, 200, 400, 800, 1000, 1000, 1000, 1000);

  /* 150 %: exact while the product is whole (64 * 1.5^6 = 729), then the cap. */
  BACKOFF("backoff 64/150%/1000", 64, 1000, 150, 64, 96, 144, 216, 324, 486, 729, 1000, 1000);

  /* 150 % from 100: 100, 150, 225, 337.5, 506.25, 759.375, 1139.06 -> cap.
   * The rule is initial * multiplier^(failures-1): the 5th failure waits
   * 506 (506.25), the 6th 759 (759.375), whatever the rounding. */
  BACKOFF("backoff 100/150%/1000", 100, 1000, 150, 100, 150, 225, 337, 506, 759, 1000, 1000);

  /* 300 %. */
  BACKOFF("backoff 10/300%/5000", 10, 5000, 300, 10, 30, 90, 270, 810, 2430, 5000, 5000);

  /* 100 %: no growth. */
  BACKOFF("backoff 250/100%/1000", 250, 1000, 100, 250, 250, 250, 250, 250, 250);

  /* A cap below the initial delay: the cap from the first failure. */
  BACKOFF("backoff 500/200%/300", 500, 300, 200, 300, 300, 300, 300, 300, 300);
  /* A cap equal to it. */
  BACKOFF("backoff 300/200%/300", 300, 300, 200, 300, 300, 300, 300);
  /* Cap 0: never a delay. */
  BACKOFF("backoff 100/200%/0", 100, 0, 200, 0, 0, 0, 0, 0);

  /* Initial 0: never a delay, but the run still grows (attempt 1..10). */
  BACKOFF("backoff 0/200%/1000", 0, 1000, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

  /* A long run stays at the cap (no overflow in the growth): 300 failures. */
  {
    static int d[300];
    for (int i = 0; i < 300; i++)
      d[i] = i == 0 ? 100 : i == 1 ? 200 : i == 2 ? 400 : i == 3 ? 800 : 1000;
    backoff_run("backoff 100/200%/1000 x300", 100, 1000, 200, d, 300);
  }
  /* Growth near INT_MAX: 2^30 doubled once more would not fit an int. */
  BACKOFF("backoff 2^30/200%/INT_MAX", 1 << 30, INT_MAX, 200, 1 << 30, INT_MAX, INT_MAX,
          INT_MAX);
}

/* ---------------------------------------------------------------------
 * 3. Reset of the run after a stable uptime (reset 5000 ms)
 * ------------------------------------------------------------------- */

static void test_reset_after_uptime(void) {
  ward__policy p = mkpolicy(ONFAIL, 256, 1, 100, 1000, 200, 5000);
  ward__supstate s;
  fresh(&s);
  static const step steps[] = {
      /* now  reason   shape uptime   act      dly  att  total */
      {0,    CRASHED, K9,   0,       RESTART, 100, 1,   1},
      {10,   CRASHED, K9,   4999,    RESTART, 200, 2,   2},  /* just below: no reset */
      {20,   EXITED,  C3,   -1,      RESTART, 400, 3,   3},  /* never ready: no reset */
      {30,   CRASHED, K9,   5000,    RESTART, 100, 1,   4},  /* exactly the reset: cleared */
      {40,   CRASHED, K9,   5000,    RESTART, 100, 1,   5},
      {50,   CRASHED, K9,   4999,    RESTART, 200, 2,   6},
      {60,   CRASHED, K9,   100000,  RESTART, 100, 1,   7},
      {70,   CRASHED, K9,   -1,      RESTART, 200, 2,   8},
      {80,   IDLE,    K15,  0,       RESTART, 0,   0,   9},  /* short recycle: run stays 2 */
      {90,   CRASHED, K9,   0,       RESTART, 400, 3,   10},
      {100,  MAXREQ,  C0,   5000,    RESTART, 0,   0,   11}, /* stable recycle: cleared */
      {110,  CRASHED, K9,   0,       RESTART, 100, 1,   12},
      {120,  CRASHED, K9,   10,      RESTART, 200, 2,   13},
      {130,  CYCLE,   K15,  6000,    RESTART, 0,   0,   14}, /* stable cycle: cleared */
      {140,  EXITED,  C3,   10,      RESTART, 100, 1,   15},
      {150,  EXITED,  C3,   10,      RESTART, 200, 2,   16},
      {160,  EXITED,  C3,   10,      RESTART, 400, 3,   17},
      {170,  EXITED,  C3,   10,      RESTART, 800, 4,   18},
      {180,  EXITED,  C3,   10,      RESTART, 1000, 5,  19},
      {190,  EXITED,  C3,   5000,    RESTART, 100, 1,   20}, /* from the cap back to 100 */
  };
  RUN_STEPS("reset-after-uptime", &p, &s, steps);

  /* Reset 0: any ready process clears the run; one never ready does not. */
  ward__policy p0 = mkpolicy(ALWAYS, 256, 1, 100, 1000, 200, 0);
  fresh(&s);
  static const step steps0[] = {
      {0,  CRASHED, K9, 0,  RESTART, 100, 1, 1},
      {10, CRASHED, K9, 0,  RESTART, 100, 1, 2},
      {20, CRASHED, K9, -1, RESTART, 200, 2, 3},
      {30, CRASHED, K9, -1, RESTART, 400, 3, 4},
      {40, CRASHED, K9, 1,  RESTART, 100, 1, 5},
  };
  RUN_STEPS("reset 0", &p0, &s, steps0);

  /* The rules apply in order: a stable uptime clears the run (3) before
   * the intensity check (4), so a give-up after a stable uptime reports a
   * run of 0; a give-up after a short one leaves the run as it was. */
  ward__policy p1 = mkpolicy(ALWAYS, 1, 1000, 100, 1000, 200, 5000);
  fresh(&s);
  static const step steps1[] = {
      {0,  CRASHED, K9, 0,    RESTART, 100, 1, 1},
      {10, CRASHED, K9, 0,    GIVEUP,  0,   1, 1},
      {20, CRASHED, K9, 5000, GIVEUP,  0,   0, 1},
  };
  RUN_STEPS("reset then give-up", &p1, &s, steps1);
}

/* ---------------------------------------------------------------------
 * 4. Intensity
 * ------------------------------------------------------------------- */

static void test_intensity(void) {
  ward__supstate s;

  /* 3 in 1000 ms; failures (ALWAYS, CRASHED); uptime never reaches the reset. */
  ward__policy p = mkpolicy(ALWAYS, 3, 1000, 100, 1000, 200, 1000000);
  fresh(&s);
  static const step steps[] = {
      /* now  reason   shape up  act      dly   att total */
      {0,    CRASHED, K9,  0,  RESTART, 100,  1,  1},
      {10,   CRASHED, K9,  0,  RESTART, 200,  2,  2},
      {20,   CRASHED, K9,  0,  RESTART, 400,  3,  3},
      {30,   CRASHED, K9,  0,  GIVEUP,  0,    3,  3}, /* the 4th within 1000 ms */
      {999,  CRASHED, K9,  0,  GIVEUP,  0,    3,  3}, /* 0 is still inside (999 < 1000) */
      {1000, CRASHED, K9,  0,  RESTART, 800,  4,  4}, /* 0 is at the edge: expired */
      {1009, CRASHED, K9,  0,  GIVEUP,  0,    4,  4}, /* 10 still inside */
      {1010, CRASHED, K9,  0,  RESTART, 1000, 5,  5}, /* 10 expired */
      {1020, CRASHED, K9,  0,  RESTART, 1000, 6,  6}, /* 20 expired */
      {1021, CRASHED, K9,  0,  GIVEUP,  0,    6,  6}, /* 1000, 1010, 1020 */
      {1999, CRASHED, K9,  0,  GIVEUP,  0,    6,  6}, /* 1000 still inside */
      {2000, CRASHED, K9,  0,  RESTART, 1000, 7,  7}, /* 1000 expired */
      {2001, CRASHED, K9,  0,  GIVEUP,  0,    7,  7}, /* 1010, 1020, 2000 */
      {2010, CRASHED, K9,  0,  RESTART, 1000, 8,  8}, /* 1010 expired */
      {2020, CRASHED, K9,  0,  RESTART, 1000, 9,  9}, /* 1020 expired */
      {2021, CRASHED, K9,  0,  GIVEUP,  0,    9,  9}, /* 2000, 2010, 2020 */
      {9000, CRASHED, K9,  0,  RESTART, 1000, 10, 10}, /* long after: allowed again */
  };
  RUN_STEPS("intensity 3/1000", &p, &s, steps);

  /* 1 in 1000 ms. */
  ward__policy p1 = mkpolicy(ALWAYS, 1, 1000, 0, 1000, 200, 1000000);
  fresh(&s);
  static const step steps1[] = {
      {0,    EXITED, C3, 0, RESTART, 0, 1, 1},
      {999,  EXITED, C3, 0, GIVEUP,  0, 1, 1},
      {1000, EXITED, C3, 0, RESTART, 0, 2, 2},
      {1999, EXITED, C3, 0, GIVEUP,  0, 2, 2},
      {2000, EXITED, C3, 0, RESTART, 0, 3, 3},
  };
  RUN_STEPS("intensity 1/1000", &p1, &s, steps1);

  /* Intensity 0: every failure gives up at once; a recycle still restarts
   * (it is never counted, so there is nothing for it to exceed). */
  ward__policy p0 = mkpolicy(ALWAYS, 0, 1000, 100, 1000, 200, 1000000);
  fresh(&s);
  static const step steps0[] = {
      {0,    CRASHED, K9,  0, GIVEUP,  0, 0, 0},
      {1,    EXITED,  C0,  0, GIVEUP,  0, 0, 0},
      {2,    IDLE,    C0,  0, RESTART, 0, 0, 1}, /* a recycle does not count */
      {3,    MAXREQ,  C0,  0, RESTART, 0, 0, 2},
      {4,    MEMLIM,  K9,  0, RESTART, 0, 0, 3},
      {5,    CYCLE,   K15, 0, RESTART, 0, 0, 4},
      {6,    CYCLE,   K15, 0, RESTART, 0, 0, 5},
      {7,    STOPPED, C0,  0, STAY,    0, 0, 5},
      {8,    MEMLIM,  C0,  0, RESTART, 0, 0, 6},
      {9,    CRASHED, K9,  0, GIVEUP,  0, 0, 6}, /* the window is empty, yet 0 allowed */
      {9000, CRASHED, K9,  0, GIVEUP,  0, 0, 6},
  };
  RUN_STEPS("intensity 0", &p0, &s, steps0);
  cmp("intensity 0", "restart times in window", s.count, 0);
  ward__policy p0f = mkpolicy(ONFAIL, 0, 1000, 100, 1000, 200, 1000000);
  fresh(&s);
  static const step steps0f[] = {
      {0, EXITED, C0, 0, STAY,    0, 0, 0}, /* the mode says no before intensity */
      {1, EXITED, C3, 0, GIVEUP,  0, 0, 0},
      {2, MAXREQ, C0, 0, RESTART, 0, 0, 1}, /* a recycle whatever the mode */
      {3, IDLE,   C0, 0, RESTART, 0, 0, 2},
      {4, EXITED, C0, 0, STAY,    0, 0, 2},
      {5, EXITED, K9, 0, GIVEUP,  0, 0, 2},
  };
  RUN_STEPS("intensity 0 on-failure", &p0f, &s, steps0f);

  /* Recycles of every kind never count and never give up, window full or
   * not, and they leave the run of failures as it was. */
  ward__policy pc = mkpolicy(ALWAYS, 3, 1000, 100, 1000, 200, 1000000);
  fresh(&s);
  static const step stepsc[] = {
      {0,    CRASHED, K9,  0, RESTART, 100,  1, 1},
      {1,    CRASHED, K9,  0, RESTART, 200,  2, 2},
      {2,    CRASHED, K9,  0, RESTART, 400,  3, 3},
      {3,    CYCLE,   K15, 0, RESTART, 0,    0, 4}, /* window full: a recycle still restarts */
      {4,    CYCLE,   C0,  0, RESTART, 0,    0, 5},
      {5,    CYCLE,   C3,  0, RESTART, 0,    0, 6},
      {6,    MAXREQ,  C0,  0, RESTART, 0,    0, 7},
      {7,    IDLE,    K15, 0, RESTART, 0,    0, 8},
      {8,    MEMLIM,  K9,  0, RESTART, 0,    0, 9},
      {9,    MEMLIM,  C0,  0, RESTART, 0,    0, 10},
      {10,   IDLE,    C3,  0, RESTART, 0,    0, 11},
      {11,   MAXREQ,  K9,  0, RESTART, 0,    0, 12},
      {12,   CRASHED, K9,  0, GIVEUP,  0,    3, 12}, /* the recycles did not clear the run */
      {13,   MAXREQ,  C0,  0, RESTART, 0,    0, 13}, /* nor give up after a give-up */
      {999,  IDLE,    C0,  0, RESTART, 0,    0, 14},
      {999,  CRASHED, K9,  0, GIVEUP,  0,    3, 14}, /* 0 still inside */
      {1000, CRASHED, K9,  0, RESTART, 800,  4, 15}, /* 0 expired: only failures were inside */
      {1001, CRASHED, K9,  0, RESTART, 1000, 5, 16}, /* 1 expired */
      {1002, CRASHED, K9,  0, RESTART, 1000, 6, 17}, /* 2 expired */
      {1003, CRASHED, K9,  0, GIVEUP,  0,    6, 17}, /* 1000, 1001, 1002 */
  };
  RUN_STEPS("intensity recycles, window full", &pc, &s, stepsc);
  {
    /* 100 recycles of one kind in a row with intensity 1: none counted,
     * then a failure is the first counted restart, and the second gives
     * up; the recycles go on restarting after it. */
    static const struct {
      int reason, code, sig;
    } kinds[] = {{CYCLE, K15}, {MAXREQ, C0}, {IDLE, K15}, {MEMLIM, K9}};
    ward__policy p1c = mkpolicy(ALWAYS, 1, 1000, 100, 1000, 200, 1000000);
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
      char sect[96];
      const int rs = kinds[k].reason, rc = kinds[k].code, rg = kinds[k].sig;
      snprintf(sect, sizeof sect, "intensity 1, 100 %s", reason_name(rs));
      fresh(&s);
      for (int i = 0; i < 100; i++)
        expect_exit(sect, i, &p1c, &s, i, rs, rc, rg, 0, RESTART, 0, 0);
      cmp(sect, "restart times in window", s.count, 0);
      cmp(sect, "failures", s.failures, 0);
      expect_exit(sect, 100, &p1c, &s, 100, CRASHED, K9, 0, RESTART, 100, 1);
      expect_exit(sect, 101, &p1c, &s, 101, rs, rc, rg, 0, RESTART, 0, 0);
      expect_exit(sect, 102, &p1c, &s, 102, CRASHED, K9, 0, GIVEUP, 0, 1);
      expect_exit(sect, 103, &p1c, &s, 103, rs, rc, rg, 0, RESTART, 0, 0);
      expect_exit(sect, 104, &p1c, &s, 1099, CRASHED, K9, 0, GIVEUP, 0, 1); /* 100 inside */
      expect_exit(sect, 105, &p1c, &s, 1100, CRASHED, K9, 0, RESTART, 200, 2);
      cmp(sect, "restarts", s.restarts, 104);
      cmp(sect, "restart times in window", s.count, 1);
    }
  }
  {
    /* Floods of MAX_REQUESTS, IDLE and MEMORY_LIMIT recycles in the same
     * millisecond (3 in 1000 ms): 1000 of them never give up and take no
     * room, so the failures that follow still get their full allowance of
     * 3; 300 more between each failure change nothing either. */
    static const struct {
      int reason, code, sig;
    } kinds[] = {{MAXREQ, C0}, {IDLE, K15}, {MEMLIM, K9}, {MEMLIM, C0}, {IDLE, C3},
                 {MAXREQ, K9}};
    const int nk = (int)(sizeof kinds / sizeof kinds[0]);
    ward__policy pf = mkpolicy(ONFAIL, 3, 1000, 100, 1000, 200, 1000000);
    fresh(&s);
    for (int i = 0; i < 1000; i++)
      expect_exit("recycle flood", i, &pf, &s, 5000, kinds[i % nk].reason, kinds[i % nk].code,
                  kinds[i % nk].sig, 0, RESTART, 0, 0);
    cmp("recycle flood", "restart times in window", s.count, 0);
    cmp("recycle flood", "failures", s.failures, 0);
    cmp("recycle flood", "restarts", s.restarts, 1000);
    expect_exit("recycle flood", 1000, &pf, &s, 5000, CRASHED, K9, 0, RESTART, 100, 1);
    for (int i = 0; i < 300; i++)
      expect_exit("recycle flood, after 1", i, &pf, &s, 5000, kinds[i % nk].reason,
                  kinds[i % nk].code, kinds[i % nk].sig, 0, RESTART, 0, 0);
    expect_exit("recycle flood", 1001, &pf, &s, 5000, EXITED, C3, 0, RESTART, 200, 2);
    for (int i = 0; i < 300; i++)
      expect_exit("recycle flood, after 2", i, &pf, &s, 5000, kinds[i % nk].reason,
                  kinds[i % nk].code, kinds[i % nk].sig, 0, RESTART, 0, 0);
    expect_exit("recycle flood", 1002, &pf, &s, 5000, UNHEALTHY, K9, 0, RESTART, 400, 3);
    for (int i = 0; i < 300; i++)
      expect_exit("recycle flood, after 3", i, &pf, &s, 5000, kinds[i % nk].reason,
                  kinds[i % nk].code, kinds[i % nk].sig, 0, RESTART, 0, 0);
    expect_exit("recycle flood", 1003, &pf, &s, 5000, CRASHED, K9, 0, GIVEUP, 0, 3);
    expect_exit("recycle flood", 1004, &pf, &s, 5999, PROTOCOL, K9, 0, GIVEUP, 0, 3);
    expect_exit("recycle flood", 1005, &pf, &s, 6000, PROTOCOL, K9, 0, RESTART, 800, 4);
    cmp("recycle flood", "restarts", s.restarts, 1904);
    cmp("recycle flood", "restart times in window", s.count, 1);
  }

  /* The other recycles never count either, in every mode: under NEVER
   * (2 in 1000 ms) they are the only restarts and never give up. */
  ward__policy pr = mkpolicy(NEVER, 2, 1000, 100, 1000, 200, 1000000);
  fresh(&s);
  static const step stepsr[] = {
      {0,    IDLE,    K15, 0, RESTART, 0, 0, 1},
      {1,    MAXREQ,  C0,  0, RESTART, 0, 0, 2},
      {2,    MEMLIM,  K9,  0, RESTART, 0, 0, 3}, /* a 3rd within 1000 ms */
      {3,    IDLE,    K15, 0, RESTART, 0, 0, 4},
      {4,    CYCLE,   K15, 0, RESTART, 0, 0, 5},
      {5,    CRASHED, K9,  0, STAY,    0, 0, 5}, /* NEVER: a failure stays down */
      {6,    MAXREQ,  C0,  0, RESTART, 0, 0, 6},
      {7,    MEMLIM,  C0,  0, RESTART, 0, 0, 7},
      {1000, MEMLIM,  K9,  0, RESTART, 0, 0, 8},
      {1001, MAXREQ,  C0,  0, RESTART, 0, 0, 9},
      {1002, IDLE,    C0,  0, RESTART, 0, 0, 10},
  };
  RUN_STEPS("intensity recycles (never)", &pr, &s, stepsr);
  cmp("intensity recycles (never)", "restart times in window", s.count, 0);
  ward__policy pm = mkpolicy(ONFAIL, 3, 1000, 100, 1000, 200, 1000000);
  fresh(&s);
  static const step stepsm[] = {
      {0,    CRASHED, K9,  0, RESTART, 100, 1, 1},
      {1,    IDLE,    K15, 0, RESTART, 0,   0, 2},
      {2,    EXITED,  C3,  0, RESTART, 200, 2, 3},
      {3,    MAXREQ,  C0,  0, RESTART, 0,   0, 4},
      {4,    CRASHED, K9,  0, RESTART, 400, 3, 5}, /* the 3rd failure: the recycles took no room */
      {5,    MEMLIM,  K9,  0, RESTART, 0,   0, 6}, /* window full: still a restart */
      {6,    CRASHED, K9,  0, GIVEUP,  0,   3, 6}, /* the 4th failure */
      {7,    IDLE,    C0,  0, RESTART, 0,   0, 7},
      {8,    EXITED,  C0,  0, STAY,    0,   3, 7},
      {1000, EXITED,  C3,  0, RESTART, 800, 4, 8}, /* 0 expired */
  };
  RUN_STEPS("intensity mixed", &pm, &s, stepsm);

  /* A recycle after a stable uptime still clears the run (rule 3), but it
   * neither counts nor frees room in the window. */
  ward__policy pst = mkpolicy(ALWAYS, 2, 1000, 100, 1000, 200, 5000);
  fresh(&s);
  static const step stepsst[] = {
      {0,    CRASHED, K9,  0,      RESTART, 100, 1, 1},
      {10,   CRASHED, K9,  0,      RESTART, 200, 2, 2},
      {20,   MEMLIM,  K9,  5000,   RESTART, 0,   0, 3}, /* stable: the run is cleared */
      {30,   CRASHED, K9,  0,      GIVEUP,  0,   0, 3}, /* the window is still full */
      {40,   IDLE,    C0,  4999,   RESTART, 0,   0, 4}, /* short: the run stays (0) */
      {1000, CRASHED, K9,  0,      RESTART, 100, 1, 5}, /* 0 expired */
      {1005, MAXREQ,  C0,  10,     RESTART, 0,   0, 6}, /* short: the run stays 1 */
      {1010, CRASHED, K9,  0,      RESTART, 200, 2, 7}, /* 10 expired */
      {1020, IDLE,    K15, 100000, RESTART, 0,   0, 8}, /* stable: cleared */
      {2000, CRASHED, K9,  0,      RESTART, 100, 1, 9}, /* 1000 expired; the run starts over */
      {2001, CRASHED, K9,  0,      GIVEUP,  0,   1, 9}, /* 1010, 2000 */
  };
  RUN_STEPS("intensity stable recycles", &pst, &s, stepsst);

  /* Intensity above WARD__MAX_INTENSITY behaves as 256: failures 1 ms
   * apart (initial 0: no delay) in a window of 1000000 ms, with recycles
   * still restarting once it is full. */
  static const int big[] = {256, 257, 300, 1000, INT_MAX};
  for (size_t k = 0; k < sizeof big / sizeof big[0]; k++) {
    char sect[64];
    snprintf(sect, sizeof sect, "intensity %d", big[k]);
    ward__policy pb = mkpolicy(ALWAYS, big[k], 1000000, 0, 1000, 200, 1000000);
    fresh(&s);
    for (int i = 0; i < 256; i++)
      expect_exit(sect, i, &pb, &s, i, CRASHED, K9, 0, RESTART, 0, i + 1);
    expect_exit(sect, 256, &pb, &s, 256, CRASHED, K9, 0, GIVEUP, 0, 256);
    expect_exit(sect, 257, &pb, &s, 257, MAXREQ, C0, 0, RESTART, 0, 0);
    expect_exit(sect, 258, &pb, &s, 258, CYCLE, K15, 0, RESTART, 0, 0);
    expect_exit(sect, 259, &pb, &s, 259, IDLE, C0, 0, RESTART, 0, 0);
    expect_exit(sect, 260, &pb, &s, 260, MEMLIM, K9, 0, RESTART, 0, 0);
    expect_exit(sect, 261, &pb, &s, 261, EXITED, C3, 0, GIVEUP, 0, 256);
    expect_exit(sect, 262, &pb, &s, 1000000, CRASHED, K9, 0, RESTART, 0, 257); /* 0 expired */
    expect_exit(sect, 263, &pb, &s, 1000001, CRASHED, K9, 0, RESTART, 0, 258); /* 1 expired */
    expect_exit(sect, 264, &pb, &s, 1000001, CRASHED, K9, 0, GIVEUP, 0, 258);
    cmp(sect, "restarts", s.restarts, 262);
  }
  {
    /* 255: the 256th failure gives up, an IDLE recycle before each one
     * taking no room. */
    ward__policy pb = mkpolicy(ALWAYS, 255, 1000000, 0, 1000, 200, 1000000);
    fresh(&s);
    for (int i = 0; i < 255; i++) {
      expect_exit("intensity 255", 2 * i, &pb, &s, i, IDLE, C0, 0, RESTART, 0, 0);
      expect_exit("intensity 255", 2 * i + 1, &pb, &s, i, EXITED, C3, 0, RESTART, 0, i + 1);
    }
    expect_exit("intensity 255", 510, &pb, &s, 255, IDLE, C0, 0, RESTART, 0, 0);
    expect_exit("intensity 255", 511, &pb, &s, 255, EXITED, C3, 0, GIVEUP, 0, 255);
    cmp("intensity 255", "restarts", s.restarts, 511);
  }

  /* Period 0: no restart is ever within the window. */
  ward__policy pz = mkpolicy(ALWAYS, 1, 0, 0, 1000, 200, 1000000);
  fresh(&s);
  for (int i = 0; i < 10; i++)
    expect_exit("period 0", i, &pz, &s, 500, CRASHED, K9, 0, RESTART, 0, i + 1);

  /* The ring wraps many times: 3 in 100 ms, every 100 ms for 200 rounds
   * (600 recorded restarts) three failures with a recycle after each, the
   * 4th failure and one at +99 (the round's first still inside) give up,
   * a recycle still restarts, and a stable one at the round's end clears
   * the run for the next round. */
  {
    ward__policy pw = mkpolicy(ALWAYS, 3, 100, 100, 1000, 200, 1000);
    fresh(&s);
    for (int r = 0; r < 200; r++) {
      int64_t b = (int64_t)r * 100;
      int n = r * 9;
      expect_exit("ring wrap", n + 0, &pw, &s, b + 0, CRASHED, K9, 0, RESTART, 100, 1);
      expect_exit("ring wrap", n + 1, &pw, &s, b + 1, MAXREQ, C0, 0, RESTART, 0, 0);
      expect_exit("ring wrap", n + 2, &pw, &s, b + 2, EXITED, C3, 0, RESTART, 200, 2);
      expect_exit("ring wrap", n + 3, &pw, &s, b + 3, IDLE, K15, 0, RESTART, 0, 0);
      expect_exit("ring wrap", n + 4, &pw, &s, b + 4, UNHEALTHY, K9, 0, RESTART, 400, 3);
      expect_exit("ring wrap", n + 5, &pw, &s, b + 5, MEMLIM, K9, 0, RESTART, 0, 0);
      expect_exit("ring wrap", n + 6, &pw, &s, b + 6, CRASHED, K9, 0, GIVEUP, 0, 3);
      expect_exit("ring wrap", n + 7, &pw, &s, b + 99, CRASHED, K9, 0, GIVEUP, 0, 3);
      expect_exit("ring wrap", n + 8, &pw, &s, b + 99, CYCLE, K15, 1000, RESTART, 0, 0);
    }
    cmp("ring wrap", "restarts", s.restarts, 1400);
    cmp("ring wrap", "restart times in window", s.count, 3);
    cmp("ring wrap", "failures", s.failures, 0);
  }
  /* 256 in 1000 ms, the ring wrapping: a failure every 4 ms for 3000
   * steps, each after a stable uptime (the run is cleared, the window is
   * not), an IDLE recycle between each two, never fills it (at most 250
   * inside); then at 12000 the window holds 11004..11996 (249), so 7 more
   * fit and the 8th gives up. */
  {
    static const int burst_delay[7] = {200, 400, 800, 1000, 1000, 1000, 1000};
    ward__policy pw = mkpolicy(ALWAYS, 256, 1000, 100, 1000, 200, 1000);
    fresh(&s);
    for (int i = 0; i < 3000; i++) {
      expect_exit("ring 256 steady", 2 * i, &pw, &s, (int64_t)i * 4, CRASHED, K9, 1000, RESTART,
                  100, 1);
      expect_exit("ring 256 steady", 2 * i + 1, &pw, &s, (int64_t)i * 4 + 2, IDLE, C0, 0,
                  RESTART, 0, 0);
    }
    for (int i = 0; i < 7; i++)
      expect_exit("ring 256 burst", i, &pw, &s, 12000, CRASHED, K9, 0, RESTART, burst_delay[i],
                  i + 2);
    expect_exit("ring 256 burst", 7, &pw, &s, 12000, CRASHED, K9, 0, GIVEUP, 0, 8);
    expect_exit("ring 256 burst", 8, &pw, &s, 12000, MAXREQ, C0, 0, RESTART, 0, 0);
    expect_exit("ring 256 burst", 9, &pw, &s, 12003, CRASHED, K9, 0, GIVEUP, 0, 8);
    /* 11004 expires at 12004: room for one. */
    expect_exit("ring 256 burst", 10, &pw, &s, 12004, CRASHED, K9, 0, RESTART, 1000, 9);
    expect_exit("ring 256 burst", 11, &pw, &s, 12004, CRASHED, K9, 0, GIVEUP, 0, 9);
    cmp("ring 256", "restarts", s.restarts, 6009);
  }
}

/* ---------------------------------------------------------------------
 * 5. ward__policy_reset
 * ------------------------------------------------------------------- */

static void test_policy_reset(void) {
  ward__policy p = mkpolicy(ONFAIL, 3, 1000, 100, 1000, 200, 1000000);
  ward__supstate s;
  fresh(&s);
  static const step steps[] = {
      {0,  CRASHED, K9, 0, RESTART, 100, 1, 1},
      {10, CRASHED, K9, 0, RESTART, 200, 2, 2},
      {20, CRASHED, K9, 0, RESTART, 400, 3, 3},
      {30, CRASHED, K9, 0, GIVEUP,  0,   3, 3},
      {30, OP_RESET, 0, 0, 0, 0, 0, 0, 3}, /* the total is kept */
      /* The window and the run are gone: three more at once, then over. */
      {30, CRASHED, K9, 0, RESTART, 100, 1, 4},
      {31, CRASHED, K9, 0, RESTART, 200, 2, 5},
      {32, CRASHED, K9, 0, RESTART, 400, 3, 6},
      {33, CRASHED, K9, 0, GIVEUP,  0,   3, 6},
      {33, OP_RESET, 0, 0, 0, 0, 0, 0, 6},
      {33, OP_RESET, 0, 0, 0, 0, 0, 0, 6}, /* twice is harmless */
      {34, EXITED,  C3, 0, RESTART, 100, 1, 7},
  };
  RUN_STEPS("policy_reset", &p, &s, steps);

  /* A reset of a fresh state leaves it fresh. */
  ward__supstate z;
  fresh(&z);
  ward__policy_reset(&z);
  n_cases++;
  cmp("reset fresh", "head", z.head, 0);
  cmp("reset fresh", "count", z.count, 0);
  cmp("reset fresh", "failures", z.failures, 0);
  cmp("reset fresh", "restarts", z.restarts, 0);

  /* A reset after the ring wrapped (head far from 0): the full 256 again.
   * Failures (initial 0: no delay) 10 ms apart fill the ring, recycles
   * would not. */
  ward__policy pw = mkpolicy(ALWAYS, 256, 1000, 0, 1000, 200, 1000000);
  fresh(&s);
  for (int i = 0; i < 300; i++)
    expect_exit("reset after wrap: fill", i, &pw, &s, (int64_t)i * 10, CRASHED, K9, 0, RESTART, 0,
                i + 1);
  ward__policy_reset(&s);
  n_cases++;
  cmp("reset after wrap", "count after reset", s.count, 0);
  cmp("reset after wrap", "failures after reset", s.failures, 0);
  for (int i = 0; i < 256; i++)
    expect_exit("reset after wrap: refill", i, &pw, &s, 3000, CRASHED, K9, 0, RESTART, 0, i + 1);
  expect_exit("reset after wrap: refill", 256, &pw, &s, 3000, CRASHED, K9, 0, GIVEUP, 0, 256);
  expect_exit("reset after wrap: refill", 257, &pw, &s, 3000, MAXREQ, C0, 0, RESTART, 0, 0);
  cmp("reset after wrap", "restarts", s.restarts, 557);
}

/* ---------------------------------------------------------------------
 * 6. The restarts total
 * ------------------------------------------------------------------- */

static void test_restarts_total(void) {
  ward__policy p = mkpolicy(ONFAIL, 2, 1000, 100, 1000, 200, 1000000);
  ward__supstate s;
  fresh(&s);
  static const step steps[] = {
      {0,    EXITED,   C0,  0, STAY,    0,   0, 0},
      {1,    STOPPED,  K9,  0, STAY,    0,   0, 0},
      {2,    CRASHED,  K9,  0, RESTART, 100, 1, 1},
      {3,    CYCLE,    K15, 0, RESTART, 0,   0, 2},
      {4,    IDLE,     K15, 0, RESTART, 0,   0, 3},
      {5,    CRASHED,  K9,  0, RESTART, 200, 2, 4}, /* the recycles took no room */
      {6,    CRASHED,  K9,  0, GIVEUP,  0,   2, 4},
      {7,    MEMLIM,   K9,  0, RESTART, 0,   0, 5}, /* window full: a recycle still adds */
      {8,    EXITED,   C0,  0, STAY,    0,   2, 5},
      {9,    CYCLE,    C0,  0, RESTART, 0,   0, 6},
      {10,   OP_RESET, 0, 0, 0, 0, 0, 0, 6},
      {10,   STOPPED,  C0,  0, STAY,    0,   0, 6},
      {11,   PROTOCOL, K9,  0, RESTART, 100, 1, 7},
      {12,   MAXREQ,   C0,  0, RESTART, 0,   0, 8},
      {13,   UNHEALTHY, K9, 0, RESTART, 200, 2, 9},
      {14,   CANCELLED, K9, 0, GIVEUP,  0,   2, 9},
  };
  RUN_STEPS("restarts total", &p, &s, steps);

  /* NEVER: failures never add to it. */
  ward__policy pn = mkpolicy(NEVER, 256, 1000, 100, 1000, 200, 1000000);
  fresh(&s);
  static const int reasons[] = {NONE,     EXITED,  CRASHED,  REQ_TO,   START_TO,
                                UNHEALTHY, PROTOCOL, STOPPED, CANCELLED};
  for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
    expect_exit("restarts total never", (int)i, &pn, &s, (int64_t)i, reasons[i], K9, 0, STAY, 0,
                0);
  cmp("restarts total never", "restarts", s.restarts, 0);
  cmp("restarts total never", "count", s.count, 0);
}

/* ---------------------------------------------------------------------
 * 7. Walks of one worker
 * ------------------------------------------------------------------- */

static void test_walks(void) {
  ward__supstate s;

  /* ON_FAILURE, 3 in 1000 ms, backoff 100 doubling to 1000, reset 5000. */
  ward__policy p = mkpolicy(ONFAIL, 3, 1000, 100, 1000, 200, 5000);
  fresh(&s);
  static const step walk[] = {
      /* now    reason     shape uptime act      dly  att total */
      /* a crash loop */
      {0,     CRASHED,   K9,  10,    RESTART, 100, 1,  1},
      {110,   CRASHED,   K9,  5,     RESTART, 200, 2,  2},
      {320,   EXITED,    C3,  -1,    RESTART, 400, 3,  3},
      {730,   START_TO,  K9,  -1,    GIVEUP,  0,   3,  3},
      /* ward_worker_restart */
      {2000,  OP_RESET,  0, 0, 0,    0,       0,   0,  3},
      {2000,  PROTOCOL,  K9,  50,    RESTART, 100, 1,  4},
      {2150,  CRASHED,   K9,  4999,  RESTART, 200, 2,  5},
      {2400,  REQ_TO,    K9,  200,   RESTART, 400, 3,  6},
      {3000,  CYCLE,     K15, 500,   RESTART, 0,   0,  7},
      /* a stable period */
      {9000,  UNHEALTHY, K9,  5000,  RESTART, 100, 1,  8},
      {30000, IDLE,      K15, 20000, RESTART, 0,   0,  9},  /* stable: run cleared */
      /* recycles interleaved with failures: only the failures count */
      {30100, CRASHED,   K9,  80,    RESTART, 100, 1,  10}, /* window 30100 */
      {30200, MAXREQ,    C0,  90,    RESTART, 0,   0,  11}, /* not counted */
      {30300, CYCLE,     K15, 90,    RESTART, 0,   0,  12},
      {30400, MEMLIM,    K9,  90,    RESTART, 0,   0,  13},
      {30500, IDLE,      K15, 90,    RESTART, 0,   0,  14},
      {31000, EXITED,    C3,  600,   RESTART, 200, 2,  15}, /* run went on: 30100, 31000 */
      {31050, CANCELLED, K9,  40,    RESTART, 400, 3,  16}, /* 30100, 31000, 31050 */
      {31060, MAXREQ,    C0,  10,    RESTART, 0,   0,  17}, /* full, but a recycle */
      {31070, CRASHED,   K9,  10,    GIVEUP,  0,   3,  17}, /* the 4th failure */
      /* ward_worker_restart */
      {31100, OP_RESET,  0, 0, 0,    0,       0,   0,  17},
      {31100, MEMLIM,    K9,  30,    RESTART, 0,   0,  18},
      {31200, EXITED,    C3,  50,    RESTART, 100, 1,  19},
      {31300, IDLE,      C0,  60,    RESTART, 0,   0,  20},
      {31400, CYCLE,     K15, 70,    RESTART, 0,   0,  21},
      {31500, EXITED,    C0,  70,    STAY,    0,   1,  21}, /* clean exit: stays down */
      /* ward_worker_restart, then ward_worker_stop */
      {40000, OP_RESET,  0, 0, 0,    0,       0,   0,  21},
      {40000, STOPPED,   K15, 100,   STAY,    0,   0,  21},
  };
  RUN_STEPS("walk on-failure", &p, &s, walk);

  /* NEVER, 2 in 1000 ms: only the recycles restart, and as they never
   * count, this worker never gives up. */
  ward__policy pn = mkpolicy(NEVER, 2, 1000, 100, 1000, 200, 5000);
  fresh(&s);
  static const step walkn[] = {
      {0,  CRASHED,  K9,  10,  STAY,    0, 0, 0},
      {10, IDLE,     K15, 100, RESTART, 0, 0, 1},
      {20, EXITED,   C3,  10,  STAY,    0, 0, 1},
      {30, CYCLE,    K15, 10,  RESTART, 0, 0, 2},
      {40, MAXREQ,   C0,  10,  RESTART, 0, 0, 3},
      {50, CYCLE,    K15, 10,  RESTART, 0, 0, 4},
      {60, MEMLIM,   K9,  10,  RESTART, 0, 0, 5},
      {61, IDLE,     C0,  10,  RESTART, 0, 0, 6},
      {62, MAXREQ,   K9,  10,  RESTART, 0, 0, 7},
      {63, CRASHED,  K9,  10,  STAY,    0, 0, 7},
      {70, OP_RESET, 0, 0, 0,  0,       0, 0, 7},
      {70, MEMLIM,   K9,  10,  RESTART, 0, 0, 8},
      {80, EXITED,   C0,  10,  STAY,    0, 0, 8},
      {90, STOPPED,  C0,  10,  STAY,    0, 0, 8},
  };
  RUN_STEPS("walk never", &pn, &s, walkn);

  /* ALWAYS, 3 in 1000 ms, reset 1000: clean exits are restarted with the
   * failure backoff. */
  ward__policy pa = mkpolicy(ALWAYS, 3, 1000, 100, 1000, 200, 1000);
  fresh(&s);
  static const step walka[] = {
      {0,    EXITED,   C0, 10,   RESTART, 100, 1, 1},
      {200,  EXITED,   C0, 1000, RESTART, 100, 1, 2},
      {400,  EXITED,   C0, 999,  RESTART, 200, 2, 3},
      {1000, EXITED,   C3, -1,   RESTART, 400, 3, 4},
      {1100, CRASHED,  K9, -1,   GIVEUP,  0,   3, 4},
      {1100, OP_RESET, 0, 0, 0,  0,       0,   0, 4},
      {1100, STOPPED,  C0, 5000, STAY,    0,   0, 4},
  };
  RUN_STEPS("walk always", &pa, &s, walka);
}

int main(void) {
  T_RUN(test_is_recycle);
  T_RUN(test_mode_reason_shape);
  T_RUN(test_backoff);
  T_RUN(test_reset_after_uptime);
  T_RUN(test_intensity);
  T_RUN(test_policy_reset);
  T_RUN(test_restarts_total);
  T_RUN(test_walks);
  printf("policy: %d decisions checked (%d comparisons), %d mismatches\n", n_cases, n_checks,
         t__failed);
  return t_done();
}
