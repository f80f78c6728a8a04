/*
 * host_python.c — a C host calling a worker written in Python
 * (examples/python/rows_worker.py, on the `ward` package of
 * bindings/python).
 *
 *   host_python [PYTHON [path/to/rows_worker.py]]
 *
 * PYTHON is the interpreter (python3 by default), which must be able to
 * import ward: install it (`pip install bindings/python`) or put
 * bindings/python on PYTHONPATH. Without a second argument it starts the
 * rows_worker.py next to its own executable.
 *
 * It asks for the primes below 100000 twice: with the default flow-control
 * window and with a window of 4 KiB, where the worker waits for the host
 * to catch up every few rows. The rows arrive as they are found, with
 * progress reports, and are kept only once the call has succeeded (rows
 * are tentative until then). Exits 0 when everything happened as expected.
 */
#define _POSIX_C_SOURCE 200809L

#include <ward.h>

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALL_TIMEOUT_MS 60000 /* generous: a loaded CI machine is slow */

/* The rows of one call, held back until it has succeeded. */
typedef struct tentative {
  long count, last;
  int progress;
} tentative;

static void on_prime(const char *stream, uint64_t seq, json_t *row, void *ud) {
  (void)stream;
  (void)seq;
  tentative *t = ud;
  t->count++;
  t->last = (long)json_integer_value(json_object_get(row, "p"));
}

static void on_progress(const void *data, size_t len, void *ud) {
  (void)data;
  (void)len;
  ((tentative *)ud)->progress++;
}

/* One call of "primes" with a window of `window` bytes (0: the default). */
static int primes(ward_worker *w, int window) {
  tentative t = {0, 0, 0};
  ward_summary sum = WARD_SUMMARY_INIT;
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = CALL_TIMEOUT_MS;
  o.window_bytes = window;
  o.on_progress = on_progress;
  o.ud = &t;
  o.summary = &sum;
  json_t *params = json_pack("{s:i}", "below", 100000);
  json_t *result = NULL;
  int rc = ward_request_json_ex(&result, w, "primes", params, &o, on_prime, &t);
  json_decref(params);
  int ok = rc == WARD_OK;
  if (ok) {
    long count = (long)json_integer_value(json_object_get(result, "count"));
    printf("window %-7s %ld primes below 100000 (the last %ld), %d progress reports, "
           "%llu bytes of rows, %.1f ms\n",
           window ? "4 KiB" : "1 MiB", t.count, t.last, t.progress,
           (unsigned long long)sum.row_bytes, sum.elapsed_us / 1000.0);
    ok = count == t.count && count == 9592 && t.last == 99991 && t.progress == 9;
  } else {
    fprintf(stderr, "primes failed: %s: %s\n", ward_err_name(rc), ward_last_error());
  }
  ward_summary_clear(&sum);
  json_decref(result);
  return ok;
}

int main(int argc, char **argv) {
  const char *python = argc > 1 ? argv[1] : "python3";
  char script[PATH_MAX];
  if (argc > 2) {
    snprintf(script, sizeof script, "%s", argv[2]);
  } else {
    /* rows_worker.py next to this program (the build copies it there). */
    const char *slash = strrchr(argv[0], '/');
    int dir = slash ? (int)(slash - argv[0]) : 1;
    snprintf(script, sizeof script, "%.*s/rows_worker.py", dir, slash ? argv[0] : ".");
  }

  ward_host *host;
  if (ward_host_new(&host, NULL) != WARD_OK) {
    fprintf(stderr, "host: %s\n", ward_last_error());
    return 1;
  }
  ward_spec *spec;
  ward_worker *w = NULL;
  int ok = ward_spec_new(&spec, "primes.py", python) == WARD_OK &&
           ward_spec_arg(spec, script) == WARD_OK &&
           /* What the worker prints goes to our stderr (a traceback, say). */
           ward_spec_output(spec, WARD_OUTPUT_FORWARD) == WARD_OK &&
           ward_spawn(&w, host, spec) == WARD_OK;
  ward_spec_free(spec);
  if (!ok) {
    fprintf(stderr, "cannot start %s %s: %s\n", python, script, ward_last_error());
    ward_host_free(host);
    return 1;
  }
  printf("started %s %s: pid %d, lang %s, version %s\n", python, script, ward_worker_pid(w),
         ward_worker_meta(w, "lang"), ward_worker_meta(w, "version"));
  ok = primes(w, 0) && primes(w, 4096);
  ok = ward_worker_stop(w, -1) == WARD_OK && ok;
  ward_worker_free(w);
  ward_host_free(host);
  printf("%s\n", ok ? "all as expected" : "NOT as expected");
  return ok ? 0 : 1;
}
