/*
 * daemon.c — `ward run CONFIG`: keeps the configured services up, in the
 * foreground, with a control channel (docs/cli.md).
 *
 * Threads and locks:
 *   - the main thread waits for signals (SIGTERM/SIGINT: stop everything
 *     and exit; SIGHUP: reload), which every thread blocks;
 *   - the host's I/O thread runs the event callback: it logs the event on
 *     stderr and writes captured lines to the log files (svclog's lock
 *     only, never the daemon's);
 *   - control requests run on the server's connection threads (`ward
 *     ctl`), or, from services allowed to make them, on a thread each
 *     (their host handler defers the call off the I/O thread).
 * `op` is a read-write lock: operations on services (start, stop, restart,
 * kill) hold it to read and run side by side, one at a time per service
 * (its `busy` flag); those that change the table (reload, spawn, shutdown)
 * hold it to write. `tab` guards the table and the services' fields,
 * briefly, and is never held across a call that waits for a process (but
 * by the shutdown's first pass), so `status` and `logs` answer at once.
 * The I/O thread takes neither.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <ward.h>

#include "cli.h"
#include "config.h"
#include "svclog.h"

/* Application error codes of the control methods (docs/protocol.md). */
enum {
  CTL_BAD = 400,
  CTL_FORBIDDEN = 403,
  CTL_NOTFOUND = 404,
  CTL_CONFLICT = 409,
  CTL_FAILED = 500,
  CTL_CLOSING = 503
};

typedef struct svc {
  svc_conf conf;
  ward_worker **w;      /* conf.instances handles, NULL until created */
  int transient;        /* made by `ward ctl spawn`: not in the config */
  int starting;         /* its first processes are on their way (tab) */
  int busy;             /* an operation has it (tab; svc_cv) */
  int halt;             /* a stop asked a start under way to give up (tab) */
  int pins;             /* threads using it without `op` (tab; svc_cv) */
  atomic_int gone;      /* a transient one, stopped: out of sight, freed by
                           the next operation that holds `op` to write */
  char error[256];      /* why it is not running, when it could not start */
} svc;

typedef struct supervisor {
  pthread_rwlock_t op;
  pthread_mutex_t tab;
  pthread_cond_t svc_cv;   /* a service's `busy` went to 0 */
  ward_host *host;
  ward_server *server;
  ward_conf *conf;
  char *config_path;
  ward_conf in_use;        /* the [ward] keys a reload does not change
                              (CONF_RELOAD_NEXT_START): the control socket
                              and its limits, as the daemon started */
  svc **svcs;
  size_t nsvcs;
  svclog *logs;
  int64_t started_ms;
  pthread_mutex_t jobs_mu; /* deferred requests of services still running */
  pthread_cond_t jobs_cv;
  int jobs;
  atomic_int closing;      /* shutting down: operations are refused, starts
                              stop waiting */
  pthread_mutex_t ctl_mu;  /* guards `controllers` only (a leaf lock) */
  char **controllers;      /* services with control = yes, for the I/O
                              thread, which must not wait for `tab` */
  size_t ncontrollers;
  pthread_t boot;          /* the first start of every service */
  int booting;
} supervisor;

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The daemon's own log: one line on stderr, "TIME EVENT NAME key=value...". */
static void say(const char *event, const char *name, const char *fmt, ...)
    CLI_PRINTF(3, 4);
static void say(const char *event, const char *name, const char *fmt, ...) {
  char rest[512] = "";
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rest, sizeof rest, fmt, ap);
    va_end(ap);
  }
  char stamp[40];
  cli_utc_stamp(stamp, sizeof stamp, wall_ms());
  /* One write per line, so lines from several threads do not mix. */
  char line[900];
  int n = snprintf(line, sizeof line, "%s %s %s%s%s\n", stamp, event,
                   name ? name : "-", rest[0] ? " " : "", rest);
  if (n > (int)sizeof line - 1)
    n = (int)sizeof line - 1, line[n - 1] = '\n';
  ssize_t w = write(2, line, (size_t)n);
  (void)w;
}

/* The service part of an instance name ("web.2" -> "web"). */
static void svc_of(const char *instance, char *out, size_t cap) {
  snprintf(out, cap, "%s", instance);
  char *dot = strrchr(out, '.');
  if (dot)
    *dot = 0;
}

/* ------------------------------------------------------------------ */
/* Events (the host's I/O thread)                                      */

static void on_event(const ward_event *ev, void *ud) {
  supervisor *d = ud;
  const char *n = ev->name;
  switch (ev->type) {
  case WARD_EV_LOG: {
    char svcname[128];
    svc_of(n, svcname, sizeof svcname);
    svclog_line(d->logs, svcname, n, ev->stream, wall_ms(), ev->detail ? ev->detail : "");
    break;
  }
  case WARD_EV_SPAWNED:
    say("spawned", n, "pid=%d generation=%u", ev->pid, ev->generation);
    break;
  case WARD_EV_READY:
    say("ready", n, "pid=%d", ev->pid);
    break;
  case WARD_EV_EXITED:
    if (ev->signal)
      say("exited", n, "pid=%d signal=%s reason=%s", ev->pid, conf_signal_name(ev->signal),
          ward_reason_name(ev->reason));
    else
      say("exited", n, "pid=%d code=%d reason=%s", ev->pid, ev->exit_code,
          ward_reason_name(ev->reason));
    break;
  case WARD_EV_RESTARTING:
    say("restarting", n, "attempt=%d delay_ms=%d reason=%s", ev->attempt, ev->delay_ms,
        ward_reason_name(ev->reason));
    break;
  case WARD_EV_GAVE_UP:
    say("gave-up", n, "reason=%s", ward_reason_name(ev->reason));
    break;
  case WARD_EV_UNHEALTHY:
    say("unhealthy", n, "pid=%d missed=%d", ev->pid, ev->attempt);
    break;
  case WARD_EV_ERROR:
    say("protocol-error", n, "pid=%d detail=\"%s\"", ev->pid, ev->detail ? ev->detail : "");
    break;
  case WARD_EV_STOPPED:
    say("stopped", n, "outcome=%s", ward_stop_outcome_name(ev->outcome));
    break;
  default:
    break;
  }
}

/* The control socket's server let a connection go (one of its threads). */
static void on_drop(const ward_server_drop *dr, void *ud) {
  const supervisor *d = ud;
  const char *why = ward_drop_reason_name(dr->reason);
  switch (dr->reason) {
  case WARD_DROP_BUSY:
    say("control-refused", NULL, "reason=%s pid=%d max_connections=%d", why, dr->pid,
        d->in_use.max_conns);
    break;
  case WARD_DROP_PROTOCOL:
    say("control-dropped", NULL, "reason=%s pid=%d greeted=%s detail=\"%s\"", why, dr->pid,
        dr->greeted ? "yes" : "no", dr->detail ? dr->detail : "");
    break;
  default:
    say("control-dropped", NULL, "reason=%s pid=%d greeted=%s idle_ms=%lld max_connections=%d",
        why, dr->pid, dr->greeted ? "yes" : "no", (long long)dr->idle_ms, d->in_use.max_conns);
    break;
  }
}

/* ------------------------------------------------------------------ */
/* The table                                                           */

static svc *find(supervisor *d, const char *name) {
  for (size_t i = 0; i < d->nsvcs; i++)
    if (!atomic_load(&d->svcs[i]->gone) && strcmp(d->svcs[i]->conf.name, name) == 0)
      return d->svcs[i];
  return NULL;
}

/* One operation at a time on a service (op held, to read or write). */
static void claim(supervisor *d, svc *s) {
  pthread_mutex_lock(&d->tab);
  while (s->busy)
    pthread_cond_wait(&d->svc_cv, &d->tab);
  s->busy = 1;
  pthread_mutex_unlock(&d->tab);
}

static void release(supervisor *d, svc *s) {
  pthread_mutex_lock(&d->tab);
  s->busy = 0;
  pthread_cond_broadcast(&d->svc_cv);
  pthread_mutex_unlock(&d->tab);
}

static svc *svc_new(const svc_conf *conf, int transient) {
  svc *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  if (svc_conf_copy(&s->conf, conf)) {
    free(s);
    return NULL;
  }
  s->w = calloc((size_t)conf->instances, sizeof *s->w);
  if (!s->w) {
    svc_conf_clear(&s->conf);
    free(s);
    return NULL;
  }
  s->transient = transient;
  return s;
}

