/*
 * install_consumer.c — a program outside the tree, built by install_test.sh
 * against an installed ward (pkg-config and find_package). It uses only the
 * public names every program may rely on, so it fails to build if ward.h,
 * the library or the package files are not installed where they say, and
 * fails to run if the installed library does not behave as documented.
 *
 * It is its own worker: run with "--worker" it serves "echo" and "upper";
 * otherwise it is the host that starts itself and calls them.
 */
#include <ward.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int echo(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ud;
  return ward_ctx_reply(ctx, data, len);
}

/* Calls the host's "upper" and passes its answer back. */
static int shout(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  ward_msg *m = NULL;
  int rc = ward_client_request(&m, ud, "upper", data, len, 10000);
  if (rc != WARD_OK)
    return ward_ctx_fail(ctx, 1, ward_strerror(rc));
  rc = ward_ctx_reply(ctx, ward_msg_data(m), ward_msg_len(m));
  ward_msg_free(m);
  return rc;
}

static int worker(void) {
  ward_client *c;
  if (ward_client_connect(&c) != WARD_OK)
    return 2;
  ward_client_handle(c, "echo", echo, NULL);
  ward_client_handle(c, "shout", shout, c);
  int rc = ward_client_run(c);
  ward_client_free(c);
  return rc == WARD_OK ? 0 : 1;
}

static int upper(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  (void)ud;
  char buf[64];
  if (len > sizeof buf)
    return ward_ctx_fail(ctx, 2, "too long");
  for (size_t i = 0; i < len; i++)
    buf[i] = (char)toupper(((const unsigned char *)data)[i]);
  return ward_ctx_reply(ctx, buf, len);
}

static int expect(ward_worker *w, const char *method, const char *in, const char *out) {
  ward_msg *m = NULL;
  int rc = ward_request(&m, w, method, in, strlen(in), 10000);
  int ok = rc == WARD_OK && ward_msg_len(m) == strlen(out) &&
           memcmp(ward_msg_data(m), out, strlen(out)) == 0;
  if (!ok)
    fprintf(stderr, "%s(%s): %s\n", method, in, rc ? ward_strerror(rc) : "wrong reply");
  ward_msg_free(m);
  return ok;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--worker") == 0)
    return worker();
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0)
    return 1;
  self[n] = 0;

  ward_host *host;
  ward_spec *spec;
  ward_worker *w;
  if (ward_host_new(&host, NULL) != WARD_OK)
    return 1;
  ward_host_handle(host, "upper", upper, NULL);
  ward_spec_new(&spec, "consumer", self);
  ward_spec_arg(spec, "--worker");
  int rc = ward_spawn(&w, host, spec);
  ward_spec_free(spec);
  if (rc != WARD_OK) {
    fprintf(stderr, "ward_spawn: %s\n", ward_strerror(rc));
    ward_host_free(host);
    return 1;
  }
  int ok = ward_ping(w, 10000) == WARD_OK;
  ok = ok && expect(w, "echo", "\"hi\"", "\"hi\"");
  ok = ok && expect(w, "shout", "quiet", "QUIET");
  ok = ok && ward_request(NULL, w, "nothing", "", 0, 10000) == WARD_ENOMETHOD;
  ok = ok && ward_worker_stop(w, 2000) == WARD_OK && ward_worker_pid(w) == 0;
  ward_worker_free(w);
  ward_host_free(host);
  printf("ward %s: %s\n", ward_version_string(), ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
