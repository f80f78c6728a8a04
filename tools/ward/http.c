/*
 * http.c — the HTTP listener of `ward run`: /healthz, /readyz, /status
 * and /metrics, over libmicrohttpd (http.h says how the daemon drives it).
 *
 * Design notes. The daemon is single-threaded and stays so: libmicrohttpd
 * runs in its "external polling" mode, with no thread of its own, where
 * epoll is there (Linux) through one epoll descriptor, elsewhere (and
 * with WARD_HTTP_NO_EPOLL set, so that the tests walk that path too)
 * through select()'s sets, which http_poll_fds turns into pollfds for the
 * daemon's poll. The handler runs inside http_run, on that thread, between
 * two turns of the host's loop: it may read everything the daemon has.
 *
 * The listening socket is made here, not by libmicrohttpd, so that a bind
 * that fails says why (the port is taken, the address is not this host's)
 * and the port bound is known (port 0 asks for any free one). It is
 * close-on-exec, as are libmicrohttpd's own descriptors: the services
 * inherit none of them.
 *
 * Every page but /logs is made from one document, the daemon's status
 * (the JSON of `ward ctl status --json`): /status is it, /readyz and
 * /metrics read it. /logs is the answer of ward.logs, as JSON lines.
 *
 * A /logs?follow=1 stream ("follower") never makes the daemon wait or
 * spin. Its response is libmicrohttpd's callback kind, without a length
 * (chunked): the callback asks ward.logs for what came after its cursor
 * only when libmicrohttpd has room to send, hands that out, and when
 * there is nothing suspends the connection, which http_logs_wake resumes
 * (the daemon calls it when lines came, as for `ward ctl logs -f`). So
 * the daemon holds at most one answer of ward.logs per follower (no more
 * than the service's log ring holds, as JSON lines); a client that reads slowly gets lines
 * later, and the ring drops what it no longer holds; one that reads
 * nothing for HTTP_IDLE_SECONDS is closed by libmicrohttpd, as any idle
 * connection. A suspended connection is not watched by libmicrohttpd,
 * which would not see its client go: http_poll_fds watches it for a hang
 * up instead. libmicrohttpd must not be stopped with a connection
 * suspended: stop() ends the followers first.
 */
#define _GNU_SOURCE

#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>
#include <ward.h>

/* What says a suspended connection's client hung up: POLLRDHUP where
 * poll has it, else only POLLHUP and POLLERR, which poll reports without
 * being asked. */
#ifdef POLLRDHUP
#define HANGUP POLLRDHUP
#else
#define HANGUP 0
#endif

#include "cli.h"
#include "config.h"

typedef struct follower follower;

struct http_server {
  http_status_fn status;
  http_logs_fn logs;
  http_log_fn log;
  void *ud;
  follower *followers;     /* the /logs?follow=1 streams */
  size_t nfollowers;
  int closing;             /* http_logs_end: no more following */
  int resumed;             /* a connection was resumed: MHD_run is due */
  size_t nmhd;             /* of http_poll_fds's descriptors, libmicrohttpd's;
                              the followers' come after them */
  struct MHD_Daemon *mhd;  /* NULL: serving nowhere */
  char *spec;              /* the address as the file says it */
  struct sockaddr_storage bound;
  socklen_t bound_len;
  char address[96];        /* `bound` as text */
  int due;                 /* http_run must run after this poll, whatever
                              the descriptors say (libmicrohttpd's timeout) */
};

http_server *http_new(http_status_fn status, http_logs_fn logs, http_log_fn log, void *ud) {
  http_server *h = calloc(1, sizeof *h);
  if (h) {
    h->status = status;
    h->logs = logs;
    h->log = log;
    h->ud = ud;
  }
  return h;
}

const char *http_address(const http_server *h) { return h && h->mhd ? h->address : NULL; }

/* ------------------------------------------------------------------ */
/* Pages                                                               */

/* A response with `body` (len bytes) and its type, queued on `c`. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type,
                             const char *body, size_t len) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  /* Probes and scrapes want the state of now, never a cache's. */
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  enum MHD_Result rv = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return rv;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned code, const char *text) {
  return reply(c, code, "text/plain; charset=utf-8", text, strlen(text));
}

/* What a page writes its body to: a memory stream. */
typedef struct body {
  FILE *f;
  char *buf;
  size_t len;
} body;

