/*
 * test_slog.c — structured log records from workers (docs/protocol.md
 * 8.4): records with fields and call ids reach the host's ring, queries
 * filter them by level and call, events carry them, a flood of them stays
 * within the ring's budget while the host serves other workers, and
 * malformed ones are dropped (with a note) or cut the connection, as the
 * protocol says. Workers are this binary run with "--worker MODE", and
 * the Node package's fixture worker, whose records must reach the host
 * as the C library's do.
 */
#include <pthread.h>

#include "logring.h"
#include "slog.h"
#include "tevents.h"
#include "tworker.h"

static ward_host *host;

/* ------------------------------------------------------------------ */
/* The worker side                                                     */

static ward_client *w_client;

/* Three records for the call, one at each of info, warn and error, then
 * one outside it; replies "done". */
static int w_logs(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  ward_log_field f[] = {{"user", "ada"}, {"path", "/tmp/x y"}};
  if (ward_ctx_log(ctx, WARD_LEVEL_INFO, "opened", f, 2) ||
      ward_ctx_log(ctx, WARD_LEVEL_WARN, "slow disk", (ward_log_field[]){{"ms", "250"}}, 1) ||
      ward_ctx_log(ctx, WARD_LEVEL_ERROR, "tab\there, bell\a", NULL, 0) ||
      ward_client_log(w_client, WARD_LEVEL_DEBUG, "not in a call", NULL, 0))
    return WARD_EINVAL;
  return tw_reply_str(ctx, "\"done\"");
}

/* Refuses what breaks the rules, sending nothing. */
static int w_refuse(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  char big[WARD_LOG_VALUE_MAX + 2];
  memset(big, 'v', sizeof big - 1);
  big[sizeof big - 1] = 0;
  int bad = ward_ctx_log(ctx, 0, "no level", NULL, 0) == WARD_EINVAL &&
            ward_ctx_log(ctx, 6, "no level", NULL, 0) == WARD_EINVAL &&
            ward_ctx_log(ctx, WARD_LEVEL_INFO, NULL, NULL, 0) == WARD_EINVAL &&
            ward_ctx_log(ctx, WARD_LEVEL_INFO, "bad \xff", NULL, 0) == WARD_EINVAL &&
            ward_ctx_log(ctx, WARD_LEVEL_INFO, "m", (ward_log_field[]){{"a b", "1"}}, 1) ==
                WARD_EINVAL &&
            ward_ctx_log(ctx, WARD_LEVEL_INFO, "m", (ward_log_field[]){{"k", big}}, 1) ==
                WARD_EINVAL &&
            ward_ctx_log(ctx, WARD_LEVEL_INFO, "m", (ward_log_field[]){{"k", "1"}, {"k", "2"}},
                         2) == WARD_EINVAL;
  return tw_reply_str(ctx, bad ? "true" : "false");
}

/* Sends as many records as the payload says, each with a 200-byte field
 * (1000 bytes for "flood_big"), then replies. */
static int w_flood(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  size_t size = ud ? 1000 : 200;
  char num[32];
  snprintf(num, sizeof num, "%.*s", (int)(n < 31 ? n : 31), (const char *)d);
  long count = atol(num);
  char pad[1001];
  memset(pad, 'p', size);
  pad[size] = 0;
  for (long i = 1; i <= count; i++) {
    char msg[32];
    snprintf(msg, sizeof msg, "flood %ld", i);
    int rv = ward_ctx_log(ctx, WARD_LEVEL_INFO, msg, (ward_log_field[]){{"pad", pad}}, 1);
    if (rv)
      return rv;
  }
  return tw_reply_str(ctx, "\"flooded\"");
}

/* Logs through a client of the ward server at the path given: a server
 * takes no LOG frames, so the record goes to stderr as a line. */
static int w_via_server(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  char path[512];
  snprintf(path, sizeof path, "%.*s", (int)(n < sizeof path - 1 ? n : sizeof path - 1),
           (const char *)d);
  ward_client *c;
  int rv = ward_client_open(&c, path);
  if (!rv)
    rv = ward_client_log(c, WARD_LEVEL_WARN, "no LOG here",
                         (ward_log_field[]){{"k", "v"}, {"why", "a server"}}, 2);
  if (!rv)
    rv = ward_client_request(NULL, c, "echo", "1", 1, 20000);
  ward_client_free(c);
  return rv ? ward_ctx_fail(ctx, rv, ward_last_error()) : tw_reply_str(ctx, "\"ok\"");
}

static int w_serve(void) {
  if (ward_client_connect(&w_client))
    return 2;
  ward_client_handle(w_client, "logs", w_logs, NULL);
  ward_client_handle(w_client, "refuse", w_refuse, NULL);
  ward_client_handle(w_client, "flood", w_flood, NULL);
  ward_client_handle(w_client, "flood_big", w_flood, "big");
  ward_client_handle(w_client, "echo", tw_echo, NULL);
  ward_client_handle(w_client, "say", tw_say, NULL);
  ward_client_handle(w_client, "via_server", w_via_server, NULL);
  int rv = ward_client_run(w_client);
  ward_client_free(w_client);
  return rv == 0 ? 0 : 1;
}

