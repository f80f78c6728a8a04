/*
 * client.c — the worker's side: connect from the environment, handshake,
 * serve handlers, call the host.
 *
 * The serving loop is the connection's default reader; a thread calling
 * the host reads for itself while it waits (see conn.c). Handlers run on
 * the serving loop's thread without the reading role, so a handler may
 * call the host. Pings are answered by the loop, or at a handler's
 * progress/row/cancel-check boundaries: a worker wedged in a handler
 * stops answering them, which is what the host's hang detection needs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hello.h"
#include "platform.h"
#include "slog.h"
#include "ward_int.h"

/* How long the client waits for WELCOME after its HELLO (a server's own
 * deadline is its ward_server_limits). */
#define HANDSHAKE_MS 30000
/* Boundaries look at the socket at most this often. */
#define BOUNDARY_MS 1

struct ward_client {
  ward__conn *conn;
  ward__handlers handlers;
  pthread_mutex_t mu; /* the handshake */
  char *name;
  char *token;
  char *meta;         /* "meta.k=v\n" lines */
  size_t meta_len;
  int greeted;        /* 1 once WELCOME arrived; negative: the handshake failed */
  int server;         /* accepted by a ward_server: it waits for HELLO */
  int64_t hello_deadline; /* server role: when a HELLO not complete is too late */
  ward__peer_fn peer; /* server role: told when it is idle or busy, or NULL */
  void *peer_ud;
  int bye;            /* the serving loop reached the host's goodbye */
  atomic_int host_logs; /* the WELCOME said log=1: LOG frames are welcome */
  atomic_int bye_seen; /* a goodbye arrived: start no more handlers */
  int64_t last_pump;
  int no_shm;         /* does not offer the shared-memory transport */
};

/* Hands a frame to whoever reads the inbox (the serving loop). */
static int queue_inbound(ward__conn *c, const ward__frame *f, uint8_t *owned) {
  ward__item *it = ward__item_new(f, owned);
  if (!it)
    return WARD_ENOMEM;
  ward__conn_push_inbound(c, it);
  return 0;
}

static int client_inbound(ward__conn *c, const ward__frame *f, uint8_t *owned) {
  ward_client *cl = c->owner;
  switch (f->h.kind) {
  case WARD__K_CANCEL:
    free(owned);
    ward__conn_cancel_inbound(c, f->h.id);
    return 0;
  case WARD__K_CREDIT:
    free(owned);
    ward__conn_credit(c, f->h.id, f->h.aux);
    return 0;
  case WARD__K_HELLO:
  case WARD__K_WELCOME:
    /* The connecting side greets with HELLO, the serving side with WELCOME. */
    if ((f->h.kind == WARD__K_HELLO) != cl->server) {
      free(owned);
      return ward__fail(WARD_EPROTO, "peer sent %s, which only the other side sends",
                        f->h.kind == WARD__K_HELLO ? "HELLO" : "WELCOME");
    }
    return queue_inbound(c, f, owned);
  case WARD__K_GOODBYE:
    atomic_store(&cl->bye_seen, 1); /* the serving loop returns when it reaches it */
    return queue_inbound(c, f, owned);
  case WARD__K_REQUEST:
  case WARD__K_NOTIFY:
  case WARD__K_PING:
    return queue_inbound(c, f, owned);
  default:
    free(owned);
    return ward__fail(WARD_EPROTO, "peer sent an unexpected frame kind %u", f->h.kind);
  }
}

static const ward__conn_ops client_ops = {client_inbound, NULL, NULL, NULL, NULL, NULL, NULL};

/* ------------------------------------------------------------------ */
/* Connecting                                                          */

static int env_int(const char *name, long *out) {
  const char *s = getenv(name);
  if (!s || !*s)
    return 0;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (*end || errno)
    return 0;
  *out = v;
  return 1;
}

