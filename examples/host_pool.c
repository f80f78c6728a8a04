/*
 * host_pool.c — a pool of examples/sleep_worker.c processes, from one to
 * three.
 *
 *   host_pool [path/to/sleep_worker]
 *
 * Four threads make two 100 ms calls each: the pool grows to its maximum
 * of three, and the fourth thread's calls wait for a free worker. Left
 * idle past idle_ms, the two extra workers are stopped by the pool's own
 * thread. Exits 0 when everything happened as expected.
 */
#define _POSIX_C_SOURCE 200809L

#include <ward.h>

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static ward_pool *pool;

static void *caller(void *arg) {
  int *failed = arg;
  for (int i = 0; i < 2; i++) /* two calls of 100 ms each */
    if (ward_pool_request(NULL, pool, "sleep", "100", 3, 30000) != WARD_OK)
      (*failed)++;
  return NULL;
}

static ward_pool_stats stats(const char *when) {
  ward_pool_stats st = WARD_POOL_STATS_INIT;
  if (ward_pool_info(&st, pool) == WARD_OK && when)
    printf("%s: %zu workers, %zu busy; %llu calls, %llu failed; grown %llu, shrunk %llu\n",
           when, st.workers, st.busy, (unsigned long long)st.calls,
           (unsigned long long)st.failures, (unsigned long long)st.grown,
           (unsigned long long)st.shrunk);
  return st;
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
  return slash && snprintf(slash + 1, cap - (size_t)(slash + 1 - out), "sleep_worker") > 0;
}

int main(int argc, char **argv) {
  char path[PATH_MAX];
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (!worker_path(path, sizeof path, argc, argv))
    return 1;
  ward_host *host;
  ward_spec *spec;
  if (ward_host_new(&host, NULL) != WARD_OK)
    return 1;
  if (ward_spec_new(&spec, "sleeper", path) != WARD_OK) {
    ward_host_free(host);
    return 1;
  }
  ward_pool_opts opts = WARD_POOL_OPTS_INIT;
  opts.min_workers = 1;
  opts.max_workers = 3;
  opts.idle_ms = 500;
  int rc = ward_pool_new(&pool, host, spec, &opts); /* starts the first worker */
  ward_spec_free(spec);
  if (rc != WARD_OK) {
    fprintf(stderr, "host_pool: %s\n", ward_last_error());
    ward_host_free(host);
    return 1;
  }
  ward_pool_stats st = stats("started");
  int ok = st.workers == 1;

  pthread_t threads[4];
  int failed[4] = {0};
  for (int i = 0; i < 4; i++)
    pthread_create(&threads[i], NULL, caller, &failed[i]);
  for (int i = 0; i < 4; i++)
    pthread_join(threads[i], NULL);
  st = stats("after 8 calls from 4 threads");
  ok &= st.calls == 8 && st.failures == 0 && st.workers <= 3;
  ok &= !failed[0] && !failed[1] && !failed[2] && !failed[3];

  /* The pool's thread stops the workers beyond the minimum once they have
   * idled for idle_ms; look until it has (or 30 s went by). */
  uint64_t grown = st.grown;
  for (int i = 0; i < 300 && stats(NULL).shrunk < grown; i++) {
    struct timespec tick = {0, 100 * 1000000L};
    nanosleep(&tick, NULL);
  }
  st = stats("left idle");
  ok &= st.workers == 1 && st.shrunk == grown;

  ward_pool_free(pool);
  ward_host_free(host);
  puts(ok ? "host_pool: everything happened as expected" : "host_pool: something went wrong");
  return ok ? 0 : 1;
}
