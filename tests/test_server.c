/*
 * test_server.c — ward on a socket path (ward_server, ward_client_open):
 * calls, paths, hostile peers, and the server's limits (connections held,
 * the handshake's deadline, what is dropped or refused and the threads it
 * takes); and host handlers that answer later from another thread
 * (ward_ctx_defer).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "tevents.h"
#include "tworker.h"

static char dir[40];
static char path[100];

static int h_echo(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  return ward_ctx_reply(ctx, d, n);
}

static int h_who(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  const char *r = ward_ctx_worker(ctx) ? "worker" : "peer";
  return ward_ctx_reply(ctx, r, strlen(r));
}

/* "hold" blocks its connection's thread until "release" comes on another. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;
static int holding; /* handlers waiting at the gate */

static int h_hold(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  pthread_mutex_lock(&gate_mu);
  holding++;
  pthread_cond_broadcast(&gate_cv);
  while (!gate_open)
    pthread_cond_wait(&gate_cv, &gate_mu);
  holding--;
  pthread_mutex_unlock(&gate_mu);
  return ward_ctx_reply(ctx, "released", 8);
}

static int h_release(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  pthread_mutex_lock(&gate_mu);
  gate_open = 1;
  pthread_cond_broadcast(&gate_cv);
  pthread_mutex_unlock(&gate_mu);
  return ward_ctx_reply(ctx, "ok", 2);
}

static void *hold_call(void *arg) {
  ward_msg *m = NULL;
  int rv = ward_client_request(&m, arg, "hold", "", 0, 60000);
  if (!rv && (ward_msg_len(m) != 8 || memcmp(ward_msg_data(m), "released", 8) != 0))
    rv = -100;
  ward_msg_free(m);
  return (void *)(intptr_t)rv;
}

static ward_server *new_server(void) {
  ward_server *s;
  T_OK(ward_server_new(&s));
  T_OK(ward_server_handle(s, "echo", h_echo, NULL));
  T_OK(ward_server_handle(s, "who", h_who, NULL));
  T_OK(ward_server_handle(s, "hold", h_hold, NULL));
  T_OK(ward_server_handle(s, "release", h_release, NULL));
  return s;
}

static void expect_reply(ward_client *c, const char *method, const char *data, const char *want) {
  ward_msg *m;
  T_OK(ward_client_request(&m, c, method, data, strlen(data), 20000));
  T_EQ_INT(ward_msg_len(m), strlen(want));
  T_EQ_MEM(ward_msg_data(m), want, strlen(want));
  ward_msg_free(m);
}

static void test_calls(void) {
  ward_server *s = new_server();
  T_OK(ward_server_listen(s, path));
  T_ERR(ward_server_handle(s, "late", h_echo, NULL), WARD_EINVAL);
  struct stat st;
  T_OK(stat(path, &st));
  T_TRUE(S_ISSOCK(st.st_mode));
  T_EQ_INT(st.st_mode & 0777, 0600);

  ward_client *c;
  T_OK(ward_client_open(&c, path));
  expect_reply(c, "echo", "hello server", "hello server");
  expect_reply(c, "who", "", "peer");
  T_ERR(ward_client_request(NULL, c, "nothing", "", 0, 20000), WARD_ENOMETHOD);

  /* Each connection has its own thread: one blocked handler does not
   * hold up another connection. */
  ward_client *c2;
  T_OK(ward_client_open(&c2, path));
  pthread_t t;
  T_TRUE(pthread_create(&t, NULL, hold_call, c) == 0);
  expect_reply(c2, "release", "", "ok");
  void *rv;
  pthread_join(t, &rv);
  T_EQ_INT((intptr_t)rv, 0);
  ward_client_free(c2);
  ward_client_free(c);
  ward_server_free(s);
  T_TRUE(stat(path, &st) != 0 && errno == ENOENT);
}

