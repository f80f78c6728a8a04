/*
 * test_http.c — the HTTP pages of `ward run` ([ward] http): the real
 * daemon (argv[1] is the `ward` binary) serving /healthz, /readyz,
 * /status and /metrics, fetched with curl, a real HTTP client.
 *
 * /metrics is read by a small parser of the Prometheus text format that
 * checks what the format asks (HELP and TYPE before a family's samples,
 * each family's samples together, names and labels well formed, label
 * values escaped, values that read as floats) and gives the values, which
 * must follow what the services do: a crash counts a restart and says
 * its signal, a stopped service is down and not ready, a crash loop keeps
 * /readyz at 503. Also: addresses refused by --check, a port that is
 * taken, a reload that rebinds (or is refused, changing nothing), labels
 * that need escaping, and what docs/cli.md says of the listener's limits.
 *
 * /logs: a service's lines and log records as JSON lines, filtered by
 * level, call and count, and followed (follow=1) by curl while the
 * service logs more, beside a follower that reads nothing (the daemon
 * still answers), until a reload that moves the listener and the
 * daemon's shutdown end the streams. The test binary is that service
 * ("--svc-logs", tslogsvc.h).
 *
 * Run again with WARD_HTTP_NO_EPOLL=1 (ctest: test_http_no_epoll), which
 * makes libmicrohttpd use select()'s sets, as where there is no epoll.
 */
#include <math.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cli.h"  /* CLI_LOGS_LAST: what the docs say */
#include "http.h" /* HTTP_MAX_CONNS, HTTP_IDLE_SECONDS, HTTP_MAX_FOLLOWERS, HTTP_DRAIN_MS */
#include "tdaemon.h"
#include "tdoc.h"
#include "tslogsvc.h"

static char address[96]; /* where the daemon serves, once started */

/* The configuration: [ward] with `http`, then `services`. */
static void write_http_conf(const char *http, const char *services) {
  char text[4096];
  snprintf(text, sizeof text, "[ward]\nsocket = %s\nlog_dir = %s\nhttp = %s\n\n%s", sock, logdir,
           http, services);
  write_file(conf_path, text);
}

static void dump_daemon_log(void) {
  char *e = read_file(errlog);
  fprintf(stderr, "--- daemon stderr ---\n%s", e);
  free(e);
}

/* The address the daemon serves at, from `status` (null: none). */
static void learn_address(void) {
  json_t *st = status();
  const char *a = json_string_value(json_object_get(json_object_get(st, "daemon"), "http"));
  snprintf(address, sizeof address, "%s", a ? a : "");
  json_decref(st);
}

/* Starts the daemon and learns its address, which it logs too. */
static void start_http_daemon(void) {
  start_daemon();
  learn_address();
  if (address[0]) {
    char line[160];
    snprintf(line, sizeof line, "http-listening - address=%s\n", address);
    wait_log(line);
  }
}

/* A listening socket on 127.0.0.1 at a port the system chose: a port
 * that is taken. Its descriptor; the port in *port. */
static int hold_port(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  T_TRUE(fd >= 0);
  T_TRUE(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
  T_TRUE(listen(fd, 1) == 0);
  T_TRUE(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
  *port = ntohs(a.sin_port);
  return fd;
}

/* ---- HTTP, with curl ---- */

typedef struct page {
  int code;      /* the status code; 0 when curl could not connect */
  int curl_exit; /* curl's exit status (7: could not connect) */
  char *head;    /* the status line and headers, as sent */
  char *body;
  size_t body_len;
} page;

static void page_free(page *p) {
  free(p->head);
  free(p->body);
  memset(p, 0, sizeof *p);
}

/* METHOD (GET, HEAD, POST...) PATH at `at` (the daemon's address, unless
 * NULL). */
static void fetch_at(page *p, const char *at, const char *method, const char *path) {
  char url[256];
  snprintf(url, sizeof url, "http://%s%s", at ? at : address, path);
  const char *argv[16];
  int n = 0;
  argv[n++] = "curl";
  argv[n++] = "--silent";
  argv[n++] = "--include";
  argv[n++] = "--max-time";
  argv[n++] = "30";
  if (strcmp(method, "HEAD") == 0) {
    argv[n++] = "--head";
  } else {
    argv[n++] = "--request";
    argv[n++] = method;
    if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
      argv[n++] = "--data";
      argv[n++] = "a=1";
    }
  }
  argv[n++] = url;
  argv[n] = NULL;
  run_result r;
  run_prog(&r, "curl", (char *const *)argv);
  memset(p, 0, sizeof *p);
  p->curl_exit = r.code;
  char *split = strstr(r.out, "\r\n\r\n");
  if (p->curl_exit == 0) {
    if (!split || sscanf(r.out, "HTTP/%*s %d", &p->code) != 1)
      T_FAIL("%s %s: not an HTTP answer:\n%s", method, url, r.out);
    *split = 0;
    p->head = strdup(r.out);
    p->body_len = r.out_len - (size_t)(split + 4 - r.out);
    p->body = malloc(p->body_len + 1);
    T_TRUE(p->head && p->body);
    memcpy(p->body, split + 4, p->body_len + 1);
  } else {
    p->head = strdup("");
    p->body = strdup("");
  }
  run_result_free(&r);
}

static void fetch(page *p, const char *method, const char *path) {
  fetch_at(p, NULL, method, path);
}

/* The value of header `name` in `p` (case aside), into `out`; 0 if it has
 * none. */
static int header(const page *p, const char *name, char *out, size_t cap) {
  size_t n = strlen(name);
  for (const char *l = p->head; (l = strstr(l, "\r\n")); ) {
    l += 2;
    if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
      const char *v = l + n + 1 + strspn(l + n + 1, " ");
      snprintf(out, cap, "%.*s", (int)strcspn(v, "\r\n"), v);
      return 1;
    }
  }
  return 0;
}

#define EXPECT_PAGE(p, cond)                                                                \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      fprintf(stderr, "curl exit %d, HTTP %d\n%s\n\n%s\n", (p)->curl_exit, (p)->code,      \
              (p)->head, (p)->body);                                                        \
      T_FAIL("expected: %s", #cond);                                                        \
    }                                                                                       \
  } while (0)

