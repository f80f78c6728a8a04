/*
 * config.c — reading and checking the INI file of `ward run`.
 *
 * inih does the parsing; a line-counting reader gives every key its line
 * number, notes section headers (inih reports none of its own, and a
 * section without keys must still be checked), finds every syntax error
 * (inih tells the first alone), and reads each value itself, so that a
 * ';' or '#' inside quotes stays in it (inih's inline comments ignore
 * quotes). Every error is kept, and all are reported, by line, as
 * "FILE:LINE: reason", one per line.
 *
 * A command is split once its section is read: its $VAR may be an env or
 * env_file variable given after it.
 *
 * Checking is linear in the size of the file: services and sections are
 * found by name in hash tables (glibc's hsearch_r), never by walking every
 * one seen so far, since a file may hold tens of thousands of them.
 *
 * The keys are rows of one table, conf_keys: a key is read, given its
 * default, compared, copied and freed by its type, at the offset of its
 * field, so that a new key is one row (and its field), and docs/cli.md,
 * checked against `ward run --keys`, cannot miss it. A default is written
 * as the file would say it, and read by the same code as the file.
 */
#define _GNU_SOURCE

#include "config.h"
#include "confenv.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wordexp.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ini.h>
#include <ward.h>

#if defined(__GNUC__)
#define CONF_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CONF_PRINTF(f, a)
#endif

/* ------------------------------------------------------------------ */
/* Values                                                              */

static int parse_u64(const char *s, uint64_t *v, const char **rest) {
  if (!isdigit((unsigned char)*s))
    return -1;
  errno = 0;
  char *end;
  unsigned long long x = strtoull(s, &end, 10);
  if (errno)
    return -1;
  *v = x;
  *rest = end;
  return 0;
}

/* A whole decimal number in lo..hi. */
static int int_in(const char *value, int lo, int hi, int *out) {
  uint64_t v;
  const char *rest;
  if (parse_u64(value, &v, &rest) || *rest || v < (uint64_t)lo || v > (uint64_t)hi)
    return -1;
  *out = (int)v;
  return 0;
}

/* A decimal number with an optional fraction ("1.5"), exactly: *whole
 * and *frac / *scale, with what follows in *rest. The fraction keeps nine
 * digits at most (more must be zeros): durations count milliseconds. */
static int parse_decimal(const char *s, uint64_t *whole, uint64_t *frac, uint64_t *scale,
                         const char **rest) {
  if (parse_u64(s, whole, rest))
    return -1;
  *frac = 0;
  *scale = 1;
  if (**rest != '.')
    return 0;
  const char *p = *rest + 1;
  if (!isdigit((unsigned char)*p))
    return -1;
  for (; isdigit((unsigned char)*p); p++) {
    if (*scale < 1000000000u) {
      *frac = *frac * 10 + (uint64_t)(*p - '0');
      *scale *= 10;
    } else if (*p != '0') {
      return -1;
    }
  }
  *rest = p;
  return 0;
}

/* A number, with a fraction or not, and a unit: a whole number of
 * milliseconds ("1.5s" is 1500; "0.5ms" is refused). */
int conf_duration(const char *s, int *ms) {
  uint64_t v, frac, scale;
  const char *u;
  if (!s || parse_decimal(s, &v, &frac, &scale, &u))
    return -1;
  uint64_t mult;
  if (!*u || strcmp(u, "s") == 0)
    mult = 1000;
  else if (strcmp(u, "ms") == 0)
    mult = 1;
  else if (strcmp(u, "m") == 0 || strcmp(u, "min") == 0)
    mult = 60000;
  else if (strcmp(u, "h") == 0)
    mult = 3600000;
  else
    return -1;
  /* frac < 10^9 and mult <= 3.6 * 10^6: the products fit. */
  if (v > (uint64_t)INT32_MAX || (frac * mult) % scale)
    return -1;
  uint64_t total = v * mult + frac * mult / scale;
  if (total > (uint64_t)INT32_MAX)
    return -1;
  *ms = (int)total;
  return 0;
}

int conf_size(const char *s, uint64_t *bytes) {
  uint64_t v;
  const char *u;
  if (!s || parse_u64(s, &v, &u))
    return -1;
  int shift;
  if (!*u || strcmp(u, "B") == 0)
    shift = 0;
  else if (strcmp(u, "K") == 0 || strcmp(u, "KiB") == 0)
    shift = 10;
  else if (strcmp(u, "M") == 0 || strcmp(u, "MiB") == 0)
    shift = 20;
  else if (strcmp(u, "G") == 0 || strcmp(u, "GiB") == 0)
    shift = 30;
  else
    return -1;
  if (v > (UINT64_MAX >> shift))
    return -1;
  *bytes = v << shift;
  return 0;
}

/* Signal names: every one the C library knows (sigabbrev_np, glibc 2.32
 * on), the real-time ones as RTMIN+N and RTMAX-N, and the old aliases. */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
#define HAVE_SIGABBREV 1
#else
#define HAVE_SIGABBREV 0
static const struct {
  const char *name;
  int sig;
} signals[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},
               {"TRAP", SIGTRAP}, {"ABRT", SIGABRT}, {"BUS", SIGBUS},   {"FPE", SIGFPE},
               {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
               {"PIPE", SIGPIPE}, {"ALRM", SIGALRM}, {"TERM", SIGTERM}, {"CHLD", SIGCHLD},
               {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},
               {"TTOU", SIGTTOU}, {"URG", SIGURG},   {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
               {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
               {"SYS", SIGSYS}};
#endif

static const char *sig_abbrev(int sig) {
#if HAVE_SIGABBREV
  return sigabbrev_np(sig);
#else
  for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
    if (signals[i].sig == sig)
      return signals[i].name;
  return NULL;
#endif
}

/* "RTMIN", "RTMIN+N", "RTMAX", "RTMAX-N" (within the real-time range). */
static int rt_signal(const char *s, int *sig) {
#ifdef SIGRTMIN
  int base, dir;
  if (strncasecmp(s, "RTMIN", 5) == 0)
    base = SIGRTMIN, dir = 1;
  else if (strncasecmp(s, "RTMAX", 5) == 0)
    base = SIGRTMAX, dir = -1;
  else
    return -1;
  s += 5;
  int n = 0;
  if (*s && (*s != (dir > 0 ? '+' : '-') || int_in(s + 1, 0, SIGRTMAX - SIGRTMIN, &n)))
    return -1;
  *sig = base + dir * n;
  return 0;
#else
  (void)s, (void)sig;
  return -1;
#endif
}

int conf_signal(const char *s, int *sig) {
  if (!s || !*s)
    return -1;
  if (isdigit((unsigned char)*s))
    return int_in(s, 1, NSIG - 1, sig);
  if (strncasecmp(s, "SIG", 3) == 0)
    s += 3;
  static const struct {
    const char *alias, *name;
  } aliases[] = {{"IOT", "ABRT"}, {"CLD", "CHLD"}, {"IO", "POLL"}};
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
    if (strcasecmp(s, aliases[i].alias) == 0)
      s = aliases[i].name;
  for (int k = 1; k < NSIG; k++) {
    const char *name = sig_abbrev(k);
    if (name && strcasecmp(s, name) == 0) {
      *sig = k;
      return 0;
    }
  }
  return rt_signal(s, sig);
}

const char *conf_signal_name(int sig) {
  const char *name = sig_abbrev(sig);
  if (name)
    return name;
  static _Thread_local char num[32];
#ifdef SIGRTMIN
  if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
    int up = sig - SIGRTMIN, down = SIGRTMAX - sig;
    if (up == 0 || down == 0)
      snprintf(num, sizeof num, "%s", up == 0 ? "RTMIN" : "RTMAX");
    else if (up <= down)
      snprintf(num, sizeof num, "RTMIN+%d", up);
    else
      snprintf(num, sizeof num, "RTMAX-%d", down);
    return num;
  }
#endif
  snprintf(num, sizeof num, "%d", sig);
  return num;
}

static const char *const restart_names[] = {"never", "on-failure", "always"};

int conf_restart(const char *s, int *mode) {
  for (int i = 0; i < 3; i++)
    if (s && strcmp(s, restart_names[i]) == 0) {
      *mode = i; /* WARD_RESTART_NEVER, _ON_FAILURE, _ALWAYS */
      return 0;
    }
  return -1;
}

const char *conf_restart_name(int mode) {
  return mode >= 0 && mode < 3 ? restart_names[mode] : "?";
}

int conf_strategy(const char *s, int *strategy) {
  static const int v[] = {WARD_GROUP_ONE_FOR_ONE, WARD_GROUP_ONE_FOR_ALL,
                          WARD_GROUP_REST_FOR_ONE};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    if (s && strcmp(s, ward_group_strategy_name(v[i])) == 0) {
      *strategy = v[i];
      return 0;
    }
  return -1;
}

int conf_ready(const char *s, int *mode, int *arg) {
  if (!s)
    return -1;
  if (strcmp(s, "handshake") == 0) {
    *mode = WARD_READY_HANDSHAKE;
    *arg = 0;
    return 0;
  }
  if (strncmp(s, "up ", 3) == 0) {
    *mode = WARD_READY_AFTER;
    return conf_duration(s + 3 + strspn(s + 3, " "), arg);
  }
  if (strncmp(s, "notify ", 7) == 0) {
    *mode = WARD_READY_NOTIFY;
    return int_in(s + 7 + strspn(s + 7, " "), 3, 1023, arg);
  }
  return -1;
}

/* A port, 0..65535, alone. */
static int port_of(const char *s, uint16_t *port) {
  int n;
  if (int_in(s, 0, 65535, &n))
    return -1;
  *port = (uint16_t)n;
  return 0;
}

int conf_http_address(const char *s, struct sockaddr_storage *addr, socklen_t *len) {
  struct sockaddr_storage a;
  memset(&a, 0, sizeof a);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&a;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a;
  uint16_t port;
  socklen_t n;
  const char *colon = s ? strrchr(s, ':') : NULL;
  char host[64];
  if (s && !colon) {
    /* A port alone: loopback. */
    if (port_of(s, &port))
      return -1;
    v4->sin_family = AF_INET;
    v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    v4->sin_port = htons(port);
    n = sizeof *v4;
  } else if (s && s[0] == '[') {
    /* [IPV6]:PORT */
    size_t hl = (size_t)(colon - s);
    if (hl < 3 || s[hl - 1] != ']' || hl - 2 >= sizeof host || port_of(colon + 1, &port))
      return -1;
    memcpy(host, s + 1, hl - 2);
    host[hl - 2] = 0;
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) != 1)
      return -1;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    n = sizeof *v6;
  } else if (s) {
    /* IPV4:PORT, or localhost:PORT; no other name, which would need a
     * resolver at every start. */
    size_t hl = (size_t)(colon - s);
    if (hl == 0 || hl >= sizeof host || port_of(colon + 1, &port))
      return -1;
    memcpy(host, s, hl);
    host[hl] = 0;
    if (strcmp(host, "localhost") == 0)
      snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &v4->sin_addr) != 1)
      return -1;
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    n = sizeof *v4;
  } else {
    return -1;
  }
  if (addr)
    *addr = a;
  if (len)
    *len = n;
  return 0;
}

