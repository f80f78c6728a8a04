/*
 * daemon.c — `ward run CONFIG`: keeps the configured services up, in the
 * foreground, with a control channel (docs/cli.md).
 *
 * One thread does everything. The host has an external loop, and the
 * control server is attached to it (ward_server_attach), so the main
 * thread polls two descriptors: the host's (ward_host_fd, then
 * ward_host_dispatch) and a pipe its signal handlers write to (SIGTERM/
 * SIGINT: stop everything and exit; SIGHUP: reload). Inside a dispatch, the event callback logs and
 * writes captured lines to the log files, and control handlers (`ward
 * ctl`, and services with control = yes) either answer at once (status,
 * logs, signal) or defer their call and queue an operation.
 *
 * Operations (start, stop, restart, replace, kill, spawn, reload, the
 * first start of every service, the shutdown) are small state machines: a
 * list of phases, each starting or stopping a set of service instances
 * with the library's calls that never wait (ward_spawn_start,
 * ward_worker_restart_begin, ward_worker_stop_begin). After each dispatch
 * the main thread advances every operation by looking at the states of
 * its instances; one whose phases are done answers its call. So no
 * operation waits for another: `stop a` answers once a is stopped,
 * whatever else is stopping, and status answers at once. A stop makes a
 * start of the same service under way give up. A replacement starts a
 * second process beside an instance's (a handle of its own, held by the
 * operation), and only once that one is ready puts it in the instance's
 * place and stops the old one, so the instance never stops serving; events
 * of a handle no longer (or not yet) an instance's do not change its
 * status. A service's struct is counted (refs) by the operations using
 * it: one a reload or a stop takes out of the table is freed, outside any
 * dispatch, once none does.
 *
 * A [group NAME] is a ward_group: its services' workers are added with
 * ward_group_spawn_start, each service's start phase after the one before
 * it in the file (the group's order counts as a dependency), and the
 * library restarts them as the strategy says. A reload that changes a
 * group retires it: its services stop, and start again in a new one.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <jansson.h>
#include <ward.h>

#include "cli.h"
#include "config.h"
#include "http.h"
#include "svclog.h"
#include "sysd.h"

/* The signals ward run acts on reach its loop through a pipe (the
 * self-pipe trick, where a signalfd would be Linux's alone): a handler
 * writes the signal's number, and the loop polls the read end. */
static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig) {
  int saved = errno;
  unsigned char b = (unsigned char)sig;
  /* A full pipe (64 KiB of signals unread) loses this one. */
  ssize_t n = write(sig_pipe[1], &b, 1);
  (void)n;
  errno = saved;
}

