/*
 * ext.c — `ward ext`: extensions from the command line, through
 * libward's extension host (ward.h, "Extension host"):
 *
 *   ward ext list [--json] DIR...          the manifests found, valid or not
 *   ward ext check [--json] DIR            one manifest, validated
 *   ward ext call [--json] [--timeout S] DIR... COMMAND [JSON]
 *                                          activate and run a command
 *
 * docs/cli.md ("ward ext") has the options, the output and the exit
 * codes; docs/extensions.md the manifest.
 */
#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <ward.h>

#include "cli.h"

static void ext_usage(FILE *f) {
  fprintf(f,
          "Usage: %s ext list [--json] DIR...\n"
          "       %s ext check [--json] DIR\n"
          "       %s ext call [--json] [--timeout SEC] DIR... COMMAND [JSON]\n"
          "\n"
          "Extensions: folders holding a ward-extension.json manifest (docs/extensions.md).\n"
          "A DIR is an extension's folder, or a folder of extension folders.\n"
          "\n"
          "  list    the extensions found: name, version, state, commands; refused\n"
          "          manifests with their file, JSON path and reason\n"
          "  check   validates the manifest of one extension's folder\n"
          "  call    starts the extension that contributes COMMAND (EXT.ID/COMMAND or a\n"
          "          bare id), runs it with JSON params (default {}), prints its progress\n"
          "          on stderr and its reply on stdout; the DIRs are the leading\n"
          "          arguments that are directories\n"
          "\n"
          "Options:\n"
          "      --json          print the result as JSON\n"
          "      --timeout SEC   call: the command's deadline (default 30)\n"
          "  -h, --help          show this help and exit\n"
          "\n",
          CLI_NAME, CLI_NAME, CLI_NAME);
  cli_print_exits(f, "ext");
}

enum { OPT_HELP, OPT_JSON, OPT_TIMEOUT };

typedef struct ext_cmd {
  int json;
  int timeout_ms;
  const char **pos; /* positional arguments */
  int npos;
} ext_cmd;

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static ward_ext_host *new_host(void) {
  ward_ext_host *eh;
  /* No host methods here: any well-formed permission is one some host
   * may offer. */
  ward_ext_host_opts o = WARD_EXT_HOST_OPTS_INIT;
  o.any_permission = 1;
  if (ward_ext_host_new(&eh, &o)) {
    cli_error("ext", "cannot start an extension host: %s", ward_last_error());
    return NULL;
  }
  return eh;
}

static json_t *strings_json(const char *const *v, size_t n) {
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(a, json_string(v[i]));
  return a;
}

static json_t *info_json(const ward_ext_info *in) {
  return json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:o, s:o}", "name", in->name,
                   "version", in->version, "folder", in->folder, "manifest", in->manifest,
                   "valid", in->state != WARD_EXT_INVALID, "state",
                   ward_ext_state_name(in->state), "error", in->last_error, "commands",
                   strings_json(in->commands, in->ncommands), "permissions",
                   strings_json(in->permissions, in->npermissions));
}

static char *joined(const char *const *v, size_t n) {
  size_t len = 1;
  for (size_t i = 0; i < n; i++)
    len += strlen(v[i]) + 1;
  char *s = calloc(1, len);
  for (size_t i = 0; s && i < n; i++) {
    if (i)
      strcat(s, ",");
    strcat(s, v[i]);
  }
  return s;
}

