/*
 * test_tree.c — a worker's whole process tree: nothing it started
 * survives a stop, a crash or its host's death, a setsid() escapee
 * included, where the tree is a cgroup; the fallback to process groups
 * (forced by ward_host_opts.no_cgroup); pause and resume; the cgroup
 * files' figures.
 *
 * What needs cgroups (root, or a delegated cgroup v2) is skipped with the
 * reason printed where the machine gives none, never passed silently.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "tevents.h"
#include "tself.h"
#include "tworker.h"
#include "ward_int.h"

static ward_host *host;  /* cgroups where the machine gives them */
static ward_host *plain; /* process groups alone (no_cgroup) */
static int have_cgroups;

static ward_worker *spawn_on(ward_host *h, ward_spec *s) {
  ward_worker *w;
  T_OK(ward_spawn(&w, h, s));
  ward_spec_free(s);
  return w;
}

/* A process reference no reused pid fools (a pidfd; readable once it
 * has ended, zombie or not). */
static int proc_open(int pid) { return (int)syscall(SYS_pidfd_open, (pid_t)pid, 0); }

static int gone_within(int pidfd, int ms) {
  struct pollfd p = {.fd = pidfd, .events = POLLIN};
  int r;
  do
    r = poll(&p, 1, ms);
  while (r < 0 && errno == EINTR);
  return r > 0;
}

/* An escapee started in `w` (setsid, double fork), checked alive. */
static int escapee(ward_worker *w) {
  int pid = tw_call_int(w, "escapee");
  T_TRUE(pid > 0);
  int ref = proc_open(pid);
  T_TRUE(ref >= 0);
  T_TRUE(!gone_within(ref, 0));
  return ref;
}

/* Whether this machine gives cgroups: else the reason is printed and the
 * test is not counted. */
static int skipped;

static int need_cgroups(const char *test) {
  if (have_cgroups)
    return 1;
  skipped++;
  fprintf(stderr, "-- %s: SKIPPED: no cgroup could be made here (the portable backend, "
                  "cgroup v2 not mounted, or not root and the host's cgroup not "
                  "delegated)\n",
          test);
  return 0;
}

/* ------------------------------------------------------------------ */
/* The figures' text                                                   */

static void test_pressure_text(void) {
  T_EQ_INT(ward__pressure_avg10("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
                                "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"),
           0);
  T_EQ_INT(ward__pressure_avg10("some avg10=12.34 avg60=1.00 avg300=0.50 total=99\n"), 1234);
  T_EQ_INT(ward__pressure_avg10("some avg10=100.00 avg60=0 avg300=0 total=0"), 10000);
  T_EQ_INT(ward__pressure_avg10("some avg10=7.5 avg60=0 avg300=0 total=0\n"), 750);
  /* "full" alone, or none, or nonsense: no figure. */
  T_EQ_INT(ward__pressure_avg10("full avg10=3.00 avg60=0 avg300=0 total=0\n"), -1);
  T_EQ_INT(ward__pressure_avg10(""), -1);
  T_EQ_INT(ward__pressure_avg10(NULL), -1);
  T_EQ_INT(ward__pressure_avg10("some avg60=1.00 total=0\n"), -1);
  T_EQ_INT(ward__pressure_avg10("some avg10=x avg60=0\n"), -1);
  T_EQ_INT(ward__pressure_avg10("some avg10=250.00\n"), -1);
  /* The line need not come first. */
  T_EQ_INT(ward__pressure_avg10("full avg10=9.00\nsome avg10=0.25 avg60=0\n"), 25);

  uint64_t v = 7;
  const char *events = "low 0\nhigh 12\nmax 3\noom 2\noom_kill 1\noom_group_kill 0\n";
  T_OK(ward__keyed_u64(events, "oom_kill", &v));
  T_EQ_INT((int)v, 1);
  T_OK(ward__keyed_u64(events, "oom", &v));
  T_EQ_INT((int)v, 2);
  T_OK(ward__keyed_u64("populated 0\nfrozen 1", "frozen", &v));
  T_EQ_INT((int)v, 1);
  T_TRUE(ward__keyed_u64(events, "om", &v) == -1);
  T_TRUE(ward__keyed_u64("oom_kill x\n", "oom_kill", &v) == -1);
  T_TRUE(ward__keyed_u64("oom_kill 99999999999999999999999\n", "oom_kill", &v) == -1);
  T_TRUE(ward__keyed_u64(NULL, "oom_kill", &v) == -1);
  T_EQ_STR(ward_tree_name(WARD_TREE_CGROUP), "cgroup");
  T_EQ_STR(ward_tree_name(WARD_TREE_PGROUP), "pgroup");
  T_EQ_STR(ward_tree_name(WARD_TREE_NONE), "none");
  T_EQ_STR(ward_tree_name(42), "?");
}