static int body_open(body *b) {
  b->buf = NULL;
  b->len = 0;
  b->f = open_memstream(&b->buf, &b->len);
  return b->f ? 0 : -1;
}

/* Closes the stream and answers with what it holds; 500 if it failed. */
static enum MHD_Result body_reply(struct MHD_Connection *c, body *b, unsigned code,
                                  const char *type) {
  int bad = ferror(b->f);
  bad |= fclose(b->f) != 0;
  enum MHD_Result rv = bad ? reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n")
                           : reply(c, code, type, b->buf, b->len);
  free(b->buf);
  return rv;
}

static const char *str_of(json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

/* Whether an instance serves as it should: ready (or idle: its process
 * ended for idleness, and the next call starts it), or exited where the
 * status calls that fine ("ok": a one-shot that finished cleanly). This
 * is stricter than "ok", which holds too for an instance stopped on
 * request or being replaced: neither serves, so neither is ready. */
static int row_ready(json_t *row) {
  const char *st = str_of(row, "state");
  if (strcmp(st, "ready") == 0 || strcmp(st, "idle") == 0)
    return 1;
  return strcmp(st, "exited") == 0 && json_is_true(json_object_get(row, "ok"));
}

static enum MHD_Result page_readyz(struct MHD_Connection *c, json_t *doc) {
  body b;
  if (body_open(&b))
    return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
  size_t i, bad = 0;
  json_t *row;
  json_array_foreach(json_object_get(doc, "services"), i, row) {
    if (row_ready(row))
      continue;
    if (bad++ == 0)
      fputs("not ready\n", b.f);
    fprintf(b.f, "%s: %s\n", str_of(row, "name"), str_of(row, "state"));
  }
  if (!bad)
    fputs("ready\n", b.f);
  return body_reply(c, &b, bad ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
                    "text/plain; charset=utf-8");
}

static enum MHD_Result page_status(struct MHD_Connection *c, json_t *doc) {
  body b;
  if (body_open(&b))
    return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
  /* Byte for byte what `ward ctl status --json` prints. */
  if (cli_json_print(doc, b.f)) {
    fclose(b.f);
    free(b.buf);
    return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
  }
  return body_reply(c, &b, MHD_HTTP_OK, "application/json");
}

/* ---- /metrics: the Prometheus text format (version 0.0.4) ---- */

/* `s` as the format wants it: in a label value, backslash, double quote
 * and line feed escaped; in a HELP line (quote = 0), backslash and line
 * feed. */
static void put_escaped(FILE *f, const char *s, int quote) {
  for (; *s; s++) {
    if (*s == '\\')
      fputs("\\\\", f);
    else if (*s == '\n')
      fputs("\\n", f);
    else if (*s == '"' && quote)
      fputs("\\\"", f);
    else
      fputc(*s, f);
  }
}

static void put_family(FILE *f, const char *name, const char *type, const char *help) {
  fprintf(f, "# HELP %s ", name);
  put_escaped(f, help, 0);
  fprintf(f, "\n# TYPE %s %s\n", name, type);
}

/* One figure of an instance, read from its status row: 0 with *v, or -1
 * when the row has none (the sample is left out, as the format wants for
 * what is not known). */
typedef int (*figure_fn)(json_t *row, double *v);

static int fig_up(json_t *row, double *v) {
  *v = json_integer_value(json_object_get(row, "pid")) > 0;
  return 0;
}

static int fig_ready(json_t *row, double *v) {
  const char *st = str_of(row, "state");
  *v = strcmp(st, "ready") == 0 || strcmp(st, "idle") == 0;
  return 0;
}

static int fig_restarts(json_t *row, double *v) {
  *v = (double)json_integer_value(json_object_get(row, "restarts"));
  return 0;
}

/* A number of the row's object `obj` (NULL: the row itself), divided by
 * `div`. */
static int fig_number(json_t *row, const char *obj, const char *key, double div, double *v) {
  json_t *o = obj ? json_object_get(row, obj) : row;
  json_t *x = json_object_get(o, key);
  if (!json_is_integer(x))
    return -1;
  *v = (double)json_integer_value(x) / div;
  return 0;
}

static int fig_exit_code(json_t *row, double *v) {
  json_t *last = json_object_get(row, "last_exit");
  return json_is_string(json_object_get(last, "signal")) ? -1
                                                         : fig_number(row, "last_exit", "code", 1, v);
}

static int fig_exit_signal(json_t *row, double *v) {
  int sig;
  if (conf_signal(json_string_value(json_object_get(json_object_get(row, "last_exit"), "signal")),
                  &sig))
    return -1;
  *v = sig;
  return 0;
}

static int fig_rss(json_t *row, double *v) { return fig_number(row, NULL, "rss_bytes", 1, v); }
static int fig_cpu(json_t *row, double *v) { return fig_number(row, NULL, "cpu_ms", 1000, v); }
static int fig_uptime(json_t *row, double *v) { return fig_number(row, NULL, "uptime_ms", 1000, v); }
static int fig_tree_memory(json_t *row, double *v) {
  return fig_number(row, NULL, "tree_memory_bytes", 1, v);
}
static int fig_paused(json_t *row, double *v) {
  json_t *x = json_object_get(row, "paused");
  if (!json_is_boolean(x))
    return -1;
  *v = json_is_true(x);
  return 0;
}
static int fig_oom(json_t *row, double *v) { return fig_number(row, NULL, "oom_kills", 1, v); }
static int fig_spares(json_t *row, double *v) { return fig_number(row, "spares", "ready", 1, v); }
/* A pressure figure: status gives a percentage, the metric a ratio. */
static int fig_pressure(json_t *row, const char *what, double *v) {
  json_t *x = json_object_get(json_object_get(row, "pressure"), what);
  if (!json_is_number(x))
    return -1;
  *v = json_number_value(x) / 100;
  return 0;
}
static int fig_pressure_cpu(json_t *row, double *v) { return fig_pressure(row, "cpu", v); }
static int fig_pressure_memory(json_t *row, double *v) { return fig_pressure(row, "memory", v); }
static int fig_pressure_io(json_t *row, double *v) { return fig_pressure(row, "io", v); }

/* The families of samples of each instance (labels service and name). */
static const struct family {
  const char *name, *type, *help;
  figure_fn fig;
} families[] = {
    {"ward_service_up", "gauge", "Whether the instance has a running process (1) or not (0).",
     fig_up},
    {"ward_service_ready", "gauge",
     "Whether the instance is ready (1: state ready or idle) or not (0).", fig_ready},
    {"ward_service_restarts_total", "counter",
     "Processes the instance's restart policy started after one ended.", fig_restarts},
    {"ward_service_last_exit_code", "gauge",
     "The exit code of the instance's last process that ended other than cleanly (none: "
     "no such end, or a signal ended it).",
     fig_exit_code},
    {"ward_service_last_exit_signal", "gauge",
     "The number of the signal that ended the instance's last process (none: no such end, "
     "or it exited).",
     fig_exit_signal},
    {"ward_service_resident_memory_bytes", "gauge",
     "The resident set of the instance's process (none: no process, or the system does not "
     "say).",
     fig_rss},
    {"ward_service_cpu_seconds_total", "counter",
     "CPU time (user and system) of the instance's current process.", fig_cpu},
    {"ward_service_uptime_seconds", "gauge", "How long the instance's current process has run.",
     fig_uptime},
    {"ward_service_paused", "gauge", "Whether the instance is paused (1: ward ctl pause) or not (0).",
     fig_paused},
    {"ward_service_tree_memory_bytes", "gauge",
     "The memory of the instance's whole process tree, its cgroup's memory.current (none: no "
     "cgroup, or no memory controller delegated).",
     fig_tree_memory},
    {"ward_service_oom_kills_total", "counter",
     "Processes of the instance's tree the kernel killed for its cgroup's memory limit.",
     fig_oom},
    {"ward_service_spares_ready", "gauge",
     "Spare processes of the instance started and ready to take over (`spares`).",
     fig_spares},
    {"ward_service_cpu_pressure_ratio", "gauge",
     "Share of the last 10 s in which some process of the instance's tree waited for CPU "
     "(cpu.pressure some avg10; none: no cgroup).",
     fig_pressure_cpu},
    {"ward_service_memory_pressure_ratio", "gauge",
     "Share of the last 10 s in which some process of the instance's tree waited for memory "
     "(memory.pressure some avg10; none: no cgroup).",
     fig_pressure_memory},
    {"ward_service_io_pressure_ratio", "gauge",
     "Share of the last 10 s in which some process of the instance's tree waited for I/O "
     "(io.pressure some avg10; none: no cgroup).",
     fig_pressure_io},
};

static void put_value(FILE *f, double v) { fprintf(f, " %.15g\n", v); }

static void put_daemon(FILE *f, json_t *doc) {
  json_t *dm = json_object_get(doc, "daemon"), *rows = json_object_get(doc, "services");
  size_t i, services = 0;
  json_t *row;
  /* A service's rows are its instances, the first numbered 1. */
  json_array_foreach(rows, i, row) services += json_integer_value(json_object_get(row, "instance")) == 1;
  put_family(f, "ward_services", "gauge", "Services the daemon supervises (transient ones too).");
  fputs("ward_services", f);
  put_value(f, (double)services);
  put_family(f, "ward_control_connections", "gauge",
             "Connections the control socket holds (ward ctl, scripts).");
  fputs("ward_control_connections", f);
  put_value(f, (double)json_integer_value(json_object_get(dm, "control_connections")));
  put_family(f, "ward_daemon_uptime_seconds", "gauge", "How long the daemon has run.");
  fputs("ward_daemon_uptime_seconds", f);
  put_value(f, (double)json_integer_value(json_object_get(dm, "uptime_ms")) / 1000);
  put_family(f, "ward_daemon_info", "gauge",
             "The daemon's version, configuration file and control socket, as labels "
             "(always 1).");
  fputs("ward_daemon_info{version=\"", f);
  put_escaped(f, ward_version_string(), 1);
  fputs("\",config=\"", f);
  put_escaped(f, str_of(dm, "config"), 1);
  fputs("\",socket=\"", f);
  put_escaped(f, str_of(dm, "socket"), 1);
  fputs("\"}", f);
  put_value(f, 1);
}

static enum MHD_Result page_metrics(struct MHD_Connection *c, json_t *doc) {
  body b;
  if (body_open(&b))
    return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
  put_daemon(b.f, doc);
  json_t *rows = json_object_get(doc, "services");
  for (size_t k = 0; k < sizeof families / sizeof families[0]; k++) {
    const struct family *fam = &families[k];
    put_family(b.f, fam->name, fam->type, fam->help);
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
      double v;
      if (fam->fig(row, &v))
        continue;
      fprintf(b.f, "%s{service=\"", fam->name);
      put_escaped(b.f, str_of(row, "service"), 1);
      fputs("\",name=\"", b.f);
      put_escaped(b.f, str_of(row, "name"), 1);
      fputs("\"}", b.f);
      put_value(b.f, v);
    }
  }
  return body_reply(c, &b, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8");
}

/* ---- /logs: ward.logs as JSON lines ---- */

struct follower {
  follower *next;
  http_server *h;
  struct MHD_Connection *c;
  int fd;            /* the connection's socket, watched while suspended */
  json_t *params;    /* what ward.logs is asked next: after the cursor */
  char *buf;         /* lines made and not all handed out yet */
  size_t len, off;
  int suspended;
  int ending;        /* end the stream once `buf` is out */
  int gone;          /* its client hung up: close, sending nothing more */
};

/* The lines of a ward.logs answer as JSON lines, malloc'd into *buf:
 * 0, or -1 without memory. */
static int lines_text(json_t *answer, char **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  FILE *f = open_memstream(buf, len);
  if (!f)
    return -1;
  size_t i;
  json_t *l;
  int bad = 0;
  json_array_foreach(json_object_get(answer, "lines"), i, l) bad |= cli_json_line(l, f);
  bad |= ferror(f);
  bad |= fclose(f) != 0;
  if (bad) {
    free(*buf);
    *buf = NULL;
    *len = 0;
  }
  return bad ? -1 : 0;
}

/* The query of a /logs request, as ward.logs's parameters. */
typedef struct logs_query {
  json_t *params;
  int follow;
  unsigned seen; /* a bit per key: each at most once */
  char err[200]; /* the first thing wrong, "" if none */
} logs_query;

/* `v` as a decimal number of at most `max`: 0, or -1. */
static int decimal(const char *v, unsigned long long max, unsigned long long *out) {
  unsigned long long n = 0;
  if (!v || !*v)
    return -1;
  for (; *v; v++) {
    unsigned d = (unsigned)(*v - '0');
    if (*v < '0' || *v > '9' || d > max || n > (max - d) / 10)
      return -1;
    n = n * 10 + d;
  }
  *out = n;
  return 0;
}

static enum MHD_Result logs_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *v) {
  (void)kind;
  logs_query *q = cls;
  static const char *const keys[] = {"service", "level", "call", "last", "follow"};
  size_t k = 0;
  while (k < sizeof keys / sizeof keys[0] && strcmp(key, keys[k]) != 0)
    k++;
  unsigned long long n = 0;
  int bad = 0;
  if (q->err[0])
    return MHD_YES;
  if (k == sizeof keys / sizeof keys[0]) {
    snprintf(q->err, sizeof q->err,
             "unknown parameter '%s': /logs takes service, level, call, last and follow", key);
    return MHD_YES;
  }
  if (q->seen & (1u << k)) {
    snprintf(q->err, sizeof q->err, "%s given twice", key);
    return MHD_YES;
  }
  q->seen |= 1u << k;
  if (k == 0) {
    bad = !v || !*v || json_object_set_new(q->params, "name", json_string(v));
  } else if (k == 1) {
    /* A name or a number; ward.logs says which are levels. */
    bad = !v || json_object_set_new(q->params, "level", decimal(v, 99, &n) == 0
                                                            ? json_integer((json_int_t)n)
                                                            : json_string(v));
  } else if (k == 2) {
    bad = decimal(v, 0xFFFFFFFF, &n) || n == 0 ||
          json_object_set_new(q->params, "call_id", json_integer((json_int_t)n));
  } else if (k == 3) {
    bad = decimal(v, 0x7FFFFFFF, &n) ||
          json_object_set_new(q->params, "last", json_integer((json_int_t)n));
  } else {
    bad = decimal(v, 1, &n);
    q->follow = n == 1;
  }
  static const char *const want[] = {
      "a service's name", "trace, debug, info, warn or error (or 1..5)",
      "a call's id, 1..4294967295", "a count of lines, 0 or more", "0 or 1"};
  if (bad)
    snprintf(q->err, sizeof q->err, "%s=%s: %s is %s", key, v ? v : "", key, want[k]);
  return MHD_YES;
}

