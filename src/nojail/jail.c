/*
 * jail.c — the sandbox of the backends that have none: posix (POSIX has
 * no system-call filter, no Landlock, and posix_spawn cannot set resource
 * limits in the child) and win (a job object's limits and an
 * AppContainer are not written yet). Nothing a ward_sandbox asks for is
 * applied: a sandboxed spec fails to start (WARD_ESPAWN, errno ENOTSUP)
 * unless it asked for best effort; then it runs, and ward_info.sandbox
 * says 0, nothing in force (docs/platforms.md). Built with those backends
 * (CMakeLists.txt), which name themselves in WARD__BACKEND_NAME.
 */
#include <errno.h>
#include <stdlib.h>

#include "sandbox.h"
#include "ward_int.h"

struct ward__jail {
  int none;
};

int ward__jail_new(ward__jail **out, const ward__sandbox *sb, const char *exe,
                   const char *data_dir) {
  (void)data_dir;
  *out = NULL;
  if (!sb->o.best_effort) {
    ward__fail_errno(WARD_ESPAWN, ENOTSUP, "sandbox"); /* the errno */
    return ward__fail(WARD_ESPAWN,
                      "spawn '%s': the %s backend applies no sandbox (docs/platforms.md) "
                      "and best_effort is 0",
                      exe, WARD__BACKEND_NAME);
  }
  ward__jail *j = calloc(1, sizeof *j);
  if (!j)
    return WARD_ENOMEM;
  *out = j;
  return 0;
}

uint64_t ward__jail_supported(int *landlock_abi) {
  *landlock_abi = 0;
  return 0;
}

void ward__jail_free(ward__jail *j) { free(j); }

uint64_t ward__jail_in_force(const ward__jail *j, int *landlock_abi) {
  (void)j;
  *landlock_abi = 0;
  return 0;
}