/* A worker of its own making: raw frames on its channel. */
static int raw_fd(void) { return atoi(getenv("WARD_FD") ? getenv("WARD_FD") : "3"); }

static void raw_read(void *b, size_t n) {
  uint8_t *p = b;
  while (n) {
    ssize_t r = read(raw_fd(), p, n);
    if (r <= 0)
      _exit(r == 0 ? 0 : 97);
    p += r;
    n -= (size_t)r;
  }
}

/* Reads one frame's header and skips its body; returns its kind. */
static int raw_frame(void) {
  uint8_t hb[WARD__HDR_SIZE];
  raw_read(hb, sizeof hb);
  ward__hdr h;
  if (ward__hdr_get(&h, hb, 1u << 20))
    _exit(96);
  size_t left = (size_t)h.nlen + h.len;
  while (left) {
    uint8_t junk[4096];
    size_t k = left < sizeof junk ? left : sizeof junk;
    raw_read(junk, k);
    left -= k;
  }
  return h.kind;
}

static void raw_send(uint8_t kind, uint32_t id, uint32_t aux, const void *p, size_t n) {
  uint8_t *f = malloc(WARD__HDR_SIZE + n);
  ward__hdr h = {.kind = kind, .len = (uint32_t)n, .id = id, .aux = aux};
  ward__frame_put(f, &h, NULL, p);
  tw_raw(f, WARD__HDR_SIZE + n);
  free(f);
}

static void raw_record(int level, uint32_t id, const char *msg, size_t mlen,
                       const ward__recfield *f, size_t nf) {
  ward__rec r = {.level = level, .call_id = id, .msg = msg, .mlen = mlen, .nfields = nf};
  for (size_t i = 0; i < nf && i < WARD_LOG_FIELDS_MAX; i++)
    r.f[i] = f[i];
  size_t n = ward__rec_size(&r);
  uint8_t *p = malloc(n);
  ward__rec_put(p, &r);
  raw_send(WARD__K_LOG, id, (uint32_t)level, p, n);
  free(p);
}

static void raw_handshake(void) {
  char hello[64];
  int n = snprintf(hello, sizeof hello, "pid=%d\n", (int)getpid());
  uint8_t f[WARD__HDR_SIZE + 3 + 64];
  ward__hdr h = {.kind = WARD__K_HELLO, .nlen = 3, .len = (uint32_t)n, .aux = 1};
  ward__frame_put(f, &h, "raw", hello);
  tw_raw(f, WARD__HDR_SIZE + 3 + (size_t)n);
  if (raw_frame() != WARD__K_WELCOME)
    _exit(95);
}

/* Records that break each rule, then a good one; then waits for the
 * host's goodbye. */
static int w_bad_records(void) {
  raw_handshake();
  raw_record(9, 0, "level nine", 10, NULL, 0);
  raw_record(0, 0, "level zero", 10, NULL, 0);
  raw_record(WARD_LEVEL_INFO, 0, "bad \xc3\x28 utf8", 11, NULL, 0);
  raw_record(WARD_LEVEL_INFO, 0, "nul \0 inside", 12, NULL, 0);
  static char big[WARD_LOG_MESSAGE_MAX + 1];
  memset(big, 'm', sizeof big);
  raw_record(WARD_LEVEL_INFO, 0, big, sizeof big, NULL, 0);
  /* 33 fields "k"="v" (ward__rec holds 32: written by hand) */
  uint8_t many[8 + 33 * 10] = {4, 0, 0, 0, 'm', 'a', 'n', 'y'};
  for (size_t i = 0; i < 33; i++)
    memcpy(many + 8 + i * 10, "\1\0\0\0k\1\0\0\0v", 10);
  raw_send(WARD__K_LOG, 0, WARD_LEVEL_INFO, many, sizeof many);
  static char bigval[WARD_LOG_VALUE_MAX + 1];
  memset(bigval, 'v', sizeof bigval);
  raw_record(WARD_LEVEL_INFO, 0, "bigval", 6,
             (ward__recfield[]){{"k", 1, bigval, sizeof bigval}}, 1);
  raw_record(WARD_LEVEL_INFO, 0, "badkey", 6, (ward__recfield[]){{"a=b", 3, "v", 1}}, 1);
  raw_record(WARD_LEVEL_INFO, 0, "emptykey", 8, (ward__recfield[]){{"", 0, "v", 1}}, 1);
  raw_record(WARD_LEVEL_INFO, 0, "nulval", 6, (ward__recfield[]){{"k", 1, "a\0b", 3}}, 1);
  raw_record(WARD_LEVEL_INFO, 0, "twice", 5,
             (ward__recfield[]){{"k", 1, "1", 1}, {"j", 1, "2", 1}, {"k", 1, "3", 1}}, 3);
  raw_record(WARD_LEVEL_INFO, 7, "after", 5, (ward__recfield[]){{"ok", 2, "yes", 3}}, 1);
  for (;;)
    if (raw_frame() == WARD__K_GOODBYE)
      return 0;
}

