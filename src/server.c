/*
 * server.c — a ward server on a Unix socket path: programs that were not
 * spawned by it connect (ward_client_open) and call its handlers. Each
 * connection is served on a thread of its own by the client code in its
 * server role (client.c), so handlers may block.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "platform.h"
#include "ward_int.h"

typedef struct peer {
  struct peer *next;
  ward_server *server;
  ward_client *client;
} peer;

struct ward_server {
  pthread_mutex_t mu;
  pthread_cond_t cond; /* a peer thread ended */
  ward__handlers handlers;
  int listen_fd;
  int wake[2];         /* written to stop the accepting thread */
  char *path;
  pthread_t thread;
  int running;         /* the accepting thread exists */
  peer *peers;
  size_t npeers;
};

int ward_server_new(ward_server **out) {
  if (!out)
    return ward__fail(WARD_EINVAL, "NULL out");
  ward_server *s = calloc(1, sizeof *s);
  if (!s)
    return WARD_ENOMEM;
  s->listen_fd = s->wake[0] = s->wake[1] = -1;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cond, NULL);
  *out = s;
  return 0;
}

int ward_server_handle(ward_server *s, const char *method, ward_handler fn, void *ud) {
  if (!s)
    return ward__fail(WARD_EINVAL, "NULL server");
  pthread_mutex_lock(&s->mu);
  int rv = s->running ? ward__fail(WARD_EINVAL, "handlers must be set before ward_server_listen")
                      : ward__handlers_set(&s->handlers, method, fn, ud);
  pthread_mutex_unlock(&s->mu);
  return rv;
}

static void *serve_peer(void *arg) {
  peer *p = arg;
  ward_server *s = p->server;
  ward_client_run(p->client);
  pthread_mutex_lock(&s->mu);
  for (peer **pp = &s->peers; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  s->npeers--;
  pthread_cond_broadcast(&s->cond);
  pthread_mutex_unlock(&s->mu);
  ward_client_free(p->client);
  free(p);
  return NULL;
}

/* One connection: someone of this user (or root), on a thread of its own. */
static void start_peer(ward_server *s, int fd) {
  uid_t uid;
  if (ward__peer_uid(fd, &uid) || (uid != geteuid() && uid != 0)) {
    ward__close(fd);
    return;
  }
  peer *p = calloc(1, sizeof *p);
  if (!p || ward__client_accepted(&p->client, fd, &s->handlers)) {
    if (!p)
      ward__close(fd);
    free(p);
    return;
  }
  p->server = s;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_mutex_lock(&s->mu);
  pthread_t t;
  if (pthread_create(&t, &attr, serve_peer, p) == 0) {
    p->next = s->peers;
    s->peers = p;
    s->npeers++;
    p = NULL;
  }
  pthread_mutex_unlock(&s->mu);
  pthread_attr_destroy(&attr);
  if (p) {
    ward_client_free(p->client);
    free(p);
  }
}

static void *accept_loop(void *arg) {
  ward_server *s = arg;
  struct pollfd pf[2] = {{.fd = s->listen_fd, .events = POLLIN},
                         {.fd = s->wake[0], .events = POLLIN}};
  int timeout = -1;
  for (;;) {
    int n = poll(pf, 2, timeout);
    if (n < 0 && errno != EINTR)
      break;
    if (n > 0 && pf[1].revents)
      break;
    /* Out of descriptors (EMFILE, ENFILE): the pending connection stays
     * readable, so rather than spin on it, the listener is left alone
     * for a moment (the wake pipe is still watched). */
    pf[0].fd = s->listen_fd;
    timeout = -1;
    int fd, rv;
    while ((rv = ward__accept(s->listen_fd, &fd)) > 0)
      start_peer(s, fd);
    if (rv < 0) {
      pf[0].fd = -1;
      timeout = 100;
    }
  }
  return NULL;
}

/* Refuses a path where a live server answers; removes a stale socket. */
static int claim_path(const char *path) {
  struct stat st;
  if (lstat(path, &st) < 0)
    return 0;
  if (!S_ISSOCK(st.st_mode))
    return ward__fail(WARD_EINVAL, "%s exists and is not a socket", path);
  int fd;
  int e = ward__unix_connect(path, &fd);
  if (!e) {
    ward__close(fd);
    return ward__fail_keep(WARD_ESYS, EADDRINUSE, "a server already listens on that path");
  }
  if (e != ECONNREFUSED)
    return ward__fail_sys(WARD_ESYS, e, "connect (checking the socket path)");
  unlink(path); /* left by a server that died */
  return 0;
}

int ward_server_listen(ward_server *s, const char *path) {
  if (!s || !path || !*path)
    return ward__fail(WARD_EINVAL, "ward_server_listen needs a server and a path");
  if (strlen(path) >= sizeof ((struct sockaddr_un *)0)->sun_path)
    return ward__fail(WARD_EINVAL, "socket path too long: %s", path);
  pthread_mutex_lock(&s->mu);
  int running = s->running;
  pthread_mutex_unlock(&s->mu);
  if (running)
    return ward__fail(WARD_EINVAL, "the server listens already");
  int rv = claim_path(path);
  if (rv)
    return rv;
  int fd;
  rv = ward__unix_listen(path, 0600, 64, &fd); /* owner only */
  if (rv)
    return ward__fail_sys(WARD_ESYS, rv, "listen");
  if (pipe2(s->wake, O_CLOEXEC) < 0) {
    int e = errno;
    ward__close(fd);
    unlink(path);
    return ward__fail_sys(WARD_ESYS, e, "pipe2");
  }
  s->listen_fd = fd;
  s->path = strdup(path);
  pthread_mutex_lock(&s->mu);
  int e = s->path ? pthread_create(&s->thread, NULL, accept_loop, s) : ENOMEM;
  s->running = e == 0;
  pthread_mutex_unlock(&s->mu);
  if (e) {
    unlink(path);
    return e == ENOMEM ? WARD_ENOMEM : ward__fail_sys(WARD_ESYS, e, "pthread_create");
  }
  return 0;
}

void ward_server_free(ward_server *s) {
  if (!s)
    return;
  if (s->running) {
    ssize_t n;
    do
      n = write(s->wake[1], "x", 1);
    while (n < 0 && errno == EINTR);
    pthread_join(s->thread, NULL);
  }
  /* No new peers now: end the connections and wait for their threads
   * (a handler still running is waited for). */
  pthread_mutex_lock(&s->mu);
  for (peer *p = s->peers; p; p = p->next)
    ward__conn_close(ward__client_conn(p->client), WARD_ECLOSED);
  while (s->npeers)
    pthread_cond_wait(&s->cond, &s->mu);
  pthread_mutex_unlock(&s->mu);
  if (s->path)
    unlink(s->path);
  ward__close(s->listen_fd);
  ward__close(s->wake[0]);
  ward__close(s->wake[1]);
  ward__handlers_free(&s->handlers);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cond);
  free(s->path);
  free(s);
}
