/*
 * sleep_worker.c — a worker whose one method takes a while;
 * examples/host_pool.c runs a pool of them.
 *
 * Methods:
 *   sleep  waits the number of milliseconds it is given, then replies
 *          "done"
 */
#define _POSIX_C_SOURCE 200809L

#include <ward.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

static int on_sleep(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  char buf[16];
  (void)ud;
  if (len == 0 || len >= sizeof buf)
    return ward_ctx_fail(ctx, 1, "expected a number of milliseconds");
  memcpy(buf, data, len); /* the request is not NUL-terminated */
  buf[len] = '\0';
  long ms = atol(buf);
  struct timespec t = {ms / 1000, ms % 1000 * 1000000L};
  nanosleep(&t, NULL); /* stands in for real work */
  return ward_ctx_reply(ctx, "\"done\"", 6);
}

int main(void) {
  ward_client *c;
  if (ward_client_connect(&c) != WARD_OK)
    return 2;
  ward_client_handle(c, "sleep", on_sleep, NULL);
  int rc = ward_client_run(c);
  ward_client_free(c);
  return rc == WARD_OK ? 0 : 1;
}
