/*
 * ward.h — run work in supervised child processes and talk to them over
 * typed, framed IPC.
 *
 * This is the one public header of libward. Everything a host program or a
 * worker program needs is declared here.
 *
 * Conventions
 * -----------
 * - Every fallible function returns an int: WARD_OK (0) on success or one of
 *   the negative WARD_E* codes below. Out-parameters come first.
 * - Objects are opaque and come in new/free pairs. A struct you allocate
 *   and hand to ward starts with its size, set by its _INIT macro: see
 *   "Structs and the ABI" below.
 * - Timeouts are milliseconds. A negative timeout means "the spec's default";
 *   0 means "do not wait".
 * - Strings passed in are copied; the caller keeps ownership of its buffers.
 *
 * Threads
 * -------
 * Every function is safe to call from any thread unless its comment says
 * otherwise. A host runs one internal I/O thread of its own (unless it was
 * created with an external loop, see ward_host_fd): it spawns and
 * reaps workers, reads their connections while no caller is waiting on them,
 * and runs event callbacks and host-side handlers. Callbacks and host
 * handlers must therefore be short and must not call the functions that
 * wait for that thread: ward_host_free, ward_spawn, ward_worker_stop,
 * ward_worker_free, ward_worker_cycle, ward_worker_restart, nor make
 * blocking calls (ward_request, ward_ping, ward_call_wait): those return
 * WARD_EINVAL there. Use ward_call_start, or a thread of your own.
 * Progress, row and diagnostic callbacks of a blocking call run on the
 * thread that made the call, inside that call.
 *
 * Processes
 * ---------
 * ward never installs a signal handler. Worker exits are observed through
 * pidfds (where the kernel has none, or under valgrind, by looking every
 * 5 ms), so a program's own SIGCHLD handling is not disturbed, as long as
 * it does not reap children it did not start (waitpid(-1, ...) would steal
 * the exit status of a worker; the worker is then reported as exited with
 * an unknown status). Every descriptor ward opens is close-on-exec, and a
 * worker inherits no descriptor of the host except its own channel.
 * It is not safe to fork() a process that has a live ward_host and keep
 * using ward in the child.
 *
 * Structs and the ABI
 * -------------------
 * A struct you allocate and pass to ward, whether options ward reads
 * (ward_host_opts, ward_call_opts, ward_log_query, ward_pool_opts) or
 * figures ward fills (ward_info, ward_pool_stats, ward_summary), starts
 * with `uint32_t struct_size`: its size as your program was compiled. Its
 * _INIT macro sets it (with the defaults of the other fields):
 *
 *     ward_host_opts o = WARD_HOST_OPTS_INIT;
 *     ward_info info = WARD_INFO_INIT;
 *
 * and so does its init function, for code that cannot use the macro (a
 * binding from another language describes the struct as it knows it):
 *
 *     ward_host_opts_init(&o, sizeof o);
 *
 * ward reads and writes only the first struct_size bytes of such a
 * struct: an option past them takes its default, a figure past them is
 * not written. So a program built against an older ward.h, whose structs
 * are smaller, runs unchanged with a newer library, and a binding may
 * declare just the leading fields it uses. Fields are only ever added at
 * the end of a struct, each after the whole of its previous version. A
 * struct_size too small to hold the struct's first field (0, say: a
 * struct not started from its _INIT macro) fails with WARD_EINVAL and a
 * ward_last_error() naming the struct.
 *
 * Structs that ward allocates and you only read (ward_event and
 * ward_server_drop, passed to callbacks; ward_doctor_report) carry no
 * size: they too only grow at their end, and you read the fields you
 * know. Structs that travel in arrays (ward_row, ward_log_line,
 * ward_stream_count, ward_check) are indexed with the caller's sizeof, so
 * they never change; a later version needing more adds a new type.
 * A program needs the library it was built against or a newer one of the
 * same major version: ward_version() says which is loaded.
 */
#ifndef WARD_H
#define WARD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  if defined(WARD_BUILDING)
#    define WARD_EXTERN __declspec(dllexport)
#  elif defined(WARD_SHARED)
#    define WARD_EXTERN __declspec(dllimport)
#  else
#    define WARD_EXTERN
#  endif
#elif defined(__GNUC__)
#  define WARD_EXTERN __attribute__((visibility("default")))
#else
#  define WARD_EXTERN
#endif

/* ---------------------------------------------------------------------
 * Version
 *
 * The ABI rule: within one major version, symbols are only added, never
 * removed or changed, and structs only grow at their end, as "Structs and
 * the ABI" (at the top of this header) says. The wire protocol has its own
 * version, WARD_PROTOCOL_VERSION, described in docs/protocol.md.
 * ------------------------------------------------------------------- */
#define WARD_VERSION_MAJOR 0
#define WARD_VERSION_MINOR 1
#define WARD_VERSION_PATCH 0
#define WARD_VERSION_HEX \
  ((WARD_VERSION_MAJOR << 16) | (WARD_VERSION_MINOR << 8) | WARD_VERSION_PATCH)
#define WARD_PROTOCOL_VERSION 1

/* The version of the library actually loaded, as WARD_VERSION_HEX / "0.1.0". */
WARD_EXTERN unsigned ward_version(void);
WARD_EXTERN const char *ward_version_string(void);

/* ---------------------------------------------------------------------
 * Errors
 *
 * One list, used for the enum, ward_strerror() and ward_err_name(), so code
 * and text never drift. The numbers are part of the wire protocol too: a
 * remote error code in the range -1..-99 is one of these.
 * ------------------------------------------------------------------- */
#define WARD_ERRNO_MAP(X)                                                       \
  X(EINVAL,     -1,  "invalid argument")                                        \
  X(ENOMEM,     -2,  "out of memory")                                           \
  X(ESYS,       -3,  "system call failed")                                      \
  X(ESPAWN,     -4,  "worker could not be started")                             \
  X(EHANDSHAKE, -5,  "worker did not complete the handshake")                   \
  X(ETIMEDOUT,  -6,  "deadline passed")                                         \
  X(ECANCELED,  -7,  "call cancelled")                                          \
  X(ECRASHED,   -8,  "worker died while the call was in flight")                \
  X(EPROTO,     -9,  "peer broke the protocol")                                 \
  X(ETOOBIG,    -10, "message over the size limit")                             \
  X(ENOMETHOD,  -11, "no such method")                                          \
  X(EREMOTE,    -12, "the handler failed")                                      \
  X(ECLOSED,    -13, "worker stopped or connection closed")                     \
  X(EGAVEUP,    -14, "restart limit reached, worker failed")                    \
  X(ESTALE,     -15, "session belongs to an earlier generation")

enum {
  WARD_OK = 0,
#define WARD__ERRENUM(name, num, text) WARD_##name = (num),
  WARD_ERRNO_MAP(WARD__ERRENUM)
#undef WARD__ERRENUM
  WARD__ERR_LAST = -16
};

/* A static, human-readable text for an error code (never NULL). */
WARD_EXTERN const char *ward_strerror(int err);
/* The code's name without prefix, e.g. "ETIMEDOUT" (never NULL). */
WARD_EXTERN const char *ward_err_name(int err);
/* The errno kept by the last WARD_ESYS or WARD_ESPAWN returned on this
 * thread (0 if none). */
WARD_EXTERN int ward_last_errno(void);
/* A thread-local sentence describing the last error a ward function
 * returned on this thread, with names and OS detail when known ("spawn 'x':
 * No such file or directory"). Read it right after the failing call: it is
 * valid until the next fallible ward call on the same thread
 * (ward_strerror, ward_err_name, the *_name functions and ward_last_errno
 * leave it alone), and a success does not clear it. Never NULL. */
WARD_EXTERN const char *ward_last_error(void);

/* ---------------------------------------------------------------------
 * Payload encodings. A payload is bytes tagged with how they are encoded;
 * ward's core never parses them.
 * ------------------------------------------------------------------- */
enum {
  WARD_ENC_RAW = 0,     /* opaque bytes */
  WARD_ENC_JSON = 1,    /* UTF-8 JSON text (the default) */
  WARD_ENC_MSGPACK = 2  /* MessagePack */
};

/* Protocol limits (see docs/protocol.md). */
#define WARD_MAX_FRAME_DEFAULT (64u * 1024u * 1024u) /* payload bytes */
#define WARD_MAX_NAME 255                            /* method / stream names */

/* ---------------------------------------------------------------------
 * Defaults: what a new spec (ward_spec_new) and a pool start with, one
 * constant each, beside the function or field it is the default of; the
 * comments below name them. Every other setting of a new spec is 0: off,
 * none, or the enum value marked "(default)". The defaults of a host, a
 * call and a server are WARD_MAX_FRAME_DEFAULT (above),
 * WARD_WINDOW_DEFAULT and WARD_SERVER_*_DEFAULT, beside their options.
 * These are the values the library uses; docs/api.md quotes them, and the
 * tests check that it does.
 * ------------------------------------------------------------------- */
#define WARD_STARTUP_TIMEOUT_MS_DEFAULT 10000     /* ward_spec_startup_timeout */
#define WARD_REQUEST_TIMEOUT_MS_DEFAULT 30000     /* ward_spec_request_timeout; also a
                                                     worker's ward_client_request */