/* A live worker's pressure figures, as its cgroup's files say them. */
static void test_figures_of_a_live_tree(void) {
  if (!need_cgroups("test_figures_of_a_live_tree"))
    return;
  ward_worker *w = spawn_on(host, tw_spec("figures", "serve"));
  T_OK(ward_ping(w, 20000));
  ward_info i = tw_info(w);
  T_EQ_INT(i.tree, WARD_TREE_CGROUP);
  for (int k = 0; k < 3; k++) {
    int p = k == 0 ? i.pressure_cpu : k == 1 ? i.pressure_memory : i.pressure_io;
    T_TRUE(p >= 0 && p <= 10000);
  }
  T_EQ_INT((int)i.oom_kills, 0);
  ward_worker_free(w);
  /* No process, no figures. */
  i = tw_info(w = spawn_on(host, tw_spec("figures", "serve")));
  T_OK(ward_worker_stop(w, 5000));
  i = tw_info(w);
  T_EQ_INT(i.tree, WARD_TREE_NONE);
  T_EQ_INT(i.pressure_cpu, -1);
  T_TRUE(i.tree_memory_bytes == WARD_UNKNOWN);
  ward_worker_free(w);
}

/* ------------------------------------------------------------------ */
/* Nothing survives                                                    */

static void test_stop_kills_escapee(void) {
  if (!need_cgroups("test_stop_kills_escapee"))
    return;
  ward_worker *w = spawn_on(host, tw_spec("tree-stop", "serve"));
  T_EQ_INT(tw_info(w).tree, WARD_TREE_CGROUP);
  int ref = escapee(w);
  T_OK(ward_worker_stop(w, 5000));
  T_TRUE(gone_within(ref, 10000));
  close(ref);
  ward_worker_free(w);
}

static void test_crash_kills_escapee(void) {
  if (!need_cgroups("test_crash_kills_escapee"))
    return;
  ward_spec *s = tw_spec("tree-crash", "serve");
  T_OK(ward_spec_backoff(s, 50, 1000, 200, 60000));
  ward_worker *w = spawn_on(host, s);
  int ref = escapee(w);
  int pid = ward_worker_pid(w);
  T_ERR(ward_request(NULL, w, "abort", NULL, 0, 20000), WARD_ECRASHED);
  T_TRUE(gone_within(ref, 10000));
  close(ref);
  /* The restarted process has a tree of its own again. */
  T_OK(ward_ping(w, 20000));
  T_TRUE(ward_worker_pid(w) != pid);
  T_EQ_INT(tw_info(w).tree, WARD_TREE_CGROUP);
  ward_worker_free(w);
}

/* Runs as a separate process: a host with two workers, each with an
 * escapee; prints "WORKER ESCAPEE WORKER ESCAPEE" and waits to be killed. */
static int host_mode(void) {
  ward_host *h;
  T_OK(ward_host_new(&h, NULL));
  for (int k = 0; k < 2; k++) {
    ward_worker *w = spawn_on(h, tw_spec("tree-orphan", "serve"));
    printf("%d %d ", ward_worker_pid(w), tw_call_int(w, "escapee"));
  }
  printf("\n");
  fflush(stdout);
  for (;;)
    t_nap_ms(1000000);
}

