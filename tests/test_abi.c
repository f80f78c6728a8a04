/*
 * test_abi.c — the structs a caller allocates carry their size, and ward
 * reads and writes no byte past it.
 *
 * A program built against an older ward.h hands ward smaller structs than
 * the library's own. Such a caller is written here by hand: each old_*
 * struct holds the leading fields of today's struct, and lies in memory
 * right before bytes of a known pattern. Options ward must not read there
 * are garbage that would show if read (a generation to pin the call to,
 * callbacks at wild addresses, a pool maximum below its minimum...);
 * figures ward must not write there are a canary checked afterwards. The
 * other way round, a caller newer than the library passes a bigger struct,
 * whose fields the library does not know are left alone.
 *
 * At the top, the layouts as released: a change to ward.h that moves a
 * field of a struct callers allocate fails to build here.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>

#include "tworker.h"

/* ------------------------------------------------------------------ */
/* The released layouts                                                */

/* Field `f` lies at the same place, with the same size, in both. */
#define SAME(t, m, f)                                                        \
  _Static_assert(offsetof(t, f) == offsetof(m, f) &&                         \
                     sizeof(((t *)0)->f) == sizeof(((m *)0)->f),             \
                 #t "." #f " moved")

/* Structs with a size: they may grow at their end, never change before
 * it. A field added later must start at or past the sizeof of the layout
 * kept here (add a line saying so with the field). */
typedef struct {
  uint32_t struct_size;
  ward_event_cb on_event;
  void *event_ud;
  uint32_t max_frame;
  int external_loop;
} rel_host_opts;
SAME(ward_host_opts, rel_host_opts, struct_size);
SAME(ward_host_opts, rel_host_opts, on_event);
SAME(ward_host_opts, rel_host_opts, event_ud);
SAME(ward_host_opts, rel_host_opts, max_frame);
SAME(ward_host_opts, rel_host_opts, external_loop);
_Static_assert(sizeof(ward_host_opts) >= sizeof(rel_host_opts), "ward_host_opts shrank");
/* Added after it (process trees): past its old end. */
_Static_assert(offsetof(ward_host_opts, cgroup) >= sizeof(rel_host_opts),
               "ward_host_opts.cgroup in the tail");

typedef struct {
  uint32_t struct_size;
  int timeout_ms;
  int encoding;
  void (*on_progress)(const void *, size_t, void *);
  void (*on_row)(const char *, uint64_t, const void *, size_t, void *);
  void (*on_diag)(int, const char *, const char *, void *);
  void *ud;
  uint32_t generation;
  int window_bytes;
  ward_summary *summary;
} rel_call_opts;
SAME(ward_call_opts, rel_call_opts, struct_size);
SAME(ward_call_opts, rel_call_opts, timeout_ms);
SAME(ward_call_opts, rel_call_opts, encoding);
SAME(ward_call_opts, rel_call_opts, on_progress);
SAME(ward_call_opts, rel_call_opts, on_row);
SAME(ward_call_opts, rel_call_opts, on_diag);
SAME(ward_call_opts, rel_call_opts, ud);
SAME(ward_call_opts, rel_call_opts, generation);
SAME(ward_call_opts, rel_call_opts, window_bytes);
SAME(ward_call_opts, rel_call_opts, summary);
_Static_assert(sizeof(ward_call_opts) >= sizeof(rel_call_opts), "ward_call_opts shrank");
/* Added after it (batched rows): past its old end. */
_Static_assert(offsetof(ward_call_opts, on_rows) >= sizeof(rel_call_opts),
               "ward_call_opts.on_rows in the tail");

typedef struct {
  uint32_t struct_size;
  int streams;
  size_t last;
  int64_t since_ms;
  uint64_t after_seq;
  size_t limit;
  int min_level;
  uint32_t call_id;
} rel_log_query;
SAME(ward_log_query, rel_log_query, struct_size);
SAME(ward_log_query, rel_log_query, streams);
SAME(ward_log_query, rel_log_query, last);
SAME(ward_log_query, rel_log_query, since_ms);
SAME(ward_log_query, rel_log_query, after_seq);
SAME(ward_log_query, rel_log_query, limit);
SAME(ward_log_query, rel_log_query, min_level);
SAME(ward_log_query, rel_log_query, call_id);
_Static_assert(sizeof(ward_log_query) >= sizeof(rel_log_query), "ward_log_query shrank");

typedef struct {
  uint32_t struct_size;
  int min_workers;
  int max_workers;
  int idle_ms;
} rel_pool_opts;
SAME(ward_pool_opts, rel_pool_opts, struct_size);
SAME(ward_pool_opts, rel_pool_opts, min_workers);
SAME(ward_pool_opts, rel_pool_opts, max_workers);
SAME(ward_pool_opts, rel_pool_opts, idle_ms);
_Static_assert(sizeof(ward_pool_opts) >= sizeof(rel_pool_opts), "ward_pool_opts shrank");
/* Added after idle_ms (spares): past that layout's end. */
_Static_assert(offsetof(ward_pool_opts, spares) >= sizeof(rel_pool_opts),
               "ward_pool_opts.spares in the tail");

typedef struct {
  uint32_t struct_size;
  int ready_ms;
  int drain_ms;
  int doctor;
} rel_replace_opts;
SAME(ward_replace_opts, rel_replace_opts, struct_size);
SAME(ward_replace_opts, rel_replace_opts, ready_ms);
SAME(ward_replace_opts, rel_replace_opts, drain_ms);
SAME(ward_replace_opts, rel_replace_opts, doctor);
_Static_assert(sizeof(ward_replace_opts) >= sizeof(rel_replace_opts),
               "ward_replace_opts shrank");

typedef struct {
  uint32_t struct_size;
  int pid;
  int state;
  uint32_t generation;
  uint32_t restarts;
  int last_exit_code;
  int last_signal;
  int last_reason;
  int last_stop;
  int64_t start_time_ms;
  uint64_t rss_bytes;
  uint64_t cpu_ms;
  uint64_t calls_served;
  uint32_t calls_in_flight;
} rel_info;
SAME(ward_info, rel_info, struct_size);
SAME(ward_info, rel_info, pid);
SAME(ward_info, rel_info, state);
SAME(ward_info, rel_info, generation);
SAME(ward_info, rel_info, restarts);
SAME(ward_info, rel_info, last_exit_code);
SAME(ward_info, rel_info, last_signal);
SAME(ward_info, rel_info, last_reason);
SAME(ward_info, rel_info, last_stop);
SAME(ward_info, rel_info, start_time_ms);
SAME(ward_info, rel_info, rss_bytes);
SAME(ward_info, rel_info, cpu_ms);
SAME(ward_info, rel_info, calls_served);
SAME(ward_info, rel_info, calls_in_flight);
_Static_assert(sizeof(ward_info) >= sizeof(rel_info), "ward_info shrank");
/* Added after it (the sandbox): past its old end. */
_Static_assert(offsetof(ward_info, sandbox) >= sizeof(rel_info), "ward_info.sandbox in the tail");
/* Added after the sandbox's fields: past that layout's end (sandbox at
 * 8 bytes, then landlock_abi and its tail padding). */
_Static_assert(offsetof(ward_info, proc_class) >=
                   offsetof(ward_info, sandbox) + sizeof(uint64_t) + 2 * sizeof(int),
               "ward_info.proc_class in the tail");
/* Added after proc_class (process trees): past that layout's end, the
 * struct's size with proc_class last and its tail padding. */
typedef struct {
  uint32_t struct_size;
  int pid, state;
  uint32_t generation, restarts;
  int last_exit_code, last_signal, last_reason, last_stop;
  int64_t start_time_ms;
  uint64_t rss_bytes, cpu_ms, calls_served;
  uint32_t calls_in_flight;
  uint64_t sandbox;
  int landlock_abi, reserved_, proc_class;
} class_info_layout;
SAME(ward_info, class_info_layout, proc_class);
_Static_assert(offsetof(ward_info, tree) >= sizeof(class_info_layout), "ward_info.tree in the tail");
/* Added after oom_kills (spares): past that layout's end, which had no
 * tail padding (oom_kills closed an 8-byte unit). */
_Static_assert(offsetof(ward_info, spares_ready) >= offsetof(ward_info, oom_kills) + sizeof(uint32_t),
               "ward_info.spares_ready in the tail");
_Static_assert((offsetof(ward_info, oom_kills) + sizeof(uint32_t)) % 8 == 0,
               "the layout before spares ended without padding");

typedef struct {
  uint32_t struct_size;
  size_t workers;
  size_t busy;
  uint64_t calls;
  uint64_t failures;
  uint64_t grown;
  uint64_t shrunk;
  uint64_t replaced;
} rel_pool_stats;
SAME(ward_pool_stats, rel_pool_stats, struct_size);
SAME(ward_pool_stats, rel_pool_stats, workers);
SAME(ward_pool_stats, rel_pool_stats, busy);
SAME(ward_pool_stats, rel_pool_stats, calls);
SAME(ward_pool_stats, rel_pool_stats, failures);
SAME(ward_pool_stats, rel_pool_stats, grown);
SAME(ward_pool_stats, rel_pool_stats, shrunk);
SAME(ward_pool_stats, rel_pool_stats, replaced);
_Static_assert(sizeof(ward_pool_stats) >= sizeof(rel_pool_stats), "ward_pool_stats shrank");

typedef struct {
  uint32_t struct_size;
  uint64_t rows;
  uint64_t row_bytes;
  uint64_t progress;
  uint64_t diagnostics;
  int64_t elapsed_us;
  size_t nstreams;
  ward_stream_count *streams;
} rel_summary;
SAME(ward_summary, rel_summary, struct_size);
SAME(ward_summary, rel_summary, rows);
SAME(ward_summary, rel_summary, row_bytes);
SAME(ward_summary, rel_summary, progress);
SAME(ward_summary, rel_summary, diagnostics);
SAME(ward_summary, rel_summary, elapsed_us);
SAME(ward_summary, rel_summary, nstreams);
SAME(ward_summary, rel_summary, streams);
_Static_assert(sizeof(ward_summary) >= sizeof(rel_summary), "ward_summary shrank");

/* Array elements: indexed with the caller's sizeof, so they never change
 * at all. */
typedef struct {
  const void *data;
  size_t len;
} rel_row;
SAME(ward_row, rel_row, data);
SAME(ward_row, rel_row, len);
_Static_assert(sizeof(ward_row) == sizeof(rel_row), "ward_row changed");

typedef struct {
  uint64_t seq;
  int64_t time_ms;
  int stream;
  uint32_t generation;
  int flags;
  const char *text;
  size_t len;
} rel_log_line;
SAME(ward_log_line, rel_log_line, seq);
SAME(ward_log_line, rel_log_line, time_ms);
SAME(ward_log_line, rel_log_line, stream);
SAME(ward_log_line, rel_log_line, generation);
SAME(ward_log_line, rel_log_line, flags);
SAME(ward_log_line, rel_log_line, text);
SAME(ward_log_line, rel_log_line, len);
_Static_assert(sizeof(ward_log_line) == sizeof(rel_log_line), "ward_log_line changed");

typedef struct {
  char name[WARD_MAX_NAME + 1];
  uint64_t rows;
  uint64_t bytes;
} rel_stream_count;
SAME(ward_stream_count, rel_stream_count, name);
SAME(ward_stream_count, rel_stream_count, rows);
SAME(ward_stream_count, rel_stream_count, bytes);
_Static_assert(sizeof(ward_stream_count) == sizeof(rel_stream_count),
               "ward_stream_count changed");

typedef struct {
  const char *name;
  int status;
  const char *message;
} rel_check;
SAME(ward_check, rel_check, name);
SAME(ward_check, rel_check, status);
SAME(ward_check, rel_check, message);
_Static_assert(sizeof(ward_check) == sizeof(rel_check), "ward_check changed");

/* ------------------------------------------------------------------ */
/* An older caller: leading fields only, then bytes of a known pattern */

#define PATTERN 0xA5
#define AFTER 256 /* bytes of the pattern after a struct */

typedef struct {
  uint32_t struct_size;
  int pid;
  int state;
  uint32_t generation;
} old_info;
SAME(ward_info, old_info, generation);

typedef struct {
  uint32_t struct_size;
  size_t workers;
} old_pool_stats;
SAME(ward_pool_stats, old_pool_stats, workers);

typedef struct {
  uint32_t struct_size;
  uint64_t rows;
  uint64_t row_bytes;
} old_summary;
SAME(ward_summary, old_summary, row_bytes);

typedef struct {
  uint32_t struct_size;
  int timeout_ms;
  int encoding;
} old_call_opts;
SAME(ward_call_opts, old_call_opts, encoding);

typedef struct {
  uint32_t struct_size;
  ward_event_cb on_event;
  void *event_ud;
} old_host_opts;
SAME(ward_host_opts, old_host_opts, event_ud);

typedef struct {
  uint32_t struct_size;
  int streams;
} old_log_query;
SAME(ward_log_query, old_log_query, streams);

typedef struct {
  uint32_t struct_size;
  int min_workers;
} old_pool_opts;
SAME(ward_pool_opts, old_pool_opts, min_workers);

/* A caller newer than the library: one field more than we know, then
 * the bytes after its struct. */
typedef struct {
  ward_info s;
  uint64_t later;
  unsigned char after[AFTER];
} newer_info;

typedef struct {
  ward_call_opts s;
  uint64_t later;
  unsigned char after[AFTER];
} newer_call_opts;

/* An old struct and what follows it in memory, aligned as strictly as
 * the library's own struct would be. */
#define BOXED(type)            \
  struct {                     \
    _Alignas(16) type s;       \
    unsigned char after[AFTER]; \
  }

/* Fills the whole box with the pattern, then sets the struct's size. */
#define BOX_INIT(box, size)                         \
  do {                                              \
    memset(&(box), PATTERN, sizeof(box));           \
    (box).s.struct_size = (uint32_t)(size);         \
  } while (0)

static int is_pattern(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != PATTERN)
      return 0;
  return 1;
}

