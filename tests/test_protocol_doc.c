/*
 * test_protocol_doc.c — the example worker of docs/protocol.md section 13
 * does what the document says it does.
 *
 * The Python code block of section 13 is read from the document when the
 * test runs (one source: there is no copy anywhere else) and run with
 * python3. First as the worker of a ward host: echo in both transports and
 * under wrappers, count with and without a window, pings and heartbeats
 * while it waits for credit, a cancelled stream, an unknown method, its
 * exit after a stop and a replacement. Then as the peer of a raw host that
 * speaks the frames itself, for what a ward host cannot be made to send or
 * show: the exact frames within a window, a queued request cancelled or
 * caught by a GOODBYE, a GOODBYE of reason 3, an EOF, and the death signal
 * of section 2.4. The Python process is not instrumented in sanitizer
 * builds; the host is.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto.h"
#include "tpython.h"

static char work_dir[64];
static char worker_py[128]; /* the code block, written out */
static const char *python;

/* ---------------------------------------------------------------------
 * The worker, from the document
 * ------------------------------------------------------------------- */

static char *read_doc(void) {
  const char *path = WARD_SOURCE_DIR "/docs/protocol.md";
  FILE *f = fopen(path, "rb");
  if (!f)
    T_FAIL("cannot open %s: %s", path, strerror(errno));
  T_TRUE(fseek(f, 0, SEEK_END) == 0);
  long n = ftell(f);
  T_TRUE(n > 0);
  rewind(f);
  char *text = malloc((size_t)n + 1);
  T_TRUE(text != NULL);
  T_TRUE(fread(text, 1, (size_t)n, f) == (size_t)n);
  text[n] = 0;
  fclose(f);
  return text;
}

/* Writes the one Python code block of section 13 to worker_py. */
static void extract_worker(void) {
  char *doc = read_doc();
  const char *sec = strstr(doc, "\n## 13. ");
  const char *end = sec ? strstr(sec, "\n## 14. ") : NULL;
  if (!sec || !end)
    T_FAIL("protocol.md has no section 13 followed by a section 14");
  static const char fence[] = "\n```python\n";
  const char *code = strstr(sec, fence);
  if (!code || code > end)
    T_FAIL("section 13 of protocol.md has no ```python block");
  code += strlen(fence);
  const char *close = strstr(code, "\n```\n");
  if (!close || close > end)
    T_FAIL("the ```python block of section 13 does not end inside it");
  const char *another = strstr(close, fence);
  if (another && another < end)
    T_FAIL("section 13 of protocol.md has more than one ```python block");
  snprintf(worker_py, sizeof worker_py, "%s/worker.py", work_dir);
  FILE *f = fopen(worker_py, "w");
  T_TRUE(f != NULL);
  size_t len = (size_t)(close - code) + 1;
  T_TRUE(fwrite(code, 1, len, f) == len);
  T_TRUE(fclose(f) == 0);
  free(doc);
}


/* ---------------------------------------------------------------------
 * As the worker of a ward host
 * ------------------------------------------------------------------- */

/* The example run directly, or by `wrapper` (argv[0] of a command that
 * ends with the interpreter and the file). Not restarted: the tests look
 * at how each process ends. The stop grace is long, so a worker that
 * waited for EOF after a GOODBYE would show as killed, not as late. */
static ward_spec *py_spec(const char *name, const char *const *wrapper) {
  ward_spec *s;
  T_OK(ward_spec_new(&s, name, wrapper ? wrapper[0] : python));
  for (int i = 1; wrapper && wrapper[i]; i++)
    T_OK(ward_spec_arg(s, wrapper[i]));
  if (wrapper)
    T_OK(ward_spec_arg(s, python));
  T_OK(ward_spec_arg(s, worker_py));
  T_OK(ward_spec_restart(s, WARD_RESTART_NEVER));
  T_OK(ward_spec_stop_grace(s, 10000));
  return s;
}




static void check_echo_worker(ward_worker *w) {
  T_TRUE(ward_worker_serves(w, "echo"));
  T_TRUE(ward_worker_serves(w, "count"));
  T_EQ_STR(ward_worker_meta(w, "lang"), "python");
  expect_echo(w, WARD_ENC_JSON, "\"hi\"", 4);
  expect_echo(w, WARD_ENC_RAW, "\x00\x01raw", 5);
  expect_echo(w, WARD_ENC_MSGPACK, "\x92\x01\xa1x", 4);
  expect_echo(w, WARD_ENC_JSON, "", 0);
  T_ERR(ward_request(NULL, w, "nosuch", "{}", 2, 20000), WARD_ENOMETHOD);
  T_OK(ward_ping(w, 20000));
}

