/*
 * test_frames.c — how frames travel: the shared-memory transport
 * negotiated at the handshake (docs/protocol.md section 11), forced on,
 * forced off, and left out by a worker that does not offer it; calls of
 * every kind over it, payloads larger than its rings, many callers at
 * once; and the wake-ups of its rings between two threads, with and
 * without spinning, where a lost wake-up would leave a side asleep.
 *
 * On backends without shared memory (posix) the cases that need it check
 * that the spec refuses it and the socket carries everything.
 */
#include <pthread.h>
#include <stdlib.h>

#include "link.h"
#include "test.h"
#include "tworker.h"
#include "ward_int.h"
#include "worker.h"

static ward_host *host;

static ward_worker *spawn_with(const char *name, int frames, int offer) {
  ward_worker *w = NULL;
  ward_spec *s = tw_spec(name, "serve");
  T_OK(ward_spec_frames(s, frames));
  if (!offer)
    T_OK(ward_spec_env(s, "TW_NO_SHM", "1"));
  T_OK(ward_spec_restart(s, WARD_RESTART_NEVER));
  int rv = ward_spawn(&w, host, s);
  ward_spec_free(s);
  T_TRUE(rv == 0 || frames == WARD_FRAMES_SHM);
  return rv == 0 ? w : NULL;
}

static void expect_echo(ward_worker *w, const void *p, size_t n) {
  ward_msg *m = NULL;
  T_OK(ward_request(&m, w, "echo", p, n, 20000));
  T_EQ_INT(ward_msg_len(m), n);
  if (n)
    T_EQ_MEM(ward_msg_data(m), p, n);
  ward_msg_free(m);
}

typedef struct rows_seen {
  int rows, diags;
} rows_seen;

static void on_row(const char *stream, uint64_t seq, const void *d, size_t n, void *ud) {
  (void)stream, (void)seq, (void)d, (void)n;
  ((rows_seen *)ud)->rows++;
}

static void on_diag(int severity, const char *code, const char *msg, void *ud) {
  (void)severity, (void)code, (void)msg;
  ((rows_seen *)ud)->diags++;
}

/* Everything a call can carry, over whichever transport `w` has. */
static void exercise(ward_worker *w) {
  expect_echo(w, "hello", 5);
  expect_echo(w, NULL, 0);
  /* Larger than a ring, and than a record: it travels in pieces. */
  size_t big = 3 * WARD__LINK_CAP + 12345;
  uint8_t *p = malloc(big);
  T_TRUE(p != NULL);
  for (size_t i = 0; i < big; i++)
    p[i] = (uint8_t)(i * 7 + (i >> 11));
  expect_echo(w, p, big);
  free(p);
  rows_seen seen = {0, 0};
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.on_row = on_row;
  o.on_diag = on_diag;
  o.ud = &seen;
  ward_msg *m = NULL;
  T_OK(ward_request_ex(&m, w, "rows", NULL, 0, &o));
  T_EQ_INT(seen.rows, 10);
  T_EQ_INT(seen.diags, 1);
  ward_msg_free(m);
  T_OK(ward_ping(w, 10000));
  for (int i = 0; i < 2000; i++) {
    char b[32];
    int k = snprintf(b, sizeof b, "round %d", i);
    expect_echo(w, b, (size_t)k);
  }
}

static void test_shm_forced(void) {
  if (!ward__shm_supported()) {
    ward_spec *s = tw_spec("shm", "serve");
    T_ERR(ward_spec_frames(s, WARD_FRAMES_SHM), WARD_EINVAL);
    ward_spec_free(s);
    return;
  }
  ward_worker *w = spawn_with("shm", WARD_FRAMES_SHM, 1);
  T_EQ_INT(ward_worker_frames(w), WARD_FRAMES_SHM);
  exercise(w);
  T_OK(ward_worker_stop(w, 10000));
  ward_worker_free(w);
}

static void test_socket_forced(void) {
  ward_worker *w = spawn_with("sock", WARD_FRAMES_SOCKET, 1);
  T_EQ_INT(ward_worker_frames(w), WARD_FRAMES_SOCKET);
  exercise(w);
  T_OK(ward_worker_stop(w, 10000));
  ward_worker_free(w);
}