/* A LOG frame whose payload ends inside its message (mode "truncated") or
 * inside a field (mode "halffield"). */
static int w_truncated(int half) {
  raw_handshake();
  if (half) {
    /* message "m", then a key "k" without its value */
    static const uint8_t p[] = {1, 0, 0, 0, 'm', 1, 0, 0, 0, 'k'};
    raw_send(WARD__K_LOG, 0, WARD_LEVEL_INFO, p, sizeof p);
  } else {
    static const uint8_t p[] = {5, 0, 0, 0, 'a', 'b'};
    raw_send(WARD__K_LOG, 0, WARD_LEVEL_INFO, p, sizeof p);
  }
  for (;;)
    if (raw_frame() == WARD__K_GOODBYE)
      return 0;
}

/* ------------------------------------------------------------------ */
/* The host side                                                       */

/* The record events seen, in order. */
typedef struct rec_ev {
  uint64_t worker_id;
  int level;
  uint32_t call_id;
  int flags;
  char text[64];
  char field0[64]; /* "key=value" of its first field, or "" */
  size_t nfields;
} rec_ev;
static pthread_mutex_t rec_mu = PTHREAD_MUTEX_INITIALIZER;
static rec_ev recs[64];
static int nrecs;

/* Worker "slowev": its first record event holds the callback (the loop's
 * thread) until the test releases it; its record events are counted. */
static pthread_cond_t slow_cv = PTHREAD_COND_INITIALIZER;
static int slow_held, slow_release, slow_events, slow_opened;

static void slow_event(const ward_event *ev) {
  pthread_mutex_lock(&rec_mu);
  slow_events++;
  if (strcmp(ev->detail, "opened") == 0)
    slow_opened++;
  if (!slow_held) {
    slow_held = 1;
    pthread_cond_broadcast(&slow_cv);
    while (!slow_release)
      pthread_cond_wait(&slow_cv, &rec_mu);
  }
  pthread_mutex_unlock(&rec_mu);
}

static void on_event(const ward_event *ev, void *ud) {
  if (ev->type == WARD_EV_LOG && ev->stream == WARD_LOG_RECORD &&
      strcmp(ev->name, "slowev") == 0) {
    slow_event(ev);
    return; /* thousands: kept out of tevents' log, which holds 4096 */
  } else if (ev->type == WARD_EV_LOG && ev->stream == WARD_LOG_RECORD) {
    pthread_mutex_lock(&rec_mu);
    if (nrecs < 64) {
      rec_ev *r = &recs[nrecs++];
      r->worker_id = ev->worker_id;
      r->level = ev->level;
      r->call_id = ev->call_id;
      r->flags = ev->log_flags;
      r->nfields = ev->nfields;
      snprintf(r->text, sizeof r->text, "%s", ev->detail);
      r->field0[0] = 0;
      if (ev->nfields)
        snprintf(r->field0, sizeof r->field0, "%s=%s", ev->fields[0].key, ev->fields[0].value);
    }
    pthread_mutex_unlock(&rec_mu);
  }
  tev_on_event(ev, ud);
}

static ward_worker *spawn(const char *name, const char *mode, size_t ring, int events) {
  ward_spec *s = tw_spec(name, mode);
  if (ring)
    T_OK(ward_spec_log_ring(s, ring));
  T_OK(ward_spec_log_events(s, events));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  return w;
}

static void call_done(ward_call *call, int status, ward_msg *reply, void *ud) {
  (void)call, (void)ud;
  ward_msg_free(reply);
  T_OK(status);
}

static ward_log_entry *entries(ward_worker *w, const ward_log_query *q, size_t *n) {
  ward_log_entry *v;
  T_OK(ward_worker_log_entries(&v, n, w, q));
  return v;
}

