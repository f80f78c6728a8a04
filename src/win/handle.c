/*
 * handle.c — descriptors, named pipes and the loop on an I/O completion
 * port (Windows).
 *
 * Design notes
 * ------------
 * The core is readiness-based, as on Linux: it tries a non-blocking send
 * or receive, is told "nothing now" (0 sent, WARD__AGAIN), and waits for
 * WARD__OUT or WARD__IN, from its loop or, on a caller's thread, from
 * ward__wait_fd. Windows offers completion instead: an overlapped read
 * says when bytes have arrived in a buffer given beforehand. So every pipe
 * end is an object of this backend that owns one overlapped read into its
 * own buffer and one overlapped write from its own copy:
 *
 *   - readable  = its read completed (bytes, end of stream or an error)
 *                 and not all of it was taken yet; whoever finds it idle
 *                 and wants to read issues the next read;
 *   - writable  = no write of it is pending: a send copies what it is
 *                 given (up to WBUF bytes) and issues the write, so the
 *                 core's flow control sees a full pipe as "0 sent".
 *
 * The loop is an I/O completion port. Pipe ends registered with it are
 * associated with the port (key: the object), so each completion posts a
 * packet; registering, changing what is watched and waking the loop post
 * packets of their own (PostQueuedCompletionStatus); a process's exit
 * posts one from a thread-pool wait (RegisterWaitForSingleObject). A packet
 * only says "look at this object": the loop keeps the objects it was told
 * about in an attention list and reports what each is ready for, as long
 * as it is (level-triggered, like epoll without EPOLLET), dropping it when
 * it is not: then an I/O of it is pending, whose completion brings it
 * back. Timers are due times the loop computes its wait from.
 *
 * Why a port rather than a thread per pipe: a host has four handles per
 * worker and thousands of workers; a waiting thread per handle (or the
 * 64-handle limit of WaitForMultipleObjects) does not scale, and a port is
 * what the system offers for exactly this. Each overlapped operation also
 * carries an event, set when it completes: so a caller's thread can wait
 * for one object (ward__wait_fd, the worker's blocking reads) without the
 * loop, and the port still gets its packet. State changes happen under
 * the object's lock, whoever sees the completion first.
 *
 * Lifetime: an object holds a reference for its descriptor (dropped by
 * ward__close), one for each overlapped operation of a port-associated
 * handle (dropped when the loop dequeues its packet), one for each packet
 * posted by hand, and one while in the attention list; the last one frees
 * it. A handle is associated with a port at its first ward__loop_add, which
 * must come before its first I/O (so that every completion has a packet);
 * the core registers each pipe end with the loop as soon as it has it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ward_int.h"
#include "win.h"

#define RBUF (64 * 1024)
#define WBUF (256 * 1024)
#define PIPE_SIZE (64 * 1024)

enum { R_IDLE, R_PENDING, R_DONE, R_EOF, R_ERR };

/* ------------------------------------------------------------------ */
/* Objects                                                             */

int ward__wobj_new(int kind, ward__wobj **out) {
  ward__wobj *o = calloc(1, sizeof *o);
  if (!o)
    return WARD_ENOMEM;
  o->kind = kind;
  o->refs = 1;
  InitializeSRWLock(&o->mu);
  *out = o;
  return 0;
}

static void obj_ref(ward__wobj *o) { InterlockedIncrement(&o->refs); }

static void obj_free(ward__wobj *o) {
  if (o->rov.hEvent)
    CloseHandle(o->rov.hEvent);
  if (o->wov.hEvent)
    CloseHandle(o->wov.hEvent);
  free(o->rbuf);
  free(o->wbuf);
  if (o->cov.hEvent)
    CloseHandle(o->cov.hEvent);
  free(o->backlog);
  free(o->pname);
  free(o);
}

static void obj_unref(ward__wobj *o) {
  if (InterlockedDecrement(&o->refs) == 0)
    obj_free(o);
}

/* ------------------------------------------------------------------ */
/* UTF-8 and security                                                  */

wchar_t *ward__wide(const char *s) {
  int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
  if (n <= 0)
    return NULL;
  wchar_t *w = malloc((size_t)n * sizeof *w);
  if (w && MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) != n) {
    free(w);
    w = NULL;
  }
  return w;
}

char *ward__narrow(const wchar_t *s) {
  int n = WideCharToMultiByte(CP_UTF8, 0, s, -1, NULL, 0, NULL, NULL);
  if (n <= 0)
    return NULL;
  char *p = malloc((size_t)n);
  if (p && WideCharToMultiByte(CP_UTF8, 0, s, -1, p, n, NULL, NULL) != n) {
    free(p);
    p = NULL;
  }
  return p;
}

/* ------------------------------------------------------------------ */
/* Named pipe pairs                                                    */

/* A pipe end object around `h`, with its events and buffers. */
static int pipe_obj(HANDLE h, ward__wobj **out) {
  ward__wobj *o;
  int rv = ward__wobj_new(WARD__W_PIPE, &o);
  if (rv)
    return rv;
  o->h = h;
  o->rov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
  o->wov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
  o->rbuf = malloc(RBUF);
  if (!o->rov.hEvent || !o->wov.hEvent || !o->rbuf) {
    o->h = NULL; /* the caller closes it */
    ward__close(o);
    return WARD_ENOMEM;
  }
  *out = o;
  return 0;
}

/* A connected pair named `name`: the server end (ours, overlapped) and the
 * client end, overlapped when `client_overlapped` (a channel the worker
 * reads with this backend) or not (a child's stdout, written synchronously
 * by its C library). `duplex`: both ends read and write; else the client
 * writes. */
int ward__win_pipe_named(const wchar_t *name, HANDLE *srv, HANDLE *cli, int duplex,
                         int client_overlapped) {
  /* FIRST_PIPE_INSTANCE: a name squatted by another process makes this
   * fail instead of handing our worker to it. */
  DWORD open = (duplex ? PIPE_ACCESS_DUPLEX : PIPE_ACCESS_INBOUND) | FILE_FLAG_OVERLAPPED |
               FILE_FLAG_FIRST_PIPE_INSTANCE;
  *srv = CreateNamedPipeW(name, open,
                          PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
                              PIPE_REJECT_REMOTE_CLIENTS,
                          1, PIPE_SIZE, PIPE_SIZE, 0, ward__user_only_sa());
  if (*srv == INVALID_HANDLE_VALUE)
    return ward__fail_sys(WARD_ESYS, (int)GetLastError(), "CreateNamedPipe");
  DWORD access = duplex ? GENERIC_READ | GENERIC_WRITE : GENERIC_WRITE | FILE_READ_ATTRIBUTES;
  *cli = CreateFileW(name, access, 0, NULL, OPEN_EXISTING,
                     client_overlapped ? FILE_FLAG_OVERLAPPED : 0, NULL);
  if (*cli == INVALID_HANDLE_VALUE) {
    DWORD e = GetLastError();
    CloseHandle(*srv);
    return ward__fail_sys(WARD_ESYS, (int)e, "CreateFile (pipe)");
  }
  /* Our client end must be connected to our instance: ConnectNamedPipe
   * then has nothing to wait for. Where the system let another instance of
   * the name exist (Wine does not enforce FIRST_PIPE_INSTANCE), the client
   * may have reached that one instead, and ours waits: refused the same. */
  OVERLAPPED ov;
  memset(&ov, 0, sizeof ov);
  ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
  DWORD e = 0;
  if (!ov.hEvent) {
    e = GetLastError();
  } else if (!ConnectNamedPipe(*srv, &ov)) {
    e = GetLastError();
    if (e == ERROR_IO_PENDING) {
      DWORD n;
      CancelIoEx(*srv, &ov);
      GetOverlappedResult(*srv, &ov, &n, TRUE); /* `ov` must outlive it */
      e = ERROR_ACCESS_DENIED;
    } else if (e == ERROR_PIPE_CONNECTED) {
      e = 0;
    }
  }
  if (ov.hEvent)
    CloseHandle(ov.hEvent);
  if (e) {
    CloseHandle(*srv);
    CloseHandle(*cli);
    return ward__fail_sys(WARD_ESYS, (int)e,
                          e == ERROR_ACCESS_DENIED ? "pipe name taken by another instance"
                                                   : "ConnectNamedPipe");
  }
  return 0;
}

