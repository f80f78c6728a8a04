/*
 * policy.h — the restart decision: what to do when a worker's process has
 * ended. Pure logic: no I/O, no clock of its own (the caller passes `now`),
 * so every case is tested without processes (tests/test_policy.c). Its
 * one caller is the worker's state machine (lifecycle.c), which asks it
 * about every exit but an idle one: an idle worker is parked, and started
 * again by the next call.
 *
 * The rules, in order:
 *   0. A stop (WARD_REASON_STOPPED) is never followed by a restart.
 *   1. An explicit cycle (WARD_REASON_CYCLE) and the other recycles
 *      (MAX_REQUESTS, MEMORY_LIMIT) are planned replacements: always
 *      restarted, at once (delay 0), whatever the restart mode.
 *   2. Otherwise the restart mode decides: NEVER stays down; ON_FAILURE
 *      stays down after a clean exit (reason EXITED, code 0) and restarts
 *      after anything else; ALWAYS restarts.
 *   3. A process that had been up for at least backoff_reset_ms (ready to
 *      exit) clears the run of failures: the next delay is the initial one.
 *   4. Intensity: if `intensity` restarts after failures (recycles are
 *      never counted: their pace is set by the user's own limits) already
 *      happened within the last `period_ms`, the worker gives up (it is
 *      failed until restarted explicitly). intensity 0 gives up at the
 *      first failure.
 *   5. A failure (rule 2) adds one to the run of failures and waits
 *      initial * multiplier^(failures-1), capped at backoff_max_ms; a
 *      recycle waits 0 and leaves the run as it was.
 */
#ifndef WARD_POLICY_H
#define WARD_POLICY_H

#include <stdint.h>

/* Restart timestamps kept for the intensity window: intensity is capped here. */
#define WARD__MAX_INTENSITY 256

typedef struct ward__policy {
  int restart;            /* WARD_RESTART_NEVER / _ON_FAILURE / _ALWAYS */
  int intensity;          /* restarts allowed within period_ms (0..256) */
  int period_ms;
  int backoff_initial_ms; /* delay before the first restart after a failure */
  int backoff_max_ms;     /* cap of the delay */
  int backoff_mult_pct;   /* growth per failure in percent: 200 doubles */
  int backoff_reset_ms;   /* uptime that clears the run of failures */
} ward__policy;

typedef struct ward__supstate {
  int64_t times[WARD__MAX_INTENSITY]; /* ring of counted restart times */
  int head;                           /* index of the oldest entry */
  int count;                          /* entries in the ring */
  int failures;                       /* consecutive failures */
  uint32_t restarts;                  /* restarts decided, in all */
} ward__supstate;

typedef enum {
  WARD__DO_RESTART = 1, /* start a new process after `delay_ms` */
  WARD__DO_STAY_DOWN,   /* the restart mode says no: the worker stays exited */
  WARD__DO_GIVE_UP      /* intensity exceeded: the worker is failed */
} ward__action;

typedef struct ward__decision {
  ward__action action;
  int delay_ms;
  int attempt; /* the run of failures after this decision (0 for a recycle) */
} ward__decision;

/* Does the restart mode ask for a restart after this exit (rule 2)? */
int ward__policy_wants_restart(const ward__policy *p, int reason, int exit_code, int signal);

/* Is this reason a planned replacement (rule 1)? */
int ward__reason_is_recycle(int reason);

/* Decides after a process ended, and records the restart in `s` when it
 * decides one. `uptime_ms` is how long the process was ready (-1 if it
 * never was). */
ward__decision ward__policy_exit(const ward__policy *p, ward__supstate *s, int64_t now_ms,
                                 int reason, int exit_code, int signal, int64_t uptime_ms);

/* An explicit restart (ward_worker_restart): forgets the window and the
 * run of failures. */
void ward__policy_reset(ward__supstate *s);

#endif
