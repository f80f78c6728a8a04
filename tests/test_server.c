/*
 * test_server.c — ward on a socket path (ward_server, ward_client_open):
 * calls, paths, hostile peers, and the server's limits (connections held,
 * the handshake's deadline, what is dropped or refused and the threads it
 * takes); and host handlers that answer later from another thread
 * (ward_ctx_defer).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#ifndef _WIN32
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#endif

#include "tevents.h"
#include "tworker.h"
#ifdef _WIN32
#include "win/win.h" /* ward__win_pipe_name */
#endif

#ifndef _WIN32
static char dir[40];
#endif
static char path[100];

/* ---- bare connections, for peers that do not play by the rules ----
 * A Unix socket's descriptor on POSIX systems; on Windows an end of the
 * server's named pipe, through the backend's calls. */
#ifdef _WIN32
typedef ward__fd raw_fd;

static raw_fd raw_connect(void) {
  ward__fd fd;
  T_EQ_INT(ward__unix_connect(path, &fd), 0);
  return fd;
}

/* Writes all of it, or as much as a peer that hung up took. */
static void raw_write(raw_fd fd, const void *p, size_t n) {
  while (n) {
    if (ward__wait_fd(fd, WARD__OUT, ward__deadline(20000)) <= 0)
      return;
    ward__buf b = {p, n};
    ptrdiff_t w = ward__sock_send(fd, &b, 1);
    if (w < 0)
      return;
    p = (const char *)p + w;
    n -= (size_t)w;
  }
}

/* What came, within `ms`: the count, 0 at the end (or a reset), -1 when
 * nothing came in time. */
static ptrdiff_t raw_read(raw_fd fd, void *b, size_t cap, int ms) {
  if (ward__wait_fd(fd, WARD__IN, ward__deadline(ms)) <= 0)
    return -1;
  ptrdiff_t r = ward__sock_recv(fd, b, cap, 0);
  return r == WARD__AGAIN ? -1 : r < 0 ? 0 : r;
}

static void raw_close(raw_fd fd) { ward__close(fd); }
#else
typedef int raw_fd;

static raw_fd raw_connect(void) { return t_unix_connect(path); }

static void raw_write(raw_fd fd, const void *p, size_t n) {
  ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
  (void)w; /* a peer that hung up takes less */
}

static ptrdiff_t raw_read(raw_fd fd, void *b, size_t cap, int ms) {
  struct pollfd pf = {.fd = fd, .events = POLLIN};
  if (poll(&pf, 1, ms) <= 0)
    return -1;
  ssize_t r = read(fd, b, cap);
  if (r < 0 && errno == ECONNRESET)
    return 0;
  T_TRUE(r >= 0);
  return r;
}

static void raw_close(raw_fd fd) { close(fd); }
#endif

static int h_echo(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  return ward_ctx_reply(ctx, d, n);
}

static int h_who(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  const char *r = ward_ctx_worker(ctx) ? "worker" : "peer";
  return ward_ctx_reply(ctx, r, strlen(r));
}

/* The host the servers are attached to (ward_server_attach), or NULL:
 * the suite runs once with threads, once on a host's loop. */
static ward_host *attached;

/* "hold" keeps its call open until "release" comes on another
 * connection: with threads it blocks its connection's thread; attached to
 * a host, where a handler must not block, it defers the call and parks
 * the copy, which "release" (on the loop) or set_gate (on the test's
 * thread) ends. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;
static int holding; /* handlers waiting at the gate */
static ward_ctx *parked[64];
static int nparked;
static int parked_errors; /* ends of parked calls that failed */

/* Ends the parked calls (gate_mu not held). */
static void end_parked(void) {
  pthread_mutex_lock(&gate_mu);
  int n = nparked;
  ward_ctx *v[64];
  memcpy(v, parked, sizeof v);
  nparked = 0;
  holding -= n;
  pthread_mutex_unlock(&gate_mu);
  int errors = 0;
  for (int i = 0; i < n; i++)
    errors += ward_ctx_reply(v[i], "released", 8) != 0;
  pthread_mutex_lock(&gate_mu);
  parked_errors += errors;
  pthread_mutex_unlock(&gate_mu);
}

static void set_gate(int open);

