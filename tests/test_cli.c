/*
 * test_cli.c — drives the real `ward` binary (its path is argv[1]; CMake
 * passes $<TARGET_FILE:ward_cli>) and checks what a user or a script sees:
 * exit codes, what goes to stdout and what to stderr, the table of
 * `ward probe` and its JSON, parsed with jansson.
 */

#include <jansson.h>

#include "test.h"
#include "tdoc.h"
#include "trun.h"

/* The exit codes of the tool, CLI_EXIT_MAP: macros only, nothing to link. */
#include "../tools/ward/cli.h"


/* ---- the tool ---- */

static void test_help(void) {
  run_result r;
  RUN(&r, "--help");
  EXPECT(&r, r.code == 0);
  EXPECT(&r, strstr(r.out, "probe") != NULL);
  EXPECT(&r, strstr(r.out, "Usage") != NULL);
  EXPECT(&r, r.err_len == 0);
  /* The hidden worker command is plumbing, not listed. */
  EXPECT(&r, strstr(r.out, "__probe-worker") == NULL);
  run_result_free(&r);
}

/* The line of `table` that lists `code` for `command`, with its meaning:
 * "  CODE  COMMAND  MEANING", the command column padded. */
static int has_exit_row(const char *table, int code, const char *command,
                        const char *meaning) {
  char head[64];
  snprintf(head, sizeof head, "  %d  %s ", code, command);
  for (const char *line = table; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    size_t len = strcspn(line, "\n");
    if (strncmp(line, head, strlen(head)) != 0 || len < strlen(meaning))
      continue;
    const char *rest = line + strlen(head);
    rest += strspn(rest, " ");
    if ((size_t)(line + len - rest) == strlen(meaning) && strncmp(rest, meaning, strlen(meaning)) == 0)
      return 1;
  }
  return 0;
}

/* `ward --help` lists every exit status of cli.h's list (the manual
 * pages take theirs from this table), and nothing else; docs/cli.md's
 * table has the same codes, each naming the commands that give it. */
static void test_help_exit_statuses(void) {
  run_result r;
  RUN(&r, "--help");
  EXPECT(&r, r.code == 0);
  const char *table = strstr(r.out, "\nExit status");
  EXPECT(&r, table != NULL);
  table = strchr(table + 1, '\n') + 1;
  size_t rows = 0;
  for (const char *line = table; *line == ' '; line = strchr(line, '\n') + 1)
    rows++;
  size_t want_rows = 0;
#define CHECK_ROW(name, code, command, meaning)                                             \
  EXPECT(&r, has_exit_row(table, code, command, meaning));                                 \
  want_rows++;
  CLI_EXIT_MAP(CHECK_ROW)
#undef CHECK_ROW
  EXPECT(&r, rows == want_rows);
  run_result_free(&r);

  /* docs/cli.md: the first table after "Exit status:", "| CODE | ... |". */
  char *doc = t_read_doc("docs/cli.md");
  char *start = strstr(doc, "- Exit status:");
  T_TRUE(start != NULL);
  start = strstr(start, "\n| code |");
  T_TRUE(start != NULL);
  int listed[256] = {0};
  for (char *line = strchr(start + 1, '\n') + 1; line[0] == '|'; line = strchr(line, '\n') + 1) {
    int code;
    if (sscanf(line, "| %d |", &code) != 1)
      continue; /* the |---| line */
    char *end = strchr(line, '\n');
    *end = 0;
    T_TRUE(code >= 0 && code < 256);
    listed[code] = 1;
#define CHECK_DOC(name, c, command, meaning)                                                 \
  if ((c) == code && strcmp(command, "all") != 0) {                                        \
    char want[64];                                                                         \
    snprintf(want, sizeof want, "`ward %s", command);                                      \
    if (!strstr(line, want))                                                               \
      T_FAIL("docs/cli.md, exit status %d: does not name %s`: %s", code, want, line);      \
  }
    CLI_EXIT_MAP(CHECK_DOC)
#undef CHECK_DOC
    int known = 0;
#define KNOWN(name, c, command, meaning) known |= (c) == code;
    CLI_EXIT_MAP(KNOWN)
#undef KNOWN
    if (!known)
      T_FAIL("docs/cli.md lists exit status %d, which cli.h does not have", code);
    *end = '\n';
  }
#define LISTED(name, c, command, meaning)                                                    \
  if (!listed[c])                                                                          \
    T_FAIL("docs/cli.md does not list exit status %d (%s: %s)", c, command, meaning);
  CLI_EXIT_MAP(LISTED)
#undef LISTED
  free(doc);
}

