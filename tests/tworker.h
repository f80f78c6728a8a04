/*
 * tworker.h — the worker side of the integration tests.
 *
 * Each integration test re-executes its own binary (/proc/self/exe) with
 * "--worker MODE" as the worker, so a test and its worker are one file
 * and cannot drift apart. MODE picks the behaviour: "serve" runs the
 * client with the methods below; the others misbehave on purpose.
 *
 * On Windows (tests/tself.h finds the binary there) the methods that need
 * POSIX process calls (fork, kill, prctl, /proc) or the JSON and
 * MessagePack libraries (no Windows build of them in Debian) are left out:
 * TW_POSIX and TW_JSON say which are in.
 */
#ifndef WARD_TWORKER_H
#define WARD_TWORKER_H

#ifdef _WIN32
#define TW_POSIX 0
#define TW_JSON 0
#else
#define TW_POSIX 1
#define TW_JSON 1
#endif

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _WIN32
#include <io.h>
#endif
#if TW_POSIX
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#endif
#if TW_JSON
#include <jansson.h>
#include <msgpack.h>
#endif

#include "link.h"
#include "proto.h"
#include "test.h"
#include "tself.h"
#include "ward.h"
#include "ward_int.h"

/* The notifications received, in order, joined by ','. */
static char tw_log[65536];
static size_t tw_log_len;

/* Blocks until killed: the worker is wedged on purpose. */
static _Noreturn void tw_forever(void) {
  for (;;)
    t_nap_ms(1000000);
}

static int tw_reply_str(ward_ctx *ctx, const char *s) { return ward_ctx_reply(ctx, s, strlen(s)); }

static int tw_echo(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  return ward_ctx_reply(ctx, d, n);
}

static int tw_fail(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  return ward_ctx_fail_data(ctx, 42, "nope", d, n);
}

static int tw_ret7(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)d, (void)n, (void)ud;
  return 7;
}

static int tw_ret0(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)d, (void)n, (void)ud;
  return 0;
}

static int tw_hang(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)d, (void)n, (void)ud;
  tw_forever();
}

static int tw_progress(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  char buf[32];
  int count = atoi(n < sizeof buf ? (memcpy(buf, d, n), buf[n] = 0, buf) : "0");
  for (int i = 1; i <= count; i++) {
    char p[16];
    snprintf(p, sizeof p, "p%d", i);
    ward_ctx_progress(ctx, p, strlen(p));
  }
  return tw_reply_str(ctx, "done");
}

static int tw_rows(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  for (int i = 1; i <= 5; i++) {
    char r[16];
    snprintf(r, sizeof r, "a%d", i);
    ward_ctx_row(ctx, "a", r, strlen(r));
    snprintf(r, sizeof r, "b%d", i);
    ward_ctx_row(ctx, "b", r, strlen(r));
  }
  ward_ctx_diag(ctx, 2, "W001", "a warning");
  return tw_reply_str(ctx, "rows done");
}

/* Ends the process as abort() does. On Windows that is what the Universal
 * C runtime's abort does (a fail-fast, STATUS_STACK_BUFFER_OVERRUN), which
 * the backend reports as SIGABRT; msvcrt's abort, which mingw-w64 links,
 * exits with code 3 instead, which says nothing of a crash. */
static _Noreturn void tw_abort_now(void) {
#ifdef _WIN32
  TerminateProcess(GetCurrentProcess(), 0xC0000409u);
#endif
  abort();
}

static int tw_abort(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)d, (void)n, (void)ud;
  tw_abort_now();
}

static int tw_exit(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)ud;
  char buf[16];
  size_t k = n < sizeof buf - 1 ? n : sizeof buf - 1;
  memcpy(buf, d, k);
  buf[k] = 0;
  _exit(atoi(buf));
}

static int tw_record(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)ud;
  if (tw_log_len + n + 1 < sizeof tw_log) {
    if (tw_log_len)
      tw_log[tw_log_len++] = ',';
    memcpy(tw_log + tw_log_len, d, n);
    tw_log_len += n;
  }
  return 0;
}

static int tw_get_log(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  return ward_ctx_reply(ctx, tw_log, tw_log_len);
}

static int tw_call_host(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  ward_msg *m = NULL;
  int rv = ward_client_request(&m, ud, "add", d, n, 10000);
  if (rv) {
    char e[64];
    snprintf(e, sizeof e, "host call failed: %s", ward_err_name(rv));
    ward_msg_free(m);
    return ward_ctx_fail(ctx, 1, e);
  }
  rv = ward_ctx_reply(ctx, ward_msg_data(m), ward_msg_len(m));
  ward_msg_free(m);
  return rv;
}

static int tw_notify_host(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  int rv = ward_client_notify(ud, "note", d, n);
  return rv ? ward_ctx_fail(ctx, 1, ward_err_name(rv)) : tw_reply_str(ctx, "ok");
}

/* Replies first, then notifies the host: the notification arrives when no
 * caller is reading any more. */
static int tw_reply_then_notify(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  int rv = tw_reply_str(ctx, "ok");
  ward_client_notify(ud, "note", d, n);
  return rv;
}

static int tw_env(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  char key[128];
  size_t k = n < sizeof key - 1 ? n : sizeof key - 1;
  memcpy(key, d, k);
  key[k] = 0;
  const char *v = getenv(key);
  return tw_reply_str(ctx, v ? v : "(unset)");
}

static char **tw_argv;