static int h_hold(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  if (attached) {
    ward_ctx *dc = ward_ctx_defer(ctx);
    if (!dc)
      return ward_ctx_fail(ctx, 1, "could not defer");
    pthread_mutex_lock(&gate_mu);
    int open = gate_open;
    if (!open) {
      parked[nparked++] = dc;
      holding++;
      pthread_cond_broadcast(&gate_cv);
    }
    pthread_mutex_unlock(&gate_mu);
    return open ? ward_ctx_reply(dc, "released", 8) : 0;
  }
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
  end_parked(); /* attached: the loop ends the parked calls itself */
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
  if (attached)
    T_OK(ward_server_attach(s, attached));
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
  set_gate(0);
  ward_server *s = new_server();
  T_OK(ward_server_listen(s, path));
  T_ERR(ward_server_handle(s, "late", h_echo, NULL), WARD_EINVAL);
#ifndef _WIN32 /* a named pipe has no file; its DACL admits this user alone */
  struct stat st;
  T_OK(stat(path, &st));
  T_TRUE(S_ISSOCK(st.st_mode));
  T_EQ_INT(st.st_mode & 0777, 0600);
#endif

  ward_client *c;
  T_OK(ward_client_open(&c, path));
  expect_reply(c, "echo", "hello server", "hello server");
  expect_reply(c, "who", "", "peer");
  T_ERR(ward_client_request(NULL, c, "nothing", "", 0, 20000), WARD_ENOMETHOD);

  /* One connection's call held open (a blocked thread, or a deferred
   * call) does not hold up another connection. */
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
#ifdef _WIN32
  T_ERR(ward_client_open(&c, path), WARD_ECLOSED); /* the name went with it */
  T_EQ_INT(ward_last_errno(), ENOENT);
#else
  T_TRUE(stat(path, &st) != 0 && errno == ENOENT);
#endif
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
#ifdef _WIN32
  /* The pipe's name, written either way (docs/platforms.md): the path
   * in another case and with slashes, or the pipe name itself. */
  char other[sizeof path], pipe_name[300];
  snprintf(other, sizeof other, "%s", path);
  for (char *p = other; *p; p++)
    *p = *p == '\\' ? '/' : *p >= 'a' && *p <= 'z' ? (char)(*p - 32) : *p;
  T_OK(ward_server_listen(s2, path));
  T_OK(ward_client_open(&c, other));
  expect_reply(c, "echo", "other", "other");
  ward_client_free(c);
  ward_server_free(s2);
  snprintf(pipe_name, sizeof pipe_name, "\\\\.\\pipe\\ward-test-%lu", (unsigned long)GetCurrentProcessId());
  s = new_server();
  T_OK(ward_server_listen(s, pipe_name));
  T_OK(ward_client_open(&c, pipe_name));
  expect_reply(c, "echo", "named", "named");
  ward_client_free(c);
  ward_server_free(s);

  /* A name another process took first (here: a pipe of this test's own,
   * not a server): refused, and the squatter gets no client. */
  int err = 0;
  wchar_t *wname = ward__win_pipe_name(path, &err);
  T_TRUE(wname != NULL);
  HANDLE squat = CreateNamedPipeW(wname, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                  PIPE_TYPE_BYTE | PIPE_WAIT, PIPE_UNLIMITED_INSTANCES, 4096,
                                  4096, 0, NULL);
  T_TRUE(squat != INVALID_HANDLE_VALUE);
  s = new_server();
  T_ERR(ward_server_listen(s, path), WARD_ESYS);
  T_EQ_INT(ward_last_errno(), EADDRINUSE);
  ward_server_free(s);
  CloseHandle(squat);
  free(wname);
  /* The squatter gone, the name is free again. */
  s = new_server();
  T_OK(ward_server_listen(s, path));
  T_OK(ward_client_open(&c, path));
  expect_reply(c, "echo", "after", "after");
  ward_client_free(c);
  ward_server_free(s);

  /* A path too long for a pipe's name. */
  char longp[400];
  memset(longp, 'x', sizeof longp - 1);
  longp[sizeof longp - 1] = 0;
  s = new_server();
  T_ERR(ward_server_listen(s, longp), WARD_EINVAL);
  ward_server_free(s);
#else

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
#endif
}

/* Raw bytes to the server, as a broken or hostile peer would send; what
 * came back before the server hung up goes to `got` (may be NULL). */
static size_t read_to_eof(raw_fd fd, uint8_t *got, size_t cap);

