/*
 * server.c — a ward server on a Unix socket path: programs that were not
 * spawned by it connect (ward_client_open) and call its handlers. Each
 * connection is served on a thread of its own by the client code in its
 * server role (client.c), so handlers may block.
 *
 * Bounds. The server holds at most `max_conns` connections, and so as many
 * threads besides its accepting one. A connection is in its handshake
 * (until the handshake deadline, which its own thread keeps), idle, or
 * busy handling a frame; its thread says which (peer_state). A newcomer at
 * the limit gets room from the accepting thread (make_room): it picks a
 * connection that is not busy, marks it dropped, closes it and waits for
 * its thread to end before starting the newcomer's, so the threads never
 * outnumber the limit. The mark and a thread's move to busy are made under
 * the server's lock: a dropped connection never starts a handler, and a
 * busy one is never cut. When every connection is busy, the accepting
 * thread answers the newcomer's HELLO-to-be with a GOODBYE (busy) and
 * closes it, holding no thread for it.
 *
 * A server attached to a host serves its connections on the host's loop
 * instead, with no thread at all: server_loop.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"
#include "server_int.h"

/* A connection's state besides WARD__PEER_IDLE and WARD__PEER_BUSY. */
enum { PEER_HANDSHAKE = 0 };

typedef struct peer {
  struct peer *next;
  ward_server *server;
  ward_client *client; /* NULL once its thread is ending (mu) */
  pthread_t thread;
  int pid;             /* the peer's, when it connected */
  int state;           /* PEER_HANDSHAKE, WARD__PEER_IDLE or WARD__PEER_BUSY (mu) */
  int64_t since_us;    /* when it connected, or last became idle (mu) */
  int dropped;         /* the server closed it to make room (mu) */
  int done;            /* its thread has finished with it: join (mu) */
} peer;

int ward_server_new(ward_server **out) {
  if (!out)
    return ward__fail(WARD_EINVAL, "NULL out");
  ward_server *s = calloc(1, sizeof *s);
  if (!s)
    return WARD_ENOMEM;
  s->listen_fd = WARD__FD_NONE;
  s->max_conns = WARD_SERVER_MAX_CONNS_DEFAULT;
  s->handshake_ms = WARD_SERVER_HANDSHAKE_MS_DEFAULT;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cond, NULL);
  *out = s;
  return 0;
}

int ward_server_handle(ward_server *s, const char *method, ward_handler fn, void *ud) {
  if (!s)
    return ward__fail(WARD_EINVAL, "NULL server");
  pthread_mutex_lock(&s->mu);
  int rv = s->running ? ward__fail(WARD_EINVAL, "handlers must be set before ward_server_listen")
                      : ward__handlers_set(&s->handlers, method, fn, ud);
  pthread_mutex_unlock(&s->mu);
  return rv;
}

int ward_server_limits(ward_server *s, int max_conns, int handshake_ms) {
  if (!s || max_conns == 0 || handshake_ms == 0)
    return ward__fail(WARD_EINVAL, "ward_server_limits needs a server and limits of 1 or more "
                                   "(negative: unchanged)");
  pthread_mutex_lock(&s->mu);
  int rv = s->running ? ward__fail(WARD_EINVAL, "limits must be set before ward_server_listen") : 0;
  if (!rv && max_conns > 0)
    s->max_conns = max_conns;
  if (!rv && handshake_ms > 0)
    s->handshake_ms = handshake_ms;
  pthread_mutex_unlock(&s->mu);
  return rv;
}

int ward_server_on_drop(ward_server *s, ward_server_drop_cb cb, void *ud) {
  if (!s)
    return ward__fail(WARD_EINVAL, "NULL server");
  pthread_mutex_lock(&s->mu);
  int rv = s->running ? ward__fail(WARD_EINVAL, "on_drop must be set before ward_server_listen")
                      : 0;
  if (!rv) {
    s->on_drop = cb;
    s->drop_ud = ud;
  }
  pthread_mutex_unlock(&s->mu);
  return rv;
}

