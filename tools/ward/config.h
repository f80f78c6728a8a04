/*
 * config.h — the configuration of `ward run`: an INI file read with inih,
 * checked whole (keys, numbers, dependencies) before anything starts.
 * docs/cli.md lists every key.
 */
#ifndef WARD_CLI_CONFIG_H
#define WARD_CLI_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One [service NAME] section. */
typedef struct svc_conf {
  char *name;
  int line;              /* of its section header */
  char **argv;           /* the command, split; NULL-terminated */
  size_t argc;
  char **env;            /* "KEY=VALUE", in order */
  size_t nenv;
  char *cwd;             /* or NULL */
  int restart;           /* WARD_RESTART_* */
  int max_restarts, restart_window_ms;
  int backoff_ms, backoff_max_ms;
  int stop_signal, stop_grace_ms;
  int ready_mode, ready_arg; /* WARD_READY_*, its ms or descriptor */
  int startup_timeout_ms;
  int heartbeat_ms;      /* 0: off */
  uint64_t memory_high;  /* soft limit: replaced when over (0: none) */
  uint64_t memory_limit; /* hard limit: killed when over (0: none) */
  int instances;
  char **deps;           /* names of services started first */
  size_t ndeps;
  int deps_line;         /* of its depends_on key */
  int control;           /* may make control requests over its channel */
} svc_conf;

/* The most `max_connections` may be: each control connection holds a
 * thread of the daemon, so a slip of the finger must not ask for a
 * million. */
#define CONF_MAX_CONNS 10000

/* The whole file. */
typedef struct ward_conf {
  char *path;
  char *socket;          /* the control socket */
  char *log_dir;         /* NULL: no log files */
  uint64_t log_max_bytes;
  int log_files;         /* rotated files kept besides the current one */
  int max_conns;         /* control connections held at once */
  int handshake_ms;      /* for a control connection's handshake */
  svc_conf *svcs;        /* in file order */
  size_t nsvcs;
} ward_conf;

/* Reads and checks `path`. On error returns -1 with "FILE:LINE: reason"
 * (or "FILE: reason") in `err`; nothing is kept. */
int conf_load(ward_conf **out, const char *path, char *err, size_t errcap);
/* The same, from `f` (which stays open), named `path` in messages. */
int conf_read(ward_conf **out, const char *path, FILE *f, char *err, size_t errcap);
void conf_free(ward_conf *c);
/* Only the control socket of `path` ([ward] socket, or the default), as
 * `ward ctl -c` needs: the rest of the file is the daemon's business. */
int conf_socket(const char *path, char *buf, size_t cap, char *err, size_t errcap);

/* A service with the defaults, for `ward ctl spawn`. */
int svc_conf_init(svc_conf *s, const char *name);
void svc_conf_clear(svc_conf *s);
/* A deep copy into `dst`. 0, or -1 without memory. */
int svc_conf_copy(svc_conf *dst, const svc_conf *src);
/* Whether two services would run the same way (a reload leaves it). */
int svc_conf_same(const svc_conf *a, const svc_conf *b);
/* Whether `name` is a valid service name: [A-Za-z0-9_-], 1..64. */
int svc_name_ok(const char *name);

/* Parsers shared with the command line. Each returns 0, or -1. */
int conf_duration(const char *s, int *ms);            /* "10s", "500ms", "2m", "1h"; bare: s */
int conf_size(const char *s, uint64_t *bytes);         /* "512K", "64M", "1G"; bare: bytes */
int conf_signal(const char *s, int *sig);              /* "TERM", "SIGTERM", "15" */
const char *conf_signal_name(int sig);                 /* "TERM" (or "15") */
int conf_restart(const char *s, int *mode);            /* always | on-failure | never */
const char *conf_restart_name(int mode);
/* "handshake", "up DURATION", "notify FD". */
int conf_ready(const char *s, int *mode, int *arg);

/* The default control socket: /run/ward.sock for root, else
 * $XDG_RUNTIME_DIR/ward.sock, else /tmp/ward-UID.sock. */
const char *conf_default_socket(char *buf, size_t cap);

/* The default log directory: /var/log/ward for root, else
 * $XDG_STATE_HOME/ward, else ~/.local/state/ward. */
const char *conf_default_log_dir(char *buf, size_t cap);

#endif
