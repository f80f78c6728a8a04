/*
 * stream_worker.c — a worker that produces a lot; examples/host_streams.c
 * starts it.
 *
 * Methods:
 *   primes  {"below": N} -> rows {"p": prime} on stream "primes", then the
 *           reply {"count": how many}. Stops early, without a reply, if the
 *           caller cancels (ward_ctx_row then returns WARD_ECANCELED).
 *   sum     a MessagePack map {"a": int, "b": int} -> {"sum": a + b}
 */
#include <ward.h>

#include <jansson.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>

static int is_prime(long n) {
  if (n < 2)
    return 0;
  for (long d = 2; d * d <= n; d++)
    if (n % d == 0)
      return 0;
  return 1;
}

static int on_primes(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ud;
  json_t *params;
  int rc = ward_ctx_params_json(ctx, data, len, &params);
  if (rc != WARD_OK)
    return ward_ctx_fail(ctx, rc, ward_last_error());
  long below = (long)json_integer_value(json_object_get(params, "below"));
  json_decref(params);
  long count = 0;
  for (long n = 2; n < below; n++) {
    if (!is_prime(n))
      continue;
    json_t *row = json_pack("{s:I}", "p", (json_int_t)n);
    rc = ward_ctx_row_json(ctx, "primes", row);
    json_decref(row);
    /* Cancelled (or the host is gone): stop here. Returning without a
     * reply is fine, the caller's call has already ended. */
    if (rc != WARD_OK)
      return rc;
    count++;
  }
  json_t *res = json_pack("{s:I}", "count", (json_int_t)count);
  rc = ward_ctx_reply_json(ctx, res);
  json_decref(res);
  return rc;
}

/* Reads a small integer field out of a MessagePack map entry. */
static long long mp_int(const msgpack_object *o) {
  return o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? o->via.i64 : (long long)o->via.u64;
}

static int on_sum(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ud;
  msgpack_unpacked in;
  msgpack_unpacked_init(&in);
  if (msgpack_unpack_next(&in, data, len, NULL) != MSGPACK_UNPACK_SUCCESS ||
      in.data.type != MSGPACK_OBJECT_MAP) {
    msgpack_unpacked_destroy(&in);
    return ward_ctx_fail(ctx, 1, "expected a MessagePack map");
  }
  long long sum = 0;
  for (uint32_t i = 0; i < in.data.via.map.size; i++)
    sum += mp_int(&in.data.via.map.ptr[i].val);
  msgpack_unpacked_destroy(&in);

  msgpack_sbuffer out;
  msgpack_sbuffer_init(&out);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 1);
  msgpack_pack_str(&pk, 3);
  msgpack_pack_str_body(&pk, "sum", 3);
  msgpack_pack_long_long(&pk, sum);
  /* The reply is tagged as MessagePack, like the request was. */
  int rc = ward_ctx_reply(ctx, out.data, out.size);
  msgpack_sbuffer_destroy(&out);
  return rc;
}

int main(void) {
  ward_client *c;
  if (ward_client_connect(&c) != WARD_OK) {
    fprintf(stderr, "stream_worker: not started by a ward host: %s\n", ward_last_error());
    return 2;
  }
  ward_client_handle(c, "primes", on_primes, NULL);
  ward_client_handle(c, "sum", on_sum, NULL);
  int rc = ward_client_run(c);
  ward_client_free(c);
  return rc == WARD_OK ? 0 : 1;
}