static void test_host_sigkill_kills_escapees(void) {
  if (!need_cgroups("test_host_sigkill_kills_escapees"))
    return;
  char line[256];
  int hpid = t_spawn_self("--host", line, sizeof line);
  int pids[4];
  T_TRUE(sscanf(line, "%d %d %d %d", &pids[0], &pids[1], &pids[2], &pids[3]) == 4);
  int refs[4];
  for (int k = 0; k < 4; k++) {
    refs[k] = proc_open(pids[k]);
    T_TRUE(refs[k] >= 0);
    T_TRUE(!gone_within(refs[k], 0));
  }
  t_kill_hard(hpid);
  for (int k = 0; k < 4; k++) {
    if (!gone_within(refs[k], 10000))
      T_FAIL("%s %d still alive 10 s after its host was killed",
             k % 2 ? "escapee" : "worker", pids[k]);
    close(refs[k]);
  }
}

/* The fallback, forced: process groups, which a setsid() escapee leaves
 * (what cgroups are for); the worker's own group still goes. */
static void test_fallback_forced(void) {
  ward_worker *w = spawn_on(plain, tw_spec("tree-plain", "serve"));
  T_EQ_INT(tw_info(w).tree, WARD_TREE_PGROUP);
  T_TRUE(tw_info(w).tree_memory_bytes == WARD_UNKNOWN);
  T_EQ_INT(tw_info(w).pressure_cpu, -1);
  int pid = tw_call_int(w, "escapee");
  int ref = proc_open(pid);
  T_TRUE(ref >= 0);
  T_OK(ward_worker_stop(w, 5000));
  T_TRUE(!gone_within(ref, 200)); /* escaped */
  T_OK(kill(pid, SIGKILL));
  T_TRUE(gone_within(ref, 10000));
  close(ref);
  ward_worker_free(w);
}

/* Where the unified hierarchy is mounted, into mnt (256 bytes; "" if
 * nowhere). */
static void cgroup2_mount(char *mnt) {
  char line[1024];
  FILE *f = fopen("/proc/self/mountinfo", "r");
  while (f && fgets(line, sizeof line, f))
    if (strstr(line, " - cgroup2 "))
      sscanf(line, "%*s %*s %*s %*s %255s", mnt);
  if (f)
    fclose(f);
}

/* The unified hierarchy's line of /proc/PID/cgroup ("/path"), in buf. */
static int cgroup_of(int pid, char *buf, size_t cap) {
  char path[64], text[2048];
  snprintf(path, sizeof path, "/proc/%d/cgroup", pid);
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
  if (f)
    fclose(f);
  text[n] = 0;
  char *own = strncmp(text, "0::/", 4) == 0 ? text : strstr(text, "\n0::/");
  if (!own)
    return -1;
  own += own[0] == '\n';
  own[strcspn(own, "\n")] = 0;
  snprintf(buf, cap, "%s", own + 3);
  return 0;
}

/* The child of `parent` other than `a` and `b` (the host's guard, beside
 * its two workers): its pid, or 0. */
static int other_child(int parent, int a, int b) {
  DIR *d = opendir("/proc");
  T_TRUE(d != NULL);
  struct dirent *e;
  int found = 0;
  while (!found && (e = readdir(d)) != NULL) {
    int pid = atoi(e->d_name), ppid = 0;
    if (pid <= 0 || pid == a || pid == b)
      continue;
    if (t_proc_stat(pid, NULL, 0, NULL, &ppid) == 0 && ppid == parent)
      found = pid;
  }
  closedir(d);
  return found;
}

/* A host killed together with its guard: its workers die with it, what
 * they started outlives both, and so does the host's directory, until
 * the next host made in the same place ends and removes them. */