/* ---- the Prometheus text format ---- */

#define MAX_LABELS 8

typedef struct sample {
  char name[128];
  char label[MAX_LABELS][2][512]; /* name, value (unescaped) */
  int nlabels;
  double value;
} sample;

typedef struct metrics {
  sample *v;
  size_t n;
  char types[64][2][128]; /* family, type */
  size_t ntypes;
} metrics;

static int name_char(char c, int first, int colon) {
  return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (!first && c >= '0' && c <= '9') || (colon && c == ':');
}

/* A metric name (colons allowed) or a label name at *p, into `out`. */
static void read_name(const char **p, char *out, size_t cap, int colon, const char *line) {
  size_t n = 0;
  while (name_char((*p)[n], n == 0, colon) && n + 1 < cap)
    n++;
  if (n == 0)
    T_FAIL("metrics: no name where one belongs: %s", line);
  memcpy(out, *p, n);
  out[n] = 0;
  *p += n;
}

/* Reads `"VALUE"` at *p, unescaping \\, \" and \n (no other escape
 * is allowed), into `out`. */
static void read_label_value(const char **p, char *out, size_t cap, const char *line) {
  if (**p != '"')
    T_FAIL("metrics: a label value is not quoted: %s", line);
  size_t n = 0;
  for ((*p)++; **p != '"'; (*p)++) {
    char c = **p;
    if (c == 0 || c == '\n')
      T_FAIL("metrics: unterminated label value: %s", line);
    if (c == '\\') {
      (*p)++;
      c = **p == 'n' ? '\n' : **p == '\\' ? '\\' : **p == '"' ? '"' : 0;
      if (!c)
        T_FAIL("metrics: escape \\%c in a label value: %s", **p, line);
    }
    T_TRUE(n + 1 < cap);
    out[n++] = c;
  }
  out[n] = 0;
  (*p)++;
}

static const char *type_of(const metrics *m, const char *family) {
  for (size_t i = 0; i < m->ntypes; i++)
    if (strcmp(m->types[i][0], family) == 0)
      return m->types[i][1];
  return NULL;
}

/* Parses `text` into `m`, failing on anything the format does not allow
 * (or that ward promises beyond it: HELP before TYPE, counters named
 * _total, no timestamps). */
static void parse_metrics(const char *text, metrics *m) {
  memset(m, 0, sizeof *m);
  char helped[64][128];
  size_t nhelped = 0;
  char current[128] = ""; /* the family whose samples come now */
  char *copy = strdup(text);
  T_TRUE(copy != NULL);
  T_TRUE(text[0] && text[strlen(text) - 1] == '\n');
  for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    const char *p = line;
    char name[128];
    if (strncmp(p, "# HELP ", 7) == 0) {
      p += 7;
      read_name(&p, name, sizeof name, 1, line);
      T_TRUE(*p == ' ');
      for (const char *e = strchr(p, '\\'); e; e = strchr(e + 2, '\\'))
        if (e[1] != '\\' && e[1] != 'n')
          T_FAIL("metrics: escape \\%c in HELP: %s", e[1], line);
      for (size_t i = 0; i < nhelped; i++)
        if (strcmp(helped[i], name) == 0)
          T_FAIL("metrics: HELP twice for %s", name);
      T_TRUE(nhelped < 64);
      snprintf(helped[nhelped++], sizeof helped[0], "%s", name);
      continue;
    }
    if (strncmp(p, "# TYPE ", 7) == 0) {
      p += 7;
      read_name(&p, name, sizeof name, 1, line);
      T_TRUE(*p++ == ' ');
      if (strcmp(p, "counter") && strcmp(p, "gauge") && strcmp(p, "untyped") &&
          strcmp(p, "summary") && strcmp(p, "histogram"))
        T_FAIL("metrics: type '%s': %s", p, line);
      if (type_of(m, name))
        T_FAIL("metrics: TYPE twice for %s", name);
      if (nhelped == 0 || strcmp(helped[nhelped - 1], name) != 0)
        T_FAIL("metrics: TYPE of %s without its HELP just before", name);
      if (strcmp(p, "counter") == 0 && (strlen(name) < 6 || strcmp(name + strlen(name) - 6, "_total")))
        T_FAIL("metrics: counter %s is not named _total", name);
      T_TRUE(m->ntypes < 64);
      snprintf(m->types[m->ntypes][0], sizeof m->types[0][0], "%s", name);
      snprintf(m->types[m->ntypes][1], sizeof m->types[0][1], "%s", p);
      m->ntypes++;
      snprintf(current, sizeof current, "%s", name);
      continue;
    }
    if (*p == '#' || *p == 0)
      T_FAIL("metrics: a line that is neither HELP, TYPE nor a sample: '%s'", line);
    sample s;
    memset(&s, 0, sizeof s);
    read_name(&p, s.name, sizeof s.name, 1, line);
    if (!type_of(m, s.name))
      T_FAIL("metrics: sample of %s before its TYPE: %s", s.name, line);
    if (strcmp(s.name, current) != 0)
      T_FAIL("metrics: sample of %s among those of %s (a family's samples go together)",
             s.name, current);
    if (*p == '{') {
      p++;
      while (*p != '}') {
        T_TRUE(s.nlabels < MAX_LABELS);
        read_name(&p, s.label[s.nlabels][0], sizeof s.label[0][0], 0, line);
        if (*p++ != '=')
          T_FAIL("metrics: label without '=': %s", line);
        read_label_value(&p, s.label[s.nlabels][1], sizeof s.label[0][1], line);
        s.nlabels++;
        if (*p == ',')
          p++;
        else if (*p != '}')
          T_FAIL("metrics: labels not separated by commas: %s", line);
      }
      p++;
    }
    if (*p++ != ' ')
      T_FAIL("metrics: no space before the value: %s", line);
    char *end;
    errno = 0;
    s.value = strtod(p, &end);
    if (end == p || *end || errno)
      T_FAIL("metrics: '%s' is not a float (nor does ward write a timestamp): %s", p, line);
    /* No two samples of a family with the same labels. */
    for (size_t i = 0; i < m->n; i++) {
      const sample *o = &m->v[i];
      int same = strcmp(o->name, s.name) == 0 && o->nlabels == s.nlabels;
      for (int k = 0; same && k < s.nlabels; k++)
        same = strcmp(o->label[k][0], s.label[k][0]) == 0 &&
               strcmp(o->label[k][1], s.label[k][1]) == 0;
      if (same)
        T_FAIL("metrics: two samples %s with the same labels", s.name);
    }
    m->v = realloc(m->v, (m->n + 1) * sizeof *m->v);
    T_TRUE(m->v != NULL);
    m->v[m->n++] = s;
  }
  free(copy);
}