static int connect_path(const char *path, ward__fd *fd) {
  int e = ward__unix_connect(path, fd);
  if (e == ENAMETOOLONG)
    return ward__fail(WARD_EINVAL, "socket path too long: %s", path);
  if (e) {
    char what[160];
    snprintf(what, sizeof what, "connect to %.120s", path);
    return ward__fail_errno(e == ENOENT || e == ECONNREFUSED ? WARD_ECLOSED : WARD_ESYS, e, what);
  }
  return 0;
}

/* Dies with the host while the host is our parent: the kernel kills us
 * when the thread that started us ends, and a host sets WARD_PPID only
 * when that thread lives as long as it does. Asking first and comparing
 * after closes the race with a host that dies in between (we would have
 * a new parent by then). A parent that is not the host -- a wrapper that
 * forked us (a shell, a debugger), a sandbox's own pid namespace, or init
 * because the host is already gone: we cannot tell which -- must not take
 * us with it, so the signal is taken back; the end of the channel (at the
 * handshake at the latest) and the host's guard tell us instead
 * (protocol.md 2.4). */
static void follow_host(void) {
  long ppid;
  if (env_int("WARD_PPID", &ppid))
    ward__follow_parent(ppid);
}

/* A client over a connected socket. `own`: close fd when this fails. */
static int client_new(ward_client **out, ward__fd fd, int own, uint32_t max, const char *name,
                      const char *token) {
  /* Blocking mode: the serving loop waits in its read itself; every other
   * read and write says MSG_DONTWAIT. */
  int rv = ward__set_nonblock(fd, 0);
  ward_client *c = rv ? NULL : calloc(1, sizeof *c);
  if (!rv && !c)
    rv = WARD_ENOMEM;
  if (!rv)
    rv = ward__conn_new(&c->conn, fd, &client_ops, c, max);
  if (!rv && (!(c->name = strdup(name)) || (token && !(c->token = strdup(token))))) {
    ward__conn_unref(c->conn); /* closes fd */
    own = 0;
    rv = WARD_ENOMEM;
  }
  if (rv) {
    if (own)
      ward__close(fd);
    if (c)
      free(c->name);
    free(c);
    return rv;
  }
  c->conn->blocking_reads = 1;
  pthread_mutex_init(&c->mu, NULL);
  *out = c;
  return 0;
}

int ward_client_connect(ward_client **out) {
  if (!out)
    return ward__fail(WARD_EINVAL, "NULL out");
  ward__fd fd = WARD__FD_NONE;
  int rv, inherited = 0;
  long v;
  const char *path = getenv("WARD_SOCKET");
  if (env_int("WARD_FD", &v) && v >= 0) {
    inherited = 1;
    rv = ward__fd_inherited(v, &fd);
  } else if (path && *path) {
    rv = connect_path(path, &fd);
  } else {
    return ward__fail(WARD_EINVAL, "not started by a ward host (WARD_FD and WARD_SOCKET unset)");
  }
  long max = WARD_MAX_FRAME_DEFAULT;
  /* Compared as unsigned long long: where long has 32 bits (Windows),
   * (long)UINT32_MAX is -1 and every value would be "too large". */
  if (env_int("WARD_MAX_FRAME", &max) && (max <= 0 || (unsigned long long)max > UINT32_MAX))
    max = WARD_MAX_FRAME_DEFAULT;
  const char *name = getenv("WARD_NAME");
  if (!rv)
    rv = client_new(out, fd, !inherited, (uint32_t)max, name && *name ? name : "worker",
                    getenv("WARD_TOKEN"));
  if (!rv)
    follow_host();
  return rv;
}

int ward_client_open(ward_client **out, const char *path) {
  if (!out || !path || !*path)
    return ward__fail(WARD_EINVAL, "ward_client_open needs out and a socket path");
  ward__fd fd;
  int rv = connect_path(path, &fd);
  return rv ? rv : client_new(out, fd, 1, WARD_MAX_FRAME_DEFAULT, "client", NULL);
}

