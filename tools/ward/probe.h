/*
 * probe.h — what `ward probe` (probe.c) and its worker (probe_worker.c)
 * agree on: the hidden subcommand that starts the worker, the methods it
 * serves and the size of the rows it streams.
 *
 * Methods (payloads are raw bytes, WARD_ENC_RAW):
 *   echo    replies with the request, byte for byte
 *   stream  "ROWS MS": streams PROBE_ROW_BYTES-byte rows on the stream
 *           "rows" until it has sent ROWS or MS have passed, then replies
 *           with how many it sent, as decimal text
 *   flood   streams rows until the caller cancels (then fails ECANCELED)
 *   crash   abort()s, without a core dump
 */
#ifndef WARD_PROBE_H
#define WARD_PROBE_H

#define PROBE_WORKER_CMD "__probe-worker"

#define PROBE_M_ECHO "echo"
#define PROBE_M_STREAM "stream"
#define PROBE_M_FLOOD "flood"
#define PROBE_M_CRASH "crash"

#define PROBE_ROW_BYTES 32

#endif /* WARD_PROBE_H */
