/*
 * output.c — a worker's captured output: the pipes of its stdout and
 * stderr, read by the loop into the worker's log ring line by line, and
 * the log records it sends over its channel; each line or record an event
 * when the spec asks, and a copy on the host's stderr when it forwards.
 *
 * Owns: the output pipes and the forwarding buffer of each worker. May not
 * block the loop: the host's stderr gets what it takes at once, and a pipe
 * is read a bounded amount per wake-up. Lock: the host mutex where it
 * says so.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

/* What the LOG events waiting for delivery may hold, over all workers. */
#define WARD__LOG_EVENTS_MAX (8u << 20)

static int stream_of(const ward_worker *w, const ward__watch *wt) {
  return wt == &w->out_watch ? WARD_LOG_STDOUT : WARD_LOG_STDERR;
}

/* A record as its readable line (ward_log_format), malloc'd; NULL
 * without memory. *len is its length. */
static char *record_text(const ward__logline *l, size_t *len) {
  ward_log_field fv[WARD_LOG_FIELDS_MAX];
  size_t nf = l->nfields < WARD_LOG_FIELDS_MAX ? l->nfields : WARD_LOG_FIELDS_MAX;
  ward__logline_fields(l, fv);
  size_t n = ward_log_format(NULL, 0, l->level, l->text, fv, nf, l->call_id);
  char *b = malloc(n + 1);
  if (b)
    ward_log_format(b, n + 1, l->level, l->text, fv, nf, l->call_id);
  *len = n;
  return b;
}

/* The event of a record: its fields, and its message as the detail, in
 * one block the event owns (lock held). */
static void record_event(ward__evq *q, const ward__logline *l) {
  size_t head = l->nfields * sizeof(ward_log_field);
  char *b = malloc(head + l->size);
  if (!b)
    return;
  memcpy(b + head, l->text, l->size);
  ward_log_field *fv = (ward_log_field *)(void *)b;
  const char *p = b + head + l->len + 1;
  for (size_t i = 0; i < l->nfields; i++) {
    fv[i].key = p;
    p += strlen(p) + 1;
    fv[i].value = p;
    p += strlen(p) + 1;
  }
  q->text = b;
  q->ev.detail = b + head;
  q->ev.fields = l->nfields ? fv : NULL;
  q->ev.nfields = l->nfields;
  q->ev.level = l->level;
  q->ev.call_id = l->call_id;
}

/* A line or record new in the worker's ring: its event when the spec
 * asks (lock held). */
static void line_event(const ward__logline *l, void *ud) {
  ward_worker *w = ud;
  if (!w->spec->log_events || w->spare_of)
    return; /* (a hidden handle's events are no one's) */
  /* A worker's connection may be read by a caller's thread while the
   * loop's is held up in a slow callback: records read meanwhile must not
   * pile up as events past a bound. */
  size_t cost = sizeof(ward__evq) + l->size + l->nfields * sizeof(ward_log_field);
  if (w->host->log_event_bytes + cost > WARD__LOG_EVENTS_MAX)
    return; /* dropped: the line is in the ring, a gap in the events' seq says so */
  w->host->log_event_bytes += cost;
  ward__evq *q = ward__host_event(w->host, w, WARD_EV_LOG, l->pid, 0, 0, 0, 0, NULL);
  if (q) {
    if (l->stream == WARD_LOG_RECORD) {
      record_event(q, l);
    } else {
      q->text = strdup(l->text);
      q->ev.detail = q->text;
    }
    q->ev.stream = l->stream;
    q->ev.seq = l->seq;
    q->ev.generation = l->generation;
    q->ev.log_flags = l->flags;
  }
}

/* A new captured line or record: an event, and a copy on the host's
 * stderr when forwarding (lock held). */
static void line_added(const ward__logline *l, void *ud) {
  ward_worker *w = ud;
  if (w->spec->output == WARD_OUTPUT_FORWARD) {
    /* Written once the lock is released (flush_forward): the host's
     * stderr may block, the host must not. */
    char head[WARD_MAX_NAME + 32];
    char *rec = NULL;
    const char *text = l->text;
    size_t len = l->len;
    if (l->stream == WARD_LOG_RECORD) {
      rec = record_text(l, &len);
      text = rec ? rec : l->text;
      len = rec ? len : l->len;
    }
    int n = snprintf(head, sizeof head, "[%s %d] ", w->spec->name, l->pid);
    size_t need = w->fwd_len + (size_t)n + len + 1;
    if (need > w->fwd_cap) {
      size_t cap = need * 2;
      char *b = realloc(w->fwd, cap);
      if (b) {
        w->fwd = b;
        w->fwd_cap = cap;
      }
    }
    if (need <= w->fwd_cap) {
      memcpy(w->fwd + w->fwd_len, head, (size_t)n);
      memcpy(w->fwd + w->fwd_len + n, text, len);
      w->fwd[need - 1] = '\n';
      w->fwd_len = need;
    }
    free(rec);
  }
  line_event(l, w);
}

void ward__output_take(ward_worker *w, ward_worker *x, uint32_t gen) {
  /* Forwarded already, if the spec forwards, when the hidden handle read
   * them: here they become the worker's lines, with their events. */
  ward__logring_take(&w->logs, &x->logs, gen, line_event, w);
}