/* Frees a service already out of the table (its workers are stopped). */
static void svc_free(svc *s) {
  for (int i = 0; i < s->conf.instances; i++)
    ward_worker_free(s->w[i]);
  free(s->w);
  svc_conf_clear(&s->conf);
  free(s);
}

/* The names of the services with control = yes, again (tab held). */
static void controllers_update(supervisor *d) {
  char **v = calloc(d->nsvcs + 1, sizeof *v);
  size_t n = 0;
  for (size_t i = 0; v && i < d->nsvcs; i++)
    if (d->svcs[i]->conf.control && (v[n] = strdup(d->svcs[i]->conf.name)))
      n++;
  pthread_mutex_lock(&d->ctl_mu);
  char **old = d->controllers;
  size_t nold = d->ncontrollers;
  d->controllers = v;
  d->ncontrollers = n;
  pthread_mutex_unlock(&d->ctl_mu);
  for (size_t i = 0; i < nold; i++)
    free(old[i]);
  free(old);
}

static int table_add(supervisor *d, svc *s) {
  pthread_mutex_lock(&d->tab);
  svc **v = realloc(d->svcs, (d->nsvcs + 1) * sizeof *v);
  if (v) {
    d->svcs = v;
    v[d->nsvcs++] = s;
    controllers_update(d);
  }
  pthread_mutex_unlock(&d->tab);
  return v ? 0 : -1;
}

static void table_remove(supervisor *d, svc *s) {
  pthread_mutex_lock(&d->tab);
  for (size_t i = 0; i < d->nsvcs; i++)
    if (d->svcs[i] == s) {
      memmove(&d->svcs[i], &d->svcs[i + 1], (d->nsvcs - i - 1) * sizeof *d->svcs);
      d->nsvcs--;
      break;
    }
  controllers_update(d);
  pthread_mutex_unlock(&d->tab);
}

/* Work that must end before the host goes (a service's request, a
 * reload): counted, refused once the daemon is stopping. */
static int job_begin(supervisor *d) {
  pthread_mutex_lock(&d->jobs_mu);
  int ok = !atomic_load(&d->closing);
  if (ok)
    d->jobs++;
  pthread_mutex_unlock(&d->jobs_mu);
  return ok;
}

/* How deep in the dependencies (0: depends on nothing). */
static int level_of(supervisor *d, const svc *s, int guard) {
  int lv = 0;
  for (size_t i = 0; i < s->conf.ndeps && guard < 1000; i++) {
    const svc *dep = find(d, s->conf.deps[i]);
    if (dep) {
      int l = level_of(d, dep, guard + 1) + 1;
      if (l > lv)
        lv = l;
    }
  }
  return lv;
}

/* ------------------------------------------------------------------ */
/* Starting and stopping (op held)                                      */

static ward_spec *make_spec(const svc_conf *c, int instance) {
  char name[128];
  if (c->instances > 1)
    snprintf(name, sizeof name, "%s.%d", c->name, instance + 1);
  else
    snprintf(name, sizeof name, "%s", c->name);
  ward_spec *s;
  if (ward_spec_new(&s, name, c->argv[0]))
    return NULL;
  int rv = 0;
  for (size_t i = 1; !rv && i < c->argc; i++)
    rv = ward_spec_arg(s, c->argv[i]);
  for (size_t i = 0; !rv && i < c->nenv; i++) {
    char *kv = strdup(c->env[i]);
    char *eq = kv ? strchr(kv, '=') : NULL;
    if (!eq) {
      free(kv);
      rv = WARD_ENOMEM;
      break;
    }
    *eq = 0;
    rv = ward_spec_env(s, kv, eq + 1);
    free(kv);
  }
  if (!rv && c->cwd)
    rv = ward_spec_cwd(s, c->cwd);
  if (!rv)
    rv = ward_spec_restart(s, c->restart);
  if (!rv)
    rv = ward_spec_intensity(s, c->max_restarts, c->restart_window_ms);
  if (!rv)
    rv = ward_spec_backoff(s, c->backoff_ms, c->backoff_max_ms,
                           WARD_BACKOFF_MULTIPLIER_PCT_DEFAULT, c->restart_window_ms);
  if (!rv)
    rv = ward_spec_stop_signal(s, c->stop_signal);
  if (!rv)
    rv = ward_spec_stop_grace(s, c->stop_grace_ms);
  if (!rv)
    rv = ward_spec_ready(s, c->ready_mode, c->ready_arg);
  if (!rv)
    rv = ward_spec_startup_timeout(s, c->startup_timeout_ms);
  if (!rv && c->heartbeat_ms)
    rv = ward_spec_heartbeat(s, c->heartbeat_ms, WARD_HEARTBEAT_MISSES_DEFAULT);
  if (!rv && (c->memory_high || c->memory_limit))
    rv = ward_spec_memory_limit(s, c->memory_high, c->memory_limit, 0);
  if (!rv)
    rv = ward_spec_supervise_start(s, 1);
  if (!rv)
    rv = ward_spec_log_events(s, 1);
  if (!rv)
    rv = ward_spec_data_root(s, NULL);
  if (rv) {
    ward_spec_free(s);
    return NULL;
  }
  return s;
}

/* Runs fn(arg[i]) for i < n on threads of their own, and waits for all. */
static void parallel(size_t n, void *(*fn)(void *), void **args) {
  pthread_t *t = calloc(n ? n : 1, sizeof *t);
  int *ok = calloc(n ? n : 1, sizeof *ok);
  for (size_t i = 0; i < n; i++) {
    ok[i] = t && ok && n > 1 && pthread_create(&t[i], NULL, fn, args[i]) == 0;
    if (!ok[i])
      fn(args[i]); /* one alone, or no thread to be had: here */
  }
  for (size_t i = 0; i < n; i++)
    if (ok[i])
      pthread_join(t[i], NULL);
  free(t);
  free(ok);
}

typedef struct inst_job {
  supervisor *d;
  svc *s;
  int i;
  int grace_ms;
  char error[256];
} inst_job;

static const char *state_text(ward_worker *w, char *buf, size_t cap) {
  ward_info in = WARD_INFO_INIT;
  if (ward_worker_info(&in, w))
    return "unknown";
  if (in.last_signal)
    snprintf(buf, cap, "%s (last exit: signal %s)", ward_state_name(in.state),
             conf_signal_name(in.last_signal));
  else if (in.generation > 0 && in.state != WARD_STATE_READY)
    snprintf(buf, cap, "%s (last exit: code %d)", ward_state_name(in.state), in.last_exit_code);
  else
    snprintf(buf, cap, "%s", ward_state_name(in.state));
  return buf;
}

/* Whether the service's program can be run: a path (from its cwd), or a
 * name found in PATH. A missing program is said plainly, not as an exit
 * code 127 after a run of restarts. */
static int runnable(const svc_conf *c, char *err, size_t cap) {
  const char *prog = c->argv[0];
  char path[4096];
  if (strchr(prog, '/')) {
    if (prog[0] != '/' && c->cwd)
      snprintf(path, sizeof path, "%s/%s", c->cwd, prog);
    else
      snprintf(path, sizeof path, "%s", prog);
    if (access(path, X_OK) == 0)
      return 1;
    snprintf(err, cap, "cannot run %s: %s", prog, strerror(errno));
    return 0;
  }
  const char *env = getenv("PATH");
  for (const char *p = env ? env : "/usr/bin:/bin"; *p;) {
    size_t n = strcspn(p, ":");
    snprintf(path, sizeof path, "%.*s/%s", (int)n, n ? p : ".", prog);
    if (access(path, X_OK) == 0)
      return 1;
    p += n + (p[n] == ':');
  }
  snprintf(err, cap, "cannot run %s: not found in PATH", prog);
  return 0;
}

/* Whether a start of `s` must give up: the daemon stops, or a stop of
 * the service asked (the message goes to `err`). */
static int halted(supervisor *d, svc *s, char *err, size_t cap) {
  pthread_mutex_lock(&d->tab);
  int halt = s->halt;
  pthread_mutex_unlock(&d->tab);
  if (halt || atomic_load(&d->closing))
    snprintf(err, cap, "%s: %s", s->conf.name,
             halt ? "stopped while it started" : "the daemon is stopping");
  return halt || atomic_load(&d->closing);
}

