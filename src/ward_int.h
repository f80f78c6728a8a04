/*
 * ward_int.h — internal types shared by the portable core.
 *
 * Naming: public names are ward_*, internal ones ward__* (two underscores).
 *
 * Locks, and the order they are taken in (a thread holding one may take
 * only those after it, never one before):
 *
 *   1. ward_pool.mu        a pool's slots (pool.c)
 *   2. ward_server.mu      a server's peers (server.c)
 *   3. ward_host.mu        the host: its workers, their state machines,
 *                          timers and events (host.c, loop.c, supervise.c,
 *                          worker.c, call.c), and the loop's side of an
 *                          attached server (server_loop.c, never under 2);
 *                          the state machine itself takes none
 *   4. ward_call.mu        an asynchronous call's outcome (acall.c)
 *   5. ward_client.mu      a client's handshake (client.c)
 *   6. ward__conn.mu       a connection: calls, inbox, out queue (conn.c)
 *   7. ward_host.lazy_mu   leaf: the host's task, closed and lazy queues,
 *                          which connection code fills under 6
 *   8. spare_mu            leaf: the cached big frame body (body.c)
 *
 * A connection calls its owner's ops without its lock, except `watch` and
 * `idle`, which take nothing before 7. Callbacks of the program (events,
 * handlers, a call's `done` and rows) run with no ward lock held.
 */
#ifndef WARD_INT_H
#define WARD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "platform.h"
#include "proto.h"
#include "ward.h"

/* Checked builds assert the core's invariants (the worker's state machine
 * after every step): builds without NDEBUG, and the sanitizer builds. */
#if !defined(NDEBUG) || defined(WARD_CHECKED_BUILD)
#define WARD__CHECKED 1
#else
#define WARD__CHECKED 0
#endif

/* Errors (error.c). Both record the thread's detail and return `err`. */
/* The C99 printf family's format checks (mingw-w64 names its own: its
 * default archetype is the Microsoft runtime's, without %zu). */
#ifdef __MINGW_PRINTF_FORMAT
#define WARD__PRINTF __MINGW_PRINTF_FORMAT
#else
#define WARD__PRINTF printf
#endif
int ward__fail(int err, const char *fmt, ...) __attribute__((format(WARD__PRINTF, 2, 3)));
/* "what: the system's words" (ward__sys_text of `sys_errno`, the
 * system's own code: an errno on POSIX, a GetLastError value on Windows);
 * ward_last_errno gives the code. */
int ward__fail_sys(int err, int sys_errno, const char *what);
/* The same for a C library errno on every system (strerror): what the C
 * runtime or a POSIX layer set, or a contract's errno (ENOTSUP). */
int ward__fail_errno(int err, int errnum, const char *what);
/* Sets this thread's detail to a text (and errno) recorded elsewhere. */
int ward__fail_keep(int err, int sys_errno, const char *text);

/* A received reply or remote error. */
struct ward_msg {
  int code;       /* remote error code; 0 for a reply */
  int enc;
  char *error;    /* remote error message (NUL-terminated) or NULL */
  const uint8_t *data;
  size_t len;
  uint8_t *owned; /* buffer holding data (and error) when not inline */
  struct ward__map *map; /* a payload in shared memory holding data, or NULL */
};
/* A message holding copies of `data` and of the error text. */
ward_msg *ward__msg_new(int code, int enc, const char *err, size_t elen, const void *data,
                        size_t len);

/* A queued incoming message: a call's progress, row or diagnostic, or a
 * request / notification / control frame waiting for its server loop. */
/* Rows that came one after another for one call on one stream, kept in
 * one item (conn.c): their payloads back to back in `buf`, each followed
 * by a NUL, and their lengths in `rows` (whose data pointers are set when
 * they are handed over, once `buf` no longer moves). The item's header is
 * the first row's: its aux is the first sequence number. */
typedef struct ward__rowpack {
  struct ward__rowpack *next; /* a call's spare packs (conn.c) */
  ward_row *rows;
  size_t n, nmax;        /* rows held, room for */
  uint8_t *buf;
  size_t used, cap;      /* bytes of buf held, allocated */
  size_t frame_bytes;    /* what the rows weighed as frames (flow control) */
} ward__rowpack;

