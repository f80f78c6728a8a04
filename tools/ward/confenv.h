/*
 * confenv.h — the environment of a service (confenv.c), for config.c.
 */
#ifndef WARD_CLI_CONFENV_H
#define WARD_CLI_CONFENV_H

#include <stddef.h>

#include "config.h"

/* "KEY=VALUE" of env or env_file into *out (malloc'd), a VALUE wholly in
 * single or double quotes unquoted. 0; -1 with the reason in `why`, or
 * why[0] == 0 when it is not KEY=VALUE. */
int conf_env_entry(const char *kv, char **out, char *why, size_t cap);
/* Appends the KEY=VALUE lines of `path` (blank lines and # comments
 * skipped) to `*vars`, NULL-terminated. 0, or -1 with the reason, naming
 * the file (and the line), in `why`. */
int conf_env_file_read(const char *path, char ***vars, char *why, size_t cap);
/* `in`, a command's text, with $NAME, ${NAME} and $$ replaced as a shell
 * would read them (not inside single quotes, not after a backslash), the
 * values escaped so that splitting it as a shell would takes them as text:
 * from the service's env, then its env_file, then this process's
 * environment. 0 with *out (malloc'd); -1 with the reason, naming an
 * undefined variable, in `why`. */
int conf_expand_vars(const svc_conf *s, const char *in, char **out, char *why, size_t cap);

#endif