static void *start_instance(void *arg) {
  inst_job *j = arg;
  svc *s = j->s;
  ward_worker *w = s->w[j->i];
  int rv;
  if (halted(j->d, s, j->error, sizeof j->error))
    return NULL;
  if (!w && !runnable(&s->conf, j->error, sizeof j->error))
    return NULL;
  if (!w) {
    /* The handle is listed at once (status shows it come up, a shutdown
     * can stop it); the wait is in slices, so a shutdown ends it. */
    ward_spec *spec = make_spec(&s->conf, j->i);
    rv = spec ? ward_spawn_start(&w, j->d->host, spec) : WARD_ENOMEM;
    ward_spec_free(spec);
    if (rv) {
      snprintf(j->error, sizeof j->error, "%s", ward_last_error());
      return NULL;
    }
    pthread_mutex_lock(&j->d->tab);
    s->w[j->i] = w;
    pthread_mutex_unlock(&j->d->tab);
    while ((rv = ward_worker_wait_ready(w, 200)) == WARD_ETIMEDOUT)
      if (halted(j->d, s, j->error, sizeof j->error)) {
        ward_worker_stop(w, 0); /* not up: nothing to be gentle with */
        return NULL;
      }
    if (rv) {
      char st[160];
      snprintf(j->error, sizeof j->error, "%s did not become ready: %s", ward_worker_name(w),
               state_text(w, st, sizeof st));
    }
    return NULL;
  } else {
    ward_info in = WARD_INFO_INIT;
    ward_worker_info(&in, w);
    if (in.state == WARD_STATE_STOPPED || in.state == WARD_STATE_FAILED ||
        in.state == WARD_STATE_EXITED) {
      if ((rv = ward_worker_restart(w)) != 0) {
        snprintf(j->error, sizeof j->error, "%s", ward_last_error());
        return NULL;
      }
    }
  }
  /* ward_worker_restart returned: it was ready, or came to rest without:
   * only a process that is gone for good (failed, exited, stopped) says
   * which; one that is restarting already had been ready. */
  ward_info in = WARD_INFO_INIT;
  ward_worker_info(&in, w);
  if (in.state == WARD_STATE_FAILED || in.state == WARD_STATE_EXITED ||
      in.state == WARD_STATE_STOPPED || in.state == WARD_STATE_STOPPING) {
    char st[160];
    snprintf(j->error, sizeof j->error, "%s did not become ready: %s", ward_worker_name(w),
             state_text(w, st, sizeof st));
  }
  return NULL;
}

static int all_ready(supervisor *d, const svc *s) {
  int ok = 1;
  pthread_mutex_lock(&d->tab);
  for (int i = 0; ok && i < s->conf.instances; i++) {
    ward_info in = WARD_INFO_INIT;
    ok = s->w[i] && !ward_worker_info(&in, s->w[i]) && in.state == WARD_STATE_READY;
  }
  pthread_mutex_unlock(&d->tab);
  return ok;
}

/* Runs fn for every instance of `s`, in parallel; 0, or -1 with the first
 * instance's error in `err`. */
static int each_instance(supervisor *d, svc *s, void *(*fn)(void *), int grace_ms, char *err,
                         size_t cap) {
  int n = s->conf.instances;
  inst_job *jobs = calloc((size_t)n, sizeof *jobs);
  void **args = calloc((size_t)n, sizeof *args);
  int rv = jobs && args ? 0 : -1;
  if (rv)
    snprintf(err, cap, "out of memory");
  for (int i = 0; !rv && i < n; i++) {
    jobs[i] = (inst_job){.d = d, .s = s, .i = i, .grace_ms = grace_ms};
    args[i] = &jobs[i];
  }
  if (!rv)
    parallel((size_t)n, fn, args);
  for (int i = 0; !rv && i < n; i++)
    if (jobs[i].error[0]) {
      snprintf(err, cap, "%s", jobs[i].error);
      rv = -1;
    }
  free(jobs);
  free(args);
  return rv;
}

/* Why a service is not running ("" once it is), for status (tab). */
static void set_error(supervisor *d, svc *s, const char *text) {
  pthread_mutex_lock(&d->tab);
  snprintf(s->error, sizeof s->error, "%s", text);
  pthread_mutex_unlock(&d->tab);
}

/* Starts a service (its dependencies first, if they are not ready):
 * every instance in parallel. 0, or -1 with the reason in `err`. */
static int svc_start(supervisor *d, svc *s, char *err, size_t cap, int depth) {
  for (size_t i = 0; i < s->conf.ndeps; i++) {
    svc *dep = find(d, s->conf.deps[i]);
    if (!dep || all_ready(d, dep))
      continue;
    char why[256] = "dependencies nested too deep";
    if (depth > 64 || svc_start(d, dep, why, sizeof why, depth + 1)) {
      snprintf(err, cap, "dependency %s is not ready: %s", s->conf.deps[i], why);
      set_error(d, s, err);
      say("not-started", s->conf.name, "reason=\"%s\"", err);
      return -1;
    }
  }
  claim(d, s);
  pthread_mutex_lock(&d->tab);
  s->halt = 0; /* stops asked before this start are done with */
  s->starting = 1;
  pthread_mutex_unlock(&d->tab);
  int rv = -1;
  if (atomic_load(&s->gone) || atomic_load(&d->closing)) {
    snprintf(err, cap, "%s", atomic_load(&s->gone) ? "the service was stopped and is gone"
                                                   : "the daemon is stopping");
  } else {
    rv = each_instance(d, s, start_instance, 0, err, cap);
    set_error(d, s, rv ? err : "");
  }
  pthread_mutex_lock(&d->tab);
  s->starting = 0;
  pthread_mutex_unlock(&d->tab);
  release(d, s);
  return rv;
}

/* The job's instance handle, or NULL: read under `tab`, since a start
 * of the service may be listing it meanwhile. */
static ward_worker *job_handle(const inst_job *j) {
  pthread_mutex_lock(&j->d->tab);
  ward_worker *w = j->s->w[j->i];
  pthread_mutex_unlock(&j->d->tab);
  return w;
}

static void *stop_instance(void *arg) {
  inst_job *j = arg;
  ward_worker *w = job_handle(j);
  if (w && ward_worker_stop(w, j->grace_ms))
    snprintf(j->error, sizeof j->error, "%s", ward_last_error());
  return NULL;
}

/* Stops every instance in parallel; grace < 0: the service's own. A
 * transient service is gone once stopped (`gone` set before the turn is
 * given up, so that a start waiting for it finds it gone). */
static int svc_stop(supervisor *d, svc *s, int grace_ms, char *err, size_t cap) {
  claim(d, s);
  int rv = each_instance(d, s, stop_instance, grace_ms, err, cap);
  if (s->transient)
    atomic_store(&s->gone, 1);
  release(d, s);
  return rv;
}

/* Stops, in parallel, those instances of `s` that are not up (starting,
 * restarting, backing off), so that a start waiting for them lets go of
 * the service; `halt` also stops one that has not made its handle yet.
 * Without `tab` (stops take a while) and without `op`: the caller pinned
 * `s`, so it is not freed meanwhile. */
static void *interrupt_instance(void *arg) {
  inst_job *j = arg;
  ward_worker *w = job_handle(j);
  ward_info in = WARD_INFO_INIT;
  if (w && !ward_worker_info(&in, w) &&
      (in.state == WARD_STATE_STARTING || in.state == WARD_STATE_RESTARTING ||
       in.state == WARD_STATE_BACKING_OFF))
    ward_worker_stop(w, j->grace_ms);
  return NULL;
}

static void interrupt_service(supervisor *d, svc *s, int grace_ms) {
  pthread_mutex_lock(&d->tab);
  s->halt = 1;
  pthread_mutex_unlock(&d->tab);
  char err[64];
  each_instance(d, s, interrupt_instance, grace_ms, err, sizeof err);
}

typedef struct svc_job {
  supervisor *d;
  svc *s;
  int start; /* or stop */
  char error[256];
} svc_job;

static void *svc_job_run(void *arg) {
  svc_job *j = arg;
  if (j->start)
    svc_start(j->d, j->s, j->error, sizeof j->error, 0);
  else
    svc_stop(j->d, j->s, -1, j->error, sizeof j->error);
  return NULL;
}

