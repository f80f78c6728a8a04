/*
 * test_ops.c — what running workers in production needs: captured output
 * (lines, queries, last words before a crash, long and binary lines, the
 * ring's bound, events, output modes) and per-worker data directories.
 *
 * On Windows the host's stderr is swapped with SetStdHandle (the backend
 * writes to that handle), and a private directory is one whose access
 * list the backend set (its mode bits say nothing there).
 */
#include <signal.h>
#include <sys/stat.h>
#ifdef _WIN32
#include <aclapi.h>
#endif

#include "tevents.h"
#include "tworker.h"

static ward_host *host;

static ward_worker *spawn_spec(ward_spec *s) {
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  return w;
}

static void say(ward_worker *w, const char *text) {
  T_OK(ward_request(NULL, w, "say", text, strlen(text), 10000));
}

/* The worker's output reaches the ring through the host's loop: wait for
 * a line to be there (a query is cheap). */
static void wait_lines(ward_worker *w, size_t want, const ward_log_query *q) {
  int64_t deadline = t_now_ms() + 20000;
  for (;;) {
    ward_log_line *v;
    size_t n;
    T_OK(ward_worker_logs(&v, &n, w, q));
    ward_log_lines_free(v, n);
    if (n >= want)
      return;
    if (t_now_ms() > deadline)
      T_FAIL("only %zu of %zu lines within 20 s", n, want);
    T_OK(ward_ping(w, 10000)); /* a round trip lets the loop read on */
  }
}

static void test_capture_and_query(void) {
  ward_worker *w = spawn_spec(tw_spec("logs", "serve"));
  int64_t t0 = (int64_t)time(NULL) * 1000 - 60000; /* wall clock, a minute ago */
  T_OK(ward_request(NULL, w, "print", NULL, 0, 10000));
  ward_log_query q = WARD_LOG_QUERY_INIT;
  wait_lines(w, 600, &q);
  ward_log_line *v;
  size_t n;
  T_OK(ward_worker_logs(&v, &n, w, NULL));
  T_EQ_INT(n, 600);
  size_t outs = 0;
  for (size_t i = 0; i < n; i++) {
    T_EQ_INT(v[i].seq, i + 1);
    T_EQ_INT(v[i].generation, 1);
    T_TRUE(v[i].time_ms > t0);
    if (v[i].stream == WARD_LOG_STDOUT) {
      char want[80];
      snprintf(want, sizeof want, "stray stdout line %zu from the worker, not protocol", outs++);
      T_EQ_STR(v[i].text, want);
    }
  }
  T_EQ_INT(outs, 300);
  ward_log_lines_free(v, n);

  /* Only stderr, the last 5. */
  q.streams = WARD_LOG_STDERR;
  q.last = 5;
  T_OK(ward_worker_logs(&v, &n, w, &q));
  T_EQ_INT(n, 5);
  T_EQ_STR(v[4].text, "stray stderr line 299");
  T_EQ_INT(v[4].stream, WARD_LOG_STDERR);
  ward_log_lines_free(v, n);

  /* Following: after a sequence number, a page at a time. */
  q = (ward_log_query)WARD_LOG_QUERY_INIT;
  q.after_seq = 590;
  q.limit = 4;
  T_OK(ward_worker_logs(&v, &n, w, &q));
  T_EQ_INT(n, 4);
  T_EQ_INT(v[0].seq, 591);
  ward_log_lines_free(v, n);

  /* Since a time: nothing from the future. */
  q = (ward_log_query)WARD_LOG_QUERY_INIT;
  q.since_ms = (int64_t)time(NULL) * 1000 + 60000;
  T_OK(ward_worker_logs(&v, &n, w, &q));
  T_EQ_INT(n, 0);
  ward_log_lines_free(v, n);
  ward_worker_free(w);
}

static void test_last_words_survive_the_crash(void) {
  ward_spec *s = tw_spec("dying", "serve");
  T_OK(ward_spec_backoff(s, 0, 0, 200, 0));
  ward_worker *w = spawn_spec(s);
  uint64_t id = ward_worker_id(w);
  say(w, "first generation speaking");
  T_ERR(ward_request(NULL, w, "last_words", "goodbye, cruel world", 20, 10000), WARD_ECRASHED);
  tev_wait(WARD_EV_EXITED, id);
  /* By the time its exit is reported, what it wrote is in the ring. */
  ward_log_query q = WARD_LOG_QUERY_INIT;
  q.streams = WARD_LOG_STDERR;
  ward_log_line *v;
  size_t n;
  T_OK(ward_worker_logs(&v, &n, w, &q));
  T_TRUE(n >= 1);
  T_EQ_STR(v[n - 1].text, "goodbye, cruel world");
  T_EQ_INT(v[n - 1].generation, 1);
  ward_log_lines_free(v, n);
  /* The ring outlives the process: the next generation adds to it. */
  say(w, "second generation speaking");
  q = (ward_log_query)WARD_LOG_QUERY_INIT;
  q.streams = WARD_LOG_STDOUT;
  wait_lines(w, 2, &q);
  T_OK(ward_worker_logs(&v, &n, w, &q));
  T_EQ_INT(n, 2);
  T_EQ_INT(v[0].generation, 1);
  T_EQ_INT(v[1].generation, 2);
  T_EQ_STR(v[1].text, "second generation speaking");
  ward_log_lines_free(v, n);
  ward_worker_free(w);
}

