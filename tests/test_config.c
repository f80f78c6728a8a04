/*
 * test_config.c — the configuration file of `ward run`, through the real
 * binary (its path is argv[1]) and `ward run --check`: bytes that are not
 * text are refused with their line, and a file of ten megabytes, tens of
 * thousands of services with dependencies, is checked whole and right.
 * Supervision groups are refused with their line when a section or a
 * service's `group` is wrong. And docs/cli.md lists the keys the parser knows (`ward run --keys`),
 * with their defaults, their meanings and what a reload does with them.
 *
 * (A file that size took minutes to check while services were found by
 * walking all of them; here it must merely finish within ctest's timeout.
 * How long it takes is bench/bench_config's business, not a test's.)
 */
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "config.h"
#include "tdoc.h"
#include "trun.h"

static char dir[48], conf_path[96];

static void write_bytes(const char *path, const char *p, size_t n) {
  FILE *f = fopen(path, "w");
  T_TRUE(f != NULL);
  T_TRUE(fwrite(p, 1, n, f) == n);
  T_TRUE(fclose(f) == 0);
}

/* `ward run --check` of the `n` bytes at `p` is refused with "FILE:"
 * followed by `where_what` on stderr. */
static void expect_refused(const char *p, size_t n, const char *where_what) {
  write_bytes(conf_path, p, n);
  char want[256];
  snprintf(want, sizeof want, "%s:%s", conf_path, where_what);
  run_result r;
  RUN(&r, "run", "--check", conf_path);
  EXPECT(&r, r.code == 3);
  EXPECT(&r, strstr(r.err, want) != NULL);
  run_result_free(&r);
}

#define REFUSED(lit, where_what) expect_refused(lit, sizeof lit - 1, where_what)

static void test_nul_byte(void) {
  /* inih would take "sl" as the command and never see the rest. */
  REFUSED("[service a]\ncommand = sl\0eep 1\n", "2: a NUL byte in the line");
  REFUSED("[service a]\ncommand = sleep 1\n; a comment\0\n", "3: a NUL byte in the line");
  REFUSED("[serv\0ice a]\ncommand = sleep 1\n", "1: a NUL byte in the line");
  REFUSED("[service a]\ncommand = sleep 1\n\0", "3: a NUL byte in the line");
  /* The first error wins, in the order of the lines. */
  REFUSED("[service a]\ncommand = sleep 1\nbogus = 1\nenv = A=\0\n", "3: unknown key 'bogus'");
}

/* [group NAME] sections and the services' `group`. */
static void test_groups(void) {
  REFUSED("[group g]\nstrategy = all-for-none\n[service a]\ncommand = sleep 1\n",
          "2: strategy: 'all-for-none' is not one-for-one, one-for-all or rest-for-one");
  REFUSED("[service a]\ncommand = sleep 1\ngroup = nope\n",
          "3: [service a] is in group 'nope', which has no [group nope] section");
  REFUSED("[group g]\nmax_restarts = 300\n", "2: max_restarts: '300' is not a number 0..256");
  REFUSED("[group g]\nrestart_window = soon\n",
          "2: restart_window: 'soon' is not a duration (e.g. 60s)");
  REFUSED("[group g]\ncommand = sleep 1\n", "2: unknown key 'command' in [group g]");
  REFUSED("[group g]\n[service a]\ncommand = sleep 1\n[group  g]\nstrategy = one-for-all\n",
          "4: section [group  g] given twice (first on line 1)");
  REFUSED("[group a b]\n", "1: 'a b' is not a group name");
  /* A group and a service may share a name; a group needs no key. */
  write_bytes(conf_path, "[group a]\n[service a]\ncommand = sleep 1\ngroup = a\n", 50);
  run_result r;
  RUN(&r, "run", "--check", conf_path);
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
}

/* `class` takes a class's name and nothing else. */
static void test_class_key(void) {
  REFUSED("[service a]\ncommand = sleep 1\nclass = daemon\n",
          "3: class: 'daemon' is not ui, worker, media or extension");
  static const char good[] = "[service a]\ncommand = sleep 1\nclass = extension\n";
  write_bytes(conf_path, good, sizeof good - 1);
  run_result r;
  RUN(&r, "run", "--check", conf_path);
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
}

static void test_long_line(void) {
  char text[512];
  int n = snprintf(text, sizeof text, "[service a]\ncommand = sleep 1 %0*d\nrestart = never\n",
                   190, 0);
  expect_refused(text, (size_t)n, "2: line too long (at most 198 characters)");
  /* 198 characters are fine, newline or not. */
  n = snprintf(text, sizeof text, "[service a]\ncommand = sleep %0*d\n", 198 - 16, 1);
  write_bytes(conf_path, text, (size_t)n);
  run_result r;
  RUN(&r, "run", "--check", conf_path);
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  write_bytes(conf_path, text, (size_t)n - 1);
  RUN(&r, "run", "--check", conf_path);
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
}