int ward__client_accepted(ward_client **out, ward__fd fd, const ward__handlers *handlers,
                          int64_t hello_deadline, ward__peer_fn peer, void *peer_ud) {
  int rv = client_new(out, fd, 1, WARD_MAX_FRAME_DEFAULT, "server", NULL);
  if (rv)
    return rv;
  ward_client *c = *out;
  c->server = 1;
  c->hello_deadline = hello_deadline;
  c->peer = peer;
  c->peer_ud = peer_ud;
  for (size_t i = 0; !rv && i < handlers->n; i++)
    rv = ward__handlers_set(&c->handlers, handlers->v[i].method, handlers->v[i].fn,
                            handlers->v[i].ud);
  if (rv) {
    ward_client_free(c);
    *out = NULL;
  }
  return rv;
}

ward__conn *ward__client_conn(ward_client *c) { return c->conn; }

int ward_client_handle(ward_client *c, const char *method, ward_handler fn, void *ud) {
  if (!c)
    return ward__fail(WARD_EINVAL, "NULL client");
  pthread_mutex_lock(&c->mu);
  int rv = c->greeted ? ward__fail(WARD_EINVAL, "handlers must be set before the handshake")
                      : ward__handlers_set(&c->handlers, method, fn, ud);
  pthread_mutex_unlock(&c->mu);
  return rv;
}

int ward_client_meta(ward_client *c, const char *key, const char *value) {
  if (!c || !key || !*key || !value || strpbrk(key, "=\n") || strchr(value, '\n'))
    return ward__fail(WARD_EINVAL, "metadata keys hold no '=' or newline, values no newline");
  size_t add = 5 + strlen(key) + 1 + strlen(value) + 1;
  pthread_mutex_lock(&c->mu);
  char *m = c->greeted ? NULL : realloc(c->meta, c->meta_len + add + 1);
  if (m) {
    snprintf(m + c->meta_len, add + 1, "meta.%s=%s\n", key, value);
    c->meta = m;
    c->meta_len += add;
  }
  int greeted = c->greeted;
  pthread_mutex_unlock(&c->mu);
  if (greeted)
    return ward__fail(WARD_EINVAL, "metadata must be set before the handshake");
  return m ? 0 : WARD_ENOMEM;
}

/* ------------------------------------------------------------------ */
/* Handshake                                                           */

/* Whether this client offers the host the shared-memory transport. */
static int offers_shm(const ward_client *c) {
  return !c->no_shm && !c->server && ward__shm_supported();
}

static char *hello_body(ward_client *c, size_t *len) {
  size_t cap = 128 + c->meta_len + (c->token ? strlen(c->token) : 0);
  for (size_t i = 0; i < c->handlers.n; i++)
    cap += 8 + strlen(c->handlers.v[i].method);
  char *b = malloc(cap);
  if (!b)
    return NULL;
  size_t n = (size_t)snprintf(b, cap, "pid=%d\nmax_frame=%u\n", ward__self_pid(),
                              c->conn->max_in);
  /* Payloads in shared memory, where this backend has them: descriptors
   * are read from now on, as the host may send one right after WELCOME. */
  if (ward__shm_supported()) {
    ward__zc_offered(c->conn);
    n += (size_t)snprintf(b + n, cap - n, "zerocopy=1\n");
  }
  if (c->token)
    n += (size_t)snprintf(b + n, cap - n, "token=%s\n", c->token);
  for (size_t i = 0; i < c->handlers.n; i++)
    n += (size_t)snprintf(b + n, cap - n, "method=%s\n", c->handlers.v[i].method);
  if (offers_shm(c))
    n += (size_t)snprintf(b + n, cap - n, "shm=1\n");
  if (c->meta_len) {
    memcpy(b + n, c->meta, c->meta_len);
    n += c->meta_len;
  }
  *len = n;
  return b;
}

void ward__client_offer_shm(ward_client *c, int on) { c->no_shm = !on; }

/* The host's WELCOME may announce the shared memory (protocol.md 17),
 * whose descriptor came with it: from now on the frames go there. */