static int tw_args(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  char buf[1024] = "";
  for (char **a = tw_argv + 3; *a; a++) {
    if (buf[0])
      strncat(buf, "|", sizeof buf - strlen(buf) - 1);
    strncat(buf, *a, sizeof buf - strlen(buf) - 1);
  }
  return tw_reply_str(ctx, buf);
}

static int tw_cwd(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  char buf[1024];
  return tw_reply_str(ctx, getcwd(buf, sizeof buf) ? buf : "?");
}

#if TW_POSIX
/* The descriptors open in the worker, as "0,1,2,3". */
static int tw_fds(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  char buf[1024] = "";
  DIR *dir = opendir("/proc/self/fd");
  int self = dir ? dirfd(dir) : -1;
  int fds[256], k = 0;
  for (struct dirent *e; dir && (e = readdir(dir)) && k < 256;) {
    if (e->d_name[0] == '.' || atoi(e->d_name) == self)
      continue;
    fds[k++] = atoi(e->d_name);
  }
  if (dir)
    closedir(dir);
  for (int i = 0; i < k; i++)
    for (int j = i + 1; j < k; j++)
      if (fds[j] < fds[i]) {
        int t = fds[i];
        fds[i] = fds[j];
        fds[j] = t;
      }
  for (int i = 0; i < k; i++)
    snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%d", i ? "," : "", fds[i]);
  return tw_reply_str(ctx, buf);
}

#endif

static int tw_print(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  for (int i = 0; i < 300; i++) {
    printf("stray stdout line %d from the worker, not protocol\n", i);
    fprintf(stderr, "stray stderr line %d\n", i);
  }
  fflush(stdout);
  return tw_reply_str(ctx, "printed");
}

/* The serving worker's client, for the handlers that bypass it. */
static ward_client *tw_client;

static void tw_raw(const void *p, size_t n) {
  const uint8_t *b = p;
  /* Once the frames travel in shared memory, raw bytes go there too: the
   * host must judge them as it would on the socket. */
  if (tw_client && ward__conn_frames(ward__client_conn(tw_client)) == WARD_FRAMES_SHM) {
    if (ward__conn_send_frames(ward__client_conn(tw_client), p, n, 1, ward__deadline(5000)))
      _exit(99);
    return;
  }
#ifdef _WIN32
  /* The channel's handle, opened for overlapped I/O. */
  HANDLE h = (HANDLE)(intptr_t)atoll(getenv("WARD_FD") ? getenv("WARD_FD") : "0");
  OVERLAPPED ov = {0};
  ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
  DWORD done = 0;
  if (!WriteFile(h, b, (DWORD)n, NULL, &ov) && GetLastError() != ERROR_IO_PENDING)
    _exit(99);
  if (!GetOverlappedResult(h, &ov, &done, TRUE) || done != n)
    _exit(99);
  CloseHandle(ov.hEvent);
  n = 0;
#endif
  while (n > 0) {
    ssize_t w = write(3, b, n);
    if (w <= 0)
      _exit(99);
    b += w;
    n -= (size_t)w;
  }
}

#if TW_POSIX
/* Wakes the host as a writer of the rings does. The host may have cut
 * the worker off already (it saw the scribbling first): no SIGPIPE. */
static void tw_wake_host(void) {
  static const uint8_t wake = WARD__LINK_WAKE;
  (void)send(3, &wake, 1, MSG_NOSIGNAL);
}

/* Breaks the shared-memory ring it writes: its counter moves by a
 * number that is no multiple of 8 (as a worker that scribbles on the
 * memory would), and the host is woken to read it. */
static int tw_scribble_head(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n;
  ward__link *l = atomic_load(&ward__client_conn(ud)->link);
  if (!l)
    return tw_reply_str(ctx, "no shared memory");
  atomic_fetch_add(&l->tx.hdr->head, 12);
  tw_wake_host();
  tw_forever();
}

/* Writes a record whose length and its check disagree. */
static int tw_scribble_record(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n;
  ward__link *l = atomic_load(&ward__client_conn(ud)->link);
  if (!l)
    return tw_reply_str(ctx, "no shared memory");
  uint64_t head = atomic_load(&l->tx.hdr->head);
  uint32_t pos = (uint32_t)(head & (l->tx.cap - 1)), len = 8, check = 0x12345678;
  if (l->tx.cap - pos < 16)
    _exit(98);
  memcpy(l->tx.data + pos, &len, 4);
  memcpy(l->tx.data + pos + 4, &check, 4);
  atomic_store(&l->tx.hdr->head, head + 16);
  tw_wake_host();
  tw_forever();
}

/* Claims to have read what the host never wrote, then pings it: the
 * host finds its ring broken as it answers. */
static int tw_scribble_tail(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n;
  ward__link *l = atomic_load(&ward__client_conn(ud)->link);
  if (!l)
    return tw_reply_str(ctx, "no shared memory");
  atomic_store(&l->rx.hdr->tail, atomic_load(&l->rx.hdr->head) + (1u << 20));
  uint8_t f[WARD__HDR_SIZE];
  ward__hdr h = {.kind = WARD__K_PING, .id = 77};
  ward__hdr_put(f, &h);
  tw_raw(f, sizeof f);
  tw_forever();
}
#endif

static int tw_garbage(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)d, (void)n, (void)ud;
  static const char junk[] = "this is not a ward frame at all";
  tw_raw(junk, sizeof junk);
  tw_forever();
}

