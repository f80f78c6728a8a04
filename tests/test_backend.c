/*
 * test_backend.c — what every platform backend must do, through the
 * public API alone, so that the same test runs on Linux and under Wine:
 * arguments with spaces, quotes, backslashes and non-ASCII characters
 * reach the worker unchanged (the Windows backend quotes them by the rules
 * of CommandLineToArgvW); a worker that crashes in the middle of a call
 * fails that call with WARD_ECRASHED and is restarted; a worker wedged past
 * a call's deadline is killed (the hard stop) and restarted; a stop ends
 * it gracefully; a worker started in socket mode connects by name (a Unix
 * socket; a named pipe on Windows), and one with the wrong token is
 * refused; a host on the program's own loop is driven by waiting on
 * what ward_host_fd gives (a descriptor; on Windows an event's HANDLE); a
 * host killed from outside leaves neither its worker nor the worker's own
 * child behind.
 * The test re-executes itself as the worker.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test.h"
#include "tself.h"
#include "ward.h"

#define TIMEOUT_MS 20000

/* Arguments a naive quoting would mangle. */
static const char *const tricky[] = {
    "plain",
    "two words",
    "",
    "\"quoted\"",
    "back\\slash",
    "trailing backslash\\",
    "backslash then quote \\\"",
    "tab\there",
    "caf\xc3\xa9 \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac",
};
#define NTRICKY (sizeof tricky / sizeof tricky[0])

/* ---- the worker ---- */

static char **w_argv;
static int w_argc;

/* The arguments after "--worker", one per line. */
static int w_args(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  size_t len = 0;
  for (int i = 2; i < w_argc; i++)
    len += strlen(w_argv[i]) + 1;
  char *out = malloc(len + 1);
  if (!out)
    return ward_ctx_fail(ctx, 1, "no memory");
  size_t at = 0;
  for (int i = 2; i < w_argc; i++) {
    size_t k = strlen(w_argv[i]);
    memcpy(out + at, w_argv[i], k);
    out[at + k] = '\n';
    at += k + 1;
  }
  int rv = ward_ctx_reply(ctx, out, at);
  free(out);
  return rv;
}

static int w_crash(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)d, (void)n, (void)ud;
  abort();
  return 0; /* not reached (not every C library says abort does not return) */
}

static int w_wedge(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  for (int i = 0; i < 60 * 20; i++)
    t_nap_ms(50); /* a minute deaf to the cancel: only a kill ends it sooner */
  return ward_ctx_reply(ctx, "late", 4);
}

/* Starts a process that sleeps (a grandchild of the host) and replies
 * with its pid. */
static int w_child(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  char pid[32];
  snprintf(pid, sizeof pid, "%d", t_spawn_self("--sleeper", NULL, 0));
  return ward_ctx_reply(ctx, pid, strlen(pid));
}

static int worker_main(void) {
  ward_client *c = NULL;
  if (ward_client_connect(&c) != WARD_OK)
    return 2;
  ward_client_handle(c, "args", w_args, NULL);
  ward_client_handle(c, "crash", w_crash, NULL);
  ward_client_handle(c, "wedge", w_wedge, NULL);
  ward_client_handle(c, "child", w_child, NULL);
  int rc = ward_client_run(c);
  ward_client_free(c);
  return rc == WARD_OK ? 0 : 1;
}

/* ---- the host ---- */

static ward_host *host;
static ward_worker *worker;

/* RESTARTED events, counted on the host's thread. */
static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cv = PTHREAD_COND_INITIALIZER;
static int restarts;

static void on_event(const ward_event *ev, void *ud) {
  (void)ud;
  if (ev->type != WARD_EV_RESTARTED)
    return;
  pthread_mutex_lock(&ev_mu);
  restarts++;
  pthread_cond_broadcast(&ev_cv);
  pthread_mutex_unlock(&ev_mu);
}

static int restarts_now(void) {
  pthread_mutex_lock(&ev_mu);
  int n = restarts;
  pthread_mutex_unlock(&ev_mu);
  return n;
}

/* Waits for the RESTARTED event after the first `seen`. */
static void wait_restarted(int seen) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until); /* the clock every pthreads has */
  until.tv_sec += TIMEOUT_MS / 1000;
  pthread_mutex_lock(&ev_mu);
  int rc = 0;
  while (restarts <= seen && rc == 0)
    rc = pthread_cond_timedwait(&ev_cv, &ev_mu, &until);
  int got = restarts > seen;
  pthread_mutex_unlock(&ev_mu);
  T_TRUE(got);
}

