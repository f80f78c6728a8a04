/*
 * lifecycle.h — a worker's life across its processes, as one state machine.
 *
 * Owns: the worker's state and everything that decides it (the timers of
 * each state, the restart policy's bookkeeping, the counts of calls and
 * requests, the reason recorded for the coming exit). Events come in with
 * the time they happen at; the machine answers with its new state and the
 * actions the host must carry out (start a process, signal it, say goodbye,
 * close the connection, emit events...). It reads no clock, makes no system
 * call and takes no lock: the host calls it with its own lock held
 * (worker.c carries the actions out), and tests/test_lifecycle.c drives it
 * alone, on a fake clock, to the millisecond.
 *
 * May not touch: processes, descriptors, connections, the host, the clock.
 * Reads the worker's spec (timeouts, policy, limits) and nothing else.
 *
 * The table of states × events is in lifecycle.c, in one screen.
 */
#ifndef WARD_LIFECYCLE_H
#define WARD_LIFECYCLE_H

#include <stdint.h>

#include "policy.h"

struct ward_spec;

typedef enum {
  WARD__L_QUEUED = 0, /* a process is to be started (by the host's loop) */
  WARD__L_STARTING,   /* process started, not ready yet */
  WARD__L_READY,      /* calls flow */
  WARD__L_DRAINING,   /* a planned replacement waits for the calls in flight */
  WARD__L_REPLACING,  /* the process is being ended; a new one follows */
  WARD__L_BACKOFF,    /* no process; the next start is due at `due_start` */
  WARD__L_PARKED,     /* no process since it was idle; the next call starts one */
  WARD__L_STOPPING,   /* stopped on request: waiting for the process to go */
  WARD__L_EXITED,     /* the process ended; the restart mode says no restart */
  WARD__L_STOPPED,    /* stopped on request */
  WARD__L_FAILED,     /* gave up, or the first start failed */
  WARD__L_HELD,       /* a group member without a process: its group starts it */
  WARD__L_NSTATES
} ward__lstate;

typedef enum {
  WARD__LE_START = 0,     /* a first start, or a start from rest (restart) */
  WARD__LE_RESTART,       /* ward_worker_restart: forget failures, then start or cycle */
  WARD__LE_CYCLE,         /* ward_worker_cycle: a planned replacement */
  WARD__LE_STOP,          /* ward_worker_stop (grace_ms) */
  WARD__LE_WANT,          /* a call wants a process */
  WARD__LE_SPAWNED,       /* the host started a process */
  WARD__LE_SPAWN_FAILED,  /* the host could not start one */
  WARD__LE_READY,         /* handshake done, or readiness notified */
  WARD__LE_REFUSED,       /* the handshake was refused: it is killed */
  WARD__LE_VIOLATION,     /* it broke the protocol (error, detail) */
  WARD__LE_CLOSED,        /* its connection closed */
  WARD__LE_EXIT,          /* the process ended and was reaped (code, signal) */
  WARD__LE_TICK,          /* the time the machine asked for came */
  WARD__LE_CALL_BEGIN,    /* a call took the connection */
  WARD__LE_CALL_END,      /* a call let go of it (answered, current) */
  WARD__LE_KILL,          /* kill it for `reason` (a deadline, a cancel grace) */
  WARD__LE_HEARTBEAT,     /* a heartbeat tick's outcome (missed) */
  WARD__LE_MEMORY,        /* a memory sample (rss) */
  WARD__LE_SETTLED,       /* whoever waited for the first start is done */
  WARD__LE_GROUP_TERM,    /* its group restarts it: end the process, then hold */
  WARD__LE_GROUP_START,   /* its group starts it again now */
  WARD__LE_GROUP_FAIL,    /* its group gave up: end the process, then fail */
  WARD__LE_PAUSE,         /* ward_worker_pause: freeze the process's tree */
  WARD__LE_RESUME,        /* ward_worker_resume: let it run again */
  WARD__LE_SPARES,        /* the count of its ready spares changed (spares) */
  WARD__LE_ADOPTED,       /* the host handed it a ready process: a spare that
                             takes over, or a replacement (ward_worker_replace) */
  WARD__LE_GIVEN,         /* a spare's ready process went to its worker: it has
                             none now, and starts another */
  WARD__LE_NEVENTS
} ward__levent;

/* One event, with what it carries. */
typedef struct ward__lev {
  int type;           /* ward__levent */
  int64_t now;        /* when it happened (monotonic ms) */
  int reason;         /* KILL: ward_reason */
  int error;          /* VIOLATION: WARD_EPROTO or WARD_ETOOBIG; SPAWN_FAILED,
                         REFUSED: why (0: the handshake) */
  int sys_errno;      /* SPAWN_FAILED, REFUSED: the errno, if any */
  const char *text;   /* VIOLATION, SPAWN_FAILED, REFUSED: a sentence saying why */
  int pid;            /* EXIT: the process that ended */
  int code, signal;   /* EXIT */
  int grace_ms;       /* STOP */
  int answered;       /* CALL_END: the call got an answer */
  int current;        /* CALL_END: on the connection of the current process */
  int missed;         /* HEARTBEAT: the last ping went unanswered */
  uint64_t rss;       /* MEMORY: resident bytes */
  int kernel_memory;  /* SPAWNED: the process's cgroup enforces the tree's
                         memory limits (no fallback to sampling) */
  int oom;            /* EXIT: its cgroup counted an OOM kill */
  int spares;         /* SPARES: how many spares are ready now */
  uint32_t generation; /* SPAWNED: the generation the process takes (a
                          spare's: its worker's next), 0: the next of its own */
} ward__lev;

