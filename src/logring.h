/*
 * logring.h — a worker's captured output: bytes from its stdout and stderr
 * cut into lines and kept in a ring bounded in bytes. Pure code (no I/O,
 * no locks: the owner serialises), tested on its own.
 */
#ifndef WARD_LOGRING_H
#define WARD_LOGRING_H

#include <stddef.h>
#include <stdint.h>

#include "ward.h"

/* Longest line kept whole; longer ones are cut into pieces marked CUT. */
#define WARD__LOG_LINE_MAX 4096

typedef struct ward__logline {
  struct ward__logline *next;
  uint64_t seq;
  int64_t time_ms;
  uint32_t generation;
  uint8_t stream; /* WARD_LOG_STDOUT or WARD_LOG_STDERR */
  uint8_t flags;  /* WARD_LOG_CUT, WARD_LOG_BINARY */
  size_t len;
  char text[]; /* NUL-terminated */
} ward__logline;

typedef struct ward__logring {
  ward__logline *head, *tail;
  size_t bytes, cap, count;
  uint64_t next_seq;
  /* The line being collected on each stream (index stream - 1). */
  char part[2][WARD__LOG_LINE_MAX];
  size_t plen[2];
  uint8_t pflags[2];
  uint8_t pcr[2]; /* a CR came last: the line's end if a LF follows */
} ward__logring;

void ward__logring_init(ward__logring *r, size_t cap);
void ward__logring_free(ward__logring *r);

/* Adds bytes read from `stream`; complete lines go to the ring. Each new
 * line is passed to `added` (may be NULL) right after it is stored. */
void ward__logring_push(ward__logring *r, int stream, const void *data, size_t n,
                        int64_t now_ms, uint32_t generation,
                        void (*added)(const ward__logline *l, void *ud), void *ud);
/* Ends the partial line of `stream` (the stream closed, or the process
 * ended): it is stored as it is. */
void ward__logring_flush(ward__logring *r, int stream, int64_t now_ms, uint32_t generation,
                         void (*added)(const ward__logline *l, void *ud), void *ud);

/* Copies out the lines matching `q` (see ward_log_query). */
int ward__logring_query(const ward__logring *r, const ward_log_query *q, ward_log_line **out,
                        size_t *count);

#endif
