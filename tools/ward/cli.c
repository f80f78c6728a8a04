/*
 * cli.c — the helpers of cli.h.
 */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <ward.h>

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

static void vmessage(const char *cmd, const char *fmt, va_list ap) {
  if (cmd != NULL)
    fprintf(stderr, "%s %s: ", CLI_NAME, cmd);
  else
    fprintf(stderr, "%s: ", CLI_NAME);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

const cli_exit_row cli_exit_rows[] = {
#define CLI_EXIT_ROW(name, code, command, meaning) {code, command, meaning},
    CLI_EXIT_MAP(CLI_EXIT_ROW)
#undef CLI_EXIT_ROW
};
const size_t cli_exit_nrows = sizeof cli_exit_rows / sizeof cli_exit_rows[0];

void cli_print_exits(FILE *f, const char *command) {
  const cli_exit_row *rows = cli_exit_rows;
  size_t clen = strlen(command);
  fputs("Exit status:\n", f);
  for (size_t i = 0; i < cli_exit_nrows; i++) {
    if (strcmp(rows[i].command, "all") != 0 && strcmp(rows[i].command, command) != 0)
      continue;
    /* " (probe: every check passed)": kept, as "(every check passed)",
     * for probe alone. */
    const char *m = rows[i].meaning, *note = strstr(m, " ("), *colon;
    fprintf(f, "  %d  ", rows[i].code);
    if (note && (colon = strchr(note, ':')) != NULL && strchr(note, ')') > colon) {
      const char *end = strchr(note, ')') + 1;
      int mine = (size_t)(colon - note - 2) == clen && strncmp(note + 2, command, clen) == 0;
      fprintf(f, "%.*s", (int)(note - m), m);
      if (mine)
        fprintf(f, " (%.*s", (int)(end - colon - 2), colon + 2);
      fprintf(f, "%s\n", end);
    } else {
      fprintf(f, "%s\n", m);
    }
  }
}

void cli_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmessage(cmd, fmt, ap);
  va_end(ap);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmessage(cmd, fmt, ap);
  va_end(ap);
  fprintf(stderr, "Try '%s%s%s --help'.\n", CLI_NAME, cmd != NULL ? " " : "",
          cmd != NULL ? cmd : "");
  return CLI_EXIT_USAGE;
}

/* Whether stdout is a pipe whose reader has gone (`ward ctl logs -f |
 * head`): poll reports an error on a pipe's writing end with no reader. */
static int stdout_gone(void) {
  struct pollfd pf = {.fd = 1, .events = 0};
  return poll(&pf, 1, 0) == 1 && (pf.revents & POLLERR);
}

int cli_finish(const char *cmd, int rc) {
  if ((fflush(stdout) != 0 || ferror(stdout)) && stdout_gone())
    return rc; /* the reader took what it wanted: a normal end, quietly */
  if (fflush(stdout) != 0 || ferror(stdout)) {
    cli_error(cmd, "cannot write the output: %s", strerror(errno));
    return CLI_EXIT_FAIL;
  }
  return rc;
}

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

void cli_args_init(cli_args *a, const char *cmd, int argc, char **argv) {
  a->argc = argc;
  a->argv = argv;
  a->next = 1;
  a->cmd = cmd;
  a->arg = NULL;
  a->only_positional = 0;
}

/* The option whose long name is the first `len` bytes of `name`. */
static const cli_opt *find_long(const cli_opt *opts, const char *name, size_t len) {
  for (; opts->name != NULL; opts++)
    if (strlen(opts->name) == len && strncmp(opts->name, name, len) == 0)
      return opts;
  return NULL;
}

static const cli_opt *find_short(const cli_opt *opts, char c) {
  for (; opts->name != NULL; opts++)
    if (opts->short_name != 0 && opts->short_name == c)
      return opts;
  return NULL;
}

/* Takes the option's value from `inline_value` (--name=V) or from the
 * next argument. */
static int take_value(cli_args *a, const cli_opt *o, const char *inline_value,
                      const char *spelled) {
  if (!o->has_arg) {
    if (inline_value != NULL) {
      cli_usage_error(a->cmd, "option '%s' takes no value", spelled);
      return CLI_OPT_ERROR;
    }
    return o->id;
  }
  if (inline_value == NULL) {
    if (a->next >= a->argc) {
      cli_usage_error(a->cmd, "option '%s' needs a value", spelled);
      return CLI_OPT_ERROR;
    }
    inline_value = a->argv[a->next++];
  }
  a->arg = inline_value;
  return o->id;
}

static int parse_long(cli_args *a, const cli_opt *opts, const char *word) {
  const char *name = word + 2;
  const char *eq = strchr(name, '=');
  size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
  const cli_opt *o = find_long(opts, name, len);
  if (o == NULL) {
    cli_usage_error(a->cmd, "unknown option '%.*s'", (int)(len + 2), word);
    return CLI_OPT_ERROR;
  }
  return take_value(a, o, eq != NULL ? eq + 1 : NULL, word);
}

/* Short options are not bundled (-qj): there are few of them, and a
 * typo then reads as an unknown option instead of a surprise. */
static int parse_short(cli_args *a, const cli_opt *opts, const char *word) {
  const cli_opt *o = word[2] == '\0' ? find_short(opts, word[1]) : NULL;
  if (o == NULL) {
    cli_usage_error(a->cmd, "unknown option '%s'", word);
    return CLI_OPT_ERROR;
  }
  return take_value(a, o, NULL, word);
}