/* What a follower sends next: the lines after its cursor, or a last line
 * saying why it ends (its service went with a reload). */
static void follow_fetch(follower *f) {
  free(f->buf);
  f->buf = NULL;
  f->len = f->off = 0;
  json_t *out = NULL;
  char err[256] = "";
  int rv = f->h->logs(f->h->ud, f->params, &out, err, sizeof err);
  if (!rv) {
    json_object_set(f->params, "after", json_object_get(out, "cursor"));
    rv = lines_text(out, &f->buf, &f->len);
    if (rv)
      snprintf(err, sizeof err, "out of memory");
  }
  json_decref(out);
  if (rv) {
    json_t *e = json_pack("{s:s}", "error", err);
    char *t = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    if (t && (f->buf = malloc(strlen(t) + 2)))
      f->len = (size_t)sprintf(f->buf, "%s\n", t);
    free(t);
    f->ending = 1;
  }
}

/* libmicrohttpd's content reader of a follower: called when it has room. */
static ssize_t follow_read(void *cls, uint64_t pos, char *out, size_t max) {
  (void)pos;
  follower *f = cls;
  if (f->gone)
    return MHD_CONTENT_READER_END_WITH_ERROR;
  if (f->off == f->len && !f->ending)
    follow_fetch(f);
  if (f->off < f->len) {
    size_t n = f->len - f->off < max ? f->len - f->off : max;
    memcpy(out, f->buf + f->off, n);
    f->off += n;
    return (ssize_t)n;
  }
  if (f->ending)
    return MHD_CONTENT_READER_END_OF_STREAM;
  /* Nothing new: wait, out of libmicrohttpd's loop, for http_logs_wake. */
  MHD_suspend_connection(f->c);
  f->suspended = 1;
  return 0;
}