static void test_killed_guard_swept(void) {
  if (!need_cgroups("test_killed_guard_swept"))
    return;
  char line[256], where[512], mnt[256] = "", dir[1024];
  int hpid = t_spawn_self("--host", line, sizeof line);
  int pids[4];
  T_TRUE(sscanf(line, "%d %d %d %d", &pids[0], &pids[1], &pids[2], &pids[3]) == 4);
  int guard = other_child(hpid, pids[0], pids[2]);
  T_TRUE(guard > 0);
  /* The dead host's directory: its workers' cgroups' parent. */
  T_OK(cgroup_of(pids[1], where, sizeof where));
  *strrchr(where, '/') = 0;
  cgroup2_mount(mnt);
  snprintf(dir, sizeof dir, "%s%s", mnt, where);
  T_TRUE(access(dir, F_OK) == 0);
  int refs[4], gref = proc_open(guard);
  for (int k = 0; k < 4; k++)
    T_TRUE((refs[k] = proc_open(pids[k])) >= 0);
  T_TRUE(gref >= 0);
  kill(guard, SIGKILL);
  T_TRUE(gone_within(gref, 10000));
  close(gref);
  t_kill_hard(hpid);
  T_TRUE(gone_within(refs[0], 10000) && gone_within(refs[2], 10000));
  /* Left behind: nobody was there to end them. */
  T_TRUE(!gone_within(refs[1], 0) && !gone_within(refs[3], 0));
  T_TRUE(access(dir, F_OK) == 0);
  ward_host *h;
  T_OK(ward_host_new(&h, NULL));
  for (int k = 1; k < 4; k += 2)
    if (!gone_within(refs[k], 10000))
      T_FAIL("escapee %d still alive 10 s after a new host was made", pids[k]);
  T_TRUE(access(dir, F_OK) != 0);
  for (int k = 0; k < 4; k++)
    close(refs[k]);
  ward_host_free(h);
}

/* ward_host_opts.cgroup: the workers' cgroups under the base given, as a
 * path relative to the unified hierarchy's mount; a base that is not
 * there costs nothing but the cgroups (process groups, never a failure). */
static void test_base_given(void) {
  if (!need_cgroups("test_base_given"))
    return;
  char base[64], mine[512];
  snprintf(base, sizeof base, "/ward-test-base-%d", (int)getpid());
  ward_host *h;
  ward_host_opts o = WARD_HOST_OPTS_INIT;
  o.on_event = tev_on_event;
  o.cgroup = base;
  /* Made first, by hand, on the unified hierarchy. */
  char mnt[256] = "";
  cgroup2_mount(mnt);
  char dir[512];
  snprintf(dir, sizeof dir, "%s%s", mnt, base);
  T_TRUE(mkdir(dir, 0755) == 0);
  T_OK(ward_host_new(&h, &o));
  ward_worker *w = spawn_on(h, tw_spec("based", "serve"));
  T_EQ_INT(tw_info(w).tree, WARD_TREE_CGROUP);
  T_OK(cgroup_of(ward_worker_pid(w), mine, sizeof mine));
  T_TRUE(strncmp(mine, base, strlen(base)) == 0 && mine[strlen(base)] == '/');
  int ref = escapee(w);
  T_OK(ward_worker_stop(w, 5000));
  T_TRUE(gone_within(ref, 10000));
  close(ref);
  ward_worker_free(w);
  ward_host_free(h);
  /* The host's directory went with it: the base is empty again. */
  T_TRUE(rmdir(dir) == 0);

  /* A base that is not there: process groups. */
  T_OK(ward_host_new(&h, &o));
  w = spawn_on(h, tw_spec("unbased", "serve"));
  T_OK(ward_ping(w, 20000));
  T_EQ_INT(tw_info(w).tree, WARD_TREE_PGROUP);
  ward_worker_free(w);
  ward_host_free(h);
}

/* Why children are moved into their cgroups here, not born there (the
 * ways spawn.c keeps for where clone3 is not to be had), or NULL. */