/* Nothing after the struct was written. */
#define T_UNTOUCHED(box) T_TRUE(is_pattern((box).after, AFTER))

/* The error named the struct and what to do. */
static void expect_sentence(const char *a, const char *b) {
  const char *e = ward_last_error();
  if (!strstr(e, a) || !strstr(e, b))
    T_FAIL("ward_last_error() = \"%s\": want \"%s\" and \"%s\" in it", e, a, b);
}

static ward_host *host;

static ward_worker *spawn(const char *name) {
  ward_spec *s = tw_spec(name, "serve");
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  return w;
}

static uint64_t served(const ward_worker *w) {
  ward_info in = WARD_INFO_INIT;
  T_OK(ward_worker_info(&in, w));
  return in.calls_served;
}

/* ------------------------------------------------------------------ */
/* Figures                                                             */

static void test_info(void) {
  ward_worker *w = spawn("info");
  BOXED(old_info) old;
  BOX_INIT(old, sizeof old.s);
  T_OK(ward_worker_info((ward_info *)&old.s, w));
  T_EQ_INT(old.s.struct_size, sizeof(old_info));
  T_EQ_INT(old.s.pid, ward_worker_pid(w));
  T_EQ_INT(old.s.state, WARD_STATE_READY);
  T_EQ_INT(old.s.generation, 1);
  T_UNTOUCHED(old);

  /* A caller newer than the library: its later field is not ours. */
  newer_info newer;
  BOX_INIT(newer, offsetof(newer_info, after));
  T_OK(ward_worker_info(&newer.s, w));
  T_EQ_INT(newer.s.pid, ward_worker_pid(w));
  T_EQ_INT(newer.s.calls_in_flight, 0);
  T_EQ_INT(newer.s.last_stop, WARD_STOP_NONE);
  T_TRUE(is_pattern(&newer.later, sizeof newer.later));
  T_UNTOUCHED(newer);
  ward_worker_free(w);
}