/* Starts (or stops) `v` level by level of their dependencies: starting,
 * the deepest last; stopping, the deepest first. Each level in parallel. */
static void by_levels(supervisor *d, svc **v, size_t n, int start) {
  int top = 0;
  int *lv = calloc(n ? n : 1, sizeof *lv);
  svc_job *jobs = calloc(n ? n : 1, sizeof *jobs);
  void **args = calloc(n ? n : 1, sizeof *args);
  if (!lv || !jobs || !args) {
    free(lv);
    free(jobs);
    free(args);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    lv[i] = level_of(d, v[i], 0);
    if (lv[i] > top)
      top = lv[i];
  }
  for (int k = 0; k <= top && !(start && atomic_load(&d->closing)); k++) {
    int level = start ? k : top - k;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
      if (lv[i] == level) {
        jobs[m] = (svc_job){.d = d, .s = v[i], .start = start};
        args[m] = &jobs[m];
        m++;
      }
    parallel(m, svc_job_run, args);
    for (size_t i = 0; i < m; i++)
      if (jobs[i].error[0])
        say(start ? "start-failed" : "stop-failed", jobs[i].s->conf.name, "reason=\"%s\"",
            jobs[i].error);
  }
  free(lv);
  free(jobs);
  free(args);
}

/* ------------------------------------------------------------------ */
/* Control methods                                                     */

/* Finds a service by name, or by an instance name (sets *instance, from
 * 0; -1 for all). */
static svc *lookup(supervisor *d, const char *name, int *instance) {
  *instance = -1;
  svc *s = find(d, name);
  if (s)
    return s;
  char base[128];
  svc_of(name, base, sizeof base);
  s = find(d, base);
  if (!s || s->conf.instances < 2)
    return NULL;
  const char *num = name + strlen(base) + 1;
  char *end;
  long i = strtol(num, &end, 10);
  if (*num == 0 || *end || i < 1 || i > s->conf.instances)
    return NULL;
  *instance = (int)(i - 1);
  return s;
}

/* lookup() for a method's "name" (tab held): NULL, with CTL_NOTFOUND in
 * *rv and the reason in `err`, when there is none. */
static svc *lookup_named(supervisor *d, const char *name, int *instance, int *rv, char *err,
                         size_t cap) {
  svc *s = lookup(d, name, instance);
  if (!s) {
    snprintf(err, cap, "no service '%s'", name);
    *rv = CTL_NOTFOUND;
  }
  return s;
}

static json_t *instance_row(const svc *s, int i, int64_t now) {
  ward_worker *w = s->w[i];
  char name[128];
  if (s->conf.instances > 1)
    snprintf(name, sizeof name, "%s.%d", s->conf.name, i + 1);
  else
    snprintf(name, sizeof name, "%s", s->conf.name);
  json_t *r = json_pack("{s:s, s:s, s:i, s:b}", "name", name, "service", s->conf.name,
                        "instance", i + 1, "transient", s->transient);
  if (!r)
    return NULL;
  if (!w) {
    json_object_set_new(r, "state", json_string(s->starting   ? "starting"
                                                : s->error[0] ? "failed"
                                                              : "not-started"));
    json_object_set_new(r, "pid", json_integer(0));
    if (s->error[0])
      json_object_set_new(r, "error", json_string(s->error));
    return r;
  }
  ward_info in = WARD_INFO_INIT;
  ward_worker_info(&in, w);
  json_object_set_new(r, "state", json_string(ward_state_name(in.state)));
  json_object_set_new(r, "pid", json_integer(in.pid));
  json_object_set_new(r, "uptime_ms",
                      in.pid > 0 && in.start_time_ms > 0 ? json_integer(now - in.start_time_ms)
                                                         : json_null());
  json_object_set_new(r, "generation", json_integer(in.generation));
  json_object_set_new(r, "restarts", json_integer(in.restarts));
  if (in.generation > 0 && (in.last_exit_code != 0 || in.last_signal || in.last_reason))
    json_object_set_new(r, "last_exit",
                        json_pack("{s:i, s:s?, s:s}", "code", in.last_exit_code, "signal",
                                  in.last_signal ? conf_signal_name(in.last_signal) : NULL,
                                  "reason", ward_reason_name(in.last_reason)));
  else
    json_object_set_new(r, "last_exit", json_null());
  /* null: the system does not say (WARD_UNKNOWN). */
  json_object_set_new(r, "rss_bytes", in.rss_bytes == WARD_UNKNOWN
                                          ? json_null()
                                          : json_integer((json_int_t)in.rss_bytes));
  json_object_set_new(r, "cpu_ms", in.cpu_ms == WARD_UNKNOWN ? json_null()
                                                             : json_integer((json_int_t)in.cpu_ms));
  if (s->error[0])
    json_object_set_new(r, "error", json_string(s->error));
  return r;
}

static int m_status(supervisor *d, json_t *p, json_t **out, char *err, size_t cap) {
  const char *name = json_string_value(json_object_get(p, "name"));
  json_t *rows = json_array();
  int64_t now = wall_ms();
  int rv = 0;
  pthread_mutex_lock(&d->tab);
  if (name) {
    int inst;
    svc *s = lookup_named(d, name, &inst, &rv, err, cap);
    for (int i = 0; s && i < s->conf.instances; i++)
      if (inst < 0 || inst == i)
        json_array_append_new(rows, instance_row(s, i, now));
  } else {
    for (size_t k = 0; k < d->nsvcs; k++)
      for (int i = 0; !atomic_load(&d->svcs[k]->gone) && i < d->svcs[k]->conf.instances; i++)
        json_array_append_new(rows, instance_row(d->svcs[k], i, now));
  }
  pthread_mutex_unlock(&d->tab);
  if (rv) {
    json_decref(rows);
    return rv;
  }
  *out = json_pack("{s:o, s:{s:i, s:s, s:s, s:I}}", "services", rows, "daemon", "pid",
                   (int)getpid(), "config", d->config_path, "socket", d->in_use.socket,
                   "uptime_ms", (json_int_t)(now - d->started_ms));
  return 0;
}

/* One captured line of one instance, for merging instances by time. */
typedef struct log_ref {
  const ward_log_line *line;
  int instance;
  const char *name;
} log_ref;

static int log_ref_cmp(const void *x, const void *y) {
  const log_ref *a = x, *b = y;
  if (a->line->time_ms != b->line->time_ms)
    return a->line->time_ms < b->line->time_ms ? -1 : 1;
  if (a->instance != b->instance)
    return a->instance < b->instance ? -1 : 1;
  return a->line->seq < b->line->seq ? -1 : a->line->seq > b->line->seq;
}

/* ward.logs: the lines of a service's instances (or one), merged by time,
 * the last N of them; and, per instance, a cursor (its handle's id and the
 * highest seq it has) to ask for what comes after. A cursor of another
 * handle (the service was replaced by a reload) starts from the first line. */
