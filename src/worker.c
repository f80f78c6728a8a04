/*
 * worker.c — a worker's process and channel, on the host's side: starting
 * a process (channel, output pipes, data directory, the spawn itself),
 * the frames a worker sends the host, its exit, and freeing a handle. The
 * handshake is in handshake.c, the captured output in output.c.
 *
 * Owns: the descriptors and the process of each worker. May not decide
 * what becomes of a worker: what it sees (a HELLO, a violation, an exit)
 * it posts to the worker's state machine (supervise.c, lifecycle.c), and
 * it makes no system call of its own (platform.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hello.h"
#include "worker.h"

/* What the loop calls when a worker's descriptor is ready. */
static void accept_ready(ward__watch *wt, int events);
static void notify_ready(ward__watch *wt, int events);
static void exit_ready(ward__watch *wt, int events);
static void conn_ready(ward__watch *wt, int events);

/* Room for one WARD_* environment entry: a 255-byte name fits. */
#define WARD__EXTRA_LEN 320

/* ------------------------------------------------------------------ */
/* Connection callbacks                                                */

static int host_inbound(ward__conn *c, const ward__frame *f, uint8_t *owned);
static void host_watch(ward__conn *c, int events);
static void host_closed(ward__conn *c, int err);

static void host_idle(ward__conn *c);
static void host_call_ready(ward__conn *c, ward__call *call);

static void host_reader_idle(ward__conn *c);
static void host_kick(ward__conn *c);

static const ward__conn_ops host_ops = {host_inbound,     host_watch,      host_idle,
                                        host_closed,      host_call_ready, host_reader_idle,
                                        host_kick};

/* Records wait in the shared memory and no byte will say so: the loop
 * pumps the connection at its next turn (a task with neither frame nor
 * call). */
static void host_kick(ward__conn *c) {
  ward_worker *w = c->owner;
  ward__host_task(w->host, w, c, NULL, NULL);
}

/* A caller waiting on this connection read something the loop must
 * handle (a request for a host handler...): with an external loop that no
 * one runs, the caller runs it, or its own call could wait forever. */
static void host_reader_idle(ward__conn *c) {
  ward_worker *w = c->owner;
  if (w->host->external)
    ward__host_run_pending(w->host);
}

/* An asynchronous call has news: the loop delivers it. */
static void host_call_ready(ward__conn *c, ward__call *call) {
  ward_worker *w = c->owner;
  ward__host_task(w->host, w, c, NULL, call);
}

/* A caller left the loop's reading off: the loop turns it back on once
 * the connection has been quiet for a moment (ward__host_settle). */
static void host_idle(ward__conn *c) {
  ward_worker *w = c->owner;
  ward_host *h = w->host;
  pthread_mutex_lock(&h->lazy_mu);
  int first = h->nlazy == 0;
  if (h->nlazy == h->caplazy) {
    size_t cap = h->caplazy ? h->caplazy * 2 : 16;
    ward__conn **v = realloc(h->lazy, cap * sizeof *v);
    if (v) {
      h->lazy = v;
      h->caplazy = cap;
    }
  }
  if (h->nlazy < h->caplazy) {
    ward__conn_ref(c);
    h->lazy[h->nlazy++] = c;
  }
  pthread_mutex_unlock(&h->lazy_mu);
  if (first)
    ward__host_wake(h);
}

static void host_watch(ward__conn *c, int events) {
  ward_worker *w = c->owner;
  ward__loop_mod(w->host->loop, c->fd, events, &c->watch);
}

/* Records why the start failed (lock held); the first reason wins. */
void ward__worker_spawn_err(ward_worker *w, int err, int sys_errno, const char *text) {
  if (w->spawn_err)
    return;
  w->spawn_err = err;
  w->spawn_errno = sys_errno;
  snprintf(w->spawn_text, sizeof w->spawn_text, "worker '%s': %s", w->spec->name, text);
}

