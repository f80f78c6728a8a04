/*
 * conn.c — one framed, full-duplex connection: the calls we make on it,
 * the frames that arrive for our server side, and the byte stream under
 * both. Shared by the host (one per worker process) and the client.
 *
 * Design notes
 * ------------
 * Reading. At most one thread reads the socket at a time: the holder of
 * the reading role. A thread waiting for its call's outcome takes the role
 * when it is free and reads the socket itself (leader); others wait on
 * their own condition variable (followers), and the leader hands them
 * their replies. This saves the thread handoff a dedicated reader thread
 * would cost on every round trip. When no caller waits, the owner's loop
 * reads: the host's I/O thread (through ward__conn_pump when epoll says
 * the socket is readable) or the client's serving loop. Whoever releases
 * the role wakes one waiting thread so that it can take over.
 *
 * Writing. Frames are written whole, never interleaved: `writing` is held
 * by one sender at a time. A sender that must not block (the host's I/O
 * thread, a reader answering a ping) queues what the socket does not take
 * in `outq`; the next writer sends the queue before its own frame, and the
 * loop flushes it when the socket becomes writable. A thread never blocks
 * on writing while it holds the reading role, so two peers that both write
 * large frames cannot deadlock: someone always reads. Small frames are
 * batched there: a blocking sender's joins the queue of a writer at work
 * (frame_joins), and a burst of notifications gathers in it while the
 * transport is full (frame_gathers), to go out in one write.
 *
 * Rows. A stream of small rows is read hundreds to a read; the rows of
 * one call and stream that follow one another are taken in one pass
 * (queue_rows) and wait for the caller packed in one item (row packs),
 * which the caller takes in one callback (on_rows) or row by row.
 *
 * Lifetime. The descriptor stays open until the last reference goes, so a
 * number cannot be reused under a thread still polling it; closing shuts
 * the socket down, which wakes every poller.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "link.h"
#include "platform.h"
#include "ward_int.h"

#define RBUF_SIZE (64 * 1024)
/* Reads per wake-up before the loop moves on to other workers. */
#define MAX_READS 16
/* A body missing at least this much is read straight into place. */
#define DIRECT_BODY (16 * 1024)
/* What a queued item costs beyond its payload, for the memory bounds. */
#define ITEM_COST 256
/* Inbound frames read but not yet handled (requests, notifications for a
 * busy handler loop): past HIGH the connection is not read until they are
 * down to LOW, so a flooding peer is slowed, not buffered. */
#define PENDING_HIGH (8u << 20)
#define PENDING_LOW (4u << 20)
/* A handler waiting for credit has the connection read past HIGH (its
 * credit may be behind what is queued), but not past CAP: there its wait
 * fails, and the peer is slowed again. */
#define PENDING_CAP (32u << 20)
/* An out queue that grew this large is given back to the system when
 * the connection goes. */
#define TRIM_AFTER (1u << 20)
/* Events of a call without a flow-control window that may wait. */
#define WARD__UNWINDOWED_MAX (64u << 20)

/* The shared-memory transport, when negotiated (its section below). */
static ward__link *link_of(ward__conn *c) {
  return atomic_load_explicit(&c->link, memory_order_acquire);
}
static void link_rearm(ward__conn *c);
static int link_claim(ward__conn *c);
static int link_read(ward__conn *c);
static int link_wait(ward__conn *c, int64_t deadline, int want_out);
static int link_switched(ward__conn *c, size_t left);

/* ------------------------------------------------------------------ */
/* The table of our calls in flight                                    */

static size_t slot(const ward__conn *c, uint32_t id) { return id & (c->tabsz - 1); }

static ward__call *tab_find(const ward__conn *c, uint32_t id) {
  for (ward__call *k = c->tab[slot(c, id)]; k; k = k->next)
    if (k->id == id)
      return k;
  return NULL;
}

static int tab_grow(ward__conn *c) {
  size_t nsz = c->tabsz * 2;
  ward__call **nt = calloc(nsz, sizeof *nt);
  if (!nt)
    return WARD_ENOMEM;
  for (size_t i = 0; i < c->tabsz; i++) {
    for (ward__call *k = c->tab[i], *next; k; k = next) {
      next = k->next;
      k->next = nt[k->id & (nsz - 1)];
      nt[k->id & (nsz - 1)] = k;
    }
  }
  free(c->tab);
  c->tab = nt;
  c->tabsz = nsz;
  return 0;
}

static int tab_insert(ward__conn *c, ward__call *call) {
  if (c->ncalls >= c->tabsz && tab_grow(c))
    return WARD_ENOMEM;
  /* Ids with the top bit set are the loop's heartbeats (ward__conn_heartbeat). */
  do
    call->id = ++c->next_id & ~WARD__HB_BIT;
  while (call->id == 0 || tab_find(c, call->id));
  size_t s = slot(c, call->id);
  call->next = c->tab[s];
  c->tab[s] = call;
  c->ncalls++;
  return 0;
}

static void tab_remove(ward__conn *c, const ward__call *call) {
  for (ward__call **pp = &c->tab[slot(c, call->id)]; *pp; pp = &(*pp)->next) {
    if (*pp == call) {
      *pp = call->next;
      c->ncalls--;
      return;
    }
  }
}

/* Reading is paused while too much read is not yet handled, except for
 * a handler waiting for credit: what it waits for must still get in. */
static int paused(ward__conn *c) {
  return atomic_load(&c->throttled) &&
         (!atomic_load(&c->credit_wait) || atomic_load(&c->overfull));
}

/* With the lock held: an asynchronous call has news for its owner.
 * Returns whether the owner must be told (after unlocking). */
static int mark_ready(ward__call *call) {
  if (!call->async || call->queued)
    return 0;
  call->queued = 1;
  return 1;
}

/* With the lock held: the call has news (events or its end). A blocking
 * owner is woken here; returns whether an asynchronous one must be told
 * (after unlocking). */
static int news(ward__call *call) {
  if (!call->async)
    pthread_cond_signal(call->cond);
  return mark_ready(call);
}

/* Tells the peer to stop working on call `id` (lock not held; never waits:
 * what the socket does not take is queued). */
static void send_cancel(ward__conn *c, uint32_t id) {
  ward__hdr h = {.kind = WARD__K_CANCEL, .id = id};
  ward__conn_send(c, &h, NULL, NULL, 0, NULL, 0, 0, 0);
}

/* With the lock held: ends the call with `err` (and `reply`, owned by it
 * from now on); returns news(). */
static int end_call(ward__conn *c, ward__call *call, int err, ward_msg *reply) {
  tab_remove(c, call);
  call->done = 1;
  call->err = err;
  call->reply = reply;
  return news(call);
}

/* ------------------------------------------------------------------ */
/* Waiters and the reading role                                        */

static void waiter_add(ward__conn *c, ward__waiter *w) {
  w->prev = NULL;
  w->next = c->waiters;
  if (c->waiters)
    c->waiters->prev = w;
  c->waiters = w;
}

static void waiter_remove(ward__conn *c, ward__waiter *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    c->waiters = w->next;
  if (w->next)
    w->next->prev = w->prev;
}

/* With the lock held: if the role is free, wake one thread that may take it. */
static void wake_role_waiter(ward__conn *c) {
  if (c->reader == WARD__READER_NONE && c->waiters)
    pthread_cond_signal(c->waiters->cond);
}

/* With the lock held: tell the owner's loop what to watch. While a caller
 * reads, the loop must not (it would only wake up for nothing). After a
 * caller is done the loop stays off for a while (`lazy`): calls in a row
 * then cost no epoll_ctl at all, and the owner's loop turns reading back on
 * once the connection has been left alone (ward__conn_settle). */
static void update_watch(ward__conn *c) {
  if (!c->ops->watch || c->closed)
    return;
  int ev = 0;
  if (c->reader != WARD__READER_CALLER && !c->lazy && !paused(c))
    ev |= WARD__IN;
  if (c->outq_len && !c->writing) {
    /* With shared memory, room in the ring is told by a byte on the
     * socket, which the reading caller takes when there is one. */
    if (!link_of(c))
      ev |= WARD__OUT;
    else if (c->reader != WARD__READER_CALLER)
      ev |= WARD__IN;
  }
  if (ev != c->watch_events) {
    c->watch_events = ev;
    c->ops->watch(c, ev);
  }
}

/* With the lock held. */
static void pending_add(ward__conn *c, size_t bytes) {
  c->pending_in += bytes;
  if (c->pending_in > PENDING_HIGH && !atomic_load(&c->throttled)) {
    atomic_store(&c->throttled, 1);
    update_watch(c);
  }
  if (c->pending_in > PENDING_CAP && !atomic_load(&c->overfull)) {
    atomic_store(&c->overfull, 1);
    update_watch(c);
    /* A handler waiting for credit gives up. */
    pthread_cond_broadcast(&c->inbox_cond);
  }
}

/* With the lock held. */
static void pending_sub(ward__conn *c, size_t bytes) {
  c->pending_in = c->pending_in > bytes ? c->pending_in - bytes : 0;
  if (atomic_load(&c->overfull) && c->pending_in <= PENDING_CAP) {
    atomic_store(&c->overfull, 0);
    update_watch(c);
    wake_role_waiter(c);
  }
  if (atomic_load(&c->throttled) && c->pending_in < PENDING_LOW) {
    atomic_store(&c->throttled, 0);
    update_watch(c);
    wake_role_waiter(c);
    /* Records left in the ring while reading was paused: no byte says so. */
    link_rearm(c);
  }
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */

/* The errors that mean the peer broke the protocol. */
static int is_violation(int err) { return err == WARD_EPROTO || err == WARD_ETOOBIG; }

int ward__conn_new(ward__conn **out, ward__fd fd, const ward__conn_ops *ops, void *owner,
                   uint32_t max_in) {
  ward__conn *c = calloc(1, sizeof *c);
  if (!c)
    return WARD_ENOMEM;
  c->tabsz = 16;
  c->tab = calloc(c->tabsz, sizeof *c->tab);
  c->rcap = RBUF_SIZE;
  c->rbuf = malloc(c->rcap);
  if (!c->tab || !c->rbuf) {
    free(c->tab);
    free(c->rbuf);
    free(c);
    return WARD_ENOMEM;
  }
  pthread_mutex_init(&c->mu, NULL);
  ward__cond_init(&c->inbox_cond);
  ward__cond_init(&c->wcond);
  atomic_init(&c->refs, 1);
  atomic_init(&c->closed_flag, 0);
  atomic_init(&c->throttled, 0);
  atomic_init(&c->credit_wait, 0);
  atomic_init(&c->overfull, 0);
  atomic_init(&c->serving_cancelled, 0);
  atomic_init(&c->kicked, 0);
  c->fd = fd;
  c->ops = ops;
  c->owner = owner;
  c->max_in = max_in;
  c->max_out = WARD_MAX_FRAME_DEFAULT;
  c->default_timeout_ms = WARD_REQUEST_TIMEOUT_MS_DEFAULT; /* a worker's; a host's is its spec's */
  c->watch_events = WARD__IN;
  ward__dec_init(&c->dec, max_in);
  *out = c;
  return 0;
}

void ward__conn_ref(ward__conn *c) { atomic_fetch_add(&c->refs, 1); }

void ward__conn_unref(ward__conn *c) {
  if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
    return;
  ward__item *it;
  while ((it = ward__itemq_pop(&c->inbox)))
    ward__item_free(it);
  ward__dec_free(&c->dec);
  ward__zc_drop_fds(c);
  ward__close(c->fd);
  ward__link_free(link_of(c));
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->inbox_cond);
  pthread_cond_destroy(&c->wcond);
  size_t peak = c->outq_peak;
  ward__conn_free_outq(c);
  free(c->rbuf);
  free(c->tab);
  free(c);
  /* A peer that did not read made us hold much: give it back to the
   * system rather than keep it for a flood that may never come again. */
  if (peak >= TRIM_AFTER)
    ward__mem_trim();
}

