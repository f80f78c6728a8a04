/*
 * host_streams.c — calls that produce a lot: rows, summaries,
 * cancellation and typed payloads. Starts examples/stream_worker.c.
 *
 *   host_streams [path/to/stream_worker]
 *
 * 1. Rows are tentative until the call succeeds: they are buffered as
 *    they arrive and used only once the call has ended WARD_OK.
 * 2. An asynchronous call is cancelled from this thread while its rows
 *    stream in: it ends WARD_ECANCELED at once, and the worker stops.
 * 3. A MessagePack request and reply, with msgpack-c.
 * Exits 0 when everything happened as expected.
 */
#define _POSIX_C_SOURCE 200809L

#include <ward.h>

#include <jansson.h>
#include <limits.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Rows held back until the call has succeeded. */
typedef struct tentative {
  long *primes;
  size_t count, cap;
} tentative;

static void on_prime(const char *stream, uint64_t seq, json_t *row, void *ud) {
  (void)stream;
  (void)seq;
  tentative *t = ud;
  if (t->count == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    long *p = realloc(t->primes, cap * sizeof *p);
    if (!p)
      return;
    t->primes = p;
    t->cap = cap;
  }
  t->primes[t->count++] = (long)json_integer_value(json_object_get(row, "p"));
}

static int rows_then_commit(ward_worker *w) {
  tentative t = {0};
  ward_summary sum = WARD_SUMMARY_INIT;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = 30000;
  o.summary = &sum;
  json_t *params = json_pack("{s:i}", "below", 100000);
  json_t *result = NULL;
  int rc = ward_request_json_ex(&result, w, "primes", params, &o, on_prime, &t);
  json_decref(params);
  int ok = rc == WARD_OK;
  if (ok) {
    /* Committed: the rows are the call's result now. */
    printf("rows    %zu primes below 100000 (the last is %ld), reply says %lld\n", t.count,
           t.primes[t.count - 1], (long long)json_integer_value(json_object_get(result, "count")));
    printf("summary %llu rows on %zu stream(s), %llu bytes, %.1f ms\n",
           (unsigned long long)sum.rows, sum.nstreams, (unsigned long long)sum.row_bytes,
           sum.elapsed_us / 1000.0);
    ok = sum.rows == t.count && (json_int_t)t.count == json_integer_value(json_object_get(result, "count"));
  } else {
    /* Failed: whatever arrived is thrown away. */
    fprintf(stderr, "primes failed: %s\n", ward_last_error());
  }
  ward_summary_clear(&sum);
  json_decref(result);
  free(t.primes);
  return ok;
}

/* Cancellation: the done callback runs once, on ward's I/O thread. */
typedef struct watch {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  long rows;
} watch;

static void count_row(const char *stream, uint64_t seq, const void *d, size_t n, void *ud) {
  (void)stream, (void)seq, (void)d, (void)n;
  watch *wt = ud;
  pthread_mutex_lock(&wt->mu);
  wt->rows++;
  pthread_cond_signal(&wt->cv);
  pthread_mutex_unlock(&wt->mu);
}

static void done(ward_call *call, int status, ward_msg *reply, void *ud) {
  (void)call, (void)ud;
  printf("cancel  the call ended: %s\n", ward_err_name(status));
  ward_msg_free(reply);
}

static int cancel_midway(ward_worker *w) {
  watch wt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.on_row = count_row;
  o.ud = &wt;
  ward_call *call;
  if (ward_call_start(&call, w, "primes", "{\"below\":100000000}", 19, &o, done, NULL) != WARD_OK)
    return 0;
  /* Let some rows arrive, then change our mind. */
  pthread_mutex_lock(&wt.mu);
  while (wt.rows < 1000)
    pthread_cond_wait(&wt.cv, &wt.mu);
  pthread_mutex_unlock(&wt.mu);
  printf("cancel  cancelling after %ld rows of a call that would stream millions\n", wt.rows);
  ward_call_cancel(call);
  int rc = ward_call_wait(call, 10000);
  ward_call_free(call);
  /* The worker stopped at its next row and is free for the next call. */
  return rc == WARD_ECANCELED && ward_ping(w, 10000) == WARD_OK;
}

static int msgpack_sum(ward_worker *w) {
  msgpack_sbuffer buf;
  msgpack_sbuffer_init(&buf);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 2);
  msgpack_pack_str(&pk, 1);
  msgpack_pack_str_body(&pk, "a", 1);
  msgpack_pack_int(&pk, 40);
  msgpack_pack_str(&pk, 1);
  msgpack_pack_str_body(&pk, "b", 1);
  msgpack_pack_int(&pk, 2);
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.encoding = WARD_ENC_MSGPACK;
  ward_msg *reply = NULL;
  int rc = ward_request_ex(&reply, w, "sum", buf.data, buf.size, &o);
  msgpack_sbuffer_destroy(&buf);
  long long sum = -1;
  if (rc == WARD_OK) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, ward_msg_data(reply), ward_msg_len(reply), NULL) ==
            MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP && u.data.via.map.size == 1)
      sum = (long long)u.data.via.map.ptr[0].val.via.u64;
    msgpack_unpacked_destroy(&u);
  }
  printf("msgpack {\"a\":40,\"b\":2} -> sum %lld (reply tagged %s)\n", sum,
         ward_msg_encoding(reply) == WARD_ENC_MSGPACK ? "MessagePack" : "something else");
  ward_msg_free(reply);
  return sum == 42;
}

/* The worker next to this executable, unless a path is given. */
static int worker_path(char *out, size_t cap, int argc, char **argv) {
  if (argc > 1)
    return snprintf(out, cap, "%s", argv[1]) < (int)cap;
  ssize_t n = readlink("/proc/self/exe", out, cap - 1);
  if (n <= 0)
    return 0;
  out[n] = 0;
  char *slash = strrchr(out, '/');
  return slash && snprintf(slash + 1, cap - (size_t)(slash + 1 - out), "stream_worker") > 0;
}

int main(int argc, char **argv) {
  char path[PATH_MAX];
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (!worker_path(path, sizeof path, argc, argv))
    return 1;
  ward_host *host;
  ward_spec *spec;
  ward_worker *w;
  if (ward_host_new(&host, NULL) != WARD_OK || ward_spec_new(&spec, "streams", path) != WARD_OK)
    return 1;
  if (ward_spawn(&w, host, spec) != WARD_OK) {
    fprintf(stderr, "host_streams: %s\n", ward_last_error());
    ward_spec_free(spec);
    ward_host_free(host);
    return 1;
  }
  ward_spec_free(spec);
  int ok = rows_then_commit(w);
  ok = cancel_midway(w) && ok;
  ok = msgpack_sum(w) && ok;
  ward_host_free(host);
  puts(ok ? "host_streams: everything happened as expected" : "host_streams: something went wrong");
  return ok ? 0 : 1;
}
