/*
 * test_spares.c — warm spares and ward_worker_replace on real processes.
 *
 * Each worker process of these tests ("--worker pidlog") writes its pid
 * into its data directory's "pids" file before it serves, so the test
 * knows which processes were started, and in what order, without asking
 * the library: a spare is the process in that file that is not the
 * worker's. That the process serving after a crash was started before the
 * crash (and is the spare) is then a fact about pids, not a timing.
 *
 * What the worker's machine decides with a spare (no backoff, a new
 * generation ready at once, the adoption during a replacement) is
 * walked to the millisecond by tests/test_lifecycle.c; here, that the
 * host carries it out: processes, channels, events, data directories.
 *
 * Arguments pick tests by name, as in test_supervise.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "tevents.h"
#include "tworker.h"

static ward_host *host;

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

/* A doctor with a failing check. */
static int bad_doctor(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  static const ward_check checks[] = {{"db", WARD_CHECK_ERROR, "unreachable"}};
  return ward_ctx_reply_doctor(ctx, checks, 1);
}

/* The worker: records its pid, then serves (tworker.h's methods; with
 * DOCTOR_FAIL set, a doctor that fails and nothing else). */
static int pidlog_worker(int argc, char **argv) {
  const char *dir = getenv("WARD_DATA_DIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/pids", dir ? dir : ".");
  FILE *f = fopen(path, "a");
  if (!f)
    return 9;
  fprintf(f, "%d\n", (int)getpid());
  fclose(f);
  /* A start-up line, with SAY_UP set. */
  if (getenv("SAY_UP")) {
    printf("up %d\n", (int)getpid());
    fflush(stdout);
  }
  if (getenv("DOCTOR_FAIL")) {
    ward_client *c;
    if (ward_client_connect(&c))
      return 2;
    ward_client_handle(c, "ward.doctor", bad_doctor, NULL);
    int rv = ward_client_run(c);
    ward_client_free(c);
    return rv ? 1 : 0;
  }
  argv[2] = (char *)"serve";
  return tworker_main(argc, argv);
}

static ward_spec *spare_spec(const char *name, unsigned spares) {
  ward_spec *s = tw_spec(name, "pidlog");
  T_OK(ward_spec_spares(s, spares));
  return s;
}

