/*
 * conform_worker.c — a worker that serves the conformance contract of
 * docs/protocol.md section 16, and passes `ward conform`:
 *
 *   ward conform ./conform_worker
 *
 * Copy it to start a worker of your own: each handler below is one
 * behaviour of the protocol done with libward's worker API (replies,
 * errors with data, rows within the caller's window, progress,
 * diagnostics, cancellation, calls and notifications to the host, a
 * goodbye of the worker's own).
 */
#define _POSIX_C_SOURCE 200809L

#include <ward.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* conform.echo: the payload back, as it came, with its encoding tag (a
 * reply is tagged like the request unless ward_ctx_set_encoding says
 * otherwise). */
static int on_echo(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ud;
  return ward_ctx_reply(ctx, data, len);
}

/* Decodes the params, or fails the call with WARD_EPROTO (params that are
 * not JSON: a typed error for the caller, the handler not run). */
#define PARAMS(ctx, data, len, out)                                                            \
  do {                                                                                         \
    if (ward_ctx_params_json(ctx, data, len, out) != WARD_OK)                                  \
      return ward_ctx_fail(ctx, WARD_EPROTO, ward_last_error());                               \
  } while (0)

/* conform.fail {"code", "message", "data"?}: an error with that code,
 * message and (JSON) data; no data when the params have none. */
static int on_fail(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ud;
  json_t *p;
  PARAMS(ctx, data, len, &p);
  int code = (int)json_integer_value(json_object_get(p, "code"));
  const char *message = json_string_value(json_object_get(p, "message"));
  int rc = ward_ctx_fail_json(ctx, code != 0 ? code : -1, message, json_object_get(p, "data"));
  json_decref(p);
  return rc;
}

/* conform.raise {"message"}: C has no exceptions; a handler's failure is
 * an error code and a message. */
static int on_raise(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ud;
  json_t *p;
  PARAMS(ctx, data, len, &p);
  int rc = ward_ctx_fail(ctx, WARD_EINVAL, json_string_value(json_object_get(p, "message")));
  json_decref(p);
  return rc;
}

/* conform.add {"a", "b"}: a + b. */
static int on_add(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ud;
  json_t *p;
  PARAMS(ctx, data, len, &p);
  json_t *sum = json_integer(json_integer_value(json_object_get(p, "a")) +
                             json_integer_value(json_object_get(p, "b")));
  int rc = ward_ctx_reply_json(ctx, sum);
  json_decref(sum);
  json_decref(p);
  return rc;
}

/* conform.rows {"n", "pad", "every"}: a warning diagnostic "start", rows
 * {"i": k, "pad": "xx.."} on stream "out", a progress report
 * {"done", "total"} after every `every` rows, then the reply n.
 * ward_ctx_row waits while the caller's window is full (answering pings)
 * and returns WARD_ECANCELED once the caller has cancelled. */
static int on_rows(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ud;
  json_t *p;
  PARAMS(ctx, data, len, &p);
  json_int_t n = json_integer_value(json_object_get(p, "n"));
  json_int_t pad = json_integer_value(json_object_get(p, "pad"));
  json_int_t every = json_integer_value(json_object_get(p, "every"));
  json_decref(p);
  char msg[64];
  snprintf(msg, sizeof msg, "starting %lld rows", (long long)n);
  int rc = ward_ctx_diag(ctx, 2, "start", msg);
  char *fill = calloc(1, (size_t)(pad > 0 ? pad : 0) + 1);
  if (fill == NULL)
    return ward_ctx_fail(ctx, WARD_ENOMEM, "out of memory");
  memset(fill, 'x', (size_t)(pad > 0 ? pad : 0));
  for (json_int_t i = 1; rc == WARD_OK && i <= n; i++) {
    json_t *row = json_pack("{s:I, s:s}", "i", i, "pad", fill);
    rc = ward_ctx_row_json(ctx, "out", row);
    json_decref(row);
    if (rc == WARD_OK && every > 0 && i % every == 0) {
      char prog[64];
      int plen = snprintf(prog, sizeof prog, "{\"done\":%lld,\"total\":%lld}", (long long)i,
                          (long long)n);
      rc = ward_ctx_progress(ctx, prog, (size_t)plen);
    }
  }
  free(fill);
  if (rc != WARD_OK) /* cancelled, or the caller is gone: the call has ended */
    return rc;
  json_t *res = json_integer(n);
  rc = ward_ctx_reply_json(ctx, res);
  json_decref(res);
  return rc;
}