/* A pair under a fresh name: this process's id, a count and 64 random
 * bits, so that no other process can guess it in advance (and should one
 * squat it, the creation fails). */
static int pipe_pair(HANDLE *srv, HANDLE *cli, int duplex, int client_overlapped) {
  static volatile LONG counter;
  unsigned char rnd[8];
  ward__random(rnd, sizeof rnd);
  wchar_t name[96];
  swprintf(name, 96, L"\\\\.\\pipe\\ward-%lu-%ld-%02x%02x%02x%02x%02x%02x%02x%02x",
           (unsigned long)GetCurrentProcessId(), (long)InterlockedIncrement(&counter), rnd[0],
           rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
  return ward__win_pipe_named(name, srv, cli, duplex, client_overlapped);
}

static int make_pair(ward__fd sv[2], int duplex) {
  HANDLE srv = NULL, cli = NULL;
  int rv = pipe_pair(&srv, &cli, duplex, duplex);
  if (rv)
    return rv;
  ward__wobj *a, *b;
  rv = pipe_obj(srv, &a);
  if (rv) {
    CloseHandle(srv);
    CloseHandle(cli);
    return rv;
  }
  rv = pipe_obj(cli, &b);
  if (rv) {
    ward__close(a);
    CloseHandle(cli);
    return rv;
  }
  sv[0] = a;
  sv[1] = b;
  return 0;
}

int ward__socketpair(ward__fd sv[2]) { return make_pair(sv, 1); }

int ward__pipe(ward__fd p[2]) { return make_pair(p, 0); }

int ward__set_nonblock(ward__fd fd, int on) {
  (void)fd, (void)on; /* every call here says whether it may wait */
  return 0;
}

void ward__chan_env(char *buf, size_t n, ward__fd chan_fd) {
  /* The child inherits the handle under the same value (spawn.c); handle
   * values fit in 32 bits (they are shared with 32-bit processes). */
  snprintf(buf, n, "WARD_FD=%lld", (long long)(intptr_t)(chan_fd ? chan_fd->h : NULL));
}

int ward__fd_inherited(long number, ward__fd *out) {
  if (number <= 0)
    return ward__fail(WARD_EINVAL, "not a handle value: %ld", number);
  HANDLE h = (HANDLE)(intptr_t)number;
  DWORD flags;
  if (!GetHandleInformation(h, &flags))
    return ward__fail_sys(WARD_ESYS, (int)GetLastError(), "GetHandleInformation (WARD_FD)");
  SetHandleInformation(h, HANDLE_FLAG_INHERIT, 0);
  return pipe_obj(h, out);
}

intptr_t ward__fd_os(ward__fd fd) { return fd ? (intptr_t)fd->h : 0; }

/* ------------------------------------------------------------------ */
/* Reading and writing (object lock held)                              */

static int pipe_gone(DWORD e) {
  return e == ERROR_BROKEN_PIPE || e == ERROR_PIPE_NOT_CONNECTED || e == ERROR_NO_DATA ||
         e == ERROR_HANDLE_EOF;
}

static void start_read(ward__wobj *o) {
  if (o->rst != R_IDLE || o->shut)
    return;
  if (ReadFile(o->h, o->rbuf, RBUF, NULL, &o->rov) || GetLastError() == ERROR_IO_PENDING) {
    o->rst = R_PENDING;
    if (o->loop)
      obj_ref(o); /* its packet's */
    return;
  }
  DWORD e = GetLastError();
  o->rst = pipe_gone(e) ? R_EOF : R_ERR;
  o->rerr = e;
}

static void refresh_read(ward__wobj *o) {
  if (o->rst != R_PENDING)
    return;
  DWORD n = 0;
  if (GetOverlappedResult(o->h, &o->rov, &n, FALSE)) {
    o->rlen = n;
    o->roff = 0;
    o->rst = n ? R_DONE : R_IDLE;
    return;
  }
  DWORD e = GetLastError();
  if (e == ERROR_IO_INCOMPLETE)
    return;
  if (e == ERROR_OPERATION_ABORTED)
    o->rst = R_IDLE; /* after a shutdown, read_left reads what is left */
  else if (e == ERROR_MORE_DATA) { /* a message pipe's partial read */
    o->rlen = RBUF;
    o->roff = 0;
    o->rst = R_DONE;
  } else {
    o->rst = pipe_gone(e) ? R_EOF : R_ERR;
    o->rerr = e;
  }
}

static void refresh_write(ward__wobj *o) {
  if (!o->wpending)
    return;
  DWORD n = 0;
  if (GetOverlappedResult(o->h, &o->wov, &n, FALSE)) {
    o->wpending = 0;
    return;
  }
  DWORD e = GetLastError();
  if (e == ERROR_IO_INCOMPLETE)
    return;
  o->wpending = 0;
  o->werr = e ? e : ERROR_BROKEN_PIPE;
}

/* Waits until an overlapped operation is over (it was cancelled, or the
 * bytes are there: a moment). Its event is set when it completes, and by
 * nothing else while it is pending (ward__sock_shutdown sets only the
 * events of operations it did not cancel); the status, not the event, is
 * what ends the wait, should the event be set without it. */
static void io_wait(OVERLAPPED *ov) {
  while (!HasOverlappedIoCompleted(ov))
    WaitForSingleObject(ov->hEvent, 10);
}

/* After ward__sock_shutdown (lock held). As with shutdown(2) on a socket,
 * what the peer wrote before is still there to be read, and then the
 * end, with no waiting for more: a client whose HELLO found the server
 * gone reads the GOODBYE the server left for it. The read the shutdown
 * cancelled is over first; then what the pipe holds is read at once. */
static void read_left(ward__wobj *o) {
  if (o->rst == R_PENDING) {
    io_wait(&o->rov);
    refresh_read(o);
  }
  DWORD avail = 0, n = 0;
  if (o->rst != R_IDLE)
    return;
  if (!o->h || !PeekNamedPipe(o->h, NULL, 0, NULL, &avail, NULL) || !avail) {
    o->rst = R_EOF; /* nothing left, or the peer is gone and so is the rest */
    return;
  }
  if (!ReadFile(o->h, o->rbuf, avail < RBUF ? avail : RBUF, NULL, &o->rov) &&
      GetLastError() != ERROR_IO_PENDING) {
    o->rst = R_EOF;
    return;
  }
  if (o->loop)
    obj_ref(o); /* its packet's */
  io_wait(&o->rov); /* the bytes are there: it ends at once */
  GetOverlappedResult(o->h, &o->rov, &n, FALSE);
  o->rlen = n;
  o->roff = 0;
  o->rst = n ? R_DONE : R_EOF;
}

/* What `o` is ready for among `want` (plus WARD__HUP), issuing a read when
 * one is wanted and none is under way. */
static int pipe_ready(ward__wobj *o, int want) {
  refresh_read(o);
  refresh_write(o);
  int r = 0;
  if (want & WARD__IN) {
    if (o->rst == R_IDLE) {
      start_read(o);
      refresh_read(o);
    }
    if (o->shut || o->rst == R_EOF || o->rst == R_ERR)
      r |= WARD__IN | WARD__HUP;
    else if (o->rst == R_DONE)
      r |= WARD__IN;
  }
  if (want & WARD__OUT) {
    if (o->shut || o->werr)
      r |= WARD__OUT | WARD__HUP;
    else if (!o->wpending)
      r |= WARD__OUT;
  }
  return r;
}

/* Takes up to `n` buffered bytes: the count, 0 at the end, WARD__AGAIN, or
 * `err` (errno kept). */
static ptrdiff_t take(ward__wobj *o, void *p, size_t n, int err) {
  refresh_read(o);
  if (o->shut) {
    read_left(o);
  } else if (o->rst == R_IDLE) {
    start_read(o);
    refresh_read(o);
  }
  switch (o->rst) {
  case R_DONE: {
    size_t k = o->rlen - o->roff;
    if (k > n)
      k = n;
    memcpy(p, o->rbuf + o->roff, k);
    o->roff += (DWORD)k;
    if (o->roff == o->rlen) {
      o->rst = R_IDLE;
      start_read(o); /* read ahead: its completion says "readable" */
    }
    return (ptrdiff_t)k;
  }
  case R_EOF:
    return 0;
  case R_ERR:
    return ward__fail_sys(err, (int)o->rerr, "read from pipe");
  default:
    return o->shut ? 0 : WARD__AGAIN;
  }
}

ptrdiff_t ward__sock_recv(ward__fd fd, void *p, size_t n, int block) {
  ward__wobj *o = fd;
  if (!o || o->kind != WARD__W_PIPE)
    return ward__fail_sys(WARD_ECRASHED, ERROR_INVALID_HANDLE, "read from peer");
  for (;;) {
    AcquireSRWLockExclusive(&o->mu);
    ptrdiff_t r = take(o, p, n, WARD_ECRASHED);
    ReleaseSRWLockExclusive(&o->mu);
    if (r != WARD__AGAIN || !block)
      return r;
    WaitForSingleObject(o->rov.hEvent, INFINITE);
  }
}

ptrdiff_t ward__read(ward__fd fd, void *p, size_t n) {
  ward__wobj *o = fd;
  if (!o || o->kind != WARD__W_PIPE)
    return ward__fail_sys(WARD_ESYS, ERROR_INVALID_HANDLE, "read");
  AcquireSRWLockExclusive(&o->mu);
  ptrdiff_t r = take(o, p, n, WARD_ESYS);
  ReleaseSRWLockExclusive(&o->mu);
  return r;
}

/* Named pipes carry no descriptors: the shared-memory payloads that
 * would need them are never negotiated on this backend. */
ptrdiff_t ward__sock_send_fd(ward__fd fd, const ward__buf *bufs, int n, ward__fd pass) {
  (void)fd, (void)bufs, (void)n, (void)pass;
  return ward__fail(WARD_EINVAL, "no descriptor passing on this backend");
}

ptrdiff_t ward__sock_recv_fds(ward__fd fd, void *p, size_t n, int block, ward__fd *fds,
                              int *nfds, int max) {
  (void)fds, (void)max;
  *nfds = 0;
  return ward__sock_recv(fd, p, n, block);
}

ptrdiff_t ward__sock_send(ward__fd fd, const ward__buf *bufs, int n) {
  ward__wobj *o = fd;
  if (!o || o->kind != WARD__W_PIPE)
    return ward__fail_sys(WARD_ECRASHED, ERROR_INVALID_HANDLE, "write to peer");
  AcquireSRWLockExclusive(&o->mu);
  refresh_write(o);
  ptrdiff_t rv;
  if (o->shut || o->werr) {
    rv = ward__fail_sys(WARD_ECRASHED, (int)(o->werr ? o->werr : ERROR_BROKEN_PIPE),
                        "write to peer");
  } else if (o->wpending) {
    rv = 0; /* full: WARD__OUT says when the write is through */
  } else if (!o->wbuf && !(o->wbuf = malloc(WBUF))) {
    rv = WARD_ENOMEM;
  } else {
    size_t len = 0;
    for (int i = 0; i < n && len < WBUF; i++) {
      size_t k = bufs[i].len < WBUF - len ? bufs[i].len : WBUF - len;
      memcpy(o->wbuf + len, bufs[i].base, k);
      len += k;
    }
    if (!len) {
      rv = 0;
    } else if (WriteFile(o->h, o->wbuf, (DWORD)len, NULL, &o->wov) ||
               GetLastError() == ERROR_IO_PENDING) {
      o->wpending = 1;
      if (o->loop)
        obj_ref(o);
      rv = (ptrdiff_t)len;
    } else {
      o->werr = GetLastError();
      rv = ward__fail_sys(WARD_ECRASHED, (int)o->werr, "write to peer");
    }
  }
  ReleaseSRWLockExclusive(&o->mu);
  return rv;
}

void ward__sock_shutdown(ward__fd fd) {
  ward__wobj *o = fd;
  if (!o || o->kind != WARD__W_PIPE)
    return;
  AcquireSRWLockExclusive(&o->mu);
  o->shut = 1;
  if (o->h)
    CancelIoEx(o->h, NULL);
  /* A server letting a peer go (a call of its may hold the connection a
   * while yet): the peer must see the end now, as after shutdown(2) on a
   * socket. A pipe has no half-close, and disconnecting the instance
   * (DisconnectNamedPipe) would throw away what the peer has not read yet,
   * such as the GOODBYE just written; closing our handle does not: the
   * peer reads what was written, then the end. The object stays until
   * ward__close; its cancelled I/O completes as before. */
  if (o->served && o->h) {
    CloseHandle(o->h);
    o->h = NULL;
  }
  /* Waiters see `shut` once woken: by the end of the I/O cancelled
   * above, or here where none was pending (a wait on the event of an
   * operation then means its end, which io_wait relies on). */
  if (o->rst != R_PENDING)
    SetEvent(o->rov.hEvent);
  if (!o->wpending)
    SetEvent(o->wov.hEvent);
  ReleaseSRWLockExclusive(&o->mu);
}

static int listen_ready(ward__wobj *o);
static void listen_stop(ward__wobj *o);

int ward__wait_fd(ward__fd fd, int events, int64_t deadline) {
  ward__wobj *o = fd;
  if (!o)
    return ward__fail_sys(WARD_ESYS, ERROR_INVALID_HANDLE, "wait");
  for (;;) {
    HANDLE hs[2];
    DWORD nh = 0;
    int r = 0;
    AcquireSRWLockExclusive(&o->mu);
    if (o->kind == WARD__W_PIPE) {
      r = pipe_ready(o, events);
      if (!r) {
        if ((events & WARD__IN) && o->rst == R_PENDING)
          hs[nh++] = o->rov.hEvent;
        if ((events & WARD__OUT) && o->wpending)
          hs[nh++] = o->wov.hEvent;
      }
    } else if (o->kind == WARD__W_PROC) {
      if (WaitForSingleObject(o->h, 0) == WAIT_OBJECT_0)
        r = WARD__IN;
      else
        hs[nh++] = o->h;
    } else if (o->kind == WARD__W_LISTEN) {
      r = listen_ready(o);
      /* A server's event is set while it has a client to accept. */
      if (!r && (o->pname || o->rst == R_PENDING))
        hs[nh++] = o->rov.hEvent;
    }
    ReleaseSRWLockExclusive(&o->mu);
    if (r)
      return r;
    DWORD ms = INFINITE;
    if (deadline != INT64_MAX) {
      int64_t left = deadline - ward__now_ms();
      if (left <= 0)
        return 0;
      ms = left > 0x7fffffff ? 0x7fffffff : (DWORD)left;
    }
    if (!nh) {
      Sleep(ms == INFINITE ? 10 : ms < 10 ? ms : 10);
      continue;
    }
    DWORD w = WaitForMultipleObjects(nh, hs, FALSE, ms);
    if (w == WAIT_TIMEOUT)
      return 0;
    if (w == WAIT_FAILED)
      return ward__fail_sys(WARD_ESYS, (int)GetLastError(), "WaitForMultipleObjects");
  }
}

/* ------------------------------------------------------------------ */
/* Closing                                                             */

void ward__close(ward__fd fd) {
  ward__wobj *o = fd;
  if (!o)
    return;
  AcquireSRWLockExclusive(&o->mu);
  o->closed = 1;
  o->events = 0;
  HANDLE h = o->kind == WARD__W_PIPE ? o->h : NULL;
  if (h)
    o->h = NULL; /* a served end's may be gone already (ward__sock_shutdown) */
  ReleaseSRWLockExclusive(&o->mu);
  if (o->kind == WARD__W_PIPE) {
    if (h)
      CancelIoEx(h, NULL);
    if (!o->loop) {
      /* No packet will say when the cancelled I/O is over: wait here, as
       * the buffers must outlive it. */
      if (o->rst == R_PENDING)
        io_wait(&o->rov);
      if (o->wpending)
        io_wait(&o->wov);
    }
    if (h)
      CloseHandle(h);
  } else if (o->kind == WARD__W_EVENT) {
    if (o->h)
      CloseHandle(o->h);
  } else if (o->kind == WARD__W_LISTEN) {
    if (o->wait) {
      UnregisterWaitEx(o->wait, INVALID_HANDLE_VALUE);
      if (InterlockedExchange(&o->fired, 1) == 0)
        obj_unref(o);
    }
    if (o->pname)
      listen_stop(o);
    if (o->h) { /* no client was handed out: the connect may be pending */
      CancelIoEx(o->h, NULL);
      DWORD n;
      if (o->rst == R_PENDING)
        GetOverlappedResult(o->h, &o->rov, &n, TRUE);
      CloseHandle(o->h);
    }
  } else if (o->kind == WARD__W_PROC) {
    if (o->wait) {
      UnregisterWaitEx(o->wait, INVALID_HANDLE_VALUE);
      if (InterlockedExchange(&o->fired, 1) == 0)
        obj_unref(o); /* the wait's reference: it never ran */
    }
    if (o->job)
      CloseHandle(o->job); /* KILL_ON_JOB_CLOSE: what is left of the tree goes */
    CloseHandle(o->h);
  }
  obj_unref(o);
}

/* ------------------------------------------------------------------ */
/* The socket transport: a named pipe by name                          */

/* WARD_TRANSPORT_SOCKET on Windows: the host creates a named pipe of one
 * instance (FIRST_PIPE_INSTANCE, the current user's DACL) under a fresh
 * name, which the worker finds in WARD_SOCKET and opens, then proves
 * itself with the token of WARD_TOKEN at the handshake, as on POSIX. The
 * listener's ConnectNamedPipe is overlapped; its event, watched by a
 * thread-pool wait, tells the loop when the client came, and the accepted
 * connection takes the pipe handle over (a second client finds the only
 * instance taken). */

static void CALLBACK waited(void *arg, BOOLEAN timed_out);

static const char *listen_prefix = "\\\\.\\pipe\\ward-w-";

/* Arms the loop's wait on a server's listener again once it has fired
 * (lock held). It fires once (WT_EXECUTEONLYONCE), when the event is set;
 * so whenever the listener is looked at after that, the wait is armed
 * again, to fire for the next client, or at once for one already in the
 * backlog (the loop then looks once more). */
static void listen_rearm(ward__wobj *o) {
  if (!o->wait || !o->fired)
    return;
  /* Its callback takes no lock: waiting for it here is safe. */
  UnregisterWaitEx(o->wait, INVALID_HANDLE_VALUE);
  o->wait = NULL;
  InterlockedExchange(&o->fired, 0);
  obj_ref(o);
  if (!RegisterWaitForSingleObject(&o->wait, o->rov.hEvent, waited, o, INFINITE,
                                   WT_EXECUTEONLYONCE)) {
    o->wait = NULL;
    obj_unref(o);
  }
}

/* Starts or looks at the connect (lock held): WARD__IN once a client came
 * or the connect failed; a server's, once a client is in its backlog or
 * its next instance could not be made. */
static int listen_ready(ward__wobj *o) {
  if (o->pname) {
    listen_rearm(o);
    return o->nback || o->lfail ? WARD__IN : 0;
  }
  if (!o->h) /* spent */
    return o->rst == R_ERR ? WARD__IN : 0;
  if (o->rst == R_IDLE) {
    if (ConnectNamedPipe(o->h, &o->rov)) {
      o->rst = R_DONE;
    } else {
      DWORD e = GetLastError();
      if (e == ERROR_IO_PENDING) {
        o->rst = R_PENDING;
      } else if (e == ERROR_PIPE_CONNECTED) {
        o->rst = R_DONE;
        SetEvent(o->rov.hEvent);
      } else {
        o->rst = R_ERR;
        o->rerr = e;
      }
    }
  }
  if (o->rst == R_PENDING) {
    DWORD n;
    if (GetOverlappedResult(o->h, &o->rov, &n, FALSE)) {
      o->rst = R_DONE;
    } else if (GetLastError() != ERROR_IO_INCOMPLETE) {
      o->rst = R_ERR;
      o->rerr = GetLastError();
    }
  }
  return o->rst == R_DONE || o->rst == R_ERR ? WARD__IN : 0;
}

int ward__listen_private(ward__fd *fd, char **dir, char **path) {
  unsigned char r[12];
  ward__random(r, sizeof r);
  char name[128];
  int k = snprintf(name, sizeof name, "%s%lu-", listen_prefix, (unsigned long)GetCurrentProcessId());
  for (size_t i = 0; i < sizeof r; i++)
    k += snprintf(name + k, sizeof name - (size_t)k, "%02x", r[i]);
  wchar_t *w = ward__wide(name);
  *dir = NULL;
  *path = strdup(name);
  ward__wobj *o = NULL;
  int rv = w && *path ? ward__wobj_new(WARD__W_LISTEN, &o) : WARD_ENOMEM;
  if (!rv) {
    o->rov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    o->h = CreateNamedPipeW(w, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
                                   FILE_FLAG_FIRST_PIPE_INSTANCE,
                            PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
                                PIPE_REJECT_REMOTE_CLIENTS,
                            1, PIPE_SIZE, PIPE_SIZE, 0, ward__user_only_sa());
    if (o->h == INVALID_HANDLE_VALUE || !o->rov.hEvent) {
      rv = ward__fail_sys(WARD_ESYS, (int)GetLastError(), "CreateNamedPipe (listener)");
      if (o->h == INVALID_HANDLE_VALUE)
        o->h = NULL;
    }
  }
  free(w);
  if (rv) {
    ward__close(o);
    free(*path);
    *path = NULL;
    return rv;
  }
  *fd = o;
  return 0;
}

void ward__listen_remove(const char *dir, const char *path) {
  (void)dir, (void)path; /* a pipe's name goes with its last handle */
}

/* ---- servers at a path (ward_server, ward_client_open) ----
 *
 * A server's socket path stands for a named pipe (ward__win_pipe_name).
 * A pipe has no backlog: a client connects to an instance waiting for one,
 * or waits itself (WaitNamedPipeW) while there is none. So the listener
 * makes one: a thread of its own keeps one instance waiting, and when a
 * client comes to it, puts that instance in the backlog and makes the
 * next at once, whether or not anyone accepts meanwhile (a server on a
 * host's loop accepts only when that loop runs). Accepts take the backlog
 * oldest first, as from a socket's; a full backlog leaves clients waiting
 * until one is taken. One instance waiting at a time, rather than several,
 * is what keeps that order: which of several waiting instances a client
 * reaches is the system's choice. The thread issues every connect, as
 * I/O is cancelled when the thread that issued it ends.
 *
 * The first instance is made with FILE_FLAG_FIRST_PIPE_INSTANCE, so a
 * name another process holds is refused; where the system does not
 * enforce that (Wine), the listener connects to the name itself and must
 * reach its own instance. Every instance has the current user's DACL, and
 * the server asks each peer's user besides (ward__peer_is_us). */

#define SERVER_PIPE_PREFIX L"\\\\.\\pipe\\ward-"
#define PIPE_NAME_MAX 256
/* How long a client waits while every instance of a name is taken (the
 * server's backlog is full, or its next instance is being made). */
#define PIPE_BUSY_WAIT_MS 10000
/* The largest backlog (ward__unix_listen's `backlog`, as listen(2)'s):
 * each client in it holds an instance of the pipe. */
#define BACKLOG_MAX 64
/* How long the listener's thread waits before it tries again to make an
 * instance the system refused. */
#define INSTANCE_RETRY_MS 100

wchar_t *ward__win_pipe_name(const char *path, int *err) {
  wchar_t *w = ward__wide(path);
  if (!w) {
    *err = EINVAL;
    return NULL;
  }
  if (!_wcsnicmp(w, L"\\\\.\\pipe\\", 9)) {
    if (wcslen(w) <= PIPE_NAME_MAX)
      return w;
    free(w);
    *err = ENAMETOOLONG;
    return NULL;
  }
  wchar_t full[PIPE_NAME_MAX + 1];
  DWORD n = GetFullPathNameW(w, PIPE_NAME_MAX + 1, full, NULL);
  free(w);
  size_t pre = wcslen(SERVER_PIPE_PREFIX);
  if (!n || n > PIPE_NAME_MAX || pre + n > PIPE_NAME_MAX) {
    *err = n ? ENAMETOOLONG : EINVAL;
    return NULL;
  }
  wchar_t *name = malloc((pre + n + 1) * sizeof *name);
  if (!name) {
    *err = ENOMEM;
    return NULL;
  }
  wcscpy(name, SERVER_PIPE_PREFIX);
  for (DWORD i = 0; i <= n; i++) {
    wchar_t c = full[i];
    /* A backslash cannot be in a pipe's name; a path's case does not
     * matter on Windows, so C:\X and c:\x reach one server. */
    name[pre + i] = c == L'\\' ? L'/' : c >= L'A' && c <= L'Z' ? (wchar_t)(c + 32) : c;
  }
  return name;
}

int ward__unix_path_fits(const char *path) {
  int err = 0;
  wchar_t *w = ward__win_pipe_name(path, &err);
  free(w);
  return w != NULL || err != ENAMETOOLONG;
}

void ward__unix_unlink(const char *path) {
  (void)path; /* a pipe's name goes with its last handle */
}

static HANDLE server_instance(const wchar_t *name, int first) {
  return CreateNamedPipeW(name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
                                    (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0),
                          PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
                              PIPE_REJECT_REMOTE_CLIENTS,
                          PIPE_UNLIMITED_INSTANCES, PIPE_SIZE, PIPE_SIZE, 0,
                          ward__user_only_sa());
}

/* Whether a client of `name` reaches `srv`, the instance just made (see
 * above): 0, EADDRINUSE when it reaches another process's, or the errno.
 * `srv` is left waiting for its first client. */
static int own_instance(const wchar_t *name, HANDLE srv) {
  HANDLE cli = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
  if (cli == INVALID_HANDLE_VALUE)
    /* Busy: a client of ours came first (the squatter's would be free). */
    return GetLastError() == ERROR_PIPE_BUSY ? 0 : EIO;
  OVERLAPPED ov;
  memset(&ov, 0, sizeof ov);
  ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
  int rv = ov.hEvent ? 0 : ENOMEM;
  if (!rv && !ConnectNamedPipe(srv, &ov)) {
    DWORD e = GetLastError();
    if (e == ERROR_IO_PENDING) {
      DWORD n;
      CancelIoEx(srv, &ov);
      GetOverlappedResult(srv, &ov, &n, TRUE); /* `ov` must outlive it */
      rv = EADDRINUSE;
    } else if (e != ERROR_PIPE_CONNECTED) {
      rv = EIO;
    }
  }
  CloseHandle(cli);
  if (!rv)
    DisconnectNamedPipe(srv); /* free for the first real client */
  if (ov.hEvent)
    CloseHandle(ov.hEvent);
  return rv;
}

/* A client came to the waiting instance (lock held): into the backlog,
 * and the loop told. */
static void backlog_push(ward__wobj *o) {
  o->backlog[o->nback++] = o->h;
  o->h = NULL;
  SetEvent(o->rov.hEvent); /* set while the backlog holds one */
}

/* The listener's thread's turn (lock held): moves a connected instance
 * to the backlog and keeps one waiting, while the backlog has room.
 * Returns how long to wait for the next turn (a connect's event, or
 * accept's nudge through the same event). */
static DWORD listen_step(ward__wobj *o) {
  for (;;) {
    if (!o->h) {
      if (o->nback == o->capback) {
        ResetEvent(o->cov.hEvent); /* full: ward__accept nudges */
        return INFINITE;
      }
      HANDLE h = server_instance(o->pname, 0);
      if (h == INVALID_HANDLE_VALUE) {
        o->lfail = GetLastError();
        SetEvent(o->rov.hEvent); /* accept says why */
        ResetEvent(o->cov.hEvent);
        return INSTANCE_RETRY_MS;
      }
      if (o->lfail && !o->nback)
        ResetEvent(o->rov.hEvent); /* set while there is a client or a failure */
      o->lfail = 0;
      o->h = h;
      o->rst = R_IDLE;
    }
    DWORD n, e = 0;
    if (o->rst == R_IDLE) {
      if (!ConnectNamedPipe(o->h, &o->cov) && (e = GetLastError()) == ERROR_IO_PENDING) {
        o->rst = R_PENDING;
        return INFINITE;
      }
    } else if (!GetOverlappedResult(o->h, &o->cov, &n, FALSE)) {
      e = GetLastError();
      if (e == ERROR_IO_INCOMPLETE)
        return INFINITE;
    }
    if (!e || e == ERROR_PIPE_CONNECTED) {
      backlog_push(o);
      continue;
    }
    /* The client went before the connect saw it (ERROR_NO_DATA): the
     * instance is of no use, a new one waits. Another failure is told to
     * accept, and a new one is tried after a while. */
    CloseHandle(o->h);
    o->h = NULL;
    if (e != ERROR_NO_DATA) {
      o->lfail = e;
      SetEvent(o->rov.hEvent);
      ResetEvent(o->cov.hEvent);
      return INSTANCE_RETRY_MS;
    }
  }
}

static DWORD WINAPI listen_main(void *arg) {
  ward__wobj *o = arg;
  HANDLE hs[2] = {o->lquit, o->cov.hEvent};
  for (;;) {
    AcquireSRWLockExclusive(&o->mu);
    DWORD ms = listen_step(o);
    ReleaseSRWLockExclusive(&o->mu);
    if (WaitForMultipleObjects(2, hs, FALSE, ms) == WAIT_OBJECT_0)
      return 0;
  }
}

/* Ends the listener's thread (its connect is cancelled as it ends) and
 * closes what it made (ward__close). */
static void listen_stop(ward__wobj *o) {
  if (o->lthread) {
    SetEvent(o->lquit);
    WaitForSingleObject(o->lthread, INFINITE);
    CloseHandle(o->lthread);
    o->lthread = NULL;
  }
  if (o->lquit)
    CloseHandle(o->lquit);
  o->lquit = NULL;
  if (o->h) {
    CancelIoEx(o->h, &o->cov);
    if (o->rst == R_PENDING)
      io_wait(&o->cov); /* `cov` must outlive it */
    CloseHandle(o->h);
    o->h = NULL;
  }
  for (int i = 0; i < o->nback; i++)
    CloseHandle(o->backlog[i]);
  o->nback = 0;
}

int ward__unix_listen(const char *path, int mode, int backlog, ward__fd *fd) {
  (void)mode; /* the DACL admits this user alone */
  int err = 0;
  wchar_t *name = ward__win_pipe_name(path, &err);
  if (!name)
    return err;
  ward__wobj *o = NULL;
  if (ward__wobj_new(WARD__W_LISTEN, &o)) {
    free(name);
    return ENOMEM;
  }
  o->pname = name;
  o->capback = backlog < 1 ? 1 : backlog > BACKLOG_MAX ? BACKLOG_MAX : backlog;
  o->backlog = calloc((size_t)o->capback, sizeof *o->backlog);
  o->rov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
  o->cov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
  o->lquit = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (!o->backlog || !o->rov.hEvent || !o->cov.hEvent || !o->lquit) {
    ward__close(o);
    return ENOMEM;
  }
  o->h = server_instance(name, 1);
  if (o->h == INVALID_HANDLE_VALUE) {
    DWORD e = GetLastError();
    o->h = NULL;
    err = e == ERROR_ACCESS_DENIED || e == ERROR_PIPE_BUSY ? EADDRINUSE : EIO;
  } else {
    err = own_instance(name, o->h);
  }
  /* The thread starts the first instance waiting, disconnected as it is:
   * a client who comes first waits (WaitNamedPipeW) for that moment. */
  if (!err) {
    o->rst = R_IDLE;
    o->lthread = CreateThread(NULL, 64 * 1024, listen_main, o, 0, NULL);
    if (!o->lthread)
      err = EAGAIN;
  }
  if (err) {
    ward__close(o);
    return err;
  }
  *fd = o;
  return 0;
}

int ward__unix_claim(const char *path) {
  int err = 0;
  wchar_t *name = ward__win_pipe_name(path, &err);
  if (!name)
    return ward__fail_errno(err == ENOMEM ? WARD_ENOMEM : WARD_EINVAL, err, "socket path");
  HANDLE h = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
  DWORD e = GetLastError();
  free(name);
  if (h != INVALID_HANDLE_VALUE) {
    CloseHandle(h);
    e = ERROR_PIPE_BUSY;
  }
  /* Busy or not ours to open: someone holds the name. A pipe has no
   * file to leave behind, so there is nothing stale to remove. */
  if (e == ERROR_PIPE_BUSY || e == ERROR_ACCESS_DENIED)
    return ward__fail_keep(WARD_ESYS, EADDRINUSE, "a server already listens on that path");
  if (e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND)
    return 0;
  return ward__fail_sys(WARD_ESYS, (int)e, "CreateFile (checking the pipe name)");
}

/* A server's accept (lock held): the oldest client of the backlog. */
static int accept_backlog(ward__wobj *o, ward__fd *fd) {
  int rv = 0;
  ward__wobj *c;
  if (o->nback && !(rv = pipe_obj(o->backlog[0], &c))) {
    c->served = 1;
    *fd = c;
    rv = 1;
    if (o->nback == o->capback)
      SetEvent(o->cov.hEvent); /* the thread waits for room: there is */
    o->nback--;
    memmove(o->backlog, o->backlog + 1, (size_t)o->nback * sizeof *o->backlog);
    if (!o->nback && !o->lfail)
      ResetEvent(o->rov.hEvent);
  } else if (!o->nback && o->lfail) {
    rv = ward__fail_sys(WARD_ESYS, (int)o->lfail, "CreateNamedPipe (the next instance)");
  }
  return rv;
}

int ward__accept(ward__fd lfd, ward__fd *fd) {
  ward__wobj *o = lfd;
  AcquireSRWLockExclusive(&o->mu);
  int rv = 0;
  if (o->pname) {
    rv = accept_backlog(o, fd);
  } else if (listen_ready(o)) {
    if (o->rst == R_ERR) {
      rv = ward__fail_sys(WARD_ESYS, (int)o->rerr, "ConnectNamedPipe (accept)");
    } else {
      /* The connection takes the handle over: a worker's listener is
       * spent (a second client finds the only instance taken). */
      ward__wobj *c;
      rv = pipe_obj(o->h, &c);
      if (!rv) {
        o->h = NULL;
        *fd = c;
        rv = 1;
      }
    }
  }
  ReleaseSRWLockExclusive(&o->mu);
  return rv;
}

/* The user of the token of process `proc` (malloc'd), or NULL. */
static TOKEN_USER *process_user(HANDLE proc) {
  HANDLE tok;
  if (!OpenProcessToken(proc, TOKEN_QUERY, &tok))
    return NULL;
  DWORD n = 0;
  GetTokenInformation(tok, TokenUser, NULL, 0, &n);
  TOKEN_USER *u = n ? malloc(n) : NULL;
  if (u && !GetTokenInformation(tok, TokenUser, u, n, &n)) {
    free(u);
    u = NULL;
  }
  CloseHandle(tok);
  return u;
}

int ward__peer_is_us(ward__fd fd, int root_too, int *pid) {
  ULONG p = 0;
  if (!fd || !fd->h || !GetNamedPipeClientProcessId(fd->h, &p))
    return ward__fail_sys(WARD_ESYS, (int)GetLastError(), "GetNamedPipeClientProcessId");
  if (pid)
    *pid = (int)p;
  HANDLE proc = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, p);
  if (!proc)
    return ward__fail_sys(WARD_ESYS, (int)GetLastError(), "OpenProcess (the pipe's client)");
  TOKEN_USER *peer = process_user(proc);
  CloseHandle(proc);
  TOKEN_USER *us = process_user(GetCurrentProcess());
  int rv;
  if (!peer || !us) {
    rv = ward__fail_sys(WARD_ESYS, (int)GetLastError(), "the user of a process's token");
  } else {
    rv = EqualSid(peer->User.Sid, us->User.Sid) ||
         (root_too && IsWellKnownSid(peer->User.Sid, WinLocalSystemSid));
  }
  free(peer);
  free(us);
  return rv;
}