typedef struct ward__item {
  struct ward__item *next;
  ward__hdr h;
  char *name;            /* NUL-terminated copy of the frame's name */
  const uint8_t *data;   /* payload */
  uint8_t *owned;        /* the body buffer taken from the decoder, or NULL */
  int cancelled;         /* a REQUEST cancelled before it was served */
  struct ward__map *map; /* a payload in shared memory holding data, or NULL */
  ward__rowpack *pack;   /* a ROW item holding more rows than its own, or NULL */
} ward__item;
ward__item *ward__item_new(const ward__frame *f, uint8_t *owned);
void ward__item_free(ward__item *it);
void ward__rowpack_free(ward__rowpack *p);
/* What a queued item weighs in the bounds on inbound work (pending_in):
 * its payload, and for one in shared memory WARD__ZC_WEIGHT more for its
 * descriptor and mapping, so that a peer cannot make us hold more than a
 * few hundred of them, however small each is. */
#define WARD__ZC_WEIGHT (64u * 1024u)
size_t ward__item_weight(const ward__item *it);

typedef struct ward__itemq {
  ward__item *head, *tail;
} ward__itemq;
void ward__itemq_push(ward__itemq *q, ward__item *it);
ward__item *ward__itemq_pop(ward__itemq *q);

typedef struct ward__conn ward__conn;

/* One outgoing call waiting for its outcome: on the caller's stack for a
 * blocking call, inside a ward_call handle for an asynchronous one. */
typedef struct ward__call {
  struct ward__call *next; /* hash chain */
  uint32_t id;
  uint8_t kind;            /* WARD__K_REQUEST or WARD__K_PING */
  uint8_t async;           /* news goes to ops->call_ready, not to a waiter */
  uint8_t queued;          /* async: the owner has been told, not yet taken */
  uint8_t reported;        /* async: the owner has taken the outcome */
  uint8_t tombstone;       /* cancelled: only waits for the callee to end it */
  int done;
  int err;
  ward_msg *reply;
  pthread_cond_t *cond;    /* blocking calls: its waiter sleeps here */
  ward__itemq events;      /* progress, rows, diagnostics not yet delivered */
  int64_t deadline;        /* async calls and tombstones: kept by the owner */
  uint32_t window;         /* flow-control window sent with the request (0: none) */
  uint64_t unacked;        /* bytes consumed and not yet credited back */
  uint64_t received;       /* row and progress bytes received */
  uint64_t credited;       /* of them, credited back (lock held) */
  size_t queued_bytes;     /* what `events` holds, for the memory bound */
  ward_stream_count *streams; /* rows seen per stream (sequence checks, summary) */
  size_t nstreams;
  size_t last_stream;         /* the stream of the last row, tried first */
  struct ward__rowpack *spare; /* packs handed over, kept for the next (lock) */
  int nspare;
  uint64_t progress, diags;
  int64_t started_us;
  void *owner;             /* async: the ward_call handle */
} ward__call;

/* Prepares a call of `kind` with the options' window. */
void ward__call_init(ward__call *call, uint8_t kind, const ward_call_opts *opts);
/* Frees what the call holds (queued events, stream counts). */
void ward__call_release(ward__call *call);
/* Delivers one event to the options' callbacks and credits its bytes back
 * to the callee (without blocking). */
void ward__call_consume(ward__conn *c, ward__call *call, const ward_call_opts *opts,
                        ward__item *it);
/* Fills a summary from the call. */
void ward__call_summary(const ward__call *call, ward_summary *s);

/* A thread waiting on a connection: a caller, or a server loop. */
typedef struct ward__waiter {
  struct ward__waiter *next, *prev;
  pthread_cond_t *cond;
} ward__waiter;

/* What an event-loop registration points at: the function the loop calls
 * when the descriptor is ready (`events`: WARD__IN | WARD__OUT | WARD__HUP),
 * and its object. The loop knows nothing else of what it watches. */
typedef struct ward__watch {
  void (*ready)(struct ward__watch *wt, int events); /* called by the loop */
  void *obj;
} ward__watch;