static void start(void) {
  ward_spec *s = NULL;
  T_OK(ward_spec_new(&s, "backend", t_self_path()));
  T_OK(ward_spec_arg(s, "--worker"));
  for (size_t i = 0; i < NTRICKY; i++)
    T_OK(ward_spec_arg(s, tricky[i]));
  T_OK(ward_spawn(&worker, host, s));
  ward_spec_free(s);
}

static void test_arguments(void) {
  ward_msg *m = NULL;
  T_OK(ward_request(&m, worker, "args", "null", 4, TIMEOUT_MS));
  char want[1024] = "";
  for (size_t i = 0; i < NTRICKY; i++) {
    strcat(want, tricky[i]);
    strcat(want, "\n");
  }
  T_EQ_INT(ward_msg_len(m), strlen(want));
  T_EQ_MEM(ward_msg_data(m), want, strlen(want));
  ward_msg_free(m);
}

static void test_crash_restarts(void) {
  uint32_t gen = ward_worker_generation(worker);
  int pid = ward_worker_pid(worker), seen = restarts_now();
  ward_msg *m = NULL;
  T_ERR(ward_request(&m, worker, "crash", "null", 4, TIMEOUT_MS), WARD_ECRASHED);
  ward_msg_free(m);
  wait_restarted(seen);
  T_OK(ward_worker_wait_ready(worker, TIMEOUT_MS));
  T_TRUE(ward_worker_generation(worker) > gen);
  T_TRUE(ward_worker_pid(worker) != pid);
  T_OK(ward_ping(worker, TIMEOUT_MS));
}

static void test_wedged_is_killed(void) {
  uint32_t gen = ward_worker_generation(worker);
  int seen = restarts_now();
  ward_msg *m = NULL;
  T_ERR(ward_request(&m, worker, "wedge", "null", 4, 300), WARD_ETIMEDOUT);
  ward_msg_free(m);
  wait_restarted(seen);
  T_OK(ward_worker_wait_ready(worker, TIMEOUT_MS));
  T_TRUE(ward_worker_generation(worker) > gen);
  T_OK(ward_ping(worker, TIMEOUT_MS));
}

static void test_stop(void) {
  T_OK(ward_worker_stop(worker, -1));
  T_ERR(ward_ping(worker, TIMEOUT_MS), WARD_ECLOSED);
}

/* The socket transport (a Unix socket; on Windows a named pipe by name):
 * the worker connects by name, proves itself with its token, serves. */
static void test_socket_transport(void) {
  ward_spec *s = NULL;
  T_OK(ward_spec_new(&s, "by-name", t_self_path()));
  T_OK(ward_spec_arg(s, "--worker"));
  T_OK(ward_spec_transport(s, WARD_TRANSPORT_SOCKET));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  ward_msg *m = NULL;
  T_OK(ward_request(&m, w, "args", "null", 4, TIMEOUT_MS));
  T_EQ_INT(ward_msg_len(m), 0); /* no arguments after --worker */
  ward_msg_free(m);
  T_OK(ward_worker_stop(w, -1));
  ward_worker_free(w);
}

/* A worker that presents another token than the one it was given. */
static void test_socket_bad_token(void) {
  ward_spec *s = NULL;
  T_OK(ward_spec_new(&s, "bad-token", t_self_path()));
  T_OK(ward_spec_arg(s, "--worker-badtoken"));
  T_OK(ward_spec_transport(s, WARD_TRANSPORT_SOCKET));
  T_OK(ward_spec_restart(s, WARD_RESTART_NEVER));
  ward_worker *w = (ward_worker *)1;
  T_ERR(ward_spawn(&w, host, s), WARD_EHANDSHAKE);
  T_TRUE(strstr(ward_last_error(), "token") != NULL);
  T_TRUE(w == NULL);
  ward_spec_free(s);
}

/* A host on the program's own loop: the program waits on ward_host_fd
 * and dispatches, and the worker comes up and answers. */
static int external_ready;

static void on_external_event(const ward_event *ev, void *ud) {
  (void)ud;
  if (ev->type == WARD_EV_READY)
    external_ready++;
}