int svc_name_ok(const char *name) {
  size_t n = name ? strlen(name) : 0;
  /* "all" is `ward ctl`'s word for every service. */
  if (n < 1 || n > 64 || strcmp(name, "all") == 0)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-')
      return 0;
  return 1;
}

const char *conf_default_socket(char *buf, size_t cap) {
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  if (geteuid() == 0)
    snprintf(buf, cap, "/run/ward.sock");
  else if (xdg && *xdg)
    snprintf(buf, cap, "%s/ward.sock", xdg);
  else
    snprintf(buf, cap, "/tmp/ward-%d.sock", (int)geteuid());
  return buf;
}

const char *conf_default_log_dir(char *buf, size_t cap) {
  const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
  if (geteuid() == 0)
    snprintf(buf, cap, "/var/log/ward");
  else if (state && *state == '/')
    snprintf(buf, cap, "%s/ward", state);
  else if (home && *home == '/')
    snprintf(buf, cap, "%s/.local/state/ward", home);
  else
    snprintf(buf, cap, "/tmp/ward-%d-log", (int)geteuid());
  return buf;
}

/* ------------------------------------------------------------------ */
/* Lists of strings                                                    */

static void strv_free(char **v, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

int conf_strv_push(char ***v, size_t *n, const char *s) {
  char **nv = realloc(*v, (*n + 2) * sizeof *nv);
  if (!nv)
    return -1;
  *v = nv;
  if (!(nv[*n] = strdup(s)))
    return -1;
  nv[++*n] = NULL;
  return 0;
}

static int strv_copy(char ***dst, size_t *nd, char *const *src, size_t ns) {
  *dst = NULL;
  *nd = 0;
  for (size_t i = 0; i < ns; i++)
    if (conf_strv_push(dst, nd, src[i]))
      return -1;
  return 0;
}

static int strv_same(char *const *a, size_t na, char *const *b, size_t nb) {
  if (na != nb)
    return 0;
  for (size_t i = 0; i < na; i++)
    if (strcmp(a[i], b[i]) != 0)
      return 0;
  return 1;
}

/* Splits `value` as a shell would, without running anything, onto the end
 * of `v`. 0, or -1 with the reason in `why`. */
static int split_words(const char *value, char ***v, size_t *n, char *why, size_t cap) {
  wordexp_t we;
  int rv = wordexp(value, &we, WRDE_NOCMD | WRDE_UNDEF);
  if (rv) {
    const char *reason = rv == WRDE_BADCHAR ? "a character a shell would treat specially "
                                              "(|&;<>(){} or newline): quote it"
                         : rv == WRDE_BADVAL ? "an undefined environment variable"
                         : rv == WRDE_CMDSUB ? "command substitution, which ward does not run"
                         : rv == WRDE_SYNTAX ? "unbalanced quotes"
                                             : "out of memory";
    if (rv != WRDE_NOSPACE)
      snprintf(why, cap, "cannot split '%s': %s", value, reason);
    else
      snprintf(why, cap, "out of memory");
    return -1;
  }
  int bad = 0;
  for (size_t i = 0; i < we.we_wordc && !bad; i++)
    bad = conf_strv_push(v, n, we.we_wordv[i]);
  wordfree(&we);
  if (bad)
    snprintf(why, cap, "out of memory");
  return bad ? -1 : 0;
}

size_t conf_strv_len(char *const *v) {
  size_t n = 0;
  while (v && v[n])
    n++;
  return n;
}

/* "NAME" or "NAME:GROUP": no blanks, neither part empty. */
static int user_syntax_ok(const char *v) {
  size_t a = strcspn(v, ":");
  if (a == 0 || strpbrk(v, " \t"))
    return 0;
  return !v[a] || (v[a + 1] && !strchr(v + a + 1, ':'));
}

/* ------------------------------------------------------------------ */
/* The keys                                                            */

/* The offset of field `f` of struct `S`, which must be of type `T`: a row
 * of the table that names a field of another type does not compile. */
#define FIELD(S, f, T) (offsetof(S, f) + 0 * sizeof(_Generic(((S *)0)->f, T: 1)))
#define W(f, T) FIELD(ward_conf, f, T)
#define S(f, T) FIELD(svc_conf, f, T)
#define G(f, T) FIELD(grp_conf, f, T)
#define AT(base, off, T) ((T *)(void *)((char *)(base) + (off)))
#define CAT(base, off, T) ((T const *)(const void *)((const char *)(base) + (off)))
#define STR(x) #x
#define XSTR(x) STR(x)

/* The order is docs/cli.md's. The defaults of max_connections and
 * handshake_timeout are libward's, and heartbeats replace a worker after
 * the library's default number of misses (daemon.c passes it on). */
const conf_key conf_keys[] = {
    /* [ward] */
    {.name = "socket",
     .section = CONF_WARD,
     .type = CONF_STRING,
     .reload = CONF_RELOAD_NEXT_START,
     .off = W(socket, char *),
     .def_fn = conf_default_socket,
     .def_note = "`/run/ward.sock` for root, else `$XDG_RUNTIME_DIR/ward.sock`, else "
                 "`/tmp/ward-UID.sock`",
     .doc = "the control socket (created 0600: the daemon's user and root only). A socket "
            "left by a daemon that died is replaced; one a live daemon answers on is refused "
            "(exit 1)."},
    {.name = "log_dir",
     .section = CONF_WARD,
     .type = CONF_PATH,
     .reload = CONF_RELOAD_AT_ONCE,
     .off = W(log_dir, char *),
     .def_fn = conf_default_log_dir,
     .def_note = "`/var/log/ward` for root, else `$XDG_STATE_HOME/ward`, else "
                 "`~/.local/state/ward`",
     .what = "an absolute path (or none)",
     .doc = "where the services' log files go (created if missing); an absolute path, or "
            "`none` for no files"},
    {.name = "log_max_size",
     .section = CONF_WARD,
     .type = CONF_SIZE,
     .reload = CONF_RELOAD_AT_ONCE,
     .off = W(log_max_bytes, uint64_t),
     .lo = 1024,
     .def = "10M",
     .what = "a size of 1K or more",
     .doc = "the largest a log file grows before it is rotated (1K or more)"},
    {.name = "log_files",
     .section = CONF_WARD,
     .type = CONF_INT,
     .reload = CONF_RELOAD_AT_ONCE,
     .off = W(log_files, int),
     .lo = 0,
     .hi = 100,
     .def = "5",
     .doc = "rotated files kept besides the current one (0..100)"},
    {.name = "log_mode",
     .section = CONF_WARD,
     .type = CONF_MODE,
     .reload = CONF_RELOAD_AT_ONCE,
     .off = W(log_mode, int),
     .def = "0640",
     .what = "file permissions in octal (e.g. 0640)",
     .doc = "the permissions a new log file is created with (then the daemon's umask), in "
            "octal"},
    {.name = "max_connections",
     .section = CONF_WARD,
     .type = CONF_INT,
     .reload = CONF_RELOAD_NEXT_START,
     .off = W(max_conns, int),
     .lo = 1,
     .hi = CONF_MAX_CONNS,
     .def = XSTR(WARD_SERVER_MAX_CONNS_DEFAULT),
     .doc = "control connections held at once (1.." XSTR(CONF_MAX_CONNS) "), all served "
            "by the daemon's one thread. A connection past it takes the place of one that is not "
            "in a call: the oldest still in its handshake, else the one idle the longest "
            "(`ward ctl logs -f` opens its connection again). When every connection is in a "
            "call, the newcomer is refused (`ward ctl` exits 1: `server busy`). Each is "
            "logged (`control-dropped`, `control-refused`)."},
    {.name = "handshake_timeout",
     .section = CONF_WARD,
     .type = CONF_DURATION,
     .reload = CONF_RELOAD_NEXT_START,
     .off = W(handshake_ms, int),
     .lo = 1,
     .def = XSTR(WARD_SERVER_HANDSHAKE_MS_DEFAULT) "ms",
     .what = "a duration of 1ms or more",
     .doc = "how long a control connection has, from its connect, to complete its handshake "
            "(`ward ctl` does it at once); one that has not is closed and logged"},
    {.name = "http",
     .section = CONF_WARD,
     .type = CONF_ADDRESS,
     .reload = CONF_RELOAD_AT_ONCE,
     .off = W(http, char *),
     .def = "none",
     .def_note = "(off)",
     .what = "an address (PORT, IPV4:PORT, localhost:PORT or [IPV6]:PORT) or none",
     .doc = "serve `/healthz`, `/readyz`, `/status`, `/metrics` and `/logs` over HTTP at this "
            "address "
            "(below): a port alone is `127.0.0.1:PORT`, loopback; any other interface must be "
            "written out (`0.0.0.0:9180`, `[::]:9180`). Port 0 takes a free one; the address "
            "bound is logged (`http-listening`) and in `status`"},

    {.name = "cgroups",
     .section = CONF_WARD,
     .type = CONF_BOOL,
     .reload = CONF_RELOAD_NEXT_START,
     .off = W(cgroups, int),
     .def = "yes",
     .what = "yes or no",
     .doc = "each service process in a cgroup of its own where one can be had (docs/api.md "
            "4.9: under `cgroup`), so that a stop, a crash or the daemon's death ends all it "
            "started, and `ward ctl pause` freezes all of it; `no`: process groups alone "
            "(what is used where no cgroup can be had; `status` says which, in `tree`)"},
    {.name = "cgroup",
     .section = CONF_WARD,
     .type = CONF_PATH,
     .reload = CONF_RELOAD_NEXT_START,
     .off = W(cgroup, char *),
     .def = "none",
     .def_note = "(the daemon's own cgroup)",
     .what = "an absolute path (or none)",
     .doc = "the cgroup v2 directory under which the services' cgroups go: an absolute "
            "path, in the cgroup file system or relative to its mount; `none`: the daemon's "
            "own cgroup, where it may create cgroups (delegated, as systemd's "
            "`Delegate=yes` does, or as root). Where neither can be used, process groups"},

    /* [service NAME] */
    {.name = "command",
     .section = CONF_SERVICE,
     .type = CONF_COMMAND,
     .off = S(argv, char **),
     .off2 = S(argc, size_t),
     .line_off = S(cmd_line, int),
     .required = 1,
     .doc = "the program and its arguments, split as a shell would (quotes, backslashes, "
            "globs) but without running anything: `$(...)`, backquotes, and unquoted "
            "`| & ; < > ( ) { }` are refused. `$VAR` and `${VAR}` are the variable's value "
            "from the service's `env`, else its `env_file`, else the daemon's environment "
            "(one that is none of them is refused, named); `$$` is a `$`; inside single "
            "quotes nothing is replaced. A bare program name is looked up in `PATH`."},
    {.name = "env",
     .section = CONF_SERVICE,
     .type = CONF_ENV,
     .off = S(env, char **),
     .off2 = S(nenv, size_t),
     .what = "KEY=VALUE",
     .doc = "`KEY=VALUE`, one per line, repeated for more; added to the daemon's environment "
            "(over `env_file`'s). A VALUE wholly in single or double quotes loses them"},
    {.name = "env_file",
     .section = CONF_SERVICE,
     .type = CONF_ENV_FILE,
     .off = S(env_file, char *),
     .off2 = S(file_env, char **),
     .def_note = "none",
     .what = "an absolute path (or none)",
     .doc = "a file of `KEY=VALUE` lines (blank lines and `#` comments skipped, a VALUE "
            "wholly in quotes loses them), read with the configuration: its variables are "
            "added to the daemon's environment, under `env`'s. A file that cannot be read, or "
            "a line that is not `KEY=VALUE`, refuses the configuration, naming the file"},
    {.name = "cwd",
     .section = CONF_SERVICE,
     .type = CONF_STRING,
     .off = S(cwd, char *),
     .line_off = S(cwd_line, int),
     .def_note = "the daemon's",
     .doc = "the working directory. A start that cannot enter it fails, and says so "
            "(`spawn-failed`)"},
    {.name = "user",
     .section = CONF_SERVICE,
     .type = CONF_USER,
     .off = S(user, char *),
     .line_off = S(user_line, int),
     .def_note = "the daemon's",
     .what = "NAME or NAME:GROUP",
     .doc = "the user the service runs as, `NAME` or `NAME:GROUP` (names or numbers, as "
            "chown takes them): its group is GROUP, else the user's own, and its "
            "supplementary groups the user's (as initgroups gives them). Switching needs "
            "`ward run` to run as root; a user or group that does not exist, or a daemon "
            "that is not root asked for another user, fails the start and `--check`"},
    {.name = "umask",
     .section = CONF_SERVICE,
     .type = CONF_MODE,
     .off = S(umask, int),
     .def_note = "the daemon's",
     .what = "a umask in octal (e.g. 0027)",
     .doc = "the file-mode creation mask the service starts with, in octal"},
    {.name = "class",
     .section = CONF_SERVICE,
     .type = CONF_CLASS,
     .off = S(proc_class, int),
     .def = "worker",
     .what = "ui, worker, media or extension",
     .doc = "the process class (docs/api.md 4.12): `ui`, `worker`, `media` or `extension`. "
            "A class other than `worker` brings its defaults (restart, intensity, backoff, "
            "stop, heartbeat, memory limits, nice value and I/O priority, and for "
            "`extension` the sandbox, best effort) for every key the section leaves out; "
            "the keys it sets win. `worker` takes the defaults of this table. A service "
            "starts with the daemon whatever its class"},
    {.name = "restart",
     .section = CONF_SERVICE,
     .type = CONF_RESTART,
     .off = S(restart, int),
     .def = "always",
     .what = "always, on-failure or never",
     .doc = "`always`, `on-failure` (not after exit 0) or `never`"},
    {.name = "max_restarts",
     .section = CONF_SERVICE,
     .type = CONF_INT,
     .off = S(max_restarts, int),
     .lo = 0,
     .hi = 256,
     .def = "5",
     .doc = "restarts after failures within `restart_window`; past it the service is given "
            "up (state `failed`) until `ward ctl start`"},
    {.name = "restart_window",
     .section = CONF_SERVICE,
     .type = CONF_DURATION,
     .off = S(restart_window_ms, int),
     .lo = 1,
     .def = "60s",
     .what = "a duration (e.g. 60s)",
     .doc = "the window of `max_restarts`; a process up this long also resets the backoff"},
    {.name = "backoff",
     .section = CONF_SERVICE,
     .type = CONF_DURATION,
     .off = S(backoff_ms, int),
     .def = "1s",
     .what = "a duration (e.g. 1s, 500ms)",
     .doc = "the delay before the first restart after a failure, doubling per failure ..."},
    {.name = "backoff_max",
     .section = CONF_SERVICE,
     .type = CONF_DURATION,
     .off = S(backoff_max_ms, int),
     .def = "30s",
     .what = "a duration (e.g. 30s)",
     .doc = "... up to this"},
    {.name = "stop_signal",
     .section = CONF_SERVICE,
     .type = CONF_SIGNAL,
     .off = S(stop_signal, int),
     .def = "TERM",
     .what = "a signal (TERM or SIGTERM, INT, HUP, USR1, RTMIN+2, ... or a number)",
     .doc = "the signal that asks it to stop: any name the system knows, with or without "
            "`SIG` (`TERM`, `SIGINT`, `HUP`, `QUIT`, `USR1`, `WINCH`...), `RTMIN+N`, "
            "`RTMAX-N`, or a number"},
    {.name = "stop_grace",
     .section = CONF_SERVICE,
     .type = CONF_DURATION,
     .off = S(stop_grace_ms, int),
     .def = "10s",
     .what = "a duration (e.g. 10s)",
     .doc = "how long a stop waits after asking before SIGKILL (a `handshake` service: after "
            "the goodbye before the stop signal, and again before SIGKILL)"},
    {.name = "ready",
     .section = CONF_SERVICE,
     .type = CONF_READY,
     .off = S(ready_mode, int),
     .off2 = S(ready_arg, int),
     .def = "up 1s",
     .what = "handshake, up DURATION or notify FD (3..1023)",
     .doc = "when it counts as started (dependents wait for it, `ward ctl start` returns): "
            "`up DURATION`: it stayed up that long; `notify FD`: it wrote a newline on "
            "descriptor FD (3..1023), which ward opens for it (the s6 convention); "
            "`handshake`: it links libward and completed the handshake"},
    {.name = "startup_timeout",
     .section = CONF_SERVICE,
     .type = CONF_DURATION,
     .off = S(startup_timeout_ms, int),
     .lo = 1,
     .def = "30s",
     .what = "a duration (e.g. 30s)",
     .doc = "`notify` and `handshake`: how long it may take to be ready before it is killed "
            "(and restarted by the policy)"},
    {.name = "heartbeat",
     .section = CONF_SERVICE,
     .type = CONF_DURATION,
     .off = S(heartbeat_ms, int),
     .def = "0",
     .def_note = "(off)",
     .what = "a duration (e.g. 5s; 0 turns it off)",
     .doc = "`handshake` services: ping every DURATION, replace after " XSTR(
         WARD_HEARTBEAT_MISSES_DEFAULT) " missed"},
    {.name = "log_max_size",
     .section = CONF_SERVICE,
     .type = CONF_SIZE,
     .reload = CONF_RELOAD_AT_ONCE,
     .off = S(log_max_bytes, uint64_t),
     .lo = 1024,
     .def_note = "`[ward] log_max_size`",
     .what = "a size of 1K or more",
     .doc = "this service's own `log_max_size`"},
    {.name = "log_files",
     .section = CONF_SERVICE,
     .type = CONF_INT,
     .reload = CONF_RELOAD_AT_ONCE,
     .off = S(log_files, int),
     .lo = 0,
     .hi = 100,
     .def_note = "`[ward] log_files`",
     .doc = "this service's own `log_files` (0..100)"},
    {.name = "memory_limit",
     .section = CONF_SERVICE,
     .type = CONF_SIZE,
     .off = S(memory_limit, uint64_t),
     .def_note = "none",
     .what = "a size (e.g. 512M)",
     .doc = "a resident set over this size kills the process (restarted at once, reason "
            "`memory-limit`)"},
    {.name = "memory_high",
     .section = CONF_SERVICE,
     .type = CONF_SIZE,
     .off = S(memory_high, uint64_t),
     .def_note = "none",
     .what = "a size (e.g. 256M)",
     .doc = "over this size the process is replaced gracefully"},
    {.name = "tree_memory_max",
     .section = CONF_SERVICE,
     .type = CONF_SIZE,
     .off = S(tree_memory_max, uint64_t),
     .def_note = "none",
     .what = "a size (e.g. 1G)",
     .doc = "the memory of the service's whole process tree: its cgroup's `memory.max` (the "
            "kernel kills past it, reason `oom-killed`) where the memory controller is "
            "delegated; elsewhere it falls back to `memory_limit`'s sampling of the process "
            "alone, if that key is not set"},
    {.name = "tree_memory_high",
     .section = CONF_SERVICE,
     .type = CONF_SIZE,
     .off = S(tree_memory_high, uint64_t),
     .def_note = "none",
     .what = "a size (e.g. 768M)",
     .doc = "its cgroup's `memory.high` (the tree is throttled and reclaimed past it) where "
            "the memory controller is delegated; elsewhere it falls back to `memory_high`'s "
            "sampling, if that key is not set"},
    {.name = "pids_max",
     .section = CONF_SERVICE,
     .type = CONF_INT,
     .off = S(pids_max, int),
     .lo = 0,
     .hi = 4194304,
     .def = "0",
     .def_note = "(none)",
     .doc = "the processes and threads its tree may have, its cgroup's `pids.max`, where the "
            "pids controller is delegated (a fork past it fails); not enforced elsewhere"},
    {.name = "cpu_max",
     .section = CONF_SERVICE,
     .type = CONF_INT,
     .off = S(cpu_max, int),
     .lo = 0,
     .hi = 100000,
     .def = "0",
     .def_note = "(none)",
     .doc = "the CPU its tree may use, in percent of one CPU (50: half of one, 200: two), "
            "its cgroup's `cpu.max`, where the cpu controller is delegated; not enforced "
            "elsewhere"},
    {.name = "spares",
     .section = CONF_SERVICE,
     .type = CONF_INT,
     .off = S(spares, int),
     .lo = 0,
     .hi = WARD_MAX_SPARES,
     .def = "0",
     .def_note = "(none)",
     .doc = "processes of each instance kept started and ready, not serving, so that a "
            "crash, restart or recycle is taken over at once instead of waiting for a start "
            "(`ward_spec_spares`, docs/api.md 4.13); each is a process with its own memory"},
    {.name = "instances",
     .section = CONF_SERVICE,
     .type = CONF_INT,
     .off = S(instances, int),
     .lo = 1,
     .hi = 1000,
     .def = "1",
     .doc = "how many copies run (1..1000)"},
    {.name = "depends_on",
     .section = CONF_SERVICE,
     .type = CONF_WORDS,
     .off = S(deps, char **),
     .off2 = S(ndeps, size_t),
     .line_off = S(deps_line, int),
     .doc = "services (space-separated) started, and ready, before this one, and stopped "
            "after it"},
    {.name = "autostart",
     .section = CONF_SERVICE,
     .type = CONF_BOOL,
     .reload = CONF_RELOAD_AT_ONCE,
     .off = S(autostart, int),
     .def = "yes",
     .what = "yes or no",
     .doc = "`no`: the service is defined but not started with the daemon, nor by a reload "
            "that adds it; `ward ctl start` starts it (status: `not-started`, which is as "
            "meant)"},
    {.name = "control",
     .section = CONF_SERVICE,
     .type = CONF_BOOL,
     .off = S(control, int),
     .def = "no",
     .what = "yes or no",
     .doc = "`yes`: this service (a `handshake` one) may make control requests over its own "
            "channel (below)"},
    {.name = "reload",
     .section = CONF_SERVICE,
     .type = CONF_ON_RELOAD,
     .reload = CONF_RELOAD_AT_ONCE,
     .off = S(reload_replace, int),
     .def = "restart",
     .what = "restart or replace",
     .doc = "what a reload that changes the service does: `restart`, stop it and start it "
            "again; `replace`, for a service in no group that keeps its `instances`, "
            "replace each running instance in turn as `ward ctl replace` does, so that it "
            "keeps serving (one stopped on request stays stopped)"},
    {.name = "group",
     .section = CONF_SERVICE,
     .type = CONF_STRING,
     .off = S(group, char *),
     .line_off = S(group_line, int),
     .def_note = "none",
     .doc = "the supervision group (a `[group NAME]` section) the service belongs to; not "
            "the Unix group it runs in, which `user = NAME:GROUP` gives"},
    /* [group NAME] */
    {.name = "strategy",
     .section = CONF_GROUP,
     .type = CONF_STRATEGY,
     .off = G(strategy, int),
     .def = "one-for-one",
     .what = "one-for-one, one-for-all or rest-for-one",
     .doc = "what a member's failure restarts: `one-for-one` that member, `one-for-all` every "
            "member, `rest-for-one` that member and those after it in the file"},
    {.name = "max_restarts",
     .section = CONF_GROUP,
     .type = CONF_INT,
     .off = G(max_restarts, int),
     .lo = 0,
     .hi = 256,
     .def = "5",
     .doc = "restarts of members within `restart_window`, counted for the group; past it "
            "every member is given up (state `failed`)"},
    {.name = "restart_window",
     .section = CONF_GROUP,
     .type = CONF_DURATION,
     .off = G(restart_window_ms, int),
     .lo = 1,
     .def = "60s",
     .what = "a duration (e.g. 60s)",
     .doc = "the window of the group's `max_restarts`"},
};
const size_t conf_nkeys = sizeof conf_keys / sizeof conf_keys[0];
/* svc_conf.given has a bit for each key. */
_Static_assert(sizeof conf_keys / sizeof conf_keys[0] <= 64, "svc_conf.given is 64 bits");

static const conf_key *key_find(conf_section section, const char *name) {
  for (size_t i = 0; i < conf_nkeys; i++)
    if (conf_keys[i].section == section && strcmp(conf_keys[i].name, name) == 0)
      return &conf_keys[i];
  return NULL;
}

int conf_given(const svc_conf *s, const char *name) {
  const conf_key *k = key_find(CONF_SERVICE, name);
  return k && (s->given >> (k - conf_keys) & 1);
}

/* Reads `value` into the field of `k` in `base`, which keeps its value
 * when `value` is refused. 0; or -1 with the reason in `why`, or with
 * why[0] == 0 when `value` is not what the key takes (see refusal). */
static int key_set(const conf_key *k, void *base, const char *value, char *why, size_t cap) {
  why[0] = 0;
  int n, m;
  uint64_t u;
  switch (k->type) {
  case CONF_STRING:
  case CONF_USER:
  case CONF_PATH:
  case CONF_ADDRESS: {
    int none = k->type != CONF_STRING && k->type != CONF_USER && strcmp(value, "none") == 0;
    if (k->type == CONF_PATH && !none && value[0] != '/')
      return -1;
    if (k->type == CONF_ADDRESS && !none && conf_http_address(value, NULL, NULL))
      return -1;
    if (k->type == CONF_USER && !user_syntax_ok(value))
      return -1;
    char *v = none ? NULL : strdup(value);
    if (!none && !v)
      break;
    free(*AT(base, k->off, char *));
    *AT(base, k->off, char *) = v;
    return 0;
  }
  case CONF_INT:
    return int_in(value, (int)k->lo, (int)k->hi, AT(base, k->off, int));
  case CONF_MODE: {
    char *end;
    long mode = strtol(value, &end, 8);
    if (value[0] < '0' || value[0] > '7' || *end || mode < 0 || mode > 0777)
      return -1;
    *AT(base, k->off, int) = (int)mode;
    return 0;
  }
  case CONF_BOOL:
    if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
      *AT(base, k->off, int) = 1;
    else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0)
      *AT(base, k->off, int) = 0;
    else
      return -1;
    return 0;
  case CONF_DURATION:
    if (conf_duration(value, &n) || n < k->lo)
      return -1;
    *AT(base, k->off, int) = n;
    return 0;
  case CONF_SIZE:
    if (conf_size(value, &u) || u < (uint64_t)k->lo)
      return -1;
    *AT(base, k->off, uint64_t) = u;
    return 0;
  case CONF_SIGNAL:
    return conf_signal(value, AT(base, k->off, int));
  case CONF_RESTART:
    return conf_restart(value, AT(base, k->off, int));
  case CONF_STRATEGY:
    return conf_strategy(value, AT(base, k->off, int));
  case CONF_ON_RELOAD:
    if (strcmp(value, "replace") != 0 && strcmp(value, "restart") != 0)
      return -1;
    *AT(base, k->off, int) = value[2] == 'p'; /* rePlace */
    return 0;
  case CONF_CLASS:
    if ((n = ward_class_from_name(value)) < 0)
      return -1;
    *AT(base, k->off, int) = n;
    return 0;
  case CONF_READY:
    if (conf_ready(value, &n, &m))
      return -1;
    *AT(base, k->off, int) = n;
    *AT(base, k->off2, int) = m;
    return 0;
  case CONF_WORDS:
    return split_words(value, AT(base, k->off, char **), AT(base, k->off2, size_t), why, cap);
  case CONF_COMMAND:
    /* Kept as written, a line at a time, until the section is read. */
    if (!conf_strv_push(AT(base, k->off, char **), AT(base, k->off2, size_t), value))
      return 0;
    break;
  case CONF_ENV: {
    char *e, reason[128];
    if (conf_env_entry(value, &e, reason, sizeof reason)) {
      if (reason[0])
        snprintf(why, cap, "%s: %s", k->name, reason);
      return -1;
    }
    int bad = conf_strv_push(AT(base, k->off, char **), AT(base, k->off2, size_t), e);
    free(e);
    if (!bad)
      return 0;
    break;
  }
  case CONF_ENV_FILE: {
    int none = strcmp(value, "none") == 0;
    if (!none && value[0] != '/')
      return -1;
    char *path = none ? NULL : strdup(value), **vars = NULL;
    if (!none && (!path || conf_env_file_read(path, &vars, why, cap))) {
      free(path);
      strv_free(vars, conf_strv_len(vars));
      return -1;
    }
    conf_key_clear(k, base);
    *AT(base, k->off, char *) = path;
    *AT(base, k->off2, char **) = vars;
    return 0;
  }
  }
  snprintf(why, cap, "out of memory");
  return -1;
}

