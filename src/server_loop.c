/*
 * server_loop.c — a ward server attached to a host (ward_server_attach):
 * its listener and connections on the host's loop, no thread of its own.
 * It owns the attached peers (struct lpeer) and may touch the host only
 * through the loop's seam (watches, timers, jobs, the closed queue: see
 * worker.h); the server's settings and drop reporting are server.c's.
 *
 * Design notes. The listener and every connection are watched by the
 * host's loop, and everything below runs on the loop's thread (the
 * host's own, or the one driving an external loop), so the server's
 * peers need no lock of their own. A connection is a ward__conn with
 * the ops below, as a worker's is (worker.c): its frames arrive through
 * ward__conn_pump, its close is handed to the loop (ward__host_closed),
 * and the loop's reference is dropped after the turn (dead_conn). Its
 * requests wait in its own queue and are served one at a time, in order:
 * a connection is "in a call" from the moment a request is handed to its
 * handler until the call ends, which for a deferred call is when another
 * thread (or the loop, later) ends the copy; that end comes back to the
 * loop as a job (answered), which serves what waited meanwhile. So a
 * peer struct lives until its connection is closed and it is in no call;
 * one whose server was freed meanwhile (orphan) is freed by the job.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hello.h"
#include "platform.h"
#include "server_int.h"

typedef struct lpeer {
  struct lpeer *next;
  ward_server *server; /* NULL once the loop has handled its close */
  ward__conn *conn;
  int pid;
  int greeted;
  int in_call;         /* a request was handed to a handler, and the loop
                          has not yet seen its end */
  atomic_int call_over; /* the deferred call has ended (told at once by the
                           thread that ended it, before the loop hears) */
  _Atomic int64_t ended_us; /* when it ended (written before call_over) */
  atomic_int watching; /* the call it is in is a watch (ward_ctx_watch):
                          it may be closed to make room, as an idle one */
  int closing;         /* the server closed it (not counted in nopen) */
  int reported;        /* its drop was told already */
  int closed;          /* the loop has handled its close */
  int64_t since_us;    /* when it connected, or last became idle */
  ward__itemq inbox;   /* requests and notifications not served yet */
  ward__timer hello;   /* the handshake deadline */
  ward__job answered;  /* a deferred call of it ended (host's lock) */
} lpeer;

static void listen_retry(ward__timer *t, int64_t now);

int ward_server_attach(ward_server *s, ward_host *host) {
  if (!s || !host)
    return ward__fail(WARD_EINVAL, "ward_server_attach needs a server and a host");
  pthread_mutex_lock(&s->mu);
  int rv = s->running ? ward__fail(WARD_EINVAL, "attach before ward_server_listen")
           : s->host  ? ward__fail(WARD_EINVAL, "the server is attached already")
                      : 0;
  if (!rv) {
    s->host = host;
    s->retry = (ward__timer){.due = INT64_MAX, .idx = SIZE_MAX, .fire = listen_retry, .obj = s};
  }
  pthread_mutex_unlock(&s->mu);
  return rv;
}

static void lpeer_free(lpeer *p) {
  ward__item *it;
  while ((it = ward__itemq_pop(&p->inbox)))
    ward__item_free(it);
  free(p);
}

/* The server lets `p` go: closes it and tells why (loop thread). */
static void lpeer_drop(lpeer *p, int err, const ward_server_drop *d) {
  ward_server *s = p->server;
  if (!p->closing) {
    p->closing = 1;
    s->nopen--;
  }
  p->reported = 1;
  ward__conn_close(p->conn, err);
  ward__server_report(s, d);
}

static void lpeer_timeout(ward__timer *t, int64_t now) {
  lpeer *p = t->obj;
  if (p->greeted || p->closing || !p->server)
    return;
  ward__fail(WARD_ETIMEDOUT, "no complete HELLO from the client by the handshake deadline");
  ward_server_drop d = {.reason = WARD_DROP_HANDSHAKE_TIMEOUT,
                        .pid = p->pid,
                        .idle_ms = now - p->since_us / 1000};
  lpeer_drop(p, WARD_ETIMEDOUT, &d);
}