/* A REPLY header whose length is far over any limit. */
static int tw_oversize(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  uint8_t hb[WARD__HDR_SIZE];
  ward__hdr h = {.kind = WARD__K_REPLY, .len = 0x7ffffff0u, .id = 1};
  (void)ctx;
  ward__hdr_put(hb, &h);
  tw_raw(hb, sizeof hb);
  tw_forever();
}

static int tw_hello2(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)d, (void)n, (void)ud;
  uint8_t f[WARD__HDR_SIZE + 1];
  ward__hdr h = {.kind = WARD__K_HELLO, .nlen = 1, .aux = 1};
  ward__frame_put(f, &h, "w", NULL);
  tw_raw(f, sizeof f);
  tw_forever();
}

/* Dies at once, without a word: SIGKILL; on Windows the status of a
 * fail-fast (STATUS_FAIL_FAST_EXCEPTION), which ward reports as a crash. */
static int tw_sigkill(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)d, (void)n, (void)ud;
#ifdef _WIN32
  TerminateProcess(GetCurrentProcess(), 0xC0000602u);
#else
  kill(getpid(), SIGKILL);
#endif
  tw_forever();
}

/* Tells the host it is about to hang (notification "hanging"), then hangs:
 * the host knows the call is in flight. */
static int tw_hang_notify(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx;
  ward_client_notify(ud, "hanging", d, n);
  tw_forever();
}

static int tw_payload_int(const void *d, size_t n) {
  char buf[32];
  size_t k = n < sizeof buf - 1 ? n : sizeof buf - 1;
  memcpy(buf, d, k);
  buf[k] = 0;
  return atoi(buf);
}

static void tw_sleep_ms(int ms) {
#ifdef _WIN32
  t_nap_ms(ms);
  return;
#endif
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* Simulated work: takes the payload's number of milliseconds, then replies. */
static int tw_work(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  tw_sleep_ms(tw_payload_int(d, n));
  return tw_reply_str(ctx, "worked");
}

/* Tells the host it started ("hanging" notification), works the payload's
 * milliseconds, then replies: the host knows the call is in flight. */
static int tw_work_notify(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  ward_client_notify(ud, "hanging", d, n);
  tw_sleep_ms(tw_payload_int(d, n));
  return tw_reply_str(ctx, "worked");
}

/* Tells the host it started ("hanging"), waits (up to 20 s) for the file
 * named by the payload to exist, then sends the log record "late" and
 * replies: a record sent when the test says so. */
static int tw_log_when(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  char path[4096];
  snprintf(path, sizeof path, "%.*s", (int)n, (const char *)d);
  ward_client_notify(ud, "hanging", NULL, 0);
  for (int i = 0; i < 10000 && access(path, F_OK) != 0; i++)
    tw_sleep_ms(2);
  ward_ctx_log(ctx, WARD_LEVEL_INFO, "late", NULL, 0);
  return tw_reply_str(ctx, "logged");
}

/* Works the payload's milliseconds sending a progress report every 10 ms:
 * busy, but reaching boundaries where pings are answered. */
static int tw_busy_progress(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  int total = tw_payload_int(d, n);
  for (int t = 0; t < total; t += 10) {
    tw_sleep_ms(10);
    ward_ctx_progress(ctx, "tick", 4);
  }
  return tw_reply_str(ctx, "busy done");
}

/* Spins on the CPU forever, reaching no boundary. */
static int tw_spin(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)d, (void)n, (void)ud;
  volatile unsigned long i = 0;
  for (;;)
    i++;
  return 0; /* not reached */
}

/* Allocates and touches the payload's number of MiB, keeps it, replies. */
static int tw_grow(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  /* Kept reachable (a static list) and written through a volatile
   * pointer, so neither the compiler nor LeakSanitizer makes it vanish. */
  static char *kept[64];
  static int nkept;
  size_t mib = (size_t)tw_payload_int(d, n);
  char *p = malloc(mib << 20);
  if (!p || nkept == 64)
    return ward_ctx_fail(ctx, 1, "no memory");
  volatile char *v = p;
  for (size_t i = 0; i < (mib << 20); i += 4096)
    v[i] = 1;
  kept[nkept++] = p;
  return tw_reply_str(ctx, kept[0] ? "grown" : "?");
}

/* Starts a grandchild that waits forever, in the worker's process group
 * (on Windows: this binary again, "--worker silent", inheriting nothing,
 * in the worker's job as everything it starts is), and replies with its
 * pid. */