static void test_paths(void) {
  /* Nothing there yet. */
  ward_client *c;
  T_ERR(ward_client_open(&c, path), WARD_ECLOSED);
  T_EQ_INT(ward_last_errno(), ENOENT);

  /* A live server keeps its path. */
  ward_server *s = new_server(), *s2 = new_server();
  T_OK(ward_server_listen(s, path));
  T_ERR(ward_server_listen(s2, path), WARD_ESYS);
  T_EQ_INT(ward_last_errno(), EADDRINUSE);
  T_ERR(ward_server_listen(s, path), WARD_EINVAL);
  ward_server_free(s);

  /* A socket left behind by a server that died is replaced. */
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  T_TRUE(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  close(fd);
  T_OK(ward_server_listen(s2, path));
  T_OK(ward_client_open(&c, path));
  expect_reply(c, "echo", "again", "again");
  ward_client_free(c);
  ward_server_free(s2);

  /* Not a socket: left alone. */
  FILE *f = fopen(path, "w");
  T_TRUE(f != NULL);
  fclose(f);
  s = new_server();
  T_ERR(ward_server_listen(s, path), WARD_EINVAL);
  ward_server_free(s);
  struct stat st;
  T_OK(stat(path, &st));
  T_TRUE(S_ISREG(st.st_mode));
  unlink(path);
}

/* Raw bytes to the server, as a broken or hostile peer would send; what
 * came back before the server hung up goes to `got` (may be NULL). */
static size_t send_raw(const void *p, size_t n, uint8_t *got, size_t cap) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  T_TRUE(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  T_TRUE(write(fd, p, n) == (ssize_t)n);
  uint8_t b[256];
  size_t len = 0;
  ssize_t r;
  while ((r = read(fd, b, sizeof b)) > 0)
    for (ssize_t i = 0; i < r; i++)
      if (got && len < cap)
        got[len++] = b[i];
  close(fd);
  return len;
}

/* ---- what a server tells of the connections it lets go ---- */

#define DROP_MAX 256
static pthread_mutex_t drop_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t drop_cv = PTHREAD_COND_INITIALIZER;
static ward_server_drop drops[DROP_MAX]; /* `detail` is in drop_detail */
static char drop_detail[DROP_MAX][128];
static int ndrops;

static void on_drop(const ward_server_drop *d, void *ud) {
  (void)ud;
  pthread_mutex_lock(&drop_mu);
  if (ndrops < DROP_MAX) {
    drops[ndrops] = *d;
    drops[ndrops].detail = NULL;
    snprintf(drop_detail[ndrops], sizeof drop_detail[0], "%s", d->detail ? d->detail : "");
    ndrops++;
  }
  pthread_cond_broadcast(&drop_cv);
  pthread_mutex_unlock(&drop_mu);
}

static void drops_reset(void) {
  pthread_mutex_lock(&drop_mu);
  ndrops = 0;
  pthread_mutex_unlock(&drop_mu);
}

static int drops_of_locked(int reason) {
  int n = 0;
  for (int i = 0; i < ndrops; i++)
    n += drops[i].reason == reason;
  return n;
}

/* Waits (30 s at most) until the server has told of `n` drops of `reason`;
 * fails if it tells of more. */
static void wait_drops(int reason, int n) {
  int64_t deadline = t_now_ms() + 30000;
  pthread_mutex_lock(&drop_mu);
  while (drops_of_locked(reason) < n) {
    if (t_now_ms() > deadline)
      T_FAIL("%d '%s' drops within 30 s, saw %d", n, ward_drop_reason_name(reason),
             drops_of_locked(reason));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000000L;
    if (ts.tv_nsec >= 1000000000L)
      ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&drop_cv, &drop_mu, &ts);
  }
  T_EQ_INT(drops_of_locked(reason), n);
  pthread_mutex_unlock(&drop_mu);
}

/* A copy of the i-th drop told. */
static ward_server_drop drop_at(int i, char *detail, size_t cap) {
  pthread_mutex_lock(&drop_mu);
  T_TRUE(i < ndrops);
  ward_server_drop d = drops[i];
  if (detail)
    snprintf(detail, cap, "%s", drop_detail[i]);
  pthread_mutex_unlock(&drop_mu);
  return d;
}

static int ndrops_now(void) {
  pthread_mutex_lock(&drop_mu);
  int n = ndrops;
  pthread_mutex_unlock(&drop_mu);
  return n;
}