/* A worker that ends before its handshake: the error and its EXITED event
 * carry what it last said on stderr, which says why. */
static void test_first_start_says_why(void) {
  ward_spec *s = tw_spec("unloadable", "die_saying");
  ward_worker *w;
  T_OK(ward_spawn_start(&w, host, s));
  ward_spec_free(s);
  T_ERR(ward_worker_wait_ready(w, 30000), WARD_EHANDSHAKE);
  const char *e = ward_last_error();
  if (!strstr(e, "worker 'unloadable'") || !strstr(e, "(code 127)") ||
      !strstr(e, "last on stderr: starting up | error while loading shared libraries: "
                 "libnope.so.1: cannot open shared object file"))
    T_FAIL("ward_last_error() = \"%s\"", e);
  tev ev = tev_wait(WARD_EV_EXITED, ward_worker_id(w));
  T_EQ_INT(ev.exit_code, 127);
  T_TRUE(strstr(ev.detail, "exited with code 127") != NULL);
  T_TRUE(strstr(ev.detail, "last on stderr: ") != NULL);
  T_TRUE(strstr(ev.detail, "libnope.so.1") != NULL);
  ward_worker_free(w);
}

static void test_long_and_binary_lines(void) {
  ward_worker *w = spawn_spec(tw_spec("odd", "serve"));
  T_OK(ward_request(NULL, w, "odd_output", NULL, 0, 10000));
  ward_log_query q = WARD_LOG_QUERY_INIT;
  wait_lines(w, 6, &q);
  ward_log_line *v;
  size_t n;
  T_OK(ward_worker_logs(&v, &n, w, &q));
  T_EQ_INT(n, 6);
  /* 10000 bytes: two whole pieces of 4096 and the rest, all marked. */
  T_EQ_INT(v[0].len, 4096);
  T_EQ_INT(v[1].len, 4096);
  T_EQ_INT(v[2].len, 10000 - 2 * 4096);
  for (int i = 0; i < 3; i++)
    T_TRUE(v[i].flags & WARD_LOG_CUT);
  T_EQ_STR(v[3].text, "bin?ary?[0m");
  T_TRUE(v[3].flags & WARD_LOG_BINARY);
  T_TRUE(!(v[3].flags & WARD_LOG_CUT));
  /* "\r\n" ends a line as "\n" does; a CR elsewhere is a control byte. */
  T_EQ_STR(v[4].text, "crlf");
  T_EQ_INT(v[4].flags, 0);
  T_EQ_STR(v[5].text, "cr?inside");
  T_TRUE(v[5].flags & WARD_LOG_BINARY);
  ward_log_lines_free(v, n);
  ward_worker_free(w);
}

static void test_ring_is_bounded(void) {
  ward_spec *s = tw_spec("bounded", "serve");
  T_OK(ward_spec_log_ring(s, 16 * 1024));
  ward_worker *w = spawn_spec(s);
  T_OK(ward_request(NULL, w, "print", NULL, 0, 10000)); /* 600 lines, ~25 KiB */
  /* Wait for the very last line; the oldest are gone by then. */
  ward_log_query q = WARD_LOG_QUERY_INIT;
  q.after_seq = 599;
  wait_lines(w, 1, &q);
  ward_log_line *v;
  size_t n;
  T_OK(ward_worker_logs(&v, &n, w, NULL));
  T_TRUE(n > 50 && n < 600);
  T_EQ_INT(v[n - 1].seq, 600);
  T_EQ_INT(v[0].seq, 600 - n + 1);
  size_t bytes = 0;
  for (size_t i = 0; i < n; i++)
    bytes += v[i].len;
  T_TRUE(bytes < 16 * 1024);
  ward_log_lines_free(v, n);
  ward_worker_free(w);
}