static void end_writing(ward__conn *c, int rv);

void ward__conn_close(ward__conn *c, int err) {
  pthread_mutex_lock(&c->mu);
  if (c->closed) {
    pthread_mutex_unlock(&c->mu);
    return;
  }
  c->closed = 1;
  c->close_err = err;
  /* Whoever caught a violation said what it was on this thread: kept for
   * the owner, who may report it from another. */
  if (is_violation(err))
    snprintf(c->violation, sizeof c->violation, "%s", ward_last_error());
  atomic_store(&c->closed_flag, 1);
  ward__call *ready = NULL;
  for (size_t i = 0; i < c->tabsz; i++) {
    for (ward__call *k = c->tab[i], *next; k; k = next) {
      next = k->next;
      if (k->tombstone) {
        free(k);
        continue;
      }
      k->done = 1;
      k->err = err;
      if (mark_ready(k)) {
        k->next = ready; /* the chain is free to reuse now */
        ready = k;
      } else if (!k->async) {
        pthread_cond_signal(k->cond);
      }
    }
    c->tab[i] = NULL;
  }
  c->ncalls = 0;
  for (ward__waiter *w = c->waiters; w; w = w->next)
    pthread_cond_signal(w->cond);
  pthread_cond_broadcast(&c->inbox_cond);
  pthread_cond_broadcast(&c->wcond);
  /* The shutdown wakes any thread polling the socket (the fd stays ours
   * until unref); but frames queued before the close must reach the peer
   * first: a stop's GOODBYE, queued because a handler's reply was being
   * written at that moment, would otherwise be lost and the worker would
   * read the end of its channel without it. A writer that is busy sends
   * them when its frame is done (end_writing); with none, they are sent
   * here. Neither waits for the socket: a writer waiting for a peer that
   * does not read is woken by the shutdown at once. */
  int flush = 0;
  if (c->writing && !c->wblocked) {
    c->shut_deferred = 1;
  } else if (!c->writing && c->outq_len) {
    c->writing = 1;
    c->shut_deferred = 1;
    flush = 1;
  } else {
    ward__sock_shutdown(c->fd);
  }
  /* A writer waiting for room in a ring is woken as the socket's is. */
  if (link_of(c))
    ward__link_close_wake(link_of(c));
  pthread_mutex_unlock(&c->mu);
  if (flush)
    end_writing(c, 0);
  while (ready) {
    ward__call *next = ready->next;
    ready->next = NULL;
    c->ops->call_ready(c, ready);
    ready = next;
  }
  if (c->ops->closed)
    c->ops->closed(c, err);
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */

/* Drops `n` written bytes from the front of an iovec array. Returns whether
 * anything is left. */
static int iov_advance(ward__buf *iov, int cnt, size_t n, int *first) {
  int i = *first;
  while (i < cnt && n >= iov[i].len) {
    n -= iov[i].len;
    iov[i].len = 0;
    i++;
  }
  if (i < cnt) {
    iov[i].base = (const uint8_t *)iov[i].base + n;
    iov[i].len -= n;
  }
  while (i < cnt && iov[i].len == 0)
    i++;
  *first = i;
  return i < cnt;
}

/* The out queue is a list of chunks. The writer sends from the head while
 * others append at the tail under the lock: bytes being written never
 * move, and nothing is copied twice. */
typedef struct ward__chunk {
  struct ward__chunk *next;
  size_t off, len, cap;
  uint8_t data[];
} ward__chunk;

#define CHUNK_MIN 4096
/* Chunks grow with the queue, up to this: a queue of many small frames
 * (answers to a peer that floods) costs few allocations. */
#define CHUNK_MAX (1u << 20)
/* What may wait besides the largest frame: control frames and small
 * messages behind it. */
#define OUTQ_SLACK (1u << 20)

/* The most that may wait for the peer. It comes from this side's own
 * limit (what it accepts itself, max_in), never from a number the peer
 * sent: the peer can only lower it, by accepting less. */
static size_t outq_limit(const ward__conn *c) {
  uint32_t frame = c->max_out < c->max_in ? c->max_out : c->max_in;
  return (size_t)frame + WARD__HDR_SIZE + WARD_MAX_NAME + OUTQ_SLACK;
}

/* With the lock held: appends the iovecs as whole frames. The queue is
 * bounded: a peer that stops reading while we owe it more than
 * outq_limit() is cut off (WARD_EPROTO). One frame is always taken into
 * an empty queue: its size was checked against the peer's limit when it
 * was sent, and it is this side's own doing. */
static int queue_back(ward__conn *c, const ward__buf *iov, int first, int cnt) {
  size_t add = 0;
  for (int i = first; i < cnt; i++)
    add += iov[i].len;
  if (!add)
    return 0;
  size_t limit = outq_limit(c);
  if (c->outq_len && c->outq_len + add > limit)
    return ward__fail(WARD_EPROTO,
                      "peer stopped reading: %zu bytes wait for it, over the limit of %zu",
                      c->outq_len + add, limit);
  ward__chunk *t = c->outq_tail;
  if (!t || t->cap - t->off - t->len < add) {
    size_t cap = c->outq_len < CHUNK_MAX ? c->outq_len : CHUNK_MAX;
    if (cap < CHUNK_MIN)
      cap = CHUNK_MIN;
    if (cap < add)
      cap = add;
    ward__chunk *n = malloc(sizeof *n + cap);
    if (!n)
      return WARD_ENOMEM;
    n->next = NULL;
    n->off = n->len = 0;
    n->cap = cap;
    if (t)
      t->next = n;
    else
      c->outq = n;
    c->outq_tail = t = n;
  }
  for (int i = first; i < cnt; i++) {
    if (iov[i].len)
      memcpy(t->data + t->off + t->len, iov[i].base, iov[i].len);
    t->len += iov[i].len;
  }
  c->outq_len += add;
  if (c->outq_len > c->outq_peak)
    c->outq_peak = c->outq_len;
  return 0;
}

/* Sends what the transport takes now: the socket, or the rings once
 * negotiated (`block` only says how a wake-up for room is asked for). */
static ptrdiff_t t_send(ward__conn *c, const ward__buf *iov, int cnt, int block) {
  ward__link *l = link_of(c);
  atomic_fetch_add_explicit(&c->sends, 1, memory_order_relaxed);
  return l ? ward__link_send(l, c->fd, iov, cnt, block) : ward__sock_send(c->fd, iov, cnt);
}

#define WAIT_CLOSED (-2)

/* With `writing` held and no lock: waits for the socket to take more, as
 * ward__wait_fd, or returns WAIT_CLOSED at once when the connection is
 * closed: a close shuts the socket down (and wakes a ring's writer) under
 * a writer that waits, and leaves one that does not to finish
 * (ward__conn_close). The transport is the socket, or the rings once
 * negotiated. */
static int wait_out(ward__conn *c, int64_t deadline) {
  pthread_mutex_lock(&c->mu);
  int closed = c->closed;
  c->wblocked = !closed;
  pthread_mutex_unlock(&c->mu);
  if (closed)
    return WAIT_CLOSED;
  ward__link *l = link_of(c);
  int ev = l ? ward__link_wait_room(l, deadline, &c->closed_flag)
             : ward__wait_fd(c->fd, WARD__OUT, deadline);
  pthread_mutex_lock(&c->mu);
  c->wblocked = 0;
  pthread_mutex_unlock(&c->mu);
  return ev;
}

/* With `writing` held and no lock: sends the out queue. Returns 0 once it
 * is empty, 1 when the socket is full and `block` is 0, or an error
 * (WARD_ETIMEDOUT, WARD_ECRASHED, WARD_ECLOSED). */
static int drain_outq(ward__conn *c, int block, int64_t deadline) {
  for (;;) {
    pthread_mutex_lock(&c->mu);
    ward__chunk *h = c->outq;
    while (h && h->len == 0) {
      /* Spent chunks go, except the tail, which appenders still use. */
      if (h == c->outq_tail) {
        h->off = 0;
        h = NULL;
        break;
      }
      c->outq = h->next;
      free(h);
      h = c->outq;
    }
    ward__buf one = {h ? h->data + h->off : NULL, h ? h->len : 0};
    pthread_mutex_unlock(&c->mu);
    if (!h)
      return 0;
    ptrdiff_t w = t_send(c, &one, 1, block);
    if (w < 0)
      return (int)w;
    if (w > 0) {
      pthread_mutex_lock(&c->mu);
      h->off += (size_t)w;
      h->len -= (size_t)w;
      c->outq_len -= (size_t)w;
      pthread_mutex_unlock(&c->mu);
      continue;
    }
    if (!block)
      return 1;
    deadline = ward__deadline_fix(deadline);
    int ev = wait_out(c, deadline);
    if (ev == 0)
      return WARD_ETIMEDOUT;
    if (ev < 0)
      return ev == WAIT_CLOSED ? WARD_ECLOSED : WARD_ECRASHED;
  }
}

/* Batching. Frames that others queued while this writer wrote (small
 * ones from blocking senders join the queue rather than wait for their
 * turn: frame_joins) go out when it is done (end_writing), as far as the
 * transport takes them without waiting, in one write, rather than one
 * write per sender after a wake-up each. */

/* Frames of at most this many bytes join the queue of a writer at work,
 * while it holds less than COMBINE_QUEUE. */
#define COMBINE_FRAME 4096u
#define COMBINE_QUEUE (64u * 1024u)

/* With the lock held: whether a blocking sender's frame joins the queue
 * that the writer at work sends after its own (end_writing). */
static int frame_joins(const ward__conn *c, const ward__buf iov[3]) {
  size_t n = iov[0].len + iov[1].len + iov[2].len;
  return c->writing && n <= COMBINE_FRAME && c->outq_len + n <= COMBINE_QUEUE;
}

/* Gathering. A burst of notifications from one thread finds no writer at
 * work, so frame_joins never holds for it; yet once the transport is full
 * (a write took less than a whole frame), the frames that follow would
 * each wait for room and go out in a write of their own. Instead a small
 * notification then joins the out queue, without a system call, as long
 * as someone is sure to flush the queue: the owner's loop (ops->watch:
 * it watches for room, and the queue is what it flushes) or the client's
 * serving thread, which flushes when its handler returns (ward__conn_gather).
 * The queue goes out in one write per room the transport has, and
 * ordering is kept because every other sender sends the queue before its
 * own frame. A lone notification still goes out at once: gathering starts
 * only when the queue is not empty. The queue of gathered frames is
 * bounded by GATHER_MAX: past it, the sender waits for room as before. */
#define GATHER_MAX (64u * 1024u)

static _Thread_local const ward__conn *tl_flusher;

void ward__conn_gather(const ward__conn *c) { tl_flusher = c; }

/* With the lock held: whether someone will flush what waits in the queue. */
static int has_flusher(const ward__conn *c) { return c->ops->watch || tl_flusher == c; }

/* With the lock held: whether a blocking sender's frame (a notification:
 * `gather`) joins the queue that waits for the transport. */
static int frame_gathers(const ward__conn *c, const ward__buf iov[3], int gather) {
  size_t n = iov[0].len + iov[1].len + iov[2].len;
  return gather && c->outq_len && n <= COMBINE_FRAME && c->outq_len + n <= GATHER_MAX &&
         has_flusher(c);
}

/* With `writing` held: sends what others queued meanwhile (batching,
 * above), gives it back and wakes whoever waits to write. When the
 * connection was closed meanwhile, leaving the shutdown to the writer
 * (ward__conn_close), it first sends what is queued, as far as the
 * socket takes it now, and then shuts the socket down. A frame sent with
 * nothing queued behind it costs one round of the lock here. */
static void end_writing(ward__conn *c, int rv) {
  pthread_mutex_lock(&c->mu);
  if (rv == 0 && c->outq_len) {
    pthread_mutex_unlock(&c->mu);
    rv = drain_outq(c, 0, 0);
    if (rv == 1)
      rv = 0;
    pthread_mutex_lock(&c->mu);
  }
  if (c->shut_deferred) {
    c->shut_deferred = 0;
    pthread_mutex_unlock(&c->mu);
    (void)drain_outq(c, 0, 0);
    ward__sock_shutdown(c->fd);
    pthread_mutex_lock(&c->mu);
  }
  c->writing = 0;
  update_watch(c);
  pthread_cond_broadcast(&c->wcond);
  pthread_mutex_unlock(&c->mu);
  if (rv == WARD_ECRASHED || rv == WARD_ENOMEM || rv == WARD_EPROTO)
    ward__conn_close(c, rv);
}

/* With `writing` held and the queue empty: writes one frame. What the
 * socket does not take goes to the queue (a non-blocking sender), or is
 * waited for; at the deadline a frame not begun is dropped and one begun
 * is queued, so the stream never holds half a frame. */
static int write_frame(ward__conn *c, ward__buf *iov, int cnt, int block, int gather,
                       int64_t deadline) {
  int first = 0;
  size_t done = 0;
  size_t whole = 0;
  for (int i = 0; i < cnt; i++)
    whole += iov[i].len;
  for (;;) {
    ptrdiff_t w = t_send(c, iov, cnt, block);
    if (w < 0)
      return (int)w;
    done += (size_t)w;
    if (!iov_advance(iov, cnt, (size_t)w, &first))
      return 0;
    if (w > 0)
      continue;
    int rv = 1;
    /* The transport is full: a small notification waits in the queue for
     * the flusher, and those after it gather there (frame_gathers). */
    pthread_mutex_lock(&c->mu);
    int gathers = gather && whole <= COMBINE_FRAME && has_flusher(c);
    pthread_mutex_unlock(&c->mu);
    if (block && !gathers) {
      deadline = ward__deadline_fix(deadline);
      int ev = wait_out(c, deadline);
      if (ev > 0)
        continue;
      rv = ev == 0 ? WARD_ETIMEDOUT : ev == WAIT_CLOSED ? WARD_ECLOSED : WARD_ECRASHED;
      /* Nothing of it sent: dropped (a frame the close came before). */
      if ((rv == WARD_ETIMEDOUT || rv == WARD_ECLOSED) && done == 0)
        return rv;
    }
    pthread_mutex_lock(&c->mu);
    int qrv = queue_back(c, iov, first, cnt);
    pthread_mutex_unlock(&c->mu);
    return qrv ? qrv : rv == 1 ? 0 : rv;
  }
}

static int send_iov(ward__conn *c, ward__buf iov[3], int block, int gather, int64_t deadline);

int ward__conn_send(ward__conn *c, const ward__hdr *h, const char *name, const void *p1,
                    size_t n1, const void *p2, size_t n2, int block, int64_t deadline) {
  /* A large payload already in shared memory goes as it is, where the
   * peer agreed to it (zcopy.c). */
  uint32_t zmin = atomic_load_explicit(&c->zc_min, memory_order_relaxed);
  if (zmin && p1 && n1 >= zmin && !n2 && ward__zc_kind(h->kind)) {
    ward__fd pass = ward__zc_offered_fd(p1, n1);
    if (ward__fd_valid(pass))
      return ward__conn_send_fd(c, h, name, pass, p1, block, ward__deadline_fix(deadline));
  }
  uint8_t hb[WARD__HDR_SIZE + WARD_MAX_NAME];
  ward__hdr_put(hb, h);
  if (h->nlen && name)
    memcpy(hb + WARD__HDR_SIZE, name, h->nlen);
  ward__buf iov[3] = {{hb, WARD__HDR_SIZE + h->nlen},
                         {(void *)p1, p1 ? n1 : 0},
                         {(void *)p2, p2 ? n2 : 0}};
  return send_iov(c, iov, block, block && h->kind == WARD__K_NOTIFY, deadline);
}

/* An ordinary frame of h->len bytes of `data`. */
static int send_plain(ward__conn *c, const ward__hdr *h, const char *name, const void *data,
                      int block, int64_t deadline) {
  uint8_t hb[WARD__HDR_SIZE + WARD_MAX_NAME];
  ward__hdr_put(hb, h);
  if (h->nlen && name)
    memcpy(hb + WARD__HDR_SIZE, name, h->nlen);
  ward__buf iov[3] = {{hb, WARD__HDR_SIZE + h->nlen}, {data, h->len}, {NULL, 0}};
  return send_iov(c, iov, block, 0, deadline);
}

/* Nothing of the frame went: the descriptor did not either. */
#define NOT_SENT 1

/* With `writing` held and the queue empty: writes a frame with the
 * descriptor `pass` on its first byte. Once some of it went, the rest
 * (a few bytes: header, name, length) is queued if the socket does not
 * take it now; before, a sender that must not block gets NOT_SENT. */
static int write_frame_fd(ward__conn *c, ward__buf *iov, int cnt, ward__fd pass, int block,
                          int64_t deadline) {
  for (;;) {
    ptrdiff_t w = ward__sock_send_fd(c->fd, iov, cnt, pass);
    if (w < 0)
      return (int)w;
    int first = 0;
    if (w > 0 && !iov_advance(iov, cnt, (size_t)w, &first))
      return 0;
    if (w > 0) {
      ptrdiff_t more = ward__sock_send(c->fd, iov + first, cnt - first);
      if (more < 0)
        return (int)more;
      if (!iov_advance(iov, cnt, (size_t)more, &first))
        return 0;
      pthread_mutex_lock(&c->mu);
      int rv = queue_back(c, iov, first, cnt);
      pthread_mutex_unlock(&c->mu);
      return rv;
    }
    if (!block)
      return NOT_SENT;
    int ev = ward__wait_fd(c->fd, WARD__OUT, deadline);
    if (ev <= 0)
      return ev == 0 ? WARD_ETIMEDOUT : WARD_ECRASHED;
  }
}

static void put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

int ward__conn_send_fd(ward__conn *c, const ward__hdr *h, const char *name, ward__fd pass,
                       const void *view, int block, int64_t deadline) {
  /* The frame as it goes with the descriptor: its payload is the length. */
  uint8_t zb[WARD__HDR_SIZE + WARD_MAX_NAME + 8];
  ward__hdr zh = *h;
  zh.flags |= WARD__FLAG_SHM;
  zh.len = 8;
  ward__hdr_put(zb, &zh);
  if (h->nlen && name)
    memcpy(zb + WARD__HDR_SIZE, name, h->nlen);
  put64(zb + WARD__HDR_SIZE + h->nlen, h->len);
  ward__buf iov[3] = {{zb, WARD__HDR_SIZE + h->nlen + 8u}, {NULL, 0}, {NULL, 0}};
  pthread_mutex_lock(&c->mu);
  for (;;) {
    if (c->closed) {
      int err = c->close_err;
      pthread_mutex_unlock(&c->mu);
      return err;
    }
    int behind = c->outq_len && c->ops->watch;
    if (!c->writing && (block || !behind))
      break;
    if (!block) {
      pthread_mutex_unlock(&c->mu);
      return send_plain(c, h, name, view, 0, 0);
    }
    if (ward__cond_wait(&c->wcond, &c->mu, deadline) == WARD_ETIMEDOUT) {
      pthread_mutex_unlock(&c->mu);
      return WARD_ETIMEDOUT;
    }
  }
  c->writing = 1;
  int queued = c->outq_len != 0;
  pthread_mutex_unlock(&c->mu);
  int rv = queued ? drain_outq(c, block, deadline) : 0;
  if (rv == 0)
    rv = write_frame_fd(c, iov, 3, pass, block, deadline);
  if (rv == 1 || rv == NOT_SENT) {
    /* The queue holds bytes, not descriptors: the payload is copied. */
    uint8_t hb[WARD__HDR_SIZE + WARD_MAX_NAME];
    ward__hdr_put(hb, h);
    if (h->nlen && name)
      memcpy(hb + WARD__HDR_SIZE, name, h->nlen);
    ward__buf plain[3] = {{hb, WARD__HDR_SIZE + h->nlen}, {view, h->len}, {NULL, 0}};
    pthread_mutex_lock(&c->mu);
    rv = queue_back(c, plain, 0, 3);
    pthread_mutex_unlock(&c->mu);
  }
  end_writing(c, rv);
  return rv;
}

int ward__conn_pong(ward__conn *c, uint32_t id, uint8_t *owned) {
  free(owned);
  ward__hdr h = {.kind = WARD__K_PONG, .id = id};
  int rv = ward__conn_send(c, &h, NULL, NULL, 0, NULL, 0, 0, 0);
  return rv == WARD_ENOMEM ? rv : 0;
}

int ward__conn_send_frames(ward__conn *c, const void *frames, size_t len, int block,
                           int64_t deadline) {
  ward__buf iov[3] = {{(void *)frames, len}, {NULL, 0}, {NULL, 0}};
  return send_iov(c, iov, block, 0, deadline);
}

/* Sends whole frames, given as three iovecs (some may be empty).
 * `gather`: a blocking notification, which may wait in the queue while
 * the transport is full (frame_gathers). */
static int send_iov(ward__conn *c, ward__buf iov[3], int block, int gather, int64_t deadline) {
  pthread_mutex_lock(&c->mu);
  for (;;) {
    if (c->closed) {
      int err = c->close_err;
      pthread_mutex_unlock(&c->mu);
      return err;
    }
    /* A sender that must not block queues behind a writer, and behind
     * frames already waiting when a loop watches for the socket to take
     * them: the socket was full a moment ago, and trying it again for
     * every small frame (pongs to a flood) would cost a system call each. */
    int behind = c->outq_len && c->ops->watch;
    int gathers = frame_gathers(c, iov, gather);
    if (!c->writing && (block || !behind) && !gathers)
      break;
    if (!block || gathers || frame_joins(c, iov)) {
      /* The frame waits its turn in the queue. */
      int rv = queue_back(c, iov, 0, 3);
      update_watch(c);
      pthread_mutex_unlock(&c->mu);
      if (rv)
        ward__conn_close(c, rv);
      return rv;
    }
    /* A deadline counted from the first wait (ward__deadline_later)
     * starts here, once for the whole send. */
    deadline = ward__deadline_fix(deadline);
    if (ward__cond_wait(&c->wcond, &c->mu, deadline) == WARD_ETIMEDOUT) {
      pthread_mutex_unlock(&c->mu);
      return WARD_ETIMEDOUT;
    }
  }
  c->writing = 1;
  int queued = c->outq_len != 0;
  pthread_mutex_unlock(&c->mu);
  /* What others queued goes first: frames keep their order. The queue
   * may have to be waited for, and the frame after it shares its
   * deadline. */
  if (queued)
    deadline = ward__deadline_fix(deadline);
  int rv = queued ? drain_outq(c, block, deadline) : 0;
  if (rv == 1) {
    pthread_mutex_lock(&c->mu);
    rv = queue_back(c, iov, 0, 3);
    pthread_mutex_unlock(&c->mu);
  } else if (rv == 0) {
    rv = write_frame(c, iov, 3, block, gather, deadline);
  }
  end_writing(c, rv);
  return rv;
}

int ward__conn_drain(ward__conn *c, int timeout_ms) {
  pthread_mutex_lock(&c->mu);
  /* The clock is read only when there is something to wait for: this is
   * called after every handler. */
  int64_t deadline = c->outq_len ? ward__deadline(timeout_ms) : 0;
  for (;;) {
    if (c->closed || !c->outq_len) {
      int rv = c->closed ? c->close_err : 0;
      pthread_mutex_unlock(&c->mu);
      return rv;
    }
    if (!c->writing)
      break;
    if (ward__cond_wait(&c->wcond, &c->mu, deadline) == WARD_ETIMEDOUT) {
      pthread_mutex_unlock(&c->mu);
      return WARD_ETIMEDOUT;
    }
  }
  c->writing = 1;
  pthread_mutex_unlock(&c->mu);
  int rv = drain_outq(c, 1, deadline);
  end_writing(c, rv);
  return rv;
}

void ward__conn_flush(ward__conn *c) {
  pthread_mutex_lock(&c->mu);
  if (c->writing || !c->outq_len || c->closed) {
    /* A writer at work sends the queue, and watches for room again when
     * it is done (end_writing) if some is left: until then the loop stops
     * watching, or it would wake up for nothing while the socket has room. */
    if (c->writing)
      update_watch(c);
    pthread_mutex_unlock(&c->mu);
    return;
  }
  c->writing = 1;
  pthread_mutex_unlock(&c->mu);
  int rv = drain_outq(c, 0, 0);
  end_writing(c, rv == 1 ? 0 : rv);
}

void ward__conn_free_outq(ward__conn *c) {
  for (ward__chunk *k = c->outq, *n; k; k = n) {
    n = k->next;
    free(k);
  }
  c->outq = c->outq_tail = NULL;
  c->outq_len = 0;
}

/* ------------------------------------------------------------------ */
/* Reading and dispatch (by the holder of the reading role, no lock)   */

static ward_msg *reply_msg(const ward__frame *f, uint8_t *owned) {
  int enc = f->h.flags & WARD__FLAG_ENC_MASK;
  if (f->map) {
    /* The reply's data stays in the mapping. */
    ward__body_free(owned);
    owned = NULL;
    ward_msg *m = malloc(sizeof *m);
    if (!m)
      return NULL;
    *m = (ward_msg){.enc = enc, .data = f->payload, .len = f->h.len,
                    .map = ward__map_ref(f->map)};
    return m;
  }
  if (!owned)
    return ward__msg_new(0, enc, NULL, 0, f->payload, f->h.len);
  ward_msg *m = malloc(sizeof *m);
  if (!m) {
    free(owned);
    return NULL;
  }
  m->code = 0;
  m->enc = enc;
  m->error = NULL;
  m->owned = owned;
  m->map = NULL;
  m->data = owned + f->h.nlen;
  m->len = f->h.len;
  return m;
}

/* REPLY, ERROR or PONG: the outcome of one of our calls. */
static int complete(ward__conn *c, const ward__frame *f, uint8_t *owned) {
  int err = 0;
  ward_msg *m = NULL;
  uint8_t want = f->h.kind == WARD__K_PONG ? WARD__K_PING : WARD__K_REQUEST;
  if (f->h.kind == WARD__K_PONG && (f->h.id & WARD__HB_BIT)) {
    free(owned);
    pthread_mutex_lock(&c->mu);
    if (f->h.id == c->hb_id)
      c->hb_id = 0;
    pthread_mutex_unlock(&c->mu);
    return 0;
  }
  if (f->h.kind == WARD__K_ERROR) {
    const char *msg;
    const uint8_t *data;
    size_t mlen, dlen;
    if (ward__err_get(f->payload, f->h.len, &msg, &mlen, &data, &dlen)) {
      free(owned);
      return ward__fail(WARD_EPROTO, "malformed ERROR frame for call %u", f->h.id);
    }
    int code = (int32_t)f->h.aux;
    if (code == WARD_ENOMETHOD) {
      err = WARD_ENOMETHOD;
    } else {
      err = WARD_EREMOTE;
      m = ward__msg_new(code, f->h.flags & WARD__FLAG_ENC_MASK, msg, mlen, data, dlen);
      if (!m)
        err = WARD_ENOMEM;
    }
    free(owned);
  } else if (f->h.kind == WARD__K_REPLY) {
    m = reply_msg(f, owned);
    if (!m)
      err = WARD_ENOMEM;
  } else {
    free(owned);
  }
  pthread_mutex_lock(&c->mu);
  ward__call *call = tab_find(c, f->h.id);
  int tell = 0;
  if (call && call->tombstone) {
    /* The end of a cancelled call: nothing waits for it any more. */
    tab_remove(c, call);
    free(call);
    call = NULL;
  } else if (call && call->kind == want && !call->done) {
    tell = end_call(c, call, err, m);
    m = NULL;
  }
  pthread_mutex_unlock(&c->mu);
  if (tell)
    c->ops->call_ready(c, call);
  /* An answer to a call that already ended (timed out) is dropped. */
  ward_msg_free(m);
  return 0;
}

/* Counts a row on its stream; a sequence number out of order is a
 * protocol violation (lock held). `same`: the stream of the last row. */
static int same_stream(const ward_stream_count *sc, const ward__frame *f) {
  return memcmp(sc->name, f->name, f->h.nlen) == 0 && sc->name[f->h.nlen] == 0;
}

static int count_row(ward__call *call, const ward__frame *f, int same) {
  ward_stream_count *sc = NULL;
  /* Rows come in runs on one stream: the last one's is tried first. */
  if (call->last_stream < call->nstreams &&
      (same || same_stream(&call->streams[call->last_stream], f)))
    sc = &call->streams[call->last_stream];
  for (size_t i = 0; i < call->nstreams && !sc; i++)
    if (same_stream(&call->streams[i], f)) {
      sc = &call->streams[i];
      call->last_stream = i;
    }
  if (!sc) {
    ward_stream_count *v = realloc(call->streams, (call->nstreams + 1) * sizeof *v);
    if (!v)
      return WARD_ENOMEM;
    call->streams = v;
    call->last_stream = call->nstreams;
    sc = &v[call->nstreams++];
    memset(sc, 0, sizeof *sc);
    memcpy(sc->name, f->name, f->h.nlen);
  }
  if (f->h.aux != sc->rows + 1)
    return ward__fail(WARD_EPROTO, "row %u on stream '%s' of call %u, expected %llu", f->h.aux,
                      sc->name, f->h.id, (unsigned long long)sc->rows + 1);
  sc->rows++;
  sc->bytes += f->h.len;
  return 0;
}

/* Row packs. Rows that follow one another on one stream of one call join
 * the item of the first while it waits for the caller (ward__rowpack):
 * a stream of small rows then costs an allocation per pack, not per row,
 * and the caller takes a pack in one callback (on_rows). A pack holds at
 * most PACK_MAX bytes of payload, so what it costs stays within the
 * bounds flow control sets on what waits for a call (its buffers grow
 * by doubling: at most twice what they hold). */
#define PACK_ROW 4096u
#define PACK_MAX (64u * 1024u)
/* And at most this many rows, so that its array of lengths stays within
 * 64 KiB too, however small the rows. */
#define PACK_ROWS 4096u

static size_t rows_in(const ward__item *it) { return it->pack ? it->pack->n : 1; }

/* Whether the frame's row may join item `t`, the last waiting for the
 * call. `same`: the row is on the stream of the call's last row. */
static int joins_pack(const ward__item *t, const ward__frame *f, int same) {
  if (!t || f->h.kind != WARD__K_ROW || f->map || f->h.len > PACK_ROW)
    return 0;
  if (t->h.kind != WARD__K_ROW || t->map || t->h.nlen != f->h.nlen ||
      (!same && memcmp(t->name, f->name, f->h.nlen) != 0))
    return 0;
  size_t held = t->pack ? t->pack->used : (size_t)t->h.len + 1;
  return t->h.aux + (uint32_t)rows_in(t) == f->h.aux && held + f->h.len + 1 <= PACK_MAX &&
         rows_in(t) < PACK_ROWS;
}

/* Makes room for one more row of `len` bytes. */
static int pack_room(ward__rowpack *p, size_t len) {
  if (p->n == p->nmax) {
    size_t nmax = p->nmax ? p->nmax * 2 : 64;
    ward_row *v = realloc(p->rows, nmax * sizeof *v);
    if (!v)
      return WARD_ENOMEM;
    p->rows = v;
    p->nmax = nmax;
  }
  if (p->used + len + 1 > p->cap) {
    size_t cap = p->cap ? p->cap : 2048;
    while (cap < p->used + len + 1)
      cap *= 2;
    uint8_t *b = realloc(p->buf, cap);
    if (!b)
      return WARD_ENOMEM;
    p->buf = b;
    p->cap = cap;
  }
  return 0;
}

static int pack_put(ward__rowpack *p, uint32_t nlen, const void *data, size_t len) {
  int rv = pack_room(p, len);
  if (rv)
    return rv;
  if (len)
    memcpy(p->buf + p->used, data, len);
  p->buf[p->used + len] = 0;
  p->used += len + 1;
  p->rows[p->n++] = (ward_row){NULL, len};
  p->frame_bytes += ward__frame_size(nlen, (uint32_t)len);
  return 0;
}

/* With the lock held: adds the frame's row to `t` (joins_pack), making
 * `t` a pack when it held one row. The call's spare pack, the last one
 * its caller was done with, is used again: a stream of packs then costs
 * no allocation, and the allocator does not give the pages back and
 * fault them in again for each pack. */
static int pack_add(ward__call *call, ward__item *t, const ward__frame *f) {
  if (!t->pack) {
    ward__rowpack *p = call->spare;
    if (p) {
      call->spare = p->next;
      call->nspare--;
      p->next = NULL;
      p->n = p->used = p->frame_bytes = 0;
    } else if (!(p = calloc(1, sizeof *p))) {
      return WARD_ENOMEM;
    }
    int rv = pack_put(p, t->h.nlen, t->data, t->h.len);
    if (rv) {
      ward__rowpack_free(p);
      return rv;
    }
    t->pack = p;
  }
  return pack_put(t->pack, f->h.nlen, f->payload, f->h.len);
}

/* The caller is done with item `it`: its pack, if any, joins *spare for
 * call_spare; the item goes. */
static void consumed(ward__item *it, ward__rowpack **spare) {
  if (it->pack) {
    it->pack->next = *spare;
    *spare = it->pack;
    it->pack = NULL;
  }
  ward__item_free(it);
}

/* With the lock held: keeps packs of `spare` as the call's spares, up to
 * SPARE_MAX of them (a read may bring several packs at once), and frees
 * the others. */
#define SPARE_MAX 4
static void call_spare(ward__call *call, ward__rowpack *spare) {
  while (spare && call->nspare < SPARE_MAX) {
    ward__rowpack *next = spare->next;
    spare->next = call->spare;
    call->spare = spare;
    call->nspare++;
    spare = next;
  }
  ward__rowpack_free(spare);
}

/* With the lock held: takes PROGRESS, ROW or DIAG `f` for its call, which
 * is live, and sets *tell when the call has news its owner must hear of.
 * Takes `owned`. `same`: a row known to be on the stream of the call's
 * last row (a run: queue_rows), whose name need not be compared again. */
static int take_event(ward__conn *c, ward__call *call, const ward__frame *f, uint8_t *owned,
                      int *tell, int same) {
  int rv = 0;
  size_t frame = ward__frame_size(f->h.nlen, f->h.len);
  if (f->h.kind == WARD__K_ROW)
    rv = count_row(call, f, same);
  if (!rv && f->h.kind != WARD__K_DIAG && call->window) {
    /* The callee may send while at most half the window is out, or
     * while the frame still fits the window: anything else ignores our
     * credits. */
    uint64_t out = call->received - call->credited;
    if (out > call->window / 2 && out + frame > call->window)
      rv = ward__fail(WARD_EPROTO, "peer ignored flow control on call %u", f->h.id);
    call->received += frame;
  }
  /* Flow control bounds what waits for the callbacks; a callee that
   * ignores it is cut off rather than allowed to fill our memory. */
  call->queued_bytes += frame;
  size_t limit = (call->window ? call->window : WARD__UNWINDOWED_MAX) + c->max_in + (64u << 10);
  if (!rv && call->queued_bytes > limit)
    rv = ward__fail(WARD_EPROTO, "peer ignored flow control on call %u (%zu bytes waiting)",
                    f->h.id, call->queued_bytes);
  if (!rv && joins_pack(call->events.tail, f, same)) {
    /* The caller was told of the pack's first row already. */
    rv = pack_add(call, call->events.tail, f);
  } else if (!rv) {
    ward__item *it = ward__item_new(f, owned);
    owned = NULL;
    if (!it)
      return WARD_ENOMEM;
    ward__itemq_push(&call->events, it);
    *tell |= news(call);
  }
  ward__body_free(owned);
  return rv;
}

/* With the lock held: the call `f` is for, if it still takes events. */
static ward__call *event_call(ward__conn *c, const ward__frame *f) {
  ward__call *call = tab_find(c, f->h.id);
  return call && call->kind == WARD__K_REQUEST && !call->done && !call->tombstone ? call : NULL;
}

/* PROGRESS, ROW or DIAG: queued for the caller's thread (or the owner, for
 * an asynchronous call). */
static int queue_event(ward__conn *c, const ward__frame *f, uint8_t *owned) {
  int rv = 0, tell = 0;
  pthread_mutex_lock(&c->mu);
  ward__call *call = event_call(c, f);
  if (call)
    rv = take_event(c, call, f, owned, &tell, 0);
  else
    ward__body_free(owned);
  pthread_mutex_unlock(&c->mu);
  if (tell)
    c->ops->call_ready(c, call);
  return rv;
}

static int checked(const ward__conn *c, const ward__frame *f);

/* Whether a stream's name is `name` again (names are a few bytes). */
static int same_name(const uint8_t *at, const char *name, size_t nlen) {
  for (size_t i = 0; i < nlen; i++)
    if (at[i] != (uint8_t)name[i])
      return 0;
  return 1;
}

/* With the lock held: the fast part of a run of rows (queue_rows). While
 * the call's last item is a pack of rows on f's stream, the frames in `p`
 * (n bytes) that continue it are added to the pack with one look at each
 * header and the per-call accounting (the stream's count, flow control,
 * what waits) done once for them all: a row costs its checks and its
 * copy. Each row is held to what take_event would hold it to (sequence,
 * window, the bound on what waits, the pack's limits); the first one that
 * is not, or that must be validated, ends the fast part, and take_event
 * looks at it, failing it if it must. Returns the bytes taken, with *rv
 * set when memory ran out. */
static size_t take_run(ward__conn *c, ward__call *call, const ward__frame *f, const uint8_t *p,
                       size_t n, int *rv) {
  ward__item *t = call->events.tail;
  ward__rowpack *pk = t ? t->pack : NULL;
  uint32_t nlen = f->h.nlen;
  if (!pk || t->h.kind != WARD__K_ROW || t->map || t->h.nlen != nlen ||
      memcmp(t->name, f->name, nlen) != 0 || call->last_stream >= call->nstreams)
    return 0;
  ward_stream_count *sc = &call->streams[call->last_stream];
  if (!same_stream(sc, f))
    return 0;
  /* JSON rows to be validated go one by one. */
  if (c->validate && (f->h.flags & WARD__FLAG_ENC_MASK) == WARD_ENC_JSON)
    return 0;
  uint32_t maxlen = c->dec.max_len < PACK_ROW ? c->dec.max_len : PACK_ROW;
  uint64_t window = call->window, half = window / 2;
  uint64_t out = call->received - call->credited;
  size_t queued = call->queued_bytes;
  size_t limit = (window ? window : WARD__UNWINDOWED_MAX) + c->max_in + (64u << 10);
  uint64_t seq = sc->rows, bytes = 0;
  size_t off = 0, frames = 0;
  /* Held in locals: the copies go through byte pointers, which may alias
   * anything, and would make the compiler load every field again after
   * each row. */
  const uint8_t flags = f->h.flags;
  const uint32_t id = f->h.id;
  const char *name = f->name;
  uint8_t *buf = pk->buf;
  ward_row *rows = pk->rows;
  size_t used = pk->used, cap = pk->cap, cnt = pk->n, nmax = pk->nmax;
  /* The header's first four bytes, the same for every row of the run. */
  const uint32_t lead4 = WARD__MAGIC | (uint32_t)WARD__K_ROW << 8 | (uint32_t)flags << 16 |
                         (uint32_t)nlen << 24;
  while (n - off >= WARD__HDR_SIZE) {
    const uint8_t *at = p + off;
    if (ward__get32(at) != lead4)
      break;
    uint32_t len = ward__get32(at + 4);
    if (ward__get32(at + 8) != id || ward__get32(at + 12) != seq + 1 || len > maxlen)
      break;
    size_t whole = WARD__HDR_SIZE + nlen + len;
    if (n - off < whole || !same_name(at + WARD__HDR_SIZE, name, nlen))
      break;
    if (used + len + 1 > PACK_MAX || cnt >= PACK_ROWS)
      break;
    if (window && out > half && out + whole > window)
      break;
    if (queued + whole > limit)
      break;
    if (cnt == nmax || used + len + 1 > cap) {
      pk->used = used;
      pk->n = cnt;
      if ((*rv = pack_room(pk, len)))
        break;
      buf = pk->buf;
      rows = pk->rows;
      cap = pk->cap;
      nmax = pk->nmax;
    }
    ward__copy_small(buf + used, at + WARD__HDR_SIZE + nlen, len);
    buf[used + len] = 0;
    used += len + 1;
    rows[cnt++] = (ward_row){NULL, len};
    if (window)
      out += whole;
    queued += whole;
    seq++;
    bytes += len;
    frames += whole;
    off += whole;
  }
  pk->used = used;
  pk->n = cnt;
  sc->rows = seq;
  sc->bytes += bytes;
  if (window)
    call->received += frames;
  call->queued_bytes = queued;
  pk->frame_bytes += frames;
  return off;
}

/* A run of rows. A worker streaming small rows writes them back to back,
 * so a read holds hundreds of ROW frames of one call: after the first
 * (`f`, whole in the input, which the decoder has let go), those that
 * follow it whole in `p` (n bytes), for the same call and stream, are
 * taken under the same lock, without a decoder round and a table lookup
 * each. The first frame that is not such a row, or is not whole, ends the
 * run, and the decoder takes it from there as always. Returns 0 or the
 * error that closes the connection, and in *used the bytes taken after f. */
static int queue_rows(ward__conn *c, const ward__frame *f, const uint8_t *p, size_t n,
                      size_t *used) {
  int rv = 0, tell = 0;
  *used = 0;
  pthread_mutex_lock(&c->mu);
  ward__call *call = event_call(c, f);
  if (!call) {
    pthread_mutex_unlock(&c->mu);
    return 0;
  }
  rv = take_event(c, call, f, NULL, &tell, 0);
  while (!rv && n - *used >= WARD__HDR_SIZE) {
    size_t fast = take_run(c, call, f, p + *used, n - *used, &rv);
    *used += fast;
    if (rv || n - *used < WARD__HDR_SIZE)
      break;
    ward__frame g;
    const uint8_t *at = p + *used;
    if (ward__hdr_get(&g.h, at, c->dec.max_len) || g.h.kind != WARD__K_ROW ||
        g.h.id != f->h.id || g.h.flags != f->h.flags || g.h.nlen != f->h.nlen)
      break;
    size_t whole = ward__frame_size(g.h.nlen, g.h.len);
    if (n - *used < whole || memcmp(at + WARD__HDR_SIZE, f->name, f->h.nlen) != 0)
      break;
    g.name = (const char *)at + WARD__HDR_SIZE;
    g.payload = at + WARD__HDR_SIZE + g.h.nlen;
    g.map = NULL;
    if (!checked(c, &g))
      break;
    rv = take_event(c, call, &g, NULL, &tell, 1);
    *used += whole;
  }
  pthread_mutex_unlock(&c->mu);
  if (tell)
    c->ops->call_ready(c, call);
  return rv;
}

/* A frame whose payload cannot be taken, the stream still in step: the
 * call it belongs to ends with `err`; a request is refused with it (the
 * ERROR's message `why`); a notification is dropped. */
static int refuse_frame(ward__conn *c, const ward__frame *f, int err, const char *why) {
  if (f->h.kind == WARD__K_REQUEST) {
    size_t wlen = strlen(why);
    uint8_t p[4 + 200];
    if (wlen > 200)
      wlen = 200;
    ward__err_put(p, why, wlen, NULL, 0);
    ward__hdr h = {.kind = WARD__K_ERROR, .id = f->h.id, .len = (uint32_t)(4 + wlen),
                   .aux = (uint32_t)err};
    ward__conn_send(c, &h, NULL, p, 4 + wlen, NULL, 0, 0, 0);
    return 0;
  }
  if (f->h.kind == WARD__K_NOTIFY)
    return 0;
  pthread_mutex_lock(&c->mu);
  ward__call *call = tab_find(c, f->h.id);
  int tell = 0;
  if (call && !call->tombstone && !call->done)
    tell = end_call(c, call, err, NULL);
  pthread_mutex_unlock(&c->mu);
  if (tell)
    c->ops->call_ready(c, call);
  if (f->h.kind != WARD__K_REPLY) {
    /* Ended here: the callee need not go on streaming. */
    send_cancel(c, f->h.id);
  }
  return 0;
}

/* A JSON payload that does not parse, with validation on: the call it
 * belongs to ends with WARD_EPROTO; a request is refused the same way. */
static int invalid_json(ward__conn *c, const ward__frame *f, uint8_t *owned) {
  free(owned);
  ward__fail(WARD_EPROTO, "invalid JSON in a %s frame of call %u",
             f->h.kind == WARD__K_ROW ? "row" : "reply", f->h.id);
  return refuse_frame(c, f, WARD_EPROTO, "invalid JSON");
}

static int dispatch(ward__conn *c, const ward__frame *f, uint8_t *owned);

/* A frame with its payload in shared memory: mapped, then dispatched as
 * any other (zcopy.c). */
static int dispatch_shm(ward__conn *c, ward__frame *f, uint8_t *owned) {
  int call_only, rv = ward__zc_take(c, f, &call_only);
  if (rv) {
    ward__body_free(owned);
    if (!call_only)
      return rv;
    char why[200];
    snprintf(why, sizeof why, "%s", ward_last_error());
    return refuse_frame(c, f, rv, why);
  }
  rv = dispatch(c, f, owned);
  ward__map_unref(f->map);
  return rv;
}

static int checked(const ward__conn *c, const ward__frame *f) {
  if (!c->validate || (f->h.flags & WARD__FLAG_ENC_MASK) != WARD_ENC_JSON)
    return 1;
  switch (f->h.kind) {
  case WARD__K_REPLY:
  case WARD__K_PROGRESS:
  case WARD__K_ROW:
  case WARD__K_REQUEST:
  case WARD__K_NOTIFY:
    return c->validate(f->payload, f->h.len);
  default:
    return 1;
  }
}

static int dispatch(ward__conn *c, const ward__frame *f, uint8_t *owned) {
  if (!checked(c, f))
    return invalid_json(c, f, owned);
  switch (f->h.kind) {
  case WARD__K_REPLY:
  case WARD__K_ERROR:
  case WARD__K_PONG:
    return complete(c, f, owned);
  case WARD__K_PROGRESS:
  case WARD__K_ROW:
  case WARD__K_DIAG:
    return queue_event(c, f, owned);
  default:
    return c->ops->inbound(c, f, owned);
  }
}

static int feed(ward__conn *c, const uint8_t *p, size_t n) {
  size_t off = 0;
  for (;;) {
    ward__frame f;
    size_t used;
    int r = ward__dec_feed(&c->dec, p + off, n - off, &used, &f);
    off += used;
    if (r < 0)
      return r == WARD_ETOOBIG
                 ? ward__fail(r, "peer sent a frame over the %u-byte limit", c->max_in)
                 : ward__fail(r, "peer sent a malformed frame");
    if (r == 0)
      return 0;
    uint8_t *owned = ward__dec_take_body(&c->dec);
    int rv;
    if (f.h.kind == WARD__K_ROW && !owned && !(f.h.flags & WARD__FLAG_SHM) && checked(c, &f)) {
      /* A row whole in the input: it and the rows after it (queue_rows). */
      size_t more;
      rv = queue_rows(c, &f, p + off, n - off, &more);
      off += more;
    } else {
      rv = f.h.flags & WARD__FLAG_SHM ? dispatch_shm(c, &f, owned) : dispatch(c, &f, owned);
    }
    if (rv)
      return rv;
    if (c->switched)
      return link_switched(c, n - off);
  }
}

/* Reads what the socket has (a few reads at most) and dispatches it.
 * Returns 0, or the error that must close the connection: WARD_ECRASHED
 * for end of stream, a protocol error otherwise. */
static int read_available(ward__conn *c, int block) {
  if (link_of(c))
    return link_read(c);
  for (int i = 0; i < MAX_READS && !paused(c); i++) {
    size_t missing = 0, want;
    uint8_t *space = ward__dec_body_space(&c->dec, &missing);
    int direct = space && missing >= DIRECT_BODY;
    if (!direct) {
      space = c->rbuf;
      missing = c->rcap;
    }
    want = missing;
    /* Where payloads may come in shared memory, their descriptors too;
     * and the rings' with the WELCOME, when the client offered them. */
    int want_fd = atomic_load_explicit(&c->want_fd, memory_order_relaxed);
    c->dec.shm_ok = atomic_load_explicit(&c->zc_accept, memory_order_relaxed);
    ptrdiff_t n = c->dec.shm_ok || want_fd ? ward__zc_recv(c, space, want, block && i == 0)
                                           : ward__sock_recv(c->fd, space, want, block && i == 0);
    if (n == WARD__AGAIN)
      return 0;
    if (n < 0)
      return (int)n;
    if (n == 0)
      return ward__fail(WARD_ECRASHED, "peer closed the connection");
    int rv;
    if (direct) {
      ward__dec_wrote(&c->dec, (size_t)n);
      rv = feed(c, c->rbuf, 0);
    } else {
      rv = feed(c, c->rbuf, (size_t)n);
    }
    /* The rings' descriptor waits for the client's handshake to take it. */
    if (!rv && c->nfdq && !want_fd)
      rv = ward__zc_stray(c);
    if (rv)
      return rv;
    if ((size_t)n < want || link_of(c))
      return 0;
  }
  return 0;
}

/* With the role held and no lock: reads until `stop` holds (checked under
 * the lock) or the deadline passes. Returns 0, WARD_ETIMEDOUT, or the
 * error that closed the connection. */
static int lead(ward__conn *c, int (*stop)(ward__conn *, void *), void *arg, int64_t deadline,
                int want_out) {
  for (int first = 1;; first = 0) {
    /* Too much read and not yet handled: let it be handled first. */
    if (paused(c))
      return 0;
    /* The caller checked `stop` just before taking the role. */
    if (!first) {
      pthread_mutex_lock(&c->mu);
      int done = c->closed || stop(c, arg);
      want_out = c->outq_len && !c->writing;
      pthread_mutex_unlock(&c->mu);
      if (done)
        return 0;
      /* Data that keeps coming must not carry a call past its deadline
       * (looked at once the call is known not to be done: the clock is
       * not read on the way out of a call answered at once). */
      if (deadline != INT64_MAX && ward__now_ms() >= deadline)
        return WARD_ETIMEDOUT;
    }
    if (want_out)
      ward__conn_flush(c);
    int rv;
    if (link_of(c)) {
      rv = link_wait(c, deadline, want_out);
      if (rv == WARD_ETIMEDOUT)
        return rv;
      if (!rv)
        rv = read_available(c, 0);
    } else if (deadline == INT64_MAX && c->blocking_reads) {
      /* Nothing else to wait for: one blocking read instead of poll + read. */
      rv = read_available(c, 1);
    } else {
      int ev = ward__wait_fd(c->fd, WARD__IN, deadline);
      if (ev == 0)
        return WARD_ETIMEDOUT;
      rv = ev < 0 ? WARD_ECRASHED : read_available(c, 0);
    }
    if (rv) {
      ward__conn_close(c, rv);
      return rv;
    }
    if (c->ops->reader_idle)
      c->ops->reader_idle(c);
  }
}

/* The caller's reading, which ends with the ring looked at again after
 * saying so (see link_rearm). */
static int lead_rearm(ward__conn *c, int (*stop)(ward__conn *, void *), void *arg,
                      int64_t deadline, int want_out) {
  int rv = lead(c, stop, arg, deadline, want_out);
  link_rearm(c);
  return rv;
}

/* With the lock held: waits until `stop` holds, reading when the role is
 * free. Returns 0 or WARD_ETIMEDOUT. */
static int wait_until(ward__conn *c, ward__waiter *self, int (*stop)(ward__conn *, void *),
                      void *arg, int64_t deadline) {
  for (;;) {
    if (c->closed || stop(c, arg))
      return 0;
    int rv;
    if (c->reader == WARD__READER_NONE && !paused(c)) {
      c->reader = WARD__READER_CALLER;
      update_watch(c);
      int want_out = c->outq_len && !c->writing;
      pthread_mutex_unlock(&c->mu);
      rv = lead_rearm(c, stop, arg, deadline, want_out);
      pthread_mutex_lock(&c->mu);
      c->reader = WARD__READER_NONE;
      if (c->ops->idle && !c->lazy && !c->closed) {
        c->lazy = 1;
        c->ops->idle(c);
      }
      if (c->lazy)
        c->released_at = ward__now_ms();
      update_watch(c);
    } else {
      rv = ward__cond_wait(self->cond, &c->mu, deadline);
    }
    if (rv == WARD_ETIMEDOUT && !(c->closed || stop(c, arg)))
      return WARD_ETIMEDOUT;
  }
}

int ward__conn_pump(ward__conn *c) {
  /* A kick is answered by this pump, or by the exit of the reader that
   * holds the role now (link_rearm). */
  atomic_store(&c->kicked, 0);
  pthread_mutex_lock(&c->mu);
  if (c->closed || c->reader != WARD__READER_NONE) {
    int err = c->closed ? c->close_err : 0;
    pthread_mutex_unlock(&c->mu);
    return err;
  }
  c->reader = WARD__READER_LOOP;
  /* The loop comes when its poll saw the socket readable (or for a kick):
   * whatever waits there is read, or that poll would not sleep again. */
  c->pumped = 1;
  pthread_mutex_unlock(&c->mu);
  int rv = read_available(c, 0);
  pthread_mutex_lock(&c->mu);
  c->reader = WARD__READER_NONE;
  wake_role_waiter(c);
  pthread_mutex_unlock(&c->mu);
  if (rv)
    ward__conn_close(c, rv);
  else
    link_rearm(c);
  return rv;
}

/* ------------------------------------------------------------------ */
/* Calls                                                               */

void ward__call_init(ward__call *call, uint8_t kind, const ward_call_opts *opts) {
  memset(call, 0, sizeof *call);
  call->kind = kind;
  /* A blocking call's waiter sleeps on its thread's own condition variable,
   * made once per thread: one thread waits for one call at a time (a
   * nested call from a callback is fine: waiters re-check what they wait
   * for). Asynchronous calls have no waiter. */
  static _Thread_local pthread_cond_t tl_cond;
  static _Thread_local int tl_ready;
  if (!tl_ready) {
    ward__cond_init(&tl_cond);
    tl_ready = 1;
  }
  call->cond = &tl_cond;
  if (kind == WARD__K_REQUEST && opts->window_bytes >= 0)
    call->window = opts->window_bytes ? (uint32_t)opts->window_bytes : WARD_WINDOW_DEFAULT;
  if (opts->summary)
    call->started_us = ward__now_us();
}

void ward__call_release(ward__call *call) {
  ward__item *it;
  while ((it = ward__itemq_pop(&call->events)))
    ward__item_free(it);
  free(call->streams);
  call->streams = NULL;
  call->nstreams = 0;
  ward__rowpack_free(call->spare);
  call->spare = NULL;
  call->nspare = 0;

}

static int call_ready(ward__conn *c, void *arg) {
  (void)c;
  ward__call *call = arg;
  return call->done || call->events.head != NULL;
}

/* A ROW item, one row or a pack: to on_rows in one call, or to on_row
 * one by one. */
static void deliver_rows(const ward_call_opts *o, ward__item *it) {
  ward_row one = {it->data, it->h.len};
  ward_row *rows = &one;
  size_t n = 1;
  if (it->pack) {
    /* The buffer no longer moves: the item has left the call's queue. */
    rows = it->pack->rows;
    n = it->pack->n;
    const uint8_t *p = it->pack->buf;
    for (size_t i = 0; i < n; i++) {
      rows[i].data = p;
      p += rows[i].len + 1;
    }
  }
  if (o->on_rows) {
    o->on_rows(it->name, it->h.aux, rows, n, o->ud);
    return;
  }
  if (o->on_row)
    for (size_t i = 0; i < n; i++)
      o->on_row(it->name, it->h.aux + i, rows[i].data, rows[i].len, o->ud);
}

static void deliver(const ward_call_opts *o, ward__item *it) {
  switch (it->h.kind) {
  case WARD__K_PROGRESS:
    if (o->on_progress)
      o->on_progress(it->data, it->h.len, o->ud);
    break;
  case WARD__K_ROW:
    deliver_rows(o, it);
    break;
  case WARD__K_DIAG:
    if (o->on_diag) {
      char *msg = ward__strndup((const char *)it->data, it->h.len);
      o->on_diag((int)it->h.aux, it->name, msg ? msg : "", o->ud);
      free(msg);
    }
    break;
  }
}

void ward__call_consume(ward__conn *c, ward__call *call, const ward_call_opts *opts,
                        ward__item *it) {
  deliver(opts, it);
  if (it->h.kind == WARD__K_DIAG) {
    call->diags++;
    return;
  }
  if (it->h.kind == WARD__K_PROGRESS)
    call->progress++;
  if (!call->window)
    return;
  /* Credit back in halves of the window: the worker keeps streaming while
   * the rest is consumed, at one small frame per half window. */
  call->unacked += it->pack ? it->pack->frame_bytes : ward__frame_size(it->h.nlen, it->h.len);
  if (call->unacked >= call->window / 2) {
    ward__hdr h = {.kind = WARD__K_CREDIT, .id = call->id, .aux = (uint32_t)call->unacked};
    pthread_mutex_lock(&c->mu);
    call->credited += call->unacked;
    pthread_mutex_unlock(&c->mu);
    call->unacked = 0;
    ward__conn_send(c, &h, NULL, NULL, 0, NULL, 0, 0, 0);
  }
}

void ward__call_summary(const ward__call *call, ward_summary *out) {
  /* Filled in full here, then given to the caller as far as its struct
   * goes (its size was checked when the call started). */
  ward_summary v = WARD_SUMMARY_INIT, *s = &v;
  s->progress = call->progress;
  s->diagnostics = call->diags;
  s->elapsed_us = ward__now_us() - call->started_us;
  if (call->nstreams) {
    s->streams = malloc(call->nstreams * sizeof *s->streams);
    if (s->streams) {
      memcpy(s->streams, call->streams, call->nstreams * sizeof *s->streams);
      s->nstreams = call->nstreams;
    }
  }
  for (size_t i = 0; i < call->nstreams; i++) {
    s->rows += call->streams[i].rows;
    s->row_bytes += call->streams[i].bytes;
  }
  ward__summary_put(out, s);
}

/* Sends the request of a call already in the table; on failure takes it
 * out again. */
static int send_request(ward__conn *c, ward__call *call, const char *method, const void *data,
                        size_t len, int encoding, int block, int64_t deadline) {
  size_t nlen = method ? strlen(method) : 0;
  ward__hdr h = {.kind = call->kind,
                 .flags = (uint8_t)(encoding & WARD__FLAG_ENC_MASK),
                 .nlen = (uint8_t)nlen,
                 .len = (uint32_t)len,
                 .id = call->id,
                 .aux = call->window};
  int rv = ward__conn_send(c, &h, method, data, len, NULL, 0, block, deadline);
  if (rv) {
    pthread_mutex_lock(&c->mu);
    if (!call->done)
      tab_remove(c, call);
    pthread_mutex_unlock(&c->mu);
  }
  return rv;
}

static void set_detail(int rv, const char *method, int timeout, const ward_msg *reply) {
  const char *what = method ? method : "ping";
  if (rv == WARD_ETIMEDOUT)
    ward__fail(rv, "no answer to '%s' within %d ms", what, timeout);
  else if (rv == WARD_ENOMETHOD)
    ward__fail(rv, "the peer serves no method '%s'", what);
  else if (rv == WARD_EREMOTE)
    ward__fail(rv, "'%s' failed: code %d: %s", what, reply ? reply->code : 0,
               reply && reply->error ? reply->error : "");
  else if (rv == WARD_ECRASHED || rv == WARD_ECLOSED || rv == WARD_EPROTO ||
           rv == WARD_ETOOBIG)
    ward__fail(rv, "'%s' ended: %s", what, ward_strerror(rv));
}

int ward__conn_call(ward__conn *c, uint8_t kind, const char *method, const void *data,
                    size_t len, const ward_call_opts *opts, ward_msg **reply) {
  int timeout = opts->timeout_ms < 0 ? c->default_timeout_ms : opts->timeout_ms;
  return ward__conn_call_at(c, kind, method, data, len, opts, ward__deadline(timeout), timeout,
                            reply);
}

int ward__conn_call_at(ward__conn *c, uint8_t kind, const char *method, const void *data,
                       size_t len, const ward_call_opts *opts, int64_t deadline, int timeout,
                       ward_msg **reply) {
  ward__call call;
  ward__call_init(&call, kind, opts);
  ward__waiter self = {.cond = call.cond};

  /* Registered as a waiter and as a call under one lock. */
  if (len > c->max_out) {
    ward__call_release(&call);
    return ward__fail(WARD_ETOOBIG, "request of %zu bytes over the peer's %u-byte limit", len,
                      c->max_out);
  }
  pthread_mutex_lock(&c->mu);
  int rv = c->closed ? c->close_err : tab_insert(c, &call);
  if (!rv)
    waiter_add(c, &self);
  int claimed = !rv && link_claim(c);
  pthread_mutex_unlock(&c->mu);
  if (rv) {
    ward__call_release(&call);
    return rv;
  }
  rv = send_request(c, &call, method, data, len, opts->encoding, 1, deadline);

  pthread_mutex_lock(&c->mu);
  if (!rv) {
    for (;;) {
      rv = wait_until(c, &self, call_ready, &call, deadline);
      if (!call.events.head)
        break;
      /* Everything queued at once: one lock for a batch of rows. */
      ward__itemq batch = call.events;
      memset(&call.events, 0, sizeof call.events);
      call.queued_bytes = 0;
      pthread_mutex_unlock(&c->mu);
      ward__item *it;
      ward__rowpack *spare = NULL;
      while ((it = ward__itemq_pop(&batch))) {
        ward__call_consume(c, &call, opts, it);
        consumed(it, &spare);
      }
      pthread_mutex_lock(&c->mu);
      call_spare(&call, spare);
      /* A callee that keeps the callbacks busy does not stretch the deadline. */
      if (!call.done && deadline != INT64_MAX && ward__now_ms() >= deadline) {
        rv = WARD_ETIMEDOUT;
        break;
      }
    }
  }
  if (call.done)
    rv = call.err;
  else if (!rv && c->closed)
    rv = c->close_err;
  int abandoned = !call.done && !c->closed && call.id;
  if (!call.done)
    tab_remove(c, &call);
  waiter_remove(c, &self);
  wake_role_waiter(c);
  pthread_mutex_unlock(&c->mu);
  /* What arrived after the claim, if this caller did not read it. */
  if (claimed)
    link_rearm(c);
  if (abandoned && kind == WARD__K_REQUEST) {
    /* The caller gave up: the callee need not go on (and a streaming one
     * waiting for credit would wait forever). */
    send_cancel(c, call.id);
  }

  if (opts->summary)
    ward__call_summary(&call, opts->summary);
  ward__call_release(&call);
  set_detail(rv, method, timeout, call.reply);
  if ((rv == WARD_EREMOTE || rv == WARD_OK) && reply)
    *reply = call.reply;
  else
    ward_msg_free(call.reply);
  return rv;
}

/* ------------------------------------------------------------------ */
/* Asynchronous calls                                                  */

int ward__conn_start(ward__conn *c, ward__call *call, const char *method, const void *data,
                     size_t len, int encoding, int block, int64_t deadline) {
  call->async = 1;
  call->deadline = deadline;
  if (len > c->max_out)
    return ward__fail(WARD_ETOOBIG, "request of %zu bytes over the peer's %u-byte limit", len,
                      c->max_out);
  pthread_mutex_lock(&c->mu);
  int rv = c->closed ? c->close_err : tab_insert(c, call);
  pthread_mutex_unlock(&c->mu);
  if (rv)
    return rv;
  rv = send_request(c, call, method, data, len, encoding, block, deadline);
  if (rv) {
    /* A close that came while the request was being sent has ended the
     * call already and told its owner: it is started, and its outcome (the
     * close's error) is on its way. Failing here would free what that
     * news refers to. */
    pthread_mutex_lock(&c->mu);
    if (call->done)
      rv = 0;
    pthread_mutex_unlock(&c->mu);
  }
  return rv;
}

void ward__conn_take(ward__conn *c, ward__call *call, ward__itemq *events, int *done,
                     int *cancelled) {
  pthread_mutex_lock(&c->mu);
  call->queued = 0;
  call->queued_bytes = 0;
  *events = call->events;
  memset(&call->events, 0, sizeof call->events);
  *cancelled = call->done && call->err == WARD_ECANCELED;
  *done = call->done && !call->reported;
  if (*done)
    call->reported = 1;
  pthread_mutex_unlock(&c->mu);
}

/* Places a call under its existing id (lock held). */
static void tab_put(ward__conn *c, ward__call *call) {
  size_t s = slot(c, call->id);
  call->next = c->tab[s];
  c->tab[s] = call;
  c->ncalls++;
}

int ward__conn_cancel(ward__conn *c, ward__call *call, int64_t grace_deadline) {
  ward__call *tomb = calloc(1, sizeof *tomb);
  pthread_mutex_lock(&c->mu);
  if (call->done || c->closed) {
    pthread_mutex_unlock(&c->mu);
    free(tomb);
    return 0;
  }
  tab_remove(c, call);
  call->done = 1;
  call->err = WARD_ECANCELED;
  int tell = mark_ready(call);
  uint32_t id = call->id;
  if (tomb) {
    /* Answers still on their way find the tombstone and are dropped; if
     * none ends the call by the deadline, the owner kills the callee. */
    tomb->id = id;
    tomb->kind = call->kind;
    tomb->tombstone = 1;
    tomb->deadline = grace_deadline;
    tab_put(c, tomb);
  }
  pthread_mutex_unlock(&c->mu);
  send_cancel(c, id);
  if (tell && c->ops->call_ready)
    c->ops->call_ready(c, call);
  return 1;
}

int64_t ward__conn_expire(ward__conn *c, int64_t now, int *timed_out, int *cancel_expired) {
  ward__call *ready[64];
  size_t nready = 0;
  int64_t next = INT64_MAX;
  *timed_out = *cancel_expired = 0;
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; i < c->tabsz; i++) {
    ward__call **pp = &c->tab[i];
    while (*pp) {
      ward__call *k = *pp;
      int due = (k->async || k->tombstone) && k->deadline <= now;
      if (!due || (k->async && nready == 64)) {
        if ((k->async || k->tombstone) && k->deadline < next)
          next = k->deadline;
        pp = &k->next;
        continue;
      }
      *pp = k->next;
      c->ncalls--;
      if (k->tombstone) {
        *cancel_expired = 1;
        free(k);
        continue;
      }
      *timed_out = 1;
      k->done = 1;
      k->err = WARD_ETIMEDOUT;
      if (mark_ready(k))
        ready[nready++] = k;
    }
  }
  pthread_mutex_unlock(&c->mu);
  for (size_t i = 0; i < nready; i++) {
    send_cancel(c, ready[i]->id);
    c->ops->call_ready(c, ready[i]);
  }
  if (nready == 64)
    next = now; /* more to expire: come back at once */
  return next;
}

