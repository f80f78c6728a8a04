/*
 * host_int.h — the host's internal types: spec, worker, host.
 */
#ifndef WARD_HOST_INT_H
#define WARD_HOST_INT_H

#include "lifecycle.h"
#include "logring.h"
#include "platform.h"
#include "spec.h"
#include "ward_int.h"

/* Work for the host's loop to run at the start of its next turn, without
 * the host's lock (intrusive: the object embeds it; a job is queued at
 * most once). The loop knows nothing else of it. */
typedef struct ward__job {
  struct ward__job *prev, *next;
  int queued;
  void (*run)(struct ward__job *job);
  void *obj;
} ward__job;

/* A timer of the host's loop: `fire` runs on the loop, without the host's
 * lock, once `due` (monotonic ms) has come. The loop knows nothing else
 * of what it times. */
typedef struct ward__timer {
  int64_t due;       /* INT64_MAX: not armed */
  size_t idx;        /* position in the host's heap, or SIZE_MAX */
  void (*fire)(struct ward__timer *t, int64_t now);
  void *obj;
} ward__timer;

/* A metadata entry from the handshake. */
typedef struct ward__meta {
  char *key;
  char *value;
} ward__meta;

struct ward_worker {
  ward_host *host;
  ward_worker *prev, *next; /* the host's list, in start order */
  ward__job start_job;      /* a start, queued for the loop (ward__worker_queue) */
  uint64_t id;
  ward_spec *spec;          /* private copy */
  ward__life life;          /* state and everything that decides it (lifecycle.c) */
  ward__proc proc;
  ward__watch pid_watch;
  ward__watch listen_watch;
  ward__conn *conn;         /* the current connection (a ref), or NULL */
  ward__fd listen_fd;
  char *sock_dir, *sock_path;
  char token[65];
  int spawn_err;            /* why the first start failed */
  char spawn_text[768];      /* with the last words on stderr of a process that
                                ended before it was ready */
  int spawn_errno;
  ward__timer timer;        /* when the loop must look at this worker next */
  int64_t reap_at;          /* no exit to watch: when to look for it */
  ward_group *group;        /* the supervision group it belongs to, or NULL */
  int free_pending;         /* freed from a callback: in the host's to_free */
  int unlinked;             /* being freed: its timer stays out of the heap */
  ward_worker *free_next;
  uint64_t free_epoch;      /* 1 + the loop turn it was first seen stopped at */
  int64_t conn_due;         /* the earliest deadline among async calls and
                               cancelled calls on `conn` */
  void **retired;           /* handshake data replaced by a restart, kept
                               for pointers handed out (ward_worker_meta) */
  size_t nretired;
  ward__logring logs;       /* captured output, across restarts */
  int log_pid;              /* the process the lines being read come from */
  char *fwd;                /* forwarded lines waiting to be written */
  size_t fwd_len, fwd_cap;
  ward__fd out_fd, err_fd;  /* read ends of the output pipes, or NONE */
  ward__fd notify_fd;       /* READY_NOTIFY: the read end, or NONE */
  ward__watch notify_watch;
  ward__watch out_watch, err_watch;
  char *data_dir;
  uint64_t sandbox;         /* the restrictions in force for `proc` (ward_info) */
  int landlock_abi;
  int pause_err;            /* a freeze or thaw asked for failed: its errno, or -1 */
  char **methods;
  size_t nmethods;
  ward__meta *meta;
  size_t nmeta;
  /* Spares and replacement (spare.c). A hidden handle (a spare, or a
   * replacement being readied, later the old process draining) is a
   * worker of its own, in no list of the host's, with the same id and
   * data directory as the worker it is for, and no events. */
  ward_worker *spare_of;    /* hidden: the worker it is for; NULL otherwise */
  ward_worker **spares;     /* a worker's spares (spec->spares of them) */
  size_t nspares;
  int replacing;            /* ward_worker_replace is under way */
  uint32_t old_calls;       /* calls still in flight on the process it
                               replaced */
  ward_worker *swap_with;   /* the hidden handle swap_job swaps with */
  ward_spec *next_spec;     /* the spec it takes then (the caller's, copied) */
  ward_spec **old_specs;    /* specs replaced, kept until it is freed: a
                               caller may still read one it took before */
  size_t nold_specs;
  int spec_borrowed;        /* hidden: `spec` is one of its worker's old_specs */
  int swap_done;            /* swap_job ran: 1 swapped, -1 could not */
  uint32_t old_generation;  /* swap_job: the replaced process's generation */
  ward__job swap_job;       /* the swap of a replacement, on the loop */
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
  void (*closed)(ward__conn *c); /* what the loop calls for it */
} ward__closed;

/* An event waiting to be delivered on the I/O thread. */
typedef struct ward__evq {
  struct ward__evq *next;
  ward_event ev;
  char detail[200];
  char group[WARD_MAX_NAME + 1]; /* the worker's group, if any */
  char *text; /* a longer detail (a log line), owned */
} ward__evq;

struct ward_host {
  pthread_mutex_t mu;
  pthread_cond_t cond; /* any worker's state changed, or the loop went round */
  pthread_t thread;
  ward__loop *loop;
  ward_host_opts opts;
  ward__handlers handlers;
  ward_worker *first, *last;
  ward__job *jobs, *jobs_last; /* for the loop's next turn, oldest first */
  uint64_t next_id;
  ward__task *tasks, *tasks_tail;
  ward__evq *events, *events_tail;
  size_t log_event_bytes; /* what the LOG events waiting in `events` hold */
  ward__guard guard;
  ward__spawner *spawner;
  ward__trees *trees;      /* where its workers' process trees go */
  ward__timer **heap;   /* armed timers by `due`, the soonest first */
  size_t nheap, capheap;
  ward__conn **dead;    /* conns to unref after the current batch */
  size_t ndead, capdead;
  pthread_mutex_t lazy_mu; /* a leaf lock: guards `lazy`, `closed` and the
                              task queue only */
  ward__closed *closed; /* conns that closed, for the loop */
  ward__conn **lazy;    /* conns whose reading the loop must turn back on */
  size_t nlazy, caplazy;
  uint64_t epoch;       /* loop iterations, for ward__host_sync */
  ward_worker *to_free; /* freed from callbacks, released by the loop once
                           stopped and two turns past (ward__host_sync) */
  int freeing;          /* some of them have stopped: the loop goes round */
  ward_group *groups;   /* supervision groups not freed yet */
  int quit;
  int settling;         /* some connections wait to be read again (settle) */
  /* External loop: no thread; whoever holds the loop (dispatch, or a
   * blocking call waiting for it) runs it. The loop's timer makes its
   * descriptor readable when a timer is due. */
  int external;
  int loop_busy;
  ward__watch timer_watch;
};

/* How long a connection stays quiet before the loop reads it again. */
#define WARD__SETTLE_MS 1

/* host.c, for the loop (loop.c): */
/* Whether tasks or closed connections wait for the loop. */
int ward__host_has_pending(ward_host *h);
/* The end of a turn (tasks, settling, releases, events, handles freed from
 * callbacks), and the last turn of a host that is going. */
void ward__host_end_turn(ward_host *h, int64_t now);
void ward__host_last_turn(ward_host *h);
/* loop.c, for the host: its I/O thread, and its last turn. */
void *ward__loop_main(void *arg);
void ward__loop_drain(ward_host *h);

#endif