static void metrics_free(metrics *m) {
  free(m->v);
  memset(m, 0, sizeof *m);
}

static const char *label(const sample *s, const char *name) {
  for (int k = 0; k < s->nlabels; k++)
    if (strcmp(s->label[k][0], name) == 0)
      return s->label[k][1];
  return NULL;
}

/* The sample of `family` for instance `name` (NULL: the one without
 * labels), or NULL. */
static const sample *find(const metrics *m, const char *family, const char *name) {
  for (size_t i = 0; i < m->n; i++) {
    const sample *s = &m->v[i];
    const char *n = label(s, "name");
    if (strcmp(s->name, family) == 0 && (name ? n && strcmp(n, name) == 0 : s->nlabels == 0))
      return s;
  }
  return NULL;
}

/* The value of the sample of `family` for `name`, which must be there. */
static double val(const metrics *m, const char *family, const char *name) {
  const sample *s = find(m, family, name);
  if (!s)
    T_FAIL("/metrics has no %s{name=\"%s\"}", family, name ? name : "");
  return s->value;
}

/* /metrics now, parsed (and checked). */
static void get_metrics(metrics *m) {
  page p;
  fetch(&p, "GET", "/metrics");
  EXPECT_PAGE(&p, p.code == 200);
  char type[128];
  EXPECT_PAGE(&p, header(&p, "Content-Type", type, sizeof type) &&
                      strcmp(type, "text/plain; version=0.0.4; charset=utf-8") == 0);
  T_EQ_INT(strlen(p.body), p.body_len); /* no NUL inside */
  parse_metrics(p.body, m);
  page_free(&p);
}

/* Polls /metrics until the sample of `family` for `name` has `want` (or
 * more, when `more`). */
static void wait_metric_from(const char *family, const char *name, double want, int more) {
  int64_t deadline = t_now_ms() + 30000;
  for (;;) {
    metrics m;
    get_metrics(&m);
    const sample *s = find(&m, family, name);
    int ok = s && (s->value == want || (more && s->value > want));
    double was = s ? s->value : NAN;
    metrics_free(&m);
    if (ok)
      return;
    if (t_now_ms() > deadline) {
      dump_daemon_log();
      T_FAIL("%s{name=\"%s\"} is %g, not %s%g, after 30 s", family, name ? name : "", was,
             more ? "at least " : "", want);
    }
    pause_ms(50);
  }
}

static void wait_metric(const char *family, const char *name, double want) {
  wait_metric_from(family, name, want, 0);
}

/* Polls /readyz until it answers `code`; its body then, in `out`. */
static void wait_readyz(int code, char **out) {
  int64_t deadline = t_now_ms() + 30000;
  for (;;) {
    page p;
    fetch(&p, "GET", "/readyz");
    if (p.code == code) {
      if (out)
        *out = strdup(p.body);
      page_free(&p);
      return;
    }
    if (t_now_ms() > deadline) {
      dump_daemon_log();
      EXPECT_PAGE(&p, p.code == code);
    }
    page_free(&p);
    pause_ms(50);
  }
}

/* ---- tests ---- */

static void expect_check(const char *http, int code, const char *err) {
  write_http_conf(http, "[service a]\ncommand = sleep 1000\n");
  run_result r;
  RUN(&r, "run", "--check", conf_path);
  EXPECT(&r, r.code == code);
  EXPECT(&r, strstr(r.err, err) != NULL);
  run_result_free(&r);
}

/* --check refuses a malformed address with its line, and takes the
 * forms docs/cli.md names. */
