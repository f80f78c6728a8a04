/*
 * config.h — the configuration of `ward run`: an INI file read with inih,
 * checked whole (keys, numbers, dependencies) before anything starts.
 *
 * Every key is a row of one table, conf_keys (config.c): its section, the
 * field it fills, how its value is read, its default, what a reload does
 * when it changes, and the line docs/cli.md shows for it. The parser, the
 * defaults, the comparison and copy of services, the daemon's reload notes
 * and `ward run --keys` all go by that table; tests/test_config.c checks
 * docs/cli.md against what `ward run --keys` prints.
 */
#ifndef WARD_CLI_CONFIG_H
#define WARD_CLI_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

/* One [service NAME] section. */
typedef struct svc_conf {
  char *name;
  int line;              /* of its section header */
  char **argv;           /* the command, split; NULL-terminated */
  size_t argc;
  int cmd_line;          /* of its command key */
  char **env;            /* "KEY=VALUE", in order */
  size_t nenv;
  char *env_file;        /* or NULL */
  char **file_env;       /* what env_file held, "KEY=VALUE"; NULL-terminated */
  char *cwd;             /* or NULL */
  int cwd_line;
  char *user;            /* "NAME" or "NAME:GROUP" (conf_user_ids), or NULL */
  int user_line;
  int umask;             /* if conf_given(s, "umask") */
  int autostart;         /* started with the daemon (and by a reload) */
  int proc_class;        /* WARD_CLASS_* */
  int restart;           /* WARD_RESTART_* */
  int max_restarts, restart_window_ms;
  int backoff_ms, backoff_max_ms;
  int stop_signal, stop_grace_ms;
  int ready_mode, ready_arg; /* WARD_READY_*, its ms or descriptor */
  int startup_timeout_ms;
  int heartbeat_ms;      /* 0: off */
  uint64_t memory_high;  /* soft limit: replaced when over (0: none) */
  uint64_t memory_limit; /* hard limit: killed when over (0: none) */
  uint64_t tree_memory_max, tree_memory_high; /* ward_spec_tree_limits (0: none) */
  int pids_max;          /* 0: none */
  int cpu_max;           /* percent of one CPU, 0: none */
  int spares;            /* ward_spec_spares */
  int instances;
  char **deps;           /* names of services started first */
  size_t ndeps;
  int deps_line;         /* of its depends_on key */
  int control;           /* may make control requests over its channel */
  int reload_replace;    /* a reload that changes it replaces its processes
                            one by one (`reload = replace`), not restarts */
  char *group;           /* the [group NAME] it belongs to, or NULL */
  uint64_t log_max_bytes; /* its own log_max_size, or 0: the [ward] one */
  int log_files;         /* its own log_files, if conf_given(s, "log_files") */
  int group_line;        /* of its group key */
  uint64_t given;        /* the keys the file sets, by position in conf_keys
                            (conf_given) */
} svc_conf;

/* Whether the file sets the [service] key `name` for `s`, rather than
 * leaving it to its default. */
int conf_given(const svc_conf *s, const char *name);

/* One [group NAME] section: a supervision group (ward_group_new). */
typedef struct grp_conf {
  char *name;
  int line;              /* of its section header */
  int strategy;          /* WARD_GROUP_* */
  int max_restarts, restart_window_ms; /* the group's intensity */
} grp_conf;

/* The most `max_connections` may be: each control connection holds a
 * descriptor and buffers of the daemon, so a slip of the finger must not
 * ask for a million. */
#define CONF_MAX_CONNS 10000

/* The whole file. */
typedef struct ward_conf {
  char *path;
  char *socket;          /* the control socket */
  char *log_dir;         /* NULL: no log files */
  uint64_t log_max_bytes;
  int log_files;         /* rotated files kept besides the current one */
  int log_mode;          /* permissions of new log files */
  int max_conns;         /* control connections held at once */
  int handshake_ms;      /* for a control connection's handshake */
  char *http;            /* the HTTP listener's address as written
                            (conf_http_address), or NULL: none */
  char *cgroup;          /* where services' cgroups go (ward_host_opts.cgroup),
                            or NULL: the daemon's own cgroup */
  int cgroups;           /* 0: process groups alone (ward_host_opts.no_cgroup) */
  svc_conf *svcs;        /* in file order */
  size_t nsvcs;
  grp_conf *groups;      /* in file order */
  size_t ngroups;
} ward_conf;