/* Any thread, any locks held: the loop handles it (loop_closed),
 * so connection code may run under the host mutex. */
static void loop_closed(ward__conn *c);

static void host_closed(ward__conn *c, int err) {
  ward_worker *w = c->owner;
  (void)err; /* the connection keeps it */
  ward__host_closed(w->host, c, loop_closed);
}

/* Reports a protocol violation on `c` once, whichever of the close, the
 * exit and a stop sees it first (lock held). */
static void report_violation(ward_worker *w, ward__conn *c) {
  char why[200];
  int err = ward__conn_claim_violation(c, why, sizeof why);
  if (!err)
    return;
  ward__lev ev = {.type = WARD__LE_VIOLATION, .error = err, .text = why};
  ward__worker_post(w, &ev, NULL);
}

void ward__worker_settle_violation(ward_worker *w) {
  if (w->conn)
    report_violation(w, w->conn);
}

/* The loop's side of a close. */
static void loop_closed(ward__conn *c) {
  ward_worker *w = c->owner;
  ward_host *h = w->host;
  pthread_mutex_lock(&h->mu);
  ward__loop_del(h->loop, c->fd);
  ward__host_dead_conn(h, c);
  if (w->conn == c) {
    report_violation(w, c);
    ward__lev ev = {.type = WARD__LE_CLOSED};
    ward__worker_post(w, &ev, NULL);
  }
  pthread_mutex_unlock(&h->mu);
}

/* Frames for the host's server side, on whichever thread is reading. */
static int host_inbound(ward__conn *c, const ward__frame *f, uint8_t *owned) {
  ward_worker *w = c->owner;
  ward_host *h = w->host;
  uint8_t kind = f->h.kind;
  if (kind == WARD__K_HELLO) {
    int rv = ward__worker_hello(w, c, f);
    free(owned);
    return rv;
  }
  pthread_mutex_lock(&h->mu);
  int greeted = w->life.state != WARD__L_STARTING;
  pthread_mutex_unlock(&h->mu);
  if (!greeted || kind == WARD__K_WELCOME) {
    free(owned);
    return ward__fail(WARD_EPROTO, "worker '%s' sent a %s frame %s", w->spec->name,
                      kind == WARD__K_WELCOME ? "WELCOME" : "non-HELLO",
                      kind == WARD__K_WELCOME ? "(host-only)" : "before its HELLO");
  }
  switch (kind) {
  case WARD__K_REQUEST:
  case WARD__K_NOTIFY: {
    ward__item *it = ward__item_new(f, owned);
    if (!it)
      return WARD_ENOMEM;
    ward__conn_pending(c, ward__item_weight(it), 1);
    ward__host_task(h, w, c, it, NULL);
    return 0;
  }
  case WARD__K_PING:
    return ward__conn_pong(c, f->h.id, owned);
  case WARD__K_CANCEL:
    free(owned);
    ward__host_cancel_task(h, c, f->h.id);
    return 0;
  case WARD__K_CREDIT:
    /* Host handlers answer at once; they keep no window to open. */
    free(owned);
    return 0;
  case WARD__K_GOODBYE:
    /* The connection's end says the rest. */
    free(owned);
    return 0;
  case WARD__K_LOG: {
    /* Stored at once: a record waits for nobody, and the ring's budget
     * bounds what a flood of them can hold. */
    int rv = ward__output_record(w, c, f);
    free(owned);
    return rv;
  }
  default:
    free(owned);
    return ward__fail(WARD_EPROTO, "worker '%s' sent an unexpected frame kind %u",
                      w->spec->name, kind);
  }
}

/* ------------------------------------------------------------------ */
/* Starting (loop thread)                                              */

