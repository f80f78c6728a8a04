/*
 * ctl.c — `ward ctl`: talks to a running `ward run` over its control
 * socket, with the ward protocol (ward_client_open), one request per
 * command. The methods and their JSON are in docs/protocol.md.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <ward.h>

#include "cli.h"
#include "config.h"

typedef struct ctl {
  const char *socket;
  int json;
  int timeout_ms;
  ward_client *client;
  int resume;    /* a follower: a connection lost (or refused) is not an error */
  int lost;      /* so the last call's connection was, quietly: open another */
  char sockbuf[256];
} ctl;

static void ctl_usage(FILE *f) {
  fprintf(f,
          "Usage: %s ctl [OPTIONS] COMMAND [ARGS]\n"
          "\n"
          "Controls a running '%s run' through its control socket.\n"
          "\n"
          "Commands:\n"
          "  status [NAME...]        the services: state, pid, uptime, restarts, last exit,\n"
          "                          memory and CPU\n"
          "  start NAME...           start them (their dependencies first); waits until\n"
          "                          they are ready\n"
          "  stop NAME... [--grace D]\n"
          "                          stop them: asked first, killed after the grace\n"
          "  restart NAME...         stop them, then start them\n"
          "  replace NAME...         replace their processes one at a time, each new\n"
          "                          one ready before the old one stops\n"
          "  signal NAME... SIG      send a signal (TERM, HUP, USR1, 9...) to their processes\n"
          "  pause NAME...           freeze their processes and all they started\n"
          "  resume NAME...          let paused services run again\n"
          "  logs NAME... [-n N] [-f] [-t] [--stderr | --stdout]\n"
          "                          their last captured lines; -f follows new ones,\n"
          "                          -t (--timestamps) prefixes each with its time\n"
          "  spawn NAME [--restart MODE] [--ready R] -- CMD [ARGS...]\n"
          "                          run a transient service, gone once stopped\n"
          "  kill NAME...            stop them at once, without the grace\n"
          "  reload                  read the configuration again (as SIGHUP does)\n"
          "  reopen-logs             open the log files again, after logrotate moved\n"
          "                          them (as SIGUSR1 does)\n"
          "  shutdown                stop every service and the daemon\n"
          "\n"
          "NAME... is one or more names, each a service, an instance (web.2), a group\n"
          "(each service of its [group NAME] section), or 'all' (every service).\n"
          "\n"
          "Options (before COMMAND):\n"
          "  -s, --socket PATH   the control socket (default: $WARD_CTL_SOCKET, else\n"
          "                      /run/ward.sock for root, $XDG_RUNTIME_DIR/ward.sock,\n"
          "                      /tmp/ward-UID.sock)\n"
          "  -c, --config FILE   the socket named in this configuration file\n"
          "      --json          print the daemon's answer as JSON\n"
          "      --timeout SEC   how long to wait for an answer, connecting included\n"
          "                      (default 300)\n"
          "  -h, --help          show this help and exit\n"
          "\n"
          "Run '%s ctl COMMAND --help' for a command's own help.\n"
          "\n",
          CLI_NAME, CLI_NAME, CLI_NAME);
  cli_print_exits(f, "ctl");
}

/* ------------------------------------------------------------------ */
/* Talking to the daemon                                               */

static int connect_daemon(ctl *c) {
  if (c->client)
    return CLI_EXIT_OK;
  int rv = ward_client_open(&c->client, c->socket);
  if (rv == WARD_ECLOSED) {
    cli_error("ctl", "no daemon is running on %s (start one with '%s run CONFIG')", c->socket,
              CLI_NAME);
    return CLI_EXIT_NOT_RUNNING;
  }
  if (rv) {
    cli_error("ctl", "cannot reach the daemon on %s: %s", c->socket, ward_last_error());
    return CLI_EXIT_FAIL;
  }
  return CLI_EXIT_OK;
}

/* Sends `method` with `params` (taken); *out gets the answer. Returns a
 * CLI exit code; errors are reported. */