#define WARD_STOP_GRACE_MS_DEFAULT 2000           /* ward_spec_stop_grace */
#define WARD_STOP_SIGNAL_DEFAULT SIGTERM          /* ward_spec_stop_signal (<signal.h>) */
#define WARD_RESTART_DEFAULT WARD_RESTART_ON_FAILURE /* ward_spec_restart */
#define WARD_INTENSITY_DEFAULT 5                  /* ward_spec_intensity: restarts ... */
#define WARD_INTENSITY_PERIOD_MS_DEFAULT 10000    /* ... within this period */
#define WARD_BACKOFF_INITIAL_MS_DEFAULT 100       /* ward_spec_backoff: the first delay, */
#define WARD_BACKOFF_MAX_MS_DEFAULT 10000         /* its cap, */
#define WARD_BACKOFF_MULTIPLIER_PCT_DEFAULT 200   /* its growth per failure, */
#define WARD_BACKOFF_RESET_MS_DEFAULT 10000       /* the uptime that resets it */
#define WARD_HEARTBEAT_MISSES_DEFAULT 3           /* ward_spec_heartbeat (interval: 0, off) */
#define WARD_KILL_ON_TIMEOUT_DEFAULT 1            /* ward_spec_kill_on_timeout: on */
#define WARD_MEMORY_SAMPLE_MS_DEFAULT 1000        /* ward_spec_memory_limit (sample_ms 0) */
#define WARD_CANCEL_GRACE_MS_DEFAULT 2000         /* ward_spec_cancel_grace */
#define WARD_WAIT_RESTART_DEFAULT 1               /* ward_spec_wait_restart: wait */
#define WARD_LOG_RING_DEFAULT (1024 * 1024)       /* ward_spec_log_ring, bytes (1 MiB) */
#define WARD_POOL_MIN_WORKERS_DEFAULT 1           /* ward_pool_opts.min_workers */
#define WARD_POOL_MAX_WORKERS_DEFAULT 4           /* ward_pool_opts.max_workers */
#define WARD_POOL_IDLE_MS_DEFAULT 30000           /* ward_pool_opts.idle_ms */

/* ---------------------------------------------------------------------
 * Opaque types
 * ------------------------------------------------------------------- */
typedef struct ward_host ward_host;
typedef struct ward_spec ward_spec;
typedef struct ward_worker ward_worker;
typedef struct ward_msg ward_msg;
typedef struct ward_client ward_client;
typedef struct ward_ctx ward_ctx;

/* ---------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------- */
typedef enum {
  WARD_EV_SPAWNED = 1, /* a process was started (pid set) */
  WARD_EV_READY,       /* its handshake is done; calls may flow */
  WARD_EV_EXITED,      /* the process ended and was reaped (exit_code, signal, reason) */
  WARD_EV_ERROR,       /* the connection was cut because the worker broke the protocol
                          (error, detail); an EXITED event follows */
  WARD_EV_RESTARTING,  /* a new process will be started (reason, attempt, delay_ms) */
  WARD_EV_RESTARTED,   /* the new process is ready (pid, generation) */
  WARD_EV_UNHEALTHY,   /* heartbeats went unanswered (attempt = misses); it is replaced */
  WARD_EV_GAVE_UP,     /* the restart limit was reached: the worker is failed (reason) */
  WARD_EV_STOPPED,     /* ward_worker_stop finished (outcome) */
  WARD_EV_LOG,         /* a captured line (detail = the text, stream, seq), if
                          ward_spec_log_events asked for them */
  WARD_EV_GROUP_GAVE_UP /* the worker's group reached its restart limit: every
                           member is failed (worker: the member whose failure
                           it was; group: the group's name; reason) */
} ward_event_type;

/* How a stop ended (ward_event.outcome, ward_info.last_stop). */
typedef enum {
  WARD_STOP_NONE = 0,
  WARD_STOP_GRACEFUL,       /* it exited after the goodbye, within the grace */
  WARD_STOP_TERMINATED,     /* it needed SIGTERM */
  WARD_STOP_KILLED,         /* it needed SIGKILL */
  WARD_STOP_ALREADY_EXITED  /* there was no process to stop */
} ward_stop_outcome;

/* Why a process ended, as far as the host knows. */
typedef enum {
  WARD_REASON_NONE = 0,
  WARD_REASON_EXITED,          /* it exited by itself (exit_code) */
  WARD_REASON_CRASHED,         /* it was killed by a signal it did not get from ward */
  WARD_REASON_REQUEST_TIMEOUT, /* a call's deadline passed and the worker was killed */
  WARD_REASON_STARTUP_TIMEOUT, /* no handshake within the startup timeout */
  WARD_REASON_UNHEALTHY,       /* heartbeats missed */
  WARD_REASON_MEMORY_LIMIT,
  WARD_REASON_MAX_REQUESTS,
  WARD_REASON_IDLE,
  WARD_REASON_CYCLE,           /* explicit recycle */
  WARD_REASON_PROTOCOL,        /* it broke the protocol and was killed */
  WARD_REASON_STOPPED,         /* stopped on request (ward_worker_stop / free) */
  WARD_REASON_CANCELLED,       /* it ignored a cancellation past its grace */
  WARD_REASON_GROUP            /* its supervision group restarted or gave up */
} ward_reason;

/* The name of a stop outcome, e.g. "terminated" (never NULL). */
WARD_EXTERN const char *ward_stop_outcome_name(int outcome);
/* The name of a reason, e.g. "crashed" (never NULL). */
WARD_EXTERN const char *ward_reason_name(int reason);
/* The name of an event type, e.g. "exited" (never NULL). */
WARD_EXTERN const char *ward_event_name(int type);

/* Allocated by ward and passed to the callback: it carries no size and
 * grows only at its end (see "Structs and the ABI"). */
typedef struct ward_event {
  int type;              /* ward_event_type */
  ward_worker *worker;   /* the worker's handle; valid during the callback */
  const char *name;      /* the spec's name */
  uint64_t worker_id;    /* unique within the host, never reused */
  int pid;               /* the process concerned */
  uint32_t generation;   /* 1 for the first start, +1 per restart */
  int exit_code;         /* EXITED: exit status, or -1 if killed by a signal */
  int signal;            /* EXITED: the terminating signal, or 0 */
  int reason;            /* EXITED: ward_reason */
  int error;             /* ERROR: WARD_EPROTO or WARD_ETOOBIG */
  const char *detail;    /* a sentence for humans, or NULL */
  int attempt;           /* RESTARTING: consecutive failures; UNHEALTHY: misses */
  int delay_ms;          /* RESTARTING: how long until the new process starts */
  int outcome;           /* STOPPED: ward_stop_outcome */
  int stream;            /* LOG: WARD_LOG_STDOUT or WARD_LOG_STDERR */
  uint64_t seq;          /* LOG: the line's sequence number */
  const char *group;     /* the worker's supervision group (ward_group), or NULL */
} ward_event;

/* Runs on the host's I/O thread, one event at a time, in the order they
 * happened for each worker. `ev` and its strings are valid only during the
 * call. Events are asynchronous to calls: when a worker dies mid-call, the
 * call may return WARD_ECRASHED before or after the EXITED event runs. */
typedef void (*ward_event_cb)(const ward_event *ev, void *ud);

/* ---------------------------------------------------------------------
 * Host
 * ------------------------------------------------------------------- */
typedef struct ward_host_opts {
  uint32_t struct_size;   /* sizeof(ward_host_opts) as compiled: the _INIT macro */
  ward_event_cb on_event; /* lifecycle events, or NULL */
  void *event_ud;         /* passed to on_event */
  uint32_t max_frame;     /* largest payload accepted from a worker;
                             0 = WARD_MAX_FRAME_DEFAULT */
  int external_loop;      /* 1: no I/O thread of ward's own; the program
                             runs it (ward_host_fd, ward_host_dispatch) */
} ward_host_opts;
#define WARD_HOST_OPTS_INIT {(uint32_t)sizeof(ward_host_opts), NULL, NULL, 0, 0}

/* Fills `opts`, a struct of `size` bytes as the caller declared it, with
 * the defaults (WARD_HOST_OPTS_INIT; bytes past the library's own struct
 * are zeroed) and sets its struct_size to `size`: for callers that cannot
 * use the macro. Writes nothing past `size`. Errors: WARD_EINVAL (NULL, or
 * `size` too small for the first field, or over UINT32_MAX). Every struct
 * that carries a size has the same function. */
WARD_EXTERN int ward_host_opts_init(ward_host_opts *opts, size_t size);

/* Creates a host, its I/O thread and its guard process (a small child that
 * kills every worker's process group should the host die without stopping
 * them, even by SIGKILL), and takes five descriptors low in the table
 * through which it hands new processes theirs (a start then costs nothing
 * for descriptors opened after the host). `opts` may be NULL; it is copied
 * (its first struct_size bytes). Errors: WARD_EINVAL (also a bad
 * opts->struct_size), WARD_ENOMEM, WARD_ESYS. */
WARD_EXTERN int ward_host_new(ward_host **out, const ward_host_opts *opts);

/* Event-loop integration (a host created with external_loop = 1).
 *
 * Programs that own an event loop (GTK, Qt, libuv, a game loop) run ward
 * without a thread of its own: they watch one descriptor and call
 * ward_host_dispatch when it is readable. Every callback (events, host
 * handlers, asynchronous calls and their rows) then runs on the thread
 * that drives the loop, inside ward_host_dispatch. Blocking calls still
 * work: one that must wait for the loop (ward_spawn, a call during a
 * restart, ward_worker_stop...) drives it itself while it waits, so its
 * callbacks may also run inside that call, on its thread.
 *
 * ward_host_fd returns a descriptor that becomes readable whenever the
 * host has work, timers included (WARD_EINVAL for a threaded host). */