static int attach_conn(ward_worker *w, ward__fd fd) {
  ward_host *h = w->host;
  ward__conn *c;
  int rv = ward__conn_new(&c, fd, &host_ops, w, h->opts.max_frame);
  if (rv) {
    ward__close(fd);
    return rv;
  }
  c->default_timeout_ms = w->spec->request_timeout_ms;
  if (w->spec->validate_json)
    c->validate = ward__json_valid;
  c->watch = (ward__watch){conn_ready, c};
  /* One reference for the worker, one for the loop registration. */
  ward__conn_ref(c);
  rv = ward__loop_add(h->loop, fd, WARD__IN, &c->watch);
  if (rv) {
    ward__conn_unref(c);
    ward__conn_unref(c);
    return rv;
  }
  pthread_mutex_lock(&h->mu);
  w->conn = c;
  pthread_mutex_unlock(&h->mu);
  return 0;
}

static void close_listener(ward_worker *w) {
  if (ward__fd_valid(w->listen_fd)) {
    ward__loop_del(w->host->loop, w->listen_fd);
    ward__close(w->listen_fd);
    w->listen_fd = WARD__FD_NONE;
  }
  ward__listen_remove(w->sock_dir, w->sock_path);
  free(w->sock_dir);
  free(w->sock_path);
  w->sock_dir = w->sock_path = NULL;
}

static int make_token(char out[65]) {
  uint8_t raw[32];
  int rv = ward__random(raw, sizeof raw);
  if (rv)
    return rv;
  for (size_t i = 0; i < sizeof raw; i++)
    snprintf(out + 2 * i, 3, "%02x", raw[i]);
  return 0;
}

/* A plain process's notification pipe: the write end goes to the child,
 * the read end is watched for its newline. */
static int open_notify(ward_worker *w, ward__fd *chan_fd) {
  ward__fd p[2];
  int rv = ward__pipe(p);
  if (rv)
    return rv;
  w->notify_fd = p[0];
  *chan_fd = p[1];
  return 0;
}

static void close_notify(ward_worker *w) {
  if (!ward__fd_valid(w->notify_fd))
    return;
  ward__loop_del(w->host->loop, w->notify_fd);
  ward__close(w->notify_fd);
  w->notify_fd = WARD__FD_NONE;
}

/* Sets up the channel: a socketpair end to inherit, or a listener; for a
 * plain process, nothing, or its notification pipe. */