static void follow_resume(follower *f) {
  if (f->suspended) {
    f->suspended = 0;
    f->h->resumed = 1;
    MHD_resume_connection(f->c);
  }
}

/* The response is done with (sent, or its connection closed). */
static void follow_free(void *cls) {
  follower *f = cls;
  http_server *h = f->h;
  for (follower **pp = &h->followers; *pp; pp = &(*pp)->next)
    if (*pp == f) {
      *pp = f->next;
      h->nfollowers--;
      break;
    }
  json_decref(f->params);
  free(f->buf);
  free(f);
}

/* A follower starting with the lines of `first` (ward.logs's answer to
 * `params`), queued on `c`. */
static enum MHD_Result follow_start(http_server *h, struct MHD_Connection *c, json_t *params,
                                    json_t *first) {
  follower *f = calloc(1, sizeof *f);
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (!f || !ci || lines_text(first, &f->buf, &f->len)) {
    free(f);
    return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
  }
  f->h = h;
  f->c = c;
  f->fd = ci->connect_fd;
  f->params = json_incref(params);
  json_object_del(f->params, "last");
  json_object_set(f->params, "after", json_object_get(first, "cursor"));
  struct MHD_Response *r =
      MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, follow_read, f, follow_free);
  if (!r) {
    json_decref(f->params);
    free(f->buf);
    free(f);
    return MHD_NO;
  }
  f->next = h->followers;
  h->followers = f;
  h->nfollowers++;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  enum MHD_Result rv = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r); /* follow_free runs when libmicrohttpd is done */
  return rv;
}