/* What the owner of a connection (host worker or client) provides. */
typedef struct ward__conn_ops {
  /* A request, notification, cancel, ping, goodbye or handshake frame
   * arrived. Called on the reading thread without the conn lock; the
   * function owns `owned` (the frame's body buffer, may be NULL). Returns
   * 0, or an error that cuts the connection (a protocol violation). */
  int (*inbound)(ward__conn *c, const ward__frame *f, uint8_t *owned);
  /* The descriptor interest changed (WARD__IN / WARD__OUT), with the conn
   * lock held: the host updates its epoll set. May be NULL. */
  void (*watch)(ward__conn *c, int events);
  /* A caller stopped reading and left the loop's reading off (`lazy`),
   * with the conn lock held: the owner must call ward__conn_settle soon.
   * May be NULL (then reading is handed back at once). */
  void (*idle)(ward__conn *c);
  /* The connection was closed with `err`; called once, without the lock. */
  void (*closed)(ward__conn *c, int err);
  /* An asynchronous call has news (events or its outcome); called once
   * until the owner takes it (ward__conn_take), without the lock. */
  void (*call_ready)(ward__conn *c, ward__call *call);
  /* A waiting caller read a batch: the owner may do work it queued (the
   * host with an external loop runs it). Without the lock; may be NULL. */
  void (*reader_idle)(ward__conn *c);
  /* Shared-memory transport: records wait in the ring and no reader will
   * look (the loop watches a socket that no byte may reach): the owner
   * pumps the connection soon (ward__conn_pump). Any thread, the conn
   * lock held or not; takes nothing before 7. May be NULL where every
   * reader looks at the ring before it sleeps (the client). */
  void (*kick)(ward__conn *c);
} ward__conn_ops;

/* Who holds the reading role. */
enum { WARD__READER_NONE = 0, WARD__READER_LOOP = 1, WARD__READER_CALLER = 2 };

/* One framed connection: calls out, inbound frames, writer and reader.
 *
 * Reading follows a leader/follower scheme: at most one thread reads at a
 * time. A thread that waits for a call's outcome takes the reading role
 * when it is free and reads the socket itself, which saves a thread
 * handoff per round trip; frames for other calls are handed to their
 * waiters. When no caller waits, the owner's loop reads (the host's I/O
 * thread, the client's run loop). Writing is serialised by `writing`: whole
 * frames only, never interleaved. A thread that cannot block (the I/O
 * thread, a reader answering a ping) leaves what the socket did not take in
 * `outq`, which the next writer or reader flushes first. */
/* Descriptors that may wait for their frames: one per frame with a
 * payload in shared memory, and a frame's arrives with its first byte. */
#define WARD__FDQ_MAX 4
struct ward__link;

struct ward__conn {
  pthread_mutex_t mu;
  /* The shared-memory transport (link.h), once negotiated: frames then
   * travel in its rings and the socket carries wake-up bytes only. Set
   * once, under `writing`, never taken back. */
  _Atomic(struct ward__link *) link;
  atomic_int refs;
  ward__fd fd;
  const ward__conn_ops *ops;
  void *owner;
  ward__watch watch;        /* the owner loop's registration tag */
  uint32_t max_in;   /* largest payload we accept */
  uint32_t max_out;  /* largest payload the peer accepts */
  int default_timeout_ms;

  /* reading */
  int reader;               /* WARD__READER_* */
  ward__waiter *waiters;    /* threads that may take the role when it frees */
  ward__dec dec;
  uint8_t *rbuf;
  size_t rcap;

  /* calls we made */
  ward__call **tab;
  size_t tabsz;             /* power of two */
  size_t ncalls;
  uint32_t next_id;

  /* inbound frames for the server side, in arrival order */
  ward__itemq inbox;
  pthread_cond_t inbox_cond;
  uint32_t serving_id;      /* the request being served, 0 if none */
  atomic_int serving_cancelled; /* a CANCEL for it arrived */
  uint64_t serving_acked;   /* bytes of it the caller has credited back */

  /* writing */
  int writing;
  int wblocked;             /* the writer waits for the socket to take more */
  int shut_deferred;        /* closed while the writer was busy: it shuts the
                               socket down once what is queued has gone */
  struct ward__chunk *outq, *outq_tail; /* whole frames not yet written */
  size_t outq_len;
  size_t outq_peak;         /* the most it held: a big queue is trimmed after */
  pthread_cond_t wcond;
  atomic_ullong sends;      /* writes tried on the transport: how well frames
                               are batched (tests) */