static int prepare_channel(ward_worker *w, ward__fd *host_fd, ward__fd *chan_fd,
                           char extra[][WARD__EXTRA_LEN]) {
  if (w->spec->ready_mode == WARD_READY_NOTIFY)
    return open_notify(w, chan_fd);
  if (w->spec->ready_mode != WARD_READY_HANDSHAKE)
    return 0;
  if (w->spec->transport == WARD_TRANSPORT_INHERIT) {
    ward__fd sv[2];
    int rv = ward__socketpair(sv);
    if (rv)
      return rv;
    *host_fd = sv[0];
    *chan_fd = sv[1];
    ward__chan_env(extra[0], WARD__EXTRA_LEN, sv[1]);
    extra[1][0] = 0;
    return 0;
  }
  /* The private socket's directory and its peer check are the host
   * user's: a worker of another user is not let in. */
  if (w->spec->set_ids)
    return ward__fail(WARD_EINVAL, "spawn '%s': a worker run as another user (ward_spec_user) "
                                   "takes its channel by inheritance: WARD_TRANSPORT_SOCKET "
                                   "cannot let it in",
                      w->spec->name);
  int rv = make_token(w->token);
  if (!rv)
    rv = ward__listen_private(&w->listen_fd, &w->sock_dir, &w->sock_path);
  if (rv)
    return rv;
  if (snprintf(extra[0], WARD__EXTRA_LEN, "WARD_SOCKET=%s", w->sock_path) >= WARD__EXTRA_LEN)
    return ward__fail(WARD_ESYS, "socket path too long");
  snprintf(extra[1], WARD__EXTRA_LEN, "WARD_TOKEN=%s", w->token);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Data directory                                                      */

/* The worker's private directory, made once per handle. */
static int make_data_dir(ward_worker *w) {
  if (w->data_dir || w->spec->no_data_dir)
    return 0;
  const char *root = w->spec->data_root ? w->spec->data_root : ward__runtime_dir();
  char name[64];
  snprintf(name, sizeof name, "%.40s", w->spec->name);
  for (char *p = name; *p; p++)
    if (*p == '/' || *p == '.')
      *p = '_';
  char prefix[80];
  snprintf(prefix, sizeof prefix, "ward-%s-", name);
  int rv = ward__private_dir(root, prefix, "data directory", &w->data_dir);
  /* A worker run as another user owns its directory (still private). */
  if (!rv && w->spec->set_ids && (rv = ward__give_dir(w->data_dir, w->spec->uid, w->spec->gid))) {
    ward__remove_tree(w->data_dir);
    free(w->data_dir);
    w->data_dir = NULL;
  }
  if (rv)
    return rv;
  /* Should the host die without freeing the worker, the guard removes it. */
  if (!w->spec->keep_data)
    ward__guard_add_dir(&w->host->guard, w->id, w->data_dir);
  return 0;
}

/* Starts the process into `pr` (not w->proc: others read that under the
 * host lock, which is not held here), sandboxed as the spec says; what is
 * in force goes to *sandbox and *abi. */
static int spawn_process(ward_worker *w, ward__proc *pr, ward__fd chan_fd,
                         char extra[][WARD__EXTRA_LEN], uint64_t *sandbox, int *abi) {
  char **argv = NULL, **envp = NULL;
  char *ex[8];
  size_t k = 0;
  for (int i = 0; i < 7; i++)
    if (extra[i][0])
      ex[k++] = extra[i];
  ex[k] = NULL;
  ward__jail *jail = NULL;
  *sandbox = 0;
  *abi = 0;
  int rv = ward__spec_argv(w->spec, &argv);
  if (!rv)
    rv = ward__spec_envp(w->spec, ex, &envp);
  /* Prepared for each process: a restart is sandboxed anew. A relative
   * executable is found from the working directory. */
  char exe[4096];
  const char *e = w->spec->exe;
  if (w->spec->cwd && e[0] != '/' && strchr(e, '/') &&
      (size_t)snprintf(exe, sizeof exe, "%s/%s", w->spec->cwd, e) < sizeof exe)
    e = exe;
  if (!rv && w->spec->sandbox)
    rv = ward__jail_new(&jail, w->spec->sandbox, e, w->data_dir);
  /* The tree's limits, for its cgroup where it gets one (the memory ones
   * fall back to sampling otherwise: lifecycle.c). */
  ward__tree_limits lim = {w->spec->tree_mem_max, w->spec->tree_mem_high, w->spec->tree_pids,
                           w->spec->tree_cpu_pct};
  if (!rv) {
    int how[2];
    ward__fd out[2];
    rv = ward__output_open(w, how, out);
    ward__spawn_args a = {.exe = w->spec->exe, .argv = argv, .envp = envp,
                          .cwd = w->spec->cwd, .chan_fd = chan_fd,
                          .chan_at = ward__fd_valid(w->notify_fd) ? w->spec->ready_arg : 0,
                          .out_how = how[0], .out_fd = out[0],
                          .err_how = how[1], .err_fd = out[1], .jail = jail,
                          .nice = w->spec->nice,
                          .ioprio = w->spec->io_level >= 0
                                        ? (WARD__IOPRIO_CLASS_BE << 13) | w->spec->io_level
                                        : 0,
                          .set_ids = w->spec->set_ids, .uid = w->spec->uid,
                          .gid = w->spec->gid, .groups = w->spec->groups,
                          .ngroups = w->spec->ngroups, .set_umask = w->spec->umask >= 0,
                          .umask = w->spec->umask, .trees = w->host->trees,
                          .limits = &lim};
    if (!rv)
      rv = ward__proc_spawn(w->host->spawner, pr, &a);
    if (!rv && jail)
      *sandbox = ward__jail_in_force(jail, abi);
    for (int i = 0; i < 2; i++)
      ward__close(out[i]);
  }
  ward__jail_free(jail);
  ward__strv_free(argv);
  ward__strv_free(envp);
  return rv;
}

/* Kills and reaps a process that was started but is not to be kept (lock
 * held, loop thread). */
static void discard_process(ward_worker *w) {
  ward_host *h = w->host;
  if (w->proc.pid > 0) {
    ward__fd watch = ward__proc_watch(&w->proc);
    if (ward__fd_valid(watch))
      ward__loop_del(h->loop, watch);
    ward__proc_kill(&w->proc, WARD__STOP_HARD);
    int code, sig;
    while (!ward__proc_reap(&w->proc, &code, &sig)) {
      if (ward__fd_valid(watch)) {
        ward__wait_fd(watch, WARD__IN, ward__deadline(100));
      } else {
        ward__sleep_ms(1); /* nothing to wait on: the kill is under way */
      }
    }
  }
  ward__proc_close(&w->proc);
}

static void start_worker(ward_host *h, ward_worker *w) {
  ward__fd host_fd = WARD__FD_NONE, chan_fd = WARD__FD_NONE;
  char extra[7][WARD__EXTRA_LEN];
  memset(extra, 0, sizeof extra);
  int rv = prepare_channel(w, &host_fd, &chan_fd, extra);
  snprintf(extra[2], WARD__EXTRA_LEN, "WARD_NAME=%s", w->spec->name);
  /* PR_SET_PDEATHSIG follows the thread that spawns: only the threaded
   * host's own loop thread lives as long as the host. With an external
   * loop any thread may spawn; the guard alone then covers host death. */
  if (!w->host->external)
    snprintf(extra[3], WARD__EXTRA_LEN, "WARD_PPID=%d", ward__self_pid());
  snprintf(extra[4], WARD__EXTRA_LEN, "WARD_WORKER_ID=%llu", (unsigned long long)w->id);
  if (w->spec->max_frame)
    snprintf(extra[5], WARD__EXTRA_LEN, "WARD_MAX_FRAME=%u", w->spec->max_frame);
  if (!rv)
    rv = make_data_dir(w);
  if (!rv && w->data_dir &&
      snprintf(extra[6], WARD__EXTRA_LEN, "WARD_DATA_DIR=%s", w->data_dir) >= WARD__EXTRA_LEN)
    rv = ward__fail(WARD_EINVAL, "data directory path too long");
  ward__proc pr = WARD__PROC_NONE;
  uint64_t sandbox = 0;
  int landlock_abi = 0;
  if (!rv)
    rv = spawn_process(w, &pr, chan_fd, extra, &sandbox, &landlock_abi);
  ward__close(chan_fd);
  if (!rv && ward__fd_valid(host_fd)) {
    rv = attach_conn(w, host_fd);
    host_fd = WARD__FD_NONE;
  }
  if (!rv && ward__fd_valid(w->listen_fd)) {
    w->listen_watch = (ward__watch){accept_ready, w};
    rv = ward__loop_add(h->loop, w->listen_fd, WARD__IN, &w->listen_watch);
  }
  if (!rv)
    rv = ward__output_watch(w);
  if (!rv && ward__fd_valid(w->notify_fd)) {
    w->notify_watch = (ward__watch){notify_ready, w};
    rv = ward__loop_add(h->loop, w->notify_fd, WARD__IN, &w->notify_watch);
  }
  if (!rv && ward__fd_valid(ward__proc_watch(&pr))) {
    w->pid_watch = (ward__watch){exit_ready, w};
    rv = ward__loop_add(h->loop, ward__proc_watch(&pr), WARD__IN, &w->pid_watch);
  }
  pthread_mutex_lock(&h->mu);
  ward__lout o = {0};
  if (rv) {
    ward__lev ev = {.type = WARD__LE_SPAWN_FAILED, .error = rv, .sys_errno = ward_last_errno(),
                    .text = ward_last_error()};
    ward__worker_post(w, &ev, &o);
  } else {
    w->proc = pr;
    w->sandbox = sandbox;
    w->landlock_abi = landlock_abi;
    /* Its cgroup enforces the memory limits of its tree, if it has one
     * with the memory controller. */
    /* A hidden handle's process takes its worker's next generation: the
     * one its WELCOME says, and the one it has if it takes over. */
    ward__lev ev = {.type = WARD__LE_SPAWNED,
                    .kernel_memory = ward__proc_tree(&pr) == WARD_TREE_CGROUP &&
                                     (ward__trees_limits(h->trees) & WARD__LIMIT_MEMORY),
                    .generation = w->spare_of ? w->spare_of->life.generation + 1 : 0};
    ward__worker_post(w, &ev, &o);
  }
  if (rv || (o.act & WARD__LA_DISCARD)) {
    /* Not started, or stopped while the process was being started (the
     * lock was not held): the stop has already answered, so this process
     * must not live. */
    w->proc = pr;
    ward__close(host_fd);
    close_listener(w);
    close_notify(w);
    ward__output_close(w, WARD_LOG_STDOUT);
    ward__output_close(w, WARD_LOG_STDERR);
    discard_process(w);
    ward__conn *c = w->conn;
    w->conn = NULL;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->mu);
    if (c) {
      ward__conn_close(c, WARD_ECLOSED);
      ward__conn_unref(c);
    }
    return;
  }
  w->log_pid = w->proc.pid;
  w->conn_due = INT64_MAX;
  w->reap_at = ward__now_ms() + WARD__REAP_POLL_MS;
  ward__guard_add(&h->guard, &w->proc);
  ward__worker_schedule(w);
  pthread_mutex_unlock(&h->mu);
}

