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
 *   Payloads received (data, len) are not NUL-terminated: use the length.
 *   Pointers passed to a callback are valid only during the callback.
 * - Every *_free function accepts NULL. A NULL handle or out-parameter
 *   fails with WARD_EINVAL (accessors return 0 or NULL).
 * - docs/api.md is the guide (concepts, supervision, recipes); "api.md N"
 *   below cites its section N.
 *
 * Threads
 * -------
 * Every function is safe to call from any thread unless its comment says
 * otherwise. A host runs one internal I/O thread of its own, with every
 * signal blocked (unless it was created with an external loop, see
 * ward_host_fd: then the thread running the loop plays its part). It
 * spawns and reaps workers, runs the supervision timers, reads the
 * workers' connections while no caller is waiting on them and their output
 * pipes, and runs event callbacks, host handlers and the callbacks of
 * asynchronous calls. While one of those runs nothing else happens on that
 * thread, so they must be short and must not wait for it: there
 * ward_spawn, ward_worker_stop, ward_worker_cycle, ward_worker_restart,
 * ward_worker_wait_ready, ward_host_dispatch and the blocking calls
 * (ward_request, ward_request_ex, ward_ping, ward_call_wait, the JSON
 * requests, ward_doctor, ward_pool_new, ward_pool_request,
 * ward_pool_replace) return WARD_EINVAL at once, and ward_host_free does
 * nothing. What does not wait is allowed: ward_spawn_start, the
 * ward_worker_*_begin forms, ward_worker_free (the handle is then released
 * later), ward_call_start, ward_call_cancel, ward_call_free, the
 * accessors, ward_worker_info and ward_worker_logs; ward_notify too, but
 * it blocks while the worker does not read. Progress, row and diagnostic
 * callbacks of a blocking call run on the thread that made the call,
 * inside that call (api.md 2).
 *
 * Processes
 * ---------
 * On Linux ward never installs a signal handler. Worker exits are observed
 * through pidfds (where the kernel has none, or under valgrind, by looking
 * every 5 ms; WARD_NO_PIDFD=1 in the host's environment forces that), so a
 * program's own SIGCHLD handling is not disturbed. The portable POSIX
 * backend (macOS, the BSDs; docs/platforms.md) has no pidfds: the first
 * ward_host_new installs a SIGCHLD handler (SA_RESTART | SA_NOCLDSTOP)
 * that calls the program's own handler after its work if there was one
 * (chained), and replaces SIG_IGN (which would reap workers unasked); a
 * handler the program installs later must call the one it replaces, and
 * SIGCHLD must stay unblocked in some thread. Either way a program must
 * not reap children it did not start: waitpid(-1, ...) would steal the exit
 * status of a worker (then reported as exited, exit_code -1, signal 0), or
 * reap the host's guard process (which then no longer kills the workers
 * should the host die). Every descriptor ward opens is close-on-exec, and
 * a worker inherits no descriptor of the host except its own channel and
 * its output pipes. The host's own WARD_* variables are never passed on to
 * a worker. It is not safe to fork() a process that has a live ward_host
 * and keep using ward in the child; a child forked without exec keeps the
 * guard's pipe open, and the guard does not act while it lives.
 *
 * Structs and the ABI
 * -------------------
 * A struct you allocate and pass to ward, whether options ward reads
 * (ward_host_opts, ward_call_opts, ward_log_query, ward_pool_opts,
 * ward_replace_opts, ward_sandbox, ward_ext_host_opts) or figures ward fills (ward_info,
 * ward_pool_stats, ward_summary, ward_class_info), starts
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
 * struct_size bigger than the library's (a newer header) is fine: the
 * library uses its own fields and leaves the rest alone. A struct_size
 * too small to hold the struct's first field (0, say: a struct set to {0}
 * rather than started from its _INIT macro) fails with WARD_EINVAL,
 * nothing read or written, and a ward_last_error() naming the struct.
 *
 * Structs that ward allocates and you only read (ward_event,
 * ward_server_drop and ward_ext_event, passed to callbacks;
 * ward_doctor_report, and ward_ext_info, each behind its own pointer) carry no
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

/* An operating-system handle that ward hands out for a program to wait
 * on (ward_host_fd): a file descriptor on Linux, macOS and the BSDs, a
 * HANDLE on Windows. WARD_OS_HANDLE_ERROR is what a function returning
 * one gives on failure (a negative WARD_E* code on POSIX systems, as ward
 * returned before this type existed; NULL on Windows), with
 * ward_last_error() saying why. */
#if defined(_WIN32)
typedef void *ward_os_handle;
#define WARD_OS_HANDLE_ERROR ((ward_os_handle)0)
#else
typedef int ward_os_handle;
#define WARD_OS_HANDLE_ERROR WARD_EINVAL
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
 * remote error code in the range -1..-99 is one of these; -17..-99 are
 * reserved for later ones, and handlers fail with other values (never 0).
 * When each code is returned: the comment of each function; what each
 * means across the API: api.md 3.
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
  X(ESTALE,     -15, "session belongs to an earlier generation")                \
  X(EPERM,      -16, "permission denied")

enum {
  WARD_OK = 0,
#define WARD__ERRENUM(name, num, text) WARD_##name = (num),
  WARD_ERRNO_MAP(WARD__ERRENUM)
#undef WARD__ERRENUM
  WARD__ERR_LAST = -17
};

/* A static, human-readable text for an error code (never NULL): "success"
 * for 0, "unknown error" for a code not in the list. */
WARD_EXTERN const char *ward_strerror(int err);
/* The code's name without prefix, e.g. "ETIMEDOUT" (never NULL): "OK" for
 * 0, "EUNKNOWN" for a code not in the list. */
WARD_EXTERN const char *ward_err_name(int err);
/* The errno kept by the last WARD_ESYS or WARD_ESPAWN returned on this
 * thread (0 if none). On Windows it is the system's error code
 * (GetLastError) where a system call failed, an errno where the C library
 * did (ENOTSUP for a sandbox); ward_last_error's sentence says which in
 * words, the system's. */
WARD_EXTERN int ward_last_errno(void);
/* A thread-local sentence describing the last error a ward function
 * returned on this thread, with names and OS detail when known ("spawn 'x':
 * No such file or directory"). Read it right after the failing call: it is
 * valid until the next fallible ward call on the same thread
 * (ward_strerror, ward_err_name, the *_name functions and ward_last_errno
 * leave it alone), and a success does not clear it. Never NULL; empty when
 * there was none. Every outcome of a blocking call other than WARD_OK
 * writes it, remote ones included, with the method's name; the outcome of
 * an asynchronous call (passed to its `done`) does not, nor do most
 * WARD_ENOMEM and a ward_ctx_* send failing because the caller is gone:
 * print it as detail next to the code, never decide on it. */
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
 * These are the values the library uses; docs/api.md 4.10 quotes them, and
 * tests/test_defaults.c checks that it does.
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
#define WARD_SPARES_DEFAULT 0                     /* ward_spec_spares: none */
#define WARD_REPLACE_READY_MS_DEFAULT 10000       /* ward_replace_opts.ready_ms */
#define WARD_REPLACE_DRAIN_MS_DEFAULT 30000       /* ward_replace_opts.drain_ms */
#define WARD_POOL_MIN_WORKERS_DEFAULT 1           /* ward_pool_opts.min_workers */
#define WARD_POOL_MAX_WORKERS_DEFAULT 4           /* ward_pool_opts.max_workers */
#define WARD_POOL_IDLE_MS_DEFAULT 30000           /* ward_pool_opts.idle_ms */
#define WARD_POOL_SPARES_DEFAULT (-1)             /* ward_pool_opts.spares: the spec's */
#define WARD_ZEROCOPY_MIN_DEFAULT (1024 * 1024)   /* ward_spec_zerocopy, bytes (1 MiB) */

/* ---------------------------------------------------------------------
 * Opaque types
 * ------------------------------------------------------------------- */
typedef struct ward_host ward_host;
typedef struct ward_spec ward_spec;
typedef struct ward_worker ward_worker;
typedef struct ward_msg ward_msg;
typedef struct ward_client ward_client;
typedef struct ward_ctx ward_ctx;
/* One field of a log record (NUL-terminated strings; see "Log records"
 * below). Travels in arrays: its layout never changes. */
typedef struct ward_log_field {
  const char *key;
  const char *value;
} ward_log_field;

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
  WARD_EV_LOG,         /* a captured line or a log record (detail = the text,
                          stream, seq; level, call_id, fields), if
                          ward_spec_log_events asked for them */
  WARD_EV_GROUP_GAVE_UP, /* the worker's group reached its restart limit: every
                            member is failed (worker: the member whose failure
                            it was; group: the group's name; reason) */
  WARD_EV_SPAWN_FAILED,  /* a process of a started worker could not be started
                            (error: WARD_ESPAWN, WARD_EPERM...; detail: why, as
                            ward_last_error() says it; exit_code 127, as the
                            restart policy counts it); RESTARTING or GAVE_UP
                            follows */
  WARD_EV_PAUSED,        /* ward_worker_pause froze the process and all it
                            started */
  WARD_EV_RESUMED        /* the pause is over: ward_worker_resume, or the
                            process is on its way out (stopped, killed,
                            exited), which ends a pause first */
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
  WARD_REASON_GROUP,           /* its supervision group restarted or gave up */
  WARD_REASON_OOM_KILLED       /* the kernel killed it for its tree's memory limit
                                  (ward_spec_tree_limits: its cgroup's
                                  memory.events counted an OOM kill) */
} ward_reason;

/* The name of a stop outcome, e.g. "terminated". These name functions
 * (and ward_state_name, ward_drop_reason_name) return a static string,
 * never NULL, "unknown" for a value they do not know. */
WARD_EXTERN const char *ward_stop_outcome_name(int outcome);
/* The name of a reason, e.g. "crashed", "request-timeout". */
WARD_EXTERN const char *ward_reason_name(int reason);
/* The name of an event type, e.g. "exited", "gave-up", "log". */
WARD_EXTERN const char *ward_event_name(int type);

/* Allocated by ward and passed to the callback: it carries no size and
 * grows only at its end (see "Structs and the ABI"). Fields that do not
 * apply to the event's type are 0 or NULL. */
typedef struct ward_event {
  int type;              /* ward_event_type */
  ward_worker *worker;   /* the worker's handle; valid during the callback (it
                            may be one a failed ward_spawn is about to discard:
                            match events to handles by worker_id) */
  const char *name;      /* the spec's name */
  uint64_t worker_id;    /* unique within the host, never reused */
  int pid;               /* the process concerned (for LOG, the one that
                            wrote the line or record, whichever handle
                            read it); 0 for RESTARTING, GAVE_UP, STOPPED */
  uint32_t generation;   /* 1 for the first start, +1 per new process;
                            RESTARTING, GAVE_UP: the one that ended; LOG: the
                            one that wrote the line */
  int exit_code;         /* EXITED: exit status, or -1 if killed by a signal */
  int signal;            /* EXITED: the terminating signal, or 0 */
  int reason;            /* EXITED, RESTARTING, GAVE_UP: ward_reason, why the
                            process ended */
  int error;             /* ERROR: WARD_EPROTO or WARD_ETOOBIG */
  const char *detail;    /* EXITED ("killed by signal 6 (crashed)"; for a
                            process that ended before it was ready, followed
                            by "; last on stderr: " and its last lines there,
                            up to 3, joined by " | "), ERROR: a sentence for
                            humans; LOG: the line; else NULL */
  int attempt;           /* RESTARTING: consecutive failures (0 for a planned
                            replacement); UNHEALTHY: misses */
  int delay_ms;          /* RESTARTING: how long until the new process starts
                            (0: at once) */
  int outcome;           /* STOPPED: ward_stop_outcome */
  int stream;            /* LOG: WARD_LOG_STDOUT, WARD_LOG_STDERR or WARD_LOG_RECORD */
  uint64_t seq;          /* LOG: the line's sequence number */
  const char *group;     /* the worker's supervision group (ward_group), or NULL */
  int proc_class;        /* the spec's ward_class */
  /* LOG events of records (stream WARD_LOG_RECORD; detail = the message): */
  int level;                    /* WARD_LEVEL_*; 0 for a captured line */
  uint32_t call_id;             /* the call it was sent for (ward_call_id), or 0 */
  const ward_log_field *fields; /* its fields, or NULL */
  size_t nfields;
  int log_flags;                /* LOG: the line's WARD_LOG_* flags */
} ward_event;

/* Runs on the host's I/O thread, one event at a time, in the order they
 * happened for each worker (api.md 7 has the order). `ev` and its strings
 * are valid only during the call. Events are asynchronous to calls: when a
 * worker dies mid-call, the call may return WARD_ECRASHED before or after
 * the EXITED event runs. */
typedef void (*ward_event_cb)(const ward_event *ev, void *ud);

/* ---------------------------------------------------------------------
 * Host
 * ------------------------------------------------------------------- */
typedef struct ward_host_opts {
  uint32_t struct_size;   /* sizeof(ward_host_opts) as compiled: the _INIT macro */
  ward_event_cb on_event; /* lifecycle events, or NULL */
  void *event_ud;         /* passed to on_event */
  uint32_t max_frame;     /* largest payload accepted from a worker (its
                             HELLO included), sent to it in the handshake;
                             0 = WARD_MAX_FRAME_DEFAULT */
  int external_loop;      /* 1: no I/O thread of ward's own; the program
                             runs it (ward_host_fd, ward_host_dispatch) */
  const char *cgroup;     /* Linux: the cgroup v2 directory under which each
                             worker process gets a cgroup of its own (an
                             absolute path, or one relative to the unified
                             hierarchy's mount); NULL: the host's own cgroup
                             where it may create cgroups in it (delegated,
                             or root). Copied. api.md 4.9 */
  int no_cgroup;          /* 1: no cgroups, process groups alone (as where
                             none can be had; for tests and comparisons) */
} ward_host_opts;
#define WARD_HOST_OPTS_INIT {(uint32_t)sizeof(ward_host_opts), NULL, NULL, 0, 0, NULL, 0}

/* Fills `opts`, a struct of `size` bytes as the caller declared it, with
 * the defaults (WARD_HOST_OPTS_INIT; bytes past the library's own struct
 * are zeroed) and sets its struct_size to `size`: for callers that cannot
 * use the macro. Writes nothing past `size`. Errors: WARD_EINVAL (NULL, or
 * `size` too small for the first field, or over UINT32_MAX). Every struct
 * that carries a size has the same function. */
WARD_EXTERN int ward_host_opts_init(ward_host_opts *opts, size_t size);

/* Creates a host, its guard process (a small child that kills every
 * worker's process group, and removes their data directories, should the
 * host die without stopping them, even by SIGKILL: api.md 4.9) and its I/O
 * thread, and takes five descriptors low in the table through which it
 * hands new processes theirs (a start then costs nothing for descriptors
 * opened after the host). `opts` may be NULL; it is copied (its first
 * struct_size bytes). Errors: WARD_EINVAL (also a bad opts->struct_size),
 * WARD_ENOMEM, WARD_ESYS (also: the guard could not be started). */
WARD_EXTERN int ward_host_new(ward_host **out, const ward_host_opts *opts);

/* Event-loop integration (a host created with external_loop = 1).
 *
 * Programs that own an event loop (GTK, Qt, libuv, a game loop) run ward
 * without a thread of its own: they watch one descriptor and call
 * ward_host_dispatch when it is readable. Every callback (events, host
 * handlers, asynchronous calls and their rows) then runs on the thread
 * that drives the loop, inside ward_host_dispatch. Blocking calls still
 * work: one that must wait for the loop (ward_spawn, a call during a
 * restart, ward_worker_stop...) drives it itself while it waits (in
 * slices of at most 100 ms, unless another thread is driving it), so
 * callbacks may also run inside that call, on its thread; so may a call
 * reading its reply that meets work for the loop (a request for a host
 * handler). Nothing happens while no one runs the loop: no event, no
 * timer, no restart, and the workers' output is not read (a worker whose
 * pipe is full blocks in write). Processes are started by whichever
 * thread runs the loop, which may end before the host: so the workers get
 * no WARD_PPID and set no death signal (api.md 2.5).
 *
 * ward_host_fd returns a descriptor (a ward_os_handle) that becomes
 * readable whenever the host has work, timers included; the same for the
 * host's life. Watch it for reading (poll, epoll, a toolkit's watcher);
 * never read or close it. For a threaded host, WARD_OS_HANDLE_ERROR
 * (WARD_EINVAL on POSIX systems). */
WARD_EXTERN ward_os_handle ward_host_fd(const ward_host *host);
/* Does the host's pending work, one turn of the loop: processes due to
 * start, ready descriptors (up to 64), due timers, and the callbacks they
 * lead to; first waiting up to `timeout_ms` for some (0: do not wait, what
 * to pass when the descriptor is readable; negative: until there is some).
 * If the descriptor is still readable afterwards, dispatch again. Returns
 * 0, or WARD_EINVAL (a threaded host, or called from a ward callback). If
 * another thread is driving the loop at that moment, returns 0 at once. */
WARD_EXTERN int ward_host_dispatch(ward_host *host, int timeout_ms);

/* Told of each process ward_host_reap_orphans reaped: its pid, and its
 * exit code (-1 if a signal ended it) or the signal (0 if it exited). */
typedef void (*ward_orphan_fn)(int pid, int code, int sig, void *ud);
/* For a supervisor that is PID 1 (in a container) or a child subreaper
 * (PR_SET_CHILD_SUBREAPER on Linux): processes it never started become
 * its children when their parent dies first (what a worker double-forked,
 * say), and nobody else will reap them. This reaps every child process of
 * the program that has ended and that `host` did not start, and tells
 * `fn` (may be NULL) of each; the host's own processes (its workers and
 * its guard's exit, which it still reaps itself) are left alone, so their
 * exit statuses reach the host as always. Call it when SIGCHLD arrives
 * and after each turn of the host's loop: it never waits, and it stops at
 * an ended process of the host's, which the loop reaps on its next turn
 * (then the next call gets past it). Children of the program's other
 * hosts, or that it waits for itself, would be reaped too: this is for a
 * program with one host, that leaves every other child to it. Returns how
 * many it reaped (0 on Windows, which has no zombies), or WARD_EINVAL
 * (NULL host). Any thread, callbacks included. */