/* A growing text buffer. */
typedef struct buf {
  char *p;
  size_t len, cap;
  int lines;
} buf;

static void add(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(buf *b, const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  T_TRUE(n > 0 && (size_t)n < sizeof line);
  if (b->len + (size_t)n + 1 > b->cap) {
    b->cap = b->cap ? 2 * b->cap : 1 << 20;
    b->p = realloc(b->p, b->cap);
    T_TRUE(b->p != NULL);
  }
  memcpy(b->p + b->len, line, (size_t)n + 1);
  b->len += (size_t)n;
  for (int i = 0; i < n; i++)
    b->lines += line[i] == '\n';
}

/* Lines of note in a big configuration. */
typedef struct marks {
  int s5_header; /* [service s5] */
  int s1_deps;   /* depends_on of s1 */
} marks;

/* About `size` bytes: services each depending on the one before, with a
 * command that goes on over an indented line, an environment variable and
 * a restart policy; with `cyclic`, s0 depends on a service "last" that is
 * not there yet. Returns the number of services. */
static int big_config(buf *b, size_t size, int cyclic, marks *m) {
  int n = 0;
  add(b, "[ward]\nsocket = %s/ctl.sock\nlog_dir = none\n\n", dir);
  while (b->len < size) {
    if (n == 5)
      m->s5_header = b->lines + 1;
    add(b, "[service s%d]\ncommand = sleep 1000\n  --instance %d\n", n, n);
    add(b, "env = SERVICE_%d=yes\n", n);
    if (n == 1)
      m->s1_deps = b->lines + 1;
    if (n > 0)
      add(b, "depends_on = s%d\n", n - 1);
    else if (cyclic)
      add(b, "depends_on = last\n");
    add(b, "restart = on-failure\n\n");
    n++;
  }
  return n;
}

static void test_big_file(void) {
  buf b = {0};
  marks m = {0};
  int n = big_config(&b, 10u << 20, 0, &m);
  write_bytes(conf_path, b.p, b.len);
  run_result r;
  RUN(&r, "run", "--check", conf_path);
  EXPECT(&r, r.code == 0);
  char want[64];
  snprintf(want, sizeof want, ": %d services,", n);
  EXPECT(&r, strstr(r.out, want) != NULL);
  run_result_free(&r);

  /* Errors at the very end are found, on the right line: a dependency on
   * a service that does not exist... */
  size_t len = b.len;
  int lines = b.lines;
  add(&b, "[service last]\ncommand = true\ndepends_on = s%d nobody\n", n - 1);
  char what[128];
  snprintf(what, sizeof what, "%d: [service last] depends on 'nobody', which is not a service",
           lines + 3);
  expect_refused(b.p, b.len, what);

  /* ... and a section given twice, the first time near the top. */
  b.len = len;
  b.lines = lines;
  add(&b, "[service  s5]\ncommand = true\n");
  snprintf(what, sizeof what, "%d: section [service  s5] given twice (first on line %d)",
           lines + 1, m.s5_header);
  expect_refused(b.p, b.len, what);

  /* A cycle through every service: s0 -> last -> s(n-1) -> ... -> s1 -> s0. */
  b.len = 0;
  b.lines = 0;
  n = big_config(&b, 10u << 20, 1, &m);
  add(&b, "[service last]\ncommand = true\ndepends_on = s%d\n", n - 1);
  snprintf(what, sizeof what, "%d: dependency cycle: s0 -> last -> s%d -> s%d", m.s1_deps,
           n - 1, n - 2);
  expect_refused(b.p, b.len, what);
  free(b.p);
}

/* The parser itself, on `text`: the configuration, or NULL with the
 * errors in `err`. */
static ward_conf *parse(const char *text, char *err, size_t cap) {
  FILE *f = fmemopen((void *)text, strlen(text), "r");
  T_TRUE(f != NULL);
  ward_conf *c = NULL;
  err[0] = 0;
  int rv = conf_read(&c, "t.ini", f, err, cap);
  fclose(f);
  T_TRUE(rv == 0 ? c != NULL : c == NULL && err[0]);
  return c;
}

/* `text` is refused, and its errors hold `want`. */
static void parse_refused(const char *text, const char *want) {
  char err[8192];
  ward_conf *c = parse(text, err, sizeof err);
  if (c)
    T_FAIL("accepted, where \"%s\" was expected:\n%s", want, text);
  if (!strstr(err, want))
    T_FAIL("errors:\n%s\ndo not hold \"%s\"", err, want);
}

/* The argv of the one service of `text`, joined by '|'. */
static void expect_argv(const char *text, const char *want) {
  char err[4096], got[1024] = "";
  ward_conf *c = parse(text, err, sizeof err);
  if (!c)
    T_FAIL("refused: %s\n%s", err, text);
  for (size_t i = 0; i < c->svcs[0].argc; i++)
    snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? "|" : "",
             c->svcs[0].argv[i]);
  T_EQ_STR(got, want);
  conf_free(c);
}

