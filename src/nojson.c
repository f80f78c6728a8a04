/*
 * nojson.c — the JSON layer of a build without jansson (WARD_JSON off:
 * the Windows build, for which Debian has no jansson). Each function of
 * the layer is there, so that programs link the same, and fails with
 * WARD_EINVAL saying why; a spec that asks for JSON validation has every
 * payload refused. CMakeLists.txt compiles this file or json.c, never both.
 */
#include "worker.h"

#define NO_JSON "this build of ward has no JSON layer (built without jansson)"

int ward__json_valid(const void *data, size_t len) {
  (void)data, (void)len;
  return 0;
}

int ward_request_json(struct json_t **result, ward_worker *w, const char *method,
                      const struct json_t *params, int timeout_ms) {
  (void)result, (void)w, (void)method, (void)params, (void)timeout_ms;
  return ward__fail(WARD_EINVAL, NO_JSON);
}

int ward_request_json_ex(struct json_t **result, ward_worker *w, const char *method,
                         const struct json_t *params, const ward_call_opts *opts,
                         ward_json_row_cb on_row, void *row_ud) {
  (void)result, (void)w, (void)method, (void)params, (void)opts, (void)on_row, (void)row_ud;
  return ward__fail(WARD_EINVAL, NO_JSON);
}

int ward_ctx_params_json(ward_ctx *ctx, const void *data, size_t len, struct json_t **out) {
  (void)ctx, (void)data, (void)len, (void)out;
  return ward__fail(WARD_EINVAL, NO_JSON);
}

int ward_ctx_reply_json(ward_ctx *ctx, const struct json_t *value) {
  (void)ctx, (void)value;
  return ward__fail(WARD_EINVAL, NO_JSON);
}

int ward_ctx_row_json(ward_ctx *ctx, const char *stream, const struct json_t *value) {
  (void)ctx, (void)stream, (void)value;
  return ward__fail(WARD_EINVAL, NO_JSON);
}

int ward_ctx_fail_json(ward_ctx *ctx, int code, const char *message, const struct json_t *data) {
  (void)ctx, (void)code, (void)message, (void)data;
  return ward__fail(WARD_EINVAL, NO_JSON);
}

int ward_doctor(ward_doctor_report **out, ward_worker *w, int timeout_ms) {
  (void)w, (void)timeout_ms;
  if (out)
    *out = NULL;
  return ward__fail(WARD_EINVAL, NO_JSON);
}

void ward_doctor_report_free(ward_doctor_report *r) { (void)r; }

int ward_ctx_reply_doctor(ward_ctx *ctx, const ward_check *checks, size_t count) {
  (void)ctx, (void)checks, (void)count;
  return ward__fail(WARD_EINVAL, NO_JSON);
}
