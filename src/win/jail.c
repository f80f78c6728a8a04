/*
 * jail.c — the sandbox on Windows: none yet. A job object could hold
 * memory and process-count limits and an AppContainer or a restricted
 * token could narrow what a worker reaches, but none of it is written: a
 * sandboxed spec fails to start (WARD_ESPAWN, errno ENOTSUP) unless it
 * asked for best effort; then it runs, and ward_info.sandbox says 0,
 * nothing in force (docs/platforms.md).
 */
#include <errno.h>
#include <stdlib.h>

#include "sandbox.h"
#include "ward_int.h"
#include "win.h"

struct ward__jail {
  int none;
};

int ward__jail_new(ward__jail **out, const ward__sandbox *sb, const char *exe,
                   const char *data_dir) {
  (void)data_dir;
  *out = NULL;
  if (!sb->o.best_effort) {
    ward__fail_sys(WARD_ESPAWN, ENOTSUP, "sandbox"); /* the errno */
    return ward__fail(WARD_ESPAWN,
                      "spawn '%s': the sandbox cannot be applied on this backend (win: not "
                      "written yet) and best_effort is 0",
                      exe);
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