/* Durations take fractions and units, to the millisecond. */
static void test_durations(void) {
  static const struct {
    const char *text;
    int ms;
  } good[] = {{"1.5s", 1500}, {"250ms", 250},   {"2m", 120000},     {"1h", 3600000},
              {"1.5", 1500},  {"0.001s", 1},    {"2.5m", 150000},   {"0.25h", 900000},
              {"10", 10000},  {"1.500000000s", 1500}, {"1.5min", 90000}, {"0", 0}};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    int ms = -1;
    if (conf_duration(good[i].text, &ms) != 0)
      T_FAIL("'%s' refused", good[i].text);
    T_EQ_INT(ms, good[i].ms);
  }
  static const char *const bad[] = {"0.5ms", "1.0005s", ".5s",  "1.s",   "1.5x", "-1s",
                                    "1e3s",  "",        "1.5.5s", "3000000s", "1.0000000001s",
                                    "s"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int ms;
    if (conf_duration(bad[i], &ms) == 0)
      T_FAIL("'%s' taken as %d ms", bad[i], ms);
  }
  /* In the file: a fraction of a second that is one millisecond is one. */
  char err[1024];
  ward_conf *c = parse("[ward]\nhandshake_timeout = 0.001s\n[service a]\ncommand = true\n"
                       "stop_grace = 1.5s\n",
                       err, sizeof err);
  T_TRUE(c != NULL);
  T_EQ_INT(c->handshake_ms, 1);
  T_EQ_INT(c->svcs[0].stop_grace_ms, 1500);
  conf_free(c);
  parse_refused("[ward]\nhandshake_timeout = 0.0001s\n",
                "t.ini:2: handshake_timeout: '0.0001s' is not a duration of 1ms or more");
}

/* Every signal the system knows, with or without SIG, in any case; the
 * real-time ones by their offset. */
static void test_signals(void) {
  static const struct {
    const char *text;
    int sig;
  } good[] = {{"TERM", SIGTERM},   {"SIGTERM", SIGTERM}, {"sigterm", SIGTERM},
              {"WINCH", SIGWINCH}, {"SIGPWR", SIGPWR},   {"PROF", SIGPROF},
              {"SIGSYS", SIGSYS},  {"IOT", SIGABRT},     {"SIGCLD", SIGCHLD},
              {"9", SIGKILL}};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    int sig = 0;
    if (conf_signal(good[i].text, &sig) != 0)
      T_FAIL("'%s' refused", good[i].text);
    T_EQ_INT(sig, good[i].sig);
  }
  /* SIGRTMIN and SIGRTMAX are the C library's, known when it runs. */
  const struct {
    const char *text;
    int sig;
  } rt[] = {{"RTMIN", SIGRTMIN},
            {"RTMIN+3", SIGRTMIN + 3},
            {"SIGRTMAX-2", SIGRTMAX - 2},
            {"rtmax", SIGRTMAX}};
  for (size_t i = 0; i < sizeof rt / sizeof rt[0]; i++) {
    int sig = 0;
    if (conf_signal(rt[i].text, &sig) != 0)
      T_FAIL("'%s' refused", rt[i].text);
    T_EQ_INT(sig, rt[i].sig);
  }
  static const char *const bad[] = {"NOPE", "SIG", "RTMIN+", "RTMIN+99", "RTMAX+1", "0", "",
                                    "RTMIN-1", "TERMX"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int sig;
    if (conf_signal(bad[i], &sig) == 0)
      T_FAIL("'%s' taken as %d", bad[i], sig);
  }
  T_EQ_STR(conf_signal_name(SIGPWR), "PWR");
  T_EQ_STR(conf_signal_name(SIGWINCH), "WINCH");
  T_EQ_STR(conf_signal_name(SIGRTMIN + 3), "RTMIN+3");
  T_EQ_STR(conf_signal_name(SIGRTMAX - 1), "RTMAX-1");
  T_EQ_STR(conf_signal_name(SIGRTMIN), "RTMIN");
  /* Each name reads back as its signal. */
  for (int sig = 1; sig < NSIG; sig++) {
    int back = 0;
    const char *name = conf_signal_name(sig);
    if (conf_signal(name, &back) != 0 || back != sig)
      T_FAIL("signal %d: '%s' reads back as %d", sig, name, back);
  }
  char err[1024];
  ward_conf *c = parse("[service a]\ncommand = true\nstop_signal = SIGWINCH\n", err, sizeof err);
  T_TRUE(c != NULL);
  T_EQ_INT(c->svcs[0].stop_signal, SIGWINCH);
  conf_free(c);
  parse_refused("[service a]\ncommand = true\nstop_signal = RTMIN+99\n",
                "t.ini:3: stop_signal: 'RTMIN+99' is not a signal");
}

