/*
 * test_groups.c — supervision groups with real processes: which members a
 * failure restarts under each strategy, the order they come back in, the
 * group's intensity and its one GROUP_GAVE_UP event, the reverse order of
 * a stop, members whose restart mode keeps them down, and members added
 * without waiting (ward_group_spawn_start).
 */
#include <signal.h>

#include "tevents.h"
#include "tworker.h"

#define N 3
static ward_host *host;
static ward_group *g;
static ward_worker *m[N];
static uint64_t id[N];
static int pid[N];

static void make_group(int strategy, int restart_mode) {
  T_OK(ward_group_new(&g, host, "trio", strategy));
  for (int i = 0; i < N; i++) {
    char name[16];
    snprintf(name, sizeof name, "member%d", i);
    ward_spec *s = tw_spec(name, "serve");
    T_OK(ward_spec_restart(s, restart_mode));
    T_OK(ward_group_spawn(&m[i], g, s));
    ward_spec_free(s);
    id[i] = ward_worker_id(m[i]);
    pid[i] = ward_worker_pid(m[i]);
  }
}

static int state_of(ward_worker *w) {
  ward_info in = WARD_INFO_INIT;
  T_OK(ward_worker_info(&in, w));
  return in.state;
}

/* Member `k` dies of SIGKILL (its own). */
static void crash(int k) {
  T_ERR(ward_request(NULL, m[k], "sigkill", NULL, 0, 10000), WARD_ECRASHED);
}

/* Waits until member `k` is ready in generation `gen`; its new pid. */
static int back_in(int k, uint32_t gen) {
  int64_t until = t_now_ms() + 20000;
  while (ward_worker_generation(m[k]) < gen || state_of(m[k]) != WARD_STATE_READY) {
    if (t_now_ms() > until)
      T_FAIL("member %d not back in generation %u", k, gen);
    T_OK(ward_ping(m[k], 20000)); /* waits for a restart under way */
  }
  T_OK(ward_ping(m[k], 10000));
  return ward_worker_pid(m[k]);
}

static void test_one_for_one(void) {
  make_group(WARD_GROUP_ONE_FOR_ONE, WARD_RESTART_ON_FAILURE);
  int mark = tev_mark();
  crash(1);
  tev e = tev_wait_from(mark, WARD_EV_RESTARTED, id[1]);
  T_EQ_INT(e.generation, 2);
  T_EQ_STR(e.group, "trio");
  T_TRUE(back_in(1, 2) != pid[1]);
  /* The others were left alone. */
  T_EQ_INT(ward_worker_pid(m[0]), pid[0]);
  T_EQ_INT(ward_worker_pid(m[2]), pid[2]);
  T_EQ_INT(tev_count_from(mark, WARD_EV_EXITED, id[0]), 0);
  T_EQ_INT(tev_count_from(mark, WARD_EV_EXITED, id[2]), 0);
  ward_group_free(g);
}

/* The members restarted by a strategy: each exited, the failed one for its
 * own reason and the others for the group's, then came back, in order. */
static void expect_restarted(int mark, int failed, const int *which, int n) {
  int64_t ready_at[N] = {0};
  for (int j = 0; j < n; j++) {
    int k = which[j];
    tev x = tev_wait_from(mark, WARD_EV_EXITED, id[k]);
    T_EQ_STR(ward_reason_name(x.reason),
             ward_reason_name(k == failed ? WARD_REASON_CRASHED : WARD_REASON_GROUP));
    tev r = tev_wait_from(mark, WARD_EV_RESTARTED, id[k]);
    T_EQ_INT(r.generation, 2);
    ready_at[k] = r.at_us;
    T_TRUE(back_in(k, 2) != pid[k]);
  }
  /* Started again in the order they were added. */
  for (int j = 1; j < n; j++)
    T_TRUE(ready_at[which[j - 1]] <= ready_at[which[j]]);
}

static void test_one_for_all(void) {
  make_group(WARD_GROUP_ONE_FOR_ALL, WARD_RESTART_ON_FAILURE);
  int mark = tev_mark();
  crash(1);
  const int all[] = {0, 1, 2};
  expect_restarted(mark, 1, all, 3);
  ward_group_free(g);
}

static void test_rest_for_one(void) {
  make_group(WARD_GROUP_REST_FOR_ONE, WARD_RESTART_ON_FAILURE);
  int mark = tev_mark();
  crash(1);
  const int rest[] = {1, 2};
  expect_restarted(mark, 1, rest, 2);
  T_EQ_INT(ward_worker_pid(m[0]), pid[0]); /* started before it: untouched */
  T_EQ_INT(tev_count_from(mark, WARD_EV_EXITED, id[0]), 0);
  ward_group_free(g);
}

