/*
 * group.c — supervision groups, as in OTP: workers started in order and
 * stopped in reverse, whose failures are handled together by a strategy.
 *
 *   one-for-one   a member that fails is restarted alone
 *   one-for-all   a member that fails is restarted with every other member
 *   rest-for-one  a member that fails is restarted with the members started
 *                 after it
 *
 * Design notes
 * ------------
 * Each member keeps its own state machine (lifecycle.c). A member's exit
 * that its restart mode would restart does not restart it: the machine
 * holds it (state HELD) and says so (WARD__LA_GROUP); the group then
 * counts the failure against its own intensity, and either gives up (every
 * member ends, failed, and one GROUP_GAVE_UP event says why) or restarts:
 * the other members concerned are ended as for a planned replacement
 * (GROUP_TERM: goodbye, SIGKILL after the stop grace), and once all of
 * them are held, they are started again one after the other, in the order
 * they were added, each once the one before is ready (GROUP_START). A
 * failure during that starts the decision again, with the union of the
 * members concerned. Planned replacements (cycle, max requests, memory,
 * idle) and exits the restart mode leaves down stay the member's own.
 *
 * Everything here runs under the host's lock, from ward__worker_post, and
 * reads no clock of its own.
 */
#include <stdlib.h>
#include <string.h>

#include "worker.h"

enum { G_RUNNING, G_RESTARTING, G_STARTING, G_FAILED, G_STOPPED };

struct ward_group {
  ward_host *host;
  ward_group *next;       /* the host's list */
  char *name;
  int strategy;           /* WARD_GROUP_* */
  ward__policy policy;    /* its intensity (restart always, no backoff) */
  ward__supstate sup;
  ward_worker **members;  /* in the order they were added */
  unsigned char *affected; /* per member: part of the restart under way */
  size_t n, cap;
  int phase;              /* G_* */
  size_t next_start;      /* G_STARTING: the member being started */
  int deciding;           /* posting to members: their news waits */
};

static void post_type(ward_worker *w, int type, int64_t now) {
  ward__lev ev = {.type = type, .now = now};
  ward__worker_post(w, &ev, NULL);
}

/* Whether a member takes part in its group's restarts: it has not come to
 * rest (stopped, failed, or exited as its restart mode asked). */
static int in_play(const ward_worker *w) {
  ward__lstate st = w->life.state;
  return st != WARD__L_STOPPED && st != WARD__L_STOPPING && st != WARD__L_FAILED &&
         st != WARD__L_EXITED;
}

static void give_up(ward_group *g, ward_worker *w, int64_t now) {
  g->phase = G_FAILED;
  for (size_t i = g->n; i-- > 0;)
    post_type(g->members[i], WARD__LE_GROUP_FAIL, now);
  ward__host_event(g->host, w, WARD_EV_GROUP_GAVE_UP, w->proc.pid, 0, 0, w->life.last_reason, 0,
                   "the group's restart limit was reached");
}

static void member_failed(ward_group *g, ward_worker *w, int64_t now) {
  if (g->phase == G_FAILED || g->phase == G_STOPPED) {
    post_type(w, WARD__LE_GROUP_FAIL, now); /* the group restarts nothing any more */
    return;
  }
  ward__decision d = ward__policy_exit(&g->policy, &g->sup, now, WARD_REASON_CRASHED, 1, 0, -1);
  if (d.action == WARD__DO_GIVE_UP) {
    give_up(g, w, now);
    return;
  }
  if (g->strategy == WARD_GROUP_ONE_FOR_ONE) {
    post_type(w, WARD__LE_GROUP_START, now);
    return;
  }
  size_t at = 0;
  while (at < g->n && g->members[at] != w)
    at++;
  for (size_t i = g->strategy == WARD_GROUP_ONE_FOR_ALL ? 0 : at; i < g->n; i++)
    if (g->members[i] == w || in_play(g->members[i]))
      g->affected[i] = 1;
  g->phase = G_RESTARTING;
  /* The others go last started first, as in a stop. */
  for (size_t i = g->n; i-- > 0;)
    if (g->affected[i] && g->members[i] != w)
      post_type(g->members[i], WARD__LE_GROUP_TERM, now);
}

/* Moves a restart on: when every member concerned is held, starts them
 * again in order, each once the one before it is ready. */
static void progress(ward_group *g, int64_t now) {
  if (g->phase == G_RESTARTING) {
    for (size_t i = 0; i < g->n; i++)
      if (g->affected[i] && in_play(g->members[i]) &&
          g->members[i]->life.state != WARD__L_HELD)
        return; /* still on its way down */
    g->phase = G_STARTING;
    g->next_start = 0;
  }
  if (g->phase != G_STARTING)
    return;
  for (; g->next_start < g->n; g->next_start++) {
    size_t i = g->next_start;
    ward_worker *m = g->members[i];
    if (!g->affected[i])
      continue;
    ward__lstate st = m->life.state;
    if (st == WARD__L_HELD) {
      post_type(m, WARD__LE_GROUP_START, now);
      return;
    }
    if (st == WARD__L_QUEUED || st == WARD__L_STARTING)
      return; /* wait until it is ready */
    g->affected[i] = 0; /* ready, or dropped out */
  }
  g->phase = G_RUNNING;
}

void ward__group_after(ward_group *g, ward_worker *w, const ward__lout *o, int64_t now) {
  if (g->deciding)
    return;
  g->deciding = 1;
  if (o->act & WARD__LA_GROUP)
    member_failed(g, w, now);
  progress(g, now);
  g->deciding = 0;
}