/* The section a key belongs to. */
typedef enum conf_section { CONF_WARD, CONF_SERVICE, CONF_GROUP } conf_section;

/* How a key's value is read (and written back, and compared). */
typedef enum conf_type {
  CONF_STRING,   /* char *, any text */
  CONF_PATH,     /* char *, an absolute path, or "none" for NULL */
  CONF_ADDRESS,  /* char *, as written: an address conf_http_address reads,
                    or "none" for NULL */
  CONF_INT,      /* int, a decimal number in lo..hi */
  CONF_MODE,     /* int, file permissions in octal (0640), 0..0777 */
  CONF_BOOL,     /* int, yes/true or no/false */
  CONF_DURATION, /* int, ms (conf_duration), at least lo */
  CONF_SIZE,     /* uint64_t, bytes (conf_size), at least lo */
  CONF_SIGNAL,   /* int (conf_signal) */
  CONF_RESTART,  /* int, WARD_RESTART_* (conf_restart) */
  CONF_STRATEGY, /* int, WARD_GROUP_* (conf_strategy) */
  CONF_CLASS,    /* int, WARD_CLASS_* (ward_class_from_name) */
  CONF_ON_RELOAD, /* int, 1 for replace, 0 for restart */
  CONF_READY,    /* int mode at off, int argument at off2 (conf_ready) */
  CONF_WORDS,    /* char ** at off, size_t count at off2: split as a shell
                    would; goes on over indented lines */
  CONF_ENV,      /* char ** at off, size_t count at off2: KEY=VALUE, one
                    per line, repeated for more */
  CONF_COMMAND,  /* as CONF_WORDS, but split once its section is read,
                    with the section's variables (conf_read) */
  CONF_ENV_FILE, /* char * (an absolute path, or "none" for NULL) at off;
                    the file's KEY=VALUE lines, read at once, as a
                    NULL-terminated char ** at off2 */
  CONF_USER      /* char *: NAME or NAME:GROUP (conf_user_ids) */
} conf_type;

/* What a reload does when the key's value changed. */
typedef enum conf_reload {
  CONF_RELOAD_RESTART,   /* the service stops and starts again */
  CONF_RELOAD_AT_ONCE,   /* the daemon applies it at once */
  CONF_RELOAD_NEXT_START /* kept until the daemon starts again; it says so */
} conf_reload;

/* One key. The field is at `off` in a ward_conf ([ward]) or a svc_conf
 * ([service NAME]). */
typedef struct conf_key {
  const char *name;
  conf_section section;
  conf_type type;
  conf_reload reload;
  size_t off, off2;
  size_t line_off;  /* an int that keeps the line of the key, for errors
                       found once the file is read; 0 (the offset of a
                       name, never an int) for none */
  int required;     /* a service without it is refused */
  long long lo, hi; /* CONF_INT: lo..hi; CONF_DURATION, CONF_SIZE: >= lo */
  const char *def;  /* the default, as the file would say it, or NULL */
  /* A default that depends on the machine (the user, the environment), or
   * NULL; docs show `def_note` for it. */
  const char *(*def_fn)(char *buf, size_t cap);
  const char *def_note; /* docs: after the default, or in its place */
  const char *what;     /* refusals say "KEY: 'VALUE' is not WHAT" (NULL
                           for CONF_INT: "a number LO..HI") */
  const char *doc;      /* the meaning, as docs/cli.md's table shows it */
} conf_key;

extern const conf_key conf_keys[];
extern const size_t conf_nkeys;

/* Whether `k` has the same value in `a` and `b` (both ward_conf or both
 * svc_conf, as its section says). */
int conf_key_same(const conf_key *k, const void *a, const void *b);
/* Copies the value of `k` from `src` to `dst`, whose own value must hold
 * nothing (zeroed, or cleared). 0, or -1 without memory. */
int conf_key_copy(const conf_key *k, void *dst, const void *src);
/* Frees what the value of `k` in `base` holds, and zeroes it. */
void conf_key_clear(const conf_key *k, void *base);
/* The value of `k` in `base` as text into `buf`. `human`: as a file would
 * say it ("10s", "10M"); else with exact units, for logs ("10000ms",
 * "10485760"). */
