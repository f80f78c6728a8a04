/*
 * test_sandbox.c — ward_spec_sandbox and the restrictions it puts on a
 * worker (ward.h, "The sandbox"; docs/extensions.md).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "tevents.h"
#include "tworker.h"

#include "sandbox.h"
#include "spec.h"

static ward_host *host;
static char scratch[256]; /* a folder outside every allowed one */
static int tcp_port;      /* a listener of the test's on 127.0.0.1 */

/* ---- the worker's side ---- */

static const char *err_text(int e) { return e ? strerrorname_np(e) : "ok"; }

/* Tries one operation (the payload: "NAME ARG") and replies "ok" or the
 * errno's name: the same worker code runs sandboxed and not. */
static int sw_try(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  char op[512], arg[480] = "";
  snprintf(op, sizeof op, "%.*s", (int)(n < 511 ? n : 511), (const char *)d);
  char *sp = strchr(op, ' ');
  if (sp) {
    snprintf(arg, sizeof arg, "%s", sp + 1);
    *sp = 0;
  }
  int e = 0;
  char out[600];
  if (strcmp(op, "read") == 0) {
    int fd = open(arg, O_RDONLY | O_CLOEXEC);
    e = fd < 0 ? errno : 0;
    if (fd >= 0)
      close(fd);
  } else if (strcmp(op, "write") == 0) {
    int fd = open(arg, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    e = fd < 0 ? errno : 0;
    if (fd >= 0)
      close(fd);
  } else if (strcmp(op, "tcp") == 0) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      e = errno;
    } else {
      struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(arg))};
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      e = connect(fd, (struct sockaddr *)&a, sizeof a) ? errno : 0;
      close(fd);
    }
  } else if (strcmp(op, "ptrace") == 0) {
    pid_t kid = fork();
    if (kid == 0) {
      pause();
      _exit(0);
    }
    e = ptrace(PTRACE_SEIZE, kid, NULL, NULL) ? errno : 0;
    kill(kid, SIGKILL);
    waitpid(kid, NULL, 0);
  } else if (strcmp(op, "raise_nofile") == 0) {
    /* Down to 64 if it is above (anyone may lower a limit), then up by
     * one: CAP_SYS_RESOURCE's privilege. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_max > 64) {
      rl.rlim_max = rl.rlim_cur = 64;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    rl.rlim_max += 1;
    rl.rlim_cur = rl.rlim_max;
    e = setrlimit(RLIMIT_NOFILE, &rl) ? errno : 0;
  } else if (strcmp(op, "open_many") == 0) {
    /* Opens /dev/null up to ARG times: "ok" if all opened. */
    int fds[4096], k = 0, want = atoi(arg);
    for (; k < want && k < 4096; k++)
      if ((fds[k] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        e = errno;
        break;
      }
    while (k > 0)
      close(fds[--k]);
  } else if (strcmp(op, "write_big") == 0) {
    /* Writes ARG bytes to a new file in the data directory, with SIGXFSZ
     * ignored so that a file-size limit shows as EFBIG. */
    signal(SIGXFSZ, SIG_IGN);
    char path[512];
    snprintf(path, sizeof path, "%s/big", getenv("WARD_DATA_DIR"));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    static char buf[64 * 1024];
    long want = atol(arg);
    for (long done = 0; fd >= 0 && done < want;) {
      ssize_t w = write(fd, buf, (size_t)(want - done < (long)sizeof buf ? want - done : (long)sizeof buf));
      if (w < 0) {
        e = errno;
        break;
      }
      done += w;
    }
    if (fd < 0)
      e = errno;
    else
      close(fd);
    unlink(path);
  } else if (strcmp(op, "personality") == 0) {
    /* Sets the persona it has: a change as far as the filter knows. */
    long cur = syscall(SYS_personality, 0xffffffffUL);
    e = cur < 0 || syscall(SYS_personality, (unsigned long)cur) < 0 ? errno : 0;
  } else if (strcmp(op, "keyctl") == 0) {
    /* The id of its session keyring (made if need be). */
    e = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 1) < 0 ? errno : 0;
  } else if (strcmp(op, "getpid") == 0) {
    snprintf(out, sizeof out, "%d", (int)getpid());
    return tw_reply_str(ctx, out);
  } else {
    return ward_ctx_fail(ctx, 1, "unknown operation");
  }
  return tw_reply_str(ctx, err_text(e));
}