static int m_logs(supervisor *d, json_t *p, json_t **out, char *err, size_t cap) {
  const char *name = json_string_value(json_object_get(p, "name"));
  json_t *last = json_object_get(p, "last"), *after = json_object_get(p, "after");
  if (!name || (last && (!json_is_integer(last) || json_integer_value(last) < 0))) {
    snprintf(err, cap, "logs needs a service name (and a count of 0 or more)");
    return CTL_BAD;
  }
  const char *stream = json_string_value(json_object_get(p, "stream"));
  int rv = 0;
  pthread_mutex_lock(&d->tab);
  int inst;
  svc *s = lookup_named(d, name, &inst, &rv, err, cap);
  int n = s ? s->conf.instances : 0;
  ward_log_line **lines = calloc((size_t)n + 1, sizeof *lines);
  size_t *counts = calloc((size_t)n + 1, sizeof *counts);
  char (*names)[128] = calloc((size_t)n + 1, sizeof *names);
  json_t *cursor = json_object();
  size_t total = 0;
  for (int i = 0; !rv && lines && counts && names && i < n; i++) {
    ward_worker *w = s->w[i];
    if ((inst >= 0 && inst != i) || !w)
      continue;
    snprintf(names[i], sizeof names[i], "%s", ward_worker_name(w));
    json_int_t id = (json_int_t)ward_worker_id(w);
    json_t *a = json_object_get(after, names[i]);
    uint64_t from = json_integer_value(json_object_get(a, "id")) == id
                        ? (uint64_t)json_integer_value(json_object_get(a, "seq"))
                        : 0;
    ward_log_query q = WARD_LOG_QUERY_INIT;
    q.after_seq = from;
    /* The cursor: the newest line of either stream. */
    q.last = 1;
    ward_log_line *v;
    size_t k;
    uint64_t top = from;
    if (!ward_worker_logs(&v, &k, w, &q)) {
      if (k && v[0].seq > top)
        top = v[0].seq;
      ward_log_lines_free(v, k);
    }
    json_object_set_new(cursor, names[i], json_pack("{s:I, s:I}", "id", id, "seq",
                                                    (json_int_t)top));
    if (last && json_integer_value(last) == 0)
      continue;
    q.last = last ? (size_t)json_integer_value(last) : 0;
    q.streams = stream && strcmp(stream, "stderr") == 0   ? WARD_LOG_STDERR
                : stream && strcmp(stream, "stdout") == 0 ? WARD_LOG_STDOUT
                                                          : 0;
    if (!ward_worker_logs(&lines[i], &counts[i], w, &q))
      total += counts[i];
  }
  pthread_mutex_unlock(&d->tab);
  log_ref *refs = rv ? NULL : calloc(total + 1, sizeof *refs);
  if (!rv && (!refs || !lines || !counts || !names)) {
    snprintf(err, cap, "out of memory");
    rv = CTL_FAILED;
  }
  json_t *arr = json_array();
  if (!rv) {
    size_t m = 0;
    for (int i = 0; i < n; i++)
      for (size_t k = 0; k < counts[i]; k++)
        refs[m++] = (log_ref){&lines[i][k], i, names[i]};
    qsort(refs, m, sizeof *refs, log_ref_cmp);
    size_t keep = last && (size_t)json_integer_value(last) < m ? (size_t)json_integer_value(last)
                                                               : m;
    for (size_t k = m - keep; k < m; k++)
      json_array_append_new(
          arr, json_pack("{s:s, s:I, s:I, s:s, s:s}", "instance", refs[k].name, "seq",
                         (json_int_t)refs[k].line->seq, "time_ms",
                         (json_int_t)refs[k].line->time_ms, "stream",
                         refs[k].line->stream == WARD_LOG_STDERR ? "stderr" : "stdout", "text",
                         refs[k].line->text));
  }
  for (int i = 0; lines && counts && i < n; i++)
    ward_log_lines_free(lines[i], counts[i]);
  free(lines);
  free(counts);
  free(names);
  free(refs);
  if (rv) {
    json_decref(arr);
    json_decref(cursor);
    return rv;
  }
  *out = json_pack("{s:o, s:o}", "lines", arr, "cursor", cursor);
  return 0;
}

static int m_signal(supervisor *d, json_t *p, json_t **out, char *err, size_t cap) {
  const char *name = json_string_value(json_object_get(p, "name"));
  const char *signame = json_string_value(json_object_get(p, "signal"));
  int sig;
  if (!name || !signame || conf_signal(signame, &sig)) {
    snprintf(err, cap, "signal needs a service name and a signal (TERM, HUP, USR1, 9...)");
    return CTL_BAD;
  }
  int rv = 0, sent = 0;
  pthread_mutex_lock(&d->tab);
  int inst;
  svc *s = lookup_named(d, name, &inst, &rv, err, cap);
  for (int i = 0; s && i < s->conf.instances; i++) {
    int pid = (inst < 0 || inst == i) ? ward_worker_pid(s->w[i]) : 0;
    if (pid > 0 && kill(pid, sig) == 0)
      sent++;
  }
  pthread_mutex_unlock(&d->tab);
  if (!rv && !sent) {
    snprintf(err, cap, "'%s' has no running process", name);
    rv = CTL_FAILED;
  }
  if (!rv)
    *out = json_pack("{s:i}", "signalled", sent);
  return rv;
}

/* A service held by a thread that does not hold `op` (tab): it is not
 * freed until unpinned. NULL when there is no such service. */
static svc *pin(supervisor *d, const char *name) {
  pthread_mutex_lock(&d->tab);
  svc *s = name ? find(d, name) : NULL;
  if (s)
    s->pins++;
  pthread_mutex_unlock(&d->tab);
  return s;
}

static void unpin(supervisor *d, svc *s) {
  pthread_mutex_lock(&d->tab);
  s->pins--;
  pthread_cond_broadcast(&d->svc_cv);
  pthread_mutex_unlock(&d->tab);
}

typedef struct halt_job {
  supervisor *d;
  svc *s;
} halt_job;

static void *halt_job_run(void *arg) {
  halt_job *j = arg;
  interrupt_service(j->d, j->s, -1);
  unpin(j->d, j->s);
  return NULL;
}

/* Shutting down, first: every start under way gives up (the processes
 * not up yet are stopped now, all services at once, whatever the order);
 * what is up is stopped afterwards, in reverse dependency order. */
static void interrupt_starts(supervisor *d) {
  atomic_store(&d->closing, 1);
  pthread_mutex_lock(&d->tab);
  size_t n = d->nsvcs;
  halt_job *jobs = calloc(n ? n : 1, sizeof *jobs);
  void **args = calloc(n ? n : 1, sizeof *args);
  for (size_t k = 0; jobs && args && k < n; k++) {
    d->svcs[k]->pins++;
    jobs[k] = (halt_job){d, d->svcs[k]};
    args[k] = &jobs[k];
  }
  pthread_mutex_unlock(&d->tab);
  if (jobs && args)
    parallel(n, halt_job_run, args);
  free(jobs);
  free(args);
}

/* The service named in the params, for an operation (op held). */
static svc *op_target(supervisor *d, json_t *p, char *err, size_t cap, int *rv) {
  const char *name = json_string_value(json_object_get(p, "name"));
  if (!name) {
    snprintf(err, cap, "a service name is needed");
    *rv = CTL_BAD;
    return NULL;
  }
  pthread_mutex_lock(&d->tab);
  svc *s = find(d, name);
  pthread_mutex_unlock(&d->tab);
  if (!s) {
    snprintf(err, cap, "no service '%s'", name);
    *rv = CTL_NOTFOUND;
  }
  return s;
}

static json_t *states_of(supervisor *d, svc *s) {
  json_t *rows = json_array();
  int64_t now = wall_ms();
  pthread_mutex_lock(&d->tab);
  for (int i = 0; i < s->conf.instances; i++)
    json_array_append_new(rows, instance_row(s, i, now));
  pthread_mutex_unlock(&d->tab);
  return json_pack("{s:o}", "services", rows);
}

static int m_start(supervisor *d, json_t *p, json_t **out, char *err, size_t cap) {
  int rv = 0;
  svc *s = op_target(d, p, err, cap, &rv);
  if (!s)
    return rv;
  if (svc_start(d, s, err, cap, 0))
    return CTL_FAILED;
  *out = states_of(d, s);
  return 0;
}

static void forget(supervisor *d, svc *s) {
  table_remove(d, s);
  pthread_mutex_lock(&d->tab);
  while (s->pins) /* a stop's first pass still looks at it */
    pthread_cond_wait(&d->svc_cv, &d->tab);
  pthread_mutex_unlock(&d->tab);
  svc_free(s);
}

/* Frees the stopped transient services (op held to write: nobody else
 * looks at them). */
static void purge(supervisor *d) {
  for (size_t i = d->nsvcs; i-- > 0;)
    if (atomic_load(&d->svcs[i]->gone))
      forget(d, d->svcs[i]);
}

static int m_stop(supervisor *d, json_t *p, json_t **out, char *err, size_t cap, int now) {
  int rv = 0;
  svc *s = op_target(d, p, err, cap, &rv);
  if (!s)
    return rv;
  json_t *g = json_object_get(p, "grace_ms");
  int grace = now ? 0 : json_is_integer(g) ? (int)json_integer_value(g) : -1;
  if (svc_stop(d, s, grace, err, cap))
    return CTL_FAILED;
  *out = states_of(d, s);
  return 0;
}

static int m_restart(supervisor *d, json_t *p, json_t **out, char *err, size_t cap) {
  int rv = 0;
  svc *s = op_target(d, p, err, cap, &rv);
  if (!s)
    return rv;
  if (svc_stop(d, s, -1, err, cap) || svc_start(d, s, err, cap, 0))
    return CTL_FAILED;
  *out = states_of(d, s);
  return 0;
}

