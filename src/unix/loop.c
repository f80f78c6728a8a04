/*
 * loop.c — the host's event loop on epoll, and its eventfd wake-up.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "platform.h"
#include "ward_int.h"

static uint32_t to_epoll(int events) {
  uint32_t e = 0;
  if (events & WARD__IN)
    e |= EPOLLIN | EPOLLRDHUP;
  if (events & WARD__OUT)
    e |= EPOLLOUT;
  return e;
}

int ward__loop_new(int *lfd) {
  *lfd = epoll_create1(EPOLL_CLOEXEC);
  if (*lfd < 0)
    return ward__fail_sys(WARD_ESYS, errno, "epoll_create1");
  return 0;
}

static int loop_ctl(int lfd, int op, int fd, int events, void *ptr) {
  struct epoll_event ev = {.events = to_epoll(events), .data.ptr = ptr};
  if (epoll_ctl(lfd, op, fd, &ev) < 0)
    return ward__fail_sys(WARD_ESYS, errno, "epoll_ctl");
  return 0;
}

int ward__loop_add(int lfd, int fd, int events, void *ptr) {
  return loop_ctl(lfd, EPOLL_CTL_ADD, fd, events, ptr);
}

int ward__loop_mod(int lfd, int fd, int events, void *ptr) {
  return loop_ctl(lfd, EPOLL_CTL_MOD, fd, events, ptr);
}

void ward__loop_del(int lfd, int fd) { epoll_ctl(lfd, EPOLL_CTL_DEL, fd, NULL); }

int ward__loop_wait(int lfd, ward__loop_event *evs, int max, int timeout_ms) {
  struct epoll_event eev[64];
  if (max > 64)
    max = 64;
  int n;
  do
    n = epoll_wait(lfd, eev, max, timeout_ms);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return ward__fail_sys(WARD_ESYS, errno, "epoll_wait");
  for (int i = 0; i < n; i++) {
    uint32_t e = eev[i].events;
    evs[i].ptr = eev[i].data.ptr;
    evs[i].events = ((e & EPOLLIN) ? WARD__IN : 0) | ((e & EPOLLOUT) ? WARD__OUT : 0) |
                    ((e & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) ? WARD__HUP : 0);
  }
  return n;
}

int ward__timer_new(int *fd) {
  *fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (*fd < 0)
    return ward__fail_sys(WARD_ESYS, errno, "timerfd_create");
  return 0;
}

void ward__timer_arm(int fd, int64_t ms) {
  struct itimerspec it = {{0, 0}, {0, 0}};
  if (ms == 0) {
    it.it_value.tv_nsec = 1; /* as soon as possible: all zeros would disarm */
  } else if (ms > 0) {
    it.it_value.tv_sec = ms / 1000;
    it.it_value.tv_nsec = (ms % 1000) * 1000000;
  }
  timerfd_settime(fd, 0, &it, NULL);
}

int ward__wake_new(int *fd) {
  *fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (*fd < 0)
    return ward__fail_sys(WARD_ESYS, errno, "eventfd");
  return 0;
}

void ward__wake_signal(int fd) {
  uint64_t one = 1;
  ssize_t r;
  do
    r = write(fd, &one, sizeof one);
  while (r < 0 && errno == EINTR);
}

void ward__wake_drain(int fd) {
  uint64_t v;
  while (read(fd, &v, sizeof v) > 0) {
  }
}