static void test_pool_figures_and_options(void) {
  /* Old pool options: past min_workers lie a negative maximum and a
   * negative idle time (WARD_EINVAL if read). */
  BOXED(old_pool_opts) po;
  BOX_INIT(po, sizeof po.s);
  po.s.min_workers = 2;
  ward_spec *s = tw_spec("pooled", "serve");
  ward_pool *pool;
  T_OK(ward_pool_new(&pool, host, s, (const ward_pool_opts *)&po.s));
  ward_spec_free(s);
  T_UNTOUCHED(po);

  BOXED(old_pool_stats) st;
  BOX_INIT(st, sizeof st.s);
  T_OK(ward_pool_info((ward_pool_stats *)&st.s, pool));
  T_EQ_INT(st.s.workers, 2);
  T_UNTOUCHED(st);

  /* Old call options through the pool: past the encoding lies a
   * generation to pin the call to (WARD_ESTALE if read). */
  BOXED(old_call_opts) co;
  BOX_INIT(co, sizeof co.s);
  co.s.timeout_ms = 30000;
  co.s.encoding = WARD_ENC_RAW;
  ward_msg *m;
  T_OK(ward_pool_request_ex(&m, pool, "echo", "hi", 2, (const ward_call_opts *)&co.s));
  T_EQ_INT(ward_msg_encoding(m), WARD_ENC_RAW);
  ward_msg_free(m);
  T_UNTOUCHED(co);

  /* The full struct says the same. */
  ward_pool_stats full = WARD_POOL_STATS_INIT;
  T_OK(ward_pool_info(&full, pool));
  T_EQ_INT(full.workers, 2);
  T_EQ_INT(full.calls, 1);
  T_EQ_INT(full.failures, 0);
  ward_pool_free(pool);
}

