/*
 * test_chaos.c — workers killed with SIGKILL at random moments while eight
 * threads keep calls in flight on them.
 *
 * Every call must end exactly once (blocking calls return once;
 * asynchronous ones run `done` once, counted per call), with an outcome a
 * dying worker can explain, and never past its deadline by more than the
 * slack a loaded two-core machine needs. Afterwards the host's descriptors
 * are back to where they were, and (under ASan) nothing leaked.
 *
 * The run lasts CHAOS_MS milliseconds (default 3000) and is seeded from
 * CHAOS_SEED (default: the clock); the seed is printed so that a failing
 * run can be repeated.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#ifndef _WIN32
#include <sys/syscall.h>
#endif

#include "tevents.h"
#include "tworker.h"

#ifdef _WIN32
/* POSIX's rand_r, which Windows's C library lacks: the same kind of
 * generator, its state in *seed. */
static int rand_r(unsigned *seed) {
  *seed = *seed * 1103515245u + 12345u;
  return (int)((*seed >> 16) & 0x7fff);
}
#endif

#define NWORKERS 3
#define NCALLERS 8
#define TIMEOUT_MS 3000
/* How far past its deadline a call may end: the host's loop, a restart
 * and a loaded machine in between. */
#define SLACK_MS 3000
#define MAX_ASYNC 100000

static ward_worker *workers[NWORKERS];
static atomic_int stop_flag;
static int64_t run_ms = 3000;

/* One asynchronous call's record: how often its `done` ran, with what. */
typedef struct acall {
  atomic_int done;
  atomic_int status;
} acall;
static acall *acalls;
static atomic_int nacalls;

static atomic_long ended[5];   /* per kind: calls that returned or ran `done` */
static atomic_long started[5]; /* per kind: calls made */
static atomic_long outcomes[16];
enum { K_ECHO, K_ROWS, K_ASYNC, K_PING, K_CANCEL };
static const char *const kind_names[] = {"echo", "rows", "async", "ping", "cancel"};

static void count_outcome(int kind, int rv, int64_t t0) {
  int64_t late = t_now_ms() - t0 - TIMEOUT_MS;
  if (late > SLACK_MS)
    T_FAIL("a %s call ended %lld ms past its deadline (%s)", kind_names[kind],
           (long long)late, ward_err_name(rv));
  switch (rv) {
  case WARD_OK:
  case WARD_ECRASHED:
  case WARD_ETIMEDOUT:
    break;
  case WARD_ECANCELED:
    if (kind == K_CANCEL)
      break;
    /* fall through */
  default:
    T_FAIL("a %s call ended %s: %s", kind_names[kind], ward_err_name(rv), ward_last_error());
  }
  atomic_fetch_add(&outcomes[-rv], 1);
  atomic_fetch_add(&ended[kind], 1);
}

static void on_done(ward_call *call, int status, ward_msg *reply, void *ud) {
  (void)call;
  acall *a = ud;
  atomic_store(&a->status, status);
  if (atomic_fetch_add(&a->done, 1) != 0)
    T_FAIL("done ran twice for one call");
  ward_msg_free(reply);
}

static void count_row(const char *stream, uint64_t seq, const void *d, size_t n, void *ud) {
  (void)stream, (void)seq, (void)d, (void)n;
  ++*(int *)ud;
}

static void call_echo(ward_worker *w, unsigned *seed) {
  static const char pattern[] = "0123456789abcdef";
  char buf[8192];
  size_t n = (size_t)(rand_r(seed) % sizeof buf) + 1;
  for (size_t i = 0; i < n; i++)
    buf[i] = pattern[i % 16];
  ward_msg *m = NULL;
  int64_t t0 = t_now_ms();
  atomic_fetch_add(&started[K_ECHO], 1);
  int rv = ward_request(&m, w, "echo", buf, n, TIMEOUT_MS);
  if (rv == WARD_OK && (ward_msg_len(m) != n || memcmp(ward_msg_data(m), buf, n) != 0))
    T_FAIL("an echo came back different");
  ward_msg_free(m);
  count_outcome(K_ECHO, rv, t0);
}

static void call_rows(ward_worker *w) {
  int rows = 0;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = TIMEOUT_MS;
  o.on_row = count_row;
  o.ud = &rows;
  int64_t t0 = t_now_ms();
  atomic_fetch_add(&started[K_ROWS], 1);
  int rv = ward_request_ex(NULL, w, "rows", NULL, 0, &o);
  /* Rows are tentative: all of them arrived when the call succeeded. */
  if (rv == WARD_OK && rows != 10)
    T_FAIL("a successful rows call delivered %d rows", rows);
  count_outcome(K_ROWS, rv, t0);
}

/* An asynchronous call (and, with `cancel`, one cancelled mid-way). */
static void call_async(ward_worker *w, unsigned *seed, int cancel) {
  int idx = atomic_fetch_add(&nacalls, 1);
  if (idx >= MAX_ASYNC)
    return;
  acall *a = &acalls[idx];
  char ms[16];
  snprintf(ms, sizeof ms, "%d", cancel ? 1000 : rand_r(seed) % 5);
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = TIMEOUT_MS;
  ward_call *call;
  int kind = cancel ? K_CANCEL : K_ASYNC;
  int64_t t0 = t_now_ms();
  int rv = ward_call_start(&call, w, "work", ms, strlen(ms), &o, on_done, a);
  if (rv) {
    /* Not started: `done` will never run for it. */
    atomic_store(&a->done, -1000);
    if (rv != WARD_ECRASHED && rv != WARD_ETIMEDOUT)
      T_FAIL("ward_call_start: %s: %s", ward_err_name(rv), ward_last_error());
    return;
  }
  atomic_fetch_add(&started[kind], 1);
  if (cancel)
    ward_call_cancel(call);
  int wrv = ward_call_wait(call, TIMEOUT_MS + SLACK_MS);
  if (wrv == WARD_ETIMEDOUT && atomic_load(&a->done) == 0)
    T_FAIL("an asynchronous call did not end within its deadline and slack");
  ward_call_free(call);
  count_outcome(kind, atomic_load(&a->status), t0);
}