static void test_log_events(void) {
  ward_spec *s = tw_spec("chatty", "serve");
  T_OK(ward_spec_log_events(s, 1));
  ward_worker *w = spawn_spec(s);
  uint64_t id = ward_worker_id(w);
  say(w, "an event for this line");
  tev e = tev_wait(WARD_EV_LOG, id);
  T_EQ_STR(ward_event_name(WARD_EV_LOG), "log");
  T_EQ_STR(e.detail, "an event for this line");
  T_EQ_INT(e.stream, WARD_LOG_STDOUT);
  T_EQ_INT(e.seq, 1);
  ward_worker_free(w);
}

static void test_output_modes(void) {
  static const int modes[] = {WARD_OUTPUT_DISCARD, WARD_OUTPUT_INHERIT};
  for (int i = 0; i < 2; i++) {
    ward_spec *s = tw_spec("quiet", "serve");
    T_OK(ward_spec_output(s, modes[i]));
    ward_worker *w = spawn_spec(s);
    say(w, modes[i] == WARD_OUTPUT_INHERIT ? "(inherited output, not captured)" : "discarded");
    T_OK(ward_ping(w, 10000));
    ward_log_line *v;
    size_t n;
    T_OK(ward_worker_logs(&v, &n, w, NULL));
    T_EQ_INT(n, 0);
    ward_log_lines_free(v, n);
    ward_worker_free(w);
  }
  /* Forwarded lines are captured too. */
  ward_spec *s = tw_spec("fwd", "serve");
  T_OK(ward_spec_output(s, WARD_OUTPUT_FORWARD));
  ward_worker *w = spawn_spec(s);
  say(w, "forwarded to the host's stderr");
  ward_log_query q = WARD_LOG_QUERY_INIT;
  wait_lines(w, 1, &q);
  ward_worker_free(w);
  T_ERR(ward_spec_output(s = tw_spec("x", "serve"), 9), WARD_EINVAL);
  ward_spec_free(s);
}

static void drop_reply(ward_call *call, int status, ward_msg *reply, void *ud) {
  (void)call, (void)status, (void)ud;
  ward_msg_free(reply);
}

/* Forwarding never stalls the host: with its stderr a pipe nobody reads,
 * calls still go through, and the lines are in the ring. */
static void test_forward_to_a_full_stderr(void) {
#ifdef _WIN32
  HANDLE saved = GetStdHandle(STD_ERROR_HANDLE), rd, wr;
  T_TRUE(CreatePipe(&rd, &wr, NULL, 0));
#else
  int saved = dup(2), p[2];
  T_TRUE(saved >= 0 && pipe(p) == 0);
#endif
  ward_spec *s = tw_spec("fwd-full", "serve");
  T_OK(ward_spec_output(s, WARD_OUTPUT_FORWARD));
  ward_worker *w = spawn_spec(s);
#ifdef _WIN32
  T_TRUE(SetStdHandle(STD_ERROR_HANDLE, wr));
#else
  T_TRUE(dup2(p[1], 2) == 2);
  close(p[1]);
#endif
  int rv = 0;
  /* 6 x 600 lines: well over the pipe's 64 KiB. */
  for (int i = 0; i < 6 && !rv; i++)
    rv = ward_request(NULL, w, "print", NULL, 0, 20000);
  /* An asynchronous call's end is delivered by the host's loop. */
  ward_call *call = NULL;
  int ping = rv ? rv : ward_call_start(&call, w, "echo", "1", 1, NULL, drop_reply, NULL);
  if (!ping)
    ping = ward_call_wait(call, 20000);
  /* Back to the real stderr before any check can print; closing the pipe
   * frees a loop stuck writing to it. */
#ifdef _WIN32
  SetStdHandle(STD_ERROR_HANDLE, saved);
  CloseHandle(rd);
  CloseHandle(wr);
#else
  dup2(saved, 2);
  close(saved);
  close(p[0]);
#endif
  T_OK(rv);
  T_OK(ping);
  ward_call_free(call);
  ward_log_query q = WARD_LOG_QUERY_INIT;
  wait_lines(w, 600, &q);
  ward_worker_free(w);
}

/* Whether `path` is a directory only its owner may use: mode 0700; on
 * Windows, every entry of its access list allows the user (the backend
 * asks for "D:P(A;;GA;;;user)") or the system (which Wine, whose lists
 * are made from Unix modes, adds): none for administrators, users or
 * everyone, as a directory in the temporary directory would otherwise
 * inherit. */