WARD_EXTERN int ward_host_reap_orphans(ward_host *host, ward_orphan_fn fn, void *ud);

/* Stops every worker still running, in reverse start order, each as
 * ward_worker_stop(w, -1) would (no restart follows), reaps them, delivers
 * the events left (each worker's STOPPED among them; with an external loop
 * it runs the loop itself), releases every worker handle left (their data
 * directories go unless kept), ends the guard and frees the host; after it
 * returns no callback runs. No call may be in flight on any of its
 * workers, and every deferred ctx must have been ended. It frees a pool's
 * workers but not the pool: ward_pool_free first. From a ward callback it
 * returns at once and does nothing. */
WARD_EXTERN void ward_host_free(ward_host *host);

/* ---------------------------------------------------------------------
 * Handlers (both sides)
 *
 * A handler serves one incoming call or notification. It ends the call with
 * ward_ctx_reply() or ward_ctx_fail(); a handler that returns without doing
 * either has failed, and its non-zero return value is the remote error code
 * (message "handler failed"; a return of 0 without a reply fails the call
 * with code -1, "handler returned without replying"). Once the call has
 * ended the return value is ignored. A failure with WARD_ENOMETHOD (-11)
 * reaches the caller as WARD_ENOMETHOD; any other as WARD_EREMOTE with the
 * code (never fail with 0: the caller could not tell it from a reply's).
 * For a notification there is no one to reply to: reply and fail are
 * accepted and discarded. `data` is valid only until the handler returns,
 * and is not NUL-terminated.
 * ------------------------------------------------------------------- */
typedef int (*ward_handler)(ward_ctx *ctx, const void *data, size_t len, void *ud);

/* Registers `fn` for calls and notifications of `method` that workers make
 * to the host, at any time, also while workers run. Host handlers run on
 * the host's I/O thread, one at a time, in the order the messages arrived,
 * across all workers; they must not block for long (no blocking
 * ward_request from inside one; ward_ctx_defer for slow answers), and
 * ward_ctx_worker tells which worker called. Registering a method again
 * replaces its handler; none is ever removed. A request for a method with
 * no handler gets WARD_ENOMETHOD; such a notification is dropped.
 * Errors: WARD_EINVAL (NULL fn, empty or over-long method), WARD_ENOMEM. */
WARD_EXTERN int ward_host_handle(ward_host *host, const char *method, ward_handler fn,
                                 void *ud);

/* ---------------------------------------------------------------------
 * Spec: how to start a worker. A spec is a plain value: ward_spawn copies
 * what it needs, so one spec may start many workers and be freed after;
 * changing it later does not change workers already started. A spec is
 * not safe to modify from two threads at once. Every setter returns
 * WARD_EINVAL for a NULL spec, and for the values its comment rules out.
 * ------------------------------------------------------------------- */
enum {
  WARD_TRANSPORT_INHERIT = 0, /* a socketpair end inherited as WARD_FD (default) */
  WARD_TRANSPORT_SOCKET = 1   /* a Unix socket in a private 0700 directory, named in
                                 WARD_SOCKET, with a one-time WARD_TOKEN and a
                                 peer-credential check: for workers started
                                 through wrappers that close inherited fds */
};

/* `name` (1..255 bytes) identifies the worker in events and logs;
 * `executable` is a path, or a bare name looked up in the host's PATH, and
 * is argv[0] as given. Every setting starts at its default (above).
 * Errors: WARD_EINVAL (bad name, NULL or empty executable), WARD_ENOMEM. */
WARD_EXTERN int ward_spec_new(ward_spec **out, const char *name, const char *executable);
WARD_EXTERN void ward_spec_free(ward_spec *spec);
/* Appends one argument (argv[1], argv[2], ...). argv[0] is the executable.
 * Errors: WARD_EINVAL (NULL arg), WARD_ENOMEM. */
WARD_EXTERN int ward_spec_arg(ward_spec *spec, const char *arg);
/* Sets one environment variable for the worker, on top of the host's
 * environment as it is when each process starts; the last call for a key
 * wins. A NULL value removes the variable. Errors: WARD_EINVAL (an empty
 * key, one holding '=', or one starting with "WARD_", which are ward's
 * own), WARD_ENOMEM. */
WARD_EXTERN int ward_spec_env(ward_spec *spec, const char *key, const char *value);
/* Working directory of the worker (default: the host's); a relative
 * executable path is then taken from it. Errors: WARD_EINVAL (NULL dir),
 * WARD_ENOMEM. */
WARD_EXTERN int ward_spec_cwd(ward_spec *spec, const char *dir);
/* WARD_TRANSPORT_INHERIT or WARD_TRANSPORT_SOCKET (a new socket and token
 * for every process); WARD_EINVAL otherwise. */
WARD_EXTERN int ward_spec_transport(ward_spec *spec, int transport);
/* How frames travel once a worker is connected (the channel above stays
 * for the handshake and as the wake-up of last resort):
 * WARD_FRAMES_AUTO (the default): through two rings in memory shared with
 * the worker when both sides support it (Linux, and a worker library that
 * offers it in its HELLO: the C library does, see docs/protocol.md), the
 * socket otherwise; the environment variable WARD_FRAMES, read by the
 * host at each handshake, can turn it to "socket" (or "shm", the same as
 * unset) for every spec left on AUTO. WARD_FRAMES_SOCKET: always the
 * socket. WARD_FRAMES_SHM: the shared memory, required: a worker that does
 * not offer it is refused at its handshake (a GOODBYE, then the start
 * fails as any refused handshake does). Handlers and callers see no
 * difference, except that with the rings no payload travels without a
 * copy (ward_spec_zerocopy is not agreed then). Errors: WARD_EINVAL (another value, or WARD_FRAMES_SHM on a
 * backend without shared memory: posix, win). */
enum {
  WARD_FRAMES_AUTO = 0,
  WARD_FRAMES_SOCKET = 1,
  WARD_FRAMES_SHM = 2
};
WARD_EXTERN int ward_spec_frames(ward_spec *spec, int frames);
/* Runs the worker's processes as the user `uid`, in the group `gid`: in
 * each new process, before it runs the executable, its supplementary
 * groups become those of the user's name as the system's group database
 * gives them, with `gid` (as initgroups would; `gid` alone when `uid` has
 * no name), then its group and its user become `gid` and `uid` (real,
 * effective and saved alike). The groups are looked up here, once (the
 * lookup is not safe to make in a new process before it execs): call this
 * again after they change. Switching needs the privilege to (root, or
 * CAP_SETUID and CAP_SETGID): without it each start fails with WARD_EPERM
 * (ward_last_error() names the user). The worker's data directory is given
 * to the user. The user must reach the working directory and the
 * executable; a worker of another user cannot connect to the host's
 * private socket, so the spec keeps WARD_TRANSPORT_INHERIT (a start with
 * WARD_TRANSPORT_SOCKET fails with WARD_EINVAL). On Windows, which has no
 * such ids, a start fails with WARD_ESPAWN (errno ENOTSUP). Errors:
 * WARD_EINVAL (NULL spec), WARD_ENOMEM, WARD_ESYS (the group lookup
 * failed). */
WARD_EXTERN int ward_spec_user(ward_spec *spec, uint32_t uid, uint32_t gid);
/* The file-mode creation mask (umask) of the worker's processes, 0..0777,
 * set in each new process before it runs the executable; -1 (the
 * default): the host's, inherited. On Windows a start with one fails with
 * WARD_ESPAWN (errno ENOTSUP). WARD_EINVAL for another value. */
WARD_EXTERN int ward_spec_umask(ward_spec *spec, int mask);
/* How long a new process has to complete its handshake, from its start
 * (default WARD_STARTUP_TIMEOUT_MS_DEFAULT). Past it the process is killed
 * (reason STARTUP_TIMEOUT): ward_spawn fails with WARD_EHANDSHAKE, or, for
 * a later process, the restart policy applies. WARD_EINVAL for ms < 0. */
WARD_EXTERN int ward_spec_startup_timeout(ward_spec *spec, int ms);
/* The deadline of calls and pings made with a negative timeout, and how
 * long ward_notify waits (default WARD_REQUEST_TIMEOUT_MS_DEFAULT).
 * WARD_EINVAL for ms < 0. */
WARD_EXTERN int ward_spec_request_timeout(ward_spec *spec, int ms);
/* How long ward_worker_stop waits at each step when given a negative grace
 * (and so ward_worker_free and ward_host_free), and how long a process
 * retired by a planned replacement or an idle timeout has after its
 * goodbye before SIGKILL (default WARD_STOP_GRACE_MS_DEFAULT). WARD_EINVAL
 * for ms < 0. */
WARD_EXTERN int ward_spec_stop_grace(ward_spec *spec, int ms);
/* The signal a stop sends when asking is not enough (default
 * WARD_STOP_SIGNAL_DEFAULT):
 * a ward worker gets a goodbye first, then this signal after the grace; a
 * plain process (below) gets this signal at once. SIGKILL follows after
 * the grace either way. WARD_EINVAL for what is not a signal number. */
WARD_EXTERN int ward_spec_stop_signal(ward_spec *spec, int sig);

/* ---------------------------------------------------------------------
 * Readiness and plain processes
 *
 * By default a worker is ready when it has done the ward handshake. A
 * program that does not link ward (a plain process) can be supervised
 * too; it gets no channel (no WARD_FD or WARD_SOCKET; WARD_NAME,
 * WARD_WORKER_ID and WARD_DATA_DIR are set), takes no calls (ward_request,
 * ward_notify, ward_ping and ward_call_start fail with WARD_EINVAL at
 * once), and is ready:
 *   - WARD_READY_AFTER: once it has stayed up `arg` ms (>= 0; 0: at once);
 *     an exit before is a failed start;
 *   - WARD_READY_NOTIFY: once it writes a newline on descriptor `arg`
 *     (3..1023), the write end of a pipe ward opens for it (the s6
 *     convention; bytes without a newline, or closing it, do not count).
 *     It must do so within the startup timeout, or it is killed
 *     (STARTUP_TIMEOUT). On Windows, where a handle cannot be put at a
 *     number, `arg` is checked but not used: the write end is an
 *     inherited handle whose value is in the environment variable
 *     WARD_NOTIFY_HANDLE.
 * Everything else (restart policy, memory limits, output capture, data
 * directory, events, information) works the same; a stop or a planned
 * replacement sends the stop signal at once instead of a goodbye (the stop
 * is GRACEFUL if it ends within the grace). Heartbeats, which need the
 * channel, are not sent. WARD_EINVAL for another mode or an `arg` out of
 * range.
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
 * WARD_EINVAL, WARD_ENOMEM and WARD_ECLOSED; ward_worker_restart behaves
 * the same. Off by default: a supervisor of long-running services wants it
 * on (`ward run` sets it). */
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
 * ward_spec_wait_restart). api.md 4 tells the whole of it: the states,
 * the decision, the reasons, calls during a restart.
 * ------------------------------------------------------------------- */
enum {
  WARD_RESTART_NEVER = 0,      /* the worker stays exited */
  WARD_RESTART_ON_FAILURE = 1, /* restart unless it exited with code 0
                                  (WARD_RESTART_DEFAULT) */
  WARD_RESTART_ALWAYS = 2      /* restart whatever the exit */
};
WARD_EXTERN int ward_spec_restart(ward_spec *spec, int mode);
/* At most `max_restarts` (0..256) restarts after failures within any
 * `period_ms` (>= 0) (defaults WARD_INTENSITY_DEFAULT in
 * WARD_INTENSITY_PERIOD_MS_DEFAULT); the next one gives up. 0 restarts
 * gives up at the first failure; a period of 0 (with max_restarts > 0)
 * never gives up. Planned
 * replacements and idle timeouts do not count. */
WARD_EXTERN int ward_spec_intensity(ward_spec *spec, int max_restarts, int period_ms);
/* Delay after a failure (defaults: WARD_BACKOFF_*_DEFAULT): `initial_ms`
 * for the first of a run of failures, times `multiplier_pct` / 100 (>= 100)
 * for each further one, capped at `max_ms`; a process that had been ready
 * for `reset_after_ms` before it ended starts a new run. Delays >= 0. */
WARD_EXTERN int ward_spec_backoff(ward_spec *spec, int initial_ms, int max_ms,
                                  int multiplier_pct, int reset_after_ms);
/* Pings the worker every `interval_ms` (>= 0) while it is ready or
 * draining; at most one is outstanding, and after `misses` (>= 1) ticks
 * in a row with it unanswered the worker is unhealthy (event) and killed
 * (reason UNHEALTHY; its calls in flight end WARD_ECRASHED). A worker
 * wedged in a handler that never reaches a boundary (progress, row,
 * ward_ctx_cancelled), stopped (SIGSTOP) or spinning is replaced within
 * interval * (misses + 1) plus a little. Heartbeats are not calls: not
 * activity for the idle timeout, not in calls_in_flight. Off by default
 * (interval 0; misses WARD_HEARTBEAT_MISSES_DEFAULT). */
WARD_EXTERN int ward_spec_heartbeat(ward_spec *spec, int interval_ms, int misses);
/* When a request with a timeout other than 0, blocking or asynchronous,
 * passes its deadline after it got the worker's connection, kill the
 * worker right after the CANCEL sent for the call (SIGKILL, reason
 * REQUEST_TIMEOUT): its state is unknown. Other calls in flight on it end
 * WARD_ECRASHED, and the restart policy applies. Pings, notifications,
 * calls still waiting for a restart and a worker's calls to the host kill
 * nothing. Off: the worker goes on with the CANCEL, and what it still
 * sends for the call is discarded. Default: WARD_KILL_ON_TIMEOUT_DEFAULT
 * (on). */
WARD_EXTERN int ward_spec_kill_on_timeout(ward_spec *spec, int on);
/* Replace the process after it has answered `n` requests (a reply, a
 * remote error or no-such-method; not pings, notifications or timed-out
 * calls) (0: never, the default). The replacement waits for the calls in
 * flight (reason MAX_REQUESTS). */
WARD_EXTERN int ward_spec_max_requests(ward_spec *spec, uint64_t n);
/* Memory limits on the worker process's resident set (not its children's),
 * sampled every `sample_ms` (>= 0; 0: WARD_MEMORY_SAMPLE_MS_DEFAULT) while
 * it is ready or draining: over `soft_bytes`, the process is replaced once
 * its calls in flight are done; over `hard_bytes`, it is killed at once
 * (its calls end WARD_ECRASHED) and a new one started (reason MEMORY_LIMIT
 * either way; neither counts against the intensity). 0 disables a limit. */
WARD_EXTERN int ward_spec_memory_limit(ward_spec *spec, uint64_t soft_bytes,
                                       uint64_t hard_bytes, int sample_ms);
/* Limits on the worker process's whole tree (it and all it starts),
 * written to its cgroup where the controller is delegated to the host's
 * (api.md 4.9): `memory_max` (bytes, memory.max: past it the kernel kills
 * a process of the tree; the worker's process so killed ends with reason
 * OOM_KILLED), `memory_high` (bytes, memory.high: past it the tree is
 * throttled and reclaimed), `pids_max` (processes and threads, pids.max:
 * a fork past it fails) and `cpu_percent` (of one CPU, cpu.max: 50 is half
 * a CPU, 200 two; at most 100000). 0 leaves a limit out (the default).
 * Where the memory controller is not delegated (no cgroup, or no
 * controller: ward_info.tree_memory_bytes is WARD_UNKNOWN then), the
 * memory limits fall back to the sampling of ward_spec_memory_limit, on
 * the worker process's resident set alone: `memory_max` as its hard limit
 * and `memory_high` as its soft one, where that call set none. Without
 * the pids or cpu controller those limits are not enforced. Errors:
 * WARD_EINVAL (NULL, cpu_percent over 100000). */
WARD_EXTERN int ward_spec_tree_limits(ward_spec *spec, uint64_t memory_max, uint64_t memory_high,
                                      uint64_t pids_max, uint32_t cpu_percent);
/* The largest payload the worker should accept (not 0), passed to it as
 * WARD_MAX_FRAME. A libward worker announces it in its handshake (without
 * it, WARD_MAX_FRAME_DEFAULT, 64 MiB); the host goes by what the worker
 * announced and refuses larger requests and notifications with
 * WARD_ETOOBIG before sending. The host's own limit is
 * ward_host_opts.max_frame. */
WARD_EXTERN int ward_spec_max_frame(ward_spec *spec, uint32_t bytes);
/* Payloads of `min_bytes` or more that are in shared memory already
 * (built in place with ward_payload_new, or received so and passed on)
 * travel as they are, without a copy, both ways (requests, replies;
 * docs/protocol.md 3.5, api.md 6.4), where the backend has sealed memfds
 * (linux) and the worker offered it in its handshake (a libward worker
 * does; other workers keep getting ordinary frames), and its frames
 * travel on the socket: a worker whose frames are in shared memory
 * (ward_spec_frames) gets its payloads copied into the rings (protocol.md
 * 17.5). Other payloads, and smaller ones, go as other frames do. The receiver's max_frame still
 * bounds them. Default WARD_ZEROCOPY_MIN_DEFAULT; 0: never. WARD_EINVAL
 * for 1..4095 (under a page a copy costs less). */
WARD_EXTERN int ward_spec_zerocopy(ward_spec *spec, uint32_t min_bytes);
/* How long a worker may take to end a call after ward_call_cancel (its
 * terminal frame must arrive within it) before it is killed (SIGKILL,
 * reason CANCELLED) and the restart policy applies; enforced while it is
 * ready or draining, not for a call whose deadline passed. Default
 * WARD_CANCEL_GRACE_MS_DEFAULT; WARD_EINVAL for ms < 0. */