static int sw_serve(void) {
  ward_client *c;
  if (ward_client_connect(&c)) {
    fprintf(stderr, "sandboxed worker: connect: %s\n", ward_last_error());
    return 2;
  }
  ward_client_handle(c, "echo", tw_echo, c);
  ward_client_handle(c, "stream", tw_stream, c);
  ward_client_handle(c, "abort", tw_abort, c);
  ward_client_handle(c, "try", sw_try, c);
  int rv = ward_client_run(c);
  ward_client_free(c);
  return rv == WARD_OK ? 0 : 1;
}

/* ---- the host's side ---- */

/* LeakSanitizer's check at exit stops the world with ptrace, which the
 * filter refuses: in sanitizer builds, the worker does not look. */
static void sw_no_leak_check(ward_spec *s) {
  char opts[1024];
  T_OK(ward_spec_env(s, "ASAN_OPTIONS", t_asan_no_leaks(opts, sizeof opts)));
}

/* A worker of this binary serving sw_serve, sandboxed by `sb` (or not). */
static ward_spec *sw_spec(const char *name, const ward_sandbox *sb) {
  ward_spec *s = tw_spec(name, "sandboxed");
  sw_no_leak_check(s);
  if (sb)
    T_OK(ward_spec_sandbox(s, sb));
  return s;
}

/* The reply of "try OP ARG" as text. */
static void sw_try_call(ward_worker *w, const char *op, const char *arg, char *out, size_t cap) {
  char req[600];
  snprintf(req, sizeof req, "%s %s", op, arg ? arg : "");
  ward_msg *m;
  int rv = ward_request(&m, w, "try", req, strlen(req), 20000);
  if (rv)
    T_FAIL("try %s: %s (%s)", req, ward_err_name(rv), ward_last_error());
  snprintf(out, cap, "%.*s", (int)ward_msg_len(m), (const char *)ward_msg_data(m));
  ward_msg_free(m);
}

static void expect(ward_worker *w, const char *op, const char *arg, const char *want) {
  char got[128];
  sw_try_call(w, op, arg, got, sizeof got);
  if (strcmp(got, want) != 0)
    T_FAIL("try %s %s: got %s, want %s", op, arg ? arg : "", got, want);
}

/* Whether this kernel can do what the sandbox asks by default; if not,
 * the test says why and is skipped. */
static uint64_t supported; /* ward_sandbox_supported, once */

static int sandbox_possible(const char *test) {
  if (!supported) {
    fprintf(stderr, "-- %s: skipped: this backend has no sandbox\n", test);
    return 0;
  }
  if (!(supported & WARD_SANDBOX_LANDLOCK)) {
    fprintf(stderr, "-- %s: skipped: no Landlock in this kernel\n", test);
    return 0;
  }
  if (!(supported & WARD_SANDBOX_SECCOMP)) {
    fprintf(stderr, "-- %s: skipped: no seccomp in this kernel\n", test);
    return 0;
  }
  return 1;
}

static char secret[300];   /* a file in `scratch` */
static int keyctl_works;   /* keyctl works here, unsandboxed */

static void make_scratch(void) {
  snprintf(scratch, sizeof scratch, "/tmp/ward-sb-test-XXXXXX");
  T_TRUE(mkdtemp(scratch) != NULL);
  snprintf(secret, sizeof secret, "%s/secret", scratch);
  int fd = open(secret, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  T_TRUE(fd >= 0);
  close(fd);
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  T_TRUE(bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 64) == 0);
  socklen_t len = sizeof a;
  getsockname(l, (struct sockaddr *)&a, &len);
  tcp_port = ntohs(a.sin_port);
  /* Left open for the test's life: connections queue in its backlog. */
}

