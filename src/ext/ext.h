/*
 * ext.h — the extension host's parts: manifests (manifest.c), the
 * description of a command's params and its checker (schema.c), and the
 * host itself (ext.c). docs/extensions.md is the format.
 */
#ifndef WARD_EXT_H
#define WARD_EXT_H

#include <jansson.h>
#include <stddef.h>

#include "ward.h"

/* Bounds on a manifest: it comes from someone else. */
#define WARD__EXT_MAX_NAME 128               /* extension names, command ids */
#define WARD__EXT_MAX_DEPTH 32               /* nesting of a params description */

/* Where a refusal is: the JSON path and the reason. */
typedef struct ward__ext_why {
  char path[256];
  char reason[512];
} ward__ext_why;

/* A refusal's last step: what came from the manifest or the params (a
 * key with a newline, say) is shown on one line, control characters as
 * '?'. Returns WARD_EINVAL. */
int ward__ext_refused(ward__ext_why *why);

typedef struct ward__ext_cmd {
  char *id;
  char *title;
  json_t *params; /* its description (schema.c), or NULL: any object */
} ward__ext_cmd;

typedef struct ward__manifest {
  char *name;
  char *version;
  int protocol;
  char *program;     /* resolved: absolute, inside the folder */
  char **args;       /* NULL-terminated */
  size_t nargs;
  int on_startup;    /* activationEvents holds "onStartup" */
  ward__ext_cmd *cmds;
  size_t ncmds;
  char **perms;      /* NULL-terminated */
  size_t nperms;
} ward__manifest;

/* Whether the host knows a permission (the manifest's "permissions"). */
typedef int (*ward__perm_known)(const char *perm, void *ud);

/* Reads and checks the manifest of `folder` (its WARD_EXT_MANIFEST) into
 * *m. 0, or WARD_EINVAL with *why filled (the name is kept in m->name if
 * it was read, for the event); free *m with ward__manifest_free either
 * way. */
int ward__manifest_load(ward__manifest *m, const char *folder, ward__perm_known known, void *ud,
                        ward__ext_why *why);
void ward__manifest_free(ward__manifest *m);

/* Whether a permission's name is well formed (1..255 bytes of letters,
 * digits and ".:_-/"). */
int ward__perm_name_ok(const char *perm);
/* The built-in permissions: "network", "fs.read:/ABS", "fs.write:/ABS". */
int ward__perm_builtin(const char *perm);

/* A params description is well formed (at `path`, for the refusal). */
int ward__schema_check(const json_t *schema, const char *path, ward__ext_why *why);
/* `v` matches the description; else WARD_EINVAL with why->path the
 * parameter ("params.size") and why->reason what is wrong. */
int ward__schema_validate(const json_t *schema, const json_t *v, const char *path,
                          ward__ext_why *why);

#endif