const char *ward_drop_reason_name(int reason) {
  static const char *const names[] = {"none", "busy", "idle", "handshake-timeout", "protocol"};
  if (reason < 0 || (size_t)reason >= sizeof names / sizeof names[0])
    return "unknown";
  return names[reason];
}

void ward__server_report(ward_server *s, const ward_server_drop *d) {
  if (s->on_drop && d->reason)
    s->on_drop(d, s->drop_ud);
}

/* ------------------------------------------------------------------ */
/* A connection's thread                                               */

/* Told by the connection's loop (ward__peer_fn). */
static int peer_state(void *ud, int state) {
  peer *p = ud;
  ward_server *s = p->server;
  pthread_mutex_lock(&s->mu);
  int dropped = p->dropped;
  if (!dropped && p->state != state) {
    p->state = state;
    if (state == WARD__PEER_IDLE)
      p->since_us = ward__now_us();
  }
  pthread_mutex_unlock(&s->mu);
  return dropped;
}

/* What the loop's end tells the server's program, unless the server
 * dropped the connection itself: a handshake that did not come in time,
 * or a broken protocol (`detail` gets the thread's error sentence). */
static void drop_of(int rv, const peer *p, int64_t now_us, ward_server_drop *d, char *detail,
                    size_t cap) {
  memset(d, 0, sizeof *d);
  d->pid = p->pid;
  d->greeted = p->state != PEER_HANDSHAKE;
  if (rv == WARD_ETIMEDOUT && !d->greeted) {
    d->reason = WARD_DROP_HANDSHAKE_TIMEOUT;
    d->idle_ms = (now_us - p->since_us) / 1000;
  } else if (rv == WARD_EPROTO || rv == WARD_ETOOBIG || rv == WARD_EHANDSHAKE) {
    d->reason = WARD_DROP_PROTOCOL;
    snprintf(detail, cap, "%s", ward_last_error());
    d->detail = detail;
  }
}