static void test_check(void) {
  static const char *const bad[] = {"127.0.0.1",      "127.0.0.1:",    ":9180",
                                    "127.0.0.1:65536", "example.com:80", "[::1]",
                                    "::1:9180",       "[::1:9180",     "127.0.0.1:80x",
                                    "9180 9181",      "-1",            "[nothing]:80"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char want[256];
    snprintf(want, sizeof want,
             ":4: http: '%s' is not an address (PORT, IPV4:PORT, localhost:PORT or "
             "[IPV6]:PORT) or none",
             bad[i]);
    expect_check(bad[i], 3, want);
  }
  static const char *const good[] = {"9180", "127.0.0.1:0", "0.0.0.0:9180", "localhost:9180",
                                     "[::1]:9180", "[::]:0", "none"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    expect_check(good[i], 0, "");
}

/* An address that cannot be bound stops ward run before any service
 * starts, saying why. */
static void test_bind_failure(void) {
  int port;
  int held = hold_port(&port);
  char http[64], mark[160], svc[256], want[160];
  snprintf(http, sizeof http, "127.0.0.1:%d", port);
  snprintf(mark, sizeof mark, "%s/started", dir);
  snprintf(svc, sizeof svc, "[service first]\ncommand = touch %s\nready = up 0\n", mark);
  write_http_conf(http, svc);
  run_result r;
  RUN(&r, "run", conf_path);
  snprintf(want, sizeof want, "ward run: http 127.0.0.1:%d: bind: Address already in use\n", port);
  EXPECT(&r, r.code == 1 && strcmp(r.err, want) == 0);
  run_result_free(&r);
  close(held);
  /* An address that is not this host's (TEST-NET-1: never assigned). */
  write_http_conf("192.0.2.1:9180", svc);
  RUN(&r, "run", conf_path);
  EXPECT(&r, r.code == 1 &&
                 strstr(r.err, "http 192.0.2.1:9180: bind: Cannot assign requested address"));
  run_result_free(&r);
  struct stat st;
  T_TRUE(stat(mark, &st) != 0);
  T_TRUE(stat(sock, &st) != 0);
}

/* /status is the document of `ward ctl status --json`: the same rows and
 * daemon, only the clocks and the control connection apart. */
static void expect_status_same(void) {
  page p;
  fetch(&p, "GET", "/status");
  EXPECT_PAGE(&p, p.code == 200);
  char type[64];
  EXPECT_PAGE(&p, header(&p, "Content-Type", type, sizeof type) &&
                      strcmp(type, "application/json") == 0);
  json_error_t je;
  json_t *web = json_loads(p.body, 0, &je), *ctl = status();
  EXPECT_PAGE(&p, web != NULL);
  json_t *docs[2] = {web, ctl};
  for (int i = 0; i < 2; i++) {
    json_t *dm = json_object_get(docs[i], "daemon");
    json_object_del(dm, "uptime_ms");
    json_object_del(dm, "control_connections");
    size_t k;
    json_t *row;
    json_array_foreach(json_object_get(docs[i], "services"), k, row) {
      json_object_del(row, "uptime_ms");
      json_object_del(row, "rss_bytes");
      json_object_del(row, "cpu_ms");
    }
  }
  if (!json_equal(web, ctl)) {
    char *a = json_dumps(web, 0), *b = json_dumps(ctl, 0);
    T_FAIL("/status: %s\nward ctl status --json: %s", a, b);
  }
  T_EQ_STR(json_string_value(json_object_get(json_object_get(web, "daemon"), "http")), address);
  json_decref(web);
  json_decref(ctl);
  page_free(&p);
}

/* Every page, its codes and bodies, and figures that follow the
 * services: up, ready, restarts and last exits, through a crash, a stop,
 * a start and a crash loop. */
static void test_pages(void) {
  write_http_conf("127.0.0.1:0", "[service web]\ncommand = sleep 1000\nready = up 0\ninstances = 2\n"
                            "[service db]\ncommand = sleep 1000\nready = up 0\nbackoff = 50ms\n");
  start_http_daemon();
  T_TRUE(strncmp(address, "127.0.0.1:", 10) == 0 && strcmp(address, "127.0.0.1:0") != 0);
  char *body;
  wait_readyz(200, &body);
  T_EQ_STR(body, "ready\n");
  free(body);

  page p;
  fetch(&p, "GET", "/healthz");
  EXPECT_PAGE(&p, p.code == 200 && strcmp(p.body, "ok\n") == 0);
  char v[128];
  EXPECT_PAGE(&p, header(&p, "Cache-Control", v, sizeof v) && strcmp(v, "no-store") == 0);
  page_free(&p);
  expect_status_same();

  metrics m;
  get_metrics(&m);
  T_TRUE(val(&m, "ward_services", NULL) == 2);
  T_TRUE(val(&m, "ward_daemon_uptime_seconds", NULL) >= 0);
  static const char *const names[] = {"web.1", "web.2", "db"};
  for (int i = 0; i < 3; i++) {
    T_TRUE(val(&m, "ward_service_up", names[i]) == 1);
    T_TRUE(val(&m, "ward_service_ready", names[i]) == 1);
    T_TRUE(val(&m, "ward_service_restarts_total", names[i]) == 0);
    T_TRUE(val(&m, "ward_service_uptime_seconds", names[i]) >= 0);
    T_TRUE(find(&m, "ward_service_last_exit_code", names[i]) == NULL);
    T_TRUE(find(&m, "ward_service_last_exit_signal", names[i]) == NULL);
    /* Not without /proc (the portable backend): then left out. */
    const sample *rss = find(&m, "ward_service_resident_memory_bytes", names[i]);
    const sample *cpu = find(&m, "ward_service_cpu_seconds_total", names[i]);
    if (getenv("WARD_TEST_NO_FIGURES"))
      T_TRUE(rss == NULL && cpu == NULL);
    else
      T_TRUE(rss && rss->value > 0 && cpu && cpu->value >= 0);
  }
  for (int i = 0; i < 3; i++) {
    T_TRUE(val(&m, "ward_service_paused", names[i]) == 0);
    /* Pressure where the instance has a cgroup (this machine may give
     * none): a ratio. */
    const sample *pc = find(&m, "ward_service_cpu_pressure_ratio", names[i]);
    T_TRUE(pc == NULL || (pc->value >= 0 && pc->value <= 1));
  }
  T_EQ_STR(label(find(&m, "ward_service_up", "web.2"), "service"), "web");
  T_EQ_STR(type_of(&m, "ward_service_restarts_total"), "counter");
  T_EQ_STR(type_of(&m, "ward_service_up"), "gauge");
  metrics_free(&m);

  /* Paused, then resumed. */
  run_result r;
  CTL(&r, "pause", "db");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  wait_metric("ward_service_paused", "db", 1);
  CTL(&r, "resume", "db");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  wait_metric("ward_service_paused", "db", 0);

  /* A crash: a restart counted, the signal said, ready again. */
  CTL(&r, "signal", "db", "KILL");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  wait_metric("ward_service_restarts_total", "db", 1);
  wait_metric("ward_service_last_exit_signal", "db", SIGKILL);
  wait_metric("ward_service_ready", "db", 1);
  get_metrics(&m);
  T_TRUE(find(&m, "ward_service_last_exit_code", "db") == NULL);
  metrics_free(&m);
  wait_readyz(200, NULL);

  /* A stopped service: down, not ready, and /readyz says which. */
  CTL(&r, "stop", "web");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  get_metrics(&m);
  T_TRUE(val(&m, "ward_service_up", "web.1") == 0);
  T_TRUE(val(&m, "ward_service_up", "web.2") == 0);
  T_TRUE(val(&m, "ward_service_ready", "web.1") == 0);
  T_TRUE(val(&m, "ward_service_up", "db") == 1);
  T_TRUE(find(&m, "ward_service_uptime_seconds", "web.1") == NULL);
  metrics_free(&m);
  fetch(&p, "GET", "/readyz");
  EXPECT_PAGE(&p, p.code == 503 &&
                      strcmp(p.body, "not ready\nweb.1: stopped\nweb.2: stopped\n") == 0);
  page_free(&p);
  /* HEAD: the same status and length, no body. */
  fetch(&p, "HEAD", "/readyz");
  EXPECT_PAGE(&p, p.code == 503 && p.body_len == 0);
  EXPECT_PAGE(&p, header(&p, "Content-Length", v, sizeof v) &&
                      atoi(v) == (int)strlen("not ready\nweb.1: stopped\nweb.2: stopped\n"));
  page_free(&p);

  /* Started again: ready flips back. */
  CTL(&r, "start", "web");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  wait_readyz(200, NULL);
  get_metrics(&m);
  T_TRUE(val(&m, "ward_service_ready", "web.1") == 1);
  T_TRUE(val(&m, "ward_service_up", "web.2") == 1);
  metrics_free(&m);

  /* A crash loop (added by SIGHUP, which does not wait for it): 503
   * while it goes on, its exit code, its restarts. */
  write_http_conf("127.0.0.1:0", "[service web]\ncommand = sleep 1000\nready = up 0\ninstances = 2\n"
                            "[service db]\ncommand = sleep 1000\nready = up 0\nbackoff = 50ms\n"
                            "[service loop]\ncommand = sh -c 'exit 3'\nready = up 1s\n"
                            "backoff = 50ms\nbackoff_max = 100ms\nmax_restarts = 256\n");
  kill(daemon_pid, SIGHUP);
  wait_metric("ward_service_last_exit_code", "loop", 3);
  wait_metric_from("ward_service_restarts_total", "loop", 3, 1);
  get_metrics(&m);
  T_TRUE(val(&m, "ward_services", NULL) == 3);
  T_TRUE(val(&m, "ward_service_ready", "loop") == 0);
  metrics_free(&m);
  fetch(&p, "GET", "/readyz");
  EXPECT_PAGE(&p, p.code == 503 && strncmp(p.body, "not ready\nloop: ", 16) == 0 &&
                      !strstr(p.body, "web") && !strstr(p.body, "db"));
  page_free(&p);
  /* Gone again: ready. */
  write_http_conf("127.0.0.1:0", "[service web]\ncommand = sleep 1000\nready = up 0\ninstances = 2\n"
                            "[service db]\ncommand = sleep 1000\nready = up 0\nbackoff = 50ms\n");
  kill(daemon_pid, SIGHUP);
  wait_readyz(200, NULL);
  get_metrics(&m);
  T_TRUE(val(&m, "ward_services", NULL) == 2);
  T_TRUE(find(&m, "ward_service_up", "loop") == NULL);
  metrics_free(&m);

  /* Other paths, other methods. */
  static const char *const missing[] = {"/", "/nope", "/metrics/", "/healthz/x", "/READYZ"};
  for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
    fetch(&p, "GET", missing[i]);
    EXPECT_PAGE(&p, p.code == 404 &&
                        strstr(p.body, "/healthz, /readyz, /status, /metrics and /logs"));
    page_free(&p);
  }
  static const char *const methods[] = {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
    fetch(&p, methods[i], i % 2 ? "/metrics" : "/healthz");
    EXPECT_PAGE(&p, p.code == 405);
    EXPECT_PAGE(&p, header(&p, "Allow", v, sizeof v) && strcmp(v, "GET, HEAD") == 0);
    page_free(&p);
  }
  /* Still serving after all that. */
  fetch(&p, "GET", "/healthz");
  EXPECT_PAGE(&p, p.code == 200);
  page_free(&p);
  stop_daemon();
}