static size_t send_raw(const void *p, size_t n, uint8_t *got, size_t cap) {
  raw_fd fd = raw_connect();
  raw_write(fd, p, n);
  size_t len = read_to_eof(fd, got, cap);
  raw_close(fd);
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

/* This process's threads. On Windows the loop's waits run on the
 * system's thread pool, whose threads come and go as it pleases, and Wine
 * keeps threads of its own: the counts are not checked there (0). */
#ifdef _WIN32
static int threads(void) { return 0; }
#else
static int threads(void) { return t_count_entries("/proc/self/task"); }
#endif

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

/* Reads until the server hangs up (30 s at most): what it sent, in `got`. */
static size_t read_to_eof(raw_fd fd, uint8_t *got, size_t cap) {
  int64_t deadline = t_now_ms() + 30000;
  size_t len = 0;
  for (;;) {
    int64_t left = deadline - t_now_ms();
    if (left <= 0)
      T_FAIL("the server did not hang up within 30 s");
    uint8_t b[256];
    ptrdiff_t r = raw_read(fd, b, sizeof b, (int)left);
    if (r < 0)
      continue;
    if (r == 0)
      return len;
    for (ptrdiff_t i = 0; i < r; i++)
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

/* Waits (30 s at most) until `s` holds `n` connections. */
static void wait_connections(ward_server *s, size_t n) {
  int64_t deadline = t_now_ms() + 30000;
  size_t now;
  while ((now = ward_server_connections(s)) != n) {
    if (t_now_ms() > deadline)
      T_FAIL("%zu connections, want %zu", now, n);
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
}

/* ward_server_connections counts the connections held, greeted or still
 * in their handshake, and forgets those whose peers left. */
static void test_connections(void) {
  T_EQ_INT(ward_server_connections(NULL), 0);
  ward_server *s = new_server();
  T_EQ_INT(ward_server_connections(s), 0);
  T_OK(ward_server_listen(s, path));
  T_EQ_INT(ward_server_connections(s), 0);
  ward_client *a, *b;
  T_OK(ward_client_open(&a, path));
  expect_reply(a, "echo", "a", "a");
  T_EQ_INT(ward_server_connections(s), 1);
  raw_fd silent = raw_connect();
  wait_connections(s, 2);
  T_OK(ward_client_open(&b, path));
  expect_reply(b, "echo", "b", "b");
  T_EQ_INT(ward_server_connections(s), 3);
  ward_client_free(a);
  wait_connections(s, 2);
  raw_close(silent);
  wait_connections(s, 1);
  ward_client_free(b);
  wait_connections(s, 0);
  ward_server_free(s);
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
  raw_fd part = raw_connect();
  uint8_t hdr[WARD__HDR_SIZE];
  ward__hdr h = {.kind = WARD__K_HELLO, .aux = 1};
  ward__hdr_put(hdr, &h);
  raw_write(part, hdr, 3);        /* 3 bytes of a header, then nothing */
  raw_fd silent = raw_connect();      /* half-open: connected, and nothing more */
  ward_client *c;
  T_OK(ward_client_open(&c, path));
  expect_reply(c, "echo", "in time", "in time");
  raw_fd later = raw_connect();      /* its deadline comes after c's */
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
  raw_close(part);
  raw_close(silent);
  raw_close(later);
  ward_server_free(s);
}

#ifndef _WIN32
/* A first request's timeout covers its handshake: a socket that takes the
 * connection and never answers ends the request WARD_ETIMEDOUT at its own
 * deadline, not a handshake failure at the handshake's (30 s). */
static void test_request_times_handshake(void) {
  char mute[sizeof dir + 16];
  snprintf(mute, sizeof mute, "%s/mute.sock", dir);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  T_TRUE(fd >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", mute);
  T_TRUE(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
  T_TRUE(listen(fd, 4) == 0); /* the kernel accepts; no one answers */
  ward_client *c;
  T_OK(ward_client_open(&c, mute));
  ward_msg *m = NULL;
  T_ERR(ward_client_request(&m, c, "echo", "\"x\"", 3, 200), WARD_ETIMEDOUT);
  T_TRUE(m == NULL);
  T_TRUE(strstr(ward_last_error(), "WELCOME") != NULL);
  ward_client_free(c);
  close(fd);
  unlink(mute);
}
#endif

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
  /* The accepting thread, one per connection; none at all attached. */
  int bound = attached ? base : base + 1 + MAX;
  ward_client *a, *b;
  T_OK(ward_client_open(&a, path));
  expect_reply(a, "echo", "a", "a");
  T_OK(ward_client_open(&b, path));
  expect_reply(b, "echo", "b", "b");

  /* A flood of peers that never greet. */
  raw_fd fds[FLOOD];
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
  uint8_t nothing[8];
  T_EQ_INT(raw_read(fds[FLOOD - 1], nothing, sizeof nothing, 0), -1);
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
    raw_close(fds[i]);
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
  if (open)
    end_parked(); /* attached: ended from this thread */
}

/* A client the server serves once the calls of its connections have
 * ended: a connection is in a call until its handler has returned, a
 * moment after its caller has the reply, and a newcomer in that moment is
 * refused (busy); it then tries again, for 20 s at most. */
static ward_client *open_when_idle(void) {
  int64_t deadline = t_now_ms() + 20000;
  for (;;) {
    ward_client *c;
    T_OK(ward_client_open(&c, path));
    int rv = ward_client_request(NULL, c, "echo", "x", 1, 20000);
    if (rv == WARD_OK)
      return c;
    T_ERR(rv, WARD_EHANDSHAKE);
    T_TRUE(strstr(ward_last_error(), "server busy") != NULL);
    ward_client_free(c);
    T_TRUE(t_now_ms() < deadline);
    t_nap_ms(10);
  }
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
  /* Our callers, and (with threads) a thread per connection. */
  int bound = base + MAX + (attached ? 0 : MAX);

  /* Refused before its HELLO goes out: the server has closed its end by
   * the time it tells of the drop, so the HELLO finds the connection gone,
   * and the GOODBYE waiting for it is read all the same: the error is the
   * refusal, not a crash. */
  ward_client *c;
  T_OK(ward_client_open(&c, path));
  wait_drops(WARD_DROP_BUSY, 1);
  T_ERR(ward_client_request(NULL, c, "echo", "x", 1, 20000), WARD_EHANDSHAKE);
  T_TRUE(strstr(ward_last_error(), "server busy") != NULL);
  ward_client_free(c);

  /* As a peer sees it: a GOODBYE with reason 4 where the WELCOME would be
   * (read even if our HELLO found the socket closed). */
  raw_fd fds[REFUSED];
  uint8_t hello[WARD__HDR_SIZE + 1];
  ward__hdr hh = {.kind = WARD__K_HELLO, .nlen = 1, .aux = 1};
  ward__frame_put(hello, &hh, "x", NULL);
  for (int i = 0; i < REFUSED; i++) {
    fds[i] = raw_connect();
    raw_write(fds[i], hello, sizeof hello);
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
  c = open_when_idle();
  expect_reply(c, "echo", "room", "room");
  ward_client_free(c);
  for (int i = 0; i < REFUSED; i++)
    raw_close(fds[i]);
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

/* ---- attached to a host's loop (ward_server_attach) ---- */

static void test_attach_api(void) {
  ward_host *h = tev_host();
  ward_server *s;
  T_OK(ward_server_new(&s));
  T_ERR(ward_server_attach(NULL, h), WARD_EINVAL);
  T_ERR(ward_server_attach(s, NULL), WARD_EINVAL);
  T_OK(ward_server_attach(s, h));
  T_ERR(ward_server_attach(s, h), WARD_EINVAL);
  ward_server_free(s); /* attached, never listening */
  T_OK(ward_server_new(&s));
  T_OK(ward_server_listen(s, path));
  T_ERR(ward_server_attach(s, h), WARD_EINVAL); /* too late */
  ward_server_free(s);
  ward_host_free(h);
}

static void *request_thread(void *arg) {
  int rv = ward_client_request(NULL, arg, "hold", "", 0, 60000);
  return (void *)(intptr_t)rv;
}

/* Freed while connections are open: one in a deferred call, one idle,
 * one in its handshake. The free does not wait for the deferred call,
 * whose end afterwards fails but frees it; the peers see the end, and
 * nothing is told as a drop. */
static void test_attached_free_open(void) {
  drops_reset();
  set_gate(0);
  ward_server *s = new_server();
  T_OK(ward_server_on_drop(s, on_drop, NULL));
  T_OK(ward_server_listen(s, path));
  ward_client *busy, *idle;
  T_OK(ward_client_open(&busy, path));
  T_OK(ward_client_open(&idle, path));
  expect_reply(idle, "echo", "idle", "idle");
  pthread_t t;
  T_TRUE(pthread_create(&t, NULL, request_thread, busy) == 0);
  wait_holding(1);
  raw_fd raw = raw_connect();
  ward_server_free(s);
  void *rv;
  pthread_join(t, &rv);
  T_TRUE((intptr_t)rv == WARD_ECLOSED || (intptr_t)rv == WARD_ECRASHED);
  read_to_eof(raw, NULL, 0);
  T_TRUE(ward_client_request(NULL, idle, "echo", "x", 1, 20000) != 0);
  pthread_mutex_lock(&gate_mu);
  parked_errors = 0;
  pthread_mutex_unlock(&gate_mu);
  set_gate(1); /* the deferred call ends after its server */
  pthread_mutex_lock(&gate_mu);
  T_EQ_INT(parked_errors, 1);
  pthread_mutex_unlock(&gate_mu);
  T_EQ_INT(ndrops_now(), 0);
  ward_client_free(idle);
  ward_client_free(busy);
  raw_close(raw);
}

/* A host with an external loop, driven by a thread that polls its
 * descriptor, as a single-threaded program does. */
static atomic_int driving;

static void *drive(void *arg) {
  ward_host *h = arg;
  while (atomic_load(&driving)) {
#ifdef _WIN32
    if (WaitForSingleObject(ward_host_fd(h), 50) == WAIT_OBJECT_0)
#else
    struct pollfd pf = {.fd = ward_host_fd(h), .events = POLLIN};
    if (poll(&pf, 1, 50) > 0)
#endif
      T_OK(ward_host_dispatch(h, 0));
  }
  return NULL;
}

static ward_server *server_on(ward_host *h) {
  ward_server *s;
  T_OK(ward_server_new(&s));
  T_OK(ward_server_attach(s, h));
  T_OK(ward_server_handle(s, "echo", h_echo, NULL));
  T_OK(ward_server_handle(s, "hold", h_hold, NULL));
  T_OK(ward_server_handle(s, "release", h_release, NULL));
  T_OK(ward_server_listen(s, path));
  return s;
}

static atomic_int echo_done;

static void *echo_call(void *arg) {
  ward_msg *m = NULL;
  int rv = ward_client_request(&m, arg, "echo", "e", 1, 60000);
  ward_msg_free(m);
  atomic_store(&echo_done, rv == 0 ? 1 : -1);
  return NULL;
}

static void test_attached_external(void) {
  set_gate(0);
  ward_host *h;
  ward_host_opts o = WARD_HOST_OPTS_INIT;
  o.external_loop = 1;
  T_OK(ward_host_new(&h, &o));
  attached = h; /* h_hold defers */
  int base = threads();
  ward_server *s = server_on(h);
  T_EQ_INT(threads(), base); /* the server started none */
  atomic_store(&driving, 1);
  pthread_t d;
  T_TRUE(pthread_create(&d, NULL, drive, h) == 0);
  ward_client *a, *b;
  T_OK(ward_client_open(&a, path));
  T_OK(ward_client_open(&b, path));
  pthread_t t;
  T_TRUE(pthread_create(&t, NULL, hold_call, a) == 0);
  wait_holding(1);
  expect_reply(b, "echo", "meanwhile", "meanwhile");
  expect_reply(b, "release", "", "ok"); /* ends a's call on the loop */
  void *rv;
  pthread_join(t, &rv);
  T_EQ_INT((intptr_t)rv, 0);
  ward_client_free(b);
  ward_client_free(a);
  ward_server_free(s); /* from another thread than the driver's */
  atomic_store(&driving, 0);
  pthread_join(d, NULL);

  /* This thread alone drives the loop and frees the server between
   * dispatches; the client waits on a thread of its own. */
  s = server_on(h);
  T_OK(ward_client_open(&a, path));
  atomic_store(&echo_done, 0);
  T_TRUE(pthread_create(&t, NULL, echo_call, a) == 0);
  int64_t deadline = t_now_ms() + 30000;
  while (!atomic_load(&echo_done) && t_now_ms() < deadline)
    T_OK(ward_host_dispatch(h, 50));
  T_EQ_INT(atomic_load(&echo_done), 1);
  pthread_join(t, NULL);
  ward_client_free(a);
  ward_server_free(s);
  attached = NULL;
  ward_host_free(h);
}

/* At a refusal (busy), the parked calls end: on the loop thread, in the
 * middle of a turn, so the loop hears of those ends only later. */
static void on_drop_release(const ward_server_drop *d, void *ud) {
  on_drop(d, ud);
  if (d->reason == WARD_DROP_BUSY)
    end_parked();
}

static int holding_now(void) {
  pthread_mutex_lock(&gate_mu);
  int n = holding;
  pthread_mutex_unlock(&gate_mu);
  return n;
}

/* A connection dropped just after its deferred call ended was idle since
 * that end, not since before the call. With room for one connection, in
 * a call that lasts CALL_MS: of two newcomers accepted in one turn, the
 * first is refused (busy), which ends the call, and the second takes the
 * connection's place before the loop has heard of that end. */
static void test_attached_idle_after_call(void) {
  enum { CALL_MS = 300 };
  drops_reset();
  set_gate(0);
  ward_host *h;
  ward_host_opts o = WARD_HOST_OPTS_INIT;
  o.external_loop = 1;
  T_OK(ward_host_new(&h, &o));
  attached = h; /* h_hold defers */
  ward_server *s;
  T_OK(ward_server_new(&s));
  T_OK(ward_server_attach(s, h));
  T_OK(ward_server_handle(s, "hold", h_hold, NULL));
  T_OK(ward_server_limits(s, 1, 60000));
  T_OK(ward_server_on_drop(s, on_drop_release, NULL));
  T_OK(ward_server_listen(s, path));
  ward_client *a;
  T_OK(ward_client_open(&a, path));
  pthread_t t;
  T_TRUE(pthread_create(&t, NULL, hold_call, a) == 0);
  int64_t deadline = t_now_ms() + 30000;
  while (holding_now() < 1 && t_now_ms() < deadline)
    T_OK(ward_host_dispatch(h, 50));
  T_EQ_INT(holding_now(), 1);
  int64_t until = t_now_ms() + CALL_MS; /* how long the call lasts */
  while (t_now_ms() < until)
    T_OK(ward_host_dispatch(h, (int)(until - t_now_ms())));
  /* Both wait on the listener before the loop looks: one turn takes both. */
  raw_fd first = raw_connect(), second = raw_connect();
  deadline = t_now_ms() + 30000;
  while (ndrops_now() < 2 && t_now_ms() < deadline)
    T_OK(ward_host_dispatch(h, 50));
  T_EQ_INT(ndrops_now(), 2);
  ward_server_drop busy = drop_at(0, NULL, 0), idle = drop_at(1, NULL, 0);
  T_EQ_INT(busy.reason, WARD_DROP_BUSY);
  T_EQ_INT(idle.reason, WARD_DROP_IDLE);
  T_EQ_INT(idle.pid, getpid());
  T_TRUE(idle.greeted);
  if (idle.idle_ms >= CALL_MS)
    T_FAIL("idle for %lld ms, counted from before its %d ms call", (long long)idle.idle_ms,
           (int)CALL_MS);
  atomic_store(&driving, 1);
  pthread_t d;
  T_TRUE(pthread_create(&d, NULL, drive, h) == 0);
  pthread_join(t, NULL); /* its answer or the close, either way */
  ward_client_free(a);
  raw_close(first);
  raw_close(second);
  ward_server_free(s);
  atomic_store(&driving, 0);
  pthread_join(d, NULL);
  attached = NULL;
  ward_host_free(h);
}

/* A watch (ward_ctx_watch): its connection counts as idle, so a server at
 * its limit closes it to make room rather than refusing the newcomer, and
 * the watch then reads as cancelled. */
static ward_ctx *watch_ctx;
static int watch_early; /* ward_ctx_watch before the defer */

static int h_watch(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  watch_early = ward_ctx_watch(ctx);
  ward_ctx *dc = ward_ctx_defer(ctx);
  if (!dc || ward_ctx_watch(dc))
    return ward_ctx_fail(dc ? dc : ctx, 1, "could not watch");
  watch_ctx = dc;
  return 0;
}

static void *watch_call(void *arg) {
  return (void *)(intptr_t)ward_client_request(NULL, arg, "watch", "", 0, 60000);
}

static void test_attached_watch(void) {
  T_ERR(ward_ctx_watch(NULL), WARD_EINVAL);
  drops_reset();
  ward_host *h;
  ward_host_opts o = WARD_HOST_OPTS_INIT;
  o.external_loop = 1;
  T_OK(ward_host_new(&h, &o));
  ward_server *s;
  T_OK(ward_server_new(&s));
  T_OK(ward_server_attach(s, h));
  T_OK(ward_server_handle(s, "watch", h_watch, NULL));
  T_OK(ward_server_handle(s, "echo", h_echo, NULL));
  T_OK(ward_server_limits(s, 1, 60000));
  T_OK(ward_server_on_drop(s, on_drop, NULL));
  T_OK(ward_server_listen(s, path));
  ward_client *a, *b;
  T_OK(ward_client_open(&a, path));
  pthread_t ta, tb;
  T_TRUE(pthread_create(&ta, NULL, watch_call, a) == 0);
  int64_t deadline = t_now_ms() + 30000;
  while (!watch_ctx && t_now_ms() < deadline)
    T_OK(ward_host_dispatch(h, 50));
  T_TRUE(watch_ctx != NULL);
  T_EQ_INT(watch_early, WARD_EINVAL); /* not deferred yet */
  T_EQ_INT(ward_ctx_cancelled(watch_ctx), 0);
  /* The newcomer takes the watch's place. */
  T_OK(ward_client_open(&b, path));
  atomic_store(&echo_done, 0);
  T_TRUE(pthread_create(&tb, NULL, echo_call, b) == 0);
  deadline = t_now_ms() + 30000;
  while (!ward_ctx_cancelled(watch_ctx) && t_now_ms() < deadline)
    T_OK(ward_host_dispatch(h, 50));
  T_EQ_INT(ward_ctx_cancelled(watch_ctx), 1);
  atomic_store(&driving, 1);
  pthread_t d;
  T_TRUE(pthread_create(&d, NULL, drive, h) == 0);
  void *rv;
  pthread_join(tb, NULL);
  T_EQ_INT(atomic_load(&echo_done), 1);
  pthread_join(ta, &rv);
  T_TRUE((int)(intptr_t)rv != WARD_OK);
  T_EQ_INT(ndrops_now(), 1);
  T_EQ_INT(drop_at(0, NULL, 0).reason, WARD_DROP_IDLE);
  T_TRUE(ward_ctx_reply(watch_ctx, "late", 4) != 0); /* goes nowhere, and frees */
  watch_ctx = NULL;
  ward_client_free(a);
  ward_client_free(b);
  ward_server_free(s);
  atomic_store(&driving, 0);
  pthread_join(d, NULL);
  ward_host_free(h);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
#ifdef _WIN32
  /* A name only (docs/platforms.md): nothing is made at the path. */
  snprintf(path, sizeof path, "C:\\ward-srv-%lu\\ctl.sock", (unsigned long)GetCurrentProcessId());
#else
  snprintf(dir, sizeof dir, "/tmp/ward-srv-XXXXXX");
  T_TRUE(mkdtemp(dir) != NULL);
  snprintf(path, sizeof path, "%s/ctl.sock", dir);
#endif
  T_RUN(test_calls);
  T_RUN(test_paths);
  T_RUN(test_hostile_peers);
  T_RUN(test_limits_api);
  T_RUN(test_connections);
  T_RUN(test_handshake_deadline);
#ifndef _WIN32
  T_RUN(test_request_times_handshake);
#endif
  T_RUN(test_connection_limit);
  T_RUN(test_all_busy);
  T_RUN(test_defer);
  /* Again, each server attached to a host's loop. */
  attached = tev_host();
  T_RUN(test_calls);
  T_RUN(test_paths);
  T_RUN(test_hostile_peers);
  T_RUN(test_limits_api);
  T_RUN(test_connections);
  T_RUN(test_handshake_deadline);
  T_RUN(test_connection_limit);
  T_RUN(test_all_busy);
  T_RUN(test_attached_free_open);
  ward_host_free(attached);
  attached = NULL;
  T_RUN(test_attach_api);
  T_RUN(test_attached_external);
  T_RUN(test_attached_idle_after_call);
  T_RUN(test_attached_watch);
#ifndef _WIN32
  rmdir(dir);
#endif
  return t_done();
}