/* ';' and '#' inside quotes are part of the value; after a blank outside
 * them, a comment. */
static void test_quotes_and_comments(void) {
  expect_argv("[service a]\ncommand = echo 'a ; b' \"c # d\" x#y ; a comment\n",
              "echo|a ; b|c # d|x#y");
  expect_argv("[service a]\ncommand = echo a # b\n", "echo|a");
  expect_argv("[service a]\ncommand = printf '%s;%s'\n  'a ; b' # the rest\n",
              "printf|%s;%s|a ; b");
  expect_argv("[service a]\ncommand = echo \"it's ; here\" 'say \"; \"'\n",
              "echo|it's ; here|say \"; \"");
  char err[1024];
  ward_conf *c = parse("[service a]\ncommand = true\nenv = A='x ; y' ; a comment\n"
                       "env = B=plain # a comment\nenv = C=\"q \\\"x\\\" ; y\"\n"
                       "env = URL=http://h/#frag\n",
                       err, sizeof err);
  T_TRUE(c != NULL);
  T_EQ_INT(c->svcs[0].nenv, 4);
  T_EQ_STR(c->svcs[0].env[0], "A=x ; y");
  T_EQ_STR(c->svcs[0].env[1], "B=plain");
  T_EQ_STR(c->svcs[0].env[2], "C=q \"x\" ; y");
  T_EQ_STR(c->svcs[0].env[3], "URL=http://h/#frag");
  conf_free(c);
  /* Unquoted, a ';' within a word is still the shell's, and refused. */
  parse_refused("[service a]\ncommand = echo a;b\n", "t.ini:2: cannot split 'echo a;b'");
}

/* Every error of a file is said, in the order of its lines, one per line. */
static void test_every_error(void) {
  static const char text[] = "[service a]\n"
                             "bogus = 1\n"                  /* 2 */
                             "command = true\n"
                             "instances = many\n"           /* 4 */
                             "this line is not ini\n"       /* 5 */
                             "[service b]\n"
                             "also not ini\n"               /* 7 */
                             "depends_on = nobody\n"        /* 8 */
                             "[servce c]\n";                /* 9 */
  char err[8192];
  T_TRUE(parse(text, err, sizeof err) == NULL);
  static const char *const want[] = {
      "t.ini:2: unknown key 'bogus' in [service a]",
      "t.ini:4: instances: 'many' is not a number 1..1000",
      "t.ini:5: syntax error (expected [section], key = value, or a comment)",
      "t.ini:6: [service b] has no command",
      "t.ini:7: syntax error (expected [section], key = value, or a comment)",
      "t.ini:8: [service b] depends on 'nobody', which is not a service",
      "t.ini:9: unknown section [servce c]"};
  char joined[4096] = "";
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s", i ? "\n" : "",
             want[i]);
  T_EQ_STR(err, joined);

  /* The binary: one line each on stderr, exit 3. */
  write_bytes(conf_path, text, sizeof text - 1);
  run_result r;
  RUN(&r, "run", "--check", conf_path);
  EXPECT(&r, r.code == 3);
  int lines = 0;
  for (const char *p = r.err; (p = strstr(p, "ward run: ")); p++)
    lines++;
  EXPECT(&r, lines == 7);
  char line[256];
  snprintf(line, sizeof line, "ward run: %s:8: [service b] depends on 'nobody'", conf_path);
  EXPECT(&r, strstr(r.err, line) != NULL);
  run_result_free(&r);

  /* A header without its ']' is an error, and leaves the key before it
   * going on over indented lines, as inih reads them. */
  T_TRUE(parse("[service a]\ncommand = echo\n[service b\n  one\n", err, sizeof err) == NULL);
  T_EQ_STR(err, "t.ini:3: syntax error (a section header without its ']')");
  expect_argv("[service a]\ncommand = echo\n; a comment\n  one\n", "echo|one");

  /* Thousands of errors: the first hundred, and a count of the rest. */
  buf b = {0};
  add(&b, "[service a]\ncommand = true\n");
  for (int i = 0; i < 150; i++)
    add(&b, "bad%d = 1\n", i);
  T_TRUE(parse(b.p, err, sizeof err) == NULL);
  T_TRUE(strstr(err, "t.ini:102: unknown key 'bad99'") != NULL);
  T_TRUE(strstr(err, "bad100") == NULL);
  T_TRUE(strstr(err, "\nt.ini: and 50 more errors") != NULL);
  /* And what does not fit the caller's room is counted too. */
  char small[300];
  T_TRUE(parse(b.p, small, sizeof small) == NULL);
  T_TRUE(strstr(small, "t.ini:3: unknown key 'bad0'") == small);
  T_TRUE(strstr(small, " more errors") != NULL && strlen(small) < sizeof small);
  free(b.p);
}