/* ------------------------------------------------------------------ */
/* The start queue (lock held)                                         */

/* The loop's job: starts the worker, if it still wants a process. */
static void start_job(ward__job *job) {
  ward_worker *w = job->obj;
  ward_host *h = w->host;
  pthread_mutex_lock(&h->mu);
  int queued = w->life.state == WARD__L_QUEUED && !ward__spares_adopt(w);
  pthread_mutex_unlock(&h->mu);
  if (queued)
    start_worker(h, w);
}

void ward__worker_queue(ward_worker *w) {
  w->start_job.run = start_job;
  w->start_job.obj = w;
  ward__job_queue(w->host, &w->start_job);
}

/* The worker's socket-mode listener: its connection, once. */
static void accept_ready(ward__watch *wt, int events) {
  (void)events;
  ward_worker *w = wt->obj;
  ward__fd fd;
  if (ward__accept(w->listen_fd, &fd) <= 0)
    return;
  if (ward__peer_is_us(fd, 0, NULL) != 1) {
    ward__close(fd); /* someone else: keep waiting for our worker */
    return;
  }
  /* One connection per start: the path and the token are now spent. */
  close_listener(w);
  int rv = ward__set_nonblock(fd, 1);
  if (rv)
    ward__close(fd);
  else
    rv = attach_conn(w, fd); /* closes fd when it fails */
  if (rv) {
    ward_host *h = w->host;
    pthread_mutex_lock(&h->mu);
    ward__lev ev = {.type = WARD__LE_REFUSED, .error = WARD_ESYS,
                    .sys_errno = ward_last_errno(), .text = ward_last_error()};
    ward__worker_post(w, &ev, NULL);
    pthread_mutex_unlock(&h->mu);
  }
}