static int tw_spawn_child(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
#ifdef _WIN32
  wchar_t self[2048], cmd[2100];
  if (!GetModuleFileNameW(NULL, self, 2048))
    return ward_ctx_fail(ctx, 1, "GetModuleFileNameW");
  swprintf(cmd, 2100, L"\"%ls\" --worker silent", self);
  STARTUPINFOW si = {.cb = sizeof si};
  PROCESS_INFORMATION pi;
  if (!CreateProcessW(self, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
    return ward_ctx_fail(ctx, 1, "CreateProcessW");
  CloseHandle(pi.hThread);
  CloseHandle(pi.hProcess);
  int pid = (int)pi.dwProcessId;
#else
  pid_t pid = fork();
  if (pid == 0) {
    for (int fd = 3; fd < 1024; fd++)
      close(fd);
    tw_forever();
  }
#endif
  char buf[32];
  snprintf(buf, sizeof buf, "%d", (int)pid);
  return tw_reply_str(ctx, buf);
}

static int64_t tw_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* "N SIZE": N rows of SIZE bytes on stream "data" (byte i of row k is
 * (k + i) & 0xff), then replies "sent=N blocked_ms=B", B being the time
 * spent inside ward_ctx_row waiting for the caller. */
static int tw_stream(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  char arg[64];
  snprintf(arg, sizeof arg, "%.*s", (int)(n < 63 ? n : 63), (const char *)d);
  long rows = 0, size = 0;
  sscanf(arg, "%ld %ld", &rows, &size);
  /* Row k is base + (k & 0xff): byte i is (k + i) & 0xff with no work per
   * row, so the producer is fast even in an instrumented build. */
  char *base = malloc((size_t)size + 256);
  if (!base)
    return ward_ctx_fail(ctx, 1, "no memory");
  for (long i = 0; i < size + 256; i++)
    base[i] = (char)(i & 0xff);
  char *row = base;
  int64_t blocked = 0;
  long k;
  for (k = 0; k < rows; k++) {
    row = base + (k & 0xff);
    int64_t t0 = tw_now_us();
    int rv = ward_ctx_row(ctx, "data", row, (size_t)size);
    int64_t dt = tw_now_us() - t0;
    if (dt > 200)
      blocked += dt;
    if (rv) {
      free(base);
      return rv == WARD_ECANCELED ? 0 : ward_ctx_fail(ctx, 2, ward_err_name(rv));
    }
  }
  free(base);
  char out[64];
  snprintf(out, sizeof out, "sent=%ld blocked_ms=%lld", k, (long long)(blocked / 1000));
  return tw_reply_str(ctx, out);
}

/* "N SIZE" like "stream", through ward_ctx_rows in batches of 300. */
static int tw_stream_batch(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  char arg[64];
  snprintf(arg, sizeof arg, "%.*s", (int)(n < 63 ? n : 63), (const char *)d);
  long rows = 0, size = 0;
  sscanf(arg, "%ld %ld", &rows, &size);
  char *base = malloc((size_t)size + 256);
  ward_row *batch = malloc(300 * sizeof *batch);
  if (!base || !batch) {
    free(base);
    free(batch);
    return ward_ctx_fail(ctx, 1, "no memory");
  }
  for (long i = 0; i < size + 256; i++)
    base[i] = (char)(i & 0xff);
  int rv = 0;
  for (long k = 0; k < rows && !rv;) {
    size_t m = 0;
    for (; m < 300 && k < rows; m++, k++)
      batch[m] = (ward_row){base + (k & 0xff), (size_t)size};
    rv = ward_ctx_rows(ctx, "data", batch, m);
  }
  free(base);
  free(batch);
  if (rv)
    return rv == WARD_ECANCELED ? 0 : ward_ctx_fail(ctx, 2, ward_err_name(rv));
  char out[64];
  snprintf(out, sizeof out, "sent=%ld blocked_ms=0", rows);
  return tw_reply_str(ctx, out);
}

/* "N": N rows through ward_ctx_rows in batches of 300, row k (from 0)
 * k % 300 bytes long, byte i of it (k + i) & 0xff: every length the
 * framing copies apart, from empty to past 128 bytes. */
static int tw_rows_sizes(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  char arg[32];
  snprintf(arg, sizeof arg, "%.*s", (int)(n < 31 ? n : 31), (const char *)d);
  long rows = strtol(arg, NULL, 10);
  static char base[300 + 256];
  for (size_t i = 0; i < sizeof base; i++)
    base[i] = (char)(i & 0xff);
  ward_row batch[300];
  int rv = 0;
  for (long k = 0; k < rows && !rv;) {
    size_t m = 0;
    for (; m < 300 && k < rows; m++, k++)
      batch[m] = (ward_row){base + (k & 0xff), (size_t)(k % 300)};
    rv = ward_ctx_rows(ctx, "data", batch, m);
  }
  return rv ? ward_ctx_fail(ctx, 2, ward_err_name(rv)) : ward_ctx_reply(ctx, NULL, 0);
}

/* The worker's peak resident set in KiB (VmHWM; on Windows the peak
 * working set), as text. */
static int tw_hwm(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
#ifdef _WIN32
  PROCESS_MEMORY_COUNTERS pmc;
  char peak[32] = "-1";
  if (GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc))
    snprintf(peak, sizeof peak, "%ld", (long)(pmc.PeakWorkingSetSize / 1024));
  return tw_reply_str(ctx, peak);
#endif
  FILE *f = fopen("/proc/self/status", "r");
  char line[256], out[32] = "-1";
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmHWM:", 6) == 0)
      snprintf(out, sizeof out, "%ld", strtol(line + 6, NULL, 10));
  if (f)
    fclose(f);
  return tw_reply_str(ctx, out);
}


/* ward_ctx_rows at its edges: a batch whose second row is over a 4096-byte
 * frame limit, then a batch whose first row has NULL data. Replies with the
 * two results' names. */
static int tw_rows_edge(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  static char big[5000];
  ward_row over[2] = {{"a", 1}, {big, sizeof big}};
  int rv1 = ward_ctx_rows(ctx, "s", over, 2);
  ward_row empty[2] = {{NULL, 7}, {"b", 1}};
  int rv2 = ward_ctx_rows(ctx, "s", empty, 2);
  char out[64];
  snprintf(out, sizeof out, "%s %s", ward_err_name(rv1), ward_err_name(rv2));
  return tw_reply_str(ctx, out);
}

/* Streams small rows until the caller cancels, then tells the host how it
 * ended ("cancelled N" when ward_ctx_row said so and ward_ctx_cancelled
 * agrees) and returns without a reply. */
static int tw_until_cancel(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n;
  long k = 0;
  int rv;
  while ((rv = ward_ctx_row(ctx, "tick", "x", 1)) == 0)
    k++;
  char note[64];
  snprintf(note, sizeof note, "%s %ld",
           rv == WARD_ECANCELED && ward_ctx_cancelled(ctx) ? "cancelled" : ward_err_name(rv), k);
  ward_client_notify(ud, "note", note, strlen(note));
  return 0;
}

/* Writes PROGRESS frames for this call ignoring flow control. */
static int tw_progress_flood(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  static uint8_t f[WARD__HDR_SIZE + 65536];
  ward__hdr h = {.kind = WARD__K_PROGRESS, .len = 65536, .id = ctx->id};
  ward__frame_put(f, &h, NULL, f + WARD__HDR_SIZE);
  for (;;)
    tw_raw(f, sizeof f);
  return 0; /* not reached */
}

/* Sends PINGs, a thousand a write, and never reads a thing. */
static int tw_ping_flood(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)d, (void)n, (void)ud;
  static uint8_t f[1024 * WARD__HDR_SIZE];
  for (uint32_t id = 1;;) {
    for (size_t i = 0; i < 1024; i++) {
      ward__hdr h = {.kind = WARD__K_PING, .id = id++};
      ward__hdr_put(f + i * WARD__HDR_SIZE, &h);
    }
    tw_raw(f, sizeof f);
  }
  return 0; /* not reached */
}