/* env_file, and $VAR in commands: from env, then env_file, then the
 * daemon's environment; $$ is a '$'; single quotes keep '$'. */
static void test_env_file_and_vars(void) {
  char good[128], bad[128], ward_var[128], text[2048];
  snprintf(good, sizeof good, "%s/good.env", dir);
  snprintf(bad, sizeof bad, "%s/bad.env", dir);
  snprintf(ward_var, sizeof ward_var, "%s/ward.env", dir);
  static const char envs[] = "# the service's\n\n  A=1\nB='two words'\nC=\"x\"\nG=*\n";
  write_bytes(good, envs, sizeof envs - 1);
  write_bytes(bad, "A=1\nnot a variable\n", 18);
  write_bytes(ward_var, "WARD_FD=9\n", 10);
  setenv("TCONF_FROM_DAEMON", "daemon's", 1);
  snprintf(text, sizeof text,
           "[service a]\ncommand = echo $A $B \"$B\" ${C} $$A '$A' \"$$\" $G $TCONF_FROM_DAEMON\n"
           "env_file = %s\nenv = A=override\n",
           good);
  expect_argv(text, "echo|override|two|words|two words|x|$A|$A|$|*|daemon's");
  char err[2048];
  ward_conf *c = parse(text, err, sizeof err);
  T_TRUE(c != NULL);
  T_EQ_INT(conf_strv_len(c->svcs[0].file_env), 4);
  T_EQ_STR(c->svcs[0].file_env[0], "A=1");
  T_EQ_STR(c->svcs[0].file_env[1], "B=two words");
  T_EQ_STR(c->svcs[0].env_file, good);
  /* A copy holds the file's variables too, and runs the same. */
  svc_conf copy;
  T_TRUE(svc_conf_copy(&copy, &c->svcs[0]) == 0);
  T_TRUE(svc_conf_same(&copy, &c->svcs[0]));
  T_EQ_STR(copy.file_env[3], "G=*");
  svc_conf_clear(&copy);
  conf_free(c);

  snprintf(text, sizeof text, "[service a]\ncommand = true\nenv_file = %s/none.env\n", dir);
  char want[256];
  snprintf(want, sizeof want, "t.ini:3: env_file: %s/none.env: No such file or directory", dir);
  parse_refused(text, want);
  snprintf(text, sizeof text, "[service a]\ncommand = true\nenv_file = %s\n", bad);
  snprintf(want, sizeof want, "t.ini:3: env_file: %s:2: not KEY=VALUE", bad);
  parse_refused(text, want);
  snprintf(text, sizeof text, "[service a]\ncommand = true\nenv_file = %s\n", ward_var);
  snprintf(want, sizeof want, "env_file: %s:1: WARD_* variables are ward's own", ward_var);
  parse_refused(text, want);
  parse_refused("[service a]\ncommand = true\nenv_file = rel.env\n",
                "t.ini:3: env_file: 'rel.env' is not an absolute path (or none)");
  parse_refused("[service a]\ncommand = true\nenv_file = /dev/zero\n",
                "env_file: /dev/zero: not a regular file");
  parse_refused("[service a]\ncommand = echo $TCONF_NOT_DEFINED\n",
                "t.ini:2: command: $TCONF_NOT_DEFINED is not defined");
  parse_refused("[service a]\ncommand = echo ${TCONF_NOT_DEFINED}x\n",
                "t.ini:2: command: $TCONF_NOT_DEFINED is not defined");
  parse_refused("[service a]\ncommand = echo $ x\n", "t.ini:2: command: a '$' that starts no");
  parse_refused("[service a]\ncommand = echo ${A\n", "t.ini:2: command: a '$' that starts no");
  parse_refused("[service a]\ncommand = echo $(date)\n", "command substitution");
  /* The line of an error in a command that goes on is the key's. */
  parse_refused("[service a]\ncommand = echo\n  $TCONF_NOT_DEFINED\n",
                "t.ini:2: command: $TCONF_NOT_DEFINED is not defined");
}