/* "KEY: 'VALUE' is not WHAT", for a value key_set refused without saying. */
static void refusal(const conf_key *k, const char *value, char *why, size_t cap) {
  if (k->what)
    snprintf(why, cap, "%s: '%s' is not %s", k->name, value, k->what);
  else
    snprintf(why, cap, "%s: '%s' is not a number %lld..%lld", k->name, value, k->lo, k->hi);
}

/* Gives each key of `section` its default in `base`. 0, or -1 with the
 * reason in `why` (out of memory; or a default of the table that does not
 * read, which `ward run --keys`, and so make check, shows). */
static int set_defaults(conf_section section, void *base, char *why, size_t cap) {
  for (size_t i = 0; i < conf_nkeys; i++) {
    const conf_key *k = &conf_keys[i];
    if (k->section != section)
      continue;
    char buf[512];
    const char *v = k->def_fn ? k->def_fn(buf, sizeof buf) : k->def;
    if (!v)
      continue;
    if (key_set(k, base, v, why, cap)) {
      if (!why[0])
        refusal(k, v, why, cap);
      return -1;
    }
  }
  return 0;
}

/* Whether the key has no value in `base` (for required keys). */
static int key_empty(const conf_key *k, const void *base) {
  switch (k->type) {
  case CONF_STRING:
  case CONF_USER:
  case CONF_PATH:
  case CONF_ADDRESS:
  case CONF_ENV_FILE:
    return *CAT(base, k->off, char *) == NULL;
  case CONF_WORDS:
  case CONF_COMMAND:
  case CONF_ENV:
    return *CAT(base, k->off2, size_t) == 0;
  default:
    return 0;
  }
}