static void test_round_trip(void) {
  ward_worker *w = spawn("slog", "slog_serve", 0, 1);
  ward_call *call;
  T_OK(ward_call_start(&call, w, "logs", "{}", 2, NULL, call_done, NULL));
  T_OK(ward_call_wait(call, 20000));
  uint32_t id = ward_call_id(call);
  T_TRUE(id != 0);
  ward_call_free(call);

  size_t n;
  ward_log_entry *v = entries(w, NULL, &n);
  T_EQ_INT(n, 4);
  T_EQ_INT(v[0].stream, WARD_LOG_RECORD);
  T_EQ_INT(v[0].level, WARD_LEVEL_INFO);
  T_EQ_INT(v[0].call_id, id);
  T_EQ_STR(v[0].text, "opened");
  T_EQ_INT(v[0].nfields, 2);
  T_EQ_STR(v[0].fields[0].key, "user");
  T_EQ_STR(v[0].fields[0].value, "ada");
  T_EQ_STR(v[0].fields[1].key, "path");
  T_EQ_STR(v[0].fields[1].value, "/tmp/x y");
  T_EQ_INT(v[0].generation, 1);
  T_EQ_INT(v[1].level, WARD_LEVEL_WARN);
  T_EQ_STR(v[1].fields[0].value, "250");
  /* Control bytes but tab are shown as '?', as in captured lines. */
  T_EQ_INT(v[2].level, WARD_LEVEL_ERROR);
  T_EQ_STR(v[2].text, "tab\there, bell?");
  T_EQ_INT(v[2].flags, WARD_LOG_BINARY);
  T_TRUE(v[2].fields == NULL && v[2].nfields == 0);
  T_EQ_INT(v[3].level, WARD_LEVEL_DEBUG);
  T_EQ_INT(v[3].call_id, 0);
  T_TRUE(v[0].seq < v[1].seq && v[1].seq < v[2].seq && v[2].seq < v[3].seq);
  ward_log_entries_free(v, n);

  /* The events carry the same. */
  tev_wait(WARD_EV_LOG, ward_worker_id(w));
  for (int tries = 0; tries < 2000; tries++) {
    pthread_mutex_lock(&rec_mu);
    int have = nrecs;
    pthread_mutex_unlock(&rec_mu);
    if (have >= 4)
      break;
    t_nap_ms(10);
  }
  pthread_mutex_lock(&rec_mu);
  T_EQ_INT(nrecs, 4);
  T_EQ_INT(recs[0].level, WARD_LEVEL_INFO);
  T_EQ_INT(recs[0].call_id, id);
  T_EQ_STR(recs[0].text, "opened");
  T_EQ_INT(recs[0].nfields, 2);
  T_EQ_STR(recs[0].field0, "user=ada");
  T_EQ_INT(recs[2].flags, WARD_LOG_BINARY);
  T_EQ_INT(recs[3].call_id, 0);
  nrecs = 0;
  pthread_mutex_unlock(&rec_mu);

  /* The worker's library refuses what breaks the rules. */
  ward_msg *m;
  T_OK(ward_request(&m, w, "refuse", "{}", 2, 20000));
  T_EQ_MEM(ward_msg_data(m), "true", 4);
  ward_msg_free(m);
  ward_worker_free(w);
}

static void test_filters(void) {
  ward_worker *w = spawn("slogq", "slog_serve", 0, 0);
  ward_call *c1, *c2;
  T_OK(ward_call_start(&c1, w, "logs", "{}", 2, NULL, call_done, NULL));
  T_OK(ward_call_wait(c1, 20000));
  T_OK(ward_call_start(&c2, w, "logs", "{}", 2, NULL, call_done, NULL));
  T_OK(ward_call_wait(c2, 20000));
  uint32_t id2 = ward_call_id(c2);
  T_TRUE(ward_call_id(c1) != id2);
  ward_call_free(c1);
  ward_call_free(c2);
  T_OK(ward_request(NULL, w, "say", "a line", 6, 20000));

  size_t n;
  ward_log_query q = WARD_LOG_QUERY_INIT;
  /* Everything: 8 records; the printed line arrives through its pipe. */
  for (int tries = 0;; tries++) {
    ward_log_entry *v = entries(w, &q, &n);
    ward_log_entries_free(v, n);
    if (n == 9 || tries > 2000)
      break;
    t_nap_ms(10);
  }
  T_EQ_INT(n, 9);

  q.min_level = WARD_LEVEL_WARN;
  ward_log_entry *v = entries(w, &q, &n);
  T_EQ_INT(n, 4);
  for (size_t i = 0; i < n; i++)
    T_TRUE(v[i].level >= WARD_LEVEL_WARN && v[i].stream == WARD_LOG_RECORD);
  ward_log_entries_free(v, n);

  q.min_level = 0;
  q.call_id = id2;
  v = entries(w, &q, &n);
  T_EQ_INT(n, 3);
  T_EQ_STR(v[0].text, "opened");
  for (size_t i = 0; i < n; i++)
    T_EQ_INT(v[i].call_id, id2);
  ward_log_entries_free(v, n);

  q.min_level = WARD_LEVEL_ERROR;
  v = entries(w, &q, &n);
  T_EQ_INT(n, 1);
  T_EQ_INT(v[0].level, WARD_LEVEL_ERROR);
  ward_log_entries_free(v, n);

  /* Streams: records alone, or lines alone. */
  q = (ward_log_query)WARD_LOG_QUERY_INIT;
  q.streams = WARD_LOG_RECORD;
  v = entries(w, &q, &n);
  T_EQ_INT(n, 8);
  ward_log_entries_free(v, n);
  q.streams = WARD_LOG_STDOUT | WARD_LOG_STDERR;
  v = entries(w, &q, &n);
  T_EQ_INT(n, 1);
  T_EQ_INT(v[0].level, 0);
  ward_log_entries_free(v, n);

  /* ward_worker_logs has the records as lines of their message; a caller
   * of an older ward.h (its query ends at `limit`) asks for its streams. */
  ward_log_line *lines;
  q = (ward_log_query)WARD_LOG_QUERY_INIT;
  q.call_id = id2;
  T_OK(ward_worker_logs(&lines, &n, w, &q));
  T_EQ_INT(n, 3);
  T_EQ_INT(lines[0].stream, WARD_LOG_RECORD);
  T_EQ_STR(lines[0].text, "opened");
  ward_log_lines_free(lines, n);
  q = (ward_log_query)WARD_LOG_QUERY_INIT;
  q.streams = WARD_LOG_STDOUT | WARD_LOG_STDERR;
  q.min_level = WARD_LEVEL_ERROR; /* past an old caller's struct: not read */
  q.struct_size = (uint32_t)(offsetof(ward_log_query, limit) + sizeof q.limit);
  T_OK(ward_worker_logs(&lines, &n, w, &q));
  T_EQ_INT(n, 1);
  T_EQ_STR(lines[0].text, "a line");
  ward_log_lines_free(lines, n);
  ward_worker_free(w);
}