/* "N SIZE": N notifications "flood" of SIZE bytes to the host, then
 * replies. */
static int tw_notify_flood(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  char arg[64];
  snprintf(arg, sizeof arg, "%.*s", (int)(n < 63 ? n : 63), (const char *)d);
  long count = 0, size = 0;
  sscanf(arg, "%ld %ld", &count, &size);
  char *buf = calloc(1, (size_t)size + 1);
  for (long i = 0; buf && i < count; i++)
    if (ward_client_notify(ud, "flood", buf, (size_t)size))
      break;
  free(buf);
  return tw_reply_str(ctx, "flooded");
}

/* A notification that takes a millisecond to handle. */
static int tw_slow_note(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)d, (void)n, (void)ud;
  tw_sleep_ms(1);
  return 0;
}

#if TW_JSON
/* {"a": x, "b": y} -> {"sum": x + y}, through the JSON helpers. */
static int tw_json_sum(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  json_t *p;
  int rv = ward_ctx_params_json(ctx, d, n, &p);
  if (rv)
    return ward_ctx_fail(ctx, rv, ward_last_error());
  json_t *r = json_pack("{s:I}", "sum",
                        json_integer_value(json_object_get(p, "a")) +
                            json_integer_value(json_object_get(p, "b")));
  rv = ward_ctx_reply_json(ctx, r);
  json_decref(r);
  json_decref(p);
  return rv;
}

static int tw_json_fail(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  json_t *data = json_pack("{s:s}", "field", "x");
  int rv = ward_ctx_fail_json(ctx, 7, "bad field", data);
  json_decref(data);
  return rv;
}

/* Three JSON rows {"i": k}, then one that is not JSON at all. */
static int tw_json_rows(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  for (int k = 1; k <= 3; k++) {
    json_t *r = json_pack("{s:i}", "i", k);
    ward_ctx_row_json(ctx, "items", r);
    json_decref(r);
  }
  ward_ctx_row(ctx, "items", "not json", 8);
  return tw_reply_str(ctx, "{}");
}

/* Replies text tagged JSON that does not parse. */
static int tw_bad_json_reply(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  ward_ctx_set_encoding(ctx, WARD_ENC_JSON);
  return tw_reply_str(ctx, "{oops");
}

/* MessagePack {"a": x, "b": y} -> {"sum": x + y}, with msgpack-c. */
static int tw_mp_sum(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  msgpack_unpacked u;
  msgpack_unpacked_init(&u);
  long long a = 0, b = 0;
  if (msgpack_unpack_next(&u, d, n, NULL) != MSGPACK_UNPACK_SUCCESS ||
      u.data.type != MSGPACK_OBJECT_MAP) {
    msgpack_unpacked_destroy(&u);
    return ward_ctx_fail(ctx, 1, "not a MessagePack map");
  }
  for (uint32_t i = 0; i < u.data.via.map.size; i++) {
    msgpack_object_kv *kv = &u.data.via.map.ptr[i];
    if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size != 1)
      continue;
    long long v = kv->val.type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? kv->val.via.i64
                                                                : (long long)kv->val.via.u64;
    if (kv->key.via.str.ptr[0] == 'a')
      a = v;
    else if (kv->key.via.str.ptr[0] == 'b')
      b = v;
  }
  msgpack_unpacked_destroy(&u);
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 1);
  msgpack_pack_str(&pk, 3);
  msgpack_pack_str_body(&pk, "sum", 3);
  msgpack_pack_long_long(&pk, a + b);
  ward_ctx_set_encoding(ctx, WARD_ENC_MSGPACK);
  int rv = ward_ctx_reply(ctx, sb.data, sb.size);
  msgpack_sbuffer_destroy(&sb);
  return rv;
}

/* A pass and a warning; with the argument "doctor_fails" after the mode,
 * an error besides. */