static void test_hostile_peers(void) {
  drops_reset();
  ward_server *s = new_server();
  T_OK(ward_server_on_drop(s, on_drop, NULL));
  T_OK(ward_server_listen(s, path));
  send_raw("GARBAGE!GARBAGE!GARBAGE!GARBAGE!", 32, NULL, 0);
  /* A request before any HELLO. */
  uint8_t f[WARD__HDR_SIZE + 4 + 1];
  ward__hdr h = {.kind = WARD__K_REQUEST, .nlen = 4, .len = 1, .id = 1};
  ward__frame_put(f, &h, "echo", "x");
  send_raw(f, sizeof f, NULL, 0);
  /* A WELCOME, which only a server sends. */
  ward__hdr w = {.kind = WARD__K_WELCOME, .aux = 1};
  ward__frame_put(f, &w, NULL, NULL);
  send_raw(f, WARD__HDR_SIZE, NULL, 0);
  /* A HELLO of protocol version 0: refused with a GOODBYE, reason 1. */
  ward__hdr v0 = {.kind = WARD__K_HELLO, .nlen = 1, .aux = 0};
  ward__frame_put(f, &v0, "x", NULL);
  uint8_t got[256];
  size_t n = send_raw(f, WARD__HDR_SIZE + 1, got, sizeof got);
  T_TRUE(n >= WARD__HDR_SIZE);
  ward__hdr bye;
  T_OK(ward__hdr_get(&bye, got, 1024));
  T_EQ_INT(bye.kind, WARD__K_GOODBYE);
  T_EQ_INT(bye.aux, WARD__BYE_VERSION);
  T_EQ_INT(n, WARD__HDR_SIZE + bye.len);
  T_EQ_MEM(got + WARD__HDR_SIZE, "no common protocol version", bye.len);
  /* Each is told to the server's program, with what it did. */
  wait_drops(WARD_DROP_PROTOCOL, 4);
  const char *const did[] = {"malformed frame", "kind 3 before HELLO", "sent WELCOME",
                             "no common protocol version"};
  for (size_t k = 0; k < 4; k++) {
    int found = 0;
    for (int i = 0; i < 4; i++) {
      char detail[128];
      ward_server_drop d = drop_at(i, detail, sizeof detail);
      T_EQ_INT(d.pid, getpid());
      T_EQ_INT(d.greeted, 0);
      found |= strstr(detail, did[k]) != NULL;
    }
    if (!found)
      T_FAIL("no drop told of '%s'", did[k]);
  }
  /* Still serving the well-behaved. */
  ward_client *c;
  T_OK(ward_client_open(&c, path));
  expect_reply(c, "echo", "fine", "fine");
  ward_client_free(c);
  ward_server_free(s);
}

/* ---- the server's limits ---- */

/* This process's threads. */
static int threads(void) { return t_count_entries("/proc/self/task"); }

/* Waits (30 s at most) until this process has at most `n` threads: one
 * that has just ended may still be listed for a moment. */
static void wait_threads(int n) {
  int64_t deadline = t_now_ms() + 30000;
  int now;
  while ((now = threads()) > n) {
    if (t_now_ms() > deadline)
      T_FAIL("%d threads, want at most %d", now, n);
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
}

/* A bare connection to the server, for peers that do not play by the rules. */
static int raw_connect(void) { return t_unix_connect(path); }

/* Reads until the server hangs up (30 s at most): what it sent, in `got`. */
static size_t read_to_eof(int fd, uint8_t *got, size_t cap) {
  int64_t deadline = t_now_ms() + 30000;
  size_t len = 0;
  for (;;) {
    int64_t left = deadline - t_now_ms();
    if (left <= 0)
      T_FAIL("the server did not hang up within 30 s");
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, (int)left) <= 0)
      continue;
    uint8_t b[256];
    ssize_t r = read(fd, b, sizeof b);
    if (r == 0 || (r < 0 && errno == ECONNRESET))
      return len;
    T_TRUE(r > 0);
    for (ssize_t i = 0; i < r; i++)
      if (got && len < cap)
        got[len++] = b[i];
  }
}

