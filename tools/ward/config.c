/*
 * config.c — reading and checking the INI file of `ward run`.
 *
 * inih does the parsing; a line-counting reader gives every key its line
 * number, and notes section headers (inih reports none of its own, and a
 * section without keys must still be checked). The first error wins and
 * is reported as "FILE:LINE: reason".
 *
 * Checking is linear in the size of the file: services and sections are
 * found by name in hash tables (glibc's hsearch_r), never by walking every
 * one seen so far, since a file may hold tens of thousands of them.
 */
#define _GNU_SOURCE

#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wordexp.h>

#include <ini.h>
#include <ward.h>

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

int conf_duration(const char *s, int *ms) {
  uint64_t v;
  const char *u;
  if (!s || parse_u64(s, &v, &u))
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
  if (v > (uint64_t)INT32_MAX / mult)
    return -1;
  *ms = (int)(v * mult);
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

static const struct {
  const char *name;
  int sig;
} signals[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
               {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"CONT", SIGCONT},
               {"STOP", SIGSTOP}, {"ALRM", SIGALRM}, {"WINCH", SIGWINCH}};

int conf_signal(const char *s, int *sig) {
  if (!s || !*s)
    return -1;
  if (isdigit((unsigned char)*s))
    return int_in(s, 1, NSIG - 1, sig);
  if (strncmp(s, "SIG", 3) == 0)
    s += 3;
  for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
    if (strcmp(s, signals[i].name) == 0) {
      *sig = signals[i].sig;
      return 0;
    }
  return -1;
}

const char *conf_signal_name(int sig) {
  for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
    if (signals[i].sig == sig)
      return signals[i].name;
  static _Thread_local char num[16];
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

int svc_name_ok(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n < 1 || n > 64)
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
/* Services                                                            */

static void strv_free(char **v, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

static int strv_push(char ***v, size_t *n, const char *s) {
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
    if (strv_push(dst, nd, src[i]))
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

int svc_conf_init(svc_conf *s, const char *name) {
  memset(s, 0, sizeof *s);
  s->restart = WARD_RESTART_ALWAYS;
  s->max_restarts = 5;
  s->restart_window_ms = 60000;
  s->backoff_ms = 1000;
  s->backoff_max_ms = 30000;
  s->stop_signal = SIGTERM;
  s->stop_grace_ms = 10000;
  s->ready_mode = WARD_READY_AFTER;
  s->ready_arg = 1000;
  s->startup_timeout_ms = 30000;
  s->instances = 1;
  s->name = strdup(name);
  return s->name ? 0 : -1;
}

void svc_conf_clear(svc_conf *s) {
  free(s->name);
  strv_free(s->argv, s->argc);
  strv_free(s->env, s->nenv);
  free(s->cwd);
  strv_free(s->deps, s->ndeps);
  memset(s, 0, sizeof *s);
}

int svc_conf_copy(svc_conf *d, const svc_conf *s) {
  *d = *s;
  d->name = strdup(s->name);
  d->cwd = s->cwd ? strdup(s->cwd) : NULL;
  int bad = !d->name || (s->cwd && !d->cwd);
  bad |= strv_copy(&d->argv, &d->argc, s->argv, s->argc);
  bad |= strv_copy(&d->env, &d->nenv, s->env, s->nenv);
  bad |= strv_copy(&d->deps, &d->ndeps, s->deps, s->ndeps);
  if (bad) {
    svc_conf_clear(d);
    return -1;
  }
  return 0;
}

int svc_conf_same(const svc_conf *a, const svc_conf *b) {
  return strcmp(a->name, b->name) == 0 && strv_same(a->argv, a->argc, b->argv, b->argc) &&
         strv_same(a->env, a->nenv, b->env, b->nenv) &&
         strv_same(a->deps, a->ndeps, b->deps, b->ndeps) &&
         ((!a->cwd && !b->cwd) || (a->cwd && b->cwd && strcmp(a->cwd, b->cwd) == 0)) &&
         a->restart == b->restart && a->max_restarts == b->max_restarts &&
         a->restart_window_ms == b->restart_window_ms && a->backoff_ms == b->backoff_ms &&
         a->backoff_max_ms == b->backoff_max_ms && a->stop_signal == b->stop_signal &&
         a->stop_grace_ms == b->stop_grace_ms && a->ready_mode == b->ready_mode &&
         a->ready_arg == b->ready_arg && a->startup_timeout_ms == b->startup_timeout_ms &&
         a->heartbeat_ms == b->heartbeat_ms && a->memory_high == b->memory_high &&
         a->memory_limit == b->memory_limit && a->instances == b->instances &&
         a->control == b->control;
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

typedef struct parse_state {
  ward_conf *conf;
  FILE *f;
  char *lbuf;      /* the line being read, whole */
  size_t lcap;
  int line;        /* of the line inih is handling */
  int cont;        /* that line continues the previous key */
  int log_dir_given;
  sect *sections;
  size_t nsections, sections_cap;
  size_t svcs_cap; /* room in conf->svcs */
  name_table svc_names; /* conf->svcs by name */
  char *prev_key;  /* for continuation lines */
  int err_line;
  char err[256];
  /* keys seen in the current section, to refuse duplicates */
  char *cur_section;
  char **seen;
  size_t nseen;
} parse_state;

static int fail_at(parse_state *p, int line, const char *fmt, ...) {
  if (p->err[0])
    return 0; /* the first error wins */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->err, sizeof p->err, fmt, ap);
  va_end(ap);
  p->err_line = line;
  return 0;
}

/* Notes a section header, for its line and for sections without keys. */
static void note_section(parse_state *p, const char *s) {
  const char *e = strchr(s, ']');
  if (!e)
    return; /* inih refuses it */
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

/* inih's reader: one line at a time, counted; section headers noted.
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
  memcpy(buf, p->lbuf, n + 1);
  p->cont = (buf[0] == ' ' || buf[0] == '\t') && buf[strspn(buf, " \t\r\n")] != 0 &&
            buf[strspn(buf, " \t")] != ';' && buf[strspn(buf, " \t")] != '#';
  const char *s = buf + strspn(buf, " \t");
  if (*s == '[')
    note_section(p, s);
  return buf;
}

static const char *service_name(const char *section) {
  return strncmp(section, "service ", 8) == 0 ? section + 8 + strspn(section + 8, " ") : NULL;
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

/* Splits `value` as a shell would, without running anything. */
static int split_words(parse_state *p, const char *value, char ***v, size_t *n) {
  wordexp_t we;
  int rv = wordexp(value, &we, WRDE_NOCMD | WRDE_UNDEF);
  if (rv) {
    const char *why = rv == WRDE_BADCHAR   ? "a character a shell would treat specially "
                                             "(|&;<>(){} or newline): quote it"
                      : rv == WRDE_BADVAL  ? "an undefined environment variable"
                      : rv == WRDE_CMDSUB  ? "command substitution, which ward does not run"
                      : rv == WRDE_SYNTAX  ? "unbalanced quotes"
                                           : "out of memory";
    if (rv != WRDE_NOSPACE)
      return fail_at(p, p->line, "cannot split '%s': %s", value, why) - 1;
    return fail_at(p, p->line, "out of memory") - 1;
  }
  int bad = 0;
  for (size_t i = 0; i < we.we_wordc && !bad; i++)
    bad = strv_push(v, n, we.we_wordv[i]);
  wordfree(&we);
  return bad ? fail_at(p, p->line, "out of memory") - 1 : 0;
}

static int ward_key(parse_state *p, const char *name, const char *value) {
  ward_conf *c = p->conf;
  if (strcmp(name, "socket") == 0) {
    free(c->socket);
    c->socket = strdup(value);
  } else if (strcmp(name, "log_dir") == 0) {
    if (strcmp(value, "none") != 0 && value[0] != '/')
      return fail_at(p, p->line, "log_dir: '%s' is not an absolute path (or none)", value);
    free(c->log_dir);
    c->log_dir = strcmp(value, "none") == 0 ? NULL : strdup(value);
    p->log_dir_given = 1;
  } else if (strcmp(name, "log_max_size") == 0) {
    if (conf_size(value, &c->log_max_bytes) || c->log_max_bytes < 1024)
      return fail_at(p, p->line, "log_max_size: '%s' is not a size of 1K or more", value);
  } else if (strcmp(name, "log_files") == 0) {
    if (int_in(value, 0, 100, &c->log_files))
      return fail_at(p, p->line, "log_files: '%s' is not a number 0..100", value);
  } else if (strcmp(name, "max_connections") == 0) {
    if (int_in(value, 1, CONF_MAX_CONNS, &c->max_conns))
      return fail_at(p, p->line, "max_connections: '%s' is not a number 1..%d", value,
                     CONF_MAX_CONNS);
  } else if (strcmp(name, "handshake_timeout") == 0) {
    if (conf_duration(value, &c->handshake_ms) || c->handshake_ms < 1)
      return fail_at(p, p->line, "handshake_timeout: '%s' is not a duration of 1ms or more",
                     value);
  } else {
    return fail_at(p, p->line, "unknown key '%s' in [ward]", name);
  }
  return 1;
}


static int service_key(parse_state *p, svc_conf *s, const char *name, const char *value) {
  int line = p->line;
#define BAD(what) return fail_at(p, line, "%s: '%s' is not %s", name, value, what)
  if (strcmp(name, "command") == 0) {
    if (split_words(p, value, &s->argv, &s->argc))
      return 0;
  } else if (strcmp(name, "env") == 0) {
    const char *eq = strchr(value, '=');
    if (!eq || eq == value)
      BAD("KEY=VALUE");
    if (strncmp(value, "WARD_", 5) == 0)
      return fail_at(p, line, "env: WARD_* variables are ward's own");
    if (strv_push(&s->env, &s->nenv, value))
      return fail_at(p, line, "out of memory");
  } else if (strcmp(name, "cwd") == 0) {
    free(s->cwd);
    s->cwd = strdup(value);
  } else if (strcmp(name, "restart") == 0) {
    if (conf_restart(value, &s->restart))
      BAD("always, on-failure or never");
  } else if (strcmp(name, "max_restarts") == 0) {
    if (int_in(value, 0, 256, &s->max_restarts))
      BAD("a number 0..256");
  } else if (strcmp(name, "restart_window") == 0) {
    if (conf_duration(value, &s->restart_window_ms) || s->restart_window_ms < 1)
      BAD("a duration (e.g. 60s)");
  } else if (strcmp(name, "backoff") == 0) {
    if (conf_duration(value, &s->backoff_ms))
      BAD("a duration (e.g. 1s, 500ms)");
  } else if (strcmp(name, "backoff_max") == 0) {
    if (conf_duration(value, &s->backoff_max_ms))
      BAD("a duration (e.g. 30s)");
  } else if (strcmp(name, "stop_signal") == 0) {
    if (conf_signal(value, &s->stop_signal))
      BAD("a signal (TERM, INT, HUP, QUIT, USR1, ... or a number)");
  } else if (strcmp(name, "stop_grace") == 0) {
    if (conf_duration(value, &s->stop_grace_ms))
      BAD("a duration (e.g. 10s)");
  } else if (strcmp(name, "ready") == 0) {
    if (conf_ready(value, &s->ready_mode, &s->ready_arg))
      BAD("handshake, up DURATION or notify FD (3..1023)");
  } else if (strcmp(name, "startup_timeout") == 0) {
    if (conf_duration(value, &s->startup_timeout_ms) || s->startup_timeout_ms < 1)
      BAD("a duration (e.g. 30s)");
  } else if (strcmp(name, "heartbeat") == 0) {
    if (conf_duration(value, &s->heartbeat_ms))
      BAD("a duration (e.g. 5s; 0 turns it off)");
  } else if (strcmp(name, "memory_limit") == 0) {
    if (conf_size(value, &s->memory_limit))
      BAD("a size (e.g. 512M)");
  } else if (strcmp(name, "memory_high") == 0) {
    if (conf_size(value, &s->memory_high))
      BAD("a size (e.g. 256M)");
  } else if (strcmp(name, "instances") == 0) {
    if (int_in(value, 1, 1000, &s->instances))
      BAD("a number 1..1000");
  } else if (strcmp(name, "depends_on") == 0) {
    if (split_words(p, value, &s->deps, &s->ndeps))
      return 0;
    s->deps_line = line;
  } else if (strcmp(name, "control") == 0) {
    if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
      s->control = 1;
    else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0)
      s->control = 0;
    else
      BAD("yes or no");
  } else {
    return fail_at(p, line, "unknown key '%s' in [service %s]", name, s->name);
  }
#undef BAD
  return 1;
}

/* Keys that take a list may go on over indented lines; any other key
 * appears once per section (env, once per variable). */
static int check_repeat(parse_state *p, const char *section, const char *name) {
  int list = strcmp(name, "command") == 0 || strcmp(name, "depends_on") == 0;
  if (p->cont && p->prev_key && strcmp(p->prev_key, name) == 0)
    return list ? 1 : fail_at(p, p->line, "'%s' does not go on over several lines", name);
  if (!p->cur_section || strcmp(p->cur_section, section) != 0) {
    strv_free(p->seen, p->nseen);
    p->seen = NULL;
    p->nseen = 0;
    free(p->cur_section);
    p->cur_section = strdup(section);
  }
  if (strcmp(name, "env") != 0) {
    for (size_t i = 0; i < p->nseen; i++)
      if (strcmp(p->seen[i], name) == 0)
        return fail_at(p, p->line, "'%s' given twice in [%s]", name, section);
    strv_push(&p->seen, &p->nseen, name);
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
    fail_at(p, line, "'%s' is not a service name (letters, digits, '_' and '-', 1..64)", name);
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
    free(s->name);
    fail_at(p, line, "out of memory");
    return NULL;
  }
  s->line = line;
  c->nsvcs++;
  return s;
}

static const char *const known_keys[] = {
    "socket",       "log_dir",       "log_max_size",   "log_files",    "max_connections",
    "handshake_timeout", "command",
    "env",          "cwd",           "restart",        "max_restarts", "restart_window",
    "backoff",      "backoff_max",   "stop_signal",    "stop_grace",   "ready",
    "startup_timeout", "heartbeat",  "memory_limit",   "memory_high",  "instances",
    "depends_on",   "control"};

/* An indented line continues the previous value (inih); one that reads
 * like a key of its own is a mistake to point out, not words to run. */
static int looks_like_key(const char *value) {
  size_t n = strspn(value, "abcdefghijklmnopqrstuvwxyz_");
  if (n == 0 || value[n + strspn(value + n, " \t")] != '=')
    return 0;
  for (size_t i = 0; i < sizeof known_keys / sizeof known_keys[0]; i++)
    if (strlen(known_keys[i]) == n && strncmp(known_keys[i], value, n) == 0)
      return 1;
  return 0;
}

static int on_key(void *user, const char *section, const char *name, const char *value) {
  parse_state *p = user;
  if (p->err[0])
    return 1; /* already failed: inih goes on, we no longer look */
  if (p->cont && looks_like_key(value))
    return fail_at(p, p->line, "an indented line continues the value of '%s'; a key starts "
                               "at the beginning of its line",
                   name);
  if (!check_repeat(p, section, name))
    return 0;
  if (strcmp(section, "ward") == 0)
    return ward_key(p, name, value);
  const char *sname = service_name(section);
  if (!sname)
    return fail_at(p, section_line(p, section), "unknown section [%s]", section);
  svc_conf *s = find_svc(p, sname);
  if (!s)
    s = add_svc(p, sname, section_line(p, section));
  return s ? service_key(p, s, name, value) : 0;
}

/* Sections are the same when their names are, or when both name the same
 * service ("[service a]" and "[service  a]"). */
/* Sections given twice (the same name, or the same service: "[service a]"
 * and "[service  a]"), unknown ones, and services without keys. Any other
 * section is refused the first time it appears. */
static void check_sections(parse_state *p) {
  name_table seen = {0};
  if (names_reset(&seen, p->nsections + 1)) {
    fail_at(p, 0, "out of memory");
    return;
  }
  int ward_line = 0;
  for (size_t i = 0; i < p->nsections && !p->err[0]; i++) {
    const sect *sc = &p->sections[i];
    const char *sname = service_name(sc->name);
    int first = 0;
    if (strcmp(sc->name, "ward") == 0) {
      first = ward_line ? ward_line : sc->line;
      ward_line = first;
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
      break;
    }
    if (!sname && strcmp(sc->name, "ward") != 0)
      fail_at(p, sc->line, "unknown section [%s]", sc->name);
    else if (sname && !find_svc(p, sname))
      add_svc(p, sname, sc->line);
  }
  names_reset(&seen, 0);
}

/* After the keys: sections without keys, commands, dependencies. */
static void check_whole(parse_state *p) {
  ward_conf *c = p->conf;
  check_sections(p);
  for (size_t i = 0; i < c->nsvcs && !p->err[0]; i++) {
    svc_conf *s = &c->svcs[i];
    if (s->argc == 0) {
      fail_at(p, s->line, "[service %s] has no command", s->name);
      break;
    }
    for (size_t d = 0; d < s->ndeps && !p->err[0]; d++) {
      if (!find_svc(p, s->deps[d]))
        fail_at(p, s->deps_line, "[service %s] depends on '%s', which is not a service",
                s->name, s->deps[d]);
      else if (strcmp(s->deps[d], s->name) == 0)
        fail_at(p, s->deps_line, "[service %s] depends on itself", s->name);
    }
  }
  if (p->err[0])
    return;
  /* Cycles: walk each service's dependencies depth-first. */
  size_t n = c->nsvcs;
  int *mark = calloc(n ? n : 1, sizeof *mark); /* 0 new, 1 on the path, 2 done */
  size_t *stack = calloc(n ? n : 1, sizeof *stack), *next = calloc(n ? n : 1, sizeof *next);
  if (!mark || !stack || !next) {
    fail_at(p, 0, "out of memory");
  } else {
    for (size_t root = 0; root < n && !p->err[0]; root++) {
      if (mark[root])
        continue;
      size_t depth = 0;
      stack[depth] = root;
      next[depth] = 0;
      mark[root] = 1;
      while (!p->err[0]) {
        svc_conf *s = &c->svcs[stack[depth]];
        if (next[depth] == s->ndeps) {
          mark[stack[depth]] = 2;
          if (depth-- == 0)
            break;
          continue;
        }
        size_t d = (size_t)(find_svc(p, s->deps[next[depth]++]) - c->svcs);
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

int conf_read(ward_conf **out, const char *path, FILE *f, char *err, size_t errcap) {
  *out = NULL;
  ward_conf *c = calloc(1, sizeof *c);
  parse_state p = {.conf = c, .f = f};
  if (!c || !(c->path = strdup(path))) {
    free(c);
    snprintf(err, errcap, "%s: out of memory", path);
    return -1;
  }
  c->log_max_bytes = 10u << 20;
  c->log_files = 5;
  c->max_conns = WARD_SERVER_MAX_CONNS_DEFAULT;
  c->handshake_ms = WARD_SERVER_HANDSHAKE_MS_DEFAULT;
  int rv = ini_parse_stream(reader, &p, on_key, &p);
  if (rv > 0 && !p.err[0])
    fail_at(&p, rv, "syntax error (expected [section], key = value, or a comment)");
  else if (rv < 0 && !p.err[0])
    fail_at(&p, 0, "out of memory");
  check_whole(&p);
  if (!p.err[0] && !c->socket) {
    char buf[256];
    c->socket = strdup(conf_default_socket(buf, sizeof buf));
  }
  if (!p.err[0] && !p.log_dir_given) {
    char buf[512];
    c->log_dir = strdup(conf_default_log_dir(buf, sizeof buf));
  }
  for (size_t i = 0; i < p.nsections; i++)
    free(p.sections[i].name);
  free(p.sections);
  free(p.lbuf);
  names_reset(&p.svc_names, 0);
  free(p.prev_key);
  free(p.cur_section);
  strv_free(p.seen, p.nseen);
  if (p.err[0]) {
    if (p.err_line > 0)
      snprintf(err, errcap, "%s:%d: %s", path, p.err_line, p.err);
    else
      snprintf(err, errcap, "%s: %s", path, p.err);
    conf_free(c);
    return -1;
  }
  *out = c;
  return 0;
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
  free(c->path);
  free(c->socket);
  free(c->log_dir);
  free(c);
}
