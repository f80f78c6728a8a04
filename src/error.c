/*
 * error.c — error texts and the thread-local detail of the last error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ward_int.h"

static _Thread_local int last_errno;
static _Thread_local char last_text[1024];

const char *ward_strerror(int err) {
  switch (err) {
  case WARD_OK:
    return "success";
#define WARD__ERRTEXT(name, num, text) \
  case WARD_##name:                    \
    return text;
    WARD_ERRNO_MAP(WARD__ERRTEXT)
#undef WARD__ERRTEXT
  default:
    return "unknown error";
  }
}

const char *ward_err_name(int err) {
  switch (err) {
  case WARD_OK:
    return "OK";
#define WARD__ERRNAME(name, num, text) \
  case WARD_##name:                    \
    return #name;
    WARD_ERRNO_MAP(WARD__ERRNAME)
#undef WARD__ERRNAME
  default:
    return "EUNKNOWN";
  }
}

int ward_last_errno(void) { return last_errno; }

const char *ward_last_error(void) { return last_text; }

int ward__fail(int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_text, sizeof last_text, fmt, ap);
  va_end(ap);
  return err;
}

int ward__fail_sys(int err, int sys_errno, const char *what) {
  char text[256];
  last_errno = sys_errno;
  snprintf(last_text, sizeof last_text, "%s: %s", what,
           ward__sys_text(sys_errno, text, sizeof text));
  return err;
}

int ward__fail_errno(int err, int errnum, const char *what) {
  last_errno = errnum;
  snprintf(last_text, sizeof last_text, "%s: %s", what, strerror(errnum));
  return err;
}

unsigned ward_version(void) { return WARD_VERSION_HEX; }

const char *ward_version_string(void) {
#define WARD__STR2(x) #x
#define WARD__STR(x) WARD__STR2(x)
  return WARD__STR(WARD_VERSION_MAJOR) "." WARD__STR(WARD_VERSION_MINOR) "." WARD__STR(
      WARD_VERSION_PATCH);
}

const char *ward_reason_name(int reason) {
  static const char *const names[] = {
      "none",      "exited",       "crashed", "request-timeout", "startup-timeout",
      "unhealthy", "memory-limit", "max-requests", "idle",       "cycle",
      "protocol",  "stopped",      "cancelled", "group",           "oom-killed"};
  if (reason < 0 || (size_t)reason >= sizeof names / sizeof names[0])
    return "unknown";
  return names[reason];
}

const char *ward_stop_outcome_name(int outcome) {
  static const char *const names[] = {"none", "graceful", "terminated", "killed",
                                      "already-exited"};
  if (outcome < 0 || (size_t)outcome >= sizeof names / sizeof names[0])
    return "unknown";
  return names[outcome];
}

const char *ward_event_name(int type) {
  switch (type) {
  case WARD_EV_SPAWNED:
    return "spawned";
  case WARD_EV_READY:
    return "ready";
  case WARD_EV_EXITED:
    return "exited";
  case WARD_EV_ERROR:
    return "error";
  case WARD_EV_RESTARTING:
    return "restarting";
  case WARD_EV_RESTARTED:
    return "restarted";
  case WARD_EV_UNHEALTHY:
    return "unhealthy";
  case WARD_EV_GAVE_UP:
    return "gave-up";
  case WARD_EV_STOPPED:
    return "stopped";
  case WARD_EV_LOG:
    return "log";
  case WARD_EV_GROUP_GAVE_UP:
    return "group-gave-up";
  case WARD_EV_SPAWN_FAILED:
    return "spawn-failed";
  case WARD_EV_PAUSED:
    return "paused";
  case WARD_EV_RESUMED:
    return "resumed";
  default:
    return "unknown";
  }
}

int ward__fail_keep(int err, int sys_errno, const char *text) {
  last_errno = sys_errno;
  snprintf(last_text, sizeof last_text, "%s", text);
  return err;
}