static void test_version(void) {
  char want[64];
  snprintf(want, sizeof want, "%s\n", ward_version_string());
  run_result r;
  RUN(&r, "--version");
  EXPECT(&r, r.code == 0);
  EXPECT(&r, strcmp(r.out, want) == 0);
  run_result_free(&r);
  RUN(&r, "probe", "--version");
  EXPECT(&r, r.code == 0);
  EXPECT(&r, strcmp(r.out, want) == 0);
  run_result_free(&r);
}

/* A usage error: exit 2, a message naming `culprit` on stderr, and
 * nothing on stdout. */
static void expect_usage_error(run_result *r, const char *culprit) {
  EXPECT(r, r->code == 2);
  EXPECT(r, r->out_len == 0);
  EXPECT(r, strstr(r->err, culprit) != NULL);
  run_result_free(r);
}

static void test_usage_errors(void) {
  run_result r;
  RUN(&r, "frobnicate");
  expect_usage_error(&r, "frobnicate");
  RUN(&r, "--frobnicate");
  expect_usage_error(&r, "--frobnicate");
  RUN(&r, "probe", "--frobnicate");
  expect_usage_error(&r, "--frobnicate");
  RUN(&r, "probe", "extra");
  expect_usage_error(&r, "extra");
  RUN(&r, "probe", "--json=yes");
  expect_usage_error(&r, "--json");
  /* No command at all: the usage, on stderr. */
  static const char *const nothing[] = {NULL};
  run(&r, nothing);
  expect_usage_error(&r, "Usage");
}

/* Each command's --help ends with its own exit statuses, every code of
 * cli.h's list for it or for all commands, and no other (the list is the
 * one source: cli_print_exits); ctl's commands' help too. */
static void expect_exits(const char *command, const char *sub) {
  run_result r;
  if (sub)
    RUN(&r, command, sub, "--help");
  else
    RUN(&r, command, "--help");
  EXPECT(&r, r.code == 0);
  const char *table = strstr(r.out, "\nExit status:\n");
  EXPECT(&r, table != NULL);
  table += strlen("\nExit status:\n");
  int want[8] = {0}, got[8] = {0};
#define WANT_CODE(name, code, cmd, meaning)                                                  \
  if (strcmp(cmd, "all") == 0 || strcmp(cmd, command) == 0)                                 \
    want[code]++;
  CLI_EXIT_MAP(WANT_CODE)
#undef WANT_CODE
  for (const char *line = table; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : "") {
    int code;
    EXPECT(&r, sscanf(line, "  %d  ", &code) == 1 && code >= 0 && code < 8);
    got[code]++;
  }
  for (int c = 0; c < 8; c++)
    if (got[c] != want[c])
      T_FAIL("ward %s%s%s --help lists exit status %d %d times, not %d", command,
             sub ? " " : "", sub ? sub : "", c, got[c], want[c]);
  run_result_free(&r);
}

static void test_command_exits(void) {
  static const char *const commands[] = {"run", "ctl", "probe", "ext", "conform"};
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    expect_exits(commands[i], NULL);
  expect_exits("ctl", "status");
  expect_exits("ctl", "stop");
}

static void test_probe_help(void) {
  run_result r;
  RUN(&r, "probe", "--help");
  EXPECT(&r, r.code == 0);
  EXPECT(&r, r.err_len == 0);
  EXPECT(&r, strstr(r.out, "--json") != NULL);
  EXPECT(&r, strstr(r.out, "--quick") != NULL);
  EXPECT(&r, strstr(r.out, "Exit status") != NULL);
  run_result_free(&r);
}