/* A plain process wrote on its notification descriptor: a newline makes
 * it ready; the end of the pipe without one leaves it as it was (the
 * startup timeout decides). */
static void notify_ready(ward__watch *wt, int events) {
  (void)events;
  ward_worker *w = wt->obj;
  ward_host *h = w->host;
  pthread_mutex_lock(&h->mu);
  char buf[256];
  while (ward__fd_valid(w->notify_fd)) {
    ptrdiff_t n = ward__read(w->notify_fd, buf, sizeof buf);
    if (n == WARD__AGAIN)
      break; /* more later */
    if (n > 0 && !memchr(buf, '\n', (size_t)n))
      continue;
    /* A newline (readiness is said once), the end, or an error. */
    if (n > 0) {
      ward__lev ev = {.type = WARD__LE_READY};
      ward__worker_post(w, &ev, NULL);
    }
    close_notify(w);
  }
  pthread_mutex_unlock(&h->mu);
}

/* ------------------------------------------------------------------ */
/* Exit (loop thread)                                                  */

static void exit_ready(ward__watch *wt, int events) {
  (void)events;
  ward__worker_on_exit(wt->obj);
}

/* The connection's socket: what the loop may write, and read. */
static void conn_ready(ward__watch *wt, int events) {
  ward__conn *c = wt->obj;
  if (events & WARD__OUT)
    ward__conn_flush(c);
  if (events & (WARD__IN | WARD__HUP))
    ward__conn_pump(c);
}

