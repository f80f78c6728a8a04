/*
 * spec.h — a spec, as the host keeps it: how to start a worker and how to
 * supervise it. A plain value; spec.c sets it through the public
 * ward_spec_* functions and copies it for each worker.
 */
#ifndef WARD_SPEC_H
#define WARD_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "ward.h"

struct ward_spec {
  char *name;
  char *exe;
  char **args; /* argv[1..] */
  size_t nargs;
  char **env;  /* "KEY=VALUE" to set, "KEY" to remove, in order */
  size_t nenv;
  char *cwd;
  int transport;
  int frames;              /* WARD_FRAMES_* */
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
  uint64_t tree_mem_max, tree_mem_high; /* ward_spec_tree_limits (0: none) */
  uint64_t tree_pids;
  uint32_t tree_cpu_pct;
  int idle_ms;             /* 0: off */
  int wait_restart;
  int cancel_grace_ms;
  int validate_json;
  uint32_t max_frame;      /* the worker's limit, passed as WARD_MAX_FRAME */
  uint32_t zerocopy_min;   /* payloads in shared memory from this size (0: never) */
  int output;              /* WARD_OUTPUT_* */
  size_t log_ring;
  int log_events;
  char *data_root;         /* where data directories go, or NULL: default */
  int no_data_dir;
  int keep_data;
  char **req_methods;      /* methods the worker must announce */
  size_t nreq_methods;
  char *ver_min, *ver_below; /* bounds on its "version" metadata, or NULL */
  struct ward__sandbox *sandbox; /* or NULL: none (sandbox.h, sandbox.c) */
  int proc_class;          /* ward_class */
  unsigned set;            /* WARD__SET_*: settings given explicitly, which
                              the class does not change */
  int nice;                /* added to the host's nice value */
  int io_level;            /* 0..7, or WARD_IO_INHERIT */
  int lazy;                /* no process until the first call */
  uint32_t spares;         /* processes kept started and ready, not serving */
  int set_ids;             /* ward_spec_user: run as uid/gid with `groups` */
  uint32_t uid, gid;
  uint32_t *groups;        /* supplementary groups (ngroups), or NULL */
  size_t ngroups;
  int umask;               /* 0..0777, or -1: the host's */
  int sandboxed;           /* the class says sandboxed (class.c) */
};

/* The settings a class covers; a setter marks its bit. */
enum {
  WARD__SET_RESTART = 1u << 0,
  WARD__SET_INTENSITY = 1u << 1,
  WARD__SET_HEARTBEAT = 1u << 2,
  WARD__SET_MEMORY = 1u << 3,
  WARD__SET_IDLE = 1u << 4,
  WARD__SET_PRIORITY = 1u << 5,
  WARD__SET_LAZY = 1u << 6,
  WARD__SET_SANDBOX = 1u << 7
};

/* Applies the class's defaults to what was not set explicitly (class.c). */
void ward__spec_apply_class(ward_spec *s);

ward_spec *ward__spec_dup(const ward_spec *s);
/* argv for exec: the executable then the args (free with ward__strv_free). */
int ward__spec_argv(const ward_spec *s, char ***out);
/* The host's environment with the spec's changes and `extra` entries. */
int ward__spec_envp(const ward_spec *s, char *const *extra, char ***out);
void ward__strv_free(char **v);

#endif
