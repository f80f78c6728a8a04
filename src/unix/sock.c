/*
 * sock.c — Unix sockets at a path: the listening socket of
 * WARD_TRANSPORT_SOCKET, and those of ward_server and ward_client_open
 * (both backends: POSIX, with the peer's credentials read as each system
 * gives them).
 *
 * The socket lives in a fresh 0700 directory, so only our uid can reach
 * it; the peer's uid is checked again on accept, and the worker must also
 * present a one-time token (checked by the host).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "unix.h"
#include "ward_int.h"

const char *ward__runtime_dir(void) {
  const char *d = getenv("XDG_RUNTIME_DIR");
  if (d && *d && access(d, W_OK | X_OK) == 0)
    return d;
  d = getenv("TMPDIR");
  if (d && *d)
    return d;
  return "/tmp";
}

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS: SO_NOSIGPIPE on the socket instead */
#endif

int ward__unix_nosigpipe(int fd) {
#if defined(SO_NOSIGPIPE)
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one) < 0)
    return ward__fail_sys(WARD_ESYS, errno, "SO_NOSIGPIPE");
#else
  (void)fd;
#endif
  return 0;
}

/* A Unix stream socket, close-on-exec (and non-blocking when asked), or
 * -1 with errno set. */
static int unix_socket(int nonblock) {
#ifdef SOCK_CLOEXEC
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
  if (s < 0)
    return -1;
#else
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  if (s < 0)
    return -1;
  int fl = fcntl(s, F_GETFD);
  if (fl < 0 || fcntl(s, F_SETFD, fl | FD_CLOEXEC) < 0 ||
      (nonblock && fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK) < 0)) {
    int e = errno;
    close(s);
    errno = e;
    return -1;
  }
#endif
  if (ward__unix_nosigpipe(s)) {
    close(s);
    errno = ward_last_errno();
    return -1;
  }
  return s;
}

/* The address of `path`; ENAMETOOLONG when it does not fit. */
static int unix_addr(struct sockaddr_un *sa, const char *path) {
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sa->sun_path)
    return ENAMETOOLONG;
  strcpy(sa->sun_path, path);
  return 0;
}

int ward__unix_connect(const char *path, ward__fd *fd) {
  struct sockaddr_un sa;
  int e = unix_addr(&sa, path);
  if (e)
    return e;
  int s = unix_socket(0);
  if (s < 0)
    return errno;
  if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
    e = errno;
    close(s);
    return e;
  }
  *fd = s;
  return 0;
}

int ward__unix_listen(const char *path, int mode, int backlog, ward__fd *fd) {
  struct sockaddr_un sa;
  int e = unix_addr(&sa, path);
  if (e)
    return e;
  int s = unix_socket(1);
  if (s < 0)
    return errno;
  if (bind(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
    e = errno;
    close(s);
    return e;
  }
  /* Nobody can connect before listen(): a chmod in between leaves no
   * window with looser permissions. */
  if ((mode && chmod(path, (mode_t)mode) < 0) || listen(s, backlog) < 0) {
    e = errno;
    close(s);
    unlink(path);
    return e;
  }
  *fd = s;
  return 0;
}

int ward__listen_private(ward__fd *fd, char **dirp, char **pathp) {
  char tmpl[sizeof(((struct sockaddr_un *)0)->sun_path)];
  int n = snprintf(tmpl, sizeof tmpl, "%s/ward-XXXXXX", ward__runtime_dir());
  if (n < 0 || (size_t)n + sizeof "/sock" > sizeof tmpl)
    return ward__fail(WARD_ESYS, "runtime directory path too long");
  if (!mkdtemp(tmpl)) /* mkdtemp creates it 0700 */
    return ward__fail_sys(WARD_ESYS, errno, "mkdtemp");
  char path[sizeof tmpl + 8];
  /* Fits: the length was checked above. */
  snprintf(path, sizeof path, "%s/sock", tmpl);
  int s;
  int e = ward__unix_listen(path, 0, 4, &s);
  if (e) {
    rmdir(tmpl);
    return ward__fail_sys(WARD_ESYS, e, "bind/listen");
  }
  *dirp = strdup(tmpl);
  *pathp = strdup(path);
  if (!*dirp || !*pathp) {
    free(*dirp);
    free(*pathp);
    close(s);
    unlink(path);
    rmdir(tmpl);
    return WARD_ENOMEM;
  }
  *fd = s;
  return 0;
}

void ward__listen_remove(const char *dir, const char *path) {
  if (path)
    unlink(path);
  if (dir)
    rmdir(dir);
}

int ward__accept(ward__fd lfd, ward__fd *fd) {
  int s;
#ifdef WARD_HAVE_ACCEPT4
  do
    s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  while (s < 0 && errno == EINTR);
#else
  do
    s = accept(lfd, NULL, NULL);
  while (s < 0 && errno == EINTR);
#endif
  if (s < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED)
      return 0;
    return ward__fail_sys(WARD_ESYS, errno, "accept");
  }
#ifndef WARD_HAVE_ACCEPT4
  int fl = fcntl(s, F_GETFD);
  if (fl < 0 || fcntl(s, F_SETFD, fl | FD_CLOEXEC) < 0 || ward__set_nonblock(s, 1)) {
    int e = errno;
    close(s);
    return ward__fail_sys(WARD_ESYS, e, "accept (flags)");
  }
#endif
  if (ward__unix_nosigpipe(s)) {
    close(s);
    return WARD_ESYS;
  }
  *fd = s;
  return 1;
}