static void *serve_peer(void *arg) {
  peer *p = arg;
  ward_server *s = p->server;
  int rv = ward_client_run(p->client);
  char detail[256];
  ward_server_drop d;
  pthread_mutex_lock(&s->mu);
  ward_client *c = p->client;
  p->client = NULL; /* ending: nobody closes it from now on */
  drop_of(rv, p, ward__now_us(), &d, detail, sizeof detail);
  if (p->dropped)
    d.reason = 0; /* the accepting thread told of it */
  pthread_mutex_unlock(&s->mu);
  ward_client_free(c);
  ward__server_report(s, &d);
  pthread_mutex_lock(&s->mu);
  p->done = 1;
  pthread_cond_broadcast(&s->cond);
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* ------------------------------------------------------------------ */
/* Accepting (the accepting thread, mu held unless said)               */

/* Joins the threads that are done and forgets their peers. */
static void reap(ward_server *s) {
  for (peer **pp = &s->peers; *pp;) {
    peer *p = *pp;
    if (!p->done) {
      pp = &p->next;
      continue;
    }
    *pp = p->next;
    pthread_join(p->thread, NULL); /* it only returns now */
    s->npeers--;
    free(p);
  }
}

/* Its thread is on its way out: dropped, or its loop returned. */
static int ending(const peer *p) { return !p->done && (p->dropped || !p->client); }

/* Whether `a` goes before `b`: one still in its handshake before any that
 * completed it, then the one idle the longest. */
static int drop_first(const peer *a, const peer *b) {
  int ah = a->state == PEER_HANDSHAKE, bh = b->state == PEER_HANDSHAKE;
  if (ah != bh)
    return ah;
  return a->since_us < b->since_us;
}

/* The connection to drop for a newcomer, among those not busy; NULL when
 * every one is. */
static peer *pick_drop(ward_server *s) {
  peer *best = NULL;
  for (peer *p = s->peers; p; p = p->next)
    if (!p->done && !ending(p) && p->state != WARD__PEER_BUSY && (!best || drop_first(p, best)))
      best = p;
  return best;
}

/* Makes room for one more connection: at the limit, drops one and waits
 * for its thread to end (or for one already ending). Returns 0, or -1 when
 * every connection is busy. *d tells of the drop (reason 0: none). */
static int make_room(ward_server *s, int64_t now_us, ward_server_drop *d) {
  for (;;) {
    reap(s);
    if (s->npeers < (size_t)s->max_conns)
      return 0;
    int going = 0;
    for (peer *p = s->peers; p && !going; p = p->next)
      going = ending(p);
    if (!going) {
      peer *v = pick_drop(s);
      if (!v)
        return -1;
      *d = (ward_server_drop){.reason = WARD_DROP_IDLE,
                              .pid = v->pid,
                              .greeted = v->state != PEER_HANDSHAKE,
                              .idle_ms = (now_us - v->since_us) / 1000};
      v->dropped = 1;
      ward__conn_close(ward__client_conn(v->client), WARD_ECLOSED);
    }
    pthread_cond_wait(&s->cond, &s->mu);
  }
}

/* A newcomer while every connection is busy: a GOODBYE instead of the
 * WELCOME it is about to ask for (a client reads it after its HELLO,
 * even when that HELLO found the socket closed), then it goes. */
void ward__server_refuse(ward__fd fd, int max_conns) {
  char text[96];
  int n = snprintf(text, sizeof text,
                   "server busy: every one of its connections is in a call (limit %d)",
                   max_conns);
  uint8_t f[WARD__HDR_SIZE + sizeof text];
  ward__hdr h = {.kind = WARD__K_GOODBYE, .len = (uint32_t)n, .aux = WARD__BYE_BUSY};
  ward__hdr_put(f, &h);
  memcpy(f + WARD__HDR_SIZE, text, (size_t)n);
  ward__buf b = {f, WARD__HDR_SIZE + (size_t)n};
  ward__sock_send(fd, &b, 1); /* a fresh socket takes it whole */
  ward__close(fd);
}

/* Starts the thread of a connection accepted at `now_us`. */
static void start_peer(ward_server *s, ward__fd fd, int pid, int64_t now_us) {
  peer *p = calloc(1, sizeof *p);
  int64_t deadline = (now_us + 999) / 1000 + s->handshake_ms; /* not a moment less */
  if (!p || ward__client_accepted(&p->client, fd, &s->handlers, deadline, peer_state, p)) {
    if (!p)
      ward__close(fd);
    free(p);
    return;
  }
  p->server = s;
  p->pid = pid;
  p->state = PEER_HANDSHAKE;
  p->since_us = now_us;
  if (pthread_create(&p->thread, NULL, serve_peer, p) != 0) {
    ward_client_free(p->client);
    free(p);
    return;
  }
  p->next = s->peers;
  s->peers = p;
  s->npeers++;
}

/* One connection (mu not held): someone of this user (or root), on a
 * thread of its own if there is room. */
static void accept_peer(ward_server *s, ward__fd fd) {
  int pid = 0;
  if (ward__peer_is_us(fd, 1, &pid) != 1) {
    ward__close(fd);
    return;
  }
  int64_t now_us = ward__now_us();
  ward_server_drop d = {0};
  pthread_mutex_lock(&s->mu);
  int full = make_room(s, now_us, &d);
  if (!full)
    start_peer(s, fd, pid, now_us);
  int max = s->max_conns;
  pthread_mutex_unlock(&s->mu);
  if (full) {
    ward__server_refuse(fd, max);
    d = (ward_server_drop){.reason = WARD_DROP_BUSY, .pid = pid};
  }
  ward__server_report(s, &d);
}

static void *accept_loop(void *arg) {
  ward_server *s = arg;
  int timeout = -1, listening = 1;
  for (;;) {
    ward__loop_event evs[2];
    int n = ward__loop_wait(s->loop, evs, 2, timeout);
    if (n < 0 || atomic_load(&s->stopping))
      break;
    /* Out of descriptors (EMFILE, ENFILE): the pending connection stays
     * readable, so rather than spin on it, the listener is left alone
     * for a moment (the wake-up is still watched). */
    if (!listening)
      listening = !ward__loop_add(s->loop, s->listen_fd, WARD__IN, &s->listen_fd);
    timeout = -1;
    ward__fd fd;
    int rv;
    while ((rv = ward__accept(s->listen_fd, &fd)) > 0)
      accept_peer(s, fd);
    if (rv < 0) {
      ward__loop_del(s->loop, s->listen_fd);
      listening = 0;
      timeout = 100;
    }
  }
  return NULL;
}


int ward_server_listen(ward_server *s, const char *path) {
  if (!s || !path || !*path)
    return ward__fail(WARD_EINVAL, "ward_server_listen needs a server and a path");
  if (!ward__unix_path_fits(path))
    return ward__fail(WARD_EINVAL, "socket path too long: %s", path);
  pthread_mutex_lock(&s->mu);
  int running = s->running;
  pthread_mutex_unlock(&s->mu);
  if (running)
    return ward__fail(WARD_EINVAL, "the server listens already");
  int rv = ward__unix_claim(path);
  if (rv)
    return rv;
  ward__fd fd;
  rv = ward__unix_listen(path, 0600, 64, &fd); /* owner only */
  if (rv)
    return ward__fail_errno(WARD_ESYS, rv, "listen");
  if (!s->host) {
    rv = ward__loop_new(&s->loop, 0);
    if (!rv)
      rv = ward__loop_add(s->loop, fd, WARD__IN, &s->listen_fd);
  }
  if (rv) {
    ward__close(fd);
    ward__unix_unlink(path);
    return rv;
  }
  s->listen_fd = fd;
  s->path = strdup(path);
  if (s->host) {
    rv = s->path ? ward__server_attached_listen(s) : WARD_ENOMEM;
    if (rv) {
      ward__unix_unlink(path);
      ward__close(fd);
      s->listen_fd = WARD__FD_NONE;
    }
    return rv;
  }
  pthread_mutex_lock(&s->mu);
  int e = s->path ? pthread_create(&s->thread, NULL, accept_loop, s) : ENOMEM;
  s->running = e == 0;
  pthread_mutex_unlock(&s->mu);
  if (e) {
    ward__unix_unlink(path);
    return e == ENOMEM ? WARD_ENOMEM : ward__fail_errno(WARD_ESYS, e, "pthread_create");
  }
  return 0;
}

size_t ward_server_connections(ward_server *s) {
  if (!s)
    return 0;
  if (s->host)
    return ward__server_attached_count(s);
  size_t n = 0;
  pthread_mutex_lock(&s->mu);
  for (peer *p = s->peers; p; p = p->next)
    n += !p->done && !ending(p);
  pthread_mutex_unlock(&s->mu);
  return n;
}

void ward_server_free(ward_server *s) {
  if (!s)
    return;
  if (s->host) {
    ward__server_attached_free(s);
    return;
  }
  if (s->running) {
    atomic_store(&s->stopping, 1);
    ward__loop_wake(s->loop);
    pthread_join(s->thread, NULL);
  }
  /* No new peers now: end the connections and wait for their threads
   * (a handler still running is waited for). */
  pthread_mutex_lock(&s->mu);
  for (peer *p = s->peers; p; p = p->next)
    if (p->client)
      ward__conn_close(ward__client_conn(p->client), WARD_ECLOSED);
  for (;;) {
    reap(s);
    if (!s->peers)
      break;
    pthread_cond_wait(&s->cond, &s->mu);
  }
  pthread_mutex_unlock(&s->mu);
  if (s->path)
    ward__unix_unlink(s->path);
  ward__close(s->listen_fd);
  ward__loop_free(s->loop);
  ward__handlers_free(&s->handlers);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cond);
  free(s->path);
  free(s);
}