/* The first half of ward.spawn, with `op` held to write: the transient
 * service is added to the table (*added). */
static int m_spawn(supervisor *d, json_t *p, svc **added, char *err, size_t cap) {
  const char *name = json_string_value(json_object_get(p, "name"));
  json_t *argv = json_object_get(p, "argv");
  if (!name || !svc_name_ok(name) || !json_is_array(argv) || json_array_size(argv) == 0) {
    snprintf(err, cap, "spawn needs a service name ([A-Za-z0-9_-]) and a command");
    return CTL_BAD;
  }
  svc_conf c;
  if (svc_conf_init(&c, name)) {
    snprintf(err, cap, "out of memory");
    return CTL_FAILED;
  }
  int rv = 0;
  c.restart = WARD_RESTART_ON_FAILURE;
  c.ready_arg = 0;
  const char *restart = json_string_value(json_object_get(p, "restart"));
  const char *ready = json_string_value(json_object_get(p, "ready"));
  if (restart && conf_restart(restart, &c.restart)) {
    snprintf(err, cap, "restart: '%s' is not always, on-failure or never", restart);
    rv = CTL_BAD;
  }
  if (!rv && ready && conf_ready(ready, &c.ready_mode, &c.ready_arg)) {
    snprintf(err, cap, "ready: '%s' is not handshake, up DURATION or notify FD", ready);
    rv = CTL_BAD;
  }
  size_t i;
  json_t *a;
  c.argv = calloc(json_array_size(argv) + 1, sizeof *c.argv);
  json_array_foreach(argv, i, a) {
    if (!rv && (!json_is_string(a) || !c.argv)) {
      snprintf(err, cap, "argv holds strings only");
      rv = CTL_BAD;
    }
    if (!rv && !(c.argv[c.argc++] = strdup(json_string_value(a))))
      rv = CTL_FAILED;
  }
  svc *s = NULL;
  pthread_mutex_lock(&d->tab);
  int taken = find(d, name) != NULL;
  pthread_mutex_unlock(&d->tab);
  if (!rv && taken) {
    snprintf(err, cap, "a service '%s' exists already", name);
    rv = CTL_CONFLICT;
  }
  if (!rv && (!(s = svc_new(&c, 1)) || table_add(d, s))) {
    snprintf(err, cap, "out of memory");
    rv = CTL_FAILED;
  }
  svc_conf_clear(&c);
  if (rv) {
    if (s)
      svc_free(s);
    return rv;
  }
  say("spawn", name, "transient=yes");
  *added = s;
  return 0;
}

/* Whether `s` is still listed (op held to read). Only a reload, whose
 * configuration has a service of the same name, replaces a transient one
 * between the spawn's two halves. */
static int listed(supervisor *d, const svc *s) {
  int found = 0;
  pthread_mutex_lock(&d->tab);
  for (size_t i = 0; i < d->nsvcs && !found; i++)
    found = d->svcs[i] == s && !atomic_load(&d->svcs[i]->gone);
  pthread_mutex_unlock(&d->tab);
  return found;
}

/* The second half of ward.spawn, with `op` held to read, so that the
 * service can be stopped while it comes up. */
static int spawn_start(supervisor *d, svc *s, json_t **out, char *err, size_t cap) {
  if (!listed(d, s)) {
    snprintf(err, cap, "the service was stopped or replaced meanwhile");
    return CTL_CONFLICT;
  }
  if (svc_start(d, s, err, cap, 0))
    return CTL_FAILED; /* it stays listed, failed, until stopped or killed */
  *out = states_of(d, s);
  return 0;
}

/* Reload (op held): 0, or CTL_BAD with the configuration's error. */
static int reload(supervisor *d, json_t **out, char *err, size_t cap) {
  ward_conf *nc;
  if (conf_load(&nc, d->config_path, err, cap)) {
    say("reload-refused", NULL, "error=\"%s\"", err);
    return CTL_BAD;
  }
  for (size_t i = 0; i < conf_nkeys; i++) {
    const conf_key *k = &conf_keys[i];
    char v[512];
    if (k->section == CONF_WARD && k->reload == CONF_RELOAD_NEXT_START &&
        !conf_key_same(k, nc, &d->in_use))
      say("reload-note", NULL, "%s=%s takes effect at the next start", k->name,
          conf_key_text(k, nc, 0, v, sizeof v));
  }
  svclog_configure(d->logs, nc->log_dir, nc->log_max_bytes, nc->log_files);
  char lerr[512];
  if (svclog_prepare(d->logs, lerr, sizeof lerr))
    say("log-error", NULL, "error=\"%s\"", lerr);
  json_t *added = json_array(), *removed = json_array(), *changed = json_array(),
         *unchanged = json_array();
  size_t cap_v = d->nsvcs + nc->nsvcs + 1;
  svc **stop = calloc(cap_v, sizeof *stop), **start = calloc(cap_v, sizeof *start);
  size_t nstop = 0, nstart = 0;
  /* What goes: services no longer in the file (and transient ones a new
   * service of the same name replaces), and those that changed. */
  pthread_mutex_lock(&d->tab);
  for (size_t i = 0; stop && i < d->nsvcs; i++) {
    svc *s = d->svcs[i];
    const svc_conf *c = NULL;
    for (size_t k = 0; k < nc->nsvcs && !c; k++)
      if (strcmp(nc->svcs[k].name, s->conf.name) == 0)
        c = &nc->svcs[k];
    if (s->transient && !c)
      continue;
    if (c && !s->transient && svc_conf_same(c, &s->conf)) {
      json_array_append_new(unchanged, json_string(s->conf.name));
      continue;
    }
    json_array_append_new(c && !s->transient ? changed : removed, json_string(s->conf.name));
    stop[nstop++] = s;
  }
  pthread_mutex_unlock(&d->tab);
  if (stop)
    by_levels(d, stop, nstop, 0);
  for (size_t i = 0; i < nstop; i++)
    forget(d, stop[i]);
  for (size_t k = 0; start && k < nc->nsvcs; k++) {
    pthread_mutex_lock(&d->tab);
    int present = find(d, nc->svcs[k].name) != NULL;
    pthread_mutex_unlock(&d->tab);
    if (present)
      continue;
    int was_changed = 0;
    size_t i;
    json_t *v;
    json_array_foreach(changed, i, v) was_changed |=
        strcmp(json_string_value(v), nc->svcs[k].name) == 0;
    if (!was_changed)
      json_array_append_new(added, json_string(nc->svcs[k].name));
    svc *s = svc_new(&nc->svcs[k], 0);
    if (s && table_add(d, s) == 0)
      start[nstart++] = s;
    else if (s)
      svc_free(s);
  }
  conf_free(d->conf);
  d->conf = nc;
  if (start)
    by_levels(d, start, nstart, 1);
  free(stop);
  free(start);
  *out = json_pack("{s:o, s:o, s:o, s:o}", "added", added, "removed", removed, "changed",
                   changed, "unchanged", unchanged);
  char *a = json_dumps(added, JSON_COMPACT), *r = json_dumps(removed, JSON_COMPACT),
       *c = json_dumps(changed, JSON_COMPACT);
  say("reloaded", NULL, "added=%s removed=%s changed=%s", a ? a : "?", r ? r : "?",
      c ? c : "?");
  free(a);
  free(r);
  free(c);
  return 0;
}

