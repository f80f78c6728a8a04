/*
 * test_server.c — ward on a socket path (ward_server, ward_client_open)
 * and host handlers that answer later from another thread
 * (ward_ctx_defer).
 */
#include <errno.h>
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

static int h_hold(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  pthread_mutex_lock(&gate_mu);
  while (!gate_open)
    pthread_cond_wait(&gate_cv, &gate_mu);
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

static void test_hostile_peers(void) {
  ward_server *s = new_server();
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
  /* Still serving the well-behaved. */
  ward_client *c;
  T_OK(ward_client_open(&c, path));
  expect_reply(c, "echo", "fine", "fine");
  ward_client_free(c);
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
  T_RUN(test_defer);
  rmdir(dir);
  return t_done();
}