/* The worker command is for `ward probe` to start; by hand it is refused. */
static void test_worker_by_hand(void) {
  run_result r;
  RUN(&r, "__probe-worker");
  EXPECT(&r, r.code == 2);
  EXPECT(&r, r.out_len == 0);
  EXPECT(&r, r.err_len > 0);
  run_result_free(&r);
}

/* ---- ward probe ---- */

static const struct {
  const char *key, *label, *unit;
} figures[] = {
    {"spawn", "cold spawn", "ms"},        {"first_call", "first call", "us"},
    {"round_trip", "round trip", "us"},   {"stream", "streaming", "rows/s"},
    {"cancel", "cancellation", "us"},     {"cycle", "cycle", "ms"},
    {"crash_recovery", "crash recovery", "ms"}, {"host_rss", "host RSS", "KiB"},
    {"worker_rss", "worker RSS", "KiB"},
};
#define NFIGURES (sizeof figures / sizeof figures[0])

/* The table line of `label`: it starts the line, then a number, the unit
 * and "ok". */
static int table_line_ok(const char *out, const char *label, const char *unit) {
  size_t n = strlen(label);
  for (const char *line = out; line != NULL && *line != '\0';) {
    const char *end = strchr(line, '\n');
    if (strncmp(line, label, n) == 0 && line[n] == ' ') {
      double value;
      char got_unit[16], status[16];
      /* The portable backend cannot read a worker's figures: no value. */
      if (getenv("WARD_TEST_NO_FIGURES") && strcmp(label, "worker RSS") == 0)
        return sscanf(line + n, " - %15s %15s", got_unit, status) == 2 &&
               strcmp(got_unit, unit) == 0 && strcmp(status, "unknown") == 0;
      if (sscanf(line + n, "%lf %15s %15s", &value, got_unit, status) != 3)
        return 0;
      return strcmp(got_unit, unit) == 0 && strcmp(status, "ok") == 0 && value >= 0;
    }
    line = end != NULL ? end + 1 : NULL;
  }
  return 0;
}

static void test_probe_table(void) {
  run_result r;
  RUN(&r, "probe", "--quick");
  EXPECT(&r, r.code == 0);
  EXPECT(&r, r.err_len == 0);
  EXPECT(&r, strstr(r.out, ward_version_string()) != NULL);
  for (size_t i = 0; i < NFIGURES; i++)
    EXPECT(&r, table_line_ok(r.out, figures[i].label, figures[i].unit));
  EXPECT(&r, strstr(r.out, "all 9 checks passed") != NULL);
  run_result_free(&r);
}

static void expect_figure(run_result *r, json_t *checks, size_t i) {
  json_t *c = json_object_get(checks, figures[i].key);
  EXPECT(r, json_is_object(c));
  EXPECT(r, json_is_string(json_object_get(c, "status")));
  if (getenv("WARD_TEST_NO_FIGURES") && strcmp(figures[i].key, "worker_rss") == 0) {
    /* The portable backend cannot read a worker's figures. */
    EXPECT(r, strcmp(json_string_value(json_object_get(c, "status")), "unknown") == 0);
    EXPECT(r, json_is_null(json_object_get(c, "value")));
  } else {
    EXPECT(r, strcmp(json_string_value(json_object_get(c, "status")), "pass") == 0);
    EXPECT(r, json_is_number(json_object_get(c, "value")));
    EXPECT(r, json_number_value(json_object_get(c, "value")) >= 0);
  }
  EXPECT(r, json_is_string(json_object_get(c, "unit")));
  EXPECT(r, strcmp(json_string_value(json_object_get(c, "unit")), figures[i].unit) == 0);
  EXPECT(r, json_is_string(json_object_get(c, "detail")));
}