static int take_link(ward_client *c, const ward__item *it) {
  ward__conn_want_fd(c->conn, 0);
  uint32_t cap;
  if (!ward__hello_shm(it->data, it->h.len, &cap))
    return 0; /* descriptors queued belong to frames, or are refused as strays */
  int more = 0, rv;
  ward__fd fd = ward__conn_take_fd(c->conn, &more);
  if (!offers_shm(c))
    rv = ward__fail(WARD_EPROTO, "the host announced shared memory this worker did not offer");
  else if (!ward__fd_valid(fd))
    rv = ward__fail(WARD_EPROTO, "the host announced shared memory and passed none");
  else if (more)
    rv = ward__fail(WARD_EPROTO, "the host passed more than one descriptor with its WELCOME");
  else
    rv = ward__conn_use_link(c->conn, fd, cap);
  if (ward__fd_valid(fd))
    ward__close(fd);
  return rv;
}

/* Takes the peer's `max_frame` from its HELLO or WELCOME lines. */
static void take_max_frame(ward_client *c, const ward__item *it) {
  ward__hello_max_frame(it->data, it->h.len, &c->conn->max_out);
}

/* A WELCOME with "log=1": the host takes log records (protocol.md 8.4). */
static void take_log(ward_client *c, const ward__item *it) {
  size_t pos = 0;
  ward__kv kv;
  while (ward__kv_next(it->data, it->h.len, &pos, &kv) == 1)
    if (kv.klen == 3 && memcmp(kv.key, "log", 3) == 0)
      atomic_store(&c->host_logs, kv.vlen == 1 && kv.val[0] == '1');
}

/* The error that closed the connection, or 0 while it is open. */
static int close_error(ward_client *c) {
  pthread_mutex_lock(&c->conn->mu);
  int err = c->conn->closed ? c->conn->close_err : 0;
  pthread_mutex_unlock(&c->conn->mu);
  return err;
}

/* Why no HELLO came: the peer broke the protocol (the reader, this
 * thread, recorded how), left, or let the deadline pass. */
static int no_hello(ward_client *c) {
  int err = close_error(c);
  if (err == WARD_EPROTO || err == WARD_ETOOBIG)
    return err;
  if (err)
    return ward__fail(WARD_ECLOSED, "the client left before its HELLO");
  return ward__fail(WARD_ETIMEDOUT, "no complete HELLO from the client by the handshake deadline");
}

/* The server's side: waits for HELLO, answers WELCOME (c->mu held). */
static int handshake_server(ward_client *c) {
  ward__item *it = ward__conn_next_inbound(c->conn, c->hello_deadline);
  int rv = 0;
  if (!it)
    rv = no_hello(c);
  else if (it->h.kind != WARD__K_HELLO)
    rv = ward__fail(WARD_EPROTO, "client sent kind %u before HELLO", it->h.kind);
  else if (it->h.aux < 1) {
    static const char text[] = "no common protocol version";
    ward__hdr bye = {.kind = WARD__K_GOODBYE, .len = sizeof text - 1, .aux = WARD__BYE_VERSION};
    ward__conn_send(c->conn, &bye, NULL, text, sizeof text - 1, NULL, 0, 1, ward__deadline(1000));
    rv = ward__fail(WARD_EHANDSHAKE, "%s", text);
  }
  if (!rv) {
    take_max_frame(c, it);
    char body[64];
    int n = snprintf(body, sizeof body, "max_frame=%u\npid=%d\n", c->conn->max_in,
                     ward__self_pid());
    ward__hdr h = {.kind = WARD__K_WELCOME,
                   .len = (uint32_t)n,
                   .aux = it->h.aux < WARD_PROTOCOL_VERSION ? it->h.aux : WARD_PROTOCOL_VERSION};
    rv = ward__conn_send(c->conn, &h, NULL, body, (size_t)n, NULL, 0, 1, c->hello_deadline);
  }
  ward__item_free(it);
  return rv;
}

/* The HELLO could not be sent: the peer is gone. A server that refused us
 * (at its connection limit) may have closed before the HELLO went out, so
 * its GOODBYE can still be waiting in the socket: then that is the error.
 * Otherwise `err` stays. */