/* AUTO takes the shared memory where both sides have it, unless the
 * environment says socket. */
static void test_auto_and_environment(void) {
  const char *was = getenv("WARD_FRAMES");
  char *keep = was ? strdup(was) : NULL;
  unsetenv("WARD_FRAMES");
  ward_worker *w = spawn_with("auto", WARD_FRAMES_AUTO, 1);
  T_EQ_INT(ward_worker_frames(w), ward__shm_supported() ? WARD_FRAMES_SHM : WARD_FRAMES_SOCKET);
  expect_echo(w, "auto", 4);
  T_OK(ward_worker_stop(w, 10000));
  ward_worker_free(w);
  setenv("WARD_FRAMES", "socket", 1);
  w = spawn_with("auto_socket", WARD_FRAMES_AUTO, 1);
  T_EQ_INT(ward_worker_frames(w), WARD_FRAMES_SOCKET);
  expect_echo(w, "auto", 4);
  T_OK(ward_worker_stop(w, 10000));
  ward_worker_free(w);
  if (keep)
    setenv("WARD_FRAMES", keep, 1);
  else
    unsetenv("WARD_FRAMES");
  free(keep);
}

/* A worker that offers no shared memory (as the Python library) keeps
 * the socket under AUTO, and is refused where the spec requires it. */
static void test_worker_without_shm(void) {
  ward_worker *w = spawn_with("plain", WARD_FRAMES_AUTO, 0);
  T_EQ_INT(ward_worker_frames(w), WARD_FRAMES_SOCKET);
  exercise(w);
  T_OK(ward_worker_stop(w, 10000));
  ward_worker_free(w);
  if (!ward__shm_supported())
    return;
  ward_worker *r = spawn_with("plain_required", WARD_FRAMES_SHM, 0);
  if (r) {
    /* Started, then refused at its handshake: it never becomes ready. */
    T_ERR(ward_request(NULL, r, "echo", "x", 1, 5000), WARD_EHANDSHAKE);
    ward_worker_free(r);
  }
}

typedef struct caller_arg {
  ward_worker *w;
  int id;
} caller_arg;

static void *caller(void *p) {
  caller_arg *a = p;
  for (int i = 0; i < 500; i++) {
    char b[48];
    int k = snprintf(b, sizeof b, "caller %d call %d", a->id, i);
    expect_echo(a->w, b, (size_t)k);
  }
  return NULL;
}

static void test_many_callers(void) {
  ward_worker *w = spawn_with("many", ward__shm_supported() ? WARD_FRAMES_SHM : WARD_FRAMES_AUTO, 1);
  pthread_t t[8];
  caller_arg a[8];
  for (int i = 0; i < 8; i++) {
    a[i] = (caller_arg){w, i};
    T_TRUE(pthread_create(&t[i], NULL, caller, &a[i]) == 0);
  }
  for (int i = 0; i < 8; i++)
    pthread_join(t[i], NULL);
  T_OK(ward_worker_stop(w, 10000));
  ward_worker_free(w);
}

/* ------------------------------------------------------------------ */
/* The rings' wake-ups, two threads of one process                     */

#define PINGS 20000

typedef struct side {
  ward__link *l;
  ward__fd sock;
  atomic_int closed;
  int echo;     /* answers each record (the other side counts) */
  int futex;    /* may sleep in a futex wait */
  int stalls;   /* waits that ended at their deadline */
} side;

/* Waits for a record as a caller does (ward__link_wait) and reads it. */
static int get_one(side *s, uint8_t *buf, size_t *len) {
  int64_t deadline = ward__deadline(10000);
  for (;;) {
    int r = ward__link_get(s->l, buf, WARD__LINK_RECORD_MAX, len);
    if (r)
      return r;
    r = ward__link_wait(s->l, s->sock, deadline, &s->closed, s->futex);
    if (r == WARD_ETIMEDOUT) {
      s->stalls++;
      return 0;
    }
    T_OK(r);
    T_OK(ward__link_drain(s->l, s->sock, s->l->polled));
    s->l->polled = 0;
  }
}