/* The control connections held, as /metrics counts them. */
static void test_control_connections(void) {
  write_http_conf("127.0.0.1:0", "");
  start_http_daemon();
  wait_metric("ward_control_connections", NULL, 0);
  ward_client *a, *b;
  T_OK(ward_client_open(&a, sock));
  T_OK(ward_client_request(NULL, a, "ward.status", "{}", 2, 20000));
  wait_metric("ward_control_connections", NULL, 1);
  T_OK(ward_client_open(&b, sock));
  T_OK(ward_client_request(NULL, b, "ward.status", "{}", 2, 20000));
  wait_metric("ward_control_connections", NULL, 2);
  /* /status shows it too: each of them, the asker included. */
  ward_msg *reply;
  T_OK(ward_client_request(&reply, a, "ward.status", "{}", 2, 20000));
  json_error_t je;
  json_t *st = json_loadb(ward_msg_data(reply), ward_msg_len(reply), 0, &je);
  T_TRUE(st != NULL);
  T_EQ_INT(json_integer_value(json_object_get(json_object_get(st, "daemon"),
                                              "control_connections")),
           2);
  json_decref(st);
  ward_msg_free(reply);
  ward_client_free(a);
  wait_metric("ward_control_connections", NULL, 1);
  ward_client_free(b);
  wait_metric("ward_control_connections", NULL, 0);
  stop_daemon();
}

/* Label values with a backslash, a double quote and a line feed (the
 * configuration's path) come out escaped, and read back the same. */
static void test_escaping(void) {
  char odd[80], saved[sizeof conf_path];
  snprintf(odd, sizeof odd, "%s/a \"quoted\\ name\nover two lines", dir);
  T_TRUE(mkdir(odd, 0700) == 0);
  snprintf(saved, sizeof saved, "%s", conf_path);
  snprintf(conf_path, sizeof conf_path, "%s/ward.ini", odd);
  write_http_conf("127.0.0.1:0", "");
  start_http_daemon();
  page p;
  fetch(&p, "GET", "/metrics");
  EXPECT_PAGE(&p, strstr(p.body, "config=\"") &&
                      strstr(p.body, "/a \\\"quoted\\\\ name\\nover two lines/ward.ini\""));
  page_free(&p);
  metrics m;
  get_metrics(&m);
  const sample *info = NULL;
  for (size_t i = 0; i < m.n && !info; i++)
    if (strcmp(m.v[i].name, "ward_daemon_info") == 0)
      info = &m.v[i];
  T_TRUE(info && info->value == 1);
  T_EQ_STR(label(info, "version"), ward_version_string());
  T_EQ_STR(label(info, "config"), conf_path);
  T_EQ_STR(label(info, "socket"), sock);
  metrics_free(&m);
  stop_daemon();
  unlink(conf_path);
  rmdir(odd);
  snprintf(conf_path, sizeof conf_path, "%s", saved);
}