WARD_EXTERN int ward_spec_cancel_grace(ward_spec *spec, int ms);
/* End a process that has had no call for `ms` (>= 0; 0: never, the
 * default): none in flight, and `ms` since the last request, notification
 * or ping through its handle ended (or since it became ready); heartbeats
 * do not count. It is drained, told goodbye and killed after the stop
 * grace (reason IDLE); the worker then has no process (state IDLE) until
 * the next call starts one. Not a restart: not counted against the
 * intensity, the backoff or ward_info.restarts. */
WARD_EXTERN int ward_spec_idle_timeout(ward_spec *spec, int ms);
/* Calls made while the worker is restarting (draining, being replaced,
 * backing off, starting) or idle wait for the new process within their
 * deadline (1), or fail at once with WARD_ECLOSED (0; an idle worker's new
 * process is started all the same). Default: WARD_WAIT_RESTART_DEFAULT
 * (wait). On the host's I/O thread calls never wait. */
WARD_EXTERN int ward_spec_wait_restart(ward_spec *spec, int on);

/* ---------------------------------------------------------------------
 * Process classes
 *
 * A spec has a class, which brings defaults for the kind of process it
 * starts: `worker` (the default: the settings above), `ui` (restarted
 * whatever the exit, watched by heartbeats), `media` (higher CPU and I/O
 * priority), `extension` (someone else's code: lower priority, a memory
 * limit, sandboxed, started lazily and ended when idle). The values are
 * one table in the library, read with ward_class_defaults; docs/api.md
 * 4.12 quotes it (tests/test_classes.c checks that it does).
 *
 * ward_spec_class applies the class's values to every setting it covers
 * that was not set explicitly on the spec, before or after: an explicit
 * setter (ward_spec_restart, ward_spec_intensity, ward_spec_heartbeat,
 * ward_spec_memory_limit, ward_spec_idle_timeout, ward_spec_priority,
 * ward_spec_lazy, ward_spec_sandbox) wins whatever the order of the
 * calls. Changing the class again applies the new class's values to the
 * same settings. A sandboxed class gives the spec the sandbox's defaults
 * (WARD_SANDBOX_INIT) with best_effort on: what this machine cannot
 * apply is left out, and ward_info.sandbox says what is in force; a
 * program that wants more, less (ward_spec_sandbox(spec, NULL): none) or
 * a refusal when it cannot be had sets its own.
 *
 * Priorities are applied in the new process before it runs the
 * executable: `nice` is added to the host's nice value (setpriority; a
 * negative increment needs CAP_SYS_NICE or an RLIMIT_NICE that allows it,
 * and is left out where the process may not have it), and `io_level` sets
 * the best-effort I/O priority, 0 (highest) .. 7 (ioprio_set, Linux
 * only). The portable POSIX backend applies the nice value alone, from
 * the host right after the start (docs/platforms.md).
 * ------------------------------------------------------------------- */
typedef enum {
  WARD_CLASS_WORKER = 0, /* (default) */
  WARD_CLASS_UI = 1,
  WARD_CLASS_MEDIA = 2,
  WARD_CLASS_EXTENSION = 3
} ward_class;
#define WARD_CLASS_COUNT 4
#define WARD_IO_INHERIT (-1) /* io_level: the host's I/O priority, unchanged */