/* user, umask, autostart, reload: what they take. */
static void test_new_keys(void) {
  char err[1024];
  ward_conf *c = parse("[service a]\ncommand = true\nuser = nobody:nogroup\numask = 0027\n"
                       "autostart = no\n[service b]\ncommand = true\n",
                       err, sizeof err);
  T_TRUE(c != NULL);
  T_EQ_STR(c->svcs[0].user, "nobody:nogroup");
  T_EQ_INT(c->svcs[0].umask, 027);
  T_TRUE(conf_given(&c->svcs[0], "umask") && !conf_given(&c->svcs[1], "umask"));
  T_EQ_INT(c->svcs[0].autostart, 0);
  T_EQ_INT(c->svcs[1].autostart, 1);
  T_TRUE(c->svcs[1].user == NULL);
  conf_free(c);
  /* reload: restart (the default) or replace. */
  c = parse("[service a]\ncommand = true\nreload = replace\n[service b]\ncommand = true\n"
            "[service d]\ncommand = true\nreload = restart\n",
            err, sizeof err);
  T_TRUE(c != NULL);
  T_EQ_INT(c->svcs[0].reload_replace, 1);
  T_EQ_INT(c->svcs[1].reload_replace, 0);
  T_EQ_INT(c->svcs[2].reload_replace, 0);
  conf_free(c);
  parse_refused("[service a]\ncommand = true\nreload = swap\n",
                "t.ini:3: reload: 'swap' is not restart or replace");
  parse_refused("[service a]\ncommand = true\nuser = a:b:c\n",
                "t.ini:3: user: 'a:b:c' is not NAME or NAME:GROUP");
  parse_refused("[service a]\ncommand = true\nuser = :g\n", "user: ':g' is not NAME");
  parse_refused("[service a]\ncommand = true\numask = 0999\n",
                "t.ini:3: umask: '0999' is not a umask in octal");
  parse_refused("[service a]\ncommand = true\nautostart = maybe\n",
                "t.ini:3: autostart: 'maybe' is not yes or no");
}

/* Runs `ward ARGS` as nobody: *r as RUN gives it. */
static void run_as_nobody(run_result *r, const char *const *args) {
  int out[2], err[2];
  T_TRUE(pipe(out) == 0 && pipe(err) == 0);
  pid_t pid = fork();
  T_TRUE(pid >= 0);
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    char *argv[16] = {(char *)ward_bin};
    for (int i = 0; args[i] && i < 14; i++)
      argv[i + 1] = (char *)args[i];
    if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
      _exit(99);
    execv(ward_bin, argv);
    _exit(98);
  }
  run_finish(r, pid, out, err);
}

/* --check looks at the machine too: programs, working directories, users
 * and groups, every error at once. */
static void test_check_host(void) {
  static const char text[] = "[service a]\ncommand = /nonexistent/ward-prog\n"
                             "[service b]\ncommand = ward-no-such-program\n"
                             "cwd = /nonexistent/dir\n"
                             "[service c]\ncommand = true\nuser = ward-no-such-user\n"
                             "[service d]\ncommand = true\nuser = nobody:ward-no-such-group\n"
                             "[service e]\ncommand = sh\ncwd = /etc/passwd\n"
                             "[service f]\ncommand = true\nuser = nobody:nogroup\ncwd = /tmp\n"
                             "[service g]\ncommand = /etc/passwd\n";
  write_bytes(conf_path, text, sizeof text - 1);
  run_result r;
  RUN(&r, "run", "--check", conf_path);
  EXPECT(&r, r.code == 3);
  static const char *const want[] = {
      "2: [service a] cannot run /nonexistent/ward-prog: No such file or directory",
      "4: [service b] cannot run ward-no-such-program: not found in PATH",
      "5: [service b] cwd /nonexistent/dir: No such file or directory",
      "8: [service c] user = ward-no-such-user: no such user",
      "11: [service d] user = nobody:ward-no-such-group: no such group",
      "14: [service e] cwd /etc/passwd: not a directory",
      "20: [service g] cannot run /etc/passwd: Permission denied"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    char line[512];
    snprintf(line, sizeof line, "ward run: %s:%s\n", conf_path, want[i]);
    EXPECT(&r, strstr(r.err, line) != NULL);
  }
  EXPECT(&r, strstr(r.err, "service f") == NULL);
  run_result_free(&r);

  /* Not root: another user is refused, its own is fine. */
  if (geteuid() != 0)
    return;
  T_TRUE(chmod(dir, 0755) == 0);
  static const char other[] = "[ward]\nsocket = /tmp/ward-t.sock\nlog_dir = none\n"
                              "[service a]\ncommand = true\nuser = root\n"
                              "[service b]\ncommand = true\nuser = nobody:nogroup\n";
  write_bytes(conf_path, other, sizeof other - 1);
  T_TRUE(chmod(conf_path, 0644) == 0);
  run_as_nobody(&r, (const char *const[]){"run", "--check", conf_path, NULL});
  EXPECT(&r, r.code == 3);
  char line[512];
  snprintf(line, sizeof line,
           "ward run: %s:6: [service a] user = root: ward run runs as uid 65534, not as root, "
           "and cannot switch to another user\n",
           conf_path);
  EXPECT(&r, strcmp(r.err, line) == 0);
  run_result_free(&r);
  T_TRUE(chmod(dir, 0700) == 0);
}