/* Now, from the process whose pipes `w` reads (lock held). */
static ward__logstamp stamp(const ward_worker *w) {
  return (ward__logstamp){ward__wall_ms(), w->life.generation, w->log_pid};
}

/* A LOG frame from the worker on connection `c` (on whichever thread
 * reads it; lock not held): its record goes to the ring, and to events
 * and the host's stderr as a line would. Returns WARD_EPROTO for a
 * payload that is not a record at all (docs/protocol.md 8.4). */
int ward__output_record(ward_worker *w, const ward__conn *c, const ward__frame *f) {
  ward__rec rec;
  if (ward__rec_get(&rec, &f->h, f->payload, f->h.len))
    return ward__fail(WARD_EPROTO, "worker '%s' sent a malformed LOG frame", w->spec->name);
  ward_host *h = w->host;
  pthread_mutex_lock(&h->mu);
  ward__logstamp st = stamp(w);
  if (c != w->conn && w->swap_with) {
    /* The old process's, after a replacement's swap: the hidden handle
     * holds that process, the worker stays its connection's owner. */
    st.generation = w->old_generation;
    st.pid = w->swap_with->log_pid;
  }
  ward__logring_record(&w->logs, &rec, &st, line_added, w);
  int fwd = w->fwd_len > 0;
  pthread_mutex_unlock(&h->mu);
  if (fwd)
    ward__output_forward(w);
  return 0;
}

void ward__output_close(ward_worker *w, int stream) {
  ward__fd *fd = stream == WARD_LOG_STDOUT ? &w->out_fd : &w->err_fd;
  if (!ward__fd_valid(*fd))
    return;
  ward__loop_del(w->host->loop, *fd);
  ward__close(*fd);
  *fd = WARD__FD_NONE;
}

/* Reads what the pipe holds (a bounded amount per wake-up, for fairness).
 * `final`: the process is gone, flush the partial line. Lock held. */
void ward__output_read(ward_worker *w, int stream, int final) {
  ward__fd fd = stream == WARD_LOG_STDOUT ? w->out_fd : w->err_fd;
  uint8_t buf[65536];
  for (int i = 0; ward__fd_valid(fd) && i < (final ? 64 : 4); i++) {
    ptrdiff_t n = ward__read(fd, buf, sizeof buf);
    if (n > 0) {
      ward__logstamp st = stamp(w);
      ward__logring_push(&w->logs, stream, buf, (size_t)n, &st, line_added, w);
      continue;
    }
    if (n != WARD__AGAIN) {
      final = 1; /* end of stream */
      ward__output_close(w, stream);
    }
    break;
  }
  if (final) {
    ward__logstamp st = stamp(w);
    ward__logring_flush(&w->logs, stream, &st, line_added, w);
  }
}

/* Writes forwarded lines to the host's stderr, without the lock. The
 * loop must not wait for a stderr nobody reads: what it cannot take at
 * once (in pieces no larger than a pipe takes whole) is left out; the lines
 * are in the worker's log ring all the same. */
void ward__output_forward(ward_worker *w) {
  pthread_mutex_lock(&w->host->mu);
  char *b = w->fwd;
  size_t n = w->fwd_len;
  w->fwd = NULL;
  w->fwd_len = w->fwd_cap = 0;
  pthread_mutex_unlock(&w->host->mu);
  ward__stderr_now(b, n);
  free(b);
}

static void output_ready(ward__watch *wt, int events) {
  (void)events;
  ward_worker *w = wt->obj;
  pthread_mutex_lock(&w->host->mu);
  ward__output_read(w, stream_of(w, wt), 0);
  int fwd = w->fwd_len > 0;
  pthread_mutex_unlock(&w->host->mu);
  if (fwd)
    ward__output_forward(w);
}

/* Pipes for a capturing spec: the child's ends go to the spawn, ours are
 * kept non-blocking. */
int ward__output_open(ward_worker *w, int how[2], ward__fd child[2]) {
  how[0] = how[1] =
      w->spec->output == WARD_OUTPUT_DISCARD ? WARD__STDIO_NULL : WARD__STDIO_INHERIT;
  child[0] = child[1] = WARD__FD_NONE;
  if (w->spec->output != WARD_OUTPUT_CAPTURE && w->spec->output != WARD_OUTPUT_FORWARD)
    return 0;
  for (int i = 0; i < 2; i++) {
    ward__fd p[2];
    int rv = ward__pipe(p);
    if (rv)
      return rv;
    *(i ? &w->err_fd : &w->out_fd) = p[0];
    child[i] = p[1];
    how[i] = WARD__STDIO_FD;
  }
  return 0;
}

int ward__output_watch(ward_worker *w) {
  int rv = 0;
  w->out_watch = (ward__watch){output_ready, w};
  w->err_watch = (ward__watch){output_ready, w};
  if (ward__fd_valid(w->out_fd))
    rv = ward__loop_add(w->host->loop, w->out_fd, WARD__IN, &w->out_watch);
  if (!rv && ward__fd_valid(w->err_fd))
    rv = ward__loop_add(w->host->loop, w->err_fd, WARD__IN, &w->err_watch);
  return rv;
}
