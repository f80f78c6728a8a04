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
#include <stdarg.h>

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
  T_RUN(test_keys_doc);
  unlink(conf_path);
  rmdir(dir);
  return t_done();
}