int cli_next_opt(cli_args *a, const cli_opt *opts) {
  a->arg = NULL;
  if (a->next >= a->argc)
    return CLI_OPT_END;
  const char *word = a->argv[a->next++];
  if (!a->only_positional && strcmp(word, "--") == 0) {
    a->only_positional = 1;
    return cli_next_opt(a, opts);
  }
  /* "-" alone is a positional, by convention (stdin). */
  if (a->only_positional || word[0] != '-' || word[1] == '\0') {
    a->arg = word;
    return CLI_OPT_POSITIONAL;
  }
  return word[1] == '-' ? parse_long(a, opts, word) : parse_short(a, opts, word);
}

/* ------------------------------------------------------------------ */
/* Table                                                               */
/* ------------------------------------------------------------------ */

static char *dup_cell(const char *s) {
  if (s == NULL)
    s = "";
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d != NULL)
    memcpy(d, s, n);
  return d;
}

int cli_table_init(cli_table *t, int ncols, const char *const *header, const int *align) {
  memset(t, 0, sizeof *t);
  if (ncols < 1 || ncols > CLI_TABLE_MAXCOLS)
    return -1;
  t->ncols = ncols;
  for (int i = 0; i < ncols; i++)
    t->align[i] = align != NULL ? align[i] : CLI_LEFT;
  return cli_table_add(t, header);
}

int cli_table_add(cli_table *t, const char *const *cells) {
  if (t->nrows == t->cap) {
    size_t cap = t->cap != 0 ? t->cap * 2 : 16;
    char **grown = realloc(t->cells, cap * (size_t)t->ncols * sizeof *grown);
    if (grown == NULL)
      return -1;
    t->cells = grown;
    t->cap = cap;
  }
  char **row = t->cells + t->nrows * (size_t)t->ncols;
  for (int i = 0; i < t->ncols; i++) {
    row[i] = dup_cell(cells[i]);
    if (row[i] == NULL) {
      while (i-- > 0)
        free(row[i]);
      return -1;
    }
  }
  t->nrows++;
  return 0;
}

static void column_widths(const cli_table *t, int *width) {
  for (int c = 0; c < t->ncols; c++) {
    width[c] = 0;
    for (size_t r = 0; r < t->nrows; r++) {
      int n = (int)strlen(t->cells[r * (size_t)t->ncols + (size_t)c]);
      if (n > width[c])
        width[c] = n;
    }
  }
}

static void print_row(const cli_table *t, const int *width, size_t r, FILE *f) {
  char *const *row = t->cells + r * (size_t)t->ncols;
  /* The last non-empty cell ends the line, so nothing trails it. */
  int last = t->ncols - 1;
  while (last > 0 && row[last][0] == '\0')
    last--;
  for (int c = 0; c <= last; c++) {
    int pad = c < last || t->align[c] == CLI_RIGHT;
    if (t->align[c] == CLI_RIGHT)
      fprintf(f, "%*s", width[c], row[c]);
    else
      fprintf(f, "%-*s", pad ? width[c] : 0, row[c]);
    if (c < last)
      fputs("  ", f);
  }
  fputc('\n', f);
}

void cli_table_print(const cli_table *t, FILE *f) {
  int width[CLI_TABLE_MAXCOLS];
  column_widths(t, width);
  for (size_t r = 0; r < t->nrows; r++)
    print_row(t, width, r, f);
}

void cli_table_free(cli_table *t) {
  for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
    free(t->cells[i]);
  free(t->cells);
  memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------------ */
/* JSON, clocks, paths                                                 */
/* ------------------------------------------------------------------ */

int cli_json_print(const json_t *value, FILE *f) {
  /* 15 significant digits: the figures are rounded before they get here,
   * and %.17g would print 24.3 as 24.300000000000001. */
  size_t flags = JSON_INDENT(2) | JSON_REAL_PRECISION(15);
  if (json_dumpf(value, f, flags) != 0)
    return -1;
  return fputc('\n', f) == EOF ? -1 : 0;
}

int cli_json_line(const json_t *value, FILE *f) {
  if (json_dumpf(value, f, JSON_COMPACT) != 0)
    return -1;
  return fputc('\n', f) == EOF ? -1 : 0;
}

void cli_utc_stamp(char *buf, size_t cap, long long ms) {
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char day[32];
  strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, cap, "%s.%03dZ", day, (int)(ms % 1000));
}

double cli_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int cli_self_exe(char *buf, size_t size) {
  if (size < 2) {
    errno = ENAMETOOLONG;
    return -1;
  }
  ssize_t n = readlink("/proc/self/exe", buf, size - 1);
  if (n < 0)
    return -1;
  /* readlink truncates silently: a full buffer may be a cut path. */
  if ((size_t)n == size - 1) {
    errno = ENAMETOOLONG;
    return -1;
  }
  buf[n] = '\0';
  return 0;
}

char *cli_record_text(int level, const char *msg, const ward_log_field *fields, size_t nfields,
                      unsigned long call_id) {
  size_t n = ward_log_format(NULL, 0, level, msg, fields, nfields, (uint32_t)call_id);
  char *b = malloc(n + 1);
  if (b)
    ward_log_format(b, n + 1, level, msg, fields, nfields, (uint32_t)call_id);
  return b;
}