/* A key, as `ward run --keys` prints it or as a table of docs/cli.md
 * shows it (section and reload are then NULL). */
typedef struct key_row {
  const char *section, *key, *reload, *def, *doc;
} key_row;

enum { MAX_KEYS = 128 };

/* Splits `ward run --keys`'s output (kept in `out`) into rows. */
static size_t binary_keys(char *out, key_row *rows) {
  size_t n = 0;
  for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
    T_TRUE(n < MAX_KEYS);
    const char **f[] = {&rows[n].section, &rows[n].key, &rows[n].reload, &rows[n].def,
                        &rows[n].doc};
    for (size_t i = 0; i < 5; i++) {
      *f[i] = line;
      char *tab = strchr(line, '\t');
      if (i < 4 && !tab)
        T_FAIL("ward run --keys: not 5 fields: %s", *f[0]);
      if (tab)
        *tab = 0;
      line = tab ? tab + 1 : line + strlen(line);
    }
    n++;
  }
  return n;
}

/* The rows "| `KEY` | DEFAULT | MEANING |" of the table that follows the
 * line `heading` in `doc`, which is cut into pieces (pass each call a copy
 * of its own). A default has no '|'; a meaning may (in code). */
static size_t doc_keys(char *doc, const char *heading, key_row *rows) {
  char *at = strstr(doc, heading);
  if (!at)
    T_FAIL("docs/cli.md has no heading %s", heading);
  char *line = strchr(at, '\n') + 1;
  size_t n = 0;
  int in_table = 0;
  while (*line) {
    char *end = strchr(line, '\n');
    if (end)
      *end = 0;
    if (line[0] == '|')
      in_table = 1;
    else if (in_table)
      break;
    if (strncmp(line, "| `", 3) == 0) {
      T_TRUE(n < MAX_KEYS);
      char *key = line + 3, *def = strstr(key, "` |");
      T_TRUE(def != NULL);
      *def = 0;
      def += 3;
      char *doc_cell = strchr(def, '|');
      size_t len = strlen(doc_cell);
      T_TRUE(doc_cell != NULL && len >= 2 && strcmp(doc_cell + len - 2, " |") == 0);
      doc_cell[len - 2] = 0;
      *doc_cell++ = 0;
      rows[n].key = key;
      rows[n].def = def + strspn(def, " ");
      for (char *e = def + strlen(def); e > def && e[-1] == ' ';)
        *--e = 0;
      rows[n].doc = doc_cell + strspn(doc_cell, " ");
      n++;
    }
    if (!end)
      break;
    line = end + 1;
  }
  return n;
}

/* The keys of `section` in docs/cli.md are those of the binary, in the
 * same order, with the same default and meaning. */
static void compare_keys(const key_row *bin, size_t nbin, const char *section,
                         const key_row *doc, size_t ndoc) {
  size_t k = 0;
  for (size_t i = 0; i < nbin; i++) {
    if (strcmp(bin[i].section, section) != 0)
      continue;
    if (k == ndoc)
      T_FAIL("docs/cli.md [%s]: key '%s' is missing (ward run --keys has it)", section,
             bin[i].key);
    const key_row *d = &doc[k++];
    if (strcmp(d->key, bin[i].key) != 0) {
      int documented = 0, known = 0;
      for (size_t j = 0; j < ndoc; j++)
        documented |= strcmp(doc[j].key, bin[i].key) == 0;
      for (size_t j = 0; j < nbin; j++)
        known |= strcmp(bin[j].section, section) == 0 && strcmp(bin[j].key, d->key) == 0;
      if (!documented)
        T_FAIL("docs/cli.md [%s]: key '%s' is missing (ward run --keys has it)", section,
               bin[i].key);
      if (!known)
        T_FAIL("docs/cli.md [%s]: key '%s' is not one ward run knows", section, d->key);
      T_FAIL("docs/cli.md [%s]: '%s' where ward run --keys has '%s': not in its order",
             section, d->key, bin[i].key);
    }
    if (strcmp(d->def, bin[i].def) != 0)
      T_FAIL("docs/cli.md [%s] %s: default \"%s\", ward run --keys: \"%s\"", section, d->key,
             d->def, bin[i].def);
    if (strcmp(d->doc, bin[i].doc) != 0)
      T_FAIL("docs/cli.md [%s] %s: meaning\n  \"%s\"\nward run --keys:\n  \"%s\"", section,
             d->key, d->doc, bin[i].doc);
  }
  if (k != ndoc)
    T_FAIL("docs/cli.md [%s]: key '%s' is not one ward run knows", section, doc[k].key);
}