static void lpeer_call_ended(void *ud);

/* Serves the frames that waited, in order, until one is handed to a
 * handler that defers its answer (loop thread). */
static void serve_next(lpeer *p) {
  ward__item *it;
  while (!p->in_call && !p->closed && p->server && (it = ward__itemq_pop(&p->inbox))) {
    ward_server *s = p->server;
    ward__conn_pending(p->conn, ward__item_weight(it), 0);
    if (it->h.kind == WARD__K_GOODBYE) {
      /* The client leaves: nothing after it is read, and it is not a
       * drop of the server's. */
      p->reported = 1;
      ward__conn_close(p->conn, WARD_ECLOSED);
      ward__item_free(it);
      break;
    }
    const ward__handler_entry *e = ward__handlers_find(&s->handlers, it->name);
    if (!e) {
      ward__serve_nomethod(p->conn, it, 0);
    } else {
      ward_ctx ctx;
      memset(&ctx, 0, sizeof ctx);
      ctx.conn = p->conn;
      ctx.host = s->host;
      ctx.on_end = lpeer_call_ended;
      ctx.end_ud = p;
      ctx.watch = &p->watching;
      p->in_call = 1;
      ward__serve(&ctx, it, e->fn, e->ud);
      p->in_call = ctx.handed_off;
    }
    if (!p->in_call)
      p->since_us = ward__now_us();
    ward__item_free(it);
  }
}

/* A deferred call ended (any thread, no lock of ward's): the loop serves
 * what waited behind it. */
static void lpeer_call_ended(void *ud) {
  lpeer *p = ud;
  ward_host *h = p->answered.obj;
  atomic_store(&p->ended_us, ward__now_us());
  atomic_store(&p->call_over, 1); /* no longer in a call, for make_room */
  pthread_mutex_lock(&h->mu);
  /* A peer whose close the loop has handled waits for nothing but this
   * (and its host may be on its way out): freed here. */
  int gone = p->closed;
  if (!gone)
    ward__job_queue(h, &p->answered);
  pthread_mutex_unlock(&h->mu);
  if (gone)
    lpeer_free(p);
  else if (!ward__on_io_thread(h))
    ward__host_wake(h);
}

/* The job of lpeer_call_ended, for a peer still open then. */
static void lpeer_answered(ward__job *job) {
  lpeer *p = (lpeer *)(void *)((char *)job - offsetof(lpeer, answered));
  p->in_call = 0;
  atomic_store(&p->call_over, 0);
  atomic_store(&p->watching, 0);
  p->since_us = atomic_load(&p->ended_us); /* idle from the call's end on */
  if (p->closed) {
    lpeer_free(p); /* its connection went meanwhile */
    return;
  }
  serve_next(p);
}

static int lpeer_hello(lpeer *p, const ward__frame *f) {
  ward__conn *c = p->conn;
  if (p->greeted)
    return ward__fail(WARD_EPROTO, "peer sent its greeting twice");
  if (f->h.aux < 1) {
    static const char text[] = "no common protocol version";
    ward__hdr bye = {.kind = WARD__K_GOODBYE, .len = sizeof text - 1, .aux = WARD__BYE_VERSION};
    ward__conn_send(c, &bye, NULL, text, sizeof text - 1, NULL, 0, 0, 0);
    ward_server_drop d = {.reason = WARD_DROP_PROTOCOL, .pid = p->pid, .detail = text};
    ward__fail(WARD_EHANDSHAKE, "%s", text);
    lpeer_drop(p, WARD_EHANDSHAKE, &d);
    return WARD_EHANDSHAKE;
  }
  uint32_t max = c->max_out;
  ward__hello_max_frame(f->payload, f->h.len, &max);
  pthread_mutex_lock(&c->mu);
  c->max_out = max;
  pthread_mutex_unlock(&c->mu);
  char body[64];
  int n = snprintf(body, sizeof body, "max_frame=%u\npid=%d\n", c->max_in, ward__self_pid());
  ward__hdr h = {.kind = WARD__K_WELCOME,
                 .len = (uint32_t)n,
                 .aux = f->h.aux < WARD_PROTOCOL_VERSION ? f->h.aux : WARD_PROTOCOL_VERSION};
  p->greeted = 1;
  p->since_us = ward__now_us();
  ward_host *hst = p->server->host;
  pthread_mutex_lock(&hst->mu);
  ward__timer_remove(hst, &p->hello);
  pthread_mutex_unlock(&hst->mu);
  int rv = ward__conn_send(c, &h, NULL, body, (size_t)n, NULL, 0, 0, 0);
  return rv == WARD_ENOMEM ? rv : 0;
}