  uint32_t hb_seq;          /* the loop's heartbeat pings */
  uint32_t hb_id;           /* the one awaiting its pong, or 0 */
  int watch_events;         /* last interest told to ops->watch */
  size_t pending_in;        /* inbound requests read and not yet handled */
  atomic_int throttled;     /* too much pending: nobody reads for now */
  atomic_int credit_wait;   /* a handler waits for credit: read anyway */
  atomic_int overfull;      /* past the hard cap: not read even for credit */
  int lazy;                 /* the loop's reading is off since a caller read */
  int64_t released_at;      /* when a caller last gave up the reading role */
  /* When set, JSON-tagged payloads must pass it (ward_spec_validate_json). */
  int (*validate)(const void *data, size_t len);
  /* Payloads in shared memory (zcopy.c): frames with WARD__FLAG_SHM are
   * read (zc_accept), and payloads of zc_min bytes or more are sent so
   * (0: never), as the handshake agreed. fdq: descriptors read and not
   * yet claimed by their frames (the reader's alone). */
  atomic_int zc_accept;
  atomic_uint zc_min;
  ward__fd fdq[WARD__FDQ_MAX];
  int nfdq;
  int blocking_reads;       /* the fd is in blocking mode: an unbounded wait
                               may block in recv() itself */
  int closed;
  int close_err;
  atomic_int closed_flag;   /* `closed`, readable without the lock */
  int violation_claimed;    /* the owner has reported the violation */
  char violation[200];      /* what the violation was, for the owner's report */

  int switched;             /* the link took over in the frame being read */
  int pumped;               /* the loop reads: its poll saw the socket readable
                               (or a kick came): link_read drains it */
  atomic_int kicked;        /* ops->kick was called and the pump not yet run */
  atomic_int want_fd;       /* reads take descriptors for the handshake too */
};

int ward__conn_new(ward__conn **out, ward__fd fd, const ward__conn_ops *ops, void *owner,
                   uint32_t max_in);
void ward__conn_ref(ward__conn *c);
void ward__conn_unref(ward__conn *c);
/* Closes once: every call in flight ends with `err`, waiters wake, the
 * socket is shut down (the descriptor stays open until the last unref).
 * Frames already queued (a GOODBYE sent just before) go out first, as far
 * as the socket takes them without waiting. */
void ward__conn_close(ward__conn *c, int err);

/* Sends one frame. `block`: wait (up to `deadline`) for the socket to take
 * it; otherwise what it does not take now is queued. `deadline` may be
 * one made by ward__deadline_later. */
/* Answers a PING on the host's side of `c` without waiting (what the
 * socket does not take is queued): 0, or WARD_ENOMEM. Takes `owned`. */
int ward__conn_pong(ward__conn *c, uint32_t id, uint8_t *owned);
int ward__conn_send(ward__conn *c, const ward__hdr *h, const char *name, const void *p1,
                    size_t n1, const void *p2, size_t n2, int block, int64_t deadline);

/* A deadline `ms` from the moment a sender first waits, rather than from
 * now: a send that never waits (the socket takes it) reads no clock.
 * Encoded below zero, where no deadline from ward__deadline lies (those
 * count from boot); ward__deadline_fix turns it into one, once, at the
 * first wait, and returns any other as it is. `ms` < 0: never. */
static inline int64_t ward__deadline_later(int ms) {
  return ms < 0 ? INT64_MAX : -1 - (int64_t)ms;
}
static inline int64_t ward__deadline_fix(int64_t deadline) {
  return deadline >= 0 ? deadline : ward__deadline((int)(-1 - deadline));
}

/* Sends frames already encoded back to back (whole frames only); the
 * deadline as for ward__conn_send. */
int ward__conn_send_frames(ward__conn *c, const void *frames, size_t len, int block,
                           int64_t deadline);
/* Makes a call (REQUEST or PING) and waits for its outcome. */
int ward__conn_call(ward__conn *c, uint8_t kind, const char *method, const void *data,
                    size_t len, const ward_call_opts *opts, ward_msg **reply);
/* The same with the deadline already computed (`timeout` only names it in
 * the error text). */
int ward__conn_call_at(ward__conn *c, uint8_t kind, const char *method, const void *data,
                       size_t len, const ward_call_opts *opts, int64_t deadline, int timeout,
                       ward_msg **reply);
/* Starts an asynchronous call (`call` initialised, async set, deadline
 * set); its news then goes to ops->call_ready. Returns 0 once the call is
 * started, even when the connection closed while the request was being
 * sent (the close's error then comes through call_ready), or an error:
 * then call_ready never hears of it. */
int ward__conn_start(ward__conn *c, ward__call *call, const char *method, const void *data,
                     size_t len, int encoding, int block, int64_t deadline);