int conf_key_same(const conf_key *k, const void *a, const void *b) {
  switch (k->type) {
  case CONF_STRING:
  case CONF_USER:
  case CONF_PATH:
  case CONF_ADDRESS:
  case CONF_ENV_FILE: {
    const char *x = *CAT(a, k->off, char *), *y = *CAT(b, k->off, char *);
    if (!(x && y ? strcmp(x, y) == 0 : x == y))
      return 0;
    if (k->type != CONF_ENV_FILE)
      return 1;
    /* The same file, holding the same now. */
    char *const *u = *CAT(a, k->off2, char **), *const *w = *CAT(b, k->off2, char **);
    return strv_same(u, conf_strv_len(u), w, conf_strv_len(w));
  }
  case CONF_SIZE:
    return *CAT(a, k->off, uint64_t) == *CAT(b, k->off, uint64_t);
  case CONF_READY:
    return *CAT(a, k->off, int) == *CAT(b, k->off, int) &&
           *CAT(a, k->off2, int) == *CAT(b, k->off2, int);
  case CONF_WORDS:
  case CONF_COMMAND:
  case CONF_ENV:
    return strv_same(*CAT(a, k->off, char **), *CAT(a, k->off2, size_t),
                     *CAT(b, k->off, char **), *CAT(b, k->off2, size_t));
  default:
    return *CAT(a, k->off, int) == *CAT(b, k->off, int);
  }
}