static void test_limits_api(void) {
  ward_server *s = new_server();
  T_ERR(ward_server_limits(NULL, 4, 1000), WARD_EINVAL);
  T_ERR(ward_server_limits(s, 0, 1000), WARD_EINVAL);
  T_ERR(ward_server_limits(s, 4, 0), WARD_EINVAL);
  T_OK(ward_server_limits(s, 4, -1)); /* negative: unchanged */
  T_OK(ward_server_limits(s, -1, 5000));
  T_ERR(ward_server_on_drop(NULL, on_drop, NULL), WARD_EINVAL);
  T_OK(ward_server_on_drop(s, on_drop, NULL));
  T_OK(ward_server_listen(s, path));
  T_ERR(ward_server_limits(s, 8, 1000), WARD_EINVAL);
  T_ERR(ward_server_on_drop(s, NULL, NULL), WARD_EINVAL);
  ward_server_free(s);
  T_EQ_STR(ward_drop_reason_name(WARD_DROP_BUSY), "busy");
  T_EQ_STR(ward_drop_reason_name(WARD_DROP_IDLE), "idle");
  T_EQ_STR(ward_drop_reason_name(WARD_DROP_HANDSHAKE_TIMEOUT), "handshake-timeout");
  T_EQ_STR(ward_drop_reason_name(WARD_DROP_PROTOCOL), "protocol");
  T_EQ_STR(ward_drop_reason_name(99), "unknown");
}

/* A peer has the handshake deadline, from its connect, to send a whole
 * HELLO; one that sends part of a header, or nothing, is closed then. A
 * greeted one is not held to it. */
static void test_handshake_deadline(void) {
  drops_reset();
  ward_server *s = new_server();
  T_OK(ward_server_limits(s, -1, 300));
  T_OK(ward_server_on_drop(s, on_drop, NULL));
  T_OK(ward_server_listen(s, path));
  int64_t t0 = t_now_ms();
  int part = raw_connect();
  uint8_t hdr[WARD__HDR_SIZE];
  ward__hdr h = {.kind = WARD__K_HELLO, .aux = 1};
  ward__hdr_put(hdr, &h);
  T_TRUE(write(part, hdr, 3) == 3); /* 3 bytes of a header, then nothing */
  int silent = raw_connect();      /* half-open: connected, and nothing more */
  ward_client *c;
  T_OK(ward_client_open(&c, path));
  expect_reply(c, "echo", "in time", "in time");
  int later = raw_connect();       /* its deadline comes after c's */
  read_to_eof(part, NULL, 0);
  read_to_eof(silent, NULL, 0);
  T_TRUE(t_now_ms() - t0 >= 300);
  read_to_eof(later, NULL, 0);
  wait_drops(WARD_DROP_HANDSHAKE_TIMEOUT, 3);
  for (int i = 0; i < 3; i++) {
    ward_server_drop d = drop_at(i, NULL, 0);
    T_EQ_INT(d.pid, getpid());
    T_EQ_INT(d.greeted, 0);
    T_TRUE(d.idle_ms >= 300);
  }
  expect_reply(c, "echo", "still here", "still here");
  T_EQ_INT(ndrops_now(), 3);
  ward_client_free(c);
  close(part);
  close(silent);
  close(later);
  ward_server_free(s);
}

/* Past its limit the server makes room: first by closing peers still in
 * their handshake (oldest first), then the greeted one idle the longest;
 * its threads never outnumber the limit, and a newcomer is served. */