/* The cost the ring counts for an entry (logring.c): its node and text. */
static size_t cost(const ward_log_entry *e) {
  size_t c = sizeof(ward__logline) + e->len + 1;
  for (size_t i = 0; i < e->nfields; i++)
    c += strlen(e->fields[i].key) + 1 + strlen(e->fields[i].value) + 1;
  return c;
}

typedef struct flood_arg {
  ward_worker *w;
  int rv;
} flood_arg;

static void *flood_thread(void *p) {
  flood_arg *a = p;
  a->rv = ward_request(NULL, a->w, "flood", "20000", 5, 120000);
  return NULL;
}

static void test_flood(void) {
  const size_t budget = 64 * 1024;
  ward_worker *w = spawn("flood", "slog_serve", budget, 0);
  ward_worker *other = spawn("other", "slog_serve", 0, 0);
  flood_arg a = {w, -1};
  pthread_t t;
  T_TRUE(pthread_create(&t, NULL, flood_thread, &a) == 0);
  /* While 20000 records (about 5 MB) pour in, the host serves another
   * worker, and the flooded ring never holds more than its budget. */
  int64_t start = t_now_ms();
  int calls = 0;
  uint64_t last_seq = 0;
  for (;;) {
    int64_t t0 = t_now_ms();
    T_OK(ward_request(NULL, other, "echo", "1", 1, 10000));
    T_TRUE(t_now_ms() - t0 < 5000);
    calls++;
    size_t n, sum = 0;
    ward_log_entry *v = entries(w, NULL, &n);
    for (size_t i = 0; i < n; i++)
      sum += cost(&v[i]);
    T_TRUE(sum <= budget);
    if (n)
      last_seq = v[n - 1].seq;
    ward_log_entries_free(v, n);
    if (last_seq >= 20000 || t_now_ms() - start > 120000)
      break;
  }
  T_TRUE(pthread_join(t, NULL) == 0);
  T_OK(a.rv);
  T_TRUE(calls > 0);
  size_t n;
  ward_log_entry *v = entries(w, NULL, &n);
  T_TRUE(n > 10 && n < 20000);
  T_EQ_STR(v[n - 1].text, "flood 20000");
  T_EQ_INT(v[n - 1].seq, 20000);
  ward_log_entries_free(v, n);
  ward_info i = WARD_INFO_INIT;
  T_OK(ward_worker_info(&i, w));
  T_EQ_INT(i.state, WARD_STATE_READY);
  ward_worker_free(w);
  ward_worker_free(other);
}

/* Records a caller's thread reads while the loop's thread is held in a
 * slow event callback do not pile up as events past the host's bound
 * (8 MiB): 20000 records of about 1 KiB make fewer events than that. */
static void test_events_bounded(void) {
  ward_worker *w = spawn("slowev", "slog_serve", 0, 1);
  T_OK(ward_request(NULL, w, "logs", "{}", 2, 20000));
  pthread_mutex_lock(&rec_mu);
  while (!slow_held)
    pthread_cond_wait(&slow_cv, &rec_mu);
  pthread_mutex_unlock(&rec_mu);
  /* The loop's thread is held: this thread reads the worker's records. */
  T_OK(ward_request(NULL, w, "flood_big", "20000", 5, 120000));
  pthread_mutex_lock(&rec_mu);
  slow_release = 1;
  pthread_cond_broadcast(&slow_cv);
  pthread_mutex_unlock(&rec_mu);
  /* Events flow again once those waiting are delivered. */
  for (int64_t deadline = t_now_ms() + 60000;;) {
    T_OK(ward_request(NULL, w, "logs", "{}", 2, 20000));
    pthread_mutex_lock(&rec_mu);
    int opened = slow_opened;
    pthread_mutex_unlock(&rec_mu);
    if (opened >= 2)
      break;
    T_TRUE(t_now_ms() < deadline);
  }
  pthread_mutex_lock(&rec_mu);
  int events = slow_events;
  pthread_mutex_unlock(&rec_mu);
  /* At about 1.1 KiB an event, 8 MiB holds some 7500 of the 20000. */
  T_TRUE(events > 1000 && events < 15000);
  /* The ring has the last of them all the same. */
  ward_log_query q = WARD_LOG_QUERY_INIT;
  q.streams = WARD_LOG_RECORD;
  q.min_level = WARD_LEVEL_INFO;
  size_t n;
  ward_log_entry *v = entries(w, &q, &n);
  T_TRUE(n > 0);
  ward_log_entries_free(v, n);
  ward_worker_free(w);
}