/* ------------------------------------------------------------------ */
/* The server side                                                     */

static int inbox_ready(ward__conn *c, void *arg) {
  (void)arg;
  return c->inbox.head != NULL;
}

static ward__item *next_inbound(ward__conn *c, int64_t deadline, int serve) {
  ward__waiter self = {.cond = &c->inbox_cond};
  pthread_mutex_lock(&c->mu);
  waiter_add(c, &self);
  wait_until(c, &self, inbox_ready, NULL, deadline);
  ward__item *it = ward__itemq_pop(&c->inbox);
  if (it)
    pending_sub(c, ward__item_weight(it) + ITEM_COST);
  if (serve) {
    /* Under the same lock: the request about to run is the one a CANCEL
     * or CREDIT from now on refers to. */
    c->serving_id = it && it->h.kind == WARD__K_REQUEST ? it->h.id : 0;
    atomic_store(&c->serving_cancelled, 0);
    c->serving_acked = 0;
  }
  waiter_remove(c, &self);
  wake_role_waiter(c);
  pthread_mutex_unlock(&c->mu);
  return it;
}

ward__item *ward__conn_next_inbound(ward__conn *c, int64_t deadline) {
  return next_inbound(c, deadline, 0);
}

ward__item *ward__conn_next_served(ward__conn *c, int64_t deadline) {
  return next_inbound(c, deadline, 1);
}