static void test_echo_inherit_and_socket(void) {
  ward_worker *w = spawn_py(py_spec("py-inherit", NULL));
  check_echo_worker(w);
  stop_cleanly(w);

  ward_spec *s = py_spec("py-socket", NULL);
  T_OK(ward_spec_transport(s, WARD_TRANSPORT_SOCKET));
  w = spawn_py(s);
  check_echo_worker(w);
  stop_cleanly(w);
}

/* `env` execs the interpreter (the host stays its parent); the shell has
 * more to run after it, so it forks, and is the worker's parent: the
 * worker must neither exit nor die with it (2.4). */
static void test_echo_under_wrappers(void) {
  static const char *const env[] = {"/usr/bin/env", NULL};
  ward_worker *w = spawn_py(py_spec("py-env", env));
  check_echo_worker(w);
  stop_cleanly(w);

  static const char *const sh[] = {"/bin/sh", "-c", "\"$0\" \"$1\"; exit $?", NULL};
  w = spawn_py(py_spec("py-sh", sh));
  check_echo_worker(w);
  stop_cleanly(w); /* the shell passes the worker's status on */
}

/* What a count call received. */
typedef struct counted {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t rows, bytes;
  int bad;         /* a row not as section 13 says */
  int hold_at;     /* the callback waits at this row until released */
  int held, released;
} counted;

#define COUNTED_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0}

static void on_count_row(const char *stream, uint64_t seq, const void *data, size_t len,
                         void *ud) {
  counted *c = ud;
  char want[48];
  int n = snprintf(want, sizeof want, "{\"i\": %llu}", (unsigned long long)seq);
  pthread_mutex_lock(&c->mu);
  if (strcmp(stream, "n") != 0 || seq != c->rows + 1 || len != (size_t)n ||
      memcmp(data, want, len) != 0)
    c->bad++;
  c->rows++;
  c->bytes += len;
  pthread_cond_broadcast(&c->cv);
  if ((int)seq == c->hold_at) {
    c->held = 1;
    pthread_cond_broadcast(&c->cv);
    while (!c->released)
      pthread_cond_wait(&c->cv, &c->mu);
  }
  pthread_mutex_unlock(&c->mu);
}

/* Waits (up to 20 s) until `*flag` is set, under c->mu. */
static void counted_wait(counted *c, const int *flag, const char *what) {
  int64_t deadline = t_now_ms() + 20000;
  pthread_mutex_lock(&c->mu);
  while (!*flag && t_now_ms() < deadline) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 1;
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
  }
  int ok = *flag;
  pthread_mutex_unlock(&c->mu);
  if (!ok)
    T_FAIL("not within 20 s: %s", what);
}

/* count n with a window: the rows as section 13 says, the reply n, and the
 * host's summary of the call counted from the rows alone (7.4). */
static void expect_count(ward_worker *w, int n, int window) {
  counted c = COUNTED_INIT;
  ward_summary sum = WARD_SUMMARY_INIT;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 60000;
  o.window_bytes = window;
  o.on_row = on_count_row;
  o.ud = &c;
  o.summary = &sum;
  char arg[16];
  snprintf(arg, sizeof arg, "%d", n);
  ward_msg *m = NULL;
  T_OK(ward_request_ex(&m, w, "count", arg, strlen(arg), &o));
  T_EQ_INT(ward_msg_len(m), strlen(arg));
  T_EQ_MEM(ward_msg_data(m), arg, strlen(arg));
  ward_msg_free(m);
  T_EQ_INT(c.bad, 0);
  T_EQ_INT(c.rows, n);
  T_EQ_INT(sum.rows, n);
  T_EQ_INT(sum.row_bytes, c.bytes);
  T_EQ_INT(sum.progress, 0);
  T_EQ_INT(sum.diagnostics, 0);
  T_EQ_INT(sum.nstreams, n ? 1 : 0);
  if (n) {
    T_EQ_STR(sum.streams[0].name, "n");
    T_EQ_INT(sum.streams[0].rows, n);
  }
  ward_summary_clear(&sum);
}

/* A worker that broke the window would be cut off (7.6): the calls fail
 * and the worker is not the first process any more. */
