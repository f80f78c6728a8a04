/*
 * jail.h — the Linux jail (platform.h's ward__jail): what the host
 * prepares for one sandboxed process, and what the child of the cloning
 * spawn (spawn.c) does with it between clone and exec (sandbox.c).
 */
#ifndef WARD_LINUX_JAIL_H
#define WARD_LINUX_JAIL_H

#include <linux/filter.h>
#include <stdint.h>

#include "platform.h"

/* Code of the clone child: it runs on memory it shares with the host, so
 * no instrumentation and nothing but system calls. */
#define WARD__CHILD_CODE __attribute__((no_sanitize("address", "thread", "undefined"), noinline))

enum { WARD__JAIL_MAX_LIMITS = 5 };

struct ward__jail {
  uint64_t in_force;     /* WARD_SANDBOX_* bits a started process has */
  int landlock_abi;      /* the ABI the ruleset was built for, 0: none */
  int best_effort;
  int no_new_privs;
  int drop_caps;
  int nlimits;
  struct {
    int resource;
    uint64_t value;      /* soft and hard */
  } limit[WARD__JAIL_MAX_LIMITS];
  int ruleset_fd;        /* Landlock, or -1 */
  struct sock_fprog prog; /* the seccomp filter; len 0: none */
  int clone_flags;       /* CLONE_NEW* for the clone itself */
  char uid_map[32];      /* with CLONE_NEWUSER: "U U 1" for /proc/self/uid_map */
  char gid_map[32];
};

/* Steps of the child, to name the one that failed. */
enum {
  WARD__JAIL_STEP_NONE = 0,
  WARD__JAIL_STEP_RLIMIT,
  WARD__JAIL_STEP_NNP,
  WARD__JAIL_STEP_USERNS,
  WARD__JAIL_STEP_LANDLOCK,
  WARD__JAIL_STEP_CAPS,
  WARD__JAIL_STEP_SECCOMP
};
/* The step's name, for the host's error ("seccomp filter"). */
const char *ward__jail_step_name(int step);

/* In the clone child, while it still shares the host's descriptors: the
 * limits, no_new_privs, the user namespace's maps, Landlock. 0, or the
 * errno with *step set. */
int ward__jail_enter(const ward__jail *j, int *step);
/* In the clone child, last before exec: capabilities, then the seccomp
 * filter (after which only what it allows can be called). */
int ward__jail_seal(const ward__jail *j, int *step);

#endif