static int call(ctl *c, const char *method, json_t *params, json_t **out) {
  *out = NULL;
  int rc = connect_daemon(c);
  if (rc) {
    json_decref(params);
    return rc;
  }
  char *body = json_dumps(params, JSON_COMPACT);
  json_decref(params);
  if (!body) {
    cli_error("ctl", "out of memory");
    return CLI_EXIT_FAIL;
  }
  ward_msg *m = NULL;
  int rv = ward_client_request(&m, c->client, method, body, strlen(body), c->timeout_ms);
  free(body);
  if (rv == WARD_EREMOTE) {
    int code = ward_msg_code(m);
    cli_error("ctl", "%s", ward_msg_error(m) ? ward_msg_error(m) : "failed");
    ward_msg_free(m);
    return code == 404 ? CLI_EXIT_NO_SERVICE : CLI_EXIT_FAIL;
  }
  if ((rv == WARD_ECLOSED || rv == WARD_ECRASHED || rv == WARD_EHANDSHAKE) && c->resume) {
    /* The daemon may drop an idle connection to make room for another,
     * or be too busy to take a new one: the next call opens one. */
    ward_client_free(c->client);
    c->client = NULL;
    c->lost = 1;
    return CLI_EXIT_FAIL;
  }
  if (rv == WARD_EHANDSHAKE) {
    /* Refused (every connection of the daemon is in a call), or no answer
     * to the handshake: the daemon is there. */
    cli_error("ctl", "cannot talk to the daemon on %s: %s", c->socket, ward_last_error());
    return CLI_EXIT_FAIL;
  }
  if (rv == WARD_ECLOSED || rv == WARD_ECRASHED) {
    cli_error("ctl", "the daemon on %s went away", c->socket);
    return CLI_EXIT_NOT_RUNNING;
  }
  if (rv) {
    cli_error("ctl", "%s: %s", method, ward_last_error());
    return CLI_EXIT_FAIL;
  }
  json_error_t je;
  *out = json_loadb(ward_msg_data(m), ward_msg_len(m), 0, &je);
  ward_msg_free(m);
  if (!*out) {
    cli_error("ctl", "the daemon's answer is not JSON: %s", je.text);
    return CLI_EXIT_FAIL;
  }
  return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */

static void fmt_duration(char *buf, size_t cap, long long ms) {
  long long s = ms / 1000;
  if (s < 60)
    snprintf(buf, cap, "%llds", s);
  else if (s < 3600)
    snprintf(buf, cap, "%lldm%02llds", s / 60, s % 60);
  else if (s < 86400)
    snprintf(buf, cap, "%lldh%02lldm", s / 3600, s % 3600 / 60);
  else
    snprintf(buf, cap, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

static void fmt_bytes(char *buf, size_t cap, long long b) {
  if (b < 1024)
    snprintf(buf, cap, "%lldB", b);
  else if (b < 1024 * 1024)
    snprintf(buf, cap, "%.1fK", b / 1024.0);
  else if (b < 1024LL * 1024 * 1024)
    snprintf(buf, cap, "%.1fM", b / 1048576.0);
  else
    snprintf(buf, cap, "%.2fG", b / 1073741824.0);
}

static int print_json(json_t *v) {
  return cli_json_print(v, stdout) ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

static int print_status(json_t *res) {
  static const char *const head[] = {"NAME",     "STATE",     "PID", "UPTIME", "RESTARTS",
                                     "LAST-EXIT", "RSS", "CPU", "GROUP"};
  static const int align[] = {CLI_LEFT,  CLI_LEFT, CLI_RIGHT, CLI_RIGHT, CLI_RIGHT,
                              CLI_LEFT,  CLI_RIGHT, CLI_RIGHT, CLI_LEFT};
  cli_table t;
  if (cli_table_init(&t, 9, head, align))
    return CLI_EXIT_FAIL;
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(res, "services"), i, r) {
    char pid[24] = "-", up[32] = "-", restarts[24] = "-", last[64] = "-", rss[24] = "-",
         cpu[24] = "-";
    json_int_t p = json_integer_value(json_object_get(r, "pid"));
    if (p > 0) {
      snprintf(pid, sizeof pid, "%lld", (long long)p);
      json_t *u = json_object_get(r, "uptime_ms");
      if (json_is_integer(u))
        fmt_duration(up, sizeof up, json_integer_value(u));
      /* null where the system does not say: shown as "?" */
      json_t *rb = json_object_get(r, "rss_bytes"), *cm = json_object_get(r, "cpu_ms");
      if (json_is_integer(rb))
        fmt_bytes(rss, sizeof rss, json_integer_value(rb));
      else
        snprintf(rss, sizeof rss, "?");
      if (json_is_integer(cm))
        snprintf(cpu, sizeof cpu, "%.2fs", json_integer_value(cm) / 1000.0);
      else
        snprintf(cpu, sizeof cpu, "?");
    }
    json_t *rs = json_object_get(r, "restarts");
    if (json_is_integer(rs))
      snprintf(restarts, sizeof restarts, "%lld", (long long)json_integer_value(rs));
    json_t *le = json_object_get(r, "last_exit");
    if (json_is_object(le)) {
      const char *sig = json_string_value(json_object_get(le, "signal"));
      if (sig)
        snprintf(last, sizeof last, "signal %s", sig);
      else
        snprintf(last, sizeof last, "code %lld",
                 (long long)json_integer_value(json_object_get(le, "code")));
    }
    const char *group = json_string_value(json_object_get(r, "group"));
    /* A paused instance says so beside its state ("ready, paused"), and
     * one that keeps spares how many are ready ("ready, spares 1/2"). */
    char state[64], spares[32] = "";
    json_t *sp = json_object_get(r, "spares");
    json_int_t wanted = json_integer_value(json_object_get(sp, "wanted"));
    if (wanted > 0)
      snprintf(spares, sizeof spares, ", spares %lld/%lld",
               (long long)json_integer_value(json_object_get(sp, "ready")), (long long)wanted);
    snprintf(state, sizeof state, "%s%s%s", json_string_value(json_object_get(r, "state")),
             json_is_true(json_object_get(r, "paused")) ? ", paused" : "", spares);
    const char *cells[9] = {json_string_value(json_object_get(r, "name")), state,
                            pid, up, restarts, last, rss, cpu, group ? group : "-"};
    cli_table_add(&t, cells);
  }
  cli_table_print(&t, stdout);
  cli_table_free(&t);
  /* Why a service is not running, below the table. */
  json_array_foreach(json_object_get(res, "services"), i, r) {
    const char *e = json_string_value(json_object_get(r, "error"));
    if (e)
      printf("%s: %s\n", json_string_value(json_object_get(r, "name")), e);
  }
  return CLI_EXIT_OK;
}

/* status's exit: CLI_EXIT_INACTIVE when an instance that should run is
 * not running ("ok": false), as `systemctl is-active` and LSB's status. */
static int status_exit(json_t *res) {
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(res, "services"), i, r) if (
      json_is_false(json_object_get(r, "ok"))) return CLI_EXIT_INACTIVE;
  return CLI_EXIT_OK;
}

/* "web.1: ready" per instance, after start, stop, restart, spawn, kill;
 * after a stop or a kill, how it went: "web: stopped (killed)", or
 * "already-exited" when there was no process to stop. */
static int print_states(json_t *res, int stopped) {
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(res, "services"), i, r) {
    const char *how = json_string_value(json_object_get(r, "stop_outcome"));
    printf("%s: %s", json_string_value(json_object_get(r, "name")),
           json_string_value(json_object_get(r, "state")));
    if (stopped && how)
      printf(" (%s)", how);
    printf("\n");
  }
  return CLI_EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */

/* The options of commands (ids of run_command's table). */
enum { OPT_HELP = 1, OPT_JSON, OPT_GRACE, OPT_FOLLOW, OPT_LINES, OPT_STDERR, OPT_STDOUT,
       OPT_TIMESTAMPS, OPT_LEVEL, OPT_CALL, OPT_RESTART, OPT_READY };

typedef struct command {
  const char *name;
  int min, max;       /* positional arguments it takes (max -1: any number) */
  int opt_lo, opt_hi; /* the options of its own, besides --help and --json */
  const char *usage;  /* after "ward ctl NAME" */
  const char *help;
} command;

/* What a NAME may be, in every command that takes names. */
#define NAMES_HELP                                                                  \
  "NAME is a service, an instance (web.2), a group (every service of its\n"        \
  "[group NAME] section), or 'all' (every service); several may be given."

static const command commands[] = {
    {"status", 0, -1, 0, 0, "[NAME...]",
     "Prints the services (or those named) as a table, or --json.\n" NAMES_HELP},
    {"start", 1, -1, 0, 0, "NAME...",
     "Starts services, their dependencies first, and waits until they are\n"
     "ready.\n" NAMES_HELP},
    {"stop", 1, -1, OPT_GRACE, OPT_GRACE, "NAME... [--grace DURATION]",
     "Stops services (those that depend on others first): asked (their stop\n"
     "signal), then killed after the grace (each service's stop_grace unless\n"
     "--grace, e.g. 5s).\n" NAMES_HELP},
    {"restart", 1, -1, 0, 0, "NAME...", "Stops services, then starts them again.\n" NAMES_HELP},
    {"replace", 1, -1, 0, 0, "NAME...",
     "Replaces the processes of services one instance at a time, with their\n"
     "current configuration: a new process starts beside the old one and, once\n"
     "it is ready, takes its place, and the old one stops with its grace, so\n"
     "each service keeps serving. If a new process does not become ready, it\n"
     "goes, the old one keeps serving, and the command stops there (exit 1).\n"
     "An instance not running is started.\n" NAMES_HELP},
    {"signal", 2, -1, 0, 0, "NAME... SIG",
     "Sends SIG (any signal name, with or without SIG: TERM, HUP, USR1,\n"
     "RTMIN+1... or a number) to each process of the services.\n" NAMES_HELP},
    {"pause", 1, -1, 0, 0, "NAME...",
     "Pauses services: their processes, and all they started, stop running\n"
     "(their cgroup frozen, or their process group sent SIGSTOP where they have\n"
     "no cgroup: status says which) until resumed. Calls to them wait; missed\n"
     "heartbeats are not counted meanwhile.\n" NAMES_HELP},
    {"resume", 1, -1, 0, 0, "NAME...", "Lets paused services run again.\n" NAMES_HELP},
    {"logs", 1, -1, OPT_FOLLOW, OPT_CALL,
     "NAME... [-n N] [-f] [-t] [--stderr | --stdout] [--level L] [--call ID]",
     "Prints the services' last captured lines (-n, default 100), from their\n"
     "memory rings, merged by time, and with -f goes on printing new ones until\n"
     "interrupted. -t (--timestamps) prefixes each line with the time ward read\n"
     "it (UTC). Log records the services sent print as LEVEL message key=value...\n"
     "(call ID); --level L keeps records of level L (trace, debug, info, warn,\n"
     "error) or above, --call ID those of one call, and leaves out the lines.\n" NAMES_HELP},
    {"spawn", 1, 1, OPT_RESTART, OPT_READY, "NAME [--restart MODE] [--ready R] -- CMD [ARGS...]",
     "Runs CMD as a transient service NAME (not in the configuration; gone once\n"
     "stopped). MODE: always, on-failure (default) or never. R: handshake,\n"
     "'up DURATION' or 'notify FD' (default: up 0)."},
    {"kill", 1, -1, 0, 0, "NAME...", "Stops services at once: no grace.\n" NAMES_HELP},
    {"reload", 0, 0, 0, 0, "", "Reads the configuration again: starts added services, stops removed\n"
                   "ones, restarts changed ones, leaves the others running."},
    {"shutdown", 0, 0, 0, 0, "", "Stops every service, then the daemon."},
    {"reopen-logs", 0, 0, 0, 0, "",
     "Closes the services' log files, to be opened again (created if gone) at\n"
     "their next line: run it after logrotate has moved them (SIGUSR1 does the\n"
     "same)."},
};

/* The names of a request: "name" for one, "names" for several. */
static void set_names(json_t *p, json_t *names) {
  if (json_array_size(names) == 1)
    json_object_set(p, "name", json_array_get(names, 0));
  else if (json_array_size(names) > 1)
    json_object_set(p, "names", names);
}
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void command_usage(const command *k, FILE *f) {
  fprintf(f,
          "Usage: %s ctl [OPTIONS] %s %s\n\n%s\n\n"
          "Options: --json (before or after the command), -h/--help.\n"
          "\n",
          CLI_NAME, k->name, k->usage, k->help);
  cli_print_exits(f, "ctl");
}

/* ^C ends a follower at once, even while its call waits for lines: what
 * it printed is out already (flushed after each batch). */
static void on_interrupt(int sig) {
  (void)sig;
  _exit(CLI_EXIT_OK);
}

/* Before opening a connection the daemon dropped again. */
static void reconnect_pause(void) {
  struct timespec ts = {0, 200 * 1000000L};
  nanosleep(&ts, NULL);
}

/* What `logs` keeps: a stream, records from a level up, a call's records. */
typedef struct logs_filter {
  const char *stream; /* "stdout", "stderr" or NULL */
  const char *level;  /* a level's name, or NULL */
  long long call_id;  /* 0: any */
} logs_filter;

static int level_known(const char *name) {
  for (int l = WARD_LEVEL_TRACE; l <= WARD_LEVEL_ERROR; l++)
    if (strcmp(name, ward_level_name(l)) == 0)
      return 1;
  return 0;
}

/* A record of ward.logs as one readable line (cli_record_text). */
static void print_record(json_t *l) {
  json_t *fo = json_object_get(l, "fields");
  size_t nf = json_object_size(fo), i = 0;
  ward_log_field *fv = calloc(nf + 1, sizeof *fv);
  const char *key;
  json_t *v;
  int level = 0;
  const char *name = json_string_value(json_object_get(l, "level"));
  for (int k = WARD_LEVEL_TRACE; name && k <= WARD_LEVEL_ERROR; k++)
    if (strcmp(name, ward_level_name(k)) == 0)
      level = k;
  json_object_foreach(fo, key, v) {
    if (fv && i < nf)
      fv[i++] = (ward_log_field){key, json_string_value(v) ? json_string_value(v) : ""};
  }
  char *t = cli_record_text(level, json_string_value(json_object_get(l, "text")), fv, fv ? i : 0,
                            (unsigned long)json_integer_value(json_object_get(l, "call_id")));
  printf("%s\n", t ? t : json_string_value(json_object_get(l, "text")));
  free(t);
  free(fv);
}

static int do_logs(ctl *c, json_t *names, long n, int follow, const logs_filter *lf,
                   int stamps) {
  const char *stream = lf->stream;
  json_t *cursor = json_object(); /* per instance: {id, seq} of the last line seen */
  int first = 1, rc = CLI_EXIT_OK;
  if (follow) {
    struct sigaction sa = {.sa_handler = on_interrupt};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
  }
  do {
    json_t *p = json_pack("{s:O}", "after", cursor);
    set_names(p, names);
    if (first)
      json_object_set_new(p, "last", json_integer(n));
    else
      json_object_set_new(p, "follow", json_true()); /* answered when lines come */
    if (stream)
      json_object_set_new(p, "stream", json_string(stream));
    if (lf->level)
      json_object_set_new(p, "level", json_string(lf->level));
    if (lf->call_id)
      json_object_set_new(p, "call_id", json_integer((json_int_t)lf->call_id));
    json_t *res;
    rc = call(c, "ward.logs", p, &res);
    if (rc && c->lost) {
      c->lost = 0;
      rc = CLI_EXIT_OK;
      reconnect_pause();
      continue;
    }
    if (rc)
      break;
    json_t *lines = json_object_get(res, "lines");
    json_object_update(cursor, json_object_get(res, "cursor"));
    /* Several instances: each line says whose it is. */
    int several = json_object_size(json_object_get(res, "cursor")) > 1;
    size_t i;
    json_t *l;
    if (c->json && !follow) {
      rc = print_json(lines);
    } else {
      json_array_foreach(lines, i, l) {
        const char *inst = json_string_value(json_object_get(l, "instance"));
        if (stamps && !c->json) {
          char t[40];
          cli_utc_stamp(t, sizeof t, (int64_t)json_integer_value(json_object_get(l, "time_ms")));
          printf("%s ", t);
        }
        if (c->json) {
          cli_json_line(l, stdout); /* a failure shows in ferror(stdout) */
        } else {
          if (several)
            printf("[%s] ", inst);
          if (json_object_get(l, "level"))
            print_record(l);
          else
            printf("%s\n", json_string_value(json_object_get(l, "text")));
        }
      }
    }
    json_decref(res);
    first = 0;
    if (follow) {
      fflush(stdout);
      if (ferror(stdout))
        break;
      c->resume = 1; /* it answered once: from now on it is there */
    }
  } while (follow);
  json_decref(cursor);
  return rc;
}

static int run_command(ctl *c, const command *k, int argc, char **argv) {
  static const cli_opt opts[] = {{"help", 'h', 0, OPT_HELP},       {"json", 0, 0, OPT_JSON},
                                 {"grace", 0, 1, OPT_GRACE},       {"follow", 'f', 0, OPT_FOLLOW},
                                 {"lines", 'n', 1, OPT_LINES},     {"stderr", 0, 0, OPT_STDERR},
                                 {"stdout", 0, 0, OPT_STDOUT},     {"timestamps", 't', 0, OPT_TIMESTAMPS},
                                 {"level", 0, 1, OPT_LEVEL},       {"call", 0, 1, OPT_CALL},
                                 {"restart", 0, 1, OPT_RESTART},
                                 {"ready", 0, 1, OPT_READY},       {NULL, 0, 0, 0}};
  char cmdname[32];
  snprintf(cmdname, sizeof cmdname, "ctl %s", k->name);
  cli_args a;
  cli_args_init(&a, cmdname, argc, argv);
  json_t *pos = json_array(); /* the positional arguments (names) */
  int grace = -1, follow = 0, stamps = 0;
  long lines = CLI_LOGS_LAST;
  const char *stream = NULL, *restart = NULL, *ready = NULL, *level = NULL;
  long long call_id = 0;
  json_t *rest = json_array(); /* spawn: the command after -- */
  int rc = CLI_EXIT_OK;
  for (int id; (id = cli_next_opt(&a, opts)) != CLI_OPT_END;) {
    if (id == CLI_OPT_ERROR) {
      json_decref(rest);
      json_decref(pos);
      return CLI_EXIT_USAGE;
    }
    if (id == OPT_HELP) {
      command_usage(k, stdout);
      json_decref(rest);
      json_decref(pos);
      return cli_finish(cmdname, CLI_EXIT_OK);
    }
    if (id != CLI_OPT_POSITIONAL && id != OPT_JSON && (id < k->opt_lo || id > k->opt_hi)) {
      json_decref(rest);
      json_decref(pos);
      return cli_usage_error(cmdname, "option '%s' does not apply to %s", argv[a.next - 1 - (a.arg != NULL)], k->name);
    }
    switch (id) {
    case OPT_JSON:
      c->json = 1;
      break;
    case OPT_GRACE:
      if (conf_duration(a.arg, &grace)) {
        json_decref(rest);
        json_decref(pos);
        return cli_usage_error(cmdname, "--grace: '%s' is not a duration (e.g. 5s)", a.arg);
      }
      break;
    case OPT_FOLLOW:
      follow = 1;
      break;
    case OPT_LINES: {
      char *end;
      lines = strtol(a.arg, &end, 10);
      if (*end || lines < 0) {
        json_decref(rest);
        json_decref(pos);
        return cli_usage_error(cmdname, "-n: '%s' is not a count", a.arg);
      }
      break;
    }
    case OPT_STDERR:
      stream = "stderr";
      break;
    case OPT_STDOUT:
      stream = "stdout";
      break;
    case OPT_TIMESTAMPS:
      stamps = 1;
      break;
    case OPT_LEVEL:
      level = a.arg;
      if (!level_known(level)) {
        json_decref(rest);
        json_decref(pos);
        return cli_usage_error(cmdname, "--level: '%s' is not trace, debug, info, warn or error",
                               a.arg);
      }
      break;
    case OPT_CALL: {
      char *end;
      call_id = strtoll(a.arg, &end, 10);
      if (*end || call_id < 1 || call_id > 0xFFFFFFFFLL) {
        json_decref(rest);
        json_decref(pos);
        return cli_usage_error(cmdname, "--call: '%s' is not a call id (1..4294967295)", a.arg);
      }
      break;
    }
    case OPT_RESTART:
      restart = a.arg;
      break;
    case OPT_READY:
      ready = a.arg;
      break;
    case CLI_OPT_POSITIONAL:
      if (strcmp(k->name, "spawn") == 0 && json_array_size(pos) >= 1 && a.only_positional) {
        json_array_append_new(rest, json_string(a.arg));
        break;
      }
      json_array_append_new(pos, json_string(a.arg));
      break;
    default:
      break;
    }
  }
  int npos = (int)json_array_size(pos);
  if (npos < k->min || (k->max >= 0 && npos > k->max)) {
    const char *extra = npos > k->min ? json_string_value(json_array_get(pos, (size_t)k->max))
                                      : NULL;
    int missing_sig = strcmp(k->name, "signal") == 0 && npos == 1;
    json_decref(rest);
    json_decref(pos);
    if (!extra)
      return cli_usage_error(cmdname, "missing %s", missing_sig ? "SIG" : "NAME");
    return cli_usage_error(cmdname, "unexpected argument '%s'", extra);
  }
  /* signal: the last one is the signal. */
  json_t *sig = NULL;
  if (strcmp(k->name, "signal") == 0) {
    sig = json_incref(json_array_get(pos, (size_t)npos - 1));
    json_array_remove(pos, (size_t)npos - 1);
  }
  if (strcmp(k->name, "spawn") == 0 && json_array_size(rest) == 0) {
    json_decref(rest);
    json_decref(pos);
    return cli_usage_error(cmdname, "missing the command (after --)");
  }
  if (restart && conf_restart(restart, &(int){0})) {
    json_decref(rest);
    json_decref(pos);
    return cli_usage_error(cmdname, "--restart: '%s' is not always, on-failure or never",
                           restart);
  }
  if (ready && conf_ready(ready, &(int){0}, &(int){0})) {
    json_decref(rest);
    json_decref(pos);
    return cli_usage_error(cmdname, "--ready: '%s' is not handshake, 'up DURATION' or "
                                    "'notify FD'", ready);
  }

  if (strcmp(k->name, "logs") == 0) {
    json_decref(rest);
    logs_filter lf = {stream, level, call_id};
    int rc_logs = do_logs(c, pos, lines, follow, &lf, stamps);
    json_decref(pos);
    return cli_finish(cmdname, rc_logs);
  }
  json_t *p = json_object();
  set_names(p, pos);
  json_decref(pos);
  if (sig)
    json_object_set_new(p, "signal", sig);
  if (grace >= 0)
    json_object_set_new(p, "grace_ms", json_integer(grace));
  if (strcmp(k->name, "spawn") == 0) {
    json_object_set(p, "argv", rest);
    json_object_set_new(p, "ready", json_string(ready ? ready : "up 0"));
    if (restart)
      json_object_set_new(p, "restart", json_string(restart));
  }
  json_decref(rest);
  char method[32];
  snprintf(method, sizeof method, "ward.%s", k->name);
  for (char *q = method; *q; q++)
    if (*q == '-')
      *q = '_'; /* reopen-logs: ward.reopen_logs */
  json_t *res;
  rc = call(c, method, p, &res);
  if (rc)
    return cli_finish(cmdname, rc);
  if (c->json) {
    rc = print_json(res);
  } else if (strcmp(k->name, "status") == 0) {
    rc = print_status(res);
  } else if (strcmp(k->name, "reload") == 0) {
    static const char *const keys[] = {"added", "removed", "changed", "unchanged", "replaced"};
    for (size_t i = 0; i < 5; i++) {
      if (i == 4 && json_array_size(json_object_get(res, keys[i])) == 0)
        break; /* said only when a service has `reload = replace` */
      printf("%s:", keys[i]);
      size_t j;
      json_t *v;
      json_array_foreach(json_object_get(res, keys[i]), j, v) printf(" %s",
                                                                      json_string_value(v));
      printf("\n");
    }
  } else if (strcmp(k->name, "shutdown") == 0) {
    printf("stopping\n");
  } else if (strcmp(k->name, "reopen-logs") == 0) {
    /* quiet: done */
  } else if (strcmp(k->name, "signal") == 0 || strcmp(k->name, "pause") == 0 ||
             strcmp(k->name, "resume") == 0) {
    /* quiet, as kill(1) is */
  } else {
    rc = print_states(res, strcmp(k->name, "stop") == 0 || strcmp(k->name, "kill") == 0);
  }
  if (!rc && strcmp(k->name, "status") == 0)
    rc = status_exit(res);
  json_decref(res);
  return cli_finish(cmdname, rc);
}

int ctl_main(int argc, char **argv) {
  static const cli_opt opts[] = {{"socket", 's', 1, 1}, {"config", 'c', 1, 2},
                                 {"json", 0, 0, 3},     {"timeout", 0, 1, 4},
                                 {"help", 'h', 0, 5},   {NULL, 0, 0, 0}};
  ctl c;
  memset(&c, 0, sizeof c);
  c.timeout_ms = 300000;
  /* A reader that goes away (`logs -f | head`) ends the output quietly
   * (cli_finish), rather than by SIGPIPE. */
  signal(SIGPIPE, SIG_IGN);
  const char *config = NULL;
  cli_args a;
  cli_args_init(&a, "ctl", argc, argv);
  const command *k = NULL;
  for (int id; !k && (id = cli_next_opt(&a, opts)) != CLI_OPT_END;) {
    switch (id) {
    case CLI_OPT_ERROR:
      return CLI_EXIT_USAGE;
    case 1:
      c.socket = a.arg;
      break;
    case 2:
      config = a.arg;
      break;
    case 3:
      c.json = 1;
      break;
    case 4: {
      char *end;
      double s = strtod(a.arg, &end);
      if (*end || s <= 0 || s > 86400)
        return cli_usage_error("ctl", "--timeout: '%s' is not a number of seconds", a.arg);
      c.timeout_ms = (int)(s * 1000);
      break;
    }
    case 5:
      ctl_usage(stdout);
      return cli_finish("ctl", CLI_EXIT_OK);
    case CLI_OPT_POSITIONAL:
      for (size_t i = 0; i < NCOMMANDS && !k; i++)
        if (strcmp(commands[i].name, a.arg) == 0)
          k = &commands[i];
      if (!k)
        return cli_usage_error("ctl", "unknown command '%s'", a.arg);
      break;
    }
  }
  if (!k)
    return cli_usage_error("ctl", "which command? (status, start, stop, logs...)");
  if (c.socket && config)
    return cli_usage_error("ctl", "--socket and --config both name the socket: give one");
  if (config) {
    char err[768];
    if (conf_socket(config, c.sockbuf, sizeof c.sockbuf, err, sizeof err)) {
      cli_error("ctl", "%s", err);
      return CLI_EXIT_FAIL;
    }
    c.socket = c.sockbuf;
  } else if (!c.socket) {
    const char *env = getenv("WARD_CTL_SOCKET");
    if (env && *env)
      c.socket = env;
    else
      c.socket = conf_default_socket(c.sockbuf, sizeof c.sockbuf);
  }
  /* The command sees its own name as argv[0]. */
  int rc = run_command(&c, k, argc - (a.next - 1), argv + (a.next - 1));
  ward_client_free(c.client);
  return rc;
}