static int refused_early(ward_client *c, int err) {
  uint8_t b[WARD__HDR_SIZE + 256];
  ptrdiff_t n = ward__sock_recv(c->conn->fd, b, sizeof b, 0);
  ward__hdr h;
  if (n < (ptrdiff_t)WARD__HDR_SIZE || ward__hdr_get(&h, b, 256) || h.kind != WARD__K_GOODBYE ||
      h.nlen)
    return err;
  size_t len = (size_t)n - WARD__HDR_SIZE;
  if (h.len < len)
    len = h.len;
  return ward__fail(WARD_EHANDSHAKE, "host refused the handshake: %.*s", (int)len,
                    (const char *)b + WARD__HDR_SIZE);
}

/* Sends HELLO and waits for WELCOME (or, accepted by a server, the other
 * way round), once; later callers get the result. The wait ends at the
 * handshake deadline, or sooner at `until` (the first request's own
 * deadline), which ends the handshake WARD_ETIMEDOUT. */
static int handshake_until(ward_client *c, int64_t until) {
  pthread_mutex_lock(&c->mu);
  if (c->greeted) {
    int rv = c->greeted > 0 ? 0 : c->greeted;
    pthread_mutex_unlock(&c->mu);
    return rv;
  }
  if (c->server) {
    int rv = handshake_server(c);
    c->greeted = rv ? (rv == WARD_EPROTO ? WARD_EPROTO : WARD_EHANDSHAKE) : 1;
    pthread_mutex_unlock(&c->mu);
    if (rv)
      ward__conn_close(c->conn, rv);
    return rv;
  }
  int64_t deadline = ward__deadline(HANDSHAKE_MS);
  if (until < deadline)
    deadline = until;
  size_t len;
  char *body = hello_body(c, &len);
  int rv = body ? 0 : WARD_ENOMEM;
  if (!rv && offers_shm(c))
    ward__conn_want_fd(c->conn, 1);
  if (!rv) {
    ward__hdr h = {.kind = WARD__K_HELLO,
                   .nlen = (uint8_t)strnlen(c->name, WARD_MAX_NAME),
                   .len = (uint32_t)len,
                   .aux = WARD_PROTOCOL_VERSION};
    rv = ward__conn_send(c->conn, &h, c->name, body, len, NULL, 0, 1, deadline);
  }
  free(body);
  ward__item *it = rv ? NULL : ward__conn_next_inbound(c->conn, deadline);
  if (rv == WARD_ECRASHED || rv == WARD_ECLOSED)
    rv = refused_early(c, rv);
  if (!rv && !it && until == deadline && ward__now_ms() >= until && !close_error(c))
    rv = ward__fail(WARD_ETIMEDOUT, "no WELCOME from the host within the request's timeout");
  else if (!rv && !it)
    rv = ward__fail(WARD_EHANDSHAKE, "no WELCOME from the host");
  else if (it && it->h.kind == WARD__K_GOODBYE)
    rv = ward__fail(WARD_EHANDSHAKE, "host refused the handshake: %.*s", (int)it->h.len,
                    (const char *)it->data);
  else if (it && it->h.kind != WARD__K_WELCOME)
    rv = ward__fail(WARD_EPROTO, "host sent kind %u before WELCOME", it->h.kind);
  uint32_t zmin;
  if (it && it->h.kind == WARD__K_WELCOME) {
    take_max_frame(c, it);
    take_log(c, it);
    if (!rv)
      rv = take_link(c, it);
    /* Payloads in shared memory travel only with frames on the socket
     * (protocol.md 17.5): a host that agreed to both is not heard on it. */
    if (!rv && ward__hello_zerocopy(it->data, it->h.len, &zmin) &&
        ward__conn_frames(c->conn) == WARD_FRAMES_SOCKET)
      ward__zc_agreed(c->conn, zmin);
    else if (!rv)
      ward__zc_drop_fds(c->conn); /* none is wanted now: 17.1 */
  }
  ward__item_free(it);
  c->greeted = rv ? (rv == WARD_EPROTO ? WARD_EPROTO : WARD_EHANDSHAKE) : 1;
  pthread_mutex_unlock(&c->mu);
  if (rv)
    ward__conn_close(c->conn, rv);
  return rv;
}

