/*
 * test_config.c — the configuration file of `ward run`, through the real
 * binary (its path is argv[1]) and `ward run --check`: bytes that are not
 * text are refused with their line, and a file of ten megabytes, tens of
 * thousands of services with dependencies, is checked whole and right.
 *
 * (A file that size took minutes to check while services were found by
 * walking all of them; here it must merely finish within ctest's timeout.
 * How long it takes is bench/bench_config's business, not a test's.)
 */
#include <stdarg.h>

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
  T_RUN(test_big_file);
  unlink(conf_path);
  rmdir(dir);
  return t_done();
}