static void done_status(ward_call *call, int status, ward_msg *reply, void *ud) {
  (void)call;
  *(int *)ud = status;
  ward_msg_free(reply);
}

/* The summary of "rows": 5 rows of 2 bytes on each of two streams. */
static void test_summary(void) {
  ward_worker *w = spawn("summary");
  BOXED(old_summary) sum;
  BOX_INIT(sum, sizeof sum.s);
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 30000;
  o.summary = (ward_summary *)&sum.s;
  T_OK(ward_request_ex(NULL, w, "rows", NULL, 0, &o));
  T_EQ_INT(sum.s.rows, 10);
  T_EQ_INT(sum.s.row_bytes, 20);
  T_UNTOUCHED(sum);
  /* No room for the streams: they were not kept (a leak otherwise, which
   * the sanitizer builds would report). */
  ward_summary_clear((ward_summary *)&sum.s);
  T_EQ_INT(sum.s.struct_size, sizeof(old_summary));
  T_EQ_INT(sum.s.rows, 0);
  T_UNTOUCHED(sum);

  /* The same for an asynchronous call, filled before `done`. */
  BOX_INIT(sum, sizeof sum.s);
  ward_call *call;
  int status = -1;
  T_OK(ward_call_start(&call, w, "rows", NULL, 0, &o, done_status, &status));
  T_OK(ward_call_wait(call, 30000));
  ward_call_free(call);
  T_EQ_INT(status, WARD_OK);
  T_EQ_INT(sum.s.rows, 10);
  T_EQ_INT(sum.s.row_bytes, 20);
  T_UNTOUCHED(sum);
  ward_worker_free(w);
}

