/*
 * sysd.c — systemd's notifications and journal for `ward run` (sysd.h).
 *
 * libsystemd does the talking (sd_notify, sd_watchdog_enabled,
 * sd_journal_stream_fd); this file keeps what ward decides: when a
 * status is worth sending, when the watchdog is pinged (at half its
 * interval, as sd_watchdog_enabled(3) advises), and that no write to the
 * journal may stall the daemon's one thread.
 */
#define _GNU_SOURCE

#include "sysd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <ward.h>

#ifdef WARD_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#endif

static int notifying;
static int64_t watchdog_ms, next_ping_ms = -1;
static char last_status[256];

void sysd_init(void) {
#ifdef WARD_HAVE_SYSTEMD
  const char *sock = getenv("NOTIFY_SOCKET");
  notifying = sock && sock[0];
  uint64_t usec = 0;
  /* 1: unset the variables, which are for ward and not its services. */
  if (sd_watchdog_enabled(1, &usec) > 0 && usec >= 2000)
    watchdog_ms = (int64_t)(usec / 1000);
  if (notifying)
    setenv("WARD_NOTIFY_SOCKET_", sock, 1), unsetenv("NOTIFY_SOCKET");
#endif
}

#ifdef WARD_HAVE_SYSTEMD
/* sd_notify reads NOTIFY_SOCKET each time: kept under another name, so
 * that services started later do not inherit it. */
static void send_state(const char *state) {
  const char *sock = getenv("WARD_NOTIFY_SOCKET_");
  if (!sock)
    return;
  setenv("NOTIFY_SOCKET", sock, 1);
  sd_notify(0, state);
  unsetenv("NOTIFY_SOCKET");
}
#endif

void sysd_notify(const char *state) {
#ifdef WARD_HAVE_SYSTEMD
  if (notifying)
    send_state(state);
#else
  (void)state;
#endif
}

void sysd_status(const char *text) {
  if (!notifying || strcmp(text, last_status) == 0)
    return;
  snprintf(last_status, sizeof last_status, "%s", text);
  char line[300];
  snprintf(line, sizeof line, "STATUS=%s", text);
  sysd_notify(line);
}

int sysd_watchdog(int64_t now_ms) {
  if (!notifying || !watchdog_ms)
    return -1;
  if (next_ping_ms < 0 || now_ms >= next_ping_ms) {
    sysd_notify("WATCHDOG=1");
    next_ping_ms = now_ms + watchdog_ms / 2;
  }
  return (int)(next_ping_ms - now_ms);
}

/* ------------------------------------------------------------------ */
/* The journal                                                         */

typedef struct stream {
  char *instance;
  int kind; /* WARD_LOG_STDOUT or WARD_LOG_STDERR */
  int fd;   /* -1: could not be opened (reported by the drop count) */
} stream;

struct sysd_journal {
  stream *v;
  size_t n;
  uint64_t dropped;
};

sysd_journal *sysd_journal_open(char *err, size_t cap) {
#ifdef WARD_HAVE_SYSTEMD
  /* A stream opened and closed at once: the journal is there. */
  int fd = sd_journal_stream_fd("ward", LOG_INFO, 1);
  if (fd < 0) {
    snprintf(err, cap, "--journal: cannot reach the journal: %s", strerror(-fd));
    return NULL;
  }
  close(fd);
  sysd_journal *j = calloc(1, sizeof *j);
  if (!j)
    snprintf(err, cap, "out of memory");
  return j;
#else
  snprintf(err, cap, "--journal: this build of ward has no systemd support");
  return NULL;
#endif
}

static stream *stream_of(sysd_journal *j, const char *instance, int kind) {
  for (size_t i = 0; i < j->n; i++)
    if (j->v[i].kind == kind && strcmp(j->v[i].instance, instance) == 0)
      return &j->v[i];
  stream *v = realloc(j->v, (j->n + 1) * sizeof *v);
  if (!v)
    return NULL;
  j->v = v;
  stream *s = &v[j->n];
  s->instance = strdup(instance);
  if (!s->instance)
    return NULL;
  s->kind = kind;
  s->fd = -1;
#ifdef WARD_HAVE_SYSTEMD
  s->fd = sd_journal_stream_fd(instance, kind == WARD_LOG_STDERR ? LOG_WARNING : LOG_INFO, 1);
  if (s->fd >= 0) {
    int fl = fcntl(s->fd, F_GETFL);
    if (fl < 0 || fcntl(s->fd, F_SETFL, fl | O_NONBLOCK) || fcntl(s->fd, F_SETFD, FD_CLOEXEC)) {
      close(s->fd);
      s->fd = -1;
    }
  }
#endif
  j->n++;
  return s;
}

void sysd_journal_line(sysd_journal *j, const char *instance, int which, const char *text) {
  stream *s = stream_of(j, instance, which);
  if (!s || s->fd < 0) {
    j->dropped++;
    return;
  }
  size_t len = strlen(text);
  char *line = malloc(len + 1);
  if (!line) {
    j->dropped++;
    return;
  }
  memcpy(line, text, len);
  line[len] = '\n';
  /* A stream socket: the line goes whole or, rarely, in part; what the
   * journal cannot take now is dropped rather than waited for. */
  ssize_t w = write(s->fd, line, len + 1);
  if (w != (ssize_t)(len + 1))
    j->dropped++;
  free(line);
}

uint64_t sysd_journal_dropped(const sysd_journal *j) { return j ? j->dropped : 0; }

void sysd_journal_free(sysd_journal *j) {
  if (!j)
    return;
  for (size_t i = 0; i < j->n; i++) {
    if (j->v[i].fd >= 0)
      close(j->v[i].fd);
    free(j->v[i].instance);
  }
  free(j->v);
  free(j);
}
