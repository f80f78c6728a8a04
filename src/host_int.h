/*
 * host_int.h — the host's internal types: spec, worker, host.
 */
#ifndef WARD_HOST_INT_H
#define WARD_HOST_INT_H

#include "platform.h"
#include "ward_int.h"

struct ward_spec {
  char *name;
  char *exe;
  char **args; /* argv[1..] */
  size_t nargs;
  char **env;  /* "KEY=VALUE" to set, "KEY" to remove, in order */
  size_t nenv;
  char *cwd;
  int transport;
  int startup_timeout_ms;
  int request_timeout_ms;
  int stop_grace_ms;
};

ward_spec *ward__spec_dup(const ward_spec *s);
/* argv for exec: the executable then the args (free with ward__strv_free). */
int ward__spec_argv(const ward_spec *s, char ***out);
/* The host's environment with the spec's changes and `extra` entries. */
int ward__spec_envp(const ward_spec *s, char *const *extra, char ***out);
void ward__strv_free(char **v);

/* What an epoll registration of the host points at. */
enum { WATCH_WAKE = 1, WATCH_PIDFD, WATCH_CONN, WATCH_LISTEN };

typedef enum {
  W_QUEUED = 0, /* waiting for the I/O thread to start it */
  W_STARTING,   /* process started, no handshake yet */
  W_READY,
  W_STOPPING,
  W_EXITED,     /* the process ended by itself or was killed; not restarted */
  W_STOPPED,    /* stopped on request */
  W_FAILED      /* could not start */
} ward__wstate;

/* A metadata entry from the handshake. */
typedef struct ward__meta {
  char *key;
  char *value;
} ward__meta;

struct ward_worker {
  ward_host *host;
  ward_worker *prev, *next; /* the host's list, in start order */
  uint64_t id;
  ward_spec *spec;          /* private copy */
  ward__wstate state;
  uint32_t generation;
  ward__proc proc;
  ward__watch pid_watch;
  ward__watch listen_watch;
  ward__conn *conn;         /* the current connection (a ref), or NULL */
  int listen_fd;
  char *sock_dir, *sock_path;
  char token[65];
  int64_t startup_deadline;
  int spawn_err;            /* why the start failed */
  char spawn_text[256];
  int spawn_errno;
  int reason;               /* the cause ward set for the coming exit */
  int bye;                  /* the worker said goodbye */
  int last_code, last_signal, last_reason;
  char **methods;
  size_t nmethods;
  ward__meta *meta;
  size_t nmeta;
};

/* A worker-to-host request or notification waiting for the I/O thread. */
typedef struct ward__task {
  struct ward__task *next;
  ward_worker *w;
  ward__conn *conn; /* a ref */
  ward__item *it;
} ward__task;

/* An event waiting to be delivered on the I/O thread. */
typedef struct ward__evq {
  struct ward__evq *next;
  ward_event ev;
  char detail[200];
} ward__evq;

struct ward_host {
  pthread_mutex_t mu;
  pthread_cond_t cond; /* any worker's state changed, or the loop went round */
  pthread_t thread;
  int loop_fd;
  int wake_fd;
  ward__watch wake_watch;
  ward_host_opts opts;
  ward__handlers handlers;
  ward_worker *first, *last;
  uint64_t next_id;
  ward__task *tasks, *tasks_tail;
  ward__evq *events, *events_tail;
  ward__conn **dead;    /* conns to unref after the current batch */
  size_t ndead, capdead;
  pthread_mutex_t lazy_mu; /* a leaf lock: guards `lazy` only */
  ward__conn **lazy;    /* conns whose reading the loop must turn back on */
  size_t nlazy, caplazy;
  uint64_t epoch;       /* loop iterations, for ward__host_sync */
  int quit;
};

#endif