static int tw_doctor(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  static const ward_check checks[] = {
      {"config", WARD_CHECK_PASS, "loaded"},
      {"cache", WARD_CHECK_WARNING, "cold"},
      {"schema", WARD_CHECK_ERROR, "version 7 needed, 6 found"},
  };
  size_t count = 2;
  for (char **a = tw_argv + 3; *a; a++)
    if (strcmp(*a, "doctor_fails") == 0)
      count = 3;
  return ward_ctx_reply_doctor(ctx, checks, count);
}

#endif

/* Writes the payload as one line on stdout. */
static int tw_say(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  printf("%.*s\n", (int)n, (const char *)d);
  fflush(stdout);
  return tw_reply_str(ctx, "said");
}

/* Writes the payload on stdout without a newline: a line left partial. */
static int tw_say_part(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  printf("%.*s", (int)n, (const char *)d);
  fflush(stdout);
  return tw_reply_str(ctx, "said");
}

/* Last words on stderr (unbuffered), then abort(). */
static int tw_last_words(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ctx, (void)ud;
  fprintf(stderr, "%.*s\n", (int)n, (const char *)d);
  tw_abort_now();
}

/* A 10000-byte line, a line with NUL and ESC bytes in it, a line ended by
 * "\r\n" and one with a CR inside, bytes as written (on Windows stdout
 * is in binary mode meanwhile, or its text mode would add a CR before
 * each LF). */
static int tw_odd_output(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  static char big[10001];
  memset(big, 'L', 10000);
  big[10000] = '\n';
  fflush(stdout);
#ifdef _WIN32
  int mode = _setmode(_fileno(stdout), _O_BINARY);
#endif
  fwrite(big, 1, sizeof big, stdout);
  fwrite("bin\0ary\x1b[0m\n", 1, 12, stdout);
  fwrite("crlf\r\n", 1, 6, stdout);
  fwrite("cr\rinside\r\n", 1, 11, stdout);
  fflush(stdout);
#ifdef _WIN32
  _setmode(_fileno(stdout), mode);
#endif
  return tw_reply_str(ctx, "odd");
}

/* Writes a file named by the payload into WARD_DATA_DIR, replies the
 * directory; "read NAME" replies the file's content. */
static int tw_data(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)ud;
  const char *dir = getenv("WARD_DATA_DIR");
  if (!dir)
    return tw_reply_str(ctx, "(none)");
  char arg[128], path[4096];
  snprintf(arg, sizeof arg, "%.*s", (int)(n < 127 ? n : 127), (const char *)d);
  int reading = strncmp(arg, "read ", 5) == 0;
  snprintf(path, sizeof path, "%s/%s", dir, reading ? arg + 5 : arg);
  FILE *f = fopen(path, reading ? "r" : "w");
  if (!f)
    return tw_reply_str(ctx, "(cannot open)");
  char buf[128] = "";
  if (reading) {
    if (!fgets(buf, sizeof buf, f))
      buf[0] = 0;
  } else {
    fputs("kept", f);
  }
  fclose(f);
  return tw_reply_str(ctx, reading ? buf : dir);
}

static int tw_pid(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  char buf[32];
  snprintf(buf, sizeof buf, "%d", (int)getpid());
  return tw_reply_str(ctx, buf);
}

#if TW_POSIX
/* Leaves an orphan: a child of ours starts a grandchild that ends at once
 * (exit 9), and ends itself without reaping it, so that the grandchild's
 * zombie goes to the nearest subreaper. Replies the grandchild's pid. */
static int tw_orphan(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  int p[2];
  if (pipe(p))
    return ward_ctx_fail(ctx, 1, "pipe");
  pid_t c = fork();
  if (c == 0) {
    close(p[0]);
    pid_t g = fork();
    if (g == 0)
      _exit(9);
    siginfo_t si;
    while (waitid(P_PID, (id_t)g, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
    }
    ssize_t k = write(p[1], &g, sizeof g);
    _exit(k == (ssize_t)sizeof g ? 0 : 1);
  }
  close(p[1]);
  pid_t g = 0;
  ssize_t k = c > 0 ? read(p[0], &g, sizeof g) : -1;
  close(p[0]);
  if (c > 0)
    waitpid(c, NULL, 0);
  if (k != (ssize_t)sizeof g)
    return ward_ctx_fail(ctx, 1, "fork");
  char buf[32];
  snprintf(buf, sizeof buf, "%d", (int)g);
  return tw_reply_str(ctx, buf);
}

/* Leaves an escapee: a child of ours calls setsid() (a session and process
 * group of its own) and forks a grandchild that lives on, then exits, so
 * that the grandchild is in neither our process group nor our family.
 * Replies the grandchild's pid once it runs. */
static int tw_escapee(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  int p[2];
  if (pipe(p))
    return ward_ctx_fail(ctx, 1, "pipe");
  pid_t c = fork();
  if (c == 0) {
    close(p[0]);
    setsid();
    pid_t g = fork();
    if (g == 0) {
      pid_t me = getpid();
      ssize_t k = write(p[1], &me, sizeof me);
      close(p[1]);
      if (k != (ssize_t)sizeof me)
        _exit(1);
      for (int fd = 0; fd < 1024; fd++)
        close(fd);
      tw_forever();
    }
    _exit(g > 0 ? 0 : 1);
  }
  close(p[1]);
  pid_t g = 0;
  ssize_t k = c > 0 ? read(p[0], &g, sizeof g) : -1;
  close(p[0]);
  if (c > 0)
    waitpid(c, NULL, 0);
  if (k != (ssize_t)sizeof g)
    return ward_ctx_fail(ctx, 1, "fork");
  char buf[32];
  snprintf(buf, sizeof buf, "%d", (int)g);
  return tw_reply_str(ctx, buf);
}
#endif

#if TW_POSIX
/* The blocked and ignored signals this process started with, as
 * "blk=HEX ign=HEX" (the SigBlk and SigIgn lines of /proc/self/status),
 * read before anything in it could change them. */
static char tw_signals_at_start[80];

static void tw_read_signals(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256], blk[32] = "?", ign[32] = "?";
  while (f && fgets(line, sizeof line, f)) {
    sscanf(line, "SigBlk: %31s", blk);
    sscanf(line, "SigIgn: %31s", ign);
  }
  if (f)
    fclose(f);
  snprintf(tw_signals_at_start, sizeof tw_signals_at_start, "blk=%s ign=%s", blk, ign);
}

