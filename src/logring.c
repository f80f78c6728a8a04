/*
 * logring.c — captured output as lines, and log records, in a bounded
 * ring (see logring.h).
 *
 * A line is stored when its '\n' arrives, when it reaches
 * WARD__LOG_LINE_MAX bytes (the rest follows as another piece; both are
 * marked CUT), or when the stream ends. A "\r\n" ends a line as '\n'
 * does: it is how Windows programs end theirs (the C runtime's text mode
 * writes it for every '\n'). Other control bytes than tab, a CR elsewhere
 * included, are replaced by '?' and the line marked BINARY, so that
 * whatever a worker writes, a line is text a terminal and a JSON encoder
 * can take. The ring drops its oldest lines to stay within its byte
 * budget.
 *
 * A log record is a line with a level, a call id and fields; it costs
 * the ring what its text and fields take, so records and lines share
 * one budget, and a worker sending records faster than anyone reads them
 * pushes out its oldest ones, never the host's memory limit.
 */
#include "logring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ward_int.h"

void ward__logring_init(ward__logring *r, size_t cap) {
  memset(r, 0, sizeof *r);
  r->cap = cap;
  r->next_seq = 1;
}

void ward__logring_free(ward__logring *r) {
  for (ward__logline *l = r->head, *n; l; l = n) {
    n = l->next;
    free(l);
  }
  r->head = r->tail = NULL;
  r->bytes = r->count = 0;
}

static size_t line_cost(const ward__logline *l) { return sizeof(ward__logline) + l->size; }

static void evict(ward__logring *r) {
  while (r->head && r->bytes > r->cap) {
    ward__logline *l = r->head;
    r->head = l->next;
    if (!r->head)
      r->tail = NULL;
    r->bytes -= line_cost(l);
    r->count--;
    free(l);
  }
}

/* Appends `l` (its text and time filled in) with the ring's next number,
 * without making room. */
static void append_line(ward__logring *r, ward__logline *l) {
  l->next = NULL;
  l->seq = r->next_seq++;
  if (r->tail)
    r->tail->next = l;
  else
    r->head = l;
  r->tail = l;
  r->bytes += line_cost(l);
  r->count++;
}

/* Appends `l` (its text filled in), numbered, then makes room. */
static void link_line(ward__logring *r, ward__logline *l, const ward__logstamp *st,
                      void (*added)(const ward__logline *, void *), void *ud) {
  l->time_ms = st->time_ms;
  l->generation = st->generation;
  l->pid = st->pid;
  append_line(r, l);
  if (added)
    added(l, ud);
  evict(r);
}

/* Takes the lines stored in `r` out of it (its numbering and partial
 * lines stay); returns the first. */
static ward__logline *detach(ward__logring *r) {
  ward__logline *l = r->head;
  r->head = r->tail = NULL;
  r->bytes = r->count = 0;
  return l;
}

void ward__logring_take(ward__logring *to, ward__logring *from, uint32_t gen,
                        void (*added)(const ward__logline *l, void *ud), void *ud) {
  for (ward__logline *l = detach(from), *n; l; l = n) {
    n = l->next;
    if (gen)
      l->generation = gen;
    append_line(to, l);
    if (added)
      added(l, ud);
    /* As for a line read: told first, then room made. */
    evict(to);
  }
}

void ward__logring_prepend(ward__logring *to, ward__logring *from) {
  ward__logline *own = detach(to);
  to->head = from->head;
  to->tail = from->tail;
  to->bytes = from->bytes;
  to->count = from->count;
  to->next_seq = from->next_seq;
  detach(from);
  for (ward__logline *l = own, *n; l; l = n) {
    n = l->next;
    append_line(to, l);
  }
  evict(to);
}

void ward__logring_swap_partial(ward__logring *a, ward__logring *b) {
  ward__logpart t = a->pend;
  a->pend = b->pend;
  b->pend = t;
}

static void store(ward__logring *r, int stream, const ward__logstamp *st,
                  void (*added)(const ward__logline *, void *), void *ud) {
  int i = stream - 1;
  size_t len = r->pend.plen[i];
  ward__logline *l = malloc(sizeof *l + len + 1);
  r->pend.plen[i] = 0;
  uint8_t flags = r->pend.pflags[i];
  r->pend.pflags[i] = 0;
  if (!l)
    return; /* out of memory: this line is lost, the ring stays sound */
  memcpy(l->text, r->pend.part[i], len);
  l->text[len] = 0;
  l->len = len;
  l->size = len + 1;
  l->level = 0;
  l->call_id = 0;
  l->nfields = 0;
  l->stream = (uint8_t)stream;
  l->flags = flags;
  link_line(r, l, st, added, ud);
}

/* Adds byte `c` to the line being collected on `stream` (a control byte
 * as '?'), storing the line first when it is full. */