static void test_probe_json(void) {
  run_result r;
  RUN(&r, "probe", "--quick", "--json");
  EXPECT(&r, r.code == 0);
  EXPECT(&r, r.err_len == 0);
  /* The whole of stdout is one JSON value: jansson refuses trailing text. */
  json_error_t error;
  json_t *root = json_loadb(r.out, r.out_len, 0, &error);
  if (root == NULL)
    fprintf(stderr, "JSON error: %s (line %d)\n", error.text, error.line);
  EXPECT(&r, json_is_object(root));
  EXPECT(&r, json_is_true(json_object_get(root, "passed")));
  EXPECT(&r, json_is_true(json_object_get(root, "quick")));
  EXPECT(&r, json_array_size(json_object_get(root, "failed")) == 0);
  const char *version = json_string_value(json_object_get(root, "ward_version"));
  EXPECT(&r, version != NULL && strcmp(version, ward_version_string()) == 0);
  EXPECT(&r, json_is_integer(json_object_get(json_object_get(root, "system"), "cpus")));
  /* What the sandbox can apply here, as ward_sandbox_supported says. */
  json_t *sb = json_object_get(root, "sandbox");
  int abi = 0;
  uint64_t bits = ward_sandbox_supported(&abi);
  EXPECT(&r, json_is_object(sb));
  EXPECT(&r, json_integer_value(json_object_get(sb, "landlock_abi")) == abi);
  EXPECT(&r, json_is_true(json_object_get(sb, "seccomp")) == !!(bits & WARD_SANDBOX_SECCOMP));
  EXPECT(&r, json_is_true(json_object_get(sb, "new_net")) == !!(bits & WARD_SANDBOX_NEW_NET));
  /* What held the probe's worker: one of the ways there are. */
  const char *tree = json_string_value(json_object_get(root, "process_tree"));
  EXPECT(&r, tree != NULL && (strcmp(tree, "cgroup") == 0 || strcmp(tree, "pgroup") == 0));
  json_t *checks = json_object_get(root, "checks");
  EXPECT(&r, json_is_object(checks));
  EXPECT(&r, json_object_size(checks) == NFIGURES);
  for (size_t i = 0; i < NFIGURES; i++)
    expect_figure(&r, checks, i);
  json_decref(root);
  run_result_free(&r);
}

/* `ward conform`: a command is required; a worker that does not serve the
 * contract (here the probe's own worker) fails, named check by check, in
 * JSON too, with exit status 1. That the examples' conformance workers
 * pass is ctest's conform_* tests. */
static void test_conform(void) {
  run_result r;
  RUN(&r, "conform");
  expect_usage_error(&r, "no worker command");
  RUN(&r, "conform", "--help");
  EXPECT(&r, r.code == 0);
  EXPECT(&r, strstr(r.out, "WORKER-COMMAND") != NULL);
  run_result_free(&r);
  RUN(&r, "conform", "--json", ward_bin, "__probe-worker");
  EXPECT(&r, r.code == CLI_EXIT_FAIL);
  json_t *root = json_loadb(r.out, r.out_len, 0, NULL);
  EXPECT(&r, json_is_object(root));
  json_t *checks = json_object_get(root, "checks");
  EXPECT(&r, json_array_size(checks) > 10);
  EXPECT(&r, json_integer_value(json_object_get(root, "failed")) > 0);
  EXPECT(&r, json_integer_value(json_object_get(root, "passed")) +
                     json_integer_value(json_object_get(root, "failed")) ==
                 (json_int_t)json_array_size(checks));
  size_t i;
  json_t *c;
  int named_failure = 0;
  json_array_foreach(checks, i, c) {
    EXPECT(&r, json_is_string(json_object_get(c, "name")));
    if (!json_is_true(json_object_get(c, "pass")))
      named_failure |= json_is_string(json_object_get(c, "detail"));
  }
  EXPECT(&r, named_failure);
  json_decref(root);
  run_result_free(&r);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_cli PATH_TO_WARD\n");
    return 2;
  }
  ward_bin = argv[1];
  T_RUN(test_help);
  T_RUN(test_help_exit_statuses);
  T_RUN(test_version);
  T_RUN(test_usage_errors);
  T_RUN(test_probe_help);
  T_RUN(test_command_exits);
  T_RUN(test_worker_by_hand);
  T_RUN(test_probe_table);
  T_RUN(test_probe_json);
  T_RUN(test_conform);
  return t_done();
}