/* The owner takes an asynchronous call's queued events and, once, its
 * outcome (*done set). */
void ward__conn_take(ward__conn *c, ward__call *call, ward__itemq *events, int *done,
                     int *cancelled);
/* Cancels an asynchronous call: it ends at once with WARD_ECANCELED, the
 * callee is told, and a tombstone waits until `grace_deadline` for the
 * callee to end it. Returns 1 if it was cancelled, 0 if it had ended. */
int ward__conn_cancel(ward__conn *c, ward__call *call, int64_t grace_deadline);
/* Ends asynchronous calls past their deadline (WARD_ETIMEDOUT) and drops
 * tombstones past theirs. Sets *timed_out / *cancel_expired when any did,
 * and returns the next deadline (INT64_MAX: none). */
int64_t ward__conn_expire(ward__conn *c, int64_t now, int *timed_out, int *cancel_expired);

/* The loop's side: reads what is available without blocking, if no caller
 * is reading (returns at once otherwise). Returns 0 or the error that
 * closed the connection. */
int ward__conn_pump(ward__conn *c);
/* If the connection was closed for a protocol violation not reported yet,
 * returns that error (once) with its description in `why`; otherwise 0. */
int ward__conn_claim_violation(ward__conn *c, char *why, size_t cap);
int ward__conn_is_closed(ward__conn *c);
/* Turns the loop's reading back on if no caller has read for `idle_ms`.
 * Returns nonzero while the connection is still lazy. */
int ward__conn_settle(ward__conn *c, int64_t now, int idle_ms);
/* Call ids with this bit are heartbeat pings, never callers' calls. */
#define WARD__HB_BIT 0x80000000u
/* A heartbeat tick: returns 1 if the last heartbeat ping is still
 * unanswered (a miss), otherwise sends a new one (without blocking) and
 * returns 0. */
int ward__conn_heartbeat(ward__conn *c);
/* The shared-memory transport (conn.c, link.h).
 * Host: sends the WELCOME frame `h` + `body` with the memory of a new
 * link attached (rings of `cap` bytes), and from then on carries frames in
 * the rings: 0. 1: nothing was sent (no memory for the link, or another
 * frame is being sent): the caller welcomes the worker without it. Or the
 * error that closed the connection. */
int ward__conn_welcome_link(ward__conn *c, const ward__hdr *h, const void *body, size_t n,
                            uint32_t cap);
/* Worker: reads from now on take descriptors passed with the bytes into
 * the connection's queue (c->fdq), also where payloads in shared memory
 * were not offered, and leave them there for the handshake. */
void ward__conn_want_fd(ward__conn *c, int on);
/* Worker, its handshake's thread, no reader at work: the first
 * descriptor queued (WARD__FD_NONE if none), the caller's; *more says how
 * many are still queued. */
ward__fd ward__conn_take_fd(ward__conn *c, int *more);
/* Worker: maps the host's memory (rings of `cap` bytes) and carries
 * frames in it from now on. WARD_EPROTO for memory that is not right. */
int ward__conn_use_link(ward__conn *c, ward__fd memfd, uint32_t cap);
/* WARD_FRAMES_SHM once the rings carry the frames, else WARD_FRAMES_SOCKET. */
int ward__conn_frames(ward__conn *c);

/* Frees the out queue (the last reference is going). */
void ward__conn_free_outq(ward__conn *c);
/* Flushes queued output without blocking. */
void ward__conn_flush(ward__conn *c);
/* Sends what is queued, waiting (up to `timeout_ms`) for the transport to
 * take it: 0, or WARD_ETIMEDOUT, or the error that closed the connection. */
int ward__conn_drain(ward__conn *c, int timeout_ms);
/* The calling thread flushes `c`'s out queue (ward__conn_drain) before it
 * waits for anything else: blocking notifications it sends may then wait
 * in the queue while the transport is full, and go out together. NULL:
 * it no longer does. A connection with a loop (ops->watch) needs none. */
void ward__conn_gather(const ward__conn *c);
/* Waits for the next inbound item, reading when no one else does.
 * NULL when the connection is closed or the deadline passed. */