/* The defaults one class brings, as ward_class_defaults fills them. */
typedef struct ward_class_info {
  uint32_t struct_size;   /* sizeof(ward_class_info) as compiled: the _INIT macro */
  int restart;            /* WARD_RESTART_* */
  int intensity;          /* restarts after failures ... */
  int period_ms;          /* ... within this period */
  int heartbeat_ms;       /* ping interval, 0: off */
  int heartbeat_misses;
  int nice;               /* added to the host's nice value */
  int io_level;           /* best-effort I/O priority 0..7, or WARD_IO_INHERIT */
  uint64_t memory_soft;   /* bytes, 0: none (ward_spec_memory_limit) */
  uint64_t memory_hard;
  int sandboxed;          /* 1: the sandbox's defaults, best effort */
  int lazy;               /* 1: ward_spawn starts no process; the first call does */
  int idle_ms;            /* ward_spec_idle_timeout, 0: never */
} ward_class_info;
#define WARD_CLASS_INFO_INIT \
  {(uint32_t)sizeof(ward_class_info), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
/* Like ward_host_opts_init, for a ward_class_info. */
WARD_EXTERN int ward_class_info_init(ward_class_info *info, size_t size);

/* Fills `out` (its first out->struct_size bytes) with the defaults of
 * class `cls`. Errors: WARD_EINVAL (NULL, a bad struct_size, or not a
 * ward_class). */
WARD_EXTERN int ward_class_defaults(ward_class_info *out, int cls);
/* The name of a class: "worker", "ui", "media" or "extension" ("unknown"
 * for another value). */
WARD_EXTERN const char *ward_class_name(int cls);
/* The class named `name` (as ward_class_name says it), or WARD_EINVAL. */
WARD_EXTERN int ward_class_from_name(const char *name);

/* Sets the spec's class and applies its defaults to the settings not set
 * explicitly (above). WARD_EINVAL for a value that is not a ward_class. */
WARD_EXTERN int ward_spec_class(ward_spec *spec, int cls);
/* The new process's priority: `nice` (-20..19) added to the host's nice
 * value, `io_level` 0..7 or WARD_IO_INHERIT (default: the class's; 0 and
 * WARD_IO_INHERIT for a worker). WARD_EINVAL out of range. */
WARD_EXTERN int ward_spec_priority(ward_spec *spec, int nice, int io_level);
/* With `on`, ward_spawn starts no process: the worker waits in state
 * IDLE and the first call, notification or ping starts one, as after an
 * idle timeout (ward_worker_wait_ready does not start it). Default: the
 * class's (off for a worker). */
WARD_EXTERN int ward_spec_lazy(ward_spec *spec, int on);
/* Keep `n` spare processes (0..WARD_MAX_SPARES; default
 * WARD_SPARES_DEFAULT, none) started and handshaken but not serving, so
 * that a new process of the worker needs no start: when its process
 * crashes or exits (and the restart policy says restart), is cycled or
 * recycled (max requests, memory), or when a call wakes an idle worker, a
 * ready spare takes over at once (no backoff either: the spare's own
 * restarts have theirs) and another is started in the background. The
 * restart policy counts a takeover after a failure as a restart.
 *
 * A spare is the spec's process exactly: the same executable, arguments,
 * environment (WARD_WORKER_ID is the worker's), data directory (the
 * worker's one), sandbox and limits; its WELCOME carries the generation
 * it would have if it took over next, and taking over makes it the
 * worker's next generation (SPAWNED, READY and RESTARTED events with its
 * pid; no event before that). A spare that ends while it waits is
 * started again (after the spec's backoff) without any event: callers
 * see nothing of it. ward_info.spares_ready and .spares_rss_bytes say
 * what is held and what it costs. Spares start once the worker's first
 * process is ready (a lazy worker's too), and stop with the worker (or
 * when it comes to rest: exited, failed). What a spare prints while it
 * waits is kept in a ring of its own (bounded by ward_spec_log_ring) and
 * joins the worker's log ring when it takes over, numbered after the
 * worker's lines, under its new generation, each with the time it was
 * read (and as LOG events then, with ward_spec_log_events); a spare that
 * never takes over takes its lines with it. A plain process's spares
 * work the same way. WARD_EINVAL for n > WARD_MAX_SPARES. */
WARD_EXTERN int ward_spec_spares(ward_spec *spec, unsigned n);
#define WARD_MAX_SPARES 8

/* ---------------------------------------------------------------------
 * Workers
 * ------------------------------------------------------------------- */

/* Starts the worker and returns once its handshake is done (or failed);
 * calls may be made at once (its SPAWNED and READY events may come a
 * little later). Its data directory is made first. The process is started
 * by the I/O thread (or the thread running the loop), in its own process
 * group (recorded with the guard), with stdin on /dev/null, stdout/stderr
 * as ward_spec_output says (captured by default), the channel (fd 3 in
 * inherit mode) and no other descriptor of the host, an empty signal mask
 * and the default disposition of the usual signals, and the environment
 * of docs/protocol.md section 2. Every later process of the worker starts
 * the same way, from the spec as copied now.
 * The restart policy applies only once the worker has started: if the
 * first start fails, *out is NULL and the handle is discarded, with its
 * log ring and data directory (what it printed is seen only in LOG events,
 * delivered before this returns, or on the host's stderr); the events of a
 * process that did start have been delivered. No process, zombie or
 * descriptor is left behind. Errors: WARD_ESPAWN (the executable is
 * missing or not executable, or the working directory cannot be entered,
 * which ward_last_error() says; the errno is in ward_last_errno()),
 * WARD_EPERM (the host may not switch to the user of ward_spec_user),
 * WARD_EHANDSHAKE (the worker exited,
 * broke the protocol or stayed silent past the startup timeout, spoke
 * another protocol version, gave a bad token, or missed a requirement of
 * the spec), WARD_EINVAL (also: the data directory's path is too long, or
 * a ward callback), WARD_ENOMEM, WARD_ESYS (also: the output pipes or the
 * data directory could not be made), WARD_ECLOSED (the host is shutting
 * down); ward_last_error() names the worker and the cause (for a worker
 * that exited before its handshake: its exit and what it last wrote on
 * stderr, when its output is captured, as "exited before the handshake
 * (code 127); last on stderr: ..."). The handle belongs to the host until
 * ward_worker_free(). */
WARD_EXTERN int ward_spawn(ward_worker **out, ward_host *host, const ward_spec *spec);

/* Starts the worker like ward_spawn, but returns its handle at once, with
 * the process on its way (state starting): a supervisor that must stay
 * responsive while a slow service comes up, or that starts many at once,
 * waits with ward_worker_wait_ready in slices of its choosing, and can
 * stop the worker meanwhile. Events and ward_worker_info tell how the start
 * goes. A first start that fails leaves the handle failed (or, with
 * ward_spec_supervise_start, goes through the restart policy), its log
 * ring kept, never freed: free it with ward_worker_free. Allowed in a ward
 * callback. Errors: WARD_EINVAL, WARD_ENOMEM, WARD_ECLOSED (the host is
 * shutting down). */
WARD_EXTERN int ward_spawn_start(ward_worker **out, ward_host *host, const ward_spec *spec);

/* Waits until the worker is ready, or has been since it was started (0;
 * it may have ended since, and the restart policy has it: see
 * ward_worker_info), or has come to rest without ever being ready: its
 * first start failed (the reason ward_spawn would give:
 * WARD_ESPAWN, WARD_EHANDSHAKE, with ward_last_error() saying why), the
 * policy gave up (WARD_EGAVEUP), it exited for good (WARD_ECRASHED), it was
 * stopped, also while this waited (WARD_ECLOSED); or `timeout_ms` passed
 * (WARD_ETIMEDOUT; negative: no limit). Not from a ward callback
 * (WARD_EINVAL). */
WARD_EXTERN int ward_worker_wait_ready(ward_worker *w, int timeout_ms);

/* Rows per stream in a summary: an array element, so its layout never
 * changes (see "Structs and the ABI"). */
typedef struct ward_stream_count {
  char name[WARD_MAX_NAME + 1];
  uint64_t rows;
  uint64_t bytes;
} ward_stream_count;

/* What a call produced besides its reply. A call zeroes it as soon as it
 * has accepted its options (one refused for them leaves it untouched; an
 * asynchronous one, once it has the worker's connection) and fills it
 * when it ends, whatever the outcome: before ward_request_ex returns, or
 * just before `done` runs. Start from WARD_SUMMARY_INIT; release with
 * ward_summary_clear, safe after any outcome. A summary from an older
 * header that stops before `streams` gets the figures it has room for. */
typedef struct ward_summary {
  uint32_t struct_size;       /* sizeof(ward_summary) as compiled: the _INIT macro */
  uint64_t rows;              /* rows received on all streams (those a
                                 cancellation dropped included) */
  uint64_t row_bytes;
  uint64_t progress;          /* progress reports consumed by the caller */
  uint64_t diagnostics;       /* diagnostics consumed by the caller */
  int64_t elapsed_us;         /* from just before the request was sent to the
                                 outcome */
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
 * progress the worker may send ahead of what the caller has consumed
 * (api.md 5; the exact rule: docs/protocol.md 7.6). */
#define WARD_WINDOW_DEFAULT (1024 * 1024)

/* Options of one call. Callbacks run on the calling thread, inside the call,
 * before it returns (for ward_call_start: on the I/O thread, before
 * `done`), in the order the worker sent them; they must not free the
 * worker. Rows are delivered live but are tentative: only a call that ends
 * WARD_OK commits them (buffer them, and use them once the call
 * succeeded). A struct_size too small, here or in the summary, fails the
 * call with WARD_EINVAL before anything is sent. */
struct ward_row; /* one row of a batch: see ward_ctx_rows */
typedef struct ward_call_opts {
  uint32_t struct_size; /* sizeof(ward_call_opts) as compiled: the _INIT macro */
  int timeout_ms;  /* deadline; negative = the spec's request timeout;
                      0 = do not wait */
  int encoding;    /* encoding tag of the request payload, a WARD_ENC_*
                      (WARD_ENC_JSON); another value: WARD_EINVAL */
  /* Progress reports the handler sent, in order. */
  void (*on_progress)(const void *data, size_t len, void *ud);
  /* Rows the handler emitted: `stream` is NUL-terminated, `seq` starts at
   * 1 per stream per call. Rows are tentative until the call succeeds. */
  void (*on_row)(const char *stream, uint64_t seq, const void *data, size_t len, void *ud);
  /* Diagnostics: level 0 debug .. 3 error, a short code ("" if none) and a
   * message, both NUL-terminated. */
  void (*on_diag)(int level, const char *code, const char *message, void *ud);
  void *ud;        /* passed to the callbacks */
  /* A session: nonzero pins the call to that generation of the worker
   * (see ward_worker_generation): unless the worker is ready in exactly
   * that generation, the call fails at once with WARD_ESTALE instead of
   * waiting or reaching another process. */
  uint32_t generation;
  /* Flow control: the worker may send this many bytes of rows and progress
   * (counted as whole frames: header, stream name, payload) ahead of the
   * callbacks; it blocks (and keeps answering pings) until they catch up.
   * A worker that ignores it is cut off (WARD_EPROTO). 0 =
   * WARD_WINDOW_DEFAULT; negative = no limit. */
  int window_bytes;
  /* Filled when the call ends, if not NULL (see ward_summary); its own
   * struct_size must be set too (WARD_SUMMARY_INIT). */
  ward_summary *summary;
  /* Rows in batches, instead of on_row (which is then not called): `n`
   * rows of one stream with the sequence numbers seq, seq+1, ...,
   * seq+n-1, in order; each row's data is followed by a NUL byte not
   * counted in its len. The array and the data are the library's, valid
   * until the callback returns. Rows that arrived together are handed
   * over together (up to 64 KiB of them), so a stream of small rows costs
   * one call and no allocation per row; rows over 4 KiB, or in shared
   * memory, come one per call. Flow control counts a batch once it is
   * handed over, as it counts rows one by one. Tentative like on_row. */
  void (*on_rows)(const char *stream, uint64_t seq, const struct ward_row *rows, size_t n,
                  void *ud);
} ward_call_opts;
#define WARD_CALL_OPTS_INIT \
  {(uint32_t)sizeof(ward_call_opts), -1, WARD_ENC_JSON, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL}
/* Like ward_host_opts_init, for a ward_call_opts. */
WARD_EXTERN int ward_call_opts_init(ward_call_opts *opts, size_t size);

/* Calls `method` with a payload (`data` may be NULL when `len` is 0) and
 * waits for its one outcome. *reply is set to NULL on entry. On WARD_OK,
 * *reply holds the reply (free it with ward_msg_free). On WARD_EREMOTE,
 * *reply holds the remote error (code, message, data). On any other error
 * *reply is NULL: WARD_ETIMEDOUT, WARD_ENOMETHOD, WARD_ECRASHED (the worker
 * died or cut the connection during the call, or it is exited),
 * WARD_EPROTO / WARD_ETOOBIG (the worker broke the protocol and was cut
 * off), WARD_EPROTO (a JSON-tagged payload it sent failed
 * ward_spec_validate_json), WARD_ETOOBIG (the request is over the worker's
 * limit; nothing was sent), WARD_ECLOSED (the worker is stopped or
 * stopping, or restarting or idle and the spec says not to wait),
 * WARD_EGAVEUP (the worker failed: restart limit), WARD_ESTALE (pinned to
 * a generation that is not the ready one), WARD_EINVAL (bad method name,
 * NULL data with a length, also a bad struct_size in the options or their
 * summary, an unknown encoding, a plain process, a ward callback),
 * WARD_ENOMEM. `reply` may be NULL when the caller does not want it.
 * Many calls may be in flight on one worker from many threads.
 *
 * One deadline covers the whole call: waiting for a new process if the
 * worker is restarting or idle (api.md 4.4), for socket space, and for
 * the outcome, time in the callbacks included. A call that passes it once
 * it has the worker's connection is given up: the worker is sent a CANCEL
 * (ward_ctx_cancelled), whatever it still sends for the call is
 * discarded, and, with kill-on-timeout (the default) and a timeout other
 * than 0, the worker is killed before this returns (ward_spec_kill_on_timeout).
 * With timeout 0 the request is sent only if the worker is ready and the
 * socket takes it at once, and the call returns WARD_ETIMEDOUT unless its
 * outcome was already there; it kills nothing, but is cancelled all the
 * same: use ward_notify to send work and forget it. */
WARD_EXTERN int ward_request(ward_msg **reply, ward_worker *w, const char *method,
                             const void *data, size_t len, int timeout_ms);
/* The same with options (progress, rows, diagnostics, encoding, window,
 * session, summary); `opts` may be NULL for the defaults
 * (WARD_CALL_OPTS_INIT): ward_request is this with a timeout. */
WARD_EXTERN int ward_request_ex(ward_msg **reply, ward_worker *w, const char *method,
                                const void *data, size_t len, const ward_call_opts *opts);

/* ---------------------------------------------------------------------
 * Asynchronous calls
 *
 * ward_call_start sends the request and returns; `done` then runs exactly
 * once, on the host's I/O thread, with the outcome (the same codes as
 * ward_request, or WARD_ECANCELED) and the reply (WARD_OK) or remote error
 * (WARD_EREMOTE), NULL otherwise, which it owns (ward_msg_free). If
 * ward_call_start fails, `done` never runs. Progress, row and diagnostic
 * callbacks of an asynchronous call run on the I/O thread too, before
 * `done`. The options are copied, not what they point to: `ud` and
 * `summary` must stay valid until `done` has run. The deadline
 * (opts->timeout_ms; negative: the spec's request timeout) is kept by the
 * host: when it passes, the worker gets a CANCEL and `done` runs with
 * WARD_ETIMEDOUT (then, as for ward_request, the worker may be killed;
 * timeout 0 ends the call at the loop's next turn and kills nothing).
 * Until `done` has run the call counts in calls_in_flight, and a planned
 * replacement waits for it. This is how to call a worker from a ward
 * callback.
 * ------------------------------------------------------------------- */
typedef struct ward_call ward_call;
typedef void (*ward_call_cb)(ward_call *call, int status, ward_msg *reply, void *ud);

/* `opts` may be NULL (WARD_CALL_OPTS_INIT). Errors as for ward_request,
 * before anything was sent (WARD_EINVAL also for a NULL `done`); *out is
 * then NULL. Like ward_request it waits for a restart or an idle worker's
 * new process, within the deadline, then until the socket takes the
 * request; on the I/O thread it never waits: what the socket does not
 * take is queued, and a worker without a ready process gives WARD_ECLOSED
 * at once. `done` may run before this returns, before *out is set: use
 * its `call` argument. */
WARD_EXTERN int ward_call_start(ward_call **out, ward_worker *w, const char *method,
                                const void *data, size_t len, const ward_call_opts *opts,
                                ward_call_cb done, void *ud);
/* Cancels: the call ends at once with WARD_ECANCELED (`done` runs with it
 * soon after, possibly before this returns, if it had not run yet; rows
 * and progress not yet delivered are dropped) and the worker is told
 * (ward_ctx_cancelled, and its next row or progress returns
 * WARD_ECANCELED). A worker that does not end the call within the spec's
 * cancel grace is killed and replaced (reason CANCELLED). Cancelling an
 * ended call does nothing. From any thread, the I/O thread included.
 * Returns WARD_OK (WARD_EINVAL for NULL). */
WARD_EXTERN int ward_call_cancel(ward_call *call);
/* Waits until `done` has run and returned (up to `timeout_ms`; negative:
 * forever; 0: only looks) and returns the call's outcome, again if called
 * again, or WARD_ETIMEDOUT if it has not ended (the same code as a call
 * that timed out: note the status in `done` if it matters). Not on the
 * I/O thread (WARD_EINVAL). It does not run an external loop: from the
 * loop's own thread it can only time out; take the outcome in `done`. */
WARD_EXTERN int ward_call_wait(ward_call *call, int timeout_ms);
/* Releases the handle, once, from any thread, `done` included (its `call`
 * argument). A call still running goes on (cancel it first if it should
 * not) and its `done` still runs; the memory goes after both. */
WARD_EXTERN void ward_call_free(ward_call *call);
/* The call's id on the wire (the REQUEST's id, non-zero): what a worker's
 * log records sent from its handler carry (ward_log_entry.call_id,
 * ward_log_query.call_id). An id is unique among the calls in flight on
 * one process of a worker only; it may be used again once the call has
 * ended. Any thread; 0 for NULL. */
WARD_EXTERN uint32_t ward_call_id(const ward_call *call);

/* Sends a notification (tagged JSON): no reply, no outcome beyond delivery.
 * Returns once the socket has taken the whole message, which blocks while
 * the worker is not reading (flow control: a ward worker stops reading
 * while 8 MiB wait for its handlers); or, when the socket was full a
 * moment ago and other frames wait for it already, once the message is
 * queued behind them (up to 64 KiB of small messages per worker; the I/O
 * thread sends them as soon as the socket has room): a burst then goes
 * out in few writes, and a lone notification still goes at once. A
 * queued one is lost if the process exits first, like one in the socket,
 * and also if the worker is stopped before the socket has taken it (a
 * stop does not wait for a worker that does not read).
 * Waits for a restart, or starts an
 * idle worker's new process, like a request (on the I/O thread: not,
 * WARD_ECLOSED at once); both waits share one deadline, the spec's request
 * timeout. Never kills the worker. A method the worker does not serve is
 * dropped there. Errors: WARD_ECLOSED, WARD_ECRASHED, WARD_EGAVEUP,
 * WARD_ETOOBIG, WARD_ETIMEDOUT (no new process, or the worker did not
 * read, for the whole request timeout), WARD_EINVAL, WARD_ENOMEM. */
WARD_EXTERN int ward_notify(ward_worker *w, const char *method, const void *data, size_t len);

/* A health round trip through the worker's serving loop (negative
 * timeout: the spec's request timeout). Waits for a restart, or wakes an
 * idle worker, like a request. A worker busy in a handler that reaches no
 * boundary does not answer; a ping that times out kills nothing, and is
 * not a request served. Errors as for ward_request. */
WARD_EXTERN int ward_ping(ward_worker *w, int timeout_ms);

/* Accessors: they never fail (0 or NULL for a NULL handle), from any
 * thread, ward callbacks included. */
/* The current process id (0 when there is none: backing off, idle,
 * exited, failed, stopped). */
WARD_EXTERN int ward_worker_pid(const ward_worker *w);
/* How the current process's frames travel: WARD_FRAMES_SHM or
 * WARD_FRAMES_SOCKET once its handshake is done (ward_spec_frames), 0
 * while there is no connected process. */
WARD_EXTERN int ward_worker_frames(const ward_worker *w);
/* The spec's name; valid as long as the handle. */
WARD_EXTERN const char *ward_worker_name(const ward_worker *w);
/* Unique within the host, never reused; the same across restarts. */
WARD_EXTERN uint64_t ward_worker_id(const ward_worker *w);
/* The generation of the current (or last) process: 1 for the first start,
 * +1 for every new process (during a backoff, the one that ended). */
WARD_EXTERN uint32_t ward_worker_generation(const ward_worker *w);
/* Whether the worker announced `method` in its last handshake (1 / 0). */
WARD_EXTERN int ward_worker_serves(const ward_worker *w, const char *method);
/* A metadata value the worker announced in its last handshake (see
 * ward_client_meta; the first, if a key came twice), or NULL. Valid until
 * the worker restarts: copy it to keep it. */
WARD_EXTERN const char *ward_worker_meta(const ward_worker *w, const char *key);

/* Stops the worker and waits until it has been reaped: a goodbye message
 * (waiting at most `grace_ms` for socket space), then the host closes its
 * end, so calls still in flight, and calls waiting for a restart, end with
 * WARD_ECLOSED (asynchronous ones too); after `grace_ms` the spec's stop
 * signal (SIGTERM) to its process group, after another `grace_ms` SIGKILL
 * (grace 0: both at once); WARD_ESYS if it is still not reaped 30 s after
 * that. A negative grace means the spec's stop grace. A process that ward
 * would kill anyway during the stop (a call's deadline passes, with
 * kill-on-timeout, or a cancelled call outlives its grace) gets SIGKILL
 * then, without waiting out the grace (outcome KILLED). A worker with no
 * process (backing off, idle, exited, failed) is marked stopped at once
 * (outcome ALREADY_EXITED); a new process being started at that moment is
 * killed before it comes up: no restart overtakes a stop. The handle stays
 * valid, in state stopped, and calls on it return WARD_ECLOSED until
 * ward_worker_restart; stopping a stopped worker returns WARD_OK and
 * changes nothing (no event); a stop made during another thread's waits
 * for the same process. The outcome is in the STOPPED event and in
 * ward_info.last_stop. No restart follows a stop. The exit's reason is
 * "stopped", unless ward had already killed the process for another (a
 * call that returned WARD_EPROTO or WARD_ETIMEDOUT ended it): that reason
 * stays. Errors: WARD_EINVAL (also a ward callback), WARD_ESYS. */
WARD_EXTERN int ward_worker_stop(ward_worker *w, int grace_ms);

/* Replaces the process with a fresh one between calls: new calls wait, the
 * calls in flight finish, the old process gets a goodbye (and SIGKILL
 * after the stop grace), and a new generation starts at once, whatever
 * the restart mode (reason CYCLE, not counted against the intensity).
 * Starting, restarting: waits for the start under way; backing off, idle:
 * starts the new process now. Returns WARD_OK once a process of a later
 * generation is ready; a new process that does not come up is a failed
 * start for the restart policy, and this keeps waiting. Errors:
 * WARD_ECLOSED (stopping, stopped, exited or failed: use
 * ward_worker_restart; or stopped meanwhile), WARD_EGAVEUP (failed
 * meanwhile), WARD_ECRASHED (exited meanwhile), WARD_ETIMEDOUT (after the
 * request timeout + 2 stop graces + the startup timeout + the backoff
 * cap), WARD_EINVAL (also a ward callback). */
WARD_EXTERN int ward_worker_cycle(ward_worker *w);

/* Pauses a running worker: its process and everything it started stop
 * running (the cgroup's freezer where the worker has a cgroup, else
 * SIGSTOP to its process group: ward_info.tree says which; a process that
 * left its group is not paused then). Calls made meanwhile, and those in
 * flight, wait for the resume; their deadlines still run (a deadline that
 * passes ends the call as always, and may kill and replace the worker:
 * ward_spec_kill_on_timeout). Heartbeats are not sent, nor counted as
 * missed, and the idle timer waits, while it is paused. A stop, cycle or
 * kill of a paused worker resumes it first. Event PAUSED; pausing a
 * paused worker does nothing. Any thread, ward callbacks included; it
 * returns once the kernel says the tree is frozen (or after a second).
 * Errors: WARD_ECLOSED (no running process: starting, restarting, backing
 * off, idle, stopping, stopped, exited or failed), WARD_ESYS (the freeze
 * or the signal failed, errno kept; Windows, errno ENOTSUP: no pause
 * there), WARD_EINVAL (NULL). */
WARD_EXTERN int ward_worker_pause(ward_worker *w);
/* Lets a paused worker run again: heartbeats start over (a fresh count
 * of misses), calls waiting go on. Event RESUMED; resuming a worker that
 * is not paused does nothing. Any thread, ward callbacks included.
 * Errors: WARD_ESYS (the thaw or the signal failed, errno kept: the
 * worker counts as resumed), WARD_EINVAL (NULL). */
WARD_EXTERN int ward_worker_resume(ward_worker *w);

/* Brings a stopped, exited or failed worker back: starts a process as
 * ward_spawn does (state starting, events SPAWNED and READY) and returns
 * once it is ready, with the errors of ward_spawn (if it fails the worker
 * is failed). On a running worker (idle included) it cycles it
 * (ward_worker_cycle); on a stopping one: WARD_ECLOSED. Either way it
 * forgets the restart history (the intensity window and the run of
 * failures; not ward_info.restarts). WARD_EINVAL from a ward callback. */
WARD_EXTERN int ward_worker_restart(ward_worker *w);

/* ---------------------------------------------------------------------
 * Rolling replacement: moving running processes to a new spec (a new
 * executable or arguments after an upgrade) one at a time, with no moment
 * when nothing serves. For each process: a new one is started from the
 * new spec and waited for until ready (and, with `doctor`, until its
 * doctor check passes), new calls go to it, calls in flight on the old
 * one may finish for up to `drain_ms`, then the old one is stopped with
 * its spec's grace. A new process that is not ready in time is stopped
 * and the old one keeps serving; the replacement ends there with the
 * reason. ward_pool_replace takes these options (ward_worker_replace too).
 * ------------------------------------------------------------------- */
typedef struct ward_replace_opts {
  uint32_t struct_size; /* sizeof(ward_replace_opts) as compiled: the _INIT macro */
  int ready_ms; /* how long a new process has to become ready: start,
                 * handshake and, with `doctor`, the check (> 0) */
  int drain_ms; /* how long calls in flight on an old process may go on
                 * once new calls go elsewhere (>= 0; 0: stopped at once);
                 * past it the old process is stopped all the same and
                 * they end as its stop ends them (WARD_ECLOSED) */
  int doctor;   /* 1: a new process must also pass ward_doctor (no check
                 * with status error; warnings pass) before it serves */
} ward_replace_opts;
#define WARD_REPLACE_OPTS_INIT                                                           \
  {(uint32_t)sizeof(ward_replace_opts), WARD_REPLACE_READY_MS_DEFAULT,                  \
   WARD_REPLACE_DRAIN_MS_DEFAULT, 0}
/* Like ward_host_opts_init, for a ward_replace_opts. */
WARD_EXTERN int ward_replace_opts_init(ward_replace_opts *opts, size_t size);

/* Replaces a ready worker's process with one of `new_spec` (a new
 * executable or arguments after an upgrade) without a call failing: starts
 * the new process (its handshake and requirements as for ward_spawn),
 * waits until it is ready and, if opts->doctor, until its doctor passes
 * (all within opts->ready_ms); then new calls go to it, calls in
 * flight on the old process finish there (up to opts->drain_ms) and the
 * old process is stopped (goodbye, then the stop signal...). The worker
 * keeps its handle, id, data directory, captured output and counters (its
 * log ring reads on: what the new process printed before it took over
 * follows the old one's lines, under the new generation, and what the old
 * one printed after, under the old one, once this returns); its
 * spec becomes a copy of `new_spec` (the name must be the same), its
 * generation goes up by one (SPAWNED, READY and RESTARTED events with the
 * new pid; no event for the new process before it takes over, nor for the
 * old one's end). Spares of the old spec are ended and, if the new spec
 * keeps any, started anew from it. `opts` may be NULL
 * (WARD_REPLACE_OPTS_INIT). Blocks; not from a ward callback.
 *
 * If the new process does not become ready (it cannot be started, exits,
 * refuses or fails the handshake, times out, fails its doctor), the old
 * process keeps serving as if nothing happened, and the error says why:
 * WARD_ESPAWN, WARD_EHANDSHAKE... as ward_spawn gives them (ward_last_error
 * with the new process's last words on stderr); WARD_EREMOTE when its
 * doctor reports an error (ward_last_error names the failing checks), the
 * doctor call's own error otherwise (WARD_ENOMETHOD: it has no doctor).
 * Other errors: WARD_EINVAL (NULL, a name other than the worker's, bad
 * opts, from a callback, another replacement of the worker under way),
 * WARD_ECLOSED (the worker is not ready: starting, restarting, paused,
 * stopped..., or it stopped meanwhile). Returns once the old process is
 * gone. */
WARD_EXTERN int ward_worker_replace(ward_worker *w, const ward_spec *new_spec,
                                    const ward_replace_opts *opts);

/* Lifecycle operations that never wait: each starts the operation and
 * returns at once, from any thread, ward callbacks included (like uv_close,
 * they complete with an event). The blocking forms above are these plus a
 * wait, for threads that want one.
 *
 * ward_worker_stop_begin: the stop of ward_worker_stop, escalating on the
 * host's timers; it is over at the STOPPED event (outcome as there).
 * Stopping a stopped worker does nothing.
 * ward_worker_cycle_begin: the replacement of ward_worker_cycle; the new
 * process is ready at the RESTARTED event. WARD_ECLOSED when the worker is
 * not running (stopped, exited or failed).
 * ward_worker_restart_begin: the start of ward_worker_restart; ready at the
 * READY event (RESTARTED too when it replaced a running process); a start
 * that fails reports as ward_spawn_start's does (EXITED, state failed).
 * WARD_ECLOSED while the worker is stopping.
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
/* Adds a worker as the group's last member and starts it like
 * ward_spawn_start: returns its handle at once, from any thread, ward
 * callbacks included; it is ready at its READY event, and a start that
 * fails reports as ward_spawn_start's does. Members added so are started
 * at once, not after the one before them is ready: a caller that wants
 * them in order adds each once the one before it is ready (the order of
 * the group's own restarts is the order members were added). The handle
 * is freed as ward_group_spawn's. Errors: WARD_EINVAL, WARD_ENOMEM. */
WARD_EXTERN int ward_group_spawn_start(ward_worker **out, ward_group *g, const ward_spec *spec);
/* Stops every member, the last added first, each as ward_worker_stop;
 * the group restarts nothing afterwards. Returns the first error. Not
 * from a ward callback. */
WARD_EXTERN int ward_group_stop(ward_group *g, int grace_ms);
/* Stops the members, frees them and the group. Not from a ward callback
 * (there it does nothing). */
WARD_EXTERN void ward_group_free(ward_group *g);
/* "one-for-one", "one-for-all", "rest-for-one" (never NULL). */
WARD_EXTERN const char *ward_group_strategy_name(int strategy);

/* States, as ward_info reports them; what a call made in each gets, and
 * how a worker moves between them: api.md 4.1. */
typedef enum {
  WARD_STATE_STARTING = 1, /* the first process is starting (or the one
                              ward_worker_restart started): calls wait */
  WARD_STATE_READY,        /* its process completed its handshake */
  WARD_STATE_STOPPING,     /* calls get WARD_ECLOSED */
  WARD_STATE_RESTARTING,   /* a replacement is under way (draining, ending
                              the old process, starting the new): calls wait */
  WARD_STATE_BACKING_OFF,  /* no process, waiting before the next start:
                              calls wait */
  WARD_STATE_FAILED,       /* gave up (restart limit) or could not start:
                              calls get WARD_EGAVEUP */
  WARD_STATE_STOPPED,      /* stopped on request: calls get WARD_ECLOSED */
  WARD_STATE_EXITED,       /* ended, and the restart mode says no restart:
                              calls get WARD_ECRASHED */
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
  uint32_t restarts;       /* new processes started by decision after one
                              ended: restarts and planned replacements (not
                              ward_worker_restart's starts, nor an idle
                              worker's wake-up) */
  int last_exit_code;      /* of the last process that ended: code, or -1
                              (all last_* 0 before any has ended) */
  int last_signal;         /* its terminating signal, or 0 */
  int last_reason;         /* ward_reason */
  int last_stop;           /* ward_stop_outcome of the last stop */
  int64_t start_time_ms;   /* wall clock (ms since the epoch) of the current
                              process; this, rss_bytes and cpu_ms are 0
                              without one */
  uint64_t rss_bytes;      /* resident set of the current process (not its
                              children), or WARD_UNKNOWN */
  uint64_t cpu_ms;         /* CPU time (user + system) of the current
                              process, or WARD_UNKNOWN */
  uint64_t calls_served;   /* requests answered (reply, remote error or
                              no-such-method), over all generations */
  uint32_t calls_in_flight; /* requests (asynchronous ones until their done
                               has run), notifications and pings holding the
                               connection now */
  uint64_t sandbox;        /* WARD_SANDBOX_* bits: the restrictions in force
                              for the current process (0: none, or no
                              process); 64 bits so that it starts past the
                              tail of the struct's earlier layout */
  int landlock_abi;        /* the Landlock ABI its restriction was built
                              for (1..), 0 without Landlock */
  int reserved_;           /* the tail padding of the layout before it: nothing */
  int proc_class;          /* the spec's ward_class */
  int reserved2_;          /* the tail padding of the layout before it */
  int tree;                /* ward_tree: what holds the current process and
                              everything it starts (WARD_TREE_NONE without
                              a process) */
  int paused;              /* 1 while paused (ward_worker_pause) */
  uint64_t tree_memory_bytes; /* memory of the whole tree (its cgroup's
                                 memory.current), or WARD_UNKNOWN where no
                                 memory controller counts it */
  int pressure_cpu;        /* the tree's pressure stall figures: the share of
                              the last 10 s in which some of its processes
                              waited for CPU, memory or I/O ("some avg10" of
                              cpu.pressure, memory.pressure, io.pressure),
                              in hundredths of a percent (0..10000); -1
                              where the system does not say */
  int pressure_memory;
  int pressure_io;
  uint32_t oom_kills;      /* processes of its tree the kernel killed for
                              its memory limit (memory.events oom_kill) */
  uint32_t spares_ready;   /* spare processes ready to take over
                              (ward_spec_spares) */
  uint32_t spares_running; /* spare processes that exist now, ready or
                              still starting: what the spares cost in
                              processes */
  uint64_t spares_rss_bytes; /* their resident sets, summed (not their
                                children's); 0 without spares, WARD_UNKNOWN
                                where the system does not say (as
                                rss_bytes) */
} ward_info;
#define WARD_INFO_INIT \
  {(uint32_t)sizeof(ward_info), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, \
   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
/* Like ward_host_opts_init, for a ward_info. */
WARD_EXTERN int ward_info_init(ward_info *info, size_t size);

/* What holds a worker's process and everything it starts together, so
 * that a stop, a crash or the host's death ends them all and a pause
 * stops them all (ward_info.tree, api.md 4.9). */
typedef enum {
  WARD_TREE_NONE = 0, /* no process */
  WARD_TREE_PGROUP,   /* its process group: a descendant that calls setsid()
                         leaves it (the fallback, and the portable backend) */
  WARD_TREE_CGROUP,   /* a cgroup v2 of its own (Linux): nothing leaves it */
  WARD_TREE_JOB       /* a job object (Windows) */
} ward_tree;
/* Its name, as `ward ctl status` and `ward probe` show it ("pgroup",
 * "cgroup", "job"; "none"); "?" for a value not in the list. */
WARD_EXTERN const char *ward_tree_name(int tree);

/* A figure the system does not give (never a real value): rss_bytes and
 * cpu_ms of a live process on the portable POSIX backend, which has no
 * /proc to read them from (docs/platforms.md). */
#define WARD_UNKNOWN UINT64_MAX

/* Fills `out` (its first out->struct_size bytes: start from
 * WARD_INFO_INIT) with a consistent snapshot of the worker's figures. RSS,
 * CPU and start time are read from the system (/proc) at the time of the
 * call; where the system cannot say (the portable POSIX backend), RSS and
 * CPU are WARD_UNKNOWN and the start time is when the host started it. Errors: WARD_EINVAL (NULL, or a bad struct_size: then nothing is
 * written). */
WARD_EXTERN int ward_worker_info(ward_info *out, const ward_worker *w);

/* Stops the worker if needed (as ward_worker_stop(w, -1)) and releases the
 * handle, its log ring and (unless kept) its data directory; its events
 * have been delivered when this returns. No other thread may use the
 * handle during or after this call: an asynchronous call still running
 * ends WARD_ECLOSED and its `done` runs first (do not cancel it after).
 * From a ward callback it does not wait: the stop goes on
 * (ward_worker_stop_begin, with its STOPPED event) and the host's loop
 * releases the handle once the worker has stopped, after the current
 * callbacks; the handle must not be used after the call all the same. */
WARD_EXTERN void ward_worker_free(ward_worker *w);

/* ---------------------------------------------------------------------
 * Messages: a received reply or remote error, yours until ward_msg_free.
 * For a reply, data, len and encoding are the result; for a remote error,
 * the code, the message and the optional error data. Tell one from the
 * other by the call's return (WARD_OK or WARD_EREMOTE).
 * ------------------------------------------------------------------- */
WARD_EXTERN const void *ward_msg_data(const ward_msg *m); /* never NULL; not NUL-terminated */
WARD_EXTERN size_t ward_msg_len(const ward_msg *m);
WARD_EXTERN int ward_msg_encoding(const ward_msg *m);    /* WARD_ENC_* */
WARD_EXTERN int ward_msg_code(const ward_msg *m);        /* remote error code, 0 for a reply */
WARD_EXTERN const char *ward_msg_error(const ward_msg *m); /* remote error message ("" if
                                                              none), NULL for a reply */
WARD_EXTERN void ward_msg_free(ward_msg *m);             /* NULL is fine */
/* A payload that came in shared memory (ward_spec_zerocopy) is a
 * read-only mapping: ward_msg_data points into it, writing there is a
 * crash (SIGSEGV), and ward_msg_free unmaps it. Replying with it, or
 * sending it on, exactly as it came passes the mapping on (api.md 6.4). */

/* ---------------------------------------------------------------------
 * Payloads built in place: get a writable buffer of `len` bytes, fill it,
 * and send it; where the payload travels in shared memory
 * (ward_spec_zerocopy) it is not copied at all. Sending seals it: the
 * memory is made read-only for good before the peer maps it (the kernel
 * seals a memfd against writing only once no writable mapping of it is
 * left, so the sender's own is unmapped), so that the receiver can trust
 * that the bytes do not change under it. Every send function takes the
 * payload, whatever it returns: do not use it, or the pointer from
 * ward_payload_data, after the call. Where the peer did not agree to
 * shared memory, or the backend has none (posix, win: plain memory
 * there), or the payload is under the threshold, it is copied through the
 * socket as any other. A payload may be filled from any thread, one at a
 * time; it belongs to no host or client.
 * ------------------------------------------------------------------- */
typedef struct ward_payload ward_payload;
/* Makes a payload of `len` bytes (> 0), zero-filled, in *out (NULL on
 * error): a memfd on the linux backend from 4 KiB on, plain memory
 * otherwise. Errors: WARD_EINVAL (len 0, NULL out), WARD_ETOOBIG (over
 * UINT32_MAX, more than any frame), WARD_ENOMEM (the system gives no
 * memory or memfd of that size), WARD_ESYS. */
WARD_EXTERN int ward_payload_new(ward_payload **out, size_t len);
/* The writable bytes of a payload not yet sent (NULL for NULL), valid
 * until it is sent or freed. */
WARD_EXTERN void *ward_payload_data(ward_payload *p);
/* Its length in bytes, as made (0 for NULL). */
WARD_EXTERN size_t ward_payload_len(const ward_payload *p);
/* Releases a payload that was not sent (NULL is fine). */
WARD_EXTERN void ward_payload_free(ward_payload *p);
/* ward_request_ex with the payload as the request's data: the same
 * outcomes, errors and threads, plus WARD_EINVAL for a NULL payload and
 * WARD_ESYS when it cannot be sealed (the detail says why: memory that
 * someone pinned). Takes `p` in every case. */
WARD_EXTERN int ward_request_payload(ward_msg **reply, ward_worker *w, const char *method,
                                     ward_payload *p, const ward_call_opts *opts);

/* ---------------------------------------------------------------------
 * Worker side
 *
 * A worker program links libward too. ward_client_connect() finds the
 * channel in the environment the host set (WARD_FD, or WARD_SOCKET and
 * WARD_TOKEN) and, while the host is the process's parent (WARD_PPID),
 * asks the kernel to kill the process when the host dies
 * (PR_SET_PDEATHSIG).
 * Handlers run on the thread that called ward_client_run(), one at a time,
 * in arrival order; what arrives meanwhile waits in a queue (while 8 MiB
 * wait, the worker stops reading, except while a handler waits for its
 * caller's window). Pings are answered by that loop, so a worker stuck in a
 * handler stops answering them, which is how the host sees a hang; a long
 * handler that calls ward_ctx_progress, ward_ctx_row or ward_ctx_cancelled
 * (its boundaries) keeps answering. Other threads, and handlers, may use
 * ward_client_request and ward_client_notify at any time. stdout and
 * stderr are not the channel: print freely (they are pipes to the host by
 * default: make stdout line-buffered for lines to arrive as written).
 * ------------------------------------------------------------------- */

/* Reads the environment of docs/protocol.md section 2: WARD_FD (then set
 * close-on-exec), or else WARD_SOCKET and WARD_TOKEN; WARD_NAME (the HELLO's
 * name, "worker" if unset); WARD_MAX_FRAME (the limit it announces and
 * enforces; WARD_MAX_FRAME_DEFAULT if unset or not 1..4294967295); and
 * WARD_PPID: when set, it sets PR_SET_PDEATHSIG (SIGKILL), and takes it
 * back if its parent is not that process (a wrapper that forked it): the
 * end of the connection and the host's guard see to it then. It removes
 * nothing from the environment: a worker that starts programs should drop
 * WARD_FD, WARD_SOCKET and WARD_TOKEN from theirs.
 * Errors: WARD_EINVAL (the environment names no channel: not started by a
 * ward host), WARD_ESYS (WARD_FD is not open, or the socket could not be
 * reached), WARD_ENOMEM.
 * The handshake itself happens in ward_client_run (or the first
 * ward_client_request / ward_client_notify). */
WARD_EXTERN int ward_client_connect(ward_client **out);

/* Registers a handler for requests and notifications of `method`. Call
 * before the handshake (ward_client_run, or the first request or notify):
 * the methods are announced in it (ward_worker_serves). Registering a
 * method again replaces its handler. A request for a method with no
 * handler is answered WARD_ENOMETHOD; such a notification is dropped.
 * Errors: WARD_EINVAL (bad name, NULL fn, after the handshake),
 * WARD_ENOMEM. */
WARD_EXTERN int ward_client_handle(ward_client *c, const char *method, ward_handler fn,
                                   void *ud);

/* Adds a metadata entry to the handshake (e.g. "version", "1.4.2"), which
 * the host reads with ward_worker_meta. Keys hold no '=' or newline, values
 * no newline. Call before the first ward_client_run / request / notify.
 * Errors: WARD_EINVAL (bad key, NULL value, after the handshake),
 * WARD_ENOMEM. */
WARD_EXTERN int ward_client_meta(ward_client *c, const char *key, const char *value);

/* Does the handshake if not done yet (HELLO with its methods, metadata
 * and limit; waits up to 30 s for the WELCOME), then serves calls, and
 * pings, until the host says goodbye (returns WARD_OK: free the client
 * and exit with status 0 at once; a stopped worker gets the stop signal
 * after the grace, a replaced one SIGKILL) or the connection is lost
 * (WARD_ECLOSED: exit with a failure status). Errors also:
 * WARD_EHANDSHAKE (the host refused us or never answered), WARD_EPROTO
 * (the host broke the protocol, or said goodbye with a reason other than
 * 0), WARD_ETOOBIG (the host sent a frame over our limit), WARD_EINVAL,
 * WARD_ENOMEM. A goodbye does not cancel the handler running; requests
 * still queued behind it are answered WARD_ECLOSED instead of being run
 * (unknown methods still WARD_ENOMETHOD), and notifications queued before
 * it are still handled. */
WARD_EXTERN int ward_client_run(ward_client *c);

/* Calls a method the host serves (ward_host_handle), from any thread,
 * handlers included; does the handshake first if needed. `timeout_ms` < 0
 * means 30000 ms (WARD_REQUEST_TIMEOUT_MS_DEFAULT). The payload is tagged
 * JSON; the call has no callbacks (progress, rows and diagnostics a host
 * handler sends are dropped) and no window. The timeout covers the
 * handshake a first request makes: if no WELCOME comes within it, the
 * request fails WARD_ETIMEDOUT and the client is closed (open another). A
 * deadline that passes kills nothing: the host is sent a CANCEL (a request
 * still waiting for its handler is then answered -7 unrun). Outcomes and
 * errors as for
 * ward_request, but never WARD_EGAVEUP or WARD_ESTALE, and WARD_ECRASHED
 * when the host is gone; plus the handshake errors. */
WARD_EXTERN int ward_client_request(ward_msg **reply, ward_client *c, const char *method,
                                    const void *data, size_t len, int timeout_ms);
/* ward_client_request with a payload built in place (ward_payload_new),
 * taken in every case: the same outcomes and errors, plus WARD_EINVAL for
 * a NULL payload and WARD_ESYS when it cannot be sealed. */
WARD_EXTERN int ward_client_request_payload(ward_msg **reply, ward_client *c,
                                            const char *method, ward_payload *p,
                                            int timeout_ms);
/* Sends a notification (tagged JSON) to the host; returns once the socket
 * has taken it, waiting for space at most 30 s. From a handler run by
 * ward_client_run, on its thread: or once it is queued behind other frames
 * when the socket was full a moment ago (up to 64 KiB), to go out when the
 * handler returns or at its next row, progress or cancel check, whichever
 * comes first (a burst then goes out in few writes). Errors: WARD_EINVAL,
 * WARD_ETOOBIG (over the host's max_frame; nothing sent), WARD_ETIMEDOUT,
 * WARD_ECRASHED (the host is gone), WARD_ENOMEM, the handshake errors. */
WARD_EXTERN int ward_client_notify(ward_client *c, const char *method, const void *data,
                                   size_t len);
/* Sends a log record to the host (docs/protocol.md 8.4), which keeps it
 * in the worker's log ring (see "Log records"): `level` a WARD_LEVEL_*,
 * `msg` a NUL-terminated message, `fields` an array of `nfields` key/value
 * pairs (NULL when 0), within the limits there; all copied before it
 * returns. The record belongs to no call (ward_ctx_log sends one that
 * does). Does the handshake first if needed. A host that did not announce
 * log records in its WELCOME (an older ward, or a ward_server) gets none:
 * the record is written to stderr instead, as one line
 * (ward_log_format), which such a host captures like any line. Returns once
 * the socket has taken it, waiting for space at most 30 s. Any thread,
 * handlers included. Errors: WARD_EINVAL (NULL client or message, a
 * level, size, key or text outside the rules: nothing sent), WARD_ETOOBIG
 * (over the host's max_frame), WARD_ETIMEDOUT, WARD_ECRASHED (the host is
 * gone), WARD_ENOMEM, the handshake errors. */
WARD_EXTERN int ward_client_log(ward_client *c, int level, const char *msg,
                                const ward_log_field *fields, size_t nfields);
/* Sends a goodbye to the host (if the connection is up and the host has
 * not said goodbye first; waiting at most 1 s), closes the connection and
 * frees the client. No other thread may use it during or after this call.
 * The host then reports the process's exit when it ends. */
WARD_EXTERN void ward_client_free(ward_client *c);

/* ---------------------------------------------------------------------
 * Servers: ward on a socket path
 *
 * A program can serve calls to programs it did not spawn (a daemon's
 * control channel): ward_server_listen binds a Unix socket at a path,
 * mode 0600, and accepts connections from processes of the same user (or
 * root; others are closed at once). Each connection does the handshake as
 * a worker would (the connecting side sends HELLO, the server answers
 * WELCOME: see docs/protocol.md section 15.1) and is then served on a
 * thread of its own, in order (the server holds a bounded number of
 * connections: ward_server_limits), so its handlers may block and may call
 * anything, ward_spawn included; ward_ctx_worker is NULL in them. A
 * connection that breaks the protocol is closed; the others go on. The
 * connecting side is a ward_client made with ward_client_open; it calls
 * with ward_client_request and ward_client_notify.
 *
 * On Windows the path stands for a named pipe, which the server creates
 * and the client opens (docs/platforms.md, "Servers at a path"): the path
 * itself when it is a pipe name (\\.\pipe\...), else \\.\pipe\ward- and
 * the path made absolute, in lower case, with slashes for backslashes.
 * Nothing is made at the path; the pipe's ACL admits the current user,
 * and each peer's user is checked besides.
 *
 * A server attached to a host (ward_server_attach) holds no thread: its
 * listener and connections are watched by the host's loop, and its
 * handlers run there, as host handlers do.
 * ------------------------------------------------------------------- */
typedef struct ward_server ward_server;
/* An empty server. Errors: WARD_EINVAL, WARD_ENOMEM. */
WARD_EXTERN int ward_server_new(ward_server **out);
/* Registers a handler; before ward_server_listen. Errors: WARD_EINVAL (bad
 * name, NULL fn, listening already), WARD_ENOMEM. */
WARD_EXTERN int ward_server_handle(ward_server *s, const char *method, ward_handler fn,
                                   void *ud);

/* A server's limits (ward_server_limits). Each connection holds a thread
 * (unless the server is attached to a host), so `max_conns` bounds the
 * server's threads too. */
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
 * idle the longest (since its last call ended), and waits for its thread
 * to end before starting the newcomer's. A connection is never closed
 * while a call of it runs (a frame that reaches one as it is dropped is
 * not handled). If every connection is in a call, the
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
 * connection's own; attached to a host: the host's loop thread), with no
 * lock of ward's held; several may run at once
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
 * a socket with WARD_EINVAL (so are a path too long and a server that
 * listens already); other failures are WARD_ESYS. */
WARD_EXTERN int ward_server_listen(ward_server *s, const char *path);
/* Stops accepting, closes every connection, waits for handlers still
 * running, removes the socket and frees the server. Not from a handler.
 * Attached to a host, it waits for the host's loop to close the
 * connections (running it, with an external loop that no one drives),
 * does not wait for deferred calls (their ends then fail WARD_ECLOSED and
 * still free them), and from a ward callback it does nothing. */
WARD_EXTERN void ward_server_free(ward_server *s);

/* Serves the server's connections on `host`'s loop instead of threads of
 * the server's; before ward_server_listen, once. The host must outlive
 * the server (free the server first). ward_server_listen then registers
 * the listener with the loop, and each connection is served by the
 * thread running the loop (the host's own, or the one calling
 * ward_host_dispatch), like the workers' connections, so the server
 * starts no thread.
 *
 * Handlers then run on the loop thread, as host handlers do
 * (ward_host_handle): one at a time, and they must not block; a handler
 * whose answer needs slow work defers the call (ward_ctx_defer) and ends
 * it later, from any thread, the loop's included (a callback of a
 * lifecycle operation's event, say). A connection's requests are served
 * in order: while one of them is deferred, the next waits, and the
 * connection counts as in a call (ward_server_limits) until the deferred
 * call ends. Other connections go on meanwhile. Sends from a handler
 * never block (what the socket does not take is queued); ward_ctx_worker
 * is NULL and ward_ctx_cancelled 0 in them. The limits keep their meaning
 * (the handshake deadline is a timer of the loop's; a newcomer at the
 * limit closes an idle connection at once); the on_drop callback runs on
 * the loop thread. Errors: WARD_EINVAL (NULL, attached already, or
 * listening already). */
WARD_EXTERN int ward_server_attach(ward_server *s, ward_host *host);
/* How many connections the server holds now: those in their handshake
 * and those past it, not those it has closed or whose peer has left (a
 * daemon's figure of its control connections). From any thread, a
 * handler's included; attached to a host, a connection counts until the
 * loop has handled its close. 0 for NULL. */
WARD_EXTERN size_t ward_server_connections(ward_server *s);
/* Connects to a ward server at `path` (the client does not follow the
 * server's life: no death signal). Errors: WARD_ECLOSED (nothing listens
 * there: no such socket, or the connection was refused; the errno is in
 * ward_last_errno), WARD_ESYS, WARD_EINVAL, WARD_ENOMEM. The handshake
 * happens at the first request: make it soon, as a ward server closes a
 * connection still without its HELLO at its handshake deadline
 * (ward_server_limits). A server at its connection limit may close it
 * while idle between calls (the next call fails WARD_ECLOSED or
 * WARD_ECRASHED: open another), or refuse it when all its connections are
 * in calls (the first call fails WARD_EHANDSHAKE, "server busy"). */
WARD_EXTERN int ward_client_open(ward_client **out, const char *path);

/* ---------------------------------------------------------------------
 * Serving a call (both sides). A ctx is valid only inside its handler and
 * only on the handler's thread (ward_ctx_defer makes one that outlives it).
 * The first reply or fail ends the call; every send after it returns
 * WARD_EINVAL. For a notification every send does nothing and returns
 * WARD_OK. In a host handler sends never block (what the socket does not
 * take is queued) and progress and rows are not paced; in a worker they
 * wait up to 30 s for socket space (WARD_ETIMEDOUT), and progress and rows
 * also wait, without limit, for the caller's window.
 * ------------------------------------------------------------------- */
/* Ends the call with a reply; the encoding is the request's unless
 * ward_ctx_set_encoding said otherwise. Errors: WARD_EINVAL (already ended,
 * NULL data with a length), WARD_ETOOBIG (over the caller's limit: the
 * call then ends with a remote error WARD_ETOOBIG instead), WARD_ECLOSED /
 * WARD_ECRASHED (the caller is gone), WARD_ETIMEDOUT (the caller did not
 * read for the whole request timeout), WARD_ENOMEM. */
WARD_EXTERN int ward_ctx_reply(ward_ctx *ctx, const void *data, size_t len);
/* Ends the call with a payload built in place (ward_payload_new) as the
 * reply, taken in every case; on the handler's thread, as ward_ctx_reply,
 * with its errors, plus WARD_EINVAL for a NULL payload and WARD_ESYS when
 * it cannot be sealed. A handler that replies (or calls on) with its
 * request's own data, exactly (data, len), passes a payload that came in
 * shared memory on without a copy too, with ward_ctx_reply. */
WARD_EXTERN int ward_ctx_reply_payload(ward_ctx *ctx, ward_payload *p);
/* Ends the call with a remote error. Codes -1..-99 are ward's own; use
 * other values for your errors, never 0. `message` may be NULL (the caller
 * sees ""); over 64 KiB it is cut. The call always ends: data, then
 * message, are cut if they would not fit the caller's limit, and WARD_OK
 * is returned all the same. Errors: WARD_EINVAL (already ended), the
 * connection errors of ward_ctx_reply, WARD_ENOMEM. */
WARD_EXTERN int ward_ctx_fail(ward_ctx *ctx, int code, const char *message);
/* The same with an error payload (in the ctx's encoding). */
WARD_EXTERN int ward_ctx_fail_data(ward_ctx *ctx, int code, const char *message,
                                   const void *data, size_t len);
/* Sends a progress report to the caller (in the ctx's encoding). Paced,
 * cancelled and failing as ward_ctx_row. */
WARD_EXTERN int ward_ctx_progress(ward_ctx *ctx, const void *data, size_t len);
/* Emits one row on the named stream (sequence numbers are assigned per
 * stream, from 1), in the ctx's encoding. In a worker it is a boundary
 * (it answers waiting pings) and it blocks while the caller's
 * flow-control window is full, still answering pings. Once the caller has
 * cancelled it sends nothing and returns WARD_ECANCELED: stop working and
 * end the call (returning that code will do); it never ends the call
 * itself. Errors: WARD_ECANCELED, WARD_ECLOSED / WARD_ECRASHED (the
 * caller is gone, also while waiting), WARD_ETOOBIG (the row is over the
 * caller's limit, or, while this call waited for credit, the caller sent
 * over 32 MiB of other requests that wait behind it: the worker keeps
 * reading for its credit, but not without bound), WARD_EINVAL (ended, bad
 * stream name), WARD_ETIMEDOUT, WARD_ENOMEM. The same holds for progress. */
WARD_EXTERN int ward_ctx_row(ward_ctx *ctx, const char *stream, const void *data, size_t len);
/* One row of a batch (ward_ctx_rows): an array element, so its layout
 * never changes. */
typedef struct ward_row {
  const void *data;
  size_t len;
} ward_row;
/* Emits `n` rows on the named stream in as few writes as the caller's
 * window allows (64 KiB at a time; a row over 32 KiB goes alone): the way
 * to stream many small rows fast. Same rows, sequence numbers, errors and
 * flow control as `n` calls of ward_ctx_row; the rows are sent before it
 * returns. A row over the caller's frame limit fails the batch with
 * WARD_ETOOBIG before any row is sent; a row with NULL data is empty. */
WARD_EXTERN int ward_ctx_rows(ward_ctx *ctx, const char *stream, const ward_row *rows,
                              size_t n);
/* Sends a diagnostic (level 0 debug, 1 info, 2 warning, 3 error; `code` a
 * short name of at most 255 bytes, or NULL; `message` may be NULL); its
 * message is tagged raw whatever the call's encoding. Neither paced nor
 * stopped by a cancellation. WARD_EINVAL for a level outside 0..3 or a
 * code too long, else the errors of ward_ctx_reply. */
WARD_EXTERN int ward_ctx_diag(ward_ctx *ctx, int level, const char *code, const char *message);
/* In a worker's handler: sends a log record as ward_client_log does,
 * carrying the id of the call being served (0 for a notification), so the
 * host can find a call's records (ward_log_query.call_id). Unlike the
 * other sends it is allowed after the call has ended, and for a
 * notification it is sent too. On the handler's thread. Errors: those of
 * ward_client_log; WARD_EINVAL in a host handler (a host keeps its own
 * logs). */
WARD_EXTERN int ward_ctx_log(ward_ctx *ctx, int level, const char *msg,
                             const ward_log_field *fields, size_t nfields);
/* Host handlers (and handlers of a server attached to a host,
 * ward_server_attach) only: takes a request off the I/O thread. A host handler
 * runs on the loop and must answer at once; one whose answer needs slow
 * work (ward_spawn, a stop, a blocking call) defers the call, hands the
 * returned ctx to a thread of its own and returns. The deferred ctx stays
 * valid until one of ward_ctx_reply, ward_ctx_fail or ward_ctx_fail_data
 * ends it, from any thread: that call frees it, so it must not be touched
 * afterwards. Rows and progress may be sent on it before. The handler's
 * payload is not kept: copy what the work needs first. Cancellation of a
 * deferred call is not reported (ward_ctx_cancelled stays 0, except for a
 * watch: ward_ctx_watch below); if the worker
 * goes away first, the ending call fails (WARD_ECLOSED, or WARD_ECRASHED
 * when its process died) and still frees.
 * Every deferred call must be ended before ward_host_free. Once deferred,
 * the handler's return value is ignored.
 * Returns NULL (WARD_EINVAL: not a host handler's request (a notification,
 * a worker-side ctx), or deferred or ended already; WARD_ENOMEM) and
 * leaves the call to the handler then. */
WARD_EXTERN ward_ctx *ward_ctx_defer(ward_ctx *ctx);
/* Marks a deferred call (what ward_ctx_defer returned) as a watch: one
 * that waits for something to happen rather than doing work, as `ward ctl
 * logs -f` waits for new lines. A server attached to a host counts a
 * connection in a watch as idle: at its connection limit it may close it
 * to make room for a newcomer (ward_server_limits), where a connection in
 * any other call is never cut. (A threaded server's deferred calls leave
 * their connections idle already.) Once its connection is gone, by that
 * or because the client left, ward_ctx_cancelled says 1 for the watch,
 * and ending it is still required (its answer goes nowhere). Returns 0,
 * or WARD_EINVAL (NULL, not deferred, or ended). Any thread. */
WARD_EXTERN int ward_ctx_watch(ward_ctx *ctx);
/* Nonzero once the caller has cancelled this call (ward_call_cancel, or a
 * ward caller giving up: its deadline passed, or a payload failed its
 * validation; a goodbye does not cancel). In a worker it is a boundary: it
 * reads what has arrived (at most once a millisecond) and answers waiting
 * pings, so a long handler that calls it between steps keeps answering
 * heartbeats and learns of a cancel at once; it must then end the call
 * within the spec's cancel grace, or the worker is killed. Always 0 in a
 * host handler. */
WARD_EXTERN int ward_ctx_cancelled(const ward_ctx *ctx);
/* The encoding tag of the request (whatever ward_ctx_set_encoding did). */
WARD_EXTERN int ward_ctx_encoding(const ward_ctx *ctx);
/* The encoding tag of what this ctx sends from now on: reply, error data,
 * progress, rows; not diagnostics, always raw (default: the request's).
 * WARD_EINVAL for a value not a WARD_ENC_*. */
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
 * restarts, readable after a stop, gone with the handle), cut into lines
 * at '\n' (a "\r\n" ends a line as '\n' does: Windows programs end
 * theirs so), each with a time, its stream and the generation that wrote
 * it; what the worker's own children write lands there too. A line over
 * 4096 bytes is stored in pieces (WARD_LOG_CUT); control bytes but tab (a
 * '\r' elsewhere included) become '?' (WARD_LOG_BINARY); a last line
 * without its newline is stored when the stream or the process ends. Lines are stored as the
 * host's loop reads them, not in step with calls. What a worker printed
 * just before it died is read before its EXITED event is reported (or
 * ward_worker_stop returns).
 * ------------------------------------------------------------------- */
enum {
  WARD_OUTPUT_CAPTURE = 0, /* into the ring (default) */
  WARD_OUTPUT_INHERIT,     /* the host's own stdout and stderr */
  WARD_OUTPUT_FORWARD,     /* into the ring, and to the host's stderr as "[name pid] line"
                            * (never waiting: what a full stderr cannot take is left out,
                            * in pieces of at most PIPE_BUF) */
  WARD_OUTPUT_DISCARD      /* /dev/null */
};
/* Where the worker's stdout and stderr go (INHERIT and DISCARD capture
 * nothing: the ring stays empty). WARD_EINVAL for another mode. */
WARD_EXTERN int ward_spec_output(ward_spec *spec, int mode);
/* The ring's budget in bytes, at least 1024 (default WARD_LOG_RING_DEFAULT).
 * Each line costs its length plus about 64 bytes (a log record, its
 * message, keys and values, each with a NUL, plus as much); the oldest
 * lines go first (a budget smaller than a line keeps nothing of it). */
WARD_EXTERN int ward_spec_log_ring(ward_spec *spec, size_t bytes);
/* Report every line stored in the ring as a WARD_EV_LOG event, in order with
 * the worker's other events, a process's lines before its EXITED (default
 * off). Each event holds a copy of its line until delivered. The LOG
 * events waiting for delivery hold at most 8 MiB over the host (a worker
 * flooding records while the event callback is slow): past it a LOG event
 * is not made, the line being in the ring all the same (a gap in the
 * events' seq shows it). */
WARD_EXTERN int ward_spec_log_events(ward_spec *spec, int on);

/* Where a line came from: the worker's stdout or stderr, or a log record
 * the worker sent over its channel (ward_client_log, below). */
enum { WARD_LOG_STDOUT = 1, WARD_LOG_STDERR = 2, WARD_LOG_RECORD = 4 };
/* Line flags: CUT, a piece of a line longer than 4096 bytes; BINARY,
 * control bytes in it were replaced by '?'; INVALID, a record the worker
 * sent broke a rule of docs/protocol.md 8.4 and was dropped: this one, of
 * level WARN, says so in its text ("log record dropped: unknown level"). */
enum { WARD_LOG_CUT = 1, WARD_LOG_BINARY = 2, WARD_LOG_INVALID = 4 };

/* ---------------------------------------------------------------------
 * Log records: besides printing lines, a worker may send structured
 * records over its channel (ward_client_log, ward_ctx_log): a level, a
 * message, fields (key/value strings) and, when sent from a handler, the
 * host's id of the call being served (ward_call_id). The host keeps them
 * in the same ring as the captured lines, with their structure, under the
 * same byte budget; they share the lines' sequence numbers. Limits: a
 * message of at most WARD_LOG_MESSAGE_MAX bytes, at most
 * WARD_LOG_FIELDS_MAX fields, distinct keys of 1..WARD_LOG_KEY_MAX bytes
 * of [A-Za-z0-9_.-], values of at most WARD_LOG_VALUE_MAX bytes; message and
 * values UTF-8 without NUL (control bytes other than tab are stored as
 * '?', WARD_LOG_BINARY).
 * ------------------------------------------------------------------- */
enum {
  WARD_LEVEL_TRACE = 1,
  WARD_LEVEL_DEBUG = 2,
  WARD_LEVEL_INFO = 3,
  WARD_LEVEL_WARN = 4,
  WARD_LEVEL_ERROR = 5
};
#define WARD_LOG_MESSAGE_MAX 4096
#define WARD_LOG_FIELDS_MAX 32
#define WARD_LOG_KEY_MAX 64
#define WARD_LOG_VALUE_MAX 1024
/* The name of a level: "trace", "debug", "info", "warn", "error"; "unknown"
 * for another value. */
WARD_EXTERN const char *ward_level_name(int level);
/* A record as one readable line, the way ward prints records (`ward ctl
 * logs`, WARD_OUTPUT_FORWARD, a worker's stderr when its host takes no
 * records): the level's name in capitals, the message, " key=value" for
 * each field, and " (call ID)" unless call_id is 0, as in
 *     WARN disk slow ms=250 path="/a b" (call 3)
 * A value that is empty or holds a space, tab, '"', '=' or '\\' is quoted,
 * with '"' and '\\' escaped by a '\\'; control bytes other than tab are
 * written '?', so the line holds no newline. Writes at most `cap` bytes to
 * `buf`, NUL-terminated when cap > 0, and returns the whole line's length
 * without its NUL, as snprintf does (cap 0 and a NULL buf: just the
 * length). Any thread. */
WARD_EXTERN size_t ward_log_format(char *buf, size_t cap, int level, const char *msg,
                                   const ward_log_field *fields, size_t nfields,
                                   uint32_t call_id);

/* One captured line; ward_worker_logs returns an array of them, so its
 * layout never changes. */
typedef struct ward_log_line {
  uint64_t seq;        /* 1, 2, ... per worker handle, over both streams and
                          every generation, never reused: a gap means lines
                          were dropped from the ring */
  int64_t time_ms;     /* when the host read it: wall clock, ms since the epoch */
  int stream;          /* WARD_LOG_STDOUT or WARD_LOG_STDERR */
  uint32_t generation; /* the process that wrote it */
  int flags;           /* WARD_LOG_CUT, WARD_LOG_BINARY */
  const char *text;    /* without its newline, NUL-terminated */
  size_t len;          /* without the NUL */
} ward_log_line;

typedef struct ward_log_query {
  uint32_t struct_size; /* sizeof(ward_log_query) as compiled: the _INIT macro */
  int streams;         /* WARD_LOG_STDOUT | WARD_LOG_STDERR (0: both) */
  size_t last;         /* only the last N matching lines (0: all) */
  int64_t since_ms;    /* only lines read (from the worker) at or after this
                          wall-clock time */
  uint64_t after_seq;  /* only lines after this sequence number (to follow) */
  size_t limit;        /* at most this many (0: no limit) */
  /* Added with log records (past the end of the struct above): */
  int min_level;       /* only records of this WARD_LEVEL_* or above (0: no
                          filter; else captured lines, which have no level,
                          do not match) */
  uint32_t call_id;    /* only records sent for this call (ward_call_id; 0:
                          no filter; else lines do not match) */
} ward_log_query;
#define WARD_LOG_QUERY_INIT                                                                   \
  {(uint32_t)sizeof(ward_log_query), WARD_LOG_STDOUT | WARD_LOG_STDERR | WARD_LOG_RECORD, 0, \
   0, 0, 0, 0, 0}
/* Like ward_host_opts_init, for a ward_log_query. */
WARD_EXTERN int ward_log_query_init(ward_log_query *q, size_t size);

/* Copies out the captured lines matching `q` (NULL: all), oldest first: a
 * line matches when its stream is among q->streams (0: all three), its
 * time_ms >= since_ms, its seq > after_seq, and it passes min_level and
 * call_id; of the matches `last` keeps the last N, then `limit` the first
 * that many. A record comes as a line of stream WARD_LOG_RECORD whose
 * text is its message (ward_worker_log_entries has its level and fields).
 * To follow a worker, ask each time for the lines after the last seq
 * seen. *out is an array of *count lines (allocated even when empty):
 * free it with ward_log_lines_free. From any thread, ward callbacks
 * included. Errors: WARD_EINVAL (also a bad q->struct_size),
 * WARD_ENOMEM; then *out is NULL and *count 0. */
WARD_EXTERN int ward_worker_logs(ward_log_line **out, size_t *count, const ward_worker *w,
                                 const ward_log_query *q);
WARD_EXTERN void ward_log_lines_free(ward_log_line *lines, size_t count);

/* A captured line or a record with its structure, as
 * ward_worker_log_entries returns them. Travels in arrays: its layout
 * never changes (ward_log_line's could not grow, so this is its own type). */
typedef struct ward_log_entry {
  uint64_t seq;                 /* as in ward_log_line */
  int64_t time_ms;              /* when the host read it */
  int stream;                   /* WARD_LOG_STDOUT, WARD_LOG_STDERR or WARD_LOG_RECORD */
  uint32_t generation;          /* the process that wrote it */
  int flags;                    /* WARD_LOG_CUT, WARD_LOG_BINARY, WARD_LOG_INVALID */
  const char *text;             /* the line, or the record's message; NUL-terminated */
  size_t len;                   /* without the NUL */
  int level;                    /* a record's WARD_LEVEL_*; 0 for a line */
  uint32_t call_id;             /* a record's call (ward_call_id), or 0 */
  const ward_log_field *fields; /* a record's fields, in the order sent, or NULL */
  size_t nfields;
} ward_log_entry;
/* As ward_worker_logs, with the records' structure: the same matches of
 * `q`, as ward_log_entry. Free the array with ward_log_entries_free. Same
 * thread rules and errors. */
WARD_EXTERN int ward_worker_log_entries(ward_log_entry **out, size_t *count,
                                        const ward_worker *w, const ward_log_query *q);
WARD_EXTERN void ward_log_entries_free(ward_log_entry *entries, size_t count);

/* For a program that replaces a worker by a handle of its own (starts
 * `w` beside `from`, then puts it in its place, as `ward ctl replace`
 * does): the lines and records kept in `from`'s log ring move into `w`'s,
 * before those `w` has, so that the service's log reads on. The moved
 * lines keep their seq, time and generation; `w`'s own are numbered after
 * them (call it before anyone follows `w`'s seq); then `w`'s ring drops
 * its oldest lines to stay within its ward_spec_log_ring. `from`'s ring is
 * left empty, and what its process writes later goes to it as before.
 * Both handles stay the caller's. Any thread, ward callbacks included.
 * Errors: WARD_EINVAL (NULL, one handle twice, or handles of two hosts). */
WARD_EXTERN int ward_worker_take_logs(ward_worker *w, ward_worker *from);

/* ---------------------------------------------------------------------
 * Data directory: each worker handle gets a private directory (mkdtemp,
 * 0700, ROOT/ward-NAME-XXXXXX with NAME the spec's name cut to 40 bytes,
 * '/' and '.' made '_'; an absolute path), named in the worker's
 * WARD_DATA_DIR, created before its first start, the same for every
 * generation (restarts keep it and its contents) and removed with its
 * contents (depth first, not following symbolic links, best effort) when
 * the handle is released (ward_worker_free, ward_host_free, a failed
 * first ward_spawn) unless kept, or by the host's guard process should the
 * host die without releasing it (even by SIGKILL; once the worker's group
 * is gone, or after 2 s). If it cannot be made the start fails: WARD_ESYS,
 * or WARD_EINVAL for a path over 305 bytes. The setters fail only with
 * WARD_EINVAL (NULL spec) and WARD_ENOMEM.
 * ------------------------------------------------------------------- */
/* Where the directories go (default: $XDG_RUNTIME_DIR if set and
 * writable, else $TMPDIR, else /tmp, as at the first start); the string is
 * copied, the directory must exist. NULL gives no data directory at all
 * (no WARD_DATA_DIR); a later call with a path turns it back on. */
WARD_EXTERN int ward_spec_data_root(ward_spec *spec, const char *root);
/* Keep the directory when the handle is released (it is then yours to
 * remove; the guard leaves it too). */
WARD_EXTERN int ward_spec_keep_data(ward_spec *spec, int keep);
/* The worker's data directory, or NULL (none, or a NULL handle). Set from
 * the first start on; valid as long as the handle. */
WARD_EXTERN const char *ward_worker_data_dir(const ward_worker *w);

/* ---------------------------------------------------------------------
 * The sandbox (Linux): restrictions put on a worker's process after it is
 * started and before it runs the executable, each switched on the spec.
 * docs/extensions.md, section "The sandbox", is the guide (what each
 * restriction allows and refuses, and how to widen it); docs/platforms.md
 * says what each backend can apply.
 *
 * They are applied in the child, in this order, every time a process of
 * the worker starts (a restart is sandboxed again): the resource limits;
 * PR_SET_NO_NEW_PRIVS; new namespaces; Landlock (file-system access);
 * the capabilities dropped; the seccomp filter, last, right before exec.
 * Whatever they need (the BPF program of the filter, built with
 * libseccomp, the Landlock ruleset) is prepared by the host beforehand,
 * so that the child only makes system calls. They hold for the worker
 * and everything it starts, and it cannot lift them.
 *
 * A restriction asked for that this machine or backend cannot apply (no
 * Landlock in the kernel, no seccomp, namespaces refused, the portable
 * POSIX backend, a Linux host that cannot use its cloning spawn: valgrind,
 * no pidfds) fails the start with WARD_ESPAWN, ward_last_errno() ENOTSUP
 * and ward_last_error() naming it, unless ward_sandbox.best_effort says
 * to run with what can be applied. Never silently: ward_info.sandbox says
 * which restrictions are in force for the current process, and
 * ward_info.landlock_abi which Landlock ABI (older kernels handle fewer
 * kinds of access: best effort, reported).
 * ------------------------------------------------------------------- */
/* The restrictions, as bits of ward_info.sandbox (and of
 * ward_sandbox.namespaces, for the three namespaces). */
enum {
  WARD_SANDBOX_RLIMITS = 1 << 0,      /* resource limits set (a field not 0) */
  WARD_SANDBOX_NO_NEW_PRIVS = 1 << 1, /* PR_SET_NO_NEW_PRIVS: exec grants nothing */
  WARD_SANDBOX_NO_CAPS = 1 << 2,      /* no capabilities (matters for a host run as root) */
  WARD_SANDBOX_SECCOMP = 1 << 3,      /* the system-call filter */
  WARD_SANDBOX_LANDLOCK = 1 << 4,     /* file-system access limited (Landlock) */
  WARD_SANDBOX_NEW_NET = 1 << 5,      /* a network namespace of its own (no network) */
  WARD_SANDBOX_NEW_IPC = 1 << 6,      /* an IPC namespace of its own (System V IPC) */
  WARD_SANDBOX_NEW_PID = 1 << 7       /* a PID namespace of its own (it is pid 1) */
};
/* Permissions: what widens the seccomp filter (ward_sandbox.permissions). */
enum {
  WARD_PERMIT_NETWORK = 1 << 0 /* Internet sockets (AF_INET, AF_INET6, AF_NETLINK) */
};

/* The defaults of ward_sandbox (WARD_SANDBOX_INIT). A resource limit of 0
 * leaves what the process inherits. */
#define WARD_SANDBOX_NO_NEW_PRIVS_DEFAULT 1           /* on */
#define WARD_SANDBOX_DROP_CAPS_DEFAULT 1              /* on */
#define WARD_SANDBOX_RLIMIT_AS_DEFAULT 0              /* inherited: see the field */
#define WARD_SANDBOX_RLIMIT_NOFILE_DEFAULT 1024       /* open files */
#define WARD_SANDBOX_RLIMIT_NPROC_DEFAULT 0           /* inherited: see the field */
#define WARD_SANDBOX_RLIMIT_CPU_DEFAULT 0             /* inherited (no CPU limit) */
#define WARD_SANDBOX_RLIMIT_FSIZE_DEFAULT (1ull << 30) /* bytes (1 GiB) */
#define WARD_SANDBOX_SECCOMP_DEFAULT 1                /* on */
#define WARD_SANDBOX_LANDLOCK_DEFAULT 1               /* on */
#define WARD_SANDBOX_SYSTEM_PATHS_DEFAULT 1           /* the system's libraries readable */
#define WARD_SANDBOX_NAMESPACES_DEFAULT 0             /* none */
#define WARD_SANDBOX_BEST_EFFORT_DEFAULT 0            /* refuse to start unsandboxed */

typedef struct ward_sandbox {
  uint32_t struct_size; /* sizeof(ward_sandbox) as compiled: the _INIT macro */
  int no_new_privs;     /* 1: PR_SET_NO_NEW_PRIVS (set-user-ID bits and file
                           capabilities give nothing) */
  int drop_caps;        /* 1: the process keeps no capability (bounding,
                           permitted, effective, inheritable, ambient), so a
                           host run as root starts a worker that cannot
                           raise its limits or reach past its filter */
  /* Resource limits, soft and hard alike (setrlimit); 0 leaves the one
   * inherited. A limit above the inherited hard limit of a process
   * without CAP_SYS_RESOURCE is the inherited one. */
  uint64_t rlimit_as;     /* address space, bytes (RLIMIT_AS). Off by default:
                             sanitizers and JITs reserve terabytes they
                             never use; ward_spec_memory_limit limits what
                             is used */
  uint64_t rlimit_nofile; /* open descriptors (RLIMIT_NOFILE) */
  uint64_t rlimit_nproc;  /* processes of the user, all of them, not only
                             the worker's (RLIMIT_NPROC; not enforced for
                             root). Off by default for that reason */
  uint64_t rlimit_cpu;    /* CPU seconds (RLIMIT_CPU: SIGXCPU, then SIGKILL) */
  uint64_t rlimit_fsize;  /* the largest file it may write, bytes
                             (RLIMIT_FSIZE: SIGXFSZ) */
  int seccomp;            /* 1: the system-call filter: an allow-list for
                             compute and I/O on open channels and on files
                             Landlock allows; sockets other than Unix ones,
                             ptrace, mount, module loading, kexec, bpf,
                             keyctl, personality, namespaces and the like
                             fail with EPERM (docs/extensions.md) */
  unsigned permissions;   /* WARD_PERMIT_*: what widens the filter */
  int landlock;           /* 1: file-system access limited to the paths
                             below, the executable and the data directory */
  const char *const *read_paths;  /* NULL-terminated, or NULL: files and
                                     folders (and all beneath) it may read
                                     and execute; copied */
  const char *const *write_paths; /* the same, read, write, create and
                                     remove; the worker's data directory
                                     always is one */
  int system_paths;       /* 1: the system's library folders (/usr, /lib,
                             /lib64, /bin, /sbin, /etc/ld.so.cache...) and
                             a few devices (/dev/null, /dev/zero,
                             /dev/urandom) readable, /dev/null writable */
  int namespaces;         /* WARD_SANDBOX_NEW_NET | _IPC | _PID: new
                             namespaces (without privilege, inside a new
                             user namespace where the kernel allows it) */
  int best_effort;        /* 0: a restriction asked for that cannot be
                             applied fails the start (WARD_ESPAWN, errno
                             ENOTSUP); 1: start with those that can be,
                             reported in ward_info.sandbox */
} ward_sandbox;
#define WARD_SANDBOX_INIT                                                                 \
  {(uint32_t)sizeof(ward_sandbox), WARD_SANDBOX_NO_NEW_PRIVS_DEFAULT,                     \
   WARD_SANDBOX_DROP_CAPS_DEFAULT, WARD_SANDBOX_RLIMIT_AS_DEFAULT,                        \
   WARD_SANDBOX_RLIMIT_NOFILE_DEFAULT, WARD_SANDBOX_RLIMIT_NPROC_DEFAULT,                 \
   WARD_SANDBOX_RLIMIT_CPU_DEFAULT, WARD_SANDBOX_RLIMIT_FSIZE_DEFAULT,                    \
   WARD_SANDBOX_SECCOMP_DEFAULT, 0, WARD_SANDBOX_LANDLOCK_DEFAULT, NULL, NULL,            \
   WARD_SANDBOX_SYSTEM_PATHS_DEFAULT, WARD_SANDBOX_NAMESPACES_DEFAULT,                    \
   WARD_SANDBOX_BEST_EFFORT_DEFAULT}
/* Like ward_host_opts_init, for a ward_sandbox. */
WARD_EXTERN int ward_sandbox_init(ward_sandbox *sb, size_t size);

/* Sandboxes the spec's workers as `sb` says (its first struct_size bytes;
 * the strings are copied), replacing what an earlier call set; NULL: no
 * sandbox (the default). Nothing is checked against the machine here:
 * that happens at each start. Errors: WARD_EINVAL (NULL spec, a bad
 * struct_size, an unknown bit in namespaces or permissions, an empty or
 * relative path), WARD_ENOMEM. */
WARD_EXTERN int ward_spec_sandbox(ward_spec *spec, const ward_sandbox *sb);

/* What the sandbox can put in force here, on this machine and backend
 * (ward probe shows it): the WARD_SANDBOX_* bits a start could apply (the
 * namespaces: those this process may make, tried in a short-lived child),
 * and the kernel's Landlock ABI in *landlock_abi (0: none; may be NULL).
 * 0 on the portable backend. From any thread; it never fails. */
WARD_EXTERN uint64_t ward_sandbox_supported(int *landlock_abi);

/* ---------------------------------------------------------------------
 * Worker pools: N identical workers from one spec (each an ordinary
 * supervised worker with its own log ring and data directory). A pool
 * call goes to a free ready worker (a worker takes one pool call at a
 * time), else to a free one on its way back (restarting, backing off,
 * starting, idle), else a failed, exited or stopped one is replaced by a
 * new one, else the pool grows up to its maximum (on a thread of its own),
 * else the call waits for a free worker within its deadline
 * (WARD_ETIMEDOUT, "no free worker in the pool"). A call is never retried
 * on another worker: if its worker dies it ends WARD_ECRASHED and that
 * worker is restarted under the spec's policy while the others keep
 * serving. Workers beyond the minimum idle past idle_ms are stopped by the
 * pool's own thread. Every function is thread-safe; none that waits may be
 * called from a ward callback (WARD_EINVAL).
 * ------------------------------------------------------------------- */
typedef struct ward_pool ward_pool;

typedef struct ward_pool_opts {
  uint32_t struct_size; /* sizeof(ward_pool_opts) as compiled: the _INIT macro */
  int min_workers; /* started at once, never stopped for idling (>= 0; 0:
                      the first call starts one) */
  int max_workers; /* the most it grows to (>= 1, >= min_workers) */
  int idle_ms;     /* a worker beyond the minimum idle this long goes
                    * (0: as soon as its call ends), stopped by the pool's
                    * own thread, which runs when max_workers > min_workers */
  int spares;      /* spare processes each worker of the pool keeps
                      (ward_spec_spares; 0..WARD_MAX_SPARES): -1, the
                      default, leaves the spec's setting */
} ward_pool_opts;
#define WARD_POOL_OPTS_INIT                                                              \
  {(uint32_t)sizeof(ward_pool_opts), WARD_POOL_MIN_WORKERS_DEFAULT,                     \
   WARD_POOL_MAX_WORKERS_DEFAULT, WARD_POOL_IDLE_MS_DEFAULT, WARD_POOL_SPARES_DEFAULT}
/* Like ward_host_opts_init, for a ward_pool_opts. */
WARD_EXTERN int ward_pool_opts_init(ward_pool_opts *opts, size_t size);

/* Copies the spec and starts the minimum number of workers, one after
 * another; if one fails, those started are stopped and its error returned,
 * as ward_spawn gives it. Errors also WARD_EINVAL for sizes out of order,
 * idle_ms < 0 or a bad opts->struct_size. `opts` may be NULL
 * (WARD_POOL_OPTS_INIT). */
WARD_EXTERN int ward_pool_new(ward_pool **out, ward_host *host, const ward_spec *spec,
                              const ward_pool_opts *opts);
/* Waits for starts under way, then stops and frees the pool's workers (as
 * ward_worker_free) and the pool. No call may be in flight; not from a
 * ward callback. */
WARD_EXTERN void ward_pool_free(ward_pool *pool);
/* Like ward_request / ward_request_ex, on a worker the pool chooses (see
 * above), with what is left of the deadline, which starts with the pool
 * call; outcomes as there, plus the error of a start the call asked for
 * when no worker came free. */
WARD_EXTERN int ward_pool_request(ward_msg **reply, ward_pool *pool, const char *method,
                                  const void *data, size_t len, int timeout_ms);
WARD_EXTERN int ward_pool_request_ex(ward_msg **reply, ward_pool *pool, const char *method,
                                     const void *data, size_t len, const ward_call_opts *opts);

/* Moves the pool to `spec` (copied), member by member, as "Rolling
 * replacement" above says: a new member from the new spec joins once
 * ready (and past its doctor check, if `opts` ask), the old one it
 * replaces takes no new call, gets up to opts->drain_ms to finish the call
 * it is serving, and is stopped (its handle, like one stopped for idling,
 * stays valid until the next pool call). Members the pool grows by from
 * the first ready new member on are started from the new spec, and so is
 * every later one. Blocks until every member runs the new spec, or until
 * one fails; calls go on from other threads meanwhile. A pool with no
 * member takes the new spec at once. On failure the new process is
 * stopped, the members not yet replaced keep serving with the old spec
 * (those already replaced stay on the new one, and so does later growth
 * if one was), and the error is that of the start as ward_worker_wait_ready
 * gives it (WARD_ESPAWN, WARD_EHANDSHAKE, WARD_EGAVEUP, WARD_ECRASHED,
 * WARD_ETIMEDOUT: not ready within opts->ready_ms), or of the doctor check
 * (as ward_doctor gives it, WARD_ENOMETHOD for a worker without one,
 * WARD_EREMOTE for a check with status error), with ward_last_error()
 * naming the member and the cause. Also WARD_EINVAL (NULL pool or spec, a
 * bad opts->struct_size, ready_ms <= 0, drain_ms < 0, another replacement
 * of the pool under way, or a ward callback), WARD_ENOMEM. `opts` may be
 * NULL (WARD_REPLACE_OPTS_INIT). Not while ward_pool_free runs. */
WARD_EXTERN int ward_pool_replace(ward_pool *pool, const ward_spec *spec,
                                  const ward_replace_opts *opts);

typedef struct ward_pool_stats {
  uint32_t struct_size; /* sizeof(ward_pool_stats) as compiled: the _INIT macro */
  size_t workers;     /* now, failed ones included */
  size_t busy;        /* serving a call now */
  uint64_t calls;     /* calls made through the pool */
  uint64_t failures;  /* of them, ended with an error (remote errors included,
                         and calls that found or started no worker) */
  uint64_t grown;     /* workers added beyond the minimum, in all */
  uint64_t shrunk;    /* workers stopped for being idle, in all */
  uint64_t replaced;  /* workers started in the place of a failed, exited or
                         stopped one */
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
 * how many (0 for NULL). They are the pool's: do not stop or free them; a
 * call made on one directly bypasses the pool's one call at a time. */
WARD_EXTERN size_t ward_pool_workers(ward_worker **out, size_t cap, ward_pool *pool);

/* ---------------------------------------------------------------------
 * Handshake requirements (on the spec): a worker that does not announce
 * what the host needs is refused at its handshake (a GOODBYE naming what
 * was missing, then SIGKILL, reason PROTOCOL), and ward_spawn (or
 * ward_worker_restart of a stopped, exited or failed worker) fails with
 * WARD_EHANDSHAKE, ward_last_error() naming what was missing; for a later
 * process it is a failed start like any other.
 * ------------------------------------------------------------------- */
/* The worker must serve `method` (once per method). WARD_EINVAL for a bad
 * name. */
WARD_EXTERN int ward_spec_require_method(ward_spec *spec, const char *method);
/* The worker's "version" metadata must be >= `min` and < `below` (NULL for
 * no bound; a worker that announces no version fails any bound; a new
 * call replaces the bounds). Dotted numbers are compared part by part,
 * numerically ("1.10" > "1.9"); a missing part is 0 ("1.2" = "1.2.0"); a
 * part ends at its first non-digit, and if that is not a dot the rest is
 * ignored ("1.2-beta" = "1.2"); a part not starting with a digit is 0. */
WARD_EXTERN int ward_spec_require_version(ward_spec *spec, const char *min, const char *below);

/* ---------------------------------------------------------------------
 * JSON (jansson). Payloads tagged WARD_ENC_JSON, as jansson values. The
 * core never parses payloads; these functions do, on the caller's side.
 * Values are encoded compactly; any JSON value is accepted at the top
 * level. Decode errors are WARD_EPROTO, and ward_last_error names the
 * method (and, for rows, the stream and sequence number). The calling
 * side blocks like ward_request_ex (WARD_EINVAL in a ward callback).
 * Include <jansson.h> and link jansson to use them.
 * ------------------------------------------------------------------- */
struct json_t;

/* Calls `method` with `params` (NULL sends null) and decodes the reply
 * into *result (a new reference, json_decref it; may be NULL to ignore).
 * A reply that is not JSON (an empty one included) makes the outcome
 * WARD_EPROTO. On WARD_EREMOTE, *result is the error's data if it was
 * JSON (or NULL), and ward_last_error holds the code and message (the
 * remote error itself is not returned). On any other outcome *result is
 * NULL. WARD_EINVAL also when `params` cannot be encoded. */
WARD_EXTERN int ward_request_json(struct json_t **result, ward_worker *w, const char *method,
                                  const struct json_t *params, int timeout_ms);

/* Rows decoded as JSON; `row` is borrowed for the callback's duration. */
typedef void (*ward_json_row_cb)(const char *stream, uint64_t seq, struct json_t *row,
                                 void *ud);
/* The same with options (may be NULL; their encoding is forced to JSON)
 * and a JSON row sink: a non-NULL `on_row` replaces opts->on_row and gets
 * `row_ud`; opts->on_progress and on_diag run as usual. A row that is not
 * valid JSON is not delivered; a call that then succeeds ends with
 * WARD_EPROTO, naming the first such row. */
WARD_EXTERN int ward_request_json_ex(struct json_t **result, ward_worker *w, const char *method,
                                     const struct json_t *params, const ward_call_opts *opts,
                                     ward_json_row_cb on_row, void *row_ud);

/* Serving side, in handlers: ward_ctx_params_json decodes a request's
 * payload into *out (a new reference; WARD_EPROTO, with "params of 'm':
 * invalid JSON..." in ward_last_error, if it is not JSON: a handler may
 * pass that on with ward_ctx_fail(ctx, WARD_EPROTO, ward_last_error())).
 * The others encode `value` (NULL: null; for ward_ctx_fail_json a NULL
 * `data` sends none) and send it as ward_ctx_reply, ward_ctx_row and
 * ward_ctx_fail_data would, with their errors, setting the ctx's encoding
 * to JSON for the rest of the call (ward_ctx_fail_json only with data).
 * There are no JSON forms of ward_ctx_progress, ward_notify or the
 * client's calls: encode with json_dumps (they tag JSON already; progress
 * uses the ctx's encoding). */
WARD_EXTERN int ward_ctx_params_json(ward_ctx *ctx, const void *data, size_t len,
                                     struct json_t **out);
WARD_EXTERN int ward_ctx_reply_json(ward_ctx *ctx, const struct json_t *value);
WARD_EXTERN int ward_ctx_row_json(ward_ctx *ctx, const char *stream, const struct json_t *value);
WARD_EXTERN int ward_ctx_fail_json(ward_ctx *ctx, int code, const char *message,
                                   const struct json_t *data);

/* Validate JSON-tagged payloads the worker sends at the boundary. A reply,
 * row or progress report that does not parse ends its call with
 * WARD_EPROTO (the worker is not cut off; what still comes for the call is
 * dropped; for a row or progress the worker gets a CANCEL); a request to
 * the host is answered -9 ("invalid JSON") without reaching a handler;
 * such a notification is dropped. Diagnostics, error data and payloads
 * tagged otherwise are not checked. Off by default (it costs a parse per
 * message). */
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

/* Asks the worker for its checks (params null) and decodes them, in
 * order (a missing message becomes ""; `worst` is WARD_CHECK_PASS for an
 * empty list). Errors as for ward_request_json, WARD_ENOMETHOD when it
 * has no doctor, WARD_EPROTO when the answer is not an object with a
 * "checks" array, or a check lacks a string name or a known status; *out
 * is NULL then. Free with ward_doctor_report_free. */
WARD_EXTERN int ward_doctor(ward_doctor_report **out, ward_worker *w, int timeout_ms);
WARD_EXTERN void ward_doctor_report_free(ward_doctor_report *r);
/* Worker side: answers a "ward.doctor" call with these checks (a NULL name
 * or message becomes "", a status out of range "error"). */
WARD_EXTERN int ward_ctx_reply_doctor(ward_ctx *ctx, const ward_check *checks, size_t count);

/* ---------------------------------------------------------------------
 * Extension host
 *
 * For programs that load extensions: other people's code, each in a
 * folder with a manifest, `ward-extension.json`, run as ward workers of
 * the `extension` class (lower priority, a memory limit, sandboxed when
 * the sandbox is there, started when first needed, ended when idle).
 * docs/extensions.md specifies the manifest and tells the whole of it.
 *
 *   - ward_ext_host_scan loads the manifests of a list of folders; one
 *     that is malformed is refused (WARD_EXT_EV_REFUSED: file, JSON path,
 *     reason) and the others load.
 *   - An extension's process starts on its activation events: the first
 *     call of one of its commands (onCommand:ID), or the scan
 *     (onStartup). At its handshake the process says which methods it
 *     serves; commands contributed but not served, and methods served but
 *     not contributed, are reported (WARD_EXT_EV_MISMATCH), and a command
 *     not served fails with WARD_ENOMETHOD.
 *   - ward_ext_command routes a command, "EXT.ID/COMMAND" or a bare
 *     command id, to its extension, checks its params against the
 *     manifest's description (WARD_EINVAL naming the parameter, before
 *     anything is sent), and calls it like any worker call: progress,
 *     rows, deadline, cancellation (ward_ext_command_start).
 *   - Extensions call the program through host methods registered with
 *     ward_ext_host_method, each with the permission it needs; a call
 *     from an extension whose manifest did not ask for it is refused with
 *     WARD_EPERM (the extension sees remote code -16) and counted.
 *   - Each extension is its own supervised worker: one that crashes,
 *     hangs or floods affects no other; it is restarted under its class's
 *     policy and, past the limit, disabled (WARD_EXT_EV_DISABLED, saying
 *     why); ward_ext_list reports each.
 * Thread safety as everywhere (the top of this header); the event
 * callback runs on the extension host's own I/O thread.
 * ------------------------------------------------------------------- */
typedef struct ward_ext_host ward_ext_host;

/* The manifest's file name in an extension's folder. */
#define WARD_EXT_MANIFEST "ward-extension.json"

typedef enum {
  WARD_EXT_EV_REFUSED = 1, /* a manifest was refused (file, path, detail) */
  WARD_EXT_EV_ACTIVATED,   /* its process completed the handshake (pid) */
  WARD_EXT_EV_MISMATCH,    /* what it serves differs from what it contributes
                              (detail names each) */
  WARD_EXT_EV_EXITED,      /* its process ended (pid, detail: how) */
  WARD_EXT_EV_IDLE,        /* its process was ended for being idle */
  WARD_EXT_EV_DISABLED,    /* past its restart limit: disabled (detail: why) */
  WARD_EXT_EV_DENIED       /* a host method call refused for want of a
                              permission (detail: method and permission) */
} ward_ext_event_type;
/* "refused", "activated", ... ("unknown" for another value). */
WARD_EXTERN const char *ward_ext_event_name(int type);

/* Allocated by ward and passed to the callback; grows only at its end.
 * Strings are valid during the callback; a field that does not apply is
 * NULL or 0. */
typedef struct ward_ext_event {
  int type;           /* ward_ext_event_type */
  const char *ext;    /* the extension's name (REFUSED: if the manifest
                         said one) */
  const char *file;   /* REFUSED: the manifest's path */
  const char *path;   /* REFUSED: where in the manifest, as a JSON path
                         ("$.contributions.commands[1].id") */
  const char *detail; /* a sentence for humans */
  int pid;
} ward_ext_event;
typedef void (*ward_ext_event_cb)(const ward_ext_event *ev, void *ud);

typedef struct ward_ext_host_opts {
  uint32_t struct_size;       /* sizeof(ward_ext_host_opts) as compiled: the _INIT macro */
  ward_ext_event_cb on_event; /* or NULL */
  void *event_ud;
  int idle_ms;                /* an active extension's process ends after
                                 this long without a call: 0 the class's
                                 (WARD_CLASS_EXTENSION), negative never */
  int lazy;                   /* 1 (default): processes start on their
                                 activation events; 0: every valid
                                 extension starts at the scan */
  int any_permission;         /* 1: every well-formed permission name is
                                 known (a tool that checks manifests for
                                 any host, as `ward ext`); 0 (default):
                                 the built-in ones and those the program
                                 registers */
} ward_ext_host_opts;
#define WARD_EXT_HOST_OPTS_INIT {(uint32_t)sizeof(ward_ext_host_opts), NULL, NULL, 0, 1, 0}
/* Like ward_host_opts_init, for a ward_ext_host_opts. */
WARD_EXTERN int ward_ext_host_opts_init(ward_ext_host_opts *opts, size_t size);

/* Creates an extension host, with a ward host of its own (its guard and
 * I/O thread: ward_host_new). `opts` may be NULL. Errors: as
 * ward_host_new. */
WARD_EXTERN int ward_ext_host_new(ward_ext_host **out, const ward_ext_host_opts *opts);
/* Stops every extension's process and frees the host (as ward_host_free;
 * no command may be in flight). NULL is fine. */
WARD_EXTERN void ward_ext_host_free(ward_ext_host *eh);

/* Registers a host method extensions may call, `permission` the name an
 * extension's manifest must list to call it (NULL: any extension may).
 * The handler runs as a ward_host_handle handler (ward_ctx_worker is the
 * extension's worker). A permission named here is known to the manifests
 * scanned afterwards. Register before scanning. Errors: WARD_EINVAL (bad
 * method name, a permission that is not 1..255 bytes of letters, digits
 * and ".:_-/"), WARD_ENOMEM. */
WARD_EXTERN int ward_ext_host_method(ward_ext_host *eh, const char *method,
                                     const char *permission, ward_handler fn, void *ud);
/* Makes `permission` known to the manifests scanned afterwards without a
 * host method (one the program checks itself). Built in: "network",
 * "fs.read:PATH" and "fs.write:PATH" (PATH absolute), the sandbox's. */
WARD_EXTERN int ward_ext_host_permission(ward_ext_host *eh, const char *permission);

/* Loads the extensions of `count` folders: a folder holding
 * WARD_EXT_MANIFEST is one extension, any other folder is searched one
 * level down (each subfolder holding one is an extension). Every manifest
 * found is loaded or refused (an event, and an entry in ward_ext_list with
 * its reason); a second extension of a name already loaded is refused.
 * Extensions with onStartup start now. `*loaded` (may be NULL) is set to
 * the number loaded. Returns 0 however many were refused; WARD_EINVAL for
 * NULL arguments, WARD_ENOMEM. */
WARD_EXTERN int ward_ext_host_scan(ward_ext_host *eh, const char *const *folders, size_t count,
                                   size_t *loaded);

/* Runs `command` ("EXT.ID/COMMAND", or a bare COMMAND that one extension
 * alone contributes) with params `params` (JSON text, `len` bytes; empty
 * means {}), and waits for its outcome as ward_request_ex does (`opts`:
 * deadline, progress, rows...; may be NULL). The extension's process is
 * started first if need be, within the call's deadline. Errors, besides
 * those of ward_request_ex: WARD_ENOMETHOD (no extension contributes the
 * command, or its process does not serve it), WARD_EINVAL (an ambiguous
 * bare id; params that are not JSON or do not match the command's
 * description: ward_last_error names the parameter), WARD_EGAVEUP (the
 * extension is disabled). */
WARD_EXTERN int ward_ext_command(ward_msg **reply, ward_ext_host *eh, const char *command,
                                 const void *params, size_t len, const ward_call_opts *opts);
/* The same without waiting, as ward_call_start (its rules, its `done`);
 * routing and params are checked before it returns. */
WARD_EXTERN int ward_ext_command_start(ward_call **out, ward_ext_host *eh, const char *command,
                                       const void *params, size_t len,
                                       const ward_call_opts *opts, ward_call_cb done, void *ud);

typedef enum {
  WARD_EXT_INVALID = 1, /* its manifest was refused */
  WARD_EXT_INACTIVE,    /* no process: not activated yet, or idle */
  WARD_EXT_STARTING,    /* its process is starting (or restarting) */
  WARD_EXT_ACTIVE,      /* its process is ready */
  WARD_EXT_DISABLED     /* past its restart limit */
} ward_ext_state;
/* "invalid", "inactive", ... ("unknown" for another value). */
WARD_EXTERN const char *ward_ext_state_name(int state);

/* One extension as ward_ext_list reports it; allocated by ward, read
 * only, grows only at its end. Strings live as long as the list. */
typedef struct ward_ext_info {
  const char *name;       /* "" for a manifest refused before its name */
  const char *version;    /* "" if unknown */
  const char *folder;
  const char *manifest;   /* the manifest's path */
  int state;              /* ward_ext_state */
  int pid;                /* 0 without a process */
  uint32_t restarts;      /* new processes after failures */
  uint32_t activations;   /* processes that completed the handshake */
  uint64_t denied;        /* host method calls refused (permissions) */
  const char *last_error; /* the refusal, the last exit, a mismatch, or "" */
  const char *const *commands; /* contributed command ids, NULL-terminated */
  size_t ncommands;
  const char *const *permissions; /* asked for, NULL-terminated */
  size_t npermissions;
  uint64_t sandbox;       /* WARD_SANDBOX_* in force for its process
                             (ward_info.sandbox), 0 without one */
} ward_ext_info;

/* A snapshot of every extension loaded or refused, in scan order: *out
 * an array of `*count` pointers, freed with ward_ext_list_free. Errors:
 * WARD_EINVAL, WARD_ENOMEM. */
WARD_EXTERN int ward_ext_list(ward_ext_info ***out, size_t *count, ward_ext_host *eh);
WARD_EXTERN void ward_ext_list_free(ward_ext_info **list, size_t count);

#ifdef __cplusplus
}
#endif
#endif /* WARD_H */