static void test_count_windows(void) {
  ward_worker *w = spawn_py(py_spec("py-count", NULL));
  static const int windows[] = {64, 256, 4096, 0 /* 1 MiB */, -1 /* none */};
  for (size_t i = 0; i < sizeof windows / sizeof windows[0]; i++)
    expect_count(w, 300, windows[i]);
  expect_count(w, 0, 64);
  T_EQ_INT(ward_worker_generation(w), 1);
  stop_cleanly(w);
}

struct blocking_count {
  ward_worker *w;
  counted *c;
  int rv;
};

static void *count_on_thread(void *arg) {
  struct blocking_count *b = arg;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 60000;
  o.window_bytes = 64;
  o.on_row = on_count_row;
  o.ud = b->c;
  ward_msg *m = NULL;
  b->rv = ward_request_ex(&m, b->w, "count", "40", 2, &o);
  ward_msg_free(m);
  return NULL;
}

/* While count waits for credit (the caller holds its first row), the
 * worker still answers a ping and every heartbeat at once (7.6, 8.2). */
static void test_pings_while_waiting_for_credit(void) {
  ward_spec *s = py_spec("py-pings", NULL);
  T_OK(ward_spec_heartbeat(s, 100, 5));
  ward_worker *w = spawn_py(s);
  uint64_t id = ward_worker_id(w);
  counted c = COUNTED_INIT;
  c.hold_at = 1;
  struct blocking_count b = {w, &c, -1};
  pthread_t t;
  T_TRUE(pthread_create(&t, NULL, count_on_thread, &b) == 0);
  counted_wait(&c, &c.held, "the first row");
  T_OK(ward_ping(w, 20000));
  /* Fifteen heartbeats go by; five unanswered in a row would replace it. */
  struct timespec hold = {1, 500000000};
  nanosleep(&hold, NULL);
  pthread_mutex_lock(&c.mu);
  c.released = 1;
  pthread_cond_broadcast(&c.cv);
  pthread_mutex_unlock(&c.mu);
  pthread_join(t, NULL);
  T_OK(b.rv);
  T_EQ_INT(c.rows, 40);
  T_EQ_INT(c.bad, 0);
  T_EQ_INT(tev_count(WARD_EV_UNHEALTHY, id), 0);
  T_EQ_INT(ward_worker_generation(w), 1);
  stop_cleanly(w);
}

/* A count that would never end, cancelled after its first row, with a
 * window and without: the worker stops and ends it, so the next request
 * is served. The cancel grace is long, so a worker that went on (or waited
 * for credit that no longer comes) would not be replaced but would leave
 * that request unanswered. */
static void test_cancel_a_stream(void) {
  ward_spec *s = py_spec("py-cancel", NULL);
  T_OK(ward_spec_cancel_grace(s, 120000));
  ward_worker *w = spawn_py(s);
  uint64_t id = ward_worker_id(w);
  static const int windows[] = {256, -1};
  for (size_t i = 0; i < 2; i++) {
    counted c = COUNTED_INIT;
    struct async_done d = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
    ward_call_opts o = WARD_CALL_OPTS_INIT;
    o.timeout_ms = 120000;
    o.window_bytes = windows[i];
    o.on_row = on_count_row;
    o.ud = &c;
    ward_call *call;
    T_OK(ward_call_start(&call, w, "count", "1000000000", 10, &o, on_async_done, &d));
    int one = 0;
    int64_t deadline = t_now_ms() + 20000;
    while (!one && t_now_ms() < deadline) {
      pthread_mutex_lock(&c.mu);
      one = c.rows > 0;
      if (!one) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&c.cv, &c.mu, &ts);
      }
      pthread_mutex_unlock(&c.mu);
    }
    T_TRUE(one);
    T_OK(ward_call_cancel(call));
    T_ERR(ward_call_wait(call, 20000), WARD_ECANCELED);
    ward_call_free(call);
    expect_echo(w, WARD_ENC_JSON, "\"after\"", 7);
    pthread_mutex_lock(&c.mu);
    T_EQ_INT(c.bad, 0);
    pthread_mutex_unlock(&c.mu);
  }
  T_EQ_INT(ward_worker_generation(w), 1);
  T_EQ_INT(tev_count(WARD_EV_EXITED, id), 0);
  stop_cleanly(w);
}

/* A replacement of the worker (tpython.h). */
static void test_replacement(void) { check_replacement(spawn_py(py_spec("py-cycle", NULL))); }

/* ---------------------------------------------------------------------
 * As the peer of a raw host
 * ------------------------------------------------------------------- */

typedef struct raw {
  int fd;    /* the host's end */
  pid_t pid; /* the process started: the worker, or its wrapper */
  int pidfd;
  int stdin_w; /* the write end of the process's stdin, or -1 */
} raw;

