/*
 * win.h — what the files of the Windows backend share: the object behind
 * each of the core's descriptors (ward__fd points to one; see handle.c),
 * UTF-8 to UTF-16 conversion, and the security attributes that give the
 * current user alone access to what ward creates.
 */
#ifndef WARD_WIN_H
#define WARD_WIN_H

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include "platform.h"

/* What a descriptor of the core stands for. */
enum {
  WARD__W_PIPE = 1, /* an end of a named pipe, read and written overlapped */
  WARD__W_PROC,     /* a process (and its job): readable once it ended */
  WARD__W_EVENT,    /* an event a program waits on: a pollable loop's */
  WARD__W_LISTEN    /* a named pipe waiting for a client: its one (socket mode), or
                     * one of many with a backlog (a server's, which has `pname`) */
};

typedef struct ward__os_obj {
  int kind;
  int closed;     /* ward__close was called; references may remain */
  volatile LONG refs;
  SRWLOCK mu;
  HANDLE h;       /* the pipe end or the process; NULL for others */
  /* Reading: one overlapped read at a time into `rbuf`. */
  OVERLAPPED rov;
  char *rbuf;
  DWORD rlen, roff;
  int rst;        /* R_IDLE, R_PENDING, R_DONE, R_EOF, R_ERR */
  DWORD rerr;
  /* Writing: one overlapped write at a time, from a copy. */
  OVERLAPPED wov;
  char *wbuf;
  int wpending;
  DWORD werr;
  int shut;       /* ward__sock_shutdown was called */
  int served;     /* a server's end of a connection it accepted (ward__unix_listen) */
  /* The loop it is registered with, and for what. */
  ward__loop *loop;
  void *ptr;
  int events;
  int in_attn;    /* in its loop's attention list (the loop's thread) */
  /* PROC */
  HANDLE job;
  HANDLE wait;    /* PROC, LISTEN: RegisterWaitForSingleObject, while in a loop */
  volatile LONG fired;
  int killed;     /* TerminateJobObject was called: the end is ours */
  DWORD pid;
  /* LISTEN of a server (handle.c, "servers at a path"): the pipe's name;
   * `h` is the instance waiting for a client (its connect `cov`, `rst`),
   * `backlog` those whose clients came, oldest first, not accepted yet; a
   * thread of the listener's (`lthread`, ended by `lquit`) keeps one
   * waiting; `lfail` says why the next could not be made (0: it could). */
  wchar_t *pname;
  OVERLAPPED cov;
  HANDLE *backlog;
  int nback, capback;
  HANDLE lthread, lquit;
  DWORD lfail;
} ward__wobj;

/* A new object of `kind`, with one reference: its descriptor's. */
int ward__wobj_new(int kind, ward__wobj **out);

/* A connected named pipe pair under `name` (handle.c; tests/win/ uses it
 * to squat a name): WARD_ESYS when the name is taken. */
int ward__win_pipe_named(const wchar_t *name, HANDLE *srv, HANDLE *cli, int duplex,
                         int client_overlapped);

/* The pipe name a server's socket path stands for (malloc'd; handle.c):
 * the path itself when it is one (\\.\pipe\...), else \\.\pipe\ward- and
 * the path made absolute, backslashes as slashes, ASCII letters in lower
 * case. NULL with *err ENAMETOOLONG (past 256 characters), EINVAL (bad
 * UTF-8) or ENOMEM. */
wchar_t *ward__win_pipe_name(const char *path, int *err);

/* The priority class a nice value (-20..19) stands for, and the nice
 * value a process of class `cls` counts as (spawn.c has the table). */
DWORD ward__win_priority_class(int nice);
int ward__win_class_nice(DWORD cls);

/* UTF-8 to UTF-16 (malloc'd), NULL on bad input or no memory. */
wchar_t *ward__wide(const char *s);
/* UTF-16 to UTF-8 (malloc'd). */
char *ward__narrow(const wchar_t *s);
/* Security attributes allowing the current user alone (not inheritable);
 * NULL when they cannot be made (then the default applies). */
SECURITY_ATTRIBUTES *ward__user_only_sa(void);

#endif