/* Polls the worker's figures until `cond` (on `wi`) holds, up to 20 s. */
#define WAIT_INFO(w, cond)                                                             \
  do {                                                                                 \
    int64_t dl_ = t_now_ms() + 20000;                                                  \
    ward_info wi = tw_info(w);                                                         \
    while (!(cond) && t_now_ms() < dl_) {                                              \
      t_nap_ms(2);                                                                     \
      wi = tw_info(w);                                                                 \
    }                                                                                  \
    if (!(cond))                                                                       \
      T_FAIL("worker '%s': %s did not come within 20 s (ready spares %u, running %u)", \
             ward_worker_name(w), #cond, wi.spares_ready, wi.spares_running);          \
  } while (0)

/* The pids the worker's processes wrote, in start order; returns how many. */
static int pids_of(const ward_worker *w, int *out, int cap) {
  char path[4096];
  snprintf(path, sizeof path, "%s/pids", ward_worker_data_dir(w));
  FILE *f = fopen(path, "r");
  int n = 0;
  if (!f)
    return 0;
  while (n < cap && fscanf(f, "%d", &out[n]) == 1)
    n++;
  fclose(f);
  return n;
}

/* The pid of the only spare: the last process started that is not the
 * worker's (waits until the spare is ready first). */
static int spare_pid(ward_worker *w) {
  WAIT_INFO(w, wi.spares_ready == 1);
  int pids[64];
  int n = pids_of(w, pids, 64), cur = ward_worker_pid(w);
  for (int i = n - 1; i >= 0; i--)
    if (pids[i] != cur)
      return pids[i];
  T_FAIL("no spare among %d processes", n);
  return 0;
}

static void call_str(ward_worker *w, const char *method, const char *arg, char *out, size_t cap) {
  ward_msg *m = NULL;
  T_OK(ward_request(&m, w, method, arg, strlen(arg), 20000));
  snprintf(out, cap, "%.*s", (int)ward_msg_len(m), (const char *)ward_msg_data(m));
  ward_msg_free(m);
}

static ward_worker *spawn_spec(ward_spec *s) { return tev_spawn(host, s); }

/* Whether `pid` is gone (reaped by the host): kill(0) fails. */
static int gone(int pid) {
  int64_t dl = t_now_ms() + 20000;
  while (kill(pid, 0) == 0 && t_now_ms() < dl)
    t_nap_ms(2);
  return kill(pid, 0) != 0;
}

/* The events about worker `id` from `from` on, of `type` (-1: any). */
static int count_events(int from, int type, uint64_t id) {
  int n = 0;
  pthread_mutex_lock(&tev_mu);
  for (int i = from; i < tev_n; i++)
    n += tev_log[i].worker_id == id && (type < 0 || tev_log[i].type == type);
  pthread_mutex_unlock(&tev_mu);
  return n;
}

/* Waits up to 20 s for the line `text` in the worker's log ring; returns
 * it (its text freed), or fails listing what the ring holds. */
static ward_log_line wait_line(ward_worker *w, const char *text) {
  int64_t dl = t_now_ms() + 20000;
  for (;;) {
    ward_log_line *v, found = {0};
    size_t n;
    T_OK(ward_worker_logs(&v, &n, w, NULL));
    char all[2048] = "";
    for (size_t i = 0; i < n; i++) {
      if (strcmp(v[i].text, text) == 0 && !found.seq)
        found = v[i];
      snprintf(all + strlen(all), sizeof all - strlen(all), "%s[%llu g%u %s]", i ? " " : "",
               (unsigned long long)v[i].seq, (unsigned)v[i].generation, v[i].text);
    }
    found.text = NULL;
    ward_log_lines_free(v, n);
    if (found.seq)
      return found;
    if (t_now_ms() > dl)
      T_FAIL("worker '%s': no line \"%s\" in its log within 20 s; it holds: %s",
             ward_worker_name(w), text, all);
    t_nap_ms(2);
  }
}

/* ------------------------------------------------------------------ */
/* Spares                                                              */

/* Without spares nothing changes: no spare is started. */
static void test_no_spares_by_default(void) {
  ward_worker *w = spawn_spec(tw_spec("plain-spares", "pidlog"));
  ward_info i = tw_info(w);
  T_EQ_INT(i.spares_ready, 0);
  T_EQ_INT(i.spares_running, 0);
  T_EQ_INT((int)i.spares_rss_bytes, 0);
  int pids[8];
  T_EQ_INT(pids_of(w, pids, 8), 1);
  ward_spec *s = tw_spec("x", "serve");
  T_ERR(ward_spec_spares(s, WARD_MAX_SPARES + 1), WARD_EINVAL);
  ward_spec_free(s);
  ward_worker_free(w);
}

/* A crash: the call after it is served by the spare started before it,
 * with no failed call and no backoff, and a new spare follows. */
static void test_crash_takes_spare(void) {
  ward_spec *s = spare_spec("crash-spare", 1);
  /* A minute of backoff: only a spare can serve the next call in time. */
  T_OK(ward_spec_backoff(s, 60000, 60000, 200, 600000));
  ward_worker *w = spawn_spec(s);
  uint64_t id = ward_worker_id(w);
  int first = ward_worker_pid(w);
  int spare = spare_pid(w);
  T_TRUE(spare != first);
  ward_info i = tw_info(w);
  T_EQ_INT(i.spares_running, 1);
  /* Where the worker's own resident set is known, the spare's is too. */
  if (i.rss_bytes == WARD_UNKNOWN)
    T_TRUE(i.spares_rss_bytes == WARD_UNKNOWN);
  else
    T_TRUE(i.spares_rss_bytes > 0 && i.spares_rss_bytes != WARD_UNKNOWN);
  int mark = tev_mark();
  T_ERR(ward_request(NULL, w, "abort", NULL, 0, 20000), WARD_ECRASHED);
  /* The next call: served, by the spare. */
  T_EQ_INT(tw_call_int(w, "pid"), spare);
  T_EQ_INT(ward_worker_generation(w), 2);
  tev r = tev_wait_from(mark, WARD_EV_RESTARTING, id);
  T_EQ_INT(r.delay_ms, 0);
  tev sp = tev_wait_from(mark, WARD_EV_SPAWNED, id);
  T_EQ_INT(sp.pid, spare);
  T_EQ_INT(sp.generation, 2);
  tev rs = tev_wait_from(mark, WARD_EV_RESTARTED, id);
  T_EQ_INT(rs.pid, spare);
  /* Another spare, a third process. */
  int third = spare_pid(w);
  T_TRUE(third != first && third != spare);
  ward_worker_free(w);
  T_TRUE(gone(spare) && gone(third));
}

/* A spare is the spec's process: its environment, the worker's id and
 * data directory, the generation it takes. */
static void test_spare_follows_spec(void) {
  ward_spec *s = spare_spec("spec-spare", 1);
  T_OK(ward_spec_env(s, "SPARE_MARK", "kept"));
  ward_worker *w = spawn_spec(s);
  char want_id[32], got[256];
  snprintf(want_id, sizeof want_id, "%llu", (unsigned long long)ward_worker_id(w));
  int spare = spare_pid(w);
  T_OK(ward_worker_cycle(w));
  T_EQ_INT(tw_call_int(w, "pid"), spare);
  call_str(w, "env", "SPARE_MARK", got, sizeof got);
  T_EQ_STR(got, "kept");
  call_str(w, "env", "WARD_WORKER_ID", got, sizeof got);
  T_EQ_STR(got, want_id);
  call_str(w, "env", "WARD_DATA_DIR", got, sizeof got);
  T_EQ_STR(got, ward_worker_data_dir(w));
  call_str(w, "env", "WARD_NAME", got, sizeof got);
  T_EQ_STR(got, "spec-spare");
  T_EQ_INT(ward_worker_generation(w), 2);
  ward_worker_free(w);
}

/* A cycle, and a recycle after max requests, take the spare. */
static void test_recycles_take_spare(void) {
  ward_worker *w = spawn_spec(spare_spec("cycle-spare", 1));
  int spare = spare_pid(w);
  T_OK(ward_worker_cycle(w));
  T_EQ_INT(ward_worker_pid(w), spare);
  T_EQ_INT(tw_call_int(w, "pid"), spare);
  ward_worker_free(w);

  ward_spec *s = spare_spec("maxreq-spare", 1);
  T_OK(ward_spec_max_requests(s, 3));
  w = spawn_spec(s);
  int first = ward_worker_pid(w);
  spare = spare_pid(w);
  for (int k = 0; k < 3; k++)
    T_EQ_INT(tw_call_int(w, "pid"), first);
  T_EQ_INT(tw_call_int(w, "pid"), spare);
  ward_worker_free(w);
}

/* A spare that dies while it waits is started again, and the program
 * hears nothing of it; the new one takes over the next crash. */
static void test_spare_death_is_silent(void) {
  ward_spec *s = spare_spec("dying-spare", 1);
  T_OK(ward_spec_backoff(s, 1, 1, 100, 60000));
  ward_worker *w = spawn_spec(s);
  uint64_t id = ward_worker_id(w);
  int spare = spare_pid(w);
  int mark = tev_mark();
  T_TRUE(kill(spare, SIGKILL) == 0);
  T_TRUE(gone(spare));
  int next = spare_pid(w);
  for (int64_t dl = t_now_ms() + 20000; next == spare && t_now_ms() < dl; next = spare_pid(w))
    t_nap_ms(2);
  T_TRUE(next != spare);
  /* Its start came after the dead one was counted out: ready now means
   * the new one is. */
  WAIT_INFO(w, wi.spares_ready == 1);
  T_EQ_INT(tw_info(w).state, WARD_STATE_READY);
  T_EQ_INT(ward_worker_generation(w), 1);
  T_ERR(ward_request(NULL, w, "abort", NULL, 0, 20000), WARD_ECRASHED);
  T_EQ_INT(tw_call_int(w, "pid"), next);
  ward_worker_free(w);
  /* Between the spare's death and the crash: not one event. */
  int crash = tev_find(mark, WARD_EV_EXITED, id);
  T_TRUE(crash >= 0);
  T_EQ_INT(count_events(mark, -1, id) - count_events(crash, -1, id), 0);
}

/* A stop ends the spares with the worker. */
static void test_stop_ends_spares(void) {
  ward_worker *w = spawn_spec(spare_spec("stop-spare", 2));
  WAIT_INFO(w, wi.spares_ready == 2);
  int pids[8];
  int n = pids_of(w, pids, 8);
  T_EQ_INT(n, 3);
  T_OK(ward_worker_stop(w, -1));
  for (int i = 0; i < n; i++)
    T_TRUE(gone(pids[i]));
  T_EQ_INT(tw_info(w).spares_running, 0);
  ward_worker_free(w);
}

/* A pool's option gives each member its spares. */
static void test_pool_spares(void) {
  ward_pool_opts o = WARD_POOL_OPTS_INIT;
  T_EQ_INT(o.spares, -1);
  o.min_workers = o.max_workers = 1;
  o.spares = 1;
  ward_spec *s = tw_spec("pool-spare", "pidlog");
  ward_pool *p;
  T_OK(ward_pool_new(&p, host, s, &o));
  ward_msg *m = NULL;
  T_OK(ward_pool_request(&m, p, "pid", NULL, 0, 20000));
  ward_msg_free(m);
  ward_worker *member;
  T_EQ_INT(ward_pool_workers(&member, 1, p), 1);
  WAIT_INFO(member, wi.spares_ready == 1);
  o.spares = WARD_MAX_SPARES + 1;
  ward_pool *bad;
  T_ERR(ward_pool_new(&bad, host, s, &o), WARD_EINVAL);
  ward_spec_free(s);
  ward_pool_free(p);
}

/* ------------------------------------------------------------------ */
/* Replacement                                                         */

/* A call on a thread of its own: `method` (default "work_notify") with
 * `arg` (default "300"). */
typedef struct tcall {
  ward_worker *w;
  const char *method, *arg;
  int rv;
  char reply[64];
  pthread_t th;
} tcall;

static void *work_main(void *arg) {
  tcall *c = arg;
  const char *method = c->method ? c->method : "work_notify", *a = c->arg ? c->arg : "300";
  ward_msg *m = NULL;
  c->rv = ward_request(&m, c->w, method, a, strlen(a), 20000);
  if (m)
    snprintf(c->reply, sizeof c->reply, "%.*s", (int)ward_msg_len(m),
             (const char *)ward_msg_data(m));
  ward_msg_free(m);
  return NULL;
}

/* A new spec takes over; a call in flight on the old process finishes
 * there; the old process goes. */
static void test_replace(void) {
  ward_worker *w = spawn_spec(tw_spec("replaced", "pidlog"));
  uint64_t id = ward_worker_id(w);
  int old = ward_worker_pid(w);
  tev_hang_reset();
  tcall c = {.w = w, .rv = 1};
  T_TRUE(pthread_create(&c.th, NULL, work_main, &c) == 0);
  tev_wait_hanging(1);
  int mark = tev_mark();
  ward_spec *ns = tw_spec("replaced", "pidlog");
  T_OK(ward_spec_env(ns, "RELEASE", "2"));
  ward_replace_opts o = WARD_REPLACE_OPTS_INIT;
  T_OK(ward_worker_replace(w, ns, &o));
  T_TRUE(pthread_join(c.th, NULL) == 0);
  T_OK(c.rv);
  T_EQ_STR(c.reply, "worked");
  char got[64];
  call_str(w, "env", "RELEASE", got, sizeof got);
  T_EQ_STR(got, "2");
  int now = ward_worker_pid(w);
  T_TRUE(now != old);
  T_TRUE(gone(old));
  T_EQ_INT(ward_worker_generation(w), 2);
  tev sp = tev_wait_from(mark, WARD_EV_SPAWNED, id);
  T_EQ_INT(sp.pid, now);
  /* The old process's end is no event of the program's. */
  T_EQ_INT(count_events(mark, WARD_EV_EXITED, id), 0);
  /* Not a second time at once, nor under another name. */
  ward_spec *other = tw_spec("other-name", "pidlog");
  T_ERR(ward_worker_replace(w, other, NULL), WARD_EINVAL);
  ward_spec_free(other);
  ward_spec_free(ns);
  ward_worker_free(w);
}

/* A new process that cannot start, or dies before its handshake: the old
 * one keeps serving, and the error says why. */
static void test_replace_broken(void) {
  ward_worker *w = spawn_spec(tw_spec("kept", "pidlog"));
  int old = ward_worker_pid(w);
  ward_spec *ns;
  T_OK(ward_spec_new(&ns, "kept", "/nonexistent/ward-new-release"));
  int rv = ward_worker_replace(w, ns, NULL);
  T_TRUE(rv == WARD_ESPAWN || rv == WARD_EHANDSHAKE);
  T_TRUE(strstr(ward_last_error(), "kept") != NULL);
  ward_spec_free(ns);
  T_EQ_INT(tw_call_int(w, "pid"), old);

  ns = tw_spec("kept", "die_saying");
  T_ERR(ward_worker_replace(w, ns, NULL), WARD_EHANDSHAKE);
  if (!strstr(ward_last_error(), "libnope"))
    T_FAIL("want the new process's last words, got: %s", ward_last_error());
  ward_spec_free(ns);
  T_EQ_INT(tw_call_int(w, "pid"), old);
  T_EQ_INT(ward_worker_generation(w), 1);
  T_EQ_INT(tw_info(w).state, WARD_STATE_READY);
  ward_worker_free(w);
}

/* Callers that keep calling while the worker is replaced. */
typedef struct loader {
  ward_worker *w;
  pthread_mutex_t *mu;
  int *stop;
  int calls, failed, last_rv;
  pthread_t th;
} loader;

static void *load_main(void *arg) {
  loader *l = arg;
  for (;;) {
    pthread_mutex_lock(l->mu);
    int stop = *l->stop;
    pthread_mutex_unlock(l->mu);
    if (stop)
      return NULL;
    /* A negative timeout: the spec's, read while the spec changes. */
    int rv = ward_request(NULL, l->w, "echo", "x", 1, -1);
    l->calls++;
    if (rv) {
      l->failed++;
      l->last_rv = rv;
    }
  }
}

/* Four threads call all along a replacement: none of their calls fails. */
static void test_replace_under_load(void) {
  ward_worker *w = spawn_spec(tw_spec("loaded", "pidlog"));
  int old = ward_worker_pid(w);
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  int stop = 0;
  loader l[4];
  for (int i = 0; i < 4; i++) {
    l[i] = (loader){.w = w, .mu = &mu, .stop = &stop};
    T_TRUE(pthread_create(&l[i].th, NULL, load_main, &l[i]) == 0);
  }
  for (int k = 0; k < 2; k++) {
    ward_spec *ns = tw_spec("loaded", "pidlog");
    T_OK(ward_worker_replace(w, ns, NULL));
    ward_spec_free(ns);
    T_TRUE(ward_worker_name(w) && strcmp(ward_worker_name(w), "loaded") == 0);
  }
  pthread_mutex_lock(&mu);
  stop = 1;
  pthread_mutex_unlock(&mu);
  int calls = 0;
  for (int i = 0; i < 4; i++) {
    T_TRUE(pthread_join(l[i].th, NULL) == 0);
    if (l[i].failed)
      T_FAIL("caller %d: %d of %d calls failed, the last %s", i, l[i].failed, l[i].calls,
             ward_err_name(l[i].last_rv));
    calls += l[i].calls;
  }
  T_TRUE(calls > 0);
  T_EQ_INT(ward_worker_generation(w), 3);
  T_TRUE(gone(old));
  ward_worker_free(w);
}

/* With opts->doctor, the new process must pass its doctor first. */
static void test_replace_doctor(void) {
  ward_worker *w = spawn_spec(tw_spec("doctored", "pidlog"));
  int old = ward_worker_pid(w);
  ward_replace_opts o = WARD_REPLACE_OPTS_INIT;
  o.doctor = 1;
  ward_spec *ns = tw_spec("doctored", "pidlog");
  T_OK(ward_spec_env(ns, "DOCTOR_FAIL", "1"));
  T_ERR(ward_worker_replace(w, ns, &o), WARD_EREMOTE);
  if (!strstr(ward_last_error(), "doctor check 'db' failed: unreachable"))
    T_FAIL("want the failed check named, got: %s", ward_last_error());
  ward_spec_free(ns);
  T_EQ_INT(tw_call_int(w, "pid"), old);
  /* tworker.h's doctor warns, and passes. */
  ns = tw_spec("doctored", "pidlog");
  T_OK(ward_worker_replace(w, ns, &o));
  ward_spec_free(ns);
  T_TRUE(tw_call_int(w, "pid") != old);
  T_TRUE(gone(old));
  ward_worker_free(w);
}

/* The worker's log reads on across a replacement: the old process's
 * lines stay, the new one's start-up lines (written before the swap) are
 * the new generation's, a line the old one left partial ends with it, and
 * nothing of one process is glued to a line of the other. */
static void test_replace_keeps_logs(void) {
  ward_spec *s = tw_spec("logged", "pidlog");
  T_OK(ward_spec_env(s, "SAY_UP", "1"));
  ward_worker *w = spawn_spec(s);
  int old = ward_worker_pid(w);
  char line[64], got[64];
  snprintf(line, sizeof line, "up %d", old);
  ward_log_line up_old = wait_line(w, line);
  call_str(w, "say", "before", got, sizeof got);
  ward_log_line before = wait_line(w, "before");
  call_str(w, "say_part", "half", got, sizeof got);
  ward_spec *ns = tw_spec("logged", "pidlog");
  T_OK(ward_spec_env(ns, "SAY_UP", "1"));
  T_OK(ward_worker_replace(w, ns, NULL));
  ward_spec_free(ns);
  int now = ward_worker_pid(w);
  T_TRUE(now != old && gone(old));
  snprintf(line, sizeof line, "up %d", now);
  ward_log_line up_new = wait_line(w, line);
  call_str(w, "say", "after", got, sizeof got);
  ward_log_line after = wait_line(w, "after");
  ward_log_line half = wait_line(w, "half");
  T_EQ_INT(up_old.generation, 1);
  T_EQ_INT(before.generation, 1);
  T_EQ_INT(half.generation, 1);
  T_EQ_INT(up_new.generation, 2);
  T_EQ_INT(after.generation, 2);
  T_TRUE(up_old.seq < before.seq && before.seq < up_new.seq && up_new.seq < after.seq);
  ward_worker_free(w);
}

/* The first LOG event about worker `id` whose text is `text` (waits up
 * to 20 s for each next one). */
static tev log_event(uint64_t id, const char *text) {
  for (int i = tev_wait_idx(0, WARD_EV_LOG, id);; i = tev_wait_idx(i + 1, WARD_EV_LOG, id)) {
    tev e = tev_get(i);
    if (strcmp(e.detail, text) == 0)
      return e;
  }
}

typedef struct {
  ward_worker *w;
  int old;
  const char *flag;
  pthread_t th;
  int rv;
} swap_watch;

/* Creates the file `flag` once the worker's pid is no longer `old`: the
 * replacement's swap is done. */
static void *flag_after_swap(void *arg) {
  swap_watch *s = arg;
  int64_t dl = t_now_ms() + 20000;
  while (ward_worker_pid(s->w) == s->old && t_now_ms() < dl)
    t_nap_ms(2);
  FILE *f = fopen(s->flag, "w");
  s->rv = ward_worker_pid(s->w) != s->old && f ? 0 : -1;
  if (f)
    fclose(f);
  return NULL;
}

/* A LOG event names the process that wrote its line or record, across a
 * replacement: the old process's partial line, moved into the worker's
 * log once it ends, and a record it sends after the swap are the old
 * pid's and generation's; the new process's lines the new one's. */
static void test_replace_log_pids(void) {
  ward_spec *s = tw_spec("log-pids", "pidlog");
  T_OK(ward_spec_log_events(s, 1));
  ward_worker *w = spawn_spec(s);
  uint64_t id = ward_worker_id(w);
  int old = ward_worker_pid(w);
  char got[64], flag[4200];
  snprintf(flag, sizeof flag, "%s/go", ward_worker_data_dir(w));
  call_str(w, "say_part", "half", got, sizeof got);
  tev_hang_reset();
  tcall c = {.w = w, .method = "log_when", .arg = flag, .rv = 1};
  T_TRUE(pthread_create(&c.th, NULL, work_main, &c) == 0);
  tev_wait_hanging(1);
  swap_watch sw = {.w = w, .old = old, .flag = flag, .rv = 1};
  T_TRUE(pthread_create(&sw.th, NULL, flag_after_swap, &sw) == 0);
  ward_spec *ns = tw_spec("log-pids", "pidlog");
  T_OK(ward_spec_log_events(ns, 1));
  T_OK(ward_worker_replace(w, ns, NULL));
  ward_spec_free(ns);
  T_TRUE(pthread_join(sw.th, NULL) == 0);
  T_TRUE(pthread_join(c.th, NULL) == 0);
  T_OK(sw.rv);
  T_OK(c.rv);
  T_EQ_STR(c.reply, "logged");
  int now = ward_worker_pid(w);
  T_TRUE(now != old);
  call_str(w, "say", "after", got, sizeof got);
  tev half = log_event(id, "half"), late = log_event(id, "late"), after = log_event(id, "after");
  T_EQ_INT(half.pid, old);
  T_EQ_INT(half.generation, 1);
  T_EQ_INT(late.pid, old);
  T_EQ_INT(late.generation, 1);
  T_EQ_INT(after.pid, now);
  T_EQ_INT(after.generation, 2);
  ward_worker_free(w);
}

/* What a spare writes while it waits is in the worker's log once it takes
 * over, as the new generation's lines; not before. */
static void test_spare_lines_adopted(void) {
  ward_spec *s = spare_spec("spare-log", 1);
  T_OK(ward_spec_env(s, "SAY_UP", "1"));
  ward_worker *w = spawn_spec(s);
  int first = ward_worker_pid(w);
  char line[64];
  snprintf(line, sizeof line, "up %d", first);
  ward_log_line up_first = wait_line(w, line);
  int spare = spare_pid(w);
  snprintf(line, sizeof line, "up %d", spare);
  ward_log_line *v;
  size_t n;
  T_OK(ward_worker_logs(&v, &n, w, NULL));
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i].text, line) == 0)
      T_FAIL("the spare's line \"%s\" is the worker's before it took over", line);
  ward_log_lines_free(v, n);
  T_ERR(ward_request(NULL, w, "abort", NULL, 0, 20000), WARD_ECRASHED);
  T_EQ_INT(tw_call_int(w, "pid"), spare);
  ward_log_line up_spare = wait_line(w, line);
  T_EQ_INT(up_spare.generation, ward_worker_generation(w));
  T_TRUE(up_spare.seq > up_first.seq);
  ward_worker_free(w);
}