uint64_t ward__conn_acked(ward__conn *c) {
  pthread_mutex_lock(&c->mu);
  uint64_t a = c->serving_acked;
  pthread_mutex_unlock(&c->mu);
  return a;
}

void ward__conn_credit(ward__conn *c, uint32_t id, uint32_t bytes) {
  pthread_mutex_lock(&c->mu);
  if (id && c->serving_id == id) {
    c->serving_acked += bytes;
    /* The serving thread waits for credit as a waiter of the inbox. */
    pthread_cond_broadcast(&c->inbox_cond);
  }
  pthread_mutex_unlock(&c->mu);
}

typedef struct credit_wait {
  uint64_t need;
  atomic_int *cancelled;
} credit_wait;

static int credit_ready(ward__conn *c, void *arg) {
  credit_wait *cw = arg;
  if (c->serving_acked >= cw->need || atomic_load(cw->cancelled) ||
      atomic_load(&c->overfull))
    return 1;
  for (ward__item *it = c->inbox.head; it; it = it->next)
    if (it->h.kind == WARD__K_PING)
      return 1;
  return 0;
}

int ward__conn_wait_credit(ward__conn *c, uint64_t need, atomic_int *cancelled) {
  credit_wait cw = {need, cancelled};
  ward__waiter self = {.cond = &c->inbox_cond};
  pthread_mutex_lock(&c->mu);
  waiter_add(c, &self);
  atomic_store(&c->credit_wait, 1);
  wait_until(c, &self, credit_ready, &cw, INT64_MAX);
  atomic_store(&c->credit_wait, 0);
  int rv;
  if (c->serving_acked >= need)
    rv = 0;
  else if (atomic_load(cancelled))
    rv = WARD_ECANCELED;
  else if (c->closed)
    rv = c->close_err;
  else if (atomic_load(&c->overfull))
    rv = ward__fail(WARD_ETOOBIG,
                    "over %u MiB of requests arrived while this call waited for credit",
                    PENDING_CAP >> 20);
  else
    rv = 1;
  waiter_remove(c, &self);
  wake_role_waiter(c);
  pthread_mutex_unlock(&c->mu);
  return rv;
}