/* Every control method: 0 with *out, or a CTL_* code with `err`. */
static int dispatch(supervisor *d, const char *method, json_t *p, json_t **out, char *err,
                    size_t cap) {
  *out = NULL;
  if (strncmp(method, "ward.", 5) != 0) {
    snprintf(err, cap, "no method '%s'", method);
    return CTL_BAD;
  }
  const char *m = method + 5;
  /* Reading methods need no turn. */
  if (strcmp(m, "status") == 0)
    return m_status(d, p, out, err, cap);
  if (strcmp(m, "logs") == 0)
    return m_logs(d, p, out, err, cap);
  if (strcmp(m, "signal") == 0)
    return m_signal(d, p, out, err, cap);
  if (strcmp(m, "shutdown") == 0) {
    say("shutdown-requested", NULL, NULL);
    *out = json_pack("{s:b}", "stopping", 1);
    return 0; /* answer() raises SIGTERM once the reply is out */
  }
  if (atomic_load(&d->closing)) {
    snprintf(err, cap, "the daemon is shutting down");
    return CTL_CLOSING;
  }
  /* A stop, kill or restart first makes a start of its service under way
   * give up, before waiting for its turn: that start may be what holds
   * the turn (or what a queued reload waits for). */
  if (strcmp(m, "stop") == 0 || strcmp(m, "kill") == 0 || strcmp(m, "restart") == 0) {
    svc *s = pin(d, json_string_value(json_object_get(p, "name")));
    if (s) {
      json_t *g = json_object_get(p, "grace_ms");
      interrupt_service(d, s, strcmp(m, "kill") == 0 ? 0
                              : json_is_integer(g) && strcmp(m, "stop") == 0
                                  ? (int)json_integer_value(g)
                                  : -1);
      unpin(d, s);
    }
  }
  /* Operations on one service run beside others; changes to the table
   * run alone. */
  int writer = strcmp(m, "spawn") == 0 || strcmp(m, "reload") == 0;
  if (writer) {
    pthread_rwlock_wrlock(&d->op);
    purge(d);
  } else {
    pthread_rwlock_rdlock(&d->op);
  }
  int rv;
  if (atomic_load(&d->closing)) {
    snprintf(err, cap, "the daemon is shutting down");
    rv = CTL_CLOSING;
  } else if (strcmp(m, "start") == 0) {
    rv = m_start(d, p, out, err, cap);
  } else if (strcmp(m, "stop") == 0) {
    rv = m_stop(d, p, out, err, cap, 0);
  } else if (strcmp(m, "kill") == 0) {
    rv = m_stop(d, p, out, err, cap, 1);
  } else if (strcmp(m, "restart") == 0) {
    rv = m_restart(d, p, out, err, cap);
  } else if (strcmp(m, "spawn") == 0) {
    svc *added = NULL;
    rv = m_spawn(d, p, &added, err, cap);
    if (!rv) {
      pthread_rwlock_unlock(&d->op);
      pthread_rwlock_rdlock(&d->op);
      rv = atomic_load(&d->closing) ? CTL_CLOSING : spawn_start(d, added, out, err, cap);
      if (rv == CTL_CLOSING)
        snprintf(err, cap, "the daemon is shutting down");
    }
  } else if (strcmp(m, "reload") == 0) {
    rv = reload(d, out, err, cap);
  } else {
    snprintf(err, cap, "no method '%s'", method);
    rv = CTL_BAD;
  }
  pthread_rwlock_unlock(&d->op);
  return rv;
}

/* Runs a request and ends its call (the reply, or the error). */
static void answer(supervisor *d, ward_ctx *ctx, const char *method, const void *data, size_t len) {
  json_t *params = NULL;
  char err[512] = "";
  if (len == 0) {
    params = json_object();
  } else if (ward_ctx_params_json(ctx, data, len, &params) || !json_is_object(params)) {
    json_decref(params);
    ward_ctx_fail(ctx, CTL_BAD, "the parameters are not a JSON object");
    return;
  }
  json_t *out;
  int rv = dispatch(d, method, params, &out, err, sizeof err);
  json_decref(params);
  if (rv == 0 && out)
    ward_ctx_reply_json(ctx, out);
  else
    ward_ctx_fail(ctx, rv ? rv : CTL_FAILED, err[0] ? err : "failed");
  json_decref(out);
  /* The main thread takes a shutdown from here: after the reply, which
   * the closing of the control socket would otherwise race. */
  if (rv == 0 && strcmp(method, "ward.shutdown") == 0)
    kill(getpid(), SIGTERM);
}

/* ward ctl, on the server's connection threads. */
static int on_ctl(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  answer(ud, ctx, ward_ctx_method(ctx), data, len);
  return 0;
}

/* A service's request, deferred off the I/O thread. */
typedef struct svc_req {
  supervisor *d;
  ward_ctx *ctx;
  char *method;
  void *data;
  size_t len;
} svc_req;

static void job_end(supervisor *d) {
  pthread_mutex_lock(&d->jobs_mu);
  d->jobs--;
  pthread_cond_broadcast(&d->jobs_cv);
  pthread_mutex_unlock(&d->jobs_mu);
}

/* A service's request is done with: the daemon may stop once none is. */
static void svc_req_done(svc_req *r) {
  supervisor *d = r->d;
  free(r->method);
  free(r->data);
  free(r);
  job_end(d);
}

static void *run_svc_req(void *arg) {
  svc_req *r = arg;
  answer(r->d, r->ctx, r->method, r->data, r->len);
  svc_req_done(r);
  return NULL;
}

/* May this worker make control requests? (its service says control=yes)
 * By name: its request may come before its handle is listed, and every
 * worker of this host is one of the table's. Runs on the I/O thread: looks
 * at `controllers`, never at the table. */
static int allowed(supervisor *d, ward_worker *w) {
  char base[128];
  const char *name = ward_worker_name(w);
  svc_of(name, base, sizeof base);
  int ok = 0;
  pthread_mutex_lock(&d->ctl_mu);
  for (size_t i = 0; i < d->ncontrollers && !ok; i++)
    ok = strcmp(d->controllers[i], base) == 0 || strcmp(d->controllers[i], name) == 0;
  pthread_mutex_unlock(&d->ctl_mu);
  return ok;
}

static int on_service(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  supervisor *d = ud;
  if (!allowed(d, ward_ctx_worker(ctx)))
    return ward_ctx_fail(ctx, CTL_FORBIDDEN,
                         "control requests are not allowed for this service (control = yes)");
  svc_req *r = calloc(1, sizeof *r);
  if (r) {
    r->d = d;
    r->method = strdup(ward_ctx_method(ctx));
    r->data = malloc(len ? len : 1);
    r->len = len;
  }
  if (!r || !r->method || !r->data) {
    if (r) {
      free(r->method);
      free(r->data);
    }
    free(r);
    return ward_ctx_fail(ctx, CTL_FAILED, "out of memory");
  }
  memcpy(r->data, data, len);
  int closing = !job_begin(d);
  if (closing) {
    free(r->method);
    free(r->data);
    free(r);
    return ward_ctx_fail(ctx, CTL_CLOSING, "the daemon is shutting down");
  }
  r->ctx = ward_ctx_defer(ctx);
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int ok = r->ctx && pthread_create(&t, &attr, run_svc_req, r) == 0;
  pthread_attr_destroy(&attr);
  if (!ok) {
    if (r->ctx)
      ward_ctx_fail(r->ctx, CTL_FAILED, "no thread for the request");
    else
      ward_ctx_fail(ctx, CTL_FAILED, "could not defer the request");
    svc_req_done(r);
  }
  return 0;
}

static const char *const methods[] = {"ward.status", "ward.start",  "ward.stop",
                                      "ward.restart", "ward.signal", "ward.logs",
                                      "ward.spawn",  "ward.kill",   "ward.reload",
                                      "ward.shutdown"};
#define NMETHODS (sizeof methods / sizeof methods[0])

/* ------------------------------------------------------------------ */
/* ward run                                                            */

/* The first start of every service, off the main thread, which must stay
 * in sigwaitinfo: a SIGTERM during a slow start is taken at once. */
static void *boot(void *arg) {
  supervisor *d = arg;
  pthread_rwlock_rdlock(&d->op);
  by_levels(d, d->svcs, d->nsvcs, 1);
  pthread_rwlock_unlock(&d->op);
  return NULL;
}

/* A SIGHUP's reload, off the main thread for the same reason. */
static void *reload_job(void *arg) {
  supervisor *d = arg;
  char err[768];
  json_t *res = NULL;
  pthread_rwlock_wrlock(&d->op);
  purge(d);
  if (!atomic_load(&d->closing))
    reload(d, &res, err, sizeof err);
  pthread_rwlock_unlock(&d->op);
  json_decref(res);
  job_end(d);
  return NULL;
}