/* ward_worker_take_logs: the lines of one handle go before another's,
 * keeping their numbers; the giver's ring is left empty, its numbering
 * going on. */
static void test_take_logs(void) {
  ward_worker *a = spawn_spec(tw_spec("giver", "pidlog"));
  ward_worker *b = spawn_spec(tw_spec("taker", "pidlog"));
  char got[64];
  call_str(a, "say", "a1", got, sizeof got);
  call_str(a, "say", "a2", got, sizeof got);
  ward_log_line a2 = wait_line(a, "a2");
  call_str(b, "say", "b1", got, sizeof got);
  ward_log_line b1 = wait_line(b, "b1");
  T_EQ_INT(a2.seq, 2);
  T_EQ_INT(b1.seq, 1);
  T_ERR(ward_worker_take_logs(b, b), WARD_EINVAL);
  T_ERR(ward_worker_take_logs(NULL, a), WARD_EINVAL);
  T_OK(ward_worker_take_logs(b, a));
  ward_log_line *v;
  size_t n;
  T_OK(ward_worker_logs(&v, &n, b, NULL));
  T_EQ_INT(n, 3);
  T_EQ_STR(v[0].text, "a1");
  T_EQ_STR(v[1].text, "a2");
  T_EQ_STR(v[2].text, "b1");
  T_EQ_INT(v[1].seq, 2);
  T_EQ_INT(v[2].seq, 3);
  ward_log_lines_free(v, n);
  T_OK(ward_worker_logs(&v, &n, a, NULL));
  T_EQ_INT(n, 0);
  ward_log_lines_free(v, n);
  call_str(a, "say", "a3", got, sizeof got);
  T_EQ_INT(wait_line(a, "a3").seq, 3);
  ward_worker_free(a);
  ward_worker_free(b);
}

