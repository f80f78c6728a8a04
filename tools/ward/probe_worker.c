/*
 * probe_worker.c — `ward __probe-worker`: the worker `ward probe` starts
 * by re-executing this binary. It serves the methods listed in probe.h and
 * nothing else; run by hand it says so and exits 2.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <ward.h>

#include "cli.h"
#include "probe.h"

/* A flood the host never cancels ends by itself after this long. */
#define FLOOD_LIMIT_MS 30000

static int on_echo(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ud;
  return ward_ctx_reply(ctx, data, len);
}

/* "ROWS MS": the most rows to send, and for how long at most. */
static int parse_stream_params(const void *data, size_t len, unsigned long long *rows, int *ms) {
  char text[64];
  if (len >= sizeof text)
    return -1;
  memcpy(text, data, len);
  text[len] = '\0';
  return sscanf(text, "%llu %d", rows, ms) == 2 && *ms >= 0 ? 0 : -1;
}

/* Streams 32-byte rows until it has sent ROWS or MS have passed, then
 * replies with how many it sent, so the host can check none was lost. */
static int on_stream(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ud;
  unsigned long long max_rows, sent = 0;
  int ms;
  if (parse_stream_params(data, len, &max_rows, &ms) != 0)
    return ward_ctx_fail(ctx, WARD_EINVAL, "expected \"ROWS MS\"");
  char row[PROBE_ROW_BYTES], text[32];
  memset(row, 'r', sizeof row);
  double end = cli_now_us() + ms * 1000.0;
  while (sent < max_rows && cli_now_us() < end) {
    int rc = ward_ctx_row(ctx, "rows", row, sizeof row);
    if (rc != WARD_OK)
      return rc;
    sent++;
  }
  snprintf(text, sizeof text, "%llu", sent);
  return ward_ctx_reply(ctx, text, strlen(text));
}

/* Streams rows until the caller cancels, which ward_ctx_row reports at
 * the next row: a long handler that behaves. The time limit only keeps a
 * lost cancel from running forever. */
static int on_flood(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)data, (void)len, (void)ud;
  char row[PROBE_ROW_BYTES];
  memset(row, 'f', sizeof row);
  double end = cli_now_us() + FLOOD_LIMIT_MS * 1000.0;
  while (cli_now_us() < end) {
    int rc = ward_ctx_row(ctx, "rows", row, sizeof row);
    if (rc == WARD_ECANCELED)
      return ward_ctx_fail(ctx, WARD_ECANCELED, "cancelled by the caller");
    if (rc != WARD_OK)
      return rc;
  }
  return ward_ctx_fail(ctx, WARD_ETIMEDOUT, "never cancelled");
}

/* Dies by SIGABRT in the middle of a call. Without a core dump: the
 * probe crashes on purpose and must not litter the current directory or
 * the system's crash collector. */
static int on_crash(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ctx, (void)data, (void)len, (void)ud;
  struct rlimit none = {0, 0};
  setrlimit(RLIMIT_CORE, &none);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* also stops core dumps to a pipe */
  abort();
}

static int serve(ward_client *c) {
  static const struct {
    const char *method;
    ward_handler fn;
  } methods[] = {
      {PROBE_M_ECHO, on_echo},
      {PROBE_M_STREAM, on_stream},
      {PROBE_M_FLOOD, on_flood},
      {PROBE_M_CRASH, on_crash},
  };
  int rc = WARD_OK;
  for (size_t i = 0; rc == WARD_OK && i < sizeof methods / sizeof methods[0]; i++)
    rc = ward_client_handle(c, methods[i].method, methods[i].fn, NULL);
  if (rc == WARD_OK)
    rc = ward_client_meta(c, "version", ward_version_string());
  if (rc == WARD_OK)
    rc = ward_client_run(c); /* WARD_OK once the host says goodbye */
  return rc;
}

int probe_worker_main(int argc, char **argv) {
  if (argc > 1)
    return cli_usage_error(PROBE_WORKER_CMD, "unexpected argument '%s'", argv[1]);
  ward_client *c = NULL;
  int rc = ward_client_connect(&c);
  if (rc == WARD_EINVAL) {
    cli_error(PROBE_WORKER_CMD, "%s: this is the worker 'ward probe' starts, not a command to run",
              ward_last_error());
    return CLI_EXIT_USAGE;
  }
  if (rc != WARD_OK) {
    cli_error(PROBE_WORKER_CMD, "cannot reach the host: %s", ward_last_error());
    return CLI_EXIT_FAIL;
  }
  rc = serve(c);
  if (rc != WARD_OK)
    cli_error(PROBE_WORKER_CMD, "%s (%s)", ward_strerror(rc), ward_last_error());
  ward_client_free(c);
  return rc == WARD_OK ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