static void reload_expect(int code, const char *err) {
  run_result r;
  CTL(&r, "reload");
  EXPECT(&r, r.code == code && strstr(r.err, err));
  run_result_free(&r);
}

/* A reload with another address rebinds at once; one whose address
 * cannot be bound is refused whole, the old address serving on. */
static void test_reload(void) {
  write_http_conf("127.0.0.1:0", "");
  start_http_daemon();
  char first[96];
  snprintf(first, sizeof first, "%s", address);
  page p;

  /* Another address: the old one goes, the new one serves. A port that
   * was free a moment ago (held while the first was bound: another). */
  int port, held = hold_port(&port);
  close(held);
  char http[64];
  snprintf(http, sizeof http, "localhost:%d", port);
  write_http_conf(http, "");
  reload_expect(0, "");
  learn_address();
  char want[160];
  snprintf(want, sizeof want, "127.0.0.1:%d", port);
  T_EQ_STR(address, want);
  char line[160];
  snprintf(line, sizeof line, "http-listening - address=%s\n", address);
  wait_log(line);
  fetch(&p, "GET", "/healthz");
  EXPECT_PAGE(&p, p.code == 200);
  page_free(&p);
  fetch_at(&p, first, "GET", "/healthz");
  EXPECT_PAGE(&p, p.curl_exit == 7); /* could not connect */
  page_free(&p);

  /* A port that is taken: refused, nothing changes (nor does the service
   * the same file adds start). */
  held = hold_port(&port);
  snprintf(http, sizeof http, "127.0.0.1:%d", port);
  write_http_conf(http, "[service added]\ncommand = sleep 1000\nready = up 0\n");
  snprintf(want, sizeof want, "http 127.0.0.1:%d: bind: Address already in use", port);
  reload_expect(1, want);
  char logged[200];
  snprintf(logged, sizeof logged, "reload-refused - error=\"%s\"", want);
  wait_log(logged);
  char before[96];
  snprintf(before, sizeof before, "%s", address);
  learn_address();
  T_EQ_STR(address, before);
  fetch(&p, "GET", "/status");
  EXPECT_PAGE(&p, p.code == 200 && !strstr(p.body, "\"added\""));
  page_free(&p);
  close(held);

  /* None: nothing served, status says null. */
  write_http_conf("none", "");
  reload_expect(0, "");
  snprintf(line, sizeof line, "http-closed - address=%s\n", before);
  wait_log(line);
  learn_address();
  T_EQ_STR(address, "");
  fetch_at(&p, before, "GET", "/healthz");
  EXPECT_PAGE(&p, p.curl_exit == 7);
  page_free(&p);
  stop_daemon();
}

/* [::1] where this host has IPv6 loopback. */
static void test_ipv6(void) {
  int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  int have = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
  if (fd >= 0)
    close(fd);
  if (!have) {
    fprintf(stderr, "   (no IPv6 loopback here: not tried)\n");
    return;
  }
  write_http_conf("[::1]:0", "");
  start_http_daemon();
  T_TRUE(strncmp(address, "[::1]:", 6) == 0);
  page p;
  fetch(&p, "GET", "/healthz");
  EXPECT_PAGE(&p, p.code == 200 && strcmp(p.body, "ok\n") == 0);
  page_free(&p);
  stop_daemon();
}

/* ---- /logs ---- */

/* The configuration of the logging service (this binary, tslogsvc.h),
 * and of one that prints 60,000 lines at once and waits. */
static void write_logs_conf(const char *http) {
  char self[4096], text[4500];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  T_TRUE(n > 0);
  self[n] = 0;
  snprintf(text, sizeof text,
           "[service slogger]\ncommand = %s --svc-logs\nready = handshake\n\n"
           "[service chatty]\ncommand = sh -c 'yes a-line-of-text | head -n 60000; "
           "echo chatty-done; exec sleep 1000'\nready = up 0\n",
           self);
  write_http_conf(http, text);
}

/* The lines of a /logs body, parsed: a JSON array of its objects. */
static json_t *json_lines(const page *p) {
  json_t *v = json_array();
  for (const char *l = p->body; *l;) {
    const char *nl = strchr(l, '\n');
    EXPECT_PAGE(p, nl != NULL);
    json_error_t je;
    json_t *o = json_loadb(l, (size_t)(nl - l), 0, &je);
    EXPECT_PAGE(p, json_is_object(o));
    json_array_append_new(v, o);
    l = nl + 1;
  }
  return v;
}

static const char *text_of(json_t *o) { return json_string_value(json_object_get(o, "text")); }

/* GET PATH: 200 with `count` JSON lines, returned; the first's text
 * `first` unless NULL. */
static json_t *get_lines(const char *path, size_t count, const char *first) {
  page p;
  fetch(&p, "GET", path);
  char type[128];
  EXPECT_PAGE(&p, p.code == 200 && header(&p, "Content-Type", type, sizeof type) &&
                      strcmp(type, "application/x-ndjson") == 0);
  json_t *v = json_lines(&p);
  EXPECT_PAGE(&p, json_array_size(v) == count);
  EXPECT_PAGE(&p, !first || strcmp(text_of(json_array_get(v, 0)), first) == 0);
  page_free(&p);
  return v;
}

static void expect_code(const char *path, int code, const char *says) {
  page p;
  fetch(&p, "GET", path);
  if (p.code != code || !strstr(p.body, says))
    fprintf(stderr, "GET %s\n", path);
  EXPECT_PAGE(&p, p.code == code && strstr(p.body, says));
  page_free(&p);
}

