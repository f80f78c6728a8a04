/*
 * echo_worker.c — a small ward worker; examples/host_echo.c starts it.
 *
 * A worker is an ordinary program that links libward. It connects to the
 * host that started it (the channel is named in its environment), registers
 * the methods it serves, and runs the serving loop until the host says
 * goodbye. Payloads here are JSON text, ward's default encoding.
 *
 * Methods:
 *   echo    replies with the request payload, byte for byte
 *   slow    reports progress "1/3", "2/3", "3/3", then replies "done"
 *   crash   calls abort(), to show what the host sees when a worker dies
 *   whoami  replies with this process's id
 */
#define _POSIX_C_SOURCE 200809L

#include <ward.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Sends a NUL-terminated string, already JSON, as a progress report. */
static int progress(ward_ctx *ctx, const char *json) {
  return ward_ctx_progress(ctx, json, strlen(json));
}

/* Ends the call with a NUL-terminated JSON text. A failed reply is returned
 * as the handler's result, which makes it the call's remote error code. */
static int reply(ward_ctx *ctx, const char *json) {
  return ward_ctx_reply(ctx, json, strlen(json));
}

static int on_echo(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ud;
  return ward_ctx_reply(ctx, data, len);
}

/* Stands in for real work: a step that takes a while. */
static void work_a_little(void) {
  struct timespec step = {0, 150 * 1000 * 1000};
  nanosleep(&step, NULL);
}

static int on_slow(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  static const char *const steps[] = {"\"1/3\"", "\"2/3\"", "\"3/3\""};
  (void)data;
  (void)len;
  (void)ud;
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
    /* A long handler checks for cancellation between steps, so a caller
     * that gave up does not keep this worker busy. */
    if (ward_ctx_cancelled(ctx))
      return ward_ctx_fail(ctx, WARD_ECANCELED, "cancelled by the caller");
    work_a_little();
    int rc = progress(ctx, steps[i]);
    if (rc != WARD_OK)
      return rc;
  }
  return reply(ctx, "\"done\"");
}

static int on_crash(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ctx;
  (void)data;
  (void)len;
  (void)ud;
  /* Dies by SIGABRT in the middle of a call: the host's call fails with
   * WARD_ECRASHED and its event callback reports how the process ended. */
  abort();
}

static int on_whoami(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  char pid[32];
  (void)data;
  (void)len;
  (void)ud;
  /* A bare number is valid JSON text. */
  snprintf(pid, sizeof pid, "%ld", (long)getpid());
  return reply(ctx, pid);
}

/* Registers every method; they are announced to the host in the handshake,
 * so this must happen before ward_client_run. */
static int register_methods(ward_client *c) {
  static const struct {
    const char *method;
    ward_handler fn;
  } methods[] = {
      {"echo", on_echo},
      {"slow", on_slow},
      {"crash", on_crash},
      {"whoami", on_whoami},
  };
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
    int rc = ward_client_handle(c, methods[i].method, methods[i].fn, NULL);
    if (rc != WARD_OK)
      return rc;
  }
  return WARD_OK;
}

/* The last error's sentence, or the code's text when there is none. */
static const char *why(int rc) {
  const char *detail = ward_last_error();
  return detail[0] != '\0' ? detail : ward_strerror(rc);
}

int main(void) {
  ward_client *c = NULL;
  int rc = ward_client_connect(&c);
  if (rc != WARD_OK) {
    /* EINVAL means the environment names no channel: someone ran this
     * program by hand instead of through a host. */
    if (rc == WARD_EINVAL)
      fprintf(stderr,
              "echo_worker: not started by a ward host: run it through host_echo,\n"
              "  e.g. build/examples/host_echo build/examples/echo_worker\n"
              "  (%s)\n",
              why(rc));
    else
      fprintf(stderr, "echo_worker: cannot reach the host: %s\n", why(rc));
    return 2;
  }

  rc = register_methods(c);
  if (rc == WARD_OK)
    rc = ward_client_meta(c, "example", "echo_worker");
  if (rc == WARD_OK)
    rc = ward_client_run(c); /* returns WARD_OK when the host says goodbye */
  if (rc != WARD_OK)
    fprintf(stderr, "echo_worker: %s (%s)\n", ward_strerror(rc), ward_err_name(rc));

  ward_client_free(c);
  return rc == WARD_OK ? 0 : 1;
}