WARD_EXTERN int ward_host_fd(const ward_host *host);
/* Does the host's pending work, waiting up to `timeout_ms` for some
 * (0: do not wait; negative: until there is some). Returns 0, or
 * WARD_EINVAL (a threaded host, or called from a ward callback). If
 * another thread is driving the loop at that moment, returns at once. */
WARD_EXTERN int ward_host_dispatch(ward_host *host, int timeout_ms);

/* Stops every worker still running (in reverse start order: goodbye, grace,
 * SIGTERM, SIGKILL), reaps them, releases every worker handle left and
 * frees the host. No call may be in flight on any of its workers. Must not
 * be called from a ward callback. */
WARD_EXTERN void ward_host_free(ward_host *host);

/* ---------------------------------------------------------------------
 * Handlers (both sides)
 *
 * A handler serves one incoming call or notification. It ends the call with
 * ward_ctx_reply() or ward_ctx_fail(); a handler that returns without doing
 * either has failed, and its non-zero return value is the remote error code
 * (a return of 0 without a reply fails the call with code -1,
 * "handler returned without replying"). For a notification there is no one
 * to reply to: reply and fail are accepted and discarded.
 * `data` is valid only until the handler returns.
 * ------------------------------------------------------------------- */
typedef int (*ward_handler)(ward_ctx *ctx, const void *data, size_t len, void *ud);

/* Registers `fn` for calls and notifications of `method` that workers make
 * to the host. Host handlers run on the host's I/O thread, one at a time,
 * in the order the messages arrived; they must not block for long (no
 * blocking ward_request from inside one). Registering a method again
 * replaces its handler. Errors: WARD_EINVAL, WARD_ENOMEM. */
WARD_EXTERN int ward_host_handle(ward_host *host, const char *method, ward_handler fn,
                                 void *ud);

/* ---------------------------------------------------------------------
 * Spec: how to start a worker. A spec is a plain value: ward_spawn copies
 * what it needs, so one spec may start many workers and be freed after.
 * A spec is not safe to modify from two threads at once.
 * ------------------------------------------------------------------- */
enum {
  WARD_TRANSPORT_INHERIT = 0, /* a socketpair end inherited as WARD_FD (default) */
  WARD_TRANSPORT_SOCKET = 1   /* a Unix socket in a private 0700 directory, named in
                                 WARD_SOCKET, with a one-time WARD_TOKEN and a
                                 peer-credential check: for workers started
                                 through wrappers that close inherited fds */
};

/* `name` identifies the worker in events and logs; `executable` is a path,
 * or a bare name looked up in PATH. Errors: WARD_EINVAL, WARD_ENOMEM. */
WARD_EXTERN int ward_spec_new(ward_spec **out, const char *name, const char *executable);
WARD_EXTERN void ward_spec_free(ward_spec *spec);
/* Appends one argument (argv[1], argv[2], ...). argv[0] is the executable. */
WARD_EXTERN int ward_spec_arg(ward_spec *spec, const char *arg);
/* Sets one environment variable for the worker, on top of the host's
 * environment. A NULL value removes the variable. Keys must not start with
 * "WARD_", which are ward's own (EINVAL). */
WARD_EXTERN int ward_spec_env(ward_spec *spec, const char *key, const char *value);
/* Working directory of the worker (default: the host's). */
WARD_EXTERN int ward_spec_cwd(ward_spec *spec, const char *dir);
/* WARD_TRANSPORT_INHERIT or WARD_TRANSPORT_SOCKET. */
WARD_EXTERN int ward_spec_transport(ward_spec *spec, int transport);
/* How long ward_spawn waits for the handshake (default
 * WARD_STARTUP_TIMEOUT_MS_DEFAULT). */
WARD_EXTERN int ward_spec_startup_timeout(ward_spec *spec, int ms);
/* The deadline of calls made with a negative timeout (default
 * WARD_REQUEST_TIMEOUT_MS_DEFAULT). */
WARD_EXTERN int ward_spec_request_timeout(ward_spec *spec, int ms);
/* How long ward_worker_stop waits at each step when given a negative grace
 * (default WARD_STOP_GRACE_MS_DEFAULT). */
WARD_EXTERN int ward_spec_stop_grace(ward_spec *spec, int ms);
/* The signal a stop sends when asking is not enough (default
 * WARD_STOP_SIGNAL_DEFAULT):
 * a ward worker gets a goodbye first, then this signal after the grace; a
 * plain process (below) gets this signal at once. SIGKILL follows after
 * the grace either way. */
WARD_EXTERN int ward_spec_stop_signal(ward_spec *spec, int sig);

/* ---------------------------------------------------------------------
 * Readiness and plain processes
 *
 * By default a worker is ready when it has done the ward handshake. A
 * program that does not link ward (a plain process) can be supervised
 * too; it gets no channel, takes no calls (ward_request and friends fail
 * with WARD_EINVAL at once), and is ready:
 *   - WARD_READY_AFTER: once it has stayed up `arg` ms (0: at once);
 *   - WARD_READY_NOTIFY: once it writes a newline on descriptor `arg`
 *     (3..1023), which ward opens for it (the s6 convention). It must do so
 *     within the startup timeout, or it is killed (STARTUP_TIMEOUT).
 * Everything else (restart policy, memory limits, output capture, stop,
 * events, information) works the same; heartbeats, which need the
 * channel, are not sent.
 * ------------------------------------------------------------------- */
enum {
  WARD_READY_HANDSHAKE = 0, /* a ward worker: ready after its handshake */
  WARD_READY_AFTER = 1,     /* plain: ready after `arg` ms up */
  WARD_READY_NOTIFY = 2     /* plain: ready when a line is written on fd `arg` */
};
WARD_EXTERN int ward_spec_ready(ward_spec *spec, int mode, int arg);

/* A first start that fails (the executable exits, is killed, or misses
 * its startup timeout) is, with this on, handled by the restart policy
 * like any later exit, and ward_spawn keeps the handle whatever happens:
 * it returns WARD_OK once the worker is ready, or has come to rest
 * (failed after the restart limit, or exited with a restart mode that
 * says no), and the caller reads which with ward_worker_info. Its log
 * ring keeps what the failed starts printed. Errors are then only
 * WARD_EINVAL, WARD_ENOMEM and WARD_ECLOSED. Off by default: a supervisor
 * of long-running services wants it on. */
WARD_EXTERN int ward_spec_supervise_start(ward_spec *spec, int on);

/* ---------------------------------------------------------------------
 * Supervision policies (on the spec)
 *
 * When a worker's process ends without being asked to, ward decides, by
 * the spec's policies, whether and when to start a new one (a new
 * generation of the same worker handle):
 *   - planned replacements (ward_worker_cycle, max requests, idle, memory
 *     limit) always start a new process at once;
 *   - otherwise the restart mode decides (ON_FAILURE: not after exit 0);
 *   - at most `intensity` restarts after failures within `period_ms`
 *     (planned replacements are not counted); past it the worker is
 *     failed: a GAVE_UP event, calls get WARD_EGAVEUP at once, until
 *     ward_worker_restart();
 *   - after a failure, a delay: initial, growing by `multiplier_pct` per
 *     consecutive failure up to the cap; a process that stayed up for
 *     `reset_after_ms` clears the run.
 * Calls made while a new process is on its way wait for it within their
 * own deadline (or fail at once with WARD_ECLOSED, see
 * ward_spec_wait_restart).
 * ------------------------------------------------------------------- */
enum {
  WARD_RESTART_NEVER = 0,      /* the worker stays exited */
  WARD_RESTART_ON_FAILURE = 1, /* restart unless it exited with code 0
                                  (WARD_RESTART_DEFAULT) */
  WARD_RESTART_ALWAYS = 2      /* restart whatever the exit */
};
WARD_EXTERN int ward_spec_restart(ward_spec *spec, int mode);
/* At most `max_restarts` (0..256) restarts after failures within
 * `period_ms` (defaults WARD_INTENSITY_DEFAULT in
 * WARD_INTENSITY_PERIOD_MS_DEFAULT); planned replacements do not count. */
WARD_EXTERN int ward_spec_intensity(ward_spec *spec, int max_restarts, int period_ms);
/* Delay after a failure (defaults: WARD_BACKOFF_*_DEFAULT). */
WARD_EXTERN int ward_spec_backoff(ward_spec *spec, int initial_ms, int max_ms,
                                  int multiplier_pct, int reset_after_ms);
/* Pings the worker every `interval_ms`; after `misses` unanswered in a row
 * the worker is unhealthy (event) and replaced (reason UNHEALTHY). A worker
 * wedged in a handler that never reaches a boundary (progress, row,
 * ward_ctx_cancelled), stopped (SIGSTOP) or spinning is replaced within
 * interval * (misses + 1) plus a little. Off by default (interval 0; misses
 * WARD_HEARTBEAT_MISSES_DEFAULT). */
WARD_EXTERN int ward_spec_heartbeat(ward_spec *spec, int interval_ms, int misses);
/* When a call's deadline passes, kill the worker and start a new one
 * (reason REQUEST_TIMEOUT): its state is unknown. Other calls in flight on
 * it end WARD_ECRASHED. Default: WARD_KILL_ON_TIMEOUT_DEFAULT (on). */
