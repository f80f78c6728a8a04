/*
 * host_supervise.c — the supervisor at work on examples/flaky_worker.c.
 *
 *   host_supervise [path/to/flaky_worker]
 *
 * A crash and a hang each end their call with a typed error and are
 * followed by a restart after a growing delay; a session pinned to the
 * first process goes stale; the restart limit is reached and calls fail at
 * once; an explicit restart brings the worker back; a stop ends it for
 * good. The event callback, on ward's I/O thread, only records what
 * happened: events and call outcomes are not synchronised, so the main
 * thread waits for the event that says the supervisor is done. Exits 0
 * when everything happened as expected.
 */
#define _POSIX_C_SOURCE 200809L

#include <ward.h>

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAIT_S 30 /* generous: a loaded machine is slow */

/* What the event callback hands to the main thread: the events seen so
 * far, as text, and how many of each type. */
typedef struct events {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char log[2048];
  int seen[16]; /* by ward_event_type */
} events;

/* Runs on the host's I/O thread: format, store, signal, return. */
static void on_event(const ward_event *ev, void *ud) {
  events *e = ud;
  char line[160] = "";
  switch (ev->type) {
  case WARD_EV_EXITED:
    if (ev->signal)
      snprintf(line, sizeof line, "  event exited: signal %d, reason %s\n", ev->signal,
               ward_reason_name(ev->reason));
    else
      snprintf(line, sizeof line, "  event exited: exit code %d, reason %s\n", ev->exit_code,
               ward_reason_name(ev->reason));
    break;
  case WARD_EV_RESTARTING:
    snprintf(line, sizeof line, "  event restarting: after %s, attempt %d, in %d ms\n",
             ward_reason_name(ev->reason), ev->attempt, ev->delay_ms);
    break;
  case WARD_EV_RESTARTED:
    snprintf(line, sizeof line, "  event restarted: generation %u\n", (unsigned)ev->generation);
    break;
  case WARD_EV_GAVE_UP:
    snprintf(line, sizeof line, "  event gave-up: after %s\n", ward_reason_name(ev->reason));
    break;
  case WARD_EV_STOPPED:
    snprintf(line, sizeof line, "  event stopped: %s\n", ward_stop_outcome_name(ev->outcome));
    break;
  default: /* spawned, ready: not shown */
    break;
  }
  pthread_mutex_lock(&e->mu);
  strncat(e->log, line, sizeof e->log - strlen(e->log) - 1);
  if (ev->type >= 0 && ev->type < 16)
    e->seen[ev->type]++;
  pthread_cond_broadcast(&e->cv);
  pthread_mutex_unlock(&e->mu);
}

/* Waits until `type` has been seen `n` times, then prints and clears the
 * log. Returns 1 if it was seen in time. */
static int wait_event(events *e, int type, int n) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += WAIT_S;
  pthread_mutex_lock(&e->mu);
  int rc = 0;
  while (e->seen[type] < n && rc == 0)
    rc = pthread_cond_timedwait(&e->cv, &e->mu, &until);
  int seen = e->seen[type] >= n;
  fputs(e->log, stdout);
  e->log[0] = '\0';
  pthread_mutex_unlock(&e->mu);
  if (!seen)
    printf("no %s event within %d s\n", ward_event_name(type), WAIT_S);
  return seen;
}

/* One call; prints its outcome and the generation that served it. Returns
 * 1 if it ended with `want`. */
static int call(ward_worker *w, const char *method, int timeout_ms, uint32_t session,
                int want) {
  ward_call_opts opts = WARD_CALL_OPTS_INIT;
  opts.timeout_ms = timeout_ms;
  opts.generation = session; /* 0: any generation */
  ward_msg *reply;
  int rc = ward_request_ex(&reply, w, method, "null", 4, &opts);
  if (rc == WARD_OK)
    printf("%s -> %.*s (generation %u)\n", method, (int)ward_msg_len(reply),
           (const char *)ward_msg_data(reply), (unsigned)ward_worker_generation(w));
  else
    printf("%s -> %s (%s)\n", method, ward_err_name(rc), ward_strerror(rc));
  ward_msg_free(reply);
  if (rc != want)
    printf("  expected %s\n", ward_err_name(want));
  return rc == want;
}