static void test_connection_limit(void) {
  enum { MAX = 4, FLOOD = 40 };
  drops_reset();
  int base = threads();
  ward_server *s = new_server();
  T_OK(ward_server_limits(s, MAX, 60000));
  T_OK(ward_server_on_drop(s, on_drop, NULL));
  T_OK(ward_server_listen(s, path));
  int bound = base + 1 + MAX; /* the accepting thread, one per connection */
  ward_client *a, *b;
  T_OK(ward_client_open(&a, path));
  expect_reply(a, "echo", "a", "a");
  T_OK(ward_client_open(&b, path));
  expect_reply(b, "echo", "b", "b");

  /* A flood of peers that never greet. */
  int fds[FLOOD];
  for (int i = 0; i < FLOOD; i++) {
    fds[i] = raw_connect();
    /* A joined thread may still be listed for a moment: a little slack
     * (without the limit there would be a thread per connection). */
    T_TRUE(threads() <= bound + 2);
  }
  wait_drops(WARD_DROP_IDLE, FLOOD + 2 - MAX);
  wait_threads(bound);
  for (int i = 0; i < FLOOD + 2 - MAX; i++) {
    ward_server_drop d = drop_at(i, NULL, 0);
    T_EQ_INT(d.greeted, 0);
    T_EQ_INT(d.pid, getpid());
  }
  /* The oldest went, the newest are held. */
  read_to_eof(fds[0], NULL, 0);
  read_to_eof(fds[FLOOD - MAX + 1], NULL, 0);
  struct pollfd pf = {.fd = fds[FLOOD - 1], .events = POLLIN};
  T_EQ_INT(poll(&pf, 1, 0), 0);
  /* The greeted ones were kept. */
  expect_reply(a, "echo", "a again", "a again");
  expect_reply(b, "echo", "b again", "b again");

  /* Newcomers past the limit are served: the last two silent peers make
   * room for them, then the greeted one idle the longest does: a or b
   * (which of them depends on when their threads saw their calls end). */
  ward_client *n1, *n2, *n3;
  T_OK(ward_client_open(&n1, path));
  expect_reply(n1, "echo", "n1", "n1");
  T_OK(ward_client_open(&n2, path));
  expect_reply(n2, "echo", "n2", "n2");
  wait_drops(WARD_DROP_IDLE, FLOOD + 4 - MAX);
  T_OK(ward_client_open(&n3, path));
  expect_reply(n3, "echo", "n3", "n3");
  wait_drops(WARD_DROP_IDLE, FLOOD + 5 - MAX);
  ward_server_drop d = drop_at(FLOOD + 4 - MAX, NULL, 0);
  T_EQ_INT(d.greeted, 1);
  T_TRUE(d.idle_ms >= 0);
  int a_lost = ward_client_request(NULL, a, "echo", "x", 1, 20000) != 0;
  int b_lost = ward_client_request(NULL, b, "echo", "x", 1, 20000) != 0;
  T_EQ_INT(a_lost + b_lost, 1);
  expect_reply(n1, "echo", "n1 kept", "n1 kept");
  expect_reply(n2, "echo", "n2 kept", "n2 kept");
  wait_threads(bound);
  ward_client_free(n3);
  ward_client_free(n2);
  ward_client_free(n1);
  ward_client_free(b);
  ward_client_free(a);
  for (int i = 0; i < FLOOD; i++)
    close(fds[i]);
  ward_server_free(s);
  wait_threads(base);
}

static void wait_holding(int n) {
  int64_t deadline = t_now_ms() + 30000;
  pthread_mutex_lock(&gate_mu);
  while (holding < n) {
    if (t_now_ms() > deadline)
      T_FAIL("%d handlers at the gate within 30 s, saw %d", n, holding);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec++;
    pthread_cond_timedwait(&gate_cv, &gate_mu, &ts);
  }
  pthread_mutex_unlock(&gate_mu);
}

static void set_gate(int open) {
  pthread_mutex_lock(&gate_mu);
  gate_open = open;
  pthread_cond_broadcast(&gate_cv);
  pthread_mutex_unlock(&gate_mu);
}

/* With every connection in a call, a newcomer is refused with a GOODBYE
 * (busy), at once and without a thread, and no call is cut. */