static void append(ward__logring *r, int stream, unsigned char c, const ward__logstamp *st,
                   void (*added)(const ward__logline *, void *), void *ud) {
  int i = stream - 1;
  if ((c < 0x20 && c != '\t') || c == 0x7f) {
    c = '?';
    r->pend.pflags[i] |= WARD_LOG_BINARY;
  }
  if (r->pend.plen[i] == WARD__LOG_LINE_MAX) {
    r->pend.pflags[i] |= WARD_LOG_CUT;
    store(r, stream, st, added, ud);
    r->pend.pflags[i] |= WARD_LOG_CUT; /* the rest of it is a piece too */
  }
  r->pend.part[i][r->pend.plen[i]++] = (char)c;
}

void ward__logring_push(ward__logring *r, int stream, const void *data, size_t n,
                        const ward__logstamp *st,
                        void (*added)(const ward__logline *, void *), void *ud) {
  if (stream != WARD_LOG_STDOUT && stream != WARD_LOG_STDERR)
    return;
  int i = stream - 1;
  const unsigned char *p = data;
  for (size_t k = 0; k < n; k++) {
    unsigned char c = p[k];
    if (r->pend.pcr[i]) {
      /* The CR before: the line's end with this LF, a control byte
       * without one. */
      r->pend.pcr[i] = 0;
      if (c != '\n')
        append(r, stream, '\r', st, added, ud);
    }
    if (c == '\n') {
      store(r, stream, st, added, ud);
      continue;
    }
    if (c == '\r') {
      r->pend.pcr[i] = 1;
      continue;
    }
    append(r, stream, c, st, added, ud);
  }
}

void ward__logring_flush(ward__logring *r, int stream, const ward__logstamp *st,
                         void (*added)(const ward__logline *, void *), void *ud) {
  if (stream != WARD_LOG_STDOUT && stream != WARD_LOG_STDERR)
    return;
  if (r->pend.pcr[stream - 1]) {
    r->pend.pcr[stream - 1] = 0;
    append(r, stream, '\r', st, added, ud);
  }
  if (r->pend.plen[stream - 1])
    store(r, stream, st, added, ud);
}

/* Copies `n` bytes of text with control bytes but tab as '?'; returns
 * what it wrote, its NUL included. */
static size_t put_text(char *dst, const char *src, size_t n, uint8_t *flags) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)src[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      c = '?';
      *flags |= WARD_LOG_BINARY;
    }
    dst[i] = (char)c;
  }
  dst[n] = 0;
  return n + 1;
}

void ward__logring_record(ward__logring *r, const ward__rec *rec, const ward__logstamp *st,
                          void (*added)(const ward__logline *, void *), void *ud) {
  uint8_t flags = 0;
  const char *why = ward__rec_check(rec);
  char note[128];
  ward__rec dropped;
  if (why) {
    /* Kept as a note, so that whoever reads the logs sees that the worker
     * tried to say something, and why it is not there. */
    int n = snprintf(note, sizeof note, "log record dropped: %s", why);
    dropped.level = WARD_LEVEL_WARN;
    dropped.call_id = rec->call_id;
    dropped.msg = note;
    dropped.mlen = (size_t)n;
    dropped.nfields = 0;
    rec = &dropped;
    flags = WARD_LOG_INVALID;
  }
  size_t size = rec->mlen + 1;
  for (size_t i = 0; i < rec->nfields; i++)
    size += rec->f[i].klen + 1 + rec->f[i].vlen + 1;
  ward__logline *l = malloc(sizeof *l + size);
  if (!l)
    return; /* out of memory: this record is lost, the ring stays sound */
  size_t at = put_text(l->text, rec->msg, rec->mlen, &flags);
  for (size_t i = 0; i < rec->nfields; i++) {
    at += put_text(l->text + at, rec->f[i].key, rec->f[i].klen, &flags);
    at += put_text(l->text + at, rec->f[i].val, rec->f[i].vlen, &flags);
  }
  l->len = rec->mlen;
  l->size = size;
  l->level = (uint8_t)rec->level;
  l->call_id = rec->call_id;
  l->nfields = rec->nfields;
  l->stream = WARD_LOG_RECORD;
  l->flags = flags;
  link_line(r, l, st, added, ud);
}

/* The fields of a record whose text (message `len` bytes, then its
 * pairs) is at `text`. */
static void fields_at(const char *text, size_t len, size_t n, ward_log_field *v) {
  const char *p = text + len + 1;
  for (size_t i = 0; i < n; i++) {
    v[i].key = p;
    p += strlen(p) + 1;
    v[i].value = p;
    p += strlen(p) + 1;
  }
}

void ward__logline_fields(const ward__logline *l, ward_log_field *v) {
  fields_at(l->text, l->len, l->nfields, v);
}

