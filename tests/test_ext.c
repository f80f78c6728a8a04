/*
 * test_ext.c — the extension host with real extension processes: lazy
 * activation and onStartup, idle stop, dispatch (qualified and bare
 * names, progress), params checked before anything is sent, served and
 * contributed commands compared at the handshake, permissions on host
 * methods, and isolation (a crash, a hang, a crash loop that disables one
 * extension while another goes on).
 */
#include <time.h>
#include <unistd.h>

#include "text.h"

static const char *folders[1];

/* Two good extensions, "org.example.a" (asking for ui.message) and
 * "org.example.b" (asking for nothing), and one whose process does not
 * serve all it contributes. */
static ward_ext_host *setup(int idle_ms, const char *a_extra) {
  tx_new_root();
  char extra[256];
  snprintf(extra, sizeof extra, "\"permissions\": [\"ui.message\"]%s%s", a_extra ? ", " : "",
           a_extra ? a_extra : "");
  tx_ext("a", tx_manifest("org.example.a", TX_GOOD_CMDS, extra), "good");
  tx_ext("b", tx_manifest("org.example.b", TX_GOOD_CMDS, NULL), "good");
  tx_ext("short", tx_manifest("org.example.short",
                              "[{\"id\": \"count\", \"title\": \"c\"},"
                              " {\"id\": \"missing\", \"title\": \"m\"}]",
                              NULL),
         "short");
  ward_ext_host *eh = tx_host(idle_ms);
  T_OK(ward_ext_host_permission(eh, "ui.message"));
  folders[0] = tx_root;
  return eh;
}

static void teardown(ward_ext_host *eh) {
  ward_ext_host_free(eh);
  tx_rm_root();
}

static void scan(ward_ext_host *eh, int want) {
  size_t loaded;
  T_OK(ward_ext_host_scan(eh, folders, 1, &loaded));
  T_EQ_INT((int)loaded, want);
}

/* Runs `cmd` with `params`, expecting `want`; returns the reply's text. */
static char *run(ward_ext_host *eh, const char *cmd, const char *params, int want) {
  ward_msg *r = NULL;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 20000;
  int rv = ward_ext_command(&r, eh, cmd, params, strlen(params), &o);
  if (rv != want)
    T_FAIL("%s: %s (%s), wanted %s", cmd, ward_err_name(rv), ward_last_error(),
           ward_err_name(want));
  char *text = r ? strndup(ward_msg_data(r), ward_msg_len(r)) : NULL;
  ward_msg_free(r);
  return text;
}

static void test_lazy_activation_and_dispatch(void) {
  ward_ext_host *eh = setup(0, NULL);
  scan(eh, 3);
  ward_ext_info a = tx_info(eh, "org.example.a");
  T_EQ_INT(a.state, WARD_EXT_INACTIVE);
  T_EQ_INT(a.pid, 0);
  T_EQ_INT(tx_count_events(WARD_EXT_EV_ACTIVATED, NULL), 0);
  char *r = run(eh, "org.example.a/count", "{\"words\": \"one two three\"}", WARD_OK);
  T_EQ_STR(r, "{\"count\":3}");
  free(r);
  tx_wait(WARD_EXT_EV_ACTIVATED, "org.example.a");
  a = tx_info(eh, "org.example.a");
  T_EQ_INT(a.state, WARD_EXT_ACTIVE);
  T_TRUE(a.pid > 0);
  T_EQ_INT((int)a.activations, 1);
  /* The others were not started. */
  T_EQ_INT(tx_info(eh, "org.example.b").pid, 0);
  /* A bare id two extensions contribute is ambiguous; one alone is not. */
  T_TRUE(run(eh, "count", "{\"words\": \"x\"}", WARD_EINVAL) == NULL);
  T_TRUE(strstr(ward_last_error(), "org.example.a") && strstr(ward_last_error(), "org.example.b"));
  T_TRUE(run(eh, "nosuch", "{}", WARD_ENOMETHOD) == NULL);
  T_TRUE(run(eh, "org.example.zzz/count", "{}", WARD_ENOMETHOD) == NULL);
  teardown(eh);
}

static void on_progress(const void *d, size_t n, void *ud) {
  (void)d, (void)n;
  ++*(int *)ud;
}

static void test_progress_and_bare_name(void) {
  tx_new_root();
  tx_ext("one", tx_manifest("org.example.one", TX_GOOD_CMDS, NULL), "good");
  ward_ext_host *eh = tx_host(0);
  folders[0] = tx_root;
  scan(eh, 1);
  int progress = 0;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.on_progress = on_progress;
  o.ud = &progress;
  ward_msg *r;
  static const char p[] = "{\"words\": \"a b\"}";
  T_OK(ward_ext_command(&r, eh, "count", p, sizeof p - 1, &o));
  T_EQ_INT(progress, 1);
  ward_msg_free(r);
  teardown(eh);
}