void ward__conn_pending(ward__conn *c, size_t bytes, int add) {
  pthread_mutex_lock(&c->mu);
  if (add)
    pending_add(c, bytes + ITEM_COST);
  else
    pending_sub(c, bytes + ITEM_COST);
  pthread_mutex_unlock(&c->mu);
}

void ward__conn_push_inbound(ward__conn *c, ward__item *it) {
  pthread_mutex_lock(&c->mu);
  ward__itemq_push(&c->inbox, it);
  pending_add(c, ward__item_weight(it) + ITEM_COST);
  pthread_cond_signal(&c->inbox_cond);
  pthread_mutex_unlock(&c->mu);
}

void ward__conn_take_pings(ward__conn *c, ward__itemq *pings) {
  pthread_mutex_lock(&c->mu);
  ward__itemq rest = {0};
  ward__item *it;
  while ((it = ward__itemq_pop(&c->inbox))) {
    if (it->h.kind == WARD__K_PING) {
      pending_sub(c, ward__item_weight(it) + ITEM_COST);
      ward__itemq_push(pings, it);
    } else {
      ward__itemq_push(&rest, it);
    }
  }
  c->inbox = rest;
  pthread_mutex_unlock(&c->mu);
}

void ward__conn_cancel_inbound(ward__conn *c, uint32_t id) {
  pthread_mutex_lock(&c->mu);
  if (id && c->serving_id == id) {
    atomic_store(&c->serving_cancelled, 1);
  } else {
    for (ward__item *it = c->inbox.head; it; it = it->next)
      if (it->h.kind == WARD__K_REQUEST && it->h.id == id)
        it->cancelled = 1;
  }
  pthread_mutex_unlock(&c->mu);
}