static int matches(const ward__logline *l, const ward_log_query *q) {
  int streams = q->streams ? q->streams : WARD_LOG_STDOUT | WARD_LOG_STDERR | WARD_LOG_RECORD;
  return (l->stream & streams) && l->time_ms >= q->since_ms && l->seq > q->after_seq &&
         (q->min_level <= 0 || l->level >= q->min_level) &&
         (q->call_id == 0 || (l->stream == WARD_LOG_RECORD && l->call_id == q->call_id));
}

/* Where the matches to copy out start (`*skip` of them passed over) and
 * how many (`*keep`). */
static void select_matches(const ward__logring *r, const ward_log_query *q, size_t *skip,
                           size_t *keep) {
  size_t n = 0;
  for (const ward__logline *l = r->head; l; l = l->next)
    n += matches(l, q);
  /* The last `last` of the matches, then at most `limit` of them. */
  *skip = q->last && n > q->last ? n - q->last : 0;
  *keep = n - *skip;
  if (q->limit && *keep > q->limit)
    *keep = q->limit;
}

/* The matches of `q` (NULL: everything) the query selects, each copied by
 * `copy` into an array of `size`-byte elements; on failure, `drop` frees
 * the `i` copied so far. */
static int collect(const ward__logring *r, const ward_log_query *q, size_t size,
                   int (*copy)(void *dst, const ward__logline *l),
                   void (*drop)(void *v, size_t i), void **out, size_t *count) {
  static const ward_log_query all = WARD_LOG_QUERY_INIT;
  if (!q)
    q = &all;
  size_t skip, keep;
  select_matches(r, q, &skip, &keep);
  char *v = calloc(keep ? keep : 1, size);
  if (!v)
    return WARD_ENOMEM;
  size_t i = 0, seen = 0;
  for (const ward__logline *l = r->head; l && i < keep; l = l->next) {
    if (!matches(l, q) || seen++ < skip)
      continue;
    if (copy(v + i * size, l)) {
      drop(v, i);
      return WARD_ENOMEM;
    }
    i++;
  }
  *out = v;
  *count = i;
  return 0;
}

static int copy_line(void *dst, const ward__logline *l) {
  ward_log_line *d = dst;
  char *t = malloc(l->len + 1);
  if (!t)
    return WARD_ENOMEM;
  memcpy(t, l->text, l->len + 1);
  d->seq = l->seq;
  d->time_ms = l->time_ms;
  d->stream = l->stream;
  d->generation = l->generation;
  d->flags = l->flags;
  d->text = t;
  d->len = l->len;
  return 0;
}

static void drop_lines(void *v, size_t n) { ward_log_lines_free(v, n); }

int ward__logring_query(const ward__logring *r, const ward_log_query *q, ward_log_line **out,
                        size_t *count) {
  void *v;
  int rv = collect(r, q, sizeof(ward_log_line), copy_line, drop_lines, &v, count);
  if (rv == 0)
    *out = v;
  return rv;
}

void ward_log_lines_free(ward_log_line *lines, size_t count) {
  for (size_t i = 0; lines && i < count; i++)
    free((char *)lines[i].text);
  free(lines);
}

/* One entry: its fields array and its text in one block, the fields
 * first (ward_log_entries_free finds the block from the text). */
static int copy_entry(void *dst, const ward__logline *l) {
  ward_log_entry *e = dst;
  size_t head = l->nfields * sizeof(ward_log_field);
  char *b = malloc(head + l->size);
  if (!b)
    return WARD_ENOMEM;
  char *t = b + head;
  memcpy(t, l->text, l->size);
  ward_log_field *fv = (ward_log_field *)(void *)b;
  fields_at(t, l->len, l->nfields, fv); /* into our copy */
  e->seq = l->seq;
  e->time_ms = l->time_ms;
  e->stream = l->stream;
  e->generation = l->generation;
  e->flags = l->flags;
  e->text = t;
  e->len = l->len;
  e->level = l->level;
  e->call_id = l->call_id;
  e->fields = l->nfields ? fv : NULL;
  e->nfields = l->nfields;
  return 0;
}

static void drop_entries(void *v, size_t n) { ward_log_entries_free(v, n); }

int ward__logring_entries(const ward__logring *r, const ward_log_query *q, ward_log_entry **out,
                          size_t *count) {
  void *v;
  int rv = collect(r, q, sizeof(ward_log_entry), copy_entry, drop_entries, &v, count);
  if (rv == 0)
    *out = v;
  return rv;
}

void ward_log_entries_free(ward_log_entry *entries, size_t count) {
  for (size_t i = 0; entries && i < count; i++)
    free((char *)entries[i].text - entries[i].nfields * sizeof(ward_log_field));
  free(entries);
}

const char *ward_level_name(int level) {
  static const char *const names[] = {"trace", "debug", "info", "warn", "error"};
  return level >= WARD_LEVEL_TRACE && level <= WARD_LEVEL_ERROR ? names[level - 1] : "unknown";
}