/* What the spec keeps, and what it refuses. */
static void test_spec_checks(void) {
  ward_spec *s = tw_spec("sb", "serve");
  ward_sandbox sb = WARD_SANDBOX_INIT;
  T_ERR(ward_spec_sandbox(NULL, &sb), WARD_EINVAL);
  ward_sandbox zero;
  memset(&zero, 0, sizeof zero);
  T_ERR(ward_spec_sandbox(s, &zero), WARD_EINVAL);
  T_TRUE(strstr(ward_last_error(), "WARD_SANDBOX_INIT") != NULL);
  sb.namespaces = 1 << 20;
  T_ERR(ward_spec_sandbox(s, &sb), WARD_EINVAL);
  sb.namespaces = 0;
  sb.permissions = 1u << 30;
  T_ERR(ward_spec_sandbox(s, &sb), WARD_EINVAL);
  sb.permissions = WARD_PERMIT_NETWORK;
  const char *rel[] = {"/usr/share", "relative/dir", NULL};
  sb.read_paths = rel;
  T_ERR(ward_spec_sandbox(s, &sb), WARD_EINVAL);
  T_TRUE(strstr(ward_last_error(), "relative/dir") != NULL);
  T_TRUE(s->sandbox == NULL);
  /* Kept as a copy: the caller's strings may go. */
  char path[] = "/opt/ext";
  const char *rd[] = {path, NULL};
  sb.read_paths = rd;
  T_OK(ward_spec_sandbox(s, &sb));
  path[1] = 'X';
  T_EQ_STR(s->sandbox->o.read_paths[0], "/opt/ext");
  T_TRUE(s->sandbox->o.write_paths && !s->sandbox->o.write_paths[0]);
  T_EQ_INT(s->sandbox->o.permissions, WARD_PERMIT_NETWORK);
  ward_spec *d = ward__spec_dup(s);
  T_TRUE(d && d->sandbox && d->sandbox != s->sandbox);
  T_EQ_STR(d->sandbox->o.read_paths[0], "/opt/ext");
  ward_spec_free(d);
  T_OK(ward_spec_sandbox(s, NULL));
  T_TRUE(s->sandbox == NULL);
  /* A caller's struct from an older header: what lies past its size is
   * not read, and takes its default. */
  ward_sandbox old = WARD_SANDBOX_INIT;
  old.struct_size = (uint32_t)offsetof(ward_sandbox, rlimit_as);
  old.drop_caps = 0;
  old.rlimit_nofile = 7;
  old.seccomp = 0;
  T_OK(ward_spec_sandbox(s, &old));
  T_EQ_INT(s->sandbox->o.drop_caps, 0);
  T_TRUE(s->sandbox->o.rlimit_nofile == WARD_SANDBOX_RLIMIT_NOFILE_DEFAULT);
  T_EQ_INT(s->sandbox->o.seccomp, WARD_SANDBOX_SECCOMP_DEFAULT);
  ward_spec_free(s);
}

static int has_sys_resource(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  unsigned long long eff = 0;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "CapEff:", 7) == 0)
      eff = strtoull(line + 7, NULL, 16);
  if (f)
    fclose(f);
  return (eff >> 24) & 1; /* CAP_SYS_RESOURCE */
}

/* Every operation the sandbox refuses works in the same worker
 * unsandboxed, and nothing is reported in force. */
static void test_unsandboxed_baseline(void) {
  ward_worker *w;
  ward_spec *s = sw_spec("plain", NULL);
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  char port[16];
  snprintf(port, sizeof port, "%d", tcp_port);
  expect(w, "read", secret, "ok");
  expect(w, "tcp", port, "ok");
  expect(w, "ptrace", NULL, "ok");
  expect(w, "open_many", "100", "ok");
  expect(w, "write_big", "3000000", "ok");
  expect(w, "personality", NULL, "ok");
  char keys[64];
  sw_try_call(w, "keyctl", NULL, keys, sizeof keys);
  keyctl_works = strcmp(keys, "ok") == 0;
  if (!keyctl_works)
    fprintf(stderr, "   (keyctl unsandboxed: %s here, so not shown sandboxed)\n", keys);
  /* Raising a hard limit takes CAP_SYS_RESOURCE: if this test has it,
   * so has the unsandboxed worker. */
  if (has_sys_resource())
    expect(w, "raise_nofile", NULL, "ok");
  else
    fprintf(stderr, "   (raising a limit unsandboxed: not shown, no CAP_SYS_RESOURCE here)\n");
  ward_info info = WARD_INFO_INIT;
  T_OK(ward_worker_info(&info, w));
  T_TRUE(info.sandbox == 0);
  T_EQ_INT(info.landlock_abi, 0);
  ward_worker_free(w);
}