void ward__worker_on_exit(ward_worker *w) {
  ward_host *h = w->host;
  /* A violation noticed just before the exit is reported, and recorded as
   * its reason, before the exit itself. */
  ward__host_run_closed(h);
  pthread_mutex_lock(&h->mu);
  ward__proc was = w->proc; /* as it was before the reap */
  int pid = was.pid, code, sig;
  if (!ward__proc_reap(&w->proc, &code, &sig)) {
    pthread_mutex_unlock(&h->mu);
    return;
  }
  int oom = ward__proc_oom_killed(&w->proc); /* before its close */
  ward__guard_remove(&h->guard, &was);
  if (ward__fd_valid(ward__proc_watch(&was)))
    ward__loop_del(h->loop, ward__proc_watch(&was));
  ward__proc_close(&w->proc);
  close_listener(w);
  close_notify(w);
  /* What it printed before it died is in the ring before its exit is
   * reported. Its group is dead, so the pipes hold all there will be. */
  ward__output_read(w, WARD_LOG_STDOUT, 1);
  ward__output_read(w, WARD_LOG_STDERR, 1);
  ward__output_close(w, WARD_LOG_STDOUT);
  ward__output_close(w, WARD_LOG_STDERR);
  ward__conn *c = w->conn;
  w->conn = NULL;
  /* A violation not reported yet is why it went. */
  if (c && !w->life.reason)
    report_violation(w, c);
  int conn_err = w->life.state == WARD__L_STOPPING ? WARD_ECLOSED : WARD_ECRASHED;
  ward__lev ev = {.type = WARD__LE_EXIT, .code = code, .signal = sig, .pid = pid,
                  .oom = oom};
  ward__worker_post(w, &ev, NULL);
  int fwd = w->fwd_len > 0;
  pthread_cond_broadcast(&h->cond);
  pthread_mutex_unlock(&h->mu);
  if (fwd)
    ward__output_forward(w);
  if (c) {
    /* Answers the worker wrote before it died still count. */
    ward__conn_pump(c);
    ward__conn_close(c, conn_err);
    ward__conn_unref(c);
  }
}

/* ------------------------------------------------------------------ */
/* Swapping processes (spares, replacement)                            */

/* The loop stops watching the descriptors of the worker's process. */
static void unwatch_process(ward_worker *w) {
  ward__loop *l = w->host->loop;
  ward__fd fds[] = {ward__proc_watch(&w->proc), w->listen_fd, w->notify_fd, w->out_fd,
                    w->err_fd};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
    if (ward__fd_valid(fds[i]))
      ward__loop_del(l, fds[i]);
}

/* And watches them again, for `w`. Each was in the loop a moment ago
 * (unwatch_process), so the room for it is there. */