static void test_external_loop(void) {
  ward_host *h;
  ward_host_opts o = WARD_HOST_OPTS_INIT;
  o.external_loop = 1;
  o.on_event = on_external_event;
  T_OK(ward_host_new(&h, &o));
  ward_os_handle fd = ward_host_fd(h);
  T_TRUE(fd != WARD_OS_HANDLE_ERROR);
  ward_spec *s = NULL;
  T_OK(ward_spec_new(&s, "external", t_self_path()));
  T_OK(ward_spec_arg(s, "--worker"));
  ward_worker *w;
  T_OK(ward_spawn_start(&w, h, s));
  ward_spec_free(s);
  /* Events run in dispatch, on this thread: no lock needed. */
  int64_t until = t_now_ms() + TIMEOUT_MS;
  int woken = 0;
  while (!external_ready && t_now_ms() < until) {
    woken += t_wait_os_handle(fd, 1000);
    T_OK(ward_host_dispatch(h, 0));
  }
  T_EQ_INT(external_ready, 1);
  T_TRUE(woken > 0);
  T_OK(ward_ping(w, TIMEOUT_MS));
  ward_worker_free(w);
  ward_host_free(h);
}

/* "--host": a host of its own with a worker that started a process of its
 * own; prints "WORKER-PID GRANDCHILD-PID" and waits to be killed. The
 * worker's name has a character Windows file names may not (its data
 * directory is named after it). */
static int host_main(void) {
  ward_host *h;
  ward_worker *w;
  ward_spec *s = NULL;
  ward_msg *m = NULL;
  if (ward_host_new(&h, NULL) || ward_spec_new(&s, "orphan?", t_self_path()) ||
      ward_spec_arg(s, "--worker") || ward_spawn(&w, h, s) ||
      ward_request(&m, w, "child", "null", 4, TIMEOUT_MS)) {
    fprintf(stderr, "test_backend --host: %s\n", ward_last_error());
    return 1;
  }
  printf("%d %.*s\n", ward_worker_pid(w), (int)ward_msg_len(m), (const char *)ward_msg_data(m));
  fflush(stdout);
  for (;;)
    t_nap_ms(1000);
}

/* A host killed from outside, without a chance to clean up, leaves no
 * process behind: neither its worker nor what the worker started (the
 * guard on POSIX; on Windows the job object the host held). */
static void test_host_killed_leaves_nothing(void) {
  char line[64];
  int host_pid = t_spawn_self("--host", line, sizeof line);
  int worker_pid = 0, child_pid = 0;
  if (sscanf(line, "%d %d", &worker_pid, &child_pid) != 2)
    T_FAIL("the host said \"%s\"", line);
  T_TRUE(worker_pid > 0 && child_pid > 0);
  T_TRUE(!t_gone_within(worker_pid, 0) && !t_gone_within(child_pid, 0));
  t_kill_hard(host_pid);
  T_TRUE(t_gone_within(worker_pid, TIMEOUT_MS));
  T_TRUE(t_gone_within(child_pid, TIMEOUT_MS));
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--host") == 0)
    return host_main();
  if (argc > 1 && strcmp(argv[1], "--sleeper") == 0) {
    for (;;)
      t_nap_ms(1000);
  }
  if (argc > 1 && strcmp(argv[1], "--worker-badtoken") == 0) {
    t_setenv("WARD_TOKEN", "0000000000000000000000000000000000000000000000000000000000000000");
    return worker_main();
  }
  if (argc > 1 && strcmp(argv[1], "--worker") == 0) {
    w_argv = t_utf8_argv(argc, argv, &w_argc);
    return worker_main();
  }
  T_TRUE(t_self_path() != NULL);
  ward_host_opts o = WARD_HOST_OPTS_INIT;
  o.on_event = on_event;
  T_OK(ward_host_new(&host, &o));
  start();
  T_RUN(test_arguments);
  T_RUN(test_crash_restarts);
  T_RUN(test_wedged_is_killed);
  T_RUN(test_stop);
  T_RUN(test_socket_transport);
  T_RUN(test_socket_bad_token);
  ward_worker_free(worker);
  ward_host_free(host);
  T_RUN(test_external_loop);
  T_RUN(test_host_killed_leaves_nothing);
  return t_done();
}
