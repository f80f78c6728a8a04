/*
 * svclog.c — rotating log files of the daemon's services.
 *
 * A line is "2026-11-22T01:40:00.123Z web.1 out: text". Before a line
 * would take a file past its limit, NAME.log.(k) becomes NAME.log.(k+1)
 * (the oldest dropped), NAME.log becomes NAME.log.1, and a new NAME.log
 * starts. Used by the daemon's one thread only: no lock.
 */
#define _GNU_SOURCE

#include "svclog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ward.h>

#include "cli.h"

typedef struct file {
  char *svc;
  FILE *f;
  uint64_t size;
  int broken;   /* reported once, not retried until a reopen */
  uint64_t max; /* the service's own limits: 0 and -1 for the global ones */
  int keep;
} file;

struct svclog {
  char *dir;
  uint64_t max;
  int keep;
  int mode;
  file *files;
  size_t n;
};

void svclog_reopen(svclog *l) {
  for (size_t i = 0; i < l->n; i++) {
    if (l->files[i].f)
      fclose(l->files[i].f);
    l->files[i].f = NULL;
    l->files[i].broken = 0;
  }
}

svclog *svclog_new(const char *dir, uint64_t max_bytes, int keep, int mode) {
  svclog *l = calloc(1, sizeof *l);
  if (!l)
    return NULL;
  if (svclog_configure(l, dir, max_bytes, keep, mode)) {
    svclog_free(l);
    return NULL;
  }
  return l;
}

int svclog_configure(svclog *l, const char *dir, uint64_t max_bytes, int keep, int mode) {
  char *d = dir ? strdup(dir) : NULL;
  if (dir && !d)
    return -1;
  svclog_reopen(l);
  free(l->dir);
  l->dir = d;
  l->max = max_bytes;
  l->keep = keep;
  l->mode = mode;
  return 0;
}

/* The entry of service `svc`, made if it has none (NULL without memory). */
static file *entry(svclog *l, const char *svc) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->files[i].svc, svc) == 0)
      return &l->files[i];
  file *v = realloc(l->files, (l->n + 1) * sizeof *v);
  if (!v)
    return NULL;
  l->files = v;
  char *name = strdup(svc);
  if (!name)
    return NULL;
  file *f = &v[l->n++];
  memset(f, 0, sizeof *f);
  f->svc = name;
  f->keep = -1;
  return f;
}

int svclog_limits(svclog *l, const char *svc, uint64_t max_bytes, int keep) {
  file *f = entry(l, svc);
  if (!f)
    return -1;
  f->max = max_bytes;
  f->keep = keep;
  return 0;
}

int svclog_prepare(svclog *l, char *err, size_t cap) {
  int rv = 0;
  if (l->dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s", l->dir);
    for (char *p = path + 1;; p++) {
      if (*p != '/' && *p != 0)
        continue;
      char c = *p;
      *p = 0;
      if (mkdir(path, 0750) < 0 && errno != EEXIST) {
        snprintf(err, cap, "cannot create the log directory %s: %s", path, strerror(errno));
        rv = -1;
        break;
      }
      *p = c;
      if (!c)
        break;
    }
  }
  return rv;
}

static void path_of(const svclog *l, const char *svc, int k, char *buf, size_t cap) {
  if (k)
    snprintf(buf, cap, "%s/%s.log.%d", l->dir, svc, k);
  else
    snprintf(buf, cap, "%s/%s.log", l->dir, svc);
}

static void open_file(svclog *l, file *f) {
  char path[4096];
  path_of(l, f->svc, 0, path, sizeof path);
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, (mode_t)l->mode);
  f->f = fd >= 0 ? fdopen(fd, "a") : NULL;
  if (!f->f && fd >= 0)
    close(fd);
  if (!f->f) {
    if (!f->broken)
      cli_error("run", "cannot write %s: %s (lines stay in memory only)", path,
                strerror(errno));
    f->broken = 1;
    return;
  }
  struct stat st;
  f->size = fstat(fileno(f->f), &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void rotate(svclog *l, file *f) {
  fclose(f->f);
  f->f = NULL;
  char from[4096], to[4096];
  int keep = f->keep >= 0 ? f->keep : l->keep;
  if (keep == 0) {
    path_of(l, f->svc, 0, from, sizeof from);
    unlink(from);
  }
  for (int k = keep; k >= 1; k--) {
    path_of(l, f->svc, k - 1, from, sizeof from);
    path_of(l, f->svc, k, to, sizeof to);
    rename(from, to); /* a missing one is fine */
  }
  open_file(l, f);
}

void svclog_line(svclog *l, const char *svc, const char *instance, int stream, int64_t time_ms,
                 const char *text) {
  if (!l->dir) {
    return;
  }
  file *f = entry(l, svc);
  if (f && !f->f && !f->broken)
    open_file(l, f);
  if (f && f->f) {
    char stamp[40];
    cli_utc_stamp(stamp, sizeof stamp, time_ms);
    char head[160];
    int n = snprintf(head, sizeof head, "%s %s %s: ", stamp, instance,
                     stream == WARD_LOG_STDERR   ? "err"
                     : stream == WARD_LOG_RECORD ? "log"
                                                 : "out");
    uint64_t add = (uint64_t)n + strlen(text) + 1;
    if (f->size > 0 && f->size + add > (f->max ? f->max : l->max))
      rotate(l, f);
    if (f->f && fprintf(f->f, "%s%s\n", head, text) > 0 && fflush(f->f) == 0)
      f->size += add;
  }
}

void svclog_free(svclog *l) {
  if (!l)
    return;
  svclog_reopen(l);
  for (size_t i = 0; i < l->n; i++)
    free(l->files[i].svc);
  free(l->files);
  free(l->dir);
  free(l);
}
