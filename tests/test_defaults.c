/*
 * test_defaults.c — the defaults are ward.h's WARD_*_DEFAULT constants,
 * and every page of docs/ that quotes one says what the constant says.
 *
 * Each quote is a phrase built here from the constants and looked for in
 * its page (with the page's line breaks made spaces), or a row of
 * api.md's table of defaults, which names the constant beside the value.
 * Changing a default in ward.h without the pages
 * that quote it, or a page without ward.h, fails here. And a new spec or
 * pool starts with the constants (what ward_spec_new sets is read back
 * from the spec, an internal structure).
 */
#include <signal.h>
#include <stdarg.h>

#include "host_int.h"
#include "tdoc.h"

#define STR(x) #x
#define XSTR(x) STR(x)

typedef struct page {
  const char *path;
  char *raw;      /* as written */
  char *squashed; /* every run of spaces and newlines one space */
} page;

static page api = {.path = "docs/api.md"}, protocol = {.path = "docs/protocol.md"},
            cli = {.path = "docs/cli.md"}, ext = {.path = "docs/extensions.md"};

static void page_load(page *p) {
  p->raw = t_read_doc(p->path);
  p->squashed = t_squash(t_read_doc(p->path));
}

static void page_free(page *p) {
  free(p->raw);
  free(p->squashed);
}

