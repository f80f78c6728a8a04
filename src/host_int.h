/*
 * host_int.h — the host's internal types: spec, worker, host.
 */
#ifndef WARD_HOST_INT_H
#define WARD_HOST_INT_H

#include "logring.h"
#include "platform.h"
#include "policy.h"
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
  int stop_signal;
  int ready_mode;          /* WARD_READY_* */
  int ready_arg;           /* AFTER: ms; NOTIFY: the descriptor */
  int supervise_start;     /* a failed first start follows the policy */
  ward__policy policy;
  int heartbeat_ms;        /* 0: off */
  int heartbeat_misses;
  int kill_on_timeout;
  uint64_t max_requests;   /* 0: off */
  uint64_t mem_soft, mem_hard;
  int mem_sample_ms;
  int idle_ms;             /* 0: off */
  int wait_restart;
  int cancel_grace_ms;
  int validate_json;
  uint32_t max_frame;      /* the worker's limit, passed as WARD_MAX_FRAME */
  int output;              /* WARD_OUTPUT_* */
  size_t log_ring;
  int log_events;
  char *data_root;         /* where data directories go, or NULL: default */
  int no_data_dir;
  int keep_data;
  char **req_methods;      /* methods the worker must announce */
  size_t nreq_methods;
  char *ver_min, *ver_below; /* bounds on its "version" metadata, or NULL */
};

ward_spec *ward__spec_dup(const ward_spec *s);
/* argv for exec: the executable then the args (free with ward__strv_free). */
int ward__spec_argv(const ward_spec *s, char ***out);
/* The host's environment with the spec's changes and `extra` entries. */
int ward__spec_envp(const ward_spec *s, char *const *extra, char ***out);
void ward__strv_free(char **v);

/* What an epoll registration of the host points at. */
enum { WATCH_WAKE = 1, WATCH_PIDFD, WATCH_CONN, WATCH_LISTEN, WATCH_LOG, WATCH_TIMER, WATCH_NOTIFY };

typedef enum {
  W_QUEUED = 0, /* waiting for the I/O thread to start a process */
  W_STARTING,   /* process started, no handshake yet */
  W_READY,
  W_DRAINING,   /* a planned replacement waits for the calls in flight */
  W_REPLACING,  /* the process is being ended, a new one follows */
  W_BACKOFF,    /* no process; the next start is due at `due_start` */
  W_PARKED,     /* no process since it was idle; the next call starts one */
  W_STOPPING,
  W_EXITED,     /* the process ended; the restart mode says no restart */
  W_STOPPED,    /* stopped on request */
  W_FAILED      /* gave up, or the first start failed */
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
  int last_code, last_signal, last_reason;
  int spawning;             /* ward_spawn waits for the first start */
  size_t heap_idx;          /* position in the host's timer heap, or SIZE_MAX */
  int64_t due;              /* when the loop must look at this worker next */
  int64_t due_start;        /* BACKOFF: when to start the next process */
  int64_t ready_at;         /* monotonic ms it became ready, 0 if not */
  uint32_t readies;         /* times it became ready, all generations */
  int64_t kill_at;          /* REPLACING: SIGKILL if still there */
  int64_t next_hb;          /* READY: the next heartbeat tick */
  int hb_misses;
  int64_t next_sample;      /* READY: the next memory sample */
  int64_t last_activity;    /* when the last call ended (for idle) */
  int64_t conn_due;         /* the earliest deadline among async calls and
                               cancelled calls on `conn` */
  ward__supstate sup;
  uint32_t inflight;        /* calls holding the connection */
  uint64_t served;          /* requests answered, all generations */
  uint64_t gen_served;      /* requests answered by this generation */
  int stop_outcome;         /* STOPPING: how far the stop had to go */
  int killed;               /* ward signalled the current process */
  void **retired;           /* handshake data replaced by a restart, kept
                               for pointers handed out (ward_worker_meta) */
  size_t nretired;
  int last_stop;
  ward__logring logs;       /* captured output, across restarts */
  int log_pid;              /* the process the lines being read come from */
  char *fwd;                /* forwarded lines waiting to be written */
  size_t fwd_len, fwd_cap;
  int out_fd, err_fd;       /* read ends of the output pipes, or -1 */
  int notify_fd;            /* READY_NOTIFY: the read end, or -1 */
  ward__watch notify_watch;
  ward__watch out_watch, err_watch;
  char *data_dir;
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
  ward__item *it;   /* a request or notification, or NULL */
  ward__call *call; /* an asynchronous call with news, or NULL */
} ward__task;

/* A connection that closed, waiting for the loop. */
typedef struct ward__closed {
  struct ward__closed *next;
  ward__conn *conn;
} ward__closed;

/* An event waiting to be delivered on the I/O thread. */
typedef struct ward__evq {
  struct ward__evq *next;
  ward_event ev;
  char detail[200];
  char *text; /* a longer detail (a log line), owned */
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
  ward__guard guard;
  ward_worker **heap;   /* workers by `due`, the soonest first */
  size_t nheap, capheap;
  ward__conn **dead;    /* conns to unref after the current batch */
  size_t ndead, capdead;
  pthread_mutex_t lazy_mu; /* a leaf lock: guards `lazy`, `closed` and the
                              task queue only */
  ward__closed *closed; /* conns that closed, for the loop */
  ward__conn **lazy;    /* conns whose reading the loop must turn back on */
  size_t nlazy, caplazy;
  uint64_t epoch;       /* loop iterations, for ward__host_sync */
  int quit;
  int settling;         /* some connections wait to be read again (settle) */
  /* External loop: no thread; whoever holds the loop (dispatch, or a
   * blocking call waiting for it) runs it. A timerfd makes the loop's
   * descriptor readable when a timer is due. */
  int external;
  int loop_busy;
  int timer_fd;
  ward__watch timer_watch;
};

#endif