/* Each restriction, shown failing inside a sandboxed worker. */
static void test_violations_fail(void) {
  if (!sandbox_possible(__func__))
    return;
  ward_sandbox sb = WARD_SANDBOX_INIT;
  sb.rlimit_nofile = 64;
  sb.rlimit_fsize = 2 << 20;
  ward_worker *w;
  ward_spec *s = sw_spec("jailed", &sb);
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  ward_info info = WARD_INFO_INIT;
  T_OK(ward_worker_info(&info, w));
  uint64_t all = WARD_SANDBOX_RLIMITS | WARD_SANDBOX_NO_NEW_PRIVS | WARD_SANDBOX_NO_CAPS |
                 WARD_SANDBOX_SECCOMP | WARD_SANDBOX_LANDLOCK;
  if (info.sandbox != all)
    T_FAIL("in force: 0x%llx, want 0x%llx", (unsigned long long)info.sandbox,
           (unsigned long long)all);
  T_TRUE(info.landlock_abi >= 1);
  char port[16], inside[512];
  snprintf(port, sizeof port, "%d", tcp_port);
  /* Files: outside the allowed folders, refused; the data directory is
   * writable, the system's libraries readable. */
  expect(w, "read", secret, "EACCES");
  snprintf(inside, sizeof inside, "%s/made-here", ward_worker_data_dir(w));
  expect(w, "write", inside, "ok");
  expect(w, "read", "/usr/lib/os-release", "ok");
  /* Sockets, ptrace: the filter. */
  expect(w, "tcp", port, "EPERM");
  expect(w, "ptrace", NULL, "EPERM");
  expect(w, "personality", NULL, "EPERM");
  if (keyctl_works)
    expect(w, "keyctl", NULL, "EPERM");
  /* Limits: not above the cap, and the cap holds. */
  expect(w, "raise_nofile", NULL, "EPERM");
  expect(w, "open_many", "100", "EMFILE");
  expect(w, "open_many", "40", "ok");
  expect(w, "write_big", "3000000", "EFBIG");
  expect(w, "write_big", "1000000", "ok");
  ward_worker_free(w);
}

/* Permissions widen it: a read path, and the network. */
static void test_permissions_widen(void) {
  if (!sandbox_possible(__func__))
    return;
  ward_sandbox sb = WARD_SANDBOX_INIT;
  const char *rd[] = {scratch, NULL};
  sb.read_paths = rd;
  sb.permissions = WARD_PERMIT_NETWORK;
  ward_worker *w;
  ward_spec *s = sw_spec("widened", &sb);
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  char port[16], other[400];
  snprintf(port, sizeof port, "%d", tcp_port);
  expect(w, "read", secret, "ok");
  snprintf(other, sizeof other, "%s/new", scratch);
  expect(w, "write", other, "EACCES"); /* read-only */
  expect(w, "tcp", port, "ok");
  expect(w, "ptrace", NULL, "EPERM");
  ward_worker_free(w);
}

/* A sandboxed worker serves calls and streams, answers heartbeats, is
 * restarted sandboxed after a crash, and stops cleanly. */
