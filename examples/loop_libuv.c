/*
 * loop_libuv.c — ward inside a libuv loop: a uv_poll_t watches the host's
 * descriptor and dispatches. Starts examples/echo_worker.c.
 *
 *   loop_libuv [path/to/echo_worker]
 */
#define _POSIX_C_SOURCE 200809L

#include <ward.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

typedef struct app {
  ward_host *host;
  uv_poll_t poll;
  uv_timer_t tick;
  int done, ticks;
} app;

static void on_ward(uv_poll_t *handle, int status, int events) {
  (void)status, (void)events;
  app *a = handle->data;
  ward_host_dispatch(a->host, 0);
}

/* Something else the program's loop does meanwhile. */
static void on_tick(uv_timer_t *t) {
  app *a = t->data;
  a->ticks++;
}

static void on_done(ward_call *call, int status, ward_msg *reply, void *ud) {
  (void)call;
  app *a = ud;
  printf("done    %s %.*s (the loop ticked %d times meanwhile)\n", ward_err_name(status),
         (int)ward_msg_len(reply), (const char *)ward_msg_data(reply), a->ticks);
  ward_msg_free(reply);
  a->done = status == WARD_OK ? 1 : -1;
  uv_poll_stop(&a->poll);
  uv_timer_stop(&a->tick);
}

static int worker_path(char *out, size_t cap, int argc, char **argv) {
  if (argc > 1)
    return snprintf(out, cap, "%s", argv[1]) < (int)cap;
  ssize_t n = readlink("/proc/self/exe", out, cap - 1);
  if (n <= 0)
    return 0;
  out[n] = 0;
  char *slash = strrchr(out, '/');
  return slash && snprintf(slash + 1, cap - (size_t)(slash + 1 - out), "echo_worker") > 0;
}

int main(int argc, char **argv) {
  char path[PATH_MAX];
  if (!worker_path(path, sizeof path, argc, argv))
    return 1;
  app a = {0};
  ward_host_opts o = WARD_HOST_OPTS_INIT;
  o.external_loop = 1;
  ward_spec *spec;
  ward_worker *w;
  if (ward_host_new(&a.host, &o) || ward_spec_new(&spec, "echo", path))
    return 1;
  if (ward_spawn(&w, a.host, spec) != WARD_OK) {
    fprintf(stderr, "loop_libuv: %s\n", ward_last_error());
    return 1;
  }
  ward_spec_free(spec);

  uv_loop_t *loop = uv_default_loop();
  uv_poll_init(loop, &a.poll, ward_host_fd(a.host));
  a.poll.data = &a;
  uv_poll_start(&a.poll, UV_READABLE, on_ward);
  uv_timer_init(loop, &a.tick);
  a.tick.data = &a;
  uv_timer_start(&a.tick, on_tick, 10, 10);

  ward_call *call;
  ward_call_start(&call, w, "slow", "null", 4, NULL, on_done, &a);
  uv_run(loop, UV_RUN_DEFAULT);

  uv_close((uv_handle_t *)&a.poll, NULL);
  uv_close((uv_handle_t *)&a.tick, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  ward_call_free(call);
  ward_host_free(a.host);
  return a.done == 1 ? 0 : 1;
}