WARD_EXTERN int ward_spec_kill_on_timeout(ward_spec *spec, int on);
/* Replace the process after it has served `n` requests (0: never, the
 * default). The replacement waits for the calls in flight. */
WARD_EXTERN int ward_spec_max_requests(ward_spec *spec, uint64_t n);
/* Memory limits on the worker's resident set, sampled every `sample_ms`
 * (0: WARD_MEMORY_SAMPLE_MS_DEFAULT): over `soft_bytes`, the process is
 * replaced once its calls in flight are done; over `hard_bytes`, it is
 * killed at once (reason MEMORY_LIMIT either way). 0 disables a limit. */
WARD_EXTERN int ward_spec_memory_limit(ward_spec *spec, uint64_t soft_bytes,
                                       uint64_t hard_bytes, int sample_ms);
/* The largest payload the worker accepts (default WARD_MAX_FRAME_DEFAULT,
 * 64 MiB); it announces it in its handshake, and the host refuses larger
 * requests with WARD_ETOOBIG before sending. The host's own limit is
 * ward_host_opts.max_frame. */
WARD_EXTERN int ward_spec_max_frame(ward_spec *spec, uint32_t bytes);
/* How long a worker may take to end a call after it was cancelled before
 * it is killed and replaced (reason CANCELLED); default
 * WARD_CANCEL_GRACE_MS_DEFAULT. */
WARD_EXTERN int ward_spec_cancel_grace(ward_spec *spec, int ms);
/* End a process that has served no call for `ms` (0: never, the
 * default); the next call starts a new one (state IDLE meanwhile). Not
 * counted against the intensity. */
WARD_EXTERN int ward_spec_idle_timeout(ward_spec *spec, int ms);
/* Calls made while the worker is restarting wait for the new process
 * within their deadline (1), or fail at once with WARD_ECLOSED (0).
 * Default: WARD_WAIT_RESTART_DEFAULT (wait). */
WARD_EXTERN int ward_spec_wait_restart(ward_spec *spec, int on);

/* ---------------------------------------------------------------------
 * Workers
 * ------------------------------------------------------------------- */

/* Starts the worker and returns once its handshake is done (or failed).
 * The worker runs in its own process group, with stdin on /dev/null and
 * stdout/stderr as ward_spec_output says (captured by default); the
 * channel is a separate socket.
 * Errors: WARD_ESPAWN (the executable is missing or not executable; the
 * errno is in ward_last_errno()), WARD_EHANDSHAKE (the worker exited, broke
 * the protocol or stayed silent past the startup timeout, or spoke another
 * protocol version), WARD_EINVAL, WARD_ENOMEM, WARD_ESYS, WARD_ECLOSED
 * (the host is shutting down). On error no process, zombie or descriptor is
 * left behind. The handle belongs to the host until ward_worker_free(). */
WARD_EXTERN int ward_spawn(ward_worker **out, ward_host *host, const ward_spec *spec);

/* Starts the worker like ward_spawn, but returns its handle at once, with
 * the process on its way (state starting): a supervisor that must stay
 * responsive while a slow service comes up, or that starts many at once,
 * waits with ward_worker_wait_ready in slices of its choosing, and can
 * stop the worker meanwhile. Events and ward_worker_info tell how the start
 * goes. A first start that fails leaves the handle failed (or, with
 * ward_spec_supervise_start, goes through the restart policy), never
 * freed: free it with ward_worker_free. Errors: WARD_EINVAL, WARD_ENOMEM,
 * WARD_ECLOSED (the host is shutting down). */
WARD_EXTERN int ward_spawn_start(ward_worker **out, ward_host *host, const ward_spec *spec);

/* Waits until the worker is ready, or has been since it was started (0;
 * it may have ended since, and the restart policy has it: see
 * ward_worker_info), or has come to rest without ever being ready: its
 * first start failed (the reason ward_spawn would give:
 * WARD_ESPAWN, WARD_EHANDSHAKE, with ward_last_error() saying why), the
 * policy gave up (WARD_EGAVEUP), it exited for good (WARD_ECRASHED), it was
 * stopped (WARD_ECLOSED); or `timeout_ms` passed (WARD_ETIMEDOUT; negative:
 * no limit). Not from a ward callback (WARD_EINVAL). */
WARD_EXTERN int ward_worker_wait_ready(ward_worker *w, int timeout_ms);

/* Rows per stream in a summary: an array element, so its layout never
 * changes (see "Structs and the ABI"). */
typedef struct ward_stream_count {
  char name[WARD_MAX_NAME + 1];
  uint64_t rows;
  uint64_t bytes;
} ward_stream_count;

/* What a call produced besides its reply, filled when it ends (whatever
 * the outcome). Start from WARD_SUMMARY_INIT; release with
 * ward_summary_clear. */
typedef struct ward_summary {
  uint32_t struct_size;       /* sizeof(ward_summary) as compiled: the _INIT macro */
  uint64_t rows;              /* rows on all streams */
  uint64_t row_bytes;
  uint64_t progress;          /* progress reports */
  uint64_t diagnostics;
  int64_t elapsed_us;         /* from the request sent to the outcome */
  size_t nstreams;
  ward_stream_count *streams; /* in the order the streams first appeared */
} ward_summary;
#define WARD_SUMMARY_INIT {(uint32_t)sizeof(ward_summary), 0, 0, 0, 0, 0, 0, NULL}
/* Like ward_host_opts_init, for a ward_summary. */
WARD_EXTERN int ward_summary_init(ward_summary *s, size_t size);
/* Frees the summary's streams and zeroes its figures (struct_size stays,
 * so it can be used again). NULL, or a summary with a bad struct_size,
 * is left alone. */
WARD_EXTERN void ward_summary_clear(ward_summary *s);

/* The default flow-control window of a call: how many bytes of rows and
 * progress the worker may send ahead of what the caller has consumed. */
#define WARD_WINDOW_DEFAULT (1024 * 1024)

/* Options of one call. Callbacks run on the calling thread, inside the call,
 * before it returns; they must not free the worker. Rows are delivered live
 * but are tentative: only a call that ends WARD_OK commits them (buffer
 * them, and use them once the call succeeded). */
typedef struct ward_call_opts {
  uint32_t struct_size; /* sizeof(ward_call_opts) as compiled: the _INIT macro */
  int timeout_ms;  /* deadline; negative = the spec's request timeout */
  int encoding;    /* encoding tag of the request payload (WARD_ENC_JSON) */
  /* Progress reports the handler sent, in order. */
  void (*on_progress)(const void *data, size_t len, void *ud);
  /* Rows the handler emitted: `seq` starts at 1 per stream per call.
   * Rows are tentative until the call succeeds. */
  void (*on_row)(const char *stream, uint64_t seq, const void *data, size_t len, void *ud);
  /* Diagnostics: level 0 debug .. 3 error, a short code and a message. */
  void (*on_diag)(int level, const char *code, const char *message, void *ud);
  void *ud;        /* passed to the callbacks */
  /* A session: nonzero pins the call to that generation of the worker
   * (see ward_worker_generation); once the worker has restarted the call
   * fails with WARD_ESTALE instead of reaching the new process. */
  uint32_t generation;
  /* Flow control: the worker may send this many bytes of rows and progress
   * ahead of the callbacks; it blocks (and keeps answering pings) until
   * they catch up. 0 = WARD_WINDOW_DEFAULT; -1 = no limit. */
  int window_bytes;
  /* Filled when the call ends, if not NULL (see ward_summary); its own
   * struct_size must be set too (WARD_SUMMARY_INIT). */
  ward_summary *summary;
} ward_call_opts;
#define WARD_CALL_OPTS_INIT \
  {(uint32_t)sizeof(ward_call_opts), -1, WARD_ENC_JSON, NULL, NULL, NULL, NULL, 0, 0, NULL}
/* Like ward_host_opts_init, for a ward_call_opts. */
WARD_EXTERN int ward_call_opts_init(ward_call_opts *opts, size_t size);

/* Calls `method` with a payload and waits for its one outcome.
 * On WARD_OK, *reply holds the reply (free it with ward_msg_free). On
 * WARD_EREMOTE, *reply holds the remote error (code, message, data). On any
 * other error *reply is NULL: WARD_ETIMEDOUT (and, unless the spec says
 * otherwise, the worker is killed and replaced), WARD_ENOMETHOD, WARD_ECRASHED
 * (the worker died or cut the connection), WARD_EPROTO / WARD_ETOOBIG (the
 * worker broke the protocol and was cut off), WARD_ETOOBIG (the request is
 * over the worker's limit; nothing was sent), WARD_ECLOSED (the worker is
 * stopped), WARD_EGAVEUP (the worker failed: restart limit), WARD_ESTALE
 * (pinned to a generation that is gone), WARD_EINVAL (also a bad
 * struct_size in the options or their summary). `reply` may be NULL
 * when the caller does not want it. Many calls may be in flight on one
 * worker from many threads. While the worker is restarting the call waits
 * for the new process, within the same deadline. */
WARD_EXTERN int ward_request(ward_msg **reply, ward_worker *w, const char *method,
                             const void *data, size_t len, int timeout_ms);
/* The same with options (progress, rows, diagnostics, encoding); `opts`
 * may be NULL for the defaults (WARD_CALL_OPTS_INIT). */
WARD_EXTERN int ward_request_ex(ward_msg **reply, ward_worker *w, const char *method,
                                const void *data, size_t len, const ward_call_opts *opts);

