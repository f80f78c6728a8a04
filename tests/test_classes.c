/*
 * test_classes.c — process classes: the table, how a spec takes it
 * (explicit setters win in any order), the priorities a process gets (a
 * nice value and an I/O priority; on Windows a priority class), lazy
 * starts, the class in events and information, and the copies of the
 * tables in docs/api.md and docs/platforms.md.
 */
#ifdef _WIN32
#include "win/win.h" /* the priority classes' table */
#else
#include <sys/resource.h>
#include <sys/syscall.h>
#endif

#include "host_int.h"
#include "tdoc.h"
#include "tevents.h"
#include "tworker.h"

/* ------------------------------------------------------------------ */
/* The table                                                           */

static ward_class_info defaults_of(int cls) {
  ward_class_info c = WARD_CLASS_INFO_INIT;
  T_OK(ward_class_defaults(&c, cls));
  return c;
}

/* The worker row is ward.h's defaults: a spec that never names a class
 * behaves as before classes. */
static void test_worker_row_is_the_defaults(void) {
  ward_class_info c = defaults_of(WARD_CLASS_WORKER);
  T_EQ_INT(c.restart, WARD_RESTART_DEFAULT);
  T_EQ_INT(c.intensity, WARD_INTENSITY_DEFAULT);
  T_EQ_INT(c.period_ms, WARD_INTENSITY_PERIOD_MS_DEFAULT);
  T_EQ_INT(c.heartbeat_ms, 0);
  T_EQ_INT(c.heartbeat_misses, WARD_HEARTBEAT_MISSES_DEFAULT);
  T_EQ_INT(c.nice, 0);
  T_EQ_INT(c.io_level, WARD_IO_INHERIT);
  T_TRUE(c.memory_soft == 0 && c.memory_hard == 0);
  T_EQ_INT(c.sandboxed, 0);
  T_EQ_INT(c.lazy, 0);
  T_EQ_INT(c.idle_ms, 0);
  ward_spec *s = tw_spec("plain", "serve");
  T_EQ_INT(s->proc_class, WARD_CLASS_WORKER);
  T_EQ_INT(s->nice, 0);
  T_EQ_INT(s->io_level, WARD_IO_INHERIT);
  T_EQ_INT(s->lazy, 0);
  ward_spec_free(s);
}

static void test_names_and_bad_values(void) {
  static const char *const names[] = {"worker", "ui", "media", "extension"};
  for (int i = 0; i < WARD_CLASS_COUNT; i++) {
    T_EQ_STR(ward_class_name(i), names[i]);
    T_EQ_INT(ward_class_from_name(names[i]), i);
  }
  T_EQ_STR(ward_class_name(WARD_CLASS_COUNT), "unknown");
  T_ERR(ward_class_from_name("daemon"), WARD_EINVAL);
  T_ERR(ward_class_from_name(NULL), WARD_EINVAL);
  ward_class_info c = WARD_CLASS_INFO_INIT;
  T_ERR(ward_class_defaults(&c, -1), WARD_EINVAL);
  T_ERR(ward_class_defaults(&c, WARD_CLASS_COUNT), WARD_EINVAL);
  T_ERR(ward_class_defaults(NULL, WARD_CLASS_UI), WARD_EINVAL);
  ward_class_info zero = {0};
  T_ERR(ward_class_defaults(&zero, WARD_CLASS_UI), WARD_EINVAL);
  ward_spec *s = tw_spec("bad", "serve");
  T_ERR(ward_spec_class(s, 9), WARD_EINVAL);
  T_ERR(ward_spec_priority(s, 20, 0), WARD_EINVAL);
  T_ERR(ward_spec_priority(s, 0, 8), WARD_EINVAL);
  T_ERR(ward_spec_priority(s, 0, -2), WARD_EINVAL);
  T_ERR(ward_spec_class(NULL, WARD_CLASS_UI), WARD_EINVAL);
  ward_spec_free(s);
}