static enum MHD_Result page_logs(http_server *h, struct MHD_Connection *c, int head) {
  logs_query q = {.params = json_object()};
  if (!q.params)
    return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, logs_arg, &q);
  if (!q.err[0] && !json_object_get(q.params, "name"))
    snprintf(q.err, sizeof q.err, "/logs needs service=NAME");
  if (!q.err[0] && !json_object_get(q.params, "last"))
    json_object_set_new(q.params, "last", json_integer(CLI_LOGS_LAST));
  json_t *out = NULL;
  char err[256] = "";
  int rv = q.err[0] ? 400 : h->logs(h->ud, q.params, &out, err, sizeof err);
  enum MHD_Result res;
  char text[300];
  if (rv) {
    snprintf(text, sizeof text, "%s\n", q.err[0] ? q.err : err);
    res = reply_text(c, rv == 400 || rv == 404 ? (unsigned)rv : MHD_HTTP_INTERNAL_SERVER_ERROR,
                     text);
  } else if (q.follow && !head && !h->closing && h->nfollowers >= HTTP_MAX_FOLLOWERS) {
    snprintf(text, sizeof text, "too many followers: at most %d at once\n", HTTP_MAX_FOLLOWERS);
    res = reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, text);
  } else if (q.follow && !head && !h->closing) {
    res = follow_start(h, c, q.params, out);
  } else {
    char *lines;
    size_t len;
    res = lines_text(out, &lines, &len)
              ? reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n")
              : reply(c, MHD_HTTP_OK, "application/x-ndjson", lines, len);
    free(lines);
  }
  json_decref(out);
  json_decref(q.params);
  return res;
}

