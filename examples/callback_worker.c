/*
 * callback_worker.c — a worker that calls back into its host in the middle
 * of a call; examples/host_callback.c starts it.
 *
 * Methods:
 *   add    [a,b] -> a + b; anything else fails with code 1
 *   greet  asks the host for a name (its method "user.name"), then replies
 *          {"greeting":"hello","name":NAME}
 * It announces version 1.0 in its handshake.
 */
#include <ward.h>

#include <stdio.h>
#include <string.h>

static int on_add(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  char buf[64], out[32];
  int a, b;
  (void)ud;
  if (len >= sizeof buf)
    return ward_ctx_fail(ctx, 1, "request too long");
  memcpy(buf, data, len); /* the request is not NUL-terminated */
  buf[len] = '\0';
  if (sscanf(buf, "[%d,%d]", &a, &b) != 2)
    return ward_ctx_fail(ctx, 1, "expected [a,b]");
  int n = snprintf(out, sizeof out, "%d", a + b);
  return ward_ctx_reply(ctx, out, (size_t)n);
}

/* Calls the host from inside the handler: the client is the handler's ud. */
static int on_greet(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  ward_client *c = ud;
  ward_msg *name;
  (void)data, (void)len;
  int rc = ward_client_request(&name, c, "user.name", "null", 4, 10000);
  if (rc != WARD_OK) {
    char why[128];
    snprintf(why, sizeof why, "host call failed: %s", ward_err_name(rc));
    ward_msg_free(name); /* holds the remote error on WARD_EREMOTE */
    return ward_ctx_fail(ctx, 2, why);
  }
  /* The host's reply is a JSON string such as "Ada": keep it quoted. */
  char out[300];
  int n = snprintf(out, sizeof out, "{\"greeting\":\"hello\",\"name\":%.*s}",
                   (int)ward_msg_len(name), (const char *)ward_msg_data(name));
  ward_msg_free(name);
  if (n < 0 || (size_t)n >= sizeof out)
    return ward_ctx_fail(ctx, 3, "name too long");
  return ward_ctx_reply(ctx, out, (size_t)n);
}

int main(void) {
  ward_client *c;
  if (ward_client_connect(&c) != WARD_OK)
    return 2;
  /* Register before ward_client_run: methods are announced in the handshake. */
  ward_client_handle(c, "add", on_add, NULL);
  ward_client_handle(c, "greet", on_greet, c);
  ward_client_meta(c, "version", "1.0");
  int rc = ward_client_run(c);
  ward_client_free(c);
  return rc == WARD_OK ? 0 : 1;
}