/* An older caller's struct (the first fields alone) gets those alone. */
static void test_older_struct(void) {
  struct {
    uint32_t struct_size;
    int restart;
    int intensity;
    unsigned char after[64];
  } old;
  memset(&old, 0xA5, sizeof old);
  old.struct_size = (uint32_t)offsetof(ward_class_info, period_ms);
  T_OK(ward_class_defaults((ward_class_info *)(void *)&old, WARD_CLASS_EXTENSION));
  T_EQ_INT(old.intensity, 3);
  for (size_t i = 0; i < sizeof old.after; i++)
    T_EQ_INT(old.after[i], 0xA5);
}

/* ------------------------------------------------------------------ */
/* A spec takes its class                                              */

static void test_class_applies(void) {
  ward_spec *s = tw_spec("ext", "serve");
  T_OK(ward_spec_class(s, WARD_CLASS_EXTENSION));
  ward_class_info c = defaults_of(WARD_CLASS_EXTENSION);
  T_EQ_INT(s->proc_class, WARD_CLASS_EXTENSION);
  T_EQ_INT(s->policy.restart, c.restart);
  T_EQ_INT(s->policy.intensity, c.intensity);
  T_EQ_INT(s->policy.period_ms, c.period_ms);
  T_EQ_INT(s->heartbeat_ms, c.heartbeat_ms);
  T_EQ_INT(s->nice, c.nice);
  T_EQ_INT(s->io_level, c.io_level);
  T_TRUE(s->mem_hard == c.memory_hard);
  T_EQ_INT(s->sandboxed, 1);
  T_TRUE(s->sandbox != NULL); /* the sandbox's defaults, best effort */
  T_EQ_INT(s->lazy, 1);
  T_EQ_INT(s->idle_ms, c.idle_ms);
  /* Back to worker: the worker's values again. */
  T_OK(ward_spec_class(s, WARD_CLASS_WORKER));
  T_EQ_INT(s->policy.intensity, WARD_INTENSITY_DEFAULT);
  T_EQ_INT(s->heartbeat_ms, 0);
  T_EQ_INT(s->lazy, 0);
  T_EQ_INT(s->sandboxed, 0);
  T_TRUE(s->sandbox == NULL);
  T_TRUE(s->mem_hard == 0);
  ward_spec_free(s);
}

/* Explicit settings win, before the class or after it. */
static void test_explicit_wins_in_any_order(void) {
  for (int before = 0; before < 2; before++) {
    ward_spec *s = tw_spec("ext", "serve");
    if (!before)
      T_OK(ward_spec_class(s, WARD_CLASS_EXTENSION));
    T_OK(ward_spec_restart(s, WARD_RESTART_NEVER));
    T_OK(ward_spec_intensity(s, 9, 1234));
    T_OK(ward_spec_heartbeat(s, 0, 2));
    T_OK(ward_spec_memory_limit(s, 0, 0, 0));
    T_OK(ward_spec_idle_timeout(s, 0));
    T_OK(ward_spec_priority(s, 3, 2));
    T_OK(ward_spec_lazy(s, 0));
    T_OK(ward_spec_sandbox(s, NULL)); /* none, whatever the class says */
    if (before)
      T_OK(ward_spec_class(s, WARD_CLASS_EXTENSION));
    T_EQ_INT(s->policy.restart, WARD_RESTART_NEVER);
    T_EQ_INT(s->policy.intensity, 9);
    T_EQ_INT(s->policy.period_ms, 1234);
    T_EQ_INT(s->heartbeat_ms, 0);
    T_EQ_INT(s->heartbeat_misses, 2);
    T_TRUE(s->mem_hard == 0);
    T_EQ_INT(s->idle_ms, 0);
    T_EQ_INT(s->nice, 3);
    T_EQ_INT(s->io_level, 2);
    T_EQ_INT(s->lazy, 0);
    T_TRUE(s->sandbox == NULL);
    /* A copy (what a worker keeps) keeps it all. */
    ward_spec *d = ward__spec_dup(s);
    T_TRUE(d != NULL);
    T_EQ_INT(d->nice, 3);
    T_EQ_INT(d->proc_class, WARD_CLASS_EXTENSION);
    ward_spec_free(d);
    ward_spec_free(s);
  }
}