ward__item *ward__conn_next_inbound(ward__conn *c, int64_t deadline);
/* Queues an inbound item for ward__conn_next_inbound. */
void ward__conn_push_inbound(ward__conn *c, ward__item *it);
/* Moves the pings waiting in the inbox to `pings`. */
void ward__conn_take_pings(ward__conn *c, ward__itemq *pings);
/* Accounts inbound work read but handled elsewhere (the host's tasks):
 * `add` when queued, not when done. Past a high-water mark the connection
 * is not read until the work is done. */
void ward__conn_pending(ward__conn *c, size_t bytes, int add);
/* A CREDIT arrived for our server side: the caller consumed `bytes` more
 * of the request being served. */
void ward__conn_credit(ward__conn *c, uint32_t id, uint32_t bytes);
/* Serving side: what the caller has credited back so far. */
uint64_t ward__conn_acked(ward__conn *c);
/* Serving side, flow control: waits until the caller has credited back at
 * least `need` bytes of the request being served, it was cancelled, the
 * connection closed, or a ping waits in the inbox. Returns 0 (enough
 * credit), 1 (a ping waits), WARD_ECANCELED or the close error. */
int ward__conn_wait_credit(ward__conn *c, uint64_t need, atomic_int *cancelled);
/* A CANCEL arrived for our server side: flags the request being served,
 * or marks a queued one so it is answered ECANCELED without running. */
void ward__conn_cancel_inbound(ward__conn *c, uint32_t id);
/* The serving loop's next inbound item, as ward__conn_next_inbound, that
 * also becomes the request being served (for CANCEL and CREDIT). */
ward__item *ward__conn_next_served(ward__conn *c, int64_t deadline);

/* Serving a call: the ctx handed to handlers on both sides (ctx.c). */
typedef struct ward__rowseq {
  char *stream;
  uint32_t seq;
} ward__rowseq;

struct ward_ctx {
  ward__conn *conn;
  uint32_t id;
  uint32_t window;      /* the caller's flow-control window (0: none) */
  uint64_t sent;        /* row and progress bytes sent */
  uint8_t kind;         /* WARD__K_REQUEST or WARD__K_NOTIFY */
  int enc;
  int req_enc;
  int ended;
  int block;            /* may block when sending (not on the host's I/O thread) */
  atomic_int own_cancel;
  atomic_int *cancelled; /* own_cancel, or the connection's flag for the
                            request its serving loop is running */
  const char *method;
  ward_worker *worker;  /* host side */
  ward__rowseq *seqs;
  size_t nseqs;
  void (*boundary)(ward_ctx *ctx); /* called at progress/row boundaries */
  /* Waits until `len` more bytes fit the caller's window (0), or fails. */
  int (*wait_credit)(ward_ctx *ctx, size_t len);
  void *boundary_ud;
  int deferred;         /* a heap copy from ward_ctx_defer: freed as it ends */
  char *own_method;     /* deferred: its own copy of the method name */
  ward_host *host;      /* deferred: the host whose loop it came from; set
                           beforehand for a server attached to a host */
  int handed_off;       /* this ctx was deferred: its copy ends the call */
  /* A server attached to a host: told once the deferred copy has ended
   * the call (on the thread that ended it), so that the connection may
   * serve its next frame. Copied by ward_ctx_defer; may be NULL. */
  void (*on_end)(void *ud);
  void *end_ud;
  /* A server attached to a host: its connection's flag that the call in
   * it is a watch (ward_ctx_watch), or NULL. Copied by ward_ctx_defer. */
  atomic_int *watch;
  int watched;          /* ward_ctx_watch was called on it */
};

/* Runs `fn` for one inbound REQUEST or NOTIFY item and ends the call as
 * the handler contract says. */
void ward__serve(ward_ctx *ctx, const ward__item *it, ward_handler fn, void *ud);
/* Answers a request without running it, with error `code` (nothing for a
 * notification). */
void ward__serve_refuse(ward__conn *c, const ward__item *it, int block, int code,
                        const char *msg);
/* Answers a request for which no handler exists. */
void ward__serve_nomethod(ward__conn *c, const ward__item *it, int block);

/* A small method -> handler table (both sides). */
typedef struct ward__handler_entry {
  char *method;
  ward_handler fn;
  void *ud;
} ward__handler_entry;
typedef struct ward__handlers {
  ward__handler_entry *v;
  size_t n;
} ward__handlers;
int ward__handlers_set(ward__handlers *t, const char *method, ward_handler fn, void *ud);
const ward__handler_entry *ward__handlers_find(const ward__handlers *t, const char *method);
void ward__handlers_free(ward__handlers *t);