int ward__unix_connect(const char *path, ward__fd *fd) {
  int err = 0;
  wchar_t *w = ward__win_pipe_name(path, &err);
  if (!w)
    return err;
  int64_t deadline = ward__now_ms() + PIPE_BUSY_WAIT_MS;
  HANDLE h;
  DWORD e;
  for (;;) {
    h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                    FILE_FLAG_OVERLAPPED, NULL);
    e = GetLastError();
    int64_t left = deadline - ward__now_ms();
    if (h != INVALID_HANDLE_VALUE || e != ERROR_PIPE_BUSY || left <= 0)
      break;
    /* Every instance is taken: wait for the server's next one. */
    if (!WaitNamedPipeW(w, (DWORD)left) && GetLastError() != ERROR_SEM_TIMEOUT &&
        GetLastError() != ERROR_PIPE_BUSY) {
      e = GetLastError();
      break;
    }
  }
  free(w);
  if (h == INVALID_HANDLE_VALUE)
    return e == ERROR_FILE_NOT_FOUND ? ENOENT : e == ERROR_PIPE_BUSY ? ECONNREFUSED : EIO;
  int rv = pipe_obj(h, fd);
  if (rv) {
    CloseHandle(h);
    return ENOMEM;
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* The loop                                                            */

struct ward__loop {
  HANDLE port;
  ward__wobj **attn; /* objects to look at, each with a reference */
  size_t nattn, capattn;
  volatile int64_t due; /* the timer: INT64_MAX when disarmed */
  void *tptr;
  /* A pollable loop (a host on the program's own loop). A completion port
   * sets no event a program could wait on, so a thread of the loop, the
   * pump, dequeues the port's packets into `inbox` and sets `ready`, an
   * event, when there are some or the timer is due; the program waits on
   * that event (ward_host_fd) and the loop's waits take from the inbox. */
  int pollable;
  ward__wobj *ready; /* WARD__W_EVENT: set while a wait may report something */
  HANDLE pump;
  SRWLOCK inbox_mu;
  ward__wobj **inbox; /* each with its packet's reference */
  size_t ninbox, capinbox;
  volatile LONG quit;
  volatile LONG woken; /* ward__loop_wake was called since the last wait */
};

static void attn_add(ward__loop *l, ward__wobj *o);
static void inbox_take(ward__loop *l);

/* The pump of a pollable loop (see struct ward__loop). */
static DWORD WINAPI pump_main(void *arg) {
  ward__loop *l = arg;
  int64_t signalled = INT64_MIN; /* the due time `ready` was last set for */
  for (;;) {
    int64_t now = ward__now_ms(), due = l->due;
    DWORD ms = due == INT64_MAX || due == signalled ? INFINITE
               : due <= now                         ? 0
               : due - now > 0x7ffffffe             ? 0x7ffffffe
                                                    : (DWORD)(due - now);
    OVERLAPPED_ENTRY ents[64];
    ULONG got = 0;
    if (!GetQueuedCompletionStatusEx(l->port, ents, 64, &got, ms, FALSE))
      got = 0;
    int news = 0;
    AcquireSRWLockExclusive(&l->inbox_mu);
    for (ULONG i = 0; i < got; i++) {
      ward__wobj *o = (ward__wobj *)ents[i].lpCompletionKey;
      if (!o)
        continue; /* a nudge: the timer changed, or the loop is going */
      if (l->ninbox == l->capinbox) {
        size_t cap = l->capinbox ? l->capinbox * 2 : 64;
        ward__wobj **v = realloc(l->inbox, cap * sizeof *v);
        if (!v) {
          obj_unref(o); /* lost: looked at when its next packet comes */
          continue;
        }
        l->inbox = v;
        l->capinbox = cap;
      }
      l->inbox[l->ninbox++] = o;
      news = 1;
    }
    ReleaseSRWLockExclusive(&l->inbox_mu);
    if (l->quit)
      return 0;
    due = l->due;
    if (due != INT64_MAX && due <= ward__now_ms() && due != signalled) {
      signalled = due;
      news = 1;
    }
    if (news)
      SetEvent(l->ready->h);
  }
}

static int loop_pollable(ward__loop *l) {
  l->pollable = 1;
  InitializeSRWLock(&l->inbox_mu);
  int rv = ward__wobj_new(WARD__W_EVENT, &l->ready);
  if (rv)
    return rv;
  l->ready->h = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (!l->ready->h)
    return ward__fail_sys(WARD_ESYS, (int)GetLastError(), "CreateEvent");
  l->pump = CreateThread(NULL, 64 * 1024, pump_main, l, 0, NULL);
  if (!l->pump)
    return ward__fail_sys(WARD_ESYS, (int)GetLastError(), "CreateThread (loop pump)");
  return 0;
}

int ward__loop_new(ward__loop **out, int pollable) {
  ward__loop *l = calloc(1, sizeof *l);
  if (!l)
    return WARD_ENOMEM;
  l->due = INT64_MAX;
  l->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
  if (!l->port) {
    DWORD e = GetLastError();
    free(l);
    return ward__fail_sys(WARD_ESYS, (int)e, "CreateIoCompletionPort");
  }
  int rv = pollable ? loop_pollable(l) : 0;
  if (rv) {
    ward__loop_free(l);
    return rv;
  }
  *out = l;
  return 0;
}

void ward__loop_free(ward__loop *l) {
  if (!l)
    return;
  if (l->pump) {
    l->quit = 1;
    PostQueuedCompletionStatus(l->port, 0, 0, NULL);
    WaitForSingleObject(l->pump, INFINITE);
    CloseHandle(l->pump);
  }
  if (l->pollable) {
    inbox_take(l);
    free(l->inbox);
  }
  if (l->ready)
    ward__close(l->ready);
  for (size_t i = 0; i < l->nattn; i++) {
    l->attn[i]->in_attn = 0;
    obj_unref(l->attn[i]);
  }
  free(l->attn);
  /* Packets still queued hold references: drop them with the port. */
  OVERLAPPED_ENTRY ents[64];
  ULONG got;
  while (GetQueuedCompletionStatusEx(l->port, ents, 64, &got, 0, FALSE) && got)
    for (ULONG i = 0; i < got; i++)
      if (ents[i].lpCompletionKey)
        obj_unref((ward__wobj *)ents[i].lpCompletionKey);
  CloseHandle(l->port);
  free(l);
}

ward__fd ward__loop_fd(const ward__loop *l) { return l->ready; }

/* Posts "look at `o`" to its loop's port. */
static void post(ward__loop *l, ward__wobj *o) {
  obj_ref(o);
  if (!PostQueuedCompletionStatus(l->port, 0, (ULONG_PTR)o, NULL))
    obj_unref(o);
}

/* A process ended, or a listener's client came: posts "look at it". */
static void CALLBACK waited(void *arg, BOOLEAN timed_out) {
  (void)timed_out;
  ward__wobj *o = arg;
  /* The reference taken for this wait goes to the packet. */
  if (InterlockedExchange(&o->fired, 1) == 0 &&
      !PostQueuedCompletionStatus(o->loop->port, 0, (ULONG_PTR)o, NULL))
    obj_unref(o);
}

int ward__loop_add(ward__loop *l, ward__fd fd, int events, void *ptr) {
  ward__wobj *o = fd;
  if (!l || !o)
    return ward__fail_sys(WARD_ESYS, ERROR_INVALID_HANDLE, "loop_add");
  AcquireSRWLockExclusive(&o->mu);
  int first = !o->loop;
  o->loop = l;
  o->ptr = ptr;
  o->events = events;
  int rv = 0;
  if (first && o->kind == WARD__W_PIPE) {
    if (!CreateIoCompletionPort(o->h, l->port, (ULONG_PTR)o, 0))
      rv = ward__fail_sys(WARD_ESYS, (int)GetLastError(), "CreateIoCompletionPort (pipe)");
  } else if (first && (o->kind == WARD__W_PROC || o->kind == WARD__W_LISTEN)) {
    obj_ref(o);
    HANDLE what = o->kind == WARD__W_PROC ? o->h : o->rov.hEvent;
    if (!RegisterWaitForSingleObject(&o->wait, what, waited, o, INFINITE,
                                     WT_EXECUTEONLYONCE)) {
      o->wait = NULL;
      obj_unref(o);
      rv = ward__fail_sys(WARD_ESYS, (int)GetLastError(), "RegisterWaitForSingleObject");
    }
  }
  ReleaseSRWLockExclusive(&o->mu);
  if (!rv)
    post(l, o);
  return rv;
}

int ward__loop_mod(ward__loop *l, ward__fd fd, int events, void *ptr) {
  ward__wobj *o = fd;
  if (!l || !o)
    return ward__fail_sys(WARD_ESYS, ERROR_INVALID_HANDLE, "loop_mod");
  AcquireSRWLockExclusive(&o->mu);
  o->events = events;
  o->ptr = ptr;
  ReleaseSRWLockExclusive(&o->mu);
  post(l, o);
  return 0;
}

void ward__loop_del(ward__loop *l, ward__fd fd) {
  ward__wobj *o = fd;
  if (!l || !o)
    return;
  AcquireSRWLockExclusive(&o->mu);
  o->events = 0;
  o->ptr = NULL;
  ReleaseSRWLockExclusive(&o->mu);
}

int ward__loop_timer(ward__loop *l, int64_t ms, void *ptr) {
  l->tptr = ptr;
  l->due = ms < 0 ? INT64_MAX : ward__now_ms() + ms;
  if (l->pump) /* it waits for the old due time: nudge it */
    PostQueuedCompletionStatus(l->port, 0, 0, NULL);
  return 0;
}

/* What a registered object is ready for now (its lock not held). */
static int obj_ready(ward__wobj *o, void **ptr) {
  AcquireSRWLockExclusive(&o->mu);
  int r = 0;
  *ptr = o->ptr;
  if (!o->closed && o->events) {
    switch (o->kind) {
    case WARD__W_PIPE:
      r = pipe_ready(o, o->events);
      break;
    case WARD__W_PROC:
      r = WaitForSingleObject(o->h, 0) == WAIT_OBJECT_0 ? WARD__IN : 0;
      break;
    case WARD__W_LISTEN:
      r = listen_ready(o);
      break;
    }
  }
  ReleaseSRWLockExclusive(&o->mu);
  return r;
}

static void attn_add(ward__loop *l, ward__wobj *o) {
  if (o->in_attn)
    return;
  if (l->nattn == l->capattn) {
    size_t cap = l->capattn ? l->capattn * 2 : 64;
    ward__wobj **v = realloc(l->attn, cap * sizeof *v);
    if (!v)
      return; /* looked at when its next packet comes */
    l->attn = v;
    l->capattn = cap;
  }
  obj_ref(o);
  o->in_attn = 1;
  l->attn[l->nattn++] = o;
}

/* Reports what the attention list is ready for, dropping what is not. */
static int scan(ward__loop *l, ward__loop_event *evs, int max) {
  int n = 0;
  if (l->due <= ward__now_ms()) {
    evs[n].ptr = l->tptr;
    evs[n].events = WARD__IN;
    n++;
  }
  size_t keep = 0;
  for (size_t i = 0; i < l->nattn; i++) {
    ward__wobj *o = l->attn[i];
    void *ptr;
    int r = n < max ? obj_ready(o, &ptr) : -1;
    if (r > 0) {
      evs[n].ptr = ptr;
      evs[n].events = r;
      n++;
    }
    if (r != 0) {
      l->attn[keep++] = o; /* still ready, or not looked at this time */
    } else {
      o->in_attn = 0;
      obj_unref(o);
    }
  }
  l->nattn = keep;
  return n;
}

/* Moves the pump's packets into the attention list. */
static void inbox_take(ward__loop *l) {
  AcquireSRWLockExclusive(&l->inbox_mu);
  ward__wobj **v = l->inbox;
  size_t n = l->ninbox;
  l->inbox = NULL;
  l->ninbox = l->capinbox = 0;
  ReleaseSRWLockExclusive(&l->inbox_mu);
  for (size_t i = 0; i < n; i++) {
    attn_add(l, v[i]);
    obj_unref(v[i]);
  }
  free(v);
}

/* A pollable loop's wait: from the pump's inbox, waiting on `ready`. The
 * event stays set while something may be reported (the program's loop
 * may come back once for nothing), and is reset when nothing is. */
static int wait_pollable(ward__loop *l, ward__loop_event *evs, int max, int timeout_ms) {
  int64_t end = timeout_ms < 0 ? INT64_MAX : ward__now_ms() + timeout_ms;
  for (;;) {
    inbox_take(l);
    int n = scan(l, evs, max);
    if (n || InterlockedExchange(&l->woken, 0))
      return n;
    AcquireSRWLockExclusive(&l->inbox_mu);
    if (!l->ninbox && l->due > ward__now_ms())
      ResetEvent(l->ready->h);
    ReleaseSRWLockExclusive(&l->inbox_mu);
    int64_t left = end - ward__now_ms();
    if (left <= 0)
      return 0;
    WaitForSingleObject(l->ready->h, end == INT64_MAX ? INFINITE
                                     : left > 0x7ffffffe ? 0x7ffffffe
                                                         : (DWORD)left);
  }
}

int ward__loop_wait(ward__loop *l, ward__loop_event *evs, int max, int timeout_ms) {
  if (max > 64)
    max = 64;
  if (l->pollable)
    return wait_pollable(l, evs, max, timeout_ms);
  int64_t end = timeout_ms < 0 ? INT64_MAX : ward__now_ms() + timeout_ms;
  for (;;) {
    int n = scan(l, evs, max);
    if (n)
      return n;
    int64_t now = ward__now_ms();
    int64_t until = l->due < end ? l->due : end;
    DWORD ms = until == INT64_MAX ? INFINITE
               : until <= now     ? 0
               : until - now > 0x7ffffffe ? 0x7ffffffe
                                          : (DWORD)(until - now);
    OVERLAPPED_ENTRY ents[64];
    ULONG got = 0;
    if (!GetQueuedCompletionStatusEx(l->port, ents, 64, &got, ms, FALSE)) {
      DWORD e = GetLastError();
      if (e != WAIT_TIMEOUT)
        return ward__fail_sys(WARD_ESYS, (int)e, "GetQueuedCompletionStatusEx");
      got = 0;
    }
    for (ULONG i = 0; i < got; i++) {
      ward__wobj *o = (ward__wobj *)ents[i].lpCompletionKey;
      if (!o)
        continue; /* ward__loop_wake's */
      attn_add(l, o);
      obj_unref(o); /* the packet's (its I/O's, or a posted one's) */
    }
    if (InterlockedExchange(&l->woken, 0))
      return scan(l, evs, max); /* woken: return, with what is ready */
    if (!got && ward__now_ms() >= end && l->due > ward__now_ms())
      return 0;
  }
}

/* ------------------------------------------------------------------ */
/* Wake-ups                                                            */

void ward__loop_wake(ward__loop *l) {
  /* One packet per wake-up asked: a flood of them costs one turn. */
  if (InterlockedExchange(&l->woken, 1) == 1)
    return;
  if (l->pollable)
    SetEvent(l->ready->h); /* the dispatching thread waits on the event */
  else
    PostQueuedCompletionStatus(l->port, 0, 0, NULL);
}

