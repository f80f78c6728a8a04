/*
 * test_conn.c — the connection under every worker and host (src/conn.c),
 * from inside: how its writers and its close share the socket.
 *
 * A stop sends the worker a GOODBYE without waiting and closes the
 * connection at once (src/supervise.c). When another thread is writing at
 * that moment (a host handler's reply), the GOODBYE waits in the queue
 * behind it; the close must let it go out before the end of the stream,
 * or the worker reads the end without it and takes the stop for a lost
 * host. A writer waiting for a peer that does not read is still woken by
 * the close at once.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "test.h"
#include "platform.h"
#include "proto.h"
#include "ward_int.h"

static int inbound(ward__conn *c, const ward__frame *f, uint8_t *owned) {
  (void)c, (void)f;
  free(owned);
  return 0;
}

static void call_ready(ward__conn *c, ward__call *call) { (void)c, (void)call; }

static const ward__conn_ops ops = {.inbound = inbound, .call_ready = call_ready};

/* A thread sending small frames, blocking, until the connection closes. */
typedef struct writer {
  ward__conn *c;
  int frames;      /* how many to send at most */
  size_t len;      /* each one's payload */
  atomic_int sent;
  int rv;          /* what the last send returned */
} writer;

static void *write_frames(void *p) {
  writer *w = p;
  char *body = calloc(1, w->len);
  ward__hdr h = {.kind = WARD__K_NOTIFY, .nlen = 4, .len = (uint32_t)w->len};
  for (int i = 0; i < w->frames; i++) {
    w->rv = ward__conn_send(w->c, &h, "note", body, w->len, NULL, 0, 1, ward__deadline(60000));
    if (w->rv)
      break;
    atomic_fetch_add(&w->sent, 1);
  }
  free(body);
  return NULL;
}

/* Reads the peer's end `fd` until the end of the stream, decoding it into
 * frames, each handed to `each` (with `ud`) as it comes. Fails the test on
 * bytes that are no frame, 20 s without any, or a frame cut by the end. */
static void read_until_end(ward__fd fd, void (*each)(const ward__frame *f, void *ud),
                           void *ud) {
  ward__dec d;
  ward__dec_init(&d, WARD_MAX_FRAME_DEFAULT);
  size_t cap = 1 << 16;
  uint8_t *buf = malloc(cap); /* a reader may run on a thread of its own */
  T_TRUE(buf != NULL);
  for (;;) {
    T_TRUE(ward__wait_fd(fd, WARD__IN, ward__deadline(20000)) > 0);
    ptrdiff_t got = ward__sock_recv(fd, buf, cap, 1);
    if (got == 0 || got == WARD_ECRASHED)
      break;
    T_TRUE(got > 0);
    size_t off = 0, used;
    ward__frame f;
    int r;
    while (off < (size_t)got && (r = ward__dec_feed(&d, buf + off, (size_t)got - off, &used, &f))) {
      T_EQ_INT(r, 1);
      off += used;
      each(&f, ud);
    }
  }
  /* Nothing cut in the middle. */
  T_EQ_INT(d.hgot, 0);
  ward__dec_free(&d);
  free(buf);
}

typedef struct kind_count {
  uint8_t kind;
  int n;
} kind_count;

static void count_kind(const ward__frame *f, void *ud) {
  kind_count *k = ud;
  k->n += f->h.kind == k->kind;
}

/* Reads the peer's end until the end of the stream: how many frames of
 * `kind` came, all frames whole. */
static int count_until_end(ward__fd fd, uint8_t kind) {
  kind_count k = {kind, 0};
  read_until_end(fd, count_kind, &k);
  return k.n;
}

/* A GOODBYE sent without waiting while another thread writes, then the
 * close, as a stop does: the peer reads the GOODBYE, then the end, in
 * every round. Before the close let queued frames go, most rounds in which
 * the writer held the socket at that moment lost it. */
