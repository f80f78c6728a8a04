/*
 * ward_int.h — internal types shared by the portable core.
 *
 * Naming: public names are ward_*, internal ones ward__* (two underscores).
 */
#ifndef WARD_INT_H
#define WARD_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "ward.h"

/* Errors (error.c). Both record the thread's detail and return `err`. */
int ward__fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ward__fail_sys(int err, int sys_errno, const char *what);
/* Sets this thread's detail to a text (and errno) recorded elsewhere. */
int ward__fail_keep(int err, int sys_errno, const char *text);

/* Monotonic condition variables, so deadlines ignore wall-clock jumps. */
int ward__cond_init(pthread_cond_t *c);
/* Waits until signalled or `deadline` (ward__now_ms scale, INT64_MAX for
 * never). Returns 0, or WARD_ETIMEDOUT once the deadline has passed. */
int ward__cond_wait(pthread_cond_t *c, pthread_mutex_t *m, int64_t deadline);

/* A received reply or remote error. */
struct ward_msg {
  int code;       /* remote error code; 0 for a reply */
  int enc;
  char *error;    /* remote error message (NUL-terminated) or NULL */
  const uint8_t *data;
  size_t len;
  uint8_t *owned; /* buffer holding data (and error) when not inline */
};
/* A message holding copies of `data` and of the error text. */
ward_msg *ward__msg_new(int code, int enc, const char *err, size_t elen, const void *data,
                        size_t len);

/* A queued incoming message: a call's progress, row or diagnostic, or a
 * request / notification / control frame waiting for its server loop. */
typedef struct ward__item {
  struct ward__item *next;
  ward__hdr h;
  char *name;            /* NUL-terminated copy of the frame's name */
  const uint8_t *data;   /* payload */
  uint8_t *owned;        /* the body buffer taken from the decoder, or NULL */
  int cancelled;         /* a REQUEST cancelled before it was served */
} ward__item;
ward__item *ward__item_new(const ward__frame *f, uint8_t *owned);
void ward__item_free(ward__item *it);

typedef struct ward__itemq {
  ward__item *head, *tail;
  size_t count;
} ward__itemq;
void ward__itemq_push(ward__itemq *q, ward__item *it);
ward__item *ward__itemq_pop(ward__itemq *q);

/* One outgoing call waiting for its outcome. Lives on the caller's stack. */
typedef struct ward__call {
  struct ward__call *next; /* hash chain */
  uint32_t id;
  uint8_t kind;            /* WARD__K_REQUEST or WARD__K_PING */
  int done;
  int err;
  ward_msg *reply;
  pthread_cond_t cond;
  ward__itemq events;      /* progress, rows, diagnostics not yet delivered */
} ward__call;

/* A thread waiting on a connection: a caller, or a server loop. */
typedef struct ward__waiter {
  struct ward__waiter *next, *prev;
  pthread_cond_t *cond;
} ward__waiter;

typedef struct ward__conn ward__conn;

/* What an owner's event-loop registration points at: a type and the object. */
typedef struct ward__watch {
  int type;
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
struct ward__conn {
  pthread_mutex_t mu;
  atomic_int refs;
  int fd;
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
  atomic_int *serving_cancel; /* its cancel flag */

  /* writing */
  int writing;
  uint8_t *outq;            /* bytes of whole frames not yet written */
  size_t outq_len, outq_cap;
  pthread_cond_t wcond;

  uint32_t hb_seq;          /* the loop's heartbeat pings */
  uint32_t hb_id;           /* the one awaiting its pong, or 0 */
  int watch_events;         /* last interest told to ops->watch */
  int lazy;                 /* the loop's reading is off since a caller read */
  int64_t released_at;      /* when a caller last gave up the reading role */
  int blocking_reads;       /* the fd is in blocking mode: an unbounded wait
                               may block in recv() itself */
  int closed;
  int close_err;
};

int ward__conn_new(ward__conn **out, int fd, const ward__conn_ops *ops, void *owner,
                   uint32_t max_in);
void ward__conn_ref(ward__conn *c);
void ward__conn_unref(ward__conn *c);
/* Closes once: every call in flight ends with `err`, waiters wake, the
 * socket is shut down (the descriptor stays open until the last unref). */
void ward__conn_close(ward__conn *c, int err);

/* Sends one frame. `block`: wait (up to `deadline`) for the socket to take
 * it; otherwise what it does not take now is queued. */
int ward__conn_send(ward__conn *c, const ward__hdr *h, const char *name, const void *p1,
                    size_t n1, const void *p2, size_t n2, int block, int64_t deadline);

/* Makes a call (REQUEST or PING) and waits for its outcome. */
int ward__conn_call(ward__conn *c, uint8_t kind, const char *method, const void *data,
                    size_t len, const ward_call_opts *opts, ward_msg **reply);

/* The loop's side: reads what is available without blocking, if no caller
 * is reading (returns at once otherwise). Returns 0 or the error that
 * closed the connection. */
int ward__conn_pump(ward__conn *c);
/* Turns the loop's reading back on if no caller has read for `idle_ms`.
 * Returns nonzero while the connection is still lazy. */
int ward__conn_settle(ward__conn *c, int64_t now, int idle_ms);
/* Call ids with this bit are heartbeat pings, never callers' calls. */
#define WARD__HB_BIT 0x80000000u
/* A heartbeat tick: returns 1 if the last heartbeat ping is still
 * unanswered (a miss), otherwise sends a new one (without blocking) and
 * returns 0. */
int ward__conn_heartbeat(ward__conn *c);
/* Flushes queued output without blocking. */
void ward__conn_flush(ward__conn *c);
/* Waits for the next inbound item, reading when no one else does.
 * NULL when the connection is closed or the deadline passed. */
ward__item *ward__conn_next_inbound(ward__conn *c, int64_t deadline);
/* Queues an inbound item for ward__conn_next_inbound. */
void ward__conn_push_inbound(ward__conn *c, ward__item *it);
/* A CANCEL arrived for our server side: flags the request being served,
 * or marks a queued one so it is answered ECANCELED without running. */
void ward__conn_cancel_inbound(ward__conn *c, uint32_t id);
/* Marks the request being served (for CANCEL) — 0 when done serving. */
void ward__conn_serving(ward__conn *c, uint32_t id, atomic_int *cancel_flag);

/* Serving a call: the ctx handed to handlers on both sides (ctx.c). */
typedef struct ward__rowseq {
  char *stream;
  uint32_t seq;
} ward__rowseq;

struct ward_ctx {
  ward__conn *conn;
  uint32_t id;
  uint8_t kind;         /* WARD__K_REQUEST or WARD__K_NOTIFY */
  int enc;
  int req_enc;
  int ended;
  int block;            /* may block when sending (not on the host's I/O thread) */
  atomic_int cancelled;
  const char *method;
  ward_worker *worker;  /* host side */
  ward__rowseq *seqs;
  size_t nseqs;
  void (*boundary)(ward_ctx *ctx); /* called at progress/row boundaries */
  void *boundary_ud;
};

/* Runs `fn` for one inbound REQUEST or NOTIFY item and ends the call as
 * the handler contract says. */
void ward__serve(ward_ctx *ctx, const ward__item *it, ward_handler fn, void *ud);
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

/* Validates a method or stream name. */
int ward__check_name(const char *name);

#endif