static void test_all_busy(void) {
  enum { MAX = 2, REFUSED = 20 };
  drops_reset();
  set_gate(0);
  ward_server *s = new_server();
  T_OK(ward_server_limits(s, MAX, 60000));
  T_OK(ward_server_on_drop(s, on_drop, NULL));
  T_OK(ward_server_listen(s, path));
  int base = threads(); /* with the accepting thread */
  ward_client *h[MAX];
  pthread_t t[MAX];
  for (int i = 0; i < MAX; i++) {
    T_OK(ward_client_open(&h[i], path));
    T_TRUE(pthread_create(&t[i], NULL, hold_call, h[i]) == 0);
  }
  wait_holding(MAX);
  int bound = base + 2 * MAX; /* our callers, and a thread per connection */

  ward_client *c;
  T_OK(ward_client_open(&c, path));
  T_ERR(ward_client_request(NULL, c, "echo", "x", 1, 20000), WARD_EHANDSHAKE);
  T_TRUE(strstr(ward_last_error(), "server busy") != NULL);
  ward_client_free(c);

  /* As a peer sees it: a GOODBYE with reason 4 where the WELCOME would be
   * (read even if our HELLO found the socket closed). */
  int fds[REFUSED];
  uint8_t hello[WARD__HDR_SIZE + 1];
  ward__hdr hh = {.kind = WARD__K_HELLO, .nlen = 1, .aux = 1};
  ward__frame_put(hello, &hh, "x", NULL);
  for (int i = 0; i < REFUSED; i++) {
    fds[i] = raw_connect();
    ssize_t w = send(fds[i], hello, sizeof hello, MSG_NOSIGNAL);
    (void)w;
    uint8_t got[256];
    size_t n = read_to_eof(fds[i], got, sizeof got);
    T_TRUE(n >= WARD__HDR_SIZE);
    ward__hdr bye;
    T_OK(ward__hdr_get(&bye, got, 1024));
    T_EQ_INT(bye.kind, WARD__K_GOODBYE);
    T_EQ_INT(bye.aux, WARD__BYE_BUSY);
    T_EQ_INT(n, WARD__HDR_SIZE + bye.len);
  }
  wait_drops(WARD_DROP_BUSY, REFUSED + 1);
  ward_server_drop d = drop_at(0, NULL, 0);
  T_EQ_INT(d.pid, getpid());
  pthread_mutex_lock(&drop_mu);
  T_EQ_INT(drops_of_locked(WARD_DROP_IDLE), 0);
  pthread_mutex_unlock(&drop_mu);
  T_TRUE(threads() <= bound); /* none for the refused */

  /* The calls were not cut; once they end, newcomers are served. */
  set_gate(1);
  for (int i = 0; i < MAX; i++) {
    void *rv;
    pthread_join(t[i], &rv);
    T_EQ_INT((intptr_t)rv, 0);
  }
  T_OK(ward_client_open(&c, path));
  expect_reply(c, "echo", "room", "room");
  ward_client_free(c);
  for (int i = 0; i < REFUSED; i++)
    close(fds[i]);
  for (int i = 0; i < MAX; i++)
    ward_client_free(h[i]);
  ward_server_free(s);
}

/* Host side: "add" is deferred to a thread that answers later. */
static void *answer_later(void *arg) {
  ward_ctx *d = arg;
  /* Rows may go out before the end; the ctx is freed by the reply. */
  ward_ctx_reply(d, "deferred", 8);
  return NULL;
}

static int h_add_deferred(ward_ctx *ctx, const void *data, size_t n, void *ud) {
  (void)data, (void)n, (void)ud;
  ward_ctx *d = ward_ctx_defer(ctx);
  if (!d)
    return ward_ctx_fail(ctx, 1, "could not defer");
  if (ward_ctx_defer(ctx) != NULL) /* once only */
    return ward_ctx_fail(d, 2, "deferred twice");
  pthread_t t;
  if (pthread_create(&t, NULL, answer_later, d) != 0)
    return ward_ctx_fail(d, 3, "no thread");
  pthread_detach(t);
  return 0; /* not a failure: the call was handed on */
}

static void test_defer(void) {
  ward_host *host = tev_host();
  T_OK(ward_host_handle(host, "add", h_add_deferred, NULL));
  ward_spec *s = tw_spec("deferring", "serve");
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  for (int i = 0; i < 50; i++) {
    ward_msg *m;
    T_OK(ward_request(&m, w, "call_host", "1", 1, 20000));
    T_EQ_INT(ward_msg_len(m), 8);
    T_EQ_MEM(ward_msg_data(m), "deferred", 8);
    ward_msg_free(m);
  }
  T_TRUE(ward_ctx_defer(NULL) == NULL);
  ward_worker_free(w);
  ward_host_free(host);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
  snprintf(dir, sizeof dir, "/tmp/ward-srv-XXXXXX");
  T_TRUE(mkdtemp(dir) != NULL);
  snprintf(path, sizeof path, "%s/ctl.sock", dir);
  T_RUN(test_calls);
  T_RUN(test_paths);
  T_RUN(test_hostile_peers);
  T_RUN(test_limits_api);
  T_RUN(test_handshake_deadline);
  T_RUN(test_connection_limit);
  T_RUN(test_all_busy);
  T_RUN(test_defer);
  rmdir(dir);
  return t_done();
}