static int handshake(ward_client *c) { return handshake_until(c, INT64_MAX); }

/* ------------------------------------------------------------------ */
/* Serving                                                             */

static void send_pong(ward_client *c, uint32_t id) {
  ward__hdr h = {.kind = WARD__K_PONG, .id = id};
  ward__conn_send(c->conn, &h, NULL, NULL, 0, NULL, 0, 1,
                  ward__deadline(c->conn->default_timeout_ms));
}

/* Answers the pings waiting in the inbox, leaving the rest in order. */
static void answer_pings(ward_client *c) {
  ward__itemq pings = {0};
  ward__conn_take_pings(c->conn, &pings);
  ward__item *it;
  while ((it = ward__itemq_pop(&pings))) {
    send_pong(c, it->h.id);
    ward__item_free(it);
  }
}

/* At a handler's boundary: read what has arrived (cancels take effect at
 * once) and answer pings that are waiting. */
static void client_boundary(ward_ctx *ctx) {
  ward_client *c = ctx->boundary_ud;
  int64_t now = ward__now_ms();
  if (now - c->last_pump < BOUNDARY_MS)
    return;
  c->last_pump = now;
  /* Notifications gathered while the socket was full go before the
   * handler moves on (ward__conn_gather). */
  ward__conn_flush(c->conn);
  ward__conn_pump(c->conn);
  answer_pings(c);
}

/* Flow control: waits until `len` more bytes fit the caller's window,
 * answering pings meanwhile. The caller credits back every half window it
 * consumes, so sending is always allowed while at most half a window is
 * outstanding: a row larger than what is left never waits for credit that
 * cannot come. */
static int client_wait_credit(ward_ctx *ctx, size_t len) {
  ward_client *c = ctx->boundary_ud;
  uint64_t half = ctx->window / 2;
  for (;;) {
    uint64_t fit = ctx->sent + len > ctx->window ? ctx->sent + len - ctx->window : 0;
    uint64_t low = ctx->sent > half ? ctx->sent - half : 0;
    uint64_t need = fit < low ? fit : low;
    int rv = ward__conn_wait_credit(c->conn, need, ctx->cancelled);
    if (rv != 1)
      return rv;
    answer_pings(c);
  }
}

static void serve_item(ward_client *c, ward__item *it) {
  /* The table is fixed once the handshake is done: no lock needed. */
  const ward__handler_entry *e = ward__handlers_find(&c->handlers, it->name);
  ward_handler fn = e ? e->fn : NULL;
  void *ud = e ? e->ud : NULL;
  if (!fn) {
    ward__serve_nomethod(c->conn, it, 1);
    return;
  }
  if (atomic_load(&c->bye_seen) && it->h.kind == WARD__K_REQUEST) {
    /* Stopping: requests still queued are answered, not run (their
     * callers are being told the worker stops); notifications, which
     * nobody waits for, are still delivered. */
    ward__serve_refuse(c->conn, it, 1, WARD_ECLOSED, "the worker is stopping");
    return;
  }
  ward_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.conn = c->conn;
  ctx.block = 1;
  ctx.boundary = client_boundary;
  ctx.wait_credit = client_wait_credit;
  ctx.boundary_ud = c;
  ctx.cancelled = &c->conn->serving_cancelled;
  ward__serve(&ctx, it, fn, ud);
}

/* Server role: tells the server the connection is idle or about to be
 * busy. When the server has dropped it, ends it and returns nonzero. */
static int serve(ward_client *c);

static int peer_state(ward_client *c, int state) {
  if (!c->peer || !c->peer(c->peer_ud, state))
    return 0;
  ward__conn_close(c->conn, WARD_ECLOSED);
  return 1;
}

int ward_client_run(ward_client *c) {
  if (!c)
    return ward__fail(WARD_EINVAL, "NULL client");
  int rv = handshake(c);
  if (rv)
    return rv;
  /* This thread flushes what its handlers' notifications leave queued
   * (the socket full) when each handler returns: a burst goes out in few
   * writes. */
  ward__conn_gather(c->conn);
  rv = serve(c);
  ward__conn_gather(NULL);
  return rv;
}