static const char *moved_in(void) {
  const char *e = getenv("WARD_NO_CLONE3");
  if (e && *e == '1')
    return "WARD_NO_CLONE3=1";
  e = getenv("WARD_NO_PIDFD");
  if (e && *e == '1')
    return "WARD_NO_PIDFD=1: posix_spawn";
#if !defined(__x86_64__) || !defined(SYS_clone3)
  return "clone3 is used on x86-64 alone";
#elif defined(__SANITIZE_THREAD__)
  return "ThreadSanitizer";
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
  return "ThreadSanitizer";
#endif
#endif
#if defined(SYS_clone3)
  /* A size too small is EINVAL from a kernel that knows clone3. */
  if (syscall(SYS_clone3, NULL, (size_t)0) < 0 && errno == ENOSYS)
    return "clone3 refused by the kernel or a seccomp filter";
#endif
  return NULL;
}

/* A worker is born in its cgroup (clone3), not moved in: a move waits out
 * an RCU grace period (5 to 12 ms on the machine measured) with the
 * host's loop held. Where children are moved in (moved_in), they still
 * are, each start once, and end up inside all the same. */
static void test_start_is_no_move(void) {
  if (!need_cgroups("test_start_is_no_move"))
    return;
  const char *why = moved_in();
  unsigned long before = ward__trees_moves();
  ward_worker *w = spawn_on(host, tw_spec("tree-start", "serve"));
  T_OK(ward_ping(w, 20000));
  char path[512], mine[512];
  T_EQ_INT(tw_info(w).tree, WARD_TREE_CGROUP);
  T_OK(cgroup_of(ward_worker_pid(w), path, sizeof path));
  T_OK(cgroup_of(getpid(), mine, sizeof mine));
  T_TRUE(strcmp(path, mine) != 0);
  ward_worker_free(w);
  if (why) {
    fprintf(stderr, "-- test_start_is_no_move: moved in here (%s)\n", why);
    T_EQ_INT(ward__trees_moves() - before, 1);
  } else {
    T_EQ_INT(ward__trees_moves() - before, 0);
  }
}

/* ------------------------------------------------------------------ */
/* Limits                                                              */

static void test_tree_limits_spec(void) {
  ward_spec *s = tw_spec("limits", "serve");
  T_OK(ward_spec_tree_limits(s, 1u << 30, 1u << 29, 64, 150));
  T_OK(ward_spec_tree_limits(s, 0, 0, 0, 100000));
  T_ERR(ward_spec_tree_limits(s, 0, 0, 0, 100001), WARD_EINVAL);
  T_ERR(ward_spec_tree_limits(NULL, 0, 0, 0, 0), WARD_EINVAL);
  ward_spec_free(s);
  T_EQ_STR(ward_reason_name(WARD_REASON_OOM_KILLED), "oom-killed");
}

/* Where no memory controller is delegated (this machine's cgroups may
 * have none; a host without cgroups never has one), the tree's memory
 * limit falls back to sampling the worker's resident set: over 1 MiB,
 * any worker is, it is killed for it (reason memory-limit). */
static void tree_memory_fallback(ward_host *h) {
  ward_spec *s = tw_spec("tree-mem", "serve");
  T_OK(ward_spec_tree_limits(s, 1u << 20, 0, 0, 0));
  T_OK(ward_spec_memory_limit(s, 0, 0, 50)); /* no limit of its own; sampled often */
  int mark = tev_mark();
  ward_worker *w = spawn_on(h, s);
  if (tw_info(w).pid > 0 && tw_info(w).rss_bytes == WARD_UNKNOWN) {
    fprintf(stderr, "   SKIPPED: this backend reads no resident set (the portable one): "
                    "nothing to sample\n");
    skipped++;
    ward_worker_free(w);
    return;
  }
  if (tw_info(w).tree_memory_bytes != WARD_UNKNOWN) {
    fprintf(stderr, "   the memory controller is delegated here: the kernel enforces "
                    "memory.max, no fallback to test\n");
    ward_worker_free(w);
    return;
  }
  for (;;) {
    int at = tev_wait_idx(mark, WARD_EV_EXITED, ward_worker_id(w));
    if (tev_get(at).reason == WARD_REASON_MEMORY_LIMIT)
      break;
    mark = at + 1;
  }
  ward_worker_free(w);
}