void http_logs_wake(http_server *h) {
  for (follower *f = h ? h->followers : NULL; f; f = f->next)
    follow_resume(f);
}

void http_logs_end(http_server *h) {
  if (!h)
    return;
  h->closing = 1;
  for (follower *f = h->followers; f; f = f->next) {
    f->ending = 1;
    follow_resume(f);
  }
}

size_t http_followers(const http_server *h) { return h ? h->nfollowers : 0; }

static const struct page {
  const char *path;
  enum MHD_Result (*fn)(struct MHD_Connection *c, json_t *doc); /* NULL: /healthz */
} pages[] = {{"/healthz", NULL},
             {"/readyz", page_readyz},
             {"/status", page_status},
             {"/metrics", page_metrics}};

/* libmicrohttpd's access handler: called once a request's headers are
 * in; every answer is made then, whatever body may follow. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_len, void **req) {
  (void)version, (void)upload, (void)req;
  http_server *h = cls;
  if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
    return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: GET or HEAD\n");
  *upload_len = 0; /* a body sent with a GET means nothing here */
  if (strcmp(url, "/logs") == 0)
    return page_logs(h, c, strcmp(method, MHD_HTTP_METHOD_HEAD) == 0);
  const struct page *pg = NULL;
  for (size_t i = 0; i < sizeof pages / sizeof pages[0] && !pg; i++)
    if (strcmp(url, pages[i].path) == 0)
      pg = &pages[i];
  if (!pg)
    return reply_text(c, MHD_HTTP_NOT_FOUND,
                      "not found: the pages are /healthz, /readyz, /status, /metrics and /logs\n");
  if (!pg->fn)
    return reply_text(c, MHD_HTTP_OK, "ok\n");
  json_t *doc = h->status(h->ud);
  if (!doc)
    return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
  enum MHD_Result rv = pg->fn(c, doc);
  json_decref(doc);
  return rv;
}