typedef struct rframe {
  ward__hdr h;
  char name[256];
  char *payload; /* h.len bytes, NUL-terminated */
} rframe;

static int pidfd_open_(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

static int gone_within(int pidfd, int ms) {
  struct pollfd p = {.fd = pidfd, .events = POLLIN};
  return poll(&p, 1, ms) == 1;
}

/* Starts argv (NULL: the example itself) on one end of a socketpair at fd
 * 3, with a pipe as its stdin, from the calling thread. */
static void raw_start(raw *r, const char *const *argv, int with_ppid) {
  const char *direct[] = {python, worker_py, NULL};
  const char *const *args = argv ? argv : direct;
  int sv[2], in[2];
  T_TRUE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  T_TRUE(pipe2(in, O_CLOEXEC) == 0);
  char ppid[32];
  snprintf(ppid, sizeof ppid, "WARD_PPID=%d", (int)getpid());
  char *env[] = {"WARD_FD=3", "WARD_NAME=raw", "WARD_MAX_FRAME=65536",
                 with_ppid ? ppid : NULL, NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
  int e = posix_spawn(&r->pid, args[0], &fa, NULL, (char **)args, env);
  posix_spawn_file_actions_destroy(&fa);
  if (e)
    T_FAIL("posix_spawn %s: %s", args[0], strerror(e));
  close(sv[1]);
  close(in[0]);
  r->fd = sv[0];
  r->stdin_w = in[1];
  r->pidfd = pidfd_open_(r->pid);
  T_TRUE(r->pidfd >= 0);
}

/* Reads exactly n bytes (none: at once) within 20 s; 0 at EOF (or a
 * reset), 1 when read. */
static int read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int k = poll(&p, 1, 20000);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      T_FAIL("nothing from the worker within 20 s");
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return 0;
    got += (size_t)r;
  }
  return 1;
}

/* The next frame from the worker (1), or the end of the stream (0). */
static int raw_read(raw *r, rframe *f) {
  uint8_t hdr[WARD__HDR_SIZE];
  f->payload = NULL;
  if (!read_full(r->fd, hdr, sizeof hdr))
    return 0;
  T_OK(ward__hdr_get(&f->h, hdr, 1 << 20));
  T_TRUE(read_full(r->fd, f->name, f->h.nlen));
  f->name[f->h.nlen] = 0;
  f->payload = malloc((size_t)f->h.len + 1);
  T_TRUE(f->payload != NULL);
  T_TRUE(read_full(r->fd, f->payload, f->h.len));
  f->payload[f->h.len] = 0;
  return 1;
}

/* Reads the next frame and checks its kind, id and aux. */
static void raw_expect(raw *r, rframe *f, int kind, uint32_t id, uint32_t aux) {
  if (!raw_read(r, f))
    T_FAIL("end of stream where frame kind %d id %u was due", kind, id);
  if (f->h.kind != kind || f->h.id != id || f->h.aux != aux)
    T_FAIL("got frame kind %u id %u aux %d, want kind %d id %u aux %d", f->h.kind, f->h.id,
           (int)f->h.aux, kind, id, (int)aux);
}

static void raw_put(raw *r, int kind, uint32_t id, uint32_t aux, int enc, const char *name,
                    const char *payload) {
  size_t nlen = name ? strlen(name) : 0, len = payload ? strlen(payload) : 0;
  ward__hdr h = {.kind = (uint8_t)kind, .flags = (uint8_t)enc, .nlen = (uint8_t)nlen,
                 .len = (uint32_t)len, .id = id, .aux = aux};
  size_t size = ward__frame_size(nlen, len);
  uint8_t *out = malloc(size);
  T_TRUE(out != NULL);
  ward__frame_put(out, &h, name, payload);
  T_TRUE(write(r->fd, out, size) == (ssize_t)size);
  free(out);
}

/* The HELLO, as section 13 sends it; returns the pid it announces. */
static int raw_hello(raw *r) {
  rframe f;
  raw_expect(r, &f, WARD__K_HELLO, 0, 1);
  T_EQ_INT(f.h.flags, WARD_ENC_RAW);
  T_EQ_STR(f.name, "raw");
  int pid = 0;
  T_TRUE(sscanf(f.payload, "pid=%d\n", &pid) == 1);
  T_TRUE(strstr(f.payload, "\nmax_frame=65536\n") != NULL);
  T_TRUE(strstr(f.payload, "\nmethod=echo\nmethod=count\n") != NULL);
  T_TRUE(strstr(f.payload, "\nmeta.lang=python\n") != NULL);
  free(f.payload);
  return pid;
}

