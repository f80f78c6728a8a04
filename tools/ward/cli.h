/*
 * cli.h — what the subcommands of the `ward` tool share: exit codes,
 * option parsing, messages, an aligned text table, JSON output, clocks.
 *
 * Each subcommand is a function `int NAME_main(int argc, char **argv)`
 * called by main.c with argv[0] set to the subcommand's name; it returns
 * one of the CLI_EXIT_* codes. Results go to stdout, messages to stderr.
 */
#ifndef WARD_CLI_H
#define WARD_CLI_H

#include <stddef.h>
#include <stdio.h>

struct json_t;

/* ---- Exit codes ----
 * Every exit status any command uses, with the command that uses it ("all":
 * every one) and what it means there, in one list. The enum below is made
 * from it, `ward --help` prints it as its exit status table, and the EXIT
 * STATUS section of each manual page (docs/man/) is generated from that
 * table, so the three cannot drift. A code may mean one thing for one
 * command and another for another; its name says which. Meanings are
 * short: `ward --help` prints each on one line. A meaning for one
 * subcommand starts with its name ("status: ..."); a note for one command
 * only, "(probe: ...)", is left out of the other commands' manual pages.
 *   X(NAME, CODE, COMMAND, MEANING) */
#define CLI_EXIT_MAP(X)                                                                  \
  X(OK, 0, "all", "it did what was asked (probe: every check passed)")                   \
  X(FAIL, 1, "all", "it ran, but something failed (the reason is on stderr)")            \
  X(USAGE, 2, "all", "usage error: the command line was wrong; nothing was done")        \
  X(CONFIG, 3, "run",                                                                    \
    "the configuration was refused (each error's file, line and reason on stderr)")      \
  X(NOT_RUNNING, 3, "ctl", "no daemon answers on the control socket")                    \
  X(INACTIVE, 3, "ctl", "status: an instance that should run is not running")            \
  X(NO_SERVICE, 4, "ctl", "the daemon has no such service or group")                     \
  X(NO_COMMAND, 4, "ext", "no extension contributes the command to call")

enum {
#define CLI_EXIT_ENUM(name, code, command, meaning) CLI_EXIT_##name = code,
  CLI_EXIT_MAP(CLI_EXIT_ENUM)
#undef CLI_EXIT_ENUM
};

/* The tool's name in messages and usage texts. */
#define CLI_NAME "ward"

/* CLI_EXIT_MAP as rows, in its order. */
typedef struct cli_exit_row {
  int code;
  const char *command, *meaning;
} cli_exit_row;
extern const cli_exit_row cli_exit_rows[];
extern const size_t cli_exit_nrows;

/* The exit statuses `command` ("run", "ctl", ...) uses, from
 * CLI_EXIT_MAP, as its --help ends with them: "Exit status:", then one
 * line per code, a note for another command "(probe: ...)" left out. */
void cli_print_exits(FILE *f, const char *command);

/* ---- Subcommands (main.c dispatches to these) ---- */
int probe_main(int argc, char **argv);
int probe_worker_main(int argc, char **argv);
int run_main(int argc, char **argv);
int ctl_main(int argc, char **argv);
int ext_main(int argc, char **argv);
int conform_main(int argc, char **argv);

/* ---- Messages ---- */

#if defined(__GNUC__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

/* "ward CMD: message" on stderr; `cmd` may be NULL for the tool itself. */
void cli_error(const char *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);
/* The same, followed by a hint to run --help. Returns CLI_EXIT_USAGE, so
 * that `return cli_usage_error(...)` reads as what it does. */
int cli_usage_error(const char *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);
/* Flushes stdout and reports a failed write (a full disk, a closed pipe):
 * a tool whose output was lost must not exit 0. Returns `rc`, or
 * CLI_EXIT_FAIL if stdout could not be written. */
int cli_finish(const char *cmd, int rc);

/* ---- Options ---- */

/* One option: `--name`, and `-c` when `short_name` is not 0. An option
 * with `has_arg` takes a value, as `--name=V`, `--name V` or `-c V`. */
typedef struct cli_opt {
  const char *name;
  char short_name;
  int has_arg;
  int id; /* what cli_next_opt returns for it; >= 0 */
} cli_opt;

enum {
  CLI_OPT_END = -1,        /* no arguments left */
  CLI_OPT_ERROR = -2,      /* a usage error, already reported on stderr */
  CLI_OPT_POSITIONAL = -3  /* an argument that is not an option: in `arg` */
};

typedef struct cli_args {
  int argc;
  char **argv;
  int next;        /* index of the next argument to look at */
  const char *cmd; /* for messages */
  const char *arg; /* the value of the last option or positional, or NULL */
  int only_positional; /* after "--" */
} cli_args;

/* Starts parsing argv[1..argc-1] (argv[0] is the command's name). */
void cli_args_init(cli_args *a, const char *cmd, int argc, char **argv);
/* The next option's id, or a CLI_OPT_* code. `opts` ends with a NULL name.
 * Unknown options and missing values are reported on stderr. */
int cli_next_opt(cli_args *a, const cli_opt *opts);

/* ---- An aligned text table ---- */

#define CLI_TABLE_MAXCOLS 12

enum { CLI_LEFT = 0, CLI_RIGHT = 1 };

typedef struct cli_table {
  int ncols;
  int align[CLI_TABLE_MAXCOLS]; /* CLI_LEFT or CLI_RIGHT per column */
  size_t nrows;                 /* the header is row 0 */
  size_t cap;
  char **cells;                 /* nrows * ncols copies */
} cli_table;

/* A table with `ncols` columns (at most CLI_TABLE_MAXCOLS) and this
 * header. Returns 0, or -1 when out of memory. */
int cli_table_init(cli_table *t, int ncols, const char *const *header, const int *align);
/* Adds a row of `ncols` cells (NULL prints as empty). 0, or -1. */
int cli_table_add(cli_table *t, const char *const *cells);
/* Prints it with two spaces between columns and no trailing blanks. */
void cli_table_print(const cli_table *t, FILE *f);
void cli_table_free(cli_table *t);

/* ---- JSON ---- */

/* Writes `value` to `f` as one indented JSON document and a newline.
 * Returns 0, or -1 if it could not be written. */
int cli_json_print(const struct json_t *value, FILE *f);
/* Writes `value` to `f` as one compact JSON line (JSON lines: what
 * `ward ctl logs --json -f` and the HTTP page /logs write, an object per
 * line). Returns 0, or -1 if it could not be written. */
int cli_json_line(const struct json_t *value, FILE *f);

/* ---- Log records ---- */

/* How many lines `ward ctl logs` prints, and /logs gives, unless asked
 * for another number (-n, last=). */
#define CLI_LOGS_LAST 100

struct ward_log_field;
/* A worker's log record as one readable line (ward_log_format),
 * malloc'd; NULL without memory. */
char *cli_record_text(int level, const char *msg, const struct ward_log_field *fields,
                      size_t nfields, unsigned long call_id);

/* ---- Clocks and paths ---- */

/* `ms` (wall clock, ms since the epoch) as "2026-11-22T01:43:01.357Z". */
void cli_utc_stamp(char *buf, size_t cap, long long ms);
/* A monotonic clock in microseconds, for intervals. */
double cli_now_us(void);
/* The absolute path of the running executable (/proc/self/exe), to start
 * this very binary again as a worker. Returns 0, or -1 (errno set). */
int cli_self_exe(char *buf, size_t size);

#endif /* WARD_CLI_H */