/* Waits until GET PATH has `text`. */
static void wait_logs(const char *path, const char *text) {
  for (int64_t deadline = t_now_ms() + 30000;;) {
    page p;
    fetch(&p, "GET", path);
    int in = p.code == 200 && strstr(p.body, text) != NULL;
    page_free(&p);
    if (in)
      return;
    T_TRUE(t_now_ms() < deadline);
    pause_ms(20);
  }
}

/* Waits until the service's three lines are in. */
static void wait_slogger(void) { wait_logs("/logs?service=slogger", "a plain line"); }

static void test_logs(void) {
  write_logs_conf("127.0.0.1:0");
  start_http_daemon();
  wait_slogger();

  /* The objects of `ward ctl logs --json`, one a line. */
  json_t *v = get_lines("/logs?service=slogger", 3, "started");
  json_t *w = json_array_get(v, 1);
  T_EQ_STR(json_string_value(json_object_get(w, "instance")), "slogger");
  T_EQ_STR(json_string_value(json_object_get(w, "stream")), "record");
  T_EQ_STR(json_string_value(json_object_get(w, "level")), "warn");
  T_EQ_STR(text_of(w), "disk slow");
  T_TRUE(json_integer_value(json_object_get(w, "call_id")) == 0);
  T_TRUE(json_integer_value(json_object_get(w, "seq")) > 0);
  T_TRUE(json_integer_value(json_object_get(w, "time_ms")) > 0);
  json_t *fields = json_object_get(w, "fields");
  T_TRUE(json_object_size(fields) == 2);
  T_EQ_STR(json_string_value(json_object_get(fields, "path")), "/a b");
  T_EQ_STR(json_string_value(json_object_get(fields, "ms")), "250");
  json_t *plain = json_array_get(v, 2);
  T_EQ_STR(json_string_value(json_object_get(plain, "stream")), "stdout");
  T_TRUE(json_object_get(plain, "level") == NULL);
  json_decref(v);
  run_result r;
  CTL(&r, "--json", "logs", "slogger");
  EXPECT(&r, r.code == 0);
  json_t *ctl = json_loads(r.out, 0, NULL);
  page p;
  fetch(&p, "GET", "/logs?service=slogger");
  v = json_lines(&p);
  EXPECT_PAGE(&p, json_equal(v, ctl));
  page_free(&p);
  json_decref(v);
  json_decref(ctl);
  run_result_free(&r);

  /* Filters: a level up (by name or number), a call, a count. */
  json_decref(get_lines("/logs?service=slogger&level=warn", 1, "disk slow"));
  json_decref(get_lines("/logs?level=4&service=slogger", 1, "disk slow"));
  json_decref(get_lines("/logs?service=slogger&level=trace", 2, "started"));
  json_decref(get_lines("/logs?service=slogger&call=7", 0, NULL));
  json_decref(get_lines("/logs?service=slogger&last=1", 1, "a plain line"));
  json_decref(get_lines("/logs?service=slogger&last=0", 0, NULL));
  json_decref(get_lines("/logs?service=slogger&follow=0", 3, "started"));

  static const struct {
    const char *path;
    int code;
    const char *says;
  } refused[] = {
      {"/logs?service=nobody", 404, "no service or group 'nobody'"},
      {"/logs", 400, "service=NAME"},
      {"/logs?service=", 400, "service is a service's name"},
      {"/logs?service=slogger&level=loud", 400, "level is trace"},
      {"/logs?service=slogger&level=9", 400, "level is trace"},
      {"/logs?service=slogger&call=0", 400, "call is a call's id"},
      {"/logs?service=slogger&call=4294967296", 400, "call is a call's id"},
      {"/logs?service=slogger&last=-1", 400, "last is a count"},
      {"/logs?service=slogger&last=x", 400, "last is a count"},
      {"/logs?service=slogger&follow=2", 400, "follow is 0 or 1"},
      {"/logs?service=slogger&colour=red", 400, "unknown parameter 'colour'"},
      {"/logs?service=slogger&last=1&last=2", 400, "last given twice"},
  };
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
    expect_code(refused[i].path, refused[i].code, refused[i].says);
  stop_daemon();
}

/* One line from `fd` into `buf` (the newline dropped), waiting until
 * `deadline`: 1, or 0 at the end of the stream. */
static int read_line(int fd, char *buf, size_t cap, int64_t deadline) {
  size_t n = 0;
  for (;;) {
    int64_t left = deadline - t_now_ms();
    T_TRUE(left > 0);
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, (int)left) <= 0)
      continue;
    char c;
    ssize_t got = read(fd, &c, 1);
    if (got < 0 && errno == EINTR)
      continue;
    T_TRUE(got >= 0);
    if (got == 0)
      return 0;
    if (c == '\n') {
      buf[n] = 0;
      return 1;
    }
    T_TRUE(n + 1 < cap);
    buf[n++] = c;
  }
}

