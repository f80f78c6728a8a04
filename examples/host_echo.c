/*
 * host_echo.c — a ward host: starts examples/echo_worker.c in a child
 * process and talks to it.
 *
 *   host_echo [path/to/echo_worker]
 *
 * Without an argument it starts the echo_worker next to its own executable.
 * It shows, in order: lifecycle events, a ping, a request and its reply,
 * a call with live progress reports, and a worker that crashes in the
 * middle of a call, which ends that call with a typed error while the host
 * carries on; the supervisor then starts a new process and the same handle
 * serves calls again. Exits 0 when everything happened as expected, 1
 * otherwise.
 */
#define _POSIX_C_SOURCE 200809L

#include <ward.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _WIN32
#include <windows.h> /* GetModuleFileNameA */
/* Windows reports an exception that ended a worker as the signal that
 * says the same (docs/platforms.md); it has no names for them. */
#define strsignal(sig) "an exception"
#endif

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

#define CALL_TIMEOUT_MS 10000 /* generous: a loaded CI machine is slow */
#define EXIT_WAIT_MS 10000

/* ------------------------------------------------------------------ */
/* Events. The callback runs on the host's I/O thread, so what main    */
/* needs to know from it goes through a mutex and a condition variable. */
/* ------------------------------------------------------------------ */

typedef struct exit_watch {
  pthread_mutex_t mu;
  pthread_cond_t cv; /* waits on CLOCK_MONOTONIC, immune to clock changes */
  clockid_t clock;   /* ... where the threads library has it (not winpthreads) */
  int exited;        /* EXITED events seen so far */
} exit_watch;

static int exit_watch_init(exit_watch *xw) {
  pthread_condattr_t attr;
  xw->exited = 0;
  if (pthread_mutex_init(&xw->mu, NULL) != 0)
    return -1;
  if (pthread_condattr_init(&attr) != 0)
    return -1;
  xw->clock = CLOCK_MONOTONIC;
  if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0)
    xw->clock = CLOCK_REALTIME;
  int rc = pthread_cond_init(&xw->cv, &attr);
  pthread_condattr_destroy(&attr);
  return rc == 0 ? 0 : -1;
}

static void exit_watch_destroy(exit_watch *xw) {
  pthread_cond_destroy(&xw->cv);
  pthread_mutex_destroy(&xw->mu);
}

static void print_exit(const ward_event *ev) {
  if (ev->signal != 0)
    printf("[event] %-7s %s (pid %d): killed by signal %d (%s), reason: %s\n",
           ward_event_name(ev->type), ev->name, ev->pid, ev->signal, strsignal(ev->signal),
           ward_reason_name(ev->reason));
  else
    printf("[event] %-7s %s (pid %d): exit code %d, reason: %s\n", ward_event_name(ev->type),
           ev->name, ev->pid, ev->exit_code, ward_reason_name(ev->reason));
}

static void on_event(const ward_event *ev, void *ud) {
  exit_watch *xw = ud;

  if (ev->type == WARD_EV_EXITED)
    print_exit(ev);
  else if (ev->type == WARD_EV_RESTARTING)
    printf("[event] %-7s %s: after %s, attempt %d, in %d ms\n", ward_event_name(ev->type),
           ev->name, ward_reason_name(ev->reason), ev->attempt, ev->delay_ms);
  else if (ev->type == WARD_EV_STOPPED)
    printf("[event] %-7s %s: %s\n", ward_event_name(ev->type), ev->name,
           ward_stop_outcome_name(ev->outcome));
  else if (ev->type == WARD_EV_ERROR)
    printf("[event] %-7s %s (pid %d): %s%s%s\n", ward_event_name(ev->type), ev->name, ev->pid,
           ward_err_name(ev->error), ev->detail ? ": " : "", ev->detail ? ev->detail : "");
  else
    printf("[event] %-7s %s (pid %d)\n", ward_event_name(ev->type), ev->name, ev->pid);

  if (ev->type == WARD_EV_EXITED) {
    pthread_mutex_lock(&xw->mu);
    xw->exited++;
    pthread_cond_broadcast(&xw->cv);
    pthread_mutex_unlock(&xw->mu);
  }
}

/* Waits until the callback has reported an EXITED event, or `ms` passed.
 * Returns 1 if it did. */
static int wait_for_exit(exit_watch *xw, int ms) {
  struct timespec deadline;
  clock_gettime(xw->clock, &deadline);
  deadline.tv_sec += ms / 1000;
  deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000L;
  }

  pthread_mutex_lock(&xw->mu);
  int rc = 0;
  while (xw->exited == 0 && rc != ETIMEDOUT)
    rc = pthread_cond_timedwait(&xw->cv, &xw->mu, &deadline);
  int seen = xw->exited > 0;
  pthread_mutex_unlock(&xw->mu);

  if (!seen)
    fprintf(stderr, "host_echo: no exited event within %d ms\n", ms);
  return seen;
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