/* The value in `dst` is overwritten, never freed: on failure what it holds
 * is its own, for conf_key_clear. */
int conf_key_copy(const conf_key *k, void *dst, const void *src) {
  switch (k->type) {
  case CONF_STRING:
  case CONF_USER:
  case CONF_PATH:
  case CONF_ADDRESS: {
    const char *s = *CAT(src, k->off, char *);
    char **d = AT(dst, k->off, char *);
    *d = s ? strdup(s) : NULL;
    return s && !*d ? -1 : 0;
  }
  case CONF_ENV_FILE: {
    const char *s = *CAT(src, k->off, char *);
    char *const *v = *CAT(src, k->off2, char **);
    char **d = AT(dst, k->off, char *), ***dv = AT(dst, k->off2, char **);
    size_t n = 0;
    *d = s ? strdup(s) : NULL;
    *dv = NULL;
    int bad = s && !*d;
    for (size_t i = 0; !bad && v && v[i]; i++)
      bad = conf_strv_push(dv, &n, v[i]);
    return bad ? -1 : 0;
  }
  case CONF_WORDS:
  case CONF_COMMAND:
  case CONF_ENV:
    return strv_copy(AT(dst, k->off, char **), AT(dst, k->off2, size_t),
                     *CAT(src, k->off, char **), *CAT(src, k->off2, size_t));
  case CONF_SIZE:
    *AT(dst, k->off, uint64_t) = *CAT(src, k->off, uint64_t);
    return 0;
  case CONF_READY:
    *AT(dst, k->off2, int) = *CAT(src, k->off2, int);
    /* fall through */
  default:
    *AT(dst, k->off, int) = *CAT(src, k->off, int);
    return 0;
  }
}

void conf_key_clear(const conf_key *k, void *base) {
  switch (k->type) {
  case CONF_STRING:
  case CONF_USER:
  case CONF_PATH:
  case CONF_ADDRESS:
    free(*AT(base, k->off, char *));
    *AT(base, k->off, char *) = NULL;
    break;
  case CONF_ENV_FILE: {
    char **v = *AT(base, k->off2, char **);
    strv_free(v, conf_strv_len(v));
    *AT(base, k->off2, char **) = NULL;
    free(*AT(base, k->off, char *));
    *AT(base, k->off, char *) = NULL;
    break;
  }
  case CONF_WORDS:
  case CONF_COMMAND:
  case CONF_ENV:
    strv_free(*AT(base, k->off, char **), *AT(base, k->off2, size_t));
    *AT(base, k->off, char **) = NULL;
    *AT(base, k->off2, size_t) = 0;
    break;
  case CONF_SIZE:
    *AT(base, k->off, uint64_t) = 0;
    break;
  case CONF_READY:
    *AT(base, k->off2, int) = 0;
    /* fall through */
  default:
    *AT(base, k->off, int) = 0;
    break;
  }
}

/* `ms` as the file would say it ("10s", "500ms", "0"), or in ms. */
static void duration_text(int ms, int human, char *buf, size_t cap) {
  if (human && ms == 0)
    snprintf(buf, cap, "0");
  else if (human && ms % 1000 == 0)
    snprintf(buf, cap, "%ds", ms / 1000);
  else
    snprintf(buf, cap, "%dms", ms);
}

/* `bytes` as the file would say it ("10M", "0"), or in bytes. */
static void size_text(uint64_t bytes, int human, char *buf, size_t cap) {
  static const char units[] = "GMK";
  for (int i = 0; human && bytes && i < 3; i++) {
    int shift = 10 * (3 - i);
    if (bytes % ((uint64_t)1 << shift) == 0) {
      snprintf(buf, cap, "%llu%c", (unsigned long long)(bytes >> shift), units[i]);
      return;
    }
  }
  snprintf(buf, cap, "%llu", (unsigned long long)bytes);
}

const char *conf_key_text(const conf_key *k, const void *base, int human, char *buf,
                          size_t cap) {
  int is_int = k->type != CONF_SIZE && k->type != CONF_STRING && k->type != CONF_PATH &&
               k->type != CONF_ADDRESS && k->type != CONF_WORDS && k->type != CONF_ENV &&
               k->type != CONF_COMMAND && k->type != CONF_ENV_FILE && k->type != CONF_USER;
  int v = is_int ? *CAT(base, k->off, int) : 0;
  switch (k->type) {
  case CONF_STRING:
  case CONF_USER:
  case CONF_PATH:
  case CONF_ADDRESS:
  case CONF_ENV_FILE: {
    const char *s = *CAT(base, k->off, char *);
    snprintf(buf, cap, "%s", s ? s : k->type == CONF_STRING || k->type == CONF_USER ? "" : "none");
    break;
  }
  case CONF_INT:
    snprintf(buf, cap, "%d", v);
    break;
  case CONF_MODE:
    snprintf(buf, cap, "%04o", (unsigned)v);
    break;
  case CONF_BOOL:
    snprintf(buf, cap, "%s", v ? "yes" : "no");
    break;
  case CONF_DURATION:
    duration_text(v, human, buf, cap);
    break;
  case CONF_SIZE:
    size_text(*CAT(base, k->off, uint64_t), human, buf, cap);
    break;
  case CONF_SIGNAL:
    snprintf(buf, cap, "%s", conf_signal_name(v));
    break;
  case CONF_RESTART:
    snprintf(buf, cap, "%s", conf_restart_name(v));
    break;
  case CONF_STRATEGY:
    snprintf(buf, cap, "%s", ward_group_strategy_name(v));
    break;
  case CONF_ON_RELOAD:
    snprintf(buf, cap, "%s", v ? "replace" : "restart");
    break;
  case CONF_CLASS:
    snprintf(buf, cap, "%s", ward_class_name(v));
    break;
  case CONF_READY: {
    int arg = *CAT(base, k->off2, int);
    char d[32];
    duration_text(arg, human, d, sizeof d);
    if (v == WARD_READY_AFTER)
      snprintf(buf, cap, "up %s", d);
    else if (v == WARD_READY_NOTIFY)
      snprintf(buf, cap, "notify %d", arg);
    else
      snprintf(buf, cap, "handshake");
    break;
  }
  case CONF_WORDS:
  case CONF_COMMAND:
  case CONF_ENV: {
    char *const *w = *CAT(base, k->off, char **);
    size_t n = *CAT(base, k->off2, size_t), len = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && len < cap; i++)
      len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? " " : "", w[i]);
    break;
  }
  }
  return buf;
}