int ward__conn_claim_violation(ward__conn *c, char *why, size_t cap) {
  pthread_mutex_lock(&c->mu);
  int err = 0;
  if (c->closed && is_violation(c->close_err) && !c->violation_claimed) {
    c->violation_claimed = 1;
    err = c->close_err;
    snprintf(why, cap, "%s", c->violation);
  }
  pthread_mutex_unlock(&c->mu);
  return err;
}

int ward__conn_is_closed(ward__conn *c) { return atomic_load(&c->closed_flag); }

int ward__conn_settle(ward__conn *c, int64_t now, int idle_ms) {
  pthread_mutex_lock(&c->mu);
  if (c->lazy && c->reader == WARD__READER_NONE && now - c->released_at >= idle_ms) {
    c->lazy = 0;
    update_watch(c);
  }
  int lazy = c->lazy && !c->closed;
  pthread_mutex_unlock(&c->mu);
  return lazy;
}

int ward__conn_heartbeat(ward__conn *c) {
  pthread_mutex_lock(&c->mu);
  int missed = c->hb_id != 0;
  uint32_t id = 0;
  if (!missed && !c->closed) {
    c->hb_seq = (c->hb_seq + 1) & ~WARD__HB_BIT;
    if (!c->hb_seq)
      c->hb_seq = 1;
    id = c->hb_id = c->hb_seq | WARD__HB_BIT;
  }
  pthread_mutex_unlock(&c->mu);
  if (id) {
    ward__hdr h = {.kind = WARD__K_PING, .id = id};
    ward__conn_send(c, &h, NULL, NULL, 0, NULL, 0, 0, 0);
  }
  return missed;
}

