/*
 * flaky_worker.c — a worker that fails on request; examples/host_supervise.c
 * starts it to show the supervisor at work.
 *
 * Methods:
 *   work   replies "done"
 *   crash  calls abort() in the middle of the call
 *   hang   never answers (a wedged handler)
 */
#define _POSIX_C_SOURCE 200809L

#include <ward.h>

#include <stdlib.h>
#include <unistd.h>

static int on_work(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)data, (void)len, (void)ud;
  return ward_ctx_reply(ctx, "\"done\"", 6);
}

static int on_crash(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ctx, (void)data, (void)len, (void)ud;
  abort(); /* SIGABRT in the middle of a call */
}

static int on_hang(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ctx, (void)data, (void)len, (void)ud;
  for (;;)
    pause(); /* wedged: reaches no boundary, never replies */
  return 0;  /* not reached */
}

int main(void) {
  ward_client *c;
  if (ward_client_connect(&c) != WARD_OK)
    return 2; /* not started by a ward host */
  ward_client_handle(c, "work", on_work, NULL);
  ward_client_handle(c, "crash", on_crash, NULL);
  ward_client_handle(c, "hang", on_hang, NULL);
  int rc = ward_client_run(c); /* WARD_OK once the host says goodbye */
  ward_client_free(c);
  return rc == WARD_OK ? 0 : 1;
}