/* ------------------------------------------------------------------ */
/* Options                                                             */

static void done_free(ward_call *call, int status, ward_msg *reply, void *ud) {
  (void)call;
  *(int *)ud = status == WARD_OK && ward_msg_encoding(reply) == WARD_ENC_RAW;
  ward_msg_free(reply);
}

/* Old call options, followed by bytes that would pin the call to
 * generation 0xA5A5A5A5 (WARD_ESTALE) and make every callback and the
 * summary wild pointers (a crash): each entry point must read only the
 * timeout and the encoding, and the rest as the defaults. */
static void test_call_opts(void) {
  ward_worker *w = spawn("calls");
  BOXED(old_call_opts) co;
  BOX_INIT(co, sizeof co.s);
  co.s.timeout_ms = 30000;
  co.s.encoding = WARD_ENC_RAW;
  const ward_call_opts *o = (const ward_call_opts *)&co.s;

  ward_msg *m;
  T_OK(ward_request_ex(&m, w, "echo", "hi", 2, o));
  T_EQ_INT(ward_msg_encoding(m), WARD_ENC_RAW); /* the old fields were read */
  ward_msg_free(m);
  /* Rows, progress and a diagnostic: no callback was taken from the
   * garbage. */
  T_OK(ward_request_ex(&m, w, "rows", NULL, 0, o));
  ward_msg_free(m);
  T_OK(ward_request_ex(&m, w, "progress", "3", 1, o));
  ward_msg_free(m);

  ward_call *call;
  int good = 0;
  T_OK(ward_call_start(&call, w, "echo", "hi", 2, o, done_free, &good));
  T_OK(ward_call_wait(call, 30000));
  ward_call_free(call);
  T_TRUE(good);

#if TW_JSON /* the JSON layer, not built on Windows */
  json_t *params = json_pack("{s:i,s:i}", "a", 2, "b", 3), *result = NULL;
  T_OK(ward_request_json_ex(&result, w, "json_sum", params, o, NULL, NULL));
  T_EQ_INT(json_integer_value(json_object_get(result, "sum")), 5);
  json_decref(result);
  json_decref(params);
#endif
  T_UNTOUCHED(co);

  /* A caller newer than the library: what follows our struct is its. */
  newer_call_opts newer;
  BOX_INIT(newer, offsetof(newer_call_opts, after));
  ward_call_opts defaults = WARD_CALL_OPTS_INIT;
  memcpy((char *)&newer.s + sizeof(uint32_t), (char *)&defaults + sizeof(uint32_t),
         sizeof defaults - sizeof(uint32_t));
  T_OK(ward_request_ex(&m, w, "echo", "hi", 2, &newer.s));
  ward_msg_free(m);
  T_TRUE(is_pattern(&newer.later, sizeof newer.later));
  T_UNTOUCHED(newer);
  ward_worker_free(w);
}