static void test_close_sends_what_is_queued(void) {
  int queued = 0;
  for (int round = 0; round < 400; round++) {
    ward__fd sv[2];
    T_OK(ward__socketpair(sv));
    ward__conn *c;
    T_OK(ward__conn_new(&c, sv[0], &ops, NULL, WARD_MAX_FRAME_DEFAULT));
    /* Small enough that the socket takes them all without the peer
     * reading: the writer never waits for it. */
    writer w = {.c = c, .frames = 64, .len = 16};
    pthread_t t;
    T_TRUE(pthread_create(&t, NULL, write_frames, &w) == 0);
    while (atomic_load(&w.sent) < round % 4)
      ;
    ward__hdr bye = {.kind = WARD__K_GOODBYE, .len = 4};
    T_OK(ward__conn_send(c, &bye, NULL, "stop", 4, NULL, 0, 0, 0));
    pthread_mutex_lock(&c->mu);
    queued += c->outq_len != 0;
    pthread_mutex_unlock(&c->mu);
    ward__conn_close(c, WARD_ECLOSED);
    pthread_join(t, NULL);
    /* The last reference closes the host's end: what was written stays
     * for the peer to read, then the end (a pipe on Windows has no
     * half-close to show it sooner). */
    ward__conn_unref(c);
    T_EQ_INT(count_until_end(sv[1], WARD__K_GOODBYE), 1);
    ward__close(sv[1]);
  }
  /* The case was met (a GOODBYE behind a writer), or the test says nothing. */
  fprintf(stderr, "  %d rounds of 400 queued the GOODBYE behind the writer\n", queued);
  T_TRUE(queued > 0);
}

/* A writer waiting for a peer that does not read returns when the
 * connection closes, not at its deadline a minute later. */
static void test_close_wakes_a_waiting_writer(void) {
  ward__fd sv[2];
  T_OK(ward__socketpair(sv));
  ward__conn *c;
  T_OK(ward__conn_new(&c, sv[0], &ops, NULL, WARD_MAX_FRAME_DEFAULT));
  writer w = {.c = c, .frames = 1000, .len = 64 * 1024};
  pthread_t t;
  T_TRUE(pthread_create(&t, NULL, write_frames, &w) == 0);
  int64_t deadline = ward__deadline(20000);
  for (int blocked = 0; !blocked;) {
    T_TRUE(ward__now_ms() < deadline);
    pthread_mutex_lock(&c->mu);
    blocked = c->wblocked;
    pthread_mutex_unlock(&c->mu);
  }
  int64_t t0 = ward__now_ms();
  ward__conn_close(c, WARD_ECLOSED);
  pthread_join(t, NULL);
  T_TRUE(ward__now_ms() - t0 < 20000);
  T_TRUE(w.rv != 0);
  T_TRUE(atomic_load(&w.sent) < w.frames);
  ward__conn_unref(c);
  ward__close(sv[1]);
}

/* ------------------------------------------------------------------ */
/* Gathering a burst of notifications                                  */

#ifndef _WIN32
#include <sys/socket.h>

/* The owner's loop as far as gathering needs one: it is told to watch. */
static atomic_int watched;
static void watch(ward__conn *c, int events) {
  (void)c;
  atomic_store(&watched, events);
}

static const ward__conn_ops loop_ops = {
    .inbound = inbound, .call_ready = call_ready, .watch = watch};

#define NOTE_LEN 32

/* A thread reading the peer's end until the end of the stream: NOTIFY
 * frames whose payloads count 0, 1, 2, ... with none missing or out of
 * order; `n` says how many came. */
typedef struct note_reader {
  pthread_t t;
  ward__fd fd;
  int n;
} note_reader;

/* The next NOTIFY frame: its payload counts on from the last. */
static void check_note(const ward__frame *f, void *ud) {
  note_reader *r = ud;
  T_EQ_INT(f->h.kind, WARD__K_NOTIFY);
  T_EQ_INT(f->h.len, NOTE_LEN);
  uint32_t seq;
  memcpy(&seq, f->payload, sizeof seq);
  T_EQ_INT(seq, r->n);
  r->n++;
}

static void *read_notes(void *p) {
  note_reader *r = p;
  read_until_end(r->fd, check_note, r);
  return NULL;
}