static void raw_welcome(raw *r) {
  raw_put(r, WARD__K_WELCOME, 0, 1, WARD_ENC_RAW, NULL,
          "max_frame=1048576\npid=1\nworker_id=1\ngeneration=1\n");
}

/* An ERROR frame for call `id` with `code` and `message`. */
static void raw_expect_error(raw *r, uint32_t id, int code, const char *message) {
  rframe f;
  raw_expect(r, &f, WARD__K_ERROR, id, (uint32_t)code);
  const char *msg;
  size_t mlen;
  const uint8_t *data;
  size_t dlen;
  T_OK(ward__err_get((const uint8_t *)f.payload, f.h.len, &msg, &mlen, &data, &dlen));
  T_EQ_INT(mlen, strlen(message));
  T_EQ_MEM(msg, message, mlen);
  T_EQ_INT(dlen, 0);
  free(f.payload);
}

static void raw_expect_row(raw *r, uint32_t id, uint32_t seq) {
  rframe f;
  raw_expect(r, &f, WARD__K_ROW, id, seq);
  char want[32];
  snprintf(want, sizeof want, "{\"i\": %u}", seq);
  T_EQ_STR(f.name, "n");
  T_EQ_INT(f.h.flags, WARD_ENC_JSON);
  T_EQ_STR(f.payload, want);
  free(f.payload);
}