static void put_one(side *s, const void *p, size_t n) {
  ward__buf b = {p, n};
  for (;;) {
    ptrdiff_t w = ward__link_send(s->l, s->sock, &b, 1, 1);
    T_TRUE(w >= 0);
    if (w > 0)
      return;
    T_TRUE(ward__link_wait_room(s->l, ward__deadline(10000), &s->closed) > 0);
  }
}

static void *run_side(void *p) {
  side *s = p;
  uint8_t buf[WARD__LINK_RECORD_MAX];
  for (uint32_t i = 0; i < PINGS; i++) {
    size_t len;
    if (!s->echo) {
      put_one(s, &i, sizeof i);
    }
    if (get_one(s, buf, &len) != 1)
      return NULL;
    uint32_t got;
    T_EQ_INT(len, sizeof got);
    memcpy(&got, buf, sizeof got);
    T_EQ_INT(got, i);
    ward__link_read_done(s->l, s->sock);
    if (s->echo)
      put_one(s, &got, sizeof got);
  }
  return NULL;
}

/* A bulk writer that fills the ring and waits for room. */
static void *run_bulk(void *p) {
  side *s = p;
  static uint8_t chunk[40000];
  for (int i = 0; i < 2000; i++) {
    memset(chunk, i & 0xff, sizeof chunk);
    put_one(s, chunk, sizeof chunk);
  }
  return NULL;
}

static void link_pair(side *a, side *b, int spin) {
  int sv[2];
  T_OK(ward__socketpair(sv));
  memset(a, 0, sizeof *a);
  memset(b, 0, sizeof *b);
  ward__fd memfd;
  T_OK(ward__link_host(&a->l, WARD__LINK_CAP, &memfd));
  T_OK(ward__link_worker(&b->l, memfd, WARD__LINK_CAP));
  ward__close(memfd);
  a->sock = sv[0];
  b->sock = sv[1];
  if (!spin) {
    a->l->spin_us = a->l->spin_max = 0;
    b->l->spin_us = b->l->spin_max = 0;
  }
}

static void link_unpair(side *a, side *b) {
  ward__link_free(a->l);
  ward__link_free(b->l);
  ward__close(a->sock);
  ward__close(b->sock);
}

/* Every way of sleeping: with and without a spin first, in poll (a
 * byte wakes) and in a futex, on either side. */
