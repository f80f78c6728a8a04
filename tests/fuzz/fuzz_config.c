/*
 * fuzz_config.c — the configuration parser of `ward run` (tools/ward/
 * config.c, conf_read): the input is the file.
 *
 * Invariants: a refusal says "FILE:LINE: reason" (or "FILE: reason") for
 * each error, one per line; an accepted configuration has a control socket, and services
 * with valid, distinct names, a command, settings in range, dependencies
 * on other services of the file, none of them in a cycle; each service's
 * copy runs the same way as the service (svc_conf_copy, svc_conf_same).
 *
 * Commands are split with wordexp (WRDE_NOCMD): `$VAR` reads this
 * process's environment and globs read the file system, nothing runs. A
 * glob under an absolute path (a '*', '?' or '[' after a '/') walks the file system, for as long as
 * the file system is big: such inputs are skipped, as something the
 * configuration's author asked for rather than a fault of the parser. The
 * target runs in an empty directory, so relative globs find nothing. So
 * are inputs naming an env_file: it is read when named, and a file of the
 * system's (/proc/kmsg) may never end (tests/test_config.c reads env
 * files).
 */
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

#define NAME "fuzz.ini"

static size_t index_of(const ward_conf *c, const char *name) {
  for (size_t i = 0; i < c->nsvcs; i++)
    if (strcmp(c->svcs[i].name, name) == 0)
      return i;
  FUZZ_CHECK(!"a dependency names no service");
  return 0;
}

/* Depth-first from every service: no dependency leads back to it. */
static void check_no_cycle(const ward_conf *c) {
  size_t n = c->nsvcs;
  int *mark = calloc(n + 1, sizeof *mark);
  size_t *stack = calloc(n + 1, sizeof *stack), *next = calloc(n + 1, sizeof *next);
  FUZZ_CHECK(mark && stack && next);
  for (size_t root = 0; root < n; root++) {
    if (mark[root])
      continue;
    size_t depth = 0;
    stack[0] = root;
    next[0] = 0;
    mark[root] = 1;
    for (;;) {
      const svc_conf *s = &c->svcs[stack[depth]];
      if (next[depth] == s->ndeps) {
        mark[stack[depth]] = 2;
        if (depth-- == 0)
          break;
        continue;
      }
      size_t d = index_of(c, s->deps[next[depth]++]);
      FUZZ_CHECK(mark[d] != 1);
      if (mark[d] == 0) {
        mark[d] = 1;
        stack[++depth] = d;
        next[depth] = 0;
      }
    }
  }
  free(mark);
  free(stack);
  free(next);
}

static void check_accepted(const ward_conf *c) {
  FUZZ_CHECK(c->socket && strcmp(c->path, NAME) == 0);
  FUZZ_CHECK(c->log_files >= 0 && c->log_files <= 100 && c->log_max_bytes >= 1024);
  for (size_t i = 0; i < c->nsvcs; i++) {
    const svc_conf *s = &c->svcs[i];
    FUZZ_CHECK(svc_name_ok(s->name));
    for (size_t j = 0; j < i; j++)
      FUZZ_CHECK(strcmp(c->svcs[j].name, s->name) != 0);
    FUZZ_CHECK(s->argc >= 1 && s->argv[s->argc] == NULL);
    FUZZ_CHECK(s->instances >= 1 && s->instances <= 1000);
    FUZZ_CHECK(s->max_restarts >= 0 && s->max_restarts <= 256 && s->restart_window_ms >= 1);
    for (size_t d = 0; d < s->ndeps; d++)
      FUZZ_CHECK(strcmp(s->deps[d], s->name) != 0);
    svc_conf copy;
    FUZZ_CHECK(svc_conf_copy(&copy, s) == 0);
    FUZZ_CHECK(svc_conf_same(&copy, s));
    svc_conf_clear(&copy);
  }
  check_no_cycle(c);
}

/* Whether a line has a glob character after a '/'. */
static int walks_file_system(const uint8_t *d, size_t n) {
  int slash = 0;
  for (size_t i = 0; i < n; i++) {
    if (d[i] == '\n')
      slash = 0;
    else if (d[i] == '/')
      slash = 1;
    else if (slash && (d[i] == '*' || d[i] == '?' || d[i] == '['))
      return 1;
  }
  return 0;
}

static char empty_dir[] = "/tmp/ward-fuzz-config-XXXXXX";

static void remove_empty_dir(void) { rmdir(empty_dir); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int moved;
  if (!moved) {
    FUZZ_CHECK(mkdtemp(empty_dir) != NULL && chdir(empty_dir) == 0);
    atexit(remove_empty_dir);
    moved = 1;
  }
  if (walks_file_system(data, size) || memmem(data, size, "env_file", 8))
    return 0;
  /* fmemopen wants room for at least one byte. */
  static const uint8_t empty[1];
  FILE *f = fmemopen((void *)(size ? data : empty), size ? size : 1, "r");
  FUZZ_CHECK(f != NULL);
  if (!size)
    fgetc(f); /* at the end: an empty file */
  ward_conf *c = NULL;
  char err[512] = "";
  int rv = conf_read(&c, NAME, f, err, sizeof err);
  fclose(f);
  if (rv == 0) {
    FUZZ_CHECK(c != NULL);
    check_accepted(c);
    conf_free(c);
  } else {
    FUZZ_CHECK(rv == -1 && c == NULL);
    for (const char *l = err; *l;) {
      size_t n = strcspn(l, "\n");
      FUZZ_CHECK(strncmp(l, NAME ":", sizeof NAME) == 0 && n > sizeof NAME + 1);
      l += n + (l[n] == '\n');
    }
    FUZZ_CHECK(err[0] && err[strlen(err) - 1] != '\n');
  }
  return 0;
}