/* "UID GID UMASK GROUP,GROUP...": who the process runs as (ward_spec_user,
 * ward_spec_umask). */
static int tw_ids(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  mode_t mask = umask(0);
  umask(mask);
  gid_t groups[64];
  int ng = getgroups(64, groups);
  char buf[512];
  int k = snprintf(buf, sizeof buf, "%u %u %03o ", (unsigned)getuid(), (unsigned)getgid(),
                   (unsigned)mask);
  for (int i = 0; i < ng && k < (int)sizeof buf - 16; i++)
    k += snprintf(buf + k, sizeof buf - (size_t)k, "%s%u", i ? "," : "", (unsigned)groups[i]);
  return tw_reply_str(ctx, buf);
}

static int tw_signals(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  return tw_reply_str(ctx, tw_signals_at_start);
}

/* The signal this process gets when its parent ends (0: none). */
static int tw_pdeathsig(ward_ctx *ctx, const void *d, size_t n, void *ud) {
  (void)d, (void)n, (void)ud;
  int sig = -1;
  prctl(PR_GET_PDEATHSIG, &sig);
  char buf[32];
  snprintf(buf, sizeof buf, "%d", sig);
  return tw_reply_str(ctx, buf);
}

#endif

static int tw_serve(void) {
  ward_client *c;
  int rv = ward_client_connect(&c);
  if (rv) {
    fprintf(stderr, "tworker: connect: %s\n", ward_last_error());
    return 2;
  }
  tw_client = c;
  /* A worker library without the shared-memory transport (as the
   * Python one): it offers none in its HELLO. */
  if (getenv("TW_NO_SHM"))
    ward__client_offer_shm(c, 0);
  static const struct {
    const char *name;
    ward_handler fn;
  } methods[] = {
      {"echo", tw_echo},         {"fail", tw_fail},         {"ret7", tw_ret7},
      {"ret0", tw_ret0},         {"hang", tw_hang},         {"progress", tw_progress},
      {"rows", tw_rows},         {"abort", tw_abort},       {"exit", tw_exit},
      {"record", tw_record},     {"get_log", tw_get_log},   {"call_host", tw_call_host},
      {"notify_host", tw_notify_host}, {"env", tw_env},     {"args", tw_args},
      {"cwd", tw_cwd},           {"print", tw_print},
      {"garbage", tw_garbage},   {"oversize", tw_oversize}, {"hello2", tw_hello2},
      {"pid", tw_pid},           {"hang_notify", tw_hang_notify},
      {"reply_then_notify", tw_reply_then_notify},
      {"work", tw_work},         {"work_notify", tw_work_notify},
      {"log_when", tw_log_when},
      {"busy_progress", tw_busy_progress}, {"spin", tw_spin}, {"grow", tw_grow},
      {"stream", tw_stream},     {"stream_batch", tw_stream_batch}, {"rows_edge", tw_rows_edge},
      {"rows_sizes", tw_rows_sizes},
      {"until_cancel", tw_until_cancel}, {"hwm", tw_hwm}, {"sigkill", tw_sigkill},
      {"progress_flood", tw_progress_flood}, {"ping_flood", tw_ping_flood},
      {"notify_flood", tw_notify_flood}, {"slow_note", tw_slow_note},
      {"say", tw_say}, {"say_part", tw_say_part}, {"last_words", tw_last_words},
      {"odd_output", tw_odd_output}, {"data", tw_data}, {"spawn_child", tw_spawn_child},
#if TW_POSIX
      {"scribble_head", tw_scribble_head}, {"scribble_record", tw_scribble_record},
      {"scribble_tail", tw_scribble_tail},
      {"fds", tw_fds},          {"orphan", tw_orphan},      {"escapee", tw_escapee},
      {"pdeathsig", tw_pdeathsig}, {"signals", tw_signals}, {"ids", tw_ids},
#endif
#if TW_JSON
      {"json_sum", tw_json_sum}, {"json_fail", tw_json_fail}, {"json_rows", tw_json_rows},
      {"bad_json_reply", tw_bad_json_reply}, {"mp_sum", tw_mp_sum},
      {"ward.doctor", tw_doctor},
#endif
  };
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
    ward_client_handle(c, methods[i].name, methods[i].fn, c);
  ward_client_meta(c, "version", "1.2.3");
  rv = ward_client_run(c);
  ward_client_free(c);
  return rv == WARD_OK ? 0 : 1;
}

#ifdef _WIN32
/* A console control handler that takes every event and does nothing. */
static BOOL WINAPI tw_ignore_ctrl(DWORD event) {
  (void)event;
  return TRUE;
}

#endif