static void test_tree_memory_fallback(void) {
  tree_memory_fallback(plain);
  if (have_cgroups)
    tree_memory_fallback(host);
}

/* ------------------------------------------------------------------ */
/* Pause and resume                                                    */

typedef struct call_arg {
  ward_worker *w;
  int rv;
  char reply[32];
} call_arg;

static void *call_thread(void *p) {
  call_arg *a = p;
  ward_msg *m = NULL;
  a->rv = ward_request(&m, a->w, "echo", "later", 5, 60000);
  if (!a->rv)
    snprintf(a->reply, sizeof a->reply, "%.*s", (int)ward_msg_len(m),
             (const char *)ward_msg_data(m));
  ward_msg_free(m);
  return NULL;
}

/* Calls in flight wait for the resume, deadlines still run, heartbeats
 * missed while paused do not count; events say both transitions. */
static void pause_with_calls(ward_host *h, int tree) {
  ward_spec *s = tw_spec("pause", "serve");
  T_OK(ward_spec_heartbeat(s, 50, 2));
  T_OK(ward_spec_kill_on_timeout(s, 0));
  ward_worker *w = spawn_on(h, s);
  T_OK(ward_ping(w, 20000));
  T_EQ_INT(tw_info(w).tree, tree);
  int pid = ward_worker_pid(w);
  int mark = tev_mark();
  T_OK(ward_worker_pause(w));
  T_EQ_INT(tw_info(w).paused, 1);
  tev_wait_from(mark, WARD_EV_PAUSED, ward_worker_id(w));
  T_OK(ward_worker_pause(w)); /* again: nothing more */
  /* Its answer would take a millisecond: the deadline ends it instead. */
  T_ERR(ward_request(NULL, w, "echo", "x", 1, 300), WARD_ETIMEDOUT);
  /* Many heartbeats' worth of time has passed: not replaced. */
  T_EQ_INT(ward_worker_pid(w), pid);
  T_EQ_INT((int)tw_info(w).generation, 1);
  /* A call in flight waits... */
  call_arg a = {w, 1, ""};
  pthread_t t;
  T_TRUE(pthread_create(&t, NULL, call_thread, &a) == 0);
  int64_t end = t_now_ms() + 20000;
  while (tw_info(w).calls_in_flight < 1 && t_now_ms() < end)
    t_nap_ms(2);
  T_TRUE(tw_info(w).calls_in_flight >= 1);
  /* ...until the resume. */
  T_OK(ward_worker_resume(w));
  T_EQ_INT(tw_info(w).paused, 0);
  pthread_join(t, NULL);
  T_OK(a.rv);
  T_EQ_STR(a.reply, "later");
  tev_wait_from(mark, WARD_EV_RESUMED, ward_worker_id(w));
  T_OK(ward_worker_resume(w)); /* not paused: nothing */
  T_EQ_INT(tev_count_from(mark, WARD_EV_PAUSED, ward_worker_id(w)), 1);
  T_EQ_INT(tev_count_from(mark, WARD_EV_RESUMED, ward_worker_id(w)), 1);
  T_EQ_INT(ward_worker_pid(w), pid);
  /* A stop of a paused worker: thawed, so it takes its goodbye. */
  int mark2 = tev_mark();
  T_OK(ward_worker_pause(w));
  T_OK(ward_worker_stop(w, 10000));
  T_EQ_INT(tw_info(w).last_stop, WARD_STOP_GRACEFUL);
  T_EQ_INT(tw_info(w).paused, 0);
  /* Events come on the loop: paused, then resumed, before stopped. */
  int at = tev_wait_idx(mark2, WARD_EV_PAUSED, ward_worker_id(w));
  at = tev_wait_idx(at + 1, WARD_EV_RESUMED, ward_worker_id(w));
  tev_wait_idx(at + 1, WARD_EV_STOPPED, ward_worker_id(w));
  T_ERR(ward_worker_pause(w), WARD_ECLOSED);
  ward_worker_free(w);
}

static void test_pause_cgroup(void) {
  if (need_cgroups("test_pause_cgroup"))
    pause_with_calls(host, WARD_TREE_CGROUP);
}

