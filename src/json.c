/*
 * json.c — the JSON convenience layer (jansson) and the doctor.
 *
 * Only these functions parse payloads; the core moves bytes. Encoding is
 * compact (no spaces), decoding accepts any JSON value at the top.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "worker.h"

/* The text of a value; NULL encodes as null. Free with free(). */
static char *dump(const json_t *v, size_t *len) {
  char *s = json_dumps(v ? v : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
  if (s)
    *len = strlen(s);
  return s;
}

static json_t *load(const void *data, size_t len, json_error_t *err) {
  return json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, err);
}

int ward__json_valid(const void *data, size_t len) {
  json_error_t err;
  json_t *v = load(data, len, &err);
  json_decref(v);
  return v != NULL;
}

/* ---- the host's calls ---- */

typedef struct json_rows {
  ward_json_row_cb cb;
  void *ud;
  ward_call_opts user; /* the caller's options, for the other callbacks */
  const char *method;
  int bad;
  char err[220];
} json_rows;

json_t *ward__json_row(const char *method, const char *stream, uint64_t seq, const void *d,
                       size_t n, char *why, size_t cap) {
  json_error_t err;
  json_t *v = load(d, n, &err);
  if (!v)
    snprintf(why, cap, "'%s' stream '%s' row %llu: invalid JSON: %s", method, stream,
             (unsigned long long)seq, err.text);
  return v;
}

static void row_thunk(const char *stream, uint64_t seq, const void *d, size_t n, void *ud) {
  json_rows *r = ud;
  char why[sizeof r->err];
  json_t *v = ward__json_row(r->method, stream, seq, d, n, why, sizeof why);
  if (!v) {
    if (!r->bad++)
      memcpy(r->err, why, sizeof why);
    return;
  }
  if (r->cb)
    r->cb(stream, seq, v, r->ud);
  json_decref(v);
}

static void progress_thunk(const void *d, size_t n, void *ud) {
  json_rows *r = ud;
  r->user.on_progress(d, n, r->user.ud);
}

static void diag_thunk(int level, const char *code, const char *message, void *ud) {
  json_rows *r = ud;
  r->user.on_diag(level, code, message, r->user.ud);
}

int ward__json_answer(json_t **out, const char *method, int rv, const void *d, size_t n) {
  *out = NULL;
  if (rv == WARD_EREMOTE && n == 0)
    return 0; /* an error without data */
  json_error_t err;
  *out = load(d, n, &err);
  if (!*out && rv == WARD_OK)
    return ward__fail(WARD_EPROTO, "'%s' replied invalid JSON: %s", method, err.text);
  return 0;
}

int ward_request_json_ex(json_t **result, ward_worker *w, const char *method,
                         const json_t *params, const ward_call_opts *opts,
                         ward_json_row_cb on_row, void *row_ud) {
  if (result)
    *result = NULL;
  /* The caller's options as far as its struct goes (zeroing its summary). */
  ward_call_opts o;
  int rv = ward__call_opts_take(&o, opts);
  if (rv)
    return rv;
  size_t len = 0;
  char *text = dump(params, &len);
  if (!text)
    return ward__fail(WARD_EINVAL, "params of '%s' cannot be encoded as JSON",
                      method ? method : "?");
  o.encoding = WARD_ENC_JSON;
  json_rows rows = {on_row, row_ud, o, method ? method : "?", 0, ""};
  if (on_row) {
    /* Our ud now: the other callbacks go through thunks that hand them
     * the caller's own. */
    o.on_row = row_thunk;
    o.on_progress = o.on_progress ? progress_thunk : NULL;
    o.on_diag = o.on_diag ? diag_thunk : NULL;
    o.ud = &rows;
  }
  ward_msg *m = NULL;
  rv = ward_request_ex(&m, w, method, text, len, &o);
  free(text);
  if (rv == WARD_OK && rows.bad) {
    ward_msg_free(m);
    return ward__fail(WARD_EPROTO, "%s", rows.err);
  }
  if ((rv == WARD_OK || rv == WARD_EREMOTE) && m) {
    json_t *v = NULL;
    int dr = ward__json_answer(&v, method, rv, ward_msg_data(m), ward_msg_len(m));
    if (dr) {
      ward_msg_free(m);
      return dr;
    }
    if (result)
      *result = v;
    else
      json_decref(v);
  }
  if (rv == WARD_EREMOTE)
    ward__fail(rv, "'%s' failed: code %d: %s", method, ward_msg_code(m),
               ward_msg_error(m) ? ward_msg_error(m) : "");
  ward_msg_free(m);
  return rv;
}

int ward_request_json(json_t **result, ward_worker *w, const char *method,
                      const json_t *params, int timeout_ms) {
  ward_call_opts o = WARD_CALL_OPTS_INIT;
  o.timeout_ms = timeout_ms;
  return ward_request_json_ex(result, w, method, params, &o, NULL, NULL);
}

/* ---- the serving side ---- */