/* ---------------------------------------------------------------------
 * Asynchronous calls
 *
 * ward_call_start sends the request and returns; `done` then runs exactly
 * once, on the host's I/O thread, with the outcome (the same codes as
 * ward_request) and the reply or remote error, which it owns. If
 * ward_call_start fails, `done` never runs. Progress, row and diagnostic
 * callbacks of an asynchronous call run on the I/O thread too, before
 * `done`. The deadline (opts->timeout_ms) is kept by the host.
 * ------------------------------------------------------------------- */
typedef struct ward_call ward_call;
typedef void (*ward_call_cb)(ward_call *call, int status, ward_msg *reply, void *ud);

/* Errors as for ward_request, before anything was sent. Blocks only until
 * the socket takes the request (not at all on the I/O thread). */
WARD_EXTERN int ward_call_start(ward_call **out, ward_worker *w, const char *method,
                                const void *data, size_t len, const ward_call_opts *opts,
                                ward_call_cb done, void *ud);
/* Cancels: the call ends at once with WARD_ECANCELED (`done` runs with it,
 * if it had not run yet) and the worker is told (ward_ctx_cancelled, and
 * its next row or progress returns WARD_ECANCELED). A worker that does not
 * end the call within the spec's cancel grace is killed and replaced
 * (reason CANCELLED). Cancelling an ended call does nothing. */
WARD_EXTERN int ward_call_cancel(ward_call *call);
/* Waits until `done` has run (up to `timeout_ms`, negative: forever) and
 * returns the call's outcome, or WARD_ETIMEDOUT if it has not ended.
 * Must not be called on the I/O thread. */
WARD_EXTERN int ward_call_wait(ward_call *call, int timeout_ms);
/* Releases the handle. A call still running goes on (cancel it first if
 * it should not) and its `done` still runs; the memory goes after both. */
WARD_EXTERN void ward_call_free(ward_call *call);

/* Sends a notification (tagged JSON): no reply, no outcome beyond delivery.
 * Returns once the socket has taken the whole message, which blocks while
 * the worker is not reading (flow control). Waits for a restart like a
 * request. Errors: WARD_ECLOSED, WARD_ECRASHED, WARD_EGAVEUP, WARD_ETOOBIG,
 * WARD_ETIMEDOUT (the worker did not read for the whole request timeout),
 * WARD_EINVAL. */
WARD_EXTERN int ward_notify(ward_worker *w, const char *method, const void *data, size_t len);

/* A health round trip through the worker's serving loop. Errors as for
 * ward_request. */
WARD_EXTERN int ward_ping(ward_worker *w, int timeout_ms);

/* The current process id (0 when there is none). */
WARD_EXTERN int ward_worker_pid(const ward_worker *w);
/* The spec's name; valid as long as the handle. */
WARD_EXTERN const char *ward_worker_name(const ward_worker *w);
/* Unique within the host, never reused. */
WARD_EXTERN uint64_t ward_worker_id(const ward_worker *w);
/* The generation of the current (or last) process: 1 for the first start. */
WARD_EXTERN uint32_t ward_worker_generation(const ward_worker *w);
/* Whether the worker announced `method` in its handshake (1 / 0). */
WARD_EXTERN int ward_worker_serves(const ward_worker *w, const char *method);
/* A metadata value the worker announced in its handshake (see
 * ward_client_meta), or NULL. Valid until the worker restarts. */
WARD_EXTERN const char *ward_worker_meta(const ward_worker *w, const char *key);

/* Stops the worker: a goodbye message, then after `grace_ms` SIGTERM to its
 * process group, then after another `grace_ms` SIGKILL; waits until it has
 * been reaped. A negative grace means the spec's stop grace. Calls still in
 * flight end with WARD_ECLOSED. The handle stays valid, in state stopped;
 * stopping a stopped worker returns WARD_OK. The outcome is in the STOPPED
 * event and in ward_info.last_stop. No restart follows a stop. The exit's
 * reason is "stopped", unless ward had already killed the process for
 * another (a call that returned WARD_EPROTO or WARD_ETIMEDOUT ended it):
 * that reason stays. */
WARD_EXTERN int ward_worker_stop(ward_worker *w, int grace_ms);

/* Replaces the process with a fresh one between calls: new calls wait, the
 * calls in flight finish, the old process gets a goodbye (and is killed
 * after the stop grace), and a new generation starts at once (reason
 * CYCLE, not counted against the intensity). Returns once the new process
 * is ready. Errors: WARD_ECLOSED (stopped, exited or failed: use
 * ward_worker_restart), WARD_EHANDSHAKE / WARD_ESPAWN (the new process did
 * not come up; the restart policy then applies), WARD_ETIMEDOUT. */
WARD_EXTERN int ward_worker_cycle(ward_worker *w);

/* Brings a stopped, exited or failed worker back (and forgets its restart
 * history); on a running worker, resets the history and cycles it.
 * Returns once the new process is ready, with the errors of ward_spawn. */
WARD_EXTERN int ward_worker_restart(ward_worker *w);

/* Lifecycle operations that never wait: each starts the operation and
 * returns at once, from any thread, ward callbacks included (like uv_close,
 * they complete with an event). The blocking forms above are these plus a
 * wait, for threads that want one.
 *
 * ward_worker_stop_begin: the stop of ward_worker_stop; it is over at the
 * STOPPED event (outcome as there). Stopping a stopped worker does nothing.
 * ward_worker_cycle_begin: the replacement of ward_worker_cycle; the new
 * process is ready at the RESTARTED event. WARD_ECLOSED when the worker is
 * not running (stopped, exited or failed).
 * ward_worker_restart_begin: the start of ward_worker_restart; ready at the
 * READY event (RESTARTED too when it replaced a running process); a first
 * start that fails reports as ward_spawn_start's does. WARD_ECLOSED while
 * the worker is stopping.
 * Errors also: WARD_EINVAL (NULL). */
WARD_EXTERN int ward_worker_stop_begin(ward_worker *w, int grace_ms);
WARD_EXTERN int ward_worker_cycle_begin(ward_worker *w);
WARD_EXTERN int ward_worker_restart_begin(ward_worker *w);

/* ---------------------------------------------------------------------
 * Supervision groups, as in OTP. Workers added to a group are started in
 * order and stopped in reverse order, and a member's failure (an exit its
 * restart mode would restart) is handled by the group's strategy, with the
 * restarts counted against the group's intensity rather than the
 * member's: one-for-one restarts the member alone; one-for-all restarts
 * every member; rest-for-one restarts the member and those added after
 * it. The members concerned are ended as for a planned replacement
 * (goodbye, then SIGKILL after the stop grace; reason "group"), then all
 * started again in order, each once the one before it is ready. Group
 * restarts come without backoff. Past the intensity the group gives up:
 * every member ends and is failed, and one GROUP_GAVE_UP event says so.
 * A member's planned replacements (cycle, max requests, memory, idle),
 * and exits its restart mode leaves down, are its own. Events of members
 * carry the group's name (ward_event.group).
 * ------------------------------------------------------------------- */
typedef struct ward_group ward_group;
enum {
  WARD_GROUP_ONE_FOR_ONE = 0,
  WARD_GROUP_ONE_FOR_ALL = 1,
  WARD_GROUP_REST_FOR_ONE = 2
};
/* A new, empty group of `host`; `name` (1..255 bytes) is in its members'
 * events. Freed by ward_group_free, or with the host. Errors: WARD_EINVAL
 * (NULL, a bad name, an unknown strategy), WARD_ENOMEM. */
WARD_EXTERN int ward_group_new(ward_group **out, ward_host *host, const char *name,
                               int strategy);
/* At most `max_restarts` (0..256) restarts of members within `period_ms`
 * (defaults WARD_INTENSITY_DEFAULT in WARD_INTENSITY_PERIOD_MS_DEFAULT).
 * Errors: WARD_EINVAL. */
WARD_EXTERN int ward_group_intensity(ward_group *g, int max_restarts, int period_ms);
/* Starts a worker as the group's last member and waits for it, as
 * ward_spawn (its errors too); the handle is freed by ward_worker_free,
 * which takes it out of the group, or by ward_group_free. Not from a
 * ward callback (WARD_EINVAL). */
WARD_EXTERN int ward_group_spawn(ward_worker **out, ward_group *g, const ward_spec *spec);
/* Stops every member, the last added first, each as ward_worker_stop;
 * the group restarts nothing afterwards. Returns the first error. Not
 * from a ward callback. */
WARD_EXTERN int ward_group_stop(ward_group *g, int grace_ms);
/* Stops the members, frees them and the group. Not from a ward callback
 * (there it does nothing). */
WARD_EXTERN void ward_group_free(ward_group *g);
/* "one-for-one", "one-for-all", "rest-for-one" (never NULL). */
WARD_EXTERN const char *ward_group_strategy_name(int strategy);

/* States, as ward_info reports them. */
typedef enum {
  WARD_STATE_STARTING = 1, /* the first process is starting */
  WARD_STATE_READY,
  WARD_STATE_STOPPING,
  WARD_STATE_RESTARTING,   /* a replacement is under way */
  WARD_STATE_BACKING_OFF,  /* waiting before the next start */
  WARD_STATE_FAILED,       /* gave up (restart limit) or could not start */
  WARD_STATE_STOPPED,      /* stopped on request */
  WARD_STATE_EXITED,       /* ended, and the restart mode says no restart */
  WARD_STATE_IDLE          /* its process was ended for being idle; the next
                              call starts a new one */
} ward_state;