/* ward_client_run once greeted: serves until the goodbye or the end. */
static int serve(ward_client *c) {
  int rv = 0;
  while (!peer_state(c, WARD__PEER_IDLE)) {
    ward__item *it = ward__conn_next_served(c->conn, INT64_MAX);
    /* A frame that came as the server dropped the connection is left. */
    if (!it || peer_state(c, WARD__PEER_BUSY)) {
      ward__item_free(it);
      break;
    }
    switch (it->h.kind) {
    case WARD__K_REQUEST:
    case WARD__K_NOTIFY:
      serve_item(c, it);
      (void)ward__conn_drain(c->conn, c->conn->default_timeout_ms);
      break;
    case WARD__K_PING:
      send_pong(c, it->h.id);
      break;
    case WARD__K_GOODBYE:
      /* Reason 0 asks us to stop, and the caller exits 0; any other is the
       * host cutting us off (3: it says we broke the protocol), an error.
       * Either way it is not answered, and nothing after it is read. */
      c->bye = 1;
      if (it->h.aux != WARD__BYE_NORMAL)
        rv = ward__fail(WARD_EPROTO, "the host ended the connection (goodbye reason %u): %.*s",
                        it->h.aux, (int)(it->h.len < 200 ? it->h.len : 200),
                        (const char *)it->data);
      break;
    default: /* a second WELCOME or HELLO */
      ward__conn_close(c->conn, ward__fail(WARD_EPROTO, "peer sent its greeting twice"));
      break;
    }
    ward__item_free(it);
    if (c->bye)
      return rv;
  }
  int err = close_error(c);
  if (err == WARD_EPROTO || err == WARD_ETOOBIG)
    return err;
  return ward__fail(WARD_ECLOSED, "the host went away");
}

/* ------------------------------------------------------------------ */
/* Calling the host                                                    */

int ward_client_request(ward_msg **reply, ward_client *c, const char *method, const void *data,
                        size_t len, int timeout_ms) {
  if (reply)
    *reply = NULL;
  if (!c || (!data && len))
    return ward__fail(WARD_EINVAL, "ward_client_request needs a client and a payload");
  int rv = ward__check_name(method);
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = timeout_ms < 0 ? c->conn->default_timeout_ms : timeout_ms;
  o.window_bytes = -1; /* host handlers answer at once; they keep no window */
  /* The timeout covers the handshake the first request makes. */
  int64_t deadline = ward__deadline(o.timeout_ms);
  if (!rv)
    rv = handshake_until(c, deadline);
  if (rv)
    return rv;
  return ward__conn_call_at(c->conn, WARD__K_REQUEST, method, data, len, &o, deadline,
                            o.timeout_ms, reply);
}

int ward_client_notify(ward_client *c, const char *method, const void *data, size_t len) {
  if (!c || (!data && len))
    return ward__fail(WARD_EINVAL, "ward_client_notify needs a client and a payload");
  int rv = ward__check_name(method);
  if (!rv)
    rv = handshake(c);
  if (rv)
    return rv;
  if (len > c->conn->max_out)
    return ward__fail(WARD_ETOOBIG, "notification of %zu bytes over the host's limit", len);
  ward__hdr h = {.kind = WARD__K_NOTIFY,
                 .flags = WARD_ENC_JSON,
                 .nlen = (uint8_t)strlen(method),
                 .len = (uint32_t)len};
  return ward__conn_send(c->conn, &h, method, data, len, NULL, 0, 1,
                         ward__deadline(c->conn->default_timeout_ms));
}

