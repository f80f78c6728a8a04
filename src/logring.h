/*
 * logring.h — a worker's captured output: bytes from its stdout and stderr
 * cut into lines, and the log records it sent over its channel, kept in a
 * ring bounded in bytes. Pure code (no I/O, no locks: the owner
 * serialises), tested on its own.
 */
#ifndef WARD_LOGRING_H
#define WARD_LOGRING_H

#include <stddef.h>
#include <stdint.h>

#include "slog.h"
#include "ward.h"

/* Longest line kept whole; longer ones are cut into pieces marked CUT. */
#define WARD__LOG_LINE_MAX 4096

typedef struct ward__logline {
  struct ward__logline *next;
  uint64_t seq;
  int64_t time_ms;
  uint32_t generation;
  uint8_t stream; /* WARD_LOG_STDOUT, WARD_LOG_STDERR or WARD_LOG_RECORD */
  uint8_t flags;  /* WARD_LOG_CUT, WARD_LOG_BINARY, WARD_LOG_INVALID */
  uint8_t level;  /* a record's WARD_LEVEL_*, 0 for a line */
  uint32_t call_id;
  int pid;        /* the process that wrote it */
  size_t nfields;
  size_t len;  /* of the text (a record's message) */
  size_t size; /* of all of text[]: a record's fields follow its message */
  /* NUL-terminated; a record's "key\0value\0" pairs follow, in order */
  char text[];
} ward__logline;

/* The line being collected on each stream (index stream - 1): what one
 * process wrote since its last newline. */
typedef struct ward__logpart {
  char part[2][WARD__LOG_LINE_MAX];
  size_t plen[2];
  uint8_t pflags[2];
  uint8_t pcr[2]; /* a CR came last: the line's end if a LF follows */
} ward__logpart;

/* When a line or record came, and from what: its generation and its
 * process. */
typedef struct ward__logstamp {
  int64_t time_ms;
  uint32_t generation;
  int pid;
} ward__logstamp;

typedef struct ward__logring {
  ward__logline *head, *tail;
  size_t bytes, cap, count;
  uint64_t next_seq;
  ward__logpart pend;
} ward__logring;

void ward__logring_init(ward__logring *r, size_t cap);
void ward__logring_free(ward__logring *r);

/* Adds bytes read from `stream`; complete lines go to the ring. Each new
 * line is passed to `added` (may be NULL) right after it is stored. */
void ward__logring_push(ward__logring *r, int stream, const void *data, size_t n,
                        const ward__logstamp *st,
                        void (*added)(const ward__logline *l, void *ud), void *ud);
/* Ends the partial line of `stream` (the stream closed, or the process
 * ended): it is stored as it is. */
void ward__logring_flush(ward__logring *r, int stream, const ward__logstamp *st,
                         void (*added)(const ward__logline *l, void *ud), void *ud);

/* Stores a log record (checked with ward__rec_check: one that breaks a
 * rule is stored as a WARN record marked INVALID that says why), its
 * control bytes but tab as '?' (BINARY), and passes it to `added`. */
void ward__logring_record(ward__logring *r, const ward__rec *rec, const ward__logstamp *st,
                          void (*added)(const ward__logline *l, void *ud), void *ud);

/* Moves the lines stored in `from` to the end of `to`, numbered after
 * `to`'s, each with its time, process, stream and text, and generation
 * `gen` (0: its own), passed to `added` (may be NULL) once stored; `to` drops its
 * oldest lines to stay within its budget. `from` keeps its numbering and
 * its partial lines (those are its process's: ward__logring_swap_partial
 * moves them with the pipes). */
void ward__logring_take(ward__logring *to, ward__logring *from, uint32_t gen,
                        void (*added)(const ward__logline *l, void *ud), void *ud);
/* Puts the lines stored in `from` before those of `to`, keeping their
 * numbers; `to`'s own are numbered after them (for a ring nobody has read
 * yet), then `to` makes room. `from` keeps its numbering and partial
 * lines. */
void ward__logring_prepend(ward__logring *to, ward__logring *from);
/* Exchanges the partial lines of `a` and `b`. */
void ward__logring_swap_partial(ward__logring *a, ward__logring *b);

/* A record's fields as ward_log_field pointing into `l`; `v` holds
 * l->nfields. */
void ward__logline_fields(const ward__logline *l, ward_log_field *v);

/* Copies out the lines matching `q` (see ward_log_query). */
int ward__logring_query(const ward__logring *r, const ward_log_query *q, ward_log_line **out,
                        size_t *count);
/* The same as entries, with the records' structure. */
int ward__logring_entries(const ward__logring *r, const ward_log_query *q,
                          ward_log_entry **out, size_t *count);

#endif