/* Prints why a ward call failed. ward_last_error() is only valid until the
 * next ward call on this thread, so it is copied before anything else. */
static void report(const char *what, int rc) {
  char detail[512];
  snprintf(detail, sizeof detail, "%s", ward_last_error());
  fprintf(stderr, "host_echo: %s failed: %s (%s)%s%s\n", what, ward_err_name(rc),
          ward_strerror(rc), detail[0] != '\0' ? ": " : "", detail);
}

static long long now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* A reply's bytes, for printf's "%.*s". */
#define MSG_FMT(m) (int)ward_msg_len(m), (const char *)ward_msg_data(m)

/* Fills `out` with argv[1], or with "echo_worker" in the directory of this
 * executable: running from another directory must still find it. */
static int worker_path(char *out, size_t size, int argc, char **argv) {
#ifdef _WIN32
  static const char name[] = "\\echo_worker.exe";
  const char sep = '\\';
#else
  static const char name[] = "/echo_worker";
  const char sep = '/';
#endif

  if (argc > 1) {
    snprintf(out, size, "%s", argv[1]);
    return 1;
  }
  char self[PATH_MAX];
#ifdef _WIN32
  DWORD n = GetModuleFileNameA(NULL, self, sizeof self - 1);
  if (n == 0 || n >= sizeof self - 1) {
    fprintf(stderr, "host_echo: GetModuleFileName failed\n");
    return 0;
  }
#else
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n < 0) {
    perror("host_echo: readlink /proc/self/exe");
    return 0;
  }
#endif
  self[n] = '\0';
  /* An absolute path: keep it up to its last separator. */
  char *slash = strrchr(self, sep);
  size_t dir = slash != NULL ? (size_t)(slash - self) : 0;
  if (dir + sizeof name > size) {
    fprintf(stderr, "host_echo: path too long: %s\n", self);
    return 0;
  }
  memcpy(out, self, dir);
  memcpy(out + dir, name, sizeof name);
  return 1;
}

/* ------------------------------------------------------------------ */
/* The steps of the demo. Each returns 1 when it went as expected.     */
/* ------------------------------------------------------------------ */

static ward_worker *start_worker(ward_host *host, const char *path) {
  ward_spec *spec = NULL;
  ward_worker *w = NULL;

  printf("host_echo: starting %s\n", path);
  int rc = ward_spec_new(&spec, "echo", path);
  if (rc != WARD_OK) {
    report("ward_spec_new", rc);
    return NULL;
  }
  /* ward_spawn returns once the worker has done its handshake, so calls
   * can be made right away. The spec is copied: it can go now. */
  rc = ward_spawn(&w, host, spec);
  ward_spec_free(spec);
  if (rc != WARD_OK) {
    report("ward_spawn", rc);
    return NULL;
  }
  printf("spawn   worker '%s' is up, pid %d\n", ward_worker_name(w), ward_worker_pid(w));
  return w;
}

static int step_ping(ward_worker *w) {
  long long t0 = now_us();
  int rc = ward_ping(w, CALL_TIMEOUT_MS);
  long long rtt = now_us() - t0;
  if (rc != WARD_OK) {
    report("ward_ping", rc);
    return 0;
  }
  printf("ping    round trip %lld us\n", rtt);
  return 1;
}

static int step_echo(ward_worker *w) {
  static const char request[] = "{\"text\":\"hello, worker\"}";
  ward_msg *reply = NULL;

  int rc = ward_request(&reply, w, "echo", request, strlen(request), CALL_TIMEOUT_MS);
  if (rc != WARD_OK) {
    report("request 'echo'", rc);
    ward_msg_free(reply); /* holds the remote error on WARD_EREMOTE */
    return 0;
  }
  int same = ward_msg_len(reply) == strlen(request) &&
             memcmp(ward_msg_data(reply), request, strlen(request)) == 0;
  printf("echo    sent %s, got back %.*s\n", request, MSG_FMT(reply));
  ward_msg_free(reply);
  if (!same)
    fprintf(stderr, "host_echo: the echo differs from the request\n");
  return same;
}

