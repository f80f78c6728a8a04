/*
 * host_callback.c — a host that serves a method to its workers, with
 * examples/callback_worker.c.
 *
 *   host_callback [path/to/callback_worker]
 *
 * The host serves "user.name" with a host handler (on ward's I/O thread:
 * it only replies), reads what the worker announced in its handshake, and
 * calls its methods: one that succeeds, one that calls back into the host
 * before replying, one that fails in the worker, and one the worker does
 * not serve. Exits 0 when everything happened as expected.
 */
#define _POSIX_C_SOURCE 200809L

#include <ward.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Runs on the host's I/O thread: short, and no blocking ward calls. */
static int on_user_name(ward_ctx *ctx, const void *data, size_t len, void *ud) {
  const char *name = ud;
  (void)data, (void)len;
  printf("host: %s asked for the user name\n", ward_worker_name(ward_ctx_worker(ctx)));
  return ward_ctx_reply(ctx, name, strlen(name));
}

/* Calls `method`; returns its outcome. */
static int call(ward_worker *w, const char *method, const char *arg) {
  ward_msg *reply;
  int rc = ward_request(&reply, w, method, arg, strlen(arg), 10000);
  if (rc == WARD_OK)
    printf("%s -> %.*s\n", method, (int)ward_msg_len(reply), (const char *)ward_msg_data(reply));
  else if (rc == WARD_EREMOTE)
    printf("%s failed in the worker: code %d, %s\n", method, ward_msg_code(reply),
           ward_msg_error(reply));
  else
    printf("%s failed: %s\n", method, ward_strerror(rc));
  ward_msg_free(reply);
  return rc;
}

/* The worker next to this executable, unless a path is given. */
static int worker_path(char *out, size_t cap, int argc, char **argv) {
  if (argc > 1)
    return snprintf(out, cap, "%s", argv[1]) < (int)cap;
  ssize_t n = readlink("/proc/self/exe", out, cap - 1);
  if (n <= 0)
    return 0;
  out[n] = 0;
  char *slash = strrchr(out, '/');
  return slash && snprintf(slash + 1, cap - (size_t)(slash + 1 - out), "callback_worker") > 0;
}

int main(int argc, char **argv) {
  char path[PATH_MAX];
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (!worker_path(path, sizeof path, argc, argv))
    return 1;
  ward_host *host;
  ward_spec *spec;
  ward_worker *w;
  if (ward_host_new(&host, NULL) != WARD_OK)
    return 1;
  ward_host_handle(host, "user.name", on_user_name, "\"Ada\"");
  if (ward_spec_new(&spec, "greeter", path) != WARD_OK) {
    ward_host_free(host);
    return 1;
  }
  int rc = ward_spawn(&w, host, spec);
  ward_spec_free(spec);
  if (rc != WARD_OK) {
    fprintf(stderr, "host_callback: %s\n", ward_last_error());
    ward_host_free(host);
    return 1;
  }
  const char *version = ward_worker_meta(w, "version"); /* NULL if not announced */
  printf("worker version %s, serves greet: %d\n", version ? version : "?",
         ward_worker_serves(w, "greet"));
  int ok = version && strcmp(version, "1.0") == 0 && ward_worker_serves(w, "greet");
  ok &= call(w, "add", "[2,3]") == WARD_OK;
  ok &= call(w, "greet", "null") == WARD_OK;
  ok &= call(w, "add", "oops") == WARD_EREMOTE;
  ok &= call(w, "nosuch", "null") == WARD_ENOMETHOD;

  ward_host_free(host); /* stops the worker and releases its handle */
  puts(ok ? "host_callback: everything happened as expected"
          : "host_callback: something went wrong");
  return ok ? 0 : 1;
}