/* conform.forever: rows {"i": k} on "out" until the caller cancels. */
static int on_forever(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)data, (void)len, (void)ud;
  for (json_int_t i = 1;; i++) {
    json_t *row = json_pack("{s:I}", "i", i);
    int rc = ward_ctx_row_json(ctx, "out", row);
    json_decref(row);
    if (rc != WARD_OK)
      return rc;
  }
}

/* conform.sleep {"ms", "tell"?}: works for `ms` in 10 ms steps, checking
 * between them for a cancel (ward_ctx_cancelled also answers pings), and
 * replies "done"; with "tell", first notifies the host conform.running. */
static int on_sleep(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  ward_client *c = ud;
  json_t *p;
  PARAMS(ctx, data, len, &p);
  json_int_t ms = json_integer_value(json_object_get(p, "ms"));
  int tell = json_is_true(json_object_get(p, "tell"));
  json_decref(p);
  if (tell)
    ward_client_notify(c, "conform.running", "{}", 2);
  for (json_int_t done = 0; done < ms; done += 10) {
    if (ward_ctx_cancelled(ctx))
      return ward_ctx_fail(ctx, WARD_ECANCELED, "cancelled");
    struct timespec step = {0, 10 * 1000000L};
    nanosleep(&step, NULL);
  }
  json_t *res = json_string("done");
  int rc = ward_ctx_reply_json(ctx, res);
  json_decref(res);
  return rc;
}

/* conform.ask {"method", "params"}: calls the host and replies
 * {"result": R}, or {"code", "message", "data"} for its error. */
static int on_ask(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  ward_client *c = ud;
  json_t *p;
  PARAMS(ctx, data, len, &p);
  const char *method = json_string_value(json_object_get(p, "method"));
  char *params = json_dumps(json_object_get(p, "params"), JSON_COMPACT | JSON_ENCODE_ANY);
  ward_msg *m = NULL;
  int rc = ward_client_request(&m, c, method ? method : "", params, strlen(params), 30000);
  free(params);
  json_decref(p);
  json_t *res;
  if (rc == WARD_OK) {
    json_t *v = json_loadb(ward_msg_data(m), ward_msg_len(m), JSON_DECODE_ANY, NULL);
    res = json_pack("{s:o}", "result", v ? v : json_null());
  } else if (rc == WARD_EREMOTE) {
    json_t *d = json_loadb(ward_msg_data(m), ward_msg_len(m), JSON_DECODE_ANY, NULL);
    res = json_pack("{s:i, s:s, s:o}", "code", ward_msg_code(m), "message", ward_msg_error(m),
                    "data", d ? d : json_null());
  } else {
    res = json_pack("{s:i, s:s, s:n}", "code", rc, "message", ward_strerror(rc), "data");
  }
  ward_msg_free(m);
  rc = ward_ctx_reply_json(ctx, res);
  json_decref(res);
  return rc;
}

/* conform.notify (a notification): the same params back to the host as
 * the notification conform.notified. */
static int on_notify(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ctx;
  return ward_client_notify(ud, "conform.notified", data, len);
}

/* conform.leave (a notification): the worker says goodbye itself.
 * ward_client_free sends the GOODBYE and closes; the process then ends at
 * once, without returning into ward_client_run (whose client is gone):
 * _exit, so that nothing registered with atexit (a leak checker, say)
 * looks at a ward_client_run stopped halfway. stdout is line-buffered:
 * nothing is left in it. */
static int on_leave(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ctx, (void)data, (void)len;
  ward_client_free(ud);
  _exit(0);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  ward_client *c;
  if (ward_client_connect(&c) != WARD_OK) {
    fprintf(stderr, "conform_worker: not started by a ward host: %s\n", ward_last_error());
    return 2;
  }
  static const struct {
    const char *name;
    ward_handler fn;
  } methods[] = {
      {"conform.echo", on_echo},       {"conform.fail", on_fail},   {"conform.raise", on_raise},
      {"conform.add", on_add},         {"conform.rows", on_rows},   {"conform.forever", on_forever},
      {"conform.sleep", on_sleep},     {"conform.ask", on_ask},     {"conform.notify", on_notify},
      {"conform.leave", on_leave},
  };
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
    ward_client_handle(c, methods[i].name, methods[i].fn, c);
  ward_client_meta(c, "lang", "c");
  int rc = ward_client_run(c); /* WARD_OK when the host says goodbye */
  if (rc != WARD_OK) /* the connection was lost, or the host broke the protocol */
    fprintf(stderr, "conform_worker: %s (%s)\n", ward_err_name(rc), ward_last_error());
  ward_client_free(c);
  return rc == WARD_OK ? 0 : 1;
}
