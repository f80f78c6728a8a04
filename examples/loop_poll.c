/*
 * loop_poll.c — ward inside a program's own poll() loop: no thread of
 * ward's, every callback on this thread. Starts examples/echo_worker.c.
 *
 *   loop_poll [path/to/echo_worker]
 *
 * A GUI toolkit or a game loop does the same with its own loop: watch
 * ward_host_fd(), and call ward_host_dispatch() when it is readable.
 */
#define _POSIX_C_SOURCE 200809L

#include <ward.h>

#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int pending = 3;

static void on_event(const ward_event *ev, void *ud) {
  (void)ud;
  printf("[event] %s %s (pid %d)\n", ward_event_name(ev->type), ev->name, ev->pid);
}

static void on_progress(const void *data, size_t len, void *ud) {
  (void)ud;
  printf("progress %.*s\n", (int)len, (const char *)data);
}

static void on_done(ward_call *call, int status, ward_msg *reply, void *ud) {
  (void)call;
  printf("done    %s: %s %.*s\n", (const char *)ud, ward_err_name(status), (int)ward_msg_len(reply),
         (const char *)ward_msg_data(reply));
  ward_msg_free(reply);
  pending--;
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
  setvbuf(stdout, NULL, _IOLBF, 0);
  ward_host_opts o = WARD_HOST_OPTS_INIT;
  o.on_event = on_event;
  o.external_loop = 1;
  ward_host *host;
  ward_spec *spec;
  ward_worker *w;
  if (ward_host_new(&host, &o) || ward_spec_new(&spec, "echo", path))
    return 1;
  /* Blocking calls still work: this one runs the loop while it waits. */
  if (ward_spawn(&w, host, spec) != WARD_OK) {
    fprintf(stderr, "loop_poll: %s\n", ward_last_error());
    return 1;
  }
  ward_spec_free(spec);

  /* Three calls in flight at once, their outcomes delivered by the loop. */
  ward_call *calls[3];
  ward_call_opts slow = WARD_CALL_OPTS_INIT;
  slow.on_progress = on_progress;
  ward_call_start(&calls[0], w, "echo", "\"one\"", 5, NULL, on_done, "echo one");
  ward_call_start(&calls[1], w, "slow", "null", 4, &slow, on_done, "slow");
  ward_call_start(&calls[2], w, "echo", "\"two\"", 5, NULL, on_done, "echo two");

  /* The program's own loop. Here it only watches ward; a real one would
   * watch its windows, sockets and timers too. */
  struct pollfd p = {.fd = ward_host_fd(host), .events = POLLIN};
  while (pending > 0) {
    if (poll(&p, 1, 5000) <= 0)
      break;
    ward_host_dispatch(host, 0);
  }
  for (int i = 0; i < 3; i++)
    ward_call_free(calls[i]);
  ward_host_free(host);
  puts(pending == 0 ? "loop_poll: all calls ended on this thread" : "loop_poll: calls left over");
  return pending == 0 ? 0 : 1;
}