int conf_keys_print(FILE *f) {
  static const char *const sections[] = {"ward", "service", "group"};
  static const char *const reloads[] = {"restart", "at-once", "next-start"};
  for (size_t i = 0; i < conf_nkeys; i++) {
    const conf_key *k = &conf_keys[i];
    char def[512] = "", why[256];
    if (k->required)
      snprintf(def, sizeof def, "(required)");
    if (k->def) {
      /* The default as it reads back: "10000ms" is "10s". */
      union {
        ward_conf w;
        svc_conf s;
        grp_conf g;
      } scratch;
      memset(&scratch, 0, sizeof scratch);
      if (key_set(k, &scratch, k->def, why, sizeof why)) {
        if (!why[0])
          refusal(k, k->def, why, sizeof why);
        fprintf(stderr, "ward run: the default of %s: %s\n", k->name, why);
        return -1;
      }
      char v[256];
      snprintf(def, sizeof def, "`%s`", conf_key_text(k, &scratch, 1, v, sizeof v));
      conf_key_clear(k, &scratch);
    }
    if (k->def_note)
      snprintf(def + strlen(def), sizeof def - strlen(def), "%s%s", def[0] ? " " : "",
               k->def_note);
    fprintf(f, "%s\t%s\t%s\t%s\t%s\n", sections[k->section], k->name, reloads[k->reload], def,
            k->doc);
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* Services                                                            */

int svc_conf_init(svc_conf *s, const char *name) {
  memset(s, 0, sizeof *s);
  char why[256];
  if (!(s->name = strdup(name)) || set_defaults(CONF_SERVICE, s, why, sizeof why)) {
    svc_conf_clear(s);
    return -1;
  }
  return 0;
}

void svc_conf_clear(svc_conf *s) {
  free(s->name);
  for (size_t i = 0; i < conf_nkeys; i++)
    if (conf_keys[i].section == CONF_SERVICE)
      conf_key_clear(&conf_keys[i], s);
  memset(s, 0, sizeof *s);
}

int svc_conf_copy(svc_conf *d, const svc_conf *s) {
  *d = *s; /* and the lines of its header and keys */
  int bad = !(d->name = strdup(s->name));
  for (size_t i = 0; i < conf_nkeys; i++)
    if (conf_keys[i].section == CONF_SERVICE)
      bad |= conf_key_copy(&conf_keys[i], d, s);
  if (bad) {
    svc_conf_clear(d);
    return -1;
  }
  return 0;
}

int svc_conf_same(const svc_conf *a, const svc_conf *b) {
  if (strcmp(a->name, b->name) != 0)
    return 0;
  for (size_t i = 0; i < conf_nkeys; i++) {
    const conf_key *k = &conf_keys[i];
    if (k->section == CONF_SERVICE && k->reload == CONF_RELOAD_RESTART &&
        !conf_key_same(k, a, b))
      return 0;
  }
  return 1;
}

/* ------------------------------------------------------------------ */
/* The file                                                            */

typedef struct sect {
  char *name;
  int line;
} sect;

/* A hash table of names, each with the index of what it names. A table's
 * size is fixed when it is made (hcreate_r), so a growing one is made again
 * twice as large whenever it is half full. */
typedef struct name_table {
  struct hsearch_data h;
  size_t n;   /* names in it */
  size_t cap; /* names it takes before it is made again (half its size) */
} name_table;

/* Errors, kept to be reported all at once, in the order of their lines.
 * A file with thousands of errors shows the first CONF_MAX_ERRORS and
 * counts the others. */
#define CONF_MAX_ERRORS 100

typedef struct conf_err {
  int line; /* 0: the file as a whole */
  size_t order;
  char *text;
} conf_err;

typedef struct errlist {
  conf_err *v;
  size_t n, cap;
  size_t more; /* past CONF_MAX_ERRORS, or without memory to keep them */
} errlist;

/* Adds an error, unless the same one is there already (each key of an
 * unknown section would say it again). */
static void errlist_vadd(errlist *el, int line, const char *fmt, va_list ap) {
  char text[512];
  vsnprintf(text, sizeof text, fmt, ap);
  for (size_t i = el->n; i-- > 0 && i + 8 >= el->n;)
    if (el->v[i].line == line && strcmp(el->v[i].text, text) == 0)
      return;
  if (el->n == CONF_MAX_ERRORS) {
    el->more++;
    return;
  }
  if (el->n == el->cap) {
    size_t cap = el->cap ? 2 * el->cap : 8;
    conf_err *v = realloc(el->v, cap * sizeof *v);
    if (!v) {
      el->more++;
      return;
    }
    el->v = v;
    el->cap = cap;
  }
  char *t = strdup(text);
  if (!t) {
    el->more++;
    return;
  }
  el->v[el->n] = (conf_err){line, el->n, t};
  el->n++;
}

static void errlist_add(errlist *el, int line, const char *fmt, ...) CONF_PRINTF(3, 4);
static void errlist_add(errlist *el, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  errlist_vadd(el, line, fmt, ap);
  va_end(ap);
}

static int err_cmp(const void *x, const void *y) {
  const conf_err *a = x, *b = y;
  if (a->line != b->line)
    return a->line < b->line ? -1 : 1;
  return a->order < b->order ? -1 : a->order > b->order;
}

/* "PATH:LINE: text" per error, by line, into `buf`; what does not fit is
 * counted on a last line. */
static void errlist_format(errlist *el, const char *path, char *buf, size_t cap) {
  qsort(el->v, el->n, sizeof *el->v, err_cmp);
  size_t len = 0, more = el->more;
  buf[0] = 0;
  for (size_t i = 0; i < el->n; i++) {
    char line[700];
    if (el->v[i].line > 0)
      snprintf(line, sizeof line, "%s:%d: %s", path, el->v[i].line, el->v[i].text);
    else
      snprintf(line, sizeof line, "%s: %s", path, el->v[i].text);
    /* Room is kept for the count. */
    if (len + strlen(line) + 2 + (i + 1 < el->n || more ? strlen(path) + 40 : 0) > cap) {
      more += el->n - i;
      break;
    }
    len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? "\n" : "", line);
  }
  if (more && len + 1 < cap)
    snprintf(buf + len, cap - len, "%s%s: and %zu more error%s", len ? "\n" : "", path, more,
             more == 1 ? "" : "s");
}

static void errlist_free(errlist *el) {
  for (size_t i = 0; i < el->n; i++)
    free(el->v[i].text);
  free(el->v);
  memset(el, 0, sizeof *el);
}

static int errlist_empty(const errlist *el) { return el->n == 0 && el->more == 0; }

typedef struct parse_state {
  ward_conf *conf;
  FILE *f;
  char *lbuf;      /* the line being read, whole */
  size_t lcap;
  int line;        /* of the line inih is handling */
  int cont;        /* that line continues the previous key */
  int in_key;      /* a key was seen since the section's header (inih's
                      condition for a continuation line) */
  char *value;     /* the value of the line, as config.c reads it */
  sect *sections;
  size_t nsections, sections_cap;
  size_t svcs_cap; /* room in conf->svcs */
  name_table svc_names; /* conf->svcs by name */
  char *prev_key;  /* for continuation lines */
  errlist errs;
  /* keys seen in the current section, to refuse duplicates */
  char *cur_section;
  char **seen;
  size_t nseen;
} parse_state;

static int fail_at(parse_state *p, int line, const char *fmt, ...) CONF_PRINTF(3, 4);
static int fail_at(parse_state *p, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  errlist_vadd(&p->errs, line, fmt, ap);
  va_end(ap);
  return 0;
}

/* What inih looks for in a line: the first of `chars`, or the start of a
 * comment after a blank (its inline comments start with ';'). */
static const char *find_sep(const char *s, const char *chars) {
  int was_space = 0;
  while (*s && (!chars || !strchr(chars, *s)) && !(was_space && *s == ';')) {
    was_space = isspace((unsigned char)*s);
    s++;
  }
  return s;
}

/* Notes a section header, for its line and for sections without keys. */
static void note_section(parse_state *p, const char *s) {
  const char *e = find_sep(s + 1, "]");
  if (*e != ']')
    return; /* a syntax error */
  if (p->nsections == p->sections_cap) {
    size_t cap = p->sections_cap ? 2 * p->sections_cap : 16;
    sect *v = realloc(p->sections, cap * sizeof *v);
    if (!v) {
      fail_at(p, p->line, "out of memory");
      return;
    }
    p->sections = v;
    p->sections_cap = cap;
  }
  sect *v = &p->sections[p->nsections];
  v->name = strndup(s + 1, (size_t)(e - s - 1));
  v->line = p->line;
  if (v->name)
    p->nsections++;
  else
    fail_at(p, p->line, "out of memory");
}

/* The value from `v` on (blanks before it already skipped): up to a
 * comment, a ';' or '#' after a blank outside quotes, without the blanks
 * at its end. Inside single or double quotes (as a shell reads them) both
 * are part of the value, which inih, whose inline comments ignore quotes,
 * would cut. */
static void take_value(parse_state *p, const char *v) {
  free(p->value);
  p->value = strdup(v);
  if (!p->value) {
    fail_at(p, p->line, "out of memory");
    return;
  }
  char q = 0, *c = p->value;
  for (int was_space = 0; *c; c++) {
    if (q) {
      if (*c == q)
        q = 0;
      else if (q == '"' && *c == '\\' && c[1])
        c++;
    } else if (*c == '\\' && c[1]) {
      c++;
    } else if (*c == '\'' || *c == '"') {
      q = *c;
    } else if (was_space && (*c == ';' || *c == '#')) {
      break;
    }
    was_space = isspace((unsigned char)*c);
  }
  *c = 0;
  while (c > p->value && isspace((unsigned char)c[-1]))
    *--c = 0;
}

/* Looks at a line as inih will: a comment, a section header, a key, or
 * the continuation of one (its value then taken by take_value), or a
 * syntax error, said here so that every one is (inih tells the first
 * alone). */
static void classify(parse_state *p, const char *line) {
  const char *t = line + strspn(line, " \t\r\n\v\f");
  p->cont = 0;
  if (!*t || *t == ';' || *t == '#')
    return;
  if (p->in_key && t > line) {
    p->cont = 1;
    take_value(p, t);
    return;
  }
  if (*t == '[') {
    if (*find_sep(t + 1, "]") != ']') {
      fail_at(p, p->line, "syntax error (a section header without its ']')");
      return;
    }
    note_section(p, t);
    p->in_key = 0;
    return;
  }
  const char *sep = find_sep(t, "=:");
  if (*sep != '=' && *sep != ':') {
    fail_at(p, p->line, "syntax error (expected [section], key = value, or a comment)");
    return;
  }
  p->in_key = 1;
  take_value(p, sep + 1 + strspn(sep + 1, " \t\r\n\v\f"));
}

/* inih's reader: one line at a time, counted and looked at (classify).
 * Each line is read whole, so that one longer than inih's buffer, or one
 * holding a NUL byte (where inih would silently end the line), is refused
 * with its line instead of being cut; inih then sees an empty line. */
static char *reader(char *buf, int size, void *stream) {
  parse_state *p = stream;
  ssize_t got = getline(&p->lbuf, &p->lcap, p->f);
  if (got < 0)
    return NULL;
  p->line++;
  size_t n = (size_t)got;
  size_t text = n - (p->lbuf[n - 1] == '\n');
  if (memchr(p->lbuf, '\0', n)) {
    fail_at(p, p->line, "a NUL byte in the line (the file must be text)");
    n = 0;
  } else if (text > (size_t)size - 2) {
    fail_at(p, p->line, "line too long (at most %d characters)", size - 2);
    n = 0;
  }
  if (n == 0) {
    buf[0] = '\n';
    buf[1] = 0;
    p->cont = 0;
    return buf;
  }
  /* inih skips a UTF-8 byte order mark on the first line: so do we. */
  const char *l = p->lbuf;
  if (p->line == 1 && strncmp(l, "\xEF\xBB\xBF", 3) == 0)
    l += 3;
  memcpy(buf, l, n + 1 - (size_t)(l - p->lbuf));
  classify(p, buf);
  return buf;
}

static const char *service_name(const char *section) {
  return strncmp(section, "service ", 8) == 0 ? section + 8 + strspn(section + 8, " ") : NULL;
}

static const char *group_name(const char *section) {
  return strncmp(section, "group ", 6) == 0 ? section + 6 + strspn(section + 6, " ") : NULL;
}

const grp_conf *conf_group(const ward_conf *c, const char *name) {
  for (size_t i = 0; name && i < c->ngroups; i++)
    if (strcmp(c->groups[i].name, name) == 0)
      return &c->groups[i];
  return NULL;
}

int grp_conf_same(const grp_conf *a, const grp_conf *b) {
  if (!a || !b || strcmp(a->name, b->name) != 0)
    return a == b;
  for (size_t i = 0; i < conf_nkeys; i++)
    if (conf_keys[i].section == CONF_GROUP && !conf_key_same(&conf_keys[i], a, b))
      return 0;
  return 1;
}

/* Makes `t` empty, with room for `cap` names (0: frees it). */
static int names_reset(name_table *t, size_t cap) {
  if (t->cap)
    hdestroy_r(&t->h);
  memset(t, 0, sizeof *t);
  if (cap && !hcreate_r(2 * cap, &t->h))
    return -1;
  t->cap = cap;
  return 0;
}

/* Adds `name` (kept, not copied) for index `i`; returns the index the
 * name had already, or `i`, or -1 without memory. The table must have
 * room. */
static ssize_t names_add(name_table *t, const char *name, size_t i) {
  ENTRY e = {(char *)name, (void *)(uintptr_t)i}, *found;
  if (!hsearch_r(e, ENTER, &found, &t->h))
    return -1;
  if ((uintptr_t)found->data == i)
    t->n++;
  return (ssize_t)(uintptr_t)found->data;
}

static ssize_t names_find(const name_table *t, const char *name) {
  ENTRY e = {(char *)name, NULL}, *found;
  if (!t->cap || !hsearch_r(e, FIND, &found, (struct hsearch_data *)&t->h))
    return -1;
  return (ssize_t)(uintptr_t)found->data;
}

static svc_conf *find_svc(const parse_state *p, const char *name) {
  ssize_t i = names_find(&p->svc_names, name);
  return i < 0 ? NULL : &p->conf->svcs[i];
}

/* Indexes conf->svcs[i], the newest service, by its name. */
static int index_svc(parse_state *p, size_t i) {
  name_table *t = &p->svc_names;
  if (t->n == t->cap) {
    if (names_reset(t, t->cap ? 2 * t->cap : 64))
      return -1;
    for (size_t k = 0; k < i; k++)
      if (names_add(t, p->conf->svcs[k].name, k) < 0)
        return -1;
  }
  return names_add(t, p->conf->svcs[i].name, i) < 0 ? -1 : 0;
}

/* Reads the value of a key found in the file. */
static int set_key(parse_state *p, const conf_key *k, void *base, const char *value) {
  char why[256];
  if (key_set(k, base, value, why, sizeof why)) {
    if (!why[0])
      refusal(k, value, why, sizeof why);
    return fail_at(p, p->line, "%s", why);
  }
  /* The line of the key, not of a line that goes on with its value. */
  if (k->line_off && !p->cont)
    *AT(base, k->line_off, int) = p->line;
  return 1;
}

/* Lists may go on over indented lines; env is repeated, once per
 * variable; any other key appears once per section. `k` is NULL for an
 * unknown key, refused once its section is known to exist. */
static int check_repeat(parse_state *p, const char *section, const char *name,
                        const conf_key *k) {
  int list = k && (k->type == CONF_WORDS || k->type == CONF_COMMAND);
  if (p->cont && p->prev_key && strcmp(p->prev_key, name) == 0)
    return list ? 1 : fail_at(p, p->line, "'%s' does not go on over several lines", name);
  if (!p->cur_section || strcmp(p->cur_section, section) != 0) {
    strv_free(p->seen, p->nseen);
    p->seen = NULL;
    p->nseen = 0;
    free(p->cur_section);
    p->cur_section = strdup(section);
  }
  if (!k || k->type != CONF_ENV) {
    for (size_t i = 0; i < p->nseen; i++)
      if (strcmp(p->seen[i], name) == 0)
        return fail_at(p, p->line, "'%s' given twice in [%s]", name, section);
    conf_strv_push(&p->seen, &p->nseen, name);
  }
  free(p->prev_key);
  p->prev_key = strdup(name);
  return 1;
}

static int section_line(const parse_state *p, const char *section) {
  for (size_t i = p->nsections; i-- > 0;)
    if (strcmp(p->sections[i].name, section) == 0)
      return p->sections[i].line;
  return p->line;
}

static svc_conf *add_svc(parse_state *p, const char *name, int line) {
  ward_conf *c = p->conf;
  if (!svc_name_ok(name)) {
    fail_at(p, line,
            "'%s' is not a service name (letters, digits, '_' and '-', 1..64; not 'all')", name);
    return NULL;
  }
  if (c->nsvcs == p->svcs_cap) {
    size_t cap = p->svcs_cap ? 2 * p->svcs_cap : 8;
    svc_conf *v = realloc(c->svcs, cap * sizeof *v);
    if (!v) {
      fail_at(p, line, "out of memory");
      return NULL;
    }
    c->svcs = v;
    p->svcs_cap = cap;
  }
  svc_conf *s = &c->svcs[c->nsvcs];
  if (svc_conf_init(s, name) || index_svc(p, c->nsvcs)) {
    svc_conf_clear(s);
    fail_at(p, line, "out of memory");
    return NULL;
  }
  s->line = line;
  c->nsvcs++;
  return s;
}

/* A [group NAME] section (a group of that name is not there yet). */
static grp_conf *add_group(parse_state *p, const char *name, int line) {
  ward_conf *c = p->conf;
  if (!svc_name_ok(name)) {
    fail_at(p, line,
            "'%s' is not a group name (letters, digits, '_' and '-', 1..64; not 'all')", name);
    return NULL;
  }
  grp_conf *v = realloc(c->groups, (c->ngroups + 1) * sizeof *v);
  if (!v) {
    fail_at(p, line, "out of memory");
    return NULL;
  }
  c->groups = v;
  grp_conf *g = &v[c->ngroups];
  memset(g, 0, sizeof *g);
  char why[256];
  if (!(g->name = strdup(name)) || set_defaults(CONF_GROUP, g, why, sizeof why)) {
    free(g->name);
    fail_at(p, line, "out of memory");
    return NULL;
  }
  g->line = line;
  c->ngroups++;
  return g;
}

/* An indented line continues the previous value (inih); one that reads
 * like a key of its own is a mistake to point out, not words to run. */
static int looks_like_key(const char *value) {
  size_t n = strspn(value, "abcdefghijklmnopqrstuvwxyz_");
  if (n == 0 || value[n + strspn(value + n, " \t")] != '=')
    return 0;
  for (size_t i = 0; i < conf_nkeys; i++)
    if (strlen(conf_keys[i].name) == n && strncmp(conf_keys[i].name, value, n) == 0)
      return 1;
  return 0;
}

static int on_key(void *user, const char *section, const char *name, const char *inih_value) {
  parse_state *p = user;
  /* The value as take_value read it, quotes respected: inih's ends at the
   * first " ;", quoted or not. */
  const char *value = p->value ? p->value : inih_value;
  if (p->cont && looks_like_key(value))
    return fail_at(p, p->line, "an indented line continues the value of '%s'; a key starts "
                               "at the beginning of its line",
                   name);
  int ward = strcmp(section, "ward") == 0;
  const char *gname = group_name(section);
  const conf_key *k = key_find(ward ? CONF_WARD : gname ? CONF_GROUP : CONF_SERVICE, name);
  if (!check_repeat(p, section, name, k))
    return 0;
  if (ward)
    return k ? set_key(p, k, p->conf, value)
             : fail_at(p, p->line, "unknown key '%s' in [ward]", name);
  if (gname) {
    grp_conf *g = (grp_conf *)conf_group(p->conf, gname);
    if (!g && !(g = add_group(p, gname, section_line(p, section))))
      return 0;
    return k ? set_key(p, k, g, value)
             : fail_at(p, p->line, "unknown key '%s' in [group %s]", name, g->name);
  }
  const char *sname = service_name(section);
  if (!sname)
    return fail_at(p, section_line(p, section), "unknown section [%s]", section);
  svc_conf *s = find_svc(p, sname);
  if (!s && !(s = add_svc(p, sname, section_line(p, section))))
    return 0;
  if (!k)
    return fail_at(p, p->line, "unknown key '%s' in [service %s]", name, s->name);
  s->given |= UINT64_C(1) << (k - conf_keys);
  return set_key(p, k, s, value);
}

/* Sections given twice (the same name, or the same service: "[service a]"
 * and "[service  a]"), unknown ones, and services without keys. Any other
 * section is refused the first time it appears. */
static void check_sections(parse_state *p) {
  name_table seen = {0}, seen_groups = {0};
  if (names_reset(&seen, p->nsections + 1) || names_reset(&seen_groups, p->nsections + 1)) {
    names_reset(&seen, 0);
    fail_at(p, 0, "out of memory");
    return;
  }
  int ward_line = 0;
  for (size_t i = 0; i < p->nsections; i++) {
    const sect *sc = &p->sections[i];
    const char *sname = service_name(sc->name), *gname = group_name(sc->name);
    int first = 0;
    if (strcmp(sc->name, "ward") == 0) {
      first = ward_line ? ward_line : sc->line;
      ward_line = first;
    } else if (gname) {
      ssize_t k = names_add(&seen_groups, gname, i);
      if (k < 0) {
        fail_at(p, sc->line, "out of memory");
        break;
      }
      first = p->sections[k].line;
      grp_conf *g = (grp_conf *)conf_group(p->conf, gname);
      if (!g)
        add_group(p, gname, sc->line);
      else if (first == sc->line)
        g->line = sc->line; /* its first header, not the last */
    } else if (sname) {
      ssize_t k = names_add(&seen, sname, i);
      if (k < 0) {
        fail_at(p, sc->line, "out of memory");
        break;
      }
      first = p->sections[k].line;
    }
    if (first && first != sc->line) {
      fail_at(p, sc->line, "section [%s] given twice (first on line %d)", sc->name, first);
      continue;
    }
    if (!sname && !gname && strcmp(sc->name, "ward") != 0)
      fail_at(p, sc->line, "unknown section [%s]", sc->name);
    else if (sname && !find_svc(p, sname))
      add_svc(p, sname, sc->line);
  }
  names_reset(&seen, 0);
  names_reset(&seen_groups, 0);
}

/* A service's command, kept as written (a line at a time), split now that
 * its section, with its env and env_file, is read. 0, or -1 once the
 * error is said. */
static int finish_command(parse_state *p, svc_conf *s) {
  char **raw = s->argv;
  size_t nraw = s->argc;
  s->argv = NULL;
  s->argc = 0;
  int rv = 0;
  for (size_t i = 0; !rv && i < nraw; i++) {
    char *text, why[512];
    rv = conf_expand_vars(s, raw[i], &text, why, sizeof why);
    if (!rv) {
      rv = split_words(text, &s->argv, &s->argc, why, sizeof why);
      free(text);
    }
    if (rv)
      fail_at(p, s->cmd_line, "%s", why);
  }
  strv_free(raw, nraw);
  return rv;
}

/* Dependency cycles: each service's dependencies walked depth-first; a
 * dependency that is not a service (said already) is left out. */
static void check_cycles(parse_state *p) {
  ward_conf *c = p->conf;
  size_t n = c->nsvcs;
  int *mark = calloc(n ? n : 1, sizeof *mark); /* 0 new, 1 on the path, 2 done */
  size_t *stack = calloc(n ? n : 1, sizeof *stack), *next = calloc(n ? n : 1, sizeof *next);
  if (!mark || !stack || !next) {
    fail_at(p, 0, "out of memory");
  } else {
    for (size_t root = 0; root < n; root++) {
      if (mark[root])
        continue;
      size_t depth = 0;
      stack[depth] = root;
      next[depth] = 0;
      mark[root] = 1;
      for (;;) {
        svc_conf *s = &c->svcs[stack[depth]];
        if (next[depth] == s->ndeps) {
          mark[stack[depth]] = 2;
          if (depth-- == 0)
            break;
          continue;
        }
        svc_conf *dep = find_svc(p, s->deps[next[depth]++]);
        if (!dep || dep == s)
          continue;
        size_t d = (size_t)(dep - c->svcs);
        if (mark[d] == 1) {
          char path[512] = "";
          size_t k = depth + 1;
          while (k-- > 0 && stack[k] != d)
            ;
          for (size_t j = k; j <= depth; j++)
            snprintf(path + strlen(path), sizeof path - strlen(path), "%s -> ",
                     c->svcs[stack[j]].name);
          snprintf(path + strlen(path), sizeof path - strlen(path), "%s", c->svcs[d].name);
          fail_at(p, s->deps_line, "dependency cycle: %s", path);
        } else if (mark[d] == 0) {
          mark[d] = 1;
          stack[++depth] = d;
          next[depth] = 0;
        }
      }
    }
  }
  free(mark);
  free(stack);
  free(next);
}

/* After the keys: sections without keys, commands, dependencies. Every
 * error is said, not only the first. */
static void check_whole(parse_state *p) {
  ward_conf *c = p->conf;
  check_sections(p);
  for (size_t i = 0; i < c->nsvcs; i++) {
    svc_conf *s = &c->svcs[i];
    int bad_command = finish_command(p, s);
    for (size_t k = 0; k < conf_nkeys; k++)
      if (conf_keys[k].section == CONF_SERVICE && conf_keys[k].required &&
          key_empty(&conf_keys[k], s) && !(conf_keys[k].type == CONF_COMMAND && bad_command))
        fail_at(p, s->line, "[service %s] has no %s", s->name, conf_keys[k].name);
    if (s->group && !conf_group(c, s->group))
      fail_at(p, s->group_line, "[service %s] is in group '%s', which has no [group %s] section",
              s->name, s->group, s->group);
    for (size_t d = 0; d < s->ndeps; d++) {
      if (!find_svc(p, s->deps[d]))
        fail_at(p, s->deps_line, "[service %s] depends on '%s', which is not a service",
                s->name, s->deps[d]);
      else if (strcmp(s->deps[d], s->name) == 0)
        fail_at(p, s->deps_line, "[service %s] depends on itself", s->name);
    }
  }
  check_cycles(p);
}

int conf_load(ward_conf **out, const char *path, char *err, size_t errcap) {
  *out = NULL;
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errcap, "%s: %s", path, strerror(errno));
    return -1;
  }
  int rv = conf_read(out, path, f, err, errcap);
  fclose(f);
  return rv;
}