static void test_supervised_normally(void) {
  if (!sandbox_possible(__func__))
    return;
  ward_sandbox sb = WARD_SANDBOX_INIT;
  ward_worker *w;
  ward_spec *s = sw_spec("served", &sb);
  T_OK(ward_spec_heartbeat(s, 50, 3));
  T_OK(ward_spec_backoff(s, 10, 100, 200, 10000));
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  ward_msg *m;
  T_OK(ward_request(&m, w, "echo", "hi", 2, 10000));
  T_EQ_MEM(ward_msg_data(m), "hi", 2);
  ward_msg_free(m);
  ward_summary sum = WARD_SUMMARY_INIT;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 20000;
  o.summary = &sum;
  T_OK(ward_request_ex(&m, w, "stream", "500 100", 7, &o));
  ward_msg_free(m);
  T_TRUE(sum.rows == 500);
  ward_summary_clear(&sum);
  /* Heartbeats: several intervals pass and it stays the same process. */
  ward_info before = WARD_INFO_INIT, after = WARD_INFO_INIT;
  T_OK(ward_worker_info(&before, w));
  T_OK(ward_ping(w, 10000));
  struct timespec ts = {0, 400 * 1000000L};
  nanosleep(&ts, NULL); /* eight heartbeat intervals, for them to be answered */
  T_OK(ward_worker_info(&after, w));
  T_EQ_INT(after.pid, before.pid);
  T_EQ_INT(after.state, WARD_STATE_READY);
  T_EQ_INT(tev_count(WARD_EV_UNHEALTHY, ward_worker_id(w)), 0);
  /* A crash: restarted, sandboxed again. */
  int mark = tev_mark();
  T_ERR(ward_request(&m, w, "abort", NULL, 0, 10000), WARD_ECRASHED);
  tev_wait_from(mark, WARD_EV_RESTARTED, ward_worker_id(w));
  T_OK(ward_worker_info(&after, w));
  T_TRUE(after.pid != before.pid && after.pid > 0);
  T_TRUE(after.sandbox == before.sandbox && after.sandbox != 0);
  char port[16];
  snprintf(port, sizeof port, "%d", tcp_port);
  expect(w, "tcp", port, "EPERM");
  expect(w, "read", secret, "EACCES");
  T_OK(ward_worker_stop(w, 5000));
  T_OK(ward_worker_info(&after, w));
  T_EQ_INT(after.last_stop, WARD_STOP_GRACEFUL);
  T_EQ_INT(after.last_exit_code, 0);
  T_TRUE(after.sandbox == 0); /* no process */
  ward_worker_free(w);
}

/* Through a Unix socket by path (WARD_TRANSPORT_SOCKET) the sandboxed
 * worker connects and serves as well; a path that does not exist fails
 * the start, naming it. */
static void test_socket_transport_and_bad_path(void) {
  if (!sandbox_possible(__func__))
    return;
  ward_sandbox sb = WARD_SANDBOX_INIT;
  ward_worker *w;
  ward_spec *s = sw_spec("by-path", &sb);
  T_OK(ward_spec_transport(s, WARD_TRANSPORT_SOCKET));
  T_OK(ward_spawn(&w, host, s));
  ward_msg *m;
  T_OK(ward_request(&m, w, "echo", "x", 1, 10000));
  ward_msg_free(m);
  ward_worker_free(w);
  const char *missing[] = {"/nonexistent/ward-sandbox-folder", NULL};
  sb.read_paths = missing;
  T_OK(ward_spec_sandbox(s, &sb));
  T_ERR(ward_spawn(&w, host, s), WARD_ESPAWN);
  T_EQ_INT(ward_last_errno(), ENOENT);
  T_TRUE(strstr(ward_last_error(), "/nonexistent/ward-sandbox-folder") != NULL);
  ward_spec_free(s);
}

/* An executable given relative to the spec's working directory is the
 * one Landlock lets it run. */
static void test_relative_executable(void) {
  if (!sandbox_possible(__func__))
    return;
  char self[4096];
  tw_self(self, sizeof self);
  char *slash = strrchr(self, '/');
  T_TRUE(slash != NULL);
  *slash = 0;
  char rel[4200];
  snprintf(rel, sizeof rel, "./%s", slash + 1);
  ward_spec *s;
  T_OK(ward_spec_new(&s, "relative", rel));
  T_OK(ward_spec_arg(s, "--worker"));
  T_OK(ward_spec_arg(s, "sandboxed"));
  T_OK(ward_spec_cwd(s, self));
  sw_no_leak_check(s);
  ward_sandbox sb = WARD_SANDBOX_INIT;
  T_OK(ward_spec_sandbox(s, &sb));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  expect(w, "read", secret, "EACCES");
  ward_worker_free(w);
}

