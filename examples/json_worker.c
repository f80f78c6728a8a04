/*
 * json_worker.c — a worker that speaks JSON values (jansson) and answers
 * the doctor; examples/host_json.c starts it.
 *
 * Methods:
 *   sum          {"a": int, "b": int} -> {"sum": a + b}; other params fail
 *                with code 1 and error data saying what was expected
 *   ward.doctor  the conventional health report: two checks
 * It announces version 1.4.2 in its handshake.
 */
#include <ward.h>

#include <jansson.h>

static int on_sum(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  json_t *params;
  (void)ud;
  if (ward_ctx_params_json(ctx, data, len, &params) != WARD_OK)
    return ward_ctx_fail(ctx, WARD_EPROTO, ward_last_error()); /* names the method */
  json_t *a = json_object_get(params, "a"), *b = json_object_get(params, "b");
  int rc;
  if (json_is_integer(a) && json_is_integer(b)) {
    json_t *result = json_pack("{s:I}", "sum", json_integer_value(a) + json_integer_value(b));
    rc = ward_ctx_reply_json(ctx, result);
    json_decref(result);
  } else {
    json_t *detail = json_pack("{s:s}", "expected", "{\"a\": int, \"b\": int}");
    rc = ward_ctx_fail_json(ctx, 1, "bad params", detail);
    json_decref(detail);
  }
  json_decref(params);
  return rc;
}

static int on_doctor(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)data, (void)len, (void)ud;
  const ward_check checks[] = {
      {"config", WARD_CHECK_PASS, "loaded"},
      {"cache", WARD_CHECK_WARNING, "cold: first calls will be slow"},
  };
  return ward_ctx_reply_doctor(ctx, checks, 2);
}

int main(void) {
  ward_client *c;
  if (ward_client_connect(&c) != WARD_OK)
    return 2;
  ward_client_handle(c, "sum", on_sum, NULL);
  ward_client_handle(c, "ward.doctor", on_doctor, NULL);
  ward_client_meta(c, "version", "1.4.2");
  int rc = ward_client_run(c);
  ward_client_free(c);
  return rc == WARD_OK ? 0 : 1;
}