static void test_on_startup(void) {
  ward_ext_host *eh = setup(0, "\"activationEvents\": [\"onStartup\"]");
  scan(eh, 3);
  tx_wait(WARD_EXT_EV_ACTIVATED, "org.example.a");
  T_TRUE(tx_info(eh, "org.example.a").pid > 0);
  T_EQ_INT(tx_info(eh, "org.example.b").pid, 0);
  teardown(eh);
}

static void test_idle_stop(void) {
  ward_ext_host *eh = setup(300, NULL);
  scan(eh, 3);
  free(run(eh, "org.example.a/pid", "{}", WARD_OK));
  tx_wait(WARD_EXT_EV_IDLE, "org.example.a");
  ward_ext_info a = tx_info(eh, "org.example.a");
  T_EQ_INT(a.state, WARD_EXT_INACTIVE);
  T_EQ_INT(a.pid, 0);
  /* The next command starts it again. */
  free(run(eh, "org.example.a/pid", "{}", WARD_OK));
  tx_wait_count(WARD_EXT_EV_ACTIVATED, "org.example.a", 2); /* events come after */
  a = tx_info(eh, "org.example.a");
  T_EQ_INT((int)a.activations, 2);
  T_EQ_INT((int)a.restarts, 0); /* not a restart */
  teardown(eh);
}

/* Bad params are refused before anything is sent: the extension is not
 * even started. */