/* New namespaces: no network at all (even with the permission), and pid 1. */
static void test_namespaces(void) {
  if (!sandbox_possible(__func__))
    return;
  ward_sandbox sb = WARD_SANDBOX_INIT;
  sb.namespaces = WARD_SANDBOX_NEW_NET | WARD_SANDBOX_NEW_IPC | WARD_SANDBOX_NEW_PID;
  sb.permissions = WARD_PERMIT_NETWORK;
  ward_worker *w;
  ward_spec *s = sw_spec("spaced", &sb);
  int rv = ward_spawn(&w, host, s);
  ward_spec_free(s);
  if (rv == WARD_ESPAWN && ward_last_errno() == ENOTSUP) {
    fprintf(stderr, "-- %s: skipped: %s\n", __func__, ward_last_error());
    return;
  }
  T_OK(rv);
  ward_info info = WARD_INFO_INIT;
  T_OK(ward_worker_info(&info, w));
  T_TRUE((info.sandbox & (WARD_SANDBOX_NEW_NET | WARD_SANDBOX_NEW_PID)) ==
         (WARD_SANDBOX_NEW_NET | WARD_SANDBOX_NEW_PID));
  char port[16];
  snprintf(port, sizeof port, "%d", tcp_port);
  expect(w, "tcp", port, "ENETUNREACH");
  expect(w, "getpid", NULL, "1");
  T_OK(ward_worker_stop(w, 2000));
  ward_worker_free(w);
}

/* On Linux, where the cloning spawn cannot be used (here: no pidfds, as
 * WARD_NO_PIDFD=1 pretends), posix_spawn cannot apply a sandbox: the
 * start is refused, or with best effort runs with nothing in force. */
static void test_fallback_is_said(void) {
  if (!supported) {
    fprintf(stderr, "-- %s: skipped: test_not_sandboxed_is_said covers it\n", __func__);
    return;
  }
  setenv("WARD_NO_PIDFD", "1", 1);
  ward_host *h2;
  T_OK(ward_host_new(&h2, NULL));
  ward_sandbox sb = WARD_SANDBOX_INIT;
  ward_worker *w = NULL;
  ward_spec *s = sw_spec("fallback", &sb);
  T_ERR(ward_spawn(&w, h2, s), WARD_ESPAWN);
  T_EQ_INT(ward_last_errno(), ENOTSUP);
  T_TRUE(strstr(ward_last_error(), "cloning spawn") != NULL);
  sb.best_effort = 1;
  T_OK(ward_spec_sandbox(s, &sb));
  T_OK(ward_spawn(&w, h2, s));
  ward_spec_free(s);
  ward_info info = WARD_INFO_INIT;
  T_OK(ward_worker_info(&info, w));
  T_TRUE(info.sandbox == 0);
  T_EQ_INT(info.landlock_abi, 0);
  ward_worker_free(w);
  ward_host_free(h2);
  unsetenv("WARD_NO_PIDFD");
}

/* Where the sandbox cannot be applied (the portable backend): the start
 * fails, typed, unless best effort, which runs with nothing in force. */
static void test_not_sandboxed_is_said(void) {
  if (supported) {
    fprintf(stderr, "-- %s: skipped: this backend sandboxes\n", __func__);
    return;
  }
  ward_sandbox sb = WARD_SANDBOX_INIT;
  ward_worker *w = NULL;
  ward_spec *s = sw_spec("refused", &sb);
  T_ERR(ward_spawn(&w, host, s), WARD_ESPAWN);
  T_EQ_INT(ward_last_errno(), ENOTSUP);
  T_TRUE(strstr(ward_last_error(), "sandbox") != NULL);
  sb.best_effort = 1;
  T_OK(ward_spec_sandbox(s, &sb));
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  ward_info info = WARD_INFO_INIT;
  T_OK(ward_worker_info(&info, w));
  T_TRUE(info.sandbox == 0);
  char port[16];
  snprintf(port, sizeof port, "%d", tcp_port);
  expect(w, "tcp", port, "ok");
  ward_worker_free(w);
}

int main(int argc, char **argv) {
  if (argc > 2 && strcmp(argv[1], "--worker") == 0 && strcmp(argv[2], "sandboxed") == 0)
    return sw_serve();
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  host = tev_host();
  make_scratch();
  supported = ward_sandbox_supported(NULL);
  T_RUN(test_spec_checks);
  T_RUN(test_unsandboxed_baseline);
  T_RUN(test_violations_fail);
  T_RUN(test_permissions_widen);
  T_RUN(test_supervised_normally);
  T_RUN(test_socket_transport_and_bad_path);
  T_RUN(test_relative_executable);
  T_RUN(test_namespaces);
  T_RUN(test_not_sandboxed_is_said);
  T_RUN(test_fallback_is_said);
  ward__remove_tree(scratch);
  ward_host_free(host);
  return t_done();
}