/* `p` says the phrase (printf-style), wherever its lines wrap. */
static void says(const page *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void says(const page *p, const char *fmt, ...) {
  char want[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(want, sizeof want, fmt, ap);
  va_end(ap);
  if (!strstr(p->squashed, want))
    T_FAIL("%s does not say \"%s\" (ward.h's defaults)", p->path, want);
}

/* The row of the defaults table of api.md (section 4.10) for `setting` is
 * "| `setting` | DEFAULT | CONSTANT |": the default as ward.h's constant
 * says (printf-style), and the constant named. */
static void default_row(const char *setting, const char *constant, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void default_row(const char *setting, const char *constant, const char *fmt, ...) {
  static const char table[] = "### 4.10 Defaults";
  char value[256], want[512], line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(value, sizeof value, fmt, ap);
  va_end(ap);
  snprintf(want, sizeof want, "| `%s` | %s | %s |", setting, value, constant);
  const char *from = strstr(api.raw, table);
  if (!from)
    T_FAIL("%s has no \"%s\"", api.path, table);
  char start[128];
  snprintf(start, sizeof start, "\n| `%s` |", setting);
  const char *at = strstr(from, start);
  if (!at)
    T_FAIL("%s has no row for %s in its defaults table", api.path, setting);
  at++;
  size_t n = strcspn(at, "\n");
  T_TRUE(n < sizeof line);
  memcpy(line, at, n);
  line[n] = 0;
  if (strcmp(line, want) != 0)
    T_FAIL("%s, defaults table:\n  %s\nward.h says:\n  %s", api.path, line, want);
}

/* "1 MiB", "64 MiB", "512 KiB" or "N bytes". */
static const char *bytes_text(unsigned long long n, char *buf, size_t cap) {
  if (n && n % (1u << 20) == 0)
    snprintf(buf, cap, "%llu MiB", n >> 20);
  else if (n && n % 1024 == 0)
    snprintf(buf, cap, "%llu KiB", n >> 10);
  else
    snprintf(buf, cap, "%llu bytes", n);
  return buf;
}

static const char *restart_name(int mode) {
  switch (mode) {
  case WARD_RESTART_NEVER:
    return "WARD_RESTART_NEVER";
  case WARD_RESTART_ON_FAILURE:
    return "WARD_RESTART_ON_FAILURE";
  case WARD_RESTART_ALWAYS:
    return "WARD_RESTART_ALWAYS";
  }
  return "?";
}

static const char *on_off(int on) { return on ? "on" : "off"; }

/* A resource limit: 0 leaves the inherited one. */
static const char *limit_text(unsigned long long n, char *buf, size_t cap) {
  if (n == 0)
    return "inherited (0)";
  if (n % (1u << 20) == 0)
    return bytes_text(n, buf, cap);
  snprintf(buf, cap, "%llu", n);
  return buf;
}

/* The rows of ward_sandbox's fields. */
static void test_sandbox_table(void) {
  char b[64];
  default_row("ward_sandbox.no_new_privs", "`WARD_SANDBOX_NO_NEW_PRIVS_DEFAULT`", "%s",
              on_off(WARD_SANDBOX_NO_NEW_PRIVS_DEFAULT));
  default_row("ward_sandbox.drop_caps", "`WARD_SANDBOX_DROP_CAPS_DEFAULT`", "%s",
              on_off(WARD_SANDBOX_DROP_CAPS_DEFAULT));
  default_row("ward_sandbox.rlimit_as", "`WARD_SANDBOX_RLIMIT_AS_DEFAULT`", "%s",
              limit_text(WARD_SANDBOX_RLIMIT_AS_DEFAULT, b, sizeof b));
  default_row("ward_sandbox.rlimit_nofile", "`WARD_SANDBOX_RLIMIT_NOFILE_DEFAULT`", "%s",
              limit_text(WARD_SANDBOX_RLIMIT_NOFILE_DEFAULT, b, sizeof b));
  default_row("ward_sandbox.rlimit_nproc", "`WARD_SANDBOX_RLIMIT_NPROC_DEFAULT`", "%s",
              limit_text(WARD_SANDBOX_RLIMIT_NPROC_DEFAULT, b, sizeof b));
  default_row("ward_sandbox.rlimit_cpu", "`WARD_SANDBOX_RLIMIT_CPU_DEFAULT`", "%s",
              limit_text(WARD_SANDBOX_RLIMIT_CPU_DEFAULT, b, sizeof b));
  default_row("ward_sandbox.rlimit_fsize", "`WARD_SANDBOX_RLIMIT_FSIZE_DEFAULT`", "%s",
              limit_text(WARD_SANDBOX_RLIMIT_FSIZE_DEFAULT, b, sizeof b));
  default_row("ward_sandbox.seccomp", "`WARD_SANDBOX_SECCOMP_DEFAULT`", "%s",
              on_off(WARD_SANDBOX_SECCOMP_DEFAULT));
  default_row("ward_sandbox.landlock", "`WARD_SANDBOX_LANDLOCK_DEFAULT`", "%s",
              on_off(WARD_SANDBOX_LANDLOCK_DEFAULT));
  default_row("ward_sandbox.system_paths", "`WARD_SANDBOX_SYSTEM_PATHS_DEFAULT`", "%s",
              on_off(WARD_SANDBOX_SYSTEM_PATHS_DEFAULT));
  T_EQ_INT(WARD_SANDBOX_NAMESPACES_DEFAULT, 0);
  default_row("ward_sandbox.namespaces", "`WARD_SANDBOX_NAMESPACES_DEFAULT`", "none (0)");
  default_row("ward_sandbox.best_effort", "`WARD_SANDBOX_BEST_EFFORT_DEFAULT`", "%s",
              WARD_SANDBOX_BEST_EFFORT_DEFAULT ? "on: start with what can be applied"
                                               : "off: refuse to start unsandboxed");
}

/* The defaults table of api.md (section 4.10): every default, with the
 * constant it comes from. */
/* A signal's name without "SIG" (sigabbrev_np where the C library has
 * it; elsewhere the one signal asked about). */
static const char *sig_abbrev(int sig) {
#ifdef _WIN32
  return sig == SIGTERM ? "TERM" : "?";
#else
  return sigabbrev_np(sig);
#endif
}

static void test_api_table(void) {
  char b[64];
  default_row("ward_spec_startup_timeout", "`WARD_STARTUP_TIMEOUT_MS_DEFAULT`", "%d ms",
              WARD_STARTUP_TIMEOUT_MS_DEFAULT);
  default_row("ward_spec_request_timeout", "`WARD_REQUEST_TIMEOUT_MS_DEFAULT`", "%d ms",
              WARD_REQUEST_TIMEOUT_MS_DEFAULT);
  default_row("ward_client_request", "`WARD_REQUEST_TIMEOUT_MS_DEFAULT` (a negative timeout)",
              "%d ms", WARD_REQUEST_TIMEOUT_MS_DEFAULT);
  default_row("ward_spec_stop_grace", "`WARD_STOP_GRACE_MS_DEFAULT`", "%d ms",
              WARD_STOP_GRACE_MS_DEFAULT);
  /* <signal.h> makes SIGTERM a number. */
  default_row("ward_spec_stop_signal", "`WARD_STOP_SIGNAL_DEFAULT`", "`SIG%s`",
              sig_abbrev(WARD_STOP_SIGNAL_DEFAULT));
  default_row("ward_spec_restart", "`WARD_RESTART_DEFAULT`", "`%s`",
              restart_name(WARD_RESTART_DEFAULT));
  default_row("ward_spec_intensity",
              "`WARD_INTENSITY_DEFAULT`, `WARD_INTENSITY_PERIOD_MS_DEFAULT`", "%d in %d ms",
              WARD_INTENSITY_DEFAULT, WARD_INTENSITY_PERIOD_MS_DEFAULT);
  default_row("ward_spec_backoff", "`WARD_BACKOFF_*_DEFAULT`",
              "%d ms, ×%d %%%s, capped at %d ms, reset after %d ms of uptime",
              WARD_BACKOFF_INITIAL_MS_DEFAULT, WARD_BACKOFF_MULTIPLIER_PCT_DEFAULT,
              WARD_BACKOFF_MULTIPLIER_PCT_DEFAULT == 200 ? " (doubling)" : "",
              WARD_BACKOFF_MAX_MS_DEFAULT, WARD_BACKOFF_RESET_MS_DEFAULT);
  default_row("ward_spec_heartbeat", "`WARD_HEARTBEAT_MISSES_DEFAULT`",
              "off (interval 0); `misses` %d", WARD_HEARTBEAT_MISSES_DEFAULT);
  default_row("ward_spec_kill_on_timeout", "`WARD_KILL_ON_TIMEOUT_DEFAULT`", "%s",
              WARD_KILL_ON_TIMEOUT_DEFAULT ? "on" : "off");
  default_row("ward_spec_memory_limit", "`WARD_MEMORY_SAMPLE_MS_DEFAULT`",
              "both off; sampling every %d ms", WARD_MEMORY_SAMPLE_MS_DEFAULT);
  default_row("ward_spec_cancel_grace", "`WARD_CANCEL_GRACE_MS_DEFAULT`", "%d ms",
              WARD_CANCEL_GRACE_MS_DEFAULT);
  default_row("ward_spec_wait_restart", "`WARD_WAIT_RESTART_DEFAULT`", "%d (%s)",
              WARD_WAIT_RESTART_DEFAULT, WARD_WAIT_RESTART_DEFAULT ? "wait" : "fail at once");
  default_row("ward_spec_log_ring", "`WARD_LOG_RING_DEFAULT`", "%s (%d)",
              bytes_text(WARD_LOG_RING_DEFAULT, b, sizeof b), WARD_LOG_RING_DEFAULT);
  default_row("ward_spec_zerocopy", "`WARD_ZEROCOPY_MIN_DEFAULT`", "%s (%d)",
              bytes_text(WARD_ZEROCOPY_MIN_DEFAULT, b, sizeof b), WARD_ZEROCOPY_MIN_DEFAULT);
  default_row("ward_host_opts.max_frame", "`WARD_MAX_FRAME_DEFAULT` (0 selects it)", "%s",
              bytes_text(WARD_MAX_FRAME_DEFAULT, b, sizeof b));
  default_row("ward_call_opts.window_bytes", "`WARD_WINDOW_DEFAULT` (0 selects it)", "%s",
              bytes_text(WARD_WINDOW_DEFAULT, b, sizeof b));
  default_row("ward_pool_opts.min_workers", "`WARD_POOL_MIN_WORKERS_DEFAULT`", "%d",
              WARD_POOL_MIN_WORKERS_DEFAULT);
  default_row("ward_pool_opts.max_workers", "`WARD_POOL_MAX_WORKERS_DEFAULT`", "%d",
              WARD_POOL_MAX_WORKERS_DEFAULT);
  default_row("ward_pool_opts.idle_ms", "`WARD_POOL_IDLE_MS_DEFAULT`", "%d",
              WARD_POOL_IDLE_MS_DEFAULT);
  default_row("ward_pool_opts.spares", "`WARD_POOL_SPARES_DEFAULT`", "%d (%s)",
              WARD_POOL_SPARES_DEFAULT, WARD_POOL_SPARES_DEFAULT < 0 ? "the spec's" : "spares");
  default_row("ward_spec_spares", "`WARD_SPARES_DEFAULT`", "%d%s", WARD_SPARES_DEFAULT,
              WARD_SPARES_DEFAULT ? "" : " (none)");
  default_row("ward_replace_opts.ready_ms", "`WARD_REPLACE_READY_MS_DEFAULT`", "%d",
              WARD_REPLACE_READY_MS_DEFAULT);
  default_row("ward_replace_opts.drain_ms", "`WARD_REPLACE_DRAIN_MS_DEFAULT`", "%d",
              WARD_REPLACE_DRAIN_MS_DEFAULT);
  default_row("ward_server_limits.max_conns", "`WARD_SERVER_MAX_CONNS_DEFAULT`", "%d",
              WARD_SERVER_MAX_CONNS_DEFAULT);
  T_EQ_INT(WARD_SERVER_HANDSHAKE_MS_DEFAULT % 1000, 0);
  default_row("ward_server_limits.handshake_ms", "`WARD_SERVER_HANDSHAKE_MS_DEFAULT`", "%d s",
              WARD_SERVER_HANDSHAKE_MS_DEFAULT / 1000);
  test_sandbox_table();
}

/* What the prose of api.md says the defaults are. */
static void test_api_prose(void) {
  char b[64];
  says(&api, "the spec's stop grace (%d ms by default)", WARD_STOP_GRACE_MS_DEFAULT);
  says(&api, "within `opts->ready_ms` (default %d ms)", WARD_REPLACE_READY_MS_DEFAULT);
  says(&api, "for up to `opts->drain_ms` (default %d ms)", WARD_REPLACE_DRAIN_MS_DEFAULT);
  says(&api, "timeout + backoff cap (%d ms with the defaults)",
       WARD_REQUEST_TIMEOUT_MS_DEFAULT + 2 * WARD_STOP_GRACE_MS_DEFAULT +
           WARD_STARTUP_TIMEOUT_MS_DEFAULT + WARD_BACKOFF_MAX_MS_DEFAULT);
  says(&api, "(`ward_spec_cancel_grace`, %d ms by default)", WARD_CANCEL_GRACE_MS_DEFAULT);
  says(&api, "every `sample_ms` (0 means %d)", WARD_MEMORY_SAMPLE_MS_DEFAULT);
  says(&api, "`reset_after_ms` (default %d ms)", WARD_BACKOFF_RESET_MS_DEFAULT);
  says(&api, "`max_restarts` counted restarts (default %d)", WARD_INTENSITY_DEFAULT);
  says(&api, "the last `period_ms` (default %d ms)", WARD_INTENSITY_PERIOD_MS_DEFAULT);
  says(&api, "(defaults: %d ms, %d %%, %d ms)", WARD_BACKOFF_INITIAL_MS_DEFAULT,
       WARD_BACKOFF_MULTIPLIER_PCT_DEFAULT, WARD_BACKOFF_MAX_MS_DEFAULT);
  says(&api, "`ward_spec_log_ring` (default %s, at least 1024 bytes)",
       bytes_text(WARD_LOG_RING_DEFAULT, b, sizeof b));
  says(&api, "the call's window (default %s)", bytes_text(WARD_WINDOW_DEFAULT, b, sizeof b));
  says(&api, "| 0 (the default) | `WARD_WINDOW_DEFAULT`, %s |",
       bytes_text(WARD_WINDOW_DEFAULT, b, sizeof b));

  /* The worked example of 5.2: the delays of a worker that crashes at
   * every start, until it is given up. */
  char delays[256] = "";
  long long d = WARD_BACKOFF_INITIAL_MS_DEFAULT;
  for (int i = 0; i < WARD_INTENSITY_DEFAULT; i++) {
    size_t len = strlen(delays);
    snprintf(delays + len, sizeof delays - len, "%s%lld",
             i == 0                            ? ""
             : i + 1 == WARD_INTENSITY_DEFAULT ? " and "
                                               : ", ",
             d < WARD_BACKOFF_MAX_MS_DEFAULT ? d : (long long)WARD_BACKOFF_MAX_MS_DEFAULT);
    d = d * WARD_BACKOFF_MULTIPLIER_PCT_DEFAULT / 100;
  }
  says(&api, "With the defaults, a worker that crashes right after every start is restarted "
             "after %s ms",
       delays);
  T_EQ_INT(WARD_INTENSITY_PERIOD_MS_DEFAULT % 1000, 0);
  says(&api, "comes within %d s of the first restart", WARD_INTENSITY_PERIOD_MS_DEFAULT / 1000);
}

static void test_protocol(void) {
  char b[64];
  says(&protocol, "(the usual default is %u, %s)", WARD_MAX_FRAME_DEFAULT,
       bytes_text(WARD_MAX_FRAME_DEFAULT, b, sizeof b));
  says(&protocol, "is **%s = %u** (`WARD_MAX_FRAME_DEFAULT`)",
       bytes_text(WARD_MAX_FRAME_DEFAULT, b, sizeof b), WARD_MAX_FRAME_DEFAULT);
  T_EQ_INT(WARD_STARTUP_TIMEOUT_MS_DEFAULT % 1000, 0);
  says(&protocol, "**startup timeout** (default %d s,", WARD_STARTUP_TIMEOUT_MS_DEFAULT / 1000);
  says(&protocol, "*cancel grace* (%d ms by default, `ward_spec_cancel_grace`)",
       WARD_CANCEL_GRACE_MS_DEFAULT);
  T_EQ_INT(WARD_CANCEL_GRACE_MS_DEFAULT % 1000, 0);
  says(&protocol, "the host's cancel grace (%d s by default)",
       WARD_CANCEL_GRACE_MS_DEFAULT / 1000);
  says(&protocol, "W = %d (%s, `WARD_WINDOW_DEFAULT`)", WARD_WINDOW_DEFAULT,
       bytes_text(WARD_WINDOW_DEFAULT, b, sizeof b));
  says(&protocol, "the default window of %s", bytes_text(WARD_WINDOW_DEFAULT, b, sizeof b));
  says(&protocol, "with the default window W = %d", WARD_WINDOW_DEFAULT);
  says(&protocol, "number of misses in a row (%d by default)", WARD_HEARTBEAT_MISSES_DEFAULT);
  says(&protocol, "within the stop grace (%d ms by default, `ward_spec_stop_grace`)",
       WARD_STOP_GRACE_MS_DEFAULT);
  T_EQ_INT(WARD_STOP_GRACE_MS_DEFAULT % 1000, 0);
  says(&protocol, "after the stop grace (default %d s)", WARD_STOP_GRACE_MS_DEFAULT / 1000);
  says(&protocol, "stop grace (%d s by default; then you are signalled)",
       WARD_STOP_GRACE_MS_DEFAULT / 1000);
}

/* `ward run` keeps a service's output in a log ring of the library's
 * default size; docs/cli.md says how much, and what `ward probe` sees of
 * a call's window. (Its keys' defaults: test_config.) */
static void test_cli(void) {
  char b[64];
  says(&cli, "(for `ward ctl logs`, %s per instance)",
       bytes_text(WARD_LOG_RING_DEFAULT, b, sizeof b));
  says(&cli, "(%s by default, `ward_call_opts.window_bytes`)",
       bytes_text(WARD_WINDOW_DEFAULT, b, sizeof b));
}

/* The sandbox's defaults, as docs/extensions.md says them. */
static void test_extensions(void) {
  char b[64];
  T_TRUE(WARD_SANDBOX_RLIMIT_AS_DEFAULT == 0 && WARD_SANDBOX_RLIMIT_NPROC_DEFAULT == 0);
  says(&ext, "By default %d open files and files of at most %s; the address space is left alone",
       WARD_SANDBOX_RLIMIT_NOFILE_DEFAULT,
       WARD_SANDBOX_RLIMIT_FSIZE_DEFAULT % (1ull << 30) == 0
           ? (snprintf(b, sizeof b, "%llu GiB", WARD_SANDBOX_RLIMIT_FSIZE_DEFAULT >> 30), b)
           : bytes_text(WARD_SANDBOX_RLIMIT_FSIZE_DEFAULT, b, sizeof b));
  T_EQ_INT(WARD_SANDBOX_NAMESPACES_DEFAULT, 0);
  says(&ext, "3. **New namespaces** (`namespaces`, off by default)");
  T_EQ_INT(WARD_SANDBOX_BEST_EFFORT_DEFAULT, 0);
  says(&ext, "With `best_effort = 1` the worker starts with what can be applied");
  T_TRUE(WARD_SANDBOX_SECCOMP_DEFAULT && WARD_SANDBOX_LANDLOCK_DEFAULT &&
         WARD_SANDBOX_NO_NEW_PRIVS_DEFAULT && WARD_SANDBOX_DROP_CAPS_DEFAULT &&
         WARD_SANDBOX_SYSTEM_PATHS_DEFAULT);
  says(&ext, "each one is a field of `ward_sandbox`, on by default unless said otherwise");
}

/* What a new spec and a pool's options start with. */
/* Whether two sandboxes say the same, field by field: the padding an
 * initializer leaves is unspecified (mingw-w64 leaves it as it was). */
static int same_sandbox(const ward_sandbox *a, const ward_sandbox *b) {
  return a->struct_size == b->struct_size && a->no_new_privs == b->no_new_privs &&
         a->drop_caps == b->drop_caps && a->rlimit_as == b->rlimit_as &&
         a->rlimit_nofile == b->rlimit_nofile && a->rlimit_nproc == b->rlimit_nproc &&
         a->rlimit_cpu == b->rlimit_cpu && a->rlimit_fsize == b->rlimit_fsize &&
         a->seccomp == b->seccomp && a->permissions == b->permissions &&
         a->landlock == b->landlock && a->read_paths == b->read_paths &&
         a->write_paths == b->write_paths && a->system_paths == b->system_paths &&
         a->namespaces == b->namespaces && a->best_effort == b->best_effort;
}

static void test_code(void) {
  ward_spec *s;
  T_OK(ward_spec_new(&s, "w", "/bin/true"));
  T_EQ_INT(s->startup_timeout_ms, WARD_STARTUP_TIMEOUT_MS_DEFAULT);
  T_EQ_INT(s->request_timeout_ms, WARD_REQUEST_TIMEOUT_MS_DEFAULT);
  T_EQ_INT(s->stop_grace_ms, WARD_STOP_GRACE_MS_DEFAULT);
  T_EQ_INT(s->stop_signal, WARD_STOP_SIGNAL_DEFAULT);
  T_EQ_INT(s->policy.restart, WARD_RESTART_DEFAULT);
  T_EQ_INT(s->policy.intensity, WARD_INTENSITY_DEFAULT);
  T_EQ_INT(s->policy.period_ms, WARD_INTENSITY_PERIOD_MS_DEFAULT);
  T_EQ_INT(s->policy.backoff_initial_ms, WARD_BACKOFF_INITIAL_MS_DEFAULT);
  T_EQ_INT(s->policy.backoff_max_ms, WARD_BACKOFF_MAX_MS_DEFAULT);
  T_EQ_INT(s->policy.backoff_mult_pct, WARD_BACKOFF_MULTIPLIER_PCT_DEFAULT);
  T_EQ_INT(s->policy.backoff_reset_ms, WARD_BACKOFF_RESET_MS_DEFAULT);
  T_EQ_INT(s->heartbeat_ms, 0);
  T_EQ_INT(s->heartbeat_misses, WARD_HEARTBEAT_MISSES_DEFAULT);
  T_EQ_INT(s->kill_on_timeout, WARD_KILL_ON_TIMEOUT_DEFAULT);
  T_EQ_INT(s->mem_sample_ms, WARD_MEMORY_SAMPLE_MS_DEFAULT);
  T_EQ_INT(s->cancel_grace_ms, WARD_CANCEL_GRACE_MS_DEFAULT);
  T_EQ_INT(s->wait_restart, WARD_WAIT_RESTART_DEFAULT);
  T_EQ_INT(s->log_ring, WARD_LOG_RING_DEFAULT);
  T_EQ_INT(s->zerocopy_min, WARD_ZEROCOPY_MIN_DEFAULT);
  T_EQ_INT(s->spares, WARD_SPARES_DEFAULT);
  /* A sample period of 0 is the default one. */
  T_OK(ward_spec_memory_limit(s, 1 << 20, 0, 5));
  T_OK(ward_spec_memory_limit(s, 1 << 20, 0, 0));
  T_EQ_INT(s->mem_sample_ms, WARD_MEMORY_SAMPLE_MS_DEFAULT);
  ward_spec_free(s);

  /* A sandbox starts from the constants, by its macro and its init
   * function alike. */
  ward_sandbox sb = WARD_SANDBOX_INIT, sb2;
  T_OK(ward_sandbox_init(&sb2, sizeof sb2));
  T_TRUE(same_sandbox(&sb, &sb2));
  T_EQ_INT(sb.no_new_privs, WARD_SANDBOX_NO_NEW_PRIVS_DEFAULT);
  T_EQ_INT(sb.drop_caps, WARD_SANDBOX_DROP_CAPS_DEFAULT);
  T_TRUE(sb.rlimit_as == WARD_SANDBOX_RLIMIT_AS_DEFAULT);
  T_TRUE(sb.rlimit_nofile == WARD_SANDBOX_RLIMIT_NOFILE_DEFAULT);
  T_TRUE(sb.rlimit_nproc == WARD_SANDBOX_RLIMIT_NPROC_DEFAULT);
  T_TRUE(sb.rlimit_cpu == WARD_SANDBOX_RLIMIT_CPU_DEFAULT);
  T_TRUE(sb.rlimit_fsize == WARD_SANDBOX_RLIMIT_FSIZE_DEFAULT);
  T_EQ_INT(sb.seccomp, WARD_SANDBOX_SECCOMP_DEFAULT);
  T_EQ_INT(sb.permissions, 0);
  T_EQ_INT(sb.landlock, WARD_SANDBOX_LANDLOCK_DEFAULT);
  T_TRUE(sb.read_paths == NULL && sb.write_paths == NULL);
  T_EQ_INT(sb.system_paths, WARD_SANDBOX_SYSTEM_PATHS_DEFAULT);
  T_EQ_INT(sb.namespaces, WARD_SANDBOX_NAMESPACES_DEFAULT);
  T_EQ_INT(sb.best_effort, WARD_SANDBOX_BEST_EFFORT_DEFAULT);

  ward_pool_opts po = WARD_POOL_OPTS_INIT;
  T_EQ_INT(po.min_workers, WARD_POOL_MIN_WORKERS_DEFAULT);
  T_EQ_INT(po.max_workers, WARD_POOL_MAX_WORKERS_DEFAULT);
  T_EQ_INT(po.idle_ms, WARD_POOL_IDLE_MS_DEFAULT);
  T_EQ_INT(po.spares, WARD_POOL_SPARES_DEFAULT);

  ward_replace_opts ro = WARD_REPLACE_OPTS_INIT;
  T_EQ_INT(ro.drain_ms, WARD_REPLACE_DRAIN_MS_DEFAULT);
}

int main(void) {
  page_load(&api);
  page_load(&protocol);
  page_load(&cli);
  page_load(&ext);
  T_RUN(test_api_table);
  T_RUN(test_api_prose);
  T_RUN(test_protocol);
  T_RUN(test_cli);
  T_RUN(test_extensions);
  T_RUN(test_code);
  page_free(&api);
  page_free(&protocol);
  page_free(&cli);
  page_free(&ext);
  return t_done();
}
