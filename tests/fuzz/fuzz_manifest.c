/*
 * fuzz_manifest.c — what the extension host reads of an extension written
 * by someone else (src/ext/): its manifest, and the params a caller sends
 * to one of its commands. The input is the manifest's bytes, then,
 * after a NUL if there is one, a JSON value sent as every command's
 * params ("{}" without one).
 *
 * The manifest lives in a folder of its own (made once), which holds
 * executable files named greeter.py, wordcount and run, so that the
 * example manifests load.
 *
 * Invariants:
 * - a refused manifest is WARD_EINVAL with a JSON path ("$...") and a
 *   reason, each one line;
 * - an accepted one has a well-formed name, a program inside the folder,
 *   commands with distinct, non-empty ids whose params descriptions are
 *   well formed, and well-formed permissions;
 * - params are accepted, or refused with WARD_EINVAL, a path that names
 *   the parameter ("params...") and a reason.
 */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ext/ext.h"
#include "fuzz.h"

static char folder[PATH_MAX];

static void make_folder(void) {
  char tmpl[] = "/tmp/ward-fuzz-manifest-XXXXXX";
  FUZZ_CHECK(mkdtemp(tmpl) != NULL);
  FUZZ_CHECK(realpath(tmpl, folder) != NULL);
  static const char *const programs[] = {"greeter.py", "wordcount", "run"};
  for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", folder, programs[i]);
    FILE *f = fopen(path, "w");
    FUZZ_CHECK(f != NULL && fclose(f) == 0 && chmod(path, 0755) == 0);
  }
}

static int known(const char *perm, void *ud) {
  (void)ud;
  return ward__perm_builtin(perm) || strncmp(perm, "ui.", 3) == 0;
}

static int one_line(const char *s) { return s[0] && !strchr(s, '\n'); }

static void check_params(const ward__manifest *m, const json_t *params) {
  for (size_t i = 0; i < m->ncmds; i++) {
    if (!m->cmds[i].params)
      continue;
    ward__ext_why why = {{0}, {0}};
    int rv = ward__schema_validate(m->cmds[i].params, params, "params", &why);
    FUZZ_CHECK(rv == 0 || rv == WARD_EINVAL || rv == WARD_ENOMEM);
    if (rv == WARD_EINVAL)
      FUZZ_CHECK(strncmp(why.path, "params", 6) == 0 && one_line(why.reason));
  }
}

static void check_accepted(const ward__manifest *m) {
  FUZZ_CHECK(m->name && m->name[0] && strlen(m->name) <= WARD__EXT_MAX_NAME);
  size_t n = strlen(folder);
  FUZZ_CHECK(m->program && strncmp(m->program, folder, n) == 0 && m->program[n] == '/');
  for (size_t i = 0; i < m->ncmds; i++) {
    FUZZ_CHECK(m->cmds[i].id && m->cmds[i].id[0]);
    for (size_t j = 0; j < i; j++)
      FUZZ_CHECK(strcmp(m->cmds[i].id, m->cmds[j].id) != 0);
    ward__ext_why why = {{0}, {0}};
    if (m->cmds[i].params)
      FUZZ_CHECK(ward__schema_check(m->cmds[i].params, "$", &why) == 0);
  }
  for (size_t i = 0; i < m->nperms; i++)
    FUZZ_CHECK(ward__perm_name_ok(m->perms[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!folder[0])
    make_folder();
  const uint8_t *nul = memchr(data, 0, size);
  size_t mlen = nul ? (size_t)(nul - data) : size;
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/%s", folder, WARD_EXT_MANIFEST);
  FILE *f = fopen(path, "wb");
  FUZZ_CHECK(f != NULL);
  FUZZ_CHECK(fwrite(data, 1, mlen, f) == mlen || mlen == 0);
  FUZZ_CHECK(fclose(f) == 0);

  ward__manifest m;
  memset(&m, 0, sizeof m);
  ward__ext_why why = {{0}, {0}};
  int rv = ward__manifest_load(&m, folder, known, NULL, &why);
  FUZZ_CHECK(rv == 0 || rv == WARD_EINVAL || rv == WARD_ENOMEM);
  if (rv == WARD_EINVAL)
    FUZZ_CHECK(why.path[0] == '$' && !strchr(why.path, '\n') && one_line(why.reason));
  if (rv == 0) {
    check_accepted(&m);
    json_error_t err;
    json_t *params = nul ? json_loadb((const char *)nul + 1, size - mlen - 1,
                                      JSON_DECODE_ANY | JSON_ALLOW_NUL, &err)
                         : json_object();
    if (params)
      check_params(&m, params);
    json_decref(params);
  }
  ward__manifest_free(&m);
  return 0;
}