/* The name of a state, e.g. "backing-off" (never NULL). */
WARD_EXTERN const char *ward_state_name(int state);

typedef struct ward_info {
  uint32_t struct_size;    /* sizeof(ward_info) as compiled: the _INIT macro */
  int pid;                 /* current process, 0 when none */
  int state;               /* ward_state */
  uint32_t generation;     /* starts so far (1 for the first) */
  uint32_t restarts;       /* automatic restarts decided by the policies */
  int last_exit_code;      /* of the last process that ended: code, or -1 */
  int last_signal;         /* its terminating signal, or 0 */
  int last_reason;         /* ward_reason */
  int last_stop;           /* ward_stop_outcome of the last stop */
  int64_t start_time_ms;   /* wall clock (ms since the epoch) of the current process */
  uint64_t rss_bytes;      /* resident set of the current process */
  uint64_t cpu_ms;         /* CPU time (user + system) of the current process */
  uint64_t calls_served;   /* requests answered, over all generations */
  uint32_t calls_in_flight;
} ward_info;
#define WARD_INFO_INIT {(uint32_t)sizeof(ward_info), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
/* Like ward_host_opts_init, for a ward_info. */
WARD_EXTERN int ward_info_init(ward_info *info, size_t size);

/* Fills `out` (its first out->struct_size bytes: start from
 * WARD_INFO_INIT) with the worker's figures. RSS and CPU time are read
 * from the system at the time of the call. Errors: WARD_EINVAL (NULL, or
 * a bad struct_size: then nothing is written). */
WARD_EXTERN int ward_worker_info(ward_info *out, const ward_worker *w);

/* Stops the worker if needed and releases the handle. No other thread may
 * use the handle during or after this call. From a ward callback it does
 * not wait: the stop goes on (ward_worker_stop_begin, with its STOPPED
 * event) and the host's loop releases the handle once the worker has
 * stopped, after the current callbacks; the handle must not be used after
 * the call all the same. */
WARD_EXTERN void ward_worker_free(ward_worker *w);

/* ---------------------------------------------------------------------
 * Messages: a received reply or remote error.
 * ------------------------------------------------------------------- */
WARD_EXTERN const void *ward_msg_data(const ward_msg *m); /* never NULL */
WARD_EXTERN size_t ward_msg_len(const ward_msg *m);
WARD_EXTERN int ward_msg_encoding(const ward_msg *m);    /* WARD_ENC_* */
WARD_EXTERN int ward_msg_code(const ward_msg *m);        /* remote error code, 0 for a reply */
WARD_EXTERN const char *ward_msg_error(const ward_msg *m); /* remote error message, NULL for a reply */
WARD_EXTERN void ward_msg_free(ward_msg *m);             /* NULL is fine */

/* ---------------------------------------------------------------------
 * Worker side
 *
 * A worker program links libward too. ward_client_connect() finds the
 * channel in the environment the host set (WARD_FD, or WARD_SOCKET and
 * WARD_TOKEN) and, while the host is the process's parent (WARD_PPID),
 * asks the kernel to kill the process when the host dies
 * (PR_SET_PDEATHSIG).
 * Handlers run on the thread that called ward_client_run(), one at a time,
 * in arrival order. Pings are answered by that loop, so a worker stuck in a
 * handler stops answering them, which is how the host sees a hang; a long
 * handler that calls ward_ctx_progress, ward_ctx_row or ward_ctx_cancelled
 * keeps answering. Other threads may use ward_client_request and
 * ward_client_notify at any time.
 * ------------------------------------------------------------------- */

/* Errors: WARD_EINVAL (the environment names no channel: not started by a
 * ward host), WARD_ESYS (the socket could not be reached), WARD_ENOMEM.
 * The handshake itself happens in ward_client_run (or the first
 * ward_client_request / ward_client_notify). */
WARD_EXTERN int ward_client_connect(ward_client **out);

/* Registers a handler for requests and notifications of `method`. Call
 * before ward_client_run: the methods are announced in the handshake. */
WARD_EXTERN int ward_client_handle(ward_client *c, const char *method, ward_handler fn,
                                   void *ud);

/* Adds a metadata entry to the handshake (e.g. "version", "1.4.2").
 * Keys hold no '=' or newline, values no newline. Call before the first
 * ward_client_run / request / notify. */
WARD_EXTERN int ward_client_meta(ward_client *c, const char *key, const char *value);

/* Does the handshake if not done yet, then serves calls until the host says
 * goodbye (returns WARD_OK: exit with status 0 now) or the connection is
 * lost (WARD_ECLOSED). Errors also: WARD_EHANDSHAKE (the host refused us or
 * never answered), WARD_EPROTO / WARD_ETOOBIG (the host broke the protocol,
 * or said goodbye with a reason other than 0). Once the goodbye has
 * arrived, requests still queued are answered WARD_ECLOSED instead of
 * being run. */
WARD_EXTERN int ward_client_run(ward_client *c);

/* Calls a method the host serves (ward_host_handle). `timeout_ms` < 0
 * means 30000 ms. Errors as for ward_request. */
WARD_EXTERN int ward_client_request(ward_msg **reply, ward_client *c, const char *method,
                                    const void *data, size_t len, int timeout_ms);
/* Sends a notification to the host. */
WARD_EXTERN int ward_client_notify(ward_client *c, const char *method, const void *data,
                                   size_t len);
/* Sends a goodbye to the host (if the connection is up) and frees the
 * client. No other thread may use it during or after this call. */
WARD_EXTERN void ward_client_free(ward_client *c);

/* ---------------------------------------------------------------------
 * Servers: ward on a socket path
 *
 * A program can serve calls to programs it did not spawn (a daemon's
 * control channel): ward_server_listen binds a Unix socket at a path,
 * mode 0600, and accepts connections from processes of the same user (or
 * root). Each connection does the handshake as a worker would (the
 * connecting side sends HELLO, the server answers WELCOME: see
 * docs/protocol.md) and is then served on a thread of its own (the server
 * holds a bounded number of connections: ward_server_limits), so its
 * handlers may block and may call anything, ward_spawn included;
 * ward_ctx_worker is NULL in them. The connecting side is a ward_client made
 * with ward_client_open; it calls with ward_client_request and
 * ward_client_notify.
 * ------------------------------------------------------------------- */
typedef struct ward_server ward_server;
WARD_EXTERN int ward_server_new(ward_server **out);
/* Registers a handler; before ward_server_listen. */
WARD_EXTERN int ward_server_handle(ward_server *s, const char *method, ward_handler fn,
                                   void *ud);

/* A server's limits (ward_server_limits). Each connection holds a thread,
 * so `max_conns` bounds the server's threads too. */
#define WARD_SERVER_MAX_CONNS_DEFAULT 64       /* connections held at once */
#define WARD_SERVER_HANDSHAKE_MS_DEFAULT 10000 /* from connect to a complete HELLO */

/* Sets how many connections the server holds at once and how long a
 * connecting peer has, from its connect, to complete the handshake; a
 * negative value keeps that limit as it is (the defaults above). Before
 * ward_server_listen.
 *
 * A peer that has not completed its HELLO by the deadline (it sent nothing,
 * or part of a frame) is closed. When a peer connects while `max_conns`
 * connections are held, the server makes room by closing one that is not
 * in a call: the oldest of those still in their handshake, else the one
 * idle the longest (since its last call ended). A connection is never
 * closed while a call of it runs. If every connection is in a call, the
 * newcomer is refused: it gets a GOODBYE with reason 4 (busy) instead of a
 * WELCOME (its ward_client_request fails with WARD_EHANDSHAKE), and the
 * server holds no thread for it. See docs/protocol.md, section 15.1.
 * Errors: WARD_EINVAL (NULL, a limit of 0, or the server listens already). */
WARD_EXTERN int ward_server_limits(ward_server *s, int max_conns, int handshake_ms);

/* Why a server let a connection go (ward_server_drop.reason). */
typedef enum {
  WARD_DROP_BUSY = 1,          /* refused on arrival: every connection was in a call */
  WARD_DROP_IDLE,              /* closed to make room for a newcomer (idle_ms, greeted) */
  WARD_DROP_HANDSHAKE_TIMEOUT, /* no complete HELLO within the handshake deadline */
  WARD_DROP_PROTOCOL           /* it broke the protocol (detail), in or after the
                                  handshake */
} ward_drop_reason;

/* The name of a drop reason, e.g. "handshake-timeout" (never NULL). */
WARD_EXTERN const char *ward_drop_reason_name(int reason);

typedef struct ward_server_drop {
  int reason;         /* ward_drop_reason */
  int pid;            /* the peer's process id when it connected, 0 if unknown */
  int greeted;        /* 1 if it had completed its handshake */
  int64_t idle_ms;    /* IDLE, HANDSHAKE_TIMEOUT: how long it had been idle,
                         since its last call ended, or since it connected if
                         not greeted; 0 otherwise */
  const char *detail; /* PROTOCOL: what it did, for humans; otherwise NULL */
} ward_server_drop;

/* Runs on a thread of the server's (the accepting thread, or the dropped
 * connection's own), with no lock of ward's held; several may run at once
 * for different connections, so it must be thread-safe and short, and must
 * not call ward_server_free. `d` is valid only during the call. None runs
 * once ward_server_free has returned; connections closed by
 * ward_server_free itself are not reported. */
typedef void (*ward_server_drop_cb)(const ward_server_drop *d, void *ud);