/* Prints the worker's figures; returns 1 if it is in `state`. */
static int show_info(ward_worker *w, int state) {
  ward_info in = WARD_INFO_INIT;
  if (ward_worker_info(&in, w) != WARD_OK)
    return 0;
  printf("info: %s, generation %u, %u restarts, last exit %s, last stop %s\n",
         ward_state_name(in.state), (unsigned)in.generation, (unsigned)in.restarts,
         ward_reason_name(in.last_reason), ward_stop_outcome_name(in.last_stop));
  return in.state == state;
}

/* The worker next to this executable, unless a path is given. */
static int worker_path(char *out, size_t cap, int argc, char **argv) {
  if (argc > 1)
    return snprintf(out, cap, "%s", argv[1]) < (int)cap;
  ssize_t n = readlink("/proc/self/exe", out, cap - 1);
  if (n <= 0)
    return 0;
  out[n] = 0;
  char *slash = strrchr(out, '/');
  return slash && snprintf(slash + 1, cap - (size_t)(slash + 1 - out), "flaky_worker") > 0;
}

int main(int argc, char **argv) {
  static events ev = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, "", {0}};
  char path[PATH_MAX];
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (!worker_path(path, sizeof path, argc, argv))
    return 1;
  ward_host_opts hopts = WARD_HOST_OPTS_INIT;
  hopts.on_event = on_event;
  hopts.event_ud = &ev;
  ward_host *host;
  ward_spec *spec;
  ward_worker *w;
  if (ward_host_new(&host, &hopts) != WARD_OK)
    return 1;
  int rc = ward_spec_new(&spec, "flaky", path);
  if (rc == WARD_OK) {
    /* Restart on failure (the default); give up at the third restart
     * within a minute; wait 100 ms, then 200 ms, ... before each. */
    ward_spec_intensity(spec, 2, 60000);
    ward_spec_backoff(spec, 100, 1000, 200, 10000);
    rc = ward_spawn(&w, host, spec);
    ward_spec_free(spec);
  }
  if (rc != WARD_OK) {
    fprintf(stderr, "host_supervise: %s\n", ward_last_error());
    ward_host_free(host);
    return 1;
  }

  int ok = 1;
  uint32_t session = ward_worker_generation(w); /* 1: the process that holds our state */
  ok &= call(w, "work", 10000, session, WARD_OK);

  ok &= call(w, "crash", 10000, 0, WARD_ECRASHED); /* the supervisor restarts it */
  ok &= wait_event(&ev, WARD_EV_RESTARTED, 1);
  ok &= call(w, "work", 10000, session, WARD_ESTALE); /* that process is gone */
  ok &= call(w, "work", 10000, 0, WARD_OK);

  ok &= call(w, "hang", 300, 0, WARD_ETIMEDOUT); /* it is killed and replaced */
  ok &= wait_event(&ev, WARD_EV_RESTARTED, 2);

  ok &= call(w, "crash", 10000, 0, WARD_ECRASHED); /* a third restart would pass the limit */
  ok &= wait_event(&ev, WARD_EV_GAVE_UP, 1);
  ok &= call(w, "work", 10000, 0, WARD_EGAVEUP); /* at once, until someone restarts it */
  ok &= show_info(w, WARD_STATE_FAILED);

  rc = ward_worker_restart(w); /* forgets the history, starts a new process */
  printf("restart: %s\n", ward_err_name(rc));
  ok &= rc == WARD_OK;
  ok &= call(w, "work", 10000, 0, WARD_OK);

  rc = ward_worker_stop(w, 10000); /* goodbye; no restart follows a stop */
  printf("stop: %s\n", ward_err_name(rc));
  ok &= rc == WARD_OK;
  ok &= wait_event(&ev, WARD_EV_STOPPED, 1);
  ok &= show_info(w, WARD_STATE_STOPPED);

  ward_host_free(host);
  puts(ok ? "host_supervise: everything happened as expected"
          : "host_supervise: something went wrong");
  return ok ? 0 : 1;
}