static int step_whoami(ward_worker *w) {
  ward_msg *reply = NULL;

  int rc = ward_request(&reply, w, "whoami", "null", 4, CALL_TIMEOUT_MS);
  if (rc != WARD_OK) {
    report("request 'whoami'", rc);
    ward_msg_free(reply);
    return 0;
  }
  /* The reply is the worker's own getpid(): a separate process. */
  printf("whoami  the worker says its pid is %.*s (the host's is %ld)\n", MSG_FMT(reply),
         (long)getpid());
  ward_msg_free(reply);
  return 1;
}

/* Runs on this thread, inside ward_request_ex, once per progress report. */
static void on_progress(const void *data, size_t len, void *ud) {
  int *count = ud;
  (*count)++;
  printf("slow    progress %.*s\n", (int)len, (const char *)data);
}

static int step_slow(ward_worker *w) {
  ward_call_opts opts = WARD_CALL_OPTS_INIT;
  ward_msg *reply = NULL;
  int reports = 0;

  opts.timeout_ms = CALL_TIMEOUT_MS;
  opts.on_progress = on_progress;
  opts.ud = &reports;
  int rc = ward_request_ex(&reply, w, "slow", "null", 4, &opts);
  if (rc != WARD_OK) {
    report("request 'slow'", rc);
    ward_msg_free(reply);
    return 0;
  }
  printf("slow    replied %.*s after %d progress reports\n", MSG_FMT(reply), reports);
  ward_msg_free(reply);
  return reports == 3;
}

static int step_crash(ward_worker *w) {
  ward_msg *reply = NULL;

  printf("crash   asking the worker to abort() in the middle of a call...\n");
  int rc = ward_request(&reply, w, "crash", "null", 4, CALL_TIMEOUT_MS);
  ward_msg_free(reply);
  if (rc != WARD_ECRASHED) {
    fprintf(stderr, "host_echo: expected ECRASHED from 'crash', got %s\n", ward_err_name(rc));
    return 0;
  }
  /* The call ended exactly once, with a typed error; the host lives on. */
  printf("crash   the call failed with %s: %s\n", ward_err_name(rc), ward_strerror(rc));
  return 1;
}

/* The supervisor starts a new process (the spec's default restart policy):
 * the same handle serves calls again, from a new pid. */
static int step_recover(ward_worker *w, int old_pid) {
  ward_msg *reply = NULL;
  int rc = ward_request(&reply, w, "whoami", "null", 4, CALL_TIMEOUT_MS);
  if (rc != WARD_OK) {
    report("request 'whoami' after the crash", rc);
    ward_msg_free(reply);
    return 0;
  }
  int pid = atoi((const char *)ward_msg_data(reply));
  ward_msg_free(reply);
  printf("recover the worker is back as pid %d (it was %d), generation %u\n", pid, old_pid,
         (unsigned)ward_worker_generation(w));
  return pid != old_pid && pid == ward_worker_pid(w) && ward_worker_generation(w) == 2;
}

static int run_demo(ward_host *host, exit_watch *xw, const char *path) {
  ward_worker *w = start_worker(host, path);
  if (w == NULL)
    return 0;

  int first_pid = ward_worker_pid(w);
  int ok = step_ping(w) && step_echo(w) && step_whoami(w) && step_slow(w) && step_crash(w);
  /* The EXITED event may come before or after the call's error: wait. */
  ok = ok && wait_for_exit(xw, EXIT_WAIT_MS);
  ok = ok && step_recover(w, first_pid);

  ward_worker_free(w);
  return ok;
}

int main(int argc, char **argv) {
  char path[PATH_MAX];
  exit_watch xw;
  ward_host *host = NULL;

  /* Lines come from two threads (events arrive on ward's I/O thread):
   * write each one out whole, as it happens, even into a pipe. */
  setvbuf(stdout, NULL, _IOLBF, 0);

  if (!worker_path(path, sizeof path, argc, argv))
    return 1;
  if (exit_watch_init(&xw) != 0) {
    fprintf(stderr, "host_echo: cannot set up a mutex and condition variable\n");
    return 1;
  }

  ward_host_opts opts = WARD_HOST_OPTS_INIT;
  opts.on_event = on_event;
  opts.event_ud = &xw;
  int rc = ward_host_new(&host, &opts);
  if (rc != WARD_OK) {
    report("ward_host_new", rc);
    exit_watch_destroy(&xw);
    return 1;
  }
  printf("host_echo: ward %s\n", ward_version_string());

  int ok = run_demo(host, &xw, path);

  /* The host stops and reaps any worker left; after this no callback runs,
   * so the state the callback used can go too. */
  ward_host_free(host);
  exit_watch_destroy(&xw);

  puts(ok ? "host_echo: everything happened as expected"
          : "host_echo: something did not go as expected (see above)");
  return ok ? 0 : 1;
}
