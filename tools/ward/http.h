/*
 * http.h — the HTTP listener of `ward run` ([ward] http): /healthz,
 * /readyz, /status, /metrics and /logs (docs/cli.md, "Health and metrics
 * over HTTP"), served by libmicrohttpd on the daemon's one thread.
 *
 * The daemon gives the pages two things, through callbacks: the document
 * `ward ctl status --json` prints (/status is that document, and /readyz
 * and /metrics are read from it, so the three never disagree), and the
 * answer of its control method ward.logs (/logs writes its lines as JSON
 * lines, as `ward ctl logs --json -f` does). libmicrohttpd runs without
 * threads of its own: the daemon polls the descriptors and the timeout
 * http_poll_fds gives, with its own, and calls http_run after each poll.
 */
#ifndef WARD_CLI_HTTP_H
#define WARD_CLI_HTTP_H

#include <poll.h>
#include <stddef.h>

#include <jansson.h>

/* HTTP connections held at once; a client past them waits in the
 * listener's backlog. */
#define HTTP_MAX_CONNS 32
/* /logs?follow=1 streams held at once (of HTTP_MAX_CONNS, so that the
 * probes always find a connection); one more is answered 503. */
#define HTTP_MAX_FOLLOWERS (HTTP_MAX_CONNS / 2)
/* The most descriptors http_poll_fds gives: the listener and each
 * connection (or one epoll descriptor, where libmicrohttpd has epoll),
 * and each follower waiting for lines (watched for its client hanging
 * up, which libmicrohttpd does not see while it waits). */
#define HTTP_MAX_FDS (HTTP_MAX_CONNS + 1 + HTTP_MAX_FOLLOWERS)
/* How long a reload that moves the listener, and the daemon's exit, wait
 * for the followers to take the end of their streams. */
#define HTTP_DRAIN_MS 1000
/* A connection idle this long is closed. */
#define HTTP_IDLE_SECONDS 10

typedef struct http_server http_server;

/* The status document (a new reference), or NULL without memory. */
typedef json_t *(*http_status_fn)(void *ud);
/* The answer of ward.logs to `params` (docs/protocol.md: name, level,
 * call_id, last, after), {"lines": [...], "cursor": {...}}, in *out: 0, or
 * the method's error code (400 a bad parameter, 404 no such service) with
 * a reason in `err`. */
typedef int (*http_logs_fn)(void *ud, json_t *params, json_t **out, char *err, size_t cap);
/* A message of libmicrohttpd's (a connection it could not serve...). */
typedef void (*http_log_fn)(void *ud, const char *text);

/* A listener that serves nothing until http_listen; NULL without memory.
 * `log` may be NULL. */
http_server *http_new(http_status_fn status, http_logs_fn logs, http_log_fn log, void *ud);

/* Serves at `address` (as [ward] http says it: conf_http_address), or
 * nowhere for NULL. The same address as now changes nothing; another
 * ends the /logs followers' streams (as http_free), closes the listener
 * and binds the new one, and when that fails binds the old address again
 * (the same port), so a refused change leaves things as they were. 0, or -1 with "ADDRESS: reason" in `err`. */
int http_listen(http_server *h, const char *address, char *err, size_t cap);

/* The address bound, port included ("127.0.0.1:9180", "[::1]:41234"), or
 * NULL when it serves nowhere. */
const char *http_address(const http_server *h);

/* The descriptors to poll, into `pf` (at most `cap`, HTTP_MAX_FDS is
 * always enough): their count. Lowers *timeout_ms (-1: none) to when
 * http_run is due even if none is ready. */
size_t http_poll_fds(http_server *h, struct pollfd *pf, size_t cap, int *timeout_ms);

/* After the poll, with what it said of http_poll_fds's descriptors:
 * accepts, reads, answers, closes idle connections. */
void http_run(http_server *h, const struct pollfd *pf, size_t n);

/* New lines came (of any service): the /logs followers waiting for lines
 * look again. NULL is fine. */
void http_logs_wake(http_server *h);

/* The daemon is stopping: every /logs follower ends its stream (after the
 * lines it has), and a new one gets the lines there are and its end. NULL
 * is fine. */
void http_logs_end(http_server *h);

/* The /logs followers held now. */
size_t http_followers(const http_server *h);

/* Ends the followers' streams, waits up to HTTP_DRAIN_MS for them to go,
 * then closes the listener and every connection. NULL is fine. */
void http_free(http_server *h);

#endif