int ward_ctx_params_json(ward_ctx *ctx, const void *data, size_t len, json_t **out) {
  if (!ctx || !out || (!data && len))
    return ward__fail(WARD_EINVAL, "ward_ctx_params_json needs a ctx, data and out");
  json_error_t err;
  *out = load(data, len, &err);
  if (!*out)
    return ward__fail(WARD_EPROTO, "params of '%s': invalid JSON: %s", ward_ctx_method(ctx),
                      err.text);
  return 0;
}

/* Runs `send` with the value's text, the ctx speaking JSON meanwhile. */
static int with_json(ward_ctx *ctx, const json_t *v, char **text, size_t *len) {
  if (!ctx)
    return ward__fail(WARD_EINVAL, "NULL ctx");
  *text = dump(v, len);
  if (!*text)
    return ward__fail(WARD_EINVAL, "value cannot be encoded as JSON");
  ward_ctx_set_encoding(ctx, WARD_ENC_JSON);
  return 0;
}

int ward_ctx_reply_json(ward_ctx *ctx, const json_t *value) {
  char *text;
  size_t len;
  int rv = with_json(ctx, value, &text, &len);
  if (rv)
    return rv;
  rv = ward_ctx_reply(ctx, text, len);
  free(text);
  return rv;
}

int ward_ctx_row_json(ward_ctx *ctx, const char *stream, const json_t *value) {
  char *text;
  size_t len;
  int rv = with_json(ctx, value, &text, &len);
  if (rv)
    return rv;
  rv = ward_ctx_row(ctx, stream, text, len);
  free(text);
  return rv;
}

int ward_ctx_fail_json(ward_ctx *ctx, int code, const char *message, const json_t *data) {
  char *text = NULL;
  size_t len = 0;
  int rv = 0;
  if (data)
    rv = with_json(ctx, data, &text, &len);
  if (rv)
    return rv;
  rv = ward_ctx_fail_data(ctx, code, message, text, len);
  free(text);
  return rv;
}

/* ---- the doctor ---- */

static const char *const status_names[] = {"pass", "warning", "error"};

static int parse_status(const char *s) {
  for (int i = 0; i < 3; i++)
    if (s && strcmp(s, status_names[i]) == 0)
      return i;
  return -1;
}

void ward_doctor_report_free(ward_doctor_report *r) {
  if (!r)
    return;
  for (size_t i = 0; i < r->count; i++) {
    free((char *)r->checks[i].name);
    free((char *)r->checks[i].message);
  }
  free(r->checks);
  free(r);
}

static int decode_checks(ward_doctor_report *r, json_t *list) {
  r->checks = calloc(json_array_size(list) + 1, sizeof *r->checks);
  if (!r->checks)
    return WARD_ENOMEM;
  size_t i;
  json_t *c;
  json_array_foreach(list, i, c) {
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *msg = json_string_value(json_object_get(c, "message"));
    int status = parse_status(json_string_value(json_object_get(c, "status")));
    if (!name || status < 0)
      return ward__fail(WARD_EPROTO, "ward.doctor: check %zu lacks a name or a known status", i);
    r->checks[i].name = strdup(name);
    r->checks[i].message = strdup(msg ? msg : "");
    r->checks[i].status = status;
    r->count = i + 1;
    if (!r->checks[i].name || !r->checks[i].message)
      return WARD_ENOMEM;
    if (status > r->worst)
      r->worst = status;
  }
  return 0;
}

int ward_doctor(ward_doctor_report **out, ward_worker *w, int timeout_ms) {
  if (!out)
    return ward__fail(WARD_EINVAL, "NULL out");
  *out = NULL;
  json_t *res = NULL;
  int rv = ward_request_json(&res, w, "ward.doctor", NULL, timeout_ms);
  if (rv) {
    json_decref(res);
    return rv;
  }
  rv = ward__doctor_decode(out, res);
  json_decref(res);
  return rv;
}

int ward__doctor_decode(ward_doctor_report **out, const json_t *res) {
  *out = NULL;
  json_t *list = json_object_get(res, "checks");
  ward_doctor_report *r = calloc(1, sizeof *r);
  int rv;
  if (!r)
    rv = WARD_ENOMEM;
  else if (!json_is_array(list))
    rv = ward__fail(WARD_EPROTO, "ward.doctor: the answer has no \"checks\" list");
  else
    rv = decode_checks(r, list);
  if (rv) {
    ward_doctor_report_free(r);
    return rv;
  }
  *out = r;
  return 0;
}

int ward_ctx_reply_doctor(ward_ctx *ctx, const ward_check *checks, size_t count) {
  json_t *list = json_array();
  for (size_t i = 0; list && i < count; i++) {
    int st = checks[i].status;
    json_array_append_new(
        list, json_pack("{s:s, s:s, s:s}", "name", checks[i].name ? checks[i].name : "",
                        "status", status_names[st >= 0 && st <= 2 ? st : 2], "message",
                        checks[i].message ? checks[i].message : ""));
  }
  json_t *res = json_pack("{s:o}", "checks", list ? list : json_array());
  int rv = res ? ward_ctx_reply_json(ctx, res) : WARD_ENOMEM;
  json_decref(res);
  return rv;
}