/* ------------------------------------------------------------------ */
/* The shared-memory transport (link.h)                                */

/* Records read per call, at most, before the loop moves on (fairness). */
#define LINK_MAX_RECORDS 64

/* The HELLO whose answer switched the connection to the rings was the
 * last thing the worker may send on the socket before its WELCOME. */
static int link_switched(ward__conn *c, size_t left) {
  c->switched = 0;
  if (left)
    return ward__fail(WARD_EPROTO, "peer sent %zu bytes after its HELLO before the WELCOME",
                      left);
  return 0;
}

/* The reading role's read: the wake-up bytes on the socket (or its end:
 * looked for when a poll saw the socket readable or the peer says it sent
 * bytes, ward__link_drain), then records from the ring, then the out
 * queue if the peer made room. */
static int link_read(ward__conn *c) {
  ward__link *l = link_of(c);
  /* The end of the socket comes after what the peer put in the ring
   * before it left (its GOODBYE): that is read first, as a socket would
   * give it before its end. */
  int polled = l->polled || c->pumped;
  l->polled = 0;
  c->pumped = 0;
  int end = ward__link_drain(l, c->fd, polled), rv = end == WARD_ECRASHED ? 0 : end;
  /* No descriptor comes with a ring's record: bit 2 of the flags is not
   * agreed there (protocol.md 17.5). */
  c->dec.shm_ok = 0;
  for (int i = 0; !rv && (end || i < LINK_MAX_RECORDS) && !paused(c); i++) {
    size_t len;
    int r = ward__link_get(l, c->rbuf, c->rcap, &len);
    if (r <= 0) {
      rv = r;
      break;
    }
    rv = feed(c, c->rbuf, len);
  }
  ward__link_read_done(l, c->fd);
  if (!rv)
    rv = end;
  if (rv)
    return rv;
  pthread_mutex_lock(&c->mu);
  int want_out = c->outq_len && !c->writing;
  pthread_mutex_unlock(&c->mu);
  if (want_out)
    ward__conn_flush(c);
  return 0;
}