static void test_wakeups(void) {
  if (!ward__shm_supported())
    return;
  for (int mode = 0; mode < 6; mode++) {
    side a, b;
    link_pair(&a, &b, mode & 1);
    b.echo = 1;
    a.futex = mode >= 2;
    b.futex = mode >= 4;
    pthread_t ta, tb;
    T_TRUE(pthread_create(&ta, NULL, run_side, &a) == 0);
    T_TRUE(pthread_create(&tb, NULL, run_side, &b) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    T_EQ_INT(a.stalls, 0);
    T_EQ_INT(b.stalls, 0);
    link_unpair(&a, &b);
  }
}

/* A writer that outruns its reader waits for room and is woken. */
static void test_room_wakeups(void) {
  if (!ward__shm_supported())
    return;
  side a, b;
  link_pair(&a, &b, 0);
  pthread_t ta;
  T_TRUE(pthread_create(&ta, NULL, run_bulk, &a) == 0);
  uint8_t buf[WARD__LINK_RECORD_MAX];
  size_t total = 0;
  while (total < 2000u * 40000u) {
    size_t len;
    if (get_one(&b, buf, &len) != 1)
      break;
    T_EQ_INT(buf[0], (total / 40000) & 0xff);
    total += len;
    ward__link_read_done(b.l, b.sock);
  }
  pthread_join(ta, NULL);
  T_EQ_INT(total, 2000u * 40000u);
  T_EQ_INT(b.stalls, 0);
  link_unpair(&a, &b);
}

/* Two threads of one side may sleep at once: the thread that reads, in a
 * futex, and the loop in poll, after another thread that read before it
 * said so (ward__link_sleep from a thread without the reading role). The
 * flag of one must not take the other's away: the writer then wakes both,
 * the futex word and a byte. With one value for both, the futex sleeper
 * lost its wake-up and slept out its slice (8 callers on one worker made
 * 2 k round trips/s instead of 100 k). */
static void test_two_sleepers(void) {
  if (!ward__shm_supported())
    return;
  side a, b;
  link_pair(&a, &b, 0);
  _Atomic uint32_t *sleeping = &b.l->rx.hdr->sleeping;
  uint32_t seq = atomic_load(&b.l->rx.hdr->seq);
  /* The reader announces its futex wait as wait_futex does, then the loop
   * is rearmed from another thread. */
  atomic_fetch_or(sleeping, WARD__LINK_WANT_FUTEX);
  T_EQ_INT(ward__link_sleep(b.l), 0);
  T_EQ_INT(atomic_load(sleeping), WARD__LINK_WANT_FUTEX | WARD__LINK_WANT_BYTE);
  uint32_t v = 7;
  ward__buf one = {&v, sizeof v};
  T_EQ_INT(ward__link_send(a.l, a.sock, &one, 1, 0), sizeof v);
  T_EQ_INT(atomic_load(sleeping), 0);
  T_TRUE(atomic_load(&b.l->rx.hdr->seq) != seq);
  uint8_t byte;
  T_EQ_INT(ward__sock_recv(b.sock, &byte, 1, 0), 1);
  T_EQ_INT(byte, WARD__LINK_WAKE);
  /* The same for room: a writer blocked in a futex and its loop. */
  atomic_fetch_or(&a.l->tx.hdr->room_waiting, WARD__LINK_WANT_FUTEX | WARD__LINK_WANT_BYTE);
  uint32_t room = atomic_load(&a.l->tx.hdr->room_seq);
  uint8_t buf[64];
  size_t len;
  T_EQ_INT(ward__link_get(b.l, buf, sizeof buf, &len), 1);
  ward__link_read_done(b.l, b.sock);
  T_TRUE(atomic_load(&a.l->tx.hdr->room_seq) != room);
  T_EQ_INT(ward__sock_recv(a.sock, &byte, 1, 0), 1);
  link_unpair(&a, &b);
}

/* A reader that did not see the socket readable (a futex wake, a spin,
 * records already there) reads it only when the peer counts a wake-up
 * byte it sent; then it takes the byte. A poll that saw the socket
 * readable always has it read. */
static void test_drain_when_told(void) {
  if (!ward__shm_supported())
    return;
  side a, b;
  link_pair(&a, &b, 0);
  uint32_t v = 7;
  ward__buf one = {&v, sizeof v};
  uint8_t buf[64], byte;
  size_t len;
  /* b reads (awake): a's record comes without a byte, b reads no socket. */
  ward__link_awake(b.l);
  T_EQ_INT(ward__link_send(a.l, a.sock, &one, 1, 0), sizeof v);
  T_OK(ward__link_drain(b.l, b.sock, 0));
  T_EQ_INT(atomic_load(&b.l->drains), 0);
  T_EQ_INT(ward__link_get(b.l, buf, sizeof buf, &len), 1);
  /* b sleeps in poll: a's record comes with a byte, counted; b takes it. */
  T_EQ_INT(ward__link_sleep(b.l), 0);
  T_EQ_INT(ward__link_send(a.l, a.sock, &one, 1, 0), sizeof v);
  T_EQ_INT(atomic_load(&a.l->tx.hdr->wakes), 1);
  T_OK(ward__link_drain(b.l, b.sock, 0));
  T_EQ_INT(atomic_load(&b.l->drains), 1);
  T_EQ_INT(atomic_load(&b.l->drains_told), 1);
  T_EQ_INT(ward__sock_recv(b.sock, &byte, 1, 0), WARD__AGAIN);
  T_EQ_INT(ward__link_get(b.l, buf, sizeof buf, &len), 1);
  /* Nothing new: no read; after a poll, one. */
  T_OK(ward__link_drain(b.l, b.sock, 0));
  T_EQ_INT(atomic_load(&b.l->drains), 1);
  T_OK(ward__link_drain(b.l, b.sock, 1));
  T_EQ_INT(atomic_load(&b.l->drains), 2);
  /* A count that lies costs a read that finds nothing, no error. */
  atomic_fetch_add(&a.l->tx.hdr->wakes, 5);
  T_OK(ward__link_drain(b.l, b.sock, 0));
  T_EQ_INT(atomic_load(&b.l->drains), 3);
  link_unpair(&a, &b);
}

/* A reader whose spin stops catching the peer (which may share its CPU
 * now) stops spinning, but for one spin every WARD__LINK_SPIN_PROBE waits,
 * longer than the least (a peer that sleeps too answers only after its
 * wake-up); a probe that catches the peer brings the spin back. */
static void test_spin_adapts(void) {
  if (!ward__shm_supported())
    return;
  side a, b;
  link_pair(&a, &b, 1);
  b.l->spin_us = b.l->spin_max = WARD__LINK_SPIN_MAX_US; /* one CPU here or not */
  atomic_int closed = 0;
  int misses = 0;
  while (b.l->spin_us) {
    T_EQ_INT(ward__link_spin(b.l, &closed), 0);
    T_TRUE(++misses < 10);
  }
  for (int i = 1; i < WARD__LINK_SPIN_PROBE; i++) {
    T_EQ_INT(ward__link_spin(b.l, &closed), 0);
    T_EQ_INT(b.l->spin_us, 0);
  }
  /* The probe, missing: it spun WARD__LINK_SPIN_PROBE_US, and halves it. */
  T_EQ_INT(ward__link_spin(b.l, &closed), 0);
  T_EQ_INT(b.l->spin_us, WARD__LINK_SPIN_PROBE_US / 2);
  /* Then, with a record there: caught, the spin grows again. */
  uint32_t v = 1;
  ward__buf one = {&v, sizeof v};
  T_EQ_INT(ward__link_send(a.l, a.sock, &one, 1, 0), sizeof v);
  T_EQ_INT(ward__link_spin(b.l, &closed), 1);
  T_EQ_INT(b.l->spin_us, WARD__LINK_SPIN_PROBE_US / 2 * 2);
  link_unpair(&a, &b);
}

/* Blocking calls over the rings, one CPU or many: the host reads the
 * socket only after a poll saw it readable or for bytes the worker says
 * it sent, and the worker's replies to a caller that reads them itself
 * need none (the caller says it is awake before it sends its request). */
static void test_calls_without_socket(void) {
  if (!ward__shm_supported())
    return;
  ward_worker *w = spawn_with("quiet", WARD_FRAMES_SHM, 1);
  expect_echo(w, "warm", 4);
  ward__conn *c;
  T_OK(ward__worker_acquire(w, ward__deadline(10000), 0, &c));
  ward__conn_ref(c);
  ward__worker_release(w, c, 1);
  ward__link *l = atomic_load(&c->link);
  T_TRUE(l != NULL);
  enum { CALLS = 2000 };
  unsigned long told0 = atomic_load(&l->drains_told);
  uint32_t sent0 = atomic_load(&l->rx.hdr->wakes);
  for (int i = 0; i < CALLS; i++)
    expect_echo(w, &i, sizeof i);
  unsigned long told = atomic_load(&l->drains_told) - told0;
  uint32_t sent = atomic_load(&l->rx.hdr->wakes) - sent0;
  /* One read may be for a byte counted before we looked (a ping's answer
   * the loop had not read yet); each other needs a byte counted since. */
  T_TRUE(told <= sent + 1);
  /* Bytes go to the host's loop only for what no caller reads (a ping's
   * answer, say), never one per call. */
  T_TRUE(sent < CALLS / 10);
  ward__conn_unref(c);
  T_OK(ward_worker_stop(w, 10000));
  ward_worker_free(w);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
  T_OK(ward_host_new(&host, NULL));
  T_RUN(test_shm_forced);
  T_RUN(test_socket_forced);
  T_RUN(test_auto_and_environment);
  T_RUN(test_worker_without_shm);
  T_RUN(test_many_callers);
  T_RUN(test_wakeups);
  T_RUN(test_room_wakeups);
  T_RUN(test_two_sleepers);
  T_RUN(test_drain_when_told);
  T_RUN(test_spin_adapts);
  T_RUN(test_calls_without_socket);
  ward_host_free(host);
  return t_done();
}