/* ------------------------------------------------------------------ */
/* Real processes                                                      */

static ward_worker *start(ward_host *h, int cls, int lazy) {
  ward_spec *s = tw_spec(ward_class_name(cls), "serve");
  T_OK(ward_spec_class(s, cls));
  T_OK(ward_spec_lazy(s, lazy));
  ward_worker *w;
  T_OK(ward_spawn(&w, h, s));
  ward_spec_free(s);
  return w;
}

#ifdef _WIN32
/* The priority class of process `pid`. */
static DWORD class_of(int pid) {
  HANDLE p = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
  T_TRUE(p != NULL);
  DWORD c = GetPriorityClass(p);
  CloseHandle(p);
  return c;
}

/* With the host in class `host`, each class's worker is in the class its
 * nice value, added to the host's, stands for. */
static void classes_under(DWORD host, DWORD ext, DWORD media, DWORD plain) {
  T_TRUE(SetPriorityClass(GetCurrentProcess(), host));
  ward_host *h = tev_host();
  ward_worker *e = start(h, WARD_CLASS_EXTENSION, 0);
  ward_worker *m = start(h, WARD_CLASS_MEDIA, 0);
  ward_worker *p = start(h, WARD_CLASS_WORKER, 0);
  T_EQ_INT(class_of(ward_worker_pid(e)), ext);
  T_EQ_INT(class_of(ward_worker_pid(m)), media);
  T_EQ_INT(class_of(ward_worker_pid(p)), plain);
  ward_worker_free(e);
  ward_worker_free(m);
  ward_worker_free(p);
  ward_host_free(h);
}

/* Windows has priority classes where POSIX has nice values
 * (docs/platforms.md): the extension's +10 is below normal, the media's
 * -5 above, from a host of the normal class; from one below normal, the
 * extension goes idle. */
static void test_nice_in_the_process(void) {
  DWORD was = GetPriorityClass(GetCurrentProcess());
  classes_under(NORMAL_PRIORITY_CLASS, BELOW_NORMAL_PRIORITY_CLASS, ABOVE_NORMAL_PRIORITY_CLASS,
                NORMAL_PRIORITY_CLASS);
  classes_under(BELOW_NORMAL_PRIORITY_CLASS, IDLE_PRIORITY_CLASS, NORMAL_PRIORITY_CLASS,
                BELOW_NORMAL_PRIORITY_CLASS);
  T_TRUE(SetPriorityClass(GetCurrentProcess(), was));
}

static const char *class_name(DWORD c) {
  switch (c) {
  case REALTIME_PRIORITY_CLASS: return "REALTIME_PRIORITY_CLASS";
  case HIGH_PRIORITY_CLASS: return "HIGH_PRIORITY_CLASS";
  case ABOVE_NORMAL_PRIORITY_CLASS: return "ABOVE_NORMAL_PRIORITY_CLASS";
  case NORMAL_PRIORITY_CLASS: return "NORMAL_PRIORITY_CLASS";
  case BELOW_NORMAL_PRIORITY_CLASS: return "BELOW_NORMAL_PRIORITY_CLASS";
  case IDLE_PRIORITY_CLASS: return "IDLE_PRIORITY_CLASS";
  default: return "?";
  }
}

/* docs/platforms.md's table of nice values and priority classes is the
 * backend's (src/win/spawn.c): a row for each run of nice values with
 * one class, and the real-time class, never given. */