/* Registers the function told of every connection the server refuses or
 * closes on its own: over its limits (ward_server_limits) or for breaking
 * the protocol. Peers that leave by themselves are not reported. `cb` may
 * be NULL (nothing is told). Before ward_server_listen.
 * Errors: WARD_EINVAL (NULL server, or it listens already). */
WARD_EXTERN int ward_server_on_drop(ward_server *s, ward_server_drop_cb cb, void *ud);
/* Binds `path` and starts accepting on a thread of the server's. A stale
 * socket left at the path (no one answers on it) is replaced; a live one
 * is refused with WARD_ESYS (errno EADDRINUSE), and anything that is not
 * a socket with WARD_EINVAL. */
WARD_EXTERN int ward_server_listen(ward_server *s, const char *path);
/* Stops accepting, closes every connection, waits for handlers still
 * running, removes the socket and frees the server. Not from a handler. */
WARD_EXTERN void ward_server_free(ward_server *s);
/* Connects to a ward server at `path`. Errors: WARD_ECLOSED (nothing
 * listens there: no such socket, or the connection was refused; the
 * errno is kept), WARD_ESYS, WARD_EINVAL, WARD_ENOMEM. The handshake
 * happens at the first request: make it soon, as a ward server closes a
 * connection still without its HELLO at its handshake deadline
 * (ward_server_limits). */
WARD_EXTERN int ward_client_open(ward_client **out, const char *path);

/* ---------------------------------------------------------------------
 * Serving a call (both sides). A ctx is valid only inside its handler and
 * only on the handler's thread (ward_ctx_defer makes one that outlives it).
 * ------------------------------------------------------------------- */
/* Ends the call with a reply; the encoding is the request's unless
 * ward_ctx_set_encoding said otherwise. Errors: WARD_EINVAL (already ended),
 * WARD_ETOOBIG (over the caller's limit: the call then ends with a remote
 * error WARD_ETOOBIG instead), WARD_ECLOSED / WARD_ECRASHED (the caller
 * is gone), WARD_ETIMEDOUT (the caller did not read for the whole request
 * timeout), WARD_ENOMEM. */
WARD_EXTERN int ward_ctx_reply(ward_ctx *ctx, const void *data, size_t len);
/* Ends the call with a remote error. Codes -1..-99 are ward's own; use
 * other values for your errors. `message` may be NULL. The call always
 * ends: data, then message, are cut if they would not fit the caller's
 * limit. */
WARD_EXTERN int ward_ctx_fail(ward_ctx *ctx, int code, const char *message);
/* The same with an error payload (in the ctx's encoding). */
WARD_EXTERN int ward_ctx_fail_data(ward_ctx *ctx, int code, const char *message,
                                   const void *data, size_t len);
/* Sends a progress report to the caller. */
WARD_EXTERN int ward_ctx_progress(ward_ctx *ctx, const void *data, size_t len);
/* Emits one row on the named stream (sequence numbers are assigned per
 * stream, from 1). Blocks while the caller's flow-control window is full,
 * still answering pings. Errors: WARD_ECANCELED once the caller cancelled
 * (stop working and return), WARD_ECLOSED / WARD_ECRASHED (the caller is
 * gone), WARD_ETOOBIG (the row is over the caller's limit, or, while this
 * call waited for credit, the caller sent over 32 MiB of other requests
 * that wait behind it: the worker keeps reading for its credit, but not
 * without bound), WARD_EINVAL. The same holds for progress. */
WARD_EXTERN int ward_ctx_row(ward_ctx *ctx, const char *stream, const void *data, size_t len);
/* One row of a batch (ward_ctx_rows): an array element, so its layout
 * never changes. */
typedef struct ward_row {
  const void *data;
  size_t len;
} ward_row;
/* Emits `n` rows on the named stream in as few writes as the caller's
 * window allows: the way to stream many small rows fast. Same errors and
 * flow control as ward_ctx_row; the rows are sent before it returns. A row
 * over the caller's frame limit fails the batch with WARD_ETOOBIG before any
 * row is sent; a row with NULL data is an empty row. */
WARD_EXTERN int ward_ctx_rows(ward_ctx *ctx, const char *stream, const ward_row *rows,
                              size_t n);
/* Sends a diagnostic (level 0 debug, 1 info, 2 warning, 3 error); its
 * message is tagged raw whatever the call's encoding. */
WARD_EXTERN int ward_ctx_diag(ward_ctx *ctx, int level, const char *code, const char *message);
/* Host handlers only: takes a request off the I/O thread. A host handler
 * runs on the loop and must answer at once; one whose answer needs slow
 * work (ward_spawn, a stop, a blocking call) defers the call, hands the
 * returned ctx to a thread of its own and returns. The deferred ctx stays
 * valid until one of ward_ctx_reply, ward_ctx_fail or ward_ctx_fail_data
 * ends it, from any thread: that call frees it, so it must not be touched
 * afterwards. Rows and progress may be sent on it before. The handler's
 * payload is not kept: copy what the work needs first. Cancellation of a
 * deferred call is not reported (ward_ctx_cancelled stays 0); if the worker
 * goes away first, the ending call fails (WARD_ECLOSED, or WARD_ECRASHED
 * when its process died) and still frees.
 * Every deferred call must be ended before ward_host_free.
 * Returns NULL (WARD_EINVAL: not a host handler's request, or deferred
 * already; WARD_ENOMEM) and leaves the call to the handler then. */
WARD_EXTERN ward_ctx *ward_ctx_defer(ward_ctx *ctx);
/* Nonzero once the caller has cancelled this call. */
WARD_EXTERN int ward_ctx_cancelled(const ward_ctx *ctx);
/* The encoding tag of the request. */
WARD_EXTERN int ward_ctx_encoding(const ward_ctx *ctx);
/* The encoding tag of what this ctx sends from now on (default: the
 * request's). */
WARD_EXTERN int ward_ctx_set_encoding(ward_ctx *ctx, int encoding);
/* The method being served (NUL-terminated). */
WARD_EXTERN const char *ward_ctx_method(const ward_ctx *ctx);
/* Nonzero when serving a notification (nothing will be sent back). */
WARD_EXTERN int ward_ctx_is_notify(const ward_ctx *ctx);
/* On the host side: the worker that made the call (NULL in a worker). */
WARD_EXTERN ward_worker *ward_ctx_worker(const ward_ctx *ctx);

/* ---------------------------------------------------------------------
 * Output: what a worker writes to stdout and stderr. By default it is
 * captured through pipes into a ring per worker handle (kept across
 * restarts), cut into lines, each with a time, its stream and the
 * generation that wrote it. What a worker printed just before it died is
 * read before its EXITED event is reported.
 * ------------------------------------------------------------------- */
enum {
  WARD_OUTPUT_CAPTURE = 0, /* into the ring (default) */
  WARD_OUTPUT_INHERIT,     /* the host's own stdout and stderr */
  WARD_OUTPUT_FORWARD,     /* into the ring, and to the host's stderr as "[name pid] line"
                            * (never waiting: what a full stderr cannot take is left out) */
  WARD_OUTPUT_DISCARD      /* /dev/null */
};
WARD_EXTERN int ward_spec_output(ward_spec *spec, int mode);
/* The ring's budget in bytes (default WARD_LOG_RING_DEFAULT); the oldest
 * lines go first. */
WARD_EXTERN int ward_spec_log_ring(ward_spec *spec, size_t bytes);
/* Report every captured line as a WARD_EV_LOG event (default off). */
WARD_EXTERN int ward_spec_log_events(ward_spec *spec, int on);

enum { WARD_LOG_STDOUT = 1, WARD_LOG_STDERR = 2 };
/* Line flags: CUT, a piece of a line longer than 4096 bytes; BINARY,
 * control bytes in it were replaced by '?'. */
enum { WARD_LOG_CUT = 1, WARD_LOG_BINARY = 2 };

/* One captured line; ward_worker_logs returns an array of them, so its
 * layout never changes. */
typedef struct ward_log_line {
  uint64_t seq;        /* 1, 2, ... per worker handle, never reused */
  int64_t time_ms;     /* wall clock, ms since the epoch */
  int stream;          /* WARD_LOG_STDOUT or WARD_LOG_STDERR */
  uint32_t generation; /* the process that wrote it */
  int flags;           /* WARD_LOG_CUT, WARD_LOG_BINARY */
  const char *text;    /* without its newline, NUL-terminated */
  size_t len;
} ward_log_line;

typedef struct ward_log_query {
  uint32_t struct_size; /* sizeof(ward_log_query) as compiled: the _INIT macro */
  int streams;         /* WARD_LOG_STDOUT | WARD_LOG_STDERR (0: both) */
  size_t last;         /* only the last N matching lines (0: all) */
  int64_t since_ms;    /* only lines read (from the worker) at or after this
                          wall-clock time */
  uint64_t after_seq;  /* only lines after this sequence number (to follow) */
  size_t limit;        /* at most this many (0: no limit) */
} ward_log_query;
#define WARD_LOG_QUERY_INIT \
  {(uint32_t)sizeof(ward_log_query), WARD_LOG_STDOUT | WARD_LOG_STDERR, 0, 0, 0, 0}
/* Like ward_host_opts_init, for a ward_log_query. */
WARD_EXTERN int ward_log_query_init(ward_log_query *q, size_t size);

/* Copies out the captured lines matching `q` (NULL: all), oldest first.
 * Free with ward_log_lines_free. Errors: WARD_EINVAL (also a bad
 * q->struct_size), WARD_ENOMEM. */