void ward__group_remove(ward_group *g, ward_worker *w) {
  for (size_t i = 0; i < g->n; i++) {
    if (g->members[i] != w)
      continue;
    memmove(&g->members[i], &g->members[i + 1], (g->n - i - 1) * sizeof *g->members);
    memmove(&g->affected[i], &g->affected[i + 1], g->n - i - 1);
    g->n--;
    if (g->next_start > i)
      g->next_start--;
    break;
  }
  w->group = NULL;
  ward__life_grouped(&w->life, 0);
}

/* ------------------------------------------------------------------ */
/* The public side                                                     */

const char *ward_group_strategy_name(int strategy) {
  switch (strategy) {
  case WARD_GROUP_ONE_FOR_ONE:
    return "one-for-one";
  case WARD_GROUP_ONE_FOR_ALL:
    return "one-for-all";
  case WARD_GROUP_REST_FOR_ONE:
    return "rest-for-one";
  default:
    return "unknown";
  }
}

int ward_group_new(ward_group **out, ward_host *h, const char *name, int strategy) {
  if (!out || !h || ward__check_name(name) ||
      (strategy != WARD_GROUP_ONE_FOR_ONE && strategy != WARD_GROUP_ONE_FOR_ALL &&
       strategy != WARD_GROUP_REST_FOR_ONE))
    return ward__fail(WARD_EINVAL, "ward_group_new needs out, a host, a name and a strategy");
  ward_group *g = calloc(1, sizeof *g);
  if (!g || !(g->name = strdup(name))) {
    free(g);
    return WARD_ENOMEM;
  }
  g->host = h;
  g->strategy = strategy;
  g->policy.restart = WARD_RESTART_ALWAYS;
  g->policy.intensity = WARD_INTENSITY_DEFAULT;
  g->policy.period_ms = WARD_INTENSITY_PERIOD_MS_DEFAULT;
  g->policy.backoff_mult_pct = 100;
  g->policy.backoff_reset_ms = WARD_BACKOFF_RESET_MS_DEFAULT;
  pthread_mutex_lock(&h->mu);
  g->next = h->groups;
  h->groups = g;
  pthread_mutex_unlock(&h->mu);
  *out = g;
  return 0;
}

int ward_group_intensity(ward_group *g, int max_restarts, int period_ms) {
  if (!g || max_restarts < 0 || max_restarts > WARD__MAX_INTENSITY || period_ms < 0)
    return ward__fail(WARD_EINVAL, "intensity must be 0..%d restarts in >= 0 ms",
                      WARD__MAX_INTENSITY);
  pthread_mutex_lock(&g->host->mu);
  g->policy.intensity = max_restarts;
  g->policy.period_ms = period_ms;
  pthread_mutex_unlock(&g->host->mu);
  return 0;
}

int ward__group_add(ward_group *g, ward_worker *w) {
  if (g->n == g->cap) {
    size_t cap = g->cap ? g->cap * 2 : 8;
    ward_worker **m = realloc(g->members, cap * sizeof *m);
    if (!m)
      return WARD_ENOMEM;
    g->members = m;
    unsigned char *a = realloc(g->affected, cap);
    if (!a)
      return WARD_ENOMEM;
    g->affected = a;
    g->cap = cap;
  }
  g->members[g->n] = w;
  g->affected[g->n] = 0;
  g->n++;
  w->group = g;
  ward__life_grouped(&w->life, 1);
  return 0;
}

int ward_group_stop(ward_group *g, int grace_ms) {
  if (!g)
    return ward__fail(WARD_EINVAL, "NULL group");
  ward_host *h = g->host;
  pthread_mutex_lock(&h->mu);
  g->phase = G_STOPPED;
  int rv = 0;
  /* Last added first; the list may change while a stop waits. */
  for (size_t i = g->n; i-- > 0;) {
    if (i >= g->n)
      continue;
    ward_worker *w = g->members[i];
    pthread_mutex_unlock(&h->mu);
    int r = ward_worker_stop(w, grace_ms);
    pthread_mutex_lock(&h->mu);
    if (r && !rv)
      rv = r;
  }
  pthread_mutex_unlock(&h->mu);
  return rv;
}

/* Unlinks the group from its host and frees it (lock held). */
void ward__group_destroy(ward_group *g) {
  ward_host *h = g->host;
  for (ward_group **pp = &h->groups; *pp; pp = &(*pp)->next)
    if (*pp == g) {
      *pp = g->next;
      break;
    }
  for (size_t i = 0; i < g->n; i++) {
    g->members[i]->group = NULL;
    ward__life_grouped(&g->members[i]->life, 0);
  }
  free(g->members);
  free(g->affected);
  free(g->name);
  free(g);
}

void ward_group_free(ward_group *g) {
  if (!g || ward__on_io_thread(g->host))
    return;
  ward_group_stop(g, -1);
  ward_host *h = g->host;
  pthread_mutex_lock(&h->mu);
  while (g->n) {
    ward_worker *w = g->members[g->n - 1];
    pthread_mutex_unlock(&h->mu);
    ward_worker_free(w); /* takes it out of the group */
    pthread_mutex_lock(&h->mu);
  }
  ward__group_destroy(g);
  pthread_mutex_unlock(&h->mu);
}

const char *ward__group_name(const ward_group *g) { return g ? g->name : NULL; }

ward_host *ward__group_host(const ward_group *g) { return g->host; }