static void test_params_checked(void) {
  ward_ext_host *eh = setup(0, NULL);
  scan(eh, 3);
  static const struct {
    const char *params, *says;
  } bad[] = {
      {"{}", "params.words is required"},
      {"{\"words\": 3}", "params.words expected a string, got an integer"},
      {"{\"words\": \"x\", \"mode\": \"slow\"}", "params.mode must be one of [\"fast\",\"exact\"]"},
      {"{\"words\": \"x\", \"size\": 1}", "params.size is not a parameter of this command"},
      {"[1]", "params expected an object, got an array"},
      {"{\"words\": ", "not JSON"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    T_TRUE(run(eh, "org.example.a/count", bad[i].params, WARD_EINVAL) == NULL);
    if (!strstr(ward_last_error(), bad[i].says))
      T_FAIL("params %s: \"%s\" does not say \"%s\"", bad[i].params, ward_last_error(),
             bad[i].says);
  }
  T_EQ_INT(tx_info(eh, "org.example.a").pid, 0);
  T_EQ_INT(tx_count_events(WARD_EXT_EV_ACTIVATED, NULL), 0);
  free(run(eh, "org.example.a/count", "{\"words\": \"x\", \"mode\": \"fast\"}", WARD_OK));
  teardown(eh);
}

static void test_served_and_contributed(void) {
  ward_ext_host *eh = setup(0, NULL);
  scan(eh, 3);
  /* Before the handshake is known, the process's own answer. */
  T_TRUE(run(eh, "org.example.short/missing", "{}", WARD_ENOMETHOD) == NULL);
  T_TRUE(strstr(ward_last_error(), "contributes 'missing' but its process does not serve it"));
  tx_ev m = tx_wait(WARD_EXT_EV_MISMATCH, "org.example.short");
  T_TRUE(strstr(m.detail, "contributes 'missing' but does not serve it") != NULL);
  T_TRUE(strstr(m.detail, "serves 'extra', which it does not contribute") != NULL);
  /* After it, refused before sending. */
  T_TRUE(run(eh, "org.example.short/missing", "{}", WARD_ENOMETHOD) == NULL);
  T_TRUE(strstr(ward_last_error(), "does not serve it"));
  free(run(eh, "org.example.short/count", "{}", WARD_OK));
  T_EQ_INT(tx_count_events(WARD_EXT_EV_MISMATCH, "org.example.a"), 0);
  teardown(eh);
}

/* ------------------------------------------------------------------ */
/* Permissions                                                         */

static int show_message(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n;
  ++*(int *)ud;
  return ward_ctx_reply(ctx, "true", 4);
}

static void test_permissions(void) {
  int shown = 0, read = 0;
  ward_ext_host *eh = setup(0, NULL);
  T_OK(ward_ext_host_method(eh, "host.showMessage", "ui.message", show_message, &shown));
  T_OK(ward_ext_host_method(eh, "host.readSetting", "settings.read", show_message, &read));
  T_OK(ward_ext_host_method(eh, "host.version", NULL, show_message, &read));
  scan(eh, 3);
  /* a asked for ui.message: allowed. */
  char *r = run(eh, "org.example.a/call_host", "{\"method\": \"host.showMessage\"}", WARD_OK);
  T_EQ_STR(r, "{\"rv\":0,\"code\":0}");
  free(r);
  T_EQ_INT(shown, 1);
  /* a did not ask for settings.read, b asked for nothing. */
  r = run(eh, "org.example.a/call_host", "{\"method\": \"host.readSetting\"}", WARD_OK);
  T_EQ_STR(r, "{\"rv\":-12,\"code\":-16}"); /* WARD_EREMOTE with WARD_EPERM */
  free(r);
  r = run(eh, "org.example.b/call_host", "{\"method\": \"host.showMessage\"}", WARD_OK);
  T_EQ_STR(r, "{\"rv\":-12,\"code\":-16}");
  free(r);
  T_EQ_INT(shown, 1);
  T_EQ_INT(read, 0);
  /* A method needing no permission is open to any extension. */
  r = run(eh, "org.example.b/call_host", "{\"method\": \"host.version\"}", WARD_OK);
  T_EQ_STR(r, "{\"rv\":0,\"code\":0}");
  free(r);
  T_EQ_INT(read, 1);
  T_EQ_INT((int)tx_info(eh, "org.example.a").denied, 1);
  T_EQ_INT((int)tx_info(eh, "org.example.b").denied, 1);
  tx_ev d = tx_wait(WARD_EXT_EV_DENIED, "org.example.b");
  T_TRUE(strstr(d.detail, "'host.showMessage' needs the permission 'ui.message'") != NULL);
  teardown(eh);
}

/* ------------------------------------------------------------------ */
/* Isolation                                                           */

static void test_crash_and_hang_isolated(void) {
  ward_ext_host *eh = setup(0, NULL);
  scan(eh, 3);
  char *pid_b = run(eh, "org.example.b/pid", "{}", WARD_OK);
  T_TRUE(run(eh, "org.example.a/crash", "{}", WARD_ECRASHED) == NULL);
  tx_wait(WARD_EXT_EV_EXITED, "org.example.a");
  /* b is the same process, still answering. */
  char *again = run(eh, "org.example.b/pid", "{}", WARD_OK);
  T_EQ_STR(again, pid_b);
  free(again);
  /* a is restarted by its class's policy. */
  free(run(eh, "org.example.a/pid", "{}", WARD_OK));
  ward_ext_info a = tx_info(eh, "org.example.a");
  T_EQ_INT((int)a.restarts, 1);
  /* A hang: the deadline passes, a is killed, b goes on. */
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 300;
  T_ERR(ward_ext_command(NULL, eh, "org.example.a/hang", "{}", 2, &o), WARD_ETIMEDOUT);
  again = run(eh, "org.example.b/pid", "{}", WARD_OK);
  T_EQ_STR(again, pid_b);
  free(again);
  free(pid_b);
  teardown(eh);
}

/* One extension flooding its host (notifications, progress) while
 * another is called: the other answers every call. */
typedef struct flood_arg {
  ward_ext_host *eh;
  int rv;
} flood_arg;

static void slow_progress(const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  struct timespec ts = {0, 100000}; /* a consumer slower than the producer */
  nanosleep(&ts, NULL);
}

static void *flood_thread(void *p) {
  flood_arg *a = p;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 60000;
  o.on_progress = slow_progress;
  a->rv = ward_ext_command(NULL, a->eh, "org.example.a/flood", "{}", 2, &o);
  return NULL;
}

static void test_flood_isolated(void) {
  ward_ext_host *eh = setup(0, NULL);
  scan(eh, 3);
  free(run(eh, "org.example.a/pid", "{}", WARD_OK));
  flood_arg a = {eh, -1};
  pthread_t t;
  T_TRUE(pthread_create(&t, NULL, flood_thread, &a) == 0);
  for (int i = 0; i < 20; i++) {
    int64_t t0 = t_now_ms();
    free(run(eh, "org.example.b/pid", "{}", WARD_OK));
    T_TRUE(t_now_ms() - t0 < 10000);
  }
  T_TRUE(pthread_join(t, NULL) == 0);
  T_EQ_INT(a.rv, WARD_OK);
  teardown(eh);
}

/* Extensions run in the extension class's sandbox, widened by their
 * manifest: a file outside its folder is readable only with fs.read. */
static void test_sandboxed(void) {
  tx_new_root();
  char secret[300], extra[400];
  snprintf(secret, sizeof secret, "%s/secret", tx_root);
  tx_write(secret, "s", 0644);
  snprintf(extra, sizeof extra, "\"permissions\": [\"fs.read:%s\"]", secret);
  tx_ext("r", tx_manifest("org.example.reader", TX_GOOD_CMDS, extra), "good");
  tx_ext("n", tx_manifest("org.example.nosy", TX_GOOD_CMDS, NULL), "good");
  ward_ext_host *eh = tx_host(0);
  folders[0] = tx_root;
  scan(eh, 2);
  char params[400];
  snprintf(params, sizeof params, "{\"path\": \"%s\"}", secret);
  char *r = run(eh, "org.example.reader/read", params, WARD_OK);
  T_EQ_STR(r, "{\"ok\":1}");
  free(r);
  int abi;
  uint64_t can = ward_sandbox_supported(&abi);
  r = run(eh, "org.example.nosy/read", params, WARD_OK);
  T_EQ_STR(r, can & WARD_SANDBOX_LANDLOCK ? "{\"ok\":0}" : "{\"ok\":1}");
  free(r);
  /* What is in force is what this machine can apply of the defaults. */
  uint64_t want = can & (WARD_SANDBOX_RLIMITS | WARD_SANDBOX_NO_NEW_PRIVS |
                         WARD_SANDBOX_SECCOMP | WARD_SANDBOX_LANDLOCK);
  uint64_t got = tx_info(eh, "org.example.nosy").sandbox;
  if ((got & want) != want)
    T_FAIL("sandbox in force 0x%llx, this machine can apply 0x%llx", (unsigned long long)got,
           (unsigned long long)want);
  teardown(eh);
}

static void test_crash_loop_disables(void) {
  ward_ext_host *eh = setup(0, NULL);
  scan(eh, 3);
  ward_class_info c = WARD_CLASS_INFO_INIT;
  T_OK(ward_class_defaults(&c, WARD_CLASS_EXTENSION));
  for (int i = 0; i <= c.intensity; i++)
    T_TRUE(run(eh, "org.example.a/crash", "{}", WARD_ECRASHED) == NULL);
  tx_ev d = tx_wait(WARD_EXT_EV_DISABLED, "org.example.a");
  T_TRUE(strstr(d.detail, "disabled: more than") != NULL);
  T_TRUE(strstr(d.detail, "signal 6") != NULL);
  T_TRUE(run(eh, "org.example.a/pid", "{}", WARD_EGAVEUP) == NULL);
  T_TRUE(strstr(ward_last_error(), "is disabled") != NULL);
  ward_ext_info a = tx_info(eh, "org.example.a");
  T_EQ_INT(a.state, WARD_EXT_DISABLED);
  T_EQ_INT(a.pid, 0);
  /* The others are untouched. */
  free(run(eh, "org.example.b/pid", "{}", WARD_OK));
  T_EQ_INT(tx_info(eh, "org.example.b").state, WARD_EXT_ACTIVE);
  teardown(eh);
}

static void done_noop(ward_call *call, int status, ward_msg *reply, void *ud) {
  (void)call, (void)status, (void)ud;
  ward_msg_free(reply);
}

/* The asynchronous form: cancellation reaches the extension like any call. */
static void test_async_cancel(void) {
  ward_ext_host *eh = setup(0, NULL);
  scan(eh, 3);
  ward_call *call;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 20000;
  T_OK(ward_ext_command_start(&call, eh, "org.example.b/hang", "{}", 2, &o, done_noop, NULL));
  T_OK(ward_call_cancel(call));
  T_ERR(ward_call_wait(call, 20000), WARD_ECANCELED);
  ward_call_free(call);
  /* Params are checked before the call starts. */
  T_ERR(ward_ext_command_start(&call, eh, "org.example.b/count", "{}", 2, &o, done_noop, NULL),
        WARD_EINVAL);
  T_TRUE(call == NULL);
  teardown(eh);
}

int main(int argc, char **argv) {
  int status;
  (void)argc;
  if (tx_main(argv[0], &status))
    return status;
  T_RUN(test_lazy_activation_and_dispatch);
  T_RUN(test_progress_and_bare_name);
  T_RUN(test_on_startup);
  T_RUN(test_idle_stop);
  T_RUN(test_params_checked);
  T_RUN(test_served_and_contributed);
  T_RUN(test_permissions);
  T_RUN(test_crash_and_hang_isolated);
  T_RUN(test_flood_isolated);
  T_RUN(test_sandboxed);
  T_RUN(test_crash_loop_disables);
  T_RUN(test_async_cancel);
  return t_done();
}
