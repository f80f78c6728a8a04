/*
 * test.h — the tiny harness every test executable uses.
 *
 * Each test file is its own executable under ctest. Assertions print both
 * sides and, for ward calls, the error name and the thread's last error
 * sentence, then abort (so a core or sanitizer stack shows where).
 */
#ifndef WARD_TEST_H
#define WARD_TEST_H

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _WIN32
#include <windows.h>
#include <psapi.h>
#else
#include <sys/socket.h>
#include <sys/un.h>
#endif

#include "ward.h"

/* Under a sanitizer freed memory sits in a quarantine and shadow memory
 * grows: a process's RSS says nothing about what it holds there (ASan's
 * LeakSanitizer checks leaks at exit instead). Tests skip RSS bounds. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RSS_MEANINGFUL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RSS_MEANINGFUL 0
#endif
#endif
#ifndef RSS_MEANINGFUL
#define RSS_MEANINGFUL 1
#endif

static int t__failed;
static int t__passed;

#define T_FAIL(...)                                                 \
  do {                                                              \
    fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);           \
    fprintf(stderr, __VA_ARGS__);                                   \
    fputc('\n', stderr);                                            \
    abort();                                                        \
  } while (0)

/* A ward call that must succeed. */
#define T_OK(expr)                                                                  \
  do {                                                                              \
    int t__rv = (expr);                                                             \
    if (t__rv != 0)                                                                 \
      T_FAIL("%s = %d (%s: %s) [%s]", #expr, t__rv, ward_err_name(t__rv),          \
             ward_strerror(t__rv), ward_last_error());                             \
  } while (0)

/* A ward call that must fail with exactly `err`. */
#define T_ERR(expr, err)                                                            \
  do {                                                                              \
    int t__rv = (expr);                                                             \
    int t__want = (err);                                                            \
    if (t__rv != t__want)                                                           \
      T_FAIL("%s = %d (%s), want %d (%s) [%s]", #expr, t__rv, ward_err_name(t__rv), \
             t__want, ward_err_name(t__want), ward_last_error());                  \
  } while (0)

#define T_TRUE(cond)                        \
  do {                                      \
    if (!(cond))                            \
      T_FAIL("expected true: %s", #cond);   \
  } while (0)

#define T_EQ_INT(a, b)                                                         \
  do {                                                                         \
    long long t__a = (long long)(a), t__b = (long long)(b);                    \
    if (t__a != t__b)                                                          \
      T_FAIL("%s == %s: %lld != %lld", #a, #b, t__a, t__b);                    \
  } while (0)

#define T_EQ_STR(a, b)                                                         \
  do {                                                                         \
    const char *t__a = (a), *t__b = (b);                                       \
    if (!t__a || !t__b || strcmp(t__a, t__b) != 0)                             \
      T_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, t__a ? t__a : "(null)",     \
             t__b ? t__b : "(null)");                                          \
  } while (0)

#define T_EQ_MEM(a, b, n)                                                      \
  do {                                                                         \
    if (memcmp((a), (b), (n)) != 0)                                            \
      T_FAIL("%s and %s differ in their %zu bytes", #a, #b, (size_t)(n));      \
  } while (0)

/* Whether the test named `name` is in WARD_TEST_SKIP (names separated by
 * spaces): what a backend cannot do is skipped by name, the reason beside
 * the list in CMakeLists.txt. */
static inline int t_skipped(const char *name) {
  const char *list = getenv("WARD_TEST_SKIP");
  size_t n = strlen(name);
  for (const char *p = list; p && (p = strstr(p, name)); p += n)
    if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
      return 1;
  return 0;
}

/* Runs one test function and counts it (unless it is to be skipped). */
#define T_RUN(fn)                                                     \
  do {                                                                \
    if (t_skipped(#fn)) {                                             \
      fprintf(stderr, "-- %s: skipped on this backend\n", #fn);       \
      break;                                                          \
    }                                                                 \
    fprintf(stderr, "-- %s\n", #fn);                                  \
    fn();                                                             \
    t__passed++;                                                      \
  } while (0)

/* ASAN_OPTIONS with LeakSanitizer's check at exit turned off, for
 * sandboxed children: that check stops the world with ptrace, which their
 * seccomp filter refuses (docs/extensions.md). Into `buf`. */
static inline __attribute__((unused)) const char *t_asan_no_leaks(char *buf, size_t cap) {
  const char *asan = getenv("ASAN_OPTIONS");
  snprintf(buf, cap, "%s%sdetect_leaks=0", asan ? asan : "", asan && *asan ? ":" : "");
  return buf;
}

/* The closing line ctest logs and CI reads. */
static inline int t_done(void) {
  printf("%d passed, %d failed\n", t__passed, t__failed);
  return t__failed ? 1 : 0;
}

/* The entries of a directory, "." and ".." aside (the threads of a
 * process in /proc/PID/task, its descriptors in /proc/PID/fd). */
static inline int t_count_entries(const char *path) {
  DIR *d = opendir(path);
  if (!d)
    abort();
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(d);
  return n;
}

#ifndef _WIN32 /* Unix sockets and /proc */
/* A bare connection to the Unix socket at `path` (close-on-exec). */
static inline int t_unix_connect(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    fprintf(stderr, "connect %s: %s\n", path, strerror(errno));
    abort();
  }
  return fd;
}

#endif

/* This process's resident set (on Windows its working set), in KiB (see
 * RSS_MEANINGFUL). */
static inline long t_rss_kib(void) {
#ifdef _WIN32
  PROCESS_MEMORY_COUNTERS pmc;
  if (!GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc))
    abort();
  return (long)(pmc.WorkingSetSize / 1024);
#else
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (!f || fscanf(f, "%ld %ld", &pages, &resident) != 2)
    abort();
  fclose(f);
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
#endif
}

static inline int64_t t_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