/* Prints the list; returns how many were refused. */
static int print_list(ward_ext_info **list, size_t n, int json, int *failed) {
  *failed = 0;
  for (size_t i = 0; i < n; i++)
    *failed += list[i]->state == WARD_EXT_INVALID;
  if (json) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
      json_array_append_new(a, info_json(list[i]));
    int rv = cli_json_print(a, stdout);
    json_decref(a);
    return rv;
  }
  static const char *const head[] = {"NAME", "VERSION", "STATE", "COMMANDS", "PERMISSIONS"};
  static const int align[] = {CLI_LEFT, CLI_LEFT, CLI_LEFT, CLI_LEFT, CLI_LEFT};
  cli_table t;
  if (cli_table_init(&t, 5, head, align))
    return -1;
  for (size_t i = 0; i < n; i++) {
    ward_ext_info *in = list[i];
    char *cmds = joined(in->commands, in->ncommands);
    char *perms = joined(in->permissions, in->npermissions);
    const char *cells[] = {in->name[0] ? in->name : "-", in->version[0] ? in->version : "-",
                           ward_ext_state_name(in->state), cmds && *cmds ? cmds : "-",
                           perms && *perms ? perms : "-"};
    cli_table_add(&t, cells);
    free(cmds);
    free(perms);
  }
  cli_table_print(&t, stdout);
  cli_table_free(&t);
  for (size_t i = 0; i < n; i++)
    if (list[i]->state == WARD_EXT_INVALID)
      fprintf(stderr, "%s: refused: %s: %s\n", CLI_NAME " ext", list[i]->manifest,
              list[i]->last_error);
  return 0;
}

static int scan(ward_ext_host *eh, const char **dirs, int n) {
  for (int i = 0; i < n; i++)
    if (!is_dir(dirs[i])) {
      cli_error("ext", "'%s' is not a directory", dirs[i]);
      return CLI_EXIT_USAGE;
    }
  if (ward_ext_host_scan(eh, (const char *const *)dirs, (size_t)n, NULL)) {
    cli_error("ext", "scan: %s", ward_last_error());
    return CLI_EXIT_FAIL;
  }
  return CLI_EXIT_OK;
}

/* list and check. */
static int cmd_list(const ext_cmd *c, int check) {
  if (c->npos < 1 || (check && c->npos != 1))
    return cli_usage_error("ext", check ? "check takes one DIR" : "list needs a DIR");
  ward_ext_host *eh = new_host();
  if (!eh)
    return CLI_EXIT_FAIL;
  int rc = scan(eh, c->pos, c->npos);
  ward_ext_info **list = NULL;
  size_t n = 0;
  if (!rc && ward_ext_list(&list, &n, eh)) {
    cli_error("ext", "%s", ward_last_error());
    rc = CLI_EXIT_FAIL;
  }
  if (!rc && check && n != 1) {
    cli_error("ext", "'%s' holds no extension (%s)", c->pos[0], WARD_EXT_MANIFEST);
    rc = CLI_EXIT_FAIL;
  }
  int failed = 0;
  if (!rc && print_list(list, n, c->json, &failed))
    rc = CLI_EXIT_FAIL;
  if (!rc && check && failed)
    rc = CLI_EXIT_FAIL;
  ward_ext_list_free(list, n);
  ward_ext_host_free(eh);
  return cli_finish("ext", rc);
}

static void on_progress(const void *data, size_t len, void *ud) {
  (void)ud;
  fprintf(stderr, "progress: %.*s\n", (int)len, (const char *)data);
}

static void on_row(const char *stream, uint64_t seq, const void *data, size_t len, void *ud) {
  (void)ud;
  fprintf(stderr, "row %s %llu: %.*s\n", stream, (unsigned long long)seq, (int)len,
          (const char *)data);
}

static int print_reply(const ext_cmd *c, int rv, ward_msg *r) {
  const char *data = r ? ward_msg_data(r) : "";
  int len = r ? (int)ward_msg_len(r) : 0;
  if (c->json) {
    json_t *v = rv ? json_pack("{s:b, s:s, s:s, s:i}", "ok", 0, "error", ward_err_name(rv),
                               "message", r && ward_msg_error(r)[0] ? ward_msg_error(r)
                                                                    : ward_last_error(),
                               "code", r ? ward_msg_code(r) : rv)
                   : json_pack("{s:b}", "ok", 1);
    json_t *reply = r && len ? json_loadb(data, (size_t)len, JSON_DECODE_ANY, NULL) : NULL;
    if (reply)
      json_object_set_new(v, rv ? "data" : "reply", reply);
    else if (r && len)
      json_object_set_new(v, rv ? "data" : "reply", json_stringn(data, (size_t)len));
    int e = cli_json_print(v, stdout);
    json_decref(v);
    return e;
  }
  if (!rv)
    printf("%.*s\n", len, data);
  else if (r)
    cli_error("ext", "the command failed: code %d: %s", ward_msg_code(r), ward_msg_error(r));
  else
    cli_error("ext", "%s: %s", ward_err_name(rv), ward_last_error());
  return 0;
}