/* Opens the pipe and installs the handlers: 0, or -1 with errno. */
static int signals_open(void) {
  if (pipe(sig_pipe))
    return -1;
  for (int i = 0; i < 2; i++) {
    int fl = fcntl(sig_pipe[i], F_GETFL);
    if (fl < 0 || fcntl(sig_pipe[i], F_SETFL, fl | O_NONBLOCK) ||
        fcntl(sig_pipe[i], F_SETFD, FD_CLOEXEC))
      return -1;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (sigaction(sigs[i], &sa, NULL))
      return -1;
  /* SIGCHLD only wakes the loop, which reaps orphans after every turn. */
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  return sigaction(SIGCHLD, &sa, NULL);
}

static void signals_close(void) {
  for (int i = 0; i < 2; i++)
    if (sig_pipe[i] >= 0)
      close(sig_pipe[i]);
}

/* Application error codes of the control methods (docs/protocol.md). */
enum {
  CTL_BAD = 400,
  CTL_FORBIDDEN = 403,
  CTL_NOTFOUND = 404,
  CTL_CONFLICT = 409,
  CTL_FAILED = 500,
  CTL_CLOSING = 503
};

/* A [group NAME] of the configuration, as a ward_group. */
typedef struct dgroup {
  struct dgroup *next;
  grp_conf conf;        /* its keys; `name` owned */
  ward_group *g;
  int refs;             /* services in it */
  int retired;          /* a reload replaces it: new services go to another */
} dgroup;

typedef struct svc {
  struct svc *next_dead; /* out of the table, waiting to be freed */
  dgroup *grp;          /* its group, or NULL */
  svc_conf conf;
  ward_worker **w;      /* conf.instances handles, NULL until created */
  char *up;             /* conf.instances flags: READY was its last word */
  uint64_t *log_id;     /* conf.instances ids of the handles whose log rings
                           the instances' handles took over (`replace`),
                           0: their own; what logs cursors name */
  int transient;        /* made by `ward ctl spawn`: not in the config */
  int starting;         /* start phases under way on it (status) */
  int rerun;            /* a reload changes it while it runs: it starts again
                           even with autostart = no */
  int removed;          /* out of the table */
  int refs;             /* the table's, and each operation's */
  char error[768];      /* why it is not running, when it could not start */
  char last_words[512]; /* how an instance last ended before it was ready,
                           with what it said on stderr ("" if none) */
} svc;

struct op;

/* A `ward ctl logs -f` waiting for lines: its call, deferred and marked a
 * watch (the control socket may close it to make room), answered as soon
 * as a line comes, or empty at its deadline. */
typedef struct follower {
  struct follower *next;
  ward_ctx *ctx;
  json_t *params;     /* what m_logs is asked each time: name (or names), after,
                         stream */
  int64_t deadline;   /* monotonic ms */
} follower;

/* How long a follower's call waits at most, unless it asks for less. */
#define FOLLOW_WAIT_MS 30000

typedef struct supervisor {
  ward_host *host;
  ward_server *server;
  http_server *http;       /* [ward] http: its pages (http.c) */
  ward_conf *conf;
  char *config_path;
  ward_conf in_use;        /* the [ward] keys a reload does not change
                              (CONF_RELOAD_NEXT_START): the control socket
                              and its limits, as the daemon started */
  svc **svcs;
  size_t nsvcs;
  svc *dead;               /* out of the table, freed when unreferenced */
  dgroup *groups;          /* groups with services in them */
  svclog *logs;
  sysd_journal *journal;   /* --journal: output goes there, not to files */
  uint64_t journal_dropped; /* as last said */
  int reaper;              /* PID 1 or a subreaper: orphans come to us */
  int changed;             /* an event may have changed the status line */
  follower *followers;     /* `logs -f` calls waiting for lines */
  int new_lines;           /* lines came since the followers last looked */
  int64_t started_ms;
  struct op *ops, *ops_last; /* operations under way, oldest first */
  int closing;             /* shutting down: operations are refused, starts
                              give up */
  struct op *shutdown;     /* the shutdown's operation, once begun */
  int down;                /* it is over: the daemon exits */
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
  /* One write per line. */
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
/* Events (inside ward_host_dispatch)                                      */

static svc *lookup(supervisor *d, const char *name, int *instance);

/* Keeps the instance's `up` flag (for the status line) as events tell. */
static void track_up(supervisor *d, const ward_event *ev) {
  if (ev->type == WARD_EV_LOG || ev->type == WARD_EV_UNHEALTHY || ev->type == WARD_EV_ERROR)
    return;
  int i;
  svc *s = lookup(d, ev->name, &i);
  if (i < 0)
    i = 0;
  /* A replacement's new or old process: not the instance's (yet). */
  if (!s || (s->w[i] && ev->worker != s->w[i]))
    return;
  s->up[i] = ev->type == WARD_EV_READY;
  d->changed = 1;
}

/* A captured line or a log record, to the journal or the service's log
 * file; a record as its readable line (in the journal with its level as
 * the line's syslog priority). */
static void log_event(supervisor *d, const ward_event *ev) {
  const char *n = ev->name;
  const char *text = ev->detail ? ev->detail : "";
  char *rec = NULL;
  if (ev->stream == WARD_LOG_RECORD) {
    rec = cli_record_text(ev->level, text, ev->fields, ev->nfields, ev->call_id);
    if (!rec)
      return;
    text = rec;
  }
  if (d->journal) {
    if (rec) {
      static const char prio[] = "77643"; /* trace, debug: 7; info 6; warn 4; error 3 */
      char *line = malloc(strlen(rec) + 4);
      if (line) {
        int lv = ev->level >= WARD_LEVEL_TRACE && ev->level <= WARD_LEVEL_ERROR ? ev->level : 3;
        sprintf(line, "<%c>%s", prio[lv - 1], rec);
        sysd_journal_line(d->journal, n, ev->stream, line);
        free(line);
      }
    } else {
      sysd_journal_line(d->journal, n, ev->stream, text);
    }
    free(rec);
    return;
  }
  char svcname[128];
  svc_of(n, svcname, sizeof svcname);
  svclog_line(d->logs, svcname, n, ev->stream, wall_ms(), text);
  free(rec);
}

static void on_event(const ward_event *ev, void *ud) {
  supervisor *d = ud;
  const char *n = ev->name;
  track_up(d, ev);
  switch (ev->type) {
  case WARD_EV_LOG:
    d->new_lines = 1;
    log_event(d, ev);
    break;
  case WARD_EV_SPAWNED:
    say("spawned", n, "pid=%d generation=%u", ev->pid, ev->generation);
    break;
  case WARD_EV_READY: {
    say("ready", n, "pid=%d", ev->pid);
    int i;
    svc *s = lookup(d, n, &i);
    if (s)
      s->last_words[0] = 0; /* what an earlier end said is over */
    break;
  }
  case WARD_EV_EXITED: {
    /* Ended before it was ready: the library adds its last words. */
    static const char mark[] = "; last on stderr: ";
    const char *words = ev->detail ? strstr(ev->detail, mark) : NULL;
    char said[480] = "";
    if (words) {
      snprintf(said, sizeof said, " stderr=\"%s\"", words + sizeof mark - 1);
      int i;
      svc *s = lookup(d, n, &i);
      if (s)
        snprintf(s->last_words, sizeof s->last_words, "%s", ev->detail);
    }
    if (ev->signal)
      say("exited", n, "pid=%d signal=%s reason=%s%s", ev->pid, conf_signal_name(ev->signal),
          ward_reason_name(ev->reason), said);
    else
      say("exited", n, "pid=%d code=%d reason=%s%s", ev->pid, ev->exit_code,
          ward_reason_name(ev->reason), said);
    break;
  }
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
  case WARD_EV_GROUP_GAVE_UP:
    say("group-gave-up", ev->group, "member=%s reason=%s", n, ward_reason_name(ev->reason));
    break;
  case WARD_EV_SPAWN_FAILED: {
    /* No process: its working directory went away, its user cannot be
     * taken... The start (and status) say it too. */
    say("spawn-failed", n, "error=\"%s\"", ev->detail ? ev->detail : "");
    int i;
    svc *s = lookup(d, n, &i);
    if (s)
      snprintf(s->last_words, sizeof s->last_words, "%s", ev->detail ? ev->detail : "");
    break;
  }
  case WARD_EV_STOPPED:
    say("stopped", n, "outcome=%s", ward_stop_outcome_name(ev->outcome));
    break;
  case WARD_EV_PAUSED:
    say("paused", n, "pid=%d", ev->pid);
    break;
  case WARD_EV_RESUMED:
    say("resumed", n, "pid=%d", ev->pid);
    break;
  default:
    break;
  }
}

/* The control socket's server let a connection go (on the loop). */
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
    if (strcmp(d->svcs[i]->conf.name, name) == 0)
      return d->svcs[i];
  return NULL;
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
  s->up = calloc((size_t)conf->instances, 1);
  s->log_id = calloc((size_t)conf->instances, sizeof *s->log_id);
  if (!s->w || !s->up || !s->log_id) {
    free(s->w);
    free(s->up);
    free(s->log_id);
    svc_conf_clear(&s->conf);
    free(s);
    return NULL;
  }
  s->transient = transient;
  s->refs = 1; /* the table's */
  return s;
}

/* Frees a service out of the table and of every operation (outside any
 * dispatch: freeing a handle may run the loop). */
static void svc_free(supervisor *d, svc *s) {
  for (int i = 0; i < s->conf.instances; i++)
    ward_worker_free(s->w[i]);
  dgroup *g = s->grp;
  if (g && --g->refs == 0) {
    for (dgroup **pp = &d->groups; *pp; pp = &(*pp)->next)
      if (*pp == g) {
        *pp = g->next;
        break;
      }
    ward_group_free(g->g);
    free(g->conf.name);
    free(g);
  }
  free(s->w);
  free(s->up);
  free(s->log_id);
  svc_conf_clear(&s->conf);
  free(s);
}

static void svc_ref(svc *s) { s->refs++; }

/* The last reference puts it on the list freed by the main loop. */
static void svc_unref(supervisor *d, svc *s) {
  if (--s->refs == 0) {
    s->next_dead = d->dead;
    d->dead = s;
  }
}

static void free_dead(supervisor *d) {
  while (d->dead) {
    svc *s = d->dead;
    d->dead = s->next_dead;
    svc_free(d, s);
  }
}

/* Gives the service's own log limits, if it has some, to the log files. */
static int log_limits(supervisor *d, const svc *s) {
  return svclog_limits(d->logs, s->conf.name, s->conf.log_max_bytes,
                       conf_given(&s->conf, "log_files") ? s->conf.log_files : -1);
}

static int table_add(supervisor *d, svc *s) {
  svc **v = realloc(d->svcs, (d->nsvcs + 1) * sizeof *v);
  if (!v || log_limits(d, s)) {
    if (v)
      d->svcs = v;
    return -1;
  }
  d->svcs = v;
  v[d->nsvcs++] = s;
  return 0;
}

/* Puts a new service in its group (of `c`, the configuration it comes
 * from), making the group on its first service. 0, or -1 with `err`. */
static int svc_group(supervisor *d, svc *s, const ward_conf *c, char *err, size_t cap) {
  const grp_conf *gc = conf_group(c, s->conf.group);
  if (!gc)
    return 0;
  dgroup *g = d->groups;
  while (g && (g->retired || strcmp(g->conf.name, gc->name) != 0))
    g = g->next;
  if (!g) {
    g = calloc(1, sizeof *g);
    if (!g || !(g->conf.name = strdup(gc->name))) {
      free(g);
      snprintf(err, cap, "out of memory");
      return -1;
    }
    g->conf.line = gc->line;
    g->conf.strategy = gc->strategy;
    g->conf.max_restarts = gc->max_restarts;
    g->conf.restart_window_ms = gc->restart_window_ms;
    if (ward_group_new(&g->g, d->host, gc->name, gc->strategy) ||
        ward_group_intensity(g->g, gc->max_restarts, gc->restart_window_ms)) {
      snprintf(err, cap, "group %s: %s", gc->name, ward_last_error());
      ward_group_free(g->g);
      free(g->conf.name);
      free(g);
      return -1;
    }
    g->next = d->groups;
    d->groups = g;
  }
  g->refs++;
  s->grp = g;
  return 0;
}

/* The member of its group before `s` in the table (the file's order), or
 * NULL: a group's services start one after the other. */
static svc *group_prev(supervisor *d, const svc *s) {
  svc *prev = NULL;
  for (size_t i = 0; s->grp && i < d->nsvcs && d->svcs[i] != s; i++)
    if (d->svcs[i]->grp == s->grp)
      prev = d->svcs[i];
  return prev;
}

/* Takes `s` out of the table; operations holding it see it `removed`. */
static void table_remove(supervisor *d, svc *s) {
  for (size_t i = 0; i < d->nsvcs; i++)
    if (d->svcs[i] == s) {
      memmove(&d->svcs[i], &d->svcs[i + 1], (d->nsvcs - i - 1) * sizeof *d->svcs);
      d->nsvcs--;
      s->removed = 1;
      svc_unref(d, s);
      return;
    }
}

/* How deep in the dependencies (0: depends on nothing). */
static int level_of(supervisor *d, const svc *s, int guard) {
  int lv = 0;
  const svc *prev = group_prev(d, s);
  if (prev && guard < 1000)
    lv = level_of(d, prev, guard + 1) + 1;
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

static int wstate(ward_worker *w) {
  ward_info in = WARD_INFO_INIT;
  return w && !ward_worker_info(&in, w) ? in.state : 0;
}

static int all_ready(const svc *s) {
  for (int i = 0; i < s->conf.instances; i++)
    if (wstate(s->w[i]) != WARD_STATE_READY)
      return 0;
  return 1;
}

static int terminal(int st) {
  return st == WARD_STATE_STOPPED || st == WARD_STATE_FAILED || st == WARD_STATE_EXITED;
}

/* ------------------------------------------------------------------ */
/* Starting: what a worker needs                                       */

/* One "KEY=VALUE" of env or env_file. */
static int spec_env(ward_spec *s, const char *entry) {
  char *kv = strdup(entry);
  char *eq = kv ? strchr(kv, '=') : NULL;
  if (!eq) {
    free(kv);
    return WARD_ENOMEM;
  }
  *eq = 0;
  int rv = ward_spec_env(s, kv, eq + 1);
  free(kv);
  return rv;
}

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
  /* env_file's first: env's, set after, win. */
  for (size_t i = 0; !rv && c->file_env && c->file_env[i]; i++)
    rv = spec_env(s, c->file_env[i]);
  for (size_t i = 0; !rv && i < c->nenv; i++)
    rv = spec_env(s, c->env[i]);
  if (!rv && c->cwd)
    rv = ward_spec_cwd(s, c->cwd);
  if (!rv && conf_given(c, "umask"))
    rv = ward_spec_umask(s, c->umask);
  /* The class first. A service of the default class takes ward run's
   * defaults (docs/cli.md) for the keys its section leaves out; one of
   * another class takes the class's, and the keys its section sets win
   * over them. A service starts with the daemon, lazy class or not. */
  int own = c->proc_class != WARD_CLASS_WORKER;
#define KEY(name) (!own || conf_given(c, name))
  if (!rv)
    rv = ward_spec_class(s, c->proc_class);
  if (!rv)
    rv = ward_spec_lazy(s, 0);
  if (!rv && KEY("restart"))
    rv = ward_spec_restart(s, c->restart);
  if (!rv && (KEY("max_restarts") || KEY("restart_window")))
    rv = ward_spec_intensity(s, c->max_restarts, c->restart_window_ms);
  if (!rv && (KEY("backoff") || KEY("backoff_max")))
    rv = ward_spec_backoff(s, c->backoff_ms, c->backoff_max_ms,
                           WARD_BACKOFF_MULTIPLIER_PCT_DEFAULT, c->restart_window_ms);
  if (!rv && KEY("stop_signal"))
    rv = ward_spec_stop_signal(s, c->stop_signal);
  if (!rv && KEY("stop_grace"))
    rv = ward_spec_stop_grace(s, c->stop_grace_ms);
  if (!rv)
    rv = ward_spec_ready(s, c->ready_mode, c->ready_arg);
  if (!rv && KEY("startup_timeout"))
    rv = ward_spec_startup_timeout(s, c->startup_timeout_ms);
  /* heartbeat = 0 given turns a class's heartbeat off. */
  if (!rv && (own ? conf_given(c, "heartbeat") : c->heartbeat_ms != 0))
    rv = ward_spec_heartbeat(s, c->heartbeat_ms, WARD_HEARTBEAT_MISSES_DEFAULT);
  if (!rv && (own ? conf_given(c, "memory_high") || conf_given(c, "memory_limit")
                  : c->memory_high || c->memory_limit))
    rv = ward_spec_memory_limit(s, c->memory_high, c->memory_limit, 0);
  if (!rv && (c->tree_memory_max || c->tree_memory_high || c->pids_max || c->cpu_max))
    rv = ward_spec_tree_limits(s, c->tree_memory_max, c->tree_memory_high,
                               (uint64_t)c->pids_max, (uint32_t)c->cpu_max);
#undef KEY
  if (!rv && c->spares)
    rv = ward_spec_spares(s, (unsigned)c->spares);
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

/* ------------------------------------------------------------------ */
/* Answers                                                             */

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

/* What a control request names: services, or single instances of them
 * (inst from 0; -1: every instance), each once, in the order named. */
typedef struct target {
  svc *s;
  int inst;
} target;

typedef struct targets {
  target *v;
  size_t n;
} targets;

/* Whether instance `i` of `s` is named (-1: any of them). */
static int target_has(const targets *t, const svc *s, int i) {
  for (size_t k = 0; k < t->n; k++)
    if (t->v[k].s == s && (t->v[k].inst < 0 || i < 0 || t->v[k].inst == i))
      return 1;
  return 0;
}

/* Adds `s` (instance `inst`), unless it is named already; a whole service
 * takes the place of its instances named before. 0, or -1 without memory. */
static int target_add(targets *t, svc *s, int inst) {
  for (size_t k = 0; k < t->n; k++) {
    if (t->v[k].s != s)
      continue;
    if (t->v[k].inst < 0 || t->v[k].inst == inst)
      return 0;
    if (inst < 0) {
      t->v[k].inst = -1;
      for (size_t j = t->n; j-- > k + 1;)
        if (t->v[j].s == s)
          memmove(&t->v[j], &t->v[j + 1], (--t->n - j) * sizeof *t->v);
      return 0;
    }
  }
  target *v = realloc(t->v, (t->n + 1) * sizeof *v);
  if (!v)
    return -1;
  t->v = v;
  v[t->n++] = (target){s, inst};
  return 0;
}

/* One name: a service, an instance (web.2), a [group] (each of its
 * services, in the file's order), or "all" (every service). A service's
 * name wins over a group's of the same name. */
static int target_name(supervisor *d, targets *t, const char *name, char *err, size_t cap) {
  int inst, found = 0, bad = 0;
  svc *s = strcmp(name, "all") == 0 ? NULL : lookup(d, name, &inst);
  if (s)
    return target_add(t, s, inst) ? CTL_FAILED : 0;
  for (size_t i = 0; i < d->nsvcs; i++) {
    svc *x = d->svcs[i];
    if (strcmp(name, "all") == 0 || (x->conf.group && strcmp(x->conf.group, name) == 0)) {
      found = 1;
      bad |= target_add(t, x, -1);
    }
  }
  if (bad) {
    snprintf(err, cap, "out of memory");
    return CTL_FAILED;
  }
  if (!found && strcmp(name, "all") != 0) {
    snprintf(err, cap, "no service or group '%s'", name);
    return CTL_NOTFOUND;
  }
  return 0;
}

/* The services a request names: "names" (an array), or "name". None named:
 * every service when `all_if_none` (status), else CTL_BAD. */
static int targets_of(supervisor *d, json_t *p, int all_if_none, targets *t, char *err,
                      size_t cap) {
  memset(t, 0, sizeof *t);
  json_t *names = json_object_get(p, "names"), *name = json_object_get(p, "name");
  int rv = 0;
  if (json_is_array(names) && json_array_size(names) > 0) {
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v) {
      if (!rv && !json_is_string(v)) {
        snprintf(err, cap, "names holds strings only");
        rv = CTL_BAD;
      }
      if (!rv)
        rv = target_name(d, t, json_string_value(v), err, cap);
    }
  } else if (json_is_string(name)) {
    rv = target_name(d, t, json_string_value(name), err, cap);
  } else if (all_if_none && !names && !name) {
    rv = target_name(d, t, "all", err, cap);
  } else {
    snprintf(err, cap, "a service name is needed");
    rv = CTL_BAD;
  }
  if (rv) {
    free(t->v);
    memset(t, 0, sizeof *t);
  }
  return rv;
}

/* Whether an instance is as the daemon means it to be: running (ready,
 * idle, or being replaced), or not meant to run (stopped on request, or
 * ended cleanly where its restart mode says no restart). What `ward ctl
 * status` exits 3 on, and what "ok" says in the status JSON. */
static int instance_ok(const ward_info *in) {
  switch (in->state) {
  case WARD_STATE_READY:
  case WARD_STATE_IDLE:
  case WARD_STATE_RESTARTING:
  case WARD_STATE_STOPPING:
  case WARD_STATE_STOPPED:
    return 1;
  case WARD_STATE_EXITED:
    return in->last_exit_code == 0 && !in->last_signal;
  default:
    return 0;
  }
}

static json_t *instance_row(const svc *s, int i, int64_t now) {
  ward_worker *w = s->w[i];
  char name[128];
  if (s->conf.instances > 1)
    snprintf(name, sizeof name, "%s.%d", s->conf.name, i + 1);
  else
    snprintf(name, sizeof name, "%s", s->conf.name);
  json_t *r = json_pack("{s:s, s:s, s:i, s:b, s:s?}", "name", name, "service", s->conf.name,
                        "instance", i + 1, "transient", s->transient, "group",
                        s->grp ? s->grp->conf.name : NULL);
  if (!r)
    return NULL;
  if (!w) {
    json_object_set_new(r, "state", json_string(s->starting   ? "starting"
                                                : s->error[0] ? "failed"
                                                              : "not-started"));
    /* autostart = no: not started is as meant, until a start fails. */
    json_object_set_new(r, "ok",
                        json_boolean(!s->conf.autostart && !s->starting && !s->error[0]));
    json_object_set_new(r, "pid", json_null());
    if (s->error[0])
      json_object_set_new(r, "error", json_string(s->error));
    return r;
  }
  ward_info in = WARD_INFO_INIT;
  ward_worker_info(&in, w);
  json_object_set_new(r, "state", json_string(ward_state_name(in.state)));
  json_object_set_new(r, "ok", json_boolean(instance_ok(&in)));
  /* null, never 0 or -1, for what is not there. */
  json_object_set_new(r, "pid", in.pid > 0 ? json_integer(in.pid) : json_null());
  json_object_set_new(r, "uptime_ms",
                      in.pid > 0 && in.start_time_ms > 0 ? json_integer(now - in.start_time_ms)
                                                         : json_null());
  json_object_set_new(r, "generation", json_integer(in.generation));
  json_object_set_new(r, "restarts", json_integer(in.restarts));
  if (in.generation > 0 && (in.last_exit_code != 0 || in.last_signal || in.last_reason))
    json_object_set_new(
        r, "last_exit",
        json_pack("{s:o, s:s?, s:s}", "code",
                  in.last_signal ? json_null() : json_integer(in.last_exit_code), "signal",
                  in.last_signal ? conf_signal_name(in.last_signal) : NULL, "reason",
                  ward_reason_name(in.last_reason)));
  else
    json_object_set_new(r, "last_exit", json_null());
  /* null: no process, or the system does not say (WARD_UNKNOWN). */
  int known = in.pid > 0;
  json_object_set_new(r, "rss_bytes", !known || in.rss_bytes == WARD_UNKNOWN
                                          ? json_null()
                                          : json_integer((json_int_t)in.rss_bytes));
  json_object_set_new(r, "cpu_ms", !known || in.cpu_ms == WARD_UNKNOWN
                                       ? json_null()
                                       : json_integer((json_int_t)in.cpu_ms));
  /* What holds its process tree, whether it is paused, and the tree's
   * figures where its cgroup gives them (null: not known here). */
  json_object_set_new(r, "tree", known ? json_string(ward_tree_name(in.tree)) : json_null());
  json_object_set_new(r, "paused", json_boolean(in.paused));
  json_object_set_new(r, "tree_memory_bytes",
                      !known || in.tree_memory_bytes == WARD_UNKNOWN
                          ? json_null()
                          : json_integer((json_int_t)in.tree_memory_bytes));
  int pr[3] = {in.pressure_cpu, in.pressure_memory, in.pressure_io};
  json_t *pj[3];
  for (int k = 0; k < 3; k++)
    pj[k] = known && pr[k] >= 0 ? json_real(pr[k] / 100.0) : json_null();
  json_object_set_new(r, "pressure", json_pack("{s:o, s:o, s:o}", "cpu", pj[0], "memory", pj[1],
                                               "io", pj[2]));
  json_object_set_new(r, "oom_kills", json_integer(in.oom_kills));
  /* Spare processes: those asked for (`spares`), ready and running now,
   * and their memory (null: none, or the system does not say). */
  json_object_set_new(
      r, "spares",
      json_pack("{s:i, s:i, s:i, s:o}", "wanted", s->conf.spares, "ready", (int)in.spares_ready,
                "running", (int)in.spares_running, "rss_bytes",
                in.spares_running && in.spares_rss_bytes != WARD_UNKNOWN
                    ? json_integer((json_int_t)in.spares_rss_bytes)
                    : json_null()));
  json_object_set_new(r, "stop_outcome", in.last_stop ? json_string(ward_stop_outcome_name(
                                                            in.last_stop))
                                                      : json_null());
  /* Why it is not running: its start failed, or its last process could
   * not be started (a working directory gone...). */
  if (s->error[0])
    json_object_set_new(r, "error", json_string(s->error));
  else if (!instance_ok(&in) && s->last_words[0])
    json_object_set_new(r, "error", json_string(s->last_words));
  return r;
}

/* The status rows of the instances `t` names. */
static json_t *rows_of(const targets *t, int64_t now) {
  json_t *rows = json_array();
  for (size_t k = 0; k < t->n; k++)
    for (int i = 0; i < t->v[k].s->conf.instances; i++)
      if (t->v[k].inst < 0 || t->v[k].inst == i)
        json_array_append_new(rows, instance_row(t->v[k].s, i, now));
  return rows;
}

static int m_status(supervisor *d, json_t *p, json_t **out, char *err, size_t cap) {
  int64_t now = wall_ms();
  targets t;
  int rv = targets_of(d, p, 1, &t, err, cap);
  if (rv)
    return rv;
  json_t *rows = rows_of(&t, now);
  free(t.v);
  /* `logs -f` calls and /logs streams alike. */
  int followers = (int)http_followers(d->http);
  for (const follower *f = d->followers; f; f = f->next)
    followers++;
  *out = json_pack("{s:o, s:{s:i, s:s, s:s, s:I, s:i, s:s?, s:I}}", "services", rows, "daemon",
                   "pid", (int)getpid(), "config", d->config_path, "socket", d->in_use.socket,
                   "uptime_ms", (json_int_t)(now - d->started_ms), "followers", followers,
                   "http", http_address(d->http), "control_connections",
                   (json_int_t)ward_server_connections(d->server));
  return 0;
}

/* The HTTP pages are made of the status document (http.h). */
static json_t *http_status(void *ud) {
  json_t *out = NULL;
  char err[256];
  return m_status(ud, NULL, &out, err, sizeof err) ? NULL : out;
}

static void http_log(void *ud, const char *text) {
  (void)ud;
  say("http-error", NULL, "detail=\"%s\"", text);
}

/* Serves the pages at `address` (NULL: nowhere), as [ward] http says. */
static int http_serve(supervisor *d, const char *address, char *err, size_t cap) {
  const char *was = http_address(d->http);
  char before[128];
  snprintf(before, sizeof before, "%s", was ? was : "");
  int rv = http_listen(d->http, address, err, cap);
  const char *now = http_address(d->http);
  if (now && strcmp(now, before) != 0)
    say("http-listening", NULL, "address=%s", now);
  else if (!now && before[0])
    say("http-closed", NULL, "address=%s", before);
  return rv;
}

/* One captured line or record of one instance, for merging instances by
 * time. */
typedef struct log_ref {
  const ward_log_entry *line;
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

/* The handles of the instances `t` names (NULL for one not started), in
 * order, into *out (malloc'd); returns how many, or -1 without memory. */
static int workers_of(const targets *t, ward_worker ***out) {
  int n = 0;
  for (size_t k = 0; k < t->n; k++)
    n += t->v[k].inst < 0 ? t->v[k].s->conf.instances : 1;
  ward_worker **v = calloc((size_t)n + 1, sizeof *v);
  if (!v)
    return -1;
  n = 0;
  for (size_t k = 0; k < t->n; k++)
    for (int i = 0; i < t->v[k].s->conf.instances; i++)
      if (t->v[k].inst < 0 || t->v[k].inst == i)
        v[n++] = t->v[k].s->w[i];
  *out = v;
  return n;
}

/* What a logs cursor names an instance's ring by: the handle it came
 * from first (svc.log_id), or its own. */
static uint64_t log_id_of(const targets *t, const ward_worker *w) {
  for (size_t k = 0; k < t->n; k++)
    for (int i = 0; i < t->v[k].s->conf.instances; i++)
      if (t->v[k].s->w[i] == w)
        return t->v[k].s->log_id[i] ? t->v[k].s->log_id[i] : ward_worker_id(w);
  return ward_worker_id(w);
}

/* A level given as a name ("warn") or a number (1..5); 0 for none. */
static int log_level_of(json_t *v, int *level) {
  *level = 0;
  if (!v)
    return 0;
  if (json_is_integer(v) && json_integer_value(v) >= WARD_LEVEL_TRACE &&
      json_integer_value(v) <= WARD_LEVEL_ERROR) {
    *level = (int)json_integer_value(v);
    return 0;
  }
  for (int l = WARD_LEVEL_TRACE; json_is_string(v) && l <= WARD_LEVEL_ERROR; l++)
    if (strcmp(json_string_value(v), ward_level_name(l)) == 0) {
      *level = l;
      return 0;
    }
  return -1;
}

/* One line or record as ward.logs answers it; a record also has its
 * level, call id (0: none) and fields. */
static json_t *log_json(const log_ref *r) {
  const ward_log_entry *e = r->line;
  json_t *o = json_pack("{s:s, s:I, s:I, s:s, s:s}", "instance", r->name, "seq",
                        (json_int_t)e->seq, "time_ms", (json_int_t)e->time_ms, "stream",
                        e->stream == WARD_LOG_STDERR   ? "stderr"
                        : e->stream == WARD_LOG_RECORD ? "record"
                                                       : "stdout",
                        "text", e->text);
  if (o && e->stream == WARD_LOG_RECORD) {
    json_t *f = json_object();
    for (size_t i = 0; i < e->nfields; i++)
      json_object_set_new(f, e->fields[i].key, json_string(e->fields[i].value));
    json_object_set_new(o, "level", json_string(ward_level_name(e->level)));
    json_object_set_new(o, "call_id", json_integer((json_int_t)e->call_id));
    json_object_set_new(o, "fields", f);
    if (e->flags & WARD_LOG_INVALID)
      json_object_set_new(o, "invalid", json_true());
  }
  return o;
}

/* ward.logs: the lines of the instances named, merged by time, the last
 * N of them; and, per instance, a cursor (its log id, log_id_of, and the
 * highest seq it has) to ask for what comes after. A cursor of another
 * ring (the service was restarted anew by a reload) starts from the first
 * line. */
static int m_logs(supervisor *d, json_t *p, json_t **out, char *err, size_t cap) {
  json_t *last = json_object_get(p, "last"), *after = json_object_get(p, "after");
  json_t *call = json_object_get(p, "call_id");
  int level;
  if (last && (!json_is_integer(last) || json_integer_value(last) < 0)) {
    snprintf(err, cap, "logs needs a count of 0 or more");
    return CTL_BAD;
  }
  if (log_level_of(json_object_get(p, "level"), &level)) {
    snprintf(err, cap, "logs: level is trace, debug, info, warn or error (or 1..5)");
    return CTL_BAD;
  }
  if (call && (!json_is_integer(call) || json_integer_value(call) < 0 ||
               json_integer_value(call) > 0xFFFFFFFF)) {
    snprintf(err, cap, "logs: call_id is a call's id, 1..4294967295 (0: any)");
    return CTL_BAD;
  }
  const char *stream = json_string_value(json_object_get(p, "stream"));
  targets t;
  ward_worker **ws = NULL;
  int rv = targets_of(d, p, 0, &t, err, cap);
  int n = rv ? 0 : workers_of(&t, &ws);
  if (n < 0) {
    free(t.v);
    snprintf(err, cap, "out of memory");
    return CTL_FAILED;
  }
  ward_log_entry **lines = calloc((size_t)n + 1, sizeof *lines);
  size_t *counts = calloc((size_t)n + 1, sizeof *counts);
  char (*names)[128] = calloc((size_t)n + 1, sizeof *names);
  json_t *cursor = json_object();
  size_t total = 0;
  for (int i = 0; !rv && lines && counts && names && i < n; i++) {
    ward_worker *w = ws[i];
    if (!w)
      continue;
    snprintf(names[i], sizeof names[i], "%s", ward_worker_name(w));
    json_int_t id = (json_int_t)log_id_of(&t, w);
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
                : stream && strcmp(stream, "record") == 0 ? WARD_LOG_RECORD
                                                          : 0;
    q.min_level = level;
    q.call_id = call ? (uint32_t)json_integer_value(call) : 0;
    if (!ward_worker_log_entries(&lines[i], &counts[i], w, &q))
      total += counts[i];
  }
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
      json_array_append_new(arr, log_json(&refs[k]));
  }
  for (int i = 0; lines && counts && i < n; i++)
    ward_log_entries_free(lines[i], counts[i]);
  free(t.v);
  free(ws);
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

/* /logs (http.h) is ward.logs. */
static int http_logs(void *ud, json_t *params, json_t **out, char *err, size_t cap) {
  return m_logs(ud, params, out, err, cap);
}

static int m_signal(supervisor *d, json_t *p, json_t **out, char *err, size_t cap) {
  const char *name = json_string_value(json_object_get(p, "name"));
  const char *signame = json_string_value(json_object_get(p, "signal"));
  int sig;
  targets t;
  if (!signame || conf_signal(signame, &sig)) {
    snprintf(err, cap, "signal needs a service name and a signal (TERM, HUP, USR1, 9...)");
    return CTL_BAD;
  }
  int rv = targets_of(d, p, 0, &t, err, cap), sent = 0;
  for (size_t k = 0; !rv && k < t.n; k++)
    for (int i = 0; i < t.v[k].s->conf.instances; i++) {
      int pid = target_has(&t, t.v[k].s, i) ? ward_worker_pid(t.v[k].s->w[i]) : 0;
      if (pid > 0 && kill(pid, sig) == 0)
        sent++;
    }
  free(t.v);
  if (!rv && !sent) {
    snprintf(err, cap, "'%s' has no running process", name ? name : "none of them");
    rv = CTL_FAILED;
  }
  if (!rv)
    *out = json_pack("{s:i}", "signalled", sent);
  return rv;
}

/* ward.pause and ward.resume: every running instance named, at once
 * (ward_worker_pause: its cgroup frozen, or its process group stopped). */
static int m_pause(supervisor *d, json_t *p, int on, json_t **out, char *err, size_t cap) {
  const char *name = json_string_value(json_object_get(p, "name"));
  targets t;
  int rv = targets_of(d, p, 0, &t, err, cap), done = 0;
  for (size_t k = 0; !rv && k < t.n; k++)
    for (int i = 0; !rv && i < t.v[k].s->conf.instances; i++) {
      ward_worker *w = target_has(&t, t.v[k].s, i) ? t.v[k].s->w[i] : NULL;
      if (!w)
        continue;
      int r = on ? ward_worker_pause(w) : ward_worker_resume(w);
      if (r == 0)
        done++;
      else if (r != WARD_ECLOSED) {
        snprintf(err, cap, "%s: %s", t.v[k].s->conf.name, ward_last_error());
        rv = CTL_FAILED;
      }
    }
  free(t.v);
  if (!rv && !done) {
    snprintf(err, cap, "'%s' has no running process", name ? name : "none of them");
    rv = CTL_FAILED;
  }
  if (!rv)
    *out = json_pack("{s:i}", on ? "paused" : "resumed", done);
  return rv;
}

/* The first half of ward.spawn: the transient service is added to the
 * table (*added). */
static int m_spawn(supervisor *d, json_t *p, svc **added, char *err, size_t cap) {
  const char *name = json_string_value(json_object_get(p, "name"));
  json_t *argv = json_object_get(p, "argv");
  if (!name || !svc_name_ok(name) || !json_is_array(argv) || json_array_size(argv) == 0) {
    snprintf(err, cap, "spawn needs a service name ([A-Za-z0-9_-], not 'all') and a command");
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
  int taken = find(d, name) != NULL;
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
      svc_free(d, s);
    return rv;
  }
  say("spawn", name, "transient=yes");
  *added = s;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Operations                                                          */

/* One instance of a service in a phase. */
typedef struct item {
  svc *s;
  int i;
  int kicked;  /* the start or stop was asked */
  int halted;  /* a start a stop made give up */
  int done;
  int at_rest;  /* a stop found no process to stop */
  int plain;    /* PH_REPLACE of an instance not running: a start */
  ward_worker *next; /* PH_REPLACE: the new process, until it is ready */
  ward_worker *drop; /* PH_REPLACE: the old process (or a new one that
                        failed), stopped, then freed */
  char error[768];
} item;

enum { PH_START, PH_STOP, PH_CALL, PH_REPLACE };

typedef struct phase {
  int kind;
  int grace;                 /* PH_STOP: -1 for the service's own */
  item *v;
  size_t n;
  int begun;
  void (*call)(supervisor *d, struct op *o); /* PH_CALL */
} phase;

typedef struct op {
  struct op *next;
  ward_ctx *ctx;      /* the control call to answer, or NULL */
  const char *what;   /* "start", "stop"... for the log */
  targets tg;         /* the services (or instances) answered about, each
                         with a ref; none for a reload, the boot, the
                         shutdown */
  phase *ph;
  size_t nph, cur;
  int rv;             /* CTL_* once failed */
  char error[768];
  json_t *result;     /* the answer, when not the target's states */
  ward_conf *nc;      /* reload: the configuration coming in */
  svc **gone;         /* reload: the services it stops for good */
  size_t ngone;
  svc **swapped;      /* reload: the services it replaces in place
                         (`reload = replace`), each with a ref */
  size_t nswapped;
  int tells_ready;    /* boot or reload: its end is systemd's READY=1 */
} op;

static int add_phase(op *o, int kind, int grace) {
  phase *v = realloc(o->ph, (o->nph + 1) * sizeof *v);
  if (!v)
    return -1;
  o->ph = v;
  v[o->nph] = (phase){.kind = kind, .grace = grace};
  o->nph++;
  return 0;
}

static int add_item(supervisor *d, phase *ph, svc *s, int i) {
  (void)d;
  item *v = realloc(ph->v, (ph->n + 1) * sizeof *v);
  if (!v)
    return -1;
  ph->v = v;
  v[ph->n] = (item){.s = s, .i = i};
  ph->n++;
  svc_ref(s);
  return 0;
}

/* Whether the operation acts on instance `i` of `s`: every instance of a
 * service it does not name (a dependency it starts), those it names of
 * one it does. */
static int op_wants(const op *o, const svc *s, int i) {
  return !target_has(&o->tg, s, -1) || target_has(&o->tg, s, i);
}

/* Phases starting (or stopping) `v` level by level of their
 * dependencies: starting, the deepest last; stopping, the deepest first
 * (with `grace`, -1 for each service's own). Each level's services go in
 * parallel. */
static int phase_levels_grace(supervisor *d, op *o, svc **v, size_t n, int kind, int grace) {
  int top = 0;
  int *lv = calloc(n ? n : 1, sizeof *lv);
  if (!lv)
    return -1;
  for (size_t i = 0; i < n; i++)
    if ((lv[i] = level_of(d, v[i], 0)) > top)
      top = lv[i];
  int rv = 0;
  for (int k = 0; !rv && n && k <= top; k++) {
    int level = kind == PH_START ? k : top - k;
    rv = add_phase(o, kind, grace);
    for (size_t i = 0; !rv && i < n; i++)
      for (int j = 0; !rv && lv[i] == level && j < v[i]->conf.instances; j++)
        if (op_wants(o, v[i], j))
          rv = add_item(d, &o->ph[o->nph - 1], v[i], j);
  }
  free(lv);
  return rv;
}

static int phase_levels(supervisor *d, op *o, svc **v, size_t n, int kind) {
  return phase_levels_grace(d, o, v, n, kind, -1);
}

/* `s` and the dependencies it needs started first, deepest first. */
static void closure(supervisor *d, svc *s, svc ***v, size_t *n, int depth) {
  for (size_t k = 0; k < *n; k++)
    if ((*v)[k] == s)
      return;
  for (size_t i = 0; i < s->conf.ndeps && depth < 64; i++) {
    svc *dep = find(d, s->conf.deps[i]);
    if (dep && !all_ready(dep))
      closure(d, dep, v, n, depth + 1);
  }
  svc *prev = group_prev(d, s);
  if (prev && !all_ready(prev) && depth < 64)
    closure(d, prev, v, n, depth + 1);
  svc **g = realloc(*v, (*n + 1) * sizeof *g);
  if (g) {
    *v = g;
    g[(*n)++] = s;
  }
}

/* The daemon's first start: the services with autostart, and what they
 * depend on (a service with autostart = no that one of them needs
 * starts with it, as `ward ctl start` would start it). */
static int phase_boot(supervisor *d, op *o) {
  svc **v = NULL;
  size_t n = 0;
  for (size_t i = 0; i < d->nsvcs; i++)
    if (d->svcs[i]->conf.autostart)
      closure(d, d->svcs[i], &v, &n, 0);
  int rv = phase_levels(d, o, v, n, PH_START);
  free(v);
  return rv;
}

/* The services the operation names, each once, in order. */
static svc **op_svcs(const op *o, size_t *n) {
  svc **v = calloc(o->tg.n + 1, sizeof *v);
  *n = 0;
  for (size_t k = 0; v && k < o->tg.n; k++) {
    size_t j = 0;
    while (j < *n && v[j] != o->tg.v[k].s)
      j++;
    if (j == *n)
      v[(*n)++] = o->tg.v[k].s;
  }
  return v;
}

/* Stops what the operation names, those that depend on others first. */
static int phase_stop_targets(supervisor *d, op *o, int grace) {
  size_t n;
  svc **v = op_svcs(o, &n);
  int rv = v ? phase_levels_grace(d, o, v, n, PH_STOP, grace) : -1;
  free(v);
  return rv;
}

/* Starts what the operation names, and the dependencies they need first. */
static int phase_start_targets(supervisor *d, op *o) {
  size_t n, m = 0;
  svc **named = op_svcs(o, &n), **v = NULL;
  for (size_t k = 0; named && k < n; k++)
    closure(d, named[k], &v, &m, 0);
  int rv = named && (v || !n) ? phase_levels(d, o, v, m, PH_START) : -1;
  free(named);
  free(v);
  return rv;
}

/* Replaces the instances the operation names, one at a time (a phase
 * each), in the order named. */
static int phase_replace_targets(supervisor *d, op *o) {
  size_t n;
  svc **v = op_svcs(o, &n);
  int rv = v ? 0 : -1;
  for (size_t k = 0; !rv && k < n; k++)
    for (int i = 0; !rv && i < v[k]->conf.instances; i++)
      if (op_wants(o, v[k], i) && !(rv = add_phase(o, PH_REPLACE, -1)))
        rv = add_item(d, &o->ph[o->nph - 1], v[k], i);
  free(v);
  return rv;
}

/* A new operation; it takes the targets `tg` (may be NULL: none). */
static op *op_new(supervisor *d, ward_ctx *ctx, const char *what, targets *tg) {
  op *o = calloc(1, sizeof *o);
  if (!o) {
    if (tg)
      free(tg->v);
    return NULL;
  }
  o->ctx = ctx;
  o->what = what;
  if (tg) {
    o->tg = *tg;
    memset(tg, 0, sizeof *tg);
  }
  for (size_t k = 0; k < o->tg.n; k++)
    svc_ref(o->tg.v[k].s);
  if (d->ops_last)
    d->ops_last->next = o;
  else
    d->ops = o;
  d->ops_last = o;
  return o;
}

static void fail_item(item *it, const char *fmt, ...) CLI_PRINTF(2, 3);
static void fail_item(item *it, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(it->error, sizeof it->error, fmt, ap);
  va_end(ap);
  it->done = 1;
}

/* A stop of `s` makes the starts of it under way give up. */
static void halt_starts(supervisor *d, const svc *s) {
  for (op *o = d->ops; o; o = o->next) {
    if (o->cur >= o->nph || !o->ph[o->cur].begun ||
        (o->ph[o->cur].kind != PH_START && o->ph[o->cur].kind != PH_REPLACE))
      continue;
    phase *ph = &o->ph[o->cur];
    for (size_t k = 0; k < ph->n; k++)
      if (ph->v[k].s == s && !ph->v[k].done)
        ph->v[k].halted = 1;
  }
}

/* Starts a process for instance it->i of its service, from the service's
 * configuration, into *out; -1 with the item failed, saying why.
 * `replacing`: beside the instance's own process, which keeps serving, so
 * a first start that fails is not tried again (the restart policy applies
 * once the process was ready). */
static int spawn_instance(supervisor *d, item *it, int replacing, ward_worker **out) {
  svc *s = it->s;
  /* Said plainly, before a run of restarts could hide it: a program
   * that is not there, a user that is not (or that this daemon may not
   * become). */
  unsigned uid, gid;
  int ids = conf_user_ids(&s->conf, &uid, &gid, it->error, sizeof it->error);
  if (ids < 0 || !conf_runnable(&s->conf, it->error, sizeof it->error)) {
    it->done = 1;
    return -1;
  }
  ward_spec *spec = make_spec(&s->conf, it->i);
  int rv = !spec ? WARD_ENOMEM : ids ? ward_spec_user(spec, uid, gid) : 0;
  if (!rv && replacing)
    rv = ward_spec_supervise_start(spec, 0);
  if (!rv)
    rv = s->grp ? ward_group_spawn_start(out, s->grp->g, spec)
                : ward_spawn_start(out, d->host, spec);
  ward_spec_free(spec);
  if (rv) {
    fail_item(it, "%s", ward_last_error());
    return -1;
  }
  return 0;
}

/* The first step of an instance's start: its process is asked for, or
 * it is up already. Returns 1 once asked (or nothing to ask). */
static int kick_start(supervisor *d, item *it) {
  svc *s = it->s;
  for (size_t k = 0; k <= s->conf.ndeps; k++) {
    svc *dep = k < s->conf.ndeps ? find(d, s->conf.deps[k]) : group_prev(d, s);
    if (dep && !all_ready(dep)) {
      fail_item(it, "dependency %s is not ready: %s", dep->conf.name,
                dep->error[0] ? dep->error : "it is not running");
      if (it->i == 0)
        say("not-started", s->conf.name, "reason=\"%s\"", it->error);
      return 1;
    }
  }
  ward_worker *w = s->w[it->i];
  if (!w) {
    if (!spawn_instance(d, it, 0, &w))
      s->w[it->i] = w;
    return 1;
  }
  int st = wstate(w);
  if (st == WARD_STATE_STOPPING)
    return 0; /* a stop under way: started once it is over */
  if (terminal(st) && ward_worker_restart_begin(w))
    fail_item(it, "%s", ward_last_error());
  return 1;
}

static void step_start(supervisor *d, item *it) {
  svc *s = it->s;
  if (s->removed)
    fail_item(it, "the service was stopped and is gone");
  else if (it->halted)
    fail_item(it, "%s: stopped while it started", s->conf.name);
  else if (d->closing)
    fail_item(it, "%s: the daemon is stopping", s->conf.name);
  else if (!it->kicked)
    it->kicked = kick_start(d, it);
  if (it->done || !it->kicked)
    return;
  ward_worker *w = s->w[it->i];
  int st = wstate(w);
  if (st == WARD_STATE_READY || st == WARD_STATE_IDLE) {
    it->done = 1;
  } else if (terminal(st) || st == WARD_STATE_STOPPING) {
    char text[160];
    fail_item(it, "%s did not become ready: %s%s%s", ward_worker_name(w),
              state_text(w, text, sizeof text), s->last_words[0] ? ": " : "", s->last_words);
  }
}

static void step_stop(supervisor *d, item *it, int grace) {
  ward_worker *w = it->s->w[it->i];
  if (!it->kicked) {
    it->kicked = 1;
    halt_starts(d, it->s);
    it->at_rest = !w || terminal(wstate(w));
    if (w && ward_worker_stop_begin(w, grace))
      fail_item(it, "%s", ward_last_error());
  }
  if (!it->done && (!w || wstate(w) != WARD_STATE_STOPPING))
    it->done = 1;
}

/* Why an instance's replacement cannot go on, or NULL. */
static const char *replace_halted(supervisor *d, const item *it) {
  return it->s->removed ? "the service was stopped and is gone"
         : it->halted   ? "stopped while it was replaced"
         : d->closing   ? "the daemon is stopping"
                        : NULL;
}

/* Stops it->drop and frees it once stopped; 1 when that is over. */
static int drop_done(item *it) {
  int st = wstate(it->drop);
  if (st == WARD_STATE_STOPPING)
    return 0;
  if (!terminal(st)) {
    ward_worker_stop_begin(it->drop, -1);
    return 0;
  }
  ward_worker_free(it->drop);
  it->drop = NULL;
  return 1;
}

/* The new process of a replacement is ready: it takes the instance's
 * place, and the old one stops with its grace. */
static void replace_swap(supervisor *d, item *it) {
  svc *s = it->s;
  ward_worker *old = s->w[it->i];
  say("replaced", ward_worker_name(it->next), "pid=%d old_pid=%d", ward_worker_pid(it->next),
      ward_worker_pid(old));
  /* The instance's log reads on across the replacement: the new handle
   * takes the old one's lines (and its cursors stay good: the lines keep
   * their seq). */
  if (!s->log_id[it->i])
    s->log_id[it->i] = ward_worker_id(old);
  ward_worker_take_logs(it->next, old);
  s->w[it->i] = it->next;
  s->up[it->i] = 1;
  s->last_words[0] = 0;
  d->changed = 1;
  it->next = NULL;
  it->drop = old;
}

/* One instance's replacement: a new process from the service's
 * configuration beside the running one; once it is ready it takes the
 * instance's place and the old one stops with the service's grace. If it
 * does not become ready, it goes, and the old one serves on. An instance
 * with no process running is started, as `start` would. */
static void step_replace(supervisor *d, item *it) {
  svc *s = it->s;
  if (!it->kicked && !it->plain) {
    ward_worker *w = s->w[it->i];
    int st = wstate(w);
    if (s->grp) {
      fail_item(it, "%s: a member of group %s is restarted with its group, not replaced",
                s->conf.name, s->grp->conf.name);
      return;
    }
    if (!w || terminal(st) || st == WARD_STATE_STOPPING) {
      it->plain = 1;
    } else if (replace_halted(d, it)) {
      fail_item(it, "%s: %s", s->conf.name, replace_halted(d, it));
      return;
    } else {
      it->kicked = 1;
      if (spawn_instance(d, it, 1, &it->next))
        snprintf(it->error + strlen(it->error), sizeof it->error - strlen(it->error),
                 "; the old process keeps serving");
      return;
    }
  }
  if (it->plain) {
    step_start(d, it);
    return;
  }
  if (it->next) {
    int st = wstate(it->next);
    const char *why = replace_halted(d, it);
    if (!why && st == WARD_STATE_READY) {
      replace_swap(d, it);
    } else if (why || terminal(st) || st == WARD_STATE_STOPPING) {
      char text[160];
      if (why)
        snprintf(it->error, sizeof it->error, "%s: %s", s->conf.name, why);
      else
        snprintf(it->error, sizeof it->error,
                 "%s: the new process did not become ready: %s%s%s; the old process keeps "
                 "serving",
                 ward_worker_name(it->next), state_text(it->next, text, sizeof text),
                 s->last_words[0] ? ": " : "", s->last_words);
      it->drop = it->next;
      it->next = NULL;
    } else {
      return; /* still on its way */
    }
  }
  if (it->drop && drop_done(it))
    it->done = 1;
}

/* The end of a phase: what the services' starts came to. */
static void end_phase(op *o, phase *ph) {
  for (size_t k = 0; k < ph->n; k++) {
    item *it = &ph->v[k];
    if (ph->kind == PH_START && (k == 0 || ph->v[k - 1].s != it->s))
      it->s->error[0] = 0;
    if (ph->kind == PH_START && it->error[0] && !it->s->error[0])
      snprintf(it->s->error, sizeof it->s->error, "%s", it->error);
    if (ph->kind == PH_START)
      it->s->starting--;
    int first_error = it->error[0] && (k == 0 || ph->v[k - 1].s != it->s ||
                                       !ph->v[k - 1].error[0]);
    if (!first_error)
      continue;
    if (target_has(&o->tg, it->s, -1)) {
      /* Each named service that failed says why. */
      size_t len = strlen(o->error), add = strlen(it->error);
      o->rv = CTL_FAILED;
      if (len && len + 2 < sizeof o->error)
        o->error[len++] = '\n';
      if (add > sizeof o->error - 1 - len)
        add = sizeof o->error - 1 - len; /* what is left of it */
      memcpy(o->error + len, it->error, add);
      o->error[len + add] = 0;
    } else {
      say(ph->kind == PH_START     ? "start-failed"
          : ph->kind == PH_REPLACE ? "replace-failed"
                                   : "stop-failed",
          it->s->conf.name, "reason=\"%s\"", it->error);
    }
  }
}

/* Moves `o` on; returns 1 once it is over. */
static int advance(supervisor *d, op *o) {
  while (o->cur < o->nph && !o->rv) {
    phase *ph = &o->ph[o->cur];
    if (!ph->begun) {
      ph->begun = 1;
      for (size_t k = 0; ph->kind == PH_START && k < ph->n; k++)
        ph->v[k].s->starting++;
      if (ph->kind == PH_CALL) {
        ph->call(d, o);
        ph = &o->ph[o->cur]; /* it may have added phases: o->ph moved */
      }
    }
    int done = 1;
    for (size_t k = 0; k < ph->n; k++) {
      item *it = &ph->v[k];
      if (!it->done && ph->kind == PH_START)
        step_start(d, it);
      else if (!it->done && ph->kind == PH_STOP)
        step_stop(d, it, ph->grace);
      else if (!it->done && ph->kind == PH_REPLACE)
        step_replace(d, it);
      done &= it->done;
    }
    if (!done)
      return 0;
    end_phase(o, ph);
    o->cur++;
  }
  return 1;
}

/* Answers the operation's call and frees it. */
static void op_finish(supervisor *d, op *o) {
  /* Up (whatever could start did): what a Type=notify unit waits for. */
  if (!d->closing && o->tells_ready)
    sysd_notify("READY=1");
  if (o->ctx) {
    if (o->rv) {
      ward_ctx_fail(o->ctx, o->rv, o->error[0] ? o->error : "failed");
    } else {
      json_t *out = o->result ? json_incref(o->result)
                              : json_pack("{s:o}", "services", rows_of(&o->tg, wall_ms()));
      /* A stop that found nothing to stop says so, not how an earlier
       * one went. */
      json_t *rows = json_object_get(out, "services");
      for (size_t p = 0; !o->result && p < o->nph; p++)
        for (size_t k = 0; o->ph[p].kind == PH_STOP && k < o->ph[p].n; k++) {
          const item *it = &o->ph[p].v[k];
          size_t r;
          json_t *row;
          json_array_foreach(rows, r, row) if (
              it->at_rest &&
              strcmp(json_string_value(json_object_get(row, "service")), it->s->conf.name) == 0 &&
              json_integer_value(json_object_get(row, "instance")) == it->i + 1)
              json_object_set_new(row, "stop_outcome",
                                  json_string(ward_stop_outcome_name(WARD_STOP_ALREADY_EXITED)));
        }
      ward_ctx_reply_json(o->ctx, out);
      json_decref(out);
    }
  }
  /* A transient service is gone once stopped. */
  for (size_t k = 0; !o->rv && o->nph && o->ph[o->nph - 1].kind == PH_STOP && k < o->tg.n; k++)
    if (o->tg.v[k].s->transient && !o->tg.v[k].s->removed)
      table_remove(d, o->tg.v[k].s);
  for (size_t p = 0; p < o->nph; p++) {
    for (size_t k = 0; k < o->ph[p].n; k++)
      svc_unref(d, o->ph[p].v[k].s);
    free(o->ph[p].v);
  }
  free(o->ph);
  for (size_t k = 0; k < o->tg.n; k++)
    svc_unref(d, o->tg.v[k].s);
  free(o->tg.v);
  for (size_t i = 0; i < o->ngone; i++)
    svc_unref(d, o->gone[i]);
  free(o->gone);
  for (size_t i = 0; i < o->nswapped; i++)
    svc_unref(d, o->swapped[i]);
  free(o->swapped);
  json_decref(o->result);
  conf_free(o->nc);
  free(o);
}

/* Advances every operation until none moves (after each dispatch). */
static void ops_advance(supervisor *d) {
  for (int pass = 0; pass < 8; pass++) {
    int moved = 0;
    for (op **pp = &d->ops; *pp;) {
      op *o = *pp;
      size_t before = o->cur;
      if (!advance(d, o)) {
        moved |= o->cur != before;
        pp = &o->next;
        continue;
      }
      *pp = o->next;
      if (d->ops_last == o) {
        d->ops_last = NULL;
        for (op *q = d->ops; q; q = q->next)
          d->ops_last = q;
      }
      if (d->shutdown == o) {
        d->shutdown = NULL;
        d->down = 1;
      }
      op_finish(d, o);
      moved = 1;
    }
    if (!moved)
      break;
  }
}

/* ------------------------------------------------------------------ */
/* Reload                                                              */

/* A service that `reload = replace` keeps in the table takes its new
 * configuration (from d->conf, the new one by now), and its instances are
 * replaced one at a time: those running (or failed, which start), not
 * those stopped on request, nor those never started with autostart = no. */
static void replace_in_place(supervisor *d, op *o, svc *s) {
  svc_conf next;
  memset(&next, 0, sizeof next);
  const svc_conf *c = NULL;
  for (size_t k = 0; k < d->conf->nsvcs && !c; k++)
    if (strcmp(d->conf->svcs[k].name, s->conf.name) == 0)
      c = &d->conf->svcs[k];
  if (!c || svc_conf_copy(&next, c)) {
    say("reload-note", s->conf.name, "out of memory for its new configuration");
    return;
  }
  svc_conf_clear(&s->conf);
  s->conf = next;
  if (log_limits(d, s))
    say("reload-note", s->conf.name, "out of memory for its log limits");
  for (int i = 0; i < s->conf.instances; i++) {
    int st = wstate(s->w[i]);
    if (s->w[i] ? st == WARD_STATE_STOPPED : !s->conf.autostart)
      continue;
    if (add_phase(o, PH_REPLACE, -1) || add_item(d, &o->ph[o->nph - 1], s, i))
      say("reload-note", s->conf.name, "out of memory to replace instance %d", i + 1);
  }
}

/* Between the stops and the starts: the stopped services leave the
 * table, the new ones come in and start. */
static void reload_swap(supervisor *d, op *o) {
  for (size_t i = 0; i < o->ngone; i++)
    table_remove(d, o->gone[i]);
  ward_conf *nc = o->nc;
  json_t *added = json_object_get(o->result, "added");
  svc **start = calloc(nc->nsvcs + 1, sizeof *start);
  size_t nstart = 0;
  for (size_t k = 0; start && k < nc->nsvcs; k++) {
    if (find(d, nc->svcs[k].name))
      continue;
    int was_changed = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(o->result, "changed"), i, v) was_changed |=
        strcmp(json_string_value(v), nc->svcs[k].name) == 0;
    if (!was_changed)
      json_array_append_new(added, json_string(nc->svcs[k].name));
    svc *s = svc_new(&nc->svcs[k], 0);
    char gerr[256];
    /* autostart = no: added, not started; changed while it ran: started
     * again. */
    int rerun = 0;
    for (size_t g = 0; was_changed && g < o->ngone; g++)
      rerun |= o->gone[g]->rerun && strcmp(o->gone[g]->conf.name, nc->svcs[k].name) == 0;
    if (s && table_add(d, s) == 0) {
      if (s->conf.autostart || rerun)
        start[nstart++] = s;
      if (svc_group(d, s, nc, gerr, sizeof gerr))
        say("start-failed", s->conf.name, "reason=\"%s\"", gerr);
    } else if (s) {
      svc_free(d, s);
    }
  }
  conf_free(d->conf);
  d->conf = nc;
  o->nc = NULL;
  if (start)
    phase_levels(d, o, start, nstart, PH_START);
  free(start);
  for (size_t i = 0; i < o->nswapped; i++)
    replace_in_place(d, o, o->swapped[i]);
  char *a = json_dumps(added, JSON_COMPACT),
       *r = json_dumps(json_object_get(o->result, "removed"), JSON_COMPACT),
       *c = json_dumps(json_object_get(o->result, "changed"), JSON_COMPACT);
  say("reloaded", NULL, "added=%s removed=%s changed=%s", a ? a : "?", r ? r : "?",
      c ? c : "?");
  free(a);
  free(r);
  free(c);
}

/* The next service of group `name` in `c` from index *i on, or NULL. */
static const svc_conf *next_member(const ward_conf *c, const char *name, size_t *i) {
  for (; *i < c->nsvcs; (*i)++)
    if (c->svcs[*i].group && strcmp(c->svcs[*i].group, name) == 0)
      return &c->svcs[(*i)++];
  return NULL;
}

/* Whether a reload to `nc` changes the group `name`: its keys, or its
 * services (one added, removed or changed, or their order). Its members
 * then all start again, in a new group, in order. */
static int group_changed(supervisor *d, const ward_conf *nc, const char *name) {
  if (!grp_conf_same(conf_group(d->conf, name), conf_group(nc, name)))
    return 1;
  size_t i = 0, j = 0;
  for (;;) {
    const svc_conf *a = next_member(d->conf, name, &i), *b = next_member(nc, name, &j);
    if (!a || !b)
      return a != b;
    if (!svc_conf_same(a, b))
      return 1;
  }
}

/* A reload: 0 with its operation queued, or CTL_BAD with the
 * configuration's error (nothing changes then). */
/* A service a reload leaves running takes the keys that apply at once
 * (its log limits) from the new file. */
static void keep_at_once(supervisor *d, svc *s, const svc_conf *c) {
  for (size_t i = 0; i < conf_nkeys; i++) {
    const conf_key *k = &conf_keys[i];
    if (k->section != CONF_SERVICE || k->reload != CONF_RELOAD_AT_ONCE)
      continue;
    uint64_t bit = (uint64_t)1 << i;
    conf_key_clear(k, &s->conf);
    if (conf_key_copy(k, &s->conf, c))
      say("reload-note", s->conf.name, "out of memory for %s", k->name);
    s->conf.given = (s->conf.given & ~bit) | (c->given & bit);
  }
  if (log_limits(d, s))
    say("reload-note", s->conf.name, "out of memory for its log limits");
}

static int reload(supervisor *d, ward_ctx *ctx, char *err, size_t cap) {
  ward_conf *nc;
  if (conf_load(&nc, d->config_path, err, cap)) {
    for (const char *l = err; *l;) {
      size_t n = strcspn(l, "\n");
      say("reload-refused", NULL, "error=\"%.*s\"", (int)n, l);
      l += n + (l[n] == '\n');
    }
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
  /* First, as it may fail: a refused reload changes nothing. */
  char herr[512];
  if (http_serve(d, nc->http, herr, sizeof herr)) {
    snprintf(err, cap, "http %s", herr);
    say("reload-refused", NULL, "error=\"%s\"", err);
    conf_free(nc);
    return CTL_FAILED;
  }
  svclog_configure(d->logs, d->journal ? NULL : nc->log_dir, nc->log_max_bytes, nc->log_files,
                   nc->log_mode);
  char lerr[512];
  if (svclog_prepare(d->logs, lerr, sizeof lerr))
    say("log-error", NULL, "error=\"%s\"", lerr);
  op *o = op_new(d, ctx, "reload", NULL);
  sysd_notify("RELOADING=1");
  if (o)
    o->tells_ready = 1;
  json_t *removed = json_array(), *changed = json_array(), *unchanged = json_array(),
         *replaced = json_array();
  svc **stop = calloc(d->nsvcs + 1, sizeof *stop);
  if (!o || !stop) {
    free(stop);
    conf_free(nc);
    snprintf(err, cap, "out of memory");
    return CTL_FAILED;
  }
  o->nc = nc;
  o->result = json_pack("{s:[], s:o, s:o, s:o, s:o}", "added", "removed", removed, "changed",
                        changed, "unchanged", unchanged, "replaced", replaced);
  /* What goes: services no longer in the file (and transient ones a new
   * service of the same name replaces), and those that changed. */
  size_t nstop = 0;
  for (size_t i = 0; i < d->nsvcs; i++) {
    svc *s = d->svcs[i];
    const svc_conf *c = NULL;
    for (size_t k = 0; k < nc->nsvcs && !c; k++)
      if (strcmp(nc->svcs[k].name, s->conf.name) == 0)
        c = &nc->svcs[k];
    if (s->transient && !c)
      continue;
    int regroup = s->grp && (s->grp->retired || group_changed(d, nc, s->grp->conf.name));
    if (c && !s->transient && svc_conf_same(c, &s->conf) && !regroup) {
      json_array_append_new(unchanged, json_string(s->conf.name));
      keep_at_once(d, s, c);
      continue;
    }
    if (c && !s->transient && !s->grp && !c->group && c->reload_replace &&
        c->instances == s->conf.instances) {
      svc **v = realloc(o->swapped, (o->nswapped + 1) * sizeof *v);
      if (v) {
        json_array_append_new(changed, json_string(s->conf.name));
        json_array_append_new(replaced, json_string(s->conf.name));
        svc_ref(s);
        o->swapped = v;
        v[o->nswapped++] = s;
        continue;
      }
    }
    if (s->grp)
      s->grp->retired = 1; /* its services start again in a new one */
    for (int k = 0; k < s->conf.instances; k++)
      s->rerun |= s->w[k] && !terminal(wstate(s->w[k]));
    json_array_append_new(c && !s->transient ? changed : removed, json_string(s->conf.name));
    svc_ref(s);
    stop[nstop++] = s;
  }
  o->gone = stop;
  o->ngone = nstop;
  phase_levels(d, o, stop, nstop, PH_STOP);
  add_phase(o, PH_CALL, 0);
  o->ph[o->nph - 1].call = reload_swap;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Control methods                                                     */

/* Begins the shutdown: operations are refused from now on, starts under
 * way give up, and every service stops in reverse dependency order. */
static void begin_shutdown(supervisor *d) {
  if (d->closing)
    return;
  d->closing = 1;
  sysd_notify("STOPPING=1");
  http_logs_end(d->http);
  op *o = op_new(d, NULL, "shutdown", NULL);
  if (o)
    phase_levels(d, o, d->svcs, d->nsvcs, PH_STOP);
  d->shutdown = o;
  if (!o)
    d->down = 1;
}

/* An operation on the services (or instances) named: queued, answered
 * when it is over. */
static int begin_op(supervisor *d, const char *m, json_t *p, ward_ctx *ctx, char *err,
                    size_t cap) {
  int rv = 0;
  targets tg = {0};
  if (strcmp(m, "spawn") == 0) {
    svc *s = NULL;
    rv = m_spawn(d, p, &s, err, cap);
    if (!rv && target_add(&tg, s, -1)) {
      snprintf(err, cap, "out of memory");
      rv = CTL_FAILED;
    }
  } else if (strcmp(m, "reload") == 0) {
    return reload(d, ctx, err, cap);
  } else {
    rv = targets_of(d, p, 0, &tg, err, cap);
  }
  if (rv)
    return rv;
  op *o = op_new(d, ctx, m, &tg);
  if (!o) {
    snprintf(err, cap, "out of memory");
    return CTL_FAILED;
  }
  json_t *g = json_object_get(p, "grace_ms");
  int grace = strcmp(m, "kill") == 0                        ? 0
              : strcmp(m, "stop") == 0 && json_is_integer(g) ? (int)json_integer_value(g)
                                                             : -1;
  if (strcmp(m, "stop") == 0 || strcmp(m, "kill") == 0 || strcmp(m, "restart") == 0)
    phase_stop_targets(d, o, grace);
  if (strcmp(m, "start") == 0 || strcmp(m, "restart") == 0 || strcmp(m, "spawn") == 0)
    phase_start_targets(d, o);
  if (strcmp(m, "replace") == 0)
    phase_replace_targets(d, o);
  return 0;
}

static int is_op(const char *m) {
  static const char *const v[] = {"start",   "stop",  "kill",  "restart",
                                  "replace", "spawn", "reload"};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    if (strcmp(m, v[i]) == 0)
      return 1;
  return 0;
}

/* A control request (ward ctl, or a service's): answered now, or
 * deferred to its operation. */
static int64_t mono_ms(void);

/* Defers a `logs` call that found no new line (`out`): it is answered
 * when one comes. 1 if so; 0 to answer it now after all. */
static int follow_later(supervisor *d, ward_ctx *ctx, json_t *params, json_t *out) {
  json_t *wait = json_object_get(params, "wait_ms");
  json_int_t ms = json_is_integer(wait) ? json_integer_value(wait) : FOLLOW_WAIT_MS;
  if (ms <= 0 || d->closing)
    return 0;
  follower *f = calloc(1, sizeof *f);
  json_t *p = json_pack("{s:O?, s:O?, s:O, s:O?}", "name", json_object_get(params, "name"),
                        "names", json_object_get(params, "names"), "after",
                        json_object_get(out, "cursor"), "stream",
                        json_object_get(params, "stream"));
  ward_ctx *later = f && p ? ward_ctx_defer(ctx) : NULL;
  if (!later) {
    free(f);
    json_decref(p);
    return 0;
  }
  ward_ctx_watch(later);
  f->ctx = later;
  f->params = p;
  f->deadline = mono_ms() + (ms < FOLLOW_WAIT_MS ? ms : FOLLOW_WAIT_MS);
  f->next = d->followers;
  d->followers = f;
  return 1;
}

/* Answers the followers that have lines, whose deadline came, or whose
 * connection went (all of them when `all`). Returns the ms until the next
 * deadline, or -1. */
static int followers_turn(supervisor *d, int all) {
  int64_t now = mono_ms(), next = -1;
  int look = d->new_lines;
  d->new_lines = 0;
  for (follower **pp = &d->followers; *pp;) {
    follower *f = *pp;
    json_t *out = NULL;
    char err[256] = "";
    int rv = 0, done = all || ward_ctx_cancelled(f->ctx) || now >= f->deadline;
    if (!done && look) {
      rv = m_logs(d, f->params, &out, err, sizeof err);
      done = rv || json_array_size(json_object_get(out, "lines")) > 0;
      if (!done)
        json_object_set(f->params, "after", json_object_get(out, "cursor"));
    }
    if (!done) {
      json_decref(out);
      if (next < 0 || f->deadline - now < next)
        next = f->deadline - now;
      pp = &f->next;
      continue;
    }
    if (!out && !rv && !all)
      rv = m_logs(d, f->params, &out, err, sizeof err);
    if (rv || !out)
      ward_ctx_fail(f->ctx, rv ? rv : CTL_CLOSING, err[0] ? err : "the daemon is stopping");
    else
      ward_ctx_reply_json(f->ctx, out);
    json_decref(out);
    *pp = f->next;
    json_decref(f->params);
    free(f);
  }
  return (int)next;
}

/* After an external logrotate moved the files: new ones at the next line. */
static void reopen_logs(supervisor *d, const char *why) {
  svclog_reopen(d->logs);
  say("logs-reopened", NULL, "by=%s", why);
}

static int answer(supervisor *d, ward_ctx *ctx, const void *data, size_t len) {
  const char *method = ward_ctx_method(ctx);
  json_t *params = NULL;
  char err[2048] = "";
  if (len == 0) {
    params = json_object();
  } else if (ward_ctx_params_json(ctx, data, len, &params) || !json_is_object(params)) {
    json_decref(params);
    return ward_ctx_fail(ctx, CTL_BAD, "the parameters are not a JSON object");
  }
  const char *m = strncmp(method, "ward.", 5) == 0 ? method + 5 : "";
  json_t *out = NULL;
  int rv;
  if (strcmp(m, "status") == 0) {
    rv = m_status(d, params, &out, err, sizeof err);
  } else if (strcmp(m, "logs") == 0) {
    rv = m_logs(d, params, &out, err, sizeof err);
    if (!rv && json_is_true(json_object_get(params, "follow")) &&
        json_array_size(json_object_get(out, "lines")) == 0 && follow_later(d, ctx, params, out)) {
      json_decref(params);
      json_decref(out);
      return 0;
    }
  } else if (strcmp(m, "signal") == 0) {
    rv = m_signal(d, params, &out, err, sizeof err);
  } else if (strcmp(m, "pause") == 0 || strcmp(m, "resume") == 0) {
    rv = m_pause(d, params, m[0] == 'p', &out, err, sizeof err);
  } else if (strcmp(m, "reopen_logs") == 0) {
    reopen_logs(d, "request");
    out = json_pack("{s:b}", "reopened", 1);
    rv = 0;
  } else if (strcmp(m, "shutdown") == 0) {
    say("shutdown-requested", NULL, NULL);
    out = json_pack("{s:b}", "stopping", 1);
    rv = 0;
  } else if (!is_op(m)) {
    snprintf(err, sizeof err, "no method '%s'", method);
    rv = CTL_BAD;
  } else if (d->closing) {
    snprintf(err, sizeof err, "the daemon is shutting down");
    rv = CTL_CLOSING;
  } else {
    ward_ctx *later = ward_ctx_defer(ctx);
    rv = later ? begin_op(d, m, params, later, err, sizeof err) : CTL_FAILED;
    if (!later)
      snprintf(err, sizeof err, "could not defer the request");
    json_decref(params);
    if (rv && later)
      ward_ctx_fail(later, rv, err);
    return 0;
  }
  json_decref(params);
  if (rv == 0 && out)
    ward_ctx_reply_json(ctx, out);
  else
    ward_ctx_fail(ctx, rv ? rv : CTL_FAILED, err[0] ? err : "failed");
  json_decref(out);
  /* After the reply, which the closing of the control socket would
   * otherwise race. */
  if (rv == 0 && strcmp(m, "shutdown") == 0)
    kill(getpid(), SIGTERM);
  return 0;
}

/* ward ctl, on the loop. */
static int on_ctl(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  return answer(ud, ctx, data, len);
}

/* May this worker make control requests? (its service says control=yes) */
static int allowed(supervisor *d, ward_worker *w) {
  char base[128];
  const char *name = ward_worker_name(w);
  svc_of(name, base, sizeof base);
  svc *s = find(d, name);
  if (!s)
    s = find(d, base);
  return s && s->conf.control;
}

static int on_service(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  supervisor *d = ud;
  if (!allowed(d, ward_ctx_worker(ctx)))
    return ward_ctx_fail(ctx, CTL_FORBIDDEN,
                         "control requests are not allowed for this service (control = yes)");
  return answer(d, ctx, data, len);
}

static const char *const methods[] = {"ward.status", "ward.start",  "ward.stop",
                                      "ward.restart", "ward.replace", "ward.signal",
                                      "ward.logs",
                                      "ward.spawn",  "ward.kill",   "ward.reload",
                                      "ward.shutdown", "ward.reopen_logs",
                                      "ward.pause",  "ward.resume"};
#define NMETHODS (sizeof methods / sizeof methods[0])

/* ------------------------------------------------------------------ */
/* ward run                                                            */

/* ------------------------------------------------------------------ */
/* The process around the services                                     */

/* As PID 1 (a container's entrypoint) processes whose parents died come
 * to ward; elsewhere it asks for them on Linux (a child subreaper), so
 * that what a service double-forked is still ward's to reap. */
static int become_reaper(void) {
  if (getpid() == 1)
    return 1;
#ifdef __linux__
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    return 2;
#endif
  return 0;
}

static void on_orphan(int pid, int code, int sig, void *ud) {
  (void)ud;
  if (sig)
    say("orphan-reaped", NULL, "pid=%d signal=%s", pid, conf_signal_name(sig));
  else
    say("orphan-reaped", NULL, "pid=%d code=%d", pid, code);
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The end of a turn of the loop: orphans reaped, the status line told to
 * systemd if it changed, the watchdog pinged. Returns how long the loop
 * may sleep (ms, -1: until something happens). */
static int turn_end(supervisor *d) {
  if (d->reaper)
    ward_host_reap_orphans(d->host, on_orphan, d);
  if (d->changed) {
    d->changed = 0;
    size_t up = 0, all = 0;
    for (size_t i = 0; i < d->nsvcs; i++)
      for (int k = 0; k < d->svcs[i]->conf.instances; k++) {
        all++;
        up += d->svcs[i]->up[k] != 0;
      }
    char text[128];
    snprintf(text, sizeof text, "%s%zu of %zu instances ready", d->closing ? "stopping: " : "", up,
             all);
    sysd_status(text);
  }
  uint64_t dropped = sysd_journal_dropped(d->journal);
  if (dropped != d->journal_dropped) {
    say("journal-dropped", NULL, "lines=%llu", (unsigned long long)(dropped - d->journal_dropped));
    d->journal_dropped = dropped;
  }
  int wait = sysd_watchdog(mono_ms());
  if (d->new_lines)
    http_logs_wake(d->http);
  int follow = d->followers ? followers_turn(d, 0) : -1;
  d->new_lines = 0;
  return wait < 0 || (follow >= 0 && follow < wait) ? follow : wait;
}

static void run_usage(FILE *f) {
  fprintf(f,
          "Usage: %s run [--check] [--journal] CONFIG\n"
          "       %s run --keys\n"
          "\n"
          "Keeps the services of CONFIG (an INI file) up, in the foreground, with\n"
          "a control socket for '%s ctl'. Its own events go to stderr, one line\n"
          "each; each service's output goes to rotating files in the log directory.\n"
          "\n"
          "Signals: SIGTERM or SIGINT stops every service (in reverse dependency\n"
          "order, gracefully, then by force) and exits 0; SIGHUP reloads CONFIG:\n"
          "added services start, removed ones stop, changed ones restart, the\n"
          "others keep running. SIGCHLD: ward reaps the processes that come to\n"
          "it when their parents die (as PID 1, or as a child subreaper).\n"
          "\n"
          "Under systemd (NOTIFY_SOCKET set: a Type=notify unit) it sends READY=1\n"
          "once the services are up, STATUS= lines, RELOADING=1, STOPPING=1, and\n"
          "WATCHDOG=1 pings when the unit has WatchdogSec=.\n"
          "\n"
          "Options:\n"
          "      --check    check CONFIG, and that its programs, working directories,\n"
          "                 users and groups are there, and exit (0: valid, 3: not)\n"
          "      --journal  send the services' output to the systemd journal\n"
          "                 instead of files in the log directory\n"
          "      --keys     list the keys CONFIG may hold and exit, one per line,\n"
          "                 tab-separated: section, key, what a reload does with a\n"
          "                 change, default, meaning\n"
          "  -h, --help     show this help and exit\n"
          "\n"
          "See docs/cli.md for every key of CONFIG.\n"
          "\n",
          CLI_NAME, CLI_NAME, CLI_NAME);
  cli_print_exits(f, "run");
}

/* The errors of a refused configuration, one per line. */
static void say_errors(const char *errs) {
  for (const char *l = errs; *l;) {
    size_t n = strcspn(l, "\n");
    cli_error("run", "%.*s", (int)n, l);
    l += n + (l[n] == '\n');
  }
}

int run_main(int argc, char **argv) {
  static const cli_opt opts[] = {
      {"check", 0, 0, 1}, {"help", 'h', 0, 2}, {"keys", 0, 0, 3}, {"journal", 0, 0, 4},
      {NULL, 0, 0, 0}};
  cli_args a;
  cli_args_init(&a, "run", argc, argv);
  const char *path = NULL;
  int check = 0, keys = 0, journal = 0;
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
    if (id == 4)
      journal = 1;
    if (id == CLI_OPT_POSITIONAL) {
      if (path)
        return cli_usage_error("run", "unexpected argument '%s'", a.arg);
      path = a.arg;
    }
  }
  if (keys && (path || check || journal))
    return cli_usage_error("run", "--keys takes no configuration file");
  if (keys)
    return cli_finish("run", conf_keys_print(stdout) ? CLI_EXIT_FAIL : CLI_EXIT_OK);
  if (!path)
    return cli_usage_error("run", "which configuration file?");

  char err[8192];
  ward_conf *conf;
  if (conf_load(&conf, path, err, sizeof err)) {
    say_errors(err);
    return CLI_EXIT_CONFIG;
  }
  if (check && conf_check_host(conf, err, sizeof err)) {
    say_errors(err);
    conf_free(conf);
    return CLI_EXIT_CONFIG;
  }
  if (check) {
    printf("%s: %zu service%s, control socket %s\n", path, conf->nsvcs,
           conf->nsvcs == 1 ? "" : "s", conf->socket);
    conf_free(conf);
    return cli_finish("run", CLI_EXIT_OK);
  }

  /* The signals come through a descriptor the main loop polls; workers
   * start with the default dispositions. systemd's variables are read
   * and kept from the services before any of them starts. */
  sysd_init();
  signal(SIGPIPE, SIG_IGN);
  int sig_err = signals_open() ? errno : 0;

  supervisor d;
  memset(&d, 0, sizeof d);
  d.conf = conf;
  d.config_path = realpath(path, NULL);
  int kept = 0;
  for (size_t i = 0; i < conf_nkeys; i++)
    if (conf_keys[i].section == CONF_WARD && conf_keys[i].reload == CONF_RELOAD_NEXT_START)
      kept |= conf_key_copy(&conf_keys[i], &d.in_use, conf);
  d.started_ms = wall_ms();
  d.logs = svclog_new(journal ? NULL : conf->log_dir, conf->log_max_bytes, conf->log_files,
                      conf->log_mode);
  int rc = CLI_EXIT_FAIL;
  if (sig_err) {
    cli_error("run", "signal pipe: %s", strerror(sig_err));
    goto out;
  }
  if (journal && !(d.journal = sysd_journal_open(err, sizeof err))) {
    cli_error("run", "%s", err);
    goto out;
  }
  d.reaper = become_reaper();
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
  ho.external_loop = 1;
  /* Where its services' cgroups go (api.md 4.9). */
  ho.cgroup = d.conf->cgroup;
  ho.no_cgroup = !d.conf->cgroups;
  if (ward_host_new(&d.host, &ho)) {
    cli_error("run", "cannot start: %s", ward_last_error());
    goto out;
  }
  if (ward_server_new(&d.server) || ward_server_attach(d.server, d.host)) {
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
  if (!(d.http = http_new(http_status, http_logs, http_log, &d))) {
    cli_error("run", "out of memory");
    goto out;
  }
  if (http_serve(&d, conf->http, err, sizeof err)) {
    cli_error("run", "http %s", err);
    goto out;
  }
  static const char *const reapers[] = {"none", "pid1", "subreaper"};
  say("daemon-started", NULL, "pid=%d config=%s socket=%s log_dir=%s services=%zu reaper=%s",
      (int)getpid(), d.config_path, conf->socket,
      d.journal ? "journal" : conf->log_dir ? conf->log_dir : "none", conf->nsvcs,
      reapers[d.reaper]);

  for (size_t i = 0; i < conf->nsvcs; i++) {
    svc *s = svc_new(&conf->svcs[i], 0);
    if (!s || table_add(&d, s)) {
      cli_error("run", "out of memory");
      goto out;
    }
    if (svc_group(&d, s, conf, err, sizeof err)) {
      cli_error("run", "%s", err);
      goto out;
    }
  }
  op *boot = op_new(&d, NULL, "boot", NULL);
  if (boot)
    boot->tells_ready = 1;
  if (!boot || phase_boot(&d, boot)) {
    cli_error("run", "out of memory");
    goto out;
  }

  /* The one loop: operations move on after each turn of the host's loop
   * and each signal; the daemon exits once its shutdown is over. */
  while (!d.down || d.ops) {
    ops_advance(&d);
    free_dead(&d);
    int wait_ms = turn_end(&d);
    if (d.down && !d.ops)
      break;
    struct pollfd pf[2 + HTTP_MAX_FDS] = {{.fd = ward_host_fd(d.host), .events = POLLIN},
                                          {.fd = sig_pipe[0], .events = POLLIN}};
    size_t nhttp = http_poll_fds(d.http, pf + 2, HTTP_MAX_FDS, &wait_ms);
    if (poll(pf, 2 + nhttp, wait_ms) < 0)
      continue; /* EINTR */
    if (pf[0].revents)
      ward_host_dispatch(d.host, 0);
    http_run(d.http, pf + 2, nhttp);
    unsigned char sigs[16];
    ssize_t got;
    while ((got = read(sig_pipe[0], sigs, sizeof sigs)) > 0)
      for (ssize_t k = 0; k < got; k++) {
        int sig = sigs[k];
        if (sig == SIGCHLD)
          continue; /* turn_end reaps */
        if (sig == SIGUSR1) {
          reopen_logs(&d, "SIGUSR1");
          continue;
        }
        if (sig == SIGHUP) {
          say("daemon-reload", NULL, "signal=HUP");
          if (!d.closing)
            reload(&d, NULL, err, sizeof err);
        } else if (!d.closing) {
          say("daemon-stopping", NULL, "signal=%s", conf_signal_name(sig));
          begin_shutdown(&d);
        }
      }
  }
  rc = CLI_EXIT_OK;

out:
  /* The HTTP pages and the control socket go, then the services left
   * (stopped already, unless starting failed) and the host. */
  http_free(d.http);
  followers_turn(&d, 1);
  ward_server_free(d.server);
  while (d.ops) {
    /* Only when the daemon could not start: nothing is under way. */
    op *o = d.ops;
    d.ops = o->next;
    op_finish(&d, o);
  }
  while (d.nsvcs)
    table_remove(&d, d.svcs[d.nsvcs - 1]);
  free_dead(&d);
  ward_host_free(d.host);
  if (rc == CLI_EXIT_OK)
    say("daemon-exited", NULL, "code=0");
  free(d.svcs);
  svclog_free(d.logs);
  sysd_journal_free(d.journal);
  conf_free(d.conf);
  free(d.config_path);
  for (size_t i = 0; i < conf_nkeys; i++)
    if (conf_keys[i].section == CONF_WARD)
      conf_key_clear(&conf_keys[i], &d.in_use);
  signals_close();
  return rc;
}