/* A caller holding the role waits for records (ward__link_wait): not in
 * a futex while frames of ours wait for room, which a byte on the socket
 * announces. 0, WARD_ETIMEDOUT or WARD_ECRASHED. */
static int link_wait(ward__conn *c, int64_t deadline, int want_out) {
  return ward__link_wait(link_of(c), c->fd, deadline, &c->closed_flag, !want_out);
}

/* A reader stops: it says it sleeps, so that writers send a byte from
 * now on, and looks at the ring again. Records there were written while
 * it read, and no byte will come for them: the owner's loop, which
 * watches only the socket, is asked to pump (the client needs nothing:
 * its next reader looks at the ring before it sleeps). Paused reading is
 * left alone; its end comes back here. Any thread, lock held or not. */
static void link_rearm(ward__conn *c) {
  ward__link *l = link_of(c);
  /* Without a loop, the next reader looks at the ring before it sleeps,
   * and says so then: no wake-up is needed before. */
  if (!l || !c->ops->kick || atomic_load(&c->closed_flag))
    return;
  if (!ward__link_sleep(l) || paused(c) || !c->ops->kick)
    return;
  if (!atomic_exchange(&c->kicked, 1))
    c->ops->kick(c);
}

/* With the lock held, by a caller about to send a request whose reply it
 * will read itself: when no one holds the reading role (so no one of
 * ours waits on the ring), it says that this side is awake, so the peer's
 * reply costs no wake-up byte for the owner's loop (nor its reading by
 * this caller a system call). Only with a loop to wake (link_rearm), and
 * not while reading is paused (the caller would not read). Returns
 * whether it claimed: the caller then calls link_rearm when it is done,
 * whether it read or not. */
static int link_claim(ward__conn *c) {
  ward__link *l = link_of(c);
  if (!l || !c->ops->kick || c->reader != WARD__READER_NONE || paused(c))
    return 0;
  ward__link_awake(l);
  return 1;
}

/* The rest of a frame the socket did not take whole: it goes before
 * anything of the rings (a WELCOME of a hundred bytes, in practice never). */
static int sock_write_all(ward__conn *c, ward__buf *iov, int cnt, size_t done) {
  int first = 0;
  int64_t deadline = ward__deadline(1000);
  while (iov_advance(iov, cnt, done, &first)) {
    int ev = ward__wait_fd(c->fd, WARD__OUT, deadline);
    if (ev <= 0)
      return ward__fail(WARD_ECRASHED, "the WELCOME could not be sent");
    ptrdiff_t w = ward__sock_send(c->fd, iov + first, cnt - first);
    if (w < 0)
      return (int)w;
    done = (size_t)w;
  }
  return 0;
}

int ward__conn_welcome_link(ward__conn *c, const ward__hdr *h, const void *body, size_t n,
                            uint32_t cap) {
  ward__link *l;
  ward__fd memfd;
  if (ward__link_host(&l, cap, &memfd))
    return 1;
  pthread_mutex_lock(&c->mu);
  /* A second HELLO never gets here (handshake.c): no link yet. */
  int mine = !c->writing && !c->outq_len && !c->closed;
  if (mine)
    c->writing = 1;
  pthread_mutex_unlock(&c->mu);
  if (!mine) {
    ward__close(memfd);
    ward__link_free(l);
    ward__fail(WARD_EINVAL, "frames wait to be sent: no shared memory");
    return 1;
  }
  uint8_t hb[WARD__HDR_SIZE];
  ward__hdr_put(hb, h);
  ward__buf iov[2] = {{hb, WARD__HDR_SIZE}, {body, n}};
  ptrdiff_t w = ward__sock_send_fd(c->fd, iov, 2, memfd);
  ward__close(memfd);
  int rv = w > 0 ? sock_write_all(c, iov, 2, (size_t)w) : (int)w;
  if (w > 0) {
    /* The bytes after the HELLO are the rings' from now on. */
    c->switched = 1;
    atomic_store_explicit(&c->link, l, memory_order_release);
  } else {
    ward__link_free(l);
  }
  end_writing(c, rv);
  return w == 0 ? 1 : rv;
}

void ward__conn_want_fd(ward__conn *c, int on) { atomic_store(&c->want_fd, on); }

/* The handshake's reader has returned and no other reads yet: the queue
 * of descriptors is this thread's. The WELCOME's came with its first
 * byte, before any frame's. */
ward__fd ward__conn_take_fd(ward__conn *c, int *more) {
  ward__fd fd = WARD__FD_NONE;
  if (c->nfdq) {
    fd = c->fdq[0];
    memmove(c->fdq, c->fdq + 1, (size_t)(--c->nfdq) * sizeof *c->fdq);
  }
  *more = c->nfdq;
  return fd;
}

int ward__conn_use_link(ward__conn *c, ward__fd memfd, uint32_t cap) {
  ward__link *l;
  int rv = ward__link_worker(&l, memfd, cap);
  if (rv)
    return rv;
  pthread_mutex_lock(&c->mu);
  if (c->writing || c->outq_len) {
    pthread_mutex_unlock(&c->mu);
    ward__link_free(l);
    return ward__fail(WARD_EPROTO, "frames wait to be sent as the shared memory arrives");
  }
  atomic_store_explicit(&c->link, l, memory_order_release);
  pthread_mutex_unlock(&c->mu);
  return 0;
}

int ward__conn_frames(ward__conn *c) { return link_of(c) ? WARD_FRAMES_SHM : WARD_FRAMES_SOCKET; }