WARD_EXTERN int ward_worker_logs(ward_log_line **out, size_t *count, const ward_worker *w,
                                 const ward_log_query *q);
WARD_EXTERN void ward_log_lines_free(ward_log_line *lines, size_t count);

/* ---------------------------------------------------------------------
 * Data directory: each worker handle gets a private directory (0700),
 * named in the worker's WARD_DATA_DIR, created before its first start,
 * kept across restarts and removed with its contents when the handle is
 * freed (unless kept), or by the host's guard process should the host die
 * without freeing it (even by SIGKILL).
 * ------------------------------------------------------------------- */
/* Where the directories go (default: $XDG_RUNTIME_DIR, else $TMPDIR, else
 * /tmp); NULL gives no data directory at all. */
WARD_EXTERN int ward_spec_data_root(ward_spec *spec, const char *root);
/* Keep the directory when the handle is freed. */
WARD_EXTERN int ward_spec_keep_data(ward_spec *spec, int keep);
/* The worker's data directory, or NULL. Valid as long as the handle. */
WARD_EXTERN const char *ward_worker_data_dir(const ward_worker *w);

/* ---------------------------------------------------------------------
 * Worker pools: N identical workers from one spec. A call goes to the
 * least busy ready worker (a worker serves one call at a time); when all
 * are busy the pool grows up to its maximum, otherwise the call waits for
 * a free worker within its deadline (WARD_ETIMEDOUT). A worker that dies
 * is replaced under the spec's policy while the others keep serving; one
 * that gave up is replaced by a new one. Workers idle past the idle time
 * are stopped, down to the minimum. Every function is thread-safe.
 * ------------------------------------------------------------------- */
typedef struct ward_pool ward_pool;

typedef struct ward_pool_opts {
  uint32_t struct_size; /* sizeof(ward_pool_opts) as compiled: the _INIT macro */
  int min_workers; /* started at once, kept */
  int max_workers; /* the most it grows to */
  int idle_ms;     /* a worker beyond the minimum idle this long goes
                    * (0: as soon as its call ends), stopped by the pool's
                    * own thread, which runs when max_workers > min_workers */
} ward_pool_opts;
#define WARD_POOL_OPTS_INIT                                                              \
  {(uint32_t)sizeof(ward_pool_opts), WARD_POOL_MIN_WORKERS_DEFAULT,                     \
   WARD_POOL_MAX_WORKERS_DEFAULT, WARD_POOL_IDLE_MS_DEFAULT}
/* Like ward_host_opts_init, for a ward_pool_opts. */
WARD_EXTERN int ward_pool_opts_init(ward_pool_opts *opts, size_t size);

/* Starts the minimum number of workers; errors as for ward_spawn, and
 * WARD_EINVAL for bad sizes or a bad opts->struct_size. `opts` may be
 * NULL (WARD_POOL_OPTS_INIT). */
WARD_EXTERN int ward_pool_new(ward_pool **out, ward_host *host, const ward_spec *spec,
                              const ward_pool_opts *opts);
/* Stops and frees the pool's workers. No call may be in flight. */
WARD_EXTERN void ward_pool_free(ward_pool *pool);
/* Like ward_request / ward_request_ex, on the least busy worker. */
WARD_EXTERN int ward_pool_request(ward_msg **reply, ward_pool *pool, const char *method,
                                  const void *data, size_t len, int timeout_ms);
WARD_EXTERN int ward_pool_request_ex(ward_msg **reply, ward_pool *pool, const char *method,
                                     const void *data, size_t len, const ward_call_opts *opts);

typedef struct ward_pool_stats {
  uint32_t struct_size; /* sizeof(ward_pool_stats) as compiled: the _INIT macro */
  size_t workers;     /* now */
  size_t busy;        /* serving a call now */
  uint64_t calls;     /* calls made through the pool */
  uint64_t failures;  /* of them, ended with an error (remote errors included) */
  uint64_t grown;     /* workers added beyond the minimum, in all */
  uint64_t shrunk;    /* workers stopped for being idle, in all */
  uint64_t replaced;  /* workers replaced after giving up */
} ward_pool_stats;
#define WARD_POOL_STATS_INIT {(uint32_t)sizeof(ward_pool_stats), 0, 0, 0, 0, 0, 0, 0}
/* Like ward_host_opts_init, for a ward_pool_stats. */
WARD_EXTERN int ward_pool_stats_init(ward_pool_stats *stats, size_t size);
/* Fills `out` (its first out->struct_size bytes: start from
 * WARD_POOL_STATS_INIT). Errors: WARD_EINVAL (NULL, or a bad struct_size). */
WARD_EXTERN int ward_pool_info(ward_pool_stats *out, ward_pool *pool);
/* The pool's workers, for per-worker figures (ward_worker_info): fills
 * `out` with up to `cap` handles, valid until the next pool call (a worker
 * stopped for idling meanwhile is in state stopped until then); returns
 * how many. */
WARD_EXTERN size_t ward_pool_workers(ward_worker **out, size_t cap, ward_pool *pool);

/* ---------------------------------------------------------------------
 * Handshake requirements (on the spec): a worker that does not announce
 * what the host needs is refused at its handshake, and ward_spawn (or the
 * restart) fails with WARD_EHANDSHAKE naming what was missing.
 * ------------------------------------------------------------------- */
/* The worker must serve `method`. */
WARD_EXTERN int ward_spec_require_method(ward_spec *spec, const char *method);
/* The worker's "version" metadata must be >= `min` and < `below` (dotted
 * numbers compared part by part, "1.10" > "1.9"; NULL for no bound). */
WARD_EXTERN int ward_spec_require_version(ward_spec *spec, const char *min, const char *below);

/* ---------------------------------------------------------------------
 * JSON (jansson). Payloads tagged WARD_ENC_JSON, as jansson values. The
 * core never parses payloads; these functions do, on the caller's side.
 * Decode errors are WARD_EPROTO, and ward_last_error names the method
 * (and, for rows, the stream and sequence number).
 * ------------------------------------------------------------------- */
struct json_t;

/* Calls `method` with `params` (NULL sends null) and decodes the reply
 * into *result (a new reference, json_decref it; may be NULL to ignore).
 * On WARD_EREMOTE, *result is the error's data if it was JSON (or NULL),
 * and ward_last_error holds the code and message. */
WARD_EXTERN int ward_request_json(struct json_t **result, ward_worker *w, const char *method,
                                  const struct json_t *params, int timeout_ms);

/* Rows decoded as JSON; `row` is borrowed for the callback's duration. */
typedef void (*ward_json_row_cb)(const char *stream, uint64_t seq, struct json_t *row,
                                 void *ud);
/* The same with options and a JSON row sink (opts->on_row is replaced).
 * A row that is not valid JSON is not delivered; the call then ends with
 * WARD_EPROTO once it is over, naming the first such row. */
WARD_EXTERN int ward_request_json_ex(struct json_t **result, ward_worker *w, const char *method,
                                     const struct json_t *params, const ward_call_opts *opts,
                                     ward_json_row_cb on_row, void *row_ud);

/* Serving side: decode a request's payload, reply, fail with data, emit a
 * row, send a notification or request to the host, all as JSON. */
WARD_EXTERN int ward_ctx_params_json(ward_ctx *ctx, const void *data, size_t len,
                                     struct json_t **out);
WARD_EXTERN int ward_ctx_reply_json(ward_ctx *ctx, const struct json_t *value);
WARD_EXTERN int ward_ctx_row_json(ward_ctx *ctx, const char *stream, const struct json_t *value);
WARD_EXTERN int ward_ctx_fail_json(ward_ctx *ctx, int code, const char *message,
                                   const struct json_t *data);

/* Validate JSON-tagged payloads the worker sends (replies, rows, progress,
 * its calls to the host) at the boundary: one that does not parse ends its
 * call with WARD_EPROTO. Off by default (it costs a parse per message). */
WARD_EXTERN int ward_spec_validate_json(ward_spec *spec, int on);

/* ---------------------------------------------------------------------
 * Doctor: the conventional method "ward.doctor" answers a list of checks,
 * {"checks": [{"name": ..., "status": "pass"|"warning"|"error",
 * "message": ...}, ...]}.
 * ------------------------------------------------------------------- */
typedef enum { WARD_CHECK_PASS = 0, WARD_CHECK_WARNING = 1, WARD_CHECK_ERROR = 2 } ward_check_status;

/* One check (an array element: its layout never changes). */
typedef struct ward_check {
  const char *name;
  int status; /* ward_check_status */
  const char *message;
} ward_check;

typedef struct ward_doctor_report {
  size_t count;
  ward_check *checks; /* strings owned by the report */
  int worst;          /* the worst status among the checks */
} ward_doctor_report;

/* Asks the worker for its checks and decodes them. Errors as for
 * ward_request, WARD_ENOMETHOD when it has no doctor, WARD_EPROTO when the
 * answer is not a list of checks. Free with ward_doctor_report_free. */
WARD_EXTERN int ward_doctor(ward_doctor_report **out, ward_worker *w, int timeout_ms);
WARD_EXTERN void ward_doctor_report_free(ward_doctor_report *r);
/* Worker side: answers a "ward.doctor" call with these checks. */
WARD_EXTERN int ward_ctx_reply_doctor(ward_ctx *ctx, const ward_check *checks, size_t count);

#ifdef __cplusplus
}
#endif
#endif /* WARD_H */