int ward__peer_is_us(ward__fd fd, int root_too, int *pid) {
#if defined(__linux__) || defined(__OpenBSD__)
#ifdef __OpenBSD__
  struct sockpeercred cr;
#else
  struct ucred cr;
#endif
  socklen_t len = sizeof cr;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
    return ward__fail_sys(WARD_ESYS, errno, "SO_PEERCRED");
  if (pid)
    *pid = cr.pid;
  uid_t uid = cr.uid;
#else
  /* macOS, FreeBSD, NetBSD: the uid alone; the pid stays unknown (0). */
  uid_t uid;
  gid_t gid;
  if (getpeereid(fd, &uid, &gid) < 0)
    return ward__fail_sys(WARD_ESYS, errno, "getpeereid");
  if (pid)
    *pid = 0;
#endif
  return uid == geteuid() || (root_too && uid == 0);
}

int ward__unix_claim(const char *path) {
  struct stat st;
  if (lstat(path, &st) < 0)
    return 0;
  if (!S_ISSOCK(st.st_mode))
    return ward__fail(WARD_EINVAL, "%s exists and is not a socket", path);
  int fd;
  int e = ward__unix_connect(path, &fd);
  if (!e) {
    ward__close(fd);
    return ward__fail_keep(WARD_ESYS, EADDRINUSE, "a server already listens on that path");
  }
  if (e != ECONNREFUSED)
    return ward__fail_sys(WARD_ESYS, e, "connect (checking the socket path)");
  unlink(path); /* left by a server that died */
  return 0;
}

void ward__unix_unlink(const char *path) { unlink(path); }

int ward__unix_path_fits(const char *path) {
  return strlen(path) < sizeof ((struct sockaddr_un *)0)->sun_path;
}

/* What a small frame is gathered into, to go out with send(): the
 * kernel then copies in no message header and no iovec array, a few
 * percent of a small round trip. */
#define SEND_GATHER 512

ptrdiff_t ward__sock_send(ward__fd fd, const ward__buf *bufs, int n) {
  struct iovec iov[8];
  if (n > 8)
    n = 8;
  size_t total = 0;
  for (int i = 0; i < n; i++) {
    iov[i] = (struct iovec){(void *)bufs[i].base, bufs[i].len};
    total += bufs[i].len;
  }
  char small[SEND_GATHER];
  const void *one = n == 1 ? iov[0].iov_base : NULL;
  if (n > 1 && total <= sizeof small) {
    size_t at = 0;
    for (int i = 0; i < n; i++) {
      if (iov[i].iov_len)
        memcpy(small + at, iov[i].iov_base, iov[i].iov_len);
      at += iov[i].iov_len;
    }
    one = small;
  }
  struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
  for (;;) {
    ssize_t w = one ? send(fd, one, total, MSG_NOSIGNAL | MSG_DONTWAIT)
                    : sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w >= 0)
      return w;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return 0;
    return ward__fail_sys(WARD_ECRASHED, errno, "write to peer");
  }
}

/* The descriptor travels as SCM_RIGHTS with the first byte sendmsg
 * takes: a stream socket delivers it with that byte, never with an
 * earlier one (docs/protocol.md 3.5). */
ptrdiff_t ward__sock_send_fd(ward__fd fd, const ward__buf *bufs, int n, ward__fd pass) {
  struct iovec iov[8];
  if (n > 8)
    n = 8;
  for (int i = 0; i < n; i++)
    iov[i] = (struct iovec){(void *)bufs[i].base, bufs[i].len};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n, .msg_control = u.buf,
                      .msg_controllen = sizeof u.buf};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cm), &pass, sizeof(int));
  for (;;) {
    ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w >= 0)
      return w;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return 0;
    return ward__fail_sys(WARD_ECRASHED, errno, "write to peer");
  }
}

#ifndef MSG_CMSG_CLOEXEC
#define MSG_CMSG_CLOEXEC 0 /* set one by one below instead */
#endif

/* Keeps the descriptors of one control message, up to `max` of them, and
 * closes the others. Returns whether any had to be closed. */
static int take_fds(struct cmsghdr *cm, ward__fd *fds, int *nfds, int max) {
  int over = 0;
  size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
  for (size_t i = 0; i < n; i++) {
    int f;
    memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof f);
    if (MSG_CMSG_CLOEXEC == 0)
      fcntl(f, F_SETFD, FD_CLOEXEC);
    if (*nfds < max) {
      fds[(*nfds)++] = f;
    } else {
      close(f);
      over = 1;
    }
  }
  return over;
}

ptrdiff_t ward__sock_recv_fds(ward__fd fd, void *p, size_t n, int block, ward__fd *fds,
                              int *nfds, int max) {
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(4 * sizeof(int))];
  } u;
  struct iovec iov = {p, n};
  *nfds = 0;
  for (;;) {
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = sizeof u.buf};
    ssize_t r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | (block ? 0 : MSG_DONTWAIT));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return WARD__AGAIN;
    if (r < 0)
      return ward__fail_sys(WARD_ECRASHED, errno, "read from peer");
    int over = (mh.msg_flags & MSG_CTRUNC) != 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
      if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
        over |= take_fds(cm, fds, nfds, max);
    if (over)
      *nfds = -1 - *nfds; /* the caller closes what it got, and refuses */
    return r;
  }
}

ptrdiff_t ward__sock_recv(ward__fd fd, void *p, size_t n, int block) {
  for (;;) {
    ssize_t r = recv(fd, p, n, block ? 0 : MSG_DONTWAIT);
    if (r >= 0)
      return r;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return WARD__AGAIN;
    return ward__fail_sys(WARD_ECRASHED, errno, "read from peer");
  }
}

void ward__sock_shutdown(ward__fd fd) { shutdown(fd, SHUT_RDWR); }