static int tworker_main(int argc, char **argv) {
#if TW_POSIX
  tw_read_signals();
#endif
  tw_argv = argv;
  const char *mode = argc > 2 ? argv[2] : "serve";
  if (strcmp(mode, "serve") == 0)
    return tw_serve();
  if (strcmp(mode, "exit_early") == 0)
    return 3;
  /* Says why on stderr, as the dynamic loader does, and exits 127 before
   * the handshake. */
  if (strcmp(mode, "die_saying") == 0) {
    fprintf(stderr, "starting up\n");
    fprintf(stderr, "error while loading shared libraries: libnope.so.1: cannot open shared "
                    "object file\n");
    fflush(stderr);
    return 127;
  }
  if (strcmp(mode, "silent") == 0) {
    tw_forever();
  }
  if (strcmp(mode, "garbage_first") == 0) {
    tw_raw("GARBAGE!GARBAGE!GARBAGE!", 24);
    tw_forever();
  }
  if (strcmp(mode, "badversion") == 0) {
    uint8_t f[WARD__HDR_SIZE + 1];
    ward__hdr h = {.kind = WARD__K_HELLO, .nlen = 1, .aux = 0};
    ward__frame_put(f, &h, "w", NULL);
    tw_raw(f, sizeof f);
    tw_forever();
  }
  /* Exits at once (code 1, before the handshake) while FILE exists: the
   * test makes later generations crash at start-up. */
  if (strcmp(mode, "crash_if_file") == 0) {
    struct stat st;
    if (argc > 3 && stat(argv[3], &st) == 0)
      return 1;
    return tw_serve();
  }
  /* While the fifo FILE exists, waits for a byte from it before serving:
   * the test holds later generations at start-up as long as it likes. On
   * Windows FILE names an event instead, which the test sets. */
  if (strcmp(mode, "gate_if_fifo") == 0) {
#ifdef _WIN32
    HANDLE gate = argc > 3 ? OpenEventA(SYNCHRONIZE, FALSE, argv[3]) : NULL;
    if (gate) {
      if (WaitForSingleObject(gate, INFINITE) != WAIT_OBJECT_0)
        return 1;
      CloseHandle(gate);
    }
#else
    struct stat st;
    if (argc > 3 && stat(argv[3], &st) == 0) {
      int fd = open(argv[3], O_RDONLY);
      char b;
      if (fd < 0 || read(fd, &b, 1) != 1)
        return 1;
      close(fd);
    }
#endif
    return tw_serve();
  }
  if (strcmp(mode, "ignore_term") == 0) {
#ifdef _WIN32
    SetConsoleCtrlHandler(tw_ignore_ctrl, TRUE); /* the soft stop is a CTRL_BREAK */
#else
    signal(SIGTERM, SIG_IGN);
#endif
    return tw_serve();
  }
#if TW_POSIX
  if (strcmp(mode, "badtoken") == 0) {
    setenv("WARD_TOKEN", "0000000000000000000000000000000000000000000000000000000000000000", 1);
    return tw_serve();
  }
#endif
  fprintf(stderr, "tworker: unknown mode %s\n", mode);
  return 2;
}

#if TW_POSIX
/* How many descriptors this process has open. */
static inline int tw_count_fds(void) {
  return t_count_entries("/proc/self/fd") - 1; /* the directory's own descriptor */
}

#endif

/* How many descriptors this process has open (handles on Windows), or -1
 * where that is not known (Wine counts no handles: GetProcessHandleCount
 * says 0). */
static inline int tw_count_open(void) {
#ifdef _WIN32
  DWORD n = 0;
  return GetProcessHandleCount(GetCurrentProcess(), &n) && n > 0 ? (int)n : -1;
#else
  return tw_count_fds();
#endif
}

/* The path of this test binary. */
static inline void tw_self(char *out, size_t cap) {
  const char *p = t_self_path();
  if (!p || strlen(p) >= cap)
    abort();
  strcpy(out, p);
}

#if TW_POSIX
/* Runs this binary with `arg` (a host of its own, say), its stdout a pipe
 * read through *out; returns its pid. */
static inline pid_t tw_spawn_self(const char *arg, FILE **out) {
  extern char **environ;
  char self[4096];
  tw_self(self, sizeof self);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    abort();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  char *args[] = {self, (char *)arg, NULL};
  pid_t pid;
  if (posix_spawn(&pid, self, &fa, NULL, args, environ) != 0)
    abort();
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  *out = fdopen(fds[0], "r");
  if (!*out)
    abort();
  return pid;
}

#endif

/* For the test side: a worker's figures (failing the test on an error). */
static inline ward_info tw_info(const ward_worker *w) {
  ward_info i = WARD_INFO_INIT;
  T_OK(ward_worker_info(&i, w));
  return i;
}

/* For the test side: calls `method` (no payload) and returns its reply as
 * an int ("pid", "spawn_child"). */
static inline int tw_call_int(ward_worker *w, const char *method) {
  ward_msg *m = NULL;
  T_OK(ward_request(&m, w, method, NULL, 0, 20000));
  char buf[32];
  snprintf(buf, sizeof buf, "%.*s", (int)ward_msg_len(m), (const char *)ward_msg_data(m));
  ward_msg_free(m);
  return atoi(buf);
}

/* For the test side: a spec that runs this binary as a worker. */
static inline ward_spec *tw_spec(const char *name, const char *mode) {
  ward_spec *s;
  char self[4096];
  tw_self(self, sizeof self);
  if (ward_spec_new(&s, name, self))
    abort();
  ward_spec_arg(s, "--worker");
  ward_spec_arg(s, mode);
  return s;
}

#endif