/* A frame from the peer (loop thread, inside ward__conn_pump). */
static int lpeer_inbound(ward__conn *c, const ward__frame *f, uint8_t *owned) {
  lpeer *p = c->owner;
  uint8_t kind = f->h.kind;
  if (kind == WARD__K_HELLO) {
    free(owned);
    return lpeer_hello(p, f);
  }
  if (!p->greeted || kind == WARD__K_WELCOME) {
    free(owned);
    return kind == WARD__K_WELCOME
               ? ward__fail(WARD_EPROTO, "peer sent WELCOME, which only the other side sends")
               : ward__fail(WARD_EPROTO, "client sent kind %u before HELLO", kind);
  }
  switch (kind) {
  case WARD__K_REQUEST:
  case WARD__K_NOTIFY:
  case WARD__K_GOODBYE: {
    ward__item *it = ward__item_new(f, owned);
    if (!it)
      return WARD_ENOMEM;
    ward__conn_pending(c, ward__item_weight(it), 1);
    ward__itemq_push(&p->inbox, it);
    return 0;
  }
  case WARD__K_PING:
    return ward__conn_pong(c, f->h.id, owned);
  case WARD__K_CANCEL:
    /* A request still waiting is answered ECANCELED without running; one
     * being served is not told (as for host handlers). */
    free(owned);
    for (ward__item *it = p->inbox.head; it; it = it->next)
      if (it->h.kind == WARD__K_REQUEST && it->h.id == f->h.id)
        it->cancelled = 1;
    return 0;
  case WARD__K_CREDIT:
    free(owned); /* handlers here keep no window */
    return 0;
  default:
    free(owned);
    return ward__fail(WARD_EPROTO, "peer sent an unexpected frame kind %u", kind);
  }
}

/* With the conn's lock held (never after the close, which ends it). */
static void lpeer_watch(ward__conn *c, int events) {
  lpeer *p = c->owner;
  ward__loop_mod(p->server->host->loop, c->fd, events, &c->watch);
}

static void lpeer_loop_closed(ward__conn *c);

/* Any thread: the loop handles the close. */
static void lpeer_closed(ward__conn *c, int err) {
  (void)err;
  lpeer *p = c->owner;
  ward__host_closed(p->answered.obj, c, lpeer_loop_closed);
}

static const ward__conn_ops lpeer_ops = {lpeer_inbound, lpeer_watch, NULL,
                                         lpeer_closed,  NULL,        NULL, NULL};

/* The loop's side of a close: the registration goes, the drop is told if
 * the peer broke the protocol, and the peer is freed unless a call of it
 * is still out. */
static void lpeer_loop_closed(ward__conn *c) {
  lpeer *p = c->owner;
  ward_server *s = p->server;
  ward_host *h = p->answered.obj;
  char why[200];
  int violation = ward__conn_claim_violation(c, why, sizeof why);
  if (s) {
    for (lpeer **pp = &s->lpeers; *pp; pp = &(*pp)->next)
      if (*pp == p) {
        *pp = p->next;
        break;
      }
    if (!p->closing) {
      p->closing = 1;
      s->nopen--;
    }
    if (!p->reported && violation) {
      ward_server_drop d = {.reason = WARD_DROP_PROTOCOL,
                            .pid = p->pid,
                            .greeted = p->greeted,
                            .detail = why};
      ward__server_report(s, &d);
    }
  }
  pthread_mutex_lock(&h->mu);
  ward__loop_del(h->loop, c->fd);
  ward__host_dead_conn(h, c);
  ward__timer_remove(h, &p->hello);
  p->server = NULL; /* nothing of the server's is looked at from now on */
  p->closed = 1;     /* its call's end frees it (lpeer_call_ended) */
  int idle = !p->in_call;
  if (s) {
    /* The last thing done with the server: ward_server_free may be
     * waiting for it, and frees the server as soon as it sees it. */
    s->nlive--;
    pthread_cond_broadcast(&h->cond);
  }
  pthread_mutex_unlock(&h->mu);
  if (idle)
    lpeer_free(p);
}