static void on_event(const ward_event *ev, void *ud) {
  (void)ev;
  atomic_fetch_add((atomic_int *)ud, 1);
}

/* Old host options: the event callback is read; past it lies an
 * external_loop of 0xA5A5A5A5, which would leave the host without its
 * own thread if read (ward_host_fd answers only for such a host). */
static void test_host_opts(void) {
  atomic_int events = 0;
  BOXED(old_host_opts) ho;
  BOX_INIT(ho, sizeof ho.s);
  ho.s.on_event = on_event;
  ho.s.event_ud = &events;
  ward_host *h;
  T_OK(ward_host_new(&h, (const ward_host_opts *)&ho.s));
  T_TRUE(ward_host_fd(h) == WARD_OS_HANDLE_ERROR);
  ward_spec *s = tw_spec("hosted", "serve");
  ward_worker *w;
  T_OK(ward_spawn(&w, h, s));
  ward_spec_free(s);
  T_OK(ward_ping(w, 30000));
  ward_host_free(h); /* delivers the events left, and then none runs */
  T_TRUE(atomic_load(&events) >= 3); /* spawned, ready, ..., stopped */
  T_UNTOUCHED(ho);
}

/* Old log query: past `streams` lie an after_seq that would hide every
 * line and a `last` and `limit` of billions. */
static void test_log_query(void) {
  ward_worker *w = spawn("logs");
  T_OK(ward_request(NULL, w, "say", "one", 3, 30000));
  T_OK(ward_request(NULL, w, "say", "two", 3, 30000));
  int64_t deadline = t_now_ms() + 30000;
  ward_log_line *v;
  size_t n;
  for (;;) {
    T_OK(ward_worker_logs(&v, &n, w, NULL));
    ward_log_lines_free(v, n);
    if (n >= 2)
      break;
    if (t_now_ms() > deadline)
      T_FAIL("the worker's 2 lines were not in its ring within 30 s");
    T_OK(ward_ping(w, 30000)); /* a round trip lets the loop read on */
  }
  BOXED(old_log_query) q;
  BOX_INIT(q, sizeof q.s);
  q.s.streams = WARD_LOG_STDOUT;
  T_OK(ward_worker_logs(&v, &n, w, (const ward_log_query *)&q.s));
  T_EQ_INT(n, 2);
  T_EQ_STR(v[0].text, "one");
  T_EQ_STR(v[1].text, "two");
  ward_log_lines_free(v, n);
  /* The stream filter was read: nothing on stderr. */
  q.s.streams = WARD_LOG_STDERR;
  T_OK(ward_worker_logs(&v, &n, w, (const ward_log_query *)&q.s));
  T_EQ_INT(n, 0);
  ward_log_lines_free(v, n);
  T_UNTOUCHED(q);
  ward_worker_free(w);
}

/* ------------------------------------------------------------------ */
/* Sizes that are no layout                                            */

