/*
 * sandbox.c — ward_spec_sandbox: the options checked and copied onto the
 * spec. Nothing here touches the system; the backend applies them
 * (src/linux/sandbox.c), or says it cannot (src/nojail/jail.c).
 */
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "host_int.h"
#include "sandbox.h"

#define NAMESPACES (WARD_SANDBOX_NEW_NET | WARD_SANDBOX_NEW_IPC | WARD_SANDBOX_NEW_PID)
#define PERMISSIONS (WARD_PERMIT_NETWORK)

static void strv_free(char **v) {
  for (char **p = v; p && *p; p++)
    free(*p);
  free(v);
}

/* A NULL-terminated copy (never NULL itself on success). */
static int strv_copy(char ***out, const char *const *in) {
  size_t n = 0;
  while (in && in[n])
    n++;
  char **v = calloc(n + 1, sizeof *v);
  if (!v)
    return WARD_ENOMEM;
  for (size_t i = 0; i < n; i++)
    if (!(v[i] = strdup(in[i]))) {
      strv_free(v);
      return WARD_ENOMEM;
    }
  *out = v;
  return 0;
}

static int check_paths(const char *const *v, const char *what) {
  for (size_t i = 0; v && v[i]; i++)
    if (v[i][0] != '/')
      return ward__fail(WARD_EINVAL, "sandbox %s path '%s' is not absolute", what, v[i]);
  return 0;
}

static ward__sandbox *make(const ward_sandbox *o, const char *const *rd,
                           const char *const *wr) {
  ward__sandbox *sb = calloc(1, sizeof *sb);
  if (!sb)
    return NULL;
  sb->o = *o;
  if (strv_copy(&sb->read, rd) || strv_copy(&sb->write, wr)) {
    ward__sandbox_free(sb);
    return NULL;
  }
  sb->o.read_paths = (const char *const *)sb->read;
  sb->o.write_paths = (const char *const *)sb->write;
  return sb;
}

int ward_spec_sandbox(ward_spec *s, const ward_sandbox *in) {
  if (!s)
    return ward__fail(WARD_EINVAL, "NULL spec");
  /* The program's own choice: the class no longer changes it (class.c). */
  s->set |= WARD__SET_SANDBOX;
  if (!in) {
    ward__sandbox_free(s->sandbox);
    s->sandbox = NULL;
    return 0;
  }
  ward_sandbox o;
  int rv = ward__sandbox_take(&o, in);
  if (rv)
    return rv;
  if (o.namespaces & ~NAMESPACES)
    return ward__fail(WARD_EINVAL, "sandbox: unknown namespace bits 0x%x",
                      (unsigned)(o.namespaces & ~NAMESPACES));
  if (o.permissions & ~PERMISSIONS)
    return ward__fail(WARD_EINVAL, "sandbox: unknown permission bits 0x%x",
                      o.permissions & ~PERMISSIONS);
  rv = check_paths(o.read_paths, "read");
  if (!rv)
    rv = check_paths(o.write_paths, "write");
  if (rv)
    return rv;
  ward__sandbox *sb = make(&o, o.read_paths, o.write_paths);
  if (!sb)
    return WARD_ENOMEM;
  ward__sandbox_free(s->sandbox);
  s->sandbox = sb;
  return 0;
}

uint64_t ward_sandbox_supported(int *landlock_abi) {
  int abi = 0;
  uint64_t bits = ward__jail_supported(&abi);
  if (landlock_abi)
    *landlock_abi = abi;
  return bits;
}

ward__sandbox *ward__sandbox_dup(const ward__sandbox *sb) {
  return sb ? make(&sb->o, sb->o.read_paths, sb->o.write_paths) : NULL;
}

void ward__sandbox_free(ward__sandbox *sb) {
  if (!sb)
    return;
  strv_free(sb->read);
  strv_free(sb->write);
  free(sb);
}