const char *conf_key_text(const conf_key *k, const void *base, int human, char *buf,
                          size_t cap);
/* `ward run --keys`: one line per key, tab-separated: section ("ward" or
 * "service"), key, what a reload does with a change ("restart", "at-once",
 * "next-start"), then its default and its meaning as docs/cli.md's tables
 * show them. 0, or -1 (with a message on stderr) if a default does not
 * read. */
int conf_keys_print(FILE *f);

/* Reads and checks `path`. On error returns -1 with every error of the
 * file in `err`, in the order of its lines, one per line: "FILE:LINE:
 * reason" (or "FILE: reason"); what does not fit in `errcap` is counted
 * on a last line ("FILE: and N more errors"). Nothing is kept. */
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
/* Whether `name` is a valid service (or group) name: [A-Za-z0-9_-],
 * 1..64, and not "all" (ward ctl's name for every service). */
int svc_name_ok(const char *name);

/* What `ward run --check` looks at on this machine, besides the file:
 * that each service's program can be run (conf_runnable), that its cwd is
 * a directory, and that its user and group exist and this process may
 * switch to them (conf_user_ids). 0, or -1 with every error in `err`, as
 * conf_load gives them. */
int conf_check_host(const ward_conf *c, char *err, size_t errcap);
/* Whether the service's program can be run: a path (from its cwd), or a
 * name found in PATH. 1, or 0 with "cannot run PROG: reason" in `err`. */
int conf_runnable(const svc_conf *s, char *err, size_t cap);
/* The user a service runs as (`user = NAME[:GROUP]`, names or numbers):
 * 1 with its ids when it is to switch; 0 when it runs as the daemon does
 * (no `user`, or this process's own user and group); -1 with the reason
 * in `err` (no such user or group; or this process is not root and the
 * user is another). */
int conf_user_ids(const svc_conf *s, unsigned *uid, unsigned *gid, char *err, size_t cap);
/* The number of entries of a NULL-terminated list (file_env). */
size_t conf_strv_len(char *const *v);
/* Appends a copy of `s` to the NULL-terminated list `*v` of `*n` entries:
 * 0, or -1 without memory. */
int conf_strv_push(char ***v, size_t *n, const char *s);

/* The group named `name` in `c`, or NULL. */
const grp_conf *conf_group(const ward_conf *c, const char *name);
/* Whether two groups have the same name and keys. */
int grp_conf_same(const grp_conf *a, const grp_conf *b);

/* Parsers shared with the command line. Each returns 0, or -1. */
int conf_duration(const char *s, int *ms); /* "10s", "1.5s", "250ms", "2m", "1h"; bare: s */
int conf_size(const char *s, uint64_t *bytes);         /* "512K", "64M", "1G"; bare: bytes */
/* Every name the system knows, with or without SIG, in any case ("TERM",
 * "SIGTERM", "sigterm"), "RTMIN+N" and "RTMAX-N", or a number ("15"). */
int conf_signal(const char *s, int *sig);
const char *conf_signal_name(int sig); /* "TERM", "RTMIN+3" (or "15") */
int conf_restart(const char *s, int *mode);            /* always | on-failure | never */
const char *conf_restart_name(int mode);
int conf_strategy(const char *s, int *strategy); /* one-for-one | one-for-all | rest-for-one */
/* "handshake", "up DURATION", "notify FD". */
int conf_ready(const char *s, int *mode, int *arg);
/* The address of `[ward] http`: "PORT" (127.0.0.1:PORT), "IPV4:PORT",
 * "localhost:PORT" or "[IPV6]:PORT", numeric (no name is resolved), port
 * 0..65535 (0: any free one). Fills `addr` and `len` when not NULL. */
int conf_http_address(const char *s, struct sockaddr_storage *addr, socklen_t *len);

/* The default control socket: /run/ward.sock for root, else
 * $XDG_RUNTIME_DIR/ward.sock, else /tmp/ward-UID.sock. */
const char *conf_default_socket(char *buf, size_t cap);

/* The default log directory: /var/log/ward for root, else
 * $XDG_STATE_HOME/ward, else ~/.local/state/ward. */
const char *conf_default_log_dir(char *buf, size_t cap);

#endif