/* "`a`, `b` and `c`" of the keys of [ward] that a reload treats as
 * `reload` says, into `list`; returns how many. */
static size_t reload_list(const key_row *bin, size_t n, const char *section, const char *reload,
                          const char *and, char *list, size_t cap) {
  size_t count = 0, total = 0, len = 0;
  for (size_t i = 0; i < n; i++)
    total += strcmp(bin[i].section, section) == 0 && strcmp(bin[i].reload, reload) == 0;
  list[0] = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(bin[i].section, section) != 0 || strcmp(bin[i].reload, reload) != 0)
      continue;
    const char *sep = count == 0 ? "" : count + 1 == total ? and : ", ";
    len += (size_t)snprintf(list + len, cap - len, "%s`%s`", sep, bin[i].key);
    T_TRUE(len < cap);
    count++;
  }
  return count;
}

static void test_keys_doc(void) {
  run_result r;
  RUN(&r, "run", "--keys");
  EXPECT(&r, r.code == 0 && r.err[0] == 0);
  key_row bin[MAX_KEYS], ward_doc[MAX_KEYS], svc_doc[MAX_KEYS], grp_doc[MAX_KEYS];
  size_t nbin = binary_keys(r.out, bin);
  T_TRUE(nbin > 0);
  char *text = t_read_doc("docs/cli.md"), *ward_text = strdup(text), *svc_text = strdup(text),
       *grp_text = strdup(text);
  T_TRUE(ward_text && svc_text && grp_text);
  size_t nward = doc_keys(ward_text, "\n#### `[ward]`\n", ward_doc);
  size_t nsvc = doc_keys(svc_text, "\n#### `[service NAME]`\n", svc_doc);
  compare_keys(bin, nbin, "ward", ward_doc, nward);
  compare_keys(bin, nbin, "service", svc_doc, nsvc);
  size_t ngrp = doc_keys(grp_text, "\n#### `[group NAME]`\n", grp_doc);
  compare_keys(bin, nbin, "group", grp_doc, ngrp);

  /* What a reload does, as "Reloading" says. */
  t_squash(text);
  char now[512], next[512], want[1200];
  for (size_t i = 0; i < nbin; i++)
    if (strcmp(bin[i].section, "service") == 0 && strcmp(bin[i].reload, "restart") != 0 &&
        strcmp(bin[i].reload, "at-once") != 0)
      T_FAIL("[service] %s: a reload %s, which docs/cli.md does not say", bin[i].key,
             bin[i].reload);
  reload_list(bin, nbin, "service", "at-once", " or ", now, sizeof now);
  snprintf(want, sizeof want,
           "services whose settings changed stop and start again with the new ones (a "
           "change of their %s alone applies at once, without a restart)",
           now);
  if (!strstr(text, want))
    T_FAIL("docs/cli.md, Reloading, does not say: %s", want);
  size_t nnow = reload_list(bin, nbin, "ward", "at-once", " and ", now, sizeof now);
  reload_list(bin, nbin, "ward", "next-start", " or ", next, sizeof next);
  snprintf(want, sizeof want, "%s %s at once; a new %s at the next start", now,
           nnow == 1 ? "applies" : "apply", next);
  if (!strstr(text, want))
    T_FAIL("docs/cli.md, Reloading, does not say: %s", want);
  free(text);
  free(ward_text);
  free(svc_text);
  free(grp_text);
  run_result_free(&r);

  /* --keys lists; it reads no file. */
  RUN(&r, "run", "--keys", conf_path);
  EXPECT(&r, r.code == 2 && strstr(r.err, "--keys takes no configuration file"));
  run_result_free(&r);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_config PATH-TO-WARD\n");
    return 2;
  }
  ward_bin = argv[1];
  snprintf(dir, sizeof dir, "/tmp/ward-config-XXXXXX");
  T_TRUE(mkdtemp(dir) != NULL);
  snprintf(conf_path, sizeof conf_path, "%s/ward.ini", dir);
  T_RUN(test_nul_byte);
  T_RUN(test_long_line);
  T_RUN(test_groups);
  T_RUN(test_class_key);
  T_RUN(test_big_file);
  T_RUN(test_durations);
  T_RUN(test_signals);
  T_RUN(test_quotes_and_comments);
  T_RUN(test_every_error);
  T_RUN(test_env_file_and_vars);
  T_RUN(test_new_keys);
  T_RUN(test_check_host);
  T_RUN(test_keys_doc);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return t_done();
}