static void test_bad_sizes(void) {
  ward_worker *w = spawn("sizes");

  /* 0: a struct not started from its macro (= {0}, memset, or left
   * uninitialised). Refused, nothing written, nothing sent. */
  BOXED(ward_info) info;
  BOX_INIT(info, 0);
  T_ERR(ward_worker_info(&info.s, w), WARD_EINVAL);
  expect_sentence("ward_info.struct_size is 0", "WARD_INFO_INIT");
  T_TRUE(is_pattern((char *)&info.s + 4, sizeof info - 4));
  /* Too small for its first field. */
  BOX_INIT(info, 4);
  T_ERR(ward_worker_info(&info.s, w), WARD_EINVAL);
  expect_sentence("ward_info.struct_size is 4, too small", "WARD_INFO_INIT");
  T_TRUE(is_pattern((char *)&info.s + 4, sizeof info - 4));

  uint64_t before = served(w);
  ward_call_opts o = {0};
  T_ERR(ward_request_ex(NULL, w, "echo", "x", 1, &o), WARD_EINVAL);
  expect_sentence("ward_call_opts.struct_size is 0", "WARD_CALL_OPTS_INIT");
  int not_a_call;
  ward_call *call = (ward_call *)&not_a_call; /* to see it set to NULL */
  T_ERR(ward_call_start(&call, w, "echo", "x", 1, &o, done_free, NULL), WARD_EINVAL);
  T_TRUE(call == NULL);
  /* A summary is checked too, before anything is sent. */
  BOXED(ward_summary) sum;
  BOX_INIT(sum, 0);
  o = (ward_call_opts)WARD_CALL_OPTS_INIT;
  o.summary = &sum.s;
  T_ERR(ward_request_ex(NULL, w, "echo", "x", 1, &o), WARD_EINVAL);
  expect_sentence("ward_summary.struct_size is 0", "WARD_SUMMARY_INIT");
  T_TRUE(is_pattern((char *)&sum.s + 4, sizeof sum - 4));
  ward_summary_clear(&sum.s); /* never filled: left alone */
  T_TRUE(is_pattern((char *)&sum.s + 4, sizeof sum - 4));
  T_EQ_INT(served(w), before);

  ward_log_query q = {0};
  ward_log_line not_lines, *v = &not_lines; /* to see them set to NULL and 0 */
  size_t n = 7;
  T_ERR(ward_worker_logs(&v, &n, w, &q), WARD_EINVAL);
  expect_sentence("ward_log_query.struct_size is 0", "WARD_LOG_QUERY_INIT");
  T_TRUE(v == NULL && n == 0);

  ward_host_opts ho = {0};
  ward_host *h = NULL;
  T_ERR(ward_host_new(&h, &ho), WARD_EINVAL);
  expect_sentence("ward_host_opts.struct_size is 0", "WARD_HOST_OPTS_INIT");
  T_TRUE(h == NULL);

  ward_spec *s = tw_spec("pool", "serve");
  ward_pool_opts po = {0};
  ward_pool *pool = NULL;
  T_ERR(ward_pool_new(&pool, host, s, &po), WARD_EINVAL);
  expect_sentence("ward_pool_opts.struct_size is 0", "WARD_POOL_OPTS_INIT");
  T_TRUE(pool == NULL);
  T_OK(ward_pool_new(&pool, host, s, NULL));
  ward_spec_free(s);
  BOXED(ward_pool_stats) st;
  BOX_INIT(st, 0);
  T_ERR(ward_pool_info(&st.s, pool), WARD_EINVAL);
  expect_sentence("ward_pool_stats.struct_size is 0", "WARD_POOL_STATS_INIT");
  T_TRUE(is_pattern((char *)&st.s + 4, sizeof st - 4));
  ward_replace_opts ro = {0};
  s = tw_spec("pool", "serve");
  T_ERR(ward_pool_replace(pool, s, &ro), WARD_EINVAL);
  expect_sentence("ward_replace_opts.struct_size is 0", "WARD_REPLACE_OPTS_INIT");
  ward_spec_free(s);
  ward_pool_free(pool);
  ward_worker_free(w);
}

/* ------------------------------------------------------------------ */
/* Init functions                                                      */