static void test_malformed_dropped(void) {
  ward_worker *w = spawn("bad", "slog_bad", 0, 0);
  size_t n = 0;
  ward_log_entry *v = NULL;
  for (int tries = 0; tries < 2000; tries++) {
    ward_log_entries_free(v, n);
    v = entries(w, NULL, &n);
    if (n >= 12)
      break;
    t_nap_ms(10);
  }
  for (size_t i = 0; n != 12 && i < n; i++)
    fprintf(stderr, "  entry %zu: stream %d: %s\n", i, v[i].stream, v[i].text);
  T_EQ_INT(n, 12);
  static const char *const why[] = {
      "unknown level", "unknown level", "message not UTF-8 or holding a NUL byte",
      "message not UTF-8 or holding a NUL byte", "message over 4096 bytes",
      "more than 32 fields", "a field value over 1024 bytes",
      "a field key empty, over 64 bytes, or not of [A-Za-z0-9_.-]",
      "a field key empty, over 64 bytes, or not of [A-Za-z0-9_.-]",
      "a field value not UTF-8 or holding a NUL byte", "a field key repeated"};
  for (size_t i = 0; i < 11; i++) {
    char want[160];
    snprintf(want, sizeof want, "log record dropped: %s", why[i]);
    T_EQ_STR(v[i].text, want);
    T_EQ_INT(v[i].flags, WARD_LOG_INVALID);
    T_EQ_INT(v[i].level, WARD_LEVEL_WARN);
    T_EQ_INT(v[i].nfields, 0);
  }
  T_EQ_STR(v[11].text, "after");
  T_EQ_INT(v[11].call_id, 7);
  T_EQ_INT(v[11].flags, 0);
  T_EQ_STR(v[11].fields[0].value, "yes");
  ward_log_entries_free(v, n);
  /* The worker is still there. */
  ward_info i = WARD_INFO_INIT;
  T_OK(ward_worker_info(&i, w));
  T_EQ_INT(i.state, WARD_STATE_READY);
  T_EQ_INT(tev_count(WARD_EV_ERROR, ward_worker_id(w)), 0);
  ward_worker_free(w);
}

static void truncated(const char *mode) {
  ward_worker *w = spawn(mode, mode, 0, 0);
  tev e = tev_wait(WARD_EV_ERROR, ward_worker_id(w));
  T_EQ_INT(e.error, WARD_EPROTO);
  T_TRUE(strstr(e.detail, "malformed LOG frame") != NULL);
  e = tev_wait(WARD_EV_EXITED, ward_worker_id(w));
  T_EQ_INT(e.reason, WARD_REASON_PROTOCOL);
  ward_worker_free(w);
}

static void test_truncated_is_violation(void) {
  truncated("slog_truncated");
  truncated("slog_halffield");
}

static void test_host_handler_refuses(void);

/* A forwarding spec copies records to the host's stderr as readable
 * lines, as it does captured lines. */
static void test_forwarded(void) {
  int saved = dup(2), p[2];
  T_TRUE(saved >= 0 && pipe(p) == 0);
  ward_spec *s = tw_spec("slogfwd", "slog_serve");
  T_OK(ward_spec_output(s, WARD_OUTPUT_FORWARD));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  T_TRUE(dup2(p[1], 2) == 2);
  close(p[1]);
  int rv = ward_request(NULL, w, "logs", "{}", 2, 20000);
  ward_worker_free(w); /* what was forwarded is written by now */
  dup2(saved, 2); /* the pipe's last writer goes: it reads to its end */
  close(saved);
  T_OK(rv);
  char got[8192];
  size_t n = 0;
  for (ssize_t r; n < sizeof got - 1 && (r = read(p[0], got + n, sizeof got - 1 - n)) > 0;)
    n += (size_t)r;
  got[n] = 0;
  close(p[0]);
  T_TRUE(strstr(got, "] INFO opened user=ada path=\"/tmp/x y\" (call ") != NULL);
  T_TRUE(strstr(got, "] WARN slow disk ms=250 (call ") != NULL);
  T_TRUE(strstr(got, "] DEBUG not in a call\n") != NULL);
}