/* What the host must do after a step, in this order: emit the events, then
 * the actions below. */
enum {
  WARD__LA_SPAWN = 1 << 0,     /* a new process: queued for the loop, which
                                  adopts a ready spare (then ADOPTED) or
                                  starts one (then SPAWNED) */
  WARD__LA_DISCARD = 1 << 1,   /* SPAWNED came too late: kill and reap that process */
  WARD__LA_KILL = 1 << 2,      /* signal the process group (`signal`) */
  WARD__LA_GOODBYE = 1 << 3,   /* send GOODBYE with `goodbye` as its text */
  WARD__LA_CLOSE = 1 << 4,     /* close the connection: calls in flight end ECLOSED */
  WARD__LA_HEARTBEAT = 1 << 5, /* ping; report the outcome (LE_HEARTBEAT) */
  WARD__LA_SAMPLE = 1 << 6,    /* sample memory; report it (LE_MEMORY) */
  WARD__LA_FIRST_FAILED = 1 << 7, /* the first start failed: keep this event's error for ward_spawn */
  WARD__LA_GROUP = 1 << 8,         /* a group member failed: its group decides what follows */
  WARD__LA_PAUSE = 1 << 9,  /* freeze the process's tree */
  WARD__LA_RESUME = 1 << 10 /* thaw it (before any other action of the step) */
};

/* An event for the program (ward_event), as far as the machine knows it. */
typedef struct ward__lemit {
  int type;          /* ward_event_type */
  int reason;
  int error;         /* ERROR */
  int code, signal;  /* EXITED */
  int attempt;       /* RESTARTING, UNHEALTHY */
  int delay_ms;      /* RESTARTING */
  int outcome;       /* STOPPED */
} ward__lemit;

typedef struct ward__lout {
  unsigned act;        /* WARD__LA_* */
  int signal;          /* KILL */
  const char *goodbye; /* GOODBYE: "stop" or "recycle" */
  int status;          /* for the asker: 0, or why the request was refused (WARD_E*) */
  int nemit;
  ward__lemit emit[4];
} ward__lout;

/* The machine. Fields are read by the host (information, waiting), and
 * written by the functions below alone. */
typedef struct ward__life {
  ward__lstate state;
  int spawning;            /* a first start is under way (ward_spawn waits) */
  uint32_t generation;     /* processes started */
  uint32_t readies;        /* times it became ready, all generations */
  int64_t ready_at;        /* when the current process became ready, 0 if not */
  int reason;              /* the cause ward set for the coming exit */
  int killed;              /* ward signalled the current process */
  int stop_outcome;        /* STOPPING: how far the stop had to go */
  int stop_grace_ms;       /* STOPPING: each step's grace */
  int stop_step;           /* STOPPING: 0 asked, 1 stop signal sent, 2 SIGKILL sent,
                              3 still there 30 s after SIGKILL */
  int last_stop;           /* ward_stop_outcome of the last stop */
  int last_code, last_signal, last_reason;
  uint32_t inflight;       /* calls holding the connection */
  uint64_t served;         /* requests answered, all generations */
  uint64_t gen_served;     /* requests answered by this generation */
  int64_t last_activity;   /* when the last call ended (idle) */
  int hb_misses;
  int64_t startup_deadline;  /* STARTING: timeout, or when a plain process is ready */
  int64_t due_start;       /* BACKOFF: when the next process starts */
  int64_t kill_at;         /* REPLACING, STOPPING: the next signal */
  int64_t next_hb;         /* READY, DRAINING: the next heartbeat */
  int64_t next_sample;     /* READY, DRAINING: the next memory sample */
  int grouped;             /* a member of a group: failures are the group's to handle */
  int group_end;           /* the group ends this process: 1 to hold it, 2 to fail it */
  int paused;              /* READY, DRAINING: its tree is frozen; heartbeats wait */
  int kernel_memory;       /* the current process's cgroup enforces the spec's
                              tree memory limits (else they are sampled) */
  uint32_t spares_ready;   /* ready spares the host holds (SPARES): a new
                              process needs no start, so no backoff either */
  ward__supstate sup;      /* the restart policy's bookkeeping */
} ward__life;

/* A machine for a new handle: stopped, as it is before its first start. */
void ward__life_init(ward__life *m);

/* Whether the worker belongs to a supervision group (group.c): like the
 * spec, configuration of the machine, set when it joins or leaves one. A
 * worker that leaves while held waits no more: it is failed. */
void ward__life_grouped(ward__life *m, int grouped);

/* Applies one event: updates the machine and says what to do in `out`
 * (cleared first). Events that mean nothing in the current state change
 * nothing. */
void ward__life_step(ward__life *m, const struct ward_spec *s, const ward__lev *ev,
                     ward__lout *out);

/* When the machine next needs a TICK (INT64_MAX: never). */
int64_t ward__life_due(const ward__life *m, const struct ward_spec *s);

/* The public state (ward_state) of the machine. */
int ward__life_public(const ward__life *m);

/* Whether the state has a process (started, and not yet reaped). */
int ward__life_has_process(const ward__life *m);

/* Checks the machine's invariants: NULL if they hold, else which one
 * failed (the host asserts this in checked builds; the tests after every
 * step). */
const char *ward__life_check(const ward__life *m);

/* The names of states and events, for messages and tests. */
const char *ward__life_state_name(int state);
const char *ward__life_event_name(int type);

#endif