static int send_note(ward__conn *c, uint32_t seq, int64_t deadline) {
  uint8_t body[NOTE_LEN] = {0};
  memcpy(body, &seq, sizeof seq);
  ward__hdr h = {.kind = WARD__K_NOTIFY, .nlen = 4, .len = NOTE_LEN};
  return ward__conn_send(c, &h, "note", body, NOTE_LEN, NULL, 0, 1, deadline);
}

/* One notification sent on a thread of its own. */
typedef struct note_send {
  pthread_t t;
  ward__conn *c;
  uint32_t seq;
  int rv;
} note_send;

static void *send_one(void *p) {
  note_send *ns = p;
  ns->rv = send_note(ns->c, ns->seq, ward__deadline(20000));
  return NULL;
}

static size_t outq_len(ward__conn *c) {
  pthread_mutex_lock(&c->mu);
  size_t n = c->outq_len;
  pthread_mutex_unlock(&c->mu);
  return n;
}

/* A lone notification goes out at once, in one write: nothing waits. */
static void test_lone_note_goes_at_once(void) {
  ward__fd sv[2];
  T_OK(ward__socketpair(sv));
  ward__conn *c;
  T_OK(ward__conn_new(&c, sv[0], &loop_ops, NULL, WARD_MAX_FRAME_DEFAULT));
  T_OK(send_note(c, 0, ward__deadline(20000)));
  T_EQ_INT(outq_len(c), 0);
  T_EQ_INT(atomic_load(&c->sends), 1);
  T_TRUE(ward__wait_fd(sv[1], WARD__IN, ward__deadline(0)) > 0);
  ward__conn_close(c, WARD_ECLOSED);
  ward__conn_unref(c);
  ward__close(sv[1]);
}

/* A burst into a socket the peer does not read: once it is full, the
 * notifications that follow wait in the out queue without a write each
 * (the sender does not block), up to 64 KiB; past that the sender waits
 * for room as before (here until its deadline, nothing of its frame
 * sent). Then the loop flushes the queue in a few writes, and the peer
 * reads every notification sent, in order. Without gathering, the first
 * notification the socket did not take waited for its deadline. */