static void watch_process(ward_worker *w) {
  ward__loop *l = w->host->loop;
  if (ward__fd_valid(w->listen_fd)) {
    w->listen_watch = (ward__watch){accept_ready, w};
    ward__loop_add(l, w->listen_fd, WARD__IN, &w->listen_watch);
  }
  if (ward__fd_valid(w->notify_fd)) {
    w->notify_watch = (ward__watch){notify_ready, w};
    ward__loop_add(l, w->notify_fd, WARD__IN, &w->notify_watch);
  }
  ward__output_watch(w);
  if (ward__fd_valid(ward__proc_watch(&w->proc))) {
    w->pid_watch = (ward__watch){exit_ready, w};
    ward__loop_add(l, ward__proc_watch(&w->proc), WARD__IN, &w->pid_watch);
  }
}

static void swap_bytes(void *x, void *y, size_t n) {
  unsigned char *p = x, *q = y;
  for (size_t i = 0; i < n; i++) {
    unsigned char t = p[i];
    p[i] = q[i];
    q[i] = t;
  }
}

#define SWAP(field) swap_bytes(&a->field, &b->field, sizeof a->field)

void ward__worker_swap(ward_worker *a, ward_worker *b) {
  unwatch_process(a);
  unwatch_process(b);
  SWAP(proc);
  SWAP(conn);
  SWAP(listen_fd);
  SWAP(sock_dir);
  SWAP(sock_path);
  SWAP(out_fd);
  SWAP(err_fd);
  SWAP(notify_fd);
  SWAP(sandbox);
  SWAP(landlock_abi);
  SWAP(log_pid);
  SWAP(reap_at);
  SWAP(conn_due);
  SWAP(token);
  /* What a process wrote since its last newline goes with its pipes: the
   * stored lines stay where they are. */
  ward__logring_swap_partial(&a->logs, &b->logs);
  /* The worker's connection is the worker's, whoever held it before: what
   * its process sends (a request for a host handler, a close) concerns
   * the worker. The other one, an old process's, was the worker's
   * already. No other thread reads a hidden handle's connection, and the
   * loop, which does, is this thread. */
  ward_worker *owner = a->spare_of ? b : a;
  if (owner->conn)
    owner->conn->owner = owner;
  watch_process(a);
  watch_process(b);
}

#undef SWAP

/* ------------------------------------------------------------------ */
/* Destruction                                                         */

void ward__worker_unlink(ward_host *h, ward_worker *w) {
  ward__job_cancel(h, &w->start_job);
  if (w->group)
    ward__group_remove(w->group, w);
  if (w->prev)
    w->prev->next = w->next;
  else
    h->first = w->next;
  if (w->next)
    w->next->prev = w->prev;
  else
    h->last = w->prev;
  w->prev = w->next = NULL;
}

void ward__worker_destroy(ward_worker *w) {
  if (w->conn) {
    ward__conn_close(w->conn, WARD_ECLOSED);
    ward__conn_unref(w->conn);
  }
  close_listener(w);
  ward__close(w->notify_fd);
  ward__proc_close(&w->proc);
  ward__close(w->out_fd);
  ward__close(w->err_fd);
  ward__logring_free(&w->logs);
  free(w->fwd);
  ward__spares_destroy(w);
  /* A hidden handle's directory is its worker's. */
  if (w->data_dir && !w->spec->keep_data && !w->spare_of) {
    ward__remove_tree(w->data_dir);
    ward__guard_remove_dir(&w->host->guard, w->id);
  }
  free(w->data_dir);
  ward__strv_free(w->methods);
  ward__meta_free(w->meta, w->nmeta);
  for (size_t i = 0; i < w->nretired; i++)
    free(w->retired[i]);
  free(w->retired);
  if (!w->spec_borrowed)
    ward_spec_free(w->spec);
  for (size_t i = 0; i < w->nold_specs; i++)
    ward_spec_free(w->old_specs[i]);
  free(w->old_specs);
  free(w);
}