/* What a server's connection tells its server, from ward_client_run on
 * the connection's thread, with no lock held: it is idle (its handshake is
 * done, or it handled a frame and waits for the next), or it is about to
 * handle a frame (busy). A nonzero return means the server dropped the
 * connection: the loop closes it and returns, leaving the frame. */
enum { WARD__PEER_IDLE = 1, WARD__PEER_BUSY = 2 };
typedef int (*ward__peer_fn)(void *ud, int state);

/* client.c: a client in the server's role over an accepted socket, with a
 * copy of the server's handlers. It waits for a HELLO until
 * `hello_deadline` (ward__now_ms scale); its ward_client_run then fails
 * with WARD_ETIMEDOUT, or WARD_ECLOSED when the peer left first. `peer`
 * may be NULL. And a client's connection. */
int ward__client_accepted(ward_client **out, ward__fd fd, const ward__handlers *handlers,
                          int64_t hello_deadline, ward__peer_fn peer, void *peer_ud);
ward__conn *ward__client_conn(ward_client *c);
/* Whether the client offers the shared-memory transport in its HELLO
 * (by default where the backend has it); before its handshake. Tests use
 * it for a worker that does not. */
void ward__client_offer_shm(ward_client *c, int on);

/* zcopy.c: payloads in shared memory (docs/protocol.md 3.5). */
/* The smallest payload sent or taken in shared memory: a page; smaller
 * ones cost more to map than to copy, and would let a peer make us hold
 * a descriptor and a mapping for every few bytes. */
#define WARD__ZC_FLOOR 4096u
typedef struct ward__map ward__map;
ward__map *ward__map_ref(ward__map *m);
void ward__map_unref(ward__map *m);
const void *ward__map_mem(const ward__map *m);
/* Whether frames of `kind` may carry a payload in shared memory. */
int ward__zc_kind(uint8_t kind);
/* The handshake: this side offered (reads descriptors from now on), or
 * both agreed, with payloads of `min` bytes or more sent so. */
void ward__zc_offered(ward__conn *c);
void ward__zc_agreed(ward__conn *c, uint32_t min);
/* What the calling thread offers to pass without a copy: a received
 * mapping (a handler's request), until the previous offer is put back. */
typedef struct ward__zc_offer {
  ward__fd fd;
  const void *mem;
  size_t len;
} ward__zc_offer;
ward__zc_offer ward__zc_offer_map(const ward__map *m);
void ward__zc_offer_end(ward__zc_offer prev);
/* The descriptor the calling thread offers for exactly these bytes (a
 * payload built in place or received), or WARD__FD_NONE. */
ward__fd ward__zc_offered_fd(const void *data, size_t len);
/* The reader's side: reads with descriptors (queued in c->fdq); refuses
 * a descriptor no frame claims once the decoder is between frames (0 or
 * WARD_EPROTO); maps the payload of a frame with WARD__FLAG_SHM, making
 * it an ordinary frame with f->map set (0), or fails: *call_only says
 * whether only the frame's call fails (the descriptor was bad) or the
 * stream is out of step (the connection must close). */
ptrdiff_t ward__zc_recv(ward__conn *c, void *p, size_t n, int block);
int ward__zc_stray(ward__conn *c);
int ward__zc_take(ward__conn *c, ward__frame *f, int *call_only);
void ward__zc_drop_fds(ward__conn *c);
/* conn.c: a frame whose payload (h->len bytes, readable at `view`) is in
 * the sealed memory `pass`, sent with it; an ordinary frame instead when
 * it cannot go at once without blocking. */
int ward__conn_send_fd(ward__conn *c, const ward__hdr *h, const char *name, ward__fd pass,
                       const void *view, int block, int64_t deadline);

/* Validates a method or stream name. */
int ward__check_name(const char *name);

/* The text of cgroup files (tree.c), read by the Linux backend and parsed
 * here, where tests can give them any text: the "some avg10=" figure of a
 * pressure file (cpu.pressure, memory.pressure, io.pressure) in
 * hundredths of a percent (0..10000), or -1 when there is none; and the
 * value of `key` in a flat keyed file (memory.events, cgroup.events:
 * "key value" lines), 0 with it in *v or -1 when it is not there. */
int ward__pressure_avg10(const char *text);
int ward__keyed_u64(const char *text, const char *key, uint64_t *v);

#endif