static void test_pause_pgroup(void) { pause_with_calls(plain, WARD_TREE_PGROUP); }

/* A paused tree is paused whole: the worker's cgroup, escapee included,
 * is frozen by the time the pause returns; after the resume, a stop still
 * ends all of it. */
static void test_pause_freezes_escapee(void) {
  if (!need_cgroups("test_pause_freezes_escapee"))
    return;
  ward_worker *w = spawn_on(host, tw_spec("pause-tree", "serve"));
  int ref = escapee(w);
  T_OK(ward_worker_pause(w));
  /* The kernel says the whole cgroup is frozen once pause returns. */
  char path[1024], stat[512];
  snprintf(path, sizeof path, "/proc/%d/cgroup", ward_worker_pid(w));
  FILE *f = fopen(path, "r");
  T_TRUE(f != NULL);
  size_t n = fread(stat, 1, sizeof stat - 1, f);
  fclose(f);
  stat[n] = 0;
  /* The unified hierarchy's line, "0::/path" (after v1's in hybrid mode). */
  char *own = strncmp(stat, "0::/", 4) == 0 ? stat : strstr(stat, "\n0::/");
  T_TRUE(own != NULL);
  own += own[0] == '\n';
  own[strcspn(own, "\n")] = 0;
  char mnt[256] = "";
  f = fopen("/proc/self/mountinfo", "r");
  T_TRUE(f != NULL);
  char line[1024];
  while (fgets(line, sizeof line, f))
    if (strstr(line, " - cgroup2 "))
      sscanf(line, "%*s %*s %*s %*s %255s", mnt);
  fclose(f);
  snprintf(path, sizeof path, "%s%s/cgroup.events", mnt, own + 3);
  f = fopen(path, "r");
  T_TRUE(f != NULL);
  n = fread(line, 1, sizeof line - 1, f);
  fclose(f);
  line[n] = 0;
  uint64_t frozen = 0;
  T_OK(ward__keyed_u64(line, "frozen", &frozen));
  T_EQ_INT((int)frozen, 1);
  T_OK(ward_worker_resume(w));
  T_OK(ward_worker_stop(w, 5000));
  T_TRUE(gone_within(ref, 10000));
  close(ref);
  ward_worker_free(w);
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
  if (argc > 1 && strcmp(argv[1], "--host") == 0)
    return host_mode();
  signal(SIGPIPE, SIG_IGN);
  host = tev_host();
  ward_host_opts o = WARD_HOST_OPTS_INIT;
  o.on_event = tev_on_event;
  o.no_cgroup = 1;
  T_OK(ward_host_new(&plain, &o));
  /* Does this machine give cgroups? One worker says. */
  ward_worker *probe = spawn_on(host, tw_spec("tree-probe", "serve"));
  T_OK(ward_ping(probe, 20000));
  have_cgroups = tw_info(probe).tree == WARD_TREE_CGROUP;
  ward_worker_free(probe);
  fprintf(stderr, "-- process trees here: %s\n", have_cgroups ? "cgroups" : "process groups");

  T_RUN(test_pressure_text);
  T_RUN(test_figures_of_a_live_tree);
  T_RUN(test_stop_kills_escapee);
  T_RUN(test_crash_kills_escapee);
  T_RUN(test_host_sigkill_kills_escapees);
  T_RUN(test_killed_guard_swept);
  T_RUN(test_fallback_forced);
  T_RUN(test_base_given);
  T_RUN(test_start_is_no_move);
  T_RUN(test_tree_limits_spec);
  T_RUN(test_tree_memory_fallback);
  T_RUN(test_pause_cgroup);
  T_RUN(test_pause_pgroup);
  T_RUN(test_pause_freezes_escapee);
  ward_host_free(plain);
  ward_host_free(host);
  /* A test skipped here did not pass: it is counted apart. */
  t__passed -= skipped;
  if (skipped)
    printf("%d skipped (reasons above)\n", skipped);
  return t_done();
}
