/*
 * trees.c — process trees without cgroups (the posix and win backends):
 * no place to put them, no limits, no tree memory, pressure or OOM kills
 * (platform.h; docs/platforms.md). What stands for a tree (a process
 * group, a job object), pausing it and its kind stay with the backend.
 */
#include <stdlib.h>

#include "ward_int.h"

struct ward__trees {
  int unused;
};

int ward__trees_new(ward__trees **out, const char *base, int off) {
  (void)base, (void)off;
  *out = calloc(1, sizeof **out);
  return *out ? 0 : WARD_ENOMEM;
}
void ward__trees_free(ward__trees *t) { free(t); }
const char *ward__trees_dir(const ward__trees *t) { return (void)t, NULL; }
unsigned ward__trees_limits(const ward__trees *t) { return (void)t, 0u; }
unsigned long ward__trees_moves(void) { return 0; }

int ward__proc_oom_killed(const ward__proc *p) { return (void)p, 0; }

void ward__proc_tree_stats(const ward__proc *p, ward__tree_stats *st) {
  (void)p;
  st->memory = WARD_UNKNOWN;
  st->pressure[0] = st->pressure[1] = st->pressure[2] = -1;
  st->oom_kills = 0;
}
