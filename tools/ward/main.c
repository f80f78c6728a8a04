/*
 * main.c — the `ward` command-line tool: finds the subcommand and hands
 * it the rest of the command line.
 *
 *   ward [--help | --version]
 *   ward COMMAND [OPTIONS]
 *
 * A subcommand is one entry in `commands` below and one function in its
 * own file (probe.c: `ward probe`). Hidden entries are the tool's own
 * plumbing, such as the worker `ward probe` starts by re-executing this
 * binary: they work but are not listed.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>

#include <ward.h>

#include "cli.h"

typedef struct cli_command {
  const char *name;
  const char *summary; /* one line for `ward --help` */
  int (*run)(int argc, char **argv);
  int hidden;
} cli_command;

static const cli_command commands[] = {
    {"probe", "measure what ward can do on this machine (spawn, calls, streams, recovery)",
     probe_main, 0},
    {"run", "keep the services of a configuration file up, with a control socket", run_main,
     0},
    {"ctl", "control a running 'ward run': status, start, stop, logs, reload...", ctl_main, 0},
    {"ext", "extensions: list and check manifests, call a command", ext_main, 0},
    {"conform", "check that a worker in any language speaks the protocol", conform_main, 0},
    {"__probe-worker", "the worker `ward probe` starts", probe_worker_main, 1},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* Every exit status of every command, from cli.h's list: one row per code
 * and command, "CODE  COMMAND  MEANING", the command column padded to the
 * longest name. scripts/man_page.sh reads this table into the manual
 * pages, so its shape is kept simple: two spaces, code, two spaces, one
 * word, two spaces or more, the meaning. */
static void print_exit_codes(FILE *f) {
  const cli_exit_row *rows = cli_exit_rows;
  int width = 0;
  for (size_t i = 0; i < cli_exit_nrows; i++)
    if ((int)strlen(rows[i].command) > width)
      width = (int)strlen(rows[i].command);
  fprintf(f, "\nExit status, and the command that uses it (all: every command):\n");
  for (size_t i = 0; i < cli_exit_nrows; i++)
    fprintf(f, "  %d  %-*s  %s\n", rows[i].code, width, rows[i].command, rows[i].meaning);
}

static void usage(FILE *f) {
  fprintf(f,
          "Usage: %s COMMAND [OPTIONS]\n"
          "       %s --help | --version\n"
          "\n"
          "Runs work in supervised child processes (libward %s).\n"
          "\n"
          "Commands:\n",
          CLI_NAME, CLI_NAME, ward_version_string());
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (!commands[i].hidden)
      fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fprintf(f,
          "\n"
          "Options:\n"
          "  -h, --help     show this help and exit\n"
          "      --version  print the version of ward and exit\n"
          "\n"
          "Run '%s COMMAND --help' for a command's options.\n",
          CLI_NAME);
  print_exit_codes(f);
}

static const cli_command *find_command(const char *name) {
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

/* Options that come before any command: only --help and --version, and
 * nothing after them (`ward --help probe` is a mistake worth saying). */
static int top_level_option(int argc, char **argv) {
  const char *arg = argv[1];
  int help = strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
  if (!help && strcmp(arg, "--version") != 0)
    return cli_usage_error(NULL, "unknown option '%s'", arg);
  if (argc > 2)
    return cli_usage_error(NULL, "unexpected argument '%s' after %s", argv[2], arg);
  if (help)
    usage(stdout);
  else
    puts(ward_version_string()); /* the bare version, for scripts */
  return cli_finish(NULL, CLI_EXIT_OK);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  if (argv[1][0] == '-')
    return top_level_option(argc, argv);
  const cli_command *cmd = find_command(argv[1]);
  if (cmd == NULL)
    return cli_usage_error(NULL, "unknown command '%s'", argv[1]);
  /* The subcommand sees its own name as argv[0]. */
  return cmd->run(argc - 1, argv + 1);
}