void ward_client_free(ward_client *c) {
  if (!c)
    return;
  if (c->greeted > 0 && !c->bye) {
    ward__hdr h = {.kind = WARD__K_GOODBYE};
    ward__conn_send(c->conn, &h, NULL, NULL, 0, NULL, 0, 1, ward__deadline(1000));
  }
  ward__conn_close(c->conn, WARD_ECLOSED);
  ward__conn_unref(c->conn);
  ward__handlers_free(&c->handlers);
  pthread_mutex_destroy(&c->mu);
  free(c->name);
  free(c->token);
  free(c->meta);
  free(c);
  ward__body_trim();
}

/* ------------------------------------------------------------------ */
/* Log records                                                         */

/* A record from the caller's strings; WARD_EINVAL when it breaks a rule. */
static int make_record(ward__rec *r, int level, uint32_t id, const char *msg,
                       const ward_log_field *fields, size_t nfields) {
  if (!msg || (nfields && !fields))
    return ward__fail(WARD_EINVAL, "a log record needs a message (and fields for nfields)");
  r->level = level;
  r->call_id = id;
  r->msg = msg;
  r->mlen = strlen(msg);
  r->nfields = nfields;
  for (size_t i = 0; i < nfields && i < WARD_LOG_FIELDS_MAX; i++) {
    if (!fields[i].key || !fields[i].value)
      return ward__fail(WARD_EINVAL, "log record field %zu has a NULL key or value", i);
    r->f[i] = (ward__recfield){fields[i].key, strlen(fields[i].key), fields[i].value,
                               strlen(fields[i].value)};
  }
  const char *why = ward__rec_check(r);
  return why ? ward__fail(WARD_EINVAL, "log record: %s", why) : 0;
}

/* For a host that takes no LOG frames: the record as one line on stderr
 * (ward_log_format), which such a host captures. */
static int log_to_stderr(const ward__rec *r, const ward_log_field *fields) {
  size_t n = ward_log_format(NULL, 0, r->level, r->msg, fields, r->nfields, r->call_id);
  char *b = malloc(n + 2);
  if (!b)
    return WARD_ENOMEM;
  ward_log_format(b, n + 1, r->level, r->msg, fields, r->nfields, r->call_id);
  b[n] = '\n';
  fwrite(b, 1, n + 1, stderr); /* one write for the line: unbuffered stderr */
  fflush(stderr);
  free(b);
  return 0;
}

static int send_record(ward_client *c, const ward__rec *r, const ward_log_field *fields) {
  int rv = handshake(c);
  if (rv)
    return rv;
  if (!atomic_load(&c->host_logs))
    return log_to_stderr(r, fields);
  size_t len = ward__rec_size(r);
  if (len > c->conn->max_out)
    return ward__fail(WARD_ETOOBIG, "log record of %zu bytes over the host's limit", len);
  uint8_t *p = malloc(len);
  if (!p)
    return WARD_ENOMEM;
  ward__rec_put(p, r);
  ward__hdr h = {.kind = WARD__K_LOG,
                 .len = (uint32_t)len,
                 .id = r->call_id,
                 .aux = (uint32_t)r->level};
  rv = ward__conn_send(c->conn, &h, NULL, p, len, NULL, 0, 1,
                       ward__deadline(c->conn->default_timeout_ms));
  free(p);
  return rv;
}

int ward_client_log(ward_client *c, int level, const char *msg, const ward_log_field *fields,
                    size_t nfields) {
  if (!c)
    return ward__fail(WARD_EINVAL, "ward_client_log needs a client");
  ward__rec r;
  int rv = make_record(&r, level, 0, msg, fields, nfields);
  return rv ? rv : send_record(c, &r, fields);
}

int ward_ctx_log(ward_ctx *ctx, int level, const char *msg, const ward_log_field *fields,
                 size_t nfields) {
  /* Only the serving loop above makes a ctx whose boundary is ours. */
  if (!ctx || ctx->worker || ctx->host || ctx->boundary != client_boundary)
    return ward__fail(WARD_EINVAL, "ward_ctx_log is for a worker's handlers");
  ward__rec r;
  int rv = make_record(&r, level, ctx->kind == WARD__K_REQUEST ? ctx->id : 0, msg, fields,
                       nfields);
  return rv ? rv : send_record(ctx->boundary_ud, &r, fields);
}