static void test_init_functions(void) {
  /* The whole struct: what the macro gives, field by field. */
  ward_host_opts ho;
  memset(&ho, PATTERN, sizeof ho);
  T_OK(ward_host_opts_init(&ho, sizeof ho));
  T_EQ_INT(ho.struct_size, sizeof ho);
  T_TRUE(ho.on_event == NULL && ho.event_ud == NULL);
  T_EQ_INT(ho.max_frame, 0);
  T_EQ_INT(ho.external_loop, 0);

  ward_call_opts co;
  memset(&co, PATTERN, sizeof co);
  T_OK(ward_call_opts_init(&co, sizeof co));
  T_EQ_INT(co.struct_size, sizeof co);
  T_EQ_INT(co.timeout_ms, -1);
  T_EQ_INT(co.encoding, WARD_ENC_JSON);
  T_TRUE(!co.on_progress && !co.on_row && !co.on_diag && !co.ud && !co.summary);
  T_EQ_INT(co.generation, 0);
  T_EQ_INT(co.window_bytes, 0);

  ward_log_query q;
  memset(&q, PATTERN, sizeof q);
  T_OK(ward_log_query_init(&q, sizeof q));
  T_EQ_INT(q.struct_size, sizeof q);
  T_EQ_INT(q.streams, WARD_LOG_STDOUT | WARD_LOG_STDERR | WARD_LOG_RECORD);
  T_TRUE(q.last == 0 && q.since_ms == 0 && q.after_seq == 0 && q.limit == 0);
  T_TRUE(q.min_level == 0 && q.call_id == 0);

  ward_pool_opts po;
  memset(&po, PATTERN, sizeof po);
  T_OK(ward_pool_opts_init(&po, sizeof po));
  ward_pool_opts po_macro = WARD_POOL_OPTS_INIT;
  T_EQ_INT(po.struct_size, po_macro.struct_size);
  T_EQ_INT(po.min_workers, po_macro.min_workers);
  T_EQ_INT(po.max_workers, po_macro.max_workers);
  T_EQ_INT(po.idle_ms, po_macro.idle_ms);
  T_EQ_INT(po.spares, WARD_POOL_SPARES_DEFAULT);

  ward_replace_opts ro;
  memset(&ro, PATTERN, sizeof ro);
  T_OK(ward_replace_opts_init(&ro, sizeof ro));
  ward_replace_opts ro_macro = WARD_REPLACE_OPTS_INIT;
  T_EQ_INT(ro.struct_size, ro_macro.struct_size);
  T_EQ_INT(ro.ready_ms, WARD_REPLACE_READY_MS_DEFAULT);
  T_EQ_INT(ro.drain_ms, WARD_REPLACE_DRAIN_MS_DEFAULT);
  T_EQ_INT(ro.doctor, 0);
  T_EQ_INT(ro_macro.ready_ms, ro.ready_ms);
  T_EQ_INT(ro_macro.drain_ms, ro.drain_ms);
  T_EQ_INT(ro_macro.doctor, ro.doctor);

  ward_info in;
  memset(&in, PATTERN, sizeof in);
  T_OK(ward_info_init(&in, sizeof in));
  T_EQ_INT(in.struct_size, sizeof in);
  T_TRUE(in.pid == 0 && in.state == 0 && in.calls_served == 0 && in.calls_in_flight == 0);
  T_TRUE(in.spares_ready == 0 && in.spares_running == 0 && in.spares_rss_bytes == 0);

  ward_pool_stats ps;
  memset(&ps, PATTERN, sizeof ps);
  T_OK(ward_pool_stats_init(&ps, sizeof ps));
  T_EQ_INT(ps.struct_size, sizeof ps);
  T_TRUE(ps.workers == 0 && ps.replaced == 0);

  ward_summary sm;
  memset(&sm, PATTERN, sizeof sm);
  T_OK(ward_summary_init(&sm, sizeof sm));
  T_EQ_INT(sm.struct_size, sizeof sm);
  T_TRUE(sm.rows == 0 && sm.nstreams == 0 && sm.streams == NULL);
  ward_summary_clear(&sm);

  /* An older caller's struct: its fields get the defaults, and nothing
   * after it is written. */
  BOXED(old_call_opts) old;
  memset(&old, PATTERN, sizeof old);
  T_OK(ward_call_opts_init((ward_call_opts *)&old.s, sizeof old.s));
  T_EQ_INT(old.s.struct_size, sizeof old.s);
  T_EQ_INT(old.s.timeout_ms, -1);
  T_EQ_INT(old.s.encoding, WARD_ENC_JSON);
  T_UNTOUCHED(old);
  BOXED(old_info) oi;
  memset(&oi, PATTERN, sizeof oi);
  T_OK(ward_info_init((ward_info *)&oi.s, sizeof oi.s));
  T_TRUE(oi.s.struct_size == sizeof oi.s && oi.s.pid == 0 && oi.s.generation == 0);
  T_UNTOUCHED(oi);

  /* A newer caller's: what the library does not know reads 0. */
  newer_call_opts newer;
  memset(&newer, PATTERN, sizeof newer);
  T_OK(ward_call_opts_init(&newer.s, offsetof(newer_call_opts, after)));
  T_EQ_INT(newer.s.struct_size, offsetof(newer_call_opts, after));
  T_EQ_INT(newer.s.timeout_ms, -1);
  T_EQ_INT(newer.later, 0);
  T_UNTOUCHED(newer);

  /* No layout: refused, nothing written. */
  memset(&oi, PATTERN, sizeof oi);
  T_ERR(ward_info_init((ward_info *)&oi.s, 4), WARD_EINVAL);
  expect_sentence("ward_info", "at least");
  T_TRUE(is_pattern(&oi, sizeof oi));
  T_ERR(ward_info_init(NULL, sizeof(ward_info)), WARD_EINVAL);
  if (SIZE_MAX > UINT32_MAX)
    T_ERR(ward_host_opts_init(&ho, (size_t)UINT32_MAX + 1), WARD_EINVAL);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
#ifndef _WIN32
  signal(SIGPIPE, SIG_IGN);
#endif
  T_OK(ward_host_new(&host, NULL));
  T_RUN(test_info);
  T_RUN(test_pool_figures_and_options);
  T_RUN(test_summary);
  T_RUN(test_call_opts);
  T_RUN(test_host_opts);
  T_RUN(test_log_query);
  T_RUN(test_bad_sizes);
  T_RUN(test_init_functions);
  ward_host_free(host);
  return t_done();
}