static void run_usage(FILE *f) {
  fprintf(f,
          "Usage: %s run [--check] CONFIG\n"
          "       %s run --keys\n"
          "\n"
          "Keeps the services of CONFIG (an INI file) up, in the foreground, with\n"
          "a control socket for '%s ctl'. Its own events go to stderr, one line\n"
          "each; each service's output goes to rotating files in the log directory.\n"
          "\n"
          "Signals: SIGTERM or SIGINT stops every service (in reverse dependency\n"
          "order, gracefully, then by force) and exits 0; SIGHUP reloads CONFIG:\n"
          "added services start, removed ones stop, changed ones restart, the\n"
          "others keep running.\n"
          "\n"
          "Options:\n"
          "      --check    check CONFIG and exit (0: valid, 3: not)\n"
          "      --keys     list the keys CONFIG may hold and exit, one per line,\n"
          "                 tab-separated: section, key, what a reload does with a\n"
          "                 change, default, meaning\n"
          "  -h, --help     show this help and exit\n"
          "\n"
          "Exit status: 0 stopped on request (or --check: valid), 1 could not run\n"
          "(the socket is taken, the log directory cannot be made), 2 usage error,\n"
          "3 CONFIG refused (its file, line and reason are on stderr).\n"
          "\n"
          "See docs/cli.md for every key of CONFIG.\n",
          CLI_NAME, CLI_NAME, CLI_NAME);
}

int run_main(int argc, char **argv) {
  static const cli_opt opts[] = {
      {"check", 0, 0, 1}, {"help", 'h', 0, 2}, {"keys", 0, 0, 3}, {NULL, 0, 0, 0}};
  cli_args a;
  cli_args_init(&a, "run", argc, argv);
  const char *path = NULL;
  int check = 0, keys = 0;
  for (int id; (id = cli_next_opt(&a, opts)) != CLI_OPT_END;) {
    if (id == CLI_OPT_ERROR)
      return CLI_EXIT_USAGE;
    if (id == 2) {
      run_usage(stdout);
      return cli_finish("run", CLI_EXIT_OK);
    }
    if (id == 1)
      check = 1;
    if (id == 3)
      keys = 1;
    if (id == CLI_OPT_POSITIONAL) {
      if (path)
        return cli_usage_error("run", "unexpected argument '%s'", a.arg);
      path = a.arg;
    }
  }
  if (keys && (path || check))
    return cli_usage_error("run", "--keys takes no configuration file");
  if (keys)
    return cli_finish("run", conf_keys_print(stdout) ? CLI_EXIT_FAIL : CLI_EXIT_OK);
  if (!path)
    return cli_usage_error("run", "which configuration file?");

  char err[768];
  ward_conf *conf;
  if (conf_load(&conf, path, err, sizeof err)) {
    cli_error("run", "%s", err);
    return CLI_EXIT_CONFIG;
  }
  if (check) {
    printf("%s: %zu service%s, control socket %s\n", path, conf->nsvcs,
           conf->nsvcs == 1 ? "" : "s", conf->socket);
    conf_free(conf);
    return cli_finish("run", CLI_EXIT_OK);
  }

  /* Every thread ward starts inherits this mask; the main thread takes
   * the signals with sigwaitinfo. Workers start with a clean one. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  supervisor d;
  memset(&d, 0, sizeof d);
  /* A reload waits for the operations under way, and new ones wait for it
   * rather than keep it out. */
  pthread_rwlockattr_t rwa;
  pthread_rwlockattr_init(&rwa);
  pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&d.op, &rwa);
  pthread_rwlockattr_destroy(&rwa);
  pthread_cond_init(&d.svc_cv, NULL);
  pthread_mutex_init(&d.tab, NULL);
  pthread_mutex_init(&d.jobs_mu, NULL);
  pthread_mutex_init(&d.ctl_mu, NULL);
  pthread_cond_init(&d.jobs_cv, NULL);
  d.conf = conf;
  d.config_path = realpath(path, NULL);
  int kept = 0;
  for (size_t i = 0; i < conf_nkeys; i++)
    if (conf_keys[i].section == CONF_WARD && conf_keys[i].reload == CONF_RELOAD_NEXT_START)
      kept |= conf_key_copy(&conf_keys[i], &d.in_use, conf);
  d.started_ms = wall_ms();
  d.logs = svclog_new(conf->log_dir, conf->log_max_bytes, conf->log_files);
  int rc = CLI_EXIT_FAIL;
  if (!d.config_path || kept || !d.logs) {
    cli_error("run", "out of memory");
    goto out;
  }
  if (svclog_prepare(d.logs, err, sizeof err)) {
    cli_error("run", "%s", err);
    goto out;
  }
  ward_host_opts ho = WARD_HOST_OPTS_INIT;
  ho.on_event = on_event;
  ho.event_ud = &d;
  if (ward_host_new(&d.host, &ho)) {
    cli_error("run", "cannot start: %s", ward_last_error());
    goto out;
  }
  if (ward_server_new(&d.server)) {
    cli_error("run", "out of memory");
    goto out;
  }
  /* Both are valid: the configuration was checked. */
  ward_server_limits(d.server, conf->max_conns, conf->handshake_ms);
  ward_server_on_drop(d.server, on_drop, &d);
  for (size_t i = 0; i < NMETHODS; i++) {
    ward_server_handle(d.server, methods[i], on_ctl, &d);
    ward_host_handle(d.host, methods[i], on_service, &d);
  }
  if (ward_server_listen(d.server, conf->socket)) {
    cli_error("run", "control socket %s: %s", conf->socket, ward_last_error());
    goto out;
  }
  say("daemon-started", NULL, "pid=%d config=%s socket=%s log_dir=%s services=%zu", (int)getpid(),
      d.config_path, conf->socket, conf->log_dir ? conf->log_dir : "none", conf->nsvcs);

  for (size_t i = 0; i < conf->nsvcs; i++) {
    svc *s = svc_new(&conf->svcs[i], 0);
    if (!s || table_add(&d, s)) {
      cli_error("run", "out of memory");
      goto out;
    }
  }
  if (pthread_create(&d.boot, NULL, boot, &d) != 0) {
    cli_error("run", "cannot start a thread");
    goto out;
  }
  d.booting = 1;

  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&set, &si);
    if (sig < 0)
      continue; /* EINTR */
    if (sig == SIGHUP) {
      say("daemon-reload", NULL, "signal=HUP");
      pthread_t t;
      pthread_attr_t attr;
      pthread_attr_init(&attr);
      pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
      if (job_begin(&d) && pthread_create(&t, &attr, reload_job, &d) != 0)
        job_end(&d);
      pthread_attr_destroy(&attr);
      continue;
    }
    say("daemon-stopping", NULL, "signal=%s", conf_signal_name(sig));
    break;
  }
  rc = CLI_EXIT_OK;

out:
  /* Operations are refused from now on (503) and starts stop waiting;
   * then, with the turn, the services stop in reverse dependency order,
   * while the control socket still answers status; then it goes, and the
   * services' requests still running end. */
  interrupt_starts(&d);
  if (d.booting)
    pthread_join(d.boot, NULL);
  if (d.host) {
    pthread_rwlock_wrlock(&d.op);
    purge(&d);
    by_levels(&d, d.svcs, d.nsvcs, 0);
    pthread_rwlock_unlock(&d.op);
  }
  ward_server_free(d.server);
  pthread_mutex_lock(&d.jobs_mu);
  while (d.jobs)
    pthread_cond_wait(&d.jobs_cv, &d.jobs_mu);
  pthread_mutex_unlock(&d.jobs_mu);
  if (d.host) {
    while (d.nsvcs)
      forget(&d, d.svcs[d.nsvcs - 1]);
    ward_host_free(d.host);
  }
  if (rc == CLI_EXIT_OK)
    say("daemon-exited", NULL, "code=0");
  free(d.svcs);
  svclog_free(d.logs);
  conf_free(d.conf);
  free(d.config_path);
  for (size_t i = 0; i < conf_nkeys; i++)
    if (conf_keys[i].section == CONF_WARD)
      conf_key_clear(&conf_keys[i], &d.in_use);
  pthread_rwlock_destroy(&d.op);
  pthread_cond_destroy(&d.svc_cv);
  pthread_mutex_destroy(&d.tab);
  pthread_mutex_destroy(&d.jobs_mu);
  pthread_mutex_destroy(&d.ctl_mu);
  pthread_cond_destroy(&d.jobs_cv);
  for (size_t i = 0; i < d.ncontrollers; i++)
    free(d.controllers[i]);
  free(d.controllers);
  return rc;
}
