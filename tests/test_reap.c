/*
 * test_reap.c — ward_host_reap_orphans: a supervisor that is PID 1 or a
 * child subreaper reaps the processes it never started, and leaves its
 * workers' exits to the host, whose events keep their statuses.
 */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "tworker.h"

static ward_host *host;

/* The last EXITED event of the test's worker. */
static int exited, exit_code = -100;

static void on_event(const ward_event *ev, void *ud) {
  (void)ud;
  if (ev->type == WARD_EV_EXITED) {
    exited++;
    exit_code = ev->exit_code;
  }
}

/* What the reaper reported. */
#define MAX_SEEN 64
static struct {
  int pid, code, sig;
} seen[MAX_SEEN];
static int nseen;

static void on_orphan(int pid, int code, int sig, void *ud) {
  (void)ud;
  if (nseen < MAX_SEEN) {
    seen[nseen].pid = pid;
    seen[nseen].code = code;
    seen[nseen].sig = sig;
  }
  nseen++;
}

static int seen_index(int pid) {
  for (int i = 0; i < nseen && i < MAX_SEEN; i++)
    if (seen[i].pid == pid)
      return i;
  return -1;
}

/* Blocks until child `pid` has ended, without reaping it. */
static void wait_ended(int pid) {
  siginfo_t si;
  int r;
  do
    r = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
  while (r < 0 && errno == EINTR);
  T_TRUE(r == 0);
}

/* The program's loop, as a supervisor runs it: a turn of the host's
 * loop, then the reaper, until `pid` was reaped (and `need_exit` EXITED
 * events arrived). */
static void run_until_reaped(int pid, int need_exit) {
  int64_t deadline = t_now_ms() + 20000;
  ward_os_handle fd = ward_host_fd(host);
  while (seen_index(pid) < 0 || exited < need_exit) {
    if (t_wait_os_handle(fd, 100))
      T_OK(ward_host_dispatch(host, 0));
    int n = ward_host_reap_orphans(host, on_orphan, NULL);
    T_TRUE(n >= 0);
    if (t_now_ms() > deadline)
      T_FAIL("pid %d not reaped (%d reaped), %d exits", pid, nseen, exited);
  }
}

static ward_worker *spawn(const char *name) {
  ward_spec *s = tw_spec(name, "serve");
  ward_spec_restart(s, WARD_RESTART_NEVER);
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  return w;
}

static void test_null(void) { T_ERR(ward_host_reap_orphans(NULL, NULL, NULL), WARD_EINVAL); }

/* Nothing ended: nothing reaped, the workers untouched. */
static void test_nothing_to_reap(void) {
  ward_worker *w = spawn("idle");
  nseen = 0;
  T_EQ_INT(ward_host_reap_orphans(host, on_orphan, NULL), 0);
  T_EQ_INT(nseen, 0);
  T_OK(ward_ping(w, 10000));
  ward_worker_free(w);
}

/* A child the program started itself and a worker end together: the
 * child is reaped and reported; the worker's zombie is left to the host,
 * whose EXITED event keeps the worker's exit code. */
static void test_strays_not_workers(void) {
  ward_worker *w = spawn("mixed");
  int wpid = ward_worker_pid(w);
  exited = 0;
  nseen = 0;
  T_OK(ward_notify(w, "exit", "3", 1));
  wait_ended(wpid); /* a zombie now: no one runs the host's loop */
  pid_t stray = fork();
  T_TRUE(stray >= 0);
  if (stray == 0)
    _exit(7);
  wait_ended(stray);
  T_TRUE(ward_host_reap_orphans(host, on_orphan, NULL) >= 0);
  T_TRUE(seen_index(wpid) < 0);
  run_until_reaped(stray, 1);
  int i = seen_index(stray);
  T_EQ_INT(seen[i].code, 7);
  T_EQ_INT(seen[i].sig, 0);
  T_TRUE(seen_index(wpid) < 0);
  T_EQ_INT(exit_code, 3);
  ward_worker_free(w);
}

/* A signal's end is reported as the signal. */
static void test_signal_reported(void) {
  nseen = 0;
  pid_t stray = fork();
  T_TRUE(stray >= 0);
  if (stray == 0) {
    raise(SIGKILL);
    _exit(1);
  }
  wait_ended(stray);
  run_until_reaped(stray, 0);
  int i = seen_index(stray);
  T_EQ_INT(seen[i].code, -1);
  T_EQ_INT(seen[i].sig, SIGKILL);
}

/* As a child subreaper, what a worker left behind comes back to the
 * program, and the reaper takes it. */
static void test_orphan_of_a_worker(void) {
#ifdef __linux__
  T_TRUE(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0);
  ward_worker *w = spawn("parent");
  nseen = 0;
  exited = 0;
  ward_msg *m = NULL;
  T_OK(ward_request(&m, w, "orphan", NULL, 0, 10000));
  char buf[32] = {0};
  memcpy(buf, ward_msg_data(m), ward_msg_len(m) < 31 ? ward_msg_len(m) : 31);
  ward_msg_free(m);
  int orphan = atoi(buf);
  T_TRUE(orphan > 0);
  run_until_reaped(orphan, 0);
  T_EQ_INT(seen[seen_index(orphan)].code, 9);
  /* The worker that left it is still serving, still the host's. */
  T_OK(ward_ping(w, 10000));
  T_TRUE(seen_index(ward_worker_pid(w)) < 0);
  ward_worker_free(w);
  T_TRUE(prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) == 0);
#endif
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  ward_host_opts o = WARD_HOST_OPTS_INIT;
  o.on_event = on_event;
  o.external_loop = 1;
  T_OK(ward_host_new(&host, &o));
  T_RUN(test_null);
  T_RUN(test_nothing_to_reap);
  T_RUN(test_strays_not_workers);
  T_RUN(test_signal_reported);
  T_RUN(test_orphan_of_a_worker);
  ward_host_free(host);
  return t_done();
}