static void test_group_intensity(void) {
  make_group(WARD_GROUP_ONE_FOR_ONE, WARD_RESTART_ON_FAILURE);
  T_OK(ward_group_intensity(g, 2, 60000));
  int mark = tev_mark();
  /* Two failures of different members: the group's limit, not theirs. */
  crash(0);
  back_in(0, 2);
  crash(2);
  back_in(2, 2);
  crash(0);
  tev e = tev_wait_from(mark, WARD_EV_GROUP_GAVE_UP, id[0]);
  T_EQ_STR(e.group, "trio");
  T_EQ_INT(e.reason, WARD_REASON_CRASHED);
  /* Every member ends, failed; the event came once. */
  for (int k = 0; k < N; k++) {
    int64_t until = t_now_ms() + 20000;
    while (state_of(m[k]) != WARD_STATE_FAILED && t_now_ms() < until)
      nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    T_EQ_STR(ward_state_name(state_of(m[k])), "failed");
    T_ERR(ward_request(NULL, m[k], "echo", "x", 1, 1000), WARD_EGAVEUP);
  }
  int n = 0;
  for (int k = 0; k < N; k++)
    n += tev_count_from(mark, WARD_EV_GROUP_GAVE_UP, id[k]);
  T_EQ_INT(n, 1);
  ward_group_free(g);
}

static void test_stop_order(void) {
  make_group(WARD_GROUP_ONE_FOR_ALL, WARD_RESTART_ON_FAILURE);
  int mark = tev_mark();
  T_OK(ward_group_stop(g, -1));
  int64_t at[N];
  for (int k = 0; k < N; k++)
    at[k] = tev_wait_from(mark, WARD_EV_STOPPED, id[k]).at_us;
  T_TRUE(at[2] <= at[1] && at[1] <= at[0]); /* last added first */
  /* Nothing restarts after a stop. */
  for (int k = 0; k < N; k++)
    T_EQ_INT(tev_count_from(mark, WARD_EV_RESTARTING, id[k]), 0);
  ward_group_free(g);
}

/* A member whose restart mode keeps it down after a clean exit is its own
 * business: the group restarts nothing. */
static void test_member_left_down(void) {
  make_group(WARD_GROUP_ONE_FOR_ALL, WARD_RESTART_ON_FAILURE);
  int mark = tev_mark();
  T_ERR(ward_request(NULL, m[1], "exit", "0", 1, 10000), WARD_ECRASHED);
  tev e = tev_wait_from(mark, WARD_EV_EXITED, id[1]);
  T_EQ_INT(e.reason, WARD_REASON_EXITED);
  T_OK(ward_ping(m[0], 10000));
  T_OK(ward_ping(m[2], 10000));
  T_EQ_INT(ward_worker_pid(m[0]), pid[0]);
  T_EQ_INT(ward_worker_pid(m[2]), pid[2]);
  T_EQ_STR(ward_state_name(state_of(m[1])), "exited");
  ward_group_free(g);
}

/* Members added without waiting (ward_group_spawn_start), each once the
 * one before it is ready: the group handles them as any other. */
static void test_spawn_start(void) {
  T_OK(ward_group_new(&g, host, "trio", WARD_GROUP_ONE_FOR_ALL));
  for (int i = 0; i < N; i++) {
    char name[16];
    snprintf(name, sizeof name, "member%d", i);
    ward_spec *s = tw_spec(name, "serve");
    T_OK(ward_spec_restart(s, WARD_RESTART_ON_FAILURE));
    T_OK(ward_group_spawn_start(&m[i], g, s));
    ward_spec_free(s);
    T_OK(ward_worker_wait_ready(m[i], 20000));
    id[i] = ward_worker_id(m[i]);
    pid[i] = ward_worker_pid(m[i]);
  }
  int mark = tev_mark();
  crash(1);
  const int all[] = {0, 1, 2};
  expect_restarted(mark, 1, all, 3);
  ward_worker *w;
  ward_spec *s = tw_spec("x", "serve");
  T_ERR(ward_group_spawn_start(&w, NULL, s), WARD_EINVAL);
  T_ERR(ward_group_spawn_start(NULL, g, s), WARD_EINVAL);
  T_ERR(ward_group_spawn_start(&w, g, NULL), WARD_EINVAL);
  ward_spec_free(s);
  ward_group_free(g);
}

static void test_errors(void) {
  ward_group *x;
  T_ERR(ward_group_new(&x, host, "bad", 7), WARD_EINVAL);
  T_ERR(ward_group_new(&x, host, "", WARD_GROUP_ONE_FOR_ONE), WARD_EINVAL);
  T_OK(ward_group_new(&x, host, "empty", WARD_GROUP_REST_FOR_ONE));
  T_ERR(ward_group_intensity(x, 257, 1000), WARD_EINVAL);
  T_EQ_STR(ward_group_strategy_name(WARD_GROUP_REST_FOR_ONE), "rest-for-one");
  /* A member that cannot start is not kept. */
  ward_spec *s;
  T_OK(ward_spec_new(&s, "nothing", "/nonexistent/ward-program"));
  ward_worker *w;
  T_TRUE(ward_group_spawn(&w, x, s) != WARD_OK);
  ward_spec_free(s);
  T_OK(ward_group_stop(x, 0));
  ward_group_free(x);
  /* A group left to the host goes with it (see main). */
  T_OK(ward_group_new(&x, host, "left", WARD_GROUP_ONE_FOR_ONE));
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
#ifdef SIGPIPE /* not on Windows, where pipes raise no signal */
  signal(SIGPIPE, SIG_IGN);
#endif
  host = tev_host();
  T_RUN(test_one_for_one);
  T_RUN(test_one_for_all);
  T_RUN(test_rest_for_one);
  T_RUN(test_spawn_start);
  T_RUN(test_group_intensity);
  T_RUN(test_stop_order);
  T_RUN(test_member_left_down);
  T_RUN(test_errors);
  ward_host_free(host);
  return t_done();
}