/* A peer whose WELCOME does not say log=1 (here a ward server) gets no
 * LOG frame: the worker library writes the record to stderr, which its
 * own host captures as a line. */
static void test_no_log_frames_without_log1(void) {
  char path[256];
  t_tmp_path(path, sizeof path, "slog.sock");
  ward_server *srv;
  T_OK(ward_server_new(&srv));
  T_OK(ward_server_handle(srv, "echo", tw_echo, NULL));
  T_OK(ward_server_listen(srv, path));
  ward_worker *w = spawn("fallback", "slog_serve", 0, 0);
  T_OK(ward_request(NULL, w, "via_server", path, strlen(path), 20000));
  ward_log_query q = WARD_LOG_QUERY_INIT;
  q.streams = WARD_LOG_STDERR;
  size_t n = 0;
  ward_log_entry *v = NULL;
  for (int tries = 0; tries < 2000; tries++) {
    ward_log_entries_free(v, n);
    v = entries(w, &q, &n);
    if (n >= 1)
      break;
    t_nap_ms(10);
  }
  T_EQ_INT(n, 1);
  T_EQ_STR(v[0].text, "WARN no LOG here k=v why=\"a server\"");
  ward_log_entries_free(v, n);
  q.streams = WARD_LOG_RECORD;
  v = entries(w, &q, &n);
  T_EQ_INT(n, 0);
  ward_log_entries_free(v, n);
  ward_worker_free(w);
  ward_server_free(srv);
  unlink(path);
}

/* ward_log_format: measured, cut like snprintf, quoted and escaped, one
 * line whatever the text. */
static void test_format(void) {
  ward_log_field f[] = {{"ms", "250"}, {"path", "/a b"}, {"q", "say \"hi\"\\"}, {"e", ""}};
  const char *want = "WARN disk\tslow? ms=250 path=\"/a b\" q=\"say \\\"hi\\\"\\\\\" e=\"\" (call 3)";
  size_t n = ward_log_format(NULL, 0, WARD_LEVEL_WARN, "disk\tslow\n", f, 4, 3);
  T_EQ_INT(n, strlen(want));
  char b[128];
  T_EQ_INT(ward_log_format(b, sizeof b, WARD_LEVEL_WARN, "disk\tslow\n", f, 4, 3), n);
  T_EQ_STR(b, want);
  char small[8];
  T_EQ_INT(ward_log_format(small, sizeof small, WARD_LEVEL_WARN, "disk\tslow\n", f, 4, 3), n);
  T_EQ_STR(small, "WARN di");
  T_EQ_INT(ward_log_format(b, sizeof b, WARD_LEVEL_TRACE, "", NULL, 0, 0), 6);
  T_EQ_STR(b, "TRACE ");
  T_EQ_STR(ward_level_name(WARD_LEVEL_ERROR), "error");
  T_EQ_STR(ward_level_name(9), "unknown");
}

/* Vector (i) of docs/protocol.md section 12, both ways. */
static void test_vector_i(void) {
  static const uint8_t want[] = {
      0x57, 0x0f, 0x00, 0x00, 0x1a, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00,
      0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x64, 0x69, 0x73, 0x6b, 0x20, 0x73, 0x6c, 0x6f,
      0x77, 0x02, 0x00, 0x00, 0x00, 0x6d, 0x73, 0x03, 0x00, 0x00, 0x00, 0x32, 0x35, 0x30};
  ward__rec r = {.level = WARD_LEVEL_WARN, .call_id = 3, .msg = "disk slow", .mlen = 9,
                 .nfields = 1};
  r.f[0] = (ward__recfield){"ms", 2, "250", 3};
  size_t n = ward__rec_size(&r);
  T_EQ_INT(n, 26);
  uint8_t got[sizeof want];
  ward__hdr h = {.kind = WARD__K_LOG, .len = (uint32_t)n, .id = 3, .aux = WARD_LEVEL_WARN};
  ward__hdr_put(got, &h);
  ward__rec_put(got + WARD__HDR_SIZE, &r);
  T_EQ_MEM(got, want, sizeof want);

  ward__dec d;
  ward__dec_init(&d, WARD_MAX_FRAME_DEFAULT);
  ward__frame f;
  size_t used;
  T_EQ_INT(ward__dec_feed(&d, want, sizeof want, &used, &f), 1);
  ward__rec back;
  T_OK(ward__rec_get(&back, &f.h, f.payload, f.h.len));
  T_TRUE(ward__rec_check(&back) == NULL);
  T_EQ_INT(back.level, WARD_LEVEL_WARN);
  T_EQ_INT(back.call_id, 3);
  T_EQ_MEM(back.msg, "disk slow", 9);
  T_EQ_INT(back.nfields, 1);
  T_EQ_MEM(back.f[0].val, "250", 3);
  ward__dec_free(&d);
}