static void on_log(void *cls, const char *fmt, va_list ap) {
  http_server *h = cls;
  char text[512];
  vsnprintf(text, sizeof text, fmt, ap);
  size_t n = strlen(text);
  while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
    text[--n] = 0;
  if (h->log)
    h->log(h->ud, text);
}

/* ------------------------------------------------------------------ */
/* The listener                                                        */

static void format_address(http_server *h) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (h->bound.ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&h->bound;
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
    snprintf(h->address, sizeof h->address, "[%s]:%d", host, port);
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&h->bound;
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
    snprintf(h->address, sizeof h->address, "%s:%d", host, port);
  }
}

/* A listening socket at `a`: its descriptor, or -1 with "STEP: reason" in
 * `err`. */
static int open_listener(const struct sockaddr_storage *a, socklen_t len, char *err, size_t cap) {
  const char *step = "socket";
  int one = 1, fd = socket(a->ss_family, SOCK_STREAM, 0);
  if (fd < 0)
    goto fail;
  step = "fcntl";
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) || fcntl(fd, F_SETFD, FD_CLOEXEC))
    goto fail;
  /* A daemon started again at once may bind the port its predecessor's
   * closed connections still hold (TIME_WAIT); never one a live listener
   * holds. */
  step = "setsockopt";
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one))
    goto fail;
  step = "bind";
  if (bind(fd, (const struct sockaddr *)a, len))
    goto fail;
  step = "listen";
  if (listen(fd, 64))
    goto fail;
  return fd;
fail:;
  int e = errno;
  if (fd >= 0)
    close(fd);
  snprintf(err, cap, "%s: %s", step, strerror(e));
  return -1;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ends the followers' streams and serves until they are sent (or their
 * clients gone), at most HTTP_DRAIN_MS: a client that stops reading
 * cannot hold the daemon longer. */
static void drain(http_server *h) {
  int closing = h->closing;
  http_logs_end(h);
  h->closing = closing; /* a rebind serves followers again */
  for (int64_t end = mono_ms() + HTTP_DRAIN_MS, now; h->followers && (now = mono_ms()) < end;) {
    struct pollfd pf[HTTP_MAX_FDS];
    int wait = (int)(end - now);
    size_t n = http_poll_fds(h, pf, HTTP_MAX_FDS, &wait);
    if (poll(pf, n, wait) < 0 && errno != EINTR)
      break;
    http_run(h, pf, n);
  }
}

static void stop(http_server *h) {
  if (h->mhd) {
    drain(h);
    /* Those left are resumed (libmicrohttpd must not stop with one
     * suspended) and closed with the rest. */
    for (follower *f = h->followers; f; f = f->next) {
      f->gone = 1;
      follow_resume(f);
    }
    MHD_stop_daemon(h->mhd); /* closes the listener and every connection */
  }
  h->mhd = NULL;
  h->due = 0;
  h->resumed = 0;
}

/* Serves at `a`; 0, or -1 with "SPEC: reason" in `err`. */
static int start(http_server *h, const struct sockaddr_storage *a, socklen_t len,
                 const char *spec, char *err, size_t cap) {
  char why[256];
  int fd = open_listener(a, len, why, sizeof why);
  if (fd < 0) {
    snprintf(err, cap, "%s: %s", spec, why);
    return -1;
  }
  struct sockaddr_storage bound;
  socklen_t blen = sizeof bound;
  if (getsockname(fd, (struct sockaddr *)&bound, &blen)) {
    snprintf(err, cap, "%s: getsockname: %s", spec, strerror(errno));
    close(fd);
    return -1;
  }
  /* Without a thread: epoll where libmicrohttpd has it, else select. */
  unsigned flags = MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
                   (getenv("WARD_HTTP_NO_EPOLL") ? 0 : MHD_USE_AUTO) |
                   (a->ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
  /* From here the listener is libmicrohttpd's, which closes it when it
   * stops. */
  h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
                            /* first, to hear of the options too */
                            MHD_OPTION_EXTERNAL_LOGGER, on_log, h, MHD_OPTION_LISTEN_SOCKET, fd,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNS,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_SECONDS,
                            MHD_OPTION_END);
  if (!h->mhd) {
    /* A failure closes the listener on some of libmicrohttpd's paths and
     * not on others. The daemon has one thread, and nothing opens a
     * descriptor after libmicrohttpd closes one on its way out: a
     * descriptor at that number that is a socket bound where the
     * listener was is still the listener. */
    struct sockaddr_storage now;
    socklen_t nlen = sizeof now;
    if (getsockname(fd, (struct sockaddr *)&now, &nlen) == 0 && nlen == blen &&
        memcmp(&now, &bound, blen) == 0)
      close(fd);
    snprintf(err, cap, "%s: libmicrohttpd could not start", spec);
    return -1;
  }
  h->bound = bound;
  h->bound_len = blen;
  format_address(h);
  return 0;
}