static int cmd_call(const ext_cmd *c) {
  int ndirs = 0;
  while (ndirs < c->npos && is_dir(c->pos[ndirs]))
    ndirs++;
  int rest = c->npos - ndirs;
  if (ndirs == 0 || rest < 1 || rest > 2)
    return cli_usage_error("ext", "call takes DIR... COMMAND [JSON]");
  const char *command = c->pos[ndirs], *params = rest == 2 ? c->pos[ndirs + 1] : "{}";
  ward_ext_host *eh = new_host();
  if (!eh)
    return CLI_EXIT_FAIL;
  int rc = scan(eh, c->pos, ndirs);
  ward_msg *r = NULL;
  int rv = 0;
  if (!rc) {
    ward_call_opts o = WARD_CALL_OPTS_INIT;
    o.timeout_ms = c->timeout_ms;
    o.on_progress = on_progress;
    o.on_row = on_row;
    rv = ward_ext_command(&r, eh, command, params, strlen(params), &o);
    if (print_reply(c, rv, r))
      rc = CLI_EXIT_FAIL;
    else if (rv)
      rc = rv == WARD_ENOMETHOD && !r && strstr(ward_last_error(), "no extension contributes")
               ? CLI_EXIT_NO_COMMAND
               : CLI_EXIT_FAIL;
  }
  ward_msg_free(r);
  ward_ext_host_free(eh);
  return cli_finish("ext", rc);
}

int ext_main(int argc, char **argv) {
  static const cli_opt opts[] = {{"help", 'h', 0, OPT_HELP},
                                 {"json", 0, 0, OPT_JSON},
                                 {"timeout", 0, 1, OPT_TIMEOUT},
                                 {NULL, 0, 0, 0}};
  ext_cmd c = {.timeout_ms = 30000};
  const char *sub = NULL;
  const char **pos = calloc((size_t)argc + 1, sizeof *pos);
  if (!pos)
    return CLI_EXIT_FAIL;
  cli_args a;
  cli_args_init(&a, "ext", argc, argv);
  int id, rc = -1;
  while (rc < 0 && (id = cli_next_opt(&a, opts)) != CLI_OPT_END) {
    switch (id) {
    case OPT_HELP:
      ext_usage(stdout);
      rc = cli_finish("ext", CLI_EXIT_OK);
      break;
    case OPT_JSON:
      c.json = 1;
      break;
    case OPT_TIMEOUT: {
      char *end;
      double s = strtod(a.arg, &end);
      if (*end || s <= 0 || s > 86400)
        rc = cli_usage_error("ext", "--timeout: '%s' is not a number of seconds", a.arg);
      else
        c.timeout_ms = (int)(s * 1000);
      break;
    }
    case CLI_OPT_POSITIONAL:
      if (!sub)
        sub = a.arg;
      else
        pos[c.npos++] = a.arg;
      break;
    default:
      rc = CLI_EXIT_USAGE;
      break;
    }
  }
  c.pos = pos;
  if (rc < 0) {
    if (!sub)
      rc = cli_usage_error("ext", "a command is needed: list, check or call");
    else if (strcmp(sub, "list") == 0)
      rc = cmd_list(&c, 0);
    else if (strcmp(sub, "check") == 0)
      rc = cmd_list(&c, 1);
    else if (strcmp(sub, "call") == 0)
      rc = cmd_call(&c);
    else
      rc = cli_usage_error("ext", "unknown command '%s' (list, check or call)", sub);
  }
  free(pos);
  return rc;
}