/* The connection's socket is ready (loop thread). */
static void lpeer_ready(ward__watch *wt, int events) {
  ward__conn *c = wt->obj;
  lpeer *p = c->owner;
  if (events & WARD__OUT)
    ward__conn_flush(c);
  if (events & (WARD__IN | WARD__HUP))
    ward__conn_pump(c);
  serve_next(p);
}

/* Since when `p` has been idle: a call that has ended counts from its
 * end, even before the loop has heard of it (lpeer_answered). */
static int64_t lpeer_idle_since(const lpeer *p) {
  if (p->in_call && atomic_load(&p->call_over))
    return atomic_load(&p->ended_us);
  return p->since_us;
}

/* Whether `a` goes before `b` when making room (drop_first's rule). */
static int lpeer_drop_first(const lpeer *a, const lpeer *b) {
  if (a->greeted != b->greeted)
    return !a->greeted;
  return lpeer_idle_since(a) < lpeer_idle_since(b);
}

/* At the limit, closes the connection that has waited the longest
 * outside a call; 0, or -1 when every connection is in a call. */
static int lpeer_make_room(ward_server *s, int64_t now_us) {
  if (s->nopen < (size_t)s->max_conns)
    return 0;
  lpeer *v = NULL;
  for (lpeer *p = s->lpeers; p; p = p->next)
    if (!p->closing &&
        (!p->in_call || atomic_load(&p->call_over) || atomic_load(&p->watching)) &&
        !p->inbox.head &&
        (!v || lpeer_drop_first(p, v)))
      v = p;
  if (!v)
    return -1;
  ward_server_drop d = {.reason = WARD_DROP_IDLE,
                        .pid = v->pid,
                        .greeted = v->greeted,
                        .idle_ms = (now_us - lpeer_idle_since(v)) / 1000};
  lpeer_drop(v, WARD_ECLOSED, &d);
  return 0;
}

static void lpeer_start(ward_server *s, ward__fd fd, int pid, int64_t now_us) {
  ward_host *h = s->host;
  lpeer *p = calloc(1, sizeof *p);
  ward__conn *c = NULL;
  if (!p || ward__conn_new(&c, fd, &lpeer_ops, p, WARD_MAX_FRAME_DEFAULT)) {
    ward__close(fd);
    free(p);
    return;
  }
  p->server = s;
  p->conn = c;
  p->pid = pid;
  p->since_us = now_us;
  p->answered = (ward__job){.run = lpeer_answered, .obj = h};
  p->hello = (ward__timer){.due = INT64_MAX, .idx = SIZE_MAX, .fire = lpeer_timeout, .obj = p};
  c->watch = (ward__watch){lpeer_ready, c};
  if (ward__loop_add(h->loop, fd, WARD__IN, &c->watch)) {
    ward__conn_unref(c);
    free(p);
    return;
  }
  p->next = s->lpeers;
  s->lpeers = p;
  s->nopen++;
  pthread_mutex_lock(&h->mu);
  s->nlive++;
  ward__timer_set(h, &p->hello, (now_us + 999) / 1000 + s->handshake_ms);
  pthread_mutex_unlock(&h->mu);
}

static void lpeer_accept(ward_server *s, ward__fd fd) {
  int pid = 0;
  if (ward__peer_is_us(fd, 1, &pid) != 1) {
    ward__close(fd);
    return;
  }
  int64_t now_us = ward__now_us();
  if (lpeer_make_room(s, now_us) == 0) {
    lpeer_start(s, fd, pid, now_us);
    return;
  }
  ward__server_refuse(fd, s->max_conns);
  ward_server_drop d = {.reason = WARD_DROP_BUSY, .pid = pid};
  ward__server_report(s, &d);
}