static void test_docs_quote_the_priority_classes(void) {
  char *doc = t_read_doc("docs/platforms.md");
  char row[256];
  for (int lo = -20, hi; lo <= 19; lo = hi + 1) {
    DWORD c = ward__win_priority_class(lo);
    for (hi = lo; hi < 19 && ward__win_priority_class(hi + 1) == c; hi++)
      ;
    if (hi > lo)
      snprintf(row, sizeof row, "| %d to %d | `%s` | %d |\n", lo, hi, class_name(c),
               ward__win_class_nice(c));
    else
      snprintf(row, sizeof row, "| %d | `%s` | %d |\n", lo, class_name(c),
               ward__win_class_nice(c));
    if (!strstr(doc, row))
      T_FAIL("docs/platforms.md lacks the row the backend has: %s", row);
  }
  snprintf(row, sizeof row, "| never | `%s` | %d |\n", class_name(REALTIME_PRIORITY_CLASS),
           ward__win_class_nice(REALTIME_PRIORITY_CLASS));
  if (!strstr(doc, row))
    T_FAIL("docs/platforms.md lacks the row the backend has: %s", row);
  free(doc);
}
#else
/* Field 19 of /proc/PID/stat. */
static int nice_of(int pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  T_TRUE(f != NULL);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  T_TRUE(p != NULL);
  p += 2;
  for (int field = 3; field < 19; field++) {
    p = strchr(p, ' ');
    T_TRUE(p != NULL);
    p++;
  }
  return atoi(p);
}

static int ioprio_of(int pid) { return (int)syscall(SYS_ioprio_get, 1, pid); }

/* The nice value, on every backend. */
static void test_nice_in_the_process(void) {
  ward_host *h = tev_host();
  errno = 0;
  int host_nice = getpriority(PRIO_PROCESS, 0);
  ward_worker *ext = start(h, WARD_CLASS_EXTENSION, 0);
  ward_worker *media = start(h, WARD_CLASS_MEDIA, 0);
  ward_worker *plain = start(h, WARD_CLASS_WORKER, 0);
  int want = host_nice + 10 > 19 ? 19 : host_nice + 10;
  T_EQ_INT(nice_of(ward_worker_pid(ext)), want);
  /* A raise is given where the host may give it, else left out. */
  T_TRUE(nice_of(ward_worker_pid(media)) <= host_nice);
  T_EQ_INT(nice_of(ward_worker_pid(plain)), host_nice);
  ward_worker_free(ext);
  ward_worker_free(media);
  ward_worker_free(plain);
  ward_host_free(h);
}

/* The I/O priority: Linux's ioprio_set (skipped on the posix backend). */
static void test_io_priority_in_the_process(void) {
  ward_host *h = tev_host();
  ward_worker *ext = start(h, WARD_CLASS_EXTENSION, 0);
  ward_worker *media = start(h, WARD_CLASS_MEDIA, 0);
  ward_worker *plain = start(h, WARD_CLASS_WORKER, 0);
  T_EQ_INT(ioprio_of(ward_worker_pid(ext)), (2 << 13) | 7);
  T_EQ_INT(ioprio_of(ward_worker_pid(media)), (2 << 13) | 0);
  T_EQ_INT(ioprio_of(ward_worker_pid(plain)), ioprio_of(getpid()));
  ward_worker_free(ext);
  ward_worker_free(media);
  ward_worker_free(plain);
  ward_host_free(h);
}
#endif

/* The class is in every event and in ward_worker_info. */
static void test_class_reported(void) {
  ward_host *h = tev_host();
  int mark = tev_mark();
  ward_worker *w = start(h, WARD_CLASS_UI, 0);
  tev ready = tev_wait_from(mark, WARD_EV_READY, ward_worker_id(w));
  T_EQ_INT(ready.proc_class, WARD_CLASS_UI);
  ward_info info = WARD_INFO_INIT;
  T_OK(ward_worker_info(&info, w));
  T_EQ_INT(info.proc_class, WARD_CLASS_UI);
  ward_worker_free(w);
  ward_host_free(h);
}

