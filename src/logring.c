/*
 * logring.c — captured output as lines in a bounded ring (see logring.h).
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
 */
#include "logring.h"

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

static size_t line_cost(size_t len) { return sizeof(ward__logline) + len + 1; }

static void evict(ward__logring *r) {
  while (r->head && r->bytes > r->cap) {
    ward__logline *l = r->head;
    r->head = l->next;
    if (!r->head)
      r->tail = NULL;
    r->bytes -= line_cost(l->len);
    r->count--;
    free(l);
  }
}

static void store(ward__logring *r, int stream, int64_t now_ms, uint32_t gen,
                  void (*added)(const ward__logline *, void *), void *ud) {
  int i = stream - 1;
  size_t len = r->plen[i];
  ward__logline *l = malloc(sizeof *l + len + 1);
  r->plen[i] = 0;
  uint8_t flags = r->pflags[i];
  r->pflags[i] = 0;
  if (!l)
    return; /* out of memory: this line is lost, the ring stays sound */
  memcpy(l->text, r->part[i], len);
  l->text[len] = 0;
  l->len = len;
  l->next = NULL;
  l->seq = r->next_seq++;
  l->time_ms = now_ms;
  l->generation = gen;
  l->stream = (uint8_t)stream;
  l->flags = flags;
  if (r->tail)
    r->tail->next = l;
  else
    r->head = l;
  r->tail = l;
  r->bytes += line_cost(len);
  r->count++;
  if (added)
    added(l, ud);
  evict(r);
}

/* Adds byte `c` to the line being collected on `stream` (a control byte
 * as '?'), storing the line first when it is full. */
static void append(ward__logring *r, int stream, unsigned char c, int64_t now_ms, uint32_t gen,
                   void (*added)(const ward__logline *, void *), void *ud) {
  int i = stream - 1;
  if ((c < 0x20 && c != '\t') || c == 0x7f) {
    c = '?';
    r->pflags[i] |= WARD_LOG_BINARY;
  }
  if (r->plen[i] == WARD__LOG_LINE_MAX) {
    r->pflags[i] |= WARD_LOG_CUT;
    store(r, stream, now_ms, gen, added, ud);
    r->pflags[i] |= WARD_LOG_CUT; /* the rest of it is a piece too */
  }
  r->part[i][r->plen[i]++] = (char)c;
}

void ward__logring_push(ward__logring *r, int stream, const void *data, size_t n,
                        int64_t now_ms, uint32_t gen,
                        void (*added)(const ward__logline *, void *), void *ud) {
  if (stream != WARD_LOG_STDOUT && stream != WARD_LOG_STDERR)
    return;
  int i = stream - 1;
  const unsigned char *p = data;
  for (size_t k = 0; k < n; k++) {
    unsigned char c = p[k];
    if (r->pcr[i]) {
      /* The CR before: the line's end with this LF, a control byte
       * without one. */
      r->pcr[i] = 0;
      if (c != '\n')
        append(r, stream, '\r', now_ms, gen, added, ud);
    }
    if (c == '\n') {
      store(r, stream, now_ms, gen, added, ud);
      continue;
    }
    if (c == '\r') {
      r->pcr[i] = 1;
      continue;
    }
    append(r, stream, c, now_ms, gen, added, ud);
  }
}

void ward__logring_flush(ward__logring *r, int stream, int64_t now_ms, uint32_t gen,
                         void (*added)(const ward__logline *, void *), void *ud) {
  if (stream != WARD_LOG_STDOUT && stream != WARD_LOG_STDERR)
    return;
  if (r->pcr[stream - 1]) {
    r->pcr[stream - 1] = 0;
    append(r, stream, '\r', now_ms, gen, added, ud);
  }
  if (r->plen[stream - 1])
    store(r, stream, now_ms, gen, added, ud);
}

static int matches(const ward__logline *l, const ward_log_query *q) {
  int streams = q->streams ? q->streams : WARD_LOG_STDOUT | WARD_LOG_STDERR;
  return (l->stream & streams) && l->time_ms >= q->since_ms && l->seq > q->after_seq;
}

int ward__logring_query(const ward__logring *r, const ward_log_query *q, ward_log_line **out,
                        size_t *count) {
  static const ward_log_query all = WARD_LOG_QUERY_INIT;
  if (!q)
    q = &all;
  size_t n = 0;
  for (const ward__logline *l = r->head; l; l = l->next)
    n += matches(l, q);
  /* The last `last` of the matches, then at most `limit` of them. */
  size_t skip = q->last && n > q->last ? n - q->last : 0;
  size_t keep = n - skip;
  if (q->limit && keep > q->limit)
    keep = q->limit;
  ward_log_line *v = calloc(keep ? keep : 1, sizeof *v);
  if (!v)
    return WARD_ENOMEM;
  size_t i = 0, seen = 0;
  for (const ward__logline *l = r->head; l && i < keep; l = l->next) {
    if (!matches(l, q) || seen++ < skip)
      continue;
    char *t = malloc(l->len + 1);
    if (!t) {
      ward_log_lines_free(v, i);
      return WARD_ENOMEM;
    }
    memcpy(t, l->text, l->len + 1);
    v[i].seq = l->seq;
    v[i].time_ms = l->time_ms;
    v[i].stream = l->stream;
    v[i].generation = l->generation;
    v[i].flags = l->flags;
    v[i].text = t;
    v[i].len = l->len;
    i++;
  }
  *out = v;
  *count = i;
  return 0;
}

void ward_log_lines_free(ward_log_line *lines, size_t count) {
  for (size_t i = 0; lines && i < count; i++)
    free((char *)lines[i].text);
  free(lines);
}