/* How the process ended: its exit status, or 128 + the signal. */
static int raw_wait(raw *r) {
  if (!gone_within(r->pidfd, 20000))
    T_FAIL("the worker did not exit within 20 s");
  int status;
  T_TRUE(waitpid(r->pid, &status, 0) == r->pid);
  close(r->pidfd);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void raw_close(raw *r) {
  close(r->fd);
  if (r->stdin_w >= 0)
    close(r->stdin_w);
}

/* count with a window of 64 bytes: its rows are 25-byte frames, so two go
 * out, then it waits for credit, reading meanwhile. Requests queued behind
 * it: one cancelled (ERROR -7 without running), one caught by the GOODBYE
 * (-13), one for a method it does not serve (-11). Then it exits 0 while
 * the host's end is still open, and sends nothing more. */
static void test_raw_window_queue_and_goodbye(void) {
  raw r;
  raw_start(&r, NULL, 1);
  T_EQ_INT(raw_hello(&r), r.pid);
  raw_welcome(&r);
  raw_put(&r, WARD__K_REQUEST, 1, 64, WARD_ENC_JSON, "count", "5");
  raw_expect_row(&r, 1, 1);
  raw_expect_row(&r, 1, 2);
  raw_put(&r, WARD__K_REQUEST, 2, 0, WARD_ENC_JSON, "echo", "\"a\"");
  raw_put(&r, WARD__K_CANCEL, 2, 0, WARD_ENC_RAW, NULL, NULL);
  raw_put(&r, WARD__K_REQUEST, 3, 0, WARD_ENC_JSON, "echo", "\"b\"");
  raw_put(&r, WARD__K_REQUEST, 4, 0, WARD_ENC_JSON, "nosuch", "{}");
  raw_put(&r, WARD__K_PING, 0x80000001u, 0, WARD_ENC_RAW, NULL, NULL);
  raw_put(&r, WARD__K_GOODBYE, 0, 0, WARD_ENC_RAW, NULL, "recycle");
  /* Answered at once; no third row before credit. */
  rframe f;
  raw_expect(&r, &f, WARD__K_PONG, 0x80000001u, 0);
  free(f.payload);
  /* One row's credit: 25 bytes outstanding, at most half the window, so
   * one more row, and then it waits again. */
  raw_put(&r, WARD__K_CREDIT, 1, 25, WARD_ENC_RAW, NULL, NULL);
  raw_expect_row(&r, 1, 3);
  raw_put(&r, WARD__K_PING, 9, 0, WARD_ENC_RAW, NULL, NULL);
  raw_expect(&r, &f, WARD__K_PONG, 9, 0);
  free(f.payload);
  raw_put(&r, WARD__K_CREDIT, 1, 50, WARD_ENC_RAW, NULL, NULL);
  raw_expect_row(&r, 1, 4);
  raw_expect_row(&r, 1, 5);
  raw_expect(&r, &f, WARD__K_REPLY, 1, 0);
  T_EQ_INT(f.h.flags, WARD_ENC_JSON);
  T_EQ_STR(f.payload, "5");
  free(f.payload);
  raw_expect_error(&r, 2, WARD_ECANCELED, "cancelled before it started");
  raw_expect_error(&r, 3, WARD_ECLOSED, "the worker is stopping");
  raw_expect_error(&r, 4, WARD_ENOMETHOD, "no such method");
  T_EQ_INT(raw_wait(&r), 0);
  T_EQ_INT(raw_read(&r, &f), 0);
  raw_close(&r);
}

/* A GOODBYE of reason 3 (the host cutting it off) and an EOF without a
 * GOODBYE both end the worker with status 1. */
static void test_raw_exit_status(void) {
  for (int eof = 0; eof < 2; eof++) {
    raw r;
    raw_start(&r, NULL, 1);
    raw_hello(&r);
    raw_welcome(&r);
    raw_put(&r, WARD__K_REQUEST, 1, 0, WARD_ENC_JSON, "echo", "1");
    rframe f;
    raw_expect(&r, &f, WARD__K_REPLY, 1, 0);
    free(f.payload);
    if (eof) {
      raw_close(&r);
      T_EQ_INT(raw_wait(&r), 1);
    } else {
      raw_put(&r, WARD__K_GOODBYE, 0, 3, WARD_ENC_RAW, NULL, "you broke it");
      T_EQ_INT(raw_wait(&r), 1);
      T_EQ_INT(raw_read(&r, &f), 0);
      raw_close(&r);
    }
  }
}

/* Started by a thread that then ends, with the host (this process) as its
 * parent: the worker keeps the death signal, so the kernel kills it when
 * that thread goes (which is why a host that cannot keep the thread sets
 * no WARD_PPID). */
static void *start_and_greet(void *arg) {
  raw *r = arg;
  raw_start(r, NULL, 1);
  raw_hello(r); /* sent after follow_host(): the signal is set */
  return NULL;
}

static void test_raw_death_signal_kept(void) {
  raw r;
  pthread_t t;
  T_TRUE(pthread_create(&t, NULL, start_and_greet, &r) == 0);
  pthread_join(t, NULL);
  T_EQ_INT(raw_wait(&r), 128 + SIGKILL);
  raw_close(&r);
}

/* Started by a shell that runs it in the background and ends once the
 * test lets it: the worker's parent is not the host, so it takes the
 * death signal back and goes on serving after the shell is gone. */
static void test_raw_death_signal_taken_back(void) {
  static const char *const sh[] = {"/bin/sh", "-c", "\"$0\" \"$1\" & read x", NULL, NULL,
                                   NULL};
  const char *argv[6];
  memcpy(argv, sh, sizeof sh);
  argv[3] = python;
  argv[4] = worker_py;
  raw r;
  raw_start(&r, argv, 1);
  int pid = raw_hello(&r);
  T_TRUE(pid != r.pid);
  int pidfd = pidfd_open_(pid);
  T_TRUE(pidfd >= 0);
  close(r.stdin_w); /* the shell's `read` ends: so does the shell */
  r.stdin_w = -1;
  raw_wait(&r); /* the shell; its status is its `read`'s */
  raw_welcome(&r);
  raw_put(&r, WARD__K_REQUEST, 1, 0, WARD_ENC_JSON, "echo", "\"alive\"");
  rframe f;
  raw_expect(&r, &f, WARD__K_REPLY, 1, 0);
  T_EQ_STR(f.payload, "\"alive\"");
  free(f.payload);
  raw_close(&r); /* EOF: it exits (adopted by someone else, who reaps it) */
  T_TRUE(gone_within(pidfd, 20000));
  close(pidfd);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  snprintf(work_dir, sizeof work_dir, "/tmp/ward-protodoc-XXXXXX");
  T_TRUE(mkdtemp(work_dir) != NULL);
  extract_worker();
  python = find_python();
  host = tev_host();
  T_RUN(test_echo_inherit_and_socket);
  T_RUN(test_echo_under_wrappers);
  T_RUN(test_count_windows);
  T_RUN(test_pings_while_waiting_for_credit);
  T_RUN(test_cancel_a_stream);
  T_RUN(test_replacement);
  ward_host_free(host);
  T_RUN(test_raw_window_queue_and_goodbye);
  T_RUN(test_raw_exit_status);
  T_RUN(test_raw_death_signal_kept);
  T_RUN(test_raw_death_signal_taken_back);
  unlink(worker_py);
  rmdir(work_dir);
  return t_done();
}