/* Whether an error was said at `line`. */
static int error_at(const errlist *el, int line) {
  for (size_t i = 0; i < el->n; i++)
    if (el->v[i].line == line)
      return 1;
  return el->more > 0;
}

int conf_read(ward_conf **out, const char *path, FILE *f, char *err, size_t errcap) {
  *out = NULL;
  ward_conf *c = calloc(1, sizeof *c);
  parse_state p = {.conf = c, .f = f};
  if (!c || !(c->path = strdup(path))) {
    free(c);
    snprintf(err, errcap, "%s: out of memory", path);
    return -1;
  }
  char why[256];
  if (set_defaults(CONF_WARD, c, why, sizeof why))
    fail_at(&p, 0, "%s", why);
  int rv = ini_parse_stream(reader, &p, on_key, &p);
  /* classify() said every syntax error inih could find: this is for one
   * it did not foresee. */
  if (rv > 0 && !error_at(&p.errs, rv))
    fail_at(&p, rv, "syntax error (expected [section], key = value, or a comment)");
  else if (rv < 0)
    fail_at(&p, 0, "out of memory");
  check_whole(&p);
  for (size_t i = 0; i < p.nsections; i++)
    free(p.sections[i].name);
  free(p.sections);
  free(p.lbuf);
  free(p.value);
  names_reset(&p.svc_names, 0);
  free(p.prev_key);
  free(p.cur_section);
  strv_free(p.seen, p.nseen);
  if (!errlist_empty(&p.errs)) {
    errlist_format(&p.errs, path, err, errcap);
    errlist_free(&p.errs);
    conf_free(c);
    return -1;
  }
  *out = c;
  return 0;
}