static void listen_retry(ward__timer *t, int64_t now);

static void listen_ready(ward__watch *wt, int events) {
  (void)events;
  ward_server *s = wt->obj;
  ward__fd fd;
  int rv = 0;
  while (!s->closing && (rv = ward__accept(s->listen_fd, &fd)) > 0)
    lpeer_accept(s, fd);
  if (!s->closing && rv < 0) {
    /* Out of descriptors (EMFILE, ENFILE): the pending connection stays
     * readable, so rather than spin on it, the listener is left alone
     * for a moment. */
    ward_host *h = s->host;
    ward__loop_del(h->loop, s->listen_fd);
    pthread_mutex_lock(&h->mu);
    ward__timer_set(h, &s->retry, ward__now_ms() + 100);
    pthread_mutex_unlock(&h->mu);
  }
}

static void listen_retry(ward__timer *t, int64_t now) {
  (void)now;
  ward_server *s = t->obj;
  if (!s->closing && ward__loop_add(s->host->loop, s->listen_fd, WARD__IN, &s->listen_watch))
    listen_ready(&s->listen_watch, 0); /* it tries again in a moment */
}

int ward__server_attached_listen(ward_server *s) {
  ward_host *h = s->host;
  s->listen_watch = (ward__watch){listen_ready, s};
  pthread_mutex_lock(&s->mu);
  s->running = 1;
  pthread_mutex_unlock(&s->mu);
  int rv = ward__loop_add(h->loop, s->listen_fd, WARD__IN, &s->listen_watch);
  if (rv) {
    pthread_mutex_lock(&s->mu);
    s->running = 0;
    pthread_mutex_unlock(&s->mu);
    return rv;
  }
  if (!ward__on_io_thread(h))
    ward__host_wake(h);
  return 0;
}

/* ward_server_free's work, on the loop: no more connections, and every
 * one open is closed (their closes are handled later in the turn). A
 * peer in a call becomes an orphan, freed when its call ends. */
static void close_job(ward__job *job) {
  ward_server *s = job->obj;
  ward_host *h = s->host;
  if (s->running)
    ward__loop_del(h->loop, s->listen_fd);
  for (lpeer *p = s->lpeers; p; p = p->next) {
    p->closing = 1;
    p->reported = 1;
    ward__conn_close(p->conn, WARD_ECLOSED);
  }
  pthread_mutex_lock(&h->mu);
  ward__timer_remove(h, &s->retry);
  s->closing = 1;
  pthread_cond_broadcast(&h->cond);
  pthread_mutex_unlock(&h->mu);
}

size_t ward__server_attached_count(ward_server *s) {
  ward_host *h = s->host;
  pthread_mutex_lock(&h->mu);
  size_t n = s->nlive;
  pthread_mutex_unlock(&h->mu);
  return n;
}

void ward__server_attached_free(ward_server *s) {
  ward_host *h = s->host;
  if (ward__on_io_thread(h))
    return; /* from a ward callback: it would wait for its own thread */
  s->close_job = (ward__job){.run = close_job, .obj = s};
  pthread_mutex_lock(&h->mu);
  ward__job_queue(h, &s->close_job);
  pthread_mutex_unlock(&h->mu);
  ward__host_wake(h);
  /* The loop runs the job, then handles the closes; a host whose loop
   * nobody drives is driven here (ward__host_wait). */
  pthread_mutex_lock(&h->mu);
  while (!s->closing || s->nlive)
    ward__host_wait(h, INT64_MAX);
  pthread_mutex_unlock(&h->mu);
  /* Peers still in a call were let go by their closes: each is freed
   * as its call ends (lpeer_answered). */
  if (s->path)
    ward__unix_unlink(s->path);
  ward__close(s->listen_fd);
  ward__handlers_free(&s->handlers);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cond);
  free(s->path);
  free(s);
}