/* curl following PATH: its pid, its stdout in *fd. */
static pid_t follow_curl(const char *path, int *fd) {
  char url[256];
  snprintf(url, sizeof url, "http://%s%s", address, path);
  int out[2];
  T_TRUE(pipe2(out, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  char *argv[] = {"curl", "--silent", "--no-buffer", "--max-time", "120", url, NULL};
  pid_t pid;
  T_TRUE(posix_spawnp(&pid, "curl", &fa, NULL, argv, environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  *fd = out[0];
  return pid;
}

/* A follower of the service that printed much, which sends its request
 * and then reads nothing: its socket. */
static int stalled_follower(void) {
  wait_logs("/logs?service=chatty&last=1", "chatty-done");
  char host[96];
  snprintf(host, sizeof host, "%s", address);
  char *colon = strrchr(host, ':');
  T_TRUE(colon != NULL);
  *colon = 0;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
  T_TRUE(inet_pton(AF_INET, host, &a.sin_addr) == 1);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  T_TRUE(fd >= 0);
  int small = 4096; /* its window fills at once */
  T_TRUE(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
  T_TRUE(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
  /* Far more than the sockets between them hold: the daemon has a batch
   * it cannot send. */
  static const char req[] =
      "GET /logs?service=chatty&follow=1&last=100000 HTTP/1.1\r\nHost: x\r\n\r\n";
  T_TRUE(write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1));
  return fd;
}

/* The followers the daemon holds, as status says. */
static void wait_followers(int want) {
  for (int64_t deadline = t_now_ms() + 30000;;) {
    json_t *st = status();
    json_int_t n = json_integer_value(json_object_get(json_object_get(st, "daemon"), "followers"));
    json_decref(st);
    if (n == want)
      return;
    if (t_now_ms() >= deadline)
      T_FAIL("followers: %lld, not %d", (long long)n, want);
    pause_ms(20);
  }
}

/* The service logs "got usr1"; the follower reads it (skipping what it
 * had before). */
static void expect_followed(int fd, int64_t deadline) {
  run_result r;
  CTL(&r, "signal", "slogger", "USR1");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  char line[2048];
  for (;;) {
    if (!read_line(fd, line, sizeof line, deadline))
      T_FAIL("the stream ended before the record came");
    json_t *o = json_loads(line, 0, NULL);
    T_TRUE(json_is_object(o));
    int got = strcmp(text_of(o), "got usr1") == 0;
    if (got) {
      T_EQ_STR(json_string_value(json_object_get(o, "level")), "error");
      T_EQ_STR(json_string_value(json_object_get(json_object_get(o, "fields"), "signal")),
               "USR1");
    }
    json_decref(o);
    if (got)
      return;
  }
}

static void test_logs_follow(void) {
  write_logs_conf("127.0.0.1:0");
  start_http_daemon();
  wait_slogger();
  int64_t deadline = t_now_ms() + 60000;

  /* The lines there are, then what comes after the request. */
  int fd;
  pid_t curl = follow_curl("/logs?service=slogger&follow=1&level=info", &fd);
  char line[2048];
  T_TRUE(read_line(fd, line, sizeof line, deadline));
  T_TRUE(strstr(line, "\"text\":\"started\"") != NULL);
  T_TRUE(read_line(fd, line, sizeof line, deadline));
  T_TRUE(strstr(line, "\"text\":\"disk slow\"") != NULL);
  wait_followers(1);
  expect_followed(fd, deadline);

  /* One that reads nothing, with more to send than its socket takes,
   * holds up neither the daemon nor the other. */
  int stalled = stalled_follower();
  wait_followers(2);
  for (int i = 0; i < 20; i++)
    expect_followed(fd, deadline);
  page p;
  fetch(&p, "GET", "/status");
  EXPECT_PAGE(&p, p.code == 200);
  page_free(&p);
  fetch(&p, "GET", "/logs?service=slogger&last=1");
  EXPECT_PAGE(&p, p.code == 200 && strstr(p.body, "got usr1"));
  page_free(&p);

  /* A reload that moves the listener ends the streams, whole. */
  char old[96];
  snprintf(old, sizeof old, "%s", address);
  int port;
  int hold = hold_port(&port);
  close(hold); /* a port free a moment ago */
  char at[64];
  snprintf(at, sizeof at, "127.0.0.1:%d", port);
  write_logs_conf(at);
  run_result r;
  CTL(&r, "reload");
  EXPECT(&r, r.code == 0);
  run_result_free(&r);
  while (read_line(fd, line, sizeof line, deadline))
    ;
  T_EQ_INT(wait_exit(curl), 0); /* 18: cut off before the stream's end */
  close(fd);
  learn_address();
  T_TRUE(strcmp(address, old) != 0);
  close(stalled);

  /* The shutdown ends a follower's stream, whole. */
  curl = follow_curl("/logs?service=slogger&follow=1&last=0", &fd);
  wait_followers(1);
  kill(daemon_pid, SIGTERM);
  T_TRUE(read_line(fd, line, sizeof line, deadline) == 0);
  T_EQ_INT(wait_exit(curl), 0);
  close(fd);
  T_EQ_INT(wait_exit(daemon_pid), 0);
  daemon_pid = 0;
}

/* A follower whose client went is let go before any line wakes it. */
static void test_logs_hangup(void) {
  write_logs_conf("127.0.0.1:0");
  start_http_daemon();
  wait_slogger();
  int fd;
  pid_t curl = follow_curl("/logs?service=slogger&follow=1&last=0", &fd);
  wait_followers(1);
  kill(curl, SIGKILL);
  wait_exit(curl);
  close(fd);
  wait_followers(0);
  stop_daemon();
}

/* docs/cli.md says the listener's limits as http.h has them, and /logs's
 * default count as cli.h has it. */
static void test_docs(void) {
  char *text = t_squash(t_read_doc("docs/cli.md")), want[256];
  snprintf(want, sizeof want, "at most %d connections at once, each closed after %d s idle",
           HTTP_MAX_CONNS, HTTP_IDLE_SECONDS);
  if (!strstr(text, want))
    T_FAIL("docs/cli.md does not say: %s", want);
  snprintf(want, sizeof want, "At most %d follow at once", HTTP_MAX_FOLLOWERS);
  if (!strstr(text, want))
    T_FAIL("docs/cli.md does not say: %s", want);
  snprintf(want, sizeof want, "waits at most %d ms for the followers", HTTP_DRAIN_MS);
  if (!strstr(text, want))
    T_FAIL("docs/cli.md does not say: %s", want);
  snprintf(want, sizeof want, "(the last N lines, 0 or more; %d unless given)", CLI_LOGS_LAST);
  if (!strstr(text, want))
    T_FAIL("docs/cli.md does not say: %s", want);
  free(text);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--svc-logs") == 0)
    return svc_logs_main();
  tdaemon_setup(argc, argv, "test_http");
  T_RUN(test_check);
  T_RUN(test_bind_failure);
  T_RUN(test_pages);
  T_RUN(test_control_connections);
  T_RUN(test_escaping);
  T_RUN(test_reload);
  T_RUN(test_ipv6);
  T_RUN(test_logs);
  T_RUN(test_logs_follow);
  T_RUN(test_logs_hangup);
  T_RUN(test_docs);
  tdaemon_cleanup();
  return t_done();
}