/* A lazy worker has no process until a call wants one. */
static void test_lazy_start(void) {
  ward_host *h = tev_host();
  int mark = tev_mark();
  ward_worker *w = start(h, WARD_CLASS_EXTENSION, 1);
  ward_info info = WARD_INFO_INIT;
  T_OK(ward_worker_info(&info, w));
  T_EQ_INT(info.state, WARD_STATE_IDLE);
  T_EQ_INT(info.pid, 0);
  T_EQ_INT(info.generation, 0);
  T_EQ_INT(tev_count_from(mark, WARD_EV_SPAWNED, ward_worker_id(w)), 0);
  ward_msg *r;
  T_OK(ward_request(&r, w, "echo", "hi", 2, 20000));
  T_EQ_MEM(ward_msg_data(r), "hi", 2);
  ward_msg_free(r);
  T_OK(ward_worker_info(&info, w));
  T_EQ_INT(info.state, WARD_STATE_READY);
  T_TRUE(info.pid > 0);
  T_EQ_INT(info.generation, 1);
  /* Started as an idle worker is woken (api.md 7). */
  tev_wait_from(mark, WARD_EV_RESTARTED, ward_worker_id(w));
  ward_worker_free(w);
  ward_host_free(h);
}

/* ------------------------------------------------------------------ */
/* docs/api.md 4.12                                                    */

static const char *restart_text(int r) {
  return r == WARD_RESTART_ALWAYS ? "always" : r == WARD_RESTART_NEVER ? "never" : "on-failure";
}

static void mem_text(uint64_t b, char *buf, size_t cap) {
  if (!b)
    snprintf(buf, cap, "none");
  else
    snprintf(buf, cap, "%llu MiB", (unsigned long long)(b >> 20));
}

static void test_docs_quote_the_table(void) {
  /* Line breaks are the table's own: squashing (tdoc.h) is not wanted. */
  (void)t_squash;
  char *api = t_read_doc("docs/api.md");
  const char *sect = strstr(api, "### 4.12 Process classes");
  T_TRUE(sect != NULL);
  for (int i = 0; i < WARD_CLASS_COUNT; i++) {
    ward_class_info c = defaults_of(i);
    char hb[64], io[16], soft[32], hard[32], idle[32], row[512];
    if (c.heartbeat_ms)
      snprintf(hb, sizeof hb, "%d ms, %d misses", c.heartbeat_ms, c.heartbeat_misses);
    else
      snprintf(hb, sizeof hb, "off");
    if (c.io_level == WARD_IO_INHERIT)
      snprintf(io, sizeof io, "inherit");
    else
      snprintf(io, sizeof io, "%d", c.io_level);
    mem_text(c.memory_soft, soft, sizeof soft);
    mem_text(c.memory_hard, hard, sizeof hard);
    if (c.idle_ms)
      snprintf(idle, sizeof idle, "%d ms", c.idle_ms);
    else
      snprintf(idle, sizeof idle, "never");
    snprintf(row, sizeof row,
             "\n| `%s` | %s | %d in %d ms | %s | %+d | %s | %s, %s | %s | %s | %s |\n",
             ward_class_name(i), restart_text(c.restart), c.intensity, c.period_ms, hb, c.nice,
             io, soft, hard, c.sandboxed ? "yes" : "no", c.lazy ? "yes" : "no", idle);
    if (!strstr(sect, row))
      T_FAIL("docs/api.md 4.12 lacks the row the library has:%s", row);
  }
  free(api);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
  T_RUN(test_worker_row_is_the_defaults);
  T_RUN(test_names_and_bad_values);
  T_RUN(test_older_struct);
  T_RUN(test_class_applies);
  T_RUN(test_explicit_wins_in_any_order);
  T_RUN(test_nice_in_the_process);
#ifdef _WIN32
  /* No I/O priority: Windows has no documented way to set another
   * process's (docs/platforms.md). */
  T_RUN(test_docs_quote_the_priority_classes);
#else
  T_RUN(test_io_priority_in_the_process);
#endif
  T_RUN(test_class_reported);
  T_RUN(test_lazy_start);
  T_RUN(test_docs_quote_the_table);
  return t_done();
}