int http_listen(http_server *h, const char *address, char *err, size_t cap) {
  if (address && h->mhd && h->spec && strcmp(address, h->spec) == 0)
    return 0;
  struct sockaddr_storage want;
  socklen_t wlen = 0;
  if (address && conf_http_address(address, &want, &wlen)) {
    snprintf(err, cap, "%s: not an address (PORT, IPV4:PORT, localhost:PORT or [IPV6]:PORT)",
             address);
    return -1;
  }
  char *spec = address ? strdup(address) : NULL;
  if (address && !spec) {
    snprintf(err, cap, "%s: out of memory", address);
    return -1;
  }
  /* The old listener goes first: the new address may be its port on
   * another interface, which it would hold. */
  int had = h->mhd != NULL;
  struct sockaddr_storage old = h->bound;
  socklen_t olen = h->bound_len;
  char old_text[sizeof h->address];
  snprintf(old_text, sizeof old_text, "%s", h->address);
  stop(h);
  if (!address || start(h, &want, wlen, address, err, cap) == 0) {
    free(h->spec);
    h->spec = spec;
    return 0;
  }
  free(spec);
  char again[256];
  if (had && start(h, &old, olen, old_text, again, sizeof again)) {
    size_t n = strlen(err);
    snprintf(err + n, cap - n, "; and %s could not be bound again (%s): nothing is served",
             old_text, again);
    free(h->spec);
    h->spec = NULL;
  }
  return -1;
}

size_t http_poll_fds(http_server *h, struct pollfd *pf, size_t cap, int *timeout_ms) {
  if (!h || !h->mhd)
    return 0;
  fd_set rs, ws, es;
  FD_ZERO(&rs);
  FD_ZERO(&ws);
  FD_ZERO(&es);
  MHD_socket max = -1;
  size_t n = 0;
  int got = MHD_get_fdset(h->mhd, &rs, &ws, &es, &max) == MHD_YES;
  for (int fd = 0; got && fd <= max && n < cap; fd++) {
    short ev = (short)((FD_ISSET(fd, &rs) ? POLLIN : 0) | (FD_ISSET(fd, &ws) ? POLLOUT : 0) |
                       (FD_ISSET(fd, &es) ? POLLPRI : 0));
    if (ev)
      pf[n++] = (struct pollfd){.fd = fd, .events = ev};
  }
  /* The followers waiting for lines, for a hang up (only: a client that
   * sends more must not wake the daemon again and again). */
  h->nmhd = n;
  for (follower *f = h->followers; f && n < cap; f = f->next)
    if (f->suspended)
      pf[n++] = (struct pollfd){.fd = f->fd, .events = HANGUP};
  MHD_UNSIGNED_LONG_LONG t;
  h->due = MHD_get_timeout(h->mhd, &t) == MHD_YES;
  if (h->resumed) {
    /* libmicrohttpd takes a resumed connection back in its next run. */
    t = 0;
    h->due = 1;
    h->resumed = 0;
  }
  if (!got) {
    /* A descriptor did not fit a select() set: look again soon. */
    t = h->due && t < 1000 ? t : 1000;
    h->due = 1;
  }
  if (h->due && (*timeout_ms < 0 || t < (MHD_UNSIGNED_LONG_LONG)*timeout_ms))
    *timeout_ms = t > 60000 ? 60000 : (int)t;
  return n;
}

void http_run(http_server *h, const struct pollfd *pf, size_t n) {
  if (!h || !h->mhd)
    return;
  int run = h->due;
  for (size_t i = 0; i < n; i++) {
    if (!pf[i].revents)
      continue;
    run = 1;
    if (i < h->nmhd)
      continue;
    for (follower *f = h->followers; f; f = f->next)
      if (f->suspended && f->fd == pf[i].fd) {
        f->gone = 1;
        follow_resume(f);
      }
  }
  if (run)
    MHD_run(h->mhd);
}

void http_free(http_server *h) {
  if (!h)
    return;
  stop(h);
  free(h->spec);
  free(h);
}