/* With spares, a replacement renews them from the new spec. */
static void test_replace_renews_spares(void) {
  ward_worker *w = spawn_spec(spare_spec("renewed", 1));
  int spare = spare_pid(w);
  ward_spec *ns = spare_spec("renewed", 1);
  T_OK(ward_spec_env(ns, "RELEASE", "3"));
  T_OK(ward_worker_replace(w, ns, NULL));
  ward_spec_free(ns);
  T_TRUE(gone(spare));
  int fresh = spare_pid(w);
  T_OK(ward_worker_cycle(w));
  T_EQ_INT(tw_call_int(w, "pid"), fresh);
  char got[64];
  call_str(w, "env", "RELEASE", got, sizeof got);
  T_EQ_STR(got, "3");
  ward_worker_free(w);
}

#define TCASE(f) {#f, f}
typedef struct {
  const char *name;
  void (*fn)(void);
} tcase_;

static const tcase_ cases[] = {
    TCASE(test_no_spares_by_default), TCASE(test_crash_takes_spare),
    TCASE(test_spare_follows_spec),   TCASE(test_recycles_take_spare),
    TCASE(test_spare_death_is_silent), TCASE(test_stop_ends_spares),
    TCASE(test_pool_spares),          TCASE(test_replace),
    TCASE(test_replace_broken),       TCASE(test_replace_doctor),
    TCASE(test_replace_renews_spares), TCASE(test_replace_under_load),
    TCASE(test_replace_keeps_logs),   TCASE(test_replace_log_pids),   TCASE(test_spare_lines_adopted),
    TCASE(test_take_logs),
};

int main(int argc, char **argv) {
  if (argc > 2 && strcmp(argv[1], "--worker") == 0 && strcmp(argv[2], "pidlog") == 0)
    return pidlog_worker(argc, argv);
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  host = tev_host();
  T_OK(ward_host_handle(host, "hanging", tev_on_hanging, NULL));
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    int run = argc < 2;
    for (int a = 1; a < argc; a++)
      run |= strstr(cases[k].name, argv[a]) != NULL;
    if (!run)
      continue;
    fprintf(stderr, "-- %s\n", cases[k].name);
    cases[k].fn();
    t__passed++;
  }
  ward_host_free(host);
  T_EQ_INT(tev_dropped, 0);
  return t_done();
}