static void call_ping(ward_worker *w) {
  int64_t t0 = t_now_ms();
  atomic_fetch_add(&started[K_PING], 1);
  count_outcome(K_PING, ward_ping(w, TIMEOUT_MS), t0);
}

static void *caller(void *arg) {
  unsigned seed = (unsigned)(uintptr_t)arg;
  while (!atomic_load(&stop_flag)) {
    ward_worker *w = workers[rand_r(&seed) % NWORKERS];
    switch (rand_r(&seed) % 10) {
    case 0:
    case 1:
    case 2:
      call_echo(w, &seed);
      break;
    case 3:
    case 4:
      call_rows(w);
      break;
    case 5:
    case 6:
    case 7:
      call_async(w, &seed, 0);
      break;
    case 8:
      call_ping(w);
      break;
    default:
      call_async(w, &seed, 1);
      break;
    }
  }
  return NULL;
}

/* Kills a worker's current process; by pidfd (a process handle on
 * Windows, TerminateProcess), so never a reused pid. */
static int kill_current(ward_worker *w) {
  int pid = ward_worker_pid(w);
  if (pid <= 0)
    return 0;
#ifdef _WIN32
  HANDLE h = OpenProcess(PROCESS_TERMINATE, FALSE, (DWORD)pid);
  if (!h)
    return 0;
  int hit = ward_worker_pid(w) == pid && TerminateProcess(h, 9);
  CloseHandle(h);
  return hit;
#else
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0)
    return 0;
  int hit = 0;
  if (ward_worker_pid(w) == pid)
    hit = syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) == 0;
  close(fd);
  return hit;
#endif
}

static unsigned chaos_seed;

static void test_chaos(void) {
  unsigned seed = chaos_seed;
  int fds0 = tw_count_open();
  ward_host *h = tev_host();
  for (int i = 0; i < NWORKERS; i++) {
    ward_spec *s = tw_spec("chaos", "serve");
    T_OK(ward_spec_restart(s, WARD_RESTART_ALWAYS));
    T_OK(ward_spec_intensity(s, 256, 1000));
    T_OK(ward_spec_backoff(s, 1, 20, 200, 1000));
    T_OK(ward_spec_cancel_grace(s, 100));
    T_OK(ward_spawn(&workers[i], h, s));
    ward_spec_free(s);
  }
  acalls = calloc(MAX_ASYNC, sizeof *acalls);
  T_TRUE(acalls != NULL);
  pthread_t t[NCALLERS];
  for (int i = 0; i < NCALLERS; i++)
    T_TRUE(pthread_create(&t[i], NULL, caller, (void *)(uintptr_t)(seed + (unsigned)i + 1)) == 0);
  int kills = 0;
  int64_t until = t_now_ms() + run_ms;
  while (t_now_ms() < until) {
    t_nap_ms(5 + rand_r(&seed) % 40); /* a random moment, not a synchronisation */
    kills += kill_current(workers[rand_r(&seed) % NWORKERS]);
  }
  atomic_store(&stop_flag, 1);
  for (int i = 0; i < NCALLERS; i++)
    pthread_join(t[i], NULL);
  /* The workers came back from all that (the last kill may still be on
   * its way: a ping it ends is tried again). */
  for (int i = 0; i < NWORKERS; i++) {
    int64_t give_up = t_now_ms() + 20000;
    int rv;
    while ((rv = ward_ping(workers[i], 20000)) == WARD_ECRASHED && t_now_ms() < give_up) {
    }
    T_OK(rv);
  }
  ward_host_free(h); /* no callback runs after this */

  long calls = 0;
  for (int k = 0; k < 5; k++) {
    T_EQ_INT(atomic_load(&ended[k]), atomic_load(&started[k]));
    calls += atomic_load(&started[k]);
  }
  int n = atomic_load(&nacalls);
  if (n > MAX_ASYNC)
    n = MAX_ASYNC;
  for (int i = 0; i < n; i++) {
    int d = atomic_load(&acalls[i].done);
    if (d != 1 && d != -1000)
      T_FAIL("asynchronous call %d: done ran %d times", i, d);
  }
  free(acalls);
  fprintf(stderr,
          "   %d kills, %ld calls: %ld ok, %ld crashed, %ld timed out, %ld cancelled\n", kills,
          calls, atomic_load(&outcomes[0]), atomic_load(&outcomes[-WARD_ECRASHED]),
          atomic_load(&outcomes[-WARD_ETIMEDOUT]), atomic_load(&outcomes[-WARD_ECANCELED]));
  T_TRUE(kills > 0);
  T_TRUE(atomic_load(&outcomes[0]) > 0);
  if (fds0 >= 0)
    T_EQ_INT(tw_count_open(), fds0);
  else
    fprintf(stderr, "   (handles not counted here)\n");
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
#ifndef _WIN32
  signal(SIGPIPE, SIG_IGN);
#endif
  const char *ms = getenv("CHAOS_MS");
  if (ms && atoi(ms) > 0)
    run_ms = atoi(ms);
  const char *sd = getenv("CHAOS_SEED");
  chaos_seed = sd ? (unsigned)strtoul(sd, NULL, 10) : (unsigned)t_now_ms();
  fprintf(stderr, "   CHAOS_SEED=%u CHAOS_MS=%lld\n", chaos_seed, (long long)run_ms);
  T_RUN(test_chaos);
  return t_done();
}
