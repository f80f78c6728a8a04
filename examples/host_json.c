/*
 * host_json.c — requirements at the handshake, JSON calls and the doctor,
 * with examples/json_worker.c.
 *
 *   host_json [path/to/json_worker]
 *
 * The spec requires the method "sum" and a version in [min, 2), and has
 * what the worker sends validated. Asked for at least 1.10, the worker
 * (1.4.2) is refused at its handshake; asked for 1.2, it starts. Then a
 * JSON call, one that fails with error data, and the doctor's checks.
 * Exits 0 when everything happened as expected.
 */
#define _POSIX_C_SOURCE 200809L

#include <ward.h>

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ward_worker *start(ward_host *host, const char *exe, const char *min_version) {
  ward_spec *spec;
  ward_worker *w = NULL;
  if (ward_spec_new(&spec, "summer", exe) != WARD_OK)
    return NULL;
  ward_spec_require_method(spec, "sum");
  ward_spec_require_version(spec, min_version, "2"); /* min <= version < 2 */
  ward_spec_validate_json(spec, 1);                  /* check what it sends */
  int rc = ward_spawn(&w, host, spec);
  if (rc != WARD_OK)
    printf("spawn: %s: %s\n", ward_err_name(rc), ward_last_error());
  ward_spec_free(spec);
  return w;
}

/* Calls "sum"; returns the outcome. `params` is consumed. */
static int sum(ward_worker *w, json_t *params, json_int_t *out) {
  json_t *result = NULL;
  int rc = ward_request_json(&result, w, "sum", params, 10000);
  char *text = result ? json_dumps(result, JSON_COMPACT) : NULL;
  if (rc == WARD_OK) {
    printf("sum -> %s\n", text);
    *out = json_integer_value(json_object_get(result, "sum"));
  } else {
    /* On WARD_EREMOTE `result` is the error's data, the message is in
     * ward_last_error. */
    printf("sum -> %s: %s; data %s\n", ward_err_name(rc), ward_last_error(),
           text ? text : "none");
  }
  free(text);
  json_decref(result);
  json_decref(params);
  return rc;
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
  return slash && snprintf(slash + 1, cap - (size_t)(slash + 1 - out), "json_worker") > 0;
}

int main(int argc, char **argv) {
  char path[PATH_MAX];
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (!worker_path(path, sizeof path, argc, argv))
    return 1;
  ward_host *host;
  if (ward_host_new(&host, NULL) != WARD_OK)
    return 1;

  int ok = start(host, path, "1.10") == NULL; /* refused: 1.4.2 < 1.10 */
  ward_worker *w = start(host, path, "1.2");
  if (w) {
    json_int_t total = 0;
    ok &= sum(w, json_pack("{s:i, s:i}", "a", 40, "b", 2), &total) == WARD_OK && total == 42;
    ok &= sum(w, json_pack("{s:s}", "a", "x"), &total) == WARD_EREMOTE;

    ward_doctor_report *report;
    int rc = ward_doctor(&report, w, 10000);
    if (rc == WARD_OK) {
      for (size_t i = 0; i < report->count; i++)
        printf("check %s: %d (%s)\n", report->checks[i].name, report->checks[i].status,
               report->checks[i].message);
      printf("worst: %d\n", report->worst);
      ok &= report->count == 2 && report->worst == WARD_CHECK_WARNING;
      ward_doctor_report_free(report);
    } else {
      printf("doctor: %s\n", ward_last_error());
      ok = 0;
    }
  } else {
    ok = 0;
  }
  ward_host_free(host);
  puts(ok ? "host_json: everything happened as expected" : "host_json: something went wrong");
  return ok ? 0 : 1;
}