/* ------------------------------------------------------------------ */
/* This machine: programs, directories, users                          */

int conf_runnable(const svc_conf *c, char *err, size_t cap) {
  const char *prog = c->argv[0];
  char path[4096];
  if (strchr(prog, '/')) {
    if (prog[0] != '/' && c->cwd)
      snprintf(path, sizeof path, "%s/%s", c->cwd, prog);
    else
      snprintf(path, sizeof path, "%s", prog);
    struct stat st;
    int ok = access(path, X_OK) == 0, e = errno;
    if (ok && stat(path, &st) == 0 && !S_ISDIR(st.st_mode))
      return 1;
    snprintf(err, cap, "cannot run %s: %s", prog, ok ? "a directory" : strerror(e));
    return 0;
  }
  const char *env = getenv("PATH");
  for (const char *p = env ? env : "/usr/bin:/bin"; *p;) {
    size_t n = strcspn(p, ":");
    snprintf(path, sizeof path, "%.*s/%s", (int)n, n ? p : ".", prog);
    struct stat st;
    if (access(path, X_OK) == 0 && stat(path, &st) == 0 && !S_ISDIR(st.st_mode))
      return 1;
    p += n + (p[n] == ':');
  }
  snprintf(err, cap, "cannot run %s: not found in PATH", prog);
  return 0;
}

/* A name, or a number where no name is (as chown reads them). */
static int all_digits(const char *s) { return *s && strspn(s, "0123456789") == strlen(s); }

int conf_user_ids(const svc_conf *s, unsigned *uid, unsigned *gid, char *err, size_t cap) {
  if (!s->user)
    return 0;
  char name[256], *group;
  snprintf(name, sizeof name, "%s", s->user);
  if ((group = strchr(name, ':')))
    *group++ = 0;
  char buf[16384];
  struct passwd pw, *pwp = NULL;
  int e = getpwnam_r(name, &pw, buf, sizeof buf, &pwp);
  if (!pwp && all_digits(name)) {
    unsigned long n = strtoul(name, NULL, 10);
    e = getpwuid_r((uid_t)n, &pw, buf, sizeof buf, &pwp);
    if (!pwp && group) {
      /* A number with no passwd entry: as chown, with the group given. */
      pw.pw_uid = (uid_t)n;
      pw.pw_gid = (gid_t)-1;
      pwp = &pw;
    }
  }
  if (!pwp) {
    snprintf(err, cap, "user = %s: %s", s->user,
             e ? strerror(e)
             : all_digits(name) ? "no such user (a number with no passwd entry needs its "
                                  "group: user = UID:GROUP)"
                                : "no such user");
    return -1;
  }
  *uid = (unsigned)pwp->pw_uid;
  *gid = (unsigned)pwp->pw_gid;
  if (group) {
    struct group gr, *grp = NULL;
    char gbuf[16384];
    e = getgrnam_r(group, &gr, gbuf, sizeof gbuf, &grp);
    if (grp)
      *gid = (unsigned)grp->gr_gid;
    else if (all_digits(group))
      *gid = (unsigned)strtoul(group, NULL, 10);
    else {
      snprintf(err, cap, "user = %s: %s", s->user, e ? strerror(e) : "no such group");
      return -1;
    }
  }
  if (geteuid() != 0) {
    /* Its own user: nothing to switch. */
    if (*uid == (unsigned)geteuid() && *gid == (unsigned)getegid())
      return 0;
    snprintf(err, cap,
             "user = %s: ward run runs as uid %u, not as root, and cannot switch to another "
             "user",
             s->user, (unsigned)geteuid());
    return -1;
  }
  return 1;
}

int conf_check_host(const ward_conf *c, char *err, size_t errcap) {
  errlist el = {0};
  const char *last_prog = NULL, *last_cwd = NULL;
  char why[600], last_why[600] = "";
  int last_ok = 1;
  for (size_t i = 0; i < c->nsvcs; i++) {
    const svc_conf *s = &c->svcs[i];
    /* A big file runs the same few programs: each is looked up once. */
    int same = last_prog && strcmp(last_prog, s->argv[0]) == 0 &&
               (last_cwd && s->cwd ? strcmp(last_cwd, s->cwd) == 0 : last_cwd == s->cwd);
    if (!same) {
      last_ok = conf_runnable(s, last_why, sizeof last_why);
      last_prog = s->argv[0];
      last_cwd = s->cwd;
    }
    if (!last_ok)
      errlist_add(&el, s->cmd_line, "[service %s] %s", s->name, last_why);
    struct stat st;
    int found = s->cwd && stat(s->cwd, &st) == 0, e = errno;
    if (s->cwd && (!found || !S_ISDIR(st.st_mode)))
      errlist_add(&el, s->cwd_line, "[service %s] cwd %s: %s", s->name, s->cwd,
                  found ? "not a directory" : strerror(e));
    unsigned uid, gid;
    if (conf_user_ids(s, &uid, &gid, why, sizeof why) < 0)
      errlist_add(&el, s->user_line, "[service %s] %s", s->name, why);
  }
  int rv = errlist_empty(&el) ? 0 : -1;
  if (rv)
    errlist_format(&el, c->path, err, errcap);
  errlist_free(&el);
  return rv;
}

typedef struct socket_only {
  char *buf;
  size_t cap;
  int found;
} socket_only;

static int socket_key(void *user, const char *section, const char *name, const char *value) {
  socket_only *so = user;
  if (strcmp(section, "ward") == 0 && strcmp(name, "socket") == 0) {
    snprintf(so->buf, so->cap, "%s", value);
    so->found = 1;
  }
  return 1;
}

int conf_socket(const char *path, char *buf, size_t cap, char *err, size_t errcap) {
  socket_only so = {buf, cap, 0};
  int rv = ini_parse(path, socket_key, &so);
  if (rv < 0) {
    snprintf(err, errcap, "%s: %s", path, rv == -1 ? strerror(errno) : "out of memory");
    return -1;
  }
  if (!so.found)
    conf_default_socket(buf, cap);
  return 0;
}

void conf_free(ward_conf *c) {
  if (!c)
    return;
  for (size_t i = 0; i < c->nsvcs; i++)
    svc_conf_clear(&c->svcs[i]);
  free(c->svcs);
  for (size_t i = 0; i < c->ngroups; i++)
    free(c->groups[i].name);
  free(c->groups);
  free(c->path);
  for (size_t i = 0; i < conf_nkeys; i++)
    if (conf_keys[i].section == CONF_WARD)
      conf_key_clear(&conf_keys[i], c);
  free(c);
}
