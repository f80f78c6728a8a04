/*
 * class.c — process classes: the one table of what each class brings,
 * and how a spec takes it.
 *
 * Design notes
 * ------------
 * A class is defaults, nothing more: the spec keeps the values it runs
 * with, and a bit for each setting the program set itself (spec.h,
 * WARD__SET_*). Applying a class writes the class's values into the
 * settings whose bit is clear, so the program's own settings win whether
 * they came before ward_spec_class or after it, and a spec changed from
 * one class to another loses nothing it was told.
 *
 * The worker row is ward.h's WARD_*_DEFAULT constants: a spec that never
 * hears of classes behaves as before classes existed. docs/api.md 4.12
 * quotes this table; tests/test_classes.c checks the quote.
 */
#include <string.h>

#include "abi.h"
#include "host_int.h"

static const char *const names[WARD_CLASS_COUNT] = {"worker", "ui", "media", "extension"};

#define MIB (1024ull * 1024ull)

/* Indexed by ward_class. */
static const ward_class_info table[WARD_CLASS_COUNT] = {
    [WARD_CLASS_WORKER] = {.restart = WARD_RESTART_DEFAULT,
                           .intensity = WARD_INTENSITY_DEFAULT,
                           .period_ms = WARD_INTENSITY_PERIOD_MS_DEFAULT,
                           .heartbeat_ms = 0,
                           .heartbeat_misses = WARD_HEARTBEAT_MISSES_DEFAULT,
                           .nice = 0,
                           .io_level = WARD_IO_INHERIT},
    /* A window the user sees: always back, and a hang is found quickly. */
    [WARD_CLASS_UI] = {.restart = WARD_RESTART_ALWAYS,
                       .intensity = WARD_INTENSITY_DEFAULT,
                       .period_ms = WARD_INTENSITY_PERIOD_MS_DEFAULT,
                       .heartbeat_ms = 2000,
                       .heartbeat_misses = WARD_HEARTBEAT_MISSES_DEFAULT,
                       .nice = 0,
                       .io_level = WARD_IO_INHERIT},
    /* Audio and video miss deadlines when starved: ahead of the rest. */
    [WARD_CLASS_MEDIA] = {.restart = WARD_RESTART_ALWAYS,
                          .intensity = WARD_INTENSITY_DEFAULT,
                          .period_ms = WARD_INTENSITY_PERIOD_MS_DEFAULT,
                          .heartbeat_ms = 2000,
                          .heartbeat_misses = WARD_HEARTBEAT_MISSES_DEFAULT,
                          .nice = -5,
                          .io_level = 0},
    /* Someone else's code: behind the rest, bounded, confined, started
     * only when wanted and ended when not, and given up on sooner. */
    [WARD_CLASS_EXTENSION] = {.restart = WARD_RESTART_ON_FAILURE,
                              .intensity = 3,
                              .period_ms = 60000,
                              .heartbeat_ms = 5000,
                              .heartbeat_misses = WARD_HEARTBEAT_MISSES_DEFAULT,
                              .nice = 10,
                              .io_level = 7,
                              .memory_soft = 0,
                              .memory_hard = 1024 * MIB,
                              .sandboxed = 1,
                              .lazy = 1,
                              .idle_ms = 300000},
};

static int valid(int cls) { return cls >= 0 && cls < WARD_CLASS_COUNT; }

const char *ward_class_name(int cls) { return valid(cls) ? names[cls] : "unknown"; }

int ward_class_from_name(const char *name) {
  for (int i = 0; name && i < WARD_CLASS_COUNT; i++)
    if (strcmp(name, names[i]) == 0)
      return i;
  return ward__fail(WARD_EINVAL, "no class '%s' (ui, worker, media or extension)",
                    name ? name : "(null)");
}

int ward_class_defaults(ward_class_info *out, int cls) {
  if (!valid(cls))
    return ward__fail(WARD_EINVAL, "no class %d", cls);
  ward_class_info v = table[cls];
  v.struct_size = (uint32_t)sizeof v;
  return ward__class_info_put(out, &v);
}

/* A sandboxed class's sandbox: the sandbox's defaults, with what cannot
 * be applied here left out rather than refusing the start (best effort:
 * ward_info.sandbox says what is in force). Set through the public
 * setter, whose mark of an explicit choice is taken back. Out of memory,
 * the spec stays without one: a class is defaults, and its setter says
 * nothing fails. */
static void class_sandbox(ward_spec *s, int on) {
  ward_sandbox sb = WARD_SANDBOX_INIT;
  sb.best_effort = 1;
  ward_spec_sandbox(s, on ? &sb : NULL);
  s->set &= ~(unsigned)WARD__SET_SANDBOX;
}

void ward__spec_apply_class(ward_spec *s) {
  const ward_class_info *c = &table[s->proc_class];
  if (!(s->set & WARD__SET_RESTART))
    s->policy.restart = c->restart;
  if (!(s->set & WARD__SET_INTENSITY)) {
    s->policy.intensity = c->intensity;
    s->policy.period_ms = c->period_ms;
  }
  if (!(s->set & WARD__SET_HEARTBEAT)) {
    s->heartbeat_ms = c->heartbeat_ms;
    s->heartbeat_misses = c->heartbeat_misses;
  }
  if (!(s->set & WARD__SET_MEMORY)) {
    s->mem_soft = c->memory_soft;
    s->mem_hard = c->memory_hard;
  }
  if (!(s->set & WARD__SET_IDLE))
    s->idle_ms = c->idle_ms;
  if (!(s->set & WARD__SET_PRIORITY)) {
    s->nice = c->nice;
    s->io_level = c->io_level;
  }
  if (!(s->set & WARD__SET_LAZY))
    s->lazy = c->lazy;
  s->sandboxed = c->sandboxed;
  if (!(s->set & WARD__SET_SANDBOX))
    class_sandbox(s, c->sandboxed);
}

int ward_spec_class(ward_spec *s, int cls) {
  if (!s || !valid(cls))
    return ward__fail(WARD_EINVAL, "no class %d", cls);
  s->proc_class = cls;
  ward__spec_apply_class(s);
  return 0;
}

int ward_spec_priority(ward_spec *s, int nice, int io_level) {
  if (!s || nice < -20 || nice > 19 || io_level < WARD_IO_INHERIT || io_level > 7)
    return ward__fail(WARD_EINVAL, "priority needs a nice value -20..19 and an I/O level "
                                   "0..7 or WARD_IO_INHERIT");
  s->nice = nice;
  s->io_level = io_level;
  s->set |= WARD__SET_PRIORITY;
  return 0;
}

int ward_spec_lazy(ward_spec *s, int on) {
  if (!s)
    return ward__fail(WARD_EINVAL, "NULL spec");
  s->lazy = !!on;
  s->set |= WARD__SET_LAZY;
  return 0;
}