static int is_private_dir(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
    return 0;
#ifdef _WIN32
  HANDLE tok;
  char user[256];
  DWORD len = 0;
  T_TRUE(OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok));
  T_TRUE(GetTokenInformation(tok, TokenUser, user, sizeof user, &len));
  CloseHandle(tok);
  PSID me = ((TOKEN_USER *)(void *)user)->User.Sid;
  PACL dacl = NULL;
  PSECURITY_DESCRIPTOR sd = NULL;
  if (GetNamedSecurityInfoA(path, SE_FILE_OBJECT, DACL_SECURITY_INFORMATION, NULL, NULL, &dacl,
                            NULL, &sd) != ERROR_SUCCESS)
    return 0;
  int ok = dacl != NULL && dacl->AceCount > 0;
  for (DWORD i = 0; ok && i < dacl->AceCount; i++) {
    ACE_HEADER *ace = NULL;
    ok = GetAce(dacl, i, (void **)&ace) && ace->AceType == ACCESS_ALLOWED_ACE_TYPE;
    if (ok) {
      PSID who = &((ACCESS_ALLOWED_ACE *)ace)->SidStart;
      ok = EqualSid(who, me) || IsWellKnownSid(who, WinLocalSystemSid);
    }
  }
  LocalFree(sd);
  return ok;
#else
  return (st.st_mode & 0777) == 0700;
#endif
}

/* The directory for the "rooted" data directory below: /tmp (the
 * temporary directory on Windows, without its last backslash). */
static const char *scratch_root(void) {
#ifdef _WIN32
  static char dir[MAX_PATH + 1];
  DWORD n = GetTempPathA(sizeof dir, dir);
  T_TRUE(n > 1 && n <= MAX_PATH);
  if (dir[n - 1] == '\\')
    dir[n - 1] = 0;
  return dir;
#else
  return "/tmp";
#endif
}

static void test_data_dir(void) {
  ward_worker *w = spawn_spec(tw_spec("data", "serve"));
  const char *dir = ward_worker_data_dir(w);
  T_TRUE(dir != NULL);
  T_TRUE(is_private_dir(dir));
  ward_msg *m = NULL;
  T_OK(ward_request(&m, w, "data", "note.txt", 8, 10000));
  T_EQ_INT(ward_msg_len(m), strlen(dir));
  T_EQ_MEM(ward_msg_data(m), dir, strlen(dir));
  ward_msg_free(m);
  /* Kept across restarts of the same worker. */
  T_OK(ward_worker_cycle(w));
  T_OK(ward_request(&m, w, "data", "read note.txt", 13, 10000));
  T_EQ_MEM(ward_msg_data(m), "kept", 4);
  ward_msg_free(m);
  char copy[4096];
  snprintf(copy, sizeof copy, "%s", dir);
  ward_worker_free(w);
  struct stat st;
  T_TRUE(stat(copy, &st) < 0); /* removed with its contents */

  /* Kept on request; none at all when asked. */
  ward_spec *s = tw_spec("kept", "serve");
  T_OK(ward_spec_keep_data(s, 1));
  w = spawn_spec(s);
  snprintf(copy, sizeof copy, "%s", ward_worker_data_dir(w));
  ward_worker_free(w);
  T_TRUE(is_private_dir(copy));
  rmdir(copy);
  /* Settings that own strings do not step on each other. */
  s = tw_spec("rooted", "serve");
  T_OK(ward_spec_data_root(s, scratch_root()));
  T_OK(ward_spec_require_version(s, "1", NULL));
  w = spawn_spec(s);
  char want[4200];
  snprintf(want, sizeof want, "%s%sward-rooted-", scratch_root(), T_PATH_SEP);
  T_TRUE(strncmp(ward_worker_data_dir(w), want, strlen(want)) == 0);
  ward_worker_free(w);
  s = tw_spec("nodir", "serve");
  T_OK(ward_spec_data_root(s, NULL));
  w = spawn_spec(s);
  T_TRUE(ward_worker_data_dir(w) == NULL);
  T_OK(ward_request(&m, w, "data", "x", 1, 10000));
  T_EQ_MEM(ward_msg_data(m), "(none)", 6);
  ward_msg_free(m);
  ward_worker_free(w);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return tworker_main(argc, argv);
#ifndef _WIN32
  signal(SIGPIPE, SIG_IGN);
#endif
  host = tev_host();
  T_RUN(test_capture_and_query);
  T_RUN(test_last_words_survive_the_crash);
  T_RUN(test_first_start_says_why);
  T_RUN(test_long_and_binary_lines);
  T_RUN(test_ring_is_bounded);
  T_RUN(test_log_events);
  T_RUN(test_output_modes);
  T_RUN(test_forward_to_a_full_stderr);
  T_RUN(test_data_dir);
  ward_host_free(host);
  return t_done();
}