#ifdef WARD_TEST_NODE
/* The Node package's worker (bindings/node/tests/fixture_worker.js, its
 * method "logs"): its records reach this host with their level, fields
 * and call id, a notification's with none, and the records it refuses
 * are not sent at all. */
static void test_node_worker(void) {
  ward_spec *s;
  T_OK(ward_spec_new(&s, "node-logs", WARD_TEST_NODE));
  T_OK(ward_spec_arg(s, WARD_SOURCE_DIR "/bindings/node/tests/fixture_worker.js"));
  T_OK(ward_spec_restart(s, WARD_RESTART_NEVER));
  ward_worker *w;
  T_OK(ward_spawn(&w, host, s));
  ward_spec_free(s);
  ward_call *call;
  T_OK(ward_call_start(&call, w, "logs", "{}", 2, NULL, call_done, NULL));
  T_OK(ward_call_wait(call, 20000));
  uint32_t id = ward_call_id(call);
  T_TRUE(id != 0);
  ward_call_free(call);
  T_OK(ward_notify(w, "note_log", "\"x y\"", 5));
  /* Handled after the notification: its record is stored by then. */
  ward_msg *m;
  T_OK(ward_request(&m, w, "add", "{\"a\":1,\"b\":2}", 13, 20000));
  T_EQ_MEM(ward_msg_data(m), "3", 1);
  ward_msg_free(m);

  ward_log_query q = WARD_LOG_QUERY_INIT;
  q.streams = WARD_LOG_RECORD;
  size_t n;
  ward_log_entry *v = entries(w, &q, &n);
  T_EQ_INT(n, 4);
  T_EQ_INT(v[0].level, WARD_LEVEL_WARN);
  T_EQ_STR(v[0].text, "disk slow");
  T_EQ_INT(v[0].call_id, id);
  T_EQ_INT(v[0].flags, 0);
  T_EQ_INT(v[0].nfields, 2);
  T_EQ_STR(v[0].fields[0].key, "ms");
  T_EQ_STR(v[0].fields[0].value, "250");
  T_EQ_STR(v[0].fields[1].key, "disk");
  T_EQ_STR(v[0].fields[1].value, "sda");
  T_EQ_INT(v[1].level, WARD_LEVEL_ERROR);
  T_EQ_STR(v[1].text, "tab\there");
  T_EQ_INT(v[1].call_id, id);
  T_EQ_INT(v[1].nfields, 0);
  T_EQ_INT(v[2].level, WARD_LEVEL_DEBUG);
  T_EQ_STR(v[2].text, "not in a call");
  T_EQ_INT(v[2].call_id, 0);
  T_EQ_INT(v[3].level, WARD_LEVEL_INFO);
  T_EQ_STR(v[3].text, "noted");
  T_EQ_INT(v[3].call_id, 0);
  T_EQ_INT(v[3].nfields, 1);
  T_EQ_STR(v[3].fields[0].value, "x y");
  ward_log_entries_free(v, n);
  ward_worker_free(w);
}
#endif

int main(int argc, char **argv) {
  if (argc > 2 && strcmp(argv[1], "--worker") == 0) {
    if (strcmp(argv[2], "slog_serve") == 0)
      return w_serve();
    if (strcmp(argv[2], "slog_bad") == 0)
      return w_bad_records();
    if (strcmp(argv[2], "slog_truncated") == 0)
      return w_truncated(0);
    if (strcmp(argv[2], "slog_halffield") == 0)
      return w_truncated(1);
    return tworker_main(argc, argv);
  }
  ward_host_opts o = WARD_HOST_OPTS_INIT;
  o.on_event = on_event;
  T_OK(ward_host_new(&host, &o));
  T_RUN(test_vector_i);
  T_RUN(test_format);
  T_RUN(test_round_trip);
  T_RUN(test_filters);
  T_RUN(test_flood);
  T_RUN(test_events_bounded);
  T_RUN(test_malformed_dropped);
  T_RUN(test_truncated_is_violation);
  T_RUN(test_host_handler_refuses);
  T_RUN(test_forwarded);
  T_RUN(test_no_log_frames_without_log1);
#ifdef WARD_TEST_NODE
  T_RUN(test_node_worker);
#endif
  ward_host_free(host);
  return t_done();
}

/* A host handler's ctx is not a worker's: ward_ctx_log refuses it. */
static int host_log(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  int rv = ward_ctx_log(ctx, WARD_LEVEL_INFO, "from the host", NULL, 0);
  return tw_reply_str(ctx, rv == WARD_EINVAL ? "true" : "false");
}

static void test_host_handler_refuses(void) {
  T_OK(ward_host_handle(host, "add", host_log, NULL));
  ward_worker *w = spawn("caller", "serve", 0, 0);
  ward_msg *m;
  T_OK(ward_request(&m, w, "call_host", "{}", 2, 20000));
  T_TRUE(strstr((const char *)ward_msg_data(m), "true") != NULL);
  ward_msg_free(m);
  ward_worker_free(w);
}
