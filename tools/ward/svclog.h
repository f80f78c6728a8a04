/*
 * svclog.h — the daemon's log files: one per service, rotated by size
 * (NAME.log, NAME.log.1 ... NAME.log.N), written from the host's event
 * callback, on the daemon's one thread. A file that cannot be written is
 * reported once and then left alone until a reopen (the lines stay in the
 * service's log ring).
 */
#ifndef WARD_CLI_SVCLOG_H
#define WARD_CLI_SVCLOG_H

#include <stddef.h>
#include <stdint.h>

typedef struct svclog svclog;

/* Files go into `dir` (NULL: no files), each at most `max_bytes`, with
 * `keep` rotated ones, created with `mode` (then the umask). Returns NULL
 * without memory. */
svclog *svclog_new(const char *dir, uint64_t max_bytes, int keep, int mode);
/* Changes the directory and limits (a reload); open files are closed. */
int svclog_configure(svclog *l, const char *dir, uint64_t max_bytes, int keep, int mode);
/* Limits of service `svc`'s own, in place of the ones above: `max_bytes`
 * 0 or `keep` -1 for those. 0, or -1 without memory. */
int svclog_limits(svclog *l, const char *svc, uint64_t max_bytes, int keep);
/* Closes every file, to be opened again (created if gone) at its next
 * line: after an external logrotate has moved them. */
void svclog_reopen(svclog *l);
/* Creates the directory (and its parents) if needed: 0, or -1 with a
 * reason in `err`. */
int svclog_prepare(svclog *l, char *err, size_t cap);
/* Appends one line of `instance` (NAME or NAME.I) of service `svc`. */
void svclog_line(svclog *l, const char *svc, const char *instance, int stream, int64_t time_ms,
                 const char *text);
void svclog_free(svclog *l);

#endif
