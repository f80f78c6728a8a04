/*
 * sandbox.h — a spec's sandbox as the host keeps it: the caller's
 * ward_sandbox, whole, with copies of its paths. What it asks for is put
 * in force by the backend (platform.h, ward__jail) at each start.
 */
#ifndef WARD_SANDBOX_H
#define WARD_SANDBOX_H

#include "ward.h"

typedef struct ward__sandbox {
  ward_sandbox o; /* read_paths and write_paths point at the copies below */
  char **read;    /* NULL-terminated, never NULL */
  char **write;
} ward__sandbox;

ward__sandbox *ward__sandbox_dup(const ward__sandbox *sb);
void ward__sandbox_free(ward__sandbox *sb);

#endif