static void test_burst_gathers_in_bounds(void) {
  ward__fd sv[2];
  T_OK(ward__socketpair(sv));
  int small = 4096;
  T_TRUE(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
  ward__conn *c;
  T_OK(ward__conn_new(&c, sv[0], &loop_ops, NULL, WARD_MAX_FRAME_DEFAULT));
  uint32_t sent = 0;
  int rv;
  /* 1 s: the wait of the one sender that finds the queue full. */
  while ((rv = send_note(c, sent, ward__deadline(1000))) == 0) {
    sent++;
    T_TRUE(sent < 100000);
  }
  T_EQ_INT(rv, WARD_ETIMEDOUT);
  size_t frame = WARD__HDR_SIZE + 4 + NOTE_LEN;
  fprintf(stderr, "  %u notifications sent in %llu writes, %zu bytes queued\n", sent,
          (unsigned long long)atomic_load(&c->sends), outq_len(c));
  /* Gathered up to the bound, and not past it. */
  T_TRUE(outq_len(c) + frame > 64 * 1024);
  T_TRUE(outq_len(c) <= 64 * 1024);
  /* Most of them without a write of their own. */
  T_TRUE(atomic_load(&c->sends) < sent / 4);

  /* The loop watches for room to flush the queue. A sender past the
   * bound takes the writer's role and waits for room itself: then the
   * loop, woken for room, leaves the queue to it and stops watching,
   * rather than wake again and again while the writer is at work. */
  T_TRUE(atomic_load(&watched) & WARD__OUT);
  note_send ns = {.c = c, .seq = sent++};
  T_TRUE(pthread_create(&ns.t, NULL, send_one, &ns) == 0);
  int64_t deadline = ward__deadline(20000);
  for (int blocked = 0; !blocked;) {
    T_TRUE(ward__now_ms() < deadline);
    pthread_mutex_lock(&c->mu);
    blocked = c->wblocked;
    pthread_mutex_unlock(&c->mu);
  }
  ward__conn_flush(c);
  T_TRUE(!(atomic_load(&watched) & WARD__OUT));

  note_reader r = {.fd = sv[1]};
  T_TRUE(pthread_create(&r.t, NULL, read_notes, &r) == 0);
  pthread_join(ns.t, NULL);
  T_OK(ns.rv);
  unsigned long long before = atomic_load(&c->sends);
  /* The owner's loop: flushes when the socket has room. */
  while (outq_len(c)) {
    T_TRUE(ward__wait_fd(sv[0], WARD__OUT, ward__deadline(20000)) > 0);
    ward__conn_flush(c);
  }
  /* 64 KiB into a socket that holds 4 KiB or so: some writes, not one a
   * frame. */
  T_TRUE(atomic_load(&c->sends) - before < sent / 4);
  /* And after the queue emptied, a notification goes at once again. */
  T_OK(send_note(c, sent++, ward__deadline(20000)));
  ward__conn_close(c, WARD_ECLOSED);
  ward__conn_unref(c);
  pthread_join(r.t, NULL);
  T_EQ_INT(r.n, (int)sent);
  ward__close(sv[1]);
}
#endif

/* ------------------------------------------------------------------ */
/* Runs of rows read together                                          */

/* A call made on its own thread, its rows taken in batches. */
typedef struct row_call {
  pthread_t t;
  ward__conn *c;
  int rv;
  int calls;                /* of on_rows */
  int rows;
  uint64_t next_s, next_t;  /* the last seq seen per stream */
} row_call;

static void take_rows(const char *stream, uint64_t seq, const ward_row *rows, size_t n,
                      void *ud) {
  row_call *rc = ud;
  uint64_t *next = strcmp(stream, "s") == 0 ? &rc->next_s : &rc->next_t;
  if (next == &rc->next_t)
    T_EQ_STR(stream, "t");
  T_EQ_INT(seq, *next + 1);
  for (size_t i = 0; i < n; i++) {
    uint64_t q;
    T_EQ_INT(rows[i].len, sizeof q);
    memcpy(&q, rows[i].data, sizeof q);
    T_EQ_INT(q, seq + i);
  }
  *next = seq + n - 1;
  rc->rows += (int)n;
  rc->calls++;
}

static void *row_caller(void *p) {
  row_call *rc = p;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 20000;
  o.window_bytes = -1;
  o.on_rows = take_rows;
  o.ud = rc;
  ward_msg *m = NULL;
  rc->rv = ward__conn_call(rc->c, WARD__K_REQUEST, "rows", NULL, 0, &o, &m);
  ward_msg_free(m);
  return NULL;
}

/* Reads the request the caller sent: its id. */
static uint32_t read_request(ward__fd fd) {
  ward__dec d;
  ward__dec_init(&d, WARD_MAX_FRAME_DEFAULT);
  uint8_t buf[512];
  size_t have = 0, used;
  ward__frame f;
  for (;;) {
    T_TRUE(ward__wait_fd(fd, WARD__IN, ward__deadline(20000)) > 0);
    ptrdiff_t got = ward__sock_recv(fd, buf + have, sizeof buf - have, 1);
    T_TRUE(got > 0);
    have += (size_t)got;
    if (ward__dec_feed(&d, buf, have, &used, &f) == 1)
      break;
  }
  T_EQ_INT(f.h.kind, WARD__K_REQUEST);
  uint32_t id = f.h.id;
  ward__dec_free(&d);
  return id;
}

/* Appends a ROW frame of call `id` on `stream` numbered `seq`, whose
 * payload is the number itself. */
static size_t put_row(uint8_t *out, uint32_t id, const char *stream, uint64_t seq) {
  ward__hdr h = {.kind = WARD__K_ROW, .nlen = (uint8_t)strlen(stream), .len = sizeof seq,
                 .id = id, .aux = (uint32_t)seq};
  ward__frame_put(out, &h, stream, &seq);
  return ward__frame_size(h.nlen, h.len);
}

/* The peer's side of one call: rows written in one go, as `plan` says,
 * then (if `reply`) the reply. `plan`: a stream name per row, with "s!"
 * for a row of "s" that skips a number. */
static void answer_rows(ward__fd fd, uint32_t id, const char *const *plan, int n, int reply) {
  static uint8_t buf[1 << 16];
  size_t len = 0;
  uint64_t s = 0, t = 0;
  for (int i = 0; i < n; i++) {
    if (strcmp(plan[i], "t") == 0)
      len += put_row(buf + len, id, "t", ++t);
    else
      len += put_row(buf + len, id, "s", strcmp(plan[i], "s!") == 0 ? (s += 2) : ++s);
  }
  if (reply) {
    ward__hdr h = {.kind = WARD__K_REPLY, .id = id};
    ward__frame_put(buf + len, &h, NULL, NULL);
    len += WARD__HDR_SIZE;
  }
  ward__buf iov = {buf, len};
  T_EQ_INT(ward__sock_send(fd, &iov, 1), (ptrdiff_t)len);
}

/* Rows that come back to back are taken as runs (many at a time, under
 * one lock): each once and in order, a run broken by another stream and
 * picked up again, the reply after them; batches are many rows each. A
 * row that skips a number in the middle of a run is a protocol violation
 * there as anywhere: the call ends WARD_EPROTO. */
static void test_row_runs(void) {
  static const char *plan[700];
  for (int i = 0; i < 700; i++)
    plan[i] = i == 300 || i == 301 || i == 650 ? "t" : "s";
  for (int bad = 0; bad < 2; bad++) {
    if (bad)
      plan[500] = "s!";
    ward__fd sv[2];
    T_OK(ward__socketpair(sv));
    ward__conn *c;
    T_OK(ward__conn_new(&c, sv[0], &ops, NULL, WARD_MAX_FRAME_DEFAULT));
    row_call rc = {.c = c};
    T_TRUE(pthread_create(&rc.t, NULL, row_caller, &rc) == 0);
    answer_rows(sv[1], read_request(sv[1]), plan, 700, !bad);
    pthread_join(rc.t, NULL);
    if (bad) {
      T_EQ_INT(rc.rv, WARD_EPROTO);
      T_TRUE(rc.rows < 700);
    } else {
      T_OK(rc.rv);
      T_EQ_INT(rc.rows, 700);
      T_EQ_INT(rc.next_s, 697);
      T_EQ_INT(rc.next_t, 3);
      /* The runs were taken whole: a handful of batches, not 700. */
      T_TRUE(rc.calls <= 20);
    }
    ward__conn_close(c, WARD_ECLOSED);
    ward__conn_unref(c);
    ward__close(sv[1]);
  }
}

/* The length of row `seq` (from 1) of a stream that tries every size
 * the copies treat apart: the first 5,000 rows are tiny, so that a pack
 * fills up on its count of rows; then sizes around 8, 16, 128 and the
 * largest row a pack takes (4 KiB), so that packs fill up on bytes and
 * rows too big for one come between them. */
static size_t row_len(uint64_t seq) {
  static const size_t tiny[] = {0, 1, 7, 8, 9, 15};
  static const size_t some[] = {16, 17, 31, 32, 33, 100, 128, 129, 200, 4095, 4096, 4097};
  if (seq <= 5000)
    return tiny[seq % 6];
  return some[seq % 12];
}

static uint8_t row_byte(uint64_t seq, size_t i) { return (uint8_t)(seq * 31 + i * 7 + 1); }

/* Appends ROW `seq` of call `id` on stream "s": `len` bytes of `data`
 * tagged `enc`. */
static size_t put_row_of(uint8_t *out, uint32_t id, uint64_t seq, int enc, const void *data,
                         size_t len) {
  ward__hdr h = {.kind = WARD__K_ROW, .flags = (uint8_t)enc, .nlen = 1, .len = (uint32_t)len,
                 .id = id, .aux = (uint32_t)seq};
  ward__frame_put(out, &h, "s", data);
  return ward__frame_size(1, len);
}

/* Writes all of `buf`, waiting for room: more than the socket holds. */
static void send_all(ward__fd fd, const uint8_t *buf, size_t len) {
  while (len) {
    ward__buf iov = {buf, len};
    ptrdiff_t w = ward__sock_send(fd, &iov, 1);
    T_TRUE(w >= 0);
    buf += w;
    len -= (size_t)w;
    if (len)
      T_TRUE(ward__wait_fd(fd, WARD__OUT, ward__deadline(20000)) > 0);
  }
}

typedef struct sized_call {
  pthread_t t;
  ward__conn *c;
  int window;     /* window_bytes */
  int rv;
  uint64_t rows;  /* seen, each checked */
  size_t most;    /* rows in the largest batch */
  ward_summary sum;
  /* What checks the rows. */
  void (*on_rows)(const char *stream, uint64_t seq, const ward_row *rows, size_t n, void *ud);
} sized_call;

static void take_sized(const char *stream, uint64_t seq, const ward_row *rows, size_t n,
                       void *ud) {
  sized_call *sc = ud;
  T_EQ_STR(stream, "s");
  T_EQ_INT(seq, sc->rows + 1);
  for (size_t i = 0; i < n; i++) {
    size_t len = row_len(seq + i);
    T_EQ_INT(rows[i].len, len);
    for (size_t b = 0; b < len; b++)
      if (((const uint8_t *)rows[i].data)[b] != row_byte(seq + i, b))
        T_FAIL("row %llu differs at byte %zu", (unsigned long long)(seq + i), b);
  }
  sc->rows += n;
  if (n > sc->most)
    sc->most = n;
}

/* The caller's thread: one call of "rows", its rows to sc->on_rows. */
static void *rows_caller(void *p) {
  sized_call *sc = p;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 20000;
  o.window_bytes = sc->window;
  o.on_rows = sc->on_rows;
  o.summary = sc->sum.struct_size ? &sc->sum : NULL;
  o.ud = sc;
  ward_msg *m = NULL;
  sc->rv = ward__conn_call(sc->c, WARD__K_REQUEST, "rows", NULL, 0, &o, &m);
  ward_msg_free(m);
  return NULL;
}

/* A run taken many rows at a time still hands over every row whole, in
 * order, whatever its size (copies of 0 to 4 KiB, rows too big for a
 * pack between packs), packs never past their limits, and the call's
 * summary counts each row and byte once. */
static void test_row_runs_every_size(void) {
  enum { ROWS = 8000 };
  size_t cap = (size_t)ROWS * (WARD__HDR_SIZE + 1 + 4097) + WARD__HDR_SIZE, len = 0;
  uint8_t *buf = malloc(cap), row[4097];
  T_TRUE(buf != NULL);
  ward__fd sv[2];
  T_OK(ward__socketpair(sv));
  ward__conn *c;
  T_OK(ward__conn_new(&c, sv[0], &ops, NULL, WARD_MAX_FRAME_DEFAULT));
  sized_call sc = {.c = c, .window = -1, .sum = WARD_SUMMARY_INIT, .on_rows = take_sized};
  T_TRUE(pthread_create(&sc.t, NULL, rows_caller, &sc) == 0);
  uint32_t id = read_request(sv[1]);
  uint64_t bytes = 0;
  for (uint64_t seq = 1; seq <= ROWS; seq++) {
    size_t n = row_len(seq);
    for (size_t b = 0; b < n; b++)
      row[b] = row_byte(seq, b);
    len += put_row_of(buf + len, id, seq, WARD_ENC_RAW, row, n);
    bytes += n;
  }
  ward__hdr h = {.kind = WARD__K_REPLY, .id = id};
  ward__frame_put(buf + len, &h, NULL, NULL);
  send_all(sv[1], buf, len + WARD__HDR_SIZE);
  pthread_join(sc.t, NULL);
  T_OK(sc.rv);
  T_EQ_INT(sc.rows, ROWS);
  /* A pack holds at most 4,096 rows (PACK_ROWS in conn.c). */
  T_TRUE(sc.most > 1 && sc.most <= 4096);
  T_EQ_INT(sc.sum.rows, ROWS);
  T_EQ_INT(sc.sum.row_bytes, bytes);
  ward_summary_clear(&sc.sum);
  ward__conn_close(c, WARD_ECLOSED);
  ward__conn_unref(c);
  ward__close(sv[1]);
  free(buf);
}

/* The peer's side of a call whose rows are all `size` bytes of "s",
 * tagged `enc`, sent in one write and left without a reply: row `bad`
 * (from 1; 0 for none) is "x" (invalid JSON) instead. */
static void answer_fixed(ward__fd fd, uint32_t id, int rows, size_t size, int enc, int bad) {
  static uint8_t buf[1 << 16];
  uint8_t row[64];
  size_t len = 0;
  T_TRUE(size <= sizeof row && rows * (WARD__HDR_SIZE + 1 + size) <= sizeof buf);
  for (int seq = 1; seq <= rows; seq++) {
    for (size_t b = 0; b < size; b++)
      row[b] = seq == bad ? 'x' : '1';
    len += put_row_of(buf + len, id, (uint64_t)seq, enc, row, size);
  }
  send_all(fd, buf, len);
}

static void count_fixed(const char *stream, uint64_t seq, const ward_row *rows, size_t n,
                        void *ud) {
  sized_call *sc = ud;
  T_EQ_STR(stream, "s");
  T_EQ_INT(seq, sc->rows + 1);
  for (size_t i = 0; i < n; i++)
    T_TRUE(rows[i].len > 0 && ((const char *)rows[i].data)[0] == '1');
  sc->rows += n;
}

/* One call of "rows" (window `window`, rows validated by `validate` when
 * not NULL) answered by answer_fixed(count, size, enc, bad) at once: what
 * the caller saw (its connection gone). */
static sized_call fixed_rows_call(int window, int (*validate)(const void *, size_t), int count,
                                  size_t size, int enc, int bad) {
  ward__fd sv[2];
  T_OK(ward__socketpair(sv));
  ward__conn *c;
  T_OK(ward__conn_new(&c, sv[0], &ops, NULL, WARD_MAX_FRAME_DEFAULT));
  c->validate = validate;
  sized_call sc = {.c = c, .window = window, .on_rows = count_fixed};
  T_TRUE(pthread_create(&sc.t, NULL, rows_caller, &sc) == 0);
  answer_fixed(sv[1], read_request(sv[1]), count, size, enc, bad);
  pthread_join(sc.t, NULL);
  ward__conn_close(c, WARD_ECLOSED);
  ward__conn_unref(c);
  ward__close(sv[1]);
  sc.c = NULL;
  return sc;
}

/* Flow control holds to the row inside a run: a peer that sends past the
 * window without waiting for credit has its rows taken up to the last
 * one the window allows, and the call ends there, WARD_EPROTO. With a
 * window of 4,096 bytes and rows of 49 (16 of header, 1 of name, 32 of
 * payload), row 84 is the first that starts past half the window and
 * does not fit: 83 rows are delivered. */
static void test_row_runs_keep_the_window(void) {
  sized_call sc = fixed_rows_call(4096, NULL, 200, 32, WARD_ENC_RAW, 0);
  T_EQ_INT(sc.rv, WARD_EPROTO);
  T_EQ_INT(sc.rows, 83);
}

static int starts_with_1(const void *data, size_t len) {
  return len > 0 && ((const char *)data)[0] == '1';
}

/* Validated JSON rows are each looked at inside a run: an invalid one in
 * the middle ends the call there, WARD_EPROTO, after the rows before it. */
static void test_row_runs_validated(void) {
  sized_call sc = fixed_rows_call(-1, starts_with_1, 300, 8, WARD_ENC_JSON, 120);
  T_EQ_INT(sc.rv, WARD_EPROTO);
  T_EQ_INT(sc.rows, 119);
}

int main(void) {
  T_RUN(test_close_sends_what_is_queued);
  T_RUN(test_close_wakes_a_waiting_writer);
  T_RUN(test_row_runs);
  T_RUN(test_row_runs_every_size);
  T_RUN(test_row_runs_keep_the_window);
  T_RUN(test_row_runs_validated);
#ifndef _WIN32
  T_RUN(test_lone_note_goes_at_once);
  T_RUN(test_burst_gathers_in_bounds);
#endif
  return t_done();
}
