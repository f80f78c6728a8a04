/*
 * server_int.h — what server.c (a ward server, its connections on threads
 * of its own) and server_loop.c (its connections on a host's loop,
 * ward_server_attach) share.
 */
#ifndef WARD_SERVER_INT_H
#define WARD_SERVER_INT_H

#include "worker.h"

struct peer;
struct lpeer;

struct ward_server {
  pthread_mutex_t mu;
  pthread_cond_t cond; /* a peer thread is done */
  ward__handlers handlers;
  int max_conns;
  int handshake_ms;
  ward_server_drop_cb on_drop; /* set before listening: read without the lock */
  void *drop_ud;
  ward__fd listen_fd;
  ward__loop *loop;    /* the accepting thread waits here for the listener
                          (not attached) */
  atomic_int stopping; /* the accepting thread is to end (with a wake-up) */
  char *path;
  pthread_t thread;
  int running;         /* the accepting thread exists, or (attached) the
                          listener is on the host's loop */
  struct peer *peers;
  size_t npeers;       /* every peer with a thread, ending ones included */
  /* Attached to a host (ward_server_attach): the rest is the loop's. */
  ward_host *host;
  ward__watch listen_watch;
  ward__timer retry;     /* out of descriptors: when to listen again */
  struct lpeer *lpeers;  /* connections not closed yet, newest first */
  size_t nopen;          /* of them, those the server has not closed */
  size_t nlive;          /* connections whose close the loop has not
                            handled yet (host's lock) */
  ward__job close_job;   /* ward_server_free's work, on the loop */
  int closing;           /* that work has run (host's lock) */
};

/* Tells the program of a drop (reason 0: nothing to tell). */
void ward__server_report(ward_server *s, const ward_server_drop *d);
/* Answers a newcomer with a GOODBYE (busy) and closes it. */
void ward__server_refuse(ward__fd fd, int max_conns);

/* server_loop.c: attached to a host. Registers the listener with the
 * host's loop (0, or the error of the registration). */
int ward__server_attached_listen(ward_server *s);
/* ward_server_connections of an attached server. */
size_t ward__server_attached_count(ward_server *s);
/* ward_server_free of an attached server. */
void ward__server_attached_free(ward_server *s);

#endif
