/*
 * policy.c — the restart decision (see policy.h for the rules).
 */
#include "policy.h"

#include "ward.h"

int ward__reason_is_recycle(int reason) {
  return reason == WARD_REASON_CYCLE || reason == WARD_REASON_MAX_REQUESTS ||
         reason == WARD_REASON_IDLE || reason == WARD_REASON_MEMORY_LIMIT;
}

int ward__policy_wants_restart(const ward__policy *p, int reason, int exit_code, int signal) {
  switch (p->restart) {
  case WARD_RESTART_ALWAYS:
    return 1;
  case WARD_RESTART_ON_FAILURE:
    return !(reason == WARD_REASON_EXITED && exit_code == 0 && signal == 0);
  default:
    return 0;
  }
}

/* Drops restart times that left the window. */
static void expire(const ward__policy *p, ward__supstate *s, int64_t now) {
  while (s->count > 0 && now - s->times[s->head] >= p->period_ms) {
    s->head = (s->head + 1) % WARD__MAX_INTENSITY;
    s->count--;
  }
}

static void record(ward__supstate *s, int64_t now) {
  int i = (s->head + s->count) % WARD__MAX_INTENSITY;
  if (s->count == WARD__MAX_INTENSITY) {
    s->head = (s->head + 1) % WARD__MAX_INTENSITY;
    s->count--;
  }
  s->times[i] = now;
  s->count++;
}

/* initial * multiplier^(failures-1), capped, with the fraction dropped
 * once at the end (not at every step, which would drift). */
static int backoff(const ward__policy *p, int failures) {
  double d = p->backoff_initial_ms;
  for (int i = 1; i < failures && d < p->backoff_max_ms; i++)
    d = d * p->backoff_mult_pct / 100.0;
  if (d > p->backoff_max_ms)
    d = p->backoff_max_ms;
  return d < 0 ? 0 : (int)d;
}

ward__decision ward__policy_exit(const ward__policy *p, ward__supstate *s, int64_t now_ms,
                                 int reason, int exit_code, int signal, int64_t uptime_ms) {
  ward__decision d = {WARD__DO_STAY_DOWN, 0, s->failures};
  int recycle = ward__reason_is_recycle(reason);
  if (reason == WARD_REASON_STOPPED)
    return d;
  if (!recycle && !ward__policy_wants_restart(p, reason, exit_code, signal))
    return d;
  if (uptime_ms >= 0 && uptime_ms >= p->backoff_reset_ms)
    s->failures = 0;
  if (!recycle) {
    expire(p, s, now_ms);
    int limit = p->intensity < WARD__MAX_INTENSITY ? p->intensity : WARD__MAX_INTENSITY;
    if (s->count >= limit) {
      d.action = WARD__DO_GIVE_UP;
      d.attempt = s->failures;
      return d;
    }
    record(s, now_ms);
  }
  if (!recycle)
    s->failures++;
  s->restarts++;
  d.action = WARD__DO_RESTART;
  d.delay_ms = recycle ? 0 : backoff(p, s->failures);
  d.attempt = recycle ? 0 : s->failures;
  return d;
}

void ward__policy_reset(ward__supstate *s) {
  s->head = 0;
  s->count = 0;
  s->failures = 0;
}
